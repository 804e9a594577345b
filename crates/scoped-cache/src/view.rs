//! The caches as an operator sees them (`scoped ctl lookup` and `dump-cache`): every stored
//! answer with its name, type, scope, seconds of life left and validation status.
//!
//! [`RecordCache::views`] and [`ScopedCache::views`](crate::ScopedCache::views) walk the
//! caches lazily, one entry at a time, so a dump never copies a whole cache; the `views_of`
//! functions give what is held for one name.

use hickory_proto::rr::{DNSClass, Name, RecordType};
use scoped_ecs::CacheScope;
use tokio::time::Instant;

use crate::{CacheEntry, CacheKey, CachedData, RecordCache, Trust, Validation, left_until};

/// One stored answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheView {
    /// The owner name (lowercase).
    pub name: Name,
    /// The type; `None` for a name-error (NXDOMAIN) entry, which covers every type.
    pub rtype: Option<RecordType>,
    /// The scope a tailored answer was cached under; `None` in the record cache.
    pub scope: Option<CacheScope>,
    /// The data, TTLs set to the seconds left (0 once expired).
    pub data: CachedData,
    /// Seconds of life left; `None` once expired (kept to be served stale).
    pub ttl_left: Option<u32>,
    /// What DNSSEC validation said.
    pub validation: Validation,
    /// How far the data is believed (record cache only: tailored entries are answers).
    pub trust: Option<Trust>,
}

impl CacheView {
    /// Whether this is a negative entry (NXDOMAIN or NODATA).
    pub fn is_negative(&self) -> bool {
        !matches!(self.data, CachedData::Rrset { .. })
    }
}

impl RecordCache {
    /// Every entry, one at a time (live and expired-but-kept), in no particular order.
    pub fn views(&self, now: Instant) -> impl Iterator<Item = CacheView> + '_ {
        self.entries
            .iter()
            .map(move |(key, entry)| view_of(&key, &entry, now))
    }

    /// The entries for `name`: of type `rtype` and the name's NXDOMAIN entry, or with
    /// `rtype` `None` every type (a walk of the whole cache).
    pub fn views_of(&self, name: &Name, rtype: Option<RecordType>, now: Instant) -> Vec<CacheView> {
        match rtype {
            Some(rtype) => [
                CacheKey::rrset(name, rtype, DNSClass::IN),
                CacheKey::name_error(name, DNSClass::IN),
            ]
            .iter()
            .filter_map(|key| Some(view_of(key, &*self.lookup(key)?, now)))
            .collect(),
            None => {
                let name = crate::key::lower_wire(name);
                self.entries
                    .iter()
                    .filter(|(key, _)| key.name == name && key.class == DNSClass::IN)
                    .map(|(key, entry)| view_of(&key, &entry, now))
                    .collect()
            }
        }
    }
}

fn view_of(key: &CacheKey, entry: &CacheEntry, now: Instant) -> CacheView {
    let ttl_left = left_until(entry.expires, now);
    CacheView {
        name: key.name(),
        rtype: key.rtype,
        scope: None,
        data: entry.data_with_ttl(ttl_left.unwrap_or(0)),
        ttl_left,
        validation: entry.validation,
        trust: Some(entry.trust()),
    }
}

/// The view of a tailored answer: `scope`, its data at `left` seconds, when it dies.
pub(crate) fn tailored_view(
    key: &CacheKey,
    scope: CacheScope,
    data: CachedData,
    ttl_left: Option<u32>,
    validation: Validation,
) -> CacheView {
    CacheView {
        name: key.name(),
        rtype: key.rtype,
        scope: Some(scope),
        data,
        ttl_left,
        validation,
        trust: None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{RData, Record};

    use super::*;
    use crate::{CacheConfig, ScopedCache, ScopedCacheConfig};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn a(owner: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))))
    }

    fn soa(zone: &str) -> Record {
        let data = SOA::new(name("ns.example."), name("h.example."), 1, 60, 60, 60, 300);
        Record::from_rdata(name(zone), 300, RData::SOA(data))
    }

    #[tokio::test(start_paused = true)]
    async fn the_record_cache_shows_each_type_and_the_negative_entries_with_ttl_left() {
        let cache = RecordCache::new(CacheConfig::default());
        let t0 = Instant::now();
        cache.insert_rrset(vec![a("www.example.", 100)], Trust::Answer, t0);
        cache.insert_negative(
            &name("www.example."),
            Some(RecordType::MX),
            soa("example."),
            t0,
        );
        cache.insert_negative(&name("gone.example."), None, soa("example."), t0);
        tokio::time::advance(Duration::from_secs(40)).await;
        let now = Instant::now();

        let a_only = cache.views_of(&name("WWW.example."), Some(RecordType::A), now);
        assert_eq!(a_only.len(), 1);
        assert_eq!(a_only[0].ttl_left, Some(60));
        assert_eq!(a_only[0].trust, Some(Trust::Answer));
        assert!(!a_only[0].is_negative() && a_only[0].scope.is_none());
        let mut every_type: Vec<Option<RecordType>> = cache
            .views_of(&name("www.example."), None, now)
            .iter()
            .map(|v| v.rtype)
            .collect();
        every_type.sort();
        assert_eq!(every_type, [Some(RecordType::A), Some(RecordType::MX)]);
        let gone = cache.views_of(&name("gone.example."), Some(RecordType::A), now);
        assert_eq!(gone.len(), 1, "the NXDOMAIN entry covers every type");
        assert!(gone[0].is_negative() && gone[0].rtype.is_none());
        assert_eq!(cache.views(now).count(), 3);

        tokio::time::advance(Duration::from_secs(61)).await;
        let expired = cache.views_of(&name("www.example."), Some(RecordType::A), Instant::now());
        assert_eq!(expired[0].ttl_left, None, "expired, kept for serve-stale");
    }

    #[tokio::test(start_paused = true)]
    async fn the_tailored_cache_shows_each_scope() {
        let cache = ScopedCache::new(ScopedCacheConfig::default());
        let key = CacheKey::rrset(&name("cdn.example."), RecordType::A, DNSClass::IN);
        let t0 = Instant::now();
        let data = |ttl| CachedData::Rrset {
            records: vec![a("cdn.example.", ttl)],
            trust: Trust::Answer,
        };
        let subnet = "198.51.100.0/24".parse().unwrap();
        cache.insert(key.clone(), CacheScope::Covering(subnet), data(60), t0);
        cache.insert(key.clone(), CacheScope::Global, data(30), t0);
        tokio::time::advance(Duration::from_secs(10)).await;
        let now = Instant::now();
        let views = cache.views_of(&name("cdn.example."), Some(RecordType::A), now);
        let seen: Vec<(Option<CacheScope>, Option<u32>)> =
            views.iter().map(|v| (v.scope, v.ttl_left)).collect();
        assert_eq!(
            seen,
            [
                (Some(CacheScope::Covering(subnet)), Some(50)),
                (Some(CacheScope::Global), Some(20))
            ]
        );
        assert_eq!(cache.views(now).count(), 2);
        assert_eq!(cache.views_of(&name("cdn.example."), None, now).len(), 2);
        assert!(
            cache
                .views_of(&name("other.example."), None, now)
                .is_empty()
        );
    }
}
