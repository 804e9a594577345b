use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::{MessageType, OpCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};

use super::*;

mod authority;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}
fn a(owner: &str, last: u8) -> Record {
    Record::from_rdata(n(owner), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, last))))
}
fn ns(owner: &str, target: &str) -> Record {
    Record::from_rdata(n(owner), 86400, RData::NS(NS(n(target))))
}
fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
}
fn dname(owner: &str, target: &str) -> Record {
    scoped_cache::dname::dname_record(n(owner), 600, &n(target))
}
fn aaaa(owner: &str) -> Record {
    let addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    Record::from_rdata(
        n(owner),
        300,
        RData::AAAA(hickory_proto::rr::rdata::AAAA(addr)),
    )
}
fn soa(owner: &str) -> Record {
    let data = SOA::new(n("ns.example."), n("h.example."), 1, 1, 1, 1, 60);
    Record::from_rdata(n(owner), 300, RData::SOA(data))
}
fn response(rcode: ResponseCode, aa: bool) -> Message {
    let mut msg = Message::new(1, MessageType::Response, OpCode::Query);
    msg.metadata.response_code = rcode;
    msg.metadata.authoritative = aa;
    msg
}

#[test]
fn referral_with_in_bailiwick_glue_only() {
    let mut msg = response(ResponseCode::NoError, false);
    msg.authorities.push(ns("example.com.", "ns1.example.com."));
    msg.authorities.push(ns("example.com.", "ns.other.net."));
    msg.additionals.push(a("ns1.example.com.", 1));
    // Out of the com. server's bailiwick: must be ignored.
    msg.additionals.push(a("ns.other.net.", 66));
    // Not an NS target: ignored.
    msg.additionals.push(a("www.example.com.", 99));
    let got = classify(&msg, &n("com."), &n("www.example.com."), RecordType::A);
    let Classified::Referral {
        delegation,
        glue,
        ns_records,
    } = got
    else {
        panic!("{got:?}")
    };
    assert_eq!(delegation.zone, n("example.com."));
    assert_eq!(ns_records.len(), 2);
    assert_eq!(glue, vec![a("ns1.example.com.", 1)]);
    assert_eq!(
        delegation.servers[0].addrs,
        vec![IpAddr::from([192, 0, 2, 1])]
    );
    assert!(delegation.servers[1].addrs.is_empty(), "glueless target");
}

#[test]
fn upward_referral_is_lame() {
    let mut msg = response(ResponseCode::NoError, false);
    msg.authorities.push(ns(".", "a.root.test."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::UpwardReferral));
}

#[test]
fn referral_to_same_zone_is_lame() {
    let mut msg = response(ResponseCode::NoError, false);
    msg.authorities.push(ns("example.com.", "ns1.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::UpwardReferral));
}

#[test]
fn referral_not_towards_qname_is_lame() {
    let mut msg = response(ResponseCode::NoError, false);
    msg.authorities.push(ns("evil.com.", "ns.evil.com."));
    let got = classify(&msg, &n("com."), &n("www.example.com."), RecordType::A);
    assert_eq!(got, Classified::Lame(LameReason::UpwardReferral));
}

#[test]
fn answer_out_of_bailiwick_is_ignored() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(a("www.victim.net.", 66));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.victim.net."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::NoUsableData));
}

#[test]
fn cname_chain_inside_zone_is_followed() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(cname("www.example.com.", "web.example.com."));
    msg.answers.push(a("web.example.com.", 5));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Answer {
        links,
        records,
        authoritative,
    }) = got
    else {
        panic!()
    };
    assert_eq!(links.len(), 1);
    assert_eq!(records, vec![a("web.example.com.", 5)]);
    assert!(authoritative);
}

#[test]
fn cname_out_of_zone_target_is_not_trusted() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(cname("www.example.com.", "cdn.example.net."));
    // The example.com server has no say over example.net: this A must not be used.
    msg.answers.push(a("cdn.example.net.", 66));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Cname { links, next, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(links.len(), 1);
    assert_eq!(next, n("cdn.example.net."));
}

#[test]
fn cname_query_returns_the_cname_itself() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(cname("www.example.com.", "web.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::CNAME,
    );
    assert!(matches!(got, Classified::Final(Step::Answer { ref links, .. }) if links.is_empty()));
}

#[test]
fn cname_loop_in_response_is_unusable() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(cname("a.example.com.", "b.example.com."));
    msg.answers.push(cname("b.example.com.", "a.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("a.example.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::NoUsableData));
}

#[test]
fn nxdomain_with_soa() {
    let mut msg = response(ResponseCode::NXDomain, true);
    msg.authorities.push(soa("example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("nope.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::NxDomain {
        name, soa: Some(_), ..
    }) = got
    else {
        panic!()
    };
    assert_eq!(name, n("nope.example.com."));
}

#[test]
fn soa_out_of_bailiwick_is_ignored() {
    let mut msg = response(ResponseCode::NXDomain, false);
    msg.authorities.push(soa("victim.net."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("nope.example.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::NoUsableData));
}

#[test]
fn nxdomain_after_cname_names_the_target() {
    let mut msg = response(ResponseCode::NXDomain, true);
    msg.answers
        .push(cname("www.example.com.", "gone.example.com."));
    msg.authorities.push(soa("example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::NxDomain { links, name, .. }) = got else {
        panic!()
    };
    assert_eq!(links.len(), 1);
    assert_eq!(name, n("gone.example.com."));
}

#[test]
fn nodata_with_soa() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.authorities.push(soa("example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::AAAA,
    );
    assert!(matches!(
        got,
        Classified::Final(Step::NoData { soa: Some(_), .. })
    ));
}

#[test]
fn error_rcodes_are_lame() {
    for rcode in [
        ResponseCode::ServFail,
        ResponseCode::Refused,
        ResponseCode::NotImp,
    ] {
        let got = classify(
            &response(rcode, false),
            &n("com."),
            &n("x.com."),
            RecordType::A,
        );
        assert_eq!(got, Classified::Lame(LameReason::Rcode(rcode)));
    }
}

#[test]
fn empty_non_authoritative_response_is_lame() {
    let got = classify(
        &response(ResponseCode::NoError, false),
        &n("com."),
        &n("x.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::NoUsableData));
}

#[test]
fn a_dname_is_followed_with_the_cname_synthesised_from_it() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(dname("old.example.com.", "new.example.com."));
    msg.answers
        .push(cname("www.old.example.com.", "www.new.example.com."));
    msg.answers.push(a("www.new.example.com.", 5));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.old.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Answer { links, records, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(links[0], dname("old.example.com.", "new.example.com."));
    // Synthesised here, with the DNAME's TTL (the server's CNAME said 300).
    let mut synthesised = cname("www.old.example.com.", "www.new.example.com.");
    synthesised.ttl = 600;
    assert_eq!(links[1], synthesised);
    assert_eq!(records, vec![a("www.new.example.com.", 5)]);
    assert_eq!(cacheable_links(&links).count(), 1, "the DNAME only");
}

#[test]
fn the_servers_cname_beside_a_dname_is_replaced_by_the_synthesised_one() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(dname("old.example.com.", "new.example.com."));
    // A CNAME that does not match the DNAME: ignored, and so is where it points.
    msg.answers
        .push(cname("www.old.example.com.", "evil.example.com."));
    msg.answers.push(a("evil.example.com.", 66));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.old.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Cname { links, next, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(next, n("www.new.example.com."));
    assert_eq!(links.len(), 2);
}

#[test]
fn a_dname_leading_out_of_the_zone_is_resolved_elsewhere() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(dname("old.example.com.", "example.net."));
    msg.answers
        .push(cname("www.old.example.com.", "www.example.net."));
    // Not the example.com servers' to say.
    msg.answers.push(a("www.example.net.", 66));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.old.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Cname { links, next, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(next, n("www.example.net."));
    assert_eq!(
        links.iter().map(Record::record_type).collect::<Vec<_>>(),
        vec![RecordType::DNAME, RecordType::CNAME]
    );
}

#[test]
fn a_dname_outside_the_servers_zone_is_ignored() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(dname("com.", "attacker.example."));
    msg.answers.push(a("www.example.com.", 5));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Answer { links, records, .. }) = got else {
        panic!("{got:?}")
    };
    assert!(links.is_empty());
    assert_eq!(records, vec![a("www.example.com.", 5)]);
}

#[test]
fn the_owner_of_a_dname_is_answered_as_itself() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(dname("old.example.com.", "new.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("old.example.com."),
        RecordType::DNAME,
    );
    let Classified::Final(Step::Answer { links, records, .. }) = got else {
        panic!("{got:?}")
    };
    assert!(links.is_empty());
    assert_eq!(records, vec![dname("old.example.com.", "new.example.com.")]);
}

#[test]
fn a_cname_question_below_a_dname_is_answered_by_the_synthesised_cname() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(dname("old.example.com.", "new.example.com."));
    msg.answers
        .push(cname("www.old.example.com.", "www.new.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.old.example.com."),
        RecordType::CNAME,
    );
    let Classified::Final(Step::Answer { links, records, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(links.len(), 1);
    assert_eq!(records.len(), 1);
    assert!(synthesised_answer(&links, &records));
}

#[test]
fn a_dname_making_a_name_too_long_is_yxdomain() {
    let long = format!(
        "{}.{}.{}.example.net.",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63)
    );
    let mut msg = response(ResponseCode::YXDomain, true);
    msg.answers.push(dname("long.example.com.", &long));
    let qname = n(&format!("{}.long.example.com.", "d".repeat(50)));
    let got = classify(&msg, &n("example.com."), &qname, RecordType::A);
    let Classified::Final(Step::NoData {
        links, rcode, soa, ..
    }) = got
    else {
        panic!("{got:?}")
    };
    assert_eq!(rcode, ResponseCode::YXDomain);
    assert_eq!(links, vec![dname("long.example.com.", &long)]);
    assert!(soa.is_none());
}

#[test]
fn yxdomain_without_a_dname_that_explains_it_is_an_error() {
    let mut msg = response(ResponseCode::YXDomain, true);
    msg.answers
        .push(dname("old.example.com.", "new.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.old.example.com."),
        RecordType::A,
    );
    // The DNAME leads to a short name: the rcode is the server's error.
    assert_eq!(
        got,
        Classified::Lame(LameReason::Rcode(ResponseCode::YXDomain))
    );
    let msg = response(ResponseCode::YXDomain, true);
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    assert_eq!(
        got,
        Classified::Lame(LameReason::Rcode(ResponseCode::YXDomain))
    );
}

#[test]
fn a_dname_loop_in_one_response_is_unusable() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(dname("a.example.com.", "b.example.com."));
    msg.answers.push(dname("b.example.com.", "a.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("x.a.example.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::NoUsableData));
}

#[test]
fn a_dname_below_its_own_owner_stops_at_the_limit() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers
        .push(dname("grow.example.com.", "a.grow.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("x.grow.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Cname { links, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(scoped_cache::hops(&links), MAX_LINKS_IN_RESPONSE + 1);
}

#[test]
fn another_type_at_the_name_is_not_the_answer_and_not_a_nodata_without_soa() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(a("www.example.com.", 5));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::AAAA,
    );
    assert_eq!(got, Classified::Lame(LameReason::UnaskedData));
}

#[test]
fn another_type_at_the_name_with_the_zones_soa_is_a_nodata() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(a("www.example.com.", 5));
    msg.authorities.push(soa("example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::AAAA,
    );
    let Classified::Final(Step::NoData {
        links, soa, rcode, ..
    }) = got
    else {
        panic!("{got:?}")
    };
    assert!(links.is_empty());
    assert!(soa.is_some());
    assert_eq!(rcode, ResponseCode::NoError);
}

#[test]
fn the_asked_type_beside_another_is_the_answer_alone() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(a("www.example.com.", 5));
    msg.answers.push(aaaa("www.example.com."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::AAAA,
    );
    let Classified::Final(Step::Answer { records, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(records, vec![aaaa("www.example.com.")]);
}

#[test]
fn an_empty_authoritative_answer_is_still_a_nodata() {
    let got = classify(
        &response(ResponseCode::NoError, true),
        &n("example.com."),
        &n("www.example.com."),
        RecordType::AAAA,
    );
    assert!(matches!(
        got,
        Classified::Final(Step::NoData { soa: None, .. })
    ));
}
