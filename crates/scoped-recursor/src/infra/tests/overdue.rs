//! Slow is not dead: overdue queries, late replies, the hard timeout, and silent servers.

use super::*;

// --- Slow is not dead: overdue queries, late replies, the hard timeout ------------------------

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
    assert_eq!(
        cache.order(&[ip(1), ip(2)], at_rto + millis(10), &mut rng())[0],
        ip(1)
    );
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

/// `start_try` and `end_try` (one visit to the record each) do what the separate calls they
/// stand for do, on two tables driven side by side.
#[test]
fn a_try_started_and_ended_in_one_visit_each_matches_the_separate_calls() {
    let config = InfraConfig {
        max_in_flight: 2,
        ..InfraConfig::default()
    };
    let (one, separate) = (table(config.clone()), table(config));
    let addr = ip(1);
    let t0 = Instant::now();
    // A sample first, so the RTO is the server's own, not the initial one.
    for cache in [&one, &separate] {
        cache.record_rtt(addr, millis(30), t0);
    }
    let started = one.start_try(addr, t0);
    assert_eq!(started.rto, separate.rto(addr, t0));
    assert_eq!(started.hard_timeout, separate.hard_timeout(addr, t0));
    separate.begin_query(addr, t0);
    assert_eq!(entry(&one, addr, t0).in_flight, 1);
    // The signal handed out is the record's: a silent server found by another try wakes it.
    let silenced = started.silence.notified();
    let sent = t0 + millis(1);
    if let Some(silence) = one.record_overdue(addr, sent, t0 + millis(500)) {
        silence.notify_waiters();
    }
    woken_now(silenced);

    // Ended with an RTT sample: as record_rtt, then end_query.
    let t1 = t0 + millis(600);
    assert!(one.end_try(addr, t1, TrySample::Rtt(millis(80))).is_none());
    separate.record_rtt(addr, millis(80), t1);
    assert!(separate.end_query(addr, t1).is_none());
    let (a, b) = (entry(&one, addr, t1), entry(&separate, addr, t1));
    assert_eq!(
        (a.srtt, a.rto, a.in_flight, a.queries),
        (b.srtt, b.rto, b.in_flight, b.queries)
    );
    assert_eq!(a.in_flight, 0);

    // Ended with a timeout while the address was full: as record_timeout, then end_query,
    // which hands out the room signal.
    for cache in [&one, &separate] {
        cache.room(addr, t1);
    }
    one.start_try(addr, t1);
    one.start_try(addr, t1);
    separate.begin_query(addr, t1);
    separate.begin_query(addr, t1);
    let t2 = t1 + millis(2_000);
    assert!(
        one.end_try(addr, t2, TrySample::Timeout).is_some(),
        "room signal"
    );
    separate.record_timeout(addr, t2);
    assert!(separate.end_query(addr, t2).is_some());
    let (a, b) = (entry(&one, addr, t2), entry(&separate, addr, t2));
    assert_eq!(
        (a.rto, a.consecutive_timeouts, a.timeouts, a.in_flight),
        (b.rto, b.consecutive_timeouts, b.timeouts, b.in_flight)
    );
    assert_eq!(a.timeouts, 1);

    // Nothing to learn (TCP, or cut short by the deadline): only the query is counted out.
    let before = entry(&one, addr, t2);
    one.end_try(addr, t2, TrySample::Nothing);
    let after = entry(&one, addr, t2);
    assert_eq!(
        (after.queries, after.timeouts),
        (before.queries, before.timeouts)
    );
    assert_eq!(after.in_flight, before.in_flight - 1);
}
