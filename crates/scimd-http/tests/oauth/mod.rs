//! The OAuth 2.0 authorization server end to end: the Entra-style client-credentials
//! connection, the Okta-style authorization-code connection driven through the sign-in and
//! consent pages as a browser would (cookies, form posts, redirects), the `oauth2` crate as an
//! independent client, and the negative cases RFC 6749, 7636, 7009, 7662 and RFC 9700 name.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::macros::datetime;

use scimd_http::Scopes;
use scimd_store::MockClock;
use scimd_testkit::{Options, TestServer, backend_tests};

const REDIRECT: &str = "http://127.0.0.1:9/okta/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PASSWORD: &str = "correct horse battery staple";

/// A client registered through the admin API with a token holding `admin`.
async fn register(s: &TestServer, body: Value) -> Value {
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let r = s
        .send(s.client.post(s.url("/admin/v1/tenants/default/clients")).bearer_auth(admin).json(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn cc_client(s: &TestServer, scopes: &[&str]) -> (String, String) {
    let c = register(
        s,
        json!({"name": "Microsoft Entra ID", "grant_type": "client_credentials", "scopes": scopes}),
    )
    .await;
    (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned())
}

async fn code_client(s: &TestServer) -> (String, String) {
    let c =
        register(s, json!({"name": "Okta", "grant_type": "authorization_code", "redirect_uris": [REDIRECT]}))
            .await;
    (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned())
}

/// POST /oauth2/token with Basic client authentication.
async fn token_basic(
    s: &TestServer,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> scimd_testkit::TestResponse {
    s.send(s.client.post(s.url("/oauth2/token")).basic_auth(id, Some(secret)).form(form)).await
}

/// Redeems an authorization code the way Okta does (Basic, same redirect URI, PKCE verifier).
async fn exchange(s: &TestServer, id: &str, secret: &str, code: &str) -> scimd_testkit::TestResponse {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    token_basic(s, id, secret, &form).await
}

/// Uses a refresh token (RFC 6749 §6).
async fn refresh(s: &TestServer, id: &str, secret: &str, token: &str) -> scimd_testkit::TestResponse {
    token_basic(s, id, secret, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

async fn scim_get(s: &TestServer, token: &str, path: &str) -> scimd_testkit::TestResponse {
    s.send(s.client.get(s.url(path)).bearer_auth(token)).await
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
}

// ------------------------------------------------------------------ client credentials (Entra)

backend_tests! {
async fn entra_client_credentials_connection(backend) {
    let s = TestServer::start_with(backend).await;
    let (id, secret) = cc_client(&s, &[]).await;
    // Entra's "Test Connection": fetch a token, then call the SCIM URL with it.
    let r = token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    let expires = r.body["expires_in"].as_i64().unwrap();
    assert!((3600..=21600).contains(&expires), "Entra wants 60-360 minutes, got {expires}s");
    assert!(r.body.get("refresh_token").is_none(), "RFC 6749 §4.4.3: no refresh token");
    assert_eq!(r.body["scope"].as_str().unwrap().split(' ').count(), 8);
    let access = r.body["access_token"].as_str().unwrap().to_owned();

    let created = s
        .send(s.client.post(s.url("/scim/v2/Users")).bearer_auth(&access).json(&user("entra@example.com")))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let listed = scim_get(&s, &access, "/scim/v2/Users?filter=userName%20eq%20%22entra@example.com%22").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["totalResults"], 1);
    // The same token under the tenant URL, with Entra's flag appended.
    let named = scim_get(&s, &access, "/tenants/default/scim/v2/Users?aadOptscim062020").await;
    assert_eq!(named.status, 200, "{}", named.body);
}
}

backend_tests! {
async fn client_secret_post_and_scope_subsets(backend) {
    let s = TestServer::start_with(backend).await;
    let (id, secret) = cc_client(&s, &["users:read", "users:create"]).await;
    let r = s
        .send(s.client.post(s.url("/oauth2/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "users:read"),
        ]))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"], "users:read");
    let access = r.body["access_token"].as_str().unwrap();
    assert_eq!(scim_get(&s, access, "/scim/v2/Users").await.status, 200);
    let post =
        s.send(s.client.post(s.url("/scim/v2/Users")).bearer_auth(access).json(&user("x@example.com"))).await;
    assert_eq!(post.status, 403, "the token holds only users:read");
    assert!(post.header("www-authenticate").unwrap().contains("insufficient_scope"));

    // RFC 6749 §3.3: asking for more than the client has is invalid_scope.
    let r = token_basic(&s, &id, &secret, &[("grant_type", "client_credentials"), ("scope", "users:delete")])
        .await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (400, Some("invalid_scope")));
    let r = token_basic(&s, &id, &secret, &[("grant_type", "client_credentials"), ("scope", "users:write")])
        .await;
    assert_eq!(r.body["error"], "invalid_scope");
}
}

backend_tests! {
async fn token_endpoint_errors_follow_rfc6749_5_2(backend) {
    let s = TestServer::start_with(backend).await;
    let (id, secret) = cc_client(&s, &[]).await;
    // Wrong secret by header: 401 invalid_client with a Basic challenge.
    let r = token_basic(&s, &id, "scimd_cs_wrong", &[("grant_type", "client_credentials")]).await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (401, Some("invalid_client")));
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Wrong secret in the body: 401 without a challenge.
    let r = s
        .send(s.client.post(s.url("/oauth2/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", "nope"),
        ]))
        .await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_none());
    // Unknown client.
    let r = token_basic(&s, "no-such-client", &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.body["error"], "invalid_client");
    // Grant the client is not registered for.
    let r = token_basic(&s, &id, &secret, &[("grant_type", "authorization_code"), ("code", "x")]).await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (400, Some("unauthorized_client")));
    // Unknown and missing grant types.
    let r = token_basic(&s, &id, &secret, &[("grant_type", "password")]).await;
    assert_eq!(r.body["error"], "unsupported_grant_type");
    let r = token_basic(&s, &id, &secret, &[("scope", "users:read")]).await;
    assert_eq!(r.body["error"], "invalid_request");
    // Both authentication methods at once (RFC 6749 §2.3).
    let r = s
        .send(
            s.client
                .post(s.url("/oauth2/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("client_secret", secret.as_str())]),
        )
        .await;
    assert_eq!(r.body["error"], "invalid_request");
    // A repeated parameter.
    let r = s
        .send(
            s.client
                .post(s.url("/oauth2/token"))
                .basic_auth(&id, Some(&secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&grant_type=client_credentials"),
        )
        .await;
    assert_eq!(r.body["error"], "invalid_request");
    // Not a form.
    let r = s
        .send(
            s.client
                .post(s.url("/oauth2/token"))
                .basic_auth(&id, Some(&secret))
                .json(&json!({"grant_type": "client_credentials"})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (400, Some("invalid_request")));
}
}

backend_tests! {
async fn tokens_never_cross_tenants(backend) {
    let s = TestServer::start_with(backend).await;
    let other = s.store.create_tenant("other").await.unwrap();
    let (id, secret) = cc_client(&s, &[]).await;
    let access =
        token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await.body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    // Data of tenant `other`, written with its own static token.
    let other_token = s.token_for(&other, Scopes::all(), false).await;
    let r = s
        .send(
            s.client
                .post(s.url("/tenants/other/scim/v2/Users"))
                .bearer_auth(&other_token)
                .json(&user("b@other.example")),
        )
        .await;
    assert_eq!(r.status, 201);
    // Tenant default's access token cannot name tenant `other`…
    let r = scim_get(&s, &access, "/tenants/other/scim/v2/Users").await;
    assert_eq!(r.status, 403, "{}", r.body);
    // …and does not see its data under the plain URL.
    let r = scim_get(&s, &access, "/scim/v2/Users").await;
    assert_eq!(r.body["totalResults"], 0);
    // Nor can it use the other tenant's admin API.
    let r = scim_get(&s, &access, "/admin/v1/tenants/other/clients").await;
    assert_eq!(r.status, 403);
}
}

backend_tests! {
async fn expired_tampered_and_foreign_tokens_are_refused(backend) {
    let clock = MockClock::new(datetime!(2026-03-01 9:00 UTC));
    let s = TestServer::start_opts(Options { backend, clock: Arc::new(clock.clone()), ..Options::default() }).await;
    let (id, secret) = cc_client(&s, &[]).await;
    let access =
        token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await.body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(scim_get(&s, &access, "/scim/v2/Users").await.status, 200);

    // Tampered: the payload claims more scope than was signed.
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["tenant"] = json!("00000000-0000-0000-0000-000000000000");
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    let r = scim_get(&s, &forged, "/scim/v2/Users").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
    // alg=none with the same claims (RFC 8725 §2.1).
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#), parts[1]);
    assert_eq!(scim_get(&s, &none, "/scim/v2/Users").await.status, 401);
    // Garbage shaped like a JWT.
    assert_eq!(scim_get(&s, "a.b.c", "/scim/v2/Users").await.status, 401);

    // Expiry by the injected clock: valid just before, refused at exp.
    clock.advance(time::Duration::minutes(59));
    assert_eq!(scim_get(&s, &access, "/scim/v2/Users").await.status, 200);
    clock.advance(time::Duration::minutes(1));
    assert_eq!(scim_get(&s, &access, "/scim/v2/Users").await.status, 401);
}
}

/// RFC 9068 §4: an access token is accepted only under the issuer that minted it and for this
/// resource server's audience. The forgeries are signed with the server's own key, so only the
/// claims can make them fail; an unchanged re-signing is the control.
#[tokio::test]
async fn access_tokens_are_checked_for_issuer_and_audience() {
    let s = TestServer::start().await;
    let (id, secret) = cc_client(&s, &[]).await;
    let minted = token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await;
    let access = minted.body["access_token"].as_str().unwrap().to_owned();
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["iss"], s.base_url.as_str());
    assert_eq!(claims["aud"], format!("{}/scim/v2", s.base_url));

    // The same server under another allowed name is another issuer.
    let port = s.addr.port();
    let under = |host: String, token: String| {
        s.send(s.client.get(s.url("/scim/v2/Users")).bearer_auth(token).header("host", host))
    };
    assert_eq!(under(format!("127.0.0.1:{port}"), access.clone()).await.status, 200);
    let r = under(format!("localhost:{port}"), access.clone()).await;
    assert_eq!(r.status, 401, "{}", r.body);

    let keys = scimd_oauth::keys::KeyRing::new(s.store.clone(), s.clock.clone());
    let (kid, key) = keys.signing_key().await.unwrap();
    let sign = |claims: &Value| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    };
    assert_eq!(scim_get(&s, &sign(&claims), "/scim/v2/Users").await.status, 200, "control");
    let mut forged = Vec::new();
    for (field, value) in [
        ("aud", json!("http://other.example/scim/v2")),
        ("aud", json!(format!("{}/admin", s.base_url))),
        ("iss", json!("http://other.example")),
        ("iss", json!(format!("{}/", s.base_url))),
    ] {
        let mut c = claims.clone();
        c[field] = value;
        forged.push(c);
    }
    for field in ["aud", "iss"] {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(field);
        forged.push(c);
    }
    for c in &forged {
        let r = scim_get(&s, &sign(c), "/scim/v2/Users").await;
        assert_eq!(r.status, 401, "{c}");
        assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
    }
    // Introspection reports such a token inactive (RFC 7662 §2.2).
    let r = s
        .send(
            s.client
                .post(s.url("/oauth2/introspect"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", sign(&forged[0]))]),
        )
        .await;
    assert_eq!(r.body, json!({"active": false}));
}

backend_tests! {
async fn revocation_and_introspection(backend) {
    let s = TestServer::start_with(backend).await;
    let (id, secret) = cc_client(&s, &[]).await;
    let (other_id, other_secret) = cc_client(&s, &[]).await;
    let access =
        token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await.body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();

    let s = &s;
    let intro = |who: (&str, &str), token: &str| {
        let req = s
            .client
            .post(s.url("/oauth2/introspect"))
            .basic_auth(who.0, Some(who.1))
            .form(&[("token", token)]);
        async move { s.send(req).await }
    };
    let r = intro((&id, &secret), &access).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["client_id"], id.as_str());
    assert_eq!(r.body["token_type"], "Bearer");
    // Introspection needs client authentication.
    let r = s.send(s.client.post(s.url("/oauth2/introspect")).form(&[("token", access.as_str())])).await;
    assert_eq!(r.status, 401);

    // Another client cannot revoke it.
    let r = s
        .send(
            s.client
                .post(s.url("/oauth2/revoke"))
                .basic_auth(&other_id, Some(&other_secret))
                .form(&[("token", access.as_str())]),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(scim_get(s, &access, "/scim/v2/Users").await.status, 200);
    // Its own client can; then the token is dead everywhere.
    let r = s
        .send(
            s.client
                .post(s.url("/oauth2/revoke"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", access.as_str())]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(scim_get(s, &access, "/scim/v2/Users").await.status, 401);
    assert_eq!(intro((&id, &secret), &access).await.body, json!({"active": false}));
    // RFC 7009 §2.2: an unknown token is not an error.
    let r = s
        .send(
            s.client
                .post(s.url("/oauth2/revoke"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", "nonsense")]),
        )
        .await;
    assert_eq!(r.status, 200);
}
}

backend_tests! {
async fn rotating_or_deleting_a_client_ends_its_tokens(backend) {
    let s = TestServer::start_with(backend).await;
    let (id, secret) = cc_client(&s, &[]).await;
    let get_token = |secret: String| {
        let id = id.clone();
        let s = &s;
        async move { token_basic(s, &id, &secret, &[("grant_type", "client_credentials")]).await }
    };
    let access = get_token(secret.clone()).await.body["access_token"].as_str().unwrap().to_owned();
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let r = s
        .send(
            s.client
                .post(s.url(&format!("/admin/v1/tenants/default/clients/{id}/secret")))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_secret = r.body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(scim_get(&s, &access, "/scim/v2/Users").await.status, 401, "rotation revokes issued tokens");
    assert_eq!(get_token(secret).await.status, 401, "the old secret is dead");
    let fresh = get_token(new_secret.clone()).await;
    assert_eq!(fresh.status, 200);
    let fresh = fresh.body["access_token"].as_str().unwrap().to_owned();
    // Listing shows no secret.
    let list = scim_get(&s, &admin, "/admin/v1/tenants/default/clients").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.to_string().contains(&new_secret));
    assert_eq!(list.body["clients"][0]["client_id"], id.as_str());
    // Deleting the client ends its tokens.
    let r = s
        .send(s.client.delete(s.url(&format!("/admin/v1/tenants/default/clients/{id}"))).bearer_auth(&admin))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(scim_get(&s, &fresh, "/scim/v2/Users").await.status, 401);
    // The admin API needs the admin scope: the default SCIM token lacks it…
    let r = scim_get(&s, &s.token, "/admin/v1/tenants/default/clients").await;
    assert_eq!(r.status, 403);
    // …and an operator token reaches every tenant's.
    let other = s.store.create_tenant("other").await.unwrap();
    let operator = s.token_for(&other, Scopes::all(), true).await;
    let r = scim_get(&s, &operator, "/admin/v1/tenants/default/tokens").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["tokens"].as_array().unwrap().len() >= 2);
    assert!(!r.body.to_string().contains(&s.token), "listings never show secrets");
    let r = scim_get(&s, &operator, "/admin/v1/tenants/nope/tokens").await;
    assert_eq!(r.status, 404);
}
}

backend_tests! {
async fn metadata_jwks_and_key_rotation(backend) {
    let clock = MockClock::new(datetime!(2026-03-01 9:00 UTC));
    let s = TestServer::start_opts(Options { backend, clock: Arc::new(clock.clone()), ..Options::default() }).await;
    let m = s.send(s.client.get(s.url("/.well-known/oauth-authorization-server"))).await;
    assert_eq!(m.status, 200);
    assert_eq!(m.body["issuer"], s.base_url.as_str());
    for (field, path) in [
        ("token_endpoint", "/oauth2/token"),
        ("authorization_endpoint", "/oauth2/authorize"),
        ("jwks_uri", "/oauth2/jwks"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("introspection_endpoint", "/oauth2/introspect"),
    ] {
        assert_eq!(m.body[field], format!("{}{path}", s.base_url), "{field}");
    }
    assert_eq!(m.body["code_challenge_methods_supported"], json!(["S256"]));
    for grant in ["client_credentials", "authorization_code", "refresh_token"] {
        assert!(m.body["grant_types_supported"].as_array().unwrap().contains(&json!(grant)));
    }
    for method in ["client_secret_basic", "client_secret_post"] {
        assert!(m.body["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!(method)));
    }

    let (id, secret) = cc_client(&s, &[]).await;
    let old =
        token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await.body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let kid_of = |t: &str| -> String {
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(t.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "at+jwt");
        header["kid"].as_str().unwrap().to_owned()
    };
    let old_kid = kid_of(&old);
    let jwks = s.send(s.client.get(s.url("/oauth2/jwks"))).await;
    assert_eq!(jwks.body["keys"][0]["kid"], old_kid.as_str());
    assert!(jwks.body["keys"][0].get("d").is_none(), "only public keys are published");

    // Rotation, as `scimd key rotate` does it from another process: the new key is published at
    // once and signs only after the publication delay.
    let server = scimd_oauth::AuthorizationServer::new(
        s.store.clone(),
        s.clock.clone(),
        scimd_oauth::OAuthConfig::default(),
    );
    let (new_kid, signs_from) = server.keys().rotate(time::Duration::hours(1)).await.unwrap();
    assert_ne!(new_kid, old_kid);
    assert_eq!(signs_from, datetime!(2026-03-01 9:00 UTC) + scimd_oauth::keys::PUBLICATION_DELAY);
    assert_eq!(scim_get(&s, &old, "/scim/v2/Users").await.status, 200);
    async fn mint(server: &scimd_oauth::AuthorizationServer, id: &str, secret: &str, base: &str) -> String {
        let auth = scimd_oauth::ClientAuth::Basic { id: id.to_owned(), secret: secret.to_owned() };
        let request =
            scimd_oauth::TokenRequest { grant_type: Some("client_credentials".into()), ..Default::default() };
        server.token(&auth, request, base).await.unwrap().access_token
    }
    let jwks_kids = || async {
        let jwks = s.send(s.client.get(s.url("/oauth2/jwks"))).await;
        let kids: Vec<String> =
            jwks.body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
        kids
    };
    // A fresh replica (no cache) still signs with the old key: nobody may have the new one yet.
    let replica = scimd_oauth::AuthorizationServer::new(
        s.store.clone(),
        s.clock.clone(),
        scimd_oauth::OAuthConfig::default(),
    );
    assert_eq!(kid_of(&mint(&replica, &id, &secret, &s.base_url).await), old_kid);
    // Once the serving process's cache has expired, its JWK Set publishes the new key while it
    // still signs with the old one.
    clock.advance(scimd_oauth::keys::REFRESH);
    let kids = jwks_kids().await;
    assert!(kids.contains(&new_kid) && kids.contains(&old_kid), "{kids:?}");
    let token = token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(kid_of(token.body["access_token"].as_str().unwrap()), old_kid);
    // After the delay every replica signs with the new key, which verifiers already know.
    clock.advance(scimd_oauth::keys::PUBLICATION_DELAY - scimd_oauth::keys::REFRESH);
    let token = token_basic(&s, &id, &secret, &[("grant_type", "client_credentials")]).await;
    let minted = token.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&minted), new_kid);
    assert_eq!(kid_of(&mint(&replica, &id, &secret, &s.base_url).await), new_kid);
    assert!(jwks_kids().await.contains(&new_kid));
    assert_eq!(scim_get(&s, &minted, "/scim/v2/Users").await.status, 200);
    assert_eq!(scim_get(&s, &old, "/scim/v2/Users").await.status, 200, "the old key still verifies");
}
}

// ------------------------------------------------------------------ authorization code (Okta)

/// A browser: keeps cookies, does not follow redirects (the test looks at each one).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// The value of a hidden or named input in an HTML form.
fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(
        rest[..rest.find('"')?]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

fn form_fields(html: &str) -> Vec<(String, String)> {
    [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "csrf",
    ]
    .iter()
    .filter_map(|n| field(html, n).map(|v| ((*n).to_owned(), v)))
    .collect()
}

fn authorize_url(s: &TestServer, client_id: &str, state: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "users:read users:create groups:read")
        .append_pair("state", state)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish();
    s.url(&format!("/oauth2/authorize?{q}"))
}

async fn admin(s: &TestServer, email: &str) {
    let server = scimd_oauth::AuthorizationServer::new(
        s.store.clone(),
        s.clock.clone(),
        scimd_oauth::OAuthConfig::default(),
    );
    server.create_admin(&s.tenant, email, PASSWORD.into()).await.unwrap();
}

/// Drives sign-in and consent like a browser; returns the final redirect's query parameters.
async fn browser_flow(
    s: &TestServer,
    b: &reqwest::Client,
    client_id: &str,
    approve: bool,
) -> Vec<(String, String)> {
    let page = b.get(authorize_url(s, client_id, "xyz-state")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert_eq!(page.headers().get("x-frame-options").unwrap(), "DENY");
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in") && html.contains("Okta"), "{html}");

    // A wrong password first: the page says so and the form stays usable.
    let mut form = form_fields(&html);
    form.extend([
        ("action".into(), "login".into()),
        ("email".into(), "okta-admin@example.com".into()),
        ("password".into(), "wrong".into()),
    ]);
    let r = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(html.contains("Wrong email or password"));

    let mut form = form_fields(&html);
    form.extend([
        ("action".into(), "login".into()),
        ("email".into(), "OKTA-ADMIN@example.com".into()),
        ("password".into(), PASSWORD.into()),
    ]);
    let r = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "post/redirect/get after sign-in");
    let back = r.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert!(back.starts_with("/oauth2/authorize?"));

    let consent = b.get(s.url(&back)).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    assert!(
        html.contains("Approve access") && html.contains("Read users") && html.contains("Create users"),
        "{html}"
    );
    assert!(!html.contains("Delete users"), "only the requested scopes are shown");
    let mut form = form_fields(&html);
    form.push(("action".into(), if approve { "approve" } else { "deny" }.into()));
    let r = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

backend_tests! {
async fn okta_authorization_code_connection_through_the_pages(backend) {
    let s = TestServer::start_with(backend).await;
    admin(&s, "okta-admin@example.com").await;
    let (id, secret) = code_client(&s).await;
    let b = browser();
    let q = browser_flow(&s, &b, &id, true).await;
    assert_eq!(param(&q, "state"), Some("xyz-state"));
    assert_eq!(param(&q, "iss"), Some(s.base_url.as_str()), "RFC 9207");
    let code = param(&q, "code").unwrap().to_owned();

    // Okta exchanges the code (client_secret_basic, PKCE verifier, same redirect URI).
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let r = token_basic(&s, &id, &secret, &exchange).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"], "users:read users:create groups:read");
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let refresh_token = r.body["refresh_token"].as_str().unwrap().to_owned();
    let created = s
        .send(s.client.post(s.url("/scim/v2/Users")).bearer_auth(&access).json(&user("okta@example.com")))
        .await;
    assert_eq!(created.status, 201);
    let del = s.send(s.client.delete(s.url("/scim/v2/Users/x")).bearer_auth(&access)).await;
    assert_eq!(del.status, 403, "users:delete was not granted");

    // A reused code fails and revokes what the first redemption issued (RFC 6749 §4.1.2).
    let again = token_basic(&s, &id, &secret, &exchange).await;
    assert_eq!((again.status.as_u16(), again.body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(scim_get(&s, &access, "/scim/v2/Users").await.status, 401);
    let r = refresh(&s, &id, &secret, &refresh_token).await;
    assert_eq!(r.body["error"], "invalid_grant", "the refresh token died with its grant");
}
}

backend_tests! {
async fn refresh_rotation_and_reuse_detection(backend) {
    let s = TestServer::start_with(backend).await;
    admin(&s, "okta-admin@example.com").await;
    let (id, secret) = code_client(&s).await;
    let q = browser_flow(&s, &browser(), &id, true).await;
    let code = param(&q, "code").unwrap();
    let r = exchange(&s, &id, &secret, code)
    .await;
    let first_refresh = r.body["refresh_token"].as_str().unwrap().to_owned();

    // Refresh with a narrower scope: the access token narrows, the family keeps the grant.
    let r = token_basic(
        &s,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first_refresh.as_str()),
            ("scope", "users:read"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"], "users:read");
    let second_refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh, "rotation issues a new refresh token");
    let r = token_basic(
        &s,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", second_refresh.as_str()),
            ("scope", "users:delete"),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_scope");
    // RFC 6749 §6: the refused request spent nothing; the same refresh token still works, once.
    let r = refresh(&s, &id, &secret, second_refresh.as_str()).await;
    assert_eq!(r.status, 200, "an invalid scope must not destroy the grant: {}", r.body);
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(scim_get(&s, &access, "/scim/v2/Users").await.status, 200);
    let r = refresh(&s, &id, &secret, second_refresh.as_str()).await;
    assert_eq!(r.body["error"], "invalid_grant", "a used refresh token is dead");

    // A new connection; its live access token dies when an old refresh token is replayed.
    let q = browser_flow(&s, &browser(), &id, true).await;
    let code = param(&q, "code").unwrap();
    let r = exchange(&s, &id, &secret, code)
    .await;
    let rt1 = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r =
        refresh(&s, &id, &secret, rt1.as_str())
            .await;
    let access2 = r.body["access_token"].as_str().unwrap().to_owned();
    let rt2 = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(scim_get(&s, &access2, "/scim/v2/Users").await.status, 200);
    let replay =
        refresh(&s, &id, &secret, rt1.as_str())
            .await;
    assert_eq!(replay.body["error"], "invalid_grant");
    assert_eq!(
        scim_get(&s, &access2, "/scim/v2/Users").await.status,
        401,
        "RFC 9700 §4.14.2: the family is revoked"
    );
    let r =
        refresh(&s, &id, &secret, rt2.as_str())
            .await;
    assert_eq!(r.body["error"], "invalid_grant");
}
}

backend_tests! {
async fn code_exchange_negative_cases(backend) {
    let clock = MockClock::new(datetime!(2026-03-01 9:00 UTC));
    let s = TestServer::start_opts(Options { backend, clock: Arc::new(clock.clone()), ..Options::default() }).await;
    admin(&s, "okta-admin@example.com").await;
    let (id, secret) = code_client(&s).await;
    let (cc_id, cc_secret) = cc_client(&s, &[]).await;
    async fn fresh_code(s: &TestServer, id: &str) -> String {
        let q = browser_flow(s, &browser(), id, true).await;
        param(&q, "code").unwrap().to_owned()
    }
    let exchange = |code: &str, redirect: &str, verifier: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ]
    };
    let s = &s;
    let post = |form: Vec<(String, String)>, id: String, secret: String| {
        let req = s.client.post(s.url("/oauth2/token")).basic_auth(id, Some(secret)).form(&form);
        async move { s.send(req).await }
    };

    // PKCE mismatch.
    let code = fresh_code(s, &id).await;
    let r = post(exchange(&code, REDIRECT, &"x".repeat(43)), id.clone(), secret.clone()).await;
    assert_eq!(r.body["error"], "invalid_grant");
    assert!(r.body["error_description"].as_str().unwrap().contains("code_verifier"));
    // Missing verifier.
    let code = fresh_code(s, &id).await;
    let mut form = exchange(&code, REDIRECT, VERIFIER);
    form.pop();
    assert_eq!(post(form, id.clone(), secret.clone()).await.body["error"], "invalid_grant");
    // Redirect URI mismatch.
    let code = fresh_code(s, &id).await;
    let r = post(exchange(&code, "http://127.0.0.1:9/other", VERIFIER), id.clone(), secret.clone()).await;
    assert_eq!(r.body["error"], "invalid_grant");
    // Another client presenting the code (a code_client is needed: a cc client is refused first).
    let code = fresh_code(s, &id).await;
    let r = post(exchange(&code, REDIRECT, VERIFIER), cc_id.clone(), cc_secret.clone()).await;
    assert_eq!(r.body["error"], "unauthorized_client");
    let (id2, secret2) = code_client(s).await;
    let r = post(exchange(&code, REDIRECT, VERIFIER), id2, secret2).await;
    assert_eq!(r.body["error"], "invalid_grant");
    // Expired code (the injected clock moves past its two minutes).
    let code = fresh_code(s, &id).await;
    clock.advance(time::Duration::minutes(3));
    let r = post(exchange(&code, REDIRECT, VERIFIER), id.clone(), secret.clone()).await;
    assert_eq!(r.body["error"], "invalid_grant");
    assert!(r.body["error_description"].as_str().unwrap().contains("expired"));
    // Unknown code.
    let r = post(exchange("nope", REDIRECT, VERIFIER), id.clone(), secret.clone()).await;
    assert_eq!(r.body["error"], "invalid_grant");
}
}

backend_tests! {
async fn deny_and_requests_that_must_not_redirect(backend) {
    let s = TestServer::start_with(backend).await;
    admin(&s, "okta-admin@example.com").await;
    let (id, _) = code_client(&s).await;
    let q = browser_flow(&s, &browser(), &id, false).await;
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("xyz-state"));
    assert!(param(&q, "code").is_none());

    let b = browser();
    // Unknown client and unregistered redirect URI: an error page, never a redirect.
    let r = b
        .get(s.url(&format!("/oauth2/authorize?response_type=code&client_id=nope&redirect_uri={REDIRECT}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    let evil = "https://evil.example/cb";
    let r = b
        .get(s.url(&format!("/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={evil}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // A trusted redirect URI gets the error by redirect.
    let r = b
        .get(s.url(&format!(
            "/oauth2/authorize?response_type=token&client_id={id}&redirect_uri={REDIRECT}&state=s1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers().get("location").unwrap().to_str().unwrap();
    assert!(loc.contains("error=unsupported_response_type") && loc.contains("state=s1"), "{loc}");
    // PKCE plain is refused.
    let r = b
        .get(s.url(&format!(
            "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={REDIRECT}&code_challenge={CHALLENGE}&code_challenge_method=plain"
        )))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("location").unwrap().to_str().unwrap().contains("error=invalid_request"));
    // Scope beyond the client's.
    let r = b
        .get(s.url(&format!(
            "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={REDIRECT}&scope=admin"
        )))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("location").unwrap().to_str().unwrap().contains("error=invalid_scope"));
}
}

backend_tests! {
async fn csrf_session_and_throttling_on_the_pages(backend) {
    let s = TestServer::start_with(backend).await;
    admin(&s, "okta-admin@example.com").await;
    let (id, _) = code_client(&s).await;
    let b = browser();
    let html = b.get(authorize_url(&s, &id, "st")).send().await.unwrap().text().await.unwrap();
    // A form post without the CSRF token is refused and the sign-in form shown again.
    let mut form: Vec<(String, String)> =
        form_fields(&html).into_iter().filter(|(k, _)| k != "csrf").collect();
    form.extend([
        ("action".into(), "login".into()),
        ("email".into(), "okta-admin@example.com".into()),
        ("password".into(), PASSWORD.into()),
    ]);
    let r = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // A post from a browser without the session cookie (cross-site) is refused too.
    let mut form = form_fields(&html);
    form.extend([("action".into(), "approve".into())]);
    let r = browser().post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // Approving without signing in is refused.
    let r = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // Five wrong passwords throttle the account, even with the right one after.
    for _ in 0..5 {
        let mut form = form_fields(&html);
        form.extend([
            ("action".into(), "login".into()),
            ("email".into(), "okta-admin@example.com".into()),
            ("password".into(), "wrong".into()),
        ]);
        assert_eq!(b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap().status(), 401);
    }
    let mut form = form_fields(&html);
    form.extend([
        ("action".into(), "login".into()),
        ("email".into(), "okta-admin@example.com".into()),
        ("password".into(), PASSWORD.into()),
    ]);
    let r = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}
}

backend_tests! {
async fn failed_sign_ins_are_throttled_per_address(backend) {
    let s = TestServer::start_with(backend).await;
    admin(&s, "okta-admin@example.com").await;
    let (id, _) = code_client(&s).await;
    let b = browser();
    let html = b.get(authorize_url(&s, &id, "st")).send().await.unwrap().text().await.unwrap();
    // Twenty failures spread over unknown accounts (so no one account is throttled) block the
    // address, and then even the right password from it.
    for i in 0..20 {
        let mut form = form_fields(&html);
        form.extend([
            ("action".into(), "login".into()),
            ("email".into(), format!("guess{i}@example.com")),
            ("password".into(), "x".into()),
        ]);
        assert_eq!(b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap().status(), 401);
    }
    let mut form = form_fields(&html);
    form.extend([
        ("action".into(), "login".into()),
        ("email".into(), "okta-admin@example.com".into()),
        ("password".into(), PASSWORD.into()),
    ]);
    assert_eq!(b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap().status(), 429);
    // A repeated query parameter is an error page (RFC 6749 §3.1), not a redirect.
    let r = b.get(format!("{}&state=again", authorize_url(&s, &id, "st"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}
}

backend_tests! {
async fn a_public_client_must_use_pkce(backend) {
    let s = TestServer::start_with(backend).await;
    admin(&s, "okta-admin@example.com").await;
    let c = register(&s, json!({"name": "Okta (public)", "grant_type": "authorization_code", "redirect_uris": [REDIRECT], "public": true})).await;
    assert!(c["client_secret"].is_null());
    let id = c["client_id"].as_str().unwrap();
    let r = browser()
        .get(s.url(&format!("/oauth2/authorize?response_type=code&client_id={id}&redirect_uri={REDIRECT}")))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("location").unwrap().to_str().unwrap().contains("PKCE"));
    let q = browser_flow(&s, &browser(), id, true).await;
    let code = param(&q, "code").unwrap();
    let r = s
        .send(s.client.post(s.url("/oauth2/token")).form(&[
            ("grant_type", "authorization_code"),
            ("client_id", id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
}

// ------------------------------------------------------------------ the oauth2 crate as the client

backend_tests! {
async fn the_oauth2_crate_connects_both_ways(backend) {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
        Scope as OScope, TokenResponse as _, TokenUrl,
    };

    let s = TestServer::start_with(backend).await;
    admin(&s, "okta-admin@example.com").await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();

    // Client credentials.
    let (cc_id, cc_secret) = cc_client(&s, &[]).await;
    let client = BasicClient::new(ClientId::new(cc_id))
        .set_client_secret(ClientSecret::new(cc_secret))
        .set_token_uri(TokenUrl::new(s.url("/oauth2/token")).unwrap());
    let token = client
        .exchange_client_credentials()
        .add_scope(OScope::new("users:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scim_get(&s, token.access_token().secret(), "/scim/v2/Users").await.status, 200);
    assert_eq!(token.expires_in().unwrap().as_secs(), 3600);

    // Authorization code with PKCE; the browser part is ours, the protocol part the crate's.
    let (id, secret) = code_client(&s).await;
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret))
        .set_auth_uri(AuthUrl::new(s.url("/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(OScope::new("scim".into()))
        .set_pkce_challenge(challenge)
        .url();
    let b = browser();
    let html = b.get(url.as_str()).send().await.unwrap().text().await.unwrap();
    let mut form = form_fields(&html);
    form.extend([
        ("action".into(), "login".into()),
        ("email".into(), "okta-admin@example.com".into()),
        ("password".into(), PASSWORD.into()),
    ]);
    let back = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    let back = back.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let html = b.get(s.url(&back)).send().await.unwrap().text().await.unwrap();
    let mut form = form_fields(&html);
    form.push(("action".into(), "approve".into()));
    let r = b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap();
    let location = url::Url::parse(r.headers().get("location").unwrap().to_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> =
        location.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(param(&pairs, "state"), Some(csrf.secret().as_str()));
    let code = param(&pairs, "code").unwrap().to_owned();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scim_get(&s, token.access_token().secret(), "/scim/v2/Groups").await.status, 200);
    let refreshed =
        client.exchange_refresh_token(token.refresh_token().unwrap()).request_async(&http).await.unwrap();
    assert_eq!(scim_get(&s, refreshed.access_token().secret(), "/scim/v2/Users").await.status, 200);
}
}

// ------------------------------------------------------------------ sign-in throttling and Argon2

/// A browser whose connections come from `ip` (any 127.0.0.0/8 address reaches the server).
fn browser_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

/// The sign-in form of a fresh session of `b`, ready to post with `email` and `password`.
async fn sign_in_form(s: &TestServer, b: &reqwest::Client, client_id: &str) -> Vec<(String, String)> {
    let html = b.get(authorize_url(s, client_id, "st")).send().await.unwrap().text().await.unwrap();
    let mut form = form_fields(&html);
    form.push(("action".into(), "login".into()));
    form
}

async fn sign_in(
    s: &TestServer,
    b: &reqwest::Client,
    form: &[(String, String)],
    email: &str,
    password: &str,
) -> reqwest::Response {
    let mut form = form.to_vec();
    form.extend([("email".into(), email.to_owned()), ("password".into(), password.to_owned())]);
    b.post(s.url("/oauth2/authorize")).form(&form).send().await.unwrap()
}

/// Fires `n` sign-ins at once from one session; the statuses.
async fn concurrent_sign_ins(
    s: &Arc<TestServer>,
    b: &reqwest::Client,
    form: &[(String, String)],
    emails: impl Fn(usize) -> String,
    n: usize,
) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (s, b, form, email) = (s.clone(), b.clone(), form.to_vec(), emails(i));
        set.spawn(async move { sign_in(&s, &b, &form, &email, "wrong guess").await.status().as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(r) = set.join_next().await {
        statuses.push(r.unwrap());
    }
    statuses
}

backend_tests! {
async fn concurrent_guesses_never_overtake_the_limits(backend) {
    let s = Arc::new(TestServer::start_with(backend).await);
    admin(&s, "okta-admin@example.com").await;
    let (id, _) = code_client(&s).await;
    // 40 guesses at once on one account: an attempt is reserved before the password is checked,
    // so at most 5 are checked (each a 401); the others are refused unchecked (429).
    let b = browser_from([127, 0, 0, 3]);
    let form = sign_in_form(&s, &b, &id).await;
    let statuses = concurrent_sign_ins(&s, &b, &form, |_| "okta-admin@example.com".into(), 40).await;
    let checked = statuses.iter().filter(|&&st| st == 401).count();
    assert!(checked <= 5, "{checked} of 40 concurrent guesses were checked: {statuses:?}");
    assert!(statuses.iter().all(|st| [401, 429, 503].contains(st)), "{statuses:?}");
    assert!(statuses.contains(&429));

    // 40 guesses at once from one address, each on another (unknown) account: at most 20 checked.
    let b = browser_from([127, 0, 0, 4]);
    let form = sign_in_form(&s, &b, &id).await;
    let statuses = concurrent_sign_ins(&s, &b, &form, |i| format!("guess{i}@example.com"), 40).await;
    let checked = statuses.iter().filter(|&&st| st == 401).count();
    assert!(checked <= 20, "{checked} of 40 concurrent guesses from one address were checked: {statuses:?}");
    assert!(statuses.iter().all(|st| [401, 429, 503].contains(st)), "{statuses:?}");

    // The process never ran more Argon2 checks at once than it has turns.
    let hasher = scimd_oauth::password::hasher();
    assert!(hasher.peak_in_flight() <= hasher.permits(), "{} > {}", hasher.peak_in_flight(), hasher.permits());
}
}

backend_tests! {
async fn an_attacker_cannot_lock_the_admin_out(backend) {
    let clock = MockClock::new(datetime!(2026-03-01 9:00 UTC));
    let s = TestServer::start_opts(Options { backend, clock: Arc::new(clock.clone()), ..Options::default() }).await;
    admin(&s, "okta-admin@example.com").await;
    let (id, _) = code_client(&s).await;
    for email in ["okta-admin@example.com", "nobody@example.com"] {
        // The attacker, from 127.0.0.2, knows the email: five wrong passwords, then refused.
        let attacker = browser_from([127, 0, 0, 2]);
        let form = sign_in_form(&s, &attacker, &id).await;
        for _ in 0..5 {
            assert_eq!(sign_in(&s, &attacker, &form, email, "wrong").await.status(), 401, "{email}");
        }
        let r = sign_in(&s, &attacker, &form, email, "wrong").await;
        assert_eq!(r.status(), 429, "{email}: known and unknown emails are throttled alike");
        assert!(r.headers().get("retry-after").is_some());

        // The account is slowed, not locked: from another address, after a short delay, the
        // right password works (for the unknown email: the same answers up to the password check).
        let b = browser_from([127, 0, 0, 1]);
        let form = sign_in_form(&s, &b, &id).await;
        let r = sign_in(&s, &b, &form, email, PASSWORD).await;
        assert_eq!(r.status(), 429, "{email}");
        let wait: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "a short delay, not a lockout: {wait}s");
        clock.advance(time::Duration::seconds(wait));
        let r = sign_in(&s, &b, &form, email, PASSWORD).await;
        let expected = if email.starts_with("okta") { 303 } else { 401 };
        assert_eq!(r.status(), expected, "{email}");
        // The attacker's own address stays refused for that account.
        let form = sign_in_form(&s, &attacker, &id).await;
        assert_eq!(sign_in(&s, &attacker, &form, email, "wrong").await.status(), 429, "{email}");
    }
}
}

backend_tests! {
async fn registrations_refuse_tricky_redirect_uris_and_huge_names(backend) {
    let s = TestServer::start_with(backend).await;
    let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
    let post = |body: Value| {
        s.send(s.client.post(s.url("/admin/v1/tenants/default/clients")).bearer_auth(admin.clone()).json(&body))
    };
    for uri in ["https://user:pass@a.example/cb", "http://0x7f000001/cb", "http://127.1/cb", "https://a.example/cb#f"] {
        let r = post(json!({"name": "Okta", "grant_type": "authorization_code", "redirect_uris": [uri]})).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.body);
    }
    let r = post(json!({"name": "x".repeat(100_000), "grant_type": "client_credentials"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("200 characters"), "{}", r.body);
}
}

backend_tests! {
async fn basic_failures_are_challenged_with_basic_and_advertised(backend) {
    let s = TestServer::start_with(backend).await;
    let r = s.send(s.client.get(s.url("/scim/v2/Users")).basic_auth("default", Some("scimd_wrong"))).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic realm="), "{:?}", r.headers);
    assert!(r.body["detail"].as_str().unwrap().contains("Basic"), "{}", r.body);
    let ok = s.send(s.client.get(s.url("/scim/v2/Users")).basic_auth("default", Some(&s.token))).await;
    assert_eq!(ok.status, 200);
    let spc = s.send(s.client.get(s.url("/scim/v2/ServiceProviderConfig")).bearer_auth(&s.token)).await;
    let schemes = spc.body["authenticationSchemes"].as_array().unwrap();
    let types: Vec<&str> = schemes.iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["oauthbearertoken", "httpbasic"]);
    assert!(schemes.iter().all(|a| a["documentationUri"].is_string() && a["specUri"].is_string()));
}
}
