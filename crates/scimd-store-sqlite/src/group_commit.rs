//! Group commit: concurrent resource writes share one transaction and one fsync (issue 7).
//!
//! With `synchronous=FULL` every commit syncs the WAL to disk, and that sync, not the SQL, bounds
//! how many writes a second one writer connection can acknowledge. So writes that arrive while
//! another is running join an open *batch* transaction (`BEGIN IMMEDIATE` on the writer
//! connection), each inside its own `SAVEPOINT`, and the batch commits once for all of them:
//!
//! 1. [`GroupCommit::enter`] takes the batch lock (a FIFO lock), opens the batch transaction if none
//!    is open, and starts a savepoint for this operation. The operation runs its statements.
//! 2. [`Slot::finish`] releases the savepoint, or rolls back to it when the operation failed, so a
//!    uniqueness conflict in one request undoes that request's statements only; then it unlocks.
//! 3. [`Ticket::wait`] queues a commit step behind the lock. Because the lock is FIFO, the step runs
//!    after every operation that was already waiting, so they all land in this batch; the first
//!    step of the batch to run commits it and the others find it committed. Each request answers
//!    only after its batch's `COMMIT` returned: every acknowledged write is durable, exactly as
//!    with one transaction per write. A request whose operation failed waits too, since what it
//!    read (a conflicting row, a current version) may be another request's uncommitted write.
//!
//! If `COMMIT` fails, every request of the batch gets [`StoreError::Unavailable`] and nothing of
//! the batch is kept (sqlx rolls the transaction back), so no request is told "done" for a write
//! that is not on disk.
//!
//! Cancellation: a request's future can be dropped at any await (the client went away). The commit
//! step runs in a spawned task, so a batch is always committed (or rolled back) and the write lock
//! never stays taken. An operation dropped inside its savepoint leaves `abandoned` set; whoever
//! takes the lock next rolls back to that savepoint first, discarding exactly the abandoned work.
//!
//! Other writers (tenants, tokens, OAuth rows) keep using [`crate::SqliteStore::write_tx`]: the
//! batch holds the one writer connection only while a batch is open and returns it to the pool at
//! each commit, so the two kinds of writers queue on the same connection and never interleave.

use std::sync::Arc;

use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use scimd_store::{Result, StoreError};

use crate::map_err;

/// How a batch ended: `None` while it is open, then the commit's result (the error as text, since
/// every member of the batch gets a copy).
type Outcome = Option<std::result::Result<(), String>>;

/// The batching front of the writer connection for resource writes.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    batch: Arc<Mutex<Batch>>,
    pool: SqlitePool,
}

#[derive(Debug)]
struct Batch {
    /// The batch transaction, while one is open; it owns the writer connection.
    tx: Option<Transaction<'static, Sqlite>>,
    /// The number of the open batch (or of the next one, when none is open).
    epoch: u64,
    /// Tells the members of batch `epoch` how it ended.
    outcome: watch::Sender<Outcome>,
    /// An operation was dropped inside its savepoint (see the module docs).
    abandoned: bool,
}

/// The savepoint each operation runs in. One at a time, so one name does.
const SAVEPOINT: &str = "SAVEPOINT scimd_op";
const RELEASE: &str = "RELEASE scimd_op";
const ROLLBACK_TO: &str = "ROLLBACK TO scimd_op";

impl GroupCommit {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        let batch = Batch { tx: None, epoch: 0, outcome: watch::channel(None).0, abandoned: false };
        Self { batch: Arc::new(Mutex::new(batch)), pool }
    }

    /// Joins (or opens) the batch and starts this operation's savepoint.
    pub(crate) async fn enter(&self) -> Result<Slot> {
        let mut guard = self.batch.clone().lock_owned().await;
        guard.recover().await;
        if guard.tx.is_none() {
            // BEGIN IMMEDIATE, as `write_tx`: the write lock is taken up front, so no statement of
            // the batch can fail to upgrade a read lock.
            guard.tx = Some(self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?);
        }
        let Some(tx) = guard.tx.as_mut() else {
            return Err(StoreError::Internal("group commit: no open transaction".into()));
        };
        if let Err(e) = sqlx::query(SAVEPOINT).execute(&mut **tx).await {
            let e = map_err(e);
            guard.poison(&e);
            return Err(e);
        }
        guard.abandoned = true;
        Ok(Slot { guard: Some(guard), batch: self.batch.clone() })
    }
}

impl Batch {
    /// Undoes the statements of an operation that was dropped inside its savepoint.
    async fn recover(&mut self) {
        if !std::mem::take(&mut self.abandoned) {
            return;
        }
        let Some(tx) = self.tx.as_mut() else { return };
        let undone = async {
            sqlx::query(ROLLBACK_TO).execute(&mut **tx).await?;
            sqlx::query(RELEASE).execute(&mut **tx).await
        }
        .await;
        if let Err(e) = undone {
            self.poison(&map_err(e));
        }
    }

    /// Ends the open batch without committing (sqlx rolls the transaction back when it is
    /// dropped) and tells its members why.
    fn poison(&mut self, why: &StoreError) {
        tracing::error!(error = %why, "group commit: the batch transaction is rolled back");
        self.tx = None;
        self.close_epoch(Err(format!("the write batch was rolled back: {why}")));
    }

    fn close_epoch(&mut self, outcome: std::result::Result<(), String>) {
        self.outcome.send_replace(Some(outcome));
        self.outcome = watch::channel(None).0;
        self.epoch += 1;
    }
}

/// One operation's place in the open batch: holds the batch lock until [`Slot::finish`].
pub(crate) struct Slot {
    guard: Option<OwnedMutexGuard<Batch>>,
    batch: Arc<Mutex<Batch>>,
}

impl Slot {
    /// The writer connection, inside this operation's savepoint.
    pub(crate) fn conn(&mut self) -> Result<&mut SqliteConnection> {
        match self.guard.as_mut().and_then(|g| g.tx.as_mut()) {
            Some(tx) => Ok(&mut **tx),
            None => Err(StoreError::Internal("group commit: no open transaction".into())),
        }
    }

    /// Ends the savepoint: keeps the operation's statements when it succeeded, undoes them when it
    /// failed. Returns the ticket to wait on for the batch's commit.
    pub(crate) async fn finish(mut self, succeeded: bool) -> Result<Ticket> {
        let Some(mut guard) = self.guard.take() else {
            return Err(StoreError::Internal("group commit: slot finished twice".into()));
        };
        let ended = match guard.tx.as_mut() {
            Some(tx) if succeeded => sqlx::query(RELEASE).execute(&mut **tx).await.map(drop),
            Some(tx) => async {
                sqlx::query(ROLLBACK_TO).execute(&mut **tx).await?;
                sqlx::query(RELEASE).execute(&mut **tx).await
            }
            .await
            .map(drop),
            None => Ok(()),
        };
        guard.abandoned = false;
        let ticket =
            Ticket { epoch: guard.epoch, outcome: guard.outcome.subscribe(), batch: self.batch.clone() };
        if let Err(e) = ended {
            // A failed RELEASE or ROLLBACK TO means the transaction is not in the state the batch
            // believes (SQLite may have rolled it back itself, e.g. on SQLITE_FULL): end it.
            let e = map_err(e);
            guard.poison(&e);
            return Err(e);
        }
        Ok(ticket)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Dropped before `finish`: the request was cancelled mid-operation. `abandoned` is still
        // set; make sure someone rolls the savepoint back and commits the rest of the batch.
        if let Some(guard) = self.guard.take() {
            let epoch = guard.epoch;
            drop(guard);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(commit(self.batch.clone(), epoch));
            }
        }
    }
}

/// A claim on the outcome of one batch.
pub(crate) struct Ticket {
    epoch: u64,
    outcome: watch::Receiver<Outcome>,
    batch: Arc<Mutex<Batch>>,
}

impl Ticket {
    /// Waits until the batch is committed: `Ok` once it is durable, [`StoreError::Unavailable`]
    /// when the commit failed (nothing of the batch was kept).
    pub(crate) async fn wait(mut self) -> Result<()> {
        // Spawned, so the batch is committed even if this request is cancelled while it waits.
        tokio::spawn(commit(self.batch.clone(), self.epoch));
        let outcome = self
            .outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Unavailable("the write batch was abandoned".into()))?;
        match &*outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(StoreError::Unavailable(why.clone())),
            None => Err(StoreError::Internal("group commit: no outcome".into())),
        }
    }
}

/// Commits batch `epoch` unless another member's step already did.
async fn commit(batch: Arc<Mutex<Batch>>, epoch: u64) {
    let mut b = batch.lock_owned().await;
    if b.epoch != epoch {
        return;
    }
    b.recover().await;
    if b.epoch != epoch {
        return; // recover() found the transaction broken and ended the batch
    }
    let outcome = match b.tx.take() {
        Some(tx) => tx.commit().await.map_err(|e| {
            let e = map_err(e);
            tracing::error!(error = %e, "group commit: COMMIT failed; the batch is rolled back");
            e.to_string()
        }),
        None => Ok(()),
    };
    b.close_epoch(outcome);
}
