//! Opening the database: sqlx's writer connection, a pool of readers, the request path's
//! connections, and the pragmas that make SQLite a server database.
//!
//! SQLite allows one writer at a time. Rather than let several pooled connections race for the
//! write lock (and fail with `SQLITE_BUSY` when a deferred transaction tries to upgrade its read
//! lock), every administrative write goes through the single connection of sqlx's writer pool, in
//! a transaction opened with `BEGIN IMMEDIATE`, which takes the write lock up front; resource
//! writes have a second writer connection of their own (`writer.rs`), and SQLite's write lock
//! serialises the two. Readers run in parallel on their own connections thanks to WAL.
//!
//! A write transaction that fails half-way (a full disk, an I/O error) can leave sqlx's
//! connection believing it is still inside a transaction while SQLite already rolled it back:
//! <https://www.sqlite.org/lang_transaction.html> ("the transaction may or may not be rolled back
//! automatically" after `SQLITE_FULL` or `SQLITE_IOERR`). The `ROLLBACK` sqlx sends when the
//! transaction is dropped then fails too, and every later `BEGIN` on that connection would be
//! refused. [`clean_after_use`] closes such a connection when it is returned, and the pool opens a
//! fresh one.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Sqlite, SqliteConnection, SqlitePool, Transaction};

use scimd_store::{Result, StoreError};

use crate::readers::Readers;
use crate::write_health::WriteHealth;
use crate::writer::Writer;

/// How long a statement waits for another process's lock (a `scimd token create` while `serve`
/// runs, a checkpoint) before failing with `SQLITE_BUSY` (→ 503, retryable).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request waits for a pooled connection (sqlx's one writer connection is busy) before 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A write transaction on the writer connection, begun with `BEGIN IMMEDIATE`. Dropping it without
/// `commit()` rolls back. Its statements run on the connection it dereferences to (`&mut *tx`);
/// its commit's outcome is the writer's [`WriteHealth`].
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    health: WriteHealth,
}

impl WriteTx {
    pub(crate) fn new(tx: Transaction<'static, Sqlite>, health: WriteHealth) -> Self {
        Self { tx, health }
    }

    /// Commits, and records whether the commit reached the disk.
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.health.record(self.tx.commit().await)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// What sqlx's `after_release` hook returns: whether the connection goes back to the pool.
type Release<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<bool, sqlx::Error>> + Send + 'c>>;

/// The `after_release` hook of a pool whose connections run write transactions: a connection
/// still inside a transaction once the rollback its dropped `Transaction` queued has run (that
/// rollback failed: see the module docs) is closed instead of reused, and `health` says the
/// writer failed. sqlx replaces a closed connection (`min_connections`, or at the next acquire).
pub(crate) fn clean_after_use(
    health: WriteHealth,
) -> impl for<'c> Fn(&'c mut SqliteConnection, PoolConnectionMetadata) -> Release<'c> + Send + Sync + 'static
{
    move |conn, _| {
        let health = health.clone();
        Box::pin(async move {
            // The connection's worker runs commands in order: once the ping is answered, the
            // queued rollback has run and the transaction depth is what it left.
            conn.ping().await?;
            if conn.is_in_transaction() {
                tracing::warn!(
                    "a SQLite writer connection was left inside a transaction by a failed COMMIT or \
                     ROLLBACK; it is closed and replaced"
                );
                health.failed();
                return Ok(false);
            }
            Ok(true)
        })
    }
}

/// The two pools, and the request path's readers (`readers.rs`).
pub(crate) struct Pools {
    pub(crate) writer: SqlitePool,
    /// How sqlx's writer connection's last write ended.
    pub(crate) writer_health: WriteHealth,
    pub(crate) reader: SqlitePool,
    pub(crate) readers: Readers,
    pub(crate) resource_writer: Writer,
    /// The directory of a `sqlite::memory:` database's file, removed when the store is dropped.
    pub(crate) scratch: Option<Arc<TempDir>>,
}

/// Opens (creating if missing) the database at `url` (`sqlite://path`, `sqlite::memory:`).
///
/// `sqlite::memory:` is a database that lasts as long as the store: a file in a fresh temporary
/// directory, removed when the store is dropped. A true in-memory database exists once per
/// connection, invisible to the request path's own connections (`readers.rs`), and could not use
/// WAL; a scratch file behaves exactly as the production configuration does.
pub(crate) async fn open(url: &str) -> Result<Pools> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let (options, scratch) = if in_memory {
        let dir = tempfile::Builder::new()
            .prefix("scimd-memory-")
            .tempdir()
            .map_err(|e| StoreError::Unavailable(format!("cannot create a scratch database: {e}")))?;
        (SqliteConnectOptions::new().filename(dir.path().join("scimd.db")), Some(Arc::new(dir)))
    } else {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid SQLite URL {url:?}: {e}")))?;
        (options, None)
    };
    let base = options
        .create_if_missing(true)
        // WAL: readers never block the writer and the writer never blocks readers.
        .journal_mode(SqliteJournalMode::Wal)
        // The schema's REFERENCES clauses (members → resources, tokens → tenants) are enforced.
        .foreign_keys(true)
        // FULL makes SQLite fsync the WAL at every commit. With WAL, NORMAL already survives a
        // `kill -9` of the process (the commit is in the OS page cache), but an acknowledged
        // write could still vanish if the machine loses power or the kernel crashes before the
        // next checkpoint. An IdP that got 201 will not send the user again, so a commit is
        // acknowledged only once it is on disk; the cost is one fsync per write transaction.
        .synchronous(SqliteSynchronous::Full)
        // Temporary files in memory: each resource write runs in a savepoint of the group-commit batch
        // (writer.rs, which sets the same pragma), and SQLite keeps a savepoint's statement journal in a
        // temporary file by default: a pwrite per changed page, 6 % of the server's CPU under POST /Users
        // (the load benchmark, bench/README.md). The journal holds only the pages one write changes, and it
        // is not needed for durability: the WAL is.
        .pragma("temp_store", "MEMORY")
        // These connections serve administration and the rare token touch: 512 KiB of page
        // cache each instead of SQLite's 2 MiB, which they filled under load for nothing
        // (heaptrack, against the 40 MiB memory target in bench/README.md).
        .pragma("cache_size", "-512")
        .busy_timeout(BUSY_TIMEOUT);

    let writer_health = WriteHealth::default();
    let writer = SqlitePoolOptions::new()
        // One writer connection for sqlx: see the module docs.
        .max_connections(1)
        // Keep it open for the life of the store: the last connection to close would checkpoint
        // and remove the WAL files under the readers' feet.
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx pings a connection before handing it out by default: one more round trip to the
        // connection's worker thread per query, which doubled the cost of a GET (load benchmark
        // profile: thread hand-offs dominated). A local file's connection does not go stale; an
        // I/O error surfaces on the query itself, as 503.
        .test_before_acquire(false)
        .after_release(clean_after_use(writer_health.clone()))
        .connect_with(base.clone())
        .await
        .map_err(crate::map_err)?;

    // The administrative reads (tenants, tokens, OAuth rows) keep sqlx: a few connections.
    let reader = SqlitePoolOptions::new()
        .max_connections(2)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // As for the writer: no ping round trip before each query.
        .test_before_acquire(false)
        // `query_only` rather than opening read-only: a read-only connection cannot create
        // the WAL index (-shm) and fails if it opens the file while no writer has it open.
        .connect_with(base.clone().pragma("query_only", "ON"))
        .await
        .map_err(crate::map_err)?;
    // After the writer opened (and created) the file, in WAL mode.
    let readers = Readers::open(base.get_filename().to_path_buf())?;
    let resource_writer = Writer::open(base.get_filename())?;
    Ok(Pools { writer, writer_health, reader, readers, resource_writer, scratch })
}

/// The text forms of times and ids, shared with the other backend (`scimd_store::rows`).
pub(crate) use scimd_store::rows::{time_from_db, time_to_db};
