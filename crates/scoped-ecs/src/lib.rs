//! The pure RFC 7871 (EDNS Client Subnet) policy of scoped.
//!
//! Every other part of the resolver asks this crate, and only this crate, about ECS. It does no
//! I/O, keeps no clocks and holds no state beyond its configuration: each question is a function
//! of its arguments, and every rule is named by its number in the list of docs/ecs.md (`E01` … `E24`).
//!
//! # The questions and where they are answered
//!
//! | question | asked by | answer |
//! | --- | --- | --- |
//! | Is this ECS option / OPT / message well formed? (E04, E07) | front end, engine | [`Ecs::parse`], [`find_ecs`], [`scan_opt`], [`message_ecs`] |
//! | Which subnet does this query carry? (E03, E05, E08–E10) | front end, once per query | [`SubnetPolicy::decide`] → [`SubnetDecision`] |
//! | May this server see ECS? (E01, E16) | engine, per upstream query | [`Allowlist::allows`], then [`UpstreamEcs::decide`] → [`UpstreamEcs`] |
//! | What goes on the wire? (E02, E04) | engine | [`Ecs::for_query`], [`Ecs::payload`], [`Ecs::option`] |
//! | Is this reply's ECS ours? (E11, E12) | engine | [`check_reply`], [`check_reply_opt`] |
//! | Under which prefix is the answer cached, and whom does it serve? (E14, E15, E18–E20) | engine, cache | [`cache_scope`], [`CacheScope::serves`], [`CacheScope::narrowest`] |
//! | What ECS goes back to the client? (E23) | front end | [`Ecs::echo`] |
//!
//! # Invariants
//!
//! An [`Ecs`] value always holds a valid prefix (SOURCE ≤ 32 or 128, SCOPE likewise) whose address
//! has no bit set past SOURCE, so anything built from it — wire bytes, a hickory `ClientSubnet`, a
//! cache key — is already truncated (E02). The raw parsers never panic and never loop: every step
//! consumes input, and DNS name compression pointers are checked, not followed.
//!
//! The raw message layout they read (header, counts, names, the fixed part of a record) is in
//! [`wire`], at the bottom of the workspace so that the front end's fast path and the answer
//! cache read messages with the same guards.
//!
//! # A query with no subnet
//!
//! A query whose [`SubnetDecision`] is [`SubnetDecision::Withheld`] (private client, SOURCE-0
//! opt-out, policy off) carries no client address upstream. Its answer, if it came from a server
//! that would have received ECS, is cached as [`CacheScope::SourceZeroOnly`]: it serves only other
//! queries without a subnet, never a tailored one (E09, E20). Answers from servers that never see
//! ECS (not on the allowlist) are the same for everyone and are cached as [`CacheScope::Global`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allowlist;
mod error;
mod family;
mod message;
pub mod names;
mod option;
mod policy;
mod scope;
mod upstream;
pub mod wire;

pub use allowlist::{AllowReason, Allowlist, AllowlistError, AllowlistErrorKind};
pub use error::EcsError;
pub use family::Family;
pub use message::{OptRecord, message_ecs, scan_opt};
pub use option::{Direction, ECS_OPTION_CODE, Ecs, EcsWire, find_ecs};
pub use policy::{
    DEFAULT_NON_ROUTABLE, DEFAULT_V4_MAX_SOURCE, DEFAULT_V6_MAX_SOURCE, NoSubnetReason,
    PolicyError, SubnetDecision, SubnetPolicy,
};
pub use scope::{CacheScope, MismatchReason, ReplyEcs, cache_scope, check_reply, check_reply_opt};
pub use upstream::{EcsWithheld, QueryPurpose, UpstreamEcs};

use std::net::IpAddr;

use ipnet::IpNet;

/// An address in canonical form: an IPv4-mapped IPv6 address (`::ffff:192.0.2.7`) becomes the
/// IPv4 address it carries; every other address is returned unchanged.
///
/// Every prefix match in this crate goes through it first (design.md, "Measured facts").
#[inline]
pub fn canonical_addr(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A prefix in canonical form: an IPv6 prefix of at least 96 bits inside `::ffff:0:0/96` becomes
/// the IPv4 prefix it describes (`::ffff:192.0.2.0/120` → `192.0.2.0/24`); every other prefix is
/// returned unchanged. The result is truncated.
pub fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Ok(mapped) = IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96)
    {
        return mapped.trunc();
    }
    net.trunc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn canonical_addr_unmaps_ipv4_mapped() {
        assert_eq!(
            canonical_addr("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn canonical_net_unmaps_ipv4_mapped_prefix() {
        assert_eq!(
            canonical_net(net("::ffff:192.0.2.0/120")),
            net("192.0.2.0/24")
        );
    }

    #[test]
    fn canonical_net_keeps_short_v6_prefix() {
        assert_eq!(canonical_net(net("::ffff:0:0/95")), net("::fffe:0:0/95"));
    }

    #[test]
    fn canonical_net_truncates() {
        assert_eq!(canonical_net(net("192.0.2.77/24")), net("192.0.2.0/24"));
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// These values travel through the resolver's hot path by copy.
    #[test]
    fn hot_path_types_stay_small() {
        use std::mem::size_of;
        assert!(size_of::<Ecs>() <= 20);
        assert!(size_of::<SubnetDecision>() <= 20);
        assert!(size_of::<CacheScope>() <= 20);
        assert!(size_of::<ReplyEcs>() <= 8);
        assert!(size_of::<EcsError>() <= 8);
    }
}
