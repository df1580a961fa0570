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
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, Postgres, Row};
use uuid::Uuid;

use scimd_schema::ResourceSchema;
use scimd_store::sql::{
    Bind, Derived, Dialect, NullType, Sql, SqlBuilder, Window, list_condition, page_statement,
};
use scimd_store::write::{self, Cell, EventNumbers, PreparedDoc, Row as Cells, Tx, Written};
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
            Bind::Null(NullType::Text) => q.bind(None::<String>),
            Bind::Null(NullType::Bool) => q.bind(None::<bool>),
            Bind::Null(NullType::Int) => q.bind(None::<i64>),
        };
    }
    q
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

/// The transaction a write runs in, as the shared write path sees it ([`scimd_store::write`]).
pub(crate) struct PgTx<'c>(pub(crate) &'c mut PgConnection);

/// One column of a PostgreSQL row as a [`Cell`], by its type (the statements of the shared paths
/// select text, integers and booleans only; `json` is cast to text where it is selected).
fn cell_of(row: &PgRow, i: usize) -> Result<Cell> {
    use sqlx::{Column as _, TypeInfo as _};
    let name = row.columns().get(i).map(|c| c.type_info().name().to_owned()).unwrap_or_default();
    Ok(match name.as_str() {
        "INT8" => row.try_get::<Option<i64>, _>(i).map_err(map_err)?.map_or(Cell::Null, Cell::Int),
        "INT4" => {
            row.try_get::<Option<i32>, _>(i).map_err(map_err)?.map_or(Cell::Null, |n| Cell::Int(n.into()))
        }
        "INT2" => {
            row.try_get::<Option<i16>, _>(i).map_err(map_err)?.map_or(Cell::Null, |n| Cell::Int(n.into()))
        }
        "BOOL" => {
            row.try_get::<Option<bool>, _>(i).map_err(map_err)?.map_or(Cell::Null, |b| Cell::Int(b.into()))
        }
        _ => row.try_get::<Option<String>, _>(i).map_err(map_err)?.map_or(Cell::Null, Cell::Text),
    })
}

impl Tx for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, sql: Sql) -> Result<u64> {
        let done =
            bind_all(sqlx::query(&sql.text), &sql.binds).execute(&mut *self.0).await.map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn rows(&mut self, sql: Sql) -> Result<Vec<Cells>> {
        let rows =
            bind_all(sqlx::query(&sql.text), &sql.binds).fetch_all(&mut *self.0).await.map_err(map_err)?;
        rows.iter().map(|r| (0..r.len()).map(|i| cell_of(r, i)).collect()).collect()
    }

    /// Placeholders, numbered after the commit by the log's readers (`sequencer.rs`): replicas
    /// write concurrently, and a counter row taken here would queue every writer of the tenant
    /// behind the last one's COMMIT.
    async fn event_numbers(&mut self, _tenant: &str, _count: i64) -> Result<EventNumbers> {
        Ok(EventNumbers::Placeholders(crate::sequencer::PLACEHOLDER))
    }
}

impl PgStore {
    /// Runs one write of the shared write path in a transaction of its own, committed when it
    /// succeeds (dropped, so rolled back, when it fails), and wakes readers of the event log when
    /// it appended events (they number them as they read: `sequencer.rs`).
    async fn write<T>(
        &self,
        ctx: &WriteContext,
        write: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<Written<T>>,
    ) -> Result<T> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let written = write(&mut PgTx(&mut tx)).await?;
        tx.commit().await.map_err(map_err)?;
        self.events.committed(ctx.tenant, &written.events);
        Ok(written.value)
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
        // Derived before the transaction: while rows are locked only statements run.
        let derived = Derived::of(new.kind, &new.doc)?;
        let clock = &*self.clock;
        self.write(ctx, async |t| write::create(t, clock, ctx, &new, &derived).await).await
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
        let doc = update.doc.as_ref().map(|(doc, search)| PreparedDoc::of(kind, doc, search)).transpose()?;
        let clock = &*self.clock;
        self.write(ctx, async |t| write::update(t, clock, ctx, (kind, id), &update, doc.as_ref()).await).await
    }

    async fn delete(
        &self,
        ctx: &WriteContext,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let clock = &*self.clock;
        self.write(ctx, async |t| write::delete(t, clock, ctx, (kind, id), if_match).await).await
    }

    async fn list(
        &self,
        tenant: Uuid,
        kind: ResourceKind,
        schema: &ResourceSchema,
        query: &ListQuery,
    ) -> Result<ListPage> {
        let tenant_text = tenant.to_string();
        let filter_sql =
            list_condition(Dialect::Postgres, &tenant_text, kind, query.filter.as_ref(), schema)?;

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
