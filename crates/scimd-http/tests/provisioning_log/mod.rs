//! The provisioning log end to end: every SCIM request authenticated by the tenant's own
//! credentials recorded with its credential, detected client, status, error and redacted body, read
//! back through the admin API; unauthenticated and foreign requests counted, never recorded.

use std::time::Duration;

use serde_json::{Value, json};

use scimd_http::{HttpConfig, Scopes};
use scimd_testkit::{Options, TestServer, backend_tests};

/// Reads the log until it holds at least `n` records (the writer batches in the background; this
/// waits for it with a generous bound, it does not time anything).
async fn entries(s: &TestServer, admin: &str, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let r = s
            .send(s.client.get(s.url(&format!("/admin/v1/tenants/default/logs{query}"))).bearer_auth(admin))
            .await;
        if r.status == 429 {
            // A test that sets a low rate limit for the tenant: its admin token waits too.
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        let list = r.body["entries"].as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the log never reached {n} records");
}

backend_tests! {
async fn requests_are_recorded_with_outcome_and_redacted_body(backend) {
    let s = TestServer::start_with(backend).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    // Unauthenticated, and another tenant's credential, under the tenant URL: not the tenant's
    // requests, so not in its log (sent first: the writer keeps order, so had they been queued
    // they would show before the records waited for below).
    let r = s
        .send(s.client.get(s.url("/tenants/default/scim/v2/Users")).header("authorization", "non-token"))
        .await;
    assert_eq!(r.status, 401);
    let beta = s.store.create_tenant("beta").await.unwrap();
    let beta_token = s.token_for(&beta, Scopes::all(), false).await;
    let r = s.send(s.client.get(s.url("/tenants/default/scim/v2/Users")).bearer_auth(&beta_token)).await;
    assert_eq!(r.status, 403);
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen", "password": "hunter2-secret"});
    let created = s
        .send(
            s.request(reqwest::Method::POST, "/scim/v2/Users")
                .header("user-agent", "Okta SCIM Client 1.0.0")
                .json(&user),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let dup = s.post("/scim/v2/Users", &user).await;
    assert_eq!(dup.status, 409);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    assert_eq!(s.patch(&format!("/scim/v2/Users/{id}?aadOptscim062020"), &patch).await.status, 200);
    // A credential without the scope is the tenant's own: its 403 is recorded.
    let reader = s.token(&["users:read"]).await;
    let r = s.send(s.client.delete(s.url(&format!("/scim/v2/Users/{id}"))).bearer_auth(&reader)).await;
    assert_eq!(r.status, 403);

    let all = entries(&s, &admin, "", 4).await;
    assert_eq!(all.len(), 4, "admin API calls and others' requests are not recorded: {all:#?}");
    // Newest first.
    let (scope, patched, conflict, create) = (&all[0], &all[1], &all[2], &all[3]);
    assert!(all.iter().all(|e| e["tenant"] == "default"), "the tenant by its slug: {all:#?}");
    assert_eq!((create["method"].as_str(), create["status"].as_u64()), (Some("POST"), Some(201)));
    assert_eq!(create["client"], "okta");
    assert_eq!(create["resource_id"], id.as_str());
    assert_eq!(create["credential_name"], "testkit");
    assert_eq!(create["credential_kind"], "static_token");
    let body = create["request_body"].as_str().unwrap();
    assert!(body.contains("bjensen") && !body.contains("hunter2"), "{body}");
    assert!(create["request_id"].is_string());
    assert_eq!(
        (conflict["status"].as_u64(), conflict["scim_type"].as_str()),
        (Some(409), Some("uniqueness"))
    );
    assert!(conflict["detail"].as_str().unwrap().contains("userName"));
    assert_eq!(patched["client"], "entra");
    assert_eq!(patched["resource_id"], id.as_str());
    assert!(patched["path"].as_str().unwrap().ends_with("?aadOptscim062020"));
    assert_eq!(scope["status"], 403);
    assert!(scope["credential_id"].is_string());

    // Filters and paging.
    let errors = entries(&s, &admin, "?status=4xx", 2).await;
    assert_eq!(errors.len(), 2);
    let page = entries(&s, &admin, "?count=2", 2).await;
    assert_eq!(page.len(), 2);
    let r = s.send(s.client.get(s.url("/admin/v1/tenants/default/logs?count=2")).bearer_auth(&admin)).await;
    let cursor = r.body["nextCursor"].as_str().unwrap();
    let older = entries(&s, &admin, &format!("?count=2&cursor={cursor}"), 2).await;
    assert_eq!(older[0]["id"], conflict["id"]);
    // Out-of-range durations are 400, not a panic (500).
    for since in ["99999999999d", "99999999999w", "9223372036854775807s"] {
        let r = s
            .send(s.client.get(s.url(&format!("/admin/v1/tenants/default/logs?since={since}"))).bearer_auth(&admin))
            .await;
        assert_eq!(r.status, 400, "{since}: {}", r.body);
        assert_eq!(r.body["status"], "400");
        assert!(r.body["detail"].as_str().unwrap().contains("at most"), "{}", r.body);
    }
    let r =
        s.send(s.client.get(s.url("/admin/v1/tenants/default/logs?status=abc")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 400);
    // Reading the log needs the admin scope.
    let r = s.send(s.client.get(s.url("/admin/v1/tenants/default/logs")).bearer_auth(&s.token)).await;
    assert_eq!(r.status, 403);
}
}

/// The spellings of one password write (RFC 7643 §2.1: attribute names, schema URNs and message
/// members are case-insensitive; RFC 7644 §3.10: URN-qualified names).
mod password_spellings {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    pub const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    /// `word` with each letter's case chosen by `mask`.
    pub fn cased(word: &str, mask: u64) -> String {
        word.chars()
            .enumerate()
            .map(
                |(i, c)| {
                    if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }
                },
            )
            .collect()
    }

    /// Where the password stands: a key of a resource (or of a no-path value), or a PATCH path.
    #[derive(Clone, Debug)]
    pub enum Key {
        /// `password`.
        Plain(u64),
        /// `urn:…:User:password`.
        Qualified(u64, u64),
        /// `{"urn:…:User": {"password": …}}` (not a path: only as a key).
        Nested(u64, u64),
    }

    impl Key {
        /// `{key: password}` as one member of an object.
        pub fn member(&self, password: &str) -> (String, Value) {
            match self {
                Key::Plain(m) => (cased("password", *m), json!(password)),
                Key::Qualified(u, m) => {
                    (format!("{}:{}", cased(CORE, *u), cased("password", *m)), json!(password))
                }
                Key::Nested(u, m) => {
                    let mut inner = Map::new();
                    inner.insert(cased("password", *m), json!(password));
                    (cased(CORE, *u), Value::Object(inner))
                }
            }
        }

        /// As a PATCH path; a nested key has no path spelling, so it is the qualified one.
        pub fn path(&self) -> String {
            match self {
                Key::Plain(m) => cased("password", *m),
                Key::Qualified(u, m) | Key::Nested(u, m) => {
                    format!("{}:{}", cased(CORE, *u), cased("password", *m))
                }
            }
        }
    }

    #[derive(Clone, Debug)]
    pub enum Write {
        Post(Key),
        Put(Key),
        /// op add/replace, its case, the members' cases, path or no-path.
        Patch {
            add: bool,
            op_case: u64,
            members: [u64; 3],
            key: Key,
            with_path: bool,
        },
    }

    fn key() -> impl Strategy<Value = Key> {
        prop_oneof![
            any::<u64>().prop_map(Key::Plain),
            (any::<u64>(), any::<u64>()).prop_map(|(u, m)| Key::Qualified(u, m)),
            (any::<u64>(), any::<u64>()).prop_map(|(u, m)| Key::Nested(u, m)),
        ]
    }

    pub fn write() -> impl Strategy<Value = Write> {
        prop_oneof![
            key().prop_map(Write::Post),
            key().prop_map(Write::Put),
            (any::<bool>(), any::<u64>(), any::<[u64; 3]>(), key(), any::<bool>()).prop_map(
                |(add, op_case, members, key, with_path)| Write::Patch {
                    add,
                    op_case,
                    members,
                    key,
                    with_path
                }
            ),
        ]
    }

    /// A password that cannot occur by chance in a database file or a log.
    pub fn password() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]{20}".prop_map(|s| format!("Pw-{s}"))
    }

    pub fn resource(user_name: &str, key: &Key, password: &str) -> Value {
        let mut body = Map::new();
        body.insert("schemas".into(), json!([CORE]));
        body.insert("userName".into(), json!(user_name));
        let (k, v) = key.member(password);
        body.insert(k, v);
        Value::Object(body)
    }

    pub fn patch(
        add: bool,
        op_case: u64,
        members: [u64; 3],
        key: &Key,
        with_path: bool,
        password: &str,
    ) -> Value {
        let mut op = Map::new();
        op.insert(cased("op", members[0]), json!(cased(if add { "add" } else { "replace" }, op_case)));
        if with_path {
            op.insert(cased("path", members[1]), json!(key.path()));
            op.insert(cased("value", members[2]), json!(password));
        } else {
            let (k, v) = key.member(password);
            let mut value = Map::new();
            value.insert(k, v);
            op.insert(cased("value", members[2]), Value::Object(value));
        }
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [Value::Object(op)]})
    }
}

/// RFC 7643 §4.1.1 `password` (writeOnly, returned never): for a password set in any accepted
/// spelling by POST, PUT or PATCH, the user's stored hash verifies it, and the password is in no
/// database file (data, provisioning log, their WAL and shared memory), in no response of the
/// admin log API and in no SCIM response.
#[test]
fn passwords_in_every_spelling_are_hashed_and_never_at_rest() {
    use password_spellings::{Write, patch, resource, write};
    use proptest::test_runner::{Config, TestRunner};

    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(TestServer::start());
    let admin = rt.block_on(s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false));
    // The runner takes an `Fn`: what every case adds is kept in cells.
    let passwords = std::cell::RefCell::new(Vec::new());
    let requests = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    let strategy = (write(), password_spellings::password());
    runner
        .run(&strategy, |(w, password)| {
            passwords.borrow_mut().push(password.clone());
            let user_name = format!("u{}", passwords.borrow().len());
            rt.block_on(async {
                let id = match &w {
                    Write::Post(key) => {
                        let r = s.post("/scim/v2/Users", &resource(&user_name, key, &password)).await;
                        requests.set(requests.get() + 1);
                        assert_eq!(r.status, 201, "{w:?}: {}", r.body);
                        r.body["id"].as_str().unwrap().to_owned()
                    }
                    other => {
                        let r = s
                            .post(
                                "/scim/v2/Users",
                                &json!({"schemas": [password_spellings::CORE], "userName": user_name}),
                            )
                            .await;
                        assert_eq!(r.status, 201, "{}", r.body);
                        let id = r.body["id"].as_str().unwrap().to_owned();
                        let path = format!("/scim/v2/Users/{id}");
                        let r = match other {
                            Write::Put(key) => s.put(&path, &resource(&user_name, key, &password)).await,
                            Write::Patch { add, op_case, members, key, with_path } => {
                                s.patch(&path, &patch(*add, *op_case, *members, key, *with_path, &password))
                                    .await
                            }
                            Write::Post(_) => unreachable!(),
                        };
                        requests.set(requests.get() + 2);
                        assert_eq!(r.status, 200, "{w:?}: {}", r.body);
                        assert!(!r.body.to_string().contains(&password), "returned: {}", r.body);
                        id
                    }
                };
                let hash = s.user_password_hash(&id).await;
                assert!(hash.is_some(), "{w:?}: no password hash stored");
                let ok = scimd_oauth::password::verify(password.clone(), hash).await.unwrap();
                assert!(ok, "{w:?}: the stored hash does not verify the password");
            });
            Ok(())
        })
        .unwrap();

    rt.block_on(async {
        let logs = entries(&s, &admin, "?count=1000", requests.get()).await;
        let text = serde_json::to_string(&logs).unwrap();
        for p in passwords.borrow().iter() {
            assert!(!text.contains(p.as_str()), "{p} in the log API: {text}");
        }
    });
    for file in std::fs::read_dir(s.data_dir()).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for p in passwords.borrow().iter() {
            let leaked = bytes.windows(p.len()).any(|w| w == p.as_bytes());
            assert!(!leaked, "{p} is in {}", path.display());
        }
    }
}

/// RFC 6750 §5.3 / RFC 6749: credentials in a query string are logged as `***`, whatever their case.
#[tokio::test]
async fn credentials_in_query_strings_are_redacted() {
    let s = TestServer::start().await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let query = "?access_token=AT-SECRET&Client_Secret=CS-SECRET&CODE=CODE-SECRET&refresh_token=RT-SECRET\
                 &password=PW-SECRET&access%5Ftoken=ENC-SECRET&count=5";
    let r = s.get(&format!("/scim/v2/Users{query}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let logged = entries(&s, &admin, "", 1).await;
    let path = logged[0]["path"].as_str().unwrap();
    assert!(!path.contains("SECRET"), "{path}");
    assert!(
        path.contains("access_token=***") && path.contains("Client_Secret=***") && path.ends_with("&count=5"),
        "{path}"
    );
}

/// The counter at `/metrics` for one reason.
async fn refused(s: &TestServer, reason: &str) -> u64 {
    let text = s.get("/metrics").await.body.as_str().unwrap_or_default().to_owned();
    let prefix = format!("scimd_unauthenticated_requests_total{{reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map_or(0, |n| n.trim().parse().unwrap())
}

backend_tests! {
async fn a_flood_of_unauthenticated_writes_is_counted_and_throttled_not_logged(backend) {
    let config = HttpConfig { refused_rate_limit: 5, ..HttpConfig::default() };
    let s = TestServer::start_opts(Options { backend, config, ..Options::default() }).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let other = s.store.create_tenant("other").await.unwrap();
    let foreign = s.token_for(&other, Scopes::all(), false).await;
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "x".repeat(3000)});
    let mut set = tokio::task::JoinSet::new();
    for i in 0..60 {
        let mut req = s.client.post(s.url("/tenants/default/scim/v2/Users")).json(&body);
        if i % 2 == 1 {
            req = req.bearer_auth(&foreign);
        }
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    assert!(statuses.iter().all(|s| [401, 403, 429].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&429), "60 at once from one address, 5/s allowed: {statuses:?}");
    let counted = refused(&s, "missing").await + refused(&s, "wrong_tenant").await + refused(&s, "throttled").await;
    assert_eq!(counted, 60);
    assert_eq!(refused(&s, "throttled").await, statuses.iter().filter(|s| **s == 429).count() as u64);

    // One request of the tenant's own afterwards; the log holds it alone.
    assert_eq!(s.get("/scim/v2/Users").await.status, 200);
    let all = entries(&s, &admin, "", 1).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["credential_name"], "testkit");
}
}

backend_tests! {
async fn a_throttled_request_names_its_credential_and_oauth_names_the_client(backend) {
    let s = TestServer::start_with(backend).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let limit = json!({"rate_limit": 1});
    let r = s
        .send(s.client.patch(s.url("/admin/v1/tenants/default/settings")).bearer_auth(&admin).json(&limit))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let req = s.request(reqwest::Method::GET, "/scim/v2/Users");
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let throttled = entries(&s, &admin, "?status=429", 1).await;
    assert_eq!(throttled[0]["credential_name"], "testkit", "{throttled:#?}");
    assert!(throttled[0]["credential_id"].is_string());

    // Back to the default rate (the admin token too is limited to 1/s until then).
    let mut r = None;
    for _ in 0..100 {
        let resp = s
            .send(s.client.patch(s.url("/admin/v1/tenants/default/settings")).bearer_auth(&admin).json(&json!({"rate_limit": null})))
            .await;
        if resp.status != 429 {
            r = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let r = r.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["rate_limit"].is_null(), "merge patch null: the default again: {}", r.body);
    let c = s
        .send(s.client.post(s.url("/admin/v1/tenants/default/clients")).bearer_auth(&admin).json(
            &json!({"name": "Microsoft Entra ID", "grant_type": "client_credentials"}),
        ))
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    let (id, secret) = (c.body["client_id"].as_str().unwrap(), c.body["client_secret"].as_str().unwrap());
    let t = s
        .send(s.client.post(s.url("/oauth2/token")).basic_auth(id, Some(secret)).form(&[("grant_type", "client_credentials")]))
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    let access = t.body["access_token"].as_str().unwrap();
    let r = s.send(s.client.get(s.url("/scim/v2/Groups")).bearer_auth(access)).await;
    assert_eq!(r.status, 200);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let oauth = entries(&s, &admin, "?status=200", ok + 1).await;
    assert_eq!(oauth[0]["credential_kind"], "oauth_access_token", "{oauth:#?}");
    assert_eq!(oauth[0]["credential_name"], "Microsoft Entra ID", "the client's name, not its id");
}
}

backend_tests! {
async fn responses_of_writes_and_errors_are_kept_small_and_redacted(backend) {
    let s = TestServer::start_with(backend).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kim@acme.example", "password": "hunter2 hunter2"});
    let created = s.post("/scim/v2/Users", &user).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(s.get(&format!("/scim/v2/Users/{id}")).await.status, 200);
    assert_eq!(s.post("/scim/v2/Users", &user).await.status, 409);
    // A response too large to keep whole: its size only.
    let big = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "big@acme.example", "displayName": "x".repeat(70_000)});
    assert_eq!(s.post("/scim/v2/Users", &big).await.status, 201);
    let list = entries(&s, &admin, "", 4).await;
    let by = |method: &str, status: u64| list.iter().find(|e| e["method"] == method && e["status"] == status).unwrap().clone();
    let post = list.iter().find(|e| e["status"] == 201 && e["request_body"].as_str().unwrap().contains("kim@")).unwrap();
    let kept: Value = serde_json::from_str(post["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(kept["id"], id.as_str(), "the created user as answered");
    assert!(!post["response_body"].as_str().unwrap().contains("hunter2"));
    assert!(by("GET", 200)["response_body"].is_null(), "reads are not kept");
    let dup: Value = serde_json::from_str(by("POST", 409)["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(dup["scimType"], "uniqueness");
    let large = list.iter().find(|e| e["status"] == 201 && e["request_body"].as_str().unwrap().contains("big@")).unwrap();
    let note = large["response_body"].as_str().unwrap();
    assert!(note.starts_with('(') && note.ends_with(" bytes, not kept)"), "{note}");
}
}
