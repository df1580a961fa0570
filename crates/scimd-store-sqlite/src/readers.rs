//! Reads on the request path, through SQLite's C API (rusqlite) on the calling thread.
//!
//! Why not sqlx here: sqlx runs each SQLite connection on a worker thread of its own and sends
//! every statement, and every row, across a channel to it (launchbadge/sqlx#1175). Under
//! `GET /Users/{id}` those hand-offs, not SQLite, were the cost: perf put 48 % of the server's
//! samples in futex and scheduler code against 7 % in `sqlite3_step`, and a GET cost 167 µs of CPU
//! against 11 µs for `/healthz`. A point read from SQLite's page cache takes microseconds, less
//! than one thread wake-up.
//!
//! So a read runs where the request runs, on a pooled connection, under a budget: a progress
//! handler interrupts any statement after [`BUDGET_STEPS`] virtual-machine steps (well under a
//! millisecond), and the read then runs again from the start on tokio's blocking pool, without the
//! budget. Point reads, indexed filters and pages finish inline; a filter that scans a tenant
//! (`title co "x"` over a million users) leaves the async workers after its first millisecond, so
//! it never stalls the requests sharing its thread. Reads never write, so running one again is
//! safe: it starts over on a fresh snapshot.
//!
//! What the budget cannot bound is the disk: a page the OS has not cached blocks the thread for
//! one read of the file. That is the trade every embedded database makes; with the working set in
//! memory (10,000 users are a few megabytes) it does not arise.
//!
//! Writes stay on the one sqlx writer connection (`pool.rs`); these connections are `query_only`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use scimd_store::{Result, StoreError};

use crate::driver::{DbError, DbResult};

/// Virtual-machine steps a statement may take on an async worker before it is moved to the
/// blocking pool. SQLite runs some 100–300 million steps a second here, so this is a fraction
/// of a millisecond; a page of 100 users with their groups takes about 20,000.
const BUDGET_STEPS: i32 = 100_000;

/// Reads over budget that may run at once on the blocking pool: each holds a connection and a
/// thread, so a burst of expensive filters queues here instead of opening hundreds of both.
const SLOW_READS: usize = 4;

/// Idle connections kept for reuse. Inline reads never await, so at most one per async worker is
/// busy at a time, plus [`SLOW_READS`].
const MAX_IDLE: usize = 16;

/// As the writer's (`pool.rs`): how long a statement waits for a lock (a checkpoint) before
/// `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (SQLite's default is 2 MiB). The interior pages of the
/// tables and indexes a request path walks fit many times over; the leaves a random GET lands on
/// would not fit in 2 MiB either once a tenant has more than a few thousand users, so they come
/// from the OS's cache either way. With a connection per async worker and per slow read, the
/// default grew the heap by 10 MiB under load (measured with heaptrack).
const CACHE_KIB: i64 = 1024;

/// Prepared statements kept per connection; the request path uses a dozen shapes, and filters
/// compile to the same text for the same shape (literals are bound, never spliced).
const STATEMENT_CACHE: usize = 128;

/// One pooled connection and the switch of its progress handler.
struct Reader {
    conn: Connection,
    /// While set, the progress handler interrupts the running statement.
    budgeted: Arc<AtomicBool>,
}

/// The pool of read connections. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Readers {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    slow: Semaphore,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl Readers {
    /// Readers of the database file at `path`. Opens one connection now, so a file that cannot
    /// be read fails at start rather than on the first request.
    pub(crate) fn open(path: PathBuf) -> Result<Self> {
        let readers = Self {
            inner: Arc::new(Inner { path, idle: Mutex::new(Vec::new()), slow: Semaphore::new(SLOW_READS) }),
        };
        let first = readers.connect().map_err(DbError::into_store)?;
        readers.put_back(first);
        Ok(readers)
    }

    fn connect(&self) -> DbResult<Reader> {
        // NO_MUTEX: a connection is used by one thread at a time (it is taken out of the pool), so
        // SQLite's own per-connection mutex is redundant.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.inner.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // `query_only` rather than a read-only open, as for sqlx's readers (`pool.rs`): a read-only
        // connection cannot create the WAL index when it is the first to open the file.
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        let budgeted = Arc::new(AtomicBool::new(false));
        let flag = budgeted.clone();
        conn.progress_handler(BUDGET_STEPS, Some(move || flag.load(Ordering::Relaxed)));
        Ok(Reader { conn, budgeted })
    }

    fn take(&self) -> DbResult<Reader> {
        let idle = self.inner.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(reader) => Ok(reader),
            None => self.connect(),
        }
    }

    fn put_back(&self, reader: Reader) {
        if let Ok(mut idle) = self.inner.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(reader);
        }
    }

    /// Runs `read` on a pooled connection: inline under the budget, and again on the blocking pool
    /// if it goes over (see the module docs). `read` may run twice, so it must not have effects
    /// outside the database.
    pub(crate) async fn read<T, F>(&self, read: F) -> Result<T>
    where
        F: Fn(&Connection) -> DbResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let reader = self.take().map_err(DbError::into_store)?;
        reader.budgeted.store(true, Ordering::Relaxed);
        let inline = read(&reader.conn);
        reader.budgeted.store(false, Ordering::Relaxed);
        match inline {
            Err(e) if e.over_budget() => {}
            done => {
                self.put_back(reader);
                return done.map_err(DbError::into_store);
            }
        }
        let _permit = self
            .inner
            .slow
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
        let pool = self.clone();
        let slow = tokio::task::spawn_blocking(move || {
            let result = read(&reader.conn);
            pool.put_back(reader);
            result
        });
        match slow.await {
            Ok(result) => result.map_err(DbError::into_store),
            Err(e) => Err(StoreError::Internal(format!("a read on the blocking pool failed: {e}"))),
        }
    }

    /// Closes the idle connections (those in use close when their read ends).
    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.inner.idle.lock() {
            idle.clear();
        }
        self.inner.slow.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
             INSERT INTO t SELECT i FROM n;",
        )
        .unwrap();
        (dir, path)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cheap_read_runs_inline_and_an_expensive_one_finishes_off_the_worker() {
        let (_dir, path) = database();
        let readers = Readers::open(path).unwrap();
        let main = std::thread::current().id();
        let (n, thread) = readers
            .read(|c| {
                Ok((
                    c.query_row("SELECT x FROM t WHERE rowid = 7", [], |r| r.get::<_, i64>(0))?,
                    std::thread::current().id(),
                ))
            })
            .await
            .unwrap();
        assert_eq!(n, 7);
        assert_eq!(thread, main, "a point read runs on the calling thread");

        // A cross join of 50,000 × 50 rows is millions of steps: interrupted inline, then finished.
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = attempts.clone();
        let (sum, thread) = readers
            .read(move |c| {
                seen.fetch_add(1, Ordering::Relaxed);
                let sum = c.query_row("SELECT sum(a.x) FROM t a, (SELECT x FROM t LIMIT 50) b", [], |r| {
                    r.get::<_, i64>(0)
                })?;
                Ok((sum, std::thread::current().id()))
            })
            .await
            .unwrap();
        assert_eq!(sum, 50 * (50_000 * 50_001 / 2));
        assert_eq!(attempts.load(Ordering::Relaxed), 2, "over budget once, then run to the end");
        assert_ne!(thread, main, "the second run is on the blocking pool");
    }

    #[tokio::test]
    async fn readers_cannot_write_and_errors_map() {
        let (_dir, path) = database();
        let readers = Readers::open(path).unwrap();
        let err = readers.read(|c| Ok(c.execute("DELETE FROM t", [])?)).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_) | StoreError::Internal(_)), "{err:?}");
        let err = readers.read(|c| Ok(c.execute("SELECT * FROM missing", [])?)).await.unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        let n: i64 =
            readers.read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(n, 50_000, "nothing was deleted");
    }

    #[test]
    fn a_missing_file_fails_at_open() {
        let err = Readers::open(PathBuf::from("/nonexistent-dir-scimd/x.db")).err().unwrap();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}
