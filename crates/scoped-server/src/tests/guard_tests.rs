//! The guard before the pipeline: cookies (RFC 7873 / 9018) and per-client rate limiting, on
//! virtual time; each query goes the way a UDP or TCP listener sends it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use tokio::time::Instant;

use super::{FakeResolver, pipeline, query, wire, with_options};
use crate::guard::Verdict;
use crate::{CookieConfig, Pipeline, RateLimitConfig, ServerConfig, StatsSnapshot, Transport};

const CC: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn config(qps: u32) -> ServerConfig {
    ServerConfig {
        allow: vec!["0.0.0.0/0".parse().expect("net")],
        rate_limit: RateLimitConfig {
            per_client_qps: qps,
            ..RateLimitConfig::default()
        },
        cookies: CookieConfig {
            secret: Some([3; 16]),
            ..CookieConfig::default()
        },
        ..ServerConfig::default()
    }
}

fn test_pipeline(qps: u32) -> Pipeline {
    let resolver = FakeResolver::new().with_a("www.example.", RecordType::A, 1);
    pipeline(Arc::new(resolver), &config(qps))
}

fn peer(text: &str) -> SocketAddr {
    format!("{text}:5300").parse().expect("peer")
}

/// What a listener does with one message: the guard, the pipeline, the guard's finish.
async fn through(
    pipeline: &Pipeline,
    datagram: &[u8],
    from: SocketAddr,
    transport: Transport,
    now: Instant,
) -> Option<Message> {
    let verdict = match transport {
        Transport::Udp => pipeline.guard.udp(datagram, from, now),
        Transport::Tcp | Transport::Tls | Transport::Https => pipeline.guard.tcp(datagram, from),
    };
    let response = match verdict {
        Verdict::Serve(admitted) => {
            let query = &datagram[admitted.offset..];
            let mut response = pipeline.handle(query, admitted.client, transport).await?;
            pipeline.guard.finish(&admitted, query, &mut response);
            response
        }
        Verdict::Answer(response) => response,
        Verdict::Drop => return None,
    };
    Some(Message::from_vec(&response).expect("our response parses"))
}

fn with_cookie(cookie: &[u8]) -> Vec<u8> {
    let option = EdnsOption::Unknown(10, cookie.to_vec());
    wire(&with_options(
        query(9, "www.example.", RecordType::A),
        vec![option],
    ))
}

/// The COOKIE option of a response.
fn cookie_of(response: &Message) -> Option<Vec<u8>> {
    match response.edns.as_ref()?.option(EdnsCode::Cookie)? {
        EdnsOption::Unknown(_, bytes) => Some(bytes.clone()),
        _ => None,
    }
}

fn stats(pipeline: &Pipeline) -> StatsSnapshot {
    pipeline.stats().snapshot()
}

#[tokio::test(start_paused = true)]
async fn a_client_cookie_gets_a_server_cookie_that_is_then_recognised() {
    let pipeline = test_pipeline(0);
    let now = Instant::now();
    let client = peer("192.0.2.1");
    let first = through(&pipeline, &with_cookie(&CC), client, Transport::Udp, now)
        .await
        .expect("answered");
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert_eq!(first.answers.len(), 1, "answered as usual");
    let cookie = cookie_of(&first).expect("a cookie in the answer");
    assert_eq!(cookie.len(), 24);
    assert_eq!(cookie[..8], CC, "our client cookie echoed");
    assert_eq!(cookie[8..12], [1, 0, 0, 0], "RFC 9018 version 1");
    assert_eq!(stats(&pipeline).cookie_fresh, 1);

    let second = through(
        &pipeline,
        &with_cookie(&cookie),
        client,
        Transport::Tcp,
        now,
    )
    .await
    .expect("answered");
    assert_eq!(second.answers.len(), 1);
    assert_eq!(cookie_of(&second).expect("cookie")[..8], CC);
    assert_eq!(stats(&pipeline).cookie_valid, 1);

    // Another address presenting that cookie: not valid (served, with a fresh one).
    let elsewhere = through(
        &pipeline,
        &with_cookie(&cookie),
        peer("192.0.2.2"),
        Transport::Udp,
        now,
    )
    .await
    .expect("answered");
    assert_eq!(elsewhere.answers.len(), 1);
    assert!(cookie_of(&elsewhere).is_some());
    assert_eq!(stats(&pipeline).cookie_fresh, 2);

    // No cookie, no cookie in the answer.
    let plain = wire(&with_options(
        query(1, "www.example.", RecordType::A),
        vec![],
    ));
    let response = through(&pipeline, &plain, client, Transport::Udp, now)
        .await
        .expect("answered");
    assert_eq!(cookie_of(&response), None);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_cookie_option_is_formerr() {
    let pipeline = test_pipeline(0);
    for bad in [&CC[..7], &[0; 12][..], &[0; 41][..]] {
        let response = through(
            &pipeline,
            &with_cookie(bad),
            peer("192.0.2.1"),
            Transport::Udp,
            Instant::now(),
        )
        .await
        .expect("answered");
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::FormErr,
            "{}",
            bad.len()
        );
        assert_eq!(response.queries.len(), 1, "the question echoed");
    }
    assert_eq!(stats(&pipeline).cookie_formerr, 3);
}

#[tokio::test(start_paused = true)]
async fn with_cookies_off_a_cookie_is_ignored() {
    let mut config = config(0);
    config.cookies.enabled = false;
    let resolver = FakeResolver::new().with_a("www.example.", RecordType::A, 1);
    let pipeline = pipeline(Arc::new(resolver), &config);
    let response = through(
        &pipeline,
        &with_cookie(&CC[..7]),
        peer("192.0.2.1"),
        Transport::Udp,
        Instant::now(),
    )
    .await
    .expect("answered");
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(cookie_of(&response), None);
}

#[tokio::test(start_paused = true)]
async fn over_the_limit_a_slip_of_tc_or_badcookie_answers_and_drops_for_the_rest() {
    let pipeline = test_pipeline(2);
    let now = Instant::now();
    let plain = wire(&with_options(
        query(1, "www.example.", RecordType::A),
        vec![],
    ));
    let client = peer("192.0.2.1");
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let response = through(&pipeline, &plain, client, Transport::Udp, now).await;
        outcomes.push(response.map(|r| (r.metadata.truncation, r.answers.len())));
    }
    assert_eq!(
        outcomes,
        [
            Some((false, 1)),
            Some((false, 1)),
            None,
            Some((true, 0)),
            None,
            Some((true, 0))
        ]
    );
    // Over TCP the same client is served: the slip sends it there.
    let over_tcp = through(&pipeline, &plain, client, Transport::Tcp, now).await;
    assert_eq!(over_tcp.map(|r| r.answers.len()), Some(1));
    // Over the limit, a client cookie alone gets BADCOOKIE and a cookie to come back with.
    let _dropped = through(&pipeline, &with_cookie(&CC), client, Transport::Udp, now).await;
    let slip = through(&pipeline, &with_cookie(&CC), client, Transport::Udp, now)
        .await
        .expect("the slip's turn");
    assert_eq!(slip.metadata.response_code, ResponseCode::BADCOOKIE);
    let cookie = cookie_of(&slip).expect("a fresh cookie");
    // With it, the client is exempt from the limit.
    for _ in 0..5 {
        let served = through(
            &pipeline,
            &with_cookie(&cookie),
            client,
            Transport::Udp,
            now,
        )
        .await
        .expect("exempt");
        assert_eq!(served.answers.len(), 1);
    }
    let snapshot = stats(&pipeline);
    assert_eq!(snapshot.ratelimit_dropped, 3);
    assert_eq!(snapshot.ratelimit_truncated, 2);
    assert_eq!(snapshot.ratelimit_badcookie, 1);
    assert_eq!(snapshot.cookie_valid, 5);
}

/// The flood: one client network at ten times its limit, another at half of it, over ten
/// seconds of virtual time. The second is served in full; the first gets its limit (plus the
/// initial burst) and the slip.
#[tokio::test(start_paused = true)]
async fn a_flooding_client_is_limited_while_another_is_served() {
    const QPS: u32 = 20;
    let pipeline = test_pipeline(QPS);
    let plain = wire(&query(1, "www.example.", RecordType::A));
    let start = Instant::now();
    let (mut flood_served, mut flood_truncated, mut other_served) = (0, 0, 0);
    // Every 5 ms the flooder sends one query (200 a second); every 100 ms the other sends one.
    for tick in 0..2000u64 {
        let now = start + Duration::from_millis(5 * tick);
        match through(&pipeline, &plain, peer("198.51.100.7"), Transport::Udp, now).await {
            Some(r) if r.metadata.truncation => flood_truncated += 1,
            Some(_) => flood_served += 1,
            None => {}
        }
        if tick % 20 == 0 {
            let r = through(&pipeline, &plain, peer("203.0.113.9"), Transport::Udp, now).await;
            if r.is_some_and(|r| !r.metadata.truncation && r.answers.len() == 1) {
                other_served += 1;
            }
        }
    }
    assert_eq!(other_served, 100, "the other client is served in full");
    // 10 s at 20 a second, plus the first second's burst, give or take the last refill.
    assert!((200..=221).contains(&flood_served), "{flood_served}");
    let snapshot = stats(&pipeline);
    let over = 2000 - flood_served;
    assert_eq!(snapshot.ratelimit_truncated, flood_truncated);
    assert_eq!(snapshot.ratelimit_truncated, over / 2);
    assert_eq!(snapshot.ratelimit_dropped, over - over / 2);
}
