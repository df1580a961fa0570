//! Event numbers given after the commit (migration 0009 says why and what a reader can rely on).
//!
//! A write commits its events with placeholder numbers ([`PLACEHOLDER`]) and pays nothing more.
//! Whoever reads the log numbers what waits first: a read of a tenant's events or head
//! ([`number`], one round trip that writes nothing when nothing waits), an endpoint's creation or
//! replay, the delivery worker before it fans out (for the tenants with endpoints:
//! [`number_delivered`]), and every replica's sweep each second for the rest
//! ([`number_waiting`]). So a client that reads the log after its write's response sees the
//! write's events, as on SQLite, and one numbering transaction serves every write since the last
//! read: many writes per transaction under load, instead of one more transaction per write.

use sqlx::PgPool;
use uuid::Uuid;

use scimd_store::{Result, StoreError};

use crate::map_err;

/// Placeholders numbered per transaction at most: a PUT of 100,000 members numbers in a few
/// transactions of bounded size, so no transaction holds the tenant's head for long.
const BATCH: i64 = 10_000;

/// Each event's placeholder, as the write's `INSERT` computes it: the negated next value of the
/// `event_placeholders` sequence. PostgreSQL evaluates a multi-row `VALUES` row by row in order,
/// so a write's placeholders go down in its events' order, and the first is numbered first
/// ([`number`] goes up from the placeholder nearest zero). A sequence never blocks: writers of one
/// tenant on every replica take theirs at once.
pub(crate) const PLACEHOLDER: &str = "-nextval('event_placeholders')";

/// Numbers `tenant`'s placeholders, at most [`BATCH`] per transaction (`number_events`, migration
/// 0009: one round trip each); returns how many.
pub(crate) async fn number(pool: &PgPool, tenant: Uuid) -> Result<u64> {
    let tenant = tenant.to_string();
    let mut total = 0;
    loop {
        let numbered: i64 = sqlx::query_scalar("SELECT number_events($1, $2)")
            .bind(&tenant)
            .bind(BATCH)
            .fetch_one(pool)
            .await
            .map_err(map_err)?;
        total += u64::try_from(numbered).unwrap_or_default();
        if numbered < BATCH {
            return Ok(total);
        }
    }
}

/// Numbers every tenant's placeholders (found through the partial index of placeholders, which
/// holds only what waits); returns how many.
pub(crate) async fn number_waiting(pool: &PgPool) -> Result<u64> {
    number_each(pool, "SELECT DISTINCT tenant_id FROM events WHERE seq < 0").await
}

/// Numbers the placeholders of the tenants with an enabled delivery endpoint, before a fan-out:
/// a server without endpoints leaves numbering to readers and the sweep.
pub(crate) async fn number_delivered(pool: &PgPool) -> Result<u64> {
    number_each(
        pool,
        "SELECT DISTINCT e.tenant_id FROM events e WHERE e.seq < 0 AND EXISTS \
         (SELECT 1 FROM delivery_endpoints d WHERE d.tenant_id = e.tenant_id AND d.enabled)",
    )
    .await
}

/// Numbers the placeholders of each tenant `tenants` selects.
async fn number_each(pool: &PgPool, tenants: &'static str) -> Result<u64> {
    let tenants: Vec<String> = sqlx::query_scalar(tenants).fetch_all(pool).await.map_err(map_err)?;
    let mut total = 0;
    for t in tenants {
        let tenant =
            Uuid::parse_str(&t).map_err(|e| StoreError::Internal(format!("tenant id {t:?}: {e}")))?;
        total += number(pool, tenant).await?;
    }
    Ok(total)
}
