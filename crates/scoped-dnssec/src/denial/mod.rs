//! Denial of existence: NSEC (RFC 4035 §5.4, RFC 4592 wildcards) and NSEC3 (RFC 5155 §8) proofs
//! that a name or type does not exist, or that a wildcard expansion was legitimate.
//!
//! The caller verifies the signatures of the NSEC/NSEC3 RRsets first ([`crate::verify_rrset`])
//! and passes only records whose signatures verified; this module checks what they prove.

mod nsec;
mod nsec3;

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::policy::Policy;
use crate::status::{Kind, Reason, Security};

/// What the negative answer (or the wildcard answer) claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// NXDOMAIN: the query name does not exist, and no wildcard could have produced it.
    NxDomain,
    /// NODATA: the name exists (or a wildcard matches it) but has no RRset of this type (nor a
    /// CNAME). For `NoData(RecordType::DS)` at a delegation, a [`Security::Secure`] result proves
    /// the delegation unsigned; an [`Security::Insecure`] one (opt-out) leaves it insecure too.
    NoData(RecordType),
    /// A positive answer expanded from `*.closest_encloser` ([`crate::Verified::wildcard`]):
    /// the query name itself (and every name between it and the closest encloser) must not exist.
    Wildcard {
        /// The closest encloser the RRSIG's labels field gives.
        closest_encloser: Name,
    },
}

/// Check that `records` (the NSEC or NSEC3 records of `zone` from the answer's authority
/// section, signatures already verified) prove `denied` for `qname`.
///
/// - [`Security::Secure`] when proven.
/// - [`Security::Insecure`] for NSEC3 iterations above `policy`'s limit (EDE 27; RFC 9276 §3.2),
///   or the name lies in an opt-out span (NXDOMAIN, or DS absence of a delegation).
/// - [`Security::Bogus`] for no NSEC/NSEC3 records, or not the right ones (EDE 12); records that
///   contradict the claim (EDE 6).
///
/// NSEC records are used when there are any, NSEC3 otherwise.
pub fn prove_denial(
    zone: &Name,
    qname: &Name,
    denied: &Denied,
    records: &[Record],
    policy: &Policy,
) -> Security {
    let nsecs: Vec<(&Name, &NSEC)> = records
        .iter()
        .filter(|r| zone.zone_of(&r.name))
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some((&r.name, nsec)),
            _ => None,
        })
        .collect();
    let result = if !nsecs.is_empty() {
        nsec::prove(zone, qname, denied, &nsecs)
    } else {
        let nsec3s: Vec<(&Name, &NSEC3)> = records
            .iter()
            .filter(|r| r.name.base_name() == *zone)
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some((&r.name, nsec3)),
                _ => None,
            })
            .collect();
        if nsec3s.is_empty() {
            Err(Kind::NsecMissing)
        } else {
            nsec3::prove(zone, qname, denied, &nsec3s, policy)
        }
    };
    match result {
        Ok(()) => Security::Secure,
        Err(kind) => kind.status_with(Reason::new(kind, zone)),
    }
}

/// The owner name of the NSEC3 record for `name` in `zone` (SHA-1, this salt and iteration
/// count): the base32hex hash as the first label, then the zone. `None` if it cannot be formed.
pub fn nsec3_owner(name: &Name, zone: &Name, salt: &[u8], iterations: u16) -> Option<Name> {
    let hash = hickory_proto::dnssec::Nsec3HashAlgorithm::SHA1
        .hash(salt, name, iterations)
        .ok()?;
    let label = data_encoding::BASE32_DNSSEC.encode(hash.as_ref());
    Name::from_ascii(label).ok()?.append_domain(zone).ok()
}

/// The name one label longer than `ancestor` on the way to `name` (RFC 5155's "next closer").
pub(crate) fn next_closer(ancestor: &Name, name: &Name) -> Name {
    name.trim_to(usize::from(ancestor.num_labels()) + 1)
}

/// Does a node with these types fail to prove NODATA for `qtype` at its owner?
/// The type present, or a CNAME (which would have been the answer), or — for any type but DS —
/// a delegation point seen from the parent (NS without SOA: the data is in the child); for DS,
/// the child's apex (SOA: the proof comes from the wrong side of the cut).
pub(crate) fn types_contradict(types: &[RecordType], qtype: RecordType) -> bool {
    let has = |t: RecordType| types.contains(&t);
    if has(qtype) || (qtype != RecordType::CNAME && has(RecordType::CNAME)) {
        return true;
    }
    if qtype == RecordType::DS {
        has(RecordType::SOA)
    } else {
        has(RecordType::NS) && !has(RecordType::SOA)
    }
}
