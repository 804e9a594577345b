//! Just enough DNS wire format for a load generator: queries are built once, as bytes, and only
//! their ID changes per send; responses are read for their ID and RCODE.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use scoped_ecs::Ecs;

/// QTYPE A.
pub const TYPE_A: u16 = 1;

/// A query for `name` (presentation form, trailing dot optional) of type `qtype`, ID 0, RD set.
/// With `edns`, an OPT record offering 1232 bytes; with `subnet`, an EDNS Client Subnet option
/// (RFC 7871, family 1, SCOPE 0) for that IPv4 prefix — the address is truncated to its length.
///
/// # Panics
///
/// On a label longer than 63 bytes or a prefix longer than 32 (programming errors here).
pub fn query(name: &str, qtype: u16, edns: bool, subnet: Option<(Ipv4Addr, u8)>) -> Vec<u8> {
    let mut wire = Vec::with_capacity(64);
    let arcount: u16 = if edns || subnet.is_some() { 1 } else { 0 };
    wire.extend_from_slice(&[0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0]);
    wire.extend_from_slice(&arcount.to_be_bytes());
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        assert!(label.len() < 64, "label too long: {label}");
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    wire.extend_from_slice(&qtype.to_be_bytes());
    wire.extend_from_slice(&1u16.to_be_bytes());
    if arcount == 1 {
        // The resolver's own codec writes the option (code, length, payload; truncated).
        let option = subnet.map(|(addr, len)| {
            let prefix = Ipv4Net::new(addr, len).expect("an IPv4 prefix length of at most 32");
            Ecs::for_query(prefix.into()).option()
        });
        let option = option.as_deref().unwrap_or_default();
        wire.push(0);
        wire.extend_from_slice(&41u16.to_be_bytes());
        wire.extend_from_slice(&1232u16.to_be_bytes());
        wire.extend_from_slice(&[0, 0, 0, 0]);
        wire.extend_from_slice(&(option.len() as u16).to_be_bytes());
        wire.extend_from_slice(option);
    }
    wire
}

/// The ID of a message, if it has a header.
pub fn id(message: &[u8]) -> Option<u16> {
    message.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// The RCODE (header part) of a response, if it has a header.
pub fn rcode(message: &[u8]) -> Option<u8> {
    message.get(3).map(|b| b & 0x0f)
}

/// A query for `name` of type `qtype` with an OPT record whose DO bit is set (RFC 3225): what
/// `dig +dnssec` sends, asking a validating resolver for AD and the RRSIGs.
pub fn query_do(name: &str, qtype: u16) -> Vec<u8> {
    let mut wire = query(name, qtype, true, None);
    // The OPT record ends with TTL (extended RCODE, version, flags) and an empty RDLENGTH; DO is
    // the top bit of the flags.
    let flags = wire.len() - 4;
    wire[flags] |= 0x80;
    wire
}

/// The AD bit (authentic data) of the header's flags.
pub const FLAG_AD: u16 = 0x0020;

/// The header's flags (QR … RCODE) of a message, if it has a header.
pub fn flags(message: &[u8]) -> Option<u16> {
    message.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// The number of answer records of a response, if it has a header.
pub fn answer_count(message: &[u8]) -> Option<u16> {
    message.get(6..8).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_query_is_header_and_question() {
        let q = query("www.example.", TYPE_A, false, None);
        assert_eq!(&q[..12], &[0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03www\x07example\x00\x00\x01\x00\x01");
    }

    #[test]
    fn a_subnet_query_carries_a_truncated_ecs_option() {
        let q = query(
            "a.b",
            TYPE_A,
            false,
            Some(("198.51.7.99".parse().unwrap(), 24)),
        );
        assert_eq!(&q[10..12], &[0, 1], "one additional record");
        let opt = &q[12 + 5 + 4..];
        assert_eq!(&opt[..3], &[0, 0, 41]);
        assert_eq!(&opt[9..11], &[0, 11], "RDLENGTH: option header + 7");
        assert_eq!(&opt[11..], &[0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 7]);
    }

    #[test]
    fn a_do_query_sets_only_the_do_bit_of_its_opt_record() {
        let plain = query("a.b", TYPE_A, true, None);
        let q = query_do("a.b", TYPE_A);
        assert_eq!(q.len(), plain.len());
        let opt = &q[12 + 5 + 4..];
        assert_eq!(&opt[..3], &[0, 0, 41]);
        assert_eq!(
            &opt[5..11],
            &[0, 0, 0x80, 0, 0, 0],
            "TTL: DO set, then RDLENGTH 0"
        );
        let differing: Vec<usize> = (0..q.len()).filter(|&i| q[i] != plain[i]).collect();
        assert_eq!(differing, [q.len() - 4]);
    }

    #[test]
    fn ad_is_read_from_the_header_flags() {
        let mut response = vec![0, 7, 0x81, 0xa0, 0, 1, 0, 1, 0, 0, 0, 0];
        assert_eq!(flags(&response).map(|f| f & FLAG_AD), Some(FLAG_AD));
        response[3] = 0x80;
        assert_eq!(flags(&response).map(|f| f & FLAG_AD), Some(0));
        assert_eq!(flags(&[0]), None);
    }

    #[test]
    fn a_subnet_of_length_zero_sends_no_address_bytes() {
        let q = query("a", TYPE_A, false, Some(("10.0.0.1".parse().unwrap(), 0)));
        assert!(q.ends_with(&[0, 8, 0, 4, 0, 1, 0, 0]));
    }
}
