//! Validation and normalisation of an incoming resource: the body of a POST (RFC 7644 §3.3) or a
//! PUT (RFC 7644 §3.5.1).
//!
//! Identity providers do not send what RFC 7643 says, and the store must not care: this module
//! turns what they do send into one canonical document, so that everything after it (uniqueness,
//! indexing, filtering, PATCH, rendering) sees attribute names in their schema case, booleans as
//! booleans, dateTimes in one format and no empty values. The tolerances, each documented where it
//! is applied, come from `docs/idp-compatibility.md`: Entra's `"True"`/`"False"`, its flattened extension
//! keys and stray attributes, the several shapes of `manager`, Okta echoing read-only attributes in
//! PUT. `ValidateOptions::strict` turns the ones the RFC forbids into errors.
//!
//! The output never holds `id` or `meta`: those belong to the store, which assigns the id and
//! writes `meta` when it saves the document.

use serde_json::{Map, Value};

use crate::attribute::{AttrType, AttributeDef, Mutability, Schema, Uniqueness};
use crate::error::ScimError;
use crate::resource::ResourceSchema;
use crate::value::{canonical_datetime, fold_case};

/// How forgiving validation is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// RFC mode: an unknown attribute, sub-attribute or schema URN, or extension data whose URN
    /// `schemas` does not list, is a 400 `invalidSyntax` (RFC 7644 §3.12 allows it). Off by
    /// default: Entra sends stray top-level attributes and unknown schema URNs, and Microsoft's
    /// Postman tests expect an unknown attribute to be dropped (docs/idp-compatibility.md §1.8, §5).
    pub strict: bool,
}

/// The attributes the store owns: never taken from a request, never part of the validated
/// document (RFC 7643 §3.1: `id` is assigned by the service provider, `meta` is read-only).
const STORE_OWNED: [&str; 2] = ["id", "meta"];

/// RFC 7644 §3.3: validates a POST body and returns the document to store.
///
/// The result holds `schemas` (the core URN, then the URN of each extension that has data, in the
/// resource type's order), then the core attributes in schema order, then one object per
/// extension; no `id`, no `meta`, no read-only attribute, no empty value. `password` is kept
/// (writeOnly): the store hashes or drops it, and projection never returns it.
pub fn validate_create(rs: &ResourceSchema, body: Value, opts: &ValidateOptions) -> Result<Value, ScimError> {
    let raw = collect(rs, body, opts)?;
    let core = normalize_schema(&rs.core, raw.core, opts)?;
    let exts = raw
        .exts
        .into_iter()
        .zip(&rs.extensions)
        .map(|(m, (s, _))| normalize_schema(s, m, opts))
        .collect::<Result<Vec<_>, _>>()?;
    assemble(rs, core, exts)
}

/// RFC 7644 §3.5.1: validates a PUT body against the resource it replaces, `existing` (the stored
/// document), and returns the document to store. Same shape and rules as [`validate_create`], plus:
///
/// * `id` in the body is ignored when it equals the current id (Okta and Microsoft's tests send
///   it); any other id is 400 `mutability`;
/// * readOnly attributes in the body are ignored and the existing values kept ("readOnly: Any
///   values provided SHALL be ignored");
/// * an immutable attribute that already has a value may be sent again only with that value, else
///   400 `mutability` ("If one or more values are already set for the attribute, the input
///   value(s) MUST match"); when the body leaves it out, the existing value is kept, since clearing
///   it would be a change too. Immutability of the sub-attributes of a multi-valued attribute
///   (Group `members`) concerns the elements, which a PUT replaces as a set, so it is not checked;
/// * any other attribute the body leaves out is cleared ("attributes that are not provided ...
///   SHALL be removed"), except writeOnly ones (`password`): a client cannot read them back, so
///   it can never echo them, and a GET-modify-PUT round trip must not wipe the password.
pub fn validate_replace(
    rs: &ResourceSchema,
    existing: &Value,
    body: Value,
    opts: &ValidateOptions,
) -> Result<Value, ScimError> {
    let raw = collect(rs, body, opts)?;
    if let Some(id) = raw.core.get("id") {
        let current = existing.get("id").and_then(Value::as_str);
        let same = match id {
            Value::Null => true,
            Value::String(s) => s.is_empty() || Some(s.as_str()) == current,
            _ => false,
        };
        if !same {
            return Err(ScimError::mutability(
                "\"id\" is assigned by the service provider and cannot be changed (RFC 7643 §3.1)",
            ));
        }
    }
    let empty = Map::new();
    let existing_obj = existing.as_object().unwrap_or(&empty);
    let mut core = normalize_schema(&rs.core, raw.core, opts)?;
    keep_from_existing(&rs.core, &mut core, existing_obj)?;
    let mut exts = Vec::with_capacity(rs.extensions.len());
    for (m, (schema, _)) in raw.exts.into_iter().zip(&rs.extensions) {
        let mut ext = normalize_schema(schema, m, opts)?;
        let old = get_ci(existing_obj, &schema.id).and_then(Value::as_object).unwrap_or(&empty);
        keep_from_existing(schema, &mut ext, old)?;
        exts.push(ext);
    }
    assemble(rs, core, exts)
}

/// Normalises one attribute's value, as the validator does for each attribute of a body: the
/// type rules, the tolerances and the removal of empty values described on
/// [`validate_create`]. `Ok(None)` means the value is unassigned (null, `""`, or empty after
/// cleaning). Read-only sub-attributes are dropped; whether the attribute itself may be written is
/// the caller's question. The PATCH engine uses this for `value`s.
pub fn normalize_attribute(
    attr: &AttributeDef,
    value: Value,
    opts: &ValidateOptions,
) -> Result<Option<Value>, ScimError> {
    normalize_attr(attr, value, opts, &attr.name)
}

/// The body after the first pass: known attributes under their canonical names, values as sent.
struct Collected {
    core: Map<String, Value>,
    exts: Vec<Map<String, Value>>,
}

fn unknown(opts: &ValidateOptions, what: &str) -> Result<(), ScimError> {
    if opts.strict {
        Err(ScimError::invalid_syntax(format!("unknown attribute \"{what}\"")))
    } else {
        // Tolerant mode: unknown attributes are dropped (docs/idp-compatibility.md §5 "Unknown attributes").
        Ok(())
    }
}

/// Case-insensitive lookup of a JSON member (RFC 7643 §2.1: attribute names and schema URNs are
/// case-insensitive).
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// `text` starts with `prefix`, ignoring ASCII case; returns the rest.
pub(crate) fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { text.get(prefix.len()..) } else { None }
}

/// Puts `value` under `key` in `map`; when both the old and the new value are objects they are
/// merged (a later member wins), so the nested extension object and Entra's flattened keys for the
/// same extension combine.
fn merge_into(map: &mut Map<String, Value>, key: &str, value: Value) {
    match (map.get_mut(key), value) {
        (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
        (_, value) => {
            map.insert(key.to_owned(), value);
        }
    }
}

/// What one member of a resource body (POST, PUT) stands for. Shared by [`collect`] and
/// [`crate::writes`], so that what validation stores and what is hashed and redacted as a secret
/// are found by the same resolution.
pub(crate) enum BodyMember<'k> {
    /// `schemas`.
    Schemas,
    /// A schema URN whose value is an object of that schema's attributes: an extension (RFC 7643
    /// §3.3), or, as a tolerance matching the PATCH engine's no-path values, the core schema.
    /// `None` is the core schema, `Some(i)` the extension `rs.extensions[i]`.
    SchemaObject(Option<usize>),
    /// `name` or `name.sub` of the core schema (`None`) or of an extension (`Some(i)`).
    Attr(Option<usize>, &'k str),
}

/// Classifies the member `key` of a resource body.
pub(crate) fn body_member<'k>(rs: &ResourceSchema, key: &'k str) -> BodyMember<'k> {
    if key.eq_ignore_ascii_case("schemas") {
        return BodyMember::Schemas;
    }
    // RFC 7643 §3.3: extension attributes live in an object under the extension's URN.
    if let Some(i) = rs.extensions.iter().position(|(s, _)| s.id.eq_ignore_ascii_case(key)) {
        return BodyMember::SchemaObject(Some(i));
    }
    if rs.core.id.eq_ignore_ascii_case(key) {
        return BodyMember::SchemaObject(None);
    }
    // Tolerance: Entra also sends an extension attribute flattened to the top level, with its
    // full path as the key (`urn:…:enterprise:2.0:User:employeeNumber`). The same form with
    // the core URN (RFC 7644 §3.10 "urn:…:core:2.0:User:userName") is accepted too.
    let ext_hit = rs.extensions.iter().enumerate().find_map(|(i, (s, _))| {
        strip_prefix_ci(key, &s.id).and_then(|r| r.strip_prefix(':')).map(|r| (i, r))
    });
    if let Some((i, rest)) = ext_hit {
        return BodyMember::Attr(Some(i), rest);
    }
    if let Some(rest) = strip_prefix_ci(key, &rs.core.id).and_then(|r| r.strip_prefix(':')) {
        return BodyMember::Attr(None, rest);
    }
    // Unqualified names are core attributes (RFC 7643 §3.3). Unlike a filter path, a body
    // does not look an unqualified name up in the extensions: Entra's stray top-level
    // `department` / `manager` are not the Enterprise attributes (docs/idp-compatibility.md §5).
    BodyMember::Attr(None, key)
}

/// Resolves `key` (`name` or `name.sub`) in `schema`: the attribute, and the sub-attribute when the
/// key names one. `None` for an unknown attribute.
pub(crate) fn body_attr<'s>(
    schema: &'s Schema,
    key: &str,
) -> Option<(&'s AttributeDef, Option<&'s AttributeDef>)> {
    let (name, sub) = match key.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (key, None),
    };
    let attr = schema.attribute(name)?;
    match sub {
        None => Some((attr, None)),
        // `name.sub` keys address one sub-attribute of a single-valued complex attribute
        // (Entra's `…:User:manager.value`); a multi-valued one has no single element to put it in.
        Some(sub) => attr.sub_attribute(sub).filter(|_| !attr.multi_valued).map(|s| (attr, Some(s))),
    }
}

/// Places `key` (`name` or `name.sub`) of `schema` into `map` under its canonical name.
fn place(
    schema: &Schema,
    map: &mut Map<String, Value>,
    key: &str,
    value: Value,
    opts: &ValidateOptions,
) -> Result<(), ScimError> {
    let Some((attr, sub)) = body_attr(schema, key) else {
        return unknown(opts, key);
    };
    match sub {
        None => merge_into(map, &attr.name, value),
        Some(sub_def) => {
            let mut one = Map::new();
            one.insert(sub_def.name.clone(), value);
            match map.get_mut(&attr.name) {
                Some(Value::Object(old)) => old.extend(one),
                _ => {
                    map.insert(attr.name.clone(), Value::Object(one));
                }
            }
        }
    }
    Ok(())
}

/// First pass over the body: the `schemas` rules, and every member put under its schema and
/// canonical name.
fn collect(rs: &ResourceSchema, body: Value, opts: &ValidateOptions) -> Result<Collected, ScimError> {
    // RFC 7644 §3.3: the request body is a resource, i.e. a JSON object.
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object (RFC 7644 §3.3)"));
    };
    let mut schemas = None;
    let mut core = Map::new();
    let mut exts = vec![Map::new(); rs.extensions.len()];
    let mut ext_present = vec![false; rs.extensions.len()];
    for (key, value) in obj {
        match body_member(rs, &key) {
            BodyMember::Schemas => schemas = Some(value),
            BodyMember::SchemaObject(which) => match value {
                Value::Null => {}
                Value::Object(inner) => {
                    let (schema, map) = match which {
                        Some(i) => {
                            ext_present[i] = true;
                            (&*rs.extensions[i].0, &mut exts[i])
                        }
                        None => (&*rs.core, &mut core),
                    };
                    for (k, v) in inner {
                        place(schema, map, &k, v, opts)?;
                    }
                }
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "\"{key}\" must be an object holding the schema's attributes (RFC 7643 §3.3)"
                    )));
                }
            },
            BodyMember::Attr(Some(i), rest) => {
                ext_present[i] = true;
                place(&rs.extensions[i].0, &mut exts[i], rest, value, opts)?;
            }
            BodyMember::Attr(None, rest) => place(&rs.core, &mut core, rest, value, opts)?,
        }
    }
    check_schemas(rs, schemas, &ext_present, opts)?;
    Ok(Collected { core, exts })
}

/// RFC 7643 §3: `schemas` is REQUIRED and lists the core schema's URN; extension URNs as needed.
fn check_schemas(
    rs: &ResourceSchema,
    schemas: Option<Value>,
    ext_present: &[bool],
    opts: &ValidateOptions,
) -> Result<(), ScimError> {
    let list = match schemas {
        None | Some(Value::Null) => {
            return Err(ScimError::invalid_syntax(format!(
                "\"schemas\" is required and must contain \"{}\" (RFC 7643 §3)",
                rs.core.id
            )));
        }
        Some(Value::Array(list)) => list,
        // Tolerance: a single URN instead of a one-element list.
        Some(one @ Value::String(_)) => vec![one],
        Some(_) => {
            return Err(ScimError::invalid_syntax("\"schemas\" must be an array of URNs (RFC 7643 §3)"));
        }
    };
    let mut has_core = false;
    let mut declared = vec![false; rs.extensions.len()];
    for item in &list {
        let Some(urn) = item.as_str() else {
            return Err(ScimError::invalid_syntax("\"schemas\" must be an array of URNs (RFC 7643 §3)"));
        };
        if urn.eq_ignore_ascii_case(&rs.core.id) {
            has_core = true;
        } else if let Some(i) = rs.extensions.iter().position(|(s, _)| s.id.eq_ignore_ascii_case(urn)) {
            declared[i] = true;
        } else if opts.strict {
            return Err(ScimError::invalid_syntax(format!(
                "\"schemas\" names \"{urn}\", which is not a schema of the {} resource type",
                rs.resource_type.name
            )));
        }
        // Tolerant mode drops unknown URNs: Entra adds a Microsoft URN to groups, and Microsoft's
        // tutorial mistypes the Enterprise URN (docs/idp-compatibility.md §1.8). The output lists the
        // schemas the document actually uses.
    }
    if !has_core {
        return Err(ScimError::invalid_syntax(format!(
            "\"schemas\" must contain \"{}\" (RFC 7643 §3)",
            rs.core.id
        )));
    }
    if opts.strict {
        for (i, (schema, _)) in rs.extensions.iter().enumerate() {
            if ext_present[i] && !declared[i] {
                return Err(ScimError::invalid_syntax(format!(
                    "the body has attributes of \"{}\" but \"schemas\" does not list it (RFC 7643 §3)",
                    schema.id
                )));
            }
        }
    }
    Ok(())
}

/// Second pass for one schema: each attribute normalised, read-only ones dropped (RFC 7644 §3.5.1
/// "readOnly: Any values provided SHALL be ignored"; RFC 7643 §7 the same for POST).
fn normalize_schema(
    schema: &Schema,
    mut raw: Map<String, Value>,
    opts: &ValidateOptions,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for attr in &schema.attributes {
        let Some(value) = raw.remove(&attr.name) else { continue };
        if attr.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = normalize_attr(attr, value, opts, &attr.name)? {
            out.insert(attr.name.clone(), v);
        }
    }
    Ok(out)
}

fn type_error(path: &str, expected: &str, got: &Value) -> ScimError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ScimError::invalid_value(format!("\"{path}\" must be {expected}, not {got} (RFC 7643 §2.3)"))
}

fn normalize_attr(
    attr: &AttributeDef,
    value: Value,
    opts: &ValidateOptions,
    path: &str,
) -> Result<Option<Value>, ScimError> {
    if !attr.multi_valued {
        let value = match value {
            // Tolerance: a single-valued complex attribute given as a one-element list is that element (Entra
            // sends `manager` as `[{"$ref": …, "value": …}]`, docs/idp-compatibility.md §1.7.6).
            Value::Array(items) if attr.kind == AttrType::Complex => {
                let mut items = items.into_iter();
                match (items.next(), items.next()) {
                    (None, _) => return Ok(None),
                    (Some(one), None) => one,
                    (Some(_), Some(_)) => {
                        return Err(ScimError::invalid_value(format!(
                            "\"{path}\" is single-valued but was given several values (RFC 7643 §2.3)"
                        )));
                    }
                }
            }
            v => v,
        };
        return normalize_single(attr, value, opts, path, false);
    }
    // Tolerance: a multi-valued attribute given one value instead of a list gets a one-element
    // list (Microsoft's Postman collection adds a member as `"value": "string id 1"`).
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = normalize_single(attr, item, opts, path, true)? {
            out.push(v);
        }
    }
    if attr.kind == AttrType::Complex {
        // RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once."
        let primaries = out.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!(
                "\"{path}\" has {primaries} values with \"primary\": true; at most one is allowed (RFC 7643 §2.4)"
            )));
        }
        // Group members (and other elements kept as rows) are identified by `value`: RFC 7643
        // §4.2 "value ... contains the value of an 'id' attribute of a SCIM resource".
        if attr.stored_as_rows && out.iter().any(|v| v.get("value").is_none()) {
            return Err(ScimError::invalid_value(format!(
                "each element of \"{path}\" needs a \"value\", the id of the resource it refers to (RFC 7643 §4.2)"
            )));
        }
    }
    // RFC 7643 §2.5: unassigned and empty are the same; an empty list is not stored.
    Ok(if out.is_empty() { None } else { Some(Value::Array(out)) })
}

/// One value of `attr` (the attribute itself when single-valued, an element when multi-valued).
fn normalize_single(
    attr: &AttributeDef,
    value: Value,
    opts: &ValidateOptions,
    path: &str,
    in_list: bool,
) -> Result<Option<Value>, ScimError> {
    // RFC 7643 §2.5: null is unassigned. RFC 7644 §3.5.1 / docs/idp-compatibility.md §1.7.7: so is "".
    if value.is_null() || value.as_str() == Some("") {
        return Ok(None);
    }
    match attr.kind {
        AttrType::Complex => normalize_complex(attr, value, opts, path, in_list),
        AttrType::String => match value {
            Value::String(s) => string_value(attr, s, path).map(Some),
            other => Err(type_error(path, "a string", &other)),
        },
        AttrType::Reference => match value {
            // RFC 7643 §2.3.7: a reference is a URI, carried as a JSON string. scimd does not
            // resolve it (no referential integrity: docs/idp-compatibility.md §5).
            Value::String(s) => string_value(attr, s, path).map(Some),
            other => Err(type_error(path, "a string (a URI reference)", &other)),
        },
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value)),
            // Tolerance: Entra (without aadOptscim062020) and Microsoft's validators send "True" /
            // "False" for boolean attributes, in any case (docs/idp-compatibility.md §1.7.2). Only for
            // boolean-typed attributes: a string attribute holding "True" stays a string.
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            other => Err(type_error(path, "a boolean (true or false)", &other)),
        },
        AttrType::Integer => match value {
            // RFC 7643 §2.3.4: "A decimal number with no fractional digits."
            Value::Number(ref n) if n.is_i64() || n.is_u64() => Ok(Some(value)),
            other => Err(type_error(path, "an integer", &other)),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value)),
            other => Err(type_error(path, "a decimal number", &other)),
        },
        AttrType::DateTime => match value {
            // RFC 7643 §2.3.5: an xsd:dateTime; stored in scimd's one canonical form so text order
            // is time order (value::canonical_datetime).
            Value::String(s) => canonical_datetime(&s).map(|c| Some(Value::String(c))).ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "\"{path}\" must be a dateTime such as 2015-10-10T14:38:21Z (RFC 7643 §2.3.5), not \"{s}\""
                ))
            }),
            other => Err(type_error(path, "a dateTime string", &other)),
        },
        AttrType::Binary => match value {
            // RFC 7643 §2.3.6: base64 (RFC 4648 §4, not the URL-safe alphabet). Kept as sent.
            Value::String(s) if is_base64(&s) => Ok(Some(Value::String(s))),
            Value::String(_) => Err(ScimError::invalid_value(format!(
                "\"{path}\" must be base64-encoded (RFC 7643 §2.3.6)"
            ))),
            other => Err(type_error(path, "a base64 string", &other)),
        },
    }
}

/// The rules for the text of a string or reference value.
///
/// * Control characters (Unicode general category Cc: C0 U+0000–U+001F, DEL U+007F, C1
///   U+0080–U+009F) are refused with 400 `invalidValue` naming the attribute: PRECIS (RFC 8264
///   §9.11, §9.12) disallows them in both its identifier and free-form classes, RFC 3986 §2 allows
///   none in a URI, and a NUL or an escape sequence in a name ends up in databases, logs and
///   terminals downstream. The exceptions are tab, line feed and carriage return in free text
///   (RFC 7643 §4.1.2: `addresses.formatted` "MAY contain newlines").
/// * An identifier (an attribute with `uniqueness` server or global, RFC 7643 §7: User `userName`,
///   Group `displayName`) is stored without leading and trailing white space, so that `"n6@x "`
///   and `"n6@x"` are the same user (RFC 8265 §3.4 and RFC 7613 §3.2, UsernameCasePreserved,
///   allow no spaces at all; scimd keeps inner spaces, which identity providers send in display
///   names, and trims only the ends). One that is nothing but white space is refused (RFC 7643
///   §4.1.1: "Each User MUST include a non-empty userName value").
fn string_value(attr: &AttributeDef, s: String, path: &str) -> Result<Value, ScimError> {
    let identifier = attr.uniqueness != Uniqueness::None || attr.kind == AttrType::Reference;
    let allowed = |c: char| !identifier && matches!(c, '\t' | '\n' | '\r');
    if let Some(c) = s.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(ScimError::invalid_value(format!(
            "\"{path}\" contains the control character U+{:04X}; control characters are not allowed \
             (RFC 8264 §9.11)",
            u32::from(c)
        )));
    }
    if attr.uniqueness == Uniqueness::None {
        return Ok(Value::String(s));
    }
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(ScimError::invalid_value(format!(
            "\"{path}\" must not be empty or only white space (RFC 7643 §4.1.1)"
        )));
    }
    Ok(Value::String(if trimmed.len() == s.len() { s } else { trimmed.to_owned() }))
}

fn normalize_complex(
    attr: &AttributeDef,
    value: Value,
    opts: &ValidateOptions,
    path: &str,
    in_list: bool,
) -> Result<Option<Value>, ScimError> {
    let has_value_sub = attr.sub_attribute("value").is_some();
    let obj = match value {
        Value::Object(obj) => obj,
        // Tolerance: a bare value for a complex attribute that has a `value` sub-attribute is that
        // sub-attribute: the manager as a plain id (Microsoft's Logic App tests), a member as a
        // plain id (Microsoft's Postman tests).
        v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) if has_value_sub => {
            let mut m = Map::new();
            m.insert("value".to_owned(), v);
            m
        }
        other => return Err(type_error(path, "an object (a complex attribute)", &other)),
    };
    let mut cleaned = Map::new();
    for (k, v) in obj {
        let Some(sub) = attr.sub_attribute(&k) else {
            unknown(opts, &format!("{path}.{k}"))?;
            continue;
        };
        if sub.mutability == Mutability::ReadOnly {
            // RFC 7644 §3.5.1: read-only input is ignored (e.g. `manager.displayName`).
            continue;
        }
        let sub_path = format!("{path}.{}", sub.name);
        if let Some(n) = normalize_attr(sub, v, opts, &sub_path)? {
            cleaned.insert(sub.name.clone(), n);
        }
    }
    // Sub-attributes in schema order, so equal values are equal documents.
    let mut out = Map::new();
    for sub in &attr.sub_attributes {
        if let Some(v) = cleaned.remove(&sub.name) {
            out.insert(sub.name.clone(), v);
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    // RFC 7643 §4.3: `manager.value` ("REQUIRED") is the manager; one without it is no manager.
    // This is how clients remove it: `{"value": ""}` (docs/idp-compatibility.md §1.7.6). Applies to any
    // single-valued complex attribute that has a `value` sub-attribute.
    if !in_list && has_value_sub && !out.contains_key("value") {
        return Ok(None);
    }
    Ok(Some(Value::Object(out)))
}

/// RFC 4648 §4 base64: the standard alphabet, padding optional but, when present, to a multiple of
/// four characters.
fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    let pad = s.len() - body.len();
    body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && pad <= 2
        && if pad > 0 { s.len().is_multiple_of(4) } else { body.len() % 4 != 1 }
}

/// Equality as the attribute defines it: strings that are not `caseExact` compare case-folded
/// (RFC 7643 §2.2), complex values sub-attribute by sub-attribute.
fn same_value(attr: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if attr.folds_case() => fold_case(x) == fold_case(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(attr, x, y))
        }
        (Value::Object(x), Value::Object(y)) if attr.kind == AttrType::Complex => {
            x.len() == y.len()
                && x.iter().all(|(k, xv)| match (attr.sub_attribute(k), y.get(k)) {
                    (Some(sub), Some(yv)) => same_value(sub, xv, yv),
                    (None, Some(yv)) => xv == yv,
                    (_, None) => false,
                })
        }
        _ => a == b,
    }
}

fn immutable_error(path: &str) -> ScimError {
    ScimError::mutability(format!(
        "\"{path}\" is immutable and already has a value; it cannot be changed (RFC 7644 §3.5.1)"
    ))
}

/// The RFC 7644 §3.5.1 rules of [`validate_replace`] that look at the existing resource.
fn keep_from_existing(
    schema: &Schema,
    new: &mut Map<String, Value>,
    existing: &Map<String, Value>,
) -> Result<(), ScimError> {
    for attr in &schema.attributes {
        let Some(old) = get_ci(existing, &attr.name).filter(|v| !v.is_null()) else { continue };
        match attr.mutability {
            Mutability::ReadOnly => {
                if !STORE_OWNED.contains(&attr.name.as_str()) {
                    new.insert(attr.name.clone(), old.clone());
                }
            }
            Mutability::WriteOnly => {
                if !new.contains_key(&attr.name) {
                    new.insert(attr.name.clone(), old.clone());
                }
            }
            Mutability::Immutable => match new.get(&attr.name) {
                None => {
                    new.insert(attr.name.clone(), old.clone());
                }
                Some(v) if same_value(attr, v, old) => {}
                Some(_) => return Err(immutable_error(&attr.name)),
            },
            Mutability::ReadWrite => {
                // Immutable sub-attributes of a single-valued complex attribute.
                if attr.kind != AttrType::Complex || attr.multi_valued {
                    continue;
                }
                let (Some(old_obj), Some(Value::Object(new_obj))) =
                    (old.as_object(), new.get_mut(&attr.name))
                else {
                    continue;
                };
                for sub in attr.sub_attributes.iter().filter(|s| s.mutability == Mutability::Immutable) {
                    let Some(old_sub) = get_ci(old_obj, &sub.name).filter(|v| !v.is_null()) else { continue };
                    match new_obj.get(&sub.name) {
                        None => {
                            new_obj.insert(sub.name.clone(), old_sub.clone());
                        }
                        Some(v) if same_value(sub, v, old_sub) => {}
                        Some(_) => return Err(immutable_error(&format!("{}.{}", attr.name, sub.name))),
                    }
                }
            }
        }
    }
    Ok(())
}

/// RFC 7643 §2.2 / §7 `required`: the attribute (and a required sub-attribute of a present
/// complex attribute) must have a value. A required readOnly attribute is the server's to supply.
fn check_required(schema: &Schema, doc: &Map<String, Value>) -> Result<(), ScimError> {
    for attr in schema.attributes.iter().filter(|a| a.mutability != Mutability::ReadOnly) {
        let Some(value) = doc.get(&attr.name) else {
            if attr.required {
                return Err(ScimError::invalid_value(format!(
                    "required attribute \"{}\" is missing (RFC 7643 §2.2)",
                    attr.name
                )));
            }
            continue;
        };
        let elements: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for sub in attr.sub_attributes.iter().filter(|s| s.required && s.mutability != Mutability::ReadOnly) {
            if elements.iter().any(|e| e.get(&sub.name).is_none()) {
                return Err(ScimError::invalid_value(format!(
                    "required sub-attribute \"{}.{}\" is missing (RFC 7643 §2.2)",
                    attr.name, sub.name
                )));
            }
        }
    }
    Ok(())
}

/// RFC 7644 §3.5.2.2: "If an attribute is removed or becomes unassigned and is defined as a
/// required attribute or a read-only attribute, the server SHALL return … a `scimType` error code
/// of `mutability`". Checks the result of a PATCH: every required core attribute a client writes
/// (`userName`, a Group's `displayName`) still has a value — not absent, null, an empty array
/// (RFC 7643 §2.5: the same as unassigned) or a blank string, whichever operation and path
/// spelling removed it.
pub fn check_required_kept(rs: &ResourceSchema, after: &Value) -> Result<(), ScimError> {
    for attr in rs.core.attributes.iter().filter(|a| a.required && a.mutability != Mutability::ReadOnly) {
        let unassigned = match after.get(&attr.name) {
            None | Some(Value::Null) => true,
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::String(text)) => text.trim().is_empty(),
            Some(_) => false,
        };
        if unassigned {
            return Err(ScimError::mutability(format!(
                "\"{}\" is required: a PATCH may not remove it or leave it without a value (RFC 7644 §3.5.2.2)",
                attr.name
            )));
        }
    }
    Ok(())
}

/// Orders `map` by the schema's attribute order.
fn ordered(schema: &Schema, mut map: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for attr in &schema.attributes {
        if let Some(v) = map.remove(&attr.name) {
            out.insert(attr.name.clone(), v);
        }
    }
    out
}

/// The final document: required checks, `schemas`, core attributes, extension objects.
fn assemble(
    rs: &ResourceSchema,
    core: Map<String, Value>,
    exts: Vec<Map<String, Value>>,
) -> Result<Value, ScimError> {
    check_required(&rs.core, &core)?;
    let mut schemas = vec![Value::String(rs.core.id.clone())];
    let mut ext_docs = Vec::new();
    for (ext, (schema, required)) in exts.into_iter().zip(&rs.extensions) {
        if ext.is_empty() {
            // RFC 7643 §6: "If true, a resource of this type MUST include this schema extension".
            if *required {
                return Err(ScimError::invalid_value(format!(
                    "the {} resource type requires the extension \"{}\" (RFC 7643 §6)",
                    rs.resource_type.name, schema.id
                )));
            }
            continue;
        }
        check_required(schema, &ext)?;
        schemas.push(Value::String(schema.id.clone()));
        ext_docs.push((schema.id.clone(), Value::Object(ordered(schema, ext))));
    }
    let mut out = Map::new();
    out.insert("schemas".to_owned(), Value::Array(schemas));
    out.extend(ordered(&rs.core, core));
    out.extend(ext_docs);
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ScimType;
    use crate::urn;

    const ENT: &str = urn::ENTERPRISE_USER;

    fn tolerant() -> ValidateOptions {
        ValidateOptions::default()
    }

    fn strict() -> ValidateOptions {
        ValidateOptions { strict: true }
    }

    fn user(body: Value) -> Result<Value, ScimError> {
        validate_create(&ResourceSchema::user(), body, &tolerant())
    }

    fn ok_user(mut extra: Value) -> Value {
        let obj = extra.as_object_mut().unwrap();
        obj.entry("schemas").or_insert(json!([urn::USER]));
        obj.entry("userName").or_insert(json!("bjensen"));
        user(extra).unwrap()
    }

    fn err_type(r: Result<Value, ScimError>) -> (u16, Option<ScimType>) {
        let e = r.expect_err("expected an error");
        (e.status, e.scim_type)
    }

    const INVALID_SYNTAX: (u16, Option<ScimType>) = (400, Some(ScimType::InvalidSyntax));
    const INVALID_VALUE: (u16, Option<ScimType>) = (400, Some(ScimType::InvalidValue));
    const MUTABILITY: (u16, Option<ScimType>) = (400, Some(ScimType::Mutability));

    #[test]
    fn body_must_be_an_object() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            assert_eq!(err_type(user(body)), INVALID_SYNTAX);
        }
    }

    #[test]
    fn schemas_is_required_and_must_name_the_core_schema() {
        assert_eq!(err_type(user(json!({"not": "a scim resource"}))), INVALID_SYNTAX);
        assert_eq!(err_type(user(json!({"userName": "a"}))), INVALID_SYNTAX);
        assert_eq!(err_type(user(json!({"schemas": [ENT], "userName": "a"}))), INVALID_SYNTAX);
        assert_eq!(err_type(user(json!({"schemas": [urn::GROUP], "userName": "a"}))), INVALID_SYNTAX);
        assert_eq!(err_type(user(json!({"schemas": {"a": 1}, "userName": "a"}))), INVALID_SYNTAX);
        assert_eq!(err_type(user(json!({"schemas": [1], "userName": "a"}))), INVALID_SYNTAX);
        // URN case does not matter; a lone string is accepted.
        let v =
            user(json!({"Schemas": "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER", "userName": "a"})).unwrap();
        assert_eq!(v["schemas"], json!([urn::USER]));
    }

    #[test]
    fn unknown_schema_urns_are_dropped_or_rejected_in_strict_mode() {
        let body = json!({
            "schemas": [urn::GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "displayName": "Sales"
        });
        let g = validate_create(&ResourceSchema::group(), body.clone(), &tolerant()).unwrap();
        assert_eq!(g, json!({"schemas": [urn::GROUP], "displayName": "Sales"}));
        let e = validate_create(&ResourceSchema::group(), body, &strict());
        assert_eq!(err_type(e), INVALID_SYNTAX);
    }

    #[test]
    fn names_are_case_insensitive_and_re_keyed_in_schema_case() {
        let v = user(json!({
            "SCHEMAS": [urn::USER],
            "USERNAME": "bjensen",
            "Name": {"GivenName": "Barbara", "familyname": "Jensen"},
            "Emails": [{"Value": "b@example.com", "Primary": true, "TYPE": "work"}]
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({
                "schemas": [urn::USER],
                "userName": "bjensen",
                "name": {"familyName": "Jensen", "givenName": "Barbara"},
                "emails": [{"value": "b@example.com", "type": "work", "primary": true}]
            })
        );
        // Schema order, not body order.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["schemas", "userName", "name", "emails"]);
    }

    #[test]
    fn extension_attributes_live_under_their_urn_in_any_case() {
        let v = user(json!({
            "schemas": [urn::USER, ENT],
            "userName": "a",
            "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user": {"EmployeeNumber": "701984"}
        }))
        .unwrap();
        assert_eq!(v["schemas"], json!([urn::USER, ENT]));
        assert_eq!(v[ENT], json!({"employeeNumber": "701984"}));
    }

    #[test]
    fn entra_flattened_extension_keys_are_folded_into_the_extension_object() {
        let v = user(json!({
            "schemas": [urn::USER],
            "userName": "a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "x",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "boss",
            ENT: {"department": "Tour Operations"},
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Babs"
        }))
        .unwrap();
        assert_eq!(v["displayName"], "Babs");
        assert_eq!(
            v[ENT],
            json!({"employeeNumber": "x", "department": "Tour Operations", "manager": {"value": "boss"}})
        );
        // The document names the extension it uses even though the body's schemas did not.
        assert_eq!(v["schemas"], json!([urn::USER, ENT]));
        // Strict mode wants the URN declared.
        let strict_body = json!({
            "schemas": [urn::USER],
            "userName": "a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "x"
        });
        let e = validate_create(&ResourceSchema::user(), strict_body, &strict());
        assert_eq!(err_type(e), INVALID_SYNTAX);
    }

    #[test]
    fn unknown_attributes_are_dropped_or_rejected_in_strict_mode() {
        // Microsoft's Postman PUT with the typo "adreses"; Entra's stray top-level department.
        let body = json!({
            "schemas": [urn::USER],
            "userName": "a",
            "adreses": [{"locality": "x"}],
            "department": "Sales",
            "name": {"givenName": "A", "nickname": "x"}
        });
        let v = user(body.clone()).unwrap();
        assert_eq!(v, json!({"schemas": [urn::USER], "userName": "a", "name": {"givenName": "A"}}));
        let e = validate_create(&ResourceSchema::user(), body, &strict());
        assert_eq!(err_type(e), INVALID_SYNTAX);
        let e = validate_create(
            &ResourceSchema::user(),
            json!({"schemas": [urn::USER], "userName": "a", "name": {"nickname": "x"}}),
            &strict(),
        );
        assert_eq!(err_type(e), INVALID_SYNTAX);
    }

    #[test]
    fn string_booleans_are_coerced_only_for_boolean_attributes() {
        let v = ok_user(json!({
            "active": "True",
            "displayName": "True",
            "emails": [{"value": "a@x", "primary": "FALSE"}, {"value": "b@x", "primary": " true "}]
        }));
        assert_eq!(v["active"], true);
        assert_eq!(v["displayName"], "True");
        assert_eq!(v["emails"][0]["primary"], false);
        assert_eq!(v["emails"][1]["primary"], true);
        assert_eq!(ok_user(json!({"active": "false"}))["active"], false);
        let body = json!({"schemas": [urn::USER], "userName": "a", "active": "yes"});
        assert_eq!(err_type(user(body)), INVALID_VALUE);
        let body = json!({"schemas": [urn::USER], "userName": "a", "active": 1});
        assert_eq!(err_type(user(body)), INVALID_VALUE);
    }

    #[test]
    fn types_are_checked() {
        for (attr, value) in [
            ("userName", json!(42)),
            ("displayName", json!(["a"])),
            ("name", json!("just a string")),
            ("profileUrl", json!({"a": 1})),
            ("emails", json!([["nested"]])),
            ("x509Certificates", json!([{"value": "not base64!"}])),
            ("x509Certificates", json!([{"value": "abcde"}])),
        ] {
            let mut body = json!({"schemas": [urn::USER], "userName": "a"});
            body[attr] = value.clone();
            assert_eq!(err_type(user(body)), INVALID_VALUE, "{attr}: {value}");
        }
        let v = ok_user(
            json!({"x509Certificates": [{"value": "TUlJRFF6Q0NBcXlnQXdJQkFnSUNFQUF3RFFZSktvWklodmNOQVFFRkJRQXdUakVMTUFrR0ExVUVCaE1DVlZNeA=="}]}),
        );
        assert!(v["x509Certificates"][0]["value"].is_string());
        assert!(ok_user(json!({"x509Certificates": [{"value": "YQ"}]}))["x509Certificates"].is_array());
    }

    fn custom_rs() -> ResourceSchema {
        let ext = crate::discovery::parse_extension(&json!({
            "id": "urn:example:scim:2.0:Custom",
            "name": "Custom",
            "attributes": [
                {"name": "level", "type": "integer"},
                {"name": "ratio", "type": "decimal"},
                {"name": "since", "type": "dateTime"},
                {"name": "badge", "type": "string", "mutability": "immutable", "caseExact": false},
                {"name": "tags", "type": "string", "multiValued": true},
                {"name": "secret", "type": "string", "mutability": "readOnly"}
            ]
        }))
        .unwrap();
        ResourceSchema::user().with_extension(ext, false)
    }

    const CUSTOM: &str = "urn:example:scim:2.0:Custom";

    #[test]
    fn integer_decimal_and_datetime_values() {
        let rs = custom_rs();
        let v = validate_create(
            &rs,
            json!({"schemas": [urn::USER, CUSTOM], "userName": "a", CUSTOM: {
                "level": 3, "ratio": 0.5, "since": "2011-05-13T06:42:34.1+02:00", "tags": "one"
            }}),
            &tolerant(),
        )
        .unwrap();
        assert_eq!(
            v[CUSTOM],
            json!({"level": 3, "ratio": 0.5, "since": "2011-05-13T04:42:34.100Z", "tags": ["one"]})
        );
        for bad in [
            json!({"level": 3.5}),
            json!({"level": "3"}),
            json!({"ratio": "0.5"}),
            json!({"since": "yesterday"}),
            json!({"since": 1_300_000_000}),
        ] {
            let body = json!({"schemas": [urn::USER, CUSTOM], "userName": "a", CUSTOM: bad.clone()});
            assert_eq!(err_type(validate_create(&rs, body, &tolerant())), INVALID_VALUE, "{bad}");
        }
    }

    #[test]
    fn a_single_value_for_a_multi_valued_attribute_is_a_one_element_list() {
        let v = ok_user(json!({"emails": {"value": "a@example.com", "type": "work"}}));
        assert_eq!(v["emails"], json!([{"value": "a@example.com", "type": "work"}]));
    }

    #[test]
    fn at_most_one_primary_per_multi_valued_attribute() {
        let body = json!({"schemas": [urn::USER], "userName": "a", "emails": [
            {"value": "a@x", "primary": true}, {"value": "b@x", "primary": "True"}
        ]});
        assert_eq!(err_type(user(body)), INVALID_VALUE);
        // Two primaries in different attributes are fine, and so is primary false twice.
        let v = ok_user(json!({
            "emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": false}],
            "phoneNumbers": [{"value": "1", "primary": true}],
            "roles": [{"value": "r", "primary": false}, {"value": "s", "primary": false}]
        }));
        assert_eq!(v["emails"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn empty_strings_nulls_and_empty_containers_are_removed() {
        let v = ok_user(json!({
            "displayName": "",
            "nickName": null,
            "name": {"givenName": "", "familyName": null},
            "emails": [],
            "phoneNumbers": [{"value": ""}, null],
            "addresses": [{"locality": "Hollywood", "region": ""}],
            ENT: {"department": ""}
        }));
        assert_eq!(
            v,
            json!({"schemas": [urn::USER], "userName": "bjensen", "addresses": [{"locality": "Hollywood"}]})
        );
    }

    #[test]
    fn read_only_input_is_ignored() {
        let v = ok_user(json!({
            "id": "client-chosen",
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z"},
            "groups": [{"value": "g1", "display": "Tour Guides"}],
            ENT: {"manager": {"value": "boss", "displayName": "John Smith"}}
        }));
        assert!(v.get("id").is_none() && v.get("meta").is_none() && v.get("groups").is_none());
        assert_eq!(v[ENT]["manager"], json!({"value": "boss"}));
    }

    #[test]
    fn required_attributes_must_be_present() {
        assert_eq!(err_type(user(json!({"schemas": [urn::USER]}))), INVALID_VALUE);
        assert_eq!(err_type(user(json!({"schemas": [urn::USER], "userName": ""}))), INVALID_VALUE);
        assert_eq!(err_type(user(json!({"schemas": [urn::USER], "userName": null}))), INVALID_VALUE);
        let g = validate_create(&ResourceSchema::group(), json!({"schemas": [urn::GROUP]}), &tolerant());
        assert_eq!(err_type(g), INVALID_VALUE);
    }

    #[test]
    fn a_required_extension_must_be_present() {
        let ext = crate::discovery::parse_extension(&json!({
            "id": "urn:example:scim:2.0:Must", "attributes": [{"name": "code", "type": "string", "required": true}]
        }))
        .unwrap();
        let rs = ResourceSchema::user().with_extension(ext, true);
        let missing = json!({"schemas": [urn::USER], "userName": "a"});
        assert_eq!(err_type(validate_create(&rs, missing, &tolerant())), INVALID_VALUE);
        let ok = json!({"schemas": [urn::USER, "urn:example:scim:2.0:Must"], "userName": "a",
                        "urn:example:scim:2.0:Must": {"code": "x"}});
        assert!(validate_create(&rs, ok, &tolerant()).is_ok());
    }

    #[test]
    fn password_is_kept_for_the_store() {
        assert_eq!(ok_user(json!({"password": "t1meMa$heen"}))["password"], "t1meMa$heen");
    }

    #[test]
    fn manager_accepts_every_shape_and_stores_value_and_ref() {
        let cases = [
            (json!("boss"), Some(json!({"value": "boss"}))),
            (json!({"value": "boss"}), Some(json!({"value": "boss"}))),
            (json!({"Value": "boss"}), Some(json!({"value": "boss"}))),
            (
                json!([{"$ref": "https://x/scim/Users/boss", "value": "boss"}]),
                Some(json!({"value": "boss", "$ref": "https://x/scim/Users/boss"})),
            ),
            (json!(""), None),
            (json!({"value": ""}), None),
            (json!({"value": "", "$ref": "https://x/Users/old"}), None),
            (json!(null), None),
            (json!([]), None),
        ];
        for (manager, want) in cases {
            let v = ok_user(json!({ENT: {"manager": manager.clone(), "department": "D"}}));
            assert_eq!(v[ENT].get("manager"), want.as_ref(), "{manager}");
        }
        let body = json!({"schemas": [urn::USER], "userName": "a", ENT: {"manager": ["a", "b"]}});
        assert_eq!(err_type(user(body)), INVALID_VALUE);
    }

    #[test]
    fn group_members_are_kept_and_need_a_value() {
        let rs = ResourceSchema::group();
        let v = validate_create(
            &rs,
            json!({"schemas": [urn::GROUP], "displayName": "Tour Guides", "members": [
                {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs Jensen"},
                {"value": "902c246b", "type": "User"}
            ]}),
            &tolerant(),
        )
        .unwrap();
        assert_eq!(
            v["members"],
            json!([
                {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs Jensen"},
                {"value": "902c246b", "type": "User"}
            ])
        );
        // Okta creates groups with an empty member list.
        let empty = validate_create(
            &rs,
            json!({"schemas": [urn::GROUP], "displayName": "G", "members": []}),
            &tolerant(),
        );
        assert_eq!(empty.unwrap(), json!({"schemas": [urn::GROUP], "displayName": "G"}));
        // A bare id is a member (Microsoft's Postman tests).
        let bare = validate_create(
            &rs,
            json!({"schemas": [urn::GROUP], "displayName": "G", "members": "string id 1"}),
            &tolerant(),
        );
        assert_eq!(bare.unwrap()["members"], json!([{"value": "string id 1"}]));
        let no_value = json!({"schemas": [urn::GROUP], "displayName": "G", "members": [{"display": "x"}]});
        assert_eq!(err_type(validate_create(&rs, no_value, &tolerant())), INVALID_VALUE);
    }

    #[test]
    fn rfc_7643_8_3_enterprise_user_validates() {
        let body = json!({
            "schemas": [urn::USER, ENT],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
                     "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
            "displayName": "Babs Jensen",
            "nickName": "Babs",
            "profileUrl": "https://login.example.com/bjensen",
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "addresses": [{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA",
                           "postalCode": "91608", "country": "USA",
                           "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                           "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "555-555-5555", "type": "work"}, {"value": "555-555-4444", "type": "mobile"}],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
            "userType": "Employee",
            "title": "Tour Guide",
            "preferredLanguage": "en-US",
            "locale": "en-US",
            "timezone": "America/Los_Angeles",
            "active": true,
            "password": "t1meMa$heen",
            "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                        "$ref": "../Groups/e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
            "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
            ENT: {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                  "division": "Theme Park", "department": "Tour Operations",
                  "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                              "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}},
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z"}
        });
        let v = user(body.clone()).unwrap();
        let mut want = body;
        let obj = want.as_object_mut().unwrap();
        for k in ["id", "groups", "meta"] {
            obj.remove(k);
        }
        obj[ENT]["manager"].as_object_mut().unwrap().remove("displayName");
        // Same members, in schema order; address sub-attributes reordered too, so compare as values.
        assert_eq!(v, want);
        // And the output is a fixed point.
        assert_eq!(user(v.clone()).unwrap(), v);
    }

    fn existing_user() -> Value {
        json!({
            "schemas": [urn::USER, CUSTOM],
            "id": "u1",
            "userName": "bjensen",
            "displayName": "Babs",
            "password": "hash-or-secret",
            "groups": [{"value": "g1", "display": "Tour Guides"}],
            CUSTOM: {"badge": "B-1", "secret": "s3"},
            "meta": {"resourceType": "User", "version": "W/\"1\""}
        })
    }

    fn replace(body: Value) -> Result<Value, ScimError> {
        validate_replace(&custom_rs(), &existing_user(), body, &tolerant())
    }

    #[test]
    fn replace_ignores_the_current_id_and_rejects_another() {
        let v = replace(json!({"schemas": [urn::USER], "id": "u1", "userName": "bjensen"})).unwrap();
        assert!(v.get("id").is_none() && v.get("meta").is_none());
        assert_eq!(
            err_type(replace(json!({"schemas": [urn::USER], "id": "u2", "userName": "b"}))),
            MUTABILITY
        );
        assert_eq!(err_type(replace(json!({"schemas": [urn::USER], "id": 7, "userName": "b"}))), MUTABILITY);
    }

    #[test]
    fn replace_clears_what_is_not_given_but_keeps_read_only_and_write_only() {
        let v = replace(json!({
            "schemas": [urn::USER],
            "userName": "bjensen",
            "groups": [{"value": "evil"}],
            "meta": {"version": "W/\"99\""}
        }))
        .unwrap();
        assert!(v.get("displayName").is_none(), "not given → cleared");
        assert_eq!(v["groups"], json!([{"value": "g1", "display": "Tour Guides"}]), "readOnly kept");
        assert_eq!(v["password"], "hash-or-secret", "writeOnly kept when not given");
        assert_eq!(v[CUSTOM], json!({"badge": "B-1", "secret": "s3"}), "immutable and readOnly kept");
        assert_eq!(v["schemas"], json!([urn::USER, CUSTOM]));
        let v = replace(json!({"schemas": [urn::USER], "userName": "b", "password": "new"})).unwrap();
        assert_eq!(v["password"], "new");
    }

    #[test]
    fn replace_refuses_to_change_an_immutable_value() {
        let body =
            |badge: &str| json!({"schemas": [urn::USER, CUSTOM], "userName": "b", CUSTOM: {"badge": badge}});
        assert_eq!(err_type(replace(body("B-2"))), MUTABILITY);
        // The same value (caseExact false, so any case) is fine.
        assert_eq!(replace(body("b-1")).unwrap()[CUSTOM]["badge"], "b-1");
        // Unset before: may be set.
        let mut existing = existing_user();
        existing[CUSTOM].as_object_mut().unwrap().remove("badge");
        let v = validate_replace(&custom_rs(), &existing, body("B-9"), &tolerant()).unwrap();
        assert_eq!(v[CUSTOM]["badge"], "B-9");
    }

    #[test]
    fn replace_applies_the_create_rules() {
        assert_eq!(err_type(replace(json!({"schemas": [urn::USER]}))), INVALID_VALUE);
        assert_eq!(err_type(replace(json!({"userName": "x"}))), INVALID_SYNTAX);
        assert_eq!(
            replace(json!({"schemas": [urn::USER], "userName": "x", "active": "False"})).unwrap()["active"],
            false
        );
    }

    #[test]
    fn replace_of_a_group_replaces_its_members() {
        let rs = ResourceSchema::group();
        let existing = json!({"schemas": [urn::GROUP], "id": "g1", "displayName": "G",
                              "members": [{"value": "u1"}, {"value": "u2"}]});
        let v = validate_replace(
            &rs,
            &existing,
            json!({"schemas": [urn::GROUP], "id": "g1", "displayName": "G", "members": [{"value": "u3", "display": "x"}]}),
            &tolerant(),
        )
        .unwrap();
        assert_eq!(v["members"], json!([{"value": "u3", "display": "x"}]));
        let v = validate_replace(
            &rs,
            &existing,
            json!({"schemas": [urn::GROUP], "displayName": "H"}),
            &tolerant(),
        )
        .unwrap();
        assert_eq!(v, json!({"schemas": [urn::GROUP], "displayName": "H"}));
    }

    #[test]
    fn normalize_attribute_is_the_per_value_rule() {
        let rs = ResourceSchema::user();
        let active = rs.core.attribute("active").unwrap();
        assert_eq!(normalize_attribute(active, json!("TRUE"), &tolerant()).unwrap(), Some(json!(true)));
        assert_eq!(normalize_attribute(active, json!(""), &tolerant()).unwrap(), None);
    }

    #[test]
    fn user_names_are_trimmed_and_never_blank() {
        // RFC 7643 §4.1.1: a non-empty userName; trimmed, so uniqueness ignores the ends.
        let v = user(json!({"schemas": [urn::USER], "userName": "  n6@x  "})).unwrap();
        assert_eq!(v["userName"], "n6@x");
        assert_eq!(user(json!({"schemas": [urn::USER], "userName": "a b"})).unwrap()["userName"], "a b");
        for blank in ["   ", "\u{3000}", " \u{a0} "] {
            let e = user(json!({"schemas": [urn::USER], "userName": blank})).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{blank:?}");
            assert!(e.detail.contains("userName"), "{}", e.detail);
        }
    }

    #[test]
    fn control_characters_are_refused_naming_the_attribute() {
        for (body, attr) in [
            (json!({"userName": "n\u{0}x"}), "userName"),
            (json!({"userName": "b", "displayName": "a\u{1b}[31m"}), "displayName"),
            (json!({"userName": "b", "name": {"givenName": "x\u{7f}"}}), "name.givenName"),
            (json!({"userName": "b", "emails": [{"value": "a\u{85}@x"}]}), "emails.value"),
            (json!({"userName": "b", "profileUrl": "https://a.example/\n"}), "profileUrl"),
            (json!({"userName": "b\n"}), "userName"),
        ] {
            let mut body = body;
            body["schemas"] = json!([urn::USER]);
            let e = user(body.clone()).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{body}");
            assert!(e.detail.contains(attr), "{attr}: {}", e.detail);
        }
        // RFC 7643 §4.1.2: a formatted address may hold newlines.
        let v = user(json!({"schemas": [urn::USER], "userName": "b",
                            "addresses": [{"formatted": "1 Main St\r\nTown\tX"}]}))
        .unwrap();
        assert_eq!(v["addresses"][0]["formatted"], "1 Main St\r\nTown\tX");
    }

    #[test]
    fn the_core_urn_may_hold_core_attributes() {
        let v = user(json!({"schemas": [urn::USER], urn::USER: {"userName": "b", "PASSWORD": "p"}})).unwrap();
        assert_eq!((v["userName"].as_str(), v["password"].as_str()), (Some("b"), Some("p")));
    }

    #[test]
    fn base64_rules() {
        for good in ["", "YQ", "YQ==", "YWI=", "YWJj", "+/+/"] {
            assert!(is_base64(good), "{good}");
        }
        for bad in ["Y", "YQ=", "YQ===", "Y-_a", "YW Jj", "=YWJ"] {
            assert!(!is_base64(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::projection::{Projection, project};
    use crate::urn;

    fn boolish() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            prop_oneof![Just("True"), Just("false"), Just("FALSE"), Just("true")].prop_map(|s| json!(s)),
        ]
    }

    fn text() -> impl Strategy<Value = Value> {
        prop_oneof![3 => "[a-zA-Z0-9 @.]{1,12}".prop_map(Value::String), 1 => Just(json!("")), 1 => Just(Value::Null)]
    }

    prop_compose! {
        fn email()(value in text(), kind in prop::option::of(prop_oneof![Just("work"), Just("home")]),
                   primary in prop::option::of(boolish())) -> Value {
            let mut e = json!({"value": value});
            if let Some(k) = kind { e["type"] = json!(k); }
            if let Some(p) = primary { e["PRIMARY"] = p; }
            e
        }
    }

    prop_compose! {
        /// A user document in the shapes identity providers send: mixed case, string booleans,
        /// empty values, a single object for a list, the Enterprise extension nested or flattened.
        fn user_body()(
            user_name in "[a-z][a-z0-9.@]{0,15}",
            display in text(),
            active in prop::option::of(boolish()),
            given in text(),
            emails in prop::collection::vec(email(), 0..4),
            single_email in any::<bool>(),
            password in prop::option::of("[ -~]{1,10}"),
            employee in text(),
            flattened in any::<bool>(),
            manager in prop_oneof![Just(json!("boss")), Just(json!({"value": "boss"})), Just(json!({"value": ""})),
                                   Just(json!([{"value": "m", "$ref": "../Users/m"}])), Just(Value::Null)],
        ) -> Value {
            let mut b = json!({"schemas": [urn::USER], "UserName": user_name, "displayName": display,
                               "name": {"givenName": given}});
            if let Some(a) = active { b["active"] = a; }
            // At most one primary, as the RFC requires of valid documents.
            let mut emails = emails;
            let mut seen = false;
            for e in &mut emails {
                let p = e.get("PRIMARY").map(|p| p == &json!(true) || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")));
                if p == Some(true) {
                    if seen { e["PRIMARY"] = json!(false); }
                    seen = true;
                }
            }
            b["emails"] = if single_email && emails.len() == 1 { emails[0].clone() } else { Value::Array(emails) };
            if let Some(p) = password { b["password"] = json!(p); }
            if flattened {
                b[format!("{}:employeeNumber", urn::ENTERPRISE_USER)] = employee;
                b[format!("{}:manager", urn::ENTERPRISE_USER)] = manager;
            } else {
                b[urn::ENTERPRISE_USER] = json!({"employeeNumber": employee, "manager": manager});
            }
            b
        }
    }

    fn names() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("userName"),
            Just("USERNAME"),
            Just("displayName"),
            Just("active"),
            Just("name"),
            Just("name.givenName"),
            Just("emails"),
            Just("emails.value"),
            Just("Emails.Type"),
            Just("password"),
            Just("PASSWORD"),
            Just("urn:ietf:params:scim:schemas:core:2.0:User:password"),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
            Just("employeeNumber"),
            Just("manager.value"),
            Just("meta"),
            Just("meta.created"),
            Just("bogus"),
        ]
    }

    fn stored(body: Value) -> Option<Value> {
        let mut doc = validate_create(&ResourceSchema::user(), body, &ValidateOptions::default()).ok()?;
        doc["id"] = json!("u1");
        doc["meta"] = json!({"resourceType": "User", "created": "2020-01-01T00:00:00.000Z"});
        Some(doc)
    }

    fn contains_key_ci(v: &Value, key: &str) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| k.eq_ignore_ascii_case(key) || contains_key_ci(v, key)),
            Value::Array(a) => a.iter().any(|v| contains_key_ci(v, key)),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn validation_is_idempotent(body in user_body()) {
            let rs = ResourceSchema::user();
            let opts = ValidateOptions::default();
            let once = validate_create(&rs, body, &opts).unwrap();
            let twice = validate_create(&rs, once.clone(), &opts).unwrap();
            prop_assert_eq!(&once, &twice);
            // Strict mode accepts what tolerant mode produced.
            let strict = validate_create(&rs, once.clone(), &ValidateOptions { strict: true }).unwrap();
            prop_assert_eq!(&once, &strict);
        }

        #[test]
        fn projection_never_returns_password(
            body in user_body(),
            attrs in prop::option::of(prop::collection::vec(names(), 0..5)),
            excluded in prop::option::of(prop::collection::vec(names(), 0..5)),
        ) {
            let rs = ResourceSchema::user();
            let Some(mut doc) = stored(body) else { return Ok(()) };
            doc["password"] = json!("secret");
            let a = attrs.map(|v| v.join(","));
            let e = excluded.map(|v| v.join(","));
            let p = Projection::new(&rs, a.as_deref(), e.as_deref());
            let out = project(&rs, &doc, &p);
            prop_assert!(!contains_key_ci(&out, "password"), "{}", out);
            prop_assert!(out.get("id").is_some() && out.get("schemas").is_some());
        }

        #[test]
        fn default_projection_keeps_a_stored_user_whole(body in user_body()) {
            // What lets the HTTP layer send a stored document's text unparsed
            // (`Projection::keeps_documents_whole`): for every document the validator writes,
            // less the password the server hashes into a column of its own, the default
            // projection changes nothing, not even the order of the members.
            let rs = ResourceSchema::user();
            prop_assert!(Projection::default().keeps_documents_whole(&rs));
            let Some(mut doc) = stored(body) else { return Ok(()) };
            if let Some(obj) = doc.as_object_mut() {
                obj.shift_remove("password");
            }
            let out = project(&rs, &doc, &Projection::default());
            prop_assert_eq!(out.to_string(), doc.to_string());
        }

        #[test]
        fn excluded_attributes_are_never_returned(
            body in user_body(),
            excluded in prop::collection::vec(names(), 1..5),
        ) {
            let rs = ResourceSchema::user();
            let Some(doc) = stored(body) else { return Ok(()) };
            let p = Projection::new(&rs, None, Some(&excluded.join(",")));
            let out = project(&rs, &doc, &p);
            for name in &excluded {
                let lower = name.to_ascii_lowercase();
                let ent = urn::ENTERPRISE_USER.to_ascii_lowercase();
                let (container, rest) = if lower == ent {
                    (None, None)
                } else if let Some(r) = lower.strip_prefix(&format!("{ent}:")) {
                    (out.get(urn::ENTERPRISE_USER), Some(r.to_owned()))
                } else if let Some(r) = lower.strip_prefix(&format!("{}:", urn::USER.to_ascii_lowercase())) {
                    (Some(&out), Some(r.to_owned()))
                } else if lower == "employeenumber" || lower.starts_with("manager") {
                    (out.get(urn::ENTERPRISE_USER), Some(lower.clone()))
                } else {
                    (Some(&out), Some(lower.clone()))
                };
                let Some(rest) = rest else {
                    prop_assert!(out.get(urn::ENTERPRISE_USER).is_none());
                    continue;
                };
                let Some(container) = container.and_then(Value::as_object) else { continue };
                let (attr, sub) = match rest.split_once('.') {
                    Some((a, s)) => (a.to_owned(), Some(s.to_owned())),
                    None => (rest.clone(), None),
                };
                let found = container.iter().find(|(k, _)| k.eq_ignore_ascii_case(&attr)).map(|(_, v)| v);
                match (found, sub) {
                    (Some(_), None) => prop_assert!(false, "{} still in {}", name, out),
                    (Some(v), Some(sub)) => prop_assert!(!contains_key_ci(v, &sub), "{} still in {}", name, out),
                    (None, _) => {}
                }
            }
        }
    }
}
