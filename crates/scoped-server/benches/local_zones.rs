//! Local zones at blocklist scale: how long 100k `always-nxdomain` zones take to load, how much
//! memory they hold, and what the table costs a query: the lookup alone (`LocalZones::
//! intercepts`, as the fast path calls it, and `answer` for a blocked name) and a whole fast-path
//! cache hit with no local zones, the default zones, and the defaults plus 100k zones.
//!
//! `cargo bench -p scoped-server --bench local_zones`. The memory line is printed once, before
//! the timings: the resident-set growth of building the table (an upper bound: it includes what
//! the allocator kept from the build's temporaries) and the table's own estimate of its heap.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::RecordType;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_recursor::Recursor;
use scoped_server::{
    ClientMemo, Fast, LocalConfig, LocalZoneKind, LocalZoneSpec, LocalZones, Pipeline,
    ServerConfig, Transport,
};
use scoped_testkit::{name, standard_internet};

const ZONES: usize = 100_000;
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);

/// A blocklist of `count` zones shaped like real ones: a host under a registered domain.
fn blocklist(count: usize) -> LocalConfig {
    let zones = (0..count)
        .map(|i| LocalZoneSpec {
            name: format!("t{i}.tracker{}.example{}.com.", i % 5000, i % 7),
            kind: LocalZoneKind::AlwaysNxdomain,
        })
        .collect();
    LocalConfig {
        zones,
        ..LocalConfig::default()
    }
}

/// The lowercased wire form of `text`, as the fast path hands names to the table.
fn wire(text: &str) -> Vec<u8> {
    let mut wire = Vec::new();
    for label in text.trim_end_matches('.').split('.') {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    wire
}

fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn load(c: &mut Criterion) {
    let config = blocklist(ZONES);
    let before = resident_bytes();
    let table = LocalZones::build(&config).expect("the blocklist builds");
    let grown = resident_bytes().saturating_sub(before);
    eprintln!(
        "local_zones: {} zones; resident set +{:.1} MiB ({} B/zone), table estimate {:.1} MiB ({} B/zone)",
        table.zone_count(),
        grown as f64 / f64::from(1 << 20),
        grown / ZONES,
        table.heap_bytes() as f64 / f64::from(1 << 20),
        table.heap_bytes() / table.zone_count(),
    );
    let mut group = c.benchmark_group("local_zones");
    group.sample_size(10);
    group.bench_function("load_100k", |b| {
        b.iter(|| LocalZones::build(black_box(&config)).expect("builds"))
    });
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let none = LocalZones::none();
    let defaults = LocalZones::defaults();
    let blocked = LocalZones::build(&blocklist(ZONES)).expect("builds");
    let miss = wire("www.example.com.");
    let hit = wire("t4242.tracker4242.example0.com.");
    let mut group = c.benchmark_group("local_zones");
    for (label, table) in [("none", &none), ("defaults", &defaults), ("100k", &blocked)] {
        group.bench_function(format!("intercepts_miss_{label}"), |b| {
            b.iter(|| table.intercepts(black_box(&miss)))
        });
    }
    assert!(blocked.intercepts(&hit));
    group.bench_function("intercepts_hit_100k", |b| {
        b.iter(|| blocked.intercepts(black_box(&hit)))
    });
    let hit_name = name("t4242.tracker4242.example0.com.");
    group.bench_function("answer_blocked_100k", |b| {
        b.iter(|| blocked.answer(black_box(&hit_name), RecordType::A))
    });
    group.finish();
}

fn query_wire() -> Vec<u8> {
    let mut message = Message::new(0x4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name("www.example.com."), RecordType::A));
    message.to_vec().expect("query serialises")
}

/// A whole fast-path cache hit (as `hit_path`'s `fast_plain`) with each table in the pipeline.
fn hit_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let wire = query_wire();
    let mut group = c.benchmark_group("local_zones");
    for (label, table) in [
        ("none", LocalZones::none()),
        ("defaults", LocalZones::defaults()),
        (
            "100k",
            LocalZones::build(&blocklist(ZONES)).expect("builds"),
        ),
    ] {
        let internet = standard_internet();
        let recursor = Recursor::new(
            internet.recursor_config(),
            RecordCache::new(CacheConfig::default()),
            internet.transport(),
        );
        let config = ServerConfig {
            local: Arc::new(table),
            ..ServerConfig::default()
        };
        let pipeline = Pipeline::new(&config, Arc::new(recursor), Arc::default());
        for _ in 0..2 {
            runtime
                .block_on(pipeline.handle_full(&wire, CLIENT, Transport::Udp))
                .expect("an answer");
        }
        let mut out = Vec::with_capacity(4096);
        let mut memo = ClientMemo::default();
        group.bench_function(format!("fast_hit_{label}"), |b| {
            b.iter(|| {
                out.clear();
                let now = tokio::time::Instant::now();
                assert_eq!(
                    pipeline.answer_fast_at(
                        black_box(&wire),
                        CLIENT,
                        Transport::Udp,
                        &mut out,
                        now,
                        &mut memo
                    ),
                    Fast::Answered
                );
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, load, lookup, hit_path);
criterion_main!(benches);
