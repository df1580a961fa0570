//! Tokens: the long-lived bearer secrets Entra's "Secret Token" and Okta's "HTTP Header" take.
//! Created with a name, scopes and an expiry, the secret shown once (as Auth0's and Twilio's
//! consoles do: copy it, confirm it is stored), listed without secrets, revoked after a
//! confirmation. What the admin API and `scimd token` do, through the same functions.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use scimd_http::AppState;
use scimd_http::auth::{TokenRequest, create_static_token};
use scimd_oauth::{Scope, Scopes};
use scimd_store::{StoreError, TokenRecord};

use crate::error::ConsoleError;
use crate::session::{Form, SignedIn};
use crate::view::{self, ConfirmPage, Layout, when};

/// The longest expiry the form offers: ten years (a token that should never expire leaves the
/// field empty).
const MAX_EXPIRY_DAYS: i64 = 3650;

/// A scope as the forms show it.
pub(crate) struct ScopeChoice {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) aliases: String,
    pub(crate) checked: bool,
}

/// Every scope as a checkbox; `checked` says which are ticked.
pub(crate) fn scope_choices(checked: Scopes) -> Vec<ScopeChoice> {
    Scope::ALL
        .iter()
        .map(|&s| ScopeChoice {
            name: s.as_str(),
            description: s.describe(),
            aliases: s.aliases().join(", "),
            checked: checked.contains(s),
        })
        .collect()
}

/// The scopes ticked in a form; none is an error worded for the page.
pub(crate) fn scopes_of(form: &Form) -> Result<Scopes, String> {
    let scopes = Scopes::parse(form.all("scope")).map_err(|e| e.to_string())?;
    if scopes.is_empty() {
        return Err("Choose at least one scope.".into());
    }
    Ok(scopes)
}

struct TokenRow {
    id: String,
    name: String,
    scopes: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: Option<String>,
}

impl TokenRow {
    fn of(t: &TokenRecord) -> Self {
        TokenRow {
            id: t.id.to_string(),
            name: t.name.clone(),
            scopes: t.scopes.join(" "),
            created: when(t.created),
            expires: t.expires.map_or_else(|| "never".into(), when),
            last_used: t.last_used.map_or_else(|| "never".into(), when),
            revoked: t.revoked.map(when),
        }
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct ListPage {
    l: Layout,
    tokens: Vec<TokenRow>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "token_new.html")]
struct NewPage<'a> {
    l: Layout,
    name: &'a str,
    expires_days: &'a str,
    scopes: Vec<ScopeChoice>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "token_created.html")]
struct CreatedPage<'a> {
    l: Layout,
    name: &'a str,
    secret: &'a str,
    scopes: String,
    expires: String,
}

/// `GET /console/tokens`.
pub(crate) async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let mut tokens = state.store.list_tokens(who.tenant.id).await?;
    // Newest first; revoked ones after the live ones.
    tokens.sort_by(|a, b| a.revoked.is_some().cmp(&b.revoked.is_some()).then(b.created.cmp(&a.created)));
    let notice = q.iter().find(|(k, _)| k == "revoked").map(|(_, v)| format!("Token {v:?} was revoked."));
    let page = ListPage {
        l: Layout::signed_in(&who, "Tokens", "tokens"),
        tokens: tokens.iter().map(TokenRow::of).collect(),
        notice,
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `GET /console/tokens/new`.
pub(crate) async fn new_form(who: SignedIn) -> Response {
    view::render(
        StatusCode::OK,
        &NewPage {
            l: Layout::signed_in(&who, "New token", "tokens"),
            name: "",
            expires_days: "",
            scopes: scope_choices(Scopes::all()),
            error: None,
        },
    )
}

/// `POST /console/tokens`: creates the token and shows its secret, once.
pub(crate) async fn create(
    State(state): State<AppState>,
    who: SignedIn,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let name = form.get("name").unwrap_or("").trim();
    let days = form.get("expires_days").unwrap_or("").trim();
    let again = |status: StatusCode, error: &str, scopes: Scopes| {
        view::render(
            status,
            &NewPage {
                l: Layout::signed_in(&who, "New token", "tokens"),
                name,
                expires_days: days,
                scopes: scope_choices(scopes),
                error: Some(error),
            },
        )
    };
    let ticked = Scopes::parse_lenient(form.all("scope"));
    let scopes = match scopes_of(&form) {
        Ok(s) => s,
        Err(e) => return Ok(again(StatusCode::BAD_REQUEST, &e, ticked)),
    };
    if name.is_empty() {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "Give the token a name, such as the identity provider it is for.",
            ticked,
        ));
    }
    let expires = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => Some(state.clock.now() + time::Duration::days(d)),
            _ => {
                let e = format!(
                    "The expiry is a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or empty for none."
                );
                return Ok(again(StatusCode::BAD_REQUEST, &e, ticked));
            }
        }
    };
    let request = TokenRequest { name: name.to_owned(), scopes, expires, operator: false };
    let (secret, record) = match create_static_token(&*state.store, &*state.clock, &who.tenant, request).await
    {
        Ok(created) => created,
        // The name's rule (length, no control characters), worded by the store.
        Err(StoreError::Scim(e)) => return Ok(again(StatusCode::BAD_REQUEST, &e.detail, ticked)),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(admin = %who.admin.id, credential = %record.id, "token created in the console");
    let page = CreatedPage {
        l: Layout::signed_in(&who, "Token created", "tokens"),
        name: &record.name,
        secret: secret.expose(),
        scopes: record.scopes.join(" "),
        expires: record.expires.map_or_else(|| "never".into(), when),
    };
    Ok(view::render(StatusCode::CREATED, &page))
}

/// The token, if it is this tenant's; another tenant's is "not found".
async fn own_token(state: &AppState, who: &SignedIn, id: &str) -> Result<TokenRecord, ConsoleError> {
    let not_found = || ConsoleError::NotFound(format!("There is no token {id} in this tenant."));
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    state.store.list_tokens(who.tenant.id).await?.into_iter().find(|t| t.id == id).ok_or_else(not_found)
}

/// `GET /console/tokens/{id}/revoke`: asks first.
pub(crate) async fn confirm_revoke(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let token = own_token(&state, &who, &id).await?;
    let page = ConfirmPage {
        l: Layout::signed_in(&who, "Revoke token", "tokens"),
        question: format!("Revoke the token {:?}?", token.name),
        explanation: "Every request with it is refused from now on, on every replica. An identity provider using it stops provisioning until it is given a new one. This cannot be undone.",
        action: format!("/console/tokens/{}/revoke", token.id),
        button: "Revoke token",
        back: "/console/tokens",
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/tokens/{id}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let token = own_token(&state, &who, &id).await?;
    state.store.revoke_token(token.id).await?;
    tracing::info!(admin = %who.admin.id, credential = %token.id, "token revoked in the console");
    Ok(view::see_other("/console/tokens", "revoked", &token.name))
}
