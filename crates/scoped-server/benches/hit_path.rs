//! The cache-hit path of the front end, with the real engine on a warm cache: the fast path
//! (`Pipeline::answer_fast`: raw parse, answer cache, bytes patched) against the full pipeline
//! (`Pipeline::handle_full`: hickory parse, engine lookup, hickory serialisation), for a plain
//! query and for a query with EDNS and an ECS option. User-space cost only: no sockets.
//!
//! `cargo bench -p scoped-server --bench hit_path`. The full path is driven through a
//! current-thread runtime's `block_on` (it is async); the fast path is called directly.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_recursor::Recursor;
use scoped_server::{ClientMemo, Fast, Pipeline, ServerConfig, Transport};
use scoped_testkit::{name, standard_internet};

const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);

fn query(edns: bool) -> Vec<u8> {
    let mut message = Message::new(0x4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name("www.example.com."), RecordType::A));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(1232);
        opt.options_mut()
            .insert(EdnsOption::Unknown(8, vec![0, 1, 24, 0, 198, 51, 100]));
        message.set_edns(opt);
    }
    message.to_vec().expect("query serialises")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let internet = standard_internet();
    let recursor = Recursor::new(
        internet.recursor_config(),
        RecordCache::new(CacheConfig::default()),
        internet.transport(),
    );
    let config = ServerConfig::default();
    let pipeline = Pipeline::new(&config, Arc::new(recursor), Arc::default());
    let mut group = c.benchmark_group("hit_path");
    for (label, wire) in [("plain", query(false)), ("ecs", query(true))] {
        // Warm both caches: the first query resolves, the second renders from the cache.
        for _ in 0..2 {
            runtime
                .block_on(pipeline.handle_full(&wire, CLIENT, Transport::Udp))
                .expect("an answer");
        }
        group.bench_function(format!("full_{label}"), |b| {
            b.iter(|| {
                runtime.block_on(pipeline.handle_full(black_box(&wire), CLIENT, Transport::Udp))
            })
        });
        let mut out = Vec::with_capacity(4096);
        // As the UDP loop calls it: the clock read once per batch, the client memo kept.
        let mut memo = ClientMemo::default();
        group.bench_function(format!("fast_{label}"), |b| {
            b.iter(|| {
                out.clear();
                let now = tokio::time::Instant::now();
                let wire = black_box(&wire);
                assert_eq!(
                    pipeline.answer_fast_at(wire, CLIENT, Transport::Udp, &mut out, now, &mut memo),
                    Fast::Answered
                );
                black_box(out.len())
            })
        });
        // A client never seen before, with its own clock read: the ACL and subnet decision run.
        group.bench_function(format!("fast_{label}_cold_client"), |b| {
            b.iter(|| {
                out.clear();
                assert!(pipeline.answer_fast(black_box(&wire), CLIENT, Transport::Udp, &mut out));
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
