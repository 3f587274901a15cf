//! Warm instances lent to requests one at a time, and replaced when they fail.
//!
//! Invariant: a semaphore permit is available only while an idle instance waits in `idle`.
//! A lease holds a permit; when it ends the instance goes back (healthy) or a background task
//! builds a replacement and only then gives the permit back, so capacity heals by itself and
//! a request never receives a broken instance.

use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Instances started (each holds a permit until it is idle, lent, or being replaced).
    size: usize,
    /// Failed instances whose replacement has not run `init` yet.
    replacing: AtomicUsize,
    plugin: Arc<Plugin>,
    spec: Arc<InstanceSpec>,
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
        max_waiting: usize,
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
                max_waiting,
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

    /// Borrows an idle instance, waiting at most `wait` for one; refuses at once when the
    /// wait list is full.
    pub(crate) async fn lease(&self, wait: Duration) -> Result<Lease, Busy> {
        let permit = match self.inner.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let inner = &self.inner;
                if inner.waiting.fetch_add(1, Ordering::AcqRel) >= inner.max_waiting {
                    inner.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy);
                }
                // A guard, so a request dropped while waiting (client gone) leaves the list.
                let _waiting = Waiting::enter(inner);
                let acquired =
                    tokio::time::timeout(wait, inner.permits.clone().acquire_owned()).await;
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
}

/// A place on the wait list (already counted in `waiting`), given back when dropped.
struct Waiting<'a>(&'a PoolInner);

impl<'a> Waiting<'a> {
    fn enter(pool: &'a PoolInner) -> Waiting<'a> {
        pool.spec.metrics.pool_waiting.inc();
        Waiting(pool)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
        self.0.spec.metrics.pool_waiting.dec();
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
