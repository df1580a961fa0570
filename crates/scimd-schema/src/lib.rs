//! RFC 7643 SCIM schemas and the rules that give a SCIM document meaning.
//!
//! This crate is pure: no I/O, no async, no HTTP, no SQL. Given the schemas of a resource type it
//! validates and normalises incoming resources, projects outgoing ones (`attributes` /
//! `excludedAttributes`), evaluates filters in memory, and applies PATCH operations. Every rule cites
//! the RFC section it implements at the point of use.
#![warn(missing_docs)]

pub mod attribute;
pub mod builtin;
pub mod discovery;
pub mod error;
pub mod filter_eval;
pub mod patch;
pub mod projection;
pub mod resource;
pub mod urn;
pub mod validate;
pub mod value;
pub mod writes;

pub use attribute::{
    AttrType, AttributeDef, Mutability, ResourceType, Returned, Schema, SchemaExtension, Uniqueness,
};
pub use error::{ScimError, ScimType};
pub use resource::{ResolveError, Resolved, ResourceSchema};
