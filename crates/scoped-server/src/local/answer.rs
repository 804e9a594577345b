//! Making the answer to a question a local zone encloses.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::defaults::DEFAULT_TTL;
use super::table::{NameData, Table};
use super::{LocalAnswer, LocalZoneKind, wire_name};

/// CNAME links followed within local data for one question.
const MAX_LOCAL_CNAMES: usize = 8;

pub(super) fn answer(table: &Table, name: &Name, qtype: RecordType) -> Option<LocalAnswer> {
    let wire = wire_name(name);
    let found = table.find(&wire)?;
    let zone = name_of_wire(found.apex);
    let apex_data = || table.node(found.apex).and_then(|node| table.data_of(node));
    let exact = found.exact.filter(|data| !data.records.is_empty());
    let data = match (found.kind, exact) {
        (LocalZoneKind::AlwaysNxdomain, _) => None,
        (LocalZoneKind::Redirect, None) => apex_data().filter(|data| !data.records.is_empty()),
        (_, exact) => exact,
    };
    let mut reply = LocalAnswer {
        rcode: ResponseCode::NoError,
        answers: Vec::new(),
        authorities: Vec::new(),
        zone,
        kind: found.kind,
    };
    let Some(data) = data else {
        return match found.kind {
            LocalZoneKind::Transparent => None,
            LocalZoneKind::Refuse => {
                reply.rcode = ResponseCode::Refused;
                Some(reply)
            }
            // An empty non-terminal exists: NODATA. Anything else: no such name.
            LocalZoneKind::Static | LocalZoneKind::Redirect if found.exact.is_some() => {
                reply
                    .authorities
                    .push(negative_soa(table, found.apex, &reply.zone));
                Some(reply)
            }
            _ => {
                reply.rcode = ResponseCode::NXDomain;
                reply
                    .authorities
                    .push(negative_soa(table, found.apex, &reply.zone));
                Some(reply)
            }
        };
    };
    reply.answers = matching(data, name, qtype);
    if reply.answers.is_empty() {
        reply
            .authorities
            .push(negative_soa(table, found.apex, &reply.zone));
    } else {
        follow_cnames(table, &mut reply.answers, qtype);
    }
    Some(reply)
}

/// The records of `data` that answer `qtype` (ANY: all; a CNAME answers every type), owned by
/// `name` as the client wrote it (a redirect zone's apex data answers every name under it).
fn matching(data: &NameData, name: &Name, qtype: RecordType) -> Vec<Record> {
    data.records
        .iter()
        .filter(|r| {
            qtype == RecordType::ANY
                || r.record_type() == qtype
                || r.record_type() == RecordType::CNAME
        })
        .map(|r| {
            let mut record = r.clone();
            record.name = name.clone();
            record
        })
        .collect()
}

/// Appends the records of a CNAME chain's targets that are local data, up to
/// [`MAX_LOCAL_CNAMES`] links; a target outside local data ends the chain (the stub asks
/// for it next).
fn follow_cnames(table: &Table, answers: &mut Vec<Record>, qtype: RecordType) {
    if qtype == RecordType::CNAME || qtype == RecordType::ANY {
        return;
    }
    for _ in 0..MAX_LOCAL_CNAMES {
        let Some(RData::CNAME(CNAME(target))) = answers.last().map(|r| &r.data) else {
            return;
        };
        let target = target.clone();
        let Some(data) = table
            .find(&wire_name(&target))
            .filter(|found| found.kind != LocalZoneKind::AlwaysNxdomain)
            .and_then(|found| found.exact)
            .filter(|data| !data.records.is_empty())
        else {
            return;
        };
        let next = matching(data, &target, qtype);
        if next.is_empty() || next.iter().any(|r| answers.contains(r)) {
            return;
        }
        answers.extend(next);
    }
}

/// The SOA of a negative answer: the apex's own (local data), else a locally made one; its TTL
/// is min(TTL, MINIMUM), the negative TTL (RFC 2308 §3).
fn negative_soa(table: &Table, apex: &[u8], zone: &Name) -> Record {
    let given = table
        .node(apex)
        .and_then(|node| table.data_of(node))
        .and_then(|data| {
            data.records
                .iter()
                .find(|r| r.record_type() == RecordType::SOA)
        })
        .cloned();
    let mut soa = given.unwrap_or_else(|| {
        let rdata = SOA::new(
            Name::from_ascii("localhost.").unwrap_or_else(|_| Name::root()),
            Name::from_ascii("nobody.invalid.").unwrap_or_else(|_| Name::root()),
            1,
            3600,
            1200,
            604_800,
            DEFAULT_TTL,
        );
        Record::from_rdata(zone.clone(), DEFAULT_TTL, RData::SOA(rdata))
    });
    if let RData::SOA(rdata) = &soa.data {
        soa.ttl = soa.ttl.min(rdata.minimum);
    }
    soa
}

/// The name of a lowercased wire name from the table.
fn name_of_wire(wire: &[u8]) -> Name {
    let mut labels = Vec::new();
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        labels.push(&wire[pos + 1..pos + 1 + usize::from(len)]);
        pos += 1 + usize::from(len);
    }
    Name::from_labels(labels).unwrap_or_else(|_| Name::root())
}
