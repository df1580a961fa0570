//! SCIM endpoints (RFC 7644), mounted under `/scim/v2` and `/tenants/{slug}/scim/v2`.
//!
//! Handlers are thin: extract the principal, parameters and body; check the scope; call
//! [`service`]; render. Protocol rules live in scimd-schema, storage in scimd-store.

mod discovery;
mod limits;
mod params;
mod password;
mod render;
mod service;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::Value;

use scimd_schema::ScimError;
use scimd_store::{PatchResponse, ResourceKind, WriteContext};

use crate::AppState;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use params::{ListParams, Precondition, ProjectionParams};
use service::{Answer, Ctx, Rendered};

/// The resource schemas, for the provisioning log's redaction.
pub(crate) use service::schema_of;

/// The SCIM router; the caller nests it under both URL prefixes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route("/Users/{id}", get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route("/Groups/{id}", get(get_group).put(replace_group).patch(patch_group).delete(delete_group))
        .route("/.search", post(search_root))
        .route("/Me", any(me))
        .route("/Bulk", any(bulk))
        .merge(discovery::routes())
}

/// RFC 7644 §3.11: `/Me` is an alias for the User the credential authenticates as. scimd's
/// credentials are clients (an identity provider's token), never users, so there is no such User:
/// 501 Not Implemented with a SCIM error (§3.12), after authentication like every SCIM endpoint.
async fn me(principal: Principal) -> Result<Response, ApiError> {
    let _ = principal;
    Err(ScimError::status(
        501,
        "/Me (RFC 7644 §3.11) is not implemented: scimd's credentials belong to clients, not to users",
    )
    .into())
}

/// RFC 7644 §3.7: bulk operations are optional; ServiceProviderConfig says `bulk.supported: false`
/// (RFC 7643 §5), and `/Bulk` answers 501 Not Implemented with a SCIM error (§3.12), after
/// authentication like every SCIM endpoint.
async fn bulk(principal: Principal) -> Result<Response, ApiError> {
    let _ = principal;
    Err(ScimError::status(
        501,
        "/Bulk (RFC 7644 §3.7) is not implemented: send one request per operation (ServiceProviderConfig bulk.supported is false)",
    )
    .into())
}

/// The SCIM media type (RFC 7644 §3.1).
pub(crate) const SCIM_JSON: &str = "application/scim+json";

type Query_ = Query<Vec<(String, String)>>;

fn ctx<'a>(state: &'a AppState, principal: &Principal, headers: &HeaderMap, uri: &OriginalUri) -> Ctx<'a> {
    Ctx {
        store: &state.store,
        clock: &state.clock,
        tenant: principal.tenant.id,
        write: WriteContext {
            tenant: principal.tenant.id,
            tenant_slug: principal.tenant.slug.clone(),
            actor: principal.credential.name.clone(),
            // From the head alone (the body is not parsed twice): Okta and Entra name themselves
            // in User-Agent, Entra's flag in the query.
            client: crate::provisioning_log::detect_client(headers, uri.0.query(), None).to_owned(),
            request_id: headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
            refuse_unknown_members: principal.tenant.settings.unknown_members
                == scimd_store::UnknownMembers::Refuse,
        },
        base: render::scim_base(&state.config, headers, &uri.0),
        settings: principal.tenant.settings.clone(),
        limits: limits::Limits {
            patch_operations: state.config.max_patch_operations,
            attribute_values: state.config.max_attribute_values,
        },
    }
}

/// Tenant policy `require_if_match`: RFC 6585 §3 428 Precondition Required for a write without
/// `If-Match`, so no client overwrites a change it has not seen (RFC 7644 §3.14).
fn check_precondition(principal: &Principal, pre: Option<&Precondition>) -> Result<(), ApiError> {
    if principal.tenant.settings.require_if_match && pre.is_none() {
        return Err(ScimError::status(
            428,
            "this tenant requires If-Match on PUT, PATCH and DELETE: send the resource's ETag".to_owned(),
        )
        .into());
    }
    Ok(())
}

/// Whether the tenant serves resources of `kind` (tenant setting `groups`): RFC 7643 §6 lets a
/// service provider choose its resource types, and one it does not serve is 404 (RFC 7644 §3.12).
pub(crate) fn served(principal: &Principal, kind: ResourceKind) -> bool {
    kind == ResourceKind::User || principal.tenant.settings.groups == scimd_store::Groups::On
}

/// The resource type is served to this tenant, and the credential may do `op` on it.
fn allow(principal: &Principal, kind: ResourceKind, op: Op) -> Result<(), ApiError> {
    if !served(principal, kind) {
        return Err(ScimError::not_found(format!(
            "tenant {:?} does not provision Groups (its setting groups is off)",
            principal.tenant.slug
        ))
        .into());
    }
    principal.require(scope(kind, op))
}

fn scope(kind: ResourceKind, op: Op) -> Scope {
    match (kind, op) {
        (ResourceKind::User, Op::Read) => Scope::UsersRead,
        (ResourceKind::User, Op::Create) => Scope::UsersCreate,
        (ResourceKind::User, Op::Update) => Scope::UsersUpdate,
        (ResourceKind::User, Op::Delete) => Scope::UsersDelete,
        (ResourceKind::Group, Op::Read) => Scope::GroupsRead,
        (ResourceKind::Group, Op::Create) => Scope::GroupsCreate,
        (ResourceKind::Group, Op::Update) => Scope::GroupsUpdate,
        (ResourceKind::Group, Op::Delete) => Scope::GroupsDelete,
    }
}

#[derive(Clone, Copy)]
enum Op {
    Read,
    Create,
    Update,
    Delete,
}

/// Parses a request body as JSON. RFC 7644 §3.12: malformed JSON is 400 `invalidSyntax`.
/// RFC 8259 §8.1: a byte-order mark must not be sent, but parsers may ignore one; some Windows
/// clients send it, so it is skipped rather than refused.
fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")).into())
}

fn precondition(headers: &HeaderMap, name: header::HeaderName) -> Option<Precondition> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(Precondition::parse)
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => scim_bytes(status, bytes),
        Err(e) => ApiError::Internal(format!("response not serialisable: {e}")).into_response(),
    }
}

/// A response whose body is already SCIM JSON text (list responses: `render::ListBody`).
fn scim_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))], body).into_response()
}

fn resource_response(status: StatusCode, r: Rendered, with_location: bool) -> Response {
    let mut resp = scim_bytes(status, r.body);
    if let Ok(tag) = HeaderValue::from_str(&render::etag(r.version)) {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    // RFC 7644 §3.3: a 201 carries `Location` equal to `meta.location`.
    if with_location && let Ok(loc) = HeaderValue::from_str(&r.location) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

async fn list(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    headers: HeaderMap,
    uri: OriginalUri,
    query: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    allow(&principal, kind, Op::Read)?;
    let params = ListParams::from_query(&state.config, &query)?;
    let body = service::list(&ctx(&state, &principal, &headers, &uri), kind, &params).await?;
    Ok(scim_bytes(StatusCode::OK, body))
}

async fn search(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&principal, kind, Op::Read)?;
    let params = ListParams::from_search_request(&state.config, &json_body(&body)?)?;
    let body = service::list(&ctx(&state, &principal, &headers, &uri), kind, &params).await?;
    Ok(scim_bytes(StatusCode::OK, body))
}

async fn create(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    headers: HeaderMap,
    uri: OriginalUri,
    query: Vec<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&principal, kind, Op::Create)?;
    let body = json_body(&body)?;
    let p = ProjectionParams::from_query(&query);
    let r = service::create(&ctx(&state, &principal, &headers, &uri), kind, body, &p).await?;
    Ok(resource_response(StatusCode::CREATED, r, true))
}

async fn read(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    id: String,
    headers: HeaderMap,
    uri: OriginalUri,
    query: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    allow(&principal, kind, Op::Read)?;
    let p = ProjectionParams::from_query(&query);
    let r = service::get(&ctx(&state, &principal, &headers, &uri), kind, &id, &p).await?;
    // RFC 7644 §3.14 / RFC 9110 §13.1.2: If-None-Match naming the current version → 304.
    if precondition(&headers, header::IF_NONE_MATCH).is_some_and(|p| p.matches(r.version)) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(tag) = HeaderValue::from_str(&render::etag(r.version)) {
            resp.headers_mut().insert(header::ETAG, tag);
        }
        return Ok(resp);
    }
    Ok(resource_response(StatusCode::OK, r, false))
}

/// PUT (RFC 7644 §3.5.1) or PATCH (§3.5.2).
#[derive(Clone, Copy)]
enum Write {
    Replace,
    Patch,
}

/// `(headers, uri)` travel together: they locate the request (base URL, preconditions).
async fn write(
    state: AppState,
    principal: Principal,
    (kind, how): (ResourceKind, Write),
    id: String,
    (headers, uri): (HeaderMap, OriginalUri),
    query: Vec<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&principal, kind, Op::Update)?;
    let body = json_body(&body)?;
    let p = ProjectionParams::from_query(&query);
    let pre = precondition(&headers, header::IF_MATCH);
    check_precondition(&principal, pre.as_ref())?;
    let ctx = ctx(&state, &principal, &headers, &uri);
    let answer = match how {
        Write::Patch => patch_answer(principal.tenant.settings.patch_response, kind),
        Write::Replace => Answer::Body,
    };
    let r = match how {
        Write::Replace => service::replace(&ctx, kind, &id, body, pre.as_ref(), &p).await?,
        Write::Patch => service::modify(&ctx, kind, &id, body, pre.as_ref(), (&p, answer)).await?,
    };
    if answer == Answer::NoContent {
        // RFC 7644 §3.5.2 allows 204; the ETag still tells the new version.
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if let Ok(tag) = HeaderValue::from_str(&render::etag(r.version)) {
            resp.headers_mut().insert(header::ETAG, tag);
        }
        return Ok(resp);
    }
    Ok(resource_response(StatusCode::OK, r, false))
}

/// The tenant policy `patch_response`: by default (`auto`) a Group PATCH answers 204, so a member
/// change never reads, renders or sends the member list, and a User PATCH 200 with the resource
/// (docs/idp-compatibility.md §1.7.11: Entra and Okta accept both for users, Entra asks for 204 on groups,
/// Okta accepts it); `body` and `no_content` force one answer for both.
fn patch_answer(policy: PatchResponse, kind: ResourceKind) -> Answer {
    match (policy, kind) {
        (PatchResponse::Body, _) | (PatchResponse::Auto, ResourceKind::User) => Answer::Body,
        (PatchResponse::NoContent, _) | (PatchResponse::Auto, ResourceKind::Group) => Answer::NoContent,
    }
}

async fn remove(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    id: String,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, ApiError> {
    allow(&principal, kind, Op::Delete)?;
    let pre = precondition(&headers, header::IF_MATCH);
    check_precondition(&principal, pre.as_ref())?;
    service::delete(&ctx(&state, &principal, &headers, &uri), kind, &id, pre.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

macro_rules! resource_handlers {
    ($kind:expr, $list:ident, $search:ident, $create:ident, $get:ident, $replace:ident, $patch:ident, $delete:ident) => {
        async fn $list(
            State(s): State<AppState>,
            p: Principal,
            h: HeaderMap,
            u: OriginalUri,
            Query(q): Query_,
        ) -> Result<Response, ApiError> {
            list(s, p, $kind, h, u, q).await
        }
        async fn $search(
            State(s): State<AppState>,
            p: Principal,
            h: HeaderMap,
            u: OriginalUri,
            b: Bytes,
        ) -> Result<Response, ApiError> {
            search(s, p, $kind, h, u, b).await
        }
        async fn $create(
            State(s): State<AppState>,
            p: Principal,
            h: HeaderMap,
            u: OriginalUri,
            Query(q): Query_,
            b: Bytes,
        ) -> Result<Response, ApiError> {
            create(s, p, $kind, h, u, q, b).await
        }
        async fn $get(
            State(s): State<AppState>,
            p: Principal,
            Path(id): Path<Vec<(String, String)>>,
            h: HeaderMap,
            u: OriginalUri,
            Query(q): Query_,
        ) -> Result<Response, ApiError> {
            read(s, p, $kind, path_id(id), h, u, q).await
        }
        async fn $replace(
            State(s): State<AppState>,
            p: Principal,
            Path(id): Path<Vec<(String, String)>>,
            h: HeaderMap,
            u: OriginalUri,
            Query(q): Query_,
            b: Bytes,
        ) -> Result<Response, ApiError> {
            write(s, p, ($kind, Write::Replace), path_id(id), (h, u), q, b).await
        }
        async fn $patch(
            State(s): State<AppState>,
            p: Principal,
            Path(id): Path<Vec<(String, String)>>,
            h: HeaderMap,
            u: OriginalUri,
            Query(q): Query_,
            b: Bytes,
        ) -> Result<Response, ApiError> {
            write(s, p, ($kind, Write::Patch), path_id(id), (h, u), q, b).await
        }
        async fn $delete(
            State(s): State<AppState>,
            p: Principal,
            Path(id): Path<Vec<(String, String)>>,
            h: HeaderMap,
            u: OriginalUri,
        ) -> Result<Response, ApiError> {
            remove(s, p, $kind, path_id(id), h, u).await
        }
    };
}

/// The `{id}` segment; the tenant prefix may add a `{slug}` parameter, which is the auth layer's.
fn path_id(params: Vec<(String, String)>) -> String {
    params.into_iter().find(|(k, _)| k == "id").map(|(_, v)| v).unwrap_or_default()
}

resource_handlers!(
    ResourceKind::User,
    list_users,
    search_users,
    create_user,
    get_user,
    replace_user,
    patch_user,
    delete_user
);
resource_handlers!(
    ResourceKind::Group,
    list_groups,
    search_groups,
    create_group,
    get_group,
    replace_group,
    patch_group,
    delete_group
);

/// RFC 7644 §3.4.3: a search at the server root covers every type the credential may read.
async fn search_root(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let readable: Vec<ResourceKind> = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .filter(|k| allow(&principal, *k, Op::Read).is_ok())
        .collect();
    if readable.is_empty() {
        principal.require(Scope::UsersRead)?;
    }
    let params = ListParams::from_search_request(&state.config, &json_body(&body)?)?;
    let body = service::search_all(&ctx(&state, &principal, &headers, &uri), &params, &readable).await?;
    Ok(scim_bytes(StatusCode::OK, body))
}
