//! Admins: the accounts that sign in to this console and approve Okta's OAuth connection. Create,
//! list, set a new password (which signs that admin out everywhere), remove. The same calls as
//! `scimd admin` and the admin API.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use scimd_http::AppState;
use scimd_store::oauth::AdminRecord;

use crate::error::ConsoleError;
use crate::session::{self, Form, SignedIn};
use crate::view::{self, ConfirmPage, Layout, when};

struct AdminRow {
    id: String,
    email: String,
    created: String,
    you: bool,
}

#[derive(Template)]
#[template(path = "admins.html")]
struct ListPage {
    l: Layout,
    admins: Vec<AdminRow>,
    notice: Option<String>,
    error: Option<String>,
    email: String,
}

#[derive(Template)]
#[template(path = "admin_password.html")]
struct PasswordPage {
    l: Layout,
    id: String,
    email: String,
    you: bool,
    error: Option<String>,
}

async fn list_page(state: &AppState, who: &SignedIn) -> Result<ListPage, ConsoleError> {
    let admins = state.store.list_admins(who.tenant.id).await?;
    Ok(ListPage {
        l: Layout::signed_in(who, "Admins", "admins"),
        admins: admins
            .iter()
            .map(|a| AdminRow {
                id: a.id.to_string(),
                email: a.email.clone(),
                created: when(a.created),
                you: a.id == who.admin.id,
            })
            .collect(),
        notice: None,
        error: None,
        email: String::new(),
    })
}

fn back(key: &str, email: &str) -> Response {
    view::see_other("/console/admins", key, email)
}

/// The new password from a form: both fields, equal.
fn new_password(form: &Form) -> Result<String, String> {
    let password = form.get("password").unwrap_or("");
    if form.get("confirm").unwrap_or("") != password {
        return Err("The two passwords differ.".into());
    }
    Ok(password.to_owned())
}

/// `GET /console/admins`.
pub(crate) async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let mut page = list_page(&state, &who).await?;
    page.notice = q.iter().find_map(|(k, v)| match k.as_str() {
        "created" => Some(format!("{v} can now sign in.")),
        "reset" => Some(format!("{v} has a new password and was signed out everywhere.")),
        "removed" => Some(format!("{v} was removed.")),
        _ => None,
    });
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/admins`: a new admin of this tenant.
pub(crate) async fn create(
    State(state): State<AppState>,
    who: SignedIn,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let email = form.get("email").unwrap_or("").trim().to_owned();
    let created = match new_password(&form) {
        Ok(password) => state.oauth.create_admin(&who.tenant, &email, password).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(admin) => {
            tracing::info!(admin = %who.admin.id, created = %admin.id, "admin created in the console");
            Ok(back("created", &admin.email))
        }
        Err(e) => {
            let mut page = list_page(&state, &who).await?;
            page.error = Some(e);
            page.email = email;
            Ok(view::render(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// The admin, if they are of this tenant; another tenant's is "not found".
async fn own_admin(state: &AppState, who: &SignedIn, id: &str) -> Result<AdminRecord, ConsoleError> {
    let not_found = || ConsoleError::NotFound(format!("There is no admin {id} in this tenant."));
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    match state.store.admin(id).await? {
        Some(a) if a.tenant == who.tenant.id => Ok(a),
        _ => Err(not_found()),
    }
}

/// `GET /console/admins/{id}/password`.
pub(crate) async fn password_form(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let admin = own_admin(&state, &who, &id).await?;
    let page = PasswordPage {
        l: Layout::signed_in(&who, "New password", "admins"),
        id: admin.id.to_string(),
        you: admin.id == who.admin.id,
        email: admin.email,
        error: None,
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/admins/{id}/password`: the admin's sessions end, this one too if it is theirs.
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let admin = own_admin(&state, &who, &id).await?;
    let done = match new_password(&form) {
        Ok(password) => state.oauth.reset_admin_password(&admin, password).await,
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        let page = PasswordPage {
            l: Layout::signed_in(&who, "New password", "admins"),
            id: admin.id.to_string(),
            you: admin.id == who.admin.id,
            email: admin.email,
            error: Some(e),
        };
        return Ok(view::render(StatusCode::BAD_REQUEST, &page));
    }
    tracing::info!(admin = %who.admin.id, target = %admin.id, "admin password reset in the console");
    if admin.id == who.admin.id {
        // This session was one of theirs: sign in again with the new password.
        return Ok(session::to_sign_in(false));
    }
    Ok(back("reset", &admin.email))
}

/// `GET /console/admins/{id}/remove`: asks first.
pub(crate) async fn confirm_remove(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let admin = own_admin(&state, &who, &id).await?;
    if admin.id == who.admin.id {
        return Err(yourself());
    }
    let page = ConfirmPage {
        l: Layout::signed_in(&who, "Remove admin", "admins"),
        question: format!("Remove {}?", admin.email),
        explanation: "They are signed out now and can no longer sign in. Connections they approved (Okta's OAuth) keep working until revoked.",
        action: format!("/console/admins/{}/remove", admin.id),
        button: "Remove admin",
        back: "/console/admins",
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// An admin does not remove themselves here: the tenant would be left to the command line if they
/// were its last, and another admin can do it.
fn yourself() -> ConsoleError {
    ConsoleError::Forbidden(
        "You cannot remove yourself. Another admin of this tenant can, or `scimd admin delete`.".into(),
    )
}

/// `POST /console/admins/{id}/remove`.
pub(crate) async fn remove(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let admin = own_admin(&state, &who, &id).await?;
    if admin.id == who.admin.id {
        return Err(yourself());
    }
    state.store.delete_admin(admin.id).await?;
    tracing::info!(admin = %who.admin.id, removed = %admin.id, "admin removed in the console");
    Ok(back("removed", &admin.email))
}
