//! The authoritative answer logic of RFC 1034 §4.3.2, shared by the in-memory and loopback modes.

use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use scoped_cache::dname::{Substitution, substitute};

use crate::zone::{Zone, label_count, ns_targets};

/// The EDNS UDP payload size our authoritatives advertise (DNS flag day 2020).
pub const SERVER_UDP_PAYLOAD: u16 = 1232;

/// Longest CNAME chain followed inside one zone before giving up.
const MAX_CNAME_CHAIN: usize = 16;

/// A response skeleton for `query`: same ID, opcode, RD and CD, the question copied, QR set, and
/// an OPT (payload [`SERVER_UDP_PAYLOAD`], DO copied, no options) when the query carried one.
pub fn response_skeleton(query: &Message) -> Message {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.checking_disabled = query.metadata.checking_disabled;
    response.queries = query.queries.clone();
    if let Some(edns) = &query.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(SERVER_UDP_PAYLOAD);
        ours.set_dnssec_ok(edns.flags().dnssec_ok);
        response.set_edns(ours);
    }
    response
}

/// A response to `query` carrying only `rcode` (no records, AA clear).
pub fn error_response(query: &Message, rcode: ResponseCode) -> Message {
    let mut response = response_skeleton(query);
    response.metadata.response_code = rcode;
    response
}

/// Pick the hosted zone that most closely encloses `qname`. For a DS query at a zone apex, the
/// parent zone is preferred when this server also hosts it (DS lives on the parent side).
pub fn closest_zone<'z>(
    zones: &'z [Arc<Zone>],
    qname: &Name,
    qtype: RecordType,
) -> Option<&'z Zone> {
    let mut enclosing: Vec<&Zone> = zones
        .iter()
        .map(AsRef::as_ref)
        .filter(|z| z.origin().zone_of(qname))
        .collect();
    enclosing.sort_by_key(|z| std::cmp::Reverse(label_count(z.origin())));
    if qtype == RecordType::DS
        && enclosing.len() > 1
        && enclosing.first().is_some_and(|z| z.origin() == qname)
    {
        return enclosing.get(1).copied();
    }
    enclosing.first().copied()
}

/// The authoritative response of a server hosting `zones` to `query` (RFC 1034 §4.3.2):
///
/// - no single question → FORMERR; opcode other than QUERY → NOTIMP; class not IN, or no hosted
///   zone encloses the name → REFUSED;
/// - a delegation (NS RRset below the apex) on the path to the name → referral: AA clear, the NS
///   RRset in authority, A/AAAA glue for the NS targets that lie inside this zone in additional;
/// - the name owns the type → AA answer (for NS answers, in-zone addresses of the targets in
///   additional); QTYPE ANY returns every RRset of the node;
/// - the name owns a CNAME (QTYPE not CNAME) → AA answer with the CNAME, followed as long as the
///   target stays inside this zone and outside its delegations; the RCODE is the one of the last
///   name of the chain (RFC 6604);
/// - a DNAME owned by an ancestor of the name, inside this zone and above its delegations → AA
///   answer with the DNAME, then the CNAME synthesised from it (the query name redirected, the
///   DNAME's TTL), followed like a CNAME while the new name stays in this zone (RFC 6672 §3.2);
///   for QTYPE CNAME the synthesised CNAME is the answer; a name made longer than 255 octets →
///   YXDOMAIN with the DNAME (RFC 6672 §2.2). The owner itself is not redirected;
/// - the name is absent but `*.<closest encloser>` exists → records synthesised with the query
///   name as owner (RFC 4592);
/// - the name is absent → NXDOMAIN, AA, the zone SOA in authority; the name exists (or is an empty
///   non-terminal) without the type → NOERROR/NODATA, AA, SOA in authority. The SOA is sent with
///   its TTL as written in the zone (not clamped to MINIMUM), so the resolver's RFC 2308
///   `min(SOA TTL, MINIMUM)` is what gets tested.
///
/// For a query with the DO bit to a signed zone ([`Zone::is_signed`]), the DNSSEC records are
/// added as an authoritative server does (RFC 4035 §3.1): RRSIGs with each RRset, the DS (or the
/// NSEC/NSEC3 proving there is none) with a referral, NSEC/NSEC3 proofs with NXDOMAIN, NODATA
/// and wildcard answers.
pub fn authoritative_response(zones: &[Arc<Zone>], query: &Message) -> Message {
    let mut response = plain_response(zones, query);
    let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    if let ([question], true) = (query.queries.as_slice(), dnssec_ok)
        && let Some(zone) = closest_zone(zones, question.name(), question.query_type())
        && zone.is_signed()
    {
        crate::dnssec_answer::add_dnssec(&mut response, zone, question.name());
    }
    response
}

fn plain_response(zones: &[Arc<Zone>], query: &Message) -> Message {
    let mut response = response_skeleton(query);
    if query.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return response;
    }
    let [question] = query.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    if question.query_class() != DNSClass::IN {
        response.metadata.response_code = ResponseCode::Refused;
        return response;
    }
    let qtype = question.query_type();
    let Some(zone) = closest_zone(zones, question.name(), qtype) else {
        response.metadata.response_code = ResponseCode::Refused;
        return response;
    };

    let mut name = question.name().clone();
    let mut seen: Vec<Name> = Vec::new();
    response.metadata.authoritative = true;
    for _ in 0..MAX_CNAME_CHAIN {
        seen.push(name.clone());
        match lookup(zone, &name, qtype) {
            Lookup::Referral(cut) => {
                if response.answers.is_empty() {
                    add_referral(&mut response, zone, &cut);
                }
                // Mid-chain: the CNAMEs so far are the answer; the resolver follows the target.
                return response;
            }
            Lookup::Node { rrsets, owner } => {
                let wanted: Vec<&Record> = if qtype == RecordType::ANY {
                    rrsets.values().flatten().collect()
                } else {
                    rrsets
                        .get(&qtype)
                        .map(|r| r.iter().collect())
                        .unwrap_or_default()
                };
                if !wanted.is_empty() {
                    for record in wanted {
                        response.add_answer(with_owner(record, &owner));
                    }
                    if qtype == RecordType::NS {
                        let targets = ns_targets(&response.answers);
                        add_glue(&mut response, zone, &targets);
                    }
                    return response;
                }
                let cname = rrsets.get(&RecordType::CNAME).and_then(|r| r.first());
                match cname {
                    Some(record) if qtype != RecordType::CNAME => {
                        response.add_answer(with_owner(record, &owner));
                        let RData::CNAME(target) = &record.data else {
                            return response;
                        };
                        let target = target.0.clone();
                        if !zone.origin().zone_of(&target) || seen.contains(&target) {
                            return response;
                        }
                        name = target;
                    }
                    _ => {
                        add_soa(&mut response, zone);
                        return response;
                    }
                }
            }
            Lookup::Dname(dname) => {
                response.add_answer(dname.clone());
                match substitute(&name, dname) {
                    Some(Substitution::Cname(cname)) => {
                        let target = match &cname.data {
                            RData::CNAME(target) => target.0.clone(),
                            _ => return response,
                        };
                        response.add_answer(*cname);
                        if qtype == RecordType::CNAME
                            || !zone.origin().zone_of(&target)
                            || seen.contains(&target)
                        {
                            return response;
                        }
                        name = target;
                    }
                    Some(Substitution::TooLong) => {
                        response.metadata.response_code = ResponseCode::YXDomain;
                        return response;
                    }
                    // `lookup` only finds a DNAME that applies.
                    None => return response,
                }
            }
            Lookup::EmptyNonTerminal => {
                add_soa(&mut response, zone);
                return response;
            }
            Lookup::NxDomain => {
                response.metadata.response_code = ResponseCode::NXDomain;
                add_soa(&mut response, zone);
                return response;
            }
        }
    }
    response
}

/// Add to a positive authoritative answer the NS RRset of the zone it came from (authority) and
/// the addresses of its targets inside that zone (additional), as a server without minimal
/// responses does. Referrals, negative answers and errors are left alone.
pub fn add_apex_ns(zones: &[Arc<Zone>], response: &mut Message) {
    if !response.metadata.authoritative
        || response.metadata.response_code != ResponseCode::NoError
        || response.answers.is_empty()
        || !response.authorities.is_empty()
    {
        return;
    }
    let Some(question) = response.queries.first() else {
        return;
    };
    let Some(zone) = closest_zone(zones, question.name(), question.query_type()) else {
        return;
    };
    let ns = zone
        .rrset(zone.origin(), RecordType::NS)
        .unwrap_or_default();
    response.add_authorities(ns.iter().cloned());
    for address in ns_targets(ns)
        .iter()
        .filter(|target| zone.origin().zone_of(target))
        .flat_map(|target| zone.addresses(target))
    {
        if !response.additionals.contains(&address) {
            response.add_additional(address);
        }
    }
}

/// Is `qname` an empty non-terminal of the hosted zone closest to it: a name that exists only
/// because names below it do (RFC 8020 §2: NOERROR/NODATA is the right answer for it)?
pub fn is_empty_non_terminal(zones: &[Arc<Zone>], qname: &Name, qtype: RecordType) -> bool {
    closest_zone(zones, qname, qtype)
        .is_some_and(|zone| matches!(lookup(zone, qname, qtype), Lookup::EmptyNonTerminal))
}

/// An upward referral to the root: what a lame server that does not know the zone sends. AA
/// clear, NOERROR, `roots` (NS name, optional address records) in authority and additional.
pub fn upward_referral(query: &Message, roots: &[(Name, Vec<Record>)]) -> Message {
    let mut response = response_skeleton(query);
    for (ns, addresses) in roots {
        response.add_authority(Record::from_rdata(
            Name::root(),
            518_400,
            RData::NS(hickory_proto::rr::rdata::NS(ns.clone())),
        ));
        response.add_additionals(addresses.iter().cloned());
    }
    response
}

enum Lookup<'z> {
    Referral(Name),
    /// A DNAME owned by an ancestor of the name redirects it.
    Dname(&'z Record),
    Node {
        rrsets: &'z std::collections::BTreeMap<RecordType, Vec<Record>>,
        owner: Name,
    },
    EmptyNonTerminal,
    NxDomain,
}

fn lookup<'z>(zone: &'z Zone, name: &Name, qtype: RecordType) -> Lookup<'z> {
    let apex = label_count(zone.origin());
    let total = label_count(name);
    // Down from the apex: the first zone cut or DNAME owner above the name decides.
    for n in apex..=total {
        let candidate = name.trim_to(n);
        if n > apex
            && zone.rrset(&candidate, RecordType::NS).is_some()
            && !(n == total && qtype == RecordType::DS)
        {
            return Lookup::Referral(candidate);
        }
        if n < total
            && let Some(dname) = zone
                .rrset(&candidate, RecordType::DNAME)
                .and_then(|r| r.first())
        {
            return Lookup::Dname(dname);
        }
    }
    if let Some(rrsets) = zone.node(name) {
        return Lookup::Node {
            rrsets,
            owner: name.clone(),
        };
    }
    if zone.name_exists(name) {
        return Lookup::EmptyNonTerminal;
    }
    // RFC 4592: the closest encloser is the longest existing ancestor; the source of synthesis
    // is `*.<closest encloser>`.
    let encloser = (apex..total)
        .rev()
        .map(|n| name.trim_to(n))
        .find(|a| zone.name_exists(a));
    if let Some(encloser) = encloser
        && let Ok(wildcard) = encloser.prepend_label("*")
        && let Some(rrsets) = zone.node(&wildcard)
    {
        return Lookup::Node {
            rrsets,
            owner: name.clone(),
        };
    }
    Lookup::NxDomain
}

fn with_owner(record: &Record, owner: &Name) -> Record {
    let mut record = record.clone();
    if record.name.is_wildcard() && !owner.is_wildcard() {
        record.name = owner.clone();
    }
    record
}

fn add_soa(response: &mut Message, zone: &Zone) {
    if let Some(soa) = zone.soa() {
        response.add_authority(soa.clone());
    }
}

fn add_referral(response: &mut Message, zone: &Zone, cut: &Name) {
    response.metadata.authoritative = false;
    let ns = zone.rrset(cut, RecordType::NS).unwrap_or_default();
    response.add_authorities(ns.iter().cloned());
    add_glue(response, zone, &ns_targets(ns));
}

/// A/AAAA records for the `targets` that lie inside `zone`.
fn add_glue(response: &mut Message, zone: &Zone, targets: &[Name]) {
    for target in targets {
        if zone.origin().zone_of(target) {
            response.add_additionals(zone.addresses(target));
        }
    }
}

/// Is this message a query (QR clear)?
pub(crate) fn is_query(message: &Message) -> bool {
    message.metadata.message_type == MessageType::Query
}
