//! Resource writes: group commit on one rusqlite connection.
//!
//! With `synchronous=FULL` every commit syncs the WAL to disk, and that sync, not the SQL, bounds
//! how many writes a second one writer connection can acknowledge. So writes that arrive while
//! another batch is being committed share the next transaction, each inside its own `SAVEPOINT`,
//! and that transaction commits once for all of them:
//!
//! 1. [`Writer::write`] takes the writer lock (tokio's FIFO mutex), opens the batch transaction
//!    (`BEGIN IMMEDIATE`) if none is open, and runs the operation inside a savepoint. A failed
//!    operation is rolled back to its savepoint, so a uniqueness conflict in one request undoes
//!    that request's statements only. The operation runs its statements on the calling thread, with
//!    no await between `SAVEPOINT` and `RELEASE`: a request cancelled while it waits (the client
//!    went away) is either not started or finished, never half-applied.
//! 2. The request then queues a commit step behind the lock. The lock is FIFO, so the step runs
//!    after every operation that was already waiting, and they all land in this batch; the first
//!    step of the batch to run commits it (the fsync runs off the async workers) and the others
//!    find it committed. Each request answers only after its batch's `COMMIT` returned: every
//!    acknowledged write is durable, exactly as with one transaction per write. A request whose
//!    operation failed waits too, since what it read (a conflicting row, a current version) may be
//!    another request's uncommitted write.
//!
//! Event numbers: the batch takes them from its own counters and writes each tenant's once,
//! before `COMMIT` (`heads.rs`).
//!
//! If `COMMIT` fails, every request of the batch gets [`StoreError::Unavailable`] and the batch is
//! rolled back, so no request is told "done" for a write that is not on disk.
//!
//! A failed batch leaves the writer ready for the next one: SQLite may already have rolled the
//! transaction back itself (<https://www.sqlite.org/lang_transaction.html>: after `SQLITE_FULL`
//! or `SQLITE_IOERR` "the transaction may or may not be rolled back automatically"); if it has
//! not and `ROLLBACK` fails too, the connection is replaced by a fresh one before the next batch
//! begins. The outcome of the last batch is the writer's [`WriteHealth`], which `/readyz` reads.
//!
//! Why rusqlite and not sqlx: sqlx sends each statement to a connection's own thread and waits for
//! the answer; a create is five statements, a batch of 32 creates 160 thread hand-offs. Here an
//! operation costs what SQLite costs: tens of microseconds for a create or a one-member PATCH,
//! run on the async worker. An operation that would hold the worker for long (a PUT replacing
//! 100,000 members) says so before it writes anything, by returning [`DbError::Heavy`] when
//! [`Place::Inline`]; it is then run again where blocking is allowed. Unlike reads, writes cannot be
//! cut short by a progress handler: SQLite answers an interrupted write by rolling back the whole
//! transaction, which here is every operation of the batch.
//!
//! Other writers (tenants, tokens, OAuth rows) keep sqlx's writer connection (`pool.rs`). SQLite
//! serialises the two connections with its write lock; this one takes it without waiting when it
//! can, and waits for it only off the async workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use scimd_store::{Result, StoreError};

use crate::driver::{DbError, DbResult};
use crate::heads::Heads;
use crate::write_health::{WriteHealth, probe_sql};

/// Where an operation runs: see [`DbError::Heavy`] and the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// On an async worker: the operation must be short.
    Inline,
    /// Where blocking is allowed.
    Blocking,
}

impl Place {
    /// `Err(DbError::Heavy)` when `heavy` and the operation runs inline: call it before the
    /// operation's first write.
    pub(crate) fn check(self, heavy: bool) -> DbResult<()> {
        if heavy && self == Place::Inline { Err(DbError::Heavy) } else { Ok(()) }
    }
}

/// How long taking the write lock may wait for another connection (sqlx's writer, a `scimd`
/// command, a checkpoint) before 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How a batch ended: `None` while it is open, then the commit's result (the error as text, since
/// every member of the batch gets a copy).
type Outcome = Option<std::result::Result<(), String>>;

/// The resource writer. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// What an operation runs on: the connection, inside its savepoint, and the batch's event
/// counters. Derefs to the connection.
pub(crate) struct Batch<'a> {
    conn: &'a Connection,
    heads: &'a mut Heads,
}

impl Batch<'_> {
    /// Takes `count` numbers from the tenant's event counter; returns the last (see `heads.rs`).
    pub(crate) fn take_seqs(&mut self, tenant: &str, count: i64) -> rusqlite::Result<i64> {
        self.heads.take(self.conn, tenant, count)
    }
}

impl std::ops::Deref for Batch<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

struct State {
    conn: Connection,
    /// The tenants' event counters (`heads.rs`).
    heads: Heads,
    /// The database file, to open a fresh connection when this one is left unusable.
    path: PathBuf,
    /// How the last batch ended.
    health: WriteHealth,
    /// A batch transaction is open.
    open: bool,
    /// The number of the open batch (or of the next one, when none is open).
    epoch: u64,
    /// Tells the members of batch `epoch` how it ended.
    outcome: watch::Sender<Outcome>,
}

/// Runs `f` where blocking the thread is allowed: `block_in_place` on the multi-threaded runtime
/// (the server's), directly elsewhere (a single-threaded test runtime has no other worker to hand
/// its tasks to).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl Writer {
    /// The writer of the database file at `path` (created and migrated by the caller).
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = connect(path)?;
        let state = State {
            conn,
            heads: Heads::default(),
            path: path.to_owned(),
            health: WriteHealth::default(),
            open: false,
            epoch: 0,
            outcome: watch::channel(None).0,
        };
        Ok(Self { state: Arc::new(Mutex::new(state)) })
    }

    /// Readiness: after a failed batch, a probe write, committed as any write is, must reach the
    /// disk (`write_health.rs`).
    pub(crate) async fn probe(&self) -> Result<()> {
        if !self.state.lock().await.health.failing() {
            return Ok(());
        }
        self.write(|c, _| {
            let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            Ok(c.execute_batch(&probe_sql(version))?)
        })
        .await
    }

    /// Runs `op` in its own savepoint of the open batch and answers once the batch is on disk.
    /// `op` may run twice (see the module docs): it must not have effects outside the database.
    pub(crate) async fn write<T>(
        &self,
        mut op: impl FnMut(&mut Batch<'_>, Place) -> DbResult<T>,
    ) -> Result<T> {
        let mut state = self.state.clone().lock_owned().await;
        state.begin()?;
        // Before the operation runs: if it ends the batch (a failed RELEASE), this is the outcome
        // that tells it so.
        let epoch = state.epoch;
        let mut outcome = state.outcome.subscribe();
        let result = state.run(&mut op);
        drop(state);
        // Spawned, so the batch is committed even if this request is cancelled while it waits.
        tokio::spawn(commit(self.state.clone(), epoch));
        let outcome = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Unavailable("the write batch was abandoned".into()))?;
        match &*outcome {
            Some(Ok(())) => result,
            Some(Err(why)) => Err(StoreError::Unavailable(why.clone())),
            None => Err(StoreError::Internal("group commit: no outcome".into())),
        }
    }

    /// Waits for the batch in progress, if any, to be committed (for a clean close).
    pub(crate) async fn flush(&self) {
        let epoch = self.state.lock().await.epoch;
        commit(self.state.clone(), epoch).await;
    }
}

/// The writer's connection to the database file at `path`.
fn connect(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(DbError::into_store_err)?;
    // As sqlx's writer (`pool.rs`), and for the same reasons: referential integrity, FULL
    // durability, savepoint journals in memory.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;")
        .map_err(DbError::into_store_err)?;
    // No waiting on the async workers: `begin` waits for the lock off them (see the module docs).
    conn.busy_timeout(Duration::ZERO).map_err(DbError::into_store_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl State {
    /// Opens the batch transaction if none is open. `BEGIN IMMEDIATE` takes the write lock up
    /// front, so no statement of the batch can fail to upgrade a read lock.
    fn begin(&mut self) -> Result<()> {
        if self.open {
            return Ok(());
        }
        // A failed batch whose ROLLBACK failed too left the connection inside its transaction.
        if !self.conn.is_autocommit() {
            self.replace_connection()?;
        }
        let begun = self.begin_immediate();
        if begun.is_err() {
            self.health.failed();
        }
        begun
    }

    fn begin_immediate(&mut self) -> Result<()> {
        match self.conn.execute_batch("BEGIN IMMEDIATE").map_err(DbError::from) {
            Ok(()) => {}
            // Another connection holds the write lock: wait for it where blocking is allowed.
            Err(e) if e.is(ErrorCode::DatabaseBusy) => blocking(|| {
                self.conn.busy_timeout(BUSY_TIMEOUT)?;
                let begun = self.conn.execute_batch("BEGIN IMMEDIATE");
                self.conn.busy_timeout(Duration::ZERO)?;
                begun
            })
            .map_err(DbError::into_store_err)?,
            Err(e) => return Err(e.into_store()),
        }
        self.open = true;
        if let Err(e) = self.heads.begin_batch(&self.conn) {
            // Then nothing held is trusted, and counters are read from the table: slower, as correct.
            tracing::warn!(error = %e, "group commit: PRAGMA data_version failed");
            self.heads.abandoned();
        }
        Ok(())
    }

    /// Runs one operation in a savepoint: inline, and again where blocking is allowed if it says
    /// it is heavy.
    fn run<T>(&mut self, op: &mut impl FnMut(&mut Batch<'_>, Place) -> DbResult<T>) -> Result<T> {
        match self.savepoint(op, Place::Inline) {
            Err(DbError::Heavy) => {
                blocking(|| self.savepoint(op, Place::Blocking)).map_err(DbError::into_store)
            }
            done => done.map_err(DbError::into_store),
        }
    }

    fn savepoint<T>(
        &mut self,
        op: &mut impl FnMut(&mut Batch<'_>, Place) -> DbResult<T>,
        place: Place,
    ) -> DbResult<T> {
        self.conn.execute_batch("SAVEPOINT scimd_op")?;
        self.heads.begin_op();
        let result = op(&mut Batch { conn: &self.conn, heads: &mut self.heads }, place);
        if result.is_err() {
            self.heads.rollback_op();
        }
        // RELEASE keeps the operation's statements; ROLLBACK TO undoes them and leaves the
        // savepoint open, so it is released after.
        let ended = match &result {
            Ok(_) => self.conn.execute_batch("RELEASE scimd_op"),
            Err(_) => self.conn.execute_batch("ROLLBACK TO scimd_op; RELEASE scimd_op"),
        };
        if let Err(e) = ended {
            // The transaction is not in the state the batch believes (SQLite may have rolled it
            // back itself, e.g. on SQLITE_FULL): end it, and tell the batch's members.
            let e = DbError::from(e);
            self.poison(&e.to_string());
            return Err(e);
        }
        result
    }

    /// Ends the open batch without committing, and tells its members why.
    fn poison(&mut self, why: &str) {
        tracing::error!(error = %why, "group commit: the batch transaction is rolled back");
        self.health.failed();
        self.heads.abandoned();
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            // The connection is left inside the transaction: the next batch replaces it
            // (`begin`); trying now spares that batch the wait.
            tracing::error!(error = %e, "group commit: ROLLBACK failed");
            let _ = self.replace_connection();
        }
        self.close_epoch(Err(format!("the write batch was rolled back: {why}")));
    }

    /// Closes a connection left inside a transaction and opens a fresh one (closing it ends
    /// the transaction: SQLite rolls back what was not committed). If the file cannot be
    /// opened now, the old connection stays and the next batch tries again.
    fn replace_connection(&mut self) -> Result<()> {
        let fresh = connect(&self.path).inspect_err(|_| self.health.failed())?;
        tracing::warn!("group commit: the writer connection was left inside a transaction; it is replaced");
        drop(std::mem::replace(&mut self.conn, fresh));
        self.heads.abandoned();
        Ok(())
    }

    fn close_epoch(&mut self, outcome: std::result::Result<(), String>) {
        self.open = false;
        self.outcome.send_replace(Some(outcome));
        self.epoch += 1;
        self.outcome = watch::channel(None).0;
    }
}

/// Commits batch `epoch` unless another member's step already did.
async fn commit(state: Arc<Mutex<State>>, epoch: u64) {
    let mut s: OwnedMutexGuard<State> = state.lock_owned().await;
    if s.epoch != epoch || !s.open {
        return;
    }
    // The batch's event counters, then the fsync: milliseconds, off the async workers.
    let State { conn, heads, .. } = &mut *s;
    match blocking(|| heads.write(conn).and_then(|()| conn.execute_batch("COMMIT"))) {
        Ok(()) => {
            s.heads.committed();
            s.health.succeeded();
            s.close_epoch(Ok(()));
        }
        Err(e) => {
            let e = DbError::from(e);
            tracing::error!(error = %e, "group commit: COMMIT failed; the batch is rolled back");
            s.poison(&e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::OptionalExtension;

    use super::*;

    fn database() -> (tempfile::TempDir, Writer, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER UNIQUE);").unwrap();
        let writer = Writer::open(&path).unwrap();
        (dir, writer, path)
    }

    fn count(path: &Path) -> i64 {
        Connection::open(path).unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_heavy_operation_is_undone_and_run_off_the_worker() {
        let (_dir, writer, path) = database();
        let main = std::thread::current().id();
        let places = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = places.clone();
        let n = writer
            .write(move |c, place| {
                seen.lock().unwrap().push(place);
                // A write before the check is undone with the savepoint when the check fails.
                c.execute("INSERT INTO t VALUES (-1)", [])?;
                place.check(true)?;
                Ok(c.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
                     INSERT INTO t SELECT i FROM n",
                    [],
                )?)
            })
            .await
            .unwrap();
        assert_eq!(n, 50_000);
        assert_eq!(*places.lock().unwrap(), [Place::Inline, Place::Blocking]);
        assert_eq!(count(&path), 50_001, "the first attempt's insert was undone, the second's kept");
        // The light path stays on the calling thread.
        let thread = writer.write(|_, _| Ok(std::thread::current().id())).await.unwrap();
        assert_eq!(thread, main);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_batches_and_a_failure_undoes_only_its_own() {
        let (_dir, writer, path) = database();
        // Values 1000..1008 exist before the writes, so which writes fail does not depend on the
        // order the tasks run in.
        Connection::open(&path)
            .unwrap()
            .execute_batch("WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < 1007) INSERT INTO t SELECT i FROM n")
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..64_i64 {
            let w = writer.clone();
            // Every eighth write inserts a value of its own, then an existing one, and fails.
            tasks.push(tokio::spawn(async move {
                w.write(move |c, _| {
                    if i % 8 == 7 {
                        c.execute("INSERT INTO t VALUES (?1)", [i + 2000])?;
                        c.execute("INSERT INTO t VALUES (?1)", [1000 + i / 8])?;
                    } else {
                        c.execute("INSERT INTO t VALUES (?1)", [i])?;
                    }
                    Ok(())
                })
                .await
            }));
        }
        let mut failed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => {}
                Err(StoreError::Conflict(col)) => {
                    assert_eq!(col, "x");
                    failed += 1;
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(failed, 8);
        assert_eq!(count(&path), 8 + 56, "each failed write's first insert was undone with it");
        let strays: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t WHERE x >= 2000", [], |r| r.get(0))
            .unwrap();
        assert_eq!(strays, 0);
    }

    fn with_heads(path: &Path) {
        Connection::open(path)
            .unwrap()
            .execute_batch("CREATE TABLE event_heads (tenant_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, pruned INTEGER NOT NULL DEFAULT 0)")
            .unwrap();
    }

    fn head(path: &Path, tenant: &str) -> Option<i64> {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT seq FROM event_heads WHERE tenant_id = ?1", [tenant], |r| r.get(0))
            .optional()
            .unwrap()
    }

    /// Numbers taken by an operation that fails are given back with its savepoint: the committed
    /// numbers of concurrent writes, sharing batches, are 1..=n with no hole, and the counter row
    /// written before each COMMIT says n.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn event_numbers_of_failed_operations_are_given_back() {
        let (_dir, writer, path) = database();
        with_heads(&path);
        let mut tasks = Vec::new();
        for i in 0..64_i64 {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                w.write(move |b, _| {
                    let count = 1 + i % 3;
                    let last = b.take_seqs("acme", count)?;
                    // Every fifth write fails after taking its numbers.
                    if i % 5 == 4 {
                        b.execute_batch("INSERT INTO t VALUES (NULL); INSERT INTO no_such_table VALUES (1)")?;
                    }
                    for seq in last - count + 1..=last {
                        b.execute("INSERT INTO t VALUES (?1)", [seq])?;
                    }
                    Ok(count)
                })
                .await
            }));
        }
        let mut taken = 0;
        for t in tasks {
            if let Ok(count) = t.await.unwrap() {
                taken += count;
            }
        }
        let conn = Connection::open(&path).unwrap();
        let mut seqs: Vec<i64> = conn
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        seqs.dedup();
        assert_eq!(seqs, (1..=taken).collect::<Vec<_>>());
        assert_eq!(head(&path, "acme"), Some(taken));
    }

    /// A counter another connection changed between batches is read again, not overwritten.
    #[tokio::test]
    async fn event_numbers_follow_a_counter_another_connection_committed() {
        let (_dir, writer, path) = database();
        with_heads(&path);
        assert_eq!(writer.write(|b, _| Ok(b.take_seqs("acme", 2)?)).await.unwrap(), 2);
        assert_eq!(writer.write(|b, _| Ok(b.take_seqs("acme", 1)?)).await.unwrap(), 3);
        Connection::open(&path).unwrap().execute("UPDATE event_heads SET seq = 10", []).unwrap();
        assert_eq!(writer.write(|b, _| Ok(b.take_seqs("acme", 1)?)).await.unwrap(), 11);
        assert_eq!(head(&path, "acme"), Some(11));
        // A batch rolled back behind the writer's back forgets what it took.
        let err = writer
            .write(|b, _| {
                b.take_seqs("acme", 5)?;
                Ok(b.execute_batch("ROLLBACK")?)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(writer.write(|b, _| Ok(b.take_seqs("acme", 1)?)).await.unwrap(), 12);
        assert_eq!(head(&path, "acme"), Some(12));
    }

    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_replaced_before_the_next_batch() {
        let (_dir, writer, path) = database();
        // As a failed batch whose ROLLBACK failed too leaves it.
        writer.state.lock().await.conn.execute_batch("BEGIN").unwrap();
        writer.write(|c, _| Ok(c.execute("INSERT INTO t VALUES (1)", [])?)).await.unwrap();
        assert_eq!(count(&path), 1);
        assert!(!writer.state.lock().await.health.failing());
    }

    #[tokio::test]
    async fn a_batch_ended_behind_the_writers_back_fails_alone_and_the_next_one_commits() {
        let (_dir, writer, path) = database();
        // SQLite rolls the transaction back itself on some I/O errors; this does the same.
        let err = writer.write(|c, _| Ok(c.execute_batch("ROLLBACK")?)).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(writer.state.lock().await.health.failing(), "the failed batch is remembered");
        writer.probe().await.unwrap();
        assert!(!writer.state.lock().await.health.failing(), "the probe committed");
        writer.write(|c, _| Ok(c.execute("INSERT INTO t VALUES (2)", [])?)).await.unwrap();
        assert_eq!(count(&path), 1);
    }

    #[tokio::test]
    async fn a_write_waits_for_another_connection_holding_the_lock() {
        let (_dir, writer, path) = database();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);").unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            other.execute_batch("COMMIT").unwrap();
        });
        writer.write(|c, _| Ok(c.execute("INSERT INTO t VALUES (2)", [])?)).await.unwrap();
        releaser.join().unwrap();
        assert_eq!(count(&path), 2);
    }
}
