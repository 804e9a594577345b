//! Write counts for readers that keep something derived from cached records (the engine's
//! delegations: an NS set and its targets' addresses) without reading the records again each
//! time.
//!
//! Every key hashes to one of a fixed number of counters, and every write to a key (and every
//! flush or clear, through a shared epoch) moves its counter. A reader notes the counters of
//! the keys it read, *before* reading each entry; while they all still read the same, none of
//! those keys was written since. A counter is shared by the keys of its bucket, so a write to
//! another key can look like a change (the reader reads again); a change is never missed: a
//! writer stores the entry first and then moves the counter (release), a reader loads the
//! counter (acquire) and then reads the entry, so a reader that saw the new count also sees
//! the new entry.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// 2^14 counters: 64 KiB.
const SLOTS: usize = 1 << 14;

#[derive(Debug)]
pub(crate) struct Versions {
    counters: Box<[AtomicU32]>,
    epoch: AtomicU64,
}

/// Which write counter a key uses (see [`crate::RecordCache::version_slot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionSlot(u32);

impl Versions {
    pub(crate) fn new() -> Self {
        Self {
            counters: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            epoch: AtomicU64::new(0),
        }
    }

    /// The counter of `hash`. The presence filter indexes by the low bits; this takes high
    /// ones, so the two tables do not share their collisions.
    pub(crate) fn slot(hash: u64) -> VersionSlot {
        VersionSlot(((hash >> 40) as usize % SLOTS) as u32)
    }

    /// A key with this hash was just written.
    pub(crate) fn written(&self, hash: u64) {
        self.counters[Self::slot(hash).0 as usize].fetch_add(1, Ordering::Release);
    }

    /// Something not tied to one key changed (a flush, a clear).
    pub(crate) fn changed_all(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The count of `slot` with the epoch: it grows with every write to the slot's keys.
    pub(crate) fn version(&self, slot: VersionSlot) -> u64 {
        let epoch = self.epoch.load(Ordering::Acquire);
        let count = self.counters[slot.0 as usize].load(Ordering::Acquire);
        (epoch << 32).wrapping_add(u64::from(count))
    }
}
