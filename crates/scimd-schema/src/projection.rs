//! Which attributes a response carries: the `attributes` and `excludedAttributes` query parameters
//! (RFC 7644 §3.4.2.5, §3.9) combined with each attribute's `returned` characteristic (RFC 7643 §7).
//!
//! Projection is applied to every resource the server renders (GET, list, POST, PUT, PATCH
//! responses), and [`Projection::wants`] lets the HTTP layer skip work the response will not show,
//! above all loading a large group's members when Entra asks with `excludedAttributes=members` or
//! `attributes=id` (docs/idp-compatibility.md §1.6: members returned anyway make Entra fail the job).
//!
//! Decisions where the RFC is open:
//!
//! * Names that name nothing in the resource type are ignored, in either parameter. RFC 7644 §3.9
//!   gives no error for them; rejecting would break clients that ask every server for the same
//!   list (a 400 on a GET makes Entra quarantine the job).
//! * Both parameters may be given together: `attributes` selects, then `excludedAttributes`
//!   removes from the selection. An empty parameter (`attributes=`) counts as absent.
//! * A URN alone (`urn:…:enterprise:2.0:User`) names every attribute of that schema.
//! * Naming a complex attribute returns its sub-attributes whose `returned` is `default` or
//!   `always`; a `request` sub-attribute must be named itself (`name.sub`).
//! * `schemas` is always returned, unchanged, as is every `returned: always` attribute (`id`).
//!   `meta` is `returned: default`: `attributes=id` yields `schemas` and `id` only, the smallest
//!   answer to Entra's reference checks.

use serde_json::{Map, Value};

use crate::attribute::{AttrType, AttributeDef, Returned, Schema};
use crate::resource::ResourceSchema;
use crate::validate::strip_prefix_ci;

/// One name from `attributes` / `excludedAttributes`, resolved to canonical case.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// A whole schema: every attribute in it.
    Schema(String),
    /// An attribute of a schema, maybe narrowed to one sub-attribute.
    Attr {
        /// The schema's URN as the resource type defines it.
        schema: String,
        /// The attribute's canonical name.
        attr: String,
        /// The sub-attribute's canonical name.
        sub: Option<String>,
    },
}

/// What the response keeps of one attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Selection {
    /// Not returned.
    Omit,
    /// Returned, with its default sub-attributes.
    All,
    /// Only these sub-attributes (plus `returned: always` ones).
    Subs(Vec<String>),
}

/// The parsed `attributes` / `excludedAttributes` of one request (RFC 7644 §3.4.2.5).
///
/// `Projection::default()` is a request with neither: every attribute that is returned by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    attributes: Option<Vec<Target>>,
    excluded: Vec<Target>,
}

/// Resolves `[urn:]name[.sub]` (or a bare URN) against the resource type. Names are
/// case-insensitive (RFC 7643 §2.1); unqualified names are looked up in the core schema first,
/// then in the extensions (as `ResourceSchema::resolve` does).
fn resolve(rs: &ResourceSchema, text: &str) -> Option<Target> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    // RFC 7644 §3.10: a fully qualified name is the schema URN, ':', then the attribute path. A
    // URN may be the prefix of another (`…:User` and `…:User:x` schemas), so take the longest.
    let qualified = rs
        .schemas()
        .filter_map(|s| {
            let rest = strip_prefix_ci(text, &s.id)?;
            (rest.is_empty() || rest.starts_with(':')).then_some((s, rest))
        })
        .max_by_key(|(s, _)| s.id.len());
    let (schema, path) = match qualified {
        Some((s, "")) => return Some(Target::Schema(s.id.clone())),
        Some((s, rest)) => (Some(s), rest.get(1..)?),
        None => (None, text),
    };
    let (name, sub) = match path.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (path, None),
    };
    let resolved = rs.resolve(schema.map(|s| s.id.as_str()), name, sub).ok()?;
    Some(Target::Attr {
        schema: resolved.schema.id.clone(),
        attr: resolved.attr.name.clone(),
        sub: resolved.sub.map(|s| s.name.clone()),
    })
}

fn parse_list(rs: &ResourceSchema, param: Option<&str>) -> Option<Vec<Target>> {
    let param = param.map(str::trim).filter(|p| !p.is_empty())?;
    Some(param.split(',').filter_map(|name| resolve(rs, name)).collect())
}

impl Projection {
    /// Parses the two query parameters (comma-separated attribute names, RFC 7644 §3.4.2.5).
    /// Unknown names are ignored (see the module docs).
    #[must_use]
    pub fn new(rs: &ResourceSchema, attributes: Option<&str>, excluded_attributes: Option<&str>) -> Self {
        Self {
            attributes: parse_list(rs, attributes),
            excluded: parse_list(rs, excluded_attributes).unwrap_or_default(),
        }
    }

    fn names(list: &[Target], schema: &str, attr: &str) -> (bool, Vec<String>) {
        let mut whole = false;
        let mut subs = Vec::new();
        for t in list {
            match t {
                Target::Schema(s) if s == schema => whole = true,
                Target::Attr { schema: s, attr: a, sub } if s == schema && a == attr => match sub {
                    None => whole = true,
                    Some(sub) => subs.push(sub.clone()),
                },
                _ => {}
            }
        }
        (whole, subs)
    }

    /// RFC 7643 §7 `returned` combined with the two parameters, for one attribute; and the
    /// sub-attributes `excludedAttributes` removes from it.
    fn select(&self, schema: &Schema, attr: &AttributeDef) -> (Selection, Vec<String>) {
        match attr.returned {
            // "never": not even when asked for (`password`).
            Returned::Never => return (Selection::Omit, Vec::new()),
            // "always": whatever the parameters say (`id`).
            Returned::Always => return (Selection::All, Vec::new()),
            Returned::Default | Returned::Request => {}
        }
        let selection = match &self.attributes {
            // "request": only when named in `attributes`. "default": unless excluded.
            None if attr.returned == Returned::Request => Selection::Omit,
            None => Selection::All,
            Some(list) => match Self::names(list, &schema.id, &attr.name) {
                (true, _) => Selection::All,
                (false, subs) if subs.is_empty() => Selection::Omit,
                (false, subs) => Selection::Subs(subs),
            },
        };
        let (excluded_whole, excluded_subs) = Self::names(&self.excluded, &schema.id, &attr.name);
        if excluded_whole { (Selection::Omit, Vec::new()) } else { (selection, excluded_subs) }
    }

    /// Whether the response will hold any of `name` (`[urn:]attr[.sub]`, case-insensitive), so
    /// the caller can skip loading what would be thrown away: `wants(rs, "members")` is false for
    /// `excludedAttributes=members` and for `attributes=id`. Unknown names are not wanted.
    #[must_use]
    pub fn wants(&self, rs: &ResourceSchema, name: &str) -> bool {
        match resolve(rs, name) {
            None => false,
            Some(Target::Schema(urn)) => rs.schema(&urn).is_some_and(|(schema, _)| {
                schema.attributes.iter().any(|a| self.select(schema, a).0 != Selection::Omit)
            }),
            Some(Target::Attr { schema, attr, sub }) => {
                let Ok(resolved) = rs.resolve(Some(&schema), &attr, sub.as_deref()) else {
                    return false;
                };
                let (selection, excluded_subs) = self.select(resolved.schema, resolved.attr);
                match (resolved.sub, selection) {
                    (_, Selection::Omit) => false,
                    (None, _) => true,
                    (Some(sub), selection) => sub_kept(sub, &selection, &excluded_subs),
                }
            }
        }
    }
}

impl Projection {
    /// Whether [`project`] returns every valid document of `rs` that holds no `returned: never`
    /// attribute exactly as it is, the `id`, `meta`, `members` and `groups` the server adds
    /// included, so a server may send such a document's stored text without parsing it.
    ///
    /// True when neither parameter was given (RFC 7644 §3.4.2.5: "default" attributes) and every
    /// attribute of every schema of `rs`, and each of their sub-attributes, is returned by
    /// default or always (RFC 7643 §7). `returned: never` attributes are allowed because the
    /// documents meant here do not hold them (scimd hashes `password` into a column of its own);
    /// a `returned: request` attribute or sub-attribute would have to be cut out, so it makes
    /// this false.
    #[must_use]
    pub fn keeps_documents_whole(&self, rs: &ResourceSchema) -> bool {
        self.attributes.is_none()
            && self.excluded.is_empty()
            && rs.schemas().flat_map(|s| &s.attributes).all(|a| match a.returned {
                Returned::Never => true,
                Returned::Request => false,
                Returned::Default | Returned::Always => a
                    .sub_attributes
                    .iter()
                    .all(|sub| matches!(sub.returned, Returned::Default | Returned::Always)),
            })
    }
}

/// Whether one sub-attribute survives the selection of its attribute.
fn sub_kept(sub: &AttributeDef, selection: &Selection, excluded: &[String]) -> bool {
    match sub.returned {
        Returned::Never => false,
        Returned::Always => true,
        Returned::Request => matches!(selection, Selection::Subs(l) if l.contains(&sub.name)),
        Returned::Default => {
            !excluded.contains(&sub.name)
                && match selection {
                    Selection::All => true,
                    Selection::Subs(l) => l.contains(&sub.name),
                    Selection::Omit => false,
                }
        }
    }
}

/// One complex value (an object) cut down to the kept sub-attributes; `None` when nothing is left.
fn shape_object(
    attr: &AttributeDef,
    obj: &Map<String, Value>,
    selection: &Selection,
    excluded: &[String],
) -> Option<Value> {
    let out: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| match attr.sub_attribute(k) {
            Some(sub) => sub_kept(sub, selection, excluded),
            // A member the schema does not define (not written by the validator): keep it only
            // when the whole attribute is returned untouched.
            None => *selection == Selection::All && excluded.is_empty(),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!out.is_empty()).then_some(Value::Object(out))
}

fn project_attr(p: &Projection, schema: &Schema, attr: &AttributeDef, value: &Value) -> Option<Value> {
    let (selection, excluded) = p.select(schema, attr);
    if selection == Selection::Omit {
        return None;
    }
    if attr.kind != AttrType::Complex {
        return Some(value.clone());
    }
    match value {
        Value::Object(obj) => shape_object(attr, obj, &selection, &excluded),
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|item| match item {
                    Value::Object(obj) => shape_object(attr, obj, &selection, &excluded),
                    other => Some(other.clone()),
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => Some(other.clone()),
    }
}

/// RFC 7644 §3.4.2.5 / §3.9: `doc` (a stored resource with `id` and `meta`) as the response shows
/// it under projection `p`. Attributes `returned: never` (`password`) are never in the result.
#[must_use]
pub fn project(rs: &ResourceSchema, doc: &Value, p: &Projection) -> Value {
    let Some(obj) = doc.as_object() else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            out.insert(key.clone(), value.clone());
            continue;
        }
        if let Some(attr) = rs.core.attribute(key) {
            if let Some(v) = project_attr(p, &rs.core, attr, value) {
                out.insert(key.clone(), v);
            }
            continue;
        }
        if let Some((schema, false)) = rs.schema(key) {
            let Some(inner) = value.as_object() else { continue };
            let ext: Map<String, Value> = inner
                .iter()
                .filter_map(|(k, v)| {
                    let attr = schema.attribute(k)?;
                    project_attr(p, schema, attr, v).map(|v| (k.clone(), v))
                })
                .collect();
            if !ext.is_empty() {
                out.insert(key.clone(), Value::Object(ext));
            }
            continue;
        }
        // A member no schema defines (the validator never writes one): returned only when no
        // `attributes` list narrows the response.
        if p.attributes.is_none() {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::urn;

    const ENT: &str = urn::ENTERPRISE_USER;

    fn user_doc() -> Value {
        json!({
            "schemas": [urn::USER, ENT],
            "id": "2819c223",
            "externalId": "701984",
            "userName": "bjensen",
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "active": true,
            "password": "t1meMa$heen",
            "emails": [{"value": "b@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org"}],
            "groups": [{"value": "g1", "display": "Tour Guides"}],
            ENT: {"employeeNumber": "701984", "manager": {"value": "boss", "$ref": "../Users/boss"}},
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22.000Z"}
        })
    }

    fn proj(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let rs = ResourceSchema::user();
        project(&rs, &user_doc(), &Projection::new(&rs, attributes, excluded))
    }

    #[test]
    fn default_returns_everything_but_password() {
        let mut want = user_doc();
        want.as_object_mut().unwrap().remove("password");
        assert_eq!(proj(None, None), want);
        // Empty parameters count as absent.
        assert_eq!(proj(Some(""), Some(" ")), want);
    }

    #[test]
    fn attributes_narrows_to_the_named_plus_always() {
        // RFC 7644 §3.9: attributes=userName → id (always), schemas and userName.
        assert_eq!(
            proj(Some("userName"), None),
            json!({"schemas": [urn::USER, ENT], "id": "2819c223", "userName": "bjensen"})
        );
        // Entra's reference check: attributes=id.
        assert_eq!(proj(Some("id"), None), json!({"schemas": [urn::USER, ENT], "id": "2819c223"}));
    }

    #[test]
    fn password_is_never_returned_even_when_asked_for() {
        assert!(proj(Some("password,userName"), None).get("password").is_none());
        assert!(proj(Some(&format!("{}:password", urn::USER)), None).get("password").is_none());
    }

    #[test]
    fn names_are_case_insensitive_and_sub_attributes_narrow() {
        let v = proj(Some("USERNAME,Name.GivenName,emails.VALUE"), None);
        assert_eq!(
            v,
            json!({
                "schemas": [urn::USER, ENT],
                "id": "2819c223",
                "userName": "bjensen",
                "name": {"givenName": "Barbara"},
                "emails": [{"value": "b@example.com"}, {"value": "babs@jensen.org"}]
            })
        );
    }

    #[test]
    fn excluded_attributes_remove_attributes_and_sub_attributes_but_not_always_ones() {
        let v = proj(None, Some("name.givenName,emails,id,schemas,meta"));
        assert_eq!(v["name"], json!({"familyName": "Jensen"}));
        assert!(v.get("emails").is_none() && v.get("meta").is_none());
        assert_eq!(v["id"], "2819c223");
        assert!(v.get("schemas").is_some());
        // Excluding the only selected sub-attribute leaves nothing of the attribute.
        let v = proj(Some("name.givenName"), Some("name.givenName"));
        assert!(v.get("name").is_none());
    }

    #[test]
    fn extension_attributes_by_urn_or_short_name() {
        let v = proj(Some(&format!("{ENT}:employeeNumber")), None);
        assert_eq!(v[ENT], json!({"employeeNumber": "701984"}));
        let v = proj(Some("manager.value"), None);
        assert_eq!(v[ENT], json!({"manager": {"value": "boss"}}));
        let v = proj(Some(&ENT.to_uppercase()), None);
        assert_eq!(v[ENT], user_doc()[ENT]);
        let v = proj(None, Some(ENT));
        assert!(v.get(ENT).is_none());
        let v = proj(None, Some("employeeNumber"));
        assert_eq!(v[ENT], json!({"manager": {"value": "boss", "$ref": "../Users/boss"}}));
    }

    #[test]
    fn unknown_names_are_ignored() {
        assert_eq!(
            proj(Some("bogus,emails[type eq \"work\"]"), None),
            json!({"schemas": [urn::USER, ENT], "id": "2819c223"})
        );
        assert_eq!(proj(None, Some("bogus,name.nothing,urn:x:y:z")), proj(None, None));
    }

    fn request_rs() -> ResourceSchema {
        let ext = crate::discovery::parse_extension(&json!({
            "id": "urn:example:scim:2.0:Extra",
            "attributes": [
                {"name": "photoBlob", "type": "binary", "returned": "request"},
                {"name": "cert", "type": "complex", "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "raw", "type": "binary", "returned": "request"},
                    {"name": "kid", "type": "string", "returned": "always"}
                ]}
            ]
        }))
        .unwrap();
        ResourceSchema::user().with_extension(ext, false)
    }

    #[test]
    fn request_attributes_only_when_named() {
        let rs = request_rs();
        let x = "urn:example:scim:2.0:Extra";
        let doc = json!({"schemas": [urn::USER, x], "id": "1", "userName": "u",
                         x: {"photoBlob": "YQ==", "cert": {"value": "v", "raw": "YQ==", "kid": "k"}}});
        let v = project(&rs, &doc, &Projection::default());
        assert_eq!(v[x], json!({"cert": {"value": "v", "kid": "k"}}));
        assert!(!Projection::default().wants(&rs, "photoBlob"));
        let p = Projection::new(&rs, Some("photoBlob,cert.raw"), None);
        assert_eq!(
            project(&rs, &doc, &p)[x],
            json!({"photoBlob": "YQ==", "cert": {"raw": "YQ==", "kid": "k"}})
        );
        assert!(p.wants(&rs, "photoBlob") && p.wants(&rs, "cert.raw") && !p.wants(&rs, "cert.value"));
        // An always sub-attribute survives the exclusion of its siblings.
        let p = Projection::new(&rs, None, Some("cert.value"));
        assert_eq!(project(&rs, &doc, &p)[x], json!({"cert": {"kid": "k"}}));
    }

    #[test]
    fn only_the_default_projection_of_schemas_without_request_attributes_keeps_documents_whole() {
        for rs in [ResourceSchema::user(), ResourceSchema::group()] {
            assert!(Projection::default().keeps_documents_whole(&rs));
            assert!(Projection::new(&rs, Some(" "), Some("")).keeps_documents_whole(&rs));
            assert!(!Projection::new(&rs, Some("id"), None).keeps_documents_whole(&rs));
            // Unknown names leave an empty selection: `schemas` and `id` only.
            assert!(!Projection::new(&rs, Some("bogus"), None).keeps_documents_whole(&rs));
            assert!(!Projection::new(&rs, None, Some("meta")).keeps_documents_whole(&rs));
        }
        // `photoBlob` and `cert.raw` are `returned: request`: the default projection cuts them.
        assert!(!Projection::default().keeps_documents_whole(&request_rs()));
    }

    #[test]
    fn wants_tells_the_http_layer_whether_to_load_members() {
        let rs = ResourceSchema::group();
        let wants = |a: Option<&str>, e: Option<&str>| Projection::new(&rs, a, e).wants(&rs, "members");
        assert!(wants(None, None));
        assert!(!wants(None, Some("members")));
        assert!(!wants(None, Some("MEMBERS")));
        assert!(!wants(Some("id"), None));
        assert!(!wants(Some("displayName"), None));
        assert!(wants(Some("members.value"), None));
        assert!(wants(Some("displayName,members"), Some("members.display")));
        assert!(!Projection::default().wants(&rs, "nonsense"));
        let p = Projection::new(&rs, Some("displayName"), None);
        assert!(p.wants(&rs, "id") && p.wants(&rs, "displayName") && !p.wants(&rs, "meta"));
        let users = ResourceSchema::user();
        assert!(!Projection::default().wants(&users, "password"));
        assert!(Projection::default().wants(&users, ENT));
        assert!(!Projection::new(&users, None, Some(ENT)).wants(&users, ENT));
    }

    #[test]
    fn group_members_excluded_for_entra() {
        let rs = ResourceSchema::group();
        let doc = json!({"schemas": [urn::GROUP], "id": "g", "displayName": "G",
                         "members": [{"value": "u1", "display": "A"}], "meta": {"resourceType": "Group"}});
        let v = project(&rs, &doc, &Projection::new(&rs, None, Some("members")));
        assert_eq!(
            v,
            json!({"schemas": [urn::GROUP], "id": "g", "displayName": "G", "meta": {"resourceType": "Group"}})
        );
    }
}
