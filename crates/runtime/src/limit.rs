//! Why the host stops a guest call: the error a limit's trap carries.

/// Why the host stopped a guest call: carried as the error of the trap so the caller can tell
/// a limit from a bug in the guest.
#[derive(Debug, thiserror::Error)]
pub enum LimitHit {
    /// The call ran past its deadline.
    #[error("the call ran past its deadline")]
    Timeout,
    /// The guest tried to grow its linear memory past the limit.
    #[error("linear memory would grow to {desired} bytes, over the {limit}-byte limit")]
    Memory {
        /// Size the guest asked for.
        desired: usize,
        /// The deployment's limit.
        limit: usize,
    },
    /// The guest tried to grow its memory or a table while the host-wide budget was full.
    #[error(
        "growing to {desired} bytes would pass the host's memory budget of {limit} bytes \
         (max_host_memory_mib)"
    )]
    HostMemory {
        /// Size the guest asked for.
        desired: usize,
        /// The host-wide budget.
        limit: usize,
    },
    /// The guest holds as many `wasi:nn` resources as one instance may.
    #[error("the instance holds {held} wasi-nn handles, the most one may")]
    Handles {
        /// Handles held.
        held: usize,
    },
}
