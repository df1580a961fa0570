//! The event log: what the application beside scimd reads to learn what changed (docs/events.md).
//!
//! Every committed write appends its events in the same transaction as the change. How they are
//! numbered is the backend's ([`crate::write::Tx::event_numbers`]): SQLite's single writer numbers
//! the writes of a batch from counters it keeps and writes each tenant's `event_heads` row once
//! before the batch commits; PostgreSQL inserts placeholders, which the log's readers number after
//! the commit in short transactions that lock the row. Either way a reader that has seen `seq` N
//! has seen every event at or below N, on one database or on PostgreSQL with several replicas
//! writing.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::sql::{Bind, SqlBuilder};
use crate::write::{Cell, Tx, cell};

/// The event types (docs/events.md, "Types").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A User was created (POST).
    UserCreated,
    /// A User changed, other than `active` flipping.
    UserUpdated,
    /// A User's `active` went from true to false.
    UserDeactivated,
    /// A User's `active` went from false to true (including the re-activation policy's takeover).
    UserReactivated,
    /// A User was deleted.
    UserDeleted,
    /// A Group was created.
    GroupCreated,
    /// A Group's attributes other than its members changed.
    GroupUpdated,
    /// A Group was deleted.
    GroupDeleted,
    /// One member joined a group.
    GroupMemberAdded,
    /// One member left a group (removed, or deleted).
    GroupMemberRemoved,
}

impl EventType {
    /// Every type, in the order of docs/events.md.
    pub const ALL: [EventType; 10] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserDeleted,
        EventType::GroupCreated,
        EventType::GroupUpdated,
        EventType::GroupDeleted,
        EventType::GroupMemberAdded,
        EventType::GroupMemberRemoved,
    ];

    /// The wire name (`user.deactivated`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserDeleted => "user.deleted",
            EventType::GroupCreated => "group.created",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
            EventType::GroupMemberAdded => "group.member_added",
            EventType::GroupMemberRemoved => "group.member_removed",
        }
    }

    /// Parses a wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// How many events of each type a write (or a process) appended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended([u64; EventType::ALL.len()]);

impl Appended {
    /// Counts one more of `t`.
    pub fn add(&mut self, t: EventType) {
        self.0[t as usize] += 1;
    }

    /// How many of `t`.
    #[must_use]
    pub fn get(&self, t: EventType) -> u64 {
        self.0[t as usize]
    }

    /// How many in all.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// A type filter: one type (`user.deactivated`) or every type of a resource (`user.*`, `group.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeFilter(Vec<EventType>);

impl TypeFilter {
    /// Parses the filters a reader gave; an empty list means every type.
    ///
    /// # Errors
    /// The name that is neither a type nor `user.*` / `group.*`.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> std::result::Result<Self, String> {
        let mut types = Vec::new();
        for name in names {
            let matched: Vec<EventType> = match name.strip_suffix(".*") {
                Some(prefix @ ("user" | "group")) => EventType::ALL
                    .into_iter()
                    .filter(|t| t.as_str().split_once('.').is_some_and(|(p, _)| p == prefix))
                    .collect(),
                Some(_) => Vec::new(),
                None => EventType::parse(name).into_iter().collect(),
            };
            if matched.is_empty() {
                return Err(name.to_owned());
            }
            types.extend(matched);
        }
        types.sort_by_key(|t| t.as_str());
        types.dedup();
        Ok(Self(types))
    }

    /// The types it keeps; empty for every type.
    #[must_use]
    pub fn types(&self) -> &[EventType] {
        &self.0
    }

    /// Whether it keeps `t`.
    #[must_use]
    pub fn keeps(&self, t: EventType) -> bool {
        self.0.is_empty() || self.0.contains(&t)
    }
}

/// A read of the log.
#[derive(Clone, Debug)]
pub struct EventQuery {
    /// Events with a higher seq than this (0: from the start).
    pub after: u64,
    /// How many at most (at least 1).
    pub limit: u32,
    /// Which types.
    pub types: TypeFilter,
}

/// One stored event: its number and its JSON body as written (docs/events.md, "Event").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// The per-tenant sequence number.
    pub seq: u64,
    /// The event, as JSON text.
    pub body: String,
}

/// A page of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPage {
    /// The events, in seq order.
    pub events: Vec<StoredEvent>,
    /// Where the next read continues (`after`): the last event's seq when the page is full, else
    /// the head the read saw (every event up to it was examined, whatever the type filter kept).
    pub next: u64,
}

/// Where a tenant's log stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHead {
    /// The highest seq committed (0: none yet).
    pub seq: u64,
    /// The lowest seq still held: events below it were pruned by retention.
    pub oldest: u64,
}

/// What the metrics report of the whole log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventStats {
    /// Events held, every tenant.
    pub events: u64,
    /// The earliest `occurred_at` held, when there is one.
    pub oldest: Option<OffsetDateTime>,
}

/// Reading and pruning the event log. Appending is part of each resource write (see
/// [`crate::ResourceStore`]), never a call of its own.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events of `tenant` after `query.after`, in seq order.
    ///
    /// # Errors
    /// [`crate::StoreError::EventsPruned`] when events after `query.after` were pruned by retention
    /// (the reader would miss them), naming the oldest seq still held.
    async fn events(&self, tenant: Uuid, query: &EventQuery) -> Result<EventPage>;

    /// Where `tenant`'s log stands.
    async fn event_head(&self, tenant: Uuid) -> Result<EventHead>;

    /// Deletes at most `max` events that occurred before `before`, each tenant's oldest first, and
    /// returns how many it deleted: retention, run in small batches so that no write waits long
    /// behind it.
    async fn prune_events(&self, before: OffsetDateTime, max: u32) -> Result<u64>;

    /// The size of the whole log, for metrics.
    async fn event_stats(&self) -> Result<EventStats>;

    /// Numbers every tenant's events that wait for their numbers, on a backend that numbers after
    /// the commit (PostgreSQL, whose reads number their own tenant's first); returns how many.
    /// Run at start-up and every second by every replica, for the tenants nobody reads. A backend
    /// that numbers in the write has none.
    async fn number_waiting(&self) -> Result<u64> {
        Ok(0)
    }
}

/// Wakes readers waiting for events (long polls) when this process commits some of their tenant's.
/// A generation counter per tenant, not a queue: waking costs nothing per event and a reader that
/// wakes re-reads the log, so a missed or spurious wake-up is never wrong, only later or earlier.
/// Per tenant, so that one busy tenant's writes wake only its own readers: a thousand waiting
/// readers of quiet tenants cost nothing while another tenant writes thousands of users a second.
/// Writes by other processes (replicas) do not wake it; readers also re-read on a short interval
/// for those.
///
/// It also counts what this process appended, by type, for the metrics.
#[derive(Debug, Default)]
pub struct EventSignal {
    /// Tenants with at least one waiting reader (a sender without receivers is dropped when the
    /// next reader subscribes).
    tenants: std::sync::Mutex<std::collections::HashMap<Uuid, tokio::sync::watch::Sender<u64>>>,
    closing: tokio::sync::watch::Sender<bool>,
    appended: [std::sync::atomic::AtomicU64; EventType::ALL.len()],
    /// Any tenant's commit: what the delivery worker waits on (one waiter; a commit while it is
    /// busy leaves a permit, so the next wait returns at once).
    any: tokio::sync::Notify,
}

/// What a waiting reader holds: woken by its tenant's commits and by shutdown.
#[derive(Debug)]
pub struct EventWaiter {
    tenant: tokio::sync::watch::Receiver<u64>,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl EventWaiter {
    /// Resolves at the next commit of events of the tenant after the subscription (or at once when
    /// one happened since the last call), or when the server starts shutting down.
    pub async fn changed(&mut self) {
        tokio::select! {
            r = self.tenant.changed() => {
                if r.is_err() {
                    // The sender is never dropped while a receiver holds it; should it be, waiting
                    // on shutdown alone still ends with the poll's own deadline.
                    let _ = self.closing.changed().await;
                }
            }
            _ = self.closing.changed() => {}
        }
    }

    /// Whether the server is shutting down.
    #[must_use]
    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }
}

impl EventSignal {
    /// Called after a commit: counts what it appended and, when it appended anything, wakes the
    /// tenant's waiting readers.
    pub fn committed(&self, tenant: Uuid, appended: &Appended) {
        if appended.total() == 0 {
            return;
        }
        for t in EventType::ALL {
            self.appended[t as usize].fetch_add(appended.get(t), std::sync::atomic::Ordering::Relaxed);
        }
        self.any.notify_one();
        if let Ok(tenants) = self.tenants.lock()
            && let Some(tx) = tenants.get(&tenant)
        {
            tx.send_modify(|g| *g = g.wrapping_add(1));
        }
    }

    /// Resolves at the next commit of events of any tenant by this process (or at once when one
    /// happened since the last call returned).
    pub async fn any_committed(&self) {
        self.any.notified().await;
    }

    /// What this process appended since it started.
    #[must_use]
    pub fn appended(&self) -> Appended {
        let mut a = Appended::default();
        for t in EventType::ALL {
            a.0[t as usize] = self.appended[t as usize].load(std::sync::atomic::Ordering::Relaxed);
        }
        a
    }

    /// The server is shutting down: waiting readers are woken and answer with what they have, so
    /// that a long poll does not hold the graceful shutdown for its whole `wait`.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A waiter for `tenant`'s next commit. Subscribe before reading the log, so that a commit
    /// between the read and the wait still wakes the reader.
    #[must_use]
    pub fn subscribe(&self, tenant: Uuid) -> EventWaiter {
        let closing = self.closing.subscribe();
        let rx = match self.tenants.lock() {
            Ok(mut tenants) => {
                // Bounded by the tenants that have waiting readers: the others' senders go here.
                tenants.retain(|_, tx| tx.receiver_count() > 0);
                tenants.entry(tenant).or_insert_with(|| tokio::sync::watch::Sender::new(0)).subscribe()
            }
            // A poisoned lock (a panic elsewhere while holding it): a receiver that is never woken
            // by commits, so the reader falls back to re-reading on its interval.
            Err(_) => tokio::sync::watch::Sender::new(0).subscribe(),
        };
        EventWaiter { tenant: rx, closing }
    }
}

fn seq_of(c: &Cell) -> Result<u64> {
    match c {
        Cell::Int(n) => u64::try_from(*n).map_err(|_| StoreError::Internal(format!("negative seq {n}"))),
        Cell::Null => Ok(0),
        Cell::Text(t) => Err(StoreError::Internal(format!("seq {t:?} is not a number"))),
    }
}

/// [`EventStore::event_head`] on any backend's connection.
pub async fn read_head(tx: &mut impl Tx, tenant: Uuid) -> Result<EventHead> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT seq, pruned FROM event_heads WHERE tenant_id = ").bind(Bind::Text(tenant.to_string()));
    Ok(match tx.rows(b.build()).await?.first() {
        Some(row) => EventHead { seq: seq_of(cell(row, 0)?)?, oldest: seq_of(cell(row, 1)?)? + 1 },
        None => EventHead { seq: 0, oldest: 1 },
    })
}

/// [`EventStore::events`] on any backend's connection. The head is read first and the events
/// are read up to it: every event at or below a committed head is committed (the counter row
/// orders commits), so the page has no holes however the two reads interleave with writers.
pub async fn read_events(tx: &mut impl Tx, tenant: Uuid, q: &EventQuery) -> Result<EventPage> {
    let head = read_head(tx, tenant).await?;
    if q.after.saturating_add(1) < head.oldest {
        return Err(StoreError::EventsPruned(head.oldest));
    }
    if q.after > head.seq {
        return Err(StoreError::Scim(scimd_schema::ScimError::new(
            scimd_schema::ScimType::InvalidCursor,
            format!(
                "after: {} is beyond the last event of this tenant ({}); use a seq this log returned",
                q.after, head.seq
            ),
        )));
    }
    if q.after == head.seq {
        return Ok(EventPage { events: Vec::new(), next: head.seq });
    }
    let int = |n: u64| Bind::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT seq, body FROM events WHERE tenant_id = ").bind(Bind::Text(tenant.to_string()));
    b.push(" AND seq > ").bind(int(q.after));
    b.push(" AND seq <= ").bind(int(head.seq));
    if !q.types.types().is_empty() {
        b.push(" AND type IN (");
        for (i, t) in q.types.types().iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(Bind::Text(t.as_str().to_owned()));
        }
        b.push(")");
    }
    b.push(" ORDER BY seq LIMIT ").bind(Bind::Int(i64::from(q.limit.max(1))));
    let mut events = Vec::new();
    for row in tx.rows(b.build()).await? {
        let body = cell(&row, 1)?.text()?.to_owned();
        events.push(StoredEvent { seq: seq_of(cell(&row, 0)?)?, body });
    }
    let full = events.len() >= usize::try_from(q.limit.max(1)).unwrap_or(usize::MAX);
    let next = match events.last() {
        Some(last) if full => last.seq,
        _ => head.seq,
    };
    Ok(EventPage { events, next })
}

/// [`EventStore::prune_events`] on any backend's transaction: for each tenant holding events,
/// deletes the longest run of its oldest events (by seq, at most `max` in all) that occurred
/// before `before`, and raises its `pruned` mark to the last seq deleted. A run from the front of
/// the key, never a time index: each delete is a range of the primary key, the log stays without
/// holes above the mark, and no index on time is written with every event.
pub async fn prune(tx: &mut impl Tx, before: OffsetDateTime, max: u32) -> Result<u64> {
    let cutoff = crate::rows::time_to_db(before);
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT tenant_id, pruned FROM event_heads WHERE seq > pruned ORDER BY tenant_id");
    let tenants = tx.rows(b.build()).await?;
    let int = |n: u64| Bind::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let mut budget = u64::from(max);
    let mut deleted = 0;
    for row in &tenants {
        if budget == 0 {
            break;
        }
        let tenant = cell(row, 0)?.text()?.to_owned();
        let pruned = seq_of(cell(row, 1)?)?;
        // The front of the tenant's log, oldest first; the run to delete ends before the first
        // event that is not older than the cutoff.
        let mut b = SqlBuilder::new(tx.dialect());
        b.push("SELECT seq, occurred_at FROM events WHERE tenant_id = ").bind(Bind::Text(tenant.clone()));
        b.push(" AND seq > ").bind(int(pruned));
        b.push(" ORDER BY seq LIMIT ").bind(int(budget));
        let mut last = None;
        for r in tx.rows(b.build()).await? {
            let old = matches!(cell(&r, 1)?, Cell::Text(t) if *t < cutoff);
            if !old {
                break;
            }
            last = Some(seq_of(cell(&r, 0)?)?);
        }
        let Some(last) = last else { continue };
        let mut b = SqlBuilder::new(tx.dialect());
        b.push("DELETE FROM events WHERE tenant_id = ").bind(Bind::Text(tenant.clone()));
        b.push(" AND seq > ").bind(int(pruned));
        b.push(" AND seq <= ").bind(int(last));
        let n = tx.execute(b.build()).await?;
        let mut b = SqlBuilder::new(tx.dialect());
        b.push("UPDATE event_heads SET pruned = ").bind(int(last));
        b.push(" WHERE tenant_id = ").bind(Bind::Text(tenant));
        b.push(" AND pruned < ").bind(int(last));
        tx.execute(b.build()).await?;
        deleted += n;
        budget = budget.saturating_sub(n);
    }
    Ok(deleted)
}

/// [`EventStore::event_stats`] on any backend's connection. Cheap at any size, since the
/// metrics endpoint reads it on every scrape: retention deletes a prefix of each tenant's log, so
/// the count held is the sum over tenants of `seq - pruned`, and the oldest event of a tenant is
/// its `pruned + 1`: one row per tenant, never a scan of the events.
pub async fn stats(tx: &mut impl Tx) -> Result<EventStats> {
    let b = {
        let mut b = SqlBuilder::new(tx.dialect());
        b.push(
            "SELECT CAST(coalesce(sum(h.seq - h.pruned), 0) AS BIGINT), \
             (SELECT min(e.occurred_at) FROM event_heads x \
              JOIN events e ON e.tenant_id = x.tenant_id AND e.seq = x.pruned + 1) FROM event_heads h",
        );
        b
    };
    let rows = tx.rows(b.build()).await?;
    let Some(row) = rows.first() else { return Ok(EventStats::default()) };
    let oldest = cell(row, 1)?.opt_text()?.map(crate::rows::time_from_db).transpose()?;
    Ok(EventStats { events: seq_of(cell(row, 0)?)?, oldest })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the waiter has been woken, without waiting: the timeout polls the future once first.
    async fn woken(w: &mut EventWaiter) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, w.changed()).await.is_ok()
    }

    #[tokio::test]
    async fn a_commit_wakes_only_its_tenants_readers_and_shutdown_wakes_all() {
        let signal = EventSignal::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut waiter = signal.subscribe(a);
        let mut one = Appended::default();
        one.add(EventType::UserCreated);
        signal.committed(b, &one);
        assert!(!woken(&mut waiter).await, "another tenant's commit");
        signal.committed(a, &Appended::default());
        assert!(!woken(&mut waiter).await, "a commit without events");
        signal.committed(a, &one);
        assert!(woken(&mut waiter).await, "its tenant's commit");
        assert!(!woken(&mut waiter).await, "woken once per commit");
        assert_eq!(signal.appended().get(EventType::UserCreated), 2);
        assert!(!waiter.is_closing());
        signal.close();
        assert!(woken(&mut waiter).await && waiter.is_closing());
        // A waiter dropped leaves no sender behind once another tenant subscribes.
        drop(waiter);
        let _other = signal.subscribe(b);
        assert_eq!(signal.tenants.lock().map(|t| t.len()).unwrap_or_default(), 1);
    }

    #[test]
    fn type_names_round_trip_and_prefixes_expand() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        let users = TypeFilter::parse(["user.*"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(users.types().len(), 5);
        assert!(users.keeps(EventType::UserDeactivated));
        assert!(!users.keeps(EventType::GroupMemberAdded));
        let both = TypeFilter::parse(["group.deleted", "group.*"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(both.types().len(), 5, "duplicates collapse");
        assert!(TypeFilter::parse([]).unwrap_or_else(|e| panic!("{e}")).keeps(EventType::UserCreated));
        for bad in ["user", "users.*", "*", "user.created ", "User.created", ".*", "user.**"] {
            assert_eq!(TypeFilter::parse([bad]), Err(bad.to_owned()), "{bad:?}");
        }
    }
}
