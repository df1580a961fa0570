//! The delivery outbox (`scimd_store::delivery`) on a real database: fan-out by type, the order
//! of one resource's deliveries, leases, retries, dead letters, disabling, replay and pings.
//! Shared with scimd-store-postgres's tests, which run it against PostgreSQL through
//! [`super::open_store`].

use std::sync::Arc;

use serde_json::json;
use time::Duration;
use time::macros::datetime;
use uuid::Uuid;

use scimd_schema::ResourceSchema;
use scimd_store::delivery::{
    DeliveryState, NewEndpoint, Outcome, Ping, ReplayFrom, SigningSecret, Transport, WebhookFormat,
};
use scimd_store::{
    Clock, MockClock, NewResource, ResourceKind, Store, Update, UpdateOperation, WriteContext,
    search_document,
};

const LEASE: Duration = Duration::seconds(60);
const FIVE_DAYS: Duration = Duration::days(5);

struct World {
    store: Arc<dyn Store>,
    clock: MockClock,
    ctx: WriteContext,
    _guard: Box<dyn std::any::Any>,
}

async fn world() -> Option<World> {
    if !super::available() {
        return None;
    }
    let clock = MockClock::new(datetime!(2026-12-03 08:00 UTC));
    let (store, guard) = super::open_store(Arc::new(clock.clone())).await;
    let tenant = store.create_tenant("acme").await.unwrap();
    let ctx = WriteContext {
        tenant: tenant.id,
        actor: "test".into(),
        tenant_slug: "acme".into(),
        client: "other".into(),
        request_id: None,
        refuse_unknown_members: false,
    };
    Some(World { store, clock, ctx, _guard: guard })
}

impl World {
    async fn user(&self, name: &str) -> String {
        let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
        let search = search_document(&ResourceSchema::user(), &doc);
        let new =
            NewResource { kind: ResourceKind::User, doc, search, members: Vec::new(), password_hash: None };
        let (stored, _) = self.store.create(&self.ctx, new).await.unwrap();
        stored.id
    }

    async fn rename(&self, id: &str, name: &str) {
        let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
        let search = search_document(&ResourceSchema::user(), &doc);
        let stored = self.store.get(self.ctx.tenant, ResourceKind::User, id, false).await.unwrap().unwrap();
        let before: serde_json::Value = serde_json::from_str(stored.doc.as_str()).unwrap();
        let update = Update {
            operation: UpdateOperation::Replace,
            expected_version: Some(stored.version),
            before: Some(before),
            doc: Some((doc, search)),
            members: Vec::new(),
            password_hash: None,
        };
        self.store.update(&self.ctx, ResourceKind::User, id, update).await.unwrap();
    }

    async fn webhook(&self, types: &[&str]) -> Uuid {
        let id = self.clock.new_id();
        self.store
            .create_endpoint(NewEndpoint {
                id,
                tenant: self.ctx.tenant,
                transport: Transport::Webhook {
                    url: "https://receiver.example/hook".into(),
                    format: WebhookFormat::Standard,
                    audience: None,
                },
                types: types.iter().map(|s| (*s).to_owned()).collect(),
                secret: Some(SigningSecret::new("whsec_test".into())),
                now: self.clock.now(),
            })
            .await
            .unwrap();
        id
    }

    /// Fans out and claims everything claimable now: (event type, resource id, seq) per claim.
    async fn claim(&self, limit: u32) -> Vec<scimd_store::delivery::Claimed> {
        self.store.fan_out(self.clock.now(), 1000).await.unwrap();
        self.store.claim(self.clock.now(), LEASE, limit).await.unwrap()
    }

    async fn done(&self, id: Uuid) {
        self.store
            .complete(id, self.clock.now(), Outcome::Delivered { status: Some(200) }, FIVE_DAYS)
            .await
            .unwrap();
    }
}

fn resource_of(c: &scimd_store::delivery::Claimed) -> String {
    let body: serde_json::Value = serde_json::from_str(c.body.as_deref().unwrap()).unwrap();
    body["resource"]["id"].as_str().unwrap().to_owned()
}

/// An endpoint starts at the head; the events after it are fanned out once, by its type patterns,
/// and of one resource only the earliest pending one is claimable, while other resources go in
/// parallel.
#[tokio::test]
async fn fan_out_by_type_and_one_resource_at_a_time() {
    let Some(w) = world().await else { return };
    let before = w.user("before").await;
    let ep = w.webhook(&["user.*"]).await;
    let a = w.user("a").await;
    w.rename(&a, "a2").await;
    w.rename(&a, "a3").await;
    let b = w.user("b").await;
    assert_ne!(before, a);

    let first = w.claim(100).await;
    let mut got: Vec<(String, String)> =
        first.iter().map(|c| (c.event_type.clone(), resource_of(c))).collect();
    got.sort();
    assert_eq!(got, [("user.created".to_owned(), a.clone()), ("user.created".to_owned(), b.clone())]);
    assert!(first.iter().all(|c| c.endpoint.id == ep && c.attempts == 0));
    assert!(first.iter().all(|c| c.occurred_at == Some(w.clock.now())), "the log's time of the event");
    // Nothing more while both heads are out, and a second fan-out queues nothing twice.
    assert!(w.claim(100).await.is_empty());
    let pending = w.store.deliveries(w.ctx.tenant, ep, Some(DeliveryState::Pending), 100).await.unwrap();
    assert_eq!(pending.len(), 4, "{pending:?}");

    // a's next event is claimable only once its first is acknowledged.
    let a_first = first.iter().find(|c| resource_of(c) == a).unwrap();
    w.done(a_first.id).await;
    let next = w.claim(100).await;
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].event_type.as_str(), resource_of(&next[0])), ("user.updated", a.clone()));
    assert!(next[0].seq > a_first.seq);
}

/// A retry waits for its time, holds the resource's later events back, and a dead letter releases
/// them; an expired lease is claimed again (at least once).
#[tokio::test]
async fn retries_leases_and_dead_letters() {
    let Some(w) = world().await else { return };
    let ep = w.webhook(&[]).await;
    let a = w.user("a").await;
    w.rename(&a, "a2").await;

    let c = w.claim(10).await;
    assert_eq!(c.len(), 1);
    let retry_at = w.clock.now() + Duration::seconds(5);
    w.store
        .complete(
            c[0].id,
            w.clock.now(),
            Outcome::Retry { at: retry_at, status: Some(500), error: "500".into() },
            FIVE_DAYS,
        )
        .await
        .unwrap();
    assert!(w.claim(10).await.is_empty(), "not before its time, and the later event waits");
    assert_eq!(w.store.next_due(w.clock.now()).await.unwrap(), Some(retry_at));
    w.clock.advance(Duration::seconds(5));
    let again = w.claim(10).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (c[0].id, 1));

    // The worker dies holding it: after the lease it is claimed again, same event id.
    assert!(w.claim(10).await.is_empty());
    w.clock.advance(LEASE);
    let taken_over = w.claim(10).await;
    assert_eq!(taken_over.len(), 1);
    assert_eq!(taken_over[0].event_id, c[0].event_id);

    w.store
        .complete(
            c[0].id,
            w.clock.now(),
            Outcome::Dead { status: Some(500), error: "gave up".into() },
            FIVE_DAYS,
        )
        .await
        .unwrap();
    let after_dead = w.claim(10).await;
    assert_eq!(after_dead.len(), 1, "the dead letter no longer holds the resource's next event");
    assert_eq!(after_dead[0].event_type, "user.updated");

    let dead = w.store.deliveries(w.ctx.tenant, ep, Some(DeliveryState::Dead), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    // Two recorded attempts: the one whose worker died recorded nothing.
    assert_eq!(
        (dead[0].attempts, dead[0].last_status, dead[0].last_error.as_deref()),
        (2, Some(500), Some("gave up"))
    );
    let backlog = w.store.backlogs().await.unwrap();
    assert_eq!((backlog[0].pending, backlog[0].dead), (1, 1));

    // Replayed dead letters are pending again from attempt 0.
    let r = w.store.replay(w.ctx.tenant, ep, ReplayFrom::DeadLetters, w.clock.now(), 100).await.unwrap();
    assert_eq!(r.queued, 1);
    let dead = w.store.deliveries(w.ctx.tenant, ep, Some(DeliveryState::Dead), 10).await.unwrap();
    assert!(dead.is_empty());
}

/// 410 disables the endpoint and keeps the delivery pending; an endpoint failing for longer than
/// the limit is disabled; enabling it again resumes.
#[tokio::test]
async fn gone_and_failing_endpoints_are_disabled() {
    let Some(w) = world().await else { return };
    let ep = w.webhook(&[]).await;
    w.user("a").await;
    let c = w.claim(10).await;
    w.store
        .complete(
            c[0].id,
            w.clock.now(),
            Outcome::Disable { status: Some(410), error: "410 Gone".into() },
            FIVE_DAYS,
        )
        .await
        .unwrap();
    let e = w.store.endpoint(w.ctx.tenant, ep).await.unwrap().unwrap();
    assert!(!e.enabled);
    assert_eq!(e.disabled_reason.as_deref(), Some("410 Gone"));
    w.user("b").await;
    assert!(w.claim(10).await.is_empty(), "a disabled endpoint gets nothing");
    assert!(w.store.set_endpoint_enabled(w.ctx.tenant, ep, true).await.unwrap());
    let resumed = w.claim(10).await;
    assert_eq!(resumed.len(), 2, "the pending delivery and the event made while disabled");

    // Failing: the streak starts at the first failure; past the limit the endpoint is disabled.
    for c in &resumed {
        let at = w.clock.now() + Duration::hours(1);
        w.store
            .complete(
                c.id,
                w.clock.now(),
                Outcome::Retry { at, status: None, error: "refused".into() },
                FIVE_DAYS,
            )
            .await
            .unwrap();
    }
    let e = w.store.endpoint(w.ctx.tenant, ep).await.unwrap().unwrap();
    assert_eq!(e.failing_since, Some(w.clock.now()));
    assert!(e.enabled);
    w.clock.advance(FIVE_DAYS + Duration::hours(1));
    let c = w.claim(10).await;
    let at = w.clock.now() + Duration::hours(1);
    w.store
        .complete(
            c[0].id,
            w.clock.now(),
            Outcome::Retry { at, status: None, error: "refused".into() },
            FIVE_DAYS,
        )
        .await
        .unwrap();
    let e = w.store.endpoint(w.ctx.tenant, ep).await.unwrap().unwrap();
    assert!(!e.enabled);
    assert!(e.disabled_reason.unwrap().contains("failing"));
}

/// Replay from a seq queues the events again up to the cursor, by the endpoint's patterns; a ping
/// is its own queue.
#[tokio::test]
async fn replay_and_ping() {
    let Some(w) = world().await else { return };
    let ep = w.webhook(&["user.created"]).await;
    let a = w.user("a").await;
    w.rename(&a, "a2").await;
    w.user("b").await;
    for c in w.claim(10).await {
        w.done(c.id).await;
    }
    assert!(w.claim(10).await.is_empty());
    let r = w.store.replay(w.ctx.tenant, ep, ReplayFrom::Seq(1), w.clock.now(), 1000).await.unwrap();
    assert_eq!(r.queued, 2, "two user.created, not the update");
    assert_eq!(r.next, None);
    assert_eq!(w.claim(10).await.len(), 2);

    let paged = w.store.replay(w.ctx.tenant, ep, ReplayFrom::Seq(1), w.clock.now(), 1).await.unwrap();
    assert_eq!((paged.queued, paged.next), (1, Some(2)));

    let since = w
        .store
        .replay(w.ctx.tenant, ep, ReplayFrom::Since(w.clock.now() + Duration::hours(1)), w.clock.now(), 10)
        .await
        .unwrap();
    assert_eq!(since.queued, 0);

    let ping = Ping {
        id: w.clock.new_id(),
        event_id: "ping-1".into(),
        body: r#"{"type":"ping"}"#.into(),
        now: w.clock.now(),
    };
    assert!(w.store.queue_ping(w.ctx.tenant, ep, ping).await.unwrap());
    let claimed = w.claim(10).await;
    let p = claimed.iter().find(|c| c.event_type == "ping").unwrap();
    assert_eq!((p.seq, p.body.as_deref(), p.occurred_at), (0, Some(r#"{"type":"ping"}"#), None));

    // Another tenant cannot see, replay or ping the endpoint.
    let other = w.store.create_tenant("other").await.unwrap();
    assert!(w.store.endpoint(other.id, ep).await.unwrap().is_none());
    assert!(w.store.replay(other.id, ep, ReplayFrom::DeadLetters, w.clock.now(), 1).await.is_err());
    assert!(!w.store.delete_endpoint(other.id, ep).await.unwrap());
    assert!(w.store.delete_endpoint(w.ctx.tenant, ep).await.unwrap());
    assert!(w.store.endpoints(w.ctx.tenant).await.unwrap().is_empty());
    assert!(w.claim(10).await.is_empty(), "its deliveries went with it");
}

/// Rotation keeps the old key signing until the grace period ends; delivered rows are pruned.
#[tokio::test]
async fn rotation_and_pruning() {
    let Some(w) = world().await else { return };
    let ep = w.webhook(&[]).await;
    let until = w.clock.now() + Duration::hours(24);
    assert!(
        w.store.rotate_secret(w.ctx.tenant, ep, SigningSecret::new("whsec_new".into()), until).await.unwrap()
    );
    let e = w.store.endpoint(w.ctx.tenant, ep).await.unwrap().unwrap();
    let keys: Vec<&str> = e.signing_secrets(w.clock.now()).iter().map(|s| s.expose()).collect();
    assert_eq!(keys, ["whsec_new", "whsec_test"]);

    w.user("a").await;
    let c = w.claim(10).await;
    w.done(c[0].id).await;
    assert_eq!(w.store.prune_deliveries(w.clock.now(), 100).await.unwrap(), 0, "not older than the cut-off");
    w.clock.advance(Duration::seconds(1));
    assert_eq!(w.store.prune_deliveries(w.clock.now(), 100).await.unwrap(), 1);
}

/// A backlog of thousands: reading the outbox takes more than a reader's inline step budget on
/// SQLite, and is then finished off the async workers instead of failing.
#[tokio::test]
async fn a_large_backlog_is_read_whole() {
    let Some(w) = world().await else { return };
    let ep = w.webhook(&[]).await;
    for i in 0..2500 {
        w.user(&format!("u{i}")).await;
    }
    assert_eq!(w.store.fan_out(w.clock.now(), 5000).await.unwrap(), 2500);
    assert_eq!(w.store.next_due(w.clock.now()).await.unwrap(), Some(w.clock.now()));
    // Every one delivered, then the whole log replayed: pending rows beside delivered ones.
    loop {
        let claimed = w.store.claim(w.clock.now(), LEASE, 500).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        for c in claimed {
            w.done(c.id).await;
        }
    }
    let mut from = 1;
    loop {
        let r = w.store.replay(w.ctx.tenant, ep, ReplayFrom::Seq(from), w.clock.now(), 1000).await.unwrap();
        match r.next {
            Some(next) => from = next,
            None => break,
        }
    }
    assert_eq!(w.store.next_due(w.clock.now()).await.unwrap(), Some(w.clock.now()));
    assert_eq!(w.store.claim(w.clock.now(), LEASE, 32).await.unwrap().len(), 32);
    let backlog = w.store.backlogs().await.unwrap();
    assert_eq!((backlog[0].endpoint, backlog[0].pending), (ep, 2500));
    let page = w.store.deliveries(w.ctx.tenant, ep, None, 5000).await.unwrap();
    assert_eq!(page.len(), 5000);
}
