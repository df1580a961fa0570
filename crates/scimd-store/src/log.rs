//! The provisioning log (docs/operations.md, `scimd logs`): one record per SCIM request, so an admin can see
//! what an identity provider sent and what it got back ("check the provisioning logs", as vendors' setup
//! guides say).
//!
//! The log is kept apart from the data: on SQLite in its own database file with its own writer, so
//! recording a request never waits for, or holds up, a data write (the data file has one writer
//! and `synchronous=FULL`; the log tolerates losing its last moments on power loss). Records are
//! written in batches by a background task; the request path only queues them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;

/// One SCIM request as it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// UUIDv7: orders records by time and is the paging cursor.
    pub id: Uuid,
    /// When the request arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The tenant it acted in.
    pub tenant: Uuid,
    /// The credential's id (token id, or an access token's `jti`).
    pub credential_id: Option<String>,
    /// The credential's label (token name, or OAuth client id).
    pub credential_name: Option<String>,
    /// `static_token` or `oauth_access_token`.
    pub credential_kind: Option<String>,
    /// The identity provider the request looks like it came from: `entra`, `okta` or `other`.
    pub client: String,
    /// HTTP method.
    pub method: String,
    /// Path and query as received.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// The error's `scimType`, if any.
    pub scim_type: Option<String>,
    /// The error's `detail`, if any.
    pub detail: Option<String>,
    /// Time to the response, in microseconds.
    pub duration_us: u64,
    /// The resource the request concerned, if one.
    pub resource_id: Option<String>,
    /// The request body with secrets (`password`) replaced by `"***"`, truncated.
    pub request_body: Option<String>,
    /// The request id (also in the server's own log lines).
    pub request_id: Option<String>,
    /// The response body of a write or an error, secrets replaced, truncated; a note of its size
    /// when it was too large to keep; `None` for reads (their answer can be read again).
    #[serde(default)]
    pub response_body: Option<String>,
}

/// What to read from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// The tenant (always one: the log is read per tenant).
    pub tenant: Uuid,
    /// Only these statuses: `(400, 499)` for `4xx`, `(404, 404)` for one status.
    pub status: Option<(u16, u16)>,
    /// Only records at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only requests from this client, as [`LogEntry::client`] names it (`entra`, `okta`, `other`).
    pub client: Option<String>,
    /// Only requests with this HTTP method (upper-case, as recorded).
    pub method: Option<String>,
    /// Only requests about this resource id (a resource's provisioning history).
    pub resource: Option<String>,
    /// Records strictly older than this id, newest first (paging back through the log).
    pub before: Option<Uuid>,
    /// Records strictly newer than this id, oldest first (following the log). Takes precedence
    /// over `before`.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// Where the provisioning log is kept.
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Appends records (one transaction for the batch).
    async fn append(&self, entries: &[LogEntry]) -> Result<()>;
    /// Reads records, newest first (or oldest first with `after`).
    async fn query(&self, q: &LogQuery) -> Result<Vec<LogEntry>>;
    /// Deletes records older than `before` (retention); returns how many.
    async fn prune(&self, before: OffsetDateTime) -> Result<u64>;
    /// Deletes every record of a tenant that is being deleted
    /// ([`crate::TenantStore::delete_tenant`]), in transactions of at most
    /// [`crate::tenants::DELETION_BATCH`] rows; returns how many.
    async fn delete_tenant(&self, tenant: Uuid) -> Result<u64>;
    /// Answers when records can be written (`/readyz`): a store that remembers a failed write
    /// checks that writes reach its disk again. By default, always.
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
