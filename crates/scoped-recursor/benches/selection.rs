//! Server selection over a 100-name workload: four nameservers 5, 20, 50 and 100 ms away
//! (`scoped_testkit::multi`), on tokio's paused clock, so the latencies below are exactly the
//! simulated network time each resolution spent — what selection controls — and every run
//! prints the same numbers for the same seed.
//!
//! `cargo bench -p scoped-recursor --bench selection`
//!
//! Compared: scoped's SRTT selection, and the same engine without memory (a fresh engine per
//! name: every server unknown, so the first pick is random — what a resolver without SRTT does).
//! The shares are of the client's first tries (background measurements are not first tries);
//! "to dead" counts every query the dead server received, background measurements included,
//! and "waited" the client questions whose first try went to it.
//!
//! Then the lab scenario of issue 14, from a cold start, for several seeds: [`LAB_NAMES`] fresh
//! names, the 5 ms server killed, [`LAB_NAMES`] more. Printed: the share of the client's first
//! tries that went to the fastest while it lived, the client questions whose first try went to
//! the dead server, the worst and mean wait after the kill, and the queries the 50 and 100 ms
//! servers received (the measurements that keep them known).
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
        dnssec_ok: false,
    };
    let start = Instant::now();
    recursor.resolve_request(request).await;
    start.elapsed()
}

struct Run {
    /// The client's first tries per server.
    shares: [usize; 4],
    latencies: Vec<Duration>,
    /// Every query the dead server received: client tries and background measurements.
    dead_queries: usize,
    /// Client questions whose first try went to the dead server.
    waited: usize,
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
            "| {label:<34} | {:>6} | {:>6} | {:>6} | {:>6} | {:>7.1} | {:>5} | {:>5} | {:>7} | {:>6} |",
            shares[0],
            shares[1],
            shares[2],
            shares[3],
            mean.as_secs_f64() * 1000.0,
            pct(0.5).as_millis(),
            pct(0.99).as_millis(),
            self.dead_queries,
            self.waited
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
    let mut first_tries = [0; 4];
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
        if let Some(k) = first_try(&internet, &qname)
            .and_then(|addr| MULTI_SERVERS.iter().position(|s| *s == addr))
        {
            first_tries[k] += 1;
        }
    }
    let dead_queries = internet.queries_to(MULTI_SERVERS[0]).len() * usize::from(kill_fastest);
    let waited = first_tries[0] * usize::from(kill_fastest);
    Run {
        shares: first_tries,
        latencies,
        dead_queries,
        waited,
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
            "| {:<34} | {:>6} | {:>6} | {:>6} | {:>6} | {:>7} | {:>5} | {:>5} | {:>7} | {:>6} |",
            "run", "5 ms", "20 ms", "50 ms", "100 ms", "mean ms", "p50", "p99", "to dead", "waited"
        );
        println!(
            "|{:-<36}|{:->8}|{:->8}|{:->8}|{:->8}|{:->9}|{:->7}|{:->7}|{:->9}|{:->8}|",
            "", "", "", "", "", "", "", "", "", ""
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
        lab_table().await;
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

const LAB_NAMES: usize = 100;
const LAB_SEEDS: [u64; 6] = [7, 1, 2, 3, 4, 5];

/// What one lab run measured.
struct LabRun {
    to_fastest: usize,
    waited_on_dead: usize,
    worst: Duration,
    mean: Duration,
    to_slow: usize,
}

/// The server the client's first try for `qname` went to: the first query for that name the
/// zone's servers received.
fn first_try(internet: &Internet, qname: &str) -> Option<IpAddr> {
    let qname = name(qname);
    internet
        .query_log()
        .into_iter()
        .find(|q| q.qname == qname && MULTI_SERVERS.contains(&q.server.ip()))
        .map(|q| q.server.ip())
}

/// From a cold start: [`LAB_NAMES`] fresh names, the 5 ms server killed, as many again.
async fn lab_run(seed: u64) -> LabRun {
    let internet = internet();
    let recursor = recursor(&internet, seed);
    let mut to_fastest = 0;
    for i in 0..LAB_NAMES {
        let qname = format!("a{i}.multi.test.");
        resolve(&recursor, &qname).await;
        to_fastest += usize::from(first_try(&internet, &qname) == Some(MULTI_SERVERS[0]));
    }
    internet.expect_server(MULTI_SERVERS[0]).set_dead(true);
    let mut waited_on_dead = 0;
    let mut waits = Vec::with_capacity(LAB_NAMES);
    for i in 0..LAB_NAMES {
        let qname = format!("b{i}.multi.test.");
        waits.push(resolve(&recursor, &qname).await);
        waited_on_dead += usize::from(first_try(&internet, &qname) == Some(MULTI_SERVERS[0]));
    }
    let to_slow = MULTI_SERVERS[2..]
        .iter()
        .map(|addr| {
            internet
                .queries_to(*addr)
                .iter()
                .filter(|q| q.qname.to_ascii().starts_with(['a', 'b']))
                .count()
        })
        .sum();
    LabRun {
        to_fastest,
        waited_on_dead,
        worst: waits.iter().copied().max().unwrap_or_default(),
        mean: waits.iter().sum::<Duration>() / LAB_NAMES as u32,
        to_slow,
    }
}

async fn lab_table() {
    println!(
        "\nThe lab: from a cold start, {LAB_NAMES} fresh names, the 5 ms server killed, \
         {LAB_NAMES} more (virtual time)\n"
    );
    println!(
        "| {:>4} | {:>22} | {:>17} | {:>15} | {:>14} | {:>20} |",
        "seed",
        "first tries to fastest",
        "waited on dead",
        "worst after kill",
        "mean after kill",
        "queries to 50/100 ms"
    );
    println!(
        "|{:->6}|{:->24}|{:->19}|{:->17}|{:->16}|{:->22}|",
        "", "", "", "", "", ""
    );
    for seed in LAB_SEEDS {
        let run = lab_run(seed).await;
        println!(
            "| {seed:>4} | {:>21.1}% | {:>17} | {:>12} ms | {:>11.1} ms | {:>20} |",
            100.0 * run.to_fastest as f64 / LAB_NAMES as f64,
            run.waited_on_dead,
            run.worst.as_millis(),
            run.mean.as_secs_f64() * 1000.0,
            run.to_slow
        );
    }
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
                dnssec_ok: false,
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
