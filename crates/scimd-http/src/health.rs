//! Liveness and readiness for orchestrators.
//!
//! `/healthz` says the process answers (no database: a slow database must not get the process
//! killed); `/readyz` says it can serve, i.e. the store answers a ping (503 otherwise, so a load
//! balancer stops sending traffic). Both are unauthenticated.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use scimd_store::StoreError;

use crate::AppState;
use crate::error::ApiError;

fn text(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], body).into_response()
}

/// `GET /healthz`: always 200 `ok`.
pub(crate) async fn healthz() -> Response {
    text("ok")
}

/// `GET /readyz`: 200 `ready` when the store answers, else 503 with a SCIM error body.
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Whatever the cause, a store that does not answer makes the server unready (503), not broken.
    state.store.ping().await.map_err(|e| match e {
        StoreError::Unavailable(_) => e,
        other => StoreError::Unavailable(other.to_string()),
    })?;
    Ok(text("ready"))
}
