//! The request pipeline without sockets: every rcode path, the header flags, OPT, truncation.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use scoped_recursor::Resolution;

use super::{CLIENT, FakeResolver, ask, pipeline, query, wire, with_edns};
use crate::{DropReason, ErrorReason, Rejection, ServerConfig, Transport, parse_query};

fn default_pipeline() -> crate::Pipeline {
    let resolver = FakeResolver::new()
        .with_a("www.example.com.", RecordType::A, 2)
        .with_a("big.example.com.", RecordType::A, 60)
        .with_a("huge.example.com.", RecordType::A, 120)
        .with_a("giant.example.com.", RecordType::A, 1000)
        .with("fail.example.com.", RecordType::A, Resolution::servfail());
    pipeline(Arc::new(resolver), &ServerConfig::default())
}

async fn ask_udp(message: &Message) -> Message {
    ask(&default_pipeline(), &wire(message), Transport::Udp)
        .await
        .expect("a response")
}

/// A 16-bit rcode as the client reads it (BADVERS shares 16 with BADSIG in hickory's decoder).
fn rcode_value(message: &Message) -> u16 {
    u16::from(message.metadata.response_code)
}

#[tokio::test]
async fn answer_carries_id_flags_question_and_records() {
    let response = ask_udp(&query(0x1234, "www.example.com.", RecordType::A)).await;
    let header = response.metadata;
    assert_eq!(header.id, 0x1234);
    assert_eq!(
        header.message_type,
        hickory_proto::op::MessageType::Response
    );
    assert_eq!(header.op_code, OpCode::Query);
    assert_eq!(header.response_code, ResponseCode::NoError);
    assert!(header.recursion_available, "RA set");
    assert!(header.recursion_desired, "RD echoed");
    assert!(!header.authoritative, "AA clear");
    assert!(!header.authentic_data, "AD clear");
    assert!(!header.checking_disabled, "CD echoed clear");
    assert!(!header.truncation);
    assert_eq!(response.queries.len(), 1);
    assert_eq!(response.answers.len(), 2);
    assert!(response.authorities.is_empty() && response.additionals.is_empty());
    assert!(response.edns.is_none(), "no OPT without client EDNS");
}

#[tokio::test]
async fn rd_clear_and_cd_set_are_echoed() {
    let mut message = query(7, "www.example.com.", RecordType::A);
    message.metadata.recursion_desired = false;
    message.metadata.checking_disabled = true;
    let header = ask_udp(&message).await.metadata;
    assert!(!header.recursion_desired);
    assert!(header.checking_disabled);
    assert!(header.recursion_available);
}

#[tokio::test]
async fn question_case_is_preserved() {
    let response = ask_udp(&query(7, "WwW.ExAmPlE.CoM.", RecordType::A)).await;
    let question = response.queries.first().expect("question");
    assert_eq!(question.name().to_ascii(), "WwW.ExAmPlE.CoM.");
    assert_eq!(response.answers.len(), 2, "lookup is case-insensitive");
}

#[tokio::test]
async fn negative_answer_carries_the_engines_soa() {
    let response = ask_udp(&query(9, "nope.example.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(response.authorities.len(), 1);
    assert_eq!(
        response.authorities.first().map(|r| r.record_type()),
        Some(RecordType::SOA)
    );
}

#[tokio::test]
async fn engine_servfail_is_passed_on() {
    let response = ask_udp(&query(9, "fail.example.com.", RecordType::A)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn opt_is_answered_with_our_payload_and_do_echoed() {
    let response = ask_udp(&with_edns(
        query(1, "www.example.com.", RecordType::A),
        4096,
        0,
        true,
    ))
    .await;
    let edns = response.edns.expect("OPT echoed");
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(edns.version(), 0);
    assert!(edns.flags().dnssec_ok);

    let response = ask_udp(&with_edns(
        query(1, "www.example.com.", RecordType::A),
        1232,
        0,
        false,
    ))
    .await;
    assert!(!response.edns.expect("OPT echoed").flags().dnssec_ok);
}

#[tokio::test]
async fn garbage_after_header_is_formerr_with_the_id() {
    // ID 0xBEEF, RD, QDCOUNT 1, then a label running past the end.
    let garbage = [
        0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, b'a', b'b',
    ];
    let response = ask(&default_pipeline(), &garbage, Transport::Udp)
        .await
        .expect("FORMERR");
    assert_eq!(response.metadata.id, 0xbeef);
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    assert!(response.metadata.recursion_desired);
    assert!(response.queries.is_empty());
}

#[tokio::test]
async fn formerr_keeps_the_question_when_only_later_sections_are_broken() {
    let mut bytes = wire(&query(0x4242, "www.example.com.", RecordType::A));
    // Claim one additional record that is not there.
    if let Some(arcount_low) = bytes.get_mut(11) {
        *arcount_low = 1;
    }
    bytes.extend_from_slice(&[0, 0, 41]);
    let response = ask(&default_pipeline(), &bytes, Transport::Udp)
        .await
        .expect("FORMERR");
    assert_eq!(response.metadata.id, 0x4242);
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(
        response.queries.first().map(|q| q.name().to_ascii()),
        Some("www.example.com.".to_owned())
    );
}

#[tokio::test]
async fn two_opt_records_are_formerr() {
    let mut bytes = wire(&with_edns(
        query(5, "www.example.com.", RecordType::A),
        1232,
        0,
        false,
    ));
    let opt = [0u8, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&opt);
    if let Some(arcount_low) = bytes.get_mut(11) {
        *arcount_low = 2;
    }
    let response = ask(&default_pipeline(), &bytes, Transport::Udp)
        .await
        .expect("FORMERR");
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(response.metadata.id, 5);
}

#[tokio::test]
async fn question_count_other_than_one_is_formerr() {
    let mut none = query(3, "www.example.com.", RecordType::A);
    none.queries.clear();
    let response = ask_udp(&none).await;
    assert_eq!(
        (response.metadata.id, response.metadata.response_code),
        (3, ResponseCode::FormErr)
    );

    let mut two = query(4, "www.example.com.", RecordType::A);
    two.add_query(hickory_proto::op::Query::query(
        super::name_of("b.example."),
        RecordType::A,
    ));
    let response = ask_udp(&two).await;
    assert_eq!(
        (response.metadata.id, response.metadata.response_code),
        (4, ResponseCode::FormErr)
    );
    assert!(matches!(
        parse_query(&wire(&two)),
        Err(Rejection::Reply {
            reason: ErrorReason::QuestionCount(2),
            ..
        })
    ));
}

#[tokio::test]
async fn opcode_other_than_query_is_notimp() {
    for opcode in [OpCode::Status, OpCode::Notify, OpCode::Update] {
        let mut message = query(11, "www.example.com.", RecordType::A);
        message.metadata.op_code = opcode;
        let response = ask_udp(&message).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NotImp,
            "{opcode:?}"
        );
        assert_eq!(response.metadata.op_code, opcode, "opcode echoed");
        assert_eq!(response.metadata.id, 11);
    }
}

#[tokio::test]
async fn edns_version_above_zero_is_badvers_with_opt() {
    let response = ask_udp(&with_edns(
        query(12, "www.example.com.", RecordType::A),
        1232,
        1,
        true,
    ))
    .await;
    assert_eq!(rcode_value(&response), 16, "BADVERS");
    let edns = response
        .edns
        .expect("BADVERS needs an OPT for the high rcode bits");
    assert_eq!(edns.version(), 0);
    assert_eq!(edns.rcode_high(), 1);
    assert!(edns.flags().dnssec_ok);
    assert_eq!(response.queries.len(), 1);
    assert!(response.answers.is_empty());
}

#[tokio::test]
async fn client_outside_acl_is_refused_without_resolving() {
    let resolver = Arc::new(FakeResolver::new().with_a("www.example.com.", RecordType::A, 1));
    let config = ServerConfig {
        allow: vec!["10.0.0.0/8".parse().expect("net")],
        ..ServerConfig::default()
    };
    let pipeline = pipeline(Arc::clone(&resolver), &config);
    let response = ask(
        &pipeline,
        &wire(&query(13, "www.example.com.", RecordType::A)),
        Transport::Udp,
    )
    .await
    .expect("REFUSED");
    assert_eq!(response.metadata.id, 13);
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    assert!(response.answers.is_empty());
    assert!(
        resolver.seen().is_empty(),
        "the engine is not asked for a refused client"
    );
    assert_eq!(pipeline.stats().snapshot().refused_acl, 1);
}

#[tokio::test]
async fn ipv4_mapped_client_is_matched_and_resolved_as_ipv4() {
    let resolver = Arc::new(FakeResolver::new().with_a("www.example.com.", RecordType::A, 1));
    let pipeline = pipeline(Arc::clone(&resolver), &ServerConfig::default());
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:5353".parse().expect("addr");
    let bytes = wire(&query(14, "www.example.com.", RecordType::A));
    let response = pipeline
        .handle(&bytes, mapped, Transport::Udp)
        .await
        .expect("answer");
    let response = Message::from_vec(&response).expect("parses");
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let seen = resolver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen.first().map(|r| r.client), Some(CLIENT.ip()));
    assert_eq!(seen.first().and_then(|r| r.client_subnet), None);
}

#[tokio::test]
async fn class_other_than_in_is_refused() {
    for class in [DNSClass::CH, DNSClass::HS, DNSClass::ANY] {
        let mut message = query(15, "version.bind.", RecordType::TXT);
        if let Some(question) = message.queries.first_mut() {
            question.set_query_class(class);
        }
        let response = ask_udp(&message).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::Refused,
            "{class:?}"
        );
        assert_eq!(
            response.queries.first().map(|q| q.query_class()),
            Some(class)
        );
    }
}

#[tokio::test]
async fn zone_transfers_and_mailbox_queries_are_notimp() {
    for qtype in [
        RecordType::AXFR,
        RecordType::IXFR,
        RecordType::Unknown(253),
        RecordType::Unknown(254),
    ] {
        let response = ask_udp(&query(16, "example.com.", qtype)).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NotImp,
            "{qtype:?}"
        );
    }
}

#[tokio::test]
async fn meta_types_as_questions_are_formerr() {
    for qtype in [
        RecordType::OPT,
        RecordType::TSIG,
        RecordType::Unknown(249),
        RecordType::Unknown(128),
    ] {
        let response = ask_udp(&query(17, "example.com.", qtype)).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::FormErr,
            "{qtype:?}"
        );
        assert_eq!(response.metadata.id, 17);
    }
}

#[tokio::test]
async fn any_goes_to_the_engine() {
    let response = ask_udp(&query(18, "nope.example.", RecordType::ANY)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn short_messages_and_responses_are_dropped_and_counted() {
    let pipeline = default_pipeline();
    assert!(
        pipeline
            .handle(&[0; 11], CLIENT, Transport::Udp)
            .await
            .is_none()
    );
    assert!(pipeline.handle(&[], CLIENT, Transport::Tcp).await.is_none());
    let mut response = query(19, "www.example.com.", RecordType::A);
    response.metadata.message_type = hickory_proto::op::MessageType::Response;
    assert!(
        pipeline
            .handle(&wire(&response), CLIENT, Transport::Udp)
            .await
            .is_none()
    );
    let stats = pipeline.stats().snapshot();
    assert_eq!((stats.dropped_short, stats.dropped_response), (2, 1));
    assert_eq!((stats.queries_udp, stats.queries_tcp), (2, 1));
    assert!(matches!(
        parse_query(&[0; 5]),
        Err(Rejection::Drop(DropReason::TooShort { len: 5 }))
    ));
}

#[tokio::test]
async fn big_answer_to_classic_udp_client_is_truncated() {
    let response = ask_udp(&query(20, "big.example.com.", RecordType::A)).await;
    assert!(response.metadata.truncation, "TC set");
    assert_eq!(response.metadata.id, 20);
    assert!(response.answers.is_empty());
    assert_eq!(response.queries.len(), 1, "question kept");
    assert!(response.edns.is_none());
}

#[tokio::test]
async fn big_answer_fits_a_large_edns_buffer() {
    let response = ask_udp(&with_edns(
        query(21, "big.example.com.", RecordType::A),
        4096,
        0,
        false,
    ))
    .await;
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 60);
}

#[tokio::test]
async fn edns_buffer_is_capped_at_our_payload() {
    // 120 A records are ~2 kB: above our 1232 even though the client offers 4096.
    let response = ask_udp(&with_edns(
        query(22, "huge.example.com.", RecordType::A),
        4096,
        0,
        true,
    ))
    .await;
    assert!(response.metadata.truncation);
    assert!(response.answers.is_empty());
    assert!(
        response
            .edns
            .expect("OPT kept in a truncated response")
            .flags()
            .dnssec_ok
    );
}

#[tokio::test]
async fn tcp_is_never_truncated() {
    let pipeline = default_pipeline();
    let bytes = wire(&query(23, "giant.example.com.", RecordType::A));
    let response = ask(&pipeline, &bytes, Transport::Tcp)
        .await
        .expect("answer");
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 1000);
    assert_eq!(pipeline.stats().snapshot().truncated, 0);
}

#[tokio::test]
async fn stats_count_transport_and_rcode() {
    let pipeline = default_pipeline();
    let bytes = wire(&query(24, "www.example.com.", RecordType::A));
    let _ = pipeline.handle(&bytes, CLIENT, Transport::Udp).await;
    let _ = pipeline.handle(&bytes, CLIENT, Transport::Tcp).await;
    let bytes = wire(&query(25, "big.example.com.", RecordType::A));
    let _ = pipeline.handle(&bytes, CLIENT, Transport::Udp).await;
    let stats = pipeline.stats().snapshot();
    assert_eq!((stats.queries_udp, stats.queries_tcp), (2, 1));
    assert_eq!(stats.responses_noerror, 3);
    assert_eq!(stats.truncated, 1);
}

fn stale_pipeline() -> crate::Pipeline {
    let resolver = FakeResolver::new().with(
        "old.example.com.",
        RecordType::A,
        Resolution {
            stale: true,
            from_cache: true,
            ..resolver_answer("old.example.com.")
        },
    );
    pipeline(Arc::new(resolver), &ServerConfig::default())
}

/// The one-record answer `FakeResolver::with_a` gives `name`.
fn resolver_answer(name: &str) -> Resolution {
    let owner = super::name_of(name);
    let record = hickory_proto::rr::Record::from_rdata(
        owner,
        30,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 0)),
    );
    Resolution {
        answers: vec![record],
        ..Resolution::error(ResponseCode::NoError)
    }
}

#[tokio::test]
async fn a_stale_answer_carries_ede_stale_answer_to_edns_clients() {
    let pipeline = stale_pipeline();
    let message = with_edns(query(9, "old.example.com.", RecordType::A), 1232, 0, false);
    let response = ask(&pipeline, &wire(&message), Transport::Udp)
        .await
        .expect("a response");
    assert_eq!(response.answers.len(), 1);
    let edns = response.edns.expect("OPT");
    let ede: Vec<_> = edns
        .options()
        .as_ref()
        .iter()
        .filter(|(code, _)| u16::from(*code) == crate::pipeline::EDE_OPTION_CODE)
        .collect();
    assert_eq!(ede.len(), 1, "{:?}", edns.options());
    match &ede[0].1 {
        hickory_proto::rr::rdata::opt::EdnsOption::Unknown(_, data) => {
            assert_eq!(data, &vec![0, 3], "INFO-CODE 3, Stale Answer");
        }
        other => panic!("{other:?}"),
    }
    // Without EDNS there is nowhere to say it; the answer is the same.
    let plain = ask(
        &pipeline,
        &wire(&query(10, "old.example.com.", RecordType::A)),
        Transport::Udp,
    )
    .await
    .expect("a response");
    assert!(plain.edns.is_none());
    assert_eq!(plain.answers.len(), 1);
}

#[tokio::test]
async fn a_fresh_answer_has_no_ede() {
    let message = with_edns(query(9, "www.example.com.", RecordType::A), 1232, 0, false);
    let response = ask_udp(&message).await;
    let edns = response.edns.expect("OPT");
    assert!(
        edns.options()
            .as_ref()
            .iter()
            .all(|(code, _)| u16::from(*code) != crate::pipeline::EDE_OPTION_CODE)
    );
}
