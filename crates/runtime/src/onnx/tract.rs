//! The tract engine: an ONNX model parsed and optimised natively, one plan for any batch size
//! and a second one for a batch of one. An optimised plan serves concurrent requests without a
//! lock (tract's `SimplePlan::run` takes `&self`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::{Element, Failure, Loaded, OutputTensor, Port, RawTensor, decode};

/// A model tract has planned.
pub(super) struct TractModel {
    /// The plan for any value of the symbolic dimensions.
    plan: Arc<TypedRunnableModel>,
    /// The plan for the model's one symbolic dimension (its batch) at 1, when it has exactly
    /// one: see [`SingleBatch`].
    single: Option<SingleBatch>,
}

/// A second plan of a model whose inputs have one symbolic dimension (the batch `N`), with that
/// dimension fixed to 1: the online case, one image or row per request.
///
/// Why: with a concrete shape tract picks convolution code it cannot use for a symbolic batch
/// (lazy im2col, packing each image patch straight into the matrix product instead of
/// materialising a whole im2col matrix); the CNN example computes in ~7.3 ms instead of ~10
/// (`host/examples/cnn_compute.rs`, BENCHMARKS.md 2026-12-04). Concrete batches above 1 gain
/// nothing measurable (tract uses the same eager im2col as with a symbol), so there is no plan
/// per batch size. The cost is a second optimised copy of the weights, held for the
/// deployment's life (~4.7 MiB of RSS for the 2.8 MB CNN, ~0 for the iris classifier).
struct SingleBatch {
    /// Per input, in the model's order: the axes that carry the symbol.
    axes: Vec<Vec<usize>>,
    plan: Arc<TypedRunnableModel>,
}

impl SingleBatch {
    /// The plan for `typed` (decluttered, not optimised) with its symbol at 1, when every
    /// symbolic input dimension is the same plain symbol; `None` otherwise (no symbol, several,
    /// or an expression), or when tract cannot build it (the any-batch plan still serves).
    fn plan(name: &str, typed: &TypedModel) -> Option<Self> {
        let mut symbol: Option<Symbol> = None;
        let mut axes = Vec::with_capacity(typed.inputs.len());
        for input in 0..typed.inputs.len() {
            let mut these = Vec::new();
            for (axis, dim) in typed.input_fact(input).ok()?.shape.iter().enumerate() {
                if dim.to_i64().is_ok() {
                    continue;
                }
                let TDim::Sym(sym) = dim else {
                    return None;
                };
                if symbol.get_or_insert_with(|| sym.clone()) != sym {
                    return None;
                }
                these.push(axis);
            }
            axes.push(these);
        }
        let symbol = symbol?;
        let one = HashMap::from([(symbol, TDim::Val(1))]);
        let plan = typed
            .set_symbols(&one)
            .and_then(TypedModel::into_optimized)
            .and_then(TypedModel::into_runnable);
        match plan {
            Ok(plan) => Some(SingleBatch { axes, plan }),
            Err(e) => {
                tracing::warn!(
                    model = name,
                    "no batch-of-one plan, the any-batch one serves: {e:#}"
                );
                None
            }
        }
    }

    /// Whether `inputs` (checked, in the model's order) have the symbol at 1.
    fn fits(&self, inputs: &[RawTensor]) -> bool {
        self.axes
            .iter()
            .zip(inputs)
            .all(|(axes, input)| axes.iter().all(|&axis| input.dims.get(axis) == Some(&1)))
    }
}

/// The element type of a tract datum type.
fn element(dt: DatumType) -> Element {
    match dt {
        DatumType::F32 => Element::F32,
        DatumType::F64 => Element::F64,
        DatumType::I64 => Element::I64,
        DatumType::I32 => Element::I32,
        DatumType::U8 => Element::U8,
        DatumType::Bool => Element::Bool,
        DatumType::I8 => Element::Other("int8"),
        DatumType::I16 => Element::Other("int16"),
        DatumType::U16 => Element::Other("uint16"),
        DatumType::U32 => Element::Other("uint32"),
        DatumType::U64 => Element::Other("uint64"),
        DatumType::F16 => Element::Other("float16"),
        DatumType::String => Element::Other("string"),
        _ => Element::Other("an unsupported type"),
    }
}

impl TractModel {
    /// Parses and optimises the model file at `path`.
    pub fn from_path(name: &str, path: &Path) -> TractResult<Loaded<TractModel>> {
        Self::plan(name, onnx().model_for_path(path)?)
    }

    /// Parses and optimises a model from its bytes. External data files are not followed:
    /// tract has no folder to resolve them in.
    pub fn from_bytes(bytes: &[u8]) -> TractResult<Loaded<TractModel>> {
        let mut read = bytes;
        Self::plan("<bytes>", onnx().model_for_read(&mut read)?)
    }

    /// Exporters such as skl2onnx leave the batch dimension unnamed; tract would then not know
    /// it and could not optimise, so every unknown dimension becomes a symbol (the first `N`).
    /// The decluttered model is optimised twice: as it is, and with that symbol at 1.
    fn plan(name: &str, mut model: InferenceModel) -> TractResult<Loaded<TractModel>> {
        name_unknown_dims(&mut model)?;
        // Read before optimising, which may rename nodes.
        let output_names: Vec<String> = model
            .output_outlets()?
            .iter()
            .map(|&o| {
                model
                    .outlet_label(o)
                    .unwrap_or(&model.node(o.node).name)
                    .to_owned()
            })
            .collect();
        let input_names: Vec<String> = model
            .input_outlets()?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let typed = model.into_typed()?.into_decluttered()?;
        let single = SingleBatch::plan(name, &typed);
        let typed = typed.into_optimized()?;
        let port = |name: &String, fact: &TypedFact| Port {
            name: name.clone(),
            // tract turns some integer outputs (an ArgMax's label) into symbolic dimensions;
            // they leave as the int64 the ONNX model declares.
            element: element(match fact.datum_type {
                DatumType::TDim => DatumType::I64,
                dt => dt,
            }),
            shape: fact
                .shape
                .iter()
                .map(|d| d.to_i64().ok().and_then(|d| usize::try_from(d).ok()))
                .collect(),
            symbols: fact
                .shape
                .iter()
                .map(|d| match d {
                    TDim::Sym(symbol) => Some(symbol.to_string()),
                    _ => None,
                })
                .collect(),
        };
        let inputs = input_names
            .iter()
            .enumerate()
            .map(|(i, name)| Ok(port(name, typed.input_fact(i)?)))
            .collect::<TractResult<Vec<_>>>()?;
        let outputs = output_names
            .iter()
            .enumerate()
            .map(|(i, name)| Ok(port(name, typed.output_fact(i)?)))
            .collect::<TractResult<Vec<_>>>()?;
        let plan = typed.into_runnable()?;
        Ok(Loaded {
            model: TractModel { plan, single },
            inputs,
            outputs,
        })
    }

    /// Whether the model has a batch-of-one plan.
    #[cfg(test)]
    pub fn has_single_plan(&self) -> bool {
        self.single.is_some()
    }

    /// Drops the batch-of-one plan (a measurement compares the two).
    #[cfg(test)]
    pub fn drop_single_plan(&mut self) {
        self.single = None;
    }

    /// Runs the plan that fits `inputs` (checked, in the model's order); the outputs' bytes
    /// together may not pass `max_bytes`.
    pub fn run(
        &self,
        inputs: Vec<RawTensor>,
        ports: (&[Port], &[Port]),
        max_bytes: usize,
    ) -> Result<Vec<OutputTensor>, Failure> {
        let (input_ports, output_ports) = ports;
        let plan = match &self.single {
            Some(single) if single.fits(&inputs) => &single.plan,
            _ => &self.plan,
        };
        let mut values = TVec::with_capacity(inputs.len());
        for (port, input) in input_ports.iter().zip(inputs) {
            let tensor = to_tract(input)
                .map_err(|e| Failure::InvalidArgument(format!("input '{}': {e:#}", port.name)))?;
            values.push(tensor.into_tvalue());
        }
        let outputs = plan
            .run(values)
            .map_err(|e| Failure::Runtime(format!("the model failed: {e:#}")))?;
        let total: usize = outputs
            .iter()
            .map(|t| t.len().saturating_mul(t.datum_type().size_of()))
            .fold(0, usize::saturating_add);
        if total > max_bytes {
            return Err(Failure::too_large_outputs(total, max_bytes));
        }
        output_ports
            .iter()
            .zip(outputs)
            .map(|(port, value)| {
                let value = if value.datum_type() == DatumType::TDim {
                    value
                        .cast_to::<i64>()
                        .map_err(|e| Failure::Runtime(format!("output '{}': {e:#}", port.name)))?
                        .into_owned()
                        .into_tvalue()
                } else {
                    value
                };
                let element = element(value.datum_type());
                OutputTensor::new(port, element, value.shape(), value.as_bytes().to_vec())
            })
            .collect()
    }
}

/// A tract tensor from checked little-endian bytes (one copy, no `unsafe`).
fn to_tract(input: RawTensor) -> TractResult<Tensor> {
    let RawTensor {
        element,
        dims,
        data,
    } = input;
    Ok(match element {
        Element::F32 => array(&dims, decode(&data, f32::from_le_bytes))?,
        Element::F64 => array(&dims, decode(&data, f64::from_le_bytes))?,
        Element::I64 => array(&dims, decode(&data, i64::from_le_bytes))?,
        Element::I32 => array(&dims, decode(&data, i32::from_le_bytes))?,
        Element::U8 => array(&dims, data)?,
        Element::Bool => array(&dims, super::bools(&data)?)?,
        Element::Other(name) => anyhow::bail!("{name} tensors are not supported"),
    })
}

fn array<T: Datum>(dims: &[usize], values: Vec<T>) -> TractResult<Tensor> {
    Ok(tract_ndarray::ArrayD::from_shape_vec(dims, values)?.into_tensor())
}

/// Makes every unknown input dimension of `model` a symbol: the first axis `N` (the batch),
/// the others `d{input}_{axis}`. Exporters such as skl2onnx leave the batch unnamed, and tract
/// cannot optimise a dimension it does not know.
pub fn name_unknown_dims(model: &mut InferenceModel) -> TractResult<()> {
    for input in 0..model.inputs.len() {
        let rank = model.input_fact(input)?.shape.rank().concretize();
        let Some(rank) = rank.and_then(|r| usize::try_from(r).ok()) else {
            anyhow::bail!("input {input} has no known rank");
        };
        for axis in 0..rank {
            let unknown = model
                .input_fact(input)?
                .shape
                .dim(axis)
                .is_none_or(|d| d.concretize().is_none());
            if unknown {
                let symbol = if axis == 0 {
                    model.symbols.sym("N")
                } else {
                    model.symbols.sym(&format!("d{input}_{axis}"))
                };
                model
                    .input_fact_mut(input)?
                    .shape
                    .set_dim(axis, symbol.into());
            }
        }
    }
    Ok(())
}
