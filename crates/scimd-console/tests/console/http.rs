//! The console over HTTP, as a browser speaks it: sessions, CSRF, throttling, escaping, and each
//! page doing what the admin API does.

use serde_json::json;

use scimd_testkit::{Backend, Options, TestServer, backend_tests};

use super::*;

fn cookie_line<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {headers:?}"))
}

fn cookie_value(line: &str) -> String {
    line.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

backend_tests! {
    async fn an_admin_signs_in_and_out(backend) {
        let s = start(backend).await;
        let b = browser();
        // Signed out, every page sends the browser to the sign-in form.
        for path in ["/console/", "/console/tokens", "/console/users", "/console/settings"] {
            let (status, headers, _) = get(&b, &s, path).await;
            assert_eq!(status, 303, "{path}");
            assert_eq!(headers["location"], "/console/login", "{path}");
        }
        let (status, headers, form) = get(&b, &s, "/console/login").await;
        assert_eq!(status, 200);
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers["cache-control"], "no-store");
        // No inline script or style: every <script> has a src, and there is no <style> or style=.
        assert!(!form.contains("<style") && !form.contains("style="), "inline style");
        assert_eq!(form.matches("<script").count(), form.matches("<script src=").count(), "inline script");
        let login = cookie_line(&headers, "scimd_console_login");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
            assert!(login.contains(attr), "{login}");
        }
        // Wrong password, unknown email, unknown tenant: one answer.
        for (tenant, email, password) in [
            ("default", EMAIL, "wrong password, long"),
            ("default", "nobody@acme.example", PASSWORD),
            ("no-such-tenant", EMAIL, PASSWORD),
        ] {
            let (status, _, page) = sign_in(&b, &s, tenant, email, password).await;
            assert_eq!(status, 401, "{tenant} {email}");
            assert!(page.contains("Wrong tenant, email or password."), "{page}");
        }
        let (status, headers, _) = sign_in(&b, &s, "default", EMAIL, PASSWORD).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/console/");
        let session = cookie_line(&headers, "scimd_console");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
            assert!(session.contains(attr), "{session}");
        }
        assert!(!session.contains("Secure"), "plain http: no Secure ({session})");
        let session_value = cookie_value(session);
        let (status, _, home) = get(&b, &s, "/console/").await;
        assert_eq!(status, 200);
        assert!(home.contains(&format!("{}/tenants/default/scim/v2", s.base_url)), "{home}");
        assert!(home.contains(&format!("{}/oauth2/token", s.base_url)));
        assert!(home.contains(EMAIL));

        // Signing out needs the form's token; then the session is gone on the server, not only
        // in this browser.
        let (status, _, _) = post(&b, &s, "/console/logout", &[("csrf", "forged")]).await;
        assert_eq!(status, 403);
        let csrf = field(&home, "csrf");
        let (status, headers, _) = post(&b, &s, "/console/logout", &[("csrf", &csrf)]).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/console/login");
        let replayed = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = replayed
            .get(s.url("/console/"))
            .header("cookie", format!("scimd_console={session_value}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "a signed-out session's cookie no longer works");
    }

    async fn each_sign_in_gets_a_new_session(backend) {
        let s = start(backend).await;
        let b = browser();
        let (_, first, _) = sign_in(&b, &s, "default", EMAIL, PASSWORD).await;
        let (_, second, _) = sign_in(&b, &s, "default", EMAIL, PASSWORD).await;
        let (a, z) = (cookie_value(cookie_line(&first, "scimd_console")), cookie_value(cookie_line(&second, "scimd_console")));
        assert_ne!(a, z, "the cookie is new at every sign-in");
        // The sign-in form's token is spent with it.
        assert!(cookie_line(&second, "scimd_console_login").contains("Max-Age=0"));
    }

    async fn the_sign_in_form_needs_its_own_token(backend) {
        let s = start(backend).await;
        // No token cookie at all (a form posted from another site): refused, nothing checked.
        let b = browser();
        let (status, _, page) = post(&b, &s, "/console/login", &[("csrf", "x"), ("tenant", "default"), ("email", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(status, 403);
        assert!(page.contains("out of date"), "{page}");
        // A token from another browser does not match this one's cookie.
        let other = browser();
        let (_, _, form) = get(&other, &s, "/console/login").await;
        let theirs = field(&form, "csrf");
        let (_, _, _) = get(&b, &s, "/console/login").await;
        let (status, _, _) = post(&b, &s, "/console/login", &[("csrf", &theirs), ("tenant", "default"), ("email", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(status, 403);
    }

    async fn concurrent_guesses_never_overtake_the_throttle(backend) {
        let s = start(backend).await;
        let b = browser();
        let (_, _, form) = get(&b, &s, "/console/login").await;
        let csrf = field(&form, "csrf");
        let guesses = (0..30).map(|i| {
            let (b, url, csrf) = (b.clone(), s.url("/console/login"), csrf.clone());
            tokio::spawn(async move {
                let password = format!("wrong guess number {i}");
                let r = b
                    .post(url)
                    .form(&[("csrf", csrf.as_str()), ("tenant", "default"), ("email", EMAIL), ("password", &password)])
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.headers().get("retry-after").is_some())
            })
        });
        let mut results = Vec::new();
        for g in guesses {
            results.push(g.await.unwrap());
        }
        let checked = results.iter().filter(|(st, _)| *st == 401).count();
        // OAuthConfig's defaults: 5 failures per account (and per account and address) are
        // checked; the rest wait.
        assert!(checked <= 5, "{checked} of 30 concurrent guesses were checked: {results:?}");
        assert!(results.iter().all(|(st, _)| [401, 429, 503].contains(st)), "{results:?}");
        assert!(results.iter().filter(|(st, _)| *st == 429).all(|(_, retry)| *retry), "429 says when to retry");
        assert!(results.iter().any(|(st, _)| *st == 429));
        // Even the right password now waits: the throttle is per account, not per guess.
        let (status, _, page) = sign_in(&b, &s, "default", EMAIL, PASSWORD).await;
        assert_eq!(status, 429, "{page}");
        assert!(page.contains("Too many failed sign-ins"));
    }

    async fn a_token_is_shown_once_works_and_stops_when_revoked(backend) {
        let s = start(backend).await;
        let (b, csrf) = signed_in(&s).await;
        let (status, _, created) = post(&b, &s, "/console/tokens", &[
            ("csrf", &csrf), ("name", "Microsoft Entra ID"),
            ("scope", "users:read"), ("scope", "users:create"), ("expires_days", "30"),
        ]).await;
        assert_eq!(status, 201, "{created}");
        let start = created.find("<code id=\"secret\">").unwrap() + "<code id=\"secret\">".len();
        let secret = created[start..].split('<').next().unwrap().to_owned();
        assert!(secret.len() > 30, "{secret}");
        // It works, with exactly its scopes.
        let r = s.client.get(s.url("/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = s.client.get(s.url("/scim/v2/Groups")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 403, "no groups:read");
        // Listed, never shown again.
        let (_, _, list) = get(&b, &s, "/console/tokens").await;
        assert!(list.contains("Microsoft Entra ID") && list.contains("users:read users:create"), "{list}");
        assert!(!list.contains(&secret));
        let token = s.store.list_tokens(s.tenant.id).await.unwrap().into_iter().find(|t| t.name == "Microsoft Entra ID").unwrap();
        assert!(token.expires.is_some());
        // Revoking asks first (a GET changes nothing), then needs the form's token.
        let path = format!("/console/tokens/{}/revoke", token.id);
        let (status, _, confirm) = get(&b, &s, &path).await;
        assert_eq!(status, 200);
        assert!(confirm.contains("Revoke the token"), "{confirm}");
        let r = s.client.get(s.url("/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 200, "still works after the confirmation page");
        let (status, _, _) = post(&b, &s, &path, &[("csrf", "forged")]).await;
        assert_eq!(status, 403);
        let r = s.client.get(s.url("/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 200, "a forged form revokes nothing");
        let (status, headers, _) = post(&b, &s, &path, &[("csrf", &csrf)]).await;
        assert_eq!(status, 303);
        assert!(headers["location"].to_str().unwrap().starts_with("/console/tokens?revoked="));
        let r = s.client.get(s.url("/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 401, "revoked: refused on the very next request");
    }

    async fn bad_token_forms_are_shown_again_with_the_reason(backend) {
        let s = start(backend).await;
        let (b, csrf) = signed_in(&s).await;
        let before = s.store.list_tokens(s.tenant.id).await.unwrap().len();
        for (form, reason) in [
            (vec![("csrf", csrf.as_str()), ("name", "x")], "Choose at least one scope."),
            (vec![("csrf", csrf.as_str()), ("scope", "users:read")], "Give the token a name"),
            (vec![("csrf", csrf.as_str()), ("name", "x"), ("scope", "users:read"), ("expires_days", "0")], "whole number of days"),
            (vec![("csrf", csrf.as_str()), ("name", "x"), ("scope", "users:read"), ("expires_days", "-5")], "whole number of days"),
            (vec![("csrf", csrf.as_str()), ("name", "x"), ("scope", "root")], "unknown scope"),
            (vec![("csrf", csrf.as_str()), ("name", "a\u{7}b"), ("scope", "users:read")], "control"),
        ] {
            let (status, _, page) = post(&b, &s, "/console/tokens", &form).await;
            assert_eq!(status, 400, "{form:?}: {page}");
            assert!(page.contains(reason), "{form:?} wants {reason:?}: {page}");
        }
        assert_eq!(s.store.list_tokens(s.tenant.id).await.unwrap().len(), before, "nothing created");
    }

    async fn another_tenants_credentials_are_not_found(backend) {
        let s = start(backend).await;
        let other = s.store.create_tenant("other").await.unwrap();
        let their_token = s.token_for(&other, scimd_http::Scopes::all(), false).await;
        let theirs = s.store.list_tokens(other.id).await.unwrap().remove(0);
        let (b, csrf) = signed_in(&s).await;
        let path = format!("/console/tokens/{}/revoke", theirs.id);
        assert_eq!(get(&b, &s, &path).await.0, 404);
        assert_eq!(post(&b, &s, &path, &[("csrf", &csrf)]).await.0, 404);
        let r = s.client.get(s.url("/tenants/other/scim/v2/Users")).bearer_auth(&their_token).send().await.unwrap();
        assert_eq!(r.status(), 200, "their token still works");
        let (_, _, list) = get(&b, &s, "/console/tokens").await;
        assert!(!list.contains(&theirs.id.to_string()));
    }

    async fn an_oauth_app_runs_client_credentials_rotates_and_goes(backend) {
        let s = start(backend).await;
        let (b, csrf) = signed_in(&s).await;
        let (status, _, page) = post(&b, &s, "/console/clients", &[
            ("csrf", &csrf), ("name", "Microsoft Entra ID"), ("grant_type", "client_credentials"),
            ("scope", "users:read"), ("scope", "groups:read"),
        ]).await;
        assert_eq!(status, 201, "{page}");
        let client_id = between(&page, "<code id=\"client-id\">", "<");
        let secret = between(&page, "<code id=\"secret\">", "<");
        let token = |id: String, secret: String| {
            let url = s.url("/oauth2/token");
            let c = s.client.clone();
            async move {
                c.post(url).basic_auth(id, Some(secret)).form(&[("grant_type", "client_credentials")]).send().await.unwrap()
            }
        };
        let r = token(client_id.clone(), secret.clone()).await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["scope"], "users:read groups:read");
        let access = body["access_token"].as_str().unwrap().to_owned();
        let r = s.client.get(s.url("/scim/v2/Users")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(r.status(), 200);

        let (status, _, rotated) = post(&b, &s, &format!("/console/clients/{client_id}/rotate"), &[("csrf", &csrf)]).await;
        assert_eq!(status, 200, "{rotated}");
        let new_secret = between(&rotated, "<code id=\"secret\">", "<");
        assert_ne!(new_secret, secret);
        assert_eq!(token(client_id.clone(), secret.clone()).await.status(), 401, "the old secret is dead");
        assert_eq!(token(client_id.clone(), new_secret.clone()).await.status(), 200);
        let r = s.client.get(s.url("/scim/v2/Users")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(r.status(), 401, "rotation revoked what was issued");

        let (status, headers, _) = post(&b, &s, &format!("/console/clients/{client_id}/delete"), &[("csrf", &csrf)]).await;
        assert_eq!(status, 303);
        assert!(headers["location"].to_str().unwrap().starts_with("/console/clients?deleted="));
        assert_eq!(token(client_id, new_secret).await.status(), 401);
        // An authorization-code app needs a redirect URI, worded by the authorization server.
        let (status, _, page) = post(&b, &s, "/console/clients", &[
            ("csrf", &csrf), ("name", "Okta"), ("grant_type", "authorization_code"), ("scope", "users:read"),
        ]).await;
        assert_eq!(status, 400);
        assert!(page.contains("redirect"), "{page}");
    }

    async fn what_scim_clients_send_is_shown_as_text(backend) {
        let s = start(backend).await;
        let evil = "<script>alert(1)</script>@acme.example";
        let r = s.post("/scim/v2/Users", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": evil,
            "displayName": "\"><img src=x onerror=alert(2)>",
            "externalId": "'><svg onload=alert(3)>",
            "password": "hunter2 hunter2",
        })).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let g = s.post("/scim/v2/Groups", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "<b>bold</b> & co",
            "members": [{"value": id}],
        })).await;
        assert_eq!(g.status, 201);
        let gid = g.body["id"].as_str().unwrap().to_owned();
        let (b, _) = signed_in(&s).await;
        let pages = [
            "/console/users".to_owned(),
            format!("/console/users/{id}"),
            "/console/groups".to_owned(),
            format!("/console/groups/{gid}"),
        ];
        for path in &pages {
            let (status, _, page) = get(&b, &s, path).await;
            assert_eq!(status, 200, "{path}");
            for raw in ["<script>alert", "<img src=x", "<svg onload", "<b>bold</b>"] {
                assert!(!page.contains(raw), "{path} renders {raw:?} as markup");
            }
            assert!(!page.contains("hunter2"), "{path} shows the password");
        }
        // Shown, as text.
        let (_, _, user) = get(&b, &s, &format!("/console/users/{id}")).await;
        let text = unescape(&user);
        assert!(text.contains(evil), "{user}");
        assert!(text.contains("<b>bold</b> & co"), "the group is listed: {user}");
        let (_, _, group) = get(&b, &s, &format!("/console/groups/{gid}")).await;
        assert!(group.contains(&format!("/console/users/{id}")), "members link to their users");
    }

    async fn the_filter_box_speaks_the_apis_filter(backend) {
        let s = start(backend).await;
        for name in ["alice@acme.example", "bob@acme.example", "carol@other.example"] {
            let r = s.post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": name != "bob@acme.example"})).await;
            assert_eq!(r.status, 201);
        }
        let (b, _) = signed_in(&s).await;
        let q = |f: &str| format!("/console/users?{}", url::form_urlencoded::Serializer::new(String::new()).append_pair("filter", f).finish());
        let (status, _, page) = get(&b, &s, &q("userName ew \"@acme.example\" and active eq true")).await;
        assert_eq!(status, 200);
        assert!(page.contains("alice@acme.example") && !page.contains("bob@") && !page.contains("carol@"), "{page}");
        assert!(page.contains("1–1 of 1"), "{page}");
        // Errors: the API's own status and words.
        for bad in ["userName eq", "nosuchattribute eq \"x\"", "userName xx \"a\""] {
            let api = s.get(&format!("/scim/v2/Users?{}", url::form_urlencoded::Serializer::new(String::new()).append_pair("filter", bad).finish())).await;
            assert_eq!(api.status, 400, "{bad}");
            let detail = api.body["detail"].as_str().unwrap();
            let (status, _, page) = get(&b, &s, &q(bad)).await;
            assert_eq!(status, 400, "{bad}");
            assert!(unescape(&page).contains(detail), "{bad}: {detail} not in {page}");
            assert!(page.contains(api.body["scimType"].as_str().unwrap()), "{bad}");
        }
    }

    async fn settings_are_saved_as_the_admin_api_reads_them(backend) {
        let s = start(backend).await;
        let (b, csrf) = signed_in(&s).await;
        let (status, _, page) = get(&b, &s, "/console/settings").await;
        assert_eq!(status, 200);
        assert!(page.contains("Re-provisioning") && page.contains("Okta re-creates users"), "{page}");
        let (status, headers, _) = post(&b, &s, "/console/settings", &[
            ("csrf", &csrf), ("patch_response", "body"), ("reprovision", "reactivate"),
            ("unknown_members", "refuse"), ("strict", "true"), ("rate_limit", "50"), ("groups", "off"),
        ]).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/console/settings?saved=1");
        let admin = s.token(&["admin"]).await;
        let got: serde_json::Value = s.client.get(s.url("/admin/v1/tenants/default/settings")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        assert_eq!(got, json!({"strict": true, "patch_response": "body", "require_if_match": false, "reprovision": "reactivate", "unknown_members": "refuse", "rate_limit": 50, "groups": "off"}));
        // A value no setting has is refused and changes nothing.
        let (status, _, page) = post(&b, &s, "/console/settings", &[("csrf", &csrf), ("patch_response", "sometimes"), ("reprovision", "reject"), ("unknown_members", "skip"), ("groups", "on")]).await;
        assert_eq!(status, 400, "{page}");
        let (status, _, _) = post(&b, &s, "/console/settings", &[("patch_response", "auto"), ("reprovision", "reject"), ("unknown_members", "skip")]).await;
        assert_eq!(status, 403, "no CSRF token");
        let again: serde_json::Value = s.client.get(s.url("/admin/v1/tenants/default/settings")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        assert_eq!(again, got);
    }

    async fn the_provisioning_log_shows_each_request_without_secrets(backend) {
        let s = start(backend).await;
        let r = s.post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dana@acme.example", "password": "s3cret-value-123"})).await;
        assert_eq!(r.status, 201);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let dup = s.post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dana@acme.example"})).await;
        assert_eq!(dup.status, 409);
        let (b, _) = signed_in(&s).await;
        // The log is written in the background: wait for both records.
        let mut page = String::new();
        for _ in 0..100 {
            page = get(&b, &s, "/console/logs").await.2;
            if page.matches("POST /scim/v2/Users").count() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(page.matches("POST /scim/v2/Users").count(), 2, "{page}");
        let (_, _, refused) = get(&b, &s, "/console/logs?status=4xx").await;
        assert_eq!(refused.matches("POST /scim/v2/Users").count(), 1, "{refused}");
        assert!(refused.contains("409"));
        let (status, _, bad) = get(&b, &s, "/console/logs?status=nine").await;
        assert_eq!(status, 400);
        assert!(bad.contains("use e.g. 4xx or 409"), "{bad}");
        // The resource's history, and the record's detail with the password replaced.
        let (_, _, user) = get(&b, &s, &format!("/console/users/{id}")).await;
        let record = between(&user, "href=\"/console/logs/", "\"");
        let (status, _, detail) = get(&b, &s, &format!("/console/logs/{record}")).await;
        assert_eq!(status, 200);
        assert!(detail.contains("dana@acme.example") && detail.contains("***"), "{detail}");
        assert!(!detail.contains("s3cret-value-123"), "{detail}");
        // The response as scimd sent it: the created user with its id.
        let response = between(&detail, "<pre id=\"response-body\">", "</pre>");
        assert!(unescape(&response).contains(&format!("\"id\": \"{id}\"")), "{detail}");
        // The refused duplicate: its error body.
        let (_, _, refused_page) = get(&b, &s, "/console/logs?status=409").await;
        let dup_record = between(&refused_page, "href=\"/console/logs/", "\"");
        let (_, _, dup) = get(&b, &s, &format!("/console/logs/{dup_record}")).await;
        assert!(unescape(&between(&dup, "<pre id=\"response-body\">", "</pre>")).contains("\"scimType\": \"uniqueness\""), "{dup}");
        assert_eq!(get(&b, &s, "/console/logs/not-an-id").await.0, 404);
    }
}

/// The text of HTML character references (the named ones of markup, and numeric ones), for
/// checking what a page shows rather than how it spells it.
fn unescape(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e < 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let c = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            n => n.strip_prefix('#').and_then(|d| d.parse::<u32>().ok()).and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn between(page: &str, start: &str, end: &str) -> String {
    let i = page.find(start).unwrap_or_else(|| panic!("{start:?} not in {page}")) + start.len();
    page[i..].split(end).next().unwrap().to_owned()
}

#[tokio::test]
async fn sessions_end_when_idle_and_after_a_working_day() {
    let (clock, shared) = mock_clock();
    let s = start_opts(Options { backend: Backend::Sqlite, clock: shared, ..Options::default() }).await;
    let (b, _) = signed_in(&s).await;
    // Used every 20 minutes, the session lives on: each page moves its idle deadline.
    for _ in 0..3 {
        clock.advance(time::Duration::minutes(20));
        assert_eq!(get(&b, &s, "/console/tokens").await.0, 200);
    }
    // Thirty-one minutes without a request: ended.
    clock.advance(time::Duration::minutes(31));
    let (status, headers, _) = get(&b, &s, "/console/").await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/console/login?expired=1");
    let (_, _, page) = get(&b, &s, "/console/login?expired=1").await;
    assert!(page.contains("Your session ended"), "{page}");
    // However busy, a session ends twelve hours after sign-in.
    let (b, _) = signed_in(&s).await;
    let mut alive = 0;
    loop {
        clock.advance(time::Duration::minutes(25));
        let (status, _, _) = get(&b, &s, "/console/").await;
        if status != 200 {
            assert_eq!(status, 303);
            break;
        }
        alive += 25;
        assert!(alive < 13 * 60, "the session outlived its absolute timeout");
    }
    assert!((11 * 60 + 35..12 * 60).contains(&alive), "ended after {alive} minutes");
}

#[tokio::test]
async fn console_files_are_served_and_unknown_pages_are_pages() {
    let s: TestServer = start(Backend::Sqlite).await;
    let b = browser();
    for (file, kind) in
        [("console.css", "text/css"), ("console.js", "text/javascript"), ("htmx.min.js", "text/javascript")]
    {
        let (status, headers, body) = get(&b, &s, &format!("/console/assets/{file}")).await;
        assert_eq!(status, 200, "{file}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{file}");
        assert!(!body.is_empty());
    }
    let (status, headers, page) = get(&b, &s, "/console/no-such-page").await;
    assert_eq!(status, 404);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.contains("There is no console page at /console/no-such-page."), "{page}");
    assert_eq!(get(&b, &s, "/console/assets/scimd.db").await.0, 404);
    // With or without the trailing slash: the same page (here, the way to the sign-in form).
    for path in ["/console", "/console/"] {
        let (status, headers, _) = get(&b, &s, path).await;
        assert_eq!(status, 303, "{path}");
        assert_eq!(headers["location"], "/console/login");
    }
}

backend_tests! {
    async fn a_domain_is_claimed_verified_and_removed(backend) {
        let (dns, published) = scimd_testkit::dns::txt_records("_scimd-challenge.example.com.");
        let config = scimd_http::HttpConfig { dns_server: Some(dns), ..Default::default() };
        let s = start_opts(Options { backend, config, ..Options::default() }).await;
        let (b, csrf) = signed_in(&s).await;
        let (status, _, page) = post(&b, &s, "/console/domains", &[("csrf", &csrf), ("domain", "not a domain")]).await;
        assert_eq!(status, 400);
        assert!(unescape(&page).contains("\"not a domain\" is not a domain name"), "{page}");
        let (status, headers, _) = post(&b, &s, "/console/domains", &[("csrf", &csrf), ("domain", "Example.com")]).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/console/domains?added=example.com");
        let (_, _, page) = get(&b, &s, "/console/domains?added=example.com").await;
        let text = unescape(&page);
        let record = between(&text, "<code id=\"txt-1\">", "<");
        assert!(record.starts_with("_scimd-challenge.example.com. 3600 IN TXT \"scimd-verification="), "{record}");
        // Not published yet: the API's words.
        let (status, _, page) = post(&b, &s, "/console/domains/example.com/verify", &[("csrf", &csrf)]).await;
        assert_eq!(status, 400);
        assert!(page.contains("has no TXT record"), "{page}");
        published.lock().unwrap().push(record.split('"').nth(1).unwrap().to_owned());
        let (status, _, _) = post(&b, &s, "/console/domains/example.com/verify", &[("csrf", "forged")]).await;
        assert_eq!(status, 403);
        let (status, headers, _) = post(&b, &s, "/console/domains/example.com/verify", &[("csrf", &csrf)]).await;
        assert_eq!(status, 303, "verified");
        assert_eq!(headers["location"], "/console/domains?verified=example.com");
        let domains = s.store.list_domains(s.tenant.id).await.unwrap();
        assert!(domains[0].verified.is_some());
        let (_, _, page) = get(&b, &s, "/console/domains").await;
        assert!(page.contains("<strong>verified</strong>"), "{page}");
        let (status, _, confirm) = get(&b, &s, "/console/domains/example.com/remove").await;
        assert_eq!(status, 200);
        assert!(confirm.contains("Remove example.com?"));
        let (status, _, _) = post(&b, &s, "/console/domains/example.com/remove", &[("csrf", &csrf)]).await;
        assert_eq!(status, 303);
        assert!(s.store.list_domains(s.tenant.id).await.unwrap().is_empty());
        assert_eq!(post(&b, &s, "/console/domains/example.com/remove", &[("csrf", &csrf)]).await.0, 404);
    }
}

backend_tests! {
    async fn test_connection_runs_what_the_identity_provider_runs(backend) {
        let s = start(backend).await;
        let (b, csrf) = signed_in(&s).await;
        for name in ["a@acme.example", "b@acme.example"] {
            assert_eq!(s.post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})).await.status, 201);
        }
        let statuses = |page: &str| -> Vec<String> {
            let table = between(page, "<table id=\"test-results\">", "</table>");
            table.split("<tr class=").skip(1).map(|row| between(row, "</code></td><td>", "<")).collect()
        };
        let run = |form: Vec<(&'static str, String)>| {
            let (b, s, csrf) = (b.clone(), &s, csrf.clone());
            async move {
                let mut form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                form.push(("csrf", &csrf));
                let (status, _, page) = post(&b, s, "/console/test", &form).await;
                assert_eq!(status, 200, "{page}");
                page
            }
        };
        let good = s.token(&["scim"]).await;
        let page = run(vec![("kind", "token".into()), ("token", good.clone())]).await;
        assert_eq!(statuses(&page), ["200", "200"], "{page}");
        assert!(page.contains("totalResults 2"), "{page}");
        let groups_only = s.token(&["groups:read"]).await;
        let page = run(vec![("kind", "token".into()), ("token", groups_only)]).await;
        assert_eq!(statuses(&page), ["403", "200"], "{page}");
        assert!(page.contains("lacks users:read"));
        let page = run(vec![("kind", "token".into()), ("token", "scimd_not-a-real-token".into())]).await;
        assert_eq!(statuses(&page), ["401", "401"]);
        let other = s.store.create_tenant("other").await.unwrap();
        let theirs = s.token_for(&other, scimd_http::Scopes::all(), false).await;
        let page = run(vec![("kind", "token".into()), ("token", theirs)]).await;
        assert_eq!(statuses(&page), ["403", "403"]);
        assert!(page.contains("another tenant"));
        // Client credentials: the token endpoint first, then the same two requests.
        let (_, _, created) = post(&b, &s, "/console/clients", &[("csrf", &csrf), ("name", "Entra"), ("grant_type", "client_credentials"), ("scope", "scim")]).await;
        let id = between(&created, "<code id=\"client-id\">", "<");
        let secret = between(&created, "<code id=\"secret\">", "<");
        let page = run(vec![("kind", "client".into()), ("client_id", id.clone()), ("client_secret", secret)]).await;
        assert_eq!(statuses(&page), ["200", "200", "200"], "{page}");
        let page = run(vec![("kind", "client".into()), ("client_id", id), ("client_secret", "wrong".into())]).await;
        assert_eq!(statuses(&page), ["401"], "{page}");
        assert!(page.contains("invalid_client"));
        assert_eq!(post(&b, &s, "/console/test", &[("kind", "token"), ("token", &good)]).await.0, 403, "no CSRF token");
    }
}

backend_tests! {
    async fn admins_are_created_given_new_passwords_and_removed(backend) {
        let s = start(backend).await;
        let (b, csrf) = signed_in(&s).await;
        let (status, _, page) = post(&b, &s, "/console/admins", &[("csrf", &csrf), ("email", "ops@acme.example"), ("password", "short"), ("confirm", "short")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("at least 12 characters"), "{page}");
        let (status, _, page) = post(&b, &s, "/console/admins", &[("csrf", &csrf), ("email", "ops@acme.example"), ("password", "one long passphrase"), ("confirm", "another passphrase")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("The two passwords differ."));
        let (status, headers, _) = post(&b, &s, "/console/admins", &[("csrf", &csrf), ("email", "ops@acme.example"), ("password", "one long passphrase"), ("confirm", "one long passphrase")]).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/console/admins?created=ops%40acme.example");
        let (status, _, page) = post(&b, &s, "/console/admins", &[("csrf", &csrf), ("email", "OPS@acme.example"), ("password", "one long passphrase"), ("confirm", "one long passphrase")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("already exists"), "{page}");
        // The new admin signs in in another browser.
        let ops = browser();
        assert_eq!(sign_in(&ops, &s, "default", "ops@acme.example", "one long passphrase").await.0, 303);
        assert_eq!(get(&ops, &s, "/console/").await.0, 200);
        let id = s.store.admin_by_email(s.tenant.id, "ops@acme.example").await.unwrap().unwrap().id;
        // A new password signs them out everywhere; the old one stops working.
        let (status, _, _) = post(&b, &s, &format!("/console/admins/{id}/password"), &[("csrf", &csrf), ("password", "the newest passphrase"), ("confirm", "the newest passphrase")]).await;
        assert_eq!(status, 303);
        assert_eq!(get(&ops, &s, "/console/").await.0, 303, "signed out by the reset");
        assert_eq!(sign_in(&ops, &s, "default", "ops@acme.example", "one long passphrase").await.0, 401);
        assert_eq!(sign_in(&ops, &s, "default", "ops@acme.example", "the newest passphrase").await.0, 303);
        // Nobody removes themselves; another admin can, and the session ends with the account.
        let me = s.store.admin_by_email(s.tenant.id, EMAIL).await.unwrap().unwrap().id;
        assert_eq!(post(&b, &s, &format!("/console/admins/{me}/remove"), &[("csrf", &csrf)]).await.0, 403);
        assert_eq!(post(&b, &s, &format!("/console/admins/{id}/remove"), &[("csrf", "forged")]).await.0, 403);
        assert_eq!(post(&b, &s, &format!("/console/admins/{id}/remove"), &[("csrf", &csrf)]).await.0, 303);
        assert_eq!(get(&ops, &s, "/console/").await.0, 303, "a removed admin's session is gone");
        let (_, _, page) = get(&b, &s, "/console/admins").await;
        assert!(!between(&page, "<table id=\"admins\">", "</table>").contains("ops@acme.example"), "{page}");
        // Another tenant's admin is not found.
        let other = s.store.create_tenant("other").await.unwrap();
        add_admin(&s, &other, "them@other.example").await;
        let theirs = s.store.admin_by_email(other.id, "them@other.example").await.unwrap().unwrap().id;
        assert_eq!(get(&b, &s, &format!("/console/admins/{theirs}/password")).await.0, 404);
        assert_eq!(post(&b, &s, &format!("/console/admins/{theirs}/remove"), &[("csrf", &csrf)]).await.0, 404);
        // Changing one's own password signs this session out too.
        let (status, headers, _) = post(&b, &s, &format!("/console/admins/{me}/password"), &[("csrf", &csrf), ("password", "my own new passphrase"), ("confirm", "my own new passphrase")]).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/console/login");
        assert_eq!(get(&b, &s, "/console/").await.0, 303);
    }
}

backend_tests! {
    async fn an_operator_acts_in_every_tenant(backend) {
        let s = start(backend).await;
        let server = scimd_oauth::AuthorizationServer::new(s.store.clone(), s.clock.clone(), scimd_oauth::OAuthConfig::default());
        server.create_operator(&s.tenant, "ops@scimd.example", PASSWORD.into()).await.unwrap();
        // A tenant's own admin has no Tenants page and cannot choose another tenant.
        let (b, csrf) = signed_in(&s).await;
        assert_eq!(get(&b, &s, "/console/tenants").await.0, 404);
        assert_eq!(post(&b, &s, "/console/tenants/select", &[("csrf", &csrf), ("slug", "default")]).await.0, 404);
        assert_eq!(post(&b, &s, "/console/tenants", &[("csrf", &csrf), ("slug", "sneaky")]).await.0, 404);
        assert!(s.store.tenant_by_slug("sneaky").await.unwrap().is_none());

        let ops = browser();
        assert_eq!(sign_in(&ops, &s, "default", "ops@scimd.example", PASSWORD).await.0, 303);
        let (_, _, home) = get(&ops, &s, "/console/").await;
        assert!(home.contains("(operator)"), "{home}");
        let csrf = field(&home, "csrf");
        let (status, _, page) = post(&ops, &s, "/console/tenants", &[("csrf", &csrf), ("slug", "Not A Slug")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("invalid tenant slug"), "{page}");
        assert_eq!(post(&ops, &s, "/console/tenants", &[("csrf", &csrf), ("slug", "acme")]).await.0, 303);
        assert_eq!(post(&ops, &s, "/console/tenants", &[("csrf", &csrf), ("slug", "acme")]).await.0, 400, "exists");
        let (_, _, page) = get(&ops, &s, "/console/tenants").await;
        assert!(page.contains("<code>acme</code>") && page.contains("<code>default</code>"), "{page}");
        assert_eq!(post(&ops, &s, "/console/tenants/select", &[("csrf", "forged"), ("slug", "acme")]).await.0, 403);
        assert_eq!(post(&ops, &s, "/console/tenants/select", &[("csrf", &csrf), ("slug", "nope")]).await.0, 404);
        assert_eq!(post(&ops, &s, "/console/tenants/select", &[("csrf", &csrf), ("slug", "acme")]).await.0, 303);
        // Every page now works in acme: a token made here is acme's.
        let (_, _, home) = get(&ops, &s, "/console/").await;
        assert!(home.contains(&format!("{}/tenants/acme/scim/v2", s.base_url)), "{home}");
        let (status, _, created) = post(&ops, &s, "/console/tokens", &[("csrf", &csrf), ("name", "acme's Entra"), ("scope", "scim")]).await;
        assert_eq!(status, 201);
        let secret = between(&created, "<code id=\"secret\">", "<");
        let r = s.client.get(s.url("/tenants/acme/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = s.client.get(s.url("/tenants/default/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 403, "not default's");
        // The tenant's own admin sees nothing of it.
        let (_, _, list) = get(&b, &s, "/console/tokens").await;
        assert!(!list.contains("acme's Entra"));
        // Back home.
        assert_eq!(post(&ops, &s, "/console/tenants/select", &[("csrf", &csrf), ("slug", "default")]).await.0, 303);
        let (_, _, home) = get(&ops, &s, "/console/").await;
        assert!(home.contains(&format!("{}/tenants/default/scim/v2", s.base_url)));

        // Deleting a tenant: asked first, with what it holds; never the operator's own.
        let user = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada"});
        let r = s.client.post(s.url("/tenants/acme/scim/v2/Users")).bearer_auth(&secret).json(&user).send().await.unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(post(&ops, &s, "/console/tenants/select", &[("csrf", &csrf), ("slug", "acme")]).await.0, 303);
        let (status, _, confirm) = get(&ops, &s, "/console/tenants/acme/delete").await;
        assert_eq!(status, 200);
        assert!(confirm.contains("Delete tenant acme?") && confirm.contains("holds 1 users and 0 groups"), "{confirm}");
        assert_eq!(get(&ops, &s, "/console/tenants/default/delete").await.0, 403, "the operator's own tenant");
        assert_eq!(post(&ops, &s, "/console/tenants/default/delete", &[("csrf", &csrf)]).await.0, 403);
        assert_eq!(get(&b, &s, "/console/tenants/acme/delete").await.0, 404, "not for a tenant's own admin");
        assert_eq!(post(&ops, &s, "/console/tenants/acme/delete", &[("csrf", "forged")]).await.0, 403);
        assert_eq!(get(&ops, &s, "/console/tenants/nope/delete").await.0, 404);
        let (status, headers, _) = post(&ops, &s, "/console/tenants/acme/delete", &[("csrf", &csrf)]).await;
        assert_eq!((status, headers["location"].to_str().unwrap()), (303, "/console/tenants"));
        assert!(s.store.tenant_by_slug("acme").await.unwrap().is_none());
        let r = s.client.get(s.url("/tenants/acme/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 401, "its tokens went with it");
        // The session that acted in it is back in the operator's own tenant.
        let (_, _, home) = get(&ops, &s, "/console/").await;
        assert!(home.contains(&format!("{}/tenants/default/scim/v2", s.base_url)), "{home}");
        let (_, _, page) = get(&ops, &s, "/console/tenants").await;
        assert!(!page.contains("<code>acme</code>"), "{page}");
    }
}

backend_tests! {
    async fn webhooks_and_events_are_managed_in_the_console(backend) {
        let s = start(backend).await;
        let (b, csrf) = signed_in(&s).await;
        // The address guard: a tenant admin cannot aim scimd at its own network.
        let (status, _, page) = post(&b, &s, "/console/webhooks", &[("csrf", &csrf), ("url", "http://127.0.0.1:9/hook")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("is not a permitted webhook target"), "{page}");
        let (status, _, page) = post(&b, &s, "/console/webhooks", &[("csrf", &csrf), ("url", "https://hooks.example.com/scim"), ("types", "user.nope")]).await;
        assert_eq!(status, 400, "{page}");
        let (status, _, created) = post(&b, &s, "/console/webhooks", &[
            ("csrf", &csrf), ("url", "https://hooks.example.com/scim"), ("types", "user.* group.member_added"), ("format", "standard"),
        ]).await;
        assert_eq!(status, 201, "{created}");
        let secret = between(&created, "<code id=\"secret\">", "<");
        assert!(secret.starts_with("whsec_"), "{secret}");
        let endpoint = s.store.endpoints(s.tenant.id).await.unwrap().remove(0);
        let (_, _, list) = get(&b, &s, "/console/webhooks").await;
        assert!(list.contains("https://hooks.example.com/scim") && list.contains("user.* group.member_added"), "{list}");
        assert!(!list.contains(&secret), "shown once");
        let path = format!("/console/webhooks/{}", endpoint.id);
        // A test ping is queued as a delivery.
        let (status, headers, _) = post(&b, &s, &format!("{path}/test"), &[("csrf", &csrf)]).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"].to_str().unwrap(), format!("{path}?tested=1"));
        let (_, _, page) = get(&b, &s, &path).await;
        assert!(page.contains("test ping") && page.contains("pending"), "{page}");
        assert_eq!(get(&b, &s, &format!("{path}?state=sideways")).await.0, 400);
        // Disable and enable.
        assert_eq!(post(&b, &s, &format!("{path}/enabled"), &[("csrf", &csrf), ("enabled", "false")]).await.0, 303);
        assert!(!s.store.endpoint(s.tenant.id, endpoint.id).await.unwrap().unwrap().enabled);
        assert_eq!(post(&b, &s, &format!("{path}/enabled"), &[("csrf", &csrf), ("enabled", "true")]).await.0, 303);
        assert!(s.store.endpoint(s.tenant.id, endpoint.id).await.unwrap().unwrap().enabled);
        // Replays: a bad start is refused with the reason.
        let (status, _, page) = post(&b, &s, &format!("{path}/replay"), &[("csrf", &csrf), ("from", "minus one")]).await;
        assert_eq!(status, 400);
        assert!(page.contains("a seq is a non-negative whole number"), "{page}");
        let (status, headers, _) = post(&b, &s, &format!("{path}/replay"), &[("csrf", &csrf), ("dead_letters", "1")]).await;
        assert_eq!(status, 303);
        assert!(headers["location"].to_str().unwrap().contains("queued="));
        // Rotation shows a new secret once.
        let (status, _, rotated) = post(&b, &s, &format!("{path}/rotate"), &[("csrf", &csrf)]).await;
        assert_eq!(status, 200);
        let new_secret = between(&rotated, "<code id=\"secret\">", "<");
        assert!(new_secret.starts_with("whsec_") && new_secret != secret);
        assert!(rotated.contains("Old secret signs until"));
        assert_eq!(post(&b, &s, &format!("{path}/rotate"), &[("csrf", "forged")]).await.0, 403);
        // The events page shows what SCIM did, newest first, with the types filter of the API.
        let u = s.post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "eve@acme.example"})).await;
        let id = u.body["id"].as_str().unwrap().to_owned();
        let p = s.patch(&format!("/scim/v2/Users/{id}"), &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]})).await;
        assert_eq!(p.status, 200);
        let (status, _, page) = get(&b, &s, "/console/events").await;
        assert_eq!(status, 200);
        let deactivated = page.find("user.deactivated").unwrap_or_else(|| panic!("{page}"));
        let created = page.find("user.created").unwrap();
        assert!(deactivated < created, "newest first");
        assert!(page.contains(&format!("/console/users/{id}")));
        let (_, _, only) = get(&b, &s, "/console/events?type=user.deactivated").await;
        assert!(only.contains("user.deactivated") && !only.contains("<code>user.created</code>"), "{only}");
        let (status, _, bad) = get(&b, &s, "/console/events?type=user.nope").await;
        assert_eq!(status, 400);
        assert!(bad.contains("use an event type such as"), "{bad}");
        // Deleting asks first, then the webhook and its deliveries are gone.
        assert_eq!(get(&b, &s, &format!("{path}/delete")).await.0, 200);
        assert_eq!(post(&b, &s, &format!("{path}/delete"), &[("csrf", &csrf)]).await.0, 303);
        assert!(s.store.endpoints(s.tenant.id).await.unwrap().is_empty());
        assert_eq!(get(&b, &s, &path).await.0, 404);
    }
}

/// Behind TLS (`--base-url https://…`) the cookies are `Secure`, and the pages name the public URLs.
#[tokio::test]
async fn behind_https_the_cookies_are_secure() {
    let config =
        scimd_http::HttpConfig { base_url: Some("https://scim.example.com".into()), ..Default::default() };
    let s = start_opts(Options { backend: Backend::Sqlite, config, ..Options::default() }).await;
    let b = browser();
    let (_, headers, _) = get(&b, &s, "/console/login").await;
    assert!(cookie_line(&headers, "scimd_console_login").contains("; Secure"));
    let (_, _, form) = get(&b, &s, "/console/login").await;
    let csrf = field(&form, "csrf");
    // The login cookie is Secure, so this plain-http client does not send it back: set it by hand,
    // as a browser on https would send it.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(s.url("/console/login"))
        .header("cookie", format!("scimd_console_login={csrf}"))
        .form(&[("csrf", csrf.as_str()), ("tenant", "default"), ("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = cookie_line(r.headers(), "scimd_console").to_owned();
    assert!(session.contains("; Secure") && session.contains("HttpOnly"), "{session}");
    let value = cookie_value(&session);
    let home = reqwest::Client::new()
        .get(s.url("/console/"))
        .header("cookie", format!("scimd_console={value}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("https://scim.example.com/tenants/default/scim/v2"), "{home}");
}
