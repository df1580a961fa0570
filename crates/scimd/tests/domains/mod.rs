//! `scimd domain add` / `verify` against a DNS server the test runs on 127.0.0.1.

use scimd_testkit::dns::txt_server as dns_server;

use super::{scimd, stderr, stdout};

#[test]
fn a_domain_is_verified_through_its_txt_record() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    let o = scimd(dir.path(), &["domain", "add", "--tenant", "acme", "Example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let record = stdout(&o);
    // _scimd-challenge.example.com. 3600 IN TXT "scimd-verification=…"
    assert!(
        record.starts_with("_scimd-challenge.example.com. 3600 IN TXT \"scimd-verification="),
        "{record}"
    );
    let value = record.trim().rsplit_once(' ').unwrap().1.trim_matches('"').to_owned();
    assert!(
        !scimd(dir.path(), &["domain", "add", "--tenant", "acme", "example.com"]).status.success(),
        "claimed twice"
    );
    assert!(!scimd(dir.path(), &["domain", "add", "--tenant", "acme", "not a domain"]).status.success());

    // A server that publishes something else: not verified, and the message says what it found.
    let wrong = dns_server(
        "_scimd-challenge.example.com.",
        vec!["scimd-verification=other".into(), "v=spf1 -all".into()],
    );
    let o = scimd(
        dir.path(),
        &["domain", "verify", "--tenant", "acme", "example.com", "--dns-server", &wrong.to_string()],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("scimd-verification=other"), "{}", stderr(&o));
    let listed = stdout(&scimd(dir.path(), &["domain", "list", "--tenant", "acme"]));
    assert!(listed.contains("\"verified\":false"), "{listed}");
    // `add` and `list` print the record alike.
    let listed_record: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listed_record["txt"].as_str(), Some(record.trim()), "{listed}");

    // The right record (among others) verifies it.
    let right = dns_server("_scimd-challenge.example.com.", vec!["v=spf1 -all".into(), value]);
    let o = scimd(
        dir.path(),
        &["domain", "verify", "--tenant", "acme", "example.com", "--dns-server", &right.to_string()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = stdout(&scimd(dir.path(), &["domain", "list", "--tenant", "acme"]));
    assert!(listed.contains("\"verified\":true"), "{listed}");
    assert!(scimd(dir.path(), &["domain", "remove", "--tenant", "acme", "example.com"]).status.success());
    assert!(stdout(&scimd(dir.path(), &["domain", "list", "--tenant", "acme"])).is_empty());
}
