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
use axum::extract::{OriginalUri, Path, Query};
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
        .merge(resource_routes(ResourceKind::User))
        .merge(resource_routes(ResourceKind::Group))
        .route("/.search", post(search_root))
        .route("/Me", any(me))
        .route("/Bulk", any(bulk))
        .merge(discovery::routes())
}

/// RFC 7644 §3.2's endpoints of one resource type: `/Users`, `/Users/.search`, `/Users/{id}`.
fn resource_routes(kind: ResourceKind) -> Router<AppState> {
    let base = format!("/{}", kind.endpoint());
    Router::new()
        .route(
            &base,
            get(move |r: ScimRequest| list(r, kind)).post(move |r: ScimRequest, b: Bytes| create(r, kind, b)),
        )
        .route(&format!("{base}/.search"), post(move |r: ScimRequest, b: Bytes| search(r, kind, b)))
        .route(
            &format!("{base}/{{id}}"),
            get(move |r: ScimRequest, Path(p): IdPath| read(r, kind, path_id(p)))
                .put(move |r: ScimRequest, Path(p): IdPath, b: Bytes| {
                    write(r, (kind, Write::Replace), path_id(p), b)
                })
                .patch(move |r: ScimRequest, Path(p): IdPath, b: Bytes| {
                    write(r, (kind, Write::Patch), path_id(p), b)
                })
                .delete(move |r: ScimRequest, Path(p): IdPath| remove(r, kind, path_id(p))),
        )
}

/// What every SCIM handler needs of a request, extracted once: the authenticated principal
/// first (so a request without credentials is 401 before anything else is looked at), then the
/// head that locates the request (base URL, preconditions, client detection) and the query.
struct ScimRequest {
    state: AppState,
    principal: Principal,
    headers: HeaderMap,
    uri: OriginalUri,
    query: Vec<(String, String)>,
}

impl axum::extract::FromRequestParts<AppState> for ScimRequest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let uri = match OriginalUri::from_request_parts(parts, state).await {
            Ok(uri) => uri,
            Err(never) => match never {},
        };
        // RFC 7644 §3.4.2: the query carries filter, paging and projection parameters; a query
        // that does not decode is a malformed request.
        let Query(query) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ScimError::status(400, format!("the query string does not decode: {e}")))?;
        Ok(Self { state: state.clone(), principal, headers: parts.headers.clone(), uri, query })
    }
}

/// The path parameters of `/{id}` routes (and `{slug}` under the tenant prefix).
type IdPath = Path<Vec<(String, String)>>;

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

fn ctx(r: &ScimRequest) -> Ctx<'_> {
    let (state, principal, headers, uri) = (&r.state, &r.principal, &r.headers, &r.uri);
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

async fn list(r: ScimRequest, kind: ResourceKind) -> Result<Response, ApiError> {
    allow(&r.principal, kind, Op::Read)?;
    let params = ListParams::from_query(&r.state.config, &r.query)?;
    let body = service::list(&ctx(&r), kind, &params).await?;
    Ok(scim_bytes(StatusCode::OK, body))
}

async fn search(r: ScimRequest, kind: ResourceKind, body: Bytes) -> Result<Response, ApiError> {
    allow(&r.principal, kind, Op::Read)?;
    let params = ListParams::from_search_request(&r.state.config, &json_body(&body)?)?;
    let body = service::list(&ctx(&r), kind, &params).await?;
    Ok(scim_bytes(StatusCode::OK, body))
}

async fn create(r: ScimRequest, kind: ResourceKind, body: Bytes) -> Result<Response, ApiError> {
    allow(&r.principal, kind, Op::Create)?;
    let body = json_body(&body)?;
    let p = ProjectionParams::from_query(&r.query);
    let created = service::create(&ctx(&r), kind, body, &p).await?;
    Ok(resource_response(StatusCode::CREATED, created, true))
}

async fn read(r: ScimRequest, kind: ResourceKind, id: String) -> Result<Response, ApiError> {
    allow(&r.principal, kind, Op::Read)?;
    let p = ProjectionParams::from_query(&r.query);
    let found = service::get(&ctx(&r), kind, &id, &p).await?;
    // RFC 7644 §3.14 / RFC 9110 §13.1.2: If-None-Match naming the current version → 304.
    if precondition(&r.headers, header::IF_NONE_MATCH).is_some_and(|p| p.matches(found.version)) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(tag) = HeaderValue::from_str(&render::etag(found.version)) {
            resp.headers_mut().insert(header::ETAG, tag);
        }
        return Ok(resp);
    }
    Ok(resource_response(StatusCode::OK, found, false))
}

/// PUT (RFC 7644 §3.5.1) or PATCH (§3.5.2).
#[derive(Clone, Copy)]
enum Write {
    Replace,
    Patch,
}

async fn write(
    r: ScimRequest,
    (kind, how): (ResourceKind, Write),
    id: String,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&r.principal, kind, Op::Update)?;
    let body = json_body(&body)?;
    let p = ProjectionParams::from_query(&r.query);
    let pre = precondition(&r.headers, header::IF_MATCH);
    check_precondition(&r.principal, pre.as_ref())?;
    let ctx = ctx(&r);
    let answer = match how {
        Write::Patch => patch_answer(r.principal.tenant.settings.patch_response, kind),
        Write::Replace => Answer::Body,
    };
    let written = match how {
        Write::Replace => service::replace(&ctx, kind, &id, body, pre.as_ref(), &p).await?,
        Write::Patch => service::modify(&ctx, kind, &id, body, pre.as_ref(), (&p, answer)).await?,
    };
    if answer == Answer::NoContent {
        // RFC 7644 §3.5.2 allows 204; the ETag still tells the new version.
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if let Ok(tag) = HeaderValue::from_str(&render::etag(written.version)) {
            resp.headers_mut().insert(header::ETAG, tag);
        }
        return Ok(resp);
    }
    Ok(resource_response(StatusCode::OK, written, false))
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

async fn remove(r: ScimRequest, kind: ResourceKind, id: String) -> Result<Response, ApiError> {
    allow(&r.principal, kind, Op::Delete)?;
    let pre = precondition(&r.headers, header::IF_MATCH);
    check_precondition(&r.principal, pre.as_ref())?;
    service::delete(&ctx(&r), kind, &id, pre.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The `{id}` segment; the tenant prefix may add a `{slug}` parameter, which is the auth layer's.
fn path_id(params: Vec<(String, String)>) -> String {
    params.into_iter().find(|(k, _)| k == "id").map(|(_, v)| v).unwrap_or_default()
}

/// RFC 7644 §3.4.3: a search at the server root covers every type the credential may read.
async fn search_root(r: ScimRequest, body: Bytes) -> Result<Response, ApiError> {
    let readable: Vec<ResourceKind> = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .filter(|k| allow(&r.principal, *k, Op::Read).is_ok())
        .collect();
    if readable.is_empty() {
        r.principal.require(Scope::UsersRead)?;
    }
    let params = ListParams::from_search_request(&r.state.config, &json_body(&body)?)?;
    let body = service::search_all(&ctx(&r), &params, &readable).await?;
    Ok(scim_bytes(StatusCode::OK, body))
}
