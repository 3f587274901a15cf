//! Times one compute of an ONNX model in tract, natively, under the plan settings that can
//! matter: the batch dimension left as the symbol `N` (as `OnnxModel::plan` builds its
//! any-batch plan) or made concrete before optimising, decluttered vs optimised, a fresh run
//! state per call vs one reused. One thread; prints p50/p90/min per setting.
//!
//! `cargo run --release -p scorehost --example cnn_compute -- MODEL.onnx [RUNS] [BATCH]`
//! (the CNN: `target/onnx-models/cnn/model.onnx`; its first input is fed a ramp in [0, 1]).

use std::collections::HashMap;
use std::time::Instant;

use tract_onnx::prelude::*;

/// The server's allocator, so that the RSS figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The model with every unknown input dimension made a symbol (the first axis `N`), as
/// `OnnxModel::plan` does.
fn symbolic(path: &str) -> TractResult<InferenceModel> {
    let mut model = onnx().model_for_path(path)?;
    scorehost::__bench::name_unknown_dims(&mut model)?;
    Ok(model)
}

/// The symbolic model's first input shape with `N` = `batch`.
fn input_shape(model: &TypedModel, batch: usize) -> TractResult<Vec<usize>> {
    model
        .input_fact(0)?
        .shape
        .iter()
        .map(|d| {
            Ok(match d.to_i64() {
                Ok(v) => usize::try_from(v)?,
                Err(_) => batch,
            })
        })
        .collect()
}

fn time(label: &str, runs: usize, mut run: impl FnMut() -> TractResult<TVec<TValue>>) -> f64 {
    for _ in 0..3 {
        run().expect("warm-up run");
    }
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            run().expect("run");
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let p50 = samples[samples.len() / 2];
    println!(
        "{label:<58} p50 {p50:7.3} ms  p90 {:7.3} ms  min {:7.3} ms",
        samples[samples.len() * 9 / 10],
        samples[0]
    );
    p50
}

/// This process's resident set, in KiB (0 where /proc is not there).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// The largest difference between the f32 outputs of two runs (other types are skipped).
fn max_diff(a: &TVec<TValue>, b: &TVec<TValue>) -> f32 {
    a.iter()
        .zip(b)
        .filter(|(a, _)| a.datum_type() == DatumType::F32)
        .map(|(a, b)| {
            let (a, b) = (a.view(), b.view());
            let (a, b) = (
                a.as_slice::<f32>().expect("f32 outputs"),
                b.as_slice::<f32>().expect("f32 outputs"),
            );
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .map_or("target/onnx-models/cnn/model.onnx", |p| p);
    let runs: usize = args.get(1).map_or(Ok(50), |r| r.parse())?;
    let batch: usize = args.get(2).map_or(Ok(1), |r| r.parse())?;

    let started = Instant::now();
    let any_batch = symbolic(path)?.into_optimized()?;
    println!(
        "plan with symbolic N (today): built in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let shape = input_shape(&any_batch, batch)?;
    let len: usize = shape.iter().product();
    let values: Vec<f32> = (0..len).map(|i| (i % 997) as f32 / 997.0).collect();
    let input = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), values)?.into_tensor();
    let inputs = || tvec!(input.clone().into_tvalue());
    println!("input shape {shape:?}, {runs} runs per setting, one thread");

    let symbolic_plan = any_batch.clone().into_runnable()?;
    let reference = symbolic_plan.run(inputs())?;
    time("symbolic N, optimised, plan.run (today)", runs, || {
        symbolic_plan.run(inputs())
    });
    let mut state = symbolic_plan.spawn()?;
    time("symbolic N, optimised, one reused state", runs, || {
        state.run(inputs())
    });

    let rss_before = rss_kib();
    let started = Instant::now();
    let mut fixed = symbolic(path)?;
    fixed.set_input_fact(0, f32::fact(&shape).into())?;
    let fixed = fixed.into_optimized()?.into_runnable()?;
    println!(
        "plan with input fact fixed to {shape:?}: built in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let out = fixed.run(inputs())?;
    println!(
        "  RSS +{} KiB for this plan (built and run once)",
        rss_kib().saturating_sub(rss_before)
    );
    println!(
        "  max |diff| vs symbolic plan: {:e}",
        max_diff(&reference, &out)
    );
    time(
        "concrete batch (input fact), optimised, plan.run",
        runs,
        || fixed.run(inputs()),
    );
    let mut state = fixed.spawn()?;
    time(
        "concrete batch (input fact), optimised, reused state",
        runs,
        || state.run(inputs()),
    );

    // From the decluttered symbolic model, N substituted, then optimised: no re-parse.
    let started = Instant::now();
    let decluttered = symbolic(path)?.into_typed()?.into_decluttered()?;
    let declutter_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let n = decluttered.symbols.sym("N");
    let subs: HashMap<Symbol, TDim> = [(n, TDim::Val(batch as i64))].into();
    let substituted = decluttered
        .set_symbols(&subs)?
        .into_optimized()?
        .into_runnable()?;
    println!(
        "decluttered symbolic model in {declutter_ms:.0} ms; N={batch} set and optimised in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    // What the server keeps per model for this: one more optimised plan. Eight of them held
    // at once, so the allocator's slack is spread.
    let rss_before = rss_kib();
    let extra: Vec<_> = (0..8)
        .map(|_| {
            let plan = decluttered
                .set_symbols(&subs)?
                .into_optimized()?
                .into_runnable()?;
            plan.run(inputs())?;
            Ok(plan)
        })
        .collect::<TractResult<_>>()?;
    println!(
        "  RSS per extra N={batch} plan (8 built from the decluttered model, each run once): {} KiB",
        rss_kib().saturating_sub(rss_before) / extra.len() as u64
    );
    drop(extra);
    let out = substituted.run(inputs())?;
    println!(
        "  max |diff| vs symbolic plan: {:e}",
        max_diff(&reference, &out)
    );
    time(
        "concrete batch (set_symbols on decluttered), optimised",
        runs,
        || substituted.run(inputs()),
    );

    // tract's `conv_nhwc` transform: every convolution channel-last (its im2col then copies
    // contiguous channel runs instead of gathering single floats), symbolic and concrete.
    let nhwc = |model: InferenceModel| -> TractResult<Arc<TypedRunnableModel>> {
        let mut typed = model.into_typed()?;
        tract_onnx::tract_core::transform::get_transform("conv_nhwc")?
            .ok_or_else(|| anyhow::anyhow!("no conv_nhwc transform"))?
            .transform(&mut typed)?;
        typed.into_optimized()?.into_runnable()
    };
    let started = Instant::now();
    let nhwc_symbolic = nhwc(symbolic(path)?)?;
    println!(
        "conv_nhwc, symbolic N: built in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let out = nhwc_symbolic.run(inputs())?;
    println!(
        "  max |diff| vs symbolic plan: {:e}",
        max_diff(&reference, &out)
    );
    time("conv_nhwc, symbolic N, optimised", runs, || {
        nhwc_symbolic.run(inputs())
    });
    let started = Instant::now();
    let mut fixed_model = symbolic(path)?;
    fixed_model.set_input_fact(0, f32::fact(&shape).into())?;
    let nhwc_fixed = nhwc(fixed_model)?;
    println!(
        "conv_nhwc, concrete batch: built in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let out = nhwc_fixed.run(inputs())?;
    println!(
        "  max |diff| vs symbolic plan: {:e}",
        max_diff(&reference, &out)
    );
    time("conv_nhwc, concrete batch, optimised", runs, || {
        nhwc_fixed.run(inputs())
    });
    if std::env::var_os("PROFILE_NHWC").is_some() {
        profile(&nhwc_fixed, inputs, runs)?;
        return Ok(());
    }

    let decluttered_plan = decluttered.clone().into_runnable()?;
    time(
        "symbolic N, decluttered only (not optimised)",
        runs.min(10),
        || decluttered_plan.run(inputs()),
    );
    if std::env::var_os("PROFILE").is_some() {
        profile(&fixed, inputs, runs)?;
    }
    Ok(())
}

/// Time per node of `plan` (summed over `runs`), the 25 costliest printed with their op.
fn profile(
    plan: &Arc<TypedRunnableModel>,
    inputs: impl Fn() -> TVec<TValue>,
    runs: usize,
) -> TractResult<()> {
    let mut spent: HashMap<usize, (String, f64)> = HashMap::new();
    let mut state = plan.spawn()?;
    for _ in 0..runs {
        state.run_plan_with_eval(inputs(), |ctx, op_state, node, input| {
            let started = Instant::now();
            let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, input);
            let entry = spent
                .entry(node.id)
                .or_insert_with(|| (format!("{} {}", node.op().name(), node.name), 0.0));
            entry.1 += started.elapsed().as_secs_f64() * 1e3 / runs as f64;
            out
        })?;
    }
    let mut rows: Vec<_> = spent.into_values().collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = rows.iter().map(|r| r.1).sum();
    println!(
        "profile of the concrete plan: {total:.3} ms per run over {} nodes",
        rows.len()
    );
    let mut by_op: HashMap<String, f64> = HashMap::new();
    for (name, ms) in &rows {
        *by_op
            .entry(name.split(' ').next().unwrap_or("").to_owned())
            .or_default() += ms;
    }
    let mut by_op: Vec<_> = by_op.into_iter().collect();
    by_op.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (op, ms) in by_op {
        println!("  {ms:7.3} ms  {op}");
    }
    for (name, ms) in rows.iter().take(25) {
        println!("  {ms:7.3} ms  {name}");
    }
    if std::env::var_os("PROFILE_INFO").is_some() {
        for node in plan.model().nodes() {
            if node.op().name() == "OptMatMul" {
                println!(
                    "{} {:?} -> {:?}",
                    node.name,
                    node.op().info()?,
                    node.outputs[0].fact
                );
            }
        }
    }
    Ok(())
}
