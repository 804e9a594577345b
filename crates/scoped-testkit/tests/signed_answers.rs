//! The authoritative servers of a signed test internet answer DO queries as signed servers do:
//! each answer, referral and negative answer carries what a validator needs, checked here with
//! scoped-dnssec from the root anchor down.

use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_dnssec::signer::DenialChain;
use scoped_dnssec::verify::rrsig_of;
use scoped_dnssec::{
    ChainResult, DNSSECRData, DS, Denied, Kind, Policy, Security, Trust, ZoneKeys, prove_denial,
    validate_zone_keys, verify_rrset,
};
use scoped_recursor::Protocol;
use scoped_testkit::signed::{Signing, sign_hierarchy};
use scoped_testkit::{Internet, InternetBuilder, Zone, make_query, name};

const NOW: u32 = 1_800_000_000;
const ROOT: &str = "127.53.0.1";
const EXAMPLE: &str = "127.53.0.2";
const SUB: &str = "127.53.0.3";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn internet(denial: DenialChain) -> (Internet, Vec<DS>) {
    let root = Zone::parse(".", "$TTL 86400\n@ IN SOA a.root. host. 1 1800 900 604800 86400\n@ IN NS a.root.\na.root. IN A 127.53.0.1\nexample. IN NS ns.example.\nns.example. IN A 127.53.0.2\n").unwrap();
    let example = Zone::parse("example.", "$TTL 3600\n@ IN SOA ns host 1 1800 900 604800 300\n@ IN NS ns\nns IN A 127.53.0.2\nwww IN A 192.0.2.1\n*.wild IN A 192.0.2.7\nsub IN NS ns.sub\nns.sub IN A 127.53.0.3\ninsecure IN NS ns.insecure\nns.insecure IN A 127.53.0.4\n").unwrap();
    let sub = Zone::parse("sub.example.", "$TTL 3600\n@ IN SOA ns host 1 1800 900 604800 300\n@ IN NS ns\nns IN A 127.53.0.3\nwww IN A 192.0.2.9\n").unwrap();
    let hierarchy = sign_hierarchy(vec![
        (root, Some(Signing::new(NOW))),
        (
            example,
            Some(Signing {
                denial,
                ..Signing::new(NOW)
            }),
        ),
        (sub, Some(Signing::new(NOW))),
    ])
    .unwrap();
    let mut builder = InternetBuilder::new();
    hierarchy.add_to(&mut builder);
    builder
        .server(ip(ROOT), &["."])
        .server(ip(EXAMPLE), &["example."])
        .server(ip(SUB), &["sub.example."]);
    let anchor = hierarchy.anchors.closest(&Name::root()).unwrap().ds.clone();
    (builder.build().unwrap(), anchor)
}

fn ask(
    internet: &Internet,
    server: &str,
    qname: &str,
    qtype: RecordType,
    dnssec_ok: bool,
) -> Message {
    let mut query = make_query(7, qname, qtype, Some(1232));
    if let Some(edns) = query.edns.as_mut() {
        edns.set_dnssec_ok(dnssec_ok);
    }
    internet
        .respond(ip(server), &query, Protocol::Udp)
        .expect("an answer")
}

fn pick(records: &[Record], owner: &Name, rtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| &r.name == owner && r.record_type() == rtype)
        .cloned()
        .collect()
}

fn sigs(records: &[Record], owner: &Name) -> Vec<Record> {
    records
        .iter()
        .filter(|r| &r.name == owner && rrsig_of(r).is_some())
        .cloned()
        .collect()
}

fn keys(internet: &Internet, server: &str, zone: &str, ds: &[DS]) -> ZoneKeys {
    let answer = ask(internet, server, zone, RecordType::DNSKEY, true).answers;
    let zone = name(zone);
    match validate_zone_keys(
        &zone,
        Trust::ds(ds),
        &pick(&answer, &zone, RecordType::DNSKEY),
        &sigs(&answer, &zone),
        NOW,
        &Policy::default(),
    ) {
        ChainResult::Secure(keys) => keys,
        other => panic!("{zone}: {other:?}"),
    }
}

/// The DS records of a referral, verified with the parent's keys.
fn referral_ds(response: &Message, child: &Name, parent: &ZoneKeys) -> Vec<DS> {
    let ds = pick(&response.authorities, child, RecordType::DS);
    verify_rrset(
        &ds,
        &sigs(&response.authorities, child),
        &parent.zone,
        &parent.keys,
        NOW,
        &Policy::default(),
    )
    .expect("DS signed by the parent");
    ds.iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(d)) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// The NSEC/NSEC3 records of a response's authority section, each RRset verified.
fn denial_records(response: &Message, keys: &ZoneKeys) -> Vec<Record> {
    let mut out = Vec::new();
    for rtype in [RecordType::NSEC, RecordType::NSEC3] {
        let owners: Vec<Name> = response
            .authorities
            .iter()
            .filter(|r| r.record_type() == rtype)
            .map(|r| r.name.clone())
            .collect();
        for owner in owners {
            let set = pick(&response.authorities, &owner, rtype);
            verify_rrset(
                &set,
                &sigs(&response.authorities, &owner),
                &keys.zone,
                &keys.keys,
                NOW,
                &Policy::default(),
            )
            .expect("denial record signed");
            out.extend(set);
        }
    }
    out
}

fn example_keys(internet: &Internet, anchor: &[DS]) -> ZoneKeys {
    let root = keys(internet, ROOT, ".", anchor);
    let referral = ask(internet, ROOT, "www.example.", RecordType::A, true);
    keys(
        internet,
        EXAMPLE,
        "example.",
        &referral_ds(&referral, &name("example."), &root),
    )
}

#[test]
fn signed_answers_validate_from_the_root_anchor() {
    let (internet, anchor) = internet(DenialChain::Nsec);
    let example = example_keys(&internet, &anchor);
    let www = name("www.example.");
    let answer = ask(&internet, EXAMPLE, "www.example.", RecordType::A, true);
    verify_rrset(
        &pick(&answer.answers, &www, RecordType::A),
        &sigs(&answer.answers, &www),
        &example.zone,
        &example.keys,
        NOW,
        &Policy::default(),
    )
    .unwrap();
    // The secure delegation to sub.example. carries its DS; the chain goes on.
    let referral = ask(&internet, EXAMPLE, "www.sub.example.", RecordType::A, true);
    let sub = keys(
        &internet,
        SUB,
        "sub.example.",
        &referral_ds(&referral, &name("sub.example."), &example),
    );
    assert_eq!(sub.zone, name("sub.example."));
    // Without DO, no DNSSEC records.
    let plain = ask(&internet, EXAMPLE, "www.example.", RecordType::A, false);
    assert!(
        plain
            .answers
            .iter()
            .all(|r| r.record_type() == RecordType::A)
    );
    let plain = ask(&internet, EXAMPLE, "nope.example.", RecordType::A, false);
    assert!(
        plain
            .authorities
            .iter()
            .all(|r| r.record_type() == RecordType::SOA)
    );
}

#[test]
fn negative_and_wildcard_answers_carry_their_proofs() {
    for chain in [
        DenialChain::Nsec,
        DenialChain::Nsec3 {
            salt: vec![7],
            iterations: 3,
            opt_out: false,
        },
    ] {
        let (internet, anchor) = internet(chain.clone());
        let keys = example_keys(&internet, &anchor);
        let zone = name("example.");
        let nx = ask(&internet, EXAMPLE, "nope.example.", RecordType::A, true);
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        let soa = pick(&nx.authorities, &zone, RecordType::SOA);
        verify_rrset(
            &soa,
            &sigs(&nx.authorities, &zone),
            &keys.zone,
            &keys.keys,
            NOW,
            &Policy::default(),
        )
        .expect("SOA signed");
        let status = prove_denial(
            &zone,
            &name("nope.example."),
            &Denied::NxDomain,
            &denial_records(&nx, &keys),
            &Policy::default(),
        );
        assert_eq!(status, Security::Secure, "{chain:?} NXDOMAIN");

        let nodata = ask(&internet, EXAMPLE, "www.example.", RecordType::AAAA, true);
        let status = prove_denial(
            &zone,
            &name("www.example."),
            &Denied::NoData(RecordType::AAAA),
            &denial_records(&nodata, &keys),
            &Policy::default(),
        );
        assert_eq!(status, Security::Secure, "{chain:?} NODATA");

        let qname = name("foo.wild.example.");
        let wild = ask(&internet, EXAMPLE, "foo.wild.example.", RecordType::A, true);
        let verified = verify_rrset(
            &pick(&wild.answers, &qname, RecordType::A),
            &sigs(&wild.answers, &qname),
            &keys.zone,
            &keys.keys,
            NOW,
            &Policy::default(),
        )
        .unwrap();
        let closest_encloser = verified.wildcard.expect("expanded from *.wild.example.");
        assert!(
            wild.answers
                .iter()
                .all(|r| matches!(r.record_type(), RecordType::A | RecordType::RRSIG))
        );
        let status = prove_denial(
            &zone,
            &qname,
            &Denied::Wildcard { closest_encloser },
            &denial_records(&wild, &keys),
            &Policy::default(),
        );
        assert_eq!(status, Security::Secure, "{chain:?} wildcard");
    }
}

#[test]
fn referrals_prove_an_unsigned_delegation() {
    let cases = [
        (DenialChain::Nsec, None),
        (
            DenialChain::Nsec3 {
                salt: vec![],
                iterations: 0,
                opt_out: false,
            },
            None,
        ),
        (
            DenialChain::Nsec3 {
                salt: vec![],
                iterations: 0,
                opt_out: true,
            },
            Some(Kind::OptOut),
        ),
    ];
    for (chain, insecure) in cases {
        let (internet, anchor) = internet(chain.clone());
        let keys = example_keys(&internet, &anchor);
        let referral = ask(
            &internet,
            EXAMPLE,
            "www.insecure.example.",
            RecordType::A,
            true,
        );
        assert!(
            pick(
                &referral.authorities,
                &name("insecure.example."),
                RecordType::DS
            )
            .is_empty()
        );
        let status = prove_denial(
            &name("example."),
            &name("insecure.example."),
            &Denied::NoData(RecordType::DS),
            &denial_records(&referral, &keys),
            &Policy::default(),
        );
        match insecure {
            None => assert_eq!(status, Security::Secure, "{chain:?}"),
            Some(kind) => assert!(
                matches!(&status, Security::Insecure(r) if r.kind == kind),
                "{chain:?}: {status}"
            ),
        }
    }
}
