//! RFC 5011 §2.3 active refresh: with `trust-anchor-state` set, the DNSKEY RRset of each
//! anchored zone is fetched again in the background, so a long-running resolver sees a KSK
//! roll (a new key's add hold-down, a revocation) even when its clients never make it fetch
//! the keys. After each look at the keys (a client's question or this refresh) the next is
//! due in max(1 hour, min(15 days, half the RRset's original TTL, half the time until its
//! RRSIGs expire)); after a failed refresh, in max(1 hour, min(1 day, a tenth of each)).
//!
//! The cost is bounded: one task per engine (started at the first look), which holds only a
//! weak reference to it (it ends with the engine), and one DNSKEY question per anchored zone
//! per interval — at most one an hour per anchored zone, one a day or so for the root.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use hickory_proto::rr::{Name, Record, RecordType};
use scoped_dnssec::rollover::refresh_interval;
use scoped_dnssec::verify::rrsig_of;
use tokio::time::Instant;

use super::ZoneState;
use crate::engine::ctx::{Budget, Ctx, Role};
use crate::engine::stats::bump;
use crate::engine::{Inner, Recursor};

/// When an anchored zone's keys are next looked at, and what the last look saw.
#[derive(Clone, Copy, Debug)]
struct Due {
    at: Instant,
    original_ttl: u32,
    /// The earliest expiration of the RRSIGs over the RRset (seconds since the epoch).
    expiration: u32,
}

/// The refresh schedule of the anchored zones.
#[derive(Default)]
pub(in crate::engine) struct Schedule {
    due: Mutex<HashMap<Name, Due>>,
    started: AtomicBool,
}

/// The original TTL of the DNSKEY RRset (from its RRSIGs, else the records' TTL) and the
/// earliest expiration of its RRSIGs that has not passed at `now`.
fn lifetime(dnskeys: &[Record], sigs: &[Record], now: u32) -> (u32, u32) {
    let inputs = sigs.iter().filter_map(rrsig_of).map(|s| s.input());
    let covering: Vec<_> = inputs
        .filter(|i| i.type_covered == RecordType::DNSKEY)
        .collect();
    let original_ttl = covering
        .iter()
        .map(|i| i.original_ttl)
        .min()
        .or_else(|| dnskeys.iter().map(|r| r.ttl).min())
        .unwrap_or(0);
    let expiration = covering
        .iter()
        .map(|i| i.sig_expiration.get())
        .filter(|&e| (e.wrapping_sub(now) as i32) > 0)
        .min_by_key(|&e| e.wrapping_sub(now))
        .unwrap_or(now);
    (original_ttl, expiration)
}

impl Recursor {
    /// The anchored `zone`'s keys were looked at (its DNSKEY RRset validated): the next look
    /// is due after the §2.3 interval. Starts the refresh task the first time.
    pub(super) fn schedule_anchor_refresh(&self, zone: &Name, dnskeys: &[Record], sigs: &[Record]) {
        if self.inner.config.dnssec.trust_anchor_state.is_none() {
            return;
        }
        let now = self.epoch_now();
        let (original_ttl, expiration) = lifetime(dnskeys, sigs, now);
        let interval = refresh_interval(original_ttl, expiration.wrapping_sub(now), true);
        let due = Due {
            at: Instant::now() + Duration::from_secs(u64::from(interval)),
            original_ttl,
            expiration,
        };
        let schedule = &self.inner.dnssec.refresh;
        schedule
            .due
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(zone.clone(), due);
        if !schedule.started.swap(true, Ordering::Relaxed) {
            tokio::spawn(refresh_loop(Arc::downgrade(&self.inner)));
        }
    }

    /// The earliest time a refresh is due.
    fn next_anchor_refresh(&self) -> Option<Instant> {
        let due = self.inner.dnssec.refresh.due.lock();
        let due = due.unwrap_or_else(|e| e.into_inner());
        due.values().map(|d| d.at).min()
    }

    /// Fetch the keys of every anchored zone whose refresh is due.
    async fn refresh_due_anchors(&self) {
        let now = Instant::now();
        let due: Vec<(Name, Due)> = {
            let due = self.inner.dnssec.refresh.due.lock();
            let due = due.unwrap_or_else(|e| e.into_inner());
            due.iter()
                .filter(|(_, d)| d.at <= now)
                .map(|(zone, d)| (zone.clone(), *d))
                .collect()
        };
        for (zone, last) in due {
            bump(&self.inner.stats.dnssec_anchor_refreshes);
            if !self.refresh_anchor(&zone).await {
                // Failed: try again sooner (the success path scheduled itself).
                let epoch = self.epoch_now();
                let left = last.expiration.wrapping_sub(epoch);
                let left = if (left as i32) > 0 { left } else { 0 };
                let retry = refresh_interval(last.original_ttl, left, false);
                let at = Instant::now() + Duration::from_secs(u64::from(retry));
                let mut due = self.inner.dnssec.refresh.due.lock();
                let due = due.as_mut().unwrap_or_else(|e| e.get_mut());
                due.insert(zone, Due { at, ..last });
            }
        }
    }

    /// Fetch and check the anchored `zone`'s keys now, as one fetch among others (questions
    /// that need the keys meanwhile wait for it); keep the verdict when it is secure.
    async fn refresh_anchor(&self, zone: &Name) -> bool {
        let config = &self.inner.config;
        let ctx = Ctx {
            budget: Arc::new(Budget::new(
                Instant::now() + config.query_timeout,
                config.max_upstream_queries,
            )),
            depth: 0,
            stack: Vec::new(),
            subnet: None,
            role: Role::NameServer,
            trace: None,
            validate: false,
            recursion_desired: false,
            tls: None,
        };
        let fetching = self.inner.dnssec.fetching(zone);
        let _turn = fetching.lock.lock().await;
        match self.fetch_zone_state(zone, &ctx).await {
            Ok(state @ ZoneState::Secure(_)) => {
                self.keep_zone_state(zone, &state);
                true
            }
            Ok(other) => {
                tracing::warn!(%zone, verdict = %other.security(), "RFC 5011 refresh of the anchored zone's keys failed");
                false
            }
            Err(error) => {
                tracing::warn!(%zone, %error, "RFC 5011 refresh of the anchored zone's keys failed");
                false
            }
        }
    }
}

/// Wait for the next refresh, do it, again — for as long as the engine lives.
async fn refresh_loop(engine: Weak<Inner>) {
    loop {
        let next = {
            let Some(inner) = engine.upgrade() else {
                return;
            };
            Recursor { inner }.next_anchor_refresh()
        };
        let Some(next) = next else {
            return;
        };
        tokio::time::sleep_until(next).await;
        let Some(inner) = engine.upgrade() else {
            return;
        };
        Recursor { inner }.refresh_due_anchors().await;
    }
}
