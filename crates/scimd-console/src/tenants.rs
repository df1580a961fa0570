//! Tenants, for operators (`scimd admin create --operator`): every tenant, the one to act in, and
//! new ones. An operator's session remembers the tenant chosen; every other page then works in it
//! as it does for that tenant's own admins.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use scimd_http::AppState;
use scimd_store::StoreError;

use crate::error::ConsoleError;
use crate::session::{Form, SignedIn};
use crate::view::{self, ConfirmPage, Layout, when};

struct TenantRow {
    slug: String,
    created: String,
    current: bool,
    home: bool,
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage {
    l: Layout,
    tenants: Vec<TenantRow>,
    error: Option<String>,
    typed: String,
}

/// Only operators see this page; to a tenant's own admin it does not exist.
fn operator_only(who: &SignedIn) -> Result<(), ConsoleError> {
    if who.admin.operator {
        Ok(())
    } else {
        Err(ConsoleError::NotFound("There is no console page at /console/tenants.".into()))
    }
}

async fn page(state: &AppState, who: &SignedIn) -> Result<TenantsPage, ConsoleError> {
    let tenants = state.store.list_tenants().await?;
    Ok(TenantsPage {
        l: Layout::signed_in(who, "Tenants", "tenants"),
        tenants: tenants
            .iter()
            .map(|t| TenantRow {
                slug: t.slug.clone(),
                created: when(t.created),
                current: t.id == who.tenant.id,
                home: t.id == who.admin.tenant,
            })
            .collect(),
        error: None,
        typed: String::new(),
    })
}

/// `GET /console/tenants`.
pub(crate) async fn list(State(state): State<AppState>, who: SignedIn) -> Result<Response, ConsoleError> {
    operator_only(&who)?;
    Ok(view::render(StatusCode::OK, &page(&state, &who).await?))
}

/// `POST /console/tenants/select`: act in this tenant from now on.
pub(crate) async fn select(
    State(state): State<AppState>,
    who: SignedIn,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    operator_only(&who)?;
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let slug = form.get("slug").unwrap_or("");
    let Some(tenant) = state.store.tenant_by_slug(slug).await? else {
        return Err(ConsoleError::NotFound(format!("There is no tenant {slug:?}.")));
    };
    let chosen = (tenant.id != who.admin.tenant).then_some(tenant.id);
    state.store.set_session_tenant(who.session.id, chosen).await?;
    tracing::info!(admin = %who.admin.id, tenant = %tenant.slug, "operator acts in a tenant");
    Ok(Redirect::to("/console/").into_response())
}

/// `POST /console/tenants`: a new tenant (what `scimd tenant create` does).
pub(crate) async fn create(
    State(state): State<AppState>,
    who: SignedIn,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    operator_only(&who)?;
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let slug = form.get("slug").unwrap_or("").trim().to_owned();
    let refused = match state.store.create_tenant(&slug).await {
        Ok(tenant) => {
            tracing::info!(admin = %who.admin.id, tenant = %tenant.slug, "tenant created in the console");
            return Ok(Redirect::to("/console/tenants").into_response());
        }
        Err(StoreError::Conflict(_)) => format!("A tenant {slug:?} exists already."),
        Err(StoreError::Scim(e)) => e.detail,
        Err(e) => return Err(e.into()),
    };
    let mut p = page(&state, &who).await?;
    p.error = Some(refused);
    p.typed = slug;
    Ok(view::render(StatusCode::BAD_REQUEST, &p))
}

/// The tenant an operator may delete: any but the one their own account belongs to (deleting it
/// would delete them with it; `scimd tenant delete` can).
async fn deletable(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
) -> Result<scimd_store::Tenant, ConsoleError> {
    operator_only(who)?;
    let Some(tenant) = state.store.tenant_by_slug(slug).await? else {
        return Err(ConsoleError::NotFound(format!("There is no tenant {slug:?}.")));
    };
    if tenant.id == who.admin.tenant {
        return Err(ConsoleError::Forbidden(
            "Your own account belongs to this tenant: another tenant's operator or `scimd tenant delete` can delete it."
                .into(),
        ));
    }
    Ok(tenant)
}

/// `GET /console/tenants/{slug}/delete`: asks first, naming what would go.
pub(crate) async fn confirm_delete(
    State(state): State<AppState>,
    who: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, ConsoleError> {
    let tenant = deletable(&state, &who, &slug).await?;
    let held = scimd_http::resource_totals(&*state.store, tenant.id).await?;
    let explanation = format!(
        "It holds {} users and {} groups. They go with it, and so do its tokens, OAuth clients, admins, \
         domains, webhooks, event log and provisioning log: its identity providers are refused from now on. \
         This cannot be undone.",
        held["users"], held["groups"]
    );
    let page = ConfirmPage {
        l: Layout::signed_in(&who, "Delete tenant", "tenants"),
        question: format!("Delete tenant {}?", tenant.slug),
        explanation: &explanation,
        action: format!("/console/tenants/{}/delete", tenant.slug),
        button: "Delete tenant",
        back: "/console/tenants",
    };
    Ok(view::render(StatusCode::OK, &page))
}

/// `POST /console/tenants/{slug}/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    who: SignedIn,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    let tenant = deletable(&state, &who, &slug).await?;
    scimd_http::delete_tenant_serving(&state, &tenant).await?;
    tracing::info!(admin = %who.admin.id, tenant = %tenant.slug, "tenant deleted in the console");
    Ok(Redirect::to("/console/tenants").into_response())
}
