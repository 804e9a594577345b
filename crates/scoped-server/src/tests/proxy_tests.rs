//! PROXY v2 over real loopback sockets: the header's client is the one the ACL, the ECS
//! decision and the engine see; untrusted, malformed and missing headers are dropped and
//! counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use ppp::v2::{Addresses, Builder, Command, IPv4, Protocol, Version};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use super::socket_tests::{
    PATIENCE, TestServer, closed_within, framed, loopback_config, read_framed,
};
use super::{FakeResolver, query, wire};
use crate::ServerConfig;

fn config(from: &str) -> ServerConfig {
    let mut config = loopback_config();
    config.proxy_protocol_from = vec![from.parse().expect("net")];
    config.ecs.policy = scoped_ecs::SubnetPolicy::new();
    config
}

fn header(client: [u8; 4], port: u16, protocol: Protocol, command: Command) -> Vec<u8> {
    let addresses: Addresses = if command == Command::Local {
        Addresses::Unspecified
    } else {
        IPv4::new(client, [127, 0, 0, 1], port, 53).into()
    };
    Builder::with_addresses(Version::Two | command, protocol, addresses)
        .build()
        .expect("header")
}

fn resolver() -> Arc<FakeResolver> {
    Arc::new(FakeResolver::new().with_a("www.example.", RecordType::A, 1))
}

/// Sends `datagram` from a fresh loopback socket; the response, if one comes.
async fn udp(server: SocketAddr, datagram: &[u8], wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    socket.send_to(datagram, server).await.expect("send");
    let mut buffer = vec![0; 65_535];
    let (len, _) = timeout(wait, socket.recv_from(&mut buffer))
        .await
        .ok()?
        .ok()?;
    Some(Message::from_vec(&buffer[..len]).expect("parses"))
}

#[tokio::test]
async fn udp_header_names_the_client_for_the_acl_ecs_and_engine() {
    let resolver = resolver();
    let server =
        TestServer::start_shared(config("127.0.0.0/8"), Arc::clone(&resolver)).expect("bind");
    let question = wire(&query(7, "www.example.", RecordType::A));
    // A private client behind the balancer: allowed, no subnet (E05).
    let mut datagram = header([10, 1, 2, 3], 5300, Protocol::Datagram, Command::Proxy);
    datagram.extend_from_slice(&question);
    let response = udp(server.addr, &datagram, PATIENCE)
        .await
        .expect("answered");
    assert_eq!(response.answers.len(), 1);
    let seen = resolver.seen();
    assert_eq!(
        seen[0].client,
        "10.1.2.3".parse::<std::net::IpAddr>().expect("ip")
    );
    assert_eq!(seen[0].client_subnet, None);
    // A public client: outside the default ACL, REFUSED although the balancer is loopback.
    let mut datagram = header([198, 51, 100, 7], 5300, Protocol::Datagram, Command::Proxy);
    datagram.extend_from_slice(&question);
    let response = udp(server.addr, &datagram, PATIENCE)
        .await
        .expect("answered");
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    // LOCAL: the balancer's own health check, answered as from the balancer.
    let mut datagram = header([0; 4], 0, Protocol::Datagram, Command::Local);
    datagram.extend_from_slice(&question);
    let response = udp(server.addr, &datagram, PATIENCE)
        .await
        .expect("answered");
    assert_eq!(response.answers.len(), 1);
    assert!(resolver.seen()[1].client.is_loopback());
    // No header from the balancer, or a broken one: dropped.
    let short = Duration::from_millis(200);
    assert!(udp(server.addr, &question, short).await.is_none());
    let mut broken = header([10, 1, 2, 3], 1, Protocol::Datagram, Command::Proxy);
    broken[15] = 200;
    broken.extend_from_slice(&question);
    assert!(udp(server.addr, &broken, short).await.is_none());
    let stats = server.stats.snapshot();
    assert_eq!(stats.proxy_dropped_missing, 1);
    assert_eq!(stats.proxy_dropped_malformed, 1);
    assert_eq!(stats.proxy_local, 1);
    server.stop().await;
}

#[tokio::test]
async fn udp_header_from_an_untrusted_source_is_dropped() {
    let server = TestServer::start_shared(config("10.0.0.0/8"), resolver()).expect("bind");
    let mut datagram = header([10, 1, 2, 3], 5300, Protocol::Datagram, Command::Proxy);
    datagram.extend_from_slice(&wire(&query(7, "www.example.", RecordType::A)));
    assert!(
        udp(server.addr, &datagram, Duration::from_millis(200))
            .await
            .is_none()
    );
    // A plain query from that source is served as usual.
    let plain = wire(&query(8, "www.example.", RecordType::A));
    assert!(udp(server.addr, &plain, PATIENCE).await.is_some());
    assert_eq!(server.stats.snapshot().proxy_dropped_untrusted, 1);
    server.stop().await;
}

#[tokio::test]
async fn tcp_header_once_per_connection_names_the_client() {
    let resolver = resolver();
    let server =
        TestServer::start_shared(config("127.0.0.0/8"), Arc::clone(&resolver)).expect("bind");
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut bytes = header([10, 9, 8, 7], 4444, Protocol::Stream, Command::Proxy);
    bytes.extend_from_slice(&framed(&query(1, "www.example.", RecordType::A)));
    bytes.extend_from_slice(&framed(&query(2, "www.example.", RecordType::A)));
    stream.write_all(&bytes).await.expect("write");
    for _ in 0..2 {
        assert_eq!(read_framed(&mut stream).await.answers.len(), 1);
    }
    let clients: Vec<String> = resolver
        .seen()
        .iter()
        .map(|r| r.client.to_string())
        .collect();
    assert_eq!(clients, ["10.9.8.7", "10.9.8.7"]);

    // Without the header the connection is closed.
    let mut bare = TcpStream::connect(server.addr).await.expect("connect");
    let question = framed(&query(3, "www.example.", RecordType::A));
    bare.write_all(&question).await.expect("write");
    assert!(closed_within(&mut bare, PATIENCE).await);
    assert_eq!(server.stats.snapshot().proxy_dropped_missing, 1);
    server.stop().await;
}

#[tokio::test]
async fn tcp_header_from_an_untrusted_source_closes_the_connection() {
    let server = TestServer::start_shared(config("10.0.0.0/8"), resolver()).expect("bind");
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut bytes = header([10, 9, 8, 7], 4444, Protocol::Stream, Command::Proxy);
    bytes.extend_from_slice(&framed(&query(1, "www.example.", RecordType::A)));
    stream.write_all(&bytes).await.expect("write");
    assert!(closed_within(&mut stream, PATIENCE).await);
    assert_eq!(server.stats.snapshot().proxy_dropped_untrusted, 1);
    server.stop().await;
}
