//! The provisioning log end to end (issue 5): every SCIM request recorded with its credential,
//! detected client, status, error and redacted body, read back through the admin API.

use std::time::Duration;

use serde_json::{Value, json};

use scimd_http::Scopes;
use scimd_testkit::{TestServer, backend_tests};

/// Reads the log until it holds at least `n` records (the writer batches in the background; this
/// waits for it with a generous bound, it does not time anything).
async fn entries(s: &TestServer, admin: &str, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let r = s
            .send(s.client.get(s.url(&format!("/admin/v1/tenants/default/logs{query}"))).bearer_auth(admin))
            .await;
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
    // Unauthenticated under the tenant URL: recorded for the tenant too.
    let r = s
        .send(s.client.get(s.url("/tenants/default/scim/v2/Users")).header("authorization", "non-token"))
        .await;
    assert_eq!(r.status, 401);

    let all = entries(&s, &admin, "", 4).await;
    assert_eq!(all.len(), 4, "admin API calls are not SCIM requests: {all:#?}");
    // Newest first.
    let (unauth, patched, conflict, create) = (&all[0], &all[1], &all[2], &all[3]);
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
    assert_eq!(unauth["status"], 401);
    assert!(unauth["credential_id"].is_null());

    // Filters and paging.
    let errors = entries(&s, &admin, "?status=4xx", 2).await;
    assert_eq!(errors.len(), 2);
    let page = entries(&s, &admin, "?count=2", 2).await;
    assert_eq!(page.len(), 2);
    let r = s.send(s.client.get(s.url("/admin/v1/tenants/default/logs?count=2")).bearer_auth(&admin)).await;
    let cursor = r.body["nextCursor"].as_str().unwrap();
    let older = entries(&s, &admin, &format!("?count=2&cursor={cursor}"), 2).await;
    assert_eq!(older[0]["id"], conflict["id"]);
    let r =
        s.send(s.client.get(s.url("/admin/v1/tenants/default/logs?status=abc")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 400);
    // Reading the log needs the admin scope.
    let r = s.send(s.client.get(s.url("/admin/v1/tenants/default/logs")).bearer_auth(&s.token)).await;
    assert_eq!(r.status, 403);
}
}
