//! The event log's pull API (docs/events.md): `GET /admin/v1/tenants/{slug}/events` and
//! `…/events/head`, for credentials with `events:read` (included in `admin`) or an operator token.
//!
//! A read with `wait` is a long poll: it answers as soon as an event it would return exists, or
//! with an empty page when `wait` runs out. Waiting costs a parked task: this process's commits
//! of its tenant's events wake it ([`scimd_store::EventSignal`]), and it re-reads every [`POLL`]
//! for commits of other replicas. At most [`MAX_WAITERS`] requests wait at once; beyond that a read answers at once, so
//! long polls cannot hold an unbounded number of tasks and connections' worth of state.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use std::sync::Arc;

use scimd_schema::{ScimError, ScimType};
use scimd_store::{Clock, EventQuery, Store, TypeFilter};

use crate::AppState;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;

/// The longest `wait` (seconds): below the 60 s idle timeouts of common proxies and load
/// balancers, so a long poll is answered before something in between closes it.
pub const MAX_WAIT: u64 = 50;

/// How often a waiting read re-reads the log for events committed by other replicas.
pub const POLL: Duration = Duration::from_millis(250);

/// Requests that may wait at once, in this process.
pub const MAX_WAITERS: usize = 1024;

/// The default and the largest `limit`.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

static WAITERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_WAITERS);

/// `events:read`, or `admin` (which includes it), or an operator token.
fn require_events(p: &Principal) -> Result<(), ApiError> {
    if p.credential.operator || p.scopes.contains(Scope::Admin) {
        Ok(())
    } else {
        p.require(Scope::EventsRead)
    }
}

fn bad_cursor(detail: String) -> ApiError {
    ScimError::new(ScimType::InvalidCursor, detail).into()
}

/// The query, checked: every parameter is optional, every bad value a 400 naming it.
fn parse(q: &[(String, String)]) -> Result<(EventQuery, u64), ApiError> {
    let mut after = 0;
    let mut limit = DEFAULT_LIMIT;
    let mut wait = 0;
    let mut types = Vec::new();
    for (key, value) in q {
        match key.as_str() {
            "after" => {
                after = value.parse::<u64>().map_err(|_| {
                    bad_cursor(format!("after {value:?}: a seq is a decimal number this log returned"))
                })?;
            }
            "limit" => {
                limit =
                    value.parse::<u32>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                        ScimError::invalid_value(format!("limit {value:?}: use 1 to {MAX_LIMIT}"))
                    })?;
            }
            "wait" => {
                wait = value.parse::<u64>().ok().filter(|n| *n <= MAX_WAIT).ok_or_else(|| {
                    ScimError::invalid_value(format!("wait {value:?}: seconds, 0 to {MAX_WAIT}"))
                })?;
            }
            "type" => types.extend(value.split(',').map(str::trim).filter(|t| !t.is_empty())),
            other => {
                return Err(ScimError::invalid_value(format!(
                    "unknown parameter {other:?}: use after, limit, type, wait"
                ))
                .into());
            }
        }
    }
    let types = TypeFilter::parse(types).map_err(|t| {
        ScimError::invalid_value(format!(
            "type {t:?}: use an event type such as user.deactivated, or user.* / group.*"
        ))
    })?;
    Ok((EventQuery { after, limit, types }, wait))
}

/// `GET …/events?after=&limit=&type=&wait=` → `{"events": [...], "next": "SEQ"}`.
pub(crate) async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    require_events(&p)?;
    let (mut query, wait) = parse(&q)?;
    // Subscribed before the first read, so a commit between the read and the wait still wakes it.
    let mut woken = state.store.event_signal().subscribe(p.tenant.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut permit = None;
    let page = loop {
        let page = state.store.events(p.tenant.id, &query).await?;
        let now = tokio::time::Instant::now();
        if !page.events.is_empty() || now >= deadline || woken.is_closing() {
            break page;
        }
        if permit.is_none() {
            match WAITERS.try_acquire() {
                Ok(p) => permit = Some(p),
                // Too many waiting already: answer now; the reader asks again.
                Err(_) => break page,
            }
        }
        // Everything up to the page's `next` was examined (a type filter may have skipped
        // events): the next read starts there, and the answer's `next` moves with it.
        query.after = page.next;
        let nap = POLL.min(deadline - now);
        tokio::select! {
            () = woken.changed() => {}
            () = tokio::time::sleep(nap) => {}
        }
    };
    // The stored bodies are JSON objects written by the store: spliced, not parsed again.
    let mut body = String::with_capacity(64 + page.events.iter().map(|e| e.body.len() + 1).sum::<usize>());
    body.push_str("{\"events\":[");
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&e.body);
    }
    body.push_str("],\"next\":\"");
    body.push_str(&page.next.to_string());
    body.push_str("\"}");
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET …/events/head` → `{"seq": "SEQ", "oldest": "SEQ"}`: the last committed event, and the
/// oldest still held (retention prunes below it).
pub(crate) async fn head(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    require_events(&p)?;
    let head = state.store.event_head(p.tenant.id).await?;
    Ok(axum::Json(serde_json::json!({"seq": head.seq.to_string(), "oldest": head.oldest.to_string()}))
        .into_response())
}

/// How often retention looks for events to prune.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How many events one prune deletes at most: small batches, so a write waits behind at most one.
pub const PRUNE_BATCH: u32 = 1000;

/// How often every replica numbers the events that wait for their numbers, for the tenants no one
/// reads ([`scimd_store::events::EventStore::number_waiting`]).
pub const NUMBER_EVERY: Duration = Duration::from_secs(1);

/// The log's upkeep, on every replica:
/// - every [`NUMBER_EVERY`], numbers the events that wait for their numbers (PostgreSQL numbers
///   after the commit, when the log is read; elsewhere there are none);
/// - retention (`--event-retention`): every [`PRUNE_EVERY`], deletes the events older than
///   `retention`, [`PRUNE_BATCH`] at a time with a pause between batches, until none is left.
///   Replicas' deletes of the same rows simply find fewer.
pub fn spawn_upkeep(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut numbering = tokio::time::interval(NUMBER_EVERY);
        numbering.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = numbering.tick() => match store.number_waiting().await {
                    Ok(0) => {}
                    Ok(numbered) => tracing::debug!(numbered, "numbered waiting events"),
                    Err(e) => tracing::warn!(error = %e, "numbering waiting events failed; retrying"),
                },
                _ = prune.tick() => prune_expired(&*store, clock.now() - retention).await,
            }
        }
    })
}

/// Deletes the events that occurred before `before`, batch by batch.
async fn prune_expired(store: &dyn Store, before: time::OffsetDateTime) {
    let mut pruned = 0;
    loop {
        match store.prune_events(before, PRUNE_BATCH).await {
            Ok(n) => {
                pruned += n;
                if n < u64::from(PRUNE_BATCH) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "pruning the event log failed; retrying at the next round");
                break;
            }
        }
    }
    if pruned > 0 {
        tracing::info!(pruned, "pruned events older than the retention");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_parameter_is_checked() {
        let (query, wait) =
            parse(&q(&[("after", "41"), ("limit", "5"), ("type", "user.*,group.deleted"), ("wait", "3")]))
                .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((query.after, query.limit, wait), (41, 5, 3));
        assert_eq!(query.types.types().len(), 6);
        let (query, wait) = parse(&[]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((query.after, query.limit, wait, query.types.types().len()), (0, DEFAULT_LIMIT, 0, 0));
        for bad in [
            ("after", "-1"),
            ("after", "x"),
            ("after", "1e3"),
            ("limit", "0"),
            ("limit", "1001"),
            ("wait", "51"),
            ("wait", "-1"),
            ("type", "user.nope"),
            ("cursor", "1"),
        ] {
            assert!(parse(&q(&[bad])).is_err(), "{bad:?}");
        }
    }
}
