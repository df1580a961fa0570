//! Discovery endpoints (RFC 7644 §4): ServiceProviderConfig, ResourceTypes, Schemas. They describe
//! what this server really does; writes to them are 405 (axum answers a wrong method with 405, and
//! the error layer gives it a SCIM body).

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use scimd_schema::discovery::{
    AuthScheme, PaginationConfig, PaginationMethod, ServiceProviderConfig, resource_type_json, schema_json,
};
use scimd_schema::{ScimError, builtin, urn};

use super::{render, scim_json, service};
use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use scimd_store::ResourceKind;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        // docs/idp-compatibility.md §1.1: Microsoft's Postman collection calls the reference code's
        // non-standard `GET {base}/serviceConfiguration` and expects `patch.supported`; an alias
        // of RFC 7644 §4's endpoint costs nothing.
        .route("/serviceConfiguration", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{urn}", get(schema))
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [urn::LIST_RESPONSE],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

fn base(state: &AppState, headers: &HeaderMap, uri: &OriginalUri) -> String {
    render::scim_base(&state.config, headers, &uri.0)
}

/// RFC 7643 §5, true to this server: PATCH, filter (with its result cap), sort, ETags, password
/// change and both paging methods are supported; bulk is not; authentication is a bearer token.
async fn service_provider_config(
    State(state): State<AppState>,
    _p: Principal,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, ApiError> {
    let mut spc = ServiceProviderConfig::default();
    spc.filter.max_results = state.config.max_page_size;
    // sortBy/sortOrder are compiled to SQL (RFC 7644 §3.4.2.3).
    spc.sort = true;
    // `password` is accepted on PUT and PATCH and stored as an Argon2id hash (RFC 7643 §5).
    spc.change_password = true;
    // RFC 7643 §5: every scheme the service provider accepts (bearer, and Basic with a token).
    spc.authentication_schemes = vec![AuthScheme::oauth_bearer_token(), AuthScheme::http_basic()];
    // RFC 9865: both paging methods; index is what a request that names neither gets.
    spc.pagination = Some(PaginationConfig {
        cursor: true,
        index: true,
        default_method: Some(PaginationMethod::Index),
        default_page_size: Some(state.config.default_page_size),
        max_page_size: Some(state.config.max_page_size),
        cursor_timeout: None,
    });
    Ok(scim_json(StatusCode::OK, &spc.to_json(&base(&state, &headers, &uri))))
}

fn resource_types_json(p: &Principal, base: &str) -> Vec<Value> {
    served_resource_types(p).into_iter().map(|rt| resource_type_json(rt, base)).collect()
}

async fn resource_types(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, ApiError> {
    Ok(scim_json(StatusCode::OK, &list(resource_types_json(&p, &base(&state, &headers, &uri)))))
}

async fn resource_type(
    State(state): State<AppState>,
    p: Principal,
    Path(params): Path<Vec<(String, String)>>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, ApiError> {
    let name = params.into_iter().find(|(k, _)| k == "name").map(|(_, v)| v).unwrap_or_default();
    let base = base(&state, &headers, &uri);
    let found = served_resource_types(&p)
        .into_iter()
        .find(|rt| rt.id.eq_ignore_ascii_case(&name))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {name:?}")))?;
    Ok(scim_json(StatusCode::OK, &resource_type_json(found, &base)))
}

/// The resource types this server serves the tenant (RFC 7643 §6): the ones its SCIM handlers
/// validate against, Group only while the tenant's Groups are on.
fn served_resource_types(p: &Principal) -> Vec<&'static scimd_schema::ResourceType> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .filter(|k| super::served(p, *k))
        .map(|k| &service::schema_of(k).resource_type)
        .collect()
}

/// The schemas of those resource types (RFC 7643 §7). With the tenant's Groups off, Group's is
/// left out, and so is the User attribute `groups`, which no response then carries.
fn served_schemas(p: &Principal) -> Vec<scimd_schema::Schema> {
    let mut all = builtin::builtin_schemas();
    if !super::served(p, ResourceKind::Group) {
        all.retain(|s| !s.id.eq_ignore_ascii_case(urn::GROUP));
        for s in all.iter_mut().filter(|s| s.id.eq_ignore_ascii_case(urn::USER)) {
            s.attributes.retain(|a| !a.name.eq_ignore_ascii_case("groups"));
        }
    }
    all
}

async fn schemas(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, ApiError> {
    let base = base(&state, &headers, &uri);
    let all = served_schemas(&p).iter().map(|s| schema_json(s, &base)).collect();
    Ok(scim_json(StatusCode::OK, &list(all)))
}

async fn schema(
    State(state): State<AppState>,
    p: Principal,
    Path(params): Path<Vec<(String, String)>>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, ApiError> {
    let id = params.into_iter().find(|(k, _)| k == "urn").map(|(_, v)| v).unwrap_or_default();
    let base = base(&state, &headers, &uri);
    let found = served_schemas(&p)
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")))?;
    Ok(scim_json(StatusCode::OK, &schema_json(&found, &base)))
}
