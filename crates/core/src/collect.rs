//! Data collection ("collect data from models in production"): the inputs and outputs of
//! scored requests of opted-in deployments, as JSON Lines with the request id, one folder per
//! deployment, rotated by size with a cap on the number of files.
//!
//! The request path never waits for the disk: a record goes into a bounded channel with
//! `try_send`; a writer thread drains it. When the channel is full the record is dropped and
//! counted (`scorehost_collect_dropped_total`), so a slow disk costs data, never latency.
//!
//! Crash safety: each record is one `write` of a whole line. A process killed mid-write (or a
//! disk that filled up mid-line) can leave a partial last line; when the writer opens a file
//! it cuts such a line off, so every line of every file is a whole JSON record. A write that
//! fails (full disk, file size limit) is undone the same way, the record is counted as
//! dropped, and serving goes on.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

/// What is collected, and where.
#[derive(Debug, Clone)]
pub struct CollectSettings {
    /// Root folder; each deployment writes `DIR/NAME/data.jsonl` (+ `.1`, `.2`… when rotated).
    pub dir: PathBuf,
    /// Deployments that opted in, with their mode. Default: none (collection off).
    pub deployments: BTreeMap<String, CollectMode>,
    /// A file is rotated when it would grow past this. Default: 64 MiB.
    pub max_file_bytes: u64,
    /// Rotated files kept per deployment (older ones are deleted). Default: 4.
    pub max_files: usize,
    /// Records that may wait for the writer; more are dropped. Default: 4096.
    pub queue: usize,
}

impl CollectSettings {
    /// Collection into `dir` for no deployment yet, with the default limits.
    pub fn new(dir: PathBuf) -> CollectSettings {
        CollectSettings {
            dir,
            deployments: BTreeMap::new(),
            max_file_bytes: 64 << 20,
            max_files: 4,
            queue: 4096,
        }
    }
}

/// How much of a request is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectMode {
    /// Inputs and outputs as sent.
    Full,
    /// Inputs and outputs with every value replaced by a placeholder of its type (the
    /// Swagger `samples = "redact"` rule): shapes and types for drift checks, no data.
    Redact,
}

/// One scored request.
struct Record {
    deployment: String,
    line: String,
}

/// The sending side, held by the server.
#[derive(Debug)]
pub struct Collector {
    modes: BTreeMap<String, CollectMode>,
    records: mpsc::Sender<Record>,
    dropped: Counter,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.deployment)
    }
}

impl Collector {
    /// Starts the writer thread; `dropped` counts records refused because the queue was full.
    pub fn start(settings: CollectSettings, dropped: Counter) -> std::io::Result<Collector> {
        std::fs::create_dir_all(&settings.dir)?;
        let (records, mut queue) = mpsc::channel::<Record>(settings.queue.max(1));
        let mut writer = Writer {
            dir: settings.dir,
            max_file_bytes: settings.max_file_bytes,
            max_files: settings.max_files,
            open: BTreeMap::new(),
        };
        let write_dropped = dropped.clone();
        std::thread::Builder::new()
            .name("scorehost-collect".into())
            .spawn(move || {
                // Warn once per run of failures, not once per record of a full disk.
                let mut failing = false;
                while let Some(record) = queue.blocking_recv() {
                    match writer.write(&record) {
                        Ok(()) => {
                            if failing {
                                tracing::info!("data collection: writing again");
                            }
                            failing = false;
                        }
                        Err(e) => {
                            write_dropped.inc();
                            if !failing {
                                tracing::warn!(
                                    deployment = %record.deployment,
                                    "data collection: dropping records that cannot be written: {e}"
                                );
                            }
                            failing = true;
                        }
                    }
                }
            })?;
        Ok(Collector {
            modes: settings.deployments,
            records,
            dropped,
        })
    }

    /// Queues one request's input body and output; never waits. Does nothing for a deployment
    /// that did not opt in.
    pub fn record(&self, deployment: &str, request_id: &str, input: &[u8], output: &str) {
        let Some(mode) = self.modes.get(deployment) else {
            return;
        };
        let as_json = |bytes: &[u8]| -> serde_json::Value {
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(v) if *mode == CollectMode::Redact => scorehost_schema::redacted(&v),
                Ok(v) => v,
                // Not JSON (a GET's query made into a body is JSON; this is defensive).
                Err(_) => serde_json::Value::Null,
            }
        };
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let line = serde_json::json!({
            "time": time,
            "request_id": request_id,
            "deployment": deployment,
            "input": as_json(input),
            "output": as_json(output.as_bytes()),
        })
        .to_string();
        let record = Record {
            deployment: deployment.to_owned(),
            line,
        };
        if self.records.try_send(record).is_err() {
            self.dropped.inc();
        }
    }
}

/// The writer thread's state: an open file per deployment and its size.
struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    max_files: usize,
    open: BTreeMap<String, (File, u64)>,
}

impl Writer {
    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let folder = self.dir.join(&record.deployment);
        let path = folder.join("data.jsonl");
        let len = record.line.len() as u64 + 1;
        if let Some((_, size)) = self.open.get(&record.deployment)
            && *size > 0
            && size + len > self.max_file_bytes
        {
            self.open.remove(&record.deployment);
            rotate(&path, self.max_files)?;
        }
        let (file, size) = match self.open.entry(record.deployment.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                std::fs::create_dir_all(&folder)?;
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .read(true)
                    .open(&path)?;
                let size = cut_partial_line(&mut file)?;
                e.insert((file, size))
            }
        };
        let mut line = Vec::with_capacity(record.line.len() + 1);
        line.extend_from_slice(record.line.as_bytes());
        line.push(b'\n');
        if let Err(e) = file.write_all(&line) {
            // Part of the line may be on disk: cut it off so the next record starts a line.
            // If even that fails, reopen (and repair) the file next time.
            if file.set_len(*size).is_err() {
                self.open.remove(&record.deployment);
            }
            return Err(e);
        }
        *size += len;
        Ok(())
    }
}

/// Cuts a partial last line (no final newline: the process died or the disk filled up
/// mid-write) off a collection file; returns the file's length after.
fn cut_partial_line(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // Scan back from the end, a block at a time, for the last newline.
    let mut end = len;
    let mut block = vec![0u8; 64 << 10];
    loop {
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if end == len && chunk.last() == Some(&b'\n') {
            return Ok(len);
        }
        if let Some(at) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + at as u64 + 1;
            tracing::warn!(
                bytes = len - keep,
                "data collection: cutting off a partial last line (an interrupted write)"
            );
            file.set_len(keep)?;
            return Ok(keep);
        }
        if start == 0 {
            tracing::warn!(
                bytes = len,
                "data collection: cutting off a partial line (an interrupted write)"
            );
            file.set_len(0)?;
            return Ok(0);
        }
        end = start;
    }
}

/// `data.jsonl` → `data.jsonl.1` → … → `data.jsonl.N`; the oldest beyond `keep` is deleted.
fn rotate(path: &Path, keep: usize) -> std::io::Result<()> {
    let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(keep));
    for n in (1..keep).rev() {
        if numbered(n).exists() {
            std::fs::rename(numbered(n), numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}
