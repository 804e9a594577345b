//! The fast path against the full pipeline: a repeated question is answered from the rendered
//! bytes, and those bytes are exactly what the full path sent; everything the full path decides
//! differently (ACL, truncation, stale data) still goes through it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use scoped_recursor::Resolution;

use super::{
    CLIENT, FakeResolver, name_of, pipeline, query, raw_ecs, wire, with_edns, with_options,
};
use crate::{Pipeline, ServerConfig, Transport};

fn resolver() -> FakeResolver {
    FakeResolver::new()
        .with_a("www.example.com.", RecordType::A, 2)
        .with_a("big.example.com.", RecordType::A, 60)
        .with_wire_cache()
}

fn fast_pipeline() -> (Arc<FakeResolver>, Pipeline) {
    let resolver = Arc::new(resolver());
    let pipeline = pipeline(Arc::clone(&resolver), &ServerConfig::default());
    (resolver, pipeline)
}

async fn send(
    pipeline: &Pipeline,
    message: &Message,
    from: SocketAddr,
    transport: Transport,
) -> Vec<u8> {
    pipeline
        .handle(&wire(message), from, transport)
        .await
        .expect("a response")
}

/// Queries of every shape the fast path takes: plain, EDNS with DO, ECS, mixed case, RD clear
/// with AD and CD set, a negative answer.
fn shapes() -> Vec<Message> {
    let mut flags = query(5, "www.example.com.", RecordType::A);
    flags.metadata.recursion_desired = false;
    flags.metadata.authentic_data = true;
    flags.metadata.checking_disabled = true;
    vec![
        query(1, "www.example.com.", RecordType::A),
        with_edns(query(2, "www.example.com.", RecordType::A), 4096, 0, true),
        with_options(
            query(3, "www.example.com.", RecordType::A),
            vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
        ),
        query(4, "WwW.eXaMpLe.CoM.", RecordType::A),
        flags,
        with_edns(
            query(6, "nothing.example.com.", RecordType::AAAA),
            1232,
            0,
            false,
        ),
    ]
}

#[tokio::test]
async fn a_repeated_question_is_answered_with_the_full_paths_bytes() {
    for message in shapes() {
        let (resolver, pipeline) = fast_pipeline();
        let full = send(&pipeline, &message, CLIENT, Transport::Udp).await;
        let mut out = Vec::new();
        assert!(
            pipeline.answer_fast(&wire(&message), CLIENT, Transport::Udp, &mut out),
            "{message:?}"
        );
        assert_eq!(out, full, "{message:?}");
        assert_eq!(resolver.seen().len(), 1, "the engine was asked once");
        let stats = pipeline.stats().snapshot();
        assert_eq!(stats.queries_udp, 2);
        let answered = stats.responses_noerror + stats.responses_nxdomain;
        assert_eq!(answered, 2, "both responses counted");
    }
}

#[tokio::test]
async fn the_fast_path_keeps_the_askers_id_and_spelling() {
    let (_, pipeline) = fast_pipeline();
    send(
        &pipeline,
        &query(1, "www.example.com.", RecordType::A),
        CLIENT,
        Transport::Udp,
    )
    .await;
    let again = send(
        &pipeline,
        &query(0xbeef, "WWW.Example.COM.", RecordType::A),
        CLIENT,
        Transport::Udp,
    )
    .await;
    let response = Message::from_vec(&again).unwrap();
    assert_eq!(response.metadata.id, 0xbeef);
    assert_eq!(response.queries[0].name().to_ascii(), "WWW.Example.COM.");
    assert_eq!(response.answers.len(), 2);
}

#[tokio::test]
async fn the_fast_path_does_not_bypass_the_acl() {
    let resolver = Arc::new(resolver());
    let config = ServerConfig {
        allow: vec!["127.0.0.1/32".parse().unwrap()],
        ..ServerConfig::default()
    };
    let pipeline = pipeline(Arc::clone(&resolver), &config);
    let message = query(1, "www.example.com.", RecordType::A);
    send(&pipeline, &message, CLIENT, Transport::Udp).await;
    let outsider = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 5000);
    let response =
        Message::from_vec(&send(&pipeline, &message, outsider, Transport::Udp).await).unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    assert!(response.answers.is_empty());
}

#[tokio::test]
async fn an_answer_too_large_for_the_client_is_truncated_by_the_full_path() {
    let (resolver, pipeline) = fast_pipeline();
    // Rendered whole over TCP (60 A records, over 512 bytes) ...
    let message = query(1, "big.example.com.", RecordType::A);
    send(&pipeline, &message, CLIENT, Transport::Tcp).await;
    // ... then asked over UDP without EDNS: 512 bytes at most.
    let response =
        Message::from_vec(&send(&pipeline, &message, CLIENT, Transport::Udp).await).unwrap();
    assert!(response.metadata.truncation);
    assert!(response.answers.is_empty());
    assert_eq!(resolver.seen().len(), 2, "the full path resolved it");
}

#[tokio::test]
async fn stale_and_failed_answers_are_never_replayed() {
    let mut stale = Resolution::error(ResponseCode::NoError);
    stale.stale = true;
    stale.answers = vec![hickory_proto::rr::Record::from_rdata(
        name_of("old.example.com."),
        30,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 9)),
    )];
    let resolver = Arc::new(
        FakeResolver::new()
            .with("old.example.com.", RecordType::A, stale)
            .with("fail.example.com.", RecordType::A, Resolution::servfail())
            .with_wire_cache(),
    );
    let pipeline = pipeline(Arc::clone(&resolver), &ServerConfig::default());
    for name in ["old.example.com.", "fail.example.com."] {
        for id in 0..2 {
            send(
                &pipeline,
                &query(id, name, RecordType::A),
                CLIENT,
                Transport::Udp,
            )
            .await;
        }
    }
    assert_eq!(resolver.seen().len(), 4, "every one resolved");
}

#[tokio::test(start_paused = true)]
async fn replayed_ttls_count_down_and_the_entry_ends_with_its_lifetime() {
    let (resolver, pipeline) = fast_pipeline();
    let message = query(1, "www.example.com.", RecordType::A);
    send(&pipeline, &message, CLIENT, Transport::Udp).await;
    tokio::time::advance(std::time::Duration::from_secs(100)).await;
    let response =
        Message::from_vec(&send(&pipeline, &message, CLIENT, Transport::Udp).await).unwrap();
    assert_eq!(response.answers[0].ttl, 200);
    assert_eq!(resolver.seen().len(), 1);
    tokio::time::advance(std::time::Duration::from_secs(200)).await;
    send(&pipeline, &message, CLIENT, Transport::Udp).await;
    assert_eq!(
        resolver.seen().len(),
        2,
        "past its lifetime: resolved again"
    );
}

/// The UDP loop keeps the last client's ACL verdict and subnet decision (`ClientMemo`); a
/// different address must be judged afresh: refused if the ACL says so, and looked up under its
/// own subnet, never under the previous client's.
#[tokio::test]
async fn the_client_memo_never_lets_one_client_pass_as_another() {
    let resolver = Arc::new(resolver());
    let config = ServerConfig {
        allow: vec![
            "81.2.69.0/24".parse().unwrap(),
            "203.0.113.0/24".parse().unwrap(),
        ],
        ..ServerConfig::default()
    };
    let pipeline = pipeline(Arc::clone(&resolver), &config);
    let message = query(1, "www.example.com.", RecordType::A);
    let at = |a, b, c, d| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), 5000);
    let (insider, neighbour, other_subnet, outsider) = (
        at(81, 2, 69, 142),
        at(81, 2, 69, 7),
        at(203, 0, 113, 9),
        at(192, 0, 2, 1),
    );
    // Rendered for the insider's /24 (the fake resolver's answers are per subnet).
    send(&pipeline, &message, insider, Transport::Udp).await;
    let mut memo = crate::ClientMemo::default();
    let mut fast = |from| {
        let mut out = Vec::new();
        let now = tokio::time::Instant::now();
        pipeline.answer_fast_at(
            &wire(&message),
            from,
            Transport::Udp,
            &mut out,
            now,
            &mut memo,
        ) == crate::Fast::Answered
    };
    assert!(fast(insider));
    assert!(fast(neighbour), "same /24: the same rendering");
    assert!(!fast(outsider), "outside the ACL: the full path refuses it");
    assert!(fast(insider));
    assert!(!fast(other_subnet), "its own /24 has no rendering yet");
    assert!(fast(insider));
}

#[tokio::test]
async fn only_an_answer_from_the_engines_caches_is_rendered_for_replay() {
    let message = query(1, "www.example.com.", RecordType::A);
    let mut out = Vec::new();
    // Resolved upstream (a miss, asked for once so far): answered, not kept for replay.
    let upstream = Arc::new(resolver().scoped("www.example.com.", RecordType::A, 0, false));
    let front = pipeline(Arc::clone(&upstream), &ServerConfig::default());
    send(&front, &message, CLIENT, Transport::Udp).await;
    assert!(!front.answer_fast(&wire(&message), CLIENT, Transport::Udp, &mut out));
    send(&front, &message, CLIENT, Transport::Udp).await;
    assert_eq!(upstream.seen().len(), 2, "both asks went to the engine");
    // Answered from the engine's caches (asked for before): rendered, then replayed.
    let cached = Arc::new(resolver());
    let front = pipeline(Arc::clone(&cached), &ServerConfig::default());
    send(&front, &message, CLIENT, Transport::Udp).await;
    assert!(front.answer_fast(&wire(&message), CLIENT, Transport::Udp, &mut out));
    assert_eq!(cached.seen().len(), 1);
}
