//! The DS set a signed parent sends with a referral to a DO query (RFC 4035 §3.1.4): the DS
//! RRset and its RRSIGs, or the NSEC/NSEC3 records (and their RRSIGs) proving there is none.
//! The referral is kept, unchecked, beside the child zone's name for as long as its records
//! live; when the child's keys are needed, it stands for the DS question that would otherwise
//! be asked of the parent, and is checked exactly as that answer would be. A referral whose
//! DS part does not check (cut short, say) is not trusted to be bogus: the DS is then asked.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::time::Instant;

use super::Evidence;
use crate::classify::Step;
use crate::engine::Recursor;

/// Referrals whose DS part is kept.
const REFERRALS_CAPACITY: u64 = 20_000;

/// The longest a referral's DS part is kept, whatever its TTLs.
const REFERRAL_MAX_TTL: u32 = 3600;

/// What a referral said about the child's DS: the step a DS question would have ended with
/// (the DS RRset, or NODATA) and the DNSSEC records that came with it.
pub(super) type ReferralDs = (Step, Box<Evidence>);

/// Kept referrals by child zone (lower case). Reclaimed on moka's clock, read on tokio's.
pub(super) type Referrals = moka::sync::Cache<Name, (Instant, Arc<ReferralDs>)>;

pub(super) fn referrals() -> Referrals {
    moka::sync::Cache::builder()
        .max_capacity(REFERRALS_CAPACITY)
        .time_to_live(Duration::from_secs(u64::from(REFERRAL_MAX_TTL)))
        .build()
}

/// The DS part of `response`, a referral from a server of `zone` to `child`: the DS RRset as
/// an answer, or NODATA with the denial records (checked later, like any answer).
fn referral_ds(response: &Message, zone: &Name, child: &Name) -> Option<(ReferralDs, u32)> {
    let ds: Vec<Record> = response
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::DS && &r.name == child)
        .cloned()
        .collect();
    let evidence = Evidence::of(response, zone);
    let ttl = ds
        .iter()
        .chain(&evidence.records)
        .map(|r| r.ttl)
        .min()?
        .min(REFERRAL_MAX_TTL);
    let step = if ds.is_empty() {
        let denial = |r: &Record| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3);
        if !evidence.records.iter().any(denial) {
            // An unsigned referral without a proof: nothing to learn (the DS is asked).
            return None;
        }
        Step::NoData {
            links: Vec::new(),
            name: child.clone(),
            soa: None,
            rcode: ResponseCode::NoError,
        }
    } else {
        Step::Answer {
            links: Vec::new(),
            records: ds,
            authoritative: true,
        }
    };
    Some(((step, Box::new(evidence)), ttl))
}

impl Recursor {
    /// Keep the DS part of a referral from a server of `zone` to `child` (validation on).
    pub(in crate::engine) fn learn_referral_ds(
        &self,
        response: &Message,
        zone: &Name,
        child: &Name,
    ) {
        if !self.validating() {
            return;
        }
        if let Some((kept, ttl)) = referral_ds(response, zone, child)
            && ttl > 0
        {
            let until = Instant::now() + Duration::from_secs(u64::from(ttl));
            let child = child.to_lowercase();
            self.inner
                .dnssec
                .referrals
                .insert(child, (until, Arc::new(kept)));
        }
    }

    /// The DS part of a referral to `zone` kept and still alive.
    pub(super) fn referral_ds(&self, zone: &Name) -> Option<Arc<ReferralDs>> {
        let (until, kept) = self.inner.dnssec.referrals.get(zone)?;
        (Instant::now() < until).then_some(kept)
    }

    /// Forget the DS part of the referral to `zone` (it did not check).
    pub(super) fn forget_referral_ds(&self, zone: &Name) {
        self.inner.dnssec.referrals.invalidate(zone);
    }
}
