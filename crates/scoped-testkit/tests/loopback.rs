//! The internet on real loopback sockets (real time; every wait is bounded).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use scoped_recursor::{NetTransport, Protocol, Transport, TransportError, UpstreamQuery};
use scoped_testkit::standard::*;
use scoped_testkit::{make_query, standard_internet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(3);

async fn udp_ask(server: SocketAddr, query: &Message, wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    socket.connect(server).await.unwrap();
    socket.send(&query.to_vec().unwrap()).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let n = timeout(wait, socket.recv(&mut buf)).await.ok()?.ok()?;
    Some(Message::from_vec(&buf[..n]).unwrap())
}

fn framed(message: &Message) -> Vec<u8> {
    let body = message.to_vec().unwrap();
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

async fn read_framed(stream: &mut TcpStream) -> Message {
    let len = timeout(WAIT, stream.read_u16()).await.unwrap().unwrap();
    let mut body = vec![0u8; usize::from(len)];
    timeout(WAIT, stream.read_exact(&mut body))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&body).unwrap()
}

#[tokio::test]
async fn udp_query_gets_a_real_answer() {
    let internet = standard_internet();
    let lo = internet.serve_on_loopback().await.unwrap();
    assert_ne!(lo.port(), 0);
    assert_eq!(lo.addrs().len(), 15);
    assert!(lo.skipped().is_empty());
    let server = lo.addr_of(EXAMPLE_COM_1).unwrap();
    assert_eq!(server, SocketAddr::new(EXAMPLE_COM_1, lo.port()));
    let query = make_query(0x3131, "www.example.com", RecordType::A, None);
    let reply = udp_ask(server, &query, WAIT).await.expect("an answer");
    assert_eq!(reply.metadata.id, 0x3131);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.answers[0].data.to_string(), "192.0.2.10");
    let log = internet.queries_to(EXAMPLE_COM_1);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].protocol, Protocol::Udp);
    assert!(log[0].source.ip().is_loopback());
    assert_ne!(log[0].source.port(), lo.port());
}

#[tokio::test]
async fn tcp_connection_carries_pipelined_queries() {
    let internet = standard_internet();
    let lo = internet.serve_on_loopback().await.unwrap();
    let mut stream = TcpStream::connect(lo.addr_of(EXAMPLE_COM_2).unwrap())
        .await
        .unwrap();
    let first = make_query(0x0101, "www.example.com", RecordType::A, None);
    let second = make_query(0x0202, "big.example.com", RecordType::TXT, None);
    let mut both = framed(&first);
    both.extend(framed(&second));
    stream.write_all(&both).await.unwrap();
    let a = read_framed(&mut stream).await;
    let b = read_framed(&mut stream).await;
    assert_eq!(a.metadata.id, 0x0101);
    assert_eq!(a.answers[0].data.to_string(), "192.0.2.10");
    assert_eq!(b.metadata.id, 0x0202);
    assert!(!b.metadata.truncation, "no truncation over TCP");
    assert_eq!(b.answers.len(), 1);
    assert_eq!(internet.query_count(EXAMPLE_COM_2), 2);
    assert!(
        internet
            .queries_to(EXAMPLE_COM_2)
            .iter()
            .all(|e| e.protocol == Protocol::Tcp)
    );
}

#[tokio::test]
async fn behaviours_apply_on_loopback() {
    let internet = standard_internet();
    let lo = internet.serve_on_loopback().await.unwrap();
    // truncate_udp: TC over UDP, answer over TCP, through the production transport.
    let transport = NetTransport::new(&[]);
    let query = make_query(9, "www.tc.net", RecordType::A, Some(1232));
    let mut upstream = UpstreamQuery {
        server: lo.addr_of(TC_NET).unwrap(),
        protocol: Protocol::Udp,
        message: query.to_vec().unwrap(),
        timeout: WAIT,
        require_ecs_echo: false,
        echo_timeout: None,
    };
    let udp = Message::from_vec(&transport.exchange(upstream.clone()).await.unwrap()).unwrap();
    assert!(udp.metadata.truncation && udp.answers.is_empty());
    upstream.protocol = Protocol::Tcp;
    let tcp = Message::from_vec(&transport.exchange(upstream).await.unwrap()).unwrap();
    assert_eq!(tcp.answers.len(), 1);

    // dead: no reply.
    let failover = make_query(1, "www.failover.org", RecordType::A, None);
    let dead = lo.addr_of(FAILOVER_DEAD).unwrap();
    assert!(
        udp_ask(dead, &failover, Duration::from_millis(150))
            .await
            .is_none()
    );
    let dead_tcp = UpstreamQuery {
        server: dead,
        protocol: Protocol::Tcp,
        message: failover.to_vec().unwrap(),
        timeout: Duration::from_millis(150),
        require_ecs_echo: false,
        echo_timeout: None,
    };
    assert!(matches!(
        transport.exchange(dead_tcp).await,
        Err(TransportError::Timeout(_))
    ));
    assert!(
        udp_ask(lo.addr_of(FAILOVER_GOOD).unwrap(), &failover, WAIT)
            .await
            .is_some()
    );

    // delay: the reply comes no sooner than the delay.
    internet
        .expect_server(FAILOVER_GOOD)
        .set_delay(Duration::from_millis(120));
    let start = std::time::Instant::now();
    assert!(
        udp_ask(lo.addr_of(FAILOVER_GOOD).unwrap(), &failover, WAIT)
            .await
            .is_some()
    );
    assert!(
        start.elapsed() >= Duration::from_millis(120),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_servers() {
    let internet = standard_internet();
    let lo = internet.serve_on_loopback().await.unwrap();
    let addr = lo.addr_of(ROOT_A).unwrap();
    TcpStream::connect(addr).await.unwrap();
    lo.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener closed by shutdown"
    );
    let query = make_query(1, ".", RecordType::NS, None);
    assert!(
        udp_ask(addr, &query, Duration::from_millis(100))
            .await
            .is_none()
    );

    let lo = internet.serve_on_loopback().await.unwrap();
    let addr = lo.addr_of(ROOT_B).unwrap();
    assert!(udp_ask(addr, &query, WAIT).await.is_some());
    drop(lo);
    let mut closed = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "listener closed after drop");
}

#[tokio::test]
async fn two_internets_get_different_ports() {
    let a = standard_internet().serve_on_loopback().await.unwrap();
    let b = standard_internet().serve_on_loopback().await.unwrap();
    assert_ne!(a.port(), b.port());
    let taken = standard_internet().serve_on_loopback_at(a.port()).await;
    assert!(taken.is_err());
}
