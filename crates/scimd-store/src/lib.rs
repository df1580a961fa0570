//! Storage for scimd: the traits every backend implements, the records they hold, the clock, and
//! the filter→SQL compiler the backends share.
//!
//! Backends (`scimd-store-sqlite`, `scimd-store-postgres`) implement [`Store`]; everything above
//! them (HTTP, OAuth) sees only these traits, so the same conformance suite runs against each.
#![warn(missing_docs)]

pub mod clock;
pub mod credentials;
pub mod error;
pub mod log;
pub mod model;
pub mod oauth;
pub mod resources;
pub mod search;
pub mod sql;
pub mod tenants;
pub mod token;

pub use clock::{Clock, MockClock, SystemClock};
pub use credentials::{CredentialStore, NewToken, TokenRecord};
pub use error::{Result, StoreError};
pub use log::{LogEntry, LogQuery, LogStore};
pub use model::*;
pub use oauth::OAuthStore;
pub use resources::{ResourceStore, UpdateFn};
pub use search::search_document;
pub use tenants::TenantStore;
pub use token::TokenSecret;

/// Everything a backend provides: what the HTTP layer holds as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store: TenantStore + CredentialStore + ResourceStore + OAuthStore + Send + Sync + 'static {
    /// Answers when the database does (`/readyz`): [`StoreError::Unavailable`] when it does not.
    async fn ping(&self) -> Result<()>;

    /// Applies the backend's embedded migrations that have not been applied yet (idempotent).
    async fn migrate(&self) -> Result<()>;

    /// Closes the connections, waiting for those in use to be returned.
    async fn close(&self);
}
