//! The DS set of a zone: from the referral that led to it (`referral.rs`) or asked of its
//! parent's servers, verified with the parent's keys; or the signed proof that there is none,
//! which makes the zone (and everything below it) insecure, but only at a real delegation.

use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_dnssec::denial::nsec3_owner;
use scoped_dnssec::{
    DNSSECRData, DS, Denied, Kind, Reason, Security, SigCheck, prove_denial, verify_rrset_with,
};

use super::{Evidence, ZoneState};
use crate::classify::Step;
use crate::engine::ctx::Ctx;
use crate::engine::{Recursor, ResolveError};

/// Whether the verified denial records show a zone cut at `zone` (NS in the bitmap of its own
/// NSEC or NSEC3): a DS denial proves an unsigned delegation only there, not at a name inside
/// the parent zone that someone claimed to be a signer.
pub(super) fn cut_proven(zone: &Name, parent: &Name, denials: &[Record]) -> bool {
    denials.iter().any(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => {
            &r.name == zone && nsec.type_bit_maps().any(|t| t == RecordType::NS)
        }
        RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => {
            nsec3_owner(zone, parent, nsec3.salt(), nsec3.iterations()).is_some_and(|o| o == r.name)
                && nsec3.type_bit_maps().any(|t| t == RecordType::NS)
        }
        _ => false,
    })
}

impl Recursor {
    /// The DS set of `zone`, verified with its parent's keys; or what the zone is without one:
    /// insecure (the parent is, or proves there is no DS), bogus, indeterminate.
    /// The DS part of a referral to the zone stands for the question when one was kept.
    pub(super) async fn trusted_ds(
        &self,
        zone: &Name,
        ctx: &Ctx,
    ) -> Result<Result<Vec<DS>, ZoneState>, ResolveError> {
        if let Some(kept) = self.referral_ds(zone) {
            let (step, evidence) = &*kept;
            let verdict = self.ds_verdict(zone, step, evidence, ctx).await?;
            if !matches!(verdict, Err(ZoneState::Bogus(_))) {
                ctx.trace(|| format!("  DNSSEC: the DS of {zone} from the referral"));
                return Ok(verdict);
            }
            ctx.trace(|| format!("  DNSSEC: the referral's DS of {zone} does not check"));
            self.forget_referral_ds(zone);
        }
        let (step, evidence) = self.fetch(zone, RecordType::DS, ctx).await?;
        self.ds_verdict(zone, &step, &evidence, ctx).await
    }

    /// What a DS answer (`step`, `evidence`) says of `zone`, checked with its parent's keys.
    async fn ds_verdict(
        &self,
        zone: &Name,
        step: &Step,
        evidence: &Evidence,
        ctx: &Ctx,
    ) -> Result<Result<Vec<DS>, ZoneState>, ResolveError> {
        let policy = &self.inner.config.dnssec.policy;
        let now = self.epoch_now();
        let denied = |kind| Ok(Err(ZoneState::Bogus(Reason::new(kind, zone))));
        match step {
            Step::Answer { records, .. } => {
                let sigs = evidence.sigs_for(zone, RecordType::DS);
                let Some(parent) = evidence.signer(zone, &sigs, true) else {
                    return denied(Kind::RrsigsMissing);
                };
                let keys = match self.zone_state(&parent, ctx).await? {
                    ZoneState::Secure(keys) => keys,
                    other => return Ok(Err(other)),
                };
                let checked = (
                    &keys.keys[..],
                    &self.inner.dnssec.signatures as &dyn SigCheck,
                );
                if let Err(reason) =
                    verify_rrset_with(records, &sigs, &parent, checked, now, policy)
                {
                    return Ok(Err(ZoneState::Bogus(reason)));
                }
                let ds = records.iter().filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
                    _ => None,
                });
                Ok(Ok(ds.collect()))
            }
            Step::NoData { .. } | Step::NxDomain { .. } => {
                let Some(parent) = evidence.signer(zone, &evidence.denial_sigs(), true) else {
                    return denied(Kind::DenialInvalid);
                };
                let keys = match self.zone_state(&parent, ctx).await? {
                    ZoneState::Secure(keys) => keys,
                    other => return Ok(Err(other)),
                };
                let denials = match self.verified_denials(evidence, &parent, &keys) {
                    Ok(denials) => denials,
                    Err(reason) => return Ok(Err(ZoneState::Bogus(reason))),
                };
                let no_ds = Denied::NoData(RecordType::DS);
                Ok(Err(
                    match prove_denial(&parent, zone, &no_ds, &denials, policy) {
                        Security::Secure if cut_proven(zone, &parent, &denials) => {
                            ZoneState::Insecure(Reason::new(Kind::UnsignedDelegation, zone))
                        }
                        Security::Secure => {
                            ZoneState::Bogus(Reason::new(Kind::DenialInvalid, zone))
                        }
                        Security::Insecure(reason) => ZoneState::Insecure(reason),
                        Security::Bogus(reason) => ZoneState::Bogus(reason),
                        Security::Indeterminate => ZoneState::Indeterminate,
                    },
                ))
            }
            Step::Cname { .. } => denied(Kind::DenialInvalid),
        }
    }
}
