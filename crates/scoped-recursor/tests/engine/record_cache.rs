//! The record cache as the engine uses it: TTLs counting down and clamped, and flushing a name,
//! a subtree or everything.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use scoped_cache::CacheConfig;
use scoped_recursor::Recursor;
use scoped_testkit::engine::{ask, config_for, recursor, recursor_with_cache};
use scoped_testkit::{name, standard_internet};

#[tokio::test(start_paused = true)]
async fn repeated_query_is_served_from_cache_with_ttl_counting_down() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let first = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(first.answers[0].ttl, 300);
    let sent = internet.total_queries();
    tokio::time::advance(Duration::from_secs(100)).await;
    let second = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(second.from_cache);
    assert_eq!(
        internet.total_queries(),
        sent,
        "a cache hit sends nothing upstream"
    );
    assert_eq!(second.answers[0].ttl, 200);
    tokio::time::advance(Duration::from_secs(201)).await;
    let third = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(!third.from_cache, "expired after its TTL");
    assert_eq!(third.answers[0].ttl, 300);
}

#[tokio::test(start_paused = true)]
async fn ttls_are_clamped_to_the_configured_maximum() {
    let internet = standard_internet();
    let recursor = recursor_with_cache(
        &internet,
        config_for(&internet),
        CacheConfig {
            max_ttl: 100,
            ..CacheConfig::default()
        },
    );
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.answers[0].ttl, 100);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert_eq!(res.answers[0].ttl, 100);
}

#[tokio::test(start_paused = true)]
async fn flush_forgets_a_name_or_a_subtree_and_nothing_else() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    for qname in [
        "www.example.com.",
        "www.sub.example.com.",
        "www.example.net.",
    ] {
        ask(&recursor, qname, RecordType::A).await;
    }
    let cached = |recursor: &Recursor, qname: &'static str| {
        let recursor = recursor.clone();
        async move { ask(&recursor, qname, RecordType::A).await.from_cache }
    };
    recursor.flush(&name("www.example.com."), false);
    assert!(!cached(&recursor, "www.example.com.").await, "flushed");
    assert!(
        cached(&recursor, "www.sub.example.com.").await,
        "a name below is kept"
    );
    recursor.flush(&name("example.com."), true);
    assert!(
        !cached(&recursor, "www.sub.example.com.").await,
        "the subtree went"
    );
    assert!(
        cached(&recursor, "www.example.net.").await,
        "other zones are kept"
    );
    recursor.flush_all();
    assert!(!cached(&recursor, "www.example.net.").await);
}
