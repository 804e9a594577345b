//! Gentle on a loaded authoritative (issue #20, part 1), end to end on virtual time: a late
//! reply still counts, a slow server is not a dead one, retries stay within their budget, and a
//! server with many unanswered queries is not piled on. A dead server still costs a bounded
//! wait.
//!
//! The authoritative under load is `scoped_testkit::multi::one_loaded_process`: the four
//! nameservers of `multi.test.` are one process working through its queries one at a time, so
//! its latency grows with its queue, and asking "another server" adds to the same queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use scoped_ecs::Allowlist;
use scoped_recursor::infra::{InfraConfig, ServerState};
use scoped_recursor::{EngineStats, Recursor, RecursorConfig};
use scoped_testkit::engine::{ask, ask_from, config_for, recursor_with};
use scoped_testkit::multi::{MULTI_SERVERS, four_nameservers, one_loaded_process};
use scoped_testkit::{Internet, ServiceQueue};
use tokio::time::Instant;

const NAMES: usize = 100;
const SUBNETS: usize = 50;
/// Client questions in flight at once during a burst.
const CONCURRENCY: usize = 1000;

fn stat(recursor: &Recursor, counter: impl Fn(&EngineStats) -> &AtomicU64) -> u64 {
    counter(recursor.stats()).load(Ordering::Relaxed)
}

/// An engine sending ECS to `multi.test.`, with `infra` for its server selection.
fn engine(internet: &Internet, infra: InfraConfig) -> Recursor {
    let config = RecursorConfig {
        ecs_allowlist: Allowlist::parse("multi.test.").unwrap(),
        infra,
        ..config_for(internet)
    };
    recursor_with(internet, config)
}

/// Client subnet `i` (10.0.i.0/24 and up; the engine is handed the decided subnet directly).
fn subnet(i: usize) -> Option<IpNet> {
    Some(format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap())
}

/// The warm-up: the path to `multi.test.` cached and each of its addresses measured idle.
async fn warm_up(recursor: &Recursor) {
    for i in 0..20 {
        let res = ask(recursor, &format!("warm{i}.multi.test."), RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NoError);
    }
}

/// What a burst of `NAMES` × `SUBNETS` misses did.
#[derive(Debug)]
struct Burst {
    servfail: usize,
    /// Queries the loaded process received for the burst's names.
    upstream: usize,
    took: Duration,
}

/// `NAMES` × `SUBNETS` ECS misses, `CONCURRENCY` at a time.
async fn burst(recursor: &Recursor, internet: &Internet) -> Burst {
    internet.clear_query_log();
    let start = Instant::now();
    let questions = (0..NAMES).flat_map(|n| (0..SUBNETS).map(move |s| (n, s)));
    let rcodes: Vec<ResponseCode> = futures::stream::iter(questions)
        .map(|(n, s)| async move {
            ask_from(
                recursor,
                &format!("n{n}.multi.test."),
                RecordType::A,
                subnet(s),
            )
            .await
            .rcode
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let took = start.elapsed();
    let upstream = MULTI_SERVERS
        .iter()
        .flat_map(|addr| internet.queries_to(*addr))
        .filter(|q| q.qname.to_ascii().starts_with('n'))
        .count();
    Burst {
        servfail: rcodes
            .iter()
            .filter(|r| **r == ResponseCode::ServFail)
            .count(),
        upstream,
        took,
    }
}

/// Idle, the loaded process answers in 0.1 ms + 0.4 ms of work (an RTO at the 50 ms floor);
/// `CONCURRENCY` questions in flight would queue for 400 ms: far past the RTO it showed idle.
fn loaded() -> (Internet, ServiceQueue) {
    one_loaded_process(Duration::from_micros(100), Duration::from_micros(400))
}

/// What the engine counted since `before`.
fn counted(recursor: &Recursor, counter: impl Fn(&EngineStats) -> &AtomicU64, before: u64) -> u64 {
    stat(recursor, counter) - before
}

#[tokio::test(start_paused = true)]
async fn a_burst_on_a_loaded_authoritative_has_no_servfail_and_few_upstream_queries() {
    let (internet, queue) = loaded();
    let recursor = engine(&internet, InfraConfig::default());
    warm_up(&recursor).await;
    queue.reset_stats();
    let retries = stat(&recursor, |s| &s.retries);
    let failures = stat(&recursor, |s| &s.upstream_failures);
    let result = burst(&recursor, &internet).await;
    let retries = counted(&recursor, |s| &s.retries, retries);
    let failures = counted(&recursor, |s| &s.upstream_failures, failures);
    let misses = (NAMES * SUBNETS) as u64;
    println!(
        "defaults: {result:?}, retries {retries}, failures {failures}, late {}, max queue {} ({:?})",
        stat(&recursor, |s| &s.late_replies),
        queue.max_depth(),
        queue.max_wait(),
    );
    assert_eq!(result.servfail, 0, "{result:?}");
    assert!(
        result.upstream as u64 * 100 <= misses * 105,
        "{} upstream queries for {misses} misses",
        result.upstream
    );
    assert_eq!(failures, 0, "slow is not dead: no query went unanswered");
    assert!(
        stat(&recursor, |s| &s.late_replies) > 0,
        "the load made replies late, and they were taken"
    );
    // The process worked on little besides the misses: 5000 × 0.4 ms is 2 s of work.
    assert!(
        result.took <= Duration::from_millis(2200),
        "the burst took {:?}",
        result.took
    );
    // Slow, not dead: no address of the process is timing out or held off.
    for addr in MULTI_SERVERS {
        let state = recursor.infra().state(addr, Instant::now());
        assert_eq!(state, ServerState::Responsive, "{addr}");
    }
}

#[tokio::test(start_paused = true)]
async fn retries_stay_within_their_budget_under_load() {
    // No in-flight limit to speak of: only the budget keeps retries down.
    let (internet, queue) = loaded();
    let infra = InfraConfig {
        max_in_flight: 1_000_000,
        ..InfraConfig::default()
    };
    let floor = u64::from(infra.retry_floor);
    let recursor = engine(&internet, infra);
    warm_up(&recursor).await;
    queue.reset_stats();
    let before = stat(&recursor, |s| &s.retries);
    let result = burst(&recursor, &internet).await;
    let retries = counted(&recursor, |s| &s.retries, before);
    let misses = (NAMES * SUBNETS) as u64;
    println!(
        "budget only: {result:?}, retries {retries}, exhausted {}, max queue {} ({:?})",
        stat(&recursor, |s| &s.retry_budget_exhausted),
        queue.max_depth(),
        queue.max_wait(),
    );
    assert_eq!(result.servfail, 0, "{result:?}");
    // At most 10 % of first tries (one per miss), plus the floor per 10 s window.
    let windows = result.took.as_secs() / 10 + 2;
    assert!(
        retries <= misses / 10 + floor * windows,
        "{retries} retries for {misses} misses"
    );
    assert!(
        stat(&recursor, |s| &s.retry_budget_exhausted) > 0,
        "the budget was reached: questions waited on their open tries"
    );
    assert!(
        result.upstream as u64 <= misses * 11 / 10 + floor * windows,
        "{} upstream queries",
        result.upstream
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_with_many_unanswered_queries_is_not_piled_on() {
    let (internet, queue) = loaded();
    let limit = 16;
    let infra = InfraConfig {
        max_in_flight: limit,
        ..InfraConfig::default()
    };
    let recursor = engine(&internet, infra);
    warm_up(&recursor).await;
    queue.reset_stats();
    let result = burst(&recursor, &internet).await;
    println!(
        "limit {limit}: {result:?}, waits {}, max queue {} ({:?})",
        stat(&recursor, |s| &s.server_busy_waits),
        queue.max_depth(),
        queue.max_wait(),
    );
    assert_eq!(result.servfail, 0, "{result:?}");
    // Four addresses of one process, each with at most `limit` queries unanswered (a few more
    // may slip in between the check and the send).
    let most = 4 * limit as usize;
    assert!(
        queue.max_depth() <= most + most / 4,
        "{} queries queued at once",
        queue.max_depth()
    );
    assert!(
        stat(&recursor, |s| &s.server_busy_waits) > 0,
        "questions queued"
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_reply_after_the_soft_timeout_wins_over_a_slower_server() {
    let internet = four_nameservers([1, 30, 30, 30].map(Duration::from_millis));
    let recursor = engine(&internet, InfraConfig::default());
    warm_up(&recursor).await;
    let fastest = MULTI_SERVERS[0];
    // Now the fastest takes 120 ms: past its 50 ms RTO, well within its hard timeout. The
    // others take 200 ms.
    internet
        .expect_server(fastest)
        .set_delay(Duration::from_millis(120));
    for addr in &MULTI_SERVERS[1..] {
        internet
            .expect_server(*addr)
            .set_delay(Duration::from_millis(200));
    }
    internet.clear_query_log();
    let start = Instant::now();
    let res = ask(&recursor, "late.multi.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    let log = internet.query_log();
    assert_eq!(log[0].server.ip(), fastest, "asked first: {log:?}");
    assert!(
        log.len() >= 2,
        "the next server was asked at the soft timeout"
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(120),
        "the late reply of the first try is the answer"
    );
    assert_eq!(stat(&recursor, |s| &s.late_replies), 1);
    assert_eq!(stat(&recursor, |s| &s.upstream_failures), 0);
    // The late reply is a sample, not a timeout: the server is slower, not timing out.
    let now = Instant::now();
    assert_eq!(
        recursor.infra().state(fastest, now),
        ServerState::Responsive
    );
    assert!(recursor.infra().rto(fastest, now) > Duration::from_millis(120));
}

#[tokio::test(start_paused = true)]
async fn a_dead_server_still_fails_over_within_a_bounded_wait() {
    for (label, share, floor) in [("within the budget", 0.1, 10), ("no budget at all", 0.0, 0)] {
        let internet = four_nameservers([1, 30, 30, 30].map(Duration::from_millis));
        let infra = InfraConfig {
            retry_share: share,
            retry_floor: floor,
            ..InfraConfig::default()
        };
        let recursor = engine(&internet, infra);
        warm_up(&recursor).await;
        let dead = MULTI_SERVERS[0];
        let now = Instant::now();
        let (rto, hard) = (
            recursor.infra().rto(dead, now),
            recursor.infra().hard_timeout(dead, now),
        );
        assert_eq!(
            (rto, hard),
            (Duration::from_millis(50), Duration::from_millis(376))
        );
        internet.expect_server(dead).set_dead(true);
        internet.clear_query_log();
        let start = Instant::now();
        let res = ask(&recursor, "dead.multi.test.", RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NoError, "{label}");
        assert_eq!(internet.query_log()[0].server.ip(), dead, "{label}");
        // The next server answers 30 ms after it is asked: at the dead one's RTO when the
        // budget allows a retry, else at its hard timeout (then failing over is not a retry on
        // top of an open try, and is always allowed).
        let asked_next = if floor > 0 { rto } else { hard };
        assert_eq!(
            start.elapsed(),
            asked_next + Duration::from_millis(30),
            "{label}"
        );
        let exhausted = stat(&recursor, |s| &s.retry_budget_exhausted);
        assert_eq!(exhausted > 0, floor == 0, "{label}: {exhausted}");
        // Either way the dead server's try ran to its hard timeout, and counts as a timeout.
        tokio::time::sleep(hard).await;
        let state = recursor.infra().state(dead, Instant::now());
        assert_eq!(state, ServerState::TimingOut, "{label}");
    }
}
