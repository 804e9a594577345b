//! Aggressive use of the DNSSEC-validated cache (RFC 8198): the NSEC and NSEC3 records of a
//! secure negative answer say that no name lies in their span (and, at their owner, which
//! types exist), so a later question they answer gets NXDOMAIN or NODATA without asking
//! upstream. `[dnssec] aggressive-nsec` turns it off.
//!
//! The records are kept per zone, with the zone's SOA and the RRSIGs over both (the answer
//! carries its proof for DO clients), for the negative TTL of the answer they came with
//! (RFC 8198 §5.4: never longer than the SOA's minimum), and only after they verified with the
//! zone's keys. A synthesised answer must pass the same check as one from upstream:
//! `prove_denial` over the kept records that could prove it (`select.rs`).
//!
//! NSEC3 records are kept only with the zone's one parameter set (salt, iterations: a new set
//! replaces the records of the old one), never above the iteration limit (such a zone is
//! insecure anyway), and never with the opt-out flag: an opt-out span may hide unsigned
//! delegations, so it proves nothing (RFC 8198 §4.1 leaves it to the validator; Unbound does
//! not use them either).
//!
//! Memory: at most [`RANGES_CAPACITY`] records (each with its RRSIGs) in all zones together,
//! and at most [`RANGES_PER_ZONE`] of each kind in one zone.

mod select;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC3};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_cache::Validation;
use scoped_dnssec::verify::rrsig_of;
use scoped_dnssec::{Denied, Security, prove_denial};
use tokio::time::Instant;

use super::Evidence;
use crate::classify::Step;
use crate::engine::Recursor;
use crate::engine::answer::negative;
use crate::engine::stats::bump;
use crate::{Question, Resolution};

/// NSEC and NSEC3 records kept in all zones together (each zone weighs its records plus one,
/// so this bounds the number of zones too).
const RANGES_CAPACITY: u64 = 100_000;
/// Ranges kept per zone (of each kind); past it the expired ones go, and if that is not
/// enough, all of that kind.
const RANGES_PER_ZONE: usize = 10_000;

/// A kept record with its RRSIGs (the record first), and until when it may be used.
pub(in crate::engine) type Kept = (Instant, Vec<Record>);

/// A zone's validated NSEC and NSEC3 ranges, by owner (canonical order: hickory's `Name`
/// ordering, which for NSEC3 owners is the order of the hashes).
#[derive(Default)]
pub(in crate::engine) struct ZoneRanges {
    /// The zone's SOA and its RRSIGs.
    soa: Option<Kept>,
    nsec: BTreeMap<Name, Kept>,
    nsec3: BTreeMap<Name, Kept>,
    /// The salt and iteration count of the NSEC3 records kept.
    nsec3_params: Option<(Vec<u8>, u16)>,
}

impl ZoneRanges {
    fn len(&self) -> usize {
        self.nsec.len() + self.nsec3.len()
    }

    /// The kept records that could prove `denied` for `name`, NSEC if the zone has any.
    fn candidates(&self, zone: &Name, name: &Name, now: Instant) -> Vec<&Kept> {
        if !self.nsec.is_empty() {
            return select::nsec(&self.nsec, zone, name, now);
        }
        match &self.nsec3_params {
            Some(params) => select::nsec3(&self.nsec3, params, zone, name, now),
            None => Vec::new(),
        }
    }
}

/// Reclaimed on moka's clock, read on tokio's.
pub(in crate::engine) type Ranges = moka::sync::Cache<Name, Arc<Mutex<ZoneRanges>>>;

pub(in crate::engine) fn ranges() -> Ranges {
    moka::sync::Cache::builder()
        .max_capacity(RANGES_CAPACITY)
        .weigher(|_, zone: &Arc<Mutex<ZoneRanges>>| {
            let kept = zone.lock().unwrap_or_else(|e| e.into_inner());
            u32::try_from(kept.len() + 1).unwrap_or(u32::MAX)
        })
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

fn nsec3_of(record: &Record) -> Option<&NSEC3> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some(nsec3),
        _ => None,
    }
}

/// Add `learnt` to `map`, keeping it within [`RANGES_PER_ZONE`].
fn add_ranges(map: &mut BTreeMap<Name, Kept>, learnt: Vec<(Name, Kept)>, now: Instant) {
    map.extend(learnt);
    if map.len() > RANGES_PER_ZONE {
        map.retain(|_, (until, _)| now < *until);
        if map.len() > RANGES_PER_ZONE {
            map.clear();
        }
    }
}

impl Recursor {
    /// Keep the NSEC and NSEC3 ranges of a secure, untailored negative `step` (RFC 8198).
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
        // The records signed by the zone of the SOA (verified by now: the answer is secure,
        // and every NSEC and NSEC3 RRset of its zone was checked).
        let signed_by_zone = |record: &Record| {
            evidence
                .sigs_for(&record.name, record.record_type())
                .into_iter()
                .filter(|s| rrsig_of(s).is_some_and(|s| s.input().signer_name == zone))
                .collect::<Vec<_>>()
        };
        let now = Instant::now();
        let max_iterations = dnssec.policy.nsec3_max_iterations;
        let (mut nsec, mut nsec3) = (Vec::new(), Vec::new());
        let mut params = None;
        for record in &evidence.records {
            let usable = match record.record_type() {
                RecordType::NSEC => zone.zone_of(&record.name),
                RecordType::NSEC3 => {
                    record.name.base_name() == zone
                        && nsec3_of(record).is_some_and(|n| {
                            let ours = params.get_or_insert_with(|| (n.salt(), n.iterations()));
                            !n.opt_out()
                                && n.iterations() <= max_iterations
                                && *ours == (n.salt(), n.iterations())
                        })
                }
                _ => false,
            };
            let sigs = if usable {
                signed_by_zone(record)
            } else {
                Vec::new()
            };
            let ttl = record.ttl.min(negative_ttl);
            if sigs.is_empty() || ttl == 0 {
                continue;
            }
            let until = now + Duration::from_secs(u64::from(ttl));
            let mut records = vec![record.clone()];
            records.extend(sigs);
            let learnt = (record.name.to_lowercase(), (until, records));
            match record.record_type() {
                RecordType::NSEC => nsec.push(learnt),
                _ => nsec3.push(learnt),
            }
        }
        if nsec.is_empty() && nsec3.is_empty() {
            return;
        }
        let mut soa_records = vec![soa.as_ref().clone()];
        soa_records.extend(evidence.sigs_for(&soa.name, RecordType::SOA));
        let soa_until = now + Duration::from_secs(u64::from(negative_ttl.min(soa.ttl)));
        let entry = self
            .inner
            .dnssec
            .ranges
            .get_with(zone.clone(), Arc::default);
        {
            let mut kept = entry.lock().unwrap_or_else(|e| e.into_inner());
            kept.soa = Some((soa_until, soa_records));
            add_ranges(&mut kept.nsec, nsec, now);
            if !nsec3.is_empty() {
                let params = params.map(|(salt, iterations)| (salt.to_vec(), iterations));
                if kept.nsec3_params != params {
                    kept.nsec3.clear();
                    kept.nsec3_params = params;
                }
                add_ranges(&mut kept.nsec3, nsec3, now);
            }
        }
        // Inserted again so that the zone weighs what it now keeps.
        self.inner.dnssec.ranges.insert(zone, entry);
        self.inner.dnssec.seen.ranges.store(true, Ordering::Relaxed);
    }

    /// NODATA or NXDOMAIN for `question` from the NSEC/NSEC3 ranges kept, secure, with its
    /// proof, counted; `None` when they do not prove it (or aggressive use is off, or the name
    /// is under a negative trust anchor).
    pub(in crate::engine) fn aggressive_negative(&self, question: &Question) -> Option<Resolution> {
        let dnssec = &self.inner.config.dnssec;
        if !dnssec.aggressive_nsec || !self.inner.dnssec.seen.ranges.load(Ordering::Relaxed) {
            return None;
        }
        let name = question.name.to_lowercase();
        if dnssec.anchors.presumed(&name).is_some() {
            return None;
        }
        // The closest enclosing zone whose ranges are kept: the name itself may be a zone's
        // apex, except for DS, which is its parent's.
        let mut zone = match question.qtype {
            RecordType::DS if !name.is_root() => name.base_name(),
            _ => name.clone(),
        };
        let entry = loop {
            if let Some(entry) = self.inner.dnssec.ranges.get(&zone) {
                break entry;
            }
            if zone.is_root() {
                return None;
            }
            zone = zone.base_name();
        };
        let kept = entry.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (soa_until, soa) = kept.soa.as_ref().filter(|(until, _)| now < *until)?;
        let candidates = kept.candidates(&zone, &name, now);
        if candidates.is_empty() {
            return None;
        }
        let denials: Vec<Record> = candidates.iter().map(|(_, r)| r[0].clone()).collect();
        let proves = |denied: &Denied| {
            prove_denial(&zone, &name, denied, &denials, &dnssec.policy) == Security::Secure
        };
        // A bitmap speaks for real types only: ANY and the transfer types are never NODATA.
        let meta = matches!(
            question.qtype,
            RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::OPT
        );
        let (rcode, counter) = if !meta && proves(&Denied::NoData(question.qtype)) {
            (
                ResponseCode::NoError,
                &self.inner.stats.dnssec_aggressive_nodata,
            )
        } else if proves(&Denied::NxDomain) {
            (
                ResponseCode::NXDomain,
                &self.inner.stats.dnssec_aggressive_nxdomain,
            )
        } else {
            return None;
        };
        let until = candidates
            .iter()
            .map(|(until, _)| *until)
            .fold(*soa_until, Instant::min);
        let left = until.saturating_duration_since(now).as_secs().max(1) as u32;
        let mut resolution = negative(rcode, Vec::new(), None, 0);
        resolution.authorities.extend(counted_down(soa, left));
        for (_, records) in &candidates {
            resolution.authorities.extend(counted_down(records, left));
        }
        resolution.from_cache = true;
        resolution.security = Validation::Secure;
        bump(counter);
        Some(resolution)
    }
}
