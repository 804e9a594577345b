//! Server selection over a 100-name workload: four nameservers 5, 20, 50 and 100 ms away
//! (`scoped_testkit::multi`), on tokio's paused clock, so the latencies below are exactly the
//! simulated network time each resolution spent — what selection controls — and every run
//! prints the same numbers for the same seed.
//!
//! `cargo bench -p scoped-recursor --bench selection`
//!
//! Compared: scoped's SRTT selection, and the same engine without memory (a fresh engine per
//! name: every server unknown, so the first pick is random — what a resolver without SRTT does).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_recursor::{Question, Recursor, RecursorConfig, ResolveRequest};
use scoped_testkit::multi::{MULTI_SERVERS, four_nameservers};
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
    });
}
