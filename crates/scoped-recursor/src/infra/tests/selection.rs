//! Selection at the decision level: first tries, background measurements, probes and
//! unknown servers.

use super::*;

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
    assert_eq!(
        measured.get(&ip(1)),
        None,
        "the best is measured by its own traffic"
    );
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
        probes += q
            .measured
            .iter()
            .filter(|m| **m == (ip(2), Measure::Probe))
            .count();
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
                assert_eq!(
                    selection.order[0],
                    ip(1),
                    "the client goes to the best measured"
                );
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
        selection
            .measure
            .iter()
            .all(|(_, why)| *why == Measure::Unmeasured),
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
    assert!(
        (1..=20).contains(&probes),
        "new dead server measured {probes} times"
    );
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
