//! The one resource write path: every statement a create, update or delete runs, for every backend.
//!
//! A backend opens the transaction (SQLite: a savepoint of a group-commit batch; PostgreSQL: a
//! transaction), hands it over as a [`Tx`], and commits when these functions return `Ok`. What a
//! write means — which rows change, the version check, the audit record, the events — is decided
//! here and in [`crate::plan`], once; the statements are built with [`SqlBuilder`] in the
//! backend's dialect, so what differs between the backends (placeholders, JSON casts, row locks)
//! is a word of SQL, not a second implementation.

use serde_json::{Value, json};
use time::OffsetDateTime;

use scimd_schema::value::format_datetime;

use crate::clock::Clock;
use crate::error::{Result, StoreError};
use crate::events::Appended;
use crate::model::{MemberReport, NewResource, ResourceKind, StoredResource, Update, Updated, WriteContext};
use crate::plan::{self, Document, Draft, EndedMembership, MemberDelta, MemberOp, MemberRow, Subject};
use crate::rows::time_from_db;
use crate::sql::{Bind, Derived, Dialect, Sql, SqlBuilder, compile_member_filter, unique_attr};

/// One column of a result row, as the statements here read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// NULL.
    Null,
    /// An integer (booleans read as 0/1).
    Int(i64),
    /// Text.
    Text(String),
}

impl Cell {
    pub(crate) fn text(&self) -> Result<&str> {
        match self {
            Cell::Text(s) => Ok(s),
            other => Err(StoreError::Internal(format!("expected a text column, read {other:?}"))),
        }
    }

    pub(crate) fn opt_text(&self) -> Result<Option<&str>> {
        match self {
            Cell::Null => Ok(None),
            other => other.text().map(Some),
        }
    }

    pub(crate) fn int(&self) -> Result<i64> {
        match self {
            Cell::Int(i) => Ok(*i),
            other => Err(StoreError::Internal(format!("expected an integer column, read {other:?}"))),
        }
    }
}

/// A row: its cells in the order the statement selects them.
pub type Row = Vec<Cell>;

/// Column `i` of a row.
pub(crate) fn cell(row: &Row, i: usize) -> Result<&Cell> {
    row.get(i).ok_or_else(|| StoreError::Internal(format!("a result row has no column {i}")))
}

/// The first column of each row, as text (ids selected alone).
fn first_texts(rows: &[Row]) -> Result<Vec<String>> {
    rows.iter().map(|r| cell(r, 0).and_then(Cell::text).map(str::to_owned)).collect()
}

fn kind_of(row: &Row, i: usize) -> Result<ResourceKind> {
    let k = cell(row, i)?.text()?;
    ResourceKind::parse(k).ok_or_else(|| StoreError::Internal(format!("unknown kind {k:?} in the database")))
}

/// An open transaction of a backend. Errors are already [`StoreError`]s; a unique-index violation
/// is [`StoreError::Conflict`] (whose attribute these functions name).
pub trait Tx: Sized {
    /// The dialect statements are built in.
    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: Sql) -> impl Future<Output = Result<u64>>;

    /// Runs a statement that returns rows (`SELECT`, `… RETURNING`).
    fn rows(&mut self, sql: Sql) -> impl Future<Output = Result<Vec<Row>>>;

    /// Numbers `count` events of a write to `tenant`. By default the final numbers, taken from
    /// the tenant's counter row in this transaction ([`take_seqs`]); a backend with a single writer
    /// may keep the counter itself and write it once per commit, as long as what it commits is the
    /// same; a backend whose writers commit concurrently hands out placeholders and numbers them
    /// after the commit ([`EventNumbers::Placeholders`]).
    fn event_numbers(&mut self, tenant: &str, count: i64) -> impl Future<Output = Result<EventNumbers>> {
        async move { Ok(EventNumbers::From(take_seqs(self, tenant, count).await? - count + 1)) }
    }
}

pub use crate::plan::EventNumbers;

/// Increments the tenant's event counter row by `count` in `tx` and returns its new value. The
/// row's lock is held from here to the commit: only for a backend with one writer at a time, or
/// for a transaction whose only work is numbering, since every other writer of the tenant queues
/// behind it.
pub async fn take_seqs(tx: &mut impl Tx, tenant: &str, count: i64) -> Result<i64> {
    let mut b = builder(tx);
    b.push("INSERT INTO event_heads (tenant_id, seq) VALUES (").bind(Bind::Text(tenant.to_owned()));
    b.push(", ").bind(Bind::Int(count));
    b.push(") ON CONFLICT (tenant_id) DO UPDATE SET seq = event_heads.seq + excluded.seq RETURNING seq");
    let rows = tx.rows(b.build()).await?;
    cell(rows.first().ok_or_else(|| StoreError::Internal("no event head".into()))?, 0)?.int()
}

/// Ids per statement of a membership change: far below SQLite's 32,766 and PostgreSQL's 65,535
/// parameters, and large enough that a PUT of 10,000 members is a handful of statements.
const CHUNK: usize = 1000;

/// Events per `INSERT` (seven parameters each).
const EVENT_CHUNK: usize = 500;

fn builder(tx: &impl Tx) -> SqlBuilder {
    SqlBuilder::new(tx.dialect())
}

/// Binds JSON text; PostgreSQL's `doc` is `json` and `search`/`detail` are `jsonb`.
fn json_param(b: &mut SqlBuilder, text: String, binary: bool) {
    b.bind(Bind::Text(text));
    if b.dialect() == Dialect::Postgres {
        b.push(if binary { "::jsonb" } else { "::json" });
    }
}

/// `?, ?, ?` for `ids`.
fn list(b: &mut SqlBuilder, ids: &[&str]) {
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.bind(Bind::Text((*id).to_owned()));
    }
}

/// The row lock a read in a write transaction takes on PostgreSQL, where replicas write
/// concurrently (SQLite has one writer, and no such clause). `FOR NO KEY UPDATE` serialises the
/// writes of one resource and still lets groups take it as a member (`FOR KEY SHARE`).
fn lock(b: &mut SqlBuilder, clause: &str) {
    if b.dialect() == Dialect::Postgres {
        b.push(clause);
    }
}

fn conflict_on(kind: ResourceKind) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(unique_attr(kind).to_owned()),
        other => other,
    }
}

async fn insert_values(tx: &mut impl Tx, tenant: &str, id: &str, d: &Derived) -> Result<()> {
    if d.values.is_empty() {
        return Ok(());
    }
    let mut b = builder(tx);
    b.push("INSERT INTO resource_values (tenant_id, resource_id, attr, value) VALUES ");
    for (i, (attr, value)) in d.values.iter().enumerate() {
        b.push(if i == 0 { "(" } else { ", (" });
        b.bind(Bind::Text(tenant.to_owned())).push(", ");
        b.bind(Bind::Text(id.to_owned())).push(", ");
        b.bind(Bind::Text(attr.clone())).push(", ");
        b.bind(Bind::Text(value.clone())).push(")");
    }
    tx.execute(b.build()).await?;
    Ok(())
}

/// Inserts membership rows for the ids that name a resource of the tenant, recording each row
/// inserted in `delta` and each id that names nothing in `report` (no dangling references; the
/// request still succeeds and the skipped ids go to the audit log).
async fn add_members(
    tx: &mut impl Tx,
    tenant: &str,
    group: &str,
    ids: &[&str],
    report: &mut MemberReport,
    delta: &mut MemberDelta,
) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        // One statement inserts the rows of the ids that name a resource of the tenant. Adding a
        // present member changes nothing (RFC 7644 §3.5.2.1), which the primary key turns into an
        // ignored insert; RETURNING names exactly the rows inserted. FOR KEY SHARE (PostgreSQL):
        // a delete of a member on another replica either committed already (the row is not
        // selected: skipped like an unknown id) or waits until this transaction ends, so the
        // foreign key never fails halfway through a write. It does not block updates.
        let mut b = builder(tx);
        b.push("INSERT INTO members (tenant_id, group_id, member_id, member_kind) SELECT r.tenant_id, ");
        b.bind(Bind::Text(group.to_owned()));
        b.push(", r.id, r.kind FROM resources r WHERE r.tenant_id = ").bind(Bind::Text(tenant.to_owned()));
        b.push(" AND r.id IN (");
        list(&mut b, chunk);
        b.push(")");
        lock(&mut b, " FOR KEY SHARE OF r");
        b.push(" ON CONFLICT DO NOTHING RETURNING member_id, member_kind");
        let mut inserted = Vec::new();
        for row in tx.rows(b.build()).await? {
            inserted.push(MemberRow { id: cell(&row, 0)?.text()?.to_owned(), kind: kind_of(&row, 1)? });
        }
        // An id not inserted is a member already, or names nothing: only those are looked up, so
        // the usual add of new members is the one statement.
        let rest: Vec<&str> =
            chunk.iter().copied().filter(|id| !inserted.iter().any(|m| m.id == *id)).collect();
        if !rest.is_empty() {
            let mut b = builder(tx);
            b.push("SELECT id FROM resources WHERE tenant_id = ").bind(Bind::Text(tenant.to_owned()));
            b.push(" AND id IN (");
            list(&mut b, &rest);
            b.push(")");
            let found = first_texts(&tx.rows(b.build()).await?)?;
            for id in rest {
                if !found.iter().any(|f| f == id) && !report.skipped.iter().any(|s| s == id) {
                    report.skipped.push(id.to_owned());
                }
            }
        }
        // In the order the request named them, whatever order the database returned.
        inserted.sort_by_key(|m| chunk.iter().position(|id| *id == m.id));
        delta.added.extend(inserted);
    }
    Ok(())
}

/// `DELETE FROM members AS m WHERE <group> AND (<condition>) RETURNING …`, the deleted rows
/// recorded in `delta` ordered by id.
async fn remove_rows(
    tx: &mut impl Tx,
    tenant: &str,
    group: &str,
    condition: &SqlBuilder,
    delta: &mut MemberDelta,
) -> Result<()> {
    let mut b = builder(tx);
    b.push("DELETE FROM members AS m WHERE m.tenant_id = ").bind(Bind::Text(tenant.to_owned()));
    b.push(" AND m.group_id = ").bind(Bind::Text(group.to_owned()));
    b.push(" AND (").append(condition).push(") RETURNING member_id, member_kind");
    let mut removed = Vec::new();
    for row in tx.rows(b.build()).await? {
        removed.push(MemberRow { id: cell(&row, 0)?.text()?.to_owned(), kind: kind_of(&row, 1)? });
    }
    removed.sort_by(|a, b| a.id.cmp(&b.id));
    delta.removed.extend(removed);
    Ok(())
}

async fn remove_ids(
    tx: &mut impl Tx,
    tenant: &str,
    group: &str,
    ids: &[&str],
    delta: &mut MemberDelta,
) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let mut condition = builder(tx);
        condition.push("m.member_id IN (");
        list(&mut condition, chunk);
        condition.push(")");
        remove_rows(tx, tenant, group, &condition, delta).await?;
    }
    Ok(())
}

/// Applies member operations in order; returns the rows they changed. A row added and then
/// removed by the same write (or the reverse) is reported as neither: the events say what the
/// write changed, not how.
async fn apply_members(
    tx: &mut impl Tx,
    tenant: &str,
    group: &str,
    ops: &[MemberOp],
    report: &mut MemberReport,
) -> Result<MemberDelta> {
    let mut delta = MemberDelta::default();
    for op in ops {
        let mut step = MemberDelta::default();
        match op {
            MemberOp::Add(ids) => {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                add_members(tx, tenant, group, &ids, report, &mut step).await?;
            }
            MemberOp::Remove(ids) => {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                remove_ids(tx, tenant, group, &ids, &mut step).await?;
            }
            MemberOp::RemoveWhere(filter) => {
                // RFC 7644 §3.5.2.2 `members[<filter>]`: one statement, the filter compiled over
                // the membership row, never a loop over the group's members in memory.
                let mut condition = builder(tx);
                compile_member_filter(filter, &mut condition)?;
                remove_rows(tx, tenant, group, &condition, &mut step).await?;
            }
            MemberOp::Set(ids) => {
                // RFC 7644 §3.5.1 (PUT) and a replace of `members`: applied as the difference.
                let mut b = builder(tx);
                b.push("SELECT member_id FROM members WHERE tenant_id = ")
                    .bind(Bind::Text(tenant.to_owned()));
                b.push(" AND group_id = ").bind(Bind::Text(group.to_owned()));
                let current = first_texts(&tx.rows(b.build()).await?)?;
                let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
                let held: std::collections::HashSet<&str> = current.iter().map(String::as_str).collect();
                let gone: Vec<&str> =
                    current.iter().map(String::as_str).filter(|m| !wanted.contains(m)).collect();
                remove_ids(tx, tenant, group, &gone, &mut step).await?;
                let mut new: Vec<&str> = Vec::new();
                for id in ids.iter().map(String::as_str) {
                    if !held.contains(id) && !new.contains(&id) {
                        new.push(id);
                    }
                }
                add_members(tx, tenant, group, &new, report, &mut step).await?;
            }
        }
        merge(&mut delta, step);
    }
    Ok(delta)
}

/// Adds one operation's rows to the write's, cancelling a row that an earlier operation of the
/// same write added (now removed) or removed (now added back).
fn merge(total: &mut MemberDelta, step: MemberDelta) {
    for m in step.removed {
        match total.added.iter().position(|a| a.id == m.id) {
            Some(i) => {
                total.added.remove(i);
            }
            None => total.removed.push(m),
        }
    }
    for m in step.added {
        match total.removed.iter().position(|r| r.id == m.id) {
            Some(i) => {
                total.removed.remove(i);
            }
            None => total.added.push(m),
        }
    }
}

/// What an audit record says was done.
struct Audited<'a> {
    operation: &'a str,
    kind: ResourceKind,
    id: &'a str,
    status: u16,
}

async fn audit(
    tx: &mut impl Tx,
    ctx: &WriteContext,
    at: &str,
    what: Audited<'_>,
    report: &MemberReport,
) -> Result<()> {
    let mut b = builder(tx);
    b.push(
        "INSERT INTO audit (tenant_id, at, actor, request_id, operation, resource_kind, resource_id, status, detail) VALUES (",
    );
    b.bind(Bind::Text(ctx.tenant.to_string())).push(", ");
    b.bind(Bind::Text(at.to_owned())).push(", ");
    b.bind(Bind::Text(ctx.actor.clone())).push(", ");
    b.bind(Bind::opt_text(ctx.request_id.as_deref())).push(", ");
    b.bind(Bind::Text(what.operation.to_owned())).push(", ");
    b.bind(Bind::Text(what.kind.as_str().to_owned())).push(", ");
    b.bind(Bind::Text(what.id.to_owned())).push(", ");
    b.bind(Bind::Int(i64::from(what.status))).push(", ");
    if report.skipped.is_empty() {
        b.bind(Bind::opt_text(None));
        if b.dialect() == Dialect::Postgres {
            b.push("::jsonb");
        }
    } else {
        json_param(&mut b, json!({ "skippedMembers": report.skipped }).to_string(), true);
    }
    b.push(")");
    tx.execute(b.build()).await?;
    Ok(())
}

/// Appends a write's events: numbers them ([`Tx::event_numbers`]) and inserts them, whose
/// resource events carry `doc`. Called as the write's last statements, so that whatever the
/// numbering locks is held as briefly as possible. Returns what it appended.
async fn append_events(
    tx: &mut impl Tx,
    clock: &dyn Clock,
    ctx: &WriteContext,
    drafts: Vec<Draft>,
    at: OffsetDateTime,
    doc: Document<'_>,
) -> Result<Appended> {
    let mut appended = Appended::default();
    if drafts.is_empty() {
        return Ok(appended);
    }
    for d in &drafts {
        appended.add(d.type_);
    }
    let count = i64::try_from(drafts.len())
        .map_err(|_| StoreError::Internal("too many events in one write".into()))?;
    let tenant = ctx.tenant.to_string();
    let numbers = tx.event_numbers(&tenant, count).await?;
    let mut sealed = plan::seal(ctx, drafts, numbers, at, doc, || clock.new_id())?.into_iter().peekable();
    while sealed.peek().is_some() {
        let mut b = builder(tx);
        b.push("INSERT INTO events (tenant_id, seq, id, type, resource_id, occurred_at, body) VALUES ");
        // Moved into the statement, not copied: a body is a whole user.
        for (i, e) in sealed.by_ref().take(EVENT_CHUNK).enumerate() {
            b.push(if i == 0 { "(" } else { ", (" });
            b.bind(Bind::Text(tenant.clone())).push(", ");
            match (e.seq, numbers) {
                (Some(seq), _) => b.bind(Bind::Int(seq)),
                // In row order within a statement, and statements run in order: the write's
                // events keep their order among its placeholders.
                (None, EventNumbers::Placeholders(expr)) => b.push(expr),
                (None, EventNumbers::From(_)) => {
                    return Err(StoreError::Internal("an event without its number".into()));
                }
            };
            b.push(", ");
            b.bind(Bind::Text(e.id)).push(", ");
            b.bind(Bind::Text(e.type_.to_owned())).push(", ");
            b.bind(Bind::Text(e.resource_id)).push(", ");
            b.bind(Bind::Text(e.occurred_at)).push(", ");
            b.bind(Bind::Text(e.body)).push(")");
        }
        tx.execute(b.build()).await?;
    }
    Ok(appended)
}

/// What a write returns to its backend: the result, and the events it appended (the backend
/// hands them to [`crate::EventSignal::committed`] after the commit).
#[derive(Debug)]
pub struct Written<T> {
    /// The write's result.
    pub value: T,
    /// Events appended.
    pub events: Appended,
}

/// RFC 7644 §3.3: inserts a resource, its index rows, its initial members (Groups), the audit
/// record and the events. `derived` is [`Derived::of`] the document, computed before the
/// transaction. `userName` (Users) and `displayName` (Groups) are unique per tenant: a duplicate
/// is [`StoreError::Conflict`] naming the attribute.
pub async fn create(
    tx: &mut impl Tx,
    clock: &dyn Clock,
    ctx: &WriteContext,
    new: &NewResource,
    derived: &Derived,
) -> Result<Written<(StoredResource, MemberReport)>> {
    let tenant = ctx.tenant.to_string();
    let id = clock.new_id().to_string();
    let now = clock.now();
    let at = format_datetime(now);
    let mut report = MemberReport::default();

    let mut b = builder(tx);
    b.push(
        "INSERT INTO resources (tenant_id, id, kind, version, created, last_modified, name_key, \
         display_name_key, display_name, user_name, external_id, active, password_hash, doc, search) VALUES (",
    );
    b.bind(Bind::Text(tenant.clone())).push(", ");
    b.bind(Bind::Text(id.clone())).push(", ");
    b.bind(Bind::Text(new.kind.as_str().to_owned())).push(", 1, ");
    b.bind(Bind::Text(at.clone())).push(", ");
    b.bind(Bind::Text(at.clone())).push(", ");
    derived_binds(&mut b, derived);
    b.push(", ");
    b.bind(Bind::opt_text(new.password_hash.as_deref())).push(", ");
    let doc_text = new.doc.to_string();
    json_param(&mut b, doc_text.clone(), false);
    b.push(", ");
    json_param(&mut b, new.search.to_string(), true);
    b.push(")");
    // The unique index on (tenant_id, kind, name_key) decides between writers creating the same
    // name: on PostgreSQL the second insert waits for the first to commit, then fails (→ 409).
    tx.execute(b.build()).await.map_err(conflict_on(new.kind))?;
    insert_values(tx, &tenant, &id, derived).await?;
    let mut delta = MemberDelta::default();
    if new.kind == ResourceKind::Group {
        let ids: Vec<&str> = new.members.iter().map(String::as_str).collect();
        add_members(tx, &tenant, &id, &ids, &mut report, &mut delta).await?;
    }
    // Tenant policy unknown_members = refuse: the caller's transaction rolls back.
    if let Some(refused) = ctx.refusal(&report) {
        return Err(refused);
    }
    audit(tx, ctx, &at, Audited { operation: "create", kind: new.kind, id: &id, status: 201 }, &report)
        .await?;
    let subject =
        Subject { kind: new.kind, id: &id, version: 1, external_id: derived.external_id.as_deref(), at: now };
    let doc = Document { value: &new.doc, text: Some(&doc_text) };
    let events = append_events(tx, clock, ctx, plan::created(&subject, &delta), now, doc).await?;
    let stored = StoredResource {
        id,
        kind: new.kind,
        version: 1,
        created: now,
        last_modified: now,
        doc: new.doc.clone(),
        members: None,
        groups: None,
    };
    Ok(Written { value: (stored, report), events })
}

/// `name_key, display_name_key, display_name, user_name, external_id, active`.
fn derived_binds(b: &mut SqlBuilder, d: &Derived) {
    b.bind(Bind::Text(d.name_key.clone())).push(", ");
    b.bind(Bind::opt_text(d.display_name_key.as_deref())).push(", ");
    b.bind(Bind::opt_text(d.display_name.as_deref())).push(", ");
    b.bind(Bind::opt_text(d.user_name.as_deref())).push(", ");
    b.bind(Bind::opt_text(d.external_id.as_deref())).push(", ");
    b.bind(Bind::opt_bool(d.active));
}

/// A new document as the update binds it: its derived columns and its text, computed before the
/// transaction so that only statements run while the resource is locked.
#[derive(Debug)]
pub struct PreparedDoc {
    derived: Derived,
    doc: String,
    search: String,
}

impl PreparedDoc {
    /// Derives the columns of `doc` (see [`Derived::of`]).
    ///
    /// # Errors
    /// As [`Derived::of`].
    pub fn of(kind: ResourceKind, doc: &Value, search: &Value) -> Result<Self> {
        Ok(Self { derived: Derived::of(kind, doc)?, doc: doc.to_string(), search: search.to_string() })
    }
}

/// Reads `version, last_modified, external_id` (and `doc` when `with_doc`, for a delete) of one
/// resource, locking its row on PostgreSQL for the rest of the transaction: `FOR NO KEY UPDATE`
/// for an update (see [`lock`]), `FOR UPDATE` for a delete, which waits for writers that took the
/// resource as a member (`FOR KEY SHARE`) so that it sees every membership it ends.
async fn read_row(
    tx: &mut impl Tx,
    tenant: &str,
    kind: ResourceKind,
    id: &str,
    with_doc: bool,
) -> Result<Option<Row>> {
    let mut b = builder(tx);
    b.push("SELECT version, last_modified, external_id");
    if with_doc {
        b.push(if b.dialect() == Dialect::Postgres { ", doc::text" } else { ", doc" });
    }
    b.push(" FROM resources WHERE tenant_id = ").bind(Bind::Text(tenant.to_owned()));
    b.push(" AND kind = ").bind(Bind::Text(kind.as_str().to_owned()));
    b.push(" AND id = ").bind(Bind::Text(id.to_owned()));
    lock(&mut b, if with_doc { " FOR UPDATE" } else { " FOR NO KEY UPDATE" });
    Ok(tx.rows(b.build()).await?.into_iter().next())
}

/// Writes one PUT or PATCH (see [`crate::ResourceStore::update`]): checks the version inside the
/// transaction (RFC 7644 §3.14), applies member operations, and when anything changed writes the
/// document, index rows, password hash, the new version, the audit record and the events. A no-op
/// writes nothing and keeps the version (and ETag).
pub async fn update(
    tx: &mut impl Tx,
    clock: &dyn Clock,
    ctx: &WriteContext,
    (kind, id): (ResourceKind, &str),
    update: &Update,
    doc: Option<&PreparedDoc>,
) -> Result<Written<Updated>> {
    let tenant = ctx.tenant.to_string();
    let mut report = MemberReport::default();
    let row = read_row(tx, &tenant, kind, id, false).await?.ok_or(StoreError::NotFound)?;
    let previous = cell(&row, 0)?.int()?;
    // RFC 7644 §3.14: the version the caller computed from (or the client's If-Match) must be the
    // one this transaction holds, so the check and the write cannot be separated by another writer.
    if update.expected_version.is_some_and(|v| v != previous) {
        return Err(StoreError::VersionMismatch);
    }
    let delta = if kind == ResourceKind::Group {
        apply_members(tx, &tenant, id, &update.members, &mut report).await?
    } else {
        MemberDelta::default()
    };
    if let Some(refused) = ctx.refusal(&report) {
        return Err(refused);
    }
    if doc.is_none() && delta.is_empty() && update.password_hash.is_none() {
        // A no-op PATCH or an identical PUT keeps its version (and ETag), so clients that compare
        // ETags see nothing changed. Nothing written, nothing audited, no event.
        let last_modified = time_from_db(cell(&row, 1)?.text()?)?;
        let value = Updated { previous_version: previous, version: previous, last_modified, report };
        return Ok(Written { value, events: Appended::default() });
    }

    let now = clock.now();
    let at = format_datetime(now);
    let mut b = builder(tx);
    b.push("UPDATE resources SET version = ").bind(Bind::Int(previous + 1));
    b.push(", last_modified = ").bind(Bind::Text(at.clone()));
    if let Some(hash) = &update.password_hash {
        b.push(", password_hash = ").bind(Bind::Text(hash.clone()));
    }
    if let Some(PreparedDoc { derived: d, doc, search }) = doc {
        b.push(", name_key = ").bind(Bind::Text(d.name_key.clone()));
        b.push(", display_name_key = ").bind(Bind::opt_text(d.display_name_key.as_deref()));
        b.push(", display_name = ").bind(Bind::opt_text(d.display_name.as_deref()));
        b.push(", user_name = ").bind(Bind::opt_text(d.user_name.as_deref()));
        b.push(", external_id = ").bind(Bind::opt_text(d.external_id.as_deref()));
        b.push(", active = ").bind(Bind::opt_bool(d.active));
        b.push(", doc = ");
        json_param(&mut b, doc.clone(), false);
        b.push(", search = ");
        json_param(&mut b, search.clone(), true);
    }
    // `version = <read>` makes the write a compare-and-set in the database itself.
    b.push(" WHERE tenant_id = ").bind(Bind::Text(tenant.clone()));
    b.push(" AND id = ").bind(Bind::Text(id.to_owned()));
    b.push(" AND version = ").bind(Bind::Int(previous));
    if tx.execute(b.build()).await.map_err(conflict_on(kind))? != 1 {
        return Err(StoreError::VersionMismatch);
    }
    if let Some(PreparedDoc { derived, .. }) = doc {
        let mut b = builder(tx);
        b.push("DELETE FROM resource_values WHERE tenant_id = ").bind(Bind::Text(tenant.clone()));
        b.push(" AND resource_id = ").bind(Bind::Text(id.to_owned()));
        tx.execute(b.build()).await?;
        insert_values(tx, &tenant, id, derived).await?;
    }
    let version = previous + 1;
    let operation = update.operation.as_str();
    audit(tx, ctx, &at, Audited { operation, kind, id, status: 200 }, &report).await?;
    let external_id = match doc {
        Some(d) => d.derived.external_id.clone(),
        None => cell(&row, 2)?.opt_text()?.map(str::to_owned),
    };
    let subject = Subject { kind, id, version, external_id: external_id.as_deref(), at: now };
    let after = update.doc.as_ref().map(|(d, _)| d);
    let drafts =
        plan::updated(&subject, update.before.as_ref(), after, update.password_hash.is_some(), &delta);
    // The resource events carry the document after the write: the new one (whose text is the
    // row's), or the unchanged one when only the password or the members changed.
    let document = match (after, doc) {
        (Some(value), Some(p)) => Document { value, text: Some(&p.doc) },
        (Some(value), None) => Document { value, text: None },
        (None, _) => Document { value: update.before.as_ref().unwrap_or(&Value::Null), text: None },
    };
    let events = append_events(tx, clock, ctx, drafts, now, document).await?;
    let value = Updated { previous_version: previous, version, last_modified: now, report };
    Ok(Written { value, events })
}

/// RFC 7644 §3.6: deletes a resource (at `if_match` when given), its index rows and its
/// memberships in both directions. The groups it belonged to change (their member lists), so
/// their versions are incremented (RFC 7644 §3.14) and each gets a `group.member_removed` event.
pub async fn delete(
    tx: &mut impl Tx,
    clock: &dyn Clock,
    ctx: &WriteContext,
    (kind, id): (ResourceKind, &str),
    if_match: Option<i64>,
) -> Result<Written<()>> {
    let tenant = ctx.tenant.to_string();
    let row = read_row(tx, &tenant, kind, id, true).await?.ok_or(StoreError::NotFound)?;
    let version = cell(&row, 0)?.int()?;
    if if_match.is_some_and(|v| v != version) {
        return Err(StoreError::VersionMismatch);
    }
    let doc_text = cell(&row, 3)?.text()?;
    let doc: Value = serde_json::from_str(doc_text)
        .map_err(|e| StoreError::Internal(format!("stored document does not parse: {e}")))?;
    let now = clock.now();
    let at = format_datetime(now);

    let mut b = builder(tx);
    b.push("UPDATE resources SET version = version + 1, last_modified = ").bind(Bind::Text(at.clone()));
    b.push(" WHERE tenant_id = ").bind(Bind::Text(tenant.clone()));
    b.push(" AND id IN (SELECT group_id FROM members WHERE tenant_id = ").bind(Bind::Text(tenant.clone()));
    b.push(" AND member_id = ").bind(Bind::Text(id.to_owned()));
    b.push(") RETURNING id, version, external_id");
    let mut ended = Vec::new();
    for r in tx.rows(b.build()).await? {
        ended.push(EndedMembership {
            group: cell(&r, 0)?.text()?.to_owned(),
            version: cell(&r, 1)?.int()?,
            external_id: cell(&r, 2)?.opt_text()?.map(str::to_owned),
        });
    }
    ended.sort_by(|a, b| a.group.cmp(&b.group));

    // Memberships in both directions and index rows go with it (ON DELETE CASCADE).
    let mut b = builder(tx);
    b.push("DELETE FROM resources WHERE tenant_id = ").bind(Bind::Text(tenant.clone()));
    b.push(" AND id = ").bind(Bind::Text(id.to_owned()));
    tx.execute(b.build()).await?;
    audit(tx, ctx, &at, Audited { operation: "delete", kind, id, status: 204 }, &MemberReport::default())
        .await?;
    let external_id = cell(&row, 2)?.opt_text()?;
    // The deletion is one more change of the resource: its event carries the next version, so a
    // reader that holds the last one (the initial sync's rule, docs/events.md) still applies it.
    let subject = Subject { kind, id, version: version + 1, external_id, at: now };
    let document = Document { value: &doc, text: Some(doc_text) };
    let events = append_events(tx, clock, ctx, plan::deleted(&subject, &ended), now, document).await?;
    Ok(Written { value: (), events })
}
