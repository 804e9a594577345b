//! An answer served again from the cache says what it said the first time: the same rcode,
//! status and EDE (the informational 1, 2 and 27 of insecure answers, and the bogus ones), and
//! for DO clients the same DNSSEC records — RRSIGs of every RRset of a CNAME chain, the proof
//! of a wildcard expansion, the NSEC/NSEC3 proof of a negative answer.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Record, RecordType};
use scoped_dnssec::signer::DenialChain;
use scoped_recursor::{Resolution, Validation};
use scoped_testkit::engine::{ask, types};
use scoped_testkit::signed::{DsMode, Signing};

use super::{Hierarchy, NOW, validating};

/// Records as comparable text, order kept, TTLs left out (a hit counts them down).
fn without_ttls(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.ttl = 0;
            r.to_string()
        })
        .collect()
}

/// Ask `qname` twice: a miss, then a hit that must answer the same.
async fn miss_then_hit(hierarchy: Hierarchy, qname: &str, qtype: RecordType) -> Resolution {
    let (internet, dnssec) = hierarchy.build();
    let recursor = validating(&internet, dnssec);
    let miss = ask(&recursor, qname, qtype).await;
    assert!(!miss.from_cache);
    let before = internet.total_queries();
    let hit = ask(&recursor, qname, qtype).await;
    assert_eq!(
        internet.total_queries(),
        before,
        "the second is answered from memory"
    );
    assert_eq!(hit.rcode, miss.rcode);
    assert_eq!(hit.security, miss.security);
    assert_eq!(hit.ede, miss.ede, "the same EDE on the hit");
    assert_eq!(without_ttls(&hit.answers), without_ttls(&miss.answers));
    assert_eq!(
        without_ttls(&hit.authorities),
        without_ttls(&miss.authorities)
    );
    hit
}

#[tokio::test(start_paused = true)]
async fn an_unsupported_algorithm_keeps_ede_1_on_a_hit() {
    let sub = Signing {
        unsupported_algorithm: Some(253),
        ..Signing::new(NOW)
    };
    let hit = miss_then_hit(Hierarchy::with_sub(sub), "www.sub.example.", RecordType::A).await;
    assert!(hit.from_cache);
    assert_eq!(hit.security, Validation::Insecure);
    assert_eq!(hit.ede.map(|e| e.code), Some(1));
}

#[tokio::test(start_paused = true)]
async fn an_unsupported_ds_digest_keeps_ede_2_on_a_hit() {
    let sub = Signing {
        ds: DsMode::UnsupportedDigest,
        ..Signing::new(NOW)
    };
    let hit = miss_then_hit(Hierarchy::with_sub(sub), "www.sub.example.", RecordType::A).await;
    assert!(hit.from_cache);
    assert_eq!(hit.security, Validation::Insecure);
    assert_eq!(hit.ede.map(|e| e.code), Some(2));
}

#[tokio::test(start_paused = true)]
async fn too_many_nsec3_iterations_keep_ede_27_on_a_hit() {
    let example = Signing {
        denial: DenialChain::Nsec3 {
            salt: vec![],
            iterations: 200,
            opt_out: false,
        },
        ..Signing::new(NOW)
    };
    let hierarchy = Hierarchy::with_example(example);
    let hit = miss_then_hit(hierarchy, "nope.example.", RecordType::A).await;
    assert!(hit.from_cache);
    assert_eq!(hit.rcode, ResponseCode::NXDomain);
    assert_eq!(hit.security, Validation::Insecure);
    assert_eq!(hit.ede.map(|e| e.code), Some(27));
}

#[tokio::test(start_paused = true)]
async fn a_bogus_answer_keeps_its_ede_on_a_hit() {
    let sub = Signing {
        ds: DsMode::Stray,
        ..Signing::new(NOW)
    };
    let hit = miss_then_hit(Hierarchy::with_sub(sub), "www.sub.example.", RecordType::A).await;
    assert_eq!(hit.rcode, ResponseCode::ServFail);
    assert_eq!(hit.ede.map(|e| e.code), Some(9));
    let expired = Signing::expired(NOW);
    let hit = miss_then_hit(
        Hierarchy::with_sub(expired),
        "www.sub.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(hit.ede.map(|e| e.code), Some(7));
}

#[tokio::test(start_paused = true)]
async fn a_cname_chain_keeps_the_rrsigs_of_each_link_on_a_hit() {
    let hit = miss_then_hit(Hierarchy::default(), "inside.example.", RecordType::A).await;
    assert!(hit.from_cache);
    assert_eq!(hit.security, Validation::Secure);
    let (cname, a, rrsig) = (RecordType::CNAME, RecordType::A, RecordType::RRSIG);
    assert_eq!(types(&hit.answers), vec![cname, rrsig, a, rrsig]);
}

#[tokio::test(start_paused = true)]
async fn a_wildcard_expansion_keeps_its_proof_on_a_hit() {
    for (hierarchy, denial) in [
        (Hierarchy::default(), RecordType::NSEC),
        (Hierarchy::nsec3(), RecordType::NSEC3),
    ] {
        let hit = miss_then_hit(hierarchy, "anything.wild.example.", RecordType::A).await;
        assert!(hit.from_cache);
        assert_eq!(hit.security, Validation::Secure);
        assert_eq!(types(&hit.answers), vec![RecordType::A, RecordType::RRSIG]);
        let proof = types(&hit.authorities);
        assert!(proof.contains(&denial), "{proof:?}");
        assert!(proof.contains(&RecordType::RRSIG), "{proof:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn negative_answers_keep_their_proof_on_a_hit() {
    for hierarchy in [Hierarchy::default(), Hierarchy::nsec3()] {
        let hit = miss_then_hit(hierarchy, "nope.example.", RecordType::A).await;
        assert_eq!(hit.security, Validation::Secure);
        assert!(types(&hit.authorities).len() > 2);
    }
    let hit = miss_then_hit(Hierarchy::default(), "www.example.", RecordType::AAAA).await;
    assert_eq!(hit.security, Validation::Secure);
    assert!(types(&hit.authorities).contains(&RecordType::NSEC));
}

#[tokio::test(start_paused = true)]
async fn a_dname_link_keeps_its_rrsigs_on_a_hit() {
    // moved.example. DNAME sub.example.: the DNAME is signed, the CNAME made from it is not.
    let hit = miss_then_hit(Hierarchy::default(), "www.moved.example.", RecordType::A).await;
    assert!(hit.from_cache);
    assert_eq!(hit.security, Validation::Secure);
    let (dname, cname, a, rrsig) = (
        RecordType::DNAME,
        RecordType::CNAME,
        RecordType::A,
        RecordType::RRSIG,
    );
    assert_eq!(types(&hit.answers), vec![dname, rrsig, cname, a, rrsig]);
}

#[tokio::test(start_paused = true)]
async fn a_name_below_a_cached_nxdomain_gets_the_ancestors_proof() {
    for (hierarchy, denial) in [
        (Hierarchy::default(), RecordType::NSEC),
        (Hierarchy::nsec3(), RecordType::NSEC3),
    ] {
        let (internet, dnssec) = hierarchy.build();
        let recursor = validating(&internet, dnssec);
        let ancestor = ask(&recursor, "nope.example.", RecordType::A).await;
        assert_eq!(ancestor.rcode, ResponseCode::NXDomain);
        let before = internet.total_queries();
        // Answered from the ancestor's NXDOMAIN (RFC 8020), miss and hit alike.
        for qname in ["below.nope.example.", "deeper.below.nope.example."] {
            let below = ask(&recursor, qname, RecordType::A).await;
            assert_eq!(below.rcode, ResponseCode::NXDomain, "{qname}");
            assert_eq!(below.security, Validation::Secure, "{qname}");
            assert_eq!(
                without_ttls(&below.authorities),
                without_ttls(&ancestor.authorities),
                "{qname}: the ancestor's proof"
            );
            assert!(types(&below.authorities).contains(&denial));
        }
        assert_eq!(internet.total_queries(), before, "no upstream query");
    }
}
