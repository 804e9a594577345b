//! Answers assembled from the caches link by link: CNAME and DNAME chains, their ends, and
//! the bounds on them.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::CachedData;
use crate::dname::{self, Substitution};

/// The end of an answer assembled from the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerEnd {
    /// The records asked for, at the end of the chain.
    Records(Vec<Record>),
    /// A negative answer for the last name of the chain.
    Negative {
        /// NXDOMAIN or NOERROR (NODATA).
        rcode: ResponseCode,
        /// The SOA for the authority section (boxed: with hickory's DNSSEC feature a `Record`
        /// is large, and this enum is returned by value on every cache lookup).
        soa: Box<Record>,
    },
    /// The chain leads to this name, about which the cache knows nothing usable (or which it
    /// already went through: a loop): resolve it.
    Continue(Name),
    /// The DNAME that ends the links would make a name longer than 255 octets: YXDOMAIN (RFC
    /// 6672 §2.2).
    NameTooLong,
}

/// An answer (possibly partial) assembled from the cache for a client question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedAnswer {
    /// The links followed, in order: CNAMEs, and each DNAME followed by the CNAME synthesised
    /// from it.
    pub links: Vec<Record>,
    /// How the chain ended.
    pub end: AnswerEnd,
}

/// One link of an answer found in a cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerStep {
    /// The records asked for.
    Records(Vec<Record>),
    /// NXDOMAIN or NODATA (NOERROR), with the SOA for the authority section.
    Negative(ResponseCode, Record),
    /// A CNAME to follow, and the RRSIGs cached with it (validated secure: a DO client gets
    /// them with the chain).
    Cname(Record, Vec<Record>),
    /// A DNAME at an ancestor of the name (RFC 6672): the DNAME, and the CNAME synthesised from
    /// it for the name — `None` when the name it makes would be longer than 255 octets.
    Dname {
        /// The DNAME record, as cached.
        dname: Box<Record>,
        /// The RRSIGs cached with it (validated secure: a DO client gets them with the chain;
        /// the synthesised CNAME has none, RFC 6672 §5.3.1).
        sigs: Vec<Record>,
        /// The synthesised CNAME (TTL: the DNAME's), or `None`: YXDOMAIN.
        cname: Option<Box<Record>>,
    },
}

impl AnswerStep {
    /// The step a cached DNAME RRset (owned by an ancestor of `name`: the DNAME first, then
    /// the RRSIGs cached with it) makes for `name`: `None` when it does not apply to `name` or
    /// is not a usable DNAME.
    pub fn from_dname(name: &Name, mut records: Vec<Record>) -> Option<Self> {
        if records.is_empty() {
            return None;
        }
        let sigs = rrsigs(records.split_off(1));
        let dname = records.swap_remove(0);
        let cname = match dname::substitute(name, &dname)? {
            Substitution::Cname(cname) => Some(cname),
            Substitution::TooLong => None,
        };
        Some(Self::Dname {
            dname: Box::new(dname),
            sigs,
            cname,
        })
    }

    /// The step a cached entry stands for, for a lookup of `rtype` (CNAME entries are links
    /// unless CNAME itself was asked for).
    pub fn from_data(data: CachedData, asked: RecordType) -> Option<Self> {
        match data {
            CachedData::Rrset { mut records, .. } => {
                let is_link = records
                    .first()
                    .is_some_and(|r| r.record_type() == RecordType::CNAME)
                    && asked != RecordType::CNAME;
                if is_link {
                    let sigs = rrsigs(records.split_off(1));
                    Some(Self::Cname(records.remove(0), sigs))
                } else {
                    Some(Self::Records(records))
                }
            }
            CachedData::NoData { soa } => Some(Self::Negative(ResponseCode::NoError, *soa)),
            CachedData::NxDomain { soa } => Some(Self::Negative(ResponseCode::NXDomain, *soa)),
        }
    }
}

/// How many substitutions a chain of links makes: one per CNAME, received or synthesised from a
/// DNAME (the DNAME itself is not counted again), against the limit `max_cname_chain`.
pub fn hops(links: &[Record]) -> usize {
    links
        .iter()
        .filter(|r| r.record_type() == RecordType::CNAME)
        .count()
}

/// Whether following `links` has already been at `name`: a CNAME (received or synthesised) is
/// owned by it. Going there again is a loop.
pub fn revisits(links: &[Record], name: &Name) -> bool {
    links
        .iter()
        .any(|r| r.record_type() == RecordType::CNAME && &r.name == name)
}

/// Follow a chain of CNAMEs and DNAMEs from `name` for a question of `qtype`, asking `step` for
/// each link and the scope it was cached under, through at most `max_links` substitutions
/// ([`hops`]). Returns the chain, how it ended, and the longest scope of the links used (E18).
/// `None` when `step` knows nothing about `name` itself; a chain cut short (too long, a loop, or
/// a name the cache knows nothing of) ends in [`AnswerEnd::Continue`] at the name still to
/// resolve. A DNAME goes into the links followed by the CNAME synthesised from it, except for a
/// CNAME question, whose answer that CNAME is (RFC 6672 §3.2).
pub fn follow_chain(
    name: &Name,
    qtype: RecordType,
    max_links: usize,
    mut step: impl FnMut(&Name) -> Option<(AnswerStep, u8)>,
) -> Option<(CachedAnswer, u8)> {
    let mut links = Vec::new();
    let mut scope = 0u8;
    let mut current = name.clone();
    loop {
        let followed = hops(&links);
        let end = match step(&current) {
            Some((AnswerStep::Records(records), s)) => {
                scope = scope.max(s);
                AnswerEnd::Records(records)
            }
            Some((AnswerStep::Negative(rcode, soa), s)) => {
                scope = scope.max(s);
                AnswerEnd::Negative {
                    rcode,
                    soa: Box::new(soa),
                }
            }
            Some((AnswerStep::Dname { dname, sigs, cname }, s)) if followed < max_links => {
                scope = scope.max(s);
                links.push(*dname);
                links.extend(sigs);
                match cname.map(|cname| *cname) {
                    None => AnswerEnd::NameTooLong,
                    Some(cname) if qtype == RecordType::CNAME => AnswerEnd::Records(vec![cname]),
                    Some(cname) => {
                        let RData::CNAME(target) = &cname.data else {
                            return None;
                        };
                        current = target.0.clone();
                        links.push(cname);
                        if revisits(&links, &current) {
                            AnswerEnd::Continue(current)
                        } else {
                            continue;
                        }
                    }
                }
            }
            Some((AnswerStep::Cname(link, sigs), s)) if followed < max_links => {
                let RData::CNAME(target) = &link.data else {
                    return None;
                };
                scope = scope.max(s);
                current = target.0.clone();
                links.push(link);
                links.extend(sigs);
                if revisits(&links, &current) {
                    AnswerEnd::Continue(current)
                } else {
                    continue;
                }
            }
            // Nothing known, or a chain too long for the cache to follow: the engine decides.
            Some(_) | None if links.is_empty() => return None,
            Some(_) | None => AnswerEnd::Continue(current),
        };
        return Some((CachedAnswer { links, end }, scope));
    }
}

/// The RRSIGs among `records` (what a cached RRset holds after its records).
pub(crate) fn rrsigs(mut records: Vec<Record>) -> Vec<Record> {
    records.retain(|r| r.record_type() == RecordType::RRSIG);
    records
}
