//! DNS over TLS to forwarders (`tls-name`): a forward zone's questions go to a real DoT server on
//! loopback (tokio-rustls, a certificate made for the test), never in clear text; one connection
//! per forwarder carries concurrent queries; a closed connection is opened again.
//!
//! These run on real time (real sockets: tokio's paused clock would jump past the handshakes);
//! every wait is bounded by the engine's own timeouts.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::Protocol;
use scoped_recursor::{
    ConnectionLimits, EDE_NO_REACHABLE_AUTHORITY, ForwardTls, ForwardZone, Question, Recursor,
    RecursorConfig, ResolveRequest, Routing,
};
use scoped_testkit::engine::{a_records, ask, ask_from, config_for, recursor_with};
use scoped_testkit::{Behaviour, DotOptions, DotServer, Internet, InternetBuilder, name};

use super::{ROOT, stat};

/// The forwarder: a recursive resolver that knows `lan.`, served over DoT on this address.
const ROUTER: &str = "127.53.18.1";
const ROOT_SERVER: &str = "127.53.0.1";
/// The name in the forwarder's certificate.
const TLS_NAME: &str = "dns.corp.example";

const LAN: &str = "
@        86400 IN SOA router.lan. hostmaster.lan. 1 1800 900 604800 300
@        86400 IN NS  router
router   86400 IN A   192.168.1.1
printer  300   IN A   192.168.1.20
nas      300   IN A   192.168.1.30
tv       300   IN A   192.168.1.40
phone    300   IN A   192.168.1.50
";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn internet() -> Internet {
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT).zone("lan.", LAN);
    b.server(ip(ROOT_SERVER), &["."]).server_with(
        ip(ROUTER),
        &["lan."],
        Behaviour {
            recursive: true,
            ..Behaviour::default()
        },
    );
    b.build().unwrap()
}

/// `lan.` forwarded over DoT to `dot`, its certificate checked against `tls_name`.
fn zone(dot: &DotServer, tls_name: &str) -> ForwardZone {
    zone_with(dot, tls_name, ConnectionLimits::default())
}

fn zone_with(dot: &DotServer, tls_name: &str, limits: ConnectionLimits) -> ForwardZone {
    let tls = ForwardTls::with_limits(tls_name, vec![dot.certificate()], limits).unwrap();
    ForwardZone {
        name: name("lan."),
        servers: vec![dot.addr()],
        tls: Some(tls),
    }
}

async fn lab(options: DotOptions, tls_name: &str) -> (Internet, DotServer, Recursor) {
    lab_with(options, tls_name, ConnectionLimits::default()).await
}

async fn lab_with(
    options: DotOptions,
    tls_name: &str,
    limits: ConnectionLimits,
) -> (Internet, DotServer, Recursor) {
    let internet = internet();
    let dot = internet
        .serve_dot(ip(ROUTER), &[TLS_NAME], options)
        .await
        .unwrap();
    let mut config = RecursorConfig {
        forward_zones: vec![zone_with(&dot, tls_name, limits)],
        query_timeout: Duration::from_secs(2),
        ..config_for(&internet)
    };
    config.infra.max_background_per_query = 0;
    let recursor = recursor_with(&internet, config);
    (internet, dot, recursor)
}

/// The queries the forwarder got, over any transport.
fn to_router(internet: &Internet) -> Vec<Protocol> {
    let log = internet.query_log();
    log.iter()
        .filter(|q| q.server.ip() == ip(ROUTER))
        .map(|q| q.protocol)
        .collect()
}

#[tokio::test]
async fn a_forward_zone_with_tls_name_is_answered_over_tls() {
    let (internet, dot, recursor) = lab(DotOptions::default(), TLS_NAME).await;
    let request = ResolveRequest::new(
        Question::new(name("printer.lan."), RecordType::A),
        ip("192.0.2.7"),
    );
    let (res, lines) = recursor.trace(request).await;
    assert_eq!(res.rcode, ResponseCode::NoError, "{res:?} {lines:#?}");
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    assert_eq!((dot.accepts(), dot.queries()), (1, 1));
    // Only the DoT server heard it (it logs as a stream), with RD=1; the root never.
    assert_eq!(to_router(&internet), vec![Protocol::Tcp]);
    let logged = &internet.query_log()[0];
    assert!(logged.message().unwrap().metadata.recursion_desired);
    assert_eq!(internet.total_queries(), 1);
    assert_eq!(stat(&recursor, |s| &s.forward_tls_connections), 1);
    // The trace names the transport and the name checked.
    let text = lines.join("\n");
    assert!(
        text.contains(&format!("DNS over TLS, certificate name {TLS_NAME}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("forwarder {} over TLS", dot.addr())),
        "{text}"
    );
    // The second question goes on the same connection.
    let nas = ask(&recursor, "nas.lan.", RecordType::A).await;
    assert_eq!(a_records(&nas), vec![Ipv4Addr::new(192, 168, 1, 30)]);
    assert_eq!((dot.accepts(), dot.queries()), (1, 2));
    assert_eq!(stat(&recursor, |s| &s.forward_tls_reused), 1);
}

#[tokio::test]
async fn a_certificate_for_another_name_fails_the_forwarder_and_nothing_goes_in_clear() {
    let (internet, dot, recursor) = lab(DotOptions::default(), "other.example").await;
    let res = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail, "{res:?}");
    let ede = res.ede.expect("an EDE with the SERVFAIL");
    assert_eq!(ede.code, EDE_NO_REACHABLE_AUTHORITY);
    assert!(ede.text.contains("lan."), "{}", ede.text);
    // The handshake was tried and refused; no query was read, none went anywhere in clear.
    assert!(dot.accepts() >= 1);
    assert_eq!(dot.queries(), 0);
    assert_eq!(internet.total_queries(), 0, "{:?}", internet.query_log());
    assert!(stat(&recursor, |s| &s.forward_tls_handshake_failures) >= 1);
    assert_eq!(stat(&recursor, |s| &s.forward_tls_connections), 0);
}

#[tokio::test]
async fn concurrent_queries_are_pipelined_on_one_connection_and_matched_by_id() {
    // The forwarder holds its replies until four queries have come on the connection, then
    // answers them last-first: only a client that pipelines on one connection and matches
    // replies by ID gets its four answers.
    let (_internet, dot, recursor) = lab(DotOptions { batch: 4 }, TLS_NAME).await;
    let names = ["printer.lan.", "nas.lan.", "tv.lan.", "phone.lan."];
    let answers =
        futures::future::join_all(names.iter().map(|name| ask(&recursor, name, RecordType::A)))
            .await;
    let got: Vec<_> = answers.iter().map(a_records).collect();
    let want: Vec<_> = [20, 30, 40, 50]
        .iter()
        .map(|last| vec![Ipv4Addr::new(192, 168, 1, *last)])
        .collect();
    assert_eq!(got, want);
    assert_eq!((dot.accepts(), dot.queries()), (1, 4));
    assert_eq!(stat(&recursor, |s| &s.forward_tls_connections), 1);
}

#[tokio::test]
async fn a_connection_the_forwarder_closed_is_opened_again() {
    let (_internet, dot, recursor) = lab(DotOptions::default(), TLS_NAME).await;
    let first = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&first), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    dot.close_connections();
    // Asked at once: the close may cross the query, which is then sent again on a new
    // connection; either way it is answered.
    let second = ask(&recursor, "nas.lan.", RecordType::A).await;
    assert_eq!(a_records(&second), vec![Ipv4Addr::new(192, 168, 1, 30)]);
    assert_eq!(dot.accepts(), 2);
    assert_eq!(stat(&recursor, |s| &s.forward_tls_connections), 2);
    // rustls kept the session: the second handshake resumed it.
    assert_eq!(stat(&recursor, |s| &s.forward_tls_resumed), 1);
}

#[tokio::test]
async fn a_reload_keeps_an_unchanged_connection_and_applies_a_new_tls_name() {
    let (_internet, dot, recursor) = lab(DotOptions::default(), TLS_NAME).await;
    let first = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&first), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    let routing = |tls_name: &str| Routing {
        forward_zones: vec![zone(&dot, tls_name)],
        ..Routing::default()
    };
    // The same setting again: the open connection carries on.
    recursor.set_routing(routing(TLS_NAME));
    let before = recursor.routing().forward_zones[0].tls.clone().unwrap();
    let nas = ask(&recursor, "nas.lan.", RecordType::A).await;
    assert_eq!(a_records(&nas), vec![Ipv4Addr::new(192, 168, 1, 30)]);
    assert_eq!(dot.accepts(), 1);
    recursor.set_routing(routing(TLS_NAME));
    let after = recursor.routing().forward_zones[0].tls.clone().unwrap();
    assert!(after.same_connections(&before));
    // Another name: in force at once, and the forwarder's certificate no longer passes (the
    // zone's cached answers were flushed with the change).
    recursor.set_routing(routing("other.example"));
    let res = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail, "{res:?}");
    assert_eq!(dot.queries(), 2);
}

/// Waits (at most 10 s, polling) until `check` holds.
async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_the_next_query_opens_another() {
    let limits = ConnectionLimits {
        idle_timeout: Duration::from_millis(200),
        ..ConnectionLimits::default()
    };
    let (_internet, dot, recursor) = lab_with(DotOptions::default(), TLS_NAME, limits).await;
    let first = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&first), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    // Nothing outstanding: we close it ourselves after the idle timeout.
    until("the idle connection closed", || dot.closed_by_client() == 1).await;
    let second = ask(&recursor, "nas.lan.", RecordType::A).await;
    assert_eq!(a_records(&second), vec![Ipv4Addr::new(192, 168, 1, 30)]);
    assert_eq!(dot.accepts(), 2);
}

#[tokio::test]
async fn queries_beyond_the_outstanding_limit_wait_for_a_reply() {
    let limits = ConnectionLimits {
        max_outstanding: 2,
        ..ConnectionLimits::default()
    };
    let (internet, dot, recursor) = lab_with(DotOptions::default(), TLS_NAME, limits).await;
    // Slow replies, so that queries pile up on the connection.
    internet
        .server(ip(ROUTER))
        .unwrap()
        .set_delay(Duration::from_millis(100));
    let names = [
        "printer.lan.",
        "nas.lan.",
        "tv.lan.",
        "phone.lan.",
        "router.lan.",
    ];
    let answers =
        futures::future::join_all(names.iter().map(|n| ask(&recursor, n, RecordType::A))).await;
    assert!(
        answers.iter().all(|a| a_records(a).len() == 1),
        "{answers:?}"
    );
    // Two at a time on the one connection, never more.
    assert_eq!(dot.max_outstanding(), 2);
    assert_eq!((dot.accepts(), dot.queries()), (1, 5));
}

#[tokio::test]
async fn a_forwarder_that_stops_answering_costs_a_bounded_wait_and_its_connection() {
    let (internet, dot, recursor) = lab(DotOptions::default(), TLS_NAME).await;
    let first = ask(&recursor, "printer.lan.", RecordType::A).await;
    assert_eq!(a_records(&first), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    // The connection stays open but nothing comes back on it: the question fails within its
    // time budget (2 s here) with EDE 22, and the connection is given up.
    internet.server(ip(ROUTER)).unwrap().set_dead(true);
    let res = ask(&recursor, "nas.lan.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail, "{res:?}");
    assert_eq!(res.ede.map(|e| e.code), Some(EDE_NO_REACHABLE_AUTHORITY));
    until("the silent connection closed", || {
        dot.closed_by_client() == 1
    })
    .await;
    // Answering again: a new connection.
    internet.server(ip(ROUTER)).unwrap().set_dead(false);
    let tv = ask(&recursor, "tv.lan.", RecordType::A).await;
    assert_eq!(a_records(&tv), vec![Ipv4Addr::new(192, 168, 1, 40)]);
    assert_eq!(dot.accepts(), 2);
}

#[tokio::test]
async fn ecs_goes_over_tls_only_to_an_allowlisted_forwarder_address() {
    let subnet: ipnet::IpNet = "198.51.100.0/24".parse().unwrap();
    for (allowlist, expect_ecs) in [("", false), ("lan.", false), ("127.53.18.1/32", true)] {
        let internet = internet();
        let dot = internet
            .serve_dot(ip(ROUTER), &[TLS_NAME], DotOptions::default())
            .await
            .unwrap();
        let config = RecursorConfig {
            forward_zones: vec![zone(&dot, TLS_NAME)],
            ecs_allowlist: scoped_ecs::Allowlist::parse(allowlist).unwrap(),
            ..config_for(&internet)
        };
        let recursor = recursor_with(&internet, config);
        let res = ask_from(&recursor, "printer.lan.", RecordType::A, Some(subnet)).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 168, 1, 20)]);
        let log = internet.query_log();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].server, dot.addr());
        assert_eq!(
            log[0].client_subnet().is_some(),
            expect_ecs,
            "allowlist {allowlist:?}: {log:?}"
        );
    }
}
