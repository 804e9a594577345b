//! Which upstream servers may be sent a client subnet (E01, RFC 7871 §2, §11.3, §12.1).
//!
//! The file (`allowlist.txt`) holds one entry per line:
//!
//! - an address (`192.0.2.53`, `2001:db8::53`): that server;
//! - a prefix (`192.0.2.0/24`, `2001:db8::/32`): every server in it; a prefix with bits set past
//!   its length (`192.0.2.1/24`) is an error, since it is most likely a typo for another length;
//! - a zone (`cdn.example.` or `cdn.example`): servers asked about that zone or any zone below it,
//!   compared case-insensitively.
//!
//! `#` starts a comment, anywhere on a line; blank lines are ignored. An empty list allows nothing.
//!
//! The engine asks [`Allowlist::allows`] with the server's address and the **zone cut whose
//! servers it is asking** — not the query name: asking with the query name would send a CDN
//! customer's subnet to the root and TLD servers met on the way down (§12.1).

use crate::names::is_within;
use std::fmt;
use std::net::IpAddr;

use hickory_proto::rr::Name;
use ipnet::IpNet;
use prefix_trie::joint::JointPrefixMap;

use crate::canonical_net;
use crate::policy::host_net;

/// Why a server may be sent ECS: the entry that matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllowReason<'a> {
    /// The server's address is in this listed prefix (a listed address is a /32 or /128).
    Server(IpNet),
    /// The zone asked about is this listed zone or below it.
    Zone(&'a Name),
}

/// What is wrong with an allowlist entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowlistErrorKind {
    /// Not an IP address (the part before `/`, or an entry with `:`).
    BadAddress,
    /// The part after `/` is not a number.
    BadPrefixLength,
    /// The prefix length exceeds the address length.
    PrefixTooLong {
        /// The length given.
        len: u8,
        /// 32 or 128.
        max: u8,
    },
    /// Bits are set past the prefix length.
    HostBitsSet {
        /// The truncated prefix, offered as the likely intent.
        network: IpNet,
    },
    /// Not a valid domain name: hickory's reason (a label over 63 octets, a name over 255…).
    BadZone(String),
    /// A name with an empty label (`cdn..example`).
    EmptyLabel,
    /// An all-digit last label: a mistyped address rather than a zone.
    NumericZone,
    /// A `*` label: zone entries already cover every name below them.
    Wildcard,
    /// More than one entry on the line.
    ExtraText,
}

impl fmt::Display for AllowlistErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadAddress => f.write_str("not an IP address"),
            Self::BadPrefixLength => f.write_str("prefix length is not a number"),
            Self::PrefixTooLong { len, max } => {
                write!(f, "prefix length {len} is longer than {max}")
            }
            Self::HostBitsSet { network } => {
                write!(
                    f,
                    "bits are set past the prefix length (did you mean {network}?)"
                )
            }
            Self::BadZone(why) => write!(f, "not a valid zone name: {why}"),
            Self::EmptyLabel => f.write_str("not a valid zone name: empty label"),
            Self::NumericZone => f.write_str(
                "not an IP address, and not a zone (a zone's last label is never all digits)",
            ),
            Self::Wildcard => {
                f.write_str("wildcards are not needed: a zone entry covers every name below it")
            }
            Self::ExtraText => f.write_str("more than one entry on the line (write one per line)"),
        }
    }
}

/// An allowlist line that could not be read: `line 3: "192.0.2.0/33": prefix length 33 is longer
/// than 32`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: \"{entry}\": {kind}")]
pub struct AllowlistError {
    /// The 1-based line number.
    pub line: usize,
    /// The offending text (the whole line without its comment, trimmed).
    pub entry: String,
    /// What is wrong.
    pub kind: AllowlistErrorKind,
}

/// The ECS allowlist (E01): servers by address or prefix, and zones.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    servers: JointPrefixMap<IpNet, ()>,
    /// Lowercased, fully qualified.
    zones: Vec<Name>,
}

impl Allowlist {
    /// An allowlist that allows nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Read the allowlist file format (see the module documentation). The first bad line is the
    /// error.
    pub fn parse(text: &str) -> Result<Self, AllowlistError> {
        let mut list = Self::empty();
        for (index, raw) in text.lines().enumerate() {
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let error = |kind| AllowlistError {
                line: index + 1,
                entry: content.to_owned(),
                kind,
            };
            let mut words = content.split_whitespace();
            let (Some(entry), None) = (words.next(), words.next()) else {
                return Err(error(AllowlistErrorKind::ExtraText));
            };
            match parse_entry(entry).map_err(error)? {
                Entry::Server(net) => {
                    list.servers.insert(net, ());
                }
                Entry::Zone(zone) => {
                    if !list.zones.contains(&zone) {
                        list.zones.push(zone);
                    }
                }
            }
        }
        Ok(list)
    }

    /// Allow a server prefix (canonicalised and truncated).
    pub fn add_server(&mut self, net: IpNet) {
        self.servers.insert(canonical_net(net), ());
    }

    /// Allow a zone and everything below it.
    pub fn add_zone(&mut self, zone: &Name) {
        let zone = fqdn_lower(zone);
        if !self.zones.contains(&zone) {
            self.zones.push(zone);
        }
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.zones.is_empty()
    }

    /// The number of entries (server prefixes plus zones).
    pub fn len(&self) -> usize {
        self.servers.len() + self.zones.len()
    }

    /// Whether a query to `server` about `zone` may carry ECS, and which entry allows it (E01).
    ///
    /// `server` is canonicalised (IPv4-mapped → IPv4) and matched by longest prefix; `zone` should
    /// be the zone cut being asked (see the module documentation) and matches a listed zone it is
    /// equal to or below, case-insensitively. The server entry is checked first; of several
    /// matching zones, the longest is reported.
    pub fn allows(&self, server: IpAddr, zone: &Name) -> Option<AllowReason<'_>> {
        if let Some((net, ())) = self.servers.get_lpm(&host_net(server.to_canonical())) {
            return Some(AllowReason::Server(net));
        }
        // Allowlists hold a handful of zones; a scan beats building suffix keys per query.
        self.zones
            .iter()
            .filter(|listed| is_within(zone, listed))
            .max_by_key(|listed| listed.num_labels())
            .map(AllowReason::Zone)
    }
}

enum Entry {
    Server(IpNet),
    Zone(Name),
}

fn parse_entry(entry: &str) -> Result<Entry, AllowlistErrorKind> {
    use AllowlistErrorKind::*;
    if let Some((addr, len)) = entry.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| BadAddress)?;
        let len: u8 = len.parse().map_err(|_| BadPrefixLength)?;
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let net = IpNet::new(addr, len).map_err(|_| PrefixTooLong { len, max })?;
        if net.trunc() != net {
            return Err(HostBitsSet {
                network: net.trunc(),
            });
        }
        return Ok(Entry::Server(canonical_net(net)));
    }
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Ok(Entry::Server(canonical_net(host_net(addr))));
    }
    if entry.contains(':') {
        return Err(BadAddress);
    }
    let name = Name::from_ascii(entry).map_err(|e| BadZone(e.to_string()))?;
    let labels: Vec<&[u8]> = name.iter().collect();
    if labels.iter().any(|label| label.is_empty()) {
        return Err(EmptyLabel);
    }
    if labels.contains(&&b"*"[..]) {
        return Err(Wildcard);
    }
    if labels
        .last()
        .is_some_and(|top| top.iter().all(u8::is_ascii_digit))
    {
        return Err(NumericZone);
    }
    Ok(Entry::Zone(fqdn_lower(&name)))
}

fn fqdn_lower(name: &Name) -> Name {
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn list(text: &str) -> Allowlist {
        Allowlist::parse(text).unwrap()
    }

    fn error(text: &str) -> String {
        Allowlist::parse(text).unwrap_err().to_string()
    }

    fn kind(text: &str) -> AllowlistErrorKind {
        Allowlist::parse(text).unwrap_err().kind
    }

    #[test]
    fn e01_empty_allowlist_allows_nothing() {
        assert_eq!(
            Allowlist::empty().allows(ip("192.0.2.53"), &name("cdn.example.")),
            None
        );
    }

    #[test]
    fn e01_comment_only_allowlist_is_empty() {
        assert!(list("# nothing here\n\n   # still nothing\n").is_empty());
    }

    #[test]
    fn e01_shipped_allowlist_is_empty() {
        let shipped = include_str!("../../../allowlist.txt");
        assert!(list(shipped).is_empty());
    }

    #[test]
    fn e01_address_entry_matches_that_server() {
        assert_eq!(
            list("192.0.2.53").allows(ip("192.0.2.53"), &Name::root()),
            Some(AllowReason::Server(net("192.0.2.53/32")))
        );
    }

    #[test]
    fn e01_address_entry_does_not_match_neighbour() {
        assert_eq!(
            list("192.0.2.53").allows(ip("192.0.2.54"), &Name::root()),
            None
        );
    }

    #[test]
    fn e01_prefix_entry_matches_server_inside() {
        assert_eq!(
            list("192.0.2.0/24").allows(ip("192.0.2.200"), &Name::root()),
            Some(AllowReason::Server(net("192.0.2.0/24")))
        );
    }

    #[test]
    fn e01_longest_server_prefix_is_reported() {
        assert_eq!(
            list("192.0.0.0/16\n192.0.2.0/24").allows(ip("192.0.2.1"), &Name::root()),
            Some(AllowReason::Server(net("192.0.2.0/24")))
        );
    }

    #[test]
    fn e01_v6_prefix_entry_matches() {
        assert!(
            list("2001:db8::/32")
                .allows(ip("2001:db8:1::53"), &Name::root())
                .is_some()
        );
    }

    #[test]
    fn e01_v4_entry_does_not_match_v6_server() {
        assert_eq!(
            list("0.0.0.0/0").allows(ip("2001:db8::53"), &Name::root()),
            None
        );
    }

    #[test]
    fn e01_ipv4_mapped_server_matches_v4_entry() {
        assert!(
            list("192.0.2.0/24")
                .allows(ip("::ffff:192.0.2.1"), &Name::root())
                .is_some()
        );
    }

    #[test]
    fn e01_ipv4_mapped_entry_matches_v4_server() {
        assert!(
            list("::ffff:192.0.2.1")
                .allows(ip("192.0.2.1"), &Name::root())
                .is_some()
        );
    }

    #[test]
    fn e01_zone_entry_matches_the_zone() {
        let l = list("cdn.example.");
        assert_eq!(
            l.allows(ip("198.51.100.1"), &name("cdn.example.")),
            Some(AllowReason::Zone(&name("cdn.example.")))
        );
    }

    #[test]
    fn e01_zone_entry_matches_subdomains() {
        assert!(
            list("cdn.example.")
                .allows(ip("198.51.100.1"), &name("a.b.cdn.example."))
                .is_some()
        );
    }

    #[test]
    fn e01_zone_entry_does_not_match_parent() {
        assert_eq!(
            list("cdn.example.").allows(ip("198.51.100.1"), &name("example.")),
            None
        );
    }

    #[test]
    fn e01_zone_entry_does_not_match_root() {
        assert_eq!(
            list("cdn.example.").allows(ip("198.51.100.1"), &Name::root()),
            None
        );
    }

    #[test]
    fn e01_zone_entry_does_not_match_label_suffix() {
        assert_eq!(
            list("cdn.example.").allows(ip("198.51.100.1"), &name("xcdn.example.")),
            None
        );
    }

    #[test]
    fn e01_zone_entry_is_case_insensitive() {
        assert!(
            list("CDN.Example.")
                .allows(ip("198.51.100.1"), &name("www.cdn.EXAMPLE."))
                .is_some()
        );
    }

    #[test]
    fn e01_zone_entry_without_trailing_dot() {
        assert!(
            list("cdn.example")
                .allows(ip("198.51.100.1"), &name("www.cdn.example."))
                .is_some()
        );
    }

    #[test]
    fn e01_zone_entry_matches_relative_query_name() {
        assert!(
            list("cdn.example.")
                .allows(ip("198.51.100.1"), &name("www.cdn.example"))
                .is_some()
        );
    }

    #[test]
    fn e01_longest_zone_is_reported() {
        let l = list("example.\ncdn.example.");
        assert_eq!(
            l.allows(ip("198.51.100.1"), &name("a.cdn.example.")),
            Some(AllowReason::Zone(&name("cdn.example.")))
        );
    }

    #[test]
    fn e01_root_entry_is_explicit_and_matches_everything() {
        assert!(
            list(".")
                .allows(ip("198.51.100.1"), &Name::root())
                .is_some()
        );
    }

    #[test]
    fn e01_mixed_file_with_comments() {
        let l = list("# CDN\n192.0.2.0/24   # auth servers\n\ncdn.example # zone\n2001:db8::53\n");
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn e01_added_entries_are_allowed() {
        let mut l = Allowlist::empty();
        l.add_server(net("192.0.2.0/24"));
        l.add_zone(&name("CDN.example"));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn e01_duplicate_zones_count_once() {
        assert_eq!(list("cdn.example\nCDN.example.").len(), 1);
    }

    // --- errors name the line and the problem ---

    #[test]
    fn error_prefix_too_long_names_line_3() {
        assert_eq!(
            error("# list\n192.0.2.0/24\n192.0.2.0/33\n"),
            "line 3: \"192.0.2.0/33\": prefix length 33 is longer than 32"
        );
    }

    #[test]
    fn error_v6_prefix_too_long() {
        assert_eq!(
            kind("2001:db8::/129"),
            AllowlistErrorKind::PrefixTooLong { len: 129, max: 128 }
        );
    }

    #[test]
    fn error_host_bits_set_suggests_network() {
        assert_eq!(
            error("192.0.2.1/24"),
            "line 1: \"192.0.2.1/24\": bits are set past the prefix length (did you mean 192.0.2.0/24?)"
        );
    }

    #[test]
    fn error_bad_address_in_prefix() {
        assert_eq!(kind("192.0.2/24"), AllowlistErrorKind::BadAddress);
    }

    #[test]
    fn error_bad_prefix_length() {
        assert_eq!(kind("192.0.2.0/x"), AllowlistErrorKind::BadPrefixLength);
    }

    #[test]
    fn error_prefix_length_over_255() {
        assert_eq!(kind("192.0.2.0/300"), AllowlistErrorKind::BadPrefixLength);
    }

    #[test]
    fn error_bad_v6_address() {
        assert_eq!(kind("2001:db8::g"), AllowlistErrorKind::BadAddress);
    }

    #[test]
    fn error_mistyped_address_is_numeric_zone() {
        assert_eq!(kind("192.0.2.300"), AllowlistErrorKind::NumericZone);
    }

    #[test]
    fn error_wildcard_zone() {
        assert_eq!(kind("*.cdn.example"), AllowlistErrorKind::Wildcard);
    }

    #[test]
    fn error_empty_label() {
        let kind = kind("cdn..example");
        assert!(
            matches!(
                kind,
                AllowlistErrorKind::BadZone(_) | AllowlistErrorKind::EmptyLabel
            ),
            "{kind:?}"
        );
        assert!(kind.to_string().starts_with("not a valid zone name: "));
    }

    #[test]
    fn error_label_too_long_keeps_the_reason() {
        let long = format!("{}.example", "a".repeat(64));
        let kind = kind(&long);
        assert!(
            matches!(&kind, AllowlistErrorKind::BadZone(why) if !why.is_empty()),
            "{kind:?}"
        );
    }

    #[test]
    fn error_two_entries_on_a_line() {
        assert_eq!(
            error("\n\n\n192.0.2.1 192.0.2.2"),
            "line 4: \"192.0.2.1 192.0.2.2\": more than one entry on the line (write one per line)"
        );
    }

    #[test]
    fn error_line_number_counts_comment_and_blank_lines() {
        assert_eq!(
            Allowlist::parse("# a\n\n  # b\n\n192.0.2.0/99")
                .unwrap_err()
                .line,
            5
        );
    }
}
