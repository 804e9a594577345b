//! Shape (b): one moka entry per (name, type, class), its value an immutable [`NameEntry`] that
//! holds the scope-0 answers and a short per-family list of tailored ones, replaced copy-on-write
//! under moka's per-key lock (Unbound's shape).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;
use scoped_ecs::{CacheScope, canonical_net};
use tokio::time::Instant;

use super::keys::{FamilyKey, V4Key, V6Key};
use super::{
    ALLOC_HEADER_BYTES, ARC_HEADER_BYTES, KEY_BYTES, MOKA_ENTRY_OVERHEAD_BYTES, ScopeLenCounts,
    ScopeLenHistogram, ScopedCacheConfig, ScopedHit, ScopedStore, StoredData, alive,
    canonical_scope, prepare,
};
use crate::{CacheKey, CachedData, Read, read_ttl};

mod view;

/// Fixed part of a [`NameEntry`]: the struct and its `Arc`, and the five boxed slices'
/// allocations.
const NAME_ENTRY_BYTES: u32 =
    (std::mem::size_of::<NameEntry>() + ARC_HEADER_BYTES + 6 * ALLOC_HEADER_BYTES) as u32;
/// What one distinct data costs the entry that refers to it (besides the data's own weight): its
/// fingerprint and weight in `meta`.
const SHARED_DATA_BYTES: u32 = std::mem::size_of::<(u64, u32)>() as u32;

/// When one answer dies, its data, and when it was last used.
#[derive(Debug)]
struct Slot {
    expires: Instant,
    /// The TTL it was stored with (for the prefetch window).
    ttl: u32,
    /// Set by the read that claimed this answer's prefetch (see [`Read::Hit`]).
    refresh_claimed: AtomicBool,
    /// Which distinct data of the entry it is: an index into [`NameEntry::meta`].
    data: u32,
    /// The data, shared with every other slot of the entry that has the same answer (E21).
    answer: Arc<StoredData>,
    /// Recency for the per-name LRU bound (E21): the cache's insert tick when last stored or hit.
    last_used: AtomicU64,
}

impl Slot {
    /// A copy for the next version of the entry (recency carried over).
    fn copy(&self) -> Self {
        Self {
            expires: self.expires,
            ttl: self.ttl,
            refresh_claimed: AtomicBool::new(self.refresh_claimed.load(Ordering::Relaxed)),
            data: self.data,
            answer: Arc::clone(&self.answer),
            last_used: AtomicU64::new(self.last_used.load(Ordering::Relaxed)),
        }
    }
}

/// The per-family bound is capped here.
const MAX_PER_FAMILY: usize = 30_000;

/// The tailored answers of one family: match keys (scanned) and slots (touched on a match), in
/// the same order, most specific first (E19: the first live one that serves wins). A lookup scans
/// the keys, 8 bytes each for IPv4: measured faster than a per-entry hash table, which costs
/// more dependent cache misses than a short sequential scan (docs/ecs-cache.md).
#[derive(Debug)]
struct Family<K> {
    keys: Box<[K]>,
    slots: Box<[Slot]>,
}

impl<K: FamilyKey> Family<K> {
    fn empty() -> Self {
        Self {
            keys: Box::new([]),
            slots: Box::new([]),
        }
    }

    fn count_live(&self, counts: &mut ScopeLenCounts, now: Instant) {
        for (k, s) in self.keys.iter().zip(self.slots.iter()) {
            if alive(s.expires, now)
                && let Some(scope) = k.scope()
            {
                counts.add(&scope);
            }
        }
    }

    /// The most specific answer that serves `client` and is usable `keep` past its expiry.
    fn find(&self, client: &K, now: Instant, keep: Duration) -> Option<(K, &Slot)> {
        self.keys
            .iter()
            .zip(self.slots.iter())
            .find(|(k, s)| k.serves(client) && alive(s.expires + keep, now))
            .map(|(k, s)| (*k, s))
    }

    /// The next version: answers other than `key`'s still kept (alive, or expired less than
    /// `keep` ago), then the new one, within `max`.
    fn with(
        &self,
        key: Option<K>,
        slot: Option<Slot>,
        now: Instant,
        max: usize,
        keep: Duration,
    ) -> Self {
        let mut keys = Vec::with_capacity(self.keys.len() + 1);
        let mut slots = Vec::with_capacity(self.keys.len() + 1);
        for (k, s) in self.keys.iter().zip(self.slots.iter()) {
            if Some(*k) != key && alive(s.expires + keep, now) {
                keys.push(*k);
                slots.push(s.copy());
            }
        }
        if let (Some(key), Some(slot)) = (key, slot) {
            while keys.len() >= max.max(1) {
                // Expired (stale) answers out first, then the least recently used (E21); the
                // new answer is never the victim.
                let victim = slots
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| {
                        (alive(s.expires, now), s.last_used.load(Ordering::Relaxed))
                    })
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                keys.remove(victim);
                slots.remove(victim);
            }
            let rank = key.specificity();
            let at = keys.partition_point(|k| k.specificity() >= rank);
            keys.insert(at, key);
            slots.insert(at, slot);
        }
        Self {
            keys: keys.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
        }
    }
}

/// Everything cached for one (name, type, class). Never changed once built (except the slots'
/// recency): an insert builds the next version from this one.
#[derive(Debug)]
struct NameEntry {
    /// The [`CacheScope::Global`] answer.
    global: Option<Slot>,
    /// The [`CacheScope::SourceZeroOnly`] answer.
    source_zero: Option<Slot>,
    v4: Family<V4Key>,
    v6: Family<V6Key>,
    /// Fingerprint and weight of each distinct data the slots hold (identical answers share
    /// one, E21), kept here so that an insert need not visit every answer to find an identical
    /// one or to add up the weight.
    meta: Box<[(u64, u32)]>,
    /// Estimated bytes, moka's overhead included.
    weight: u32,
    /// When moka may drop the whole entry: when its longest-lived answer dies.
    reclaim_after: Duration,
}

impl NameEntry {
    fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.global
            .iter()
            .chain(self.source_zero.iter())
            .chain(self.v4.slots.iter())
            .chain(self.v6.slots.iter())
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.global
            .iter_mut()
            .chain(self.source_zero.iter_mut())
            .chain(self.v4.slots.iter_mut())
            .chain(self.v6.slots.iter_mut())
    }

    fn answer_count(&self) -> u64 {
        (usize::from(self.global.is_some())
            + usize::from(self.source_zero.is_some())
            + self.v4.slots.len()
            + self.v6.slots.len()) as u64
    }

    /// The slot that serves `client` at `now`, and its scope (E19, E20, E22): among the
    /// answers alive, or (for a stale read) expired less than `keep` ago.
    fn find(
        &self,
        client: Option<IpNet>,
        now: Instant,
        keep: Duration,
    ) -> Option<(CacheScope, &Slot)> {
        fn zero(
            scope: CacheScope,
            slot: Option<&Slot>,
            now: Instant,
            keep: Duration,
        ) -> Option<(CacheScope, &Slot)> {
            slot.filter(|s| alive(s.expires + keep, now))
                .map(|s| (scope, s))
        }
        let tailored = match client.map(canonical_net) {
            Some(net @ IpNet::V4(_)) => V4Key::of(&net, false)
                .and_then(|c| self.v4.find(&c, now, keep))
                .and_then(|(k, s)| Some((k.scope()?, s))),
            Some(net @ IpNet::V6(_)) => V6Key::of(&net, false)
                .and_then(|c| self.v6.find(&c, now, keep))
                .and_then(|(k, s)| Some((k.scope()?, s))),
            None => zero(
                CacheScope::SourceZeroOnly,
                self.source_zero.as_ref(),
                now,
                keep,
            ),
        };
        tailored.or_else(|| zero(CacheScope::Global, self.global.as_ref(), now, keep))
    }

    /// The next version: `old` (if any) with the answer `data` stored for `ttl` seconds under
    /// `scope`, answers expired more than `keep` ago dropped and the per-family bound kept (E21).
    #[allow(clippy::too_many_arguments)]
    fn with(
        old: Option<&NameEntry>,
        scope: CacheScope,
        data: StoredData,
        ttl: u32,
        now: Instant,
        tick: u64,
        max_per_family: usize,
        keep: Duration,
    ) -> Self {
        let old_meta: &[(u64, u32)] = old.map(|o| &o.meta[..]).unwrap_or(&[]);
        // Share the data of an identical answer already held (E21).
        let same = old.and_then(|o| {
            let i = old_meta
                .iter()
                .position(|(fp, _)| *fp == data.fingerprint)?;
            let holder = o.slots().find(|s| s.data as usize == i)?;
            holder
                .answer
                .same_as(&data)
                .then(|| (i, Arc::clone(&holder.answer)))
        });
        let new_meta = (data.fingerprint, data.weight);
        let (new_data, answer) = match same {
            Some(shared) => shared,
            None => (old_meta.len(), Arc::new(data)),
        };
        let slot = Slot {
            expires: now + Duration::from_secs(u64::from(ttl)),
            ttl,
            refresh_claimed: AtomicBool::new(false),
            data: new_data as u32,
            answer,
            last_used: AtomicU64::new(tick),
        };
        let keep_zero = |kind: CacheScope, s: Option<&Slot>| {
            s.filter(|s| scope != kind && alive(s.expires + keep, now))
                .map(Slot::copy)
        };
        let mut global = keep_zero(CacheScope::Global, old.and_then(|o| o.global.as_ref()));
        let mut source_zero = keep_zero(
            CacheScope::SourceZeroOnly,
            old.and_then(|o| o.source_zero.as_ref()),
        );
        let empty4 = Family::empty();
        let empty6 = Family::empty();
        let old4 = old.map(|o| &o.v4).unwrap_or(&empty4);
        let old6 = old.map(|o| &o.v6).unwrap_or(&empty6);
        let (v4, v6) = match scope {
            CacheScope::Global => {
                global = Some(slot);
                (
                    old4.with(None, None, now, 0, keep),
                    old6.with(None, None, now, 0, keep),
                )
            }
            CacheScope::SourceZeroOnly => {
                source_zero = Some(slot);
                (
                    old4.with(None, None, now, 0, keep),
                    old6.with(None, None, now, 0, keep),
                )
            }
            CacheScope::Covering(IpNet::V4(_)) | CacheScope::ExactSource(IpNet::V4(_)) => (
                old4.with(
                    V4Key::of_scope(&scope),
                    Some(slot),
                    now,
                    max_per_family,
                    keep,
                ),
                old6.with(None, None, now, 0, keep),
            ),
            CacheScope::Covering(IpNet::V6(_)) | CacheScope::ExactSource(IpNet::V6(_)) => (
                old4.with(None, None, now, 0, keep),
                old6.with(
                    V6Key::of_scope(&scope),
                    Some(slot),
                    now,
                    max_per_family,
                    keep,
                ),
            ),
        };
        let mut entry = NameEntry {
            global,
            source_zero,
            v4,
            v6,
            meta: Box::new([]),
            weight: 0,
            reclaim_after: Duration::ZERO,
        };

        // Keep only the data still referred to, renumbered in order of first use.
        let mut remap = vec![u32::MAX; old_meta.len() + 1];
        let mut meta: Vec<(u64, u32)> = Vec::with_capacity(old_meta.len() + 1);
        let mut data_weight = 0u32;
        for s in entry.slots_mut() {
            let i = s.data as usize;
            if remap[i] == u32::MAX {
                remap[i] = meta.len() as u32;
                let m = old_meta.get(i).copied().unwrap_or(new_meta);
                data_weight = data_weight
                    .saturating_add(m.1)
                    .saturating_add(SHARED_DATA_BYTES);
                meta.push(m);
            }
            s.data = remap[i];
        }
        entry.meta = meta.into_boxed_slice();
        let v4_bytes = std::mem::size_of::<V4Key>() + std::mem::size_of::<Slot>();
        let v6_bytes = std::mem::size_of::<V6Key>() + std::mem::size_of::<Slot>();
        let list_bytes = entry.v4.slots.len() * v4_bytes + entry.v6.slots.len() * v6_bytes;
        entry.weight = MOKA_ENTRY_OVERHEAD_BYTES
            .saturating_add(NAME_ENTRY_BYTES)
            .saturating_add(u32::try_from(list_bytes).unwrap_or(u32::MAX))
            .saturating_add(data_weight);
        entry.reclaim_after = entry
            .slots()
            .map(|s| (s.expires + keep).saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        entry
    }
}

/// Tells moka when to reclaim a whole entry: when its longest-lived answer dies and its stale
/// window has passed (on moka's own clock). Correctness does not depend on it: reads check each answer against tokio's clock.
struct ReclaimWhenAllDead;

impl moka::Expiry<CacheKey, Arc<NameEntry>> for ReclaimWhenAllDead {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<NameEntry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.reclaim_after)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Arc<NameEntry>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.reclaim_after)
    }
}

/// The tailored answer cache (shape (b), copy-on-write per name). Cheap to clone (shared inside).
#[derive(Clone)]
pub struct ScopedCache {
    entries: moka::sync::Cache<CacheKey, Arc<NameEntry>, crate::KeyHasher>,
    shared: Arc<Shared>,
    /// Which owner names may have an entry, whatever its type: counted in at each put and out
    /// when moka lets an entry go (as `presence.rs` counts the record cache's keys). A name the
    /// filter rules out costs no lookup of any of its keys.
    pub(crate) names: Arc<crate::presence::Presence>,
}

struct Shared {
    config: ScopedCacheConfig,
    /// The clock of the per-name LRU: advanced by each insert; a hit stamps the current value
    /// (so a hit writes nothing shared, and nothing at all if its slot already has it).
    /// Answers hit between the same two inserts rank equal.
    ticks: AtomicU64,
    /// Answers held: added when a version is put, subtracted when moka lets one go (replaced,
    /// evicted, expired, invalidated).
    answers: Arc<AtomicU64>,
    /// The byte limit in force, which a reload may move (`limit.rs`).
    limit: Arc<crate::limit::ByteLimit>,
    /// Tailored answers kept per (name, type, class) and family (E21), which a reload may move.
    per_family: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for ScopedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedCache")
            .field("names", &self.entries.entry_count())
            .field("answers", &self.entry_count())
            .field("weighted_bytes", &self.entries.weighted_size())
            .finish()
    }
}

impl ScopedCache {
    /// An empty cache with these limits.
    pub fn new(config: ScopedCacheConfig) -> Self {
        let answers = Arc::new(AtomicU64::new(0));
        let gone = Arc::clone(&answers);
        let limit = Arc::new(crate::limit::ByteLimit::new(config.max_bytes));
        let scale = Arc::clone(&limit);
        let names = Arc::new(crate::presence::Presence::for_cache(config.max_bytes));
        let names_out = Arc::clone(&names);
        let entries = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(move |key: &CacheKey, entry: &Arc<NameEntry>| {
                scale.weigh(
                    entry
                        .weight
                        .saturating_add(KEY_BYTES)
                        .saturating_add(key.name.len() as u32),
                )
            })
            .expire_after(ReclaimWhenAllDead)
            // LRU, not TinyLFU: TinyLFU refuses new keys into a full cache,
            // and the answer just fetched must always get in.
            .eviction_policy(EvictionPolicy::lru())
            // For `flush` of a name or a subtree.
            .support_invalidation_closures()
            .eviction_listener(move |key: Arc<CacheKey>, entry: Arc<NameEntry>, _cause| {
                gone.fetch_sub(entry.answer_count(), Ordering::Relaxed);
                names_out.remove(key.name_hash());
            })
            .build_with_hasher(crate::KeyHasher::default());
        Self {
            entries,
            names,
            shared: Arc::new(Shared {
                ticks: AtomicU64::new(0),
                answers,
                limit,
                per_family: std::sync::atomic::AtomicUsize::new(config.max_tailored_per_family),
                config,
            }),
        }
    }

    /// The limits given at the start (`max_bytes` as then; see [`Self::max_bytes`]).
    pub fn config(&self) -> &ScopedCacheConfig {
        &self.shared.config
    }

    /// The byte limit in force.
    pub fn max_bytes(&self) -> u64 {
        self.shared.limit.bytes()
    }

    /// Move the byte limit while the cache runs, as [`RecordCache::set_max_bytes`](crate::RecordCache::set_max_bytes)
    /// does: nothing dropped at once, the cache settles at the new limit as it turns over.
    pub fn set_max_bytes(&self, bytes: u64) {
        self.shared.limit.set(bytes);
    }

    /// Move the per-name bound (E21) while the cache runs: names stored from now on keep at
    /// most `n` tailored answers per family (a name already over it is trimmed at its next
    /// insert).
    pub fn set_max_tailored_per_family(&self, n: usize) {
        self.shared.per_family.store(n, Ordering::Relaxed);
    }

    /// Store `data` (an RRset or a negative entry) for `key` under `scope`. The TTL comes from
    /// the data, clamped like [`RecordCache`](crate::RecordCache) (negative: min(SOA TTL,
    /// MINIMUM), capped); TTL 0 stores nothing. An answer already stored under the same scope is
    /// replaced; a tailored answer beyond the per-family bound pushes out the least recently
    /// used one of its name and family (E21). The new answer always gets in. `scope` is
    /// canonicalised (IPv4-mapped → IPv4) and truncated here.
    pub fn insert(&self, key: CacheKey, scope: CacheScope, data: CachedData, now: Instant) {
        self.insert_checked(key, scope, data, crate::Validation::Unchecked, now);
    }

    /// [`insert`](Self::insert) with what DNSSEC validation said about the data.
    pub fn insert_checked(
        &self,
        key: CacheKey,
        scope: CacheScope,
        data: CachedData,
        validation: crate::Validation,
        now: Instant,
    ) {
        let Some((mut data, ttl)) = prepare(data, &self.shared.config.ttl) else {
            return;
        };
        data.set_validation(validation);
        let keep = Duration::from_secs(u64::from(self.shared.config.ttl.max_stale));
        let scope = canonical_scope(scope);
        // Inserts step the clock by 2 and stamp the odd value; hits stamp the even value after
        // it, so an answer used since the last insert ranks above that insert.
        let tick = self.shared.ticks.fetch_add(2, Ordering::Relaxed) + 1;
        let max = self
            .shared
            .per_family
            .load(Ordering::Relaxed)
            .clamp(1, MAX_PER_FAMILY);
        let answers = &self.shared.answers;
        // Counted in before the put, so a read never finds the entry while the filter says
        // its name has none; each put is counted out again when moka lets its value go.
        self.names.add(key.name_hash());
        self.entries.entry(key).and_compute_with(|old| {
            let old = old.map(|e| e.into_value());
            let next = NameEntry::with(old.as_deref(), scope, data, ttl, now, tick, max, keep);
            answers.fetch_add(next.answer_count(), Ordering::Relaxed);
            Op::Put(Arc::new(next))
        });
    }

    /// The entry that serves a query whose decided client subnet is `client` (`None`: the query
    /// carries no address — SOURCE 0 or withheld). The longest covering prefix wins (E19); an
    /// [`ExactSource`](CacheScope::ExactSource) entry serves only a query with exactly that
    /// prefix (E15); [`SourceZeroOnly`](CacheScope::SourceZeroOnly) serves only `None` queries
    /// and [`Global`](CacheScope::Global) everyone (E20). TTLs are counted down; an expired
    /// entry is never returned (E22). `client` is canonicalised (IPv4-mapped → IPv4) and
    /// truncated here.
    pub fn get(&self, key: &CacheKey, client: Option<IpNet>, now: Instant) -> Option<ScopedHit> {
        self.read(key, client, now, Read::Live).map(|(hit, _)| hit)
    }

    /// [`get`](Self::get) as `read` sees the cache (stale answers are found only by
    /// [`Read::Stale`], with [`STALE_TTL`](crate::STALE_TTL)), and whether the read claimed the
    /// refresh of the answer found (only [`Read::Hit`] claims).
    pub fn read(
        &self,
        key: &CacheKey,
        client: Option<IpNet>,
        now: Instant,
        read: Read,
    ) -> Option<(ScopedHit, bool)> {
        let config = &self.shared.config.ttl;
        let keep = match read {
            Read::Stale => Duration::from_secs(u64::from(config.max_stale)),
            Read::Live | Read::Hit => Duration::ZERO,
        };
        let entry = self.entries.get(key)?;
        let (scope, slot) = entry.find(client, now, keep)?;
        let (ttl, refresh) = read_ttl(
            slot.expires,
            slot.ttl,
            &slot.refresh_claimed,
            now,
            read,
            config,
        )?;
        let tick = self.shared.ticks.load(Ordering::Relaxed);
        if slot.last_used.load(Ordering::Relaxed) != tick {
            slot.last_used.store(tick, Ordering::Relaxed);
        }
        let data = slot.answer.at(ttl);
        let validation = slot.answer.validation();
        Some((
            ScopedHit {
                data,
                scope,
                validation,
            },
            refresh,
        ))
    }

    /// Whether the cache holds no answer at all. Never wrong when it says so: an answer is
    /// counted when it is put, and uncounted only once moka has let it go. Lookups skip the
    /// cache while it is empty (a resolver whose clients never bring a subnet).
    pub fn is_empty(&self) -> bool {
        self.shared.answers.load(Ordering::Relaxed) == 0
    }

    /// Whether the cache may hold anything (live or not, of any type) for the owner of `key`:
    /// `false` means surely nothing, and no key of that name needs looking up. Most names a
    /// resolver with some tailoring clients resolves have nothing tailored.
    pub fn may_hold_name(&self, key: &CacheKey) -> bool {
        !self.is_empty() && self.names.may_hold(key.name_hash())
    }

    /// Whether anything is stored for `key` (live or not): for an answer to be the same for
    /// every client, nothing tailored may exist for its name.
    pub fn holds(&self, key: &CacheKey) -> bool {
        self.entries.contains_key(key)
    }

    /// Remove everything.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// Remove every tailored answer for `name` (every type and scope) or, with `subtree`, for
    /// `name` and every name below it. Reads see it at once; memory is reclaimed lazily.
    pub fn flush(&self, name: &hickory_proto::rr::Name, subtree: bool) {
        let name = crate::key::lower_wire(name);
        // Cannot fail: invalidation closures are enabled in `new`.
        let _ = self
            .entries
            .invalidate_entries_if(move |key, _| key.is_flushed_by(&name, subtree));
    }

    /// Number of stored answers, scope-0 and tailored (approximate until moka's pending work
    /// runs; answers that expired but whose name is still held are counted until then).
    pub fn entry_count(&self) -> u64 {
        self.shared.answers.load(Ordering::Relaxed)
    }

    /// Number of (name, type, class) entries held.
    pub fn name_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Estimated bytes held (approximate until moka's pending work runs).
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// Run moka's pending maintenance (evictions, counts); for tests and stats.
    pub fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks();
    }

    /// For stats: the number of live tailored entries per scope prefix length, (IPv4, IPv6),
    /// each sorted by length. Walks the whole cache: call it for a stats page, not per query.
    pub fn tailored_by_scope_len(&self) -> (ScopeLenHistogram, ScopeLenHistogram) {
        let now = Instant::now();
        let mut counts = ScopeLenCounts::new();
        for (_, entry) in self.entries.iter() {
            entry.v4.count_live(&mut counts, now);
            entry.v6.count_live(&mut counts, now);
        }
        counts.finish()
    }

    #[cfg(test)]
    pub(crate) fn distinct_datas(&self, key: &CacheKey) -> usize {
        self.entries.get(key).map(|e| e.meta.len()).unwrap_or(0)
    }
}

impl ScopedStore for ScopedCache {
    fn new(config: ScopedCacheConfig) -> Self {
        ScopedCache::new(config)
    }
    fn insert(&self, key: CacheKey, scope: CacheScope, data: CachedData, now: Instant) {
        ScopedCache::insert(self, key, scope, data, now)
    }
    fn get(&self, key: &CacheKey, client: Option<IpNet>, now: Instant) -> Option<ScopedHit> {
        ScopedCache::get(self, key, client, now)
    }
    fn clear(&self) {
        ScopedCache::clear(self)
    }
    fn entry_count(&self) -> u64 {
        ScopedCache::entry_count(self)
    }
    fn weighted_bytes(&self) -> u64 {
        ScopedCache::weighted_bytes(self)
    }
    fn run_pending_tasks(&self) {
        ScopedCache::run_pending_tasks(self)
    }
    fn tailored_by_scope_len(&self) -> (ScopeLenHistogram, ScopeLenHistogram) {
        ScopedCache::tailored_by_scope_len(self)
    }
}
