//! The PostgreSQL store's integration tests: one binary (link time dominates on two cores), one
//! module per concern. Each test gets a fresh database on the server `SCIMD_TEST_POSTGRES_URL`
//! names; without it they print a skip message and pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests: a panic is a failed test (clippy's test exemption misses helper fns)"
)]

use std::sync::Arc;

use scimd_store::MockClock;
use scimd_store_postgres::{PgOptions, PgStore};
use scimd_testkit::pg::TestDatabase;
use time::macros::datetime;

mod behaviour;
mod explain;
mod parity;

/// A migrated store on a fresh database, with a mock clock; `None` (after a skip message) when no
/// PostgreSQL server is configured.
async fn store(test: &str) -> Option<(TestDatabase, PgStore, MockClock)> {
    if !scimd_testkit::pg::available_or_skip(test) {
        return None;
    }
    let db = TestDatabase::create().await;
    let clock = MockClock::new(datetime!(2026-11-23 07:46 UTC));
    let store = PgStore::open(&db.url, &PgOptions::default(), Arc::new(clock.clone())).unwrap();
    store.migrate().await.unwrap();
    Some((db, store, clock))
}
