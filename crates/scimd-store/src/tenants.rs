//! Tenants: the top of every key (docs/architecture.md "Data").
//!
//! A tenant is created by an operator (`scimd tenant create`) and named in URLs by its slug
//! (`/tenants/{slug}/scim/v2`). Credentials belong to one tenant; resources are keyed by it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{DomainRecord, Tenant, TenantSettings};
use crate::sql::Dialect;

/// Creating and finding tenants.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant with a fresh id and the clock's time.
    ///
    /// Errors: [`crate::StoreError::Conflict`] (`"slug"`) when the slug is taken.
    async fn create_tenant(&self, slug: &str) -> Result<Tenant>;

    /// The tenant with this slug (slugs compare exactly), if any.
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>>;

    /// The tenant with this id, if any.
    async fn tenant_by_id(&self, id: Uuid) -> Result<Option<Tenant>>;

    /// Replaces the tenant's settings. Errors: [`crate::StoreError::NotFound`].
    async fn update_tenant_settings(&self, id: Uuid, settings: &TenantSettings) -> Result<Tenant>;

    /// Claims a domain for the tenant (lower-cased) with its verification token. Errors:
    /// `Conflict("domain")` when the tenant has it already, `NotFound` without the tenant.
    async fn add_domain(&self, tenant: Uuid, domain: &str, token: &str) -> Result<DomainRecord>;

    /// The tenant's domains, in the order added.
    async fn list_domains(&self, tenant: Uuid) -> Result<Vec<DomainRecord>>;

    /// Marks a domain verified at the clock's time. Errors: `NotFound`.
    async fn mark_domain_verified(&self, tenant: Uuid, domain: &str) -> Result<DomainRecord>;

    /// Drops a domain. Errors: `NotFound`.
    async fn remove_domain(&self, tenant: Uuid, domain: &str) -> Result<()>;

    /// Every tenant, by slug (operators' console; `scimd tenant list`).
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    /// How many tenants exist (`serve` bootstraps tenant `default` when there are none).
    async fn tenant_count(&self) -> Result<u64>;

    /// Deletes the tenant and every row of it ([`delete_in_batches`]): credentials first, so its
    /// clients are refused from the first step on, then its data in transactions of at most
    /// [`DELETION_BATCH`] rows, so that deleting a tenant of a million users never holds the
    /// write lock (SQLite) or a long transaction (PostgreSQL) other tenants' writes wait for.
    /// Interrupted, it leaves a smaller tenant, and deleting it again finishes the work. The
    /// provisioning log is not in this store: [`crate::LogStore::delete_tenant`].
    ///
    /// Errors: [`crate::StoreError::NotFound`] when no such tenant exists.
    async fn delete_tenant(&self, id: Uuid) -> Result<TenantDeletion>;
}

/// What deleting a tenant removed: rows per table, for the operator's record (`scimd tenant
/// delete` prints it). Rows removed by a foreign key's `ON DELETE CASCADE` (a resource's indexed
/// values, an OAuth client's grants and codes, an admin's sessions) are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TenantDeletion {
    /// Rows removed from each table, by table name.
    pub rows: BTreeMap<&'static str, u64>,
}

/// Rows one transaction of a tenant's deletion removes at most. A thousand rows with their
/// cascades (a resource's few indexed values) commit in milliseconds on either backend, so writes
/// of other tenants interleave with a deletion instead of queueing behind it.
pub const DELETION_BATCH: i64 = 1_000;

/// The tables a tenant's deletion empties, in order, with the key that picks a batch of rows.
///
/// Credentials go first (static tokens, OAuth clients with their grants, codes and refresh
/// tokens, admins with their sessions, event-delivery endpoints once their deliveries are gone),
/// so nothing of the tenant authenticates while its data is removed. `members` goes before
/// `resources`: a group of 100,000 members would otherwise leave in one cascade. What is left
/// after these steps (`event_heads`, `resource_counts`, rows written by a request that was still
/// in flight) goes with the `tenants` row, by its foreign keys' cascades.
const DELETION_TABLES: &[(&str, &str)] = &[
    ("tokens", "id"),
    ("oauth_clients", "client_id"),
    ("oauth_admins", "id"),
    ("deliveries", "id"),
    ("delivery_endpoints", "id"),
    ("tenant_domains", "domain"),
    ("events", "seq"),
    ("audit", "seq"),
    ("members", "group_id, member_id"),
    ("resources", "id"),
];

/// One step of a tenant's deletion ([`TenantStore::delete_tenant`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct DeletionStep {
    /// The table it empties.
    table: &'static str,
    /// Deletes at most one batch of the tenant's rows: binds the tenant id (first placeholder)
    /// and [`DELETION_BATCH`] (second). Run it until it deletes nothing.
    sql: String,
}

/// The statements that delete a tenant's rows, in the order to run them, for `dialect`'s
/// placeholders; after them, `DELETE FROM tenants WHERE id = <first placeholder>`
/// ([`delete_tenant_row`]). Both backends run these same statements: what a deletion removes is
/// decided here once.
fn deletion_steps(dialect: Dialect) -> Vec<DeletionStep> {
    DELETION_TABLES
        .iter()
        .map(|&(table, key)| DeletionStep { table, sql: batch_delete(dialect, table, key) })
        .collect()
}

/// Deletes at most one batch of a tenant's rows of `table`, picked by `key` (one column or a
/// comma-separated few): binds the tenant id and the batch size. Also the provisioning log's
/// ([`crate::LogStore::delete_tenant`]).
#[must_use]
pub fn batch_delete(dialect: Dialect, table: &str, key: &str) -> String {
    let (tenant, limit) = placeholders(dialect);
    // A row-value IN keeps the statement the same for one key column and for two (SQLite 3.15
    // and later, PostgreSQL).
    format!(
        "DELETE FROM {table} WHERE tenant_id = {tenant} AND ({key}) IN \
         (SELECT {key} FROM {table} WHERE tenant_id = {tenant} LIMIT {limit})"
    )
}

/// The last statement of a tenant's deletion: the `tenants` row, binding the tenant id.
fn delete_tenant_row(dialect: Dialect) -> String {
    format!("DELETE FROM tenants WHERE id = {}", placeholders(dialect).0)
}

/// [`TenantStore::delete_tenant`] for a backend that can run one statement in one short
/// transaction: `run(sql, limit)` binds the tenant id to the first placeholder and, when given,
/// the batch size to the second, and returns the rows it deleted. Both backends delete through
/// this, so what a deletion removes, in what order and in what batches is decided once.
///
/// # Errors
/// `NotFound` when no tenant row was left to delete (none existed, or a concurrent deletion won);
/// otherwise the first failed statement's, the batches before it staying committed.
pub async fn delete_in_batches<R, Fut>(dialect: Dialect, mut run: R) -> Result<TenantDeletion>
where
    R: FnMut(String, Option<i64>) -> Fut,
    Fut: std::future::Future<Output = Result<u64>>,
{
    let mut deletion = TenantDeletion::default();
    for step in deletion_steps(dialect) {
        let n = until_empty(|| run(step.sql.clone(), Some(DELETION_BATCH))).await?;
        deletion.rows.insert(step.table, n);
    }
    match run(delete_tenant_row(dialect), None).await? {
        0 => Err(crate::StoreError::NotFound),
        n => {
            deletion.rows.insert("tenants", n);
            Ok(deletion)
        }
    }
}

/// Runs `batch` (one transaction deleting at most [`DELETION_BATCH`] rows, returning how many)
/// until it deletes nothing; returns the total.
///
/// # Errors
/// The first batch's error; the batches before it stay committed.
pub async fn until_empty<F, Fut>(mut batch: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64>>,
{
    let mut total = 0;
    loop {
        match batch().await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

fn placeholders(dialect: Dialect) -> (&'static str, &'static str) {
    match dialect {
        Dialect::Sqlite => ("?1", "?2"),
        Dialect::Postgres => ("$1", "$2"),
    }
}

/// Whether `slug` may name a tenant: 1–63 characters of `a-z`, `0-9` and `-`, starting with a letter
/// or digit. Slugs appear in URL paths (`/tenants/{slug}/scim/v2`), so they are kept to characters
/// that need no percent-encoding and that compare the same in every database collation.
#[must_use]
pub fn valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::{Dialect, deletion_steps, valid_slug};

    #[test]
    fn deletion_removes_credentials_before_data_and_members_before_resources() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let steps = deletion_steps(dialect);
            let at = |t: &str| steps.iter().position(|s| s.table == t).unwrap();
            assert!(at("tokens") < at("resources") && at("oauth_clients") < at("resources"));
            assert!(at("deliveries") < at("delivery_endpoints"), "deliveries in batches, not by cascade");
            assert!(at("members") < at("resources"), "a large group's members in batches");
            for s in &steps {
                assert!(
                    s.sql.starts_with(&format!("DELETE FROM {} WHERE tenant_id = ", s.table)),
                    "{}",
                    s.sql
                );
            }
        }
        assert!(
            deletion_steps(Dialect::Postgres)[0].sql.contains("$1")
                && !deletion_steps(Dialect::Sqlite)[0].sql.contains('$')
        );
    }

    #[test]
    fn slugs() {
        assert!(valid_slug("default"));
        assert!(valid_slug("acme-2"));
        assert!(valid_slug("9lives"));
        assert!(!valid_slug(""));
        assert!(!valid_slug("-acme"));
        assert!(!valid_slug("Acme"));
        assert!(!valid_slug("a/b"));
        assert!(!valid_slug(&"a".repeat(64)));
    }
}
