//! `ResourceStore` on SQLite: Users and Groups, membership rows, the `emails.value` index rows and
//! the audit record of each write, all in one `BEGIN IMMEDIATE` transaction on the one writer
//! connection.
//!
//! Lists compile the filter to SQL with `scimd_store::sql` and read the `search` column; nothing is
//! filtered in memory.

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use scimd_filter::{AttrPath, Filter, Span};
use scimd_schema::patch::MemberChange;
use scimd_schema::value::{fold_case, format_datetime};
use scimd_schema::{ResourceSchema, ScimError, filter_eval};
use scimd_store::sql::{Bind, Dialect, INDEXED_VALUES, SqlBuilder, compile_filter, compile_sort};
use scimd_store::{
    ListPage, ListQuery, Member, MemberReport, NewResource, Paging, ResourceKind, ResourceStore, Result,
    StoreError, StoredResource, UpdateFn, WriteContext,
};

use crate::{SqliteStore, map_err};

/// The columns every read selects, in the order [`row_to_resource`] reads them.
const COLUMNS: &str = "r.id, r.kind, r.version, r.created, r.last_modified, r.doc";

/// A seventh column for Users: RFC 7643 §4.1.2 `groups`, computed from membership rows, as a JSON
/// array of `[group id, group displayName]`, so a user and its groups are read in one statement
/// (issue 7: each statement is a round trip to a connection's worker thread, and those hand-offs,
/// not SQLite, dominated the profile of `GET /Users/{id}` and of a page of users). Direct
/// memberships only; nested-group (indirect) membership is not expanded.
const GROUPS_COLUMN: &str = ", (SELECT json_group_array(json_array(m.group_id, g.display_name)) \
     FROM members m JOIN resources g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
     WHERE m.tenant_id = r.tenant_id AND m.member_id = r.id)";

/// Reads [`GROUPS_COLUMN`] into `res.groups`, ordered by group id like every other member list.
fn groups_from_row(row: &SqliteRow, res: &mut StoredResource) -> Result<()> {
    let text: String = row.try_get(6).map_err(map_err)?;
    let mut pairs: Vec<(String, Option<String>)> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Internal(format!("groups column does not parse: {e}")))?;
    // json_group_array's order is unspecified: sort here.
    pairs.sort();
    res.groups = Some(
        pairs.into_iter().map(|(id, display)| Member { id, kind: ResourceKind::Group, display }).collect(),
    );
    Ok(())
}

/// Columns derived from a document: what the unique index, the hot filters and member display read.
struct Derived {
    name_key: String,
    display_name_key: Option<String>,
    display_name: Option<String>,
    user_name: Option<String>,
    external_id: Option<String>,
    active: Option<bool>,
    values: Vec<(String, String)>,
}

fn derive(kind: ResourceKind, doc: &Value) -> Result<Derived> {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let user_name = text("userName");
    let display_name = text("displayName");
    // RFC 7643 §4.1.1 userName and §4.2 displayName are REQUIRED; validation guarantees them, and
    // this is the last line of defence before the unique index.
    let key_source = match kind {
        ResourceKind::User => user_name.as_deref(),
        ResourceKind::Group => display_name.as_deref(),
    };
    let Some(key_source) = key_source else {
        let attr = if kind == ResourceKind::User { "userName" } else { "displayName" };
        return Err(ScimError::invalid_value(format!("{attr} is required")).into());
    };
    let mut values = Vec::new();
    for (attr, sub) in INDEXED_VALUES {
        if let Some(items) = doc.get(*attr).and_then(Value::as_array) {
            for item in items {
                if let Some(v) = item.get(*sub).and_then(Value::as_str) {
                    let pair = (format!("{attr}.{sub}"), fold_case(v).into_owned());
                    if !values.contains(&pair) {
                        values.push(pair);
                    }
                }
            }
        }
    }
    Ok(Derived {
        name_key: fold_case(key_source).into_owned(),
        display_name_key: display_name.as_deref().map(|d| fold_case(d).into_owned()),
        display_name,
        user_name,
        external_id: text("externalId"),
        active: doc.get("active").and_then(Value::as_bool),
        values,
    })
}

fn unique_attr(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    }
}

fn parse_time(s: &str) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Internal(format!("stored time {s:?} does not parse: {e}")))
}

fn row_to_resource(row: &SqliteRow) -> Result<StoredResource> {
    let kind: String = row.try_get(1).map_err(map_err)?;
    let created: String = row.try_get(3).map_err(map_err)?;
    let modified: String = row.try_get(4).map_err(map_err)?;
    let doc: String = row.try_get(5).map_err(map_err)?;
    Ok(StoredResource {
        id: row.try_get(0).map_err(map_err)?,
        kind: ResourceKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown kind {kind:?} in the database")))?,
        version: row.try_get(2).map_err(map_err)?,
        created: parse_time(&created)?,
        last_modified: parse_time(&modified)?,
        doc: serde_json::from_str(&doc)
            .map_err(|e| StoreError::Internal(format!("stored document does not parse: {e}")))?,
        members: None,
        groups: None,
    })
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
            Bind::Real(f) => q.bind(*f),
            Bind::Bool(b) => q.bind(*b),
        };
    }
    q
}

async fn insert_values(tx: &mut SqliteConnection, tenant: &str, id: &str, d: &Derived) -> Result<()> {
    for (attr, value) in &d.values {
        sqlx::query("INSERT INTO resource_values (tenant_id, resource_id, attr, value) VALUES (?, ?, ?, ?)")
            .bind(tenant)
            .bind(id)
            .bind(attr)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

/// Inserts membership rows for ids that name a resource of the tenant; returns how many rows were
/// added and records the ids that name nothing (issue 3: no dangling references, the request still
/// succeeds, the skipped ids go to the audit log).
async fn add_members(
    tx: &mut SqliteConnection,
    tenant: &str,
    group_id: &str,
    ids: impl Iterator<Item = &str>,
    report: &mut MemberReport,
) -> Result<u64> {
    let mut added = 0;
    for member in ids {
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM resources WHERE tenant_id = ? AND id = ?")
                .bind(tenant)
                .bind(member)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        let Some(kind) = kind else {
            if !report.skipped.iter().any(|s| s == member) {
                report.skipped.push(member.to_owned());
            }
            continue;
        };
        // Adding an existing member is a no-op (RFC 7644 §3.5.2.1: "if the value already exists,
        // … no change"), which the primary key turns into an ignored insert.
        let done = sqlx::query(
            "INSERT INTO members (tenant_id, group_id, member_id, member_kind) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(group_id)
        .bind(member)
        .bind(kind)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        added += done.rows_affected();
    }
    Ok(added)
}

async fn load_members(
    ex: impl sqlx::SqliteExecutor<'_>,
    tenant: &str,
    group_id: &str,
) -> Result<Vec<(String, ResourceKind, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT m.member_id, m.member_kind, COALESCE(o.display_name, o.user_name) \
         FROM members m JOIN resources o ON o.tenant_id = m.tenant_id AND o.id = m.member_id \
         WHERE m.tenant_id = ? AND m.group_id = ? ORDER BY m.member_id",
    )
    .bind(tenant)
    .bind(group_id)
    .fetch_all(ex)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get(1).map_err(map_err)?;
            Ok((
                r.try_get(0).map_err(map_err)?,
                ResourceKind::parse(&kind).unwrap_or(ResourceKind::User),
                r.try_get(2).map_err(map_err)?,
            ))
        })
        .collect()
}

/// Applies one PATCH member change as row inserts/deletes; returns the number of rows changed.
async fn apply_member_change(
    tx: &mut SqliteConnection,
    tenant: &str,
    group_id: &str,
    change: &MemberChange,
    report: &mut MemberReport,
) -> Result<u64> {
    match change {
        MemberChange::Add(refs) => {
            add_members(tx, tenant, group_id, refs.iter().map(|m| m.value.as_str()), report).await
        }
        MemberChange::Remove(ids) => {
            let mut n = 0;
            for id in ids {
                n +=
                    sqlx::query("DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ?")
                        .bind(tenant)
                        .bind(group_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
            }
            Ok(n)
        }
        MemberChange::RemoveAll => {
            Ok(sqlx::query("DELETE FROM members WHERE tenant_id = ? AND group_id = ?")
                .bind(tenant)
                .bind(group_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected())
        }
        MemberChange::RemoveWhere(filter) => {
            // A member filter other than `value eq "…"` (rare: `members[type eq "Group"]`). The
            // candidates are this one group's rows, each tested with the same evaluator that defines
            // filter semantics everywhere, wrapped as `members[<filter>]` against a one-member group.
            let wrapped = Filter::ValuePath {
                attr: AttrPath::simple("members"),
                filter: Box::new(filter.clone()),
                span: Span::default(),
            };
            let group_schema = ResourceSchema::group();
            let mut n = 0;
            for (id, kind, display) in load_members(&mut *tx, tenant, group_id).await? {
                let mut member = json!({"value": id, "type": kind.as_str()});
                if let (Some(d), Some(obj)) = (display, member.as_object_mut()) {
                    obj.insert("display".into(), Value::String(d));
                }
                let doc = json!({ "members": [member] });
                if filter_eval::matches(&group_schema, &wrapped, &doc)? {
                    n += sqlx::query(
                        "DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ?",
                    )
                    .bind(tenant)
                    .bind(group_id)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                }
            }
            Ok(n)
        }
    }
}

/// Makes the group's member rows equal to `refs`: deletes the rows not named, inserts the new ones.
async fn set_members(
    tx: &mut SqliteConnection,
    tenant: &str,
    group_id: &str,
    refs: &[scimd_schema::patch::MemberRef],
    report: &mut MemberReport,
) -> Result<u64> {
    let wanted: std::collections::HashSet<&str> = refs.iter().map(|m| m.value.as_str()).collect();
    let current: Vec<String> =
        sqlx::query_scalar("SELECT member_id FROM members WHERE tenant_id = ? AND group_id = ?")
            .bind(tenant)
            .bind(group_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
    let current_set: std::collections::HashSet<&str> = current.iter().map(String::as_str).collect();
    let gone: Vec<String> = current.iter().filter(|m| !wanted.contains(m.as_str())).cloned().collect();
    let mut n = apply_member_change(tx, tenant, group_id, &MemberChange::Remove(gone), report).await?;
    let new_ids = refs.iter().map(|m| m.value.as_str()).filter(|m| !current_set.contains(m));
    n += add_members(tx, tenant, group_id, new_ids, report).await?;
    Ok(n)
}

/// What an audit record says was done.
struct Audited<'a> {
    operation: &'a str,
    kind: ResourceKind,
    id: &'a str,
    status: u16,
}

async fn audit(
    tx: &mut SqliteConnection,
    ctx: &WriteContext,
    at: &str,
    what: Audited<'_>,
    report: &MemberReport,
) -> Result<()> {
    let Audited { operation, kind, id, status } = what;
    let detail =
        (!report.skipped.is_empty()).then(|| json!({ "skippedMembers": report.skipped }).to_string());
    sqlx::query(
        "INSERT INTO audit (tenant_id, at, actor, request_id, operation, resource_kind, resource_id, status, detail) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ctx.tenant.to_string())
    .bind(at)
    .bind(&ctx.actor)
    .bind(ctx.request_id.as_deref())
    .bind(operation)
    .bind(kind.as_str())
    .bind(id)
    .bind(i64::from(status))
    .bind(detail)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Turns a unique-index violation into the SCIM-level conflict on the attribute it guards.
fn conflict_on(kind: ResourceKind) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(unique_attr(kind).to_owned()),
        other => other,
    }
}

impl SqliteStore {
    async fn fill_members(&self, tenant: &str, res: &mut StoredResource) -> Result<()> {
        match res.kind {
            ResourceKind::Group => {
                let members = load_members(&self.reader, tenant, &res.id).await?;
                res.members = Some(
                    members.into_iter().map(|(id, kind, display)| Member { id, kind, display }).collect(),
                );
            }
            ResourceKind::User => {
                // RFC 7643 §4.1.2 `groups`: computed from membership rows. Direct memberships only;
                // nested-group (indirect) membership is not expanded.
                let rows = sqlx::query(
                    "SELECT m.group_id, g.display_name FROM members m \
                     JOIN resources g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
                     WHERE m.tenant_id = ? AND m.member_id = ? ORDER BY m.group_id",
                )
                .bind(tenant)
                .bind(&res.id)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
                let groups = rows
                    .iter()
                    .map(|r| {
                        Ok(Member {
                            id: r.try_get(0).map_err(map_err)?,
                            kind: ResourceKind::Group,
                            display: r.try_get(1).map_err(map_err)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                res.groups = Some(groups);
            }
        }
        Ok(())
    }

    async fn read_one(
        ex: impl sqlx::SqliteExecutor<'_>,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<StoredResource>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ?"
        ))
        .bind(tenant)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(ex)
        .await
        .map_err(map_err)?;
        row.as_ref().map(row_to_resource).transpose()
    }
}

/// RFC 9865 cursors: opaque to clients. With the default order (by id, which is creation order for
/// UUIDv7) the cursor is the last id seen, so pages stay consistent while resources are added; with
/// `sortBy` it is the offset of the next page.
#[derive(Debug, PartialEq, Eq)]
enum Cursor {
    After(String),
    Offset(u64),
}

impl Cursor {
    fn encode(&self) -> String {
        let raw = match self {
            Cursor::After(id) => format!("a:{id}"),
            Cursor::Offset(n) => format!("o:{n}"),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(s: &str) -> Option<Cursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        match raw.split_once(':')? {
            ("a", id) if Uuid::parse_str(id).is_ok() => Some(Cursor::After(id.to_owned())),
            ("o", n) => n.parse().ok().map(Cursor::Offset),
            _ => None,
        }
    }
}

impl SqliteStore {
    /// Runs one resource write in the group-commit batch (see `group_commit.rs`) and answers only
    /// once the batch holding it is committed, so every acknowledged write is on disk.
    async fn batched<T>(&self, op: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T>) -> Result<T> {
        let mut slot = self.group.enter().await?;
        let result = match slot.conn() {
            Ok(conn) => op(conn).await,
            Err(e) => Err(e),
        };
        let ticket = slot.finish(result.is_ok()).await?;
        ticket.wait().await?;
        result
    }

    async fn create_in(
        &self,
        tx: &mut SqliteConnection,
        ctx: &WriteContext,
        new: NewResource,
        derived: Derived,
    ) -> Result<(StoredResource, MemberReport)> {
        let tenant = ctx.tenant.to_string();
        let id = self.clock.new_id().to_string();
        let now = self.clock.now();
        let at = format_datetime(now);
        let doc_text = new.doc.to_string();
        let mut report = MemberReport::default();

        sqlx::query(
            "INSERT INTO resources (tenant_id, id, kind, version, created, last_modified, name_key, \
             display_name_key, display_name, user_name, external_id, active, password_hash, doc, search) \
             VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&tenant)
        .bind(&id)
        .bind(new.kind.as_str())
        .bind(&at)
        .bind(&at)
        .bind(&derived.name_key)
        .bind(&derived.display_name_key)
        .bind(&derived.display_name)
        .bind(&derived.user_name)
        .bind(&derived.external_id)
        .bind(derived.active)
        .bind(&new.password_hash)
        .bind(&doc_text)
        .bind(new.search.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)
        .map_err(conflict_on(new.kind))?;
        insert_values(tx, &tenant, &id, &derived).await?;
        if new.kind == ResourceKind::Group {
            add_members(tx, &tenant, &id, new.members.iter().map(String::as_str), &mut report).await?;
        }
        if let Some(refused) = ctx.refusal(&report) {
            return Err(refused);
        }
        audit(tx, ctx, &at, Audited { operation: "create", kind: new.kind, id: &id, status: 201 }, &report)
            .await?;

        let stored = StoredResource {
            id,
            kind: new.kind,
            version: 1,
            created: now,
            last_modified: now,
            doc: new.doc,
            members: None,
            groups: None,
        };
        Ok((stored, report))
    }

    async fn update_in(
        &self,
        tx: &mut SqliteConnection,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
        update: &UpdateFn<'_>,
    ) -> Result<(StoredResource, MemberReport)> {
        let tenant = ctx.tenant.to_string();
        let mut report = MemberReport::default();
        let current = Self::read_one(&mut *tx, &tenant, kind, id).await?.ok_or(StoreError::NotFound)?;
        // RFC 7644 §3.14: the version is checked inside the write transaction, so the check and the
        // write cannot be separated by another writer.
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch);
        }
        let decided = update(&current)?;

        let mut member_rows = 0;
        if kind == ResourceKind::Group {
            let mut changes = decided.members.iter().peekable();
            while let Some(change) = changes.next() {
                // `RemoveAll` then `Add` is a replacement of the whole list (PUT, or PATCH replace of
                // `members`): applied as the difference, so an unchanged list touches no row and a
                // one-member change touches one row.
                if let (MemberChange::RemoveAll, Some(MemberChange::Add(refs))) = (change, changes.peek()) {
                    changes.next();
                    member_rows += set_members(tx, &tenant, id, refs, &mut report).await?;
                    continue;
                }
                member_rows += apply_member_change(tx, &tenant, id, change, &mut report).await?;
            }
        }
        // Tenant policy unknown_members = refuse: the transaction (or savepoint) rolls back.
        if let Some(refused) = ctx.refusal(&report) {
            return Err(refused);
        }
        let doc_change = decided.doc.filter(|(doc, _)| *doc != current.doc);
        let changed = doc_change.is_some() || member_rows > 0 || decided.password_hash.is_some();
        if !changed {
            // A no-op PATCH or an identical PUT keeps its version (and ETag), so clients that
            // compare ETags see nothing changed. Nothing written, nothing audited.
            return Ok((current, report));
        }

        let now = self.clock.now();
        let at = format_datetime(now);
        let version = current.version + 1;
        let mut stored = current;
        if let Some((doc, search)) = doc_change {
            let d = derive(kind, &doc)?;
            sqlx::query(
                "UPDATE resources SET name_key = ?, display_name_key = ?, display_name = ?, user_name = ?, \
                 external_id = ?, active = ?, doc = ?, search = ? WHERE tenant_id = ? AND id = ?",
            )
            .bind(&d.name_key)
            .bind(&d.display_name_key)
            .bind(&d.display_name)
            .bind(&d.user_name)
            .bind(&d.external_id)
            .bind(d.active)
            .bind(doc.to_string())
            .bind(search.to_string())
            .bind(&tenant)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)
            .map_err(conflict_on(kind))?;
            sqlx::query("DELETE FROM resource_values WHERE tenant_id = ? AND resource_id = ?")
                .bind(&tenant)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_values(tx, &tenant, id, &d).await?;
            stored.doc = doc;
        }
        if let Some(hash) = &decided.password_hash {
            sqlx::query("UPDATE resources SET password_hash = ? WHERE tenant_id = ? AND id = ?")
                .bind(hash)
                .bind(&tenant)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        sqlx::query("UPDATE resources SET version = ?, last_modified = ? WHERE tenant_id = ? AND id = ?")
            .bind(version)
            .bind(&at)
            .bind(&tenant)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        audit(tx, ctx, &at, Audited { operation: "update", kind, id, status: 200 }, &report).await?;
        stored.version = version;
        stored.last_modified = now;
        Ok((stored, report))
    }

    async fn delete_in(
        &self,
        tx: &mut SqliteConnection,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let tenant = ctx.tenant.to_string();
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM resources WHERE tenant_id = ? AND kind = ? AND id = ?")
                .bind(&tenant)
                .bind(kind.as_str())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        let version = version.ok_or(StoreError::NotFound)?;
        if if_match.is_some_and(|v| v != version) {
            return Err(StoreError::VersionMismatch);
        }
        // Memberships in both directions and index rows go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM resources WHERE tenant_id = ? AND id = ?")
            .bind(&tenant)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let at = format_datetime(self.clock.now());
        audit(tx, ctx, &at, Audited { operation: "delete", kind, id, status: 204 }, &MemberReport::default())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl ResourceStore for SqliteStore {
    async fn create(&self, ctx: &WriteContext, new: NewResource) -> Result<(StoredResource, MemberReport)> {
        // Derived before joining the batch: a document without its key fails without a savepoint.
        let derived = derive(new.kind, &new.doc)?;
        self.batched(async |tx| self.create_in(tx, ctx, new, derived).await).await
    }

    async fn get(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        id: &str,
        with_members: bool,
    ) -> Result<Option<StoredResource>> {
        let tenant = tenant.to_string();
        if with_members && kind == ResourceKind::User {
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS}{GROUPS_COLUMN} FROM resources r \
                 WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ?"
            ))
            .bind(&tenant)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
            let Some(row) = row else { return Ok(None) };
            let mut res = row_to_resource(&row)?;
            groups_from_row(&row, &mut res)?;
            return Ok(Some(res));
        }
        let Some(mut res) = Self::read_one(&self.reader, &tenant, kind, id).await? else { return Ok(None) };
        if with_members {
            self.fill_members(&tenant, &mut res).await?;
        }
        Ok(Some(res))
    }

    async fn update(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
        update: &UpdateFn<'_>,
    ) -> Result<(StoredResource, MemberReport)> {
        self.batched(async |tx| self.update_in(tx, ctx, kind, id, if_match, update).await).await
    }

    async fn delete(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        self.batched(async |tx| self.delete_in(tx, ctx, kind, id, if_match).await).await
    }

    async fn list(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        schema: &ResourceSchema,
        query: &ListQuery,
    ) -> Result<ListPage> {
        let tenant_text = tenant.to_string();
        let mut filter_sql = SqlBuilder::new(Dialect::Sqlite);
        filter_sql.push("r.tenant_id = ");
        filter_sql.bind(Bind::Text(tenant_text.clone()));
        filter_sql.push(" AND r.kind = ");
        filter_sql.bind(Bind::Text(kind.as_str().to_owned()));
        if let Some(filter) = &query.filter {
            filter_sql.push(" AND (");
            compile_filter(filter, schema, kind, &mut filter_sql)?;
            filter_sql.push(")");
        }

        // totalResults counts every match, whatever the page (RFC 7644 §3.4.2). Without a filter
        // that is the tenant's count of this kind, kept by triggers (migration 0005): reading one
        // row costs the same at a million users as at ten.
        let (count_text, count_binds) = {
            let mut b = SqlBuilder::new(Dialect::Sqlite);
            if query.filter.is_none() {
                b.push("SELECT coalesce((SELECT n FROM resource_counts WHERE tenant_id = ");
                b.bind(Bind::Text(tenant_text.clone()));
                b.push(" AND kind = ");
                b.bind(Bind::Text(kind.as_str().to_owned()));
                b.push("), 0)");
            } else {
                b.push("SELECT count(*) FROM resources r WHERE ");
                b.append(&filter_sql);
            }
            b.finish()
        };
        let total: i64 = bind_all(sqlx::query(&count_text), &count_binds)
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        let total = u64::try_from(total).unwrap_or(0);

        let (count, mut offset, mut after) = match &query.paging {
            Paging::Index { start_index, count } => (*count, start_index.saturating_sub(1), None),
            Paging::Cursor { cursor, count } => match cursor.as_deref().map(Cursor::decode) {
                None => (*count, 0, None),
                Some(Some(Cursor::After(id))) if query.sort_by.is_none() => (*count, 0, Some(id)),
                Some(Some(Cursor::Offset(n))) if query.sort_by.is_some() => (*count, n, None),
                Some(_) => {
                    return Err(ScimError::new(
                        scimd_schema::ScimType::InvalidCursor,
                        "the cursor is not one this server issued for this query",
                    )
                    .into());
                }
            },
        };
        if count == 0 {
            return Ok(ListPage { total_results: total, resources: Vec::new(), next_cursor: None });
        }

        let mut page = SqlBuilder::new(Dialect::Sqlite);
        let user_groups = query.with_members && kind == ResourceKind::User;
        let groups_column = if user_groups { GROUPS_COLUMN } else { "" };
        page.push(&format!("SELECT {COLUMNS}{groups_column} FROM resources r WHERE "));
        page.append(&filter_sql);
        if let Some(after_id) = after.take() {
            page.push(" AND r.id > ");
            page.bind(Bind::Text(after_id));
        }
        page.push(" ORDER BY ");
        match &query.sort_by {
            Some(sort_by) => compile_sort(sort_by, query.sort_order, schema, kind, &mut page)?,
            None => {
                page.push("r.id");
            }
        }
        page.push(" LIMIT ");
        page.bind(Bind::Int(i64::try_from(count).unwrap_or(i64::MAX)));
        page.push(" OFFSET ");
        page.bind(Bind::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        let (text, binds) = page.finish();
        let rows = bind_all(sqlx::query(&text), &binds).fetch_all(&self.reader).await.map_err(map_err)?;
        let mut resources = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut res = row_to_resource(row)?;
            if user_groups {
                groups_from_row(row, &mut res)?;
            }
            resources.push(res);
        }
        if query.with_members && kind == ResourceKind::Group {
            for res in &mut resources {
                self.fill_members(&tenant_text, res).await?;
            }
        }

        let next_cursor = match &query.paging {
            Paging::Cursor { .. } if resources.len() as u64 == count => {
                offset += count;
                let more = match (&query.sort_by, resources.last()) {
                    (None, Some(last)) => Some(Cursor::After(last.id.clone())),
                    (Some(_), _) if offset < total => Some(Cursor::Offset(offset)),
                    _ => None,
                };
                more.map(|c| c.encode())
            }
            _ => None,
        };
        Ok(ListPage { total_results: total, resources, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_forgeries() {
        let id = "0190f5a0-0000-7000-8000-000000000001";
        for c in [Cursor::After(id.into()), Cursor::Offset(200)] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::decode("not base64!"), None);
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a:'; DROP TABLE resources");
        assert_eq!(Cursor::decode(&forged), None);
    }

    #[test]
    fn derive_folds_keys_and_collects_email_values() {
        let doc = json!({
            "userName": "BJensen@Example.com",
            "displayName": "Babs",
            "emails": [{"value": "BJ@Example.com", "type": "work"}, {"value": "bj@example.com"}],
        });
        let d = derive(ResourceKind::User, &doc).unwrap();
        assert_eq!(d.name_key, "bjensen@example.com");
        assert_eq!(d.values, vec![("emails.value".to_owned(), "bj@example.com".to_owned())]);
        assert!(derive(ResourceKind::Group, &json!({"userName": "x"})).is_err());
    }
}

#[cfg(test)]
mod store_tests {
    use std::sync::Arc;

    use serde_json::json;

    use scimd_schema::patch::MemberRef;
    use scimd_store::{
        ListQuery, NewResource, Paging, ResourceKind, ResourceStore, SortOrder, StoreError, TenantStore,
        Update, WriteContext, search_document,
    };

    use crate::test_support::store;

    fn user(name: &str) -> NewResource {
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "emails": [{"value": format!("{name}@Example.com"), "type": "work"}],
        });
        let search = search_document(&scimd_schema::ResourceSchema::user(), &doc);
        NewResource { kind: ResourceKind::User, doc, search, members: Vec::new(), password_hash: None }
    }

    fn group(name: &str, members: Vec<String>) -> NewResource {
        let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name});
        let search = search_document(&scimd_schema::ResourceSchema::group(), &doc);
        NewResource { kind: ResourceKind::Group, doc, search, members, password_hash: None }
    }

    async fn ctx(s: &crate::SqliteStore) -> WriteContext {
        let tenant = s.create_tenant("acme").await.unwrap();
        WriteContext {
            tenant: tenant.id,
            actor: "test".into(),
            request_id: None,
            refuse_unknown_members: false,
        }
    }

    fn query(filter: Option<&str>, paging: Paging) -> ListQuery {
        ListQuery {
            filter: filter.map(|f| scimd_filter::parse_filter(f).unwrap()),
            sort_by: None,
            sort_order: SortOrder::Ascending,
            paging,
            with_members: false,
        }
    }

    #[tokio::test]
    async fn user_name_is_unique_case_insensitively_and_external_id_is_not() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        s.create(&ctx, user("bjensen")).await.unwrap();
        let err = s.create(&ctx, user("BJENSEN")).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(ref a) if a == "userName"), "{err:?}");
        // A group may share a user's name: uniqueness is per resource type.
        s.create(&ctx, group("bjensen", vec![])).await.unwrap();
    }

    #[tokio::test]
    async fn membership_rows_skip_unknown_ids_and_feed_groups_and_filters() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let (alice, _) = s.create(&ctx, user("alice")).await.unwrap();
        let (g, report) =
            s.create(&ctx, group("eng", vec![alice.id.clone(), "no-such-id".into()])).await.unwrap();
        assert_eq!(report.skipped, vec!["no-such-id".to_owned()]);
        let read = s.get(ctx.tenant, ResourceKind::Group, &g.id, true).await.unwrap().unwrap();
        let members = read.members.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].display.as_deref(), Some("alice"));
        let u = s.get(ctx.tenant, ResourceKind::User, &alice.id, true).await.unwrap().unwrap();
        assert_eq!(u.groups.unwrap()[0].id, g.id);

        let rs = scimd_schema::ResourceSchema::group();
        let f = format!("members.value eq \"{}\"", alice.id);
        let page = s
            .list(
                ctx.tenant,
                ResourceKind::Group,
                &rs,
                &query(Some(&f), Paging::Index { start_index: 1, count: 10 }),
            )
            .await
            .unwrap();
        assert_eq!(page.total_results, 1);

        // Deleting the user removes its memberships.
        s.delete(&ctx, ResourceKind::User, &alice.id, None).await.unwrap();
        let read = s.get(ctx.tenant, ResourceKind::Group, &g.id, true).await.unwrap().unwrap();
        assert!(read.members.unwrap().is_empty());
    }

    #[tokio::test]
    async fn updates_check_versions_and_no_ops_keep_them() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let (u, _) = s.create(&ctx, user("carol")).await.unwrap();
        let same = |cur: &scimd_store::StoredResource| {
            Ok(Update { doc: Some((cur.doc.clone(), cur.doc.clone())), members: vec![], password_hash: None })
        };
        let (after, _) = s.update(&ctx, ResourceKind::User, &u.id, Some(1), &same).await.unwrap();
        assert_eq!(after.version, 1, "an update that changes nothing keeps the version");
        let rename = |cur: &scimd_store::StoredResource| {
            let mut doc = cur.doc.clone();
            doc["userName"] = json!("carol2");
            let search = search_document(&scimd_schema::ResourceSchema::user(), &doc);
            Ok(Update { doc: Some((doc, search)), members: vec![], password_hash: None })
        };
        let (after, _) = s.update(&ctx, ResourceKind::User, &u.id, Some(1), &rename).await.unwrap();
        assert_eq!(after.version, 2);
        let stale = s.update(&ctx, ResourceKind::User, &u.id, Some(1), &rename).await.unwrap_err();
        assert!(matches!(stale, StoreError::VersionMismatch));
        let rs = scimd_schema::ResourceSchema::user();
        let page = s
            .list(
                ctx.tenant,
                ResourceKind::User,
                &rs,
                &query(Some("userName eq \"CAROL2\""), Paging::Index { start_index: 1, count: 10 }),
            )
            .await
            .unwrap();
        assert_eq!(page.total_results, 1);
        assert!(matches!(
            s.delete(&ctx, ResourceKind::User, &u.id, Some(1)).await,
            Err(StoreError::VersionMismatch)
        ));
    }

    #[tokio::test]
    async fn concurrent_member_adds_lose_nothing() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let mut ids = Vec::new();
        for i in 0..32 {
            ids.push(s.create(&ctx, user(&format!("u{i}"))).await.unwrap().0.id);
        }
        let (g, _) = s.create(&ctx, group("all", vec![])).await.unwrap();
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for id in ids.clone() {
            let (s, ctx, gid) = (s.clone(), ctx.clone(), g.id.clone());
            tasks.push(tokio::spawn(async move {
                let add = move |_: &scimd_store::StoredResource| {
                    Ok(Update {
                        doc: None,
                        members: vec![scimd_schema::patch::MemberChange::Add(vec![MemberRef {
                            value: id.clone(),
                            type_: None,
                            display: None,
                        }])],
                        password_hash: None,
                    })
                };
                s.update(&ctx, ResourceKind::Group, &gid, None, &add).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let read = s.get(ctx.tenant, ResourceKind::Group, &g.id, true).await.unwrap().unwrap();
        assert_eq!(read.members.unwrap().len(), 32);
        assert_eq!(read.version, 33, "each add that changed a row bumps the version once");
    }

    /// A page of users gets each user's `groups` in the page's own statement: the same as reading
    /// each user alone, and the same as the membership rows say.
    #[tokio::test]
    async fn a_page_of_users_has_the_same_groups_as_each_user_read_alone() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(s.create(&ctx, user(&format!("g{i}"))).await.unwrap().0.id);
        }
        s.create(&ctx, group("a", vec![ids[0].clone(), ids[2].clone()])).await.unwrap();
        s.create(&ctx, group("b", vec![ids[2].clone(), ids[3].clone()])).await.unwrap();
        let rs = scimd_schema::ResourceSchema::user();
        let mut q = query(None, Paging::Index { start_index: 1, count: 10 });
        q.with_members = true;
        let page = s.list(ctx.tenant, ResourceKind::User, &rs, &q).await.unwrap();
        assert_eq!(page.resources.len(), 5);
        for res in &page.resources {
            let alone = s.get(ctx.tenant, ResourceKind::User, &res.id, true).await.unwrap().unwrap();
            assert_eq!(res.groups, alone.groups, "{}", res.id);
            // The membership rows read by their own query (the path Groups and writes use).
            let mut rows = res.clone();
            s.fill_members(&ctx.tenant.to_string(), &mut rows).await.unwrap();
            assert_eq!(res.groups, rows.groups, "{}", res.id);
        }
        let mut names: Vec<&str> =
            page.resources[2].groups.as_ref().unwrap().iter().filter_map(|g| g.display.as_deref()).collect();
        names.sort_unstable();
        assert_eq!(names, ["a", "b"]);
        let counts: Vec<usize> = page.resources.iter().map(|r| r.groups.as_ref().unwrap().len()).collect();
        assert_eq!(counts, vec![1, 0, 2, 1, 0]);
    }

    /// Issue 7, group commit: 64 concurrent creates, 16 of them duplicating another's userName, share
    /// batches; each request gets its own answer, a conflict undoes only its own statements, and the
    /// rows and audit records are exactly those of the successful creates. Tenant writes through
    /// `write_tx` run between the batches.
    #[tokio::test]
    async fn concurrent_creates_with_conflicts_each_get_their_own_answer() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (s, ctx) = (s.clone(), ctx.clone());
            // Names n0..n47; i in 48..64 repeats n0..n15 (upper-cased: the key is case-folded).
            let name = if i < 48 { format!("n{i}") } else { format!("N{}", i - 48) };
            tasks.push(tokio::spawn(async move { (name.clone(), s.create(&ctx, user(&name)).await) }));
        }
        let tenants: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.create_tenant(&format!("t{i}")).await })
            })
            .collect();
        let mut created = std::collections::BTreeMap::new();
        let mut conflicts = 0;
        for t in tasks {
            let (name, result) = t.await.unwrap();
            match result {
                Ok((stored, _)) => {
                    assert_eq!(stored.doc["userName"], json!(name));
                    let fresh = created.insert(name.to_lowercase(), stored.id);
                    assert!(fresh.is_none(), "{name} was created twice");
                }
                Err(StoreError::Conflict(attr)) => {
                    assert_eq!(attr, "userName");
                    conflicts += 1;
                }
                Err(e) => panic!("{name}: {e:?}"),
            }
        }
        for t in tenants {
            t.await.unwrap().unwrap();
        }
        assert_eq!((created.len(), conflicts), (48, 16));

        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name_key, id FROM resources WHERE kind = 'User' ORDER BY name_key")
                .fetch_all(&s.reader)
                .await
                .unwrap();
        let expected: Vec<(String, String)> = created.clone().into_iter().collect();
        assert_eq!(rows, expected);
        let mut audited: Vec<String> =
            sqlx::query_scalar("SELECT resource_id FROM audit WHERE operation = 'create'")
                .fetch_all(&s.reader)
                .await
                .unwrap();
        audited.sort();
        let mut ids: Vec<String> = created.into_values().collect();
        ids.sort();
        assert_eq!(audited, ids, "one audit record per successful create, none for a conflict");
        let values: i64 =
            sqlx::query_scalar("SELECT count(*) FROM resource_values").fetch_one(&s.reader).await.unwrap();
        assert_eq!(values, 48, "a conflicting create left no index rows behind");
        let tenants: i64 =
            sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&s.reader).await.unwrap();
        assert_eq!(tenants, 5);
    }

    /// The counts that unfiltered totalResults read stay equal to count(*) through creates, a
    /// conflicting create (its savepoint rolled back), deletes, and another tenant's writes.
    #[tokio::test]
    async fn resource_counts_follow_every_insert_and_delete() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let other = WriteContext {
            tenant: s.create_tenant("other").await.unwrap().id,
            actor: "test".into(),
            request_id: None,
            refuse_unknown_members: false,
        };
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(s.create(&ctx, user(&format!("c{i}"))).await.unwrap().0.id);
        }
        assert!(s.create(&ctx, user("C0")).await.is_err());
        s.create(&other, user("c0")).await.unwrap();
        s.create(&ctx, group("g", vec![ids[0].clone()])).await.unwrap();
        s.delete(&ctx, ResourceKind::User, &ids[1], None).await.unwrap();
        let rs = scimd_schema::ResourceSchema::user();
        let page = s
            .list(
                ctx.tenant,
                ResourceKind::User,
                &rs,
                &query(None, Paging::Index { start_index: 1, count: 2 }),
            )
            .await
            .unwrap();
        assert_eq!(page.total_results, 5);
        let counted: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT tenant_id, kind, n FROM resource_counts ORDER BY 1, 2")
                .fetch_all(&s.reader)
                .await
                .unwrap();
        let actual: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT tenant_id, kind, count(*) FROM resources GROUP BY tenant_id, kind ORDER BY 1, 2",
        )
        .fetch_all(&s.reader)
        .await
        .unwrap();
        assert_eq!(counted, actual);
        // A tenant with nothing of a kind: zero, not an error.
        let groups = s
            .list(
                other.tenant,
                ResourceKind::Group,
                &scimd_schema::ResourceSchema::group(),
                &query(None, Paging::Index { start_index: 1, count: 2 }),
            )
            .await
            .unwrap();
        assert_eq!(groups.total_results, 0);
    }

    /// An operation dropped inside its savepoint (a cancelled request) is undone, and the batch it
    /// was in still commits the other operations.
    #[tokio::test]
    async fn an_abandoned_operation_is_rolled_back_and_the_batch_commits() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let mut slot = s.group.enter().await.unwrap();
        sqlx::query("UPDATE tenants SET settings = '{\"x\":1}'").execute(slot.conn().unwrap()).await.unwrap();
        drop(slot);
        let (u, _) = s.create(&ctx, user("after")).await.unwrap();
        let settings: String =
            sqlx::query_scalar("SELECT settings FROM tenants").fetch_one(&s.reader).await.unwrap();
        assert_eq!(settings, "{}");
        assert!(s.get(ctx.tenant, ResourceKind::User, &u.id, false).await.unwrap().is_some());
        // The writer connection went back to the pool: other writers proceed.
        s.create_tenant("other").await.unwrap();
    }

    /// Issue 3: the `eq` filters Entra and Okta match with are index lookups, never a table scan.
    #[tokio::test]
    async fn eq_filters_on_hot_attributes_use_an_index() {
        use super::bind_all;
        use scimd_store::sql::{Bind, Dialect, SqlBuilder, compile_filter};
        use sqlx::Row as _;

        let (_dir, s) = store().await;
        let cases = [
            (ResourceKind::User, "userName eq \"bjensen\"", "resources_name_key"),
            (ResourceKind::User, "externalId eq \"abc\"", "resources_external_id"),
            (ResourceKind::User, "emails.value eq \"bj@example.com\"", "resource_values_lookup"),
            (
                ResourceKind::User,
                "emails[type eq \"work\" and value eq \"bj@example.com\"]",
                "resource_values_lookup",
            ),
            (ResourceKind::Group, "displayName eq \"Eng\"", "resources_display_name"),
        ];
        for (kind, filter, index) in cases {
            let rs = match kind {
                ResourceKind::User => scimd_schema::ResourceSchema::user(),
                ResourceKind::Group => scimd_schema::ResourceSchema::group(),
            };
            let mut b = SqlBuilder::new(Dialect::Sqlite);
            b.push("EXPLAIN QUERY PLAN SELECT r.id FROM resources r WHERE r.tenant_id = ");
            b.bind(Bind::Text("t".into()));
            b.push(" AND r.kind = ");
            b.bind(Bind::Text(kind.as_str().into()));
            b.push(" AND (");
            compile_filter(&scimd_filter::parse_filter(filter).unwrap(), &rs, kind, &mut b).unwrap();
            b.push(")");
            let (text, binds) = b.finish();
            let rows = bind_all(sqlx::query(&text), &binds).fetch_all(&s.reader).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(3)).collect();
            let plan = plan.join("\n");
            assert!(!plan.contains("SCAN r"), "{filter}: the plan scans resources:\n{plan}");
            assert!(plan.contains(index), "{filter}: {index} is not in the plan:\n{plan}");
        }
    }

    #[tokio::test]
    async fn paging_by_index_and_cursor_covers_every_resource_once() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        for i in 0..7 {
            s.create(&ctx, user(&format!("p{i}"))).await.unwrap();
        }
        let rs = scimd_schema::ResourceSchema::user();
        let page = s
            .list(
                ctx.tenant,
                ResourceKind::User,
                &rs,
                &query(None, Paging::Index { start_index: 6, count: 5 }),
            )
            .await
            .unwrap();
        assert_eq!((page.total_results, page.resources.len()), (7, 2));
        let none = s
            .list(
                ctx.tenant,
                ResourceKind::User,
                &rs,
                &query(None, Paging::Index { start_index: 1, count: 0 }),
            )
            .await
            .unwrap();
        assert_eq!((none.total_results, none.resources.len()), (7, 0));

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .list(
                    ctx.tenant,
                    ResourceKind::User,
                    &rs,
                    &query(None, Paging::Cursor { cursor: cursor.clone(), count: 3 }),
                )
                .await
                .unwrap();
            seen.extend(page.resources.iter().map(|r| r.doc["userName"].as_str().unwrap().to_owned()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).map(|i| format!("p{i}")).collect::<Vec<_>>());
        let bad = s
            .list(
                ctx.tenant,
                ResourceKind::User,
                &rs,
                &query(None, Paging::Cursor { cursor: Some("bogus".into()), count: 3 }),
            )
            .await;
        assert!(
            matches!(bad, Err(StoreError::Scim(ref e)) if e.scim_type == Some(scimd_schema::ScimType::InvalidCursor))
        );
    }
}
