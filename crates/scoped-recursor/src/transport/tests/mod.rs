//! The transport's tests: what a matching reply is (here), and each protocol's exchange on real
//! loopback sockets (`udp.rs`, `tcp.rs`).

use std::sync::atomic::Ordering;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::*;

mod tcp;
mod udp;

fn query_wire(id: u16, name: &str) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    msg.to_vec().unwrap()
}

fn reply_to(query: &[u8], id: u16, name: &str) -> Vec<u8> {
    let mut msg = Message::from_vec(query).unwrap();
    msg.metadata.id = id;
    msg.metadata.message_type = MessageType::Response;
    msg.queries = vec![Query::query(Name::from_ascii(name).unwrap(), RecordType::A)];
    msg.to_vec().unwrap()
}

#[test]
fn matching_needs_same_id_question_and_qr() {
    let q = query_wire(7, "www.example.com.");
    assert!(
        reply_matches(&q, &reply_to(&q, 7, "WWW.example.COM.")),
        "case-insensitive name"
    );
    assert!(
        !reply_matches(&q, &reply_to(&q, 8, "www.example.com.")),
        "wrong ID"
    );
    assert!(
        !reply_matches(&q, &reply_to(&q, 7, "www.example.net.")),
        "wrong question"
    );
    assert!(!reply_matches(&q, &q), "a query is not a reply");
    assert!(!reply_matches(&q, &[0u8; 5]), "garbage");
}

fn with_question(wire: &[u8], rtype: RecordType) -> Vec<u8> {
    let mut msg = Message::from_vec(wire).unwrap();
    let name = msg.queries[0].name().clone();
    msg.queries = vec![Query::query(name, rtype)];
    msg.to_vec().unwrap()
}

#[test]
fn matching_compares_type_and_class_exactly() {
    let q = query_wire(7, "www.example.com.");
    let reply = reply_to(&q, 7, "www.example.com.");
    assert!(!reply_matches(&q, &with_question(&reply, RecordType::AAAA)));
    // Types 65 (HTTPS) and 97 differ only in the bit ASCII case folding ignores: a
    // comparison that folded the whole question would take one for the other.
    let https = with_question(&q, RecordType::HTTPS);
    let other = with_question(&reply, RecordType::Unknown(97));
    assert!(!reply_matches(&https, &other));
    assert!(reply_matches(
        &https,
        &with_question(&reply, RecordType::HTTPS)
    ));
    let mut chaos = reply.clone();
    let class_at = chaos.len() - 1;
    chaos[class_at] = 3;
    assert!(!reply_matches(&q, &chaos), "class CH is not IN");
    let mut no_question = reply.clone();
    no_question[5] = 0;
    assert!(!reply_matches(&q, &no_question), "no question");
    let mut pointer = reply[..12].to_vec();
    pointer.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
    assert!(!reply_matches(&q, &pointer), "a compressed question name");
}

fn with_ecs(wire: &[u8], addr: &str, source: u8, scope: u8) -> Vec<u8> {
    use hickory_proto::op::Edns;
    use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
    let mut msg = Message::from_vec(wire).unwrap();
    let mut edns = Edns::new();
    let subnet = ClientSubnet::new(addr.parse().unwrap(), source, scope);
    edns.options_mut().insert(EdnsOption::Subnet(subnet));
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

#[test]
fn e11_reply_ecs_must_echo_the_query_ecs() {
    let q = with_ecs(&query_wire(7, "www.example.com."), "198.51.100.0", 24, 0);
    let plain_reply = reply_to(&query_wire(7, "www.example.com."), 7, "www.example.com.");
    assert!(
        reply_matches(&q, &with_ecs(&plain_reply, "198.51.100.0", 24, 24)),
        "echo"
    );
    assert!(
        reply_matches(&q, &plain_reply),
        "no ECS in the reply: allowed, scope 0 (E12)"
    );
    assert!(
        !reply_matches(&q, &with_ecs(&plain_reply, "203.0.113.0", 24, 24)),
        "other address"
    );
    assert!(
        !reply_matches(&q, &with_ecs(&plain_reply, "198.51.100.0", 16, 16)),
        "other source"
    );
    assert!(
        !reply_matches(&q, &with_ecs(&plain_reply, "2001:db8::", 24, 24)),
        "other family"
    );
}

#[test]
fn e12_an_answer_without_the_echo_is_refused_when_the_echo_is_required() {
    let q = with_ecs(&query_wire(7, "www.example.com."), "198.51.100.0", 24, 0);
    let plain_reply = reply_to(&query_wire(7, "www.example.com."), 7, "www.example.com.");
    let upstream = |require_ecs_echo| UpstreamQuery {
        server: "192.0.2.53:53".parse().unwrap(),
        protocol: Protocol::Udp,
        message: q.clone(),
        timeout: Duration::from_secs(1),
        require_ecs_echo,
        echo_timeout: None,
    };
    let echoed = with_ecs(&plain_reply, "198.51.100.0", 24, 24);
    assert!(upstream(true).accepts(&echoed));
    assert!(
        !upstream(true).accepts(&plain_reply),
        "CVE-2025-30192: no echo"
    );
    assert!(
        upstream(false).accepts(&plain_reply),
        "not required: SCOPE 0"
    );
    // An error needs no echo (E13: REFUSED to an ECS query often comes without it).
    let mut refused = Message::from_vec(&plain_reply).unwrap();
    refused.metadata.response_code = hickory_proto::op::ResponseCode::Refused;
    assert!(upstream(true).accepts(&refused.to_vec().unwrap()));
    let mut nxdomain = Message::from_vec(&plain_reply).unwrap();
    nxdomain.metadata.response_code = hickory_proto::op::ResponseCode::NXDomain;
    assert!(
        !upstream(true).accepts(&nxdomain.to_vec().unwrap()),
        "a denial is data too"
    );
}
