//! OAuth apps: clients of scimd's authorization server. Client credentials is what Entra ID's
//! "OAuth2 client credentials" mode uses; authorization code is Okta's "OAuth 2" mode, with Okta's
//! callback as redirect URI. Created with a name, grant type, scopes and redirect URIs, the secret
//! shown once; rotated (which revokes every token issued to the client) or deleted after a
//! confirmation. The same calls as the admin API and `scimd client`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use scimd_http::AppState;
use scimd_oauth::{ClientRegistration, RegisterError, Scopes};
use scimd_store::StoreError;
use scimd_store::oauth::{ClientRecord, GrantType};

use crate::error::ConsoleError;
use crate::session::{Form, SignedIn};
use crate::tokens::{ScopeChoice, scope_choices, scopes_of};
use crate::view::{self, ConfirmPage, Layout, when};

struct ClientRow {
    client_id: String,
    name: String,
    grant: &'static str,
    public: bool,
    redirect_uris: Vec<String>,
    scopes: String,
    created: String,
    secret_rotated: String,
}

impl ClientRow {
    fn of(c: &ClientRecord) -> Self {
        ClientRow {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            grant: c.grant.as_str(),
            public: c.secret_digest.is_none(),
            redirect_uris: c.redirect_uris.clone(),
            scopes: c.scopes.join(" "),
            created: when(c.created),
            secret_rotated: c.secret_rotated.map_or_else(|| "never".into(), when),
        }
    }
}

#[derive(Template)]
#[template(path = "clients.html")]
struct ListPage {
    l: Layout,
    clients: Vec<ClientRow>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "client_new.html")]
struct NewPage<'a> {
    l: Layout,
    name: &'a str,
    grant: &'a str,
    redirect_uris: &'a str,
    public: bool,
    scopes: Vec<ScopeChoice>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "client_secret.html")]
struct SecretPage<'a> {
    l: Layout,
    heading: &'a str,
    name: &'a str,
    client_id: &'a str,
    secret: Option<&'a str>,
    token_endpoint: String,
}

/// `GET /console/clients`.
pub(crate) async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let mut clients = state.store.list_clients(who.tenant.id).await?;
    clients.sort_by_key(|c| std::cmp::Reverse(c.created));
    let notice = q.iter().find(|(k, _)| k == "deleted").map(|(_, v)| format!("OAuth app {v:?} was deleted."));
    let page = ListPage {
        l: Layout::signed_in(&who, "OAuth apps", "clients"),
        clients: clients.iter().map(ClientRow::of).collect(),
        notice,
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `GET /console/clients/new`.
pub(crate) async fn new_form(who: SignedIn) -> Response {
    view::render(
        StatusCode::OK,
        &NewPage {
            l: Layout::signed_in(&who, "New OAuth app", "clients"),
            name: "",
            grant: "client_credentials",
            redirect_uris: "",
            public: false,
            scopes: scope_choices(Scopes::all()),
            error: None,
        },
    )
}

fn token_endpoint(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    format!("{}/oauth2/token", scimd_http::oauth::issuer(&state.config, headers))
}

/// `POST /console/clients`: registers the client and shows its secret, once.
pub(crate) async fn create(
    State(state): State<AppState>,
    who: SignedIn,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let name = form.get("name").unwrap_or("").trim();
    let grant_name = form.get("grant_type").unwrap_or("");
    let uris_text = form.get("redirect_uris").unwrap_or("");
    let public = form.get("public").is_some();
    let ticked = Scopes::parse_lenient(form.all("scope"));
    let again = |error: &str| {
        view::render(
            StatusCode::BAD_REQUEST,
            &NewPage {
                l: Layout::signed_in(&who, "New OAuth app", "clients"),
                name,
                grant: grant_name,
                redirect_uris: uris_text,
                public,
                scopes: scope_choices(ticked),
                error: Some(error),
            },
        )
    };
    let Some(grant) = GrantType::parse(grant_name) else {
        return Ok(again("Choose a grant type: client credentials (Entra ID) or authorization code (Okta)."));
    };
    let scopes = match scopes_of(&form) {
        Ok(s) => s,
        Err(e) => return Ok(again(&e)),
    };
    if name.is_empty() {
        return Ok(again("Give the app a name; it is shown on the consent page."));
    }
    // One redirect URI per line; the authorization server checks each (RFC 6749 §3.1.2).
    let redirect_uris: Vec<String> =
        uris_text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let reg = ClientRegistration { name: name.to_owned(), grant, redirect_uris, scopes, public };
    let registered = match state.oauth.register_client(&who.tenant, reg).await {
        Ok(r) => r,
        Err(RegisterError::Invalid(m)) => return Ok(again(&m)),
        Err(RegisterError::Store(e)) => return Err(e.into()),
    };
    tracing::info!(admin = %who.admin.id, client = %registered.record.client_id, "OAuth client created in the console");
    let page = SecretPage {
        l: Layout::signed_in(&who, "OAuth app created", "clients"),
        heading: "OAuth app created",
        name: &registered.record.name,
        client_id: &registered.record.client_id,
        secret: registered.secret.as_ref().map(|s| s.expose()),
        token_endpoint: token_endpoint(&state, &headers),
    };
    Ok(view::render(StatusCode::CREATED, &page))
}

/// The client, if it is this tenant's; another tenant's is "not found".
async fn own_client(state: &AppState, who: &SignedIn, client_id: &str) -> Result<ClientRecord, ConsoleError> {
    match state.store.client(client_id).await? {
        Some(c) if c.tenant == who.tenant.id => Ok(c),
        _ => Err(ConsoleError::NotFound(format!("There is no OAuth app {client_id} in this tenant."))),
    }
}

/// `GET /console/clients/{client_id}/rotate`: asks first.
pub(crate) async fn confirm_rotate(
    State(state): State<AppState>,
    who: SignedIn,
    Path(client_id): Path<String>,
) -> Result<Response, ConsoleError> {
    let client = own_client(&state, &who, &client_id).await?;
    let page = ConfirmPage {
        l: Layout::signed_in(&who, "Rotate secret", "clients"),
        question: format!("Rotate the secret of {:?}?", client.name),
        explanation: "A new secret is shown once. The old one stops working now, and every token issued to this app is revoked: paste the new secret into your identity provider.",
        action: format!("/console/clients/{}/rotate", client.client_id),
        button: "Rotate secret",
        back: "/console/clients",
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/clients/{client_id}/rotate`.
pub(crate) async fn rotate(
    State(state): State<AppState>,
    who: SignedIn,
    headers: axum::http::HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let client = own_client(&state, &who, &client_id).await?;
    let secret = match state.oauth.rotate_client_secret(&client).await {
        Ok(s) => s,
        // A public client has no secret to rotate.
        Err(StoreError::Conflict(m)) => {
            return Err(ConsoleError::from(scimd_schema::ScimError::invalid_value(m)));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(admin = %who.admin.id, client = %client.client_id, "OAuth client secret rotated in the console");
    let page = SecretPage {
        l: Layout::signed_in(&who, "Secret rotated", "clients"),
        heading: "Secret rotated",
        name: &client.name,
        client_id: &client.client_id,
        secret: Some(secret.expose()),
        token_endpoint: token_endpoint(&state, &headers),
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `GET /console/clients/{client_id}/delete`: asks first.
pub(crate) async fn confirm_delete(
    State(state): State<AppState>,
    who: SignedIn,
    Path(client_id): Path<String>,
) -> Result<Response, ConsoleError> {
    let client = own_client(&state, &who, &client_id).await?;
    let page = ConfirmPage {
        l: Layout::signed_in(&who, "Delete OAuth app", "clients"),
        question: format!("Delete {:?}?", client.name),
        explanation: "Its tokens stop working now and it can no longer sign in. This cannot be undone.",
        action: format!("/console/clients/{}/delete", client.client_id),
        button: "Delete app",
        back: "/console/clients",
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/clients/{client_id}/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    who: SignedIn,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let client = own_client(&state, &who, &client_id).await?;
    state.store.delete_client(&client.client_id).await?;
    tracing::info!(admin = %who.admin.id, client = %client.client_id, "OAuth client deleted in the console");
    Ok(view::see_other("/console/clients", "deleted", &client.name))
}
