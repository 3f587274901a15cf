//! The last minute of each deployment's traffic, for the operator console: a ring buffer of
//! one point per second (requests per second, p50 and p99 of `/score`, failures by kind),
//! sampled from the Prometheus handles in `scorehost_metrics`, and the last hot swaps.
//!
//! The request path is untouched: a sampler task reads the histograms' and counters' atomics
//! once a second and keeps the differences. Only the sampler and the console's feed take the
//! mutexes here.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use scorehost_metrics::{BUCKET_BOUNDS, DeploymentMetrics, Route};

/// One point per this long.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Points kept per deployment (a minute).
const POINTS: usize = 60;
/// Swaps kept.
const SWAPS: usize = 20;

/// Recent traffic and swaps of one host.
#[derive(Debug, Default)]
pub struct Recent {
    series: Mutex<BTreeMap<String, Series>>,
    swaps: Mutex<VecDeque<SwapRecord>>,
    sampling: AtomicBool,
}

/// Cumulative counts at one sample.
#[derive(Debug, Clone, Default)]
struct Counts {
    /// Observations per latency bucket of `/score` (not cumulative; the last is `+Inf`).
    buckets: Vec<u64>,
    errors: Errors,
}

/// Guest and capacity failures, by kind.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Errors {
    traps: u64,
    timeouts: u64,
    memory_limit_hits: u64,
    /// The entry script's own errors (`run` returned an error).
    script_errors: u64,
    /// Requests refused with 503: every instance busy and the wait list full.
    overloaded: u64,
}

impl Errors {
    fn of(m: &DeploymentMetrics) -> Errors {
        Errors {
            traps: m.traps.get(),
            timeouts: m.timeouts.get(),
            memory_limit_hits: m.memory_limit_hits.get(),
            script_errors: m.run_errors.get(),
            overloaded: m.overloaded.get(),
        }
    }

    fn minus(self, before: Errors) -> Errors {
        Errors {
            traps: self.traps.saturating_sub(before.traps),
            timeouts: self.timeouts.saturating_sub(before.timeouts),
            memory_limit_hits: self
                .memory_limit_hits
                .saturating_sub(before.memory_limit_hits),
            script_errors: self.script_errors.saturating_sub(before.script_errors),
            overloaded: self.overloaded.saturating_sub(before.overloaded),
        }
    }

    fn plus(self, other: Errors) -> Errors {
        Errors {
            traps: self.traps + other.traps,
            timeouts: self.timeouts + other.timeouts,
            memory_limit_hits: self.memory_limit_hits + other.memory_limit_hits,
            script_errors: self.script_errors + other.script_errors,
            overloaded: self.overloaded + other.overloaded,
        }
    }
}

#[derive(Debug, Default)]
struct Series {
    last: Option<(Instant, Counts)>,
    points: VecDeque<Point>,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    /// Unix time of the sample, in milliseconds.
    t: u64,
    requests_per_second: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: Errors,
}

/// One hot swap, as the console lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SwapRecord {
    /// Unix time when it ended, in milliseconds.
    pub t: u64,
    /// Which deployment.
    pub deployment: String,
    /// `ok` or `refused`.
    pub outcome: &'static str,
    /// SHA-256 of the version that served before.
    pub from: Option<String>,
    /// SHA-256 of the new version (`None` when refused).
    pub to: Option<String>,
    /// Why it was refused.
    pub message: Option<String>,
    /// How long the swap took.
    pub ms: u64,
}

/// The feed of one deployment: columns of equal length, oldest first.
#[derive(Debug, Serialize)]
pub struct SeriesView {
    name: String,
    t: Vec<u64>,
    requests_per_second: Vec<f64>,
    p50_ms: Vec<Option<f64>>,
    p99_ms: Vec<Option<f64>>,
    /// Failures in the window.
    errors_last_minute: Errors,
    /// Failures since the host started.
    errors_total: Errors,
}

impl Recent {
    /// Whether the sampler is to be started: true the first time only.
    pub fn claim_sampler(&self) -> bool {
        !self.sampling.swap(true, Ordering::AcqRel)
    }

    /// Adds one sample, taken now, of each deployment's counters (the registry's sampler
    /// calls this once every [`INTERVAL`]).
    pub fn sample<'m>(
        &self,
        deployments: impl IntoIterator<Item = (String, &'m DeploymentMetrics)>,
    ) {
        let samples = deployments
            .into_iter()
            .map(|(name, metrics)| (name, counts(metrics)))
            .collect();
        self.add(Instant::now(), unix_ms(), samples);
    }

    /// Adds one sample per deployment; a deployment no longer listed is forgotten.
    fn add(&self, now: Instant, t: u64, samples: Vec<(String, Counts)>) {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|name, _| samples.iter().any(|(n, _)| n == name));
        for (name, counts) in samples {
            let series = all.entry(name).or_default();
            if let Some((then, before)) = &series.last {
                let seconds = now.duration_since(*then).as_secs_f64().max(1e-3);
                let delta: Vec<u64> = counts
                    .buckets
                    .iter()
                    .zip(before.buckets.iter().chain(std::iter::repeat(&0)))
                    .map(|(now, then)| now.saturating_sub(*then))
                    .collect();
                let requests: u64 = delta.iter().sum();
                series.points.push_back(Point {
                    t,
                    requests_per_second: requests as f64 / seconds,
                    p50_ms: quantile(&delta, 0.5),
                    p99_ms: quantile(&delta, 0.99),
                    errors: counts.errors.minus(before.errors),
                });
                if series.points.len() > POINTS {
                    series.points.pop_front();
                }
            }
            // A swapped-in version has not looked up its `/score` histogram before its first
            // request: keep the old counts until it has.
            let keep_old = counts.buckets.is_empty()
                && series
                    .last
                    .as_ref()
                    .is_some_and(|(_, c)| !c.buckets.is_empty());
            if !keep_old {
                series.last = Some((now, counts));
            } else if let Some((then, old)) = &mut series.last {
                *then = now;
                old.errors = counts.errors;
            }
        }
    }

    /// Every deployment's last minute.
    pub fn view(&self) -> Vec<SeriesView> {
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|(name, s)| SeriesView {
                name: name.clone(),
                t: s.points.iter().map(|p| p.t).collect(),
                requests_per_second: s
                    .points
                    .iter()
                    .map(|p| (p.requests_per_second * 100.0).round() / 100.0)
                    .collect(),
                p50_ms: s.points.iter().map(|p| p.p50_ms.map(round_ms)).collect(),
                p99_ms: s.points.iter().map(|p| p.p99_ms.map(round_ms)).collect(),
                errors_last_minute: s
                    .points
                    .iter()
                    .fold(Errors::default(), |sum, p| sum.plus(p.errors)),
                errors_total: s.last.as_ref().map(|(_, c)| c.errors).unwrap_or_default(),
            })
            .collect()
    }

    /// Remembers a swap (the oldest of more than 20 is forgotten).
    pub fn swapped(&self, record: SwapRecord) {
        let mut swaps = self.swaps.lock().unwrap_or_else(|p| p.into_inner());
        swaps.push_front(record);
        swaps.truncate(SWAPS);
    }

    /// The last swaps, newest first.
    pub fn swaps(&self) -> Vec<SwapRecord> {
        let swaps = self.swaps.lock().unwrap_or_else(|p| p.into_inner());
        swaps.iter().cloned().collect()
    }
}

fn counts(m: &DeploymentMetrics) -> Counts {
    Counts {
        buckets: m
            .requests
            .histogram(Route::score)
            .map(|h| h.counts())
            .unwrap_or_default(),
        errors: Errors::of(m),
    }
}

/// The `q` quantile of observations counted per bucket, interpolated linearly inside its
/// bucket; `None` without observations. Past the last bound it answers the last bound.
fn quantile(per_bucket: &[u64], q: f64) -> Option<f64> {
    let total: u64 = per_bucket.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &n) in per_bucket.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let Some(&upper) = BUCKET_BOUNDS.get(i) else {
                return BUCKET_BOUNDS.last().map(|b| b * 1e3);
            };
            let lower = if i == 0 { 0.0 } else { BUCKET_BOUNDS[i - 1] };
            let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
            return Some((lower + (upper - lower) * within) * 1e3);
        }
        below += n;
    }
    BUCKET_BOUNDS.last().map(|b| b * 1e3)
}

fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Now, as Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        let mut per_bucket = vec![0u64; BUCKET_BOUNDS.len() + 1];
        assert_eq!(quantile(&per_bucket, 0.5), None);
        // 100 observations in (1 ms, 2.5 ms]: the median is half-way.
        let i = BUCKET_BOUNDS.iter().position(|&b| b == 0.002_5).unwrap();
        per_bucket[i] = 100;
        let p50 = quantile(&per_bucket, 0.5).unwrap();
        assert!((p50 - 1.75).abs() < 1e-9, "{p50}");
        // One slow one past the last bound: p99 stays in the bucket, p100 is the last bound.
        per_bucket[BUCKET_BOUNDS.len()] = 1;
        assert!(quantile(&per_bucket, 0.99).unwrap() <= 2.5);
        assert_eq!(quantile(&per_bucket, 1.0), Some(300_000.0));
    }

    #[test]
    fn points_are_differences_per_second_and_the_window_is_a_minute() {
        let recent = Recent::default();
        let start = Instant::now();
        let mut buckets = vec![0u64; BUCKET_BOUNDS.len() + 1];
        for second in 0..70u64 {
            buckets[4] += 10; // ten requests a second in (0.5 ms, 1 ms]
            let counts = Counts {
                buckets: buckets.clone(),
                errors: Errors {
                    traps: second,
                    ..Errors::default()
                },
            };
            recent.add(
                start + Duration::from_secs(second),
                second * 1000,
                vec![("a".to_owned(), counts)],
            );
        }
        let view = recent.view();
        assert_eq!(view.len(), 1);
        assert_eq!(view[0].t.len(), POINTS);
        assert!(view[0].requests_per_second.iter().all(|&r| r == 10.0));
        assert_eq!(view[0].errors_last_minute.traps, 60);
        assert_eq!(view[0].errors_total.traps, 69);
        // A deployment that is gone is forgotten.
        recent.add(start + Duration::from_secs(71), 71_000, Vec::new());
        assert!(recent.view().is_empty());
    }
}
