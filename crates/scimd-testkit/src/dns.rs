//! A DNS server on 127.0.0.1 for tests of domain verification.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable as _;

/// A DNS server on 127.0.0.1 (UDP) that answers TXT queries for `name` with `values` and NXDOMAIN
/// for everything else, until the test process ends.
pub fn txt_server(name: &str, values: Vec<String>) -> std::net::SocketAddr {
    let (addr, published) = txt_records(name);
    *published.lock().expect("test DNS server") = values;
    addr
}

/// [`txt_server`] whose TXT values the test changes as it goes (a record published later).
pub fn txt_records(name: &str) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let published = Arc::new(Mutex::new(Vec::<String>::new()));
    let values = published.clone();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("test DNS server");
    let addr = socket.local_addr().expect("test DNS server");
    let name = Name::from_ascii(name).expect("test DNS server");
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
                let now = values.lock().map(|v| v.clone()).unwrap_or_default();
                for v in &now {
                    resp.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::TXT(TXT::new(vec![v.clone()])),
                    ));
                }
            } else {
                resp.set_response_code(ResponseCode::NXDomain);
            }
            let _ = socket.send_to(&resp.to_bytes().expect("test DNS server"), peer);
        }
    });
    (addr, published)
}
