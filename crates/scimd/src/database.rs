//! Opening the database a `--database` URL names (docs/operations.md: `sqlite://…` by default,
//! `postgres://…` or `postgresql://…` for PostgreSQL). Everything above this module sees only
//! `Arc<dyn Store>`.

use std::sync::Arc;

use scimd_store::{Clock, LogStore, Store};
use scimd_store_postgres::{PgLogStore, PgOptions, PgStore};
use scimd_store_sqlite::{SqliteLogStore, SqliteStore, log_url};

use crate::cli::CliError;

/// Opens the database named by `url`; migrates it unless `migrate` is false (`serve --no-migrate`,
/// for deployments that migrate in a separate step). `postgres` holds the pool settings, used only
/// for a PostgreSQL URL.
///
/// A PostgreSQL pool connects lazily and reconnects by itself: opening never fails for an
/// unreachable server (migrating does), and a running server that loses its database answers 503
/// and `/readyz` 503 until the database is back.
pub async fn open(
    url: &str,
    postgres: &PgOptions,
    clock: Arc<dyn Clock>,
    migrate: bool,
) -> Result<Arc<dyn Store>, CliError> {
    let store: Arc<dyn Store> = if is_postgres(url) {
        Arc::new(PgStore::open(url, postgres, clock)?)
    } else if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::open(url, clock).await?)
    } else {
        return Err(CliError::Usage(format!(
            "unsupported database URL {url:?}: use sqlite://PATH (e.g. {}) or postgres://USER@HOST/DB",
            crate::config::DEFAULT_DATABASE
        )));
    };
    if migrate {
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied database migrations");
        }
    }
    Ok(store)
}

/// Opens the provisioning log that goes with the database at `url`: on SQLite a second file beside
/// it (`scimd.db` → `scimd-log.db`), so log writes never queue behind data writes; on PostgreSQL the
/// `log` table of the same database (created by its migrations), on a small pool of its own.
pub async fn open_log(url: &str, postgres: &PgOptions) -> Result<Arc<dyn LogStore>, CliError> {
    if is_postgres(url) {
        return Ok(Arc::new(PgLogStore::open(url, postgres)?));
    }
    Ok(Arc::new(SqliteLogStore::open(&log_url(url)).await?))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
