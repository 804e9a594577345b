//! NSEC proofs (RFC 4035 §3.1.3 and §5.4, RFC 4592 §4, RFC 6840 §4.1 and §4.3).

use hickory_proto::dnssec::rdata::NSEC;
use hickory_proto::rr::{Name, RecordType};

use super::{Denied, next_closer, types_contradict};
use crate::status::Kind;

type Nsec<'a> = (&'a Name, &'a NSEC);

pub(super) fn prove(
    zone: &Name,
    qname: &Name,
    denied: &Denied,
    nsecs: &[Nsec<'_>],
) -> Result<(), Kind> {
    match denied {
        Denied::NxDomain => nxdomain(zone, qname, nsecs),
        Denied::NoData(qtype) => nodata(zone, qname, *qtype, nsecs),
        Denied::Wildcard { closest_encloser } => {
            if !closest_encloser.zone_of(qname) || closest_encloser == qname {
                return Err(Kind::DenialInvalid);
            }
            let nc = next_closer(closest_encloser, qname);
            proves_absent(zone, nsecs, &nc)
                .map(|_| ())
                .ok_or(Kind::NsecMissing)
        }
    }
}

/// RFC 4035 §5.4: an NSEC proves `qname` absent, and one proves the wildcard at the closest
/// encloser absent.
fn nxdomain(zone: &Name, qname: &Name, nsecs: &[Nsec<'_>]) -> Result<(), Kind> {
    if nsecs.iter().any(|(owner, _)| *owner == qname) {
        return Err(Kind::DenialInvalid);
    }
    let (owner, nsec) = proves_absent(zone, nsecs, qname).ok_or(Kind::NsecMissing)?;
    let ce = closest_encloser(zone, qname, owner, nsec.next_domain_name());
    let wildcard = wildcard_of(&ce)?;
    if nsecs.iter().any(|(owner, _)| **owner == wildcard) {
        return Err(Kind::DenialInvalid);
    }
    proves_absent(zone, nsecs, &wildcard)
        .map(|_| ())
        .ok_or(Kind::NsecMissing)
}

/// NODATA: the NSEC at `qname` lacks the type; or `qname` is an empty non-terminal (an NSEC
/// covers it and its next name is below it); or `qname` is absent and the wildcard that
/// matches it lacks the type (RFC 4035 §3.1.3.4).
fn nodata(zone: &Name, qname: &Name, qtype: RecordType, nsecs: &[Nsec<'_>]) -> Result<(), Kind> {
    if let Some((_, nsec)) = nsecs.iter().find(|(owner, _)| *owner == qname) {
        let types: Vec<RecordType> = nsec.type_bit_maps().collect();
        return if types_contradict(&types, qtype) {
            Err(Kind::DenialInvalid)
        } else {
            Ok(())
        };
    }
    let covering = nsecs.iter().find(|(owner, nsec)| {
        covers(zone, owner, nsec.next_domain_name(), qname) && !delegation_above(owner, nsec, qname)
    });
    let Some((owner, nsec)) = covering else {
        return Err(Kind::NsecMissing);
    };
    let next = nsec.next_domain_name();
    if qname.zone_of(next) && next != qname {
        // Empty non-terminal: it exists (names below it do) and owns nothing.
        return Ok(());
    }
    let ce = closest_encloser(zone, qname, owner, next);
    let wildcard = wildcard_of(&ce)?;
    let Some((_, wild)) = nsecs.iter().find(|(owner, _)| **owner == wildcard) else {
        return Err(Kind::NsecMissing);
    };
    let types: Vec<RecordType> = wild.type_bit_maps().collect();
    if types_contradict(&types, qtype) {
        return Err(Kind::DenialInvalid);
    }
    Ok(())
}

/// The NSEC proving that neither `name` nor anything below it exists: it covers `name`, its
/// next name is not below `name`, and it is not the NSEC of a delegation or DNAME above
/// `name` (RFC 6840 §4.1: such an NSEC speaks for another zone's data).
fn proves_absent<'a>(zone: &Name, nsecs: &[Nsec<'a>], name: &Name) -> Option<Nsec<'a>> {
    nsecs
        .iter()
        .find(|(owner, nsec)| {
            let next = nsec.next_domain_name();
            covers(zone, owner, next, name)
                && !name.zone_of(next)
                && !delegation_above(owner, nsec, name)
        })
        .copied()
}

/// Does the NSEC at `owner` with next name `next` cover `name` (canonical order, RFC 4034
/// §6.1: owner < name < next; the last NSEC of the zone wraps to the apex)?
fn covers(zone: &Name, owner: &Name, next: &Name, name: &Name) -> bool {
    zone.zone_of(name) && owner < name && (next <= owner || name < next)
}

/// Is the NSEC owned by a proper ancestor of `name` that is a delegation point (NS without SOA)
/// or a DNAME owner? Then names below it are not this zone's to deny.
fn delegation_above(owner: &Name, nsec: &NSEC, name: &Name) -> bool {
    if owner == name || !owner.zone_of(name) {
        return false;
    }
    let types: Vec<RecordType> = nsec.type_bit_maps().collect();
    types.contains(&RecordType::DNAME)
        || (types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA))
}

/// The closest encloser of an absent `qname` from the NSEC covering it: the longest ancestor of
/// `qname` shared with the NSEC's owner or next name (both exist), never above the zone.
fn closest_encloser(zone: &Name, qname: &Name, owner: &Name, next: &Name) -> Name {
    let shared = |other: &Name| {
        let mut n = qname.base_name();
        while !n.zone_of(other) && n.num_labels() > zone.num_labels() {
            n = n.base_name();
        }
        n
    };
    let (a, b) = (shared(owner), shared(next));
    let ce = if a.num_labels() >= b.num_labels() {
        a
    } else {
        b
    };
    if zone.zone_of(&ce) { ce } else { zone.clone() }
}

fn wildcard_of(ce: &Name) -> Result<Name, Kind> {
    ce.prepend_label("*").map_err(|_| Kind::DenialInvalid)
}
