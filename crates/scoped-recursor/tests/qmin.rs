//! QNAME minimisation (RFC 9156) on the testkit internet: the exact questions each server hears,
//! the fallbacks real zones need, and ECS only on the final query (E16).

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_ecs::Allowlist;
use scoped_recursor::infra::InfraConfig;
use scoped_recursor::qmin::{MAX_MINIMISE_COUNT, QminMode};
use scoped_recursor::{Recursor, RecursorConfig, Resolution};
use scoped_testkit::engine::{a_records, ask, ask_from, config_for, recursor_with};
use scoped_testkit::standard::{EXAMPLE_COM_1, EXAMPLE_COM_2};
use scoped_testkit::{Internet, ResponderAction, ecs_fixture, name, standard_internet};

/// The shared engine fixture (`config_for`: seed 7) with QNAME minimisation `mode`.
fn with_qmin(internet: &Internet, mode: QminMode) -> Recursor {
    with_qmin_and_allowlist(internet, mode, "")
}

/// [`with_qmin`], sending ECS to the zones and servers `allowlist` names. These tests pin the
/// exact questions each server hears, so the servers of a zone are not also measured in the
/// background (`max_background_per_query: 0`; that is selection's, tested in selection.rs).
fn with_qmin_and_allowlist(internet: &Internet, mode: QminMode, allowlist: &str) -> Recursor {
    let config = RecursorConfig {
        qname_minimisation: mode,
        ecs_allowlist: Allowlist::parse(allowlist).unwrap(),
        infra: InfraConfig {
            max_background_per_query: 0,
            ..InfraConfig::default()
        },
        ..config_for(internet)
    };
    recursor_with(internet, config)
}

/// Every question the internet heard, in order, as "qname TYPE".
fn heard(internet: &Internet) -> Vec<String> {
    internet
        .query_log()
        .into_iter()
        .map(|q| format!("{} {}", q.qname, q.qtype))
        .collect()
}

/// The first A record's address in the answer section.
fn a_record(resolution: &Resolution) -> Option<Ipv4Addr> {
    a_records(resolution).first().copied()
}

/// `a.b.ent.example.com.`: two empty non-terminals (`ent`, `b.ent`) below the zone cut.
const DEEP: &str = "a.b.ent.example.com.";

#[tokio::test(start_paused = true)]
async fn each_server_hears_only_the_next_label_of_a_deep_name() {
    let internet = standard_internet();
    let recursor = with_qmin(&internet, QminMode::Relaxed);
    let res = ask(&recursor, DEEP, RecordType::A).await;
    assert_eq!(a_record(&res), Some(Ipv4Addr::new(192, 0, 2, 11)));
    assert_eq!(
        heard(&internet),
        [
            ". NS",                   // priming
            "com. A",                 // the root hears only the TLD
            "example.com. A",         // com. only the next label: a referral
            "ent.example.com. A",     // an empty non-terminal: NODATA, one label more
            "b.ent.example.com. A",   // another one
            "a.b.ent.example.com. A", // the name itself, last
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn names_known_to_exist_from_the_cache_are_not_asked_again() {
    let internet = standard_internet();
    let recursor = with_qmin(&internet, QminMode::Relaxed);
    ask(&recursor, DEEP, RecordType::A).await;
    internet.clear_query_log();
    // ent. and b.ent. answered NODATA a moment ago: the next question goes straight to the name.
    let res = ask(&recursor, DEEP, RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(heard(&internet), [format!("{DEEP} AAAA")]);
}

#[tokio::test(start_paused = true)]
async fn with_minimisation_off_every_server_hears_the_full_name() {
    let internet = standard_internet();
    let recursor = with_qmin(&internet, QminMode::Off);
    let res = ask(&recursor, DEEP, RecordType::A).await;
    assert_eq!(a_record(&res), Some(Ipv4Addr::new(192, 0, 2, 11)));
    assert_eq!(
        heard(&internet),
        [
            ". NS",
            "a.b.ent.example.com. A",
            "a.b.ent.example.com. A",
            "a.b.ent.example.com. A",
        ]
    );
}

/// Makes both example.com servers deny empty non-terminals (NXDOMAIN instead of NODATA), as
/// some broken servers do.
fn deny_empty_non_terminals(internet: &Internet) {
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet
            .expect_server(addr)
            .set_nxdomain_for_empty_non_terminals(true);
    }
}

#[tokio::test(start_paused = true)]
async fn relaxed_asks_the_full_name_after_an_nxdomain_for_an_empty_non_terminal() {
    let internet = standard_internet();
    deny_empty_non_terminals(&internet);
    let recursor = with_qmin(&internet, QminMode::Relaxed);
    let res = ask(&recursor, DEEP, RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(a_record(&res), Some(Ipv4Addr::new(192, 0, 2, 11)));
    let heard = heard(&internet);
    assert_eq!(
        &heard[heard.len() - 2..],
        ["ent.example.com. A", "a.b.ent.example.com. A"]
    );
    // The denial was not cached: RFC 8020 would otherwise deny the whole subtree.
    let now = tokio::time::Instant::now();
    let below = recursor
        .cache()
        .answer_step(&name(DEEP), RecordType::TXT, now);
    assert!(below.is_none(), "{below:?}");
}

#[tokio::test(start_paused = true)]
async fn strict_believes_an_nxdomain_for_an_intermediate_name() {
    let internet = standard_internet();
    deny_empty_non_terminals(&internet);
    let recursor = with_qmin(&internet, QminMode::Strict);
    let res = ask(&recursor, DEEP, RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(
        res.authorities[0].record_type(),
        RecordType::SOA,
        "with the zone's SOA"
    );
    assert!(
        !heard(&internet).contains(&format!("{DEEP} A")),
        "the full name was never asked"
    );
}

#[tokio::test(start_paused = true)]
async fn relaxed_asks_the_full_name_when_an_intermediate_question_fails() {
    let internet = standard_internet();
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).set_responder(|query, info| {
            if query.queries[0].name().to_ascii() == "ent.example.com." {
                let mut reply = info.zone_response(query);
                reply.metadata.response_code = ResponseCode::ServFail;
                reply.authorities.clear();
                ResponderAction::Reply(reply)
            } else {
                ResponderAction::Continue
            }
        });
    }
    let res = ask(
        &with_qmin(&internet, QminMode::Relaxed),
        DEEP,
        RecordType::A,
    )
    .await;
    assert_eq!(a_record(&res), Some(Ipv4Addr::new(192, 0, 2, 11)));
    // Strict takes the error as the answer.
    internet.clear_query_log();
    let res = ask(&with_qmin(&internet, QminMode::Strict), DEEP, RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
}

#[tokio::test(start_paused = true)]
async fn a_cname_met_at_an_intermediate_step_sends_the_full_name() {
    let internet = standard_internet();
    let recursor = with_qmin(&internet, QminMode::Relaxed);
    // alias.example.com. is a CNAME; nothing can live below it.
    let res = ask(&recursor, "x.alias.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    let heard = heard(&internet);
    assert_eq!(
        &heard[heard.len() - 2..],
        ["alias.example.com. A", "x.alias.example.com. A"]
    );
}

#[tokio::test(start_paused = true)]
async fn an_alias_two_labels_up_sends_the_full_name_at_once() {
    // `cross.example.com.` is a CNAME to another zone, `alias.example.com.` one inside the zone
    // (the response follows it): either way the next question is the full name, not one more
    // label below the alias.
    for (qname, alias) in [
        ("b.a.cross.example.com.", "cross.example.com. A"),
        ("b.a.alias.example.com.", "alias.example.com. A"),
    ] {
        let internet = standard_internet();
        let recursor = with_qmin(&internet, QminMode::Strict);
        let res = ask(&recursor, qname, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NXDomain, "{qname}");
        let heard = heard(&internet);
        assert_eq!(
            &heard[heard.len() - 2..],
            [alias.to_string(), format!("{qname} A")],
            "{heard:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_deep_name_takes_one_label_four_times_then_several() {
    let internet = standard_internet();
    let recursor = with_qmin(&internet, QminMode::Relaxed);
    // 13 labels: ten below the wildcard *.wild.example.com., so every ancestor answers.
    let qname = "l0.l1.l2.l3.l4.l5.l6.l7.l8.l9.wild.example.com.";
    let res = ask(&recursor, qname, RecordType::A).await;
    assert_eq!(a_record(&res), Some(Ipv4Addr::new(192, 0, 2, 99)));
    // RFC 9156 §2.3: the first MINIMISE_ONE_LAB (4) steps add one label each; the 9 labels left
    // are spread over the 6 steps left of MAX_MINIMISE_COUNT (10): ceil(9/6) = 2, ceil(7/5) = 2,
    // ceil(5/4) = 2, ceil(3/3) = 1, ceil(2/2) = 1, and the last label is the full name.
    assert_eq!(
        heard(&internet),
        [
            ". NS",
            "com. A",
            "example.com. A",
            "wild.example.com. A",
            "l9.wild.example.com. A",
            "l7.l8.l9.wild.example.com. A",
            "l5.l6.l7.l8.l9.wild.example.com. A",
            "l3.l4.l5.l6.l7.l8.l9.wild.example.com. A",
            "l2.l3.l4.l5.l6.l7.l8.l9.wild.example.com. A",
            "l1.l2.l3.l4.l5.l6.l7.l8.l9.wild.example.com. A",
            "l0.l1.l2.l3.l4.l5.l6.l7.l8.l9.wild.example.com. A",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_very_long_name_costs_at_most_max_minimise_count_minimised_queries() {
    let internet = standard_internet();
    let recursor = with_qmin(&internet, QminMode::Relaxed);
    // 30 labels below the wildcard *.wild.example.com.: every intermediate name answers.
    let labels: Vec<String> = (0..30).map(|i| format!("l{i}")).collect();
    let qname = format!("{}.wild.example.com.", labels.join("."));
    let res = ask(&recursor, &qname, RecordType::A).await;
    assert_eq!(a_record(&res), Some(Ipv4Addr::new(192, 0, 2, 99)));
    let minimised = heard(&internet)
        .iter()
        .filter(|q| !q.starts_with(". ") && **q != format!("{qname} A"))
        .count();
    assert!(
        minimised <= MAX_MINIMISE_COUNT as usize,
        "{minimised} minimised queries: {:?}",
        heard(&internet)
    );
    assert!(heard(&internet).contains(&format!("{qname} A")));
}

#[tokio::test(start_paused = true)]
async fn e16_only_the_final_query_carries_ecs_even_to_allowlisted_root_and_tld() {
    use scoped_testkit::cdn::{ECS_ROOT, ECS_TLD, TOKYO_V4, WWW_CDN};
    let fixture = ecs_fixture();
    // Everything allowlisted, root and TLD included: still only the full name carries ECS.
    let recursor = with_qmin_and_allowlist(&fixture.internet, QminMode::Relaxed, ".\n");
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, Some(TOKYO_V4)).await;
    assert_eq!(res.scope, 24);
    let with_ecs: Vec<String> = fixture
        .internet
        .queries_with_ecs()
        .into_iter()
        .map(|q| format!("{} {}", q.qname, q.qtype))
        .collect();
    assert_eq!(with_ecs, [format!("{WWW_CDN} A")]);
    for server in [ECS_ROOT, ECS_TLD] {
        assert!(
            fixture
                .internet
                .ecs_sent_to(server)
                .iter()
                .all(|(_, ecs)| ecs.is_none()),
            "{server} heard a subnet"
        );
    }
    let withheld = recursor
        .stats()
        .ecs_withheld_minimised
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        withheld, 2,
        "example. and cdn.example. were asked without it"
    );
}

#[tokio::test(start_paused = true)]
async fn e01_without_minimisation_an_allowlisted_root_hears_the_subnet() {
    use scoped_testkit::cdn::{ECS_ROOT, TOKYO_V4, WWW_CDN};
    let fixture = ecs_fixture();
    let recursor = with_qmin_and_allowlist(&fixture.internet, QminMode::Off, ".\n");
    ask_from(&recursor, WWW_CDN, RecordType::A, Some(TOKYO_V4)).await;
    // The contrast that shows what minimisation saves: the full name and the /24 at the root.
    assert!(
        fixture
            .internet
            .ecs_sent_to(ECS_ROOT)
            .iter()
            .any(|(qname, ecs)| *qname == name(WWW_CDN) && ecs.is_some())
    );
}

#[tokio::test(start_paused = true)]
async fn e20_a_minimised_step_to_an_allowlisted_server_is_cached_for_subnetless_queries_only() {
    use scoped_testkit::cdn::{DEFAULT_EDGE_V4, TOKYO_EDGE_V4, TOKYO_V4, WWW_CDN};
    let fixture = ecs_fixture();
    let recursor = with_qmin_and_allowlist(&fixture.internet, QminMode::Relaxed, "cdn.example.\n");
    // Below a tailored name: the CDN's servers are first asked `www.cdn.example. A` without a
    // subnet (a minimised step) and give the answer for clients without ECS.
    let below = format!("x.{WWW_CDN}");
    ask_from(&recursor, &below, RecordType::A, Some(TOKYO_V4)).await;
    assert!(heard(&fixture.internet).contains(&format!("{WWW_CDN} A")));
    // That answer is what a query without a subnet gets (E20) — never a Tokyo client's.
    let tokyo = ask_from(&recursor, WWW_CDN, RecordType::A, Some(TOKYO_V4)).await;
    assert_eq!(a_record(&tokyo).map(IpAddr::V4), Some(TOKYO_EDGE_V4));
    assert_eq!(tokyo.scope, 24);
    let nobody = ask(&recursor, WWW_CDN, RecordType::A).await;
    assert_eq!(a_record(&nobody).map(IpAddr::V4), Some(DEFAULT_EDGE_V4));
}

/// Issue 20: a minimised step answered by the zone (NODATA for an empty non-terminal) says no
/// zone is cut there, for every client: five fresh names from five subnets under it cost one
/// step and five full names, not five of each; once the step's negative TTL (60 s) has run
/// out, the step is asked again, once.
#[tokio::test(start_paused = true)]
async fn a_minimised_step_is_asked_once_per_ttl_not_once_per_name_and_subnet() {
    use scoped_testkit::cdn::{TOKYO_V4, WWW_CDN};
    let fixture = ecs_fixture();
    for cdn in [&fixture.cdn1, &fixture.cdn2] {
        cdn.update(|a| {
            a.untailored_scope(24);
        });
    }
    let recursor = with_qmin_and_allowlist(&fixture.internet, QminMode::Relaxed, "cdn.example.\n");
    ask_from(&recursor, WWW_CDN, RecordType::A, Some(TOKYO_V4)).await;
    fixture.internet.clear_query_log();
    let subnet = |i: u8| Some(format!("198.18.{i}.0/24").parse().unwrap());
    for i in 1..=5u8 {
        let qname = format!("n{i}.scope24.cdn.example.");
        let res = ask_from(&recursor, &qname, RecordType::A, subnet(i)).await;
        assert_eq!(res.rcode, ResponseCode::NoError, "{qname}");
        assert_eq!(
            res.scope, 24,
            "{qname}: the full name was asked with the subnet"
        );
    }
    let steps = |internet: &Internet| {
        heard(internet)
            .iter()
            .filter(|q| *q == "scope24.cdn.example. A")
            .count()
    };
    assert_eq!(
        steps(&fixture.internet),
        1,
        "{:?}",
        heard(&fixture.internet)
    );
    assert_eq!(
        fixture.internet.total_queries(),
        6,
        "{:?}",
        heard(&fixture.internet)
    );
    assert_eq!(fixture.internet.queries_with_ecs().len(), 5);

    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    ask_from(
        &recursor,
        "n6.scope24.cdn.example.",
        RecordType::A,
        subnet(6),
    )
    .await;
    ask_from(
        &recursor,
        "n7.scope24.cdn.example.",
        RecordType::A,
        subnet(7),
    )
    .await;
    assert_eq!(
        steps(&fixture.internet),
        2,
        "{:?}",
        heard(&fixture.internet)
    );
}
