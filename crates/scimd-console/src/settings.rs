//! Settings: the tenant's policies (docs/operations.md, "Settings"), each with what it does and
//! when Entra ID or Okta need it. Saved as the admin API's `PUT …/settings` saves them: the whole
//! set, checked by the same type.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use scimd_http::AppState;
use scimd_store::{DEFAULT_RATE_LIMIT, TenantSettings};

use crate::error::ConsoleError;
use crate::session::{Form, SignedIn};
use crate::view::{self, Layout};

/// One choice of a setting.
struct Choice {
    value: &'static str,
    label: &'static str,
}

/// One setting as the page shows it.
struct Setting {
    name: &'static str,
    title: &'static str,
    sentence: &'static str,
    /// Empty: a checkbox; otherwise a select.
    choices: Vec<Choice>,
    /// The current value as the form sends it.
    current: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    l: Layout,
    settings: Vec<Setting>,
    rate_limit: String,
    default_rate: u32,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn value_of(settings: &Value, name: &str) -> String {
    match settings.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn page(who: &SignedIn, settings: &TenantSettings) -> SettingsPage {
    let v = serde_json::to_value(settings).unwrap_or(Value::Null);
    let c = |value, label| Choice { value, label };
    let rows = vec![
        Setting {
            name: "patch_response",
            title: "PATCH response",
            sentence: "What a successful PATCH answers (RFC 7644 §3.5.2 allows 200 with the resource or 204). Automatic answers users with the resource and groups with 204, so a membership change costs the same whatever the group's size; Entra ID asks for 204 on groups and Okta accepts it. Choose “always the resource” for Microsoft's SCIM validator.",
            choices: vec![
                c("auto", "Automatic (users 200, groups 204)"),
                c("body", "Always 200 with the resource"),
                c("no_content", "Always 204 No Content"),
            ],
            current: value_of(&v, "patch_response"),
        },
        Setting {
            name: "reprovision",
            title: "Re-provisioning",
            sentence: "What a POST does when its userName belongs to an inactive user. Okta re-creates users it deactivated earlier (a re-hire): choose “re-activate” for Okta, or it gets 409.",
            choices: vec![
                c("reject", "Refuse with 409 uniqueness"),
                c("reactivate", "Re-activate the existing user"),
            ],
            current: value_of(&v, "reprovision"),
        },
        Setting {
            name: "unknown_members",
            title: "Unknown members",
            sentence: "What a member id that names no user or group does. Okta and Microsoft's validator send ids that do not exist: “skip” applies the rest and records them in the audit log.",
            choices: vec![c("skip", "Skip and record them"), c("refuse", "Refuse the request with 400")],
            current: value_of(&v, "unknown_members"),
        },
        Setting {
            name: "groups",
            title: "Groups",
            sentence: "Whether the tenant provisions groups. Off, /Groups answers 404 and disappears from /ResourceTypes and /Schemas, and users show no groups: for applications that do not model groups (then also turn off “Provision Groups” in the identity provider). Groups stored before are kept, unseen, and return when it is turned on again.",
            choices: vec![c("on", "Provisioned"), c("off", "Off")],
            current: value_of(&v, "groups"),
        },
        Setting {
            name: "strict",
            title: "RFC-strict mode",
            sentence: "A PATCH filter that matches nothing is 400 noTarget and unknown attributes are refused, as RFC 7644 reads to the letter. Leave off for Entra ID, which creates elements through filters and sends stray attributes.",
            choices: Vec::new(),
            current: value_of(&v, "strict"),
        },
        Setting {
            name: "require_if_match",
            title: "Require If-Match",
            sentence: "PUT, PATCH and DELETE without If-Match are refused with 428 (RFC 6585 §3). Neither Entra ID nor Okta sends If-Match: leave off for them.",
            choices: Vec::new(),
            current: value_of(&v, "require_if_match"),
        },
    ];
    SettingsPage {
        l: Layout::signed_in(who, "Settings", "settings"),
        settings: rows,
        rate_limit: settings.rate_limit.map(|r| r.to_string()).unwrap_or_default(),
        default_rate: DEFAULT_RATE_LIMIT,
        notice: None,
        error: None,
    }
}

/// `GET /console/settings`.
pub(crate) async fn show(who: SignedIn, Query(q): Query<Vec<(String, String)>>) -> Response {
    let mut p = page(&who, &who.tenant.settings);
    if q.iter().any(|(k, _)| k == "saved") {
        p.notice = Some("Settings saved. They apply to the next request.");
    }
    view::render(StatusCode::OK, &p)
}

/// `POST /console/settings`: replaces every setting with the form's.
pub(crate) async fn save(
    State(state): State<AppState>,
    who: SignedIn,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form = Form::parse(&body);
    who.check_csrf(&form)?;
    let rate = form.get("rate_limit").map(str::trim).filter(|r| !r.is_empty());
    let rate_limit = match rate.map(str::parse::<u32>) {
        None => Value::Null,
        Some(Ok(r)) => json!(r),
        Some(Err(_)) => {
            let mut p = page(&who, &who.tenant.settings);
            p.error = Some("The rate limit is a whole number of requests per second (0: no limit), or empty for the server's default.".into());
            return Ok(view::render(StatusCode::BAD_REQUEST, &p));
        }
    };
    let wanted = json!({
        "strict": form.get("strict").is_some(),
        "patch_response": form.get("patch_response").unwrap_or(""),
        "require_if_match": form.get("require_if_match").is_some(),
        "reprovision": form.get("reprovision").unwrap_or(""),
        "unknown_members": form.get("unknown_members").unwrap_or(""),
        "groups": form.get("groups").unwrap_or(""),
        "rate_limit": rate_limit,
    });
    let settings: TenantSettings = match serde_json::from_value(wanted) {
        Ok(s) => s,
        Err(e) => {
            let mut p = page(&who, &who.tenant.settings);
            p.error = Some(format!("The form is not tenant settings: {e}"));
            return Ok(view::render(StatusCode::BAD_REQUEST, &p));
        }
    };
    state.store.update_tenant_settings(who.tenant.id, &settings).await?;
    tracing::info!(admin = %who.admin.id, tenant = %who.tenant.slug, "tenant settings changed in the console");
    Ok(Redirect::to("/console/settings?saved=1").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page names every setting the type has, so one added later cannot be forgotten here
    /// (and silently reset by the form, which replaces them all).
    #[test]
    fn the_form_covers_every_setting() {
        let all = serde_json::to_value(TenantSettings::default()).unwrap();
        let all = all.as_object().unwrap();
        let source = include_str!("settings.rs");
        for name in all.keys() {
            assert!(source.contains(&format!("\"{name}\": ")), "the form does not send {name}");
        }
    }
}
