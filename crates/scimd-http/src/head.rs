//! What a request's head must satisfy before anything else reads it: a `Host` this server answers
//! to, and a bounded size.
//!
//! **Host.** Without `--base-url`, the request's `Host` becomes part of every absolute URL scimd
//! writes — `Location`, `meta.location`, `$ref`, the OAuth issuer and the authorization response's
//! `iss` — so an unchecked `Host: evil.example/"><script>` would be reflected into responses, and a
//! DNS-rebinding page could reach a server on loopback under its own name. The `Host` (or HTTP/2's
//! `:authority`, RFC 9113 §8.3.1) must therefore name a host of the allow-list ([`AllowedHosts`]:
//! the listen address, the `--base-url` host and each `--allowed-host`); any other is refused with
//! 421 Misdirected Request (RFC 9110 §15.5.20: a request this server will not answer for its target
//! URI). A request without one, or with one that is no host, is 400 (RFC 9112 §3.2). Only the name is checked: any port may
//! follow it, in RFC 3986 §3.2.3 syntax. `/healthz`, `/readyz` and `/metrics` are exempt: nothing
//! they answer uses the host, and probes and scrapers address a replica by its IP.
//!
//! **Size.** hyper reads at most [`PARSER_BUFFER_BYTES`] of head per connection, and answers a head it
//! cannot read with a bodiless 400/431 (no path is known then). Below that, scimd sets its own,
//! lower limits so that an over-long URI (414, RFC 9110 §15.5.15) or header section (431, RFC 6585
//! §5) is refused with a SCIM error body (RFC 7644 §3.12) that names the limit.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr as _;

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use scimd_schema::ScimError;

use crate::AppState;
use crate::error::ApiError;

/// The most bytes of request head hyper buffers per connection (it refuses more with a bodiless
/// 431). Also bounds what a slow client can make a connection hold: 1,024 connections × 64 KiB.
pub const PARSER_BUFFER_BYTES: usize = 64 * 1024;
/// The most header fields hyper parses (more: its bodiless 431); above [`MAX_HEADERS`] so that
/// scimd's own refusal, with a body, comes first.
pub const PARSER_MAX_HEADERS: usize = 128;
/// The longest request target accepted. A long SCIM filter belongs in a `POST /.search` body
/// (RFC 7644 §3.4.3), where the body limit applies.
pub const MAX_URI_BYTES: usize = 16 * 1024;
/// The most bytes of header fields (names, values and their separators) accepted.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The most header fields accepted.
pub const MAX_HEADERS: usize = 100;

/// The host names (and IP literals) this server answers to, lower-case, IPv6 in brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts(BTreeSet<String>);

impl Default for AllowedHosts {
    /// The loopback names: `localhost`, `127.0.0.1`, `[::1]`.
    fn default() -> Self {
        Self(["localhost", "127.0.0.1", "[::1]"].into_iter().map(str::to_owned).collect())
    }
}

impl AllowedHosts {
    /// No host at all (every request but the health endpoints' is refused until some are added).
    #[must_use]
    pub fn none() -> Self {
        Self(BTreeSet::new())
    }

    /// Allows `host`: a DNS name, an IPv4 literal or a bracketed IPv6 literal, optionally with a
    /// port (ignored: any port is allowed). Refuses anything that is not an RFC 3986 host.
    pub fn allow(&mut self, host: &str) -> Result<(), String> {
        let name = host_name(host).ok_or_else(|| format!("{host:?} is not a host name or address"))?;
        self.0.insert(name);
        Ok(())
    }

    /// Allows the names a listener bound to `addr` is reached by: its address, and the loopback
    /// names when it is a loopback or wildcard address (a wildcard address is no name; other names
    /// of the machine need `--allowed-host` or `--base-url`).
    pub fn allow_listener(&mut self, addr: SocketAddr) {
        let ip = addr.ip();
        if ip.is_unspecified() || ip.is_loopback() {
            self.0.extend(Self::default().0);
        }
        if !ip.is_unspecified() {
            self.0.insert(ip_literal(ip));
        }
    }

    /// Allows the host of a base URL (`https://scim.example.com`).
    pub fn allow_url(&mut self, base_url: &str) -> Result<(), String> {
        let url = url::Url::parse(base_url).map_err(|e| format!("base URL {base_url:?}: {e}"))?;
        let host = url.host_str().ok_or_else(|| format!("base URL {base_url:?} names no host"))?;
        self.allow(host)
    }

    /// Whether `host` (a `Host` header's value) names an allowed host.
    #[must_use]
    pub fn allows(&self, host: &str) -> bool {
        host_name(host).is_some_and(|name| self.0.contains(&name))
    }
}

fn ip_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The host part of `authority` (`host[:port]`, RFC 3986 §3.2.2–3), lower-cased, with a trailing
/// dot dropped (`localhost.` is `localhost`); `None` for anything else — userinfo, a path, an
/// empty or non-numeric port, characters a host cannot hold.
fn host_name(authority: &str) -> Option<String> {
    if authority.is_empty() || authority.contains(['@', '/', '?', '#', '\\']) {
        return None;
    }
    let parsed = Authority::from_str(authority).ok()?;
    if authority.contains(':') && !authority.ends_with(']') && parsed.port().is_none() {
        // `host:` (an empty port) parses but names no port.
        return None;
    }
    let host = parsed.host();
    if let Some(inner) = host.strip_prefix('[') {
        let ip = inner.strip_suffix(']')?.parse::<std::net::Ipv6Addr>().ok()?;
        return Some(format!("[{ip}]"));
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then(|| host.to_ascii_lowercase())
}

/// The request's host as absolute URLs should carry it: the `Host` header, lower-cased (the
/// middleware has checked it against the allow-list).
pub(crate) fn request_host(headers: &HeaderMap) -> String {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_ascii_lowercase()
}

fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Middleware: the size limits, then the `Host` check (module docs).
pub(crate) async fn check(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(refusal) = oversized(&req) {
        return ApiError::from(refusal).into_response();
    }
    if exempt(req.uri().path()) {
        return next.run(req).await;
    }
    // RFC 9113 §8.3.1: HTTP/2 carries the host as `:authority`, which hyper puts in the URI; it is
    // copied to `Host` so that everything downstream reads one place.
    if !req.headers().contains_key(header::HOST) {
        let authority = req.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        match authority {
            Some(value) => {
                req.headers_mut().insert(header::HOST, value);
            }
            None => {
                return ApiError::from(ScimError::status(
                    400,
                    "the request names no Host (RFC 9112 §3.2 requires one)",
                ))
                .into_response();
            }
        }
    }
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    // The refusals never echo a value that did not parse as a host: it may be markup.
    let Some(name) = host_name(host) else {
        return ApiError::from(ScimError::status(
            400,
            "the Host header is not a host name or address with an optional port (RFC 3986 §3.2.2)",
        ))
        .into_response();
    };
    if !state.config.allowed_hosts.0.contains(&name) {
        tracing::debug!(host = %name, "request for a host this server does not answer to");
        return ApiError::from(ScimError::status(
            421,
            format!(
                "this server does not answer to the host {name}; its operator can allow it with \
                 --allowed-host or --base-url"
            ),
        ))
        .into_response();
    }
    next.run(req).await
}

/// The head limits: 414 for a long target, 431 for too many or too large header fields.
fn oversized(req: &Request) -> Option<ScimError> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ScimError::status(
            414,
            format!(
                "the request target is {target} bytes, more than the limit of {MAX_URI_BYTES}; send a \
                 long filter as POST .search (RFC 7644 §3.4.3)"
            ),
        ));
    }
    let headers = req.headers();
    if headers.len() > MAX_HEADERS {
        return Some(ScimError::status(
            431,
            format!("the request has {} header fields, more than the limit of {MAX_HEADERS}", headers.len()),
        ));
    }
    // RFC 9112 §5: each field line is `name: value` and CRLF.
    let bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if bytes > MAX_HEADER_BYTES {
        return Some(ScimError::status(
            431,
            format!(
                "the request's header fields are {bytes} bytes, more than the limit of {MAX_HEADER_BYTES}"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_parsed_strictly() {
        for (input, name) in [
            ("localhost", Some("localhost")),
            ("LocalHost:8080", Some("localhost")),
            ("localhost.", Some("localhost")),
            ("127.0.0.1:1", Some("127.0.0.1")),
            ("[::1]:8080", Some("[::1]")),
            ("[0:0:0:0:0:0:0:1]", Some("[::1]")),
            ("scim.example.com", Some("scim.example.com")),
            ("a_b.internal:443", Some("a_b.internal")),
            ("", None),
            ("evil.example/\"><script>", None),
            ("user@localhost", None),
            ("localhost:", None),
            ("localhost:http", None),
            ("localhost:99999", None),
            ("[::1", None),
            ("[not-ip]", None),
            ("a..b", None),
            ("a b", None),
            ("exa\u{e9}mple.com", None),
        ] {
            assert_eq!(host_name(input).as_deref(), name, "{input:?}");
        }
    }

    proptest::proptest! {
        /// Whatever a client writes in `Host`, the parser answers without panicking, and a name it
        /// accepts holds only what a host may (so it can go into a URL and an error detail as is).
        #[test]
        fn any_host_header_parses_safely(host in "\\PC{0,40}|[a-zA-Z0-9.:\\[\\]@/_-]{0,40}") {
            if let Some(name) = host_name(&host) {
                let ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._:[]".contains(&b));
                proptest::prop_assert!(ok, "{name:?} from {host:?}");
                proptest::prop_assert_eq!(host_name(&name), Some(name.clone()), "a name parses as itself");
            }
        }
    }

    #[test]
    fn the_listener_allows_its_own_names() {
        let mut hosts = AllowedHosts::none();
        hosts.allow_listener("10.1.2.3:8080".parse().unwrap());
        assert!(hosts.allows("10.1.2.3:8080"));
        assert!(!hosts.allows("localhost:8080"), "not a loopback listener");
        let mut hosts = AllowedHosts::none();
        hosts.allow_listener("0.0.0.0:8080".parse().unwrap());
        assert!(hosts.allows("localhost:8080") && hosts.allows("127.0.0.1") && hosts.allows("[::1]:1"));
        assert!(!hosts.allows("0.0.0.0:8080"), "a wildcard address is no name");
        let mut hosts = AllowedHosts::none();
        hosts.allow_listener("[::1]:8080".parse().unwrap());
        assert!(hosts.allows("[::1]:8080") && hosts.allows("localhost"));
    }

    #[test]
    fn base_urls_and_extra_hosts_are_allowed_by_name() {
        let mut hosts = AllowedHosts::none();
        hosts.allow_url("https://SCIM.example.com/").unwrap();
        hosts.allow("internal.example:9000").unwrap();
        assert!(hosts.allows("scim.example.com") && hosts.allows("scim.example.com:443"));
        assert!(hosts.allows("internal.example"));
        assert!(!hosts.allows("scim.example.com.evil.example"));
        assert!(hosts.allow_url("not a url").is_err());
        assert!(hosts.allow("http://x").is_err());
    }
}
