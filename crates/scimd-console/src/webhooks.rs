//! Webhooks and the event log (docs/events.md): the tenant's webhooks with their backlog and
//! dead letters, each one's deliveries, a signed test ping, enabling and disabling, secret
//! rotation (the old key signs beside the new one for a grace period), replays, and removal; the
//! NATS sinks an operator registered, read-only; and the events themselves. Every action is the
//! admin API's, through the same functions ([`scimd_http::webhooks`]).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use scimd_http::AppState;
use scimd_http::webhooks::{self as hooks, Kind};
use scimd_store::delivery::{Endpoint, ReplayFrom, Transport, WebhookFormat};
use scimd_store::{StoreError, TypeFilter};

use crate::error::ConsoleError;
use crate::session::{Form, SignedIn};
use crate::view::{self, ConfirmPage, Layout, when};

struct EndpointRow {
    id: String,
    kind: &'static str,
    target: String,
    detail: String,
    types: String,
    enabled: bool,
    disabled_reason: String,
    failing_since: String,
    pending: u64,
    dead: u64,
    cursor: u64,
}

fn row(e: &Endpoint, pending: u64, dead: u64) -> EndpointRow {
    let (target, detail) = match &e.transport {
        Transport::Webhook { url, format, audience } => (
            url.clone(),
            match (format, audience) {
                (WebhookFormat::Set, Some(aud)) => format!("RFC 9967 SET, audience {aud}"),
                (WebhookFormat::Set, None) => "RFC 9967 SET".into(),
                (WebhookFormat::Standard, _) => "Standard Webhooks".into(),
            },
        ),
        Transport::Nats { url, subject } => (url.clone(), format!("subject {subject}")),
    };
    EndpointRow {
        id: e.id.to_string(),
        kind: Kind::of(&e.transport).noun(),
        target,
        detail,
        types: if e.types.is_empty() { "*".into() } else { e.types.join(" ") },
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone().unwrap_or_default(),
        failing_since: e.failing_since.map(when).unwrap_or_default(),
        pending,
        dead,
        cursor: e.cursor,
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct ListPage {
    l: Layout,
    webhooks: Vec<EndpointRow>,
    sinks: Vec<EndpointRow>,
    notice: Option<String>,
    error: Option<String>,
    url: String,
    types: String,
}

struct DeliveryRow {
    seq: String,
    ping: bool,
    state: &'static str,
    attempts: u32,
    next: String,
    last_status: String,
    last_error: String,
    created: String,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct DetailPage {
    l: Layout,
    e: EndpointRow,
    webhook: bool,
    deliveries: Vec<DeliveryRow>,
    filter: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "webhook_secret.html")]
struct SecretPage<'a> {
    l: Layout,
    heading: &'a str,
    id: String,
    url: String,
    secret: &'a str,
    previous_until: Option<String>,
}

async fn list_page(state: &AppState, who: &SignedIn) -> Result<ListPage, ConsoleError> {
    let rows = |v: Vec<(Endpoint, Option<scimd_store::delivery::Backlog>)>| -> Vec<EndpointRow> {
        v.iter()
            .map(|(e, b)| row(e, b.as_ref().map_or(0, |b| b.pending), b.as_ref().map_or(0, |b| b.dead)))
            .collect()
    };
    Ok(ListPage {
        l: Layout::signed_in(who, "Webhooks", "webhooks"),
        webhooks: rows(hooks::list_endpoints(&*state.store, who.tenant.id, Kind::Webhook).await?),
        sinks: rows(hooks::list_endpoints(&*state.store, who.tenant.id, Kind::Sink).await?),
        notice: None,
        error: None,
        url: String::new(),
        types: String::new(),
    })
}

/// `GET /console/webhooks`.
pub(crate) async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let mut page = list_page(&state, &who).await?;
    page.notice = q
        .iter()
        .find(|(k, _)| k == "deleted")
        .map(|_| "The webhook was deleted with its deliveries.".to_owned());
    Ok(view::render(StatusCode::OK, &page))
}

/// The types field: patterns separated by spaces or commas; empty is every type.
fn types_of(text: &str) -> Option<Vec<String>> {
    let v: Vec<String> =
        text.split([' ', ',']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    (!v.is_empty()).then_some(v)
}

/// `POST /console/webhooks`: registers a webhook and shows its signing secret, once.
pub(crate) async fn create(
    State(state): State<AppState>,
    who: SignedIn,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let url = form.get("url").unwrap_or("").trim().to_owned();
    let types_text = form.get("types").unwrap_or("").to_owned();
    let types = types_of(&types_text);
    // Private addresses are refused for tenant admins, as in the admin API (the address guard of
    // docs/events.md); an operator may allow them for an endpoint on their own network.
    let allow_private = who.admin.operator && form.get("allow_private").is_some();
    let new = hooks::new_webhook(
        &*state.clock,
        who.tenant.id,
        &url,
        types.as_deref(),
        form.get("format"),
        form.get("audience"),
        allow_private,
    );
    let new = match new {
        Ok(n) => n,
        Err(e) => {
            let mut page = list_page(&state, &who).await?;
            page.error = Some(e.message().to_owned());
            page.url = url;
            page.types = types_text;
            return Ok(view::render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let created = state.store.create_endpoint(new).await?;
    tracing::info!(admin = %who.admin.id, endpoint = %created.id, "webhook created in the console");
    let url = match &created.transport {
        Transport::Webhook { url, .. } | Transport::Nats { url, .. } => url.clone(),
    };
    let secret = created.secret.as_ref().map(|s| s.expose().to_owned()).unwrap_or_default();
    let page = SecretPage {
        l: Layout::signed_in(&who, "Webhook created", "webhooks"),
        heading: "Webhook created",
        id: created.id.to_string(),
        url,
        secret: &secret,
        previous_until: None,
    };
    Ok(view::render(StatusCode::CREATED, &page))
}

async fn own(state: &AppState, who: &SignedIn, id: &str, kind: Kind) -> Result<Endpoint, ConsoleError> {
    hooks::own_endpoint(&*state.store, who.tenant.id, id, kind)
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no {} {id} in this tenant.", kind.noun())))
}

async fn detail(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    q: &[(String, String)],
) -> Result<DetailPage, ConsoleError> {
    // A sink's page too, read-only: sinks are registered by operators on the command line.
    let e = match own(state, who, id, Kind::Webhook).await {
        Ok(e) => e,
        Err(_) => own(state, who, id, Kind::Sink).await?,
    };
    let filter = q.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone()).unwrap_or_default();
    let mut error = None;
    // The admin API's parameters, checked by its own function; "Any" sends an empty state.
    let asked: Vec<(String, String)> =
        if filter.is_empty() { Vec::new() } else { vec![("state".into(), filter.clone())] };
    let deliveries = match hooks::deliveries_query(&asked) {
        Ok((wanted, limit)) => state.store.deliveries(who.tenant.id, e.id, wanted, limit).await?,
        Err(m) => {
            error = Some(m);
            Vec::new()
        }
    };
    let backlog = hooks::backlogs(&*state.store).await?.remove(&e.id);
    let webhook = Kind::of(&e.transport) == Kind::Webhook;
    Ok(DetailPage {
        l: Layout::signed_in(who, "Webhook", "webhooks"),
        e: row(&e, backlog.as_ref().map_or(0, |b| b.pending), backlog.as_ref().map_or(0, |b| b.dead)),
        webhook,
        deliveries: deliveries
            .iter()
            .map(|d| DeliveryRow {
                seq: d.seq.to_string(),
                ping: d.seq == 0,
                state: d.state.as_str(),
                attempts: d.attempts,
                next: if d.state == scimd_store::delivery::DeliveryState::Pending {
                    when(d.next_attempt_at)
                } else {
                    String::new()
                },
                last_status: d.last_status.map(|s| s.to_string()).unwrap_or_default(),
                last_error: d.last_error.clone().unwrap_or_default(),
                created: when(d.created_at),
            })
            .collect(),
        filter,
        notice: None,
        error,
    })
}

/// `GET /console/webhooks/{id}?state=`.
pub(crate) async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let mut page = detail(&state, &who, &id, &q).await?;
    page.notice = q.iter().find_map(|(k, v)| match k.as_str() {
        "tested" => Some("A signed ping is queued; it appears below once the worker sends it.".to_owned()),
        "queued" => Some(format!("{v} deliveries queued again.")),
        "enabled" => Some("Enabled: deliveries resume where they stopped.".to_owned()),
        "disabled" => Some("Disabled: events wait until it is enabled again.".to_owned()),
        _ => None,
    });
    let status = if page.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(view::render(status, &page))
}

fn back(id: &str, key: &str, value: &str) -> Response {
    view::see_other(&format!("/console/webhooks/{id}"), key, value)
}

/// `POST /console/webhooks/{id}/test`: a signed `ping`, sent by the worker like any event.
pub(crate) async fn test(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let e = own(&state, &who, &id, Kind::Webhook).await?;
    let ping = hooks::ping(&*state.clock, &who.tenant.slug, e.id);
    if !state.store.queue_ping(who.tenant.id, e.id, ping).await? {
        return Err(ConsoleError::NotFound(format!("There is no webhook {id} in this tenant.")));
    }
    Ok(back(&id, "tested", "1"))
}

/// `POST /console/webhooks/{id}/enabled` with `enabled=true|false`.
pub(crate) async fn set_enabled(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let e = own(&state, &who, &id, Kind::Webhook).await?;
    let enabled = form.get("enabled") == Some("true");
    state.store.set_endpoint_enabled(who.tenant.id, e.id, enabled).await?;
    Ok(back(&id, if enabled { "enabled" } else { "disabled" }, "1"))
}

/// `POST /console/webhooks/{id}/replay` with `dead_letters=1` or `from=SEQ`.
pub(crate) async fn replay(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let e = own(&state, &who, &id, Kind::Webhook).await?;
    let from = if form.get("dead_letters").is_some() {
        Ok(ReplayFrom::DeadLetters)
    } else {
        let seq = form.get("from").unwrap_or("").trim();
        seq.parse::<u64>()
            .map(ReplayFrom::Seq)
            .map_err(|_| format!("from {seq:?}: a seq is a non-negative whole number"))
    };
    let failed = match from {
        Ok(from) => {
            match hooks::replay_all(&*state.store, who.tenant.id, e.id, from, state.clock.now()).await {
                Ok(n) => return Ok(back(&id, "queued", &n.to_string())),
                Err(err) => hooks::replay_error(err)?,
            }
        }
        Err(m) => m,
    };
    let mut page = detail(&state, &who, &id, &[]).await?;
    page.error = Some(failed);
    Ok(view::render(StatusCode::BAD_REQUEST, &page))
}

/// `GET /console/webhooks/{id}/rotate`: asks first.
pub(crate) async fn confirm_rotate(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let e = own(&state, &who, &id, Kind::Webhook).await?;
    let page = ConfirmPage {
        l: Layout::signed_in(&who, "Rotate signing secret", "webhooks"),
        question: "Rotate this webhook's signing secret?".into(),
        explanation: "A new secret is shown once. For 24 hours deliveries carry signatures of both, so the receiver can switch without losing any; after that only the new one signs.",
        action: format!("/console/webhooks/{}/rotate", e.id),
        button: "Rotate secret",
        back: "/console/webhooks",
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/webhooks/{id}/rotate`.
pub(crate) async fn rotate(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let e = own(&state, &who, &id, Kind::Webhook).await?;
    let Some(rotated) = hooks::rotate_secret(&*state.store, &*state.clock, &e, hooks::DEFAULT_GRACE).await?
    else {
        return Err(ConsoleError::NotFound(format!("There is no webhook {id} in this tenant.")));
    };
    let text = |k: &str| rotated.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let secret = text("secret");
    let url = match &e.transport {
        Transport::Webhook { url, .. } | Transport::Nats { url, .. } => url.clone(),
    };
    let page = SecretPage {
        l: Layout::signed_in(&who, "Secret rotated", "webhooks"),
        heading: "Signing secret rotated",
        id: e.id.to_string(),
        url,
        secret: &secret,
        previous_until: Some(text("previous_valid_until")),
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `GET /console/webhooks/{id}/delete`: asks first.
pub(crate) async fn confirm_delete(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let e = own(&state, &who, &id, Kind::Webhook).await?;
    let page = ConfirmPage {
        l: Layout::signed_in(&who, "Delete webhook", "webhooks"),
        question: "Delete this webhook?".into(),
        explanation: "Its pending deliveries and dead letters go with it; events stay in the log and can be read there or replayed to another endpoint.",
        action: format!("/console/webhooks/{}/delete", e.id),
        button: "Delete webhook",
        back: "/console/webhooks",
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/webhooks/{id}/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let e = own(&state, &who, &id, Kind::Webhook).await?;
    state.store.delete_endpoint(who.tenant.id, e.id).await?;
    tracing::info!(admin = %who.admin.id, endpoint = %e.id, "webhook deleted in the console");
    Ok(Redirect::to("/console/webhooks?deleted=1").into_response())
}

// ---- the event log ----

/// Events per page.
const EVENTS_PAGE: u64 = 50;

struct EventRow {
    seq: String,
    kind: String,
    occurred: String,
    resource: Option<(String, String)>,
    summary: String,
    raw: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    l: Layout,
    events: Vec<EventRow>,
    types: String,
    error: Option<String>,
    head: u64,
    oldest: u64,
    older: Option<String>,
    newer: Option<String>,
}

fn event_row(seq: u64, body: &str) -> EventRow {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let s = |p: &[&str]| {
        let mut cur = &v;
        for k in p {
            cur = cur.get(*k).unwrap_or(&Value::Null);
        }
        match cur {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    let kind = s(&["type"]);
    let resource = match (s(&["resource", "type"]).as_str(), s(&["resource", "id"])) {
        ("User", id) if !id.is_empty() => Some((format!("/console/users/{id}"), id)),
        ("Group", id) if !id.is_empty() => Some((format!("/console/groups/{id}"), id)),
        _ => None,
    };
    let summary = if kind.starts_with("group.member_") {
        format!("{} {}", s(&["data", "member_type"]), s(&["data", "member"]))
    } else if let Some(changed) = v.get("changed").and_then(Value::as_array) {
        changed.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
    } else if s(&["resource", "type"]) == "User" {
        s(&["data", "userName"])
    } else {
        s(&["data", "displayName"])
    };
    EventRow {
        seq: seq.to_string(),
        kind,
        occurred: s(&["occurred_at"]),
        resource,
        summary,
        raw: serde_json::to_string_pretty(&v).unwrap_or_default(),
    }
}

/// `GET /console/events?before=SEQ&type=…`: the newest events first, fifty a page.
pub(crate) async fn events(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let types_text = get("type");
    let head = state.store.event_head(who.tenant.id).await?;
    let mut page = EventsPage {
        l: Layout::signed_in(&who, "Events", "webhooks"),
        events: Vec::new(),
        types: types_text.clone(),
        error: None,
        head: head.seq,
        oldest: head.oldest,
        older: None,
        newer: None,
    };
    let types = match TypeFilter::parse(types_text.split([' ', ',']).map(str::trim).filter(|t| !t.is_empty()))
    {
        Ok(t) => t,
        Err(t) => {
            page.error =
                Some(format!("type {t:?}: use an event type such as user.deactivated, or user.* / group.*"));
            return Ok(view::render(StatusCode::BAD_REQUEST, &page));
        }
    };
    // A window of seqs (before − 50, before]: the log is read forwards from a cursor.
    let before = get("before").parse::<u64>().ok().map_or(head.seq, |b| b.min(head.seq));
    let after = before.saturating_sub(EVENTS_PAGE);
    let limit = u32::try_from(before - after).unwrap_or(1).max(1);
    let query = scimd_store::EventQuery { after, limit, types };
    let found = match state.store.events(who.tenant.id, &query).await {
        Ok(p) => p,
        // Pruned by retention below this window: nothing older to show.
        Err(StoreError::EventsPruned(_)) => scimd_store::EventPage { events: Vec::new(), next: after },
        Err(e) => return Err(e.into()),
    };
    page.events =
        found.events.iter().rev().filter(|e| e.seq <= before).map(|e| event_row(e.seq, &e.body)).collect();
    let link = |b: u64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !types_text.is_empty() {
            s.append_pair("type", &types_text);
        }
        s.append_pair("before", &b.to_string());
        format!("/console/events?{}", s.finish())
    };
    if after > 0 && after >= head.oldest {
        page.older = Some(link(after));
    }
    if before < head.seq {
        page.newer = Some(link((before + EVENTS_PAGE).min(head.seq)));
    }
    Ok(view::render(StatusCode::OK, &page))
}
