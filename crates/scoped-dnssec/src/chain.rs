//! A zone's DNSKEY RRset validated from a trusted DS set or trust-anchor keys (RFC 4035 §5.2).

use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{DigestType, PublicKey};
use hickory_proto::rr::{Name, Record};

use crate::policy::Policy;
use crate::status::{Kind, Reason, Security};
use crate::verify::{dnskey_of, verify_rrset};

/// What vouches for a zone's keys: the parent's validated DS RRset, trust-anchor DS records,
/// or trust-anchor DNSKEYs (any mix; each entry is a way in).
#[derive(Clone, Copy, Debug, Default)]
pub struct Trust<'a> {
    /// DS records (validated from the parent, or trust anchors).
    pub ds: &'a [DS],
    /// DNSKEY trust anchors: a key of the zone's DNSKEY RRset with the same algorithm and public
    /// key is trusted directly.
    pub keys: &'a [DNSKEY],
}

impl<'a> Trust<'a> {
    /// Trust from DS records.
    pub fn ds(ds: &'a [DS]) -> Self {
        Self { ds, keys: &[] }
    }

    /// Trust from DNSKEY anchors.
    pub fn keys(keys: &'a [DNSKEY]) -> Self {
        Self { ds: &[], keys }
    }
}

/// A zone whose DNSKEY RRset is validated: the keys that may sign its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneKeys {
    /// The zone apex.
    pub zone: Name,
    /// The DNSKEYs with the zone flag and without REVOKE, from the validated RRset.
    pub keys: Vec<DNSKEY>,
    /// How long the validated DNSKEY RRset may be kept (see [`crate::Verified::ttl`]).
    pub ttl: u32,
    /// The key tag of the key (matched by a DS or an anchor) whose signature validated the set.
    pub entry_key_tag: u16,
}

/// The outcome of [`validate_zone_keys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainResult {
    /// The DNSKEY RRset is validated.
    Secure(ZoneKeys),
    /// The zone is insecure (only unsupported algorithms or digests, or no DS at all).
    Insecure(Reason),
    /// The zone is bogus: no key matches, or the DNSKEY RRset's signature fails.
    Bogus(Reason),
}

impl ChainResult {
    /// The security status this outcome gives the zone.
    pub fn security(&self) -> Security {
        match self {
            Self::Secure(_) => Security::Secure,
            Self::Insecure(reason) => Security::Insecure(reason.clone()),
            Self::Bogus(reason) => Security::Bogus(reason.clone()),
        }
    }

    fn from_reason(reason: Reason) -> Self {
        if reason.kind.is_bogus() {
            Self::Bogus(reason)
        } else {
            Self::Insecure(reason)
        }
    }
}

/// Validate `zone`'s DNSKEY RRset (`dnskeys`, with the RRSIGs among `rrsigs`) from `trust`:
///
/// 1. keep the DS records whose algorithm and digest type `policy` supports (a SHA-1 DS is
///    ignored when a SHA-256 or SHA-384 one is there, RFC 4509 §3) and the anchor keys whose
///    algorithm it supports; none left (and some given) → **insecure**, EDE 1 (algorithm) or 2
///    (digest), never bogus (RFC 8624); nothing given at all → insecure (unsigned delegation:
///    the caller passes an empty DS set only when a denial proved it);
/// 2. find the keys of the RRset they designate: DS key tag, algorithm and digest match
///    (`DS::covers`, which also wants the zone flag), or anchor key bytes match; REVOKEd keys are
///    skipped. None → bogus, EDE 9 (DNSKEY missing), naming the DS key tag;
/// 3. the DNSKEY RRset must carry a valid RRSIG by one of those keys
///    ([`verify_rrset`]); the first that validates makes the zone secure.
pub fn validate_zone_keys(
    zone: &Name,
    trust: Trust<'_>,
    dnskeys: &[Record],
    rrsigs: &[Record],
    now: u32,
    policy: &Policy,
) -> ChainResult {
    if trust.ds.is_empty() && trust.keys.is_empty() {
        return ChainResult::Insecure(Reason::new(Kind::UnsignedDelegation, zone));
    }
    let ds = usable_ds(trust.ds, policy);
    let anchors: Vec<&DNSKEY> = trust
        .keys
        .iter()
        .filter(|k| policy.supports_algorithm(k.algorithm()) && !k.revoke())
        .collect();
    if ds.is_empty() && anchors.is_empty() {
        let digest_ok = trust
            .ds
            .iter()
            .any(|d| policy.supports_digest(d.digest_type()));
        let kind = if trust.ds.is_empty() || digest_ok {
            Kind::UnsupportedAlgorithm
        } else {
            Kind::UnsupportedDigest
        };
        return ChainResult::Insecure(Reason::new(kind, zone));
    }
    let keys: Vec<&DNSKEY> = dnskeys
        .iter()
        .filter(|r| &r.name == zone)
        .filter_map(dnskey_of)
        .collect();
    let mut candidates: Vec<(DNSKEY, u16)> = Vec::new();
    for key in keys.iter().filter(|k| !k.revoke()) {
        let Ok(tag) = key.calculate_key_tag() else {
            continue;
        };
        let by_ds = ds.iter().any(|d| {
            d.key_tag() == tag
                && d.algorithm() == key.algorithm()
                && d.covers(zone, key).unwrap_or(false)
        });
        let by_anchor = anchors.iter().any(|a| {
            a.algorithm() == key.algorithm()
                && a.public_key().public_bytes() == key.public_key().public_bytes()
        });
        if by_ds || by_anchor {
            candidates.push(((*key).clone(), tag));
        }
    }
    if candidates.is_empty() {
        let tag = ds.first().map(|d| d.key_tag());
        return ChainResult::Bogus(match tag {
            Some(tag) => Reason::with_key(Kind::DnskeyMissing, zone, tag),
            None => Reason::new(Kind::DnskeyMissing, zone),
        });
    }
    let rrset: Vec<Record> = dnskeys
        .iter()
        .filter(|r| &r.name == zone)
        .cloned()
        .collect();
    let mut failure: Option<Reason> = None;
    for (key, tag) in &candidates {
        match verify_rrset(&rrset, rrsigs, zone, std::slice::from_ref(key), now, policy) {
            Ok(verified) => {
                return ChainResult::Secure(ZoneKeys {
                    zone: zone.clone(),
                    keys: keys
                        .iter()
                        .filter(|k| k.zone_key() && !k.revoke())
                        .map(|k| (*k).clone())
                        .collect(),
                    ttl: verified.ttl,
                    entry_key_tag: *tag,
                });
            }
            Err(reason) => {
                let worse = failure.as_ref().is_none_or(|f| {
                    f.kind == Kind::RrsigsMissing && reason.kind != Kind::RrsigsMissing
                });
                if worse {
                    failure = Some(Reason {
                        key_tag: reason.key_tag.or(Some(*tag)),
                        ..reason
                    });
                }
            }
        }
    }
    ChainResult::from_reason(failure.unwrap_or_else(|| Reason::new(Kind::RrsigsMissing, zone)))
}

/// The DS records `policy` can use; SHA-1 ones dropped when a stronger digest is present.
fn usable_ds<'a>(ds: &'a [DS], policy: &Policy) -> Vec<&'a DS> {
    let usable: Vec<&DS> = ds
        .iter()
        .filter(|d| policy.supports_algorithm(d.algorithm()))
        .filter(|d| policy.supports_digest(d.digest_type()))
        .collect();
    let strong = usable.iter().any(|d| d.digest_type() != DigestType::SHA1);
    usable
        .into_iter()
        .filter(|d| !strong || d.digest_type() != DigestType::SHA1)
        .collect()
}
