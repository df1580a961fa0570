//! Liveness and readiness for orchestrators.
//!
//! `/healthz` says the process answers (no database: a slow database must not get the process
//! killed); `/readyz` says it can serve, i.e. the store answers a ping and, after a write failed
//! (a full disk), its writes reach the disk again — the store's and the provisioning log's
//! (503 otherwise, so a load balancer stops sending traffic). Both are unauthenticated.

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

/// `GET /readyz`: 200 `ready` when the store and the provisioning log answer, else 503 with a
/// SCIM error body (its detail generic: the cause is logged).
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.store.ping().await.map_err(unready)?;
    if let Some(log) = &state.log {
        log.store().ping().await.map_err(unready)?;
    }
    Ok(text("ready"))
}

/// Whatever the cause, a store that does not answer makes the server unready (503), not broken.
fn unready(e: StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(_) => e,
        other => StoreError::Unavailable(other.to_string()),
    }
}
