//! The authoritative answer logic, through `Internet::respond` (the path both modes share).

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use scoped_recursor::Protocol;
use scoped_testkit::standard::*;
use scoped_testkit::{
    BuildError, Internet, InternetBuilder, ResponderAction, Zone, ZoneError, make_query, name,
    standard_internet,
};

fn ask(internet: &Internet, server: IpAddr, qname: &str, qtype: RecordType) -> Message {
    let query = make_query(0x1234, qname, qtype, None);
    internet
        .respond(server, &query, Protocol::Udp)
        .expect("server answers")
}

fn rdata_strings(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

fn soa_of(message: &Message) -> (u32, u32) {
    let [record] = message.authorities.as_slice() else {
        panic!(
            "expected exactly one authority record, got {:?}",
            message.authorities
        );
    };
    let RData::SOA(soa) = &record.data else {
        panic!("not a SOA: {record:?}")
    };
    (record.ttl, soa.minimum)
}

const BRIEF_ZONE: &str = "
@    86400 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300
@    86400 IN NS  ns1.example.com.
ns1  86400 IN A   127.53.2.1
www  300   IN A   192.0.2.10
sub  86400 IN NS  ns.sub.example.com.      ; delegation
ns.sub 86400 IN A 127.53.3.1               ; glue
";

#[test]
fn brief_zone_parses_and_answers() {
    let zone = Zone::parse("example.com", BRIEF_ZONE).unwrap();
    assert_eq!(zone.origin(), &name("example.com"));
    assert_eq!(zone.records().count(), 6);
    assert!(zone.name_exists(&name("sub.example.com")));
    let mut b = InternetBuilder::new();
    b.add_zone(zone)
        .server("127.53.2.1".parse().unwrap(), &["example.com"]);
    let internet = b.build().unwrap();
    let reply = ask(
        &internet,
        "127.53.2.1".parse().unwrap(),
        "www.example.com",
        RecordType::A,
    );
    assert_eq!(
        rdata_strings(&reply.answers),
        ["www.example.com. A 192.0.2.10"]
    );
    let reply = ask(
        &internet,
        "127.53.2.1".parse().unwrap(),
        "x.sub.example.com",
        RecordType::A,
    );
    assert!(!reply.metadata.authoritative);
    assert_eq!(
        rdata_strings(&reply.additionals),
        ["ns.sub.example.com. A 127.53.3.1"]
    );
}

#[test]
fn exact_match_is_an_authoritative_answer_echoing_the_query() {
    let internet = standard_internet();
    let mut query = make_query(0xbeef, "www.example.com", RecordType::A, None);
    query.metadata.recursion_desired = true;
    let reply = internet
        .respond(EXAMPLE_COM_1, &query, Protocol::Udp)
        .unwrap();
    assert_eq!(reply.metadata.id, 0xbeef);
    assert!(reply.metadata.recursion_desired);
    assert!(reply.metadata.authoritative);
    assert!(!reply.metadata.recursion_available);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.queries, query.queries);
    assert_eq!(
        rdata_strings(&reply.answers),
        ["www.example.com. A 192.0.2.10"]
    );
    assert_eq!(reply.answers[0].ttl, 300);
    assert!(reply.authorities.is_empty());
    let aaaa = ask(
        &internet,
        EXAMPLE_COM_2,
        "www.example.com",
        RecordType::AAAA,
    );
    assert_eq!(
        rdata_strings(&aaaa.answers),
        ["www.example.com. AAAA 2001:db8::10"]
    );
}

#[test]
fn names_match_case_insensitively_and_the_question_keeps_its_case() {
    let internet = standard_internet();
    let reply = ask(&internet, EXAMPLE_COM_1, "WwW.ExAmPlE.CoM", RecordType::A);
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(reply.queries[0].name().to_ascii(), "WwW.ExAmPlE.CoM.");
}

#[test]
fn root_refers_to_the_tld_with_glue() {
    let internet = standard_internet();
    let reply = ask(&internet, ROOT_A, "www.example.com", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(!reply.metadata.authoritative);
    assert!(reply.answers.is_empty());
    assert_eq!(rdata_strings(&reply.authorities), ["com. NS ns1.nic.com."]);
    assert_eq!(
        rdata_strings(&reply.additionals),
        ["ns1.nic.com. A 127.53.1.1"]
    );
}

#[test]
fn tld_refers_to_the_domain_with_both_glue_records() {
    let internet = standard_internet();
    let reply = ask(&internet, COM, "www.example.com", RecordType::A);
    assert!(!reply.metadata.authoritative);
    assert_eq!(
        rdata_strings(&reply.authorities),
        [
            "example.com. NS ns1.example.com.",
            "example.com. NS ns2.example.com."
        ]
    );
    assert_eq!(
        rdata_strings(&reply.additionals),
        [
            "ns1.example.com. A 127.53.2.1",
            "ns2.example.com. A 127.53.2.2"
        ]
    );
    // The delegation point itself is referred too (the child is authoritative for its apex).
    let apex = ask(&internet, COM, "example.com", RecordType::NS);
    assert!(!apex.metadata.authoritative);
    assert_eq!(apex.authorities.len(), 2);
}

#[test]
fn child_zone_delegated_inside_a_zone_is_a_referral() {
    let internet = standard_internet();
    let reply = ask(
        &internet,
        EXAMPLE_COM_1,
        "www.sub.example.com",
        RecordType::A,
    );
    assert!(!reply.metadata.authoritative);
    assert_eq!(
        rdata_strings(&reply.authorities),
        ["sub.example.com. NS ns.sub.example.com."]
    );
    assert_eq!(
        rdata_strings(&reply.additionals),
        ["ns.sub.example.com. A 127.53.2.3"]
    );
    let child = ask(
        &internet,
        SUB_EXAMPLE_COM,
        "www.sub.example.com",
        RecordType::A,
    );
    assert!(child.metadata.authoritative);
    assert_eq!(
        rdata_strings(&child.answers),
        ["www.sub.example.com. A 192.0.2.12"]
    );
}

#[test]
fn glueless_delegation_has_no_additional_records() {
    let internet = standard_internet();
    let reply = ask(&internet, ORG, "www.glueless.org", RecordType::A);
    assert_eq!(
        rdata_strings(&reply.authorities),
        ["glueless.org. NS ns.example.net."]
    );
    assert!(reply.additionals.is_empty());
    let ns = ask(&internet, EXAMPLE_NET, "ns.example.net", RecordType::A);
    assert_eq!(rdata_strings(&ns.answers), ["ns.example.net. A 127.53.4.1"]);
    let www = ask(&internet, GLUELESS_ORG, "www.glueless.org", RecordType::A);
    assert_eq!(
        rdata_strings(&www.answers),
        ["www.glueless.org. A 192.0.2.30"]
    );
}

#[test]
fn cname_chain_inside_the_zone_is_followed() {
    let internet = standard_internet();
    let reply = ask(&internet, EXAMPLE_COM_1, "chain.example.com", RecordType::A);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        rdata_strings(&reply.answers),
        [
            "chain.example.com. CNAME alias.example.com.",
            "alias.example.com. CNAME www.example.com.",
            "www.example.com. A 192.0.2.10",
        ]
    );
    // Asking for the CNAME itself returns only it.
    let cname = ask(
        &internet,
        EXAMPLE_COM_1,
        "chain.example.com",
        RecordType::CNAME,
    );
    assert_eq!(
        rdata_strings(&cname.answers),
        ["chain.example.com. CNAME alias.example.com."]
    );
}

#[test]
fn cname_leaving_the_zone_stops_at_the_cname() {
    let internet = standard_internet();
    let reply = ask(&internet, EXAMPLE_COM_1, "cross.example.com", RecordType::A);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        rdata_strings(&reply.answers),
        ["cross.example.com. CNAME www.example.net."]
    );
    let target = ask(&internet, EXAMPLE_NET, "www.example.net", RecordType::A);
    assert_eq!(
        rdata_strings(&target.answers),
        ["www.example.net. A 192.0.2.20"]
    );
}

#[test]
fn cname_to_a_missing_name_is_nxdomain_with_the_cname() {
    let internet = standard_internet();
    let reply = ask(
        &internet,
        EXAMPLE_COM_1,
        "dangling.example.com",
        RecordType::A,
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        rdata_strings(&reply.answers),
        ["dangling.example.com. CNAME nothere.example.com."]
    );
    assert_eq!(soa_of(&reply), (3600, 60));
}

#[test]
fn cname_loop_terminates() {
    let zone = Zone::parse(
        "loop.test",
        "@ 60 IN SOA ns. h. 1 2 3 4 5\n@ 60 IN NS ns.\na 60 IN CNAME b\nb 60 IN CNAME a\n",
    )
    .unwrap();
    let mut b = InternetBuilder::new();
    b.add_zone(zone)
        .server("127.0.0.9".parse().unwrap(), &["loop.test"]);
    let internet = b.build().unwrap();
    let reply = ask(
        &internet,
        "127.0.0.9".parse().unwrap(),
        "a.loop.test",
        RecordType::A,
    );
    assert_eq!(reply.answers.len(), 2);
}

#[test]
fn wildcard_synthesises_records_for_any_name_below() {
    let internet = standard_internet();
    for qname in [
        "foo.wild.example.com.",
        "x.y.wild.example.com.",
        "u-123.wild.example.com.",
    ] {
        let reply = ask(&internet, EXAMPLE_COM_1, qname, RecordType::A);
        assert!(reply.metadata.authoritative);
        assert_eq!(
            rdata_strings(&reply.answers),
            [format!("{qname} A 192.0.2.99")]
        );
    }
    let txt = ask(
        &internet,
        EXAMPLE_COM_1,
        "foo.wild.example.com",
        RecordType::TXT,
    );
    assert_eq!(
        rdata_strings(&txt.answers),
        ["foo.wild.example.com. TXT wildcard"]
    );
    // The wildcard owns A and TXT only: NODATA for another type.
    let mx = ask(
        &internet,
        EXAMPLE_COM_1,
        "foo.wild.example.com",
        RecordType::MX,
    );
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert!(mx.answers.is_empty());
    assert_eq!(soa_of(&mx), (3600, 60));
    // wild.example.com exists (empty non-terminal): not synthesised, NODATA.
    let parent = ask(&internet, EXAMPLE_COM_1, "wild.example.com", RecordType::A);
    assert_eq!(parent.metadata.response_code, ResponseCode::NoError);
    assert!(parent.answers.is_empty());
    // No wildcard elsewhere: NXDOMAIN.
    let nx = ask(
        &internet,
        EXAMPLE_COM_1,
        "foo.www.example.com",
        RecordType::A,
    );
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn missing_name_is_nxdomain_with_the_soa_as_written() {
    let internet = standard_internet();
    let reply = ask(&internet, EXAMPLE_COM_1, "nx.example.com", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.metadata.authoritative);
    assert!(reply.answers.is_empty());
    assert_eq!(soa_of(&reply), (3600, 60));
    assert_eq!(reply.authorities[0].name, name("example.com"));
    // example.net: SOA TTL 30 below MINIMUM 300.
    let net = ask(&internet, EXAMPLE_NET, "nx.example.net", RecordType::A);
    assert_eq!(net.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(soa_of(&net), (30, 300));
}

#[test]
fn existing_name_without_the_type_is_nodata_with_the_soa() {
    let internet = standard_internet();
    let reply = ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::MX);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert!(reply.answers.is_empty());
    assert_eq!(soa_of(&reply), (3600, 60));
}

#[test]
fn empty_non_terminals_are_nodata_not_nxdomain() {
    let internet = standard_internet();
    for qname in ["ent.example.com", "b.ent.example.com"] {
        let reply = ask(&internet, EXAMPLE_COM_1, qname, RecordType::A);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{qname}"
        );
        assert!(reply.answers.is_empty());
        assert_eq!(soa_of(&reply), (3600, 60));
    }
    let leaf = ask(
        &internet,
        EXAMPLE_COM_1,
        "a.b.ent.example.com",
        RecordType::A,
    );
    assert_eq!(
        rdata_strings(&leaf.answers),
        ["a.b.ent.example.com. A 192.0.2.11"]
    );
    let below = ask(
        &internet,
        EXAMPLE_COM_1,
        "c.b.ent.example.com",
        RecordType::A,
    );
    assert_eq!(below.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn zone_not_hosted_is_refused() {
    let internet = standard_internet();
    let reply = ask(&internet, EXAMPLE_COM_1, "www.example.org", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(!reply.metadata.authoritative);
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
    // The parent name of a hosted zone is not hosted either.
    let parent = ask(&internet, EXAMPLE_COM_1, "com", RecordType::NS);
    assert_eq!(parent.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn ns_query_at_an_apex_carries_addresses() {
    let internet = standard_internet();
    let reply = ask(&internet, ROOT_B, ".", RecordType::NS);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        rdata_strings(&reply.answers),
        [". NS a.root.test.", ". NS b.root.test."]
    );
    assert_eq!(
        rdata_strings(&reply.additionals),
        ["a.root.test. A 127.53.0.1", "b.root.test. A 127.53.0.2"]
    );
}

#[test]
fn ds_at_a_delegation_is_answered_by_the_parent() {
    let internet = standard_internet();
    let reply = ask(&internet, COM, "example.com", RecordType::DS);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(reply.authorities[0].name, name("com"));
}

#[test]
fn any_returns_every_rrset_of_the_node() {
    let internet = standard_internet();
    let reply = ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::ANY);
    assert_eq!(reply.answers.len(), 2);
}

#[test]
fn edns_is_answered_with_payload_1232_and_no_options() {
    let internet = standard_internet();
    let mut query = make_query(7, "www.example.com", RecordType::A, Some(4096));
    let subnet = ClientSubnet::new("192.0.2.0".parse().unwrap(), 24, 0);
    query
        .edns
        .as_mut()
        .unwrap()
        .options_mut()
        .insert(EdnsOption::Subnet(subnet));
    let reply = internet
        .respond(EXAMPLE_COM_1, &query, Protocol::Udp)
        .unwrap();
    let edns = reply.edns.expect("OPT echoed");
    assert_eq!(edns.max_payload(), 1232);
    assert!(
        edns.options().as_ref().is_empty(),
        "a plain authoritative does not echo ECS"
    );
    let plain = ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::A);
    assert!(plain.edns.is_none());
}

#[test]
fn large_answer_truncates_over_udp_without_edns_only() {
    let internet = standard_internet();
    let query = make_query(9, "big.example.com", RecordType::TXT, None);
    let udp = internet
        .respond(EXAMPLE_COM_1, &query, Protocol::Udp)
        .unwrap();
    assert!(udp.metadata.truncation);
    assert!(udp.answers.is_empty());
    assert_eq!(udp.queries, query.queries);
    let tcp = internet
        .respond(EXAMPLE_COM_1, &query, Protocol::Tcp)
        .unwrap();
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 1);
    assert!(tcp.to_vec().unwrap().len() > 512);
    let edns = make_query(9, "big.example.com", RecordType::TXT, Some(1232));
    let udp_edns = internet
        .respond(EXAMPLE_COM_1, &edns, Protocol::Udp)
        .unwrap();
    assert!(!udp_edns.metadata.truncation);
    assert_eq!(udp_edns.answers.len(), 1);
}

#[test]
fn forced_rcode_and_lameness() {
    let internet = standard_internet();
    let refused = ask(&internet, LAME_REFUSED, "www.lame.org", RecordType::A);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(refused.answers.is_empty());
    let good = ask(&internet, LAME_GOOD, "www.lame.org", RecordType::A);
    assert_eq!(rdata_strings(&good.answers), ["www.lame.org. A 192.0.2.60"]);

    let server = internet.expect_server(EXAMPLE_COM_1);
    server.set_rcode(Some(ResponseCode::ServFail));
    let servfail = ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::A);
    assert_eq!(servfail.metadata.response_code, ResponseCode::ServFail);
    server.set_rcode(None);
    server.set_lame(true);
    let lame = ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::A);
    assert_eq!(lame.metadata.response_code, ResponseCode::NoError);
    assert!(!lame.metadata.authoritative);
    assert!(lame.answers.is_empty());
    assert_eq!(
        rdata_strings(&lame.authorities),
        [". NS a.root.test.", ". NS b.root.test."]
    );
    assert_eq!(lame.additionals.len(), 2);
    server.set_lame(false);
    assert_eq!(
        ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::A)
            .answers
            .len(),
        1
    );
}

#[test]
fn dead_and_dropping_servers_do_not_answer() {
    let internet = standard_internet();
    let query = make_query(1, "www.failover.org", RecordType::A, None);
    assert!(
        internet
            .respond(FAILOVER_DEAD, &query, Protocol::Udp)
            .is_none()
    );
    assert!(
        internet
            .respond(FAILOVER_GOOD, &query, Protocol::Udp)
            .is_some()
    );
    internet.expect_server(FAILOVER_GOOD).drop_next(2);
    assert!(
        internet
            .respond(FAILOVER_GOOD, &query, Protocol::Udp)
            .is_none()
    );
    assert!(
        internet
            .respond(FAILOVER_GOOD, &query, Protocol::Tcp)
            .is_none()
    );
    assert!(
        internet
            .respond(FAILOVER_GOOD, &query, Protocol::Udp)
            .is_some()
    );
    let log = internet.queries_to(FAILOVER_GOOD);
    let answered: Vec<bool> = log.iter().map(|e| e.answered).collect();
    assert_eq!(answered, [true, false, false, true]);
}

#[test]
fn custom_responder_sees_the_raw_query_and_can_override() {
    let internet = standard_internet();
    let server = internet.expect_server(EXAMPLE_COM_1);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    server.set_responder(move |query, info| {
        seen2.lock().unwrap().push(info.wire.to_vec());
        if query.queries[0].name() == &name("special.example.com") {
            let mut reply = info.zone_response(query);
            reply.metadata.response_code = ResponseCode::NoError;
            reply.answers.clear();
            reply.authorities.clear();
            reply.add_answer(Record::from_rdata(
                query.queries[0].name().clone(),
                5,
                RData::A("198.51.100.1".parse().unwrap()),
            ));
            ResponderAction::Reply(reply)
        } else if query.queries[0].name() == &name("drop.example.com") {
            ResponderAction::Drop
        } else {
            ResponderAction::Continue
        }
    });
    let special = make_query(3, "special.example.com", RecordType::A, None);
    let reply = internet
        .respond(EXAMPLE_COM_1, &special, Protocol::Udp)
        .unwrap();
    assert_eq!(
        rdata_strings(&reply.answers),
        ["special.example.com. A 198.51.100.1"]
    );
    assert_eq!(seen.lock().unwrap()[0], special.to_vec().unwrap());
    let dropped = make_query(3, "drop.example.com", RecordType::A, None);
    assert!(
        internet
            .respond(EXAMPLE_COM_1, &dropped, Protocol::Udp)
            .is_none()
    );
    assert_eq!(
        ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::A)
            .answers
            .len(),
        1
    );
    server.clear_responder();
    let after = ask(
        &internet,
        EXAMPLE_COM_1,
        "special.example.com",
        RecordType::A,
    );
    assert_eq!(after.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn replacing_a_zone_changes_the_answers() {
    let internet = standard_internet();
    let text = BRIEF_ZONE.replace("192.0.2.10", "192.0.2.77");
    assert_eq!(
        internet.replace_zone(Zone::parse("example.com.", &text).unwrap()),
        2
    );
    for server in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        let reply = ask(&internet, server, "www.example.com", RecordType::A);
        assert_eq!(
            rdata_strings(&reply.answers),
            ["www.example.com. A 192.0.2.77"]
        );
    }
}

#[test]
fn query_without_a_question_gets_formerr_with_its_id() {
    let internet = standard_internet();
    let mut query = make_query(0x4242, "www.example.com", RecordType::A, None);
    query.queries.clear();
    let reply = internet
        .respond(EXAMPLE_COM_1, &query, Protocol::Udp)
        .unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reply.metadata.id, 0x4242);
}

#[test]
fn zone_errors_are_reported() {
    let out = Zone::parse(
        "example.com",
        "@ 60 IN SOA a. b. 1 2 3 4 5\nwww.example.org. 60 IN A 192.0.2.1\n",
    );
    assert!(matches!(out, Err(ZoneError::OutOfZone { .. })), "{out:?}");
    let no_soa = Zone::parse("example.com", "www 60 IN A 192.0.2.1\n");
    assert!(matches!(no_soa, Err(ZoneError::NoSoa { .. })), "{no_soa:?}");
    let bad = Zone::parse("example.com", "www 60 IN A not-an-address\n");
    assert!(matches!(bad, Err(ZoneError::Parse { .. })), "{bad:?}");
}

#[test]
fn builder_rejects_bad_servers() {
    let soa = "@ 60 IN SOA a. b. 1 2 3 4 5\n";
    let mut b = InternetBuilder::new();
    b.zone("example.com", soa)
        .server("192.0.2.1".parse().unwrap(), &["example.com"]);
    assert!(matches!(b.build(), Err(BuildError::NotLoopback(_))));
    let mut b = InternetBuilder::new();
    b.zone("example.com", soa)
        .server("127.0.0.2".parse().unwrap(), &["example.org"]);
    assert!(matches!(b.build(), Err(BuildError::UnknownZone { .. })));
    let mut b = InternetBuilder::new();
    b.zone("example.com", soa)
        .server("127.0.0.2".parse().unwrap(), &["example.com"])
        .server("127.0.0.2".parse().unwrap(), &["example.com"]);
    assert!(matches!(b.build(), Err(BuildError::DuplicateServer(_))));
    let mut b = InternetBuilder::new();
    b.zone("example.com", soa)
        .server("fd53::1".parse().unwrap(), &["example.com"]);
    assert!(
        b.build().is_ok(),
        "unique-local IPv6 is allowed (in memory)"
    );
}

#[test]
fn root_hints_come_from_the_root_zone() {
    let internet = standard_internet();
    let hints = internet.root_hints();
    assert_eq!(
        hints,
        [(name("a.root.test"), ROOT_A), (name("b.root.test"), ROOT_B)]
    );
    let text = internet.root_hints_text();
    assert!(text.contains("a.root.test."), "{text}");
    let (_, rrsets) = Parser::new(text.as_str(), None, Some(name(".")))
        .parse()
        .unwrap();
    let mut parsed: Vec<String> = rrsets
        .values()
        .flat_map(|s| {
            s.records_without_rrsigs()
                .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        })
        .collect();
    parsed.sort();
    assert_eq!(
        parsed,
        [
            ". 3600000 NS a.root.test.",
            ". 3600000 NS b.root.test.",
            "a.root.test. 3600000 A 127.53.0.1",
            "b.root.test. 3600000 A 127.53.0.2",
        ]
    );
}

#[test]
fn standard_internet_has_the_documented_servers() {
    let internet = standard_internet();
    assert_eq!(internet.port(), 53);
    assert_eq!(internet.server_addrs().len(), 15);
    assert!(
        internet
            .server_addrs()
            .iter()
            .all(|a| a.to_string().starts_with("127.53."))
    );
    assert!(internet.expect_server(FAILOVER_DEAD).behaviour().dead);
    assert!(internet.expect_server(TC_NET).behaviour().truncate_udp);
    assert_eq!(
        internet.expect_server(LAME_REFUSED).behaviour().rcode,
        Some(ResponseCode::Refused)
    );
    // Every delegation in the tree leads to a server that is authoritative for the child.
    for (parent, child, qname) in [
        (ROOT_A, COM, "example.com"),
        (ROOT_A, NET, "example.net"),
        (ROOT_A, ORG, "glueless.org"),
        (COM, EXAMPLE_COM_1, "www.example.com"),
        (NET, EXAMPLE_NET, "www.example.net"),
        (NET, TC_NET, "www.tc.net"),
        (ORG, FAILOVER_GOOD, "www.failover.org"),
        (ORG, LAME_GOOD, "www.lame.org"),
    ] {
        let referral = ask(&internet, parent, qname, RecordType::A);
        let glue: Vec<String> = referral
            .additionals
            .iter()
            .map(|r| r.data.to_string())
            .collect();
        assert!(glue.contains(&child.to_string()), "{qname}: {glue:?}");
    }
    let tc_over_tcp = make_query(1, "www.tc.net", RecordType::A, None);
    let reply = internet
        .respond(TC_NET, &tc_over_tcp, Protocol::Tcp)
        .unwrap();
    assert_eq!(rdata_strings(&reply.answers), ["www.tc.net. A 192.0.2.40"]);
    let back = ask(&internet, EXAMPLE_NET, "back.example.net", RecordType::A);
    assert_eq!(
        rdata_strings(&back.answers),
        ["back.example.net. CNAME www.example.com."]
    );
}

#[test]
fn a_server_may_deny_empty_non_terminals_like_a_broken_one() {
    let internet = standard_internet();
    internet
        .expect_server(EXAMPLE_COM_1)
        .set_nxdomain_for_empty_non_terminals(true);
    for qname in ["ent.example.com", "b.ent.example.com"] {
        let reply = ask(&internet, EXAMPLE_COM_1, qname, RecordType::A);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NXDomain,
            "{qname}"
        );
        assert_eq!(soa_of(&reply), (3600, 60));
    }
    // Names that own records, and the other server, answer as before.
    let leaf = ask(
        &internet,
        EXAMPLE_COM_1,
        "a.b.ent.example.com",
        RecordType::A,
    );
    assert_eq!(
        rdata_strings(&leaf.answers),
        ["a.b.ent.example.com. A 192.0.2.11"]
    );
    let nodata = ask(&internet, EXAMPLE_COM_1, "www.example.com", RecordType::MX);
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    let other = ask(&internet, EXAMPLE_COM_2, "ent.example.com", RecordType::A);
    assert_eq!(other.metadata.response_code, ResponseCode::NoError);
}

/// The standard internet with `moved.example.com. DNAME example.net.`, `old.example.com. DNAME
/// example.com.` and `long.example.com.` DNAME to a 205-octet name.
fn with_dnames() -> Internet {
    let internet = standard_internet();
    let zone = internet
        .expect_server(EXAMPLE_COM_1)
        .zones()
        .into_iter()
        .find(|z| z.origin() == &name("example.com."))
        .unwrap();
    let long = format!(
        "{}.{}.{}.example.net.",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63)
    );
    let text =
        format!("moved 300 IN DNAME example.net.\nold 300 DNAME @\n$TTL 600\nlong DNAME {long}\n");
    assert_eq!(internet.replace_zone(zone.with_records(&text).unwrap()), 2);
    internet
}

#[test]
fn a_dname_redirects_the_names_below_it_with_a_synthesised_cname() {
    let internet = with_dnames();
    let reply = ask(
        &internet,
        EXAMPLE_COM_1,
        "www.moved.example.com",
        RecordType::A,
    );
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    let types: Vec<_> = reply.answers.iter().map(Record::record_type).collect();
    assert_eq!(types, [RecordType::DNAME, RecordType::CNAME]);
    assert_eq!(reply.answers[0].name, name("moved.example.com."));
    assert_eq!(
        scoped_cache::dname::dname_target(&reply.answers[0]),
        Some(name("example.net."))
    );
    assert_eq!(
        rdata_strings(&reply.answers[1..]),
        ["www.moved.example.com. CNAME www.example.net."]
    );
    assert_eq!(reply.answers[1].ttl, 300, "the DNAME's TTL");
}

#[test]
fn a_dname_into_its_own_zone_is_followed_to_the_data() {
    let internet = with_dnames();
    let reply = ask(
        &internet,
        EXAMPLE_COM_1,
        "www.old.example.com",
        RecordType::A,
    );
    assert_eq!(
        rdata_strings(&reply.answers[1..]),
        [
            "www.old.example.com. CNAME www.example.com.",
            "www.example.com. A 192.0.2.10"
        ]
    );
    let missing = ask(
        &internet,
        EXAMPLE_COM_1,
        "nope.old.example.com",
        RecordType::A,
    );
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(missing.answers.len(), 2);
    // A CNAME question gets the synthesised CNAME, not what it points to.
    let cname = ask(
        &internet,
        EXAMPLE_COM_1,
        "www.old.example.com",
        RecordType::CNAME,
    );
    assert_eq!(cname.answers.len(), 2);
}

#[test]
fn the_owner_of_a_dname_answers_for_itself() {
    let internet = with_dnames();
    let reply = ask(&internet, EXAMPLE_COM_1, "moved.example.com", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    let reply = ask(
        &internet,
        EXAMPLE_COM_1,
        "moved.example.com",
        RecordType::DNAME,
    );
    let types: Vec<_> = reply.answers.iter().map(Record::record_type).collect();
    assert_eq!(types, [RecordType::DNAME]);
}

#[test]
fn a_dname_making_a_name_too_long_is_yxdomain() {
    let internet = with_dnames();
    let qname = format!("{}.long.example.com", "d".repeat(50));
    let reply = ask(&internet, EXAMPLE_COM_1, &qname, RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::YXDomain);
    let types: Vec<_> = reply.answers.iter().map(Record::record_type).collect();
    assert_eq!(types, [RecordType::DNAME]);
    assert_eq!(reply.answers[0].ttl, 600, "from $TTL");
}

#[test]
fn dname_lines_must_name_their_owner_and_one_target() {
    let soa = "@ 60 IN SOA ns. h. 1 2 3 4 5\n@ 60 IN NS ns.\n";
    for bad in [
        "   60 IN DNAME elsewhere.",
        "x 60 IN DNAME",
        "x 60 IN DNAME a. b.",
        "x DNAME elsewhere.",
        "x 60 CH DNAME elsewhere.",
    ] {
        let text = format!("{soa}{bad}\n");
        assert!(
            matches!(Zone::parse("d.test", &text), Err(ZoneError::Parse { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn authority_ns_puts_the_zones_ns_set_beside_positive_answers_only() {
    let internet = standard_internet();
    internet.expect_server(EXAMPLE_COM_1).set_authority_ns(true);
    let answer = ask(&internet, EXAMPLE_COM_1, "www.example.com.", RecordType::A);
    assert!(answer.metadata.authoritative);
    assert_eq!(
        rdata_strings(&answer.authorities),
        vec![
            "example.com. NS ns1.example.com.",
            "example.com. NS ns2.example.com."
        ]
    );
    assert_eq!(
        rdata_strings(&answer.additionals),
        vec![
            "ns1.example.com. A 127.53.2.1",
            "ns2.example.com. A 127.53.2.2"
        ]
    );
    // Negative answers keep their SOA alone, referrals their child's NS set.
    let nx = ask(&internet, EXAMPLE_COM_1, "nx.example.com.", RecordType::A);
    assert_eq!(nx.authorities.len(), 1);
    assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
    let referral = ask(
        &internet,
        EXAMPLE_COM_1,
        "www.sub.example.com.",
        RecordType::A,
    );
    assert_eq!(
        rdata_strings(&referral.authorities),
        vec!["sub.example.com. NS ns.sub.example.com."]
    );
    // Off by default.
    let plain = ask(&internet, EXAMPLE_COM_2, "www.example.com.", RecordType::A);
    assert!(plain.authorities.is_empty());
}
