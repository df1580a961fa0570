//! `scimd webhook …` and `scimd sink …` (docs/events.md, "Managing endpoints"): a tenant's
//! event-delivery endpoints, over the same checks and JSON as the admin API
//! (`scimd_http::webhooks`). The running server's delivery worker sends what these commands queue.
//!
//! Output for scripts on stdout, one JSON object per line; a webhook's signing secret appears only
//! in the output of `add` and `rotate`.

use clap::{Args, Subcommand};
use serde_json::json;

use scimd_http::webhooks::{self as api, BadEndpoint, Kind};
use scimd_store::delivery::{DeliveryState, Endpoint, ReplayFrom};
use scimd_store::{Clock, Store, StoreError, Tenant};

use crate::cli::{CliError, out, tenant_by_slug};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register a webhook; prints it as JSON with its signing secret (whsec_…), shown only this
    /// once.
    Add(WebhookAddArgs),
    /// List the tenant's webhooks as JSON lines (never their secrets).
    List(TenantArg),
    /// Delete a webhook and its deliveries.
    Delete(EndpointArg),
    /// Enable a webhook (also one the server disabled); delivery resumes where it stopped.
    Enable(EndpointArg),
    /// Disable a webhook: its events wait in the log, and it resumes where it stopped when enabled.
    Disable(EndpointArg),
    /// Replace a webhook's signing secret; prints {id, secret, previous_valid_until}. The old
    /// secret keeps signing beside the new one during the grace period.
    Rotate(RotateArgs),
    /// Queue a signed `ping` to the webhook (the running server sends it); prints
    /// {delivery, event_id}.
    Test(EndpointArg),
    /// List a webhook's deliveries as JSON lines, newest first.
    Deliveries(DeliveriesArgs),
    /// Queue events again: from a seq, from a time, or the dead letters; prints {queued}.
    Replay(ReplayArgs),
}

#[derive(Debug, Subcommand)]
pub enum SinkCommand {
    /// Register a NATS sink; prints it as JSON.
    Add(SinkAddArgs),
    /// List the tenant's NATS sinks as JSON lines.
    List(TenantArg),
    /// Delete a sink and its deliveries.
    Delete(EndpointArg),
    /// Enable a sink; delivery resumes where it stopped.
    Enable(EndpointArg),
    /// Disable a sink: its events wait in the log, and it resumes where it stopped when enabled.
    Disable(EndpointArg),
    /// List a sink's deliveries as JSON lines, newest first.
    Deliveries(DeliveriesArgs),
    /// Queue events again: from a seq, from a time, or the dead letters; prints {queued}.
    Replay(ReplayArgs),
}

/// `--tenant`.
#[derive(Debug, Args)]
pub struct TenantArg {
    /// The tenant.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
}

/// `--tenant` and `--id`.
#[derive(Debug, Args)]
pub struct EndpointArg {
    /// The tenant.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
    /// The endpoint's id (from `list`).
    #[arg(long, value_name = "ID")]
    pub id: String,
}

/// `webhook add` options.
#[derive(Debug, Args)]
pub struct WebhookAddArgs {
    /// The tenant whose events it receives.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
    /// Where events are POSTed: an http or https URL (https recommended), without credentials or
    /// fragment.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// An event type it receives (repeatable, or comma-separated): user.deactivated, group.*, *.
    /// Default: every type.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// standard: the event's JSON, signed per Standard Webhooks 1.0; set: an RFC 9967 Security
    /// Event Token. [default: standard]
    #[arg(long, value_name = "FORMAT", value_parser = ["standard", "set"])]
    pub format: Option<String>,
    /// The SET's `aud` claim (RFC 8417 §2.2); only with --format set.
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
    /// Accept a URL whose host is a loopback, private or unique-local address or a localhost
    /// name (a receiver beside scimd). The server delivers there only when it runs with
    /// --webhook-allow-private; metadata and link-local addresses are refused regardless.
    #[arg(long)]
    pub allow_private: bool,
}

/// `sink add` options.
#[derive(Debug, Args)]
pub struct SinkAddArgs {
    /// The tenant whose events it receives.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
    /// The NATS server: nats://host:4222 (or tls://host:4222).
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// The subject events are published to; {tenant} and {type} are replaced.
    #[arg(long, value_name = "SUBJECT", default_value = api::DEFAULT_SUBJECT)]
    pub subject: String,
    /// An event type it receives (repeatable, or comma-separated): user.deactivated, group.*, *.
    /// Default: every type.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
}

/// `webhook rotate` options.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub endpoint: EndpointArg,
    /// How long the old secret keeps signing beside the new one, e.g. 24h, 90m; 0 stops it at
    /// once (after a leak). At most 30d. [default: 24h]
    #[arg(long, value_name = "DURATION", value_parser = grace)]
    pub grace: Option<time::Duration>,
}

fn grace(s: &str) -> Result<time::Duration, String> {
    let d = if s.trim() == "0" { time::Duration::ZERO } else { scimd_http::duration::parse(s)? };
    api::check_grace(d)
}

/// `deliveries` options.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    pub endpoint: EndpointArg,
    /// Only deliveries in this state.
    #[arg(long, value_name = "STATE", value_parser = ["pending", "delivered", "dead"])]
    pub state: Option<String>,
    /// How many of the newest to show (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = api::DEFAULT_DELIVERIES,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(api::MAX_DELIVERIES)))]
    pub limit: u32,
}

/// `replay` options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub endpoint: EndpointArg,
    #[command(flatten)]
    pub start: ReplayStart,
}

/// Where a replay starts: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ReplayStart {
    /// The events with this seq and later (up to what was already queued to the endpoint).
    #[arg(long, value_name = "SEQ")]
    pub from: Option<u64>,
    /// The events that occurred at or after this RFC 3339 time (or this long ago: 1h, 7d).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// The endpoint's dead letters, queued again with their attempts reset.
    #[arg(long)]
    pub dead_letters: bool,
}

/// `webhook …`.
pub(crate) async fn webhook(
    store: &dyn Store,
    clock: &dyn Clock,
    cmd: WebhookCommand,
) -> Result<(), CliError> {
    const K: Kind = Kind::Webhook;
    match cmd {
        WebhookCommand::Add(args) => add_webhook(store, clock, args).await,
        WebhookCommand::List(t) => list(store, &t.tenant, K).await,
        WebhookCommand::Delete(e) => delete(store, &e, K).await,
        WebhookCommand::Enable(e) => set_enabled(store, &e, K, true).await,
        WebhookCommand::Disable(e) => set_enabled(store, &e, K, false).await,
        WebhookCommand::Rotate(args) => rotate(store, clock, args).await,
        WebhookCommand::Test(e) => test(store, clock, &e).await,
        WebhookCommand::Deliveries(args) => deliveries(store, args, K).await,
        WebhookCommand::Replay(args) => replay(store, clock, args, K).await,
    }
}

/// `sink …`.
pub(crate) async fn sink(store: &dyn Store, clock: &dyn Clock, cmd: SinkCommand) -> Result<(), CliError> {
    const K: Kind = Kind::Sink;
    match cmd {
        SinkCommand::Add(args) => add_sink(store, clock, args).await,
        SinkCommand::List(t) => list(store, &t.tenant, K).await,
        SinkCommand::Delete(e) => delete(store, &e, K).await,
        SinkCommand::Enable(e) => set_enabled(store, &e, K, true).await,
        SinkCommand::Disable(e) => set_enabled(store, &e, K, false).await,
        SinkCommand::Deliveries(args) => deliveries(store, args, K).await,
        SinkCommand::Replay(args) => replay(store, clock, args, K).await,
    }
}

/// The tenant and its endpoint `--id` of `kind`; an id of another tenant or family is unknown.
async fn own(store: &dyn Store, e: &EndpointArg, kind: Kind) -> Result<(Tenant, Endpoint), CliError> {
    let tenant = tenant_by_slug(store, &e.tenant).await?;
    match api::own_endpoint(store, tenant.id, &e.id, kind).await? {
        Some(endpoint) => Ok((tenant, endpoint)),
        None => Err(missing(&tenant, kind, &e.id)),
    }
}

fn missing(tenant: &Tenant, kind: Kind, id: &str) -> CliError {
    let noun = kind.noun();
    CliError::Usage(format!(
        "no {noun} {id:?} in tenant {:?}; `scimd {noun} list --tenant {}` lists them",
        tenant.slug, tenant.slug
    ))
}

/// `--type` values: none given is every type.
fn given(types: &[String]) -> Option<&[String]> {
    (!types.is_empty()).then_some(types)
}

async fn add_webhook(store: &dyn Store, clock: &dyn Clock, args: WebhookAddArgs) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, &args.tenant).await?;
    let new = api::new_webhook(
        clock,
        tenant.id,
        &args.url,
        given(&args.types),
        args.format.as_deref(),
        args.audience.as_deref(),
        args.allow_private,
    )
    .map_err(|e| match e {
        BadEndpoint::Invalid(m) => CliError::Usage(m),
        BadEndpoint::Private(m) => CliError::Usage(format!(
            "{m}. If the receiver really is on this host or network, add --allow-private \
             (and run the server with --webhook-allow-private)"
        )),
    })?;
    let created = store.create_endpoint(new).await?;
    tracing::info!(endpoint = %created.id, tenant = %tenant.slug, "webhook created");
    if let scimd_store::delivery::Transport::Webhook { url, .. } = &created.transport
        && url.starts_with("http:")
    {
        eprintln!("warning: {url} is plain http: events and their signatures cross the network unencrypted");
    }
    eprintln!(
        "Give the secret to the receiver now: it is not shown again. Then send a ping with \
         `scimd webhook test --tenant {} --id {}`.",
        tenant.slug, created.id
    );
    out(api::created_json(&created))
}

async fn add_sink(store: &dyn Store, clock: &dyn Clock, args: SinkAddArgs) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, &args.tenant).await?;
    let new = api::new_sink(clock, tenant.id, &args.nats, Some(&args.subject), given(&args.types))
        .map_err(CliError::Usage)?;
    let created = store.create_endpoint(new).await?;
    tracing::info!(endpoint = %created.id, tenant = %tenant.slug, "sink created");
    out(api::created_json(&created))
}

async fn list(store: &dyn Store, tenant: &str, kind: Kind) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    for (e, backlog) in api::list_endpoints(store, tenant.id, kind).await? {
        out(api::endpoint_json(&e, backlog.as_ref()))?;
    }
    Ok(())
}

async fn delete(store: &dyn Store, e: &EndpointArg, kind: Kind) -> Result<(), CliError> {
    let (tenant, endpoint) = own(store, e, kind).await?;
    if !store.delete_endpoint(tenant.id, endpoint.id).await? {
        return Err(missing(&tenant, kind, &e.id));
    }
    tracing::info!(endpoint = %endpoint.id, tenant = %tenant.slug, "{} deleted", kind.noun());
    eprintln!("{} {} deleted, with its deliveries", kind.noun(), endpoint.id);
    Ok(())
}

async fn set_enabled(store: &dyn Store, e: &EndpointArg, kind: Kind, enabled: bool) -> Result<(), CliError> {
    let (tenant, endpoint) = own(store, e, kind).await?;
    if !store.set_endpoint_enabled(tenant.id, endpoint.id, enabled).await? {
        return Err(missing(&tenant, kind, &e.id));
    }
    let (_, endpoint) = own(store, e, kind).await?;
    let backlog = api::backlogs(store).await?.remove(&endpoint.id);
    out(api::endpoint_json(&endpoint, backlog.as_ref()))
}

async fn rotate(store: &dyn Store, clock: &dyn Clock, args: RotateArgs) -> Result<(), CliError> {
    let (tenant, endpoint) = own(store, &args.endpoint, Kind::Webhook).await?;
    let grace = args.grace.unwrap_or(api::DEFAULT_GRACE);
    let Some(rotated) = api::rotate_secret(store, clock, &endpoint, grace).await? else {
        return Err(missing(&tenant, Kind::Webhook, &args.endpoint.id));
    };
    eprintln!(
        "Give the new secret to the receiver: the old one keeps signing beside it until {}.",
        rotated["previous_valid_until"].as_str().unwrap_or("now")
    );
    out(rotated)
}

async fn test(store: &dyn Store, clock: &dyn Clock, e: &EndpointArg) -> Result<(), CliError> {
    let (tenant, endpoint) = own(store, e, Kind::Webhook).await?;
    let ping = api::ping(clock, &tenant.slug, endpoint.id);
    let shown = json!({"delivery": ping.id, "event_id": ping.event_id});
    if !store.queue_ping(tenant.id, endpoint.id, ping).await? {
        return Err(missing(&tenant, Kind::Webhook, &e.id));
    }
    if !endpoint.enabled {
        eprintln!(
            "webhook {} is disabled: the ping waits until `scimd webhook enable` (or the API) enables it",
            endpoint.id
        );
    }
    out(shown)
}

async fn deliveries(store: &dyn Store, args: DeliveriesArgs, kind: Kind) -> Result<(), CliError> {
    let (tenant, endpoint) = own(store, &args.endpoint, kind).await?;
    let state = args.state.as_deref().and_then(DeliveryState::parse);
    for d in store.deliveries(tenant.id, endpoint.id, state, args.limit).await? {
        out(api::delivery_json(&d))?;
    }
    Ok(())
}

async fn replay(store: &dyn Store, clock: &dyn Clock, args: ReplayArgs, kind: Kind) -> Result<(), CliError> {
    let start = args.start;
    let from = match (start.from, start.since) {
        (Some(seq), _) => ReplayFrom::Seq(seq),
        (None, Some(since)) => ReplayFrom::Since(
            scimd_http::provisioning_log::parse_since(&since, clock.now())
                .map_err(|e| CliError::Usage(format!("--since: {e}")))?,
        ),
        (None, None) => ReplayFrom::DeadLetters,
    };
    let (tenant, endpoint) = own(store, &args.endpoint, kind).await?;
    let queued = match api::replay_all(store, tenant.id, endpoint.id, from, clock.now()).await {
        Ok(n) => n,
        Err(StoreError::NotFound) => return Err(missing(&tenant, kind, &args.endpoint.id)),
        Err(e) => {
            return Err(match api::replay_error(e) {
                Ok(m) => CliError::Usage(m),
                Err(e) => e.into(),
            });
        }
    };
    out(json!({"queued": queued}))
}
