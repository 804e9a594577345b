//! The tailored answer cache: answers from ECS-enabled servers, keyed by (name, type, class) and
//! the scope they were returned for (RFC 7871 §7.3, rules E14–E22, listed in docs/ecs.md).
//!
//! Infrastructure data (NS sets, glue, delegations) never comes here: it lives, untailored, in the
//! [`RecordCache`](crate::RecordCache). This cache holds *answers* (RRsets and negative entries,
//! E16/E17), each under a [`CacheScope`]:
//!
//! * [`CacheScope::Global`] serves every query (E20);
//! * [`CacheScope::SourceZeroOnly`] serves only queries without a client subnet (E09, E20);
//! * [`CacheScope::Covering`] serves every query whose subnet lies inside it (E14);
//! * [`CacheScope::ExactSource`] serves only queries carrying exactly that subnet (E15).
//!
//! Among the entries that serve a query the most specific wins (E19,
//! [`CacheScope::specificity`]); an expired entry is never returned, the next one is (E22).
//! Per (name, type, class) at most [`ScopedCacheConfig::max_tailored_per_family`] tailored
//! entries are kept per address family, least recently used out; the whole cache is bounded in
//! bytes (E21).
//!
//! [`ScopedCache`] has one moka entry per (name, type, class) whose immutable value holds the
//! scope-0 answers and a short per-family list of scoped ones, replaced copy-on-write (Unbound's
//! shape). It was measured against a flat map keyed by (name, type, class, scope) with a per-name
//! bitmask of prefix lengths; `docs/ecs-cache.md` has the numbers and the reasons.
//!
//! Time is `tokio::time::Instant`, passed in by the caller, so tests on tokio's paused clock see
//! TTLs expire exactly; moka reclaims memory some time after an entry dies.

use std::hash::Hasher;

use hickory_proto::serialize::binary::BinEncodable;
use ipnet::IpNet;
use scoped_ecs::{CacheScope, canonical_net};
use tokio::time::Instant;

use crate::{CacheConfig, CacheKey, CachedData, negative_ttl};

mod cow;
mod keys;
#[cfg(test)]
mod tests;

pub use cow::ScopedCache;

/// moka's own bookkeeping per entry: measured at ~300–440 bytes.
pub const MOKA_ENTRY_OVERHEAD_BYTES: u32 = 350;
/// The counts in front of an `Arc`'s value.
pub(crate) const ARC_HEADER_BYTES: usize = 16;
/// What the allocator adds to each allocation (glibc: 8–16 bytes plus rounding).
pub(crate) const ALLOC_HEADER_BYTES: usize = 16;
/// What a key costs moka besides [`MOKA_ENTRY_OVERHEAD_BYTES`]: it keeps the key in an `Arc`.
pub(crate) const KEY_BYTES: u32 = (std::mem::size_of::<CacheKey>() + ARC_HEADER_BYTES) as u32;

/// Live tailored entries per scope prefix length: `(prefix length, count)`, sorted by length,
/// lengths without entries left out.
pub type ScopeLenHistogram = Vec<(u8, u64)>;

/// Limits of the tailored cache.
#[derive(Clone, Debug)]
pub struct ScopedCacheConfig {
    /// Upper bound of the memory the cache may hold, in bytes (estimated by a weigher that
    /// includes moka's per-entry overhead).
    pub max_bytes: u64,
    /// Per (name, type, class), at most this many tailored entries per address family (E21);
    /// the least recently used goes first. Values below 1 act as 1, so that a new answer always
    /// gets in; values above 30,000 act as 30,000.
    pub max_tailored_per_family: usize,
    /// TTL bounds: `min_ttl`, `max_ttl`, `max_negative_ttl` (its `max_bytes` is not used here).
    pub ttl: CacheConfig,
}

impl Default for ScopedCacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            max_tailored_per_family: 100,
            ttl: CacheConfig::default(),
        }
    }
}

/// The answer a lookup found: its data with TTLs counted down, and the scope it was cached
/// under (for the ECS echo, E23: `scope.scope_len()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopedHit {
    /// The RRset or negative entry, every TTL set to the seconds left.
    pub data: CachedData,
    /// The scope of the entry that served the query.
    pub scope: CacheScope,
    /// What DNSSEC validation said about the entry.
    pub validation: crate::Validation,
}

/// The operations of a tailored answer cache, whatever its shape (the benchmark was generic over
/// it; a test double may implement it). [`ScopedCache`] has the same methods inherently.
pub trait ScopedStore: Clone + Send + Sync + 'static {
    /// An empty cache with these limits.
    fn new(config: ScopedCacheConfig) -> Self;
    /// Store `data` for `key` under `scope` (see [`ScopedCache::insert`]).
    fn insert(&self, key: CacheKey, scope: CacheScope, data: CachedData, now: Instant);
    /// The entry that serves a query carrying `client` (see [`ScopedCache::get`]).
    fn get(&self, key: &CacheKey, client: Option<IpNet>, now: Instant) -> Option<ScopedHit>;
    /// Remove everything.
    fn clear(&self);
    /// Number of stored answers (approximate until moka's pending work runs).
    fn entry_count(&self) -> u64;
    /// Estimated bytes held (approximate until moka's pending work runs).
    fn weighted_bytes(&self) -> u64;
    /// Run moka's pending maintenance (evictions, counts).
    fn run_pending_tasks(&self);
    /// Live tailored entries per scope prefix length: (IPv4, IPv6), sorted by length.
    fn tailored_by_scope_len(&self) -> (ScopeLenHistogram, ScopeLenHistogram);
}

/// The data of an answer as stored: TTLs zeroed (a hit writes the seconds left into every
/// record), with a fingerprint to find identical answers cheaply and an estimated size.
#[derive(Debug)]
pub(crate) struct StoredData {
    data: CachedData,
    fingerprint: u64,
    weight: u32,
    validation: crate::Validation,
}

impl StoredData {
    /// Whether two answers are the same data (so may share one copy).
    fn same_as(&self, other: &StoredData) -> bool {
        self.fingerprint == other.fingerprint
            && self.validation == other.validation
            && self.data == other.data
    }

    /// What DNSSEC validation said about the data.
    pub(crate) fn validation(&self) -> crate::Validation {
        self.validation
    }

    /// Say what validation said (part of what makes two answers the same data).
    pub(crate) fn set_validation(&mut self, validation: crate::Validation) {
        self.validation = validation;
    }

    /// The data with every TTL set to `left`.
    fn at(&self, left: u32) -> CachedData {
        let mut data = self.data.clone();
        match &mut data {
            CachedData::Rrset { records, .. } => records.iter_mut().for_each(|r| r.ttl = left),
            CachedData::NoData { soa } | CachedData::NxDomain { soa } => soa.ttl = left,
        }
        data
    }
}

/// Turn received data into what is stored, and its TTL: the smallest record TTL clamped to the
/// configured bounds for an RRset; min(SOA TTL, MINIMUM) capped for a negative entry (RFC 2308
/// §5), exactly as [`RecordCache`](crate::RecordCache) does. `None`: nothing to store (TTL 0, no
/// records, a negative entry without a SOA).
pub(crate) fn prepare(mut data: CachedData, config: &CacheConfig) -> Option<(StoredData, u32)> {
    let ttl = match &data {
        CachedData::Rrset { records, .. } => {
            let min = records.iter().map(|r| r.ttl).min()?;
            min.clamp(config.min_ttl, config.max_ttl.max(config.min_ttl))
        }
        CachedData::NoData { soa } | CachedData::NxDomain { soa } => {
            negative_ttl(soa)?.min(config.max_negative_ttl)
        }
    };
    if ttl == 0 {
        return None;
    }
    let mut hasher = std::hash::DefaultHasher::new();
    let records: &mut [hickory_proto::rr::Record] = match &mut data {
        CachedData::Rrset { records, trust } => {
            hasher.write_u8(0);
            hasher.write_u8(*trust as u8);
            records
        }
        CachedData::NoData { soa } => {
            hasher.write_u8(1);
            std::slice::from_mut(soa)
        }
        CachedData::NxDomain { soa } => {
            hasher.write_u8(2);
            std::slice::from_mut(soa)
        }
    };
    // The data's allocation (`Arc` counts and the struct), the records' `Vec`, then per record
    // its struct and, for what names and rdata hold on the heap, its wire length.
    let mut weight =
        (ARC_HEADER_BYTES + std::mem::size_of::<StoredData>() + ALLOC_HEADER_BYTES) as u32;
    for record in records.iter_mut() {
        record.ttl = 0;
        let wire = record.to_bytes().unwrap_or_default();
        hasher.write(&wire);
        let len = if wire.is_empty() {
            256
        } else {
            wire.len() as u32
        };
        weight = weight
            .saturating_add(std::mem::size_of::<hickory_proto::rr::Record>() as u32)
            .saturating_add(len);
    }
    Some((
        StoredData {
            data,
            fingerprint: hasher.finish(),
            weight,
            validation: crate::Validation::Unchecked,
        },
        ttl,
    ))
}

/// Whether an entry that dies at `expires` is alive at `now`.
#[inline]
pub(crate) fn alive(expires: Instant, now: Instant) -> bool {
    now < expires
}

/// A scope in canonical form: IPv4-mapped IPv6 prefixes become IPv4, host bits are cleared.
pub(crate) fn canonical_scope(scope: CacheScope) -> CacheScope {
    match scope {
        CacheScope::Covering(net) => CacheScope::Covering(canonical_net(net)),
        CacheScope::ExactSource(net) => CacheScope::ExactSource(canonical_net(net)),
        other => other,
    }
}

/// Accumulates live tailored entries per (family, prefix length) for the stats.
pub(crate) struct ScopeLenCounts {
    v4: [u64; 33],
    v6: [u64; 129],
}

impl ScopeLenCounts {
    pub(crate) fn new() -> Self {
        Self {
            v4: [0; 33],
            v6: [0; 129],
        }
    }

    pub(crate) fn add(&mut self, scope: &CacheScope) {
        match scope.prefix() {
            Some(IpNet::V4(n)) => self.v4[usize::from(n.prefix_len())] += 1,
            Some(IpNet::V6(n)) => self.v6[usize::from(n.prefix_len())] += 1,
            None => {}
        }
    }

    pub(crate) fn finish(self) -> (ScopeLenHistogram, ScopeLenHistogram) {
        fn list(counts: &[u64]) -> Vec<(u8, u64)> {
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(len, n)| (len as u8, *n))
                .collect()
        }
        (list(&self.v4), list(&self.v6))
    }
}
