//! The SCIM error (RFC 7644 §3.12): what every protocol rule in this crate fails with.

use std::fmt;

/// RFC 7644 §3.12 Table 9: the `scimType` detail error keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter syntax was invalid or the attribute and comparison combination is not supported.
    InvalidFilter,
    /// The filter yields too many results for the server to process.
    TooMany,
    /// One or more of the attribute values are already in use or reserved.
    Uniqueness,
    /// The modification is incompatible with the target attribute's mutability.
    Mutability,
    /// The request body structure was invalid or did not conform to the schema.
    InvalidSyntax,
    /// The "path" attribute was invalid or malformed.
    InvalidPath,
    /// The "path" did not yield an attribute or attribute value that could be operated on.
    NoTarget,
    /// A required value was missing, or the value specified was not compatible.
    InvalidValue,
    /// The specified SCIM protocol version is not supported.
    InvalidVers,
    /// The request cannot be completed because of sensitive information in the request URI.
    Sensitive,
    /// RFC 9865 §4: the cursor is not valid (malformed, or not issued for this query).
    InvalidCursor,
}

impl ScimType {
    /// The keyword as the RFC spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
        }
    }

    /// RFC 7644 §3.12 Table 9: the HTTP status that goes with the keyword.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            ScimType::Uniqueness => 409,
            ScimType::Sensitive => 403,
            _ => 400,
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error: HTTP status, optional `scimType`, and a `detail` for the client.
///
/// `detail` is written for the person debugging their identity provider: it names the attribute,
/// the value or the column, never internal state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}{}: {detail}", scim_type.map(|t| format!(" {t}")).unwrap_or_default())]
pub struct ScimError {
    /// The HTTP status (rendered as a string in the body, RFC 7644 §3.12).
    pub status: u16,
    /// The detail keyword, when one applies.
    pub scim_type: Option<ScimType>,
    /// Human-readable explanation.
    pub detail: String,
}

impl ScimError {
    /// An error with a `scimType`; the status follows from it.
    #[must_use]
    pub fn new(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self { status: scim_type.status(), scim_type: Some(scim_type), detail: detail.into() }
    }

    /// An error with a status and no `scimType` (404, 412, 413, 415, …).
    #[must_use]
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        Self { status, scim_type: None, detail: detail.into() }
    }

    /// 400 `invalidFilter`.
    #[must_use]
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidFilter, detail)
    }

    /// 400 `invalidSyntax`.
    #[must_use]
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidSyntax, detail)
    }

    /// 400 `invalidPath`.
    #[must_use]
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidPath, detail)
    }

    /// 400 `invalidValue`.
    #[must_use]
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidValue, detail)
    }

    /// 400 `mutability`.
    #[must_use]
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ScimType::Mutability, detail)
    }

    /// 400 `noTarget`.
    #[must_use]
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ScimType::NoTarget, detail)
    }

    /// 409 `uniqueness`.
    #[must_use]
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(ScimType::Uniqueness, detail)
    }

    /// 404 with no `scimType`.
    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::status(404, detail)
    }
}

/// RFC 7644 §3.12: the body of an error response. `status` is a string.
impl ScimError {
    /// The error as the JSON body RFC 7644 §3.12 specifies.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "schemas": [crate::urn::ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".into(), t.as_str().into());
        }
        body
    }
}
