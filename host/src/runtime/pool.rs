//! Warm instances lent to requests one at a time, and replaced when they fail.
//!
//! Invariant: a semaphore permit is available only while an idle instance waits in `idle`.
//! A lease holds a permit; when it ends the instance goes back (healthy) or a background task
//! builds a replacement and only then gives the permit back, so capacity heals by itself and
//! a request never receives a broken instance.
//!
//! Admission is by time, not by count: a request waits for an instance while its wait stays
//! under the deployment's budget (`queue_timeout`). One whose *expected* wait (requests ahead
//! × the recent run time ÷ instances) already exceeds the budget is refused at once, so a slow
//! entry script sheds load promptly instead of letting every client wait out the budget.
//! Two large caps bound memory: the number of waiting requests and the bytes of their bodies.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Instance, InstanceSpec, Plugin};

/// Waiting for a replacement after a failed start doubles up to this.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);

/// A fixed number of initialised instances of one plugin.
pub(crate) struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    idle: Mutex<Vec<Instance>>,
    permits: Arc<Semaphore>,
    /// Requests waiting for an instance now.
    waiting: AtomicUsize,
    /// Most requests that may wait.
    max_waiting: usize,
    /// Body bytes of the requests waiting now.
    waiting_bytes: AtomicUsize,
    /// Most body bytes that may wait (one request may always wait, however large).
    max_waiting_bytes: usize,
    /// Recent `run` time in nanoseconds (an exponentially weighted average; 0: none yet).
    run_nanos: AtomicU64,
    /// Instances started (each holds a permit until it is idle, lent, or being replaced).
    size: usize,
    /// Failed instances whose replacement has not run `init` yet.
    replacing: AtomicUsize,
    plugin: Arc<Plugin>,
    spec: Arc<InstanceSpec>,
}

/// How many requests, and how many body bytes, may wait for an instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    /// Most requests waiting at once.
    pub(crate) requests: usize,
    /// Most body bytes waiting at once.
    pub(crate) bytes: usize,
}

/// No instance became free in time, or too many requests were already waiting.
#[derive(Debug, thiserror::Error)]
#[error("every instance is busy")]
pub(crate) struct Busy;

impl Pool {
    /// Starts `size` instances (each runs `init`); fails if any of them fails.
    pub(crate) async fn start(
        plugin: Arc<Plugin>,
        spec: Arc<InstanceSpec>,
        size: usize,
        queue: QueueLimits,
    ) -> anyhow::Result<Pool> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(start_observed(&plugin, &spec).await?);
        }
        spec.metrics.pool_size.inc_by(size as i64);
        Ok(Pool {
            inner: Arc::new(PoolInner {
                idle: Mutex::new(idle),
                permits: Arc::new(Semaphore::new(size)),
                waiting: AtomicUsize::new(0),
                max_waiting: queue.requests,
                waiting_bytes: AtomicUsize::new(0),
                max_waiting_bytes: queue.bytes,
                run_nanos: AtomicU64::new(0),
                size,
                replacing: AtomicUsize::new(0),
                plugin,
                spec,
            }),
        })
    }

    /// A new instance of the pool's plugin outside the pool (it has run `init`); for measuring
    /// what an instance per request would cost.
    pub(crate) async fn fresh_instance(&self) -> anyhow::Result<Instance> {
        Instance::start(&self.inner.plugin, &self.inner.spec).await
    }

    /// Borrows an idle instance for a request carrying `weight` body bytes, waiting at most
    /// `budget` for one. Refuses at once when the wait list is full (in requests or bytes) or
    /// when the expected wait already exceeds `budget`.
    pub(crate) async fn lease(&self, budget: Duration, weight: usize) -> Result<Lease, Busy> {
        let permit = match self.inner.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let inner = &self.inner;
                // A guard, so a request dropped while waiting (client gone) leaves the list.
                let waiting = Waiting::enter(inner, weight)?;
                if inner.expected_wait(waiting.ahead) > budget {
                    return Err(Busy);
                }
                let acquired =
                    tokio::time::timeout(budget, inner.permits.clone().acquire_owned()).await;
                drop(waiting);
                acquired.map_err(|_| Busy)?.map_err(|_closed| Busy)?
            }
        };
        let instance = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop()
            .expect("a permit is available only while an instance is idle");
        self.inner.spec.metrics.pool_in_use.inc();
        Ok(Lease {
            instance: Some(instance),
            permit: Some(permit),
            pool: Arc::downgrade(&self.inner),
        })
    }
}

impl Pool {
    /// Instances that can serve now or after their current request (started, not failed).
    pub(crate) fn healthy(&self) -> usize {
        self.inner.size
            - self
                .inner
                .replacing
                .load(Ordering::Acquire)
                .min(self.inner.size)
    }

    /// Instances started.
    pub(crate) fn size(&self) -> usize {
        self.inner.size
    }

    /// Feeds one `run` time into the average the expected wait is computed from.
    pub(crate) fn observe_run(&self, run: Duration) {
        let sample = u64::try_from(run.as_nanos()).unwrap_or(u64::MAX).max(1);
        let average = &self.inner.run_nanos;
        let old = average.load(Ordering::Relaxed);
        // Weight 1/8 for the new sample, which counts as at most 4× the average: one run
        // that was preempted on a busy machine must not make a thousand waiting requests
        // look hopeless, while a plugin that really slows down still moves the average up
        // within a few runs. The first sample is taken as is. A lost update under contention
        // only makes the average a little staler.
        let new = if old == 0 {
            sample
        } else {
            let sample = sample.min(old.saturating_mul(4));
            old - old / 8 + sample / 8
        };
        average.store(new, Ordering::Relaxed);
    }
}

impl PoolInner {
    /// How long a request with `ahead` requests before it can expect to wait: the recent run
    /// time for each round of `size` requests ahead and its own round. Zero before any run.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let run = self.run_nanos.load(Ordering::Relaxed);
        let rounds = (ahead / self.size.max(1)) as u64 + 1;
        Duration::from_nanos(run.saturating_mul(rounds))
    }
}

/// A place on the wait list (counted in `waiting` and `waiting_bytes`), given back when
/// dropped.
struct Waiting<'a> {
    pool: &'a PoolInner,
    weight: usize,
    /// Requests that were waiting before this one.
    ahead: usize,
}

impl<'a> Waiting<'a> {
    /// Takes a place, or refuses when the list is full in requests or in bytes.
    fn enter(pool: &'a PoolInner, weight: usize) -> Result<Waiting<'a>, Busy> {
        let ahead = pool.waiting.fetch_add(1, Ordering::AcqRel);
        let bytes_before = pool.waiting_bytes.fetch_add(weight, Ordering::AcqRel);
        let waiting = Waiting {
            pool,
            weight,
            ahead,
        };
        pool.spec.metrics.pool_waiting.inc();
        let too_many = ahead >= pool.max_waiting;
        let too_large = bytes_before > 0 && bytes_before + weight > pool.max_waiting_bytes;
        if too_many || too_large {
            return Err(Busy);
        }
        Ok(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.pool.waiting.fetch_sub(1, Ordering::AcqRel);
        self.pool
            .waiting_bytes
            .fetch_sub(self.weight, Ordering::AcqRel);
        self.pool.spec.metrics.pool_waiting.dec();
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // The version is gone (swapped out, or the host stops): its instances no longer count.
        let metrics = &self.spec.metrics;
        metrics.pool_size.dec_by(self.size as i64);
        metrics
            .pool_replacing
            .dec_by(*self.replacing.get_mut() as i64);
    }
}

/// An instance on loan; returned (or replaced) when dropped.
pub(crate) struct Lease {
    instance: Option<Instance>,
    permit: Option<OwnedSemaphorePermit>,
    pool: Weak<PoolInner>,
}

impl Lease {
    /// The borrowed instance.
    pub(crate) fn instance(&mut self) -> &mut Instance {
        self.instance.as_mut().expect("present until drop")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (Some(instance), Some(permit)) = (self.instance.take(), self.permit.take()) else {
            return;
        };
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        pool.spec.metrics.pool_in_use.dec();
        if instance.is_healthy() {
            pool.idle
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .push(instance);
            drop(permit);
            return;
        }
        drop(instance);
        pool.replacing.fetch_add(1, Ordering::AcqRel);
        pool.spec.metrics.pool_replacing.inc();
        tracing::warn!(
            deployment = &*pool.spec.deployment,
            "discarding a failed instance; starting a replacement"
        );
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(replace(Arc::downgrade(&pool), permit));
            }
            Err(_) => tracing::warn!("no runtime to start a replacement instance on"),
        }
    }
}

/// Starts an instance, counting its `init` time or its failure.
async fn start_observed(plugin: &Plugin, spec: &InstanceSpec) -> anyhow::Result<Instance> {
    let started = Instant::now();
    let outcome = Instance::start(plugin, spec).await;
    match &outcome {
        Ok(_) => spec.metrics.init_seconds.observe(started.elapsed()),
        Err(_) => {
            spec.metrics.init_failures.inc();
        }
    }
    outcome
}

/// Starts a new instance and then releases the permit the failed one held. Retries with
/// backoff while `init` fails; gives up when the pool is gone.
async fn replace(pool: Weak<PoolInner>, permit: OwnedSemaphorePermit) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(inner) = pool.upgrade() else { return };
        match start_observed(&inner.plugin, &inner.spec).await {
            Ok(instance) => {
                inner
                    .idle
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .push(instance);
                inner.replacing.fetch_sub(1, Ordering::AcqRel);
                inner.spec.metrics.pool_replacing.dec();
                drop(permit);
                return;
            }
            Err(e) => {
                tracing::error!(
                    deployment = &*inner.spec.deployment,
                    retry_in_ms = backoff.as_millis() as u64,
                    "replacement instance failed to start: {e:#}"
                );
            }
        }
        drop(inner);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
    }
}
