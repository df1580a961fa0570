//! The discovery endpoints (RFC 7644 §4): `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig`, rendered from the same definitions that validate and project
//! resources, so what a client reads there is what the server does.
//!
//! Also the loader for custom extension schemas: a tenant's extension arrives as the RFC 7643 §7
//! JSON a client would read back from `/Schemas`, and is checked here before any resource is
//! validated against it.

use serde_json::{Map, Value, json};

use crate::attribute::{AttrType, AttributeDef, ResourceType, Schema, SchemaExtension};
use crate::builtin::schema_for_discovery;
use crate::error::ScimError;
use crate::resource::ResourceSchema;
use crate::urn;

/// Joins the base URL (with or without a trailing slash) and a path that starts with `/`.
fn join(base_url: &str, path: &str) -> String {
    format!("{}{path}", base_url.trim_end_matches('/'))
}

/// Drops scimd's private `x-scimd-*` keys from a rendered attribute list, recursively: they are
/// storage hints, not RFC 7643 §7 characteristics.
fn strip_private(attrs: &mut Value) {
    if let Some(list) = attrs.as_array_mut() {
        for a in list {
            if let Some(obj) = a.as_object_mut() {
                obj.retain(|k, _| !k.starts_with("x-scimd-"));
                if let Some(subs) = obj.get_mut("subAttributes") {
                    strip_private(subs);
                }
            }
        }
    }
}

/// RFC 7643 §7 / §8.7: one schema as served at `/Schemas/{id}`, with `meta.resourceType` `Schema`
/// and `meta.location` under `base_url` (e.g. `https://host/scim/v2`).
///
/// The RFC 7643 §3.1 common attributes are left out, as §8.7.1 does (see
/// [`schema_for_discovery`]). `schemas` names the §7 Schema schema: RFC 7643 §3 asks every
/// resource to carry it, though the §8.7 listings leave it out.
#[must_use]
pub fn schema_json(schema: &Schema, base_url: &str) -> Value {
    let shown = schema_for_discovery(schema);
    let mut attributes = serde_json::to_value(&shown.attributes).unwrap_or_else(|_| json!([]));
    strip_private(&mut attributes);
    json!({
        "schemas": [urn::SCHEMA],
        "id": shown.id,
        "name": shown.name,
        "description": shown.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": join(base_url, &format!("/Schemas/{}", shown.id)),
        },
    })
}

/// RFC 7643 §6 / §8.6: one resource type as served at `/ResourceTypes/{id}`.
///
/// `schemaExtensions` is left out when there are none, as in the §8.6 Group example.
#[must_use]
pub fn resource_type_json(rt: &ResourceType, base_url: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([urn::RESOURCE_TYPE]));
    out.insert("id".into(), rt.id.clone().into());
    out.insert("name".into(), rt.name.clone().into());
    out.insert("endpoint".into(), rt.endpoint.clone().into());
    if !rt.description.is_empty() {
        out.insert("description".into(), rt.description.clone().into());
    }
    out.insert("schema".into(), rt.schema.clone().into());
    if !rt.schema_extensions.is_empty() {
        let exts: Vec<Value> = rt
            .schema_extensions
            .iter()
            .map(|e| json!({"schema": e.schema, "required": e.required}))
            .collect();
        out.insert("schemaExtensions".into(), exts.into());
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "ResourceType",
            "location": join(base_url, &format!("/ResourceTypes/{}", rt.id)),
        }),
    );
    Value::Object(out)
}

/// RFC 7643 §5 `bulk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkConfig {
    /// Whether `/Bulk` is supported.
    pub supported: bool,
    /// The most operations one bulk request may hold.
    pub max_operations: u64,
    /// The largest bulk request body, in bytes.
    pub max_payload_size: u64,
}

/// RFC 7643 §5 `filter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterConfig {
    /// Whether `filter` is supported.
    pub supported: bool,
    /// The most resources one response returns.
    pub max_results: u64,
}

/// RFC 7643 §5 `authenticationSchemes` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthScheme {
    /// `oauth`, `oauth2`, `oauthbearertoken`, `httpbasic` or `httpdigest`.
    pub kind: String,
    /// The scheme's common name, e.g. "OAuth Bearer Token".
    pub name: String,
    /// What the scheme is.
    pub description: String,
    /// The scheme's specification.
    pub spec_uri: Option<String>,
    /// How to use the scheme with this service provider.
    pub documentation_uri: Option<String>,
    /// Whether this is the preferred scheme.
    pub primary: bool,
}

impl AuthScheme {
    /// RFC 6750 bearer tokens, the scheme scimd accepts (tokens and OAuth access tokens alike).
    #[must_use]
    pub fn oauth_bearer_token() -> Self {
        Self {
            kind: "oauthbearertoken".to_owned(),
            name: "OAuth Bearer Token".to_owned(),
            description: "Authentication scheme using the OAuth Bearer Token Standard".to_owned(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".to_owned()),
            documentation_uri: Some(DOCUMENTATION_URI.to_owned()),
            primary: true,
        }
    }

    /// RFC 7617 HTTP Basic with a scimd token as the password (the user name is not checked),
    /// for identity providers that offer only Basic (Okta's "Basic Auth" mode).
    #[must_use]
    pub fn http_basic() -> Self {
        Self {
            kind: "httpbasic".to_owned(),
            name: "HTTP Basic".to_owned(),
            description: "HTTP Basic authentication with a scimd token as the password".to_owned(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc7617".to_owned()),
            documentation_uri: Some(DOCUMENTATION_URI.to_owned()),
            primary: false,
        }
    }
}

/// Where the authentication schemes are documented (RFC 7643 §5 `documentationUri`).
pub const DOCUMENTATION_URI: &str = "https://github.com/scimd/scimd#readme";

/// RFC 9865 §4: which pagination method a request gets when it names none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaginationMethod {
    /// RFC 9865 cursors (`cursor` / `nextCursor`).
    Cursor,
    /// RFC 7644 §3.4.2.4 `startIndex` / `count`.
    Index,
}

impl PaginationMethod {
    /// The value as RFC 9865 spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PaginationMethod::Cursor => "cursor",
            PaginationMethod::Index => "index",
        }
    }
}

/// RFC 9865 §4 `pagination`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaginationConfig {
    /// Whether cursor pagination is supported.
    pub cursor: bool,
    /// Whether index pagination is supported.
    pub index: bool,
    /// The method a request that names none gets. RFC 9865 §4: required when both are supported.
    pub default_method: Option<PaginationMethod>,
    /// The page size when a request gives no `count`.
    pub default_page_size: Option<u64>,
    /// The largest page returned.
    pub max_page_size: Option<u64>,
    /// Seconds a cursor stays valid.
    pub cursor_timeout: Option<u64>,
}

/// RFC 7643 §5: what this service provider supports, rendered at `/ServiceProviderConfig`.
///
/// The HTTP layer builds one from its configuration, so the document tells the truth. `Default`
/// describes scimd with nothing optional switched on: PATCH, filtering and ETags supported (scimd
/// always does those), bulk, sorting and password change off, bearer tokens, index pagination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceProviderConfig {
    /// A human-readable help page.
    pub documentation_uri: Option<String>,
    /// RFC 7644 §3.5.2 PATCH.
    pub patch: bool,
    /// RFC 7644 §3.7 bulk.
    pub bulk: BulkConfig,
    /// RFC 7644 §3.4.2.2 filtering.
    pub filter: FilterConfig,
    /// Whether `password` may be changed (RFC 7643 §5 `changePassword`).
    pub change_password: bool,
    /// RFC 7644 §3.4.2.3 sorting.
    pub sort: bool,
    /// RFC 7644 §3.14 ETags.
    pub etag: bool,
    /// How clients authenticate.
    pub authentication_schemes: Vec<AuthScheme>,
    /// RFC 9865 pagination, when advertised.
    pub pagination: Option<PaginationConfig>,
}

impl Default for ServiceProviderConfig {
    fn default() -> Self {
        Self {
            documentation_uri: None,
            patch: true,
            bulk: BulkConfig { supported: false, max_operations: 0, max_payload_size: 0 },
            filter: FilterConfig { supported: true, max_results: 200 },
            change_password: false,
            sort: false,
            etag: true,
            authentication_schemes: vec![AuthScheme::oauth_bearer_token(), AuthScheme::http_basic()],
            pagination: Some(PaginationConfig {
                cursor: false,
                index: true,
                default_method: Some(PaginationMethod::Index),
                default_page_size: Some(100),
                max_page_size: Some(200),
                cursor_timeout: None,
            }),
        }
    }
}

impl ServiceProviderConfig {
    /// RFC 7643 §5 / §8.5: the document served at `/ServiceProviderConfig`.
    #[must_use]
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut out = Map::new();
        out.insert("schemas".into(), json!([urn::SERVICE_PROVIDER_CONFIG]));
        if let Some(doc) = &self.documentation_uri {
            out.insert("documentationUri".into(), doc.clone().into());
        }
        out.insert("patch".into(), json!({"supported": self.patch}));
        out.insert(
            "bulk".into(),
            json!({
                "supported": self.bulk.supported,
                "maxOperations": self.bulk.max_operations,
                "maxPayloadSize": self.bulk.max_payload_size,
            }),
        );
        out.insert(
            "filter".into(),
            json!({"supported": self.filter.supported, "maxResults": self.filter.max_results}),
        );
        out.insert("changePassword".into(), json!({"supported": self.change_password}));
        out.insert("sort".into(), json!({"supported": self.sort}));
        out.insert("etag".into(), json!({"supported": self.etag}));
        let schemes: Vec<Value> = self
            .authentication_schemes
            .iter()
            .map(|s| {
                let mut o = Map::new();
                o.insert("type".into(), s.kind.clone().into());
                o.insert("name".into(), s.name.clone().into());
                o.insert("description".into(), s.description.clone().into());
                if let Some(u) = &s.spec_uri {
                    o.insert("specUri".into(), u.clone().into());
                }
                if let Some(u) = &s.documentation_uri {
                    o.insert("documentationUri".into(), u.clone().into());
                }
                if s.primary {
                    o.insert("primary".into(), true.into());
                }
                Value::Object(o)
            })
            .collect();
        out.insert("authenticationSchemes".into(), schemes.into());
        if let Some(p) = &self.pagination {
            let mut o = Map::new();
            o.insert("cursor".into(), p.cursor.into());
            o.insert("index".into(), p.index.into());
            if let Some(m) = p.default_method {
                o.insert("defaultPaginationMethod".into(), m.as_str().into());
            }
            for (k, v) in [
                ("defaultPageSize", p.default_page_size),
                ("maxPageSize", p.max_page_size),
                ("cursorTimeout", p.cursor_timeout),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), v.into());
                }
            }
            out.insert("pagination".into(), Value::Object(o));
        }
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "ServiceProviderConfig",
                "location": join(base_url, "/ServiceProviderConfig"),
            }),
        );
        Value::Object(out)
    }
}

/// RFC 7643 §2.1: `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`.
#[must_use]
pub fn is_valid_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A schema id scimd accepts for a custom extension: an RFC 8141 URN, `urn:NID:NSS`, restricted to
/// characters that survive unquoted in a filter or PATCH path (RFC 7644 §3.10 puts the URN in
/// front of the attribute name, separated by `:`), and not ending in `:`.
fn is_valid_schema_urn(id: &str) -> bool {
    let Some(rest) = id.get(..4).filter(|p| p.eq_ignore_ascii_case("urn:")).and(id.get(4..)) else {
        return false;
    };
    let Some((nid, nss)) = rest.split_once(':') else {
        return false;
    };
    let nid_ok = (2..=32).contains(&nid.len())
        && nid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && nid.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let nss_ok = !nss.is_empty()
        && !nss.ends_with(':')
        && nss.chars().all(|c| c.is_ascii_alphanumeric() || "-._~:+=/".contains(c));
    nid_ok && nss_ok
}

fn check_attribute(attr: &AttributeDef, parent: Option<&str>) -> Result<(), ScimError> {
    let here = match parent {
        Some(p) => format!("{p}.{}", attr.name),
        None => attr.name.clone(),
    };
    // RFC 7643 §2.4 spells the reference sub-attribute `$ref`, outside the ATTRNAME grammar.
    let ref_sub = parent.is_some() && attr.name == "$ref" && attr.kind == AttrType::Reference;
    if !ref_sub && !is_valid_attr_name(&attr.name) {
        return Err(ScimError::invalid_syntax(format!(
            "attribute name \"{here}\" is not valid: RFC 7643 §2.1 names start with a letter and \
             hold only letters, digits, '-' and '_'"
        )));
    }
    if attr.stored_as_rows {
        return Err(ScimError::invalid_syntax(format!(
            "attribute \"{here}\": x-scimd-stored-as-rows is reserved for the built-in schemas"
        )));
    }
    if !attr.reference_types.is_empty() && attr.kind != AttrType::Reference {
        return Err(ScimError::invalid_syntax(format!(
            "attribute \"{here}\" has referenceTypes but is not of type reference (RFC 7643 §7)"
        )));
    }
    match (attr.kind, parent) {
        (AttrType::Complex, Some(_)) => Err(ScimError::invalid_syntax(format!(
            "attribute \"{here}\" is complex inside a complex attribute; RFC 7643 §2.3.8 forbids \
             nesting complex attributes"
        ))),
        (AttrType::Complex, None) if attr.sub_attributes.is_empty() => Err(ScimError::invalid_syntax(
            format!("complex attribute \"{here}\" has no subAttributes (RFC 7643 §2.3.8)"),
        )),
        (AttrType::Complex, None) => {
            check_unique_names(&attr.sub_attributes, &here)?;
            attr.sub_attributes.iter().try_for_each(|s| check_attribute(s, Some(&here)))
        }
        (_, _) if !attr.sub_attributes.is_empty() => Err(ScimError::invalid_syntax(format!(
            "attribute \"{here}\" has subAttributes but is not complex (RFC 7643 §7)"
        ))),
        _ => Ok(()),
    }
}

/// RFC 7643 §2.1: names are case-insensitive, so two that differ only in case are one name.
fn check_unique_names(attrs: &[AttributeDef], within: &str) -> Result<(), ScimError> {
    for (i, a) in attrs.iter().enumerate() {
        if attrs.iter().take(i).any(|b| b.name.eq_ignore_ascii_case(&a.name)) {
            return Err(ScimError::invalid_syntax(format!(
                "attribute \"{}\" is defined twice in {within} (names are case-insensitive, RFC 7643 \
                 §2.1)",
                a.name
            )));
        }
    }
    Ok(())
}

/// Loads a custom extension schema from its RFC 7643 §7 JSON (the shape `/Schemas` serves),
/// checking that it is a schema scimd can enforce:
///
/// * `id` is a URN (RFC 7643 §3: schemas are identified by URIs; scimd requires `urn:` so that
///   `urn:…:attr` paths and filters stay unambiguous) and is not one of the built-in schemas;
/// * every attribute name is an RFC 7643 §2.1 ATTRNAME, unique case-insensitively;
/// * complex attributes have sub-attributes, and none of those is complex (RFC 7643 §2.3.8);
/// * `subAttributes` and `referenceTypes` appear only where they mean something (RFC 7643 §7).
///
/// Extra keys such as `schemas` and `meta` are ignored, so a schema read back from `/Schemas` loads.
pub fn parse_extension(json: &Value) -> Result<Schema, ScimError> {
    if !json.is_object() {
        return Err(ScimError::invalid_syntax("an extension schema must be a JSON object (RFC 7643 §7)"));
    }
    let schema: Schema = serde_json::from_value(json.clone())
        .map_err(|e| ScimError::invalid_syntax(format!("not an RFC 7643 §7 schema representation: {e}")))?;
    if !is_valid_schema_urn(&schema.id) {
        return Err(ScimError::invalid_syntax(format!(
            "schema id \"{}\" is not a URN of the form urn:NID:NSS (RFC 7643 §3, RFC 8141)",
            schema.id
        )));
    }
    let builtin = [
        urn::USER,
        urn::GROUP,
        urn::ENTERPRISE_USER,
        urn::SERVICE_PROVIDER_CONFIG,
        urn::RESOURCE_TYPE,
        urn::SCHEMA,
    ];
    if builtin.iter().any(|b| b.eq_ignore_ascii_case(&schema.id)) {
        return Err(ScimError::invalid_syntax(format!(
            "schema id \"{}\" is a built-in schema and cannot be redefined",
            schema.id
        )));
    }
    check_unique_names(&schema.attributes, &schema.id)?;
    schema.attributes.iter().try_for_each(|a| check_attribute(a, None))?;
    Ok(schema)
}

impl ResourceSchema {
    /// Adds an extension schema to the resource type (RFC 7643 §6 `schemaExtensions`), replacing
    /// an extension with the same URN if there is one.
    #[must_use]
    pub fn with_extension(mut self, schema: Schema, required: bool) -> Self {
        let urn = schema.id.clone();
        self.extensions.retain(|(s, _)| !s.id.eq_ignore_ascii_case(&urn));
        self.extensions.push((std::sync::Arc::new(schema), required));
        self.resource_type.schema_extensions.retain(|e| !e.schema.eq_ignore_ascii_case(&urn));
        self.resource_type.schema_extensions.push(SchemaExtension { schema: urn, required });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::{Mutability, Returned};
    use crate::builtin::{enterprise_user_schema, group_schema, user_resource_type, user_schema};

    const BASE: &str = "https://example.com/v2/";

    #[test]
    fn user_schema_snapshot() {
        insta::assert_json_snapshot!("user_schema", schema_json(&user_schema(), BASE));
    }

    #[test]
    fn group_and_enterprise_schema_snapshots() {
        insta::assert_json_snapshot!("group_schema", schema_json(&group_schema(), BASE));
        insta::assert_json_snapshot!("enterprise_user_schema", schema_json(&enterprise_user_schema(), BASE));
    }

    #[test]
    fn schema_json_has_meta_and_no_common_or_private_keys() {
        let v = schema_json(&group_schema(), BASE);
        assert_eq!(v["meta"]["resourceType"], "Schema");
        assert_eq!(
            v["meta"]["location"],
            "https://example.com/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group"
        );
        let names: Vec<&str> =
            v["attributes"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
        assert_eq!(names, ["displayName", "members"]);
        assert!(!v.to_string().contains("x-scimd"));
    }

    #[test]
    fn resource_type_json_matches_rfc_7643_8_6() {
        let v = resource_type_json(&user_resource_type(), "https://example.com/v2");
        assert_eq!(
            v,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "User Account",
                "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
                "schemaExtensions": [{
                    "schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "required": false
                }],
                "meta": {
                    "resourceType": "ResourceType",
                    "location": "https://example.com/v2/ResourceTypes/User"
                }
            })
        );
        let g = resource_type_json(&crate::builtin::group_resource_type(), BASE);
        assert!(g.get("schemaExtensions").is_none());
    }

    #[test]
    fn service_provider_config_renders_what_it_is_told() {
        let mut spc = ServiceProviderConfig {
            bulk: BulkConfig { supported: true, max_operations: 1000, max_payload_size: 1_048_576 },
            sort: true,
            documentation_uri: Some("https://example.com/help".into()),
            ..ServiceProviderConfig::default()
        };
        let v = spc.to_json(BASE);
        assert_eq!(v["schemas"][0], urn::SERVICE_PROVIDER_CONFIG);
        assert_eq!(v["patch"], json!({"supported": true}));
        assert_eq!(v["bulk"], json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576}));
        assert_eq!(v["sort"]["supported"], true);
        assert_eq!(v["changePassword"]["supported"], false);
        assert_eq!(v["etag"]["supported"], true);
        assert_eq!(v["documentationUri"], "https://example.com/help");
        assert_eq!(v["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(v["authenticationSchemes"][0]["primary"], true);
        assert_eq!(v["pagination"]["defaultPaginationMethod"], "index");
        assert_eq!(v["pagination"]["cursor"], false);
        assert!(v["pagination"].get("cursorTimeout").is_none());
        assert_eq!(v["meta"]["location"], "https://example.com/v2/ServiceProviderConfig");

        spc.pagination = None;
        assert!(spc.to_json(BASE).get("pagination").is_none());
    }

    fn ext(attributes: Value) -> Value {
        json!({"id": "urn:example:scim:schemas:2.0:Badge", "name": "Badge", "attributes": attributes})
    }

    #[test]
    fn parse_extension_accepts_a_proper_schema_and_round_trips_discovery() {
        let schema = parse_extension(&ext(json!([
            {"name": "badgeNumber", "type": "string", "caseExact": true, "uniqueness": "server"},
            {"name": "clearance", "type": "complex", "subAttributes": [
                {"name": "level", "type": "integer"},
                {"name": "$ref", "type": "reference", "referenceTypes": ["external"]}
            ]},
            {"name": "issued", "type": "dateTime", "mutability": "immutable", "returned": "request"}
        ])))
        .unwrap();
        assert_eq!(schema.attributes.len(), 3);
        let issued = schema.attribute("ISSUED").unwrap();
        assert_eq!((issued.mutability, issued.returned), (Mutability::Immutable, Returned::Request));
        // What /Schemas serves loads back to the same schema.
        let again = parse_extension(&schema_json(&schema, BASE)).unwrap();
        assert_eq!(again, schema);
    }

    #[test]
    fn parse_extension_rejects_improper_schemas() {
        let bad = [
            json!("not an object"),
            json!({"id": "not-a-urn", "attributes": []}),
            json!({"id": "urn:x", "attributes": []}),
            json!({"id": "urn:example:thing:", "attributes": []}),
            json!({"id": "urn:example:has space", "attributes": []}),
            json!({"id": urn::ENTERPRISE_USER, "attributes": []}),
            json!({"id": "urn:example:a", "attributes": [{"name": "x", "type": "nonsense"}]}),
            ext(json!([{"name": "1abc", "type": "string"}])),
            ext(json!([{"name": "a.b", "type": "string"}])),
            ext(json!([{"name": "$ref", "type": "reference"}])),
            ext(json!([{"name": "dup", "type": "string"}, {"name": "DUP", "type": "string"}])),
            ext(json!([{"name": "c", "type": "complex"}])),
            ext(json!([{"name": "c", "type": "complex", "subAttributes": [
                {"name": "inner", "type": "complex", "subAttributes": [{"name": "x", "type": "string"}]}
            ]}])),
            ext(json!([{"name": "s", "type": "string", "subAttributes": [{"name": "x", "type": "string"}]}])),
            ext(json!([{"name": "s", "type": "string", "referenceTypes": ["User"]}])),
            ext(json!([{"name": "s", "type": "string", "x-scimd-stored-as-rows": true}])),
        ];
        for b in bad {
            let err = parse_extension(&b).expect_err(&b.to_string());
            assert_eq!(err.status, 400, "{b}");
        }
    }

    #[test]
    fn with_extension_adds_and_replaces() {
        let schema = parse_extension(&ext(json!([{"name": "badgeNumber", "type": "string"}]))).unwrap();
        let rs = ResourceSchema::user().with_extension(schema.clone(), true);
        assert_eq!(rs.extensions.len(), 2);
        assert!(rs.resolve(Some("urn:example:scim:schemas:2.0:badge"), "badgenumber", None).is_ok());
        let rs = rs.with_extension(schema, false);
        assert_eq!(rs.extensions.len(), 2);
        assert_eq!(
            rs.resource_type.schema_extensions.last(),
            Some(&SchemaExtension { schema: "urn:example:scim:schemas:2.0:Badge".into(), required: false })
        );
    }
}
