//! What clients ask changes what is validated: CD, validation off, ECS.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use scoped_ecs::Allowlist;
use scoped_recursor::{Question, RecursorConfig, ResolveRequest, Validation};
use scoped_testkit::QueryLogEntry;
use scoped_testkit::engine::{a_records, ask, ask_from, config_for, recursor_with};
use scoped_testkit::signed::{DsMode, Signing};

use super::{EXAMPLE, Hierarchy, NOW, ip, name, queries_of, tailoring, validating};

fn dnssec_ok(query: &QueryLogEntry) -> bool {
    query
        .message()
        .and_then(|m| m.edns)
        .is_some_and(|e| e.flags().dnssec_ok)
}

async fn ask_cd(recursor: &scoped_recursor::Recursor, qname: &str) -> scoped_recursor::Resolution {
    let request = ResolveRequest {
        checking_disabled: true,
        dnssec_ok: false,
        ..ResolveRequest::new(
            Question::new(name(qname), RecordType::A),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
    };
    recursor.resolve_request(request).await
}

#[tokio::test(start_paused = true)]
async fn a_cd_client_gets_bogus_data_unchecked_and_a_client_without_cd_never_does() {
    let (internet, dnssec) = Hierarchy::with_sub(Signing {
        ds: DsMode::Stray,
        ..Signing::new(NOW)
    })
    .build();
    let recursor = validating(&internet, dnssec);
    let cd = ask_cd(&recursor, "www.sub.example.").await;
    assert_eq!(cd.rcode, ResponseCode::NoError);
    assert_eq!(a_records(&cd), vec![Ipv4Addr::new(192, 0, 2, 9)]);
    assert_eq!(cd.security, Validation::Unchecked);
    // The data fetched for the CD client is in the cache, unchecked: not for this client.
    let checked = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(checked.rcode, ResponseCode::ServFail);
    assert!(checked.answers.is_empty());
    assert_eq!(checked.ede.map(|e| e.code), Some(9));
    // And the CD client still gets it.
    let cd_again = ask_cd(&recursor, "www.sub.example.").await;
    assert_eq!(a_records(&cd_again), vec![Ipv4Addr::new(192, 0, 2, 9)]);
}

#[tokio::test(start_paused = true)]
async fn data_fetched_for_a_cd_client_is_validated_before_a_client_without_cd_gets_it() {
    let (internet, dnssec) = Hierarchy::default().build();
    let recursor = validating(&internet, dnssec);
    let cd = ask_cd(&recursor, "www.example.").await;
    assert_eq!(cd.security, Validation::Unchecked);
    let checked = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(checked.security, Validation::Secure);
    assert!(
        !checked.from_cache,
        "resolved and validated, not served unchecked"
    );
}

#[tokio::test(start_paused = true)]
async fn with_validation_off_the_engine_is_a_plain_iterator() {
    let (internet, _) = Hierarchy::with_sub(Signing {
        ds: DsMode::Stray,
        ..Signing::new(NOW)
    })
    .build();
    let recursor = recursor_with(&internet, config_for(&internet));
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::NoError,
        "bogus data is not checked"
    );
    assert_eq!(res.security, Validation::Unchecked);
    let log = internet.query_log();
    assert!(!log.is_empty());
    assert!(log.iter().all(|q| !dnssec_ok(q)), "no DO upstream");
    assert!(queries_of(&internet, RecordType::DNSKEY).is_empty());
    assert!(queries_of(&internet, RecordType::DS).is_empty());
}

#[tokio::test(start_paused = true)]
async fn validating_queries_set_do_and_fetch_dnskey_and_ds() {
    let (internet, dnssec) = Hierarchy::default().build();
    let recursor = validating(&internet, dnssec);
    ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert!(internet.query_log().iter().all(dnssec_ok));
    let dnskeys: Vec<_> = queries_of(&internet, RecordType::DNSKEY)
        .into_iter()
        .map(|q| q.qname.to_ascii())
        .collect();
    assert_eq!(dnskeys.len(), 3, "root, example, sub: {dnskeys:?}");
    // The DS of a zone is asked of its parent's servers.
    for ds in queries_of(&internet, RecordType::DS) {
        let parent = if ds.qname == name("example.") {
            ip(super::ROOT)
        } else {
            ip(EXAMPLE)
        };
        assert_eq!(ds.server.ip(), parent, "DS {}", ds.qname);
    }
}

#[tokio::test(start_paused = true)]
async fn an_ecs_tailored_answer_is_validated_and_dnskey_and_ds_carry_no_ecs() {
    let (internet, dnssec) = Hierarchy::default().build();
    // The example server tailors its answers: the zone's signed answer, echoed with SCOPE 24.
    tailoring(&internet, &[EXAMPLE]);
    let config = RecursorConfig {
        dnssec,
        ecs_allowlist: Allowlist::parse("example.").unwrap(),
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    let subnet: IpNet = "198.51.100.0/24".parse().unwrap();
    let res = ask_from(&recursor, "www.example.", RecordType::A, Some(subnet)).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(res.scope, 24, "tailored");
    assert_eq!(res.security, Validation::Secure);
    let www: Vec<_> = internet
        .queries_to(ip(EXAMPLE))
        .into_iter()
        .filter(|q| q.qname == name("www.example.") && q.qtype == RecordType::A)
        .collect();
    assert!(
        www.iter().any(|q| q.client_subnet().is_some()),
        "the answer was asked with ECS"
    );
    // DS comes with the referrals; the DNSKEY sets are asked.
    assert!(!queries_of(&internet, RecordType::DNSKEY).is_empty());
    for rtype in [RecordType::DNSKEY, RecordType::DS] {
        let fetched = queries_of(&internet, rtype);
        assert!(
            fetched.iter().all(|q| q.client_subnet().is_none()),
            "{rtype} without ECS"
        );
    }
    // The tailored entry keeps its status: the same subnet is answered from the cache, secure.
    let again = ask_from(&recursor, "www.example.", RecordType::A, Some(subnet)).await;
    assert!(again.from_cache);
    assert_eq!(again.security, Validation::Secure);
}

#[tokio::test(start_paused = true)]
async fn the_trace_shows_each_validation_step_and_the_counters_count_verdicts() {
    use std::sync::atomic::Ordering::Relaxed;

    let (internet, dnssec) = Hierarchy::default().build();
    let recursor = validating(&internet, dnssec);
    let request = ResolveRequest::new(
        Question::new(name("www.sub.example."), RecordType::A),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    let (res, lines) = recursor.trace(request).await;
    assert_eq!(res.security, Validation::Secure);
    let text = lines.join("\n");
    for expected in [
        "DNSSEC: the DS of sub.example. from the referral",
        "DNSSEC: zone .: keys validated",
        "DNSSEC: zone sub.example.: keys validated",
        "DNSSEC: www.sub.example. A: signature by sub.example. key",
        "DNSSEC: the answer is secure",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert_eq!(recursor.stats().dnssec_secure.load(Relaxed), 1);
    ask(&recursor, "www.insecure.example.", RecordType::A).await;
    assert_eq!(recursor.stats().dnssec_insecure.load(Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_questions_fetch_a_zones_keys_once() {
    let (internet, dnssec) = Hierarchy::default().build();
    // Slow servers, so that the questions' fetches overlap.
    for server in [super::ROOT, EXAMPLE, super::SUB] {
        let delay = std::time::Duration::from_millis(40);
        internet.expect_server(ip(server)).set_delay(delay);
    }
    let recursor = validating(&internet, dnssec);
    let (a, b, c) = tokio::join!(
        ask(&recursor, "www.sub.example.", RecordType::A),
        ask(&recursor, "ns.sub.example.", RecordType::A),
        ask(&recursor, "www.example.", RecordType::A),
    );
    for res in [a, b, c] {
        assert_eq!(res.security, Validation::Secure);
    }
    let dnskeys: Vec<String> = queries_of(&internet, RecordType::DNSKEY)
        .into_iter()
        .map(|q| q.qname.to_ascii())
        .collect();
    assert_eq!(dnskeys.len(), 3, "each zone's keys once: {dnskeys:?}");
    assert_eq!(
        queries_of(&internet, RecordType::DS).len(),
        0,
        "the DS of example. and sub.example. came with the referrals"
    );
}

/// DNS64 (RFC 6147 §5.5): AAAA records synthesised from a secure A record cannot be proven, so
/// the answer is never marked secure (no AD), though the A record it came from is.
#[tokio::test(start_paused = true)]
async fn a_synthesised_dns64_answer_is_never_secure() {
    let (internet, dnssec) = Hierarchy::default().build();
    let config = RecursorConfig {
        dnssec,
        dns64: scoped_recursor::Dns64Config {
            enabled: true,
            ..Default::default()
        },
        ..config_for(&internet)
    };
    let recursor = recursor_with(&internet, config);
    let a = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(a.security, Validation::Secure);
    let aaaa = ask(&recursor, "www.example.", RecordType::AAAA).await;
    assert_eq!(aaaa.rcode, ResponseCode::NoError);
    assert_eq!(aaaa.answers.len(), 1, "{:?}", aaaa.answers);
    assert!(
        matches!(&aaaa.answers[0].data, hickory_proto::rr::RData::AAAA(v6) if v6.0 == "64:ff9b::c000:201".parse::<std::net::Ipv6Addr>().unwrap())
    );
    assert_eq!(aaaa.security, Validation::Insecure);
}
