//! Whether a writer's writes reach the disk, for `/readyz`.
//!
//! A disk that fills up (or fails) does not stop SQLite from answering reads, so a `SELECT 1` says
//! "ready" while every write fails. Each writer (sqlx's writer connection, the group-commit
//! connection of `writer.rs`, the provisioning log's) therefore remembers how its last write
//! ended. While the last one failed, readiness runs a probe write on that writer
//! ([`probe_sql`]): the server is ready again as soon as a write, the probe or a client's, reaches
//! the disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The last write's outcome on one writer. Cheap to clone; clones share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteHealth(Arc<AtomicBool>);

impl WriteHealth {
    /// A write (or a transaction's end) failed.
    pub(crate) fn failed(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// A write committed.
    pub(crate) fn succeeded(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// Whether the last write failed.
    pub(crate) fn failing(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Records `result`'s outcome and hands it back.
    pub(crate) fn record<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        match &result {
            Ok(_) => self.succeeded(),
            Err(_) => self.failed(),
        }
        result
    }
}

/// A write that changes nothing but must reach the disk: `user_version` (a header field of the
/// database file no migration uses, <https://www.sqlite.org/pragma.html#pragma_user_version>) set
/// to the value it has. Writing it dirties page 1, so the commit appends a WAL frame and syncs it,
/// as any real write does.
pub(crate) fn probe_sql(user_version: i64) -> String {
    format!("PRAGMA user_version = {user_version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_outcome() {
        let h = WriteHealth::default();
        assert!(!h.failing());
        assert!(h.record::<(), ()>(Err(())).is_err());
        assert!(h.clone().failing(), "clones share the outcome");
        h.succeeded();
        assert!(!h.failing());
    }
}
