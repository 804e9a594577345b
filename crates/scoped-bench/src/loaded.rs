//! The loaded-authoritative scenario (issue #20): ECS misses against one slow process behind
//! four addresses, counting SERVFAILs, upstream queries per miss and scoped's retries.

// The harness's helpers (warm, the lab's names, daemons, the report) live in main.rs.
use super::*;

/// Names of the loaded scenario (issue #20: 100 names × 1,000 client /24s).
pub(crate) const LOADED_NAMES: usize = 100;
/// Client /24s per name: 1,000, or 50 under `--quick`.
pub(crate) const LOADED_SUBNETS: usize = 1_000;
pub(crate) const LOADED_SUBNETS_QUICK: usize = 50;
/// Queries in flight from the client.
pub(crate) const LOADED_WINDOW: usize = 200;
/// The loaded server's time per query: with ~200 queries queued, replies take ~50 ms.
pub(crate) const LOADED_SERVICE: Duration = Duration::from_micros(250);
/// Where the loaded scenario's client subnets start (clear of the other scenarios').
pub(crate) const LOADED_SUBNET_BASE: usize = 1 << 20;

/// `names` × `subnets` ECS misses under `loaded.lab.`, names varying fastest.
pub(crate) fn loaded_queries(names: usize, subnets: usize) -> Vec<Vec<u8>> {
    let mut queries = Vec::with_capacity(names * subnets);
    for k in 0..subnets {
        for i in 0..names {
            let subnet = client_subnet(LOADED_SUBNET_BASE + i * subnets + k);
            queries.push(wire::query(
                &loaded_name(i),
                wire::TYPE_A,
                true,
                Some((subnet, 24)),
            ));
        }
    }
    queries
}

/// scoped's counters from its control endpoint (`scoped ctl stats`): every integer in the
/// JSON, by key (nested objects flattened; the first occurrence of a key wins).
pub(crate) fn scoped_counters(scoped: &Path) -> Option<std::collections::BTreeMap<String, u64>> {
    fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeMap<String, u64>) {
        if let Some(o) = v.as_object() {
            for (k, v) in o {
                if let Some(n) = v.as_u64() {
                    out.entry(k.clone()).or_insert(n);
                } else {
                    walk(v, out);
                }
            }
        }
    }
    let output = Command::new(scoped)
        .args(["ctl", "--control"])
        .arg(format!("{}:9953", world::SCOPED))
        .arg("stats")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let mut out = std::collections::BTreeMap::new();
    walk(&json, &mut out);
    Some(out)
}

/// Issue #20: a burst of ECS misses against one slow process behind four addresses.
pub(crate) fn loaded_fill(
    r: &Daemon,
    internet: &Internet,
    queue: &ServiceQueue,
    scoped_bin: &Path,
    queries: &[Vec<u8>],
) -> anyhow::Result<Loaded> {
    // The zone's delegation and servers known first: the misses are names under a known zone.
    warm(
        r.addr,
        vec![wire::query(
            &loaded_name(SPARE_NAME),
            wire::TYPE_A,
            true,
            Some((client_subnet(LOADED_SUBNET_BASE - 1), 24)),
        )],
        "the loaded zone",
    )?;
    std::thread::sleep(Duration::from_millis(500));
    let counters_before = (r.name == "scoped")
        .then(|| scoped_counters(scoped_bin))
        .flatten();
    internet.clear_query_log();
    queue.reset_stats();
    let load = Load {
        target: r.addr,
        queries: queries.to_vec(),
        pace: Pace::Closed {
            window: LOADED_WINDOW,
        },
        duration: Duration::from_secs(600),
        max_queries: queries.len() as u64,
        // Long enough that a resolver's own give-up arrives as SERVFAIL rather than as a loss.
        timeout: Duration::from_secs(10),
    };
    let (outcome, cpu) = measure_load(r, &load)?;
    // Tries still open when the last answer came are part of the fill's cost.
    std::thread::sleep(Duration::from_secs(1));
    let log = internet.query_log();
    let loaded: Vec<IpAddr> = world::LOADED.iter().map(|ip| IpAddr::V4(*ip)).collect();
    let to_loaded = log
        .iter()
        .filter(|e| loaded.contains(&e.server.ip()))
        .collect::<Vec<_>>();
    let upstream_full = to_loaded
        .iter()
        .filter(|e| {
            let q = e.qname.to_ascii().to_ascii_lowercase();
            q.starts_with('n') && q.ends_with(".loaded.lab.") && q.matches('.').count() == 3
        })
        .count() as u64;
    let mut counters = std::collections::BTreeMap::new();
    if let (Some(before), Some(after)) = (
        counters_before,
        (r.name == "scoped")
            .then(|| scoped_counters(scoped_bin))
            .flatten(),
    ) {
        for key in [
            "upstream_queries",
            "retries",
            "late_replies",
            "retry_budget_exhausted",
            "soft_timeouts",
        ] {
            if let (Some(b), Some(a)) = (before.get(key), after.get(key)) {
                counters.insert(key.to_owned(), a.saturating_sub(*b));
            }
        }
    }
    internet.clear_query_log();
    Ok(Loaded {
        target: r.name.clone(),
        misses: outcome.sent,
        answered: outcome.answered_with_data,
        servfail: outcome.servfail,
        other_errors: outcome.answered - outcome.answered_with_data - outcome.servfail,
        lost: outcome.lost,
        upstream_full,
        upstream_all: to_loaded.len() as u64,
        cpu_seconds: cpu,
        seconds: outcome.elapsed.as_secs_f64(),
        p50_us: f64::from(outcome.quantile_us(0.5)),
        p99_us: f64::from(outcome.quantile_us(0.99)),
        server_max_wait_us: queue.max_wait().as_secs_f64() * 1e6,
        counters,
    })
}
