//! The ECS address family (RFC 7871 §6): what FAMILY codes mean, and each one's address length.
//!
//! On its own so that the error type, which names a family in its messages, and the codec, which
//! returns those errors, both depend on it and not on each other.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// An ECS address family (RFC 7871 §6, IANA address family numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// FAMILY 1.
    V4,
    /// FAMILY 2.
    V6,
}

impl Family {
    /// The family of an address (after canonicalisation if the caller wants it).
    #[inline]
    pub const fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// The family of a prefix.
    #[inline]
    pub const fn of_net(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Self::V4,
            IpNet::V6(_) => Self::V6,
        }
    }

    /// The FAMILY code on the wire.
    #[inline]
    pub const fn code(self) -> u16 {
        match self {
            Self::V4 => 1,
            Self::V6 => 2,
        }
    }

    /// The family for a FAMILY code, if it is one we know.
    #[inline]
    pub const fn from_code(code: u16) -> Option<Self> {
        match code {
            1 => Some(Self::V4),
            2 => Some(Self::V6),
            _ => None,
        }
    }

    /// The address length in bits: the longest valid SOURCE or SCOPE.
    #[inline]
    pub const fn max_len(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }

    /// The all-zero address of the family.
    pub(crate) const fn unspecified(self) -> IpAddr {
        match self {
            Self::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Self::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}
