//! The acceptance tests at the decision level: a simulated engine loop over the table,
//! on a made-up clock, with a seeded RNG.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

const GAP: Duration = Duration::from_millis(100);

fn ip(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, n])
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn table(config: InfraConfig) -> InfraCache {
    InfraCache::new(config).expect("valid config")
}

fn no_explore() -> InfraConfig {
    InfraConfig {
        explore_share: 0.0,
        ..InfraConfig::default()
    }
}

fn entry(cache: &InfraCache, addr: IpAddr, now: Instant) -> InfraEntry {
    cache
        .snapshot(now)
        .into_iter()
        .find(|e| e.addr == addr)
        .expect("address in snapshot")
}

/// The simulated authoritatives: `Some(rtt)` answers, `None` drops every query.
struct Net {
    rtt: HashMap<IpAddr, Option<Duration>>,
    addrs: Vec<IpAddr>,
}

impl Net {
    fn new(servers: &[(IpAddr, Option<Duration>)]) -> Self {
        Self {
            rtt: servers.iter().copied().collect(),
            addrs: servers.iter().map(|(a, _)| *a).collect(),
        }
    }

    fn set(&mut self, addr: IpAddr, rtt: Option<Duration>) {
        self.rtt.insert(addr, rtt);
    }
}

/// What one simulated query did.
struct Query {
    first: IpAddr,
    timeouts: u32,
    answered_by: Option<IpAddr>,
    /// The servers measured in the background beside it.
    measured: Vec<(IpAddr, Measure)>,
}

/// The engine's loop: select once, send the background measurements (each answered after its
/// RTT, or a timeout at its hard timeout), try each server of the order with its RTO, record
/// each outcome.
fn query(cache: &InfraCache, net: &Net, now: Instant, rng: &mut StdRng) -> Query {
    let Selection { order, measure } = cache.select(&net.addrs, now, rng);
    assert_eq!(order.len(), net.addrs.len(), "order keeps every address");
    for &(addr, _) in &measure {
        let hard = cache.hard_timeout(addr, now);
        match net.rtt[&addr] {
            Some(rtt) if rtt < hard => cache.record_rtt(addr, rtt, now + rtt),
            _ => cache.record_timeout(addr, now + hard),
        }
    }
    let mut t = now;
    let mut timeouts = 0;
    let mut answered_by = None;
    for &addr in &order {
        let rto = cache.rto(addr, t);
        assert!(rto <= cache.config().max_rto && rto >= cache.config().min_rto);
        match net.rtt[&addr] {
            Some(rtt) if rtt < rto => {
                t += rtt;
                cache.record_rtt(addr, rtt, t);
                answered_by = Some(addr);
                break;
            }
            _ => {
                t += rto;
                cache.record_timeout(addr, t);
                timeouts += 1;
            }
        }
    }
    Query {
        first: order[0],
        timeouts,
        answered_by,
        measured: measure,
    }
}

/// Run `n` queries `GAP` apart from `*now`; count first picks per address.
fn run(
    cache: &InfraCache,
    net: &Net,
    now: &mut Instant,
    n: usize,
    rng: &mut StdRng,
) -> HashMap<IpAddr, usize> {
    run_counting(cache, net, now, n, rng).0
}

/// [`run`], also counting the background measurements per address.
fn run_counting(
    cache: &InfraCache,
    net: &Net,
    now: &mut Instant,
    n: usize,
    rng: &mut StdRng,
) -> (HashMap<IpAddr, usize>, HashMap<IpAddr, usize>) {
    let mut firsts = HashMap::new();
    let mut measured = HashMap::new();
    for _ in 0..n {
        let q = query(cache, net, *now, rng);
        *firsts.entry(q.first).or_insert(0) += 1;
        for (addr, _) in q.measured {
            *measured.entry(addr).or_insert(0) += 1;
        }
        *now += GAP;
    }
    (firsts, measured)
}

fn four_servers() -> Net {
    Net::new(&[
        (ip(1), Some(millis(5))),
        (ip(2), Some(millis(20))),
        (ip(3), Some(millis(50))),
        (ip(4), Some(millis(100))),
    ])
}

// --- RTT and RTO arithmetic (RFC 6298) -----------------------------------------------------

#[test]
fn default_config_is_valid() {
    assert_eq!(InfraConfig::default().validate(), Ok(()));
}

#[test]
fn unknown_server_gets_initial_rto() {
    let cache = InfraCache::default();
    let now = Instant::now();
    assert_eq!(cache.rto(ip(1), now), millis(376));
    assert_eq!(cache.state(ip(1), now), ServerState::Unknown);
    assert!(cache.is_empty(), "asking does not create a record");
}

#[test]
fn first_sample_sets_srtt_and_half_of_it_as_rttvar() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(100), now);
    let e = entry(&cache, ip(1), now);
    assert_eq!(e.srtt, Some(millis(100)));
    assert_eq!(e.rttvar, Some(millis(50)));
    assert_eq!(e.rto, millis(300), "SRTT + 4·RTTVAR");
    assert_eq!(e.state, ServerState::Responsive);
}

#[test]
fn later_samples_use_rfc6298_gains() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(100), now);
    cache.record_rtt(ip(1), millis(200), now);
    let e = entry(&cache, ip(1), now);
    // RTTVAR = 3/4·50 + 1/4·|100 − 200| = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5.
    assert_eq!(e.rttvar, Some(Duration::from_micros(62_500)));
    assert_eq!(e.srtt, Some(Duration::from_micros(112_500)));
    assert_eq!(e.rto, Duration::from_micros(362_500));
}

#[test]
fn rto_is_never_below_min_rto() {
    let cache = InfraCache::default();
    let now = Instant::now();
    for _ in 0..50 {
        cache.record_rtt(ip(1), millis(5), now);
    }
    assert_eq!(cache.rto(ip(1), now), millis(50));
}

#[test]
fn steady_server_rto_keeps_a_half_srtt_margin() {
    let cache = InfraCache::default();
    let now = Instant::now();
    for _ in 0..50 {
        cache.record_rtt(ip(1), millis(100), now);
    }
    assert!(entry(&cache, ip(1), now).rttvar < Some(millis(1)));
    assert_eq!(cache.rto(ip(1), now), millis(150));
}

#[test]
fn rto_is_never_above_max_rto() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(1500), now);
    assert_eq!(cache.rto(ip(1), now), millis(2000));
}

#[test]
fn timeouts_double_the_rto_up_to_max_rto() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(100), now);
    let mut seen = vec![cache.rto(ip(1), now)];
    for _ in 0..5 {
        cache.record_timeout(ip(1), now);
        seen.push(cache.rto(ip(1), now));
    }
    assert_eq!(
        seen,
        [300, 600, 1200, 2000, 2000, 2000].map(millis).to_vec()
    );
}

#[test]
fn unknown_server_timeouts_back_off_from_initial_rto() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_timeout(ip(1), now);
    assert_eq!(cache.rto(ip(1), now), millis(752));
    assert_eq!(cache.state(ip(1), now), ServerState::TimingOut);
}

#[test]
fn one_answer_wipes_timeouts_and_backoff() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(100), now);
    for _ in 0..5 {
        cache.record_timeout(ip(1), now);
    }
    assert_eq!(cache.state(ip(1), now), ServerState::HeldOff);
    cache.record_rtt(ip(1), millis(100), now);
    assert_eq!(cache.state(ip(1), now), ServerState::Responsive);
    // RTTVAR = 3/4·50 + 1/4·0 = 37.5, SRTT = 100: RTO 250 ms, no doubling left.
    assert_eq!(cache.rto(ip(1), now), millis(250));
    assert_eq!(entry(&cache, ip(1), now).consecutive_timeouts, 0);
}

// --- Selection ---------------------------------------------------------------------------

#[test]
fn fastest_takes_every_first_try_and_the_others_are_measured_in_the_background() {
    let cache = InfraCache::default();
    let net = four_servers();
    let (mut now, mut rng) = (Instant::now(), rng());
    // Warm-up: every server measured (the unmeasured ones in the background at once).
    run(&cache, &net, &mut now, 500, &mut rng);
    assert!(
        cache
            .snapshot(now)
            .iter()
            .all(|e| e.state == ServerState::Responsive)
    );
    let (firsts, measured) = run_counting(&cache, &net, &mut now, 10_000, &mut rng);
    assert_eq!(firsts.get(&ip(1)), Some(&10_000), "{firsts:?}");
    assert_eq!(measured.get(&ip(1)), None, "the best is measured by its own traffic");
    for n in 2..=4 {
        let probes = measured.get(&ip(n)).copied().unwrap_or(0);
        // 3 % of 10 000 queries over 1000 s, a third each, each at most once a second.
        assert!(
            (50..=150).contains(&probes),
            "server {n} measured {probes} times"
        );
    }
}

#[test]
fn without_exploration_the_fastest_is_always_first() {
    let cache = table(no_explore());
    let net = four_servers();
    let now = Instant::now();
    for (&addr, rtt) in &net.rtt {
        cache.record_rtt(addr, rtt.expect("alive"), now);
    }
    let (mut now, mut rng) = (now, rng());
    let firsts = run(&cache, &net, &mut now, 1_000, &mut rng);
    assert_eq!(firsts.get(&ip(1)), Some(&1_000));
}

#[test]
fn one_timeout_takes_the_fastest_out_of_first_place() {
    let cache = table(no_explore());
    let now = Instant::now();
    for (n, rtt) in [(1, 5), (2, 20), (3, 50), (4, 100)] {
        cache.record_rtt(ip(n), millis(rtt), now);
    }
    let addrs = [ip(4), ip(3), ip(2), ip(1)];
    assert_eq!(cache.order(&addrs, now, &mut rng())[0], ip(1));
    cache.record_timeout(ip(1), now);
    assert_eq!(
        cache.order(&addrs, now, &mut rng()),
        [ip(2), ip(3), ip(4), ip(1)],
        "answering servers by SRTT, then the one timing out"
    );
}

#[test]
fn dead_fastest_costs_one_timeout_then_traffic_moves_and_comes_back() {
    let config = InfraConfig::default();
    let cache = table(config.clone());
    let mut net = four_servers();
    let (mut now, mut rng) = (Instant::now(), rng());
    run(&cache, &net, &mut now, 1_000, &mut rng);

    // The fastest dies for 300 s.
    net.set(ip(1), None);
    let mut firsts: HashMap<IpAddr, usize> = HashMap::new();
    let mut timeouts = 0;
    for i in 0..3_000 {
        let q = query(&cache, &net, now, &mut rng);
        assert!(q.timeouts <= 1, "query {i} paid {} timeouts", q.timeouts);
        assert!(q.answered_by.is_some());
        if q.timeouts == 1 && timeouts == 0 {
            assert_eq!(cache.state(ip(1), now), ServerState::TimingOut, "query {i}");
        }
        *firsts.entry(q.first).or_insert(0) += 1;
        timeouts += q.timeouts;
        now += GAP;
    }
    assert!(
        firsts[&ip(2)] >= 2_999,
        "next best first {} of 3000",
        firsts[&ip(2)]
    );
    // The first query pays one timeout; the explorations before the hold-off and the probes
    // after it are in the background.
    assert_eq!(timeouts, 1, "client queries that waited on the dead server");
    assert_eq!(cache.state(ip(1), now), ServerState::HeldOff);

    // It recovers: the next probe gives its traffic back, within one hold-off of the last
    // timeout (which may have come up to max_rto after its query started).
    net.set(ip(1), Some(millis(5)));
    let back = now;
    loop {
        let q = query(&cache, &net, now, &mut rng);
        now += GAP;
        if q.answered_by == Some(ip(1)) {
            break;
        }
        let bound = back + config.hold_off + config.max_rto + GAP;
        assert!(now <= bound, "no probe within a hold-off");
    }
    let firsts = run(&cache, &net, &mut now, 1_000, &mut rng);
    assert!(
        firsts[&ip(1)] >= 930,
        "recovered fastest first {}",
        firsts[&ip(1)]
    );
}

#[test]
fn all_servers_dead_rtos_stay_bounded_and_all_are_still_tried() {
    let cache = InfraCache::default();
    let mut net = Net::new(&[(ip(1), None), (ip(2), None), (ip(3), None), (ip(4), None)]);
    let (mut now, mut rng) = (Instant::now(), rng());
    for _ in 0..20 {
        let q = query(&cache, &net, now, &mut rng);
        assert_eq!(
            q.timeouts, 4,
            "held-off servers are still tried when all are held off"
        );
        now += GAP;
    }
    for n in 1..=4 {
        assert_eq!(cache.state(ip(n), now), ServerState::HeldOff);
        assert_eq!(
            cache.rto(ip(n), now),
            millis(2000),
            "backoff capped at max_rto"
        );
    }
    // They come back: the first query is answered; the others are probed within a hold-off.
    for n in 1..=4 {
        net.set(ip(n), Some(millis(10 * u64::from(n))));
    }
    let q = query(&cache, &net, now, &mut rng);
    assert_eq!((q.timeouts, q.answered_by.is_some()), (0, true));
    // The last timeouts fell up to 4 × max_rto into the previous query.
    let restored_by = now + cache.config().hold_off + 4 * cache.config().max_rto + GAP;
    while now < restored_by {
        query(&cache, &net, now, &mut rng);
        now += GAP;
    }
    for n in 1..=4 {
        assert_eq!(
            cache.state(ip(n), now),
            ServerState::Responsive,
            "server {n}"
        );
    }
}

#[test]
fn held_off_server_is_probed_once_per_hold_off() {
    let cache = InfraCache::default();
    let net = Net::new(&[(ip(1), Some(millis(20))), (ip(2), None)]);
    let (mut now, mut rng) = (Instant::now(), rng());
    // Its first measurement and explorations (3 % of queries) time out: held off.
    for _ in 0..1_000 {
        query(&cache, &net, now, &mut rng);
        now += GAP;
    }
    assert_eq!(cache.state(ip(2), now), ServerState::HeldOff);
    // 120 s of queries: probes about every 30 s, all in the background.
    let mut probes = 0;
    for _ in 0..1_200 {
        let q = query(&cache, &net, now, &mut rng);
        assert_eq!((q.first, q.timeouts), (ip(1), 0), "no client waits on it");
        probes += q.measured.iter().filter(|m| **m == (ip(2), Measure::Probe)).count();
        now += GAP;
    }
    assert!((3..=5).contains(&probes), "{probes} probes in 120 s");
}

#[test]
fn a_due_probe_is_given_to_one_query_only() {
    let cache = table(no_explore());
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(20), now);
    cache.record_rtt(ip(2), millis(5), now);
    for _ in 0..3 {
        cache.record_timeout(ip(2), now);
    }
    let addrs = [ip(1), ip(2)];
    let due = now + cache.config().hold_off;
    let probe = vec![(ip(2), Measure::Probe)];
    let early = cache.select(&addrs, due - millis(1), &mut rng());
    assert_eq!((early.order[0], early.measure), (ip(1), vec![]));
    let probed = cache.select(&addrs, due, &mut rng());
    assert_eq!(
        (probed.order[0], probed.measure),
        (ip(1), probe.clone()),
        "the probe, in the background: the client's try still goes to the best"
    );
    assert_eq!(
        cache.select(&addrs, due, &mut rng()).measure,
        vec![],
        "one probe only"
    );
    let next = due + cache.config().hold_off;
    assert_eq!(
        cache.select(&addrs, next, &mut rng()).measure,
        probe,
        "next period"
    );
}

#[test]
fn one_names_timeouts_cannot_hold_off_a_zone_for_good() {
    // unbound#1074: one name's queries time out on every server of the zone.
    let cache = table(no_explore());
    let now = Instant::now();
    let addrs = [ip(1), ip(2)];
    cache.record_rtt(ip(1), millis(10), now);
    cache.record_rtt(ip(2), millis(30), now);
    for _ in 0..3 {
        cache.record_timeout(ip(1), now);
        cache.record_timeout(ip(2), now);
    }
    assert_eq!(cache.state(ip(1), now), ServerState::HeldOff);
    assert_eq!(cache.state(ip(2), now), ServerState::HeldOff);
    // Another name's query still gets both servers to try...
    let order = cache.order(&addrs, now, &mut rng());
    assert_eq!(order.len(), 2);
    // ...and the first answer restores that server at once.
    cache.record_rtt(order[0], millis(10), now);
    assert_eq!(cache.state(order[0], now), ServerState::Responsive);
    assert_eq!(cache.order(&addrs, now, &mut rng())[0], order[0]);
}

#[test]
fn held_off_servers_are_never_explored() {
    let cache = table(InfraConfig {
        explore_share: 0.5,
        ..InfraConfig::default()
    });
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(20), now);
    for _ in 0..3 {
        cache.record_timeout(ip(2), now);
    }
    let mut rng = rng();
    for _ in 0..1_000 {
        assert_eq!(cache.order(&[ip(1), ip(2)], now, &mut rng)[0], ip(1));
    }
}

#[test]
fn servers_timing_out_are_still_explored() {
    let cache = table(InfraConfig {
        explore_share: 0.5,
        ..InfraConfig::default()
    });
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(20), now);
    cache.record_rtt(ip(2), millis(5), now);
    cache.record_timeout(ip(2), now);
    let mut rng = rng();
    let mut explored = 0;
    for k in 1..=1_000 {
        // One selection per explore_interval: each may explore.
        let at = now + cache.config().explore_interval * k;
        cache.record_rtt(ip(1), millis(20), at);
        let selection = cache.select(&[ip(1), ip(2)], at, &mut rng);
        assert_eq!(selection.order[0], ip(1), "explored in the background only");
        if selection.measure == [(ip(2), Measure::Explore)] {
            explored += 1;
        }
    }
    assert!(
        (400..=600).contains(&explored),
        "explored {explored} of 1000"
    );
}

// --- Unknown servers -----------------------------------------------------------------------

#[test]
fn unknown_server_head_start_is_one_query_per_initial_rto() {
    let cache = table(no_explore());
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(200), now);
    cache.record_rtt(ip(2), millis(300), now);
    let addrs = [ip(1), ip(2), ip(3)];
    let mut rng = rng();
    let burst = |at: Instant, rng: &mut StdRng| {
        (0..100)
            .filter(|_| {
                let selection = cache.select(&addrs, at, rng);
                assert_eq!(selection.order[0], ip(1), "the client goes to the best measured");
                selection.measure == [(ip(3), Measure::Unmeasured)]
            })
            .count()
    };
    assert_eq!(
        burst(now, &mut rng),
        1,
        "one head start while its answer is out"
    );
    assert_eq!(cache.order(&addrs, now, &mut rng)[0], ip(1));
    let later = now + cache.config().initial_rto;
    assert_eq!(
        burst(later, &mut rng),
        1,
        "unanswered: the head start is given again"
    );
}

#[test]
fn unknown_server_is_measured_in_the_background_not_on_the_client_path() {
    let cache = table(no_explore());
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(5), now);
    cache.record_rtt(ip(2), millis(20), now);
    let selection = cache.select(&[ip(1), ip(2), ip(3)], now, &mut rng());
    assert_eq!(
        (selection.order[0], selection.measure),
        (ip(1), vec![(ip(3), Measure::Unmeasured)]),
        "measured early, beside the client's try to the fastest"
    );
    // Its head start is taken: until it answers or its initial RTO passes, it is not measured
    // again.
    let selection = cache.select(&[ip(1), ip(2), ip(3)], now, &mut rng());
    assert_eq!((selection.order[0], selection.measure), (ip(1), vec![]));
    cache.record_rtt(ip(3), millis(80), now + millis(80));
    let later = now + millis(100);
    assert_eq!(
        cache.order(&[ip(1), ip(2), ip(3)], later, &mut rng()),
        [ip(1), ip(2), ip(3)]
    );
}

#[test]
fn with_nothing_measured_one_unknown_takes_the_client_try_and_the_others_are_measured() {
    let cache = table(no_explore());
    let now = Instant::now();
    let addrs = [ip(1), ip(2), ip(3), ip(4), ip(5)];
    let selection = cache.select(&addrs, now, &mut rng());
    let first = selection.order[0];
    assert_eq!(cache.select(&addrs, now, &mut rng()).order.len(), 5);
    let measured: Vec<IpAddr> = selection.measure.iter().map(|(a, _)| *a).collect();
    assert_eq!(measured.len(), 3, "at most three at once: {measured:?}");
    assert!(!measured.contains(&first), "{first} is the client's try");
    assert!(
        selection.measure.iter().all(|(_, why)| *why == Measure::Unmeasured),
        "{selection:?}"
    );
}

#[test]
fn unknown_server_ranks_at_a_configured_unknown_rtt() {
    let cache = table(InfraConfig {
        unknown_rtt: millis(50),
        ..no_explore()
    });
    let now = Instant::now();
    cache.record_rtt(ip(1), millis(20), now);
    cache.record_rtt(ip(2), millis(80), now);
    assert_eq!(
        cache.order(&[ip(2), ip(3), ip(1)], now, &mut rng()),
        [ip(1), ip(3), ip(2)],
        "unknown (50 ms) between 20 ms and 80 ms"
    );
}

#[test]
fn unmeasured_servers_are_measured_before_any_exploration() {
    let cache = table(InfraConfig {
        explore_share: 0.5,
        unknown_rtt: millis(50),
        ..InfraConfig::default()
    });
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(5), t0);
    cache.record_rtt(ip(2), millis(20), t0);
    let mut rng = rng();
    let mut firsts: HashMap<IpAddr, usize> = HashMap::new();
    // No answer is ever recorded for ip(3): it stays unmeasured, its head start renewed each
    // initial_rto. ip(2) is measured more than explore_interval ago at every step.
    for k in 0..200 {
        let now = t0 + cache.config().explore_interval * k;
        cache.record_rtt(ip(1), millis(5), now);
        let selection = cache.select(&[ip(1), ip(2), ip(3)], now, &mut rng);
        *firsts.entry(selection.order[0]).or_insert(0) += 1;
        assert_eq!(
            selection.measure,
            [(ip(3), Measure::Unmeasured)],
            "step {k}: the unmeasured server, every time its head start is free; no exploration \
             beside it"
        );
    }
    assert_eq!(firsts.get(&ip(1)), Some(&200), "{firsts:?}");
}

#[test]
fn dead_new_server_cannot_capture_first_picks() {
    // pdns#1066: a new address must not take every query.
    let cache = InfraCache::default();
    let mut net = Net::new(&[
        (ip(1), Some(millis(100))),
        (ip(2), Some(millis(150))),
        (ip(3), Some(millis(200))),
    ]);
    let (mut now, mut rng) = (Instant::now(), rng());
    run(&cache, &net, &mut now, 200, &mut rng);
    net.rtt.insert(ip(9), None);
    net.addrs.push(ip(9));
    let (firsts, measured) = run_counting(&cache, &net, &mut now, 3_000, &mut rng);
    assert_eq!(firsts.get(&ip(1)), Some(&3_000), "{firsts:?}");
    // Measured in the background: its head start, explorations until held off, then one
    // probe per hold-off (300 s: 10).
    let probes = measured.get(&ip(9)).copied().unwrap_or(0);
    assert!((1..=20).contains(&probes), "new dead server measured {probes} times");
    assert_eq!(cache.state(ip(9), now), ServerState::HeldOff);
}

#[test]
fn slow_new_server_gets_its_head_start_then_its_place() {
    let cache = InfraCache::default();
    let mut net = Net::new(&[(ip(1), Some(millis(100))), (ip(2), Some(millis(200)))]);
    let (mut now, mut rng) = (Instant::now(), rng());
    run(&cache, &net, &mut now, 200, &mut rng);
    net.rtt.insert(ip(9), Some(millis(150)));
    net.addrs.push(ip(9));
    // 50 ms expected beats 100 ms known: tried by the next query (or the one after, should
    // that one explore).
    for _ in 0..3 {
        query(&cache, &net, now, &mut rng);
        now += GAP;
        if cache.state(ip(9), now) != ServerState::Unknown {
            break;
        }
    }
    assert_eq!(cache.state(ip(9), now), ServerState::Responsive);
    assert_eq!(entry(&cache, ip(9), now).srtt, Some(millis(150)));
    let firsts = run(&cache, &net, &mut now, 1_000, &mut rng);
    let new = firsts.get(&ip(9)).copied().unwrap_or(0);
    assert!(new <= 50, "measured at 150 ms, still first {new} of 1000");
    assert!(firsts[&ip(1)] >= 940);
}

#[test]
fn fast_new_server_takes_over() {
    let cache = InfraCache::default();
    let mut net = Net::new(&[(ip(1), Some(millis(100))), (ip(2), Some(millis(200)))]);
    let (mut now, mut rng) = (Instant::now(), rng());
    run(&cache, &net, &mut now, 200, &mut rng);
    net.rtt.insert(ip(9), Some(millis(10)));
    net.addrs.push(ip(9));
    let firsts = run(&cache, &net, &mut now, 1_000, &mut rng);
    assert!(
        firsts[&ip(9)] >= 930,
        "new fast server first {}",
        firsts[&ip(9)]
    );
}

// --- Forgetting ----------------------------------------------------------------------------

#[test]
fn idle_records_expire_to_unknown() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(100), t0);
    let expiry = t0 + cache.config().idle_expiry;
    assert_eq!(
        cache.state(ip(1), expiry - millis(1)),
        ServerState::Responsive
    );
    assert_eq!(cache.rto(ip(1), expiry - millis(1)), millis(300));
    assert_eq!(cache.state(ip(1), expiry), ServerState::Unknown);
    assert_eq!(cache.rto(ip(1), expiry), millis(376));
    assert!(cache.snapshot(expiry).is_empty());
}

#[test]
fn held_off_server_forgotten_after_idle_expiry_starts_afresh() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    for _ in 0..5 {
        cache.record_timeout(ip(1), t0);
    }
    let later = t0 + cache.config().idle_expiry;
    assert_eq!(cache.state(ip(1), later), ServerState::Unknown);
    cache.record_rtt(ip(1), millis(40), later);
    let e = entry(&cache, ip(1), later);
    assert_eq!(
        (e.queries, e.timeouts, e.state),
        (1, 0, ServerState::Responsive)
    );
}

#[test]
fn slow_srtt_decays_toward_decay_target() {
    let cache = table(no_explore());
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(500), t0);
    let addrs = [ip(1), ip(2)];
    // ip(2) is measured at 100 ms all along; ip(1) only once, at t0.
    let at = |minutes: u64| {
        let t = t0 + Duration::from_secs(60 * minutes);
        cache.record_rtt(ip(2), millis(100), t);
        cache.order(&addrs, t, &mut rng())[0]
    };
    // Half-life 225 s: 500 ms decays to 121 ms after 10 min, to 99 ms after 12 min.
    assert_eq!(at(10), ip(2));
    assert_eq!(at(12), ip(1), "the server slow once is retried");
}

#[test]
fn fast_srtt_does_not_decay_upwards() {
    let cache = table(no_explore());
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(5), t0);
    let t = t0 + Duration::from_secs(14 * 60);
    cache.record_rtt(ip(2), millis(20), t);
    assert_eq!(cache.order(&[ip(2), ip(1)], t, &mut rng())[0], ip(1));
}

// --- Memory bound --------------------------------------------------------------------------

#[test]
fn table_is_bounded_at_max_entries_evicting_least_recently_used() {
    let cache = table(InfraConfig {
        max_entries: 3,
        ..InfraConfig::default()
    });
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(10), t0);
    cache.record_rtt(ip(2), millis(10), t0 + millis(1));
    cache.record_rtt(ip(3), millis(10), t0 + millis(2));
    cache.record_rtt(ip(1), millis(10), t0 + millis(3));
    cache.record_rtt(ip(4), millis(10), t0 + millis(4));
    let kept: Vec<IpAddr> = cache
        .snapshot(t0 + millis(5))
        .iter()
        .map(|e| e.addr)
        .collect();
    assert_eq!(
        kept,
        [ip(1), ip(3), ip(4)],
        "ip(2) was the least recently used"
    );
}

#[test]
fn sharded_table_is_bounded_at_max_entries() {
    let cache = table(InfraConfig {
        max_entries: 4_096,
        ..InfraConfig::default()
    });
    let now = Instant::now();
    for i in 0..20_000u32 {
        cache.record_timeout(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), now);
        cache.order(
            &[IpAddr::from((0x0b00_0000 + i).to_be_bytes())],
            now,
            &mut rng(),
        );
    }
    let len = cache.len();
    assert!((4_000..=4_096).contains(&len), "{len} records");
}

// --- Capability memory ---------------------------------------------------------------------

#[test]
fn edns_breakage_is_remembered_until_capability_ttl() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    assert!(!cache.edns_broken(ip(1), t0));
    cache.record_edns_broken(ip(1), t0);
    let ttl = cache.config().capability_ttl;
    assert!(cache.edns_broken(ip(1), t0 + ttl - millis(1)));
    // Keep the record alive past the capability TTL.
    cache.record_rtt(ip(1), millis(10), t0 + ttl - millis(1));
    assert!(!cache.edns_broken(ip(1), t0 + ttl));
}

#[test]
fn edns_reply_clears_breakage() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_edns_broken(ip(1), now);
    cache.record_edns_works(ip(1), now);
    assert!(!cache.edns_broken(ip(1), now));
}

#[test]
fn ecs_echo_is_not_overwritten_by_one_missing_echo() {
    // E12: an ECS-less reply from a server that echoes is suspect, not a new habit.
    let cache = InfraCache::default();
    let now = Instant::now();
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::Unknown);
    cache.record_ecs(ip(1), EcsCapability::Echoes, now);
    cache.record_ecs(ip(1), EcsCapability::NoEcho, now);
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::Echoes);
}

#[test]
fn ecs_no_echo_then_echo_becomes_echoes() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_ecs(ip(1), EcsCapability::NoEcho, now);
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::NoEcho);
    cache.record_ecs(ip(1), EcsCapability::Echoes, now);
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::Echoes);
}

#[test]
fn ecs_rejection_expires_after_capability_ttl() {
    // E13: not ECS-capable "for a while".
    let cache = InfraCache::default();
    let t0 = Instant::now();
    cache.record_ecs(ip(1), EcsCapability::Rejects, t0);
    let ttl = cache.config().capability_ttl;
    assert_eq!(
        cache.ecs_capability(ip(1), t0 + ttl - millis(1)),
        EcsCapability::Rejects
    );
    cache.record_rtt(ip(1), millis(10), t0 + ttl - millis(1));
    assert_eq!(
        cache.ecs_capability(ip(1), t0 + ttl),
        EcsCapability::Unknown
    );
}

#[test]
fn capability_memory_is_per_address() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_ecs(ip(1), EcsCapability::Rejects, now);
    cache.record_edns_broken(ip(1), now);
    assert_eq!(cache.ecs_capability(ip(2), now), EcsCapability::Unknown);
    assert!(!cache.edns_broken(ip(2), now));
}

// --- Snapshot, keys, config ----------------------------------------------------------------

#[test]
fn snapshot_reports_counters_state_and_age() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(10), t0);
    cache.record_rtt(ip(1), millis(10), t0);
    cache.record_timeout(ip(1), t0);
    cache.record_ecs(ip(1), EcsCapability::Echoes, t0);
    let e = entry(&cache, ip(1), t0 + Duration::from_secs(5));
    assert_eq!(e.queries, 3);
    assert_eq!(e.timeouts, 1);
    assert_eq!(e.consecutive_timeouts, 1);
    assert_eq!(e.state, ServerState::TimingOut);
    assert_eq!(e.rto, millis(100), "50 ms floor, doubled once");
    assert_eq!(e.last_used, Duration::from_secs(5));
    assert_eq!(e.ecs, EcsCapability::Echoes);
    assert!(!e.edns_broken);
    assert_eq!(e.state.to_string(), "timing-out");
}

#[test]
fn order_returns_each_address_once() {
    let cache = InfraCache::default();
    let mut order = cache.order(
        &[ip(1), ip(2), ip(1), ip(3), ip(2)],
        Instant::now(),
        &mut rng(),
    );
    order.sort();
    assert_eq!(order, [ip(1), ip(2), ip(3)]);
    assert!(cache.order(&[], Instant::now(), &mut rng()).is_empty());
}

#[test]
fn ipv4_mapped_address_shares_the_ipv4_record() {
    let cache = InfraCache::default();
    let now = Instant::now();
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("address");
    cache.record_rtt(mapped, millis(100), now);
    assert_eq!(cache.rto(ip(1), now), millis(300));
    assert_eq!(cache.snapshot(now)[0].addr, ip(1));
}

#[test]
fn config_validation_names_what_is_wrong() {
    let base = InfraConfig::default();
    let bad_rto = InfraConfig {
        min_rto: millis(500),
        ..base.clone()
    };
    assert!(matches!(
        InfraCache::new(bad_rto),
        Err(InfraConfigError::RtoBounds { .. })
    ));
    let zero_min = InfraConfig {
        min_rto: Duration::ZERO,
        ..base.clone()
    };
    assert!(matches!(
        zero_min.validate(),
        Err(InfraConfigError::RtoBounds { .. })
    ));
    let share = InfraConfig {
        explore_share: 0.6,
        ..base.clone()
    };
    assert_eq!(share.validate(), Err(InfraConfigError::ExploreShare(0.6)));
    let entries = InfraConfig {
        max_entries: 0,
        ..base.clone()
    };
    assert_eq!(entries.validate(), Err(InfraConfigError::NoEntries));
    let threshold = InfraConfig {
        hold_off_after_timeouts: 0,
        ..base.clone()
    };
    assert_eq!(
        threshold.validate(),
        Err(InfraConfigError::NoHoldOffThreshold)
    );
    let expiry = InfraConfig {
        idle_expiry: Duration::ZERO,
        ..base
    };
    assert_eq!(expiry.validate(), Err(InfraConfigError::NoIdleExpiry));
}

#[test]
fn infra_cache_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<InfraCache>();
}

// --- Slow is not dead: overdue queries, late replies, the hard timeout ------------------------

/// A server measured fast and steady: SRTT 1 ms, RTO at the 50 ms floor.
fn idle_fast(cache: &InfraCache, addr: IpAddr, now: Instant) {
    for _ in 0..20 {
        cache.record_rtt(addr, millis(1), now);
    }
    assert_eq!(cache.rto(addr, now), millis(50));
}

#[test]
fn an_overdue_query_is_not_a_timeout_but_raises_the_rto_with_the_delay_shown() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    idle_fast(&cache, ip(1), t0);
    cache.begin_query(ip(1), t0);
    cache.record_overdue(ip(1), t0, t0 + millis(50));
    let at = |ms| t0 + millis(ms);
    let e = entry(&cache, ip(1), at(50));
    assert_eq!(e.state, ServerState::Responsive, "slow is not dead");
    assert_eq!((e.consecutive_timeouts, e.timeouts), (0, 0));
    assert_eq!(e.overdue, Some(millis(50)));
    // A query sent now waits 1.5 × the delay shown so far, like an SRTT that large.
    assert_eq!(cache.rto(ip(1), at(50)), millis(75));
    assert_eq!(cache.rto(ip(1), at(100)), millis(150));
    assert_eq!(cache.rto(ip(1), at(2000)), millis(2000), "still clamped");
}

#[test]
fn a_late_reply_is_an_rtt_sample_that_grows_the_rto() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    idle_fast(&cache, ip(1), t0);
    cache.begin_query(ip(1), t0);
    cache.record_overdue(ip(1), t0, t0 + millis(50));
    // The reply comes 120 ms after the query: past the 50 ms RTO, before the hard timeout.
    let now = t0 + millis(120);
    cache.record_rtt(ip(1), millis(120), now);
    assert!(cache.end_query(ip(1), now).is_none());
    let e = entry(&cache, ip(1), now);
    assert_eq!(e.state, ServerState::Responsive);
    assert_eq!((e.timeouts, e.overdue, e.in_flight), (0, None, 0));
    // RTTVAR ≈ 3/4·0 + 1/4·119 ≈ 29.8 ms, SRTT ≈ 7/8·1 + 1/8·120 ≈ 15.9 ms: RTO ≈ 135 ms, now
    // longer than the delay the server showed (it was 50 ms before the late reply).
    assert!(e.rto > millis(120), "{:?}", e.rto);
}

#[test]
fn a_server_silent_since_an_overdue_query_was_sent_ranks_with_those_timing_out() {
    let cache = table(no_explore());
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(5), t0);
    cache.record_rtt(ip(2), millis(100), t0);
    let signal = cache.silence(ip(1), t0);
    let waiting = signal.notified();
    // A query sent after its last reply, unanswered at its RTO: silent.
    let sent = t0 + millis(10);
    cache.begin_query(ip(1), sent);
    let at_rto = sent + cache.rto(ip(1), sent);
    let woken = cache
        .record_overdue(ip(1), sent, at_rto)
        .expect("silent: the other tries are to be woken");
    assert!(Arc::ptr_eq(&woken, &signal));
    // As the engine does: a try that took the signal before this one went overdue is woken.
    woken.notify_waiters();
    woken_now(waiting);
    assert_eq!(
        cache.order(&[ip(1), ip(2)], at_rto, &mut rng()),
        [ip(2), ip(1)],
        "50 ms of silence is less than the 100 ms server's RTT, yet it goes behind"
    );
    assert!(
        cache.record_overdue(ip(1), sent, at_rto).is_none(),
        "woken once"
    );
    // Its late reply restores it.
    cache.record_rtt(ip(1), millis(60), at_rto + millis(10));
    assert_eq!(cache.order(&[ip(1), ip(2)], at_rto + millis(10), &mut rng())[0], ip(1));
}

#[test]
fn a_server_still_answering_other_queries_is_slow_not_silent() {
    let cache = table(no_explore());
    let t0 = Instant::now();
    cache.record_rtt(ip(1), millis(5), t0);
    cache.record_rtt(ip(2), millis(100), t0);
    let sent = t0 + millis(10);
    cache.begin_query(ip(1), sent);
    cache.begin_query(ip(1), sent);
    // An older query's reply comes in while this one waits (a queue at the server).
    cache.record_rtt(ip(1), millis(30), sent + millis(20));
    let at_rto = sent + millis(60);
    assert!(cache.record_overdue(ip(1), sent, at_rto).is_none());
    assert_eq!(
        cache.order(&[ip(1), ip(2)], at_rto, &mut rng())[0],
        ip(1),
        "ranked by the delay it shows (60 ms), ahead of the 100 ms server"
    );
}

/// `notified` completes at once: it was woken.
fn woken_now(notified: tokio::sync::futures::Notified<'_>) {
    let mut notified = std::pin::pin!(notified);
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(notified.as_mut().poll(&mut cx).is_ready(), "not woken");
}

#[test]
fn an_overdue_server_ranks_by_the_delay_it_shows() {
    let cache = table(no_explore());
    let t0 = Instant::now();
    let mut rng = rng();
    idle_fast(&cache, ip(1), t0);
    for _ in 0..20 {
        cache.record_rtt(ip(2), millis(20), t0);
    }
    let addrs = [ip(1), ip(2)];
    assert_eq!(cache.order(&addrs, t0, &mut rng)[0], ip(1));
    cache.begin_query(ip(1), t0);
    cache.record_overdue(ip(1), t0, t0 + millis(50));
    // 50 ms of delay shown, against 20 ms expected from the other: it goes second, not last.
    let order = cache.order(&addrs, t0 + millis(50), &mut rng);
    assert_eq!(order, vec![ip(2), ip(1)]);
    // The query ends (answered at last, or given up): the overdue mark goes with it.
    cache.end_query(ip(1), t0 + millis(60));
    assert_eq!(entry(&cache, ip(1), t0 + millis(60)).overdue, None);
    assert_eq!(cache.order(&addrs, t0 + millis(60), &mut rng)[0], ip(1));
}

#[test]
fn only_an_unanswered_hard_timeout_counts_as_a_timeout() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    idle_fast(&cache, ip(1), t0);
    cache.begin_query(ip(1), t0);
    cache.record_overdue(ip(1), t0, t0 + millis(50));
    let hard = t0 + cache.hard_timeout(ip(1), t0);
    cache.record_timeout(ip(1), hard);
    let e = entry(&cache, ip(1), hard);
    assert_eq!(e.state, ServerState::TimingOut);
    assert_eq!((e.timeouts, e.overdue), (1, None));
}

#[test]
fn the_hard_timeout_is_several_rtos_between_initial_rto_and_max_rto() {
    let cache = InfraCache::default();
    let now = Instant::now();
    // Unknown: 4 × 376 ms.
    assert_eq!(cache.hard_timeout(ip(1), now), millis(1504));
    // Measured fast: 4 × 50 ms is raised to the initial RTO.
    idle_fast(&cache, ip(2), now);
    assert_eq!(cache.hard_timeout(ip(2), now), millis(376));
    // Measured at 100 ms (RTO 300 ms): 1.2 s.
    cache.record_rtt(ip(3), millis(100), now);
    assert_eq!(cache.hard_timeout(ip(3), now), millis(1200));
    // Backed off to the ceiling: never past max_rto.
    for _ in 0..3 {
        cache.record_timeout(ip(3), now);
    }
    assert_eq!(cache.hard_timeout(ip(3), now), millis(2000));
}

// --- Per-server in-flight limit --------------------------------------------------------------

#[test]
fn a_server_at_its_in_flight_limit_goes_behind_the_others_and_is_not_explored() {
    let cache = table(InfraConfig {
        max_in_flight: 2,
        explore_share: MAX_EXPLORE_SHARE,
        ..InfraConfig::default()
    });
    let now = Instant::now();
    let mut rng = rng();
    idle_fast(&cache, ip(1), now);
    for addr in [ip(2), ip(3)] {
        for _ in 0..20 {
            cache.record_rtt(addr, millis(30), now);
        }
    }
    let addrs = [ip(1), ip(2), ip(3)];
    cache.begin_query(ip(1), now);
    assert!(!cache.is_busy(ip(1), now));
    cache.begin_query(ip(1), now);
    assert!(cache.is_busy(ip(1), now));
    for _ in 0..200 {
        let order = cache.order(&addrs, now, &mut rng);
        assert_eq!(order[2], ip(1), "busy: last of the answering servers");
    }
    // A query ends: a waiter for room there is woken (when there is a place to wait).
    assert!(cache.end_query(ip(1), now).is_none(), "nobody ever waited");
    cache.begin_query(ip(1), now);
    let room = cache.room(ip(1), now);
    let woken = cache.end_query(ip(1), now).expect("it was full");
    assert!(Arc::ptr_eq(&room, &woken));
    assert!(!cache.is_busy(ip(1), now));
    assert!(
        cache.end_query(ip(1), now).is_none(),
        "not full before: nothing to wake"
    );
}

// --- The retry budget ------------------------------------------------------------------------

#[test]
fn retries_are_allowed_up_to_their_share_of_first_tries_plus_the_floor() {
    let t0 = Instant::now();
    let mut budget = RetryBudget::new(0.1, 0, millis(10_000));
    assert!(!budget.try_retry(t0), "no first tries, no floor: nothing");
    for _ in 0..100 {
        budget.first_try(t0);
    }
    let allowed = (0..20).filter(|_| budget.try_retry(t0)).count();
    assert_eq!(allowed, 10, "10 % of 100");
    let mut budget = RetryBudget::new(0.1, 5, millis(10_000));
    let allowed = (0..20).filter(|_| budget.try_retry(t0)).count();
    assert_eq!(allowed, 5, "the floor alone");
    // Forced retries are counted, and leave less for the others.
    let mut budget = RetryBudget::new(0.1, 0, millis(10_000));
    for _ in 0..100 {
        budget.first_try(t0);
    }
    for _ in 0..8 {
        budget.forced_retry(t0);
    }
    let allowed = (0..20).filter(|_| budget.try_retry(t0)).count();
    assert_eq!(allowed, 2);
}

#[test]
fn the_retry_window_slides() {
    let t0 = Instant::now();
    let window = millis(10_000);
    let mut budget = RetryBudget::new(0.1, 0, window);
    for _ in 0..100 {
        budget.first_try(t0);
    }
    assert_eq!((0..20).filter(|_| budget.try_retry(t0)).count(), 10);
    // Half a window later, half of the last window is still inside the sliding one: 50 first
    // tries and 5 retries count; no room.
    let half = t0 + window + window / 2;
    assert_eq!(budget.counts(half), (50.0, 5.0));
    assert!(!budget.try_retry(half));
    // Fresh first tries make room again.
    for _ in 0..50 {
        budget.first_try(half);
    }
    assert_eq!((0..20).filter(|_| budget.try_retry(half)).count(), 5);
    // Two windows of silence forget everything.
    let later = half + window * 2;
    assert_eq!(budget.counts(later), (0.0, 0.0));
    assert!(!budget.try_retry(later));
}

#[test]
fn the_table_keeps_one_retry_budget_for_every_server() {
    let cache = table(InfraConfig {
        retry_share: 0.5,
        retry_floor: 0,
        ..InfraConfig::default()
    });
    let now = Instant::now();
    for _ in 0..4 {
        cache.count_first_try(now);
    }
    cache.count_forced_retry(now);
    assert!(cache.allow_retry(now));
    assert!(!cache.allow_retry(now), "2 of 4 first tries");
}

#[test]
fn retry_and_late_wait_settings_are_validated() {
    let bad = |config: InfraConfig| InfraCache::new(config).is_err();
    assert!(bad(InfraConfig {
        hard_timeout_factor: 0,
        ..InfraConfig::default()
    }));
    assert!(bad(InfraConfig {
        max_in_flight: 0,
        ..InfraConfig::default()
    }));
    assert!(bad(InfraConfig {
        retry_share: 1.5,
        ..InfraConfig::default()
    }));
    assert!(bad(InfraConfig {
        retry_window: Duration::ZERO,
        ..InfraConfig::default()
    }));
}
