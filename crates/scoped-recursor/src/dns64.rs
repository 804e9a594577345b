//! DNS64 (RFC 6147) settings and the address arithmetic of RFC 6052: an IPv4 address embedded
//! in an IPv6 prefix, and back; the reverse names under the prefix mapped to `in-addr.arpa`.
//! The engine step that uses them is `engine/dns64.rs`.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;
use ipnet::Ipv6Net;

/// The prefix lengths RFC 6052 §2.2 defines.
pub const PREFIX_LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// Octet 8 of the address (bits 64 to 71), the "u" octet: always zero (RFC 6052 §2.2).
const U_OCTET: usize = 8;

/// DNS64: AAAA records synthesised from A records for IPv6-only clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dns64Config {
    /// Synthesise at all (off by default).
    pub enabled: bool,
    /// Where the IPv4 addresses are embedded: the well-known `64:ff9b::/96` by default, or a
    /// network-specific prefix of one of the RFC 6052 lengths.
    pub prefix: Ipv6Net,
    /// AAAA records with addresses in these ranges are ignored, as if absent (RFC 6147 §5.1.4):
    /// by default the IPv4-mapped range `::ffff:0:0/96`.
    pub exclude: Vec<Ipv6Net>,
}

impl Default for Dns64Config {
    fn default() -> Self {
        Self {
            enabled: false,
            prefix: Ipv6Net::new(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
                .expect("96 is a valid length"),
            exclude: vec![
                Ipv6Net::new(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
                    .expect("96 is a valid length"),
            ],
        }
    }
}

/// Whether `prefix` can carry IPv4 addresses: one of the RFC 6052 lengths, and for /96 the u
/// octet (bits 64–71, inside the prefix) zero. Host bits set are refused too: they would be
/// overwritten or ignored silently.
pub fn check_prefix(prefix: &Ipv6Net) -> Result<(), String> {
    if !PREFIX_LENGTHS.contains(&prefix.prefix_len()) {
        return Err(format!(
            "{prefix}: the prefix length must be one of 32, 40, 48, 56, 64 or 96 (RFC 6052)"
        ));
    }
    if prefix.addr() != prefix.network() {
        return Err(format!("{prefix}: bits set after the prefix length"));
    }
    if prefix.addr().octets()[U_OCTET] != 0 {
        return Err(format!(
            "{prefix}: bits 64 to 71 (the u octet) must be zero (RFC 6052 §2.2)"
        ));
    }
    Ok(())
}

/// The octets of the address that hold the IPv4 address for a prefix of `len` bits: the four
/// after the prefix, skipping the u octet.
fn ipv4_octets(len: u8) -> impl Iterator<Item = usize> {
    (usize::from(len) / 8..16).filter(|&i| i != U_OCTET).take(4)
}

impl Dns64Config {
    /// The IPv6 address embedding `v4` in the prefix (RFC 6052 §2.2); the suffix is zero.
    pub fn synthesise(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let mut octets = self.prefix.network().octets();
        for (index, byte) in ipv4_octets(self.prefix.prefix_len()).zip(v4.octets()) {
            octets[index] = byte;
        }
        Ipv6Addr::from(octets)
    }

    /// The IPv4 address embedded in `v6`, if `v6` is under the prefix.
    pub fn extract(&self, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        if !self.prefix.contains(&v6) {
            return None;
        }
        let octets = v6.octets();
        let mut v4 = [0u8; 4];
        for (byte, index) in v4.iter_mut().zip(ipv4_octets(self.prefix.prefix_len())) {
            *byte = octets[index];
        }
        Some(Ipv4Addr::from(v4))
    }

    /// Whether a AAAA record with this address is ignored.
    pub fn excluded(&self, v6: Ipv6Addr) -> bool {
        self.exclude.iter().any(|net| net.contains(&v6))
    }

    /// For a full reverse name (`x.x.….ip6.arpa.`, 32 nibbles) of an address under the prefix:
    /// the reverse name of the embedded IPv4 address (`d.c.b.a.in-addr.arpa.`).
    pub fn ptr_target(&self, name: &Name) -> Option<Name> {
        let v6 = ip6_arpa_address(name)?;
        let v4 = self.extract(v6)?;
        let [a, b, c, d] = v4.octets();
        Name::from_ascii(format!("{d}.{c}.{b}.{a}.in-addr.arpa.")).ok()
    }
}

/// The address a full `ip6.arpa` name stands for (32 one-nibble labels, least significant
/// first), or `None` for any other name.
fn ip6_arpa_address(name: &Name) -> Option<Ipv6Addr> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let [nibbles @ .., ip6, arpa] = labels.as_slice() else {
        return None;
    };
    if nibbles.len() != 32
        || !ip6.eq_ignore_ascii_case(b"ip6")
        || !arpa.eq_ignore_ascii_case(b"arpa")
    {
        return None;
    }
    let mut value: u128 = 0;
    for label in nibbles.iter().rev() {
        let [digit] = label else { return None };
        let nibble = char::from(*digit).to_digit(16)?;
        value = (value << 4) | u128::from(nibble);
    }
    Some(Ipv6Addr::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str) -> Dns64Config {
        Dns64Config {
            enabled: true,
            prefix: prefix.parse().unwrap(),
            ..Dns64Config::default()
        }
    }

    /// The examples of RFC 6052 §2.4 (192.0.2.33 in each prefix length).
    #[test]
    fn rfc6052_examples_for_every_prefix_length() {
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        let cases = [
            ("2001:db8::/32", "2001:db8:c000:221::"),
            ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
            ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::/96", "2001:db8:122:344::c000:221"),
            ("64:ff9b::/96", "64:ff9b::c000:221"),
        ];
        for (prefix, expected) in cases {
            let config = config(prefix);
            check_prefix(&config.prefix).unwrap();
            let expected: Ipv6Addr = expected.parse().unwrap();
            assert_eq!(config.synthesise(v4), expected, "{prefix}");
            assert_eq!(config.extract(expected), Some(v4), "{prefix}");
        }
    }

    #[test]
    fn prefixes_that_cannot_carry_ipv4_are_refused() {
        // A length RFC 6052 does not define, host bits set, the u octet set.
        for bad in ["2001:db8::/33", "64:ff9b::1/96", "64:ff9b:0:0:ff00::/96"] {
            let prefix: Ipv6Net = bad.parse().unwrap();
            assert!(check_prefix(&prefix).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn addresses_outside_the_prefix_hold_no_ipv4() {
        let config = config("64:ff9b::/96");
        assert_eq!(config.extract("2001:db8::1".parse().unwrap()), None);
    }

    #[test]
    fn reverse_names_under_the_prefix_map_to_in_addr_arpa() {
        let config = config("64:ff9b::/96");
        // 64:ff9b::c000:221 = 192.0.2.33
        let name = Name::from_ascii(
            "1.2.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.",
        )
        .unwrap();
        assert_eq!(
            config.ptr_target(&name),
            Some(Name::from_ascii("33.2.0.192.in-addr.arpa.").unwrap())
        );
        // Outside the prefix, a partial name, or not a reverse name at all: no mapping.
        let outside = Name::from_ascii(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        )
        .unwrap();
        assert_eq!(config.ptr_target(&outside), None);
        let partial = Name::from_ascii("b.9.f.f.4.6.0.0.ip6.arpa.").unwrap();
        assert_eq!(config.ptr_target(&partial), None);
        assert_eq!(
            config.ptr_target(&Name::from_ascii("example.").unwrap()),
            None
        );
    }

    #[test]
    fn the_mapped_range_is_excluded_by_default() {
        let config = Dns64Config::default();
        assert!(config.excluded("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!config.excluded("2001:db8::1".parse().unwrap()));
    }
}
