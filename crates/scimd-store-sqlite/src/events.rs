//! `EventStore` on SQLite: reads on the request path's reader connections, pruning on the resource
//! writer in small batches (each one savepoint of a group-commit batch, so writes wait for at most
//! one batch of deletes). What is read and pruned is `scimd_store::events`'s, shared with
//! PostgreSQL; events are appended by the write path itself (`resources.rs`).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_store::Result;
use scimd_store::events::{self, EventHead, EventPage, EventQuery, EventStats, EventStore};

use crate::SqliteStore;
use crate::resources::{run, run_read};

#[async_trait]
impl EventStore for SqliteStore {
    async fn events(&self, tenant: Uuid, query: &EventQuery) -> Result<EventPage> {
        let query = query.clone();
        self.readers
            .read(move |conn| run_read(conn, async |t| events::read_events(t, tenant, &query).await))
            .await
    }

    async fn event_head(&self, tenant: Uuid) -> Result<EventHead> {
        self.readers.read(move |conn| run_read(conn, async |t| events::read_head(t, tenant).await)).await
    }

    async fn prune_events(&self, before: OffsetDateTime, max: u32) -> Result<u64> {
        self.resource_writer
            .write(|tx, place| {
                // A batch of deletes is not a short statement: it runs where blocking is allowed.
                place.check(true)?;
                run(tx, async |t| events::prune(t, before, max).await)
            })
            .await
    }

    async fn event_stats(&self) -> Result<EventStats> {
        self.readers.read(move |conn| run_read(conn, async |t| events::stats(t).await)).await
    }
}
