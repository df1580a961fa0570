//! Several `scimd serve` processes on one PostgreSQL database (docs/postgres.md), as behind a load balancer:
//! started together on an empty database, then hammered concurrently through both, the final state
//! checked exactly. And one process whose database goes away and comes back.
//!
//! Each test gets a fresh database (`scimd_testkit::pg`); without `SCIMD_TEST_POSTGRES_URL` they
//! print a skip message and pass.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use scimd_testkit::pg::{self, TestDatabase};

use super::{Server, client, scimd_on};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One replica as a client sees it.
#[derive(Clone)]
struct Replica {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// A response: status, ETag, body.
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

impl Replica {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        if let Some(etag) = if_match {
            req = req.header("if-match", etag);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, etag, body }
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body), None).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None, None).await
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// Every id in a ListResponse, paging through all of it.
async fn all_user_names(r: &Replica) -> BTreeSet<String> {
    let a = r.get("/scim/v2/Users?count=1000&attributes=userName").await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_agree_under_concurrent_writes() {
    if !pg::available_or_skip("two_replicas_on_one_database_agree_under_concurrent_writes") {
        return;
    }
    let db = TestDatabase::create().await;

    // Both start at once on an empty database: both migrate (sqlx serialises them with an advisory
    // lock) and both try to bootstrap tenant `default` (the unique slug lets one do it).
    let mut a = Server::start_on(&db.url, &[]);
    let mut b = Server::start_on(&db.url, &[]);
    let (addr_a, addr_b) = (a.addr(), b.addr());
    let token = scimd_on(&db.url, &["token", "create", "--tenant", "default"]);
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let replicas = [&addr_a, &addr_b].map(|addr| Replica {
        base: format!("http://{addr}"),
        token: token.clone(),
        http: client(),
    });

    // ---- colliding creates: the same userName (in different case) through both at once ----
    let names: Vec<String> = (0..24).map(|i| format!("collide{i}")).collect();
    let mut creates = JoinSet::new();
    for name in &names {
        for (n, r) in replicas.iter().enumerate() {
            let r = r.clone();
            // Case differs between the two: userName is unique case-insensitively (RFC 7643 §4.1.1).
            let user_name = if n == 0 { name.clone() } else { name.to_uppercase() };
            let name = name.clone();
            creates.spawn(async move {
                let a = r.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": user_name})).await;
                (name, a.status, a.body)
            });
        }
    }
    let mut outcomes: std::collections::BTreeMap<String, Vec<StatusCode>> = Default::default();
    while let Some(done) = creates.join_next().await {
        let (name, status, body) = done.unwrap();
        if status == StatusCode::CONFLICT {
            assert_eq!(body["scimType"], "uniqueness", "{body}");
        }
        outcomes.entry(name).or_default().push(status);
    }
    for (name, mut statuses) in outcomes {
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "{name}: exactly one create wins");
    }
    let stored: BTreeSet<String> =
        all_user_names(&replicas[1]).await.into_iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(stored, names.iter().cloned().collect::<BTreeSet<_>>());

    // ---- membership: adds and removes on one group from both replicas at once ----
    let mut users = Vec::new();
    for i in 0..40 {
        let r = &replicas[i % 2];
        let a = r.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": format!("member{i}")})).await;
        assert_eq!(a.status, 201, "{}", a.body);
        users.push(id(&a.body));
    }
    let initial: Vec<Value> = users[..20].iter().map(|u| json!({"value": u})).collect();
    let g = replicas[0]
        .post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "all", "members": initial}))
        .await;
    assert_eq!(g.status, 201, "{}", g.body);
    let group_path = format!("/scim/v2/Groups/{}", id(&g.body));
    // Add users 20..40 and remove users 0..10, one PATCH each, alternating replicas, all in flight.
    let mut patches = JoinSet::new();
    let changes = users[20..].iter().map(|u| ("add", u)).chain(users[..10].iter().map(|u| ("remove", u)));
    for (n, (op, user)) in changes.enumerate() {
        let r = replicas[n % 2].clone();
        let path = group_path.clone();
        let body = match op {
            "add" => {
                json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]})
            }
            _ => {
                json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]})
            }
        };
        patches.spawn(async move { r.send(reqwest::Method::PATCH, &path, Some(&body), None).await });
    }
    while let Some(done) = patches.join_next().await {
        let a = done.unwrap();
        assert!(a.status == 200 || a.status == 204, "{} {}", a.status, a.body);
    }
    let expected: BTreeSet<String> = users[10..].iter().cloned().collect();
    for r in &replicas {
        let a = r.get(&group_path).await;
        let members: BTreeSet<String> = a.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(members, expected, "the member set is exactly the adds minus the removes");
        // Every change that touched a row bumped the version once: 1 + 20 adds + 10 removes.
        assert_eq!(a.etag.as_deref(), Some("W/\"31\""), "{}", a.body);
    }

    // ---- conditional updates: many writers with the same If-Match, exactly one wins per version ----
    let target =
        replicas[0].post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "contended"})).await;
    let user_path = format!("/scim/v2/Users/{}", id(&target.body));
    let rounds = 5;
    let writers = 6;
    let mut last_winner = String::new();
    for round in 0..rounds {
        let current = replicas[round % 2].get(&user_path).await;
        let etag = current.etag.clone().unwrap();
        let mut puts = JoinSet::new();
        for w in 0..writers {
            let r = replicas[w % 2].clone();
            let (path, etag) = (user_path.clone(), etag.clone());
            let title = format!("round{round}-writer{w}");
            puts.spawn(async move {
                let body = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": title}]});
                (title, r.send(reqwest::Method::PATCH, &path, Some(&body), Some(&etag)).await)
            });
        }
        let mut winners = Vec::new();
        while let Some(done) = puts.join_next().await {
            let (title, a) = done.unwrap();
            match a.status.as_u16() {
                200 => winners.push(title),
                412 => assert_eq!(a.body["status"], "412", "{}", a.body),
                other => panic!("unexpected {other}: {}", a.body),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one conditional update wins: {winners:?}");
        last_winner = winners.remove(0);
    }
    for r in &replicas {
        let a = r.get(&user_path).await;
        assert_eq!(a.body["title"], last_winner.as_str());
        assert_eq!(a.etag, Some(format!("W/\"{}\"", 1 + rounds)), "one version per round");
    }

    let (exit_a, _, out_a) = a.terminate();
    let (exit_b, _, out_b) = b.terminate();
    assert!(exit_a.success() && exit_b.success());
    let bootstraps = [out_a, out_b].iter().filter(|out| out.iter().any(|l| l.starts_with("Token: "))).count();
    assert_eq!(bootstraps, 1, "exactly one replica bootstrapped tenant default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_survives_its_database_going_away_and_recovers() {
    if !pg::available_or_skip("a_replica_survives_its_database_going_away_and_recovers") {
        return;
    }
    let db = TestDatabase::create_database().await;
    assert!(scimd_on(&db.url, &["migrate"]).status.success());
    assert!(scimd_on(&db.url, &["tenant", "create", "acme"]).status.success());
    let token = scimd_on(&db.url, &["token", "create", "--tenant", "acme"]);
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    // A short wait for a connection, so requests fail fast while the database is away.
    let mut server = Server::start_on(&db.url, &[("SCIMD_PG_ACQUIRE_TIMEOUT_MS", "1000")]);
    let r = Replica { base: format!("http://{}", server.addr()), token, http: client() };
    assert_eq!(r.get("/readyz").await.status, 200);
    assert_eq!(r.get("/scim/v2/Users").await.status, 200);

    // The database refuses new sessions and the server's sessions are ended, as in an outage.
    db.admin_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", db.name)).await;
    db.terminate_connections().await;
    let ready = r.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let a = r.get("/scim/v2/Users").await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{}", a.body);
    assert_eq!(a.body["status"], "503");
    let a = r.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "during"})).await;
    assert_eq!(a.status, 503, "{}", a.body);

    // Back: the same process serves again, without a restart.
    db.admin_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name)).await;
    assert_eq!(r.get("/readyz").await.status, 200);
    let a = r.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "after"})).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(all_user_names(&r).await, BTreeSet::from(["after".to_owned()]));

    // Sessions ended under a healthy database (a failover, pg_terminate_backend) cost nothing: the
    // pool replaces them before a request gets one.
    db.terminate_connections().await;
    assert_eq!(r.get("/scim/v2/Users").await.status, 200);

    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}
