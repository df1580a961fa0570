//! `scimd events tail --tenant T [--after SEQ] [--type T]... [--follow]`: the event log as JSON
//! lines, in seq order, exactly as the pull API returns each event (docs/events.md).

use std::time::Duration;

use scimd_store::{EventQuery, Store, StoreError, TypeFilter};

use crate::cli::{CliError, EventsTailArgs, tenant_by_slug};

/// How often `--follow` looks for new events: this process is not the one that commits them, so
/// it cannot be woken by the commit.
const POLL: Duration = Duration::from_millis(250);

pub(crate) async fn tail(store: &dyn Store, args: EventsTailArgs) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, &args.tenant).await?;
    let types = TypeFilter::parse(args.types.iter().map(String::as_str)).map_err(|t| {
        CliError::Usage(format!(
            "--type {t:?}: use an event type such as user.deactivated, or user.* / group.*"
        ))
    })?;
    let mut query = EventQuery { after: args.after, limit: 1000, types };
    loop {
        let page = match store.events(tenant.id, &query).await {
            Ok(page) => page,
            Err(StoreError::EventsPruned(oldest)) => {
                return Err(CliError::Usage(format!(
                    "events after {} were pruned by retention; the oldest held is {oldest} (use --after {})",
                    query.after,
                    oldest - 1
                )));
            }
            Err(StoreError::Scim(e)) => return Err(CliError::Usage(e.detail)),
            Err(e) => return Err(e.into()),
        };
        for e in &page.events {
            crate::cli::out(&e.body)?;
        }
        let caught_up = page.next == query.after || page.events.len() < 1000;
        query.after = page.next;
        if caught_up {
            if !args.follow {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
