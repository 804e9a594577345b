//! Engine tests: the real recursion engine against the testkit's simulated internet, in memory,
//! on tokio's paused clock (timeouts and TTLs are exact and cost no real time).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use scoped_cache::{CacheConfig, RecordCache};
use scoped_recursor::{Protocol, Question, Recursor, RecursorConfig, Resolution, ResolveRequest};
use scoped_testkit::standard::{self, *};
use scoped_testkit::{Internet, ResponderAction, name, standard_internet};
use tokio::time::Instant;

fn config_for(internet: &Internet) -> RecursorConfig {
    // Reproducible server order; tests that need both servers of a zone asked say so.
    RecursorConfig {
        selection_seed: Some(7),
        ..internet.recursor_config()
    }
}

fn recursor_with(internet: &Internet, config: RecursorConfig) -> Recursor {
    Recursor::new(
        config,
        RecordCache::new(CacheConfig::default()),
        internet.transport(),
    )
}

fn recursor(internet: &Internet) -> Recursor {
    recursor_with(internet, config_for(internet))
}

async fn ask(recursor: &Recursor, qname: &str, qtype: RecordType) -> Resolution {
    let request = ResolveRequest {
        question: Question::new(name(qname), qtype),
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        client_subnet: None,
    };
    recursor.resolve_request(request).await
}

fn a_records(resolution: &Resolution) -> Vec<Ipv4Addr> {
    resolution
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

fn types(records: &[Record]) -> Vec<RecordType> {
    records.iter().map(|r| r.record_type()).collect()
}

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
async fn repeated_query_is_served_from_cache_with_ttl_counting_down() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let first = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(first.answers[0].ttl, 300);
    let sent = internet.total_queries();
    tokio::time::advance(Duration::from_secs(100)).await;
    let second = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(second.from_cache);
    assert_eq!(
        internet.total_queries(),
        sent,
        "a cache hit sends nothing upstream"
    );
    assert_eq!(second.answers[0].ttl, 200);
    tokio::time::advance(Duration::from_secs(201)).await;
    let third = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(!third.from_cache, "expired after its TTL");
    assert_eq!(third.answers[0].ttl, 300);
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
async fn cname_chain_inside_one_zone() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "chain.example.com.", RecordType::A).await;
    assert_eq!(
        types(&res.answers),
        vec![RecordType::CNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    // And from the cache, the same chain.
    let again = ask(&recursor, "chain.example.com.", RecordType::A).await;
    assert!(again.from_cache);
    assert_eq!(types(&again.answers), types(&res.answers));
}

#[tokio::test(start_paused = true)]
async fn cname_across_zones_is_chased() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "cross.example.com.", RecordType::A).await;
    assert_eq!(types(&res.answers), vec![RecordType::CNAME, RecordType::A]);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    assert!(
        internet
            .query_log()
            .iter()
            .any(|q| q.server.ip() == EXAMPLE_NET)
    );
}

#[tokio::test(start_paused = true)]
async fn dangling_cname_is_nxdomain_with_the_cname() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "dangling.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(types(&res.answers), vec![RecordType::CNAME]);
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
}

#[tokio::test(start_paused = true)]
async fn nxdomain_carries_soa_with_negative_ttl() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.answers.is_empty());
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
    assert_eq!(res.authorities[0].ttl, 60, "min(SOA TTL 3600, MINIMUM 60)");
    let res = ask(&recursor, "nx.example.net.", RecordType::A).await;
    assert_eq!(res.authorities[0].ttl, 30, "min(SOA TTL 30, MINIMUM 300)");
}

#[tokio::test(start_paused = true)]
async fn nodata_and_empty_non_terminal() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::MX).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert!(res.answers.is_empty());
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
    let res = ask(&recursor, "ent.example.com.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::NoError,
        "an empty non-terminal exists"
    );
    assert!(res.answers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn negative_answer_is_cached_for_its_negative_ttl() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "nx.example.com.", RecordType::A).await;
    let sent = internet.total_queries();
    tokio::time::advance(Duration::from_secs(50)).await;
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(res.authorities[0].ttl, 10);
    assert_eq!(internet.total_queries(), sent);
    tokio::time::advance(Duration::from_secs(11)).await;
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert!(!res.from_cache);
    assert_eq!(
        internet.total_queries(),
        sent + 1,
        "one query, to the cached zone's server"
    );
}

#[tokio::test(start_paused = true)]
async fn dead_server_costs_at_most_one_timeout() {
    let internet = standard_internet();
    let config = config_for(&internet);
    // One timeout is at most the RTO ceiling (backoff included), never a wait per retry.
    let server_timeout = config.infra.max_rto;
    let recursor = recursor_with(&internet, config);
    // Warm the path to org. so only the failover zone's servers are left to ask.
    ask(&recursor, "www.lame.org.", RecordType::A).await;
    for _ in 0..10 {
        recursor.cache().clear();
        ask(&recursor, "www.lame.org.", RecordType::A).await;
        let start = Instant::now();
        let res = ask(&recursor, "www.failover.org.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 50)]);
        assert!(
            start.elapsed() <= server_timeout,
            "waited {:?}",
            start.elapsed()
        );
    }
    let dead = internet.query_count(FAILOVER_DEAD);
    assert!(dead > 0, "the dead server was tried at some point");
    assert!(
        dead <= 4,
        "then it is avoided: {dead} queries in 10 resolutions"
    );
}

#[tokio::test(start_paused = true)]
async fn refused_from_one_server_tries_the_next() {
    let internet = standard_internet();
    // Fresh engines with different seeds until one asks the refusing server first: every
    // resolution must still succeed through the other server.
    for seed in 0..64 {
        let config = RecursorConfig {
            selection_seed: Some(seed),
            ..config_for(&internet)
        };
        let recursor = recursor_with(&internet, config);
        let res = ask(&recursor, "www.lame.org.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 60)]);
        if internet.query_count(LAME_REFUSED) > 0 {
            return;
        }
    }
    panic!("the REFUSED server was never asked first in 64 tries");
}

#[tokio::test(start_paused = true)]
async fn upward_referral_from_a_lame_server_tries_the_next() {
    let internet = standard_internet();
    internet.expect_server(EXAMPLE_COM_1).set_lame(true);
    for seed in 0..64 {
        let config = RecursorConfig {
            selection_seed: Some(seed),
            ..config_for(&internet)
        };
        let recursor = recursor_with(&internet, config);
        let res = ask(&recursor, "www.example.com.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 10)]);
        if internet.query_count(EXAMPLE_COM_1) > 0 {
            return;
        }
    }
    panic!("the lame server was never asked first in 64 tries");
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

#[tokio::test(start_paused = true)]
async fn all_servers_dead_is_servfail_within_the_budget() {
    let internet = standard_internet();
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_dead(true);
    }
    let config = config_for(&internet);
    let budget = config.query_timeout;
    let recursor = recursor_with(&internet, config);
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(start.elapsed() <= budget, "took {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn whole_internet_dead_is_servfail_at_the_deadline_not_later() {
    let internet = standard_internet();
    for addr in internet.server_addrs() {
        internet.expect_server(addr).set_dead(true);
    }
    let config = RecursorConfig {
        query_timeout: Duration::from_secs(2),
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(
        start.elapsed() <= Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_identical_questions_share_one_resolution() {
    let internet = standard_internet();
    for addr in internet.server_addrs() {
        internet
            .expect_server(addr)
            .set_delay(Duration::from_millis(20));
    }
    let recursor = recursor(&internet);
    let alone = recursor_with(&internet, config_for(&internet));
    ask(&alone, "www.example.com.", RecordType::A).await;
    let one_resolution = internet.total_queries();
    internet.clear_query_log();

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let recursor = recursor.clone();
            tokio::spawn(async move { ask(&recursor, "www.example.com.", RecordType::A).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            a_records(&task.await.unwrap()),
            vec![Ipv4Addr::new(192, 0, 2, 10)]
        );
    }
    assert_eq!(
        internet.total_queries(),
        one_resolution,
        "20 clients, one resolution"
    );
    assert!(
        recursor
            .stats()
            .deduplicated
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 19
    );
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

fn chain_zone(links: usize, loop_back: bool) -> String {
    let mut text = String::from(
        "@ 3600 IN SOA ns1.chain.org. h.chain.org. 1 7200 900 1209600 60\n@ 3600 IN NS ns1.chain.org.\nns1 3600 IN A 127.53.9.1\n",
    );
    for i in 0..links {
        text.push_str(&format!("c{i} 300 IN CNAME c{}\n", i + 1));
    }
    if loop_back {
        text.push_str(&format!("c{links} 300 IN CNAME c0\n"));
    } else {
        text.push_str(&format!("c{links} 300 IN A 192.0.2.77\n"));
    }
    text
}

fn internet_with_chain_zone(links: usize, loop_back: bool) -> Internet {
    let mut builder = standard::standard_builder();
    let org = "@ 86400 IN SOA ns1.nic.org. h.nic.org. 1 7200 900 1209600 300\n@ 86400 IN NS ns1.nic.org.\nns1.nic 86400 IN A 127.53.1.3\n\
               chain 86400 IN NS ns1.chain.org.\nns1.chain 86400 IN A 127.53.9.1\n";
    builder.zone("chain.org.", &chain_zone(links, loop_back));
    builder.server(IpAddr::V4(Ipv4Addr::new(127, 53, 9, 1)), &["chain.org."]);
    let internet = builder.build().unwrap();
    // Add the delegation to org. by replacing the org zone with one that also delegates chain.org.
    let mut current = String::new();
    for zone in internet.expect_server(ORG).zones() {
        for record in zone.records() {
            current.push_str(&format!("{record}\n"));
        }
    }
    let _ = org;
    current
        .push_str("chain.org. 86400 IN NS ns1.chain.org.\nns1.chain.org. 86400 IN A 127.53.9.1\n");
    internet
        .expect_server(ORG)
        .set_zone(scoped_testkit::Zone::parse("org.", &current).unwrap());
    internet
}

#[tokio::test(start_paused = true)]
async fn long_cname_chain_is_followed_up_to_the_limit() {
    let internet = internet_with_chain_zone(10, false);
    let short = recursor(&internet);
    let res = ask(&short, "c0.chain.org.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(res.answers.len(), 11);

    let internet = internet_with_chain_zone(20, false);
    let long = recursor(&internet);
    let res = ask(&long, "c0.chain.org.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::ServFail,
        "20 links is over the limit of 12"
    );
}

#[tokio::test(start_paused = true)]
async fn cname_loop_is_servfail_not_a_hang() {
    let internet = internet_with_chain_zone(3, true);
    let recursor = recursor(&internet);
    let res = ask(&recursor, "c0.chain.org.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
}

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
async fn ttls_are_clamped_to_the_configured_maximum() {
    let internet = standard_internet();
    let recursor = Recursor::new(
        config_for(&internet),
        RecordCache::new(CacheConfig {
            max_ttl: 100,
            ..CacheConfig::default()
        }),
        internet.transport(),
    );
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.answers[0].ttl, 100);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert_eq!(res.answers[0].ttl, 100);
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
    };
    let res = recursor.resolve_request(request).await;
    assert_eq!(res.rcode, ResponseCode::Refused);
    assert_eq!(internet.total_queries(), 0);
}

#[tokio::test(start_paused = true)]
async fn rfc8020_names_below_a_cached_nxdomain_are_answered_from_cache() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    assert_eq!(
        ask(&recursor, "nx.example.com.", RecordType::A).await.rcode,
        ResponseCode::NXDomain
    );
    let sent = internet.total_queries();
    let res = ask(&recursor, "deep.below.nx.example.com.", RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.from_cache);
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
    assert_eq!(
        internet.total_queries(),
        sent,
        "nothing exists below a name that does not exist"
    );
}

/// The example.com zone as served, with `extra` appended.
fn example_com_with(internet: &Internet, extra: &str) -> scoped_testkit::Zone {
    let mut text = String::new();
    for zone in internet.expect_server(EXAMPLE_COM_1).zones() {
        if zone.origin() == &name("example.com.") {
            for record in zone.records() {
                text.push_str(&format!("{record}\n"));
            }
        }
    }
    text.push_str(extra);
    scoped_testkit::Zone::parse("example.com.", &text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_record_published_after_nxdomain_is_seen_when_the_negative_ttl_runs_out() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    assert_eq!(
        ask(&recursor, "fresh.example.com.", RecordType::A)
            .await
            .rcode,
        ResponseCode::NXDomain
    );
    internet.replace_zone(example_com_with(
        &internet,
        "fresh.example.com. 300 IN A 192.0.2.77\n",
    ));
    // The negative answer lives min(SOA TTL 3600, MINIMUM 60) = 60 s: not a second longer.
    tokio::time::advance(Duration::from_secs(59)).await;
    let res = ask(&recursor, "fresh.example.com.", RecordType::A).await;
    assert_eq!((res.rcode, res.from_cache), (ResponseCode::NXDomain, true));
    tokio::time::advance(Duration::from_secs(1)).await;
    let res = ask(&recursor, "fresh.example.com.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::NoError,
        "seen the moment the negative TTL ran out"
    );
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 77)]);
}

#[tokio::test(start_paused = true)]
async fn the_negative_ttl_cap_shortens_the_wait_for_a_new_record() {
    let internet = standard_internet();
    let recursor = Recursor::new(
        config_for(&internet),
        RecordCache::new(CacheConfig {
            max_negative_ttl: 10,
            ..CacheConfig::default()
        }),
        internet.transport(),
    );
    assert_eq!(
        ask(&recursor, "fresh.example.com.", RecordType::A)
            .await
            .rcode,
        ResponseCode::NXDomain
    );
    internet.replace_zone(example_com_with(
        &internet,
        "fresh.example.com. 300 IN A 192.0.2.77\n",
    ));
    tokio::time::advance(Duration::from_secs(10)).await;
    let res = ask(&recursor, "fresh.example.com.", RecordType::A).await;
    assert_eq!(
        a_records(&res),
        vec![Ipv4Addr::new(192, 0, 2, 77)],
        "cap of 10 s, not 60 s"
    );
}

#[tokio::test(start_paused = true)]
async fn flush_forgets_a_name_or_a_subtree_and_nothing_else() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    for qname in [
        "www.example.com.",
        "www.sub.example.com.",
        "www.example.net.",
    ] {
        ask(&recursor, qname, RecordType::A).await;
    }
    let cached = |recursor: &Recursor, qname: &'static str| {
        let recursor = recursor.clone();
        async move { ask(&recursor, qname, RecordType::A).await.from_cache }
    };
    recursor.flush(&name("www.example.com."), false);
    assert!(!cached(&recursor, "www.example.com.").await, "flushed");
    assert!(
        cached(&recursor, "www.sub.example.com.").await,
        "a name below is kept"
    );
    recursor.flush(&name("example.com."), true);
    assert!(
        !cached(&recursor, "www.sub.example.com.").await,
        "the subtree went"
    );
    assert!(
        cached(&recursor, "www.example.net.").await,
        "other zones are kept"
    );
    recursor.flush_all();
    assert!(!cached(&recursor, "www.example.net.").await);
}

// ---- Serve-stale (RFC 8767) and prefetch ----

const WWW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

fn stat(
    recursor: &Recursor,
    counter: fn(&scoped_recursor::EngineStats) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    counter(recursor.stats()).load(std::sync::atomic::Ordering::Relaxed)
}

fn example_com_servers(internet: &Internet, f: impl Fn(&scoped_testkit::ServerHandle)) {
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        f(&internet.expect_server(addr));
    }
}

/// www.example.com. (TTL 300) resolved, then 301 s later: expired, but within the stale window.
async fn expired_www(recursor: &Recursor) {
    let res = ask(recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![WWW]);
    tokio::time::advance(Duration::from_secs(301)).await;
}

#[tokio::test(start_paused = true)]
async fn serve_stale_answers_expired_data_with_ttl_30_when_every_server_fails() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&res), vec![WWW]);
    assert_eq!(res.answers[0].ttl, scoped_cache::STALE_TTL);
    assert!(res.stale);
    assert_eq!(stat(&recursor, |s| &s.stale_served_failed), 1);
    assert_eq!(
        stat(&recursor, |s| &s.servfail),
        1,
        "the resolution itself failed"
    );
}

#[tokio::test(start_paused = true)]
async fn serve_stale_failure_recheck_answers_stale_without_asking_for_30_seconds() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .stale
    );
    internet.clear_query_log();
    tokio::time::advance(Duration::from_secs(29)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.stale);
    assert_eq!(
        internet.total_queries(),
        0,
        "within the recheck time: no retry"
    );
    // After it, the servers are asked again; they have recovered.
    example_com_servers(&internet, |s| s.set_rcode(None));
    tokio::time::advance(Duration::from_secs(2)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(!res.stale);
    assert_eq!(res.answers[0].ttl, 300);
    assert!(internet.total_queries() > 0);
}

#[tokio::test(start_paused = true)]
async fn serve_stale_answers_at_the_client_timer_and_refreshes_in_the_background() {
    let internet = standard_internet();
    // Slow but alive: 3 s per answer, within a generous RTO.
    let mut config = config_for(&internet);
    config.query_timeout = Duration::from_secs(20);
    config.infra.initial_rto = Duration::from_secs(5);
    config.infra.min_rto = Duration::from_secs(5);
    config.infra.max_rto = Duration::from_secs(10);
    let recursor = recursor_with(&internet, config);
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_delay(Duration::from_secs(3)));
    let start = Instant::now();
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(1800),
        "the client timer"
    );
    assert!(res.stale);
    assert_eq!(a_records(&res), vec![WWW]);
    assert_eq!(res.answers[0].ttl, scoped_cache::STALE_TTL);
    assert_eq!(stat(&recursor, |s| &s.stale_served_slow), 1);
    // The resolution went on and refreshed the cache.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache && !res.stale);
    assert!(
        res.answers[0].ttl > 290,
        "fresh data: {}",
        res.answers[0].ttl
    );
}

#[tokio::test(start_paused = true)]
async fn a_quick_resolution_wins_over_stale_data() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    expired_www(&recursor).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(!res.stale && !res.from_cache);
    assert_eq!(res.answers[0].ttl, 300);
}

#[tokio::test(start_paused = true)]
async fn stale_data_is_kept_no_longer_than_max_stale() {
    let internet = standard_internet();
    let recursor = Recursor::new(
        config_for(&internet),
        RecordCache::new(CacheConfig {
            max_stale: 600,
            ..CacheConfig::default()
        }),
        internet.transport(),
    );
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![WWW]);
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    tokio::time::advance(Duration::from_secs(300 + 599)).await;
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .stale
    );
    tokio::time::advance(Duration::from_secs(31)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail, "past TTL + max-stale");
}

#[tokio::test(start_paused = true)]
async fn serve_stale_off_fails_like_before() {
    let internet = standard_internet();
    let recursor = Recursor::new(
        config_for(&internet),
        RecordCache::new(CacheConfig {
            max_stale: 0,
            ..CacheConfig::default()
        }),
        internet.transport(),
    );
    expired_www(&recursor).await;
    example_com_servers(&internet, |s| s.set_rcode(Some(ResponseCode::ServFail)));
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(stat(&recursor, |s| &s.stale_served_failed), 0);
}

#[tokio::test(start_paused = true)]
async fn stale_negative_answers_are_served_too() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    tokio::time::advance(Duration::from_secs(61)).await;
    example_com_servers(&internet, |s| s.set_dead(true));
    let res = ask(&recursor, "nx.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.stale);
    assert_eq!(res.authorities[0].ttl, scoped_cache::STALE_TTL);
}

#[tokio::test(start_paused = true)]
async fn prefetch_refreshes_an_entry_hit_in_its_last_tenth_once() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "www.example.com.", RecordType::A).await;
    // 269 s in: 31 s of 300 left, outside the last 10%.
    tokio::time::advance(Duration::from_secs(269)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .from_cache
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(internet.total_queries(), 0);
    // 271 s in: 29 s left. The client is answered from the cache at once; the refresh runs
    // behind it, once, however many hits follow.
    tokio::time::advance(Duration::from_secs(2)).await;
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert_eq!(res.answers[0].ttl, 29);
    for _ in 0..5 {
        assert!(
            ask(&recursor, "www.example.com.", RecordType::A)
                .await
                .from_cache
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refreshed: Vec<_> = internet
        .query_log()
        .into_iter()
        .filter(|q| q.qname == name("www.example.com.") && q.qtype == RecordType::A)
        .collect();
    assert_eq!(refreshed.len(), 1, "one refresh");
    assert_eq!(stat(&recursor, |s| &s.prefetches), 1);
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert!(res.from_cache);
    assert!(
        res.answers[0].ttl > 290,
        "refreshed: {}",
        res.answers[0].ttl
    );
    // Past the old expiry the entry is still there: no miss.
    tokio::time::advance(Duration::from_secs(40)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .from_cache
    );
    assert_eq!(internet.total_queries(), 0);
}

#[tokio::test(start_paused = true)]
async fn prefetch_refreshes_every_link_of_a_cname_chain() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    ask(&recursor, "cross.example.com.", RecordType::A).await;
    tokio::time::advance(Duration::from_secs(275)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "cross.example.com.", RecordType::A)
            .await
            .from_cache
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked: Vec<_> = internet.query_log().into_iter().map(|q| q.qname).collect();
    assert!(asked.contains(&name("cross.example.com.")), "{asked:?}");
    assert!(asked.contains(&name("www.example.net.")), "{asked:?}");
}

#[tokio::test(start_paused = true)]
async fn prefetch_off_leaves_the_entry_to_expire() {
    let internet = standard_internet();
    let recursor = Recursor::new(
        config_for(&internet),
        RecordCache::new(CacheConfig {
            prefetch_percent: 0,
            ..CacheConfig::default()
        }),
        internet.transport(),
    );
    ask(&recursor, "www.example.com.", RecordType::A).await;
    tokio::time::advance(Duration::from_secs(290)).await;
    internet.clear_query_log();
    assert!(
        ask(&recursor, "www.example.com.", RecordType::A)
            .await
            .from_cache
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(internet.total_queries(), 0);
    assert_eq!(stat(&recursor, |s| &s.prefetches), 0);
}

// ---- The fast path's answer cache ----

fn rendered(qname: &str, ttl: u32) -> scoped_recursor::WireAnswer {
    let mut message = Message::new(1, MessageType::Response, hickory_proto::op::OpCode::Query);
    message.add_query(hickory_proto::op::Query::query(name(qname), RecordType::A));
    message.add_answer(Record::from_rdata(name(qname), ttl, RData::A(A(WWW))));
    scoped_recursor::WireAnswer::from_response(&message.to_vec().unwrap(), 0).unwrap()
}

#[tokio::test(start_paused = true)]
async fn rendered_answers_are_kept_until_the_prefetch_window_and_flushed_with_the_caches() {
    use scoped_recursor::{Resolve, WireKey, WireKeyRef};
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let wire_name = scoped_cache::lowercase_wire(&name("www.example.com."));
    let key = WireKeyRef {
        name: &wire_name,
        qtype: 1,
        clients: scoped_recursor::WireClients::NoSubnet,
    };
    let keep = |ttl| {
        recursor.keep_wire_answer(
            WireKey::new(
                &name("WWW.example.com."),
                RecordType::A,
                scoped_recursor::WireClients::NoSubnet,
            ),
            rendered("www.example.com.", ttl),
        )
    };
    keep(300);
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_some()
    );
    assert_eq!(
        stat(&recursor, |s| &s.cache_hits),
        1,
        "a fast-path hit is a cache hit"
    );
    // 90% of 300 s, then the hits go to the engine, which prefetches.
    tokio::time::advance(Duration::from_secs(269)).await;
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_some()
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_none()
    );
    keep(300);
    recursor.flush(&name("example.com."), true);
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_none(),
        "flushed with its subtree"
    );
    keep(300);
    recursor.flush_all();
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_none()
    );
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

// ---- Work limits ----

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
