//! Prefetch: an entry hit in the last tenth of its TTL is refreshed in the background, once,
//! with every link of its CNAME chain; off, the entry just expires.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use scoped_cache::CacheConfig;
use scoped_testkit::engine::{ask, config_for, recursor, recursor_with_cache};
use scoped_testkit::{name, standard_internet};

use crate::stat;

#[tokio::test(start_paused = true)]
async fn prefetch_refreshes_an_entry_hit_in_its_last_tenth_once() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "www.example.com.", RecordType::A).await;
    // 269 s in: 31 s of 300 left, outside the last 10%.
    tokio::time::advance(Duration::from_secs(269)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .from_cache
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(internet.total_queries(), 0);
    // 271 s in: 29 s left. The client is answered from the cache at once; the refresh runs
    // behind it, once, however many hits follow.
    tokio::time::advance(Duration::from_secs(2)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert_eq!(res.answers[0].ttl, 29);
    for _ in 0..5 {
        assert!(
            ask(&recursor, "www.example.com.", RecordType::A)
                .await
                .from_cache
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refreshed: Vec<_> = internet
        .query_log()
        .into_iter()
        .filter(|q| q.qname == name("www.example.com.") && q.qtype == RecordType::A)
        .collect();
    assert_eq!(refreshed.len(), 1, "one refresh");
    assert_eq!(stat(&recursor, |s| &s.prefetches), 1);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert!(
        res.answers[0].ttl > 290,
        "refreshed: {}",
        res.answers[0].ttl
    );
    // Past the old expiry the entry is still there: no miss.
    tokio::time::advance(Duration::from_secs(40)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .from_cache
    );
    assert_eq!(internet.total_queries(), 0);
}

#[tokio::test(start_paused = true)]
async fn prefetch_refreshes_every_link_of_a_cname_chain() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "cross.example.com.", RecordType::A).await;
    tokio::time::advance(Duration::from_secs(275)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "cross.example.com.", RecordType::A)
            .await
            .from_cache
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked: Vec<_> = internet.query_log().into_iter().map(|q| q.qname).collect();
    assert!(asked.contains(&name("cross.example.com.")), "{asked:?}");
    assert!(asked.contains(&name("www.example.net.")), "{asked:?}");
}

#[tokio::test(start_paused = true)]
async fn prefetch_off_leaves_the_entry_to_expire() {
    let internet = standard_internet();
    let recursor = recursor_with_cache(
        &internet,
        config_for(&internet),
        CacheConfig {
            prefetch_percent: 0,
            ..CacheConfig::default()
        },
    );
    ask(&recursor, "www.example.com.", RecordType::A).await;
    tokio::time::advance(Duration::from_secs(290)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .from_cache
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(internet.total_queries(), 0);
    assert_eq!(stat(&recursor, |s| &s.prefetches), 0);
}
