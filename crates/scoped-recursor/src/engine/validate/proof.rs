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
//! Untailored answers only; the front end drops the proofs for clients without DO.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use scoped_cache::{CacheKey, KeyHasher, Validation};
use scoped_dnssec::verify::rrsig_of;
use tokio::time::Instant;

use super::Evidence;
use crate::classify::Step;
use crate::engine::Recursor;
use crate::{Ede, Question, Resolution};

/// Negative answers whose proof is kept.
const PROOFS_CAPACITY: u64 = 50_000;

/// Proofs by the key of their negative entry. Reclaimed on moka's clock, read on tokio's.
pub(in crate::engine) type Proofs =
    moka::sync::Cache<CacheKey, (Instant, Arc<Vec<Record>>), KeyHasher>;

pub(in crate::engine) fn proofs() -> Proofs {
    moka::sync::Cache::builder()
        .max_capacity(PROOFS_CAPACITY)
        .time_to_live(Duration::from_secs(86_400))
        .build_with_hasher(KeyHasher::default())
}

/// The informational EDE of insecure answers, by question. Reclaimed on moka's clock, read on
/// tokio's.
pub(in crate::engine) type Infos = moka::sync::Cache<(Name, RecordType), (Instant, Ede)>;

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

impl Recursor {
    /// Keep the proof of a negative `step` validated secure (untailored).
    pub(in crate::engine) fn keep_proof(
        &self,
        step: &Step,
        evidence: &Evidence,
        qtype: RecordType,
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
            .insert(key, (until, Arc::new(proof)));
    }

    /// A secure negative answer with its proof in the authority section, TTLs counted down.
    pub(in crate::engine) fn with_proof(
        &self,
        question: &Question,
        mut resolution: Resolution,
    ) -> Resolution {
        match resolution.security {
            Validation::Secure => {}
            Validation::Insecure => return self.with_info(question, resolution),
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
        if let Some((until, proof)) = self.inner.dnssec.proofs.get(&key)
            && now < until
        {
            let left = until.saturating_duration_since(now).as_secs().max(1) as u32;
            resolution.authorities.extend(proof.iter().map(|r| {
                let mut r = r.clone();
                r.ttl = r.ttl.min(left);
                r
            }));
        }
        resolution
    }

    /// An insecure answer with the informational EDE it got when it was validated: kept from
    /// a fresh answer, given back to a hit.
    fn with_info(&self, question: &Question, mut resolution: Resolution) -> Resolution {
        let infos = &self.inner.dnssec.infos;
        let key = (question.name.to_lowercase(), question.qtype);
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
