//! Servers lame for a question, remembered per (server, zone, type).
//!
//! A server may serve a zone for one type and be lame for another: answer A from the zone, but
//! AAAA with an upward referral, without the AA bit, or with data outside the zone. Such a reply
//! is never the answer (`classify.rs`); this table keeps the next question of the same type in
//! the same zone from waiting on that server again, while its other types keep using it. A
//! server that answers REFUSED (it does not serve the zone) is remembered the same way. Passing
//! failures (SERVFAIL, timeouts) are not lameness: they are the infrastructure cache's business.
//!
//! The memory lasts [`LAME_TTL`] (Unbound keeps its lame marks as long, `infra-host-ttl`), and
//! the table is bounded: a forgotten mark costs one more lame reply, nothing else.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::rr::{DNSClass, Name, RecordType};
use scoped_cache::{CacheKey, Deadlines};
use tokio::time::Instant;

use super::Recursor;
use super::ctx::Ctx;

/// How long a server stays lame for a (zone, type).
pub(super) const LAME_TTL: Duration = Duration::from_secs(15 * 60);

/// How many (server, zone, type) marks are kept.
const CAPACITY: usize = 65_536;

/// The server, and the (zone, type) as the record cache keys it: lowercase, hash computed once.
type Key = (IpAddr, CacheKey);

/// The (server, zone, type) marks, each with the instant it lapses.
pub(super) struct LameServers {
    marks: Deadlines<Key>,
    /// Whether any server was ever marked: until then no question looks in `marks`.
    any: AtomicBool,
}

impl Default for LameServers {
    fn default() -> Self {
        Self {
            marks: Deadlines::new(CAPACITY),
            any: AtomicBool::new(false),
        }
    }
}

impl LameServers {
    /// `addr` was lame for `qtype` questions in `zone`.
    pub(super) fn remember(&self, addr: IpAddr, zone: &Name, qtype: RecordType, now: Instant) {
        let key = CacheKey::rrset(zone, qtype, DNSClass::IN);
        self.marks
            .insert((addr.to_canonical(), key), now + LAME_TTL);
        self.any.store(true, Ordering::Relaxed);
    }

    /// Whether `addr` is known lame for the questions of `zone_type` (a zone and a type, keyed
    /// as [`CacheKey::rrset`]).
    fn is_lame(&self, addr: IpAddr, zone_type: &CacheKey, now: Instant) -> bool {
        self.marks
            .holds(&(addr.to_canonical(), zone_type.clone()), now)
    }
}

impl Recursor {
    /// `order` without the servers known lame for `qtype` questions in `zone`.
    pub(super) fn without_lame(
        &self,
        order: Vec<IpAddr>,
        zone: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Vec<IpAddr> {
        let lame = &self.inner.lame;
        if !lame.any.load(Ordering::Relaxed) {
            return order;
        }
        let now = Instant::now();
        let zone_type = CacheKey::rrset(zone, qtype, DNSClass::IN);
        let (lame_ones, usable): (Vec<IpAddr>, Vec<IpAddr>) = order
            .into_iter()
            .partition(|&addr| lame.is_lame(addr, &zone_type, now));
        if !lame_ones.is_empty() {
            ctx.trace(|| {
                let list: Vec<String> = lame_ones.iter().map(ToString::to_string).collect();
                format!(
                    "  lame for {qtype} in {zone}, not asked: {}",
                    list.join(", ")
                )
            });
        }
        usable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_mark_is_per_server_zone_and_type_and_lapses() {
        let lame = LameServers::default();
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let zone = Name::from_ascii("Example.COM.").unwrap();
        let now = Instant::now();
        lame.remember(addr, &zone, RecordType::AAAA, now);
        let key = |name: &str, qtype| {
            CacheKey::rrset(&Name::from_ascii(name).unwrap(), qtype, DNSClass::IN)
        };
        let lower = key("example.com.", RecordType::AAAA);
        assert!(lame.is_lame(addr, &lower, now));
        assert!(!lame.is_lame(addr, &key("example.com.", RecordType::A), now));
        assert!(!lame.is_lame(other, &lower, now));
        assert!(!lame.is_lame(addr, &key("sub.example.com.", RecordType::AAAA), now));
        assert!(!lame.is_lame(addr, &lower, now + LAME_TTL));
    }
}
