//! The DNSSEC records that came with a reply: what validation checks an answer with.

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, Record, RecordType};
use scoped_dnssec::verify::rrsig_of;

/// The DNSSEC records that came with a final step: RRSIGs, NSEC and NSEC3 from the answer and
/// authority sections, inside the bailiwick of `zone`, the zone whose servers answered.
#[derive(Clone, Debug)]
pub(in crate::engine) struct Evidence {
    pub(super) zone: Name,
    pub(super) records: Vec<Record>,
}

impl Evidence {
    /// Nothing (validation is off).
    pub(in crate::engine) fn none(zone: &Name) -> Self {
        Self {
            zone: zone.clone(),
            records: Vec::new(),
        }
    }

    /// The DNSSEC records of `response`, from a server of `zone`.
    pub(in crate::engine) fn of(response: &Message, zone: &Name) -> Self {
        let records = response
            .answers
            .iter()
            .chain(&response.authorities)
            .filter(|r| {
                matches!(
                    r.record_type(),
                    RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3
                ) && zone.zone_of(&r.name)
            })
            .cloned()
            .collect();
        Self {
            zone: zone.clone(),
            records,
        }
    }

    /// `rrset` with the RRSIGs that came for it.
    pub(in crate::engine) fn signed(&self, rrset: Vec<Record>) -> Vec<Record> {
        with_sigs(rrset, &self.records)
    }

    /// The RRSIGs covering (`owner`, `rtype`).
    pub(super) fn sigs_for(&self, owner: &Name, rtype: RecordType) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| &r.name == owner)
            .filter(|r| rrsig_of(r).is_some_and(|s| s.input().type_covered == rtype))
            .cloned()
            .collect()
    }

    /// The zone that signed data at `owner`: the signer of its RRSIGs when that is `owner` or
    /// an ancestor of it inside the answering zone (a server may hold a child zone too),
    /// else the answering zone. With `strict`, the zone must be a proper ancestor of `owner`
    /// (the DS of `owner` is its parent's).
    pub(super) fn signer(&self, owner: &Name, sigs: &[Record], strict: bool) -> Option<Name> {
        let fits = |zone: &Name| zone.zone_of(owner) && !(strict && zone == owner);
        sigs.iter()
            .filter_map(|r| rrsig_of(r).map(|s| s.input().signer_name.to_lowercase()))
            .find(|signer| fits(signer) && self.zone.zone_of(signer))
            .or_else(|| fits(&self.zone).then(|| self.zone.to_lowercase()))
    }

    /// The RRSIGs of the NSEC/NSEC3 records.
    pub(super) fn denial_sigs(&self) -> Vec<Record> {
        let denial = |t| matches!(t, RecordType::NSEC | RecordType::NSEC3);
        self.records
            .iter()
            .filter(|r| rrsig_of(r).is_some_and(|s| denial(s.input().type_covered)))
            .cloned()
            .collect()
    }
}

/// `rrset` followed by the RRSIGs among `sigs` that cover it (same owner, covered type).
pub(in crate::engine) fn with_sigs(mut rrset: Vec<Record>, sigs: &[Record]) -> Vec<Record> {
    if sigs.is_empty() {
        return rrset;
    }
    let Some(first) = rrset.first() else {
        return rrset;
    };
    let (owner, rtype) = (first.name.clone(), first.record_type());
    let covering = sigs
        .iter()
        .filter(|r| r.name == owner)
        .filter(|r| rrsig_of(r).is_some_and(|s| s.input().type_covered == rtype))
        .cloned()
        .collect::<Vec<_>>();
    rrset.extend(covering);
    rrset
}
