//! Stub zones: names inside a configured zone are iterated from its own servers, given by
//! address, never from the root; referrals below it are followed and answers cached as usual.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::{Recursor, RecursorConfig, StubZone};
use scoped_testkit::engine::{a_records, ask, config_for, recursor_with};
use scoped_testkit::{Internet, InternetBuilder, name};

use super::{PUB, ROOT};

const ROOT_SERVER: &str = "127.53.0.1";
const INTERNAL: &str = "127.53.9.1";
const DEV: &str = "127.53.9.2";

/// `corp.internal.`, unknown to the public root (`ROOT`): an internal server serves it and
/// delegates `dev.corp.internal.` to a second internal server.
const CORP: &str = "
@      86400 IN SOA ns.corp.internal. hostmaster.corp.internal. 1 1800 900 604800 300
@      86400 IN NS  ns
ns     86400 IN A   127.53.9.1
www    300   IN A   10.0.0.80
dev    86400 IN NS  ns.dev
ns.dev 86400 IN A   127.53.9.2
";

const DEV_ZONE: &str = "
@     86400 IN SOA ns.dev.corp.internal. hostmaster.corp.internal. 1 1800 900 604800 300
@     86400 IN NS  ns
ns    86400 IN A   127.53.9.2
build 300   IN A   10.0.1.7
";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn internet() -> Internet {
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT)
        .zone("pub.", PUB)
        .zone("corp.internal.", CORP)
        .zone("dev.corp.internal.", DEV_ZONE);
    b.server(ip(ROOT_SERVER), &["."])
        .server(ip("127.53.1.1"), &["pub."])
        .server(ip(INTERNAL), &["corp.internal."])
        .server(ip(DEV), &["dev.corp.internal."]);
    b.build().unwrap()
}

fn with_stub(internet: &Internet) -> Recursor {
    let base = config_for(internet);
    let stub = StubZone {
        name: name("corp.internal."),
        servers: vec![SocketAddr::new(ip(INTERNAL), base.upstream_port)],
    };
    let config = RecursorConfig {
        stub_zones: vec![stub],
        ..base
    };
    recursor_with(internet, config)
}

fn asked(internet: &Internet, server: &str) -> usize {
    internet
        .query_log()
        .iter()
        .filter(|q| q.server.ip() == ip(server))
        .count()
}

#[tokio::test(start_paused = true)]
async fn names_in_a_stub_zone_are_resolved_from_its_servers_never_the_root() {
    let internet = internet();
    let recursor = with_stub(&internet);
    let res = ask(&recursor, "www.corp.internal.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(10, 0, 0, 80)]);
    assert_eq!(
        asked(&internet, ROOT_SERVER),
        0,
        "{:?}",
        internet.query_log()
    );
    // Cached like any answer.
    let sent = internet.total_queries();
    let again = ask(&recursor, "www.corp.internal.", RecordType::A).await;
    assert!(again.from_cache);
    assert_eq!(internet.total_queries(), sent);
    // Without the stub zone the root is asked and knows nothing of it.
    let plain = recursor_with(&internet, config_for(&internet));
    let res = ask(&plain, "www.corp.internal.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
}

#[tokio::test(start_paused = true)]
async fn referrals_below_a_stub_zone_are_followed_and_other_names_go_to_the_root() {
    let internet = internet();
    let recursor = with_stub(&internet);
    let res = ask(&recursor, "build.dev.corp.internal.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(10, 0, 1, 7)]);
    assert!(asked(&internet, DEV) > 0);
    assert_eq!(asked(&internet, ROOT_SERVER), 0);
    // Negative answers come from the stub zone's servers too.
    let nx = ask(&recursor, "nothere.corp.internal.", RecordType::A).await;
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(asked(&internet, ROOT_SERVER), 0);
    // Outside it, iteration starts at the root as always.
    let public = ask(&recursor, "www.pub.", RecordType::A).await;
    assert_eq!(a_records(&public), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(asked(&internet, ROOT_SERVER) > 0);
}

#[tokio::test(start_paused = true)]
async fn the_trace_names_the_stub_zone() {
    let internet = internet();
    let recursor = with_stub(&internet);
    let request = scoped_recursor::ResolveRequest::new(
        scoped_recursor::Question::new(name("www.corp.internal."), RecordType::A),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    let (_, lines) = recursor.trace(request).await;
    assert!(
        lines.iter().any(|l| l.contains("stub zone corp.internal.")),
        "{lines:#?}"
    );
}

/// A stub server's port is its own: given the wrong one, the server is never reached.
#[tokio::test(start_paused = true)]
async fn a_stub_server_is_asked_on_its_configured_port() {
    let internet = internet();
    let base = config_for(&internet);
    let wrong = base.upstream_port.wrapping_add(1);
    let config = RecursorConfig {
        stub_zones: vec![StubZone {
            name: name("corp.internal."),
            servers: vec![SocketAddr::new(ip(INTERNAL), wrong)],
        }],
        ..base
    };
    let recursor = recursor_with(&internet, config);
    let res = ask(&recursor, "www.corp.internal.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(asked(&internet, INTERNAL), 0);
    assert_eq!(asked(&internet, ROOT_SERVER), 0);
}
