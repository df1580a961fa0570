//! The PostgreSQL backend: several stateless scimd processes behind a load balancer on one
//! database (docs/postgres.md).
//!
//! [`PgStore`] implements [`scimd_store::Store`] with sqlx and the same observable behaviour as the
//! SQLite store; everything a replica knows is in the database, so any replica can serve any
//! request. What SQLite gets from its single writer, PostgreSQL gets from the database itself:
//!
//! - uniqueness (userName, Group displayName, tenant slug, token digest) is a unique index: two
//!   replicas creating the same userName at once get one success and one unique violation (409);
//! - an update locks its row (`SELECT … FOR NO KEY UPDATE`) before running the caller's closure and
//!   writes with a conditional `UPDATE … WHERE version = $n`, so an `If-Match` check and the write
//!   cannot be separated by another replica (RFC 7644 §3.14), and concurrent membership PATCHes on
//!   one group queue on that row lock instead of overwriting each other;
//! - a member being added is locked `FOR KEY SHARE`, so a concurrent delete of that member either
//!   finishes first (the id is then skipped, as an unknown id is) or waits for the add.
//!
//! Connections come from one pool ([`PgOptions`]); every session has a `statement_timeout`, so a
//! stuck query fails (503) instead of holding a connection forever. An unreachable database is
//! [`StoreError::Unavailable`] (→ `/readyz` fails, requests get 503); the pool reconnects by itself
//! when the database is back.
#![warn(missing_docs)]

mod cols;
mod credentials;
mod delivery;
mod events;
mod log;
mod oauth;
mod resources;
mod sequencer;
mod tenants;

pub(crate) use cols::Cols;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool};

use scimd_store::{Clock, Result, Store, StoreError};

pub use log::PgLogStore;

/// Pool and session settings (`scimd.toml` / `SCIMD_PG_*`, see `docs/postgres.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections this process opens. Across replicas the sum must stay below the server's
    /// `max_connections`.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long a request waits for a connection (including connecting) before 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` of every session: a statement running longer is cancelled
    /// (→ 503). Zero disables it.
    pub statement_timeout: Duration,
    /// An idle connection is closed after this long (`None`: never).
    pub idle_timeout: Option<Duration>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(600)),
        }
    }
}

/// The PostgreSQL store. Cheap to clone (the pool and clock are shared).
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// Time and ids for rows this store creates.
    pub(crate) clock: Arc<dyn Clock>,
    /// Wakes readers of the event log after this process commits events (`events.rs`).
    pub(crate) events: Arc<scimd_store::EventSignal>,
}

impl PgStore {
    /// Prepares a pool for `url` (`postgres://user@host:5432/db`, `postgresql://…`). Connects
    /// lazily: a database that is down now does not stop a replica from starting; it is
    /// `Unavailable` until it answers ([`Store::ping`]).
    ///
    /// Errors: [`StoreError::Internal`] for a malformed URL.
    pub fn open(url: &str, options: &PgOptions, clock: Arc<dyn Clock>) -> Result<Self> {
        Ok(Self { pool: pool(url, options)?, clock, events: Arc::default() })
    }

    /// Applies the embedded migrations (`migrations/*.sql`) not applied yet. sqlx holds a
    /// PostgreSQL advisory lock while it migrates, so replicas starting together migrate once.
    pub async fn migrate(&self) -> Result<Vec<String>> {
        let migrator = sqlx::migrate!();
        // What was applied before (none on a fresh database, whose table does not exist yet), so
        // the caller can report what this run applied.
        let before: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(e),
            other => StoreError::Internal(format!("migration failed: {other}")),
        })?;
        Ok(migrator
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect())
    }

    /// The pool, for tests and tools that need SQL the traits do not offer.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A lazily connecting pool for `url` as `options` say, every session with its statement timeout.
pub(crate) fn pool(url: &str, options: &PgOptions) -> Result<PgPool> {
    let timeout_ms = options.statement_timeout.as_millis().to_string();
    let mut connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))?
        .options([("statement_timeout", timeout_ms.as_str())]);
    // `scimd` in pg_stat_activity, unless the URL names the sessions itself (`?application_name=`).
    if connect.get_application_name().is_none() {
        connect = connect.application_name("scimd");
    }
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .min_connections(options.min_connections.min(options.max_connections.max(1)))
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(options.idle_timeout)
        // A connection the server dropped (restart, failover, pg_terminate_backend) is found and
        // replaced before a request gets it, so the pool recovers without a restart.
        .test_before_acquire(true)
        // A connection still inside a transaction when it is returned (a COMMIT or ROLLBACK that
        // failed half-way) is closed rather than handed to the next request, whose BEGIN sqlx
        // would refuse. sqlx then pings it, and closes it too if the server dropped it.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_lazy_with(connect))
}

/// The one translation of sqlx errors into [`StoreError`]:
///
/// - a unique violation (SQLSTATE 23505) → [`StoreError::Conflict`] naming the column the
///   constraint guards; callers that know the SCIM attribute rename it;
/// - the database unreachable, refusing sessions, shutting down, out of resources, a statement
///   timeout, a deadlock or serialization failure (see the codes below), or the pool timed out or
///   closed →
///   [`StoreError::Unavailable`] (503: the client may retry);
/// - anything else → [`StoreError::Internal`] (500, logged, never shown).
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if code == "23505" {
                return StoreError::Conflict(conflicting_column(db.constraint().unwrap_or_default()));
            }
            let class = code.get(..2).unwrap_or_default();
            // 08 connection exception, 28 authorization (a password rotated under the pool), 3D no
            // such database, 53 insufficient resources (too many connections), 57 operator
            // intervention (shutdown, statement timeout), 40 deadlock or serialization failure;
            // 55000 is what a database that refuses connections answers (ALLOW_CONNECTIONS false),
            // 55P03 a lock not available.
            if matches!(class, "08" | "28" | "3D" | "53" | "57" | "40")
                || matches!(code.as_str(), "55000" | "55P03")
            {
                StoreError::Unavailable(db.to_string())
            } else {
                StoreError::Internal(format!("{db} (SQLSTATE {code})"))
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        other => StoreError::Internal(other.to_string()),
    }
}

/// The column a unique constraint of the migrations guards, named as the SQLite store names it.
fn conflicting_column(constraint: &str) -> String {
    match constraint {
        "tenants_slug_key" => "slug",
        "resources_name_key" => "name_key",
        "tokens_digest_key" => "digest",
        "oauth_clients_pkey" => "client_id",
        "oauth_admins_email_key" => "email_key",
        "tenant_domains_pkey" => "domain",
        "resources_pkey" | "tenants_pkey" | "tokens_pkey" => "id",
        _ => "value",
    }
    .to_owned()
}

/// The text forms of times and ids, shared with the other backend (`scimd_store::rows`).
pub(crate) use scimd_store::rows::{time_from_db, time_to_db};

#[async_trait]
impl Store for PgStore {
    fn event_signal(&self) -> &scimd_store::EventSignal {
        &self.events
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<Vec<String>> {
        PgStore::migrate(self).await
    }

    async fn close(&self) {
        PgStore::close(self).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_conflicting_column() {
        assert_eq!(conflicting_column("tenants_slug_key"), "slug");
        assert_eq!(conflicting_column("resources_name_key"), "name_key");
        assert_eq!(conflicting_column("something_else"), "value");
    }

    #[test]
    fn a_malformed_url_is_an_internal_error() {
        let err = PgStore::open("postgres://[::1", &PgOptions::default(), Arc::new(scimd_store::SystemClock))
            .unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable() {
        // Port 1 on the loopback: nothing listens there, the connection is refused at once.
        let options = PgOptions { acquire_timeout: Duration::from_secs(2), ..PgOptions::default() };
        let store =
            PgStore::open("postgres://postgres@127.0.0.1:1/x", &options, Arc::new(scimd_store::SystemClock))
                .unwrap();
        let err = store.ping().await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}
