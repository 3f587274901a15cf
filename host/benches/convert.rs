//! Micro-benchmark: validating and converting a 1000×10 float64 `ndarray` input (what a typed
//! request costs the host) against a plain `serde_json::Value` parse of the same text.
//!
//! `cargo bench -p scorehost --bench convert` prints median and p99 per call. Bounded: at most
//! 2000 iterations or 3 s per case.

use std::time::{Duration, Instant};

const ROWS: usize = 1000;
const COLS: usize = 10;
const MAX_ITERATIONS: usize = 2000;
const MAX_TIME: Duration = Duration::from_secs(3);

fn main() {
    // Deterministic pseudo-random values with full float64 precision.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 100.0
    };
    let rows: Vec<Vec<f64>> = (0..ROWS)
        .map(|_| (0..COLS).map(|_| next()).collect())
        .collect();
    let json = serde_json::to_string(&rows).expect("serialising the input");
    println!(
        "input: {ROWS}×{COLS} float64 matrix, {} bytes of JSON",
        json.len()
    );

    let value = measure("serde_json::Value parse", || {
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        std::hint::black_box(v);
    });
    let typed = measure("validate + convert to tensor bytes", || {
        let bytes =
            scorehost::__bench::convert_float64_matrix(&json, COLS as u64).expect("valid matrix");
        assert_eq!(bytes, ROWS * COLS * 8);
        std::hint::black_box(bytes);
    });
    println!(
        "ratio (validate+convert / Value parse, median): {:.2}",
        typed.as_secs_f64() / value.as_secs_f64()
    );
}

/// Runs `f` repeatedly and prints the median and p99; returns the median.
fn measure(name: &str, mut f: impl FnMut()) -> Duration {
    for _ in 0..20 {
        f();
    }
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < MAX_ITERATIONS && started.elapsed() < MAX_TIME {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    println!(
        "{name:<40} median {:>8.1} µs   p99 {:>8.1} µs   ({} runs)",
        median.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        times.len()
    );
    median
}
