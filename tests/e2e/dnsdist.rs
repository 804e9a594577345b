//! A real dnsdist (the Debian package) on loopback in front of two `scoped` instances, in the
//! two ways a load balancer can name its clients:
//!
//! - PROXY v2 (`newServer{..., useProxyProtocol=true}` → `[server] proxy-protocol-from`): each
//!   client's own /24 reaches the allowlisted CDN, both instances serve, and a client's own ECS
//!   option keeps its E08 meaning (it may only shorten its own prefix);
//! - ECS added by dnsdist (`useClientSubnet=true`, `setECSSourcePrefixV4(24)` →
//!   `[ecs] trusted-front-ends`).
//!
//! Clients are distinct loopback sources (127.1.2.3, 127.9.8.7, ...: all of 127/8 is loopback);
//! `non-routable` leaves 127/8 out, so each stands for a public network of its own. Without
//! dnsdist installed the test says so and passes, unless `CI` is set (`.ci/run` installs it).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use scoped_ecs::Ecs;
use scoped_testkit::cdn::{CDN_1, CDN_2, WWW_CDN};
use scoped_testkit::{EcsInternet, ecs_fixture, name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::lab::{CLIENT_TIMEOUT, Lab, ecs_query, query};

/// A running dnsdist, killed on drop.
struct Dnsdist {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Dnsdist {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("dnsdist.log")).unwrap_or_default();
            eprintln!("dnsdist output:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the dnsdist binary is there; without it the test may skip only outside CI.
fn dnsdist_available() -> bool {
    let found = Command::new("dnsdist")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but dnsdist is not installed (.ci/run installs the Debian package)"
        );
        println!("SKIPPED: dnsdist is not installed (apt-get install dnsdist), and CI is unset");
    }
    found
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts dnsdist on 127.0.0.1 with `servers` (Lua `newServer` argument lists) and `extra` Lua.
async fn start_dnsdist(servers: &[String], extra: &str) -> Dnsdist {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("scoped-dnsdist-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut lua = format!(
        "setLocal('127.0.0.1:{port}')\nsetACL({{'127.0.0.0/8'}})\n\
         setServerPolicy(roundrobin)\n{extra}\n"
    );
    for server in servers {
        lua.push_str(&format!("newServer{{{server}}}\n"));
    }
    std::fs::write(dir.join("dnsdist.conf"), &lua).expect("config");
    let log = std::fs::File::create(dir.join("dnsdist.log")).expect("log");
    let child = Command::new("dnsdist")
        .args(["--supervised", "--disable-syslog", "-C"])
        .arg(dir.join("dnsdist.conf"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start dnsdist");
    let dnsdist = Dnsdist {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    // Up when it answers (its backends' first health checks included).
    let started = Instant::now();
    loop {
        let probe = query(1, "localhost.", RecordType::A, Some(1232));
        if let Some(response) = try_ask(&dnsdist, Ipv4Addr::LOCALHOST, &probe).await
            && response.metadata.response_code == ResponseCode::NoError
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dnsdist did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    dnsdist
}

async fn try_ask(dnsdist: &Dnsdist, source: Ipv4Addr, msg: &Message) -> Option<Message> {
    let socket = UdpSocket::bind((source, 0)).await.expect("client socket");
    socket
        .send_to(&msg.to_vec().expect("query"), dnsdist.addr)
        .await
        .ok()?;
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Message::from_vec(&buf[..n]).ok()
}

async fn ask(dnsdist: &Dnsdist, source: Ipv4Addr, msg: &Message) -> Message {
    let response = try_ask(dnsdist, source, msg).await;
    let response = response.unwrap_or_else(|| panic!("no answer for {source} through dnsdist"));
    assert_eq!(response.metadata.id, msg.metadata.id);
    response
}

/// One TCP query from 127.0.0.1 through dnsdist.
async fn ask_tcp(dnsdist: &Dnsdist, msg: &Message) -> Message {
    let mut stream = TcpStream::connect(dnsdist.addr).await.expect("connect");
    let wire = msg.to_vec().expect("query");
    let mut frame = (wire.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&wire);
    stream.write_all(&frame).await.expect("write");
    let body = tokio::time::timeout(CLIENT_TIMEOUT, async {
        let len = stream.read_u16().await.expect("length");
        let mut body = vec![0; usize::from(len)];
        stream.read_exact(&mut body).await.expect("body");
        body
    })
    .await
    .expect("a TCP answer through dnsdist");
    Message::from_vec(&body).expect("parses")
}

/// A scoped instance on the CDN fixture with `extra` TOML merged into its configuration.
async fn instance(fixture: &EcsInternet, extra: &str) -> Lab {
    let extra: toml::Table = extra.parse().expect("valid TOML");
    Lab::start_with_files(
        fixture.internet.clone(),
        &[("allowlist.txt", "cdn.example.\n")],
        |config| {
            for (section, table) in extra {
                let toml::Value::Table(table) = table else {
                    continue;
                };
                let into = config
                    .entry(section)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(into) = into {
                    into.extend(table);
                }
            }
        },
    )
    .await
}

/// The prefixes (None: no ECS) the CDN saw for `qname`, in order.
fn cdn_saw(fixture: &EcsInternet, qname: &str) -> Vec<Option<IpNet>> {
    fixture
        .internet
        .query_log()
        .into_iter()
        .filter(|e| [CDN_1, CDN_2].contains(&e.server.ip()) && e.qname == name(qname))
        .map(|e| e.ecs().map(|ecs: Ecs| ecs.prefix()))
        .collect()
}

const PROXY_INSTANCE: &str = r#"
[server]
proxy-protocol-from = ["127.0.0.1/32"]
[ecs]
allowlist = "allowlist.txt"
non-routable = ["10.0.0.0/8"]
[recursion]
background-measurements = 0
[control]
enabled = true
listen = ["127.0.0.1:0"]
"#;

fn net(text: &str) -> IpNet {
    text.parse().expect("net")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsdist_with_proxy_protocol_passes_each_client_to_two_instances() {
    if !dnsdist_available() {
        return;
    }
    let fixture = ecs_fixture();
    let a = instance(&fixture, PROXY_INSTANCE).await;
    let b = instance(&fixture, PROXY_INSTANCE).await;
    let servers = [&a, &b].map(|lab| {
        format!(
            "address='{}', useProxyProtocol=true, checkName='localhost.'",
            lab.addr
        )
    });
    let dnsdist = start_dnsdist(&servers, "").await;
    let health_a = a.counter("frontend", "proxy_local").await;
    let health_b = b.counter("frontend", "proxy_local").await;
    println!("dnsdist health checks seen as PROXY LOCAL: {health_a} and {health_b}");

    // Each client's own /24, whichever instance it lands on.
    let clients = [
        Ipv4Addr::new(127, 1, 2, 3),
        Ipv4Addr::new(127, 9, 8, 7),
        Ipv4Addr::new(127, 0, 1, 5),
        Ipv4Addr::new(127, 44, 0, 9),
    ];
    for (i, client) in clients.iter().enumerate() {
        let response = ask(
            &dnsdist,
            *client,
            &query(i as u16, WWW_CDN, RecordType::A, None),
        )
        .await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    }
    let saw = cdn_saw(&fixture, WWW_CDN);
    println!("the CDN saw: {saw:?}");
    let expected: Vec<Option<IpNet>> = [
        "127.1.2.0/24",
        "127.9.8.0/24",
        "127.0.1.0/24",
        "127.44.0.0/24",
    ]
    .map(|n| Some(net(n)))
    .to_vec();
    assert_eq!(
        saw, expected,
        "each client's own /24, never dnsdist's address"
    );

    // A client's own ECS under E08: a shorter prefix of its address is honoured; another
    // network's address is not believed (its own /24 goes instead); SOURCE 0 opts out.
    let shorter = ecs_query(
        11,
        "narrow.cdn.example.",
        RecordType::A,
        &[0, 1, 16, 0, 127, 5],
    );
    ask(&dnsdist, Ipv4Addr::new(127, 5, 6, 7), &shorter).await;
    let claim = ecs_query(
        12,
        "wide.cdn.example.",
        RecordType::A,
        &[0, 1, 24, 0, 198, 51, 100],
    );
    ask(&dnsdist, Ipv4Addr::new(127, 6, 6, 6), &claim).await;
    let opt_out = ecs_query(13, "map.cdn.example.", RecordType::A, &[0, 1, 0, 0]);
    ask(&dnsdist, Ipv4Addr::new(127, 7, 7, 7), &opt_out).await;
    let e08: Vec<_> = [
        "narrow.cdn.example.",
        "wide.cdn.example.",
        "map.cdn.example.",
    ]
    .iter()
    .map(|q| cdn_saw(&fixture, q))
    .collect();
    println!("own ECS (E08): {e08:?}");
    assert_eq!(
        e08[0],
        [Some(net("127.5.0.0/16"))],
        "E10: shortened to the client's /16"
    );
    assert_eq!(
        e08[1],
        [Some(net("127.6.6.0/24"))],
        "E08: not 198.51.100.0/24"
    );
    assert!(
        e08[2].iter().all(Option::is_none),
        "E09: SOURCE 0, no address: {:?}",
        e08[2]
    );

    // TCP through dnsdist: the PROXY header once per connection.
    let over_tcp = ask_tcp(
        &dnsdist,
        &query(20, "tcp.scope24.cdn.example.", RecordType::A, None),
    )
    .await;
    assert_eq!(over_tcp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        cdn_saw(&fixture, "tcp.scope24.cdn.example."),
        [Some(net("127.0.0.0/24"))]
    );

    // Both instances served (round robin), and nothing was dropped for want of a header.
    let mut served = Vec::new();
    for lab in [&a, &b] {
        let udp = lab.counter("frontend", "queries_udp").await;
        let dropped = lab.counter("frontend", "proxy_dropped_missing").await
            + lab.counter("frontend", "proxy_dropped_untrusted").await
            + lab.counter("frontend", "proxy_dropped_malformed").await;
        served.push((udp, dropped));
    }
    println!("instances (queries_udp, proxy drops): {served:?}");
    assert!(
        served
            .iter()
            .all(|&(udp, dropped)| udp >= 2 && dropped == 0),
        "{served:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsdist_adding_ecs_still_works_through_trusted_front_ends() {
    if !dnsdist_available() {
        return;
    }
    let fixture = ecs_fixture();
    let trusted = r#"
[ecs]
allowlist = "allowlist.txt"
non-routable = ["10.0.0.0/8"]
trusted-front-ends = ["127.0.0.1/32"]
[recursion]
background-measurements = 0
"#;
    let a = instance(&fixture, trusted).await;
    let b = instance(&fixture, trusted).await;
    let servers = [&a, &b].map(|lab| {
        format!(
            "address='{}', useClientSubnet=true, checkName='localhost.'",
            lab.addr
        )
    });
    let dnsdist = start_dnsdist(&servers, "setECSSourcePrefixV4(24)").await;
    for (i, client) in [Ipv4Addr::new(127, 3, 3, 3), Ipv4Addr::new(127, 4, 5, 6)]
        .iter()
        .enumerate()
    {
        let response = ask(
            &dnsdist,
            *client,
            &query(i as u16, WWW_CDN, RecordType::A, None),
        )
        .await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    }
    let saw = cdn_saw(&fixture, WWW_CDN);
    println!("ECS from dnsdist, the CDN saw: {saw:?}");
    assert_eq!(saw, [Some(net("127.3.3.0/24")), Some(net("127.4.5.0/24"))]);
}
