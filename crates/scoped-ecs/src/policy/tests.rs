use super::*;
use crate::option::Direction;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn tailored(s: &str) -> SubnetDecision {
    SubnetDecision::Tailored(net(s))
}

fn client_ecs(s: &str) -> Ecs {
    Ecs::for_query(net(s))
}

fn policy() -> SubnetPolicy {
    SubnetPolicy::new()
}

// --- E02 ---

#[test]
fn e02_v4_client_truncated_to_24() {
    assert_eq!(
        policy().decide(ip("8.8.4.77"), None),
        tailored("8.8.4.0/24")
    );
}

#[test]
fn e02_v6_client_truncated_to_56() {
    assert_eq!(
        policy().decide(ip("2a00:1450:4001:81c::200e"), None),
        tailored("2a00:1450:4001:800::/56")
    );
}

#[test]
fn e02_configured_max_applies() {
    let p = policy().with_max_lengths(20, 48).unwrap();
    assert_eq!(p.decide(ip("8.8.4.77"), None), tailored("8.8.0.0/20"));
}

#[test]
fn e02_max_33_is_rejected() {
    assert_eq!(
        policy().with_max_lengths(33, 56).err(),
        Some(PolicyError::LengthTooLong {
            family: Family::V4,
            len: 33
        })
    );
}

#[test]
fn e02_family_max_zero_withholds() {
    let p = policy().with_max_lengths(0, 56).unwrap();
    assert_eq!(
        p.decide(ip("8.8.4.77"), None),
        SubnetDecision::Withheld(NoSubnetReason::Disabled)
    );
}

// --- E03 ---

#[test]
fn e03_per_netblock_shorter_length() {
    let p = policy()
        .with_netblock_length(net("8.8.0.0/16"), 20)
        .unwrap();
    assert_eq!(p.decide(ip("8.8.4.77"), None), tailored("8.8.0.0/20"));
}

#[test]
fn e03_longest_matching_netblock_wins() {
    let p = policy()
        .with_netblock_length(net("8.0.0.0/8"), 16)
        .unwrap()
        .with_netblock_length(net("8.8.0.0/16"), 20)
        .unwrap();
    assert_eq!(p.decide(ip("8.8.4.77"), None), tailored("8.8.0.0/20"));
}

#[test]
fn e03_netblock_does_not_affect_others() {
    let p = policy()
        .with_netblock_length(net("8.8.0.0/16"), 20)
        .unwrap();
    assert_eq!(p.decide(ip("9.9.9.9"), None), tailored("9.9.9.0/24"));
}

#[test]
fn e03_netblock_longer_than_max_is_rejected() {
    assert_eq!(
        policy().with_netblock_length(net("8.8.0.0/16"), 28).err(),
        Some(PolicyError::NetblockLongerThanMax {
            net: net("8.8.0.0/16"),
            len: 28,
            max: 24
        })
    );
}

#[test]
fn e03_lowering_max_below_netblock_is_rejected() {
    let p = policy()
        .with_netblock_length(net("8.8.0.0/16"), 22)
        .unwrap();
    assert_eq!(
        p.with_max_lengths(20, 56).err(),
        Some(PolicyError::NetblockLongerThanMax {
            net: net("8.8.0.0/16"),
            len: 22,
            max: 20
        })
    );
}

#[test]
fn e03_netblock_length_zero_withholds() {
    let p = policy().with_netblock_length(net("8.8.0.0/16"), 0).unwrap();
    assert_eq!(
        p.decide(ip("8.8.4.77"), None),
        SubnetDecision::Withheld(NoSubnetReason::Disabled)
    );
}

#[test]
fn e03_netblock_v6() {
    let p = policy().with_netblock_length(net("2a00::/16"), 40).unwrap();
    assert_eq!(
        p.decide(ip("2a00:1450:4001:81c::1"), None),
        tailored("2a00:1450:4000::/40")
    );
}

// --- E05 ---

#[test]
fn e05_private_client_sends_nothing() {
    assert_eq!(
        policy().decide(ip("10.1.2.3"), None),
        SubnetDecision::Withheld(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_loopback_sends_nothing() {
    assert_eq!(
        policy().decide(ip("127.0.0.1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_cgnat_sends_nothing() {
    assert_eq!(
        policy().decide(ip("100.64.1.1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_link_local_v4_sends_nothing() {
    assert_eq!(
        policy().decide(ip("169.254.3.4"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_rfc1918_172_sends_nothing() {
    assert_eq!(
        policy().decide(ip("172.31.255.1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_next_to_rfc1918_is_routable() {
    assert_eq!(
        policy().decide(ip("172.32.0.1"), None),
        tailored("172.32.0.0/24")
    );
}

#[test]
fn e05_v6_loopback_sends_nothing() {
    assert_eq!(
        policy().decide(ip("::1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_v6_unspecified_sends_nothing() {
    assert_eq!(
        policy().decide(ip("::"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_ula_sends_nothing() {
    assert_eq!(
        policy().decide(ip("fd12:3456::1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_v6_link_local_sends_nothing() {
    assert_eq!(
        policy().decide(ip("fe80::1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_documentation_sends_nothing() {
    assert_eq!(
        policy().decide(ip("2001:db8::1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_non_routable_list_is_configurable() {
    let p = policy().with_non_routable([net("8.8.0.0/16")]);
    assert_eq!(p.decide(ip("10.1.2.3"), None), tailored("10.1.2.0/24"));
}

#[test]
fn e05_configured_non_routable_entry_applies() {
    let p = policy().with_non_routable([net("8.8.0.0/16")]);
    assert_eq!(
        p.decide(ip("8.8.4.4"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_ipv4_mapped_private_client_sends_nothing() {
    assert_eq!(
        policy().decide(ip("::ffff:10.0.0.1"), None).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

#[test]
fn e05_trusted_front_end_private_ecs_sends_nothing() {
    let p = policy().with_trusted_front_end(net("10.0.0.0/8"));
    let ecs = client_ecs("192.168.7.0/24");
    assert_eq!(
        p.decide(ip("10.0.0.2"), Some(&ecs)).reason(),
        Some(NoSubnetReason::PrivateClient)
    );
}

// --- IPv4-mapped clients ---

#[test]
fn ipv4_mapped_client_gets_v4_subnet() {
    assert_eq!(
        policy().decide(ip("::ffff:8.8.4.77"), None),
        tailored("8.8.4.0/24")
    );
}

#[test]
fn ipv4_mapped_client_matches_v4_netblock() {
    let p = policy()
        .with_netblock_length(net("8.8.0.0/16"), 20)
        .unwrap();
    assert_eq!(
        p.decide(ip("::ffff:8.8.4.77"), None),
        tailored("8.8.0.0/20")
    );
}

#[test]
fn ipv4_mapped_client_with_v4_ecs_is_same_family() {
    let ecs = client_ecs("0.0.0.0/16");
    assert_eq!(
        policy().decide(ip("::ffff:8.8.4.77"), Some(&ecs)),
        tailored("8.8.0.0/16")
    );
}

#[test]
fn ipv4_mapped_trusted_front_end_is_trusted() {
    let p = policy().with_trusted_front_end(net("9.9.9.9/32"));
    let ecs = client_ecs("8.8.4.0/24");
    assert_eq!(
        p.decide(ip("::ffff:9.9.9.9"), Some(&ecs)),
        tailored("8.8.4.0/24")
    );
}

// --- E08 / E10 ---

#[test]
fn e08_untrusted_client_ecs_only_shortens() {
    let ecs = client_ecs("9.9.9.0/24");
    assert_eq!(
        policy().decide(ip("8.8.4.77"), Some(&ecs)),
        tailored("8.8.4.0/24")
    );
}

#[test]
fn e08_untrusted_client_ecs_never_lengthens() {
    let ecs = client_ecs("8.8.4.77/32");
    assert_eq!(
        policy().decide(ip("8.8.4.77"), Some(&ecs)),
        tailored("8.8.4.0/24")
    );
}

#[test]
fn e08_untrusted_private_ecs_address_is_ignored() {
    let ecs = client_ecs("10.0.0.0/24");
    assert_eq!(
        policy().decide(ip("8.8.4.77"), Some(&ecs)),
        tailored("8.8.4.0/24")
    );
}

#[test]
fn e08_untrusted_ecs_of_other_family_withholds() {
    let ecs = client_ecs("2a00:1450::/32");
    assert_eq!(
        policy().decide(ip("8.8.4.77"), Some(&ecs)),
        SubnetDecision::Withheld(NoSubnetReason::ClientEcsOtherFamily)
    );
}

#[test]
fn e08_trusted_front_end_ecs_address_is_used() {
    let p = policy().with_trusted_front_end(net("9.9.9.0/24"));
    let ecs = client_ecs("8.8.4.0/24");
    assert_eq!(p.decide(ip("9.9.9.9"), Some(&ecs)), tailored("8.8.4.0/24"));
}

#[test]
fn e08_trusted_front_end_ecs_capped_to_max() {
    let p = policy().with_trusted_front_end(net("9.9.9.0/24"));
    let ecs = client_ecs("8.8.4.77/32");
    assert_eq!(p.decide(ip("9.9.9.9"), Some(&ecs)), tailored("8.8.4.0/24"));
}

#[test]
fn e08_trusted_front_end_ecs_gets_netblock_length() {
    let p = policy()
        .with_trusted_front_end(net("9.9.9.0/24"))
        .with_netblock_length(net("8.8.0.0/16"), 20)
        .unwrap();
    let ecs = client_ecs("8.8.4.0/24");
    assert_eq!(p.decide(ip("9.9.9.9"), Some(&ecs)), tailored("8.8.0.0/20"));
}

#[test]
fn e08_trusted_front_end_may_send_other_family() {
    let p = policy().with_trusted_front_end(net("9.9.9.0/24"));
    let ecs = client_ecs("2a00:1450:4001:800::/56");
    assert_eq!(
        p.decide(ip("9.9.9.9"), Some(&ecs)),
        tailored("2a00:1450:4001:800::/56")
    );
}

#[test]
fn e08_trusted_front_end_without_ecs_is_a_client() {
    let p = policy().with_trusted_front_end(net("9.9.9.0/24"));
    assert_eq!(p.decide(ip("9.9.9.9"), None), tailored("9.9.9.0/24"));
}

#[test]
fn e08_ipv4_mapped_ecs_from_trusted_front_end_is_unmapped() {
    let p = policy().with_trusted_front_end(net("9.9.9.0/24"));
    let ecs = Ecs::parse(
        &[
            0, 2, 120, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 8, 8, 4,
        ],
        Direction::Query,
    )
    .unwrap();
    assert_eq!(p.decide(ip("9.9.9.9"), Some(&ecs)), tailored("8.8.4.0/24"));
}

#[test]
fn e10_outgoing_source_is_min() {
    let ecs = client_ecs("8.8.0.0/18");
    assert_eq!(
        policy().decide(ip("8.8.4.77"), Some(&ecs)),
        tailored("8.8.0.0/18")
    );
}

#[test]
fn e10_outgoing_source_is_min_with_netblock() {
    let p = policy()
        .with_netblock_length(net("8.8.0.0/16"), 20)
        .unwrap();
    let ecs = client_ecs("8.8.4.0/22");
    assert_eq!(p.decide(ip("8.8.4.77"), Some(&ecs)), tailored("8.8.0.0/20"));
}

// --- E09 ---

#[test]
fn e09_source_zero_opts_out() {
    let ecs = Ecs::opt_out(Family::V4);
    assert_eq!(
        policy().decide(ip("8.8.4.77"), Some(&ecs)),
        SubnetDecision::Withheld(NoSubnetReason::ClientOptedOut)
    );
}

#[test]
fn e09_source_zero_is_flagged() {
    assert!(
        policy()
            .decide(ip("8.8.4.77"), Some(&Ecs::opt_out(Family::V4)))
            .is_source_zero()
    );
}

#[test]
fn e09_source_zero_of_other_family_opts_out() {
    let ecs = Ecs::opt_out(Family::V6);
    assert!(policy().decide(ip("8.8.4.77"), Some(&ecs)).is_source_zero());
}

#[test]
fn e09_source_zero_from_trusted_front_end_opts_out() {
    let p = policy().with_trusted_front_end(net("9.9.9.0/24"));
    assert!(
        p.decide(ip("9.9.9.9"), Some(&Ecs::opt_out(Family::V4)))
            .is_source_zero()
    );
}

#[test]
fn e09_private_client_is_not_source_zero() {
    assert!(!policy().decide(ip("10.0.0.1"), None).is_source_zero());
}

// --- switches and accessors ---

#[test]
fn disabled_policy_withholds() {
    assert_eq!(
        SubnetPolicy::disabled().decide(ip("8.8.4.77"), None),
        SubnetDecision::Withheld(NoSubnetReason::Disabled)
    );
}

#[test]
fn decision_source_len_is_prefix_len() {
    assert_eq!(policy().decide(ip("8.8.4.77"), None).source_len(), 24);
}

#[test]
fn withheld_decision_source_len_is_zero() {
    assert_eq!(policy().decide(ip("10.0.0.1"), None).source_len(), 0);
}

#[test]
fn e04_upstream_ecs_has_scope_zero() {
    let ecs = policy()
        .decide(ip("8.8.4.77"), None)
        .upstream_ecs()
        .unwrap();
    assert_eq!((ecs.prefix(), ecs.scope()), (net("8.8.4.0/24"), 0));
}

#[test]
fn withheld_decision_sends_no_ecs() {
    assert_eq!(policy().decide(ip("10.0.0.1"), None).upstream_ecs(), None);
}

#[test]
fn no_subnet_reasons_are_distinct() {
    use NoSubnetReason::*;
    let mut r: Vec<_> = [
        Disabled,
        PrivateClient,
        ClientOptedOut,
        ClientEcsOtherFamily,
    ]
    .iter()
    .map(|r| r.reason())
    .collect();
    r.sort_unstable();
    r.dedup();
    assert_eq!(r.len(), 4);
}
