//! Per-tenant policies: re-provisioning of inactive users, PATCH 204, required If-Match,
//! strict RFC mode and per-credential rate limits, each set through the admin API and observed
//! through SCIM.

use serde_json::{Value, json};

use scimd_http::Scopes;
use scimd_testkit::{TestServer, backend_tests};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Changes the settings named in `settings` (an RFC 7396 merge patch), leaving the others.
async fn set(s: &TestServer, settings: Value) {
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let r = s
        .send(s.client.patch(s.url("/admin/v1/tenants/default/settings")).bearer_auth(&admin).json(&settings))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let read = s.send(s.client.get(s.url("/admin/v1/tenants/default/settings")).bearer_auth(&admin)).await;
    assert_eq!(read.body, r.body);
}

fn deactivate() -> Value {
    json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

backend_tests! {
async fn admins_are_managed_through_the_admin_api(backend) {
    let s = TestServer::start_with(backend).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let url = |p: &str| s.url(&format!("/admin/v1/tenants/default/admins{p}"));
    let r = s.send(s.client.post(url("")).bearer_auth(&s.token).json(&json!({"email": "it@acme.example", "password": "correct horse battery"}))).await;
    assert_eq!(r.status, 403, "the SCIM scopes do not make admins");
    let r = s.send(s.client.post(url("")).bearer_auth(&admin).json(&json!({"email": "it@acme.example", "password": "short"}))).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("invalidValue")), "{}", r.body);
    let r = s.send(s.client.post(url("")).bearer_auth(&admin).json(&json!({"email": "it@acme.example", "password": "correct horse battery"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(r.body.get("password").is_none() && r.body.get("password_hash").is_none());
    let r = s.send(s.client.post(url("")).bearer_auth(&admin).json(&json!({"email": "IT@acme.example", "password": "correct horse battery"}))).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (409, Some("uniqueness")), "{}", r.body);
    let list = s.send(s.client.get(url("")).bearer_auth(&admin)).await;
    assert_eq!(list.body["admins"][0]["email"], "it@acme.example");
    let before = s.store.admin(id.parse().unwrap()).await.unwrap().unwrap().password_hash;
    let r = s.send(s.client.post(url(&format!("/{id}/password"))).bearer_auth(&admin).json(&json!({"password": "a whole new passphrase"}))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_ne!(s.store.admin(id.parse().unwrap()).await.unwrap().unwrap().password_hash, before);
    let r = s.send(s.client.post(url(&format!("/{id}/password"))).bearer_auth(&admin).json(&json!({"password": "short"}))).await;
    assert_eq!(r.status, 400);
    let r = s.send(s.client.delete(url(&format!("/{id}"))).bearer_auth(&admin)).await;
    assert_eq!(r.status, 204);
    let r = s.send(s.client.delete(url(&format!("/{id}"))).bearer_auth(&admin)).await;
    assert_eq!(r.status, 404);
    assert_eq!(s.send(s.client.delete(url("/not-an-id")).bearer_auth(&admin)).await.status, 404);
}

async fn domains_are_claimed_verified_and_removed_through_the_admin_api(backend) {
    let (dns, published) = scimd_testkit::dns::txt_records("_scimd-challenge.example.com.");
    let config = scimd_http::HttpConfig { dns_server: Some(dns), ..Default::default() };
    let s = TestServer::start_opts(scimd_testkit::Options { backend, config, ..Default::default() }).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let scim_only = s.token(&[]).await;
    let url = |p: &str| s.url(&format!("/admin/v1/tenants/default/domains{p}"));
    let r = s.send(s.client.post(url("")).bearer_auth(&scim_only).json(&json!({"domain": "example.com"}))).await;
    assert_eq!(r.status, 403, "the admin scope is needed");
    let r = s.send(s.client.post(url("")).bearer_auth(&admin).json(&json!({"domain": "not a domain"}))).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("invalidValue")), "{}", r.body);
    let r = s.send(s.client.post(url("")).bearer_auth(&admin).json(&json!({"domain": "Example.COM."}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["domain"], "example.com");
    assert_eq!(r.body["verified"], false);
    let txt = r.body["txt"].as_str().unwrap().to_owned();
    let value = txt.split('"').nth(1).unwrap().to_owned();
    assert!(txt.starts_with("_scimd-challenge.example.com. 3600 IN TXT \"scimd-verification="), "{txt}");
    let r = s.send(s.client.post(url("")).bearer_auth(&admin).json(&json!({"domain": "example.com"}))).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (409, Some("uniqueness")));
    // The server asks the DNS server it was given; the record is not there yet.
    published.lock().unwrap().push("v=spf1 -all".into());
    let r = s.send(s.client.post(url("/example.com/verify")).bearer_auth(&admin)).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("invalidValue")), "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("has no TXT record"), "{}", r.body);
    let r = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "x@elsewhere.example"})).await;
    assert_eq!(r.status, 201, "an unverified domain enforces nothing");
    published.lock().unwrap().push(value);
    let r = s.send(s.client.post(url("/example.com/verify")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["verified"], true);
    let r = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "y@elsewhere.example"})).await;
    assert_eq!(r.status, 400, "verified: addresses outside it are refused: {}", r.body);
    let list = s.send(s.client.get(url("")).bearer_auth(&admin)).await;
    assert_eq!(list.body["domains"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["domains"][0]["txt"], txt.as_str());
    assert_eq!(list.body["domains"][0]["verified"], true);
    let r = s.send(s.client.post(url("/nope.example/verify")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 404);
    let r = s.send(s.client.delete(url("/example.com")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 204);
    let r = s.send(s.client.delete(url("/example.com")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 404);
    let r = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "z@elsewhere.example"})).await;
    assert_eq!(r.status, 201, "no verified domain left: anything goes again");
}

async fn okta_reprovisioning_reactivates_an_inactive_user_when_asked(backend) {
    let s = TestServer::start_with(backend).await;
    let user = json!({"schemas": [USER], "userName": "rehire@example.com", "name": {"givenName": "Old"}, "active": true});
    let id = s.post("/scim/v2/Users", &user).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(s.patch(&format!("/scim/v2/Users/{id}"), &deactivate()).await.status, 200);
    // Default policy: the name is taken.
    let again = json!({"schemas": [USER], "userName": "REHIRE@example.com", "name": {"givenName": "New"}, "active": true});
    let r = s.post("/scim/v2/Users", &again).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (409, Some("uniqueness")));

    set(&s, json!({"reprovision": "reactivate"})).await;
    let r = s.post("/scim/v2/Users", &again).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["id"], id.as_str(), "the same user, re-activated");
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["givenName"], "New", "replaced by the POSTed representation");
    let stored = s.get(&format!("/scim/v2/Users/{id}")).await;
    assert_eq!(stored.body["active"], true);
    let list = s.get("/scim/v2/Users").await;
    assert_eq!(list.body["totalResults"], 1, "no second user");
    // An active user with that name is still a conflict.
    assert_eq!(s.post("/scim/v2/Users", &again).await.status, 409);
}
}

backend_tests! {
async fn patch_204_and_required_if_match(backend) {
    let s = TestServer::start_with(backend).await;
    let id =
        s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "p@example.com"})).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
    set(&s, json!({"patch_response": "no_content", "require_if_match": true})).await;
    let path = format!("/scim/v2/Users/{id}");
    let r = s.patch(&path, &deactivate()).await;
    assert_eq!(r.status, 428, "{}", r.body);
    assert_eq!(r.body["status"], "428");
    let etag = s.get(&path).await.header("etag").unwrap().to_owned();
    let r =
        s.send(s.request(reqwest::Method::PATCH, &path).header("if-match", &etag).json(&deactivate())).await;
    assert_eq!(r.status, 204);
    assert!(r.header("etag").is_some_and(|t| t != etag), "the new version's ETag");
    assert_eq!(s.get(&path).await.body["active"], false);
    assert_eq!(s.delete(&path).await.status, 428);
    let etag = s.get(&path).await.header("etag").unwrap().to_owned();
    let r = s.send(s.request(reqwest::Method::DELETE, &path).header("if-match", &etag)).await;
    assert_eq!(r.status, 204);
}
}

backend_tests! {
async fn strict_mode_follows_the_rfc_to_the_letter(backend) {
    let s = TestServer::start_with(backend).await;
    let id =
        s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "st@example.com"})).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let no_match = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@example.com"}]});
    let stray = json!({"schemas": [USER], "userName": "stray@example.com", "department": "x"});
    // Tolerant by default (docs/idp-compatibility.md §5): the element is created, the stray attribute
    // dropped.
    assert_eq!(s.patch(&format!("/scim/v2/Users/{id}"), &no_match).await.status, 200);
    assert_eq!(s.post("/scim/v2/Users", &stray).await.status, 201);

    set(&s, json!({"strict": true})).await;
    let id2 = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "st2@example.com"})).await.body
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.patch(&format!("/scim/v2/Users/{id2}"), &no_match).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("noTarget")), "{}", r.body);
    let r = s
        .post(
            "/scim/v2/Users",
            &json!({"schemas": [USER], "userName": "stray2@example.com", "department": "x"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Unknown settings are refused, not ignored.
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let r = s
        .send(
            s.client
                .put(s.url("/admin/v1/tenants/default/settings"))
                .bearer_auth(&admin)
                .json(&json!({"strcit": true})),
        )
        .await;
    assert_eq!(r.status, 400);
}
}

backend_tests! {
async fn rate_limits_answer_429_with_retry_after_per_credential(backend) {
    let s = TestServer::start_with(backend).await;
    set(&s, json!({"rate_limit": 3})).await;
    let mut responses = Vec::new();
    for _ in 0..6 {
        responses.push(s.get("/scim/v2/Users").await);
    }
    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.iter().filter(|s| **s == 200).count() >= 3, "the burst passes: {statuses:?}");
    let refused =
        responses.iter().find(|r| r.status == 429).unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert!(refused.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(refused.body["status"], "429");
    // Another credential of the tenant has its own budget.
    let other = s.token(&["users:read"]).await;
    let r = s.send(s.client.get(s.url("/scim/v2/Users")).bearer_auth(other)).await;
    assert_eq!(r.status, 200);
    // 0 lifts the limit.
    set(&s, json!({"rate_limit": 0})).await;
    for _ in 0..20 {
        assert_eq!(s.get("/scim/v2/Users").await.status, 200);
    }
}
}

backend_tests! {
async fn verified_domains_restrict_usernames_and_emails(backend) {
    let s = TestServer::start_with(backend).await;
    let user = |name: &str, email: &str| json!({"schemas": [USER], "userName": name, "emails": [{"value": email, "type": "work"}]});
    // No claimed domain: anything goes.
    assert_eq!(s.post("/scim/v2/Users", &user("a@anything.example", "a@anything.example")).await.status, 201);
    // Claimed but not verified yet (its DNS record may not be published): nothing is enforced.
    s.store.add_domain(s.tenant.id, "example.com", "tok").await.unwrap();
    let r = s.post("/scim/v2/Users", &user("p@pending.example", "p@pending.example")).await;
    assert_eq!(r.status, 201, "a pending domain enforces nothing: {}", r.body);
    s.store.mark_domain_verified(s.tenant.id, "example.com").await.unwrap();
    // Once verified, a user outside the domains can still be offboarded (Entra's PATCH, a PUT
    // with its values as they are) and changed in what the policy does not cover...
    let outside = r.body["id"].as_str().unwrap().to_owned();
    let entra = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let r = s.patch(&format!("/scim/v2/Users/{outside}"), &entra).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let mut put = user("P@pending.example", "p@pending.example");
    put["displayName"] = json!("Pat");
    let r = s.put(&format!("/scim/v2/Users/{outside}"), &put).await;
    assert_eq!(r.status, 200, "unchanged addresses (case aside) are not checked: {}", r.body);
    // ...but a new address it sets is checked.
    let rename = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "q@pending.example"}]});
    let r = s.patch(&format!("/scim/v2/Users/{outside}"), &rename).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("invalidValue")), "{}", r.body);
    let ok = s.post("/scim/v2/Users", &user("b@Example.COM", "b@example.com")).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let r = s.post("/scim/v2/Users", &user("c@example.com", "c@elsewhere.example")).await;
    assert_eq!(r.status, 400);
    assert!(r.body["detail"].as_str().unwrap().contains("elsewhere.example"), "{}", r.body);
    // A PATCH that adds an address outside the domains is refused and changes nothing.
    let id = ok.body["id"].as_str().unwrap();
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails", "value": [{"value": "x@evil.example", "type": "home"}]}]});
    let r = s.patch(&format!("/scim/v2/Users/{id}"), &patch).await;
    assert_eq!(r.status, 400);
    assert_eq!(s.get(&format!("/scim/v2/Users/{id}")).await.body["emails"].as_array().unwrap().len(), 1);
}
}

backend_tests! {
async fn unknown_member_ids_are_skipped_or_refused(backend) {
    let s = TestServer::start_with(backend).await;
    let member = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "m@example.com"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
        "members": [{"value": member}, {"value": "no-such-id"}]});
    // Default: the unknown id is skipped, the known one added.
    let r = s.post("/scim/v2/Groups", &group("skip")).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);

    set(&s, json!({"unknown_members": "refuse"})).await;
    let r = s.post("/scim/v2/Groups", &group("refuse")).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("invalidValue")), "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("no-such-id"));
    let list = s.get("/scim/v2/Groups?filter=displayName%20eq%20%22refuse%22").await;
    assert_eq!(list.body["totalResults"], 0, "nothing was created");
    // A PATCH adding an unknown id changes nothing, not even the known member beside it.
    let gid = s.get("/scim/v2/Groups").await.body["Resources"][0]["id"].as_str().unwrap().to_owned();
    let other = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "o@example.com"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members",
        "value": [{"value": other}, {"value": "ghost"}]}]});
    let r = s.patch(&format!("/scim/v2/Groups/{gid}"), &patch).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let g = s.get(&format!("/scim/v2/Groups/{gid}")).await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), 1, "{}", g.body);
}
}

backend_tests! {
async fn put_settings_replaces_every_field_and_patch_merges(backend) {
    let s = TestServer::start_with(backend).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let url = s.url("/admin/v1/tenants/default/settings");
    set(&s, json!({"reprovision": "reactivate"})).await;
    // Not an object: 400, never "every default".
    for body in [json!([]), json!("x"), json!(5), json!(null)] {
        let r = s.send(s.client.put(&url).bearer_auth(&admin).json(&body)).await;
        assert_eq!((r.status.as_u16(), r.body["status"].as_str()), (400, Some("400")), "{body}: {}", r.body);
        let r = s.send(s.client.patch(&url).bearer_auth(&admin).json(&body)).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    // A partial PUT names what it misses and changes nothing.
    let r = s.send(s.client.put(&url).bearer_auth(&admin).json(&json!({"rate_limit": 5}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("reprovision") && detail.contains("strict") && !detail.contains("rate_limit"), "{detail}");
    let read = s.send(s.client.get(&url).bearer_auth(&admin)).await;
    assert_eq!(read.body["reprovision"], "reactivate");
    assert!(read.body["rate_limit"].is_null());
    // PATCH changes only what it names.
    let r = s.send(s.client.patch(&url).bearer_auth(&admin).json(&json!({"rate_limit": 5}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["rate_limit"].as_u64(), r.body["reprovision"].as_str()), (Some(5), Some("reactivate")));
    // A full PUT is accepted.
    let mut full = read.body.clone();
    full["strict"] = json!(true);
    let r = s.send(s.client.put(&url).bearer_auth(&admin).json(&full)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["strict"].as_bool(), r.body["rate_limit"].as_u64()), (Some(true), None));
    let r = s.send(s.client.patch(&url).bearer_auth(&admin).json(&json!({"strict": "yes"}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
}
}

scimd_testkit::backend_tests! {
async fn operators_list_and_create_tenants_through_the_admin_api(backend) {
    let s = TestServer::start_with(backend).await;
    let operator = s.token_for(&s.tenant, Scopes::all(), true).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let url = s.url("/admin/v1/tenants");
    assert_eq!(s.send(s.client.get(&url).bearer_auth(&admin)).await.status, 403, "a tenant's admin token is not enough");
    let r = s.send(s.client.post(&url).bearer_auth(&operator).json(&json!({"slug": "acme"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["slug"], "acme");
    let r = s.send(s.client.post(&url).bearer_auth(&operator).json(&json!({"slug": "acme"}))).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (409, Some("uniqueness")));
    let r = s.send(s.client.post(&url).bearer_auth(&operator).json(&json!({"slug": "Not A Slug"}))).await;
    assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("invalidValue")));
    let r = s.send(s.client.get(&url).bearer_auth(&operator)).await;
    let slugs: Vec<&str> = r.body["tenants"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["acme", "default"]);
}
}

backend_tests! {
/// Tenant setting `groups: off` (RFC 7643 §6: the service provider chooses its resource types):
/// every Groups endpoint is 404, discovery leaves Group out, and users show no groups and cannot
/// be filtered by them in any spelling; groups stored before come back when it is turned on.
async fn a_tenant_without_groups(backend) {
    let s = TestServer::start_with(backend).await;
    let uid = s.post("/scim/v2/Users", &json!({"schemas": [USER], "userName": "ada@example.com"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = json!({"schemas": [GROUP], "displayName": "staff", "members": [{"value": uid}]});
    let gid = s.post("/scim/v2/Groups", &group).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(s.get(&format!("/scim/v2/Users/{uid}")).await.body["groups"][0]["value"], gid.as_str());

    set(&s, json!({"groups": "off"})).await;
    let add = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]});
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let group_url = format!("/scim/v2/Groups/{gid}");
    for r in [
        s.get("/scim/v2/Groups").await,
        s.post("/scim/v2/Groups", &group).await,
        s.post("/scim/v2/Groups/.search", &search).await,
        s.get(&group_url).await,
        s.put(&group_url, &group).await,
        s.patch(&group_url, &add).await,
        s.delete(&group_url).await,
        s.get("/scim/v2/ResourceTypes/Group").await,
        s.get(&format!("/scim/v2/Schemas/{GROUP}")).await,
    ] {
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{}", r.body);
    }
    assert!(s.get("/scim/v2/Groups").await.body["detail"].as_str().unwrap().contains("does not provision Groups"));
    let types = s.get("/scim/v2/ResourceTypes").await.body;
    assert_eq!((&types["totalResults"], &types["Resources"][0]["id"]), (&json!(1), &json!("User")), "{types}");
    let schemas = s.get("/scim/v2/Schemas").await.body;
    let ids: Vec<&str> = schemas["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&GROUP) && ids.contains(&USER), "{ids:?}");
    let user_schema = s.get(&format!("/scim/v2/Schemas/{USER}")).await.body;
    let attrs: Vec<&str> = user_schema["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(attrs.contains(&"userName") && !attrs.contains(&"groups"), "{attrs:?}");

    // The user's groups are not shown, however the request asks...
    for path in [format!("/scim/v2/Users/{uid}"), format!("/scim/v2/Users/{uid}?attributes=groups"), "/scim/v2/Users".into()] {
        let body = s.get(&path).await.body;
        assert!(!body.to_string().contains(&gid), "{path}: {body}");
    }
    let r = s.patch(&format!("/scim/v2/Users/{uid}"), &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Ada"}]})).await;
    assert!(r.status == 200 && !r.body.to_string().contains(&gid), "{}", r.body);
    let r = s.post("/scim/v2/.search", &search).await;
    assert_eq!(r.body["totalResults"], 1, "only the user: {}", r.body);
    // ...nor filtered on, in any spelling the parser accepts.
    for filter in [
        format!("groups.value eq \"{gid}\""),
        format!("GROUPS eq \"{gid}\""),
        format!("{USER}:groups.value eq \"{gid}\""),
        format!("userName pr and not (groups[value eq \"{gid}\"])"),
        "userName eq \"x\" or groups pr".to_owned(),
    ] {
        let q = url_escape(&filter);
        let r = s.get(&format!("/scim/v2/Users?filter={q}")).await;
        assert_eq!((r.status.as_u16(), r.body["scimType"].as_str()), (400, Some("invalidFilter")), "{filter}: {}", r.body);
        let r = s.post("/scim/v2/Users/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter})).await;
        assert_eq!(r.status, 400, "{filter}: {}", r.body);
    }
    assert_eq!(s.get("/scim/v2/Users?filter=userName%20pr").await.body["totalResults"], 1);

    // Back on: the group and the membership were kept.
    set(&s, json!({"groups": "on"})).await;
    let g = s.get(&group_url).await;
    assert_eq!((g.status.as_u16(), &g.body["members"][0]["value"]), (200, &json!(uid)), "{}", g.body);
    assert_eq!(s.get(&format!("/scim/v2/Users/{uid}")).await.body["groups"][0]["value"], gid.as_str());
    assert_eq!(s.get("/scim/v2/ResourceTypes").await.body["totalResults"], 2);
}
}

/// A filter as a query parameter (RFC 3986 §2.1 percent-encoding of what is not unreserved).
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
