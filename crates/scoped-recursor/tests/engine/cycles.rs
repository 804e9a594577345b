//! Nameserver names that depend on each other with no glue: `a.example.` is served by
//! ns.b.example., whose zone `b.example.` is served by ns.a.example. No path resolves, so the
//! answer is SERVFAIL — quickly, with bounded work, on virtual time well inside the client's
//! budget, and again as quickly for the next question. Where one path of the cycle does resolve
//! (a second nameserver with glue), the answer comes back.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::qmin::QminMode;
use scoped_recursor::{Question, ResolveRequest};
use scoped_testkit::engine::{a_records, ask};
use scoped_testkit::{Internet, name};
use tokio::time::Instant;

use crate::delegation::{EXAMPLE_APEX, NIC, ROOT, ROOT_ZONE, with_qmin};

const A_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 60, 3, 1));
const B_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 60, 3, 2));
const C_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 60, 3, 3));

const A_ZONE: &str = "
@     3600 IN SOA ns.b.example. hostmaster.a.example. 1 1800 900 604800 60
@     3600 IN NS  ns.b.example.
www   300  IN A   192.0.2.41
";

const B_ZONE: &str = "
@     3600 IN SOA ns.a.example. hostmaster.b.example. 1 1800 900 604800 60
@     3600 IN NS  ns.a.example.
@     3600 IN NS  ns2.b.example.
ns    3600 IN A   127.60.3.1
ns2   3600 IN A   127.60.3.2
www   300  IN A   192.0.2.42
";

/// `a.example.` NS ns.b.example. and `b.example.` NS ns.a.example. (+ `extra`), no glue, unless
/// `extra` adds some. ns.a.example. and ns.b.example. exist in their zones, so a resolver that
/// could reach either would find everything.
fn cycle_internet(extra: &str) -> Internet {
    let example = format!(
        "{EXAMPLE_APEX}
a     3600 IN NS ns.b.example.
b     3600 IN NS ns.a.example.
{extra}"
    );
    let a_zone = format!("{A_ZONE}ns 3600 IN A 127.60.3.2\n");
    let internet = Internet::builder()
        .zone(".", ROOT_ZONE)
        .zone("example.", &example)
        .zone("a.example.", &a_zone)
        .zone("b.example.", B_ZONE)
        .server(ROOT, &["."])
        .server(NIC, &["example."])
        .server(A_HOST, &["a.example."])
        .server(B_HOST, &["b.example."])
        .build()
        .expect("the internet builds");
    for addr in [ROOT, NIC, A_HOST, B_HOST] {
        internet
            .expect_server(addr)
            .set_delay(Duration::from_millis(10));
    }
    internet
}

const MODES: [QminMode; 2] = [QminMode::Off, QminMode::Relaxed];

#[tokio::test(start_paused = true)]
async fn a_cycle_without_glue_is_servfail_quickly() {
    for mode in MODES {
        let internet = cycle_internet("");
        let recursor = with_qmin(&internet, mode);
        for (round, qname) in ["www.a.example.", "www.b.example.", "x.a.example."]
            .into_iter()
            .enumerate()
        {
            internet.clear_query_log();
            let started = Instant::now();
            let res = ask(&recursor, qname, RecordType::A).await;
            assert_eq!(res.rcode, ResponseCode::ServFail, "{mode:?} {qname}");
            // Only the root and the parent can be asked (nothing else has an address), and no
            // timeout is involved: a few queries, a few round trips.
            let queries = internet.total_queries();
            assert!(
                queries <= 12,
                "{mode:?} {qname}: {queries} upstream queries"
            );
            if round > 0 {
                assert!(
                    queries <= 4,
                    "{mode:?} {qname}: the delegations are cached, got {queries}"
                );
            }
            let took = started.elapsed();
            assert!(
                took < Duration::from_millis(500),
                "{mode:?} {qname}: {took:?} of virtual time"
            );
        }
        assert_eq!(internet.query_count(A_HOST), 0);
        assert_eq!(internet.query_count(B_HOST), 0);
    }
}

/// The same cycle, but `b.example.` also has ns2.b.example. with glue in the parent: through
/// it ns.b.example. resolves, and so does `a.example.`.
#[tokio::test(start_paused = true)]
async fn a_cycle_with_one_glued_path_resolves() {
    for mode in MODES {
        let internet = cycle_internet("b 3600 IN NS ns2.b.example.\nns2.b 3600 IN A 127.60.3.2\n");
        let recursor = with_qmin(&internet, mode);
        let res = ask(&recursor, "www.a.example.", RecordType::A).await;
        assert_eq!(
            a_records(&res),
            vec![Ipv4Addr::new(192, 0, 2, 41)],
            "{mode:?}"
        );
        let res = ask(&recursor, "www.b.example.", RecordType::A).await;
        assert_eq!(
            a_records(&res),
            vec![Ipv4Addr::new(192, 0, 2, 42)],
            "{mode:?}"
        );
    }
}

/// Three zones in a ring (a → ns.b, b → ns.c, c → ns.a), no glue: SERVFAIL, bounded the same.
#[tokio::test(start_paused = true)]
async fn a_three_zone_ring_without_glue_is_servfail_quickly() {
    for mode in MODES {
        let example = format!(
            "{EXAMPLE_APEX}
a     3600 IN NS ns.b.example.
b     3600 IN NS ns.c.example.
c     3600 IN NS ns.a.example.
"
        );
        let zone = |origin: &str, ns: &str, addr: &str| {
            format!(
                "@ 3600 IN SOA {ns} hostmaster.{origin} 1 1800 900 604800 60
@ 3600 IN NS {ns}
ns 3600 IN A {addr}
www 300 IN A 192.0.2.50
"
            )
        };
        let internet = Internet::builder()
            .zone(".", ROOT_ZONE)
            .zone("example.", &example)
            .zone(
                "a.example.",
                &zone("a.example.", "ns.b.example.", "127.60.3.1"),
            )
            .zone(
                "b.example.",
                &zone("b.example.", "ns.c.example.", "127.60.3.2"),
            )
            .zone(
                "c.example.",
                &zone("c.example.", "ns.a.example.", "127.60.3.3"),
            )
            .server(ROOT, &["."])
            .server(NIC, &["example."])
            .server(A_HOST, &["a.example."])
            .server(B_HOST, &["b.example."])
            .server(C_HOST, &["c.example."])
            .build()
            .expect("the internet builds");
        let recursor = with_qmin(&internet, mode);
        let started = Instant::now();
        let res = ask(&recursor, "www.a.example.", RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::ServFail, "{mode:?}");
        let queries = internet.total_queries();
        assert!(queries <= 16, "{mode:?}: {queries} upstream queries");
        assert!(started.elapsed() < Duration::from_millis(500), "{mode:?}");
    }
}

/// Three glueless nameservers on each side of the cycle: every order of the cycle is a way to
/// try, and trying them all grows exponentially (even with every referral cached, so no query is
/// spent). Each nameserver address is looked for at most once per question.
#[tokio::test(start_paused = true)]
async fn a_dense_cycle_looks_up_each_nameserver_once() {
    let example = format!(
        "{EXAMPLE_APEX}
a     3600 IN NS ns1.b.example.
a     3600 IN NS ns2.b.example.
a     3600 IN NS ns3.b.example.
b     3600 IN NS ns1.a.example.
b     3600 IN NS ns2.a.example.
b     3600 IN NS ns3.a.example.
"
    );
    let zone = |origin: &str, other: &str| {
        format!(
            "@ 3600 IN SOA ns1.{other} hostmaster.{origin} 1 1800 900 604800 60
@ 3600 IN NS ns1.{other}
www 300 IN A 192.0.2.50
"
        )
    };
    for mode in MODES {
        let internet = Internet::builder()
            .zone(".", ROOT_ZONE)
            .zone("example.", &example)
            .zone("a.example.", &zone("a.example.", "b.example."))
            .zone("b.example.", &zone("b.example.", "a.example."))
            .server(ROOT, &["."])
            .server(NIC, &["example."])
            .build()
            .expect("the internet builds");
        let recursor = with_qmin(&internet, mode);
        for qname in ["www.a.example.", "www2.a.example."] {
            let request = ResolveRequest {
                question: Question::new(name(qname), RecordType::A),
                client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                client_subnet: None,
                checking_disabled: false,
                dnssec_ok: false,
            };
            let (res, lines) = recursor.trace(request).await;
            assert_eq!(res.rcode, ResponseCode::ServFail, "{mode:?} {qname}");
            let lookups = lines
                .iter()
                .filter(|l| l.contains("has no known address: resolving"))
                .count();
            // Six names, two address types each.
            assert!(
                lookups <= 12,
                "{mode:?} {qname}: {lookups} nameserver lookups"
            );
        }
    }
}
