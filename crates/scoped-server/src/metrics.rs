//! The front end's labelled metrics, beside the plain counters of `stats.rs`: response latency
//! (answered from the caches, or after recursion) as a histogram with fixed buckets, queries per
//! question type (a bounded set of common types and `other`), and SERVFAILs per reason (the
//! Extended DNS Error INFO-CODE sent with them, or none).
//!
//! Every cell is an `AtomicU64` bumped with `Relaxed` ordering, so the query path pays one
//! atomic add per number it counts, and a latency costs a bucket search over 16 bounds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (the last bucket, `+Inf`, is implied).
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

/// The question types counted on their own; every other type is counted as `other`.
pub const QTYPES: [(u16, &str); 16] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (2, "NS"),
    (12, "PTR"),
    (6, "SOA"),
    (33, "SRV"),
    (16, "TXT"),
    (65, "HTTPS"),
    (64, "SVCB"),
    (43, "DS"),
    (48, "DNSKEY"),
    (257, "CAA"),
    (35, "NAPTR"),
    (255, "ANY"),
];

/// EDE INFO-CODEs counted on their own (0 to this, exclusive); higher ones count as `other`.
const EDE_CODES: usize = 32;

/// A latency histogram: a count per bucket (not cumulative), the total, and the sum.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

/// A copy of a [`LatencyHistogram`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// `(upper bound in µs, observations at most that long)`, cumulative, one per bound of
    /// [`LATENCY_BUCKETS_US`].
    pub buckets: Vec<(u64, u64)>,
    /// Observations in all (the `+Inf` bucket).
    pub count: u64,
    /// Their sum, in microseconds.
    pub sum_us: u64,
}

impl LatencyHistogram {
    /// Counts one response that took `took`.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_US.partition_point(|&bound| bound < us);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Reads it (each cell atomically).
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS_US.len());
        for (bound, cell) in LATENCY_BUCKETS_US.iter().zip(&self.buckets) {
            total += cell.load(Ordering::Relaxed);
            buckets.push((*bound, total));
        }
        let over = self.buckets[LATENCY_BUCKETS_US.len()].load(Ordering::Relaxed);
        LatencySnapshot {
            buckets,
            count: total + over,
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// The front end's labelled metrics; shared by every listener.
#[derive(Debug)]
pub struct FrontendMetrics {
    /// Responses answered from the caches (the fast path, or the engine's caches).
    pub latency_cache: LatencyHistogram,
    /// Responses the engine had to ask upstream for.
    pub latency_recursion: LatencyHistogram,
    /// Queries per type: one cell per [`QTYPES`] entry, then `other`.
    qtypes: [AtomicU64; QTYPES.len() + 1],
    /// SERVFAILs per EDE INFO-CODE (0..32), then `other` codes, then none sent.
    servfail_by_ede: [AtomicU64; EDE_CODES + 2],
}

impl Default for FrontendMetrics {
    fn default() -> Self {
        Self {
            latency_cache: LatencyHistogram::default(),
            latency_recursion: LatencyHistogram::default(),
            qtypes: std::array::from_fn(|_| AtomicU64::new(0)),
            servfail_by_ede: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A copy of [`FrontendMetrics`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Latency of responses answered from the caches.
    pub latency_cache: LatencySnapshot,
    /// Latency of responses resolved upstream.
    pub latency_recursion: LatencySnapshot,
    /// `(type, queries)` for every type of [`QTYPES`] and `other`, in that order.
    pub queries_by_type: Vec<(&'static str, u64)>,
    /// `(reason, SERVFAILs)`: the EDE INFO-CODE as text, `other`, or `none`; reasons never
    /// seen are left out.
    pub servfail_by_reason: Vec<(String, u64)>,
}

impl FrontendMetrics {
    /// Counts one query of type `qtype`.
    pub fn count_qtype(&self, qtype: u16) {
        let cell = QTYPES
            .iter()
            .position(|&(code, _)| code == qtype)
            .unwrap_or(QTYPES.len());
        self.qtypes[cell].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one SERVFAIL sent with the EDE INFO-CODE `ede`, or without one.
    pub fn count_servfail(&self, ede: Option<u16>) {
        let cell = match ede.map(usize::from) {
            Some(code) if code < EDE_CODES => code,
            Some(_) => EDE_CODES,
            None => EDE_CODES + 1,
        };
        self.servfail_by_ede[cell].fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every metric (each cell atomically; the set is not one instant).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        let queries_by_type = QTYPES
            .iter()
            .map(|&(_, name)| name)
            .chain(["other"])
            .zip(self.qtypes.iter().map(load))
            .collect();
        let servfail_by_reason = self
            .servfail_by_ede
            .iter()
            .map(load)
            .enumerate()
            .filter(|&(_, count)| count > 0)
            .map(|(cell, count)| {
                let reason = match cell {
                    EDE_CODES => "other".to_owned(),
                    cell if cell > EDE_CODES => "none".to_owned(),
                    code => code.to_string(),
                };
                (reason, count)
            })
            .collect();
        MetricsSnapshot {
            latency_cache: self.latency_cache.snapshot(),
            latency_recursion: self.latency_recursion.snapshot(),
            queries_by_type,
            servfail_by_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_cumulative_buckets() {
        let histogram = LatencyHistogram::default();
        for us in [10, 50, 51, 3_000, 9_000_000] {
            histogram.observe(Duration::from_micros(us));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 5);
        assert_eq!(snapshot.sum_us, 10 + 50 + 51 + 3_000 + 9_000_000);
        let at = |bound| snapshot.buckets.iter().find(|b| b.0 == bound).unwrap().1;
        assert_eq!(at(50), 2, "a bound is inclusive");
        assert_eq!(at(100), 3);
        assert_eq!(at(2_500), 3);
        assert_eq!(at(5_000), 4);
        assert_eq!(at(5_000_000), 4, "the slowest is only in +Inf");
    }

    #[test]
    fn types_and_reasons_are_a_bounded_label_set() {
        let metrics = FrontendMetrics::default();
        for qtype in [1, 1, 28, 99, 65_000] {
            metrics.count_qtype(qtype);
        }
        for ede in [Some(22), Some(22), Some(23), Some(4_000), None] {
            metrics.count_servfail(ede);
        }
        let snapshot = metrics.snapshot();
        let queries = |name| {
            snapshot
                .queries_by_type
                .iter()
                .find(|q| q.0 == name)
                .unwrap()
                .1
        };
        assert_eq!(snapshot.queries_by_type.len(), QTYPES.len() + 1);
        assert_eq!((queries("A"), queries("AAAA"), queries("other")), (2, 1, 2));
        assert_eq!(queries("MX"), 0);
        let reasons: Vec<(&str, u64)> = snapshot
            .servfail_by_reason
            .iter()
            .map(|(reason, n)| (reason.as_str(), *n))
            .collect();
        assert_eq!(reasons, [("22", 2), ("23", 1), ("other", 1), ("none", 1)]);
    }
}
