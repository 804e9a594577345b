//! Per-client rate limiting over UDP (`[rate-limit] per-client-qps`).
//!
//! Clients are counted by network, /24 for IPv4 and /56 for IPv6 (the sizes an ISP hands to one
//! customer, and the ECS defaults): one token bucket each, refilled at `per-client-qps` tokens a
//! second up to one second's worth. A query takes a token; without one it is over the limit.
//! Of the over-limit queries of a network, every `slip`-th gets a small answer (the guard makes
//! it TC=1, or BADCOOKIE with a fresh cookie), the rest are dropped: a real client behind a
//! spoofed flood still gets through by retrying over TCP (or with the cookie), while the flood
//! cannot be reflected at volume.
//!
//! TCP is not limited here: it proves the source address, and is where the slip sends clients.
//! The buckets live in a bounded cache (`table-size` networks, the least recently used
//! forgotten; a forgotten network starts again with a full bucket).

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use moka::sync::Cache;
use tokio::time::Instant;

use crate::config::RateLimitConfig;

/// The prefix length an IPv4 client is counted by.
pub const RATE_LIMIT_V4_PREFIX: u8 = 24;
/// The prefix length an IPv6 client is counted by.
pub const RATE_LIMIT_V6_PREFIX: u8 = 56;

/// What to do with one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Within the limit: serve it.
    Allow,
    /// Over the limit, its turn in the slip: a small answer.
    Slip,
    /// Over the limit: no answer.
    Drop,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    /// Over-limit queries of this network so far (the slip counts on it).
    over: u64,
}

/// The buckets of every client network.
pub(crate) struct RateLimiter {
    qps: f64,
    slip: u64,
    buckets: Cache<u128, Arc<Mutex<Bucket>>, foldhash::fast::RandomState>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("qps", &self.qps)
            .field("slip", &self.slip)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `None` when the configuration turns limiting off.
    pub(crate) fn new(config: &RateLimitConfig) -> Option<Self> {
        (config.per_client_qps > 0).then(|| Self {
            qps: f64::from(config.per_client_qps),
            slip: u64::from(config.slip),
            buckets: Cache::builder()
                .max_capacity(config.table_size.max(1))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        })
    }

    /// Takes a token for `client` at `now`.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Limit {
        let bucket = self.buckets.get_with(network(client), || {
            Arc::new(Mutex::new(Bucket {
                tokens: self.qps,
                refilled: now,
                over: 0,
            }))
        });
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.qps).min(self.qps);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Limit::Allow;
        }
        bucket.over += 1;
        if self.slip > 0 && bucket.over.is_multiple_of(self.slip) {
            Limit::Slip
        } else {
            Limit::Drop
        }
    }
}

/// The client's network as one key: the family in the top bits, the prefix below.
fn network(client: IpAddr) -> u128 {
    match client.to_canonical() {
        IpAddr::V4(ip) => {
            let prefix = u32::from(ip) >> (32 - RATE_LIMIT_V4_PREFIX);
            (1 << 64) | u128::from(prefix)
        }
        IpAddr::V6(ip) => (2 << 64) | (u128::from(ip) >> (128 - RATE_LIMIT_V6_PREFIX)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(qps: u32, slip: u32) -> RateLimiter {
        RateLimiter::new(&RateLimitConfig {
            per_client_qps: qps,
            slip,
            table_size: 1000,
        })
        .expect("on")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn zero_qps_is_off() {
        assert!(RateLimiter::new(&RateLimitConfig::default()).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_network_gets_its_rate_and_a_slip_of_the_rest() {
        let limiter = limiter(10, 2);
        let now = Instant::now();
        let verdicts: Vec<Limit> = (0..16)
            .map(|_| limiter.check(ip("192.0.2.1"), now))
            .collect();
        assert!(verdicts[..10].iter().all(|&v| v == Limit::Allow));
        assert_eq!(
            &verdicts[10..],
            &[
                Limit::Drop,
                Limit::Slip,
                Limit::Drop,
                Limit::Slip,
                Limit::Drop,
                Limit::Slip
            ]
        );
        // The same /24 shares the bucket, the next /24 has its own.
        assert_ne!(limiter.check(ip("192.0.2.200"), now), Limit::Allow);
        assert_eq!(limiter.check(ip("192.0.3.1"), now), Limit::Allow);
        // Refilled at 10 a second.
        let later = now + Duration::from_millis(500);
        let allowed = (0..10)
            .filter(|_| limiter.check(ip("192.0.2.1"), later) == Limit::Allow)
            .count();
        assert_eq!(allowed, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_clients_are_counted_by_56_and_mapped_v4_as_v4() {
        let limiter = limiter(1, 0);
        let now = Instant::now();
        assert_eq!(limiter.check(ip("2001:db8:0:ff::1"), now), Limit::Allow);
        assert_eq!(
            limiter.check(ip("2001:db8:0:ab::2"), now),
            Limit::Drop,
            "slip 0"
        );
        assert_eq!(limiter.check(ip("2001:db8:0:100::1"), now), Limit::Allow);
        assert_eq!(limiter.check(ip("192.0.2.1"), now), Limit::Allow);
        assert_eq!(limiter.check(ip("::ffff:192.0.2.9"), now), Limit::Drop);
    }
}
