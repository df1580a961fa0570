//! The schemas every SCIM service provider speaks: core User and Group, the Enterprise User
//! extension (RFC 7643 §4, §8.7.1), and the three schemas that describe the discovery endpoints
//! themselves (RFC 7643 §5, §6, §7, §8.7.2).
//!
//! The definitions are written out attribute by attribute from the RFC's §8.7.1 / §8.7.2 listings,
//! so that validation, projection, filtering and `/Schemas` all read one source of truth. Where
//! scimd departs from a listing, the attribute says so and why; the departures are:
//!
//! * the RFC 7643 §3.1 common attributes `id`, `externalId` and `meta` are part of each core
//!   schema's attribute list here, so they resolve in filters, sorting and projection like any
//!   other attribute. §8.7.1 leaves them out of the `/Schemas` listing; [`schema_for_discovery`]
//!   takes them out again before a schema is served;
//! * Group `displayName` is `required` (RFC 7643 §4.2 says "REQUIRED"; the §8.7.1 listing says
//!   `false`) and has `uniqueness: server`, because scimd answers a duplicate group name with 409
//!   (identity providers match groups by name: docs/idp-compatibility.md §1.8);
//! * Group `members` gains the `display` sub-attribute (RFC 7643 §2.4 default sub-attribute, shown
//!   in the §8.4 example, sent by Okta) and User `addresses` gains `primary` (RFC 7643 §2.4 and the
//!   §8.2 example);
//! * obvious slips in the §8.7.2 meta-schemas are corrected (see [`resource_type_schema`] and
//!   [`schema_schema`]), and the ServiceProviderConfig schema lists `etag`, which §5 defines but the
//!   §8.7.2 listing omits.

use std::sync::{Arc, OnceLock};

use crate::attribute::{
    AttrType, AttributeDef, Mutability, ResourceType, Returned, Schema, SchemaExtension, Uniqueness,
};
use crate::resource::ResourceSchema;
use crate::urn;

/// Terse builders for the long attribute lists below (private: the public surface is the schemas).
trait Build: Sized {
    fn desc(self, d: &str) -> Self;
    fn required(self) -> Self;
    fn case_exact(self) -> Self;
    fn multi(self) -> Self;
    fn mutability(self, m: Mutability) -> Self;
    fn returned(self, r: Returned) -> Self;
    fn unique(self, u: Uniqueness) -> Self;
    fn canonical(self, values: &[&str]) -> Self;
    fn refs(self, types: &[&str]) -> Self;
    fn subs(self, subs: Vec<AttributeDef>) -> Self;
    fn rows(self) -> Self;
    fn read_only(self) -> Self {
        self.mutability(Mutability::ReadOnly)
    }
}

impl Build for AttributeDef {
    fn desc(mut self, d: &str) -> Self {
        self.description = d.to_owned();
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }
    fn refs(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|v| (*v).to_owned()).collect();
        self
    }
    fn subs(mut self, subs: Vec<AttributeDef>) -> Self {
        self.sub_attributes = subs;
        self
    }
    fn rows(mut self) -> Self {
        self.stored_as_rows = true;
        self
    }
}

fn string(name: &str, desc: &str) -> AttributeDef {
    AttributeDef::new(name, AttrType::String).desc(desc)
}

fn boolean(name: &str, desc: &str) -> AttributeDef {
    AttributeDef::new(name, AttrType::Boolean).desc(desc)
}

fn integer(name: &str, desc: &str) -> AttributeDef {
    AttributeDef::new(name, AttrType::Integer).desc(desc)
}

fn reference(name: &str, desc: &str, types: &[&str]) -> AttributeDef {
    AttributeDef::new(name, AttrType::Reference).desc(desc).refs(types)
}

fn complex(name: &str, desc: &str, subs: Vec<AttributeDef>) -> AttributeDef {
    AttributeDef::new(name, AttrType::Complex).desc(desc).subs(subs)
}

const DISPLAY_DESC: &str = "A human-readable name, primarily used for display purposes.  READ-ONLY.";

/// RFC 7643 §2.4: the `primary` sub-attribute of a multi-valued attribute.
fn primary(what: &str) -> AttributeDef {
    boolean(
        "primary",
        &format!(
            "A Boolean value indicating the 'primary' or preferred attribute value for this \
             attribute{what}.  The primary attribute value 'true' MUST appear no more than once."
        ),
    )
}

/// The `value` / `display` / `type` / `primary` quartet most User multi-valued attributes share
/// (RFC 7643 §2.4, §4.1.2).
fn plural(
    name: &str,
    desc: &str,
    value: AttributeDef,
    type_desc: &str,
    canonical: &[&str],
    primary_what: &str,
) -> AttributeDef {
    complex(
        name,
        desc,
        vec![
            value,
            string("display", DISPLAY_DESC),
            string("type", type_desc).canonical(canonical),
            primary(primary_what),
        ],
    )
    .multi()
}

/// The RFC 7643 §3.1 common attributes, `id`, `externalId` and `meta`, as they appear in every core
/// schema here.
///
/// RFC 7643 §3.1: `id` is "assigned by the service provider", readOnly, returned always, caseExact;
/// `externalId` is set by the provisioning client, caseExact; `meta` and all its sub-attributes are
/// readOnly. `id` is marked `required: false` in the §7 sense because §7 `required` describes what
/// a client must send, and a client never sends `id`.
#[must_use]
pub fn common_attributes() -> Vec<AttributeDef> {
    vec![
        string(
            "id",
            "A unique identifier for a SCIM resource as defined by the service provider.  \
             READ-ONLY.",
        )
        .case_exact()
        .read_only()
        .returned(Returned::Always)
        .unique(Uniqueness::Server),
        string("externalId", "A String that is an identifier for the resource as defined by the provisioning client.")
            .case_exact(),
        complex(
            "meta",
            "A complex attribute containing resource metadata.  READ-ONLY.",
            vec![
                string("resourceType", "The name of the resource type of the resource.")
                    .case_exact()
                    .read_only(),
                AttributeDef::new("created", AttrType::DateTime)
                    .desc("The \"DateTime\" that the resource was added to the service provider.")
                    .read_only(),
                AttributeDef::new("lastModified", AttrType::DateTime)
                    .desc("The most recent DateTime that the details of this resource were updated at the service provider.")
                    .read_only(),
                reference("location", "The URI of the resource being returned.", &["uri"])
                    .case_exact()
                    .read_only(),
                string("version", "The version of the resource being returned (its entity tag).")
                    .case_exact()
                    .read_only(),
            ],
        )
        .read_only(),
    ]
}

/// Removes the RFC 7643 §3.1 common attributes (as defined by [`common_attributes`]) from a schema,
/// giving the shape RFC 7643 §8.7.1 serves at `/Schemas`.
///
/// Only attributes equal to the common definitions are removed, so a schema that defines an
/// attribute of its own called `id` (the RFC 7643 §8.7.2 ResourceType and Schema schemas do) keeps
/// it.
#[must_use]
pub fn schema_for_discovery(schema: &Schema) -> Schema {
    let common = common_attributes();
    let mut out = schema.clone();
    out.attributes.retain(|a| !common.contains(a));
    out
}

/// RFC 7643 §4.1 / §8.7.1: the core User schema, plus the §3.1 common attributes (first).
#[must_use]
pub fn user_schema() -> Schema {
    let mut attributes = common_attributes();
    attributes.extend([
        string(
            "userName",
            "Unique identifier for the User, typically used by the user to directly authenticate to \
             the service provider.  Each User MUST include a non-empty userName value.  This \
             identifier MUST be unique across the service provider's entire set of Users.  REQUIRED.",
        )
        .required()
        .unique(Uniqueness::Server),
        complex(
            "name",
            "The components of the user's real name.  Providers MAY return just the full name as a \
             single string in the formatted sub-attribute, or they MAY return just the individual \
             component attributes using the other sub-attributes, or they MAY return both.  If both \
             variants are returned, they SHOULD be describing the same name, with the formatted name \
             indicating how the component attributes should be combined.",
            vec![
                string(
                    "formatted",
                    "The full name, including all middle names, titles, and suffixes as appropriate, \
                     formatted for display (e.g., 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "familyName",
                    "The family name of the User, or last name in most Western languages (e.g., \
                     'Jensen' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "givenName",
                    "The given name of the User, or first name in most Western languages (e.g., \
                     'Barbara' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "middleName",
                    "The middle name(s) of the User (e.g., 'Jane' given the full name 'Ms. Barbara J \
                     Jensen, III').",
                ),
                string(
                    "honorificPrefix",
                    "The honorific prefix(es) of the User, or title in most Western languages (e.g., \
                     'Ms.' given the full name 'Ms. Barbara J Jensen, III').",
                ),
                string(
                    "honorificSuffix",
                    "The honorific suffix(es) of the User, or suffix in most Western languages (e.g., \
                     'III' given the full name 'Ms. Barbara J Jensen, III').",
                ),
            ],
        ),
        string(
            "displayName",
            "The name of the User, suitable for display to end-users.  The name SHOULD be the full \
             name of the User being described, if known.",
        ),
        string(
            "nickName",
            "The casual way to address the user in real life, e.g., 'Bob' or 'Bobby' instead of \
             'Robert'.  This attribute SHOULD NOT be used to represent a User's username (e.g., \
             'bjensen' or 'mpepperidge').",
        ),
        reference(
            "profileUrl",
            "A fully qualified URL pointing to a page representing the User's online profile.",
            &["external"],
        ),
        string("title", "The user's title, such as \"Vice President.\""),
        string(
            "userType",
            "Used to identify the relationship between the organization and the user.  Typical \
             values used might be 'Contractor', 'Employee', 'Intern', 'Temp', 'External', and \
             'Unknown', but any value may be used.",
        ),
        string(
            "preferredLanguage",
            "Indicates the User's preferred written or spoken language.  Generally used for \
             selecting a localized user interface; e.g., 'en_US' specifies the language English and \
             country US.",
        ),
        string(
            "locale",
            "Used to indicate the User's default location for purposes of localizing items such as \
             currency, date time format, or numerical representations.",
        ),
        string(
            "timezone",
            "The User's time zone in the 'Olson' time zone database format, e.g., \
             'America/Los_Angeles'.",
        ),
        boolean("active", "A Boolean value indicating the User's administrative status."),
        // RFC 7643 §4.1.1: writeOnly, returned never. The validator passes it through; the store
        // decides what to keep (a hash, or nothing); projection never returns it.
        string(
            "password",
            "The User's cleartext password.  This attribute is intended to be used as a means to \
             specify an initial password when creating a new User or to reset an existing User's \
             password.",
        )
        .mutability(Mutability::WriteOnly)
        .returned(Returned::Never),
        plural(
            "emails",
            "Email addresses for the user.  The value SHOULD be canonicalized by the service \
             provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'.  Canonical type \
             values of 'work', 'home', and 'other'.",
            string(
                "value",
                "Email addresses for the user.  The value SHOULD be canonicalized by the service \
                 provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'.  Canonical \
                 type values of 'work', 'home', and 'other'.",
            ),
            "A label indicating the attribute's function, e.g., 'work' or 'home'.",
            &["work", "home", "other"],
            ", e.g., the preferred mailing address or primary email address",
        ),
        plural(
            "phoneNumbers",
            "Phone numbers for the User.  The value SHOULD be canonicalized by the service provider \
             according to the format specified in RFC 3966, e.g., 'tel:+1-201-555-0123'.  Canonical \
             type values of 'work', 'home', 'mobile', 'fax', 'pager', and 'other'.",
            string("value", "Phone number of the User."),
            "A label indicating the attribute's function, e.g., 'work', 'home', 'mobile'.",
            &["work", "home", "mobile", "fax", "pager", "other"],
            ", e.g., the preferred phone number or primary phone number",
        ),
        plural(
            "ims",
            "Instant messaging addresses for the User.",
            string("value", "Instant messaging address for the User."),
            "A label indicating the attribute's function, e.g., 'aim', 'gtalk', 'xmpp'.",
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            ", e.g., the preferred messenger or primary messenger",
        ),
        plural(
            "photos",
            "URLs of photos of the User.",
            reference("value", "URL of a photo of the User.", &["external"]),
            "A label indicating the attribute's function, i.e., 'photo' or 'thumbnail'.",
            &["photo", "thumbnail"],
            ", e.g., the preferred photo or thumbnail",
        ),
        complex(
            "addresses",
            "A physical mailing address for this User.  Canonical type values of 'work', 'home', and \
             'other'.  This attribute is a complex type with the following sub-attributes.",
            vec![
                string(
                    "formatted",
                    "The full mailing address, formatted for display or use with a mailing label.  \
                     This attribute MAY contain newlines.",
                ),
                string(
                    "streetAddress",
                    "The full street address component, which may include house number, street \
                     name, P.O. box, and multi-line extended street address information.  This \
                     attribute MAY contain newlines.",
                ),
                string("locality", "The city or locality component."),
                string("region", "The state or region component."),
                string("postalCode", "The zip code or postal code component."),
                string("country", "The country name component."),
                string("type", "A label indicating the attribute's function, e.g., 'work' or 'home'.")
                    .canonical(&["work", "home", "other"]),
                // Not in the §8.7.1 listing, but §2.4 gives every multi-valued attribute `primary`,
                // the §8.2 example uses it on an address, and identity providers send it.
                primary(", e.g., the preferred mailing address"),
            ],
        )
        .multi(),
        // RFC 7643 §4.1.2: "groups ... read-only", computed from Group memberships (kept as rows).
        complex(
            "groups",
            "A list of groups to which the user belongs, either through direct membership, through \
             nested groups, or dynamically calculated.",
            vec![
                string("value", "The identifier of the User's group.").read_only(),
                reference(
                    "$ref",
                    "The URI of the corresponding 'Group' resource to which the user belongs.",
                    &["User", "Group"],
                )
                .read_only(),
                string("display", DISPLAY_DESC).read_only(),
                string("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.")
                    .canonical(&["direct", "indirect"])
                    .read_only(),
            ],
        )
        .multi()
        .read_only()
        .rows(),
        plural(
            "entitlements",
            "A list of entitlements for the User that represent a thing the User has.",
            string("value", "The value of an entitlement."),
            "A label indicating the attribute's function.",
            &[],
            "",
        ),
        plural(
            "roles",
            "A list of roles for the User that collectively represent who the User is, e.g., \
             'Student', 'Faculty'.",
            string("value", "The value of a role."),
            "A label indicating the attribute's function.",
            &[],
            "",
        ),
        plural(
            "x509Certificates",
            "A list of certificates issued to the User.",
            AttributeDef::new("value", AttrType::Binary).desc("The value of an X.509 certificate."),
            "A label indicating the attribute's function.",
            &[],
            "",
        ),
    ]);
    Schema {
        id: urn::USER.to_owned(),
        name: "User".to_owned(),
        description: "User Account".to_owned(),
        attributes,
    }
}

/// RFC 7643 §4.2 / §8.7.1: the core Group schema, plus the §3.1 common attributes (first).
#[must_use]
pub fn group_schema() -> Schema {
    let mut attributes = common_attributes();
    attributes.extend([
        // RFC 7643 §4.2 says REQUIRED (the §8.7.1 listing's `required: false` contradicts its own
        // description). `uniqueness: server` because scimd enforces it (409 on a duplicate name).
        string("displayName", "A human-readable name for the Group.  REQUIRED.")
            .required()
            .unique(Uniqueness::Server),
        // RFC 7643 §4.2: "While values MAY be added or removed, sub-attributes of members are
        // 'immutable'." Members live in their own table (docs/architecture.md "Data").
        complex(
            "members",
            "A list of members of the Group.",
            vec![
                string("value", "Identifier of the member of this Group.").mutability(Mutability::Immutable),
                reference(
                    "$ref",
                    "The URI corresponding to a SCIM resource that is a member of this Group.",
                    &["User", "Group"],
                )
                .mutability(Mutability::Immutable),
                string("type", "A label indicating the type of resource, e.g., 'User' or 'Group'.")
                    .canonical(&["User", "Group"])
                    .mutability(Mutability::Immutable),
                // RFC 7643 §2.4 default sub-attribute ("having a mutability of immutable"), shown
                // in the §8.4 example and sent by Okta; absent from the §8.7.1 listing.
                string("display", "A human-readable name, primarily used for display purposes.")
                    .mutability(Mutability::Immutable),
            ],
        )
        .multi()
        .rows(),
    ]);
    Schema {
        id: urn::GROUP.to_owned(),
        name: "Group".to_owned(),
        description: "Group".to_owned(),
        attributes,
    }
}

/// RFC 7643 §4.3 / §8.7.1: the Enterprise User extension.
#[must_use]
pub fn enterprise_user_schema() -> Schema {
    Schema {
        id: urn::ENTERPRISE_USER.to_owned(),
        name: "EnterpriseUser".to_owned(),
        description: "Enterprise User".to_owned(),
        attributes: vec![
            string(
                "employeeNumber",
                "Numeric or alphanumeric identifier assigned to a person, typically based on order \
                 of hire or association with an organization.",
            ),
            string("costCenter", "Identifies the name of a cost center."),
            string("organization", "Identifies the name of an organization."),
            string("division", "Identifies the name of a division."),
            string("department", "Identifies the name of a department."),
            complex(
                "manager",
                "The User's manager.  A complex type that optionally allows service providers to \
                 represent organizational hierarchy by referencing the 'id' attribute of another \
                 User.",
                vec![
                    string(
                        "value",
                        "The id of the SCIM resource representing the User's manager.  REQUIRED.",
                    ),
                    reference(
                        "$ref",
                        "The URI of the SCIM resource representing the User's manager.  REQUIRED.",
                        &["User"],
                    ),
                    string("displayName", "The displayName of the User's manager.  OPTIONAL and READ-ONLY.")
                        .read_only(),
                ],
            ),
        ],
    }
}

/// RFC 7643 §5 / §8.7.2: the schema of the `/ServiceProviderConfig` resource.
///
/// The §8.7.2 listing omits `etag`, which §5 defines (and §8.5 shows); it is listed here, as is
/// the RFC 9865 §4 `pagination` attribute.
#[must_use]
pub fn service_provider_config_schema() -> Schema {
    let supported = || {
        boolean("supported", "A Boolean value specifying whether or not the operation is supported.")
            .required()
            .read_only()
    };
    let option = |name: &str, desc: &str, extra: Vec<AttributeDef>| {
        let mut subs = vec![supported()];
        subs.extend(extra);
        complex(name, desc, subs).required().read_only()
    };
    Schema {
        id: urn::SERVICE_PROVIDER_CONFIG.to_owned(),
        name: "Service Provider Configuration".to_owned(),
        description: "Schema for representing the service provider's configuration".to_owned(),
        attributes: vec![
            reference(
                "documentationUri",
                "An HTTP-addressable URL pointing to the service provider's human-consumable help \
                 documentation.",
                &["external"],
            )
            .read_only(),
            option("patch", "A complex type that specifies PATCH configuration options.", vec![]),
            option(
                "bulk",
                "A complex type that specifies bulk configuration options.",
                vec![
                    integer("maxOperations", "An integer value specifying the maximum number of operations.")
                        .required()
                        .read_only(),
                    integer(
                        "maxPayloadSize",
                        "An integer value specifying the maximum payload size in bytes.",
                    )
                    .required()
                    .read_only(),
                ],
            ),
            option(
                "filter",
                "A complex type that specifies FILTER options.",
                vec![
                    integer(
                        "maxResults",
                        "An integer value specifying the maximum number of resources returned in a \
                         response.",
                    )
                    .required()
                    .read_only(),
                ],
            ),
            option(
                "changePassword",
                "A complex type that specifies configuration options related to changing a password.",
                vec![],
            ),
            option("sort", "A complex type that specifies sort result options.", vec![]),
            option("etag", "A complex type that specifies ETag configuration options.", vec![]),
            // RFC 9865 §4: the pagination methods the service provider offers. Optional, so a
            // provider that predates RFC 9865 still conforms.
            complex(
                "pagination",
                "A complex type that specifies pagination configuration options.",
                vec![
                    boolean("cursor", "Whether cursor-based pagination is supported.").required().read_only(),
                    boolean("index", "Whether index-based pagination is supported.").required().read_only(),
                    string(
                        "defaultPaginationMethod",
                        "The pagination method used when a request names none.",
                    )
                    .canonical(&["cursor", "index"])
                    .read_only(),
                    integer("defaultPageSize", "The page size used when a request gives no count.")
                        .read_only(),
                    integer("maxPageSize", "The largest page size the service provider returns.").read_only(),
                    integer("cursorTimeout", "How many seconds a cursor stays valid.").read_only(),
                ],
            )
            .read_only(),
            complex(
                "authenticationSchemes",
                "A complex type that specifies supported authentication scheme properties.",
                vec![
                    // RFC 7643 §5 lists `type` (e.g. "oauthbearertoken") among the scheme's
                    // attributes; the §8.7.2 listing forgot it.
                    string("type", "The authentication scheme, e.g., 'oauthbearertoken', 'httpbasic'.")
                        .required()
                        .read_only()
                        .canonical(&["oauth", "oauth2", "oauthbearertoken", "httpbasic", "httpdigest"]),
                    string("name", "The common authentication scheme name, e.g., HTTP Basic.")
                        .required()
                        .read_only(),
                    string("description", "A description of the authentication scheme.")
                        .required()
                        .read_only(),
                    reference(
                        "specUri",
                        "An HTTP-addressable URL pointing to the authentication scheme's \
                         specification.",
                        &["external"],
                    )
                    .read_only(),
                    reference(
                        "documentationUri",
                        "An HTTP-addressable URL pointing to the authentication scheme's usage \
                         documentation.",
                        &["external"],
                    )
                    .read_only(),
                    boolean("primary", "Whether this is the preferred authentication scheme.").read_only(),
                ],
            )
            .multi()
            .required()
            .read_only(),
        ],
    }
}

/// RFC 7643 §6 / §8.7.2: the schema of the `/ResourceTypes` resources.
///
/// `schemaExtensions` is multi-valued here: §6 calls it "a list", and §8.6 shows it as an array;
/// the §8.7.2 listing's `multiValued: false` is a slip. It is also `required: false`, since §6 says
/// a resource type may have no extensions (the §8.6 Group example has none).
#[must_use]
pub fn resource_type_schema() -> Schema {
    Schema {
        id: urn::RESOURCE_TYPE.to_owned(),
        name: "ResourceType".to_owned(),
        description: "Specifies the schema that describes a SCIM resource type".to_owned(),
        attributes: vec![
            string("id", "The resource type's server unique id.  May be the same as the 'name' attribute.")
                .read_only(),
            string(
                "name",
                "The resource type name.  When applicable, service providers MUST specify the name, \
                 e.g., 'User'.",
            )
            .required()
            .read_only(),
            string(
                "description",
                "The resource type's human-readable description.  When applicable, service providers \
                 MUST specify the description.",
            )
            .read_only(),
            reference(
                "endpoint",
                "The resource type's HTTP-addressable endpoint relative to the Base URL, e.g., \
                 '/Users'.",
                &["uri"],
            )
            .required()
            .read_only(),
            reference("schema", "The resource type's primary/base schema URI.", &["uri"])
                .required()
                .case_exact()
                .read_only(),
            complex(
                "schemaExtensions",
                "A list of URIs of the resource type's schema extensions.",
                vec![
                    reference("schema", "The URI of a schema extension.", &["uri"])
                        .required()
                        .case_exact()
                        .read_only(),
                    boolean(
                        "required",
                        "A Boolean value that specifies whether or not the schema extension is \
                         required for the resource type.  If true, a resource of this type MUST \
                         include this schema extension and also include any attributes declared as \
                         required in this schema extension. If false, a resource of this type MAY \
                         omit this schema extension.",
                    )
                    .required()
                    .read_only(),
                ],
            )
            .multi()
            .read_only(),
        ],
    }
}

/// The attribute characteristics shared by `attributes` and `subAttributes` in the Schema schema.
fn attribute_characteristics() -> Vec<AttributeDef> {
    vec![
        string("name", "The attribute's name.").required().case_exact().read_only(),
        string(
            "type",
            "The attribute's data type.  Valid values include 'string', 'complex', 'boolean', \
             'decimal', 'integer', 'dateTime', 'reference', 'binary'.",
        )
        .required()
        .read_only()
        .canonical(&[
            "string",
            "complex",
            "boolean",
            "decimal",
            "integer",
            "dateTime",
            "reference",
            "binary",
        ]),
        boolean("multiValued", "A Boolean value indicating an attribute's plurality.").required().read_only(),
        string("description", "A human-readable description of the attribute.").case_exact().read_only(),
        boolean("required", "A boolean value indicating whether or not the attribute is required.")
            .read_only(),
        string(
            "canonicalValues",
            "A collection of canonical values.  When applicable, service providers MUST specify the \
             canonical types, e.g., 'work', 'home'.",
        )
        .multi()
        .case_exact()
        .read_only(),
        boolean(
            "caseExact",
            "A Boolean value indicating whether or not a string attribute is case sensitive.",
        )
        .read_only(),
        string("mutability", "Indicates whether or not an attribute is modifiable.")
            .case_exact()
            .read_only()
            .canonical(&["readOnly", "readWrite", "immutable", "writeOnly"]),
        string("returned", "Indicates when an attribute is returned in a response (e.g., to a query).")
            .case_exact()
            .read_only()
            .canonical(&["always", "never", "default", "request"]),
        string("uniqueness", "Indicates how unique a value must be.")
            .case_exact()
            .read_only()
            .canonical(&["none", "server", "global"]),
        string(
            "referenceTypes",
            "Used only with an attribute of type 'reference'.  Specifies a SCIM resourceType that a \
             reference attribute MAY refer to, e.g., 'User'.",
        )
        .multi()
        .case_exact()
        .read_only(),
    ]
}

/// RFC 7643 §7 / §8.7.2: the schema of the `/Schemas` resources.
///
/// Corrected from the §8.7.2 listing: `type` lists `binary` among its canonical values (§2.3.6),
/// and `referenceTypes` is multi-valued inside `subAttributes` as it is inside `attributes`.
#[must_use]
pub fn schema_schema() -> Schema {
    let mut attribute_subs = attribute_characteristics();
    attribute_subs.push(
        complex(
            "subAttributes",
            "Used to define the sub-attributes of a complex attribute.",
            attribute_characteristics(),
        )
        .multi()
        .read_only(),
    );
    Schema {
        id: urn::SCHEMA.to_owned(),
        name: "Schema".to_owned(),
        description: "Specifies the schema that describes a SCIM schema".to_owned(),
        attributes: vec![
            string(
                "id",
                "The unique URI of the schema.  When applicable, service providers MUST specify the URI.",
            )
            .required()
            .read_only(),
            string(
                "name",
                "The schema's human-readable name.  When applicable, service providers MUST specify \
                 the name, e.g., 'User'.",
            )
            .required()
            .read_only(),
            string(
                "description",
                "The schema's human-readable description.  When applicable, service providers MUST \
                 specify the description.",
            )
            .read_only(),
            complex(
                "attributes",
                "A complex attribute that includes the attributes of a schema.",
                attribute_subs,
            )
            .multi()
            .required()
            .read_only(),
        ],
    }
}

/// RFC 7643 §6 / §8.6: the User resource type, with the Enterprise extension (not required).
#[must_use]
pub fn user_resource_type() -> ResourceType {
    ResourceType {
        id: "User".to_owned(),
        name: "User".to_owned(),
        endpoint: "/Users".to_owned(),
        description: "User Account".to_owned(),
        schema: urn::USER.to_owned(),
        schema_extensions: vec![SchemaExtension { schema: urn::ENTERPRISE_USER.to_owned(), required: false }],
    }
}

/// RFC 7643 §6 / §8.6: the Group resource type.
#[must_use]
pub fn group_resource_type() -> ResourceType {
    ResourceType {
        id: "Group".to_owned(),
        name: "Group".to_owned(),
        endpoint: "/Groups".to_owned(),
        description: "Group".to_owned(),
        schema: urn::GROUP.to_owned(),
        schema_extensions: Vec::new(),
    }
}

/// The schemas served at `/Schemas` by default, in listing order: User, Group, EnterpriseUser, then
/// the three discovery schemas. Core schemas still carry the common attributes; render them with
/// `discovery::schema_json`, which removes them.
#[must_use]
pub fn builtin_schemas() -> Vec<Schema> {
    vec![
        user_schema(),
        group_schema(),
        enterprise_user_schema(),
        service_provider_config_schema(),
        resource_type_schema(),
        schema_schema(),
    ]
}

impl ResourceSchema {
    /// The User resource type: core User plus the Enterprise User extension (not required).
    ///
    /// Built once; each call clones the `Arc`s, so calling it per request is cheap.
    #[must_use]
    pub fn user() -> Self {
        static USER: OnceLock<ResourceSchema> = OnceLock::new();
        USER.get_or_init(|| ResourceSchema {
            resource_type: user_resource_type(),
            core: Arc::new(user_schema()),
            extensions: vec![(Arc::new(enterprise_user_schema()), false)],
        })
        .clone()
    }

    /// The Group resource type: core Group, no extensions. Built once, like [`ResourceSchema::user`].
    #[must_use]
    pub fn group() -> Self {
        static GROUP: OnceLock<ResourceSchema> = OnceLock::new();
        GROUP
            .get_or_init(|| ResourceSchema {
                resource_type: group_resource_type(),
                core: Arc::new(group_schema()),
                extensions: Vec::new(),
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr<'a>(s: &'a Schema, name: &str) -> &'a AttributeDef {
        s.attribute(name).unwrap_or_else(|| panic!("no attribute {name}"))
    }

    #[test]
    fn user_characteristics_follow_rfc_7643() {
        let u = user_schema();
        let user_name = attr(&u, "userName");
        assert!(user_name.required && !user_name.case_exact);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);

        let id = attr(&u, "id");
        assert!(id.case_exact);
        assert_eq!((id.mutability, id.returned), (Mutability::ReadOnly, Returned::Always));
        assert!(attr(&u, "externalId").case_exact);

        let pw = attr(&u, "password");
        assert_eq!((pw.mutability, pw.returned), (Mutability::WriteOnly, Returned::Never));

        let groups = attr(&u, "groups");
        assert!(groups.multi_valued && groups.stored_as_rows);
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert!(groups.sub_attributes.iter().all(|s| s.mutability == Mutability::ReadOnly));

        assert_eq!(attr(&u, "active").kind, AttrType::Boolean);
        assert_eq!(
            attr(&u, "x509Certificates").sub_attribute("value").map(|a| a.kind),
            Some(AttrType::Binary)
        );
        assert_eq!(attr(&u, "photos").sub_attribute("VALUE").map(|a| a.kind), Some(AttrType::Reference));
        assert_eq!(attr(&u, "phoneNumbers").sub_attribute("type").map(|a| a.canonical_values.len()), Some(6));
        let meta = attr(&u, "meta");
        assert_eq!(meta.mutability, Mutability::ReadOnly);
        assert_eq!(meta.sub_attribute("lastModified").map(|a| a.kind), Some(AttrType::DateTime));
    }

    #[test]
    fn group_members_are_rows_with_immutable_sub_attributes() {
        let g = group_schema();
        assert!(attr(&g, "displayName").required);
        let members = attr(&g, "members");
        assert!(members.multi_valued && members.stored_as_rows);
        assert_eq!(members.mutability, Mutability::ReadWrite);
        for s in ["value", "$ref", "type"] {
            assert_eq!(members.sub_attribute(s).map(|a| a.mutability), Some(Mutability::Immutable), "{s}");
        }
        assert_eq!(
            members.sub_attribute("$ref").map(|a| a.reference_types.clone()),
            Some(vec!["User".to_owned(), "Group".to_owned()])
        );
    }

    #[test]
    fn enterprise_manager_display_name_is_read_only() {
        let e = enterprise_user_schema();
        let manager = attr(&e, "manager");
        assert!(!manager.multi_valued);
        assert_eq!(manager.sub_attribute("displayName").map(|a| a.mutability), Some(Mutability::ReadOnly));
        assert_eq!(manager.sub_attribute("value").map(|a| a.mutability), Some(Mutability::ReadWrite));
    }

    #[test]
    fn discovery_shape_drops_only_the_common_attributes() {
        let u = schema_for_discovery(&user_schema());
        assert!(u.attribute("id").is_none() && u.attribute("meta").is_none());
        assert!(u.attribute("externalId").is_none());
        assert_eq!(u.attributes.first().map(|a| a.name.as_str()), Some("userName"));
        // The ResourceType schema's own `id` is not the common one and stays.
        assert!(schema_for_discovery(&resource_type_schema()).attribute("id").is_some());
    }

    #[test]
    fn resource_schemas_resolve_common_and_extension_attributes() {
        let rs = ResourceSchema::user();
        assert!(rs.resolve(None, "meta", Some("created")).is_ok());
        let r = rs.resolve(None, "employeeNumber", None).unwrap();
        assert!(!r.is_core);
        assert_eq!(rs.resource_type.schema_extensions.first().map(|e| e.required), Some(false));
        assert!(ResourceSchema::group().resolve(None, "members", Some("value")).is_ok());
    }

    #[test]
    fn builtin_schema_json_round_trips_through_serde() {
        for s in builtin_schemas() {
            let json = serde_json::to_value(&s).unwrap();
            let back: Schema = serde_json::from_value(json).unwrap();
            assert_eq!(back, s);
        }
    }
}
