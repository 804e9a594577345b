//! Aggressive use of validated NSEC and NSEC3 ranges (RFC 8198): a later name in a range a
//! secure negative answer proved empty is answered NXDOMAIN, and a type a validated record's
//! bitmap lacks NODATA, secure, with the proof, without asking.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use scoped_dnssec::signer::DenialChain;
use scoped_dnssec::{Denied, Policy, Security, prove_denial};
use scoped_recursor::{DnssecConfig, Recursor, Resolution, Validation};
use scoped_testkit::Internet;
use scoped_testkit::engine::{ask, types};
use scoped_testkit::signed::Signing;

use super::{Hierarchy, NOW, name, validating};

/// A validating engine on `hierarchy` that has resolved `nope.example.` (NXDOMAIN, secure):
/// the example zone's NSEC range from `insecure.example.` to `ns.example.` is known, and so is
/// the one at the apex that proves no wildcard.
async fn after_one_nxdomain(
    hierarchy: Hierarchy,
    edit: impl FnOnce(&mut DnssecConfig),
) -> (Internet, Recursor) {
    let (internet, mut dnssec) = hierarchy.build();
    edit(&mut dnssec);
    let recursor = validating(&internet, dnssec);
    let first = ask(&recursor, "nope.example.", RecordType::A).await;
    assert_eq!(first.rcode, ResponseCode::NXDomain);
    assert_eq!(first.security, Validation::Secure);
    (internet, recursor)
}

#[tokio::test(start_paused = true)]
async fn a_second_name_in_a_validated_nsec_range_is_nxdomain_without_asking() {
    let (internet, recursor) = after_one_nxdomain(Hierarchy::default(), |_| {}).await;
    let before = internet.total_queries();
    // "nop" and "noq" sort between "insecure" and "ns", as "nope" does.
    for qname in ["nop.example.", "noq.example.", "deeper.nop.example."] {
        let res = ask(&recursor, qname, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NXDomain, "{qname}");
        assert_eq!(res.security, Validation::Secure, "{qname}: AD");
        let kinds = types(&res.authorities);
        assert_eq!(kinds[0], RecordType::SOA, "{kinds:?}");
        assert!(kinds.contains(&RecordType::NSEC), "the proof: {kinds:?}");
        assert!(kinds.contains(&RecordType::RRSIG), "{kinds:?}");
    }
    assert_eq!(internet.total_queries(), before, "no upstream query");
    assert_eq!(recursor.stats().dnssec_aggressive_nxdomain.load(Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn a_name_outside_the_known_ranges_is_asked() {
    let (internet, recursor) = after_one_nxdomain(Hierarchy::default(), |_| {}).await;
    let before = internet.total_queries();
    // After "www", in the range that wraps to the apex: not seen yet.
    let res = ask(&recursor, "zzz.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(res.security, Validation::Secure);
    assert!(internet.total_queries() > before, "asked upstream");
    // A name that exists next to the range is not denied: its own answer comes back.
    let ns = ask(&recursor, "ns.example.", RecordType::A).await;
    assert_eq!(ns.rcode, ResponseCode::NoError);
    assert!(!ns.answers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_ranges_expire_with_the_negative_ttl() {
    let (internet, recursor) = after_one_nxdomain(Hierarchy::default(), |_| {}).await;
    // The example zone's SOA minimum is 300 s.
    tokio::time::advance(Duration::from_secs(301)).await;
    let before = internet.total_queries();
    let res = ask(&recursor, "nop.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(internet.total_queries() > before, "asked again");
}

#[tokio::test(start_paused = true)]
async fn aggressive_nsec_off_asks_every_name() {
    let off = |dnssec: &mut DnssecConfig| dnssec.aggressive_nsec = false;
    let (internet, recursor) = after_one_nxdomain(Hierarchy::default(), off).await;
    let before = internet.total_queries();
    let res = ask(&recursor, "nop.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(internet.total_queries() > before);
    assert_eq!(recursor.stats().dnssec_aggressive_nxdomain.load(Relaxed), 0);
}

/// A validating engine on `hierarchy` (DNSSEC settings edited by `edit`) that has asked
/// `qname`/`qtype` once; its answer.
async fn after(
    hierarchy: Hierarchy,
    edit: impl FnOnce(&mut DnssecConfig),
    qname: &str,
    qtype: RecordType,
) -> (Internet, Recursor, Resolution) {
    let (internet, mut dnssec) = hierarchy.build();
    edit(&mut dnssec);
    let recursor = validating(&internet, dnssec);
    let first = ask(&recursor, qname, qtype).await;
    (internet, recursor, first)
}

/// The owners of the records of `rtype` in `records`.
fn owners(records: &[Record], rtype: RecordType) -> Vec<Name> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(|r| r.name.clone())
        .collect()
}

/// A synthesised negative answer: `rcode`, secure, the SOA first and the `denial` records with
/// their RRSIGs as the proof.
fn assert_synthesised(res: &Resolution, rcode: ResponseCode, denial: RecordType, what: &str) {
    assert_eq!(res.rcode, rcode, "{what}");
    assert!(res.answers.is_empty(), "{what}: {:?}", res.answers);
    assert_eq!(res.security, Validation::Secure, "{what}: AD");
    let kinds = types(&res.authorities);
    assert_eq!(kinds[0], RecordType::SOA, "{what}: {kinds:?}");
    assert!(kinds.contains(&denial), "{what}: the proof: {kinds:?}");
    assert!(kinds.contains(&RecordType::RRSIG), "{what}: {kinds:?}");
}

#[tokio::test(start_paused = true)]
async fn a_type_the_nsec_bitmap_lacks_is_nodata_without_asking() {
    let (internet, recursor, first) = after(
        Hierarchy::default(),
        |_| {},
        "www.example.",
        RecordType::TXT,
    )
    .await;
    assert_synthesised(&first, ResponseCode::NoError, RecordType::NSEC, "upstream");
    let before = internet.total_queries();
    for qtype in [RecordType::AAAA, RecordType::MX, RecordType::DS] {
        let res = ask(&recursor, "www.example.", qtype).await;
        assert_synthesised(&res, ResponseCode::NoError, RecordType::NSEC, "aggressive");
        assert_eq!(
            owners(&res.authorities, RecordType::NSEC),
            [name("www.example.")]
        );
    }
    assert_eq!(internet.total_queries(), before, "no upstream query");
    let stats = recursor.stats();
    assert_eq!(stats.dnssec_aggressive_nodata.load(Relaxed), 3);
    assert_eq!(stats.dnssec_aggressive_nxdomain.load(Relaxed), 0);
    // ANY is no type a bitmap can lack: never NODATA from it.
    let any = ask(&recursor, "www.example.", RecordType::ANY).await;
    assert_eq!(stats.dnssec_aggressive_nodata.load(Relaxed), 3, "{any:?}");
    // A type the bitmap lists is asked, and answered.
    let a = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(types(&a.answers)[0], RecordType::A);
    assert!(internet.total_queries() > before, "asked upstream");
}

#[tokio::test(start_paused = true)]
async fn an_empty_non_terminal_in_a_validated_nsec_range_is_nodata_without_asking() {
    // "t.example." lies in the range from sub.example. to *.wild.example., which also says
    // that wild.example. owns nothing (names exist below it).
    let (internet, recursor, first) =
        after(Hierarchy::default(), |_| {}, "t.example.", RecordType::A).await;
    assert_eq!(first.rcode, ResponseCode::NXDomain);
    assert!(owners(&first.authorities, RecordType::NSEC).contains(&name("sub.example.")));
    let before = internet.total_queries();
    let res = ask(&recursor, "wild.example.", RecordType::A).await;
    assert_synthesised(
        &res,
        ResponseCode::NoError,
        RecordType::NSEC,
        "wild.example.",
    );
    assert_eq!(internet.total_queries(), before, "no upstream query");
    // The wildcard below it is not denied: its expansion is asked for.
    let expanded = ask(&recursor, "x.wild.example.", RecordType::A).await;
    assert_eq!(expanded.rcode, ResponseCode::NoError);
    assert_eq!(types(&expanded.answers)[0], RecordType::A);
}

#[tokio::test(start_paused = true)]
async fn an_nsec_with_the_cname_bit_does_not_deny_a_type() {
    // "insidf.example." sorts right after inside.example., an alias: the NXDOMAIN's proof
    // is the alias's NSEC, whose bitmap has CNAME.
    let (internet, recursor, first) = after(
        Hierarchy::default(),
        |_| {},
        "insidf.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(first.rcode, ResponseCode::NXDomain);
    assert!(owners(&first.authorities, RecordType::NSEC).contains(&name("inside.example.")));
    let before = internet.total_queries();
    let res = ask(&recursor, "inside.example.", RecordType::TXT).await;
    assert!(internet.total_queries() > before, "asked upstream");
    assert_eq!(
        types(&res.answers)[0],
        RecordType::CNAME,
        "the alias is followed"
    );
    assert_eq!(recursor.stats().dnssec_aggressive_nodata.load(Relaxed), 0);
}

/// A name in `example.` other than `nope.example.` that the NSEC3 records of `proof` alone prove
/// absent (its hash falls in one of their spans).
fn another_name_they_deny(proof: &[Record]) -> Name {
    let nsec3: Vec<Record> = proof
        .iter()
        .filter(|r| r.record_type() == RecordType::NSEC3)
        .cloned()
        .collect();
    let zone = name("example.");
    (0..10_000)
        .map(|i| name(&format!("n{i}.example.")))
        .find(|n| {
            prove_denial(&zone, n, &Denied::NxDomain, &nsec3, &Policy::default())
                == Security::Secure
        })
        .expect("some name hashes into the proof's spans")
}

#[tokio::test(start_paused = true)]
async fn a_second_name_in_a_validated_nsec3_span_is_nxdomain_without_asking() {
    let (internet, recursor, first) =
        after(Hierarchy::nsec3(), |_| {}, "nope.example.", RecordType::A).await;
    assert_synthesised(
        &first,
        ResponseCode::NXDomain,
        RecordType::NSEC3,
        "upstream",
    );
    let other = another_name_they_deny(&first.authorities);
    let before = internet.total_queries();
    let res = ask(&recursor, &other.to_string(), RecordType::A).await;
    assert_synthesised(
        &res,
        ResponseCode::NXDomain,
        RecordType::NSEC3,
        "aggressive",
    );
    assert_eq!(
        internet.total_queries(),
        before,
        "no upstream query for {other}"
    );
    assert_eq!(recursor.stats().dnssec_aggressive_nxdomain.load(Relaxed), 1);
    // A name whose hash lies outside the kept spans is asked.
    let zone = name("example.");
    let kept: Vec<Record> = res.authorities.clone();
    let outside = (0..10_000)
        .map(|i| name(&format!("m{i}.example.")))
        .find(|n| {
            prove_denial(&zone, n, &Denied::NxDomain, &kept, &Policy::default()) != Security::Secure
        })
        .unwrap();
    let res = ask(&recursor, &outside.to_string(), RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(internet.total_queries() > before, "asked for {outside}");
}

#[tokio::test(start_paused = true)]
async fn a_type_the_nsec3_bitmap_lacks_is_nodata_without_asking() {
    let (internet, recursor, first) =
        after(Hierarchy::nsec3(), |_| {}, "www.example.", RecordType::TXT).await;
    assert_synthesised(&first, ResponseCode::NoError, RecordType::NSEC3, "upstream");
    let before = internet.total_queries();
    let res = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert_synthesised(&res, ResponseCode::NoError, RecordType::NSEC3, "aggressive");
    assert_eq!(internet.total_queries(), before, "no upstream query");
    assert_eq!(recursor.stats().dnssec_aggressive_nodata.load(Relaxed), 1);
}

/// `example.` signed with NSEC3 as given.
fn nsec3_example(iterations: u16, opt_out: bool) -> Hierarchy {
    Hierarchy::with_example(Signing {
        denial: DenialChain::Nsec3 {
            salt: vec![0x01],
            iterations,
            opt_out,
        },
        ..Signing::new(NOW)
    })
}

#[tokio::test(start_paused = true)]
async fn nsec3_opt_out_records_prove_nothing_later() {
    let (internet, recursor, first) = after(
        nsec3_example(0, true),
        |_| {},
        "www.example.",
        RecordType::TXT,
    )
    .await;
    // The record matching www.example. proves this NODATA, opt-out or not.
    assert_eq!(first.rcode, ResponseCode::NoError);
    assert_eq!(first.security, Validation::Secure);
    let before = internet.total_queries();
    let res = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert!(internet.total_queries() > before, "asked upstream");
    assert_eq!(recursor.stats().dnssec_aggressive_nodata.load(Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn nsec3_above_the_iteration_limit_is_never_used() {
    let limit = |dnssec: &mut DnssecConfig| dnssec.policy.nsec3_max_iterations = 5;
    let (internet, recursor, first) = after(
        nsec3_example(10, false),
        limit,
        "www.example.",
        RecordType::TXT,
    )
    .await;
    assert_eq!(first.rcode, ResponseCode::NoError);
    assert_eq!(first.security, Validation::Insecure);
    let before = internet.total_queries();
    let res = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert_eq!(res.security, Validation::Insecure);
    assert!(internet.total_queries() > before, "asked upstream");
    assert_eq!(recursor.stats().dnssec_aggressive_nodata.load(Relaxed), 0);
}
