//! The storage error: what a backend can tell its caller, mapped to HTTP in one table in scimd-http.

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource, tenant or credential does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint was violated; the payload names the attribute (`userName`).
    #[error("{0} is already in use")]
    Conflict(String),
    /// `If-Match` named a version that is not the current one (RFC 7644 §3.14 → 412).
    #[error("version mismatch")]
    VersionMismatch,
    /// A protocol rule failed while the store ran a caller's update (PATCH, PUT validation), or
    /// the filter could not be compiled.
    #[error(transparent)]
    Scim(#[from] scimd_schema::ScimError),
    /// A read of the event log asked for events that retention has pruned (→ 410 Gone); the
    /// payload is the oldest seq still held.
    #[error("events up to {0} were pruned")]
    EventsPruned(u64),
    /// The database could not be reached or answered in time (→ 503, retryable).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database reported. Logged with the request id; never shown to clients.
    #[error("database error: {0}")]
    Internal(String),
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
