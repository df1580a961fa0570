//! The guard against server-side request forgery: which addresses a webhook may not reach.
//!
//! Standard Webhooks 1.0, "Server side request forgery (SSRF)": "Webhooks implementations are
//! especially vulnerable to SSRF as they let their consumers (customers) add any URLs they want,
//! which will be called from the internal webhook system … The main way to protect against SSRF is
//! to prevent the webhooks from calling into internal networks and services."
//!
//! Two checks, because reqwest consults a resolver only for names:
//! - [`check_url`] when an endpoint is saved and before each delivery: the scheme, no credentials,
//!   and a host that is neither a `localhost` name nor a refused address literal.
//! - [`GuardedResolver`], installed with `reqwest::ClientBuilder::dns_resolver`: a name's
//!   addresses are checked after resolution, at connection time, so a name that resolved to a
//!   public address when the endpoint was saved and to `127.0.0.1` later (DNS rebinding) is still
//!   refused. The client must also be built with `redirect(Policy::none())` (a redirect is not
//!   re-checked by [`check_url`]; Standard Webhooks treats `3xx` as a failure anyway) and without
//!   a proxy (a proxy resolves the name itself, bypassing the resolver).
//!
//! `allow_private` (for a receiver on the same host or network, such as the application beside
//! scimd) lets loopback, private, shared, unique-local and documentation addresses through. It
//! never lets through what is no legitimate destination at all: the unspecified, multicast,
//! broadcast and reserved addresses, and link-local addresses, where cloud metadata services
//! answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::EventsError;

/// Whether `allow_private` lifts a refusal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Internal, but a legitimate target when the operator says so.
    Private,
    /// Never a webhook target.
    Never,
}

/// Why `ip` must not be a webhook target, or `None` if it may be. Everything [`refusal`] refuses
/// without `allow_private`.
#[must_use]
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    refusal(ip, false)
}

/// Why `ip` must not be a webhook target when private addresses are (`allow_private`) or are not
/// allowed, or `None` if it may be.
///
/// An IPv6 address that embeds an IPv4 one and reaches it (IPv4-mapped and -compatible, NAT64's
/// well-known prefix, 6to4) is judged by the IPv4 address, with its reason: `::ffff:127.0.0.1` is
/// loopback.
#[must_use]
pub fn refusal(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    let (class, reason) = match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }?;
    (class == Class::Never || !allow_private).then_some(reason)
}

/// Whether `n` is within `base`/`len`.
fn within(n: u32, base: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    n & mask == u32::from_be_bytes(base) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<(Class, &'static str)> {
    use Class::{Never, Private};
    let n = u32::from(ip);
    // The most specific ranges first: a metadata address is link-local, the broadcast address is
    // in 240/4, and each deserves its own reason.
    let table: [([u8; 4], u32, Class, &'static str); 17] = [
        ([255, 255, 255, 255], 32, Never, "the limited broadcast address (RFC 919, RFC 8190)"),
        ([169, 254, 169, 254], 32, Never, "the cloud instance metadata service 169.254.169.254"),
        (
            [0, 0, 0, 0],
            8,
            Never,
            "\"this network\" 0.0.0.0/8 (RFC 791, RFC 6890), which reaches the local host",
        ),
        ([127, 0, 0, 0], 8, Private, "loopback 127.0.0.0/8 (RFC 1122 §3.2.1.3)"),
        ([10, 0, 0, 0], 8, Private, "private-use 10.0.0.0/8 (RFC 1918)"),
        ([172, 16, 0, 0], 12, Private, "private-use 172.16.0.0/12 (RFC 1918)"),
        ([192, 168, 0, 0], 16, Private, "private-use 192.168.0.0/16 (RFC 1918)"),
        ([100, 64, 0, 0], 10, Private, "shared address space 100.64.0.0/10, carrier-grade NAT (RFC 6598)"),
        (
            [169, 254, 0, 0],
            16,
            Never,
            "link-local 169.254.0.0/16 (RFC 3927), where cloud metadata services answer",
        ),
        ([192, 0, 0, 0], 24, Private, "IETF protocol assignments 192.0.0.0/24 (RFC 6890)"),
        ([192, 0, 2, 0], 24, Private, "documentation TEST-NET-1 192.0.2.0/24 (RFC 5737)"),
        ([198, 51, 100, 0], 24, Private, "documentation TEST-NET-2 198.51.100.0/24 (RFC 5737)"),
        ([203, 0, 113, 0], 24, Private, "documentation TEST-NET-3 203.0.113.0/24 (RFC 5737)"),
        ([198, 18, 0, 0], 15, Private, "benchmarking 198.18.0.0/15 (RFC 2544)"),
        ([192, 88, 99, 0], 24, Private, "the deprecated 6to4 relay anycast 192.88.99.0/24 (RFC 7526)"),
        ([224, 0, 0, 0], 4, Never, "multicast 224.0.0.0/4 (RFC 5771)"),
        ([240, 0, 0, 0], 4, Never, "reserved 240.0.0.0/4 (RFC 1112 §4)"),
    ];
    table
        .iter()
        .find(|(base, len, _, _)| within(n, *base, *len))
        .map(|&(_, _, class, reason)| (class, reason))
}

/// The IPv4 address embedded in the last 32 bits.
fn last_32(ip: Ipv6Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

fn classify_v6(ip: Ipv6Addr) -> Option<(Class, &'static str)> {
    use Class::{Never, Private};
    let s = ip.segments();
    let n = u128::from(ip);
    let prefix = |base: u128, len: u32| {
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        n & mask == base & mask
    };
    if ip.is_unspecified() {
        return Some((Never, "the unspecified address :: (RFC 4291 §2.5.2)"));
    }
    if ip.is_loopback() {
        return Some((Private, "loopback ::1 (RFC 4291 §2.5.3)"));
    }
    // RFC 4291 §2.5.5.2 (IPv4-mapped, ::ffff:a.b.c.d) and §2.5.5.1 (IPv4-compatible, ::a.b.c.d,
    // deprecated): a dual-stack socket connects to the IPv4 address itself.
    if prefix(0xffff_0000_0000, 96) || prefix(0, 96) {
        return classify_v4(last_32(ip));
    }
    // RFC 6052 §2.1: the NAT64 well-known prefix 64:ff9b::/96 translates to the embedded address.
    if prefix(0x0064_ff9b << 96, 96) {
        return classify_v4(last_32(ip));
    }
    // RFC 3056 §2: 6to4 2002::/16 carries the site's IPv4 address in bits 16 to 48.
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    let table: [(u128, u32, Class, &'static str); 12] = [
        (
            0xfd00_0ec2_0000_0000_0000_0000_0000_0254,
            128,
            Never,
            "the cloud instance metadata service fd00:ec2::254",
        ),
        (0x0064_ff9b_0001 << 80, 48, Private, "the local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215)"),
        (0x0100 << 112, 64, Never, "discard-only 100::/64 (RFC 6666)"),
        (0x2001_0000 << 96, 32, Private, "Teredo 2001::/32 (RFC 4380), a tunnel to a hidden IPv4 address"),
        (0x2001_0002 << 96, 48, Private, "benchmarking 2001:2::/48 (RFC 5180)"),
        (0x2001_0db8 << 96, 32, Private, "documentation 2001:db8::/32 (RFC 3849)"),
        (0x3fff << 112, 20, Private, "documentation 3fff::/20 (RFC 9637)"),
        (0xfc00 << 112, 7, Private, "unique local fc00::/7 (RFC 4193)"),
        (
            0xfe80 << 112,
            10,
            Never,
            "link-local fe80::/10 (RFC 4291 §2.5.6), where cloud metadata services answer",
        ),
        (0xfec0 << 112, 10, Private, "the deprecated site-local fec0::/10 (RFC 3879)"),
        (0xff00 << 112, 8, Never, "multicast ff00::/8 (RFC 4291 §2.7)"),
        // The rest of ::/8 other than the cases above is unassigned (RFC 4291 §2.4).
        (0, 8, Never, "the reserved ::/8 (RFC 4291 §2.4)"),
    ];
    table.iter().find(|(base, len, _, _)| prefix(*base, *len)).map(|&(_, _, class, reason)| (class, reason))
}

/// RFC 6761 §6.3: "localhost." and names below it are loopback names; resolvers answer them with
/// the loopback address, so they are refused by name without asking one.
fn is_localhost(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// The URL without its credentials, for messages.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    // Clearing can fail only for URLs without a host, which have no credentials to hide.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Checks a webhook URL before it is stored and before each delivery.
///
/// Refused: a scheme other than `http` or `https`; a user name or password in the URL (it would
/// be stored and logged with the URL, and `https://trusted@evil.example` is a classic phishing
/// form; the endpoint's secret authenticates deliveries); no host; and, unless `allow_private`,
/// a `localhost` name. A literal address host is judged by [`refusal`] here, since reqwest
/// connects to a literal without asking the resolver. The `url` crate has already normalised
/// the other spellings of an IPv4 address (`http://2130706433/`, `http://0x7f.1/`) to a literal.
///
/// Standard Webhooks 1.0, "Enforcing HTTPS", only advises HTTPS ("it may be advisable"): the
/// signature protects integrity either way, so `http` stays allowed for receivers inside a
/// trusted network.
///
/// # Errors
/// [`EventsError::Url`] for the scheme, credentials or a missing host; [`EventsError::Refused`]
/// for a refused host.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), EventsError> {
    let bad = |reason: String| EventsError::Url { url: shown(url), reason };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("the scheme must be http or https, not {}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials in the URL are not allowed; the endpoint's secret signs deliveries".into()
        ));
    }
    let refused_host = |host: String, reason| Err(EventsError::Refused { host, reason });
    match url.host() {
        None => Err(bad("it has no host".into())),
        Some(Host::Domain(name)) if !allow_private && is_localhost(name) => {
            refused_host(name.to_owned(), "localhost names are the loopback address (RFC 6761 §6.3)")
        }
        Some(Host::Domain(_)) => Ok(()),
        Some(Host::Ipv4(ip)) => match refusal(ip.into(), allow_private) {
            Some(reason) => refused_host(ip.to_string(), reason),
            None => Ok(()),
        },
        Some(Host::Ipv6(ip)) => match refusal(ip.into(), allow_private) {
            Some(reason) => refused_host(ip.to_string(), reason),
            None => Ok(()),
        },
    }
}

/// A reqwest DNS resolver that drops refused addresses.
///
/// It resolves with the system resolver (`tokio::net::lookup_host`, which honours `/etc/hosts`
/// as the rest of the process does), then keeps only the addresses [`refusal`] lets through.
/// When none is left the connection fails with [`EventsError::Refused`] naming the first
/// address's reason. A name with both public and internal addresses is connected to the public
/// ones only: an internal address beside public ones is either a split-horizon artefact or an
/// attempt to get one attempt in.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    /// A resolver refusing internal addresses, or with `allow_private` only those that are never
    /// a target.
    #[must_use]
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// The permitted addresses of `host` (port 0: reqwest puts the URL's port in).
    ///
    /// # Errors
    /// [`EventsError::Refused`] for a `localhost` name (unless private addresses are allowed) or
    /// when every address is refused; [`EventsError::Resolve`] when resolution fails.
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, EventsError> {
        if !self.allow_private && is_localhost(host) {
            return Err(EventsError::Refused {
                host: host.to_owned(),
                reason: "localhost names are the loopback address (RFC 6761 §6.3)",
            });
        }
        let resolved = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|source| EventsError::Resolve { host: host.to_owned(), source })?;
        let mut kept = Vec::new();
        let mut first_refusal = None;
        for addr in resolved {
            match refusal(addr.ip(), self.allow_private) {
                None => kept.push(addr),
                Some(reason) => {
                    if first_refusal.is_none() {
                        first_refusal = Some(reason);
                    }
                }
            }
        }
        match (kept.is_empty(), first_refusal) {
            (false, _) => Ok(kept),
            (true, Some(reason)) => Err(EventsError::Refused { host: host.to_owned(), reason }),
            (true, None) => Err(EventsError::Resolve {
                host: host.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
            }),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = *self;
        Box::pin(async move {
            match this.lookup(name.as_str()).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_internal_and_special_ipv4_range() {
        for (addr, needle) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("0.0.0.0", "this network"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "RFC 1918"),
            ("172.16.0.1", "RFC 1918"),
            ("172.31.255.255", "RFC 1918"),
            ("192.168.1.1", "RFC 1918"),
            ("100.64.0.1", "RFC 6598"),
            ("100.127.255.255", "RFC 6598"),
            ("169.254.169.254", "metadata"),
            ("169.254.0.1", "link-local"),
            ("192.0.0.8", "RFC 6890"),
            ("192.0.2.10", "RFC 5737"),
            ("198.51.100.7", "RFC 5737"),
            ("203.0.113.200", "RFC 5737"),
            ("198.18.0.1", "RFC 2544"),
            ("198.19.255.255", "RFC 2544"),
            ("192.88.99.1", "RFC 7526"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            let reason = refused(ip(addr)).unwrap_or_else(|| panic!("{addr} was let through"));
            assert!(reason.contains(needle), "{addr}: {reason}");
        }
    }

    #[test]
    fn lets_public_ipv4_through_including_the_neighbours_of_each_range() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "223.255.255.255",
            "126.255.255.255",
            "128.0.0.0",
        ] {
            assert_eq!(refused(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn refuses_internal_and_special_ipv6() {
        for (addr, needle) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "RFC 4193"),
            ("fd12:3456::1", "RFC 4193"),
            ("fd00:ec2::254", "metadata"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "RFC 3849"),
            ("3fff::1", "RFC 9637"),
            ("2001:2::1", "RFC 5180"),
            ("2001::1", "Teredo"),
            ("100::1", "RFC 6666"),
            ("64:ff9b:1::1", "RFC 8215"),
            ("::1:0:0:1", "reserved"),
            // Embedded IPv4 addresses are judged as IPv4.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.1.2.3", "RFC 1918"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::10.0.0.1", "RFC 1918"),
            ("64:ff9b::169.254.169.254", "metadata"),
            ("2002:7f00:1::", "loopback"),
            ("2002:c0a8:101::1", "RFC 1918"),
        ] {
            let reason = refused(ip(addr)).unwrap_or_else(|| panic!("{addr} was let through"));
            assert!(reason.contains(needle), "{addr}: {reason}");
        }
    }

    #[test]
    fn lets_public_ipv6_through() {
        for addr in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "2001:db7:ffff::1",
            "2001:db9::1",
        ] {
            assert_eq!(refused(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn allow_private_lifts_only_the_private_ranges() {
        for addr in
            ["127.0.0.1", "10.0.0.1", "192.168.1.1", "100.64.0.1", "::1", "fd12::1", "::ffff:127.0.0.1"]
        {
            assert!(refused(ip(addr)).is_some(), "{addr}");
            assert_eq!(refusal(ip(addr), true), None, "{addr}");
        }
        for addr in [
            "0.0.0.0",
            "169.254.169.254",
            "169.254.1.1",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
        ] {
            assert!(refusal(ip(addr), true).is_some(), "{addr}");
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn check_url_refuses_bad_schemes_credentials_and_internal_hosts() {
        assert!(check_url(&url("https://hooks.example.com/scim"), false).is_ok());
        assert!(check_url(&url("http://hooks.example.com:8080/x"), false).is_ok());
        assert!(check_url(&url("https://8.8.8.8/x"), false).is_ok());
        assert!(check_url(&url("https://[2606:4700:4700::1111]/x"), false).is_ok());

        for (u, needle) in [
            ("ftp://hooks.example.com/", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("gopher://hooks.example.com/", "scheme"),
            ("https://user:pw@hooks.example.com/", "credentials"),
            ("https://user@hooks.example.com/", "credentials"),
            ("https://localhost/", "localhost"),
            ("https://LOCALHOST./", "localhost"),
            ("https://api.localhost/", "localhost"),
            ("http://127.0.0.1:9000/", "loopback"),
            ("http://2130706433/", "loopback"),
            ("http://0x7f.1/", "loopback"),
            ("http://0/", "this network"),
            ("http://[::1]/", "loopback"),
            ("http://[::ffff:7f00:1]/", "loopback"),
            ("http://169.254.169.254/latest/meta-data/", "metadata"),
            ("http://[fd00:ec2::254]/", "metadata"),
            ("http://10.0.0.5/", "RFC 1918"),
        ] {
            let e = check_url(&url(u), false).unwrap_err().to_string();
            assert!(e.contains(needle), "{u}: {e}");
        }
        let e = check_url(&url("ftp://user:hunter2@hooks.example.com/"), false).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn check_url_with_private_allowed() {
        assert!(check_url(&url("http://localhost:3000/hooks"), true).is_ok());
        assert!(check_url(&url("http://127.0.0.1:3000/hooks"), true).is_ok());
        assert!(check_url(&url("http://10.0.0.5/"), true).is_ok());
        assert!(check_url(&url("http://169.254.169.254/"), true).is_err());
        assert!(check_url(&url("https://user:pw@localhost/"), true).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_localhost() {
        let guarded = GuardedResolver::new(false);
        let e = guarded.resolve("localhost".parse().unwrap()).await.err().unwrap();
        assert!(e.to_string().contains("localhost"), "{e}");
        // Refused by address, not by name: a literal resolves to itself.
        for host in ["127.0.0.1", "::1"] {
            let e = guarded.lookup(host).await.unwrap_err();
            assert!(
                matches!(e, EventsError::Refused { reason, .. } if reason.contains("loopback")),
                "{host}"
            );
        }
        // With private addresses allowed, localhost resolves (from /etc/hosts) to loopback.
        let open = GuardedResolver::new(true);
        let addrs: Vec<SocketAddr> = open.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
