//! The initial-sync recipe an application follows to mirror a tenant: read the head, list every
//! User and Group through SCIM while the IdP keeps writing, then consume the events after that
//! head, discarding each event whose `resource.version` is not newer than the version held. At
//! the end the mirror must equal a fresh SCIM read: the snapshot and the log overlap without
//! losing or doubling a change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::super::{Server, db_url};
use super::{Api, PATCH, add_members, okta_active, prepare, remove_member, str_of};

#[derive(Clone, Debug, PartialEq, Eq)]
struct UserState {
    user_name: String,
    active: Option<bool>,
    external_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupState {
    display_name: String,
    external_id: Option<String>,
    members: BTreeSet<String>,
}

fn user_state(v: &Value) -> UserState {
    UserState {
        user_name: str_of(v, "userName").to_owned(),
        active: v["active"].as_bool(),
        external_id: v["externalId"].as_str().map(str::to_owned),
    }
}

fn group_state(v: &Value, members: BTreeSet<String>) -> GroupState {
    GroupState {
        display_name: str_of(v, "displayName").to_owned(),
        external_id: v["externalId"].as_str().map(str::to_owned),
        members,
    }
}

fn member_ids(group: &Value) -> BTreeSet<String> {
    group["members"]
        .as_array()
        .map(|m| m.iter().map(|m| str_of(m, "value").to_owned()).collect())
        .unwrap_or_default()
}

/// `meta.version` (`W/"3"`) of a listed resource.
fn meta_version(v: &Value) -> i64 {
    let tag = str_of(&v["meta"], "version");
    tag.trim_start_matches("W/").trim_matches('"').parse().unwrap_or_else(|_| panic!("version {tag}"))
}

/// How "not newer than what you hold" is read (docs/events.md, "The initial sync").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// An event is discarded when older than the version held, or equal to a version the
    /// snapshot gave: events of one write share their resource's version, so a second event at
    /// the version just applied is the same write, not an older one.
    SnapshotVersion,
}

/// The application's mirror of the tenant.
#[derive(Default)]
struct Mirror {
    users: BTreeMap<String, UserState>,
    groups: BTreeMap<String, GroupState>,
    /// Per resource id (deleted ones too): the version held, and whether the snapshot gave it.
    held: HashMap<String, (i64, bool)>,
    /// Events discarded as already held, and events applied.
    discarded: usize,
    applied: usize,
}

impl Mirror {
    fn snapshot(users: &[Value], groups: &[Value]) -> Mirror {
        let mut m = Mirror::default();
        for u in users {
            m.users.insert(str_of(u, "id").to_owned(), user_state(u));
            m.held.insert(str_of(u, "id").to_owned(), (meta_version(u), true));
        }
        for g in groups {
            m.groups.insert(str_of(g, "id").to_owned(), group_state(g, member_ids(g)));
            m.held.insert(str_of(g, "id").to_owned(), (meta_version(g), true));
        }
        m
    }

    /// Applies one event, or discards it by `rule`.
    fn apply(&mut self, e: &Value, rule: Rule) {
        let id = str_of(&e["resource"], "id").to_owned();
        let version = e["resource"]["version"].as_i64().unwrap_or_else(|| panic!("no version: {e}"));
        if let Some(&(held, from_snapshot)) = self.held.get(&id) {
            let stale = match rule {
                Rule::SnapshotVersion => version < held || (version == held && from_snapshot),
            };
            if stale {
                self.discarded += 1;
                return;
            }
        }
        self.applied += 1;
        self.held.insert(id.clone(), (version, false));
        let data = &e["data"];
        fn group<'m>(m: &'m mut Mirror, id: &str, e: &Value) -> Option<&'m mut GroupState> {
            let g = m.groups.get_mut(id);
            assert!(g.is_some(), "an event for group {id}, which the mirror lacks: {e}");
            g
        }
        match str_of(e, "type") {
            "user.created" | "user.updated" | "user.deactivated" | "user.reactivated" => {
                self.users.insert(id, user_state(data));
            }
            "user.deleted" => {
                self.users.remove(&id);
            }
            "group.created" => {
                self.groups.insert(id, group_state(data, BTreeSet::new()));
            }
            "group.updated" => {
                if let Some(g) = group(self, &id, e) {
                    let members = std::mem::take(&mut g.members);
                    *g = group_state(data, members);
                }
            }
            "group.deleted" => {
                self.groups.remove(&id);
            }
            "group.member_added" => {
                if let Some(g) = group(self, &id, e) {
                    g.members.insert(str_of(data, "member").to_owned());
                }
            }
            "group.member_removed" => {
                if let Some(g) = group(self, &id, e) {
                    g.members.remove(str_of(data, "member"));
                }
            }
            other => panic!("unknown event type {other}: {e}"),
        }
    }
}

/// What a fresh SCIM read says: (users, groups), keyed by id.
async fn read_all(api: &Api) -> (BTreeMap<String, UserState>, BTreeMap<String, GroupState>) {
    let users = api.list("Users").await.iter().map(|u| (str_of(u, "id").to_owned(), user_state(u))).collect();
    let groups = api
        .list("Groups")
        .await
        .iter()
        .map(|g| (str_of(g, "id").to_owned(), group_state(g, member_ids(g))))
        .collect();
    (users, groups)
}

/// xorshift64: a reproducible sequence of choices without a dependency.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The IdP: one writer doing every kind of change, knowing exactly what exists (it is the only
/// writer), until `stop`. Every write must succeed.
async fn churn(
    api: Api,
    mut users: Vec<(String, bool)>,
    mut groups: Vec<String>,
    ops: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let u = dice.roll(users.len());
        let g = dice.roll(groups.len());
        let (path, body, method) = match dice.roll(9) {
            0 => {
                let a = api.create_user(&format!("c{n}"), &format!("x{n}")).await;
                assert_eq!(a.status, 201, "{}", a.body);
                users.push((a.id(), true));
                ops.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            1 => {
                users[u].1 = !users[u].1;
                (format!("/Users/{}", users[u].0), okta_active(users[u].1), Method::PATCH)
            }
            2 => {
                let body = json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "userName", "value": format!("renamed{n}")},
                    {"op": "replace", "path": "externalId", "value": format!("x{n}")},
                ]});
                (format!("/Users/{}", users[u].0), body, Method::PATCH)
            }
            3 => {
                let other = dice.roll(users.len());
                (
                    format!("/Groups/{}", groups[g]),
                    add_members(&[&users[u].0, &users[other].0]),
                    Method::PATCH,
                )
            }
            4 => (format!("/Groups/{}", groups[g]), remove_member(&users[u].0), Method::PATCH),
            5 => {
                let body = json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "displayName", "value": format!("team{n}")},
                ]});
                (format!("/Groups/{}", groups[g]), body, Method::PATCH)
            }
            6 => {
                let other = dice.roll(users.len());
                let a = api
                    .create_group(&format!("team{n}"), &[users[u].0.clone(), users[other].0.clone()])
                    .await;
                assert_eq!(a.status, 201, "{}", a.body);
                groups.push(a.id());
                ops.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            7 if users.len() > 10 => (format!("/Users/{}", users.remove(u).0), Value::Null, Method::DELETE),
            8 if groups.len() > 2 => (format!("/Groups/{}", groups.remove(g)), Value::Null, Method::DELETE),
            _ => continue,
        };
        let body = (!body.is_null()).then_some(&body);
        let a = api.scim(method, &path, body).await;
        assert!(a.status.is_success(), "{path}: {} {}", a.status, a.body);
        ops.fetch_add(1, Ordering::SeqCst);
    }
}

async fn wait_for(ops: &AtomicUsize, n: usize) {
    while ops.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_plus_the_events_after_its_head_equals_a_fresh_read() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let mut server = Server::start_on(&database, &[]);
    let api = Api::new(&server.addr(), &tokens);

    let mut users = Vec::new();
    for i in 0..30 {
        let a = api.create_user(&format!("u{i}"), &format!("e{i}")).await;
        assert_eq!(a.status, 201, "{}", a.body);
        users.push((a.id(), true));
    }
    let mut groups = Vec::new();
    for g in 0..5 {
        let members: Vec<String> = users.iter().skip(g).step_by(3).map(|u| u.0.clone()).collect();
        let a = api.create_group(&format!("g{g}"), &members).await;
        assert_eq!(a.status, 201, "{}", a.body);
        groups.push(a.id());
    }

    let ops = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let idp = tokio::spawn(churn(api.clone(), users, groups, ops.clone(), stop.clone()));

    // The recipe, while the IdP writes: head first, then the snapshot.
    wait_for(&ops, 20).await;
    let (head, _) = api.head().await;
    // Writes of its own between the head and the listing, so that the snapshot certainly already
    // holds some events after the head (the overlap the version rule resolves), whatever the
    // scheduling of the IdP's writes.
    let late = api.create_user("late", "late").await;
    assert_eq!(late.status, 201, "{}", late.body);
    let a = api.scim(Method::PATCH, &format!("/Users/{}", late.id()), Some(&okta_active(false))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let snapshot_users = api.list("Users").await;
    let snapshot_groups = api.list("Groups").await;
    let listed = ops.load(Ordering::SeqCst);
    wait_for(&ops, listed + 40).await;
    stop.store(true, Ordering::SeqCst);
    idp.await.unwrap();

    let events = api.events_after(head).await;
    assert!(events.len() >= 20, "the IdP wrote after the head: {} events", events.len());
    let mut mirror = Mirror::snapshot(&snapshot_users, &snapshot_groups);
    for e in &events {
        mirror.apply(e, Rule::SnapshotVersion);
    }
    assert!(
        mirror.discarded >= 2 && mirror.applied >= 20,
        "{} discarded, {} applied",
        mirror.discarded,
        mirror.applied
    );
    let (users, groups) = read_all(&api).await;
    assert_eq!(mirror.users, users, "users: mirror and fresh read");
    assert_eq!(mirror.groups, groups, "groups: mirror and fresh read");
    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}

/// The writes that append several events at one version — a Group created with members
/// (`group.created` and a `group.member_added` per member, all at version 1) and one PATCH adding
/// two members (two `group.member_added` at the group's new version) — keep every membership
/// under the documented rule, which compares with the version the listing showed: a reading that
/// compared with the version of the last event applied would drop all but the first.
#[tokio::test]
async fn the_listed_version_rule_keeps_every_membership_of_a_multi_member_write() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let mut server = Server::start_on(&database, &[]);
    let api = Api::new(&server.addr(), &tokens);
    let mut ids = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let a = api.create_user(name, name).await;
        assert_eq!(a.status, 201, "{}", a.body);
        ids.push(a.id());
    }
    let existing = api.create_group("existing", &[]).await;
    assert_eq!(existing.status, 201, "{}", existing.body);

    let (head, _) = api.head().await;
    let mut mirror = Mirror::snapshot(&api.list("Users").await, &api.list("Groups").await);
    let created = api.create_group("created-with-members", &ids[..2]).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let a = api
        .scim(Method::PATCH, &format!("/Groups/{}", existing.id()), Some(&add_members(&[&ids[0], &ids[2]])))
        .await;
    assert!(a.status.is_success(), "{}", a.body);

    for e in &api.events_after(head).await {
        mirror.apply(e, Rule::SnapshotVersion);
    }
    let (_, groups) = read_all(&api).await;
    let members = |g: &BTreeMap<String, GroupState>, id: &str| g[id].members.clone();
    let expected_created: BTreeSet<String> = ids[..2].iter().cloned().collect();
    let expected_existing: BTreeSet<String> = [ids[0].clone(), ids[2].clone()].into();
    assert_eq!(members(&groups, &created.id()), expected_created, "the fresh read");
    assert_eq!(members(&groups, &existing.id()), expected_existing, "the fresh read");
    assert_eq!(
        (members(&mirror.groups, &created.id()), members(&mirror.groups, &existing.id())),
        (expected_created, expected_existing),
        "the mirror's members of (the group created with two members, the group one PATCH added two to)"
    );
    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}
