//! The admin API of event-delivery endpoints (`/admin/v1/tenants/{slug}/webhooks` and `…/sinks`,
//! docs/events.md "Managing endpoints"): the lifecycle of a webhook and of a sink, the tenant
//! boundary, and the refusals. No delivery worker runs beside the test server, so what the API
//! queues stays pending; fan-out and a dead letter are made through the store, as the worker
//! would.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use scimd_http::Scopes;
use scimd_store::delivery::Outcome;
use scimd_testkit::{Backend, TestResponse, TestServer, backend_tests};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// An admin of a tenant, calling its admin API.
struct Admin<'a> {
    s: &'a TestServer,
    token: String,
    slug: String,
}

impl<'a> Admin<'a> {
    async fn of_default(s: &'a TestServer) -> Admin<'a> {
        let token = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
        Admin { s, token, slug: "default".into() }
    }

    async fn of(s: &'a TestServer, slug: &str) -> Admin<'a> {
        let tenant = match s.store.tenant_by_slug(slug).await.unwrap() {
            Some(t) => t,
            None => s.store.create_tenant(slug).await.unwrap(),
        };
        let token = s.token_for(&tenant, Scopes::parse(["admin"]).unwrap(), false).await;
        Admin { s, token, slug: slug.into() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let url = self.s.url(&format!("/admin/v1/tenants/{}{path}", self.slug));
        let mut req = self.s.client.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.s.send(req).await
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> TestResponse {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> TestResponse {
        self.call(Method::DELETE, path, None).await
    }

    /// A webhook, created; its id and secret.
    async fn webhook(&self, body: Value) -> (String, String) {
        let r = self.post("/webhooks", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        (r.body["id"].as_str().unwrap().to_owned(), r.body["secret"].as_str().unwrap().to_owned())
    }
}

/// RFC 7644 §3.12's error body, with a detail that contains `needle`.
fn refused(r: &TestResponse, status: u16, needle: &str) {
    assert_eq!(r.status.as_u16(), status, "{r:?}");
    assert_eq!(r.body["status"], status.to_string(), "{r:?}");
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "{needle:?} not in {detail:?}");
}

fn no_secret(r: &TestResponse) {
    let text = r.body.to_string();
    assert!(!text.contains("whsec_") && !text.contains("\"secret\""), "a secret in {text}");
}

async fn user(s: &TestServer, name: &str) {
    let r = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": name})).await;
    assert_eq!(r.status, 201, "{r:?}");
}

backend_tests! {
    async fn a_webhook_from_create_to_delete(backend) {
        a_webhook_from_create_to_delete_on(backend).await;
    }
}

async fn a_webhook_from_create_to_delete_on(backend: Backend) {
    let s = TestServer::start_with(backend).await;
    let admin = Admin::of_default(&s).await;
    // An event committed before the webhook exists: not sent, but replayable.
    user(&s, "before@example.com").await;

    let r =
        admin.post("/webhooks", json!({"url": "https://hooks.example.com/scim", "types": ["user.*"]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{r:?}");
    assert_eq!(r.header("location"), Some(format!("/admin/v1/tenants/default/webhooks/{id}").as_str()));
    assert_eq!(r.body["types"], json!(["user.*"]));
    assert_eq!(
        (&r.body["format"], &r.body["enabled"], &r.body["cursor"]),
        (&json!("standard"), &json!(true), &json!("1"))
    );

    let list = admin.get("/webhooks").await;
    assert_eq!(list.status, 200, "{list:?}");
    no_secret(&list);
    assert_eq!(list.body["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["webhooks"][0]["id"], id.as_str());
    assert_eq!(
        (&list.body["webhooks"][0]["pending"], &list.body["webhooks"][0]["dead"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(admin.get("/sinks").await.body, json!({"sinks": []}));
    let one = admin.get(&format!("/webhooks/{id}")).await;
    assert_eq!(one.status, 200);
    no_secret(&one);
    assert_eq!(one.body["url"], "https://hooks.example.com/scim");

    // Disable, enable.
    let r = admin.patch(&format!("/webhooks/{id}"), json!({"enabled": false})).await;
    assert_eq!((r.status.as_u16(), &r.body["enabled"]), (200, &json!(false)), "{r:?}");
    no_secret(&r);
    let r = admin.patch(&format!("/webhooks/{id}"), json!({"enabled": true})).await;
    assert_eq!(r.body["enabled"], true);

    // Rotate: the new secret once; the old one valid for the grace.
    let r = admin.post(&format!("/webhooks/{id}/rotate"), json!({"grace_seconds": 600})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let rotated = r.body["secret"].as_str().unwrap().to_owned();
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    let until =
        time::OffsetDateTime::parse(r.body["previous_valid_until"].as_str().unwrap(), &Rfc3339).unwrap();
    let ahead = until - s.clock.now();
    assert!(ahead > time::Duration::minutes(9) && ahead <= time::Duration::minutes(10), "{ahead}");
    let one = admin.get(&format!("/webhooks/{id}")).await;
    no_secret(&one);
    assert_eq!(one.body["previous_valid_until"], r.body["previous_valid_until"]);
    let stored = s.store.endpoint(s.tenant.id, id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.secret.as_ref().map(|k| k.expose()), Some(rotated.as_str()));
    assert_eq!(stored.previous_secret.as_ref().map(|k| k.expose()), Some(secret.as_str()));
    // No body: the default grace, a day.
    let r = s
        .send(
            s.client
                .post(s.url(&format!("/admin/v1/tenants/default/webhooks/{id}/rotate")))
                .bearer_auth(&admin.token),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let until =
        time::OffsetDateTime::parse(r.body["previous_valid_until"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(until - s.clock.now() > time::Duration::hours(23), "{r:?}");

    // Test: a ping, queued.
    let r = admin.post(&format!("/webhooks/{id}/test"), json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let delivery = r.body["delivery"].as_str().unwrap().to_owned();
    let event_id = r.body["event_id"].as_str().unwrap().to_owned();
    let r = admin.get(&format!("/webhooks/{id}/deliveries")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let list = r.body["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{r:?}");
    assert_eq!((&list[0]["id"], &list[0]["event_id"]), (&json!(delivery), &json!(event_id)));
    assert_eq!(
        (&list[0]["state"], &list[0]["ping"], &list[0]["seq"]),
        (&json!("pending"), &json!(true), &json!("0"))
    );
    assert_eq!(
        admin.get(&format!("/webhooks/{id}/deliveries?state=dead")).await.body,
        json!({"deliveries": []})
    );

    // Replay the event from before the webhook, by seq and by time.
    let r = admin.post(&format!("/webhooks/{id}/replay"), json!({"from": 1})).await;
    assert_eq!((r.status, &r.body), (StatusCode::ACCEPTED, &json!({"queued": 1})), "{r:?}");
    let r = admin.post(&format!("/webhooks/{id}/replay"), json!({"since": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(r.body, json!({"queued": 1}), "{r:?}");
    let pending = admin.get(&format!("/webhooks/{id}/deliveries?state=pending&limit=10")).await;
    let seqs: Vec<&str> =
        pending.body["deliveries"].as_array().unwrap().iter().map(|d| d["seq"].as_str().unwrap()).collect();
    assert_eq!(seqs.iter().filter(|s| **s == "1").count(), 2, "{pending:?}");
    assert_eq!(
        admin.get(&format!("/webhooks/{id}/deliveries?limit=1")).await.body["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Dead letters, as the worker records them after the last retry, are queued again.
    let now = s.clock.now();
    let claimed = s.store.claim(now, time::Duration::minutes(1), 100).await.unwrap();
    for c in &claimed {
        s.store
            .complete(
                c.id,
                now,
                Outcome::Dead { status: Some(503), error: "HTTP 503".into() },
                time::Duration::days(5),
            )
            .await
            .unwrap();
    }
    let dead = admin.get(&format!("/webhooks/{id}/deliveries?state=dead")).await;
    let dead = dead.body["deliveries"].as_array().unwrap().len();
    assert!(dead >= 2, "the ping and the first replay of seq 1 are separate queues: {dead}");
    assert_eq!(admin.get(&format!("/webhooks/{id}")).await.body["dead"], dead);
    let r = admin.post(&format!("/webhooks/{id}/replay"), json!({"dead_letters": true})).await;
    assert_eq!(r.body, json!({"queued": dead}), "{r:?}");
    assert_eq!(
        admin.get(&format!("/webhooks/{id}/deliveries?state=dead")).await.body,
        json!({"deliveries": []})
    );

    // Delete: 204, then the id is unknown everywhere.
    let r = admin.delete(&format!("/webhooks/{id}")).await;
    assert_eq!((r.status, &r.body), (StatusCode::NO_CONTENT, &Value::Null), "{r:?}");
    refused(&admin.get(&format!("/webhooks/{id}")).await, 404, "no webhook");
    refused(&admin.delete(&format!("/webhooks/{id}")).await, 404, "no webhook");
    refused(&admin.get(&format!("/webhooks/{id}/deliveries")).await, 404, "no webhook");
    assert_eq!(admin.get("/webhooks").await.body, json!({"webhooks": []}));
}

backend_tests! {
    async fn a_nats_sink(backend) {
        a_nats_sink_on(backend).await;
    }
}

async fn a_nats_sink_on(backend: Backend) {
    let s = TestServer::start_with(backend).await;
    // A tenant admin may not aim scimd at a broker: sinks are the operator's.
    let tenant_admin = Admin::of_default(&s).await;
    let r = tenant_admin.post("/sinks", json!({"url": "nats://nats.internal:4222"})).await;
    refused(&r, 403, "operator");
    let operator = s.token_for(&s.tenant, Scopes::all(), true).await;
    let admin = Admin { s: &s, token: operator, slug: "default".into() };
    let r = admin.post("/sinks", json!({"url": "nats://nats.internal:4222", "types": ["group.*"]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    no_secret(&r);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!((&r.body["kind"], &r.body["subject"]), (&json!("sink"), &json!("scimd.{tenant}.{type}")));
    assert_eq!(r.header("location"), Some(format!("/admin/v1/tenants/default/sinks/{id}").as_str()));
    let list = admin.get("/sinks").await;
    assert_eq!(list.body["sinks"][0]["id"], id.as_str());
    assert_eq!(admin.get("/webhooks").await.body, json!({"webhooks": []}), "a sink is not a webhook");
    assert_eq!(admin.patch(&format!("/sinks/{id}"), json!({"enabled": false})).await.body["enabled"], false);
    assert_eq!(admin.get(&format!("/sinks/{id}")).await.body["enabled"], false);

    // A user event does not match `group.*`: nothing to replay.
    user(&s, "u@example.com").await;
    s.store.fan_out(s.clock.now(), 100).await.unwrap();
    let r = admin.post(&format!("/sinks/{id}/replay"), json!({"from": "1"})).await;
    assert_eq!((r.status, &r.body), (StatusCode::ACCEPTED, &json!({"queued": 0})), "{r:?}");
    assert_eq!(admin.get(&format!("/sinks/{id}/deliveries")).await.body, json!({"deliveries": []}));

    // Webhook-only routes are not there for sinks; a sink id under /webhooks is unknown.
    assert_eq!(admin.post(&format!("/sinks/{id}/rotate"), json!({})).await.status, 404);
    assert_eq!(admin.post(&format!("/sinks/{id}/test"), json!({})).await.status, 404);
    refused(&admin.get(&format!("/webhooks/{id}")).await, 404, "no webhook");
    refused(&admin.post(&format!("/webhooks/{id}/rotate"), json!({})).await, 404, "no webhook");

    for (body, needle) in [
        (json!({"url": "http://nats:4222"}), "scheme"),
        (json!({"url": "nats://u:pw@nats:4222"}), "credentials"),
        (json!({"url": "nats://nats:4222", "subject": "a.>"}), "wildcard"),
        (json!({"url": "nats://nats:4222", "types": ["users.*"]}), "users.*"),
        (json!({"url": "nats://nats:4222", "secret": "x"}), "unknown field"),
    ] {
        refused(&admin.post("/sinks", body.clone()).await, 400, needle);
    }
    assert_eq!(admin.delete(&format!("/sinks/{id}")).await.status, 204);
    refused(&admin.delete(&format!("/sinks/{id}")).await, 404, "no sink");
}

backend_tests! {
    async fn another_tenants_endpoints_are_not_found(backend) {
        another_tenants_endpoints_are_not_found_on(backend).await;
    }
}

async fn another_tenants_endpoints_are_not_found_on(backend: Backend) {
    let s = TestServer::start_with(backend).await;
    let admin = Admin::of_default(&s).await;
    let (id, _) = admin.webhook(json!({"url": "https://hooks.example.com/a"})).await;
    let operator =
        Admin { s: &s, token: s.token_for(&s.tenant, Scopes::all(), true).await, slug: "default".into() };
    let sink = operator.post("/sinks", json!({"url": "nats://n:4222"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = Admin::of(&s, "other").await;
    assert_eq!(other.get("/webhooks").await.body, json!({"webhooks": []}));
    assert_eq!(other.get("/sinks").await.body, json!({"sinks": []}));
    for path in [format!("/webhooks/{id}"), format!("/webhooks/{id}/deliveries"), format!("/sinks/{sink}")] {
        refused(&other.get(&path).await, 404, "in this tenant");
    }
    refused(&other.patch(&format!("/webhooks/{id}"), json!({"enabled": false})).await, 404, "no webhook");
    refused(&other.post(&format!("/webhooks/{id}/rotate"), json!({})).await, 404, "no webhook");
    refused(&other.post(&format!("/webhooks/{id}/test"), json!({})).await, 404, "no webhook");
    refused(
        &other.post(&format!("/webhooks/{id}/replay"), json!({"dead_letters": true})).await,
        404,
        "no webhook",
    );
    refused(&other.delete(&format!("/webhooks/{id}")).await, 404, "no webhook");
    refused(&other.delete(&format!("/sinks/{sink}")).await, 404, "no sink");
    // Malformed ids are unknown ids.
    refused(&admin.get("/webhooks/not-a-uuid").await, 404, "no webhook");

    // What it tried changed nothing.
    let mine = admin.get(&format!("/webhooks/{id}")).await;
    assert_eq!((&mine.body["enabled"], &mine.body["pending"]), (&json!(true), &json!(0)));
    // The other tenant's token cannot name this tenant; a SCIM token has no admin scope.
    let r = s.send(s.client.get(s.url("/admin/v1/tenants/default/webhooks")).bearer_auth(&other.token)).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = s.send(s.client.get(s.url("/admin/v1/tenants/default/webhooks")).bearer_auth(&s.token)).await;
    assert_eq!(r.status, 403, "{r:?}");
    // An operator token reaches every tenant's.
    let operator = s.token_for(&s.tenant, Scopes::all(), true).await;
    let r = s.send(s.client.get(s.url("/admin/v1/tenants/other/webhooks")).bearer_auth(&operator)).await;
    assert_eq!(r.body, json!({"webhooks": []}), "{r:?}");
}

backend_tests! {
    async fn bad_input_is_400_with_a_detail(backend) {
        bad_input_is_400_with_a_detail_on(backend).await;
    }
}

async fn bad_input_is_400_with_a_detail_on(backend: Backend) {
    let s = TestServer::start_with(backend).await;
    let admin = Admin::of_default(&s).await;
    for (body, needle) in [
        (json!({"url": "hooks.example.com/x"}), "not an absolute URL"),
        (json!({"url": "ftp://hooks.example.com/"}), "http or https"),
        (json!({"url": "https://bob@hooks.example.com/"}), "credentials"),
        (json!({"url": "https://hooks.example.com/#x"}), "fragment"),
        (json!({"url": "http://169.254.169.254/latest/meta-data/"}), "metadata"),
        (json!({"url": "http://10.1.2.3/"}), "RFC 1918"),
        (json!({"url": "https://h.example/", "types": ["user.nope"]}), "user.deactivated"),
        (json!({"url": "https://h.example/", "types": []}), "no event types"),
        (json!({"url": "https://h.example/", "format": "xml"}), "standard"),
        (json!({"url": "https://h.example/", "audience": "app"}), "RFC 8417"),
        (json!({"url": "https://h.example/", "secret": "whsec_mine"}), "unknown field"),
        (json!({"types": ["*"]}), "missing field `url`"),
        (json!(["https://h.example/"]), "not a webhook"),
    ] {
        let r = admin.post("/webhooks", body.clone()).await;
        refused(&r, 400, needle);
        no_secret(&r);
    }
    let r = s
        .send(
            s.client
                .post(s.url("/admin/v1/tenants/default/webhooks"))
                .bearer_auth(&admin.token)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    refused(&r, 400, "not a webhook");
    // `types: []` is refused, but no `types` is every type.
    let r = admin
        .post("/webhooks", json!({"url": "https://h.example/", "format": "set", "audience": "app"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["types"], &r.body["audience"]),
        (201, &json!(["*"]), &json!("app"))
    );
    let id = r.body["id"].as_str().unwrap().to_owned();

    // Private addresses: for operators, on request.
    refused(
        &admin.post("/webhooks", json!({"url": "http://127.0.0.1:9/", "allow_private": true})).await,
        403,
        "operator",
    );
    let operator = s.token_for(&s.tenant, Scopes::all(), true).await;
    let op = Admin { s: &s, token: operator, slug: "default".into() };
    assert_eq!(
        op.post("/webhooks", json!({"url": "http://127.0.0.1:9/", "allow_private": true})).await.status,
        201
    );
    refused(&op.post("/webhooks", json!({"url": "http://127.0.0.1:9/"})).await, 400, "loopback");
    refused(
        &op.post("/webhooks", json!({"url": "http://169.254.169.254/", "allow_private": true})).await,
        400,
        "metadata",
    );

    for body in [json!({}), json!({"enabled": "yes"}), json!({"enabled": true, "url": "x"})] {
        refused(&admin.patch(&format!("/webhooks/{id}"), body).await, 400, "enabled");
    }
    refused(
        &admin.post(&format!("/webhooks/{id}/rotate"), json!({"grace_seconds": 31 * 86_400})).await,
        400,
        "at most 30 days",
    );
    refused(
        &admin.post(&format!("/webhooks/{id}/rotate"), json!({"grace_seconds": -1})).await,
        400,
        "grace_seconds",
    );
    for body in [
        json!({}),
        json!({"from": -1}),
        json!({"from": "x"}),
        json!({"since": "yesterday"}),
        json!({"dead_letters": false}),
        json!({"from": 1, "since": "2026-01-01T00:00:00Z"}),
    ] {
        refused(&admin.post(&format!("/webhooks/{id}/replay"), body.clone()).await, 400, "");
    }
    for q in ["state=failed", "limit=0", "limit=1001", "cursor=1"] {
        refused(&admin.get(&format!("/webhooks/{id}/deliveries?{q}")).await, 400, "");
    }

    // A replay from before what retention kept: 410 naming the oldest seq held.
    user(&s, "a@example.com").await;
    user(&s, "b@example.com").await;
    s.store.fan_out(s.clock.now(), 100).await.unwrap();
    s.store.prune_events(s.clock.now() + time::Duration::seconds(1), 1).await.unwrap();
    refused(
        &admin.post(&format!("/webhooks/{id}/replay"), json!({"from": 1})).await,
        410,
        "oldest held is seq 2",
    );
    assert_eq!(
        admin.post(&format!("/webhooks/{id}/replay"), json!({"from": 2})).await.body,
        json!({"queued": 1})
    );
}
