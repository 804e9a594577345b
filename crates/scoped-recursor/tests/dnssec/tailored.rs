//! Answers tailored to a client subnet (ECS) are validated like any other, and served again
//! from the tailored cache they say what they said the first time: the NSEC/NSEC3 proof of a
//! negative answer or of a wildcard expansion, the informational EDE of an insecure one.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Record, RecordType};
use ipnet::IpNet;
use scoped_ecs::Allowlist;
use scoped_recursor::{Recursor, RecursorConfig, Resolution, Validation};
use scoped_testkit::Internet;
use scoped_testkit::engine::{ask_from, config_for, recursor_with, types};
use scoped_testkit::signed::Signing;

use super::{EXAMPLE, Hierarchy, NOW, SUB, tailoring};

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

/// A validating engine that sends the client subnet to `example.` and below, whose servers
/// tailor their answers.
fn tailored(hierarchy: Hierarchy) -> (Internet, Recursor) {
    let (internet, dnssec) = hierarchy.build();
    tailoring(&internet, &[EXAMPLE, SUB]);
    let config = RecursorConfig {
        dnssec,
        ecs_allowlist: Allowlist::parse("example.").unwrap(),
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    (internet, recursor)
}

fn subnet(text: &str) -> Option<IpNet> {
    Some(text.parse().unwrap())
}

/// Ask `qname` from 198.51.100.0/24 twice: a tailored miss, then a hit from the tailored cache
/// (also for another client of the same /24) that must answer the same.
async fn miss_then_hit(hierarchy: Hierarchy, qname: &str, qtype: RecordType) -> Resolution {
    let (internet, recursor) = tailored(hierarchy);
    let miss = ask_from(&recursor, qname, qtype, subnet("198.51.100.0/24")).await;
    assert!(!miss.from_cache);
    assert_eq!(miss.scope, 24, "tailored");
    let before = internet.total_queries();
    for client in ["198.51.100.0/24", "198.51.100.7/32"] {
        let hit = ask_from(&recursor, qname, qtype, subnet(client)).await;
        assert_eq!(internet.total_queries(), before, "{client}: from the cache");
        assert!(hit.from_cache);
        assert_eq!(hit.scope, 24);
        assert_eq!(hit.rcode, miss.rcode);
        assert_eq!(hit.security, miss.security);
        assert_eq!(hit.ede, miss.ede, "{client}: the same EDE on the hit");
        assert_eq!(without_ttls(&hit.answers), without_ttls(&miss.answers));
        assert_eq!(
            without_ttls(&hit.authorities),
            without_ttls(&miss.authorities),
            "{client}: the same authority section"
        );
    }
    miss
}

#[tokio::test(start_paused = true)]
async fn a_tailored_nxdomain_and_nodata_carry_their_proof_on_miss_and_hit() {
    for (hierarchy, denial) in [
        (Hierarchy::default(), RecordType::NSEC),
        (Hierarchy::nsec3(), RecordType::NSEC3),
    ] {
        let nx = miss_then_hit(hierarchy, "nope.example.", RecordType::A).await;
        assert_eq!(nx.rcode, ResponseCode::NXDomain);
        assert_eq!(nx.security, Validation::Secure);
        let proof = types(&nx.authorities);
        assert_eq!(proof[0], RecordType::SOA);
        assert!(proof.contains(&denial), "{proof:?}");
        assert!(proof.contains(&RecordType::RRSIG), "{proof:?}");
    }
    let nodata = miss_then_hit(Hierarchy::default(), "www.example.", RecordType::AAAA).await;
    assert_eq!(nodata.rcode, ResponseCode::NoError);
    assert_eq!(nodata.security, Validation::Secure);
    assert!(types(&nodata.authorities).contains(&RecordType::NSEC));
}

#[tokio::test(start_paused = true)]
async fn a_tailored_wildcard_expansion_carries_its_proof_on_miss_and_hit() {
    for (hierarchy, denial) in [
        (Hierarchy::default(), RecordType::NSEC),
        (Hierarchy::nsec3(), RecordType::NSEC3),
    ] {
        let res = miss_then_hit(hierarchy, "anything.wild.example.", RecordType::A).await;
        assert_eq!(res.security, Validation::Secure);
        assert_eq!(types(&res.answers), vec![RecordType::A, RecordType::RRSIG]);
        let proof = types(&res.authorities);
        assert!(proof.contains(&denial), "{proof:?}");
        assert!(proof.contains(&RecordType::RRSIG), "{proof:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_tailored_insecure_answer_keeps_its_ede_on_a_hit() {
    let sub = Signing {
        unsupported_algorithm: Some(253),
        ..Signing::new(NOW)
    };
    let hierarchy = Hierarchy::with_sub(sub);
    let res = miss_then_hit(hierarchy, "www.sub.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Insecure);
    assert_eq!(res.ede.map(|e| e.code), Some(1));
}
