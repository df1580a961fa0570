//! SIGKILL under load: 16 writers (creates, deliberate duplicate creates, Okta-style
//! deactivations, member adds and removes on shared groups) run until the server is killed; after
//! a restart on the same database the log holds an event for every acknowledged write, none for a
//! refused one, numbers 1..=head without a hole, and agrees with the resources themselves.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::task::JoinSet;

use scimd_testkit::pg::{self, TestDatabase};

use super::super::{Server, db_url};
use super::{
    Api, add_members, assert_gapless, assert_versions_follow_seq, okta_active, prepare, remove_member, str_of,
};

const WRITERS: usize = 16;
const GROUPS: usize = 4;
/// Names created before the load and sent again (in upper case) by the writers: userName is
/// unique case-insensitively, so each of these must be a 409 that leaves no event.
const DUPLICATES: usize = 8;
/// Acknowledged writes to wait for before the kill: enough that writes are in flight on every
/// writer when it lands.
const KILL_AFTER: usize = 1200;

/// A write the server answered with 2xx, and what its event must say.
#[derive(Clone, Debug)]
enum Ack {
    Created { id: String, user_name: String },
    Deactivated { id: String, version: i64 },
    MemberAdded { group: String, member: String, version: i64 },
    MemberRemoved { group: String, member: String, version: i64 },
}

/// What one writer did.
#[derive(Default)]
struct Record {
    acks: Vec<Ack>,
    /// userNames whose create was answered with an error status: no user.created may name them.
    refused: Vec<String>,
    /// userNames whose create was sent (answered or not).
    attempted: Vec<String>,
    /// (group, member) pairs a membership PATCH was sent for (answered or not).
    pairs: Vec<(String, String)>,
}

async fn writer(api: Api, w: usize, groups: Arc<Vec<String>>, acked: Arc<AtomicUsize>) -> Record {
    let mut r = Record::default();
    let ack = |r: &mut Record, a: Ack| {
        r.acks.push(a);
        acked.fetch_add(1, Ordering::Relaxed);
    };
    // Bounded, so a kill that never lands ends the test instead of hanging it.
    for i in 0..400 {
        let name = format!("w{w}-{i}");
        r.attempted.push(name.clone());
        let body = serde_json::json!({"schemas": [super::USER], "userName": name, "externalId": format!("ext-{name}")});
        let Ok(a) = api.try_scim(Method::POST, "/Users", Some(&body)).await else { return r };
        if a.status != 201 {
            r.refused.push(name);
            continue;
        }
        let id = a.id();
        ack(&mut r, Ack::Created { id: id.clone(), user_name: name });

        if i % 3 == 0 {
            let dup = format!("DUP{}", (w + i) % DUPLICATES);
            let body = serde_json::json!({"schemas": [super::USER], "userName": dup});
            let Ok(a) = api.try_scim(Method::POST, "/Users", Some(&body)).await else { return r };
            assert!(!a.status.is_success(), "a duplicate userName {dup} was accepted: {}", a.body);
            r.refused.push(dup);
        }

        let Ok(a) = api.try_scim(Method::PATCH, &format!("/Users/{id}"), Some(&okta_active(false))).await
        else {
            return r;
        };
        if a.status.is_success() {
            assert_eq!(a.body["active"], false, "{}", a.body);
            ack(&mut r, Ack::Deactivated { id: id.clone(), version: a.version() });
        }

        let group = groups[(w + i) % GROUPS].clone();
        r.pairs.push((group.clone(), id.clone()));
        let path = format!("/Groups/{group}");
        let Ok(a) = api.try_scim(Method::PATCH, &path, Some(&add_members(&[&id]))).await else { return r };
        if !a.status.is_success() {
            continue;
        }
        ack(&mut r, Ack::MemberAdded { group: group.clone(), member: id.clone(), version: a.version() });
        if i % 2 == 0 {
            let Ok(a) = api.try_scim(Method::PATCH, &path, Some(&remove_member(&id))).await else { return r };
            if a.status.is_success() {
                ack(&mut r, Ack::MemberRemoved { group, member: id, version: a.version() });
            }
        }
    }
    r
}

fn find<'a>(events: &'a [Value], type_: &str, id: &str, pred: impl Fn(&Value) -> bool) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == type_ && e["resource"]["id"] == id && pred(e)).collect()
}

async fn kill_under_load(database: &str) {
    let tokens = prepare(database);
    let mut server = Server::start_on(database, &[]);
    let api = Api::new(&server.addr(), &tokens);

    let mut before = Vec::new();
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let a = api.create_group(&format!("shared{g}"), &[]).await;
        assert_eq!(a.status, 201, "{}", a.body);
        groups.push(a.id());
    }
    for d in 0..DUPLICATES {
        let name = format!("dup{d}");
        let a = api.create_user(&name, &format!("ext-{name}")).await;
        assert_eq!(a.status, 201, "{}", a.body);
        before.push(Ack::Created { id: a.id(), user_name: name });
    }

    let groups = Arc::new(groups);
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        writers.spawn(writer(api.clone(), w, groups.clone(), acked.clone()));
    }
    while acked.load(Ordering::Relaxed) < KILL_AFTER && !writers.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!writers.is_empty(), "every writer ended before the kill");
    server.kill_9();
    let mut records = Vec::new();
    while let Some(r) = writers.join_next().await {
        records.push(r.unwrap());
    }

    let mut again = Server::start_on(database, &[]);
    let api = Api::new(&again.addr(), &tokens);
    let (head, oldest) = api.head().await;
    assert_eq!(oldest, 1, "nothing was pruned");
    let events = api.events_after(0).await;
    assert_gapless(&events, head);
    assert_versions_follow_seq(&events);

    // Every acknowledged write has its event, with the version the server answered.
    let acks: Vec<Ack> = before.iter().cloned().chain(records.iter().flat_map(|r| r.acks.clone())).collect();
    assert!(acks.len() >= KILL_AFTER, "{} acknowledged writes", acks.len());
    for a in &acks {
        let found = match a {
            Ack::Created { id, user_name } => {
                find(&events, "user.created", id, |e| e["data"]["userName"] == user_name.as_str())
            }
            Ack::Deactivated { id, version } => find(&events, "user.deactivated", id, |e| {
                e["resource"]["version"] == *version && e["data"]["active"] == false
            }),
            Ack::MemberAdded { group, member, version } => find(&events, "group.member_added", group, |e| {
                e["resource"]["version"] == *version && e["data"]["member"] == member.as_str()
            }),
            Ack::MemberRemoved { group, member, version } => {
                find(&events, "group.member_removed", group, |e| {
                    e["resource"]["version"] == *version && e["data"]["member"] == member.as_str()
                })
            }
        };
        assert_eq!(found.len(), 1, "exactly one event for the acknowledged {a:?}");
    }

    // Nothing that was refused, and nothing that was never sent, is in the log.
    let created: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "user.created")
        .map(|e| str_of(&e["data"], "userName").to_lowercase())
        .collect();
    let refused: Vec<String> =
        records.iter().flat_map(|r| r.refused.iter().map(|n| n.to_lowercase())).collect();
    assert!(refused.iter().any(|n| n.starts_with("dup")), "the load sent duplicates");
    for name in &refused {
        let n = created.iter().filter(|c| *c == name).count();
        let expected = usize::from(name.starts_with("dup"));
        assert_eq!(n, expected, "{name}: user.created events for a refused create");
    }
    let sent: HashSet<String> = (0..DUPLICATES)
        .map(|d| format!("dup{d}"))
        .chain(records.iter().flat_map(|r| r.attempted.clone()))
        .collect();
    for name in &created {
        assert!(sent.contains(name), "user.created for {name}, which no one created");
    }
    let pairs: HashSet<(String, String)> = records.iter().flat_map(|r| r.pairs.clone()).collect();
    for e in
        events.iter().filter(|e| e["type"] == "group.member_added" || e["type"] == "group.member_removed")
    {
        let pair = (str_of(&e["data"], "group").to_owned(), str_of(&e["data"], "member").to_owned());
        assert!(pairs.contains(&pair), "a membership event no write asked for: {e}");
    }

    // The log and the resources agree, writes answered or not: the users are the ones created,
    // inactive exactly when deactivated, and replaying member events gives each group's members.
    let users = api.list("Users").await;
    let stored: BTreeMap<String, bool> =
        users.iter().map(|u| (str_of(u, "id").to_owned(), u["active"] != false)).collect();
    let mut logged: BTreeMap<String, bool> = BTreeMap::new();
    let mut members: BTreeMap<String, BTreeSet<String>> =
        groups.iter().map(|g| (g.clone(), BTreeSet::new())).collect();
    for e in &events {
        let id = str_of(&e["resource"], "id").to_owned();
        match e["type"].as_str().unwrap() {
            "user.created" => assert!(logged.insert(id, true).is_none(), "created twice: {e}"),
            "user.deactivated" => *logged.get_mut(&id).unwrap() = false,
            "group.created" => {}
            "group.member_added" => {
                assert!(members.get_mut(&id).unwrap().insert(str_of(&e["data"], "member").to_owned()))
            }
            "group.member_removed" => {
                assert!(members.get_mut(&id).unwrap().remove(str_of(&e["data"], "member")))
            }
            other => panic!("the load wrote no {other}: {e}"),
        }
    }
    assert_eq!(stored, logged, "users and their active flag, stored and logged");
    for (group, expected) in &members {
        let a = api.scim(Method::GET, &format!("/Groups/{group}"), None).await;
        let held: BTreeSet<String> = a.body["members"]
            .as_array()
            .map(|m| m.iter().map(|m| str_of(m, "value").to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(&held, expected, "group {group}: stored members and replayed events");
    }
    let (exit, log, _) = again.terminate();
    assert!(exit.success(), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_log_holds_exactly_the_acknowledged_writes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_under_load(&db_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_log_holds_exactly_the_acknowledged_writes_on_postgres() {
    if !pg::available_or_skip("after_kill_9_the_log_holds_exactly_the_acknowledged_writes_on_postgres") {
        return;
    }
    let db = TestDatabase::create().await;
    kill_under_load(&db.url).await;
}
