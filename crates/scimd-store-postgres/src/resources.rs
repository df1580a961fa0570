//! `ResourceStore` on PostgreSQL: Users and Groups, membership rows, the `emails.value` index rows
//! and the audit record of each write, each write in one transaction.
//!
//! Replicas write concurrently, so what SQLite gets from its one writer is spelled out here (see the
//! crate docs): the unique index decides colliding creates; an update locks its row before reading
//! it and writes only `WHERE version = <the version it read>`; a member being added is locked
//! `FOR KEY SHARE` so that it cannot vanish between the check and the insert.
//!
//! Lists compile the filter to SQL with `scimd_store::sql` in the PostgreSQL dialect and read the
//! `search` column; nothing is filtered in memory.

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, Postgres, Row};
use uuid::Uuid;

use scimd_filter::{AttrPath, Filter, Span};
use scimd_schema::patch::{MemberChange, MemberRef};
use scimd_schema::value::format_datetime;
use scimd_schema::{ResourceSchema, filter_eval};
use scimd_store::sql::{
    Bind, Derived, Dialect, SqlBuilder, Window, compile_filter, page_statement, unique_attr,
};
use scimd_store::{
    DocText, ListPage, ListQuery, Member, MemberReport, NewResource, ResourceKind, ResourceStore, Result,
    StoreError, StoredResource, Update, Updated, WriteContext,
};

use crate::{PgStore, map_err, time_from_db};

/// The columns every read selects, in the order [`row_to_listed`] reads them. `doc` is `json`,
/// which sqlx does not decode as text: it is cast.
const COLUMNS: &str = "r.id, r.kind, r.version, r.created, r.last_modified, r.doc::text";

/// A row of [`COLUMNS`], its document left as text (list pages: see [`DocText`]).
fn row_to_listed(row: &PgRow) -> Result<StoredResource<DocText>> {
    let kind: String = row.try_get(1).map_err(map_err)?;
    let created: String = row.try_get(3).map_err(map_err)?;
    let modified: String = row.try_get(4).map_err(map_err)?;
    let doc: String = row.try_get(5).map_err(map_err)?;
    Ok(StoredResource {
        id: row.try_get(0).map_err(map_err)?,
        kind: ResourceKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown kind {kind:?} in the database")))?,
        version: row.try_get(2).map_err(map_err)?,
        created: time_from_db(&created)?,
        last_modified: time_from_db(&modified)?,
        doc: DocText::new(doc)?,
        members: None,
        groups: None,
    })
}

pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Postgres, PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
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

async fn insert_values(tx: &mut PgConnection, tenant: &str, id: &str, d: &Derived) -> Result<()> {
    if d.values.is_empty() {
        return Ok(());
    }
    let (attrs, values): (Vec<&str>, Vec<&str>) =
        d.values.iter().map(|(a, v)| (a.as_str(), v.as_str())).unzip();
    sqlx::query(
        "INSERT INTO resource_values (tenant_id, resource_id, attr, value) \
         SELECT $1, $2, a, v FROM unnest($3::text[], $4::text[]) AS x(a, v)",
    )
    .bind(tenant)
    .bind(id)
    .bind(attrs)
    .bind(values)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Inserts membership rows for ids that name a resource of the tenant; returns how many rows were
/// added and records the ids that name nothing (no dangling references, the request still
/// succeeds, the skipped ids go to the audit log).
async fn add_members(
    tx: &mut PgConnection,
    tenant: &str,
    group_id: &str,
    ids: impl Iterator<Item = &str>,
    report: &mut MemberReport,
) -> Result<u64> {
    let mut added = 0;
    for member in ids {
        // FOR KEY SHARE: a delete of this member on another replica either committed already (no
        // row: skipped like an unknown id) or waits until this transaction ends, so the foreign
        // key never fails halfway through a PATCH. It does not block updates of the member.
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM resources WHERE tenant_id = $1 AND id = $2 FOR KEY SHARE")
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
            "INSERT INTO members (tenant_id, group_id, member_id, member_kind) VALUES ($1, $2, $3, $4) \
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
    ex: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    group_id: &str,
) -> Result<Vec<(String, ResourceKind, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT m.member_id, m.member_kind, COALESCE(o.display_name, o.user_name) \
         FROM members m JOIN resources o ON o.tenant_id = m.tenant_id AND o.id = m.member_id \
         WHERE m.tenant_id = $1 AND m.group_id = $2 ORDER BY m.member_id",
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

async fn remove_member(tx: &mut PgConnection, tenant: &str, group_id: &str, id: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3")
        .bind(tenant)
        .bind(group_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected())
}

/// Applies one PATCH member change as row inserts/deletes; returns the number of rows changed.
async fn apply_member_change(
    tx: &mut PgConnection,
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
                n += remove_member(tx, tenant, group_id, id).await?;
            }
            Ok(n)
        }
        MemberChange::RemoveAll => {
            Ok(sqlx::query("DELETE FROM members WHERE tenant_id = $1 AND group_id = $2")
                .bind(tenant)
                .bind(group_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected())
        }
        MemberChange::RemoveWhere(filter) => {
            // A member filter other than `value eq "…"` (rare: `members[type eq "Group"]`): each of
            // this group's rows is tested with the evaluator that defines filter semantics
            // everywhere, wrapped as `members[<filter>]` against a one-member group. The group row
            // is locked, so the rows cannot change between the read and the deletes.
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
                    n += remove_member(tx, tenant, group_id, &id).await?;
                }
            }
            Ok(n)
        }
    }
}

/// Makes the group's member rows equal to `refs`: deletes the rows not named, inserts the new ones,
/// so an unchanged list touches no row.
async fn set_members(
    tx: &mut PgConnection,
    tenant: &str,
    group_id: &str,
    refs: &[MemberRef],
    report: &mut MemberReport,
) -> Result<u64> {
    let wanted: std::collections::HashSet<&str> = refs.iter().map(|m| m.value.as_str()).collect();
    let current: Vec<String> =
        sqlx::query_scalar("SELECT member_id FROM members WHERE tenant_id = $1 AND group_id = $2")
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
    tx: &mut PgConnection,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
    )
    .bind(ctx.tenant.to_string())
    .bind(at)
    .bind(&ctx.actor)
    .bind(ctx.request_id.as_deref())
    .bind(operation)
    .bind(kind.as_str())
    .bind(id)
    .bind(i32::from(status))
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

impl PgStore {
    /// RFC 7643 §4.1.2 `groups` for a whole page of users in one statement: one round trip
    /// instead of one per user (a page of 100 made 101 statements, 173 ms p50 in `bench/run.sh`).
    async fn fill_groups_of_page<D>(&self, tenant: &str, users: &mut [StoredResource<D>]) -> Result<()> {
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let rows = sqlx::query(
            "SELECT m.member_id, m.group_id, g.display_name FROM members m \
             JOIN resources g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
             WHERE m.tenant_id = $1 AND m.member_id = ANY($2) ORDER BY m.member_id, m.group_id",
        )
        .bind(tenant)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut by_user: std::collections::HashMap<String, Vec<Member>> = std::collections::HashMap::new();
        for r in &rows {
            let member: String = r.try_get(0).map_err(map_err)?;
            by_user.entry(member).or_default().push(Member {
                id: r.try_get(1).map_err(map_err)?,
                kind: ResourceKind::Group,
                display: r.try_get(2).map_err(map_err)?,
            });
        }
        for u in users {
            u.groups = Some(by_user.remove(&u.id).unwrap_or_default());
        }
        Ok(())
    }

    async fn fill_members<D: Send>(&self, tenant: &str, res: &mut StoredResource<D>) -> Result<()> {
        match res.kind {
            ResourceKind::Group => {
                let members = load_members(&self.pool, tenant, &res.id).await?;
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
                     WHERE m.tenant_id = $1 AND m.member_id = $2 ORDER BY m.group_id",
                )
                .bind(tenant)
                .bind(&res.id)
                .fetch_all(&self.pool)
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

    /// Reads one resource; `lock` takes its row lock (`FOR NO KEY UPDATE`) until the transaction
    /// ends, so the read, the caller's decision and the write form one step across replicas.
    /// `NO KEY`: the key never changes, and a lock that does not conflict with `FOR KEY SHARE` lets
    /// groups add this resource as a member meanwhile.
    async fn read_one(
        ex: impl sqlx::PgExecutor<'_>,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        lock: bool,
    ) -> Result<Option<StoredResource<DocText>>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM resources r WHERE r.tenant_id = $1 AND r.kind = $2 AND r.id = $3{}",
            if lock { " FOR NO KEY UPDATE" } else { "" }
        ))
        .bind(tenant)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(ex)
        .await
        .map_err(map_err)?;
        row.as_ref().map(row_to_listed).transpose()
    }
}

#[async_trait]
impl ResourceStore for PgStore {
    async fn create(&self, ctx: &WriteContext, new: NewResource) -> Result<(StoredResource, MemberReport)> {
        let derived = Derived::of(new.kind, &new.doc)?;
        let tenant = ctx.tenant.to_string();
        let id = self.clock.new_id().to_string();
        let now = self.clock.now();
        let at = format_datetime(now);
        let mut report = MemberReport::default();

        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // The unique index on (tenant_id, kind, name_key) decides between replicas creating the
        // same name: the second insert waits for the first to commit, then fails (→ 409).
        sqlx::query(
            "INSERT INTO resources (tenant_id, id, kind, version, created, last_modified, name_key, \
             display_name_key, display_name, user_name, external_id, active, password_hash, doc, search) \
             VALUES ($1, $2, $3, 1, $4, $4, $5, $6, $7, $8, $9, $10, $11, $12::json, $13::jsonb)",
        )
        .bind(&tenant)
        .bind(&id)
        .bind(new.kind.as_str())
        .bind(&at)
        .bind(&derived.name_key)
        .bind(&derived.display_name_key)
        .bind(&derived.display_name)
        .bind(&derived.user_name)
        .bind(&derived.external_id)
        .bind(derived.active)
        .bind(&new.password_hash)
        .bind(new.doc.to_string())
        .bind(new.search.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)
        .map_err(conflict_on(new.kind))?;
        insert_values(&mut tx, &tenant, &id, &derived).await?;
        if new.kind == ResourceKind::Group {
            add_members(&mut tx, &tenant, &id, new.members.iter().map(String::as_str), &mut report).await?;
        }
        if let Some(refused) = ctx.refusal(&report) {
            return Err(refused);
        }
        audit(
            &mut tx,
            ctx,
            &at,
            Audited { operation: "create", kind: new.kind, id: &id, status: 201 },
            &report,
        )
        .await?;
        tx.commit().await.map_err(map_err)?;

        let stored = StoredResource {
            id,
            kind: new.kind,
            version: 1,
            created: time_from_db(&at)?,
            last_modified: time_from_db(&at)?,
            doc: new.doc,
            members: None,
            groups: None,
        };
        Ok((stored, report))
    }

    async fn get(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        id: &str,
        with_members: bool,
    ) -> Result<Option<StoredResource<DocText>>> {
        let tenant = tenant.to_string();
        let Some(mut res) = Self::read_one(&self.pool, &tenant, kind, id, false).await? else {
            return Ok(None);
        };
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
        update: Update,
    ) -> Result<Updated> {
        let tenant = ctx.tenant.to_string();
        let mut report = MemberReport::default();
        // Derived before the transaction: while the row is locked only statements run.
        let doc_change = update
            .doc
            .as_ref()
            .map(|(doc, search)| {
                Ok::<_, StoreError>((Derived::of(kind, doc)?, doc.to_string(), search.to_string()))
            })
            .transpose()?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // The row lock serialises this write with every other one on the resource across replicas
        // (a filtered member removal reads the rows it deletes); NO KEY, so groups may still add
        // this resource as a member meanwhile (see `read_one`).
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, last_modified FROM resources \
             WHERE tenant_id = $1 AND kind = $2 AND id = $3 FOR NO KEY UPDATE",
        )
        .bind(&tenant)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let (previous, modified) = row.ok_or(StoreError::NotFound)?;
        // RFC 7644 §3.14: the version the caller computed from (or the client's If-Match) must be
        // the one this transaction holds locked.
        if update.expected_version.is_some_and(|v| v != previous) {
            return Err(StoreError::VersionMismatch);
        }

        let mut member_rows = 0;
        if kind == ResourceKind::Group {
            let mut changes = update.members.iter().peekable();
            while let Some(change) = changes.next() {
                // `RemoveAll` then `Add` is a replacement of the whole list (PUT, or PATCH replace of
                // `members`): applied as the difference, so an unchanged list touches no row and a
                // one-member change touches one row.
                if let (MemberChange::RemoveAll, Some(MemberChange::Add(refs))) = (change, changes.peek()) {
                    changes.next();
                    member_rows += set_members(&mut tx, &tenant, id, refs, &mut report).await?;
                    continue;
                }
                member_rows += apply_member_change(&mut tx, &tenant, id, change, &mut report).await?;
            }
        }
        // Tenant policy unknown_members = refuse: the transaction (or savepoint) rolls back.
        if let Some(refused) = ctx.refusal(&report) {
            return Err(refused);
        }
        let changed = doc_change.is_some() || member_rows > 0 || update.password_hash.is_some();
        if !changed {
            // A no-op PATCH or an identical PUT keeps its version (and ETag), so clients that
            // compare ETags see nothing changed. Nothing written, nothing audited.
            tx.rollback().await.map_err(map_err)?;
            let last_modified = time_from_db(&modified)?;
            return Ok(Updated { previous_version: previous, version: previous, last_modified, report });
        }

        let at = format_datetime(self.clock.now());
        // One conditional UPDATE writes the version with everything else: `WHERE version = $n`
        // makes the compare-and-set atomic in the database itself, whatever held the row before.
        let done = match &doc_change {
            Some((d, doc, search)) => {
                let done = sqlx::query(
                    "UPDATE resources SET version = version + 1, last_modified = $1, \
                     password_hash = COALESCE($2, password_hash), doc = $3::json, search = $4::jsonb, \
                     name_key = $5, display_name_key = $6, display_name = $7, user_name = $8, \
                     external_id = $9, active = $10 \
                     WHERE tenant_id = $11 AND id = $12 AND version = $13",
                )
                .bind(&at)
                .bind(&update.password_hash)
                .bind(doc)
                .bind(search)
                .bind(&d.name_key)
                .bind(&d.display_name_key)
                .bind(&d.display_name)
                .bind(&d.user_name)
                .bind(&d.external_id)
                .bind(d.active)
                .bind(&tenant)
                .bind(id)
                .bind(previous)
                .execute(&mut *tx)
                .await
                .map_err(map_err)
                .map_err(conflict_on(kind))?;
                sqlx::query("DELETE FROM resource_values WHERE tenant_id = $1 AND resource_id = $2")
                    .bind(&tenant)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                insert_values(&mut tx, &tenant, id, d).await?;
                done
            }
            None => sqlx::query(
                "UPDATE resources SET version = version + 1, last_modified = $1, \
                 password_hash = COALESCE($2, password_hash) \
                 WHERE tenant_id = $3 AND id = $4 AND version = $5",
            )
            .bind(&at)
            .bind(&update.password_hash)
            .bind(&tenant)
            .bind(id)
            .bind(previous)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?,
        };
        if done.rows_affected() != 1 {
            return Err(StoreError::VersionMismatch);
        }
        let operation = update.operation.as_str();
        audit(&mut tx, ctx, &at, Audited { operation, kind, id, status: 200 }, &report).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Updated {
            previous_version: previous,
            version: previous + 1,
            last_modified: time_from_db(&at)?,
            report,
        })
    }

    async fn delete(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let tenant = ctx.tenant.to_string();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // One conditional DELETE: the version check and the delete are one statement (RFC 7644
        // §3.14). Memberships in both directions and index rows go with it (ON DELETE CASCADE).
        let deleted = sqlx::query(
            "DELETE FROM resources WHERE tenant_id = $1 AND kind = $2 AND id = $3 \
             AND ($4::bigint IS NULL OR version = $4) RETURNING version",
        )
        .bind(&tenant)
        .bind(kind.as_str())
        .bind(id)
        .bind(if_match)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if deleted.is_none() {
            // Nothing deleted: either there is no such resource, or its version is another.
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM resources WHERE tenant_id = $1 AND kind = $2 AND id = $3",
            )
            .bind(&tenant)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            return Err(if exists.is_some() { StoreError::VersionMismatch } else { StoreError::NotFound });
        }
        let at = format_datetime(self.clock.now());
        audit(
            &mut tx,
            ctx,
            &at,
            Audited { operation: "delete", kind, id, status: 204 },
            &MemberReport::default(),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn list(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        schema: &ResourceSchema,
        query: &ListQuery,
    ) -> Result<ListPage> {
        let tenant_text = tenant.to_string();
        let mut filter_sql = SqlBuilder::new(Dialect::Postgres);
        filter_sql.push("r.tenant_id = ");
        filter_sql.bind(Bind::Text(tenant_text.clone()));
        filter_sql.push(" AND r.kind = ");
        filter_sql.bind(Bind::Text(kind.as_str().to_owned()));
        if let Some(filter) = &query.filter {
            filter_sql.push(" AND (");
            compile_filter(filter, schema, kind, &mut filter_sql)?;
            filter_sql.push(")");
        }

        // totalResults counts every match, whatever the page (RFC 7644 §3.4.2).
        let (count_text, count_binds) = {
            let mut b = SqlBuilder::new(Dialect::Postgres);
            b.push("SELECT count(*) FROM resources r WHERE ");
            b.append(&filter_sql);
            b.finish()
        };
        let total: i64 = bind_all(sqlx::query(&count_text), &count_binds)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        let total = u64::try_from(total).unwrap_or(0);

        let window = Window::of(query)?;
        if window.count == 0 {
            return Ok(ListPage { total_results: total, resources: Vec::new(), next_cursor: None });
        }

        let (text, binds) = page_statement(
            &format!("SELECT {COLUMNS} FROM resources r WHERE "),
            &filter_sql,
            &window,
            query,
            schema,
            kind,
        )?;
        let rows = bind_all(sqlx::query(&text), &binds).fetch_all(&self.pool).await.map_err(map_err)?;
        let mut resources = rows.iter().map(row_to_listed).collect::<Result<Vec<_>>>()?;
        if query.with_members {
            if kind == ResourceKind::User {
                self.fill_groups_of_page(&tenant_text, &mut resources).await?;
            } else {
                for res in &mut resources {
                    self.fill_members(&tenant_text, res).await?;
                }
            }
        }

        let next_cursor =
            window.next_cursor(query, resources.len(), resources.last().map(|r| r.id.as_str()), total);
        Ok(ListPage { total_results: total, resources, next_cursor })
    }
}
