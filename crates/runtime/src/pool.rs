//! Warm instances lent to requests one at a time, started on demand, dropped when idle, and
//! replaced when they fail.
//!
//! The semaphore has one permit per instance the pool may hold (`max`). Invariant: every
//! instance alive (idle, lent, or being replaced) holds a permit except the idle ones, so a
//! request holding a permit either finds an idle instance or may start one without passing
//! `max` (a *cold start*, timed in the metrics). Requests that arrive while the pool is empty
//! wait for the permits like any other: with `max` 1, fifty concurrent first requests share
//! one start. A lease that ends puts its instance back (healthy); a failed instance is dropped,
//! and while the pool would hold fewer than `min` a background task builds a replacement and
//! only then gives the permit back, so a fixed pool heals by itself and a request never
//! receives a broken instance.
//!
//! Scale to zero: with an idle timeout, a reaper task drops the instances idle longer than it
//! (oldest first, keeping `min`); instances are reused last-in first-out, so under light load
//! one stays warm and the others age out.
//!
//! Admission is by time, not by count: a request waits for an instance while its wait stays
//! under the deployment's budget (`queue_timeout`). One whose *expected* wait (requests ahead
//! × the recent run time ÷ instances) already exceeds the budget is refused at once, so a slow
//! entry script sheds load promptly instead of letting every client wait out the budget.
//! Two large caps bound memory: the number of waiting requests and the bytes of their bodies.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Instance, InstanceSpec, Plugin};

/// Waiting for a replacement after a failed start doubles up to this.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);

/// Initialised instances of one plugin: between `min` and `max` of them.
pub struct Pool {
    inner: Arc<PoolInner>,
}

/// An instance waiting for a request, and since when.
struct Idle {
    instance: Instance,
    since: Instant,
}

struct PoolInner {
    /// Oldest first; leases take the newest.
    idle: Mutex<Vec<Idle>>,
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
    /// Most instances (the semaphore's permits).
    max: usize,
    /// Instances kept when idle.
    min: usize,
    /// Instances alive now, idle or lent (not counting replacements under way).
    live: AtomicUsize,
    /// Failed instances whose replacement has not run `init` yet.
    replacing: AtomicUsize,
    /// Set when the last start for a request failed; cleared by the next one that succeeds.
    start_failing: AtomicBool,
    plugin: Arc<Plugin>,
    spec: Arc<InstanceSpec>,
}

/// How many requests, and how many body bytes, may wait for an instance.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Most requests waiting at once.
    pub requests: usize,
    /// Most body bytes waiting at once.
    pub bytes: usize,
}

/// How many instances a pool holds, and for how long idle ones stay.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    /// Kept when idle, started at once (at least one is started, for the schema).
    pub min: usize,
    /// Most at once.
    pub max: usize,
    /// Idle instances above `min` are dropped after this; `None`: never.
    pub idle_timeout: Option<Duration>,
}

/// No instance became free in time, or too many requests were already waiting.
#[derive(Debug, thiserror::Error)]
#[error("every instance is busy")]
pub struct Busy;

/// Why a request got no instance.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Every instance stayed busy, or the wait list was full.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// No instance was idle and starting one failed (its `init`, or the memory budget).
    #[error("starting an instance failed: {0:#}")]
    Start(anyhow::Error),
}

impl Pool {
    /// Starts `sizing.min` instances, at least one (each runs `init`); fails if any of them
    /// fails. With an idle timeout, a reaper task drops idle instances until the pool is gone.
    pub async fn start(
        plugin: Arc<Plugin>,
        spec: Arc<InstanceSpec>,
        sizing: Sizing,
        queue: QueueLimits,
    ) -> anyhow::Result<Pool> {
        let max = sizing.max.max(1);
        let min = sizing.min.min(max);
        let first = min.max(1);
        let mut idle = Vec::with_capacity(first);
        for _ in 0..first {
            idle.push(Idle {
                instance: start_observed(&plugin, &spec).await?,
                since: Instant::now(),
            });
        }
        spec.metrics.pool_size.inc_by(first as i64);
        let inner = Arc::new(PoolInner {
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(max)),
            waiting: AtomicUsize::new(0),
            max_waiting: queue.requests,
            waiting_bytes: AtomicUsize::new(0),
            max_waiting_bytes: queue.bytes,
            run_nanos: AtomicU64::new(0),
            max,
            min,
            live: AtomicUsize::new(first),
            replacing: AtomicUsize::new(0),
            start_failing: AtomicBool::new(false),
            plugin,
            spec,
        });
        if let Some(timeout) = sizing.idle_timeout
            && min < max
        {
            tokio::spawn(reap_idle(Arc::downgrade(&inner), timeout));
        }
        Ok(Pool { inner })
    }

    /// A new instance of the pool's plugin outside the pool (it has run `init`); for measuring
    /// what an instance per request would cost.
    pub async fn fresh_instance(&self) -> anyhow::Result<Instance> {
        Instance::start(&self.inner.plugin, &self.inner.spec).await
    }

    /// Borrows an idle instance for a request carrying `weight` body bytes, waiting at most
    /// `budget` for one. Refuses at once when the wait list is full (in requests or bytes) or
    /// when the expected wait already exceeds `budget`.
    ///
    /// When no instance is idle the request starts one (the permit guarantees room for it);
    /// a failed start is [`LeaseError::Start`].
    pub async fn lease(&self, budget: Duration, weight: usize) -> Result<Lease, LeaseError> {
        let permit = match self.inner.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let inner = &self.inner;
                // A guard, so a request dropped while waiting (client gone) leaves the list.
                let waiting = Waiting::enter(inner, weight)?;
                if inner.expected_wait(waiting.ahead) > budget {
                    return Err(Busy.into());
                }
                let acquired =
                    tokio::time::timeout(budget, inner.permits.clone().acquire_owned()).await;
                drop(waiting);
                acquired.map_err(|_| Busy)?.map_err(|_closed| Busy)?
            }
        };
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop();
        let instance = match idle {
            Some(idle) => idle.instance,
            // The permit is dropped on failure: the next request tries again.
            None => self.inner.cold_start().await.map_err(LeaseError::Start)?,
        };
        self.inner.spec.metrics.pool_in_use.inc();
        Ok(Lease {
            instance: Some(instance),
            permit: Some(permit),
            pool: Arc::downgrade(&self.inner),
        })
    }
}

impl Pool {
    /// Instances that can serve now, after their current request, or after a start on demand:
    /// `max` less the failed ones being replaced; 0 while the pool is empty and its last start
    /// failed.
    pub fn healthy(&self) -> usize {
        let inner = &self.inner;
        if inner.start_failing.load(Ordering::Acquire) && inner.live.load(Ordering::Acquire) == 0 {
            return 0;
        }
        inner.max - inner.replacing.load(Ordering::Acquire).min(inner.max)
    }

    /// Drops the idle instances above `min` now (after the load's `schema()` call, so a
    /// deployment that scales to zero holds nothing until its first request).
    pub fn drop_spare(&self) {
        self.inner.reap(Duration::ZERO);
    }

    /// Instances alive now (idle or lent); 0 when scaled to zero.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Most instances.
    pub fn max(&self) -> usize {
        self.inner.max
    }

    /// Instances kept when idle.
    pub fn min(&self) -> usize {
        self.inner.min
    }

    /// Where the instances' post-init snapshot stands (wasi-python deployments only).
    pub fn snapshot_state(&self) -> Option<&'static str> {
        self.inner.plugin.snapshot_state(&self.inner.spec.model_dir)
    }

    /// Feeds one `run` time into the average the expected wait is computed from.
    pub fn observe_run(&self, run: Duration) {
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
    /// time for each round of `max` requests ahead and its own round. Zero before any run.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let run = self.run_nanos.load(Ordering::Relaxed);
        let rounds = (ahead / self.max.max(1)) as u64 + 1;
        Duration::from_nanos(run.saturating_mul(rounds))
    }

    /// Starts an instance for a request that holds a permit and found none idle.
    async fn cold_start(&self) -> anyhow::Result<Instance> {
        let started = Instant::now();
        let metrics = &self.spec.metrics;
        match start_observed(&self.plugin, &self.spec).await {
            Ok(instance) => {
                let took = started.elapsed();
                self.live.fetch_add(1, Ordering::AcqRel);
                self.start_failing.store(false, Ordering::Release);
                metrics.pool_size.inc();
                metrics.cold_starts.inc();
                metrics.cold_start_seconds.observe(took);
                tracing::debug!(
                    deployment = &*self.spec.deployment,
                    us = took.as_micros() as u64,
                    "started an instance on demand"
                );
                Ok(instance)
            }
            Err(e) => {
                self.start_failing.store(true, Ordering::Release);
                tracing::error!(
                    deployment = &*self.spec.deployment,
                    "an instance for a waiting request failed to start: {e:#}"
                );
                Err(e)
            }
        }
    }

    /// Drops the instances idle for `timeout` or longer, oldest first, keeping `min` alive.
    fn reap(&self, timeout: Duration) {
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let old = idle
                .iter()
                .take_while(|i| now.saturating_duration_since(i.since) >= timeout)
                .count();
            let spare = self.live.load(Ordering::Acquire).saturating_sub(self.min);
            let n = old.min(spare);
            if n > 0 {
                self.live.fetch_sub(n, Ordering::AcqRel);
                expired.extend(idle.drain(..n));
            }
        }
        if !expired.is_empty() {
            self.spec.metrics.pool_size.dec_by(expired.len() as i64);
            tracing::debug!(
                deployment = &*self.spec.deployment,
                dropped = expired.len(),
                live = self.live.load(Ordering::Acquire),
                "dropped idle instances"
            );
        }
        // Dropped here, outside the lock: freeing a store unmaps its memory.
        drop(expired);
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
        metrics.pool_size.dec_by(*self.live.get_mut() as i64);
        metrics
            .pool_replacing
            .dec_by(*self.replacing.get_mut() as i64);
    }
}

/// An instance on loan; returned (or replaced) when dropped.
pub struct Lease {
    instance: Option<Instance>,
    permit: Option<OwnedSemaphorePermit>,
    pool: Weak<PoolInner>,
}

impl Lease {
    /// The borrowed instance.
    pub fn instance(&mut self) -> &mut Instance {
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
                .push(Idle {
                    instance,
                    since: Instant::now(),
                });
            drop(permit);
            return;
        }
        drop(instance);
        let live = pool.live.fetch_sub(1, Ordering::AcqRel) - 1;
        pool.spec.metrics.pool_size.dec();
        if live + pool.replacing.load(Ordering::Acquire) >= pool.min {
            // An elastic pool: the next request that finds none idle starts one.
            tracing::warn!(
                deployment = &*pool.spec.deployment,
                "discarding a failed instance"
            );
            drop(permit);
            return;
        }
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
                    .push(Idle {
                        instance,
                        since: Instant::now(),
                    });
                inner.live.fetch_add(1, Ordering::AcqRel);
                inner.start_failing.store(false, Ordering::Release);
                inner.spec.metrics.pool_size.inc();
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

/// Every quarter of the idle timeout (between 10 ms and 5 s), drops the instances idle longer
/// than it; ends when the pool is gone.
async fn reap_idle(pool: Weak<PoolInner>, timeout: Duration) {
    let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = pool.upgrade() else { return };
        inner.reap(timeout);
    }
}
