//! Fresh PostgreSQL databases for tests, named uniquely and dropped when the guard is dropped.
//!
//! [`TestDatabase::create`] gives a test a schema of its own in the admin database (the URL sets
//! `search_path` to it): creating and dropping a schema is cheap, where `DROP DATABASE` waits for a
//! checkpoint (a second or two each). Tests that take the database away from a server
//! (`ALTER DATABASE … ALLOW_CONNECTIONS false`) use [`TestDatabase::create_database`], a whole
//! database of their own.
//!
//! The server to create them on comes from `SCIMD_TEST_POSTGRES_URL` (CI sets it, see `.ci/run`);
//! without it the PostgreSQL variants of tests print a skip message and pass, so a laptop without
//! PostgreSQL still runs the rest of the suite.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

/// The environment variable naming the PostgreSQL server tests create their databases on
/// (`postgres://postgres@127.0.0.1:5432/postgres`): any database the user may connect to, used
/// only to run `CREATE DATABASE` and `DROP DATABASE`.
pub const ENV: &str = "SCIMD_TEST_POSTGRES_URL";

/// The admin URL from [`ENV`], if set and not empty.
#[must_use]
pub fn admin_url() -> Option<String> {
    std::env::var(ENV).ok().filter(|u| !u.trim().is_empty())
}

/// Whether PostgreSQL tests can run; prints why not (once per call) so a skipped test says so.
#[must_use]
pub fn available_or_skip(test: &str) -> bool {
    if admin_url().is_some() {
        return true;
    }
    eprintln!("skipped {test} on PostgreSQL: {ENV} is not set");
    false
}

/// A database (or schema) that exists for as long as this guard does.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL of the fresh database, for a store or a `scimd --database`.
    pub url: String,
    /// Its name (of the database, or of the schema).
    pub name: String,
    admin: String,
    whole_database: bool,
}

/// pg_trgm once per process, in `public` of the admin database, where every test schema's
/// `search_path` finds it: an extension exists once per database, and one created by a test's
/// migration inside its schema would vanish with that schema.
static TRGM: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Unique within a process; the process id makes it unique across live processes.
static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    format!("scimd_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl TestDatabase {
    /// A fresh, empty schema (not migrated) in the admin database [`ENV`] names, and a URL whose
    /// sessions use it (`search_path`).
    ///
    /// # Panics
    ///
    /// When [`ENV`] is unset or the server refuses: callers check [`available_or_skip`] first.
    pub async fn create() -> TestDatabase {
        let admin = admin_url().unwrap_or_else(|| panic!("{ENV} is not set"));
        let name = unique_name();
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {ENV} ({admin}): {e}"));
        TRGM.get_or_init(|| async {
            // Without the privilege the migration skips the trigram indexes, as in production.
            let _ =
                sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").execute(&mut conn).await;
        })
        .await;
        // A schema of this name can only be left over from a dead process with the same id.
        for sql in [format!("DROP SCHEMA IF EXISTS {name} CASCADE"), format!("CREATE SCHEMA {name}")] {
            sqlx::query(&sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let _ = conn.close().await;
        let sep = if admin.contains('?') { '&' } else { '?' };
        // The sessions are named after the schema, so that dropping it can end them first.
        let url = format!("{admin}{sep}options=-c%20search_path%3D{name}%2Cpublic&application_name={name}");
        TestDatabase { url, name, admin, whole_database: false }
    }

    /// A fresh, empty database of its own (not migrated), for tests that take it away from a server.
    ///
    /// # Panics
    ///
    /// When [`ENV`] is unset or the server refuses: callers check [`available_or_skip`] first.
    pub async fn create_database() -> TestDatabase {
        let admin = admin_url().unwrap_or_else(|| panic!("{ENV} is not set"));
        let name = unique_name();
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {ENV} ({admin}): {e}"));
        for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")]
        {
            sqlx::query(&sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let _ = conn.close().await;
        let url = database_url(&admin, &name);
        TestDatabase { url, name, admin, whole_database: true }
    }

    /// Runs one SQL statement on the admin connection (not in the test database): what tests use to
    /// take the database away from a running server and give it back.
    pub async fn admin_execute(&self, sql: &str) {
        let mut conn =
            PgConnection::connect(&self.admin).await.unwrap_or_else(|e| panic!("admin connect: {e}"));
        sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// Ends every session connected to the test database (`pg_terminate_backend`), as a
    /// PostgreSQL restart or failover would.
    ///
    /// # Panics
    ///
    /// On a schema ([`TestDatabase::create`]): its sessions cannot be told from other tests'.
    pub async fn terminate_connections(&self) {
        assert!(self.whole_database, "terminate_connections needs TestDatabase::create_database");
        self.admin_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ))
        .await;
    }
}

/// The admin URL with its database replaced by `name` (query parameters kept).
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    // postgres://user@host:port/db → replace what follows the authority's '/'.
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside a runtime: a thread of its own with a runtime of
        // its own drops the database (WITH FORCE ends the server's pooled connections).
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // A server's sessions may hold locks (a transaction on a runtime that is no longer polled):
        // they are ended first, as DROP DATABASE … WITH (FORCE) does for a whole database.
        let sql = if self.whole_database {
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        } else {
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'; \
                 DROP SCHEMA IF EXISTS {name} CASCADE"
            )
        };
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                sqlx::raw_sql(&sql).execute(&mut conn).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_the_url() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@h/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(database_url("postgresql://h", "t1"), "postgresql://h/t1");
    }
}
