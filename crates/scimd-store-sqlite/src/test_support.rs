//! A fresh, migrated database in a temporary directory, for the unit tests.

use std::sync::Arc;

use scimd_store::MockClock;
use time::macros::datetime;

use crate::SqliteStore;

pub(crate) fn clock() -> MockClock {
    MockClock::new(datetime!(2026-11-23 07:46 UTC))
}

pub(crate) async fn store() -> (tempfile::TempDir, SqliteStore) {
    store_with(clock()).await
}

pub(crate) async fn store_with(clock: MockClock) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scimd.db").display());
    let store = SqliteStore::open(&url, Arc::new(clock)).await.unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}
