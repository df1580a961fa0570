//! Users and Groups: the list with a SCIM filter box (the filter is the API's: parsed by the same
//! parser, checked against the same schema, answered by the database, and its errors worded as
//! the API words them), paging, and each resource's detail with its memberships, its document and
//! its provisioning history.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use scimd_http::AppState;
use scimd_schema::{ResourceSchema, ScimError};
use scimd_store::{ListQuery, LogQuery, Member, Paging, ResourceKind, StoreError};

use crate::connection::Row;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::view::{self, Layout, when};

/// Resources per list page.
const PAGE: u64 = 50;
/// Log records shown in a resource's history.
const HISTORY: u32 = 50;

/// The core schemas, built once (they are the API's: the filter box checks against them).
static SCHEMAS: std::sync::LazyLock<[ResourceSchema; 2]> =
    std::sync::LazyLock::new(|| [ResourceSchema::user(), ResourceSchema::group()]);

fn schema(kind: ResourceKind) -> &'static ResourceSchema {
    match kind {
        ResourceKind::User => &SCHEMAS[0],
        ResourceKind::Group => &SCHEMAS[1],
    }
}

fn text(doc: &Value, key: &str) -> String {
    match doc.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

struct ListRow {
    id: String,
    /// userName (Users) or displayName (Groups).
    name: String,
    /// displayName (Users) or externalId.
    second: String,
    active: Option<bool>,
    external_id: String,
    modified: String,
}

#[derive(Template)]
#[template(path = "resources.html")]
struct ListPage {
    l: Layout,
    kind: &'static str,
    path: &'static str,
    filter: String,
    example: &'static str,
    error: Option<String>,
    rows: Vec<ListRow>,
    total: u64,
    first: u64,
    last: u64,
    previous: Option<String>,
    next: Option<String>,
}

struct Attribute {
    name: String,
    value: String,
}

struct Link {
    href: String,
    label: String,
}

#[derive(Template)]
#[template(path = "resource.html")]
struct DetailPage {
    l: Layout,
    kind: &'static str,
    path: &'static str,
    title: String,
    id: String,
    version: i64,
    created: String,
    modified: String,
    attributes: Vec<Attribute>,
    links_heading: &'static str,
    links: Vec<Link>,
    raw: String,
    history: Vec<Row>,
    has_log: bool,
}

/// `GET /console/users`.
pub(crate) async fn list_users(
    state: State<AppState>,
    who: SignedIn,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    list(state, who, q, ResourceKind::User).await
}

/// `GET /console/groups`.
pub(crate) async fn list_groups(
    state: State<AppState>,
    who: SignedIn,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    list(state, who, q, ResourceKind::Group).await
}

fn page_link(path: &str, filter: &str, start: u64) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if !filter.is_empty() {
        q.append_pair("filter", filter);
    }
    q.append_pair("start", &start.to_string());
    format!("/console/{path}?{}", q.finish())
}

async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<Vec<(String, String)>>,
    kind: ResourceKind,
) -> Result<Response, ConsoleError> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned());
    let filter_text = get("filter").unwrap_or_default();
    let start = get("start").and_then(|s| s.parse::<u64>().ok()).unwrap_or(1).max(1);
    let (title, path, example) = match kind {
        ResourceKind::User => ("Users", "users", "userName sw \"j\" and active eq true"),
        ResourceKind::Group => ("Groups", "groups", "displayName co \"eng\""),
    };
    let rs = schema(kind);
    let mut page = ListPage {
        l: Layout::signed_in(&who, title, path),
        kind: title,
        path,
        filter: filter_text.clone(),
        example,
        error: None,
        rows: Vec::new(),
        total: 0,
        first: 0,
        last: 0,
        previous: None,
        next: None,
    };
    // RFC 7644 §3.4.2.2: the same parser and schema check as `GET /Users?filter=`, so a filter
    // that works here works in the API and its error reads the same.
    let filter = if filter_text.is_empty() {
        None
    } else {
        let checked = scimd_filter::parse_filter(&filter_text)
            .map_err(|e| ScimError::invalid_filter(e.to_string()))
            .and_then(|f| scimd_schema::filter_eval::validate_filter(rs, &f).map(|()| f));
        match checked {
            Ok(f) => Some(f),
            Err(e) => return Ok(refused(page, &e)),
        }
    };
    let query = ListQuery {
        filter,
        sort_by: None,
        sort_order: Default::default(),
        paging: Paging::Index { start_index: start, count: PAGE },
        with_members: false,
    };
    let found = match state.store.list(who.tenant.id, kind, rs, &query).await {
        Ok(found) => found,
        // A filter the database cannot answer (an unsupported operator on this attribute).
        Err(StoreError::Scim(e)) => return Ok(refused(page, &e)),
        Err(e) => return Err(e.into()),
    };
    for res in &found.resources {
        let doc = res.doc.parse()?;
        let (name, second) = match kind {
            ResourceKind::User => (text(&doc, "userName"), text(&doc, "displayName")),
            ResourceKind::Group => (text(&doc, "displayName"), String::new()),
        };
        page.rows.push(ListRow {
            id: res.id.clone(),
            name,
            second,
            active: (kind == ResourceKind::User)
                .then(|| doc.get("active").and_then(Value::as_bool).unwrap_or(true)),
            external_id: text(&doc, "externalId"),
            modified: when(res.last_modified),
        });
    }
    page.total = found.total_results;
    if !page.rows.is_empty() {
        page.first = start;
        page.last = start + page.rows.len() as u64 - 1;
    }
    if start > 1 {
        page.previous = Some(page_link(path, &filter_text, start.saturating_sub(PAGE).max(1)));
    }
    if page.last > 0 && page.last < page.total {
        page.next = Some(page_link(path, &filter_text, page.last + 1));
    }
    Ok(view::render(StatusCode::OK, &page))
}

/// The list page with the API's error for its filter, and the API's status.
fn refused(mut page: ListPage, e: &ScimError) -> Response {
    let kind = e.scim_type.map(|t| format!("{}: ", t.as_str())).unwrap_or_default();
    page.error = Some(format!("{kind}{}", e.detail));
    view::render(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST), &page)
}

/// `GET /console/users/{id}`.
pub(crate) async fn show_user(
    state: State<AppState>,
    who: SignedIn,
    id: Path<String>,
) -> Result<Response, ConsoleError> {
    show(state, who, id, ResourceKind::User).await
}

/// `GET /console/groups/{id}`.
pub(crate) async fn show_group(
    state: State<AppState>,
    who: SignedIn,
    id: Path<String>,
) -> Result<Response, ConsoleError> {
    show(state, who, id, ResourceKind::Group).await
}

fn links(members: Option<&[Member]>) -> Vec<Link> {
    members
        .unwrap_or_default()
        .iter()
        .map(|m| Link {
            href: format!(
                "/console/{}/{}",
                if m.kind == ResourceKind::User { "users" } else { "groups" },
                m.id
            ),
            label: m.display.clone().unwrap_or_else(|| m.id.clone()),
        })
        .collect()
}

async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    kind: ResourceKind,
) -> Result<Response, ConsoleError> {
    let (path, noun) = match kind {
        ResourceKind::User => ("users", "user"),
        ResourceKind::Group => ("groups", "group"),
    };
    let Some(res) = state.store.get(who.tenant.id, kind, &id, true).await? else {
        return Err(ConsoleError::NotFound(format!("There is no {noun} {id} in this tenant.")));
    };
    let mut doc = res.doc.parse()?;
    let title = match kind {
        ResourceKind::User => text(&doc, "userName"),
        ResourceKind::Group => text(&doc, "displayName"),
    };
    let attributes = match &doc {
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| k.as_str() != "schemas")
            .map(|(k, v)| Attribute {
                name: k.clone(),
                value: match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            })
            .collect(),
        _ => Vec::new(),
    };
    let (links_heading, links) = match kind {
        ResourceKind::User => ("Groups", links(res.groups.as_deref())),
        ResourceKind::Group => ("Members", links(res.members.as_deref())),
    };
    // The stored document with the identity and metadata SCIM adds (RFC 7643 §3.1); the
    // password is never stored in it, only its hash beside it.
    if let Value::Object(o) = &mut doc {
        o.insert("id".into(), Value::String(res.id.clone()));
        o.insert(
            "meta".into(),
            serde_json::json!({
                "resourceType": kind.as_str(),
                "created": when(res.created),
                "lastModified": when(res.last_modified),
                "version": format!("W/\"{}\"", res.version),
            }),
        );
    }
    let raw = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let mut history = Vec::new();
    if let Some(log) = &state.log {
        let q = LogQuery {
            tenant: who.tenant.id,
            resource: Some(res.id.clone()),
            limit: HISTORY,
            ..LogQuery::default()
        };
        history = log.store().query(&q).await?.iter().map(Row::of).collect();
    }
    let page = DetailPage {
        l: Layout::signed_in(&who, title.clone(), path),
        kind: kind.as_str(),
        path,
        title,
        id: res.id.clone(),
        version: res.version,
        created: when(res.created),
        modified: when(res.last_modified),
        attributes,
        links_heading,
        links,
        raw,
        history,
        has_log: state.log.is_some(),
    };
    Ok(view::render(StatusCode::OK, &page))
}
