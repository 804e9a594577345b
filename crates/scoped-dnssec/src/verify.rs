//! One RRset against its RRSIGs and the zone's DNSKEY set (RFC 4035 §5.3).

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use hickory_proto::dnssec::{TBS, Verifier};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::policy::Policy;
use crate::status::{Kind, Reason};

/// What a verified RRset comes with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The TTL the RRset may be kept for: the smallest of the records' TTLs, the RRSIG's TTL,
    /// its original TTL and the seconds left until it expires (RFC 4035 §5.3.3).
    pub ttl: u32,
    /// The key tag of the DNSKEY whose signature verified.
    pub key_tag: u16,
    /// When the RRSIG's labels field is smaller than the owner's label count, the RRset was
    /// synthesised from the wildcard `*.<this name>`: the closest encloser. The caller must then
    /// prove that the query name itself does not exist ([`crate::Denied::Wildcard`]).
    pub wildcard: Option<Name>,
}

/// The RRSIG record data of a record, if it is one.
pub fn rrsig_of(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) => Some(rrsig),
        _ => None,
    }
}

/// The DNSKEY record data of a record, if it is one.
pub fn dnskey_of(record: &Record) -> Option<&DNSKEY> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key),
        _ => None,
    }
}

/// RFC 1982 serial-number comparison: is `a` at or before `b` (RFC 4034 §3.1.5)?
pub fn serial_le(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) >= 0
}

/// Why one RRSIG did not do; the most telling one is reported when none does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Miss {
    Absent,
    NoKey,
    NotYetValid,
    Expired,
    Invalid,
}

impl Miss {
    fn kind(self) -> Kind {
        match self {
            Self::Absent => Kind::RrsigsMissing,
            Self::NoKey => Kind::DnskeyMissing,
            Self::NotYetValid => Kind::SignatureNotYetValid,
            Self::Expired => Kind::SignatureExpired,
            Self::Invalid => Kind::SignatureInvalid,
        }
    }
}

/// Verify `rrset` (records of one owner and type, class IN) with the RRSIGs among `rrsigs` that
/// cover it, against `keys`, the DNSKEY set of `zone` (already validated, or the candidate key
/// when the DNSKEY RRset itself is checked). `now` is seconds since the epoch.
///
/// An RRSIG counts when: its signer is `zone` and `zone` is the owner or an ancestor of it; its
/// labels field is at most the owner's label count (fewer: wildcard expansion, reported in
/// [`Verified::wildcard`]); its algorithm is supported by `policy`; `now` lies between inception
/// and expiration (serial-number arithmetic); a key of `keys` has its key tag and algorithm, the
/// zone flag and not the REVOKE flag; and the signature verifies. One such RRSIG suffices.
///
/// Otherwise the error is the most telling failure: a signature that does not verify (EDE 6),
/// else expired (7), else not yet valid (8), else no matching DNSKEY (9), else no usable RRSIG
/// at all (10), with the zone and the key tag concerned.
pub fn verify_rrset(
    rrset: &[Record],
    rrsigs: &[Record],
    zone: &Name,
    keys: &[DNSKEY],
    now: u32,
    policy: &Policy,
) -> Result<Verified, Reason> {
    verify_rrset_with(rrset, rrsigs, zone, (keys, &Crypto), now, policy)
}

/// How a signature is checked once everything around it (signer, algorithm, validity
/// period, key tag) has been: `signature` over the signed data `tbs` (RFC 4034 §3.1.8.1) with
/// `key`. [`Crypto`] does the cryptography; a caller may put a memo of earlier results in
/// front of it, as the result depends on these three inputs alone.
pub trait SigCheck {
    /// Whether the signature verifies.
    fn verifies(&self, key: &DNSKEY, tbs: &[u8], signature: &[u8]) -> bool;
}

/// The cryptography itself (hickory-proto's, with ring).
pub struct Crypto;

impl SigCheck for Crypto {
    fn verifies(&self, key: &DNSKEY, tbs: &[u8], signature: &[u8]) -> bool {
        key.verify(tbs, signature).is_ok()
    }
}

/// [`verify_rrset`] with the signatures checked by `check`.
pub fn verify_rrset_with(
    rrset: &[Record],
    rrsigs: &[Record],
    zone: &Name,
    (keys, check): (&[DNSKEY], &dyn SigCheck),
    now: u32,
    policy: &Policy,
) -> Result<Verified, Reason> {
    let Some(first) = rrset.first() else {
        return Err(Reason::new(Kind::RrsigsMissing, zone));
    };
    let owner = &first.name;
    let rtype = first.record_type();
    let mut worst = (Miss::Absent, None);
    for record in rrsigs.iter().filter(|r| &r.name == owner) {
        let Some(rrsig) = rrsig_of(record) else {
            continue;
        };
        let input = rrsig.input();
        if input.type_covered != rtype {
            continue;
        }
        let tag = input.key_tag;
        match check_one(
            rrset,
            record,
            rrsig,
            owner,
            zone,
            (keys, check),
            now,
            policy,
        ) {
            Ok(expires_in) => {
                let ttl = rrset
                    .iter()
                    .map(|r| r.ttl)
                    .chain([record.ttl, input.original_ttl, expires_in])
                    .min()
                    .unwrap_or(0);
                let labels = usize::from(input.num_labels);
                let wildcard =
                    (labels < usize::from(owner.num_labels())).then(|| owner.trim_to(labels));
                return Ok(Verified {
                    ttl,
                    key_tag: tag,
                    wildcard,
                });
            }
            Err(miss) if miss > worst.0 => worst = (miss, Some(tag)),
            Err(_) => {}
        }
    }
    let kind = worst.0.kind();
    Err(match worst.1 {
        Some(tag) if worst.0 != Miss::Absent => Reason::with_key(kind, zone, tag),
        _ => Reason::new(kind, zone),
    })
}

/// One RRSIG: `Ok(seconds until it expires)` when it verifies.
#[allow(clippy::too_many_arguments)]
fn check_one(
    rrset: &[Record],
    record: &Record,
    rrsig: &RRSIG,
    owner: &Name,
    zone: &Name,
    (keys, check): (&[DNSKEY], &dyn SigCheck),
    now: u32,
    policy: &Policy,
) -> Result<u32, Miss> {
    let input = rrsig.input();
    if &input.signer_name != zone || !zone.zone_of(owner) {
        return Err(Miss::Absent);
    }
    if !policy.supports_algorithm(input.algorithm) {
        return Err(Miss::Absent);
    }
    if input.num_labels > owner.num_labels() {
        return Err(Miss::Invalid);
    }
    let (inception, expiration) = (input.sig_inception.get(), input.sig_expiration.get());
    if !serial_le(inception, expiration) {
        return Err(Miss::Invalid);
    }
    if !serial_le(now, expiration) {
        return Err(Miss::Expired);
    }
    if !serial_le(inception, now) {
        return Err(Miss::NotYetValid);
    }
    let mut found = false;
    // The signed data, made once for every key that may have signed it.
    let mut tbs = None;
    for key in keys.iter().filter(|k| usable_key(k, input.algorithm)) {
        if key.calculate_key_tag().ok() != Some(input.key_tag) {
            continue;
        }
        found = true;
        let signed = match &tbs {
            Some(signed) => signed,
            None => match TBS::from_input(owner, record.dns_class, input, rrset.iter()) {
                Ok(signed) => tbs.insert(signed),
                Err(_) => return Err(Miss::Invalid),
            },
        };
        if check.verifies(key, signed.as_ref(), rrsig.sig()) {
            return Ok(expiration.wrapping_sub(now));
        }
    }
    Err(if found { Miss::Invalid } else { Miss::NoKey })
}

/// A DNSKEY that may sign zone data: the zone flag, not revoked (RFC 5011), this algorithm.
fn usable_key(key: &DNSKEY, algorithm: hickory_proto::dnssec::Algorithm) -> bool {
    key.zone_key() && !key.revoke() && key.algorithm() == algorithm
}

/// The records of `records` that form the RRset (`owner`, `rtype`), RRSIGs excluded.
pub fn rrset_of(records: &[Record], owner: &Name, rtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| &r.name == owner && r.record_type() == rtype)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(serial_le(5, 5));
        assert!(serial_le(5, 6));
        assert!(!serial_le(6, 5));
        // 2^32 - 10 is "before" 10 in serial arithmetic (RFC 1982).
        assert!(serial_le(u32::MAX - 10, 10));
        assert!(!serial_le(10, u32::MAX - 10));
    }
}
