//! ECS end to end (RFC 7871 as `shared/ecs-rfc7871.md` numbers it): the real binary, configured
//! through `resolver.toml` and its allowlist file, on real loopback sockets, against the testkit's
//! CDN fixture (`scoped_testkit::cdn`). Each test is named after the rules it checks.
//!
//! Clients are 127.x.y.z sockets. With the built-in non-routable list they are private (E05);
//! tests that need a "public" client set `non-routable` to a list without 127.0.0.0/8, so each
//! source address stands for a different client network. Documentation addresses appear only
//! inside ECS options, never as packet destinations.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use ipnet::IpNet;
use scoped_ecs::{DEFAULT_NON_ROUTABLE, Direction, Ecs, message_ecs, scan_opt};
use scoped_testkit::cdn::*;
use scoped_testkit::{EcsInternet, ecs_fixture, name};

use crate::lab::{Lab, ecs_query, query};

const ALLOWLIST: &str = "allowlist.txt";

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test prefix")
}

/// `[ecs]` from `ecs` (TOML body), the allowlist file `allowlist.txt` next to the config, and the
/// control endpoint off (labs run in parallel; its port is fixed).
fn configure(config: &mut toml::Table, ecs: &str) {
    let mut table: toml::Table = ecs.parse().expect("test [ecs] is valid TOML");
    table.insert("allowlist".into(), ALLOWLIST.into());
    config.insert("ecs".into(), toml::Value::Table(table));
    let control: toml::Table = "enabled = false".parse().expect("valid TOML");
    config.insert("control".into(), toml::Value::Table(control));
    // These tests count the queries each question sends the CDN; its second server measured in
    // the background would be one more (that is server selection's, tested with the engine).
    if let Some(toml::Value::Table(recursion)) = config.get_mut("recursion") {
        recursion.insert("background-measurements".into(), 0.into());
    }
}

/// A lab on the CDN fixture with `allowlist` as the allowlist file and `ecs` as the rest of `[ecs]`.
async fn cdn_lab(allowlist: &str, ecs: &str) -> (Lab, EcsInternet) {
    let fixture = ecs_fixture();
    let lab = Lab::start_with_files(
        fixture.internet.clone(),
        &[(ALLOWLIST, allowlist)],
        |config| configure(config, ecs),
    )
    .await;
    (lab, fixture)
}

/// 127.0.0.0/8 counts as routable: every loopback source is a client network of its own.
const LOOPBACK_ROUTABLE: &str = r#"non-routable = ["10.0.0.0/8"]"#;

/// The built-in non-routable list without the documentation ranges of the fixture's clients.
fn non_routable_without_documentation() -> String {
    let documentation = [
        net("192.0.2.0/24"),
        net("198.51.100.0/24"),
        net("203.0.113.0/24"),
        net("2001:db8::/32"),
    ];
    let kept: Vec<String> = DEFAULT_NON_ROUTABLE
        .iter()
        .filter(|n| !documentation.contains(n))
        .map(|n| format!("\"{n}\""))
        .collect();
    format!("non-routable = [{}]", kept.join(", "))
}

/// The A and AAAA addresses of an answer.
fn addrs(msg: &Message) -> Vec<IpAddr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

/// The OPT RDATA of a response exactly as sent (every option; `None`: no OPT).
fn opt_rdata(bytes: &[u8]) -> Option<Vec<u8>> {
    scan_opt(bytes)
        .expect("the response's OPT scans")
        .map(|opt| opt.rdata.to_vec())
}

/// The ECS option of a response, strictly parsed.
fn echo(bytes: &[u8]) -> Option<Ecs> {
    message_ecs(bytes, Direction::Response).expect("our echo is well formed")
}

/// The OPT RDATA holding one ECS option with `payload`.
fn ecs_rdata(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("short payload");
    [&[0u8, 8][..], &len.to_be_bytes(), payload].concat()
}

/// Send `msg` from `source`; the raw response and its parse.
async fn ask(lab: &Lab, source: IpAddr, msg: &Message) -> (Vec<u8>, Message) {
    let bytes = lab.udp_raw_from(source, &msg.to_vec().unwrap()).await;
    let parsed = Message::from_vec(&bytes).expect("parseable response");
    assert_eq!(parsed.metadata.id, msg.metadata.id, "ID echoed");
    (bytes, parsed)
}

/// The ECS options (strictly parsed) the CDN servers received for `qname`, in order. A malformed
/// option fails the test.
fn cdn_saw(fixture: &EcsInternet, qname: &str) -> Vec<Option<Ecs>> {
    fixture
        .internet
        .query_log()
        .into_iter()
        .filter(|e| [CDN_1, CDN_2].contains(&e.server.ip()) && e.qname == name(qname))
        .map(|e| {
            let strict = e.ecs();
            assert_eq!(
                strict.is_some(),
                e.client_subnet().is_some(),
                "every ECS we send is well formed (E02: no bits past SOURCE, exact length)"
            );
            strict
        })
        .collect()
}

/// No query to `server` carried an ECS option.
fn assert_no_ecs_to(fixture: &EcsInternet, server: IpAddr, what: &str) {
    let with_ecs: Vec<_> = fixture
        .internet
        .queries_with_ecs()
        .into_iter()
        .filter(|e| e.server.ip() == server)
        .map(|e| e.qname.to_string())
        .collect();
    assert!(
        with_ecs.is_empty(),
        "{what} ({server}) saw ECS: {with_ecs:?}"
    );
}

/// Poll `check` every 50 ms for up to 2 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 2 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e05_e23_private_clients_send_no_ecs_and_echo_scope_0() {
    // Default [ecs] (built-in non-routable list), the CDN allowlisted.
    let (lab, fixture) = cdn_lab("# the CDN\ncdn.example.\n", "").await;
    let tokyo_24 = [0u8, 1, 24, 0, 198, 51, 100];
    let (bytes, response) = ask(
        &lab,
        ip(127, 0, 0, 1),
        &ecs_query(0x0e05, WWW_CDN, RecordType::A, &tokyo_24),
    )
    .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        addrs(&response),
        vec![DEFAULT_EDGE_V4],
        "the CDN saw nobody"
    );
    assert_eq!(
        opt_rdata(&bytes),
        Some(ecs_rdata(&tokyo_24)),
        "E23: the option as sent, SCOPE 0"
    );
    let (bytes, response) = ask(
        &lab,
        ip(127, 1, 2, 3),
        &query(0x0e06, WWW_CDN, RecordType::AAAA, Some(1232)),
    )
    .await;
    assert_eq!(addrs(&response), vec![DEFAULT_EDGE_V6]);
    assert_eq!(
        opt_rdata(&bytes),
        Some(Vec::new()),
        "E23: no client ECS, no ECS back"
    );
    assert_eq!(cdn_saw(&fixture, WWW_CDN), vec![None, None], "asked, twice");
    assert!(
        fixture.internet.queries_with_ecs().is_empty(),
        "no ECS anywhere: 127.0.0.0/8 is private by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e01_e02_e04_each_client_24_goes_to_the_cdn_only_and_is_cached_apart() {
    let (lab, fixture) = cdn_lab("cdn.example.\n", LOOPBACK_ROUTABLE).await;
    let a = ip(127, 1, 2, 3);
    let a_neighbour = ip(127, 1, 2, 200);
    let b = ip(127, 9, 8, 7);

    let (bytes, first) = ask(&lab, a, &query(1, WWW_CDN, RecordType::A, Some(1232))).await;
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addrs(&first), vec![DEFAULT_EDGE_V4]);
    assert_eq!(opt_rdata(&bytes), Some(Vec::new()), "E23: no ECS asked for");
    let sent = cdn_saw(&fixture, WWW_CDN);
    assert_eq!(sent.len(), 1);
    let ecs = sent[0].expect("E01: the allowlisted CDN gets the subnet");
    assert_eq!(ecs.prefix(), net("127.1.2.0/24"), "E02: the source's /24");
    assert_eq!((ecs.source(), ecs.scope()), (24, 0), "E02, E04");

    // Same /24: served from the cache. Another /24: its own query.
    let total = fixture.internet.total_queries();
    let (_, hit) = ask(
        &lab,
        a_neighbour,
        &query(2, WWW_CDN, RecordType::A, Some(1232)),
    )
    .await;
    assert_eq!(addrs(&hit), vec![DEFAULT_EDGE_V4]);
    assert_eq!(
        fixture.internet.total_queries(),
        total,
        "E14: 127.1.2.200 is inside the cached 127.1.2.0/24"
    );
    let (_, other_24) = ask(&lab, b, &query(3, WWW_CDN, RecordType::A, None)).await;
    assert_eq!(addrs(&other_24), vec![DEFAULT_EDGE_V4]);
    let prefixes: Vec<_> = cdn_saw(&fixture, WWW_CDN)
        .into_iter()
        .map(|e| e.map(|e| (e.prefix(), e.scope())))
        .collect();
    assert_eq!(
        prefixes,
        vec![
            Some((net("127.1.2.0/24"), 0)),
            Some((net("127.9.8.0/24"), 0))
        ],
        "127.9.8.7 is not served 127.1.2.0/24's entry; nothing longer than /24 is ever sent"
    );

    // A zone that is not allowlisted, though its server tailors.
    let (_, other) = ask(&lab, a, &query(4, WWW_OTHER, RecordType::A, Some(1232))).await;
    assert_eq!(addrs(&other), vec![OTHER_DEFAULT_V4]);
    assert!(
        fixture.internet.query_count(OTHER) > 0,
        "other.example. was asked"
    );
    assert_no_ecs_to(&fixture, OTHER, "other.example.");
    assert!(fixture.internet.query_count(ECS_ROOT) > 0);
    assert_no_ecs_to(&fixture, ECS_ROOT, "the root");
    assert!(fixture.internet.query_count(ECS_TLD) > 0);
    assert_no_ecs_to(&fixture, ECS_TLD, "example.");
    for entry in fixture.internet.queries_with_ecs() {
        assert!(
            [CDN_1, CDN_2].contains(&entry.server.ip()),
            "ECS only to the CDN: {} to {}",
            entry.qname,
            entry.server
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e14_e19_wider_scope_is_shared_by_neighbouring_24s() {
    let (lab, fixture) = cdn_lab("cdn.example.\n", LOOPBACK_ROUTABLE).await;
    // wide.cdn.example. answers with SCOPE 16: 127.1.2.0/24's answer holds for 127.1.0.0/16.
    ask(
        &lab,
        ip(127, 1, 2, 3),
        &query(1, WIDE_CDN, RecordType::A, Some(1232)),
    )
    .await;
    let total = fixture.internet.total_queries();
    let (_, hit) = ask(
        &lab,
        ip(127, 1, 77, 1),
        &query(2, WIDE_CDN, RecordType::A, Some(1232)),
    )
    .await;
    assert_eq!(addrs(&hit), vec![DEFAULT_EDGE_V4]);
    assert_eq!(fixture.internet.total_queries(), total, "inside the /16");
    ask(
        &lab,
        ip(127, 2, 0, 1),
        &query(3, WIDE_CDN, RecordType::A, Some(1232)),
    )
    .await;
    let prefixes: Vec<_> = cdn_saw(&fixture, WIDE_CDN)
        .into_iter()
        .map(|e| e.map(|e| e.prefix()))
        .collect();
    assert_eq!(
        prefixes,
        vec![Some(net("127.1.2.0/24")), Some(net("127.2.0.0/24"))],
        "outside the /16: its own query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e08_e23_trusted_front_end_names_its_clients() {
    let ecs = format!(
        "{}\ntrusted-front-ends = [\"127.0.0.1/32\"]\n",
        non_routable_without_documentation()
    );
    let (lab, fixture) = cdn_lab("cdn.example.\n", &ecs).await;
    let front_end = ip(127, 0, 0, 1);
    // The front end speaks for the Tokyo client 198.51.100.7 (/32).
    let tokyo_32 = [0u8, 1, 32, 0, 198, 51, 100, 7];
    let tokyo = ecs_query(0x0e08, WWW_CDN, RecordType::A, &tokyo_32);
    let (miss_bytes, miss) = ask(&lab, front_end, &tokyo).await;
    assert_eq!(addrs(&miss), vec![TOKYO_EDGE_V4], "the Tokyo edge");
    let sent: Vec<_> = cdn_saw(&fixture, WWW_CDN)
        .into_iter()
        .map(|e| e.map(|e| (e.prefix(), e.source())))
        .collect();
    assert_eq!(
        sent,
        vec![Some((net("198.51.100.0/24"), 24))],
        "the client's address, truncated to /24 (E02)"
    );
    let expected = ecs_rdata(&[0, 1, 32, 24, 198, 51, 100, 7]);
    assert_eq!(
        opt_rdata(&miss_bytes),
        Some(expected.clone()),
        "E23: FAMILY, SOURCE 32, ADDRESS as sent; SCOPE 24 (capped at the /24 used)"
    );

    // The same question again: a cache hit with the same echo, byte for byte.
    let total = fixture.internet.total_queries();
    let (hit_bytes, hit) = ask(&lab, front_end, &tokyo).await;
    assert_eq!(fixture.internet.total_queries(), total, "served from cache");
    assert_eq!(addrs(&hit), vec![TOKYO_EDGE_V4]);
    assert_eq!(opt_rdata(&hit_bytes), Some(expected), "E23: hit == miss");

    // San Francisco through the same front end.
    let sf_32 = [0u8, 1, 32, 0, 203, 0, 113, 7];
    let (sf_bytes, sf) = ask(
        &lab,
        front_end,
        &ecs_query(0x0e09, WWW_CDN, RecordType::A, &sf_32),
    )
    .await;
    assert_eq!(addrs(&sf), vec![SF_EDGE_V4], "the San Francisco edge");
    assert_eq!(
        cdn_saw(&fixture, WWW_CDN)
            .last()
            .copied()
            .flatten()
            .map(|e| e.prefix()),
        Some(net("203.0.113.0/24"))
    );
    let sf_echo = echo(&sf_bytes).expect("echoed");
    assert_eq!(
        (sf_echo.addr(), sf_echo.source(), sf_echo.scope()),
        (ip(203, 0, 113, 7), 32, 24)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e08_e10_untrusted_client_ecs_only_shortens_its_own_prefix() {
    let (lab, fixture) = cdn_lab("cdn.example.\n", LOOPBACK_ROUTABLE).await;
    let client = ip(127, 1, 2, 3);
    // Claims to be the Tokyo client: not believed, the packet's own /24 is sent.
    let claim = [0u8, 1, 32, 0, 198, 51, 100, 7];
    let (bytes, response) = ask(&lab, client, &ecs_query(1, WWW_CDN, RecordType::A, &claim)).await;
    assert_eq!(
        addrs(&response),
        vec![DEFAULT_EDGE_V4],
        "not the Tokyo edge"
    );
    assert_eq!(
        opt_rdata(&bytes),
        Some(ecs_rdata(&[0, 1, 32, 24, 198, 51, 100, 7])),
        "E23: echoed as sent, SCOPE 24 (capped at the /24 used)"
    );
    // A /20 claim elsewhere: its length shortens ours (E10), its address is ignored.
    let shorter = [0u8, 1, 20, 0, 203, 0, 112];
    let (bytes, response) = ask(
        &lab,
        client,
        &ecs_query(2, WWW_CDN, RecordType::AAAA, &shorter),
    )
    .await;
    assert_eq!(addrs(&response), vec![DEFAULT_EDGE_V6]);
    let back = echo(&bytes).expect("echoed");
    assert_eq!(
        (back.addr(), back.source()),
        (ip(203, 0, 112, 0), 20),
        "E23: FAMILY, SOURCE, ADDRESS as sent"
    );
    assert!(
        back.scope() <= 20,
        "E23: SCOPE capped at the SOURCE used: {}",
        back.scope()
    );
    let sent: Vec<_> = cdn_saw(&fixture, WWW_CDN)
        .into_iter()
        .map(|e| e.map(|e| e.prefix()))
        .collect();
    assert_eq!(
        sent,
        vec![Some(net("127.1.2.0/24")), Some(net("127.1.0.0/20"))],
        "only ever the client's own address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e09_e20_source_zero_sends_no_address_and_uses_only_unaddressed_entries() {
    let (lab, fixture) = cdn_lab("cdn.example.\n", LOOPBACK_ROUTABLE).await;
    let a = ip(127, 1, 2, 3);
    // A tailored entry for 127.1.2.0/24 first.
    ask(&lab, a, &query(1, WWW_CDN, RecordType::A, Some(1232))).await;
    let opt_out = [0u8, 1, 0, 0];
    let (bytes, response) = ask(&lab, a, &ecs_query(2, WWW_CDN, RecordType::A, &opt_out)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addrs(&response), vec![DEFAULT_EDGE_V4]);
    assert_eq!(
        opt_rdata(&bytes),
        Some(ecs_rdata(&opt_out)),
        "E23: SOURCE 0, SCOPE 0"
    );
    let sent = cdn_saw(&fixture, WWW_CDN);
    assert_eq!(sent.len(), 2, "E09/E20: not answered from the /24 entry");
    assert!(
        sent[1].is_none_or(|e| e.source() == 0),
        "no address upstream: {:?}",
        sent[1]
    );
    // Another opting-out client: the unaddressed entry serves it.
    let total = fixture.internet.total_queries();
    let (bytes, _) = ask(
        &lab,
        ip(127, 9, 8, 7),
        &ecs_query(3, WWW_CDN, RecordType::A, &opt_out),
    )
    .await;
    assert_eq!(fixture.internet.total_queries(), total, "cache hit");
    assert_eq!(opt_rdata(&bytes), Some(ecs_rdata(&opt_out)));
    // A client with an address is not served the unaddressed entry (E20).
    ask(
        &lab,
        ip(127, 5, 5, 5),
        &query(4, WWW_CDN, RecordType::A, Some(1232)),
    )
    .await;
    assert_eq!(
        cdn_saw(&fixture, WWW_CDN)
            .last()
            .copied()
            .flatten()
            .map(|e| e.prefix()),
        Some(net("127.5.5.0/24"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e07_malformed_client_ecs_is_formerr_with_the_client_id() {
    let (lab, fixture) = cdn_lab("cdn.example.\n", LOOPBACK_ROUTABLE).await;
    for (id, payload, what) in [
        (
            0xe071u16,
            &[0u8, 1, 22, 0, 198, 51, 101][..],
            "bits past SOURCE",
        ),
        (0xe072, &[0, 1, 24, 24, 198, 51, 100], "SCOPE in a query"),
        (0xe073, &[0, 3, 24, 0, 198, 51, 100], "FAMILY 3"),
        (0xe074, &[0, 1, 24, 0, 198, 51], "ADDRESS one octet short"),
        (0xe075, &[0, 1, 33, 0, 198, 51, 100, 7, 0], "SOURCE 33"),
    ] {
        let wire = ecs_query(id, WWW_CDN, RecordType::A, payload)
            .to_vec()
            .unwrap();
        let bytes = lab.udp_raw_from(ip(127, 1, 2, 3), &wire).await;
        let response = Message::from_vec(&bytes).expect("a parseable FORMERR");
        assert_eq!(response.metadata.id, id, "{what}: the client's ID");
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::FormErr,
            "{what}"
        );
        assert_eq!(echo(&bytes), None, "{what}: the bad option is not echoed");
    }
    assert_eq!(fixture.internet.total_queries(), 0, "nothing went upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e01_allowlist_reloads_on_sighup_and_a_bad_file_keeps_the_old_one() {
    let (lab, fixture) = cdn_lab("", LOOPBACK_ROUTABLE).await;
    let client = ip(127, 1, 2, 3);
    // Every probe is a new name, so no cached answer hides what is sent.
    let mut probes = 0u16;
    let mut probe = async || {
        probes += 1;
        let qname = format!("probe-{probes}.cdn.example.");
        let (_, response) = ask(&lab, client, &query(probes, &qname, RecordType::A, None)).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
        cdn_saw(&fixture, &qname)
    };
    let sent = probe().await;
    assert_eq!(sent, vec![None], "empty allowlist: asked without ECS");

    lab.write_file(ALLOWLIST, "# reloaded\ncdn.example.\n");
    lab.sighup();
    eventually("ECS sent after SIGHUP", async || {
        probe().await.iter().all(Option::is_some)
    })
    .await;

    lab.write_file(ALLOWLIST, "cdn.example.\n192.0.2.0/33\n");
    lab.sighup();
    eventually("the bad line is reported", async || {
        lab.stderr().contains("line 2")
    })
    .await;
    let stderr = lab.stderr();
    assert!(
        stderr.contains("192.0.2.0/33") && stderr.contains("keeping the old one"),
        "{stderr}"
    );
    let sent = probe().await;
    assert!(
        !sent.is_empty()
            && sent
                .iter()
                .all(|e| e.map(|e| e.prefix()) == Some(net("127.1.2.0/24"))),
        "the old allowlist is still in force: {sent:?}"
    );
}
