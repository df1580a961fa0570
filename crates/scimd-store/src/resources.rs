//! The resource store: Users and Groups, their membership rows, audit records written in the
//! same transaction as the change they describe.

use async_trait::async_trait;
use scimd_schema::ResourceSchema;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{
    DocText, ListPage, ListQuery, MemberReport, NewResource, ResourceKind, StoredResource, Update, Updated,
    WriteContext,
};

/// Users and Groups of one tenant at a time.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Inserts a resource with its members, its search index rows and an audit record, in one
    /// transaction. `userName` (Users) and `displayName` (Groups) are unique per tenant,
    /// case-insensitively, enforced by the database: a duplicate is [`crate::StoreError::Conflict`].
    async fn create(&self, ctx: &WriteContext, new: NewResource) -> Result<(StoredResource, MemberReport)>;

    /// Reads one resource, its document as stored text (a GET usually sends it unchanged:
    /// [`DocText`]); `with_members` loads Group members / User groups.
    async fn get(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        id: &str,
        with_members: bool,
    ) -> Result<Option<StoredResource<DocText>>>;

    /// Writes one PUT or PATCH computed by the caller (see [`Update`]): checks
    /// `update.expected_version` (RFC 7644 §3.14) against the row *inside* the write transaction,
    /// then writes document, search rows, membership row changes and an audit record atomically.
    /// The store runs no caller code and computes nothing from the document while it holds the
    /// write lock (SQLite's single writer, PostgreSQL's row lock): a PATCH that is slow to apply
    /// delays only itself. On [`crate::StoreError::VersionMismatch`] nothing was written; the
    /// caller re-reads and recomputes (so its computation may run more than once), or answers 412
    /// when the version was the client's `If-Match`. A no-op (no document, no member row changed,
    /// no password) leaves the version alone and writes no audit record.
    async fn update(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        update: Update,
    ) -> Result<Updated>;

    /// Deletes a resource and its memberships (both directions), with an audit record.
    async fn delete(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()>;

    /// Lists resources matching a filter, compiled to SQL (never evaluated in memory).
    async fn list(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        schema: &ResourceSchema,
        query: &ListQuery,
    ) -> Result<ListPage>;
}
