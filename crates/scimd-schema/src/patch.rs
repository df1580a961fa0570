//! The PATCH engine: RFC 7644 §3.5.2 operations applied to a stored document.
//!
//! Why it is shaped this way. Identity providers do not speak one PATCH dialect: Entra ID with and
//! without `aadOptscim062020`, Okta and Microsoft's test tools each bend RFC 7644 in their own way
//! (docs/idp-compatibility.md §1.7, §2.3, §5), and a provisioning job that gets a 400 for a shape it always
//! sends stops working for every user. So the engine accepts every documented shape, and the few
//! places where the RFC and the clients truly disagree are switched by [`PatchOptions::strict`]:
//!
//! | Situation | `strict: false` (default, IdP-tolerant) | `strict: true` (RFC 7644) |
//! |---|---|---|
//! | add/replace through a value filter that matches nothing | the value is created from the filter's `eq` terms (docs/idp-compatibility.md §5) | 400 `noTarget` (§3.5.2.3) |
//! | a path or value key naming an attribute the schema does not have | ignored (docs/idp-compatibility.md §5 "Ignore unknown attributes") | 400 `invalidPath` / `invalidSyntax` |
//! | an operation on User `groups` (readOnly, kept as rows) | ignored: Okta echoes `groups` back | 400 `mutability` |
//!
//! Everything else is the same in both modes, in particular these tolerances, which no client is hurt by:
//! `op` in any case; `"True"`/`"False"` (any case) for boolean attributes everywhere a value can stand; a
//! single value where a list is expected and a one-element list where a single value is expected (Entra's
//! `manager` is `[{"value": …}]`); a bare string for a complex attribute with a `value` sub-attribute
//! (`"manager": "id"`, the Postman collection's member `"string id 1"`); `""` and `null` meaning "remove"
//! (docs/idp-compatibility.md §1.7.7).
//!
//! Decisions where the sources disagree (each is also noted where it is implemented):
//!
//! * `schemas` may be absent from the request body (RFC 7644 §3.5.2 says it MUST be there; being
//!   liberal costs nothing); when present it must name the PatchOp URN.
//! * `remove` on `members` (or any multi-valued attribute) with a `value` removes only the listed
//!   values (Entra flag-off); without a value it removes all (docs/idp-compatibility.md §5).
//! * `remove` through a filter that matches nothing is a successful no-op in both modes.
//! * `replace` of a single-valued complex attribute merges sub-attributes, as RFC 7644 §3.5.2.3
//!   says, except that a new `value` (another manager) starts the object afresh so the old `$ref`
//!   does not linger; `{"value": ""}` clears the attribute (docs/idp-compatibility.md §1.7.6).
//! * RFC 7643 §2.4 "primary … MUST appear no more than once": when an operation sets a value
//!   primary, the attribute's other values get `primary: false` (the last one the operation
//!   touched wins). One `value` list holding two primaries is 400 `invalidValue`, as on POST.
//! * readOnly sub-attributes inside a value object (`manager.displayName`) are dropped, as RFC 7644 §3.5.1
//!   drops them on PUT; a path that names a readOnly attribute is 400 `mutability`. In a no-path value object
//!   the keys `id`, `meta` and `schemas` are ignored (Okta sends the `id` back on every group rename) —
//!   unless `id` differs from the document's `id` (docs/idp-compatibility.md §4).
//! * An immutable attribute may be set when it has no value; changing or removing its value is
//!   400 `mutability` (RFC 7643 §7).
//! * `replace` through a value filter replaces each matching value whole (RFC 7644 §3.5.2.3); in
//!   tolerant mode the sub-attributes the filter pins with `eq` (`type eq "work"`) are kept when
//!   the new value leaves them out, so the same path finds the value again next time.
//! * `attr.sub` on a multi-valued attribute, without a filter, applies to every value.
//! * Keys of a no-path value are resolved as paths, so an unqualified `department` finds the
//!   Enterprise attribute (RFC 7644 §3.10), as the path `department` does. (Validation of a POST
//!   body does not do this for top-level keys: there, Entra's stray `department` is not the
//!   Enterprise attribute.) A path or key that is an extension URN addresses the extension's
//!   object as a whole.
//! * `add` of `[]` changes nothing; `add` of `""` or `null` removes, like `replace`
//!   (docs/idp-compatibility.md §1.7.7) — except on `members`, where adding nothing never removes a member.
//! * `members[value eq "id"]` becomes [`MemberChange::Remove`] with the id as sent, although
//!   RFC 7643 makes `members.value` case-insensitive: ids are assigned by the server and sent back
//!   as they were given.
//!
//! Values are normalised exactly as a POST body's are, by [`normalize_attribute`] from the
//! validator (canonical attribute-name case, booleans, canonical dateTimes, no empty values, at most
//! one `primary` in one list of values); this module adds only the PATCH-specific part, merging a
//! partial complex value into the stored one.
//!
//! Attributes kept as rows ([`AttributeDef::stored_as_rows`], Group `members`) are never in the
//! document; operations on them are reported as [`MemberChange`]s for the store to apply, in order.

use std::fmt;
use std::mem;

use scimd_filter::{AttrPath, CompValue, CompareOp, Filter, PatchPath, parse_path};
use serde_json::{Map, Value};

use crate::attribute::{AttrType, AttributeDef, Mutability, Schema};
use crate::error::ScimError;
use crate::filter_eval::{ValueFilter, check_value_filter, get_ci, is_present};
use crate::resource::{Resolved, ResourceSchema};
use crate::urn;
use crate::validate::{ValidateOptions, normalize_attribute};
use crate::value::fold_case;

/// RFC 7644 §3.5.2: the three PATCH operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// §3.5.2.1 `add`.
    Add,
    /// §3.5.2.2 `remove`.
    Remove,
    /// §3.5.2.3 `replace`.
    Replace,
}

impl PatchOpKind {
    /// The operation as the RFC spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        }
    }
}

impl fmt::Display for PatchOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One element of a PATCH request's `Operations` (RFC 7644 §3.5.2).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOp {
    /// The operation.
    pub op: PatchOpKind,
    /// Where it applies; `None` means the resource itself.
    pub path: Option<PatchPath>,
    /// The value, as sent (`Some(Value::Null)` when the client sent `null`).
    pub value: Option<Value>,
}

/// How strictly the engine reads RFC 7644 (see the module docs for the differences).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatchOptions {
    /// `true`: RFC 7644 as written. `false` (the default): what Entra ID and Okta need.
    pub strict: bool,
}

/// What [`apply`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOutcome {
    /// Whether the document changed or any member change was reported; `false` means the PATCH was
    /// a no-op and the version must not move. (Member changes are reported even when the store
    /// may find them to be no-ops: only it knows which rows exist.)
    pub changed: bool,
    /// Row operations on the attribute kept as rows (Group `members`), in request order.
    pub members: Vec<MemberChange>,
}

/// A reference to a member, as a PATCH value gives it (RFC 7643 §4.2 `members`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's id.
    pub value: String,
    /// `User` or `Group`, when the client said.
    pub type_: Option<String>,
    /// The display name, when the client sent one (Okta does).
    pub display: Option<String>,
}

/// One row operation on Group `members`, to be applied in order.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberChange {
    /// Insert these members (already present ones are left as they are).
    Add(Vec<MemberRef>),
    /// Delete the members with these ids (absent ones are ignored). The ids are compared as
    /// stored: they are server-assigned, so clients send them back exactly.
    Remove(Vec<String>),
    /// Delete every member.
    RemoveAll,
    /// Delete the members that satisfy this filter; its attribute paths name sub-attributes of
    /// `members` (`value`, `type`, `display`). Used when the filter of `members[…]` is not just
    /// `value eq "id"` terms joined by `or`. It has been checked against the schema.
    RemoveWhere(Filter),
}

/// Parses the body of a PATCH request (RFC 7644 §3.5.2).
///
/// Message attribute names are matched case-insensitively (RFC 7643 §2.1), as are the `op` values
/// (docs/idp-compatibility.md §1.7: Entra flag-off sends `Add`, `Replace`, `Remove`).
///
/// # Errors
///
/// * 400 `invalidSyntax`: the body is not an object; `schemas` is present but does not name
///   `urn:ietf:params:scim:api:messages:2.0:PatchOp`; `Operations` is missing, not an array or
///   empty; an operation is not an object, has an unknown `op`, or is an add/replace without
///   `value`.
/// * 400 `invalidPath`: a `path` that is not a string or does not parse.
/// * 400 `noTarget`: a remove without `path` (RFC 7644 §3.5.2.2).
pub fn parse_patch_request(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("a PATCH request body is a JSON object with \"Operations\""));
    };
    // RFC 7644 §3.5.2: "The body of each request MUST contain the "schemas" attribute with the URI
    // value of "urn:ietf:params:scim:api:messages:2.0:PatchOp"". Absent is tolerated; wrong is not.
    if let Some(schemas) = get_ci(obj, "schemas") {
        let names_patch_op = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn::PATCH_OP));
        let ok = match schemas {
            Value::Array(items) => items.iter().any(names_patch_op),
            other => names_patch_op(other),
        };
        if !ok {
            return Err(ScimError::invalid_syntax(format!("\"schemas\" must contain \"{}\"", urn::PATCH_OP)));
        }
    }
    let ops = match get_ci(obj, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => {
            return Err(ScimError::invalid_syntax(
                "\"Operations\" is empty: a PATCH needs at least one operation",
            ));
        }
        Some(_) => return Err(ScimError::invalid_syntax("\"Operations\" must be an array of operations")),
        None => return Err(ScimError::invalid_syntax("the PATCH request has no \"Operations\"")),
    };
    ops.iter().enumerate().map(|(i, op)| parse_op(i, op)).collect()
}

fn parse_op(i: usize, op: &Value) -> Result<PatchOp, ScimError> {
    let Some(obj) = op.as_object() else {
        return Err(ScimError::invalid_syntax(format!("Operations[{i}] is not an object")));
    };
    let kind = match get_ci(obj, "op") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op: {other} is not an operation; expected \"add\", \"remove\" or \"replace\""
            )));
        }
        None => return Err(ScimError::invalid_syntax(format!("Operations[{i}] has no \"op\""))),
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            Some(parse_path(s).map_err(|e| ScimError::invalid_path(format!("Operations[{i}].path: {e}")))?)
        }
        Some(_) => return Err(ScimError::invalid_path(format!("Operations[{i}].path must be a string"))),
    };
    let value = get_ci(obj, "value").cloned();
    if kind == PatchOpKind::Remove && path.is_none() {
        // RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP status code
        // 400 and a "scimType" error code of "noTarget"."
        return Err(ScimError::no_target(format!("Operations[{i}]: remove needs a \"path\"")));
    }
    if kind != PatchOpKind::Remove && value.is_none() {
        // RFC 7644 §3.5.2.1 / §3.5.2.3: add and replace "MUST contain a "value" member".
        return Err(ScimError::invalid_syntax(format!("Operations[{i}]: {kind} needs a \"value\"")));
    }
    Ok(PatchOp { op: kind, path, value })
}

/// Applies `ops` in order to the stored document `doc` (a JSON object), all or nothing.
///
/// ```
/// use scimd_schema::ResourceSchema;
/// use scimd_schema::patch::{PatchOptions, apply, parse_patch_request};
/// use serde_json::json;
/// let rs = ResourceSchema::user();
/// let mut doc = json!({"userName": "bjensen", "active": true});
/// // Entra ID without aadOptscim062020 disables a user with a string boolean.
/// let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
///     "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
/// let ops = parse_patch_request(&body).unwrap();
/// let outcome = apply(&rs, &mut doc, &ops, &PatchOptions::default()).unwrap();
/// assert!(outcome.changed);
/// assert_eq!(doc, json!({"userName": "bjensen", "active": false}));
/// ```
///
/// On success `doc` holds the result. On error it is restored to a document equal (`==`) to the
/// one passed in, whatever operation failed; only the order of its keys may differ.
///
/// The operations change `doc` in place; the value of each top-level attribute is saved the first
/// time an operation touches it, to undo a failed request and to tell whether anything changed.
/// A PATCH touches a few attributes of a large resource, so this is much cheaper than working on a
/// copy of the whole document and comparing the two.
///
/// # Errors
///
/// A [`ScimError`] whose detail starts with `Operations[i]` and names the failing operation:
/// `invalidPath`, `invalidFilter`, `invalidValue`, `invalidSyntax`, `mutability`, `noTarget`, as
/// the module docs and RFC 7644 §3.5.2 describe. A `doc` that is not a JSON object is a 500.
pub fn apply(
    rs: &ResourceSchema,
    doc: &mut Value,
    ops: &[PatchOp],
    opts: &PatchOptions,
) -> Result<PatchOutcome, ScimError> {
    let Value::Object(map) = doc else {
        return Err(ScimError::status(500, "the stored resource is not a JSON object"));
    };
    let had_ext: Vec<bool> = rs.extensions.iter().map(|(s, _)| ext_present(map, &s.id)).collect();
    let mut engine = Engine { rs, strict: opts.strict, members: Vec::new(), saved: Vec::new() };
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = engine.op(map, op) {
            engine.restore(map);
            return Err(in_operation(e, i, op));
        }
    }
    engine.sync_schemas(map, &had_ext);
    let doc_changed = engine.saved.iter().any(|(key, old)| map.get(key) != old.as_ref());
    Ok(PatchOutcome { changed: doc_changed || !engine.members.is_empty(), members: engine.members })
}

fn in_operation(e: ScimError, i: usize, op: &PatchOp) -> ScimError {
    let path = op.path.as_ref().map(|p| format!(" {p}")).unwrap_or_default();
    ScimError { detail: format!("Operations[{i}] ({}{path}): {}", op.op, e.detail), ..e }
}

/// Whether the document holds data of the extension `id`.
fn ext_present(m: &Map<String, Value>, id: &str) -> bool {
    get_ci(m, id).is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
}

/// Where a path points, once resolved.
pub(crate) enum Loc<'a, 'p> {
    /// The path is an extension schema URN: the extension's object as a whole.
    Extension(&'a Schema),
    /// An attribute, maybe a sub-attribute (`r.sub`: after the dot, or after the brackets), maybe
    /// through a value filter.
    Attr { r: Resolved<'a>, filter: Option<(ValueFilter<'a>, &'p Filter)> },
}

/// A value for a complex attribute (or one element of a multi-valued one), normalised.
#[derive(Default)]
struct ComplexValue {
    /// Sub-attributes to set, canonical names.
    set: Map<String, Value>,
    /// Sub-attributes given as `""`/`null`: to remove.
    clear: Vec<String>,
    /// The `value` sub-attribute was given empty: the whole attribute is being cleared
    /// (docs/idp-compatibility.md §1.7.6 `{"value": ""}` removes the manager).
    value_cleared: bool,
}

struct Engine<'a> {
    rs: &'a ResourceSchema,
    strict: bool,
    members: Vec<MemberChange>,
    /// Each top-level key an operation has touched, with its value before the first touch.
    saved: Vec<(String, Option<Value>)>,
}

fn value_required(value: Option<&Value>) -> Result<&Value, ScimError> {
    value.ok_or_else(|| ScimError::invalid_syntax("add and replace need a \"value\""))
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Makes `name` the spelling of the key in `map` when the map has it in another case (RFC 7643 §2.1
/// attribute names are case-insensitive; stored documents use the canonical case).
fn canon_key(map: &mut Map<String, Value>, name: &str) {
    if map.contains_key(name) {
        return;
    }
    if let Some(k) = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
        && let Some(v) = map.shift_remove(&k)
    {
        map.insert(name.to_owned(), v);
    }
}

fn immutable_error(name: &str) -> ScimError {
    ScimError::mutability(format!(
        "\"{name}\" is immutable: it can be set when it has no value, never changed or removed (RFC 7643 §7)"
    ))
}

/// RFC 7643 §7 immutable: a present value must not change.
fn check_immutable(def: &AttributeDef, old: Option<&Value>, new: Option<&Value>) -> Result<(), ScimError> {
    if def.mutability == Mutability::Immutable && old.is_some_and(is_present) && old != new {
        return Err(immutable_error(&def.name));
    }
    Ok(())
}

/// [`check_immutable`] for every sub-attribute of a complex value.
fn check_immutable_subs(
    def: &AttributeDef,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(old) = old.and_then(Value::as_object) else { return Ok(()) };
    let new = new.and_then(Value::as_object);
    for sub in def.sub_attributes.iter().filter(|s| s.mutability == Mutability::Immutable) {
        check_immutable(sub, get_ci(old, &sub.name), new.and_then(|n| get_ci(n, &sub.name)))?;
    }
    Ok(())
}

/// Sets (or with `None` removes) the attribute `def` in `container`.
fn set_slot(
    container: &mut Map<String, Value>,
    def: &AttributeDef,
    new: Option<Value>,
) -> Result<(), ScimError> {
    canon_key(container, &def.name);
    check_immutable(def, container.get(&def.name), new.as_ref())?;
    match new {
        Some(v) => {
            container.insert(def.name.clone(), v);
        }
        None => {
            container.shift_remove(&def.name);
        }
    }
    Ok(())
}

/// Takes the values of a multi-valued attribute out of `container` (its key stays, `null`, until
/// [`put_list`] puts them back).
fn take_list(container: &mut Map<String, Value>, def: &AttributeDef) -> Vec<Value> {
    canon_key(container, &def.name);
    match container.get_mut(&def.name) {
        Some(Value::Array(items)) => mem::take(items),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.take()],
    }
}

/// Puts a list back; an empty list removes the attribute (stored documents hold no empty values).
fn put_list(container: &mut Map<String, Value>, def: &AttributeDef, list: Vec<Value>) {
    if list.is_empty() {
        container.shift_remove(&def.name);
    } else {
        container.insert(def.name.clone(), Value::Array(list));
    }
}

/// RFC 7643 §2.4: "The primary attribute value "true" MUST appear no more than once." The last
/// value this operation touched that is primary stays primary; the others get `primary: false`.
fn fix_primary(def: &AttributeDef, list: &mut [Value], touched: &[usize]) {
    let Some(primary) = def.sub_attribute("primary").filter(|p| p.kind == AttrType::Boolean) else { return };
    let is_primary =
        |v: &Value| v.as_object().and_then(|o| o.get(&primary.name)).and_then(Value::as_bool) == Some(true);
    let Some(&keep) = touched.iter().rev().find(|&&i| list.get(i).is_some_and(is_primary)) else { return };
    for (i, v) in list.iter_mut().enumerate() {
        if i != keep
            && is_primary(v)
            && let Some(o) = v.as_object_mut()
        {
            o.insert(primary.name.clone(), Value::Bool(false));
        }
    }
}

/// The stored form of a single-valued complex attribute after a change: nothing when it is empty,
/// or when it has a `value` sub-attribute but no value (RFC 7643 §4.3: `manager.value` is the
/// manager; validation drops a manager without one too, docs/idp-compatibility.md §1.7.6).
fn complex_result(attr: &AttributeDef, obj: Map<String, Value>) -> Option<Value> {
    (!is_no_value(attr, &obj)).then_some(Value::Object(obj))
}

/// Whether a complex value holds nothing, or lacks the `value` sub-attribute its type has
/// (RFC 7643 §2.4: `value` is the "primary value" of `emails`, `members`, `manager`…): such an
/// object is no value at all.
fn is_no_value(attr: &AttributeDef, obj: &Map<String, Value>) -> bool {
    obj.is_empty() || attr.sub_attribute("value").is_some_and(|v| !obj.contains_key(&v.name))
}

fn drop_empty_elements(list: &mut Vec<Value>) {
    list.retain(|v| v.as_object().is_none_or(|o| !o.is_empty()));
}

/// Whether a value listed in a `remove` names the stored value `existing`: by the `value`
/// sub-attribute when the listed value has one (Entra's `[{"value": "id"}]`), else whole.
fn names_value(def: &AttributeDef, listed: &Value, existing: &Value) -> bool {
    let by_value = def.sub_attribute("value").and_then(|vd| {
        let l = listed.as_object()?.get(&vd.name)?;
        Some(scalar_eq(vd, l, existing.as_object().and_then(|o| get_ci(o, &vd.name))?))
    });
    match by_value {
        Some(same) => same,
        None => same_element(def, listed, existing),
    }
}

/// Whether two values of `def` are the same value: strings compared under each (sub-)attribute's
/// `caseExact` (RFC 7643 §2.2 "caseExact … specifies whether a string attribute is case
/// sensitive", §7), complex values sub-attribute by sub-attribute. The one equality the engine
/// uses to tell whether a value is already there (add) or is the one named (remove).
fn same_element(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if def.kind == AttrType::Complex => {
            x.len() == y.len()
                && x.iter().all(|(k, xv)| match (def.sub_attribute(k), get_ci(y, k)) {
                    (Some(sub), Some(yv)) => scalar_eq(sub, xv, yv),
                    (None, Some(yv)) => xv == yv,
                    (_, None) => false,
                })
        }
        _ => scalar_eq(def, a, b),
    }
}

/// Equality under the attribute's case rule.
fn scalar_eq(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) if def.folds_case() => fold_case(a) == fold_case(b),
        _ => a == b,
    }
}

/// Whether `p`, inside the brackets of `outer[…]`, names the sub-attribute `sub` (`value`, or
/// spelled out, `members.value`).
fn names_sub(p: &AttrPath, outer: &AttributeDef, sub: &str) -> bool {
    match &p.sub_attr {
        None => p.name.eq_ignore_ascii_case(sub),
        Some(s) => p.name.eq_ignore_ascii_case(&outer.name) && s.eq_ignore_ascii_case(sub),
    }
}

/// `members[value eq "a" or value eq "b"]` → `["a", "b"]`; `None` for any other filter shape.
fn member_ids(filter: &Filter, members: &AttributeDef) -> Option<Vec<String>> {
    let mut ids = Vec::new();
    let mut stack = vec![filter];
    while let Some(node) = stack.pop() {
        match node {
            Filter::Or(a, b, _) => {
                stack.push(b);
                stack.push(a);
            }
            Filter::Compare { attr, op: CompareOp::Eq, value: CompValue::String(id), .. }
                if names_sub(attr, members, "value") =>
            {
                ids.push(id.clone());
            }
            _ => return None,
        }
    }
    Some(ids)
}

/// One member reference from a PATCH value: `{"value": "id", "type"?, "display"?, "$ref"?}` or a
/// bare id (Microsoft's Postman collection sends `"value": "string id 1"`, docs/idp-compatibility.md §1.7.5).
fn member_ref(v: &Value) -> Result<Option<MemberRef>, ScimError> {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(_) | Value::Number(_) => {
            Ok(text(Some(v)).map(|value| MemberRef { value, type_: None, display: None }))
        }
        Value::Object(o) => match text(get_ci(o, "value")) {
            Some(value) => Ok(Some(MemberRef {
                value,
                type_: text(get_ci(o, "type")),
                display: text(get_ci(o, "display")),
            })),
            None => Err(ScimError::invalid_value("each member needs a \"value\": the member's id")),
        },
        _ => Err(ScimError::invalid_value(
            "a member is an object with a \"value\" (the member's id), or the id itself",
        )),
    }
}

fn member_refs(v: &Value) -> Result<Vec<MemberRef>, ScimError> {
    let items = match v {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    let mut out: Vec<MemberRef> = Vec::with_capacity(items.len());
    for item in items {
        if let Some(m) = member_ref(item)?
            && !out.iter().any(|o| o.value == m.value)
        {
            out.push(m);
        }
    }
    Ok(out)
}

/// What one key of a no-path PATCH value (or of a schema's object inside it) stands for. Shared by
/// the engine and [`crate::writes`], so that what the engine writes and what is hashed and redacted
/// as a secret are found by the same resolution.
pub(crate) enum ValueKey<'a> {
    /// `schemas` and `meta`: readOnly, and echoed back by clients (Okta's group rename): ignored.
    Ignored,
    /// `id`: ignored when it is the current id, else refused.
    Id,
    /// A schema URN: its value holds that schema's attributes. RFC 7644 §3.5.2.1 example:
    /// `{"urn:…:enterprise:2.0:User": {"employeeNumber": …}}`; the core URN works the same way.
    Schema(&'a Schema),
    /// An attribute path (dotted or URN-qualified, docs/idp-compatibility.md §1.7.3), qualified by the
    /// enclosing schema when it stands inside one.
    Path(Box<PatchPath>),
    /// Not a path at all.
    NotAPath(scimd_filter::Error),
}

pub(crate) fn value_key<'a>(rs: &'a ResourceSchema, within: Option<&'a Schema>, key: &str) -> ValueKey<'a> {
    if within.is_none() {
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
            return ValueKey::Ignored;
        }
        if key.eq_ignore_ascii_case("id") {
            return ValueKey::Id;
        }
        if let Some((schema, _)) = rs.schema(key) {
            return ValueKey::Schema(schema);
        }
    }
    match parse_path(key) {
        Ok(mut path) => {
            if let Some(schema) = within
                && path.attr.urn.is_none()
            {
                path.attr.urn = Some(schema.id.clone());
            }
            ValueKey::Path(Box::new(path))
        }
        Err(e) => ValueKey::NotAPath(e),
    }
}

/// Resolves a PATCH path against the resource type; `None` when it names an unknown attribute and
/// `strict` is off (the engine then ignores the operation).
pub(crate) fn locate<'a, 'p>(
    rs: &'a ResourceSchema,
    path: &'p PatchPath,
    strict: bool,
) -> Result<Option<Loc<'a, 'p>>, ScimError> {
    let sub = match (&path.filter, &path.attr.sub_attr, &path.sub_attr) {
        (Some(_), Some(_), _) | (None, Some(_), Some(_)) => {
            return Err(ScimError::invalid_path(
                "a value filter follows the attribute name, before any sub-attribute",
            ));
        }
        (Some(_), None, s) | (None, None, s) | (None, s, None) => s.as_deref(),
    };
    let r = match rs.resolve(path.attr.urn.as_deref(), &path.attr.name, sub) {
        Ok(r) => r,
        Err(e) => {
            // `urn:…:enterprise:2.0:User` reads as URN `urn:…:2.0` and attribute `User`.
            if path.filter.is_none()
                && sub.is_none()
                && let Some(urn) = &path.attr.urn
                && let Some((schema, false)) = rs.schema(&format!("{urn}:{}", path.attr.name))
            {
                return Ok(Some(Loc::Extension(schema)));
            }
            if strict {
                // RFC 7644 §3.5.2: a path naming an attribute that does not exist is invalidPath.
                return Err(ScimError::invalid_path(e.to_string()));
            }
            return Ok(None);
        }
    };
    let filter = match &path.filter {
        None => None,
        Some(f) => {
            if r.attr.kind != AttrType::Complex || !r.attr.multi_valued {
                return Err(ScimError::invalid_path(format!(
                    "\"{}\" is not a multi-valued complex attribute, so it takes no value filter",
                    r.attr.name
                )));
            }
            Some((check_value_filter(rs, Resolved { sub: None, ..r }, f)?, f))
        }
    };
    Ok(Some(Loc::Attr { r, filter }))
}

impl<'a> Engine<'a> {
    /// Saves the value of the top-level key `name` (and of a key spelling it in another case,
    /// which [`canon_key`] would rename) before the first change to it.
    fn save(&mut self, doc: &Map<String, Value>, name: &str) {
        for (key, value) in doc.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)) {
            if !self.saved.iter().any(|(k, _)| k == key) {
                self.saved.push((key.clone(), Some(value.clone())));
            }
        }
        if !doc.contains_key(name) && !self.saved.iter().any(|(k, _)| k == name) {
            self.saved.push((name.to_owned(), None));
        }
    }

    /// Undoes every change: each saved key gets its old value back (or goes, if it was absent).
    fn restore(&mut self, doc: &mut Map<String, Value>) {
        for (key, old) in self.saved.drain(..).rev() {
            match old {
                Some(v) => {
                    doc.insert(key, v);
                }
                None => {
                    doc.shift_remove(&key);
                }
            }
        }
    }

    /// RFC 7643 §3: `schemas` lists the extensions a resource carries. When the operations gave
    /// the document extension data it had none of, or took all of it away, the list follows
    /// (only when the document keeps a `schemas` list at all).
    fn sync_schemas(&mut self, doc: &mut Map<String, Value>, had_ext: &[bool]) {
        for ((ext, _), had) in self.rs.extensions.iter().zip(had_ext) {
            let has = ext_present(doc, &ext.id);
            if *had == has || !matches!(doc.get("schemas"), Some(Value::Array(_))) {
                continue;
            }
            self.save(doc, "schemas");
            if let Some(Value::Array(list)) = doc.get_mut("schemas") {
                let listed = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&ext.id));
                if has && !list.iter().any(listed) {
                    list.push(Value::String(ext.id.clone()));
                } else if !has {
                    list.retain(|v| !listed(v));
                }
            }
        }
    }

    fn op(&mut self, doc: &mut Map<String, Value>, op: &PatchOp) -> Result<(), ScimError> {
        let value = op.value.as_ref();
        if op.op != PatchOpKind::Remove {
            value_required(value)?;
        }
        match &op.path {
            Some(path) => match self.locate(path)? {
                Some(loc) => self.at(doc, op.op, &loc, value),
                None => Ok(()),
            },
            None => {
                if op.op == PatchOpKind::Remove {
                    // RFC 7644 §3.5.2.2.
                    return Err(ScimError::no_target("remove needs a \"path\""));
                }
                // RFC 7644 §3.5.2.1 / §3.5.2.3: without a path "the target location is assumed to
                // be the resource itself"; the value holds the attributes. docs/idp-compatibility.md §1.7.3:
                // its keys may be dotted or URN-qualified paths (Entra flag-on, Okta).
                let Some(Value::Object(attrs)) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "{} without a \"path\" takes an object of attributes as its \"value\"",
                        op.op
                    )));
                };
                for (key, v) in attrs {
                    self.key(doc, op.op, None, key, v)?;
                }
                Ok(())
            }
        }
    }

    /// One key of a no-path value object (or of an extension object inside it).
    fn key(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOpKind,
        within: Option<&'a Schema>,
        key: &str,
        v: &Value,
    ) -> Result<(), ScimError> {
        let path = match value_key(self.rs, within, key) {
            ValueKey::Ignored => return Ok(()),
            ValueKey::Id => {
                // docs/idp-compatibility.md §4: an `id` equal to the current one is ignored, a
                // different one is 400 `mutability`.
                return match (doc.get("id"), v) {
                    (Some(Value::String(current)), Value::String(sent)) if current != sent => {
                        Err(ScimError::mutability("\"id\" is readOnly and cannot be changed"))
                    }
                    _ => Ok(()),
                };
            }
            ValueKey::Schema(schema) => {
                return match v {
                    Value::Object(inner) => {
                        for (k, v) in inner {
                            self.key(doc, kind, Some(schema), k, v)?;
                        }
                        Ok(())
                    }
                    v if is_empty_value(v) => {
                        self.at(doc, PatchOpKind::Remove, &Loc::Extension(schema), None)
                    }
                    _ => {
                        Err(ScimError::invalid_value(format!("\"{key}\" takes an object of its attributes")))
                    }
                };
            }
            ValueKey::Path(path) => path,
            ValueKey::NotAPath(e) if self.strict => {
                return Err(ScimError::invalid_path(format!("\"{key}\" is not an attribute path: {e}")));
            }
            ValueKey::NotAPath(_) => return Ok(()),
        };
        match self.locate(&path)? {
            // An extension object inside an extension object: refused, which also bounds the
            // recursion key → extension → key to one level whatever the value's depth.
            Some(Loc::Extension(schema)) if within.is_some() => Err(ScimError::invalid_value(format!(
                "\"{}\" cannot stand inside an extension's attributes",
                schema.id
            ))),
            Some(loc) => self.at(doc, kind, &loc, Some(v)),
            None => Ok(()),
        }
    }

    /// Resolves a path; `None` when it names an unknown attribute and the engine is tolerant.
    fn locate<'p>(&self, path: &'p PatchPath) -> Result<Option<Loc<'a, 'p>>, ScimError> {
        locate(self.rs, path, self.strict)
    }

    fn at(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOpKind,
        loc: &Loc<'a, '_>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let (r, filter) = match loc {
            Loc::Extension(schema) => return self.extension(doc, kind, schema, value),
            Loc::Attr { r, filter } => (r, filter.as_ref()),
        };
        let attr = r.attr;
        if attr.mutability == Mutability::ReadOnly {
            // User `groups` is computed from Group memberships; Okta sends `groups: []` back.
            if attr.stored_as_rows && !self.strict {
                return Ok(());
            }
            return Err(ScimError::mutability(format!("\"{}\" is readOnly (RFC 7643 §7)", attr.name)));
        }
        if let Some(sub) = r.sub
            && sub.mutability == Mutability::ReadOnly
        {
            return Err(ScimError::mutability(format!(
                "\"{}.{}\" is readOnly (RFC 7643 §7)",
                attr.name, sub.name
            )));
        }
        if attr.stored_as_rows {
            return self.members_op(kind, r, filter, value);
        }
        self.save(doc, if r.is_core { &attr.name } else { &r.schema.id });
        let ext_key = if r.is_core {
            None
        } else {
            canon_key(doc, &r.schema.id);
            match doc.get(&r.schema.id) {
                Some(Value::Object(_)) => {}
                _ if kind == PatchOpKind::Remove => return Ok(()),
                _ => {
                    doc.insert(r.schema.id.clone(), Value::Object(Map::new()));
                }
            }
            Some(r.schema.id.as_str())
        };
        let container = match ext_key {
            None => &mut *doc,
            Some(k) => match doc.get_mut(k) {
                Some(Value::Object(m)) => m,
                _ => return Ok(()),
            },
        };
        self.attr_op(container, kind, r, filter, value)?;
        if let Some(k) = ext_key
            && doc.get(k).is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
        {
            doc.shift_remove(k);
        }
        Ok(())
    }

    /// A path (or no-path key) that names an extension schema: its object as a whole.
    fn extension(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOpKind,
        schema: &'a Schema,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        self.save(doc, &schema.id);
        match (kind, value) {
            (PatchOpKind::Remove, _) => {
                canon_key(doc, &schema.id);
                doc.shift_remove(&schema.id);
                Ok(())
            }
            (_, Some(Value::Object(attrs))) => {
                for (k, v) in attrs {
                    self.key(doc, kind, Some(schema), k, v)?;
                }
                Ok(())
            }
            (_, Some(v)) if is_empty_value(v) => self.extension(doc, PatchOpKind::Remove, schema, None),
            _ => {
                Err(ScimError::invalid_value(format!("\"{}\" takes an object of its attributes", schema.id)))
            }
        }
    }

    fn attr_op(
        &self,
        container: &mut Map<String, Value>,
        kind: PatchOpKind,
        r: &Resolved<'a>,
        filter: Option<&(ValueFilter<'a>, &Filter)>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let attr = r.attr;
        if filter.is_some() || (attr.multi_valued && r.sub.is_some()) {
            return self.elements_op(container, kind, attr, r.sub, filter, value);
        }
        if attr.multi_valued {
            return self.multi_op(container, kind, attr, value);
        }
        match (r.sub, attr.kind) {
            (Some(sub), _) => self.sub_op(container, kind, attr, sub, value),
            (None, AttrType::Complex) => self.complex_op(container, kind, attr, value),
            (None, _) => {
                let new = match kind {
                    PatchOpKind::Remove => None,
                    // RFC 7644 §3.5.2.1: add to a single-valued attribute replaces it (Entra
                    // flag-off sends `Add nickName` when nickName exists, docs/idp-compatibility.md §1.7.9).
                    _ => self.norm(attr, value_required(value)?)?,
                };
                set_slot(container, attr, new)
            }
        }
    }

    /// `attr` naming a single-valued complex attribute.
    fn complex_op(
        &self,
        container: &mut Map<String, Value>,
        kind: PatchOpKind,
        attr: &AttributeDef,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        canon_key(container, &attr.name);
        let old = container.get(&attr.name);
        if kind == PatchOpKind::Remove
            && let Some(v) = value.filter(|v| !is_empty_value(v))
            && let Some(cv) = self.complex_value(attr, v, true)?
            && attr.sub_attribute("value").is_some_and(|vd| cv.set.contains_key(&vd.name))
            && let Some(current) = old
            && !names_value(attr, &Value::Object(cv.set), current)
        {
            // A remove that names the value it removes (`"value": [{"value": "m1"}]`, as for a
            // multi-valued attribute, docs/idp-compatibility.md §5) removes only that one: when the manager
            // has changed to m2 since, removing m1 leaves m2 in place. RFC 7644 §3.5.2.2 gives a
            // remove no value; clients that send one mean "this value".
            return Ok(());
        }
        let cv = match kind {
            PatchOpKind::Remove => None,
            _ => self.complex_value(attr, value_required(value)?, true)?,
        };
        let new = match cv {
            None => None,
            Some(cv) if cv.value_cleared => None,
            Some(cv) => {
                // RFC 7644 §3.5.2.1 / §3.5.2.3: the given sub-attributes replace theirs, the others
                // stay. A different `value` is a different referent (another manager): start afresh
                // so its old `$ref` does not linger.
                let mut obj = old.and_then(Value::as_object).cloned().unwrap_or_default();
                if let Some(new_value) = cv.set.get("value")
                    && obj.get("value").is_some_and(|v| v != new_value)
                {
                    obj.clear();
                }
                for k in &cv.clear {
                    canon_key(&mut obj, k);
                    obj.shift_remove(k);
                }
                for (k, v) in cv.set {
                    canon_key(&mut obj, &k);
                    obj.insert(k, v);
                }
                complex_result(attr, obj)
            }
        };
        check_immutable_subs(attr, old, new.as_ref())?;
        set_slot(container, attr, new)
    }

    /// `attr.sub` with `attr` single-valued and complex.
    fn sub_op(
        &self,
        container: &mut Map<String, Value>,
        kind: PatchOpKind,
        attr: &AttributeDef,
        sub: &AttributeDef,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let new_sub = match kind {
            PatchOpKind::Remove => None,
            _ => self.norm(sub, value_required(value)?)?,
        };
        canon_key(container, &attr.name);
        let old = container.get(&attr.name);
        let mut obj = old.and_then(Value::as_object).cloned().unwrap_or_default();
        canon_key(&mut obj, &sub.name);
        check_immutable(sub, obj.get(&sub.name), new_sub.as_ref())?;
        match new_sub {
            Some(v) => {
                obj.insert(sub.name.clone(), v);
            }
            None => {
                obj.shift_remove(&sub.name);
            }
        }
        let new = complex_result(attr, obj);
        check_immutable_subs(attr, old, new.as_ref())?;
        set_slot(container, attr, new)
    }

    /// `attr` naming a multi-valued attribute as a whole.
    fn multi_op(
        &self,
        container: &mut Map<String, Value>,
        kind: PatchOpKind,
        attr: &AttributeDef,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let mut list = take_list(container, attr);
        match kind {
            PatchOpKind::Remove => match value {
                // RFC 7644 §3.5.2.2: "If the target location is a multi-valued attribute and no
                // filter is specified, the attribute and all values are removed".
                None | Some(Value::Null) => list.clear(),
                // docs/idp-compatibility.md §5: with a value, only the listed values go (Entra flag-off).
                Some(v) => {
                    let listed = self.multi_value(attr, v)?;
                    list.retain(|e| !listed.iter().any(|l| names_value(attr, l, e)));
                }
            },
            PatchOpKind::Add => {
                let v = value_required(value)?;
                if is_empty_value(v) {
                    // docs/idp-compatibility.md §1.7.7: "" or null in add or replace removes the attribute.
                    list.clear();
                } else {
                    // RFC 7644 §3.5.2.1: "the values are added to the existing set"; and "if the
                    // target location already contains the value specified, no changes SHOULD be
                    // made". A value is already there when it is the same value under the
                    // attribute's caseExact rule (`B@example.com` is `b@example.com` in `emails`,
                    // caseExact false), found as a remove finds the value it names. When only its
                    // `value` matches, the sub-attributes it gives (`type`, `primary`) are set on
                    // the existing element rather than making a second element with that value.
                    let mut touched = Vec::new();
                    for e in self.multi_value(attr, v)? {
                        match list.iter().position(|old| names_value(attr, &e, old)) {
                            Some(i) if same_element(attr, &e, &list[i]) => {}
                            Some(i) => {
                                if let (Some(Value::Object(old)), Value::Object(new)) = (list.get_mut(i), e) {
                                    for (k, v) in new {
                                        canon_key(old, &k);
                                        old.insert(k, v);
                                    }
                                }
                                touched.push(i);
                            }
                            None => {
                                list.push(e);
                                touched.push(list.len() - 1);
                            }
                        }
                    }
                    fix_primary(attr, &mut list, &touched);
                }
            }
            PatchOpKind::Replace => {
                // RFC 7644 §3.5.2.3: "the attribute and all values are replaced".
                list = self.multi_value(attr, value_required(value)?)?;
                let touched: Vec<usize> = (0..list.len()).collect();
                fix_primary(attr, &mut list, &touched);
            }
        }
        put_list(container, attr, list);
        Ok(())
    }

    /// `attr[filter]`, `attr[filter].sub`, or `attr.sub` (every value) of a multi-valued complex
    /// attribute.
    fn elements_op(
        &self,
        container: &mut Map<String, Value>,
        kind: PatchOpKind,
        attr: &AttributeDef,
        sub: Option<&AttributeDef>,
        filter: Option<&(ValueFilter<'a>, &Filter)>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let mut list = take_list(container, attr);
        let hits: Vec<usize> = list
            .iter()
            .enumerate()
            .filter(|(_, e)| filter.is_none_or(|(vf, _)| vf.matches_element(e)))
            .map(|(i, _)| i)
            .collect();
        let mut touched = Vec::new();
        // The existing elements an add or replace changed.
        let mut changed = Vec::new();
        match (kind, sub) {
            // RFC 7644 §3.5.2.2: remove the matching values; none matching is a no-op here
            // (docs/idp-compatibility.md §5: clients remove what is already gone).
            (PatchOpKind::Remove, None) => {
                let mut i = 0;
                list.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
            (PatchOpKind::Remove, Some(sub)) => {
                let mut emptied = Vec::new();
                for &i in &hits {
                    if let Some(Value::Object(o)) = list.get_mut(i) {
                        canon_key(o, &sub.name);
                        check_immutable(sub, o.get(&sub.name), None)?;
                        o.shift_remove(&sub.name);
                        if is_no_value(attr, o) {
                            emptied.push(i);
                        }
                    }
                }
                // `emails[type eq "work"].value` removed leaves `{"type": "work"}`: an email
                // without an address. It goes with its value, as a manager without `value` does.
                let mut i = 0;
                list.retain(|_| {
                    let keep = !emptied.contains(&i);
                    i += 1;
                    keep
                });
            }
            (_, Some(sub)) => {
                let new_sub = self.norm(sub, value_required(value)?)?;
                if hits.is_empty() {
                    if let Some(v) = new_sub {
                        let mut element = self.seed(attr, filter)?;
                        element.insert(sub.name.clone(), v);
                        list.push(Value::Object(element));
                        touched.push(list.len() - 1);
                    }
                } else {
                    changed.clone_from(&hits);
                    for &i in &hits {
                        if let Some(Value::Object(o)) = list.get_mut(i) {
                            canon_key(o, &sub.name);
                            check_immutable(sub, o.get(&sub.name), new_sub.as_ref())?;
                            match &new_sub {
                                Some(v) => o.insert(sub.name.clone(), v.clone()),
                                None => o.shift_remove(&sub.name),
                            };
                        }
                    }
                    touched = hits;
                }
            }
            (_, None) => {
                let cv = self.complex_value(attr, value_required(value)?, false)?.unwrap_or_default();
                if hits.is_empty() {
                    if !cv.set.is_empty() {
                        let mut element = self.seed(attr, filter)?;
                        element.extend(cv.set);
                        list.push(Value::Object(element));
                        touched.push(list.len() - 1);
                    }
                } else {
                    changed.clone_from(&hits);
                    for &i in &hits {
                        let Some(old) = list.get(i) else { continue };
                        let new = if kind == PatchOpKind::Replace {
                            // RFC 7644 §3.5.2.3: "all matching record values SHALL be replaced".
                            // Tolerant: what the filter pinned (`type eq "work"`) stays, so the value
                            // is still found by the same filter next time.
                            let mut new = cv.set.clone();
                            if !self.strict
                                && let Some((_, f)) = filter
                                && let Some(seed) = self.seed_from_filter(attr, f)
                            {
                                for (k, v) in seed {
                                    if !new.contains_key(&k) && !cv.clear.contains(&k) {
                                        new.insert(k, v);
                                    }
                                }
                            }
                            new
                        } else {
                            let mut new = old.as_object().cloned().unwrap_or_default();
                            for k in &cv.clear {
                                canon_key(&mut new, k);
                                new.shift_remove(k);
                            }
                            for (k, v) in &cv.set {
                                canon_key(&mut new, k);
                                new.insert(k.clone(), v.clone());
                            }
                            new
                        };
                        let new = Value::Object(new);
                        check_immutable_subs(attr, Some(old), Some(&new))?;
                        if let Some(slot) = list.get_mut(i) {
                            *slot = new;
                        }
                    }
                    touched = hits;
                }
            }
        }
        fix_primary(attr, &mut list, &touched);
        // RFC 7644 §3.5.2.3 replaces "the value(s)", and RFC 7643 §2.5 makes `""` unassigned: a
        // replace of `emails[type eq "work"].value` with `""` unassigns the address, which leaves
        // `{"type": "work"}`, an email with no email (RFC 7643 §2.4: `value` is the attribute's
        // primary value). Such an element goes, as it does when its value is removed (RFC 7644
        // §3.5.2.2, above) and as a manager without `value` does.
        let mut i = 0;
        list.retain(|e| {
            let keep = !changed.contains(&i) || e.as_object().is_none_or(|o| !is_no_value(attr, o));
            i += 1;
            keep
        });
        drop_empty_elements(&mut list);
        put_list(container, attr, list);
        Ok(())
    }

    /// The value to create when add/replace goes through a filter that matches nothing.
    fn seed(
        &self,
        attr: &AttributeDef,
        filter: Option<&(ValueFilter<'a>, &Filter)>,
    ) -> Result<Map<String, Value>, ScimError> {
        if self.strict {
            // RFC 7644 §3.5.2.3: "If the target location is a multi-valued attribute for which a
            // value selection filter ("valuePath") has been supplied and no record match was made,
            // the service provider SHALL indicate failure by returning HTTP status code 400 and a
            // "scimType" error code of "noTarget"."
            return Err(ScimError::no_target(format!("no value of \"{}\" matches the path", attr.name)));
        }
        // docs/idp-compatibility.md §5: Entra, Microsoft's validator and Microsoft's Logic App suite expect
        // the value to be created, with `type`/`primary` from the filter literal.
        match filter {
            None => Ok(Map::new()),
            Some((_, f)) => self.seed_from_filter(attr, f).ok_or_else(|| {
                ScimError::no_target(format!(
                    "no value of \"{}\" matches the filter, and a new one cannot be made from it: \
                     only eq terms joined by and describe one",
                    attr.name
                ))
            }),
        }
    }

    /// `type eq "work" and primary eq "True"` → `{"type": "work", "primary": true}`; `None` for any
    /// other shape, or contradicting terms.
    fn seed_from_filter(&self, attr: &AttributeDef, filter: &Filter) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        let mut stack = vec![filter];
        while let Some(node) = stack.pop() {
            match node {
                Filter::And(a, b, _) => {
                    stack.push(b);
                    stack.push(a);
                }
                Filter::Compare { attr: p, op: CompareOp::Eq, value, .. } => {
                    let name = match &p.sub_attr {
                        None => &p.name,
                        Some(s) if p.name.eq_ignore_ascii_case(&attr.name) => s,
                        Some(_) => return None,
                    };
                    let sub = attr.sub_attribute(name)?;
                    let literal = match value {
                        CompValue::String(s) => Value::String(s.clone()),
                        CompValue::Bool(b) => Value::Bool(*b),
                        // A string sub-attribute takes the literal's text, as the filter compared it.
                        CompValue::Number(n)
                            if matches!(sub.kind, AttrType::String | AttrType::Reference) =>
                        {
                            Value::String(n.as_str().to_owned())
                        }
                        CompValue::Number(n) => Value::Number(n.value().clone()),
                        CompValue::Null => return None,
                    };
                    let v = self.norm(sub, &literal).ok()??;
                    match out.get(&sub.name) {
                        Some(existing) if *existing != v => return None,
                        _ => {
                            out.insert(sub.name.clone(), v);
                        }
                    }
                }
                _ => return None,
            }
        }
        Some(out)
    }

    /// Operations on Group `members`, reported as rows ([`MemberChange`]).
    fn members_op(
        &mut self,
        kind: PatchOpKind,
        r: &Resolved<'a>,
        filter: Option<&(ValueFilter<'a>, &Filter)>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        if r.sub.is_some() {
            // RFC 7643 §4.2: "sub-attributes of members are 'immutable'".
            return Err(ScimError::mutability(format!(
                "\"{}\" values are added and removed whole; their sub-attributes are immutable",
                r.attr.name
            )));
        }
        match (kind, filter) {
            (PatchOpKind::Remove, Some((_, f))) => {
                self.members.push(match member_ids(f, r.attr) {
                    Some(ids) => MemberChange::Remove(ids),
                    None => MemberChange::RemoveWhere((*f).clone()),
                });
            }
            (PatchOpKind::Remove, None) => match value {
                // RFC 7644 §3.5.2.2 / docs/idp-compatibility.md §5: no value removes all members.
                None | Some(Value::Null) => self.members.push(MemberChange::RemoveAll),
                // docs/idp-compatibility.md §2.3: Entra flag-off removes
                // `{"path":"members","value":[{"value":"id"}]}`: only those listed.
                Some(v) => {
                    let ids: Vec<String> = member_refs(v)?.into_iter().map(|m| m.value).collect();
                    if !ids.is_empty() {
                        self.members.push(MemberChange::Remove(ids));
                    }
                }
            },
            (PatchOpKind::Add, None) => {
                // Adding nothing (`[]`, `null`) never removes members.
                let refs = member_refs(value_required(value)?)?;
                if !refs.is_empty() {
                    self.members.push(MemberChange::Add(refs));
                }
            }
            (PatchOpKind::Replace, None) => {
                // RFC 7644 §3.5.2.3: the set is replaced: all rows out, the given ones in.
                let refs = member_refs(value_required(value)?)?;
                self.members.push(MemberChange::RemoveAll);
                if !refs.is_empty() {
                    self.members.push(MemberChange::Add(refs));
                }
            }
            (_, Some(_)) => {
                return Err(ScimError::invalid_path(format!(
                    "{kind} takes \"{}\" as a value list, not through a filter",
                    r.attr.name
                )));
            }
        }
        Ok(())
    }

    /// Normalises a value for a complex attribute (or one element of a multi-valued one).
    ///
    /// `single`: the attribute is single-valued, so a one-element list is unwrapped (Entra sends
    /// `manager` as `[{"value": …}]`, docs/idp-compatibility.md §1.7.6). `None`: the value is empty.
    fn complex_value(
        &self,
        attr: &AttributeDef,
        v: &Value,
        single: bool,
    ) -> Result<Option<ComplexValue>, ScimError> {
        let v = match v {
            Value::Array(items) if single => match items.as_slice() {
                [] => return Ok(None),
                [one] if !one.is_array() => one,
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "\"{}\" is single-valued: it takes one value, not a list",
                        attr.name
                    )));
                }
            },
            Value::Array(_) => {
                return Err(ScimError::invalid_value(format!(
                    "a value of \"{}\" is an object, not a list",
                    attr.name
                )));
            }
            other => other,
        };
        let mut cv = ComplexValue::default();
        let mut put = |sub: &AttributeDef, x: Option<Value>| match x {
            Some(x) => {
                cv.set.insert(sub.name.clone(), x);
            }
            None => {
                cv.clear.push(sub.name.clone());
                cv.value_cleared |= sub.name == "value";
            }
        };
        match v {
            v if is_empty_value(v) => return Ok(None),
            Value::Object(obj) => {
                for (k, x) in obj {
                    let Some(sub) = attr.sub_attribute(k) else {
                        if self.strict {
                            return Err(ScimError::invalid_syntax(format!(
                                "\"{}\" has no sub-attribute \"{k}\"",
                                attr.name
                            )));
                        }
                        continue;
                    };
                    // RFC 7644 §3.5.1: readOnly values a client sends are ignored.
                    if sub.mutability == Mutability::ReadOnly {
                        continue;
                    }
                    put(sub, self.norm(sub, x)?);
                }
            }
            scalar => match attr.sub_attribute("value") {
                // `"manager": "id"` (Microsoft's Logic App suite), a member given as its id (Microsoft's
                // Postman collection).
                Some(value_def) => put(value_def, self.norm(value_def, scalar)?),
                None => {
                    return Err(ScimError::invalid_value(format!(
                        "\"{}\" is complex: its value is an object of sub-attributes",
                        attr.name
                    )));
                }
            },
        }
        Ok(Some(cv))
    }

    /// Normalises the values for a multi-valued attribute as a POST body's would be
    /// ([`normalize_attribute`]: one value is a list of one, empty ones dropped, at most one
    /// primary), then drops duplicates.
    fn multi_value(&self, attr: &AttributeDef, v: &Value) -> Result<Vec<Value>, ScimError> {
        let items = match self.norm(attr, v)? {
            Some(Value::Array(items)) => items,
            Some(one) => vec![one],
            None => Vec::new(),
        };
        let mut out: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            if !out.contains(&item) {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// Normalises a value of a non-complex attribute or sub-attribute exactly as validation of a
    /// POST body does ([`normalize_attribute`]); `None` for `null` and `""` (remove).
    fn norm(&self, def: &AttributeDef, v: &Value) -> Result<Option<Value>, ScimError> {
        normalize_attribute(def, v.clone(), &ValidateOptions { strict: self.strict })
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
