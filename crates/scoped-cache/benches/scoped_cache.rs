//! The tailored answer cache at 1e6 tailored entries. Results, and the comparison of the two
//! shapes of design.md ("Two caches, one rule about ECS") that chose `ScopedCache`'s:
//! docs/ecs-cache.md.
//!
//! `cargo bench -p scoped-cache --bench scoped_cache` (a few minutes on 2 cores).
//!
//! Two workloads of exactly 1,000,000 tailored IPv4 entries, every answer distinct (no sharing):
//! * `wide`: 10,000 names × (99 covering /24s + 1 covering /16 around them): a CDN name asked
//!   from many subnets, each name at the E21 bound of 100. Exercises the per-name scan or probes.
//! * `deep`: 1,000,000 names × 1 covering /24: a long tail of names, one subnet each. Exercises
//!   the number of moka entries.
//!
//! Operations (single thread unless the name says otherwise), each on 65,536 precomputed random
//! queries cycled through:
//! * `hit_longest`: a client inside a cached /24 (the /24 must win over the /16, E19);
//! * `hit_fallback` (wide): a client in the /16 but in no cached /24: the /16 serves;
//! * `miss`: a cached name, a client no entry covers; `miss_unknown_name`: a name not cached;
//! * `insert_replace`: a new answer for a scope already cached (the steady state of refreshes);
//! * `insert_evict` (wide): a new /24 into a full name: the least recently used one goes;
//! * `hit_longest_2threads`: `hit_longest` from 2 threads at once, wall time per lookup.
//!
//! Times are the benchmark thread's CPU time per operation (`SCOPED_BENCH_CLOCK=wall` for wall
//! time), steadier than wall time on a shared 2-core machine.
//! `SCOPED_BENCH_ONLY=wide` (or `deep`) runs one workload and skips the memory table.
//!
//! Bytes per entry are measured in a child process per (shape, workload): VmRSS after building
//! minus VmRSS before, divided by 1e6; the cache's own weighted estimate is printed beside it.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{Duration, Instant as StdInstant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use ipnet::{IpNet, Ipv4Net};
use scoped_cache::scoped::ScopedStore;
use scoped_cache::{CacheKey, CachedData, ScopedCache, ScopedCacheConfig, Trust};
use scoped_ecs::CacheScope;
use tokio::time::Instant;

const QUERIES: usize = 1 << 16;
const WIDE_NAMES: u32 = 10_000;
const WIDE_PER_NAME: u32 = 99;
const DEEP_NAMES: u32 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Wide,
    Deep,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::Wide => "wide",
            Workload::Deep => "deep",
        }
    }
}

fn key(n: u32) -> CacheKey {
    CacheKey::rrset(
        &Name::from_str(&format!("n{n}.example.")).expect("name"),
        RecordType::A,
        DNSClass::IN,
    )
}

fn net(a: u8, b: u8, c: u8, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::new(a, b, c, 0), len).expect("prefix"))
}

fn answer(n: u32, last: u32) -> CachedData {
    CachedData::Rrset {
        records: vec![Record::from_rdata(
            Name::from_str(&format!("n{n}.example.")).expect("name"),
            300,
            RData::A(A(Ipv4Addr::from(0xC633_6400 | (last & 0xff)))),
        )],
        trust: Trust::AuthoritativeAnswer,
    }
}

/// A wide name's /16 is 11.a.0.0/16 (names share /16s; each name has its own entries).
fn wide_base(n: u32) -> u8 {
    n as u8
}

/// A deep name's one /24.
fn deep_net(n: u32) -> IpNet {
    net(10 + (n >> 16) as u8, (n >> 8) as u8, n as u8, 24)
}

fn config() -> ScopedCacheConfig {
    ScopedCacheConfig {
        max_bytes: 16 * 1024 * 1024 * 1024,
        ..ScopedCacheConfig::default()
    }
}

fn build<C: ScopedStore>(workload: Workload, now: Instant) -> C {
    let cache = C::new(config());
    match workload {
        Workload::Wide => {
            for n in 0..WIDE_NAMES {
                let k = key(n);
                let a = wide_base(n);
                cache.insert(
                    k.clone(),
                    CacheScope::Covering(net(11, a, 0, 16)),
                    answer(n, 255),
                    now,
                );
                for i in 0..WIDE_PER_NAME {
                    cache.insert(
                        k.clone(),
                        CacheScope::Covering(net(11, a, i as u8, 24)),
                        answer(n, i),
                        now,
                    );
                }
            }
        }
        Workload::Deep => {
            for n in 0..DEEP_NAMES {
                cache.insert(key(n), CacheScope::Covering(deep_net(n)), answer(n, n), now);
            }
        }
    }
    cache.run_pending_tasks();
    cache
}

/// A small, fast, deterministic generator for the query lists.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

enum Query {
    HitLongest,
    HitFallback,
    Miss,
    MissUnknownName,
}

fn queries(workload: Workload, kind: Query) -> Vec<(CacheKey, Option<IpNet>)> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..QUERIES)
        .map(|_| match workload {
            Workload::Wide => {
                let n = rng.below(WIDE_NAMES);
                let a = wide_base(n);
                let client = match kind {
                    Query::HitLongest => net(11, a, rng.below(WIDE_PER_NAME) as u8, 24),
                    Query::HitFallback => net(11, a, 100 + rng.below(156) as u8, 24),
                    Query::Miss => net(172, 16, rng.below(256) as u8, 24),
                    Query::MissUnknownName => net(11, a, 0, 24),
                };
                let n = match kind {
                    Query::MissUnknownName => WIDE_NAMES + n,
                    _ => n,
                };
                (key(n), Some(client))
            }
            Workload::Deep => {
                let n = rng.below(DEEP_NAMES);
                let client = match kind {
                    Query::HitLongest | Query::HitFallback => deep_net(n),
                    Query::Miss => net(172, 16, rng.below(256) as u8, 24),
                    Query::MissUnknownName => deep_net(n),
                };
                let n = match kind {
                    Query::MissUnknownName => DEEP_NAMES + n,
                    _ => n,
                };
                (key(n), Some(client))
            }
        })
        .collect()
}

type Queries = Vec<(CacheKey, Option<IpNet>)>;
type Inserts = Vec<(CacheKey, CacheScope, CachedData)>;

/// Check that a query list does what its name says before timing it.
fn check<C: ScopedStore>(cache: &C, qs: &Queries, expect_hit: bool, now: Instant, what: &str) {
    let hits = qs
        .iter()
        .take(1000)
        .filter(|(k, cl)| cache.get(k, *cl, now).is_some())
        .count();
    assert_eq!(hits, if expect_hit { 1000 } else { 0 }, "{what}");
}

/// Whether to time with the benchmark thread's CPU clock (default) or the wall clock
/// (`SCOPED_BENCH_CLOCK=wall`). On a shared 2-core machine whose other work comes and goes, the
/// thread's CPU time is the steadier measure of what an operation costs.
fn wall_clock() -> bool {
    std::env::var("SCOPED_BENCH_CLOCK").is_ok_and(|v| v == "wall")
}

/// Time `iters` runs of `f` on this thread.
fn timed(iters: u64, mut f: impl FnMut(u64)) -> Duration {
    if wall_clock() {
        let start = StdInstant::now();
        (0..iters).for_each(&mut f);
        start.elapsed()
    } else {
        let start = cpu_time::ThreadTime::now();
        (0..iters).for_each(&mut f);
        start.elapsed()
    }
}

fn lookup<C: ScopedStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    cache: &C,
    qs: &Queries,
    now: Instant,
) {
    let mut i = 0usize;
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            timed(iters, |_| {
                let (k, cl) = &qs[i % QUERIES];
                i = i.wrapping_add(1);
                black_box(cache.get(k, *cl, now));
            })
        })
    });
}

/// Two threads looking up at once, `iters` lookups in all: the CPU time both threads spent (or
/// with `SCOPED_BENCH_CLOCK=wall`, the wall time), per lookup.
fn lookup_2threads<C: ScopedStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    cache: &C,
    qs: &Queries,
    now: Instant,
) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = StdInstant::now();
            let cpu: Duration = std::thread::scope(|s| {
                let threads: Vec<_> = (0..2usize)
                    .map(|t| {
                        s.spawn(move || {
                            timed(iters.div_ceil(2), |i| {
                                let (k, cl) = &qs[(i as usize * 2 + t) % QUERIES];
                                black_box(cache.get(k, *cl, now));
                            })
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().unwrap_or_default())
                    .sum()
            });
            if wall_clock() { start.elapsed() } else { cpu }
        })
    });
}

fn insert<C: ScopedStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    cache: &C,
    ins: &Inserts,
    now: Instant,
) {
    let mut i = 0usize;
    g.bench_function(id, |b| {
        b.iter(|| {
            let (k, s, d) = &ins[i % QUERIES];
            i = i.wrapping_add(1);
            cache.insert(k.clone(), *s, d.clone(), now);
        })
    });
}

fn built<C: ScopedStore>(workload: Workload, shape: &str, now: Instant) -> C {
    let started = StdInstant::now();
    let cache: C = build(workload, now);
    let took = started.elapsed();
    eprintln!(
        "{}/{shape}: built {} answers in {took:.2?} ({:.2} µs/insert), weighted {} B",
        workload.label(),
        cache.entry_count(),
        took.as_secs_f64() * 1e6 / cache.entry_count().max(1) as f64,
        cache.weighted_bytes()
    );
    cache
}

/// Every operation on one workload. Generic over the shape (the comparison in docs/ecs-cache.md
/// ran a second one beside it, in the same groups).
fn bench_workload(c: &mut Criterion, workload: Workload) {
    let label = workload.label();
    if let Ok(only) = std::env::var("SCOPED_BENCH_ONLY")
        && !label.contains(&only)
    {
        return;
    }
    let now = Instant::now();
    let cow: ScopedCache = built(workload, "cow", now);

    let mut ops = vec![("hit_longest", Query::HitLongest, true)];
    if workload == Workload::Wide {
        ops.push(("hit_fallback", Query::HitFallback, true));
    }
    ops.push(("miss", Query::Miss, false));
    ops.push(("miss_unknown_name", Query::MissUnknownName, false));
    for (op, kind, expect_hit) in ops {
        let qs = queries(workload, kind);
        let what = format!("{label}/{op}");
        check(&cow, &qs, expect_hit, now, &what);
        let mut g = c.benchmark_group(&what);
        lookup(&mut g, "cow", &cow, &qs, now);
        g.finish();
    }
    let qs = queries(workload, Query::HitLongest);
    let mut g = c.benchmark_group(format!("{label}/hit_longest_2threads"));
    lookup_2threads(&mut g, "cow", &cow, &qs, now);
    g.finish();

    // Inserts last: they change the contents.
    let mut rng = XorShift(7);
    let replace: Inserts = (0..QUERIES)
        .map(|_| match workload {
            Workload::Wide => {
                let n = rng.below(WIDE_NAMES);
                let i = rng.below(WIDE_PER_NAME);
                let a = wide_base(n);
                (
                    key(n),
                    CacheScope::Covering(net(11, a, i as u8, 24)),
                    answer(n, i + 1),
                )
            }
            Workload::Deep => {
                let n = rng.below(DEEP_NAMES);
                (key(n), CacheScope::Covering(deep_net(n)), answer(n, n + 1))
            }
        })
        .collect();
    let mut g = c.benchmark_group(format!("{label}/insert_replace"));
    insert(&mut g, "cow", &cow, &replace, now);
    g.finish();
    if workload == Workload::Wide {
        let evict: Inserts = (0..QUERIES)
            .map(|_| {
                let n = rng.below(WIDE_NAMES);
                let i = 100 + rng.below(156);
                let a = wide_base(n);
                (
                    key(n),
                    CacheScope::Covering(net(11, a, i as u8, 24)),
                    answer(n, i),
                )
            })
            .collect();
        let mut g = c.benchmark_group(format!("{label}/insert_evict"));
        insert(&mut g, "cow", &cow, &evict, now);
        g.finish();
    }
    eprintln!("{label}/cow: dropped in {:.2?}", timed_drop(cow));
}

fn timed_drop<T>(value: T) -> Duration {
    let started = StdInstant::now();
    drop(value);
    started.elapsed()
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// In a child process: build one (shape, workload) and print its memory.
fn measure_memory(spec: &str) {
    fn run<C: ScopedStore>(workload: Workload) -> (u64, u64, u64) {
        let before = rss_bytes();
        let cache: C = build(workload, Instant::now());
        let after = rss_bytes();
        (
            after.saturating_sub(before),
            cache.weighted_bytes(),
            cache.entry_count(),
        )
    }
    let (shape, workload) = spec.split_once(':').expect("shape:workload");
    let workload = if workload == "wide" {
        Workload::Wide
    } else {
        Workload::Deep
    };
    let (rss, weighted, count) = match shape {
        "cow" => run::<ScopedCache>(workload),
        other => panic!("unknown shape {other}"),
    };
    println!("{rss} {weighted} {count}");
}

fn memory_table() {
    if std::env::var("SCOPED_BENCH_ONLY").is_ok() {
        return;
    }
    eprintln!("\nbytes per tailored entry (1e6 entries; RSS delta in a fresh process / weigher):");
    let exe = std::env::current_exe().expect("own path");
    for spec in ["cow:wide", "cow:deep"] {
        let out = std::process::Command::new(&exe)
            .env("SCOPED_BENCH_MEMORY", spec)
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        let nums: Vec<u64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if let [rss, weighted, count] = nums[..] {
            let per = |b: u64| b as f64 / 1e6;
            eprintln!(
                "  {spec:<10} rss {:>6.0} B/entry   weighted {:>6.0} B/entry   ({count} answers)",
                per(rss),
                per(weighted)
            );
        } else {
            eprintln!(
                "  {spec}: no result ({})",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn main() {
    if let Ok(spec) = std::env::var("SCOPED_BENCH_MEMORY") {
        measure_memory(&spec);
        return;
    }
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_workload(&mut c, Workload::Wide);
    bench_workload(&mut c, Workload::Deep);
    c.final_summary();
    memory_table();
}
