//! Which values a write request sets in writeOnly attributes (RFC 7643 §7 `mutability:
//! writeOnly`, such as User `password`, RFC 7643 §4.1.1): the values a server must hash or keep
//! out of its logs, found in the request as sent.
//!
//! A password can be spelled many ways, all accepted by the validator and the PATCH engine:
//! `password` in any case (RFC 7643 §2.1: attribute names are case-insensitive), URN-qualified
//! (`urn:ietf:params:scim:schemas:core:2.0:User:password`, RFC 7644 §3.10), nested under the
//! schema's URN, as a PATCH path, or as a key of a no-path PATCH value, with the PATCH message's
//! own members (`op`, `path`, `value`) in any case too. This module resolves every key and path
//! with the very functions the validator ([`crate::validate`]) and the engine ([`crate::patch`])
//! use, so that what is stored as a password and what is hashed and redacted cannot drift apart.
//!
//! It reads the raw request and never fails: a request that validation will refuse may still be
//! logged, and its secrets must not be.

use serde_json::Value;

use crate::attribute::{AttrType, AttributeDef, Mutability, Schema};
use crate::filter_eval::get_ci;
use crate::patch::{Loc, PatchOpKind, ValueKey, locate, value_key};
use crate::resource::ResourceSchema;
use crate::validate::{BodyMember, body_attr, body_member};

/// The shape of a write request's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteRequest {
    /// A resource: the body of a POST (RFC 7644 §3.3) or a PUT (RFC 7644 §3.5.1).
    Resource,
    /// A PATCH request (RFC 7644 §3.5.2).
    Patch,
}

/// One value a request writes into a writeOnly attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOnlyValue<'s, 'b> {
    /// The schema of the attribute.
    pub schema: &'s Schema,
    /// The writeOnly attribute (or sub-attribute) written.
    pub attr: &'s AttributeDef,
    /// The PATCH operation that writes it; `None` for a POST or PUT body.
    pub op: Option<PatchOpKind>,
    /// Where the value stands in the request body (an RFC 6901 JSON Pointer).
    pub pointer: String,
    /// The value as sent.
    pub value: &'b Value,
}

/// Every value `body` sets in a writeOnly attribute of `rs`, in request order (the order in which
/// the validator and the engine apply them: a later one wins).
#[must_use]
pub fn write_only_values<'s, 'b>(
    rs: &'s ResourceSchema,
    request: WriteRequest,
    body: &'b Value,
) -> Vec<WriteOnlyValue<'s, 'b>> {
    let mut out = Vec::new();
    match request {
        WriteRequest::Resource => resource(rs, body, &mut out),
        WriteRequest::Patch => patch(rs, body, &mut out),
    }
    out
}

/// RFC 7643 §4.1.1: the new password a request sets on a User, if any: the last non-empty string
/// it writes into the core `password` attribute by add, replace, POST or PUT. `""` and `null` are
/// unassigned (RFC 7643 §2.5), and a value of another type is refused by validation.
#[must_use]
pub fn new_password<'b>(rs: &ResourceSchema, request: WriteRequest, body: &'b Value) -> Option<&'b str> {
    write_only_values(rs, request, body).into_iter().rev().find_map(|w| {
        let is_password = std::ptr::eq(w.schema, &*rs.core) && w.attr.name == "password";
        (is_password && w.op != Some(PatchOpKind::Remove))
            .then_some(w.value.as_str()?)
            .filter(|s| !s.is_empty())
    })
}

/// RFC 6901 §3: `~` is written `~0` and `/` is written `~1` in a reference token.
fn pointer(base: &str, token: &str) -> String {
    format!("{base}/{}", token.replace('~', "~0").replace('/', "~1"))
}

type Out<'s, 'b> = Vec<WriteOnlyValue<'s, 'b>>;

fn resource<'s, 'b>(rs: &'s ResourceSchema, body: &'b Value, out: &mut Out<'s, 'b>) {
    let Some(obj) = body.as_object() else { return };
    for (key, value) in obj {
        let at = pointer("", key);
        match body_member(rs, key) {
            BodyMember::Schemas => {}
            BodyMember::SchemaObject(which) => {
                let schema = which.map_or(&*rs.core, |i| &*rs.extensions[i].0);
                let Some(inner) = value.as_object() else { continue };
                for (k, v) in inner {
                    if let Some((attr, sub)) = body_attr(schema, k) {
                        attribute(schema, sub.unwrap_or(attr), None, pointer(&at, k), v, out);
                    }
                }
            }
            BodyMember::Attr(which, rest) => {
                let schema = which.map_or(&*rs.core, |i| &*rs.extensions[i].0);
                if let Some((attr, sub)) = body_attr(schema, rest) {
                    attribute(schema, sub.unwrap_or(attr), None, at, value, out);
                }
            }
        }
    }
}

/// RFC 7644 §3.5.2: each operation's `path` and `value` (message member names in any case, as
/// [`crate::patch::parse_patch_request`] reads them).
fn patch<'s, 'b>(rs: &'s ResourceSchema, body: &'b Value, out: &mut Out<'s, 'b>) {
    let Some(obj) = body.as_object() else { return };
    let Some((ops_key, Value::Array(ops))) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
    else {
        return;
    };
    for (i, op) in ops.iter().enumerate() {
        let Some(op) = op.as_object() else { continue };
        let kind = match get_ci(op, "op").and_then(Value::as_str) {
            Some(s) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
            Some(s) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
            Some(s) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
            // Not an operation the engine runs; its value still may be a secret to the log,
            // which treats it as a replace would be.
            _ => PatchOpKind::Replace,
        };
        let Some((value_key_name, value)) = op.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")) else {
            continue;
        };
        let at = pointer(&pointer(&pointer("", ops_key), &i.to_string()), value_key_name);
        match get_ci(op, "path") {
            Some(Value::String(p)) if !p.trim().is_empty() => {
                let Ok(path) = scimd_filter::parse_path(p) else { continue };
                if let Ok(Some(loc)) = locate(rs, &path, false) {
                    located(rs, &loc, kind, at, value, out);
                }
            }
            _ => no_path_value(rs, None, kind, &at, value, out),
        }
    }
}

/// The keys of a no-path value (or of a schema's object inside one), resolved as the engine's
/// `key` resolves them.
fn no_path_value<'s, 'b>(
    rs: &'s ResourceSchema,
    within: Option<&'s Schema>,
    kind: PatchOpKind,
    at: &str,
    value: &'b Value,
    out: &mut Out<'s, 'b>,
) {
    let Some(obj) = value.as_object() else { return };
    for (key, v) in obj {
        let here = pointer(at, key);
        match value_key(rs, within, key) {
            ValueKey::Ignored | ValueKey::Id | ValueKey::NotAPath(_) => {}
            // One level only, as in the engine (an extension inside an extension is refused).
            ValueKey::Schema(schema) if within.is_none() => {
                no_path_value(rs, Some(schema), kind, &here, v, out)
            }
            ValueKey::Schema(_) => {}
            ValueKey::Path(path) => {
                if let Ok(Some(loc)) = locate(rs, &path, false) {
                    located(rs, &loc, kind, here, v, out);
                }
            }
        }
    }
}

fn located<'s, 'b>(
    rs: &'s ResourceSchema,
    loc: &Loc<'s, '_>,
    kind: PatchOpKind,
    at: String,
    value: &'b Value,
    out: &mut Out<'s, 'b>,
) {
    match loc {
        Loc::Extension(schema) => no_path_value(rs, Some(schema), kind, &at, value, out),
        Loc::Attr { r, .. } => attribute(r.schema, r.sub.unwrap_or(r.attr), Some(kind), at, value, out),
    }
}

/// `value` written into `def`: the whole of it when `def` is writeOnly, else its writeOnly
/// sub-attributes when `def` is complex (one object, or a list of them).
fn attribute<'s, 'b>(
    schema: &'s Schema,
    def: &'s AttributeDef,
    op: Option<PatchOpKind>,
    at: String,
    value: &'b Value,
    out: &mut Out<'s, 'b>,
) {
    if def.mutability == Mutability::WriteOnly {
        out.push(WriteOnlyValue { schema, attr: def, op, pointer: at, value });
        return;
    }
    if def.kind != AttrType::Complex {
        return;
    }
    match value {
        Value::Object(obj) => {
            for (k, v) in obj {
                if let Some(sub) = def.sub_attribute(k) {
                    attribute(schema, sub, op, pointer(&at, k), v, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.is_object() {
                    attribute(schema, def, op, pointer(&at, &i.to_string()), item, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::urn;

    fn pointers(request: WriteRequest, body: &Value) -> Vec<String> {
        write_only_values(&ResourceSchema::user(), request, body).into_iter().map(|w| w.pointer).collect()
    }

    #[test]
    fn every_resource_spelling_is_found() {
        let core = urn::USER;
        let body = json!({
            "schemas": [core],
            "PassWord": "a",
            format!("{core}:password"): "b",
            format!("{}:PASSWORD", core.to_uppercase()): "c",
            core: {"pAssword": "d"},
            "userName": "bjensen",
            "password.x": "not an attribute path of a body",
        });
        assert_eq!(
            pointers(WriteRequest::Resource, &body),
            vec![
                "/PassWord".to_owned(),
                format!("/{core}:password"),
                format!("/{}:PASSWORD", core.to_uppercase()),
                format!("/{core}/pAssword"),
            ]
        );
        assert_eq!(new_password(&ResourceSchema::user(), WriteRequest::Resource, &body), Some("d"));
    }

    #[test]
    fn every_patch_spelling_is_found() {
        let core = urn::USER;
        let body = json!({"OPERATIONS": [
            {"OP": "Replace", "Path": "PASSWORD", "Value": "a"},
            {"op": "add", "path": format!("{core}:password"), "value": "b"},
            {"op": "replace", "value": {"password": "c", "active": false}},
            {"op": "replace", "value": {core: {"Password": "d"}}},
            {"op": "replace", "value": {format!("{core}:passWord"): "e"}},
            {"op": "remove", "path": "password", "value": "f"},
            {"op": "replace", "path": "userName", "value": "password"},
        ]});
        assert_eq!(
            pointers(WriteRequest::Patch, &body),
            vec![
                "/OPERATIONS/0/Value".to_owned(),
                "/OPERATIONS/1/value".to_owned(),
                "/OPERATIONS/2/value/password".to_owned(),
                format!("/OPERATIONS/3/value/{core}/Password"),
                format!("/OPERATIONS/4/value/{core}:passWord"),
                "/OPERATIONS/5/value".to_owned(),
            ]
        );
        // The remove writes nothing: the last password set is "e".
        assert_eq!(new_password(&ResourceSchema::user(), WriteRequest::Patch, &body), Some("e"));
    }

    #[test]
    fn pointers_are_escaped_and_point_at_the_value() {
        let body = json!({"Operations": [{"op": "add", "value": {"password": "x"}}]});
        for w in write_only_values(&ResourceSchema::user(), WriteRequest::Patch, &body) {
            assert_eq!(body.pointer(&w.pointer), Some(w.value));
        }
        assert_eq!(pointer("/a", "b/c~d"), "/a/b~1c~0d");
    }

    #[test]
    fn empty_or_foreign_values_are_no_password() {
        let rs = ResourceSchema::user();
        assert_eq!(new_password(&rs, WriteRequest::Resource, &json!({"password": ""})), None);
        assert_eq!(new_password(&rs, WriteRequest::Resource, &json!({"password": 7})), None);
        assert_eq!(new_password(&rs, WriteRequest::Resource, &json!("password")), None);
        assert_eq!(
            new_password(&ResourceSchema::group(), WriteRequest::Resource, &json!({"password": "x"})),
            None
        );
    }
}
