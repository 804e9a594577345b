//! Aggressive use of validated NSEC ranges (RFC 8198): a later name in a range a secure
//! NXDOMAIN proved empty is answered NXDOMAIN, secure, with its proof, without asking.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::{DnssecConfig, Recursor, Validation};
use scoped_testkit::Internet;
use scoped_testkit::engine::{ask, types};

use super::{Hierarchy, validating};

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

#[tokio::test(start_paused = true)]
async fn nsec3_ranges_are_not_used() {
    let (internet, recursor) = after_one_nxdomain(Hierarchy::nsec3(), |_| {}).await;
    let before = internet.total_queries();
    let res = ask(&recursor, "nop.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(res.security, Validation::Secure);
    assert!(internet.total_queries() > before);
}
