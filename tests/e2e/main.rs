//! End-to-end tests: the real `scoped` binary on loopback, resolving through the testkit's
//! authoritative servers on 127.53.x.y (see `lab.rs`), queried over UDP and TCP as dig would.

mod dns64;
mod dnsdist;
mod dnssec;
mod ecs;
mod encrypted;
mod forward;
mod hints;
mod lab;
mod local;
mod privacy;
mod reasons;
mod stub;

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};
use lab::{Lab, query};
use scoped_testkit::standard::{EXAMPLE_COM_1, EXAMPLE_COM_2, TC_NET};
use scoped_testkit::{name, standard_internet};

fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_query_is_resolved_through_the_hierarchy() {
    let lab = Lab::start(standard_internet()).await;
    let response = lab
        .udp(&query(
            0x1234,
            "WwW.ExAmple.CoM.",
            RecordType::A,
            Some(1232),
        ))
        .await;
    assert_eq!(response.metadata.id, 0x1234);
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.recursion_available, "RA set");
    assert!(response.metadata.recursion_desired, "RD echoed");
    assert!(!response.metadata.authoritative, "AA clear: we are a cache");
    assert_eq!(
        response.queries[0].name().to_ascii(),
        "WwW.ExAmple.CoM.",
        "question case kept"
    );
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    assert!(response.answers[0].ttl <= 300 && response.answers[0].ttl >= 299);
    assert!(
        response.authorities.is_empty() && response.additionals.is_empty(),
        "minimal responses"
    );
    assert_eq!(response.edns.as_ref().map(|e| e.max_payload()), Some(1232));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_carries_several_pipelined_queries() {
    let lab = Lab::start(standard_internet()).await;
    let answers = lab
        .tcp(&[
            query(1, "www.example.com.", RecordType::A, Some(1232)),
            query(2, "www.example.net.", RecordType::A, None),
            query(3, "nx.example.com.", RecordType::A, None),
        ])
        .await;
    let mut by_id: Vec<(u16, ResponseCode, Vec<Ipv4Addr>)> = answers
        .iter()
        .map(|m| (m.metadata.id, m.metadata.response_code, a_records(m)))
        .collect();
    by_id.sort_by_key(|(id, _, _)| *id);
    assert_eq!(
        by_id,
        vec![
            (1, ResponseCode::NoError, vec![Ipv4Addr::new(192, 0, 2, 10)]),
            (2, ResponseCode::NoError, vec![Ipv4Addr::new(192, 0, 2, 20)]),
            (3, ResponseCode::NXDomain, vec![]),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_query_sends_nothing_upstream_and_ttl_counts_down() {
    let lab = Lab::start(standard_internet()).await;
    let first = lab
        .udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    // Read the count after the wait: the engine measures the zones' other servers in the
    // background after the first answer, and those queries may still be on their way.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let sent = lab.internet().total_queries();
    assert!(sent >= 3, "root, com and example.com were asked: {sent}");
    let second = lab
        .udp(&query(2, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(lab.internet().total_queries(), sent, "the cache answered");
    assert_eq!(a_records(&second), a_records(&first));
    assert!(
        second.answers[0].ttl <= first.answers[0].ttl - 2,
        "TTL counts down: {} then {}",
        first.answers[0].ttl,
        second.answers[0].ttl
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answers_carry_the_soa_only() {
    let lab = Lab::start(standard_internet()).await;
    let nx = lab
        .udp(&query(1, "nx.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.answers.is_empty());
    assert_eq!(nx.authorities.len(), 1);
    assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(nx.authorities[0].ttl, 60, "min(SOA TTL 3600, MINIMUM 60)");
    assert!(nx.additionals.is_empty());

    let nodata = lab
        .udp(&query(2, "www.example.com.", RecordType::MX, Some(1232)))
        .await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cd_and_rd_flags_are_echoed() {
    let lab = Lab::start(standard_internet()).await;
    let mut q = query(7, "www.example.com.", RecordType::A, Some(1232));
    q.metadata.checking_disabled = true;
    let response = lab.udp(&q).await;
    assert!(response.metadata.checking_disabled);
    let mut q = query(8, "www.example.com.", RecordType::A, Some(1232));
    q.metadata.recursion_desired = false;
    let response = lab.udp(&q).await;
    assert!(!response.metadata.recursion_desired);
    assert!(response.metadata.recursion_available);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answer_is_truncated_for_small_buffers_and_whole_over_tcp() {
    let lab = Lab::start(standard_internet()).await;
    let plain = lab
        .udp(&query(1, "big.example.com.", RecordType::TXT, None))
        .await;
    assert!(plain.metadata.truncation, "over 512 bytes without EDNS: TC");
    assert!(plain.answers.is_empty());
    let edns = lab
        .udp(&query(2, "big.example.com.", RecordType::TXT, Some(1232)))
        .await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 1);
    let tcp = lab
        .tcp(&[query(3, "big.example.com.", RecordType::TXT, None)])
        .await;
    assert!(!tcp[0].metadata.truncation);
    assert_eq!(tcp[0].answers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncating_authoritative_is_followed_over_tcp() {
    let lab = Lab::start(standard_internet()).await;
    let response = lab
        .udp(&query(1, "www.tc.net.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 0, 2, 40)]);
    let protocols: Vec<_> = lab
        .internet()
        .queries_to(TC_NET)
        .iter()
        .map(|q| q.protocol)
        .collect();
    assert_eq!(
        protocols,
        vec![
            scoped_recursor::Protocol::Udp,
            scoped_recursor::Protocol::Tcp
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glueless_cname_failover_and_lame_on_real_sockets() {
    let lab = Lab::start(standard_internet()).await;
    for (qname, expected) in [
        ("www.glueless.org.", Ipv4Addr::new(192, 0, 2, 30)),
        ("www.failover.org.", Ipv4Addr::new(192, 0, 2, 50)),
        ("www.lame.org.", Ipv4Addr::new(192, 0, 2, 60)),
        ("cross.example.com.", Ipv4Addr::new(192, 0, 2, 20)),
        ("www.sub.example.com.", Ipv4Addr::new(192, 0, 2, 12)),
    ] {
        let response = lab.udp(&query(1, qname, RecordType::A, Some(1232))).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NoError,
            "{qname}"
        );
        assert_eq!(a_records(&response), vec![expected], "{qname}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_is_answered_servfail_when_the_zone_is_dead() {
    let lab = Lab::start(standard_internet()).await;
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        lab.internet().expect_server(addr).set_dead(true);
    }
    let response = lab
        .udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    // The resolver is still healthy for other zones.
    let response = lab
        .udp(&query(2, "www.example.net.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unsupported_queries_get_the_right_rcode() {
    let lab = Lab::start(standard_internet()).await;
    // A header claiming one question, followed by garbage.
    let mut garbage = vec![
        0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    garbage.extend_from_slice(&[0xc0, 0xff, 0x3f, 0x3f]);
    let response = Message::from_vec(&lab.udp_raw(&garbage).await).unwrap();
    assert_eq!(
        response.metadata.id, 0xbeef,
        "FORMERR keeps the client's ID"
    );
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);

    let mut notify = query(2, "example.com.", RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(
        lab.udp(&notify).await.metadata.response_code,
        ResponseCode::NotImp
    );

    let mut v1 = query(3, "www.example.com.", RecordType::A, Some(1232));
    v1.edns.as_mut().unwrap().set_version(1);
    let response = lab.udp(&v1).await;
    // BADVERS is extended rcode 16 (RFC 6891 §6.1.3), carried partly in the OPT; hickory
    // decodes 16 under its other name, BADSIG, so compare the number.
    assert_eq!(u16::from(response.metadata.response_code), 16);
    assert!(response.edns.is_some(), "the extended rcode needs an OPT");
    assert_eq!(
        lab.internet().total_queries(),
        0,
        "none of these went upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_outside_the_acl_are_refused() {
    let lab = Lab::start_with(standard_internet(), |config| {
        let acl: toml::Table = "allow = [\"10.0.0.0/8\"]".parse().unwrap();
        config.insert("acl".into(), toml::Value::Table(acl));
    })
    .await;
    let response = lab
        .udp(&query(9, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.id, 9);
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    assert_eq!(lab.internet().total_queries(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_nameservers_need_the_documented_key() {
    let lab = Lab::start_with(standard_internet(), |config| {
        config["recursion"]
            .as_table_mut()
            .unwrap()
            .insert("allow-loopback-servers".into(), false.into());
    })
    .await;
    let response = lab
        .udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        lab.internet().total_queries(),
        0,
        "nothing sent to 127.x by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_with_exit_zero() {
    let mut lab = Lab::start(standard_internet()).await;
    lab.udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    let status = lab.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        lab.stderr()
    );
}

#[test]
fn check_config_names_the_bad_line() {
    let dir = std::env::temp_dir().join(format!("scoped-e2e-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[server]\nthreads = 1\n\n[cache]\nmax-tll = 10\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scoped"))
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 5") && stderr.contains("max-tll"),
        "{stderr}"
    );

    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/resolver.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scoped"))
        .args(["check-config", shipped])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_queries_share_one_upstream_resolution() {
    let lab = Lab::start(standard_internet()).await;
    // Warm the delegations so only the final question remains to be asked.
    lab.udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        lab.internet()
            .expect_server(addr)
            .set_delay(Duration::from_millis(200));
    }
    lab.internet().clear_query_log();
    let clients: Vec<_> = (0..10u16)
        .map(|i| {
            let q = query(100 + i, "www.example.com.", RecordType::AAAA, Some(1232));
            let lab_addr = lab.addr;
            tokio::spawn(async move {
                let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                socket
                    .send_to(&q.to_vec().unwrap(), lab_addr)
                    .await
                    .unwrap();
                let mut buf = vec![0u8; 4096];
                let n = tokio::time::timeout(lab::CLIENT_TIMEOUT, socket.recv(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                Message::from_vec(&buf[..n]).unwrap()
            })
        })
        .collect();
    for client in clients {
        let response = client.await.unwrap();
        assert_eq!(response.answers.len(), 1);
    }
    let upstream: Vec<_> = lab
        .internet()
        .query_log()
        .into_iter()
        .filter(|q| q.qname == name("www.example.com.") && q.qtype == RecordType::AAAA)
        .collect();
    // One resolution for ten clients: it may fail over (the delay is far above the servers'
    // measured RTT, so their RTO expires first), but no server is asked the question twice.
    let mut servers: Vec<_> = upstream.iter().map(|q| q.server).collect();
    servers.sort();
    servers.dedup();
    assert_eq!(
        servers.len(),
        upstream.len(),
        "ten clients, one resolution: {upstream:?}"
    );
    assert!(upstream.len() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_prints_every_step_from_the_root() {
    let internet = standard_internet();
    let net = internet.serve_on_loopback().await.unwrap();
    let dir = std::env::temp_dir().join(format!("scoped-e2e-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("root.hints"), internet.root_hints_text()).unwrap();
    let config = format!(
        "[recursion]\nroot-hints = \"root.hints\"\nallow-loopback-servers = true\nupstream-port = {}\n[dnssec]\nvalidation = false\n",
        net.port()
    );
    std::fs::write(dir.join("resolver.toml"), config).unwrap();
    let config_path = dir.join("resolver.toml");
    // A blocking child process: run it off the runtime that serves the loopback internet.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_scoped"))
            .args(["trace", "cross.example.com", "A", "--config"])
            .arg(config_path)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with(";; configuration /"), "{}", lines[0]);
    assert!(lines[0].ends_with("resolver.toml"), "{}", lines[0]);
    assert_eq!(lines[1], ";; no client subnet (give --client or --subnet)");
    assert_eq!(lines[2], "cross.example.com. A, no client subnet");
    for expected in [
        "  referral to com.: ns1.nic.com. [127.53.1.1]",
        "  <- 127.53.2.1: CNAME to www.example.net., resolved elsewhere; no ECS; cached for every client",
        "www.example.net. A: closest known zone .",
        ";; No Error, scope 0",
        "www.example.net. 300 IN A 192.0.2.20",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| *l == expected || l.replace("127.53.2.2", "127.53.2.1") == expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_answer_is_served_stale_with_ede_when_its_servers_die() {
    // max-ttl = 1: the answer expires a second after it is cached (real time).
    let lab = Lab::start_with(standard_internet(), |config| {
        let cache = config
            .entry("cache")
            .or_insert(toml::Value::Table(Default::default()))
            .as_table_mut()
            .expect("[cache] is a table");
        cache.insert("max-ttl".into(), 1.into());
        cache.insert("stale-client-timeout".into(), "300ms".into());
    })
    .await;
    let fresh = lab
        .udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(a_records(&fresh), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        lab.internet().expect_server(addr).set_dead(true);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = lab
        .udp(&query(2, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(stale.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&stale), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    assert_eq!(stale.answers[0].ttl, 30, "RFC 8767 stale TTL");
    let ede = stale
        .edns
        .as_ref()
        .expect("OPT")
        .options()
        .as_ref()
        .iter()
        .find(|(code, _)| u16::from(*code) == 15)
        .map(|(_, option)| option.clone());
    assert_eq!(
        ede,
        Some(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
            15,
            vec![0, 3]
        )),
        "EDE 3, Stale Answer"
    );
}
