//! The DS set that comes with a signed referral (RFC 4035 §3.1.4) is used for the child zone:
//! no DS question for a zone the iteration was referred to, and an unsigned referral with its
//! NSEC/NSEC3 proof is an insecure delegation without one either.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use scoped_dnssec::DNSSECRData;
use scoped_recursor::{DnssecConfig, Resolution, Validation};
use scoped_testkit::ResponderAction;
use scoped_testkit::engine::ask;
use scoped_testkit::signed::Signing;

use super::{EXAMPLE, Hierarchy, NOW, ip, name, queries_of, validating};

/// The queries one question costs on a fresh internet, validating or not, and the answer.
async fn cost(hierarchy: Hierarchy, validate: bool, qname: &str) -> (usize, Resolution) {
    let (internet, dnssec) = hierarchy.build();
    let dnssec = if validate {
        dnssec
    } else {
        DnssecConfig::default()
    };
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, qname, RecordType::A).await;
    assert!(
        queries_of(&internet, RecordType::DS).is_empty(),
        "no DS question"
    );
    (internet.total_queries(), res)
}

#[tokio::test(start_paused = true)]
async fn a_signed_referrals_ds_is_used_so_validation_costs_only_the_dnskey_questions() {
    let (plain, _) = cost(Hierarchy::default(), false, "www.sub.example.").await;
    let (validated, res) = cost(Hierarchy::default(), true, "www.sub.example.").await;
    assert_eq!(res.security, Validation::Secure);
    assert_eq!(
        validated,
        plain + 3,
        "the DNSKEY sets of ., example., sub.example."
    );
}

#[tokio::test(start_paused = true)]
async fn an_unsigned_referral_with_an_nsec_proof_is_insecure_without_a_ds_question() {
    let (plain, _) = cost(Hierarchy::default(), false, "www.insecure.example.").await;
    let (validated, res) = cost(Hierarchy::default(), true, "www.insecure.example.").await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(res.security, Validation::Insecure);
    assert_eq!(validated, plain + 2, "the DNSKEY sets of . and example.");
}

#[tokio::test(start_paused = true)]
async fn an_unsigned_referral_with_an_nsec3_proof_is_insecure_without_a_ds_question() {
    let (_, res) = cost(Hierarchy::nsec3(), true, "www.insecure.example.").await;
    assert_eq!(res.security, Validation::Insecure);
}

/// The example server's referrals lose the RRSIGs over the DS (a DS question still gets them).
fn strip_referral_ds_sigs(internet: &scoped_testkit::Internet) {
    internet
        .expect_server(ip(EXAMPLE))
        .set_responder(|query, info| {
            let mut response = info.zone_response(query);
            let asked_ds = query
                .queries
                .iter()
                .any(|q| q.query_type() == RecordType::DS);
            if !asked_ds {
                response.authorities.retain(|r| {
                    !matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(sig))
                        if sig.input().type_covered == RecordType::DS)
                });
            }
            ResponderAction::Reply(response)
        });
}

#[tokio::test(start_paused = true)]
async fn a_referral_whose_ds_does_not_check_makes_the_engine_ask_for_the_ds() {
    let (internet, dnssec) = Hierarchy::default().build();
    strip_referral_ds_sigs(&internet);
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Secure);
    let ds: Vec<_> = queries_of(&internet, RecordType::DS);
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(ds[0].qname, name("sub.example."));
    assert_eq!(ds[0].server.ip(), ip(EXAMPLE));
}

#[tokio::test(start_paused = true)]
async fn a_referral_ds_with_a_corrupted_signature_is_bogus_once_asked_again() {
    let (internet, dnssec) = Hierarchy::with_example(Signing {
        corrupt: vec![(name("sub.example."), RecordType::DS)],
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(res.ede.as_ref().map(|e| e.code), Some(6));
    assert_eq!(queries_of(&internet, RecordType::DS).len(), 1);
}
