//! A byte limit that can change while the cache runs.
//!
//! moka fixes a cache's capacity when it is built. To let a reload move the limit, the capacity
//! stays what it was at the start and every entry is weighed on a scale: a limit halved doubles
//! the weight of each entry stored from then on, so the same capacity holds half the bytes. The
//! entries already stored keep the weight they were given; as new entries come in, the least
//! recently used leave, so the cache settles at the new limit as its content turns over (at
//! the latest when the old entries expire) — nothing is thrown away at the reload itself.

use std::sync::atomic::{AtomicU64, Ordering};

/// Fixed point: 1.0 is `1 << SHIFT`.
const SHIFT: u32 = 16;

#[derive(Debug)]
pub(crate) struct ByteLimit {
    /// The capacity the table was built with.
    capacity: u64,
    /// The limit in force.
    bytes: AtomicU64,
    /// `capacity / bytes`, fixed point.
    scale: AtomicU64,
}

impl ByteLimit {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            capacity,
            bytes: AtomicU64::new(capacity),
            scale: AtomicU64::new(1 << SHIFT),
        }
    }

    /// The limit in force, in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// A new limit, for the entries stored from now on.
    pub(crate) fn set(&self, bytes: u64) {
        let bytes = bytes.max(1);
        let scale = (u128::from(self.capacity) << SHIFT) / u128::from(bytes);
        self.scale.store(
            u64::try_from(scale).unwrap_or(u64::MAX).max(1),
            Ordering::Relaxed,
        );
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// `weight` (bytes) on the current scale, as the table counts it.
    pub(crate) fn weigh(&self, weight: u32) -> u32 {
        let scaled = (u64::from(weight) * self.scale.load(Ordering::Relaxed)) >> SHIFT;
        u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
    }
}
