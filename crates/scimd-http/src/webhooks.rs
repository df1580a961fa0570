//! Managing a tenant's event-delivery endpoints (docs/events.md, "Managing endpoints"): webhooks
//! and NATS sinks, through the admin API under `/admin/v1/tenants/{slug}/webhooks` and `…/sinks`,
//! and the pieces the `scimd webhook` and `scimd sink` commands share with it (validation, the
//! JSON an endpoint or a delivery is shown as, secrets, pings, paged replays), so that the command
//! line and the API accept and show exactly the same things.
//!
//! Nothing here delivers: the server's delivery worker claims what these calls queue. A webhook's
//! signing secret is shown once, in the response that creates or rotates it; listings, `Debug`
//! and logs never carry it.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;
use uuid::Uuid;

use scimd_events::{EventFilter, PING, WebhookSecret, check_url};
use scimd_schema::ScimError;
use scimd_schema::value::format_datetime;
use scimd_store::delivery::{
    Backlog, DeliveryRecord, DeliveryState, Endpoint, NewEndpoint, Ping, ReplayFrom, SigningSecret,
    Transport, WebhookFormat,
};
use scimd_store::{Clock, Store, StoreError};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// How long a rotated-out secret keeps signing when no grace is given: a day, for the receiver to
/// be given the new secret. Standard Webhooks 1.0, "Webhook headers", signs with "the current
/// key, and … an old key (for a set period of time)" so a rotation needs no downtime; the period
/// is the producer's choice.
pub const DEFAULT_GRACE: time::Duration = time::Duration::hours(24);

/// The longest grace: a rotation is often made because a secret leaked, and a leaked key that
/// keeps signing for months is not rotated.
pub const MAX_GRACE: time::Duration = time::Duration::days(30);

/// Deliveries listed when no limit is given, and the most one listing shows.
pub const DEFAULT_DELIVERIES: u32 = 100;
/// The largest `limit` of a deliveries listing.
pub const MAX_DELIVERIES: u32 = 1000;

/// Events one replay call queues; a replay calls again until the store says it is done, so each
/// transaction stays short and writes are not held up behind one long replay.
pub const REPLAY_PAGE: u32 = 1000;

/// The subject a sink publishes to when none is given.
pub const DEFAULT_SUBJECT: &str = "scimd.{tenant}.{type}";

/// Which family of endpoints a command or route addresses: `webhook …` and `/webhooks` see only
/// webhooks, `sink …` and `/sinks` only NATS sinks; an id of the other family is "not found".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// HTTP(S) receivers.
    Webhook,
    /// NATS JetStream subjects.
    Sink,
}

impl Kind {
    /// The family of `t`.
    #[must_use]
    pub fn of(t: &Transport) -> Self {
        match t {
            Transport::Webhook { .. } => Self::Webhook,
            Transport::Nats { .. } => Self::Sink,
        }
    }

    /// The word for one endpoint of the family, in messages.
    #[must_use]
    pub fn noun(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Sink => "sink",
        }
    }

    /// The family's collection: its admin API path segment and its listing's member.
    #[must_use]
    pub fn plural(self) -> &'static str {
        match self {
            Self::Webhook => "webhooks",
            Self::Sink => "sinks",
        }
    }
}

// ---- validation, shared with the command line ----

/// Why a webhook was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadEndpoint {
    /// Not acceptable whatever the settings.
    Invalid(String),
    /// Its URL's host is a private address (or a `localhost` name): acceptable only where
    /// private targets are allowed.
    Private(String),
}

impl BadEndpoint {
    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::Private(m) => m,
        }
    }
}

/// A webhook URL, checked and normalised: absolute http or https, no credentials, no fragment, and
/// a host the SSRF guard lets through ([`scimd_events::ssrf`]; with `allow_private`, private
/// addresses too).
///
/// Only the literal host is judged here. A name is resolved, and its addresses judged, by the
/// worker at each delivery, since what it resolves to may change after it was saved.
///
/// # Errors
/// [`BadEndpoint`] naming what is wrong.
pub fn webhook_url(raw: &str, allow_private: bool) -> Result<Url, BadEndpoint> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        BadEndpoint::Invalid(format!("{:?} is not an absolute URL ({e}); use https://host/path", redact(raw)))
    })?;
    if let Err(e) = check_url(&url, allow_private) {
        // The same check with private targets allowed tells "internal, but allowed on request"
        // from "never a target" (credentials, a bad scheme, link-local or metadata addresses).
        return Err(if !allow_private && check_url(&url, true).is_ok() {
            BadEndpoint::Private(e.to_string())
        } else {
            BadEndpoint::Invalid(e.to_string())
        });
    }
    if url.fragment().is_some() {
        // RFC 9112 §3.2: a request target carries no fragment, so the receiver would never see it.
        return Err(BadEndpoint::Invalid(format!(
            "webhook URL {url}: a fragment (#…) is never sent to the receiver; remove it"
        )));
    }
    Ok(url)
}

/// `raw` with anything between `://` and an `@` hidden, for a message about a URL that did not
/// parse (and so could not be stripped of its credentials by the URL type).
fn redact(raw: &str) -> String {
    let start = raw.find("://").map_or(0, |i| i + 3);
    match raw.rfind('@') {
        Some(at) if at >= start => format!("{}***{}", &raw[..start], &raw[at..]),
        _ => raw.to_owned(),
    }
}

/// The type patterns an endpoint receives, from `--type` values or a JSON `types` array: each
/// value may also be a comma-separated list. `None` (no `--type`, no `types`): every type (`*`),
/// stored explicitly.
///
/// # Errors
/// The filter's message, naming the unknown pattern and the valid ones; also for a list given
/// empty, which would receive nothing.
pub fn parse_types(given: Option<&[String]>) -> Result<Vec<String>, String> {
    let Some(given) = given else {
        return Ok(vec!["*".to_owned()]);
    };
    let patterns = given.iter().flat_map(|t| t.split(',')).map(str::trim).filter(|p| !p.is_empty());
    let filter = EventFilter::parse(patterns).map_err(|e| e.to_string())?;
    Ok(filter.patterns().iter().map(ToString::to_string).collect())
}

/// A webhook's format and audience.
///
/// # Errors
/// An unknown format, or an audience for a format that has no place for it.
pub fn webhook_format(
    format: Option<&str>,
    audience: Option<&str>,
) -> Result<(WebhookFormat, Option<String>), String> {
    let format = match format {
        None => WebhookFormat::Standard,
        Some(f) => WebhookFormat::parse(f).ok_or_else(|| {
            format!(
                "format {f:?}: use standard (the event's JSON, Standard Webhooks 1.0) or set \
                 (an RFC 9967 Security Event Token)"
            )
        })?,
    };
    let audience = match audience.map(str::trim) {
        None => None,
        Some("") => return Err("the audience is empty".into()),
        // RFC 8417 §2.2: `aud` is a claim of the SET; a standard webhook body has no place for it.
        Some(_) if format != WebhookFormat::Set => {
            return Err("an audience is the SET's aud claim (RFC 8417 §2.2): it needs format set".into());
        }
        Some(a) => Some(a.to_owned()),
    };
    Ok((format, audience))
}

/// A NATS server URL: `nats://host:port` (or `tls://`), nothing after the port.
///
/// # Errors
/// What is wrong with it.
pub fn sink_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| format!("{:?} is not a NATS URL ({e}); use nats://host:4222", redact(raw)))?;
    if !matches!(url.scheme(), "nats" | "tls") {
        return Err(format!(
            "NATS URL {}: the scheme must be nats (or tls), not {}",
            shown(&url),
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // They would be stored in the clear and shown by every listing of the sink.
        return Err(format!(
            "NATS URL {}: credentials in the URL are not accepted (they would be listed with the sink)",
            shown(&url)
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("NATS URL {}: it has no host", shown(&url)));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("NATS URL {}: only nats://host:port, no path, query or fragment", shown(&url)));
    }
    Ok(url)
}

/// A URL for a message, its credentials removed.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// A subject template: NATS subject tokens separated by `.` (no empty token, no whitespace, no
/// `*` or `>`, which are subscription wildcards, not publishable subjects), with `{tenant}` and
/// `{type}` the only placeholders.
///
/// # Errors
/// What is wrong with it.
pub fn sink_subject(subject: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("subject {subject:?}: {why}"));
    if subject.is_empty() {
        return bad("it is empty");
    }
    if subject.split('.').any(str::is_empty) {
        return bad("a subject is tokens separated by single dots (no empty token)");
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>') {
        return bad("no whitespace, and no wildcard (* or >): a subject to publish to is literal");
    }
    let rest = subject.replace("{tenant}", "").replace("{type}", "");
    if rest.contains(['{', '}']) {
        return bad("the only placeholders are {tenant} and {type}");
    }
    Ok(subject.to_owned())
}

/// A fresh webhook signing secret from the clock's CSPRNG. Standard Webhooks 1.0, "Signature
/// scheme": the secret is random, at least 24 bytes; 32 is a full SHA-256 key.
#[must_use]
pub fn new_secret(clock: &dyn Clock) -> SigningSecret {
    let mut bytes = [0u8; 32];
    clock.random_bytes(&mut bytes);
    SigningSecret::new(WebhookSecret::from_bytes(&bytes).expose())
}

/// A webhook to register, checked.
///
/// # Errors
/// The message of the first thing wrong with the URL (see [`webhook_url`]), the types, the format
/// or the audience.
pub fn new_webhook(
    clock: &dyn Clock,
    tenant: Uuid,
    url: &str,
    types: Option<&[String]>,
    format: Option<&str>,
    audience: Option<&str>,
    allow_private: bool,
) -> Result<NewEndpoint, BadEndpoint> {
    let url = webhook_url(url, allow_private)?;
    let types = parse_types(types).map_err(BadEndpoint::Invalid)?;
    let (format, audience) = webhook_format(format, audience).map_err(BadEndpoint::Invalid)?;
    Ok(NewEndpoint {
        id: clock.new_id(),
        tenant,
        transport: Transport::Webhook { url: url.to_string(), format, audience },
        types,
        secret: Some(new_secret(clock)),
        now: clock.now(),
    })
}

/// A NATS sink to register, checked.
///
/// # Errors
/// The message of the first thing wrong with the URL, the subject or the types.
pub fn new_sink(
    clock: &dyn Clock,
    tenant: Uuid,
    url: &str,
    subject: Option<&str>,
    types: Option<&[String]>,
) -> Result<NewEndpoint, String> {
    let url = sink_url(url)?;
    let subject = sink_subject(subject.unwrap_or(DEFAULT_SUBJECT))?;
    let types = parse_types(types)?;
    Ok(NewEndpoint {
        id: clock.new_id(),
        tenant,
        transport: Transport::Nats { url: url.to_string(), subject },
        types,
        secret: None,
        now: clock.now(),
    })
}

/// The grace of a rotation.
///
/// # Errors
/// A grace over [`MAX_GRACE`].
pub fn check_grace(grace: time::Duration) -> Result<time::Duration, String> {
    if grace.is_negative() {
        return Err("the grace period cannot be negative".into());
    }
    if grace > MAX_GRACE {
        return Err(format!(
            "the grace period is at most {} days: a rotated-out key should stop signing soon",
            MAX_GRACE.whole_days()
        ));
    }
    Ok(grace)
}

/// A `test` ping for `endpoint`: its own delivery and event id, and a body naming what it is.
/// The worker signs and sends it as any delivery; its `webhook-id` is `event_id`.
#[must_use]
pub fn ping(clock: &dyn Clock, tenant_slug: &str, endpoint: Uuid) -> Ping {
    let now = clock.now();
    let id = clock.new_id();
    let event_id = clock.new_id().to_string();
    let body = json!({
        "type": PING,
        "id": event_id,
        "tenant": tenant_slug,
        "occurred_at": format_datetime(now),
        "endpoint": endpoint,
    });
    Ping { id, event_id, body: body.to_string(), now }
}

// ---- reading and rendering, shared with the command line ----

/// The endpoint `id` (as typed) of `tenant`, if it is one and of `kind`. An id that is not a UUID,
/// another tenant's and another family's are all "none".
///
/// # Errors
/// The store's.
pub async fn own_endpoint(
    store: &dyn Store,
    tenant: Uuid,
    id: &str,
    kind: Kind,
) -> Result<Option<Endpoint>, StoreError> {
    let Ok(id) = Uuid::parse_str(id.trim()) else { return Ok(None) };
    Ok(store.endpoint(tenant, id).await?.filter(|e| Kind::of(&e.transport) == kind))
}

/// The tenant's endpoints of `kind`, oldest first, each with its backlog.
///
/// # Errors
/// The store's.
pub async fn list_endpoints(
    store: &dyn Store,
    tenant: Uuid,
    kind: Kind,
) -> Result<Vec<(Endpoint, Option<Backlog>)>, StoreError> {
    let endpoints: Vec<Endpoint> =
        store.endpoints(tenant).await?.into_iter().filter(|e| Kind::of(&e.transport) == kind).collect();
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let mut backlogs = backlogs(store).await?;
    Ok(endpoints
        .into_iter()
        .map(|e| {
            let backlog = backlogs.remove(&e.id);
            (e, backlog)
        })
        .collect())
}

/// Every endpoint's pending and dead counts: the one query the metrics use, counted through the
/// partial indexes on pending and dead rows.
///
/// # Errors
/// The store's.
pub async fn backlogs(store: &dyn Store) -> Result<HashMap<Uuid, Backlog>, StoreError> {
    Ok(store.backlogs().await?.into_iter().map(|b| (b.endpoint, b)).collect())
}

fn time(t: OffsetDateTime) -> Value {
    Value::String(format_datetime(t))
}

fn opt_time(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, time)
}

/// An endpoint as listings show it, never its secret. Seqs are decimal strings, as in the event
/// log's API (docs/events.md), so that a JavaScript reader does not round them. `pending` and
/// `dead` are there when `backlog` is given.
#[must_use]
pub fn endpoint_json(e: &Endpoint, backlog: Option<&Backlog>) -> Value {
    let mut v = json!({"id": e.id, "kind": Kind::of(&e.transport).noun()});
    if let Some(o) = v.as_object_mut() {
        match &e.transport {
            Transport::Webhook { url, format, audience } => {
                o.insert("url".into(), url.clone().into());
                o.insert("format".into(), format.as_str().into());
                o.insert("audience".into(), audience.clone().map_or(Value::Null, Value::String));
            }
            Transport::Nats { url, subject } => {
                o.insert("url".into(), url.clone().into());
                o.insert("subject".into(), subject.clone().into());
            }
        }
        // Empty and `*` mean the same; an endpoint stored without patterns reads as `*`.
        let types = if e.types.is_empty() { vec!["*".to_owned()] } else { e.types.clone() };
        o.insert("types".into(), types.into());
        o.insert("enabled".into(), e.enabled.into());
        o.insert("disabled_reason".into(), e.disabled_reason.clone().map_or(Value::Null, Value::String));
        o.insert("failing_since".into(), opt_time(e.failing_since));
        o.insert("cursor".into(), e.cursor.to_string().into());
        if matches!(e.transport, Transport::Webhook { .. }) {
            // When the key before the last rotation stops signing; not a secret, and the receiver's
            // operator needs it to know until when both keys must be accepted.
            o.insert("previous_valid_until".into(), opt_time(e.previous_until));
        }
        o.insert("created_at".into(), time(e.created_at));
        if let Some(b) = backlog {
            o.insert("pending".into(), b.pending.into());
            o.insert("dead".into(), b.dead.into());
        }
    }
    v
}

/// An endpoint just created: [`endpoint_json`] and, for a webhook, its secret, shown this once.
#[must_use]
pub fn created_json(e: &Endpoint) -> Value {
    let mut v = endpoint_json(e, None);
    if let (Some(o), Some(secret)) = (v.as_object_mut(), &e.secret) {
        o.insert("secret".into(), secret.expose().into());
    }
    v
}

/// A delivery as listings show it. A `test` ping has seq 0 and `"ping": true`.
#[must_use]
pub fn delivery_json(d: &DeliveryRecord) -> Value {
    // Only a pending delivery is due again; the stored time of a finished one means nothing.
    let due = if d.state == DeliveryState::Pending { time(d.next_attempt_at) } else { Value::Null };
    json!({
        "id": d.id,
        "endpoint": d.endpoint,
        "seq": d.seq.to_string(),
        "event_id": d.event_id,
        "ping": d.seq == 0,
        "state": d.state.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": due,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": time(d.created_at),
        "finished_at": opt_time(d.finished_at),
    })
}

/// Queues a replay to its end: the store queues at most [`REPLAY_PAGE`] events a call and says
/// where to continue (`next`), so this calls again from there until it is done. Returns how many
/// deliveries were queued.
///
/// # Errors
/// The store's: [`StoreError::EventsPruned`] when the start is older than retention kept,
/// [`StoreError::NotFound`] when the endpoint is gone.
pub async fn replay_all(
    store: &dyn Store,
    tenant: Uuid,
    endpoint: Uuid,
    from: ReplayFrom,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut from = from;
    let mut queued = 0;
    let mut last = None;
    loop {
        let page = store.replay(tenant, endpoint, from, now, REPLAY_PAGE).await?;
        queued += page.queued;
        match page.next {
            None => return Ok(queued),
            // A page that does not move forward would repeat forever.
            Some(next) if last.is_some_and(|l| next <= l) => {
                return Err(StoreError::Internal(format!("replay did not advance past seq {next}")));
            }
            Some(next) => {
                last = Some(next);
                from = ReplayFrom::Seq(next);
            }
        }
    }
}

// ---- the admin API ----

/// The routes, merged into the admin router (`/admin/v1/tenants/{slug}`); the same scope as the
/// other admin routes.
pub(crate) fn routes() -> Router<AppState> {
    family(Kind::Webhook)
        .route("/webhooks/{id}/rotate", post(rotate))
        .route("/webhooks/{id}/test", post(test))
        .layer(Extension(Kind::Webhook))
        .merge(family(Kind::Sink).layer(Extension(Kind::Sink)))
}

/// The routes both families have.
fn family(kind: Kind) -> Router<AppState> {
    let base = format!("/{}", kind.plural());
    Router::new()
        .route(&base, get(list).post(create))
        .route(&format!("{base}/{{id}}"), get(show).delete(remove).patch(set_enabled))
        .route(&format!("{base}/{{id}}/deliveries"), get(deliveries))
        .route(&format!("{base}/{{id}}/replay"), post(replay))
}

fn not_found(kind: Kind, id: &str) -> ApiError {
    ScimError::not_found(format!("no {} {id:?} in this tenant", kind.noun())).into()
}

/// The endpoint of the path, of the principal's tenant and the route's family; else 404.
async fn endpoint_of(state: &AppState, p: &Principal, kind: Kind, id: &str) -> Result<Endpoint, ApiError> {
    own_endpoint(&*state.store, p.tenant.id, id, kind).await?.ok_or_else(|| not_found(kind, id))
}

/// A JSON body of type `T`; an empty body is `T`'s default where `T` has one (`empty`).
fn body<T: DeserializeOwned>(bytes: &[u8], what: &str, empty: Option<T>) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not {what}: {e}")).into())
}

/// `GET …/webhooks` and `…/sinks`.
async fn list(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    p: Principal,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let shown: Vec<Value> = list_endpoints(&*state.store, p.tenant.id, kind)
        .await?
        .iter()
        .map(|(e, b)| endpoint_json(e, b.as_ref()))
        .collect();
    Ok(Json(json!({ kind.plural(): shown })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhookBody {
    url: String,
    types: Option<Vec<String>>,
    format: Option<String>,
    audience: Option<String>,
    /// For an operator only: a tenant admin is whom the SSRF guard protects the network from.
    #[serde(default)]
    allow_private: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSinkBody {
    url: String,
    subject: Option<String>,
    types: Option<Vec<String>>,
}

/// `POST …/webhooks` `{url, types?, format?, audience?, allow_private?}` and `POST …/sinks`
/// `{url, subject?, types?}` → 201 with the endpoint (and a webhook's secret, shown this once).
async fn create(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    p: Principal,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let clock = &*state.clock;
    let new = match kind {
        Kind::Webhook => {
            let b: NewWebhookBody =
                body(&bytes, "a webhook: {\"url\", \"types\"?, \"format\"?, \"audience\"?}", None)?;
            if b.allow_private && !p.credential.operator {
                return Err(ScimError::status(
                    403,
                    "allow_private needs an operator token: private addresses are refused for tenant admins",
                )
                .into());
            }
            new_webhook(
                clock,
                p.tenant.id,
                &b.url,
                b.types.as_deref(),
                b.format.as_deref(),
                b.audience.as_deref(),
                b.allow_private,
            )
            .map_err(|e| ScimError::invalid_value(e.message().to_owned()))?
        }
        Kind::Sink => {
            // A NATS server is infrastructure, and the address guard protects webhooks only: a
            // tenant admin who could name any nats:// host would have scimd connect wherever it
            // can reach. Operators register sinks (and the CLI, which is the operator's).
            if !p.credential.operator {
                return Err(ScimError::status(
                    403,
                    "registering a NATS sink needs an operator token: a sink connects to infrastructure",
                )
                .into());
            }
            let b: NewSinkBody = body(&bytes, "a sink: {\"url\", \"subject\"?, \"types\"?}", None)?;
            new_sink(clock, p.tenant.id, &b.url, b.subject.as_deref(), b.types.as_deref())
                .map_err(ScimError::invalid_value)?
        }
    };
    let created = state.store.create_endpoint(new).await?;
    tracing::info!(endpoint = %created.id, kind = kind.noun(), "event endpoint created");
    let mut resp = (StatusCode::CREATED, Json(created_json(&created))).into_response();
    let location = format!("/admin/v1/tenants/{}/{}/{}", p.tenant.slug, kind.plural(), created.id);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET …/{id}`.
async fn show(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let e = endpoint_of(&state, &p, kind, &id).await?;
    let backlog = backlogs(&*state.store).await?.remove(&e.id);
    Ok(Json(endpoint_json(&e, backlog.as_ref())).into_response())
}

/// `DELETE …/{id}` → 204; its deliveries go with it.
async fn remove(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let e = endpoint_of(&state, &p, kind, &id).await?;
    if !state.store.delete_endpoint(p.tenant.id, e.id).await? {
        return Err(not_found(kind, &id));
    }
    tracing::info!(endpoint = %e.id, kind = kind.noun(), "event endpoint deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnabledBody {
    enabled: bool,
}

/// `PATCH …/{id}` `{"enabled": bool}` → the endpoint. Enabling clears what the server recorded
/// when it disabled it (the reason, the failure streak) and resumes where it stopped.
async fn set_enabled(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let b: EnabledBody = body(&bytes, "{\"enabled\": true|false}", None)?;
    let e = endpoint_of(&state, &p, kind, &id).await?;
    if !state.store.set_endpoint_enabled(p.tenant.id, e.id, b.enabled).await? {
        return Err(not_found(kind, &id));
    }
    let e = endpoint_of(&state, &p, kind, &id).await?;
    let backlog = backlogs(&*state.store).await?.remove(&e.id);
    Ok(Json(endpoint_json(&e, backlog.as_ref())).into_response())
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    grace_seconds: Option<u64>,
}

/// `POST …/webhooks/{id}/rotate` `{"grace_seconds"?}` → `{id, secret, previous_valid_until}`: the
/// new secret, shown this once; the old one keeps signing beside it until then.
async fn rotate(
    State(state): State<AppState>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let b: RotateBody = body(&bytes, "{\"grace_seconds\"?: N}", Some(RotateBody::default()))?;
    let grace = match b.grace_seconds {
        None => DEFAULT_GRACE,
        Some(s) => i64::try_from(s)
            .map_err(|_| String::from("grace_seconds is too large"))
            .and_then(|s| check_grace(time::Duration::seconds(s)))
            .map_err(|e| ScimError::invalid_value(format!("grace_seconds: {e}")))?,
    };
    let e = endpoint_of(&state, &p, Kind::Webhook, &id).await?;
    let rotated = rotate_secret(&*state.store, &*state.clock, &e, grace)
        .await?
        .ok_or_else(|| not_found(Kind::Webhook, &id))?;
    Ok(Json(rotated).into_response())
}

/// Replaces `e`'s secret, the old one signing until `now + grace`; the output of `rotate` (with
/// the new secret), or `None` when the endpoint is gone.
///
/// # Errors
/// The store's.
pub async fn rotate_secret(
    store: &dyn Store,
    clock: &dyn Clock,
    e: &Endpoint,
    grace: time::Duration,
) -> Result<Option<Value>, StoreError> {
    let secret = new_secret(clock);
    let until = clock.now() + grace;
    if !store.rotate_secret(e.tenant, e.id, secret.clone(), until).await? {
        return Ok(None);
    }
    tracing::info!(endpoint = %e.id, "webhook secret rotated");
    Ok(Some(json!({"id": e.id, "secret": secret.expose(), "previous_valid_until": time(until)})))
}

/// `POST …/webhooks/{id}/test` → 202 `{delivery, event_id}`: a signed `ping`, which the delivery
/// worker sends like any event (it waits while the endpoint is disabled).
async fn test(
    State(state): State<AppState>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let e = endpoint_of(&state, &p, Kind::Webhook, &id).await?;
    let ping = ping(&*state.clock, &p.tenant.slug, e.id);
    let out = json!({"delivery": ping.id, "event_id": ping.event_id});
    if !state.store.queue_ping(p.tenant.id, e.id, ping).await? {
        return Err(not_found(Kind::Webhook, &id));
    }
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

/// A deliveries listing's `state` and `limit`.
///
/// # Errors
/// An unknown state, a limit out of range, or another parameter.
pub fn deliveries_query(q: &[(String, String)]) -> Result<(Option<DeliveryState>, u32), String> {
    let mut state = None;
    let mut limit = DEFAULT_DELIVERIES;
    for (key, value) in q {
        match key.as_str() {
            "state" => {
                state = Some(
                    DeliveryState::parse(value)
                        .ok_or_else(|| format!("state {value:?}: use pending, delivered or dead"))?,
                );
            }
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_DELIVERIES).contains(n))
                    .ok_or_else(|| format!("limit {value:?}: use 1 to {MAX_DELIVERIES}"))?;
            }
            other => return Err(format!("unknown parameter {other:?}: use state, limit")),
        }
    }
    Ok((state, limit))
}

/// `GET …/{id}/deliveries?state=&limit=` → `{"deliveries": [...]}`, newest first.
async fn deliveries(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let (filter, limit) = deliveries_query(&q).map_err(ScimError::invalid_value)?;
    let e = endpoint_of(&state, &p, kind, &id).await?;
    let list = state.store.deliveries(p.tenant.id, e.id, filter, limit).await?;
    Ok(Json(json!({"deliveries": list.iter().map(delivery_json).collect::<Vec<_>>()})).into_response())
}

/// A replay's start as the API takes it: exactly one of the three members.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    from: Option<Value>,
    since: Option<String>,
    dead_letters: Option<bool>,
}

const REPLAY_BODY: &str = "one of {\"from\": SEQ}, {\"since\": \"RFC 3339 time\"}, {\"dead_letters\": true}";

fn replay_from(b: ReplayBody) -> Result<ReplayFrom, String> {
    match (b.from, b.since, b.dead_letters) {
        (Some(from), None, None) => {
            // A seq is a decimal string in this API's output; a JSON number is taken too.
            let seq = match &from {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse::<u64>().ok(),
                _ => None,
            };
            seq.map(ReplayFrom::Seq)
                .ok_or_else(|| format!("from {from}: a seq is a non-negative whole number"))
        }
        (None, Some(since), None) => OffsetDateTime::parse(&since, &Rfc3339)
            .map(ReplayFrom::Since)
            .map_err(|_| format!("since {since:?}: an RFC 3339 time such as 2026-12-02T14:00:00Z")),
        (None, None, Some(true)) => Ok(ReplayFrom::DeadLetters),
        _ => Err(format!("the body is {REPLAY_BODY}")),
    }
}

/// A replay's store error, for a person: a start older than retention becomes a message naming
/// the oldest seq held; any other error is given back.
///
/// # Errors
/// `e` itself, when it is not [`StoreError::EventsPruned`].
pub fn replay_error(e: StoreError) -> Result<String, StoreError> {
    match e {
        StoreError::EventsPruned(oldest) => {
            Ok(format!("the events from there were pruned by retention; the oldest held is seq {oldest}"))
        }
        other => Err(other),
    }
}

/// `POST …/{id}/replay` `{"from": SEQ}` | `{"since": RFC3339}` | `{"dead_letters": true}` → 202
/// `{queued}`. Events up to the endpoint's cursor are queued again (those after it are on their
/// way anyway); dead letters are queued again with their attempts reset.
async fn replay(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::admin::require_admin(&p)?;
    let b: ReplayBody = body(&bytes, REPLAY_BODY, None)?;
    let from = replay_from(b).map_err(ScimError::invalid_value)?;
    let e = endpoint_of(&state, &p, kind, &id).await?;
    let queued = match replay_all(&*state.store, p.tenant.id, e.id, from, state.clock.now()).await {
        Ok(n) => n,
        Err(StoreError::NotFound) => return Err(not_found(kind, &id)),
        // RFC 9110 §15.5.11: what was pruned is gone for good.
        Err(e) => {
            return Err(match replay_error(e) {
                Ok(m) => ScimError::status(410, m).into(),
                Err(e) => e.into(),
            });
        }
    };
    Ok((StatusCode::ACCEPTED, Json(json!({"queued": queued}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn webhook_urls() {
        assert_eq!(
            webhook_url("https://Hooks.Example.com/scim", false).map(|u| u.to_string()),
            Ok("https://hooks.example.com/scim".to_owned())
        );
        assert!(webhook_url("http://hooks.example.com:8080/x?y=1", false).is_ok());
        for (bad, needle) in [
            ("hooks.example.com/x", "not an absolute URL"),
            ("ftp://hooks.example.com/", "scheme"),
            ("https://user:hunter2@hooks.example.com/", "credentials"),
            ("https://hooks.example.com/x#frag", "fragment"),
            ("http://169.254.169.254/latest", "metadata"),
        ] {
            match webhook_url(bad, false) {
                Err(BadEndpoint::Invalid(m)) => assert!(m.contains(needle), "{bad}: {m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let e = webhook_url("https://user:hunter2@hooks.example.com/", false).unwrap_err();
        assert!(!e.message().contains("hunter2"), "{e:?}");
        let e = webhook_url("not a url user:hunter2@x", false).unwrap_err();
        assert!(!e.message().contains("hunter2"), "{e:?}");
        for private in ["http://127.0.0.1:3000/hooks", "http://localhost/x", "http://10.0.0.5/"] {
            assert!(matches!(webhook_url(private, false), Err(BadEndpoint::Private(_))), "{private}");
            assert!(webhook_url(private, true).is_ok(), "{private}");
        }
        // Never a target, even with private addresses allowed.
        assert!(matches!(webhook_url("http://169.254.169.254/", true), Err(BadEndpoint::Invalid(_))));
    }

    #[test]
    fn types_formats_and_audiences() {
        assert_eq!(parse_types(None), Ok(s(&["*"])));
        assert_eq!(
            parse_types(Some(&s(&["user.*, group.deleted", "user.*"]))),
            Ok(s(&["user.*", "group.deleted"]))
        );
        let e = parse_types(Some(&s(&["user.nope"]))).unwrap_err();
        assert!(e.contains("user.nope") && e.contains("user.created"), "{e}");
        assert!(parse_types(Some(&[])).is_err(), "given but empty is a mistake, not everything");
        assert!(parse_types(Some(&s(&[" , "]))).is_err());

        assert_eq!(webhook_format(None, None), Ok((WebhookFormat::Standard, None)));
        assert_eq!(webhook_format(Some("set"), Some("app")), Ok((WebhookFormat::Set, Some("app".into()))));
        assert!(webhook_format(Some("xml"), None).unwrap_err().contains("standard"));
        assert!(webhook_format(None, Some("app")).unwrap_err().contains("RFC 8417"));
        assert!(webhook_format(Some("set"), Some(" ")).is_err());
    }

    #[test]
    fn sinks() {
        assert!(sink_url("nats://nats.internal:4222").is_ok());
        assert!(sink_url("tls://10.0.0.3:4222").is_ok(), "a broker is internal: no SSRF rule");
        for bad in ["http://nats:4222", "nats://u:p@nats:4222", "nats://nats:4222/x", "nats:", "nats"] {
            assert!(sink_url(bad).is_err(), "{bad}");
        }
        assert!(!sink_url("nats://u:secretpw@nats:4222").unwrap_err().contains("secretpw"));
        assert_eq!(sink_subject(DEFAULT_SUBJECT), Ok(DEFAULT_SUBJECT.to_owned()));
        assert!(sink_subject("events.scim").is_ok());
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>", "a.{tenat}", "{type"] {
            assert!(sink_subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn graces_and_replay_bodies() {
        assert!(check_grace(time::Duration::ZERO).is_ok());
        assert!(check_grace(MAX_GRACE).is_ok());
        assert!(check_grace(MAX_GRACE + time::Duration::SECOND).is_err());
        let body = |v: Value| replay_from(serde_json::from_value(v).unwrap());
        assert_eq!(body(json!({"from": 5})), Ok(ReplayFrom::Seq(5)));
        assert_eq!(body(json!({"from": "5"})), Ok(ReplayFrom::Seq(5)));
        assert_eq!(body(json!({"dead_letters": true})), Ok(ReplayFrom::DeadLetters));
        assert!(matches!(body(json!({"since": "2026-12-02T14:00:00Z"})), Ok(ReplayFrom::Since(_))));
        for bad in [
            json!({}),
            json!({"from": -1}),
            json!({"from": 1.5}),
            json!({"since": "yesterday"}),
            json!({"dead_letters": false}),
            json!({"from": 1, "dead_letters": true}),
        ] {
            assert!(body(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_and_pings() {
        let clock = scimd_store::MockClock::new(time::macros::datetime!(2026-12-02 14:00 UTC));
        let a = new_secret(&clock);
        assert!(a.expose().starts_with("whsec_"));
        assert!(WebhookSecret::parse(a.expose()).is_ok(), "a Standard Webhooks secret");
        assert_ne!(a, new_secret(&clock));
        let new = new_webhook(&clock, Uuid::nil(), "https://h.example/x", None, None, None, false).unwrap();
        assert!(!format!("{new:?}").contains(a.expose()));
        assert!(!format!("{new:?}").contains("whsec_"), "Debug never shows the secret");

        let p = ping(&clock, "acme", Uuid::nil());
        let body: Value = serde_json::from_str(&p.body).unwrap();
        assert_eq!(body["type"], "ping");
        assert_eq!(body["id"], p.event_id.as_str());
        assert_eq!(body["tenant"], "acme");
        assert_eq!(body["occurred_at"], "2026-12-02T14:00:00.000Z");
        assert_eq!(body["endpoint"], Uuid::nil().to_string());
        assert_ne!(p.id.to_string(), p.event_id);
    }

    #[test]
    fn deliveries_queries() {
        let q = |pairs: &[(&str, &str)]| {
            deliveries_query(
                &pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>(),
            )
        };
        assert_eq!(q(&[]), Ok((None, DEFAULT_DELIVERIES)));
        assert_eq!(q(&[("state", "dead"), ("limit", "5")]), Ok((Some(DeliveryState::Dead), 5)));
        for bad in [("state", "failed"), ("limit", "0"), ("limit", "1001"), ("cursor", "x")] {
            assert!(q(&[bad]).is_err(), "{bad:?}");
        }
    }
}
