//! `scimd domain add|verify|list|remove` (verified domains): a tenant claims a domain, publishes a
//! DNS TXT record, and once the record is found only userNames and emails in its verified domains
//! can be set.
//!
//! The record is `_scimd-challenge.<domain>` TXT `scimd-verification=<token>`: a subdomain of its
//! own, so it does not crowd the domain's apex TXT records (SPF and others), in the style of ACME's
//! `_acme-challenge` (RFC 8555 §8.4).

use std::net::SocketAddr;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use serde_json::json;

use scimd_store::{Clock, Store, StoreError};

use crate::cli::{CliError, DomainCommand, tenant_by_slug};

/// The label the TXT record sits under.
pub const CHALLENGE_LABEL: &str = "_scimd-challenge";
/// The prefix of the TXT record's value.
pub const VALUE_PREFIX: &str = "scimd-verification=";

/// RFC 1035 §2.3.1 / RFC 1123 §2.1: dot-separated labels of letters, digits and hyphens, not
/// starting or ending with a hyphen, at most 63 characters each and 253 in all, at least two labels.
fn valid_domain(d: &str) -> bool {
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

fn token(clock: &dyn Clock) -> String {
    let mut bytes = [0u8; 16];
    clock.random_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// The record to publish, in zone-file syntax (RFC 1035 §5.1), printed alike by `add` and `list`.
fn txt_record(domain: &str, token: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}. 3600 IN TXT \"{VALUE_PREFIX}{token}\"")
}

pub(crate) async fn run(store: &dyn Store, clock: &dyn Clock, cmd: DomainCommand) -> Result<(), CliError> {
    match cmd {
        DomainCommand::Add { tenant, domain } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if !valid_domain(&domain) {
                return Err(CliError::Usage(format!("{domain:?} is not a domain name")));
            }
            let record = store.add_domain(tenant.id, &domain, &token(clock)).await.map_err(|e| match e {
                StoreError::Conflict(_) => {
                    CliError::Usage(format!("tenant {:?} has claimed {domain} already", tenant.slug))
                }
                other => other.into(),
            })?;
            eprintln!(
                "Publish this DNS record, then run `scimd domain verify --tenant {} {domain}`.\n\
                 Until a domain is verified nothing is enforced; then new userNames and emails of tenant {} must be in a verified domain.",
                tenant.slug, tenant.slug
            );
            crate::cli::out(txt_record(&domain, &record.token))?;
        }
        DomainCommand::Verify { tenant, domain, dns_server } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            let Some(record) = store.list_domains(tenant.id).await?.into_iter().find(|d| d.domain == domain)
            else {
                return Err(CliError::Usage(format!(
                    "tenant {:?} has not claimed {domain}: run `scimd domain add` first",
                    tenant.slug
                )));
            };
            let expected = format!("{VALUE_PREFIX}{}", record.token);
            let found = txt_values(&domain, dns_server).await.map_err(CliError::Usage)?;
            if !found.iter().any(|v| v.trim() == expected) {
                return Err(CliError::Usage(format!(
                    "{CHALLENGE_LABEL}.{domain} has no TXT record \"{expected}\" (found: {found:?}); DNS changes can take a while to spread"
                )));
            }
            let verified = store.mark_domain_verified(tenant.id, &domain).await?;
            tracing::info!(tenant = %tenant.slug, domain, "domain verified");
            crate::cli::out(json!({"domain": verified.domain, "verified": true}))?;
        }
        DomainCommand::List { tenant } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            for d in store.list_domains(tenant.id).await? {
                println!(
                    "{}",
                    json!({"domain": d.domain, "verified": d.verified.is_some(), "txt": txt_record(&d.domain, &d.token)})
                );
            }
        }
        DomainCommand::Remove { tenant, domain } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            store.remove_domain(tenant.id, &domain).await.map_err(|e| match e {
                StoreError::NotFound => {
                    CliError::Usage(format!("tenant {:?} has not claimed {domain}", tenant.slug))
                }
                other => other.into(),
            })?;
            eprintln!("domain {domain} removed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::valid_domain;

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
}
