//! Signed zones for DNSSEC tests: a [`Zone`] signed at test time with scoped-dnssec's signer
//! (the validator's own library), and a hierarchy signed bottom-up so each parent carries its
//! children's DS records — root → example → sub — with knobs for the negative cases: a
//! corrupted RRSIG, expired or not-yet-valid signatures, a DS matching no key, an unsupported
//! algorithm, a KSK roll, NSEC3 with opt-out or many iterations, an unsigned delegation.
//!
//! What is here builds the signed zone data (DNSKEY, RRSIG, NSEC/NSEC3, DS) and the trust
//! anchor; the authoritative responder adds the DNSSEC records to answers for DO queries
//! (`dnssec_answer.rs`).

use hickory_proto::rr::{Name, Record, RecordType};
use scoped_dnssec::signer::{
    DenialChain, Key, SignError, Validity, ZoneSigning, corrupt_rrsigs, ds_record, sign_zone,
};
use scoped_dnssec::{Algorithm, DS, DigestType, TrustAnchors};

use crate::zone::Zone;

/// Which DS records the parent publishes for a signed zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DsMode {
    /// One SHA-256 DS per KSK (the normal case).
    AllKsks,
    /// The DS of the KSK at this index only (the two halves of a KSK roll).
    Ksk(usize),
    /// A DS for a key the zone does not have (bogus: DNSKEY missing).
    Stray,
    /// No DS: the zone is signed but the delegation is not (insecure).
    None,
    /// The DS of each KSK with digest type 3 (GOST R 34.11-94, not validated): insecure, EDE 2.
    UnsupportedDigest,
}

/// How to sign one zone, with the knobs for negative cases. [`Signing::new`] gives the normal
/// case: one ECDSA P-256 KSK and ZSK, NSEC, signatures valid 30 days around `now`.
#[derive(Clone, Debug)]
pub struct Signing {
    /// Key algorithm (ECDSAP256SHA256, ECDSAP384SHA384 or ED25519).
    pub algorithm: Algorithm,
    /// Sign with keys of this unsupported algorithm number instead (e.g. 253): insecure.
    pub unsupported_algorithm: Option<u8>,
    /// Two KSKs (old and new, both signing the DNSKEY RRset): a KSK roll in progress.
    pub ksk_roll: bool,
    /// The first KSK published with the REVOKE bit, signing the DNSKEY RRset itself: its
    /// revocation (RFC 5011 §2.1). Its DS (per [`Signing::ds`]) is then the revoked key's.
    pub revoke_first_ksk: bool,
    /// NSEC, or NSEC3 with salt, iterations and opt-out.
    pub denial: DenialChain,
    /// Signature inception and expiration (seconds since the epoch).
    pub validity: Validity,
    /// The DS the parent publishes.
    pub ds: DsMode,
    /// RRsets whose RRSIGs get one bit flipped.
    pub corrupt: Vec<(Name, RecordType)>,
}

impl Signing {
    /// The normal case, valid around `now` (seconds since the epoch).
    pub fn new(now: u32) -> Self {
        Self {
            algorithm: Algorithm::ECDSAP256SHA256,
            unsupported_algorithm: None,
            ksk_roll: false,
            revoke_first_ksk: false,
            denial: DenialChain::Nsec,
            validity: Validity::around(now, 30),
            ds: DsMode::AllKsks,
            corrupt: Vec::new(),
        }
    }

    /// Signatures that expired an hour before `now`.
    pub fn expired(now: u32) -> Self {
        Self {
            validity: Validity {
                inception: now.wrapping_sub(30 * 86_400),
                expiration: now.wrapping_sub(3600),
            },
            ..Self::new(now)
        }
    }

    /// Signatures whose inception is an hour after `now`.
    pub fn not_yet_valid(now: u32) -> Self {
        Self {
            validity: Validity {
                inception: now.wrapping_add(3600),
                expiration: now.wrapping_add(30 * 86_400),
            },
            ..Self::new(now)
        }
    }

    fn keys(&self) -> Result<(Vec<Key>, Vec<Key>), SignError> {
        let make = |ksk: bool| match self.unsupported_algorithm {
            Some(number) => Ok(Key::unsupported(number, ksk)),
            None => Key::generate(self.algorithm, ksk),
        };
        let mut ksks = vec![make(true)?];
        if self.ksk_roll {
            ksks.push(make(true)?);
        }
        if self.revoke_first_ksk {
            let first = ksks.remove(0);
            ksks.insert(0, first.revoked());
        }
        Ok((ksks, vec![make(false)?]))
    }
}

/// A signed zone and what its parent needs.
#[derive(Debug)]
pub struct SignedZone {
    /// The zone with its DNSKEY, RRSIG and NSEC/NSEC3 (and NSEC3PARAM) records.
    pub zone: Zone,
    /// The DS records for the parent (per [`Signing::ds`]).
    pub ds: Vec<Record>,
    /// The keys it was signed with (their DS, key tags).
    pub signing: ZoneSigning,
}

/// Why a zone could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    /// The signer refused.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The signed records did not make a zone.
    #[error(transparent)]
    Zone(#[from] crate::zone::ZoneError),
    /// A corruption knob named an RRset without RRSIGs.
    #[error("no RRSIG to corrupt at {0} {1}")]
    NothingToCorrupt(Name, RecordType),
}

/// Sign `zone` as `signing` says.
pub fn sign(zone: &Zone, signing: &Signing) -> Result<SignedZone, SignedError> {
    let (ksks, zsks) = signing.keys()?;
    let spec = ZoneSigning {
        ksks,
        zsks,
        validity: signing.validity,
        denial: signing.denial.clone(),
        dnskey_ttl: 3600,
    };
    let origin = zone.origin().clone();
    let records: Vec<Record> = zone.records().cloned().collect();
    let mut signed = sign_zone(&origin, &records, &spec)?;
    for (owner, rtype) in &signing.corrupt {
        if corrupt_rrsigs(&mut signed, owner, *rtype) == 0 {
            return Err(SignedError::NothingToCorrupt(owner.clone(), *rtype));
        }
    }
    let ttl = 86_400;
    let ds = match &signing.ds {
        DsMode::AllKsks => spec.ds_records(&origin, ttl)?,
        DsMode::Ksk(i) => spec
            .ksks
            .get(*i)
            .map(|k| k.ds(&origin, DigestType::SHA256))
            .transpose()?
            .map(|ds| vec![ds_record(&origin, ttl, ds)])
            .unwrap_or_default(),
        DsMode::Stray => {
            let stray = Key::generate(Algorithm::ECDSAP256SHA256, true)?;
            vec![ds_record(
                &origin,
                ttl,
                stray.ds(&origin, DigestType::SHA256)?,
            )]
        }
        DsMode::None => Vec::new(),
        DsMode::UnsupportedDigest => spec
            .ksks
            .iter()
            .map(|k| {
                let ds = k.ds(&origin, DigestType::SHA256)?;
                let gost = DigestType::Unknown(3);
                let ds = DS::new(ds.key_tag(), ds.algorithm(), gost, ds.digest().to_vec());
                Ok(ds_record(&origin, ttl, ds))
            })
            .collect::<Result<Vec<_>, SignError>>()?,
    };
    let zone = Zone::from_records(&origin.to_ascii(), signed)?;
    Ok(SignedZone {
        zone,
        ds,
        signing: spec,
    })
}

/// A signed hierarchy: the zones to serve and the trust anchor to validate them from.
#[derive(Debug)]
pub struct SignedHierarchy {
    /// Every zone, signed or not, with its children's DS records in place.
    pub zones: Vec<Zone>,
    /// The DS records of the top zone (the root, normally): the trust anchor.
    pub anchors: TrustAnchors,
    /// The same anchor as a trust-anchor file (`. 86400 IN DS …` lines).
    pub anchor_text: String,
}

impl SignedHierarchy {
    /// Declare every zone in `builder` (servers still to be declared by origin).
    pub fn add_to(&self, builder: &mut crate::InternetBuilder) {
        for zone in &self.zones {
            builder.add_zone(zone.clone());
        }
    }
}

/// Sign `zones` (each with its [`Signing`], or `None` to leave it unsigned) bottom-up: children
/// before parents, each child's DS records added to its parent zone before the parent is signed.
/// The first zone with the fewest labels is the top; its DS records become the trust anchor.
pub fn sign_hierarchy(zones: Vec<(Zone, Option<Signing>)>) -> Result<SignedHierarchy, SignedError> {
    let mut pending = zones;
    // Deepest first, so a parent is signed after all its children.
    pending.sort_by_key(|(zone, _)| std::cmp::Reverse(zone.origin().num_labels()));
    let mut done: Vec<(Zone, Vec<Record>)> = Vec::new();
    for (zone, signing) in pending {
        let origin = zone.origin().clone();
        let mut records: Vec<Record> = zone.records().cloned().collect();
        for (child, ds) in &done {
            if parent_of(&origin, child.origin(), &done) {
                records.extend(ds.iter().cloned());
            }
        }
        let zone = Zone::from_records(&origin.to_ascii(), records)?;
        match signing {
            Some(signing) => {
                let signed = sign(&zone, &signing)?;
                done.push((signed.zone, signed.ds));
            }
            None => done.push((zone, Vec::new())),
        }
    }
    let top_ds = done.last().map(|(_, ds)| ds.clone()).unwrap_or_default();
    let anchor_text: String = top_ds.iter().map(|r| format!("{r}\n")).collect();
    let anchors = if anchor_text.is_empty() {
        TrustAnchors::empty()
    } else {
        TrustAnchors::from_text(&anchor_text).map_err(|e| SignError(e.to_string()))?
    };
    Ok(SignedHierarchy {
        zones: done.into_iter().map(|(z, _)| z).collect(),
        anchors,
        anchor_text,
    })
}

/// Is `parent` the closest enclosing zone of `child` among the zones signed so far and
/// `parent` itself (no zone in between)?
fn parent_of(parent: &Name, child: &Name, zones: &[(Zone, Vec<Record>)]) -> bool {
    if !parent.zone_of(child) || parent == child {
        return false;
    }
    !zones.iter().any(|(z, _)| {
        let o = z.origin();
        o != child && parent.zone_of(o) && o != parent && o.zone_of(child)
    })
}
