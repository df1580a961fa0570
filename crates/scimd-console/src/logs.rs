//! The provisioning log: every SCIM request of the tenant with its outcome, filtered by status,
//! client, method and time, newest first and paged back; each record's detail with the request
//! and response bodies as recorded (passwords replaced by `***` before they were stored); and a
//! live tail.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use scimd_http::AppState;
use scimd_http::provisioning_log::{parse_since, parse_status};
use scimd_store::{LogEntry, LogQuery};

use crate::connection::Row;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::view::{self, Layout, when};

/// Records per page.
const PAGE: u32 = 50;
/// How often the live tail looks for new records.
const TAIL_EVERY: Duration = Duration::from_secs(1);
/// A tail ends after this long; the browser's EventSource reconnects from its last record, and
/// the session is checked again then.
const TAIL_FOR: Duration = Duration::from_secs(300);

#[derive(Template)]
#[template(path = "logs.html")]
struct ListPage {
    l: Layout,
    status: String,
    client: String,
    method: String,
    since: String,
    error: Option<String>,
    rows: Vec<Row>,
    clients: Vec<(String, String)>,
    older: Option<String>,
    newest: String,
    has_log: bool,
}

#[derive(Template)]
#[template(path = "log.html")]
struct DetailPage {
    l: Layout,
    e: Row,
    client: String,
    credential: String,
    scim_type: String,
    duration_ms: String,
    resource: Option<(String, String)>,
    request_id: String,
    request_body: String,
    response_body: String,
}

/// The filters of the list, read from the query string; `Err` says what is wrong, worded as the
/// admin API's `GET …/logs` words it.
fn query(state: &AppState, who: &SignedIn, q: &[(String, String)]) -> Result<LogQuery, String> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let mut query = LogQuery { tenant: who.tenant.id, limit: PAGE, ..LogQuery::default() };
    if let Some(s) = get("status") {
        query.status = Some(parse_status(s).ok_or_else(|| format!("status {s:?}: use e.g. 4xx or 409"))?);
    }
    if let Some(s) = get("since") {
        query.since = Some(parse_since(s, state.clock.now()).map_err(|e| format!("since: {e}"))?);
    }
    query.client = get("client").map(str::to_owned);
    query.method = get("method").map(str::to_ascii_uppercase);
    if let Some(c) = get("before") {
        query.before =
            Some(Uuid::parse_str(c).map_err(|_| "the page link is not one this console made".to_owned())?);
    }
    Ok(query)
}

/// `GET /console/logs`.
pub(crate) async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let mut page = ListPage {
        l: Layout::signed_in(&who, "Provisioning log", "logs"),
        status: get("status"),
        client: get("client"),
        method: get("method"),
        since: get("since"),
        error: None,
        rows: Vec::new(),
        clients: [("", "Any client"), ("entra", "Microsoft Entra ID"), ("okta", "Okta"), ("other", "Other")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        older: None,
        newest: String::new(),
        has_log: state.log.is_some(),
    };
    let Some(log) = &state.log else { return Ok(view::render(StatusCode::OK, &page)) };
    let query = match query(&state, &who, &q) {
        Ok(query) => query,
        Err(e) => {
            page.error = Some(e);
            return Ok(view::render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let entries = log.store().query(&query).await?;
    if entries.len() == PAGE as usize
        && let Some(last) = entries.last()
    {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in q.iter().filter(|(k, _)| k != "before") {
            link.append_pair(k, v);
        }
        link.append_pair("before", &last.id.to_string());
        page.older = Some(format!("/console/logs?{}", link.finish()));
    }
    page.newest = entries.first().map(|e| e.id.to_string()).unwrap_or_default();
    page.rows = entries.iter().map(Row::of).collect();
    Ok(view::render(StatusCode::OK, &page))
}

/// `GET /console/logs/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let not_found = || ConsoleError::NotFound(format!("There is no log record {id} in this tenant."));
    let Some(log) = &state.log else { return Err(not_found()) };
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    // The record is the newest one strictly older than the next id: one indexed read.
    let next = Uuid::from_u128(uuid.as_u128().saturating_add(1));
    let q = LogQuery { tenant: who.tenant.id, before: Some(next), limit: 1, ..LogQuery::default() };
    let e = log.store().query(&q).await?.into_iter().find(|e| e.id == uuid).ok_or_else(not_found)?;
    let resource = e.resource_id.clone().map(|r| {
        let kind = if e.path.contains("/Groups") { "groups" } else { "users" };
        (format!("/console/{kind}/{r}"), r)
    });
    // Pretty-printed when it is JSON (bodies are stored truncated, so they may not be).
    let pretty = |b: Option<&str>| match b {
        Some(b) => serde_json::from_str::<serde_json::Value>(b)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| b.to_owned()),
        None => String::new(),
    };
    let request_body = pretty(e.request_body.as_deref());
    let response_body = pretty(e.response_body.as_deref());
    let page = DetailPage {
        l: Layout::signed_in(&who, "Log record", "logs"),
        client: e.client.clone(),
        credential: match (&e.credential_name, &e.credential_kind) {
            (Some(n), Some(k)) => format!("{n} ({k})"),
            (Some(n), None) => n.clone(),
            _ => "none".into(),
        },
        scim_type: e.scim_type.clone().unwrap_or_default(),
        duration_ms: format!("{:.1}", e.duration_us as f64 / 1000.0),
        resource,
        request_id: e.request_id.clone().unwrap_or_default(),
        request_body,
        response_body,
        e: Row::of(&e),
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// A record as the live tail sends it: JSON, turned into a table row by the page's script with
/// `textContent`, so nothing a client sent is ever parsed as HTML.
fn tail_json(e: &LogEntry) -> String {
    serde_json::json!({
        "id": e.id.to_string(),
        "time": when(e.time),
        "client": e.client,
        "method": e.method,
        "path": e.path,
        "status": e.status,
        "detail": e.detail.clone().unwrap_or_default(),
    })
    .to_string()
}

/// `GET /console/logs/stream?after=ID`: server-sent events (HTML Living Standard §9.2), one per
/// new record of the tenant, oldest first, for as long as [`TAIL_FOR`].
pub(crate) async fn stream(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let Some(log) = state.log.clone() else {
        return Err(ConsoleError::NotFound("This server keeps no provisioning log.".into()));
    };
    let mut filters = match query(&state, &who, &q) {
        Ok(f) => f,
        Err(e) => return Err(ConsoleError::from(scimd_schema::ScimError::invalid_value(e))),
    };
    filters.before = None;
    filters.limit = 100;
    // EventSource resends the last id it saw when it reconnects (§9.2.4 `Last-Event-ID` arrives
    // as the `after` parameter our script sets).
    let after = q.iter().find(|(k, _)| k == "after").and_then(|(_, v)| Uuid::parse_str(v).ok());
    let until = tokio::time::Instant::now() + TAIL_FOR;
    // Woken by the server's shutdown (and by the tenant's writes, which only means an earlier
    // look), so an open tail never holds the graceful shutdown for its whole length.
    let waiter = state.store.event_signal().subscribe(who.tenant.id);
    let start = (after, Vec::<LogEntry>::new(), waiter);
    let events = futures_util::stream::unfold(start, move |(mut after, mut queue, mut waiter)| {
        let log = log.clone();
        let filters = filters.clone();
        async move {
            loop {
                if let Some(e) = queue.pop() {
                    after = Some(e.id);
                    let event = Event::default().id(e.id.to_string()).data(tail_json(&e));
                    return Some((Ok::<_, Infallible>(event), (after, queue, waiter)));
                }
                if tokio::time::Instant::now() >= until || waiter.is_closing() {
                    return None;
                }
                tokio::select! {
                    () = tokio::time::sleep(TAIL_EVERY) => {}
                    () = waiter.changed() => {}
                }
                if waiter.is_closing() {
                    return None;
                }
                let q = match after {
                    Some(id) => LogQuery { after: Some(id), ..filters.clone() },
                    // The first poll starts from now: only what arrives after the page was shown.
                    None => LogQuery { limit: 1, ..filters.clone() },
                };
                match log.store().query(&q).await {
                    Ok(mut found) if after.is_some() => {
                        // `after` reads oldest first; the queue pops from its end.
                        found.reverse();
                        queue = found;
                    }
                    Ok(found) => after = Some(found.first().map_or(Uuid::nil(), |e| e.id)),
                    Err(e) => tracing::warn!(error = %e, "the console's live tail could not read the log"),
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}
