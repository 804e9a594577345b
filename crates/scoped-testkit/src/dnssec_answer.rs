//! The DNSSEC records a signed zone's authoritative server adds to a response when the query
//! has the DO bit (RFC 4035 §3.1): RRSIGs of the answer and authority RRsets, the DS (or the
//! proof of its absence) with a referral, and the NSEC/NSEC3 records proving a negative answer
//! or a wildcard expansion.

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_dnssec::verify::rrsig_of;
use scoped_dnssec::{DNSSECRData, NSEC3};

use crate::zone::{Zone, label_count};

/// Add the DNSSEC records for `response`, the answer of `zone` to (`qname`, `qtype`).
pub(crate) fn add_dnssec(response: &mut Message, zone: &Zone, qname: &Name) {
    let mut extra = Vec::new();
    let mut authority = Vec::new();
    let mut last_name = qname.clone();
    for (owner, rtype) in rrsets(&response.answers) {
        if let RecordType::CNAME = rtype
            && let Some(RData::CNAME(target)) = response
                .answers
                .iter()
                .find(|r| r.name == owner && r.record_type() == rtype)
                .map(|r| &r.data)
        {
            last_name = target.0.clone();
        }
        let direct = sigs(zone, &owner, rtype);
        if !direct.is_empty() || zone.node(&owner).is_some() {
            extra.extend(direct);
            continue;
        }
        // Synthesised from a wildcard: its RRSIGs with the query name as owner, and the proof
        // that the next closer name does not exist (RFC 4035 §3.1.3.3).
        if let Some(ce) = closest_encloser(zone, &owner)
            && let Ok(wildcard) = ce.prepend_label("*")
        {
            extra.extend(sigs(zone, &wildcard, rtype).into_iter().map(|mut r| {
                r.name = owner.clone();
                r
            }));
            let next_closer = owner.trim_to(label_count(&ce) + 1);
            authority.extend(covering(zone, &next_closer));
        }
    }
    response.add_answers(extra);

    let negative = response
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    for (owner, rtype) in rrsets(&response.authorities) {
        authority.extend(sigs(zone, &owner, rtype));
        if rtype == RecordType::NS && &owner != zone.origin() {
            // A referral: the DS RRset, or the proof there is none.
            match zone.rrset(&owner, RecordType::DS) {
                Some(ds) => {
                    authority.extend(ds.iter().cloned());
                    authority.extend(sigs(zone, &owner, RecordType::DS));
                }
                None => authority.extend(denial(zone, &owner)),
            }
        }
    }
    if negative && zone.origin().zone_of(&last_name) {
        authority.extend(denial(zone, &last_name));
    }
    let mut seen = Vec::new();
    for record in authority {
        if !seen.contains(&record) {
            seen.push(record.clone());
            response.add_authority(record);
        }
    }
}

/// The distinct (owner, type) of `records`, RRSIGs left out, in order of appearance.
fn rrsets(records: &[Record]) -> Vec<(Name, RecordType)> {
    let mut out: Vec<(Name, RecordType)> = Vec::new();
    for record in records {
        let key = (record.name.clone(), record.record_type());
        if key.1 != RecordType::RRSIG && !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// The RRSIGs at `owner` covering `rtype`.
fn sigs(zone: &Zone, owner: &Name, rtype: RecordType) -> Vec<Record> {
    zone.rrset(owner, RecordType::RRSIG)
        .unwrap_or_default()
        .iter()
        .filter(|r| rrsig_of(r).is_some_and(|s| s.input().type_covered == rtype))
        .cloned()
        .collect()
}

/// A record with the RRSIGs of its RRset.
fn with_sigs(zone: &Zone, record: &Record) -> Vec<Record> {
    let mut out = vec![record.clone()];
    out.extend(sigs(zone, &record.name, record.record_type()));
    out
}

/// The longest existing proper ancestor of `name` in the zone.
fn closest_encloser(zone: &Zone, name: &Name) -> Option<Name> {
    let apex = label_count(zone.origin());
    (apex..label_count(name))
        .rev()
        .map(|n| name.trim_to(n))
        .find(|a| zone.name_exists(a) && !is_nsec3_owner(zone, a))
}

fn is_nsec3_owner(zone: &Zone, name: &Name) -> bool {
    zone.rrset(name, RecordType::NSEC3).is_some()
}

/// The records proving that `name` has no data of the asked type, or does not exist: for NSEC,
/// the NSEC at the name, or the one covering it and the one matching or covering the wildcard
/// at its closest encloser; for NSEC3, the matching NSEC3, or the closest encloser proof and
/// the wildcard's NSEC3 (RFC 5155 §7.2).
fn denial(zone: &Zone, name: &Name) -> Vec<Record> {
    if let Some(nsec) = zone.rrset(name, RecordType::NSEC) {
        return nsec.iter().flat_map(|r| with_sigs(zone, r)).collect();
    }
    let chain = Nsec3Chain::of(zone);
    if let Some(chain) = &chain
        && let Some(found) = chain.matching(name)
    {
        return with_sigs(zone, found);
    }
    let mut out = Vec::new();
    let ce = match &chain {
        Some(chain) => {
            // The closest provable encloser: the longest ancestor with an NSEC3.
            let apex = label_count(zone.origin());
            let ce = (apex..label_count(name))
                .rev()
                .map(|n| name.trim_to(n))
                .find(|a| chain.matching(a).is_some());
            if let Some(ce) = &ce
                && let Some(found) = chain.matching(ce)
            {
                out.extend(with_sigs(zone, found));
            }
            ce
        }
        None => closest_encloser(zone, name),
    };
    let Some(ce) = ce else {
        return out;
    };
    out.extend(covering(zone, &name.trim_to(label_count(&ce) + 1)));
    if let Ok(wildcard) = ce.prepend_label("*") {
        let matched = match &chain {
            Some(chain) => chain.matching(&wildcard).map(|r| with_sigs(zone, r)),
            None => zone
                .rrset(&wildcard, RecordType::NSEC)
                .map(|r| r.iter().flat_map(|r| with_sigs(zone, r)).collect()),
        };
        out.extend(matched.unwrap_or_else(|| covering(zone, &wildcard)));
    }
    out
}

/// The NSEC or NSEC3 record (with RRSIGs) whose span covers `name`.
fn covering(zone: &Zone, name: &Name) -> Vec<Record> {
    if let Some(chain) = Nsec3Chain::of(zone) {
        return chain
            .covering(name)
            .map(|r| with_sigs(zone, r))
            .unwrap_or_default();
    }
    let nsecs: Vec<&Record> = zone
        .records()
        .filter(|r| r.record_type() == RecordType::NSEC)
        .collect();
    let before = nsecs.iter().rev().find(|r| r.name < *name);
    before
        .or(nsecs.last())
        .map(|r| with_sigs(zone, r))
        .unwrap_or_default()
}

/// The zone's NSEC3 records by owner hash, and its parameters.
struct Nsec3Chain<'z> {
    entries: Vec<(Vec<u8>, &'z Record)>,
    salt: Vec<u8>,
    iterations: u16,
}

impl<'z> Nsec3Chain<'z> {
    fn of(zone: &'z Zone) -> Option<Self> {
        let mut entries = Vec::new();
        let mut params = None;
        for record in zone.records() {
            let RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) = &record.data else {
                continue;
            };
            let nsec3: &NSEC3 = nsec3;
            params.get_or_insert((nsec3.salt().to_vec(), nsec3.iterations()));
            let label = record.name.iter().next()?;
            let hash = data_encoding::BASE32_DNSSEC
                .decode(&label.to_ascii_lowercase())
                .ok()?;
            entries.push((hash, record));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let (salt, iterations) = params?;
        Some(Self {
            entries,
            salt,
            iterations,
        })
    }

    fn hash(&self, name: &Name) -> Option<Vec<u8>> {
        let hash = scoped_dnssec::Nsec3HashAlgorithm::SHA1
            .hash(&self.salt, name, self.iterations)
            .ok()?;
        Some(hash.as_ref().to_vec())
    }

    fn matching(&self, name: &Name) -> Option<&'z Record> {
        let hash = self.hash(name)?;
        self.entries
            .iter()
            .find(|(h, _)| *h == hash)
            .map(|(_, r)| *r)
    }

    fn covering(&self, name: &Name) -> Option<&'z Record> {
        let hash = self.hash(name)?;
        self.entries
            .iter()
            .rev()
            .find(|(h, _)| *h < hash)
            .or(self.entries.last())
            .map(|(_, r)| *r)
    }
}
