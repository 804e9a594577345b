//! Bogus data: SERVFAIL with the EDE that says why, remembered briefly, never served.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_dnssec::signer::DenialChain;
use scoped_recursor::{Resolution, Validation};
use scoped_testkit::engine::{a_records, ask};
use scoped_testkit::signed::{DsMode, Signing};

use super::{Hierarchy, NOW, name, validating};

async fn www_sub(sub: Signing) -> Resolution {
    let (internet, dnssec) = Hierarchy::with_sub(sub).build();
    let recursor = validating(&internet, dnssec);
    ask(&recursor, "www.sub.example.", RecordType::A).await
}

fn assert_bogus(res: &Resolution, code: u16) {
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(res.answers.is_empty(), "bogus data is never served");
    let ede = res.ede.as_ref().expect("an EDE");
    assert_eq!(ede.code, code, "{}", ede.text);
    assert!(ede.text.starts_with("bogus: "), "{}", ede.text);
}

#[tokio::test(start_paused = true)]
async fn a_ds_matching_no_key_is_bogus_with_ede_9() {
    let res = www_sub(Signing {
        ds: DsMode::Stray,
        ..Signing::new(NOW)
    })
    .await;
    assert_bogus(&res, 9);
    assert!(res.ede.unwrap().text.contains("sub.example."));
}

#[tokio::test(start_paused = true)]
async fn expired_signatures_are_bogus_with_ede_7() {
    assert_bogus(&www_sub(Signing::expired(NOW)).await, 7);
}

#[tokio::test(start_paused = true)]
async fn signatures_not_yet_valid_are_bogus_with_ede_8() {
    assert_bogus(&www_sub(Signing::not_yet_valid(NOW)).await, 8);
}

#[tokio::test(start_paused = true)]
async fn one_corrupted_rrsig_makes_its_rrset_bogus_and_its_siblings_stay_secure() {
    let (internet, dnssec) = Hierarchy::with_example(Signing {
        corrupt: vec![(name("bad.example."), RecordType::A)],
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    let bad = ask(&recursor, "bad.example.", RecordType::A).await;
    assert_bogus(&bad, 6);
    let good = ask(&recursor, "good.example.", RecordType::A).await;
    assert_eq!(good.rcode, ResponseCode::NoError);
    assert_eq!(good.security, Validation::Secure);
    let www = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(www.security, Validation::Secure);
}

#[tokio::test(start_paused = true)]
async fn a_bogus_verdict_is_kept_briefly_then_checked_again() {
    let (internet, dnssec) = Hierarchy::with_sub(Signing {
        ds: DsMode::Stray,
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    assert_bogus(&ask(&recursor, "www.sub.example.", RecordType::A).await, 9);
    let before = internet.total_queries();
    assert_bogus(&ask(&recursor, "www.sub.example.", RecordType::A).await, 9);
    assert_eq!(
        internet.total_queries(),
        before,
        "no re-fetch within the bogus TTL"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_bogus(&ask(&recursor, "www.sub.example.", RecordType::A).await, 9);
    assert!(internet.total_queries() > before, "checked again after it");
}

#[tokio::test(start_paused = true)]
async fn a_denial_without_its_signed_proof_is_bogus() {
    // The RRSIG over www.example.'s NSEC corrupted: the NODATA for its AAAA cannot be proven.
    let (internet, dnssec) = Hierarchy::with_example(Signing {
        denial: DenialChain::Nsec,
        corrupt: vec![(name("www.example."), RecordType::NSEC)],
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert_bogus(&res, 6);
    // The positive answer at the same name is unaffected.
    let a = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(a_records(&a).len(), 1);
    assert_eq!(a.security, Validation::Secure);
}

/// An RRSIG whose signer field names a name inside the zone that is no zone cut (here the
/// owner itself): the parent's NSEC denies a DS there, but shows no delegation, so the name
/// cannot be passed off as an unsigned zone — bogus, not insecure.
#[tokio::test(start_paused = true)]
async fn a_forged_signer_name_cannot_downgrade_a_secure_answer_to_insecure() {
    use hickory_proto::rr::RData;
    use scoped_dnssec::{DNSSECRData, RRSIG};
    use scoped_testkit::ResponderAction;

    let (internet, dnssec) = Hierarchy::default().build();
    internet
        .expect_server(super::ip(super::EXAMPLE))
        .set_responder(|query, info| {
            let mut response = info.zone_response(query);
            for record in &mut response.answers {
                if record.name != name("www.example.") {
                    continue;
                }
                if let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &record.data
                    && rrsig.input().type_covered == RecordType::A
                {
                    let mut input = rrsig.input().clone();
                    input.signer_name = name("www.example.");
                    let forged = RRSIG::from_sig(input, rrsig.sig().to_vec());
                    record.data = RData::DNSSEC(DNSSECRData::RRSIG(forged));
                }
            }
            ResponderAction::Reply(response)
        });
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(res.ede.map(|e| e.code), Some(6));
}

/// The example server's negative answers carry an SOA whose minimum was changed after signing
/// (a forged negative TTL); the NSEC proof is intact.
fn forge_negative_soa(internet: &scoped_testkit::Internet) {
    internet
        .expect_server(super::ip(super::EXAMPLE))
        .set_responder(|query, info| {
            let mut response = info.zone_response(query);
            for record in &mut response.authorities {
                if let hickory_proto::rr::RData::SOA(soa) = &mut record.data {
                    soa.minimum = 86_400;
                }
            }
            scoped_testkit::ResponderAction::Reply(response)
        });
}

#[tokio::test(start_paused = true)]
async fn a_forged_soa_in_a_signed_negative_answer_is_bogus() {
    let (internet, dnssec) = Hierarchy::default().build();
    forge_negative_soa(&internet);
    let recursor = validating(&internet, dnssec);
    let nx = ask(&recursor, "nope.example.", RecordType::A).await;
    assert_bogus(&nx, 6);
    assert!(nx.ede.unwrap().text.contains("example."));
    let nodata = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert_bogus(&nodata, 6);
    // The forged SOA is the only fault: the zone's positive answers stay secure.
    let www = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(www.security, Validation::Secure);
}

#[tokio::test(start_paused = true)]
async fn a_negative_answer_whose_soa_signature_is_corrupted_is_bogus() {
    let (internet, dnssec) = Hierarchy::with_example(Signing {
        corrupt: vec![(name("example."), RecordType::SOA)],
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    assert_bogus(&ask(&recursor, "nope.example.", RecordType::A).await, 6);
}
