//! Hardening: out-of-bailiwick records and Kaminsky-style NS/glue are never cached, oversized
//! replies are refused, loopback and do-not-query servers are never asked, and the upstream
//! work per question and in flight is bounded.

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use scoped_recursor::RecursorConfig;
use scoped_testkit::engine::{a_records, ask, config_for, recursor, recursor_with};
use scoped_testkit::standard::*;
use scoped_testkit::{ResponderAction, name, standard_internet};
use tokio::time::Instant;

use crate::stat;

#[tokio::test(start_paused = true)]
async fn out_of_bailiwick_records_are_never_cached() {
    let internet = standard_internet();
    // The example.com servers add a forged record for a name in example.net to every answer.
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_responder(
            |query: &Message, info: &scoped_testkit::QueryInfo<'_>| {
                let mut reply = info.zone_response(query);
                let forged = Record::from_rdata(
                    name("www.example.net."),
                    86400,
                    RData::A(A(Ipv4Addr::new(6, 6, 6, 6))),
                );
                reply.answers.push(forged.clone());
                reply.additionals.push(forged);
                reply.metadata.message_type = MessageType::Response;
                ResponderAction::Reply(reply)
            },
        );
    }
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(
        a_records(&res),
        vec![Ipv4Addr::new(192, 0, 2, 10)],
        "the forged record is not served"
    );
    let res = ask(&recursor, "www.example.net.", RecordType::A).await;
    assert!(
        !res.from_cache,
        "nothing was cached for www.example.net from example.com's servers"
    );
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 20)]);
}

#[tokio::test(start_paused = true)]
async fn kaminsky_out_of_zone_ns_and_glue_in_the_authority_section_are_never_cached() {
    use hickory_proto::rr::rdata::NS;
    let internet = standard_internet();
    // Every answer from example.com's servers carries a hijack of example.net. and of net.:
    // NS records pointing at the attacker, and the attacker's address as glue.
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_responder(
            |query: &Message, info: &scoped_testkit::QueryInfo<'_>| {
                let mut reply = info.zone_response(query);
                for zone in ["example.net.", "net."] {
                    reply.authorities.push(Record::from_rdata(
                        name(zone),
                        86400,
                        RData::NS(NS(name("ns.attacker.example."))),
                    ));
                }
                reply.additionals.push(Record::from_rdata(
                    name("ns.attacker.example."),
                    86400,
                    RData::A(A(Ipv4Addr::new(6, 6, 6, 6))),
                ));
                ResponderAction::Reply(reply)
            },
        );
    }
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    let now = Instant::now();
    let cache = recursor.cache();
    for zone in ["example.net.", "net."] {
        if let Some(ns) = cache.rrset(&name(zone), RecordType::NS, scoped_cache::Trust::Glue, now) {
            assert!(
                ns.iter()
                    .all(|r| r.data != RData::NS(NS(name("ns.attacker.example.")))),
                "{zone}: {ns:?}"
            );
        }
    }
    assert!(
        cache
            .rrset(
                &name("ns.attacker.example."),
                RecordType::A,
                scoped_cache::Trust::Glue,
                now
            )
            .is_none(),
        "the attacker's glue"
    );
    // example.net. still resolves through its real server.
    internet.clear_query_log();
    let res = ask(&recursor, "www.example.net.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    assert!(internet.query_count(EXAMPLE_NET) > 0);
}

#[tokio::test(start_paused = true)]
async fn loopback_nameservers_are_refused_by_default() {
    let internet = standard_internet();
    let config = RecursorConfig {
        allow_loopback_servers: false,
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(internet.total_queries(), 0, "not a single packet to 127.x");
}

#[tokio::test(start_paused = true)]
async fn do_not_query_networks_are_skipped() {
    let internet = standard_internet();
    let config = RecursorConfig {
        do_not_query: vec![format!("{EXAMPLE_COM_1}/32").parse().unwrap()],
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    for _ in 0..6 {
        recursor.cache().clear();
        let res = ask(&recursor, "www.example.com.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    }
    assert_eq!(internet.query_count(EXAMPLE_COM_1), 0);
}

#[tokio::test(start_paused = true)]
async fn upstream_query_budget_bounds_the_work() {
    let internet = standard_internet();
    let config = RecursorConfig {
        max_upstream_queries: 2,
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::ServFail,
        "priming + root + com + zone needs more than 2"
    );
    assert!(internet.total_queries() <= 2);
}

#[tokio::test(start_paused = true)]
async fn a_reply_with_more_records_than_allowed_is_refused_and_the_next_server_asked() {
    let internet = standard_internet();
    // ns1.example.com. pads every answer with 300 A records; ns2 answers normally.
    internet.expect_server(EXAMPLE_COM_1).set_responder(
        |query: &Message, info: &scoped_testkit::QueryInfo<'_>| {
            let mut reply = info.zone_response(query);
            let owner = query.queries[0].name().clone();
            for i in 0..300u32 {
                let [_, _, c, d] = i.to_be_bytes();
                reply.additionals.push(Record::from_rdata(
                    owner.clone(),
                    300,
                    RData::A(A(Ipv4Addr::new(198, 18, c, d))),
                ));
            }
            ResponderAction::Reply(reply)
        },
    );
    let config = RecursorConfig {
        max_records_per_reply: 100,
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    for qname in [
        "www.example.com.",
        "alias.example.com.",
        "a.b.ent.example.com.",
    ] {
        let res = ask(&recursor, qname, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NoError, "{qname}");
    }
    assert!(
        stat(&recursor, |s| &s.oversized_replies) > 0,
        "ns1 was asked and refused"
    );
    assert!(internet.query_count(EXAMPLE_COM_2) > 0, "ns2 answered");
}

#[tokio::test(start_paused = true)]
async fn upstream_queries_in_flight_are_bounded_across_questions() {
    let internet = standard_internet();
    for addr in internet.server_addrs() {
        internet
            .expect_server(addr)
            .set_delay(Duration::from_millis(100));
    }
    let config = RecursorConfig {
        max_outstanding_upstream: 2,
        query_timeout: Duration::from_secs(30),
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    // Prime and learn the delegations first, so each question below needs one query.
    ask(&recursor, "www.example.com.", RecordType::A).await;
    ask(&recursor, "www.example.net.", RecordType::A).await;
    let names: Vec<String> = (0..8).map(|i| format!("n{i}.wild.example.com.")).collect();
    internet.clear_query_log();
    let tasks: Vec<_> = names
        .iter()
        .map(|qname| {
            let recursor = recursor.clone();
            let qname = qname.clone();
            tokio::spawn(async move { ask(&recursor, &qname, RecordType::A).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().rcode, ResponseCode::NoError);
    }
    // Never more than two queries in flight: arrival times come in pairs 100 ms apart.
    let log = internet.query_log();
    for window in log.windows(3) {
        assert!(
            window[2].at - window[0].at >= Duration::from_millis(100),
            "three queries within one round trip: {:?}",
            window.iter().map(|q| q.at).collect::<Vec<_>>()
        );
    }
    assert!(stat(&recursor, |s| &s.upstream_throttled) > 0);
}
