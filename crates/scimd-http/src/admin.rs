//! The admin API, `/admin/v1/tenants/{slug}/…` (docs/operations.md): a tenant's OAuth clients
//! and static tokens, and its event-delivery endpoints ([`crate::webhooks`]), for credentials
//! with the `admin` scope of that tenant or an operator token. Secrets appear once, in the
//! response that creates or rotates them.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use scimd_oauth::{ClientRegistration, RegisterError};
use scimd_schema::ScimError;
use scimd_store::oauth::{AdminRecord, ClientRecord, GrantType};
use scimd_store::{StoreError, TokenRecord};

use crate::AppState;
use crate::auth::{Principal, Scope, Scopes};
use crate::error::ApiError;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients", get(list_clients).post(create_client))
        .route("/clients/{client_id}", delete(delete_client))
        .route("/clients/{client_id}/secret", post(rotate_secret))
        .route("/admins", get(list_admins).post(create_admin))
        .route("/admins/{id}", delete(delete_admin))
        .route("/admins/{id}/password", post(reset_admin_password))
        .route("/tokens", get(list_tokens))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/logs", get(logs))
        .route("/events", get(crate::events::list))
        .route("/events/head", get(crate::events::head))
        .route("/settings", get(get_settings).put(put_settings).patch(patch_settings))
        .route("/domains", get(list_domains).post(add_domain))
        .route("/domains/{domain}", delete(remove_domain))
        .route("/domains/{domain}/verify", post(verify_domain))
        .merge(crate::webhooks::routes())
}

/// `/admin/v1/tenants`: every tenant, and new ones, for operator tokens only (what `scimd tenant
/// list|create` do).
pub(crate) fn tenant_routes() -> Router<AppState> {
    Router::new().route("/", get(list_tenants).post(create_tenant)).route("/{slug}", delete(delete_tenant))
}

/// A tenant as listed.
pub fn tenant_json(t: &scimd_store::Tenant) -> Value {
    json!({"slug": t.slug, "id": t.id, "created": time(t.created)})
}

fn require_operator(p: &Principal) -> Result<(), ApiError> {
    if p.credential.operator {
        Ok(())
    } else {
        Err(ScimError::status(403, "managing tenants takes an operator token").into())
    }
}

/// `GET /admin/v1/tenants`.
async fn list_tenants(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    require_operator(&p)?;
    let tenants = state.store.list_tenants().await?;
    Ok(axum::Json(json!({"tenants": tenants.iter().map(tenant_json).collect::<Vec<_>>()})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenantBody {
    slug: String,
}

/// `POST /admin/v1/tenants` `{"slug": "acme"}`.
async fn create_tenant(
    State(state): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_operator(&p)?;
    let body: NewTenantBody = serde_json::from_slice(&body)
        .map_err(|_| ScimError::invalid_syntax("the body is not {\"slug\": …}"))?;
    let tenant = state.store.create_tenant(&body.slug).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::from(ScimError::new(
            scimd_schema::ScimType::Uniqueness,
            format!("a tenant {:?} exists already", body.slug),
        )),
        other => other.into(),
    })?;
    tracing::info!(tenant = %tenant.slug, "tenant created through the admin API");
    Ok((StatusCode::CREATED, axum::Json(tenant_json(&tenant))).into_response())
}

/// `DELETE /admin/v1/tenants/{slug}`: the tenant and every row of it, its provisioning log
/// included; answers what was removed ([`delete_tenant_everywhere`]). An operator token cannot
/// delete the tenant it belongs to: it would be deleted with it, and the operator locked out.
async fn delete_tenant(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    require_operator(&p)?;
    if p.credential.home == p.tenant.id {
        return Err(ScimError::new(
            scimd_schema::ScimType::Mutability,
            format!("this operator token belongs to tenant {:?}: delete it with another tenant's operator token or `scimd tenant delete`", p.tenant.slug),
        )
        .into());
    }
    let deleted = delete_tenant_serving(&state, &p.tenant).await?;
    tracing::info!(tenant = %p.tenant.slug, "tenant deleted through the admin API");
    Ok(axum::Json(deleted).into_response())
}

/// [`delete_tenant_everywhere`] in a serving process: between the store and the log, the
/// provisioning log's queue is written out, so the tenant's requests answered just before leave
/// no record behind.
///
/// # Errors
/// As [`delete_tenant_everywhere`].
pub async fn delete_tenant_serving(
    state: &AppState,
    tenant: &scimd_store::Tenant,
) -> Result<Value, StoreError> {
    let mut deletion = state.store.delete_tenant(tenant.id).await?;
    if let Some(log) = &state.log {
        log.flush().await;
        deletion.rows.insert("log", log.store().delete_tenant(tenant.id).await?);
    }
    Ok(deletion_json(tenant, &deletion))
}

/// Deletes `tenant` from the store ([`scimd_store::TenantStore::delete_tenant`]) and then from
/// the provisioning log, and says what went: `{"slug", "id", "deleted": {table: rows}}`. What
/// `scimd tenant delete` runs, beside no serving process's log queue.
///
/// # Errors
/// The store's; a tenant deleted meanwhile is [`StoreError::NotFound`]. A deletion that fails
/// part way leaves a smaller tenant; deleting it again finishes.
pub async fn delete_tenant_everywhere(
    store: &dyn scimd_store::Store,
    log: &dyn scimd_store::LogStore,
    tenant: &scimd_store::Tenant,
) -> Result<Value, StoreError> {
    let mut deletion = store.delete_tenant(tenant.id).await?;
    deletion.rows.insert("log", log.delete_tenant(tenant.id).await?);
    Ok(deletion_json(tenant, &deletion))
}

fn deletion_json(tenant: &scimd_store::Tenant, deletion: &scimd_store::TenantDeletion) -> Value {
    json!({"slug": tenant.slug, "id": tenant.id, "deleted": deletion.rows})
}

/// How many users and groups `tenant` holds, `{"users": n, "groups": m}`: what a deletion's
/// confirmation names (`scimd tenant delete` without `--yes`, the console).
///
/// # Errors
/// The store's.
pub async fn resource_totals(store: &dyn scimd_store::Store, tenant: Uuid) -> Result<Value, StoreError> {
    use scimd_store::{ListQuery, Paging, ResourceKind};
    let count = |kind| async move {
        let q = ListQuery {
            filter: None,
            sort_by: None,
            sort_order: Default::default(),
            // RFC 7644 §3.4.2.4: count 0 asks for totalResults alone.
            paging: Paging::Index { start_index: 1, count: 0 },
            with_members: false,
        };
        store.list(tenant, kind, crate::scim::schema_of(kind), &q).await.map(|page| page.total_results)
    };
    let users = count(ResourceKind::User).await?;
    let groups = count(ResourceKind::Group).await?;
    Ok(json!({"users": users, "groups": groups}))
}

/// The `admin` scope opens the admin API of the credential's own tenant; an operator
/// token reaches every tenant's, with or without it.
pub(crate) fn require_admin(p: &Principal) -> Result<(), ApiError> {
    if p.credential.operator { Ok(()) } else { p.require(Scope::Admin) }
}

fn time(t: time::OffsetDateTime) -> Value {
    t.format(&Rfc3339).map_or(Value::Null, Value::String)
}

/// A client as listed: never its secret, only whether it has one.
pub fn client_json(c: &ClientRecord) -> Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "grant_type": c.grant.as_str(),
        "public": c.secret_digest.is_none(),
        "redirect_uris": c.redirect_uris,
        "scopes": c.scopes,
        "created": time(c.created),
        "secret_rotated": c.secret_rotated.map_or(Value::Null, time),
    })
}

/// An admin as listed: never the password hash.
pub fn admin_json(a: &AdminRecord) -> Value {
    json!({"id": a.id, "email": a.email, "operator": a.operator, "created": time(a.created)})
}

/// A token as listed: never its secret.
pub fn token_json(t: &TokenRecord) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "scopes": t.scopes,
        "operator": t.operator,
        "created": time(t.created),
        "expires": t.expires.map_or(Value::Null, time),
        "last_used": t.last_used.map_or(Value::Null, time),
        "revoked": t.revoked.map_or(Value::Null, time),
    })
}

async fn list_clients(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let clients = state.store.list_clients(p.tenant.id).await?;
    Ok(axum::Json(json!({"clients": clients.iter().map(client_json).collect::<Vec<_>>()})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientBody {
    name: Option<String>,
    grant_type: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    public: bool,
}

async fn create_client(
    State(state): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let body: NewClientBody = serde_json::from_slice(&body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not a client registration: {e}")))?;
    let grant = GrantType::parse(&body.grant_type).ok_or_else(|| {
        ScimError::invalid_value(format!(
            "grant_type {:?}: use client_credentials or authorization_code",
            body.grant_type
        ))
    })?;
    let scopes = if body.scopes.is_empty() {
        Scopes::all()
    } else {
        Scopes::parse(body.scopes.iter().map(String::as_str))
            .map_err(|e| ScimError::invalid_value(e.to_string()))?
    };
    let reg = ClientRegistration {
        name: body.name.unwrap_or_else(|| grant.as_str().to_owned()),
        grant,
        redirect_uris: body.redirect_uris,
        scopes,
        public: body.public,
    };
    let registered = state.oauth.register_client(&p.tenant, reg).await.map_err(|e| match e {
        RegisterError::Invalid(m) => ApiError::from(ScimError::invalid_value(m)),
        // The table's 503/500: a storage fault's text is logged, never shown.
        RegisterError::Store(e) => ApiError::from(e),
    })?;
    let mut out = client_json(&registered.record);
    if let Some(o) = out.as_object_mut() {
        o.insert(
            "client_secret".into(),
            registered.secret.as_ref().map_or(Value::Null, |s| Value::String(s.expose().to_owned())),
        );
    }
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// The client, if it belongs to the principal's tenant; another tenant's client is "not found".
async fn own_client(state: &AppState, p: &Principal, client_id: &str) -> Result<ClientRecord, ApiError> {
    match state.store.client(client_id).await? {
        Some(c) if c.tenant == p.tenant.id => Ok(c),
        _ => Err(ScimError::not_found(format!("no client {client_id:?} in this tenant")).into()),
    }
}

async fn rotate_secret(
    State(state): State<AppState>,
    p: Principal,
    Path((_, client_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let client = own_client(&state, &p, &client_id).await?;
    let secret = state.oauth.rotate_client_secret(&client).await.map_err(|e| match e {
        StoreError::Conflict(m) => ApiError::from(ScimError::invalid_value(m)),
        other => other.into(),
    })?;
    Ok(axum::Json(json!({"client_id": client.client_id, "client_secret": secret.expose()})).into_response())
}

async fn delete_client(
    State(state): State<AppState>,
    p: Principal,
    Path((_, client_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let client = own_client(&state, &p, &client_id).await?;
    state.store.delete_client(&client.client_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/v1/tenants/{slug}/admins`: the tenant's admins, oldest first.
async fn list_admins(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let admins = state.store.list_admins(p.tenant.id).await?;
    Ok(axum::Json(json!({"admins": admins.iter().map(admin_json).collect::<Vec<_>>()})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAdminBody {
    email: String,
    password: String,
}

/// `POST /admin/v1/tenants/{slug}/admins` `{"email", "password"}`: a new admin of the tenant.
async fn create_admin(
    State(state): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let body: NewAdminBody = serde_json::from_slice(&body)
        .map_err(|_| ScimError::invalid_syntax("the body is not {\"email\": …, \"password\": …}"))?;
    let admin = state.oauth.create_admin(&p.tenant, &body.email, body.password).await.map_err(|m| {
        if m.contains("already exists") {
            ApiError::from(ScimError::new(scimd_schema::ScimType::Uniqueness, m))
        } else {
            ApiError::from(ScimError::invalid_value(m))
        }
    })?;
    tracing::info!(admin = %admin.id, tenant = %p.tenant.slug, "admin created through the admin API");
    Ok((StatusCode::CREATED, axum::Json(admin_json(&admin))).into_response())
}

/// The admin, if they are of the principal's tenant; another tenant's is "not found".
async fn own_admin(state: &AppState, p: &Principal, id: &str) -> Result<AdminRecord, ApiError> {
    let not_found = || ApiError::from(ScimError::not_found(format!("no admin {id:?} in this tenant")));
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    match state.store.admin(id).await? {
        Some(a) if a.tenant == p.tenant.id => Ok(a),
        _ => Err(not_found()),
    }
}

/// `DELETE /admin/v1/tenants/{slug}/admins/{id}`: their sessions end with them.
async fn delete_admin(
    State(state): State<AppState>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let admin = own_admin(&state, &p, &id).await?;
    state.store.delete_admin(admin.id).await?;
    tracing::info!(admin = %admin.id, tenant = %p.tenant.slug, "admin deleted through the admin API");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

/// `POST /admin/v1/tenants/{slug}/admins/{id}/password` `{"password"}`: ends their sessions.
async fn reset_admin_password(
    State(state): State<AppState>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let admin = own_admin(&state, &p, &id).await?;
    let body: PasswordBody = serde_json::from_slice(&body)
        .map_err(|_| ScimError::invalid_syntax("the body is not {\"password\": …}"))?;
    state.oauth.reset_admin_password(&admin, body.password).await.map_err(ScimError::invalid_value)?;
    tracing::info!(admin = %admin.id, tenant = %p.tenant.slug, "admin password reset through the admin API");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_tokens(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let tokens = state.store.list_tokens(p.tenant.id).await?;
    Ok(axum::Json(json!({"tokens": tokens.iter().map(token_json).collect::<Vec<_>>()})).into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    p: Principal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let not_found = || ApiError::from(ScimError::not_found(format!("no token {id:?} in this tenant")));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let owned = state.store.list_tokens(p.tenant.id).await?.iter().any(|t| t.id == id);
    if !owned {
        return Err(not_found());
    }
    state.store.revoke_token(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A claimed domain as listed: the record to publish and whether it was found.
pub fn domain_json(d: &scimd_store::DomainRecord) -> Value {
    json!({
        "domain": d.domain,
        "verified": d.verified.is_some(),
        "verified_at": d.verified.map_or(Value::Null, time),
        "created": time(d.created),
        "txt": crate::domains::txt_record(&d.domain, &d.token),
    })
}

/// `GET /admin/v1/tenants/{slug}/domains`: the tenant's domains, in the order claimed.
async fn list_domains(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let domains = state.store.list_domains(p.tenant.id).await?;
    Ok(axum::Json(json!({"domains": domains.iter().map(domain_json).collect::<Vec<_>>()})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomainBody {
    domain: String,
}

/// `POST /admin/v1/tenants/{slug}/domains` `{"domain": "example.com"}`: claims it; the answer
/// names the TXT record to publish.
async fn add_domain(
    State(state): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let body: NewDomainBody = serde_json::from_slice(&body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not {{\"domain\": …}}: {e}")))?;
    let record = crate::domains::add(&*state.store, &*state.clock, &p.tenant, &body.domain).await?;
    Ok((StatusCode::CREATED, axum::Json(domain_json(&record))).into_response())
}

/// `POST /admin/v1/tenants/{slug}/domains/{domain}/verify`: looks up the TXT record now.
async fn verify_domain(
    State(state): State<AppState>,
    p: Principal,
    Path((_, domain)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let record = crate::domains::verify(&*state.store, &p.tenant, &domain, state.config.dns_server).await?;
    Ok(axum::Json(domain_json(&record)).into_response())
}

/// `DELETE /admin/v1/tenants/{slug}/domains/{domain}`.
async fn remove_domain(
    State(state): State<AppState>,
    p: Principal,
    Path((_, domain)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    crate::domains::remove(&*state.store, &p.tenant, &domain).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/v1/tenants/{slug}/settings`: the tenant's policies.
async fn get_settings(p: Principal) -> Result<Response, ApiError> {
    require_admin(&p)?;
    Ok(axum::Json(&p.tenant.settings).into_response())
}

/// `PUT /admin/v1/tenants/{slug}/settings`: replaces the policies. RFC 9110 §9.3.4: PUT sends the
/// whole representation, so every field is required (400 naming the missing ones) and unknown
/// ones are refused; partial changes go through PATCH.
async fn put_settings(
    State(state): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let body = settings_object(&body)?;
    let missing: Vec<String> =
        settings_fields()?.into_iter().filter(|k| !body.contains_key(k.as_str())).collect();
    if !missing.is_empty() {
        return Err(ScimError::invalid_value(format!(
            "PUT replaces every setting; missing: {} (use PATCH to change only some)",
            missing.join(", ")
        ))
        .into());
    }
    store_settings(&state, &p, Value::Object(body)).await
}

/// `PATCH /admin/v1/tenants/{slug}/settings`: changes only the fields given, as an RFC 7396 JSON
/// merge patch (a member set to `null` returns to its default; `rate_limit: null` is the server's
/// default rate).
async fn patch_settings(
    State(state): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let patch = settings_object(&body)?;
    let mut current = serde_json::to_value(&p.tenant.settings)
        .map_err(|e| ApiError::Internal(format!("settings not serialisable: {e}")))?;
    merge_patch(&mut current, Value::Object(patch));
    // RFC 7396 §2: a null removes the member; a removed setting reads as its default.
    store_settings(&state, &p, current).await
}

/// The body of a settings PUT or PATCH: a JSON object (`[]`, a string or a number is 400, never
/// read as "every default").
fn settings_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ScimError::invalid_syntax("tenant settings must be a JSON object").into()),
        Err(e) => Err(ScimError::invalid_syntax(format!("the body is not JSON: {e}")).into()),
    }
}

/// The names of every setting, from the type itself (so a setting added later is required too).
fn settings_fields() -> Result<Vec<String>, ApiError> {
    match serde_json::to_value(scimd_store::TenantSettings::default()) {
        Ok(Value::Object(o)) => Ok(o.keys().cloned().collect()),
        _ => Err(ApiError::Internal("tenant settings do not serialise as an object".into())),
    }
}

async fn store_settings(state: &AppState, p: &Principal, settings: Value) -> Result<Response, ApiError> {
    let settings: scimd_store::TenantSettings = serde_json::from_value(settings)
        .map_err(|e| ScimError::invalid_value(format!("the body is not tenant settings: {e}")))?;
    let tenant = state.store.update_tenant_settings(p.tenant.id, &settings).await?;
    Ok(axum::Json(&tenant.settings).into_response())
}

/// RFC 7396 §2 MergePatch(target, patch): objects merge member by member, `null` removes a member,
/// anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(&k);
            } else {
                merge_patch(t.entry(k).or_insert(Value::Null), v);
            }
        }
    }
}

/// `GET /admin/v1/tenants/{slug}/logs?status=4xx&since=1h&count=100&cursor=ID`: the tenant's
/// provisioning log, newest first; `nextCursor` pages further back.
async fn logs(
    State(state): State<AppState>,
    p: Principal,
    axum::extract::Query(q): axum::extract::Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    require_admin(&p)?;
    let Some(log) = &state.log else {
        return Err(ScimError::not_found("this server keeps no provisioning log").into());
    };
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let status = match get("status") {
        Some(s) => Some(
            crate::provisioning_log::parse_status(s)
                .ok_or_else(|| ScimError::invalid_value(format!("status {s:?}: use e.g. 4xx or 409")))?,
        ),
        None => None,
    };
    let since = match get("since") {
        Some(s) => Some(
            crate::provisioning_log::parse_since(s, state.clock.now())
                .map_err(|e| ScimError::invalid_value(format!("since: {e}")))?,
        ),
        None => None,
    };
    let before = match get("cursor") {
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| {
            ScimError::new(
                scimd_schema::ScimType::InvalidCursor,
                "the cursor is not one this endpoint returned",
            )
        })?),
        None => None,
    };
    let count = match get("count") {
        Some(c) => {
            c.parse::<u32>().map_err(|_| ScimError::invalid_value(format!("count {c:?} is not a number")))?
        }
        None => 100,
    }
    .clamp(1, 1000);
    let entries = log
        .store()
        .query(&scimd_store::LogQuery {
            tenant: p.tenant.id,
            status,
            since,
            before,
            limit: count,
            ..scimd_store::LogQuery::default()
        })
        .await?;
    let next = (entries.len() == count as usize).then(|| entries.last().map(|e| e.id.to_string())).flatten();
    let shown: Vec<Value> =
        entries.iter().map(|e| crate::provisioning_log::entry_json(e, &p.tenant.slug)).collect();
    Ok(axum::Json(json!({"entries": shown, "nextCursor": next})).into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // RFC 7396 Appendix A, a few of its cases.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, patch);
            assert_eq!(target, want);
        }
    }
}
