//! Every table of a database and how many rows it holds: what a test compares to find rows a
//! deletion left behind, without naming the tables (a table a later migration adds is counted
//! too).

use std::collections::BTreeMap;
use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// The tables of the schema `search_path` names first, and whether each has `tenant_id`.
const PG_TABLES: &str = "SELECT t.table_name::text, EXISTS (SELECT 1 FROM information_schema.columns c \
       WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'tenant_id') \
     FROM information_schema.tables t \
     WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND t.table_name <> '_sqlx_migrations'";

/// The same for SQLite.
const SQLITE_TABLES: &str = "SELECT m.name, EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'tenant_id') \
     FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'";

/// One statement answering `(table, rows)` for each table: all rows, or (with a tenant, bound
/// to `placeholder`) that tenant's rows of the tables that have `tenant_id`.
fn counting(tables: &[(String, bool)], tenant: bool, placeholder: &str) -> Option<String> {
    let parts: Vec<String> = tables
        .iter()
        .filter(|(_, has_tenant)| !tenant || *has_tenant)
        .map(|(t, _)| {
            let only = if tenant { format!(" WHERE tenant_id = {placeholder}") } else { String::new() };
            format!("SELECT '{t}', count(*) FROM \"{t}\"{only}")
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" UNION ALL "))
}

/// Rows per table of the database at `url` (`sqlite://…` opened read-only, or `postgres://…`
/// in the schema its `search_path` names first), the migrations' own bookkeeping left out.
/// With `tenant`, only tables with a `tenant_id` column, counting that tenant's rows.
///
/// # Panics
///
/// When the database cannot be read: a test helper.
pub async fn row_counts(url: &str, tenant: Option<&str>) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = if url.starts_with("postgres") {
        let mut conn = PgConnection::connect(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let tables = sqlx::query_as(PG_TABLES).fetch_all(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
        let Some(sql) = counting(&tables, tenant.is_some(), "$1") else { return BTreeMap::new() };
        let rows = sqlx::query_as(&sql).bind(tenant).fetch_all(&mut conn).await;
        let _ = conn.close().await;
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    } else {
        let options =
            SqliteConnectOptions::from_str(url).unwrap_or_else(|e| panic!("{url}: {e}")).read_only(true);
        let mut conn =
            SqliteConnection::connect_with(&options).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let tables =
            sqlx::query_as(SQLITE_TABLES).fetch_all(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
        let Some(sql) = counting(&tables, tenant.is_some(), "?1") else { return BTreeMap::new() };
        let rows = sqlx::query_as(&sql).bind(tenant).fetch_all(&mut conn).await;
        let _ = conn.close().await;
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    rows.into_iter().collect()
}
