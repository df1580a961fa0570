//! [`LogStore`] on PostgreSQL: the `log` table of migration 0005, in the one database every replica
//! shares, on a pool of its own so that recording requests never takes connections from the data
//! path.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use scimd_store::sql::Dialect;
use scimd_store::tenants::{DELETION_BATCH, until_empty};
use scimd_store::{LogEntry, LogQuery, LogStore, Result};
use uuid::Uuid;

use crate::{PgOptions, map_err, time_to_db};

/// The provisioning log's table. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgLogStore {
    pool: PgPool,
}

fn entry_from_row(row: &PgRow) -> Result<LogEntry> {
    scimd_store::rows::log_entry(&crate::Cols(row))
}

impl PgLogStore {
    /// A log store on the database at `url`, with a small pool of its own (at most two
    /// connections: the log is written in batches, off the request path). The table comes with the
    /// data migrations ([`crate::PgStore::migrate`]); this does not migrate.
    ///
    /// Errors: [`scimd_store::StoreError::Internal`] for a malformed URL.
    pub fn open(url: &str, options: &PgOptions) -> Result<Self> {
        let small = PgOptions { max_connections: 2, min_connections: 0, ..options.clone() };
        Ok(Self { pool: crate::pool(url, &small)? })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl LogStore for PgLogStore {
    async fn append(&self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // PostgreSQL allows 65535 bound parameters per statement; 17 per row, so chunks of 500.
        for chunk in entries.chunks(500) {
            let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
                "INSERT INTO log (id, time, tenant_id, credential_id, credential_name, credential_kind, client, \
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
                    .push_bind(i32::from(e.status))
                    .push_bind(e.scim_type.clone())
                    .push_bind(e.detail.clone())
                    .push_bind(i64::try_from(e.duration_us).unwrap_or(i64::MAX))
                    .push_bind(e.resource_id.clone())
                    .push_bind(e.request_body.clone())
                    .push_bind(e.request_id.clone())
                    .push_bind(e.response_body.clone());
            });
            // A batch retried after a lost acknowledgement repeats ids: recorded once.
            qb.push(" ON CONFLICT (id) DO NOTHING");
            // Not kept in the connection's statement cache: every batch size is a statement of
            // its own, and sqlx kept up to 100 of them (SQLite: ~190 KB each, 8 MB of the
            // server's heap under load as measured by heaptrack). A batch is prepared once.
            qb.build().persistent(false).execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn query(&self, q: &LogQuery) -> Result<Vec<LogEntry>> {
        let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("SELECT * FROM log WHERE tenant_id = ");
        qb.push_bind(q.tenant.to_string());
        if let Some((lo, hi)) = q.status {
            qb.push(" AND status BETWEEN ").push_bind(i32::from(lo)).push(" AND ").push_bind(i32::from(hi));
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
        qb.build().fetch_all(&self.pool).await.map_err(map_err)?.iter().map(entry_from_row).collect()
    }

    async fn delete_tenant(&self, tenant: Uuid) -> Result<u64> {
        let sql = scimd_store::tenants::batch_delete(Dialect::Postgres, "log", "id");
        let tenant = tenant.to_string();
        until_empty(|| async {
            let done = sqlx::query(&sql).bind(&tenant).bind(DELETION_BATCH).execute(&self.pool).await;
            Ok(done.map_err(map_err)?.rows_affected())
        })
        .await
    }

    async fn prune(&self, before: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM log WHERE time < $1")
            .bind(time_to_db(before))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
