//! Opening the database a `--database` URL names (DESIGN.md "Contracts": `sqlite://…` by default,
//! `postgres://…` for PostgreSQL). Everything above this module sees only `Arc<dyn Store>`.

use std::sync::Arc;

use scimd_store::{Clock, Store};
use scimd_store_sqlite::SqliteStore;

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
