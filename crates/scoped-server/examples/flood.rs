//! A bounded flood on loopback: one client network at ten times `per-client-qps` while another
//! asks at half of it, for three seconds; prints what each got and the front end's counters.
//!
//! `cargo run --release -p scoped-server --example flood [QPS]` (default 100). The flooder is
//! 127.0.0.2 (network 127.0.0.0/24), the other client 127.0.1.2 (127.0.1.0/24); the engine is a
//! stand-in answering every question with one A record.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_recursor::{Resolution, Resolve, ResolveRequest};
use scoped_server::{RateLimitConfig, ServerConfig, bind};
use tokio::net::UdpSocket;

/// Answers every question with 192.0.2.1.
struct OneAnswer;

impl Resolve for OneAnswer {
    fn resolve(&self, request: ResolveRequest) -> BoxFuture<'static, Resolution> {
        let mut resolution = Resolution::error(ResponseCode::NoError);
        resolution.answers.push(Record::from_rdata(
            request.question.name,
            300,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        ));
        Box::pin(async move { resolution })
    }
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answered: AtomicU64,
    truncated: AtomicU64,
}

/// Sends `per_second` queries a second from `source` for `seconds`, counting the replies.
async fn client(source: Ipv4Addr, server: SocketAddr, per_second: u64, seconds: u64) -> Tally {
    let socket = Arc::new(UdpSocket::bind((source, 0)).await.expect("client socket"));
    let tally = Arc::new(Tally::default());
    let receiver = {
        let (socket, tally) = (Arc::clone(&socket), Arc::clone(&tally));
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok(Ok(len)) =
                tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buffer)).await
            {
                let Ok(reply) = Message::from_vec(&buffer[..len]) else {
                    continue;
                };
                let counter = if reply.metadata.truncation {
                    &tally.truncated
                } else {
                    &tally.answered
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Ten sends per tick, a tick every 10 / per_second seconds.
    let mut ticks = tokio::time::interval(Duration::from_secs(10) / per_second as u32);
    let name = Name::from_ascii("www.example.").expect("name");
    for i in 0..per_second * seconds / 10 {
        ticks.tick().await;
        for j in 0..10 {
            let mut query = Message::new((i * 10 + j) as u16, MessageType::Query, OpCode::Query);
            query.add_query(Query::query(name.clone(), RecordType::A));
            let wire = query.to_vec().expect("query");
            if socket.send_to(&wire, server).await.is_ok() {
                tally.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let _ = receiver.await;
    Arc::into_inner(tally).unwrap_or_default()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let qps: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let config = ServerConfig {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        rate_limit: RateLimitConfig {
            per_client_qps: qps,
            ..RateLimitConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = bind(config)?;
    let addr = server.local_addrs()[0];
    let stats = server.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(Arc::new(OneAnswer), async {
        let _ = stopped.await;
    }));
    let seconds = 3;
    let flood = tokio::spawn(client(
        Ipv4Addr::new(127, 0, 0, 2),
        addr,
        u64::from(qps) * 10,
        seconds,
    ));
    let other = tokio::spawn(client(
        Ipv4Addr::new(127, 0, 1, 2),
        addr,
        u64::from(qps) / 2,
        seconds,
    ));
    let (flood, other) = (flood.await.expect("flood"), other.await.expect("other"));
    println!("per-client-qps = {qps}, slip = 2, {seconds} s");
    for (who, tally) in [
        ("flooder 127.0.0.2 (10x)", &flood),
        ("other   127.0.1.2 (0.5x)", &other),
    ] {
        println!(
            "{who}: sent {}, answered {}, truncated (TC=1) {}, no reply {}",
            tally.sent.load(Ordering::Relaxed),
            tally.answered.load(Ordering::Relaxed),
            tally.truncated.load(Ordering::Relaxed),
            tally.sent.load(Ordering::Relaxed)
                - tally.answered.load(Ordering::Relaxed)
                - tally.truncated.load(Ordering::Relaxed),
        );
    }
    let snapshot = stats.snapshot();
    for (name, value) in snapshot.iter() {
        if name.starts_with("ratelimit_") || name == "queries_udp" || name == "responses_noerror" {
            println!("  {name} = {value}");
        }
    }
    let _ = stop.send(());
    let _ = running.await;
    Ok(())
}
