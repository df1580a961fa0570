//! RFC 7644 §3.4 retrieving resources on the request path's own connections (`readers.rs`): one
//! resource by id, and a filtered, sorted page with its `totalResults`.
//!
//! The SQL is the same the write path reads (`resources.rs` builds it, `scimd_store::sql`
//! compiles filters); this module runs it through rusqlite and maps rows.

use std::sync::LazyLock;

use rusqlite::Connection;

use scimd_store::sql::Bind;
use scimd_store::{DocText, Member, ResourceKind, StoreError, StoredResource};

use crate::driver::{DbResult, params};
use crate::resources::{COLUMNS, GROUPS_COLUMN, MEMBERS_QUERY, StoredParts, parse_groups};

/// A row of [`COLUMNS`] (and, when `with_groups`, [`GROUPS_COLUMN`] after them), its document
/// left as text.
fn resource(row: &rusqlite::Row<'_>, with_groups: bool) -> DbResult<StoredResource<DocText>> {
    let mut res = StoredParts {
        id: row.get(0)?,
        kind: row.get(1)?,
        version: row.get(2)?,
        created: row.get(3)?,
        modified: row.get(4)?,
        doc: row.get(5)?,
    }
    .into_listed()?;
    if with_groups {
        let groups: String = row.get(6)?;
        res.groups = Some(parse_groups(&groups)?);
    }
    Ok(res)
}

/// A Group's members, with their current display names, ordered by id.
pub(crate) fn members(conn: &Connection, tenant: &str, group_id: &str) -> DbResult<Vec<Member>> {
    let mut stmt = conn.prepare_cached(MEMBERS_QUERY)?;
    let mut rows = stmt.query([tenant, group_id])?;
    let mut members = Vec::new();
    while let Some(row) = rows.next()? {
        let kind: String = row.get(1)?;
        members.push(Member {
            id: row.get(0)?,
            kind: ResourceKind::parse(&kind).ok_or_else(|| {
                StoreError::Internal(format!("unknown member kind {kind:?} in the database"))
            })?,
            display: row.get(2)?,
        });
    }
    Ok(members)
}

/// The statement of [`one`], built once rather than per GET (`?1` tenant, `?2` kind, `?3` id).
static ONE: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {COLUMNS} FROM resources r WHERE r.tenant_id = ?1 AND r.kind = ?2 AND r.id = ?3")
});

/// [`ONE`] with a User's groups.
static ONE_WITH_GROUPS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS}{GROUPS_COLUMN} FROM resources r WHERE r.tenant_id = ?1 AND r.kind = ?2 AND r.id = ?3"
    )
});

/// One resource by id; with `with_members`, a Group's members or a User's groups too.
pub(crate) fn one(
    conn: &Connection,
    tenant: &str,
    kind: ResourceKind,
    id: &str,
    with_members: bool,
) -> DbResult<Option<StoredResource<DocText>>> {
    // A User's groups come in the same statement (GROUPS_COLUMN); a Group's members may be a
    // hundred thousand rows, read by their own statement.
    let with_groups = with_members && kind == ResourceKind::User;
    let sql = if with_groups { &*ONE_WITH_GROUPS } else { &*ONE };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([tenant, kind.as_str(), id])?;
    let Some(row) = rows.next()? else { return Ok(None) };
    let mut res = resource(row, with_groups)?;
    if with_members && kind == ResourceKind::Group {
        res.members = Some(members(conn, tenant, id)?);
    }
    Ok(Some(res))
}

/// The statements of one list request, compiled by `resources.rs`.
pub(crate) struct PageQuery {
    pub(crate) tenant: String,
    pub(crate) kind: ResourceKind,
    /// `SELECT <count>`: the number of matches (RFC 7644 §3.4.2 `totalResults`).
    pub(crate) count: (String, Vec<Bind>),
    /// `SELECT COLUMNS … LIMIT … OFFSET …`, or `None` when the client asked for `count=0`.
    pub(crate) page: Option<(String, Vec<Bind>)>,
    /// Whether the page selects [`GROUPS_COLUMN`] (Users) / loads members (Groups).
    pub(crate) with_members: bool,
}

/// Runs a list request's statements in one read transaction, so `totalResults` and the page come
/// from the same snapshot of the tenant.
pub(crate) fn page(conn: &Connection, q: &PageQuery) -> DbResult<(u64, Vec<StoredResource<DocText>>)> {
    let tx = conn.unchecked_transaction()?;
    let total: i64 = tx.prepare_cached(&q.count.0)?.query_row(params(&q.count.1), |r| r.get(0))?;
    let mut resources = Vec::new();
    if let Some((text, binds)) = &q.page {
        let with_groups = q.with_members && q.kind == ResourceKind::User;
        let mut stmt = tx.prepare_cached(text)?;
        let mut rows = stmt.query(params(binds))?;
        while let Some(row) = rows.next()? {
            resources.push(resource(row, with_groups)?);
        }
        if q.with_members && q.kind == ResourceKind::Group {
            for res in &mut resources {
                res.members = Some(members(&tx, &q.tenant, &res.id)?);
            }
        }
    }
    tx.finish()?;
    Ok((u64::try_from(total).unwrap_or(0), resources))
}
