//! The SCIM operations (RFC 7644 §3.3–§3.6): validate, store, render. Handlers in `mod.rs` only
//! extract the request and call these; no SQL and no protocol rule lives in a handler.

use std::sync::{Arc, LazyLock};

use serde_json::Value;

use scimd_schema::patch::{self, PatchOptions};
use scimd_schema::validate::{self, ValidateOptions};
use scimd_schema::writes::{self, WriteRequest};
use scimd_schema::{ResourceSchema, ScimError};
use scimd_store::plan::{self, MemberOp};
use scimd_store::{
    ListQuery, NewResource, Paging, Reprovision, ResourceKind, Store, StoreError, StoredResource,
    TenantSettings, Update, UpdateOperation, WriteContext, search_document,
};
use uuid::Uuid;

use super::limits::Limits;
use super::params::{ListParams, Precondition, ProjectionParams};
use super::{password, render};
use crate::error::ApiError;

/// The built-in resource types, built once. (Per-tenant extension schemas hang off this later.)
pub(crate) struct Schemas {
    pub user: ResourceSchema,
    pub group: ResourceSchema,
}

pub(crate) static SCHEMAS: LazyLock<Schemas> =
    LazyLock::new(|| Schemas { user: ResourceSchema::user(), group: ResourceSchema::group() });

pub(crate) fn schema_of(kind: ResourceKind) -> &'static ResourceSchema {
    match kind {
        ResourceKind::User => &SCHEMAS.user,
        ResourceKind::Group => &SCHEMAS.group,
    }
}

/// A rendered resource with the version its ETag names.
pub(crate) struct Rendered {
    /// The representation, as JSON text.
    pub body: Vec<u8>,
    pub version: i64,
    pub location: String,
}

/// Everything an operation needs besides its own inputs.
pub(crate) struct Ctx<'a> {
    pub store: &'a Arc<dyn Store>,
    pub clock: &'a Arc<dyn scimd_store::Clock>,
    pub tenant: Uuid,
    pub write: WriteContext,
    /// The absolute SCIM base URL of this request.
    pub base: String,
    /// The tenant's policies.
    pub settings: TenantSettings,
    /// Bounds on the work of one request.
    pub limits: Limits,
}

fn wants_members(ctx: &Ctx<'_>, rs: &ResourceSchema, p: &ProjectionParams) -> Result<bool, ScimError> {
    Ok(members_wanted(ctx, rs, &render::projection(rs, p)?))
}

/// Whether the response shows membership rows: a group's `members`, or a user's `groups` — never
/// while the tenant's Groups are off, when groups stored earlier are not to be seen.
fn members_wanted(ctx: &Ctx<'_>, rs: &ResourceSchema, proj: &scimd_schema::projection::Projection) -> bool {
    proj.wants(rs, "members") || (groups_on(ctx) && proj.wants(rs, "groups"))
}

fn groups_on(ctx: &Ctx<'_>) -> bool {
    ctx.settings.groups == scimd_store::Groups::On
}

/// With the tenant's Groups off, a user's groups are not its to filter by either: 400
/// `invalidFilter` (RFC 7644 §3.4.2.2), as for an attribute the resource type does not have.
fn check_filter(
    ctx: &Ctx<'_>,
    rs: &ResourceSchema,
    filter: Option<&scimd_filter::Filter>,
) -> Result<(), ApiError> {
    fn names_groups(rs: &ResourceSchema, f: &scimd_filter::Filter) -> bool {
        use scimd_filter::Filter as F;
        let is_groups = |a: &scimd_filter::AttrPath| {
            rs.resolve_path(a).is_ok_and(|r| r.is_core && r.attr.name.eq_ignore_ascii_case("groups"))
        };
        match f {
            F::Present { attr, .. } | F::Compare { attr, .. } | F::ValuePath { attr, .. } => is_groups(attr),
            F::And(a, b, _) | F::Or(a, b, _) => names_groups(rs, a) || names_groups(rs, b),
            F::Not(a, _) => names_groups(rs, a),
        }
    }
    if groups_on(ctx) || !filter.is_some_and(|f| names_groups(rs, f)) {
        return Ok(());
    }
    Err(ScimError::new(
        scimd_schema::ScimType::InvalidFilter,
        "this tenant does not provision Groups (its setting groups is off): users cannot be filtered by groups",
    )
    .into())
}

fn rendered(
    ctx: &Ctx<'_>,
    rs: &ResourceSchema,
    res: &StoredResource,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let proj = render::projection(rs, p)?;
    let hidden;
    let res = if !groups_on(ctx) && res.groups.as_ref().is_some_and(|g| !g.is_empty()) {
        hidden = StoredResource { groups: None, ..res.clone() };
        &hidden
    } else {
        res
    };
    Ok(Rendered {
        body: serde_json::to_vec(&render::render(rs, res, &ctx.base, &proj)).map_err(render::internal)?,
        version: res.version,
        location: format!("{}/{}/{}", ctx.base, res.kind.endpoint(), res.id),
    })
}

/// Splits Group `members` out of a validated document: they are rows, not part of the document.
fn take_member_ids(doc: &mut Value) -> Vec<String> {
    let Some(Value::Array(members)) = doc.as_object_mut().and_then(|o| o.remove("members")) else {
        return Vec::new();
    };
    members.iter().filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned)).collect()
}

/// Removes what the store keeps outside the document or derives (RFC 7643 §3.1 `id` and `meta` are
/// the server's; `groups` is computed from membership rows).
fn strip_server_attributes(doc: &mut Value) {
    if let Some(obj) = doc.as_object_mut() {
        obj.remove("id");
        obj.remove("meta");
        obj.remove("groups");
    }
}

/// A user created without `active` is active: RFC 7643 §4.1.1 gives `active` no default, and RFC
/// 7644 §3.3 lets the service provider assign one to an attribute a POST leaves out; every IdP
/// means "enabled" when it creates a user, and Okta takes a missing or false `active` on a user it
/// just pushed as "deactivated" and loops (kortix-ai/suna#4244). That is the only default: a PUT
/// that omits `active` does not assert it, so the stored value is kept (RFC 7644 §3.5.1 lets the
/// server keep an omitted attribute's value), neither re-enabling a disabled user nor disabling
/// an active one; a PATCH that removes `active` (or clears it with `""`/`null`) leaves it absent,
/// as RFC 7644 §3.5.2.2 says a removed attribute is.
fn ensure_active(kind: ResourceKind, doc: &mut Value, current: Option<&Value>) {
    if kind != ResourceKind::User {
        return;
    }
    let Some(obj) = doc.as_object_mut() else { return };
    if obj.get("active").is_some_and(Value::is_boolean) {
        return;
    }
    let kept = match current {
        None => Some(true),
        Some(current) => current.get("active").and_then(Value::as_bool),
    };
    if let Some(active) = kept {
        obj.insert("active".into(), Value::Bool(active));
    }
}

/// After a write, reads back what the response needs (members only if the projection shows them).
async fn reread(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    stored: StoredResource,
    with_members: bool,
) -> Result<StoredResource, ApiError> {
    if !with_members {
        return Ok(stored);
    }
    match ctx.store.get(ctx.tenant, kind, &stored.id, true).await? {
        Some(read) => Ok(read.parsed()?),
        None => Ok(stored),
    }
}

fn not_found(kind: ResourceKind, id: &str) -> ApiError {
    ScimError::not_found(format!("{} {id} not found", kind.as_str())).into()
}

/// The store's answer for one resource, in SCIM terms: a missing resource is 404 naming it, a
/// unique-index violation is 409 `uniqueness` naming the attribute (RFC 7644 §3.3, §3.12).
fn store_error(kind: ResourceKind, id: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::Conflict(attr) => {
            ScimError::uniqueness(format!("{attr} is already in use by another {}", kind.as_str())).into()
        }
        StoreError::NotFound => not_found(kind, id),
        other => other.into(),
    }
}

/// RFC 7644 §3.3: POST a resource → 201 with the resource as stored.
pub(crate) async fn create(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    body: Value,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let rs = schema_of(kind);
    // Kept only when a userName conflict may turn into a re-activation (tenant policy).
    let reprovision = kind == ResourceKind::User && ctx.settings.reprovision == Reprovision::Reactivate;
    let mut original = reprovision.then(|| body.clone());
    let plain = writes::new_password(rs, WriteRequest::Resource, &body).map(str::to_owned);
    let mut doc = validate::validate_create(rs, body, &validate_options(ctx))?;
    ctx.limits.check_document(&doc, None)?;
    check_domains(&doc, None, allowed_domains(ctx, kind).await?.as_deref())?;
    strip_server_attributes(&mut doc);
    ensure_active(kind, &mut doc, None);
    let members = if kind == ResourceKind::Group { take_member_ids(&mut doc) } else { Vec::new() };
    let password_hash = password::take_and_hash(&mut doc, plain, ctx.clock).await?;
    let user_name = doc.get("userName").and_then(Value::as_str).map(str::to_owned);
    // The hash is reused by a re-activation rather than computed twice.
    let kept_hash = if reprovision { password_hash.clone() } else { None };
    let search = search_document(rs, &doc);
    let new = NewResource { kind, doc, search, members, password_hash };
    let (stored, report) = match ctx.store.create(&ctx.write, new).await {
        Err(StoreError::Conflict(attr)) if attr == "userName" && original.is_some() => {
            let name = user_name.unwrap_or_default();
            let body = original.take().unwrap_or_default();
            return reactivate(ctx, &name, body, kept_hash, p).await;
        }
        other => other.map_err(store_error(kind, ""))?,
    };
    if !report.skipped.is_empty() {
        tracing::info!(skipped = ?report.skipped, "members that name no resource of the tenant were not added");
    }
    let mut stored = stored;
    if kind == ResourceKind::User {
        // RFC 7643 §4.1.2 `groups` of a user created just now: none. Its id was minted by this
        // write, so no membership row can name it yet; reading that back cost a statement per
        // POST (8 % of the server's CPU under POST /Users).
        stored.groups = Some(Vec::new());
    } else {
        stored = reread(ctx, kind, stored, wants_members(ctx, rs, p)?).await?;
    }
    rendered(ctx, rs, &stored, p)
}

/// Verified domains: `None` (no restriction) while the tenant has no *verified* domain — a claimed
/// but pending domain enforces nothing, so claiming one never blocks provisioning before its DNS
/// record is published — else the verified ones.
async fn allowed_domains(ctx: &Ctx<'_>, kind: ResourceKind) -> Result<Option<Vec<String>>, ApiError> {
    if kind != ResourceKind::User {
        return Ok(None);
    }
    let verified: Vec<String> = ctx
        .store
        .list_domains(ctx.tenant)
        .await?
        .into_iter()
        .filter(|d| d.verified.is_some())
        .map(|d| d.domain)
        .collect();
    Ok((!verified.is_empty()).then_some(verified))
}

/// A user's userName (when it is an address) and `emails[].value`.
fn addresses(doc: &Value) -> Vec<(String, &str)> {
    let mut found: Vec<(String, &str)> = Vec::new();
    if let Some(name) = doc.get("userName").and_then(Value::as_str) {
        found.push(("userName".into(), name));
    }
    if let Some(emails) = doc.get("emails").and_then(Value::as_array) {
        for (i, e) in emails.iter().enumerate() {
            if let Some(v) = e.get("value").and_then(Value::as_str) {
                found.push((format!("emails[{i}].value"), v));
            }
        }
    }
    found
}

/// Every address a request *sets* — a userName or email that `current` (the resource before the
/// write; `None` for a create) does not already hold — must be in a verified domain of the tenant,
/// compared case-insensitively (RFC 5321 §2.4: domains are case-insensitive); otherwise 400
/// `invalidValue` naming the domain. Values the request leaves as they are never count, so a user
/// outside the domains can still be deactivated or otherwise changed (Okta deactivates and never
/// deletes).
fn check_domains(doc: &Value, current: Option<&Value>, allowed: Option<&[String]>) -> Result<(), ScimError> {
    let Some(allowed) = allowed else { return Ok(()) };
    let kept: Vec<&str> = current.map(addresses).unwrap_or_default().into_iter().map(|(_, a)| a).collect();
    for (attr, address) in addresses(doc) {
        if kept.iter().any(|k| k.eq_ignore_ascii_case(address)) {
            continue;
        }
        let Some((_, domain)) = address.rsplit_once('@') else { continue };
        let domain = domain.to_ascii_lowercase();
        if !allowed.contains(&domain) {
            return Err(ScimError::invalid_value(format!(
                "{attr}: the domain {domain} is not a verified domain of this tenant (verified: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn validate_options(ctx: &Ctx<'_>) -> ValidateOptions {
    ValidateOptions { strict: ctx.settings.strict }
}

/// Tenant policy `reprovision = reactivate` (docs/operations.md, Settings): Okta re-creates users it
/// deactivated. A POST whose userName belongs to an *inactive* user replaces that user with the POSTed
/// representation (as PUT would, RFC 7644 §3.5.1), sets it active, and answers 201 with its id; an *active*
/// user with that userName is still 409 `uniqueness`. The replacement is written only if the user is still at
/// the version whose inactivity was checked, so two concurrent POSTs cannot both take the user over: the
/// second one re-reads an active user and gets 409.
async fn reactivate(
    ctx: &Ctx<'_>,
    user_name: &str,
    body: Value,
    password_hash: Option<String>,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let kind = ResourceKind::User;
    let rs = schema_of(kind);
    let taken = || ApiError::from(ScimError::uniqueness("userName is already in use by another User"));
    // RFC 7644 §3.4.2.2: a filter's string literal is a JSON string, so JSON encoding quotes it.
    let literal = serde_json::to_string(user_name).map_err(|e| ApiError::Internal(e.to_string()))?;
    let filter = scimd_filter::parse_filter(&format!("userName eq {literal}")).map_err(|_| taken())?;
    let query = ListQuery {
        filter: Some(filter),
        sort_by: None,
        sort_order: scimd_store::SortOrder::default(),
        paging: Paging::Index { start_index: 1, count: 1 },
        with_members: false,
    };
    let page = ctx.store.list(ctx.tenant, kind, rs, &query).await?;
    let Some(existing) = page.resources.first() else { return Err(taken()) };
    let mut body = body;
    if let Some(obj) = body.as_object_mut() {
        obj.retain(|k, _| !k.eq_ignore_ascii_case("active"));
        obj.insert("active".into(), Value::Bool(true));
    }
    let replacement = Replacement::new(ctx, kind, body, password_hash).await?;
    let compute = |current: &StoredResource| -> Result<Computed, ApiError> {
        if current.doc.get("active").and_then(Value::as_bool) != Some(false) {
            return Err(taken());
        }
        replacement.apply(kind, current)
    };
    let write = Rmw { kind, id: &existing.id, operation: UpdateOperation::Replace, precondition: None };
    let (stored, _) = read_modify_write(ctx, &write, false, compute).await?;
    tracing::info!(user = %stored.id, "re-provisioned an inactive user (tenant policy reprovision = reactivate)");
    rendered(ctx, rs, &stored, p)
}

/// RFC 7644 §3.4.1: GET one resource.
pub(crate) async fn get(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    id: &str,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let rs = schema_of(kind);
    let with_members = wants_members(ctx, rs, p)?;
    let stored =
        ctx.store.get(ctx.tenant, kind, id, with_members).await?.ok_or_else(|| not_found(kind, id))?;
    let proj = render::projection(rs, p)?;
    let (version, location) = (stored.version, format!("{}/{}/{}", ctx.base, kind.endpoint(), stored.id));
    let mut body = Vec::new();
    render::write_stored(&mut body, rs, stored, &ctx.base, &proj, proj.keeps_documents_whole(rs))?;
    Ok(Rendered { body, version, location })
}

/// What a PUT or PATCH computed from the resource as read: the new document (without `id`,
/// `members`, `password`), membership row changes, a new password hash.
struct Computed {
    doc: Value,
    members: Vec<MemberOp>,
    password_hash: Option<String>,
}

/// How many times a PUT or PATCH is computed again when another write changed the resource between
/// its read and its write. Each failed attempt waits for the write that beat it to commit, so
/// this bounds the work of one request under contention on one resource, not its correctness.
const WRITE_ATTEMPTS: usize = 10;

/// Stored documents (as JSON text) and PATCH requests above these sizes are parsed and computed
/// where blocking is allowed, so a large PATCH does not hold an async worker that other requests
/// (and other tenants) are waiting for.
const HEAVY_DOC_BYTES: usize = 32 * 1024;
const HEAVY_OPERATIONS: usize = 64;

/// How many heavy computations run at once: all cores but one, so that however many large PATCHes
/// arrive (from one tenant or several), one core is always left for every other request. Further
/// heavy requests wait their turn in arrival order (tokio's semaphore is fair), as parked tasks
/// that cost no CPU.
static HEAVY_PERMITS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
});

/// Runs `f` off the async workers when `heavy`: after a turn of [`HEAVY_PERMITS`], with
/// `block_in_place` on the multi-threaded runtime (the server's); inline elsewhere (a
/// single-threaded test runtime has no other worker).
async fn compute_where<R>(heavy: bool, f: impl FnOnce() -> R) -> R {
    let multi = matches!(
        tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
        Ok(tokio::runtime::RuntimeFlavor::MultiThread)
    );
    if !(heavy && multi) {
        return f();
    }
    // The semaphore is never closed, so acquiring fails never; were it to, the work still runs.
    let _turn = HEAVY_PERMITS.acquire().await.ok();
    tokio::task::block_in_place(f)
}

/// Which resource a read-modify-write concerns.
struct Rmw<'a> {
    kind: ResourceKind,
    id: &'a str,
    operation: UpdateOperation,
    precondition: Option<&'a Precondition>,
}

/// RFC 7644 §3.5.1/§3.5.2 as optimistic concurrency: reads the resource (no lock), checks `If-Match`
/// (RFC 9110 §13.1.1) against the version read, runs `compute` (validation, the PATCH engine: the
/// expensive part, outside every write lock), and has the store write the result only if the
/// resource is still at the version read. When another write got in between, the whole step is
/// repeated from a fresh read, at most [`WRITE_ATTEMPTS`] times; a client's `If-Match` is checked
/// again against each fresh read (412 once it no longer matches). Member-only changes do not
/// depend on the document read, so without `If-Match` they are written unconditionally and never
/// retried: concurrent member adds to one group all apply, each an O(1) row operation.
///
/// Returns the resource as written (members not loaded) and whether its document is the one
/// written (`false` when an unconditional member write landed after another writer's change: the
/// caller re-reads it for the response).
async fn read_modify_write(
    ctx: &Ctx<'_>,
    w: &Rmw<'_>,
    heavy_request: bool,
    compute: impl Fn(&StoredResource) -> Result<Computed, ApiError>,
) -> Result<(StoredResource, bool), ApiError> {
    let rs = schema_of(w.kind);
    let conditional_request = matches!(w.precondition, Some(Precondition::Versions(_)));
    for _ in 0..WRITE_ATTEMPTS {
        let read =
            ctx.store.get(ctx.tenant, w.kind, w.id, false).await?.ok_or_else(|| not_found(w.kind, w.id))?;
        // RFC 9110 §13.1.1: If-Match is true when the current entity-tag is one of those listed.
        if w.precondition.is_some_and(|p| !p.matches(read.version)) {
            return Err(StoreError::VersionMismatch.into());
        }
        let heavy = heavy_request || read.doc.as_str().len() > HEAVY_DOC_BYTES;
        let (current, computed) = compute_where(heavy, || -> Result<_, ApiError> {
            let current = read.parsed()?;
            let computed = compute(&current)?;
            Ok((current, computed))
        })
        .await?;
        let Computed { doc, members, password_hash } = computed;
        let doc_changed = doc != current.doc;
        if !doc_changed && members.is_empty() && password_hash.is_none() {
            // Nothing to write: the resource as read is the answer, its version (ETag) unchanged.
            return Ok((current, true));
        }
        // The document was computed from this version, and the event log compares the new one
        // (or a new password) with it; member rows are relative to the rows, not to this read.
        let from_read = doc_changed || password_hash.is_some();
        let update = Update {
            operation: w.operation,
            expected_version: (from_read || conditional_request).then_some(current.version),
            before: from_read.then(|| current.doc.clone()),
            doc: doc_changed.then(|| (doc.clone(), search_document(rs, &doc))),
            members,
            password_hash,
        };
        match ctx.store.update(&ctx.write, w.kind, w.id, update).await {
            Ok(updated) => {
                if !updated.report.skipped.is_empty() {
                    tracing::info!(skipped = ?updated.report.skipped, "members that name no resource of the tenant were not added");
                }
                let fresh = updated.previous_version == current.version;
                let stored = StoredResource {
                    doc: if doc_changed { doc } else { current.doc },
                    version: updated.version,
                    last_modified: updated.last_modified,
                    members: None,
                    groups: None,
                    ..current
                };
                return Ok((stored, fresh));
            }
            // Another write changed the resource since it was read: compute again from a new read.
            Err(StoreError::VersionMismatch) => {}
            Err(e) => return Err(store_error(w.kind, w.id)(e)),
        }
    }
    tracing::warn!(id = w.id, attempts = WRITE_ATTEMPTS, "a write lost every attempt to concurrent writes");
    Err(ScimError::status(
        409,
        format!(
            "the {} changed {WRITE_ATTEMPTS} times while this request was being applied; retry it",
            w.kind.as_str()
        ),
    )
    .into())
}

/// A PUT's representation with what it needs from outside the write: the new password's hash
/// (Argon2 is slow on purpose) and the tenant's verified domains. Shared by PUT and by
/// re-activation, which is a PUT onto the inactive user.
struct Replacement {
    body: Value,
    opts: ValidateOptions,
    domains: Option<Vec<String>>,
    password_hash: Option<String>,
    limits: Limits,
}

impl Replacement {
    /// Hashes the body's new password, if it has one.
    async fn prepare(ctx: &Ctx<'_>, kind: ResourceKind, body: Value) -> Result<Self, ApiError> {
        let password_hash = match writes::new_password(schema_of(kind), WriteRequest::Resource, &body) {
            Some(plain) => Some(password::hash(plain.to_owned(), ctx.clock).await?),
            None => None,
        };
        Self::new(ctx, kind, body, password_hash).await
    }

    /// With the body's password already hashed.
    async fn new(
        ctx: &Ctx<'_>,
        kind: ResourceKind,
        body: Value,
        password_hash: Option<String>,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            body,
            opts: validate_options(ctx),
            domains: allowed_domains(ctx, kind).await?,
            password_hash,
            limits: ctx.limits,
        })
    }

    /// RFC 7644 §3.5.1 onto `current`.
    fn apply(&self, kind: ResourceKind, current: &StoredResource) -> Result<Computed, ApiError> {
        let rs = schema_of(kind);
        let mut existing = current.doc.clone();
        if let Some(obj) = existing.as_object_mut() {
            obj.insert("id".into(), Value::String(current.id.clone()));
        }
        let mut doc = validate::validate_replace(rs, &existing, self.body.clone(), &self.opts)?;
        self.limits.check_document(&doc, Some(&current.doc))?;
        check_domains(&doc, Some(&current.doc), self.domains.as_deref())?;
        strip_server_attributes(&mut doc);
        ensure_active(kind, &mut doc, Some(&current.doc));
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("password");
        }
        // RFC 7644 §3.5.1: PUT replaces the member list; the store applies it as a difference of rows.
        let members = if kind == ResourceKind::Group {
            vec![MemberOp::Set(take_member_ids(&mut doc))]
        } else {
            Vec::new()
        };
        Ok(Computed { doc, members, password_hash: self.password_hash.clone() })
    }
}

/// What a PUT or PATCH answers: the resource (200) or nothing (204, RFC 7644 §3.5.2), decided by
/// the handler from the tenant's `patch_response` policy before the write, so a 204 costs no
/// read-back and no rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Body,
    NoContent,
}

/// The response of a write: rendered when a body is wanted, else only the new version.
async fn written(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    (stored, fresh): (StoredResource, bool),
    answer: Answer,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let rs = schema_of(kind);
    if answer == Answer::NoContent {
        let location = format!("{}/{}/{}", ctx.base, kind.endpoint(), stored.id);
        return Ok(Rendered { body: Vec::new(), version: stored.version, location });
    }
    let stored = reread(ctx, kind, stored, !fresh || wants_members(ctx, rs, p)?).await?;
    rendered(ctx, rs, &stored, p)
}

/// RFC 7644 §3.5.1: PUT replaces the resource (readOnly attributes kept, immutable ones checked).
pub(crate) async fn replace(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    id: &str,
    body: Value,
    precondition: Option<&Precondition>,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let replacement = Replacement::prepare(ctx, kind, body).await?;
    let write = Rmw { kind, id, operation: UpdateOperation::Replace, precondition };
    let result = read_modify_write(ctx, &write, false, |current| replacement.apply(kind, current)).await?;
    written(ctx, kind, result, Answer::Body, p).await
}

/// RFC 7644 §3.5.2: PATCH, applied by the engine to the resource as read, outside the store's
/// write; member changes become row inserts and deletes.
pub(crate) async fn modify(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    id: &str,
    body: Value,
    precondition: Option<&Precondition>,
    (p, answer): (&ProjectionParams, Answer),
) -> Result<Rendered, ApiError> {
    let rs = schema_of(kind);
    let ops = patch::parse_patch_request(&body)?;
    ctx.limits.check_patch(&ops)?;
    // The new password, found as the engine resolves paths, is hashed before the write.
    let password_hash = match writes::new_password(rs, WriteRequest::Patch, &body) {
        Some(plain) => Some(password::hash(plain.to_owned(), ctx.clock).await?),
        None => None,
    };
    drop(body);
    let opts = PatchOptions { strict: ctx.settings.strict };
    let domains = allowed_domains(ctx, kind).await?;
    let limits = ctx.limits;
    let compute = |current: &StoredResource| -> Result<Computed, ApiError> {
        let mut doc = current.doc.clone();
        // The stored document has no `id` (it is a column), but the engine must see it to tell an
        // echoed id (Okta's group rename `{"id": <same>, "displayName": …}`, ignored) from a change
        // (400 `mutability`, docs/idp-compatibility.md §4); it is stripped again below.
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("id".into(), Value::String(current.id.clone()));
        }
        let outcome = patch::apply(rs, &mut doc, &ops, &opts)?;
        validate::check_required_kept(rs, &doc)?;
        // The result is what is stored: every way a PATCH writes values is bounded here.
        limits.check_document(&doc, Some(&current.doc))?;
        check_domains(&doc, Some(&current.doc), domains.as_deref())?;
        strip_server_attributes(&mut doc);
        // No `ensure_active`: the PATCH result is what the client asked for, and a removed
        // `active` stays removed (RFC 7644 §3.5.2.2).
        let had_password = doc.as_object_mut().and_then(|o| o.remove("password")).is_some();
        Ok(Computed {
            doc,
            members: plan::member_ops(outcome.members),
            password_hash: if had_password { password_hash.clone() } else { None },
        })
    };
    let write = Rmw { kind, id, operation: UpdateOperation::Patch, precondition };
    let result = read_modify_write(ctx, &write, ops.len() > HEAVY_OPERATIONS, compute).await?;
    written(ctx, kind, result, answer, p).await
}

/// RFC 7644 §3.6: DELETE → 204.
pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    id: &str,
    precondition: Option<&Precondition>,
) -> Result<(), ApiError> {
    let Some(Precondition::Versions(_)) = precondition else {
        // No If-Match, or `*` (any current representation: the resource exists or it is 404).
        return ctx.store.delete(&ctx.write, kind, id, None).await.map_err(store_error(kind, id));
    };
    // RFC 9110 §13.1.1: If-Match lists entity-tags, and matches when the current one is among
    // them; the store deletes only at the version that was found to match.
    for _ in 0..WRITE_ATTEMPTS {
        let read = ctx.store.get(ctx.tenant, kind, id, false).await?.ok_or_else(|| not_found(kind, id))?;
        if precondition.is_some_and(|p| !p.matches(read.version)) {
            return Err(StoreError::VersionMismatch.into());
        }
        match ctx.store.delete(&ctx.write, kind, id, Some(read.version)).await {
            Err(StoreError::VersionMismatch) => {}
            other => return other.map_err(store_error(kind, id)),
        }
    }
    Err(StoreError::VersionMismatch.into())
}

/// RFC 7644 §3.4.2: list one resource type, the filter answered by the database.
pub(crate) async fn list(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    params: &ListParams,
) -> Result<Vec<u8>, ApiError> {
    let rs = schema_of(kind);
    let proj = render::projection(rs, &params.projection)?;
    check_filter(ctx, rs, params.filter.as_ref())?;
    let query = ListQuery {
        filter: params.filter.clone(),
        sort_by: params.sort_by.clone(),
        sort_order: params.sort_order,
        paging: params.paging.clone(),
        with_members: members_wanted(ctx, rs, &proj),
    };
    let page = ctx.store.list(ctx.tenant, kind, rs, &query).await?;
    let whole = proj.keeps_documents_whole(rs);
    let mut body = render::ListBody::default();
    for res in page.resources {
        render::write_stored(body.next(), rs, res, &ctx.base, &proj, whole)?;
    }
    let start = matches!(params.paging, Paging::Index { .. }).then_some(params.start_index);
    body.finish(page.total_results, start, page.next_cursor.as_deref())
}

/// RFC 7644 §3.4.3: `POST /.search` at the root searches every resource type the filter applies to
/// (Users first, then Groups), paged as one list.
pub(crate) async fn search_all(
    ctx: &Ctx<'_>,
    params: &ListParams,
    can_read: &[ResourceKind],
) -> Result<Vec<u8>, ApiError> {
    let Paging::Index { start_index, count } = params.paging else {
        return Err(ScimError::new(
            scimd_schema::ScimType::InvalidCursor,
            "cursor paging is not available for a search across resource types",
        )
        .into());
    };
    let mut offset = start_index.saturating_sub(1);
    let mut remaining = count;
    let mut total = 0;
    let mut body = render::ListBody::default();
    let mut any_valid = false;
    let mut last_error = None;
    for &kind in can_read {
        let rs = schema_of(kind);
        if let Some(f) = &params.filter
            && let Err(e) = scimd_schema::filter_eval::validate_filter(rs, f)
        {
            // The filter names attributes this type does not have: it matches none of its
            // resources, and the search goes on with the other types.
            last_error = Some(e);
            continue;
        }
        check_filter(ctx, rs, params.filter.as_ref())?;
        any_valid = true;
        let proj = render::projection(rs, &params.projection)?;
        let query = ListQuery {
            filter: params.filter.clone(),
            sort_by: params.sort_by.clone().filter(|s| rs.resolve_path(s).is_ok()),
            sort_order: params.sort_order,
            paging: Paging::Index { start_index: offset + 1, count: remaining },
            with_members: members_wanted(ctx, rs, &proj),
        };
        let page = ctx.store.list(ctx.tenant, kind, rs, &query).await?;
        total += page.total_results;
        remaining = remaining.saturating_sub(page.resources.len() as u64);
        offset = offset.saturating_sub(page.total_results);
        let whole = proj.keeps_documents_whole(rs);
        for res in page.resources {
            render::write_stored(body.next(), rs, res, &ctx.base, &proj, whole)?;
        }
    }
    if !any_valid && let Some(e) = last_error {
        return Err(e.into());
    }
    body.finish(total, Some(start_index), None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn domains_are_checked_case_insensitively_on_username_and_emails() {
        let allowed = vec!["example.com".to_owned()];
        let ok = json!({"userName": "b@EXAMPLE.com", "emails": [{"value": "b@example.com"}]});
        assert!(check_domains(&ok, None, Some(&allowed)).is_ok());
        assert!(
            check_domains(&json!({"userName": "bjensen"}), None, Some(&allowed)).is_ok(),
            "not an address"
        );
        let bad = json!({"userName": "b@example.com", "emails": [{"value": "b@example.com"}, {"value": "b@evil.example"}]});
        let e = check_domains(&bad, None, Some(&allowed)).unwrap_err();
        assert!(e.detail.contains("emails[1].value") && e.detail.contains("evil.example"), "{}", e.detail);
        assert!(
            check_domains(&json!({"userName": "b@sub.example.com"}), None, Some(&allowed)).is_err(),
            "exact domains only"
        );
        assert!(check_domains(&bad, None, None).is_ok(), "no verified domain: no restriction");
    }

    #[test]
    fn only_values_a_write_sets_are_checked() {
        let allowed = vec!["example.com".to_owned()];
        let outside =
            json!({"userName": "old@elsewhere.example", "emails": [{"value": "old@elsewhere.example"}]});
        let mut deactivated = outside.clone();
        deactivated["active"] = json!(false);
        assert!(check_domains(&deactivated, Some(&outside), Some(&allowed)).is_ok(), "unchanged values");
        let renamed =
            json!({"userName": "new@elsewhere.example", "emails": [{"value": "OLD@elsewhere.example"}]});
        let e = check_domains(&renamed, Some(&outside), Some(&allowed)).unwrap_err();
        assert!(e.detail.contains("userName"), "a new userName is checked: {}", e.detail);
        let moved = json!({"userName": "old@elsewhere.example", "emails": [{"value": "b@example.com"}]});
        assert!(check_domains(&moved, Some(&outside), Some(&allowed)).is_ok(), "a new email in the domain");
    }

    #[test]
    fn active_defaults_on_create_and_is_kept_by_a_put_that_omits_it() {
        // docs/idp-compatibility.md §1.8: always present; never flipped by omission.
        let mut created = json!({"userName": "a"});
        ensure_active(ResourceKind::User, &mut created, None);
        assert_eq!(created["active"], true);

        let stored = json!({"userName": "a", "active": false});
        let mut put = json!({"userName": "a"});
        ensure_active(ResourceKind::User, &mut put, Some(&stored));
        assert_eq!(put["active"], false, "a PUT without active does not re-enable");

        let mut put = json!({"userName": "a", "active": true});
        ensure_active(ResourceKind::User, &mut put, Some(&stored));
        assert_eq!(put["active"], true, "a PUT that says active is obeyed");

        let mut patched = json!({"userName": "a"});
        ensure_active(ResourceKind::User, &mut patched, Some(&json!({"userName": "a"})));
        assert!(patched.get("active").is_none(), "a removed active is not put back by a PUT");

        let mut group = json!({"displayName": "g"});
        ensure_active(ResourceKind::Group, &mut group, None);
        assert!(group.get("active").is_none(), "Groups have no active");
    }
}
