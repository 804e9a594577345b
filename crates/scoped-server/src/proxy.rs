//! PROXY protocol v2 from trusted load balancers (`proxy-protocol-from`).
//!
//! A load balancer such as dnsdist (`useProxyProtocol=true`) puts a PROXY v2 header in front of
//! each UDP datagram, and once at the start of each TCP connection; the header names the client
//! (address and port) the balancer received the query from. That client, not the balancer,
//! is then the one the ACL, the ECS decision, rate limiting, cookies and the logs see. The
//! client's own ECS option keeps its meaning (E08: it may only shorten the prefix of the
//! client's address), unlike the ECS a front end adds in the `trusted-front-ends` mode.
//!
//! - A header from a source outside the list: dropped (`proxy_dropped_untrusted`): nobody else
//!   may choose the client address we see.
//! - From a listed source, a header that does not parse, or names a UNIX socket: dropped
//!   (`proxy_dropped_malformed`); a message without a header: dropped (`proxy_dropped_missing`).
//! - The LOCAL command (a balancer's own health check) and the UNSPEC address family: the
//!   query is the balancer's own, answered as coming from the balancer's address (which must
//!   then pass the ACL like any client); counted `proxy_local`.
//!
//! Parsing is the `ppp` crate's.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use ppp::v2::{Addresses, Command, Header, PROTOCOL_PREFIX};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::acl::Acl;

/// Why a message was dropped by the PROXY rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxyDrop {
    /// A header from a source that is not a trusted load balancer.
    Untrusted,
    /// A header that does not parse, or names no IP client.
    Malformed,
    /// No header from a trusted load balancer.
    Missing,
}

/// What the header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unwrapped {
    /// The client to serve: the header's source, or the peer itself.
    pub client: SocketAddr,
    /// How many bytes the header took.
    pub header_len: usize,
    /// The LOCAL command (or UNSPEC family): the balancer speaking for itself.
    pub local: bool,
}

/// The trusted load balancers.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyPolicy {
    from: Acl,
    enabled: bool,
}

impl ProxyPolicy {
    pub(crate) fn new(from: &[IpNet]) -> Self {
        Self {
            from: Acl::new(from),
            enabled: !from.is_empty(),
        }
    }

    /// Whether `peer` must send PROXY v2 headers.
    pub(crate) fn trusts(&self, peer: IpAddr) -> bool {
        self.enabled && self.from.allows(peer)
    }

    /// The client behind `bytes` from `peer`: for a trusted peer the header must be there and
    /// parse; for any other, there must be none (`header_len` 0).
    pub(crate) fn unwrap(&self, bytes: &[u8], peer: SocketAddr) -> Result<Unwrapped, ProxyDrop> {
        let has_header = bytes.starts_with(PROTOCOL_PREFIX);
        if !self.trusts(peer.ip()) {
            return if has_header {
                Err(ProxyDrop::Untrusted)
            } else {
                Ok(Unwrapped {
                    client: peer,
                    header_len: 0,
                    local: false,
                })
            };
        }
        if !has_header {
            return Err(ProxyDrop::Missing);
        }
        parse(bytes, peer)
    }
}

/// Parses a header known to start `bytes`.
pub(crate) fn parse(bytes: &[u8], peer: SocketAddr) -> Result<Unwrapped, ProxyDrop> {
    let header = Header::try_from(bytes).map_err(|_| ProxyDrop::Malformed)?;
    let header_len = header.len();
    let named = match (header.command, header.addresses) {
        (Command::Local, _) | (Command::Proxy, Addresses::Unspecified) => None,
        (Command::Proxy, Addresses::IPv4(v4)) => Some(SocketAddr::new(
            IpAddr::V4(v4.source_address),
            v4.source_port,
        )),
        (Command::Proxy, Addresses::IPv6(v6)) => Some(SocketAddr::new(
            IpAddr::V6(v6.source_address),
            v6.source_port,
        )),
        (Command::Proxy, Addresses::Unix(_)) => return Err(ProxyDrop::Malformed),
    };
    Ok(Unwrapped {
        client: named.unwrap_or(peer),
        header_len,
        local: named.is_none(),
    })
}

/// The length of the header whose first 16 bytes are `fixed` (signature, version and command,
/// family, length), for reading it off a stream; `None` if this is not a PROXY v2 header.
pub(crate) fn header_len(fixed: &[u8; 16]) -> Option<usize> {
    if !fixed.starts_with(PROTOCOL_PREFIX) {
        return None;
    }
    Some(16 + usize::from(u16::from_be_bytes([fixed[14], fixed[15]])))
}

/// The client of a TCP connection from `peer`: for a trusted load balancer, read from the PROXY
/// v2 header that must start the stream (within `wait`); for anyone else the peer, unless the
/// stream starts with a header (checked with a peek when PROXY is configured at all).
pub(crate) async fn stream_client(
    stream: &mut TcpStream,
    peer: SocketAddr,
    policy: &ProxyPolicy,
    wait: Duration,
) -> Result<Unwrapped, ProxyDrop> {
    let plain = Unwrapped {
        client: peer,
        header_len: 0,
        local: false,
    };
    if !policy.enabled {
        return Ok(plain);
    }
    if !policy.trusts(peer.ip()) {
        let mut start = [0u8; PROTOCOL_PREFIX.len()];
        return match timeout(wait, stream.peek(&mut start)).await {
            Ok(Ok(len)) if len == start.len() && start == PROTOCOL_PREFIX => {
                Err(ProxyDrop::Untrusted)
            }
            _ => Ok(plain),
        };
    }
    let read = async {
        let mut fixed = [0u8; 16];
        stream.read_exact(&mut fixed).await.ok()?;
        let len = header_len(&fixed)?;
        let mut header = fixed.to_vec();
        header.resize(len, 0);
        stream.read_exact(&mut header[16..]).await.ok()?;
        Some(header)
    };
    match timeout(wait, read).await {
        Ok(Some(header)) => parse(&header, peer),
        Ok(None) => Err(ProxyDrop::Missing),
        Err(_) => Err(ProxyDrop::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use ppp::v2::{Builder, IPv4, IPv6, Protocol, Version};

    use super::*;

    fn peer() -> SocketAddr {
        "10.0.0.5:4000".parse().expect("peer")
    }

    fn policy() -> ProxyPolicy {
        ProxyPolicy::new(&["10.0.0.0/24".parse().expect("net")])
    }

    fn header(command: Command, addresses: impl Into<Addresses>) -> Vec<u8> {
        Builder::with_addresses(Version::Two | command, Protocol::Datagram, addresses)
            .build()
            .expect("header")
    }

    #[test]
    fn a_trusted_header_names_the_client_v4_and_v6() {
        let v4 = header(
            Command::Proxy,
            IPv4::new([198, 51, 100, 7], [10, 0, 0, 1], 5300, 53),
        );
        let mut datagram = v4.clone();
        datagram.extend_from_slice(b"dns");
        let got = policy().unwrap(&datagram, peer()).expect("trusted");
        assert_eq!(got.client, "198.51.100.7:5300".parse().expect("addr"));
        assert_eq!(&datagram[got.header_len..], b"dns");
        assert!(!got.local);
        let v6 = header(
            Command::Proxy,
            IPv6::new(
                "2001:db8::7".parse::<std::net::Ipv6Addr>().expect("v6"),
                std::net::Ipv6Addr::LOCALHOST,
                1,
                53,
            ),
        );
        let got = policy().unwrap(&v6, peer()).expect("trusted");
        assert_eq!(got.client, "[2001:db8::7]:1".parse().expect("addr"));
    }

    #[test]
    fn local_command_is_the_balancer_itself() {
        let local = header(Command::Local, Addresses::Unspecified);
        let got = policy().unwrap(&local, peer()).expect("local");
        assert_eq!(got.client, peer());
        assert!(got.local);
        assert_eq!(got.header_len, local.len());
    }

    #[test]
    fn untrusted_missing_and_malformed_headers_are_refused() {
        let good = header(Command::Proxy, IPv4::new([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
        let stranger: SocketAddr = "192.0.2.1:53".parse().expect("addr");
        assert_eq!(policy().unwrap(&good, stranger), Err(ProxyDrop::Untrusted));
        assert_eq!(
            ProxyPolicy::default().unwrap(&good, peer()),
            Err(ProxyDrop::Untrusted),
            "no list: nobody is trusted"
        );
        let plain = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00";
        assert_eq!(policy().unwrap(plain, peer()), Err(ProxyDrop::Missing));
        let untrusted_plain = policy().unwrap(plain, stranger).expect("plain");
        assert_eq!(
            (untrusted_plain.client, untrusted_plain.header_len),
            (stranger, 0)
        );
        for cut in [13, 16, good.len() - 1] {
            assert_eq!(
                policy().unwrap(&good[..cut], peer()),
                Err(ProxyDrop::Malformed),
                "cut at {cut}"
            );
        }
        let mut bad_version = good.clone();
        bad_version[12] = 0x11;
        assert_eq!(
            policy().unwrap(&bad_version, peer()),
            Err(ProxyDrop::Malformed)
        );
    }

    #[test]
    fn stream_header_length_is_read_from_the_fixed_part() {
        let good = header(Command::Proxy, IPv4::new([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
        let fixed: [u8; 16] = good[..16].try_into().expect("16");
        assert_eq!(header_len(&fixed), Some(good.len()));
        assert_eq!(header_len(&[0; 16]), None);
    }
}
