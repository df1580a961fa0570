//! Event delivery end to end, through the real binary: a receiver on 127.0.0.1:0 that records
//! what it gets and answers as each test scripts it, endpoints registered with `scimd webhook
//! add` / `scimd sink add`, writes through SCIM. Each test asserts no loss (every event of the log
//! reached the receiver), order per resource (of one resource, the first receipt of each event
//! comes in seq order) and the signatures, verified with independent implementations: the
//! Standard Webhooks authors' `standardwebhooks` crate, and jsonwebtoken against `/oauth2/jwks`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Method;
use serde_json::{Value, json};

use scimd_testkit::pg::{self, TestDatabase};

use super::super::{Server, db_url};
use super::{Api, okta_active, prepare, str_of};

/// What the receiver got: the headers that matter and the body.
#[derive(Clone, Debug)]
struct Receipt {
    headers: HeaderMap,
    body: String,
    at: Instant,
}

/// A receiver answering `script(n)` to its `n`th request (0-based).
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Receipt>>>,
    script: Arc<dyn Fn(usize) -> StatusCode + Send + Sync>,
    /// How long the `n`th answer takes (a slow receiver).
    delay: Arc<dyn Fn(usize) -> Duration + Send + Sync>,
}

/// Answers what the script says; a 503 asks for a retry after one second (`Retry-After`).
async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let n = {
        let mut got = r.got.lock().unwrap();
        got.push(Receipt { headers, body, at: Instant::now() });
        got.len() - 1
    };
    tokio::time::sleep((r.delay)(n)).await;
    match (r.script)(n) {
        StatusCode::SERVICE_UNAVAILABLE => {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response()
        }
        status => status.into_response(),
    }
}

/// Starts a receiver; returns it and its URL.
async fn receiver(script: impl Fn(usize) -> StatusCode + Send + Sync + 'static) -> (Receiver, String) {
    slow_receiver(script, |_| Duration::ZERO).await
}

async fn slow_receiver(
    script: impl Fn(usize) -> StatusCode + Send + Sync + 'static,
    delay: impl Fn(usize) -> Duration + Send + Sync + 'static,
) -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    receiver_on(listener, script, delay)
}

/// A receiver on a listener already bound.
fn receiver_on(
    listener: tokio::net::TcpListener,
    script: impl Fn(usize) -> StatusCode + Send + Sync + 'static,
    delay: impl Fn(usize) -> Duration + Send + Sync + 'static,
) -> (Receiver, String) {
    let r = Receiver { got: Arc::default(), script: Arc::new(script), delay: Arc::new(delay) };
    let app = axum::Router::new().route("/hook", post(receive)).with_state(r.clone());
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

/// The server, with short retries and private addresses allowed (the receiver is on loopback).
fn serve(database: &str) -> Server {
    serve_with(database, "50ms,100ms,150ms,200ms")
}

/// [`serve`] with another retry schedule.
fn serve_with(database: &str, schedule: &str) -> Server {
    Server::start_on(
        database,
        &[
            ("SCIMD_WEBHOOK_RETRY_SCHEDULE", schedule),
            ("SCIMD_WEBHOOK_ALLOW_PRIVATE", "true"),
            // Claims last twice this: a killed server's are taken over within seconds.
            ("SCIMD_WEBHOOK_TIMEOUT", "2s"),
        ],
    )
}

fn cli_json(database: &str, args: &[&str]) -> Value {
    let o = super::cli(database, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// Some provisioning: users created, one deactivated and renamed, a group with members.
async fn provision(api: &Api) {
    provision_as(api, "user").await;
}

/// [`provision`] with names starting with `prefix`.
async fn provision_as(api: &Api, prefix: &str) {
    let mut ids = Vec::new();
    for i in 0..6 {
        let a = api.create_user(&format!("{prefix}{i}"), &format!("{prefix}-ext{i}")).await;
        assert_eq!(a.status, 201, "{}", a.body);
        ids.push(a.id());
    }
    let a = api.scim(Method::PATCH, &format!("/Users/{}", ids[0]), Some(&okta_active(false))).await;
    assert!(a.status.is_success(), "{}", a.body);
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Zero"}]});
    let a = api.scim(Method::PATCH, &format!("/Users/{}", ids[0]), Some(&rename)).await;
    assert!(a.status.is_success(), "{}", a.body);
    let g = api.create_group(&format!("{prefix}-team"), &ids[1..4]).await;
    assert_eq!(g.status, 201, "{}", g.body);
}

/// Waits until every event id of `expected` was received at least once.
async fn wait_for(r: &Receiver, expected: &BTreeSet<String>, id_of: impl Fn(&Receipt) -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<String> = r.got.lock().unwrap().iter().filter_map(&id_of).collect();
        if expected.is_subset(&got) {
            return;
        }
        assert!(Instant::now() < deadline, "missing {:?}", expected.difference(&got).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Of each resource, the first receipt of each event comes in seq order.
fn assert_ordered_per_resource(events: &[Value]) {
    let mut seen = BTreeSet::new();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for e in events {
        let id = str_of(e, "id").to_owned();
        if !seen.insert(id) {
            continue; // a repeat (at least once): order is about first receipts
        }
        let resource = e["resource"]["id"].as_str().unwrap().to_owned();
        let seq: u64 = str_of(e, "seq").parse().unwrap();
        if let Some(prev) = last.insert(resource.clone(), seq) {
            assert!(prev < seq, "{resource}: seq {seq} received after {prev}");
        }
    }
}

/// Standard Webhooks: signed (verified by the reference library), `webhook-id` = the event's id,
/// the first three requests fail with 500 and are retried, nothing is lost, order per resource
/// holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_ordered_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let (r, url) =
        receiver(|n| if n < 3 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT }).await;
    let added =
        cli_json(&database, &["webhook", "add", "--tenant", "acme", "--url", &url, "--allow-private"]);
    let secret = str_of(&added, "secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{added}");
    let mut server = serve(&database);
    let api = Api::new(&server.addr(), &tokens);
    provision(&api).await;

    let log = api.events_after(0).await;
    let expected: BTreeSet<String> = log.iter().map(|e| str_of(e, "id").to_owned()).collect();
    assert!(expected.len() >= 12, "{log:?}");
    wait_for(&r, &expected, |x| {
        serde_json::from_str::<Value>(&x.body).ok().map(|v| str_of(&v, "id").to_owned())
    })
    .await;

    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    let got = r.got.lock().unwrap().clone();
    assert!(got.len() >= expected.len() + 3, "three failures were retried");
    let mut bodies = Vec::new();
    for x in &got {
        wh.verify(x.body.as_bytes(), &x.headers).unwrap_or_else(|e| panic!("signature: {e:?} on {x:?}"));
        let v: Value = serde_json::from_str(&x.body).unwrap();
        assert_eq!(x.headers["webhook-id"].to_str().unwrap(), str_of(&v, "id"));
        assert!(v.get("data").is_some_and(|d| d.get("password").is_none()));
        bodies.push(v);
    }
    assert_ordered_per_resource(&bodies);
    // What each received event says is what the log says.
    let by_id: BTreeMap<&str, &Value> = log.iter().map(|e| (str_of(e, "id"), e)).collect();
    for b in &bodies {
        assert_eq!(&b, by_id.get(str_of(b, "id")).unwrap());
    }
    let deliveries = super::cli(
        &database,
        &["webhook", "deliveries", "--tenant", "acme", "--id", str_of(&added, "id"), "--state", "delivered"],
    );
    assert!(deliveries.status.success());
    assert_eq!(String::from_utf8_lossy(&deliveries.stdout).lines().count(), expected.len());
    server.terminate();
}

/// 410 Gone disables the endpoint after one attempt; re-enabling it resumes where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_and_enabling_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let (r, url) = receiver(|n| if n == 0 { StatusCode::GONE } else { StatusCode::OK }).await;
    let added = cli_json(
        &database,
        &["webhook", "add", "--tenant", "acme", "--url", &url, "--type", "user.*", "--allow-private"],
    );
    let id = str_of(&added, "id").to_owned();
    let mut server = serve(&database);
    let api = Api::new(&server.addr(), &tokens);
    let a = api.create_user("first", "e1").await;
    assert_eq!(a.status, 201);
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let o = super::cli(&database, &["webhook", "list", "--tenant", "acme"]);
        let line: Value = serde_json::from_slice(o.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        if line["enabled"] == false {
            break line;
        }
        assert!(Instant::now() < deadline, "not disabled: {line}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(listed["disabled_reason"].as_str().unwrap().contains("410"), "{listed}");
    assert!(listed.get("secret").is_none(), "a listing never shows the secret");
    let b = api.create_user("second", "e2").await;
    assert_eq!(b.status, 201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.got.lock().unwrap().len(), 1, "a disabled endpoint gets nothing");

    let o = super::cli(&database, &["webhook", "enable", "--tenant", "acme", "--id", &id]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected: BTreeSet<String> =
        api.events_after(0).await.iter().map(|e| str_of(e, "id").to_owned()).collect();
    wait_for(&r, &expected, |x| {
        serde_json::from_str::<Value>(&x.body).ok().map(|v| str_of(&v, "id").to_owned())
    })
    .await;
    server.terminate();
}

/// RFC 9967 SETs pushed per RFC 8935: each verifies against the server's JWKS, names the
/// resource in `sub_id`, and carries the event id as `txn`'s fallback or the request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_pushes_verify_against_the_jwks() {
    let dir = tempfile::tempdir().unwrap();
    set_pushes_on(&db_url(dir.path())).await;
}

/// The same on PostgreSQL (skipped without `SCIMD_TEST_POSTGRES_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_pushes_verify_against_the_jwks_on_postgres() {
    if !pg::available_or_skip("set_pushes_verify_against_the_jwks_on_postgres") {
        return;
    }
    let db = TestDatabase::create().await;
    set_pushes_on(&db.url).await;
}

async fn set_pushes_on(database: &str) {
    let database = database.to_owned();
    let tokens = prepare(&database);
    let (r, url) = receiver(|_| StatusCode::ACCEPTED).await;
    cli_json(
        &database,
        &[
            "webhook",
            "add",
            "--tenant",
            "acme",
            "--url",
            &url,
            "--format",
            "set",
            "--audience",
            "https://app.example",
            "--allow-private",
        ],
    );
    let mut server = serve(&database);
    let addr = server.addr();
    let api = Api::new(&addr, &tokens);
    provision(&api).await;
    let log = api.events_after(0).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    while r.got.lock().unwrap().len() < log.len() {
        assert!(Instant::now() < deadline, "{} of {} SETs", r.got.lock().unwrap().len(), log.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Read after the SETs arrived: the first signing key is made when the first SET is signed.
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::get(format!("http://{addr}/oauth2/jwks")).await.unwrap().json().await.unwrap();
    let decode = |token: &str| -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(header.alg);
        v.set_audience(&["https://app.example"]);
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &key, &v).unwrap().claims
    };
    let got = r.got.lock().unwrap().clone();
    for x in &got {
        assert_eq!(x.headers["content-type"], "application/secevent+jwt");
        let claims = decode(&x.body);
        assert_eq!(claims["iss"], format!("http://{addr}"));
        let events = claims["events"].as_object().unwrap();
        assert!(events.keys().all(|k| k.starts_with("urn:ietf:params:scim:event:prov:")), "{claims}");
        assert!(claims["sub_id"]["uri"].as_str().unwrap().contains('/'), "{claims}");
    }
    let deactivations = got
        .iter()
        .filter(|x| decode(&x.body)["events"].get("urn:ietf:params:scim:event:prov:deactivate").is_some())
        .count();
    assert_eq!(deactivations, log.iter().filter(|e| e["type"] == "user.deactivated").count());
    server.terminate();
}

/// NATS JetStream: events published with `Nats-Msg-Id` = the event id, each acknowledged by the
/// stream, all of them, in order per resource. Skipped (with a message) when no NATS server
/// answers on 127.0.0.1:4222; CI always has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_sink_publishes_every_event_once_per_id() {
    let dir = tempfile::tempdir().unwrap();
    nats_sink_on(&db_url(dir.path()), "sqlite").await;
}

/// The same on PostgreSQL (skipped without `SCIMD_TEST_POSTGRES_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_sink_publishes_every_event_once_per_id_on_postgres() {
    if !pg::available_or_skip("nats_sink_publishes_every_event_once_per_id_on_postgres") {
        return;
    }
    let db = TestDatabase::create().await;
    nats_sink_on(&db.url, "pg").await;
}

async fn nats_sink_on(database: &str, backend: &str) {
    let database = database.to_owned();
    let Ok(client) = async_nats::connect("nats://127.0.0.1:4222").await else {
        eprintln!("skipping nats_sink_publishes_every_event_once_per_id: no NATS server on 127.0.0.1:4222");
        return;
    };
    let js = async_nats::jetstream::new(client);
    let stream = format!("SCIMD_TEST_{backend}_{}", std::process::id());
    let prefix = format!("scimdtest{backend}{}", std::process::id());
    let _ = js.delete_stream(&stream).await;
    let mut s = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.>")],
            ..Default::default()
        })
        .await
        .unwrap();

    let tokens = prepare(&database);
    let subject = format!("{prefix}.{{tenant}}.{{type}}");
    cli_json(
        &database,
        &["sink", "add", "--tenant", "acme", "--nats", "nats://127.0.0.1:4222", "--subject", &subject],
    );
    let mut server = serve(&database);
    let api = Api::new(&server.addr(), &tokens);
    provision(&api).await;
    let log = api.events_after(0).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    while s.info().await.unwrap().state.messages < log.len() as u64 {
        assert!(Instant::now() < deadline, "{} of {} published", s.cached_info().state.messages, log.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    use futures_util::StreamExt as _;
    let consumer = s
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.fetch().max_messages(log.len()).messages().await.unwrap();
    let mut bodies = Vec::new();
    while let Some(m) = messages.next().await {
        let m = m.unwrap();
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        let msg_id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .unwrap_or_else(|| panic!("no Nats-Msg-Id in {:?}", m.headers))
            .as_str()
            .to_owned();
        assert_eq!(msg_id, str_of(&v, "id"));
        assert_eq!(m.subject.as_str(), format!("{prefix}.acme.{}", str_of(&v, "type")));
        bodies.push(v);
    }
    assert_eq!(bodies.len(), log.len());
    assert_ordered_per_resource(&bodies);
    let got: BTreeSet<&str> = bodies.iter().map(|b| str_of(b, "id")).collect();
    assert_eq!(got, log.iter().map(|e| str_of(e, "id")).collect());
    js.delete_stream(&stream).await.unwrap();
    server.terminate();
}

/// SIGKILL while deliveries are in flight to a slow receiver: after a restart on the same
/// database every event arrives, the repeats carry the ids of events already sent (the receiver
/// deduplicates by them), and order per resource holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_mid_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let (r, url) = slow_receiver(|_| StatusCode::OK, |_| Duration::from_millis(300)).await;
    cli_json(&database, &["webhook", "add", "--tenant", "acme", "--url", &url, "--allow-private"]);
    let mut server = serve(&database);
    let api = Api::new(&server.addr(), &tokens);
    provision(&api).await;
    let expected: BTreeSet<String> =
        api.events_after(0).await.iter().map(|e| str_of(e, "id").to_owned()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.got.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "no delivery started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill_9();
    let before_restart = r.got.lock().unwrap().len();
    assert!(before_restart < expected.len(), "the kill landed before everything was delivered");

    let server = serve(&database);
    let id_of =
        |x: &Receipt| serde_json::from_str::<Value>(&x.body).ok().map(|v| str_of(&v, "id").to_owned());
    wait_for(&r, &expected, id_of).await;
    let got = r.got.lock().unwrap().clone();
    let bodies: Vec<Value> = got.iter().map(|x| serde_json::from_str(&x.body).unwrap()).collect();
    assert!(
        bodies.iter().all(|b| expected.contains(str_of(b, "id"))),
        "only events of the log, repeats included"
    );
    for x in &got {
        let v: Value = serde_json::from_str(&x.body).unwrap();
        assert_eq!(x.headers["webhook-id"].to_str().unwrap(), str_of(&v, "id"), "a repeat has the same id");
    }
    assert_ordered_per_resource(&bodies);
    server.terminate();
}

/// Two PostgreSQL replicas share one outbox: writes on both, one receiver, every event delivered
/// exactly once (no failure, so no repeat: claims are leased with `FOR UPDATE SKIP LOCKED` and no
/// two replicas send the same delivery), in order per resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once() {
    if !pg::available_or_skip("two_replicas_deliver_each_event_once") {
        return;
    }
    let db = TestDatabase::create().await;
    let tokens = prepare(&db.url);
    let (r, url) = receiver(|_| StatusCode::OK).await;
    cli_json(&db.url, &["webhook", "add", "--tenant", "acme", "--url", &url, "--allow-private"]);
    let mut a = serve(&db.url);
    let mut b = serve(&db.url);
    let (one, two) = (Api::new(&a.addr(), &tokens), Api::new(&b.addr(), &tokens));
    tokio::join!(
        provision_as(&one, "a"),
        provision_as(&two, "b"),
        provision_as(&one, "c"),
        provision_as(&two, "d")
    );
    let log = one.events_after(0).await;
    let expected: BTreeSet<String> = log.iter().map(|e| str_of(e, "id").to_owned()).collect();
    let id_of =
        |x: &Receipt| serde_json::from_str::<Value>(&x.body).ok().map(|v| str_of(&v, "id").to_owned());
    wait_for(&r, &expected, id_of).await;
    // Let a duplicate, if the claims allowed one, arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = r.got.lock().unwrap().clone();
    let bodies: Vec<Value> = got.iter().map(|x| serde_json::from_str(&x.body).unwrap()).collect();
    assert_eq!(bodies.len(), expected.len(), "each event once");
    assert_ordered_per_resource(&bodies);
    a.terminate();
    b.terminate();
}

/// A receiver that is down (connection refused) for a while, then up but too slow once (past the
/// timeout), then well: every event arrives, none out of order, and the attempts that failed are
/// recorded with what went wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_then_slow_then_up_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    // A port that refuses connections until the receiver binds it again.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let added =
        cli_json(&database, &["webhook", "add", "--tenant", "acme", "--url", &url, "--allow-private"]);
    // Retries for about 20 s: longer than the outage and the timeout together.
    let mut server = serve_with(&database, "100ms,200ms,400ms,800ms,1s,2s,2s,2s,2s,2s,2s,2s,2s");
    let api = Api::new(&server.addr(), &tokens);
    provision(&api).await;
    let expected: BTreeSet<String> =
        api.events_after(0).await.iter().map(|e| str_of(e, "id").to_owned()).collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let failed = cli_json_lines(
        &database,
        &["webhook", "deliveries", "--tenant", "acme", "--id", str_of(&added, "id"), "--state", "pending"],
    );
    assert!(
        failed.iter().any(|d| d["attempts"].as_u64().unwrap_or(0) > 0 && d["last_error"].is_string()),
        "refused connections are recorded: {failed:?}"
    );

    // Up, but the first answer comes after the server's 2 s timeout.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let (r, _) = receiver_on(
        listener,
        |_| StatusCode::OK,
        |n| if n == 0 { Duration::from_secs(3) } else { Duration::ZERO },
    );
    let id_of =
        |x: &Receipt| serde_json::from_str::<Value>(&x.body).ok().map(|v| str_of(&v, "id").to_owned());
    wait_for(&r, &expected, id_of).await;
    // Received (the receiver records before it answers) but not answered in time: sent again.
    let first = id_of(&r.got.lock().unwrap()[0]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.got.lock().unwrap().iter().filter(|x| id_of(x).as_deref() == Some(first.as_str())).count() < 2 {
        assert!(Instant::now() < deadline, "the attempt that timed out was not made again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = r.got.lock().unwrap().clone();
    let bodies: Vec<Value> = got.iter().map(|x| serde_json::from_str(&x.body).unwrap()).collect();
    assert_ordered_per_resource(&bodies);
    server.terminate();
}

fn cli_json_lines(database: &str, args: &[&str]) -> Vec<Value> {
    let o = super::cli(database, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Rotation: during the grace period each request carries two signatures, and a receiver holding
/// either secret verifies it; `test` sends a signed ping whatever the type patterns; the metrics
/// count what was delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_signs_with_both_secrets_and_ping_and_metrics_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let (r, url) = receiver(|_| StatusCode::OK).await;
    let added = cli_json(
        &database,
        &["webhook", "add", "--tenant", "acme", "--url", &url, "--type", "group.*", "--allow-private"],
    );
    let id = str_of(&added, "id").to_owned();
    let old = str_of(&added, "secret").to_owned();
    let rotated =
        cli_json(&database, &["webhook", "rotate", "--tenant", "acme", "--id", &id, "--grace", "1h"]);
    let new = str_of(&rotated, "secret").to_owned();
    assert_ne!(old, new);
    let mut server = serve(&database);
    let addr = server.addr();
    let api = Api::new(&addr, &tokens);
    let ping = cli_json(&database, &["webhook", "test", "--tenant", "acme", "--id", &id]);
    provision(&api).await;
    let groups: BTreeSet<String> = api
        .events_after(0)
        .await
        .iter()
        .filter(|e| str_of(e, "type").starts_with("group."))
        .map(|e| str_of(e, "id").to_owned())
        .collect();
    let mut expected = groups.clone();
    expected.insert(str_of(&ping, "event_id").to_owned());
    let id_of = |x: &Receipt| x.headers.get("webhook-id").map(|v| v.to_str().unwrap().to_owned());
    wait_for(&r, &expected, id_of).await;
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.len(), expected.len(), "user events are not this endpoint's, and nothing repeats");
    let (with_old, with_new) =
        (standardwebhooks::Webhook::new(&old).unwrap(), standardwebhooks::Webhook::new(&new).unwrap());
    for x in &got {
        let signatures = x.headers["webhook-signature"].to_str().unwrap();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
        with_old.verify(x.body.as_bytes(), &x.headers).unwrap();
        with_new.verify(x.body.as_bytes(), &x.headers).unwrap();
    }
    let pinged = got.iter().find(|x| id_of(x).as_deref() == Some(str_of(&ping, "event_id"))).unwrap();
    let body: Value = serde_json::from_str(&pinged.body).unwrap();
    assert_eq!(body["type"], "ping");

    let metrics = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    let delivered = metrics
        .lines()
        .find(|l| l.starts_with("scimd_delivery_attempts_total") && l.contains("result=\"delivered\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(delivered, Some(expected.len()), "{metrics}");
    assert!(metrics.contains(&format!("scimd_deliveries_pending{{endpoint=\"{id}\"}} 0")), "{metrics}");
    server.terminate();
}

/// The address guard at delivery time: a server without `--webhook-allow-private` does not call
/// a loopback receiver, even one registered with `--allow-private`; the attempts are recorded
/// with the reason, and nothing arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_to_deliver_to_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let (r, url) = receiver(|_| StatusCode::OK).await;
    let added =
        cli_json(&database, &["webhook", "add", "--tenant", "acme", "--url", &url, "--allow-private"]);
    let mut server = Server::start_on(&database, &[("SCIMD_WEBHOOK_RETRY_SCHEDULE", "50ms,50ms,50ms")]);
    let api = Api::new(&server.addr(), &tokens);
    assert_eq!(api.create_user("u", "e").await.status, 201);
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let dead = cli_json_lines(
            &database,
            &["webhook", "deliveries", "--tenant", "acme", "--id", str_of(&added, "id"), "--state", "dead"],
        );
        if !dead.is_empty() {
            break dead;
        }
        assert!(Instant::now() < deadline, "the delivery was not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let error = dead[0]["last_error"].as_str().unwrap();
    assert!(error.contains("not a permitted webhook target"), "{error}");
    assert!(r.got.lock().unwrap().is_empty(), "the receiver was called");
    server.terminate();
}

/// Standard Webhooks 1.0: a 503's `Retry-After` is honoured over the (here 50 ms) schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let (r, url) = receiver(|n| if n == 0 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }).await;
    cli_json(&database, &["webhook", "add", "--tenant", "acme", "--url", &url, "--allow-private"]);
    let mut server = serve(&database);
    let api = Api::new(&server.addr(), &tokens);
    assert_eq!(api.create_user("u", "e").await.status, 201);
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.got.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no second attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = r.got.lock().unwrap().clone();
    // A lower bound, which no scheduling delay can break: the retry waited for the receiver.
    assert!(got[1].at - got[0].at >= Duration::from_secs(1), "retried after {:?}", got[1].at - got[0].at);
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    server.terminate();
}
