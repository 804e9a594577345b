//! The proofs of secure negative answers, for DO clients: the NSEC/NSEC3 records (and the
//! RRSIGs over them and over the SOA) that came with a validated NXDOMAIN or NODATA, kept for
//! the negative TTL beside the cached negative entry, and put in the authority section when the
//! answer is served again (RFC 4035 §3.1.3). Untailored negative answers only; the front end
//! drops them for clients without DO.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use scoped_cache::{CacheKey, KeyHasher, Validation};
use scoped_dnssec::verify::rrsig_of;
use tokio::time::Instant;

use super::Evidence;
use crate::classify::Step;
use crate::engine::Recursor;
use crate::{Question, Resolution};

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
        let (key, soa) = match step {
            Step::NxDomain {
                name,
                soa: Some(soa),
                ..
            } => (CacheKey::name_error(name, DNSClass::IN), soa),
            Step::NoData {
                name,
                soa: Some(soa),
                rcode: ResponseCode::NoError,
                ..
            } => (CacheKey::rrset(name, qtype, DNSClass::IN), soa),
            _ => return,
        };
        let max = self.inner.cache.config().max_negative_ttl;
        let Some(ttl) = scoped_cache::negative_ttl(soa)
            .map(|t| t.min(max))
            .filter(|&t| t > 0)
        else {
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
        if resolution.security != Validation::Secure {
            return resolution;
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
}
