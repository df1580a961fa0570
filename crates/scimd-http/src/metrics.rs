//! Prometheus metrics at `/metrics` (text exposition format 0.0.4): requests by route template,
//! method, status and tenant, and a latency histogram by route and method.
//!
//! Labels use the matched route template (`/scim/v2/Users/{id}`), never the raw path, so ids do
//! not explode the series count; unmatched paths share the label `unmatched`. Each [`Metrics`] has
//! its own registry (not the process-global one), so several servers in one process — the test
//! suite — keep separate counts.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

use crate::AppState;
use crate::error::ApiError;

/// Latency buckets in seconds: 1 ms to 10 s.
const BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0];

/// The HTTP metrics and their registry.
pub struct Metrics {
    registry: Registry,
    inner: Option<Instruments>,
}

struct Instruments {
    requests: IntCounterVec,
    latency: HistogramVec,
    refused: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("enabled", &self.inner.is_some()).finish()
    }
}

impl Metrics {
    /// A fresh registry with scimd's instruments.
    #[must_use]
    pub fn new() -> Self {
        let registry = Registry::new();
        let inner = Self::instruments(&registry)
            // Only invalid metric names can fail here, and the names are constants: unreachable,
            // but a metrics failure must never stop the server, so it degrades to no metrics.
            .inspect_err(|e| tracing::error!(error = %e, "metrics disabled"))
            .ok();
        Self { registry, inner }
    }

    fn instruments(registry: &Registry) -> Result<Instruments, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "scimd_http_requests_total",
                "HTTP requests by route template, method, status and tenant.",
            ),
            &["route", "method", "status", "tenant"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "scimd_http_request_duration_seconds",
                "HTTP request latency by route and method.",
            )
            .buckets(BUCKETS.to_vec()),
            &["route", "method"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "scimd_unauthenticated_requests_total",
                "Requests refused before reaching a tenant: no credential (missing), an unknown one \
                 (invalid), another tenant's (wrong_tenant); throttled when the address was over its \
                 limit. Kept out of every tenant's provisioning log.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(Instruments { requests, latency, refused })
    }

    /// Records one finished request.
    pub fn observe(&self, route: &str, method: &Method, status: StatusCode, tenant: &str, seconds: f64) {
        let Some(m) = &self.inner else { return };
        // Arbitrary method names would be unbounded label values.
        let method = match *method {
            Method::GET
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
            | Method::HEAD
            | Method::OPTIONS => method.as_str(),
            _ => "other",
        };
        m.requests.with_label_values(&[route, method, status.as_str(), tenant]).inc();
        m.latency.with_label_values(&[route, method]).observe(seconds);
    }

    /// Counts a request refused before authentication succeeded (`reason`: `missing`, `invalid`,
    /// `wrong_tenant`, `throttled`).
    pub fn refused(&self, reason: &'static str) {
        if let Some(m) = &self.inner {
            m.refused.with_label_values(&[reason]).inc();
        }
    }

    /// The registry, for instruments of other parts of the server (event delivery).
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// A slot in the request's extensions that the [`crate::Principal`] extractor fills with the
/// tenant's slug, for the `tenant` label (empty for unauthenticated requests).
#[derive(Clone, Debug, Default)]
pub(crate) struct TenantLabel(Arc<OnceLock<String>>);

impl TenantLabel {
    pub(crate) fn set(&self, slug: &str) {
        let _ = self.0.set(slug.to_owned());
    }
}

/// Middleware: times the request and counts it.
pub(crate) async fn track(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().clone();
    let tenant = TenantLabel::default();
    req.extensions_mut().insert(tenant.clone());
    let resp = next.run(req).await;
    let slug = tenant.0.get().map_or("", String::as_str);
    state.metrics.observe(&route, &method, resp.status(), slug, started.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut body =
        state.metrics.encode().map_err(|e| ApiError::Internal(format!("encoding metrics: {e}")))?;
    // The event log: appended by this process (counters), held by the database (gauges, read at
    // scrape time; left out when the database does not answer, so a scrape never fails on it).
    let appended = state.store.event_signal().appended();
    body.push_str(
        "# HELP scimd_events_appended_total Events appended to the event log by this process, by type.\n",
    );
    body.push_str("# TYPE scimd_events_appended_total counter\n");
    for t in scimd_store::EventType::ALL {
        body.push_str(&format!(
            "scimd_events_appended_total{{type=\"{}\"}} {}\n",
            t.as_str(),
            appended.get(t)
        ));
    }
    if let Ok(stats) = state.store.event_stats().await {
        body.push_str("# HELP scimd_events_held Events held in the event log, every tenant.\n");
        body.push_str("# TYPE scimd_events_held gauge\n");
        body.push_str(&format!("scimd_events_held {}\n", stats.events));
        if let Some(oldest) = stats.oldest {
            body.push_str("# HELP scimd_events_oldest_timestamp_seconds When the oldest event held occurred (retention prunes before it).\n");
            body.push_str("# TYPE scimd_events_oldest_timestamp_seconds gauge\n");
            body.push_str(&format!("scimd_events_oldest_timestamp_seconds {}\n", oldest.unix_timestamp()));
        }
    }
    // Delivery backlogs, per endpoint (bounded: endpoints are registered by administrators).
    if let Ok(backlogs) = state.store.backlogs().await {
        body.push_str("# HELP scimd_deliveries_pending Deliveries not yet acknowledged, per endpoint.\n");
        body.push_str("# TYPE scimd_deliveries_pending gauge\n");
        for b in &backlogs {
            body.push_str(&format!(
                "scimd_deliveries_pending{{endpoint=\"{}\"}} {}\n",
                b.endpoint, b.pending
            ));
        }
        body.push_str("# HELP scimd_deliveries_dead Dead-lettered deliveries, per endpoint.\n");
        body.push_str("# TYPE scimd_deliveries_dead gauge\n");
        for b in &backlogs {
            body.push_str(&format!("scimd_deliveries_dead{{endpoint=\"{}\"}} {}\n", b.endpoint, b.dead));
        }
    }
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], body)
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_labels() {
        let m = Metrics::new();
        m.observe("/scim/v2/Users/{id}", &Method::GET, StatusCode::OK, "acme", 0.003);
        m.observe("/scim/v2/Users/{id}", &Method::GET, StatusCode::OK, "acme", 0.004);
        m.observe("unmatched", &Method::from_bytes(b"BREW").unwrap(), StatusCode::NOT_FOUND, "", 0.0);
        let text = m.encode().unwrap();
        assert!(
            text.contains(
                r#"scimd_http_requests_total{method="GET",route="/scim/v2/Users/{id}",status="200",tenant="acme"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"method="other""#), "{text}");
        assert!(text.contains("scimd_http_request_duration_seconds_bucket"), "{text}");
        m.refused("missing");
        assert!(m.encode().unwrap().contains(r#"scimd_unauthenticated_requests_total{reason="missing"} 1"#));
    }
}
