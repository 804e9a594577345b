//! Forward zones through the real binary, and a reload (SIGHUP) that changes local data, DNS64,
//! stub and forward zones while the resolver serves.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};
use scoped_testkit::standard::standard_builder;
use scoped_testkit::{Behaviour, DotOptions, DotServer, Internet};

use crate::lab::{Lab, query};

/// The router: a recursive forwarder that knows the LAN's names.
const ROUTER: &str = "127.53.8.1";

const LAN: &str = "
@        86400 IN SOA router.lan. hostmaster.lan. 1 1800 900 604800 300
@        86400 IN NS  router
router   86400 IN A   192.168.1.1
printer  300   IN A   192.168.1.20
";

/// The standard internet and a router that resolves `lan.` (which the root does not know).
fn internet() -> Internet {
    let mut b = standard_builder();
    b.zone("lan.", LAN);
    let router = Behaviour {
        recursive: true,
        ..Behaviour::default()
    };
    b.server_with(ROUTER.parse().unwrap(), &["lan."], router);
    b.build().unwrap()
}

fn asked(lab: &Lab, server: &str) -> usize {
    let server: IpAddr = server.parse().unwrap();
    lab.internet()
        .query_log()
        .iter()
        .filter(|q| q.server.ip() == server)
        .count()
}

fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

fn forward_lan(config: &mut toml::Table) {
    let port = config["recursion"]["upstream-port"].as_integer().unwrap();
    let mut zone = toml::Table::new();
    zone.insert("name".into(), "lan.".into());
    zone.insert("addresses".into(), vec![format!("{ROUTER}:{port}")].into());
    config.insert(
        "forward-zones".into(),
        vec![toml::Value::Table(zone)].into(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_zone_is_answered_by_its_forwarder_and_the_root_never_hears_of_it() {
    let lab = Lab::start_with(internet(), forward_lan).await;
    let response = lab
        .udp(&query(1, "printer.lan.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    assert!(!response.metadata.authoritative);
    let to_router = lab.internet().query_log();
    assert!(
        to_router
            .iter()
            .filter(|q| q.server.ip().to_string() == ROUTER)
            .all(|q| q.message().unwrap().metadata.recursion_desired),
        "RD=1 towards the forwarder"
    );
    assert_eq!(asked(&lab, ROUTER), 1);
    assert_eq!(asked(&lab, "127.53.0.1"), 0, "the root was asked");
    // Other names are iterated as usual.
    let www = lab
        .udp(&query(2, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(www.metadata.response_code, ResponseCode::NoError);
    assert_eq!(asked(&lab, ROUTER), 1);
}

/// The router also speaks DNS over TLS, with a certificate for its name made now (trusted
/// through tls-ca-file, as an internal CA would be).
async fn router_dot(internet: &Internet) -> DotServer {
    internet
        .serve_dot(
            ROUTER.parse().unwrap(),
            &["router.lan.example"],
            DotOptions::default(),
        )
        .await
        .expect("DoT server")
}

/// `lan.` forwarded over DNS over TLS to `dot`, checking `tls_name`, trusting `corp-ca.pem`.
fn forward_lan_over_tls(config: &mut toml::Table, dot: &DotServer, tls_name: &str) {
    let zone: toml::Table = format!(
        "name = \"lan.\"\naddresses = [\"{}\"]\ntls-name = \"{tls_name}\"\n\
         tls-ca-file = \"corp-ca.pem\"",
        dot.addr()
    )
    .parse()
    .unwrap();
    config.insert(
        "forward-zones".into(),
        vec![toml::Value::Table(zone)].into(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_zone_with_tls_name_is_forwarded_over_dns_over_tls() {
    let internet = internet();
    let dot = router_dot(&internet).await;
    let files = [("corp-ca.pem", dot.certificate_pem())];
    let lab = Lab::start_with_files(internet, &files, |config| {
        forward_lan_over_tls(config, &dot, "router.lan.example");
        let control: toml::Table = "enabled = true\nlisten = [\"127.0.0.1:0\"]"
            .parse()
            .unwrap();
        config.insert("control".into(), control.into());
    })
    .await;
    let response = lab
        .udp(&query(1, "printer.lan.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    // The router heard it over TLS only: its UDP and TCP ports never did.
    assert_eq!((dot.accepts(), dot.queries()), (1, 1));
    assert_eq!(asked(&lab, ROUTER), 1);
    assert!(
        lab.internet()
            .query_log()
            .iter()
            .all(|q| q.server == dot.addr()),
        "{:?}",
        lab.internet().query_log()
    );
    // Another name: the same connection.
    let again = lab
        .udp(&query(2, "router.lan.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(a_records(&again), vec![Ipv4Addr::new(192, 168, 1, 1)]);
    assert_eq!((dot.accepts(), dot.queries()), (1, 2));
    assert_eq!(lab.counter("engine", "forward_tls_connections").await, 1);
    assert_eq!(lab.counter("engine", "forward_tls_reused").await, 1);
}

/// Polls `check` until it holds (a reload is applied asynchronously), for at most 10 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_local_data_dns64_and_forward_zones_live() {
    let mut started = toml::Table::new();
    let lab = Lab::start_with(internet(), |config| {
        started = config.clone();
    })
    .await;
    // Before: `lan.` is unknown to the root; no local data for `nas.home.arpa.`; no DNS64.
    let printer = lab
        .udp(&query(1, "printer.lan.", RecordType::A, None))
        .await;
    assert_eq!(printer.metadata.response_code, ResponseCode::NXDomain);
    let nas = lab
        .udp(&query(2, "nas.home.arpa.", RecordType::A, None))
        .await;
    assert_eq!(nas.metadata.response_code, ResponseCode::NXDomain);

    let mut reloaded = started.clone();
    forward_lan(&mut reloaded);
    let local: toml::Table = "records = [\"nas.home.arpa. 300 IN A 192.168.1.30\"]"
        .parse()
        .unwrap();
    reloaded.insert("local".into(), local.into());
    let dns64: toml::Table = "enabled = true".parse().unwrap();
    reloaded.insert("dns64".into(), dns64.into());
    lab.write_file("resolver.toml", &toml::to_string(&reloaded).unwrap());
    lab.sighup();
    let mut id = 10;
    eventually("local data after SIGHUP", async || {
        id += 1;
        let nas = lab
            .udp(&query(id, "nas.home.arpa.", RecordType::A, None))
            .await;
        a_records(&nas) == vec![Ipv4Addr::new(192, 168, 1, 30)]
    })
    .await;
    // The forward zone is in force, and the NXDOMAIN cached before is gone.
    let printer = lab
        .udp(&query(3, "printer.lan.", RecordType::A, None))
        .await;
    assert_eq!(a_records(&printer), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    assert_eq!(asked(&lab, ROUTER), 1);
    // DNS64 is on: a name with only an A record gets a synthesised AAAA under 64:ff9b::/96.
    let aaaa = lab
        .udp(&query(4, "printer.lan.", RecordType::AAAA, None))
        .await;
    let synthesised: Vec<String> = aaaa
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::AAAA)
        .map(|r| r.data.to_string())
        .collect();
    assert_eq!(synthesised, vec!["64:ff9b::c0a8:114".to_string()]);
    assert!(
        !lab.stderr().contains("applied only by a restart"),
        "{}",
        lab.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_puts_a_new_tls_name_in_force() {
    let internet = internet();
    let dot = router_dot(&internet).await;
    let files = [("corp-ca.pem", dot.certificate_pem())];
    let mut started = toml::Table::new();
    let lab = Lab::start_with_files(internet, &files, |config| {
        // A name the router's certificate does not carry: it fails the handshake.
        forward_lan_over_tls(config, &dot, "wrong.lan.example");
        started = config.clone();
    })
    .await;
    let refused = lab
        .udp(&query(1, "printer.lan.", RecordType::A, None))
        .await;
    assert_eq!(refused.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        dot.queries(),
        0,
        "nothing sent to a forwarder that failed the check"
    );
    assert!(
        lab.stderr().contains("handshake failed"),
        "{}",
        lab.stderr()
    );
    assert!(lab.internet().query_log().is_empty(), "nothing in clear");

    let mut reloaded = started.clone();
    forward_lan_over_tls(&mut reloaded, &dot, "router.lan.example");
    lab.write_file("resolver.toml", &toml::to_string(&reloaded).unwrap());
    lab.sighup();
    let mut id = 10;
    eventually("the new tls-name after SIGHUP", async || {
        id += 1;
        let printer = lab
            .udp(&query(id, "printer.lan.", RecordType::A, None))
            .await;
        a_records(&printer) == vec![Ipv4Addr::new(192, 168, 1, 20)]
    })
    .await;
    assert_eq!(dot.queries(), 1);
}
