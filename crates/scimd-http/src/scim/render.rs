//! Stored resources into SCIM JSON: `id`, `meta` (RFC 7643 §3.1), members and groups, then the
//! `attributes`/`excludedAttributes` projection (RFC 7644 §3.9).

use axum::http::{HeaderMap, Uri};
use serde_json::{Map, Value, json};

use scimd_schema::projection::{Projection, project};
use scimd_schema::value::format_datetime;
use scimd_schema::{ResourceSchema, ScimError};
use scimd_store::{DocText, ResourceKind, StoredResource};

use super::params::ProjectionParams;
use crate::HttpConfig;
use crate::error::ApiError;

/// RFC 7644 §3.14: scimd's ETags are weak, one per version.
pub(crate) fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The absolute SCIM base URL this request came in under (`https://host/tenants/acme/scim/v2`), for
/// `meta.location` and `Location` (RFC 7644 §3.1: absolute URIs). The host part comes from
/// `--base-url` when set (behind a proxy), else from the request's `Host` (an allowed one,
/// [`crate::head`]).
pub(crate) fn scim_base(config: &HttpConfig, headers: &HeaderMap, original: &Uri) -> String {
    let path = original.path();
    let prefix = path.find("/scim/v2").map_or("/scim/v2", |i| &path[..i + "/scim/v2".len()]);
    match &config.base_url {
        Some(base) => format!("{}{prefix}", base.trim_end_matches('/')),
        None => format!("http://{}{prefix}", crate::head::request_host(headers)),
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

/// [`full`] around `obj`, the resource's document already taken out of it. With an empty `obj`,
/// what the server adds to a stored document: `id`, `members`/`groups` and `meta`.
fn full_with<D>(mut obj: Map<String, Value>, res: &StoredResource<D>, base: &str) -> Value {
    obj.insert("id".into(), Value::String(res.id.clone()));
    // RFC 7643 §2.5: an empty list is the same as no value; like the projection, leave it out.
    if let Some(members) = &res.members
        && !members.is_empty()
    {
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

/// Writes a resource read from the store as its JSON representation.
///
/// When the projection keeps its stored document whole (`whole`, which is
/// [`Projection::keeps_documents_whole`]), the representation is written by splicing: the stored
/// text's members, then the server's own (`id`, `groups` or `members`, `meta`), in the order
/// [`render_owned`] gives them. Otherwise the document is parsed and rendered as a tree. Both give
/// the same JSON: a GET, or a page of 100 users, no longer parses documents only to write them
/// out again.
pub(crate) fn write_stored(
    out: &mut Vec<u8>,
    rs: &ResourceSchema,
    res: StoredResource<DocText>,
    base: &str,
    projection: &Projection,
    whole: bool,
) -> Result<(), ApiError> {
    if !whole {
        let rendered = render_owned(rs, res.parsed()?, base, projection);
        return serde_json::to_writer(out, &rendered).map_err(internal);
    }
    // What the server adds is not projected either: `whole` holds only when every attribute is
    // returned in full, `id`, `meta`, `members` and `groups` included (the tests below compare
    // this path with the projected one, byte for byte).
    let added = full_with(Map::new(), &res, base);
    let stored = res.doc.members_text();
    out.reserve(stored.len() + 256);
    out.push(b'{');
    out.extend_from_slice(stored.as_bytes());
    let mut first = stored.is_empty();
    for (key, value) in added.as_object().into_iter().flatten() {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, key).map_err(internal)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, value).map_err(internal)?;
    }
    out.push(b'}');
    Ok(())
}

/// A ListResponse (RFC 7644 §3.4.2) written as JSON text, one resource at a time
/// ([`write_stored`]).
#[derive(Default)]
pub(crate) struct ListBody {
    resources: Vec<u8>,
    count: usize,
}

impl ListBody {
    /// Where the next resource is to be written ([`write_stored`]).
    pub(crate) fn next(&mut self) -> &mut Vec<u8> {
        if self.count > 0 {
            self.resources.push(b',');
        }
        self.count += 1;
        &mut self.resources
    }

    /// The whole response body: RFC 7644 §3.4.2's members in the order the RFC's examples give.
    /// `startIndex` with index paging, `nextCursor` (RFC 9865) when there is a next page.
    pub(crate) fn finish(
        self,
        total: u64,
        start_index: Option<u64>,
        next_cursor: Option<&str>,
    ) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::with_capacity(self.resources.len() + 160);
        out.extend_from_slice(b"{\"schemas\":");
        serde_json::to_writer(&mut out, &[scimd_schema::urn::LIST_RESPONSE]).map_err(internal)?;
        out.extend_from_slice(
            format!(",\"totalResults\":{total},\"itemsPerPage\":{}", self.count).as_bytes(),
        );
        if let Some(start) = start_index {
            out.extend_from_slice(format!(",\"startIndex\":{start}").as_bytes());
        }
        if let Some(cursor) = next_cursor {
            out.extend_from_slice(b",\"nextCursor\":");
            serde_json::to_writer(&mut out, cursor).map_err(internal)?;
        }
        out.extend_from_slice(b",\"Resources\":[");
        out.extend_from_slice(&self.resources);
        out.extend_from_slice(b"]}");
        Ok(out)
    }
}

pub(crate) fn internal(e: serde_json::Error) -> ApiError {
    ApiError::Internal(format!("response not serialisable: {e}"))
}

#[cfg(test)]
mod tests {
    use scimd_schema::urn;
    use scimd_store::Member;
    use time::macros::datetime;

    use super::*;

    fn listed(doc: &str, groups: Option<Vec<Member>>) -> StoredResource<DocText> {
        StoredResource {
            id: "0193".into(),
            kind: ResourceKind::User,
            version: 3,
            created: datetime!(2026-01-02 03:04:05.678 UTC),
            last_modified: datetime!(2026-01-02 03:04:06 UTC),
            doc: DocText::new(doc.to_owned()).unwrap(),
            members: None,
            groups,
        }
    }

    fn body(res: StoredResource<DocText>, projection: &Projection, whole: bool) -> String {
        let mut list = ListBody::default();
        write_stored(list.next(), &ResourceSchema::user(), res, "https://h/scim/v2", projection, whole)
            .unwrap();
        String::from_utf8(list.finish(1, Some(1), None).unwrap()).unwrap()
    }

    #[test]
    fn spliced_documents_are_the_rendered_ones_byte_for_byte() {
        let rs = ResourceSchema::user();
        let p = Projection::default();
        assert!(p.keeps_documents_whole(&rs));
        let group = Member { id: "g1".into(), kind: ResourceKind::Group, display: Some("Ops \"A\"".into()) };
        let doc = json!({"schemas": [urn::USER, urn::ENTERPRISE_USER], "userName": "bjensen",
                         "name": {"givenName": "Barbara"}, "emails": [{"value": "b@x", "type": "work"}],
                         urn::ENTERPRISE_USER: {"employeeNumber": "7"}})
        .to_string();
        for groups in [None, Some(vec![]), Some(vec![group])] {
            let spliced = body(listed(&doc, groups.clone()), &p, true);
            let rendered = body(listed(&doc, groups), &p, false);
            assert_eq!(spliced, rendered);
            let v: Value = serde_json::from_str(&spliced).unwrap();
            assert_eq!(v["Resources"][0]["id"], "0193");
            assert_eq!(v["Resources"][0]["meta"]["version"], "W/\"3\"");
        }
    }

    #[test]
    fn a_spliced_group_with_members_is_the_rendered_one() {
        let rs = ResourceSchema::group();
        let p = Projection::default();
        assert!(p.keeps_documents_whole(&rs));
        let members = vec![
            Member { id: "u1".into(), kind: ResourceKind::User, display: Some("Ann".into()) },
            Member { id: "g2".into(), kind: ResourceKind::Group, display: None },
        ];
        let doc = json!({"schemas": [urn::GROUP], "displayName": "Ops", "externalId": "e"}).to_string();
        for members in [None, Some(vec![]), Some(members)] {
            let res =
                StoredResource { kind: ResourceKind::Group, members, groups: None, ..listed(&doc, None) };
            let (mut spliced, mut rendered) = (Vec::new(), Vec::new());
            write_stored(&mut spliced, &rs, res.clone(), "https://h/scim/v2", &p, true).unwrap();
            write_stored(&mut rendered, &rs, res, "https://h/scim/v2", &p, false).unwrap();
            assert_eq!(String::from_utf8(spliced).unwrap(), String::from_utf8(rendered).unwrap());
        }
    }

    #[test]
    fn spliced_documents_may_be_empty_or_spaced_as_postgresql_writes_json() {
        let p = Projection::default();
        for doc in ["{}", " { } ", "{\"schemas\": [\"x\"], \"userName\": \"a b\"}"] {
            let spliced: Value = serde_json::from_str(&body(listed(doc, None), &p, true)).unwrap();
            let rendered: Value = serde_json::from_str(&body(listed(doc, None), &p, false)).unwrap();
            assert_eq!(spliced, rendered, "{doc}");
        }
    }

    #[test]
    fn list_body_has_the_rfc_members_and_each_resource_once() {
        let rs = ResourceSchema::user();
        let p = Projection::new(&rs, Some("userName"), None);
        let mut list = ListBody::default();
        for name in ["a", "b"] {
            let doc = json!({"schemas": [urn::USER], "userName": name, "displayName": "D"}).to_string();
            write_stored(list.next(), &rs, listed(&doc, None), "https://h/scim/v2", &p, false).unwrap();
        }
        let v: Value = serde_json::from_slice(&list.finish(9, None, Some("c\"1")).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"schemas": [urn::LIST_RESPONSE], "totalResults": 9, "itemsPerPage": 2, "nextCursor": "c\"1",
                   "Resources": [{"schemas": [urn::USER], "id": "0193", "userName": "a"},
                                 {"schemas": [urn::USER], "id": "0193", "userName": "b"}]})
        );
        let empty: Value =
            serde_json::from_slice(&ListBody::default().finish(0, Some(1), None).unwrap()).unwrap();
        assert_eq!(empty["Resources"], json!([]));
        assert_eq!(empty["startIndex"], 1);
    }

    #[test]
    fn a_damaged_document_is_an_error_not_a_broken_response() {
        assert!(DocText::new("[1]".into()).is_err());
        assert!(DocText::new(String::new()).is_err());
        let res = listed("{\"userName\": }", None);
        let mut list = ListBody::default();
        let p = Projection::new(&ResourceSchema::user(), Some("userName"), None);
        assert!(write_stored(list.next(), &ResourceSchema::user(), res, "https://h", &p, false).is_err());
    }
}
