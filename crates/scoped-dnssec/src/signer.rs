//! A zone signer for tests (feature `signer`): keys made at test time, an RRSIG for every
//! authoritative RRset, an NSEC or NSEC3 chain, and the DS records for the parent — with the
//! same library the validator checks them with.
//!
//! It is for building signed test internets, not for production signing: keys live in memory,
//! and ECDSA P-256/P-384 and Ed25519 are the algorithms it can generate (ring makes no RSA
//! keys). [`Key::unsupported`] makes a key of an algorithm the validator does not support.

use std::collections::{BTreeMap, BTreeSet};

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{
    DNSKEY, DNSSECRData, DS, NSEC, NSEC3, NSEC3PARAM, RRSIG, SigInput,
};
use hickory_proto::dnssec::{
    Algorithm, DigestType, DnsSecResult, Nsec3HashAlgorithm, PublicKey, PublicKeyBuf, SigningKey,
    TBS,
};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
#[error("signer: {0}")]
pub struct SignError(pub String);

fn err(e: impl std::fmt::Display) -> SignError {
    SignError(e.to_string())
}

/// A DNSKEY with its private half.
pub struct Key {
    dnskey: DNSKEY,
    private: Box<dyn SigningKey>,
    tag: u16,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Key({} tag {})",
            self.dnskey.public_key().algorithm(),
            self.tag
        )
    }
}

impl Key {
    /// A new key: ECDSAP256SHA256, ECDSAP384SHA384 or ED25519; `ksk` sets the SEP flag (257,
    /// otherwise 256).
    pub fn generate(algorithm: Algorithm, ksk: bool) -> Result<Self, SignError> {
        let private: Box<dyn SigningKey> = match algorithm {
            Algorithm::ECDSAP256SHA256 | Algorithm::ECDSAP384SHA384 => {
                let der = EcdsaSigningKey::generate_pkcs8(algorithm).map_err(err)?;
                Box::new(EcdsaSigningKey::from_pkcs8(&der, algorithm).map_err(err)?)
            }
            Algorithm::ED25519 => {
                let der = Ed25519SigningKey::generate_pkcs8().map_err(err)?;
                Box::new(Ed25519SigningKey::from_pkcs8(&der).map_err(err)?)
            }
            other => return Err(SignError(format!("cannot generate {other} keys"))),
        };
        let public = private.to_public_key().map_err(err)?;
        Ok(Self::from_parts(
            DNSKEY::new(true, ksk, false, public),
            private,
        ))
    }

    /// A key of an algorithm number the validator does not support (e.g. 253, PRIVATEDNS, or 16,
    /// ED448): random-looking public key bytes and signatures that are never checked.
    pub fn unsupported(algorithm: u8, ksk: bool) -> Self {
        let algorithm = Algorithm::from_u8(algorithm);
        let bytes: Vec<u8> = (0..57u8)
            .map(|i| i.wrapping_mul(37) ^ algorithm_byte(algorithm))
            .collect();
        let public = PublicKeyBuf::new(bytes, algorithm);
        let dnskey = DNSKEY::new(true, ksk, false, public);
        Self::from_parts(dnskey, Box::new(Opaque(algorithm)))
    }

    /// The same key with the REVOKE flag set (RFC 5011 §3): a new key tag, and what it signs
    /// is a revocation of the key.
    pub fn revoked(self) -> Self {
        let flags = self.dnskey.flags() | 0x0080;
        let dnskey = DNSKEY::with_flags(flags, self.dnskey.public_key().clone());
        Self::from_parts(dnskey, self.private)
    }

    fn from_parts(dnskey: DNSKEY, private: Box<dyn SigningKey>) -> Self {
        let tag = dnskey.calculate_key_tag().unwrap_or_default();
        Self {
            dnskey,
            private,
            tag,
        }
    }

    /// The public key record data.
    pub fn dnskey(&self) -> &DNSKEY {
        &self.dnskey
    }

    /// The key tag (RFC 4034 Appendix B).
    pub fn key_tag(&self) -> u16 {
        self.tag
    }

    /// Is the SEP flag set (a KSK)?
    pub fn is_ksk(&self) -> bool {
        self.dnskey.secure_entry_point()
    }

    /// The DS record data for this key as a key of `zone`. For an unsupported algorithm the
    /// digest is computed all the same (the validator must still ignore it).
    pub fn ds(&self, zone: &Name, digest: DigestType) -> Result<DS, SignError> {
        let digest_bytes = self.dnskey.to_digest(zone, digest).map_err(err)?;
        Ok(DS::new(
            self.tag,
            self.dnskey.public_key().algorithm(),
            digest,
            digest_bytes.as_ref().to_vec(),
        ))
    }
}

fn algorithm_byte(algorithm: Algorithm) -> u8 {
    u8::from(algorithm)
}

/// The private half of an unsupported-algorithm key: its "signatures" are fixed bytes.
struct Opaque(Algorithm);

impl SigningKey for Opaque {
    fn sign(&self, tbs: &TBS) -> DnsSecResult<Vec<u8>> {
        Ok(tbs.as_ref().iter().take(64).copied().collect())
    }

    fn to_public_key(&self) -> DnsSecResult<PublicKeyBuf> {
        Ok(PublicKeyBuf::new(vec![0; 57], self.0))
    }

    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

/// Signature validity: inception and expiration as seconds since the epoch (RFC 4034 §3.1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before.
    pub inception: u32,
    /// Not valid after.
    pub expiration: u32,
}

impl Validity {
    /// Valid from an hour before `now` for `days` days.
    pub fn around(now: u32, days: u32) -> Self {
        Self {
            inception: now.wrapping_sub(3600),
            expiration: now.wrapping_add(days * 86_400),
        }
    }
}

/// The RRSIG record of `rrset` (records of one owner and type) by `key` as a key of `zone`.
pub fn sign_rrset(
    rrset: &[Record],
    zone: &Name,
    key: &Key,
    validity: Validity,
) -> Result<Record, SignError> {
    let first = rrset
        .first()
        .ok_or_else(|| SignError("empty RRset".into()))?;
    let input = SigInput {
        type_covered: first.record_type(),
        algorithm: key.dnskey.public_key().algorithm(),
        num_labels: first.name.num_labels(),
        original_ttl: first.ttl,
        sig_expiration: SerialNumber::new(validity.expiration),
        sig_inception: SerialNumber::new(validity.inception),
        key_tag: key.tag,
        signer_name: zone.clone(),
    };
    let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, rrset.iter()).map_err(err)?;
    let signature = key.private.sign(&tbs).map_err(err)?;
    let rrsig = RRSIG::from_sig(input, signature);
    let mut record = Record::from_rdata(
        first.name.clone(),
        first.ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(rrsig)),
    );
    record.dns_class = DNSClass::IN;
    Ok(record)
}

/// How absence is proven in a signed zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenialChain {
    /// NSEC (RFC 4034 §4).
    Nsec,
    /// NSEC3 (RFC 5155) with SHA-1, this salt and iteration count; `opt_out` leaves unsigned
    /// delegations out of the chain and sets the opt-out flag.
    Nsec3 {
        /// The salt.
        salt: Vec<u8>,
        /// Additional hash iterations.
        iterations: u16,
        /// Opt-out (RFC 5155 §6).
        opt_out: bool,
    },
}

/// What to sign a zone with.
#[derive(Debug)]
pub struct ZoneSigning {
    /// Keys with the SEP flag: they sign the DNSKEY RRset. With no ZSK they sign everything.
    pub ksks: Vec<Key>,
    /// Keys that sign every other RRset.
    pub zsks: Vec<Key>,
    /// Signature validity for every RRSIG.
    pub validity: Validity,
    /// NSEC or NSEC3.
    pub denial: DenialChain,
    /// TTL of the DNSKEY RRset.
    pub dnskey_ttl: u32,
}

impl ZoneSigning {
    /// One KSK and one ZSK of `algorithm`, NSEC, valid around `now` for 30 days.
    pub fn generate(algorithm: Algorithm, now: u32) -> Result<Self, SignError> {
        Ok(Self {
            ksks: vec![Key::generate(algorithm, true)?],
            zsks: vec![Key::generate(algorithm, false)?],
            validity: Validity::around(now, 30),
            denial: DenialChain::Nsec,
            dnskey_ttl: 3600,
        })
    }

    /// The DS records (one per KSK, SHA-256) the parent publishes for `zone`.
    pub fn ds_records(&self, zone: &Name, ttl: u32) -> Result<Vec<Record>, SignError> {
        self.ksks
            .iter()
            .map(|k| {
                let ds = k.ds(zone, DigestType::SHA256)?;
                Ok(ds_record(zone, ttl, ds))
            })
            .collect()
    }
}

/// A DS record of `zone`.
pub fn ds_record(zone: &Name, ttl: u32, ds: DS) -> Record {
    let mut record = Record::from_rdata(zone.clone(), ttl, RData::DNSSEC(DNSSECRData::DS(ds)));
    record.dns_class = DNSClass::IN;
    record
}

/// A DNSKEY record of `zone`.
pub fn dnskey_record(zone: &Name, ttl: u32, key: &Key) -> Record {
    let data = RData::DNSSEC(DNSSECRData::DNSKEY(key.dnskey.clone()));
    let mut record = Record::from_rdata(zone.clone(), ttl, data);
    record.dns_class = DNSClass::IN;
    record
}

type Rrsets = BTreeMap<(Name, RecordType), Vec<Record>>;

/// Sign the zone `zone` made of `records` (class IN, an SOA at the apex; DS records at
/// delegations are signed, NS at delegations and glue are not): the records plus the DNSKEY
/// RRset, the NSEC or NSEC3 chain (and NSEC3PARAM), and an RRSIG per RRset and key.
pub fn sign_zone(
    zone: &Name,
    records: &[Record],
    spec: &ZoneSigning,
) -> Result<Vec<Record>, SignError> {
    let mut rrsets: Rrsets = BTreeMap::new();
    for record in records.iter().filter(|r| !is_dnssec(r.record_type())) {
        let key = (record.name.clone(), record.record_type());
        rrsets.entry(key).or_default().push(record.clone());
    }
    let soa_min = rrsets
        .get(&(zone.clone(), RecordType::SOA))
        .and_then(|r| r.first())
        .and_then(|r| match &r.data {
            RData::SOA(soa) => Some(soa.minimum.min(r.ttl)),
            _ => None,
        })
        .ok_or_else(|| SignError(format!("zone {zone} has no SOA")))?;
    let keys = spec.ksks.iter().chain(&spec.zsks);
    let dnskeys: Vec<Record> = keys
        .map(|k| dnskey_record(zone, spec.dnskey_ttl, k))
        .collect();
    rrsets.insert((zone.clone(), RecordType::DNSKEY), dnskeys);
    let cuts = delegations(zone, &rrsets);
    let denial = match &spec.denial {
        DenialChain::Nsec => nsec_chain(zone, &rrsets, &cuts, soa_min),
        DenialChain::Nsec3 {
            salt,
            iterations,
            opt_out,
        } => {
            let param = NSEC3PARAM::new(Nsec3HashAlgorithm::SHA1, false, *iterations, salt.clone());
            let mut param = Record::from_rdata(
                zone.clone(),
                0,
                RData::DNSSEC(DNSSECRData::NSEC3PARAM(param)),
            );
            param.dns_class = DNSClass::IN;
            rrsets.insert((zone.clone(), RecordType::NSEC3PARAM), vec![param]);
            nsec3_chain(zone, &rrsets, &cuts, soa_min, salt, *iterations, *opt_out)?
        }
    };
    for record in denial {
        let key = (record.name.clone(), record.record_type());
        rrsets.entry(key).or_default().push(record);
    }
    let mut out = Vec::new();
    for ((owner, rtype), rrset) in &rrsets {
        out.extend(rrset.iter().cloned());
        if !authoritative(owner, *rtype, &cuts, zone) {
            continue;
        }
        let signers: Vec<&Key> = if *rtype == RecordType::DNSKEY || spec.zsks.is_empty() {
            spec.ksks.iter().collect()
        } else {
            spec.zsks.iter().collect()
        };
        for key in signers {
            out.push(sign_rrset(rrset, zone, key, spec.validity)?);
        }
    }
    Ok(out)
}

fn is_dnssec(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::RRSIG
            | RecordType::NSEC
            | RecordType::NSEC3
            | RecordType::NSEC3PARAM
            | RecordType::DNSKEY
    )
}

/// The delegation points: owners of NS below the apex.
fn delegations(zone: &Name, rrsets: &Rrsets) -> BTreeSet<Name> {
    rrsets
        .keys()
        .filter(|(owner, rtype)| *rtype == RecordType::NS && owner != zone)
        .map(|(owner, _)| owner.clone())
        .collect()
}

/// Is the RRset signed: not below a cut, and at a cut only DS (and the NSEC there).
fn authoritative(owner: &Name, rtype: RecordType, cuts: &BTreeSet<Name>, zone: &Name) -> bool {
    if cuts.iter().any(|cut| cut != owner && cut.zone_of(owner)) || !zone.zone_of(owner) {
        return false;
    }
    !cuts.contains(owner) || matches!(rtype, RecordType::DS | RecordType::NSEC)
}

/// The types at each authoritative name, as the NSEC/NSEC3 bitmap shows them (without the
/// NSEC/NSEC3 type itself), glue and names below cuts left out.
fn node_types(
    zone: &Name,
    rrsets: &Rrsets,
    cuts: &BTreeSet<Name>,
) -> BTreeMap<Name, Vec<RecordType>> {
    let mut nodes: BTreeMap<Name, Vec<RecordType>> = BTreeMap::new();
    for (owner, rtype) in rrsets.keys() {
        let below_cut = cuts.iter().any(|cut| cut != owner && cut.zone_of(owner));
        if below_cut || !zone.zone_of(owner) {
            continue;
        }
        let at_cut = cuts.contains(owner);
        if at_cut && !matches!(rtype, RecordType::NS | RecordType::DS) {
            continue;
        }
        nodes.entry(owner.clone()).or_default().push(*rtype);
    }
    for (owner, types) in nodes.iter_mut() {
        let signed = !cuts.contains(owner) || types.contains(&RecordType::DS);
        if signed {
            types.push(RecordType::RRSIG);
        }
    }
    nodes
}

fn nsec_chain(zone: &Name, rrsets: &Rrsets, cuts: &BTreeSet<Name>, ttl: u32) -> Vec<Record> {
    let nodes = node_types(zone, rrsets, cuts);
    let names: Vec<&Name> = nodes.keys().collect();
    let mut out = Vec::with_capacity(names.len());
    for (i, (owner, types)) in nodes.iter().enumerate() {
        let next = names.get(i + 1).copied().unwrap_or(zone).clone();
        let mut types = types.clone();
        types.extend([RecordType::NSEC, RecordType::RRSIG]);
        let nsec = NSEC::new(next, types);
        let mut record =
            Record::from_rdata(owner.clone(), ttl, RData::DNSSEC(DNSSECRData::NSEC(nsec)));
        record.dns_class = DNSClass::IN;
        out.push(record);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn nsec3_chain(
    zone: &Name,
    rrsets: &Rrsets,
    cuts: &BTreeSet<Name>,
    ttl: u32,
    salt: &[u8],
    iterations: u16,
    opt_out: bool,
) -> Result<Vec<Record>, SignError> {
    let mut nodes = node_types(zone, rrsets, cuts);
    if opt_out {
        nodes.retain(|name, types| !cuts.contains(name) || types.contains(&RecordType::DS));
    }
    // Empty non-terminals get an NSEC3 with an empty bitmap (RFC 5155 §7.1).
    let names: Vec<Name> = nodes.keys().cloned().collect();
    for name in names {
        let mut up = name.base_name();
        while zone.zone_of(&up) && up != *zone {
            nodes.entry(up.clone()).or_default();
            up = up.base_name();
        }
    }
    let mut hashed: Vec<(Vec<u8>, Vec<RecordType>)> = Vec::with_capacity(nodes.len());
    for (name, types) in nodes {
        let hash = Nsec3HashAlgorithm::SHA1
            .hash(salt, &name, iterations)
            .map_err(err)?;
        hashed.push((hash.as_ref().to_vec(), types));
    }
    hashed.sort();
    let mut out = Vec::with_capacity(hashed.len());
    for (i, (hash, types)) in hashed.iter().enumerate() {
        let next = hashed[(i + 1) % hashed.len()].0.clone();
        let nsec3 = NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            opt_out,
            iterations,
            salt.to_vec(),
            next,
            types.clone(),
        );
        let label = data_encoding::BASE32_DNSSEC.encode(hash);
        let owner = Name::from_ascii(&label)
            .and_then(|n| n.append_domain(zone))
            .map_err(err)?;
        let mut record = Record::from_rdata(owner, ttl, RData::DNSSEC(DNSSECRData::NSEC3(nsec3)));
        record.dns_class = DNSClass::IN;
        out.push(record);
    }
    Ok(out)
}

/// Flip a bit in the signature of every RRSIG covering (`owner`, `covered`): the negative case
/// "one corrupted RRSIG". Returns how many were corrupted.
pub fn corrupt_rrsigs(records: &mut [Record], owner: &Name, covered: RecordType) -> usize {
    let mut count = 0;
    for record in records.iter_mut().filter(|r| &r.name == owner) {
        let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &record.data else {
            continue;
        };
        if rrsig.input().type_covered != covered {
            continue;
        }
        let mut sig = rrsig.sig().to_vec();
        let middle = sig.len() / 2;
        if let Some(byte) = sig.get_mut(middle) {
            *byte ^= 0x01;
        }
        record.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
            rrsig.input().clone(),
            sig,
        )));
        count += 1;
    }
    count
}
