//! `scimd logs --tenant T [--status 4xx] [--since 1h] [--limit N] [--follow]`: the provisioning log,
//! one JSON object per line, oldest first; `--follow` keeps polling for new records.

use std::time::Duration;

use scimd_http::provisioning_log::{parse_since, parse_status};
use scimd_store::{Clock, LogQuery, Store};

use crate::cli::{CliError, LogsArgs, tenant_by_slug};
use crate::config::Settings;

/// How often `--follow` looks for new records.
const POLL: Duration = Duration::from_secs(1);

pub(crate) async fn run(
    store: &dyn Store,
    clock: &dyn Clock,
    settings: &Settings,
    args: LogsArgs,
) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, &args.tenant).await?;
    let status = match &args.status {
        Some(s) => Some(
            parse_status(s).ok_or_else(|| CliError::Usage(format!("--status {s:?}: use e.g. 4xx or 409")))?,
        ),
        None => None,
    };
    let since = match &args.since {
        Some(s) => Some(parse_since(s, clock.now()).map_err(|e| CliError::Usage(format!("--since: {e}")))?),
        None => None,
    };
    let log = crate::database::open_log(&settings.database, &settings.postgres).await?;
    let base = LogQuery { tenant: tenant.id, status, since, limit: args.limit.max(1), ..LogQuery::default() };
    let print = |e: &scimd_store::LogEntry| -> Result<(), CliError> {
        crate::cli::out(scimd_http::provisioning_log::entry_json(e, &tenant.slug))?;
        Ok(())
    };
    // The latest `limit` records, printed oldest first; then, with --follow, whatever comes after.
    let mut last = None;
    loop {
        let batch = match last {
            None => {
                let mut latest = log.query(&base).await?;
                latest.reverse();
                latest
            }
            Some(after) => log.query(&LogQuery { after: Some(after), limit: 1000, ..base.clone() }).await?,
        };
        for e in &batch {
            print(e)?;
        }
        last = batch.last().map(|e| e.id).or(last);
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}
