//! `scimd domain add|verify|list|remove` (verified domains, [`scimd_http::domains`]): a tenant
//! claims a domain, publishes a DNS TXT record, and once the record is found only userNames and
//! emails in its verified domains can be set.

use serde_json::json;

use scimd_http::domains::{self, DomainError, txt_record};
use scimd_store::{Clock, Store};

use crate::cli::{CliError, DomainCommand, tenant_by_slug};

fn usage(e: DomainError) -> CliError {
    match e {
        DomainError::Store(e) => e.into(),
        other => CliError::Usage(other.to_string()),
    }
}

pub(crate) async fn run(store: &dyn Store, clock: &dyn Clock, cmd: DomainCommand) -> Result<(), CliError> {
    match cmd {
        DomainCommand::Add { tenant, domain } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            let record = domains::add(store, clock, &tenant, &domain).await.map_err(usage)?;
            eprintln!(
                "Publish this DNS record, then run `scimd domain verify --tenant {} {}`.\n\
                 Until a domain is verified nothing is enforced; then new userNames and emails of tenant {} must be in a verified domain.",
                tenant.slug, record.domain, tenant.slug
            );
            crate::cli::out(txt_record(&record.domain, &record.token))?;
        }
        DomainCommand::Verify { tenant, domain, dns_server } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            let verified =
                domains::verify(store, &tenant, &domain, dns_server).await.map_err(|e| match e {
                    DomainError::NotClaimed(d) => CliError::Usage(format!(
                        "tenant {:?} has not claimed {d}: run `scimd domain add` first",
                        tenant.slug
                    )),
                    other => usage(other),
                })?;
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
            domains::remove(store, &tenant, &domain).await.map_err(|e| match e {
                DomainError::NotClaimed(d) => {
                    CliError::Usage(format!("tenant {:?} has not claimed {d}", tenant.slug))
                }
                other => usage(other),
            })?;
            eprintln!("domain {} removed", domains::normalise(&domain));
        }
    }
    Ok(())
}
