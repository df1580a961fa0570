//! Verified domains (docs/operations.md, `scimd domain`): a tenant claims a domain, publishes a DNS
//! TXT record, and once the record is found only userNames and emails in its verified domains can
//! be set. One implementation for the command line, the admin API and the console.
//!
//! The record is `_scimd-challenge.<domain>` TXT `scimd-verification=<token>`: a subdomain of its
//! own, so it does not crowd the domain's apex TXT records (SPF and others), in the style of ACME's
//! `_acme-challenge` (RFC 8555 §8.4).

use std::net::SocketAddr;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;

use scimd_store::{Clock, DomainRecord, Store, StoreError, Tenant};

/// The label the TXT record sits under.
pub const CHALLENGE_LABEL: &str = "_scimd-challenge";
/// The prefix of the TXT record's value.
pub const VALUE_PREFIX: &str = "scimd-verification=";

/// Why a domain could not be claimed, verified or removed; each worded for the person asking.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Not a domain name.
    #[error("{0:?} is not a domain name")]
    Invalid(String),
    /// The tenant has claimed it already.
    #[error("this tenant has claimed {0} already")]
    Claimed(String),
    /// The tenant has not claimed it.
    #[error("this tenant has not claimed {0}")]
    NotClaimed(String),
    /// The TXT record is not (yet) there.
    #[error(
        "{CHALLENGE_LABEL}.{domain} has no TXT record \"{expected}\" (found: {found:?}); DNS changes can take a while to spread"
    )]
    NotPublished {
        /// The domain.
        domain: String,
        /// The value looked for.
        expected: String,
        /// The values found.
        found: Vec<String>,
    },
    /// The lookup itself failed.
    #[error("{0}")]
    Lookup(String),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}

impl From<DomainError> for crate::ApiError {
    fn from(e: DomainError) -> Self {
        use scimd_schema::{ScimError, ScimType};
        match e {
            DomainError::Store(e) => e.into(),
            DomainError::NotClaimed(_) => ScimError::not_found(e.to_string()).into(),
            // RFC 7644 §3.12: 409 uniqueness, as for any value already taken.
            DomainError::Claimed(_) => ScimError::new(ScimType::Uniqueness, e.to_string()).into(),
            DomainError::Invalid(_) | DomainError::NotPublished { .. } => {
                ScimError::invalid_value(e.to_string()).into()
            }
            // RFC 9110 §15.6.3: the DNS server, upstream of this request, failed it.
            DomainError::Lookup(_) => ScimError::status(502, e.to_string()).into(),
        }
    }
}

/// RFC 1035 §2.3.1 / RFC 1123 §2.1: dot-separated labels of letters, digits and hyphens, not
/// starting or ending with a hyphen, at most 63 characters each and 253 in all, at least two labels.
#[must_use]
pub fn valid_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The form a domain is stored and compared in: lower-case, without the root's trailing dot
/// (RFC 4343: DNS names compare case-insensitively).
#[must_use]
pub fn normalise(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn new_token(clock: &dyn Clock) -> String {
    let mut bytes = [0u8; 16];
    clock.random_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record to publish, in zone-file syntax (RFC 1035 §5.1).
#[must_use]
pub fn txt_record(domain: &str, token: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}. 3600 IN TXT \"{VALUE_PREFIX}{token}\"")
}

/// The TXT values published at `_scimd-challenge.<domain>`, through the system resolver or
/// `server` (a DNS server's address, for tests and split-horizon setups).
async fn txt_values(domain: &str, server: Option<SocketAddr>) -> Result<Vec<String>, String> {
    let resolver = match server {
        Some(addr) => {
            let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
            .build()
        }
        None => Resolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?
            .build(),
    };
    // The trailing dot makes the name absolute: no search domains are appended.
    let name = format!("{CHALLENGE_LABEL}.{domain}.");
    match resolver.txt_lookup(name.as_str()).await {
        Ok(lookup) => Ok(lookup
            .iter()
            .map(|txt| {
                txt.txt_data()
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>()
            })
            .collect()),
        Err(e) if e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(format!("DNS lookup of {name} failed: {e}")),
    }
}

/// Claims `domain` for the tenant with a new verification token.
pub async fn add(
    store: &dyn Store,
    clock: &dyn Clock,
    tenant: &Tenant,
    domain: &str,
) -> Result<DomainRecord, DomainError> {
    let domain = normalise(domain);
    if !valid_domain(&domain) {
        return Err(DomainError::Invalid(domain));
    }
    store.add_domain(tenant.id, &domain, &new_token(clock)).await.map_err(|e| match e {
        StoreError::Conflict(_) => DomainError::Claimed(domain.clone()),
        other => DomainError::Store(other),
    })
}

/// Looks up the domain's TXT record and, when it carries the token, marks the domain verified.
pub async fn verify(
    store: &dyn Store,
    tenant: &Tenant,
    domain: &str,
    dns_server: Option<SocketAddr>,
) -> Result<DomainRecord, DomainError> {
    let domain = normalise(domain);
    let claimed = store.list_domains(tenant.id).await.map_err(DomainError::Store)?;
    let Some(record) = claimed.into_iter().find(|d| d.domain == domain) else {
        return Err(DomainError::NotClaimed(domain));
    };
    let expected = format!("{VALUE_PREFIX}{}", record.token);
    let found = txt_values(&domain, dns_server).await.map_err(DomainError::Lookup)?;
    if !found.iter().any(|v| v.trim() == expected) {
        return Err(DomainError::NotPublished { domain, expected, found });
    }
    let verified = store.mark_domain_verified(tenant.id, &domain).await.map_err(DomainError::Store)?;
    tracing::info!(tenant = %tenant.slug, domain, "domain verified");
    Ok(verified)
}

/// Drops a domain the tenant claimed.
pub async fn remove(store: &dyn Store, tenant: &Tenant, domain: &str) -> Result<(), DomainError> {
    let domain = normalise(domain);
    store.remove_domain(tenant.id, &domain).await.map_err(|e| match e {
        StoreError::NotFound => DomainError::NotClaimed(domain),
        other => DomainError::Store(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        assert!(valid_domain("example.com"));
        assert!(valid_domain("eu-1.mail.example.co.uk"));
        assert!(!valid_domain("localhost"));
        assert!(!valid_domain("-bad.example"));
        assert!(!valid_domain("bad..example"));
        assert!(!valid_domain("exa mple.com"));
        assert!(!valid_domain(&format!("{}.com", "a".repeat(64))));
    }

    #[test]
    fn domains_compare_without_case_or_the_root_dot() {
        assert_eq!(normalise(" Example.COM. "), "example.com");
    }

    #[test]
    fn the_record_is_zone_file_syntax() {
        assert_eq!(
            txt_record("example.com", "ab12"),
            "_scimd-challenge.example.com. 3600 IN TXT \"scimd-verification=ab12\""
        );
    }
}
