//! The deployments a host serves, and swapping one for a new version without failing a request.
//!
//! A request takes an `Arc` of its deployment when it starts and keeps it to the end. A swap
//! loads the new version beside the old one (compiles it, starts and `init`s its whole pool),
//! then replaces the map entry in one step: new requests see the new version at once, requests
//! under way finish on the old one, and the old one is dropped with its last `Arc`. A version
//! that fails to load is refused and the old one keeps serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use crate::collect::Collector;
use crate::config::DeploymentSettings;
use crate::deployment::Deployment;
use crate::recent::{Recent, SwapRecord};
use scorehost_metrics::Metrics;
use scorehost_runtime::Runtime;

/// Every deployment of this host, by name.
pub struct Registry {
    runtime: Arc<Runtime>,
    deployments: RwLock<BTreeMap<String, Entry>>,
    /// One swap at a time, so two swaps of one deployment cannot interleave.
    swapping: tokio::sync::Mutex<()>,
    /// Deployments of the configuration whose first load has not finished.
    pending: RwLock<Vec<String>>,
    /// Set when every configured deployment has loaded (its `init` succeeded).
    loaded: AtomicBool,
    metrics: Arc<Metrics>,
    /// The last minute of traffic and the last swaps, for the console.
    recent: Recent,
    /// Where the deployments collect scored requests, once a server turns collection on.
    collector: Arc<OnceLock<Collector>>,
}

/// Whether a deployment can take traffic, as the admin list and readiness report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its first load (compile, `init` of every instance) is under way.
    Loading,
    /// At least one instance is healthy.
    Ready,
    /// Every instance failed and no replacement has finished `init` yet.
    Unhealthy,
}

struct Entry {
    deployment: Arc<Deployment>,
    /// The plugin file's modification time when it was loaded, for the watcher.
    plugin_mtime: Option<SystemTime>,
}

/// What to change in a swap; `None` keeps the current value.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapRequest {
    /// A new plugin component.
    pub plugin: Option<PathBuf>,
    /// A new model folder.
    pub model_dir: Option<PathBuf>,
}

/// Folders an admin swap may take a plugin file or a model folder from. A swap's paths are
/// resolved (symlinks, `..`) and must land inside one of them: the admin key must not become
/// a way to load, and so read through a plugin, any file of the host.
#[derive(Debug, Clone, Default)]
pub struct SwapRoots {
    /// Folders of plugin files.
    pub plugin: Vec<PathBuf>,
    /// Folders of model folders.
    pub model: Vec<PathBuf>,
}

impl SwapRoots {
    /// The folders already in use: those holding the deployments' plugin files and model
    /// folders (their parent folders).
    pub fn of<'a>(deployments: impl IntoIterator<Item = &'a DeploymentSettings>) -> SwapRoots {
        let mut roots = SwapRoots::default();
        let parent = |path: &Path| path.parent().map(Path::to_path_buf);
        for d in deployments {
            roots.plugin.extend(parent(&d.plugin));
            roots.model.extend(parent(&d.model_dir));
        }
        roots.plugin.dedup();
        roots.model.dedup();
        roots
    }

    /// Checks a swap's new paths; the error says which field is refused (never where a path
    /// leads).
    pub fn confine(&self, change: &SwapRequest) -> Result<(), &'static str> {
        if let Some(plugin) = &change.plugin
            && !inside(plugin, &self.plugin, |m| m.is_file())
        {
            return Err("plugin: not a file inside the plugin roots of the deployments file");
        }
        if let Some(model_dir) = &change.model_dir
            && !inside(model_dir, &self.model, |m| m.is_dir())
        {
            return Err("model_dir: not a folder inside the model roots of the deployments file");
        }
        Ok(())
    }
}

/// Whether `path`, resolved, is of the right kind and inside one of `roots` (resolved too).
fn inside(path: &Path, roots: &[PathBuf], kind: fn(&std::fs::Metadata) -> bool) -> bool {
    let Ok(resolved) = std::fs::canonicalize(path) else {
        return false;
    };
    let right_kind = std::fs::metadata(&resolved).is_ok_and(|m| kind(&m));
    right_kind
        && roots
            .iter()
            .filter_map(|root| std::fs::canonicalize(root).ok())
            .any(|root| resolved.starts_with(root))
}

/// Why a swap did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// No deployment has that name.
    #[error("no deployment is named '{0}'")]
    NotFound(String),
    /// The new version failed to load; the old one keeps serving.
    #[error("the new version was refused: {0:#}")]
    Refused(anyhow::Error),
}

impl Registry {
    /// An empty registry: not ready until [`Registry::load_all`] has loaded the configuration.
    pub fn new(runtime: Arc<Runtime>) -> Arc<Registry> {
        let metrics = Metrics::new();
        let budget = runtime.memory_budget();
        metrics.watch_memory(move || (budget.used(), budget.limit(), budget.refused()));
        Arc::new(Registry {
            runtime,
            deployments: RwLock::new(BTreeMap::new()),
            swapping: tokio::sync::Mutex::new(()),
            pending: RwLock::new(Vec::new()),
            loaded: AtomicBool::new(false),
            metrics: Arc::new(metrics),
            recent: Recent::default(),
            collector: Arc::default(),
        })
    }

    /// Turns data collection on for the deployments that opted in (the first collector
    /// set stays).
    pub fn collect_with(&self, collector: Collector) {
        let _ = self.collector.set(collector);
    }

    /// Starts the console's once-a-second sampler of every deployment's counters (once;
    /// later calls do nothing). It ends when the registry is dropped.
    pub fn start_sampling(self: &Arc<Self>) {
        if !self.recent.claim_sampler() {
            return;
        }
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::recent::INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                let deployments = registry.list();
                registry.recent.sample(
                    deployments
                        .iter()
                        .map(|d| (d.settings().name.clone(), d.metrics())),
                );
            }
        });
    }

    /// Loads every deployment; any failure fails the whole host (it cannot become ready).
    pub async fn load(
        runtime: Arc<Runtime>,
        settings: Vec<DeploymentSettings>,
    ) -> anyhow::Result<Arc<Registry>> {
        let registry = Registry::new(runtime);
        registry.load_all(settings).await?;
        Ok(registry)
    }

    /// Loads the configured deployments one by one (a server may already be answering: each
    /// is reported `loading` until its `init` succeeded); the registry is ready when all are
    /// in. The first failure stops the loading and is returned; the registry then never
    /// becomes ready.
    pub async fn load_all(&self, settings: Vec<DeploymentSettings>) -> anyhow::Result<()> {
        *self.pending.write().unwrap_or_else(|p| p.into_inner()) =
            settings.iter().map(|s| s.name.clone()).collect();
        for s in settings {
            let name = s.name.clone();
            let plugin_mtime = mtime(&s.plugin);
            let metrics = self.metrics.deployment(&name);
            let collector = self.collector.clone();
            let deployment = Deployment::load_observed(&self.runtime, s, metrics, collector)
                .await
                .with_context(|| format!("deployment '{name}'"))?;
            self.write().insert(
                name.clone(),
                Entry {
                    deployment: Arc::new(deployment),
                    plugin_mtime,
                },
            );
            self.pending
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|n| *n != name);
        }
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Ready for traffic: every configured deployment loaded and each has a healthy instance.
    pub fn is_ready(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
            && self
                .read()
                .values()
                .all(|e| e.deployment.healthy_instances() > 0)
    }

    /// Every configured deployment's status, by name (loading ones included).
    pub fn statuses(&self) -> Vec<(String, Status)> {
        let mut all: Vec<(String, Status)> = self
            .read()
            .iter()
            .map(|(name, e)| (name.clone(), status_of(&e.deployment)))
            .collect();
        all.extend(
            self.pending
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|name| (name.clone(), Status::Loading)),
        );
        all
    }

    /// The host's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Recent traffic and swaps.
    pub fn recent(&self) -> &Recent {
        &self.recent
    }

    /// The active version of deployment `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Deployment>> {
        self.read().get(name).map(|e| e.deployment.clone())
    }

    /// Every active deployment, by name.
    pub fn list(&self) -> Vec<Arc<Deployment>> {
        self.read().values().map(|e| e.deployment.clone()).collect()
    }

    /// Loads a new version of `name` beside the active one and switches to it.
    pub async fn swap(
        &self,
        name: &str,
        change: SwapRequest,
    ) -> Result<Arc<Deployment>, SwapError> {
        let _one_at_a_time = self.swapping.lock().await;
        let started = Instant::now();
        let current = self
            .get(name)
            .ok_or_else(|| SwapError::NotFound(name.to_owned()))?;
        let mut settings: DeploymentSettings = current.settings().clone();
        if let Some(plugin) = change.plugin {
            settings.plugin = plugin;
        }
        if let Some(model_dir) = change.model_dir {
            settings.model_dir = model_dir;
        }
        let plugin_mtime = mtime(&settings.plugin);
        let metrics = self.metrics.deployment(name);
        let collector = self.collector.clone();
        let next = Deployment::load_observed(&self.runtime, settings, metrics, collector)
            .await
            .inspect_err(|e| {
                current.metrics().swaps_refused.inc();
                self.recent.swapped(SwapRecord {
                    t: crate::recent::unix_ms(),
                    deployment: name.to_owned(),
                    outcome: "refused",
                    from: Some(current.digest().to_owned()),
                    to: None,
                    message: Some(format!("{e:#}")),
                    ms: started.elapsed().as_millis() as u64,
                });
            })
            .map_err(SwapError::Refused)?;
        current.metrics().swaps_ok.inc();
        let next = Arc::new(next);
        let previous = self.write().insert(
            name.to_owned(),
            Entry {
                deployment: next.clone(),
                plugin_mtime,
            },
        );
        self.recent.swapped(SwapRecord {
            t: crate::recent::unix_ms(),
            deployment: name.to_owned(),
            outcome: "ok",
            from: previous.as_ref().map(|p| p.deployment.digest().to_owned()),
            to: Some(next.digest().to_owned()),
            message: None,
            ms: started.elapsed().as_millis() as u64,
        });
        tracing::info!(
            deployment = name,
            from = previous.as_ref().map(|p| &p.deployment.digest()[..12]),
            to = &next.digest()[..12],
            ms = started.elapsed().as_millis() as u64,
            "swapped"
        );
        Ok(next)
    }

    /// Polls every deployment's plugin file every `interval` and swaps in a changed one
    /// (a different content hash). Stops when the registry is dropped.
    pub fn watch(self: &Arc<Self>, interval: Duration) {
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                for (name, plugin, seen, digest) in registry.snapshot() {
                    let now = mtime(&plugin);
                    if now == seen || now.is_none() {
                        continue;
                    }
                    let unchanged = std::fs::read(&plugin)
                        .map(|bytes| scorehost_runtime::digest(&bytes) == digest)
                        .unwrap_or(true);
                    if unchanged {
                        registry.remember_mtime(&name, now);
                        continue;
                    }
                    tracing::info!(deployment = %name, plugin = %plugin.display(), "plugin file changed");
                    match registry.swap(&name, SwapRequest::default()).await {
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(deployment = %name, "{e}");
                            // Do not retry the same file until it changes again.
                            registry.remember_mtime(&name, now);
                        }
                    }
                }
            }
        });
    }

    /// Name, plugin path, plugin mtime at load and digest of every deployment.
    fn snapshot(&self) -> Vec<(String, PathBuf, Option<SystemTime>, String)> {
        self.read()
            .iter()
            .map(|(name, e)| {
                (
                    name.clone(),
                    e.deployment.settings().plugin.clone(),
                    e.plugin_mtime,
                    e.deployment.digest().to_owned(),
                )
            })
            .collect()
    }

    fn remember_mtime(&self, name: &str, mtime: Option<SystemTime>) {
        if let Some(entry) = self.write().get_mut(name) {
            entry.plugin_mtime = mtime;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.deployments.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.deployments.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// A loaded deployment's status.
pub fn status_of(deployment: &Deployment) -> Status {
    if deployment.healthy_instances() > 0 {
        Status::Ready
    } else {
        Status::Unhealthy
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
