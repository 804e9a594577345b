//! Server selection over a 100-name workload: four nameservers 5, 20, 50 and 100 ms away
//! (`scoped_testkit::multi`), on tokio's paused clock, so the latencies below are exactly the
//! simulated network time each resolution spent — what selection controls — and every run
//! prints the same numbers for the same seed.
//!
//! `cargo bench -p scoped-recursor --bench selection`
//!
//! Compared: scoped's SRTT selection, and the same engine without memory (a fresh engine per
//! name: every server unknown, so the first pick is random — what a resolver without SRTT does).
//!
//! Then a loaded authoritative (`scoped_testkit::multi::one_loaded_process`): the four addresses
//! are one ECS-aware process that works through its queries one at a time (0.1 ms away, 0.4 ms
//! of work each), and a burst of 100 names × 50 client /24s (5000 misses), 1000 in flight, asks
//! it. Printed: upstream queries per miss, retries, late replies taken, timeouts, SERVFAILs,
//! the longest the process kept a query, and how long the burst took — with the defaults, and
//! with the retry budget and the per-server in-flight limit lifted one after the other.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_ecs::Allowlist;
use scoped_recursor::infra::InfraConfig;
use scoped_recursor::{EngineStats, Question, Recursor, RecursorConfig, ResolveRequest};
use scoped_testkit::multi::{MULTI_SERVERS, four_nameservers, one_loaded_process};
use scoped_testkit::{Internet, name};
use tokio::time::Instant;

const DELAYS_MS: [u64; 4] = [5, 20, 50, 100];
const NAMES: usize = 100;
const WARM_UP: usize = 20;

fn internet() -> Internet {
    four_nameservers(DELAYS_MS.map(Duration::from_millis))
}

fn recursor(internet: &Internet, seed: u64) -> Recursor {
    let config = RecursorConfig {
        selection_seed: Some(seed),
        ..internet.recursor_config()
    };
    Recursor::new(
        config,
        RecordCache::new(CacheConfig::default()),
        internet.transport(),
    )
}

async fn resolve(recursor: &Recursor, qname: &str) -> Duration {
    let request = ResolveRequest {
        question: Question::new(name(qname), RecordType::A),
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        client_subnet: None,
        checking_disabled: false,
    };
    let start = Instant::now();
    recursor.resolve_request(request).await;
    start.elapsed()
}

struct Run {
    shares: [usize; 4],
    latencies: Vec<Duration>,
    dead_queries: usize,
}

impl Run {
    fn row(&self, label: &str) -> String {
        let total: usize = self.shares.iter().sum::<usize>().max(1);
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let pct =
            |p: f64| sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1];
        let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
        let shares: Vec<String> = self
            .shares
            .iter()
            .map(|&n| format!("{:.1}%", 100.0 * n as f64 / total as f64))
            .collect();
        format!(
            "| {label:<34} | {:>6} | {:>6} | {:>6} | {:>6} | {:>7.1} | {:>5} | {:>5} | {:>3} |",
            shares[0],
            shares[1],
            shares[2],
            shares[3],
            mean.as_secs_f64() * 1000.0,
            pct(0.5).as_millis(),
            pct(0.99).as_millis(),
            self.dead_queries
        )
    }
}

/// Queries for the measured names (`n*.multi.test.`) each server received.
fn shares(internet: &Internet) -> [usize; 4] {
    MULTI_SERVERS.map(|addr| {
        internet
            .queries_to(addr)
            .iter()
            .filter(|q| q.qname.to_ascii().starts_with('n'))
            .count()
    })
}

/// [`NAMES`] unique names; with `kill_fastest`, the 5 ms server dies before the measured names.
async fn run(memory: bool, kill_fastest: bool, seed: u64) -> Run {
    let internet = internet();
    let shared = recursor(&internet, seed);
    for i in 0..WARM_UP {
        resolve(&shared, &format!("warm{i}.multi.test.")).await;
    }
    if kill_fastest {
        internet.expect_server(MULTI_SERVERS[0]).set_dead(true);
    }
    internet.clear_query_log();
    let mut latencies = Vec::with_capacity(NAMES);
    for i in 0..NAMES {
        let qname = format!("n{i}.multi.test.");
        let latency = if memory {
            resolve(&shared, &qname).await
        } else {
            // A fresh engine: every server unknown, so the zone's first pick is at random.
            // Its priming and referrals go to 0 ms servers and add nothing to the latency.
            resolve(
                &recursor(&internet, seed.wrapping_add(i as u64 + 1)),
                &qname,
            )
            .await
        };
        latencies.push(latency);
    }
    let dead_queries = internet.queries_to(MULTI_SERVERS[0]).len() * usize::from(kill_fastest);
    Run {
        shares: shares(&internet),
        latencies,
        dead_queries,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused tokio runtime");
    runtime.block_on(async {
        println!(
            "Server selection, {NAMES} unique names, servers at {DELAYS_MS:?} ms (virtual time)\n"
        );
        println!(
            "| {:<34} | {:>6} | {:>6} | {:>6} | {:>6} | {:>7} | {:>5} | {:>5} | {:>3} |",
            "run", "5 ms", "20 ms", "50 ms", "100 ms", "mean ms", "p50", "p99", "to dead"
        );
        println!(
            "|{:-<36}|{:->8}|{:->8}|{:->8}|{:->8}|{:->9}|{:->7}|{:->7}|{:->5}|",
            "", "", "", "", "", "", "", "", ""
        );
        for (label, memory, kill) in [
            ("scoped SRTT, all alive", true, false),
            ("no memory, all alive", false, false),
            ("scoped SRTT, 5 ms server dead", true, true),
            ("no memory, 5 ms server dead", false, true),
        ] {
            let result = run(memory, kill, 7).await;
            println!("{}", result.row(label));
        }
        println!(
            "\nA loaded authoritative: one process behind four addresses, 0.1 ms away, 0.4 ms \
             of work per query;\n{LOADED_NAMES} names × {LOADED_SUBNETS} client /24s, \
             {LOADED_IN_FLIGHT} in flight (virtual time)\n"
        );
        println!(
            "| {:<36} | {:>9} | {:>7} | {:>5} | {:>8} | {:>8} | {:>9} | {:>6} |",
            "run", "per miss", "retries", "late", "timeouts", "SERVFAIL", "max wait", "took"
        );
        println!(
            "|{:-<38}|{:->11}|{:->9}|{:->7}|{:->10}|{:->10}|{:->11}|{:->8}|",
            "", "", "", "", "", "", "", ""
        );
        let defaults = InfraConfig::default();
        let no_limit = InfraConfig {
            max_in_flight: u32::MAX,
            ..InfraConfig::default()
        };
        let no_budget = InfraConfig {
            retry_share: 1.0,
            retry_floor: u32::MAX,
            ..no_limit.clone()
        };
        for (label, infra) in [
            ("scoped, defaults", defaults),
            ("no in-flight limit", no_limit),
            ("no in-flight limit, no retry budget", no_budget),
        ] {
            println!("{}", loaded_run(infra).await.row(label));
        }
    });
}

const LOADED_NAMES: usize = 100;
const LOADED_SUBNETS: usize = 50;
const LOADED_IN_FLIGHT: usize = 1000;

struct Loaded {
    misses: usize,
    upstream: usize,
    retries: u64,
    late: u64,
    timeouts: u64,
    servfail: usize,
    max_wait: Duration,
    took: Duration,
}

impl Loaded {
    fn row(&self, label: &str) -> String {
        format!(
            "| {label:<36} | {:>9.3} | {:>7} | {:>5} | {:>8} | {:>8} | {:>6} ms | {:>4.2} s |",
            self.upstream as f64 / self.misses as f64,
            self.retries,
            self.late,
            self.timeouts,
            self.servfail,
            self.max_wait.as_millis(),
            self.took.as_secs_f64()
        )
    }
}

/// The burst of misses at the loaded process, after a warm-up that measured it idle.
async fn loaded_run(infra: InfraConfig) -> Loaded {
    let (internet, queue) =
        one_loaded_process(Duration::from_micros(100), Duration::from_micros(400));
    let config = RecursorConfig {
        selection_seed: Some(7),
        ecs_allowlist: Allowlist::parse("multi.test.").expect("a valid allowlist"),
        infra,
        ..internet.recursor_config()
    };
    let recursor = Recursor::new(
        config,
        RecordCache::new(CacheConfig::default()),
        internet.transport(),
    );
    for i in 0..WARM_UP {
        resolve(&recursor, &format!("warm{i}.multi.test.")).await;
    }
    let stat =
        |counter: fn(&EngineStats) -> &AtomicU64| counter(recursor.stats()).load(Ordering::Relaxed);
    let before = [
        stat(|s| &s.retries),
        stat(|s| &s.late_replies),
        stat(|s| &s.upstream_failures),
    ];
    internet.clear_query_log();
    queue.reset_stats();
    let start = Instant::now();
    let questions = (0..LOADED_NAMES).flat_map(|n| (0..LOADED_SUBNETS).map(move |s| (n, s)));
    let recursor_ref = &recursor;
    let rcodes: Vec<ResponseCode> = futures::stream::iter(questions)
        .map(|(n, s)| async move {
            let subnet: IpNet = format!("10.{}.{}.0/24", s / 256, s % 256)
                .parse()
                .expect("a subnet");
            let request = ResolveRequest {
                question: Question::new(name(&format!("n{n}.multi.test.")), RecordType::A),
                client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                client_subnet: Some(subnet),
                checking_disabled: false,
            };
            recursor_ref.resolve_request(request).await.rcode
        })
        .buffer_unordered(LOADED_IN_FLIGHT)
        .collect()
        .await;
    let took = start.elapsed();
    Loaded {
        misses: rcodes.len(),
        upstream: shares(&internet).iter().sum(),
        retries: stat(|s| &s.retries) - before[0],
        late: stat(|s| &s.late_replies) - before[1],
        timeouts: stat(|s| &s.upstream_failures) - before[2],
        servfail: rcodes
            .iter()
            .filter(|r| **r == ResponseCode::ServFail)
            .count(),
        max_wait: queue.max_wait(),
        took,
    }
}
