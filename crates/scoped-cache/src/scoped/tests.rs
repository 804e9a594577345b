//! Behaviours are written against [`ScopedStore`] (they ran on both measured shapes) and
//! instantiated for [`ScopedCache`]. Tests named `eNN_…` check rule ENN of
//! the project's ECS rule list (docs/ecs.md).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use ipnet::IpNet;
use scoped_ecs::CacheScope;
use tokio::time::Instant;

use super::*;
use crate::{CacheConfig, CacheKey, CachedData, Read, Trust};

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn key(owner: &str) -> CacheKey {
    CacheKey::rrset(&name(owner), RecordType::A, DNSClass::IN)
}

fn aaaa_key(owner: &str) -> CacheKey {
    CacheKey::rrset(&name(owner), RecordType::AAAA, DNSClass::IN)
}

/// An A RRset at www.example. whose address ends in `last`.
fn answer(ttl: u32, last: u8) -> CachedData {
    answer_at("www.example.", ttl, last)
}

fn answer_at(owner: &str, ttl: u32, last: u8) -> CachedData {
    CachedData::Rrset {
        records: vec![Record::from_rdata(
            name(owner),
            ttl,
            RData::A(A(Ipv4Addr::new(192, 0, 2, last))),
        )],
        trust: Trust::AuthoritativeAnswer,
    }
}

fn aaaa_answer(ttl: u32, last: u16) -> CachedData {
    CachedData::Rrset {
        records: vec![Record::from_rdata(
            name("www.example."),
            ttl,
            RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))),
        )],
        trust: Trust::AuthoritativeAnswer,
    }
}

fn soa(ttl: u32, minimum: u32) -> Record {
    let data = SOA::new(
        name("ns.example."),
        name("host.example."),
        1,
        7200,
        900,
        1_209_600,
        minimum,
    );
    Record::from_rdata(name("example."), ttl, RData::SOA(data))
}

fn covering(s: &str) -> CacheScope {
    CacheScope::Covering(net(s))
}

fn exact(s: &str) -> CacheScope {
    CacheScope::ExactSource(net(s))
}

fn config() -> ScopedCacheConfig {
    ScopedCacheConfig::default()
}

fn with_bound(n: usize) -> ScopedCacheConfig {
    ScopedCacheConfig {
        max_tailored_per_family: n,
        ..config()
    }
}

/// The last octet of the A record a hit carries (which answer was served).
fn served<C: ScopedStore>(
    cache: &C,
    k: &CacheKey,
    client: Option<&str>,
    now: Instant,
) -> Option<u8> {
    let hit = cache.get(k, client.map(net), now)?;
    match hit.data {
        CachedData::Rrset { records, .. } => match records[0].data {
            RData::A(A(a)) => Some(a.octets()[3]),
            RData::AAAA(AAAA(a)) => Some(a.octets()[15]),
            _ => None,
        },
        _ => Some(0),
    }
}

fn ttl_of(hit: &ScopedHit) -> u32 {
    match &hit.data {
        CachedData::Rrset { records, .. } => records[0].ttl,
        CachedData::NoData { soa } | CachedData::NxDomain { soa } => soa.ttl,
    }
}

fn e14_covering_entry_serves_clients_inside<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    cache.insert(
        key("www.example."),
        covering("192.0.0.0/16"),
        answer(300, 1),
        now,
    );
    let hit = cache
        .get(&key("www.example."), Some(net("192.0.77.0/24")), now)
        .expect("a client inside the /16 is served");
    assert_eq!(hit.scope, covering("192.0.0.0/16"));
    assert_eq!(
        served(&cache, &key("www.example."), Some("192.0.255.0/24"), now),
        Some(1)
    );
    assert_eq!(
        served(&cache, &key("www.example."), Some("192.1.0.0/24"), now),
        None
    );
    assert_eq!(
        served(&cache, &key("www.example."), Some("192.0.0.0/8"), now),
        None
    );
    assert_eq!(served(&cache, &key("www.example."), None, now), None);
    assert_eq!(
        served(&cache, &key("other.example."), Some("192.0.77.0/24"), now),
        None
    );
}

fn e15_exact_source_entry_serves_only_that_source<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    cache.insert(
        key("www.example."),
        exact("192.0.2.0/24"),
        answer(300, 1),
        now,
    );
    let k = key("www.example.");
    let hit = cache.get(&k, Some(net("192.0.2.0/24")), now).unwrap();
    assert_eq!(hit.scope, exact("192.0.2.0/24"));
    assert_eq!(served(&cache, &k, Some("192.0.2.0/25"), now), None);
    assert_eq!(served(&cache, &k, Some("192.0.2.128/25"), now), None);
    assert_eq!(served(&cache, &k, Some("192.0.0.0/20"), now), None);
    assert_eq!(served(&cache, &k, Some("192.0.3.0/24"), now), None);
    assert_eq!(served(&cache, &k, None, now), None);
}

fn e19_longest_prefix_wins<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    let k = key("www.example.");
    // Most specific first, so insertion order cannot be what decides.
    cache.insert(k.clone(), exact("192.0.2.0/24"), answer(300, 5), now);
    cache.insert(k.clone(), covering("192.0.2.0/24"), answer(300, 4), now);
    cache.insert(k.clone(), covering("192.0.2.0/23"), answer(300, 3), now);
    cache.insert(k.clone(), covering("192.0.0.0/16"), answer(300, 2), now);
    cache.insert(k.clone(), CacheScope::Global, answer(300, 1), now);
    assert_eq!(served(&cache, &k, Some("192.0.2.0/24"), now), Some(5));
    assert_eq!(served(&cache, &k, Some("192.0.2.0/25"), now), Some(4));
    assert_eq!(served(&cache, &k, Some("192.0.3.0/24"), now), Some(3));
    assert_eq!(served(&cache, &k, Some("192.0.9.0/24"), now), Some(2));
    assert_eq!(served(&cache, &k, Some("198.51.100.0/24"), now), Some(1));
    assert_eq!(served(&cache, &k, None, now), Some(1));
    let hit = cache.get(&k, Some(net("192.0.3.0/24")), now).unwrap();
    assert_eq!(hit.scope, covering("192.0.2.0/23"));
}

/// Many entries of one name (past the size where `ScopedCache` stops scanning and uses its
/// table), some expired: every client gets what a brute-force reading of E19/E20/E22 says.
async fn e19_longest_prefix_wins_among_many_entries<C: ScopedStore>() {
    let cache = C::new(config());
    let t0 = Instant::now();
    let k = key("www.example.");
    let mut model: Vec<(CacheScope, u8, u32)> = Vec::new();
    let mut add = |scope: CacheScope, value: u8, ttl: u32| {
        let data = if scope.family() == Some(scoped_ecs::Family::V6) {
            aaaa_answer(ttl, u16::from(value))
        } else {
            answer(ttl, value)
        };
        cache.insert(k.clone(), scope, data, t0);
        let scope = canonical_scope(scope);
        model.retain(|(s, _, _)| *s != scope);
        model.push((scope, value, ttl));
    };
    let mut v = 0u8;
    let mut next = || {
        v = v.wrapping_add(1);
        v
    };
    add(CacheScope::Global, next(), 1000);
    add(CacheScope::SourceZeroOnly, next(), 1000);
    for i in 0..40u8 {
        add(
            covering(&format!("10.0.{}.0/24", i * 3)),
            next(),
            100 + u32::from(i) * 20,
        );
    }
    for i in 0..10u8 {
        add(covering(&format!("10.0.{}.0/20", i * 16)), next(), 500);
    }
    for i in 0..4u8 {
        add(covering(&format!("10.{}.0.0/16", i)), next(), 300);
    }
    add(covering("10.0.0.0/8"), next(), 800);
    add(covering("10.0.3.0/25"), next(), 1000);
    add(exact("10.0.6.0/24"), next(), 1000);
    add(exact("10.0.9.0/23"), next(), 1000);
    for i in 0..20u16 {
        add(
            covering(&format!("2001:db8:{:x}::/48", i * 2)),
            next(),
            100 + u32::from(i) * 40,
        );
    }
    add(covering("2001:db8::/32"), next(), 600);
    add(exact("2001:db8:4::/56"), next(), 1000);
    // Replacing a scope keeps one entry for it.
    add(covering("10.0.0.0/24"), next(), 900);

    let mut clients: Vec<Option<IpNet>> = vec![None];
    for c in 0..=200u8 {
        clients.push(Some(net(&format!("10.0.{c}.0/24"))));
    }
    for c in [
        "10.0.3.0/25",
        "10.0.3.128/25",
        "10.0.9.0/23",
        "10.1.0.0/24",
        "10.9.0.0/24",
        "11.0.0.0/24",
    ] {
        clients.push(Some(net(c)));
    }
    for i in 0..50u16 {
        clients.push(Some(net(&format!("2001:db8:{i:x}::/56"))));
    }
    clients.push(Some(net("2001:db9::/56")));
    for elapsed in [0u64, 150, 450, 550, 850, 999, 1000] {
        let now = t0 + Duration::from_secs(elapsed);
        for client in &clients {
            let expected = model
                .iter()
                .filter(|(s, _, ttl)| {
                    s.serves(client.map(|c| c.trunc())) && u64::from(*ttl) > elapsed
                })
                .max_by_key(|(s, _, _)| s.specificity())
                .map(|(s, v, _)| (*s, *v));
            let got = cache.get(&k, *client, now).map(|h| {
                (
                    h.scope,
                    served(&cache, &k, client.map(|n| n.to_string()).as_deref(), now),
                )
            });
            assert_eq!(
                got.map(|(s, v)| (s, v.unwrap())),
                expected,
                "client {client:?} at +{elapsed}s"
            );
        }
    }
}

fn e20_scope_zero_serves_everyone<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    let k = key("www.example.");
    cache.insert(k.clone(), CacheScope::Global, answer(300, 1), now);
    for client in [
        None,
        Some("192.0.2.0/24"),
        Some("2001:db8::/56"),
        Some("10.0.0.0/8"),
    ] {
        let hit = cache
            .get(&k, client.map(net), now)
            .expect("global serves all");
        assert_eq!(hit.scope, CacheScope::Global);
    }
}

fn e20_source_zero_entry_serves_only_source_zero_queries<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    let k = key("www.example.");
    cache.insert(k.clone(), CacheScope::SourceZeroOnly, answer(300, 9), now);
    assert_eq!(served(&cache, &k, None, now), Some(9));
    assert_eq!(served(&cache, &k, Some("192.0.2.0/24"), now), None);
    assert_eq!(served(&cache, &k, Some("2001:db8::/56"), now), None);
    // With a global answer beside it, tailored queries get the global one, SOURCE-0 queries still
    // the more specific SOURCE-0 one.
    cache.insert(k.clone(), CacheScope::Global, answer(300, 1), now);
    assert_eq!(served(&cache, &k, Some("192.0.2.0/24"), now), Some(1));
    assert_eq!(served(&cache, &k, None, now), Some(9));
}

fn e21_per_name_bound_evicts_least_recently_used<C: ScopedStore>() {
    let cache = C::new(with_bound(3));
    let now = Instant::now();
    let k = key("www.example.");
    cache.insert(k.clone(), covering("192.0.1.0/24"), answer(300, 1), now);
    cache.insert(k.clone(), covering("192.0.2.0/24"), answer(300, 2), now);
    cache.insert(k.clone(), covering("192.0.3.0/24"), answer(300, 3), now);
    cache.insert(k.clone(), CacheScope::Global, answer(300, 100), now);
    // Using .1 makes .2 the least recently used.
    assert_eq!(served(&cache, &k, Some("192.0.1.0/24"), now), Some(1));
    cache.insert(k.clone(), covering("192.0.4.0/24"), answer(300, 4), now);
    assert_eq!(served(&cache, &k, Some("192.0.1.0/24"), now), Some(1));
    assert_eq!(
        served(&cache, &k, Some("192.0.2.0/24"), now),
        Some(100),
        "the least recently used /24 is gone: its client now gets the global answer"
    );
    assert_eq!(served(&cache, &k, Some("192.0.3.0/24"), now), Some(3));
    assert_eq!(served(&cache, &k, Some("192.0.4.0/24"), now), Some(4));
    // Other names are bounded on their own.
    cache.insert(
        key("other.example."),
        covering("192.0.9.0/24"),
        answer(300, 9),
        now,
    );
    assert_eq!(served(&cache, &k, Some("192.0.3.0/24"), now), Some(3));
    cache.run_pending_tasks();
    let (v4, _) = cache.tailored_by_scope_len();
    assert_eq!(v4, vec![(24, 4)]);
}

fn e21_memory_bounded_in_bytes<C: ScopedStore>() {
    let max_bytes = 2_000_000;
    let cache = C::new(ScopedCacheConfig {
        max_bytes,
        ..config()
    });
    let now = Instant::now();
    // 10,000 names × 10 distinct /24s = 1e5 tailored entries, many times what fits.
    for n in 0..10_000u32 {
        let k = key(&format!("n{n}.example."));
        for i in 0..10u32 {
            let scope = covering(&format!("10.{}.{}.0/24", n % 250, i));
            cache.insert(k.clone(), scope, answer(300, i as u8), now);
        }
    }
    cache.run_pending_tasks();
    let held = cache.weighted_bytes();
    assert!(held <= max_bytes, "{held} > {max_bytes}");
    assert!(held >= max_bytes / 2, "the cache is used: {held}");
    let count = cache.entry_count();
    assert!(count < 100_000 && count > 0, "{count}");
    // The newest answer is in.
    assert_eq!(
        served(&cache, &key("n9999.example."), Some("10.249.9.0/24"), now),
        Some(9)
    );
}

async fn e22_tailored_entry_expires_at_its_own_ttl<C: ScopedStore>() {
    let cache = C::new(config());
    let t0 = Instant::now();
    let k = key("www.example.");
    cache.insert(k.clone(), covering("192.0.2.0/24"), answer(100, 24), t0);
    cache.insert(k.clone(), covering("192.0.0.0/16"), answer(300, 16), t0);
    cache.insert(k.clone(), CacheScope::Global, answer(600, 1), t0);
    let client = Some(net("192.0.2.0/24"));

    tokio::time::advance(Duration::from_secs(50)).await;
    let hit = cache.get(&k, client, Instant::now()).unwrap();
    assert_eq!((hit.scope, ttl_of(&hit)), (covering("192.0.2.0/24"), 50));

    tokio::time::advance(Duration::from_secs(50)).await;
    let hit = cache.get(&k, client, Instant::now()).unwrap();
    assert_eq!((hit.scope, ttl_of(&hit)), (covering("192.0.0.0/16"), 200));

    tokio::time::advance(Duration::from_secs(200)).await;
    let hit = cache.get(&k, client, Instant::now()).unwrap();
    assert_eq!((hit.scope, ttl_of(&hit)), (CacheScope::Global, 300));

    tokio::time::advance(Duration::from_secs(299)).await;
    assert!(cache.get(&k, client, Instant::now()).is_some());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(cache.get(&k, client, Instant::now()).is_none());
    assert!(cache.get(&k, None, Instant::now()).is_none());
    let (v4, v6) = cache.tailored_by_scope_len();
    assert!(v4.is_empty() && v6.is_empty(), "{v4:?} {v6:?}");
}

fn e17_negative_tailored_entry_does_not_hide_other_subnets_positive<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    let k = key("www.example.");
    cache.insert(
        k.clone(),
        covering("192.0.2.0/24"),
        CachedData::NoData {
            soa: Box::new(soa(300, 60)),
        },
        now,
    );
    cache.insert(k.clone(), covering("198.51.100.0/24"), answer(300, 7), now);
    assert_eq!(served(&cache, &k, Some("198.51.100.0/24"), now), Some(7));
    let hit = cache.get(&k, Some(net("192.0.2.0/24")), now).unwrap();
    assert!(matches!(hit.data, CachedData::NoData { .. }));
    assert_eq!(ttl_of(&hit), 60, "negative TTL is min(SOA TTL, MINIMUM)");
    // A wider (or global) negative entry never hides a narrower positive one.
    let k2 = key("shop.example.");
    cache.insert(
        k2.clone(),
        CacheScope::Global,
        CachedData::NxDomain {
            soa: Box::new(soa(300, 300)),
        },
        now,
    );
    cache.insert(
        k2.clone(),
        covering("192.0.0.0/16"),
        CachedData::NoData {
            soa: Box::new(soa(300, 300)),
        },
        now,
    );
    cache.insert(
        k2.clone(),
        covering("192.0.2.0/24"),
        answer_at("shop.example.", 300, 8),
        now,
    );
    assert_eq!(served(&cache, &k2, Some("192.0.2.0/24"), now), Some(8));
    assert!(matches!(
        cache.get(&k2, Some(net("192.0.3.0/24")), now).unwrap().data,
        CachedData::NoData { .. }
    ));
    assert!(matches!(
        cache
            .get(&k2, Some(net("203.0.113.0/24")), now)
            .unwrap()
            .data,
        CachedData::NxDomain { .. }
    ));
}

fn ipv4_and_ipv6_families_are_independent<C: ScopedStore>() {
    let cache = C::new(with_bound(2));
    let now = Instant::now();
    let k = key("www.example.");
    cache.insert(
        k.clone(),
        covering("2001:db8:1::/48"),
        aaaa_answer(300, 1),
        now,
    );
    cache.insert(
        k.clone(),
        covering("2001:db8:2::/48"),
        aaaa_answer(300, 2),
        now,
    );
    // A v4 /0 covering entry serves no IPv6 client, and the v4 bound does not touch the v6 list.
    cache.insert(k.clone(), covering("0.0.0.0/0"), answer(300, 10), now);
    cache.insert(k.clone(), covering("192.0.2.0/24"), answer(300, 11), now);
    cache.insert(k.clone(), covering("192.0.3.0/24"), answer(300, 12), now);
    assert_eq!(
        served(&cache, &k, Some("2001:db8:1:ff00::/56"), now),
        Some(1)
    );
    assert_eq!(served(&cache, &k, Some("2001:db8:2::/56"), now), Some(2));
    assert_eq!(served(&cache, &k, Some("2001:db8:3::/56"), now), None);
    assert_eq!(served(&cache, &k, Some("192.0.2.0/24"), now), Some(11));
    assert_eq!(
        served(&cache, &k, Some("192.0.9.0/24"), now),
        None,
        "the v4 /0 was evicted"
    );
    // IPv4-mapped IPv6 clients are IPv4 clients.
    assert_eq!(
        served(&cache, &k, Some("::ffff:192.0.3.0/120"), now),
        Some(12)
    );
    // Per-family stats.
    cache.run_pending_tasks();
    let (v4, v6) = cache.tailored_by_scope_len();
    assert_eq!((v4, v6), (vec![(24, 2)], vec![(48, 2)]));
    // The same name under another type is another key.
    assert_eq!(
        served(&cache, &aaaa_key("www.example."), Some("192.0.2.0/24"), now),
        None
    );
}

fn e21_weigher_includes_moka_overhead<C: ScopedStore>() {
    let cache = C::new(config());
    cache.insert(
        key("www.example."),
        covering("192.0.2.0/24"),
        answer(300, 1),
        Instant::now(),
    );
    cache.run_pending_tasks();
    let held = cache.weighted_bytes();
    assert!(held >= u64::from(MOKA_ENTRY_OVERHEAD_BYTES) + 100, "{held}");
}

fn new_answer_always_admitted<C: ScopedStore>() {
    let cache = C::new(ScopedCacheConfig {
        max_bytes: 100_000,
        ..config()
    });
    let now = Instant::now();
    // Fill the cache well past its bound, with entries that are read often.
    for n in 0..2000u32 {
        let k = key(&format!("old{n}.example."));
        cache.insert(k.clone(), covering("192.0.2.0/24"), answer(300, 1), now);
        for _ in 0..3 {
            let _ = cache.get(&k, Some(net("192.0.2.0/24")), now);
        }
    }
    cache.run_pending_tasks();
    for n in 0..100u32 {
        let k = key(&format!("new{n}.example."));
        cache.insert(k.clone(), covering("198.51.100.0/24"), answer(300, 2), now);
        cache.run_pending_tasks();
        assert_eq!(
            served(&cache, &k, Some("198.51.100.0/24"), now),
            Some(2),
            "new answer {n} was refused"
        );
    }
    // Into a name that is full, too.
    let bounded = C::new(with_bound(1));
    let k = key("www.example.");
    bounded.insert(k.clone(), covering("192.0.1.0/24"), answer(300, 1), now);
    let _ = bounded.get(&k, Some(net("192.0.1.0/24")), now);
    bounded.insert(k.clone(), covering("192.0.2.0/24"), answer(300, 2), now);
    assert_eq!(served(&bounded, &k, Some("192.0.2.0/24"), now), Some(2));
}

async fn ttl_is_clamped_and_zero_stores_nothing<C: ScopedStore>() {
    let cache = C::new(ScopedCacheConfig {
        ttl: CacheConfig {
            min_ttl: 10,
            max_ttl: 1000,
            max_negative_ttl: 30,
            ..CacheConfig::default()
        },
        ..config()
    });
    let t0 = Instant::now();
    let k = key("www.example.");
    cache.insert(k.clone(), covering("192.0.1.0/24"), answer(5, 1), t0);
    cache.insert(k.clone(), covering("192.0.2.0/24"), answer(86_400, 2), t0);
    cache.insert(
        k.clone(),
        covering("192.0.3.0/24"),
        CachedData::NoData {
            soa: Box::new(soa(300, 300)),
        },
        t0,
    );
    let ttl = |c: &str| cache.get(&k, Some(net(c)), t0).map(|h| ttl_of(&h));
    assert_eq!(ttl("192.0.1.0/24"), Some(10));
    assert_eq!(ttl("192.0.2.0/24"), Some(1000));
    assert_eq!(ttl("192.0.3.0/24"), Some(30));

    let zero = C::new(config());
    zero.insert(k.clone(), covering("192.0.1.0/24"), answer(0, 1), t0);
    zero.insert(
        k.clone(),
        CacheScope::Global,
        CachedData::NoData {
            soa: Box::new(soa(300, 0)),
        },
        t0,
    );
    zero.insert(
        k.clone(),
        CacheScope::Global,
        CachedData::Rrset {
            records: vec![],
            trust: Trust::Answer,
        },
        t0,
    );
    assert!(zero.get(&k, Some(net("192.0.1.0/24")), t0).is_none());
    zero.run_pending_tasks();
    assert_eq!(zero.entry_count(), 0);
}

fn same_scope_is_replaced<C: ScopedStore>() {
    let cache = C::new(with_bound(2));
    let now = Instant::now();
    let k = key("www.example.");
    for i in 1..=5 {
        cache.insert(k.clone(), covering("192.0.2.0/24"), answer(300, i), now);
    }
    cache.insert(k.clone(), covering("192.0.3.0/24"), answer(300, 9), now);
    assert_eq!(served(&cache, &k, Some("192.0.2.0/24"), now), Some(5));
    assert_eq!(served(&cache, &k, Some("192.0.3.0/24"), now), Some(9));
    cache.run_pending_tasks();
    assert_eq!(cache.entry_count(), 2);
}

fn clear_empties_the_cache<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    let k = key("www.example.");
    cache.insert(k.clone(), covering("192.0.2.0/24"), answer(300, 1), now);
    cache.insert(k.clone(), CacheScope::Global, answer(300, 2), now);
    cache.run_pending_tasks();
    assert_eq!(cache.entry_count(), 2);
    cache.clear();
    assert!(cache.get(&k, None, now).is_none());
    assert!(cache.get(&k, Some(net("192.0.2.0/24")), now).is_none());
    cache.run_pending_tasks();
    assert_eq!((cache.entry_count(), cache.weighted_bytes()), (0, 0));
}

fn host_bits_in_client_and_scope_are_ignored<C: ScopedStore>() {
    let cache = C::new(config());
    let now = Instant::now();
    let k = key("www.example.");
    cache.insert(
        k.clone(),
        CacheScope::ExactSource(net("192.0.2.77/24")),
        answer(300, 1),
        now,
    );
    assert_eq!(served(&cache, &k, Some("192.0.2.200/24"), now), Some(1));
}

macro_rules! instantiate {
    ($($test:ident),* $(,)?) => {
        mod scoped_cache {
            $(#[test] fn $test() { super::$test::<super::ScopedCache>() })*
            #[tokio::test(start_paused = true)]
            async fn e22_tailored_entry_expires_at_its_own_ttl() {
                super::e22_tailored_entry_expires_at_its_own_ttl::<super::ScopedCache>().await
            }
            #[tokio::test(start_paused = true)]
            async fn ttl_is_clamped_and_zero_stores_nothing() {
                super::ttl_is_clamped_and_zero_stores_nothing::<super::ScopedCache>().await
            }
            #[tokio::test(start_paused = true)]
            async fn e19_longest_prefix_wins_among_many_entries() {
                super::e19_longest_prefix_wins_among_many_entries::<super::ScopedCache>().await
            }
        }
    };
}

instantiate!(
    e14_covering_entry_serves_clients_inside,
    e15_exact_source_entry_serves_only_that_source,
    e19_longest_prefix_wins,
    e20_scope_zero_serves_everyone,
    e20_source_zero_entry_serves_only_source_zero_queries,
    e21_per_name_bound_evicts_least_recently_used,
    e21_memory_bounded_in_bytes,
    e21_weigher_includes_moka_overhead,
    e17_negative_tailored_entry_does_not_hide_other_subnets_positive,
    ipv4_and_ipv6_families_are_independent,
    new_answer_always_admitted,
    same_scope_is_replaced,
    clear_empties_the_cache,
    host_bits_in_client_and_scope_are_ignored,
);

// --- Properties of ScopedCache's shape ---

#[test]
fn e21_weigher_charges_moka_overhead_per_name() {
    // 100 names with one answer each cost moka 99 entries more than one name with 100 answers.
    let now = Instant::now();
    let spread = ScopedCache::new(config());
    let packed = ScopedCache::new(config());
    for i in 0..100u8 {
        let scope = covering(&format!("192.0.{i}.0/24"));
        spread.insert(
            key(&format!("n{i:03}.example.")),
            scope,
            answer_at(&format!("n{i:03}.example."), 300, i),
            now,
        );
        packed.insert(
            key("n000.example."),
            scope,
            answer_at("n000.example.", 300, i),
            now,
        );
    }
    spread.run_pending_tasks();
    packed.run_pending_tasks();
    let extra = spread
        .weighted_bytes()
        .saturating_sub(packed.weighted_bytes());
    let floor = 99 * u64::from(MOKA_ENTRY_OVERHEAD_BYTES + KEY_BYTES);
    assert!(extra >= floor, "{extra} < {floor}");
}

#[test]
fn e21_identical_answers_share_their_data() {
    let now = Instant::now();
    let k = key("www.example.");
    let shared = ScopedCache::new(config());
    let distinct = ScopedCache::new(config());
    for i in 0..50u8 {
        let scope = covering(&format!("192.0.{i}.0/24"));
        shared.insert(k.clone(), scope, answer(300, 1), now);
        distinct.insert(k.clone(), scope, answer(300, i), now);
    }
    shared.insert(k.clone(), CacheScope::Global, answer(300, 1), now);
    assert_eq!(shared.distinct_datas(&k), 1);
    assert_eq!(distinct.distinct_datas(&k), 50);
    shared.run_pending_tasks();
    distinct.run_pending_tasks();
    assert!(
        shared.weighted_bytes() < distinct.weighted_bytes(),
        "{} vs {}",
        shared.weighted_bytes(),
        distinct.weighted_bytes()
    );
    // Replacing answers drops data nobody refers to any more.
    for i in 0..50u8 {
        distinct.insert(
            k.clone(),
            covering(&format!("192.0.{i}.0/24")),
            answer(300, 7),
            now,
        );
    }
    assert_eq!(distinct.distinct_datas(&k), 1);
    assert_eq!(served(&distinct, &k, Some("192.0.3.0/24"), now), Some(7));
}

#[test]
fn entry_count_counts_answers_not_names() {
    let cache = ScopedCache::new(config());
    let now = Instant::now();
    let k = key("www.example.");
    for i in 0..10u8 {
        cache.insert(
            k.clone(),
            covering(&format!("192.0.{i}.0/24")),
            answer(300, i),
            now,
        );
    }
    cache.insert(k.clone(), CacheScope::Global, answer(300, 1), now);
    cache.run_pending_tasks();
    assert_eq!((cache.entry_count(), cache.name_count()), (11, 1));
}

fn read_ttl_of(hit: &ScopedHit) -> u32 {
    match &hit.data {
        CachedData::Rrset { records, .. } => records[0].ttl,
        CachedData::NoData { soa } | CachedData::NxDomain { soa } => soa.ttl,
    }
}

#[tokio::test(start_paused = true)]
async fn stale_read_finds_the_expired_tailored_answer_for_its_subnet() {
    let cache = ScopedCache::new(config());
    let k = key("www.example.");
    let t0 = Instant::now();
    cache.insert(k.clone(), covering("198.51.100.0/24"), answer(60, 24), t0);
    cache.insert(k.clone(), CacheScope::Global, answer(600, 0), t0);
    tokio::time::advance(Duration::from_secs(61)).await;
    let now = Instant::now();
    // Live: the /24 answer is dead, the global one serves (E22).
    assert_eq!(served(&cache, &k, Some("198.51.100.0/24"), now), Some(0));
    // Stale: the client's own tailored answer is still the most specific (E19), at TTL 30.
    let (hit, refresh) = cache
        .read(&k, Some(net("198.51.100.0/24")), now, Read::Stale)
        .unwrap();
    assert_eq!(hit.scope, covering("198.51.100.0/24"));
    assert_eq!(read_ttl_of(&hit), crate::STALE_TTL);
    assert!(!refresh);
    // Another subnet gets the global answer, live.
    let (hit, _) = cache
        .read(&k, Some(net("203.0.113.0/24")), now, Read::Stale)
        .unwrap();
    assert_eq!(hit.scope, CacheScope::Global);
}

#[tokio::test(start_paused = true)]
async fn stale_answers_survive_inserts_of_other_scopes_until_max_stale() {
    let cache = ScopedCache::new(ScopedCacheConfig {
        ttl: CacheConfig {
            max_stale: 300,
            ..CacheConfig::default()
        },
        ..config()
    });
    let k = key("www.example.");
    cache.insert(
        k.clone(),
        covering("198.51.100.0/24"),
        answer(60, 24),
        Instant::now(),
    );
    tokio::time::advance(Duration::from_secs(100)).await;
    // A new copy-on-write version of the entry keeps the stale answer.
    cache.insert(
        k.clone(),
        covering("203.0.113.0/24"),
        answer(60, 7),
        Instant::now(),
    );
    let client = Some(net("198.51.100.0/24"));
    assert!(cache.read(&k, client, Instant::now(), Read::Live).is_none());
    assert!(
        cache
            .read(&k, client, Instant::now(), Read::Stale)
            .is_some()
    );
    // 60 + 300 s after it was stored, it is gone, even for a stale read.
    tokio::time::advance(Duration::from_secs(260)).await;
    assert!(
        cache
            .read(&k, client, Instant::now(), Read::Stale)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn e21_stale_answers_are_evicted_before_live_ones() {
    let cache = ScopedCache::new(with_bound(2));
    let k = key("www.example.");
    cache.insert(
        k.clone(),
        covering("198.51.100.0/24"),
        answer(10, 1),
        Instant::now(),
    );
    cache.insert(
        k.clone(),
        covering("203.0.113.0/24"),
        answer(600, 2),
        Instant::now(),
    );
    // The short-lived answer is used last, so plain LRU would push out the other one.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(
        served(&cache, &k, Some("198.51.100.0/24"), Instant::now()),
        Some(1)
    );
    tokio::time::advance(Duration::from_secs(15)).await;
    // Now expired (stale), it is the one to go.
    cache.insert(
        k.clone(),
        covering("192.0.2.0/24"),
        answer(600, 3),
        Instant::now(),
    );
    let now = Instant::now();
    assert_eq!(served(&cache, &k, Some("203.0.113.0/24"), now), Some(2));
    assert_eq!(served(&cache, &k, Some("192.0.2.0/24"), now), Some(3));
    assert!(
        cache
            .read(&k, Some(net("198.51.100.0/24")), now, Read::Stale)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn e06_a_tailored_hit_in_its_last_tenth_claims_one_refresh() {
    let cache = ScopedCache::new(config());
    let k = key("www.example.");
    cache.insert(
        k.clone(),
        covering("198.51.100.0/24"),
        answer(100, 24),
        Instant::now(),
    );
    cache.insert(
        k.clone(),
        covering("203.0.113.0/24"),
        answer(100, 7),
        Instant::now(),
    );
    tokio::time::advance(Duration::from_secs(91)).await;
    let now = Instant::now();
    let a = Some(net("198.51.100.0/24"));
    let b = Some(net("203.0.113.0/24"));
    // Each tailored answer has its own claim.
    assert!(cache.read(&k, a, now, Read::Hit).unwrap().1);
    assert!(!cache.read(&k, a, now, Read::Hit).unwrap().1);
    assert!(cache.read(&k, b, now, Read::Hit).unwrap().1);
    // The claim survives a copy-on-write version of the entry.
    cache.insert(k.clone(), covering("192.0.2.0/24"), answer(100, 3), now);
    assert!(!cache.read(&k, a, now, Read::Hit).unwrap().1);
}

/// The ECS cache explosion (RFC 7871 §11.3, E21): a million distinct client /24s asking a few
/// names, each answered with SCOPE 24, must not grow the cache past its bounds.
#[tokio::test(start_paused = true)]
async fn e21_a_million_client_subnets_keep_the_cache_within_its_bounds() {
    const NAMES: u32 = 4;
    const SUBNETS: u32 = 1_000_000;
    let max_bytes = 8 * 1024 * 1024;
    let cache = ScopedCache::new(ScopedCacheConfig {
        max_bytes,
        max_tailored_per_family: 100,
        ..config()
    });
    let now = Instant::now();
    let keys: Vec<CacheKey> = (0..NAMES).map(|n| key(&format!("n{n}.example."))).collect();
    let answers: Vec<CachedData> = (0..NAMES)
        .flat_map(|n| (0..=255u8).map(move |c| (n, c)))
        .map(|(n, c)| answer_at(&format!("n{n}.example."), 300, c))
        .collect();
    for i in 0..SUBNETS {
        let [_, a, b, c] = (i + (10 << 24)).to_be_bytes();
        let n = i % NAMES;
        // A distinct /24 for every i: a.b.c.0/24.
        let net = IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(a, b, c, 0), 24).unwrap());
        let data = answers[(n * 256 + u32::from(c)) as usize].clone();
        cache.insert(
            keys[n as usize].clone(),
            CacheScope::Covering(net),
            data,
            now,
        );
    }
    cache.run_pending_tasks();
    assert!(
        cache.weighted_bytes() <= max_bytes,
        "{} bytes",
        cache.weighted_bytes()
    );
    assert!(
        cache.entry_count() <= u64::from(NAMES) * 100,
        "{} answers held",
        cache.entry_count()
    );
    // The most recent subnets are the ones kept, and they still answer.
    let last = SUBNETS - 1 + (10 << 24);
    let [_, a, b, c] = last.to_be_bytes();
    let owner = format!("n{}.example.", (SUBNETS - 1) % NAMES);
    assert_eq!(
        served(
            &cache,
            &key(&owner),
            Some(&format!("{a}.{b}.{c}.0/24")),
            now
        ),
        Some(c)
    );
}

#[test]
fn is_empty_until_an_answer_is_put_and_again_once_moka_lets_it_go() {
    let cache = ScopedCache::new(ScopedCacheConfig::default());
    let now = Instant::now();
    assert!(cache.is_empty());
    cache.insert(
        key("www.example.com."),
        CacheScope::Covering(net("192.0.2.0/24")),
        answer(60, 1),
        now,
    );
    assert!(
        !cache.is_empty(),
        "lookups must not skip a cache holding an answer"
    );
    cache.clear();
    cache.run_pending_tasks();
    assert!(cache.is_empty());
}

#[test]
fn e21_a_per_name_bound_set_while_running_applies_at_the_next_insert() {
    let cache = ScopedCache::new(with_bound(5));
    let now = Instant::now();
    let k = key("www.example.");
    for i in 1..=5u8 {
        let scope = covering(&format!("192.0.{i}.0/24"));
        cache.insert(k.clone(), scope, answer(300, i), now);
    }
    cache.set_max_tailored_per_family(2);
    cache.insert(k.clone(), covering("192.0.6.0/24"), answer(300, 6), now);
    cache.run_pending_tasks();
    let (v4, _) = cache.tailored_by_scope_len();
    assert_eq!(v4, vec![(24, 2)], "the name keeps the two most recent /24s");
    assert_eq!(served(&cache, &k, Some("192.0.6.0/24"), now), Some(6));
    assert_eq!(served(&cache, &k, Some("192.0.1.0/24"), now), None);
}

/// The name filter: a name with any tailored entry (of any type, replaced or not) may be held;
/// a name never stored is surely not; once every entry of a name is gone, neither is it.
#[test]
fn the_name_filter_holds_every_stored_name_and_forgets_removed_ones() {
    let cache = ScopedCache::new(config());
    let now = Instant::now();
    assert!(!cache.may_hold_name(&key("www.example.")), "empty");
    // Two puts of the same key (the second replaces the first) and one of another type.
    cache.insert(
        key("www.example."),
        covering("192.0.2.0/24"),
        answer(60, 1),
        now,
    );
    cache.insert(
        key("www.example."),
        covering("198.51.100.0/24"),
        answer(60, 2),
        now,
    );
    cache.insert(
        aaaa_key("www.example."),
        CacheScope::Global,
        answer(60, 3),
        now,
    );
    cache.run_pending_tasks();
    for k in [key("www.example."), aaaa_key("www.example.")] {
        assert!(cache.may_hold_name(&k));
    }
    // Any type of a held name, and its NXDOMAIN key, are "maybe": the filter is by name.
    let cname = CacheKey::rrset(&name("WWW.example."), RecordType::CNAME, DNSClass::IN);
    assert!(cache.may_hold_name(&cname));
    assert!(cache.may_hold_name(&CacheKey::name_error(&name("www.example."), DNSClass::IN)));
    // Some name never stored is ruled out (a counting filter may say "maybe" for a few).
    let absent = (0..64)
        .filter(|i| !cache.may_hold_name(&key(&format!("n{i}.example."))))
        .count();
    assert!(absent > 60, "{absent} of 64 names never stored ruled out");
    cache.flush(&name("www.example."), false);
    cache.run_pending_tasks();
    // The filter itself, not the emptiness that also rules everything out.
    let www = key("www.example.").name_hash();
    assert!(!cache.names.may_hold(www), "every put counted out");
}
