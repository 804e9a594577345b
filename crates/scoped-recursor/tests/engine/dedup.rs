//! In-flight de-duplication: identical questions asked at once share one resolution.

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use scoped_testkit::engine::{a_records, ask, config_for, recursor, recursor_with};
use scoped_testkit::standard_internet;

#[tokio::test(start_paused = true)]
async fn concurrent_identical_questions_share_one_resolution() {
    let internet = standard_internet();
    for addr in internet.server_addrs() {
        internet
            .expect_server(addr)
            .set_delay(Duration::from_millis(20));
    }
    let recursor = recursor(&internet);
    let alone = recursor_with(&internet, config_for(&internet));
    ask(&alone, "www.example.com.", RecordType::A).await;
    let one_resolution = internet.total_queries();
    internet.clear_query_log();

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let recursor = recursor.clone();
            tokio::spawn(async move { ask(&recursor, "www.example.com.", RecordType::A).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            a_records(&task.await.unwrap()),
            vec![Ipv4Addr::new(192, 0, 2, 10)]
        );
    }
    assert_eq!(
        internet.total_queries(),
        one_resolution,
        "20 clients, one resolution"
    );
    assert!(
        recursor
            .stats()
            .deduplicated
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 19
    );
}
