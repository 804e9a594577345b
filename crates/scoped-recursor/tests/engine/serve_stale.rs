//! Serve-stale (RFC 8767): expired data answered with TTL 30 when every server fails or at the
//! client timer, the failure recheck, max-stale, and serve-stale off.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_cache::CacheConfig;
use scoped_recursor::Recursor;
use scoped_testkit::engine::{
    a_records, ask, config_for, recursor, recursor_with, recursor_with_cache,
};
use scoped_testkit::standard::*;
use scoped_testkit::{Internet, standard_internet};
use tokio::time::Instant;

use crate::{WWW, stat};

fn example_com_servers(internet: &Internet, f: impl Fn(&scoped_testkit::ServerHandle)) {
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        f(&internet.expect_server(addr));
    }
}

/// www.example.com. (TTL 300) resolved, then 301 s later: expired, but within the stale window.
async fn expired_www(recursor: &Recursor) {
    let res = ask(recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![WWW]);
    tokio::time::advance(Duration::from_secs(301)).await;
}

/// nx.example.com. (NXDOMAIN, negative TTL 60) resolved, then 61 s later: expired, but within
/// the stale window.
async fn expired_nx(recursor: &Recursor) {
    let res = ask(recursor, "nx.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    tokio::time::advance(Duration::from_secs(61)).await;
}

#[tokio::test(start_paused = true)]
async fn serve_stale_answers_expired_data_with_ttl_30_when_every_server_fails() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![WWW]);
    assert_eq!(res.answers[0].ttl, scoped_cache::STALE_TTL);
    assert!(res.stale);
    assert_eq!(stat(&recursor, |s| &s.stale_served_failed), 1);
    assert_eq!(
        stat(&recursor, |s| &s.servfail),
        1,
        "the resolution itself failed"
    );
}

#[tokio::test(start_paused = true)]
async fn serve_stale_failure_recheck_answers_stale_without_asking_for_30_seconds() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .stale
    );
    internet.clear_query_log();
    tokio::time::advance(Duration::from_secs(29)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.stale);
    assert_eq!(
        internet.total_queries(),
        0,
        "within the recheck time: no retry"
    );
    // After it, the servers are asked again; they have recovered.
    example_com_servers(&internet, |s| s.set_rcode(None));
    tokio::time::advance(Duration::from_secs(2)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(!res.stale);
    assert_eq!(res.answers[0].ttl, 300);
    assert!(internet.total_queries() > 0);
}

/// A recursor whose RTO (5–10 s) and question budget (20 s) outlast the 3-second answers of
/// servers made slow but alive, so a slow resolution ends with its answer, not a timeout.
fn patient_recursor(internet: &Internet) -> Recursor {
    let mut config = config_for(internet);
    config.query_timeout = Duration::from_secs(20);
    config.infra.initial_rto = Duration::from_secs(5);
    config.infra.min_rto = Duration::from_secs(5);
    config.infra.max_rto = Duration::from_secs(10);
    recursor_with(internet, config)
}

#[tokio::test(start_paused = true)]
async fn serve_stale_answers_at_the_client_timer_and_refreshes_in_the_background() {
    let internet = standard_internet();
    let recursor = patient_recursor(&internet);
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_delay(Duration::from_secs(3)));
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(1800),
        "the client timer"
    );
    assert!(res.stale);
    assert_eq!(a_records(&res), vec![WWW]);
    assert_eq!(res.answers[0].ttl, scoped_cache::STALE_TTL);
    assert_eq!(stat(&recursor, |s| &s.stale_served_slow), 1);
    // The resolution went on and refreshed the cache.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache && !res.stale);
    assert!(
        res.answers[0].ttl > 290,
        "fresh data: {}",
        res.answers[0].ttl
    );
}

#[tokio::test(start_paused = true)]
async fn a_quick_resolution_wins_over_stale_data() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    expired_www(&recursor).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(!res.stale && !res.from_cache);
    assert_eq!(res.answers[0].ttl, 300);
}

#[tokio::test(start_paused = true)]
async fn stale_data_is_kept_no_longer_than_max_stale() {
    let internet = standard_internet();
    let recursor = recursor_with_cache(
        &internet,
        config_for(&internet),
        CacheConfig {
            max_stale: 600,
            ..CacheConfig::default()
        },
    );
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![WWW]);
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    tokio::time::advance(Duration::from_secs(300 + 599)).await;
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .stale
    );
    tokio::time::advance(Duration::from_secs(31)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail, "past TTL + max-stale");
}

#[tokio::test(start_paused = true)]
async fn serve_stale_off_fails_like_before() {
    let internet = standard_internet();
    let recursor = recursor_with_cache(
        &internet,
        config_for(&internet),
        CacheConfig {
            max_stale: 0,
            ..CacheConfig::default()
        },
    );
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(stat(&recursor, |s| &s.stale_served_failed), 0);
}

#[tokio::test(start_paused = true)]
async fn stale_negative_answers_are_served_too() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    expired_nx(&recursor).await;
    example_com_servers(&internet, |s| s.set_dead(true));
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.stale);
    assert_eq!(res.authorities[0].ttl, scoped_cache::STALE_TTL);
}

/// The client timer is set on a miss only when a read saw something for the question; an
/// expired NXDOMAIN of an ancestor counts (RFC 8020), and is served at the timer.
#[tokio::test(start_paused = true)]
async fn an_expired_nxdomain_above_the_name_is_served_at_the_client_timer() {
    let internet = standard_internet();
    let recursor = patient_recursor(&internet);
    expired_nx(&recursor).await;
    example_com_servers(&internet, |s| s.set_delay(Duration::from_secs(3)));
    let start = Instant::now();
    let res = ask(&recursor, "below.nx.example.com.", RecordType::A).await;
    assert_eq!(start.elapsed(), Duration::from_millis(1800), "the timer");
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.stale);
    // A name the caches know nothing of waits for its answer: nothing stale could come.
    let start = Instant::now();
    let res = ask(&recursor, "fresh.example.com.", RecordType::A).await;
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(!res.stale);
}
