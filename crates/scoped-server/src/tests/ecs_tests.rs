//! ECS in the pipeline, named after the ECS rules listed in docs/ecs.md: strict validation (E07),
//! the client-subnet decision (E02, E05, E08–E10, E24) and the echo (E23).
//!
//! "Public" clients are documentation addresses (198.51.100.7, 2001:db8:…) passed to
//! [`Pipeline::handle`] as values — no packet is sent — with a policy whose non-routable list
//! leaves those ranges out and an ACL that admits them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use ipnet::IpNet;
use scoped_ecs::{
    DEFAULT_NON_ROUTABLE, Direction, Ecs, Family, SubnetPolicy, message_ecs, scan_opt,
};
use scoped_recursor::ResolveRequest;

use super::{CLIENT, FakeResolver, query, raw_ecs, wire, with_edns, with_options};
use crate::{Pipeline, ServerConfig, StatsSnapshot, Transport, default_allow};

const NAME: &str = "www.example.com.";
const V4_CLIENT: &str = "198.51.100.7:40000";
const V6_CLIENT: &str = "[2001:db8:1:2ff::7]:40000";

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test socket address")
}

/// The default policy, except that the documentation ranges count as public.
fn public_policy() -> SubnetPolicy {
    let documentation = [
        net("192.0.2.0/24"),
        net("198.51.100.0/24"),
        net("203.0.113.0/24"),
        net("2001:db8::/32"),
    ];
    SubnetPolicy::new().with_non_routable(
        DEFAULT_NON_ROUTABLE
            .iter()
            .copied()
            .filter(|net| !documentation.contains(net)),
    )
}

/// A config admitting the test's public clients, with `policy`.
fn config(policy: SubnetPolicy) -> ServerConfig {
    let mut allow = default_allow();
    allow.extend([net("198.51.100.0/24"), net("2001:db8::/32")]);
    let mut config = ServerConfig {
        allow,
        ..ServerConfig::default()
    };
    config.ecs.policy = policy;
    config
}

/// An engine answering `NAME` A and AAAA with 2 records of ECS scope `scope`, and
/// `big.example.com.` A with 60 (too large for 512 octets).
fn engine(scope: u8, from_cache: bool) -> Arc<FakeResolver> {
    Arc::new(
        FakeResolver::new()
            .with_a(NAME, RecordType::A, 2)
            .scoped(NAME, RecordType::A, scope, from_cache)
            .with_a(NAME, RecordType::AAAA, 0)
            .scoped(NAME, RecordType::AAAA, scope, from_cache)
            .with_a("big.example.com.", RecordType::A, 60)
            .scoped("big.example.com.", RecordType::A, scope, from_cache),
    )
}

/// What one query produced: the response bytes and the engine's requests.
struct Outcome {
    bytes: Vec<u8>,
    message: Message,
    seen: Vec<ResolveRequest>,
    stats: StatsSnapshot,
}

impl Outcome {
    /// The one subnet the engine was asked to resolve for.
    fn subnet(&self) -> Option<IpNet> {
        assert_eq!(self.seen.len(), 1, "the engine is asked exactly once");
        self.seen.first().and_then(|request| request.client_subnet)
    }

    /// The response's ECS option, strictly parsed from the bytes.
    fn echo(&self) -> Option<Ecs> {
        message_ecs(&self.bytes, Direction::Response).expect("our ECS option is well formed")
    }

    /// The response's OPT RDATA: every option we sent, in order.
    fn opt_rdata(&self) -> Vec<u8> {
        scan_opt(&self.bytes)
            .expect("our response scans")
            .expect("an OPT record")
            .rdata
            .to_vec()
    }

    fn counter(&self, name: &str) -> u64 {
        self.stats
            .iter()
            .find(|(counter, _)| *counter == name)
            .map(|(_, value)| value)
            .unwrap_or_else(|| panic!("no counter {name}"))
    }
}

async fn run(
    policy: SubnetPolicy,
    resolver: Arc<FakeResolver>,
    message: &Message,
    client: SocketAddr,
    transport: Transport,
) -> Outcome {
    run_wire(policy, resolver, &wire(message), client, transport).await
}

async fn run_wire(
    policy: SubnetPolicy,
    resolver: Arc<FakeResolver>,
    bytes: &[u8],
    client: SocketAddr,
    transport: Transport,
) -> Outcome {
    let pipeline = Pipeline::new(&config(policy), Arc::clone(&resolver) as _, Arc::default());
    let bytes = pipeline
        .handle(bytes, client, transport)
        .await
        .expect("a response");
    let message = Message::from_vec(&bytes).expect("our response parses");
    Outcome {
        bytes,
        message,
        seen: resolver.seen(),
        stats: pipeline.stats().snapshot(),
    }
}

/// A query for `NAME` A carrying `options`, from `client`, public policy, engine scope `scope`.
async fn ask_with(options: Vec<EdnsOption>, client: &str, scope: u8) -> Outcome {
    let message = with_options(query(0x0ec5, NAME, RecordType::A), options);
    run(
        public_policy(),
        engine(scope, false),
        &message,
        addr(client),
        Transport::Udp,
    )
    .await
}

// --- E07: a malformed client ECS is FORMERR with the ID, the question and the reason ---------

/// Sends `options` and checks: FORMERR, ID and question kept, our OPT without any ECS, the engine
/// not asked, counted once under `formerr_ecs` and `formerr_<reason>`.
async fn assert_e07(options: Vec<EdnsOption>, reason: &str) {
    let message = with_options(query(0xe07e, NAME, RecordType::A), options);
    assert_e07_wire(&wire(&message), reason).await;
}

async fn assert_e07_wire(bytes: &[u8], reason: &str) {
    let out = run_wire(
        public_policy(),
        engine(24, false),
        bytes,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    let header = out.message.metadata;
    assert_eq!(header.response_code, ResponseCode::FormErr, "{reason}");
    assert_eq!(header.id, 0xe07e, "{reason}: ID kept");
    assert_eq!(
        out.message.queries.first().map(|q| q.name().to_ascii()),
        Some(NAME.to_owned()),
        "{reason}: question kept"
    );
    assert!(
        out.message.edns.is_some(),
        "{reason}: our OPT answers theirs"
    );
    assert_eq!(
        out.opt_rdata(),
        Vec::<u8>::new(),
        "{reason}: bad option not echoed"
    );
    assert!(out.seen.is_empty(), "{reason}: the engine is not asked");
    assert_eq!(out.counter("formerr_ecs"), 1, "{reason}");
    assert_eq!(out.counter(&format!("formerr_{reason}")), 1, "{reason}");
    assert_eq!(out.stats.formerr_malformed, 0, "{reason}: counted as ECS");
    assert_eq!(out.stats.responses_formerr, 1, "{reason}");
}

#[tokio::test]
async fn e07_unknown_family_is_formerr() {
    assert_e07(
        vec![raw_ecs(&[0, 3, 24, 0, 198, 51, 100])],
        "ecs_unknown_family",
    )
    .await;
}

#[tokio::test]
async fn e07_v4_source_past_32_is_formerr() {
    assert_e07(
        vec![raw_ecs(&[0, 1, 33, 0, 198, 51, 100, 7, 0])],
        "ecs_source_too_long",
    )
    .await;
}

#[tokio::test]
async fn e07_v6_source_past_128_is_formerr() {
    let mut payload = vec![0, 2, 129, 0];
    payload.extend_from_slice(&[0x20; 17]);
    assert_e07(vec![raw_ecs(&payload)], "ecs_source_too_long").await;
}

#[tokio::test]
async fn e07_extra_address_octet_is_formerr() {
    assert_e07(
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100, 0])],
        "ecs_bad_length",
    )
    .await;
}

#[tokio::test]
async fn e07_missing_address_octet_is_formerr() {
    assert_e07(vec![raw_ecs(&[0, 1, 24, 0, 198, 51])], "ecs_bad_length").await;
}

#[tokio::test]
async fn e07_option_shorter_than_fixed_part_is_formerr() {
    assert_e07(vec![raw_ecs(&[0, 1, 24])], "ecs_truncated").await;
}

#[tokio::test]
async fn e07_address_bits_past_source_are_formerr() {
    // /22: the third octet keeps its top 6 bits; 101 = 0b0110_0101 sets one past them.
    assert_e07(
        vec![raw_ecs(&[0, 1, 22, 0, 198, 51, 101])],
        "ecs_host_bits_set",
    )
    .await;
}

#[tokio::test]
async fn e07_nonzero_scope_in_query_is_formerr() {
    assert_e07(
        vec![raw_ecs(&[0, 1, 24, 24, 198, 51, 100])],
        "ecs_nonzero_scope_in_query",
    )
    .await;
}

#[tokio::test]
async fn e07_two_ecs_options_are_formerr() {
    assert_e07(
        vec![
            raw_ecs(&[0, 1, 24, 0, 198, 51, 100]),
            raw_ecs(&[0, 1, 16, 0, 198, 51]),
        ],
        "ecs_duplicate",
    )
    .await;
}

#[tokio::test]
async fn e07_option_running_past_the_opt_record_is_formerr() {
    let message = with_options(
        query(0xe07e, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
    );
    let mut bytes = wire(&message);
    let at = scan_opt(&bytes).expect("scans").expect("OPT").rdata_offset;
    // The ECS option's OPTION-LENGTH claims 255 octets of a 7-octet payload.
    if let Some(length) = bytes.get_mut(at + 2..at + 4) {
        length.copy_from_slice(&[0, 255]);
    }
    assert_e07_wire(&bytes, "opt_option_overrun").await;
}

#[tokio::test]
async fn e07_bad_ecs_under_edns_version_1_is_badvers_not_formerr() {
    let mut message = with_options(
        query(0xe07e, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 24, 198, 51, 100])],
    );
    if let Some(edns) = message.edns.as_mut() {
        edns.set_version(1);
    }
    let out = run(
        public_policy(),
        engine(24, false),
        &message,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(u16::from(out.message.metadata.response_code), 16, "BADVERS");
    assert_eq!(out.echo(), None, "error responses carry no ECS");
    assert_eq!(out.stats.formerr_ecs, 0);
}

// --- E05 / E02: the subnet of the client's own address -----------------------------------------

#[tokio::test]
async fn e05_private_client_sends_no_subnet() {
    let resolver = engine(24, false);
    let out = run(
        ServerConfig::default().ecs.policy,
        resolver,
        &query(1, NAME, RecordType::A),
        CLIENT,
        Transport::Udp,
    )
    .await;
    assert_eq!(out.subnet(), None);
    assert_eq!(out.stats.ecs_withheld_private_client, 1);
    assert_eq!(out.stats.ecs_tailored, 0);
}

#[tokio::test]
async fn e05_private_client_with_ecs_sends_no_subnet_and_echoes_scope_0() {
    let message = with_options(
        query(1, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 8, 8, 4])],
    );
    let out = run(
        ServerConfig::default().ecs.policy,
        engine(24, false),
        &message,
        CLIENT,
        Transport::Udp,
    )
    .await;
    assert_eq!(
        out.subnet(),
        None,
        "a client ECS never un-privates a client"
    );
    let echo = out.echo().expect("echoed");
    assert_eq!((echo.prefix(), echo.scope()), (net("8.8.4.0/24"), 0));
}

#[tokio::test]
async fn e02_public_client_truncated_to_24() {
    let out = run(
        public_policy(),
        engine(0, false),
        &query(2, NAME, RecordType::A),
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.subnet(), Some(net("198.51.100.0/24")));
    assert_eq!(
        out.seen.first().map(|r| r.client),
        Some(addr(V4_CLIENT).ip())
    );
    assert_eq!(out.stats.ecs_tailored, 1);
}

#[tokio::test]
async fn e02_public_client_v6_truncated_to_56() {
    let out = run(
        public_policy(),
        engine(0, false),
        &query(3, NAME, RecordType::AAAA),
        addr(V6_CLIENT),
        Transport::Udp,
    )
    .await;
    // 2001:db8:1:2ff:: — the /56 keeps 0x02 of the fourth group and drops 0xff.
    assert_eq!(out.subnet(), Some(net("2001:db8:1:200::/56")));
}

#[tokio::test]
async fn ipv4_mapped_client_treated_as_v4() {
    // The ACL admits 198.51.100.0/24 only as IPv4; the policy must see the same IPv4 address.
    let out = run(
        public_policy(),
        engine(0, false),
        &query(4, NAME, RecordType::A),
        addr("[::ffff:198.51.100.7]:40000"),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.message.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        out.seen.first().map(|r| r.client),
        Some(IpAddr::from([198, 51, 100, 7]))
    );
    assert_eq!(out.subnet(), Some(net("198.51.100.0/24")));
}

#[tokio::test]
async fn ipv4_mapped_private_client_is_private() {
    let out = run(
        ServerConfig::default().ecs.policy,
        engine(0, false),
        &query(4, NAME, RecordType::A),
        addr("[::ffff:10.1.2.3]:40000"),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.subnet(), None);
    assert_eq!(out.stats.ecs_withheld_private_client, 1);
}

// --- E08–E10: what a client's ECS may change ---------------------------------------------------

#[tokio::test]
async fn e08_untrusted_client_ecs_only_shortens() {
    // Claims another network with /20: only its length is used, on the packet's own address.
    let out = ask_with(vec![raw_ecs(&[0, 1, 20, 0, 203, 0, 112])], V4_CLIENT, 0).await;
    assert_eq!(out.subnet(), Some(net("198.51.96.0/20")));
    // Claims another network with /24: nothing shorter, so the client's own /24.
    let out = ask_with(vec![raw_ecs(&[0, 1, 24, 0, 203, 0, 113])], V4_CLIENT, 0).await;
    assert_eq!(out.subnet(), Some(net("198.51.100.0/24")));
    assert_eq!(out.stats.ecs_trusted_front_end, 0);
}

#[tokio::test]
async fn e08_untrusted_client_ecs_of_other_family_sends_no_subnet() {
    let out = ask_with(
        vec![raw_ecs(&[0, 2, 48, 0, 0x20, 1, 0xd, 0xb8, 0, 1])],
        V4_CLIENT,
        24,
    )
    .await;
    assert_eq!(out.subnet(), None);
    assert_eq!(out.stats.ecs_withheld_client_ecs_other_family, 1);
    let echo = out.echo().expect("echoed");
    assert_eq!(
        (echo.family(), echo.source(), echo.scope()),
        (Family::V6, 48, 0)
    );
}

#[tokio::test]
async fn e08_trusted_front_end_ecs_used() {
    let policy = public_policy().with_trusted_front_end(net("198.51.100.0/24"));
    let message = with_options(
        query(5, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 32, 0, 203, 0, 113, 77])],
    );
    let out = run(
        policy.clone(),
        engine(28, false),
        &message,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(
        out.subnet(),
        Some(net("203.0.113.0/24")),
        "theirs, truncated"
    );
    assert_eq!(out.stats.ecs_trusted_front_end, 1);
    let echo = out.echo().expect("echoed");
    assert_eq!(
        (echo.prefix(), echo.scope()),
        (net("203.0.113.77/32"), 24),
        "the front end's option back, SCOPE capped at the 24 used"
    );

    // A trusted front end stating a private address: nothing goes upstream (E05).
    let message = with_options(
        query(6, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 10, 1, 2])],
    );
    let out = run(
        policy,
        engine(0, false),
        &message,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.subnet(), None);
    assert_eq!(out.stats.ecs_withheld_private_client, 1);
}

#[tokio::test]
async fn e09_source_zero_sends_no_subnet_and_echoes_scope_0() {
    for (payload, family) in [([0u8, 1, 0, 0], Family::V4), ([0, 2, 0, 0], Family::V6)] {
        let out = ask_with(vec![raw_ecs(&payload)], V4_CLIENT, 24).await;
        assert_eq!(out.message.metadata.response_code, ResponseCode::NoError);
        assert_eq!(out.subnet(), None, "{family}");
        assert_eq!(out.stats.ecs_withheld_client_opted_out, 1);
        let echo = out.echo().expect("echoed");
        assert_eq!((echo.family(), echo.source(), echo.scope()), (family, 0, 0));
        assert_eq!(
            out.opt_rdata(),
            [&[0u8, 8, 0, 4][..], &payload].concat(),
            "FAMILY, SOURCE 0, SCOPE 0, no address octets"
        );
    }
}

#[tokio::test]
async fn e10_shorter_client_source() {
    let out = ask_with(vec![raw_ecs(&[0, 1, 16, 0, 198, 51])], V4_CLIENT, 24).await;
    assert_eq!(out.subnet(), Some(net("198.51.0.0/16")));
    assert_eq!(out.echo().map(|e| e.scope()), Some(16));
    let out = ask_with(
        vec![raw_ecs(&[0, 2, 40, 0, 0x20, 1, 0xd, 0xb8, 0])],
        V6_CLIENT,
        0,
    )
    .await;
    assert_eq!(out.subnet(), Some(net("2001:db8::/40")));
}

#[tokio::test]
async fn e10_longer_client_source_is_capped_at_our_maximum() {
    let out = ask_with(vec![raw_ecs(&[0, 1, 32, 0, 198, 51, 100, 7])], V4_CLIENT, 0).await;
    assert_eq!(out.subnet(), Some(net("198.51.100.0/24")));
}

// --- E23: the echo -----------------------------------------------------------------------------

#[tokio::test]
async fn e23_no_ecs_in_response_without_client_ecs() {
    let out = run(
        public_policy(),
        engine(24, false),
        &with_edns(query(7, NAME, RecordType::A), 1232, 0, false),
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.subnet(), Some(net("198.51.100.0/24")), "still tailored");
    assert!(out.message.edns.is_some());
    assert_eq!(out.opt_rdata(), Vec::<u8>::new(), "an OPT without options");
    assert_eq!(out.stats.ecs_echoed, 0);

    let out = run(
        public_policy(),
        engine(24, false),
        &query(8, NAME, RecordType::A),
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert!(out.message.edns.is_none(), "no OPT at all");
}

#[tokio::test]
async fn e23_echo_keeps_family_source_address() {
    // IPv4, SOURCE 22 (not a whole octet), engine scope 20.
    let out = ask_with(vec![raw_ecs(&[0, 1, 22, 0, 198, 51, 100])], V4_CLIENT, 20).await;
    assert_eq!(out.opt_rdata(), [0, 8, 0, 7, 0, 1, 22, 20, 198, 51, 100]);
    assert_eq!(out.stats.ecs_echoed, 1);

    // IPv6, SOURCE 64 although we used 56; engine scope 48.
    let out = ask_with(
        vec![raw_ecs(&[0, 2, 64, 0, 0x20, 1, 0xd, 0xb8, 0, 1, 2, 0xff])],
        V6_CLIENT,
        48,
    )
    .await;
    assert_eq!(out.subnet(), Some(net("2001:db8:1:200::/56")));
    assert_eq!(
        out.opt_rdata(),
        [0, 8, 0, 12, 0, 2, 64, 48, 0x20, 1, 0xd, 0xb8, 0, 1, 2, 0xff]
    );
}

#[tokio::test]
async fn e23_scope_capped_at_source_used() {
    // Client /24, data tailored to /28 (E15): the echo says 24.
    let out = ask_with(vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])], V4_CLIENT, 28).await;
    assert_eq!(out.echo().map(|e| (e.source(), e.scope())), Some((24, 24)));
    // Client /32, we used our maximum /24, data /32: the echo keeps SOURCE 32, SCOPE 24.
    let out = ask_with(
        vec![raw_ecs(&[0, 1, 32, 0, 198, 51, 100, 7])],
        V4_CLIENT,
        32,
    )
    .await;
    assert_eq!(out.echo().map(|e| (e.source(), e.scope())), Some((32, 24)));
    // Data valid for a shorter prefix than the source: its scope as it is.
    let out = ask_with(vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])], V4_CLIENT, 16).await;
    assert_eq!(out.echo().map(|e| e.scope()), Some(16));
}

#[tokio::test]
async fn e23_echo_same_on_hit_and_miss() {
    let message = with_options(
        query(9, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
    );
    let mut responses = Vec::new();
    for from_cache in [false, true] {
        let out = run(
            public_policy(),
            engine(20, from_cache),
            &message,
            addr(V4_CLIENT),
            Transport::Udp,
        )
        .await;
        assert_eq!(
            out.echo().map(|e| e.scope()),
            Some(20),
            "from_cache {from_cache}"
        );
        responses.push(out.bytes);
    }
    assert_eq!(responses.first(), responses.last(), "byte for byte");
}

#[tokio::test]
async fn e23_other_client_options_are_not_echoed() {
    let cookie = EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let unknown = EdnsOption::Unknown(65001, vec![9, 9]);
    let out = ask_with(
        vec![cookie, raw_ecs(&[0, 1, 24, 0, 198, 51, 100]), unknown],
        V4_CLIENT,
        24,
    )
    .await;
    assert_eq!(out.opt_rdata(), [0, 8, 0, 7, 0, 1, 24, 24, 198, 51, 100]);
}

#[tokio::test]
async fn e23_truncated_response_keeps_ecs() {
    let mut message = with_options(
        query(10, "big.example.com.", RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
    );
    if let Some(edns) = message.edns.as_mut() {
        edns.set_max_payload(512);
    }
    let out = run(
        public_policy(),
        engine(16, false),
        &message,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert!(out.message.metadata.truncation, "TC");
    assert!(out.message.answers.is_empty());
    assert!(out.bytes.len() <= 512);
    assert_eq!(out.opt_rdata(), [0, 8, 0, 7, 0, 1, 24, 16, 198, 51, 100]);

    // The same over TCP: the whole answer, the same echo.
    let out = run(
        public_policy(),
        engine(16, false),
        &message,
        addr(V4_CLIENT),
        Transport::Tcp,
    )
    .await;
    assert_eq!(out.message.answers.len(), 60);
    assert_eq!(out.opt_rdata(), [0, 8, 0, 7, 0, 1, 24, 16, 198, 51, 100]);
}

#[tokio::test]
async fn e23_error_rcodes_from_the_engine_still_echo() {
    // NXDOMAIN is an answer like any other: its scope is echoed too.
    let message = with_options(
        query(11, "nope.example.", RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
    );
    let out = run(
        public_policy(),
        engine(24, false),
        &message,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.message.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        out.echo().map(|e| e.scope()),
        Some(0),
        "the fake's NXDOMAIN is global"
    );
}

#[tokio::test]
async fn e23_refused_and_rejected_queries_carry_no_ecs() {
    let mut message = with_options(
        query(12, NAME, RecordType::AXFR),
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
    );
    let out = run(
        public_policy(),
        engine(24, false),
        &message,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.message.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(out.echo(), None);
    if let Some(question) = message.queries.first_mut() {
        question.set_query_type(RecordType::A);
    }
    let out = run(
        public_policy(),
        engine(24, false),
        &message,
        addr("192.0.2.1:53"),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.message.metadata.response_code, ResponseCode::Refused);
    assert_eq!(out.echo(), None);
    assert_eq!(out.stats.ecs_tailored + out.stats.ecs_withheld_disabled, 0);
}

#[tokio::test]
async fn e23_disabled_policy_sends_nothing_and_echoes_scope_0() {
    let message = with_options(
        query(13, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 24, 0, 198, 51, 100])],
    );
    let out = run(
        SubnetPolicy::disabled(),
        engine(24, false),
        &message,
        addr(V4_CLIENT),
        Transport::Udp,
    )
    .await;
    assert_eq!(out.subnet(), None);
    assert_eq!(out.stats.ecs_withheld_disabled, 1);
    assert_eq!(out.echo().map(|e| e.scope()), Some(0));
}

// --- E24: every decision is counted ------------------------------------------------------------

#[tokio::test]
async fn e24_decisions_are_counted_per_reason() {
    let pipeline = Pipeline::new(&config(public_policy()), engine(0, false), Arc::default());
    let plain = wire(&query(14, NAME, RecordType::A));
    let opted_out = wire(&with_options(
        query(15, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 0, 0])],
    ));
    for (bytes, client) in [
        (&plain, V4_CLIENT),
        (&plain, V6_CLIENT),
        (&plain, "127.0.0.1:1"),
        (&opted_out, V4_CLIENT),
    ] {
        let _ = pipeline.handle(bytes, addr(client), Transport::Udp).await;
    }
    let stats = pipeline.stats().snapshot();
    assert_eq!(stats.ecs_tailored, 2);
    assert_eq!(stats.ecs_withheld_private_client, 1);
    assert_eq!(stats.ecs_withheld_client_opted_out, 1);
    assert_eq!(stats.ecs_echoed, 1);
}

#[test]
fn e07_reason_is_the_ecs_one_whether_or_not_hickory_parses() {
    use crate::{ErrorReason, Rejection, parse_query};
    let reason = |payload: &[u8]| {
        let bytes = wire(&with_options(
            query(16, NAME, RecordType::A),
            vec![raw_ecs(payload)],
        ));
        let hickory_parses = Message::from_vec(&bytes).is_ok();
        match parse_query(&bytes) {
            Err(Rejection::Reply {
                reason: ErrorReason::BadEcs(error),
                context,
            }) => {
                assert!(context.question.is_some(), "question kept");
                assert!(context.edns.is_some(), "the client's OPT is known");
                (hickory_parses, error.reason())
            }
            other => panic!("not an ECS FORMERR: {other:?}"),
        }
    };
    // hickory rejects an unknown family itself …
    assert_eq!(
        reason(&[0, 3, 24, 0, 1, 2, 3]),
        (false, "ecs_unknown_family")
    );
    // … and accepts host bits and a non-zero SCOPE.
    assert_eq!(
        reason(&[0, 1, 22, 0, 198, 51, 101]),
        (true, "ecs_host_bits_set")
    );
    assert_eq!(
        reason(&[0, 1, 24, 24, 198, 51, 100]),
        (true, "ecs_nonzero_scope_in_query")
    );
}

#[test]
fn e07_valid_client_ecs_is_parsed_query_ecs() {
    let bytes = wire(&with_options(
        query(17, NAME, RecordType::A),
        vec![raw_ecs(&[0, 1, 20, 0, 203, 0, 112])],
    ));
    let parsed = crate::parse_query(&bytes).expect("valid");
    assert_eq!(parsed.ecs.map(|e| e.prefix()), Some(net("203.0.112.0/20")));
    let plain = crate::parse_query(&wire(&query(18, NAME, RecordType::A))).expect("valid");
    assert_eq!(plain.ecs, None);
}

#[tokio::test]
async fn e19_an_answer_for_every_client_is_replayed_to_any_subnet_a_tailored_one_only_to_its_own() {
    let resolver = Arc::new(
        FakeResolver::new()
            .with_a(NAME, RecordType::A, 2)
            .for_every_client(NAME, RecordType::A)
            .with_a("cdn.example.com.", RecordType::A, 1)
            .scoped("cdn.example.com.", RecordType::A, 24, false)
            .with_wire_cache(),
    );
    let mut config = config(public_policy());
    config.allow.push(net("203.0.113.0/24"));
    let pipeline = Pipeline::new(&config, Arc::clone(&resolver) as _, Arc::default());
    for name in [NAME, "cdn.example.com."] {
        for client in [V4_CLIENT, "203.0.113.7:40000"] {
            let message = query(1, name, RecordType::A);
            pipeline
                .handle(&wire(&message), addr(client), Transport::Udp)
                .await
                .expect("an answer");
        }
    }
    let asked: Vec<_> = resolver
        .seen()
        .iter()
        .map(|r| (r.question.name.to_ascii(), r.client_subnet))
        .collect();
    assert_eq!(
        asked,
        vec![
            (NAME.to_string(), Some(net("198.51.100.0/24"))),
            ("cdn.example.com.".to_string(), Some(net("198.51.100.0/24"))),
            ("cdn.example.com.".to_string(), Some(net("203.0.113.0/24"))),
        ],
        "the global answer was replayed to the second subnet, the tailored one was not"
    );
}
