//! The tenants' event counters, kept by the resource writer.
//!
//! A counter row incremented in every write (`scimd_store::write::take_seqs`) would be correct:
//! SQLite has one writer, whose group-commit batch already holds the database's write lock from
//! `BEGIN IMMEDIATE` to `COMMIT`, so the order is given; what the row update would still cost is a
//! statement and a page per write. The writer takes numbers here instead, and writes each tenant's
//! counter once, just before the batch's `COMMIT`, in the same transaction as the events. What a
//! reader sees is unchanged: a committed counter and exactly the events at or below it.
//!
//! The numbers held between batches are trusted only while no other connection has committed:
//! `PRAGMA data_version` changes when one has (<https://www.sqlite.org/pragma.html#pragma_data_version>),
//! and then they are read again from the table (a second process writing the file, the sqlx
//! writer deleting a tenant). It is read after `BEGIN IMMEDIATE`, when no other connection can
//! commit until this batch has.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

/// The counters. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Heads {
    /// Each tenant's counter as this connection last committed or read it.
    committed: HashMap<String, i64>,
    /// Counters the open batch has taken numbers from, not yet written.
    open: HashMap<String, i64>,
    /// For the operation in progress: each counter it changed, with its value before, so that an
    /// operation rolled back to its savepoint gives its numbers back.
    undo: Vec<(String, Option<i64>)>,
    /// `PRAGMA data_version` when `committed` was last known to be right.
    data_version: Option<i64>,
}

impl Heads {
    /// A batch begins (inside its transaction): forgets what another connection may have changed.
    pub(crate) fn begin_batch(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if self.data_version != Some(version) {
            self.committed.clear();
            self.data_version = Some(version);
        }
        Ok(())
    }

    /// An operation begins in its savepoint.
    pub(crate) fn begin_op(&mut self) {
        self.undo.clear();
    }

    /// The operation was rolled back to its savepoint: its numbers are free again.
    pub(crate) fn rollback_op(&mut self) {
        for (tenant, before) in self.undo.drain(..).rev() {
            match before {
                Some(seq) => self.open.insert(tenant, seq),
                None => self.open.remove(&tenant),
            };
        }
    }

    /// Takes `count` numbers from `tenant`'s counter; returns the last.
    pub(crate) fn take(&mut self, conn: &Connection, tenant: &str, count: i64) -> rusqlite::Result<i64> {
        let current = match self.open.get(tenant).or_else(|| self.committed.get(tenant)) {
            Some(seq) => *seq,
            None => conn
                .prepare_cached("SELECT seq FROM event_heads WHERE tenant_id = ?1")?
                .query_row([tenant], |r| r.get(0))
                .optional()?
                .unwrap_or(0),
        };
        let before = self.open.insert(tenant.to_owned(), current + count);
        self.undo.push((tenant.to_owned(), before));
        Ok(current + count)
    }

    /// Writes the batch's counters: the last statements before its `COMMIT`.
    pub(crate) fn write(&self, conn: &Connection) -> rusqlite::Result<()> {
        if self.open.is_empty() {
            return Ok(());
        }
        let mut stmt = conn.prepare_cached(
            "INSERT INTO event_heads (tenant_id, seq) VALUES (?1, ?2) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq",
        )?;
        for (tenant, seq) in &self.open {
            stmt.execute(params![tenant, seq])?;
        }
        Ok(())
    }

    /// The batch committed: its counters are the committed ones.
    pub(crate) fn committed(&mut self) {
        self.committed.extend(self.open.drain());
        self.undo.clear();
    }

    /// The batch was rolled back, or the connection replaced: nothing held is trusted.
    pub(crate) fn abandoned(&mut self) {
        self.committed.clear();
        self.open.clear();
        self.undo.clear();
        self.data_version = None;
    }
}
