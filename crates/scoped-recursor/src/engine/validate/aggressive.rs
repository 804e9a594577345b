//! Aggressive use of the DNSSEC-validated cache (RFC 8198): the NSEC records of a secure
//! negative answer say that no name between their owner and their next name exists, so a later
//! question for another name in such a range is answered NXDOMAIN without asking upstream —
//! as Unbound's `aggressive-nsec` does. `[dnssec] aggressive-nsec` turns it off.
//!
//! Only NSEC: an NSEC3 range is a range of hashes, and Unbound uses none either. The records
//! are kept per zone, with the zone's SOA and the RRSIGs over both (the answer carries its
//! proof for DO clients), for the negative TTL of the answer they came with (RFC 8198 §5.4:
//! never longer than the SOA's minimum), and only after they verified with the zone's keys.
//! The synthesised answer must pass the same check as one from upstream: `prove_denial` with
//! the range covering the name and the one covering the wildcard at its closest encloser.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use scoped_cache::Validation;
use scoped_dnssec::verify::rrsig_of;
use scoped_dnssec::{Denied, Security, prove_denial};
use tokio::time::Instant;

use super::Evidence;
use crate::classify::Step;
use crate::engine::Recursor;
use crate::engine::answer::negative;
use crate::{Question, Resolution};

/// Zones whose NSEC ranges are kept.
const ZONES_CAPACITY: u64 = 10_000;
/// NSEC ranges kept per zone; past it the expired ones go, and if that is not enough, all.
const RANGES_PER_ZONE: usize = 10_000;

/// A zone's validated NSEC ranges, by owner (canonical order: hickory's `Name` ordering).
#[derive(Default)]
pub(in crate::engine) struct ZoneRanges {
    /// The zone's SOA and its RRSIGs, and until when they may be used.
    soa: Option<(Instant, Vec<Record>)>,
    /// Each NSEC with its RRSIGs, and until when it may be used.
    ranges: BTreeMap<Name, (Instant, Vec<Record>)>,
}

/// Reclaimed on moka's clock, read on tokio's.
pub(in crate::engine) type Ranges = moka::sync::Cache<Name, Arc<Mutex<ZoneRanges>>>;

pub(in crate::engine) fn ranges() -> Ranges {
    moka::sync::Cache::builder()
        .max_capacity(ZONES_CAPACITY)
        .time_to_live(Duration::from_secs(86_400))
        .build()
}

/// `records` with their TTLs no longer than the `left` seconds.
fn counted_down(records: &[Record], left: u32) -> impl Iterator<Item = Record> + '_ {
    records.iter().map(move |r| {
        let mut r = r.clone();
        r.ttl = r.ttl.min(left);
        r
    })
}

impl ZoneRanges {
    /// The live ranges that could prove `name` absent in `zone`: the one at or before `name`,
    /// and the one at or before the wildcard of each ancestor down to the zone.
    fn candidates(&self, zone: &Name, name: &Name, now: Instant) -> Vec<&(Instant, Vec<Record>)> {
        let mut wanted = vec![name.clone()];
        let mut ancestor = name.base_name();
        while zone.zone_of(&ancestor) {
            if let Ok(wildcard) = ancestor.prepend_label("*") {
                wanted.push(wildcard);
            }
            if &ancestor == zone {
                break;
            }
            ancestor = ancestor.base_name();
        }
        let mut found: Vec<&(Instant, Vec<Record>)> = Vec::new();
        for target in &wanted {
            if let Some((_, range)) = self.ranges.range(..=target).next_back()
                && now < range.0
                && !found.iter().any(|f| std::ptr::eq(*f, range))
            {
                found.push(range);
            }
        }
        found
    }
}

impl Recursor {
    /// Keep the NSEC ranges of a secure, untailored negative `step` (RFC 8198).
    pub(super) fn learn_ranges(&self, step: &Step, evidence: &Evidence) {
        let dnssec = &self.inner.config.dnssec;
        if !dnssec.aggressive_nsec {
            return;
        }
        let soa = match step {
            Step::NxDomain { soa: Some(soa), .. }
            | Step::NoData {
                soa: Some(soa),
                rcode: ResponseCode::NoError,
                ..
            } => soa,
            _ => return,
        };
        let zone = soa.name.to_lowercase();
        let max = self.inner.cache.config().max_negative_ttl;
        let Some(negative_ttl) = scoped_cache::negative_ttl(soa).map(|t| t.min(max)) else {
            return;
        };
        // The NSEC records signed by the zone of the SOA (verified by now: the answer is
        // secure, and every NSEC RRset of its zone was checked).
        let signed_by_zone = |owner: &Name| {
            evidence
                .sigs_for(owner, RecordType::NSEC)
                .into_iter()
                .filter(|s| rrsig_of(s).is_some_and(|s| s.input().signer_name == zone))
                .collect::<Vec<_>>()
        };
        let now = Instant::now();
        let mut learnt = Vec::new();
        for nsec in &evidence.records {
            if nsec.record_type() != RecordType::NSEC || !zone.zone_of(&nsec.name) {
                continue;
            }
            let sigs = signed_by_zone(&nsec.name);
            let ttl = nsec.ttl.min(negative_ttl);
            if sigs.is_empty() || ttl == 0 {
                continue;
            }
            let until = now + Duration::from_secs(u64::from(ttl));
            let mut records = vec![nsec.clone()];
            records.extend(sigs);
            learnt.push((nsec.name.to_lowercase(), (until, records)));
        }
        if learnt.is_empty() {
            return;
        }
        let mut soa_records = vec![soa.as_ref().clone()];
        soa_records.extend(evidence.sigs_for(&soa.name, RecordType::SOA));
        let soa_until = now + Duration::from_secs(u64::from(negative_ttl.min(soa.ttl)));
        let entry = self.inner.dnssec.ranges.get_with(zone, Arc::default);
        let mut kept = entry.lock().unwrap_or_else(|e| e.into_inner());
        kept.soa = Some((soa_until, soa_records));
        kept.ranges.extend(learnt);
        if kept.ranges.len() > RANGES_PER_ZONE {
            kept.ranges.retain(|_, (until, _)| now < *until);
            if kept.ranges.len() > RANGES_PER_ZONE {
                kept.ranges.clear();
            }
        }
        self.inner.dnssec.seen.ranges.store(true, Ordering::Relaxed);
    }

    /// NXDOMAIN for `question` from the NSEC ranges kept, secure, with its proof; `None` when
    /// they do not prove it (or aggressive use is off, or the name is under a negative trust
    /// anchor).
    pub(in crate::engine) fn aggressive_nxdomain(&self, question: &Question) -> Option<Resolution> {
        let dnssec = &self.inner.config.dnssec;
        if !dnssec.aggressive_nsec || !self.inner.dnssec.seen.ranges.load(Ordering::Relaxed) {
            return None;
        }
        let name = question.name.to_lowercase();
        if dnssec.anchors.presumed(&name).is_some() {
            return None;
        }
        // The closest enclosing zone whose ranges are kept.
        let mut zone = name.clone();
        let entry = loop {
            if zone.is_root() {
                return None;
            }
            zone = zone.base_name();
            if let Some(entry) = self.inner.dnssec.ranges.get(&zone) {
                break entry;
            }
        };
        let kept = entry.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (soa_until, soa) = kept.soa.as_ref().filter(|(until, _)| now < *until)?;
        let candidates = kept.candidates(&zone, &name, now);
        let nsecs: Vec<Record> = candidates.iter().map(|(_, r)| r[0].clone()).collect();
        let proven = prove_denial(&zone, &name, &Denied::NxDomain, &nsecs, &dnssec.policy);
        if proven != Security::Secure {
            return None;
        }
        let until = candidates
            .iter()
            .map(|(until, _)| *until)
            .fold(*soa_until, Instant::min);
        let left = until.saturating_duration_since(now).as_secs().max(1) as u32;
        let mut resolution = negative(ResponseCode::NXDomain, Vec::new(), None, 0);
        resolution.authorities.extend(counted_down(soa, left));
        for (_, records) in &candidates {
            resolution.authorities.extend(counted_down(records, left));
        }
        resolution.from_cache = true;
        resolution.security = Validation::Secure;
        Some(resolution)
    }
}
