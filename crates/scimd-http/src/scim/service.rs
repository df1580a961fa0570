//! The SCIM operations (RFC 7644 §3.3–§3.6): validate, store, render. Handlers in `mod.rs` only
//! extract the request and call these; no SQL and no protocol rule lives in a handler.

use std::sync::{Arc, LazyLock};

use serde_json::Value;

use scimd_schema::patch::{self, MemberChange, PatchOptions};
use scimd_schema::validate::{self, ValidateOptions};
use scimd_schema::{ResourceSchema, ScimError};
use scimd_store::{
    ListQuery, NewResource, Paging, Reprovision, ResourceKind, Store, StoreError, StoredResource,
    TenantSettings, Update, WriteContext, search_document,
};
use uuid::Uuid;

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
}

fn wants_members(rs: &ResourceSchema, p: &ProjectionParams) -> Result<bool, ScimError> {
    let proj = render::projection(rs, p)?;
    Ok(proj.wants(rs, "members") || proj.wants(rs, "groups"))
}

fn rendered(
    ctx: &Ctx<'_>,
    rs: &ResourceSchema,
    res: &StoredResource,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let proj = render::projection(rs, p)?;
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

/// IDP-BEHAVIOUR §1.8: a User always shows `active` — OKTA-SPEC reads `Resources[0].active`, and
/// Okta takes a missing or false `active` on a user it just pushed as "deactivated" and loops
/// (kortix-ai/suna#4244). RFC 7643 gives `active` no default, and RFC 7644 §3.5.1 lets the server
/// choose for an omitted readWrite attribute: on create a user is active unless it says otherwise
/// (what every IdP means by creating it); a PUT that omits `active` does not assert it, so the
/// stored value is kept — neither re-enabling a disabled user nor disabling an active one. The same
/// holds for a PATCH that removes or clears `active` (IDP-BEHAVIOUR §1.7.7's `""`/`null`): a
/// user is enabled or disabled, never neither.
fn ensure_active(kind: ResourceKind, doc: &mut Value, current: Option<&Value>) {
    if kind != ResourceKind::User {
        return;
    }
    let Some(obj) = doc.as_object_mut() else { return };
    if obj.get("active").is_some_and(Value::is_boolean) {
        return;
    }
    let kept = current.and_then(|c| c.get("active")).and_then(Value::as_bool).unwrap_or(true);
    obj.insert("active".into(), Value::Bool(kept));
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
    let mut doc = validate::validate_create(rs, body, &validate_options(ctx))?;
    check_domains(&doc, None, allowed_domains(ctx, kind).await?.as_deref())?;
    strip_server_attributes(&mut doc);
    ensure_active(kind, &mut doc, None);
    let members = if kind == ResourceKind::Group { take_member_ids(&mut doc) } else { Vec::new() };
    let password_hash = password::take_and_hash(&mut doc, ctx.clock).await?;
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
        // POST (issue 7 profile: 8 % of the server's CPU under POST /Users).
        stored.groups = Some(Vec::new());
    } else {
        stored = reread(ctx, kind, stored, wants_members(rs, p)?).await?;
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

/// Tenant policy `reprovision = reactivate` (issue 5): Okta re-creates users it deactivated. A POST
/// whose userName belongs to an *inactive* user replaces that user with the POSTed representation
/// (as PUT would, RFC 7644 §3.5.1), sets it active, and answers 201 with its id; an *active* user
/// with that userName is still 409 `uniqueness`. The activity check runs inside the update's
/// transaction, so two concurrent POSTs cannot both take the user over.
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
    let update = move |current: &StoredResource| -> scimd_store::Result<Update> {
        if current.doc.get("active").and_then(Value::as_bool) != Some(false) {
            return Err(StoreError::Conflict("userName".into()));
        }
        replacement.apply(kind, current)
    };
    let (stored, _) = ctx
        .store
        .update(&ctx.write, kind, &existing.id, None, &update)
        .await
        .map_err(store_error(kind, &existing.id))?;
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
    let with_members = wants_members(rs, p)?;
    let stored =
        ctx.store.get(ctx.tenant, kind, id, with_members).await?.ok_or_else(|| not_found(kind, id))?;
    let proj = render::projection(rs, p)?;
    let (version, location) = (stored.version, format!("{}/{}/{}", ctx.base, kind.endpoint(), stored.id));
    let mut body = Vec::new();
    render::write_stored(&mut body, rs, stored, &ctx.base, &proj, proj.keeps_documents_whole(rs))?;
    Ok(Rendered { body, version, location })
}

/// A PUT's representation with what it needs from outside the write transaction: the new
/// password's hash (Argon2 is slow on purpose) and the tenant's verified domains. Shared by PUT and
/// by re-activation, which is a PUT onto the inactive user.
struct Replacement {
    body: Value,
    opts: ValidateOptions,
    domains: Option<Vec<String>>,
    password_hash: Option<String>,
}

impl Replacement {
    /// Hashes the body's new password, if it has one.
    async fn prepare(ctx: &Ctx<'_>, kind: ResourceKind, body: Value) -> Result<Self, ApiError> {
        let password_hash =
            match body.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("password"))) {
                Some((_, Value::String(plain))) if !plain.is_empty() => {
                    Some(password::hash(plain.clone(), ctx.clock).await?)
                }
                _ => None,
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
        })
    }

    /// RFC 7644 §3.5.1 onto `current`, inside the write transaction.
    fn apply(&self, kind: ResourceKind, current: &StoredResource) -> scimd_store::Result<Update> {
        let rs = schema_of(kind);
        let mut existing = current.doc.clone();
        if let Some(obj) = existing.as_object_mut() {
            obj.insert("id".into(), Value::String(current.id.clone()));
        }
        let mut doc = validate::validate_replace(rs, &existing, self.body.clone(), &self.opts)?;
        check_domains(&doc, Some(&current.doc), self.domains.as_deref())?;
        strip_server_attributes(&mut doc);
        ensure_active(kind, &mut doc, Some(&current.doc));
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("password");
        }
        // RFC 7644 §3.5.1: PUT replaces the member list; the store applies it as a difference of rows.
        let members = if kind == ResourceKind::Group {
            let ids = take_member_ids(&mut doc);
            vec![
                MemberChange::RemoveAll,
                MemberChange::Add(
                    ids.into_iter()
                        .map(|value| patch::MemberRef { value, type_: None, display: None })
                        .collect(),
                ),
            ]
        } else {
            Vec::new()
        };
        let search = search_document(rs, &doc);
        Ok(Update { doc: Some((doc, search)), members, password_hash: self.password_hash.clone() })
    }
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
    let rs = schema_of(kind);
    let replacement = Replacement::prepare(ctx, kind, body).await?;
    let update = move |current: &StoredResource| replacement.apply(kind, current);
    let expected = precondition.and_then(Precondition::expected);
    let (stored, _) =
        ctx.store.update(&ctx.write, kind, id, expected, &update).await.map_err(store_error(kind, id))?;
    let stored = reread(ctx, kind, stored, wants_members(rs, p)?).await?;
    rendered(ctx, rs, &stored, p)
}

/// Finds a new plaintext password among PATCH operations (path `password`, or a `password` key of a
/// no-path value), so it can be hashed before the write transaction.
fn patch_password(ops: &[patch::PatchOp]) -> Option<String> {
    ops.iter().rev().find_map(|op| match (&op.path, &op.value) {
        (Some(path), Some(Value::String(s)))
            if path.attr.name.eq_ignore_ascii_case("password") && path.filter.is_none() =>
        {
            Some(s.clone())
        }
        (None, Some(Value::Object(obj))) => obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("password"))
            .and_then(|(_, v)| v.as_str().map(str::to_owned)),
        _ => None,
    })
}

/// RFC 7644 §3.5.2: PATCH, applied by the engine inside the store's transaction; member changes
/// become row inserts and deletes.
pub(crate) async fn modify(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    id: &str,
    body: Value,
    precondition: Option<&Precondition>,
    p: &ProjectionParams,
) -> Result<Rendered, ApiError> {
    let rs = schema_of(kind);
    let ops = patch::parse_patch_request(&body)?;
    let password_hash = match patch_password(&ops) {
        Some(plain) if !plain.is_empty() => Some(password::hash(plain, ctx.clock).await?),
        _ => None,
    };
    let opts = PatchOptions { strict: ctx.settings.strict };
    let domains = allowed_domains(ctx, kind).await?;
    let update = |current: &StoredResource| -> scimd_store::Result<Update> {
        let mut doc = current.doc.clone();
        // The stored document has no `id` (it is a column), but the engine must see it to tell an
        // echoed id (Okta's group rename `{"id": <same>, "displayName": …}`, ignored) from a change
        // (400 `mutability`, IDP-BEHAVIOUR §7); it is stripped again below.
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("id".into(), Value::String(current.id.clone()));
        }
        let outcome = patch::apply(rs, &mut doc, &ops, &opts)?;
        check_domains(&doc, Some(&current.doc), domains.as_deref())?;
        strip_server_attributes(&mut doc);
        ensure_active(kind, &mut doc, Some(&current.doc));
        let had_password = doc.as_object_mut().and_then(|o| o.remove("password")).is_some();
        let doc_change = (doc != current.doc).then(|| {
            let search = search_document(rs, &doc);
            (doc, search)
        });
        Ok(Update {
            doc: doc_change,
            members: outcome.members,
            password_hash: if had_password { password_hash.clone() } else { None },
        })
    };
    let expected = precondition.and_then(Precondition::expected);
    let (stored, _) =
        ctx.store.update(&ctx.write, kind, id, expected, &update).await.map_err(store_error(kind, id))?;
    let stored = reread(ctx, kind, stored, wants_members(rs, p)?).await?;
    rendered(ctx, rs, &stored, p)
}

/// RFC 7644 §3.6: DELETE → 204.
pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    id: &str,
    precondition: Option<&Precondition>,
) -> Result<(), ApiError> {
    let expected = precondition.and_then(Precondition::expected);
    ctx.store.delete(&ctx.write, kind, id, expected).await.map_err(store_error(kind, id))
}

/// RFC 7644 §3.4.2: list one resource type, the filter answered by the database.
pub(crate) async fn list(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    params: &ListParams,
) -> Result<Vec<u8>, ApiError> {
    let rs = schema_of(kind);
    let proj = render::projection(rs, &params.projection)?;
    let query = ListQuery {
        filter: params.filter.clone(),
        sort_by: params.sort_by.clone(),
        sort_order: params.sort_order,
        paging: params.paging.clone(),
        with_members: proj.wants(rs, "members") || proj.wants(rs, "groups"),
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
        any_valid = true;
        let proj = render::projection(rs, &params.projection)?;
        let query = ListQuery {
            filter: params.filter.clone(),
            sort_by: params.sort_by.clone().filter(|s| rs.resolve_path(s).is_ok()),
            sort_order: params.sort_order,
            paging: Paging::Index { start_index: offset + 1, count: remaining },
            with_members: proj.wants(rs, "members") || proj.wants(rs, "groups"),
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
        // IDP-BEHAVIOUR §1.8: always present; never flipped by omission.
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

        let mut group = json!({"displayName": "g"});
        ensure_active(ResourceKind::Group, &mut group, None);
        assert!(group.get("active").is_none(), "Groups have no active");
    }
}
