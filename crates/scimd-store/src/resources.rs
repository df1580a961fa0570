//! The resource store: Users and Groups, their membership rows, audit records written in the
//! same transaction as the change they describe.

use async_trait::async_trait;
use scimd_schema::ResourceSchema;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{
    DocText, ListPage, ListQuery, MemberReport, NewResource, ResourceKind, StoredResource, Update,
    WriteContext,
};

/// The closure an update runs inside the store's transaction: given the current resource (members
/// not loaded), decide the change. Returning an error aborts the transaction with nothing written.
pub type UpdateFn<'a> = dyn Fn(&StoredResource) -> Result<Update> + Send + Sync + 'a;

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

    /// Read-modify-write of one resource (PUT and PATCH): reads the current state, runs `update`,
    /// checks `if_match` (RFC 7644 §3.14) and writes document, search rows, membership row changes
    /// and an audit record atomically. A no-op update (no document change, no member row changed)
    /// leaves the version alone. Returns the resource as stored afterwards (members not loaded).
    async fn update(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
        update: &UpdateFn<'_>,
    ) -> Result<(StoredResource, MemberReport)>;

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
