//! Forward zones: names inside a configured zone are asked of its forwarders (recursive
//! resolvers, answering with RA and without AA) with RD=1, never iterated; the answers are
//! cached like any other, ECS goes to a forwarder only when its address is allowlisted, and the
//! deepest stub or forward zone wins.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use scoped_ecs::Allowlist;
use scoped_recursor::{
    EDE_NO_REACHABLE_AUTHORITY, ForwardZone, Question, Recursor, RecursorConfig, ResolveRequest,
    Routing, StubZone,
};
use scoped_testkit::engine::{a_records, ask, ask_from, config_for, recursor_with};
use scoped_testkit::{Behaviour, Internet, InternetBuilder, name};

use super::stat;

use super::{PUB, ROOT};

const ROOT_SERVER: &str = "127.53.0.1";
const PUB_SERVER: &str = "127.53.1.1";
/// The router: a recursive forwarder that knows `lan.` (and, for `.`, everything).
const ROUTER: &str = "127.53.8.1";
/// A second forwarder with the same data.
const ROUTER2: &str = "127.53.8.2";
/// The authoritative of `lan.`, for the stub-zone case.
const LAN_AUTH: &str = "127.53.9.1";

const LAN: &str = "
@        86400 IN SOA router.lan. hostmaster.lan. 1 1800 900 604800 300
@        86400 IN NS  router
router   86400 IN A   192.168.1.1
printer  300   IN A   192.168.1.20
nas      300   IN A   192.168.1.30
alias    300   IN CNAME www.pub.
";

/// The same zone as its own authoritative serves it, with other data (to tell them apart).
const LAN_AT_AUTH: &str = "
@        86400 IN SOA router.lan. hostmaster.lan. 1 1800 900 604800 300
@        86400 IN NS  router
router   86400 IN A   192.168.1.1
printer  300   IN A   192.168.1.99
";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn recursive() -> Behaviour {
    Behaviour {
        recursive: true,
        ..Behaviour::default()
    }
}

/// The root knows nothing of `lan.`; the routers resolve it (and `pub.`) recursively.
fn internet() -> Internet {
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT).zone("pub.", PUB).zone("lan.", LAN);
    b.server(ip(ROOT_SERVER), &["."])
        .server(ip(PUB_SERVER), &["pub."])
        .server_with(ip(ROUTER), &[".", "pub.", "lan."], recursive())
        .server_with(ip(ROUTER2), &[".", "pub.", "lan."], recursive());
    b.build().unwrap()
}

fn forward(zone: &str, servers: &[&str], port: u16) -> ForwardZone {
    ForwardZone {
        name: name(zone),
        servers: servers
            .iter()
            .map(|s| SocketAddr::new(ip(s), port))
            .collect(),
        tls: None,
    }
}

fn with_forwards(internet: &Internet, zones: Vec<ForwardZone>) -> Recursor {
    let base = config_for(internet);
    let config = RecursorConfig {
        forward_zones: zones,
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
async fn a_forward_zone_is_asked_of_its_forwarder_with_rd_and_cached() {
    let internet = internet();
    let port = internet.port();
    let recursor = with_forwards(&internet, vec![forward("lan.", &[ROUTER], port)]);
    let res = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError, "{res:?}");
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    let log = internet.query_log();
    assert_eq!(asked(&internet, ROOT_SERVER), 0, "{log:?}");
    let to_router: Vec<_> = log.iter().filter(|q| q.server.ip() == ip(ROUTER)).collect();
    assert_eq!(to_router.len(), 1, "{log:?}");
    let query = to_router[0].message().unwrap();
    assert!(query.metadata.recursion_desired, "RD=1 towards a forwarder");
    // The answer came without AA and is not taken for a lame server's.
    assert_eq!(stat(&recursor, |s| &s.lame_replies), 0);
    // Cached like any answer.
    let sent = internet.total_queries();
    let again = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert!(again.from_cache);
    assert_eq!(internet.total_queries(), sent);
    // Negative answers come from the forwarder too.
    let nx = ask(&recursor, "nothere.lan.", RecordType::A).await;
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(asked(&internet, ROOT_SERVER), 0);
    // Names outside the zone are iterated from the root as usual, never forwarded.
    let www = ask(&recursor, "www.pub.", RecordType::A).await;
    assert_eq!(a_records(&www), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(asked(&internet, ROOT_SERVER) > 0);
    assert_eq!(asked(&internet, ROUTER), 2);
}

#[tokio::test(start_paused = true)]
async fn forwarding_the_root_sends_everything_to_the_forwarder() {
    let internet = internet();
    let port = internet.port();
    let recursor = with_forwards(&internet, vec![forward(".", &[ROUTER], port)]);
    let www = ask(&recursor, "www.pub.", RecordType::A).await;
    assert_eq!(a_records(&www), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let printer = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&printer), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    // A CNAME chain the forwarder answers in one reply.
    let alias = ask(&recursor, "alias.lan.", RecordType::A).await;
    assert_eq!(a_records(&alias), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let log = internet.query_log();
    assert!(log.iter().all(|q| q.server.ip() == ip(ROUTER)), "{log:?}");
    assert_eq!(log.len(), 3, "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn the_deepest_stub_or_forward_zone_wins() {
    // Two versions of `lan.`: the routers' and its own authoritative's (to tell who answered).
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT).zone("pub.", PUB).zone("lan.", LAN);
    b.server(ip(ROOT_SERVER), &["."])
        .server(ip(PUB_SERVER), &["pub."])
        .server_with(ip(ROUTER), &[".", "pub.", "lan."], recursive())
        .server_with(ip(ROUTER2), &[".", "lan."], recursive())
        .server(ip(LAN_AUTH), &["lan."]);
    let internet = b.build().unwrap();
    let auth_lan = scoped_testkit::Zone::parse("lan.", LAN_AT_AUTH).unwrap();
    internet.server(ip(LAN_AUTH)).unwrap().set_zone(auth_lan);
    let port = internet.port();
    let base = config_for(&internet);
    let config = RecursorConfig {
        forward_zones: vec![
            forward(".", &[ROUTER2], port),
            forward("pub.", &[ROUTER], port),
        ],
        stub_zones: vec![StubZone {
            name: name("lan."),
            servers: vec![SocketAddr::new(ip(LAN_AUTH), port)],
        }],
        ..base
    };
    let recursor = recursor_with(&internet, config);
    // `lan.` is a stub zone inside the forwarded root: its own server answers.
    let printer = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&printer), vec![Ipv4Addr::new(192, 168, 1, 99)]);
    // `pub.` is forwarded to ROUTER, not to the root's forwarder ROUTER2.
    let www = ask(&recursor, "www.pub.", RecordType::A).await;
    assert_eq!(a_records(&www), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(asked(&internet, ROUTER2), 0, "{:?}", internet.query_log());
    assert_eq!(asked(&internet, ROOT_SERVER), 0);
    assert_eq!(asked(&internet, PUB_SERVER), 0);
    // Anything else goes to the root's forwarder.
    let other = ask(&recursor, "nothere.", RecordType::A).await;
    assert_eq!(other.rcode, ResponseCode::NXDomain);
    assert_eq!(asked(&internet, ROUTER2), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dead_forwarder_is_passed_over_and_all_dead_is_servfail_with_ede_22() {
    let internet = internet();
    let port = internet.port();
    let recursor = with_forwards(&internet, vec![forward("lan.", &[ROUTER, ROUTER2], port)]);
    internet.server(ip(ROUTER)).unwrap().set_dead(true);
    let res = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    assert_eq!(asked(&internet, ROUTER2), 1);

    internet.server(ip(ROUTER2)).unwrap().set_dead(true);
    let started = tokio::time::Instant::now();
    let res = ask(&recursor, "nas.lan.", RecordType::A).await;
    let waited = started.elapsed();
    assert_eq!(res.rcode, ResponseCode::ServFail);
    let ede = res.ede.expect("an EDE with the SERVFAIL");
    assert_eq!(ede.code, EDE_NO_REACHABLE_AUTHORITY);
    assert!(ede.text.contains("lan."), "{}", ede.text);
    // Bounded by the question's time budget, never longer.
    assert!(waited <= recursor.config().query_timeout, "{waited:?}");
    assert_eq!(asked(&internet, ROOT_SERVER), 0);
}

#[tokio::test(start_paused = true)]
async fn ecs_goes_to_a_forwarder_only_when_its_address_is_allowlisted() {
    let subnet: IpNet = "198.51.100.0/24".parse().unwrap();
    for (allowlist, expect_ecs) in [
        ("", false),
        // An entry for the zone is for its authoritatives, not for a forwarder.
        ("lan.", false),
        ("127.53.8.1/32", true),
    ] {
        let internet = internet();
        let port = internet.port();
        let config = RecursorConfig {
            forward_zones: vec![forward("lan.", &[ROUTER], port)],
            ecs_allowlist: Allowlist::parse(allowlist).unwrap(),
            ..config_for(&internet)
        };
        let recursor = recursor_with(&internet, config);
        let res = ask_from(&recursor, "printer.lan.", RecordType::A, Some(subnet)).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 168, 1, 20)]);
        let log = internet.query_log();
        let sent = log[0].client_subnet();
        assert_eq!(
            sent.is_some(),
            expect_ecs,
            "allowlist {allowlist:?}: {log:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn trace_shows_the_forward_decision() {
    let internet = internet();
    let port = internet.port();
    let recursor = with_forwards(&internet, vec![forward("lan.", &[ROUTER], port)]);
    let request = ResolveRequest::new(
        Question::new(name("printer.lan."), RecordType::A),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    let (res, lines) = recursor.trace(request).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    let text = lines.join("\n");
    assert!(
        text.contains("forward zone lan.: asking its forwarders"),
        "{text}"
    );
    assert!(text.contains("-> forwarder 127.53.8.1"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_forward_zone_set_live_takes_effect_and_drops_what_was_cached() {
    let internet = internet();
    let port = internet.port();
    let recursor = recursor_with(&internet, config_for(&internet));
    // Before: the root says `lan.` does not exist, and that is cached.
    let before = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(before.rcode, ResponseCode::NXDomain);
    recursor.set_routing(Routing {
        forward_zones: vec![forward("lan.", &[ROUTER], port)],
        ..Routing::default()
    });
    let after = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&after), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    assert!(!after.from_cache);
    // And removed again: back to the root.
    recursor.set_routing(Routing::default());
    let root_before = asked(&internet, ROOT_SERVER);
    let gone = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(gone.rcode, ResponseCode::NXDomain);
    assert!(!gone.from_cache);
    assert!(asked(&internet, ROOT_SERVER) > root_before);
}
