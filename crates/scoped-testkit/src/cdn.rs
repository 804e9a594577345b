//! The ready-made ECS internet of [`ecs_internet`] / [`ecs_fixture`]: a CDN that answers a Tokyo
//! edge to Japanese clients and a San Francisco edge to Californian ones. Every server address is
//! in 127.53.20.0–127.53.24.255 (no overlap with [`standard`](crate::standard)), every server
//! listens on port 53 in memory, nobody has a delay.
//!
//! | server        | NS name              | zones                          | responder                       |
//! |---------------|----------------------|--------------------------------|---------------------------------|
//! | 127.53.20.1   | a.root.test.         | `.`                            | zone logic                      |
//! | 127.53.21.1   | ns1.nic.example.     | `example.`                     | zone logic                      |
//! | 127.53.22.1   | ns1.cdn.example.     | `cdn.example.`                 | [`cdn_authority`] (`cdn1`)      |
//! | 127.53.22.2   | ns2.cdn.example.     | `cdn.example.`                 | [`cdn_authority`] (`cdn2`)      |
//! | 127.53.23.1   | ns1.other.example.   | `other.example.`               | [`other_authority`] (`other`)   |
//! | 127.53.24.1   | ns1.shop.example.    | `shop.example.`, `pop.example.`| zone logic (never tailors)      |
//!
//! The allowlist of a test or the demo names `cdn.example.` (or 127.53.22.1 and 127.53.22.2) and
//! **not** `other.example.` / 127.53.23.1: that server tailors too, but must never see a subnet.
//! The two CDN servers share one table but have their own [`EcsHandle`]s, so one can misbehave
//! while the other answers correctly.
//!
//! Client prefixes (documentation ranges, RFC 5737 / RFC 3849):
//!
//! | clients                      | constant     | city          |
//! |------------------------------|--------------|---------------|
//! | 198.51.100.0/24 (TEST-NET-2) | [`TOKYO_V4`] | Tokyo         |
//! | 203.0.113.0/24 (TEST-NET-3)  | [`SF_V4`]    | San Francisco |
//! | 2001:db8:81::/56             | [`TOKYO_V6`] | Tokyo (+81)   |
//! | 2001:db8:1::/56              | [`SF_V6`]    | San Francisco (+1) |
//!
//! Anyone else (e.g. [`ELSEWHERE_V4`] 192.0.2.0/24, [`ELSEWHERE_V6`] 2001:db8:99::/56) and every
//! query without ECS gets the default. Note that scoped-ecs's default non-routable list contains
//! all of these ranges (E05): a resolver under test must be configured to treat them as routable.
//!
//! Answers of `cdn.example.` (TTL 300; tailored names echo SCOPE 24 to IPv4 and 56 to IPv6
//! unless said otherwise):
//!
//! | name                  | Tokyo clients              | San Francisco clients        | others / no ECS              | scope v4/v6 |
//! |-----------------------|----------------------------|------------------------------|------------------------------|-------------|
//! | `www.cdn.example.`    | A 192.0.2.81, AAAA 2001:db8:ed9e::81 | A 192.0.2.1, AAAA 2001:db8:ed9e::1 | A 192.0.2.100, AAAA 2001:db8:ed9e::100 (zone) | 24 / 56 |
//! | `wide.cdn.example.`   | same as www                | same as www                  | same as www                  | 16 / 48     |
//! | `narrow.cdn.example.` | same as www                | same as www                  | same as www                  | 28 / 64 (> SOURCE: E15) |
//! | `map.cdn.example.`    | CNAME `tokyo.pop.example.` | CNAME `sf.pop.example.`      | CNAME `any.pop.example.` (zone) | 24 / 56  |
//! | `jp-only.cdn.example.`| A 192.0.2.81 (other types NODATA) | v4: NXDOMAIN; v6: NODATA | NXDOMAIN (zone)          | 24 / 56     |
//! | `static.cdn.example.` | A 192.0.2.50 (untailored)  | same                         | same                         | 0           |
//! | `alias.cdn.example.`  | CNAME `www` (untailored link, chased in-zone) + www's tailored answer | idem | idem | 24 / 56 |
//!
//! `*.scope24.cdn.example.`: a wildcard, A 192.0.2.24 for everyone from the zone (its SCOPE is
//! the servers' untailored scope: 0 unless a test sets it); `scope24.cdn.example.` itself is an
//! empty non-terminal (NODATA), for QNAME-minimisation walks over many fresh names.
//!
//! `other.example.`: `www.other.example.` A 192.0.2.182 for Tokyo (v4 and v6 prefixes),
//! A 192.0.2.101 for San Francisco, A 192.0.2.200 for others (zone), scope 24 / 56.
//!
//! Untailored zones: `www.shop.example.` CNAME `www.cdn.example.` (untailored → tailored, across
//! servers); `tokyo.pop.example.` A 192.0.2.81, `sf.pop.example.` A 192.0.2.1,
//! `any.pop.example.` A 192.0.2.100 (targets of the tailored CNAME `map.cdn.example.`).
//!
//! Negative TTLs: `cdn.example.` and `pop.example.` SOA MINIMUM 60; `other.example.` and
//! `shop.example.` 60 too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::ecs::{EcsAuthority, EcsHandle};
use crate::internet::{Internet, InternetBuilder};

const fn server(c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 53, c, d))
}

const fn v4net(a: u8, b: u8, c: u8, d: u8, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len))
}

const fn v6net(segments: [u16; 8], len: u8) -> IpNet {
    let [a, b, c, d, e, f, g, h] = segments;
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(a, b, c, d, e, f, g, h),
        len,
    ))
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

const fn edge_v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xed9e, 0, 0, 0, 0, last))
}

/// a.root.test., serves `.`
pub const ECS_ROOT: IpAddr = server(20, 1);
/// ns1.nic.example., serves `example.`
pub const ECS_TLD: IpAddr = server(21, 1);
/// ns1.cdn.example. (ECS-aware, allowlist it)
pub const CDN_1: IpAddr = server(22, 1);
/// ns2.cdn.example. (ECS-aware, allowlist it)
pub const CDN_2: IpAddr = server(22, 2);
/// ns1.other.example. (ECS-aware, but never allowlisted)
pub const OTHER: IpAddr = server(23, 1);
/// ns1.shop.example., serves `shop.example.` and `pop.example.` (no ECS logic)
pub const PLAIN: IpAddr = server(24, 1);

/// Tokyo IPv4 clients: 198.51.100.0/24 (TEST-NET-2).
pub const TOKYO_V4: IpNet = v4net(198, 51, 100, 0, 24);
/// San Francisco IPv4 clients: 203.0.113.0/24 (TEST-NET-3).
pub const SF_V4: IpNet = v4net(203, 0, 113, 0, 24);
/// Tokyo IPv6 clients: 2001:db8:81::/56.
pub const TOKYO_V6: IpNet = v6net([0x2001, 0xdb8, 0x81, 0, 0, 0, 0, 0], 56);
/// San Francisco IPv6 clients: 2001:db8:1::/56.
pub const SF_V6: IpNet = v6net([0x2001, 0xdb8, 0x1, 0, 0, 0, 0, 0], 56);
/// IPv4 clients in no table: 192.0.2.0/24 (TEST-NET-1).
pub const ELSEWHERE_V4: IpNet = v4net(192, 0, 2, 0, 24);
/// IPv6 clients in no table: 2001:db8:99::/56.
pub const ELSEWHERE_V6: IpNet = v6net([0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 0], 56);

/// A Tokyo client: 198.51.100.7.
pub const TOKYO_CLIENT: IpAddr = v4(198, 51, 100, 7);
/// A San Francisco client: 203.0.113.7.
pub const SF_CLIENT: IpAddr = v4(203, 0, 113, 7);
/// A Tokyo IPv6 client: 2001:db8:81::7.
pub const TOKYO_CLIENT_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x81, 0, 0, 0, 0, 7));
/// A San Francisco IPv6 client: 2001:db8:1::7.
pub const SF_CLIENT_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x1, 0, 0, 0, 0, 7));

/// The Tokyo edge, IPv4: 192.0.2.81.
pub const TOKYO_EDGE_V4: IpAddr = v4(192, 0, 2, 81);
/// The Tokyo edge, IPv6: 2001:db8:ed9e::81.
pub const TOKYO_EDGE_V6: IpAddr = edge_v6(0x81);
/// The San Francisco edge, IPv4: 192.0.2.1.
pub const SF_EDGE_V4: IpAddr = v4(192, 0, 2, 1);
/// The San Francisco edge, IPv6: 2001:db8:ed9e::1.
pub const SF_EDGE_V6: IpAddr = edge_v6(0x1);
/// The default edge (other clients, no ECS), IPv4: 192.0.2.100.
pub const DEFAULT_EDGE_V4: IpAddr = v4(192, 0, 2, 100);
/// The default edge, IPv6: 2001:db8:ed9e::100.
pub const DEFAULT_EDGE_V6: IpAddr = edge_v6(0x100);
/// `static.cdn.example.` (untailored): 192.0.2.50.
pub const STATIC_V4: IpAddr = v4(192, 0, 2, 50);
/// `www.other.example.` for Tokyo: 192.0.2.182.
pub const OTHER_TOKYO_V4: IpAddr = v4(192, 0, 2, 182);
/// `www.other.example.` for San Francisco: 192.0.2.101.
pub const OTHER_SF_V4: IpAddr = v4(192, 0, 2, 101);
/// `www.other.example.` for everyone else: 192.0.2.200.
pub const OTHER_DEFAULT_V4: IpAddr = v4(192, 0, 2, 200);

/// Tailored, scope 24 / 56.
pub const WWW_CDN: &str = "www.cdn.example.";
/// Tailored, scope 16 / 48.
pub const WIDE_CDN: &str = "wide.cdn.example.";
/// Tailored, scope 28 / 64 (more than the usual SOURCE).
pub const NARROW_CDN: &str = "narrow.cdn.example.";
/// Tailored CNAME into `pop.example.` (untailored targets).
pub const MAP_CDN: &str = "map.cdn.example.";
/// Tailored with negative answers.
pub const JP_ONLY_CDN: &str = "jp-only.cdn.example.";
/// Untailored, scope 0.
pub const STATIC_CDN: &str = "static.cdn.example.";
/// Untailored CNAME to `www.cdn.example.` in the same zone.
pub const ALIAS_CDN: &str = "alias.cdn.example.";
/// Tailored by the server that is not allowlisted.
pub const WWW_OTHER: &str = "www.other.example.";
/// Untailored CNAME (on a plain server) to `www.cdn.example.`.
pub const WWW_SHOP: &str = "www.shop.example.";

const ROOT: &str = "
.                 86400  IN SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 86400
.                 518400 IN NS  a.root.test.
a.root.test.      518400 IN A   127.53.20.1
example.          172800 IN NS  ns1.nic.example.
ns1.nic.example.  172800 IN A   127.53.21.1
";

const EXAMPLE_ZONE: &str = "
@            86400  IN SOA ns1.nic.example. hostmaster.nic.example. 1 1800 900 604800 900
@            172800 IN NS  ns1.nic.example.
ns1.nic      172800 IN A   127.53.21.1
cdn          172800 IN NS  ns1.cdn.example.
cdn          172800 IN NS  ns2.cdn.example.
ns1.cdn      172800 IN A   127.53.22.1
ns2.cdn      172800 IN A   127.53.22.2
other        172800 IN NS  ns1.other.example.
ns1.other    172800 IN A   127.53.23.1
shop         172800 IN NS  ns1.shop.example.
pop          172800 IN NS  ns1.shop.example.
ns1.shop     172800 IN A   127.53.24.1
";

const CDN_ZONE: &str = "
@       3600  IN SOA   ns1.cdn.example. hostmaster.cdn.example. 1 7200 900 1209600 60
@       86400 IN NS    ns1.cdn.example.
@       86400 IN NS    ns2.cdn.example.
ns1     86400 IN A     127.53.22.1
ns2     86400 IN A     127.53.22.2
www     300   IN A     192.0.2.100
www     300   IN AAAA  2001:db8:ed9e::100
wide    300   IN A     192.0.2.100
wide    300   IN AAAA  2001:db8:ed9e::100
narrow  300   IN A     192.0.2.100
narrow  300   IN AAAA  2001:db8:ed9e::100
map     300   IN CNAME any.pop.example.
static  300   IN A     192.0.2.50
alias   300   IN CNAME www
*.scope24 300 IN A   192.0.2.24
";

const OTHER_ZONE: &str = "
@     3600  IN SOA ns1.other.example. hostmaster.other.example. 1 7200 900 1209600 60
@     86400 IN NS  ns1.other.example.
ns1   86400 IN A   127.53.23.1
www   300   IN A   192.0.2.200
";

const SHOP_ZONE: &str = "
@     3600  IN SOA   ns1.shop.example. hostmaster.shop.example. 1 7200 900 1209600 60
@     86400 IN NS    ns1.shop.example.
ns1   86400 IN A     127.53.24.1
www   300   IN CNAME www.cdn.example.
";

const POP_ZONE: &str = "
@      3600  IN SOA ns1.shop.example. hostmaster.pop.example. 1 7200 900 1209600 60
@      86400 IN NS  ns1.shop.example.
tokyo  300   IN A   192.0.2.81
sf     300   IN A   192.0.2.1
any    300   IN A   192.0.2.100
";

/// The zones and servers of the ECS internet, without responders (install them with
/// [`install_ecs_authorities`] after building).
pub fn ecs_builder() -> InternetBuilder {
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT)
        .zone("example.", EXAMPLE_ZONE)
        .zone("cdn.example.", CDN_ZONE)
        .zone("other.example.", OTHER_ZONE)
        .zone("shop.example.", SHOP_ZONE)
        .zone("pop.example.", POP_ZONE);
    b.server(ECS_ROOT, &["."])
        .server(ECS_TLD, &["example."])
        .server(CDN_1, &["cdn.example."])
        .server(CDN_2, &["cdn.example."])
        .server(OTHER, &["other.example."])
        .server(PLAIN, &["shop.example.", "pop.example."]);
    b
}

/// The table of the `cdn.example.` servers (see the [module documentation](self)).
pub fn cdn_authority() -> EcsAuthority {
    let mut a = EcsAuthority::new();
    let tokyo = [TOKYO_V4, TOKYO_V6];
    let sf = [SF_V4, SF_V6];
    for name in [WWW_CDN, WIDE_CDN, NARROW_CDN] {
        for prefix in tokyo {
            a.answer(name, prefix, "A 192.0.2.81")
                .answer(name, prefix, "AAAA 2001:db8:ed9e::81");
        }
        for prefix in sf {
            a.answer(name, prefix, "A 192.0.2.1")
                .answer(name, prefix, "AAAA 2001:db8:ed9e::1");
        }
    }
    a.scope(WWW_CDN, 24).scope_v6(WWW_CDN, 56);
    a.scope(WIDE_CDN, 16).scope_v6(WIDE_CDN, 48);
    a.scope(NARROW_CDN, 28).scope_v6(NARROW_CDN, 64);
    for prefix in tokyo {
        a.answer(MAP_CDN, prefix, "CNAME tokyo.pop.example.")
            .answer(JP_ONLY_CDN, prefix, "A 192.0.2.81");
    }
    for prefix in sf {
        a.answer(MAP_CDN, prefix, "CNAME sf.pop.example.");
    }
    a.scope(MAP_CDN, 24).scope_v6(MAP_CDN, 56);
    a.nxdomain(JP_ONLY_CDN, SF_V4).nodata(JP_ONLY_CDN, SF_V6);
    a.scope(JP_ONLY_CDN, 24).scope_v6(JP_ONLY_CDN, 56);
    a
}

/// The table of the `other.example.` server.
pub fn other_authority() -> EcsAuthority {
    let mut a = EcsAuthority::new();
    for prefix in [TOKYO_V4, TOKYO_V6] {
        a.answer(WWW_OTHER, prefix, "A 192.0.2.182");
    }
    for prefix in [SF_V4, SF_V6] {
        a.answer(WWW_OTHER, prefix, "A 192.0.2.101");
    }
    a.scope(WWW_OTHER, 24).scope_v6(WWW_OTHER, 56);
    a
}

/// The ECS internet with the handles of its ECS-aware servers.
#[derive(Clone, Debug)]
pub struct EcsInternet {
    /// The internet.
    pub internet: Internet,
    /// ns1.cdn.example. ([`CDN_1`]).
    pub cdn1: EcsHandle,
    /// ns2.cdn.example. ([`CDN_2`]).
    pub cdn2: EcsHandle,
    /// ns1.other.example. ([`OTHER`]).
    pub other: EcsHandle,
}

impl EcsInternet {
    /// Apply `f` to both CDN servers (e.g. make the whole CDN misbehave).
    pub fn both_cdn(&self, f: impl Fn(&EcsHandle)) {
        f(&self.cdn1);
        f(&self.cdn2);
    }
}

/// Install [`cdn_authority`] on [`CDN_1`] and [`CDN_2`] (one handle each) and
/// [`other_authority`] on [`OTHER`] of an internet built from [`ecs_builder`].
///
/// # Panics
///
/// When one of those servers is missing.
pub fn install_ecs_authorities(internet: &Internet) -> EcsInternet {
    EcsInternet {
        internet: internet.clone(),
        cdn1: cdn_authority().install(&internet.expect_server(CDN_1)),
        cdn2: cdn_authority().install(&internet.expect_server(CDN_2)),
        other: other_authority().install(&internet.expect_server(OTHER)),
    }
}

/// The ECS internet and its handles; see the [module documentation](self) for its map.
pub fn ecs_fixture() -> EcsInternet {
    match ecs_builder().build() {
        Ok(internet) => install_ecs_authorities(&internet),
        // The fixture is constant text; a failure is a bug in this file, caught by its tests.
        Err(e) => panic!("the ECS internet does not build: {e}"),
    }
}

/// The ECS internet; see the [module documentation](self) for its map. Use [`ecs_fixture`] for
/// the handles that change the ECS servers at runtime.
pub fn ecs_internet() -> Internet {
    ecs_fixture().internet
}
