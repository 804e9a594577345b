//! The zones every resolver serves itself unless told otherwise, with their data.
//!
//! - `localhost.` (RFC 6761 §6.3): A 127.0.0.1 and AAAA ::1, for the name and every name under
//!   it (a redirect zone), with an SOA and NS at the apex.
//! - The locally served reverse zones of RFC 6303 §4 and the IANA registry it created (RFC 7793
//!   added 100.64.0.0/10): private, loopback, link-local, "this network", broadcast and
//!   documentation addresses, IPv4 and IPv6. NXDOMAIN for everything but the loopback
//!   addresses' PTR `localhost.`.
//! - `invalid.`, `test.` (RFC 6761 §6.2, §6.4), `onion.` (RFC 7686 §2): NXDOMAIN.
//! - `home.arpa.` (RFC 8375): NXDOMAIN unless local data is given under it.
//!
//! Every default zone is a static zone (local data answered, anything else NXDOMAIN or NODATA)
//! with an SOA and an NS record at its apex, as RFC 6303 §3 describes, so SOA and NS questions
//! for the apex have answers and negative answers carry an SOA a stub may cache. The SOA is
//! `<zone> 10800 IN SOA localhost. nobody.invalid. 1 3600 1200 604800 10800`: three hours of
//! negative caching (RFC 6303 §3 suggests 10800), as Unbound's defaults use.

use super::LocalZoneKind;

/// TTL of the default zones' records, and their SOA MINIMUM (the negative TTL).
pub(crate) const DEFAULT_TTL: u32 = 10800;

/// The SOA RDATA of every locally made zone: primary `localhost.`, contact `nobody.invalid.`,
/// serial 1, refresh 1 h, retry 20 min, expire 1 week, negative TTL 3 h.
pub(crate) const SOA_RDATA: &str = "localhost. nobody.invalid. 1 3600 1200 604800 10800";

/// The ::1 reverse name, below its zone `1.0.…ip6.arpa.` (the zone is the name itself).
const V6_LOOPBACK: &str =
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.";
/// The :: reverse name (the unspecified address).
const V6_UNSPECIFIED: &str =
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.";

/// One default zone: its name, kind and records (zone-file lines, beyond the apex SOA and NS
/// every default zone gets).
pub(crate) struct DefaultZone {
    pub name: String,
    pub kind: LocalZoneKind,
    pub records: Vec<String>,
}

impl DefaultZone {
    fn new(name: impl Into<String>, kind: LocalZoneKind, records: &[&str]) -> Self {
        let name = name.into();
        let mut all = vec![
            format!("{name} {DEFAULT_TTL} IN SOA {SOA_RDATA}"),
            format!("{name} {DEFAULT_TTL} IN NS localhost."),
        ];
        all.extend(records.iter().map(|r| (*r).to_owned()));
        Self {
            name,
            kind,
            records: all,
        }
    }

    fn nxdomain(name: impl Into<String>) -> Self {
        Self::new(name, LocalZoneKind::Static, &[])
    }
}

/// Every default zone, in the order of the module docs.
pub(crate) fn default_zones() -> Vec<DefaultZone> {
    let mut zones = vec![
        DefaultZone::new(
            "localhost.",
            LocalZoneKind::Redirect,
            &[
                "localhost. 10800 IN A 127.0.0.1",
                "localhost. 10800 IN AAAA ::1",
            ],
        ),
        DefaultZone::new(
            "127.in-addr.arpa.",
            LocalZoneKind::Static,
            &["1.0.0.127.in-addr.arpa. 10800 IN PTR localhost."],
        ),
        DefaultZone::new(
            V6_LOOPBACK,
            LocalZoneKind::Static,
            &[&format!("{V6_LOOPBACK} 10800 IN PTR localhost.")],
        ),
    ];
    let mut nxdomain: Vec<String> = [
        // RFC 1918.
        "10.in-addr.arpa.",
        "168.192.in-addr.arpa.",
        // RFC 6303 §4.2: this network, link-local, documentation (TEST-NET-1..3), broadcast.
        "0.in-addr.arpa.",
        "254.169.in-addr.arpa.",
        "2.0.192.in-addr.arpa.",
        "100.51.198.in-addr.arpa.",
        "113.0.203.in-addr.arpa.",
        "255.255.255.255.in-addr.arpa.",
        V6_UNSPECIFIED,
        // fc00::/7, unique local addresses (RFC 4193): fd00::/8 and the reserved fc00::/8.
        "c.f.ip6.arpa.",
        "d.f.ip6.arpa.",
        // fe80::/10, link-local.
        "8.e.f.ip6.arpa.",
        "9.e.f.ip6.arpa.",
        "a.e.f.ip6.arpa.",
        "b.e.f.ip6.arpa.",
        // 2001:db8::/32, documentation.
        "8.b.d.0.1.0.0.2.ip6.arpa.",
        // Special-use names.
        "invalid.",
        "test.",
        "onion.",
        "home.arpa.",
    ]
    .map(str::to_owned)
    .into();
    // RFC 1918 172.16.0.0/12 and RFC 6598 100.64.0.0/10 (RFC 7793).
    nxdomain.extend((16..=31).map(|octet| format!("{octet}.172.in-addr.arpa.")));
    nxdomain.extend((64..=127).map(|octet| format!("{octet}.100.in-addr.arpa.")));
    zones.extend(nxdomain.into_iter().map(DefaultZone::nxdomain));
    zones
}
