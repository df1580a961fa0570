//! `DeliveryStore` on SQLite: every statement is `scimd_store::delivery`'s, shared with
//! PostgreSQL. Writes join the resource writer's group-commit batches, whose single writer makes
//! each claim and each fan-out atomic; reads run on the reader pool.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_store::Result;
use scimd_store::delivery::{
    self, Backlog, Claimed, DeliveryRecord, DeliveryState, DeliveryStore, Endpoint, NewEndpoint, Outcome,
    Ping, ReplayFrom, Replayed, SigningSecret,
};

use crate::SqliteStore;
use crate::resources::{run, run_read};

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn create_endpoint(&self, new: NewEndpoint) -> Result<Endpoint> {
        self.resource_writer.write(|tx, _| run(tx, async |t| delivery::create_endpoint(t, &new).await)).await
    }

    async fn endpoints(&self, tenant: Uuid) -> Result<Vec<Endpoint>> {
        self.readers
            .read(move |conn| run_read(conn, async |t| delivery::endpoints(t, tenant, None).await))
            .await
    }

    async fn endpoint(&self, tenant: Uuid, id: Uuid) -> Result<Option<Endpoint>> {
        self.readers.read(move |conn| run_read(conn, async |t| delivery::endpoint(t, tenant, id).await)).await
    }

    async fn delete_endpoint(&self, tenant: Uuid, id: Uuid) -> Result<bool> {
        self.resource_writer
            .write(|tx, place| {
                // Its deliveries go with it: as many rows as it had events.
                place.check(true)?;
                run(tx, async |t| delivery::delete_endpoint(t, tenant, id).await)
            })
            .await
    }

    async fn set_endpoint_enabled(&self, tenant: Uuid, id: Uuid, enabled: bool) -> Result<bool> {
        self.resource_writer
            .write(|tx, _| run(tx, async |t| delivery::set_endpoint_enabled(t, tenant, id, enabled).await))
            .await
    }

    async fn rotate_secret(
        &self,
        tenant: Uuid,
        id: Uuid,
        secret: SigningSecret,
        previous_until: OffsetDateTime,
    ) -> Result<bool> {
        self.resource_writer
            .write(|tx, _| {
                run(tx, async |t| delivery::rotate_secret(t, tenant, id, &secret, previous_until).await)
            })
            .await
    }

    async fn fan_out(&self, now: OffsetDateTime, max: u32) -> Result<u64> {
        // Asked on a reader first: the writer's batches are the resource writes' throughput.
        if !self.readers.read(move |conn| run_read(conn, async |t| delivery::any_behind(t).await)).await? {
            return Ok(0);
        }
        let clock = &*self.clock;
        self.resource_writer
            .write(|tx, place| {
                place.check(true)?;
                run(tx, async |t| delivery::fan_out(t, now, max, clock).await)
            })
            .await
    }

    async fn claim(&self, now: OffsetDateTime, lease: time::Duration, limit: u32) -> Result<Vec<Claimed>> {
        self.resource_writer
            .write(|tx, place| {
                place.check(true)?;
                run(tx, async |t| delivery::claim(t, now, lease, limit).await)
            })
            .await
    }

    async fn complete(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        outcome: Outcome,
        disable_after: time::Duration,
    ) -> Result<()> {
        self.resource_writer
            .write(|tx, _| run(tx, async |t| delivery::complete(t, id, now, &outcome, disable_after).await))
            .await
    }

    async fn next_due(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>> {
        self.readers.read(move |conn| run_read(conn, async |t| delivery::next_due(t, now).await)).await
    }

    async fn deliveries(
        &self,
        tenant: Uuid,
        endpoint: Uuid,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        self.readers
            .read(move |conn| {
                run_read(conn, async |t| delivery::deliveries(t, tenant, endpoint, state, limit).await)
            })
            .await
    }

    async fn replay(
        &self,
        tenant: Uuid,
        endpoint: Uuid,
        from: ReplayFrom,
        now: OffsetDateTime,
        max: u32,
    ) -> Result<Replayed> {
        let clock = &*self.clock;
        self.resource_writer
            .write(|tx, place| {
                place.check(true)?;
                run(tx, async |t| delivery::replay(t, tenant, endpoint, from, now, max, clock).await)
            })
            .await
    }

    async fn queue_ping(&self, tenant: Uuid, endpoint: Uuid, ping: Ping) -> Result<bool> {
        self.resource_writer
            .write(|tx, _| run(tx, async |t| delivery::queue_ping(t, tenant, endpoint, &ping).await))
            .await
    }

    async fn backlogs(&self) -> Result<Vec<Backlog>> {
        self.readers.read(move |conn| run_read(conn, async |t| delivery::backlogs(t).await)).await
    }

    async fn prune_deliveries(&self, before: OffsetDateTime, max: u32) -> Result<u64> {
        self.resource_writer
            .write(|tx, place| {
                place.check(true)?;
                run(tx, async |t| delivery::prune_deliveries(t, before, max).await)
            })
            .await
    }
}
