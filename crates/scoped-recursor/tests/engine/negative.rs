//! Negative answers: NXDOMAIN and NODATA with their SOA, the negative TTL (RFC 2308) and its
//! cap, and names below a cached NXDOMAIN (RFC 8020).

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_cache::CacheConfig;
use scoped_testkit::engine::{a_records, ask, config_for, recursor, recursor_with_cache, types};
use scoped_testkit::standard::*;
use scoped_testkit::{Internet, name, standard_internet};

#[tokio::test(start_paused = true)]
async fn nxdomain_carries_soa_with_negative_ttl() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.answers.is_empty());
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
    assert_eq!(res.authorities[0].ttl, 60, "min(SOA TTL 3600, MINIMUM 60)");
    let res = ask(&recursor, "nx.example.net.", RecordType::A).await;
    assert_eq!(res.authorities[0].ttl, 30, "min(SOA TTL 30, MINIMUM 300)");
}

#[tokio::test(start_paused = true)]
async fn nodata_and_empty_non_terminal() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::MX).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert!(res.answers.is_empty());
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
    let res = ask(&recursor, "ent.example.com.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::NoError,
        "an empty non-terminal exists"
    );
    assert!(res.answers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn negative_answer_is_cached_for_its_negative_ttl() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "nx.example.com.", RecordType::A).await;
    let sent = internet.total_queries();
    tokio::time::advance(Duration::from_secs(50)).await;
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(res.authorities[0].ttl, 10);
    assert_eq!(internet.total_queries(), sent);
    tokio::time::advance(Duration::from_secs(11)).await;
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert!(!res.from_cache);
    assert_eq!(
        internet.total_queries(),
        sent + 1,
        "one query, to the cached zone's server"
    );
}

#[tokio::test(start_paused = true)]
async fn rfc8020_names_below_a_cached_nxdomain_are_answered_from_cache() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    assert_eq!(
        ask(&recursor, "nx.example.com.", RecordType::A).await.rcode,
        ResponseCode::NXDomain
    );
    let sent = internet.total_queries();
    let res = ask(&recursor, "deep.below.nx.example.com.", RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.from_cache);
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
    assert_eq!(
        internet.total_queries(),
        sent,
        "nothing exists below a name that does not exist"
    );
}

/// The example.com zone as served, with `extra` appended.
fn example_com_with(internet: &Internet, extra: &str) -> scoped_testkit::Zone {
    let mut text = String::new();
    for zone in internet.expect_server(EXAMPLE_COM_1).zones() {
        if zone.origin() == &name("example.com.") {
            for record in zone.records() {
                text.push_str(&format!("{record}\n"));
            }
        }
    }
    text.push_str(extra);
    scoped_testkit::Zone::parse("example.com.", &text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_record_published_after_nxdomain_is_seen_when_the_negative_ttl_runs_out() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    assert_eq!(
        ask(&recursor, "fresh.example.com.", RecordType::A)
            .await
            .rcode,
        ResponseCode::NXDomain
    );
    internet.replace_zone(example_com_with(
        &internet,
        "fresh.example.com. 300 IN A 192.0.2.77\n",
    ));
    // The negative answer lives min(SOA TTL 3600, MINIMUM 60) = 60 s: not a second longer.
    tokio::time::advance(Duration::from_secs(59)).await;
    let res = ask(&recursor, "fresh.example.com.", RecordType::A).await;
    assert_eq!((res.rcode, res.from_cache), (ResponseCode::NXDomain, true));
    tokio::time::advance(Duration::from_secs(1)).await;
    let res = ask(&recursor, "fresh.example.com.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::NoError,
        "seen the moment the negative TTL ran out"
    );
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 77)]);
}

#[tokio::test(start_paused = true)]
async fn the_negative_ttl_cap_shortens_the_wait_for_a_new_record() {
    let internet = standard_internet();
    let recursor = recursor_with_cache(
        &internet,
        config_for(&internet),
        CacheConfig {
            max_negative_ttl: 10,
            ..CacheConfig::default()
        },
    );
    assert_eq!(
        ask(&recursor, "fresh.example.com.", RecordType::A)
            .await
            .rcode,
        ResponseCode::NXDomain
    );
    internet.replace_zone(example_com_with(
        &internet,
        "fresh.example.com. 300 IN A 192.0.2.77\n",
    ));
    tokio::time::advance(Duration::from_secs(10)).await;
    let res = ask(&recursor, "fresh.example.com.", RecordType::A).await;
    assert_eq!(
        a_records(&res),
        vec![Ipv4Addr::new(192, 0, 2, 77)],
        "cap of 10 s, not 60 s"
    );
}
