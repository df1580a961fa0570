//! [`LogStore`] on SQLite: a second database file beside the data (`scimd.db` → `scimd-log.db`),
//! with its own writer connection and `synchronous=NORMAL`. Recording a request therefore never
//! queues behind, or delays, a data write; losing the last few records on a power cut is the price,
//! and it is the right one for a debugging aid.

use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;

use scimd_store::sql::Dialect;
use scimd_store::tenants::{DELETION_BATCH, until_empty};
use scimd_store::{LogEntry, LogQuery, LogStore, Result, StoreError};
use uuid::Uuid;

use crate::map_err;
use crate::pool::{clean_after_use, time_to_db};
use crate::write_health::{WriteHealth, probe_sql};

/// The provisioning log's database.
#[derive(Clone, Debug)]
pub struct SqliteLogStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// How the writer's last write ended (`write_health.rs`).
    health: WriteHealth,
}

/// The log file for a data URL: `sqlite://dir/scimd.db` → `sqlite://dir/scimd-log.db`; an
/// in-memory database gets an in-memory log.
#[must_use]
pub fn log_url(data_url: &str) -> String {
    if data_url.contains(":memory:") || data_url.contains("mode=memory") {
        return "sqlite::memory:".to_owned();
    }
    let (path, query) = data_url.split_once('?').map_or((data_url, None), |(p, q)| (p, Some(q)));
    let path = match path.strip_suffix(".db") {
        Some(stem) => format!("{stem}-log.db"),
        None => format!("{path}-log"),
    };
    query.map_or(path.clone(), |q| format!("{path}?{q}"))
}

fn entry_from_row(row: &SqliteRow) -> Result<LogEntry> {
    scimd_store::rows::log_entry(&crate::Cols(row))
}

impl SqliteLogStore {
    /// Opens (creating if missing) and migrates the log database at `url` (see [`log_url`]).
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL: durable against a process crash, not a power cut — enough for a log, and it
            // spares the log an fsync per batch.
            .synchronous(SqliteSynchronous::Normal)
            // Appends touch the right edge of the table and its three indexes, and queries are
            // rare: 256 KiB of page cache, not SQLite's 2 MiB per connection (measured with heaptrack).
            .pragma("cache_size", "-256")
            .busy_timeout(Duration::from_secs(5));
        let memory = url.contains(":memory:");
        let health = WriteHealth::default();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            // A connection a failed batch left inside its transaction is replaced (`pool.rs`), so
            // the records that come after the fault are written.
            .after_release(clean_after_use(health.clone()))
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        // An in-memory database exists per connection: readers must share the writer's.
        let reader = if memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options.read_only(true))
                .await
                .map_err(map_err)?
        };
        sqlx::migrate!("./log_migrations").run(&writer).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(e),
            other => StoreError::Internal(format!("log migration failed: {other}")),
        })?;
        Ok(Self { writer, reader, health })
    }

    async fn append_batch(&self, entries: &[LogEntry]) -> Result<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
        // SQLite allows 32766 bound parameters per statement; 17 per row, so chunks of 500.
        for chunk in entries.chunks(500) {
            let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
                "INSERT OR IGNORE INTO log (id, time, tenant_id, credential_id, credential_name, credential_kind, client, \
                 method, path, status, scim_type, detail, duration_us, resource_id, request_body, request_id, response_body) ",
            );
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(e.id.to_string())
                    .push_bind(time_to_db(e.time))
                    .push_bind(e.tenant.to_string())
                    .push_bind(e.credential_id.clone())
                    .push_bind(e.credential_name.clone())
                    .push_bind(e.credential_kind.clone())
                    .push_bind(e.client.clone())
                    .push_bind(e.method.clone())
                    .push_bind(e.path.clone())
                    .push_bind(i64::from(e.status))
                    .push_bind(e.scim_type.clone())
                    .push_bind(e.detail.clone())
                    .push_bind(i64::try_from(e.duration_us).unwrap_or(i64::MAX))
                    .push_bind(e.resource_id.clone())
                    .push_bind(e.request_body.clone())
                    .push_bind(e.request_id.clone())
                    .push_bind(e.response_body.clone());
            });
            // Not kept in the connection's statement cache: every batch size is a statement of
            // its own, and sqlx kept up to 100 of them (SQLite: ~190 KB each, 8 MB of the
            // server's heap under load as measured by heaptrack). A batch is prepared once.
            qb.build().persistent(false).execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    /// Closes the pools.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl LogStore for SqliteLogStore {
    async fn append(&self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.health.record(self.append_batch(entries).await)
    }

    async fn query(&self, q: &LogQuery) -> Result<Vec<LogEntry>> {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("SELECT * FROM log WHERE tenant_id = ");
        qb.push_bind(q.tenant.to_string());
        if let Some((lo, hi)) = q.status {
            qb.push(" AND status BETWEEN ").push_bind(i64::from(lo)).push(" AND ").push_bind(i64::from(hi));
        }
        if let Some(since) = q.since {
            qb.push(" AND time >= ").push_bind(time_to_db(since));
        }
        if let Some(client) = &q.client {
            qb.push(" AND client = ").push_bind(client.clone());
        }
        if let Some(method) = &q.method {
            qb.push(" AND method = ").push_bind(method.clone());
        }
        if let Some(resource) = &q.resource {
            qb.push(" AND resource_id = ").push_bind(resource.clone());
        }
        if let Some(after) = q.after {
            qb.push(" AND id > ").push_bind(after.to_string()).push(" ORDER BY id ASC");
        } else {
            if let Some(before) = q.before {
                qb.push(" AND id < ").push_bind(before.to_string());
            }
            qb.push(" ORDER BY id DESC");
        }
        qb.push(" LIMIT ").push_bind(i64::from(q.limit));
        qb.build().fetch_all(&self.reader).await.map_err(map_err)?.iter().map(entry_from_row).collect()
    }

    async fn prune(&self, before: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM log WHERE time < ?1")
            .bind(time_to_db(before))
            .execute(&self.writer)
            .await
            .map_err(map_err);
        Ok(self.health.record(done)?.rows_affected())
    }

    async fn delete_tenant(&self, tenant: Uuid) -> Result<u64> {
        let sql = scimd_store::tenants::batch_delete(Dialect::Sqlite, "log", "id");
        let tenant = tenant.to_string();
        until_empty(|| async {
            let done = sqlx::query(&sql)
                .bind(&tenant)
                .bind(DELETION_BATCH)
                .execute(&self.writer)
                .await
                .map_err(map_err);
            Ok(self.health.record(done)?.rows_affected())
        })
        .await
    }

    /// After a failed write, a probe write must reach the log's disk (`write_health.rs`).
    async fn ping(&self) -> Result<()> {
        if !self.health.failing() {
            return Ok(());
        }
        let probe = async {
            let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
            let version: i64 =
                sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await.map_err(map_err)?;
            sqlx::query(&probe_sql(version)).execute(&mut *tx).await.map_err(map_err)?;
            tx.commit().await.map_err(map_err)
        };
        self.health.record(probe.await)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn log_urls() {
        assert_eq!(log_url("sqlite://scimd.db"), "sqlite://scimd-log.db");
        assert_eq!(
            log_url("sqlite:///var/lib/scimd/data.db?mode=rwc"),
            "sqlite:///var/lib/scimd/data-log.db?mode=rwc"
        );
        assert_eq!(log_url("sqlite://data"), "sqlite://data-log");
        assert_eq!(log_url("sqlite::memory:"), "sqlite::memory:");
    }

    fn entry(n: u128, tenant: Uuid, status: u16, minute: u8) -> LogEntry {
        LogEntry {
            id: Uuid::from_u128(n),
            time: datetime!(2026-11-23 10:00 UTC) + time::Duration::minutes(i64::from(minute)),
            tenant,
            credential_id: Some("t1".into()),
            credential_name: Some("entra".into()),
            credential_kind: Some("static_token".into()),
            client: "entra".into(),
            method: "POST".into(),
            path: "/scim/v2/Users".into(),
            status,
            scim_type: (status == 409).then(|| "uniqueness".into()),
            detail: None,
            duration_us: 1200,
            resource_id: None,
            request_body: Some("{}".into()),
            request_id: None,
            response_body: Some("{\"id\":\"x\"}".into()),
        }
    }

    #[tokio::test]
    async fn append_query_page_follow_prune() {
        let dir = tempfile::tempdir().unwrap();
        let url = log_url(&format!("sqlite://{}", dir.path().join("scimd.db").display()));
        let log = SqliteLogStore::open(&url).await.unwrap();
        assert!(dir.path().join("scimd-log.db").exists());
        let (a, b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
        let mut entries: Vec<_> =
            (1..=6).map(|n| entry(n, a, if n % 2 == 0 { 409 } else { 201 }, n as u8)).collect();
        // 3 and 5 are Okta's PATCHes of one resource.
        for e in entries.iter_mut().filter(|e| [3, 5].contains(&e.id.as_u128())) {
            e.client = "okta".into();
            e.method = "PATCH".into();
            e.resource_id = Some("r1".into());
        }
        log.append(&entries).await.unwrap();
        log.append(&[entry(7, b, 201, 7)]).await.unwrap();

        let q = |f: fn(&mut LogQuery)| {
            let mut q = LogQuery { tenant: a, limit: 100, ..LogQuery::default() };
            f(&mut q);
            q
        };
        let ids = |v: Vec<LogEntry>| v.iter().map(|e| e.id.as_u128()).collect::<Vec<_>>();
        assert_eq!(
            ids(log.query(&q(|_| {})).await.unwrap()),
            [6, 5, 4, 3, 2, 1],
            "newest first, own tenant only"
        );
        assert_eq!(log.query(&q(|_| {})).await.unwrap()[0], entries[5], "round trip");
        assert_eq!(ids(log.query(&q(|q| q.status = Some((400, 499)))).await.unwrap()), [6, 4, 2]);
        assert_eq!(
            ids(log
                .query(&q(|q| {
                    q.before = Some(Uuid::from_u128(4));
                    q.limit = 2
                }))
                .await
                .unwrap()),
            [3, 2]
        );
        assert_eq!(
            ids(log.query(&q(|q| q.after = Some(Uuid::from_u128(4)))).await.unwrap()),
            [5, 6],
            "following: oldest first"
        );
        assert_eq!(
            ids(log.query(&q(|q| q.since = Some(datetime!(2026-11-23 10:05 UTC)))).await.unwrap()),
            [6, 5]
        );
        assert_eq!(ids(log.query(&q(|q| q.client = Some("okta".into()))).await.unwrap()), [5, 3]);
        assert_eq!(ids(log.query(&q(|q| q.method = Some("POST".into()))).await.unwrap()), [6, 4, 2, 1]);
        assert_eq!(ids(log.query(&q(|q| q.resource = Some("r1".into()))).await.unwrap()), [5, 3]);
        assert_eq!(
            ids(log
                .query(&q(|q| {
                    q.resource = Some("r1".into());
                    q.status = Some((400, 499));
                }))
                .await
                .unwrap()),
            [] as [u128; 0],
            "filters combine"
        );
        assert_eq!(log.prune(datetime!(2026-11-23 10:03 UTC)).await.unwrap(), 2);
        assert_eq!(ids(log.query(&q(|_| {})).await.unwrap()), [6, 5, 4, 3]);
    }
}
