//! DNSSEC in the front end: AD (RFC 6840 §5.8), EDE for bogus answers (RFC 8914), CD passed on,
//! and a fast path that replays an answer only to clients with the DO, AD and CD bits it was
//! rendered for.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{RData, RecordType};
use scoped_recursor::{Ede, Resolution, Validation};

use super::{FakeResolver, ask, pipeline, query, wire, with_edns};
use crate::{Pipeline, ServerConfig, Transport};

fn with_security(resolver: FakeResolver, name: &str, security: Validation) -> FakeResolver {
    let owner = super::name_of(name);
    let record = hickory_proto::rr::Record::from_rdata(
        owner,
        300,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1)),
    );
    resolver.with(
        name,
        RecordType::A,
        Resolution {
            answers: vec![record],
            security,
            ..Resolution::error(ResponseCode::NoError)
        },
    )
}

fn bogus() -> Resolution {
    Resolution {
        ede: Some(Ede {
            code: 9,
            text: "bogus: no DNSKEY matches (zone sub.example., key tag 4711)".into(),
        }),
        ..Resolution::servfail()
    }
}

fn dnssec_pipeline(resolver: FakeResolver) -> (Arc<FakeResolver>, Pipeline) {
    let resolver = Arc::new(resolver);
    let pipeline = pipeline(Arc::clone(&resolver), &ServerConfig::default());
    (resolver, pipeline)
}

async fn send(pipeline: &Pipeline, message: &Message) -> Message {
    ask(pipeline, &wire(message), Transport::Udp)
        .await
        .expect("a response")
}

fn ad_query(id: u16, name: &str) -> Message {
    let mut message = query(id, name, RecordType::A);
    message.metadata.authentic_data = true;
    message
}

fn cd_query(id: u16, name: &str) -> Message {
    let mut message = query(id, name, RecordType::A);
    message.metadata.checking_disabled = true;
    message
}

#[tokio::test]
async fn ad_is_set_for_secure_answers_to_clients_that_asked_with_do_or_ad() {
    let resolver = with_security(FakeResolver::new(), "secure.example.", Validation::Secure);
    let resolver = with_security(resolver, "insecure.example.", Validation::Insecure);
    let (_, pipeline) = dnssec_pipeline(resolver.validating());
    let do_query = with_edns(query(1, "secure.example.", RecordType::A), 1232, 0, true);
    assert!(
        send(&pipeline, &do_query).await.metadata.authentic_data,
        "DO"
    );
    assert!(
        send(&pipeline, &ad_query(2, "secure.example."))
            .await
            .metadata
            .authentic_data,
        "AD"
    );
    let plain = send(&pipeline, &query(3, "secure.example.", RecordType::A)).await;
    assert!(!plain.metadata.authentic_data, "neither DO nor AD");
    assert_eq!(plain.answers.len(), 1);
    let insecure = with_edns(query(4, "insecure.example.", RecordType::A), 1232, 0, true);
    let insecure = send(&pipeline, &insecure).await;
    assert!(!insecure.metadata.authentic_data, "insecure: never AD");
    assert_eq!(insecure.answers.len(), 1);
}

#[tokio::test]
async fn a_bogus_answer_is_servfail_with_the_ede_and_its_text() {
    let resolver = FakeResolver::new()
        .with("bogus.example.", RecordType::A, bogus())
        .validating();
    let (_, pipeline) = dnssec_pipeline(resolver);
    let message = with_edns(query(7, "bogus.example.", RecordType::A), 1232, 0, true);
    let response = send(&pipeline, &message).await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    assert!(!response.metadata.authentic_data);
    let edns = response.edns.expect("OPT");
    let ede: Vec<_> = edns
        .options()
        .as_ref()
        .iter()
        .filter(|(code, _)| u16::from(*code) == crate::pipeline::EDE_OPTION_CODE)
        .collect();
    assert_eq!(ede.len(), 1);
    match &ede[0].1 {
        EdnsOption::Unknown(_, data) => {
            assert_eq!(&data[..2], &[0, 9], "INFO-CODE 9, DNSKEY Missing");
            let text = std::str::from_utf8(&data[2..]).unwrap();
            assert!(
                text.contains("sub.example.") && text.contains("4711"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Without EDNS: the SERVFAIL alone.
    let plain = send(&pipeline, &query(8, "bogus.example.", RecordType::A)).await;
    assert_eq!(plain.metadata.response_code, ResponseCode::ServFail);
    assert!(plain.edns.is_none());
}

#[tokio::test]
async fn rrsigs_go_only_to_clients_that_asked_with_do_or_for_rrsigs() {
    let resolution = signed_answer("secure.example.");
    let resolver = FakeResolver::new()
        .with("secure.example.", RecordType::A, resolution)
        .validating();
    let (_, pipeline) = dnssec_pipeline(resolver);
    let types = |m: &Message| {
        m.answers
            .iter()
            .map(|r| r.record_type())
            .collect::<Vec<_>>()
    };
    let do_query = with_edns(query(1, "secure.example.", RecordType::A), 1232, 0, true);
    let signed = send(&pipeline, &do_query).await;
    assert_eq!(types(&signed), vec![RecordType::A, RecordType::RRSIG]);
    let plain = send(&pipeline, &ad_query(2, "secure.example.")).await;
    assert_eq!(
        types(&plain),
        vec![RecordType::A],
        "AD without DO: no RRSIG"
    );
    assert!(plain.metadata.authentic_data);
}

#[tokio::test]
async fn the_proof_of_a_negative_answer_goes_only_to_do_clients() {
    let soa = hickory_proto::rr::rdata::SOA::new(
        super::name_of("ns.example."),
        super::name_of("host.example."),
        1,
        3600,
        600,
        86400,
        300,
    );
    let owner = super::name_of("example.");
    let soa = hickory_proto::rr::Record::from_rdata(owner.clone(), 300, RData::SOA(soa));
    let unknown = |rtype: RecordType| {
        hickory_proto::rr::Record::from_rdata(
            owner.clone(),
            300,
            RData::Unknown {
                code: rtype,
                rdata: hickory_proto::rr::rdata::NULL::with(vec![0; 20]),
            },
        )
    };
    let nsec = hickory_proto::dnssec::rdata::NSEC::new(
        super::name_of("www.example."),
        [RecordType::A, RecordType::NSEC],
    );
    let nsec = hickory_proto::rr::Record::from_rdata(
        super::name_of("example."),
        300,
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::NSEC(nsec)),
    );
    let resolution = Resolution {
        authorities: vec![soa, nsec, unknown(RecordType::RRSIG)],
        security: Validation::Secure,
        ..Resolution::error(ResponseCode::NXDomain)
    };
    let resolver = FakeResolver::new()
        .with("nope.example.", RecordType::A, resolution)
        .validating();
    let (_, pipeline) = dnssec_pipeline(resolver);
    let kinds = |m: &Message| {
        m.authorities
            .iter()
            .map(|r| r.record_type())
            .collect::<Vec<_>>()
    };
    let do_query = with_edns(query(1, "nope.example.", RecordType::A), 1232, 0, true);
    let proven = send(&pipeline, &do_query).await;
    let expected = vec![RecordType::SOA, RecordType::NSEC, RecordType::RRSIG];
    assert_eq!(kinds(&proven), expected);
    assert!(proven.metadata.authentic_data);
    let plain = send(&pipeline, &query(2, "nope.example.", RecordType::A)).await;
    assert_eq!(kinds(&plain), vec![RecordType::SOA]);
}

#[tokio::test]
async fn cd_is_passed_to_the_engine() {
    let (resolver, pipeline) = dnssec_pipeline(FakeResolver::new().validating());
    send(&pipeline, &cd_query(1, "www.example.")).await;
    send(&pipeline, &query(2, "www.example.", RecordType::A)).await;
    let seen = resolver.seen();
    assert!(seen[0].checking_disabled);
    assert!(!seen[1].checking_disabled);
}

/// A secure A RRset with a stand-in for its RRSIG (the front end only looks at its type).
fn signed_answer(name: &str) -> Resolution {
    let owner = super::name_of(name);
    let a = hickory_proto::rr::Record::from_rdata(
        owner.clone(),
        300,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1)),
    );
    let sig = hickory_proto::rr::Record::from_rdata(
        owner,
        300,
        hickory_proto::rr::RData::Unknown {
            code: RecordType::RRSIG,
            rdata: hickory_proto::rr::rdata::NULL::with(vec![0; 20]),
        },
    );
    Resolution {
        answers: vec![a, sig],
        security: Validation::Secure,
        ..Resolution::error(ResponseCode::NoError)
    }
}

#[tokio::test]
async fn with_validation_each_set_of_do_ad_and_cd_bits_has_its_own_replayed_answer() {
    let resolver = FakeResolver::new()
        .with("www.example.", RecordType::A, signed_answer("www.example."))
        .with_wire_cache()
        .validating();
    let (resolver, pipeline) = dnssec_pipeline(resolver);
    let asked = || resolver.seen().len();
    let types = |m: &Message| {
        m.answers
            .iter()
            .map(|r| r.record_type())
            .collect::<Vec<_>>()
    };
    let do_query = |id| with_edns(query(id, "www.example.", RecordType::A), 1232, 0, true);
    // Each set of bits goes to the engine once, and is replayed from then on: what was
    // rendered for one set never reaches a query with another.
    let cd = send(&pipeline, &cd_query(1, "www.example.")).await;
    let plain = send(&pipeline, &query(2, "www.example.", RecordType::A)).await;
    let signed = send(&pipeline, &do_query(3)).await;
    let ad = send(&pipeline, &ad_query(4, "www.example.")).await;
    assert_eq!(asked(), 4, "one engine question per set of bits");
    for (what, first, again) in [
        (
            "CD",
            cd,
            send(&pipeline, &cd_query(5, "www.example.")).await,
        ),
        (
            "plain",
            plain,
            send(&pipeline, &query(6, "www.example.", RecordType::A)).await,
        ),
        ("DO", signed, send(&pipeline, &do_query(7)).await),
        (
            "AD",
            ad,
            send(&pipeline, &ad_query(8, "www.example.")).await,
        ),
    ] {
        assert_eq!(types(&again), types(&first), "{what}: the same records");
        assert_eq!(
            again.metadata.authentic_data, first.metadata.authentic_data,
            "{what}: the same AD"
        );
        assert_eq!(
            again.metadata.checking_disabled, first.metadata.checking_disabled,
            "{what}: CD copied"
        );
    }
    assert_eq!(asked(), 4, "every second question replayed");
    let signed = send(&pipeline, &do_query(9)).await;
    assert_eq!(types(&signed), vec![RecordType::A, RecordType::RRSIG]);
    assert!(signed.metadata.authentic_data);
    assert!(signed.edns.expect("OPT").flags().dnssec_ok);
    let plain = send(&pipeline, &query(10, "www.example.", RecordType::A)).await;
    assert_eq!(types(&plain), vec![RecordType::A]);
    assert!(!plain.metadata.authentic_data);
    assert_eq!(asked(), 4);
}

#[tokio::test]
async fn an_answer_with_an_extended_error_is_not_replayed_without_it() {
    let mut insecure = signed_answer("old.example.");
    insecure.answers.truncate(1);
    insecure.security = Validation::Insecure;
    insecure.ede = Some(Ede {
        code: 1,
        text: "insecure: unsupported DNSKEY algorithm (zone old.example.)".into(),
    });
    let resolver = FakeResolver::new()
        .with("old.example.", RecordType::A, insecure)
        .with_wire_cache()
        .validating();
    let (resolver, pipeline) = dnssec_pipeline(resolver);
    for id in 1..=2 {
        let asked = with_edns(query(id, "old.example.", RecordType::A), 1232, 0, false);
        let response = send(&pipeline, &asked).await;
        let edns = response.edns.expect("OPT");
        let ede = edns
            .options()
            .as_ref()
            .iter()
            .any(|(code, _)| u16::from(*code) == crate::pipeline::EDE_OPTION_CODE);
        assert!(ede, "query {id}: the EDE is there");
    }
    assert_eq!(resolver.seen().len(), 2, "not replayed");
}

#[tokio::test]
async fn without_validation_do_queries_keep_the_fast_path() {
    let resolver =
        with_security(FakeResolver::new(), "www.example.", Validation::Unchecked).with_wire_cache();
    let (resolver, pipeline) = dnssec_pipeline(resolver);
    send(&pipeline, &query(1, "www.example.", RecordType::A)).await;
    let do_query = with_edns(query(2, "www.example.", RecordType::A), 1232, 0, true);
    let response = send(&pipeline, &do_query).await;
    assert_eq!(resolver.seen().len(), 1, "replayed");
    assert!(!response.metadata.authentic_data);
}
