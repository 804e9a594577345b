//! The ECS work on every query and every upstream reply: the option's parse and composition,
//! finding it in a whole message without hickory, and the subnet decision that truncates a
//! client address to /24 or /56.
//!
//! `cargo bench -p scoped-ecs --bench ecs_codec` (about a minute). Results: docs/benchmarks.md.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::Criterion;
use ipnet::IpNet;
use scoped_ecs::{Direction, Ecs, SubnetPolicy, message_ecs};

/// A query for www.example.com. A with an OPT record carrying `option` (code, length, payload).
fn query_with_option(option: &[u8]) -> Vec<u8> {
    let mut msg = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    msg.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    // OPT: root owner, type 41, payload size 1232, extended RCODE/version/flags 0.
    msg.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    msg.extend_from_slice(&(option.len() as u16).to_be_bytes());
    msg.extend_from_slice(option);
    msg
}

fn codec(c: &mut Criterion) {
    let v4_net: IpNet = "81.2.69.0/24".parse().expect("a prefix");
    let v6_net: IpNet = "2001:db8:1234:5600::/56".parse().expect("a prefix");
    let v4 = Ecs::for_query(v4_net);
    let v6 = Ecs::for_query(v6_net);
    let v4_payload = v4.payload().as_slice().to_vec();
    let v6_payload = v6.payload().as_slice().to_vec();
    let message = query_with_option(v4.option().as_slice());
    // The option must round-trip, or the parse numbers would be those of an error path.
    assert_eq!(Ecs::parse(&v4_payload, Direction::Query), Ok(v4));
    assert_eq!(Ecs::parse(&v6_payload, Direction::Query), Ok(v6));
    assert_eq!(message_ecs(&message, Direction::Query), Ok(Some(v4)));

    let mut group = c.benchmark_group("ecs");
    group.bench_function("parse_v4_24", |b| {
        b.iter(|| Ecs::parse(black_box(&v4_payload), Direction::Query))
    });
    group.bench_function("parse_v6_56", |b| {
        b.iter(|| Ecs::parse(black_box(&v6_payload), Direction::Query))
    });
    group.bench_function("compose_v4_24", |b| {
        b.iter(|| Ecs::for_query(black_box(v4_net)).option())
    });
    group.bench_function("compose_v6_56", |b| {
        b.iter(|| Ecs::for_query(black_box(v6_net)).option())
    });
    group.bench_function("message_ecs_query", |b| {
        b.iter(|| message_ecs(black_box(&message), Direction::Query))
    });
    group.finish();

    let policy = SubnetPolicy::new();
    let v4_client = IpAddr::V4(Ipv4Addr::new(81, 2, 69, 142));
    let v6_client = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x1234, 0x5678, 0, 0, 0, 1));
    // What a stub's address becomes upstream: the decision, then its /24 or /56 option.
    assert_eq!(
        policy.decide(v4_client, None).upstream_ecs(),
        Some(Ecs::for_query(v4_net))
    );
    let mut group = c.benchmark_group("policy");
    group.bench_function("decide_v4_client", |b| {
        b.iter(|| policy.decide(black_box(v4_client), None).upstream_ecs())
    });
    group.bench_function("decide_v6_client", |b| {
        b.iter(|| policy.decide(black_box(v6_client), None).upstream_ecs())
    });
    group.bench_function("decide_client_ecs", |b| {
        b.iter(|| {
            policy
                .decide(black_box(v4_client), Some(black_box(&v4)))
                .upstream_ecs()
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    c.final_summary();
}
