//! Property tests of the public API: codec round trips, masking, and that no input panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::opt::ClientSubnet;
use hickory_proto::serialize::binary::BinEncodable;
use ipnet::IpNet;
use proptest::prelude::*;
use scoped_ecs::{
    Allowlist, Direction, Ecs, SubnetDecision, SubnetPolicy, find_ecs, message_ecs, scan_opt,
};

fn any_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

/// Any prefix, host bits possibly set.
fn any_net() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, l)| IpNet::new(Ipv4Addr::from(a).into(), l).unwrap()),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, l)| IpNet::new(Ipv6Addr::from(a).into(), l).unwrap()),
    ]
}

/// A query for `www.example.` IN A with one OPT record holding `rdata`.
fn query_with_opt(rdata: &[u8]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    m.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(rdata);
    m
}

proptest! {
    #[test]
    fn e02_compose_parse_round_trip(net in any_net()) {
        let ecs = Ecs::for_query(net);
        prop_assert_eq!(Ecs::parse(&ecs.payload(), Direction::Query), Ok(ecs));
        prop_assert_eq!(ecs.prefix(), net.trunc());
    }

    #[test]
    fn e02_composed_address_has_no_bits_past_source(net in any_net()) {
        let payload = Ecs::for_query(net).payload();
        let source = usize::from(net.prefix_len());
        prop_assert_eq!(payload.len(), 4 + source.div_ceil(8));
        for (i, byte) in payload[4..].iter().enumerate() {
            let bits_kept = source.saturating_sub(i * 8).min(8);
            let host_mask = 0xffu8.checked_shr(bits_kept as u32).unwrap_or(0);
            prop_assert_eq!(byte & host_mask, 0, "octet {} of {:?}", i, payload);
        }
    }

    #[test]
    fn e02_option_round_trips_through_opt_walk(net in any_net(), cookie in proptest::collection::vec(any::<u8>(), 0..40)) {
        let ecs = Ecs::for_query(net);
        let mut rdata = vec![0, 10];
        rdata.extend_from_slice(&(cookie.len() as u16).to_be_bytes());
        rdata.extend_from_slice(&cookie);
        rdata.extend_from_slice(&ecs.option());
        prop_assert_eq!(find_ecs(&rdata, Direction::Query), Ok(Some(ecs)));
    }

    #[test]
    fn e02_option_round_trips_through_message_scan(net in any_net()) {
        let ecs = Ecs::for_query(net);
        prop_assert_eq!(message_ecs(&query_with_opt(&ecs.option()), Direction::Query), Ok(Some(ecs)));
    }

    #[test]
    fn e02_hickory_encodes_our_option_identically(net in any_net(), scope in 0u8..=32) {
        let ecs = Ecs::for_query(net).with_scope(scope);
        let theirs = ClientSubnet::from(ecs).to_bytes().unwrap();
        prop_assert_eq!(&theirs[..], &ecs.payload()[..]);
    }

    #[test]
    fn e02_hickory_value_converts_back(net in any_net()) {
        let ecs = Ecs::for_query(net);
        prop_assert_eq!(Ecs::from_client_subnet(&ClientSubnet::from(ecs), Direction::Query), Ok(ecs));
    }

    #[test]
    fn e07_accepted_payload_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        if let Ok(ecs) = Ecs::parse(&bytes, Direction::Response) {
            prop_assert_eq!(&ecs.payload()[..], &bytes[..]);
        }
    }

    #[test]
    fn parsers_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Ecs::parse(&bytes, Direction::Query);
        let _ = Ecs::parse(&bytes, Direction::Response);
        let _ = find_ecs(&bytes, Direction::Query);
        let _ = scan_opt(&bytes);
        let _ = message_ecs(&bytes, Direction::Response);
    }

    #[test]
    fn scan_never_panics_on_mutated_message(
        net in any_net(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut msg = query_with_opt(&Ecs::for_query(net).option());
        for (at, value) in flips {
            let i = at.index(msg.len());
            msg[i] = value;
        }
        let cut = cut.index(msg.len() + 1);
        let _ = message_ecs(&msg[..cut], Direction::Query);
        let _ = message_ecs(&msg, Direction::Query);
    }

    #[test]
    fn allowlist_parse_never_panics(text in "[0-9a-fA-F:./# \\n*-]{0,80}") {
        let _ = Allowlist::parse(&text);
    }

    #[test]
    fn allowlist_lookup_never_panics(addr in any_addr(), name in "[a-z]{1,5}(\\.[a-z]{1,5}){0,3}") {
        let list = Allowlist::parse("192.0.2.0/24\n2001:db8::/32\ncdn.example\n").unwrap();
        let name = hickory_proto::rr::Name::from_ascii(&name).unwrap();
        let _ = list.allows(addr, &name);
    }

    #[test]
    fn e02_decided_subnet_never_exceeds_max(source in any_addr(), client in proptest::option::of(any_net())) {
        let policy = SubnetPolicy::new();
        let ecs = client.map(Ecs::for_query);
        if let SubnetDecision::Tailored(net) = policy.decide(source, ecs.as_ref()) {
            let max = if net.addr().is_ipv4() { 24 } else { 56 };
            prop_assert!(net.prefix_len() <= max);
            prop_assert_eq!(net, net.trunc());
        }
    }

    #[test]
    fn e08_untrusted_decision_covers_the_source_address(source in any_addr(), client in proptest::option::of(any_net())) {
        let policy = SubnetPolicy::new();
        let ecs = client.map(Ecs::for_query);
        if let Some(net) = policy.decide(source, ecs.as_ref()).subnet() {
            prop_assert!(net.contains(&source.to_canonical()));
        }
    }

    #[test]
    fn e10_untrusted_decision_never_longer_than_client_source(source in any_addr(), client in any_net()) {
        let policy = SubnetPolicy::new();
        if let Some(net) = policy.decide(source, Some(&Ecs::for_query(client))).subnet() {
            prop_assert!(net.prefix_len() <= client.prefix_len());
        }
    }
}
