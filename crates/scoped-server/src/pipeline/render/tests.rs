//! The direct writer against hickory's encoder: every message reads back (with hickory's
//! decoder) exactly as hickory's own encoding of it does.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::render;

/// As written: `Name::from_str` lowercases (IDNA), `from_ascii` keeps the case.
fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("a name")
}

fn record(owner: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(name(owner), ttl, data)
}

fn response(qname: &str, qtype: RecordType, rcode: ResponseCode) -> Message {
    let mut metadata = Metadata::new(0xBEEF, MessageType::Response, OpCode::Query);
    metadata.recursion_desired = true;
    metadata.recursion_available = true;
    metadata.response_code = rcode;
    let mut message = Message::new(0xBEEF, MessageType::Response, OpCode::Query);
    message.metadata = metadata;
    message.queries.push(Query::query(name(qname), qtype));
    message
}

fn edns(dnssec_ok: bool, options: Vec<EdnsOption>) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(dnssec_ok);
    for option in options {
        edns.options_mut().insert(option);
    }
    edns
}

fn soa(zone: &str) -> RData {
    RData::SOA(SOA::new(
        name(&format!("ns1.{zone}")),
        name(&format!("hostmaster.{zone}")),
        2026120601,
        7200,
        900,
        1_209_600,
        300,
    ))
}

/// Every message the tests write, each with something the others lack.
fn messages() -> Vec<(&'static str, Message)> {
    let mut plain = response("WwW.Example.COM.", RecordType::A, ResponseCode::NoError);
    plain.answers.push(record(
        "WwW.Example.COM.",
        300,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
    ));
    // ECS (code 8, SCOPE 24) and an Extended DNS Error with EXTRA-TEXT.
    plain.edns = Some(edns(
        false,
        vec![
            EdnsOption::Unknown(8, vec![0, 1, 24, 24, 198, 51, 100]),
            EdnsOption::Unknown(15, b"\x00\x03stale".to_vec()),
        ],
    ));

    let mut chain = response("www.example.com.", RecordType::AAAA, ResponseCode::NoError);
    chain.metadata.authentic_data = true;
    chain.metadata.checking_disabled = true;
    chain.answers.extend([
        record(
            "www.example.com.",
            60,
            RData::CNAME(CNAME(name("edge.cdn.example.net."))),
        ),
        record(
            "edge.cdn.example.net.",
            20,
            RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
        ),
        record(
            "EDGE.cdn.example.net.",
            20,
            RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2))),
        ),
    ]);
    chain.authorities.extend([
        record(
            "cdn.example.net.",
            3600,
            RData::NS(NS(name("a.ns.example.net."))),
        ),
        record(
            "cdn.example.net.",
            3600,
            RData::NS(NS(name("b.ns.example.org."))),
        ),
    ]);
    chain.edns = Some(edns(true, Vec::new()));

    let mut nxdomain = response("nope.example.com.", RecordType::MX, ResponseCode::NXDomain);
    nxdomain.metadata.authoritative = true;
    nxdomain
        .authorities
        .push(record("example.com.", 300, soa("example.com.")));
    nxdomain.edns = Some(edns(false, Vec::new()));

    let mut types = response("example.com.", RecordType::ANY, ResponseCode::NoError);
    types.answers.extend([
        record(
            "example.com.",
            300,
            RData::MX(MX::new(10, name("mail.example.com."))),
        ),
        record(
            "example.com.",
            300,
            RData::TXT(TXT::new(vec!["v=spf1 -all".into(), "second".into()])),
        ),
        record(
            "_sip._udp.example.com.",
            300,
            RData::SRV(SRV::new(10, 20, 5060, name("sip.example.com."))),
        ),
        record(
            "1.2.0.192.in-addr.arpa.",
            300,
            RData::PTR(PTR(name("host.example.com."))),
        ),
        record("example.com.", 300, soa("example.com.")),
    ]);
    types.additionals.push(record(
        "mail.example.com.",
        300,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 25))),
    ));

    // BADCOOKIE (23) needs the OPT record's extended RCODE bits.
    let mut badcookie = response("example.com.", RecordType::A, ResponseCode::BADCOOKIE);
    badcookie.edns = Some(edns(false, vec![EdnsOption::Unknown(10, vec![7; 24])]));

    let mut servfail = response("example.com.", RecordType::A, ResponseCode::ServFail);
    servfail.metadata.truncation = true;

    let mut query = Message::new(7, MessageType::Query, OpCode::Query);
    query.queries.push(Query::query(name("."), RecordType::NS));
    query.edns = Some(edns(true, Vec::new()));

    vec![
        ("plain answer with ECS and EDE", plain),
        ("CNAME chain, AD, CD, authority", chain),
        ("NXDOMAIN with SOA", nxdomain),
        ("other types and an additional", types),
        ("extended RCODE", badcookie),
        ("no EDNS, TC", servfail),
        ("a query for the root", query),
    ]
}

#[test]
fn every_message_reads_back_as_hickorys_own_encoding_does() {
    for (what, message) in messages() {
        let ours = render(&message).expect("written");
        let theirs = message.to_vec().expect("hickory writes it");
        let back = Message::from_vec(&ours).expect("hickory reads ours");
        assert_eq!(
            back,
            Message::from_vec(&theirs).expect("and its own"),
            "{what}"
        );
        assert!(
            ours.len() <= theirs.len(),
            "{what}: {} bytes, hickory {}",
            ours.len(),
            theirs.len()
        );
    }
}

#[test]
fn an_owner_equal_to_the_question_points_to_it_and_case_is_kept() {
    let (_, plain) = messages().remove(0);
    let wire = render(&plain).expect("written");
    let question_end = 12 + "WwW.Example.COM.".len() + 1 + 4;
    assert_eq!(&wire[question_end..question_end + 2], &[0xC0, 12]);
    let (_, chain) = messages().remove(1);
    let back = Message::from_vec(&render(&chain).expect("written")).expect("read");
    let owners: Vec<String> = back.answers.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(
        owners,
        [
            "www.example.com.",
            "edge.cdn.example.net.",
            "EDGE.cdn.example.net."
        ]
    );
    assert_eq!(back.metadata.response_code, ResponseCode::NoError);
}

#[test]
fn the_extended_rcode_and_edns_fields_survive() {
    let (_, badcookie) = messages().remove(4);
    let back = Message::from_vec(&render(&badcookie).expect("written")).expect("read");
    assert_eq!(back.metadata.response_code, ResponseCode::BADCOOKIE);
    let edns = back.edns.expect("OPT");
    assert_eq!(edns.max_payload(), 1232);
    assert!(edns.option(EdnsCode::Cookie).is_some());
}

#[test]
fn what_only_hickory_writes_is_left_to_it() {
    let mut message = response("example.com.", RecordType::A, ResponseCode::NoError);
    let mut opt = Record::from_rdata(Name::root(), 0, RData::OPT(Default::default()));
    opt.dns_class = DNSClass::for_opt(1232);
    message.additionals.push(opt);
    assert!(render(&message).is_none());
}
