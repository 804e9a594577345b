//! Iteration from the root: priming, referrals down the hierarchy, glue and glueless
//! delegations, what every upstream query looks like, TCP after a truncated UDP reply.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::{Protocol, Question, ResolveRequest};
use scoped_testkit::engine::{a_records, ask, recursor};
use scoped_testkit::standard::*;
use scoped_testkit::{name, standard_internet};

#[tokio::test(start_paused = true)]
async fn priming_waits_for_the_first_query_then_goes_to_the_root() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        internet.total_queries(),
        0,
        "nothing is sent before a query needs it"
    );
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    let log = internet.query_log();
    assert_eq!(
        (log[0].qname.clone(), log[0].qtype),
        (name("."), RecordType::NS),
        "priming first"
    );
    assert!([ROOT_A, ROOT_B].contains(&log[0].server.ip()));
}

#[tokio::test(start_paused = true)]
async fn resolves_through_root_tld_and_zone() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    assert!(
        res.authorities.is_empty(),
        "minimal responses: nothing in authority for answers"
    );
    assert!(!res.from_cache);
    let servers: Vec<IpAddr> = internet.query_log().iter().map(|q| q.server.ip()).collect();
    assert!(servers.contains(&COM));
    assert!(servers.contains(&EXAMPLE_COM_1) || servers.contains(&EXAMPLE_COM_2));
}

#[tokio::test(start_paused = true)]
async fn cached_delegation_is_reused() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "www.example.com.", RecordType::A).await;
    internet.clear_query_log();
    ask(&recursor, "nx.example.com.", RecordType::A).await;
    let servers: Vec<IpAddr> = internet.query_log().iter().map(|q| q.server.ip()).collect();
    assert_eq!(
        servers.len(),
        1,
        "straight to example.com's servers: {servers:?}"
    );
    assert!([EXAMPLE_COM_1, EXAMPLE_COM_2].contains(&servers[0]));
}

#[tokio::test(start_paused = true)]
async fn upstream_queries_use_edns_no_rd_and_random_ids() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    for i in 0..40 {
        ask(&recursor, &format!("n{i}.wild.example.com."), RecordType::A).await;
    }
    let log = internet.query_log();
    let mut ids = HashSet::new();
    for entry in &log {
        let msg = entry.message().unwrap();
        assert!(
            !msg.metadata.recursion_desired,
            "iterative queries have RD clear"
        );
        let edns = msg.edns.as_ref().expect("EDNS0 on every upstream query");
        assert_eq!(edns.max_payload(), 1232);
        assert_eq!(edns.version(), 0);
        ids.insert(msg.metadata.id);
    }
    assert!(log.len() >= 40);
    assert!(
        ids.len() >= log.len() - 2,
        "IDs are random: {} distinct of {}",
        ids.len(),
        log.len()
    );
}

#[tokio::test(start_paused = true)]
async fn glueless_delegation_resolves_nameserver_as_subquery() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.glueless.org.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 30)]);
    let log = internet.query_log();
    assert!(
        log.iter()
            .any(|q| q.qname == name("ns.example.net.") && q.qtype == RecordType::A)
    );
    assert!(log.iter().any(|q| q.server.ip() == GLUELESS_ORG));
}

#[tokio::test(start_paused = true)]
async fn child_zone_below_a_zone() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.sub.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 12)]);
    assert!(
        internet
            .query_log()
            .iter()
            .any(|q| q.server.ip() == SUB_EXAMPLE_COM)
    );
}

#[tokio::test(start_paused = true)]
async fn wildcard_answers_are_resolved() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "anything.wild.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 99)]);
    assert_eq!(res.answers[0].name, name("anything.wild.example.com."));
}

#[tokio::test(start_paused = true)]
async fn non_in_class_is_refused() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let mut question = Question::new(name("version.bind."), RecordType::TXT);
    question.qclass = hickory_proto::rr::DNSClass::CH;
    let request = ResolveRequest {
        question,
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        client_subnet: None,
        checking_disabled: false,
        dnssec_ok: false,
    };
    let res = recursor.resolve_request(request).await;
    assert_eq!(res.rcode, ResponseCode::Refused);
    assert_eq!(internet.total_queries(), 0);
}

#[tokio::test(start_paused = true)]
async fn truncated_udp_is_retried_over_tcp() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.tc.net.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 40)]);
    let to_tc: Vec<Protocol> = internet
        .queries_to(TC_NET)
        .iter()
        .map(|q| q.protocol)
        .collect();
    assert_eq!(to_tc, vec![Protocol::Udp, Protocol::Tcp]);
}
