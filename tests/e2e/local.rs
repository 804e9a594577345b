//! Local zones through the real binary: default zones, local data and the four zone kinds are
//! answered by scoped itself, and the loopback authoritatives hear nothing of them.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{RData, RecordType};
use scoped_testkit::multi::four_nameservers;
use scoped_testkit::{name, standard_internet};

use crate::lab::{Lab, query};

async fn ask(lab: &Lab, qname: &str, qtype: RecordType) -> Message {
    lab.udp(&query(1, qname, qtype, Some(1232))).await
}

/// A negative answer made here: `rcode`, AA, no answer, the SOA of `zone`.
fn assert_local_negative(response: &Message, rcode: ResponseCode, zone: &str) {
    assert_eq!(response.metadata.response_code, rcode, "{response:?}");
    assert!(response.metadata.authoritative, "AA on a local answer");
    assert!(response.answers.is_empty());
    assert_eq!(response.authorities.len(), 1);
    assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(response.authorities[0].name, name(zone));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_zones_are_answered_without_a_single_upstream_query() {
    let lab = Lab::start(standard_internet()).await;
    let a = ask(&lab, "localhost.", RecordType::A).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(a.metadata.authoritative);
    assert_eq!(a.answers[0].data, RData::A(A(Ipv4Addr::LOCALHOST)));
    let aaaa = ask(&lab, "localhost.", RecordType::AAAA).await;
    assert_eq!(aaaa.answers[0].data, RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)));
    let ptr = ask(&lab, "1.0.0.127.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(ptr.answers[0].data, RData::PTR(PTR(name("localhost."))));
    // 10.in-addr.arpa. itself holds the zone's SOA and NS: NODATA; every name below: NXDOMAIN.
    let apex = ask(&lab, "10.in-addr.arpa.", RecordType::PTR).await;
    assert_local_negative(&apex, ResponseCode::NoError, "10.in-addr.arpa.");
    let private = ask(&lab, "4.3.2.10.in-addr.arpa.", RecordType::PTR).await;
    assert_local_negative(&private, ResponseCode::NXDomain, "10.in-addr.arpa.");
    let invalid = ask(&lab, "www.invalid.", RecordType::A).await;
    assert_local_negative(&invalid, ResponseCode::NXDomain, "invalid.");
    let bare = ask(&lab, "invalid.", RecordType::A).await;
    assert_local_negative(&bare, ResponseCode::NoError, "invalid.");
    for (qname, zone) in [
        ("a.test.", "test."),
        ("x.onion.", "onion."),
        ("nas.home.arpa.", "home.arpa."),
    ] {
        assert_local_negative(
            &ask(&lab, qname, RecordType::A).await,
            ResponseCode::NXDomain,
            zone,
        );
    }
    // Over TCP too.
    let tcp = lab
        .tcp(&[query(2, "localhost.", RecordType::A, None)])
        .await;
    assert_eq!(tcp[0].answers[0].data, RData::A(A(Ipv4Addr::LOCALHOST)));
    assert_eq!(
        lab.internet().total_queries(),
        0,
        "no authoritative heard any of it: {:?}",
        lab.internet().query_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodefault_lets_names_under_test_resolve_upstream() {
    let blocked = Lab::start(four_nameservers([Duration::ZERO; 4])).await;
    let response = ask(&blocked, "www.multi.test.", RecordType::A).await;
    assert_local_negative(&response, ResponseCode::NXDomain, "test.");
    assert_eq!(blocked.internet().total_queries(), 0);

    let open = Lab::start_with(four_nameservers([Duration::ZERO; 4]), |config| {
        let mut local = toml::Table::new();
        local.insert("nodefault".into(), vec!["test."].into());
        config.insert("local".into(), local.into());
    })
    .await;
    let response = ask(&open, "www.multi.test.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(!response.metadata.authoritative, "resolved, not local");
    assert_eq!(
        response.answers[0].data,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert!(open.internet().total_queries() > 0);
    // The other default zones stay on.
    let invalid = ask(&open, "www.invalid.", RecordType::A).await;
    assert_eq!(invalid.metadata.response_code, ResponseCode::NXDomain);
}

const LOCAL_SECTION: &str = r#"
zones = [
    "ads.example.com. always-nxdomain",
    { name = "corp.example.", type = "static" },
    "example.net. transparent",
    "example.org. refuse",
]
records = [
    "printer.home.arpa. 300 IN A 192.168.1.20",
    "www.corp.example. A 10.0.0.1",
    "printer.example.net. 60 A 10.0.0.2",
    "track.ads.example.com. A 10.0.0.3",
]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_data_and_the_four_zone_kinds_answer_without_upstream_queries() {
    let lab = Lab::start_with(standard_internet(), |config| {
        config.insert(
            "local".into(),
            LOCAL_SECTION.parse::<toml::Table>().unwrap().into(),
        );
    })
    .await;
    let a = |response: &Message| match response.answers.first().map(|r| &r.data) {
        Some(RData::A(A(ip))) => Some(*ip),
        _ => None,
    };
    let printer = ask(&lab, "printer.home.arpa.", RecordType::A).await;
    assert_eq!(a(&printer), Some(Ipv4Addr::new(192, 168, 1, 20)));
    assert_eq!(printer.answers[0].ttl, 300);
    assert!(printer.metadata.authoritative);
    let nodata = ask(&lab, "printer.home.arpa.", RecordType::AAAA).await;
    assert_local_negative(&nodata, ResponseCode::NoError, "home.arpa.");
    // static
    assert_eq!(
        a(&ask(&lab, "www.corp.example.", RecordType::A).await),
        Some(Ipv4Addr::new(10, 0, 0, 1))
    );
    let missing = ask(&lab, "mail.corp.example.", RecordType::A).await;
    assert_local_negative(&missing, ResponseCode::NXDomain, "corp.example.");
    // transparent: its data
    assert_eq!(
        a(&ask(&lab, "printer.example.net.", RecordType::A).await),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );
    // refuse
    let refused = ask(&lab, "www.failover.example.org.", RecordType::A).await;
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    // always-nxdomain, local data or not
    for qname in ["ads.example.com.", "track.ads.example.com."] {
        let blocked = ask(&lab, qname, RecordType::A).await;
        assert_local_negative(&blocked, ResponseCode::NXDomain, "ads.example.com.");
    }
    assert_eq!(
        lab.internet().total_queries(),
        0,
        "{:?}",
        lab.internet().query_log()
    );

    // transparent: a name without local data is resolved as usual, and so is the rest.
    let www = ask(&lab, "www.example.net.", RecordType::A).await;
    assert_eq!(a(&www), Some(Ipv4Addr::new(192, 0, 2, 20)));
    assert!(!www.metadata.authoritative);
    assert_eq!(
        a(&ask(&lab, "www.example.com.", RecordType::A).await),
        Some(Ipv4Addr::new(192, 0, 2, 10))
    );
    assert!(lab.internet().total_queries() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_shows_a_local_answer_and_asks_no_one() {
    let dir = std::env::temp_dir().join(format!("scoped-e2e-trace-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("resolver.toml");
    // No root hints at all: a trace that tried to resolve would have no server to ask.
    std::fs::write(
        &config_path,
        "[local]\nrecords = [\"printer.home.arpa. 300 IN A 192.168.1.20\"]\n",
    )
    .unwrap();
    let trace = |args: &'static [&'static str]| {
        let config_path = config_path.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_scoped"))
                .arg("trace")
                .args(args)
                .arg("--config")
                .arg(config_path)
                .output()
                .unwrap()
        })
    };
    let out = trace(&["printer.home.arpa", "A"]).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let configuration = format!(";; configuration {}", config_path.display());
    assert_eq!(
        lines,
        [
            configuration.as_str(),
            ";; printer.home.arpa. A: answered by the local zone home.arpa. (static); no upstream query",
            ";; No Error, scope 0",
            "printer.home.arpa. 300 IN A 192.168.1.20",
        ]
    );
    let out = trace(&["www.invalid", "A"]).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("local zone invalid. (static)"), "{stdout}");
    assert!(
        stdout.contains(";; Non-Existent Domain, scope 0"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_shows_a_dns64_ptr_for_a_private_address_answered_locally() {
    let dir = std::env::temp_dir().join(format!("scoped-e2e-trace-dns64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("resolver.toml");
    // No root hints at all: a trace that tried to resolve would have no server to ask.
    std::fs::write(&config_path, "[dns64]\nenabled = true\n").unwrap();
    // 64:ff9b::192.168.1.20
    let qname = "4.1.1.0.8.a.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa";
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_scoped"))
            .args(["trace", qname, "PTR", "--config"])
            .arg(config_path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("CNAME to 20.1.168.192.in-addr.arpa."),
        "{stdout}"
    );
    assert!(
        stdout.contains("answered by the local zone 168.192.in-addr.arpa.")
            && stdout.contains("no upstream query"),
        "{stdout}"
    );
    assert!(
        stdout.contains(";; Non-Existent Domain, scope 0"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
