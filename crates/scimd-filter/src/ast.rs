//! The filter and PATCH-path syntax tree.
//!
//! Every node carries the byte [`Span`] of the input it was parsed from, so that errors found later
//! (an unknown attribute, a type mismatch) can still point at the column. Spans never take part in
//! equality: two trees are equal when they *mean* the same, which is what the `Display` round trip
//! (`parse(display(ast)) == ast`) promises.

use std::fmt;

/// A half-open byte range `start..end` in the parsed input.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Span {
    /// First byte of the node.
    pub start: usize,
    /// One past the last byte of the node.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    #[must_use]
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The smallest span that covers both.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// Spans are positions, not meaning: every span equals every other, so derived `PartialEq` on the
/// tree compares structure only.
impl PartialEq for Span {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

/// Consistent with `PartialEq`: all spans are equal, so all hash alike.
impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

/// RFC 7644 §3.4.2.2 `attrPath = [URI ":"] ATTRNAME *1subAttr`.
///
/// Attribute names are case-insensitive (RFC 7643 §2.1); the parser keeps the spelling it was given
/// and the schema layer resolves it. `PartialEq` compares names case-insensitively for that reason.
#[derive(Clone, Debug, Eq)]
pub struct AttrPath {
    /// The schema URN prefix, without the trailing colon
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`).
    pub urn: Option<String>,
    /// The attribute name (`manager`, `userName`).
    pub name: String,
    /// The sub-attribute, after the dot (`value` in `manager.value`).
    pub sub_attr: Option<String>,
    /// Where in the input this path stands.
    pub span: Span,
}

impl PartialEq for AttrPath {
    fn eq(&self, other: &Self) -> bool {
        fn ci(a: &Option<String>, b: &Option<String>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
        }
        ci(&self.urn, &other.urn)
            && self.name.eq_ignore_ascii_case(&other.name)
            && ci(&self.sub_attr, &other.sub_attr)
    }
}

impl AttrPath {
    /// A path with no URN and no sub-attribute (handy in tests and in code that builds filters).
    #[must_use]
    pub fn simple(name: impl Into<String>) -> Self {
        Self { urn: None, name: name.into(), sub_attr: None, span: Span::default() }
    }

    /// A path `name.sub` with no URN.
    #[must_use]
    pub fn with_sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        Self { urn: None, name: name.into(), sub_attr: Some(sub.into()), span: Span::default() }
    }
}

/// RFC 7644 §3.4.2.2 Table 3: the attribute operators that take a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains (strings).
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in the RFC's order.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The operator as the RFC spells it, lower case.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 7644 §3.4.2.2 `compValue = false / null / true / number / string` (JSON literals, RFC 7159).
#[derive(Clone, Debug, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A JSON number, with the literal's text as written (see [`Number`]).
    Number(Number),
    /// A JSON string, escapes decoded. Also what an unquoted bare word becomes (Entra's tutorial sends
    /// `externalId eq jyoung`; see the parser's tolerances).
    String(String),
}

/// A SCIM filter (RFC 7644 §3.4.2.2).
///
/// Precedence, loosest first: `or`, `and`, `not`/grouping/attribute expressions. Grouping
/// parentheses leave no node of their own; `Display` puts back the parentheses the precedence needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `attrPath pr`: the attribute has a non-empty value.
    Present {
        /// The attribute tested.
        attr: AttrPath,
        /// The whole expression.
        span: Span,
    },
    /// `attrPath compareOp compValue`.
    Compare {
        /// The attribute compared.
        attr: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal it is compared with.
        value: CompValue,
        /// The whole expression.
        span: Span,
    },
    /// `attrPath "[" valFilter "]"`: some element of the multi-valued (or complex) attribute matches
    /// the inner filter, whose attribute paths name sub-attributes of `attr`.
    ValuePath {
        /// The multi-valued attribute (`emails`).
        attr: AttrPath,
        /// The filter each element is tested with (`type eq "work"`).
        filter: Box<Filter>,
        /// The whole expression.
        span: Span,
    },
    /// `filter and filter`.
    And(Box<Filter>, Box<Filter>, Span),
    /// `filter or filter`.
    Or(Box<Filter>, Box<Filter>, Span),
    /// `not "(" filter ")"`.
    Not(Box<Filter>, Span),
}

impl Filter {
    /// The span of the whole expression.
    #[must_use]
    pub fn span(&self) -> Span {
        match self {
            Filter::Present { span, .. }
            | Filter::Compare { span, .. }
            | Filter::ValuePath { span, .. }
            | Filter::And(_, _, span)
            | Filter::Or(_, _, span)
            | Filter::Not(_, span) => *span,
        }
    }
}

/// RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`: where a PATCH operation applies.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    /// The attribute (`members`, `name.givenName`, `urn:…:User:manager`). When `filter` is set the
    /// attribute has no sub-attribute here; the sub-attribute after the brackets is `sub_attr` below.
    pub attr: AttrPath,
    /// The value filter in brackets (`members[value eq "2819c223"]`).
    pub filter: Option<Filter>,
    /// The sub-attribute after the brackets (`emails[type eq "work"].value` gives `value`).
    pub sub_attr: Option<String>,
    /// The whole path.
    pub span: Span,
}

/// A number literal of a filter (RFC 7644 §3.4.2.2 `compValue`, a JSON number, RFC 8259 §6).
///
/// The text is kept as written: against a string attribute the literal compares as that text
/// (Entra sends `externalId eq 12345678901234567890123` unquoted, and `1.50` is not `1.5` as a
/// string), against a number attribute as the number it denotes. [`Number::value`] is that
/// number: an integer when the literal is one and fits 64 bits, so ids and counts stay exact, else
/// the nearest `f64`.
#[derive(Clone, Debug)]
pub struct Number {
    text: String,
    value: serde_json::Number,
}

impl Number {
    /// The literal `text`, when it is a JSON number within the range of an `f64`; `None`
    /// otherwise. The caller has checked the RFC 8259 §6 grammar.
    #[must_use]
    pub fn from_literal(text: &str) -> Option<Number> {
        let value = if text.contains(['.', 'e', 'E']) {
            None
        } else {
            text.parse::<u64>()
                .ok()
                .map(serde_json::Number::from)
                .or_else(|| text.parse::<i64>().ok().map(serde_json::Number::from))
        };
        let value = match value {
            Some(v) => v,
            None => text.parse::<f64>().ok().and_then(serde_json::Number::from_f64)?,
        };
        Some(Number { text: text.to_owned(), value })
    }

    /// The number `f` (finite), written as serde_json writes it.
    #[must_use]
    pub fn from_f64(f: f64) -> Option<Number> {
        serde_json::Number::from_f64(f).map(Number::from)
    }

    /// The literal as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number the literal denotes.
    #[must_use]
    pub fn value(&self) -> &serde_json::Number {
        &self.value
    }

    /// The value as an `i64`, when it is an integer that fits.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        self.value.as_i64()
    }

    /// The value as a `u64`, when it is a non-negative integer that fits.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        self.value.as_u64()
    }

    /// The value as the nearest `f64`.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        self.value.as_f64()
    }
}

/// Two literals are equal when they are written alike (`1.50` is not `1.5`: as strings they
/// differ), which is what the `Display` round trip preserves.
impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl From<serde_json::Number> for Number {
    fn from(value: serde_json::Number) -> Self {
        Number { text: value.to_string(), value }
    }
}

macro_rules! number_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Self {
                Number::from(serde_json::Number::from(n))
            }
        }
    )*};
}
number_from!(i8, i16, i32, i64, u8, u16, u32, u64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
