//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2), parsed into a tree.
//!
//! This crate is pure: no I/O, no async, no HTTP, no SQL. It turns text into an [`ast::Filter`] or an
//! [`ast::PatchPath`], or into an [`Error`] that says at which column what was expected. Everything
//! that gives the tree meaning (which attributes exist, case-exactness, types) lives in
//! `scimd-schema`; turning a tree into SQL lives in `scimd-store`.
//!
//! ```
//! let f = scimd_filter::parse_filter(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap();
//! assert_eq!(f.to_string(), r#"emails[type eq "work" and value co "@example.com"]"#);
//! ```
#![warn(missing_docs)]

pub mod ast;

pub use ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath, Span};
