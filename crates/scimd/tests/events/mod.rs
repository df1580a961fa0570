//! The event log as an application beside scimd consumes it, against the real binary: what a
//! SIGKILL leaves in the log, one reader following two PostgreSQL replicas, the initial-sync
//! recipe (snapshot, then events after the head), and `scimd events tail`.
//!
//! Every expectation is computed from what the test itself sent and what the server acknowledged,
//! never copied from the log under test.

use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::client;

mod crash;
mod delivery;
mod replicas;
mod sync;
mod tail;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The tenant every test here provisions.
const TENANT: &str = "acme";

/// A one-shot `scimd` command on any database URL.
fn cli(database: &str, args: &[&str]) -> Output {
    super::scimd_on(database, args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// The two credentials of a provisioned tenant: the IdP's (every SCIM scope) and the consuming
/// application's (`events:read` only, as docs recommend for it).
#[derive(Clone, Debug)]
struct Tokens {
    writer: String,
    reader: String,
}

/// Migrates `database`, creates tenant `acme` and its two tokens. A database that has a tenant
/// already is not bootstrapped by `serve`, so the servers print nothing on stdout.
fn prepare(database: &str) -> Tokens {
    for args in [&["migrate"][..], &["tenant", "create", TENANT][..]] {
        let o = cli(database, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    }
    let token = |extra: &[&str]| {
        let mut args = vec!["token", "create", "--tenant", TENANT];
        args.extend_from_slice(extra);
        let o = cli(database, &args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout).trim().to_owned()
    };
    Tokens { writer: token(&["--name", "idp"]), reader: token(&["--name", "app", "--scope", "events:read"]) }
}

/// A response: status, ETag, body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

impl Answer {
    /// The version the ETag names (`W/"7"` → 7): the resource's version after the write.
    fn version(&self) -> i64 {
        let etag = self.etag.as_deref().unwrap_or_else(|| panic!("no ETag on {} {}", self.status, self.body));
        etag.trim_start_matches("W/").trim_matches('"').parse().unwrap_or_else(|_| panic!("ETag {etag}"))
    }

    fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {} {}", self.status, self.body))
            .to_owned()
    }
}

/// One server as the IdP and the application see it.
#[derive(Clone)]
struct Api {
    base: String,
    tokens: Tokens,
    http: reqwest::Client,
}

impl Api {
    fn new(addr: &str, tokens: &Tokens) -> Api {
        Api { base: format!("http://{addr}"), tokens: tokens.clone(), http: client() }
    }

    /// A SCIM request (`path` below the tenant's `/scim/v2`) with the writer's token; an error is
    /// a request that got no answer (the server was killed under it).
    async fn try_scim(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::Result<Answer> {
        let url = format!("{}/tenants/{TENANT}/scim/v2{path}", self.base);
        let mut req = self.http.request(method, url).bearer_auth(&self.tokens.writer);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status();
        let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = resp.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer { status, etag, body })
    }

    async fn scim(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        self.try_scim(method, path, body).await.unwrap()
    }

    async fn create_user(&self, user_name: &str, external_id: &str) -> Answer {
        let body = json!({"schemas": [USER], "userName": user_name, "externalId": external_id});
        self.scim(Method::POST, "/Users", Some(&body)).await
    }

    async fn create_group(&self, name: &str, members: &[String]) -> Answer {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let body = json!({"schemas": [GROUP], "displayName": name, "members": members});
        self.scim(Method::POST, "/Groups", Some(&body)).await
    }

    /// A GET of the admin API with the reader's token, as JSON.
    async fn admin(&self, path: &str) -> Value {
        let url = format!("{}/admin/v1/tenants/{TENANT}{path}", self.base);
        let resp = self.http.get(url).bearer_auth(&self.tokens.reader).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// `…/events/head`: (seq, oldest).
    async fn head(&self) -> (u64, u64) {
        let h = self.admin("/events/head").await;
        (number(&h["seq"]), number(&h["oldest"]))
    }

    /// One page of the log: its events and `next`.
    async fn page(&self, after: u64, limit: u32, wait: u32) -> (Vec<Value>, u64) {
        let p = self.admin(&format!("/events?after={after}&limit={limit}&wait={wait}")).await;
        (p["events"].as_array().unwrap().clone(), number(&p["next"]))
    }

    /// The whole log after `after`, page by page until a page comes back empty.
    async fn events_after(&self, mut after: u64) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let (events, next) = self.page(after, 1000, 0).await;
            if events.is_empty() {
                assert_eq!(next, after, "an empty page leaves the cursor where it was");
                return all;
            }
            assert!(next >= seq(events.last().unwrap()), "next {next} is behind the page it ends");
            all.extend(events);
            after = next;
        }
    }

    /// Every resource of a kind, in one page (the tests stay below the 1000 a page may hold).
    async fn list(&self, kind: &str) -> Vec<Value> {
        let a = self.scim(Method::GET, &format!("/{kind}?count=1000"), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let total = a.body["totalResults"].as_u64().unwrap();
        let resources = a.body["Resources"].as_array().cloned().unwrap_or_default();
        assert_eq!(resources.len() as u64, total, "one page holds every {kind}");
        resources
    }
}

/// A seq, or any number the API sends as a decimal string.
fn number(v: &Value) -> u64 {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string")).parse().unwrap_or_else(|_| panic!("{v}"))
}

fn seq(event: &Value) -> u64 {
    number(&event["seq"])
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// `{"op":"replace","value":{"active":false}}`: deactivation as Okta sends it (no path).
fn okta_active(active: bool) -> Value {
    json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": active}}]})
}

fn add_members(ids: &[&str]) -> Value {
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": value}]})
}

fn remove_member(id: &str) -> Value {
    json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]})
}

/// The seqs of `events` are exactly 1..=head: none missing, none twice, in order.
fn assert_gapless(events: &[Value], head: u64) {
    let seqs: Vec<u64> = events.iter().map(seq).collect();
    let expected: Vec<u64> = (1..=head).collect();
    if seqs != expected {
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        let dups: Vec<&u64> = sorted.windows(2).filter(|w| w[0] == w[1]).map(|w| &w[0]).collect();
        let missing: Vec<u64> = expected.iter().copied().filter(|s| !seqs.contains(s)).collect();
        panic!("seqs are not 1..={head}: {} events, duplicates {dups:?}, missing {missing:?}", seqs.len());
    }
    let mut ids: Vec<&str> = events.iter().map(|e| str_of(e, "id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "every event has an id of its own");
}

/// Along the log, each resource's version never goes down: the seq order is the commit order of
/// its writes (events of one write share its version).
fn assert_versions_follow_seq(events: &[Value]) {
    let mut last: std::collections::HashMap<String, (i64, u64)> = Default::default();
    for e in events {
        let id = str_of(&e["resource"], "id").to_owned();
        let v = e["resource"]["version"].as_i64().unwrap_or_else(|| panic!("no version in {e}"));
        if let Some((before, at)) = last.get(&id) {
            assert!(v >= *before, "{id}: version {v} at seq {} after version {before} at seq {at}", seq(e));
        }
        last.insert(id, (v, seq(e)));
    }
}
