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
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use tokio::time::Instant;

use super::Recursor;
use super::ctx::Ctx;

/// How long a server stays lame for a (zone, type).
pub(super) const LAME_TTL: Duration = Duration::from_secs(15 * 60);

/// How many (server, zone, type) marks are kept.
const CAPACITY: u64 = 65_536;

type Key = (IpAddr, Name, RecordType);

/// The (server, zone, type) marks, each with the instant it lapses (tokio's clock; moka's only
/// reclaims the memory).
pub(super) struct LameServers {
    marks: moka::sync::Cache<Key, Instant>,
}

impl Default for LameServers {
    fn default() -> Self {
        Self {
            marks: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(LAME_TTL)
                .build(),
        }
    }
}

impl LameServers {
    fn key(addr: IpAddr, zone: &Name, qtype: RecordType) -> Key {
        (addr.to_canonical(), zone.to_lowercase(), qtype)
    }

    /// `addr` was lame for `qtype` questions in `zone`.
    pub(super) fn remember(&self, addr: IpAddr, zone: &Name, qtype: RecordType, now: Instant) {
        self.marks
            .insert(Self::key(addr, zone, qtype), now + LAME_TTL);
    }

    /// Whether `addr` is known lame for `qtype` questions in `zone`.
    pub(super) fn is_lame(
        &self,
        addr: IpAddr,
        zone: &Name,
        qtype: RecordType,
        now: Instant,
    ) -> bool {
        self.marks
            .get(&Self::key(addr, zone, qtype))
            .is_some_and(|until| now < until)
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
        let now = Instant::now();
        let lame = &self.inner.lame;
        let (lame_ones, usable): (Vec<IpAddr>, Vec<IpAddr>) = order
            .into_iter()
            .partition(|&addr| lame.is_lame(addr, zone, qtype, now));
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
        let lower = Name::from_ascii("example.com.").unwrap();
        assert!(lame.is_lame(addr, &lower, RecordType::AAAA, now));
        assert!(!lame.is_lame(addr, &lower, RecordType::A, now));
        assert!(!lame.is_lame(other, &lower, RecordType::AAAA, now));
        let sub = Name::from_ascii("sub.example.com.").unwrap();
        assert!(!lame.is_lame(addr, &sub, RecordType::AAAA, now));
        assert!(!lame.is_lame(addr, &lower, RecordType::AAAA, now + LAME_TTL));
    }
}
