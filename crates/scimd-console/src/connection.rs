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

/// One step of "Test connection", as the identity provider's own test runs it.
pub(crate) struct Step {
    pub(crate) request: String,
    pub(crate) status: u16,
    pub(crate) outcome: String,
}

impl Step {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
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
    tested: Option<Vec<Step>>,
    test_kind: String,
    test_client_id: String,
}

/// `GET /console/`.
pub(crate) async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let page = page(&state, &who, &headers).await?;
    Ok(view::render(StatusCode::OK, &page))
}

async fn page(state: &AppState, who: &SignedIn, headers: &HeaderMap) -> Result<ConnectionPage, ConsoleError> {
    let base = scimd_http::oauth::issuer(&state.config, headers);
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
    Ok(ConnectionPage {
        l: Layout::signed_in(who, "Connection", "connection"),
        scim_url: format!("{base}/tenants/{}/scim/v2", who.tenant.slug),
        token_endpoint: format!("{base}/oauth2/token"),
        authorize_endpoint: format!("{base}/oauth2/authorize"),
        recent,
        has_log: state.log.is_some(),
        tested: None,
        test_kind: "token".into(),
        test_client_id: String::new(),
    })
}

/// `POST /console/test`: what Entra ID's "Test Connection" does with the credentials pasted into
/// it — a token from the token endpoint when they are a client id and secret (client
/// credentials), then `GET /Users?count=1` and `GET /ServiceProviderConfig` under the tenant's
/// SCIM URL — through the same code those requests run (the authorization server, the credential
/// check, the store), each step shown with the status the request would get.
pub(crate) async fn test(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ConsoleError> {
    let form = crate::session::Form::parse(&body);
    who.check_csrf(&form)?;
    let mut page = page(&state, &who, &headers).await?;
    let issuer = scimd_http::oauth::issuer(&state.config, &headers);
    let kind = form.get("kind").unwrap_or("token");
    let mut steps = Vec::new();
    let bearer = if kind == "client" {
        let id = form.get("client_id").unwrap_or("").trim().to_owned();
        page.test_client_id.clone_from(&id);
        let secret = form.get("client_secret").unwrap_or("").to_owned();
        let request = format!("POST {} (client_credentials)", page.token_endpoint);
        let auth = scimd_oauth::ClientAuth::Basic { id, secret };
        let req =
            scimd_oauth::TokenRequest { grant_type: Some("client_credentials".into()), ..Default::default() };
        match state.oauth.token(&auth, req, &issuer).await {
            Ok(t) => {
                steps.push(Step {
                    request,
                    status: 200,
                    outcome: format!(
                        "an access token for {} minutes, scope {:?}",
                        t.expires_in / 60,
                        t.scope
                    ),
                });
                Some(t.access_token)
            }
            Err(e) => {
                steps.push(Step { request, status: e.code.status(), outcome: e.to_string() });
                None
            }
        }
    } else {
        form.get("token").map(|t| t.trim().to_owned())
    };
    if let Some(bearer) = bearer {
        let users = format!("GET {}/Users?count=1", page.scim_url);
        let spc = format!("GET {}/ServiceProviderConfig", page.scim_url);
        match state.verifier.verify(&bearer, &|| issuer.clone()).await {
            Ok(Some(p)) if p.tenant.id == who.tenant.id || p.credential.operator => {
                let list = if p.scopes.contains(scimd_oauth::Scope::UsersRead) {
                    let rs = scimd_schema::ResourceSchema::user();
                    let q = scimd_store::ListQuery {
                        filter: None,
                        sort_by: None,
                        sort_order: Default::default(),
                        paging: scimd_store::Paging::Index { start_index: 1, count: 1 },
                        with_members: false,
                    };
                    match state.store.list(who.tenant.id, scimd_store::ResourceKind::User, &rs, &q).await {
                        Ok(found) => Step {
                            request: users,
                            status: 200,
                            outcome: format!("totalResults {}", found.total_results),
                        },
                        Err(e) => {
                            let e = scimd_http::ApiError::from(e).to_scim();
                            Step { request: users, status: e.status, outcome: e.detail }
                        }
                    }
                } else {
                    Step {
                        request: users,
                        status: 403,
                        outcome: "insufficient_scope: the credential lacks users:read (Entra and Okta read users first)".into(),
                    }
                };
                steps.push(list);
                steps.push(Step {
                    request: spc,
                    status: 200,
                    outcome: format!(
                        "credential {:?} with scope {:?}",
                        p.credential.name,
                        p.scopes.to_scope_string()
                    ),
                });
            }
            Ok(Some(_)) => {
                for request in [users, spc] {
                    steps.push(Step {
                        request,
                        status: 403,
                        outcome: "the credential belongs to another tenant".into(),
                    });
                }
            }
            Ok(None) => {
                for request in [users, spc] {
                    steps.push(Step {
                        request,
                        status: 401,
                        outcome: "invalid_token: unknown, expired or revoked".into(),
                    });
                }
            }
            Err(e) => {
                let e = e.to_scim();
                steps.push(Step { request: users, status: e.status, outcome: e.detail });
            }
        }
    } else if kind != "client" {
        steps.push(Step {
            request: format!("GET {}/Users?count=1", page.scim_url),
            status: 401,
            outcome: "no token was given".into(),
        });
    }
    page.test_kind = kind.to_owned();
    page.tested = Some(steps);
    Ok(view::render(StatusCode::OK, &page))
}
