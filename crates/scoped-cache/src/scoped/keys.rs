//! Compact match keys for the per-family lists of tailored answers: a lookup scans only these
//! (8 bytes per IPv4 entry), touching an answer's slot only once its key serves the client.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use scoped_ecs::CacheScope;

/// A tailored scope of one family, or a client subnet of that family (then `exact` is unused).
pub(crate) trait FamilyKey: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    /// The key of a truncated prefix of this family (`None`: other family).
    fn of(net: &IpNet, exact: bool) -> Option<Self>;
    /// Whether an entry under `self` serves the client `client` (E14, E15).
    fn serves(&self, client: &Self) -> bool;
    /// The prefix length.
    fn len(&self) -> u8;
    /// Whether the entry is an [`CacheScope::ExactSource`] one.
    fn exact(&self) -> bool;
    /// The scope the key stands for (`None` cannot happen for keys built by `of`).
    fn scope(&self) -> Option<CacheScope>;

    /// [`CacheScope::specificity`]: the list is sorted by it, highest first (E19).
    fn specificity(&self) -> u16 {
        if self.exact() {
            2 + 128 + u16::from(self.len())
        } else {
            2 + u16::from(self.len())
        }
    }

    /// The key of a tailored scope of this family.
    fn of_scope(scope: &CacheScope) -> Option<Self> {
        match scope {
            CacheScope::Covering(net) => Self::of(net, false),
            CacheScope::ExactSource(net) => Self::of(net, true),
            CacheScope::Global | CacheScope::SourceZeroOnly => None,
        }
    }
}

/// An IPv4 key packed in a `u64`: address in the top 32 bits, then the exact flag, then the length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V4Key(u64);

impl V4Key {
    #[inline]
    fn addr(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

#[inline]
fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

#[inline]
fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl FamilyKey for V4Key {
    fn of(net: &IpNet, exact: bool) -> Option<Self> {
        match net {
            IpNet::V4(n) => {
                let addr = u32::from(n.addr()) & mask32(n.prefix_len());
                Some(Self(
                    u64::from(addr) << 32 | u64::from(exact) << 8 | u64::from(n.prefix_len()),
                ))
            }
            IpNet::V6(_) => None,
        }
    }

    #[inline]
    fn serves(&self, client: &Self) -> bool {
        let len = self.len();
        if self.exact() {
            len == client.len() && self.addr() == client.addr()
        } else {
            len <= client.len() && client.addr() & mask32(len) == self.addr()
        }
    }

    #[inline]
    fn len(&self) -> u8 {
        self.0 as u8
    }

    #[inline]
    fn exact(&self) -> bool {
        self.0 & 0x100 != 0
    }

    fn scope(&self) -> Option<CacheScope> {
        let net = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(self.addr()), self.len()).ok()?);
        Some(if self.exact() {
            CacheScope::ExactSource(net)
        } else {
            CacheScope::Covering(net)
        })
    }
}

/// An IPv6 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V6Key {
    bits: u128,
    len: u8,
    exact: bool,
}

impl FamilyKey for V6Key {
    fn of(net: &IpNet, exact: bool) -> Option<Self> {
        match net {
            IpNet::V6(n) => Some(Self {
                bits: u128::from(n.addr()) & mask128(n.prefix_len()),
                len: n.prefix_len(),
                exact,
            }),
            IpNet::V4(_) => None,
        }
    }

    #[inline]
    fn serves(&self, client: &Self) -> bool {
        if self.exact {
            self.len == client.len && self.bits == client.bits
        } else {
            self.len <= client.len && client.bits & mask128(self.len) == self.bits
        }
    }

    #[inline]
    fn len(&self) -> u8 {
        self.len
    }

    #[inline]
    fn exact(&self) -> bool {
        self.exact
    }

    fn scope(&self) -> Option<CacheScope> {
        let net = IpNet::V6(Ipv6Net::new(Ipv6Addr::from(self.bits), self.len).ok()?);
        Some(if self.exact {
            CacheScope::ExactSource(net)
        } else {
            CacheScope::Covering(net)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// The packed keys agree with `CacheScope::serves` and round-trip their scope.
    #[test]
    fn keys_agree_with_cache_scope() {
        let scopes = [
            "0.0.0.0/0",
            "192.0.0.0/16",
            "192.0.2.0/23",
            "192.0.2.0/24",
            "192.0.2.128/25",
            "192.0.2.7/32",
            "::/0",
            "2001:db8::/32",
            "2001:db8:0:1200::/56",
            "2001:db8:0:1234::/64",
        ];
        let clients = [
            "192.0.2.0/24",
            "192.0.3.0/24",
            "192.0.2.128/25",
            "192.0.2.7/32",
            "10.0.0.0/8",
            "2001:db8:0:1200::/56",
            "2001:db8:0:1234::/64",
            "2001:db9::/56",
        ];
        for s in scopes {
            for exact in [false, true] {
                let scope = if exact {
                    CacheScope::ExactSource(net(s))
                } else {
                    CacheScope::Covering(net(s))
                };
                let (k4, k6) = (V4Key::of_scope(&scope), V6Key::of_scope(&scope));
                assert_eq!(
                    k4.and_then(|k| k.scope()).or(k6.and_then(|k| k.scope())),
                    Some(scope)
                );
                assert_eq!(
                    k4.map(|k| k.specificity()).or(k6.map(|k| k.specificity())),
                    Some(scope.specificity())
                );
                for c in clients {
                    let client = net(c);
                    let by_key = match client {
                        IpNet::V4(_) => {
                            k4.is_some_and(|k| k.serves(&V4Key::of(&client, false).unwrap()))
                        }
                        IpNet::V6(_) => {
                            k6.is_some_and(|k| k.serves(&V6Key::of(&client, false).unwrap()))
                        }
                    };
                    assert_eq!(by_key, scope.serves(Some(client)), "{scope:?} {c}");
                }
            }
        }
    }
}
