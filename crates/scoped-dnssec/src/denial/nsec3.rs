//! NSEC3 proofs (RFC 5155 §8, RFC 9276 iteration limits).

use hickory_proto::dnssec::rdata::NSEC3;
use hickory_proto::rr::{Name, RecordType};

use super::{Denied, next_closer, types_contradict};
use crate::policy::Policy;
use crate::status::Kind;

/// One NSEC3 record: the hash its owner label encodes, and the record data.
struct Entry<'a> {
    hash: Vec<u8>,
    nsec3: &'a NSEC3,
}

/// The NSEC3 chain of a zone as far as the answer shows it, with its hash parameters.
struct Chain<'a> {
    entries: Vec<Entry<'a>>,
    salt: &'a [u8],
    iterations: u16,
}

impl Chain<'_> {
    fn hash(&self, name: &Name) -> Result<Vec<u8>, Kind> {
        let first = self.entries.first().ok_or(Kind::NsecMissing)?;
        first
            .nsec3
            .hash_algorithm()
            .hash(self.salt, name, self.iterations)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| Kind::DenialInvalid)
    }

    /// The NSEC3 whose owner hash is the hash of `name`.
    fn matching(&self, name: &Name) -> Result<Option<&NSEC3>, Kind> {
        let hash = self.hash(name)?;
        Ok(self
            .entries
            .iter()
            .find(|e| e.hash == hash)
            .map(|e| e.nsec3))
    }

    /// The NSEC3 whose span covers the hash of `name` (owner < hash < next, wrapping at the end
    /// of the chain).
    fn covering(&self, name: &Name) -> Result<Option<&NSEC3>, Kind> {
        let hash = self.hash(name)?;
        Ok(self
            .entries
            .iter()
            .find(|e| {
                let (owner, next, h) = (
                    e.hash.as_slice(),
                    e.nsec3.next_hashed_owner_name(),
                    hash.as_slice(),
                );
                if owner < next {
                    owner < h && h < next
                } else {
                    h > owner || h < next
                }
            })
            .map(|e| e.nsec3))
    }
}

pub(super) fn prove(
    zone: &Name,
    qname: &Name,
    denied: &Denied,
    records: &[(&Name, &NSEC3)],
    policy: &Policy,
) -> Result<(), Kind> {
    let chain = chain(records, policy)?;
    match denied {
        Denied::NxDomain => nxdomain(zone, qname, &chain),
        Denied::NoData(qtype) => nodata(zone, qname, *qtype, &chain),
        Denied::Wildcard { closest_encloser } => {
            // RFC 5155 §8.8: the next closer name is covered (it does not exist).
            if !closest_encloser.zone_of(qname) || closest_encloser == qname {
                return Err(Kind::DenialInvalid);
            }
            match chain.covering(&next_closer(closest_encloser, qname))? {
                Some(_) => Ok(()),
                None => Err(Kind::NsecMissing),
            }
        }
    }
}

/// The NSEC3 records with their owner hashes decoded. Iterations above the limit make the
/// answer insecure (RFC 9276 §3.2) before any hashing is done; records with other parameters
/// than the first are ignored (RFC 5155 §8.2: a validator uses one parameter set).
fn chain<'a>(records: &[(&Name, &'a NSEC3)], policy: &Policy) -> Result<Chain<'a>, Kind> {
    if records
        .iter()
        .any(|(_, n)| n.iterations() > policy.nsec3_max_iterations)
    {
        return Err(Kind::Nsec3Iterations);
    }
    let (_, first) = records.first().ok_or(Kind::NsecMissing)?;
    let mut entries = Vec::with_capacity(records.len());
    for (owner, nsec3) in records {
        let same = nsec3.salt() == first.salt()
            && nsec3.iterations() == first.iterations()
            && nsec3.hash_algorithm() == first.hash_algorithm();
        let Some(label) = owner.iter().next() else {
            continue;
        };
        let Ok(hash) = data_encoding::BASE32_DNSSEC.decode(&label.to_ascii_lowercase()) else {
            continue;
        };
        if same {
            entries.push(Entry { hash, nsec3 });
        }
    }
    Ok(Chain {
        entries,
        salt: first.salt(),
        iterations: first.iterations(),
    })
}

/// RFC 5155 §8.3: the closest provable encloser of `qname` (an ancestor-or-self whose hash an
/// NSEC3 matches) and, when it is not `qname` itself, the NSEC3 covering the next closer name.
/// The encloser must not be a delegation point or DNAME owner (its NSEC3 would speak for the
/// child's names).
fn closest_encloser<'c>(
    zone: &Name,
    qname: &Name,
    chain: &'c Chain<'_>,
) -> Result<(Name, Option<&'c NSEC3>), Kind> {
    let mut candidate = qname.clone();
    loop {
        if let Some(found) = chain.matching(&candidate)? {
            let types: Vec<RecordType> = found.type_bit_maps().collect();
            let delegation = types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA);
            if &candidate != qname && (delegation || types.contains(&RecordType::DNAME)) {
                return Err(Kind::DenialInvalid);
            }
            if &candidate == qname {
                return Ok((candidate, None));
            }
            let covering = chain
                .covering(&next_closer(&candidate, qname))?
                .ok_or(Kind::NsecMissing)?;
            return Ok((candidate, Some(covering)));
        }
        if candidate == *zone || candidate.is_root() {
            return Err(Kind::NsecMissing);
        }
        candidate = candidate.base_name();
    }
}

/// RFC 5155 §8.4: closest encloser proof, next closer covered, wildcard at the closest encloser
/// covered. An opt-out span over the next closer name leaves the answer insecure: an unsigned
/// delegation may hide there.
fn nxdomain(zone: &Name, qname: &Name, chain: &Chain<'_>) -> Result<(), Kind> {
    let (ce, next_closer) = closest_encloser(zone, qname, chain)?;
    let Some(next_closer) = next_closer else {
        // The name's hash is matched: it exists.
        return Err(Kind::DenialInvalid);
    };
    let wildcard = ce.prepend_label("*").map_err(|_| Kind::DenialInvalid)?;
    if chain.matching(&wildcard)?.is_some() {
        return Err(Kind::DenialInvalid);
    }
    if chain.covering(&wildcard)?.is_none() {
        return Err(Kind::NsecMissing);
    }
    if next_closer.opt_out() {
        return Err(Kind::OptOut);
    }
    Ok(())
}

/// RFC 5155 §8.5–8.7: an NSEC3 matching `qname` lacking the type (and CNAME); else, for DS, a
/// closest encloser proof whose next closer span is opt-out (insecure delegation, §8.6); else
/// a closest encloser proof and an NSEC3 matching the wildcard lacking the type (§8.7).
fn nodata(zone: &Name, qname: &Name, qtype: RecordType, chain: &Chain<'_>) -> Result<(), Kind> {
    if let Some(found) = chain.matching(qname)? {
        let types: Vec<RecordType> = found.type_bit_maps().collect();
        return if types_contradict(&types, qtype) {
            Err(Kind::DenialInvalid)
        } else {
            Ok(())
        };
    }
    let (ce, next_closer) = closest_encloser(zone, qname, chain)?;
    let next_closer = next_closer.ok_or(Kind::DenialInvalid)?;
    let wildcard = ce.prepend_label("*").map_err(|_| Kind::DenialInvalid)?;
    if let Some(wild) = chain.matching(&wildcard)? {
        let types: Vec<RecordType> = wild.type_bit_maps().collect();
        return if types_contradict(&types, qtype) {
            Err(Kind::DenialInvalid)
        } else {
            Ok(())
        };
    }
    if qtype == RecordType::DS && next_closer.opt_out() {
        return Err(Kind::OptOut);
    }
    Err(Kind::NsecMissing)
}
