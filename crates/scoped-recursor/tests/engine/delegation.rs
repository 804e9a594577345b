//! When the parent and the child disagree: the parent's referral lists other nameservers than
//! the child's own NS set, or glue that points at a server no longer serving the zone. The
//! resolution still succeeds, and the child's own NS set, once an authoritative answer carried
//! it, steers the later questions (RFC 2181 §5.4.1: authoritative data outranks the referral and
//! its glue) — with and without QNAME minimisation. Also: nameservers named inside the child
//! itself, and a domain that moves to new nameservers (the old NS set expires on its own TTL,
//! however often the old servers repeat it; negative answers come with the new zone's SOA).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use scoped_cache::Trust;
use scoped_recursor::Recursor;
use scoped_recursor::qmin::QminMode;
use scoped_testkit::engine::{a_records, ask, config_for, recursor_with};
use scoped_testkit::{Internet, Zone, name};
use tokio::time::Instant;

const fn v4(c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 60, c, d))
}

pub(crate) const ROOT: IpAddr = v4(0, 1);
pub(crate) const NIC: IpAddr = v4(1, 1);
/// ns.old.example.: named by the parent with glue, serves nothing any more (REFUSED).
const OLD: IpAddr = v4(2, 1);
/// ns1.new.example.: named by the parent and the child.
const NEW1: IpAddr = v4(2, 2);
/// ns2.child.example.: named only by the child, inside it (its address in the child's answers).
const NEW2: IpAddr = v4(2, 3);

pub(crate) const ROOT_ZONE: &str = "
.                86400  IN SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 86400
.                518400 IN NS  a.root.test.
a.root.test.     518400 IN A   127.60.0.1
example.         172800 IN NS  ns.nic.example.
ns.nic.example.  172800 IN A   127.60.1.1
";

/// The SOA and NS lines of `example.` (served by [`NIC`]); a test adds its delegations.
pub(crate) const EXAMPLE_APEX: &str = "
@        86400  IN SOA ns.nic.example. hostmaster.nic.example. 1 1800 900 604800 300
@        172800 IN NS  ns.nic.example.
ns.nic   172800 IN A   127.60.1.1
";

const CHILD_DELEGATION: &str = "
child    3600   IN NS  ns.old.example.
child    3600   IN NS  ns1.new.example.
ns.old   3600   IN A   127.60.2.1
ns1.new  3600   IN A   127.60.2.2
";

const CHILD_ZONE: &str = "
@        3600   IN SOA ns1.new.example. hostmaster.child.example. 7 1800 900 604800 60
@        86400  IN NS  ns1.new.example.
@        86400  IN NS  ns2.child.example.
ns2      86400  IN A   127.60.2.3
www      300    IN A   192.0.2.1
www      300    IN AAAA 2001:db8::1
www      300    IN TXT \"child\"
n1       300    IN A   192.0.2.11
n2       300    IN A   192.0.2.12
n3       300    IN A   192.0.2.13
";

/// Root, `example.` and `child.example.`: the parent names ns.old (stale) and ns1.new; the
/// child names ns1.new and ns2.child (in the child, its address only in the child). The child's
/// servers put their NS set in the authority section of answers.
fn disagreeing_internet() -> Internet {
    let example = format!("{EXAMPLE_APEX}{CHILD_DELEGATION}");
    let internet = Internet::builder()
        .zone(".", ROOT_ZONE)
        .zone("example.", &example)
        .zone("child.example.", CHILD_ZONE)
        .server(ROOT, &["."])
        .server(NIC, &["example."])
        .server(OLD, &[])
        .server(NEW1, &["child.example."])
        .server(NEW2, &["child.example."])
        .build()
        .expect("the internet builds");
    for addr in [ROOT, NIC, OLD, NEW1, NEW2] {
        internet
            .expect_server(addr)
            .set_delay(Duration::from_millis(10));
    }
    for addr in [NEW1, NEW2] {
        internet.expect_server(addr).set_authority_ns(true);
    }
    internet
}

pub(crate) fn with_qmin(internet: &Internet, mode: QminMode) -> Recursor {
    recursor_with(
        internet,
        scoped_recursor::RecursorConfig {
            qname_minimisation: mode,
            ..config_for(internet)
        },
    )
}

/// The NS targets cached for `zone` (any rank that steers iteration), sorted.
fn cached_ns(recursor: &Recursor, zone: &str) -> Vec<String> {
    let mut targets: Vec<String> = recursor
        .cache()
        .rrset(&name(zone), RecordType::NS, Trust::Referral, Instant::now())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.to_ascii()),
            _ => None,
        })
        .collect();
    targets.sort();
    targets
}

const MODES: [QminMode; 3] = [QminMode::Off, QminMode::Relaxed, QminMode::Strict];

/// The child's NS set, learnt from its authoritative answer, replaces the parent's referral:
/// when the only server both name dies, the one only the child names answers, and the stale
/// server the parent still names is never asked again.
#[tokio::test(start_paused = true)]
async fn the_childs_own_ns_set_is_used_once_learnt() {
    for mode in MODES {
        let internet = disagreeing_internet();
        let recursor = with_qmin(&internet, mode);
        let res = ask(&recursor, "www.child.example.", RecordType::A).await;
        assert_eq!(
            a_records(&res),
            vec![Ipv4Addr::new(192, 0, 2, 1)],
            "{mode:?}"
        );
        assert_eq!(
            cached_ns(&recursor, "child.example."),
            vec!["ns1.new.example.", "ns2.child.example."],
            "{mode:?}: the child's view replaced the parent's"
        );
        internet.expect_server(NEW1).set_dead(true);
        internet.clear_query_log();
        for (qname, qtype) in [
            ("www.child.example.", RecordType::AAAA),
            ("www.child.example.", RecordType::TXT),
            ("n1.child.example.", RecordType::A),
            ("n2.child.example.", RecordType::A),
        ] {
            let res = ask(&recursor, qname, qtype).await;
            assert_eq!(res.rcode, ResponseCode::NoError, "{mode:?} {qname} {qtype}");
            assert_eq!(res.answers.len(), 1, "{mode:?} {qname} {qtype}");
        }
        assert_eq!(internet.query_count(OLD), 0, "{mode:?}: the stale server");
        assert!(internet.query_count(NEW2) >= 4, "{mode:?}");
    }
}

/// A stale server the parent names that answers with an upward referral (lame) is passed over
/// for the child's own servers once they are known, for every type asked afterwards.
#[tokio::test(start_paused = true)]
async fn a_lame_server_only_the_parent_names_is_dropped_for_every_type() {
    for mode in MODES {
        let internet = disagreeing_internet();
        internet.expect_server(OLD).set_lame(true);
        let recursor = with_qmin(&internet, mode);
        let res = ask(&recursor, "www.child.example.", RecordType::A).await;
        assert_eq!(
            a_records(&res),
            vec![Ipv4Addr::new(192, 0, 2, 1)],
            "{mode:?}"
        );
        internet.clear_query_log();
        for qtype in [RecordType::AAAA, RecordType::TXT, RecordType::MX] {
            let res = ask(&recursor, "www.child.example.", qtype).await;
            assert_eq!(res.rcode, ResponseCode::NoError, "{mode:?} {qtype}");
        }
        for qname in [
            "n1.child.example.",
            "n2.child.example.",
            "n3.child.example.",
        ] {
            let res = ask(&recursor, qname, RecordType::A).await;
            assert_eq!(res.answers.len(), 1, "{mode:?} {qname}");
        }
        assert_eq!(internet.query_count(OLD), 0, "{mode:?}: the lame server");
    }
}

/// A parent whose every listed server but one is stale: the resolution succeeds through the one
/// that serves the zone, without the child's NS set in its answers too.
#[tokio::test(start_paused = true)]
async fn stale_glue_beside_a_good_server_still_resolves() {
    for mode in MODES {
        for stale in [Some(ResponseCode::Refused), None] {
            let internet = disagreeing_internet();
            for addr in [NEW1, NEW2] {
                internet.expect_server(addr).set_authority_ns(false);
            }
            match stale {
                Some(rcode) => internet.expect_server(OLD).set_rcode(Some(rcode)),
                None => internet.expect_server(OLD).set_lame(true),
            }
            let recursor = with_qmin(&internet, mode);
            for qname in [
                "www.child.example.",
                "n1.child.example.",
                "n2.child.example.",
            ] {
                let res = ask(&recursor, qname, RecordType::A).await;
                assert_eq!(res.answers.len(), 1, "{mode:?} {stale:?} {qname}");
            }
        }
    }
}

/// `child2.example.` is delegated to a nameserver named inside it, with no glue, and to one in
/// another zone, also without glue: the inside one is resolved through the child itself (via
/// the other), and once the child's answers gave its address, it serves alone.
#[tokio::test(start_paused = true)]
async fn nameservers_named_inside_the_child_are_resolved_through_it() {
    const INSIDE: IpAddr = v4(5, 1);
    const HELPER: IpAddr = v4(5, 2);
    let example = format!(
        "{EXAMPLE_APEX}
child2   3600  IN NS  ns1.child2.example.
child2   3600  IN NS  ns.helper.example.
helper   3600  IN NS  ns.nic.example.
"
    );
    let helper = "
@        3600  IN SOA ns.nic.example. hostmaster.nic.example. 1 1800 900 604800 300
@        3600  IN NS  ns.nic.example.
ns       3600  IN A   127.60.5.2
";
    let child2 = "
@        3600  IN SOA ns1.child2.example. hostmaster.child2.example. 1 1800 900 604800 60
@        3600  IN NS  ns1.child2.example.
@        3600  IN NS  ns.helper.example.
ns1      3600  IN A   127.60.5.1
www      300   IN A   192.0.2.21
n1       300   IN A   192.0.2.22
n2       300   IN A   192.0.2.23
";
    for mode in [QminMode::Off, QminMode::Relaxed] {
        for seed in 1..=4 {
            let internet = Internet::builder()
                .zone(".", ROOT_ZONE)
                .zone("example.", &example)
                .zone("helper.example.", helper)
                .zone("child2.example.", child2)
                .server(ROOT, &["."])
                .server(NIC, &["example.", "helper.example."])
                .server(INSIDE, &["child2.example."])
                .server(HELPER, &["child2.example."])
                .build()
                .expect("the internet builds");
            for addr in [INSIDE, HELPER] {
                internet.expect_server(addr).set_authority_ns(true);
            }
            let recursor = recursor_with(
                &internet,
                scoped_recursor::RecursorConfig {
                    qname_minimisation: mode,
                    selection_seed: Some(seed),
                    ..config_for(&internet)
                },
            );
            let res = ask(&recursor, "www.child2.example.", RecordType::A).await;
            assert_eq!(
                a_records(&res),
                vec![Ipv4Addr::new(192, 0, 2, 21)],
                "{mode:?} seed {seed}"
            );
            internet.expect_server(HELPER).set_dead(true);
            for qname in ["n1.child2.example.", "n2.child2.example."] {
                let res = ask(&recursor, qname, RecordType::A).await;
                assert_eq!(res.answers.len(), 1, "{mode:?} seed {seed} {qname}");
            }
        }
    }
}

/// `moved.example.` moves from ns.oldhost to ns.newhost. The old server still serves the old
/// zone and repeats the old NS set in every answer; the parent names only the new server. Once
/// the old NS set (and its glue) expire, the new server is asked, and its negative answers are
/// cached with its own SOA for its own negative TTL (RFC 2308).
#[tokio::test(start_paused = true)]
async fn a_domain_moved_to_new_nameservers_is_followed_when_the_old_ns_expire() {
    const OLD_HOST: IpAddr = v4(4, 1);
    const NEW_HOST: IpAddr = v4(4, 2);
    let before = "
moved        600   IN NS  ns.oldhost.example.
ns.oldhost   900   IN A   127.60.4.1
ns.newhost   3600  IN A   127.60.4.2
";
    let after = "
moved        600   IN NS  ns.newhost.example.
ns.oldhost   900   IN A   127.60.4.1
ns.newhost   3600  IN A   127.60.4.2
";
    let old_zone = "
@     3600  IN SOA ns.oldhost.example. hostmaster.moved.example. 1 1800 900 604800 300
@     600   IN NS  ns.oldhost.example.
www   60    IN A   192.0.2.31
";
    let new_zone = "
@     3600  IN SOA ns.newhost.example. hostmaster.moved.example. 2 1800 900 604800 30
@     600   IN NS  ns.newhost.example.
www   60    IN A   192.0.2.32
";
    for mode in [QminMode::Off, QminMode::Relaxed] {
        let internet = Internet::builder()
            .zone(".", ROOT_ZONE)
            .zone("example.", &format!("{EXAMPLE_APEX}{before}"))
            .add_zone(Zone::parse("moved.example.", old_zone).expect("old zone"))
            .server(ROOT, &["."])
            .server(NIC, &["example."])
            .server(OLD_HOST, &["moved.example."])
            // Not named by anyone until the move, when it gets the new zone.
            .server(NEW_HOST, &["moved.example."])
            .build()
            .expect("the internet builds");
        internet.expect_server(OLD_HOST).set_authority_ns(true);
        let recursor = with_qmin(&internet, mode);
        let res = ask(&recursor, "www.moved.example.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 31)]);
        let res = ask(&recursor, "nx1.moved.example.", RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NXDomain);

        // The move: the parent names the new server; the old one keeps the old zone.
        let example = Zone::parse("example.", &format!("{EXAMPLE_APEX}{after}")).unwrap();
        assert_eq!(internet.replace_zone(example), 1);
        internet
            .expect_server(NEW_HOST)
            .set_zone(Zone::parse("moved.example.", new_zone).unwrap());
        let moved = &internet;

        // Until the old NS set expires the old server answers, repeating its NS set in every
        // answer; that must not keep the old delegation alive.
        // The old NS set was learnt when the first answer came (at `start`, give or take the
        // round trips).
        let start = Instant::now();
        while start.elapsed() + Duration::from_secs(61) < Duration::from_secs(600) {
            tokio::time::advance(Duration::from_secs(61)).await;
            let res = ask(&recursor, "www.moved.example.", RecordType::A).await;
            assert_eq!(
                a_records(&res),
                vec![Ipv4Addr::new(192, 0, 2, 31)],
                "{mode:?}: the old server, while its NS set lives"
            );
        }
        // Past the old NS set's TTL and www's: the next question goes to the new server.
        let since = start.elapsed();
        tokio::time::advance(Duration::from_secs(661) - since).await;
        let res = ask(&recursor, "www.moved.example.", RecordType::A).await;
        assert_eq!(
            a_records(&res),
            vec![Ipv4Addr::new(192, 0, 2, 32)],
            "{mode:?}: the new server's data"
        );
        let res = ask(&recursor, "nx2.moved.example.", RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NXDomain, "{mode:?}");
        let soa = res.authorities.first().expect("the SOA");
        match &soa.data {
            RData::SOA(soa) => {
                assert_eq!(soa.serial, 2, "{mode:?}: the new zone's SOA");
                assert_eq!(soa.mname.to_ascii(), "ns.newhost.example.");
            }
            other => panic!("{mode:?}: not a SOA: {other:?}"),
        }
        assert!(
            soa.ttl <= 30,
            "{mode:?}: the new negative TTL, got {}",
            soa.ttl
        );
        // Cached for the new zone's negative TTL (30 s), not the old one's (300 s).
        let asked = moved.query_count(NEW_HOST);
        tokio::time::advance(Duration::from_secs(20)).await;
        let res = ask(&recursor, "nx2.moved.example.", RecordType::A).await;
        assert!(res.from_cache, "{mode:?}");
        tokio::time::advance(Duration::from_secs(11)).await;
        let res = ask(&recursor, "nx2.moved.example.", RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NXDomain, "{mode:?}");
        assert!(!res.from_cache, "{mode:?}: expired after 30 s");
        assert_eq!(moved.query_count(NEW_HOST), asked + 1, "{mode:?}");
    }
}

/// The nameserver keeps its name but moves to a new address: the parent's glue changes, the
/// old server keeps answering from the old zone (its own address in every answer). Once the old
/// NS set and glue expire, the new address is asked.
#[tokio::test(start_paused = true)]
async fn a_nameserver_moved_to_a_new_address_is_followed_when_the_old_glue_expires() {
    const OLD_ADDR: IpAddr = v4(6, 1);
    const NEW_ADDR: IpAddr = v4(6, 2);
    let delegation =
        |addr: &str| format!("moved2 600 IN NS ns.moved2.example.\nns.moved2 900 IN A {addr}\n");
    let zone = |addr: &str, www: &str| {
        format!(
            "@   3600 IN SOA ns.moved2.example. hostmaster.moved2.example. 1 1800 900 604800 30
@   600  IN NS  ns.moved2.example.
ns  900  IN A   {addr}
www 60   IN A   {www}
"
        )
    };
    for mode in [QminMode::Off, QminMode::Relaxed] {
        let internet = Internet::builder()
            .zone(".", ROOT_ZONE)
            .zone(
                "example.",
                &format!("{EXAMPLE_APEX}{}", delegation("127.60.6.1")),
            )
            .zone("moved2.example.", &zone("127.60.6.1", "192.0.2.61"))
            .server(ROOT, &["."])
            .server(NIC, &["example."])
            .server(OLD_ADDR, &["moved2.example."])
            .server(NEW_ADDR, &["moved2.example."])
            .build()
            .expect("the internet builds");
        internet.expect_server(OLD_ADDR).set_authority_ns(true);
        internet.expect_server(NEW_ADDR).set_authority_ns(true);
        let recursor = with_qmin(&internet, mode);
        let res = ask(&recursor, "www.moved2.example.", RecordType::A).await;
        assert_eq!(
            a_records(&res),
            vec![Ipv4Addr::new(192, 0, 2, 61)],
            "{mode:?}"
        );
        let example = format!("{EXAMPLE_APEX}{}", delegation("127.60.6.2"));
        internet.replace_zone(Zone::parse("example.", &example).unwrap());
        internet
            .expect_server(NEW_ADDR)
            .set_zone(Zone::parse("moved2.example.", &zone("127.60.6.2", "192.0.2.62")).unwrap());
        for _ in 0..16 {
            tokio::time::advance(Duration::from_secs(61)).await;
            let res = ask(&recursor, "www.moved2.example.", RecordType::A).await;
            assert_eq!(res.answers.len(), 1, "{mode:?}");
        }
        // 976 s: past the NS set's 600 s and the glue's 900 s.
        internet.clear_query_log();
        let res = ask(&recursor, "www.moved2.example.", RecordType::A).await;
        assert_eq!(
            a_records(&res),
            vec![Ipv4Addr::new(192, 0, 2, 62)],
            "{mode:?}"
        );
        assert_eq!(internet.query_count(OLD_ADDR), 0, "{mode:?}");
    }
}
