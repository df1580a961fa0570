//! Opening the database a `--database` URL names (DESIGN.md "Contracts": `sqlite://…` by default,
//! `postgres://…` for PostgreSQL). Everything above this module sees only `Arc<dyn Store>`.

use std::sync::Arc;

use scimd_store::{Clock, LogStore, Store};
use scimd_store_sqlite::{SqliteLogStore, SqliteStore, log_url};

use crate::cli::CliError;

/// Opens the database named by `url`; migrates it unless `migrate` is false (`serve --no-migrate`,
/// for deployments that migrate in a separate step).
pub async fn open(url: &str, clock: Arc<dyn Clock>, migrate: bool) -> Result<Arc<dyn Store>, CliError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(CliError::Usage("PostgreSQL is not supported yet: use a sqlite:// database URL".into()));
    }
    if !url.starts_with("sqlite:") {
        return Err(CliError::Usage(format!(
            "unsupported database URL {url:?}: use sqlite://PATH (e.g. {})",
            crate::config::DEFAULT_DATABASE
        )));
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(url, clock).await?);
    if migrate {
        store.migrate().await?;
    }
    Ok(store)
}

/// Opens the provisioning log that goes with the database at `url`: on SQLite a second file beside
/// it (`scimd.db` → `scimd-log.db`), so log writes never queue behind data writes.
pub async fn open_log(url: &str) -> Result<Arc<dyn LogStore>, CliError> {
    Ok(Arc::new(SqliteLogStore::open(&log_url(url)).await?))
}
