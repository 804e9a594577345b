use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME, SOA};

use super::*;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn a(owner: &str, ttl: u32, last: u8) -> Record {
    Record::from_rdata(
        name(owner),
        ttl,
        RData::A(A(Ipv4Addr::new(192, 0, 2, last))),
    )
}

fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
}

fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
    let data = SOA::new(
        name("ns.example."),
        name("host.example."),
        1,
        7200,
        900,
        1_209_600,
        minimum,
    );
    Record::from_rdata(name(zone), ttl, RData::SOA(data))
}

fn cache() -> RecordCache {
    RecordCache::new(CacheConfig::default())
}

#[tokio::test(start_paused = true)]
async fn ttl_counts_down_and_entry_expires() {
    let cache = cache();
    let t0 = Instant::now();
    cache.insert_rrset(
        vec![a("www.example.", 300, 1)],
        Trust::AuthoritativeAnswer,
        t0,
    );
    let got = cache
        .rrset(&name("www.example."), RecordType::A, Trust::Answer, t0)
        .unwrap();
    assert_eq!(got[0].ttl, 300);
    tokio::time::advance(Duration::from_secs(100)).await;
    let got = cache.rrset(
        &name("www.example."),
        RecordType::A,
        Trust::Answer,
        Instant::now(),
    );
    assert_eq!(got.unwrap()[0].ttl, 200);
    tokio::time::advance(Duration::from_secs(200)).await;
    assert!(
        cache
            .rrset(
                &name("www.example."),
                RecordType::A,
                Trust::Answer,
                Instant::now()
            )
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn keys_are_case_insensitive() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![a("WWW.Example.", 60, 1)],
        Trust::AuthoritativeAnswer,
        now,
    );
    assert!(
        cache
            .rrset(&name("www.EXAMPLE."), RecordType::A, Trust::Answer, now)
            .is_some()
    );
}

/// Keys carry their own hash and compare it first: equal keys must hash alike (whatever the
/// case), and a key must differ from one of another name, type or class, including names whose
/// labels hold the same bytes split differently.
#[test]
fn keys_hash_alike_when_equal_and_differ_otherwise() {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hash = |key: &CacheKey| BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    let upper = CacheKey::rrset(&name("WWW.Example."), RecordType::A, DNSClass::IN);
    let lower = CacheKey::rrset(&name("www.example."), RecordType::A, DNSClass::IN);
    assert_eq!(upper, lower);
    assert_eq!(hash(&upper), hash(&lower));
    for other in [
        CacheKey::rrset(&name("www.example."), RecordType::AAAA, DNSClass::IN),
        CacheKey::rrset(&name("www.example."), RecordType::A, DNSClass::CH),
        CacheKey::name_error(&name("www.example."), DNSClass::IN),
        CacheKey::rrset(&name("ww.wexample."), RecordType::A, DNSClass::IN),
        CacheKey::rrset(&name("www.example.com."), RecordType::A, DNSClass::IN),
    ] {
        assert_ne!(lower, other, "{other:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn rrset_ttl_is_the_smallest_and_clamped() {
    let cache = RecordCache::new(CacheConfig {
        min_ttl: 30,
        max_ttl: 1000,
        ..CacheConfig::default()
    });
    let now = Instant::now();
    cache.insert_rrset(
        vec![a("x.example.", 5000, 1), a("x.example.", 4000, 2)],
        Trust::Answer,
        now,
    );
    let got = cache
        .rrset(&name("x.example."), RecordType::A, Trust::Answer, now)
        .unwrap();
    assert!(got.iter().all(|r| r.ttl == 1000), "{got:?}");
    cache.insert_rrset(vec![a("y.example.", 1, 1)], Trust::Answer, now);
    let got = cache
        .rrset(&name("y.example."), RecordType::A, Trust::Answer, now)
        .unwrap();
    assert_eq!(got[0].ttl, 30);
}

#[tokio::test(start_paused = true)]
async fn zero_ttl_is_not_cached() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![a("zero.example.", 0, 1)],
        Trust::AuthoritativeAnswer,
        now,
    );
    assert!(
        cache
            .rrset(&name("zero.example."), RecordType::A, Trust::Glue, now)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn glue_never_answers_clients() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(vec![a("ns1.example.", 3600, 1)], Trust::Glue, now);
    assert!(
        cache
            .rrset(&name("ns1.example."), RecordType::A, Trust::Glue, now)
            .is_some()
    );
    assert!(
        cache
            .answer(&name("ns1.example."), RecordType::A, 8, now)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn lower_trust_does_not_replace_higher_trust() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![a("ns1.example.", 3600, 1)],
        Trust::AuthoritativeAnswer,
        now,
    );
    cache.insert_rrset(vec![a("ns1.example.", 3600, 99)], Trust::Glue, now);
    let got = cache
        .rrset(&name("ns1.example."), RecordType::A, Trust::Glue, now)
        .unwrap();
    assert_eq!(got[0].data, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))));
    // Higher or equal trust does replace.
    cache.insert_rrset(
        vec![a("ns1.example.", 3600, 7)],
        Trust::AuthoritativeAnswer,
        now,
    );
    let got = cache
        .rrset(&name("ns1.example."), RecordType::A, Trust::Glue, now)
        .unwrap();
    assert_eq!(got[0].data, RData::A(A(Ipv4Addr::new(192, 0, 2, 7))));
}

#[tokio::test(start_paused = true)]
async fn expired_higher_trust_is_replaced_by_lower() {
    let cache = cache();
    cache.insert_rrset(
        vec![a("ns1.example.", 10, 1)],
        Trust::AuthoritativeAnswer,
        Instant::now(),
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    let now = Instant::now();
    cache.insert_rrset(vec![a("ns1.example.", 3600, 2)], Trust::Glue, now);
    let got = cache
        .rrset(&name("ns1.example."), RecordType::A, Trust::Glue, now)
        .unwrap();
    assert_eq!(got[0].data, RData::A(A(Ipv4Addr::new(192, 0, 2, 2))));
}

#[test]
fn negative_ttl_is_min_of_soa_ttl_and_minimum() {
    assert_eq!(negative_ttl(&soa("example.", 3600, 60)), Some(60));
    assert_eq!(negative_ttl(&soa("example.", 30, 600)), Some(30));
    assert_eq!(negative_ttl(&a("example.", 30, 1)), None);
}

#[tokio::test(start_paused = true)]
async fn nxdomain_is_cached_for_the_negative_ttl_and_covers_every_type() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_negative(&name("nope.example."), None, soa("example.", 3600, 60), now);
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::MX] {
        let answer = cache.answer(&name("nope.example."), qtype, 8, now).unwrap();
        let AnswerEnd::Negative { rcode, soa } = answer.end else {
            panic!("{answer:?}")
        };
        assert_eq!(rcode, ResponseCode::NXDomain);
        assert_eq!(soa.ttl, 60);
    }
    tokio::time::advance(Duration::from_secs(45)).await;
    let answer = cache
        .answer(&name("nope.example."), RecordType::A, 8, Instant::now())
        .unwrap();
    let AnswerEnd::Negative { soa, .. } = answer.end else {
        panic!()
    };
    assert_eq!(soa.ttl, 15, "the SOA's TTL counts down too");
    tokio::time::advance(Duration::from_secs(15)).await;
    assert!(
        cache
            .answer(&name("nope.example."), RecordType::A, 8, Instant::now())
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn negative_ttl_is_capped_by_configuration() {
    let cache = RecordCache::new(CacheConfig {
        max_negative_ttl: 20,
        ..CacheConfig::default()
    });
    let now = Instant::now();
    cache.insert_negative(
        &name("nope.example."),
        None,
        soa("example.", 3600, 900),
        now,
    );
    let answer = cache
        .answer(&name("nope.example."), RecordType::A, 8, now)
        .unwrap();
    let AnswerEnd::Negative { soa, .. } = answer.end else {
        panic!()
    };
    assert_eq!(soa.ttl, 20);
}

#[tokio::test(start_paused = true)]
async fn nodata_is_per_type() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_negative(
        &name("www.example."),
        Some(RecordType::AAAA),
        soa("example.", 300, 300),
        now,
    );
    let answer = cache
        .answer(&name("www.example."), RecordType::AAAA, 8, now)
        .unwrap();
    assert!(matches!(
        answer.end,
        AnswerEnd::Negative {
            rcode: ResponseCode::NoError,
            ..
        }
    ));
    assert!(
        cache
            .answer(&name("www.example."), RecordType::A, 8, now)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn negative_without_soa_is_not_cached() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_negative(&name("nope.example."), None, a("example.", 300, 1), now);
    assert!(
        cache
            .answer(&name("nope.example."), RecordType::A, 8, now)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn answer_follows_cname_links() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![cname("www.example.", 300, "edge.cdn.example.")],
        Trust::AuthoritativeAnswer,
        now,
    );
    cache.insert_rrset(
        vec![a("edge.cdn.example.", 60, 9)],
        Trust::AuthoritativeAnswer,
        now,
    );
    let answer = cache
        .answer(&name("www.example."), RecordType::A, 8, now)
        .unwrap();
    assert_eq!(answer.links.len(), 1);
    let AnswerEnd::Records(records) = answer.end else {
        panic!()
    };
    assert_eq!(records[0].name, name("edge.cdn.example."));
}

#[tokio::test(start_paused = true)]
async fn answer_for_cname_type_does_not_follow() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![cname("www.example.", 300, "edge.example.")],
        Trust::AuthoritativeAnswer,
        now,
    );
    let answer = cache
        .answer(&name("www.example."), RecordType::CNAME, 8, now)
        .unwrap();
    assert!(answer.links.is_empty());
    assert!(matches!(answer.end, AnswerEnd::Records(_)));
}

#[tokio::test(start_paused = true)]
async fn partial_chain_says_where_to_continue() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![cname("www.example.", 300, "edge.other.")],
        Trust::AuthoritativeAnswer,
        now,
    );
    let answer = cache
        .answer(&name("www.example."), RecordType::A, 8, now)
        .unwrap();
    assert_eq!(answer.end, AnswerEnd::Continue(name("edge.other.")));
}

#[tokio::test(start_paused = true)]
async fn cname_loop_in_cache_stops_where_it_comes_back() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![cname("a.example.", 300, "b.example.")],
        Trust::AuthoritativeAnswer,
        now,
    );
    cache.insert_rrset(
        vec![cname("b.example.", 300, "a.example.")],
        Trust::AuthoritativeAnswer,
        now,
    );
    let answer = cache
        .answer(&name("a.example."), RecordType::A, 8, now)
        .unwrap();
    assert_eq!(answer.links.len(), 2);
    assert_eq!(answer.end, AnswerEnd::Continue(name("a.example.")));
    assert!(revisits(&answer.links, &name("a.example.")));
}

#[tokio::test(start_paused = true)]
async fn a_long_chain_in_cache_is_bounded() {
    let cache = cache();
    let now = Instant::now();
    for i in 0..12 {
        cache.insert_rrset(
            vec![cname(
                &format!("c{i}.example."),
                300,
                &format!("c{}.example.", i + 1),
            )],
            Trust::AuthoritativeAnswer,
            now,
        );
    }
    let answer = cache
        .answer(&name("c0.example."), RecordType::A, 8, now)
        .unwrap();
    assert_eq!(answer.links.len(), 8);
    assert_eq!(answer.end, AnswerEnd::Continue(name("c8.example.")));
}

#[tokio::test(start_paused = true)]
async fn a_cached_dname_synthesises_a_cname_for_names_below_it() {
    let cache = cache();
    let now = Instant::now();
    let dname = dname::dname_record(name("old.example."), 300, &name("new.example."));
    cache.insert_rrset(vec![dname.clone()], Trust::AuthoritativeAnswer, now);
    cache.insert_rrset(
        vec![a("www.new.example.", 600, 7)],
        Trust::AuthoritativeAnswer,
        now,
    );
    tokio::time::advance(Duration::from_secs(100)).await;
    let now = Instant::now();
    let answer = cache
        .answer(&name("www.old.example."), RecordType::A, 8, now)
        .unwrap();
    assert_eq!(
        answer
            .links
            .iter()
            .map(|r| r.record_type())
            .collect::<Vec<_>>(),
        vec![RecordType::DNAME, RecordType::CNAME]
    );
    // The synthesised CNAME has what is left of the DNAME's TTL (RFC 6672 §3.4).
    assert_eq!(answer.links[0].ttl, 200);
    assert_eq!(
        answer.links[1],
        cname("www.old.example.", 200, "www.new.example.")
    );
    let AnswerEnd::Records(records) = answer.end else {
        panic!("{:?}", answer.end)
    };
    assert_eq!(records[0].name, name("www.new.example."));
    assert_eq!(hops(&answer.links), 1);
    // The owner itself is not redirected: nothing is known about it.
    assert_eq!(
        cache.answer(&name("old.example."), RecordType::A, 8, now),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_cname_question_below_a_dname_is_answered_by_the_synthesised_cname() {
    let cache = cache();
    let now = Instant::now();
    let dname = dname::dname_record(name("old.example."), 300, &name("new.example."));
    cache.insert_rrset(vec![dname], Trust::AuthoritativeAnswer, now);
    let answer = cache
        .answer(&name("www.old.example."), RecordType::CNAME, 8, now)
        .unwrap();
    assert_eq!(answer.links.len(), 1);
    assert_eq!(
        answer.end,
        AnswerEnd::Records(vec![cname("www.old.example.", 300, "www.new.example.")])
    );
}

#[tokio::test(start_paused = true)]
async fn a_dname_making_a_name_too_long_ends_the_chain() {
    let cache = cache();
    let now = Instant::now();
    let long = format!("{}.{}.{}.", "a".repeat(63), "b".repeat(63), "c".repeat(63));
    let dname = dname::dname_record(name("x.example."), 300, &name(&long));
    cache.insert_rrset(vec![dname], Trust::AuthoritativeAnswer, now);
    let question = name(&format!("{}.x.example.", "d".repeat(63)));
    let answer = cache.answer(&question, RecordType::A, 8, now).unwrap();
    assert_eq!(answer.end, AnswerEnd::NameTooLong);
    assert_eq!(answer.links.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn glue_grade_dnames_do_not_answer() {
    let cache = cache();
    let now = Instant::now();
    let dname = dname::dname_record(name("old.example."), 300, &name("new.example."));
    cache.insert_rrset(vec![dname], Trust::Glue, now);
    assert_eq!(
        cache.answer(&name("www.old.example."), RecordType::A, 8, now),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn memory_is_bounded_in_bytes() {
    let max_bytes = 200_000;
    let cache = RecordCache::new(CacheConfig {
        max_bytes,
        ..CacheConfig::default()
    });
    let now = Instant::now();
    for i in 0..5_000 {
        cache.insert_rrset(
            vec![a(&format!("host{i}.example."), 3600, 1)],
            Trust::Answer,
            now,
        );
    }
    assert!(
        cache.weighted_bytes() <= max_bytes,
        "{} > {max_bytes}",
        cache.weighted_bytes()
    );
    assert!(cache.entry_count() < 5_000);
    // The newest answer always gets in (LRU admission, not TinyLFU).
    cache.insert_rrset(vec![a("newest.example.", 3600, 1)], Trust::Answer, now);
    assert!(
        cache
            .rrset(&name("newest.example."), RecordType::A, Trust::Answer, now)
            .is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn rfc8020_nxdomain_covers_the_names_below() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_negative(&name("gone.example."), None, soa("example.", 3600, 60), now);
    for below in ["a.gone.example.", "b.a.gone.example."] {
        let answer = cache.answer(&name(below), RecordType::A, 8, now).unwrap();
        assert!(
            matches!(
                answer.end,
                AnswerEnd::Negative {
                    rcode: ResponseCode::NXDomain,
                    ..
                }
            ),
            "{below}"
        );
    }
    // Not above it, and not beside it.
    assert!(
        cache
            .answer(&name("example."), RecordType::A, 8, now)
            .is_none()
    );
    assert!(
        cache
            .answer(&name("other.example."), RecordType::A, 8, now)
            .is_none()
    );
    // It ends with the NXDOMAIN's own TTL.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(
        cache
            .answer(&name("a.gone.example."), RecordType::A, 8, Instant::now())
            .is_none()
    );
}

fn step_ttl(step: &AnswerStep) -> u32 {
    match step {
        AnswerStep::Records(records) => records[0].ttl,
        AnswerStep::Negative(_, soa) => soa.ttl,
        AnswerStep::Cname(link, _) => link.ttl,
        AnswerStep::Dname { dname, .. } => dname.ttl,
    }
}

#[tokio::test(start_paused = true)]
async fn stale_read_serves_expired_data_with_ttl_30_until_max_stale() {
    let cache = RecordCache::new(CacheConfig {
        max_stale: 600,
        ..CacheConfig::default()
    });
    let www = name("www.example.");
    cache.insert_rrset(
        vec![a("www.example.", 60, 1)],
        Trust::AuthoritativeAnswer,
        Instant::now(),
    );
    // Alive: a stale read sees the live TTL, not 30.
    let (step, _) = cache
        .step(&www, RecordType::A, Instant::now(), Read::Stale)
        .unwrap();
    assert_eq!(step_ttl(&step), 60);
    tokio::time::advance(Duration::from_secs(61)).await;
    let now = Instant::now();
    assert!(cache.answer_step(&www, RecordType::A, now).is_none());
    assert!(cache.step(&www, RecordType::A, now, Read::Hit).is_none());
    let (step, refresh) = cache.step(&www, RecordType::A, now, Read::Stale).unwrap();
    assert_eq!(step_ttl(&step), STALE_TTL);
    assert!(!refresh, "a stale read claims nothing");
    // 60 s TTL + 600 s of stale window, then gone for good.
    tokio::time::advance(Duration::from_secs(598)).await;
    assert!(
        cache
            .step(&www, RecordType::A, Instant::now(), Read::Stale)
            .is_some()
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(
        cache
            .step(&www, RecordType::A, Instant::now(), Read::Stale)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn stale_read_covers_negative_answers_and_cname_links() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_negative(&name("gone.example."), None, soa("example.", 60, 60), now);
    cache.insert_rrset(
        vec![cname("alias.example.", 60, "www.example.")],
        Trust::AuthoritativeAnswer,
        now,
    );
    tokio::time::advance(Duration::from_secs(120)).await;
    let now = Instant::now();
    let (step, _) = cache
        .step(&name("a.gone.example."), RecordType::A, now, Read::Stale)
        .unwrap();
    assert!(matches!(
        step,
        AnswerStep::Negative(ResponseCode::NXDomain, _)
    ));
    let (step, _) = cache
        .step(&name("alias.example."), RecordType::A, now, Read::Stale)
        .unwrap();
    assert!(matches!(step, AnswerStep::Cname(..)));
    assert_eq!(step_ttl(&step), STALE_TTL);
}

/// A live step that finds nothing says whether it looked at any entry at all: where it saw
/// none, a stale step finds nothing either; where a stale step finds something, it saw one.
#[tokio::test(start_paused = true)]
async fn a_step_says_whether_it_saw_any_entry() {
    let cache = RecordCache::new(CacheConfig {
        max_stale: 600,
        ..CacheConfig::default()
    });
    let now = Instant::now();
    cache.insert_rrset(
        vec![a("www.example.", 60, 1)],
        Trust::AuthoritativeAnswer,
        now,
    );
    cache.insert_rrset(vec![a("ns.example.", 60, 2)], Trust::Glue, now);
    cache.insert_negative(&name("gone.example."), None, soa("example.", 60, 60), now);
    cache.insert_rrset(
        vec![cname("alias.example.", 60, "www.example.")],
        Trust::AuthoritativeAnswer,
        now,
    );
    // (owner, type, whether a stale step finds something once all has expired, whether the
    // live step sees an entry then).
    let questions = [
        ("www.example.", RecordType::A, true, true),
        ("www.example.", RecordType::AAAA, false, false),
        ("a.gone.example.", RecordType::A, true, true),
        ("alias.example.", RecordType::A, true, true),
        ("alias.example.", RecordType::CNAME, true, true),
        // Glue answers no client, stale or not; seen all the same.
        ("ns.example.", RecordType::A, false, true),
        ("new.example.", RecordType::A, false, false),
    ];
    tokio::time::advance(Duration::from_secs(120)).await;
    let now = Instant::now();
    for (owner, rtype, stale, expect_seen) in questions {
        let seen = std::cell::Cell::new(false);
        let key = CacheKey::rrset(&name(owner), rtype, DNSClass::IN);
        let live = cache.step_seen(&name(owner), &key, now, Read::Hit, &seen);
        assert!(live.is_none(), "{owner} {rtype}: expired");
        assert_eq!(seen.get(), expect_seen, "{owner} {rtype}: seen");
        let found = cache.step(&name(owner), rtype, now, Read::Stale).is_some();
        assert_eq!(found, stale, "{owner} {rtype}: a stale step");
        assert!(seen.get() || !found, "{owner} {rtype}: stale data unseen");
    }
}

#[tokio::test(start_paused = true)]
async fn serve_stale_off_keeps_nothing_past_the_ttl() {
    let cache = RecordCache::new(CacheConfig {
        max_stale: 0,
        ..CacheConfig::default()
    });
    cache.insert_rrset(
        vec![a("www.example.", 60, 1)],
        Trust::AuthoritativeAnswer,
        Instant::now(),
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(
        cache
            .step(
                &name("www.example."),
                RecordType::A,
                Instant::now(),
                Read::Stale
            )
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn a_hit_in_the_last_tenth_of_the_ttl_claims_one_refresh() {
    let cache = cache();
    let www = name("www.example.");
    cache.insert_rrset(
        vec![a("www.example.", 100, 1)],
        Trust::AuthoritativeAnswer,
        Instant::now(),
    );
    // 89 s in: 11 s left of 100, outside the 10% window.
    tokio::time::advance(Duration::from_secs(89)).await;
    let (_, refresh) = cache
        .step(&www, RecordType::A, Instant::now(), Read::Hit)
        .unwrap();
    assert!(!refresh);
    // 90 s in: 10 s left, inside it. The first hit claims, the next ones do not.
    tokio::time::advance(Duration::from_secs(1)).await;
    let now = Instant::now();
    assert!(cache.step(&www, RecordType::A, now, Read::Hit).unwrap().1);
    assert!(!cache.step(&www, RecordType::A, now, Read::Hit).unwrap().1);
    // Plain reads never claim.
    assert!(!cache.step(&www, RecordType::A, now, Read::Live).unwrap().1);
    // A fresh copy of the entry may be claimed again when its own window comes.
    cache.insert_rrset(
        vec![a("www.example.", 100, 1)],
        Trust::AuthoritativeAnswer,
        now,
    );
    tokio::time::advance(Duration::from_secs(95)).await;
    assert!(
        cache
            .step(&www, RecordType::A, Instant::now(), Read::Hit)
            .unwrap()
            .1
    );
}

#[tokio::test(start_paused = true)]
async fn prefetch_percent_zero_never_claims() {
    let cache = RecordCache::new(CacheConfig {
        prefetch_percent: 0,
        ..CacheConfig::default()
    });
    cache.insert_rrset(
        vec![a("www.example.", 100, 1)],
        Trust::AuthoritativeAnswer,
        Instant::now(),
    );
    tokio::time::advance(Duration::from_secs(99)).await;
    let (_, refresh) = cache
        .step(
            &name("www.example."),
            RecordType::A,
            Instant::now(),
            Read::Hit,
        )
        .unwrap();
    assert!(!refresh);
}

#[test]
fn presence_counts_nxdomain_and_cname_keys_in_and_out() {
    let cache = cache();
    let now = Instant::now();
    let nx = CacheKey::name_error(&name("nope.example."), DNSClass::IN);
    let alias = CacheKey::rrset(&name("www.example."), RecordType::CNAME, DNSClass::IN);
    assert!(!cache.presence.may_hold(nx.hash) && !cache.presence.may_hold(alias.hash));
    cache.insert_negative(&name("nope.example."), None, soa("example.", 3600, 60), now);
    cache.insert_rrset(
        vec![cname("www.example.", 300, "web.example.")],
        Trust::Answer,
        now,
    );
    // Replacing an entry counts the new one in and (through the table's lifecycle hook) the
    // old one out.
    cache.insert_negative(&name("nope.example."), None, soa("example.", 3600, 60), now);
    assert!(cache.presence.may_hold(nx.hash) && cache.presence.may_hold(alias.hash));
    assert!(matches!(
        cache.answer_step(&name("a.nope.example."), RecordType::A, now),
        Some(AnswerStep::Negative(ResponseCode::NXDomain, _))
    ));
    cache.flush(&name("example."), true);
    assert!(
        !cache.presence.may_hold(nx.hash) && !cache.presence.may_hold(alias.hash),
        "every entry counted in was counted out"
    );
}

#[test]
fn validation_combines_to_the_weakest_part() {
    use Validation::*;
    assert_eq!(Secure.combine(Secure), Secure);
    assert_eq!(Secure.combine(Insecure), Insecure);
    assert_eq!(Indeterminate.combine(Secure), Indeterminate);
    assert_eq!(Insecure.combine(Indeterminate), Insecure);
    assert_eq!(Secure.combine(Unchecked), Unchecked);
    assert_eq!(Unchecked.combine(Insecure), Unchecked);
    assert_eq!(std::mem::size_of::<Validation>(), 1);
}

#[tokio::test(start_paused = true)]
async fn entries_keep_what_validation_said() {
    let cache = cache();
    let now = Instant::now();
    cache.insert_rrset(
        vec![a("plain.example.", 300, 1)],
        Trust::AuthoritativeAnswer,
        now,
    );
    cache.insert_rrset_checked(
        vec![a("www.example.", 300, 1)],
        Trust::AuthoritativeAnswer,
        Validation::Secure,
        now,
    );
    cache.insert_negative_checked(
        &name("gone.example."),
        None,
        soa("example.", 300, 300),
        Validation::Insecure,
        now,
    );
    let status = |n: &str| {
        cache
            .step_checked(&name(n), RecordType::A, now, Read::Live)
            .map(|(_, _, v)| v)
    };
    assert_eq!(status("plain.example."), Some(Validation::Unchecked));
    assert_eq!(status("www.example."), Some(Validation::Secure));
    // The NXDOMAIN answers for names below it (RFC 8020) with its status.
    assert_eq!(status("below.gone.example."), Some(Validation::Insecure));
    // Stored again unchecked (a CD client's fetch), the entry says so.
    cache.insert_rrset(
        vec![a("www.example.", 300, 1)],
        Trust::AuthoritativeAnswer,
        now,
    );
    assert_eq!(status("www.example."), Some(Validation::Unchecked));
}

#[tokio::test(start_paused = true)]
async fn tailored_entries_keep_what_validation_said() {
    let scoped = ScopedCache::new(ScopedCacheConfig::default());
    let now = Instant::now();
    let key = CacheKey::rrset(&name("www.example."), RecordType::A, DNSClass::IN);
    let scope = scoped_ecs::CacheScope::Covering("192.0.2.0/24".parse().unwrap());
    let data = || CachedData::Rrset {
        records: vec![a("www.example.", 300, 1)],
        trust: Trust::AuthoritativeAnswer,
    };
    scoped.insert_checked(key.clone(), scope, data(), Validation::Secure, now);
    let client = Some("192.0.2.7/32".parse().unwrap());
    let hit = scoped.get(&key, client, now).expect("a hit");
    assert_eq!(hit.validation, Validation::Secure);
    // The same records, unchecked, replace the secure entry: not the same data.
    scoped.insert(key.clone(), scope, data(), now);
    let hit = scoped.get(&key, client, now).expect("a hit");
    assert_eq!(hit.validation, Validation::Unchecked);
}

#[tokio::test(start_paused = true)]
async fn a_write_moves_its_keys_version_and_a_flush_moves_every_one() {
    let cache = cache();
    let now = Instant::now();
    let key = CacheKey::rrset(&name("ns1.example."), RecordType::A, DNSClass::IN);
    let slot = RecordCache::version_slot(&key);
    let before = cache.version(slot);
    cache.insert_rrset(vec![a("NS1.example.", 60, 1)], Trust::Glue, now);
    let written = cache.version(slot);
    assert_ne!(before, written, "a write to the key");
    // Reading changes nothing.
    let _ = cache.rrset(&name("ns1.example."), RecordType::A, Trust::Glue, now);
    assert_eq!(cache.version(slot), written);
    let other = CacheKey::rrset(&name("www.example."), RecordType::A, DNSClass::IN);
    let other_slot = RecordCache::version_slot(&other);
    let other_before = cache.version(other_slot);
    cache.flush(&name("unrelated."), false);
    assert_ne!(cache.version(slot), written, "a flush moves every counter");
    assert_ne!(cache.version(other_slot), other_before);
    let flushed = cache.version(slot);
    cache.clear();
    assert_ne!(cache.version(slot), flushed, "so does a clear");
}

#[test]
fn records_are_weighed_by_their_wire_length() {
    // A: name + 10 fixed octets + 4; the weight counts the wire form and the struct.
    let record = a("www.example.", 60, 1);
    let wire = record.to_bytes().unwrap().len() as u32;
    assert_eq!(record_weight(&record), wire + size_of::<Record>() as u32);
    let alias = cname("www.example.", 60, "target.example.net.");
    let wire = alias.to_bytes().unwrap().len() as u32;
    assert_eq!(record_weight(&alias), wire + size_of::<Record>() as u32);
}

#[tokio::test(start_paused = true)]
async fn a_new_byte_limit_is_in_force_at_once() {
    let cache = RecordCache::new(CacheConfig {
        max_bytes: 1 << 20,
        ..CacheConfig::default()
    });
    let now = Instant::now();
    let fill = |prefix: &str, count: usize| {
        for i in 0..count {
            let owner = format!("{prefix}{i}.example.");
            cache.insert_rrset(vec![a(&owner, 3600, 1)], Trust::AuthoritativeAnswer, now);
        }
        cache.entry_count()
    };
    let full = fill("a", 8000);
    assert!(full > 1000 && full < 8000, "1 MiB holds {full} entries");
    assert!(cache.weighted_bytes() <= 1 << 20);
    // A smaller limit evicts at the change itself.
    cache.set_max_bytes(256 << 10);
    assert_eq!(cache.max_bytes(), 256 << 10);
    assert!(cache.weighted_bytes() <= 256 << 10);
    let quarter = cache.entry_count();
    assert!(
        quarter * 4 <= full + 8 && quarter * 4 + 40 >= full,
        "{quarter} entries after the limit was quartered, {full} before"
    );
    // What is left still answers, and new entries keep to the limit.
    let kept = (0..8000)
        .filter(|i| {
            let owner = name(&format!("a{i}.example."));
            cache
                .rrset(&owner, RecordType::A, Trust::Answer, now)
                .is_some()
        })
        .count();
    assert_eq!(kept as u64, quarter);
    assert!(fill("b", 4000) <= quarter + 8);
    // A larger one makes room for more.
    cache.set_max_bytes(2 << 20);
    let double = fill("c", 16000);
    assert!(
        double + 40 >= full * 2 && double <= full * 2 + 8,
        "{double} entries after the limit was doubled, {full} at 1 MiB"
    );
}

#[tokio::test(start_paused = true)]
async fn an_evicted_entry_is_counted_out_of_presence() {
    let cache = RecordCache::new(CacheConfig {
        max_bytes: 256 << 10,
        ..CacheConfig::default()
    });
    let now = Instant::now();
    let fill = |prefix: &str| {
        for i in 0..20_000 {
            let owner = format!("{prefix}{i}.example.");
            cache.insert_rrset(vec![a(&owner, 3600, 1)], Trust::Answer, now);
        }
    };
    // A full cache, then the alias, then more names asked once, which push it out (none of
    // them is of a filtered kind).
    fill("early");
    let alias = CacheKey::rrset(&name("www.example."), RecordType::CNAME, DNSClass::IN);
    cache.insert_rrset(
        vec![cname("www.example.", 300, "web.example.")],
        Trust::Answer,
        now,
    );
    assert!(cache.presence.may_hold(alias.hash));
    fill("late");
    assert!(cache.get(&alias, now).is_none(), "evicted");
    assert!(!cache.presence.may_hold(alias.hash), "and counted out");
}
