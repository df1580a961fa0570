//! Event delivery's state: the endpoints a tenant registers (webhooks, NATS sinks) and the outbox
//! of deliveries the workers claim from (docs/events.md, "Delivery").
//!
//! Delivery is driven from the event log, never from the write path: a write appends its events
//! and nothing else, and [`fan_out`] later copies the events after each endpoint's `cursor` into
//! one `deliveries` row per (endpoint, event) that the endpoint's type patterns keep. A committed
//! event is therefore never lost, whatever dies when: it stays in the log until the cursor has
//! passed it, and a delivery stays `pending` until its receiver acknowledged it or it was
//! dead-lettered.
//!
//! Order: of one endpoint and one resource, only the lowest pending seq may be claimed
//! ([`claim`]); different resources go in parallel. A claim is a lease (`lease_until`): a worker
//! that dies holding one is taken over when it expires, so an in-flight delivery may repeat, with
//! the same event id (at least once). On PostgreSQL several replicas claim with
//! `FOR UPDATE SKIP LOCKED` and never claim the same delivery at once; on SQLite the one writer
//! makes each claim atomic.
//!
//! Every statement is written once here, for both backends, run through [`Tx`].

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::{Result, StoreError};
use crate::events::read_head;
use crate::sql::{Bind, Dialect, SqlBuilder};
use crate::write::{Cell, Row, Tx, cell};

/// An endpoint's signing key (`whsec_…`), kept as text. It cannot be stored as a digest, since
/// every delivery is signed with the key itself; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// Wraps the key's text form.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The key's text form, for signing (and to show once on creation).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// How a webhook's body is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The event's JSON, signed as Standard Webhooks 1.0 describes.
    Standard,
    /// An RFC 9967 Security Event Token, pushed as RFC 8935 describes.
    Set,
}

impl WebhookFormat {
    /// The stored and command-line name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Set => "set",
        }
    }

    /// The format named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Self::Standard),
            "set" => Some(Self::Set),
            _ => None,
        }
    }
}

/// Where and how an endpoint's events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// An HTTP(S) receiver.
    Webhook {
        /// The URL events are POSTed to.
        url: String,
        /// The body's format.
        format: WebhookFormat,
        /// The SET's `aud` claim (RFC 8417 §2.2), for [`WebhookFormat::Set`].
        audience: Option<String>,
    },
    /// A NATS JetStream subject.
    Nats {
        /// The server (`nats://host:port`).
        url: String,
        /// The subject template (`{tenant}` and `{type}` are replaced).
        subject: String,
    },
}

impl Transport {
    fn kind(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Nats { .. } => "nats",
        }
    }
}

/// What to register.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    /// The endpoint's id (UUIDv7).
    pub id: Uuid,
    /// Its tenant.
    pub tenant: Uuid,
    /// Where its events go.
    pub transport: Transport,
    /// Type patterns it receives (`user.created`, `user.*`); empty: every type.
    pub types: Vec<String>,
    /// The signing key (webhooks).
    pub secret: Option<SigningSecret>,
    /// When.
    pub now: OffsetDateTime,
}

/// A registered endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant: Uuid,
    /// Where its events go.
    pub transport: Transport,
    /// Type patterns it receives; empty: every type.
    pub types: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why it was disabled, when it was by the server (410 Gone, failing too long).
    pub disabled_reason: Option<String>,
    /// The signing key.
    pub secret: Option<SigningSecret>,
    /// The key before the last rotation, still signing until `previous_until`.
    pub previous_secret: Option<SigningSecret>,
    /// Until when the previous key signs too.
    pub previous_until: Option<OffsetDateTime>,
    /// The first failure since the last success.
    pub failing_since: Option<OffsetDateTime>,
    /// The highest seq of the tenant's log already fanned out to this endpoint.
    pub cursor: u64,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

impl Endpoint {
    /// The keys that sign a delivery made at `now`: the current one, and the previous one
    /// during its grace period (Standard Webhooks 1.0 lets a signature header carry several).
    #[must_use]
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&SigningSecret> {
        let mut keys: Vec<&SigningSecret> = self.secret.iter().collect();
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_until)
            && now < until
        {
            keys.push(old);
        }
        keys
    }
}

/// Whether an event of type `t` goes to an endpoint with these patterns: empty (every type),
/// `*`, an exact type, or a family (`user.*`, `group.*`).
#[must_use]
pub fn type_matches(patterns: &[String], t: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| {
            p == "*"
                || p == t
                || p.strip_suffix(".*")
                    .is_some_and(|family| t.strip_prefix(family).is_some_and(|rest| rest.starts_with('.')))
        })
}

/// A delivery's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet acknowledged; due at `next_attempt_at`.
    Pending,
    /// Acknowledged by the receiver.
    Delivered,
    /// Given up after the last retry (or refused for good): visible and replayable.
    Dead,
}

impl DeliveryState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// The state named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One delivery, as listings show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its id.
    pub id: Uuid,
    /// Its endpoint.
    pub endpoint: Uuid,
    /// The event's seq (0: a `test` ping).
    pub seq: u64,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The resource it orders by.
    pub resource_id: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When it is next due (pending).
    pub next_attempt_at: OffsetDateTime,
    /// The last response's status.
    pub last_status: Option<u16>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it was delivered or dead-lettered.
    pub finished_at: Option<OffsetDateTime>,
}

/// A delivery a worker claimed: what to send, and where.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The delivery.
    pub id: Uuid,
    /// Its endpoint, as it stood at the claim.
    pub endpoint: Endpoint,
    /// The event's seq (0: a ping).
    pub seq: u64,
    /// The event's id.
    pub event_id: String,
    /// The event's type (`ping` for a ping).
    pub event_type: String,
    /// The event's JSON, or `None` when retention pruned it before it could be delivered.
    pub body: Option<String>,
    /// When the event occurred (the log's column, so that latency is measured without parsing
    /// the body); `None` for a ping.
    pub occurred_at: Option<OffsetDateTime>,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver acknowledged it.
    Delivered {
        /// Its status.
        status: Option<u16>,
    },
    /// It failed; try again at `at`.
    Retry {
        /// When.
        at: OffsetDateTime,
        /// The response's status, if there was a response.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// It failed for the last time (or for good): dead-lettered.
    Dead {
        /// The response's status, if any.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// The receiver said it is gone (Standard Webhooks: 410 disables the endpoint). The delivery
    /// stays pending, so that re-enabling the endpoint resumes where it stopped.
    Disable {
        /// The response's status.
        status: Option<u16>,
        /// Why, as the endpoint's `disabled_reason`.
        error: String,
    },
}

/// Where a replay starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFrom {
    /// Events with this seq and later.
    Seq(u64),
    /// Events that occurred at or after this time.
    Since(OffsetDateTime),
    /// The endpoint's dead letters, re-queued.
    DeadLetters,
}

/// Pending and dead deliveries of one endpoint, for the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// The endpoint.
    pub endpoint: Uuid,
    /// Deliveries not yet acknowledged.
    pub pending: u64,
    /// Dead letters.
    pub dead: u64,
}

/// The delivery state of every backend.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Registers an endpoint. It receives the events committed from now on (its cursor starts at
    /// the tenant's head); older ones are a [`DeliveryStore::replay`] away.
    async fn create_endpoint(&self, new: NewEndpoint) -> Result<Endpoint>;

    /// The tenant's endpoints, oldest first.
    async fn endpoints(&self, tenant: Uuid) -> Result<Vec<Endpoint>>;

    /// One endpoint of the tenant.
    async fn endpoint(&self, tenant: Uuid, id: Uuid) -> Result<Option<Endpoint>>;

    /// Deletes an endpoint and its deliveries; `false` when there was none.
    async fn delete_endpoint(&self, tenant: Uuid, id: Uuid) -> Result<bool>;

    /// Enables or disables an endpoint (by an administrator: the reason is cleared).
    async fn set_endpoint_enabled(&self, tenant: Uuid, id: Uuid, enabled: bool) -> Result<bool>;

    /// Replaces the signing key; the old one keeps signing until `previous_until`.
    async fn rotate_secret(
        &self,
        tenant: Uuid,
        id: Uuid,
        secret: SigningSecret,
        previous_until: OffsetDateTime,
    ) -> Result<bool>;

    /// Copies events after each enabled endpoint's cursor into its deliveries, at most `max`
    /// events per endpoint; returns how many deliveries it queued.
    async fn fan_out(&self, now: OffsetDateTime, max: u32) -> Result<u64>;

    /// Claims up to `limit` due deliveries, each the head of its (endpoint, resource) queue, for
    /// `lease`.
    async fn claim(&self, now: OffsetDateTime, lease: time::Duration, limit: u32) -> Result<Vec<Claimed>>;

    /// Records how an attempt ended. `disable_after`: an endpoint failing that long without a
    /// success is disabled.
    async fn complete(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        outcome: Outcome,
        disable_after: time::Duration,
    ) -> Result<()>;

    /// When the next delivery is due (the head of its queue, endpoint enabled, lease free): `now`
    /// when one is claimable already.
    async fn next_due(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>>;

    /// An endpoint's deliveries, newest first.
    async fn deliveries(
        &self,
        tenant: Uuid,
        endpoint: Uuid,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>>;

    /// Queues again: events from a seq or a time (at most `max` per call; returns how many it
    /// queued and whether it reached the endpoint's cursor), or the dead letters.
    async fn replay(
        &self,
        tenant: Uuid,
        endpoint: Uuid,
        from: ReplayFrom,
        now: OffsetDateTime,
        max: u32,
    ) -> Result<Replayed>;

    /// Queues a `test` ping with its own body.
    async fn queue_ping(&self, tenant: Uuid, endpoint: Uuid, ping: Ping) -> Result<bool>;

    /// Every endpoint's backlog.
    async fn backlogs(&self) -> Result<Vec<Backlog>>;

    /// Deletes deliveries finished before `before` (at most `max`).
    async fn prune_deliveries(&self, before: OffsetDateTime, max: u32) -> Result<u64>;
}

/// What a replay queued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Deliveries queued.
    pub queued: u64,
    /// Where the next call continues (a seq replay), or `None` when it is done.
    pub next: Option<u64>,
}

/// A `test` ping to queue.
#[derive(Clone, Debug)]
pub struct Ping {
    /// The delivery's id.
    pub id: Uuid,
    /// The ping's own event id.
    pub event_id: String,
    /// Its JSON body.
    pub body: String,
    /// When.
    pub now: OffsetDateTime,
}

// ---- the statements, shared by both backends ----

/// Unix milliseconds: how scheduling times are stored.
#[must_use]
pub fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Internal(format!("stored time {ms} is out of range: {e}")))
}

fn opt_millis(c: &Cell) -> Result<Option<OffsetDateTime>> {
    match c {
        Cell::Null => Ok(None),
        other => from_millis(other.int()?).map(Some),
    }
}

fn int(n: u64) -> Bind {
    Bind::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn unsigned(c: &Cell) -> Result<u64> {
    let n = c.int()?;
    u64::try_from(n).map_err(|_| StoreError::Internal(format!("negative count {n}")))
}

fn text(s: impl Into<String>) -> Bind {
    Bind::Text(s.into())
}

fn uuid_of(c: &Cell) -> Result<Uuid> {
    crate::rows::uuid_from_db(c.text()?)
}

const ENDPOINT_COLUMNS: &str = "e.id, e.tenant_id, e.kind, e.url, e.format, e.subject, e.audience, e.types, \
     e.secret, e.previous_secret, e.previous_until, e.enabled, e.disabled_reason, e.failing_since, \
     e.cursor, e.created_at";
const ENDPOINT_WIDTH: usize = 16;

fn endpoint_of(row: &Row, at: usize) -> Result<Endpoint> {
    let c = |i: usize| cell(row, at + i);
    let url = c(3)?.text()?.to_owned();
    let transport = match c(2)?.text()? {
        "webhook" => Transport::Webhook {
            url,
            format: WebhookFormat::parse(c(4)?.text()?)
                .ok_or_else(|| StoreError::Internal("unknown webhook format in the database".into()))?,
            audience: c(6)?.opt_text()?.map(str::to_owned),
        },
        "nats" => Transport::Nats { url, subject: c(5)?.opt_text()?.unwrap_or_default().to_owned() },
        other => {
            return Err(StoreError::Internal(format!("unknown endpoint kind {other:?} in the database")));
        }
    };
    let secret = |i: usize| -> Result<Option<SigningSecret>> {
        Ok(c(i)?.opt_text()?.map(|s| SigningSecret::new(s.to_owned())))
    };
    Ok(Endpoint {
        id: uuid_of(c(0)?)?,
        tenant: uuid_of(c(1)?)?,
        transport,
        types: c(7)?.text()?.split_whitespace().map(str::to_owned).collect(),
        secret: secret(8)?,
        previous_secret: secret(9)?,
        previous_until: opt_millis(c(10)?)?,
        enabled: c(11)?.int()? != 0,
        disabled_reason: c(12)?.opt_text()?.map(str::to_owned),
        failing_since: opt_millis(c(13)?)?,
        cursor: unsigned(c(14)?)?,
        created_at: from_millis(c(15)?.int()?)?,
    })
}

/// [`DeliveryStore::create_endpoint`].
pub async fn create_endpoint(tx: &mut impl Tx, new: &NewEndpoint) -> Result<Endpoint> {
    let head = read_head(tx, new.tenant).await?;
    let (url, format, subject, audience) = match &new.transport {
        Transport::Webhook { url, format, audience } => (url, format.as_str(), None, audience.clone()),
        Transport::Nats { url, subject } => (url, "json", Some(subject.clone()), None),
    };
    let mut b = SqlBuilder::new(tx.dialect());
    b.push(
        "INSERT INTO delivery_endpoints (id, tenant_id, kind, url, format, subject, audience, types, secret, \
         enabled, cursor, created_at) VALUES (",
    );
    b.bind(text(new.id.to_string())).push(", ");
    b.bind(text(new.tenant.to_string())).push(", ");
    b.bind(text(new.transport.kind())).push(", ");
    b.bind(text(url.clone())).push(", ");
    b.bind(text(format)).push(", ");
    b.bind(Bind::opt_text(subject.as_deref())).push(", ");
    b.bind(Bind::opt_text(audience.as_deref())).push(", ");
    b.bind(text(new.types.join(" "))).push(", ");
    b.bind(Bind::opt_text(new.secret.as_ref().map(SigningSecret::expose))).push(", ");
    b.bind(Bind::Bool(true)).push(", ");
    b.bind(int(head.seq)).push(", ");
    b.bind(Bind::Int(millis(new.now))).push(")");
    tx.execute(b.build()).await?;
    endpoint(tx, new.tenant, new.id)
        .await?
        .ok_or_else(|| StoreError::Internal("an endpoint just created is not there".into()))
}

/// [`DeliveryStore::endpoints`] (`id: None`) and [`DeliveryStore::endpoint`].
pub async fn endpoints(tx: &mut impl Tx, tenant: Uuid, id: Option<Uuid>) -> Result<Vec<Endpoint>> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT ").push(ENDPOINT_COLUMNS).push(" FROM delivery_endpoints e WHERE e.tenant_id = ");
    b.bind(text(tenant.to_string()));
    if let Some(id) = id {
        b.push(" AND e.id = ").bind(text(id.to_string()));
    }
    b.push(" ORDER BY e.id");
    tx.rows(b.build()).await?.iter().map(|r| endpoint_of(r, 0)).collect()
}

/// [`DeliveryStore::endpoint`].
pub async fn endpoint(tx: &mut impl Tx, tenant: Uuid, id: Uuid) -> Result<Option<Endpoint>> {
    Ok(endpoints(tx, tenant, Some(id)).await?.into_iter().next())
}

/// [`DeliveryStore::delete_endpoint`]. The deliveries go with it (`ON DELETE CASCADE`).
pub async fn delete_endpoint(tx: &mut impl Tx, tenant: Uuid, id: Uuid) -> Result<bool> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("DELETE FROM delivery_endpoints WHERE tenant_id = ").bind(text(tenant.to_string()));
    b.push(" AND id = ").bind(text(id.to_string()));
    Ok(tx.execute(b.build()).await? > 0)
}

/// [`DeliveryStore::set_endpoint_enabled`]. Re-enabling clears the failure streak, so that an
/// endpoint an administrator fixed is not disabled again by its old failures.
pub async fn set_endpoint_enabled(tx: &mut impl Tx, tenant: Uuid, id: Uuid, enabled: bool) -> Result<bool> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("UPDATE delivery_endpoints SET enabled = ").bind(Bind::Bool(enabled));
    b.push(", disabled_reason = NULL, failing_since = NULL WHERE tenant_id = ")
        .bind(text(tenant.to_string()));
    b.push(" AND id = ").bind(text(id.to_string()));
    Ok(tx.execute(b.build()).await? > 0)
}

/// [`DeliveryStore::rotate_secret`].
pub async fn rotate_secret(
    tx: &mut impl Tx,
    tenant: Uuid,
    id: Uuid,
    secret: &SigningSecret,
    previous_until: OffsetDateTime,
) -> Result<bool> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("UPDATE delivery_endpoints SET previous_secret = secret, previous_until = ");
    b.bind(Bind::Int(millis(previous_until)));
    b.push(", secret = ").bind(text(secret.expose()));
    b.push(" WHERE tenant_id = ").bind(text(tenant.to_string()));
    b.push(" AND id = ").bind(text(id.to_string()));
    b.push(" AND kind = 'webhook'");
    Ok(tx.execute(b.build()).await? > 0)
}

/// Inserts one pending delivery per event row `(seq, id, type, resource_id)` the patterns keep.
async fn queue_events(
    tx: &mut impl Tx,
    ep: &Endpoint,
    events: &[Row],
    now: OffsetDateTime,
    clock: &dyn Clock,
) -> Result<u64> {
    let mut queued = 0;
    let kept: Vec<&Row> = events
        .iter()
        .filter(|r| cell(r, 2).and_then(Cell::text).is_ok_and(|t| type_matches(&ep.types, t)))
        .collect();
    // Nine parameters a row: far below either backend's limit at 500 rows a statement.
    for chunk in kept.chunks(500) {
        let mut b = SqlBuilder::new(tx.dialect());
        b.push(
            "INSERT INTO deliveries (id, endpoint_id, tenant_id, seq, event_id, resource_id, state, \
             next_attempt_at, created_at) VALUES ",
        );
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.push("(").bind(text(clock.new_id().to_string())).push(", ");
            b.bind(text(ep.id.to_string())).push(", ");
            b.bind(text(ep.tenant.to_string())).push(", ");
            b.bind(Bind::Int(cell(r, 0)?.int()?)).push(", ");
            b.bind(text(cell(r, 1)?.text()?)).push(", ");
            b.bind(text(cell(r, 3)?.text()?)).push(", 'pending', ");
            b.bind(Bind::Int(millis(now))).push(", ");
            b.bind(Bind::Int(millis(now))).push(")");
        }
        queued += tx.execute(b.build()).await?;
    }
    Ok(queued)
}

/// Whether any enabled endpoint is behind its tenant's head: what a backend whose fan-out takes
/// its only writer (SQLite) asks on a reader first, so that a server without endpoints, or with
/// every endpoint caught up, never queues a write for nothing.
pub async fn any_behind(tx: &mut impl Tx) -> Result<bool> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT 1 FROM delivery_endpoints e JOIN event_heads h ON h.tenant_id = e.tenant_id WHERE e.enabled = ");
    b.bind(Bind::Bool(true));
    b.push(" AND e.cursor < h.seq LIMIT 1");
    Ok(!tx.rows(b.build()).await?.is_empty())
}

/// [`DeliveryStore::fan_out`]: for each enabled endpoint behind its tenant's head, the events
/// after its cursor (up to the head, at most `max`) become deliveries and the cursor moves past
/// them, in one transaction. On PostgreSQL the endpoint's row is locked (`SKIP LOCKED`: a replica
/// fanning out the same endpoint is simply left to it), so each event is queued once.
pub async fn fan_out(tx: &mut impl Tx, now: OffsetDateTime, max: u32, clock: &dyn Clock) -> Result<u64> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT ").push(ENDPOINT_COLUMNS).push(", h.seq FROM delivery_endpoints e ");
    b.push("JOIN event_heads h ON h.tenant_id = e.tenant_id WHERE e.enabled = ").bind(Bind::Bool(true));
    b.push(" AND e.cursor < h.seq ORDER BY e.id");
    if tx.dialect() == Dialect::Postgres {
        b.push(" FOR UPDATE OF e SKIP LOCKED");
    }
    let behind = tx.rows(b.build()).await?;
    let mut queued = 0;
    for row in &behind {
        let ep = endpoint_of(row, 0)?;
        let head = unsigned(cell(row, ENDPOINT_WIDTH)?)?;
        let mut b = SqlBuilder::new(tx.dialect());
        b.push("SELECT seq, id, type, resource_id FROM events WHERE tenant_id = ")
            .bind(text(ep.tenant.to_string()));
        b.push(" AND seq > ").bind(int(ep.cursor));
        b.push(" AND seq <= ").bind(int(head));
        b.push(" ORDER BY seq LIMIT ").bind(Bind::Int(i64::from(max.max(1))));
        let events = tx.rows(b.build()).await?;
        let full = events.len() >= usize::try_from(max.max(1)).unwrap_or(usize::MAX);
        // Below the head every event is committed (the counter orders commits): a page that is
        // not full has examined everything up to the head, even events retention already took.
        let cursor = match events.last() {
            Some(last) if full => unsigned(cell(last, 0)?)?,
            _ => head,
        };
        queued += queue_events(tx, &ep, &events, now, clock).await?;
        let mut b = SqlBuilder::new(tx.dialect());
        b.push("UPDATE delivery_endpoints SET cursor = ").bind(int(cursor));
        b.push(" WHERE id = ").bind(text(ep.id.to_string()));
        tx.execute(b.build()).await?;
    }
    Ok(queued)
}

/// The condition of a claimable delivery `d` of endpoint `e` at `now`: due, its lease free, and
/// no earlier pending delivery of the same endpoint and resource (the order guarantee).
fn claimable(b: &mut SqlBuilder, now: i64) {
    b.push("d.next_attempt_at <= ").bind(Bind::Int(now));
    b.push(" AND (d.lease_until IS NULL OR d.lease_until <= ").bind(Bind::Int(now));
    b.push(") AND ");
    queue_head(b);
}

/// The condition of a delivery `d` of endpoint `e` that is the head of its queue: pending, its
/// endpoint enabled, and no earlier pending delivery of the same endpoint and resource.
fn queue_head(b: &mut SqlBuilder) {
    b.push("d.state = 'pending' AND e.enabled = ").bind(Bind::Bool(true));
    b.push(
        " AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.endpoint_id = d.endpoint_id \
         AND p.resource_id = d.resource_id AND p.state = 'pending' \
         AND (p.seq < d.seq OR (p.seq = d.seq AND p.id < d.id)))",
    );
}

/// [`DeliveryStore::claim`].
pub async fn claim(
    tx: &mut impl Tx,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: u32,
) -> Result<Vec<Claimed>> {
    let now_ms = millis(now);
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT ").push(ENDPOINT_COLUMNS);
    b.push(", d.id, d.seq, d.event_id, coalesce(d.body, ev.body), d.attempts, coalesce(ev.type, 'ping'), ");
    b.push("ev.occurred_at ");
    b.push("FROM deliveries d JOIN delivery_endpoints e ON e.id = d.endpoint_id ");
    b.push("LEFT JOIN events ev ON d.seq > 0 AND ev.tenant_id = d.tenant_id AND ev.seq = d.seq WHERE ");
    claimable(&mut b, now_ms);
    b.push(" ORDER BY d.next_attempt_at, d.seq LIMIT ").bind(Bind::Int(i64::from(limit.max(1))));
    if tx.dialect() == Dialect::Postgres {
        // A replica skips what another is claiming this instant; the lease then keeps it off.
        b.push(" FOR UPDATE OF d SKIP LOCKED");
    }
    let rows = tx.rows(b.build()).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let w = ENDPOINT_WIDTH;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let attempts = cell(row, w + 4)?.int()?;
        claimed.push(Claimed {
            endpoint: endpoint_of(row, 0)?,
            id: uuid_of(cell(row, w)?)?,
            seq: unsigned(cell(row, w + 1)?)?,
            event_id: cell(row, w + 2)?.text()?.to_owned(),
            body: cell(row, w + 3)?.opt_text()?.map(str::to_owned),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            event_type: cell(row, w + 5)?.text()?.to_owned(),
            occurred_at: cell(row, w + 6)?.opt_text()?.map(crate::rows::time_from_db).transpose()?,
        });
    }
    let until = millis(now + lease);
    for chunk in claimed.chunks(500) {
        let mut b = SqlBuilder::new(tx.dialect());
        b.push("UPDATE deliveries SET lease_until = ").bind(Bind::Int(until));
        b.push(" WHERE id IN (");
        for (i, c) in chunk.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(text(c.id.to_string()));
        }
        b.push(")");
        tx.execute(b.build()).await?;
    }
    Ok(claimed)
}

fn opt_status(status: Option<u16>) -> Bind {
    Bind::opt_int(status.map(i64::from))
}

/// [`DeliveryStore::complete`]. Only a pending delivery is changed: a late answer to an attempt
/// whose lease expired and was taken over does not undo what the other attempt recorded.
pub async fn complete(
    tx: &mut impl Tx,
    id: Uuid,
    now: OffsetDateTime,
    outcome: &Outcome,
    disable_after: time::Duration,
) -> Result<()> {
    let now_ms = millis(now);
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("UPDATE deliveries SET attempts = attempts + 1, lease_until = NULL, ");
    let (status, error) = match outcome {
        Outcome::Delivered { status } => {
            b.push("state = 'delivered', finished_at = ").bind(Bind::Int(now_ms));
            (*status, None)
        }
        Outcome::Retry { at, status, error } => {
            b.push("next_attempt_at = ").bind(Bind::Int(millis(*at)));
            (*status, Some(error))
        }
        Outcome::Dead { status, error } => {
            b.push("state = 'dead', finished_at = ").bind(Bind::Int(now_ms));
            (*status, Some(error))
        }
        // Pending and due again: it goes first once the endpoint is enabled again.
        Outcome::Disable { status, error } => {
            b.push("next_attempt_at = ").bind(Bind::Int(now_ms));
            (*status, Some(error))
        }
    };
    b.push(", last_status = ").bind(opt_status(status));
    b.push(", last_error = ").bind(Bind::opt_text(error.map(String::as_str)));
    b.push(" WHERE id = ").bind(text(id.to_string()));
    b.push(" AND state = 'pending' RETURNING endpoint_id");
    let Some(row) = tx.rows(b.build()).await?.into_iter().next() else { return Ok(()) };
    let endpoint = cell(&row, 0)?.text()?.to_owned();

    let mut b = SqlBuilder::new(tx.dialect());
    match outcome {
        Outcome::Delivered { .. } => {
            b.push("UPDATE delivery_endpoints SET failing_since = NULL WHERE id = ").bind(text(endpoint));
            b.push(" AND failing_since IS NOT NULL");
        }
        Outcome::Disable { error, .. } => {
            b.push("UPDATE delivery_endpoints SET enabled = ").bind(Bind::Bool(false));
            b.push(", disabled_reason = ").bind(text(error.clone()));
            b.push(" WHERE id = ").bind(text(endpoint));
        }
        Outcome::Retry { .. } | Outcome::Dead { .. } => {
            // Standard Webhooks 1.0, "Disabling endpoints": an endpoint failing for days is
            // disabled; the streak starts at its first failure since the last success.
            let cutoff = millis(now - disable_after);
            b.push("UPDATE delivery_endpoints SET failing_since = coalesce(failing_since, ")
                .bind(Bind::Int(now_ms));
            b.push("), enabled = CASE WHEN failing_since IS NOT NULL AND failing_since <= ");
            b.bind(Bind::Int(cutoff)).push(" THEN ").bind(Bind::Bool(false)).push(" ELSE enabled END");
            b.push(", disabled_reason = CASE WHEN failing_since IS NOT NULL AND failing_since <= ");
            b.bind(Bind::Int(cutoff)).push(" THEN ");
            b.bind(text(format!("failing for more than {} hours", disable_after.whole_hours())));
            b.push(" ELSE disabled_reason END WHERE id = ").bind(text(endpoint));
        }
    }
    tx.execute(b.build()).await?;
    Ok(())
}

/// [`DeliveryStore::next_due`]: the earliest time the head of a queue becomes claimable by its
/// schedule or its lease. Only heads: a later delivery of a resource is due when its head is done,
/// which the worker learns from the completion, not from a timer.
pub async fn next_due(tx: &mut impl Tx, now: OffsetDateTime) -> Result<Option<OffsetDateTime>> {
    // First whether one is claimable now: the due index in order, stopping at the first head,
    // where the minimum below visits every pending row. Under a backlog this is the usual answer.
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT 1 FROM deliveries d JOIN delivery_endpoints e ON e.id = d.endpoint_id WHERE ");
    claimable(&mut b, millis(now));
    b.push(" LIMIT 1");
    if !tx.rows(b.build()).await?.is_empty() {
        return Ok(Some(now));
    }
    let mut b = SqlBuilder::new(tx.dialect());
    b.push(
        "SELECT min(CASE WHEN d.lease_until IS NOT NULL AND d.lease_until > d.next_attempt_at \
         THEN d.lease_until ELSE d.next_attempt_at END) FROM deliveries d \
         JOIN delivery_endpoints e ON e.id = d.endpoint_id WHERE ",
    );
    queue_head(&mut b);
    match tx.rows(b.build()).await?.first() {
        Some(row) => opt_millis(cell(row, 0)?),
        None => Ok(None),
    }
}

fn state_of(c: &Cell) -> Result<DeliveryState> {
    let s = c.text()?;
    DeliveryState::parse(s).ok_or_else(|| StoreError::Internal(format!("unknown delivery state {s:?}")))
}

/// [`DeliveryStore::deliveries`].
pub async fn deliveries(
    tx: &mut impl Tx,
    tenant: Uuid,
    endpoint: Uuid,
    state: Option<DeliveryState>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push(
        "SELECT id, endpoint_id, seq, event_id, resource_id, state, attempts, next_attempt_at, last_status, \
         last_error, created_at, finished_at FROM deliveries WHERE tenant_id = ",
    );
    b.bind(text(tenant.to_string()));
    b.push(" AND endpoint_id = ").bind(text(endpoint.to_string()));
    if let Some(state) = state {
        b.push(" AND state = ").bind(text(state.as_str()));
    }
    b.push(" ORDER BY created_at DESC, seq DESC LIMIT ").bind(Bind::Int(i64::from(limit.max(1))));
    let mut out = Vec::new();
    for r in tx.rows(b.build()).await? {
        out.push(DeliveryRecord {
            id: uuid_of(cell(&r, 0)?)?,
            endpoint: uuid_of(cell(&r, 1)?)?,
            seq: unsigned(cell(&r, 2)?)?,
            event_id: cell(&r, 3)?.text()?.to_owned(),
            resource_id: cell(&r, 4)?.text()?.to_owned(),
            state: state_of(cell(&r, 5)?)?,
            attempts: u32::try_from(cell(&r, 6)?.int()?).unwrap_or(u32::MAX),
            next_attempt_at: from_millis(cell(&r, 7)?.int()?)?,
            last_status: match cell(&r, 8)? {
                Cell::Null => None,
                c => u16::try_from(c.int()?).ok(),
            },
            last_error: cell(&r, 9)?.opt_text()?.map(str::to_owned),
            created_at: from_millis(cell(&r, 10)?.int()?)?,
            finished_at: opt_millis(cell(&r, 11)?)?,
        });
    }
    Ok(out)
}

/// [`DeliveryStore::replay`]. Events are queued again only up to the endpoint's cursor: those
/// after it will be fanned out anyway.
pub async fn replay(
    tx: &mut impl Tx,
    tenant: Uuid,
    endpoint_id: Uuid,
    from: ReplayFrom,
    now: OffsetDateTime,
    max: u32,
    clock: &dyn Clock,
) -> Result<Replayed> {
    let Some(ep) = endpoint(tx, tenant, endpoint_id).await? else {
        return Err(StoreError::NotFound);
    };
    let start = match from {
        ReplayFrom::DeadLetters => {
            let mut b = SqlBuilder::new(tx.dialect());
            b.push("UPDATE deliveries SET state = 'pending', attempts = 0, finished_at = NULL, next_attempt_at = ");
            b.bind(Bind::Int(millis(now)));
            b.push(" WHERE endpoint_id = ").bind(text(ep.id.to_string()));
            b.push(" AND state = 'dead'");
            let queued = tx.execute(b.build()).await?;
            return Ok(Replayed { queued, next: None });
        }
        ReplayFrom::Seq(seq) => seq,
        ReplayFrom::Since(t) => {
            let mut b = SqlBuilder::new(tx.dialect());
            b.push("SELECT min(seq) FROM events WHERE tenant_id = ").bind(text(tenant.to_string()));
            // Numbered events only: a placeholder (PostgreSQL, negative until numbered) is not in
            // the log yet.
            b.push(" AND seq > 0 AND occurred_at >= ").bind(text(crate::rows::time_to_db(t)));
            match tx.rows(b.build()).await?.first().map(|r| cell(r, 0).cloned()).transpose()? {
                Some(Cell::Int(n)) => u64::try_from(n).unwrap_or(0),
                _ => return Ok(Replayed::default()),
            }
        }
    };
    let head = read_head(tx, tenant).await?;
    if start < head.oldest && start > 0 {
        return Err(StoreError::EventsPruned(head.oldest));
    }
    let start = start.max(1);
    if start > ep.cursor {
        return Ok(Replayed::default());
    }
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("SELECT seq, id, type, resource_id FROM events WHERE tenant_id = ").bind(text(tenant.to_string()));
    b.push(" AND seq >= ").bind(int(start));
    b.push(" AND seq <= ").bind(int(ep.cursor));
    b.push(" ORDER BY seq LIMIT ").bind(Bind::Int(i64::from(max.max(1))));
    let events = tx.rows(b.build()).await?;
    let queued = queue_events(tx, &ep, &events, now, clock).await?;
    let next = match events.last() {
        Some(last) => {
            let seq = unsigned(cell(last, 0)?)?;
            (seq < ep.cursor && events.len() >= usize::try_from(max.max(1)).unwrap_or(usize::MAX))
                .then_some(seq + 1)
        }
        None => None,
    };
    Ok(Replayed { queued, next })
}

/// [`DeliveryStore::queue_ping`].
pub async fn queue_ping(tx: &mut impl Tx, tenant: Uuid, endpoint_id: Uuid, ping: &Ping) -> Result<bool> {
    if endpoint(tx, tenant, endpoint_id).await?.is_none() {
        return Ok(false);
    }
    let mut b = SqlBuilder::new(tx.dialect());
    b.push(
        "INSERT INTO deliveries (id, endpoint_id, tenant_id, seq, event_id, resource_id, body, state, \
         next_attempt_at, created_at) VALUES (",
    );
    b.bind(text(ping.id.to_string())).push(", ");
    b.bind(text(endpoint_id.to_string())).push(", ");
    b.bind(text(tenant.to_string())).push(", 0, ");
    b.bind(text(ping.event_id.clone())).push(", ");
    // Its own queue: a ping waits for nothing and holds nothing up.
    b.bind(text(format!("ping:{}", ping.id))).push(", ");
    b.bind(text(ping.body.clone())).push(", 'pending', ");
    b.bind(Bind::Int(millis(ping.now))).push(", ");
    b.bind(Bind::Int(millis(ping.now))).push(")");
    tx.execute(b.build()).await?;
    Ok(true)
}

/// [`DeliveryStore::backlogs`]: counted through the partial indexes on pending and dead rows.
pub async fn backlogs(tx: &mut impl Tx) -> Result<Vec<Backlog>> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push(
        "SELECT e.id, \
         (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending'), \
         (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'dead') \
         FROM delivery_endpoints e ORDER BY e.id",
    );
    let mut out = Vec::new();
    for r in tx.rows(b.build()).await? {
        out.push(Backlog {
            endpoint: uuid_of(cell(&r, 0)?)?,
            pending: unsigned(cell(&r, 1)?)?,
            dead: unsigned(cell(&r, 2)?)?,
        });
    }
    Ok(out)
}

/// [`DeliveryStore::prune_deliveries`]: delivered rows finished before `before`. Dead letters
/// stay until an administrator replays them or deletes the endpoint: they are what is left to do.
pub async fn prune_deliveries(tx: &mut impl Tx, before: OffsetDateTime, max: u32) -> Result<u64> {
    let mut b = SqlBuilder::new(tx.dialect());
    b.push("DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE state = 'delivered' AND finished_at < ");
    b.bind(Bind::Int(millis(before)));
    b.push(" LIMIT ").bind(Bind::Int(i64::from(max.max(1)))).push(")");
    tx.execute(b.build()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn type_patterns_match_exact_family_and_all() {
        assert!(type_matches(&[], "user.created"));
        assert!(type_matches(&p(&["*"]), "group.deleted"));
        assert!(type_matches(&p(&["user.created"]), "user.created"));
        assert!(!type_matches(&p(&["user.created"]), "user.updated"));
        assert!(type_matches(&p(&["user.*"]), "user.deactivated"));
        assert!(!type_matches(&p(&["user.*"]), "group.created"));
        // A family is a whole segment: `user.*` is not a prefix match on `users…`.
        assert!(!type_matches(&p(&["user.*"]), "users.created"));
        assert!(type_matches(&p(&["group.member_added", "user.*"]), "group.member_added"));
    }

    #[test]
    fn the_previous_key_signs_only_during_its_grace_period() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let ep = Endpoint {
            id: Uuid::nil(),
            tenant: Uuid::nil(),
            transport: Transport::Nats { url: "nats://x".into(), subject: "s".into() },
            types: Vec::new(),
            enabled: true,
            disabled_reason: None,
            secret: Some(SigningSecret::new("new".into())),
            previous_secret: Some(SigningSecret::new("old".into())),
            previous_until: Some(now + time::Duration::hours(1)),
            failing_since: None,
            cursor: 0,
            created_at: now,
        };
        let names = |t| ep.signing_secrets(t).iter().map(|s| s.expose().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(now), ["new", "old"]);
        assert_eq!(names(now + time::Duration::hours(2)), ["new"]);
        assert_eq!(format!("{:?}", ep.secret), "Some(SigningSecret(..))");
    }

    #[test]
    fn millis_round_trip() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1_764_000_000_123);
        assert_eq!(from_millis(millis(t)).ok(), Some(t));
    }
}
