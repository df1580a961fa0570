//! The SQLite store's integration tests: one binary (link time dominates on two cores), one module
//! per concern. The differential module is shared with scimd-store-postgres's tests, which run it
//! against PostgreSQL: this file tells it which store to build and which dialect to print.
#![allow(clippy::unwrap_used, reason = "integration tests: a panic is a failed test")]

#[cfg(test)]
mod delivery;
#[cfg(test)]
mod differential;

use std::sync::Arc;

use scimd_store::sql::Dialect;
use scimd_store::{Clock, Store};

/// The dialect the differential module prints SQL in.
const DIALECT: Dialect = Dialect::Sqlite;

/// SQLite always runs.
fn available() -> bool {
    true
}

/// A fresh migrated store for the differential module: an in-memory database, nothing to keep.
async fn open_store(clock: Arc<dyn Clock>) -> (Arc<dyn Store>, Box<dyn std::any::Any>) {
    let store = scimd_store_sqlite::SqliteStore::open("sqlite::memory:", clock).await.unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), Box::new(()))
}
