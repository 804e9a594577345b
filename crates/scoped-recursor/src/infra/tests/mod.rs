//! The acceptance tests at the decision level: a simulated engine loop over the table,
//! on a made-up clock, with a seeded RNG.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

mod capability;
mod overdue;
mod selection;

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

/// A server measured fast and steady: SRTT 1 ms, RTO at the 50 ms floor.
pub(super) fn idle_fast(cache: &InfraCache, addr: IpAddr, now: Instant) {
    for _ in 0..20 {
        cache.record_rtt(addr, millis(1), now);
    }
    assert_eq!(cache.rto(addr, now), millis(50));
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
