//! The ECS option on the wire (RFC 7871 §6): strict parse, always-masked compose.
//!
//! ```text
//! +0 (MSB)                            +1 (LSB)
//! |         FAMILY (1 = IPv4, 2 = IPv6)       |
//! | SOURCE PREFIX-LENGTH | SCOPE PREFIX-LENGTH |
//! | ADDRESS: exactly ceil(SOURCE/8) octets, bits past SOURCE zero |
//! ```
//!
//! hickory-proto accepts host bits past SOURCE, extra ADDRESS octets and a non-zero SCOPE in
//! queries, and its encoder does not mask the last partial octet (measured), so the bytes are
//! checked and built here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;

use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use ipnet::IpNet;

use crate::error::EcsError;
use crate::family::Family;

/// The EDNS option code of ECS (RFC 7871 §6).
pub const ECS_OPTION_CODE: u16 = 8;

/// Length of FAMILY + SOURCE + SCOPE.
const FIXED_LEN: usize = 4;
/// Length of an EDNS option's code + length header.
const OPTION_HEADER_LEN: usize = 4;

/// Which way an option travels: the rules for SCOPE differ (RFC 7871 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// In a query: SCOPE must be 0 (E04, E07).
    Query,
    /// In a response: SCOPE may be anything up to the address length (E14, E15).
    Response,
}

/// A valid ECS option: a truncated prefix (FAMILY, SOURCE, ADDRESS) and a SCOPE.
///
/// Holding one means the address has no bit set past SOURCE and both lengths fit the family, so
/// its wire form and its prefix can be used as they are (E02).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ecs {
    prefix: IpNet,
    scope: u8,
}

impl Ecs {
    /// The option a query carries for `subnet`: the prefix truncated (E02), SCOPE 0 (E04).
    pub fn for_query(subnet: IpNet) -> Self {
        Self {
            prefix: subnet.trunc(),
            scope: 0,
        }
    }

    /// An option from its parts. The address is truncated to `source`; lengths past the family's
    /// address length are an error.
    pub fn new(addr: IpAddr, source: u8, scope: u8) -> Result<Self, EcsError> {
        let family = Family::of(&addr);
        let prefix = IpNet::new(addr, source)
            .map_err(|_| EcsError::SourceTooLong { family, source })?
            .trunc();
        if scope > family.max_len() {
            return Err(EcsError::ScopeTooLong { family, scope });
        }
        Ok(Self { prefix, scope })
    }

    /// Strictly parse an ECS option payload: the bytes after OPTION-CODE and OPTION-LENGTH.
    ///
    /// Checks, in this order: the 4 fixed octets are there; FAMILY is 1 or 2; SOURCE fits the
    /// family; SCOPE is 0 in a query (fits the family in a response); the payload is exactly
    /// 4 + ceil(SOURCE/8) octets; no ADDRESS bit past SOURCE is set (E07).
    pub fn parse(payload: &[u8], direction: Direction) -> Result<Self, EcsError> {
        let [f0, f1, source, scope, address @ ..] = payload else {
            return Err(EcsError::Truncated);
        };
        let code = u16::from_be_bytes([*f0, *f1]);
        let family = Family::from_code(code).ok_or(EcsError::UnknownFamily(code))?;
        let (source, scope) = (*source, *scope);
        if source > family.max_len() {
            return Err(EcsError::SourceTooLong { family, source });
        }
        match direction {
            Direction::Query if scope != 0 => return Err(EcsError::NonZeroScopeInQuery(scope)),
            Direction::Response if scope > family.max_len() => {
                return Err(EcsError::ScopeTooLong { family, scope });
            }
            _ => {}
        }
        let octets = address_octets(source);
        if address.len() != octets {
            // Both lengths are at most 4 + 16 on this path, or the slice length (≤ u16 when it
            // came out of an OPT record); saturate rather than wrap for arbitrary callers.
            return Err(EcsError::BadLength {
                expected: (FIXED_LEN + octets) as u16,
                got: u16::try_from(payload.len()).unwrap_or(u16::MAX),
            });
        }
        let addr = match family {
            Family::V4 => {
                let mut full = [0u8; 4];
                full[..octets].copy_from_slice(address);
                IpAddr::V4(Ipv4Addr::from(full))
            }
            Family::V6 => {
                let mut full = [0u8; 16];
                full[..octets].copy_from_slice(address);
                IpAddr::V6(Ipv6Addr::from(full))
            }
        };
        let prefix =
            IpNet::new(addr, source).map_err(|_| EcsError::SourceTooLong { family, source })?;
        if prefix.trunc() != prefix {
            return Err(EcsError::HostBitsSet);
        }
        Ok(Self { prefix, scope })
    }

    /// Validate an option hickory-proto has already decoded, with the checks it skips (host bits,
    /// SCOPE in a query). Extra ADDRESS octets are invisible here; [`Ecs::parse`] on the raw bytes
    /// catches them.
    pub fn from_client_subnet(
        subnet: &ClientSubnet,
        direction: Direction,
    ) -> Result<Self, EcsError> {
        let addr = subnet.addr();
        let family = Family::of(&addr);
        let (source, scope) = (subnet.source_prefix(), subnet.scope_prefix());
        let prefix =
            IpNet::new(addr, source).map_err(|_| EcsError::SourceTooLong { family, source })?;
        match direction {
            Direction::Query if scope != 0 => return Err(EcsError::NonZeroScopeInQuery(scope)),
            Direction::Response if scope > family.max_len() => {
                return Err(EcsError::ScopeTooLong { family, scope });
            }
            _ => {}
        }
        if prefix.trunc() != prefix {
            return Err(EcsError::HostBitsSet);
        }
        Ok(Self { prefix, scope })
    }

    /// FAMILY.
    #[inline]
    pub const fn family(&self) -> Family {
        Family::of_net(&self.prefix)
    }

    /// SOURCE PREFIX-LENGTH.
    #[inline]
    pub const fn source(&self) -> u8 {
        match self.prefix {
            IpNet::V4(n) => n.prefix_len(),
            IpNet::V6(n) => n.prefix_len(),
        }
    }

    /// SCOPE PREFIX-LENGTH.
    #[inline]
    pub const fn scope(&self) -> u8 {
        self.scope
    }

    /// ADDRESS, zero past SOURCE.
    #[inline]
    pub const fn addr(&self) -> IpAddr {
        match self.prefix {
            IpNet::V4(n) => IpAddr::V4(n.addr()),
            IpNet::V6(n) => IpAddr::V6(n.addr()),
        }
    }

    /// ADDRESS/SOURCE as a (truncated) prefix.
    #[inline]
    pub const fn prefix(&self) -> IpNet {
        self.prefix
    }

    /// The same option with another SCOPE, capped at the family's address length.
    pub fn with_scope(self, scope: u8) -> Self {
        Self {
            scope: scope.min(self.family().max_len()),
            ..self
        }
    }

    /// The option to send back to the client who sent `self` (E23): FAMILY, SOURCE and ADDRESS as
    /// the client sent them, SCOPE = the scope of the data used, capped at the SOURCE we used for
    /// the query (0 when no subnet was used).
    ///
    /// `used_source` is [`SubnetDecision::source_len`](crate::SubnetDecision::source_len);
    /// `data_scope` is [`CacheScope::scope_len`](crate::CacheScope::scope_len) of the entry or
    /// the narrowest link of the chain that answered — the same on a cache hit as on a miss.
    pub fn echo(&self, used_source: u8, data_scope: u8) -> Self {
        self.with_scope(data_scope.min(used_source))
    }

    /// The option payload (no option header): FAMILY, SOURCE, SCOPE, ceil(SOURCE/8) octets.
    pub fn payload(&self) -> EcsWire {
        let mut wire = EcsWire {
            buf: [0; EcsWire::CAPACITY],
            len: 0,
        };
        let len = self.write_payload(&mut wire.buf);
        wire.len = len as u8;
        wire
    }

    /// The whole EDNS option: OPTION-CODE 8, OPTION-LENGTH, then [`Ecs::payload`].
    pub fn option(&self) -> EcsWire {
        let mut wire = EcsWire {
            buf: [0; EcsWire::CAPACITY],
            len: 0,
        };
        let len = self.write_payload(&mut wire.buf[OPTION_HEADER_LEN..]);
        wire.buf[..2].copy_from_slice(&ECS_OPTION_CODE.to_be_bytes());
        wire.buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        wire.len = (OPTION_HEADER_LEN + len) as u8;
        wire
    }

    fn write_payload(&self, out: &mut [u8]) -> usize {
        let octets = address_octets(self.source());
        out[..2].copy_from_slice(&self.family().code().to_be_bytes());
        out[2] = self.source();
        out[3] = self.scope;
        // The prefix is truncated, so the last octet's bits past SOURCE are already zero.
        match self.prefix {
            IpNet::V4(n) => out[4..4 + octets].copy_from_slice(&n.addr().octets()[..octets]),
            IpNet::V6(n) => out[4..4 + octets].copy_from_slice(&n.addr().octets()[..octets]),
        }
        FIXED_LEN + octets
    }

    /// The option as hickory-proto's `EdnsOption`, already masked.
    pub fn to_edns_option(&self) -> EdnsOption {
        EdnsOption::Subnet(ClientSubnet::from(*self))
    }

    /// The /0 option of `family` (a SOURCE-0 query, E09).
    pub const fn opt_out(family: Family) -> Self {
        Self {
            prefix: match family.unspecified() {
                IpAddr::V4(a) => IpNet::V4(ipnet::Ipv4Net::new_assert(a, 0)),
                IpAddr::V6(a) => IpNet::V6(ipnet::Ipv6Net::new_assert(a, 0)),
            },
            scope: 0,
        }
    }
}

impl From<Ecs> for ClientSubnet {
    /// hickory writes ceil(SOURCE/8) octets of the address it is given; ours is truncated, so the
    /// bytes are right (its own `From<IpNet>` and `FromStr` do not mask).
    fn from(ecs: Ecs) -> Self {
        ClientSubnet::new(ecs.addr(), ecs.source(), ecs.scope)
    }
}

impl fmt::Display for Ecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.addr(), self.source(), self.scope)
    }
}

/// ceil(SOURCE/8): the number of ADDRESS octets for a SOURCE PREFIX-LENGTH.
#[inline]
const fn address_octets(source: u8) -> usize {
    (source as usize).div_ceil(8)
}

/// Wire bytes of an ECS option or payload, on the stack (at most 24 octets).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EcsWire {
    buf: [u8; Self::CAPACITY],
    len: u8,
}

impl EcsWire {
    /// Option header (4) + fixed part (4) + a full IPv6 address (16).
    const CAPACITY: usize = OPTION_HEADER_LEN + FIXED_LEN + 16;

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl Deref for EcsWire {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for EcsWire {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for EcsWire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Find the ECS option in an OPT record's RDATA (a sequence of OPTION-CODE, OPTION-LENGTH,
/// OPTION-DATA) and parse it strictly.
///
/// The whole RDATA is walked: an option running past its end is [`EcsError::OptionOverrun`], a
/// second ECS option is [`EcsError::Duplicate`], and the first malformed ECS option is reported
/// as it is found. Other options are skipped unread.
pub fn find_ecs(opt_rdata: &[u8], direction: Direction) -> Result<Option<Ecs>, EcsError> {
    let mut found = None;
    let mut rest = opt_rdata;
    while !rest.is_empty() {
        let [c0, c1, l0, l1, tail @ ..] = rest else {
            return Err(EcsError::OptionOverrun);
        };
        let code = u16::from_be_bytes([*c0, *c1]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        if tail.len() < len {
            return Err(EcsError::OptionOverrun);
        }
        let (data, next) = tail.split_at(len);
        if code == ECS_OPTION_CODE {
            if found.is_some() {
                return Err(EcsError::Duplicate);
            }
            found = Some(Ecs::parse(data, direction)?);
        }
        rest = next;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecs_q(bytes: &[u8]) -> Result<Ecs, EcsError> {
        Ecs::parse(bytes, Direction::Query)
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn opt(code: u16, data: &[u8]) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    // --- E02: compose truncates and masks ---

    #[test]
    fn e02_truncates_v4_to_24() {
        let ecs = Ecs::for_query(net("192.0.2.77/24"));
        assert_eq!(ecs.payload().as_slice(), &[0, 1, 24, 0, 192, 0, 2]);
    }

    #[test]
    fn e02_masks_partial_octet() {
        let ecs = Ecs::for_query(net("192.0.2.255/25"));
        assert_eq!(ecs.payload().as_slice(), &[0, 1, 25, 0, 192, 0, 2, 0x80]);
    }

    #[test]
    fn e02_masks_partial_octet_v6() {
        let ecs = Ecs::for_query(net("2001:db8:abcd:13ff::1/55"));
        assert_eq!(
            ecs.payload().as_slice(),
            &[0, 2, 55, 0, 0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x12]
        );
    }

    #[test]
    fn e02_address_is_ceil_source_over_8_octets() {
        assert_eq!(
            Ecs::for_query(net("2001:db8:abcd:1234::/56"))
                .payload()
                .len(),
            4 + 7
        );
    }

    #[test]
    fn e02_source_zero_has_no_address_octets() {
        assert_eq!(Ecs::opt_out(Family::V6).payload().as_slice(), &[0, 2, 0, 0]);
    }

    #[test]
    fn e02_new_masks_the_address() {
        let ecs = Ecs::new("10.1.2.3".parse().unwrap(), 20, 0).unwrap();
        assert_eq!(ecs.addr(), "10.1.0.0".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn e02_new_rejects_source_33() {
        assert_eq!(
            Ecs::new("10.1.2.3".parse().unwrap(), 33, 0),
            Err(EcsError::SourceTooLong {
                family: Family::V4,
                source: 33
            })
        );
    }

    #[test]
    fn e02_new_rejects_scope_129() {
        assert_eq!(
            Ecs::new("2001:db8::".parse().unwrap(), 56, 129),
            Err(EcsError::ScopeTooLong {
                family: Family::V6,
                scope: 129
            })
        );
    }

    #[test]
    fn e02_option_has_code_8_and_length() {
        let ecs = Ecs::for_query(net("192.0.2.0/24"));
        assert_eq!(
            ecs.option().as_slice(),
            &[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2]
        );
    }

    #[test]
    fn e02_hickory_option_is_masked() {
        let cs = match Ecs::for_query(net("192.0.2.255/25")).to_edns_option() {
            EdnsOption::Subnet(cs) => cs,
            other => panic!("not a subnet option: {other:?}"),
        };
        assert_eq!(cs.addr(), "192.0.2.128".parse::<IpAddr>().unwrap());
    }

    // --- E04: SCOPE 0 in queries ---

    #[test]
    fn e04_query_option_has_scope_zero() {
        assert_eq!(Ecs::for_query(net("198.51.100.0/24")).scope(), 0);
    }

    // --- E07: strict parse ---

    #[test]
    fn e07_accepts_v4_24() {
        let ecs = ecs_q(&[0, 1, 24, 0, 192, 0, 2]).unwrap();
        assert_eq!(ecs.prefix(), net("192.0.2.0/24"));
    }

    #[test]
    fn e07_accepts_v6_56() {
        let ecs = ecs_q(&[0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x12]).unwrap();
        assert_eq!(ecs.prefix(), net("2001:db8:abcd:1200::/56"));
    }

    #[test]
    fn e07_accepts_source_zero() {
        assert_eq!(ecs_q(&[0, 1, 0, 0]).unwrap().source(), 0);
    }

    #[test]
    fn e07_rejects_empty_payload() {
        assert_eq!(ecs_q(&[]), Err(EcsError::Truncated));
    }

    #[test]
    fn e07_rejects_three_octets() {
        assert_eq!(ecs_q(&[0, 1, 0]), Err(EcsError::Truncated));
    }

    #[test]
    fn e07_rejects_family_0() {
        assert_eq!(ecs_q(&[0, 0, 0, 0]), Err(EcsError::UnknownFamily(0)));
    }

    #[test]
    fn e07_rejects_family_3() {
        assert_eq!(
            ecs_q(&[0, 3, 24, 0, 192, 0, 2]),
            Err(EcsError::UnknownFamily(3))
        );
    }

    #[test]
    fn e07_rejects_v4_source_33() {
        assert_eq!(
            ecs_q(&[0, 1, 33, 0, 1, 2, 3, 4, 0]),
            Err(EcsError::SourceTooLong {
                family: Family::V4,
                source: 33
            })
        );
    }

    #[test]
    fn e07_rejects_v6_source_129() {
        let mut p = vec![0, 2, 129, 0];
        p.extend_from_slice(&[0; 17]);
        assert_eq!(
            ecs_q(&p),
            Err(EcsError::SourceTooLong {
                family: Family::V6,
                source: 129
            })
        );
    }

    #[test]
    fn e07_rejects_nonzero_scope_in_query() {
        assert_eq!(
            ecs_q(&[0, 1, 24, 24, 192, 0, 2]),
            Err(EcsError::NonZeroScopeInQuery(24))
        );
    }

    #[test]
    fn e07_accepts_nonzero_scope_in_response() {
        let ecs = Ecs::parse(&[0, 1, 24, 16, 192, 0, 2], Direction::Response).unwrap();
        assert_eq!(ecs.scope(), 16);
    }

    #[test]
    fn e07_rejects_response_scope_33() {
        assert_eq!(
            Ecs::parse(&[0, 1, 24, 33, 192, 0, 2], Direction::Response),
            Err(EcsError::ScopeTooLong {
                family: Family::V4,
                scope: 33
            })
        );
    }

    #[test]
    fn e07_rejects_extra_address_octet() {
        assert_eq!(
            ecs_q(&[0, 1, 24, 0, 192, 0, 2, 0]),
            Err(EcsError::BadLength {
                expected: 7,
                got: 8
            })
        );
    }

    #[test]
    fn e07_rejects_missing_address_octet() {
        assert_eq!(
            ecs_q(&[0, 1, 24, 0, 192, 0]),
            Err(EcsError::BadLength {
                expected: 7,
                got: 6
            })
        );
    }

    #[test]
    fn e07_rejects_full_address_with_short_source() {
        assert_eq!(
            ecs_q(&[0, 1, 24, 0, 192, 0, 2, 7]),
            Err(EcsError::BadLength {
                expected: 7,
                got: 8
            })
        );
    }

    #[test]
    fn e07_rejects_host_bits_past_source() {
        assert_eq!(
            ecs_q(&[0, 1, 25, 0, 192, 0, 2, 0xc0]),
            Err(EcsError::HostBitsSet)
        );
    }

    #[test]
    fn e07_rejects_host_bits_in_last_bit() {
        assert_eq!(ecs_q(&[0, 1, 23, 0, 192, 0, 3]), Err(EcsError::HostBitsSet));
    }

    #[test]
    fn e07_rejects_host_bits_v6() {
        assert_eq!(
            ecs_q(&[0, 2, 12, 0, 0x20, 0x0f]),
            Err(EcsError::HostBitsSet)
        );
    }

    #[test]
    fn e07_client_subnet_with_host_bits_is_rejected() {
        let cs = ClientSubnet::new("192.0.2.255".parse().unwrap(), 25, 0);
        assert_eq!(
            Ecs::from_client_subnet(&cs, Direction::Query),
            Err(EcsError::HostBitsSet)
        );
    }

    #[test]
    fn e07_client_subnet_with_query_scope_is_rejected() {
        let cs = ClientSubnet::new("192.0.2.0".parse().unwrap(), 24, 24);
        assert_eq!(
            Ecs::from_client_subnet(&cs, Direction::Query),
            Err(EcsError::NonZeroScopeInQuery(24))
        );
    }

    #[test]
    fn e07_client_subnet_valid_response_is_accepted() {
        let cs = ClientSubnet::new("192.0.2.0".parse().unwrap(), 24, 20);
        assert_eq!(
            Ecs::from_client_subnet(&cs, Direction::Response).map(|e| e.scope()),
            Ok(20)
        );
    }

    // --- OPT RDATA walk ---

    #[test]
    fn opt_without_options_has_no_ecs() {
        assert_eq!(find_ecs(&[], Direction::Query), Ok(None));
    }

    #[test]
    fn opt_finds_ecs_after_cookie() {
        let mut rdata = opt(10, &[1, 2, 3, 4, 5, 6, 7, 8]);
        rdata.extend(opt(8, &[0, 1, 24, 0, 192, 0, 2]));
        assert_eq!(
            find_ecs(&rdata, Direction::Query)
                .unwrap()
                .map(|e| e.prefix()),
            Some(net("192.0.2.0/24"))
        );
    }

    #[test]
    fn opt_rejects_two_ecs_options() {
        let mut rdata = opt(8, &[0, 1, 24, 0, 192, 0, 2]);
        rdata.extend(opt(8, &[0, 1, 24, 0, 198, 51, 100]));
        assert_eq!(find_ecs(&rdata, Direction::Query), Err(EcsError::Duplicate));
    }

    #[test]
    fn opt_reports_malformed_ecs() {
        assert_eq!(
            find_ecs(&opt(8, &[0, 3, 0, 0]), Direction::Query),
            Err(EcsError::UnknownFamily(3))
        );
    }

    #[test]
    fn opt_rejects_option_past_end() {
        let mut rdata = opt(8, &[0, 1, 24, 0, 192, 0, 2]);
        rdata.pop();
        assert_eq!(
            find_ecs(&rdata, Direction::Query),
            Err(EcsError::OptionOverrun)
        );
    }

    #[test]
    fn opt_rejects_partial_option_header() {
        assert_eq!(
            find_ecs(&[0, 8, 0], Direction::Query),
            Err(EcsError::OptionOverrun)
        );
    }

    #[test]
    fn opt_rejects_overrun_after_ecs() {
        let mut rdata = opt(8, &[0, 1, 24, 0, 192, 0, 2]);
        rdata.extend_from_slice(&[0, 10, 0, 9, 1]);
        assert_eq!(
            find_ecs(&rdata, Direction::Query),
            Err(EcsError::OptionOverrun)
        );
    }

    #[test]
    fn opt_ecs_with_zero_length_is_truncated() {
        assert_eq!(
            find_ecs(&opt(8, &[]), Direction::Query),
            Err(EcsError::Truncated)
        );
    }

    // --- E23: echo ---

    #[test]
    fn e23_echo_keeps_client_address() {
        let client = ecs_q(&[0, 1, 32, 0, 192, 0, 2, 77]).unwrap();
        let echo = client.echo(24, 20);
        assert_eq!((echo.prefix(), echo.scope()), (net("192.0.2.77/32"), 20));
    }

    #[test]
    fn e23_echo_scope_capped_at_used_source() {
        let client = ecs_q(&[0, 1, 32, 0, 192, 0, 2, 77]).unwrap();
        assert_eq!(client.echo(24, 28).scope(), 24);
    }

    #[test]
    fn e23_echo_scope_zero_when_no_subnet_used() {
        let client = ecs_q(&[0, 1, 0, 0]).unwrap();
        assert_eq!(client.echo(0, 24).scope(), 0);
    }

    #[test]
    fn e23_echo_round_trips_as_response() {
        let client = ecs_q(&[0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 1]).unwrap();
        let echo = client.echo(48, 40);
        assert_eq!(Ecs::parse(&echo.payload(), Direction::Response), Ok(echo));
    }

    #[test]
    fn display_is_addr_source_scope() {
        assert_eq!(
            Ecs::for_query(net("192.0.2.0/24")).to_string(),
            "192.0.2.0/24/0"
        );
    }
}
