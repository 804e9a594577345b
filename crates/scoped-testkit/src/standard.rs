//! The ready-made internet of [`standard_internet`]: every address is in 127.53.0.0/16, every
//! server listens on port 53 in memory, no server has a delay until a test sets one.
//!
//! | server        | NS name               | zones               | behaviour                    |
//! |---------------|-----------------------|---------------------|------------------------------|
//! | 127.53.0.1    | a.root.test.          | `.`                 |                              |
//! | 127.53.0.2    | b.root.test.          | `.`                 |                              |
//! | 127.53.1.1    | ns1.nic.com.          | `com.`              |                              |
//! | 127.53.1.2    | ns1.nic.net.          | `net.`              |                              |
//! | 127.53.1.3    | ns1.nic.org.          | `org.`              |                              |
//! | 127.53.2.1    | ns1.example.com.      | `example.com.`      |                              |
//! | 127.53.2.2    | ns2.example.com.      | `example.com.`      |                              |
//! | 127.53.2.3    | ns.sub.example.com.   | `sub.example.com.`  |                              |
//! | 127.53.3.1    | ns1.example.net.      | `example.net.`      |                              |
//! | 127.53.3.3    | ns1.tc.net.           | `tc.net.`           | `truncate_udp`               |
//! | 127.53.4.1    | ns.example.net.       | `glueless.org.`     | (NS name in another zone)    |
//! | 127.53.4.2    | ns1.failover.org.     | `failover.org.`     | `dead`                       |
//! | 127.53.4.3    | ns2.failover.org.     | `failover.org.`     |                              |
//! | 127.53.4.4    | ns1.lame.org.         | `lame.org.`         | `rcode = REFUSED`            |
//! | 127.53.4.5    | ns2.lame.org.         | `lame.org.`         |                              |
//!
//! Delegations carry glue in the parent except `glueless.org. NS ns.example.net.` (the org
//! server sends no address; `ns.example.net. A 127.53.4.1` comes from the example.net server).
//!
//! Names worth asking:
//! - `www.example.com.` A 192.0.2.10 (TTL 300) and AAAA 2001:db8::10; MX → NODATA.
//! - `chain.example.com.` CNAME `alias.example.com.` CNAME `www.example.com.` (in-zone chain).
//! - `cross.example.com.` CNAME `www.example.net.` (A 192.0.2.20, another server);
//!   `back.example.net.` CNAME `www.example.com.`.
//! - `dangling.example.com.` CNAME `nothere.example.com.` → NXDOMAIN with the CNAME (RFC 6604).
//! - `<anything>.wild.example.com.` A 192.0.2.99, TXT "wildcard" (from `*.wild.example.com.`).
//! - `a.b.ent.example.com.` A 192.0.2.11, so `ent.example.com.` and `b.ent.example.com.` are
//!   empty non-terminals (NODATA).
//! - `nx.example.com.` → NXDOMAIN; `nx.example.net.` → NXDOMAIN.
//! - `big.example.com.` TXT of three 200-character strings (> 512 bytes: TC without EDNS).
//! - `www.sub.example.com.` A 192.0.2.12 (child zone, glue `ns.sub.example.com.` in example.com).
//! - `www.glueless.org.` A 192.0.2.30, `www.failover.org.` A 192.0.2.50, `www.lame.org.`
//!   A 192.0.2.60, `www.tc.net.` A 192.0.2.40.
//!
//! Negative caching: `example.com.` SOA TTL 3600, MINIMUM 60 (negative TTL 60);
//! `example.net.` SOA TTL 30, MINIMUM 300 (negative TTL 30: the SOA TTL is the smaller).

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;

use crate::internet::{Behaviour, Internet, InternetBuilder};

const fn v4(c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 53, c, d))
}

/// a.root.test.
pub const ROOT_A: IpAddr = v4(0, 1);
/// b.root.test.
pub const ROOT_B: IpAddr = v4(0, 2);
/// ns1.nic.com., serves `com.`
pub const COM: IpAddr = v4(1, 1);
/// ns1.nic.net., serves `net.`
pub const NET: IpAddr = v4(1, 2);
/// ns1.nic.org., serves `org.`
pub const ORG: IpAddr = v4(1, 3);
/// ns1.example.com.
pub const EXAMPLE_COM_1: IpAddr = v4(2, 1);
/// ns2.example.com.
pub const EXAMPLE_COM_2: IpAddr = v4(2, 2);
/// ns.sub.example.com.
pub const SUB_EXAMPLE_COM: IpAddr = v4(2, 3);
/// ns1.example.net.
pub const EXAMPLE_NET: IpAddr = v4(3, 1);
/// ns1.tc.net. (truncates every UDP answer)
pub const TC_NET: IpAddr = v4(3, 3);
/// ns.example.net., serves `glueless.org.`
pub const GLUELESS_ORG: IpAddr = v4(4, 1);
/// ns1.failover.org. (dead)
pub const FAILOVER_DEAD: IpAddr = v4(4, 2);
/// ns2.failover.org.
pub const FAILOVER_GOOD: IpAddr = v4(4, 3);
/// ns1.lame.org. (answers REFUSED)
pub const LAME_REFUSED: IpAddr = v4(4, 4);
/// ns2.lame.org.
pub const LAME_GOOD: IpAddr = v4(4, 5);

const ROOT: &str = "
.               86400  IN SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 86400
.               518400 IN NS  a.root.test.
.               518400 IN NS  b.root.test.
a.root.test.    518400 IN A   127.53.0.1
b.root.test.    518400 IN A   127.53.0.2
com.            172800 IN NS  ns1.nic.com.
ns1.nic.com.    172800 IN A   127.53.1.1
net.            172800 IN NS  ns1.nic.net.
ns1.nic.net.    172800 IN A   127.53.1.2
org.            172800 IN NS  ns1.nic.org.
ns1.nic.org.    172800 IN A   127.53.1.3
";

const COM_ZONE: &str = "
@            86400  IN SOA ns1.nic.com. hostmaster.nic.com. 1 1800 900 604800 900
@            172800 IN NS  ns1.nic.com.
ns1.nic      172800 IN A   127.53.1.1
example      172800 IN NS  ns1.example.com.
example      172800 IN NS  ns2.example.com.
ns1.example  172800 IN A   127.53.2.1
ns2.example  172800 IN A   127.53.2.2
";

const NET_ZONE: &str = "
@            86400  IN SOA ns1.nic.net. hostmaster.nic.net. 1 1800 900 604800 900
@            172800 IN NS  ns1.nic.net.
ns1.nic      172800 IN A   127.53.1.2
example      172800 IN NS  ns1.example.net.
ns1.example  172800 IN A   127.53.3.1
tc           172800 IN NS  ns1.tc.net.
ns1.tc       172800 IN A   127.53.3.3
";

const ORG_ZONE: &str = "
@            86400  IN SOA ns1.nic.org. hostmaster.nic.org. 1 1800 900 604800 900
@            172800 IN NS  ns1.nic.org.
ns1.nic      172800 IN A   127.53.1.3
glueless     172800 IN NS  ns.example.net.    ; glueless: the NS name lives in example.net
failover     172800 IN NS  ns1.failover.org.
failover     172800 IN NS  ns2.failover.org.
ns1.failover 172800 IN A   127.53.4.2
ns2.failover 172800 IN A   127.53.4.3
lame         172800 IN NS  ns1.lame.org.
lame         172800 IN NS  ns2.lame.org.
ns1.lame     172800 IN A   127.53.4.4
ns2.lame     172800 IN A   127.53.4.5
";

fn example_com_zone() -> String {
    let strings: Vec<String> = (0..3)
        .map(|i| format!("\"{}\"", format!("{i}").repeat(200)))
        .collect();
    format!(
        "
@        3600  IN SOA   ns1.example.com. hostmaster.example.com. 2024010101 7200 900 1209600 60
@        86400 IN NS    ns1.example.com.
@        86400 IN NS    ns2.example.com.
ns1      86400 IN A     127.53.2.1
ns2      86400 IN A     127.53.2.2
www      300   IN A     192.0.2.10
www      300   IN AAAA  2001:db8::10
alias    300   IN CNAME www
chain    300   IN CNAME alias
cross    300   IN CNAME www.example.net.
dangling 300   IN CNAME nothere.example.com.
*.wild   300   IN A     192.0.2.99
*.wild   300   IN TXT   \"wildcard\"
a.b.ent  300   IN A     192.0.2.11
big      300   IN TXT   {}
sub      86400 IN NS    ns.sub.example.com.
ns.sub   86400 IN A     127.53.2.3
",
        strings.join(" ")
    )
}

const SUB_EXAMPLE_COM_ZONE: &str = "
@     3600  IN SOA ns.sub.example.com. hostmaster.example.com. 1 7200 900 1209600 60
@     86400 IN NS  ns.sub.example.com.
ns    86400 IN A   127.53.2.3
www   300   IN A   192.0.2.12
";

const EXAMPLE_NET_ZONE: &str = "
@     30    IN SOA   ns1.example.net. hostmaster.example.net. 1 7200 900 1209600 300
@     86400 IN NS    ns1.example.net.
ns1   86400 IN A     127.53.3.1
ns    86400 IN A     127.53.4.1
www   300   IN A     192.0.2.20
back  300   IN CNAME www.example.com.
";

const TC_NET_ZONE: &str = "
@     3600  IN SOA ns1.tc.net. hostmaster.tc.net. 1 7200 900 1209600 60
@     86400 IN NS  ns1.tc.net.
ns1   86400 IN A   127.53.3.3
www   300   IN A   192.0.2.40
";

const GLUELESS_ORG_ZONE: &str = "
@     3600  IN SOA ns.example.net. hostmaster.glueless.org. 1 7200 900 1209600 60
@     86400 IN NS  ns.example.net.
www   300   IN A   192.0.2.30
";

const FAILOVER_ORG_ZONE: &str = "
@     3600  IN SOA ns1.failover.org. hostmaster.failover.org. 1 7200 900 1209600 60
@     86400 IN NS  ns1.failover.org.
@     86400 IN NS  ns2.failover.org.
ns1   86400 IN A   127.53.4.2
ns2   86400 IN A   127.53.4.3
www   300   IN A   192.0.2.50
";

const LAME_ORG_ZONE: &str = "
@     3600  IN SOA ns1.lame.org. hostmaster.lame.org. 1 7200 900 1209600 60
@     86400 IN NS  ns1.lame.org.
@     86400 IN NS  ns2.lame.org.
ns1   86400 IN A   127.53.4.4
ns2   86400 IN A   127.53.4.5
www   300   IN A   192.0.2.60
";

/// The builder behind [`standard_internet`], to add servers or change the port before building.
pub fn standard_builder() -> InternetBuilder {
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT)
        .zone("com.", COM_ZONE)
        .zone("net.", NET_ZONE)
        .zone("org.", ORG_ZONE)
        .zone("example.com.", &example_com_zone())
        .zone("sub.example.com.", SUB_EXAMPLE_COM_ZONE)
        .zone("example.net.", EXAMPLE_NET_ZONE)
        .zone("tc.net.", TC_NET_ZONE)
        .zone("glueless.org.", GLUELESS_ORG_ZONE)
        .zone("failover.org.", FAILOVER_ORG_ZONE)
        .zone("lame.org.", LAME_ORG_ZONE);
    b.server(ROOT_A, &["."])
        .server(ROOT_B, &["."])
        .server(COM, &["com."])
        .server(NET, &["net."])
        .server(ORG, &["org."])
        .server(EXAMPLE_COM_1, &["example.com."])
        .server(EXAMPLE_COM_2, &["example.com."])
        .server(SUB_EXAMPLE_COM, &["sub.example.com."])
        .server(EXAMPLE_NET, &["example.net."])
        .server_with(
            TC_NET,
            &["tc.net."],
            Behaviour {
                truncate_udp: true,
                ..Behaviour::default()
            },
        )
        .server(GLUELESS_ORG, &["glueless.org."])
        .server_with(
            FAILOVER_DEAD,
            &["failover.org."],
            Behaviour {
                dead: true,
                ..Behaviour::default()
            },
        )
        .server(FAILOVER_GOOD, &["failover.org."])
        .server_with(
            LAME_REFUSED,
            &["lame.org."],
            Behaviour {
                rcode: Some(ResponseCode::Refused),
                ..Behaviour::default()
            },
        )
        .server(LAME_GOOD, &["lame.org."]);
    b
}

/// The standard test internet; see the [module documentation](self) for its map.
pub fn standard_internet() -> Internet {
    match standard_builder().build() {
        Ok(internet) => internet,
        // The fixture is constant text; a failure is a bug in this file, caught by its tests.
        Err(e) => panic!("the standard internet does not build: {e}"),
    }
}
