//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2), parsed into a tree.
//!
//! This crate is pure: no I/O, no async, no HTTP, no SQL. It turns text into an [`ast::Filter`] or an
//! [`ast::PatchPath`], or into an [`Error`] that says at which column what was expected. Everything
//! that gives the tree meaning (which attributes exist, case-exactness, types) lives in
//! `scimd-schema`; turning a tree into SQL lives in `scimd-store`.
//!
//! It parses the whole RFC 7644 §3.4.2.2 grammar — every operator, `and`/`or`/`not`, grouping, value
//! paths, URN-qualified attribute paths, JSON literals — and, because real identity providers send
//! them, a few things beyond it (each one documented in the parser module with the client that sends
//! it):
//!
//! - any run of whitespace between tokens (Entra's `+`-encoded spaces, once decoded);
//! - unquoted values: `externalId eq jyoung` is the string `"jyoung"` (Entra's tutorial, the Microsoft
//!   Postman collection), while `true`, `false`, `null` and JSON numbers keep their meaning;
//! - `emails[type eq "work"].value eq "x"` (Entra), read as `emails[type eq "work" and value eq "x"]`.
//!
//! Inputs are bounded by [`Limits`] (length, nesting depth, number of expressions), checked while
//! parsing, so no input can exhaust the stack or the memory.
//!
//! ```
//! let f = scimd_filter::parse_filter(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap();
//! assert_eq!(f.to_string(), r#"emails[type eq "work" and value co "@example.com"]"#);
//! ```
#![warn(missing_docs)]

pub mod ast;
mod display;
mod error;
mod lexer;
mod parser;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompValue, CompareOp, Filter, Number, PatchPath, Span};
pub use error::{Error, ErrorKind, Subject};

/// Bounds on what the parser accepts, charged while it parses.
///
/// A filter arrives in a query string or a `.search` body from any client with a token. The limits
/// keep a hostile one from costing more than a few microseconds and kilobytes: the length is checked
/// before the first byte is read, the depth before each level of recursion, the terms as they are
/// parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of `(…)`, `not (…)` and `[…]` (default 32).
    pub max_depth: usize,
    /// Most attribute expressions (`x eq y`, `x pr`) in one filter or path (default 200).
    ///
    /// `a and b and c …` becomes a left-leaning chain of nodes, so this also bounds how deep the tree
    /// is, and with it the recursion of whatever walks it (`Display`, `Drop`, an evaluator, a SQL
    /// compiler). Raise it with care.
    pub max_terms: usize,
    /// Longest input, in bytes (default 8 KiB).
    pub max_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_depth: 32, max_terms: 200, max_len: 8 * 1024 }
    }
}

/// Parses a SCIM filter (RFC 7644 §3.4.2.2) with the default [`Limits`].
///
/// # Errors
///
/// An [`Error`] that says where the input stops following the grammar, or which limit it exceeds.
///
/// ```
/// use scimd_filter::{parse_filter, CompValue, Filter};
/// let f = parse_filter("userName Eq \"bjensen\"").unwrap();
/// assert!(matches!(f, Filter::Compare { value: CompValue::String(ref s), .. } if s == "bjensen"));
/// let e = parse_filter("userName equals \"bjensen\"").unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "invalid filter at column 10: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr), found \"equals\""
/// );
/// ```
pub fn parse_filter(input: &str) -> Result<Filter, Error> {
    parse_filter_with(input, &Limits::default())
}

/// Parses a SCIM filter (RFC 7644 §3.4.2.2) within `limits`.
///
/// The grammar and the tolerances for what Entra ID and the Microsoft test tools send are listed in
/// the crate README: in short, runs of whitespace, unquoted values (`externalId eq jyoung`), and
/// `emails[type eq "work"].value eq "x"` read as `emails[type eq "work" and value eq "x"]`.
///
/// # Errors
///
/// An [`Error`] of kind [`ErrorKind::Syntax`], or [`ErrorKind::TooLong`], [`ErrorKind::TooDeep`] or
/// [`ErrorKind::TooManyTerms`] when a limit is exceeded.
pub fn parse_filter_with(input: &str, limits: &Limits) -> Result<Filter, Error> {
    parser::filter(input, limits)
}

/// Parses a PATCH operation's `path` (RFC 7644 §3.5.2) with the default [`Limits`].
///
/// ```
/// let p = scimd_filter::parse_path(r#"emails[type eq "work"].value"#).unwrap();
/// assert_eq!(p.attr.name, "emails");
/// assert_eq!(p.sub_attr.as_deref(), Some("value"));
/// assert!(p.filter.is_some());
/// ```
///
/// # Errors
///
/// An [`Error`] (subject [`Subject::Path`]) that says where the path stops following the grammar.
pub fn parse_path(input: &str) -> Result<PatchPath, Error> {
    parse_path_with(input, &Limits::default())
}

/// Parses a PATCH operation's `path` (RFC 7644 §3.5.2) within `limits`.
///
/// # Errors
///
/// As [`parse_filter_with`], with subject [`Subject::Path`].
pub fn parse_path_with(input: &str, limits: &Limits) -> Result<PatchPath, Error> {
    parser::path(input, limits)
}
