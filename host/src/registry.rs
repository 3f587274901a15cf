//! The deployments a host serves, and swapping one for a new version without failing a request.
//!
//! A request takes an `Arc` of its deployment when it starts and keeps it to the end. A swap
//! loads the new version beside the old one (compiles it, starts and `init`s its whole pool),
//! then replaces the map entry in one step: new requests see the new version at once, requests
//! under way finish on the old one, and the old one is dropped with its last `Arc`. A version
//! that fails to load is refused and the old one keeps serving.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use crate::config::DeploymentSettings;
use crate::deployment::Deployment;
use crate::runtime::Runtime;

/// Every deployment of this host, by name.
pub struct Registry {
    runtime: Arc<Runtime>,
    deployments: RwLock<BTreeMap<String, Entry>>,
    /// One swap at a time, so two swaps of one deployment cannot interleave.
    swapping: tokio::sync::Mutex<()>,
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
    /// Loads every deployment; any failure fails the whole host (it cannot become ready).
    pub async fn load(
        runtime: Arc<Runtime>,
        settings: Vec<DeploymentSettings>,
    ) -> anyhow::Result<Arc<Registry>> {
        let mut deployments = BTreeMap::new();
        for s in settings {
            let name = s.name.clone();
            let plugin_mtime = mtime(&s.plugin);
            let deployment = Deployment::load(&runtime, s)
                .await
                .with_context(|| format!("deployment '{name}'"))?;
            deployments.insert(
                name,
                Entry {
                    deployment: Arc::new(deployment),
                    plugin_mtime,
                },
            );
        }
        Ok(Arc::new(Registry {
            runtime,
            deployments: RwLock::new(deployments),
            swapping: tokio::sync::Mutex::new(()),
        }))
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
        let next = Deployment::load(&self.runtime, settings)
            .await
            .map_err(SwapError::Refused)?;
        let next = Arc::new(next);
        let previous = self.write().insert(
            name.to_owned(),
            Entry {
                deployment: next.clone(),
                plugin_mtime,
            },
        );
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
                        .map(|bytes| crate::runtime::digest(&bytes) == digest)
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

fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
