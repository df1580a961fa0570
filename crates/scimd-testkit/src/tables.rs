//! Every table of a database and how many rows it holds: what a test compares to find rows a
//! deletion left behind, without naming the tables (a table a later migration adds is counted
//! too).

use std::collections::BTreeMap;
use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// Rows per table of the database at `url` (`sqlite://…` opened read-only, or `postgres://…`
/// in the schema its `search_path` names first), the migrations' own bookkeeping left out.
/// With `tenant`, only tables with a `tenant_id` column, counting that tenant's rows.
///
/// # Panics
///
/// When the database cannot be read: a test helper.
pub async fn row_counts(url: &str, tenant: Option<&str>) -> BTreeMap<String, i64> {
    if url.starts_with("postgres") {
        let mut conn = PgConnection::connect(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let tables: Vec<(String, bool)> = sqlx::query_as(
            "SELECT t.table_name::text, EXISTS (SELECT 1 FROM information_schema.columns c \
               WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'tenant_id') \
             FROM information_schema.tables t \
             WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND t.table_name <> '_sqlx_migrations'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("tables: {e}"));
        let mut out = BTreeMap::new();
        for (table, has_tenant) in tables {
            let n: i64 = match tenant {
                None => {
                    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut conn).await
                }
                Some(_) if !has_tenant => continue,
                Some(t) => {
                    sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"))
                        .bind(t)
                        .fetch_one(&mut conn)
                        .await
                }
            }
            .unwrap_or_else(|e| panic!("{table}: {e}"));
            out.insert(table, n);
        }
        let _ = conn.close().await;
        return out;
    }
    let options =
        SqliteConnectOptions::from_str(url).unwrap_or_else(|e| panic!("{url}: {e}")).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let tables: Vec<(String, bool)> = sqlx::query_as(
        "SELECT m.name, EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'tenant_id') \
         FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("tables: {e}"));
    let mut out = BTreeMap::new();
    for (table, has_tenant) in tables {
        let n: i64 = match tenant {
            None => {
                sqlx::query_scalar(&format!("SELECT count(*) FROM \"{table}\"")).fetch_one(&mut conn).await
            }
            Some(_) if !has_tenant => continue,
            Some(t) => {
                sqlx::query_scalar(&format!("SELECT count(*) FROM \"{table}\" WHERE tenant_id = ?1"))
                    .bind(t)
                    .fetch_one(&mut conn)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{table}: {e}"));
        out.insert(table, n);
    }
    let _ = conn.close().await;
    out
}
