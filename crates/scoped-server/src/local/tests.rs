use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR};
use hickory_proto::rr::{Name, RData, RecordType};

use super::*;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn zones(nodefault: &[&str], zones: &[&str], records: &[&str]) -> LocalZones {
    LocalZones::build(&config(nodefault, zones, records)).unwrap()
}

fn config(nodefault: &[&str], zones: &[&str], records: &[&str]) -> LocalConfig {
    LocalConfig {
        nodefault: nodefault.iter().map(|s| (*s).to_owned()).collect(),
        zones: zones.iter().map(|s| s.parse().unwrap()).collect(),
        records: records.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The answer, checked against `intercepts` (the fast path must agree with the full path).
fn ask(table: &LocalZones, qname: &str, qtype: RecordType) -> Option<LocalAnswer> {
    let answer = table.answer(&name(qname), qtype);
    assert_eq!(
        table.intercepts(&wire_name(&name(qname))),
        answer.is_some(),
        "intercepts agrees with answer for {qname}"
    );
    answer
}

fn rcode(table: &LocalZones, qname: &str, qtype: RecordType) -> Option<ResponseCode> {
    ask(table, qname, qtype).map(|a| a.rcode)
}

/// A negative answer: `rcode`, no answers, one SOA owned by `zone`.
fn assert_negative(
    table: &LocalZones,
    qname: &str,
    qtype: RecordType,
    rcode: ResponseCode,
    zone: &str,
) {
    let answer = ask(table, qname, qtype).unwrap_or_else(|| panic!("{qname} is local"));
    assert_eq!(answer.rcode, rcode, "{qname}");
    assert!(answer.answers.is_empty(), "{qname}: {:?}", answer.answers);
    assert_eq!(answer.authorities.len(), 1, "{qname}");
    assert_eq!(
        answer.authorities[0].record_type(),
        RecordType::SOA,
        "{qname}"
    );
    assert_eq!(answer.authorities[0].name, name(zone), "{qname}");
}

#[test]
fn localhost_answers_loopback_for_itself_and_every_name_below() {
    let table = LocalZones::defaults();
    for qname in ["localhost.", "LocalHost.", "a.b.localhost."] {
        let a = ask(&table, qname, RecordType::A).unwrap();
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert_eq!(a.answers.len(), 1, "{qname}");
        assert_eq!(a.answers[0].data, RData::A(A(Ipv4Addr::LOCALHOST)));
        assert_eq!(a.answers[0].name, name(qname), "owner as asked");
        let aaaa = ask(&table, qname, RecordType::AAAA).unwrap();
        assert_eq!(aaaa.answers[0].data, RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)));
    }
    let soa = ask(&table, "localhost.", RecordType::SOA).unwrap();
    assert_eq!(soa.answers[0].record_type(), RecordType::SOA);
    let ns = ask(&table, "localhost.", RecordType::NS).unwrap();
    assert_eq!(
        ns.answers[0].data,
        RData::NS(hickory_proto::rr::rdata::NS(name("localhost.")))
    );
    assert_negative(
        &table,
        "localhost.",
        RecordType::MX,
        ResponseCode::NoError,
        "localhost.",
    );
}

#[test]
fn loopback_reverse_names_point_at_localhost_and_the_rest_of_127_is_nxdomain() {
    let table = LocalZones::defaults();
    for qname in [
        "1.0.0.127.in-addr.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    ] {
        let answer = ask(&table, qname, RecordType::PTR).unwrap();
        assert_eq!(answer.rcode, ResponseCode::NoError);
        assert!(answer.authorities.is_empty());
        assert_eq!(answer.answers[0].data, RData::PTR(PTR(name("localhost."))));
    }
    assert_negative(
        &table,
        "2.0.0.127.in-addr.arpa.",
        RecordType::PTR,
        ResponseCode::NXDomain,
        "127.in-addr.arpa.",
    );
    let answer = ask(&table, "2.0.0.127.in-addr.arpa.", RecordType::PTR).unwrap();
    assert_eq!(
        answer.authorities[0].ttl, 10800,
        "negative TTL min(SOA TTL, MINIMUM)"
    );
}

#[test]
fn rfc6303_zones_are_nxdomain_with_their_own_soa_and_their_neighbours_are_not_local() {
    let table = LocalZones::defaults();
    // The apex exists (it holds the zone's SOA and NS): NODATA there, NXDOMAIN below.
    assert_negative(
        &table,
        "10.in-addr.arpa.",
        RecordType::PTR,
        ResponseCode::NoError,
        "10.in-addr.arpa.",
    );
    for (qname, zone) in [
        ("4.3.2.10.in-addr.arpa.", "10.in-addr.arpa."),
        ("1.16.172.in-addr.arpa.", "16.172.in-addr.arpa."),
        ("1.31.172.in-addr.arpa.", "31.172.in-addr.arpa."),
        ("1.1.168.192.in-addr.arpa.", "168.192.in-addr.arpa."),
        ("1.64.100.in-addr.arpa.", "64.100.in-addr.arpa."),
        ("1.127.100.in-addr.arpa.", "127.100.in-addr.arpa."),
        ("1.1.254.169.in-addr.arpa.", "254.169.in-addr.arpa."),
        ("0.0.0.0.in-addr.arpa.", "0.in-addr.arpa."),
        ("7.2.0.192.in-addr.arpa.", "2.0.192.in-addr.arpa."),
        ("7.100.51.198.in-addr.arpa.", "100.51.198.in-addr.arpa."),
        ("7.113.0.203.in-addr.arpa.", "113.0.203.in-addr.arpa."),
        (
            "x.255.255.255.255.in-addr.arpa.",
            "255.255.255.255.in-addr.arpa.",
        ),
        (
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
            "d.f.ip6.arpa.",
        ),
        ("0.c.f.ip6.arpa.", "c.f.ip6.arpa."),
        ("0.8.e.f.ip6.arpa.", "8.e.f.ip6.arpa."),
        ("f.b.e.f.ip6.arpa.", "b.e.f.ip6.arpa."),
        ("1.8.b.d.0.1.0.0.2.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."),
    ] {
        assert_negative(&table, qname, RecordType::PTR, ResponseCode::NXDomain, zone);
    }
    let unspecified = "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.";
    assert_negative(
        &table,
        unspecified,
        RecordType::PTR,
        ResponseCode::NoError,
        unspecified,
    );
    for public in [
        "1.15.172.in-addr.arpa.",
        "1.32.172.in-addr.arpa.",
        "1.63.100.in-addr.arpa.",
        "1.128.100.in-addr.arpa.",
        "8.8.8.8.in-addr.arpa.",
        "in-addr.arpa.",
        "arpa.",
        "e.f.ip6.arpa.",
        "c.e.f.ip6.arpa.",
        "www.example.com.",
        ".",
    ] {
        assert!(
            ask(&table, public, RecordType::PTR).is_none(),
            "{public} is resolved"
        );
    }
}

#[test]
fn special_use_names_are_nxdomain_whatever_their_case() {
    let table = LocalZones::defaults();
    for (qname, zone) in [
        ("www.Invalid.", "invalid."),
        ("x.TEST.", "test."),
        ("facebookcorewwwi.onion.", "onion."),
        ("printer.home.arpa.", "home.arpa."),
    ] {
        assert_negative(&table, qname, RecordType::A, ResponseCode::NXDomain, zone);
    }
    let soa = ask(&table, "test.", RecordType::SOA).unwrap();
    assert_eq!(
        soa.answers.len(),
        1,
        "the apex SOA is there to be asked for"
    );
    for apex in ["invalid.", "onion.", "home.arpa."] {
        assert_negative(&table, apex, RecordType::A, ResponseCode::NoError, apex);
    }
}

#[test]
fn nodefault_turns_one_default_zone_off_and_must_name_one() {
    let table = zones(&["test.", "10.in-addr.arpa"], &[], &[]);
    assert!(ask(&table, "a.test.", RecordType::A).is_none());
    assert!(ask(&table, "1.10.in-addr.arpa.", RecordType::PTR).is_none());
    assert_eq!(
        rcode(&table, "a.invalid.", RecordType::A),
        Some(ResponseCode::NXDomain)
    );
    let err = LocalZones::build(&config(&["invalid.", "tset."], &[], &[])).unwrap_err();
    assert_eq!((err.key, err.index), ("local.nodefault", 1));
    assert!(err.to_string().contains("not a default zone"), "{err}");
}

#[test]
fn local_data_under_home_arpa_is_answered_and_the_rest_stays_nxdomain() {
    let defaults = LocalZones::defaults().data_names();
    let table = zones(
        &[],
        &[],
        &[
            "printer.home.arpa. 300 IN A 192.168.1.20",
            "nas.lan.home.arpa. A 192.168.1.30",
        ],
    );
    let answer = ask(&table, "Printer.Home.Arpa.", RecordType::A).unwrap();
    assert_eq!(answer.rcode, ResponseCode::NoError);
    assert_eq!(
        answer.answers[0].data,
        RData::A(A(Ipv4Addr::new(192, 168, 1, 20)))
    );
    assert_eq!(answer.answers[0].ttl, 300);
    let answer = ask(&table, "nas.lan.home.arpa.", RecordType::A).unwrap();
    assert_eq!(answer.answers[0].ttl, 3600, "the default TTL");
    assert_negative(
        &table,
        "printer.home.arpa.",
        RecordType::AAAA,
        ResponseCode::NoError,
        "home.arpa.",
    );
    assert_negative(
        &table,
        "lan.home.arpa.",
        RecordType::A,
        ResponseCode::NoError,
        "home.arpa.",
    );
    assert_negative(
        &table,
        "scanner.home.arpa.",
        RecordType::A,
        ResponseCode::NXDomain,
        "home.arpa.",
    );
    assert_eq!(
        table.data_names(),
        defaults + 2,
        "lan.home.arpa. is an empty non-terminal"
    );
}

#[test]
fn the_four_kinds_answer_as_unbound_does() {
    let table = zones(
        &[],
        &[
            "corp.example. static",
            "lan.example. transparent",
            "no.example. refuse",
            "ads.example. always-nxdomain",
        ],
        &[
            "www.corp.example. A 10.0.0.1",
            "nas.lan.example. A 10.0.0.2",
            "ok.no.example. A 10.0.0.3",
            "track.ads.example. A 10.0.0.4",
        ],
    );
    // static
    assert_eq!(
        ask(&table, "www.corp.example.", RecordType::A)
            .unwrap()
            .answers
            .len(),
        1
    );
    assert_negative(
        &table,
        "www.corp.example.",
        RecordType::MX,
        ResponseCode::NoError,
        "corp.example.",
    );
    assert_negative(
        &table,
        "mail.corp.example.",
        RecordType::A,
        ResponseCode::NXDomain,
        "corp.example.",
    );
    // transparent
    assert_eq!(
        ask(&table, "nas.lan.example.", RecordType::A)
            .unwrap()
            .answers
            .len(),
        1
    );
    assert_negative(
        &table,
        "nas.lan.example.",
        RecordType::AAAA,
        ResponseCode::NoError,
        "lan.example.",
    );
    assert!(
        ask(&table, "www.lan.example.", RecordType::A).is_none(),
        "resolved as usual"
    );
    assert!(ask(&table, "lan.example.", RecordType::A).is_none());
    // refuse
    assert_eq!(
        ask(&table, "ok.no.example.", RecordType::A)
            .unwrap()
            .answers
            .len(),
        1
    );
    let refused = ask(&table, "other.no.example.", RecordType::A).unwrap();
    assert_eq!(refused.rcode, ResponseCode::Refused);
    assert!(refused.answers.is_empty() && refused.authorities.is_empty());
    // always-nxdomain, even for its local data
    for qname in ["ads.example.", "track.ads.example.", "x.y.ads.example."] {
        assert_negative(
            &table,
            qname,
            RecordType::A,
            ResponseCode::NXDomain,
            "ads.example.",
        );
    }
    assert!(ask(&table, "example.", RecordType::A).is_none());
}

#[test]
fn a_zone_inside_another_takes_over_below_it() {
    let table = zones(
        &[],
        &["example. always-nxdomain", "ok.example. transparent"],
        &[],
    );
    assert_eq!(
        rcode(&table, "a.example.", RecordType::A),
        Some(ResponseCode::NXDomain)
    );
    assert!(ask(&table, "a.ok.example.", RecordType::A).is_none());
}

#[test]
fn a_configured_zone_replaces_the_default_of_that_name() {
    let table = zones(&[], &["test. transparent"], &["box.test. A 10.1.1.1"]);
    assert!(ask(&table, "other.test.", RecordType::A).is_none());
    assert_eq!(
        rcode(&table, "box.test.", RecordType::A),
        Some(ResponseCode::NoError)
    );
    let err = LocalZones::build(&config(
        &[],
        &["a.example. static", "A.Example static"],
        &[],
    ))
    .unwrap_err();
    assert_eq!((err.key, err.index), ("local.zones", 1));
    assert!(err.problem.contains("local.zones[0]"), "{err}");
}

#[test]
fn data_outside_every_zone_gets_a_transparent_zone_of_its_own() {
    let table = zones(&[], &[], &["router.example.net. 60 A 192.0.2.1"]);
    assert_eq!(
        ask(&table, "router.example.net.", RecordType::A)
            .unwrap()
            .answers
            .len(),
        1
    );
    assert_negative(
        &table,
        "router.example.net.",
        RecordType::TXT,
        ResponseCode::NoError,
        "router.example.net.",
    );
    assert!(ask(&table, "www.example.net.", RecordType::A).is_none());
    assert!(ask(&table, "x.router.example.net.", RecordType::A).is_none());
}

#[test]
fn local_data_replaces_default_data_of_the_same_name_and_type() {
    let table = zones(&[], &[], &["localhost. A 127.0.0.2"]);
    let answer = ask(&table, "localhost.", RecordType::A).unwrap();
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(
        answer.answers[0].data,
        RData::A(A(Ipv4Addr::new(127, 0, 0, 2)))
    );
    assert_eq!(
        ask(&table, "localhost.", RecordType::AAAA)
            .unwrap()
            .answers
            .len(),
        1
    );
}

#[test]
fn the_apex_soa_of_local_data_is_the_negative_answers_soa() {
    let table = zones(
        &["home.arpa."],
        &["home.arpa. static"],
        &["home.arpa. 600 SOA ns.home.arpa. me.home.arpa. 7 1 1 1 60"],
    );
    let answer = ask(&table, "x.home.arpa.", RecordType::A).unwrap();
    assert_eq!(answer.rcode, ResponseCode::NXDomain);
    assert_eq!(answer.authorities[0].ttl, 60, "min(600, MINIMUM 60)");
    let RData::SOA(soa) = &answer.authorities[0].data else {
        panic!("an SOA")
    };
    assert_eq!(soa.serial, 7);
}

#[test]
fn a_local_cname_is_followed_within_local_data() {
    let table = zones(
        &[],
        &["corp.example. static"],
        &[
            "www.corp.example. CNAME web.corp.example.",
            "web.corp.example. A 10.0.0.9",
            "ext.corp.example. CNAME www.example.com.",
        ],
    );
    let answer = ask(&table, "www.corp.example.", RecordType::A).unwrap();
    let types: Vec<_> = answer.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::CNAME, RecordType::A]);
    let blocked = zones(
        &[],
        &["corp.example. static", "ads.example. always-nxdomain"],
        &[
            "www.corp.example. CNAME x.ads.example.",
            "x.ads.example. A 10.0.0.8",
        ],
    );
    let answer = ask(&blocked, "www.corp.example.", RecordType::A).unwrap();
    assert_eq!(
        answer.answers.len(),
        1,
        "a blocked target's data is never handed out"
    );
    let answer = ask(&table, "ext.corp.example.", RecordType::A).unwrap();
    assert_eq!(
        answer.answers.len(),
        1,
        "a target outside local data ends the chain"
    );
    assert_eq!(
        answer.answers[0].data,
        RData::CNAME(CNAME(name("www.example.com.")))
    );
}

#[test]
fn a_redirect_zone_answers_its_apex_data_for_every_name() {
    let table = zones(&[], &["ads.example. redirect"], &["ads.example. A 0.0.0.0"]);
    let answer = ask(&table, "x.y.ads.example.", RecordType::A).unwrap();
    assert_eq!(answer.answers[0].data, RData::A(A(Ipv4Addr::UNSPECIFIED)));
    assert_eq!(answer.answers[0].name, name("x.y.ads.example."));
}

/// Zone entries, record entries, then the error expected: list, index, part of the problem.
type Case = (
    &'static [&'static str],
    &'static [&'static str],
    &'static str,
    usize,
    &'static str,
);

#[test]
fn bad_entries_are_refused_with_their_index_and_problem() {
    let cases: [Case; 7] = [
        (
            &[],
            &["a.example. A 1.2.3.4", "b.example. A 999.1.1.1"],
            "local.records",
            1,
            "",
        ),
        (
            &[],
            &["a.example. A 1.2.3.4\nb.example. A 1.2.3.5"],
            "local.records",
            0,
            "exactly one record",
        ),
        (
            &[],
            &["a.example. CH A 1.2.3.4"],
            "local.records",
            0,
            "class",
        ),
        (&[], &["$ORIGIN example."], "local.records", 0, "directives"),
        (
            &[],
            &["a.example. A 1.2.3.4", "a.example. CNAME b.example."],
            "local.records",
            1,
            "CNAME",
        ),
        (&[], &[" a.example. A 1.2.3.4"], "local.records", 0, "owner"),
        (
            &["bad..name. static"],
            &[],
            "local.zones",
            0,
            "not a domain name",
        ),
    ];
    for (zone_entries, records, key, index, problem) in cases {
        let config = LocalConfig {
            nodefault: Vec::new(),
            zones: zone_entries.iter().map(|s| s.parse().unwrap()).collect(),
            records: records.iter().map(|s| (*s).to_owned()).collect(),
        };
        match LocalZones::build(&config) {
            Err(err) => {
                assert_eq!((err.key, err.index), (key, index), "{err}");
                assert!(err.problem.contains(problem), "{err}");
            }
            Ok(_) => panic!("{records:?} accepted"),
        }
    }
    assert!("ads.example. blocked".parse::<LocalZoneSpec>().is_err());
    assert!("ads.example.".parse::<LocalZoneSpec>().is_err());
    assert_eq!(
        "ads.example. always_nxdomain"
            .parse::<LocalZoneSpec>()
            .unwrap()
            .kind,
        LocalZoneKind::AlwaysNxdomain
    );
}

#[test]
fn an_empty_table_intercepts_nothing() {
    let table = LocalZones::none();
    assert!(ask(&table, "localhost.", RecordType::A).is_none());
    assert_eq!(table.zone_count(), 0);
    assert!(LocalZones::defaults().zone_count() > 90);
}

#[test]
fn a_zone_at_the_root_encloses_every_name() {
    let table = zones(&[], &[". refuse"], &["www.example.com. A 192.0.2.1"]);
    assert_eq!(
        rcode(&table, "www.example.org.", RecordType::A),
        Some(ResponseCode::Refused)
    );
    assert_eq!(
        rcode(&table, "www.example.com.", RecordType::A),
        Some(ResponseCode::NoError)
    );
    assert_eq!(
        rcode(&table, "localhost.", RecordType::A),
        Some(ResponseCode::NoError),
        "closer zone"
    );
}

#[test]
fn a_name_under_a_known_top_level_label_is_still_looked_up_label_by_label() {
    let table = zones(&[], &["ads.example.com. always-nxdomain"], &[]);
    assert!(ask(&table, "www.example.com.", RecordType::A).is_none());
    assert!(ask(&table, "com.", RecordType::A).is_none());
    assert!(ask(&table, "www.example.net.", RecordType::A).is_none());
    assert_eq!(
        rcode(&table, "a.ADS.example.com.", RecordType::A),
        Some(ResponseCode::NXDomain)
    );
}

#[test]
fn records_of_other_types_read_as_in_a_zone_file() {
    let table = zones(
        &[],
        &[],
        &[
            "note.home.arpa. TXT \"hello world\" \"second string\"",
            "home.arpa. MX 10 mail.home.arpa.",
            "_ipp._tcp.home.arpa. 120 IN SRV 0 0 631 printer.home.arpa.",
            "nas.home.arpa. IN 60 AAAA fd00::20",
        ],
    );
    let txt = ask(&table, "note.home.arpa.", RecordType::TXT).unwrap();
    let RData::TXT(text) = &txt.answers[0].data else {
        panic!("TXT")
    };
    assert_eq!(text.txt_data.len(), 2, "two strings");
    assert_eq!(&*text.txt_data[0], b"hello world");
    for (qname, qtype) in [
        ("home.arpa.", RecordType::MX),
        ("_ipp._tcp.home.arpa.", RecordType::SRV),
        ("nas.home.arpa.", RecordType::AAAA),
    ] {
        let answer = ask(&table, qname, qtype).unwrap();
        assert_eq!(answer.answers.len(), 1, "{qname} {qtype}");
    }
    assert_negative(
        &table,
        "_tcp.home.arpa.",
        RecordType::SRV,
        ResponseCode::NoError,
        "home.arpa.",
    );
}
