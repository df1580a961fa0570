//! Tenants: the top of every key (docs/architecture.md "Data").
//!
//! A tenant is created by an operator (`scimd tenant create`) and named in URLs by its slug
//! (`/tenants/{slug}/scim/v2`). Credentials belong to one tenant; resources are keyed by it.

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{DomainRecord, Tenant, TenantSettings};

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
    use super::valid_slug;

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
