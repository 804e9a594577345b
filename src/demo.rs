//! `scoped demo`: the story of a resolver sending a Californian to Tokyo, fixed.
//!
//! Everything runs in this process on loopback: the testkit's CDN internet (a root, a TLD, a CDN
//! whose authoritative answers a Tokyo edge to Japanese subnets and a San Francisco edge to
//! Californian ones with SCOPE 24, and a second ECS-aware zone that is *not* allowlisted), and
//! two resolvers built from the same code as `scoped serve`: one with ECS off, one with it on.
//! Both resolvers sit "in Tokyo": without ECS the CDN can only place the resolver, not its users.
//! Clients reach them through a load balancer (127.0.0.1, a trusted front end) that adds each
//! client's address as an ECS option, as dnsdist does for an ISP.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{RData, RecordType};
use ipnet::IpNet;
use scoped_ecs::{Allowlist, DEFAULT_NON_ROUTABLE, Direction, SubnetPolicy, message_ecs};
use scoped_recursor::RecursorConfig;
use scoped_testkit::cdn::*;
use scoped_testkit::{EcsInternet, ecs_fixture, name};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use crate::config::Config;

/// Documentation ranges (RFC 5737, RFC 3849): the demo's clients live there, so for this demo
/// only they count as routable.
const DOCUMENTATION: [&str; 4] = [
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "2001:db8::/32",
];

pub fn run() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One resolver of the demo, running until dropped.
struct Resolver {
    label: &'static str,
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start_resolver(fixture: &EcsInternet, port: u16, ecs: bool) -> Result<Resolver> {
    let mut config = Config::defaults();
    config.server.listen = vec!["127.0.0.1:0".parse()?];
    let routable: Vec<IpNet> = DOCUMENTATION
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    config.server.ecs.policy = SubnetPolicy::new()
        .with_enabled(ecs)
        .with_trusted_front_end("127.0.0.1/32".parse()?)
        .with_non_routable(
            DEFAULT_NON_ROUTABLE
                .iter()
                .copied()
                .filter(|net| !routable.contains(net)),
        );
    config.recursor = RecursorConfig {
        // The loopback servers listen on their own port, not the in-memory one.
        upstream_port: port,
        ecs_allowlist: if ecs {
            Allowlist::parse("cdn.example.\n")?
        } else {
            Allowlist::empty()
        },
        ..fixture.internet.recursor_config()
    };
    let server = scoped_server::bind(config.server.clone()).context("binding a resolver")?;
    let addr = *server.local_addrs().first().context("no listen address")?;
    let recursor = crate::build_recursor(&config);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(Arc::new(recursor), async move {
        let _ = stopped.await;
    }));
    let label = if ecs { "scoped (ECS)" } else { "ECS off" };
    Ok(Resolver {
        label,
        addr,
        _stop: stop,
    })
}

/// What a client got back.
struct Answer {
    addrs: Vec<IpAddr>,
    scope: Option<u8>,
}

/// Ask `resolver` for `qname` on behalf of `client`, as the load balancer would: from 127.0.0.1,
/// with the client's full address in an ECS option (the resolver truncates it).
async fn ask(
    resolver: &Resolver,
    qname: &str,
    qtype: RecordType,
    client: IpAddr,
) -> Result<Answer> {
    let mut query = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name(qname), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    let full = if client.is_ipv4() { 32 } else { 128 };
    edns.options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(client, full, 0)));
    query.set_edns(edns);
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.send_to(&query.to_vec()?, resolver.addr).await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .context("no answer")??;
    let response = Message::from_vec(&buf[..n])?;
    let addrs = response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect();
    let scope = message_ecs(&buf[..n], Direction::Response)
        .ok()
        .flatten()
        .map(|e| e.scope());
    Ok(Answer { addrs, scope })
}

fn edge_name(addr: IpAddr) -> &'static str {
    match addr {
        a if a == TOKYO_EDGE_V4 || a == TOKYO_EDGE_V6 => "Tokyo edge",
        a if a == SF_EDGE_V4 || a == SF_EDGE_V6 => "San Francisco edge",
        a if a == OTHER_DEFAULT_V4 => "other.example default",
        _ => "default edge",
    }
}

/// What the authoritative servers at `servers` were sent for `qname` since the log was cleared.
fn seen_by(fixture: &EcsInternet, servers: &[IpAddr], qname: &str) -> String {
    let seen: Vec<String> = fixture
        .internet
        .query_log()
        .into_iter()
        .filter(|q| servers.contains(&q.server.ip()) && q.qname == name(qname))
        .map(|q| match q.ecs() {
            Some(ecs) => format!("ECS {}", ecs.prefix()),
            None => "no ECS".to_string(),
        })
        .collect();
    if seen.is_empty() {
        "(nothing: answered from cache)".into()
    } else {
        seen.join(", ")
    }
}

async fn demo() -> Result<()> {
    let fixture = ecs_fixture();
    // Both resolvers are in Tokyo: a query without a client subnet gets the Tokyo edge.
    fixture.both_cdn(|cdn| {
        cdn.update(|authority| {
            authority
                .default_answer(WWW_CDN, "A 192.0.2.81")
                .default_answer(WWW_CDN, "AAAA 2001:db8:ed9e::81");
        })
    });
    let lab = fixture
        .internet
        .serve_on_loopback()
        .await
        .context("serving the CDN internet on loopback")?;
    let resolvers = [
        start_resolver(&fixture, lab.port(), false).await?,
        start_resolver(&fixture, lab.port(), true).await?,
    ];

    println!(
        "scoped demo — a CDN on a simulated internet (loopback only), two resolvers in Tokyo."
    );
    println!(
        "Clients reach the resolvers through a load balancer that adds their address as ECS.\n"
    );
    let row = |cells: [&str; 7]| {
        println!(
            "| {:<12} | {:<27} | {:<4} | {:<35} | {:<5} | {:<30} | {:<5} |",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        )
    };
    row([
        "resolver",
        "client",
        "type",
        "answer",
        "scope",
        "the CDN's authoritative saw",
        "cache",
    ]);
    println!(
        "|{:-<14}|{:-<29}|{:-<6}|{:-<37}|{:-<7}|{:-<32}|{:-<7}|",
        "", "", "", "", "", "", ""
    );
    let clients = [
        ("Tokyo", TOKYO_CLIENT, RecordType::A),
        ("San Francisco", SF_CLIENT, RecordType::A),
        ("Tokyo", TOKYO_CLIENT_V6, RecordType::AAAA),
        ("San Francisco", SF_CLIENT_V6, RecordType::AAAA),
    ];
    let cdn = [CDN_1, CDN_2];
    let mut sent_to_tokyo = [0; 2];
    let mut prefixes_seen: Vec<String> = Vec::new();
    for (which, resolver) in resolvers.iter().enumerate() {
        for (city, client, qtype) in clients {
            for _ in 0..2 {
                fixture.internet.clear_query_log();
                let answer = ask(resolver, WWW_CDN, qtype, client).await?;
                let saw = seen_by(&fixture, &cdn, WWW_CDN);
                for entry in fixture.internet.query_log() {
                    if let Some(ecs) = entry.ecs() {
                        let prefix = ecs.prefix().to_string();
                        if !prefixes_seen.contains(&prefix) {
                            prefixes_seen.push(prefix);
                        }
                    }
                }
                let cache = if saw.starts_with("(nothing") {
                    "hit"
                } else {
                    "miss"
                };
                if city == "San Francisco"
                    && answer.addrs.iter().any(|a| edge_name(*a) == "Tokyo edge")
                {
                    sent_to_tokyo[which] += 1;
                }
                let shown = answer
                    .addrs
                    .iter()
                    .map(|a| format!("{a} {}", edge_name(*a)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let scope = answer
                    .scope
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into());
                row([
                    resolver.label,
                    &format!("{city} {client}"),
                    &qtype.to_string(),
                    &shown,
                    &scope,
                    &saw,
                    cache,
                ]);
            }
        }
    }
    // The second ECS-aware zone is not on the allowlist: it must never see a subnet.
    fixture.internet.clear_query_log();
    let other = ask(
        &resolvers[1],
        "www.other.example.",
        RecordType::A,
        SF_CLIENT,
    )
    .await?;
    let other_saw = format!(
        "other.example.: {}",
        seen_by(&fixture, &[OTHER], "www.other.example.")
    );
    let shown = other
        .addrs
        .iter()
        .map(|a| format!("{a} {}", edge_name(*a)))
        .collect::<Vec<_>>()
        .join(", ");
    let scope = other
        .scope
        .map(|s| s.to_string())
        .unwrap_or_else(|| "-".into());
    row([
        resolvers[1].label,
        &format!("San Francisco {SF_CLIENT}"),
        "A",
        &shown,
        &scope,
        &other_saw,
        "miss",
    ]);

    let leaked = fixture
        .internet
        .query_log()
        .iter()
        .filter(|q| !cdn.contains(&q.server.ip()) && q.ecs().is_some())
        .count();
    println!();
    println!(
        "Californians sent to the Tokyo edge: {} of 4 answers without ECS, {} of 4 with scoped.",
        sent_to_tokyo[0], sent_to_tokyo[1]
    );
    println!(
        "Client prefixes the CDN ever saw: {} (the load balancer sent /32 and /128).",
        prefixes_seen.join(", ")
    );
    println!(
        "ECS options sent to servers off the allowlist (root, TLD, other.example.): {leaked}."
    );
    lab.shutdown().await;
    Ok(())
}
