//! The two backends' tables and columns stay in step, and so do their migrations.
//!
//! Both stores are migrated from scratch, then their catalogues compared: SQLite's
//! `sqlite_master`/`pragma_table_info` against PostgreSQL's `information_schema.columns`. Types,
//! indexes and constraints differ on purpose (see each `0001_resources.sql`); names do not, except
//! for what is listed in [`ONLY_SQLITE`] and [`ONLY_POSTGRES`].

use std::collections::BTreeSet;
use std::sync::Arc;

use scimd_store::SystemClock;
use scimd_store_sqlite::SqliteStore;
use sqlx::Row as _;

/// Tables or `table.column`s that only SQLite has, and why.
const ONLY_SQLITE: &[(&str, &str)] = &[
    (
        "sqlite_sequence",
        "SQLite's own bookkeeping for AUTOINCREMENT (audit.seq); PostgreSQL uses an identity column",
    ),
    (
        "resource_counts",
        "a per-tenant counter row kept by triggers for unfiltered totalResults: with one \
         writer it costs nothing, but on PostgreSQL every create and delete of a tenant on every \
         replica would queue on that one row; PostgreSQL counts through the (tenant_id, kind, id) index",
    ),
];

/// Migrations only SQLite has, and why (see [`ONLY_SQLITE`]).
const ONLY_SQLITE_MIGRATIONS: &[&str] = &["resource counts"];

/// Tables or `table.column`s that only PostgreSQL has, and why.
const ONLY_POSTGRES: &[(&str, &str)] = &[(
    "log",
    "the provisioning log: SQLite keeps it in a second file (scimd-log.db, log_migrations/) so it \
     never queues behind the one writer; PostgreSQL keeps it in the shared database (0005_log.sql). \
     Its columns are compared with SQLite's log file below.",
)];

/// Migrations only PostgreSQL has in its data migrations, and why: the log's, which SQLite runs on
/// its log file (compared below); the numbering of events after the commit (a sequence and an
/// index, no table or column), since SQLite's one writer numbers in the write.
const ONLY_POSTGRES_MIGRATIONS: &[&str] = &["log", "event numbering", "log response body"];

fn allowed(list: &[(&str, &str)], name: &str) -> bool {
    list.iter().any(|(n, _)| *n == name || name.starts_with(&format!("{n}.")))
}

#[tokio::test]
async fn tables_columns_and_migrations_match_sqlite() {
    let Some((_db, pg, _clock)) = super::store("tables_columns_and_migrations_match_sqlite").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("parity.db").display());
    let sqlite = SqliteStore::open(&url, Arc::new(SystemClock)).await.unwrap();
    sqlite.migrate().await.unwrap();
    sqlite.close().await;
    let lite = sqlx::SqlitePool::connect(&url).await.unwrap();

    let mut sqlite_names = BTreeSet::new();
    for row in sqlx::query(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'",
    )
    .fetch_all(&lite)
    .await
    .unwrap()
    {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        sqlite_names.insert(table.clone());
        sqlite_names.insert(format!("{table}.{column}"));
    }
    let mut pg_names = BTreeSet::new();
    for row in sqlx::query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap()
    {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        pg_names.insert(table.clone());
        pg_names.insert(format!("{table}.{column}"));
    }

    let only_sqlite: Vec<&String> =
        sqlite_names.difference(&pg_names).filter(|n| !allowed(ONLY_SQLITE, n)).collect();
    let only_pg: Vec<&String> =
        pg_names.difference(&sqlite_names).filter(|n| !allowed(ONLY_POSTGRES, n)).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "the backends' schemas drifted apart (add the missing migration, or list an intended \
         difference with its reason):\n  only in SQLite: {only_sqlite:?}\n  only in PostgreSQL: {only_pg:?}"
    );
    // The allow-lists name only what really differs, so they do not outlive their reason.
    for (name, _) in ONLY_SQLITE {
        assert!(sqlite_names.contains(*name) && !pg_names.contains(*name), "stale ONLY_SQLITE entry {name}");
    }
    for (name, _) in ONLY_POSTGRES {
        assert!(
            pg_names.contains(*name) && !sqlite_names.contains(*name),
            "stale ONLY_POSTGRES entry {name}"
        );
    }
    assert!(sqlite_names.contains("resources.search"), "the catalogue query reads something");

    // The same migrations, by version and description, so a later one is never forgotten on one side.
    let applied_sqlite: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&lite)
            .await
            .unwrap();
    let applied_pg: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pg.pool())
            .await
            .unwrap();
    let applied_pg_data: Vec<(i64, String)> =
        applied_pg.iter().filter(|(_, d)| !ONLY_POSTGRES_MIGRATIONS.contains(&d.as_str())).cloned().collect();
    let applied_sqlite: Vec<(i64, String)> =
        applied_sqlite.into_iter().filter(|(_, d)| !ONLY_SQLITE_MIGRATIONS.contains(&d.as_str())).collect();
    assert_eq!(applied_sqlite, applied_pg_data, "the two backends have different migrations");
    lite.close().await;

    // The provisioning log: SQLite's log file against PostgreSQL's `log` table.
    let log_url = scimd_store_sqlite::log_url(&url);
    scimd_store_sqlite::SqliteLogStore::open(&log_url).await.unwrap().close().await;
    let log = sqlx::SqlitePool::connect(&log_url).await.unwrap();
    let sqlite_log: BTreeSet<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('log')")
        .fetch_all(&log)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let pg_log: BTreeSet<String> =
        pg_names.iter().filter_map(|n| n.strip_prefix("log.").map(str::to_owned)).collect();
    assert!(!sqlite_log.is_empty());
    assert_eq!(sqlite_log, pg_log, "the provisioning log's columns differ");
    log.close().await;
}
