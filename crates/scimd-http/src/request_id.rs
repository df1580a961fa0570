//! The request id: one per request, so a client's error report, the access log and a 500's log
//! line can be matched up.
//!
//! Taken from the client's `x-request-id` when it is a sane token (a load balancer or IdP may set
//! one), else generated from the clock (a UUIDv7). It is echoed in the response header, put on the
//! request's tracing span (so every log line of the request carries it), kept in a task-local for
//! error bodies ([`current`]), and set on the request's headers for handlers.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use crate::AppState;

/// The header.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-supplied id kept; longer ones are replaced.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, if any.
#[must_use]
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// A client id is kept if it is short, visible ASCII, and has nothing that could forge a log field.
fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= MAX_LEN
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        });
    ok.then(|| s.to_owned())
}

/// The outermost middleware: assigns the id, opens the request's span, logs one line per request.
pub(crate) async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id =
        req.headers().get(&HEADER).and_then(acceptable).unwrap_or_else(|| state.clock.new_id().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(HEADER.clone(), v);
    }
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        route = route.as_deref().unwrap_or(""),
        tenant = tracing::field::Empty,
        credential = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut resp = CURRENT.scope(id.clone(), next.run(req).instrument(span.clone())).await;
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER.clone(), v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert_eq!(acceptable(&HeaderValue::from_static("abc-123")), Some("abc-123".into()));
        assert_eq!(acceptable(&HeaderValue::from_static("")), None);
        assert_eq!(acceptable(&HeaderValue::from_static("a b")), None);
        assert_eq!(acceptable(&HeaderValue::from_static("a\"b")), None);
        assert_eq!(acceptable(&HeaderValue::from_str(&"a".repeat(129)).unwrap()), None);
    }

    #[tokio::test]
    async fn current_is_scoped() {
        assert_eq!(current(), None);
        let inside = CURRENT.scope("x".into(), async { current() }).await;
        assert_eq!(inside, Some("x".into()));
    }
}
