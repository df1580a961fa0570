//! Storage for scimd: the traits every backend implements, the records they hold, the clock, and
//! the filter→SQL compiler the backends share.
//!
//! Backends (`scimd-store-sqlite`, `scimd-store-postgres`) implement [`Store`]; everything above
//! them (HTTP, OAuth) sees only these traits, so the same conformance suite runs against each.
#![warn(missing_docs)]

pub mod clock;
pub mod credentials;
pub mod delivery;
pub mod error;
pub mod events;
pub mod log;
pub mod model;
pub mod oauth;
pub mod plan;
pub mod resources;
pub mod rows;
pub mod search;
pub mod sql;
pub mod tenants;
pub mod token;
pub mod write;

pub use clock::{Clock, MockClock, SystemClock};
pub use credentials::{CredentialStore, NewToken, TokenRecord};
pub use delivery::DeliveryStore;
pub use error::{Result, StoreError};
pub use events::{
    EventHead, EventPage, EventQuery, EventSignal, EventStats, EventStore, EventType, StoredEvent, TypeFilter,
};
pub use log::{LogEntry, LogQuery, LogStore};
pub use model::*;
pub use oauth::OAuthStore;
pub use resources::ResourceStore;
pub use search::search_document;
pub use tenants::{TenantDeletion, TenantStore};
pub use token::TokenSecret;

/// Everything a backend provides: what the HTTP layer holds as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store:
    TenantStore
    + CredentialStore
    + ResourceStore
    + OAuthStore
    + EventStore
    + DeliveryStore
    + Send
    + Sync
    + 'static
{
    /// What wakes readers of the event log when this process commits events.
    fn event_signal(&self) -> &EventSignal;

    /// Answers when the database does (`/readyz`): [`StoreError::Unavailable`] when it does not,
    /// or when its last write failed and a probe write does not reach the disk yet.
    async fn ping(&self) -> Result<()>;

    /// Applies the backend's embedded migrations that have not been applied yet (idempotent);
    /// returns those it applied (`version description`), empty when the database was up to date.
    async fn migrate(&self) -> Result<Vec<String>>;

    /// Closes the connections, waiting for those in use to be returned.
    async fn close(&self);

    /// The static token whose SHA-256 digest is `digest`, with its tenant (`None` if the tenant is
    /// gone): what authenticating each request reads. The default makes the two calls
    /// [`CredentialStore::token_by_digest`] and [`TenantStore::tenant_by_id`]; a backend for which
    /// each call has a fixed cost (a round trip) answers both in one.
    async fn token_and_tenant(&self, digest: &[u8; 32]) -> Result<Option<(TokenRecord, Option<Tenant>)>> {
        let Some(record) = self.token_by_digest(digest).await? else { return Ok(None) };
        let tenant = self.tenant_by_id(record.tenant).await?;
        Ok(Some((record, tenant)))
    }
}
