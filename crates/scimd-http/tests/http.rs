//! The HTTP surface end to end: the real router and the real store behind a real listener
//! (scimd-testkit), one integration-test binary for the crate.
//!
//! Sections: `infra` covers what every request goes through (authentication, tenant routing,
//! request ids, body and content-type checks, error bodies, health, metrics, shutdown); SCIM
//! endpoint tests go in their own modules below it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests: a panic is a failed test (clippy's test exemption misses helper fns)"
)]

mod infra {
    use std::sync::Arc;

    use axum::Router;
    use axum::routing::get;
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use tokio::sync::{Notify, oneshot};

    use scimd_http::auth::{Principal, Scope, TokenRequest, create_static_token};
    use scimd_http::{AppState, HttpConfig, Scopes};
    use scimd_testkit::{Backend, Options, TestResponse, TestServer, backend_tests};

    /// Routes that exist only in these tests, merged into the SCIM router so they sit under both
    /// SCIM prefixes with the real middleware and authentication.
    fn test_routes() -> Router<AppState> {
        Router::new()
            .route(
                "/_test/whoami",
                get(|p: Principal| async move {
                    p.require(Scope::UsersRead)?;
                    Ok::<_, scimd_http::ApiError>(axum::Json(json!({"tenant": p.tenant.slug})))
                })
                .post(|p: Principal, body: axum::body::Bytes| async move {
                    p.require(Scope::UsersCreate)?;
                    Ok::<_, scimd_http::ApiError>(axum::Json(json!({"bytes": body.len()})))
                }),
            )
            .route("/_test/panic", get(panics))
    }

    async fn panics() -> &'static str {
        panic!("boom")
    }

    async fn start(backend: Backend) -> TestServer {
        TestServer::start_opts(Options { backend, extra_routes: test_routes(), ..Options::default() }).await
    }

    /// RFC 7644 §3.12: an error body with `status` as a string and a non-empty detail.
    fn assert_scim_error(r: &TestResponse, status: u16) {
        assert_eq!(r.status.as_u16(), status, "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/scim+json"), "{r:?}");
        assert_eq!(r.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{r:?}");
        assert_eq!(r.body["status"], Value::String(status.to_string()), "{r:?}");
        assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{r:?}");
    }

    // ---- authentication ----

    backend_tests! {
    async fn no_token_is_401_with_a_challenge(backend) {
        let s = start(backend).await;
        let r = s.send(s.client.get(s.url("/scim/v2/_test/whoami"))).await;
        assert_scim_error(&r, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"scimd\""));
    }
    }

    backend_tests! {
    async fn bad_tokens_are_401_invalid_token(backend) {
        let s = start(backend).await;
        for auth in ["Bearer scimd_notatoken", "Bearer something-else", "Basic dXNlcjpwYXNz", "Bearer"] {
            let r = s.send(s.client.get(s.url("/scim/v2/_test/whoami")).header("authorization", auth)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}: {r:?}");
            assert_scim_error(&r, 401);
            // RFC 7617 §2: a failed Basic credential is challenged with Basic, a Bearer one with
            // Bearer (RFC 6750 §3).
            let challenge = if auth.starts_with("Basic") { "Basic realm=\"scimd\"" } else { "Bearer realm=\"scimd\"" };
            assert!(r.header("www-authenticate").is_some_and(|c| c.starts_with(challenge)), "{r:?}");
        }
        let r = s
            .send(s.client.get(s.url("/scim/v2/_test/whoami")).header("authorization", "Bearer scimd_x"))
            .await;
        assert!(r.header("www-authenticate").is_some_and(|c| c.contains("error=\"invalid_token\"")), "{r:?}");
    }
    }

    backend_tests! {
    async fn a_valid_token_is_accepted_and_its_use_recorded(backend) {
        let s = start(backend).await;
        let r = s.get("/scim/v2/_test/whoami").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body, json!({"tenant": "default"}));
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let r = s
            .send(
                s.client
                    .get(s.url("/scim/v2/_test/whoami"))
                    .header("authorization", format!("bearer {}", s.token)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let tokens = s.store.list_tokens(s.tenant.id).await.unwrap();
        assert!(tokens[0].last_used.is_some(), "{tokens:?}");
    }
    }

    backend_tests! {
    async fn expired_and_revoked_tokens_are_401(backend) {
        let s = start(backend).await;
        let expired = create_static_token(
            &*s.store,
            &*s.clock,
            &s.tenant,
            TokenRequest {
                name: "old".into(),
                scopes: Scopes::all(),
                expires: Some(s.clock.now() - time::Duration::seconds(1)),
                operator: false,
            },
        )
        .await
        .unwrap()
        .0;
        let r = s.send(s.client.get(s.url("/scim/v2/_test/whoami")).bearer_auth(expired.expose())).await;
        assert_scim_error(&r, 401);

        let token = s.token(&[]).await;
        let ok = s.send(s.client.get(s.url("/scim/v2/_test/whoami")).bearer_auth(&token)).await;
        assert_eq!(ok.status, StatusCode::OK);
        let id = s.store.token_by_digest(&scimd_store::token::digest(&token)).await.unwrap().unwrap().id;
        s.store.revoke_token(id).await.unwrap();
        let r = s.send(s.client.get(s.url("/scim/v2/_test/whoami")).bearer_auth(&token)).await;
        assert_scim_error(&r, 401);
    }
    }

    backend_tests! {
    async fn a_missing_scope_is_403_naming_it(backend) {
        let s = start(backend).await;
        let groups_only = s.token(&["groups:read", "post:groups"]).await;
        let r = s.send(s.client.get(s.url("/scim/v2/_test/whoami")).bearer_auth(&groups_only)).await;
        assert_scim_error(&r, 403);
        assert!(r.body["detail"].as_str().unwrap().contains("users:read"), "{r:?}");
        assert!(r.header("www-authenticate").is_some_and(|c| c.contains("insufficient_scope")), "{r:?}");

        // Auth0 aliases grant the canonical scopes.
        let alias = s.token(&["get:users"]).await;
        let r = s.send(s.client.get(s.url("/scim/v2/_test/whoami")).bearer_auth(&alias)).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let r = s
            .send(
                s.client
                    .post(s.url("/scim/v2/_test/whoami"))
                    .bearer_auth(&alias)
                    .header("content-type", "application/scim+json")
                    .body("{}"),
            )
            .await;
        assert_scim_error(&r, 403);
        assert!(r.body["detail"].as_str().unwrap().contains("users:create"), "{r:?}");
    }
    }

    // ---- tenant routing ----

    backend_tests! {
    async fn the_tenant_prefix_must_name_the_credentials_tenant(backend) {
        let s = start(backend).await;
        let r = s.get("/tenants/default/scim/v2/_test/whoami").await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &json!({"tenant": "default"})), "{r:?}");

        let other = s.store.create_tenant("other").await.unwrap();
        // Another existing tenant and a tenant that does not exist look the same: 403.
        assert_scim_error(&s.get("/tenants/other/scim/v2/_test/whoami").await, 403);
        assert_scim_error(&s.get("/tenants/nope/scim/v2/_test/whoami").await, 403);

        // Tenant `other`'s own token works there and under /scim/v2, and not for `default`.
        let theirs = s.token_for(&other, Scopes::all(), false).await;
        for path in ["/tenants/other/scim/v2/_test/whoami", "/scim/v2/_test/whoami"] {
            let r = s.send(s.client.get(s.url(path)).bearer_auth(&theirs)).await;
            assert_eq!(r.body, json!({"tenant": "other"}), "{path}: {r:?}");
        }
        let r =
            s.send(s.client.get(s.url("/tenants/default/scim/v2/_test/whoami")).bearer_auth(&theirs)).await;
        assert_scim_error(&r, 403);
    }
    }

    backend_tests! {
    async fn an_operator_token_reaches_every_tenant(backend) {
        let s = start(backend).await;
        s.store.create_tenant("other").await.unwrap();
        let op = s.token_for(&s.tenant, Scopes::all(), true).await;
        let r = s.send(s.client.get(s.url("/tenants/other/scim/v2/_test/whoami")).bearer_auth(&op)).await;
        assert_eq!(r.body, json!({"tenant": "other"}), "{r:?}");
        let r = s.send(s.client.get(s.url("/scim/v2/_test/whoami")).bearer_auth(&op)).await;
        assert_eq!(r.body, json!({"tenant": "default"}), "{r:?}");
        let r = s.send(s.client.get(s.url("/tenants/nope/scim/v2/_test/whoami")).bearer_auth(&op)).await;
        assert_scim_error(&r, 404);
    }
    }

    // ---- request checks and error bodies ----

    backend_tests! {
    async fn bodies_must_be_json(backend) {
        let s = start(backend).await;
        let post = |ct: &'static str| {
            s.request(Method::POST, "/scim/v2/_test/whoami").header("content-type", ct).body("{}")
        };
        for ct in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
            let r = s.send(post(ct)).await;
            assert_scim_error(&r, 415);
        }
        // Even where no route exists yet, a SCIM path refuses a non-JSON body.
        let r = s
            .send(s.request(Method::POST, "/scim/v2/Nothing").header("content-type", "text/plain").body("x"))
            .await;
        assert_scim_error(&r, 415);
        for ct in [
            "application/scim+json",
            "application/json",
            "application/json; charset=utf-8",
            "Application/SCIM+JSON;charset=UTF-8",
        ] {
            let r = s.send(post(ct)).await;
            assert_eq!(r.status, StatusCode::OK, "{ct}: {r:?}");
            assert_eq!(
                r.header("content-type"),
                Some("application/scim+json"),
                "SCIM responses are SCIM JSON"
            );
        }
    }
    }

    backend_tests! {
    async fn an_oversized_body_is_413(backend) {
        let config = HttpConfig { max_body_bytes: 1024, ..HttpConfig::default() };
        let s = TestServer::start_opts(Options { backend, config, extra_routes: test_routes(), ..Options::default() })
            .await;
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(4096));
        let r = s
            .send(
                s.request(Method::POST, "/scim/v2/_test/whoami")
                    .header("content-type", "application/scim+json")
                    .body(big),
            )
            .await;
        assert_scim_error(&r, 413);
        // Within the limit it passes, and the server keeps answering.
        let r = s.post("/scim/v2/_test/whoami", &json!({"x": "a"})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    }

    backend_tests! {
    async fn an_oversized_chunked_body_is_413(backend) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let config = HttpConfig { max_body_bytes: 1024, ..HttpConfig::default() };
        let s = TestServer::start_opts(Options { backend, config, extra_routes: test_routes(), ..Options::default() })
            .await;
        // No Content-Length: the limit is enforced while the handler reads the body.
        let chunk = "a".repeat(4096);
        let request = format!(
            "POST /scim/v2/_test/whoami HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             {:x}\r\n{chunk}\r\n0\r\n\r\n",
            s.addr,
            s.token,
            chunk.len()
        );
        let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 413"), "{response}");
        assert!(response.contains("application/scim+json"), "{response}");
        assert!(response.contains("\"status\":\"413\""), "{response}");
    }
    }

    backend_tests! {
    async fn unknown_paths_are_404_with_a_scim_body(backend) {
        let s = start(backend).await;
        for path in ["/nope", "/scim/v2/Nope", "/tenants/default/scim/v2/Nope", "/scim/v3/Users"] {
            let r = s.get(path).await;
            assert_scim_error(&r, 404);
        }
    }
    }

    backend_tests! {
    async fn a_wrong_method_is_405_with_a_scim_body(backend) {
        let s = start(backend).await;
        let r = s.delete("/scim/v2/_test/whoami").await;
        assert_scim_error(&r, 405);
        assert!(r.header("allow").is_some_and(|a| a.contains("GET")), "{r:?}");
        assert_scim_error(&s.send(s.client.post(s.url("/healthz"))).await, 405);
    }
    }

    backend_tests! {
    async fn a_trailing_slash_reaches_the_route(backend) {
        let s = start(backend).await;
        let r = s.get("/scim/v2/_test/whoami/").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let r = s.get("/tenants/default/scim/v2/_test/whoami/").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    }

    backend_tests! {
    async fn unknown_query_parameters_are_ignored(backend) {
        let s = start(backend).await;
        let r = s.get("/scim/v2/_test/whoami?aadOptscim062020").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    }

    backend_tests! {
    async fn a_panic_is_a_500_with_the_request_id(backend) {
        let s = start(backend).await;
        let r =
            s.send(s.request(Method::GET, "/scim/v2/_test/panic").header("x-request-id", "trace-me-1")).await;
        assert_scim_error(&r, 500);
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains("trace-me-1"), "{detail}");
        assert!(!detail.contains("boom"), "the panic message is not shown: {detail}");
        // And the server is still there.
        assert_eq!(s.get("/healthz").await.status, StatusCode::OK);
    }
    }

    // ---- request ids ----

    backend_tests! {
    async fn request_ids_are_generated_or_echoed(backend) {
        let s = start(backend).await;
        let a = s.get("/healthz").await;
        let b = s.get("/healthz").await;
        let (ida, idb) = (a.header("x-request-id").unwrap(), b.header("x-request-id").unwrap());
        assert!(uuid::Uuid::parse_str(ida).is_ok(), "{ida}");
        assert_ne!(ida, idb);
        let r = s.send(s.client.get(s.url("/nope")).header("x-request-id", "abc-123")).await;
        assert_eq!(r.header("x-request-id"), Some("abc-123"));
        // An unusable id is replaced rather than echoed.
        let r = s.send(s.client.get(s.url("/healthz")).header("x-request-id", "a b\"c")).await;
        assert_ne!(r.header("x-request-id"), Some("a b\"c"));
    }
    }

    // ---- health and metrics ----

    backend_tests! {
    async fn health_and_readiness(backend) {
        let s = start(backend).await;
        let r = s.send(s.client.get(s.url("/healthz"))).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &json!("ok")));
        let r = s.send(s.client.get(s.url("/readyz"))).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        s.close_database().await;
        let r = s.send(s.client.get(s.url("/readyz"))).await;
        assert_scim_error(&r, 503);
        // Liveness does not depend on the database.
        assert_eq!(s.send(s.client.get(s.url("/healthz"))).await.status, StatusCode::OK);
    }
    }

    /// PostgreSQL's side of a storage fault: a transaction that failed, and sessions the server
    /// ended mid-transaction (`pg_terminate_backend`, as a failover does). The pool replaces the
    /// connections by itself: SCIM writes, OAuth tokens and the admin API work again at once.
    #[tokio::test]
    async fn postgres_connections_killed_mid_transaction_are_replaced() {
        if !Backend::Postgres.available_or_skip("postgres_connections_killed_mid_transaction_are_replaced") {
            return;
        }
        let s = start(Backend::Postgres).await;
        let admin = s.token_for(&s.tenant, Scopes::parse(["admin"]).unwrap(), false).await;
        let (store, db) = s.postgres().unwrap();
        // A transaction whose statement failed is rolled back when dropped.
        let mut tx = store.pool().begin().await.unwrap();
        assert!(sqlx::query("SELECT no_such_column FROM tenants").execute(&mut *tx).await.is_err());
        drop(tx);
        // Sessions ended while a transaction is open on one of them.
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
        db.admin_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}'",
            db.name
        ))
        .await;
        assert!(tx.commit().await.is_err(), "the session is gone");

        let r = s.get("/readyz").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let r = s
            .post(
                "/scim/v2/Users",
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "after"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let r = s
            .send(s.client.post(s.url("/admin/v1/tenants/default/clients")).bearer_auth(&admin).json(
                &json!({"name": "Entra", "grant_type": "client_credentials", "scopes": ["users:read"]}),
            ))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let (id, secret) = (r.body["client_id"].as_str().unwrap(), r.body["client_secret"].as_str().unwrap());
        let r = s
            .send(
                s.client
                    .post(s.url("/oauth2/token"))
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials")]),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }

    backend_tests! {
    async fn metrics_count_requests_by_route_template_status_and_tenant(backend) {
        let s = start(backend).await;
        s.get("/scim/v2/_test/whoami").await;
        s.get("/tenants/default/scim/v2/_test/whoami?x=1").await;
        s.get("/no/such/path/123").await;
        let r = s.send(s.client.get(s.url("/metrics"))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{r:?}");
        let text = r.body.as_str().unwrap();
        for line in [
            r#"scimd_http_requests_total{method="GET",route="/scim/v2/_test/whoami",status="200",tenant="default"} 1"#,
            r#"scimd_http_requests_total{method="GET",route="/tenants/{slug}/scim/v2/_test/whoami",status="200",tenant="default"} 1"#,
            r#"scimd_http_requests_total{method="GET",route="unmatched",status="404",tenant=""} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("/no/such/path"), "raw paths are not labels");
        assert!(
            text.contains(
                r#"scimd_http_request_duration_seconds_count{method="GET",route="/scim/v2/_test/whoami"} 1"#
            ),
            "{text}"
        );
    }
    }

    // ---- shutdown ----

    backend_tests! {
    async fn graceful_shutdown_lets_in_flight_requests_finish(backend) {
        let started = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let slow = {
            let (started, release) = (started.clone(), release.clone());
            Router::new().route(
                "/_test/slow",
                get(move || {
                    let (started, release) = (started.clone(), release.clone());
                    async move {
                        started.notify_one();
                        release.notified().await;
                        "finished"
                    }
                }),
            )
        };
        let mut s = TestServer::start_opts(Options { backend, extra_routes: slow, ..Options::default() }).await;
        let (tx, rx) = oneshot::channel();
        let request = s.request(Method::GET, "/scim/v2/_test/slow");
        tokio::spawn(async move {
            let resp = request.send().await;
            let _ = tx.send(match resp {
                Ok(r) => Ok((r.status(), r.text().await.unwrap_or_default())),
                Err(e) => Err(e.to_string()),
            });
        });
        started.notified().await;

        s.begin_shutdown();
        // Once the listener is gone the server has seen the signal; the slow request is still open.
        let mut refused = false;
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(s.addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(refused, "the server kept accepting connections after the shutdown signal");

        release.notify_one();
        let (status, body) = rx.await.unwrap().expect("the in-flight request completed");
        assert_eq!((status, body.as_str()), (StatusCode::OK, "finished"));
        s.shutdown().await;
    }
    }

    /// The listener's defences: a connection that never sends a request head is closed after the
    /// (shortened) header read timeout; beyond the connection cap a connection waits until another
    /// closes. Bounds are generous, orders not times are asserted.
    #[tokio::test]
    async fn silent_connections_are_closed_and_connections_over_the_cap_wait() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = scimd_http::ListenerConfig {
            header_read_timeout: std::time::Duration::from_millis(300),
            // Far longer than the header read timeout: only that may close the silent connections.
            idle_timeout: std::time::Duration::from_secs(120),
            max_connections: 1,
        };
        let s = TestServer::start_opts(Options { listener, ..Options::default() }).await;
        // Silent connections, concurrently: each is closed by the server (EOF or reset).
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..5 {
            let addr = s.addr;
            set.spawn(async move {
                let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
                let closed =
                    scimd_testkit::closed_by_server(&mut c, std::time::Duration::from_secs(60)).await;
                assert!(closed, "a silent connection stayed open for 60 s");
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }

        // The cap: A holds the only slot with half a request head; B's request is answered only
        // after A has finished and closed.
        let mut a = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        a.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let a_done = Arc::new(AtomicBool::new(false));
        let b = {
            let (client, url, a_done) = (s.client.clone(), s.url("/healthz"), a_done.clone());
            tokio::spawn(async move {
                let r = client.get(url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                assert!(a_done.load(Ordering::SeqCst), "B was served while A held the only connection");
            })
        };
        // Gives B the chance to connect and be (wrongly) served; not a timing assertion.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        a_done.store(true, Ordering::SeqCst);
        a.write_all(b"Connection: close\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let _ = a.read_to_end(&mut answer).await;
        assert!(
            String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(60), b)
            .await
            .expect("B eventually served")
            .unwrap();
    }
}

mod events;
mod head;
mod idp;
mod oauth;
mod policies;
mod provisioning_log;
mod scim;
mod webhooks;
