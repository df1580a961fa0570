//! The console's one error type and the one table that turns it into a page. Storage and protocol
//! errors go through scimd-http's table ([`ApiError::to_scim`]), so a page words them as the API
//! does and a storage fault's text is logged, never shown.

use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use scimd_http::ApiError;
use scimd_schema::ScimError;
use scimd_store::StoreError;

use crate::view::{self, ErrorPage};

/// Why a console request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    /// A storage or protocol error, worded by the API's table.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No such page, or no such object in this tenant.
    #[error("{0}")]
    NotFound(String),
    /// A form without this session's CSRF token.
    #[error("{0}")]
    Forbidden(String),
    /// The database cannot be reached right now.
    #[error("the database is unavailable")]
    Unavailable,
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        ConsoleError::Api(e.into())
    }
}

impl From<ScimError> for ConsoleError {
    fn from(e: ScimError) -> Self {
        ConsoleError::Api(e.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ConsoleError::Api(e) => {
                let e = e.to_scim();
                (StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), e.detail)
            }
            ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ConsoleError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database cannot be reached right now. Try again in a moment.".to_owned(),
            ),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        view::render(status, &ErrorPage { title, message: &message })
    }
}

/// The console's fallback: a page, not a SCIM error body.
pub(crate) async fn not_found(OriginalUri(uri): OriginalUri) -> ConsoleError {
    ConsoleError::NotFound(format!("There is no console page at {}.", uri.path()))
}
