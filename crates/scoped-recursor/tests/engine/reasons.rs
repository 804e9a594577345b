//! Why a SERVFAIL: the Extended DNS Error (RFC 8914) the engine puts on it — 22 No Reachable
//! Authority when a zone's servers time out, answer lame or refuse; 23 Network Error when every
//! send to them fails on the network (and then at once, without waiting out any timeout); 0
//! Other for the engine's own limits. The text names the zone.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_recursor::{
    EDE_NETWORK_ERROR, EDE_NO_REACHABLE_AUTHORITY, EDE_OTHER, Ede, Recursor, RecursorConfig,
    Resolution, Transport, TransportError, UpstreamQuery,
};
use scoped_testkit::engine::{a_records, ask, config_for, recursor, recursor_with};
use scoped_testkit::standard::*;
use scoped_testkit::{Internet, standard_internet};
use tokio::time::Instant;

/// The internet, except that sending to `down` fails at once with ENETUNREACH (no route).
struct NoRoute {
    internet: Internet,
    down: HashSet<IpAddr>,
}

impl Transport for NoRoute {
    fn exchange(
        &self,
        query: UpstreamQuery,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        if self.down.contains(&query.server.ip()) {
            return Box::pin(async {
                Err(TransportError::Io(io::Error::from(
                    io::ErrorKind::NetworkUnreachable,
                )))
            });
        }
        self.internet.exchange(query)
    }
}

fn no_route(internet: &Internet, down: &[IpAddr]) -> Recursor {
    let transport = NoRoute {
        internet: internet.clone(),
        down: down.iter().copied().collect(),
    };
    Recursor::new(
        config_for(internet),
        RecordCache::new(CacheConfig::default()),
        Arc::new(transport),
    )
}

fn reason(resolution: &Resolution) -> &Ede {
    assert_eq!(resolution.rcode, ResponseCode::ServFail);
    resolution.ede.as_ref().expect("a SERVFAIL with a reason")
}

#[tokio::test(start_paused = true)]
async fn dead_servers_are_no_reachable_authority_naming_the_zone() {
    let internet = standard_internet();
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_dead(true);
    }
    let res = ask(&recursor(&internet), "www.example.com.", RecordType::A).await;
    let ede = reason(&res);
    assert_eq!(ede.code, EDE_NO_REACHABLE_AUTHORITY);
    assert!(
        ede.text
            .starts_with("no reachable authority for example.com."),
        "{}",
        ede.text
    );
    assert!(ede.text.contains("timeout"), "{}", ede.text);
}

#[tokio::test(start_paused = true)]
async fn refusing_servers_are_no_reachable_authority() {
    let internet = standard_internet();
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet
            .expect_server(addr)
            .set_rcode(Some(ResponseCode::Refused));
    }
    let res = ask(&recursor(&internet), "www.example.com.", RecordType::A).await;
    let ede = reason(&res);
    assert_eq!(ede.code, EDE_NO_REACHABLE_AUTHORITY);
    assert_eq!(
        ede.text,
        "no reachable authority for example.com. (refused)"
    );
}

#[tokio::test(start_paused = true)]
async fn lame_servers_are_no_reachable_authority_saying_lame() {
    let internet = standard_internet();
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_lame(true);
    }
    let res = ask(&recursor(&internet), "www.example.com.", RecordType::A).await;
    let ede = reason(&res);
    assert_eq!(ede.code, EDE_NO_REACHABLE_AUTHORITY);
    assert_eq!(ede.text, "no reachable authority for example.com. (lame)");
}

#[tokio::test(start_paused = true)]
async fn no_route_to_a_zone_is_a_network_error_at_once() {
    let internet = standard_internet();
    let config = config_for(&internet);
    let recursor = no_route(&internet, &[EXAMPLE_COM_1, EXAMPLE_COM_2]);
    // The path to com. first, so the question below only meets example.com.'s servers.
    ask(&recursor, "www.example.net.", RecordType::A).await;
    ask(&recursor, "com.", RecordType::NS).await;
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    let ede = reason(&res);
    assert_eq!(ede.code, EDE_NETWORK_ERROR);
    assert_eq!(
        ede.text,
        "network error reaching the servers of example.com."
    );
    // Nothing to wait for: the failure is known as each send fails (virtual time).
    assert!(
        start.elapsed() < config.infra.min_rto,
        "waited {:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn no_network_at_all_fails_at_once_naming_the_root() {
    let internet = standard_internet();
    let config = config_for(&internet);
    let recursor = no_route(&internet, &internet.server_addrs());
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    let ede = reason(&res);
    assert_eq!(ede.code, EDE_NETWORK_ERROR);
    assert_eq!(ede.text, "network error reaching the servers of .");
    assert!(
        start.elapsed() < config.infra.min_rto,
        "waited {:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn engine_limits_are_other_with_the_limit_named() {
    let internet = standard_internet();
    let few_queries = recursor_with(
        &internet,
        RecursorConfig {
            max_upstream_queries: 1,
            ..config_for(&internet)
        },
    );
    let res = ask(&few_queries, "www.example.com.", RecordType::A).await;
    let ede = reason(&res);
    assert_eq!(ede.code, EDE_OTHER);
    assert_eq!(
        ede.text,
        "upstream query budget exhausted resolving www.example.com."
    );
}

#[tokio::test(start_paused = true)]
async fn an_answer_carries_no_failure_reason() {
    let internet = standard_internet();
    let res = ask(&recursor(&internet), "www.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![crate::WWW]);
    assert_eq!(res.ede, None);
}
