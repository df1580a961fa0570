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
/// The delivery outbox tests of scimd-store-sqlite, run against PostgreSQL.
#[path = "../../../scimd-store-sqlite/tests/delivery/mod.rs"]
mod delivery;
/// The SQL-vs-evaluator differential test of scimd-store-sqlite, run against PostgreSQL: one test,
/// two backends (it builds its stores through [`open_store`]).
#[path = "../../../scimd-store-sqlite/tests/differential/mod.rs"]
mod differential;
mod explain;
mod numbering;
mod parity;

use scimd_store::sql::Dialect;
use scimd_store::{Clock, Store};

/// The dialect the differential module prints SQL in.
const DIALECT: Dialect = Dialect::Postgres;

/// Whether PostgreSQL tests run here (prints the skip message otherwise).
fn available() -> bool {
    scimd_testkit::pg::available_or_skip("differential")
}

/// A fresh migrated store on a fresh database for the differential module; the database lives as
/// long as the returned guard.
async fn open_store(clock: Arc<dyn Clock>) -> (Arc<dyn Store>, Box<dyn std::any::Any>) {
    let db = TestDatabase::create().await;
    let store = PgStore::open(&db.url, &PgOptions::default(), clock).unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), Box::new(db))
}

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
