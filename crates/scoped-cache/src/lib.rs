//! scoped's record cache.
//!
//! One store for everything the resolver learns that is *not* tailored to a client subnet:
//! delegations (NS sets), nameserver addresses (glue and authoritative), answer RRsets, CNAME
//! links and negative answers (RFC 2308). Entries are keyed by (owner name, type, class); an
//! NXDOMAIN covers the whole name and is keyed by name alone.
//!
//! Every RRset carries a [`Trust`] rank (RFC 2181 §5.4.1): glue and referral NS sets may steer
//! iteration but are never handed to a client as an answer, and less trustworthy data never
//! replaces more trustworthy data that is still alive.
//!
//! Time is `tokio::time::Instant`, so tests on tokio's paused clock see TTLs expire exactly.
//! Expiry is decided here, logically, on every read. The table (quick_cache) holds the entries
//! and bounds them in bytes; an entry's memory is reclaimed when newer entries need its room,
//! as Unbound's caches do, not by a timer per entry (see `Entries`).
//!
//! Two parts of a cache's life are decided here too, for both caches alike (see [`Read`]): data
//! is kept `max_stale` seconds past its TTL so that it can be served stale when its servers fail
//! (RFC 8767), and the first client hit in the last `prefetch_percent` of an entry's TTL claims
//! its refresh, once per stored entry.
#![warn(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use tokio::time::Instant;

mod chain;
mod deadlines;
mod key;
mod limit;
mod steps;
mod validation;
mod versions;

pub use chain::{AnswerEnd, AnswerStep, CachedAnswer, follow_chain, hops, revisits};
pub use deadlines::Deadlines;
pub use key::{CacheKey, KeyHasher};
pub use validation::Validation;

use crate::presence::Presence;
pub use crate::versions::VersionSlot;
use crate::versions::Versions;

/// What an entry costs besides its records and its key's name: the `CacheEntry` in its `Arc`,
/// the allocator's rounding, and the table's share: its slot and links (with the slack of a
/// growing table) and the recently evicted keys it remembers. Measured: 400,000 A RRsets under
/// a wildcard grew the resolver by 517 bytes each, which this and [`record_weight`] count as
/// about 520.
const ENTRY_OVERHEAD_BYTES: u32 = std::mem::size_of::<CacheEntry>() as u32 + 112;

/// How much a piece of cached data is believed (RFC 2181 §5.4.1), lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trust {
    /// Address records from the additional section of a referral.
    Glue,
    /// NS records from the authority section of a referral (the parent's view).
    Referral,
    /// Answer-section data from a response without the AA bit.
    Answer,
    /// NS records from the authority section of an authoritative (AA) answer: the child's own
    /// view of its delegation, which outranks the parent's referral and its glue.
    Authority,
    /// Answer-section data from an authoritative (AA) response.
    AuthoritativeAnswer,
}

impl Trust {
    /// May data of this rank be handed to a client as an answer?
    pub fn answers_clients(self) -> bool {
        self >= Trust::Answer
    }
}

/// Limits of the cache, from the operator's configuration.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Upper bound of the memory the cache may hold, in bytes (estimated by a weigher).
    pub max_bytes: u64,
    /// TTLs below this are raised to it (seconds).
    pub min_ttl: u32,
    /// TTLs above this are lowered to it (seconds).
    pub max_ttl: u32,
    /// Negative answers are kept at most this long (seconds), RFC 2308 §5.
    pub max_negative_ttl: u32,
    /// Data is kept this long (seconds) past its TTL, to be served stale when every server
    /// for it fails (RFC 8767); 0 keeps nothing past the TTL (serve-stale off).
    pub max_stale: u32,
    /// A client hit in the last this-many percent of an entry's TTL claims a refresh of the
    /// entry (prefetch), once per stored entry; 0 turns prefetch off.
    pub prefetch_percent: u8,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            min_ttl: 0,
            max_ttl: 86_400,
            max_negative_ttl: 3_600,
            max_stale: 86_400,
            prefetch_percent: 10,
        }
    }
}

/// The TTL given to stale data served to a client (RFC 8767 §4 recommends 30 seconds).
pub const STALE_TTL: u32 = 30;

/// What a read of either cache may return, and what it may claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Live data only.
    Live,
    /// Live data only, for a client's cache hit: if the entry has entered its prefetch window
    /// (the last `prefetch_percent` of its TTL), the first such read claims its refresh.
    Hit,
    /// Live data, or data expired less than `max_stale` seconds ago, served with
    /// [`STALE_TTL`] (RFC 8767). Claims nothing.
    Stale,
}

/// How `read` sees an entry stored for `ttl` seconds that dies at `expires`: the TTL to give
/// it (`None`: not usable), and whether this read claimed its refresh (`claimed` is the entry's
/// flag: only the first claim wins).
pub(crate) fn read_ttl(
    expires: Instant,
    ttl: u32,
    claimed: &AtomicBool,
    now: Instant,
    read: Read,
    config: &CacheConfig,
) -> Option<(u32, bool)> {
    match left_until(expires, now) {
        Some(left) => {
            let refresh = read == Read::Hit
                && config.prefetch_percent > 0
                && in_prefetch_window(expires, ttl, now, config.prefetch_percent)
                // Load first: a hit in the window after the claim writes nothing shared.
                && !claimed.load(Ordering::Relaxed)
                && !claimed.swap(true, Ordering::Relaxed);
            Some((left, refresh))
        }
        None => (read == Read::Stale && now < expires + secs(config.max_stale))
            .then_some((STALE_TTL, false)),
    }
}

/// Whether what is left of a `ttl`-second life ending at `expires` is at most `percent` of it.
fn in_prefetch_window(expires: Instant, ttl: u32, now: Instant, percent: u8) -> bool {
    let left = expires.saturating_duration_since(now).as_millis();
    left * 100 <= u128::from(ttl) * 1000 * u128::from(percent)
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// Seconds of life left at `now` of an entry that dies at `expires`; `None` once expired. For an
/// entry stored at `t` for `ttl` seconds this is `ttl - floor(now - t)`.
#[inline]
pub(crate) fn left_until(expires: Instant, now: Instant) -> Option<u32> {
    let left = expires.saturating_duration_since(now);
    if left.is_zero() {
        return None;
    }
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    Some(secs.min(u64::from(u32::MAX)) as u32)
}

/// What is stored under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CachedData {
    /// An RRset: all records share owner, type and class; TTLs as received, clamped.
    Rrset {
        /// The records.
        records: Vec<Record>,
        /// How much they are believed.
        trust: Trust,
    },
    /// The name exists but has no data of this type (RFC 2308 NODATA), with the zone's SOA.
    NoData {
        /// The SOA that came in the authority section, TTL set to the negative TTL. Boxed: a
        /// `Record` is 272 bytes, and inline it made every entry, positive ones too, that large.
        soa: Box<Record>,
    },
    /// The name does not exist (RFC 2308 NXDOMAIN), with the zone's SOA.
    NxDomain {
        /// The SOA that came in the authority section, TTL set to the negative TTL (boxed, as
        /// in `NoData`).
        soa: Box<Record>,
    },
}

/// One stored entry: the data, how long it lives and when it dies.
#[derive(Debug)]
pub struct CacheEntry {
    data: CachedData,
    expires: Instant,
    ttl: u32,
    /// What the table counts for the entry, its key included; fixed for its life, as the table
    /// requires.
    weight: u32,
    /// What DNSSEC validation said about the data.
    validation: Validation,
    /// Set by the read that claimed this entry's prefetch (see [`Read::Hit`]).
    refresh_claimed: AtomicBool,
}

impl CacheEntry {
    fn new(data: CachedData, now: Instant, ttl: u32, weight: u32) -> Self {
        Self {
            data,
            expires: now + secs(ttl),
            ttl,
            weight,
            validation: Validation::Unchecked,
            refresh_claimed: AtomicBool::new(false),
        }
    }

    /// What DNSSEC validation said about the data.
    pub fn validation(&self) -> Validation {
        self.validation
    }

    /// Seconds of life left at `now`, or `None` once expired.
    pub fn remaining(&self, now: Instant) -> Option<u32> {
        left_until(self.expires, now)
    }

    /// When the entry's TTL runs out.
    pub fn expires(&self) -> Instant {
        self.expires
    }

    /// The data as stored (TTLs as received, not counted down): for reading without a copy.
    pub fn data(&self) -> &CachedData {
        &self.data
    }

    /// The data with every TTL counted down to what is left at `now`; `None` once expired.
    pub fn data_at(&self, now: Instant) -> Option<CachedData> {
        self.remaining(now).map(|left| self.data_with_ttl(left))
    }

    /// The data with every TTL set to `left`.
    fn data_with_ttl(&self, left: u32) -> CachedData {
        let mut data = self.data.clone();
        match &mut data {
            CachedData::Rrset { records, .. } => records.iter_mut().for_each(|r| r.ttl = left),
            CachedData::NoData { soa } | CachedData::NxDomain { soa } => soa.ttl = left,
        }
        data
    }

    /// The trust rank of an RRset entry (negative entries rank as authoritative answers: they
    /// are only stored from responses whose SOA passed the bailiwick check).
    pub fn trust(&self) -> Trust {
        match &self.data {
            CachedData::Rrset { trust, .. } => *trust,
            _ => Trust::AuthoritativeAnswer,
        }
    }
}

/// The table of the record cache.
///
/// quick_cache, not moka: a resolver's cache is full in steady state, so every insert evicts,
/// and what an eviction costs is paid on every cache miss. moka's eviction went through its
/// write-order deque, its timer wheel (per-entry expiry), a lock per key (for the eviction
/// listener), its lock-free table's tombstones and rehashing, and epoch-deferred frees: a full
/// cache cost a fifth more CPU per miss than an empty one (docs/benchmarks.md). quick_cache is a
/// sharded table under a lock per shard with CLOCK-Pro eviction: an entry is evicted in place,
/// and a stream of names asked once passes through the cold part without pushing out the
/// entries asked for again. Every new entry is admitted.
///
/// Nothing is reclaimed on a timer: expiry is decided on every read, and dead entries leave
/// when newer ones need their room (`max_stale` past their TTL they are no longer even served
/// stale).
type Entries = quick_cache::sync::Cache<CacheKey, Arc<CacheEntry>, Weigh, KeyHasher, CountOut>;

/// An entry weighs what was fixed when it was stored.
#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<CacheKey, Arc<CacheEntry>> for Weigh {
    fn weight(&self, _key: &CacheKey, entry: &Arc<CacheEntry>) -> u64 {
        u64::from(entry.weight)
    }
}

/// Counts an entry of a filtered kind out of `presence` when it is evicted or replaced (the
/// other removals — flush, clear — count theirs out themselves).
#[derive(Clone)]
struct CountOut(Arc<Presence>);

impl quick_cache::Lifecycle<CacheKey, Arc<CacheEntry>> for CountOut {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), key: CacheKey, _entry: Arc<CacheEntry>) {
        count_out(&self.0, &key);
    }
}

/// `key` left the table: out of `presence` if it is of a filtered kind (and so was counted in).
fn count_out(presence: &Presence, key: &CacheKey) {
    if key.is_filtered() {
        presence.remove(key.hash);
    }
}

/// The record cache. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct RecordCache {
    entries: Arc<Entries>,
    config: Arc<CacheConfig>,
    /// Which NXDOMAIN, CNAME, NS and DNAME keys may be cached (`presence.rs`): a miss asks for
    /// them at several names, and nearly all of them are absent.
    presence: Arc<Presence>,
    /// Whether a DNAME was ever stored: until then a miss does not walk up the name for one.
    dnames: Arc<AtomicBool>,
    /// A write count per bucket of keys, for readers that keep derived data (`versions.rs`).
    versions: Arc<Versions>,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("entries", &self.entries.len())
            .field("weighted_bytes", &self.entries.weight())
            .finish()
    }
}

/// Bytes of cache per shard of the table at least: a shard evicts within itself, so it must
/// hold many entries.
const MIN_SHARD_BYTES: u64 = 1 << 20;

impl RecordCache {
    /// An empty cache with these limits.
    pub fn new(config: CacheConfig) -> Self {
        let presence = Arc::new(Presence::for_cache(config.max_bytes));
        let parallel = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
        let shards = (config.max_bytes / MIN_SHARD_BYTES).clamp(1, parallel as u64) as usize;
        // Only a hint, for the table of recently evicted keys (a key asked again soon after it
        // left comes back as hot): the table itself grows with its content.
        let items = (config.max_bytes / 512).clamp(64, 1 << 24) as usize;
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(config.max_bytes.max(1))
            .shards(shards)
            .build()
            .expect("the options are within quick_cache's bounds");
        let entries = Entries::with_options(
            options,
            Weigh,
            KeyHasher::default(),
            CountOut(Arc::clone(&presence)),
        );
        Self {
            entries: Arc::new(entries),
            config: Arc::new(config),
            presence,
            dnames: Arc::new(AtomicBool::new(false)),
            versions: Arc::new(Versions::new()),
        }
    }

    /// The limits given at the start (`max_bytes` as then; see [`Self::max_bytes`]).
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The byte limit in force.
    pub fn max_bytes(&self) -> u64 {
        self.entries.capacity()
    }

    /// Move the byte limit while the cache runs (a reload): a smaller one evicts at once, the
    /// cold entries first, until the cache holds what it allows.
    pub fn set_max_bytes(&self, bytes: u64) {
        self.entries.set_capacity(bytes.max(1));
    }

    /// The entry under `key`, live or not; a key of a filtered kind that the filter says is
    /// absent costs no table lookup.
    fn lookup(&self, key: &CacheKey) -> Option<Arc<CacheEntry>> {
        if key.is_filtered() && !self.presence.may_hold(key.hash) {
            return None;
        }
        self.entries.get(key)
    }

    /// Put `entry` under `key`, counting it in `presence` when its kind is filtered (the entry
    /// it replaces, if any, is counted out by `CountOut`).
    fn put(&self, key: CacheKey, mut entry: CacheEntry) {
        if key.is_filtered() {
            self.presence.add(key.hash);
        }
        entry.weight = entry.weight.saturating_add(key.name.len() as u32);
        let hash = key.hash;
        self.entries.insert(key, Arc::new(entry));
        // After the insert: see the order `versions.rs` relies on.
        self.versions.written(hash);
    }

    /// The write counter `key` uses.
    pub fn version_slot(key: &CacheKey) -> VersionSlot {
        Versions::slot(key.hash)
    }

    /// The count of writes to the keys of `slot` (and of flushes and clears). Read it *before*
    /// reading an entry: what was derived from the entry stays true while the count stays the
    /// same (up to the entry's own expiry). Keys share counters, so a count can also move for
    /// another key's write; it never stays still across a write to this one.
    pub fn version(&self, slot: VersionSlot) -> u64 {
        self.versions.version(slot)
    }

    /// The live entry under `key` at `now`, if any.
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<Arc<CacheEntry>> {
        let entry = self.lookup(key)?;
        entry.remaining(now).is_some().then_some(entry)
    }

    /// The data under `key` as `read` sees it at `now` (TTLs set), and whether this read
    /// claimed its refresh, and what validation said about it. Sets `seen` when the key has an
    /// entry at all, usable or not.
    fn read_checked(
        &self,
        key: &CacheKey,
        now: Instant,
        read: Read,
        seen: &std::cell::Cell<bool>,
    ) -> Option<(CachedData, bool, Validation)> {
        let entry = self.lookup(key)?;
        seen.set(true);
        let (ttl, refresh) = read_ttl(
            entry.expires,
            entry.ttl,
            &entry.refresh_claimed,
            now,
            read,
            &self.config,
        )?;
        Some((entry.data_with_ttl(ttl), refresh, entry.validation))
    }

    /// The live RRset of `rtype` at `name` with at least `min_trust`, TTLs counted down.
    pub fn rrset(
        &self,
        name: &Name,
        rtype: RecordType,
        min_trust: Trust,
        now: Instant,
    ) -> Option<Vec<Record>> {
        let entry = self.get(&CacheKey::rrset(name, rtype, DNSClass::IN), now)?;
        match entry.data_at(now)? {
            CachedData::Rrset { records, trust } if trust >= min_trust => Some(records),
            _ => None,
        }
    }

    /// Store an RRset. All records must share owner, type and class (the caller groups them).
    /// Its TTL is the smallest of the records', clamped to the configured bounds; a TTL of 0
    /// stores nothing. Data of lower trust never replaces live data of higher trust.
    pub fn insert_rrset(&self, records: Vec<Record>, trust: Trust, now: Instant) {
        self.insert_rrset_checked(records, trust, Validation::Unchecked, now);
    }

    /// [`insert_rrset`](Self::insert_rrset) with what validation said about the records.
    pub fn insert_rrset_checked(
        &self,
        records: Vec<Record>,
        trust: Trust,
        validation: Validation,
        now: Instant,
    ) {
        let Some(first) = records.first() else { return };
        let key = CacheKey::rrset(&first.name, first.record_type(), first.dns_class);
        let Some(ttl) = self.clamp_ttl(records.iter().map(|r| r.ttl).min().unwrap_or(0)) else {
            return;
        };
        // Nothing outranks an authoritative answer: no need to look at what is there.
        if trust < Trust::AuthoritativeAnswer
            && let Some(existing) = self.get(&key, now)
            && existing.trust() > trust
        {
            return;
        }
        let weight = records.iter().map(record_weight).sum::<u32>() + ENTRY_OVERHEAD_BYTES;
        if key.rtype == Some(RecordType::DNAME) && !self.dnames.load(Ordering::Relaxed) {
            self.dnames.store(true, Ordering::Relaxed);
        }
        let data = CachedData::Rrset { records, trust };
        let mut entry = CacheEntry::new(data, now, ttl, weight);
        entry.validation = validation;
        self.put(key, entry);
    }

    /// Store a negative answer for `name` (NXDOMAIN when `rtype` is `None`, else NODATA for
    /// that type). The TTL is min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), capped by the configured
    /// maximum. Without a SOA nothing is stored (RFC 2308 §5: SHOULD NOT cache).
    pub fn insert_negative(
        &self,
        name: &Name,
        rtype: Option<RecordType>,
        soa: Record,
        now: Instant,
    ) {
        self.insert_negative_checked(name, rtype, soa, Validation::Unchecked, now);
    }

    /// [`insert_negative`](Self::insert_negative) with what validation said about it.
    pub fn insert_negative_checked(
        &self,
        name: &Name,
        rtype: Option<RecordType>,
        soa: Record,
        validation: Validation,
        now: Instant,
    ) {
        let Some(ttl) = negative_ttl(&soa).map(|t| t.min(self.config.max_negative_ttl)) else {
            return;
        };
        if ttl == 0 {
            return;
        }
        let key = match rtype {
            Some(t) => CacheKey::rrset(name, t, DNSClass::IN),
            None => CacheKey::name_error(name, DNSClass::IN),
        };
        let weight = record_weight(&soa) + ENTRY_OVERHEAD_BYTES;
        let data = match rtype {
            Some(_) => CachedData::NoData { soa: Box::new(soa) },
            None => CachedData::NxDomain { soa: Box::new(soa) },
        };
        let mut entry = CacheEntry::new(data, now, ttl, weight);
        entry.validation = validation;
        self.put(key, entry);
    }

    /// Assemble the answer to (`name`, `qtype`) from client-grade data, following cached CNAME
    /// links and DNAMEs (at most `max_links` of them). `None` when the cache knows nothing about
    /// `name` itself.
    pub fn answer(
        &self,
        name: &Name,
        qtype: RecordType,
        max_links: usize,
        now: Instant,
    ) -> Option<CachedAnswer> {
        follow_chain(name, qtype, max_links, |link| {
            self.answer_step(link, qtype, now).map(|step| (step, 0))
        })
        .map(|(answer, _)| answer)
    }

    /// The NS keys of `name` and its ancestors, deepest first, the root left out, that may hold
    /// a cached NS set: the zone-cut walk reads only these (the others surely hold none).
    pub fn maybe_zone_cuts(&self, name: &Name) -> Vec<CacheKey> {
        CacheKey::up_the_tree(name, Some(RecordType::NS), false, |hash| {
            self.presence.may_hold(hash)
        })
    }

    /// Remove everything.
    pub fn clear(&self) {
        self.entries.retain(|key, _| {
            count_out(&self.presence, key);
            false
        });
        self.versions.changed_all();
    }

    /// Remove every entry for `name` (every type, and its NXDOMAIN) or, with `subtree`, for
    /// `name` and every name below it.
    pub fn flush(&self, name: &Name, subtree: bool) {
        let name = key::lower_wire(name);
        self.entries.retain(|key, _| {
            let flushed = key.is_flushed_by(&name, subtree);
            if flushed {
                count_out(&self.presence, key);
            }
            !flushed
        });
        self.versions.changed_all();
    }

    /// Number of entries, live or not.
    pub fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Estimated bytes held.
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.weight()
    }

    fn clamp_ttl(&self, ttl: u32) -> Option<u32> {
        let ttl = ttl.clamp(
            self.config.min_ttl,
            self.config.max_ttl.max(self.config.min_ttl),
        );
        (ttl > 0).then_some(ttl)
    }
}

/// RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM) seconds. `None` if the
/// record is not a SOA.
pub fn negative_ttl(soa: &Record) -> Option<u32> {
    match &soa.data {
        RData::SOA(data) => Some(soa.ttl.min(data.minimum)),
        _ => None,
    }
}

/// A record in memory: the `Record` struct, and about its wire length again for what its
/// name and data hold outside it (long names, the data of the larger types).
fn record_weight(record: &Record) -> u32 {
    let wire = key::wire_len(&record.name) + 10 + rdata_len(&record.data);
    (wire as u32).saturating_add(std::mem::size_of::<Record>() as u32)
}

/// The wire length of `data` (uncompressed): counted for the common types, encoded for the
/// rest (encoding a record only to weigh it was a tenth of a cache miss's store step).
fn rdata_len(data: &RData) -> usize {
    match data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::NS(name) => key::wire_len(&name.0),
        RData::CNAME(name) => key::wire_len(&name.0),
        RData::PTR(name) => key::wire_len(&name.0),
        RData::MX(mx) => 2 + key::wire_len(&mx.exchange),
        other => other.to_bytes().map_or(256, |b| b.len()),
    }
}

pub mod dname;
mod presence;
pub mod scoped;
pub use scoped::{ScopedCache, ScopedCacheConfig, ScopedHit};

pub mod view;
pub use view::CacheView;
pub mod wire;
pub use wire::{
    DNSSEC_AD, DNSSEC_CD, DNSSEC_DO, WireAnswer, WireCache, WireClients, WireError, WireKey,
    WireKeyRef, lowercase_wire,
};

#[cfg(test)]
mod tests;
