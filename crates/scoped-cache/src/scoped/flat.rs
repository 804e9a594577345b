//! Shape (a): one moka entry per (name, type, class, scope), plus a per-name index holding the
//! set of prefix lengths present (a bitmask per family and kind) and the per-name LRU list. A
//! lookup probes moka only at the lengths present, longest first.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use scoped_ecs::{CacheScope, canonical_net};
use tokio::time::Instant;

use super::{
    ARC_HEADER_BYTES, MOKA_ENTRY_OVERHEAD_BYTES, ScopeLenCounts, ScopeLenHistogram,
    ScopedCacheConfig, ScopedHit, ScopedStore, StoredData, canonical_scope, left_until, prepare,
};
use crate::{CacheKey, CachedData};

/// Shards of the per-name index.
const SHARDS: usize = 64;
/// An answer's share of its name's index: its pointer in the list, and a part of the header
/// (the name itself, [`NameIndex`], the map's slot).
const INDEX_ITEM_BYTES: u32 = 8 + 32;
/// What moka's copy of the key costs (in an `Arc`); the name in it is shared with the index.
const FLAT_KEY_BYTES: u32 = (std::mem::size_of::<FlatKey>() + ARC_HEADER_BYTES) as u32;

/// The moka key: the name (shared by all its scopes) and the scope, whose prefix is truncated,
/// so (family, prefix length, masked address, kind) are all part of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FlatKey {
    name: Arc<CacheKey>,
    scope: CacheScope,
}

/// One stored answer.
#[derive(Debug)]
struct FlatSlot {
    scope: CacheScope,
    expires: Instant,
    ttl: u32,
    data: Arc<StoredData>,
    last_used: AtomicU64,
    weight: u32,
}

impl FlatSlot {
    fn remaining(&self, now: Instant) -> Option<u32> {
        left_until(self.expires, now)
    }
}

/// Prefix lengths 0..=128 as a bit set.
#[derive(Clone, Copy, Debug, Default)]
struct LenMask([u64; 3]);

impl LenMask {
    fn set(&mut self, len: u8) {
        self.0[usize::from(len / 64)] |= 1 << (len % 64);
    }

    fn has(&self, len: u8) -> bool {
        self.0[usize::from(len / 64)] & (1 << (len % 64)) != 0
    }
}

#[derive(Debug, Default)]
struct FamilyIndex {
    covering: LenMask,
    exact: LenMask,
    slots: Vec<Arc<FlatSlot>>,
}

impl FamilyIndex {
    fn recompute(&mut self) {
        self.covering = LenMask::default();
        self.exact = LenMask::default();
        for slot in &self.slots {
            match slot.scope {
                CacheScope::Covering(net) => self.covering.set(net.prefix_len()),
                CacheScope::ExactSource(net) => self.exact.set(net.prefix_len()),
                CacheScope::Global | CacheScope::SourceZeroOnly => {}
            }
        }
    }
}

#[derive(Debug)]
struct NameIndex {
    name: Arc<CacheKey>,
    global: Option<Arc<FlatSlot>>,
    source_zero: Option<Arc<FlatSlot>>,
    v4: FamilyIndex,
    v6: FamilyIndex,
}

impl NameIndex {
    fn new(name: Arc<CacheKey>) -> Self {
        Self {
            name,
            global: None,
            source_zero: None,
            v4: FamilyIndex::default(),
            v6: FamilyIndex::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.global.is_none()
            && self.source_zero.is_none()
            && self.v4.slots.is_empty()
            && self.v6.slots.is_empty()
    }

    fn family(&mut self, net: &IpNet) -> &mut FamilyIndex {
        match net {
            IpNet::V4(_) => &mut self.v4,
            IpNet::V6(_) => &mut self.v6,
        }
    }

    fn same_data(&self, data: &StoredData) -> Option<Arc<StoredData>> {
        self.global
            .iter()
            .chain(self.source_zero.iter())
            .chain(self.v4.slots.iter())
            .chain(self.v6.slots.iter())
            .find(|s| s.data.same_as(data))
            .map(|s| Arc::clone(&s.data))
    }

    /// Forget `slot` if it is still the one listed (moka let it go).
    fn forget(&mut self, slot: &Arc<FlatSlot>) {
        let same = |s: &Option<Arc<FlatSlot>>| s.as_ref().is_some_and(|s| Arc::ptr_eq(s, slot));
        if same(&self.global) {
            self.global = None;
        }
        if same(&self.source_zero) {
            self.source_zero = None;
        }
        for family in [&mut self.v4, &mut self.v6] {
            let before = family.slots.len();
            family.slots.retain(|s| !Arc::ptr_eq(s, slot));
            if family.slots.len() != before {
                family.recompute();
            }
        }
    }
}

/// The per-name index, sharded.
struct Index {
    shards: Box<[RwLock<HashMap<CacheKey, NameIndex>>]>,
    hasher: RandomState,
}

impl Index {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &CacheKey) -> &RwLock<HashMap<CacheKey, NameIndex>> {
        &self.shards[self.hasher.hash_one(key) as usize % self.shards.len()]
    }

    fn forget(&self, key: &CacheKey, slot: &Arc<FlatSlot>) {
        let mut shard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = shard.get_mut(key) {
            index.forget(slot);
            if index.is_empty() {
                shard.remove(key);
            }
        }
    }
}

/// What a lookup copies out of the index before probing moka.
struct Probe {
    name: Arc<CacheKey>,
    global: bool,
    source_zero: bool,
    covering: LenMask,
    exact: LenMask,
}

/// Moka reclaims each answer at its own TTL (on moka's clock; reads check tokio's).
struct ReclaimAtTtl;

impl moka::Expiry<FlatKey, Arc<FlatSlot>> for ReclaimAtTtl {
    fn expire_after_create(
        &self,
        _key: &FlatKey,
        value: &Arc<FlatSlot>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(value.ttl)))
    }

    fn expire_after_update(
        &self,
        _key: &FlatKey,
        value: &Arc<FlatSlot>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(value.ttl)))
    }
}

/// The tailored answer cache in shape (a): a flat moka map keyed by (name, type, class, scope)
/// and a per-name index of the prefix lengths present. Same operations as
/// [`ScopedCache`](super::ScopedCache). Its weigher charges shared data to every answer that
/// refers to it (conservative).
#[derive(Clone)]
pub struct FlatScopedCache {
    entries: moka::sync::Cache<FlatKey, Arc<FlatSlot>>,
    index: Arc<Index>,
    config: Arc<ScopedCacheConfig>,
    ticks: Arc<AtomicU64>,
}

impl std::fmt::Debug for FlatScopedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatScopedCache")
            .field("answers", &self.entries.entry_count())
            .field("weighted_bytes", &self.entries.weighted_size())
            .finish()
    }
}

impl FlatScopedCache {
    /// An empty cache with these limits.
    pub fn new(config: ScopedCacheConfig) -> Self {
        let index = Arc::new(Index::new());
        let listener_index = Arc::clone(&index);
        let entries = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|key: &FlatKey, slot: &Arc<FlatSlot>| {
                slot.weight
                    .saturating_add(FLAT_KEY_BYTES)
                    .saturating_add(key.name.name.len() as u32)
            })
            .expire_after(ReclaimAtTtl)
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |key: Arc<FlatKey>, slot: Arc<FlatSlot>, cause| {
                if cause != RemovalCause::Replaced {
                    listener_index.forget(&key.name, &slot);
                }
            })
            .build();
        Self {
            entries,
            index,
            config: Arc::new(config),
            ticks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Store `data` for `key` under `scope` (as [`ScopedCache::insert`](super::ScopedCache::insert)).
    pub fn insert(&self, key: CacheKey, scope: CacheScope, data: CachedData, now: Instant) {
        let Some((data, ttl)) = prepare(data, &self.config.ttl) else {
            return;
        };
        let scope = canonical_scope(scope);
        // As ScopedCache: inserts stamp odd ticks, hits the even one after the last insert.
        let tick = self.ticks.fetch_add(2, Ordering::Relaxed) + 1;
        let max = self.config.max_tailored_per_family.max(1);
        let mut gone = Vec::new();
        let (name, slot) = {
            let mut shard = self
                .index
                .shard(&key)
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let index = shard
                .entry(key)
                .or_insert_with_key(|k| NameIndex::new(Arc::new(k.clone())));
            let data = index.same_data(&data).unwrap_or_else(|| Arc::new(data));
            let weight = MOKA_ENTRY_OVERHEAD_BYTES
                .saturating_add((std::mem::size_of::<FlatSlot>() + ARC_HEADER_BYTES) as u32)
                .saturating_add(data.weight)
                .saturating_add(INDEX_ITEM_BYTES);
            let slot = Arc::new(FlatSlot {
                scope,
                expires: now + Duration::from_secs(u64::from(ttl)),
                ttl,
                data,
                last_used: AtomicU64::new(tick),
                weight,
            });
            match scope {
                CacheScope::Global => index.global = Some(Arc::clone(&slot)),
                CacheScope::SourceZeroOnly => index.source_zero = Some(Arc::clone(&slot)),
                CacheScope::Covering(net) | CacheScope::ExactSource(net) => {
                    let family = index.family(&net);
                    family.slots.retain(|s| {
                        let keep = s.scope != scope && s.remaining(now).is_some();
                        if !keep && s.scope != scope {
                            gone.push(s.scope);
                        }
                        keep
                    });
                    while family.slots.len() >= max {
                        // Least recently used out (E21).
                        let victim = family
                            .slots
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed))
                            .map(|(i, _)| i)
                            .unwrap_or(0);
                        gone.push(family.slots.swap_remove(victim).scope);
                    }
                    family.slots.push(Arc::clone(&slot));
                    family.recompute();
                }
            }
            (Arc::clone(&index.name), slot)
        };
        // Outside the index lock: moka may run the eviction listener, which takes it.
        for scope in gone {
            self.entries.invalidate(&FlatKey {
                name: Arc::clone(&name),
                scope,
            });
        }
        self.entries.insert(FlatKey { name, scope }, slot);
    }

    /// The entry that serves a query carrying `client` (as
    /// [`ScopedCache::get`](super::ScopedCache::get)).
    pub fn get(&self, key: &CacheKey, client: Option<IpNet>, now: Instant) -> Option<ScopedHit> {
        let probe = {
            let shard = self
                .index
                .shard(key)
                .read()
                .unwrap_or_else(|e| e.into_inner());
            let index = shard.get(key)?;
            let family = match client.map(canonical_net) {
                Some(IpNet::V6(_)) => Some(&index.v6),
                Some(IpNet::V4(_)) => Some(&index.v4),
                None => None,
            };
            Probe {
                name: Arc::clone(&index.name),
                global: index.global.is_some(),
                source_zero: index.source_zero.is_some(),
                covering: family.map(|f| f.covering).unwrap_or_default(),
                exact: family.map(|f| f.exact).unwrap_or_default(),
            }
        };
        let try_scope = |scope: CacheScope| -> Option<ScopedHit> {
            let slot = self.entries.get(&FlatKey {
                name: Arc::clone(&probe.name),
                scope,
            })?;
            let left = slot.remaining(now)?;
            let tick = self.ticks.load(Ordering::Relaxed);
            if slot.last_used.load(Ordering::Relaxed) != tick {
                slot.last_used.store(tick, Ordering::Relaxed);
            }
            Some(ScopedHit {
                data: slot.data.at(left),
                scope: slot.scope,
            })
        };
        match client.map(canonical_net) {
            Some(client) => {
                if probe.exact.has(client.prefix_len())
                    && let Some(hit) = try_scope(CacheScope::ExactSource(client))
                {
                    return Some(hit);
                }
                for len in (0..=client.prefix_len()).rev() {
                    if probe.covering.has(len)
                        && let Ok(net) = IpNet::new(client.addr(), len)
                        && let Some(hit) = try_scope(CacheScope::Covering(net.trunc()))
                    {
                        return Some(hit);
                    }
                }
            }
            None => {
                if probe.source_zero
                    && let Some(hit) = try_scope(CacheScope::SourceZeroOnly)
                {
                    return Some(hit);
                }
            }
        }
        if probe.global {
            return try_scope(CacheScope::Global);
        }
        None
    }

    /// Remove everything.
    pub fn clear(&self) {
        for shard in self.index.shards.iter() {
            shard.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
        self.entries.invalidate_all();
    }

    /// Number of stored answers (approximate until moka's pending work runs).
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Estimated bytes held (approximate until moka's pending work runs).
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// Run moka's pending maintenance.
    pub fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks();
    }

    /// Live tailored entries per scope prefix length, (IPv4, IPv6).
    pub fn tailored_by_scope_len(&self) -> (ScopeLenHistogram, ScopeLenHistogram) {
        let now = Instant::now();
        let mut counts = ScopeLenCounts::new();
        for (_, slot) in self.entries.iter() {
            if slot.remaining(now).is_some() {
                counts.add(&slot.scope);
            }
        }
        counts.finish()
    }
}

impl ScopedStore for FlatScopedCache {
    fn new(config: ScopedCacheConfig) -> Self {
        FlatScopedCache::new(config)
    }
    fn insert(&self, key: CacheKey, scope: CacheScope, data: CachedData, now: Instant) {
        FlatScopedCache::insert(self, key, scope, data, now)
    }
    fn get(&self, key: &CacheKey, client: Option<IpNet>, now: Instant) -> Option<ScopedHit> {
        FlatScopedCache::get(self, key, client, now)
    }
    fn clear(&self) {
        FlatScopedCache::clear(self)
    }
    fn entry_count(&self) -> u64 {
        FlatScopedCache::entry_count(self)
    }
    fn weighted_bytes(&self) -> u64 {
        FlatScopedCache::weighted_bytes(self)
    }
    fn run_pending_tasks(&self) {
        FlatScopedCache::run_pending_tasks(self)
    }
    fn tailored_by_scope_len(&self) -> (ScopeLenHistogram, ScopeLenHistogram) {
        FlatScopedCache::tailored_by_scope_len(self)
    }
}
