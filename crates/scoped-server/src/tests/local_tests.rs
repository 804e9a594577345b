//! Pipeline step 9b: local zones answered before the cache and the engine, never resolved.

use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};

use super::{CLIENT, FakeResolver, ask, pipeline, query, raw_ecs, wire, with_options};
use crate::{LocalConfig, LocalZones, ServerConfig, Transport};

fn config_with(local: LocalZones) -> ServerConfig {
    ServerConfig {
        local: Arc::new(local),
        ..ServerConfig::default()
    }
}

/// The names the engine was asked, in order.
fn asked_names(resolver: &FakeResolver) -> Vec<String> {
    resolver
        .seen()
        .iter()
        .map(|r| r.question.name.to_ascii())
        .collect()
}

fn blocklist(zones: &[&str]) -> LocalZones {
    LocalZones::build(&LocalConfig {
        zones: zones.iter().map(|z| z.parse().unwrap()).collect(),
        ..LocalConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn default_zones_are_answered_with_aa_and_the_engine_is_never_asked() {
    let resolver = Arc::new(FakeResolver::new());
    let pipeline = pipeline(Arc::clone(&resolver), &ServerConfig::default());
    let response = ask(
        &pipeline,
        &wire(&query(7, "LocalHost.", RecordType::A)),
        Transport::Udp,
    )
    .await
    .unwrap();
    assert_eq!(response.metadata.id, 7);
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative, "AA: the data is ours");
    assert!(response.metadata.recursion_available && response.metadata.recursion_desired);
    assert_eq!(
        response.queries[0].name().to_ascii(),
        "LocalHost.",
        "question as sent"
    );
    assert_eq!(response.answers[0].data, RData::A(A(Ipv4Addr::LOCALHOST)));

    for (qname, qtype) in [
        ("1.0.0.10.in-addr.arpa.", RecordType::PTR),
        ("www.invalid.", RecordType::A),
        ("x.onion.", RecordType::AAAA),
    ] {
        let response = ask(&pipeline, &wire(&query(8, qname, qtype)), Transport::Tcp)
            .await
            .unwrap();
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NXDomain,
            "{qname}"
        );
        assert!(response.metadata.authoritative);
        assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    }
    assert!(
        resolver.seen().is_empty(),
        "nothing reached the engine: {:?}",
        resolver.seen()
    );
    let stats = pipeline.stats().snapshot();
    assert_eq!(stats.answered_local, 4);
    assert_eq!(stats.responses_nxdomain, 3);
}

#[tokio::test]
async fn without_local_zones_the_same_names_go_to_the_engine() {
    let resolver = Arc::new(FakeResolver::new());
    let pipeline = pipeline(Arc::clone(&resolver), &config_with(LocalZones::none()));
    let response = ask(
        &pipeline,
        &wire(&query(1, "localhost.", RecordType::A)),
        Transport::Udp,
    )
    .await
    .unwrap();
    assert!(!response.metadata.authoritative);
    assert_eq!(resolver.seen().len(), 1);
    assert_eq!(pipeline.stats().snapshot().answered_local, 0);
}

#[tokio::test]
async fn a_transparent_zone_passes_names_without_data_to_the_engine() {
    let local = LocalZones::build(&LocalConfig {
        zones: vec!["lan.example. transparent".parse().unwrap()],
        records: vec!["nas.lan.example. 60 A 10.0.0.2".into()],
        ..LocalConfig::default()
    })
    .unwrap();
    let resolver = Arc::new(FakeResolver::new().with_a("www.lan.example.", RecordType::A, 1));
    let pipeline = pipeline(Arc::clone(&resolver), &config_with(local));
    let local = ask(
        &pipeline,
        &wire(&query(1, "nas.lan.example.", RecordType::A)),
        Transport::Udp,
    )
    .await
    .unwrap();
    assert_eq!(
        local.answers[0].data,
        RData::A(A(Ipv4Addr::new(10, 0, 0, 2)))
    );
    assert_eq!(local.answers[0].ttl, 60);
    let resolved = ask(
        &pipeline,
        &wire(&query(2, "www.lan.example.", RecordType::A)),
        Transport::Udp,
    )
    .await
    .unwrap();
    assert_eq!(resolved.answers.len(), 1);
    assert!(!resolved.metadata.authoritative);
    assert_eq!(asked_names(&resolver), ["www.lan.example."]);
}

#[tokio::test]
async fn a_refuse_zone_answers_refused_without_aa() {
    let resolver = Arc::new(FakeResolver::new());
    let pipeline = pipeline(
        Arc::clone(&resolver),
        &config_with(blocklist(&["no.example. refuse"])),
    );
    let response = ask(
        &pipeline,
        &wire(&query(1, "a.no.example.", RecordType::A)),
        Transport::Udp,
    )
    .await
    .unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    assert!(!response.metadata.authoritative);
    assert!(resolver.seen().is_empty());
}

#[tokio::test]
async fn the_ecs_echo_of_a_local_answer_has_scope_zero() {
    let pipeline = pipeline(Arc::new(FakeResolver::new()), &ServerConfig::default());
    let message = with_options(
        query(1, "localhost.", RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
    );
    let bytes = pipeline
        .handle(&wire(&message), CLIENT, Transport::Udp)
        .await
        .unwrap();
    let echo = scoped_ecs::message_ecs(&bytes, scoped_ecs::Direction::Response)
        .unwrap()
        .expect("ECS echoed");
    assert_eq!((echo.source(), echo.scope()), (24, 0));
}

#[tokio::test]
async fn the_fast_path_never_replays_an_answer_a_local_zone_now_overrides() {
    // An engine that kept a rendered answer for ads.example. (served before the name was
    // blocked): with the name in an always-nxdomain zone, the fast path must not replay it.
    let resolver = Arc::new(
        FakeResolver::new()
            .with_a("ads.example.", RecordType::A, 1)
            .with_wire_cache(),
    );
    let open = pipeline(Arc::clone(&resolver), &config_with(LocalZones::none()));
    let message = wire(&query(1, "ads.example.", RecordType::A));
    ask(&open, &message, Transport::Udp).await.unwrap();
    let mut out = Vec::new();
    assert!(
        open.answer_fast(&message, CLIENT, Transport::Udp, &mut out),
        "kept for the fast path"
    );

    let blocked = pipeline(
        Arc::clone(&resolver),
        &config_with(blocklist(&["ads.example. always-nxdomain"])),
    );
    out.clear();
    assert!(!blocked.answer_fast(&message, CLIENT, Transport::Udp, &mut out));
    assert!(out.is_empty());
    let response = ask(&blocked, &message, Transport::Udp).await.unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        resolver.seen().len(),
        1,
        "only the first, unblocked question was resolved"
    );
}

/// The PTR name under 64:ff9b::/96 of an IPv4 address.
fn dns64_reverse(v4: [u8; 4]) -> String {
    let v6 =
        std::net::Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(u32::from_be_bytes(v4)));
    let mut name = String::new();
    for byte in v6.octets().iter().rev() {
        name.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
    }
    name + "ip6.arpa."
}

#[tokio::test(start_paused = true)]
async fn a_dns64_ptr_for_a_private_address_is_answered_locally_with_zero_upstream_queries() {
    let internet = scoped_testkit::standard_internet();
    let config = scoped_recursor::RecursorConfig {
        dns64: scoped_recursor::Dns64Config {
            enabled: true,
            ..scoped_recursor::Dns64Config::default()
        },
        ..scoped_testkit::engine::config_for(&internet)
    };
    let recursor = scoped_testkit::engine::recursor_with(&internet, config);
    let pipeline =
        crate::Pipeline::new(&ServerConfig::default(), Arc::new(recursor), Arc::default());
    for v4 in [
        [192, 168, 1, 20],
        [10, 1, 2, 3],
        [172, 16, 0, 1],
        [100, 64, 0, 1],
    ] {
        let qname = dns64_reverse(v4);
        let response = ask(
            &pipeline,
            &wire(&query(9, &qname, RecordType::PTR)),
            Transport::Udp,
        )
        .await
        .unwrap();
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NXDomain,
            "{qname}"
        );
        assert!(response.metadata.authoritative);
        let [a, b, c, d] = v4;
        let target = format!("{d}.{c}.{b}.{a}.in-addr.arpa.");
        assert_eq!(
            response.answers[0].data,
            RData::CNAME(hickory_proto::rr::rdata::CNAME(
                hickory_proto::rr::Name::from_ascii(&target).unwrap()
            )),
            "the CNAME to the IPv4 reverse name, as the engine gives it"
        );
        assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    }
    assert_eq!(internet.total_queries(), 0, "{:?}", internet.query_log());
    assert_eq!(pipeline.stats().snapshot().answered_local, 4);
    // A public address's reverse name is still resolved (upstream).
    let public = dns64_reverse([93, 184, 216, 34]);
    ask(
        &pipeline,
        &wire(&query(10, &public, RecordType::PTR)),
        Transport::Udp,
    )
    .await
    .unwrap();
    assert!(internet.total_queries() > 0);
}

/// The fast path tells the UDP loop whether a local zone covers a query it did not answer; the
/// full path then skips the local zones only when none does, so no local name is ever resolved.
#[tokio::test]
async fn the_fast_path_says_not_local_only_for_names_no_local_zone_answers() {
    use crate::Fast;
    let local = LocalZones::build(&LocalConfig {
        zones: vec![
            "lan.example. transparent".parse().unwrap(),
            "blocked.example. static".parse().unwrap(),
        ],
        records: vec!["nas.lan.example. 60 A 10.0.0.2".into()],
        ..LocalConfig::default()
    })
    .unwrap();
    let resolver = Arc::new(FakeResolver::new().with_a("www.lan.example.", RecordType::A, 1));
    let pipeline = pipeline(Arc::clone(&resolver), &config_with(local));
    let verdict = |name: &str| {
        let mut out = Vec::new();
        pipeline.answer_fast_at(
            &wire(&query(3, name, RecordType::A)),
            CLIENT,
            Transport::Udp,
            &mut out,
            tokio::time::Instant::now(),
            &mut Default::default(),
        )
    };
    assert_eq!(verdict("nas.lan.example."), Fast::Full, "local data");
    assert_eq!(verdict("x.blocked.example."), Fast::Full, "a static zone");
    assert_eq!(verdict("localhost."), Fast::Full, "a default zone");
    assert_eq!(
        verdict("www.lan.example."),
        Fast::NotLocal,
        "transparent, no data"
    );
    assert_eq!(verdict("www.example.com."), Fast::NotLocal);
    // What says NotLocal is resolved; what is local never reaches the engine.
    let wire_of = |name: &str| wire(&query(4, name, RecordType::A));
    let resolved = pipeline
        .handle_full_after(
            &wire_of("www.lan.example."),
            CLIENT,
            Transport::Udp,
            Fast::NotLocal,
        )
        .await
        .expect("a response");
    assert!(!resolved.is_empty());
    let local = pipeline
        .handle_full(&wire_of("nas.lan.example."), CLIENT, Transport::Udp)
        .await
        .expect("a response");
    assert!(!local.is_empty());
    assert_eq!(asked_names(&resolver), ["www.lan.example."]);
}
