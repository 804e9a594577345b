//! [`Deadlines`]: a bounded table of keys, each known to hold until an instant.
//!
//! The engine keeps small facts of this kind beside the record cache: a question that failed,
//! and until when its stale answer is served without retrying; a name known to have no zone
//! cut, and until when. Some are read on every cache miss, so the table is the record cache's
//! kind (quick_cache: sharded, a lock per shard, CLOCK-Pro eviction when full), which reads no
//! clock and queues nothing on a lookup. Expiry is logical: the caller passes the time, a key
//! whose instant has passed reads as absent, and its room is reused when the table is full.

use std::hash::Hash;

use tokio::time::Instant;

use crate::KeyHasher;

type Table<K> = quick_cache::sync::Cache<K, Instant, quick_cache::UnitWeighter, KeyHasher>;

/// Keys known to hold until an instant, at most `capacity` of them (see the module docs).
pub struct Deadlines<K: Eq + Hash + Clone> {
    table: Table<K>,
}

impl<K: Eq + Hash + Clone> Deadlines<K> {
    /// An empty table for at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            table: Table::with(
                capacity,
                capacity as u64,
                quick_cache::UnitWeighter,
                KeyHasher::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
        }
    }

    /// Whether `key` holds at `now`: it was inserted with an instant still after `now`.
    pub fn holds(&self, key: &K, now: Instant) -> bool {
        self.table.get(key).is_some_and(|until| now < until)
    }

    /// `key` holds until `until` (replacing what was known of it).
    pub fn insert(&self, key: K, until: Instant) {
        self.table.insert(key, until);
    }

    /// `key` no longer holds.
    pub fn remove(&self, key: &K) {
        self.table.remove(key);
    }

    /// Forgets every key.
    pub fn clear(&self) {
        self.table.clear();
    }

    /// Keys in the table, including any whose instant has passed and whose room is not yet
    /// reused.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_key_holds_until_its_instant_and_not_at_it() {
        let table = Deadlines::new(16);
        let now = Instant::now();
        table.insert("a", now + Duration::from_secs(5));
        assert!(table.holds(&"a", now));
        assert!(table.holds(&"a", now + Duration::from_secs(4)));
        assert!(!table.holds(&"a", now + Duration::from_secs(5)));
        assert!(!table.holds(&"b", now));
    }

    #[test]
    fn insert_replaces_and_remove_and_clear_forget() {
        let table = Deadlines::new(16);
        let now = Instant::now();
        table.insert(1u32, now + Duration::from_secs(5));
        table.insert(1u32, now);
        assert!(!table.holds(&1, now), "the later insert decides");
        table.insert(2u32, now + Duration::from_secs(5));
        table.remove(&2);
        assert!(!table.holds(&2, now));
        table.insert(3u32, now + Duration::from_secs(5));
        table.clear();
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn the_table_stays_within_its_capacity() {
        let table = Deadlines::new(100);
        let until = Instant::now() + Duration::from_secs(60);
        for key in 0..10_000u32 {
            table.insert(key, until);
        }
        assert!(table.len() <= 100, "{} keys", table.len());
        assert!(
            table.holds(&9_999, Instant::now()),
            "the newest key is kept"
        );
    }
}
