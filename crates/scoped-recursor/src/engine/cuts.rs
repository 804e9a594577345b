//! Zone cuts known: each cached delegation (a zone's NS set and its nameservers' addresses),
//! kept built. A miss below a known zone cut reads its delegation from here instead of copying
//! the NS set and each nameserver's A and AAAA sets out of the record cache again.
//!
//! An entry is the record cache's data, not a second source of truth: it is used only while the
//! record cache's write counts of the keys it was built from stay the same
//! (`RecordCache::version`; a flush or clear counts as a write to every key) and only until the
//! earliest expiry among those entries.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use scoped_cache::{CacheKey, CachedData, KeyHasher, RecordCache, Trust, VersionSlot};
use tokio::time::Instant;

use crate::classify::{Delegation, NameServer, addresses_of};

/// Delegations kept; past it, the table starts again (each entry is rebuilt on its next use).
const CAPACITY: usize = 16_384;

/// A delegation built from the record cache, and what it is good for.
#[derive(Clone)]
pub(super) struct KnownCut {
    pub(super) delegation: Arc<Delegation>,
    /// The NS set's trust: a referral's, or the zone's own (authoritative).
    pub(super) ns_trust: Trust,
    /// The earliest expiry of the records it was built from.
    expires: Instant,
    /// The write counters of the keys it was read from, and the sum of their counts read
    /// before the reads: any write since makes the sum differ.
    slots: Arc<[VersionSlot]>,
    stamp: u64,
}

impl KnownCut {
    fn current(&self, cache: &RecordCache, now: Instant) -> bool {
        now < self.expires && stamp(cache, &self.slots) == self.stamp
    }
}

fn stamp(cache: &RecordCache, slots: &[VersionSlot]) -> u64 {
    slots
        .iter()
        .fold(0u64, |sum, slot| sum.wrapping_add(cache.version(*slot)))
}

/// The table of known zone cuts, keyed by the zone's NS key.
#[derive(Default)]
pub(super) struct KnownCuts {
    cuts: RwLock<HashMap<CacheKey, KnownCut, KeyHasher>>,
}

impl KnownCuts {
    /// The delegation of `zone` as the record cache holds it at `now`: an NS set of at least
    /// referral trust, with each target's cached addresses of at least glue trust.
    pub(super) fn get(&self, cache: &RecordCache, zone: &Name, now: Instant) -> Option<KnownCut> {
        self.get_by_key(
            cache,
            CacheKey::rrset(zone, RecordType::NS, DNSClass::IN),
            now,
        )
    }

    /// [`Self::get`] with the zone's NS key made already.
    pub(super) fn get_by_key(
        &self,
        cache: &RecordCache,
        key: CacheKey,
        now: Instant,
    ) -> Option<KnownCut> {
        if let Some(known) = self.read().get(&key)
            && known.current(cache, now)
        {
            return Some(known.clone());
        }
        let known = build(cache, &key, now)?;
        let mut cuts = self.cuts.write().unwrap_or_else(|e| e.into_inner());
        if cuts.len() >= CAPACITY {
            cuts.clear();
        }
        cuts.insert(key, known.clone());
        Some(known)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<CacheKey, KnownCut, KeyHasher>> {
        self.cuts.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads the delegation out of the record cache, each key's write count before the key (the
/// order `RecordCache::version` asks for).
fn build(cache: &RecordCache, key: &CacheKey, now: Instant) -> Option<KnownCut> {
    let mut slots = vec![RecordCache::version_slot(key)];
    let mut sum = cache.version(slots[0]);
    let entry = cache.get(key, now)?;
    let ns_trust = entry.trust();
    let CachedData::Rrset { records, .. } = entry.data() else {
        return None;
    };
    if ns_trust < Trust::Referral {
        return None;
    }
    let mut expires = entry.expires();
    let servers = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(target) => Some(target.0.clone()),
            _ => None,
        })
        .map(|target| {
            let mut addrs = Vec::new();
            for rtype in [RecordType::A, RecordType::AAAA] {
                let key = CacheKey::rrset(&target, rtype, DNSClass::IN);
                let slot = RecordCache::version_slot(&key);
                sum = sum.wrapping_add(cache.version(slot));
                slots.push(slot);
                if let Some(entry) = cache.get(&key, now)
                    && entry.trust() >= Trust::Glue
                    && let CachedData::Rrset { records, .. } = entry.data()
                {
                    addrs.extend(addresses_of(&target, records));
                    expires = expires.min(entry.expires());
                }
            }
            NameServer {
                name: target,
                addrs,
            }
        })
        .collect();
    Some(KnownCut {
        delegation: Arc::new(Delegation {
            zone: key.name(),
            servers,
        }),
        ns_trust,
        expires,
        slots: slots.into(),
        stamp: sum,
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use hickory_proto::rr::rdata::{A, NS};
    use hickory_proto::rr::{RData, Record};
    use scoped_cache::CacheConfig;

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn ns(zone: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(zone), ttl, RData::NS(NS(name(target))))
    }

    fn a(owner: &str, addr: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A(addr.parse().unwrap())))
    }

    fn addrs(known: &KnownCut) -> Vec<IpAddr> {
        let mut all: Vec<IpAddr> = known
            .delegation
            .servers
            .iter()
            .flat_map(|s| s.addrs.clone())
            .collect();
        all.sort();
        all
    }

    fn cache_with_zone() -> RecordCache {
        let cache = RecordCache::new(CacheConfig::default());
        let now = Instant::now();
        cache.insert_rrset(
            vec![ns("example.", "ns1.example.", 3600)],
            Trust::Referral,
            now,
        );
        cache.insert_rrset(vec![a("ns1.example.", "192.0.2.1", 600)], Trust::Glue, now);
        cache
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_cut_is_the_cached_delegation_and_is_kept() {
        let cache = cache_with_zone();
        let cuts = KnownCuts::default();
        let now = Instant::now();
        let first = cuts.get(&cache, &name("Example."), now).unwrap();
        assert_eq!(first.delegation.zone, name("example."));
        assert_eq!(addrs(&first), ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(first.ns_trust, Trust::Referral);
        let again = cuts.get(&cache, &name("example."), now).unwrap();
        assert!(
            Arc::ptr_eq(&first.delegation, &again.delegation),
            "built once"
        );
        assert!(cuts.get(&cache, &name("other."), now).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_to_a_glue_or_ns_key_rebuilds_the_cut() {
        let cache = cache_with_zone();
        let cuts = KnownCuts::default();
        let now = Instant::now();
        let first = cuts.get(&cache, &name("example."), now).unwrap();
        // An unrelated write leaves it alone (unless it shares a counter: then it is rebuilt
        // the same, which the pointer check below would miss, so the names differ a lot).
        cache.insert_rrset(
            vec![a("www.elsewhere.", "198.51.100.1", 60)],
            Trust::AuthoritativeAnswer,
            now,
        );
        cache.insert_rrset(
            vec![a("ns1.example.", "192.0.2.9", 600)],
            Trust::AuthoritativeAnswer,
            now,
        );
        let second = cuts.get(&cache, &name("example."), now).unwrap();
        assert_eq!(addrs(&second), ["192.0.2.9".parse::<IpAddr>().unwrap()]);
        assert!(!Arc::ptr_eq(&first.delegation, &second.delegation));
        // The child's own NS set replaces the referral's.
        cache.insert_rrset(
            vec![
                ns("example.", "ns1.example.", 3600),
                ns("example.", "ns2.example.", 3600),
            ],
            Trust::Authority,
            now,
        );
        let third = cuts.get(&cache, &name("example."), now).unwrap();
        assert_eq!(third.ns_trust, Trust::Authority);
        assert_eq!(third.delegation.servers.len(), 2);
        // A glue address that appears later for a server without one is seen too.
        cache.insert_rrset(vec![a("ns2.example.", "192.0.2.2", 600)], Trust::Glue, now);
        let fourth = cuts.get(&cache, &name("example."), now).unwrap();
        assert_eq!(addrs(&fourth).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_or_the_earliest_ttl_ends_the_cut() {
        let cache = cache_with_zone();
        let cuts = KnownCuts::default();
        let now = Instant::now();
        assert!(cuts.get(&cache, &name("example."), now).is_some());
        // The glue's 600 s end the addresses; the NS set (3600 s) still stands, without them.
        let later = now + Duration::from_secs(601);
        let known = cuts.get(&cache, &name("example."), later).unwrap();
        assert!(addrs(&known).is_empty());
        cache.flush(&name("example."), true);
        assert!(cuts.get(&cache, &name("example."), later).is_none());
    }
}
