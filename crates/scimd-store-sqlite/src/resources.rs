//! `ResourceStore` on SQLite: each write runs the shared write path (`scimd_store::write`: rows,
//! audit record, events) in its own savepoint of a group-commit batch on the resource writer
//! (`writer.rs`).
//!
//! Lists compile the filter to SQL with `scimd_store::sql` and read the `search` column; nothing is
//! filtered in memory. Reads run on the request path's own connections (`readers.rs`,
//! `retrieve.rs`).

use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use uuid::Uuid;

use scimd_schema::ResourceSchema;
use scimd_store::rows::time_from_db;
use scimd_store::sql::{Bind, Derived, Dialect, Sql, SqlBuilder, Window, list_condition, page_statement};
use scimd_store::write::{self, Cell, EventNumbers, PreparedDoc, Row, Tx, Written};
use scimd_store::{
    DocText, ListPage, ListQuery, Member, MemberReport, NewResource, ResourceKind, ResourceStore, Result,
    StoreError, StoredResource, Update, Updated, WriteContext, plan,
};

use crate::driver::{DbError, DbResult, params};
use crate::writer::Batch;
use crate::{SqliteStore, retrieve};

/// The columns every read selects, in the order [`StoredParts`] holds them.
pub(crate) const COLUMNS: &str = "r.id, r.kind, r.version, r.created, r.last_modified, r.doc";

/// A seventh column for Users: RFC 7643 §4.1.2 `groups`, computed from membership rows, as a JSON
/// array of `[group id, group displayName]`, so a user and its groups are read in one statement
/// (each statement is a round trip to a connection's worker thread, and those hand-offs,
/// not SQLite, dominated the profile of `GET /Users/{id}` and of a page of users). Direct
/// memberships only; nested-group (indirect) membership is not expanded.
pub(crate) const GROUPS_COLUMN: &str = ", (SELECT json_group_array(json_array(m.group_id, g.display_name)) \
     FROM members m JOIN resources g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
     WHERE m.tenant_id = r.tenant_id AND m.member_id = r.id)";

/// Parses [`GROUPS_COLUMN`], ordered by group id like every other member list.
pub(crate) fn parse_groups(text: &str) -> Result<Vec<Member>> {
    let mut pairs: Vec<(String, Option<String>)> = serde_json::from_str(text)
        .map_err(|e| StoreError::Internal(format!("groups column does not parse: {e}")))?;
    // json_group_array's order is unspecified: sort here.
    pairs.sort();
    Ok(pairs.into_iter().map(|(id, display)| Member { id, kind: ResourceKind::Group, display }).collect())
}

/// A Group's members (`?1` tenant, `?2` group id) with their current display names, ordered by
/// id: `member_id, member_kind, display`.
pub(crate) const MEMBERS_QUERY: &str = "SELECT m.member_id, m.member_kind, \
     COALESCE(o.display_name, o.user_name) \
     FROM members m JOIN resources o ON o.tenant_id = m.tenant_id AND o.id = m.member_id \
     WHERE m.tenant_id = ?1 AND m.group_id = ?2 ORDER BY m.member_id";

/// The [`COLUMNS`] of a row as stored, whichever driver read them.
pub(crate) struct StoredParts {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) version: i64,
    pub(crate) created: String,
    pub(crate) modified: String,
    pub(crate) doc: String,
}

impl StoredParts {
    /// The resource with its document as stored text (list pages: see [`DocText`]).
    pub(crate) fn into_listed(self) -> Result<StoredResource<DocText>> {
        Ok(StoredResource {
            kind: ResourceKind::parse(&self.kind).ok_or_else(|| {
                StoreError::Internal(format!("unknown kind {:?} in the database", self.kind))
            })?,
            id: self.id,
            version: self.version,
            created: time_from_db(&self.created)?,
            last_modified: time_from_db(&self.modified)?,
            doc: DocText::new(self.doc)?,
            members: None,
            groups: None,
        })
    }
}

/// The savepoint a write runs in (or a reader's connection), as the shared write path sees it
/// ([`scimd_store::write`]). rusqlite answers at once, so the futures it returns are ready on
/// their first poll.
pub(crate) enum SqliteTx<'c, 'b> {
    /// A reader's connection, and the error of a statement its step budget interrupted: the
    /// shared path sees only [`scimd_store::StoreError`], so the interruption is kept here for
    /// [`run_read`] to hand back to the reader pool, which runs the read again off the async
    /// workers (`readers.rs`) instead of failing it.
    Read(&'c Connection, Option<rusqlite::Error>),
    /// An operation of the writer's batch, which keeps the event counters (`heads.rs`).
    Write(&'c mut Batch<'b>),
}

impl SqliteTx<'_, '_> {
    fn conn(&self) -> &Connection {
        match self {
            SqliteTx::Read(c, _) => c,
            SqliteTx::Write(b) => b,
        }
    }

    /// The store's error for `e`; on a reader, an interruption by the step budget is kept for
    /// [`run_read`].
    fn fail(&mut self, e: rusqlite::Error) -> StoreError {
        let interrupted = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted
        );
        match self {
            SqliteTx::Read(_, slot) if interrupted => {
                *slot = Some(e);
                StoreError::Internal("a read was interrupted by its step budget".into())
            }
            _ => DbError::into_store_err(e),
        }
    }
}

fn query(conn: &Connection, sql: &Sql) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let width = stmt.column_count();
    let rows = stmt.query_map(params(&sql.binds), |r| {
        (0..width)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(f) => Cell::Text(f.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Cell::Text(String::from_utf8_lossy(t).into_owned())
                    }
                })
            })
            .collect::<rusqlite::Result<Row>>()
    })?;
    rows.collect()
}

impl Tx for SqliteTx<'_, '_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, sql: Sql) -> Result<u64> {
        let done =
            self.conn().prepare_cached(&sql.text).and_then(|mut stmt| stmt.execute(params(&sql.binds)));
        done.map(|n| n as u64).map_err(|e| self.fail(e))
    }

    /// Final numbers: one writer commits at a time, so the batch's counters are the commit order.
    async fn event_numbers(&mut self, tenant: &str, count: i64) -> Result<EventNumbers> {
        let last = match self {
            SqliteTx::Write(batch) => batch.take_seqs(tenant, count).map_err(DbError::into_store_err)?,
            SqliteTx::Read(..) => write::take_seqs(self, tenant, count).await?,
        };
        Ok(EventNumbers::From(last - count + 1))
    }

    async fn rows(&mut self, sql: Sql) -> Result<Vec<Row>> {
        let rows = query(self.conn(), &sql);
        rows.map_err(|e| self.fail(e))
    }
}

/// Runs the shared write path on the writer's savepoint. Its futures never wait (see
/// [`SqliteTx`]), so one poll completes it; were one ever to wait, the write fails rather than
/// block the writer.
pub(crate) fn run<T>(
    batch: &mut Batch<'_>,
    write: impl AsyncFnOnce(&mut SqliteTx<'_, '_>) -> Result<T>,
) -> DbResult<T> {
    poll_once(SqliteTx::Write(batch), write)
}

/// The shared reads ([`scimd_store::events`], [`scimd_store::delivery`]) on a reader's
/// connection, as [`run`]. A statement interrupted by the reader's step budget is answered as
/// the interruption, so that the reader pool runs the read again where it may take long.
pub(crate) fn run_read<T>(
    conn: &Connection,
    read: impl AsyncFnOnce(&mut SqliteTx<'_, '_>) -> Result<T>,
) -> DbResult<T> {
    let mut t = SqliteTx::Read(conn, None);
    let result = poll(&mut t, read);
    match (result, t) {
        (Err(_), SqliteTx::Read(_, Some(interrupted))) => Err(DbError::Sql(interrupted)),
        (result, _) => result,
    }
}

fn poll_once<T>(
    mut t: SqliteTx<'_, '_>,
    write: impl AsyncFnOnce(&mut SqliteTx<'_, '_>) -> Result<T>,
) -> DbResult<T> {
    poll(&mut t, write)
}

fn poll<'c, 'b, T>(
    t: &mut SqliteTx<'c, 'b>,
    write: impl AsyncFnOnce(&mut SqliteTx<'c, 'b>) -> Result<T>,
) -> DbResult<T> {
    let future = std::pin::pin!(write(t));
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => Ok(result?),
        Poll::Pending => {
            Err(StoreError::Internal("a SQLite statement did not complete at once".into()).into())
        }
    }
}

impl SqliteStore {
    /// Wakes readers of the event log after a commit that appended events.
    fn appended<T>(&self, ctx: &WriteContext, written: Written<T>) -> T {
        self.events.committed(ctx.tenant, &written.events);
        written.value
    }
}

#[async_trait]
impl ResourceStore for SqliteStore {
    async fn create(&self, ctx: &WriteContext, new: NewResource) -> Result<(StoredResource, MemberReport)> {
        // Derived before joining the batch: a document without its key fails without a savepoint.
        let derived = Derived::of(new.kind, &new.doc)?;
        let clock = &*self.clock;
        let written = self
            .resource_writer
            .write(|tx, place| {
                place.check(new.members.len() > plan::HEAVY_ROWS)?;
                run(tx, async |t| write::create(t, clock, ctx, &new, &derived).await)
            })
            .await?;
        Ok(self.appended(ctx, written))
    }

    async fn get(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        id: &str,
        with_members: bool,
    ) -> Result<Option<StoredResource<DocText>>> {
        let tenant = tenant.to_string();
        let id = id.to_owned();
        self.readers.read(move |conn| retrieve::one(conn, &tenant, kind, &id, with_members)).await
    }

    async fn update(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        update: Update,
    ) -> Result<Updated> {
        // Everything derived from the new document (index rows, its text) is computed before
        // joining the batch: the writer only executes statements.
        let doc = update.doc.as_ref().map(|(doc, search)| PreparedDoc::of(kind, doc, search)).transpose()?;
        let clock = &*self.clock;
        let written = self
            .resource_writer
            .write(|tx, place| {
                place.check(plan::heavy(&update.members))?;
                run(tx, async |t| write::update(t, clock, ctx, (kind, id), &update, doc.as_ref()).await)
            })
            .await?;
        Ok(self.appended(ctx, written))
    }

    async fn delete(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let clock = &*self.clock;
        let written = self
            .resource_writer
            .write(|tx, place| {
                // A Group's delete cascades to all its membership rows, as many as it has members.
                place.check(kind == ResourceKind::Group)?;
                run(tx, async |t| write::delete(t, clock, ctx, (kind, id), if_match).await)
            })
            .await?;
        self.appended(ctx, written);
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
        let filter_sql = list_condition(Dialect::Sqlite, &tenant_text, kind, query.filter.as_ref(), schema)?;

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
        let window = Window::of(query)?;
        let groups_column = if query.with_members && kind == ResourceKind::User { GROUPS_COLUMN } else { "" };
        let page = (window.count > 0)
            .then(|| {
                page_statement(
                    &format!("SELECT {COLUMNS}{groups_column} FROM resources r WHERE "),
                    &filter_sql,
                    &window,
                    query,
                    schema,
                    kind,
                )
            })
            .transpose()?;
        let q = retrieve::PageQuery {
            tenant: tenant_text,
            kind,
            count: (count_text, count_binds),
            page,
            with_members: query.with_members,
        };
        let (total, resources) = self.readers.read(move |conn| retrieve::page(conn, &q)).await?;

        let next_cursor =
            window.next_cursor(query, resources.len(), resources.last().map(|r| r.id.as_str()), total);
        Ok(ListPage { total_results: total, resources, next_cursor })
    }
}

#[cfg(test)]
mod store_tests {
    use std::sync::Arc;

    use serde_json::json;

    use scimd_store::{
        ListQuery, NewResource, Paging, ResourceKind, ResourceStore, SortOrder, StoreError, TenantStore,
        Update, UpdateOperation, WriteContext, search_document,
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
            tenant_slug: "test".into(),
            client: "other".into(),
            request_id: None,
            refuse_unknown_members: false,
        }
    }

    impl crate::SqliteStore {
        /// `list` of `kind` with its built-in schema, in id order, without members.
        async fn list_of(
            &self,
            tenant: uuid::Uuid,
            kind: ResourceKind,
            filter: Option<&str>,
            paging: Paging,
        ) -> scimd_store::Result<scimd_store::ListPage> {
            let rs = match kind {
                ResourceKind::User => scimd_schema::ResourceSchema::user(),
                ResourceKind::Group => scimd_schema::ResourceSchema::group(),
            };
            self.list(tenant, kind, &rs, &query(filter, paging)).await
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

        let f = format!("members.value eq \"{}\"", alice.id);
        let page = s
            .list_of(ctx.tenant, ResourceKind::Group, Some(&f), Paging::Index { start_index: 1, count: 10 })
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
        let same = Update {
            operation: UpdateOperation::Patch,
            expected_version: Some(1),
            before: None,
            doc: None,
            members: vec![],
            password_hash: None,
        };
        let after = s.update(&ctx, ResourceKind::User, &u.id, same).await.unwrap();
        assert_eq!(
            (after.previous_version, after.version),
            (1, 1),
            "an update that changes nothing keeps the version"
        );
        let mut doc = u.doc.clone();
        doc["userName"] = json!("carol2");
        let search = search_document(&scimd_schema::ResourceSchema::user(), &doc);
        let rename = Update {
            operation: UpdateOperation::Replace,
            expected_version: Some(1),
            before: None,
            doc: Some((doc, search)),
            members: vec![],
            password_hash: None,
        };
        let after = s.update(&ctx, ResourceKind::User, &u.id, rename.clone()).await.unwrap();
        assert_eq!(after.version, 2);
        let stale = s.update(&ctx, ResourceKind::User, &u.id, rename).await.unwrap_err();
        assert!(matches!(stale, StoreError::VersionMismatch));
        // Item 17 of the hardening issue: PUT is audited as `replace`, PATCH as `patch`
        // (migration 0001's documented values), never `update`.
        let ops: Vec<String> = sqlx::query_scalar("SELECT operation FROM audit ORDER BY rowid")
            .fetch_all(&s.reader)
            .await
            .unwrap();
        assert_eq!(ops, ["create", "replace"]);
        let page = s
            .list_of(
                ctx.tenant,
                ResourceKind::User,
                Some("userName eq \"CAROL2\""),
                Paging::Index { start_index: 1, count: 10 },
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
                let add = Update {
                    operation: UpdateOperation::Patch,
                    expected_version: None,
                    before: None,
                    doc: None,
                    members: vec![scimd_store::plan::MemberOp::Add(vec![id.clone()])],
                    password_hash: None,
                };
                s.update(&ctx, ResourceKind::Group, &gid, add).await.unwrap();
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
        let a = s.create(&ctx, group("a", vec![ids[0].clone(), ids[2].clone()])).await.unwrap().0.id;
        let b = s.create(&ctx, group("b", vec![ids[2].clone(), ids[3].clone()])).await.unwrap().0.id;
        let mut from_groups: Vec<(String, String)> = Vec::new();
        for g in [&a, &b] {
            let read = s.get(ctx.tenant, ResourceKind::Group, g, true).await.unwrap().unwrap();
            from_groups.extend(read.members.unwrap().into_iter().map(|m| (m.id, g.clone())));
        }
        let rs = scimd_schema::ResourceSchema::user();
        let mut q = query(None, Paging::Index { start_index: 1, count: 10 });
        q.with_members = true;
        let page = s.list(ctx.tenant, ResourceKind::User, &rs, &q).await.unwrap();
        assert_eq!(page.resources.len(), 5);
        for res in &page.resources {
            let alone = s.get(ctx.tenant, ResourceKind::User, &res.id, true).await.unwrap().unwrap();
            assert_eq!(res.groups, alone.groups, "{}", res.id);
            // The same membership rows read from the groups' side.
            let mut expected: Vec<&String> =
                from_groups.iter().filter(|(m, _)| *m == res.id).map(|(_, g)| g).collect();
            expected.sort();
            let got: Vec<&String> = res.groups.as_ref().unwrap().iter().map(|g| &g.id).collect();
            assert_eq!(got, expected, "{}", res.id);
        }
        let mut names: Vec<&str> =
            page.resources[2].groups.as_ref().unwrap().iter().filter_map(|g| g.display.as_deref()).collect();
        names.sort_unstable();
        assert_eq!(names, ["a", "b"]);
        let counts: Vec<usize> = page.resources.iter().map(|r| r.groups.as_ref().unwrap().len()).collect();
        assert_eq!(counts, vec![1, 0, 2, 1, 0]);
    }

    /// Group commit: 64 concurrent creates, 16 of them duplicating another's userName, share
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
            tenant_slug: "test".into(),
            client: "other".into(),
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
        let page = s
            .list_of(ctx.tenant, ResourceKind::User, None, Paging::Index { start_index: 1, count: 2 })
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
            .list_of(other.tenant, ResourceKind::Group, None, Paging::Index { start_index: 1, count: 2 })
            .await
            .unwrap();
        assert_eq!(groups.total_results, 0);
    }

    /// An operation dropped inside its savepoint (a cancelled request) is undone, and the batch it
    /// was in still commits the other operations.
    /// A request cancelled while it waits for its batch's commit (the client went away) still
    /// had its write committed: the commit step does not belong to the request.
    #[tokio::test]
    async fn a_write_whose_request_is_cancelled_still_commits() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let store = s.clone();
        let ctx2 = ctx.clone();
        let task = tokio::spawn(async move { store.create(&ctx2, user("cancelled")).await });
        // Let it run its savepoint, then drop it while it waits for the commit.
        tokio::task::yield_now().await;
        task.abort();
        let _ = task.await;
        let (u, _) = s.create(&ctx, user("after")).await.unwrap();
        let page = s
            .list_of(ctx.tenant, ResourceKind::User, None, Paging::Index { start_index: 1, count: 10 })
            .await
            .unwrap();
        assert!(page.resources.iter().any(|r| r.id == u.id));
        assert!(page.total_results == 1 || page.total_results == 2, "either not started or committed");
        // The writer's lock was not left taken: other writers proceed.
        s.create_tenant("other").await.unwrap();
    }

    /// A heavy write (here: a group created with 3,000 members) runs off the async workers, once:
    /// the stored group has every member, and the audit log one record.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_heavy_write_is_run_once_to_completion() {
        let (_dir, s) = store().await;
        let ctx = ctx(&s).await;
        let mut ids = Vec::new();
        for i in 0..3000 {
            ids.push(s.create(&ctx, user(&format!("m{i}"))).await.unwrap().0.id);
        }
        let (g, report) = s.create(&ctx, group("big", ids.clone())).await.unwrap();
        assert!(report.skipped.is_empty());
        let read = s.get(ctx.tenant, ResourceKind::Group, &g.id, true).await.unwrap().unwrap();
        assert_eq!(read.members.unwrap().len(), 3000);
        let audits: i64 = sqlx::query_scalar("SELECT count(*) FROM audit WHERE resource_id = ?")
            .bind(&g.id)
            .fetch_one(&s.reader)
            .await
            .unwrap();
        assert_eq!(audits, 1);
        let groups: i64 = sqlx::query_scalar("SELECT count(*) FROM resources WHERE kind = 'Group'")
            .fetch_one(&s.reader)
            .await
            .unwrap();
        assert_eq!(groups, 1, "one group, not one per attempt");
        // Replacing and then deleting it are heavy too (the whole list, unknown until read).
        let replaced = s
            .update(
                &ctx,
                ResourceKind::Group,
                &g.id,
                scimd_store::Update {
                    operation: UpdateOperation::Replace,
                    expected_version: Some(1),
                    before: None,
                    doc: None,
                    members: vec![scimd_store::plan::MemberOp::Set(vec![ids[0].clone()])],
                    password_hash: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(replaced.version, 2);
        let read = s.get(ctx.tenant, ResourceKind::Group, &g.id, true).await.unwrap().unwrap();
        assert_eq!(read.members.unwrap().len(), 1);
        s.delete(&ctx, ResourceKind::Group, &g.id, None).await.unwrap();
        let rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM members").fetch_one(&s.reader).await.unwrap();
        assert_eq!(rows, 0);
    }

    /// The `eq` filters Entra and Okta match with are index lookups, never a table scan.
    #[tokio::test]
    async fn eq_filters_on_hot_attributes_use_an_index() {
        use scimd_store::sql::{Bind, Dialect, SqlBuilder, compile_filter};

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
            // Planned by the connections requests read through (`readers.rs`).
            let plan: Vec<String> = s
                .readers
                .read(move |c| {
                    let mut stmt = c.prepare(&text)?;
                    let rows = stmt.query_map(crate::driver::params(&binds), |r| r.get::<_, String>(3))?;
                    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
                })
                .await
                .unwrap();
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
        let page = s
            .list_of(ctx.tenant, ResourceKind::User, None, Paging::Index { start_index: 6, count: 5 })
            .await
            .unwrap();
        assert_eq!((page.total_results, page.resources.len()), (7, 2));
        let none = s
            .list_of(ctx.tenant, ResourceKind::User, None, Paging::Index { start_index: 1, count: 0 })
            .await
            .unwrap();
        assert_eq!((none.total_results, none.resources.len()), (7, 0));

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .list_of(
                    ctx.tenant,
                    ResourceKind::User,
                    None,
                    Paging::Cursor { cursor: cursor.clone(), count: 3 },
                )
                .await
                .unwrap();
            seen.extend(
                page.resources
                    .iter()
                    .map(|r| r.doc.parse().unwrap()["userName"].as_str().unwrap().to_owned()),
            );
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).map(|i| format!("p{i}")).collect::<Vec<_>>());
        let bad = s
            .list_of(
                ctx.tenant,
                ResourceKind::User,
                None,
                Paging::Cursor { cursor: Some("bogus".into()), count: 3 },
            )
            .await;
        assert!(
            matches!(bad, Err(StoreError::Scim(ref e)) if e.scim_type == Some(scimd_schema::ScimType::InvalidCursor))
        );
    }

    /// More rows than one batch of a deletion: the batches repeat until the tenant is empty, and
    /// the other tenant keeps everything.
    #[tokio::test]
    async fn a_tenant_larger_than_a_batch_is_deleted_whole() {
        let (_dir, s) = store().await;
        let acme = ctx(&s).await;
        let beta = s.create_tenant("beta").await.unwrap();
        let beta_ctx = WriteContext { tenant: beta.id, ..acme.clone() };
        s.create(&beta_ctx, user("kept")).await.unwrap();
        let n = usize::try_from(scimd_store::tenants::DELETION_BATCH).unwrap() + 200;
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..n {
            let (s, acme) = (s.clone(), acme.clone());
            writes.spawn(async move { s.create(&acme, user(&format!("u{i}"))).await.unwrap().0.id });
        }
        let ids = writes.join_all().await;
        s.create(&acme, group("everyone", ids)).await.unwrap();

        let deletion = s.delete_tenant(acme.tenant).await.unwrap();
        assert_eq!(deletion.rows["resources"], n as u64 + 1);
        assert_eq!(deletion.rows["members"], n as u64);
        assert_eq!(deletion.rows["events"], 2 * n as u64 + 1, "a creation each, and the group's additions");
        assert_eq!(deletion.rows["tenants"], 1);
        assert_eq!(s.tenant_by_id(acme.tenant).await.unwrap(), None);
        assert!(matches!(s.delete_tenant(acme.tenant).await, Err(StoreError::NotFound)));
        let left =
            s.list_of(beta.id, ResourceKind::User, None, Paging::Index { start_index: 1, count: 10 }).await;
        assert_eq!(left.unwrap().total_results, 1);
        // The counters the group commit keeps are read again after another connection's commit.
        s.create(&beta_ctx, user("after")).await.unwrap();
    }
}
