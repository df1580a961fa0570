//! The in-memory filter evaluator (RFC 7644 §3.4.2.2), and the schema checks every filter consumer
//! shares.
//!
//! Why two halves. A filter is used in three places: the store compiles it to SQL, the PATCH engine
//! evaluates the value filter of a path (`emails[type eq "work"]`) against one element at a time,
//! and library users and tests evaluate it against whole documents (this evaluator is the oracle the
//! SQL compiler is tested against). All three must reject exactly the same filters and give each
//! comparison the same meaning, so the checking is done once, by [`check_filter`], which turns the
//! parser's [`Filter`] into a [`CheckedFilter`]: every attribute resolved against the schema, every
//! literal converted to the attribute's type (an [`Operand`]). The SQL compiler walks that tree;
//! [`CheckedFilter::matches`] evaluates it. [`validate_filter`] is the check alone.
//!
//! # Semantics (shared with the SQL compiler)
//!
//! * Unknown attribute, unknown sub-attribute, an operator that does not apply to the attribute's
//!   type, or a literal of the wrong type: 400 `invalidFilter` (RFC 7644 §3.4.2.2, §3.12).
//! * Case: an attribute that is not `caseExact` compares [`fold_case`] of both sides; the literal
//!   in a [`Operand::Str`] is already folded. Ordering (`gt` …) of strings is code-point order of the
//!   (folded) text.
//! * dateTime literals are parsed and rendered [`canonical_datetime`], the form stored documents
//!   hold, so text order is time order. Integer and decimal attributes compare numerically.
//! * Booleans take `eq` and `ne` only. docs/idp-compatibility.md §5: the string literals `"true"`/`"false"`
//!   (any case) are accepted for boolean attributes, because Entra writes `roles[primary eq
//!   "True"]`.
//! * A string literal for a number attribute is accepted when it parses as a number; a number or
//!   `true`/`false` literal for a string attribute compares as its text (Entra's unquoted values:
//!   `externalId eq 12345` arrives as a number).
//! * `null` is not a comparison value (`invalidFilter`): RFC 7644 gives it no meaning, and `not
//!   (attr pr)` says "has no value" without ambiguity.
//! * Multi-valued attributes: a comparison holds when **any** value holds it (RFC 7644 §3.4.2.2
//!   "the filter matches if any of the values … match"). A complex attribute named without a
//!   sub-attribute (`emails co "x"`, `members eq "id"`, `manager eq "id"`) is compared by its `value`
//!   sub-attribute; one without a `value` sub-attribute (`name eq "x"`) is `invalidFilter`.
//! * `ne` is defined as `not (eq)`: `title ne "x"` matches a resource without a title, and
//!   `emails.value ne "x"` matches when **no** email is `"x"`. RFC 7644 leaves both open; this is the
//!   reading under which `a ne v` and `not (a eq v)` always agree, which keeps the SQL compiler and
//!   this evaluator in step. Inside a value filter the same rule applies per element.
//! * `pr` holds when the attribute has a value that is not `null`, `""`, `[]` or `{}` (RFC 7644
//!   §3.4.2.2 "If the attribute has a non-empty value").
//! * `co`, `sw` and `ew` apply to string and reference attributes only (RFC 7643 §2.3.7: a reference
//!   is a string); `gt`/`ge`/`lt`/`le` to strings, references, numbers and dateTimes, never to
//!   booleans, binaries or complex attributes (RFC 7644 §3.4.2.2).
//! * A value filter `attr[…]` needs a complex attribute; the paths inside name its sub-attributes
//!   (`emails[type eq "work"]`), and one element must satisfy the whole inner filter. Value filters do
//!   not nest.
//! * Attributes kept as rows (`Group.members`, `User.groups`, [`AttributeDef::stored_as_rows`]) are
//!   read from the document when it holds them; the store adds them before it evaluates in memory.

use std::borrow::Cow;
use std::cmp::Ordering;

use scimd_filter::{AttrPath, CompValue, CompareOp, Filter};
use serde_json::{Map, Value};

use crate::attribute::{AttrType, AttributeDef};
use crate::error::ScimError;
use crate::resource::{Resolved, ResourceSchema};
use crate::value::{canonical_datetime, fold_case};

/// Deepest nesting of `not (…)`, mixed `and`/`or` groups and value filters the checker follows.
///
/// The parser already stops at 32 levels; this bound protects callers that build trees by hand.
/// Chains of one operator (`a or b or c …`) are flattened without recursion and do not count.
pub const MAX_NESTING: usize = 64;

/// A comparison literal converted to the type of the attribute it is compared with.
///
/// This is also what the SQL compiler binds, so both sides compare the same value.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// Text for a string, reference or binary attribute; already [`fold_case`]d when the attribute
    /// is not `caseExact` ([`AttributeDef::folds_case`]).
    Str(String),
    /// A boolean (from `true`/`false`, or the strings `"true"`/`"false"` in any case).
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction (decimal attributes, or a fractional literal for an integer one).
    Dec(f64),
    /// A dateTime in the [`canonical_datetime`] form.
    DateTime(String),
}

/// What one attribute expression reads: the resolved attribute path and the sub-attribute whose
/// values are compared.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The attribute as resolved against the schema. Inside a value filter, `attr` is the outer
    /// attribute (`emails`) and `sub` the inner path (`type`).
    pub resolved: Resolved<'a>,
    /// The sub-attribute read inside each value of the attribute: the one the path names, or, for a
    /// comparison on a complex attribute named alone, its `value` sub-attribute. `None` when the
    /// attribute's values themselves are read.
    pub sub: Option<&'a AttributeDef>,
}

impl<'a> Target<'a> {
    /// The definition whose values are compared.
    #[must_use]
    pub fn compared(&self) -> &'a AttributeDef {
        self.sub.unwrap_or(self.resolved.attr)
    }

    /// Whether `sub` is the implicit `value` of a complex attribute (`members eq "id"`).
    #[must_use]
    pub fn implicit_value(&self) -> bool {
        self.resolved.sub.is_none() && self.sub.is_some()
    }
}

/// A filter whose attributes are resolved and whose literals are typed: what [`check_filter`]
/// returns, what the evaluator runs and what the SQL compiler translates.
///
/// `and`/`or` chains are flattened into lists.
#[derive(Clone, Debug)]
pub enum CheckedFilter<'a> {
    /// `attr pr`.
    Present(Target<'a>),
    /// `attr op literal`.
    Compare {
        /// What is compared.
        target: Target<'a>,
        /// The operator (`ne` means `not (eq)`).
        op: CompareOp,
        /// The literal, converted to the attribute's type.
        operand: Operand,
    },
    /// `attr[filter]`: one value of `target` satisfies `filter`, whose targets are sub-attributes
    /// of `target` (their `resolved.attr` is `target`'s attribute).
    ValuePath {
        /// The complex attribute (`target.sub` is `None`).
        target: Target<'a>,
        /// The filter each value is tested with.
        filter: Box<CheckedFilter<'a>>,
    },
    /// Every part holds.
    And(Vec<CheckedFilter<'a>>),
    /// Some part holds.
    Or(Vec<CheckedFilter<'a>>),
    /// The part does not hold.
    Not(Box<CheckedFilter<'a>>),
}

/// Evaluates `filter` against the stored (normalised) document `doc`.
///
/// ```
/// use scimd_schema::{ResourceSchema, filter_eval::matches};
/// let rs = ResourceSchema::user();
/// let doc = serde_json::json!({"userName": "bjensen", "emails": [{"value": "b@example.com", "type": "work"}]});
/// let f = scimd_filter::parse_filter(r#"userName eq "BJensen" and emails[type eq "work"]"#).unwrap();
/// assert_eq!(matches(&rs, &f, &doc), Ok(true));
/// let bad = scimd_filter::parse_filter("userName gt true and active gt true").unwrap();
/// assert_eq!(matches(&rs, &bad, &doc).unwrap_err().status, 400);
/// ```
///
/// # Errors
///
/// 400 `invalidFilter` when the filter names an unknown attribute or compares in a way the
/// attribute's type does not allow (see the module docs); the document plays no part in that.
pub fn matches(rs: &ResourceSchema, filter: &Filter, doc: &Value) -> Result<bool, ScimError> {
    Ok(check_filter(rs, filter)?.matches(doc))
}

/// The schema checks of [`matches()`] without a document: what the SQL compiler must reject too.
///
/// # Errors
///
/// As [`check_filter`].
pub fn validate_filter(rs: &ResourceSchema, filter: &Filter) -> Result<(), ScimError> {
    check_filter(rs, filter).map(|_| ())
}

/// Resolves every attribute of `filter` against `rs` and converts every literal.
///
/// # Errors
///
/// 400 `invalidFilter`: unknown attribute or sub-attribute, operator and type that do not go
/// together, literal of the wrong type, a value filter on a non-complex attribute or inside another
/// value filter, nesting deeper than [`MAX_NESTING`].
pub fn check_filter<'a>(rs: &'a ResourceSchema, filter: &Filter) -> Result<CheckedFilter<'a>, ScimError> {
    Checker { rs, outer: None }.check(filter, 0)
}

/// A value filter (`emails[type eq "work"]`, the brackets of a PATCH path), checked against the
/// attribute it filters; see [`check_value_filter`].
#[derive(Clone, Debug)]
pub struct ValueFilter<'a>(CheckedFilter<'a>);

impl<'a> ValueFilter<'a> {
    /// Whether one value (one element of the multi-valued attribute) satisfies the filter.
    #[must_use]
    pub fn matches_element(&self, element: &Value) -> bool {
        eval(&self.0, Subject::Element(element))
    }

    /// The checked tree; its targets are sub-attributes of the filtered attribute.
    #[must_use]
    pub fn checked(&self) -> &CheckedFilter<'a> {
        &self.0
    }
}

/// Checks the inner filter of `attr[filter]` (a PATCH path's brackets), whose attribute paths name
/// sub-attributes of `attr`.
///
/// # Errors
///
/// 400 `invalidFilter` as [`check_filter`]; also when `attr` is not complex.
pub fn check_value_filter<'a>(
    rs: &'a ResourceSchema,
    attr: Resolved<'a>,
    filter: &Filter,
) -> Result<ValueFilter<'a>, ScimError> {
    if attr.attr.kind != AttrType::Complex || attr.sub.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "\"{}\" is not a complex attribute: a value filter in brackets needs one",
            attr.leaf().name
        )));
    }
    Ok(ValueFilter(Checker { rs, outer: Some(attr) }.check(filter, 0)?))
}

/// Checks that `op` applies to an attribute defined by `def`, and converts `value` to its type.
///
/// # Errors
///
/// 400 `invalidFilter` (RFC 7644 §3.4.2.2) with a detail naming the attribute.
pub fn check_comparison(def: &AttributeDef, op: CompareOp, value: &CompValue) -> Result<Operand, ScimError> {
    comparison(def, &|| def.name.clone(), op, value)
}

fn kind_name(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean",
        AttrType::Decimal => "a decimal",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "a dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "a reference",
        AttrType::Complex => "complex",
    }
}

/// Parses `"true"`/`"false"` in any case (docs/idp-compatibility.md §5: Entra flag-off writes `"True"`).
pub(crate) fn parse_bool_text(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `name` renders the attribute for an error detail; it is only called on the error path.
fn comparison(
    def: &AttributeDef,
    name: &dyn Fn() -> String,
    op: CompareOp,
    value: &CompValue,
) -> Result<Operand, ScimError> {
    let err = |why: String| {
        Err(ScimError::invalid_filter(format!("\"{}\" is {}: {why}", name(), kind_name(def.kind))))
    };
    if matches!(value, CompValue::Null) {
        let name = name();
        return Err(ScimError::invalid_filter(format!(
            "null is not a comparison value; \"not ({name} pr)\" finds resources without \"{name}\""
        )));
    }
    let string_op = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let order_op = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    match def.kind {
        AttrType::Complex => err("compare one of its sub-attributes".into()),
        // RFC 7644 §3.4.2.2: "gt … If the attribute data type is boolean or binary, the filter is
        // rejected"; co/sw/ew are defined on strings.
        AttrType::Boolean => {
            if string_op || order_op {
                return err(format!("only eq, ne and pr apply, not {op}"));
            }
            match value {
                CompValue::Bool(b) => Ok(Operand::Bool(*b)),
                // docs/idp-compatibility.md §5: `roles[primary eq "True"]`.
                CompValue::String(s) => match parse_bool_text(s) {
                    Some(b) => Ok(Operand::Bool(b)),
                    None => err(format!("compare it with true or false, not {value}")),
                },
                _ => err(format!("compare it with true or false, not {value}")),
            }
        }
        AttrType::Binary => {
            if string_op || order_op {
                return err(format!("only eq, ne and pr apply, not {op}"));
            }
            match value {
                CompValue::String(s) => Ok(Operand::Str(s.clone())),
                _ => err(format!("compare it with a base64 string, not {value}")),
            }
        }
        AttrType::String | AttrType::Reference => {
            let text = match value {
                CompValue::String(s) => Cow::Borrowed(s.as_str()),
                // Entra's unquoted values (docs/idp-compatibility.md §1.6): `externalId eq 12345` lexes as a
                // number, `displayName eq true` as a boolean; compare their text. A number's text
                // is the literal as written (`12345678901234567890123`, `1.50`), never a float's.
                CompValue::Number(n) => Cow::Borrowed(n.as_str()),
                CompValue::Bool(b) => Cow::Owned(b.to_string()),
                CompValue::Null => return err("null is not a comparison value".into()),
            };
            Ok(Operand::Str(if def.folds_case() { fold_case(&text).into_owned() } else { text.into_owned() }))
        }
        AttrType::Integer | AttrType::Decimal => {
            if string_op {
                return err(format!("{op} applies to strings only"));
            }
            let number = match value {
                // RFC 7643 §2.3.4 / §2.3.3: exact as an i64 when the literal is a whole number
                // that fits; otherwise (a fraction, or past 64 bits) the nearest f64.
                CompValue::Number(n) => number_operand(n.as_i64(), n.as_f64()),
                CompValue::String(s) => {
                    let s = s.trim();
                    number_operand(s.parse::<i64>().ok(), s.parse::<f64>().ok())
                }
                _ => None,
            };
            match number {
                Some(Operand::Int(i)) if def.kind == AttrType::Decimal => {
                    // Whole literals compare with decimals as decimals.
                    Ok(Operand::Dec(i as f64))
                }
                Some(n) => Ok(n),
                None => err(format!("{value} is not a number")),
            }
        }
        AttrType::DateTime => {
            if string_op {
                return err(format!("{op} applies to strings only"));
            }
            match value {
                CompValue::String(s) => match canonical_datetime(s) {
                    Some(c) => Ok(Operand::DateTime(c)),
                    None => err(format!("{value} is not an RFC 3339 date-time")),
                },
                _ => err(format!("{value} is not an RFC 3339 date-time")),
            }
        }
    }
}

fn number_operand(int: Option<i64>, float: Option<f64>) -> Option<Operand> {
    match (int, float) {
        (Some(i), _) => Some(Operand::Int(i)),
        (None, Some(f)) if f.is_finite() => Some(Operand::Dec(f)),
        _ => None,
    }
}

struct Checker<'a> {
    rs: &'a ResourceSchema,
    /// Inside a value filter: the attribute whose sub-attributes the inner paths name.
    outer: Option<Resolved<'a>>,
}

impl<'a> Checker<'a> {
    fn check(&self, f: &Filter, depth: usize) -> Result<CheckedFilter<'a>, ScimError> {
        if depth > MAX_NESTING {
            return Err(ScimError::invalid_filter(format!(
                "the filter nests deeper than {MAX_NESTING} levels"
            )));
        }
        match f {
            Filter::And(..) => Ok(CheckedFilter::And(self.check_chain(f, true, depth)?)),
            Filter::Or(..) => Ok(CheckedFilter::Or(self.check_chain(f, false, depth)?)),
            Filter::Not(inner, _) => Ok(CheckedFilter::Not(Box::new(self.check(inner, depth + 1)?))),
            Filter::Present { attr, .. } => {
                let resolved = self.resolve(attr)?;
                Ok(CheckedFilter::Present(Target { resolved, sub: resolved.sub }))
            }
            Filter::Compare { attr, op, value, .. } => {
                let resolved = self.resolve(attr)?;
                let mut target = Target { resolved, sub: resolved.sub };
                if resolved.leaf().kind == AttrType::Complex {
                    // RFC 7644 §3.4.2.2 / §3.5.2: a complex attribute without a sub-attribute is
                    // compared by its `value` (`members eq "id"`).
                    match resolved.attr.sub_attribute("value") {
                        Some(value_def) if resolved.sub.is_none() => target.sub = Some(value_def),
                        _ => {
                            return Err(ScimError::invalid_filter(format!(
                                "\"{}\" is complex: compare one of its sub-attributes",
                                attr
                            )));
                        }
                    }
                }
                let operand = comparison(target.compared(), &|| attr.to_string(), *op, value)?;
                Ok(CheckedFilter::Compare { target, op: *op, operand })
            }
            Filter::ValuePath { attr, filter, .. } => {
                if self.outer.is_some() {
                    return Err(ScimError::invalid_filter(format!(
                        "\"{}\": a value filter cannot hold another value filter",
                        attr
                    )));
                }
                let resolved = self.resolve(attr)?;
                if resolved.sub.is_some() || resolved.attr.kind != AttrType::Complex {
                    return Err(ScimError::invalid_filter(format!(
                        "\"{}\" is not a complex attribute: a value filter in brackets needs one",
                        attr
                    )));
                }
                let inner = Checker { rs: self.rs, outer: Some(resolved) }.check(filter, depth + 1)?;
                Ok(CheckedFilter::ValuePath {
                    target: Target { resolved, sub: None },
                    filter: Box::new(inner),
                })
            }
        }
    }

    /// Flattens a chain of `and` (or `or`) nodes without recursing down it, then checks each part.
    fn check_chain(&self, f: &Filter, and: bool, depth: usize) -> Result<Vec<CheckedFilter<'a>>, ScimError> {
        let mut parts = Vec::new();
        let mut stack = vec![f];
        while let Some(node) = stack.pop() {
            match node {
                Filter::And(a, b, _) if and => {
                    stack.push(b);
                    stack.push(a);
                }
                Filter::Or(a, b, _) if !and => {
                    stack.push(b);
                    stack.push(a);
                }
                other => parts.push(self.check(other, depth + 1)?),
            }
        }
        Ok(parts)
    }

    fn resolve(&self, p: &AttrPath) -> Result<Resolved<'a>, ScimError> {
        let Some(outer) = self.outer else {
            return self
                .rs
                .resolve_path(p)
                .map_err(|e| ScimError::invalid_filter(format!("{e} (in \"{}\")", p)));
        };
        // Inside `emails[…]` a path names a sub-attribute: `type`, or spelled out in full,
        // `emails.type` (or with the schema URN in front).
        let sub_name = match (&p.urn, &p.sub_attr) {
            (None, None) => Some(p.name.as_str()),
            (urn, Some(sub))
                if p.name.eq_ignore_ascii_case(&outer.attr.name)
                    && urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(&outer.schema.id)) =>
            {
                Some(sub.as_str())
            }
            _ => None,
        };
        match sub_name.and_then(|s| outer.attr.sub_attribute(s)) {
            Some(sub) => Ok(Resolved { sub: Some(sub), ..outer }),
            None => Err(ScimError::invalid_filter(format!(
                "attribute \"{}\" has no sub-attribute \"{}\"",
                outer.attr.name, p
            ))),
        }
    }
}

/// Looks a key up by its canonical spelling, falling back to a case-insensitive scan (RFC 7643 §2.1:
/// attribute names are case-insensitive; stored documents use the canonical case, so the scan only
/// runs for attributes that are absent).
pub(crate) fn get_ci<'v>(map: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The value of the attribute `r` names (not its sub-attribute) in a document.
pub(crate) fn attribute_value<'v>(doc: &'v Value, r: &Resolved<'_>) -> Option<&'v Value> {
    let obj = doc.as_object()?;
    let container = if r.is_core { obj } else { get_ci(obj, &r.schema.id)?.as_object()? };
    get_ci(container, &r.attr.name)
}

/// RFC 7644 §3.4.2.2 `pr`: "If the attribute has a non-empty value". An object counts when one of
/// its members does; the check goes one level into objects only (sub-attributes are not complex).
pub(crate) fn is_present(v: &Value) -> bool {
    fn scalar(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Bool(_) | Value::Number(_) => true,
        }
    }
    fn one(v: &Value) -> bool {
        match v {
            Value::Object(o) => o.values().any(scalar),
            Value::Array(a) => a.iter().any(scalar),
            other => scalar(other),
        }
    }
    match v {
        Value::Array(a) => a.iter().any(one),
        other => one(other),
    }
}

/// What a filter is tested against (the SQL compiler has the same notion, `sql::compile`'s
/// `Subject`).
#[derive(Clone, Copy)]
enum Subject<'v> {
    /// A whole document.
    Doc(&'v Value),
    /// One value of the attribute a value filter is on.
    Element(&'v Value),
}

impl CheckedFilter<'_> {
    /// Whether the document satisfies the filter.
    #[must_use]
    pub fn matches(&self, doc: &Value) -> bool {
        eval(self, Subject::Doc(doc))
    }
}

/// Calls `f` on every value the target reads in `subject` until it returns true.
fn any_value(target: &Target<'_>, subject: Subject<'_>, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    fn each(v: &Value, f: &mut dyn FnMut(&Value) -> bool) -> bool {
        match v {
            Value::Array(items) => items.iter().any(&mut *f),
            other => f(other),
        }
    }
    match subject {
        Subject::Element(elem) => {
            let Some(sub) = target.sub else { return false };
            match elem.as_object().and_then(|o| get_ci(o, &sub.name)) {
                Some(v) => each(v, f),
                None => false,
            }
        }
        Subject::Doc(doc) => {
            let Some(v) = attribute_value(doc, &target.resolved) else { return false };
            match target.sub {
                None => each(v, f),
                Some(sub) => {
                    each(v, &mut |elem: &Value| match elem.as_object().and_then(|o| get_ci(o, &sub.name)) {
                        Some(inner) => each(inner, f),
                        None => false,
                    })
                }
            }
        }
    }
}

fn eval(f: &CheckedFilter<'_>, subject: Subject<'_>) -> bool {
    match f {
        CheckedFilter::And(parts) => parts.iter().all(|p| eval(p, subject)),
        CheckedFilter::Or(parts) => parts.iter().any(|p| eval(p, subject)),
        CheckedFilter::Not(inner) => !eval(inner, subject),
        CheckedFilter::Present(target) => any_value(target, subject, &mut is_present),
        CheckedFilter::Compare { target, op, operand } => {
            let def = target.compared();
            // `ne` is `not (eq)`: see the module docs.
            let (op, negate) = if *op == CompareOp::Ne { (CompareOp::Eq, true) } else { (*op, false) };
            let hit = any_value(target, subject, &mut |v| compare(def, op, operand, v));
            hit != negate
        }
        CheckedFilter::ValuePath { target, filter } => match subject {
            Subject::Doc(doc) => match attribute_value(doc, &target.resolved) {
                Some(Value::Array(items)) => items.iter().any(|e| eval(filter, Subject::Element(e))),
                Some(single @ Value::Object(_)) => eval(filter, Subject::Element(single)),
                _ => false,
            },
            // Rejected by the checker.
            Subject::Element(_) => false,
        },
    }
}

fn ordering_holds(op: CompareOp, ord: Option<Ordering>) -> bool {
    match (op, ord) {
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

fn number_cmp(v: &Value, int: Option<i64>, float: f64) -> Option<Ordering> {
    match v {
        Value::Number(n) => match (n.as_i64(), int) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => n.as_f64()?.partial_cmp(&float),
        },
        Value::String(s) => {
            let s = s.trim();
            match (s.parse::<i64>().ok(), int) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => s.parse::<f64>().ok()?.partial_cmp(&float),
            }
        }
        _ => None,
    }
}

/// One value against one operand; `op` is never `ne` here.
fn compare(def: &AttributeDef, op: CompareOp, operand: &Operand, v: &Value) -> bool {
    match operand {
        Operand::Str(lit) => {
            let Value::String(s) = v else { return false };
            let s = if def.folds_case() { fold_case(s) } else { Cow::Borrowed(s.as_str()) };
            match op {
                CompareOp::Co => s.contains(lit.as_str()),
                CompareOp::Sw => s.starts_with(lit.as_str()),
                CompareOp::Ew => s.ends_with(lit.as_str()),
                _ => ordering_holds(op, Some(s.as_ref().cmp(lit.as_str()))),
            }
        }
        Operand::Bool(b) => {
            let actual = match v {
                Value::Bool(x) => Some(*x),
                Value::String(s) => parse_bool_text(s),
                _ => None,
            };
            op == CompareOp::Eq && actual == Some(*b)
        }
        Operand::Int(i) => ordering_holds(op, number_cmp(v, Some(*i), *i as f64)),
        Operand::Dec(d) => ordering_holds(op, number_cmp(v, None, *d)),
        Operand::DateTime(lit) => {
            let Value::String(s) = v else { return false };
            let canonical = canonical_datetime(s);
            let text = canonical.as_deref().unwrap_or(s);
            ordering_holds(op, Some(text.cmp(lit.as_str())))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod proptests;
