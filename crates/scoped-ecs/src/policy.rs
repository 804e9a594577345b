//! Which client subnet a query carries: decided once, at the front end, for both the cache lookup
//! and the upstream query (design.md, "Client subnet is decided once per query").
//!
//! [`SubnetPolicy::decide`] takes the packet's source address and the client's (validated) ECS
//! option and applies, in order:
//!
//! 1. ECS switched off → [`NoSubnetReason::Disabled`].
//! 2. The source address is canonicalised (`::ffff:192.0.2.7` → `192.0.2.7`).
//! 3. A client ECS with SOURCE 0 → [`NoSubnetReason::ClientOptedOut`], from anyone (E09).
//! 4. Which address and which cap: a trusted front end's ECS gives its address and SOURCE (E08);
//!    any other client's ECS only caps the length applied to the *packet's source address* — its
//!    ADDRESS is validated but never used, so no client can claim another network's answers or
//!    fill another network's cache entries (E08, E10). An untrusted ECS of the other family than
//!    the source address cannot be applied to it and withholds the subnet
//!    ([`NoSubnetReason::ClientEcsOtherFamily`]): we never send more than the client allowed.
//! 5. The chosen address is non-routable → [`NoSubnetReason::PrivateClient`] (E05).
//! 6. Length = min(cap, longest matching netblock's length or the family maximum) (E02, E03, E10);
//!    a length of 0 → [`NoSubnetReason::Disabled`].
//! 7. [`SubnetDecision::Tailored`] with the address truncated to that length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::joint::JointPrefixMap;

use crate::family::Family;
use crate::option::Ecs;
use crate::{canonical_addr, canonical_net};

/// Default longest IPv4 SOURCE sent and cached (E02; RFC 7871 §11.1 recommends 24).
pub const DEFAULT_V4_MAX_SOURCE: u8 = 24;
/// Default longest IPv6 SOURCE sent and cached (E02; RFC 7871 §11.1 recommends 56).
pub const DEFAULT_V6_MAX_SOURCE: u8 = 56;

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len))
}

const fn v6(segments: [u16; 8], len: u8) -> IpNet {
    let [a, b, c, d, e, f, g, h] = segments;
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(a, b, c, d, e, f, g, h),
        len,
    ))
}

/// Client networks whose addresses never go upstream by default (E05): the blocks of the IANA
/// special-purpose registries (RFC 6890) that are not globally reachable, plus multicast and the
/// reserved 240/4. Documentation and benchmarking ranges are included: no real client sends from
/// them, and a test that wants them tailored says so by replacing the list.
pub const DEFAULT_NON_ROUTABLE: &[IpNet] = &[
    v4(0, 0, 0, 0, 8),       // "this network" (RFC 791), incl. the unspecified address
    v4(10, 0, 0, 0, 8),      // private (RFC 1918)
    v4(100, 64, 0, 0, 10),   // shared address space, CGNAT (RFC 6598)
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local (RFC 3927)
    v4(172, 16, 0, 0, 12),   // private (RFC 1918)
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments (RFC 6890)
    v4(192, 0, 2, 0, 24),    // documentation TEST-NET-1 (RFC 5737)
    v4(192, 168, 0, 0, 16),  // private (RFC 1918)
    v4(198, 18, 0, 0, 15),   // benchmarking (RFC 2544)
    v4(198, 51, 100, 0, 24), // documentation TEST-NET-2 (RFC 5737)
    v4(203, 0, 113, 0, 24),  // documentation TEST-NET-3 (RFC 5737)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, incl. limited broadcast
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128), // unspecified
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128), // loopback
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use IPv4/IPv6 translation (RFC 8215)
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard-only (RFC 6666)
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation (RFC 3849)
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local (RFC 4193)
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
];

/// Why a query carries no client subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoSubnetReason {
    /// ECS is switched off, or the configured length for this client is 0.
    Disabled,
    /// The client's address (or a trusted front end's ECS address) is non-routable (E05).
    PrivateClient,
    /// The client's ECS option had SOURCE 0 (E09).
    ClientOptedOut,
    /// An untrusted client's ECS is of the other address family than its packets, so its SOURCE
    /// cannot cap ours; nothing is sent rather than more than the client allowed (E08).
    ClientEcsOtherFamily,
}

impl NoSubnetReason {
    /// A short, stable, snake_case name for metrics labels and traces (E24).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::PrivateClient => "private_client",
            Self::ClientOptedOut => "client_opted_out",
            Self::ClientEcsOtherFamily => "client_ecs_other_family",
        }
    }
}

/// The client subnet of one query: what the cache is looked up with and what goes upstream to
/// allowlisted servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubnetDecision {
    /// Tailor for this subnet (truncated; canonical family).
    Tailored(IpNet),
    /// No client address for this query: the cache serves it only SCOPE-0 and no-subnet entries
    /// (E09, E20), and no ECS option goes upstream.
    Withheld(NoSubnetReason),
}

impl SubnetDecision {
    /// The subnet, if any.
    #[inline]
    pub const fn subnet(&self) -> Option<IpNet> {
        match self {
            Self::Tailored(net) => Some(*net),
            Self::Withheld(_) => None,
        }
    }

    /// The ECS option an allowlisted server is sent, if any (E01 is the caller's check).
    #[inline]
    pub fn upstream_ecs(&self) -> Option<Ecs> {
        self.subnet().map(Ecs::for_query)
    }

    /// Why no subnet, if none.
    #[inline]
    pub const fn reason(&self) -> Option<NoSubnetReason> {
        match self {
            Self::Tailored(_) => None,
            Self::Withheld(reason) => Some(*reason),
        }
    }

    /// The client opted out with SOURCE 0 (E09, E20). Every withheld decision is looked up like a
    /// SOURCE-0 query; this tells the opt-out apart for counters and traces.
    #[inline]
    pub const fn is_source_zero(&self) -> bool {
        matches!(self, Self::Withheld(NoSubnetReason::ClientOptedOut))
    }

    /// The SOURCE actually used (0 when withheld): the cap on the SCOPE echoed to the client (E23).
    #[inline]
    pub const fn source_len(&self) -> u8 {
        match self {
            Self::Tailored(IpNet::V4(n)) => n.prefix_len(),
            Self::Tailored(IpNet::V6(n)) => n.prefix_len(),
            Self::Withheld(_) => 0,
        }
    }
}

/// A configuration value the policy cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A maximum length past the family's address length.
    #[error("{family} prefix length {len} is longer than {}", family.max_len())]
    LengthTooLong {
        /// The family.
        family: Family,
        /// The length given.
        len: u8,
    },
    /// A netblock length longer than its family's maximum: netblock lengths only shorten (E03).
    #[error(
        "netblock {net} length {len} is longer than the {} maximum {max}",
        Family::of_net(net)
    )]
    NetblockLongerThanMax {
        /// The netblock.
        net: IpNet,
        /// Its length.
        len: u8,
        /// The family maximum in force.
        max: u8,
    },
}

/// The operator's client-subnet policy (E02, E03, E05, E08).
#[derive(Clone, Debug)]
pub struct SubnetPolicy {
    enabled: bool,
    v4_max: u8,
    v6_max: u8,
    netblocks: JointPrefixMap<IpNet, u8>,
    non_routable: JointPrefixMap<IpNet, ()>,
    trusted: JointPrefixMap<IpNet, ()>,
}

impl Default for SubnetPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl SubnetPolicy {
    /// ECS on, /24 and /56, no netblock lengths, [`DEFAULT_NON_ROUTABLE`], no trusted front end.
    pub fn new() -> Self {
        Self {
            enabled: true,
            v4_max: DEFAULT_V4_MAX_SOURCE,
            v6_max: DEFAULT_V6_MAX_SOURCE,
            netblocks: JointPrefixMap::new(),
            non_routable: prefix_set(DEFAULT_NON_ROUTABLE.iter().copied()),
            trusted: JointPrefixMap::new(),
        }
    }

    /// A policy that never gives a subnet.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// Switch ECS on or off.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Set the longest SOURCE sent and cached per family (E02). 0 withholds that family.
    /// Fails if a length exceeds the address length or an existing netblock length.
    pub fn with_max_lengths(mut self, v4_max: u8, v6_max: u8) -> Result<Self, PolicyError> {
        for (family, len) in [(Family::V4, v4_max), (Family::V6, v6_max)] {
            if len > family.max_len() {
                return Err(PolicyError::LengthTooLong { family, len });
            }
        }
        self.v4_max = v4_max;
        self.v6_max = v6_max;
        for (net, &len) in self.netblocks.iter() {
            self.check_netblock(net, len)?;
        }
        Ok(self)
    }

    /// Use `len` bits instead of the family maximum for clients in `net` (E03). The longest
    /// matching netblock wins. `net` is canonicalised and truncated; `len` must not exceed the
    /// family maximum.
    pub fn with_netblock_length(mut self, net: IpNet, len: u8) -> Result<Self, PolicyError> {
        let net = canonical_net(net);
        self.check_netblock(net, len)?;
        self.netblocks.insert(net, len);
        Ok(self)
    }

    fn check_netblock(&self, net: IpNet, len: u8) -> Result<(), PolicyError> {
        let max = self.max_len(Family::of_net(&net));
        if len > max {
            return Err(PolicyError::NetblockLongerThanMax { net, len, max });
        }
        Ok(())
    }

    /// Replace the non-routable list (E05). Prefixes are canonicalised and truncated.
    pub fn with_non_routable<I: IntoIterator<Item = IpNet>>(mut self, nets: I) -> Self {
        self.non_routable = prefix_set(nets);
        self
    }

    /// Trust the front ends in `net` to state their clients' subnets in ECS (E08).
    pub fn with_trusted_front_end(mut self, net: IpNet) -> Self {
        self.trusted.insert(canonical_net(net), ());
        self
    }

    /// Whether ECS is on.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The family's longest SOURCE.
    pub const fn max_len(&self, family: Family) -> u8 {
        match family {
            Family::V4 => self.v4_max,
            Family::V6 => self.v6_max,
        }
    }

    /// Whether `ip` is on the non-routable list (canonicalised first).
    pub fn is_non_routable(&self, ip: IpAddr) -> bool {
        contains(&self.non_routable, canonical_addr(ip))
    }

    /// Whether `ip` is a trusted front end (canonicalised first).
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        contains(&self.trusted, canonical_addr(ip))
    }

    /// The SOURCE length for a client address: the longest matching netblock's, else the family
    /// maximum (E02, E03).
    pub fn length_for(&self, ip: IpAddr) -> u8 {
        let ip = canonical_addr(ip);
        let family_max = self.max_len(Family::of(&ip));
        self.netblocks
            .get_lpm(&host_net(ip))
            .map_or(family_max, |(_, &len)| len.min(family_max))
    }

    /// Decide the client subnet of a query from its packet source address and its ECS option
    /// (already validated with [`Ecs::parse`] in [`Direction::Query`](crate::Direction::Query)).
    /// See the module documentation for the order of the rules.
    pub fn decide(&self, source: IpAddr, client_ecs: Option<&Ecs>) -> SubnetDecision {
        use NoSubnetReason::*;
        if !self.enabled {
            return SubnetDecision::Withheld(Disabled);
        }
        let source = canonical_addr(source);
        let (addr, cap) = match client_ecs {
            Some(ecs) if ecs.source() == 0 => return SubnetDecision::Withheld(ClientOptedOut),
            Some(ecs) if self.is_trusted(source) => {
                let claimed = canonical_net(ecs.prefix());
                (claimed.addr(), claimed.prefix_len())
            }
            Some(ecs) if ecs.family() != Family::of(&source) => {
                return SubnetDecision::Withheld(ClientEcsOtherFamily);
            }
            Some(ecs) => (source, ecs.source()),
            None => (source, u8::MAX),
        };
        if self.is_non_routable(addr) {
            return SubnetDecision::Withheld(PrivateClient);
        }
        let len = cap.min(self.length_for(addr));
        if len == 0 {
            return SubnetDecision::Withheld(Disabled);
        }
        match IpNet::new(addr, len) {
            Ok(net) => SubnetDecision::Tailored(net.trunc()),
            // Unreachable: `len` is at most the family maximum, itself checked against the family.
            Err(_) => SubnetDecision::Withheld(Disabled),
        }
    }
}

fn prefix_set<I: IntoIterator<Item = IpNet>>(nets: I) -> JointPrefixMap<IpNet, ()> {
    let mut set = JointPrefixMap::new();
    for net in nets {
        set.insert(canonical_net(net), ());
    }
    set
}

/// `ip` as a full-length prefix, for longest-prefix-match lookups.
pub(crate) fn host_net(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::new_assert(a, 32)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::new_assert(a, 128)),
    }
}

fn contains(set: &JointPrefixMap<IpNet, ()>, ip: IpAddr) -> bool {
    set.get_lpm(&host_net(ip)).is_some()
}

#[cfg(test)]
mod tests;
