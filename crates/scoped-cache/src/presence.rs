//! Which keys may be in the record cache: a counting filter over the keys' hashes.
//!
//! A cache miss asks for more than the RRset of its question: an NXDOMAIN at the name or any
//! ancestor (RFC 8020 §2), a CNAME at the name, and an NS set at each ancestor on the way to
//! the closest zone cut. Most of those keys are absent, and each
//! absent key cost a full moka lookup (hash-table probe, clock read). The filter answers "surely
//! absent" from one counter: a counter per bucket of key hashes, raised when an entry of a
//! filtered kind is put into the cache and lowered when moka lets it go (its eviction listener
//! sees every removal: replaced, expired, evicted, invalidated). A zero counter means no such
//! key is cached; a non-zero one means "maybe", and the lookup is made as before. So the filter
//! can cost a lookup, never an answer. A counter that reaches its maximum stays there (always
//! "maybe"), so it cannot wrap round to a false zero.

use std::sync::atomic::{AtomicU8, Ordering};

/// A counting filter of key hashes.
#[derive(Debug)]
pub(crate) struct Presence {
    counts: Box<[AtomicU8]>,
    mask: usize,
}

/// Bytes of cache per bucket: a 256 MiB cache gets 1 Mi buckets (1 MiB).
const BYTES_PER_BUCKET: u64 = 256;
const MIN_BUCKETS: u64 = 1 << 12;
const MAX_BUCKETS: u64 = 1 << 22;

impl Presence {
    /// A filter sized for a cache of `cache_bytes`.
    pub(crate) fn for_cache(cache_bytes: u64) -> Self {
        let buckets = (cache_bytes / BYTES_PER_BUCKET)
            .clamp(MIN_BUCKETS, MAX_BUCKETS)
            .next_power_of_two();
        let buckets = usize::try_from(buckets).unwrap_or(1 << 12);
        Self {
            counts: (0..buckets).map(|_| AtomicU8::new(0)).collect(),
            mask: buckets - 1,
        }
    }

    fn bucket(&self, hash: u64) -> &AtomicU8 {
        // The key hashes are seeded per process (CacheKey), so their low bits are as good as any.
        &self.counts[(hash as usize) & self.mask]
    }

    /// A key with this hash was put into the cache.
    pub(crate) fn add(&self, hash: u64) {
        let _ = self
            .bucket(hash)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
    }

    /// A key with this hash left the cache. A saturated counter stays saturated.
    pub(crate) fn remove(&self, hash: u64) {
        let _ = self
            .bucket(hash)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| match n {
                0 | u8::MAX => None,
                n => Some(n - 1),
            });
    }

    /// Whether a key with this hash may be in the cache (`false`: surely not).
    pub(crate) fn may_hold(&self, hash: u64) -> bool {
        self.bucket(hash).load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_holds_nothing_and_an_added_hash_is_held_until_removed() {
        let presence = Presence::for_cache(1 << 20);
        assert!(!presence.may_hold(42));
        presence.add(42);
        assert!(presence.may_hold(42));
        presence.add(42);
        presence.remove(42);
        assert!(presence.may_hold(42), "still one left");
        presence.remove(42);
        assert!(!presence.may_hold(42));
    }

    #[test]
    fn a_saturated_counter_never_says_absent() {
        let presence = Presence::for_cache(1 << 20);
        for _ in 0..300 {
            presence.add(7);
        }
        for _ in 0..300 {
            presence.remove(7);
        }
        assert!(presence.may_hold(7));
    }

    #[test]
    fn removing_what_was_never_added_does_not_wrap() {
        let presence = Presence::for_cache(1 << 20);
        presence.remove(9);
        assert!(!presence.may_hold(9));
        presence.add(9);
        assert!(presence.may_hold(9));
    }

    #[test]
    fn size_follows_the_cache_within_bounds() {
        assert_eq!(Presence::for_cache(0).counts.len(), 1 << 12);
        assert_eq!(Presence::for_cache(256 << 20).counts.len(), 1 << 20);
        assert_eq!(Presence::for_cache(u64::MAX).counts.len(), 1 << 22);
    }
}
