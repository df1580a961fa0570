//! A resource type resolved against its schemas: the one object validation, projection, filtering
//! and PATCH consult to learn what an attribute path means.

use std::sync::Arc;

use scimd_filter::AttrPath;

use crate::attribute::{AttributeDef, ResourceType, Schema};

/// A resource type with its core schema and extension schemas, ready for attribute lookups.
#[derive(Clone, Debug)]
pub struct ResourceSchema {
    /// The resource type (`User`, `Group`).
    pub resource_type: ResourceType,
    /// The core schema (attributes at the top level of the JSON document).
    pub core: Arc<Schema>,
    /// Extension schemas with whether each is required (attributes under the URN key).
    pub extensions: Vec<(Arc<Schema>, bool)>,
}

/// Where an attribute lives: its schema, the attribute, and the sub-attribute when the path has one.
#[derive(Clone, Copy, Debug)]
pub struct Resolved<'a> {
    /// The schema that defines the attribute.
    pub schema: &'a Schema,
    /// Whether `schema` is the core schema (top-level JSON) or an extension (JSON under its URN).
    pub is_core: bool,
    /// The top-level attribute.
    pub attr: &'a AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'a AttributeDef>,
}

impl Resolved<'_> {
    /// The definition the path ends at: the sub-attribute if any, else the attribute.
    #[must_use]
    pub fn leaf(&self) -> &AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

/// Why a path did not resolve; callers turn it into `invalidFilter`, `invalidPath` or a silent
/// ignore, depending on where the path came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// The URN prefix names no schema of this resource type.
    UnknownSchema(String),
    /// No such attribute in the schema(s) searched.
    UnknownAttribute(String),
    /// The attribute exists but has no such sub-attribute (or is not complex).
    UnknownSubAttribute(String, String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::UnknownSchema(urn) => write!(f, "unknown schema \"{urn}\""),
            ResolveError::UnknownAttribute(a) => write!(f, "unknown attribute \"{a}\""),
            ResolveError::UnknownSubAttribute(a, s) => {
                write!(f, "attribute \"{a}\" has no sub-attribute \"{s}\"")
            }
        }
    }
}

impl ResourceSchema {
    /// All schemas of the type, core first.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        std::iter::once(&*self.core).chain(self.extensions.iter().map(|(s, _)| &**s))
    }

    /// Finds the schema with this URN (case-insensitively: RFC 7643 §2.1 makes URNs in attribute
    /// paths case-insensitive).
    #[must_use]
    pub fn schema(&self, urn: &str) -> Option<(&Schema, bool)> {
        if self.core.id.eq_ignore_ascii_case(urn) {
            return Some((&self.core, true));
        }
        self.extensions.iter().find(|(s, _)| s.id.eq_ignore_ascii_case(urn)).map(|(s, _)| (&**s, false))
    }

    /// Resolves `[urn:]name[.sub]`.
    ///
    /// RFC 7644 §3.10: without a URN the name is looked up in the core schema; scimd then also
    /// tries the extensions in order, because clients (and RFC 7644's own examples) write
    /// `employeeNumber` for the Enterprise attribute when no core attribute has that name.
    pub fn resolve(
        &self,
        urn: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Result<Resolved<'_>, ResolveError> {
        let (schema, is_core, attr) = match urn {
            Some(urn) => {
                let (schema, is_core) =
                    self.schema(urn).ok_or_else(|| ResolveError::UnknownSchema(urn.to_owned()))?;
                let attr =
                    schema.attribute(name).ok_or_else(|| ResolveError::UnknownAttribute(name.to_owned()))?;
                (schema, is_core, attr)
            }
            None => self
                .schemas()
                .enumerate()
                .find_map(|(i, s)| s.attribute(name).map(|a| (s, i == 0, a)))
                .ok_or_else(|| ResolveError::UnknownAttribute(name.to_owned()))?,
        };
        let sub = match sub {
            None => None,
            Some(sub) => Some(
                attr.sub_attribute(sub)
                    .ok_or_else(|| ResolveError::UnknownSubAttribute(attr.name.clone(), sub.to_owned()))?,
            ),
        };
        Ok(Resolved { schema, is_core, attr, sub })
    }

    /// Resolves a parsed attribute path.
    pub fn resolve_path(&self, path: &AttrPath) -> Result<Resolved<'_>, ResolveError> {
        self.resolve(path.urn.as_deref(), &path.name, path.sub_attr.as_deref())
    }
}
