//! Failover: dead, refusing and lame servers cost at most one timeout and the next server is
//! asked; when nothing answers, SERVFAIL within the query's time budget.

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::RecursorConfig;
use scoped_testkit::engine::{a_records, ask, config_for, recursor_with};
use scoped_testkit::standard::*;
use scoped_testkit::standard_internet;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn dead_server_costs_at_most_one_timeout() {
    let internet = standard_internet();
    let config = config_for(&internet);
    // One timeout is at most the RTO ceiling (backoff included), never a wait per retry.
    let server_timeout = config.infra.max_rto;
    let recursor = recursor_with(&internet, config);
    // Warm the path to org. so only the failover zone's servers are left to ask.
    ask(&recursor, "www.lame.org.", RecordType::A).await;
    for _ in 0..10 {
        recursor.cache().clear();
        ask(&recursor, "www.lame.org.", RecordType::A).await;
        let start = Instant::now();
        let res = ask(&recursor, "www.failover.org.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 50)]);
        assert!(
            start.elapsed() <= server_timeout,
            "waited {:?}",
            start.elapsed()
        );
    }
    let dead = internet.query_count(FAILOVER_DEAD);
    assert!(dead > 0, "the dead server was tried at some point");
    assert!(
        dead <= 4,
        "then it is avoided: {dead} queries in 10 resolutions"
    );
}

#[tokio::test(start_paused = true)]
async fn refused_from_one_server_tries_the_next() {
    let internet = standard_internet();
    // Fresh engines with different seeds until one asks the refusing server first: every
    // resolution must still succeed through the other server.
    for seed in 0..64 {
        let config = RecursorConfig {
            selection_seed: Some(seed),
            ..config_for(&internet)
        };
        let recursor = recursor_with(&internet, config);
        let res = ask(&recursor, "www.lame.org.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 60)]);
        if internet.query_count(LAME_REFUSED) > 0 {
            return;
        }
    }
    panic!("the REFUSED server was never asked first in 64 tries");
}

#[tokio::test(start_paused = true)]
async fn upward_referral_from_a_lame_server_tries_the_next() {
    let internet = standard_internet();
    internet.expect_server(EXAMPLE_COM_1).set_lame(true);
    for seed in 0..64 {
        let config = RecursorConfig {
            selection_seed: Some(seed),
            ..config_for(&internet)
        };
        let recursor = recursor_with(&internet, config);
        let res = ask(&recursor, "www.example.com.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 10)]);
        if internet.query_count(EXAMPLE_COM_1) > 0 {
            return;
        }
    }
    panic!("the lame server was never asked first in 64 tries");
}

#[tokio::test(start_paused = true)]
async fn all_servers_dead_is_servfail_within_the_budget() {
    let internet = standard_internet();
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_dead(true);
    }
    let config = config_for(&internet);
    let budget = config.query_timeout;
    let recursor = recursor_with(&internet, config);
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(start.elapsed() <= budget, "took {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn whole_internet_dead_is_servfail_at_the_deadline_not_later() {
    let internet = standard_internet();
    for addr in internet.server_addrs() {
        internet.expect_server(addr).set_dead(true);
    }
    let config = RecursorConfig {
        query_timeout: Duration::from_secs(2),
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(
        start.elapsed() <= Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}
