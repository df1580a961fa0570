//! `EventStore` on PostgreSQL: what is read and pruned is `scimd_store::events`'s, shared with
//! SQLite; events are appended by the write path itself (`resources.rs`) and numbered after the
//! commit, by the first read that finds them (`sequencer.rs`).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_store::Result;
use scimd_store::events::{self, EventHead, EventPage, EventQuery, EventStats, EventStore};

use crate::resources::PgTx;
use crate::sequencer;
use crate::{PgStore, map_err};

#[async_trait]
impl EventStore for PgStore {
    async fn events(&self, tenant: Uuid, query: &EventQuery) -> Result<EventPage> {
        sequencer::number(&self.pool, tenant).await?;
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        events::read_events(&mut PgTx(&mut conn), tenant, query).await
    }

    async fn event_head(&self, tenant: Uuid) -> Result<EventHead> {
        sequencer::number(&self.pool, tenant).await?;
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        events::read_head(&mut PgTx(&mut conn), tenant).await
    }

    async fn prune_events(&self, before: OffsetDateTime, max: u32) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let n = events::prune(&mut PgTx(&mut tx), before, max).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(n)
    }

    async fn event_stats(&self) -> Result<EventStats> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        events::stats(&mut PgTx(&mut conn)).await
    }

    async fn number_waiting(&self) -> Result<u64> {
        sequencer::number_waiting(&self.pool).await
    }
}
