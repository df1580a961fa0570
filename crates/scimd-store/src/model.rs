//! The records the store keeps and hands back.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::plan::MemberOp;

/// A tenant: every row in the database is keyed by one (docs/architecture.md "Data").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Internal id.
    pub id: Uuid,
    /// The URL name (`/tenants/{slug}/scim/v2`).
    pub slug: String,
    /// When it was created.
    pub created: OffsetDateTime,
    /// The tenant's policies.
    pub settings: TenantSettings,
}

/// Per-tenant policies for what cannot be inferred from a request (docs/operations.md, Settings). The
/// defaults are what Entra ID and Okta work with unchanged; each switch exists for the client or operator
/// that needs it. Stored as JSON, so a setting added later reads as its default in older rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// RFC-strict mode, for tenants whose clients follow the RFC to the letter: a PATCH filter that
    /// matches nothing is 400 `noTarget` (RFC 7644 §3.5.2), unknown attributes are refused rather
    /// than dropped. Off by default: Entra creates elements through filters and sends stray
    /// attributes (docs/idp-compatibility.md §5).
    pub strict: bool,
    /// What a successful PATCH answers.
    pub patch_response: PatchResponse,
    /// Refuse PUT, PATCH and DELETE without `If-Match` (428, RFC 6585 §3), for applications that
    /// want every write conditional. Neither Entra nor Okta sends `If-Match`: leave off for them.
    pub require_if_match: bool,
    /// What a POST does when its userName belongs to an existing *inactive* user.
    pub reprovision: Reprovision,
    /// What a member id that names no resource does.
    pub unknown_members: UnknownMembers,
    /// Requests per second per credential before 429 with `Retry-After` (Entra retries on 429);
    /// `None` is the server's default ([`DEFAULT_RATE_LIMIT`]), `Some(0)` no limit.
    pub rate_limit: Option<u32>,
    /// Whether the tenant provisions Groups at all.
    pub groups: Groups,
}

/// Whether a tenant has the Group resource type (RFC 7643 §6 lets a service provider choose the
/// resource types it serves). Applications that do not model groups turn it off, and tell the
/// identity provider not to push them (Twilio's Entra guide: "disable Provision Groups").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Groups {
    /// `/Groups` is served and listed in `/ResourceTypes` and `/Schemas`.
    #[default]
    On,
    /// `/Groups` is 404 and absent from discovery; users show no `groups` and cannot be filtered
    /// by them. Groups stored before are kept, unseen, and come back when it is turned on.
    Off,
}

/// A domain a tenant claims (verified domains, docs/operations.md `scimd domain`): users' userNames and
/// emails must be in one of its verified domains once it has any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRecord {
    /// The domain, lower-case.
    pub domain: String,
    /// The value the DNS TXT record must carry.
    pub token: String,
    /// When it was added.
    pub created: OffsetDateTime,
    /// When its TXT record was found, if it has been.
    pub verified: Option<OffsetDateTime>,
}

/// The default per-credential rate limit: far above the ~25 requests/s Entra sends per tenant.
pub const DEFAULT_RATE_LIMIT: u32 = 1000;

/// The answer to a successful PATCH (RFC 7644 §3.5.2: 200 with the resource, or 204 No Content).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchResponse {
    /// Users 200 with the resource, Groups 204. A group's representation holds every member, so
    /// answering a one-member change with it costs in proportion to the group's size; Entra ID's
    /// documentation asks for 204 on group PATCH and Okta accepts 204, and neither passes
    /// `excludedAttributes` on PATCH (docs/idp-compatibility.md §1.7.11). Users keep 200 with the body,
    /// which Okta's tests and Microsoft's Playwright tests read.
    #[default]
    Auto,
    /// 200 with the resource for both (what Microsoft's validator and the public conformance
    /// checkers want, docs/idp-compatibility.md §5); a group's member list is then rendered on every PATCH
    /// unless the request has `excludedAttributes=members`.
    Body,
    /// 204 No Content for both.
    NoContent,
}

/// Member ids that name no User or Group of the tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownMembers {
    /// Skip them and record them in the audit log; the rest of the request applies (Okta and
    /// Microsoft's validator send ids that do not exist, docs/idp-compatibility.md §5).
    #[default]
    Skip,
    /// Refuse the whole request with 400 `invalidValue` naming them (referential integrity, for
    /// applications that want it).
    Refuse,
}

/// Re-provisioning of an inactive user (Okta re-creates users it deactivated earlier).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reprovision {
    /// 409 `uniqueness`, as for any taken userName (RFC 7644 §3.3).
    #[default]
    Reject,
    /// Replace the inactive user with the POSTed one, re-activate it, and answer 201 with its id.
    Reactivate,
}

/// The two SCIM resource types scimd serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// RFC 7643 §4.1.
    User,
    /// RFC 7643 §4.2.
    Group,
}

impl ResourceKind {
    /// The `meta.resourceType` value and the database's `kind` column.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The endpoint under the SCIM base URL.
    #[must_use]
    pub const fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    /// Parses the database's `kind` column.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "User" => Some(ResourceKind::User),
            "Group" => Some(ResourceKind::Group),
            _ => None,
        }
    }
}

/// A group member as stored: a row in the membership table, not part of the group's document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's id.
    pub id: String,
    /// `User` or `Group`.
    pub kind: ResourceKind,
    /// The member's current display name (user displayName or userName; group displayName),
    /// read through a join so it never goes stale.
    pub display: Option<String>,
}

/// A stored resource as read back. `D` is how its document comes: parsed ([`Value`], what reads
/// of one resource and the write path return) or as the database's JSON text ([`DocText`], what
/// list pages return).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResource<D = Value> {
    /// The resource id (UUIDv7, text).
    pub id: String,
    /// User or Group.
    pub kind: ResourceKind,
    /// Incremented by every change; the ETag is `W/"<version>"`.
    pub version: i64,
    /// `meta.created`.
    pub created: OffsetDateTime,
    /// `meta.lastModified`.
    pub last_modified: OffsetDateTime,
    /// The canonical document without `id`, `meta`, `members`, `groups`, or `password`.
    pub doc: D,
    /// Group members, when asked for and the resource is a Group; `None` when not loaded.
    pub members: Option<Vec<Member>>,
    /// The groups a user belongs to (RFC 7643 §4.1.2 `groups`, computed from membership rows),
    /// when asked for and the resource is a User.
    pub groups: Option<Vec<Member>>,
}

/// A stored document as the database returned it: the JSON text of an object, not yet parsed.
///
/// List pages carry documents this way. Most list responses show each document unchanged
/// (RFC 7644 §3.4.2.5: no `attributes`, no `excludedAttributes`), and parsing a page of 100 users
/// into trees only to write the same text out again was two thirds of a page's CPU time (load benchmark,
/// perf). The HTTP layer splices the text into the response when the projection keeps every
/// stored attribute, and parses it ([`DocText::parse`]) when it does not.
#[derive(Clone, PartialEq, Eq)]
pub struct DocText(String);

impl DocText {
    /// Wraps the text of a stored document. Only the stores call this, with what they wrote
    /// (`Value::to_string`, or PostgreSQL's `json` output of it); the shape is checked here so a
    /// damaged row is an error, never a malformed response.
    ///
    /// # Errors
    /// [`crate::StoreError::Internal`] when the text is not delimited as a JSON object.
    pub fn new(text: String) -> crate::Result<Self> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') && trimmed.ends_with('}') {
            Ok(Self(text))
        } else {
            Err(crate::StoreError::Internal("stored document is not a JSON object".to_owned()))
        }
    }

    /// The JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The members of the object as text, without the enclosing braces and surrounding
    /// whitespace (`"schemas":[…],"userName":"bjensen"`); empty for `{}`.
    #[must_use]
    pub fn members_text(&self) -> &str {
        let trimmed = self.0.trim();
        // `new` checked both braces; the slice is in bounds and on character boundaries (ASCII).
        trimmed.get(1..trimmed.len() - 1).unwrap_or("").trim()
    }

    /// The parsed document.
    ///
    /// # Errors
    /// [`crate::StoreError::Internal`] when the stored text does not parse.
    pub fn parse(&self) -> crate::Result<Value> {
        serde_json::from_str(&self.0)
            .map_err(|e| crate::StoreError::Internal(format!("stored document does not parse: {e}")))
    }
}

impl std::fmt::Debug for DocText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StoredResource<DocText> {
    /// The same resource with its document parsed.
    ///
    /// # Errors
    /// [`crate::StoreError::Internal`] when the stored text does not parse.
    pub fn parsed(self) -> crate::Result<StoredResource> {
        Ok(StoredResource {
            doc: self.doc.parse()?,
            id: self.id,
            kind: self.kind,
            version: self.version,
            created: self.created,
            last_modified: self.last_modified,
            members: self.members,
            groups: self.groups,
        })
    }
}

/// Who is writing: recorded in the audit log with every change.
#[derive(Clone, Debug)]
pub struct WriteContext {
    /// The tenant written to.
    pub tenant: Uuid,
    /// Its slug, for the events' `tenant` field.
    pub tenant_slug: String,
    /// The credential's name or id, for the audit record and the events' `client.name`.
    pub actor: String,
    /// The client as detected from the request (`entra`, `okta`, `other`), for the events'
    /// `client.kind`.
    pub client: String,
    /// The request id, for correlating the audit record with logs.
    pub request_id: Option<String>,
    /// Refuse the whole write when a member id names no resource of the tenant (tenant policy
    /// `unknown_members = refuse`), instead of skipping it (the default).
    pub refuse_unknown_members: bool,
}

impl WriteContext {
    /// The error for a write refused under `refuse_unknown_members`: 400 `invalidValue` naming the
    /// ids, or `None` when every id named a resource.
    #[must_use]
    pub fn refusal(&self, report: &MemberReport) -> Option<crate::StoreError> {
        (self.refuse_unknown_members && !report.skipped.is_empty()).then(|| {
            crate::StoreError::Scim(scimd_schema::ScimError::invalid_value(format!(
                "members: no User or Group of this tenant has the id {}",
                report.skipped.join(", ")
            )))
        })
    }
}

/// A resource to create.
#[derive(Clone, Debug)]
pub struct NewResource {
    /// User or Group.
    pub kind: ResourceKind,
    /// The validated, normalised document (no id, meta, members, groups or password).
    pub doc: Value,
    /// The folded copy of `doc` that filters read (see [`crate::search_document`]).
    pub search: Value,
    /// Ids of the initial members (Groups); ids that name no resource of the tenant are skipped.
    pub members: Vec<String>,
    /// Argon2id PHC string of the user's password, when one was given (never the password).
    pub password_hash: Option<String>,
}

/// Which operation an update is, for its audit record (the `operation` column of migration 0001:
/// `create | replace | patch | delete`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOperation {
    /// PUT (RFC 7644 §3.5.1).
    Replace,
    /// PATCH (RFC 7644 §3.5.2).
    Patch,
}

impl UpdateOperation {
    /// The audit column's value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            UpdateOperation::Replace => "replace",
            UpdateOperation::Patch => "patch",
        }
    }
}

/// What an update (PUT or PATCH) writes. The caller computes it from a read of the resource
/// *before* the write (PATCH engine, validation: the expensive part, run without holding any write
/// lock), and the store applies it as a compare-and-set on the version that read saw.
#[derive(Clone, Debug)]
pub struct Update {
    /// PUT or PATCH, for the audit record.
    pub operation: UpdateOperation,
    /// The version the row must still have, else [`crate::StoreError::VersionMismatch`] and nothing
    /// is written. Required whenever `before` is set (the update was computed from that version);
    /// `None` only for writes that do not depend on the document read: member rows (each
    /// [`MemberOp`] is relative to the rows, not to a list read earlier).
    pub expected_version: Option<i64>,
    /// The document the update was computed from, as read at `expected_version`: what the event
    /// log compares the new document with. Set whenever `doc` or `password_hash` is.
    pub before: Option<Value>,
    /// The new document and its search copy, or `None` when the document does not change.
    pub doc: Option<(Value, Value)>,
    /// Membership row changes, applied in order.
    pub members: Vec<MemberOp>,
    /// A new password hash, when the update sets one.
    pub password_hash: Option<String>,
}

/// What an update did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// The resource's version before the write (the one `expected_version` was compared with).
    pub previous_version: i64,
    /// Its version after: `previous_version + 1`, or `previous_version` when nothing changed (no
    /// document change, no member row changed, no password): a no-op keeps its ETag.
    pub version: i64,
    /// `meta.lastModified` after the write.
    pub last_modified: OffsetDateTime,
    /// What happened to the members it named.
    pub report: MemberReport,
}

/// What happened to the members an update named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberReport {
    /// Ids that named no resource of the tenant, so were not added (recorded in the audit log).
    pub skipped: Vec<String>,
}

/// RFC 7644 §3.4.2.3 sort order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Ascending (the default).
    #[default]
    Ascending,
    /// Descending.
    Descending,
}

/// How to page a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Paging {
    /// RFC 7644 §3.4.2.4: 1-based `startIndex` and `count`.
    Index {
        /// 1-based index of the first result.
        start_index: u64,
        /// How many at most (0: totalResults only).
        count: u64,
    },
    /// RFC 9865 cursor paging: an opaque cursor (empty for the first page) and a count.
    Cursor {
        /// The cursor from the previous page's `nextCursor`, or `None` for the first page.
        cursor: Option<String>,
        /// How many at most.
        count: u64,
    },
}

/// A list query, filter already parsed.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// The filter, if any.
    pub filter: Option<scimd_filter::Filter>,
    /// RFC 7644 §3.4.2.3 `sortBy`.
    pub sort_by: Option<scimd_filter::AttrPath>,
    /// RFC 7644 §3.4.2.3 `sortOrder`.
    pub sort_order: SortOrder,
    /// Paging.
    pub paging: Paging,
    /// Whether to load group members / user groups for each resource.
    pub with_members: bool,
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct ListPage {
    /// All resources that match the filter.
    pub total_results: u64,
    /// This page, documents as stored text.
    pub resources: Vec<StoredResource<DocText>>,
    /// RFC 9865: the cursor of the next page, when there is one (cursor paging only).
    pub next_cursor: Option<String>,
}
