//! `scimd domain add` / `verify` against a DNS server the test runs on 127.0.0.1.

use std::net::UdpSocket;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable as _;

use super::{scimd, stderr, stdout};

/// A DNS server on 127.0.0.1 (UDP) that answers TXT queries for `name` with `values` and NXDOMAIN
/// for everything else, until the test process ends.
fn dns_server(name: &str, values: Vec<String>) -> std::net::SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let name = Name::from_ascii(name).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else { return };
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
            let mut resp = Message::new();
            resp.set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(OpCode::Query)
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true)
                .add_queries(query.queries().to_vec());
            let q = query.queries().first();
            if q.is_some_and(|q| {
                q.name().to_ascii().eq_ignore_ascii_case(&name.to_ascii())
                    && q.query_type() == RecordType::TXT
            }) {
                for v in &values {
                    resp.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::TXT(TXT::new(vec![v.clone()])),
                    ));
                }
            } else {
                resp.set_response_code(ResponseCode::NXDomain);
            }
            let _ = socket.send_to(&resp.to_bytes().unwrap(), peer);
        }
    });
    addr
}

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
