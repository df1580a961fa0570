//! The Connection page: what an identity provider's provisioning settings need — this tenant's
//! SCIM URL, token and authorize endpoints — with the Entra ID and Okta steps filled in, and the
//! last requests each identity provider sent with their outcome.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use scimd_http::AppState;
use scimd_store::{LogEntry, LogQuery};

use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::view::{self, Layout, when};

/// How far back the page looks for each client's last requests: the newest this many records of
/// the tenant's log, so the page costs one bounded read however busy the tenant is.
const RECENT: u32 = 500;
/// Requests shown per identity provider.
const PER_CLIENT: usize = 5;

pub(crate) struct Recent {
    pub(crate) client: &'static str,
    pub(crate) requests: Vec<Row>,
}

pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) time: String,
    pub(crate) client: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) detail: String,
}

impl Row {
    pub(crate) fn of(e: &LogEntry) -> Row {
        Row {
            id: e.id.to_string(),
            time: when(e.time),
            client: e.client.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            detail: e.detail.clone().unwrap_or_default(),
        }
    }

    /// The class name of its status, for colour.
    pub(crate) fn outcome(&self) -> &'static str {
        match self.status {
            200..=399 => "ok",
            400..=499 => "refused",
            _ => "failed",
        }
    }
}

#[derive(Template)]
#[template(path = "connection.html")]
struct ConnectionPage {
    l: Layout,
    scim_url: String,
    token_endpoint: String,
    authorize_endpoint: String,
    recent: Vec<Recent>,
    has_log: bool,
}

/// `GET /console/`.
pub(crate) async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let base = scimd_http::oauth::issuer(&state.config, &headers);
    let mut recent = Vec::new();
    if let Some(log) = &state.log {
        let entries = log
            .store()
            .query(&LogQuery { tenant: who.tenant.id, limit: RECENT, ..LogQuery::default() })
            .await?;
        // The provisioning log names each request's client as the request looked: `entra`,
        // `okta` or `other` (docs/operations.md, "Provisioning log").
        for (key, client) in [("entra", "Microsoft Entra ID"), ("okta", "Okta"), ("other", "Other clients")] {
            let requests: Vec<Row> =
                entries.iter().filter(|e| e.client == key).take(PER_CLIENT).map(Row::of).collect();
            if !requests.is_empty() {
                recent.push(Recent { client, requests });
            }
        }
    }
    let page = ConnectionPage {
        l: Layout::signed_in(&who, "Connection", "connection"),
        scim_url: format!("{base}/tenants/{}/scim/v2", who.tenant.slug),
        token_endpoint: format!("{base}/oauth2/token"),
        authorize_endpoint: format!("{base}/oauth2/authorize"),
        recent,
        has_log: state.log.is_some(),
    };
    Ok(view::render(StatusCode::OK, &page))
}
