//! SCIM endpoints end to end (RFC 7644), including what Entra ID and Okta send
//! (docs/idp-compatibility.md).

use reqwest::Method;
use serde_json::{Value, json};

use scimd_testkit::{TestServer, backend_tests};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user(name: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": name,
        "externalId": format!("ext-{name}"),
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}],
        "active": true,
    })
}

async fn create_user(s: &TestServer, name: &str) -> Value {
    let r = s.post("/scim/v2/Users", &user(name)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn assert_error(r: &scimd_testkit::TestResponse, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["status"], json!(status.to_string()), "status is a string (RFC 7644 §3.12)");
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.body);
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{}", r.body);
}

backend_tests! {
async fn create_returns_201_with_location_etag_and_meta(backend) {
    let s = TestServer::start_with(backend).await;
    let r = s.post("/scim/v2/Users", &user("bjensen")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let location = r.body["meta"]["location"].as_str().unwrap();
    assert_eq!(r.header("location"), Some(location));
    assert_eq!(location, s.url(&format!("/scim/v2/Users/{}", id(&r.body))));
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(r.header("content-type").unwrap().starts_with("application/scim+json"));
    assert_eq!(r.body["name"]["givenName"], "Barbara");
    assert!(r.body.get("password").is_none());

    let got = s.get(&format!("/scim/v2/Users/{}", id(&r.body))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["userName"], "bjensen");
}
}

backend_tests! {
async fn password_is_accepted_and_never_returned(backend) {
    let s = TestServer::start_with(backend).await;
    let mut body = user("pw");
    body["password"] = json!("t1meMachine!");
    let r = s.post("/scim/v2/Users", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.get("password").is_none());
    let got = s.get(&format!("/scim/v2/Users/{}?attributes=password,userName", id(&r.body))).await;
    assert!(got.body.get("password").is_none(), "{}", got.body);
}
}

backend_tests! {
async fn duplicate_user_name_is_409_uniqueness_case_insensitively(backend) {
    let s = TestServer::start_with(backend).await;
    create_user(&s, "bjensen").await;
    let r = s.post("/scim/v2/Users", &user("BJensen")).await;
    assert_error(&r, 409, Some("uniqueness"));
    // docs/idp-compatibility.md §2.2: the filter must find what the create collides with.
    let found = s.get("/scim/v2/Users?filter=userName%20eq%20%22BJENSEN%22").await;
    assert_eq!(found.body["totalResults"], 1);
}
}

backend_tests! {
async fn filters_are_answered_and_empty_results_are_200(backend) {
    let s = TestServer::start_with(backend).await;
    let a = create_user(&s, "alice").await;
    create_user(&s, "bob").await;
    let cases = [
        ("userName eq \"ALICE\"", 1),
        ("externalId eq \"ext-alice\"", 1),
        ("externalId eq ext-alice", 1), // Entra's tutorial sends it unquoted
        ("emails[type eq \"work\" and value co \"alice\"]", 1),
        ("emails[type eq \"work\"].value eq \"alice@example.com\"", 1),
        ("userName sw \"a\" or userName sw \"b\"", 2),
        ("not (userName eq \"alice\")", 1),
        ("active eq true", 2),
        ("userName eq \"nobody\"", 0),
    ];
    for (filter, expected) in cases {
        let r = s
            .send(
                s.request(Method::GET, "/scim/v2/Users")
                    .query(&[("filter", filter), ("aadOptscim062020", "")]),
            )
            .await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(r.body["totalResults"], expected, "{filter}: {}", r.body);
        assert_eq!(r.body["Resources"].as_array().unwrap().len(), expected as usize, "{filter}");
    }
    let r = s
        .send(
            s.request(Method::GET, "/scim/v2/Users")
                .query(&[("filter", format!("id eq \"{}\"", id(&a))), ("attributes", "id".into())]),
        )
        .await;
    assert_eq!(r.body["Resources"][0], json!({"id": id(&a), "schemas": [USER]}), "{}", r.body);
}
}

backend_tests! {
async fn bad_input_gets_scim_errors(backend) {
    let s = TestServer::start_with(backend).await;
    let r =
        s.send(s.request(Method::GET, "/scim/v2/Users").query(&[("filter", "userName equals \"x\"")])).await;
    assert_error(&r, 400, Some("invalidFilter"));
    assert!(r.body["detail"].as_str().unwrap().contains("column"), "{}", r.body);
    let deep = format!("{}userName eq \"x\"{}", "(".repeat(1000), ")".repeat(1000));
    let r = s.send(s.request(Method::GET, "/scim/v2/Users").query(&[("filter", deep.as_str())])).await;
    assert_error(&r, 400, Some("invalidFilter"));
    let r =
        s.send(s.request(Method::GET, "/scim/v2/Users").query(&[("filter", "nosuchattr eq \"x\"")])).await;
    assert_error(&r, 400, Some("invalidFilter"));

    let r = s
        .send(
            s.request(Method::POST, "/scim/v2/Users")
                .header("content-type", "application/scim+json")
                .body("{not json"),
        )
        .await;
    assert_error(&r, 400, Some("invalidSyntax"));
    let r = s.post("/scim/v2/Users", &json!({"not": "a scim resource"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.post("/scim/v2/Users", &json!({"schemas": [USER], "displayName": "no userName"})).await;
    assert_error(&r, 400, Some("invalidValue"));

    let u = create_user(&s, "carol").await;
    let path = format!("/scim/v2/Users/{}", id(&u));
    let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "frobnicate", "path": "active", "value": false}]})).await;
    assert_error(&r, 400, Some("invalidSyntax"));
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "meta", "value": {}}]}),
        )
        .await;
    assert_error(&r, 400, Some("mutability"));
    // Nothing was half-written.
    let got = s.get(&path).await;
    assert_eq!(got.body["meta"]["version"], "W/\"1\"");

    let r = s.get("/scim/v2/Users/00000000-0000-7000-8000-000000000000").await;
    assert_error(&r, 404, None);
}
}

backend_tests! {
async fn entra_and_okta_patches_deactivate_and_rename(backend) {
    let s = TestServer::start_with(backend).await;
    let u = create_user(&s, "dave").await;
    let path = format!("/scim/v2/Users/{}", id(&u));
    // Entra without aadOptscim062020: capitalised op, string boolean.
    let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    // Okta: no-path replace.
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]}),
        )
        .await;
    assert_eq!(r.body["active"], true);
    // Entra with the flag: one no-path replace with dotted and URN keys.
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {
                "name.givenName": "David",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Eng",
            }}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"]["givenName"], "David");
    assert_eq!(r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Eng");
    // A value-path replace that matches nothing creates the element (docs/idp-compatibility.md §5).
    let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]})).await;
    assert_eq!(r.body["phoneNumbers"][0], json!({"type": "mobile", "value": "+1 555"}), "{}", r.body);
    // A no-op PATCH keeps the version.
    let before = r.body["meta"]["version"].clone();
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": true}]}),
        )
        .await;
    assert_eq!(r.body["meta"]["version"], before);
}
}

backend_tests! {
async fn groups_membership_by_rows(backend) {
    let s = TestServer::start_with(backend).await;
    let a = id(&create_user(&s, "ann").await);
    let b = id(&create_user(&s, "ben").await);
    let r = s.post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "Eng", "members": [{"value": a}, {"value": "no-such-user"}]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1, "unknown ids are skipped: {}", r.body);
    assert_eq!(r.body["members"][0]["display"], "ann");
    let g = id(&r.body);
    let path = format!("/scim/v2/Groups/{g}");

    let dup = s.post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "ENG"})).await;
    assert_error(&dup, 409, Some("uniqueness"));

    // Okta: add with display; adding an existing member is a no-op. A Group PATCH answers 204 by
    // default (tenant policy patch_response = auto).
    let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": b, "display": "ben"}, {"value": a}]}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(&path).await.body["members"].as_array().unwrap().len(), 2);
    // A user's groups are computed from the rows, and filterable.
    let u = s.get(&format!("/scim/v2/Users/{b}")).await;
    assert_eq!(u.body["groups"][0]["value"], g);
    let r = s
        .send(
            s.request(Method::GET, "/scim/v2/Users").query(&[("filter", format!("groups.value eq \"{g}\""))]),
        )
        .await;
    assert_eq!(r.body["totalResults"], 2, "{}", r.body);
    // Entra flag off: remove members with a value array removes only those.
    let r = s.patch(&format!("{path}?excludedAttributes=members"), &json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": a}]}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&path).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["members"][0]["value"], b);
    // Entra with the flag: remove by filter; Okta: replace members [] empties.
    let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{b}\"]")}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&path).await;
    assert!(r.body.get("members").is_none_or(|m| m.as_array().unwrap().is_empty()), "{}", r.body);
    s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": a}]}]})).await;
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "members", "value": []}]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&path).await;
    assert!(r.body.get("members").is_none_or(|m| m.as_array().unwrap().is_empty()), "{}", r.body);
    // Okta group rename object.
    let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"id": g, "displayName": "Engineering"}}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.get(&path).await.body["displayName"], "Engineering");
    // Entra's membership check.
    s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": a}]}]})).await;
    let r = s
        .send(s.request(Method::GET, "/scim/v2/Groups").query(&[
            ("filter", format!("id eq \"{g}\" and members eq \"{a}\"")),
            ("attributes", "id".into()),
        ]))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    // Deleting a user removes its memberships.
    assert_eq!(s.delete(&format!("/scim/v2/Users/{a}")).await.status, 204);
    let r = s.get(&path).await;
    assert!(r.body.get("members").is_none_or(|m| m.as_array().unwrap().is_empty()), "{}", r.body);
}
}

backend_tests! {
async fn concurrent_member_patches_lose_nothing(backend) {
    let s = TestServer::start_with(backend).await;
    let g = s.post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "all"})).await;
    let path = format!("/scim/v2/Groups/{}", id(&g.body));
    let mut ids = Vec::new();
    for i in 0..32 {
        ids.push(id(&create_user(&s, &format!("c{i}")).await));
    }
    // All 32 requests in flight at once, each on its own task.
    let mut tasks = tokio::task::JoinSet::new();
    for m in ids {
        let request = s
            .request(Method::PATCH, &path)
            .header("content-type", "application/scim+json")
            .json(&json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": m}]}]}));
        tasks.spawn(async move { request.send().await.unwrap().status() });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 204);
    }
    let r = s.get(&path).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 32);
}
}

backend_tests! {
async fn put_replaces_and_preconditions_are_checked(backend) {
    let s = TestServer::start_with(backend).await;
    let u = create_user(&s, "erin").await;
    let path = format!("/scim/v2/Users/{}", id(&u));
    // Okta echoes read-only fields (id, meta) in its full-representation PUT.
    let mut body = u.clone();
    body["displayName"] = json!("Erin");
    body.as_object_mut().unwrap().remove("name");
    let r = s
        .send(
            s.request(Method::PUT, &path)
                .header("content-type", "application/scim+json")
                .header("if-match", "W/\"1\"")
                .json(&body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Erin");
    assert!(r.body.get("name").is_none(), "PUT clears what it omits: {}", r.body);
    let r = s
        .send(
            s.request(Method::PUT, &path)
                .header("content-type", "application/scim+json")
                .header("if-match", "W/\"1\"")
                .json(&body),
        )
        .await;
    assert_error(&r, 412, None);
    let r = s.send(s.request(Method::GET, &path).header("if-none-match", "W/\"2\"")).await;
    assert_eq!(r.status, 304);
    let r = s.send(s.request(Method::DELETE, &path).header("if-match", "W/\"1\"")).await;
    assert_error(&r, 412, None);
    let r = s.delete(&path).await;
    assert_eq!(r.status, 204);
    assert_error(&s.get(&path).await, 404, None);
}
}

backend_tests! {
async fn paging_by_index_and_cursor(backend) {
    let s = TestServer::start_with(backend).await;
    for i in 0..5 {
        create_user(&s, &format!("p{i}")).await;
    }
    // Okta's test-connection probe.
    let r = s.get("/scim/v2/Users?startIndex=1&count=2").await;
    assert_eq!(
        (r.body["totalResults"].clone(), r.body["itemsPerPage"].clone(), r.body["startIndex"].clone()),
        (json!(5), json!(2), json!(1))
    );
    let r = s.get("/scim/v2/Users?startIndex=0&count=0").await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));
    let r = s.get("/scim/v2/Users?sortBy=userName&sortOrder=descending&count=1").await;
    assert_eq!(r.body["Resources"][0]["userName"], "p4", "{}", r.body);

    let mut names = Vec::new();
    let mut next = Some(String::new());
    while let Some(cursor) = next {
        let r = s
            .send(
                s.request(Method::GET, "/scim/v2/Users")
                    .query(&[("cursor", cursor.as_str()), ("count", "2")]),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        names.extend(
            r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_owned()),
        );
        next = r.body["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
    let r = s.post("/scim/v2/Users/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"p\"", "count": 2, "attributes": ["userName"]})).await;
    assert_eq!(r.body["totalResults"], 5, "{}", r.body);
    assert!(r.body["Resources"][0].get("emails").is_none());
    let r = s.post("/scim/v2/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"p1\""})).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
}
}

backend_tests! {
async fn discovery_endpoints_tell_the_truth_and_refuse_writes(backend) {
    let s = TestServer::start_with(backend).await;
    let r = s.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["sort"]["supported"], true);
    let r = s.get("/scim/v2/ResourceTypes").await;
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(s.get("/scim/v2/ResourceTypes/User").await.body["endpoint"], "/Users");
    let r = s.get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(r.body["id"], USER);
    assert_error(&s.get("/scim/v2/Schemas/urn:nope").await, 404, None);
    let r = s.post("/scim/v2/ServiceProviderConfig", &json!({})).await;
    assert_eq!(r.status, 405, "{}", r.body);
}
}

backend_tests! {
async fn tenant_prefix_and_scopes(backend) {
    let s = TestServer::start_with(backend).await;
    let u = create_user(&s, "frank").await;
    let r = s.get(&format!("/tenants/default/scim/v2/Users/{}", id(&u))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["meta"]["location"].as_str().unwrap().contains("/tenants/default/scim/v2/Users/"));
    let read_only = s.token(&["users:read"]).await;
    let r = s
        .send(
            s.client
                .post(s.url("/scim/v2/Users"))
                .bearer_auth(&read_only)
                .header("content-type", "application/scim+json")
                .json(&user("gina")),
        )
        .await;
    assert_error(&r, 403, None);
    let r = s.send(s.client.get(s.url("/scim/v2/Users")).bearer_auth(&read_only)).await;
    assert_eq!(r.status, 200);
    let r = s.send(s.client.get(s.url("/scim/v2/Groups")).bearer_auth(&read_only)).await;
    assert_error(&r, 403, None);
}
}

backend_tests! {
/// RFC 7643 §4.1.2: every user of a listed page carries its own `groups` (read for the whole page
/// at once), and a user in no group carries none.
async fn a_page_of_users_carries_each_users_groups(backend) {
    let s = TestServer::start_with(backend).await;
    let a = id(&create_user(&s, "a@example.com").await);
    let b = id(&create_user(&s, "b@example.com").await);
    let _c = id(&create_user(&s, "c@example.com").await);
    let g1 = s.post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "one", "members": [{"value": a}, {"value": b}]})).await;
    let g2 = s.post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "two", "members": [{"value": b}]})).await;
    let (g1, g2) = (id(&g1.body), id(&g2.body));
    let page = s.get("/scim/v2/Users?startIndex=1&count=10").await;
    assert_eq!(page.status, 200);
    let groups_of = |name: &str| -> Vec<String> {
        let user = page.body["Resources"].as_array().unwrap().iter().find(|u| u["userName"] == name).unwrap();
        let mut ids: Vec<String> = user.get("groups").and_then(Value::as_array).map_or_else(Vec::new, |gs| {
            gs.iter().map(|g| g["value"].as_str().unwrap().to_owned()).collect()
        });
        ids.sort();
        ids
    };
    assert_eq!(groups_of("a@example.com"), vec![g1.clone()]);
    let mut both = vec![g1, g2];
    both.sort();
    assert_eq!(groups_of("b@example.com"), both);
    assert!(groups_of("c@example.com").is_empty());
}
}

backend_tests! {
async fn patch_add_does_not_duplicate_a_value_in_another_case(backend) {
    // RFC 7644 §3.5.2.1 and RFC 7643 §2.2: `emails.value` is caseExact false.
    let s = TestServer::start_with(backend).await;
    let u = create_user(&s, "b").await;
    let path = format!("/scim/v2/Users/{}", id(&u));
    let add = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails", "value": [{"value": "B@EXAMPLE.com"}]}]});
    let r = s.patch(&path, &add).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["emails"].as_array().map(Vec::len), Some(1), "{}", r.body);
    let r = s.get("/scim/v2/Users?filter=emails.value%20eq%20%22b%40example.com%22").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
}
}

backend_tests! {
async fn patch_replace_of_an_element_value_with_empty_removes_the_element(backend) {
    // RFC 7644 §3.5.2.3, RFC 7643 §2.4/§2.5: an email without its address is no email.
    let s = TestServer::start_with(backend).await;
    let u = create_user(&s, "e").await;
    let path = format!("/scim/v2/Users/{}", id(&u));
    let op = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value", "value": ""}]});
    let r = s.patch(&path, &op).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("emails").is_none(), "{}", r.body);
    assert!(s.get(&path).await.body.get("emails").is_none());
}
}

backend_tests! {
async fn blank_user_names_trailing_spaces_and_control_characters_are_refused_on_every_write(backend) {
    // RFC 7643 §4.1.1 (a non-empty userName), RFC 8264 §9.11 (no control characters).
    let s = TestServer::start_with(backend).await;
    let blank = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "   "})).await;
    assert_error(&blank, 400, Some("invalidValue"));
    assert!(blank.body["detail"].as_str().unwrap().contains("userName"), "{}", blank.body);
    let first = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "n6@x"})).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let spaced = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "n6@x "})).await;
    assert_error(&spaced, 409, Some("uniqueness"));
    let nul = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "n\u{0}7"})).await;
    assert_error(&nul, 400, Some("invalidValue"));

    let path = format!("/scim/v2/Users/{}", id(&first.body));
    let patches = [
        json!({"op": "replace", "path": "userName", "value": " \t "}),
        json!({"op": "replace", "path": "displayName", "value": "a\u{1b}[2J"}),
        json!({"op": "replace", "value": {"name": {"givenName": "x\u{9c}"}}}),
        json!({"op": "add", "path": "emails", "value": [{"value": "a\u{7f}@x"}]}),
    ];
    for op in patches {
        let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [op.clone()]})).await;
        assert_error(&r, 400, Some("invalidValue"));
    }
    let put = s.put(&path, &json!({"schemas": [USER], "userName": "n6@x", "nickName": "\u{0}"})).await;
    assert_error(&put, 400, Some("invalidValue"));
    assert!(put.body["detail"].as_str().unwrap().contains("nickName"), "{}", put.body);
    // Trimmed on write: PUT with spaces around keeps the same userName.
    let put = s.put(&path, &json!({"schemas": [USER], "userName": "  n6@x  "})).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["userName"], "n6@x");
}
}

fn patch_ops(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

fn emails(n: usize, prefix: &str) -> Value {
    Value::Array((0..n).map(|i| json!({"value": format!("{prefix}{i}@a.example")})).collect())
}

/// Sends one request with `If-Match: if_match` and a JSON body (none for DELETE).
async fn conditional(
    s: &TestServer,
    method: Method,
    path: &str,
    if_match: &str,
    body: Option<&Value>,
) -> u16 {
    let mut req = s.request(method, path).header("if-match", if_match);
    if let Some(body) = body {
        req = req.header("content-type", "application/scim+json").json(body);
    }
    s.send(req).await.status.as_u16()
}

backend_tests! {
/// Item 1 of the hardening issue: one request's work is bounded. More PATCH operations, or more
/// values in one multi-valued attribute (other than `members`), than the server's limits is 413
/// naming the limit, whichever way the request writes the values — and the values limit holds
/// under concurrency, since each PATCH is checked on the document it would store.
async fn patch_operations_and_attribute_values_are_bounded(backend) {
    let config = scimd_http::HttpConfig { max_patch_operations: 5, max_attribute_values: 3, ..Default::default() };
    let s = TestServer::start_opts(scimd_testkit::Options { backend, config, ..Default::default() }).await;
    let too_many = |r: &scimd_testkit::TestResponse, limit: &str| {
        assert_error(r, 413, None);
        assert!(r.body["detail"].as_str().unwrap().contains(limit), "{}", r.body);
    };
    // POST and PUT.
    let mut body = user("lim");
    body["emails"] = emails(4, "p");
    too_many(&s.post("/scim/v2/Users", &body).await, "max_attribute_values");
    body["emails"] = emails(2, "p");
    let u = s.post("/scim/v2/Users", &body).await;
    assert_eq!(u.status, 201, "{}", u.body);
    let path = format!("/scim/v2/Users/{}", id(&u.body));
    let mut put = u.body.clone();
    put["emails"] = emails(4, "q");
    too_many(&s.put(&path, &put).await, "max_attribute_values");
    // PATCH: too many operations; a value with too many values, with and without a path.
    let op = json!({"op": "replace", "path": "nickName", "value": "n"});
    too_many(&s.patch(&path, &patch_ops(json!([op, op, op, op, op, op]))).await, "max_patch_operations");
    assert_eq!(s.patch(&path, &patch_ops(json!([op, op, op, op, op]))).await.status, 200);
    too_many(&s.patch(&path, &patch_ops(json!([{"op": "add", "path": "emails", "value": emails(4, "r")}]))).await, "max_attribute_values");
    too_many(&s.patch(&path, &patch_ops(json!([{"op": "replace", "value": {"emails": emails(4, "r")}}]))).await, "max_attribute_values");
    // Value filters that create elements: the result is what counts.
    let create = |v: &str| json!({"op": "replace", "path": format!("emails[value eq \"{v}\"].type"), "value": "work"});
    too_many(&s.patch(&path, &patch_ops(json!([create("f1@a.example"), create("f2@a.example")]))).await, "max_attribute_values");
    assert_eq!(s.get(&path).await.body["emails"].as_array().unwrap().len(), 2, "nothing half-written");

    // Eight concurrent PATCHes each add one address to a user that has two: only one fits.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let req = s
            .request(Method::PATCH, &path)
            .header("content-type", "application/scim+json")
            .json(&patch_ops(json!([{"op": "add", "path": "emails", "value": [{"value": format!("c{i}@a.example")}]}])));
        tasks.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 413, 413, 413, 413, 413, 413, 413]);
    assert_eq!(s.get(&path).await.body["emails"].as_array().unwrap().len(), 3);

    // Group members are rows, not values: not bounded by it.
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(json!({"value": id(&create_user(&s, &format!("gm{i}")).await)}));
    }
    let g = s.post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "big", "members": ids})).await;
    assert_eq!(g.status, 201, "{}", g.body);
}
}

backend_tests! {
async fn unquoted_number_literals_compare_as_their_text_on_string_attributes(backend) {
    // RFC 7644 §3.4.2.2 compValue is a JSON number; against a string attribute (externalId,
    // RFC 7643 §3.1) scimd compares the literal's text as written, never a float's rounding.
    let s = TestServer::start_with(backend).await;
    for ext in ["12345678901234567890123", "1.50"] {
        let body = json!({"schemas": [USER], "userName": format!("n{ext}"), "externalId": ext});
        assert_eq!(s.post("/scim/v2/Users", &body).await.status, 201);
    }
    for (filter, want) in [
        ("externalId eq 12345678901234567890123", "12345678901234567890123"),
        ("externalId eq 1.50", "1.50"),
    ] {
        let r = s.get(&format!("/scim/v2/Users?filter={}", filter.replace(' ', "%20"))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["totalResults"], 1, "{filter}: {}", r.body);
        assert_eq!(r.body["Resources"][0]["externalId"], want);
    }
    let r = s.get("/scim/v2/Users?filter=externalId%20eq%201.5").await;
    assert_eq!(r.body["totalResults"], 0, "1.5 is not the text 1.50: {}", r.body);
}
}

backend_tests! {
/// PATCH is computed from a read outside the store's write and written on the version it
/// read; concurrent PATCHes of one user are each applied (a lost race is recomputed), none lost.
async fn concurrent_patches_of_one_user_are_all_applied(backend) {
    let s = TestServer::start_with(backend).await;
    let path = format!("/scim/v2/Users/{}", id(&create_user(&s, "race").await));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let req = s
            .request(Method::PATCH, &path)
            .header("content-type", "application/scim+json")
            .json(&patch_ops(json!([{"op": "add", "path": "emails", "value": [{"value": format!("r{i}@a.example")}]}])));
        tasks.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let r = s.get(&path).await;
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 9, "{}", r.body);
    assert_eq!(r.header("etag"), Some("W/\"9\""), "one version per PATCH");
}
}

backend_tests! {
/// Item 13: RFC 9110 §13.1.1 — If-Match matches when the current entity-tag is any of those listed.
async fn if_match_matches_any_listed_entity_tag(backend) {
    let s = TestServer::start_with(backend).await;
    let u = create_user(&s, "tags").await;
    let path = format!("/scim/v2/Users/{}", id(&u));
    let patch = patch_ops(json!([{"op": "replace", "path": "nickName", "value": "t"}]));
    assert_eq!(conditional(&s, Method::PATCH, &path, "W/\"9\", W/\"8\"", Some(&patch)).await, 412);
    assert_eq!(conditional(&s, Method::PATCH, &path, "W/\"9\", W/\"1\"", Some(&patch)).await, 200);
    let mut put = s.get(&path).await.body;
    put["nickName"] = json!("u");
    assert_eq!(conditional(&s, Method::PUT, &path, "W/\"7\",W/\"2\"", Some(&put)).await, 200);
    assert_eq!(conditional(&s, Method::DELETE, &path, "W/\"1\", W/\"2\"", None).await, 412);
    assert_eq!(conditional(&s, Method::DELETE, &path, "W/\"1\", W/\"3\"", None).await, 204);
}
}

backend_tests! {
/// Item 17: `active` is defaulted at creation only; a PATCH that removes it leaves it absent, and
/// a PUT that omits it afterwards does not bring it back.
async fn a_removed_active_stays_absent(backend) {
    let s = TestServer::start_with(backend).await;
    let r = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "act"})).await;
    assert_eq!(r.body["active"], true, "defaulted on create");
    let path = format!("/scim/v2/Users/{}", id(&r.body));
    let r = s.patch(&path, &patch_ops(json!([{"op": "remove", "path": "active"}]))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("active").is_none(), "{}", r.body);
    assert!(s.get(&path).await.body.get("active").is_none());
    let r = s.put(&path, &json!({"schemas": [USER], "userName": "act"})).await;
    assert!(r.body.get("active").is_none(), "{}", r.body);
}
}

backend_tests! {
/// Item 1, groups: a one-member PATCH of a large group, as Entra and Okta send it (no
/// `excludedAttributes`), answers 204 by default (RFC 7644 §3.5.2) — never the member list — and
/// concurrent member changes all apply. `patch_response = body` answers the resource, and then
/// `excludedAttributes=members` still leaves the list out.
async fn member_patches_of_a_large_group_do_not_answer_its_members(backend) {
    let s = TestServer::start_with(backend).await;
    let ctx = scimd_store::WriteContext {
        tenant: s.tenant.id,
        actor: "test".into(),
        tenant_slug: "test".into(),
        client: "other".into(),
        request_id: None,
        refuse_unknown_members: false,
    };
    let rs = scimd_schema::ResourceSchema::user();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..600 {
        let (store, ctx) = (s.store.clone(), ctx.clone());
        let doc = json!({"schemas": [USER], "userName": format!("big{i}"), "active": true});
        let search = scimd_store::search_document(&rs, &doc);
        let new = scimd_store::NewResource { kind: scimd_store::ResourceKind::User, doc, search, members: vec![], password_hash: None };
        tasks.spawn(async move { store.create(&ctx, new).await.unwrap().0.id });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    let members: Vec<Value> = ids[..500].iter().map(|m| json!({"value": m})).collect();
    let g = s.post("/scim/v2/Groups?excludedAttributes=members", &json!({"schemas": [GROUP], "displayName": "large", "members": members})).await;
    assert_eq!(g.status, 201, "{}", g.body);
    let path = format!("/scim/v2/Groups/{}", id(&g.body));
    let (a, b) = (&ids[500], &ids[501]);
    for (who, ops) in [
        ("Entra add", json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a}]}])),
        ("Entra remove", json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}])),
        ("Okta add", json!([{"op": "add", "path": "members", "value": [{"value": b, "display": "big501"}]}])),
        ("Okta remove by filter + add", json!([
            {"op": "remove", "path": format!("members[value eq \"{b}\"]")},
            {"op": "add", "path": "members", "value": [{"value": a}]}])),
    ] {
        let r = s.patch(&path, &patch_ops(ops)).await;
        assert_eq!(r.status, 204, "{who}: {}", r.body);
        assert_eq!(r.body, Value::Null, "{who}: no body");
        assert!(r.header("etag").is_some(), "{who}");
    }
    // Twenty concurrent one-member adds: all applied, none refused.
    let mut tasks = tokio::task::JoinSet::new();
    for m in &ids[502..522] {
        let req = s
            .request(Method::PATCH, &path)
            .header("content-type", "application/scim+json")
            .json(&patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": m}]}])));
        tasks.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 204);
    }
    let r = s.get(&path).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 521, "500 + a + 20");

    let mut settings = s.tenant.settings.clone();
    settings.patch_response = scimd_store::PatchResponse::Body;
    s.store.update_tenant_settings(s.tenant.id, &settings).await.unwrap();
    let add = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": b}]}]));
    let r = s.patch(&format!("{path}?excludedAttributes=members"), &add).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("members").is_none() && r.body["displayName"] == "large", "{}", r.body);
    let r = s.patch(&path, &patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}]))).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 521, "body: the whole resource");
}
}

backend_tests! {
async fn me_and_bulk_answer_501_after_authentication(backend) {
    let s = TestServer::start_with(backend).await;
    for prefix in ["/scim/v2", "/tenants/default/scim/v2"] {
        let me = s.get(&format!("{prefix}/Me")).await;
        assert_error(&me, 501, None);
        assert!(me.body["detail"].as_str().unwrap().contains("§3.11"), "{}", me.body);
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []});
        let r = s.post(&format!("{prefix}/Bulk"), &bulk).await;
        assert_error(&r, 501, None);
        assert!(r.body["detail"].as_str().unwrap().contains("§3.7"), "{}", r.body);
        // Authentication first: without a credential it is 401, as every SCIM endpoint.
        let r = s.send(s.client.get(s.url(&format!("{prefix}/Me")))).await;
        assert_eq!(r.status, 401);
        let r = s.send(s.client.post(s.url(&format!("{prefix}/Bulk"))).json(&bulk)).await;
        assert_eq!(r.status, 401);
    }
    let spc = s.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(spc.body["bulk"]["supported"], false);
}
}

backend_tests! {
/// RFC 7644 §3.5.2.2: a PATCH that removes a required attribute, or leaves it without a value, is
/// 400 `mutability` in every spelling (path, URN-qualified path, no-path value, capitalised op,
/// empty or blank value, null), and nothing is written.
async fn a_patch_may_not_unassign_a_required_attribute(backend) {
    let s = TestServer::start_with(backend).await;
    let u = create_user(&s, "required").await;
    let path = format!("/scim/v2/Users/{}", id(&u));
    let g = s.post("/scim/v2/Groups", &json!({"schemas": [GROUP], "displayName": "Staff"})).await;
    assert_eq!(g.status, 201, "{}", g.body);
    let group_path = format!("/scim/v2/Groups/{}", id(&g.body));
    // A blank value is refused before that, as any blank userName is (invalidValue).
    let user_ops = [
        (json!({"op": "remove", "path": "userName"}), "mutability"),
        (json!({"op": "Remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName"}), "mutability"),
        (json!({"op": "replace", "path": "userName", "value": ""}), "mutability"),
        (json!({"op": "replace", "path": "userName", "value": "   "}), "invalidValue"),
        (json!({"op": "replace", "path": "userName", "value": null}), "mutability"),
        (json!({"op": "Replace", "value": {"userName": ""}}), "mutability"),
        (json!({"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User:userName": ""}}), "mutability"),
    ];
    for (op, scim_type) in user_ops {
        let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [op.clone()]})).await;
        assert_error(&r, 400, Some(scim_type));
    }
    for op in [json!({"op": "remove", "path": "displayName"}), json!({"op": "replace", "path": "displayName", "value": ""})] {
        let r = s.patch(&group_path, &json!({"schemas": [PATCH], "Operations": [op.clone()]})).await;
        assert_eq!(r.status, 400, "{op}: {}", r.body);
    }
    let after = s.get(&path).await;
    assert_eq!(after.body["userName"], "required", "{}", after.body);
    assert_eq!(after.body["meta"]["version"], u["meta"]["version"], "nothing was written");
    assert_eq!(s.get(&group_path).await.body["displayName"], "Staff");
    // Removing an optional attribute still works.
    let r = s.patch(&path, &json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "externalId"}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("externalId").is_none(), "{}", r.body);
}
}
