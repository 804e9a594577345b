//! One query over UDP on real loopback sockets: forged and stray datagrams skipped, ICMP
//! errors, the echo and hard timeouts, fresh random ports, and the timer set late.

use std::collections::HashSet;
use std::task::Poll;

use tokio::net::UdpSocket;

use super::*;
use crate::transport::udp::timer_when_repolled;

#[tokio::test]
async fn udp_ignores_forged_and_stray_replies_until_the_real_one() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let stray = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let other_port = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        let (n, client) = server.recv_from(&mut buf).await.unwrap();
        let q = buf[..n].to_vec();
        let id = u16::from_be_bytes([q[0], q[1]]);
        // Right ID and question, but from another address, then from another port of the
        // server's address: skipped and counted.
        for forger in [&stray, &other_port] {
            forger
                .send_to(&reply_to(&q, id, "www.example.com."), client)
                .await
                .unwrap();
        }
        // Wrong ID, then wrong question, from the right address: skipped and counted.
        server
            .send_to(
                &reply_to(&q, id.wrapping_add(1), "www.example.com."),
                client,
            )
            .await
            .unwrap();
        server
            .send_to(&reply_to(&q, id, "evil.example.com."), client)
            .await
            .unwrap();
        let mut real = Message::from_vec(&reply_to(&q, id, "www.example.com.")).unwrap();
        real.metadata.authoritative = true;
        server
            .send_to(&real.to_vec().unwrap(), client)
            .await
            .unwrap();
    });
    let transport = NetTransport::new(&[]);
    let query = UpstreamQuery {
        server: server_addr,
        protocol: Protocol::Udp,
        message: query_wire(0x4242, "www.example.com."),
        timeout: Duration::from_secs(5),
        require_ecs_echo: false,
        echo_timeout: None,
    };
    let reply = transport.exchange(query).await.unwrap();
    assert!(
        Message::from_vec(&reply).unwrap().metadata.authoritative,
        "the real reply"
    );
    assert_eq!(
        transport
            .counters()
            .mismatched_replies
            .load(Ordering::Relaxed),
        4
    );
}

/// The timer of a repolled exchange's wait: none before the second poll; from then on the
/// wait ends at `until`, and not before. A wait that ends first gives its output.
#[tokio::test(start_paused = true)]
async fn the_wait_sets_its_timer_when_polled_again() {
    let start = tokio::time::Instant::now();
    let until = start + Duration::from_secs(5);
    let mut never = std::pin::pin!(timer_when_repolled(until, std::future::pending::<()>()));
    assert_eq!(futures::poll!(never.as_mut()), Poll::Pending);
    // No timer yet: a second poll long after `until` is the first to see it passed.
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(matches!(
        futures::poll!(never.as_mut()),
        Poll::Ready(Err(_))
    ));

    let start = tokio::time::Instant::now();
    let until = start + Duration::from_secs(5);
    let mut never = std::pin::pin!(timer_when_repolled(until, std::future::pending::<()>()));
    assert_eq!(futures::poll!(never.as_mut()), Poll::Pending);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        futures::poll!(never.as_mut()),
        Poll::Pending,
        "timer set now"
    );
    assert!(never.await.is_err());
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(5),
        "at `until`, not before"
    );

    let (tx, rx) = tokio::sync::oneshot::channel();
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut answered = std::pin::pin!(timer_when_repolled(until, rx));
    assert_eq!(futures::poll!(answered.as_mut()), Poll::Pending);
    tx.send(7).unwrap();
    assert_eq!(answered.await.unwrap().unwrap(), 7);
}

/// A repolled UDP exchange gets its reply as a plain one does, and, polled again at its
/// soft deadline with nothing in, still ends at its timeout (counted as one).
#[tokio::test]
async fn a_repolled_exchange_answers_and_times_out_like_a_plain_one() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        let (len, client) = server.recv_from(&mut buf).await.unwrap();
        let reply = reply_to(&buf[..len], 0x5151, "www.example.com.");
        server.send_to(&reply, client).await.unwrap();
        // The second query gets nothing.
        let _ = server.recv_from(&mut buf).await;
        std::future::pending::<()>().await;
    });
    let transport = NetTransport::new(&[]);
    let query = |id| UpstreamQuery {
        server: server_addr,
        protocol: Protocol::Udp,
        message: query_wire(id, "www.example.com."),
        timeout: Duration::from_millis(300),
        require_ecs_echo: false,
        echo_timeout: Some(Duration::from_millis(100)),
    };
    let reply = transport.exchange_repolled(query(0x5151)).await.unwrap();
    assert_eq!(Message::from_vec(&reply).unwrap().metadata.id, 0x5151);
    // Polled again at the soft deadline, as the engine's try does at the RTO.
    let started = std::time::Instant::now();
    let mut silent = transport.exchange_repolled(query(0x5252));
    let soft = tokio::time::sleep(Duration::from_millis(100));
    tokio::select! {
        biased;
        _ = &mut silent => panic!("nothing was sent back"),
        () = soft => {}
    }
    let err = tokio::time::timeout(Duration::from_secs(10), silent)
        .await
        .expect("bounded by its own timeout once repolled")
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout(_)), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(transport.counters().timeouts.load(Ordering::Relaxed), 1);
}

/// A port with nothing behind it answers with an ICMP error, which ends the try at once,
/// long before its timeout.
#[tokio::test]
async fn a_closed_port_fails_the_try_at_once() {
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = closed.local_addr().unwrap();
    drop(closed);
    let transport = NetTransport::new(&[]);
    let query = UpstreamQuery {
        server,
        protocol: Protocol::Udp,
        message: query_wire(7, "www.example.com."),
        timeout: Duration::from_secs(60),
        require_ecs_echo: false,
        echo_timeout: None,
    };
    // Bounded however it goes: a try that waited for its timeout fails this outer one.
    let err = tokio::time::timeout(Duration::from_secs(20), transport.exchange(query))
        .await
        .expect("the ICMP error ends the try, not its 60-second timeout")
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert_eq!(transport.counters().timeouts.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn udp_echo_less_replies_end_the_wait_at_the_echo_timeout() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        let (n, client) = server.recv_from(&mut buf).await.unwrap();
        let q = buf[..n].to_vec();
        let id = u16::from_be_bytes([q[0], q[1]]);
        // An answer without the ECS option the query requires (E12).
        let plain = reply_to(&query_wire(id, "www.example.com."), id, "www.example.com.");
        server.send_to(&plain, client).await.unwrap();
    });
    let transport = NetTransport::new(&[]);
    let query = UpstreamQuery {
        server: server_addr,
        protocol: Protocol::Udp,
        message: with_ecs(
            &query_wire(0x4343, "www.example.com."),
            "198.51.100.0",
            24,
            0,
        ),
        timeout: Duration::from_secs(20),
        require_ecs_echo: true,
        echo_timeout: Some(Duration::from_millis(100)),
    };
    let start = std::time::Instant::now();
    let err = transport.exchange(query).await.unwrap_err();
    assert!(matches!(err, TransportError::EchoMissing(_)), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "ended near the echo timeout, not the timeout: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn every_udp_query_uses_a_fresh_random_source_port() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let responder = tokio::spawn(async move {
        let mut ports = HashSet::new();
        let mut buf = [0u8; 512];
        for _ in 0..50 {
            let (n, client) = server.recv_from(&mut buf).await.unwrap();
            ports.insert(client.port());
            let q = buf[..n].to_vec();
            let id = u16::from_be_bytes([q[0], q[1]]);
            server
                .send_to(&reply_to(&q, id, "www.example.com."), client)
                .await
                .unwrap();
        }
        ports
    });
    let transport = NetTransport::new(&["127.0.0.1".parse().unwrap()]);
    for i in 0..50 {
        let query = UpstreamQuery {
            server: server_addr,
            protocol: Protocol::Udp,
            message: query_wire(i, "www.example.com."),
            timeout: Duration::from_secs(5),
            require_ecs_echo: false,
            echo_timeout: None,
        };
        transport.exchange(query).await.unwrap();
    }
    let ports = responder.await.unwrap();
    assert!(
        ports.len() >= 45,
        "only {} distinct source ports in 50 queries",
        ports.len()
    );
}

#[tokio::test]
async fn udp_timeout_is_reported_and_counted() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let transport = NetTransport::new(&[]);
    let query = UpstreamQuery {
        server: silent.local_addr().unwrap(),
        protocol: Protocol::Udp,
        message: query_wire(1, "www.example.com."),
        timeout: Duration::from_millis(100),
        require_ecs_echo: false,
        echo_timeout: None,
    };
    let err = transport.exchange(query).await.unwrap_err();
    assert!(matches!(err, TransportError::Timeout(_)), "{err}");
    assert_eq!(transport.counters().timeouts.load(Ordering::Relaxed), 1);
}
