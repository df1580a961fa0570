//! `DeliveryStore` on PostgreSQL: every statement is `scimd_store::delivery`'s, shared with
//! SQLite. Each call is one transaction; claims and fan-outs lock with `FOR UPDATE SKIP LOCKED`,
//! so replicas share the work without taking the same delivery at once.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_store::Result;
use scimd_store::delivery::{
    self, Backlog, Claimed, DeliveryRecord, DeliveryState, DeliveryStore, Endpoint, NewEndpoint, Outcome,
    Ping, ReplayFrom, Replayed, SigningSecret,
};

use crate::resources::PgTx;
use crate::{PgStore, map_err};

impl PgStore {
    /// Runs `f` in a transaction and commits it.
    async fn in_tx<T>(&self, f: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<T>) -> Result<T> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let out = f(&mut PgTx(&mut tx)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    /// Runs `f` on a pooled connection (reads).
    async fn on_conn<T>(&self, f: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        f(&mut PgTx(&mut conn)).await
    }
}

#[async_trait]
impl DeliveryStore for PgStore {
    async fn create_endpoint(&self, new: NewEndpoint) -> Result<Endpoint> {
        // It starts at the head: what the writes before it left as placeholders is numbered
        // first, so that it is before the endpoint's start, as it was written (`sequencer.rs`).
        crate::sequencer::number(&self.pool, new.tenant).await?;
        self.in_tx(async |t| delivery::create_endpoint(t, &new).await).await
    }

    async fn endpoints(&self, tenant: Uuid) -> Result<Vec<Endpoint>> {
        self.on_conn(async |t| delivery::endpoints(t, tenant, None).await).await
    }

    async fn endpoint(&self, tenant: Uuid, id: Uuid) -> Result<Option<Endpoint>> {
        self.on_conn(async |t| delivery::endpoint(t, tenant, id).await).await
    }

    async fn delete_endpoint(&self, tenant: Uuid, id: Uuid) -> Result<bool> {
        self.in_tx(async |t| delivery::delete_endpoint(t, tenant, id).await).await
    }

    async fn set_endpoint_enabled(&self, tenant: Uuid, id: Uuid, enabled: bool) -> Result<bool> {
        self.in_tx(async |t| delivery::set_endpoint_enabled(t, tenant, id, enabled).await).await
    }

    async fn rotate_secret(
        &self,
        tenant: Uuid,
        id: Uuid,
        secret: SigningSecret,
        previous_until: OffsetDateTime,
    ) -> Result<bool> {
        self.in_tx(async |t| delivery::rotate_secret(t, tenant, id, &secret, previous_until).await).await
    }

    async fn fan_out(&self, now: OffsetDateTime, max: u32) -> Result<u64> {
        // What the writes since the last read left as placeholders is numbered first: a fan-out
        // reads events up to the head (`sequencer.rs`).
        crate::sequencer::number_delivered(&self.pool).await?;
        let clock = self.clock.clone();
        self.in_tx(async |t| delivery::fan_out(t, now, max, &*clock).await).await
    }

    async fn claim(&self, now: OffsetDateTime, lease: time::Duration, limit: u32) -> Result<Vec<Claimed>> {
        self.in_tx(async |t| delivery::claim(t, now, lease, limit).await).await
    }

    async fn complete(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        outcome: Outcome,
        disable_after: time::Duration,
    ) -> Result<()> {
        self.in_tx(async |t| delivery::complete(t, id, now, &outcome, disable_after).await).await
    }

    async fn next_due(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>> {
        self.on_conn(async |t| delivery::next_due(t, now).await).await
    }

    async fn deliveries(
        &self,
        tenant: Uuid,
        endpoint: Uuid,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        self.on_conn(async |t| delivery::deliveries(t, tenant, endpoint, state, limit).await).await
    }

    async fn replay(
        &self,
        tenant: Uuid,
        endpoint: Uuid,
        from: ReplayFrom,
        now: OffsetDateTime,
        max: u32,
    ) -> Result<Replayed> {
        // `--since` and the head are read from numbered events only.
        crate::sequencer::number(&self.pool, tenant).await?;
        let clock = self.clock.clone();
        self.in_tx(async |t| delivery::replay(t, tenant, endpoint, from, now, max, &*clock).await).await
    }

    async fn queue_ping(&self, tenant: Uuid, endpoint: Uuid, ping: Ping) -> Result<bool> {
        self.in_tx(async |t| delivery::queue_ping(t, tenant, endpoint, &ping).await).await
    }

    async fn backlogs(&self) -> Result<Vec<Backlog>> {
        self.on_conn(async |t| delivery::backlogs(t).await).await
    }

    async fn prune_deliveries(&self, before: OffsetDateTime, max: u32) -> Result<u64> {
        self.in_tx(async |t| delivery::prune_deliveries(t, before, max).await).await
    }
}
