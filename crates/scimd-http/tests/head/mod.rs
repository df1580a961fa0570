//! The request head: a `Host` of the allow-list (else 421, or 400 when it is no host), and the
//! URI and header limits answered with SCIM bodies before hyper's own, bodiless refusals.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use scimd_http::{AllowedHosts, HttpConfig};
use scimd_testkit::{Options, TestResponse, TestServer};

fn assert_scim_error(r: &TestResponse, status: u16) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"), "{:?}", r.headers);
    assert_eq!(r.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{}", r.body);
    assert_eq!(r.body["status"], json!(status.to_string()));
}

/// A request for `path` whose `Host` is `host`.
async fn get_as(s: &TestServer, host: &str, path: &str) -> TestResponse {
    s.send(s.client.get(s.url(path)).bearer_auth(&s.token).header("host", host)).await
}

/// Writes `request` on a fresh connection and reads the whole answer.
async fn raw(s: &TestServer, request: &[u8]) -> String {
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn hosts_outside_the_allow_list_are_misdirected() {
    let s = TestServer::start().await;
    let port = s.addr.port();
    for path in [
        "/scim/v2/Users",
        "/tenants/default/scim/v2/ServiceProviderConfig",
        "/.well-known/oauth-authorization-server",
        "/oauth2/jwks",
        "/admin/v1/tenants/default/settings",
    ] {
        let r = get_as(&s, &format!("evil.example:{port}"), path).await;
        assert_scim_error(&r, 421);
        assert!(r.body["detail"].as_str().unwrap().contains("evil.example"), "{}", r.body);
        // Each label is checked: a name that merely ends like an allowed one is another host.
        assert_scim_error(&get_as(&s, "evil.localhost", path).await, 421);
    }
    // Markup in Host is no host: refused without being echoed.
    let r = get_as(&s, "evil.example/\"><script>alert(1)</script>", "/scim/v2/Users").await;
    assert_scim_error(&r, 400);
    assert!(!r.body.to_string().contains("script"), "{}", r.body);
    assert_scim_error(&get_as(&s, "user@127.0.0.1", "/scim/v2/Users").await, 400);
    // Probes and scrapers name a replica by its address: the health endpoints take any Host.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get_as(&s, "10.9.8.7:8080", path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn the_allowed_host_is_what_urls_carry() {
    let s = TestServer::start().await;
    let port = s.addr.port();
    // The loopback names are allowed in any case and with a trailing dot; URLs are written with
    // the name lower-cased.
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "host@example.com"});
    let r = s
        .send(
            s.client
                .post(s.url("/scim/v2/Users"))
                .bearer_auth(&s.token)
                .header("host", format!("LocalHost:{port}"))
                .header("content-type", "application/scim+json")
                .body(user.to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&format!("http://localhost:{port}/scim/v2/Users/")), "{location}");
    assert_eq!(r.body["meta"]["location"], location);
    let r = get_as(&s, &format!("[::1]:{port}"), "/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["issuer"], format!("http://[::1]:{port}"));

    // No Host at all: 400 (RFC 9112 §3.2), for HTTP/1.1 and HTTP/1.0 alike.
    for version in ["1.1", "1.0"] {
        let answer =
            raw(&s, format!("GET /scim/v2/Users HTTP/{version}\r\nConnection: close\r\n\r\n").as_bytes())
                .await;
        assert!(
            answer.starts_with(&format!("HTTP/{version} 400")) || answer.starts_with("HTTP/1.1 400"),
            "{answer}"
        );
        assert!(answer.contains("application/scim+json") && answer.contains("Host"), "{answer}");
    }
}

#[tokio::test]
async fn the_base_url_and_each_allowed_host_are_answered() {
    let mut allowed_hosts = AllowedHosts::default();
    allowed_hosts.allow("scim.internal").unwrap();
    let config = HttpConfig {
        base_url: Some("https://scim.example.com".into()),
        allowed_hosts,
        ..HttpConfig::default()
    };
    let s = TestServer::start_opts(Options { config, ..Options::default() }).await;
    for host in ["scim.example.com", "SCIM.example.com:443", "scim.internal:9000", "127.0.0.1"] {
        let r = get_as(&s, host, "/.well-known/oauth-authorization-server").await;
        assert_eq!(r.status, 200, "{host}: {}", r.body);
        // With a base URL, the issuer is that URL whatever the Host.
        assert_eq!(r.body["issuer"], "https://scim.example.com", "{host}");
    }
    assert_scim_error(&get_as(&s, "other.example", "/scim/v2/Users").await, 421);
}

#[tokio::test]
async fn long_targets_and_header_sections_get_scim_errors() {
    let s = TestServer::start().await;
    // A filter too long for a URL: 414, pointing at POST .search.
    let long = format!("/scim/v2/Users?filter=userName%20eq%20%22{}%22", "a".repeat(20 * 1024));
    let r = s.get(&long).await;
    assert_scim_error(&r, 414);
    assert!(r.body["detail"].as_str().unwrap().contains(".search"), "{}", r.body);
    // Under the limit it is an ordinary (empty) search (the filter itself may be 8 KiB).
    let fits = format!("/scim/v2/Users?filter=userName%20eq%20%22{}%22", "a".repeat(8000));
    let r = s.get(&fits).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // One huge header, and too many small ones: 431.
    let r = s
        .send(s.request(reqwest::Method::GET, "/scim/v2/Users").header("x-pad", "p".repeat(40 * 1024)))
        .await;
    assert_scim_error(&r, 431);
    let mut many = s.request(reqwest::Method::GET, "/scim/v2/Users");
    for i in 0..110 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let r = s.send(many).await;
    assert_scim_error(&r, 431);
    assert!(r.body["detail"].as_str().unwrap().contains("100"), "{}", r.body);

    // More head than the parser buffers: hyper's own refusal (no path is known), and the server
    // goes on serving.
    let huge = format!(
        "GET /scim/v2/Users HTTP/1.1\r\nHost: {}\r\nx-pad: {}\r\nConnection: close\r\n\r\n",
        s.addr,
        "p".repeat(100 * 1024)
    );
    let answer = raw(&s, huge.as_bytes()).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{answer}");
    let r: Value = s.get("/scim/v2/Users").await.body;
    assert_eq!(r["totalResults"], 0);
}
