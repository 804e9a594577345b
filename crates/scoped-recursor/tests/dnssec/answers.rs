//! Answers that validate: secure, insecure, and proven denials.

use std::net::Ipv4Addr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_dnssec::TrustAnchors;
use scoped_recursor::Validation;
use scoped_testkit::engine::{a_records, ask, types};
use scoped_testkit::signed::{DsMode, Signing};

use super::{Hierarchy, NOW, name, signed, validating};

#[tokio::test(start_paused = true)]
async fn a_signed_answer_is_secure_and_stays_secure_from_the_cache() {
    let (internet, recursor) = signed();
    let res = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(res.security, Validation::Secure);
    assert_eq!(res.ede, None);
    assert_eq!(types(&res.answers), vec![RecordType::A, RecordType::RRSIG]);
    let before = internet.total_queries();
    let again = ask(&recursor, "www.example.", RecordType::A).await;
    assert!(again.from_cache);
    assert_eq!(again.security, Validation::Secure);
    assert_eq!(
        types(&again.answers),
        vec![RecordType::A, RecordType::RRSIG],
        "the RRSIG is cached with its RRset"
    );
    assert_eq!(
        internet.total_queries(),
        before,
        "a validated hit asks nothing"
    );
    // The zone keys are kept: a sibling name costs one query, no DNSKEY or DS.
    let good = ask(&recursor, "good.example.", RecordType::A).await;
    assert_eq!(good.security, Validation::Secure);
    assert_eq!(internet.total_queries(), before + 1);
}

#[tokio::test(start_paused = true)]
async fn an_unsigned_delegation_is_insecure_and_answered_without_ad() {
    let (_internet, recursor) = signed();
    let res = ask(&recursor, "www.insecure.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    assert_eq!(types(&res.answers), vec![RecordType::A]);
    assert_eq!(res.security, Validation::Insecure);
}

#[tokio::test(start_paused = true)]
async fn a_signed_zone_without_ds_at_its_parent_is_insecure() {
    let (internet, dnssec) = Hierarchy::with_sub(Signing {
        ds: DsMode::None,
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 9)]);
    assert_eq!(res.security, Validation::Insecure);
}

#[tokio::test(start_paused = true)]
async fn a_delegated_signed_zone_is_secure_through_its_ds() {
    let (_internet, recursor) = signed();
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 9)]);
    assert_eq!(res.security, Validation::Secure);
}

/// The authority section of a secure negative answer: the SOA, the denial records of the
/// chain (`denial`), and RRSIGs over both.
fn assert_proof(res: &scoped_recursor::Resolution, denial: RecordType) {
    let kinds = types(&res.authorities);
    assert_eq!(kinds[0], RecordType::SOA, "{kinds:?}");
    assert!(kinds.contains(&denial), "{kinds:?}");
    assert!(kinds.contains(&RecordType::RRSIG), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .all(|k| [RecordType::SOA, denial, RecordType::RRSIG].contains(k)),
        "{kinds:?}"
    );
}

async fn denials_are_secure(hierarchy: Hierarchy, denial: RecordType) {
    let (_internet, dnssec) = hierarchy.build();
    let recursor = validating(&_internet, dnssec);
    let nx = ask(&recursor, "nope.example.", RecordType::A).await;
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.security, Validation::Secure, "NXDOMAIN");
    assert_proof(&nx, denial);
    let nodata = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert_eq!(nodata.rcode, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.security, Validation::Secure, "NODATA");
    assert_proof(&nodata, denial);
    // From the cache, with the status stored beside the negative entries and the proof kept.
    let again = ask(&recursor, "nope.example.", RecordType::A).await;
    assert!(again.from_cache);
    assert_eq!(again.security, Validation::Secure);
    assert_proof(&again, denial);
    let again = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert!(again.from_cache);
    assert_proof(&again, denial);
}

#[tokio::test(start_paused = true)]
async fn an_insecure_negative_answer_has_no_proof() {
    let (_internet, recursor) = signed();
    let nx = ask(&recursor, "nope.insecure.example.", RecordType::A).await;
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.security, Validation::Insecure);
    assert_eq!(types(&nx.authorities), vec![RecordType::SOA]);
}

#[tokio::test(start_paused = true)]
async fn nsec_proves_nxdomain_and_nodata() {
    denials_are_secure(Hierarchy::default(), RecordType::NSEC).await;
}

#[tokio::test(start_paused = true)]
async fn nsec3_proves_nxdomain_and_nodata() {
    denials_are_secure(Hierarchy::nsec3(), RecordType::NSEC3).await;
}

#[tokio::test(start_paused = true)]
async fn a_wildcard_expansion_is_secure_with_nsec_and_nsec3() {
    for hierarchy in [Hierarchy::default(), Hierarchy::nsec3()] {
        let (internet, dnssec) = hierarchy.build();
        let recursor = validating(&internet, dnssec);
        let res = ask(&recursor, "anything.wild.example.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 7)]);
        assert_eq!(res.security, Validation::Secure);
    }
}

#[tokio::test(start_paused = true)]
async fn a_cname_inside_a_secure_zone_is_secure() {
    let (_internet, recursor) = signed();
    let res = ask(&recursor, "inside.example.", RecordType::A).await;
    let (cname, a, rrsig) = (RecordType::CNAME, RecordType::A, RecordType::RRSIG);
    // Each secure RRset comes with its RRSIG (the front end keeps them for DO clients).
    assert_eq!(types(&res.answers), vec![cname, rrsig, a, rrsig]);
    assert_eq!(res.security, Validation::Secure);
}

#[tokio::test(start_paused = true)]
async fn a_cname_from_a_secure_zone_into_an_insecure_one_is_insecure() {
    let (_internet, recursor) = signed();
    let res = ask(&recursor, "alias.example.", RecordType::A).await;
    // The secure link has its RRSIG, the insecure A record none.
    let (cname, a, rrsig) = (RecordType::CNAME, RecordType::A, RecordType::RRSIG);
    assert_eq!(types(&res.answers), vec![cname, rrsig, a]);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    assert_eq!(res.security, Validation::Insecure);
    // The same from the cache: each link keeps its own status.
    let again = ask(&recursor, "alias.example.", RecordType::A).await;
    assert!(again.from_cache);
    assert_eq!(again.security, Validation::Insecure);
}

#[tokio::test(start_paused = true)]
async fn a_zone_signed_only_with_an_unsupported_algorithm_is_insecure_never_bogus() {
    let (internet, dnssec) = Hierarchy::with_sub(Signing {
        unsupported_algorithm: Some(253),
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 9)]);
    assert_eq!(res.security, Validation::Insecure);
    assert_eq!(res.ede.map(|e| e.code), Some(1), "EDE 1 as information");
}

#[tokio::test(start_paused = true)]
async fn either_ksk_of_a_rollover_validates_the_zone() {
    for ksk in [0, 1] {
        let (internet, dnssec) = Hierarchy::with_sub(Signing {
            ksk_roll: true,
            ds: DsMode::Ksk(ksk),
            ..Signing::new(NOW)
        })
        .build();
        let recursor = validating(&internet, dnssec);
        let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
        assert_eq!(res.security, Validation::Secure, "DS of KSK {ksk}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_negative_trust_anchor_makes_a_broken_zone_insecure() {
    let (internet, mut dnssec) = Hierarchy::with_sub(Signing {
        ds: DsMode::Stray,
        ..Signing::new(NOW)
    })
    .build();
    let mut anchors = TrustAnchors::clone(&dnssec.anchors);
    anchors.add_negative(name("sub.example."));
    dnssec.anchors = std::sync::Arc::new(anchors);
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 9)]);
    assert_eq!(res.security, Validation::Insecure);
    // Outside the negative trust anchor, validation goes on as usual.
    let www = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(www.security, Validation::Secure);
}

#[tokio::test(start_paused = true)]
async fn without_an_anchor_for_the_name_the_answer_is_indeterminate() {
    let (internet, mut dnssec) = Hierarchy::default().build();
    dnssec.anchors = std::sync::Arc::new(TrustAnchors::empty());
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(res.security, Validation::Indeterminate);
}

#[tokio::test(start_paused = true)]
async fn an_unsigned_child_served_by_its_signed_parents_server_is_insecure_not_bogus() {
    let (internet, recursor) = signed();
    // No referral ever shows the cut: the parent's server answers for the child itself.
    let res = ask(&recursor, "www.cohost.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 30)]);
    assert_eq!(res.security, Validation::Insecure);
    let nx = ask(&recursor, "nope.cohost.example.", RecordType::A).await;
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.security, Validation::Insecure);
    // The unsigned delegation is remembered: no more DS questions for it.
    let ds_before = super::queries_of(&internet, RecordType::DS).len();
    let other = ask(&recursor, "ns.cohost.example.", RecordType::A).await;
    assert_eq!(other.security, Validation::Insecure);
    assert_eq!(
        super::queries_of(&internet, RecordType::DS).len(),
        ds_before
    );
}
