//! The embedded SQLite backend: scimd's default store, one file, no server to run.
//!
//! [`SqliteStore`] implements [`scimd_store::Store`] on one WAL database file:
//!
//! - the request path (authentication, GET, lists, resource writes) through rusqlite on the
//!   request's own thread: `readers.rs`, `retrieve.rs`, and `writer.rs`'s group commit;
//! - administration (tenants, tokens, OAuth rows, migrations) through sqlx: one writer connection
//!   whose transactions begin with `BEGIN IMMEDIATE`, and a small pool of readers (`pool.rs`).
//!
//! So there are two writer connections, sqlx's and the group commit's; SQLite's write lock
//! serialises them. Both recover by themselves from a failed write (a full disk, an I/O error),
//! and `/readyz` ([`Store::ping`]) says "not ready" while their last write failed
//! (`write_health.rs`). Embedded migrations are in `migrations/`.
#![warn(missing_docs)]

mod cols;
mod credentials;
mod delivery;
mod driver;
mod events;
mod heads;
mod log;
mod oauth;
mod pool;
mod readers;
mod resources;
mod retrieve;
mod tenants;
mod write_health;
mod writer;

pub(crate) use cols::Cols;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::error::ErrorKind;

use scimd_store::{Clock, Result, Store, StoreError};

pub use log::{SqliteLogStore, log_url};
pub(crate) use pool::WriteTx;
use write_health::WriteHealth;

/// The SQLite store. Cheap to clone (pools and clock are shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// sqlx's one writer connection (`max_connections(1)`): every administrative write transaction
    /// queues here. Resource writes have their own connection (`resource_writer`).
    pub(crate) writer: SqlitePool,
    /// How `writer`'s last write ended.
    writer_health: WriteHealth,
    /// Administrative reads in parallel (`query_only`).
    pub(crate) reader: SqlitePool,
    /// The request path's reads: authentication, GET and lists (`readers.rs`).
    pub(crate) readers: readers::Readers,
    /// Keeps a `sqlite::memory:` store's scratch file until the last clone is dropped.
    _scratch: Option<Arc<tempfile::TempDir>>,
    /// Time and ids for rows this store creates.
    pub(crate) clock: Arc<dyn Clock>,
    /// Resource writes, batched into shared transactions on a connection of their own
    /// (`writer.rs`).
    pub(crate) resource_writer: writer::Writer,
    /// Wakes readers of the event log after a batch with events commits (`events.rs`).
    pub(crate) events: Arc<scimd_store::EventSignal>,
}

impl SqliteStore {
    /// Opens the database at `url` (`sqlite://scimd.db`, `sqlite:///abs/path.db`, `sqlite::memory:`),
    /// creating the file if missing. Does not migrate: call [`SqliteStore::migrate`].
    ///
    /// Errors: [`StoreError::Unavailable`] when the file cannot be opened or created,
    /// [`StoreError::Internal`] for a malformed URL.
    pub async fn open(url: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        let pools = pool::open(url).await?;
        Ok(Self {
            writer: pools.writer,
            writer_health: pools.writer_health,
            reader: pools.reader,
            readers: pools.readers,
            _scratch: pools.scratch,
            clock,
            resource_writer: pools.resource_writer,
            events: Arc::default(),
        })
    }

    /// Applies the embedded migrations (`migrations/*.sql`) that have not been applied yet.
    pub async fn migrate(&self) -> Result<Vec<String>> {
        let migrator = sqlx::migrate!();
        // What was applied before (none on a fresh database, whose table does not exist yet), so
        // the caller can report what this run applied.
        let before: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.writer)
            .await
            .unwrap_or_default();
        migrator.run(&self.writer).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(e),
            other => StoreError::Internal(format!("migration failed: {other}")),
        })?;
        Ok(migrator
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect())
    }

    /// Begins a write transaction on the writer connection with `BEGIN IMMEDIATE`: the write lock is
    /// taken at once, so a transaction that reads before it writes never fails to upgrade its lock
    /// (`SQLITE_BUSY` mid-transaction). Commit with `tx.commit()`; dropping it rolls back.
    pub(crate) async fn write_tx(&self) -> Result<WriteTx> {
        // A failed BEGIN is a failed write; one that succeeds proves nothing until its COMMIT.
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await.inspect_err(|_| self.writer_health.failed());
        let tx = tx.map_err(map_err)?;
        Ok(WriteTx::new(tx, self.writer_health.clone()))
    }

    /// Readiness of sqlx's writer: after a failed write, a probe write must reach the disk.
    async fn probe_writer(&self) -> Result<()> {
        if !self.writer_health.failing() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        let version: i64 =
            sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await.map_err(map_err)?;
        sqlx::query(&write_health::probe_sql(version)).execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    /// Closes both pools, waiting for connections in use to be returned (a clean WAL checkpoint).
    pub async fn close(&self) {
        self.resource_writer.flush().await;
        self.readers.close();
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// SQLite primary result codes (<https://www.sqlite.org/rescode.html>); extended codes carry the
/// primary one in their low byte.
mod code {
    pub(super) const BUSY: i32 = 5;
    pub(super) const LOCKED: i32 = 6;
    pub(super) const NOMEM: i32 = 7;
    pub(super) const READONLY: i32 = 8;
    pub(super) const IOERR: i32 = 10;
    pub(super) const FULL: i32 = 13;
    pub(super) const CANTOPEN: i32 = 14;
    pub(super) const PROTOCOL: i32 = 15;
}

/// The one translation of sqlx errors into [`StoreError`]:
///
/// - a UNIQUE or PRIMARY KEY violation → [`StoreError::Conflict`] naming the column (`slug`,
///   `name_key`); callers that know the SCIM attribute rename it;
/// - busy, locked, I/O, disk full, cannot open, pool timeout or closed → [`StoreError::Unavailable`]
///   (503: the client may retry);
/// - anything else → [`StoreError::Internal`] (500, logged, never shown).
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            if matches!(db.kind(), ErrorKind::UniqueViolation) {
                return StoreError::Conflict(conflicting_column(db.message()));
            }
            let primary = db.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff);
            match primary {
                Some(
                    code::BUSY
                    | code::LOCKED
                    | code::NOMEM
                    | code::READONLY
                    | code::IOERR
                    | code::FULL
                    | code::CANTOPEN
                    | code::PROTOCOL,
                ) => StoreError::Unavailable(db.to_string()),
                _ => StoreError::Internal(db.to_string()),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        other => StoreError::Internal(other.to_string()),
    }
}

/// `UNIQUE constraint failed: tenants.slug` → `slug`; for a composite key, its last column.
pub(crate) fn conflicting_column(message: &str) -> String {
    message
        .rsplit([',', ' '])
        .find(|s| !s.is_empty())
        .and_then(|col| col.rsplit('.').next())
        .unwrap_or("value")
        .to_owned()
}

#[async_trait]
impl Store for SqliteStore {
    fn event_signal(&self) -> &scimd_store::EventSignal {
        &self.events
    }

    /// The database answers a read and, when a writer's last write failed, a probe write on that
    /// writer reaches the disk (`write_health.rs`).
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(map_err)?;
        self.probe_writer().await?;
        self.resource_writer.probe().await
    }

    async fn migrate(&self) -> Result<Vec<String>> {
        SqliteStore::migrate(self).await
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn token_and_tenant(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(scimd_store::TokenRecord, Option<scimd_store::Tenant>)>> {
        self.token_and_tenant_joined(digest).await
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_conflicting_column() {
        assert_eq!(conflicting_column("UNIQUE constraint failed: tenants.slug"), "slug");
        assert_eq!(
            conflicting_column(
                "UNIQUE constraint failed: resources.tenant_id, resources.kind, resources.name_key"
            ),
            "name_key"
        );
        assert_eq!(conflicting_column(""), "value");
    }

    #[tokio::test]
    async fn opens_migrates_and_pings() {
        let (_dir, store) = test_support::store().await;
        store.ping().await.unwrap();
        // Migrating twice is a no-op.
        store.migrate().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&store.reader).await.unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&store.writer).await.unwrap();
        assert_eq!(fk, 1);
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.writer).await.unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
        let temp: i64 = sqlx::query_scalar("PRAGMA temp_store").fetch_one(&store.writer).await.unwrap();
        assert_eq!(temp, 2, "temp_store = MEMORY");
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let (_dir, store) = test_support::store().await;
        let err = sqlx::query("CREATE TABLE t (x)").execute(&store.reader).await.unwrap_err();
        assert!(matches!(map_err(err), StoreError::Unavailable(_) | StoreError::Internal(_)));
    }

    #[tokio::test]
    async fn write_tx_begins_immediate_and_rolls_back_on_drop() {
        let (_dir, store) = test_support::store().await;
        {
            let mut tx = store.write_tx().await.unwrap();
            sqlx::query("INSERT INTO tenants (id, slug, created) VALUES ('x', 'x', 'now')")
                .execute(&mut *tx)
                .await
                .unwrap();
            // Dropped without commit.
        }
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&store.reader).await.unwrap();
        assert_eq!(n, 0);
        let mut tx = store.write_tx().await.unwrap();
        sqlx::query("INSERT INTO tenants (id, slug, created) VALUES ('x', 'x', 'now')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&store.reader).await.unwrap();
        assert_eq!(n, 1);
    }

    /// What a full disk does to a write transaction (SQLite rolls it back itself, and the
    /// ROLLBACK sqlx sends on drop fails): the connection is replaced, not reused half-way.
    #[tokio::test]
    async fn a_writer_connection_left_inside_a_transaction_is_replaced() {
        let (_dir, store) = test_support::store().await;
        for _ in 0..3 {
            let mut tx = store.write_tx().await.unwrap();
            // The transaction ends behind sqlx's back, as SQLite's automatic rollback ends it.
            sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
            drop(tx);
            // Before the fix: "attempted to call begin_with at non-zero transaction depth".
            let mut tx = store.write_tx().await.unwrap();
            sqlx::query("INSERT INTO tenants (id, slug, created) VALUES ('x', 'x', 'now')")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            sqlx::query("DELETE FROM tenants").execute(&store.writer).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_failed_write_makes_ping_probe_the_disk() {
        let (_dir, store) = test_support::store().await;
        store.writer_health.failed();
        store.ping().await.unwrap();
        assert!(!store.writer_health.failing(), "the probe write committed");
        let mut tx = store.write_tx().await.unwrap();
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
        drop(tx);
        // The connection was discarded: the writer is unhealthy until a write commits.
        let _ = store.write_tx().await.unwrap();
        assert!(store.writer_health.failing());
        store.ping().await.unwrap();
        assert!(!store.writer_health.failing());
    }

    #[tokio::test]
    async fn in_memory_databases_are_scratch_files_removed_with_the_store() {
        use scimd_store::{CredentialStore as _, TenantStore as _};
        let clock = Arc::new(scimd_store::MockClock::new(time::macros::datetime!(2026-01-01 0:00 UTC)));
        let store = SqliteStore::open("sqlite::memory:", clock).await.unwrap();
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        let t = store.create_tenant("acme").await.unwrap();
        // The request path's own connections see what the writer wrote: one database, not one
        // per connection.
        let secret = scimd_store::TokenSecret::generate(&scimd_store::SystemClock);
        let new = scimd_store::NewToken {
            tenant: t.id,
            name: "t".into(),
            digest: secret.digest(),
            scopes: vec![],
            expires: None,
            operator: false,
        };
        store.create_token(new).await.unwrap();
        let (_, tenant) = store.token_and_tenant(&secret.digest()).await.unwrap().unwrap();
        assert_eq!(tenant.unwrap().slug, "acme");
        let dir = store._scratch.as_ref().unwrap().path().to_owned();
        assert!(dir.join("scimd.db").exists());
        store.close().await;
        drop(store);
        assert!(!dir.exists(), "the scratch directory goes with the store");
    }

    #[tokio::test]
    async fn a_missing_directory_is_unavailable() {
        let clock = Arc::new(scimd_store::SystemClock);
        let err = SqliteStore::open("sqlite:///nonexistent-dir-scimd/x/db.sqlite", clock).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}
