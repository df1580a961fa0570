//! One consumer, two PostgreSQL replicas: writers on both commit concurrently (users of their
//! own, members of one shared group), and a reader that asks the two replicas in turn with
//! `after=<next>` receives every event once, in seq order, with no gap: the numbering follows the
//! commit order across processes, so no replica can hand out a seq while a lower one is still
//! uncommitted on the other.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde_json::Value;
use tokio::task::JoinSet;

use scimd_testkit::pg::{self, TestDatabase};

use super::super::Server;
use super::{Api, add_members, assert_gapless, okta_active, prepare, seq, str_of};

const WRITERS: usize = 8;
const USERS_EACH: usize = 12;

/// (user id, userName, the group's version after the add, the user's version after deactivation).
type Written = (String, String, i64, Option<i64>);

async fn write(api: Api, w: usize, group: String) -> Vec<Written> {
    let mut done = Vec::new();
    for i in 0..USERS_EACH {
        let name = format!("r{w}-{i}");
        let a = api.create_user(&name, &format!("ext-{name}")).await;
        assert_eq!(a.status, 201, "{}", a.body);
        let id = a.id();
        let a = api.scim(Method::PATCH, &format!("/Groups/{group}"), Some(&add_members(&[&id]))).await;
        assert!(a.status.is_success(), "{} {}", a.status, a.body);
        let added = a.version();
        let deactivated = if i % 2 == 0 {
            let a = api.scim(Method::PATCH, &format!("/Users/{id}"), Some(&okta_active(false))).await;
            assert_eq!(a.status, 200, "{}", a.body);
            Some(a.version())
        } else {
            None
        };
        done.push((id, name, added, deactivated));
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_alternating_between_replicas_gets_every_event_once_in_order() {
    if !pg::available_or_skip("a_reader_alternating_between_replicas_gets_every_event_once_in_order") {
        return;
    }
    let db = TestDatabase::create().await;
    let tokens = prepare(&db.url);
    let mut a = Server::start_on(&db.url, &[]);
    let mut b = Server::start_on(&db.url, &[]);
    let replicas = [Api::new(&a.addr(), &tokens), Api::new(&b.addr(), &tokens)];
    let g = replicas[0].create_group("everyone", &[]).await;
    assert_eq!(g.status, 201, "{}", g.body);
    let group = g.id();

    let done = Arc::new(AtomicBool::new(false));
    // The consumer: small pages and a short long-poll, asking a different replica each time.
    let reader = {
        let replicas = replicas.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut received: Vec<Value> = Vec::new();
            let mut after = 0;
            for turn in 0usize.. {
                // Read before the page, so an empty page seen after it means the log is complete.
                let finished = done.load(Ordering::SeqCst);
                let (events, next) = replicas[turn % 2].page(after, 7, 1).await;
                for (k, e) in events.iter().enumerate() {
                    assert_eq!(
                        seq(e),
                        after + 1 + k as u64,
                        "turn {turn}: a page continues at after+1 with no gap"
                    );
                }
                if let Some(last) = events.last() {
                    assert!(next >= seq(last), "next {next} behind the page");
                } else {
                    assert_eq!(next, after, "an empty page keeps the cursor");
                    if finished {
                        return received;
                    }
                }
                received.extend(events);
                after = next;
            }
            unreachable!()
        })
    };

    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        writers.spawn(write(replicas[w % 2].clone(), w, group.clone()));
    }
    let mut written: Vec<Written> = Vec::new();
    while let Some(w) = writers.join_next().await {
        written.extend(w.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let received = reader.await.unwrap();

    let (head, _) = replicas[1].head().await;
    // 1 group.created, and per user: user.created, group.member_added, half a user.deactivated.
    let expected_count = 1 + WRITERS * USERS_EACH * 2 + WRITERS * USERS_EACH / 2;
    assert_eq!(head, expected_count as u64, "one event per change written");
    assert_gapless(&received, head);
    for (id, name, added, deactivated) in &written {
        let of = |t: &str, rid: &str| -> Vec<&Value> {
            received.iter().filter(|e| e["type"] == t && e["resource"]["id"] == rid).collect()
        };
        let created = of("user.created", id);
        assert_eq!(created.len(), 1, "{name}");
        assert_eq!(created[0]["data"]["userName"], name.as_str());
        let joined: Vec<&Value> = of("group.member_added", &group)
            .into_iter()
            .filter(|e| e["data"]["member"] == id.as_str())
            .collect();
        assert_eq!(joined.len(), 1, "{name} joined once");
        assert_eq!(joined[0]["resource"]["version"], *added, "{name}: the version its PATCH answered");
        let off: Vec<i64> =
            of("user.deactivated", id).iter().map(|e| e["resource"]["version"].as_i64().unwrap()).collect();
        assert_eq!(
            off,
            deactivated.iter().copied().collect::<Vec<_>>(),
            "{name}: deactivated once, at its version"
        );
    }
    // Every one of the two replicas' member adds to the shared group is a version of its own.
    let versions: BTreeSet<i64> = written.iter().map(|w| w.2).collect();
    assert_eq!(versions, (2..=1 + (WRITERS * USERS_EACH) as i64).collect(), "each add one version");
    let stored = replicas[0].scim(Method::GET, &format!("/Groups/{group}"), None).await;
    let members: BTreeSet<&str> =
        stored.body["members"].as_array().unwrap().iter().map(|m| str_of(m, "value")).collect();
    let expected: BTreeSet<&str> = written.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(members, expected);

    for server in [a, b] {
        let (exit, log, _) = server.terminate();
        assert!(exit.success(), "{log:#?}");
    }
}
