//! ECS in the engine (RFC 7871, rules numbered as in docs/ecs.md): what is sent upstream,
//! how replies are checked, and how answers are cached by scope. The testkit's CDN fixture runs
//! in memory on tokio's paused clock; each test is named after the rule it checks.

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use ipnet::IpNet;
use scoped_cache::Trust;
use scoped_ecs::Allowlist;
use scoped_recursor::infra::InfraConfig;
use scoped_recursor::{Protocol, Recursor, RecursorConfig, Resolution};
use scoped_testkit::cdn::*;
use scoped_testkit::engine::{ask_from, recursor_with};
use scoped_testkit::{Echo, EcsInternet, Internet, ecs_fixture, name};

const TOKYO: Option<IpNet> = Some(TOKYO_V4);
const SF: Option<IpNet> = Some(SF_V4);

/// An engine sending ECS to the zones and servers `allowlist` names. Unlike the shared
/// `config_for`, no selection seed: the order of a zone's servers is random, as it always was here.
/// An engine with `allowlist`. These tests pin the exact exchanges of each question (which
/// queries carry which subnet, how many re-asks), so the servers of the CDN zone are not also
/// measured in the background (`max_background_per_query: 0`): that is selection's business,
/// and [`e01_background_measurements_carry_ecs_only_where_the_clients_try_would`] checks its
/// ECS.
fn with_allowlist(internet: &Internet, allowlist: &str) -> Recursor {
    let config = RecursorConfig {
        ecs_allowlist: Allowlist::parse(allowlist).unwrap(),
        infra: InfraConfig {
            max_background_per_query: 0,
            ..InfraConfig::default()
        },
        ..internet.recursor_config()
    };
    recursor_with(internet, config)
}

fn cdn_allowed(fixture: &EcsInternet) -> Recursor {
    with_allowlist(&fixture.internet, "cdn.example.")
}

fn addrs(resolution: &Resolution) -> Vec<IpAddr> {
    resolution
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

fn net(text: &str) -> Option<IpNet> {
    Some(text.parse().unwrap())
}

#[tokio::test(start_paused = true)]
async fn e01_empty_allowlist_sends_no_ecs() {
    let fixture = ecs_fixture();
    let recursor = with_allowlist(&fixture.internet, "");
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(addrs(&res), vec![DEFAULT_EDGE_V4], "the CDN saw no subnet");
    assert!(fixture.internet.queries_with_ecs().is_empty());
    assert_eq!(res.scope, 0);
}

#[tokio::test(start_paused = true)]
async fn e01_background_measurements_carry_ecs_only_where_the_clients_try_would() {
    let fixture = ecs_fixture();
    // The defaults: the CDN's second server is measured beside the client's first try.
    let config = RecursorConfig {
        ecs_allowlist: Allowlist::parse("cdn.example.").unwrap(),
        ..fixture.internet.recursor_config()
    };
    let recursor = recursor_with(&fixture.internet, config);
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(addrs(&res), vec![TOKYO_EDGE_V4]);
    ask_from(&recursor, "www.other.example.", RecordType::A, TOKYO).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probes = recursor
        .stats()
        .background_probes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(probes > 0, "something was measured in the background");
    let log = fixture.internet.query_log();
    for cdn in [CDN_1, CDN_2] {
        assert!(
            log.iter()
                .any(|q| q.server.ip() == cdn && q.qname == name(WWW_CDN)),
            "{cdn} asked, by the client's try or by a measurement"
        );
    }
    for entry in log {
        let to_cdn = [CDN_1, CDN_2].contains(&entry.server.ip());
        assert_eq!(
            entry.ecs().map(|e| e.prefix()),
            to_cdn.then_some(TOKYO).flatten(),
            "{} to {}",
            entry.qname,
            entry.server
        );
    }
}

#[tokio::test(start_paused = true)]
async fn e01_ecs_only_to_the_allowlisted_zone_never_root_or_tld() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(addrs(&res), vec![TOKYO_EDGE_V4]);
    let res = ask_from(&recursor, "www.other.example.", RecordType::A, TOKYO).await;
    assert_eq!(
        addrs(&res),
        vec![OTHER_DEFAULT_V4],
        "the zone off the allowlist saw no subnet"
    );
    for entry in fixture.internet.query_log() {
        let to_cdn = [CDN_1, CDN_2].contains(&entry.server.ip());
        assert_eq!(
            entry.ecs().is_some(),
            to_cdn,
            "{} to {}",
            entry.qname,
            entry.server
        );
    }
}

#[tokio::test(start_paused = true)]
async fn e01_allowlist_by_server_address() {
    let fixture = ecs_fixture();
    let recursor = with_allowlist(&fixture.internet, &format!("{CDN_1}\n"));
    // Each CDN server in turn is the only one alive, so both are asked.
    for (alive, dead) in [(CDN_1, CDN_2), (CDN_2, CDN_1)] {
        fixture.internet.expect_server(alive).set_dead(false);
        fixture.internet.expect_server(dead).set_dead(true);
        recursor.scoped_cache().clear();
        recursor.cache().clear();
        let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
        let expected = if alive == CDN_1 {
            TOKYO_EDGE_V4
        } else {
            DEFAULT_EDGE_V4
        };
        assert_eq!(addrs(&res), vec![expected]);
    }
    let to_1 = fixture.internet.ecs_sent_to(CDN_1);
    let to_2 = fixture.internet.ecs_sent_to(CDN_2);
    assert!(!to_1.is_empty() && !to_2.is_empty());
    assert!(
        to_1.iter().all(|(_, ecs)| ecs.is_some()),
        "the listed address gets the subnet"
    );
    assert!(
        to_2.iter().all(|(_, ecs)| ecs.is_none()),
        "the other address never does"
    );
}

#[tokio::test(start_paused = true)]
async fn e02_e04_sent_option_is_the_truncated_subnet_with_scope_zero() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    let sent = fixture.internet.queries_with_ecs();
    assert_eq!(sent.len(), 1);
    let ecs = sent[0].ecs().unwrap();
    assert_eq!(ecs.prefix(), TOKYO_V4);
    assert_eq!(ecs.source(), 24);
    assert_eq!(ecs.scope(), 0);
    let payload = sent[0].client_subnet().unwrap();
    assert_eq!(payload.source_prefix(), 24);
}

#[tokio::test(start_paused = true)]
async fn e02_ipv6_subnet_is_sent_as_56() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let res = ask_from(&recursor, WWW_CDN, RecordType::AAAA, Some(TOKYO_V6)).await;
    assert_eq!(addrs(&res), vec![TOKYO_EDGE_V6]);
    assert_eq!(res.scope, 56);
    let ecs = fixture.internet.queries_with_ecs()[0].ecs().unwrap();
    assert_eq!(ecs.source(), 56);
}

#[tokio::test(start_paused = true)]
async fn e14_answer_is_shared_by_clients_inside_its_scope_only() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let tokyo = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!((addrs(&tokyo), tokyo.scope), (vec![TOKYO_EDGE_V4], 24));
    let sent = fixture.internet.total_queries();
    let again = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(again.from_cache);
    assert_eq!((addrs(&again), again.scope), (vec![TOKYO_EDGE_V4], 24));
    assert_eq!(fixture.internet.total_queries(), sent);
    let sf = ask_from(&recursor, WWW_CDN, RecordType::A, SF).await;
    assert!(!sf.from_cache, "Tokyo's answer never serves San Francisco");
    assert_eq!(addrs(&sf), vec![SF_EDGE_V4]);
}

#[tokio::test(start_paused = true)]
async fn e14_shorter_scope_covers_other_24s() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let first = ask_from(&recursor, WIDE_CDN, RecordType::A, TOKYO).await;
    assert_eq!((addrs(&first), first.scope), (vec![TOKYO_EDGE_V4], 16));
    // 198.51.7.0/24 lies inside the cached 198.51.0.0/16.
    let neighbour = ask_from(&recursor, WIDE_CDN, RecordType::A, net("198.51.7.0/24")).await;
    assert!(neighbour.from_cache);
    assert_eq!(
        (addrs(&neighbour), neighbour.scope),
        (vec![TOKYO_EDGE_V4], 16)
    );
}

#[tokio::test(start_paused = true)]
async fn e15_scope_longer_than_source() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let res = ask_from(&recursor, NARROW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(
        addrs(&res),
        vec![TOKYO_EDGE_V4],
        "the triggering client gets the answer"
    );
    let again = ask_from(&recursor, NARROW_CDN, RecordType::A, TOKYO).await;
    assert!(again.from_cache, "cached under the SOURCE bits");
    assert_eq!(
        again.scope, 24,
        "usable at exactly the source length, echoed capped at it"
    );
    let shorter = ask_from(&recursor, NARROW_CDN, RecordType::A, net("198.51.0.0/16")).await;
    assert!(!shorter.from_cache, "not for another source length");
}

#[tokio::test(start_paused = true)]
async fn e19_longest_covering_prefix_wins() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    // 198.51.7.0/24 is not Tokyo: the default edge, cached for all of 198.51.0.0/16.
    fixture.both_cdn(|h| h.set_scope(WWW_CDN, 16));
    let wide = ask_from(&recursor, WWW_CDN, RecordType::A, net("198.51.7.0/24")).await;
    assert_eq!((addrs(&wide), wide.scope), (vec![DEFAULT_EDGE_V4], 16));
    // Tokyo's /24 is inside that /16, but a /24 entry for it is longer.
    fixture.both_cdn(|h| h.set_scope(WWW_CDN, 24));
    let covered = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(
        covered.from_cache,
        "the /16 entry covers Tokyo while no longer one exists"
    );
    assert_eq!(
        (addrs(&covered), covered.scope),
        (vec![DEFAULT_EDGE_V4], 16)
    );
}

#[tokio::test(start_paused = true)]
async fn e19_tailored_24_beats_a_covering_16() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    // First Tokyo's /24 (Tokyo edge), then a /16 answer for a neighbour (default edge).
    let tokyo = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(addrs(&tokyo), vec![TOKYO_EDGE_V4]);
    fixture.both_cdn(|h| h.set_scope(WWW_CDN, 16));
    let wide = ask_from(&recursor, WWW_CDN, RecordType::A, net("198.51.7.0/24")).await;
    assert_eq!((addrs(&wide), wide.scope), (vec![DEFAULT_EDGE_V4], 16));
    // Both cover Tokyo; the /24 is longer.
    let again = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(again.from_cache);
    assert_eq!((addrs(&again), again.scope), (vec![TOKYO_EDGE_V4], 24));
}

#[tokio::test(start_paused = true)]
async fn e20_scope_zero_serves_everyone() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let tokyo = ask_from(&recursor, STATIC_CDN, RecordType::A, TOKYO).await;
    assert_eq!((addrs(&tokyo), tokyo.scope), (vec![STATIC_V4], 0));
    let sf = ask_from(&recursor, STATIC_CDN, RecordType::A, SF).await;
    assert!(sf.from_cache);
    let none = ask_from(&recursor, STATIC_CDN, RecordType::A, None).await;
    assert!(none.from_cache);
}

#[tokio::test(start_paused = true)]
async fn e20_e09_answer_for_a_query_without_subnet_serves_only_such_queries() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let none = ask_from(&recursor, WWW_CDN, RecordType::A, None).await;
    assert_eq!(addrs(&none), vec![DEFAULT_EDGE_V4]);
    assert!(
        fixture.internet.queries_with_ecs().is_empty(),
        "no address upstream"
    );
    let tokyo = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(
        !tokyo.from_cache,
        "the no-subnet answer does not serve Tokyo"
    );
    assert_eq!(addrs(&tokyo), vec![TOKYO_EDGE_V4]);
    let none_again = ask_from(&recursor, WWW_CDN, RecordType::A, None).await;
    assert!(none_again.from_cache);
    assert_eq!(
        addrs(&none_again),
        vec![DEFAULT_EDGE_V4],
        "Tokyo's answer never serves it"
    );
}

#[tokio::test(start_paused = true)]
async fn e12_reply_without_ecs_is_scope_zero() {
    let fixture = ecs_fixture();
    fixture.both_cdn(|h| h.set_echo(Echo::Omit));
    let recursor = cdn_allowed(&fixture);
    let tokyo = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(tokyo.scope, 0);
    let sf = ask_from(&recursor, WWW_CDN, RecordType::A, SF).await;
    assert!(sf.from_cache, "a reply without ECS is valid for everyone");
}

#[tokio::test(start_paused = true)]
async fn e11_reply_with_mismatched_ecs_is_discarded() {
    for echo in [Echo::WrongAddress, Echo::WrongSource, Echo::WrongFamily] {
        let fixture = ecs_fixture();
        fixture.cdn1.set_echo(echo);
        let recursor = cdn_allowed(&fixture);
        for _ in 0..4 {
            recursor.scoped_cache().clear();
            let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
            assert_eq!(
                addrs(&res),
                vec![TOKYO_EDGE_V4],
                "{echo:?}: the good server's answer"
            );
        }
        // Both servers bad: nothing acceptable arrives.
        fixture.cdn2.set_echo(echo);
        recursor.scoped_cache().clear();
        let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
        assert_eq!(res.rcode, ResponseCode::ServFail, "{echo:?}");
        assert!(
            recursor
                .scoped_cache()
                .get(
                    &scoped_cache::CacheKey::rrset(
                        &name(WWW_CDN),
                        RecordType::A,
                        hickory_proto::rr::DNSClass::IN
                    ),
                    TOKYO,
                    tokio::time::Instant::now()
                )
                .is_none()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn e13_refused_to_ecs_is_retried_without_ecs() {
    let fixture = ecs_fixture();
    fixture.both_cdn(|h| h.set_reject_ecs(Some(ResponseCode::Refused)));
    let recursor = cdn_allowed(&fixture);
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!((addrs(&res), res.scope), (vec![DEFAULT_EDGE_V4], 0));
    let to_cdn: Vec<bool> = fixture
        .internet
        .query_log()
        .iter()
        .filter(|q| [CDN_1, CDN_2].contains(&q.server.ip()))
        .map(|q| q.ecs().is_some())
        .collect();
    assert_eq!(
        to_cdn,
        vec![true, false],
        "one ECS query, then one plain retry"
    );
    // The server ignores subnets, so its answer is cached for everyone.
    assert!(
        ask_from(&recursor, WWW_CDN, RecordType::A, SF)
            .await
            .from_cache
    );
}

#[tokio::test(start_paused = true)]
async fn e13_formerr_to_ecs_is_retried_without_ecs() {
    let fixture = ecs_fixture();
    fixture.both_cdn(|h| h.set_reject_ecs(Some(ResponseCode::FormErr)));
    let recursor = cdn_allowed(&fixture);
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(addrs(&res), vec![DEFAULT_EDGE_V4]);
}

#[tokio::test(start_paused = true)]
async fn e16_delegations_and_nameserver_lookups_are_never_tailored() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    let now = tokio::time::Instant::now();
    assert!(
        recursor
            .cache()
            .rrset(&name("cdn.example."), RecordType::NS, Trust::Referral, now)
            .is_some()
    );
    // An NS question for the CDN zone, even with a subnet and an allowlisted server, is cached
    // for everyone.
    let ns = ask_from(&recursor, "cdn.example.", RecordType::NS, TOKYO).await;
    assert_eq!(ns.scope, 0);
    assert!(
        ask_from(&recursor, "cdn.example.", RecordType::NS, SF)
            .await
            .from_cache
    );
}

#[tokio::test(start_paused = true)]
async fn e17_a_subnets_negative_answer_never_hides_anothers_positive() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let sf = ask_from(&recursor, JP_ONLY_CDN, RecordType::A, SF).await;
    assert_eq!(sf.rcode, ResponseCode::NXDomain);
    assert_eq!(sf.scope, 24);
    let tokyo = ask_from(&recursor, JP_ONLY_CDN, RecordType::A, TOKYO).await;
    assert_eq!(tokyo.rcode, ResponseCode::NoError);
    assert_eq!(addrs(&tokyo), vec![TOKYO_EDGE_V4]);
    let sf_again = ask_from(&recursor, JP_ONLY_CDN, RecordType::A, SF).await;
    assert!(sf_again.from_cache);
    assert_eq!(sf_again.rcode, ResponseCode::NXDomain);
}

#[tokio::test(start_paused = true)]
async fn e18_chain_scope_is_the_longest_link() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    // Tailored CNAME into an untailored zone.
    let tokyo = ask_from(&recursor, MAP_CDN, RecordType::A, TOKYO).await;
    assert_eq!((addrs(&tokyo), tokyo.scope), (vec![TOKYO_EDGE_V4], 24));
    let sf = ask_from(&recursor, MAP_CDN, RecordType::A, SF).await;
    assert!(!sf.from_cache, "the tailored link is not San Francisco's");
    assert_eq!(addrs(&sf), vec![SF_EDGE_V4]);
    // Untailored CNAME into the CDN: the untailored link never makes the answer global.
    let shop_tokyo = ask_from(&recursor, "www.shop.example.", RecordType::A, TOKYO).await;
    assert_eq!(
        (addrs(&shop_tokyo), shop_tokyo.scope),
        (vec![TOKYO_EDGE_V4], 24)
    );
    let shop_sf = ask_from(&recursor, "www.shop.example.", RecordType::A, SF).await;
    assert_eq!((addrs(&shop_sf), shop_sf.scope), (vec![SF_EDGE_V4], 24));
    let shop_tokyo_again = ask_from(&recursor, "www.shop.example.", RecordType::A, TOKYO).await;
    assert!(shop_tokyo_again.from_cache);
    assert_eq!(
        (addrs(&shop_tokyo_again), shop_tokyo_again.scope),
        (vec![TOKYO_EDGE_V4], 24)
    );
}

#[tokio::test(start_paused = true)]
async fn e22_tailored_entry_expires_at_its_own_ttl() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    tokio::time::advance(Duration::from_secs(299)).await;
    let cached = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(cached.from_cache);
    assert_eq!(cached.answers[0].ttl, 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(
        !ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO)
            .await
            .from_cache
    );
}

#[tokio::test(start_paused = true)]
async fn e06_tcp_retry_after_truncation_keeps_the_subnet() {
    let fixture = ecs_fixture();
    for addr in [CDN_1, CDN_2] {
        fixture.internet.expect_server(addr).set_truncate_udp(true);
    }
    let recursor = cdn_allowed(&fixture);
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(addrs(&res), vec![TOKYO_EDGE_V4]);
    let to_cdn: Vec<_> = fixture
        .internet
        .query_log()
        .into_iter()
        .filter(|q| [CDN_1, CDN_2].contains(&q.server.ip()))
        .map(|q| (q.protocol, q.ecs().map(|e| e.prefix())))
        .collect();
    assert_eq!(to_cdn, vec![(Protocol::Udp, TOKYO), (Protocol::Tcp, TOKYO)]);
}

#[tokio::test(start_paused = true)]
async fn inflight_deduplication_never_gives_one_subnet_anothers_answer() {
    let fixture = ecs_fixture();
    for addr in [CDN_1, CDN_2] {
        fixture
            .internet
            .expect_server(addr)
            .set_delay(Duration::from_millis(50));
    }
    let recursor = cdn_allowed(&fixture);
    let tasks: Vec<_> = [TOKYO, SF, TOKYO, SF]
        .into_iter()
        .map(|subnet| {
            let recursor = recursor.clone();
            tokio::spawn(async move {
                (
                    subnet,
                    ask_from(&recursor, WWW_CDN, RecordType::A, subnet).await,
                )
            })
        })
        .collect();
    for task in tasks {
        let (subnet, res) = task.await.unwrap();
        let expected = if subnet == TOKYO {
            TOKYO_EDGE_V4
        } else {
            SF_EDGE_V4
        };
        assert_eq!(addrs(&res), vec![expected]);
    }
    assert_eq!(
        fixture.internet.queries_with_ecs().len(),
        2,
        "one upstream query per subnet"
    );
}

#[tokio::test(start_paused = true)]
async fn allowlist_reload_takes_effect_and_keeps_the_cache() {
    let fixture = ecs_fixture();
    let recursor = with_allowlist(&fixture.internet, "");
    ask_from(&recursor, STATIC_CDN, RecordType::A, TOKYO).await;
    assert!(fixture.internet.queries_with_ecs().is_empty());
    recursor.set_allowlist(Allowlist::parse("cdn.example.\n").unwrap());
    assert!(
        ask_from(&recursor, STATIC_CDN, RecordType::A, TOKYO)
            .await
            .from_cache,
        "cache kept"
    );
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(addrs(&res), vec![TOKYO_EDGE_V4]);
    assert_eq!(fixture.internet.queries_with_ecs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn e12_missing_echo_from_a_server_that_echoes_is_asked_again_once() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    // Both CDN servers echo: each is remembered as echoing.
    for (alive, dead) in [(CDN_1, CDN_2), (CDN_2, CDN_1)] {
        fixture.internet.expect_server(alive).set_dead(false);
        fixture.internet.expect_server(dead).set_dead(true);
        recursor.scoped_cache().clear();
        ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    }
    fixture.internet.expect_server(CDN_1).set_dead(false);
    // Now the echo goes missing (a forged or broken reply): asked again once, then accepted as
    // SCOPE 0 (E12) — not forever, and not as a tailored answer.
    fixture.both_cdn(|h| h.set_echo(Echo::Omit));
    fixture.internet.clear_query_log();
    let res = ask_from(&recursor, WIDE_CDN, RecordType::A, SF).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(res.scope, 0);
    let asked: Vec<_> = fixture
        .internet
        .query_log()
        .into_iter()
        .filter(|q| q.qname == name(WIDE_CDN) && [CDN_1, CDN_2].contains(&q.server.ip()))
        .collect();
    assert_eq!(asked.len(), 2, "one re-ask: {asked:?}");
    assert_eq!(
        asked[0].server, asked[1].server,
        "the same server asked again"
    );
    let reasks = recursor
        .stats()
        .ecs_suspicious_reasks
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(reasks, 1);
    // A server never seen echoing is expected to (it is allowlisted): its ECS-less answer is
    // taken only after one wait and one re-ask; then it is remembered as not echoing, and the
    // next question takes its ECS-less answer at once.
    let fresh = ecs_fixture();
    fresh.both_cdn(|h| h.set_echo(Echo::Omit));
    // One CDN server, so that both questions meet the same one.
    fresh.internet.expect_server(CDN_2).set_dead(true);
    let recursor = cdn_allowed(&fresh);
    let count = |qname: &str| {
        fresh
            .internet
            .query_log()
            .into_iter()
            .filter(|q| q.qname == name(qname) && q.server.ip() == CDN_1)
            .count()
    };
    let res = ask_from(&recursor, WIDE_CDN, RecordType::A, SF).await;
    assert_eq!((res.rcode, res.scope), (ResponseCode::NoError, 0));
    assert_eq!(count(WIDE_CDN), 2, "one wait for the echo, one re-ask");
    ask_from(&recursor, NARROW_CDN, RecordType::A, SF).await;
    assert_eq!(count(NARROW_CDN), 1, "remembered as not echoing");
}

#[tokio::test(start_paused = true)]
async fn e13_a_server_that_rejected_ecs_is_sent_none_for_a_while() {
    let fixture = ecs_fixture();
    fixture.both_cdn(|h| h.set_reject_ecs(Some(ResponseCode::Refused)));
    let recursor = cdn_allowed(&fixture);
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    let rejecting: Vec<IpAddr> = fixture
        .internet
        .query_log()
        .iter()
        .filter(|q| q.ecs().is_some())
        .map(|q| q.server.ip())
        .collect();
    assert_eq!(rejecting.len(), 1);
    // The same server (the other one silenced), other names: no ECS attempt this time.
    let other = if rejecting[0] == CDN_1 { CDN_2 } else { CDN_1 };
    fixture.internet.expect_server(other).set_dead(true);
    fixture.internet.clear_query_log();
    for qname in [WIDE_CDN, NARROW_CDN, MAP_CDN] {
        recursor.scoped_cache().clear();
        ask_from(&recursor, qname, RecordType::A, SF).await;
    }
    let asked = fixture.internet.queries_to(rejecting[0]);
    assert!(
        asked.len() >= 3,
        "the rejecting server answered the other names: {asked:?}"
    );
    for q in asked {
        assert!(q.ecs().is_none(), "{} was sent ECS again", q.qname);
    }
}

#[tokio::test(start_paused = true)]
async fn flush_removes_tailored_answers_too() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(
        ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO)
            .await
            .from_cache
    );
    recursor.flush(&name("cdn.example."), true);
    let again = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(!again.from_cache);
    assert_eq!(addrs(&again), vec![TOKYO_EDGE_V4]);
}

#[tokio::test(start_paused = true)]
async fn e06_prefetch_of_a_tailored_entry_sends_the_client_subnet_at_full_length() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    // wide.cdn.example. answers with SCOPE 16: cached for 198.51.0.0/16.
    let res = ask_from(&recursor, WIDE_CDN, RecordType::A, TOKYO).await;
    assert_eq!(res.scope, 16);
    tokio::time::advance(Duration::from_secs(280)).await;
    fixture.internet.clear_query_log();
    // Another /24 inside that /16 hits it in its last tenth.
    let neighbour = net("198.51.7.0/24");
    let res = ask_from(&recursor, WIDE_CDN, RecordType::A, neighbour).await;
    assert!(res.from_cache);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent: Vec<_> = fixture
        .internet
        .queries_with_ecs()
        .into_iter()
        .filter_map(|q| q.client_subnet())
        .collect();
    assert_eq!(sent.len(), 1, "one refresh, with ECS: {sent:?}");
    assert_eq!(
        sent[0].source_prefix(),
        24,
        "the full /24, not the /16 scope"
    );
    assert_eq!(IpNet::new(sent[0].addr(), 24).ok(), neighbour);
}

#[tokio::test(start_paused = true)]
async fn e06_stale_tailored_answer_is_served_only_to_its_subnet() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    assert_eq!(
        addrs(&ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await),
        vec![TOKYO_EDGE_V4]
    );
    tokio::time::advance(Duration::from_secs(301)).await;
    for addr in [CDN_1, CDN_2] {
        fixture.internet.expect_server(addr).set_dead(true);
    }
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert!(res.stale);
    assert_eq!(addrs(&res), vec![TOKYO_EDGE_V4]);
    assert_eq!(res.scope, 24);
    // San Francisco never gets Tokyo's stale answer.
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, SF).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
}

fn rendered_every(qname: &str) -> (scoped_recursor::WireKey, scoped_recursor::WireAnswer) {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    let mut message = Message::new(1, MessageType::Response, OpCode::Query);
    message.add_query(Query::query(name(qname), RecordType::A));
    message.add_answer(hickory_proto::rr::Record::from_rdata(
        name(qname),
        300,
        RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 100)),
    ));
    let answer = scoped_recursor::WireAnswer::from_response(&message.to_vec().unwrap(), 0).unwrap();
    let key = scoped_recursor::WireKey::new(
        &name(qname),
        RecordType::A,
        scoped_recursor::WireClients::Every,
    );
    (key, answer)
}

#[tokio::test(start_paused = true)]
async fn e19_only_an_untailored_answer_is_marked_the_same_for_every_client() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let tailored = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(tailored.scope, 24);
    assert!(!tailored.for_every_client);
    // The same name without a subnet: scope 0, yet Tokyo has its own answer, so not for all.
    let default = ask_from(&recursor, WWW_CDN, RecordType::A, None).await;
    assert_eq!(default.scope, 0);
    assert_eq!(addrs(&default), vec![DEFAULT_EDGE_V4]);
    assert!(!default.for_every_client);
    let global = ask_from(&recursor, STATIC_CDN, RecordType::A, TOKYO).await;
    assert_eq!(global.scope, 0);
    assert!(global.for_every_client, "scope 0, nothing tailored for it");
    let hit = ask_from(&recursor, STATIC_CDN, RecordType::A, SF).await;
    assert!(hit.from_cache && hit.for_every_client);
    // A chain is never marked: a link may become tailored while its head's rendering lives.
    let chain = ask_from(&recursor, WWW_SHOP, RecordType::A, TOKYO).await;
    assert!(!chain.for_every_client);
}

#[tokio::test(start_paused = true)]
async fn e19_caching_something_tailored_drops_the_names_answers_for_every_client() {
    use scoped_recursor::Resolve;
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let (key, answer) = rendered_every(WWW_CDN);
    recursor.keep_wire_answer(key, answer);
    let wire_name = scoped_cache::lowercase_wire(&name(WWW_CDN));
    let lookup = scoped_recursor::WireKeyRef {
        name: &wire_name,
        qtype: 1,
        clients: TOKYO.into(),
        dnssec: 0,
    };
    assert!(
        recursor
            .wire_answer(&lookup, tokio::time::Instant::now())
            .is_some(),
        "any subnet gets it"
    );
    // Tokyo's own answer arrives, tailored: the rendering for every client goes.
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    assert_eq!(res.scope, 24);
    assert!(
        recursor
            .wire_answer(&lookup, tokio::time::Instant::now())
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn e16_priming_never_carries_the_client_subnet_even_to_an_allowlisted_root() {
    let fixture = ecs_fixture();
    // The root allowlisted: priming (`. NS`) happens during a Tokyo client's question.
    let recursor = with_allowlist(&fixture.internet, ".\n");
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    let priming: Vec<_> = fixture
        .internet
        .ecs_sent_to(ECS_ROOT)
        .into_iter()
        .filter(|(qname, _)| qname.is_root())
        .collect();
    assert!(!priming.is_empty(), "the root was primed");
    assert!(priming.iter().all(|(_, ecs)| ecs.is_none()), "{priming:?}");
}

#[tokio::test(start_paused = true)]
async fn e02_the_audit_shows_how_many_subnet_bits_each_server_was_sent() {
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    ask_from(&recursor, WWW_CDN, RecordType::AAAA, Some(TOKYO_V6)).await;
    ask_from(&recursor, WWW_OTHER, RecordType::A, TOKYO).await; // not allowlisted: nothing sent
    let audit = recursor.ecs_sent_by_server();
    let queries: u64 = audit.iter().map(|(_, sent)| sent.queries).sum();
    let bits: u64 = audit.iter().map(|(_, sent)| sent.bits).sum();
    assert_eq!((queries, bits), (2, 24 + 56), "{audit:?}");
    assert!(
        audit.iter().all(|(addr, _)| [CDN_1, CDN_2].contains(addr)),
        "{audit:?}"
    );
    assert_eq!(audit.iter().map(|(_, s)| s.max_bits).max(), Some(56));
    // The audit agrees with what the CDN's servers actually received.
    let received: usize = [CDN_1, CDN_2]
        .iter()
        .map(|&server| {
            fixture
                .internet
                .ecs_sent_to(server)
                .iter()
                .filter(|(_, ecs)| ecs.is_some())
                .count()
        })
        .sum();
    assert_eq!(received as u64, queries);
}

/// A rendered answer for `qname` A, as the front end would keep it.
fn rendered(qname: &str) -> scoped_recursor::WireAnswer {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::Record;
    let mut message = Message::new(1, MessageType::Response, OpCode::Query);
    message.add_query(Query::query(name(qname), RecordType::A));
    let a = RData::A(hickory_proto::rr::rdata::A(std::net::Ipv4Addr::new(
        192, 0, 2, 1,
    )));
    message.add_answer(Record::from_rdata(name(qname), 300, a));
    scoped_recursor::WireAnswer::from_response(&message.to_vec().unwrap(), 0).unwrap()
}

#[tokio::test(start_paused = true)]
async fn e19_a_tailored_24_drops_only_the_rendered_answers_it_changes() {
    use scoped_recursor::{Resolve, WireClients, WireKey, WireKeyRef};
    let fixture = ecs_fixture();
    let recursor = cdn_allowed(&fixture);
    let wire_name = scoped_cache::lowercase_wire(&name(WWW_CDN));
    let clients = |subnet: Option<IpNet>| subnet.map_or(WireClients::Every, WireClients::Subnet);
    let keep = |subnet| {
        let key = WireKey::new(&name(WWW_CDN), RecordType::A, clients(subnet));
        recursor.keep_wire_answer(key, rendered(WWW_CDN));
    };
    let rendered_for = |subnet| {
        let key = WireKeyRef {
            name: &wire_name,
            qtype: 1,
            clients: clients(subnet),
            dnssec: 0,
        };
        // `lookup` falls back to the answer for every client: ask for the exact entry.
        let held = recursor.wire_answer(&key, tokio::time::Instant::now());
        held.is_some_and(|_| {
            subnet.is_none() || {
                let every = WireKeyRef {
                    clients: WireClients::Every,
                    ..key
                };
                recursor
                    .wire_answer(&every, tokio::time::Instant::now())
                    .is_none()
            }
        })
    };
    ask_from(&recursor, WWW_CDN, RecordType::A, TOKYO).await;
    keep(TOKYO);
    assert!(rendered_for(TOKYO));
    // San Francisco's /24 is cached: Tokyo's rendered answer is still right and stays.
    ask_from(&recursor, WWW_CDN, RecordType::A, SF).await;
    assert!(rendered_for(TOKYO), "another /24 does not cover Tokyo");
    // An answer rendered for every client is wrong once anything is tailored for the name.
    keep(None);
    keep(SF);
    ask_from(&recursor, WWW_CDN, RecordType::A, net("198.51.9.0/24")).await;
    let every = WireKeyRef {
        name: &wire_name,
        qtype: 1,
        clients: WireClients::Every,
        dnssec: 0,
    };
    assert!(
        recursor
            .wire_answer(&every, tokio::time::Instant::now())
            .is_none(),
        "the answer for every client went"
    );
    assert!(rendered_for(SF) && rendered_for(TOKYO));
    // A /16 covers /24s it cannot name one by one: every rendered answer of the name goes.
    fixture.both_cdn(|h| h.set_scope(WWW_CDN, 16));
    ask_from(&recursor, WWW_CDN, RecordType::A, net("198.51.7.0/24")).await;
    assert!(!rendered_for(TOKYO), "the /16 covers Tokyo's /24");
    assert!(!rendered_for(SF));
}
