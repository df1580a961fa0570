//! The provisioning log's recorder: a middleware that turns every authenticated SCIM request into a
//! [`LogEntry`] — who (tenant, credential, detected client), what (method, path, redacted body),
//! and how it ended (status, scimType, detail, duration, resource id) — and a background task that
//! writes them in batches to the [`LogStore`], off the request path and off the data's writer.
//!
//! The request path only queues: when the queue is full (the log store is slower than the traffic,
//! or failing) records are dropped and counted, never waited for. A batch the store refuses is
//! retried until it is written.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use scimd_schema::writes::{self, WriteRequest};
use scimd_store::{Clock, LogEntry, LogStore, ResourceKind};

use crate::AppState;
use crate::auth::{CredentialKind, Principal};

/// Records queued but not yet written before new ones are dropped. With [`MAX_BODY`] and
/// [`MAX_RESPONSE_BODY`] this bounds the queue's memory to about 12 MiB however far the log store
/// falls behind.
const QUEUE: usize = 2_000;
/// Records per write.
const BATCH: usize = 500;
/// How long a partial batch waits for company before it is written.
const LINGER: Duration = Duration::from_millis(100);
/// The first wait before a failed batch is written again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(200);
/// The longest wait between two attempts at a failed batch.
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How much of a request body is kept: a user or a PATCH of a few operations fits.
const MAX_BODY: usize = 4 * 1024;
/// How much of an error response is read to find its scimType and detail.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How much of a response body is kept: a user, an error. A write's response is kept only when it
/// is already in memory whole and no larger than [`MAX_ERROR_BODY`] (a large group's is not
/// buffered for the log's sake; its size is noted instead).
const MAX_RESPONSE_BODY: usize = 2 * 1024;
/// OAuth client names remembered before the memory is cleared.
const MAX_CLIENT_NAMES: usize = 10_000;

/// The recorder: a queue in front of the log store.
pub struct ProvisioningLog {
    tx: mpsc::Sender<Queued>,
    store: Arc<dyn LogStore>,
    dropped: std::sync::atomic::AtomicU64,
    /// OAuth client id → name, for the records' `credential_name`.
    client_names: Mutex<std::collections::HashMap<String, String>>,
}

/// What the writer task receives: a record, or a request to write what it holds now and say so.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every message is a record; boxing it would cost an allocation per request"
)]
enum Queued {
    Entry(LogEntry),
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl std::fmt::Debug for ProvisioningLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisioningLog").field("dropped", &self.dropped()).finish_non_exhaustive()
    }
}

impl ProvisioningLog {
    /// Starts the writer task (and hourly pruning of records older than `retention`) on the
    /// current tokio runtime.
    pub fn start(store: Arc<dyn LogStore>, clock: Arc<dyn Clock>, retention: time::Duration) -> Arc<Self> {
        let (tx, mut rx) = mpsc::channel::<Queued>(QUEUE);
        let writer = store.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let mut last_prune: Option<OffsetDateTime> = None;
            while let Some(first) = rx.recv().await {
                let mut flushed = Vec::new();
                match first {
                    Queued::Entry(e) => batch.push(e),
                    Queued::Flush(done) => flushed.push(done),
                }
                let deadline = tokio::time::Instant::now() + LINGER;
                while batch.len() < BATCH && flushed.is_empty() {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(Queued::Entry(e))) => batch.push(e),
                        Ok(Some(Queued::Flush(done))) => flushed.push(done),
                        Ok(None) | Err(_) => break,
                    }
                }
                // A failed batch is kept and retried (appends are idempotent: records are keyed by
                // id), so records queued during a transient fault — a full disk, a database
                // restart — are written once it passes. Meanwhile new records wait in the bounded
                // queue, and beyond it are dropped and counted, as when the store is slow.
                let mut wait = RETRY_FIRST;
                while let Err(e) = writer.append(&batch).await {
                    tracing::warn!(
                        error = %e,
                        records = batch.len(),
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "could not write provisioning log records; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
                batch.clear();
                for done in flushed {
                    let _ = done.send(());
                }
                let now = clock.now();
                if last_prune.is_none_or(|t| now - t >= time::Duration::hours(1)) {
                    last_prune = Some(now);
                    // Retention is bounded by `duration::MAX`; a date before the calendar's start
                    // prunes nothing.
                    let Some(cutoff) = now.checked_sub(retention) else { continue };
                    match writer.prune(cutoff).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(records = n, "pruned provisioning log records past retention")
                        }
                        Err(e) => tracing::warn!(error = %e, "could not prune the provisioning log"),
                    }
                }
            }
        });
        Arc::new(Self {
            tx,
            store,
            dropped: std::sync::atomic::AtomicU64::new(0),
            client_names: Mutex::default(),
        })
    }

    /// The store, for reading.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// Records dropped because the queue was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The name of the OAuth client `client_id` (what people registered it as), remembered: a
    /// client's name never changes, and a deleted client's tokens stop working. The client id when
    /// the client cannot be read.
    async fn client_name(&self, state: &AppState, client_id: &str) -> String {
        if let Some(name) = self.client_names.lock().ok().and_then(|m| m.get(client_id).cloned()) {
            return name;
        }
        match state.store.client(client_id).await {
            Ok(Some(c)) => {
                if let Ok(mut m) = self.client_names.lock() {
                    if m.len() >= MAX_CLIENT_NAMES {
                        m.clear();
                    }
                    m.insert(client_id.to_owned(), c.name.clone());
                }
                c.name
            }
            _ => client_id.to_owned(),
        }
    }

    /// Returns once every record queued before the call is in the store: a tenant's deletion
    /// waits for it, so that its requests answered just before are not written after it.
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.tx.send(Queued::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    fn record(&self, entry: LogEntry) {
        if self.tx.try_send(Queued::Entry(entry)).is_err() {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A record as the admin API and `scimd logs` show it: `tenant` is the tenant's slug (what people
/// and URLs name it by), not its internal id.
pub fn entry_json(entry: &LogEntry, slug: &str) -> Value {
    let mut v = serde_json::to_value(entry).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("tenant".into(), Value::String(slug.to_owned()));
    }
    v
}

/// `status=4xx` → 400..=499; `status=404` → 404..=404.
pub fn parse_status(s: &str) -> Option<(u16, u16)> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(class) = s.strip_suffix("xx") {
        let c: u16 = class.parse().ok().filter(|c| (1..=5).contains(c))?;
        return Some((c * 100, c * 100 + 99));
    }
    let n: u16 = s.parse().ok().filter(|n| (100..=599).contains(n))?;
    Some((n, n))
}

/// `since=1h` (a duration back from now: s, m, h, d, w) or an RFC 3339 time. `Err` says why not,
/// for the caller's 400 or `error:` line: out-of-range durations are errors, never a panic.
pub fn parse_since(s: &str, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, String> {
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let d =
        crate::duration::parse(s).map_err(|e| format!("{e}; use e.g. 1h, 30m, 7d or an RFC 3339 time"))?;
    crate::duration::before(now, d)
}

/// Filled by the [`Principal`] extractor, read by the middleware after the handler ran.
#[derive(Clone, Default)]
pub(crate) struct LogSlot(Arc<Mutex<Option<Principal>>>);

impl LogSlot {
    pub(crate) fn set(&self, p: &Principal) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(p.clone());
        }
    }

    fn take(&self) -> Option<Principal> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// The identity provider a request looks like it came from: the User-Agent first (Okta sends
/// `Okta SCIM Client`; Entra's is undocumented but contains `Azure AD` or `Microsoft` in every
/// capture), then Entra's query flag, then Entra's capitalised PATCH ops
/// (Microsoft's "Known issues and resolutions with SCIM 2.0 compliance" page), which Okta never sends.
pub(crate) fn detect_client(headers: &HeaderMap, query: Option<&str>, body: Option<&Value>) -> &'static str {
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if ua.contains("okta") {
        return "okta";
    }
    if ua.contains("azure") || ua.contains("microsoft") || ua.contains("entra") {
        return "entra";
    }
    if query.is_some_and(|q| q.to_ascii_lowercase().contains("aadoptscim062020")) {
        return "entra";
    }
    let capitalised_op =
        body.and_then(|b| b.get("Operations")).and_then(Value::as_array).is_some_and(|ops| {
            ops.iter()
                .filter_map(|o| o.get("op").and_then(Value::as_str))
                .any(|op| op.starts_with(char::is_uppercase))
        });
    if capitalised_op { "entra" } else { "other" }
}

/// The text that stands for a redacted secret.
const REDACTED: &str = "***";

/// Replaces every secret in the body of a `method` request to `path` by `"***"`.
///
/// First every value the request writes into a writeOnly attribute (RFC 7643 §4.1.1 `password`:
/// "mutability writeOnly, returned never"), found by [`writes::write_only_values`] with the same
/// resolution the validator and the PATCH engine use, so that every spelling they accept as a
/// password is also hidden here. Then, for what those do not read as a write (a request that will
/// fail, another endpoint), any member whose name ends in `password` (any case, at any depth,
/// after a URN's `:` or a path's `.`) and the value of an operation whose path names `password`.
pub(crate) fn redact(v: &mut Value, method: &Method, path: &str) {
    if let Some((kind, request)) = write_request(method, path) {
        let rs = crate::scim::schema_of(kind);
        let pointers: Vec<String> =
            writes::write_only_values(rs, request, v).into_iter().map(|w| w.pointer).collect();
        for p in pointers {
            if let Some(secret) = v.pointer_mut(&p) {
                *secret = Value::String(REDACTED.into());
            }
        }
    }
    redact_password_members(v);
}

/// What a SCIM request path and method write: a resource (POST to `…/Users`, PUT to
/// `…/Users/{id}`) or a PATCH (RFC 7644 §3.3, §3.5.1, §3.5.2).
fn write_request(method: &Method, path: &str) -> Option<(ResourceKind, WriteRequest)> {
    let path = path.split('?').next().unwrap_or("");
    let mut parts = path.trim_end_matches('/').rsplit('/');
    let (last, before) = (parts.next()?, parts.next());
    let kind_of = |s: &str| match s {
        "Users" => Some(ResourceKind::User),
        "Groups" => Some(ResourceKind::Group),
        _ => None,
    };
    match *method {
        Method::POST => kind_of(last).map(|k| (k, WriteRequest::Resource)),
        Method::PUT => kind_of(before?).map(|k| (k, WriteRequest::Resource)),
        Method::PATCH => kind_of(before?).map(|k| (k, WriteRequest::Patch)),
        _ => None,
    }
}

/// Whether `name` (a member name or a path) ends in `password`, whatever its case and prefix.
fn names_password(name: &str) -> bool {
    let last = name.rsplit([':', '.']).next().unwrap_or(name);
    last.trim().eq_ignore_ascii_case("password")
}

fn redact_password_members(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let patch_password = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                .and_then(|(_, p)| p.as_str())
                .is_some_and(|p| p.to_ascii_lowercase().contains("password"));
            for (k, child) in map.iter_mut() {
                if names_password(k) || (patch_password && k.eq_ignore_ascii_case("value")) {
                    *child = Value::String(REDACTED.into());
                } else {
                    redact_password_members(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_password_members),
        _ => {}
    }
}

/// Query parameters whose values are credentials (RFC 6750 §2.3 `access_token`, RFC 6749 §2.3.1
/// `client_secret`, §4.1.2 `code`, §6 `refresh_token`, and a `password`): compared in any case.
const SECRET_PARAMS: [&str; 5] = ["access_token", "client_secret", "code", "refresh_token", "password"];

/// `path?query` with the value of every credential parameter replaced by `***` (RFC 6750 §5.3:
/// access tokens must not be written to logs). The other parameters are kept as sent.
pub(crate) fn redact_query(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else { return path_and_query.to_owned() };
    let params: Vec<String> = query
        .split('&')
        .map(|param| {
            let name = param.split('=').next().unwrap_or("");
            // A name may itself be percent-encoded (`access%5Ftoken`): compared decoded, as the
            // application/x-www-form-urlencoded parser reads it (WHATWG URL §5.1).
            let decoded = url::form_urlencoded::parse(name.as_bytes()).next().map(|(k, _)| k);
            if decoded.is_some_and(|d| SECRET_PARAMS.iter().any(|s| d.trim().eq_ignore_ascii_case(s))) {
                format!("{name}={REDACTED}")
            } else {
                param.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// What the log keeps of a response body: its text, truncated. A response never carries a
/// password (RFC 7643 §4.1.1: `returned` is `never`), so the text is kept as sent, without the
/// cost of parsing every write's answer; should one ever name a password (a bug), it is parsed
/// and redacted like a request before anything is kept.
fn response_text(bytes: &[u8], method: &Method, path: &str) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let mentions_password = bytes.windows(8).any(|w| w.eq_ignore_ascii_case(b"password"));
    if mentions_password {
        return Some(match serde_json::from_slice::<Value>(bytes) {
            Ok(mut v) => {
                redact(&mut v, method, path);
                truncate(v.to_string(), MAX_RESPONSE_BODY)
            }
            Err(_) => format!("(not JSON, {} bytes)", bytes.len()),
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.len() <= MAX_RESPONSE_BODY => Some(text.to_owned()),
        Ok(text) => {
            let mut cut = MAX_RESPONSE_BODY;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            Some(format!("{}…", &text[..cut]))
        }
        Err(_) => Some(format!("(not text, {} bytes)", bytes.len())),
    }
}

/// `…/Users/{id}` or `…/Groups/{id}` → the id.
fn resource_in_path(path: &str) -> Option<String> {
    let mut parts = path.rsplit('/');
    let last = parts.next()?;
    let kind = parts.next()?;
    (matches!(kind, "Users" | "Groups") && !last.is_empty()).then(|| last.to_owned())
}

/// Middleware: records SCIM requests when the application has a provisioning log.
pub(crate) async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(log) = state.log.clone() else { return next.run(req).await };
    if !crate::middleware::is_scim_path(req.uri().path()) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let time = state.clock.now();
    let method = req.method().clone();
    let path =
        req.uri().path_and_query().map_or_else(|| req.uri().path().to_owned(), |p| redact_query(p.as_str()));
    let slot = LogSlot::default();

    // Keep the body of writes: read it (within the configured limit) and put it back.
    let (mut parts, body) = req.into_parts();
    let mut client = detect_client(&parts.headers, parts.uri.query(), None);
    let mut body_text = None;
    let mut too_large = false;
    let body = if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        match axum::body::to_bytes(body, state.config.max_body_bytes).await {
            Ok(bytes) => {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(mut v) => {
                        // The body tells Entra apart when the headers did not (before redaction).
                        if client == "other" {
                            client = detect_client(&parts.headers, parts.uri.query(), Some(&v));
                        }
                        redact(&mut v, &method, &path);
                        body_text = Some(truncate(v.to_string(), MAX_BODY));
                    }
                    Err(_) if !bytes.is_empty() => {
                        body_text = Some(format!("(not JSON, {} bytes)", bytes.len()))
                    }
                    Err(_) => {}
                }
                Body::from(bytes)
            }
            Err(_) => {
                too_large = true;
                Body::empty()
            }
        }
    } else {
        body
    };
    parts.extensions.insert(slot.clone());
    let resp = if too_large {
        // Over the limit (413), answered here since the body has been consumed; recorded as such.
        crate::middleware::too_large(state.config.max_body_bytes)
    } else {
        next.run(Request::from_parts(parts, body)).await
    };

    let status = resp.status();
    let failed = status.is_client_error() || status.is_server_error();
    let write = matches!(method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let (resp, scim_type, detail, response_body) = if failed || write {
        let (rparts, rbody) = resp.into_parts();
        let size = axum::body::HttpBody::size_hint(&rbody).exact();
        // An error is read to find its scimType and detail (bounded); a successful write's body
        // only when it is whole in memory already and small, so the log never makes a response
        // wait or costs its size in memory.
        let readable = failed || size.is_some_and(|n| n <= MAX_ERROR_BODY as u64);
        if readable {
            let bytes = axum::body::to_bytes(rbody, MAX_ERROR_BODY).await.unwrap_or_default();
            let (t, d) = if failed {
                let err: Option<Value> = serde_json::from_slice(&bytes).ok();
                let field =
                    |k: &str| err.as_ref().and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_owned);
                (field("scimType"), field("detail"))
            } else {
                (None, None)
            };
            (
                Response::from_parts(rparts, Body::from(bytes.clone())),
                t,
                d,
                response_text(&bytes, &method, &path),
            )
        } else {
            let note = size.map(|n| format!("({n} bytes, not kept)"));
            (Response::from_parts(rparts, rbody), None, None, note)
        }
    } else {
        (resp, None, None, None)
    };

    // Only a request authenticated by a credential valid for the tenant it acts in reaches that
    // tenant's log: an unauthenticated one, or one with another tenant's credential, would let
    // anyone write into any tenant's log. Those are counted at `/metrics` and limited per address
    // instead (`auth::refused`).
    let Some(principal) = slot.take() else { return resp };
    let tenant = principal.tenant.id;
    let resource_id = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(resource_in_path)
        .or_else(|| resource_in_path(path.split('?').next().unwrap_or("")));
    let c = &principal.credential;
    let credential_name = match c.kind {
        CredentialKind::OAuthAccessToken => log.client_name(&state, &c.name).await,
        CredentialKind::StaticToken => c.name.clone(),
    };
    log.record(LogEntry {
        id: state.clock.new_id(),
        time,
        tenant,
        credential_id: Some(c.id.clone()),
        credential_name: Some(credential_name),
        credential_kind: Some(
            match c.kind {
                CredentialKind::StaticToken => "static_token",
                CredentialKind::OAuthAccessToken => "oauth_access_token",
            }
            .to_owned(),
        ),
        client: client.to_owned(),
        method: method.to_string(),
        path,
        status: status.as_u16(),
        scim_type,
        detail,
        duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        resource_id,
        request_body: body_text,
        request_id: crate::request_id::current(),
        response_body,
    });
    resp
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    /// A log store in memory: what was appended, in order.
    #[derive(Default)]
    struct Memory(Mutex<Vec<LogEntry>>);

    #[async_trait::async_trait]
    impl LogStore for Memory {
        async fn append(&self, entries: &[LogEntry]) -> scimd_store::Result<()> {
            self.0.lock().unwrap().extend_from_slice(entries);
            Ok(())
        }
        async fn query(&self, _: &scimd_store::LogQuery) -> scimd_store::Result<Vec<LogEntry>> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn prune(&self, _: OffsetDateTime) -> scimd_store::Result<u64> {
            Ok(0)
        }
        async fn delete_tenant(&self, _: uuid::Uuid) -> scimd_store::Result<u64> {
            Ok(0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn flush_writes_what_is_queued_without_waiting_for_the_batch_to_fill() {
        let memory = Arc::new(Memory::default());
        let clock = Arc::new(scimd_store::MockClock::new(time::macros::datetime!(2026-12-04 12:00 UTC)));
        let log = ProvisioningLog::start(memory.clone(), clock, time::Duration::days(30));
        let entry = |n: u128| LogEntry {
            id: uuid::Uuid::from_u128(n),
            time: time::macros::datetime!(2026-12-04 12:00 UTC),
            tenant: uuid::Uuid::nil(),
            credential_id: None,
            credential_name: None,
            credential_kind: None,
            client: "other".into(),
            method: "GET".into(),
            path: "/scim/v2/Users".into(),
            status: 200,
            scim_type: None,
            detail: None,
            duration_us: 1,
            resource_id: None,
            request_body: None,
            request_id: None,
            response_body: None,
        };
        log.record(entry(1));
        log.record(entry(2));
        // Tokio's clock is paused, so it moves only when every task waits on a timer: a flush
        // that waited out the writer's linger would show as virtual time passed.
        let asked = tokio::time::Instant::now();
        log.flush().await;
        assert!(asked.elapsed() < LINGER, "the flush waited for the linger: {:?}", asked.elapsed());
        let written: Vec<u128> = memory.0.lock().unwrap().iter().map(|e| e.id.as_u128()).collect();
        assert_eq!(written, [1, 2]);
        log.flush().await;
        assert_eq!(memory.0.lock().unwrap().len(), 2, "an empty flush writes nothing");
    }

    #[test]
    fn response_bodies_are_kept_as_sent_and_redacted_if_they_ever_name_a_password() {
        let user = br#"{"id":"1","userName":"a@b.example"}"#;
        assert_eq!(
            response_text(user, &Method::POST, "/scim/v2/Users").as_deref(),
            Some(r#"{"id":"1","userName":"a@b.example"}"#)
        );
        let leaked = br#"{"id":"1","userName":"a@b.example","PassWord":"hunter2"}"#;
        let kept = response_text(leaked, &Method::POST, "/scim/v2/Users").unwrap();
        assert!(!kept.contains("hunter2") && kept.contains("***"), "{kept}");
        let long = format!("\"{}\"", "é".repeat(5000));
        let kept = response_text(long.as_bytes(), &Method::PUT, "/scim/v2/Users/1").unwrap();
        assert!(
            kept.len() <= MAX_RESPONSE_BODY + '…'.len_utf8() && kept.ends_with('…'),
            "cut on a character boundary"
        );
        assert_eq!(response_text(b"", &Method::DELETE, "/scim/v2/Users/1"), None);
    }

    #[test]
    fn status_and_since_filters() {
        assert_eq!(parse_status("4xx"), Some((400, 499)));
        assert_eq!(parse_status("5XX"), Some((500, 599)));
        assert_eq!(parse_status("409"), Some((409, 409)));
        assert_eq!(parse_status("9xx"), None);
        assert_eq!(parse_status("abc"), None);
        let now = time::macros::datetime!(2026-11-23 12:00 UTC);
        assert_eq!(parse_since("1h", now), Ok(time::macros::datetime!(2026-11-23 11:00 UTC)));
        assert_eq!(parse_since("2d", now), Ok(time::macros::datetime!(2026-11-21 12:00 UTC)));
        assert_eq!(
            parse_since("2026-11-23T10:00:00Z", now),
            Ok(time::macros::datetime!(2026-11-23 10:00 UTC))
        );
        assert!(parse_since("0h", now).is_err());
        assert!(parse_since("h", now).is_err());
        assert!(parse_since("", now).is_err());
        assert!(parse_since("99999999999d", now).unwrap_err().contains("at most"));
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let mut v = json!({
            "userName": "b",
            "password": "hunter2",
            "nested": [{"Password": "x"}],
            "Operations": [
                {"op": "replace", "path": "password", "value": "s3cret"},
                {"op": "replace", "value": {"password": "t0p", "active": false}},
                {"op": "replace", "path": "active", "value": false}
            ]
        });
        redact(&mut v, &Method::POST, "/scim/v2/Bulk");
        let s = v.to_string();
        for secret in ["hunter2", "s3cret", "t0p", "\"x\""] {
            assert!(!s.contains(secret), "{secret} leaked: {s}");
        }
        assert_eq!(v["Operations"][2]["value"], false, "other values stay");
        assert_eq!(v["userName"], "b");
    }

    /// Any JSON value, with `password` members planted at random depths.
    fn json_with_passwords() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            "[a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(("(password|PassWord|name|value|path)", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn no_password_left(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().all(|(k, child)| {
                if k.eq_ignore_ascii_case("password") { child == "***" } else { no_password_left(child) }
            }),
            Value::Array(items) => items.iter().all(no_password_left),
            _ => true,
        }
    }

    proptest::proptest! {
        #[test]
        fn redaction_leaves_no_password_member(mut v in json_with_passwords()) {
            redact(&mut v, &Method::PATCH, "/scim/v2/Users/u1");
            proptest::prop_assert!(no_password_left(&v), "{}", v);
        }
    }

    #[test]
    fn clients_are_told_apart() {
        let ua = |s: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::USER_AGENT, HeaderValue::from_str(s).unwrap());
            h
        };
        assert_eq!(detect_client(&ua("Okta SCIM Client 1.0.0"), None, None), "okta");
        assert_eq!(detect_client(&ua("Microsoft Azure AD SCIM provisioning 1.0.0"), None, None), "entra");
        assert_eq!(detect_client(&HeaderMap::new(), Some("aadOptscim062020"), None), "entra");
        let entra_patch = json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
        assert_eq!(detect_client(&HeaderMap::new(), None, Some(&entra_patch)), "entra");
        let rfc_patch = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
        assert_eq!(detect_client(&ua("curl/8"), None, Some(&rfc_patch)), "other");
    }

    #[test]
    fn resource_ids_from_paths() {
        assert_eq!(resource_in_path("/scim/v2/Users/abc").as_deref(), Some("abc"));
        assert_eq!(resource_in_path("http://h/tenants/x/scim/v2/Groups/g1").as_deref(), Some("g1"));
        assert_eq!(resource_in_path("/scim/v2/Users"), None);
        assert_eq!(truncate("ééé".into(), 3), "é…");
    }
}
