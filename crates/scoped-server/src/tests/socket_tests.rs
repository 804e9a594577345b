//! The listeners on loopback sockets (port 0 only, never another address).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::{FakeResolver, query, raw_ecs, wire, with_options};
use crate::{FrontendStats, ServerConfig, bind};

/// Upper bound on any single wait in these tests; they normally finish in milliseconds.
pub(super) const PATIENCE: Duration = Duration::from_secs(3);

/// A server running on 127.0.0.1 port 0 in the background.
pub(super) struct TestServer {
    pub(super) addr: SocketAddr,
    pub(super) stats: Arc<FrontendStats>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    fn start(config: ServerConfig, resolver: FakeResolver) -> io::Result<Self> {
        Self::start_shared(config, Arc::new(resolver))
    }

    /// Like [`TestServer::start`], keeping a handle on the engine to read what it was asked.
    pub(super) fn start_shared(
        config: ServerConfig,
        resolver: Arc<FakeResolver>,
    ) -> io::Result<Self> {
        let server = bind(config)?;
        let addr = server
            .local_addrs()
            .first()
            .copied()
            .ok_or_else(|| io::Error::other("no address"))?;
        let stats = server.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(resolver, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stats,
            stop: Some(stop),
            task,
        })
    }

    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(PATIENCE, &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run");
    }
}

pub(super) fn loopback_config() -> ServerConfig {
    ServerConfig {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        ..ServerConfig::default()
    }
}

fn resolver() -> FakeResolver {
    FakeResolver::new()
        .with_a("fast.example.", RecordType::A, 1)
        .with_a("slow.example.", RecordType::A, 1)
        .delayed("slow.example.", RecordType::A, Duration::from_millis(300))
}

async fn udp_exchange(server: SocketAddr, datagram: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("client socket");
    socket.send_to(datagram, server).await.expect("send");
    let mut buffer = vec![0u8; 65_535];
    let (len, from) = timeout(wait, socket.recv_from(&mut buffer))
        .await
        .ok()?
        .ok()?;
    assert_eq!(from, server);
    buffer.truncate(len);
    Some(buffer)
}

pub(super) fn framed(message: &Message) -> Vec<u8> {
    let body = wire(message);
    let mut frame = u16::try_from(body.len())
        .expect("fits")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(&body);
    frame
}

pub(super) async fn read_framed(stream: &mut TcpStream) -> Message {
    let len = timeout(PATIENCE, stream.read_u16())
        .await
        .expect("in time")
        .expect("length");
    let mut body = vec![0u8; usize::from(len)];
    timeout(PATIENCE, stream.read_exact(&mut body))
        .await
        .expect("in time")
        .expect("body");
    Message::from_vec(&body).expect("response parses")
}

/// Whether the server closed `stream` (EOF or reset) within `wait`.
pub(super) async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        timeout(wait, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn udp_query_is_answered() {
    let server = TestServer::start(loopback_config(), resolver()).expect("bind");
    let response = udp_exchange(
        server.addr,
        &wire(&query(0x0101, "fast.example.", RecordType::A)),
        PATIENCE,
    )
    .await
    .expect("a response");
    let response = Message::from_vec(&response).expect("parses");
    assert_eq!(response.metadata.id, 0x0101);
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(response.answers.len(), 1);
    assert_eq!(server.stats.snapshot().queries_udp, 1);
    server.stop().await;
}

#[tokio::test]
async fn udp_garbage_gets_formerr_and_short_datagram_is_dropped() {
    let server = TestServer::start(loopback_config(), resolver()).expect("bind");
    let garbage = [0xca, 0xfe, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff];
    let response = udp_exchange(server.addr, &garbage, PATIENCE)
        .await
        .expect("FORMERR");
    let response = Message::from_vec(&response).expect("parses");
    assert_eq!(response.metadata.id, 0xcafe);
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);

    assert!(
        udp_exchange(server.addr, &[0xca, 0xfe, 0, 0], Duration::from_millis(200))
            .await
            .is_none()
    );
    assert_eq!(server.stats.snapshot().dropped_short, 1);
    server.stop().await;
}

/// E23 over a real socket: a loopback client (counted as public: the test policy lists nothing as
/// non-routable) sends ECS /16; the engine is asked for 127.0.0.0/16 and the answer's scope 20
/// comes back capped at 16, with the client's FAMILY, SOURCE and ADDRESS.
#[tokio::test]
async fn e23_udp_response_echoes_client_ecs() {
    let mut config = loopback_config();
    config.ecs.policy = scoped_ecs::SubnetPolicy::new().with_non_routable([]);
    let resolver = Arc::new(resolver().scoped("fast.example.", RecordType::A, 20, false));
    let server = TestServer::start_shared(config, Arc::clone(&resolver)).expect("bind");
    let ask = with_options(
        query(0x0e23, "fast.example.", RecordType::A),
        vec![raw_ecs(&[0, 1, 16, 0, 127, 0])],
    );
    let response = udp_exchange(server.addr, &wire(&ask), PATIENCE)
        .await
        .expect("a response");
    let echo = scoped_ecs::message_ecs(&response, scoped_ecs::Direction::Response)
        .expect("well-formed ECS")
        .expect("ECS echoed");
    assert_eq!(
        (echo.prefix(), echo.scope()),
        ("127.0.0.0/16".parse().expect("net"), 16)
    );
    let response = Message::from_vec(&response).expect("parses");
    assert_eq!(response.metadata.id, 0x0e23);
    assert_eq!(response.answers.len(), 1);
    assert_eq!(
        resolver.seen().first().and_then(|r| r.client_subnet),
        Some("127.0.0.0/16".parse().expect("net"))
    );
    let stats = server.stats.snapshot();
    assert_eq!((stats.ecs_tailored, stats.ecs_echoed), (1, 1));
    server.stop().await;
}

#[tokio::test]
async fn tcp_pipelined_queries_are_answered_as_they_complete() {
    let server = TestServer::start(loopback_config(), resolver()).expect("bind");
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut both = framed(&query(1, "slow.example.", RecordType::A));
    both.extend_from_slice(&framed(&query(2, "fast.example.", RecordType::A)));
    stream.write_all(&both).await.expect("write");
    let first = read_framed(&mut stream).await;
    let second = read_framed(&mut stream).await;
    assert_eq!(
        first.metadata.id, 2,
        "the fast answer overtakes the slow one"
    );
    assert_eq!(second.metadata.id, 1);
    assert_eq!(second.answers.len(), 1);
    assert_eq!(server.stats.snapshot().queries_tcp, 2);
    server.stop().await;
}

#[tokio::test]
async fn tcp_idle_connection_is_closed() {
    let config = ServerConfig {
        tcp_idle_timeout: Duration::from_millis(150),
        ..loopback_config()
    };
    let server = TestServer::start(config, resolver()).expect("bind");
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(&framed(&query(3, "fast.example.", RecordType::A)))
        .await
        .expect("write");
    assert_eq!(read_framed(&mut stream).await.metadata.id, 3);
    assert!(
        closed_within(&mut stream, PATIENCE).await,
        "idle connection closed"
    );
    assert_eq!(server.stats.snapshot().tcp_idle_timeouts, 1);
    server.stop().await;
}

#[tokio::test]
async fn tcp_query_slower_than_idle_timeout_is_still_answered() {
    let config = ServerConfig {
        tcp_idle_timeout: Duration::from_millis(100),
        ..loopback_config()
    };
    let server = TestServer::start(config, resolver()).expect("bind");
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(&framed(&query(4, "slow.example.", RecordType::A)))
        .await
        .expect("write");
    assert_eq!(read_framed(&mut stream).await.metadata.id, 4);
    server.stop().await;
}

#[tokio::test]
async fn tcp_partial_message_hits_read_timeout() {
    let config = ServerConfig {
        tcp_read_timeout: Duration::from_millis(150),
        ..loopback_config()
    };
    let server = TestServer::start(config, resolver()).expect("bind");
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(&[0, 40, 0xab])
        .await
        .expect("write a fragment");
    assert!(
        closed_within(&mut stream, PATIENCE).await,
        "slowloris connection closed"
    );
    assert_eq!(server.stats.snapshot().tcp_read_timeouts, 1);
    server.stop().await;
}

#[tokio::test]
async fn tcp_total_connection_limit_is_enforced() {
    let config = ServerConfig {
        tcp_max_connections: 2,
        ..loopback_config()
    };
    let server = TestServer::start(config, resolver()).expect("bind");
    let mut open = Vec::new();
    for id in 0..2u16 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(&framed(&query(id, "fast.example.", RecordType::A)))
            .await
            .expect("write");
        assert_eq!(read_framed(&mut stream).await.metadata.id, id);
        open.push(stream);
    }
    let mut third = TcpStream::connect(server.addr)
        .await
        .expect("the kernel accepts");
    assert!(
        closed_within(&mut third, PATIENCE).await,
        "third connection closed by the server"
    );
    assert_eq!(server.stats.snapshot().tcp_rejected_server_full, 1);

    // Closing one frees its slot.
    drop(open.pop());
    let mut fourth = None;
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let _ = stream
            .write_all(&framed(&query(9, "fast.example.", RecordType::A)))
            .await;
        let mut len = [0u8; 2];
        if matches!(
            timeout(PATIENCE, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            fourth = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fourth.is_some(), "a slot frees up when a connection closes");
    server.stop().await;
}

#[tokio::test]
async fn tcp_per_client_limit_is_enforced() {
    let config = ServerConfig {
        tcp_max_connections_per_client: 1,
        ..loopback_config()
    };
    let server = TestServer::start(config, resolver()).expect("bind");
    let mut first = TcpStream::connect(server.addr).await.expect("connect");
    first
        .write_all(&framed(&query(1, "fast.example.", RecordType::A)))
        .await
        .expect("write");
    assert_eq!(read_framed(&mut first).await.metadata.id, 1);
    let mut second = TcpStream::connect(server.addr)
        .await
        .expect("the kernel accepts");
    assert!(closed_within(&mut second, PATIENCE).await);
    assert_eq!(server.stats.snapshot().tcp_rejected_per_client, 1);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let server = TestServer::start(loopback_config(), resolver()).expect("bind");
    let addr = server.addr;
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    server.stop().await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    assert!(
        closed_within(&mut idle, PATIENCE).await,
        "open connections closed"
    );
    let bytes = wire(&query(5, "fast.example.", RecordType::A));
    assert!(
        udp_exchange(addr, &bytes, Duration::from_millis(200))
            .await
            .is_none()
    );
}

/// A UDP query still being resolved when the server shuts down: its socket is closed at once
/// (the port can be bound again while the resolution goes on) and no response ever comes.
#[tokio::test]
async fn a_udp_query_in_flight_at_shutdown_is_abandoned_and_its_socket_closed_at_once() {
    let server = TestServer::start(loopback_config(), resolver()).expect("bind");
    let addr = server.addr;
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("client socket");
    let slow = wire(&query(6, "slow.example.", RecordType::A));
    client.send_to(&slow, addr).await.expect("send");
    // Received and resolving (300 ms) when the server stops.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop().await;
    let rebound = std::net::UdpSocket::bind(addr);
    assert!(
        rebound.is_ok(),
        "the listener's socket is closed: {rebound:?}"
    );
    drop(rebound);
    let mut buffer = vec![0u8; 65_535];
    let late = timeout(Duration::from_millis(600), client.recv_from(&mut buffer)).await;
    assert!(late.is_err(), "no response after shutdown");
}

#[tokio::test]
async fn ipv6_loopback_listener_answers_both_transports() {
    let config = ServerConfig {
        listen: vec!["[::1]:0".parse().expect("addr")],
        ..ServerConfig::default()
    };
    let server = match TestServer::start(config, resolver()) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("skipping: no IPv6 loopback here ({error})");
            return;
        }
    };
    let socket = UdpSocket::bind("[::1]:0").await.expect("client socket");
    socket
        .send_to(
            &wire(&query(6, "fast.example.", RecordType::A)),
            server.addr,
        )
        .await
        .expect("send");
    let mut buffer = vec![0u8; 4096];
    let (len, _) = timeout(PATIENCE, socket.recv_from(&mut buffer))
        .await
        .expect("in time")
        .expect("recv");
    let response = Message::from_vec(buffer.get(..len).unwrap_or_default()).expect("parses");
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);

    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(&framed(&query(7, "fast.example.", RecordType::A)))
        .await
        .expect("write");
    assert_eq!(read_framed(&mut stream).await.metadata.id, 7);
    server.stop().await;
}

#[tokio::test]
async fn udp_and_tcp_share_the_port_and_several_addresses_bind() {
    let config = ServerConfig {
        listen: vec![
            "127.0.0.1:0".parse().expect("addr"),
            "127.0.0.1:0".parse().expect("addr"),
        ],
        ..ServerConfig::default()
    };
    let server = bind(config).expect("bind");
    let addrs = server.local_addrs();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs.first(), addrs.get(1));
    for addr in addrs {
        assert_ne!(addr.port(), 0);
    }
}

#[test]
fn bind_outside_a_runtime_is_an_error_not_a_panic() {
    assert!(bind(loopback_config()).is_err());
}

/// Sends `burst` A queries for `name` (IDs 1 to `burst`) on the connected `client` before
/// reading any answer, then reads one answer of one record for each ID. 100 answers fit the
/// default socket buffers even if the client reads late.
async fn burst_answered(client: &UdpSocket, name: &str, burst: u16) {
    for id in 1..=burst {
        client
            .send(&wire(&query(id, name, RecordType::A)))
            .await
            .unwrap();
    }
    let mut buffer = vec![0u8; 4096];
    let mut ids = std::collections::HashSet::new();
    while ids.len() < usize::from(burst) {
        let len = timeout(PATIENCE, client.recv(&mut buffer))
            .await
            .expect("every query is answered")
            .unwrap();
        let response = Message::from_vec(&buffer[..len]).unwrap();
        assert_eq!(response.answers.len(), 1);
        assert!(ids.insert(response.metadata.id), "one response per query");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_cache_hits_is_answered_in_full_from_batched_reads() {
    let resolver = Arc::new(
        FakeResolver::new()
            .with_a("fast.example.", RecordType::A, 1)
            .with_wire_cache(),
    );
    let server = TestServer::start_shared(loopback_config(), Arc::clone(&resolver)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(server.addr).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    // The first answer is rendered by the full path and kept.
    client
        .send(&wire(&query(0, "fast.example.", RecordType::A)))
        .await
        .unwrap();
    timeout(PATIENCE, client.recv(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    // Then a burst, sent before any answer is read: the server reads several per call.
    const BURST: u16 = 100;
    burst_answered(&client, "fast.example.", BURST).await;
    assert_eq!(
        resolver.seen().len(),
        1,
        "the burst came from the answer cache"
    );
    assert_eq!(server.stats.snapshot().queries_udp, u64::from(BURST) + 1);
    server.stop().await;
}

/// Resolutions that finish together have their responses sent together: the full path queues
/// them, and one `sendmmsg` per round of the scheduler carries them (up to 32 per call). Every
/// query still gets its own response, to its own ID.
#[tokio::test]
async fn full_path_responses_finishing_together_share_send_calls() {
    let server = TestServer::start(loopback_config(), resolver()).expect("bind");
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(server.addr).await.unwrap();
    // All resolving at once (300 ms each), so their timers end within a few ticks.
    const BURST: u16 = 100;
    burst_answered(&client, "slow.example.", BURST).await;
    let calls = server.stats.snapshot().udp_full_send_calls;
    // One call per response would be 100; at 32 per call it is 4 per round.
    assert!(
        (4..=25).contains(&calls),
        "{calls} sendmmsg calls for {BURST} responses"
    );
    // One at a time, each response still goes out at once, in a call of its own.
    let response = udp_exchange(
        server.addr,
        &wire(&query(7, "nope.example.", RecordType::A)),
        PATIENCE,
    )
    .await
    .expect("answered");
    assert_eq!(&response[..2], &[0, 7]);
    assert_eq!(server.stats.snapshot().udp_full_send_calls, calls + 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_udp_sockets_share_a_fixed_port() {
    // A port free for both transports right now (the test cannot use port 0: one socket only).
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let config = ServerConfig {
        listen: vec![addr],
        udp_sockets_per_address: 3,
        ..ServerConfig::default()
    };
    let server = bind(config).unwrap();
    assert_eq!(
        server.local_addrs(),
        vec![addr],
        "one address, however many sockets"
    );
    // The kernel's table shows the three sockets on the port.
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let port = format!(":{:04X} ", addr.port());
    let sockets = table
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .nth(1)
                .is_some_and(|l| format!("{l} ").ends_with(&port))
        })
        .count();
    assert_eq!(sockets, 3, "{table}");
    let stats = server.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(Arc::new(resolver()), async {
        let _ = stopped.await;
    }));
    // Clients on many source ports land on the various sockets; every one is answered.
    for id in 0..30u16 {
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(addr).await.unwrap();
        client
            .send(&wire(&query(id, "fast.example.", RecordType::A)))
            .await
            .unwrap();
        let mut buffer = vec![0u8; 4096];
        let len = timeout(PATIENCE, client.recv(&mut buffer))
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(Message::from_vec(&buffer[..len]).unwrap().metadata.id, id);
    }
    assert_eq!(stats.snapshot().queries_udp, 30);
    let _ = stop.send(());
    timeout(PATIENCE, task).await.unwrap().unwrap();
}

/// Resident memory of this process from /proc/self/status (kB → bytes).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_drops_beyond_capacity_keeps_answering_hits_and_recovers() {
    // A slow engine (300 ms per miss) and room for 16 resolutions at once.
    let resolver = Arc::new(resolver().with_wire_cache());
    let config = ServerConfig {
        udp_max_inflight: 16,
        ..loopback_config()
    };
    let server = TestServer::start_shared(config, Arc::clone(&resolver)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(server.addr).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    // The hit is rendered once.
    client
        .send(&wire(&query(1, "fast.example.", RecordType::A)))
        .await
        .unwrap();
    timeout(PATIENCE, client.recv(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    let rss_before = rss_bytes();
    // 2,000 slow misses in 40 bursts of 50 (bounded in count and time), a hit between every
    // hundred of them.
    let mut hits_sent = 0u16;
    for i in 0..2_000u16 {
        client
            .send(&wire(&query(1000 + i, "slow.example.", RecordType::A)))
            .await
            .unwrap();
        if i % 100 == 0 {
            client
                .send(&wire(&query(i / 100 + 2, "fast.example.", RecordType::A)))
                .await
                .unwrap();
            hits_sent += 1;
        }
        if i % 50 == 49 {
            // Far more than 16 resolutions' worth per pause, but no kernel buffer overflow.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // Read what comes back within a bounded time.
    let mut slow_answered = 0u32;
    let mut hits_answered = 0u16;
    while let Ok(Ok(len)) = timeout(Duration::from_millis(800), client.recv(&mut buffer)).await {
        let response = Message::from_vec(&buffer[..len]).unwrap();
        if response.queries[0].name().to_ascii() == "fast.example." {
            hits_answered += 1;
        } else {
            slow_answered += 1;
        }
    }
    let stats = server.stats.snapshot();
    assert!(stats.dropped_overload > 0, "beyond 16 in flight, dropped");
    // What the kernel did not already drop from a full socket buffer was either resolved
    // (at most 16 at a time) or dropped and counted.
    assert!(
        u64::from(slow_answered) + stats.dropped_overload >= 1_500,
        "{slow_answered} answered, {} dropped",
        stats.dropped_overload
    );
    assert!(
        slow_answered <= 200,
        "no unbounded queue: {slow_answered} answered"
    );
    assert!(
        hits_answered >= hits_sent * 9 / 10,
        "the cache hits kept being answered: {hits_answered} of {hits_sent}"
    );
    // Dropping, not queueing: memory barely moved.
    let grown = rss_bytes().saturating_sub(rss_before);
    assert!(grown < 64 << 20, "RSS grew by {grown} bytes");
    // Load over: a new miss is resolved again.
    client
        .send(&wire(&query(9, "slow.example.", RecordType::A)))
        .await
        .unwrap();
    let len = timeout(PATIENCE, client.recv(&mut buffer))
        .await
        .expect("recovered")
        .unwrap();
    assert_eq!(Message::from_vec(&buffer[..len]).unwrap().metadata.id, 9);
    server.stop().await;
}
