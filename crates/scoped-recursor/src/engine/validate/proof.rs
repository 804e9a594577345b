//! What a validated answer needs beyond its records when it is served again from the cache:
//!
//! - the proofs of secure negative answers, for DO clients: the NSEC/NSEC3 records (and the
//!   RRSIGs over them and over the SOA) that came with a validated NXDOMAIN or NODATA, kept for
//!   the negative TTL beside the cached negative entry, and put in the authority section when
//!   the answer is served again (RFC 4035 §3.1.3);
//! - the proofs of secure wildcard expansions (RFC 4035 §3.1.3.3): the NSEC/NSEC3 records
//!   showing that nothing closer than the wildcard exists, kept for the answer's TTL beside its
//!   RRset;
//! - the informational EDE (1, 2, 27) of an insecure answer, kept for the answer's TTL beside
//!   the question, so a hit says what the miss said.
//!
//! Proofs are kept per cache entry: the entry's key and the scope it was cached under, so a
//! tailored answer served again to a client of its subnet carries the proof that came with it,
//! and an NXDOMAIN served for a name below a cached NXDOMAIN (RFC 8020) carries the proof of
//! that ancestor, which proves the name below it absent too (the same closest encloser, the
//! same next closer name, the same wildcard). The front end drops the proofs for clients
//! without DO.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use ipnet::IpNet;
use scoped_cache::{CacheKey, Read, Validation};
use scoped_dnssec::verify::rrsig_of;
use scoped_ecs::CacheScope;
use tokio::time::Instant;

use super::Evidence;
use crate::classify::Step;
use crate::engine::Recursor;
use crate::{Ede, Question, Resolution};

/// Negative answers whose proof is kept.
const PROOFS_CAPACITY: u64 = 50_000;

/// Proofs by the key of their entry and the scope it was cached under. Reclaimed on moka's
/// clock, read on tokio's.
pub(in crate::engine) type Proofs =
    moka::sync::Cache<(CacheKey, CacheScope), (Instant, Arc<Vec<Record>>)>;

pub(in crate::engine) fn proofs() -> Proofs {
    moka::sync::Cache::builder()
        .max_capacity(PROOFS_CAPACITY)
        .time_to_live(Duration::from_secs(86_400))
        .build()
}

/// The informational EDE of insecure answers, by question and, for a tailored answer, the
/// client subnet cut to the answer's scope. Reclaimed on moka's clock, read on tokio's.
pub(in crate::engine) type Infos =
    moka::sync::Cache<(Name, RecordType, Option<IpNet>), (Instant, Ede)>;

pub(in crate::engine) fn infos() -> Infos {
    moka::sync::Cache::builder()
        .max_capacity(PROOFS_CAPACITY)
        .time_to_live(Duration::from_secs(86_400))
        .build()
}

/// Whether a wildcard proof, an insecure answer's EDE or an NSEC range was ever kept: until
/// then a hit (or a miss) costs no lookup for them.
#[derive(Default)]
pub(in crate::engine) struct Seen {
    pub(in crate::engine) wildcards: AtomicBool,
    pub(in crate::engine) infos: AtomicBool,
    /// An NSEC range was kept (`aggressive.rs`).
    pub(in crate::engine) ranges: AtomicBool,
}

/// The EDE codes an insecure answer carries as information.
fn informational(ede: &Ede) -> bool {
    matches!(ede.code, 1 | 2 | 27)
}

/// Whether (`owner`, `rtype`) was expanded from a wildcard: an RRSIG over it counts fewer
/// labels than the owner (RFC 4035 §5.3.4).
fn expanded(evidence: &Evidence, owner: &Name, rtype: RecordType) -> bool {
    evidence
        .sigs_for(owner, rtype)
        .iter()
        .filter_map(rrsig_of)
        .any(|s| s.input().num_labels < owner.num_labels())
}

/// The smallest TTL of `records`.
fn min_ttl(records: &[Record]) -> Option<u32> {
    records.iter().map(|r| r.ttl).min()
}

/// Whether `record` belongs to a denial proof: NSEC, NSEC3, or an RRSIG over one or the SOA.
fn in_proof(record: &Record) -> bool {
    match record.record_type() {
        RecordType::NSEC | RecordType::NSEC3 => true,
        _ => rrsig_of(record).is_some_and(|s| {
            matches!(
                s.input().type_covered,
                RecordType::NSEC | RecordType::NSEC3 | RecordType::SOA
            )
        }),
    }
}

/// A `subnet` cut to the `scope` bits of a tailored answer; `None` for an untailored one.
fn scoped_subnet(subnet: Option<IpNet>, scope: u8) -> Option<IpNet> {
    let subnet = subnet.filter(|_| scope > 0)?;
    let bits = scope.min(subnet.max_prefix_len());
    IpNet::new(subnet.addr(), bits).ok().map(|n| n.trunc())
}

/// `records` with their TTLs no longer than the seconds left until `until`.
fn counted_down(records: &[Record], until: Instant, now: Instant) -> impl Iterator<Item = Record> {
    let left = until.saturating_duration_since(now).as_secs().max(1) as u32;
    records.iter().map(move |r| {
        let mut r = r.clone();
        r.ttl = r.ttl.min(left);
        r
    })
}

impl Recursor {
    /// Keep the proof of a negative `step` validated secure, or of a secure wildcard
    /// expansion, beside the entry it was cached as (under `scope`).
    pub(in crate::engine) fn keep_proof(
        &self,
        step: &Step,
        evidence: &Evidence,
        qtype: RecordType,
        scope: CacheScope,
    ) {
        let max = self.inner.cache.config().max_negative_ttl;
        let negative_ttl = |soa: &Record| scoped_cache::negative_ttl(soa).map(|t| t.min(max));
        let (key, ttl) = match step {
            Step::NxDomain {
                name,
                soa: Some(soa),
                ..
            } => (CacheKey::name_error(name, DNSClass::IN), negative_ttl(soa)),
            Step::NoData {
                name,
                soa: Some(soa),
                rcode: ResponseCode::NoError,
                ..
            } => (
                CacheKey::rrset(name, qtype, DNSClass::IN),
                negative_ttl(soa),
            ),
            Step::Answer { records, .. } => {
                let Some(first) = records.first() else {
                    return;
                };
                if !expanded(evidence, &first.name, first.record_type()) {
                    return;
                }
                let max = self.inner.cache.config().max_ttl;
                let ttl = min_ttl(records).map(|t| t.min(max));
                self.inner
                    .dnssec
                    .seen
                    .wildcards
                    .store(true, Ordering::Relaxed);
                (CacheKey::rrset(&first.name, qtype, DNSClass::IN), ttl)
            }
            _ => return,
        };
        let Some(ttl) = ttl.filter(|&t| t > 0) else {
            return;
        };
        let proof: Vec<Record> = evidence
            .records
            .iter()
            .filter(|r| in_proof(r))
            .cloned()
            .collect();
        if proof.is_empty() {
            return;
        }
        let until = Instant::now() + Duration::from_secs(u64::from(ttl));
        self.inner
            .dnssec
            .proofs
            .insert((key, scope), (until, Arc::new(proof)));
    }

    /// The scope of the cache entry under `key` that serves a client of `subnet`: the tailored
    /// one if the tailored cache holds one for it, else the untailored one.
    fn serving_scope(&self, key: &CacheKey, subnet: Option<IpNet>, now: Instant) -> CacheScope {
        let scoped = &self.inner.scoped;
        if scoped.is_empty() {
            return CacheScope::Global;
        }
        scoped
            .read(key, subnet, now, Read::Live)
            .map_or(CacheScope::Global, |(hit, _)| hit.scope)
    }

    /// The proof kept for `key` as served to `subnet`; for an NXDOMAIN without one, the proof
    /// of the closest ancestor's NXDOMAIN (the record cache answers names below it, RFC 8020).
    fn kept_proof(
        &self,
        key: &CacheKey,
        name: &Name,
        nxdomain: bool,
        subnet: Option<IpNet>,
        now: Instant,
    ) -> Option<(Instant, Arc<Vec<Record>>)> {
        let proofs = &self.inner.dnssec.proofs;
        let live = |found: Option<(Instant, Arc<Vec<Record>>)>| found.filter(|(u, _)| now < *u);
        let scope = self.serving_scope(key, subnet, now);
        if let Some(found) = live(proofs.get(&(key.clone(), scope))) {
            return Some(found);
        }
        if !nxdomain {
            return None;
        }
        let mut ancestor = name.clone();
        while !ancestor.is_root() {
            ancestor = ancestor.base_name();
            let key = CacheKey::name_error(&ancestor, DNSClass::IN);
            if let Some(found) = live(proofs.get(&(key, CacheScope::Global))) {
                return Some(found);
            }
        }
        None
    }

    /// A secure negative answer (or wildcard expansion) with its proof in the authority
    /// section, TTLs counted down; an insecure one with its informational EDE.
    pub(in crate::engine) fn with_proof(
        &self,
        question: &Question,
        subnet: Option<IpNet>,
        mut resolution: Resolution,
    ) -> Resolution {
        match resolution.security {
            Validation::Secure => {}
            Validation::Insecure => return self.with_info(question, subnet, resolution),
            _ => return resolution,
        }
        // The name the answer is about: the end of its CNAME chain.
        let last: Name = resolution
            .answers
            .iter()
            .rev()
            .find_map(|r| match &r.data {
                RData::CNAME(target) => Some(target.0.clone()),
                _ => None,
            })
            .unwrap_or_else(|| question.name.clone());
        let nodata = resolution.rcode == ResponseCode::NoError
            && !resolution.authorities.is_empty()
            && !resolution
                .answers
                .iter()
                .any(|r| r.record_type() == question.qtype);
        let key = match resolution.rcode {
            ResponseCode::NXDomain => CacheKey::name_error(&last, DNSClass::IN),
            _ if nodata => CacheKey::rrset(&last, question.qtype, DNSClass::IN),
            ResponseCode::NoError
                if self.inner.dnssec.seen.wildcards.load(Ordering::Relaxed)
                    && resolution.authorities.is_empty() =>
            {
                CacheKey::rrset(&last, question.qtype, DNSClass::IN)
            }
            _ => return resolution,
        };
        let now = Instant::now();
        let nxdomain = resolution.rcode == ResponseCode::NXDomain;
        if let Some((until, proof)) = self.kept_proof(&key, &last, nxdomain, subnet, now) {
            resolution
                .authorities
                .extend(counted_down(&proof, until, now));
        }
        resolution
    }

    /// An insecure answer with the informational EDE it got when it was validated: kept from
    /// a fresh answer, given back to a hit (of the same subnet, when the answer is tailored).
    fn with_info(
        &self,
        question: &Question,
        subnet: Option<IpNet>,
        mut resolution: Resolution,
    ) -> Resolution {
        let infos = &self.inner.dnssec.infos;
        let key = (
            question.name.to_lowercase(),
            question.qtype,
            scoped_subnet(subnet, resolution.scope),
        );
        let now = Instant::now();
        if !resolution.from_cache {
            match resolution.ede.as_ref().filter(|e| informational(e)) {
                Some(ede) => {
                    let max = self.inner.cache.config().max_ttl;
                    let records = resolution.answers.iter().chain(&resolution.authorities);
                    let ttl = records.map(|r| r.ttl).min().unwrap_or(0).min(max);
                    if ttl > 0 {
                        let until = now + Duration::from_secs(u64::from(ttl));
                        self.inner.dnssec.seen.infos.store(true, Ordering::Relaxed);
                        infos.insert(key, (until, ede.clone()));
                    }
                }
                None if self.inner.dnssec.seen.infos.load(Ordering::Relaxed) => {
                    infos.invalidate(&key);
                }
                None => {}
            }
        } else if resolution.ede.is_none()
            && self.inner.dnssec.seen.infos.load(Ordering::Relaxed)
            && let Some((until, ede)) = infos.get(&key)
            && now < until
        {
            resolution.ede = Some(ede);
        }
        resolution
    }
}
