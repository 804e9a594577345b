//! What an authoritative's response means for the name we asked — pure, no I/O.
//!
//! Every record used is checked against the bailiwick of the zone whose server we asked
//! (RFC 1034 §4.3.2, the Kaminsky lesson): a server for `example.com.` can tell us about names at
//! or below `example.com.` and nothing else. Whatever fails the check is ignored, never cached.
//!
//! **Aliases.** The answer section is followed from the asked name through CNAMEs and DNAMEs
//! (RFC 6672) as long as each link is in bailiwick. A DNAME owned by an ancestor of the name
//! redirects it: the CNAME is synthesised here from the DNAME (`scoped_cache::dname`), whatever
//! CNAME the server sent beside it, and both go into the links — the DNAME, then the CNAME
//! synthesised from it. Each synthesised CNAME counts as one link against the chain limits, like a
//! CNAME received. A DNAME that would make a name longer than 255 octets ends the answer with
//! YXDOMAIN (RFC 6672 §2.2); a YXDOMAIN from a server without such a DNAME is an error rcode.
//!
//! **Authority.** Records that answer the question count only from a response with the AA bit:
//! the zone's own servers set it, and records without it come from a cache or from a server
//! that does not serve the zone (a lame delegation), so that server is passed over
//! ([`LameReason::NotAuthoritative`]). A CNAME without AA still leads on to its target, as some
//! large providers omit the bit on aliases.
//!
//! **Records of a type other than asked** (an A record in the answer to an AAAA question) are
//! never the answer, and nothing is cached from them. What the response then means is decided as
//! if they were absent, with one difference: an answer section that held records, none of which
//! answers the question (no RRset of the type at the name, no alias leading there), is what a
//! server sends when it mishandles the type, so without a SOA it is not taken as an authoritative
//! NODATA but as no usable answer from that server ([`LameReason::UnaskedData`]): the next server
//! is asked, and only if none answers does the question fail. With the zone's SOA in authority it
//! is a NODATA like any other (the server said so in the form RFC 2308 defines), cached with that
//! SOA. Unbound does the same in two steps: its scrubber removes the RRsets of other types from
//! the answer section, and the emptied reply is then a NODATA if it has a SOA, and otherwise
//! thrown away in favour of another server.

use scoped_ecs::names::{is_within, same_name};
use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use scoped_cache::dname::{Substitution, substitute};
use scoped_cache::revisits;

/// CNAME links (received, or synthesised from a DNAME) followed inside one response before we
/// stop trusting it.
const MAX_LINKS_IN_RESPONSE: usize = 16;

/// A zone cut and what we know about its nameservers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegation {
    /// The zone's apex.
    pub zone: Name,
    /// Its nameservers, with the addresses known for each (possibly none: glueless).
    pub servers: Vec<NameServer>,
}

/// One nameserver of a delegation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameServer {
    /// The NS target.
    pub name: Name,
    /// Addresses known for it (glue or cached).
    pub addrs: Vec<IpAddr>,
}

/// The end of one name's resolution as told by an authoritative server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Records of the asked type, after any in-zone CNAME links.
    Answer {
        /// Links followed within the response, in order: CNAMEs, and each DNAME followed by the
        /// CNAME synthesised from it.
        links: Vec<Record>,
        /// The RRset asked for (owner: the last link's target, or the qname).
        records: Vec<Record>,
        /// Whether the response was authoritative.
        authoritative: bool,
    },
    /// The name is an alias whose target must be resolved elsewhere.
    Cname {
        /// The links followed within the response.
        links: Vec<Record>,
        /// The target still to resolve.
        next: Name,
        /// Whether the response was authoritative.
        authoritative: bool,
    },
    /// The (last) name does not exist.
    NxDomain {
        /// CNAME links that led to the non-existent name.
        links: Vec<Record>,
        /// The name that does not exist.
        name: Name,
        /// The zone's SOA, if given and in bailiwick.
        soa: Option<Box<Record>>,
    },
    /// A negative answer other than NXDOMAIN: the name exists but has no records of the asked
    /// type (NOERROR), or a DNAME would make it longer than 255 octets (YXDOMAIN, RFC 6672 §2.2).
    NoData {
        /// The links that led to the name: empty for NOERROR (an alias whose target has no data
        /// is a [`Step::Cname`], its target asked again), the CNAMEs and the DNAME for YXDOMAIN.
        links: Vec<Record>,
        /// The name.
        name: Name,
        /// The zone's SOA, if given and in bailiwick.
        soa: Option<Box<Record>>,
        /// NOERROR or YXDOMAIN.
        rcode: ResponseCode,
    },
}

/// The links of a step worth caching: CNAMEs as received and DNAMEs, not the CNAMEs synthesised
/// from a DNAME (each one follows its DNAME), which the cached DNAME synthesises again for any name
/// below it (RFC 6672 §3.4).
pub fn cacheable_links(links: &[Record]) -> impl Iterator<Item = &Record> {
    links.iter().enumerate().filter_map(move |(i, link)| {
        let synthesised = link.record_type() == RecordType::CNAME
            && i > 0
            && links[i - 1].record_type() == RecordType::DNAME;
        (!synthesised).then_some(link)
    })
}

/// Whether the answer `records` of a step after `links` were synthesised (a CNAME question below
/// a DNAME): then the cached DNAME stands for them.
pub fn synthesised_answer(links: &[Record], records: &[Record]) -> bool {
    links
        .last()
        .is_some_and(|l| l.record_type() == RecordType::DNAME)
        && records.iter().all(|r| r.record_type() == RecordType::CNAME)
}

/// How a response is to be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    /// An answer (positive, alias or negative) for the name.
    Final(Step),
    /// A referral one step down towards the name.
    Referral {
        /// The child zone, its NS targets and in-bailiwick glue.
        delegation: Delegation,
        /// The NS records (to cache).
        ns_records: Vec<Record>,
        /// Glue address records that passed the bailiwick check (to cache as glue).
        glue: Vec<Record>,
    },
    /// This server cannot help: try another.
    Lame(LameReason),
}

/// Why a response was not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LameReason {
    /// The server answered with an error rcode (SERVFAIL, REFUSED, NOTIMP, FORMERR…).
    Rcode(ResponseCode),
    /// A referral to a zone that is not below the one asked (upward or sideways).
    UpwardReferral,
    /// Neither an answer, nor a usable referral, nor an authoritative negative answer.
    NoUsableData,
    /// Records in the answer section, none of them for the question (another type at the name,
    /// say), and no SOA: the server mishandles this question.
    UnaskedData,
    /// Records for the question without the AA bit: the server does not hold the zone.
    NotAuthoritative,
}

impl LameReason {
    /// Whether the reply shows the server lame for the question — it does not serve the zone, or
    /// mishandles this type — rather than failing for the moment (SERVFAIL, FORMERR, NOTIMP):
    /// worth remembering so the question does not wait on it again.
    pub fn is_lame_delegation(self) -> bool {
        match self {
            Self::Rcode(rcode) => rcode == ResponseCode::Refused,
            Self::UpwardReferral
            | Self::NoUsableData
            | Self::UnaskedData
            | Self::NotAuthoritative => true,
        }
    }
}

/// Classify `msg`, the response of a server for `zone` to the question (`qname`, `qtype`).
pub fn classify(msg: &Message, zone: &Name, qname: &Name, qtype: RecordType) -> Classified {
    let rcode = msg.metadata.response_code;
    if !matches!(
        rcode,
        ResponseCode::NoError | ResponseCode::NXDomain | ResponseCode::YXDomain
    ) {
        return Classified::Lame(LameReason::Rcode(rcode));
    }
    if !is_within(qname, zone) {
        // We only ask a zone's servers about names in it; anything else they say is noise.
        return Classified::Lame(LameReason::NoUsableData);
    }
    let authoritative = msg.metadata.authoritative;

    // Follow the answer section from the qname through CNAMEs and DNAMEs that stay in bailiwick.
    let mut links = Vec::new();
    let mut current = qname.clone();
    let mut records = Vec::new();
    let mut too_long = false;
    // The qname is in the zone (above); each CNAME target is checked as it is followed.
    let mut in_zone = true;
    while scoped_cache::hops(&links) <= MAX_LINKS_IN_RESPONSE
        && (std::mem::take(&mut in_zone) || is_within(&current, zone))
    {
        let at_current = |r: &&Record| same_name(&r.name, &current) && r.dns_class == DNSClass::IN;
        // A DNAME above the name redirects it, whatever the server put at the name itself.
        let link = match dname_above(msg, zone, &current) {
            Some((dname, Substitution::TooLong)) => {
                links.push(dname.clone());
                too_long = true;
                break;
            }
            Some((dname, Substitution::Cname(cname))) => {
                links.push(dname.clone());
                if qtype == RecordType::CNAME {
                    // The synthesised CNAME is the answer (RFC 6672 §3.2).
                    records = vec![*cname];
                    break;
                }
                *cname
            }
            None => {
                records = msg
                    .answers
                    .iter()
                    .filter(at_current)
                    .filter(|r| {
                        r.record_type() == qtype
                            || (qtype == RecordType::ANY && r.record_type() != RecordType::RRSIG)
                    })
                    .cloned()
                    .collect();
                if !records.is_empty() || qtype == RecordType::CNAME {
                    break;
                }
                let Some(link) = msg
                    .answers
                    .iter()
                    .filter(at_current)
                    .find(|r| r.record_type() == RecordType::CNAME)
                else {
                    break;
                };
                link.clone()
            }
        };
        let RData::CNAME(target) = &link.data else {
            break;
        };
        current = target.0.clone();
        links.push(link);
        if revisits(&links, &current) {
            // A loop inside one response: use nothing of it.
            return Classified::Lame(LameReason::NoUsableData);
        }
    }
    if !records.is_empty() {
        if !authoritative {
            // The zone's own server sets AA for its data; without it the records come from a
            // cache or a server that does not hold the zone (a lame delegation): not an answer,
            // whatever they say. A CNAME alone still leads on (below), as some servers omit AA
            // on aliases.
            return Classified::Lame(LameReason::NotAuthoritative);
        }
        return Classified::Final(Step::Answer {
            links,
            records,
            authoritative,
        });
    }
    if too_long {
        return Classified::Final(Step::NoData {
            links,
            name: current,
            soa: None,
            rcode: ResponseCode::YXDomain,
        });
    }
    if rcode == ResponseCode::YXDomain {
        // Only a DNAME we can check makes a name too long.
        return Classified::Lame(LameReason::Rcode(rcode));
    }

    let soa = msg
        .authorities
        .iter()
        .find(|r| {
            r.record_type() == RecordType::SOA
                && is_within(&r.name, zone)
                && is_within(&current, &r.name)
        })
        .map(|soa| Box::new(soa.clone()));

    if rcode == ResponseCode::NXDomain {
        if authoritative || soa.is_some() {
            return Classified::Final(Step::NxDomain {
                links,
                name: current,
                soa,
            });
        }
        return Classified::Lame(LameReason::NoUsableData);
    }
    if !links.is_empty() {
        // The chain leaves what this response tells us: resolve the target from its own zone.
        return Classified::Final(Step::Cname {
            links,
            next: current,
            authoritative,
        });
    }
    let nodata = |soa| {
        Classified::Final(Step::NoData {
            links: Vec::new(),
            name: current.clone(),
            soa,
            rcode: ResponseCode::NoError,
        })
    };
    if soa.is_some() {
        return nodata(soa);
    }
    match referral(msg, zone, qname) {
        Some(Ok(referral)) => referral,
        Some(Err(reason)) if !authoritative => Classified::Lame(reason),
        // Records that answer nothing asked (another type at the name): not a NODATA without
        // the SOA that would say so; another server may answer.
        _ if !msg.answers.is_empty() => Classified::Lame(LameReason::UnaskedData),
        _ if authoritative => nodata(None),
        _ => Classified::Lame(LameReason::NoUsableData),
    }
}

/// The DNAME in the answer section that redirects `name` (owned by its closest ancestor that
/// has one, inside `zone`), and what it does to `name`.
fn dname_above<'m>(
    msg: &'m Message,
    zone: &Name,
    name: &Name,
) -> Option<(&'m Record, Substitution)> {
    msg.answers
        .iter()
        .filter(|r| {
            r.record_type() == RecordType::DNAME
                && r.dns_class == DNSClass::IN
                && is_within(&r.name, zone)
        })
        .filter_map(|r| Some((r, substitute(name, r)?)))
        .max_by_key(|(r, _)| r.name.num_labels())
}

/// The referral in `msg`, if its authority section holds NS records: `Ok` when it leads strictly
/// below `zone` towards `qname`, `Err` when it points up or sideways (lame).
fn referral(msg: &Message, zone: &Name, qname: &Name) -> Option<Result<Classified, LameReason>> {
    let ns: Vec<&Record> = msg
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS && r.dns_class == DNSClass::IN)
        .collect();
    if ns.is_empty() {
        return None;
    }
    // The deepest owner that is strictly below the zone and at or above the qname.
    let child = ns
        .iter()
        .map(|r| &r.name)
        .filter(|owner| {
            is_within(owner, zone) && !same_name(owner, zone) && is_within(qname, owner)
        })
        .max_by_key(|owner| owner.num_labels())
        .cloned();
    let Some(child) = child else {
        return Some(Err(LameReason::UpwardReferral));
    };
    let ns_records: Vec<Record> = ns
        .into_iter()
        .filter(|r| same_name(&r.name, &child))
        .cloned()
        .collect();
    let targets: Vec<Name> = ns_records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(target) => Some(target.0.clone()),
            _ => None,
        })
        .collect();
    // Glue only for the NS targets, and only inside the referring zone's bailiwick.
    let glue: Vec<Record> = msg
        .additionals
        .iter()
        .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
        .filter(|r| {
            r.dns_class == DNSClass::IN
                && is_within(&r.name, zone)
                && targets.iter().any(|t| same_name(t, &r.name))
        })
        .cloned()
        .collect();
    let servers = targets
        .iter()
        .map(|name| NameServer {
            name: name.clone(),
            addrs: addresses_of(name, &glue),
        })
        .collect();
    Some(Ok(Classified::Referral {
        delegation: Delegation {
            zone: child,
            servers,
        },
        ns_records,
        glue,
    }))
}

/// The child's own NS RRset, when an authoritative answer from a server of `zone` carries it in
/// its authority section (servers without minimal responses do), with the addresses of its
/// targets found in additional: `(ns_records, addresses)`. Only NOERROR answers with the AA bit
/// count; the RRset must be owned at or below `zone` and at or above `qname` (the zone that
/// answered), the addresses must lie inside `zone` (the same bailiwick rule as glue).
pub fn authority_ns(
    msg: &Message,
    zone: &Name,
    qname: &Name,
) -> Option<(Vec<Record>, Vec<Record>)> {
    let ns_records: Vec<Record> = authority_ns_set(msg, zone, qname)?
        .into_iter()
        .cloned()
        .collect();
    let targets: Vec<&Name> = ns_records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(target) => Some(&target.0),
            _ => None,
        })
        .collect();
    let addresses = msg
        .additionals
        .iter()
        .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
        .filter(|r| {
            r.dns_class == DNSClass::IN
                && is_within(&r.name, zone)
                && targets.iter().any(|t| same_name(t, &r.name))
        })
        .cloned()
        .collect();
    Some((ns_records, addresses))
}

/// The NS records of [`authority_ns`], borrowed from the reply (never empty).
pub fn authority_ns_set<'a>(
    msg: &'a Message,
    zone: &Name,
    qname: &Name,
) -> Option<Vec<&'a Record>> {
    if !msg.metadata.authoritative || msg.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    let in_bailiwick = |r: &&Record| {
        r.record_type() == RecordType::NS
            && r.dns_class == DNSClass::IN
            && is_within(&r.name, zone)
            && is_within(qname, &r.name)
    };
    // One pass: the NS records in bailiwick, then those of the deepest owner among them (every
    // owner is an ancestor of `qname`, so one label count is one name).
    let mut set: Vec<&Record> = msg.authorities.iter().filter(in_bailiwick).collect();
    let deepest = set.iter().map(|r| r.name.num_labels()).max()?;
    set.retain(|r| r.name.num_labels() == deepest);
    Some(set)
}

/// The addresses in `records` owned by `name`.
pub fn addresses_of(name: &Name, records: &[Record]) -> Vec<IpAddr> {
    records
        .iter()
        .filter(|r| same_name(&r.name, name))
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
