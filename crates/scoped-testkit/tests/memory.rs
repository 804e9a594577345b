//! The in-memory transport on tokio's paused clock.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{RData, RecordType};
use scoped_recursor::{Protocol, Transport, TransportError, UpstreamQuery, reply_matches};
use scoped_testkit::standard::*;
use scoped_testkit::{Internet, ResponderAction, make_query, name, standard_internet};
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_millis(800);

fn upstream(server: IpAddr, protocol: Protocol, query: &Message) -> UpstreamQuery {
    UpstreamQuery {
        server: SocketAddr::new(server, 53),
        protocol,
        message: query.to_vec().unwrap(),
        timeout: TIMEOUT,
        require_ecs_echo: false,
        echo_timeout: None,
    }
}

async fn exchange(
    internet: &Internet,
    server: IpAddr,
    protocol: Protocol,
    query: &Message,
) -> (Result<Vec<u8>, TransportError>, Duration) {
    let start = Instant::now();
    let result = internet.exchange(upstream(server, protocol, query)).await;
    (result, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn answers_match_the_query_and_take_no_time_without_delay() {
    let internet = standard_internet();
    let query = make_query(0x0a0b, "www.example.com", RecordType::A, Some(1232));
    let (reply, elapsed) = exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &query).await;
    let reply = reply.unwrap();
    assert!(reply_matches(&query.to_vec().unwrap(), &reply));
    let message = Message::from_vec(&reply).unwrap();
    assert_eq!(message.answers.len(), 1);
    assert_eq!(elapsed, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn delay_is_the_round_trip_time() {
    let internet = standard_internet();
    internet
        .expect_server(EXAMPLE_COM_1)
        .set_delay(Duration::from_millis(37));
    let query = make_query(1, "www.example.com", RecordType::A, None);
    let (reply, elapsed) = exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &query).await;
    assert!(reply.is_ok());
    assert_eq!(elapsed, Duration::from_millis(37));
    let (reply, elapsed) = exchange(&internet, EXAMPLE_COM_1, Protocol::Tcp, &query).await;
    assert!(reply.is_ok());
    assert_eq!(elapsed, Duration::from_millis(37));
    // The other server of the zone is unaffected.
    let (_, elapsed) = exchange(&internet, EXAMPLE_COM_2, Protocol::Udp, &query).await;
    assert_eq!(elapsed, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn delay_at_or_over_the_timeout_is_a_timeout_at_exactly_the_timeout() {
    let internet = standard_internet();
    let query = make_query(1, "www.example.com", RecordType::A, None);
    for delay in [TIMEOUT, TIMEOUT * 3] {
        internet.expect_server(EXAMPLE_COM_1).set_delay(delay);
        let (reply, elapsed) = exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &query).await;
        assert!(
            matches!(reply, Err(TransportError::Timeout(t)) if t == TIMEOUT),
            "{reply:?}"
        );
        assert_eq!(elapsed, TIMEOUT);
    }
}

#[tokio::test(start_paused = true)]
async fn dead_server_times_out_after_exactly_the_timeout_and_is_logged() {
    let internet = standard_internet();
    let query = make_query(1, "www.failover.org", RecordType::A, None);
    let (reply, elapsed) = exchange(&internet, FAILOVER_DEAD, Protocol::Udp, &query).await;
    assert!(
        matches!(reply, Err(TransportError::Timeout(t)) if t == TIMEOUT),
        "{reply:?}"
    );
    assert_eq!(elapsed, TIMEOUT);
    let log = internet.queries_to(FAILOVER_DEAD);
    assert_eq!(log.len(), 1);
    assert!(!log[0].answered);
    // Revived, it answers.
    internet.expect_server(FAILOVER_DEAD).set_dead(false);
    let (reply, _) = exchange(&internet, FAILOVER_DEAD, Protocol::Udp, &query).await;
    assert!(reply.is_ok());
}

#[tokio::test(start_paused = true)]
async fn unknown_address_or_port_times_out_and_is_not_logged() {
    let internet = standard_internet();
    let query = make_query(1, "www.example.com", RecordType::A, None);
    let (reply, elapsed) = exchange(
        &internet,
        "127.53.9.9".parse().unwrap(),
        Protocol::Udp,
        &query,
    )
    .await;
    assert!(matches!(reply, Err(TransportError::Timeout(_))));
    assert_eq!(elapsed, TIMEOUT);
    let mut wrong_port = upstream(EXAMPLE_COM_1, Protocol::Tcp, &query);
    wrong_port.server.set_port(5353);
    let start = Instant::now();
    assert!(matches!(
        internet.exchange(wrong_port).await,
        Err(TransportError::Timeout(_))
    ));
    assert_eq!(start.elapsed(), TIMEOUT);
    assert_eq!(internet.total_queries(), 0);
}

#[tokio::test(start_paused = true)]
async fn configured_port_is_the_one_served() {
    let mut builder = scoped_testkit::standard_builder();
    builder.port(5300);
    let internet = builder.build().unwrap();
    let query = make_query(1, "www.example.com", RecordType::A, None);
    let mut q = upstream(EXAMPLE_COM_1, Protocol::Udp, &query);
    assert!(
        internet.exchange(q.clone()).await.is_err(),
        "port 53 is not served"
    );
    q.server.set_port(5300);
    assert!(internet.exchange(q).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn truncate_udp_gives_tc_over_udp_and_the_answer_over_tcp() {
    let internet = standard_internet();
    let query = make_query(5, "www.tc.net", RecordType::A, Some(1232));
    let (udp, _) = exchange(&internet, TC_NET, Protocol::Udp, &query).await;
    let udp = Message::from_vec(&udp.unwrap()).unwrap();
    assert!(udp.metadata.truncation);
    assert!(udp.answers.is_empty());
    let (tcp, _) = exchange(&internet, TC_NET, Protocol::Tcp, &query).await;
    let tcp = Message::from_vec(&tcp.unwrap()).unwrap();
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn query_log_records_every_query() {
    let internet = standard_internet();
    internet
        .expect_server(COM)
        .set_delay(Duration::from_millis(10));
    let start = Instant::now();
    let mut query = make_query(1, "www.example.com", RecordType::A, Some(1232));
    let subnet = ClientSubnet::new("198.51.100.0".parse().unwrap(), 24, 0);
    query
        .edns
        .as_mut()
        .unwrap()
        .options_mut()
        .insert(EdnsOption::Subnet(subnet));
    exchange(&internet, ROOT_A, Protocol::Udp, &query)
        .await
        .0
        .unwrap();
    exchange(&internet, COM, Protocol::Tcp, &query)
        .await
        .0
        .unwrap();
    let aaaa = make_query(2, "www.example.com", RecordType::AAAA, None);
    exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &aaaa)
        .await
        .0
        .unwrap();

    let log = internet.query_log();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].server, SocketAddr::new(ROOT_A, 53));
    assert_eq!(log[0].protocol, Protocol::Udp);
    assert_eq!(log[0].qname, name("www.example.com"));
    assert_eq!(log[0].qtype, RecordType::A);
    assert_eq!(log[0].wire, query.to_vec().unwrap());
    assert_eq!(log[0].client_subnet(), Some(subnet));
    assert!(log[0].source.ip().is_loopback());
    assert_eq!(log[0].at, start);
    assert_eq!(log[1].server.ip(), COM);
    assert_eq!(log[1].protocol, Protocol::Tcp);
    assert_eq!(
        log[2].at,
        start + Duration::from_millis(10),
        "logged when sent"
    );
    assert_eq!(log[2].qtype, RecordType::AAAA);
    assert!(!log[2].has_edns());
    assert_eq!(log[2].client_subnet(), None);
    assert!(log.iter().all(|e| e.answered));

    assert_eq!(internet.query_count(COM), 1);
    assert_eq!(internet.queries_to(EXAMPLE_COM_1).len(), 1);
    assert_eq!(internet.query_count(EXAMPLE_COM_2), 0);
    // Clones share the log.
    let clone = internet.clone();
    clone.clear_query_log();
    assert_eq!(internet.total_queries(), 0);
}

#[tokio::test(start_paused = true)]
async fn forged_replies_are_skipped_over_udp_and_rejected_over_tcp() {
    let internet = standard_internet();
    let server = internet.expect_server(EXAMPLE_COM_1);
    server.set_delay(Duration::from_millis(20));
    server.set_responder(|query, info| {
        let genuine = info.zone_response(query);
        let mut forged = genuine.clone();
        forged.metadata.id = query.metadata.id.wrapping_add(1);
        let mut replies = vec![forged.to_vec().unwrap()];
        if query.queries[0].query_type() == RecordType::A {
            replies.push(genuine.to_vec().unwrap());
        }
        ResponderAction::Raw(replies)
    });
    let a = make_query(77, "www.example.com", RecordType::A, None);
    let (reply, elapsed) = exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &a).await;
    assert_eq!(Message::from_vec(&reply.unwrap()).unwrap().metadata.id, 77);
    assert_eq!(elapsed, Duration::from_millis(20));
    let aaaa = make_query(78, "www.example.com", RecordType::AAAA, None);
    let (reply, elapsed) = exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &aaaa).await;
    assert!(
        matches!(reply, Err(TransportError::Timeout(_))),
        "{reply:?}"
    );
    assert_eq!(elapsed, TIMEOUT);
    let (reply, _) = exchange(&internet, EXAMPLE_COM_1, Protocol::Tcp, &aaaa).await;
    assert!(
        matches!(reply, Err(TransportError::Framing(_))),
        "{reply:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn malformed_ecs_gets_formerr_with_the_question() {
    let internet = standard_internet();
    let mut query = make_query(0x5150, "www.example.com", RecordType::A, Some(1232));
    // ECS with address family 3: hickory refuses the whole message.
    let bad = EdnsOption::Unknown(8, vec![0, 3, 24, 0, 192, 0, 2]);
    query.edns.as_mut().unwrap().options_mut().insert(bad);
    let wire = query.to_vec().unwrap();
    assert!(Message::from_vec(&wire).is_err());
    let q = UpstreamQuery {
        server: SocketAddr::new(EXAMPLE_COM_1, 53),
        protocol: Protocol::Udp,
        message: wire,
        timeout: TIMEOUT,
        require_ecs_echo: false,
        echo_timeout: None,
    };
    let reply = Message::from_vec(&internet.exchange(q).await.unwrap()).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reply.metadata.id, 0x5150);
    let log = internet.query_log();
    assert_eq!(log[0].qname, name("www.example.com"));
    assert!(log[0].message().is_none());
}

#[tokio::test(start_paused = true)]
async fn concurrent_exchanges_complete_in_delay_order() {
    let internet = standard_internet();
    internet
        .expect_server(EXAMPLE_COM_1)
        .set_delay(Duration::from_millis(50));
    internet
        .expect_server(EXAMPLE_COM_2)
        .set_delay(Duration::from_millis(5));
    let query = make_query(1, "www.example.com", RecordType::A, None);
    let start = Instant::now();
    let slow = internet.exchange(upstream(EXAMPLE_COM_1, Protocol::Udp, &query));
    let fast = internet.exchange(upstream(EXAMPLE_COM_2, Protocol::Udp, &query));
    tokio::select! {
        _ = slow => panic!("the slow server won"),
        r = fast => { r.unwrap(); }
    }
    assert_eq!(start.elapsed(), Duration::from_millis(5));
}

/// A miniature iterative resolution through the transport: root → com → example.com.
#[tokio::test(start_paused = true)]
async fn referrals_lead_from_the_root_to_the_answer() {
    let internet = standard_internet();
    let transport = internet.transport();
    let mut server = internet.root_hints()[0].1;
    for step in 0..5 {
        let query = make_query(step, "www.sub.example.com", RecordType::A, None);
        let reply = transport
            .exchange(upstream(server, Protocol::Udp, &query))
            .await
            .unwrap();
        let reply = Message::from_vec(&reply).unwrap();
        if reply.metadata.authoritative {
            let addrs: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
            assert_eq!(addrs, ["192.0.2.12"]);
            assert_eq!(step, 3, "root, com, example.com, sub.example.com");
            return;
        }
        server = reply
            .additionals
            .iter()
            .find_map(|r| match r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .expect("glue");
    }
    panic!("no answer after 5 referrals");
}

#[tokio::test(start_paused = true)]
async fn echo_less_replies_end_the_exchange_at_the_echo_timeout() {
    let internet = standard_internet();
    // The zone logic never echoes ECS: to an ECS query whose echo is required, every reply is
    // echo-less.
    let query = scoped_testkit::make_ecs_query(3, "www.example.com", RecordType::A, "192.0.2.0/24");
    let ask = |echo_timeout, delay_ms| {
        let internet = internet.clone();
        let query = query.clone();
        async move {
            internet
                .expect_server(EXAMPLE_COM_1)
                .set_delay(Duration::from_millis(delay_ms));
            let upstream = UpstreamQuery {
                require_ecs_echo: true,
                echo_timeout,
                ..upstream(EXAMPLE_COM_1, Protocol::Udp, &query)
            };
            let start = Instant::now();
            let result = internet.exchange(upstream).await;
            assert!(
                matches!(result, Err(TransportError::EchoMissing(_))),
                "{result:?}"
            );
            start.elapsed()
        }
    };
    let echo = Some(Duration::from_millis(100));
    assert_eq!(ask(echo, 10).await, Duration::from_millis(100));
    assert_eq!(ask(None, 10).await, TIMEOUT, "without one, at the timeout");
    assert_eq!(
        ask(echo, 300).await,
        Duration::from_millis(300),
        "past the echo timeout: when the echo-less reply comes"
    );
}

#[tokio::test(start_paused = true)]
async fn servers_sharing_a_queue_answer_one_query_at_a_time() {
    let internet = standard_internet();
    let queue = scoped_testkit::ServiceQueue::new(Duration::from_millis(10));
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        let server = internet.expect_server(addr);
        server.set_delay(Duration::from_millis(1));
        server.set_queue(Some(queue.clone()));
    }
    let query = make_query(5, "www.example.com", RecordType::A, None);
    let (a, b, c) = tokio::join!(
        exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &query),
        exchange(&internet, EXAMPLE_COM_2, Protocol::Udp, &query),
        exchange(&internet, EXAMPLE_COM_1, Protocol::Udp, &query),
    );
    let elapsed = [a.1, b.1, c.1].map(|d| d.as_millis());
    assert_eq!(
        elapsed,
        [11, 21, 31],
        "the round trip plus the queue ahead and its own turn"
    );
    assert_eq!(queue.served(), 3);
    assert_eq!(queue.max_depth(), 3);
    // A query that times out is still worked through: the next one waits behind it.
    let short = UpstreamQuery {
        timeout: Duration::from_millis(5),
        ..upstream(EXAMPLE_COM_1, Protocol::Udp, &query)
    };
    assert!(internet.exchange(short).await.is_err());
    let (_, elapsed) = exchange(&internet, EXAMPLE_COM_2, Protocol::Udp, &query).await;
    assert_eq!(elapsed, Duration::from_millis(16));
}
