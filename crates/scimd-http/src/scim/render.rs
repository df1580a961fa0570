//! Stored resources into SCIM JSON: `id`, `meta` (RFC 7643 §3.1), members and groups, then the
//! `attributes`/`excludedAttributes` projection (RFC 7644 §3.9).

use axum::http::{HeaderMap, Uri, header};
use serde_json::{Map, Value, json};

use scimd_schema::projection::{Projection, project};
use scimd_schema::value::format_datetime;
use scimd_schema::{ResourceSchema, ScimError};
use scimd_store::{ResourceKind, StoredResource};

use super::params::ProjectionParams;
use crate::HttpConfig;

/// RFC 7644 §3.14: scimd's ETags are weak, one per version.
pub(crate) fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The absolute SCIM base URL this request came in under (`https://host/tenants/acme/scim/v2`), for
/// `meta.location` and `Location` (RFC 7644 §3.1: absolute URIs). The host part comes from
/// `--base-url` when set (behind a proxy), else from the request's `Host`.
pub(crate) fn scim_base(config: &HttpConfig, headers: &HeaderMap, original: &Uri) -> String {
    let path = original.path();
    let prefix = path.find("/scim/v2").map_or("/scim/v2", |i| &path[..i + "/scim/v2".len()]);
    match &config.base_url {
        Some(base) => format!("{}{prefix}", base.trim_end_matches('/')),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}{prefix}")
        }
    }
}

fn member_json(
    base: &str,
    id: &str,
    kind: ResourceKind,
    display: Option<&String>,
    extra: Option<(&str, &str)>,
) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), Value::String(id.to_owned()));
    m.insert("$ref".into(), Value::String(format!("{base}/{}/{id}", kind.endpoint())));
    if let Some(d) = display {
        m.insert("display".into(), Value::String(d.clone()));
    }
    if let Some((k, v)) = extra {
        m.insert(k.into(), Value::String(v.to_owned()));
    }
    Value::Object(m)
}

/// The full representation of a stored resource, before projection.
pub(crate) fn full(res: &StoredResource, base: &str) -> Value {
    full_with(res.doc.as_object().cloned().unwrap_or_default(), res, base)
}

/// [`full`] around `obj`, the resource's document already taken out of it.
fn full_with(mut obj: Map<String, Value>, res: &StoredResource, base: &str) -> Value {
    obj.insert("id".into(), Value::String(res.id.clone()));
    if let Some(members) = &res.members {
        let list = members
            .iter()
            .map(|m| member_json(base, &m.id, m.kind, m.display.as_ref(), Some(("type", m.kind.as_str()))))
            .collect();
        obj.insert("members".into(), Value::Array(list));
    }
    if let Some(groups) = &res.groups
        && !groups.is_empty()
    {
        // RFC 7643 §4.1.2: `type` is "direct" or "indirect"; scimd records direct memberships.
        let list = groups
            .iter()
            .map(|g| {
                member_json(base, &g.id, ResourceKind::Group, g.display.as_ref(), Some(("type", "direct")))
            })
            .collect();
        obj.insert("groups".into(), Value::Array(list));
    }
    obj.insert(
        "meta".into(),
        json!({
            "resourceType": res.kind.as_str(),
            "created": format_datetime(res.created),
            "lastModified": format_datetime(res.last_modified),
            "location": format!("{base}/{}/{}", res.kind.endpoint(), res.id),
            "version": etag(res.version),
        }),
    );
    Value::Object(obj)
}

/// Builds the projection from the request's parameters.
pub(crate) fn projection(rs: &ResourceSchema, p: &ProjectionParams) -> Result<Projection, ScimError> {
    let join = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    Ok(Projection::new(rs, join(&p.attributes).as_deref(), join(&p.excluded).as_deref()))
}

/// The representation returned to the client.
pub(crate) fn render(
    rs: &ResourceSchema,
    res: &StoredResource,
    base: &str,
    projection: &Projection,
) -> Value {
    project(rs, &full(res, base), projection)
}

/// [`render`] of a resource the caller no longer needs: its document is moved, not copied (a page
/// of 100 users copied 100 documents).
pub(crate) fn render_owned(
    rs: &ResourceSchema,
    mut res: StoredResource,
    base: &str,
    projection: &Projection,
) -> Value {
    let obj = match std::mem::take(&mut res.doc) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    project(rs, &full_with(obj, &res, base), projection)
}
