//! Address families: with `ipv4_upstream` off (an IPv6-only host) no IPv4 address is ever
//! queried, root hints included, and nameserver addresses are looked up by AAAA only; with
//! `ipv6_upstream` off, the mirror image. The internet here is dual-stack: every server has an
//! IPv4 (127.53/16) and an IPv6 (fd53::/32, in memory only) address.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::{Recursor, RecursorConfig};
use scoped_testkit::engine::{a_records, ask, config_for, recursor_with};
use scoped_testkit::{Internet, InternetBuilder, name};

use crate::stat;

const ROOT: &str = "
.            86400 IN SOA  a.root.test. hostmaster.root.test. 1 1800 900 604800 86400
.            86400 IN NS   a.root.test.
.            86400 IN NS   b.root.test.
a.root.test. 86400 IN A    127.53.0.1
a.root.test. 86400 IN AAAA fd53::1
b.root.test. 86400 IN A    127.53.0.2
b.root.test. 86400 IN AAAA fd53::2
dual.        86400 IN NS   ns1.dual.
dual.        86400 IN NS   ns2.dual.
ns1.dual.    86400 IN A    127.53.1.1
ns1.dual.    86400 IN AAAA fd53:1::1
ns2.dual.    86400 IN A    127.53.1.2
ns2.dual.    86400 IN AAAA fd53:1::2
glueless.    86400 IN NS   ns-g.dual.      ; no glue: its addresses come from dual.
only-a.      86400 IN NS   ns-a.dual.
ns-a.dual.   86400 IN A    127.53.1.4      ; IPv4 glue only; the AAAA is in dual.
only-aaaa.   86400 IN NS   ns-6.dual.
ns-6.dual.   86400 IN AAAA fd53:1::5       ; IPv6 glue only; the A is in dual.
";

const DUAL: &str = "
@     86400 IN SOA  ns1.dual. hostmaster.dual. 1 1800 900 604800 300
@     86400 IN NS   ns1
@     86400 IN NS   ns2
ns1   86400 IN A    127.53.1.1
ns1   86400 IN AAAA fd53:1::1
ns2   86400 IN A    127.53.1.2
ns2   86400 IN AAAA fd53:1::2
ns-g  86400 IN A    127.53.1.3
ns-g  86400 IN AAAA fd53:1::3
ns-a  86400 IN A    127.53.1.4
ns-a  86400 IN AAAA fd53:1::4
ns-6  86400 IN A    127.53.1.5
ns-6  86400 IN AAAA fd53:1::5
www   300   IN A    192.0.2.1
";

/// A zone with one NS and a `www` A record.
fn leaf(ns: &str, www: &str) -> String {
    format!(
        "@ 86400 IN SOA {ns} hostmaster.{ns} 1 1800 900 604800 300\n\
         @ 86400 IN NS {ns}\n\
         www 300 IN A {www}\n"
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn dual_stack_internet() -> Internet {
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT)
        .zone("dual.", DUAL)
        .zone("glueless.", &leaf("ns-g.dual.", "192.0.2.2"))
        .zone("only-a.", &leaf("ns-a.dual.", "192.0.2.3"))
        .zone("only-aaaa.", &leaf("ns-6.dual.", "192.0.2.4"));
    for (v4, v6, zone) in [
        ("127.53.0.1", "fd53::1", "."),
        ("127.53.0.2", "fd53::2", "."),
        ("127.53.1.1", "fd53:1::1", "dual."),
        ("127.53.1.2", "fd53:1::2", "dual."),
        ("127.53.1.3", "fd53:1::3", "glueless."),
        ("127.53.1.4", "fd53:1::4", "only-a."),
        ("127.53.1.5", "fd53:1::5", "only-aaaa."),
    ] {
        b.server(ip(v4), &[zone]).server(ip(v6), &[zone]);
    }
    b.build().unwrap()
}

/// A recursor on `internet` with the families given.
fn recursor_for(internet: &Internet, ipv4: bool, ipv6: bool) -> Recursor {
    recursor_with(
        internet,
        RecursorConfig {
            ipv4_upstream: ipv4,
            ipv6_upstream: ipv6,
            ..config_for(internet)
        },
    )
}

/// The servers asked so far that are IPv4 (or IPv6 with `v6`).
fn asked_in_family(internet: &Internet, v6: bool) -> Vec<IpAddr> {
    internet
        .query_log()
        .iter()
        .map(|q| q.server.ip())
        .filter(|ip| ip.is_ipv6() == v6)
        .collect()
}

/// Whether `qname`/`qtype` was asked of any server.
fn was_asked(internet: &Internet, qname: &str, qtype: RecordType) -> bool {
    internet
        .query_log()
        .iter()
        .any(|q| q.qname == name(qname) && q.qtype == qtype)
}

#[tokio::test(start_paused = true)]
async fn ipv4_off_resolves_a_dual_stack_zone_without_asking_any_ipv4_address() {
    let internet = dual_stack_internet();
    let recursor = recursor_for(&internet, false, true);
    let res = ask(&recursor, "www.dual.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let log = internet.query_log();
    assert_eq!(log[0].qname, name("."), "priming first");
    assert!(
        [ip("fd53::1"), ip("fd53::2")].contains(&log[0].server.ip()),
        "only the IPv6 root hints are used: {:?}",
        log[0].server
    );
    assert_eq!(asked_in_family(&internet, false), Vec::<IpAddr>::new());
    assert!(
        stat(&recursor, |s| &s.servers_skipped) >= 2,
        "the IPv4 root hints and glue are counted as skipped by policy"
    );
}

#[tokio::test(start_paused = true)]
async fn ipv4_off_looks_glueless_nameservers_up_by_aaaa_only() {
    let internet = dual_stack_internet();
    let recursor = recursor_for(&internet, false, true);
    let res = ask(&recursor, "www.glueless.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 2)]);
    assert!(was_asked(&internet, "ns-g.dual.", RecordType::AAAA));
    assert!(
        !was_asked(&internet, "ns-g.dual.", RecordType::A),
        "no A lookup for a nameserver when IPv4 is off"
    );
    assert_eq!(internet.query_count(ip("fd53:1::3")), 1);
    assert_eq!(asked_in_family(&internet, false), Vec::<IpAddr>::new());
}

#[tokio::test(start_paused = true)]
async fn ipv4_off_finds_the_aaaa_of_a_nameserver_that_came_with_a_glue_only() {
    let internet = dual_stack_internet();
    let recursor = recursor_for(&internet, false, true);
    let res = ask(&recursor, "www.only-a.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 3)]);
    assert!(was_asked(&internet, "ns-a.dual.", RecordType::AAAA));
    assert_eq!(internet.query_count(ip("fd53:1::4")), 1);
    assert_eq!(asked_in_family(&internet, false), Vec::<IpAddr>::new());
}

#[tokio::test(start_paused = true)]
async fn ipv6_off_is_the_mirror_image() {
    let internet = dual_stack_internet();
    let recursor = recursor_for(&internet, true, false);
    for (qname, want) in [
        ("www.dual.", Ipv4Addr::new(192, 0, 2, 1)),
        ("www.glueless.", Ipv4Addr::new(192, 0, 2, 2)),
        // Known by AAAA glue only: its A is looked up.
        ("www.only-aaaa.", Ipv4Addr::new(192, 0, 2, 4)),
    ] {
        let res = ask(&recursor, qname, RecordType::A).await;
        assert_eq!(a_records(&res), vec![want], "{qname}");
    }
    assert!(was_asked(&internet, "ns-6.dual.", RecordType::A));
    assert!(!was_asked(&internet, "ns-g.dual.", RecordType::AAAA));
    assert_eq!(asked_in_family(&internet, true), Vec::<IpAddr>::new());
}

#[tokio::test(start_paused = true)]
async fn both_families_on_use_both() {
    // The control: the same internet and seed with both families asks IPv4 addresses, so the
    // tests above see the policy, not an accident of the server order.
    let internet = dual_stack_internet();
    let recursor = recursor_for(&internet, true, true);
    for qname in [
        "www.dual.",
        "www.glueless.",
        "www.only-a.",
        "www.only-aaaa.",
    ] {
        let res = ask(&recursor, qname, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NoError, "{qname}");
    }
    assert!(!asked_in_family(&internet, false).is_empty());
    assert_eq!(stat(&recursor, |s| &s.servers_skipped), 0);
}
