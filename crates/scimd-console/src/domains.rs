//! Domains: claim a domain, publish the TXT record shown, verify it; once a tenant has a verified
//! domain, new userNames and emails must be in one of its verified domains. The same functions as
//! `scimd domain` and the admin API ([`scimd_http::domains`]), with their wording.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use scimd_http::domains::{self, DomainError, txt_record};
use scimd_http::{ApiError, AppState};

use crate::error::ConsoleError;
use crate::session::{Form, SignedIn};
use crate::view::{self, ConfirmPage, Layout, when};

struct DomainRow {
    domain: String,
    txt: String,
    verified: Option<String>,
    created: String,
}

#[derive(Template)]
#[template(path = "domains.html")]
struct ListPage {
    l: Layout,
    domains: Vec<DomainRow>,
    notice: Option<String>,
    error: Option<String>,
    typed: String,
}

async fn page(state: &AppState, who: &SignedIn) -> Result<ListPage, ConsoleError> {
    let domains = state.store.list_domains(who.tenant.id).await?;
    Ok(ListPage {
        l: Layout::signed_in(who, "Domains", "domains"),
        domains: domains
            .iter()
            .map(|d| DomainRow {
                domain: d.domain.clone(),
                txt: txt_record(&d.domain, &d.token),
                verified: d.verified.map(when),
                created: when(d.created),
            })
            .collect(),
        notice: None,
        error: None,
        typed: String::new(),
    })
}

/// The list again with the refusal worded as the admin API words it, and its status.
async fn refused(
    state: &AppState,
    who: &SignedIn,
    e: DomainError,
    typed: &str,
) -> Result<Response, ConsoleError> {
    if let DomainError::Store(e) = e {
        return Err(e.into());
    }
    let e = ApiError::from(e).to_scim();
    let mut p = page(state, who).await?;
    p.error = Some(e.detail);
    p.typed = typed.to_owned();
    Ok(view::render(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST), &p))
}

fn back(key: &str, domain: &str) -> Response {
    view::see_other("/console/domains", key, domain)
}

/// `GET /console/domains`.
pub(crate) async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let mut p = page(&state, &who).await?;
    p.notice = q.iter().find_map(|(k, v)| match k.as_str() {
        "added" => Some(format!("{v} claimed. Publish its TXT record, then verify.")),
        "verified" => Some(format!("{v} is verified.")),
        "removed" => Some(format!("{v} was removed.")),
        _ => None,
    });
    Ok(view::render(StatusCode::OK, &p))
}

/// `POST /console/domains`: claims a domain.
pub(crate) async fn add(
    State(state): State<AppState>,
    who: SignedIn,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let typed = form.get("domain").unwrap_or("");
    match domains::add(&*state.store, &*state.clock, &who.tenant, typed).await {
        Ok(record) => {
            tracing::info!(admin = %who.admin.id, domain = record.domain, "domain claimed in the console");
            Ok(back("added", &record.domain))
        }
        Err(e) => refused(&state, &who, e, typed).await,
    }
}

/// `POST /console/domains/{domain}/verify`: looks the TXT record up now.
pub(crate) async fn verify(
    State(state): State<AppState>,
    who: SignedIn,
    Path(domain): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    match domains::verify(&*state.store, &who.tenant, &domain, state.config.dns_server).await {
        Ok(record) => Ok(back("verified", &record.domain)),
        Err(e) => refused(&state, &who, e, "").await,
    }
}

/// `GET /console/domains/{domain}/remove`: asks first.
pub(crate) async fn confirm_remove(who: SignedIn, Path(domain): Path<String>) -> Response {
    let domain = domains::normalise(&domain);
    view::render(
        StatusCode::OK,
        &ConfirmPage {
            l: Layout::signed_in(&who, "Remove domain", "domains"),
            question: format!("Remove {domain}?"),
            explanation: "Users already provisioned keep their addresses. If it was the tenant's last verified domain, userNames and emails are no longer checked against any.",
            action: format!("/console/domains/{domain}/remove"),
            button: "Remove domain",
            back: "/console/domains",
        },
    )
}

/// `POST /console/domains/{domain}/remove`.
pub(crate) async fn remove(
    State(state): State<AppState>,
    who: SignedIn,
    Path(domain): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    who.check_csrf(&Form::parse(&body))?;
    match domains::remove(&*state.store, &who.tenant, &domain).await {
        Ok(()) => Ok(back("removed", &domains::normalise(&domain))),
        Err(DomainError::NotClaimed(d)) => {
            Err(ConsoleError::NotFound(format!("This tenant has not claimed {d}.")))
        }
        Err(e) => refused(&state, &who, e, "").await,
    }
}
