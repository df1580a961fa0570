//! Event numbers given after the commit (`src/sequencer.rs`): what a reader relies on, with two
//! pools writing as two replicas do.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use scimd_schema::ResourceSchema;
use scimd_store::events::{EventQuery, EventStore as _, TypeFilter};
use scimd_store::plan::MemberOp;
use scimd_store::{
    NewResource, ResourceKind, ResourceStore, TenantStore, Update, UpdateOperation, WriteContext,
    search_document,
};
use scimd_store_postgres::{PgOptions, PgStore};
use uuid::Uuid;

fn user(name: &str) -> NewResource {
    let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let search = search_document(&ResourceSchema::user(), &doc);
    NewResource { kind: ResourceKind::User, doc, search, members: Vec::new(), password_hash: None }
}

fn ctx(tenant: Uuid) -> WriteContext {
    WriteContext {
        tenant,
        actor: "test".into(),
        tenant_slug: "acme".into(),
        client: "other".into(),
        request_id: None,
        refuse_unknown_members: false,
    }
}

/// Every event of `tenant`, read page by page as a consumer does, as (seq, body).
async fn read_all(store: &PgStore, tenant: Uuid) -> Vec<(u64, Value)> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let q = EventQuery { after, limit: 100, types: TypeFilter::parse([]).unwrap() };
        let page = store.events(tenant, &q).await.unwrap();
        if page.events.is_empty() {
            return all;
        }
        for e in page.events {
            all.push((e.seq, serde_json::from_str(&e.body).unwrap()));
        }
        after = page.next;
    }
}

/// Writers on two pools commit concurrently: creates of their own users and member adds to one
/// shared group. Every write's events are read by a read after it returns, the numbers are 1…N without a
/// hole, each body carries its own number, and the group's events follow its versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_pools_get_dense_numbers_in_order() {
    let Some((db, one, clock)) =
        super::store("concurrent_writers_on_two_pools_get_dense_numbers_in_order").await
    else {
        return;
    };
    let two = PgStore::open(&db.url, &PgOptions::default(), Arc::new(clock.clone())).unwrap();
    let tenant = one.create_tenant("acme").await.unwrap().id;
    let (g, _) = one
        .create(&ctx(tenant), {
            let doc =
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "all"});
            let search = search_document(&ResourceSchema::group(), &doc);
            NewResource { kind: ResourceKind::Group, doc, search, members: Vec::new(), password_hash: None }
        })
        .await
        .unwrap();
    let stores = [Arc::new(one), Arc::new(two)];
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let store = stores[w % 2].clone();
        let gid = g.id.clone();
        tasks.spawn(async move {
            for i in 0..10 {
                let (u, _) = store.create(&ctx(tenant), user(&format!("w{w}-{i}"))).await.unwrap();
                // Read-your-writes: a read after a write returns finds the write's events.
                let head = store.event_head(tenant).await.unwrap();
                let mine = read_all(&store, tenant).await;
                assert!(
                    mine.iter()
                        .any(|(_, e)| e["type"] == "user.created" && e["resource"]["id"] == u.id.as_str()),
                    "the create's event is read after the create returns (head {head:?})"
                );
                let add = Update {
                    operation: UpdateOperation::Patch,
                    expected_version: None,
                    before: None,
                    doc: None,
                    members: vec![MemberOp::Add(vec![u.id.clone()])],
                    password_hash: None,
                };
                store.update(&ctx(tenant), ResourceKind::Group, &gid, add).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let events = read_all(&stores[1], tenant).await;
    // group.created, then 160 × (user.created, group.member_added).
    assert_eq!(events.len(), 1 + 160 * 2);
    let seqs: Vec<u64> = events.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=321).collect::<Vec<u64>>(), "dense, from 1, in order");
    for (seq, body) in &events {
        assert_eq!(body["seq"], json!(seq.to_string()), "the body carries the number it is read at");
    }
    assert_eq!(stores[0].event_head(tenant).await.unwrap().seq, 321);
    assert_eq!(stores[0].event_stats().await.unwrap().events, 321);
    // The shared group's events are in the order of its versions, and each member is added after
    // its user was created.
    let mut created = BTreeMap::new();
    let mut versions = Vec::new();
    for (seq, e) in &events {
        match e["type"].as_str().unwrap() {
            "user.created" => {
                created.insert(e["resource"]["id"].as_str().unwrap().to_owned(), *seq);
            }
            "group.member_added" => {
                versions.push(e["resource"]["version"].as_i64().unwrap());
                let member = e["data"]["member"].as_str().unwrap();
                assert!(created[member] < *seq, "{member} was added before its creation's event");
            }
            _ => {}
        }
    }
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    assert_eq!(versions, sorted, "the group's events follow its versions");
    assert_eq!(versions.iter().collect::<BTreeSet<_>>().len(), 160);
}

/// What a write leaves before anyone reads: a placeholder and a body without `seq`.
async fn leave_placeholder(store: &PgStore, tenant: Uuid, id: &str) {
    sqlx::query(&format!(
        "INSERT INTO events (tenant_id, seq, id, type, resource_id, occurred_at, body) \
         VALUES ($1, -nextval('event_placeholders'), '{id}', 'user.deleted', 'r2', '2026-11-23T07:46:00Z', \
         '{{\"id\":\"{id}\",\"type\":\"user.deleted\"}}')"
    ))
    .bind(tenant.to_string())
    .execute(store.pool())
    .await
    .unwrap();
}

/// Placeholders are numbered by the first read that finds them, or by the sweep when no one
/// reads, after the events numbered before, once.
#[tokio::test]
async fn placeholders_are_numbered_by_the_first_reader_or_the_sweep() {
    let Some((_db, store, _clock)) =
        super::store("placeholders_are_numbered_by_the_first_reader_or_the_sweep").await
    else {
        return;
    };
    let tenant = store.create_tenant("acme").await.unwrap().id;
    store.create(&ctx(tenant), user("first")).await.unwrap();
    assert_eq!(store.number_waiting().await.unwrap(), 1, "the create's event, which no one read yet");
    assert_eq!(store.number_waiting().await.unwrap(), 0, "numbered once");

    // A reader of the head numbers what waits.
    leave_placeholder(&store, tenant, "e2").await;
    assert_eq!(store.event_head(tenant).await.unwrap().seq, 2);
    // So does a reader of the events; the sweep then finds nothing.
    leave_placeholder(&store, tenant, "e3").await;
    let events = read_all(&store, tenant).await;
    assert_eq!(store.number_waiting().await.unwrap(), 0);
    assert_eq!(events.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(events[1].1, json!({"seq": "2", "id": "e2", "type": "user.deleted"}));
    assert_eq!(events[2].1, json!({"seq": "3", "id": "e3", "type": "user.deleted"}));
    // With no reader, the sweep.
    leave_placeholder(&store, tenant, "e4").await;
    assert_eq!(store.number_waiting().await.unwrap(), 1);
    assert_eq!(store.event_stats().await.unwrap().events, 4);
}

/// One write's several events keep their order through the placeholders: a group created with
/// members is `group.created`, then one `group.member_added` per member in the write's order.
#[tokio::test]
async fn a_writes_events_keep_their_order() {
    let Some((_db, store, _clock)) = super::store("a_writes_events_keep_their_order").await else {
        return;
    };
    let tenant = store.create_tenant("acme").await.unwrap().id;
    let mut ids = Vec::new();
    for i in 0..600 {
        ids.push(store.create(&ctx(tenant), user(&format!("u{i}"))).await.unwrap().0.id);
    }
    let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "big"});
    let search = search_document(&ResourceSchema::group(), &doc);
    let new =
        NewResource { kind: ResourceKind::Group, doc, search, members: ids.clone(), password_hash: None };
    store.create(&ctx(tenant), new).await.unwrap();
    let events = read_all(&store, tenant).await;
    // 600 creates, then the group's write: more events than one INSERT holds (500 rows).
    let write: Vec<&Value> = events[600..].iter().map(|(_, e)| e).collect();
    assert_eq!(write.len(), 601);
    assert_eq!(write[0]["type"], "group.created");
    let mut added: Vec<&str> = write[1..]
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "group.member_added");
            e["data"]["member"].as_str().unwrap()
        })
        .collect();
    added.sort_unstable();
    added.dedup();
    assert_eq!(added.len(), 600, "each member once");
    // Event ids are minted in the plan's order (the mock clock's UUIDv7s sort by their counter):
    // that order is kept across the write's two INSERTs.
    let ids_in_log: Vec<&str> = write.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids_in_log.clone();
    sorted.sort_unstable();
    assert_eq!(ids_in_log, sorted, "the write's events in its order");
}
