//! DNAME (RFC 6672): followed and returned with the CNAME synthesised from it, cached and used for
//! every name below its owner without asking, loops and chains bounded like CNAME chains, names
//! made too long answered YXDOMAIN, and a DNAME believed only from its own zone's servers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{RData, Record, RecordType};
use scoped_recursor::RecursorConfig;
use scoped_testkit::engine::{
    a_records, ask, ask_from, config_for, recursor, recursor_with, types,
};
use scoped_testkit::standard::*;
use scoped_testkit::{Internet, ResponderAction, name, standard_internet};
use tokio::time::Instant;

use crate::WWW;

/// `www.example.net.` in the standard internet.
const WWW_NET: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);

/// 3 × 63 octets, then `example.net.`: 205 octets on the wire.
fn long_target() -> String {
    format!(
        "{}.{}.{}.example.net.",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63)
    )
}

/// The standard internet with DNAMEs added:
///
/// - `moved.example.com. DNAME example.net.` (TTL 300): the target is another zone, on another
///   server;
/// - `old.example.com. DNAME example.com.` (TTL 300): the target is in the same zone;
/// - `loop.example.com. DNAME loop.example.net.` and `loop.example.net. DNAME loop.example.com.`;
/// - `long.example.com. DNAME <205 octets>.`: a 50-octet label below it makes a name too long;
/// - `hop.example.com. DNAME hop.example.net.`, `a.hop.example.net. CNAME b.example.com.`,
///   `b.example.com. CNAME www.example.com.`: three substitutions to an address.
fn dname_internet() -> Internet {
    let internet = standard_internet();
    extend(
        &internet,
        EXAMPLE_COM_1,
        "example.com.",
        &format!(
            "moved 300 IN DNAME example.net.\n\
             old   300 IN DNAME example.com.\n\
             loop  300 IN DNAME loop.example.net.\n\
             long  300 IN DNAME {}\n\
             hop   300 IN DNAME hop.example.net.\n\
             b     300 IN CNAME www.example.com.\n",
            long_target()
        ),
    );
    extend(
        &internet,
        EXAMPLE_NET,
        "example.net.",
        "loop  300 IN DNAME loop.example.com.\n\
         a.hop 300 IN CNAME b.example.com.\n",
    );
    internet
}

/// Add the records of `text` to the zone `origin` on every server hosting it.
fn extend(internet: &Internet, server: IpAddr, origin: &str, text: &str) {
    let zone = internet
        .expect_server(server)
        .zones()
        .into_iter()
        .find(|zone| zone.origin() == &name(origin))
        .expect("the server hosts the zone");
    internet.replace_zone(zone.with_records(text).unwrap());
}

/// The queries that reached a server for `qname` or a name below it.
fn asked_at_or_below(internet: &Internet, qname: &str) -> usize {
    internet
        .query_log()
        .iter()
        .filter(|q| name(qname).zone_of(&q.qname))
        .count()
}

fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
}

#[tokio::test(start_paused = true)]
async fn a_dname_is_followed_and_returned_with_the_synthesised_cname() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.moved.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(
        types(&res.answers),
        vec![RecordType::DNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(res.answers[0].name, name("moved.example.com."));
    assert_eq!(
        res.answers[1],
        cname("www.moved.example.com.", 300, "www.example.net.")
    );
    assert_eq!(a_records(&res), vec![WWW_NET]);
}

#[tokio::test(start_paused = true)]
async fn a_dname_to_its_own_zone_is_followed_inside_one_response() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.old.example.com.", RecordType::A).await;
    assert_eq!(
        types(&res.answers),
        vec![RecordType::DNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(a_records(&res), vec![WWW]);
    let asked: Vec<_> = internet
        .query_log()
        .into_iter()
        .filter(|q| name("example.com.").zone_of(&q.qname) && q.qname != name("example.com."))
        .collect();
    assert!(
        asked.iter().all(|q| q.qname != name("www.example.com.")),
        "the target's answer came with the DNAME: {asked:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cached_dname_answers_other_names_below_it_without_asking() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    // The target's address first, then the DNAME.
    ask(&recursor, "ns.example.net.", RecordType::A).await;
    ask(&recursor, "www.moved.example.com.", RecordType::A).await;

    internet.clear_query_log();
    let res = ask(&recursor, "ns.moved.example.com.", RecordType::A).await;
    assert_eq!(internet.total_queries(), 0, "{:?}", internet.query_log());
    assert!(res.from_cache);
    assert_eq!(
        types(&res.answers),
        vec![RecordType::DNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(
        res.answers[1],
        cname("ns.moved.example.com.", 300, "ns.example.net.")
    );
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(127, 53, 4, 1)]);

    // A name whose target is not cached: only the target is asked, of its own zone.
    let res = ask(&recursor, "back.moved.example.com.", RecordType::A).await;
    assert_eq!(asked_at_or_below(&internet, "moved.example.com."), 0);
    assert_eq!(
        types(&res.answers),
        vec![
            RecordType::DNAME,
            RecordType::CNAME,
            RecordType::CNAME,
            RecordType::A
        ]
    );
    assert_eq!(a_records(&res), vec![WWW]);
}

#[tokio::test(start_paused = true)]
async fn the_synthesised_cname_has_what_is_left_of_the_dnames_ttl() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "www.moved.example.com.", RecordType::A).await;
    tokio::time::advance(Duration::from_secs(100)).await;
    let res = ask(&recursor, "back.moved.example.com.", RecordType::A).await;
    assert_eq!(res.answers[0].ttl, 200, "the DNAME, from the cache");
    assert_eq!(
        res.answers[1],
        cname("back.moved.example.com.", 200, "back.example.net.")
    );
}

#[tokio::test(start_paused = true)]
async fn the_owner_of_a_dname_is_not_redirected() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "www.moved.example.com.", RecordType::A).await;
    let res = ask(&recursor, "moved.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert!(res.answers.is_empty(), "NODATA: {:?}", res.answers);
    let res = ask(&recursor, "moved.example.com.", RecordType::DNAME).await;
    assert_eq!(types(&res.answers), vec![RecordType::DNAME]);
}

#[tokio::test(start_paused = true)]
async fn a_cname_question_below_a_dname_is_answered_by_the_synthesised_cname() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.moved.example.com.", RecordType::CNAME).await;
    assert_eq!(
        types(&res.answers),
        vec![RecordType::DNAME, RecordType::CNAME]
    );
    assert!(
        internet
            .query_log()
            .iter()
            .all(|q| q.qname != name("www.example.net.")),
        "the CNAME is the answer: its target is not chased"
    );
    // From the cache (the DNAME synthesises it), for another name.
    internet.clear_query_log();
    let res = ask(&recursor, "ftp.moved.example.com.", RecordType::CNAME).await;
    assert_eq!(internet.total_queries(), 0);
    assert_eq!(
        res.answers,
        vec![
            res.answers[0].clone(),
            cname("ftp.moved.example.com.", 300, "ftp.example.net.")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_dname_loop_is_servfail_quickly() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    let start = Instant::now();
    let res = ask(&recursor, "x.loop.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(start.elapsed() < Duration::from_millis(100));
    // Each name of the loop asked once (the rest is the walk down to the two zones).
    for qname in ["x.loop.example.com.", "x.loop.example.net."] {
        let asked = internet
            .query_log()
            .iter()
            .filter(|q| q.qname == name(qname))
            .count();
        assert_eq!(asked, 1, "{qname}");
    }

    // Another name under the loop: the cached DNAMEs show the loop, nobody is asked.
    internet.clear_query_log();
    let res = ask(&recursor, "y.loop.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(internet.total_queries(), 0, "{:?}", internet.query_log());
}

#[tokio::test(start_paused = true)]
async fn a_dname_substitution_counts_once_against_the_chain_limit() {
    let internet = dname_internet();
    let with_limit = |limit: usize| {
        recursor_with(
            &internet,
            RecursorConfig {
                max_cname_chain: limit,
                ..config_for(&internet)
            },
        )
    };
    // a.hop.example.com. → a.hop.example.net. → b.example.com. → www.example.com.
    let res = ask(&with_limit(3), "a.hop.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(
        types(&res.answers),
        vec![
            RecordType::DNAME,
            RecordType::CNAME,
            RecordType::CNAME,
            RecordType::CNAME,
            RecordType::A
        ]
    );
    assert_eq!(a_records(&res), vec![WWW]);
    // From the cache too.
    let again = ask(&with_limit(3), "a.hop.example.com.", RecordType::A).await;
    assert_eq!(a_records(&again), vec![WWW]);

    let res = ask(&with_limit(2), "a.hop.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail, "three substitutions");
}

#[tokio::test(start_paused = true)]
async fn a_name_made_too_long_by_a_dname_is_yxdomain() {
    let internet = dname_internet();
    let recursor = recursor(&internet);
    let qname = format!("{}.long.example.com.", "d".repeat(50));
    let res = ask(&recursor, &qname, RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::YXDomain);
    assert_eq!(types(&res.answers), vec![RecordType::DNAME]);

    // Another name from the cached DNAME, without asking.
    internet.clear_query_log();
    let qname = format!("{}.long.example.com.", "e".repeat(60));
    let res = ask(&recursor, &qname, RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::YXDomain);
    assert_eq!(types(&res.answers), vec![RecordType::DNAME]);
    assert_eq!(internet.total_queries(), 0);
    // A short name below it is substituted as usual (and does not exist).
    let res = ask(&recursor, "x.long.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(
        types(&res.answers),
        vec![RecordType::DNAME, RecordType::CNAME]
    );
}

#[tokio::test(start_paused = true)]
async fn a_dname_from_outside_the_servers_zone_is_never_used() {
    let internet = dname_internet();
    // The example.com servers add a DNAME for all of com. to their answers below moved.
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_responder(
            |query: &Message, info: &scoped_testkit::QueryInfo<'_>| {
                let mut reply = info.zone_response(query);
                let forged = scoped_cache::dname::dname_record(
                    name("com."),
                    86400,
                    &name("attacker.example."),
                );
                reply.answers.insert(0, forged);
                ResponderAction::Reply(reply)
            },
        );
    }
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.moved.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![WWW_NET]);
    assert!(
        res.answers.iter().all(|r| r.name != name("com.")),
        "{:?}",
        res.answers
    );
    // Nothing else under com. is redirected.
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(types(&res.answers), vec![RecordType::A]);
    assert_eq!(a_records(&res), vec![WWW]);
}

#[tokio::test(start_paused = true)]
async fn a_tailored_dname_is_a_link_like_a_tailored_cname() {
    use scoped_testkit::cdn::*;
    let fixture = scoped_testkit::ecs_fixture();
    let internet = &fixture.internet;
    // The CDN's zone logic: DNAME, synthesised CNAME, then www's tailored answer (SCOPE 24).
    extend(
        internet,
        CDN_1,
        "cdn.example.",
        "moved 300 IN DNAME cdn.example.\n",
    );
    let recursor = recursor_with(
        internet,
        RecursorConfig {
            ecs_allowlist: scoped_ecs::Allowlist::parse("cdn.example.").unwrap(),
            ..config_for(internet)
        },
    );
    let tokyo = Some(TOKYO_V4);
    let res = ask_from(&recursor, "www.moved.cdn.example.", RecordType::A, tokyo).await;
    assert_eq!(
        types(&res.answers),
        vec![RecordType::DNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(res.scope, 24);

    // Another name below it for Tokyo: synthesised from the DNAME cached for Tokyo; only the
    // target is asked. The answer's scope is the longest of its links (E18).
    internet.clear_query_log();
    let res = ask_from(&recursor, "wide.moved.cdn.example.", RecordType::A, tokyo).await;
    assert_eq!(asked_at_or_below(internet, "moved.cdn.example."), 0);
    assert_eq!(
        types(&res.answers),
        vec![RecordType::DNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(
        res.answers[2].data,
        RData::A(hickory_proto::rr::rdata::A(Ipv4Addr::new(192, 0, 2, 81)))
    );
    assert_eq!(res.scope, 24, "the DNAME's 24, not wide's 16");

    // San Francisco is outside the DNAME's scope: its question goes upstream.
    let res = ask_from(
        &recursor,
        "wide.moved.cdn.example.",
        RecordType::A,
        Some(SF_V4),
    )
    .await;
    assert_eq!(asked_at_or_below(internet, "moved.cdn.example."), 1);
    assert_eq!(
        res.answers[2].data,
        RData::A(hickory_proto::rr::rdata::A(Ipv4Addr::new(192, 0, 2, 1)))
    );
}
