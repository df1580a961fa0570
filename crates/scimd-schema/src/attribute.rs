//! Attribute and schema definitions with every RFC 7643 §2 / §7 characteristic.
//!
//! These types serialise to, and deserialise from, the RFC 7643 §7 representation served at
//! `/Schemas`, so a custom extension is loaded from the same JSON a client would read back.

use serde::{Deserialize, Serialize};

/// RFC 7643 §2.3 attribute data types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    /// §2.3.1 A sequence of Unicode characters.
    String,
    /// §2.3.2 `true` or `false`.
    Boolean,
    /// §2.3.3 A real number with at least one digit to the left and right of the period.
    Decimal,
    /// §2.3.4 A whole number with no fractional digits.
    Integer,
    /// §2.3.5 An `xsd:dateTime` without a time-zone-less form.
    DateTime,
    /// §2.3.6 base64-encoded bytes.
    Binary,
    /// §2.3.7 A URI for a resource.
    Reference,
    /// §2.3.8 A singular or multi-valued attribute made of sub-attributes.
    Complex,
}

/// RFC 7643 §7 `mutability`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// The attribute SHALL NOT be modified.
    ReadOnly,
    /// The attribute MAY be updated and read at any time.
    #[default]
    ReadWrite,
    /// The attribute MAY be defined at resource creation or on a record with no value, then never changed.
    Immutable,
    /// The attribute MAY be updated at any time but is never returned.
    WriteOnly,
}

/// RFC 7643 §7 `returned`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always returned, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never returned.
    Never,
    /// Returned by default, unless excluded.
    #[default]
    Default,
    /// Returned only when named in `attributes`.
    Request,
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness enforced.
    #[default]
    None,
    /// Unique within the service provider's tenant.
    Server,
    /// Globally unique.
    Global,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One attribute definition (RFC 7643 §7 "attributes" and "subAttributes").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    /// The attribute's name, in its canonical case.
    pub name: String,
    /// The data type.
    #[serde(rename = "type")]
    pub kind: AttrType,
    /// Whether the attribute holds a list.
    #[serde(default)]
    pub multi_valued: bool,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// Whether a value is required.
    #[serde(default)]
    pub required: bool,
    /// Suggested values (`work`, `home`, …); informative, not enforced (RFC 7643 §7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// Whether string comparison is case-sensitive.
    #[serde(default)]
    pub case_exact: bool,
    /// Whether and when the attribute can be changed.
    #[serde(default)]
    pub mutability: Mutability,
    /// When the attribute is returned.
    #[serde(default)]
    pub returned: Returned,
    /// How unique the value must be.
    #[serde(default)]
    pub uniqueness: Uniqueness,
    /// For `reference` attributes: the resource types (or `external`, `uri`) it may point at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// For `complex` attributes: the sub-attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
    /// Not part of RFC 7643: marks `multiValued` attributes whose elements scimd keeps outside the
    /// resource document (Group `members`, User `groups`), so the PATCH engine reports changes to
    /// them as rows to insert or delete instead of rewriting a list.
    #[serde(default, skip_serializing_if = "is_false", rename = "x-scimd-stored-as-rows")]
    pub stored_as_rows: bool,
}

impl AttributeDef {
    /// A single-valued, optional, readWrite, case-insensitive attribute of the given type: the RFC
    /// 7643 §2.2 defaults. Adjust with the builder methods below.
    #[must_use]
    pub fn new(name: impl Into<String>, kind: AttrType) -> Self {
        Self {
            name: name.into(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
            stored_as_rows: false,
        }
    }

    /// Finds a sub-attribute by name, case-insensitively (RFC 7643 §2.1).
    #[must_use]
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether string values of this attribute compare case-insensitively: strings and references
    /// that are not `caseExact`. Other types have no case.
    #[must_use]
    pub fn folds_case(&self) -> bool {
        matches!(self.kind, AttrType::String | AttrType::Reference) && !self.case_exact
    }
}

/// A schema (RFC 7643 §7): a URN and its attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The schema URN.
    pub id: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The top-level attributes.
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// Finds a top-level attribute by name, case-insensitively (RFC 7643 §2.1).
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// RFC 7643 §6 `schemaExtensions` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaExtension {
    /// The extension schema URN.
    pub schema: String,
    /// Whether resources of the type must carry it.
    pub required: bool,
}

/// RFC 7643 §6 resource type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    /// The type's id (`User`).
    pub id: String,
    /// The type's name (`User`), used in `meta.resourceType`.
    pub name: String,
    /// The endpoint, relative to the base URL (`/Users`).
    pub endpoint: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The core schema URN.
    pub schema: String,
    /// The extensions resources of this type may carry.
    #[serde(default)]
    pub schema_extensions: Vec<SchemaExtension>,
}
