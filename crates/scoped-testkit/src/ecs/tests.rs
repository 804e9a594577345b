//! Tests of the ECS authority and the ECS fixture, through `Internet::respond` (the path both
//! modes share) and once over loopback sockets.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{RData, RecordType};
use ipnet::IpNet;
use scoped_ecs::{Direction, Ecs, message_ecs};
use scoped_recursor::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use super::{Echo, EcsAuthority, ecs_payload, make_ecs_query, reply_ecs};
use crate::cdn::*;
use crate::{Internet, InternetBuilder, make_query};

fn ask_with(
    internet: &Internet,
    server: IpAddr,
    qname: &str,
    qtype: RecordType,
    subnet: Option<IpNet>,
    protocol: Protocol,
) -> Message {
    let query = match subnet {
        Some(subnet) => make_ecs_query(0x5ec5, qname, qtype, subnet),
        None => make_query(0x5ec5, qname, qtype, Some(1232)),
    };
    let reply = internet
        .respond(server, &query, protocol)
        .expect("the server answers");
    assert_eq!(reply.metadata.id, 0x5ec5);
    reply
}

fn ask(
    internet: &Internet,
    server: IpAddr,
    qname: &str,
    qtype: RecordType,
    subnet: Option<IpNet>,
) -> Message {
    ask_with(internet, server, qname, qtype, subnet, Protocol::Udp)
}

fn answers(reply: &Message) -> Vec<String> {
    reply
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

fn data(reply: &Message) -> Vec<String> {
    reply.answers.iter().map(|r| r.data.to_string()).collect()
}

/// (address, SOURCE, SCOPE) of the reply's ECS.
fn echo(reply: &Message) -> Option<(IpAddr, u8, u8)> {
    reply_ecs(reply).map(|e| (e.addr(), e.source(), e.scope()))
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The expected echo payload: the query's option with `scope`.
fn expected_payload(subnet: IpNet, scope: u8) -> Vec<u8> {
    Ecs::for_query(subnet).with_scope(scope).payload().to_vec()
}

fn has_soa_authority(reply: &Message) -> bool {
    matches!(reply.authorities.as_slice(), [soa] if soa.record_type() == RecordType::SOA)
}

#[test]
fn each_client_prefix_gets_its_edge_and_the_exact_echo() {
    let internet = ecs_internet();
    let cases = [
        (TOKYO_V4, TOKYO_EDGE_V4),
        (SF_V4, SF_EDGE_V4),
        (ELSEWHERE_V4, DEFAULT_EDGE_V4),
    ];
    for (subnet, edge) in cases {
        let reply = ask(&internet, CDN_1, WWW_CDN, RecordType::A, Some(subnet));
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        assert_eq!(answers(&reply), [format!("{WWW_CDN} A {edge}")], "{subnet}");
        assert_eq!(
            ecs_payload(&reply).unwrap(),
            expected_payload(subnet, 24),
            "{subnet}"
        );
    }
    // A client address anywhere in the prefix (the resolver sends it truncated to /24).
    let reply = ask(
        &internet,
        CDN_2,
        WWW_CDN,
        RecordType::A,
        Some(net("198.51.100.0/25")),
    );
    assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()]);
    assert_eq!(echo(&reply), Some((ip("198.51.100.0"), 25, 24)));
}

#[test]
fn without_ecs_the_default_answer_and_no_ecs_back() {
    let internet = ecs_internet();
    let reply = ask(&internet, CDN_1, WWW_CDN, RecordType::A, None);
    assert_eq!(data(&reply), [DEFAULT_EDGE_V4.to_string()]);
    assert!(reply.edns.is_some(), "OPT answered with OPT");
    assert_eq!(ecs_payload(&reply), None);
    // No EDNS at all: no OPT back either.
    let query = make_query(9, WWW_CDN, RecordType::AAAA, None);
    let reply = internet.respond(CDN_1, &query, Protocol::Udp).unwrap();
    assert_eq!(data(&reply), [DEFAULT_EDGE_V6.to_string()]);
    assert!(reply.edns.is_none());
}

#[test]
fn ipv6_prefixes_have_their_own_entries_and_scope() {
    let internet = ecs_internet();
    let cases = [
        (TOKYO_V6, TOKYO_EDGE_V6, TOKYO_EDGE_V4),
        (SF_V6, SF_EDGE_V6, SF_EDGE_V4),
        (ELSEWHERE_V6, DEFAULT_EDGE_V6, DEFAULT_EDGE_V4),
    ];
    for (subnet, edge6, edge4) in cases {
        let reply = ask(&internet, CDN_1, WWW_CDN, RecordType::AAAA, Some(subnet));
        assert_eq!(data(&reply), [edge6.to_string()], "{subnet}");
        assert_eq!(ecs_payload(&reply).unwrap(), expected_payload(subnet, 56));
        let reply = ask(&internet, CDN_1, WWW_CDN, RecordType::A, Some(subnet));
        assert_eq!(data(&reply), [edge4.to_string()], "{subnet}");
    }
    // The v4 table does not leak into v6: an IPv6 client asks with a /56 inside no v6 entry.
    let reply = ask(
        &internet,
        CDN_1,
        WWW_CDN,
        RecordType::AAAA,
        Some(net("2001:db8:81:100::/56")),
    );
    assert_eq!(data(&reply), [DEFAULT_EDGE_V6.to_string()]);
    assert_eq!(echo(&reply), Some((ip("2001:db8:81:100::"), 56, 56)));
}

#[test]
fn scope_is_configured_per_name_and_family() {
    let internet = ecs_internet();
    let cases = [
        (WWW_CDN, 24, 56),
        (WIDE_CDN, 16, 48),
        (NARROW_CDN, 28, 64),
        (STATIC_CDN, 0, 0),
    ];
    for (name, v4, v6) in cases {
        let reply = ask(&internet, CDN_1, name, RecordType::A, Some(TOKYO_V4));
        assert_eq!(echo(&reply), Some((ip("198.51.100.0"), 24, v4)), "{name}");
        let reply = ask(&internet, CDN_1, name, RecordType::A, Some(SF_V6));
        assert_eq!(echo(&reply), Some((ip("2001:db8:1::"), 56, v6)), "{name}");
    }
    // SCOPE larger than a short SOURCE is sent as configured (E15).
    let reply = ask(
        &internet,
        CDN_1,
        WWW_CDN,
        RecordType::A,
        Some(net("198.51.96.0/20")),
    );
    assert_eq!(echo(&reply), Some((ip("198.51.96.0"), 20, 24)));
    assert_eq!(data(&reply), [DEFAULT_EDGE_V4.to_string()]);
    // A SOURCE-0 query: no address to tailor by, the default answer, SCOPE 0.
    let reply = ask(
        &internet,
        CDN_1,
        WWW_CDN,
        RecordType::A,
        Some(net("0.0.0.0/0")),
    );
    assert_eq!(data(&reply), [DEFAULT_EDGE_V4.to_string()]);
    assert_eq!(ecs_payload(&reply).unwrap(), [0, 1, 0, 0]);
}

#[test]
fn scope_and_echo_change_at_runtime_per_server() {
    let fixture = ecs_fixture();
    let internet = &fixture.internet;
    fixture.cdn1.set_scope(WWW_CDN, 0);
    fixture.cdn1.set_echo(Echo::Omit);
    let one = ask(internet, CDN_1, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert_eq!(data(&one), [TOKYO_EDGE_V4.to_string()]);
    assert_eq!(ecs_payload(&one), None);
    fixture.cdn1.set_echo(Echo::Correct);
    let one = ask(internet, CDN_1, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert_eq!(echo(&one), Some((ip("198.51.100.0"), 24, 0)));
    // The other CDN server has its own knobs.
    let two = ask(internet, CDN_2, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert_eq!(echo(&two), Some((ip("198.51.100.0"), 24, 24)));
    fixture.both_cdn(|h| h.set_scope_v6(WWW_CDN, 40));
    for server in [CDN_1, CDN_2] {
        let reply = ask(internet, server, WWW_CDN, RecordType::A, Some(TOKYO_V6));
        assert_eq!(echo(&reply), Some((ip("2001:db8:81::"), 56, 40)));
    }
    assert_eq!(fixture.cdn1.snapshot().echo_mode(), Echo::Correct);
}

#[test]
fn each_wrong_echo_changes_exactly_one_field() {
    let fixture = ecs_fixture();
    let v4 = |echo: Echo| {
        fixture.cdn1.set_echo(echo);
        let reply = ask(
            &fixture.internet,
            CDN_1,
            WWW_CDN,
            RecordType::A,
            Some(TOKYO_V4),
        );
        assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()], "{echo:?}");
        ecs_payload(&reply)
    };
    //                      FAMILY  SOURCE SCOPE ADDRESS
    let correct: Vec<u8> = [0, 1, 24, 24, 198, 51, 100].to_vec();
    assert_eq!(v4(Echo::Correct), Some(correct));
    assert_eq!(
        v4(Echo::WrongSource),
        Some(vec![0, 1, 23, 24, 198, 51, 100])
    );
    assert_eq!(
        v4(Echo::WrongAddress),
        Some(vec![0, 1, 24, 24, 198, 51, 101])
    );
    assert_eq!(
        v4(Echo::WrongFamily),
        Some(vec![0, 2, 24, 24, 198, 51, 100])
    );
    assert_eq!(v4(Echo::Omit), None);

    let v6 = |echo: Echo| {
        fixture.cdn1.set_echo(echo);
        let reply = ask(
            &fixture.internet,
            CDN_1,
            WWW_CDN,
            RecordType::AAAA,
            Some(SF_V6),
        );
        ecs_payload(&reply).unwrap()
    };
    let address = [0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00];
    let with = |head: [u8; 4], addr: &[u8]| [&head[..], addr].concat();
    assert_eq!(v6(Echo::Correct), with([0, 2, 56, 56], &address));
    assert_eq!(v6(Echo::WrongSource), with([0, 2, 55, 56], &address));
    let mut flipped = address;
    flipped[6] ^= 1;
    assert_eq!(v6(Echo::WrongAddress), with([0, 2, 56, 56], &flipped));
    // To IPv4: SOURCE capped at 32, the first four octets, SCOPE capped at 32.
    assert_eq!(v6(Echo::WrongFamily), with([0, 1, 32, 32], &address[..4]));

    // SOURCE 0: WrongSource says 1, WrongAddress has nothing to change.
    let zero = |echo: Echo| {
        fixture.cdn1.set_echo(echo);
        let reply = ask(
            &fixture.internet,
            CDN_1,
            WWW_CDN,
            RecordType::A,
            Some(net("0.0.0.0/0")),
        );
        ecs_payload(&reply).unwrap()
    };
    assert_eq!(zero(Echo::WrongSource), [0, 1, 1, 0, 0]);
    assert_eq!(zero(Echo::WrongAddress), [0, 1, 0, 0]);
    // Queries without ECS never get one, whatever the mode.
    for mode in [Echo::WrongSource, Echo::WrongAddress, Echo::WrongFamily] {
        fixture.cdn1.set_echo(mode);
        let reply = ask(&fixture.internet, CDN_1, WWW_CDN, RecordType::A, None);
        assert_eq!(ecs_payload(&reply), None, "{mode:?}");
    }
}

#[test]
fn reject_ecs_answers_the_rcode_only_when_ecs_is_present() {
    let fixture = ecs_fixture();
    let internet = &fixture.internet;
    for rcode in [ResponseCode::Refused, ResponseCode::FormErr] {
        fixture.cdn2.set_reject_ecs(Some(rcode));
        for subnet in [TOKYO_V4, SF_V6, net("0.0.0.0/0")] {
            let reply = ask(internet, CDN_2, WWW_CDN, RecordType::A, Some(subnet));
            assert_eq!(reply.metadata.response_code, rcode, "{subnet}");
            assert!(reply.answers.is_empty());
            assert_eq!(ecs_payload(&reply), None);
        }
        let reply = ask(internet, CDN_2, WWW_CDN, RecordType::A, None);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(data(&reply), [DEFAULT_EDGE_V4.to_string()]);
        // The other server is unaffected.
        let reply = ask(internet, CDN_1, WWW_CDN, RecordType::A, Some(TOKYO_V4));
        assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()]);
    }
    fixture.cdn2.set_reject_ecs(None);
    let reply = ask(internet, CDN_2, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()]);
}

#[test]
fn malformed_ecs_in_a_query_gets_formerr() {
    let internet = ecs_internet();
    let bad = [
        // ADDRESS bit past SOURCE: 198.51.101.0/23 has bit 24 set.
        ClientSubnet::new(ip("198.51.101.0"), 23, 0),
        // SCOPE in a query must be 0.
        ClientSubnet::new(ip("198.51.100.0"), 24, 24),
    ];
    for subnet in bad {
        let mut query = make_query(3, WWW_CDN, RecordType::A, Some(1232));
        if let Some(edns) = query.edns.as_mut() {
            edns.options_mut().insert(EdnsOption::Subnet(subnet));
        }
        let reply = internet.respond(CDN_1, &query, Protocol::Udp).unwrap();
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::FormErr,
            "{subnet:?}"
        );
        assert!(reply.answers.is_empty());
        assert_eq!(ecs_payload(&reply), None);
    }
}

#[test]
fn negative_answers_per_subnet_carry_their_scope() {
    let internet = ecs_internet();
    let reply = ask(&internet, CDN_1, JP_ONLY_CDN, RecordType::A, Some(TOKYO_V4));
    assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()]);
    assert_eq!(echo(&reply), Some((ip("198.51.100.0"), 24, 24)));
    // The name exists for Tokyo: another type is NODATA, not NXDOMAIN.
    let reply = ask(
        &internet,
        CDN_1,
        JP_ONLY_CDN,
        RecordType::AAAA,
        Some(TOKYO_V6),
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty() && has_soa_authority(&reply));
    assert_eq!(echo(&reply), Some((ip("2001:db8:81::"), 56, 56)));
    // San Francisco IPv4: NXDOMAIN under /24.
    let reply = ask(&internet, CDN_1, JP_ONLY_CDN, RecordType::A, Some(SF_V4));
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.answers.is_empty() && has_soa_authority(&reply));
    assert!(reply.metadata.authoritative);
    assert_eq!(echo(&reply), Some((ip("203.0.113.0"), 24, 24)));
    // San Francisco IPv6: NODATA under /56.
    let reply = ask(&internet, CDN_1, JP_ONLY_CDN, RecordType::A, Some(SF_V6));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty() && has_soa_authority(&reply));
    assert_eq!(echo(&reply), Some((ip("2001:db8:1::"), 56, 56)));
    // Everyone else and no ECS: the zone's NXDOMAIN, still with the name's scope.
    let reply = ask(
        &internet,
        CDN_1,
        JP_ONLY_CDN,
        RecordType::A,
        Some(ELSEWHERE_V4),
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(echo(&reply), Some((ip("192.0.2.0"), 24, 24)));
    let reply = ask(&internet, CDN_1, JP_ONLY_CDN, RecordType::A, None);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(has_soa_authority(&reply));
}

#[test]
fn tailored_cname_to_untailored_targets() {
    let internet = ecs_internet();
    let cases = [
        (Some(TOKYO_V4), "tokyo.pop.example.", Some(24)),
        (Some(SF_V6), "sf.pop.example.", Some(56)),
        (Some(ELSEWHERE_V4), "any.pop.example.", Some(24)),
        (None, "any.pop.example.", None),
    ];
    for (subnet, target, scope) in cases {
        let reply = ask(&internet, CDN_1, MAP_CDN, RecordType::A, subnet);
        // The target lives in another zone: only the CNAME (the resolver follows it).
        assert_eq!(answers(&reply), [format!("{MAP_CDN} CNAME {target}")]);
        assert_eq!(reply_ecs(&reply).map(|e| e.scope()), scope);
    }
    // The targets are untailored, on a server that ignores ECS.
    let reply = ask(
        &internet,
        PLAIN,
        "tokyo.pop.example.",
        RecordType::A,
        Some(TOKYO_V4),
    );
    assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()]);
    assert_eq!(ecs_payload(&reply), None);
    let reply = ask(&internet, PLAIN, "sf.pop.example.", RecordType::A, None);
    assert_eq!(data(&reply), [SF_EDGE_V4.to_string()]);
}

#[test]
fn untailored_cname_to_tailored_names() {
    let internet = ecs_internet();
    // In the same zone: the chain is followed, the tailored link decides the answer and scope.
    let reply = ask(&internet, CDN_1, ALIAS_CDN, RecordType::A, Some(SF_V4));
    assert_eq!(
        answers(&reply),
        [
            format!("{ALIAS_CDN} CNAME {WWW_CDN}"),
            format!("{WWW_CDN} A {SF_EDGE_V4}")
        ]
    );
    assert_eq!(echo(&reply), Some((ip("203.0.113.0"), 24, 24)));
    let reply = ask(&internet, CDN_1, ALIAS_CDN, RecordType::AAAA, None);
    assert_eq!(
        data(&reply),
        [WWW_CDN.to_string(), DEFAULT_EDGE_V6.to_string()]
    );
    // Across servers: the untailored link alone, no ECS from the plain server.
    let reply = ask(&internet, PLAIN, WWW_SHOP, RecordType::A, Some(TOKYO_V4));
    assert_eq!(answers(&reply), [format!("{WWW_SHOP} CNAME {WWW_CDN}")]);
    assert_eq!(ecs_payload(&reply), None);
}

#[test]
fn other_server_tailors_too() {
    let internet = ecs_internet();
    let cases = [
        (Some(TOKYO_V4), OTHER_TOKYO_V4),
        (Some(TOKYO_V6), OTHER_TOKYO_V4),
        (Some(SF_V4), OTHER_SF_V4),
        (Some(ELSEWHERE_V4), OTHER_DEFAULT_V4),
        (None, OTHER_DEFAULT_V4),
    ];
    for (subnet, answer) in cases {
        let reply = ask(&internet, OTHER, WWW_OTHER, RecordType::A, subnet);
        assert_eq!(data(&reply), [answer.to_string()], "{subnet:?}");
        assert_eq!(reply_ecs(&reply).is_some(), subnet.is_some());
    }
}

#[test]
fn fixture_resolves_from_the_root_by_referrals() {
    let internet = ecs_internet();
    assert_eq!(
        internet.root_hints(),
        [(crate::name("a.root.test."), ECS_ROOT)]
    );
    assert_eq!(
        internet.server_addrs(),
        [ECS_ROOT, ECS_TLD, CDN_1, CDN_2, OTHER, PLAIN]
    );
    let glue = |reply: &Message| -> Vec<IpAddr> {
        reply
            .additionals
            .iter()
            .filter_map(|r| match r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .collect()
    };
    let reply = ask(&internet, ECS_ROOT, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert!(!reply.metadata.authoritative && reply.answers.is_empty());
    assert_eq!(glue(&reply), [ECS_TLD]);
    let reply = ask(&internet, ECS_TLD, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert_eq!(glue(&reply), [CDN_1, CDN_2]);
    let reply = ask(&internet, ECS_TLD, WWW_OTHER, RecordType::A, None);
    assert_eq!(glue(&reply), [OTHER]);
    let reply = ask(
        &internet,
        ECS_TLD,
        "tokyo.pop.example.",
        RecordType::A,
        None,
    );
    assert_eq!(glue(&reply), [PLAIN]);
    for server in [CDN_1, CDN_2] {
        let reply = ask(&internet, server, WWW_CDN, RecordType::A, Some(TOKYO_V4));
        assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()]);
    }
    // Over TCP the same.
    let reply = ask_with(
        &internet,
        CDN_1,
        WWW_CDN,
        RecordType::A,
        Some(SF_V4),
        Protocol::Tcp,
    );
    assert_eq!(data(&reply), [SF_EDGE_V4.to_string()]);
    assert_eq!(ecs_payload(&reply).unwrap(), expected_payload(SF_V4, 24));
}

#[test]
fn longest_listed_prefix_wins_and_scopes_override() {
    let mut b = InternetBuilder::new();
    b.zone(
        "t.example.",
        "@ 60 IN SOA ns h 1 2 3 4 60\n@ 60 IN NS ns\nns 60 IN A 127.53.9.1\nx 60 IN A 192.0.2.9\nstatic 60 IN A 192.0.2.8\n",
    )
    .server(ip("127.53.9.1"), &["t.example."]);
    let internet = b.build().unwrap();
    let mut authority = EcsAuthority::new();
    authority
        .answer("x.t.example.", "198.51.0.0/16", "A 192.0.2.16")
        .answer("x.t.example.", "198.51.100.0/24", "77 A 192.0.2.24")
        .prefix_scope("x.t.example.", "198.51.0.0/16", 16)
        .untailored_scope(8);
    assert!(authority.is_tailored("X.T.example"));
    assert!(!authority.is_tailored("static.t.example."));
    let handle = authority.install(&internet.expect_server(ip("127.53.9.1")));
    let server = ip("127.53.9.1");
    let reply = ask(
        &internet,
        server,
        "x.t.example.",
        RecordType::A,
        Some(TOKYO_V4),
    );
    assert_eq!(data(&reply), ["192.0.2.24"]);
    assert_eq!(reply.answers[0].ttl, 77);
    assert_eq!(echo(&reply).map(|e| e.2), Some(24));
    let reply = ask(
        &internet,
        server,
        "x.t.example.",
        RecordType::A,
        Some(net("198.51.7.0/24")),
    );
    assert_eq!(data(&reply), ["192.0.2.16"]);
    assert_eq!(reply.answers[0].ttl, 300);
    assert_eq!(echo(&reply).map(|e| e.2), Some(16));
    // A /16 query's address (198.51.0.0) is inside the /16 entry only.
    let reply = ask(
        &internet,
        server,
        "x.t.example.",
        RecordType::A,
        Some(net("198.51.0.0/16")),
    );
    assert_eq!(data(&reply), ["192.0.2.16"]);
    // Untailored data gets the untailored scope.
    let reply = ask(
        &internet,
        server,
        "static.t.example.",
        RecordType::A,
        Some(TOKYO_V4),
    );
    assert_eq!(echo(&reply).map(|e| e.2), Some(8));
    // A default answer replaces the zone data; a later answer replaces an NXDOMAIN entry.
    handle.update(|a| {
        a.default_answer("x.t.example.", "A 192.0.2.99")
            .nxdomain("x.t.example.", "203.0.113.0/24")
            .nxdomain("x.t.example.", "198.51.100.0/24")
            .answer("x.t.example.", "198.51.100.0/24", "A 192.0.2.25");
    });
    let reply = ask(&internet, server, "x.t.example.", RecordType::A, None);
    assert_eq!(data(&reply), ["192.0.2.99"]);
    let reply = ask(
        &internet,
        server,
        "x.t.example.",
        RecordType::A,
        Some(SF_V4),
    );
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    let reply = ask(
        &internet,
        server,
        "x.t.example.",
        RecordType::A,
        Some(TOKYO_V4),
    );
    assert_eq!(data(&reply), ["192.0.2.25"]);
}

#[test]
fn server_behaviour_still_applies_around_the_authority() {
    let internet = ecs_internet();
    let server = internet.expect_server(CDN_1);
    server.set_rcode(Some(ResponseCode::ServFail));
    let reply = ask(&internet, CDN_1, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    server.set_rcode(None);
    server.set_dead(true);
    let query = make_ecs_query(1, WWW_CDN, RecordType::A, TOKYO_V4);
    assert!(internet.respond(CDN_1, &query, Protocol::Udp).is_none());
    server.set_dead(false);
    server.set_truncate_udp(true);
    let reply = ask(&internet, CDN_1, WWW_CDN, RecordType::A, Some(TOKYO_V4));
    assert!(reply.metadata.truncation && reply.answers.is_empty());
    let reply = ask_with(
        &internet,
        CDN_1,
        WWW_CDN,
        RecordType::A,
        Some(TOKYO_V4),
        Protocol::Tcp,
    );
    assert_eq!(data(&reply), [TOKYO_EDGE_V4.to_string()]);
}

#[test]
fn query_log_shows_the_ecs_of_each_query() {
    let internet = ecs_internet();
    ask(
        &internet,
        CDN_1,
        WWW_CDN,
        RecordType::A,
        Some(net("198.51.100.9/24")),
    );
    ask(&internet, CDN_1, WWW_CDN, RecordType::A, None);
    ask(&internet, CDN_2, WWW_CDN, RecordType::AAAA, Some(SF_V6));
    let with = internet.queries_with_ecs();
    assert_eq!(with.len(), 2);
    assert_eq!(with[1].server.ip(), CDN_2);
    let sent = internet.ecs_sent_to(CDN_1);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0, crate::name(WWW_CDN));
    let ecs = sent[0].1.unwrap();
    // make_ecs_query truncates: the host bits of 198.51.100.9 never leave.
    assert_eq!(
        (ecs.addr(), ecs.source(), ecs.scope()),
        (ip("198.51.100.0"), 24, 0)
    );
    assert_eq!(sent[1].1, None);
    let logged = &internet.queries_to(CDN_2)[0];
    assert_eq!(logged.ecs(), Some(Ecs::for_query(SF_V6)));
    assert_eq!(logged.client_subnet().map(|c| c.source_prefix()), Some(56));
}

const WAIT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn over_loopback_udp_and_tcp() {
    let internet = ecs_internet();
    let lo = internet.serve_on_loopback().await.unwrap();
    let addr = lo.addr_of(CDN_1).unwrap();

    let query = make_ecs_query(0x7e57, WWW_CDN, RecordType::A, TOKYO_V4);
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    socket.connect(addr).await.unwrap();
    socket.send(&query.to_vec().unwrap()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(WAIT, socket.recv(&mut buf)).await.unwrap().unwrap();
    let wire = &buf[..n];
    let echoed = message_ecs(wire, Direction::Response).unwrap().unwrap();
    assert_eq!(echoed, Ecs::for_query(TOKYO_V4).with_scope(24));
    assert_eq!(
        data(&Message::from_vec(wire).unwrap()),
        [TOKYO_EDGE_V4.to_string()]
    );

    let query = make_ecs_query(0x7e58, WWW_CDN, RecordType::AAAA, SF_V6);
    let body = query.to_vec().unwrap();
    let mut framed = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    let mut stream = TcpStream::connect(lo.addr_of(CDN_2).unwrap())
        .await
        .unwrap();
    stream.write_all(&framed).await.unwrap();
    let len = timeout(WAIT, stream.read_u16()).await.unwrap().unwrap();
    let mut reply = vec![0u8; usize::from(len)];
    timeout(WAIT, stream.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let echoed = message_ecs(&reply, Direction::Response).unwrap().unwrap();
    assert_eq!(echoed, Ecs::for_query(SF_V6).with_scope(56));
    assert_eq!(
        data(&Message::from_vec(&reply).unwrap()),
        [SF_EDGE_V6.to_string()]
    );

    let log = internet.queries_with_ecs();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].protocol, Protocol::Udp);
    assert_eq!(log[1].protocol, Protocol::Tcp);
    lo.shutdown().await;
}

#[test]
fn tailored_cnames_are_chased_within_their_zone_only() {
    let mut b = InternetBuilder::new();
    b.zone(
        "t.example.",
        "@ 60 IN SOA ns h 1 2 3 4 60\n@ 60 IN NS ns\nns 60 IN A 127.53.9.1\nplain 60 IN A 192.0.2.7\n",
    )
    .zone("u.example.", "@ 60 IN SOA ns.t.example. h 1 2 3 4 60\n@ 60 IN NS ns.t.example.\nw 60 IN A 192.0.2.70\n")
    .server(ip("127.53.9.1"), &["t.example.", "u.example."]);
    let internet = b.build().unwrap();
    let server = ip("127.53.9.1");
    let mut authority = EcsAuthority::new();
    authority
        .answer("x.t.example.", TOKYO_V4, "CNAME y.t.example.")
        .scope("x.t.example.", 24)
        .answer("y.t.example.", TOKYO_V4, "A 192.0.2.77")
        .scope("y.t.example.", 16)
        .answer("z.t.example.", TOKYO_V4, "CNAME plain.t.example.")
        .answer("z.t.example.", SF_V4, "CNAME w.u.example.");
    authority.install(&internet.expect_server(server));
    // Tailored → tailored in the zone: both links, the larger scope of the two.
    let reply = ask(
        &internet,
        server,
        "x.t.example.",
        RecordType::A,
        Some(TOKYO_V4),
    );
    assert_eq!(data(&reply), ["y.t.example.", "192.0.2.77"]);
    assert_eq!(echo(&reply).map(|e| e.2), Some(24));
    // Tailored → untailored in the zone: chased, the tailored link's scope.
    let reply = ask(
        &internet,
        server,
        "z.t.example.",
        RecordType::A,
        Some(TOKYO_V4),
    );
    assert_eq!(data(&reply), ["plain.t.example.", "192.0.2.7"]);
    assert_eq!(echo(&reply).map(|e| e.2), Some(24));
    // Into another zone the server also hosts: not chased, like the zone logic.
    let reply = ask(
        &internet,
        server,
        "z.t.example.",
        RecordType::A,
        Some(SF_V4),
    );
    assert_eq!(data(&reply), ["w.u.example."]);
    // Asking for the CNAME itself returns it, not its target.
    let reply = ask(
        &internet,
        server,
        "x.t.example.",
        RecordType::CNAME,
        Some(TOKYO_V4),
    );
    assert_eq!(data(&reply), ["y.t.example."]);
}
