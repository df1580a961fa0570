//! Conformance with the identity providers as they really are (docs/idp-compatibility.md): every
//! request Microsoft Entra ID (with and without `?aadOptscim062020`), Microsoft's validators and
//! Okta send, written the way they send it (method, headers, URL encoding, body), through the real
//! server, checking the response and then the stored state with a later GET.
//!
//! Each scenario is an `async fn(Idp)` and runs once per [`Variant`] of the tenant URL an admin may
//! paste into the IdP: plain `/scim/v2`, with the flag first or last in the query, in other
//! spellings, and under `/tenants/{slug}/scim/v2` (docs/idp-compatibility.md §1.1, §2.4: "every Entra request
//! must work with the base URL containing `?aadOptscim062020` too, with identical results"). Every
//! variant starts its own server, so counts in one never see another's data.
//!
//! Behaviours that depend on per-tenant settings (strict RFC mode, PATCH 204, If-Match required,
//! refusing unknown members, verified domains, re-provisioning) are tested here in their default
//! only.

use std::future::Future;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use scimd_testkit::{TestResponse, TestServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

// ---------------------------------------------------------------------------------------------
// The tenant URL variants and the clients
// ---------------------------------------------------------------------------------------------

/// How the tenant URL was typed into the IdP: a SCIM prefix and an optional flag that the IdP
/// forwards in the query string, before or after its own parameters (docs/idp-compatibility.md §1.1: "Accept
/// both `?aadOptscim062020&filter=...` and `?filter=...&aadOptscim062020`, with or without `=` /
/// `=true`").
#[derive(Clone, Copy, Debug)]
struct Variant {
    prefix: &'static str,
    flag: Option<&'static str>,
    flag_first: bool,
}

const VARIANTS: [Variant; 5] = [
    Variant { prefix: "/scim/v2", flag: None, flag_first: false },
    Variant { prefix: "/scim/v2", flag: Some("aadOptscim062020"), flag_first: true },
    Variant { prefix: "/scim/v2", flag: Some("aadOptscim062020"), flag_first: false },
    // IBM's spelling and casing, under the tenant-named prefix.
    Variant { prefix: "/tenants/default/scim/v2", flag: Some("aadOptSCIM062020=true"), flag_first: false },
    // The portal screenshot's spelling (azure-docs#73841) and the downgrade flag.
    Variant {
        prefix: "/tenants/default/scim/v2",
        flag: Some("AzureAdScimPatch062020&AzureAdScimPatch2017"),
        flag_first: true,
    },
];

/// Who sends the request; each writes its headers its own way (docs/idp-compatibility.md §1.3, §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    /// Entra provisioning: `application/scim+json`, bearer token.
    Entra,
    /// Okta provisioning as captured in public traces: charset on the Content-Type, Accept-Charset,
    /// Accept-Encoding, `Connection: close`, its User-Agent.
    Okta,
    /// Okta's Runscope spec suite: a Content-Type even on GET, its own User-Agent.
    OktaSpec,
    /// Microsoft's SCIM validator, as captured in published runs: charset on bodies, no Content-Type on GET/DELETE.
    Validator,
    /// Microsoft's Postman collection: plain `application/json`.
    Postman,
}

/// One running server reached through one variant of the tenant URL.
struct Idp {
    s: TestServer,
    v: Variant,
}

/// Runs a scenario once per variant, each on a fresh server.
async fn each<F, Fut>(scenario: F)
where
    F: Fn(Idp) -> Fut,
    Fut: Future<Output = ()>,
{
    // Every scenario on every storage backend (PostgreSQL when SCIMD_TEST_POSTGRES_URL is set).
    for backend in scimd_testkit::Backend::ALL {
        if !backend.available_or_skip("idp scenario") {
            continue;
        }
        for v in VARIANTS {
            // Printed so that a failure names the variant and backend it failed under.
            eprintln!("variant: {v:?} on {backend:?}");
            scenario(Idp { s: TestServer::start_with(backend).await, v }).await;
        }
    }
}

/// Percent-encodes a query value. `form` is `application/x-www-form-urlencoded` as Entra writes it (space as
/// `+`, SCIMReferenceCode#63); otherwise space is `%20` as Okta writes it (Okta's SCIM 2.0 reference).
fn enc(s: &str, form: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Entra's query string for a filter: `filter=userName+eq+%22…%22`.
fn entra_filter(f: &str) -> String {
    format!("filter={}", enc(f, true))
}

/// Okta's: `filter=userName%20eq%20%22…%22&startIndex=1&count=100`.
fn okta_filter(f: &str) -> String {
    format!("filter={}&startIndex=1&count=100", enc(f, false))
}

impl Idp {
    /// The URL of `path` (relative to the SCIM base, with its query already encoded) as the IdP
    /// builds it from the tenant URL.
    fn url(&self, path: &str) -> String {
        let (p, q) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let query = match (self.v.flag, q) {
            (None, None) => String::new(),
            (None, Some(q)) => format!("?{q}"),
            (Some(f), None) => format!("?{f}"),
            (Some(f), Some(q)) if self.v.flag_first => format!("?{f}&{q}"),
            (Some(f), Some(q)) => format!("?{q}&{f}"),
        };
        self.s.url(&format!("{}{p}{query}", self.v.prefix))
    }

    /// Sets the tenant policy `patch_response`.
    async fn set_patch_response(&self, answer: scimd_store::PatchResponse) {
        let mut settings = self.s.tenant.settings.clone();
        settings.patch_response = answer;
        self.s.store.update_tenant_settings(self.s.tenant.id, &settings).await.unwrap();
    }

    /// The absolute SCIM base the server should name in `meta.location`.
    fn base(&self) -> String {
        self.s.url(self.v.prefix)
    }

    fn req(&self, who: Client, method: Method, path: &str, body: Option<&Value>) -> RequestBuilder {
        let has_body = body.is_some();
        let mut r = self.s.client.request(method, self.url(path)).bearer_auth(&self.s.token);
        r = match who {
            Client::Entra => {
                let r = r.header("user-agent", "Microsoft Azure AD SCIM provisioning 1.0.0");
                if has_body { r.header("content-type", "application/scim+json") } else { r }
            }
            Client::Okta => {
                let r = r
                    .header("user-agent", "Okta SCIM Client 1.0.0")
                    .header("accept", "application/scim+json")
                    .header("accept-charset", "utf-8")
                    .header("accept-encoding", "gzip,deflate")
                    .header("connection", "close");
                if has_body { r.header("content-type", "application/scim+json; charset=utf-8") } else { r }
            }
            Client::OktaSpec => r
                .header("user-agent", "OKTA SCIM Integration")
                .header("accept", "application/scim+json")
                .header("accept-charset", "utf-8")
                .header("content-type", "application/scim+json; charset=utf-8"),
            Client::Validator => {
                if has_body {
                    r.header("content-type", "application/scim+json; charset=utf-8")
                } else {
                    r
                }
            }
            Client::Postman => {
                if has_body {
                    r.header("content-type", "application/json")
                } else {
                    r
                }
            }
        };
        match body {
            Some(b) => r.body(b.to_string()),
            None => r,
        }
    }

    async fn call(&self, who: Client, method: Method, path: &str, body: Option<&Value>) -> TestResponse {
        let r = self.s.send(self.req(who, method, path, body)).await;
        // docs/idp-compatibility.md §1.3: every SCIM response with a body is application/scim+json, errors
        // too.
        if !matches!(r.body, Value::Null) {
            let ct = r.header("content-type").unwrap_or("");
            assert!(ct.starts_with("application/scim+json"), "{who:?} {path}: content-type {ct:?}: {r:?}");
        }
        r
    }

    async fn get(&self, who: Client, path: &str) -> TestResponse {
        self.call(who, Method::GET, path, None).await
    }
    async fn post(&self, who: Client, path: &str, body: &Value) -> TestResponse {
        self.call(who, Method::POST, path, Some(body)).await
    }
    async fn put(&self, who: Client, path: &str, body: &Value) -> TestResponse {
        self.call(who, Method::PUT, path, Some(body)).await
    }
    async fn patch(&self, who: Client, path: &str, ops: Value) -> TestResponse {
        self.call(who, Method::PATCH, path, Some(&json!({"schemas": [PATCH_OP], "Operations": ops}))).await
    }
    async fn delete(&self, who: Client, path: &str) -> TestResponse {
        self.call(who, Method::DELETE, path, None).await
    }

    /// The stored state of a resource, read back as Entra does (Example 3 of Microsoft's SCIM tutorial).
    async fn state(&self, path: &str) -> Value {
        let r = self.get(Client::Entra, path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    /// Creates a user as Entra does (Example 2 of Microsoft's SCIM tutorial) and returns its id.
    async fn entra_user(&self, user_name: &str) -> String {
        let r = self.post(Client::Entra, "/Users", &entra_user_body(user_name)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        id(&r.body)
    }

    /// Creates a group as Okta does (Okta's SCIM 2.0 reference, "Create Groups") and returns its id.
    async fn okta_group(&self, name: &str) -> String {
        let r = self
            .post(Client::Okta, "/Groups", &json!({"schemas": [GROUP], "displayName": name, "members": []}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        id(&r.body)
    }

    async fn member_ids(&self, group: &str) -> Vec<String> {
        let g = self.state(&format!("/Groups/{group}")).await;
        let mut ids: Vec<String> = g
            .get("members")
            .and_then(Value::as_array)
            .map(|m| m.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Example 2 of Microsoft's SCIM tutorial, "Create User", with the request's own values.
fn entra_user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": format!("ext-{user_name}"),
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": format!("{user_name}@testuser.com")}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

/// Okta's SCIM 2.0 reference, "Create the User": Okta sends `groups: []` and a placeholder password on every
/// create.
fn okta_user_body(login: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": login,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": login, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

/// RFC 7644 §3.12 as docs/idp-compatibility.md §1.4 narrows it: the Error schema, `status` as a string, a
/// non-empty `detail`, `scimType` only where table 9 defines one.
#[track_caller]
fn assert_error(r: &TestResponse, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{r:?}");
    assert_eq!(r.body["schemas"], json!([ERROR]), "{r:?}");
    assert_eq!(r.body["status"], json!(status.to_string()), "{r:?}");
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{r:?}");
    assert_eq!(r.body.get("scimType").and_then(Value::as_str), scim_type, "{r:?}");
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/scim+json")), "{r:?}");
}

/// docs/idp-compatibility.md §1.9: a ListResponse with integer counters and `Resources` always present.
#[track_caller]
fn assert_list(r: &TestResponse, total: u64, on_page: usize) -> Vec<Value> {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["schemas"], json!([LIST]), "{r:?}");
    assert_eq!(r.body["totalResults"], json!(total), "{r:?}");
    assert_eq!(r.body["itemsPerPage"], json!(on_page), "{r:?}");
    assert!(r.body["startIndex"].is_u64(), "{r:?}");
    let resources = r.body["Resources"].as_array().unwrap_or_else(|| panic!("Resources missing: {r:?}"));
    assert_eq!(resources.len(), on_page, "{r:?}");
    resources.clone()
}

// ---------------------------------------------------------------------------------------------
// §1.1 URL handling, §1.2 authentication, §1.3 media types
// ---------------------------------------------------------------------------------------------

/// docs/idp-compatibility.md §1.1: Microsoft's Postman collection sends `GET
/// {base}/Users/?filter=DisplayName+eq+%22BobIsAmazing%22` (a trailing slash, a capitalised attribute, `+`
/// for spaces) and expects 200 with one result; a base typed with a trailing slash yields `//Users`.
async fn trailing_slash_and_form_encoded_filter(c: Idp) {
    let mut body = entra_user_body("bob");
    body["displayName"] = json!("BobIsAmazing");
    assert_eq!(c.post(Client::Postman, "/Users", &body).await.status, 201);
    let r = c.get(Client::Postman, "/Users/?filter=DisplayName+eq+%22BobIsAmazing%22").await;
    let found = assert_list(&r, 1, 1);
    assert_eq!(found[0]["userName"], "bob");
    let r = c.get(Client::Postman, "/Groups/?filter=displayName+eq+%22BobIsAmazing%22").await;
    assert_list(&r, 0, 0);
    // A tenant URL pasted with a trailing slash (Microsoft's tutorial's `https://api.contoso.com/scim/`)
    // gives `…/scim/v2//Users` once Entra appends `/Users`.
    let r = c.get(Client::Entra, "//Users?filter=userName+eq+%22bob%22").await;
    assert_eq!(
        assert_list(&r, 1, 1)[0]["meta"]["location"].as_str().unwrap(),
        format!("{}/Users/{}", c.base(), id(&found[0]))
    );
    let r = c.post(Client::Entra, "//Users", &entra_user_body("slash@contoso.com")).await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = c.get(Client::Entra, &format!("//Users//{}", id(&r.body))).await;
    assert_eq!(r.body["userName"], "slash@contoso.com", "{r:?}");
}

/// docs/idp-compatibility.md §1.1: the discovery endpoints under the base, and the Postman collection's
/// non-standard `GET {base}/serviceConfiguration` alias, which must say `patch.supported == true`.
async fn discovery_paths_and_the_service_configuration_alias(c: Idp) {
    for path in ["/ServiceProviderConfig", "/serviceConfiguration"] {
        let r = c.get(Client::Postman, path).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.body["patch"]["supported"], true, "{path}: {}", r.body);
    }
    // §2.1: Entra calls GET /Schemas on save.
    let r = c.get(Client::Entra, "/Schemas").await;
    assert_eq!(r.status, 200, "{r:?}");
    let ids: Vec<&str> =
        r.body["Resources"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
    assert!(ids.contains(&USER) && ids.contains(&GROUP) && ids.contains(&ENTERPRISE), "{ids:?}");
    let r = c.get(Client::Entra, "/ResourceTypes").await;
    assert_eq!(r.body["totalResults"], 2, "{}", r.body);
}

/// docs/idp-compatibility.md §1.2, §4: Okta's spec tests send the literal header `Authorization: non-token`
/// and expect 401, the Error schema, `status` "401" (compared as text) and a non-empty detail; §1.2
/// recommends a `WWW-Authenticate: Bearer` challenge.
async fn okta_non_token_is_401(c: Idp) {
    for path in ["/Users", "/Groups", "/Users?filter=userName%20eq%20%22x%22"] {
        let req =
            c.s.client
                .get(c.url(path))
                .header("authorization", "non-token")
                .header("user-agent", "OKTA SCIM Integration")
                .header("accept", "application/scim+json")
                .header("content-type", "application/scim+json; charset=utf-8");
        let r = c.s.send(req).await;
        assert_error(&r, 401, None);
        assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{r:?}");
    }
    // No credential at all, as a misconfigured Entra job sends.
    let r = c.s.send(c.s.client.get(c.url("/Users"))).await;
    assert_error(&r, 401, None);
    // A write without a credential stores nothing.
    let r =
        c.s.send(
            c.s.client
                .post(c.url("/Users"))
                .header("authorization", "non-token")
                .header("content-type", "application/scim+json")
                .body(entra_user_body("intruder").to_string()),
        )
        .await;
    assert_error(&r, 401, None);
    let r = c.get(Client::Entra, &format!("/Users?{}", entra_filter("userName eq \"intruder\""))).await;
    assert_list(&r, 0, 0);
}

/// docs/idp-compatibility.md §2.4: vendor-style deployments give Entra a token with Auth0's scope names
/// (`get:users, post:users, patch:users, delete:users`), which must carry a whole Entra cycle.
async fn auth0_scope_names_carry_an_entra_cycle(c: Idp) {
    let token = c.s.token(&["get:users", "post:users", "patch:users", "delete:users"]).await;
    let send = |m: Method, path: &str, body: Option<Value>| {
        let mut r = c.s.client.request(m, c.url(path)).bearer_auth(&token);
        if let Some(b) = body {
            r = r.header("content-type", "application/scim+json").body(b.to_string());
        }
        c.s.send(r)
    };
    let r = send(Method::GET, &format!("/Users?{}", entra_filter("userName eq \"auth0@contoso.com\"")), None)
        .await;
    assert_list(&r, 0, 0);
    let r = send(Method::POST, "/Users", Some(entra_user_body("auth0@contoso.com"))).await;
    assert_eq!(r.status, 201, "{r:?}");
    let path = format!("/Users/{}", id(&r.body));
    let r = send(
        Method::PATCH,
        &path,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(send(Method::DELETE, &path, None).await.status, 204);
    // Groups were not granted.
    let r = send(Method::GET, "/Groups", None).await;
    assert_error(&r, 403, None);
}

/// docs/idp-compatibility.md §1.3: each client's Content-Type (`application/scim+json`, with `;
/// charset=utf-8`, and plain `application/json` from Microsoft's Postman collection and the POST of Okta's
/// spec tests) is accepted; a GET that carries a Content-Type (Okta's spec tests) is not refused; responses
/// are `application/scim+json`.
async fn every_clients_media_type_is_accepted(c: Idp) {
    for (i, who) in [Client::Entra, Client::Okta, Client::OktaSpec, Client::Validator, Client::Postman]
        .into_iter()
        .enumerate()
    {
        let name = format!("media{i}@example.com");
        let r = c.post(who, "/Users", &entra_user_body(&name)).await;
        assert_eq!(r.status, 201, "{who:?}: {r:?}");
        let path = format!("/Users/{}", id(&r.body));
        let r = c.get(who, &path).await;
        assert_eq!(r.status, 200, "{who:?}: {r:?}");
        assert_eq!(r.body["userName"], name.as_str());
        let r = c
            .patch(who, &path, json!([{"op": "replace", "path": "displayName", "value": "ü Ünïcödé"}]))
            .await;
        assert_eq!(r.status, 200, "{who:?}: {r:?}");
        assert_eq!(
            c.state(&path).await["displayName"],
            "ü Ünïcödé",
            "{who:?}: UTF-8 survives the round trip"
        );
    }
    // The POST /Users of Okta's spec tests: Content-Type application/json, Accept with a charset, no
    // User-Agent.
    let req =
        c.s.client
            .post(c.url("/Users"))
            .bearer_auth(&c.s.token)
            .header("content-type", "application/json")
            .header("accept", "application/scim+json; charset=utf-8")
            .body(okta_user_body("spec@example.com", "spec").to_string());
    let r = c.s.send(req).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("application/scim+json")), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// §1.5 case-insensitivity, §1.6 filters
// ---------------------------------------------------------------------------------------------

/// docs/idp-compatibility.md §1.5: Microsoft's Postman collection writes attribute names in any case in
/// bodies (`"Primary"`, `"Manager": {"Value": …}` at the top level), filters (`DisplayName`,
/// `name.FamilyName`, `emails.Value`, `meta.Created`), PATCH paths and `attributes=`; operators in any case.
async fn attribute_names_and_operators_are_case_insensitive(c: Idp) {
    let body = json!({
        "schemas": [USER, ENTERPRISE],
        "UserName": "OMalley",
        "Active": "True",
        "DisplayName": "Ryan OMalley",
        "Name": {"GivenName": "Ryan", "FamilyName": "OMalley"},
        "Emails": [{"Primary": "True", "Type": "work", "Value": "ryan@example.com"}],
        "Department": "Sales",
        "Manager": {"Value": "SuzzyQ"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "Eng", "EmployeeNumber": "701984"}
    });
    let r = c.post(Client::Postman, "/Users", &body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let path = format!("/Users/{}", id(&r.body));
    let u = c.state(&path).await;
    assert_eq!(u["userName"], "OMalley", "{u}");
    assert_eq!(u["active"], true, "{u}");
    assert_eq!(u["name"]["familyName"], "OMalley", "{u}");
    assert_eq!(u["emails"][0]["primary"], true, "{u}");
    assert_eq!(u["emails"][0]["value"], "ryan@example.com", "{u}");
    assert_eq!(u[ENTERPRISE]["department"], "Eng", "{u}");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "701984", "{u}");
    // The stray top-level Department/Manager are unknown core attributes: dropped, not stored
    // under an odd-cased key (§1.8).
    assert!(u.get("Department").is_none() && u.get("department").is_none(), "{u}");
    assert!(u.get("Manager").is_none(), "{u}");

    for filter in [
        "DisplayName eq \"Ryan OMalley\"",
        "name.FamilyName EQ \"omalley\"",
        "USERNAME Eq \"omalley\" AND emails.Value CO \"ryan\"",
        "meta.Created GT \"2015-10-10T14:38:21.8617979-07:00\"",
    ] {
        let r = c.get(Client::Postman, &format!("/Users?{}", entra_filter(filter))).await;
        assert_list(&r, 1, 1);
    }
    let r = c
        .patch(Client::Postman, &path, json!([{"op": "Replace", "path": "Name.GivenName", "value": "Bryan"}]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["name"]["givenName"], "Bryan");
    let r = c.get(Client::Postman, &format!("{path}?attributes=UserName,NAME.givenname")).await;
    assert_eq!(r.body["userName"], "OMalley", "{}", r.body);
    assert_eq!(r.body["name"]["givenName"], "Bryan", "{}", r.body);
    assert!(r.body.get("emails").is_none(), "{}", r.body);
    let r = c.get(Client::Postman, &format!("{path}?excludedAttributes=Emails,Name")).await;
    assert!(r.body.get("emails").is_none() && r.body.get("name").is_none(), "{}", r.body);
    assert_eq!(r.body["userName"], "OMalley");
}

/// docs/idp-compatibility.md §1.5 value matching: userName and Group displayName ignore case (Okta's spec
/// tests "Username Case Sensitivity Check", MS validator "different case"); externalId and id are case-exact
/// (RFC 7643 §3.1, §4.1.1).
async fn value_matching_follows_case_exactness(c: Idp) {
    let u = c.entra_user("Case.Test@Contoso.com").await;
    let g = c.okta_group("Sales Team").await;
    let q = |f: &str| format!("?{}", entra_filter(f));
    assert_list(
        &c.get(Client::Validator, &format!("/Users{}", q("userName eq \"case.test@contoso.COM\""))).await,
        1,
        1,
    );
    assert_list(
        &c.get(Client::Validator, &format!("/Groups{}", q("displayName eq \"SALES team\""))).await,
        1,
        1,
    );
    assert_list(
        &c.get(Client::Entra, &format!("/Users{}", q("externalId eq \"ext-Case.Test@Contoso.com\""))).await,
        1,
        1,
    );
    assert_list(
        &c.get(Client::Entra, &format!("/Users{}", q("externalId eq \"EXT-case.test@contoso.com\""))).await,
        0,
        0,
    );
    assert_list(&c.get(Client::Entra, &format!("/Users{}", q(&format!("id eq \"{u}\"")))).await, 1, 1);
    assert_list(
        &c.get(Client::Entra, &format!("/Groups{}", q(&format!("id eq \"{}\"", g.to_uppercase())))).await,
        0,
        0,
    );
    // Okta's spec tests: a userName differing only in case is the same user: 409, not a second one.
    let r = c.post(Client::OktaSpec, "/Users", &okta_user_body("CASE.TEST@contoso.com", "x")).await;
    assert_error(&r, 409, Some("uniqueness"));
}

/// docs/idp-compatibility.md §1.6, §2.1 "Matching": every matching query Entra sends, form-encoded as it
/// sends them, finds exactly the user a create would collide with; a miss is 200 with an empty
/// list, never 404.
async fn entra_matching_queries(c: Idp) {
    let u = c.entra_user("jyoung@contoso.com").await;
    c.entra_user("other@contoso.com").await;
    let cases = [
        ("userName eq \"jyoung@contoso.com\"", 1),
        ("userName eq \"JYoung@Contoso.com\"", 1),
        ("externalId eq \"ext-jyoung@contoso.com\"", 1),
        // Example 1 of Microsoft's SCIM tutorial writes the value unquoted.
        ("externalId eq ext-jyoung@contoso.com", 1),
        ("emails[type eq \"work\"].value eq \"jyoung@contoso.com@testuser.com\"", 1),
        ("emails[type eq \"home\"].value eq \"jyoung@contoso.com@testuser.com\"", 0),
        // Test Connection: a random GUID as the matching value.
        ("userName eq \"cf4d78e8-cc4f-4d5d-b8b9-183561c0104a\"", 0),
        ("externalId eq \"cf4d78e8-cc4f-4d5d-b8b9-183561c0104a\"", 0),
    ];
    for (filter, n) in cases {
        let r = c.get(Client::Entra, &format!("/Users?{}", entra_filter(filter))).await;
        let found = assert_list(&r, n, n as usize);
        if n == 1 {
            assert_eq!(found[0]["id"], u.as_str(), "{filter}");
        }
    }
    // §2.2 "Special characters in joining property values": a UPN with `'`, `+` and non-ASCII
    // letters, form-encoded (`+` as `%2B`), is found, case-insensitively, and collides on create.
    let special = "o'brien+tëst@contoso.com";
    let s = c.entra_user(special).await;
    for query in [special.to_owned(), special.to_uppercase()] {
        let r = c
            .get(Client::Entra, &format!("/Users?{}", entra_filter(&format!("userName eq \"{query}\""))))
            .await;
        assert_eq!(assert_list(&r, 1, 1)[0]["id"], s.as_str(), "{query}");
    }
    let r = c.post(Client::Entra, "/Users", &entra_user_body(&special.to_uppercase())).await;
    assert_error(&r, 409, Some("uniqueness"));
    // A value with an escaped quote (RFC 7644 §3.4.2.2: JSON string) matches nothing, safely.
    let r = c.get(Client::Okta, "/Users?filter=userName%20eq%20%22a%5C%22b%22").await;
    assert_list(&r, 0, 0);
    // The Users probe of Test Connection exactly as captured (SCIMReferenceCode#63).
    let r =
        c.get(Client::Entra, "/Users?filter=userName+eq+%22cf4d78e8-cc4f-4d5d-b8b9-183561c0104a%22").await;
    assert_list(&r, 0, 0);
    assert_eq!(r.body["startIndex"], 1);
}

/// docs/idp-compatibility.md §1.6, §1.9, §2.1: Entra matches groups by displayName and (default mapping)
/// externalId with `excludedAttributes=members`, and checks membership with
/// `id eq "…" and members eq "…"` plus `attributes=id` or `excludedAttributes=members`; members
/// must never come back when excluded (else MultipleEntriesInResponse).
async fn entra_group_queries(c: Idp) {
    let a = c.entra_user("ga@contoso.com").await;
    let b = c.entra_user("gb@contoso.com").await;
    let body = json!({
        "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group Eng",
        "meta": {"resourceType": "Group"}
    });
    let r = c.post(Client::Entra, "/Groups", &body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let g = id(&r.body);
    assert_eq!(r.body["schemas"], json!([GROUP]), "the unknown URN is dropped: {}", r.body);
    let r = c
        .patch(
            Client::Entra,
            &format!("/Groups/{g}"),
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a}]}]),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    for filter in ["displayName eq \"Group Eng\"", "externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\""] {
        let r = c
            .get(Client::Entra, &format!("/Groups?excludedAttributes=members&{}", entra_filter(filter)))
            .await;
        let found = assert_list(&r, 1, 1);
        assert_eq!(found[0]["id"], g.as_str());
        assert!(found[0].get("members").is_none(), "{filter}: {}", r.body);
        assert_eq!(found[0]["displayName"], "Group Eng");
    }
    // Membership check: member → the group, with only `id` (and the schemas that always come).
    let member = format!("id eq \"{g}\" and members eq \"{a}\"");
    let r = c.get(Client::Entra, &format!("/Groups?{}&attributes=id", entra_filter(&member))).await;
    let found = assert_list(&r, 1, 1);
    assert_eq!(found[0]["id"], g.as_str());
    assert!(found[0].get("members").is_none() && found[0].get("displayName").is_none(), "{}", r.body);
    let r =
        c.get(Client::Entra, &format!("/Groups?{}&excludedAttributes=members", entra_filter(&member))).await;
    assert!(assert_list(&r, 1, 1)[0].get("members").is_none(), "{}", r.body);
    // Not a member → empty 200.
    let not_member = format!("id eq \"{g}\" and members eq \"{b}\"");
    assert_list(
        &c.get(Client::Entra, &format!("/Groups?{}&attributes=id", entra_filter(&not_member))).await,
        0,
        0,
    );
    // `members.value eq` is the same question in RFC spelling.
    let r = c
        .get(
            Client::Entra,
            &format!("/Groups?{}&attributes=id", entra_filter(&format!("members.value eq \"{a}\""))),
        )
        .await;
    assert_list(&r, 1, 1);
    // Test Connection's group probe with a random GUID.
    let r = c
        .get(
            Client::Entra,
            &format!(
                "/Groups?excludedAttributes=members&{}",
                entra_filter("displayName eq \"0a4b6d5c-2f6e-4ed5-8a3f-8f2a1e2b9c11\"")
            ),
        )
        .await;
    assert_list(&r, 0, 0);
    // The old doc's manager reference check on Users.
    let r = c
        .get(
            Client::Entra,
            &format!(
                "/Users?{}&attributes=id",
                entra_filter(&format!("id eq \"{a}\" and manager eq \"{b}\""))
            ),
        )
        .await;
    assert_list(&r, 0, 0);
}

/// docs/idp-compatibility.md §1.6: the Postman collection's filters with unquoted values, parentheses, `or`,
/// `co` on a multi-valued sub-attribute, `sw`, and `gt` on an unquoted timestamp with seven fractional digits
/// and an offset.
async fn postman_filters(c: Idp) {
    for (i, domain) in
        ["example.com", "example.org", "example.com", "example.org", "example.net"].iter().enumerate()
    {
        let body = json!({
            "schemas": [USER],
            "userName": format!("emp{i}"),
            "externalId": "shared-external-id",
            "name": {"familyName": "Employee", "givenName": format!("E{i}")},
            "emails": [{"type": "work", "value": format!("emp{i}@{domain}"), "primary": true}]
        });
        assert_eq!(c.post(Client::Postman, "/Users", &body).await.status, 201);
    }
    assert_eq!(
        c.post(Client::Postman, "/Users", &json!({"schemas": [USER], "userName": "Oscar"})).await.status,
        201
    );
    let cases: [(&str, u64); 4] = [
        ("name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)", 4),
        ("userName sw O", 1),
        ("meta.Created gt 2015-10-10T14:38:21.8617979-07:00", 6),
        ("externalId eq \"shared-external-id\"", 5),
    ];
    for (filter, n) in cases {
        let r = c.get(Client::Postman, &format!("/Users?{}", entra_filter(filter))).await;
        assert_eq!(r.status, 200, "{filter}: {r:?}");
        assert_eq!(r.body["totalResults"], n, "{filter}: {}", r.body);
    }
    // The conformance checker's percent-encoded miss.
    let r = c.get(Client::Okta, "/Users?filter=userName%20eq%20%22nonexistent%40test.invalid%22").await;
    assert_list(&r, 0, 0);
}

/// docs/idp-compatibility.md §1.6, §4: a bad or unsupported filter is 400 invalidFilter with a detail.
async fn bad_filters_are_400_invalid_filter(c: Idp) {
    for filter in [
        "userName equals \"x\"",
        "userName eq",
        "nosuchattr eq \"x\"",
        "userName eq \"x\" and",
        "emails[type eq \"work\"",
    ] {
        let r = c.get(Client::Entra, &format!("/Users?{}", entra_filter(filter))).await;
        assert_error(&r, 400, Some("invalidFilter"));
    }
}

// ---------------------------------------------------------------------------------------------
// §1.7 PATCH
// ---------------------------------------------------------------------------------------------

/// docs/idp-compatibility.md §1.7.1–2, §2.1 "Disable", §2.3 row 2: Entra without the flag disables with
/// `Replace active "False"` and re-enables with `"True"` (the IsSoftDeleted Switch mapping, also in lower
/// case); with the flag, real booleans; Okta OIN with a no-path replace. Each is checked by a later GET, and
/// a disabled user is still found by GET and by filter (soft delete, per Microsoft's SCIM tutorial).
async fn deactivate_and_reactivate_in_every_dialect(c: Idp) {
    let u = c.entra_user("soft@contoso.com").await;
    let path = format!("/Users/{u}");
    let dialects: [(Client, Value, Value); 5] = [
        (
            Client::Entra,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        ),
        (
            Client::Entra,
            json!([{"op": "Replace", "path": "active", "value": "false"}]),
            json!([{"op": "Replace", "path": "active", "value": "true"}]),
        ),
        (
            Client::Entra,
            json!([{"op": "replace", "path": "active", "value": false}]),
            json!([{"op": "replace", "path": "active", "value": true}]),
        ),
        (
            Client::Okta,
            json!([{"op": "replace", "value": {"active": false}}]),
            json!([{"op": "replace", "value": {"active": true}}]),
        ),
        (
            Client::Validator,
            json!([{"op": "replace", "value": {"active": "False"}}]),
            json!([{"op": "Replace", "value": {"Active": "TRUE"}}]),
        ),
    ];
    for (who, off, on) in dialects {
        let r = c.patch(who, &path, off.clone()).await;
        assert_eq!(r.status, 200, "{off}: {r:?}");
        assert_eq!(r.body["active"], false, "{off}");
        assert_eq!(c.state(&path).await["active"], false, "{off}: stored");
        let r = c
            .get(Client::Entra, &format!("/Users?{}", entra_filter("userName eq \"soft@contoso.com\"")))
            .await;
        assert_eq!(assert_list(&r, 1, 1)[0]["active"], false, "a disabled user is still matched");
        let r = c.patch(who, &path, on.clone()).await;
        assert_eq!(r.status, 200, "{on}: {r:?}");
        assert_eq!(c.state(&path).await["active"], true, "{on}: stored");
    }
}

/// docs/idp-compatibility.md §1.7.2, §5 "String booleans": coercion applies to boolean attributes only —
/// `displayName: "True"` stays a string — in POST (Microsoft's Postman collection `"active": "True"`, the
/// validator's `roles[].primary: "True"`), PUT and filter-path literals; a string that is not a boolean is
/// 400 invalidValue, not a silent false.
async fn string_booleans_only_where_the_schema_says_boolean(c: Idp) {
    let body = json!({
        "schemas": [USER], "userName": "strbool", "active": "True", "displayName": "True", "title": "false",
        "roles": [{"primary": "True", "display": "Admin", "value": "Admin", "type": "WindowsAzureActiveDirectoryRole"}]
    });
    let r = c.post(Client::Validator, "/Users", &body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let path = format!("/Users/{}", id(&r.body));
    let u = c.state(&path).await;
    assert_eq!(
        (u["active"].clone(), u["displayName"].clone(), u["title"].clone()),
        (json!(true), json!("True"), json!("false")),
        "{u}"
    );
    assert_eq!(u["roles"][0]["primary"], true, "{u}");
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Replace", "path": "displayName", "value": "False"}]))
        .await;
    assert_eq!(r.body["displayName"], "False", "{r:?}");
    let r =
        c.patch(Client::Entra, &path, json!([{"op": "Replace", "path": "active", "value": "maybe"}])).await;
    assert_error(&r, 400, Some("invalidValue"));
    assert_eq!(c.state(&path).await["active"], true, "nothing half-written");
    // `active` is defaulted at creation only: clearing it (null or "", §1.7.7) or removing it
    // leaves it absent (RFC 7644 §3.5.2.2), as for any attribute.
    for (i, empty) in [Value::Null, json!("")].into_iter().enumerate() {
        let r = c
            .patch(Client::Validator, &path, json!([{"op": "replace", "path": "active", "value": empty}]))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(c.state(&path).await.get("active").is_none(), "{i}");
        let r = c
            .patch(Client::Validator, &path, json!([{"op": "replace", "path": "active", "value": true}]))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = c.patch(Client::Validator, &path, json!([{"op": "remove", "path": "active"}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(c.state(&path).await.get("active").is_none());
    // PUT with a string boolean (Okta AIW writes whatever its profile holds).
    let mut put = c.state(&path).await;
    put["active"] = json!("False");
    let r = c.put(Client::Okta, &path, &put).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["active"], false);
}

/// docs/idp-compatibility.md §1.7.3, §2.3 row 3: with the flag Entra folds several changes into one no-path
/// replace whose keys are dotted sub-attribute paths and extension-URN paths; without it, one
/// `Replace` per attribute. Both end in the same stored user.
async fn entra_several_changes_flag_on_and_off_agree(c: Idp) {
    let on = c.entra_user("flagon@contoso.com").await;
    let off = c.entra_user("flagoff@contoso.com").await;
    let r = c
        .patch(
            Client::Entra,
            &format!("/Users/{on}"),
            json!([{"op": "replace", "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Dept"
            }}]),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.patch(Client::Entra, &format!("/Users/{off}"), json!([
        {"op": "Replace", "path": "displayName", "value": "Bjfe"},
        {"op": "Replace", "path": "name.givenName", "value": "Kkom"},
        {"op": "Replace", "path": "name.familyName", "value": "Unua"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Aklq"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Dept"}
    ])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let a = c.state(&format!("/Users/{on}")).await;
    let b = c.state(&format!("/Users/{off}")).await;
    for u in [&a, &b] {
        assert_eq!(u["displayName"], "Bjfe", "{u}");
        assert_eq!(u["name"]["givenName"], "Kkom", "{u}");
        assert_eq!(u["name"]["familyName"], "Unua", "{u}");
        // Untouched sub-attributes of name survive a sub-attribute replace.
        assert_eq!(u["name"]["formatted"], "givenName familyName", "{u}");
        assert_eq!(u[ENTERPRISE]["employeeNumber"], "Aklq", "{u}");
        assert_eq!(u[ENTERPRISE]["department"], "Dept", "{u}");
        assert!(u["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)), "{u}");
    }
    // A no-path replace with the extension as a nested object (Microsoft's Logic App suite) works too.
    let r = c
        .patch(
            Client::Entra,
            &format!("/Users/{on}"),
            json!([{"op": "replace", "value": {ENTERPRISE: {"costCenter": "4130"}}}]),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let u = c.state(&format!("/Users/{on}")).await;
    assert_eq!(u[ENTERPRISE]["costCenter"], "4130", "{u}");
}

/// docs/idp-compatibility.md §1.7.4, §5 "replace on a filter path with no match": value-filter paths create
/// the element they name (type and primary from the filter literal, `"True"` as a boolean);
/// later writes through the same path update that element in place.
async fn value_filter_paths_create_then_update(c: Idp) {
    let u = c.entra_user("vp@contoso.com").await;
    let path = format!("/Users/{u}");
    let r = c.patch(Client::Entra, &path, json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "55555555555"},
        {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 (555) 555-0100"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].region", "value": "WA"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].country", "value": "US"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St, Redmond"},
        {"op": "Add", "path": "roles[primary eq \"True\"].display", "value": "Role1"},
        {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "r1"},
        {"op": "Add", "path": "roles[primary eq \"True\"].type", "value": "WindowsAzureActiveDirectoryRole"}
    ])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = c.state(&path).await;
    assert_eq!(
        s["emails"],
        json!([{"primary": true, "type": "work", "value": "new@contoso.com"}]),
        "updated in place: {s}"
    );
    let phones = s["phoneNumbers"].as_array().unwrap();
    assert_eq!(phones.len(), 2, "{s}");
    assert!(
        phones.contains(&json!({"type": "mobile", "value": "55555555555"})),
        "as sent, not reformatted: {s}"
    );
    assert!(phones.contains(&json!({"type": "work", "value": "+1 (555) 555-0100"})), "{s}");
    assert_eq!(s["addresses"].as_array().unwrap().len(), 1, "one element, built up: {s}");
    assert_eq!(
        s["addresses"][0],
        json!({"type": "work", "streetAddress": "1 Main St", "locality": "Redmond", "region": "WA", "postalCode": "98052", "country": "US", "formatted": "1 Main St, Redmond"}),
        "{s}"
    );
    assert_eq!(
        s["roles"],
        json!([{"primary": true, "display": "Role1", "value": "r1", "type": "WindowsAzureActiveDirectoryRole"}]),
        "{s}"
    );
    // Entra's `emails[type eq "work"].value eq` matching query finds the new address.
    let r = c
        .get(
            Client::Entra,
            &format!("/Users?{}", entra_filter("emails[type eq \"work\"].value eq \"new@contoso.com\"")),
        )
        .await;
    assert_list(&r, 1, 1);
    // A remove through a filter that matches nothing is a no-op 2xx (§8).
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Remove", "path": "phoneNumbers[type eq \"fax\"]"}]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["phoneNumbers"].as_array().unwrap().len(), 2);
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"]"}]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["phoneNumbers"], json!([{"type": "work", "value": "+1 (555) 555-0100"}]));
}

/// docs/idp-compatibility.md §1.7.5, §2.3 row 5, §5 "Remove members without a filter": every membership shape
/// — Entra's add with `$ref: null`, Okta's with `display`, several in one op, the Postman collection's bare
/// string; remove by value list (flag off), by filter path (flag on, Okta), all (no value); replace; unknown
/// ids and repeats are 2xx no-ops. Removing one member leaves the others.
async fn group_membership_in_every_shape(c: Idp) {
    let u: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(c.entra_user(&format!("m{i}@contoso.com")).await);
        }
        v
    };
    let g = c.okta_group("Members").await;
    let path = format!("/Groups/{g}");
    // Entra: one Add with several members, $ref null (gallery requirement).
    let r = c.patch(Client::Entra, &path, json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u[0]}, {"$ref": null, "value": u[1]}]}])).await;
    assert_eq!(r.status, 204, "{r:?}");
    // Okta: add with display, including one already there.
    let r = c.patch(Client::Okta, &path, json!([{"op": "add", "path": "members", "value": [{"value": u[2], "display": "m2@contoso.com"}, {"value": u[0], "display": "m0@contoso.com"}]}])).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, sorted(vec![u[0].clone(), u[1].clone(), u[2].clone()]));
    // Entra flag off: remove only the listed member.
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Remove", "path": "members", "value": [{"value": u[1]}]}]))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, sorted(vec![u[0].clone(), u[2].clone()]), "the others stay");
    // Entra flag on / Okta: remove by filter path, no value.
    let r = c
        .patch(
            Client::Okta,
            &path,
            json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", u[2])}]),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, vec![u[0].clone()]);
    // Removing a non-member, by either shape, is a no-op 2xx.
    let r = c
        .patch(
            Client::Okta,
            &path,
            json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", u[3])}]),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Remove", "path": "members", "value": [{"value": u[3]}]}]))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, vec![u[0].clone()]);
    // Unknown ids (the conformance checker's "fake-member-id", the Postman collection's bare "string id 1")
    // are not a 4xx; the default is to skip them.
    let r = c
        .patch(
            Client::Validator,
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": "fake-member-id"}]}]),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = c
        .patch(Client::Postman, &path, json!([{"op": "Add", "path": "members", "value": "string id 1"}]))
        .await;
    assert!(r.status.is_success(), "{r:?}");
    let r = c.patch(Client::Postman, &path, json!([{"op": "Add", "path": "members", "value": u[3]}])).await;
    assert!(r.status.is_success(), "{r:?}");
    assert_eq!(c.member_ids(&g).await, sorted(vec![u[0].clone(), u[3].clone()]));
    // Okta / validator: replace the whole list.
    let r = c.patch(Client::Okta, &path, json!([{"op": "replace", "path": "members", "value": [{"value": u[1], "display": "m1"}, {"value": u[2], "display": "m2"}]}])).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, sorted(vec![u[1].clone(), u[2].clone()]));
    // A user's `groups` is computed from the rows.
    let s = c.state(&format!("/Users/{}", u[1])).await;
    assert_eq!(s["groups"][0]["value"], g.as_str(), "{s}");
    // Microsoft's Postman collection: remove path=members without a value removes all.
    let r = c.patch(Client::Postman, &path, json!([{"op": "remove", "path": "members"}])).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert!(c.member_ids(&g).await.is_empty());
    // The group itself is untouched by membership changes.
    assert_eq!(c.state(&path).await["displayName"], "Members");
}

/// docs/idp-compatibility.md §1.7.6, §5 "Manager value shapes": Entra's array of `{$ref, value}` on the short
/// path, the validator's object on the URN path, the Logic App suite's plain string; cleared by `""`,
/// `{"value": ""}` and `null`, after which `manager` is absent.
async fn manager_in_every_shape(c: Idp) {
    let u = c.entra_user("report@contoso.com").await;
    let boss = c.entra_user("boss@contoso.com").await;
    let boss2 = c.entra_user("boss2@contoso.com").await;
    let path = format!("/Users/{u}");
    let urn_path = format!("{ENTERPRISE}:manager");
    let manager = |s: &Value| s[ENTERPRISE]["manager"]["value"].clone();
    let absent = |s: &Value| s.get(ENTERPRISE).and_then(|e| e.get("manager")).is_none();
    let sets = [
        (
            Client::Entra,
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": format!("{}/Users/{boss}", c.base()), "value": boss}]}]),
        ),
        (Client::Validator, json!([{"op": "Add", "path": urn_path, "value": {"value": boss}}])),
        (Client::Entra, json!([{"op": "Add", "path": urn_path, "value": boss}])),
    ];
    let clears = [
        json!([{"op": "replace", "path": urn_path, "value": {"value": ""}}]),
        json!([{"op": "replace", "path": urn_path, "value": ""}]),
        json!([{"op": "replace", "path": urn_path, "value": null}]),
    ];
    for ((who, set), clear) in sets.into_iter().zip(clears) {
        let r = c.patch(who, &path, set.clone()).await;
        assert_eq!(r.status, 200, "{set}: {r:?}");
        assert_eq!(manager(&c.state(&path).await), json!(boss), "{set}");
        // Microsoft's Logic App suite changes it with a plain string.
        let r =
            c.patch(Client::Entra, &path, json!([{"op": "replace", "path": urn_path, "value": boss2}])).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(manager(&c.state(&path).await), json!(boss2));
        let r = c.patch(Client::Validator, &path, clear.clone()).await;
        assert_eq!(r.status, 200, "{clear}: {r:?}");
        let s = c.state(&path).await;
        assert!(absent(&s), "{clear}: {s}");
    }
}

/// docs/idp-compatibility.md §1.7.7: the Logic App suite's `SCIM_Null_Update_Test` clears with `""`, phase 2
/// with `null`; both remove the attribute, which is then absent from responses.
async fn clearing_by_empty_string_and_null(c: Idp) {
    let u = c.entra_user("clear@contoso.com").await;
    let path = format!("/Users/{u}");
    for value in [json!(""), Value::Null] {
        let r = c
            .patch(Client::Entra, &path, json!([{"op": "replace", "path": "title", "value": "Manager"}]))
            .await;
        assert_eq!(r.body["title"], "Manager", "{r:?}");
        let r =
            c.patch(Client::Entra, &path, json!([{"op": "replace", "path": "title", "value": value}])).await;
        assert_eq!(r.status, 200, "{value}: {r:?}");
        assert!(r.body.get("title").is_none(), "{value}: {}", r.body);
        assert!(c.state(&path).await.get("title").is_none(), "{value}");
        // The same through a no-path replace and on an extension attribute.
        let r = c.patch(Client::Entra, &path, json!([{"op": "replace", "value": {"nickName": "Babs", format!("{ENTERPRISE}:department"): "Eng"}}])).await;
        assert_eq!(r.status, 200, "{r:?}");
        let r = c.patch(Client::Entra, &path, json!([{"op": "replace", "value": {"nickName": value, format!("{ENTERPRISE}:department"): value}}])).await;
        assert_eq!(r.status, 200, "{value}: {r:?}");
        let s = c.state(&path).await;
        assert!(s.get("nickName").is_none(), "{value}: {s}");
        assert!(s.get(ENTERPRISE).and_then(|e| e.get("department")).is_none(), "{value}: {s}");
    }
}

/// docs/idp-compatibility.md §1.7.8: operations apply in order — remove, add, replace of displayName ends
/// with the last value; add then remove of one member leaves it absent; ~36 adds in one request.
async fn operations_apply_in_order(c: Idp) {
    let u = c.entra_user("order@contoso.com").await;
    let path = format!("/Users/{u}");
    let r = c
        .patch(
            Client::Validator,
            &path,
            json!([
                {"op": "remove", "path": "displayName"},
                {"op": "add", "path": "displayName", "value": "Second"},
                {"op": "replace", "path": "displayName", "value": "Third"}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["displayName"], "Third");

    let other = c.entra_user("order2@contoso.com").await;
    let g = c.okta_group("Ordered").await;
    let r = c
        .patch(
            Client::Validator,
            &format!("/Groups/{g}"),
            json!([
                {"op": "add", "path": "members", "value": [{"value": u}, {"value": other}]},
                {"op": "remove", "path": format!("members[value eq \"{u}\"]")}
            ]),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, vec![other.clone()]);

    // "Add Attributes Verbose": one op per attribute.
    let mut ops = vec![
        json!({"op": "add", "path": "nickName", "value": "Nick"}),
        json!({"op": "add", "path": "title", "value": "Title"}),
        json!({"op": "add", "path": "preferredLanguage", "value": "en-US"}),
        json!({"op": "add", "path": "locale", "value": "en-US"}),
        json!({"op": "add", "path": "timezone", "value": "America/Los_Angeles"}),
        json!({"op": "add", "path": "userType", "value": "Employee"}),
        json!({"op": "add", "path": "profileUrl", "value": "https://example.com/p"}),
        json!({"op": "add", "path": "name.middleName", "value": "M"}),
        json!({"op": "add", "path": "name.honorificPrefix", "value": "Dr"}),
        json!({"op": "add", "path": "name.honorificSuffix", "value": "III"}),
    ];
    for field in ["employeeNumber", "costCenter", "organization", "division", "department"] {
        ops.push(
            json!({"op": "add", "path": format!("{ENTERPRISE}:{field}"), "value": format!("v-{field}")}),
        );
    }
    for t in ["work", "home", "other"] {
        ops.push(json!({"op": "add", "path": format!("emails[type eq \"{t}\"].value"), "value": format!("{t}@x.example")}));
        ops.push(json!({"op": "add", "path": format!("phoneNumbers[type eq \"{t}\"].value"), "value": format!("555-{t}")}));
        for sub in ["streetAddress", "locality", "region", "postalCode", "country"] {
            ops.push(json!({"op": "add", "path": format!("addresses[type eq \"{t}\"].{sub}"), "value": format!("{t}-{sub}")}));
        }
    }
    assert!(ops.len() >= 36, "{}", ops.len());
    let r = c.patch(Client::Validator, &path, Value::Array(ops)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = c.state(&path).await;
    assert_eq!(s["name"]["honorificSuffix"], "III", "{s}");
    assert_eq!(s[ENTERPRISE]["division"], "v-division", "{s}");
    assert_eq!(s["emails"].as_array().unwrap().len(), 3, "{s}");
    assert_eq!(s["addresses"].as_array().unwrap().len(), 3, "{s}");
    let home = s["addresses"].as_array().unwrap().iter().find(|a| a["type"] == "home").unwrap().clone();
    assert_eq!(home["postalCode"], "home-postalCode", "{s}");
}

/// docs/idp-compatibility.md §1.7.9: Entra (flag off) `Add`s a single-valued attribute that already has a
/// value; the value is replaced.
async fn add_on_a_single_valued_attribute_replaces(c: Idp) {
    let u = c.entra_user("nick@contoso.com").await;
    let path = format!("/Users/{u}");
    for nick in ["Babs", "Barbie"] {
        let r =
            c.patch(Client::Entra, &path, json!([{"op": "Add", "path": "nickName", "value": nick}])).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(c.state(&path).await["nickName"], nick);
    }
}

/// docs/idp-compatibility.md §1.7.10: roles from Entra's expression mappings are stored opaquely — a value
/// that is a JSON-encoded string stays that string; the Assertive mapping replaces the list.
async fn entra_roles_are_stored_as_sent(c: Idp) {
    let u = c.entra_user("roles@contoso.com").await;
    let path = format!("/Users/{u}");
    let single =
        "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\",\"displayName\":\"Role1234\"}";
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Add", "path": "roles", "value": [{"value": single}]}]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["roles"], json!([{"value": single}]));
    let assertive = json!([
        {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"},
        {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"}
    ]);
    let r =
        c.patch(Client::Entra, &path, json!([{"op": "replace", "path": "roles", "value": assertive}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["roles"], assertive);
}

/// docs/idp-compatibility.md §1.7.11, §5 "PATCH response": 200 with the full resource for users by default,
/// 204 for groups (patch_response = auto), 200 with the group under patch_response = body,
/// honouring `attributes` / `excludedAttributes=members`.
async fn patch_answers_200_with_the_resource(c: Idp) {
    let u = c.entra_user("resp@contoso.com").await;
    let g = c.okta_group("Resp").await;
    let r = c
        .patch(
            Client::Entra,
            &format!("/Users/{u}"),
            json!([{"op": "Replace", "path": "title", "value": "T"}]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], u.as_str());
    assert_eq!(r.body["userName"], "resp@contoso.com");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(r.header("etag").is_some(), "{r:?}");
    // A Group PATCH answers 204 by default (patch_response = auto): the member list is neither
    // rendered nor sent; with patch_response = body it is the resource.
    let add = json!([{"op": "add", "path": "members", "value": [{"value": u, "display": "resp"}]}]);
    let r = c.patch(Client::Okta, &format!("/Groups/{g}"), add.clone()).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert!(r.header("etag").is_some(), "{r:?}");
    c.set_patch_response(scimd_store::PatchResponse::Body).await;
    let r = c.patch(Client::Okta, &format!("/Groups/{g}"), add).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["members"][0]["value"], u.as_str(), "{}", r.body);
    let r = c
        .patch(
            Client::Entra,
            &format!("/Groups/{g}?excludedAttributes=members"),
            json!([{"op": "Add", "path": "members", "value": [{"value": u}]}]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("members").is_none(), "{}", r.body);
    assert_eq!(r.body["displayName"], "Resp");
    let r = c
        .patch(
            Client::Entra,
            &format!("/Users/{u}?attributes=userName"),
            json!([{"op": "Replace", "path": "title", "value": "U"}]),
        )
        .await;
    assert_eq!(r.body["userName"], "resp@contoso.com");
    assert!(r.body.get("title").is_none(), "{}", r.body);
    assert_eq!(r.body["id"], u.as_str(), "id is always returned");
}

// ---------------------------------------------------------------------------------------------
// §1.8 resource shape, §1.9 lists
// ---------------------------------------------------------------------------------------------

/// docs/idp-compatibility.md §1.8, §4: `id` in a POST body and `meta` in a POST or PUT body are ignored
/// (Entra and Microsoft's Postman collection send `meta`, Okta and Microsoft's Postman collection echo `id`
/// on PUT, which must equal the resource's); unknown schema URNs (Entra's ADSCIM group URN, Microsoft's
/// tutorial's `enterprise:2.0User` typo) and unknown attributes (the Postman collection's `adreses`) are
/// dropped; `meta` carries resourceType, created, lastModified and an absolute location equal to `Location`.
async fn resource_shape_rules(c: Idp) {
    let body = json!({
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "id": "client-chosen-id",
        "userName": "shape@contoso.com",
        "adreses": [{"type": "work", "streetAddress": "nowhere"}],
        "meta": {"resourceType": "Users", "created": "2015-10-10T14:38:21Z", "lastModified": "2015-10-10T14:38:21Z", "location": "https://elsewhere/Users/x", "version": "W/\"99\""},
        "phoneNumbers": [{"type": "work", "value": "55555555555"}],
        "emails": [{"type": "work", "value": "a@contoso.com"}, {"type": "work", "value": "b@contoso.com"}]
    });
    let r = c.post(Client::Postman, "/Users", &body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let uid = id(&r.body);
    assert_ne!(uid, "client-chosen-id");
    assert!(!uid.is_empty());
    let location = format!("{}/Users/{uid}", c.base());
    assert_eq!(r.body["meta"]["location"], location.as_str(), "{}", r.body);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_ne!(r.body["meta"]["created"], "2015-10-10T14:38:21Z");
    assert!(r.body["meta"]["lastModified"].is_string());
    assert_eq!(r.body["schemas"], json!([USER]), "{}", r.body);
    assert!(!r.body.to_string().to_lowercase().contains("adreses"), "{}", r.body);
    assert_eq!(r.body["phoneNumbers"][0]["value"], "55555555555", "returned as sent");
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 2, "duplicate types accepted (Postman tests)");
    assert_eq!(r.body["active"], true, "active is always present (Okta's spec tests read it)");
    // PUT echoing its own id and a foreign meta (Microsoft's Postman collection, Okta): meta ignored, the id
    // stays.
    let mut put = r.body.clone();
    put["meta"] = json!({"resourceType": "User", "created": "2015-10-10T14:38:21Z"});
    put["adreses"] = json!([{"streetAddress": "x"}]);
    put["displayName"] = json!("Shape");
    let r = c.put(Client::Postman, &format!("/Users/{uid}"), &put).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["id"], uid.as_str());
    assert_ne!(r.body["meta"]["created"], "2015-10-10T14:38:21Z");
    assert!(!r.body.to_string().to_lowercase().contains("adreses"), "{}", r.body);
    // §7 "Changing id": a different id is 400 mutability, and nothing changes.
    put["id"] = json!("another-id");
    put["displayName"] = json!("Changed");
    let r = c.put(Client::Postman, &format!("/Users/{uid}"), &put).await;
    assert_error(&r, 400, Some("mutability"));
    assert_eq!(c.state(&format!("/Users/{uid}")).await["displayName"], "Shape");
    assert_eq!(c.get(Client::Entra, "/Users/another-id").await.status, 404);
    // Extension data brings its URN into `schemas`.
    let r = c
        .patch(
            Client::Entra,
            &format!("/Users/{uid}"),
            json!([{"op": "Add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "1"}]),
        )
        .await;
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)), "{}", r.body);
    // externalId is not unique (Microsoft's Postman collection reuses one); userName is.
    let mut second = entra_user_body("shape2@contoso.com");
    second["externalId"] = json!("ext-shape2@contoso.com");
    assert_eq!(c.post(Client::Entra, "/Users", &second).await.status, 201);
    second["userName"] = json!("shape3@contoso.com");
    assert_eq!(c.post(Client::Entra, "/Users", &second).await.status, 201);
}

/// docs/idp-compatibility.md §1.8, §3.1: a user POSTed without `active` still shows `active` (Okta's spec
/// tests assert `Resources[0].active` is non-empty); a user POSTed active is never flipped to inactive
/// (kortix-ai/suna#4244).
async fn active_is_always_present_and_never_flipped(c: Idp) {
    let r = c.post(Client::Postman, "/Users", &json!({"schemas": [USER], "userName": "noactive"})).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.body["active"].is_boolean(), "{}", r.body);
    let r = c.get(Client::OktaSpec, &format!("/Users?{}", okta_filter("userName eq \"noactive\""))).await;
    assert!(assert_list(&r, 1, 1)[0]["active"].is_boolean(), "{}", r.body);
    let r = c.post(Client::Okta, "/Users", &okta_user_body("fresh@okta.local", "00u1")).await;
    assert_eq!(r.body["active"], true);
    assert_eq!(c.state(&format!("/Users/{}", id(&r.body))).await["active"], true);
}

/// docs/idp-compatibility.md §1.9, §3.1 "Import Users": Okta pages with `count=100`, then `startIndex=101`;
/// Microsoft's Logic App suite with `count=5`; counters are integers; `startIndex` is echoed; `itemsPerPage`
/// is the page size; the order is stable across pages; `count=0` gives totals only; no `count` uses a
/// default.
async fn pagination_as_okta_and_entra_page(c: Idp) {
    let total = 12;
    for i in 0..total {
        c.entra_user(&format!("page{i:02}@contoso.com")).await;
    }
    // Okta's Test API Credentials probes.
    let r = c.get(Client::Okta, "/Users?startIndex=1&count=2").await;
    assert_list(&r, total, 2);
    assert_eq!(r.body["startIndex"], 1);
    let r = c.get(Client::Okta, "/Groups?startIndex=1&count=100").await;
    assert_list(&r, 0, 0);
    // Import: page by 5 (Microsoft's Logic App suite) and by 100 (Okta); every user once, same order each
    // time.
    let mut seen = Vec::new();
    let mut start = 1;
    while start <= total {
        let r = c.get(Client::Entra, &format!("/Users?startIndex={start}&count=5")).await;
        let page = assert_list(&r, total, usize::try_from((total - start + 1).min(5)).unwrap());
        assert_eq!(r.body["startIndex"], start);
        seen.extend(page.iter().map(id));
        start += 5;
    }
    assert_eq!(sorted(seen.clone()).len(), seen.len());
    assert_eq!(seen.len(), 12);
    let r = c.get(Client::Okta, "/Users?startIndex=1&count=100").await;
    let all: Vec<String> = assert_list(&r, total, 12).iter().map(id).collect();
    assert_eq!(all, seen, "stable order");
    let r = c.get(Client::Okta, "/Users?startIndex=101&count=100").await;
    assert_list(&r, total, 0);
    assert_eq!(r.body["startIndex"], 101);
    let r = c.get(Client::Entra, "/Users?count=0").await;
    assert_list(&r, total, 0);
    let r = c.get(Client::Entra, "/Users").await;
    assert_list(&r, total, 12);
    assert_eq!(r.body["startIndex"], 1);
    // Microsoft's Logic App suite SCIM_Group_Pagination_Test: the same over /Groups (11 groups, pages of 5).
    for i in 0..11 {
        c.okta_group(&format!("Page Group {i:02}")).await;
    }
    let mut groups = Vec::new();
    for page in 0..3u64 {
        let start = page * 5 + 1;
        let r = c.get(Client::Entra, &format!("/Groups?startIndex={start}&count=5")).await;
        let got = assert_list(&r, 11, if page < 2 { 5 } else { 1 });
        assert_eq!(r.body["startIndex"], start);
        groups.extend(got.iter().map(id));
    }
    assert_eq!(sorted(groups.clone()).windows(2).filter(|w| w[0] == w[1]).count(), 0, "no group twice");
    assert_eq!(groups.len(), 11);
    // A filter with paging (Okta's create probe).
    let r =
        c.get(Client::Okta, &format!("/Users?{}", okta_filter("userName eq \"page03@contoso.com\""))).await;
    assert_list(&r, 1, 1);
}

// ---------------------------------------------------------------------------------------------
// §2 Entra end to end
// ---------------------------------------------------------------------------------------------

/// docs/idp-compatibility.md §2.1, §2.3: one provisioning cycle as Entra runs it — Test Connection (user and
/// group probes, Schemas), match, create, read, update, manager, disable, re-enable, delete — and
/// the 409 case, where the matching query must find the user the POST collides with.
async fn entra_provisioning_cycle(c: Idp) {
    // Test Connection.
    assert_list(
        &c.get(
            Client::Entra,
            &format!("/Users?{}", entra_filter("userName eq \"3d1f3e4a-4b7e-4c2a-9d0e-6f7b8a9c0d1e\"")),
        )
        .await,
        0,
        0,
    );
    assert_list(
        &c.get(
            Client::Entra,
            &format!(
                "/Groups?excludedAttributes=members&{}",
                entra_filter("displayName eq \"3d1f3e4a-4b7e-4c2a-9d0e-6f7b8a9c0d1e\"")
            ),
        )
        .await,
        0,
        0,
    );
    assert_eq!(c.get(Client::Entra, "/Schemas").await.status, 200);
    // Match → none → create.
    let upn = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com";
    assert_list(
        &c.get(Client::Entra, &format!("/Users?{}", entra_filter(&format!("userName eq \"{upn}\"")))).await,
        0,
        0,
    );
    let r = c.post(Client::Entra, "/Users", &entra_user_body(upn)).await;
    assert_eq!(r.status, 201, "{r:?}");
    let u = id(&r.body);
    let path = format!("/Users/{u}");
    // Read current state, then PATCH only what changed.
    assert_eq!(c.state(&path).await["userName"], upn);
    let r = c.patch(Client::Entra, &path, json!([{"op": "Add", "path": "nickName", "value": "Babs"}, {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let boss = c.entra_user("boss@contoso.com").await;
    let r = c.patch(Client::Entra, &path, json!([{"op": "Add", "path": "manager", "value": [{"$ref": format!("{}/Users/{boss}", c.base()), "value": boss}]}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    // Example 4: the manager reference check by filter.
    let r = c
        .get(
            Client::Entra,
            &format!(
                "/Users?{}&attributes=id",
                entra_filter(&format!("id eq \"{u}\" and manager eq \"{boss}\""))
            ),
        )
        .await;
    assert_eq!(assert_list(&r, 1, 1)[0]["id"], u.as_str());
    // Disable, and the job's next read still finds the user (no InvalidAnchor).
    let r =
        c.patch(Client::Entra, &path, json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = c.state(&path).await;
    assert_eq!(
        (s["active"].clone(), s["nickName"].clone(), s["emails"][0]["value"].clone()),
        (json!(false), json!("Babs"), json!("updatedEmail@microsoft.com")),
        "{s}"
    );
    assert_eq!(s[ENTERPRISE]["manager"]["value"], boss.as_str(), "{s}");
    let r =
        c.patch(Client::Entra, &path, json!([{"op": "Replace", "path": "active", "value": "True"}])).await;
    assert_eq!(r.body["active"], true, "{r:?}");
    // The 409 path: a POST that collides, and the matching query that must find the user.
    let r = c.post(Client::Entra, "/Users", &entra_user_body(&upn.to_uppercase())).await;
    assert_error(&r, 409, Some("uniqueness"));
    let r = c
        .get(
            Client::Entra,
            &format!("/Users?{}", entra_filter(&format!("userName eq \"{}\"", upn.to_uppercase()))),
        )
        .await;
    assert_eq!(assert_list(&r, 1, 1)[0]["id"], u.as_str());
    // Hard delete.
    let r = c.delete(Client::Entra, &path).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null, "no body on 204");
    assert_error(&c.get(Client::Entra, &path).await, 404, None);
    assert_list(
        &c.get(Client::Entra, &format!("/Users?{}", entra_filter(&format!("userName eq \"{upn}\"")))).await,
        0,
        0,
    );
    // Microsoft's Logic App suite Restore_User_Test / Restore_Group_Test: after unassign (delete),
    // re-assignment creates the same userName / displayName again — a fresh resource, not a 409.
    let r = c.post(Client::Entra, "/Users", &entra_user_body(upn)).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_ne!(id(&r.body), u);
    let g = c
        .post(
            Client::Entra,
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Restored", "externalId": "g-1"}),
        )
        .await;
    assert_eq!(c.delete(Client::Entra, &format!("/Groups/{}", id(&g.body))).await.status, 204);
    let r = c
        .post(
            Client::Entra,
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Restored", "externalId": "g-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}

/// docs/idp-compatibility.md §2.3 rows 1, 2, 4, 5: the same changes in the flag-off and flag-on dialects give
/// the same stored state, user and group.
async fn entra_flag_off_and_on_dialects_agree(c: Idp) {
    let mut ends = Vec::new();
    for (flag_on, name) in [(false, "off"), (true, "on")] {
        let u = c.entra_user(&format!("dialect-{name}@contoso.com")).await;
        let member = c.entra_user(&format!("dialect-member-{name}@contoso.com")).await;
        let keep = c.entra_user(&format!("dialect-keep-{name}@contoso.com")).await;
        let r = c
            .post(
                Client::Entra,
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": format!("dialect {name}"), "externalId": name}),
            )
            .await;
        let g = id(&r.body);
        let (add, replace, remove) =
            if flag_on { ("add", "replace", "remove") } else { ("Add", "Replace", "Remove") };
        let (f, t) = if flag_on { (json!(false), json!(true)) } else { (json!("False"), json!("True")) };
        let up = format!("/Users/{u}");
        assert_eq!(
            c.patch(Client::Entra, &up, json!([{"op": add, "path": "title", "value": "Eng"}])).await.status,
            200
        );
        assert_eq!(
            c.patch(Client::Entra, &up, json!([{"op": replace, "path": "active", "value": f}])).await.status,
            200
        );
        assert_eq!(
            c.patch(Client::Entra, &up, json!([{"op": replace, "path": "active", "value": t}])).await.status,
            200
        );
        assert_eq!(
            c.patch(Client::Entra, &up, json!([{"op": replace, "path": "active", "value": f.clone()}]))
                .await
                .status,
            200
        );
        let gp = format!("/Groups/{g}");
        let r = c
            .patch(
                Client::Entra,
                &gp,
                json!([{"op": add, "path": "members", "value": [{"value": member}, {"value": keep}]}]),
            )
            .await;
        assert_eq!(r.status, 204, "{r:?}");
        let op = if flag_on {
            json!([{"op": remove, "path": format!("members[value eq \"{member}\"]")}])
        } else {
            json!([{"op": remove, "path": "members", "value": [{"value": member}]}])
        };
        assert_eq!(c.patch(Client::Entra, &gp, op).await.status, 204);
        let s = c.state(&up).await;
        ends.push((s["title"].clone(), s["active"].clone(), c.member_ids(&g).await == vec![keep.clone()]));
    }
    assert_eq!(ends[0], (json!("Eng"), json!(false), true));
    assert_eq!(ends[0], ends[1]);
}

/// docs/idp-compatibility.md §1.7, §1.8, §4: the Microsoft SCIM Validator's run,
/// request by request as captured — create with `roles[].primary: "True"`, different-case filters, no-path
/// userName replace (then found by the new name), valuePath replaces, manager add / replace /
/// remove-without-value, duplicate group 409, group reads excluding members, no-path group replaces of
/// externalId and displayName, member add by `replace`, remove by filter, and the preview tests (several ops
/// on one attribute, deleting twice and deleting what never existed).
async fn microsoft_validator_run(c: Idp) {
    // The validator's group cases expect 200 with the resource: the tenant policy documented for
    // it (docs/operations.md) is patch_response = body.
    c.set_patch_response(scimd_store::PatchResponse::Body).await;
    let v = Client::Validator;
    let r = c.post(v, "/Users", &json!({
        "schemas": [USER, ENTERPRISE],
        "userName": "ford_purdy@abernathypadberg.uk",
        "active": true,
        "displayName": "KQWJZNTBVRHO",
        "emails": [{"type": "work", "value": "tressie@brown.com", "primary": true}],
        "name": {"givenName": "Ford", "familyName": "Purdy"},
        "roles": [{"primary": "True", "display": "KEGJDMBTZXPD", "value": "YFPHYSVYNPPK", "type": "ABDRTDIQFQMG"}],
        ENTERPRISE: {"employeeNumber": "EMP1", "department": "DEPT"}
    })).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["roles"][0]["primary"], true, "a boolean, not \"True\" (Bug H)");
    let u = id(&r.body);
    let path = format!("/Users/{u}");
    let r = c.get(v, "/Users?filter=userName+eq+%22FORD_PURDY%40ABERNATHYPADBERG.UK%22").await;
    assert_eq!(assert_list(&r, 1, 1)[0]["id"], u.as_str());
    // Update User userName (no-path replace), then the matching query finds the new name only.
    let r = c.patch(v, &path, json!([{"op": "replace", "value": {"userName": "emilio@hermann.uk"}}])).await;
    assert_eq!(r.body["userName"], "emilio@hermann.uk", "{r:?}");
    assert_list(
        &c.get(v, &format!("/Users?{}", entra_filter("userName eq \"Emilio@Hermann.uk\""))).await,
        1,
        1,
    );
    assert_list(
        &c.get(v, &format!("/Users?{}", entra_filter("userName eq \"ford_purdy@abernathypadberg.uk\"")))
            .await,
        0,
        0,
    );
    // Patch User - Replace Attributes.
    let r = c.patch(v, &path, json!([
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "lilian.graham@millszboncak.ca"},
        {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "07-272-0828"},
        {"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "2809 Johns Walk"},
        {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "KMYVNUJVVZWC"}
    ])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = c.state(&path).await;
    assert_eq!(
        s["emails"],
        json!([{"type": "work", "value": "lilian.graham@millszboncak.ca", "primary": true}]),
        "{s}"
    );
    assert_eq!(s["phoneNumbers"][0]["value"], "07-272-0828", "{s}");
    assert_eq!(s["addresses"][0]["locality"], "KMYVNUJVVZWC", "{s}");
    assert!(s.as_object().unwrap().keys().all(|k| !k.contains('[')), "no flat valuePath keys: {s}");
    // Manager: add, replace (object on the URN path), remove without a value.
    let urn_manager = format!("{ENTERPRISE}:manager");
    for m in ["AXTKDLNRKMKT", "CBEQXYNPNAZS"] {
        let r = c.patch(v, &path, json!([{"op": if m.starts_with('A') { "add" } else { "replace" }, "path": urn_manager, "value": {"value": m}}])).await;
        assert_eq!(r.status, 200, "{r:?}");
        let s = c.state(&path).await;
        assert_eq!(s[ENTERPRISE]["manager"], json!({"value": m}), "{s}");
        assert!(s.get(urn_manager.as_str()).is_none(), "not a flat key: {s}");
    }
    let r = c.patch(v, &path, json!([{"op": "remove", "path": urn_manager}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = c.state(&path).await;
    assert!(s[ENTERPRISE].get("manager").is_none(), "{s}");
    assert_eq!(s[ENTERPRISE]["employeeNumber"], "EMP1", "the rest of the extension stays: {s}");
    // Preview: several ops on the same attribute, in order.
    let r = c
        .patch(
            v,
            &path,
            json!([
                {"op": "remove", "path": "displayName"},
                {"op": "add", "path": "displayName", "value": "AAA"},
                {"op": "replace", "path": "displayName", "value": "BBB"}
            ]),
        )
        .await;
    assert_eq!(r.body["displayName"], "BBB", "{r:?}");

    // Groups.
    let body = json!({"displayName": "UHYYWKURUTZS", "externalId": "c420a4bf-cb0d-415a-98ff-bb3c12b0b2e3", "schemas": [GROUP]});
    let r = c.post(v, "/Groups", &body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let g = id(&r.body);
    let gpath = format!("/Groups/{g}");
    assert_error(&c.post(v, "/Groups", &body).await, 409, Some("uniqueness"));
    let r = c.get(v, "/Groups?filter=displayName+eq+%22uhyywkurutzs%22").await;
    assert_eq!(assert_list(&r, 1, 1)[0]["id"], g.as_str());
    let r = c.patch(v, &gpath, json!([{"op": "replace", "path": "members", "value": [{"value": u}]}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.get(v, &format!("{gpath}?excludedAttributes=members")).await;
    assert!(r.body.get("members").is_none(), "{}", r.body);
    assert_eq!(r.body["displayName"], "UHYYWKURUTZS");
    let r = c.get(v, "/Groups?excludedAttributes=members&filter=displayName+eq+%22UHYYWKURUTZS%22").await;
    assert!(assert_list(&r, 1, 1)[0].get("members").is_none(), "{}", r.body);
    // Patch Group - Replace Attributes / Update Group displayName (no-path objects).
    let r = c
        .patch(
            v,
            &gpath,
            json!([{"op": "replace", "value": {"externalId": "c3b97a69-ee33-427b-8bc1-d661b7769314"}}]),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.patch(v, &gpath, json!([{"op": "replace", "value": {"displayName": "MSADPJJZWBUS"}}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = c.state(&gpath).await;
    assert_eq!(
        (s["externalId"].clone(), s["displayName"].clone()),
        (json!("c3b97a69-ee33-427b-8bc1-d661b7769314"), json!("MSADPJJZWBUS")),
        "{s}"
    );
    assert_eq!(c.member_ids(&g).await, vec![u.clone()], "membership untouched by the renames");
    let r = c
        .get(
            v,
            &format!("/Groups?{}", entra_filter("externalId eq \"c3b97a69-ee33-427b-8bc1-d661b7769314\"")),
        )
        .await;
    assert_list(&r, 1, 1);
    // Preview: add then remove the same member in one request.
    let r = c
        .patch(
            v,
            &gpath,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{u}\"]")},
                {"op": "add", "path": "members", "value": [{"value": u}]},
                {"op": "remove", "path": format!("members[value eq \"{u}\"]")}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(c.member_ids(&g).await.is_empty());
    // Preview: delete twice, delete what never existed.
    for p in [path, gpath] {
        assert_eq!(c.delete(v, &p).await.status, 204);
        assert_error(&c.delete(v, &p).await, 404, None);
    }
    assert_error(&c.delete(v, "/Users/6c3b8f4e-1d2a-4b5c-9e8f-0a1b2c3d4e5f").await, 404, None);
    assert_error(&c.delete(v, "/Groups/6c3b8f4e-1d2a-4b5c-9e8f-0a1b2c3d4e5f").await, 404, None);
}

// ---------------------------------------------------------------------------------------------
// §3 Okta end to end
// ---------------------------------------------------------------------------------------------

/// docs/idp-compatibility.md §3.1 "Push New Users", "Push Profile Updates", "Deactivate", "Sync Password":
/// the OIN flow — filter, create (201, full resource, no password), link by GET, PUT the full representation
/// with read-only fields echoed (as captured in public traces), deactivate and reactivate by no-path PATCH,
/// password sync by PATCH.
async fn okta_oin_user_lifecycle(c: Idp) {
    let login = "test.user@okta.local";
    let r =
        c.get(Client::Okta, &format!("/Users?{}", okta_filter(&format!("userName eq \"{login}\"")))).await;
    assert_list(&r, 0, 0);
    let r = c.post(Client::Okta, "/Users", &okta_user_body(login, "00ujl29u0le5T6Aj10h7")).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.body.get("password").is_none(), "{}", r.body);
    assert_eq!(r.body["displayName"], "Test User");
    assert_eq!(r.body["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(r.header("location"), r.body["meta"]["location"].as_str());
    let u = id(&r.body);
    let path = format!("/Users/{u}");
    // Second assignment: found, linked, read.
    let r =
        c.get(Client::Okta, &format!("/Users?{}", okta_filter(&format!("userName eq \"{login}\"")))).await;
    assert_eq!(assert_list(&r, 1, 1)[0]["id"], u.as_str());
    // Profile update: GET, then PUT the whole object back with changes; id, meta, groups and
    // password come along.
    let mut put = c.get(Client::Okta, &path).await.body;
    put["name"]["familyName"] = json!("Changed");
    put["groups"] = json!([]);
    put["password"] = json!("1mz050nq");
    put["emails"] = json!([{"primary": true, "value": "changed@okta.local", "type": "work"}]);
    let r = c.put(Client::Okta, &path, &put).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["id"], u.as_str());
    assert!(r.body.get("password").is_none());
    let s = c.state(&path).await;
    assert_eq!(s["name"]["familyName"], "Changed", "{s}");
    assert_eq!(s["emails"][0]["value"], "changed@okta.local", "{s}");
    // Deactivate / reactivate (OIN).
    let r = c.patch(Client::Okta, &path, json!([{"op": "replace", "value": {"active": false}}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.state(&path).await["active"], false);
    let r = c.patch(Client::Okta, &path, json!([{"op": "replace", "value": {"active": true}}])).await;
    assert_eq!(r.body["active"], true);
    // Password sync (shape inferred): accepted, never returned, the rest untouched.
    let r =
        c.patch(Client::Okta, &path, json!([{"op": "replace", "value": {"password": "n3wPassw0rd!"}}])).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.get("password").is_none(), "{}", r.body);
    let r = c
        .patch(Client::Okta, &path, json!([{"op": "replace", "path": "password", "value": "an0therOne!"}]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = c.get(Client::Okta, &format!("{path}?attributes=password,userName")).await.body;
    assert!(s.get("password").is_none(), "{s}");
    assert_eq!(c.state(&path).await["name"]["familyName"], "Changed");
    // Duplicate create stops the job with 409.
    let r = c.post(Client::Okta, "/Users", &okta_user_body(login, "00other")).await;
    assert_error(&r, 409, Some("uniqueness"));
}

/// docs/idp-compatibility.md §1.2, §1.3, §1.5, §3.1, §4: Okta's Runscope suite in order — the
/// Users endpoint with `count=1&startIndex=1` (a full first resource, integer counters), a miss
/// by userName (200, totalResults 0), create with `application/json`, fetch by id and by
/// userName, the duplicate 409, the case-sensitivity check, `/Groups`, an unknown id 404 and the
/// `non-token` 401 — each with the suite's headers (a Content-Type even on GET).
async fn okta_spec_runscope_suite(c: Idp) {
    let spec = Client::OktaSpec;
    let seed = c.post(Client::Okta, "/Users", &okta_user_body("seed@atko.com", "seed")).await;
    assert_eq!(seed.status, 201);
    let r = c.get(spec, "/Users?count=1&startIndex=1").await;
    let first = assert_list(&r, 1, 1);
    assert_eq!(r.body["schemas"], json!([LIST]));
    for field in ["/id", "/userName", "/name/familyName", "/name/givenName", "/emails/0/value", "/active"] {
        assert!(first[0].pointer(field).is_some_and(|v| !v.is_null()), "{field}: {}", first[0]);
    }
    let r = c
        .get(spec, &format!("/Users?{}", okta_filter("userName eq \"Runscope258Fuhpfuwaw309@atko.com\"")))
        .await;
    assert_list(&r, 0, 0);
    let body = json!({
        "schemas": [USER],
        "userName": "Runscope258Fuhpfuwaw309@atko.com",
        "name": {"givenName": "Runscope258", "familyName": "Fuhpfuwaw309"},
        "emails": [{"primary": true, "value": "Runscope258Fuhpfuwaw309@atko.com", "type": "work"}],
        "displayName": "Runscope258 Fuhpfuwaw309",
        "active": true
    });
    let send_json = |b: &Value| {
        c.s.send(
            c.s.client
                .post(c.url("/Users"))
                .bearer_auth(&c.s.token)
                .header("content-type", "application/json")
                .header("accept", "application/scim+json; charset=utf-8")
                .body(b.to_string()),
        )
    };
    let r = send_json(&body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let u = id(&r.body);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["familyName"], "Fuhpfuwaw309");
    let r = c.get(spec, &format!("/Users/{u}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["userName"], "Runscope258Fuhpfuwaw309@atko.com");
    let r = c
        .get(spec, &format!("/Users?{}", okta_filter("userName eq \"Runscope258Fuhpfuwaw309@atko.com\"")))
        .await;
    assert_eq!(assert_list(&r, 1, 1)[0]["id"], u.as_str());
    assert_error(&send_json(&body).await, 409, Some("uniqueness"));
    let r = c
        .get(spec, &format!("/Users?{}", okta_filter("userName eq \"RUNSCOPE258FUHPFUWAW309@ATKO.COM\"")))
        .await;
    assert_eq!(assert_list(&r, 1, 1)[0]["id"], u.as_str());
    assert_eq!(c.get(spec, "/Groups").await.status, 200);
    assert_error(&c.get(spec, "/Users/010101001010101010").await, 404, None);
}

/// docs/idp-compatibility.md §3.1, §1.8: AIW apps send everything as PUT — the server's GET merged with the
/// profile, readOnly `groups` included — deactivation (`active: false` in the full object) and
/// reactivation too; the user stays readable and its memberships are untouched.
async fn okta_aiw_deactivates_by_put(c: Idp) {
    let r = c.post(Client::Okta, "/Users", &okta_user_body("aiw@okta.local", "00aiw")).await;
    let u = id(&r.body);
    let path = format!("/Users/{u}");
    // The user is in a group, so the GET that Okta merges into its PUT carries the computed,
    // readOnly `groups`; echoing it back must neither fail nor change the membership rows.
    let g = c.okta_group("AIW Group").await;
    c.patch(
        Client::Okta,
        &format!("/Groups/{g}"),
        json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
    )
    .await;
    for active in [false, true, false] {
        let mut put = c.get(Client::Okta, &path).await.body;
        assert_eq!(put["groups"][0]["value"], g.as_str(), "{put}");
        put["active"] = json!(active);
        put["password"] = json!("placeholder");
        let r = c.put(Client::Okta, &path, &put).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(c.state(&path).await["active"], active);
        assert_eq!(c.member_ids(&g).await, vec![u.clone()], "membership kept");
    }
    // A PUT that leaves `groups` out does not remove the user from its groups either.
    let mut put = c.get(Client::Okta, &path).await.body;
    put.as_object_mut().unwrap().remove("groups");
    assert_eq!(c.put(Client::Okta, &path, &put).await.status, 200);
    assert_eq!(c.member_ids(&g).await, vec![u.clone()]);
    let r = c.get(Client::Okta, &format!("/Users?{}", okta_filter("userName eq \"aiw@okta.local\""))).await;
    assert_eq!(assert_list(&r, 1, 1)[0]["active"], false);
}

/// docs/idp-compatibility.md §3.1 "Push Groups", "Import Groups": filter by displayName, create with
/// `members: []`, OIN membership PATCHes (each with the rename object Okta sends on every update),
/// AIW PUT with the full member list, import reading `members`, delete 204.
async fn okta_group_push(c: Idp) {
    let mut users = Vec::new();
    for i in 0..3 {
        let r = c
            .post(Client::Okta, "/Users", &okta_user_body(&format!("g{i}@okta.local"), &format!("00g{i}")))
            .await;
        users.push(id(&r.body));
    }
    let r = c.get(Client::Okta, &format!("/Groups?{}", okta_filter("displayName eq \"Test SCIMv2\""))).await;
    assert_list(&r, 0, 0);
    let r = c
        .post(
            Client::Okta,
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let g = id(&r.body);
    assert_eq!(r.header("location"), r.body["meta"]["location"].as_str());
    let path = format!("/Groups/{g}");
    let r = c.patch(Client::Okta, &path, json!([
        {"op": "replace", "value": {"id": g, "displayName": "Test SCIMv2"}},
        {"op": "add", "path": "members", "value": [{"value": users[0], "display": "g0@okta.local"}, {"value": users[1], "display": "g1@okta.local"}]}
    ])).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, sorted(users[..2].to_vec()));
    let r = c
        .patch(
            Client::Okta,
            &path,
            json!([
                {"op": "replace", "value": {"id": g, "displayName": "Test SCIMv2 renamed"}},
                {"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}
            ]),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(c.member_ids(&g).await, vec![users[1].clone()]);
    assert_eq!(c.state(&path).await["displayName"], "Test SCIMv2 renamed");
    // A rename object carrying a different id is a mutability error (§7), and changes nothing.
    let r = c
        .patch(
            Client::Okta,
            &path,
            json!([{"op": "replace", "value": {"id": "some-other-id", "displayName": "X"}}]),
        )
        .await;
    assert_error(&r, 400, Some("mutability"));
    assert_eq!(c.state(&path).await["displayName"], "Test SCIMv2 renamed");
    // AIW: PUT the whole group with its member list (and id/meta echoed).
    let mut put = c.get(Client::Okta, &path).await.body;
    put["displayName"] = json!("Test SCIMv2 AIW");
    put["members"] = json!([{"value": users[0], "display": "g0"}, {"value": users[2], "display": "g2"}]);
    let r = c.put(Client::Okta, &path, &put).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.member_ids(&g).await, sorted(vec![users[0].clone(), users[2].clone()]));
    // Import groups: membership is read from `members`.
    let r = c.get(Client::Okta, "/Groups?startIndex=1&count=100").await;
    let groups = assert_list(&r, 1, 1);
    let mut listed: Vec<String> = groups[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, sorted(vec![users[0].clone(), users[2].clone()]));
    // Unlink with delete.
    let r = c.delete(Client::Okta, &path).await;
    assert_eq!(r.status, 204);
    assert_error(&c.get(Client::Okta, &path).await, 404, None);
    // The users are still there, without the group.
    let s = c.state(&format!("/Users/{}", users[0])).await;
    assert!(s.get("groups").is_none_or(|g| g.as_array().unwrap().is_empty()), "{s}");
}

// ---------------------------------------------------------------------------------------------
// §4 status catalogue
// ---------------------------------------------------------------------------------------------

/// docs/idp-compatibility.md §4: unknown ids are 404 (no scimType) on every method; unknown paths under the
/// base, `/Schemas/<random>`, `/ResourceTypes/<random>` are 404; writes to discovery are 405.
async fn not_found_and_method_not_allowed(c: Idp) {
    let ghost = "8e2d4f5a-0000-4000-8000-000000000000";
    for kind in ["Users", "Groups"] {
        let path = format!("/{kind}/{ghost}");
        assert_error(&c.get(Client::OktaSpec, &path).await, 404, None);
        let body = if kind == "Users" {
            okta_user_body("ghost@okta.local", "g")
        } else {
            json!({"schemas": [GROUP], "displayName": "ghost@okta.local"})
        };
        assert_error(&c.put(Client::Okta, &path, &body).await, 404, None);
        assert_error(
            &c.patch(Client::Entra, &path, json!([{"op": "Replace", "path": "active", "value": "False"}]))
                .await,
            404,
            None,
        );
        assert_error(&c.delete(Client::Entra, &path).await, 404, None);
    }
    // The ghost PUT did not create anything.
    assert_list(
        &c.get(Client::Okta, &format!("/Users?{}", okta_filter("userName eq \"ghost@okta.local\""))).await,
        0,
        0,
    );
    for path in [format!("/{ghost}"), format!("/Schemas/{ghost}"), format!("/ResourceTypes/{ghost}")] {
        assert_error(&c.get(Client::Validator, &path).await, 404, None);
    }
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let body = (m != Method::DELETE).then(|| json!({}));
            let r = c.call(Client::Validator, m.clone(), path, body.as_ref()).await;
            assert_error(&r, 405, None);
        }
    }
}

/// docs/idp-compatibility.md §4, §1.4: the 4xx catalogue with its scimTypes — duplicates (POST, PUT rename,
/// PATCH rename, group displayName), missing userName on POST and PUT, malformed JSON, a non-SCIM
/// object, a bad PATCH op and path, changing `id`; each refusal leaves the stored state as it was.
async fn status_catalogue(c: Idp) {
    let a = c.entra_user("alpha@contoso.com").await;
    c.entra_user("beta@contoso.com").await;
    let path = format!("/Users/{a}");
    let before = c.state(&path).await;
    // Duplicate userName by PUT and by PATCH rename.
    let mut put = before.clone();
    put["userName"] = json!("BETA@contoso.com");
    assert_error(&c.put(Client::Okta, &path, &put).await, 409, Some("uniqueness"));
    let r = c
        .patch(
            Client::Entra,
            &path,
            json!([{"op": "Replace", "path": "userName", "value": "beta@contoso.com"}]),
        )
        .await;
    assert_error(&r, 409, Some("uniqueness"));
    let r = c
        .patch(Client::Okta, &path, json!([{"op": "replace", "value": {"userName": "Beta@Contoso.com"}}]))
        .await;
    assert_error(&r, 409, Some("uniqueness"));
    // Group displayName duplicates, case-insensitively (MS validator "Create a duplicate Group").
    c.okta_group("Dup Group").await;
    let r =
        c.post(Client::Validator, "/Groups", &json!({"schemas": [GROUP], "displayName": "dup group"})).await;
    assert_error(&r, 409, Some("uniqueness"));
    // Renaming another group onto that name, by Okta's rename object or by PUT, collides too.
    let other = c.okta_group("Other Group").await;
    let gpath = format!("/Groups/{other}");
    let r = c
        .patch(
            Client::Okta,
            &gpath,
            json!([{"op": "replace", "value": {"id": other, "displayName": "DUP GROUP"}}]),
        )
        .await;
    assert_error(&r, 409, Some("uniqueness"));
    let r = c
        .put(
            Client::Okta,
            &gpath,
            &json!({"schemas": [GROUP], "id": other, "displayName": "Dup group", "members": []}),
        )
        .await;
    assert_error(&r, 409, Some("uniqueness"));
    assert_eq!(c.state(&gpath).await["displayName"], "Other Group");
    // Missing userName.
    let r = c.post(Client::Entra, "/Users", &json!({"schemas": [USER], "displayName": "No Name"})).await;
    assert_error(&r, 400, Some("invalidValue"));
    let mut put = before.clone();
    put.as_object_mut().unwrap().remove("userName");
    assert_error(&c.put(Client::Okta, &path, &put).await, 400, Some("invalidValue"));
    // Malformed JSON, with each client's Content-Type.
    for who in [Client::Entra, Client::Okta, Client::Postman] {
        let req = c
            .req(who, Method::POST, "/Users", Some(&json!(null)))
            .body("{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], \"userName\": ");
        let r = c.s.send(req).await;
        assert_error(&r, 400, Some("invalidSyntax"));
    }
    let r = c.post(Client::Validator, "/Users", &json!({"not": "a scim resource"})).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["schemas"], json!([ERROR]));
    // PATCH: an unknown op, a path that does not parse, a path naming no attribute.
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Frobnicate", "path": "active", "value": "False"}]))
        .await;
    assert_error(&r, 400, Some("invalidSyntax"));
    let r = c
        .patch(Client::Entra, &path, json!([{"op": "Replace", "path": "emails[type eq", "value": "x"}]))
        .await;
    assert_error(&r, 400, Some("invalidPath"));
    // A PatchOp body without Operations, or not a PatchOp at all.
    let r = c.call(Client::Entra, Method::PATCH, &path, Some(&json!({"schemas": [PATCH_OP]}))).await;
    assert_error(&r, 400, Some("invalidSyntax"));
    // Changing id: refused; echoing the same id: ignored.
    let r = c.patch(Client::Entra, &path, json!([{"op": "replace", "path": "id", "value": "new-id"}])).await;
    assert_error(&r, 400, Some("mutability"));
    let r = c
        .patch(Client::Okta, &path, json!([{"op": "replace", "value": {"id": a, "title": "Same id"}}]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["title"], "Same id");
    // Nothing refused above changed the user.
    let after = c.state(&path).await;
    assert_eq!(after["userName"], before["userName"]);
    assert_eq!(after["emails"], before["emails"]);
}

/// docs/idp-compatibility.md §4: DELETE is 204 with no body; a second DELETE is 404 (Entra's retry after a
/// lost response must not be a 500); a deleted group's members stay users.
async fn delete_is_204_then_404(c: Idp) {
    let u = c.entra_user("del@contoso.com").await;
    let g = c.okta_group("Del").await;
    c.patch(
        Client::Okta,
        &format!("/Groups/{g}"),
        json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
    )
    .await;
    for path in [format!("/Users/{u}"), format!("/Groups/{g}")] {
        let r = c.delete(Client::Entra, &path).await;
        assert_eq!(r.status, 204, "{r:?}");
        assert_eq!(r.body, Value::Null);
        assert_error(&c.delete(Client::Entra, &path).await, 404, None);
    }
}

macro_rules! across_variants {
    ($($name:ident),* $(,)?) => {
        /// Each scenario, once per tenant-URL variant.
        mod run {
            $(
                #[tokio::test]
                async fn $name() {
                    super::each(super::$name).await;
                }
            )*
        }
    };
}

across_variants!(
    trailing_slash_and_form_encoded_filter,
    discovery_paths_and_the_service_configuration_alias,
    okta_non_token_is_401,
    auth0_scope_names_carry_an_entra_cycle,
    every_clients_media_type_is_accepted,
    attribute_names_and_operators_are_case_insensitive,
    value_matching_follows_case_exactness,
    entra_matching_queries,
    entra_group_queries,
    postman_filters,
    bad_filters_are_400_invalid_filter,
    deactivate_and_reactivate_in_every_dialect,
    string_booleans_only_where_the_schema_says_boolean,
    entra_several_changes_flag_on_and_off_agree,
    value_filter_paths_create_then_update,
    group_membership_in_every_shape,
    manager_in_every_shape,
    clearing_by_empty_string_and_null,
    operations_apply_in_order,
    add_on_a_single_valued_attribute_replaces,
    entra_roles_are_stored_as_sent,
    patch_answers_200_with_the_resource,
    resource_shape_rules,
    active_is_always_present_and_never_flipped,
    pagination_as_okta_and_entra_page,
    entra_provisioning_cycle,
    entra_flag_off_and_on_dialects_agree,
    microsoft_validator_run,
    okta_oin_user_lifecycle,
    okta_spec_runscope_suite,
    okta_aiw_deactivates_by_put,
    okta_group_push,
    not_found_and_method_not_allowed,
    status_catalogue,
    delete_is_204_then_404,
);

scimd_testkit::backend_tests! {
/// docs/idp-compatibility.md §1.2: Okta's "Basic Auth" mode — the token as the password (the user name is not
/// checked); a wrong password is 401 like a wrong bearer token. RFC 8259 §8.1: a body with a UTF-8
/// byte-order mark is read, not refused.
async fn okta_basic_auth_and_a_byte_order_mark(backend) {
    let s = TestServer::start_with(backend).await;
    let r = s
        .send(
            s.client.get(s.url("/scim/v2/Users?startIndex=1&count=2")).basic_auth("default", Some(&s.token)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.send(s.client.get(s.url("/scim/v2/Users")).basic_auth("default", Some("scimd_wrong"))).await;
    assert_eq!(r.status, 401);
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend(json!({"schemas": [USER], "userName": "bom@example.com"}).to_string().into_bytes());
    let r = s
        .send(
            s.request(Method::POST, "/scim/v2/Users")
                .header("content-type", "application/scim+json; charset=utf-8")
                .body(body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}
}
