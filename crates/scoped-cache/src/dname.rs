//! DNAME (RFC 6672): reading the record, and the CNAME it synthesises for a name below its owner.
//!
//! hickory-proto 0.26 has no DNAME rdata: a DNAME arrives as [`RData::Unknown`] whose bytes are
//! the target's wire form, uncompressed (RFC 6672 §2.5 forbids compressing it). These helpers read
//! and build that form, so nothing else in scoped looks at the bytes. The engine, the caches and
//! the testkit's authoritative servers all substitute through [`substitute`], so they cannot
//! disagree on what a DNAME means.

use hickory_proto::rr::rdata::{CNAME, NULL};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable};
use scoped_ecs::names::is_within;

/// What a DNAME does to one name below its owner (RFC 6672 §2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Substitution {
    /// The CNAME synthesised for the name: owned by the name, pointing at the name with the
    /// DNAME's owner replaced by its target, with the DNAME's TTL (RFC 6672 §3.4).
    Cname(Box<Record>),
    /// The substituted name would be longer than 255 octets: the answer is YXDOMAIN.
    TooLong,
}

/// A DNAME record redirecting every name below `owner` to the same name below `target`.
pub fn dname_record(owner: Name, ttl: u32, target: &Name) -> Record {
    let mut bytes = target.to_bytes().unwrap_or_default();
    if bytes.is_empty() {
        // A name always encodes (at least its root byte); keep the rdata well formed anyway.
        bytes.push(0);
    }
    let data = RData::Unknown {
        code: RecordType::DNAME,
        rdata: NULL::with(bytes),
    };
    Record::from_rdata(owner, ttl, data)
}

/// The target of a DNAME record; `None` for any other record, or for rdata that is not exactly
/// one uncompressed name (a compression pointer cannot be followed outside the message).
pub fn dname_target(record: &Record) -> Option<Name> {
    let RData::Unknown {
        code: RecordType::DNAME,
        rdata,
    } = &record.data
    else {
        return None;
    };
    let bytes = rdata.anything.as_slice();
    let mut decoder = BinDecoder::new(bytes);
    let mut target = Name::read(&mut decoder).ok()?;
    target.set_fqdn(true);
    // Written back uncompressed, the name must be the rdata exactly: no pointer, nothing after.
    (target.to_bytes().ok()?.as_slice() == bytes).then_some(target)
}

/// `record` in zone-file form, a DNAME with its target (hickory writes the rdata of a type it
/// does not know as base64).
pub fn present(record: &Record) -> String {
    match dname_target(record) {
        Some(target) => format!(
            "{} {} {} DNAME {target}",
            record.name, record.ttl, record.dns_class
        ),
        None => record.to_string(),
    }
}

/// What `dname` does to `name`: `None` when `name` is not strictly below the DNAME's owner (the
/// owner itself is not redirected, RFC 6672 §2.3) or the record is not a usable DNAME.
pub fn substitute(name: &Name, dname: &Record) -> Option<Substitution> {
    let owner = &dname.name;
    if !is_within(name, owner) || owner == name {
        return None;
    }
    let target = dname_target(dname)?;
    // Labels, not `num_labels` (which does not count a leading `*`).
    let keep = name.iter().count() - owner.iter().count();
    let Ok(prefix) = Name::from_labels(name.iter().take(keep)) else {
        return Some(Substitution::TooLong);
    };
    let Ok(next) = prefix.append_domain(&target) else {
        return Some(Substitution::TooLong);
    };
    let mut cname = Record::from_rdata(name.clone(), dname.ttl, RData::CNAME(CNAME(next)));
    cname.dns_class = dname.dns_class;
    Some(Substitution::Cname(Box::new(cname)))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    #[test]
    fn the_target_reads_back() {
        let dname = dname_record(n("old.example."), 300, &n("new.example.net."));
        assert_eq!(dname.record_type(), RecordType::DNAME);
        assert_eq!(dname_target(&dname), Some(n("new.example.net.")));
    }

    #[test]
    fn a_dname_survives_a_message_on_the_wire() {
        use hickory_proto::op::{Message, MessageType, OpCode};
        let mut message = Message::new(7, MessageType::Response, OpCode::Query);
        // The target shares labels with the owner: it must still go out uncompressed.
        let dname = dname_record(n("old.example."), 300, &n("new.example."));
        message.add_answer(dname);
        let wire = message.to_vec().unwrap();
        let back = Message::from_vec(&wire).unwrap();
        assert_eq!(back.answers[0].record_type(), RecordType::DNAME);
        assert_eq!(dname_target(&back.answers[0]), Some(n("new.example.")));
    }

    #[test]
    fn a_dname_is_presented_with_its_target() {
        let dname = dname_record(n("old.example."), 300, &n("new.example.net."));
        assert_eq!(
            present(&dname),
            "old.example. 300 IN DNAME new.example.net."
        );
    }

    #[test]
    fn a_name_below_the_owner_is_substituted_with_the_dnames_ttl() {
        let dname = dname_record(n("old.example."), 300, &n("new.example.net."));
        let Some(Substitution::Cname(cname)) = substitute(&n("a.b.old.example."), &dname) else {
            panic!("no substitution");
        };
        let cname = *cname;
        assert_eq!(cname.name, n("a.b.old.example."));
        assert_eq!(cname.ttl, 300);
        assert_eq!(cname.data, RData::CNAME(CNAME(n("a.b.new.example.net."))));
    }

    #[test]
    fn the_owner_and_names_elsewhere_are_not_redirected() {
        let dname = dname_record(n("old.example."), 300, &n("new.example.net."));
        assert_eq!(substitute(&n("old.example."), &dname), None);
        assert_eq!(substitute(&n("other.example."), &dname), None);
    }

    #[test]
    fn a_name_made_longer_than_255_octets_is_too_long() {
        let long = format!("{}.{}.{}.", "a".repeat(63), "b".repeat(63), "c".repeat(63));
        let dname = dname_record(n("x."), 300, &n(&long));
        // 63 + 1 + the 193-octet target: over 255.
        let name = n(&format!("{}.x.", "d".repeat(63)));
        assert_eq!(substitute(&name, &dname), Some(Substitution::TooLong));
    }

    #[test]
    fn compressed_or_padded_rdata_is_no_target() {
        let pointer = Record::from_rdata(
            n("x."),
            300,
            RData::Unknown {
                code: RecordType::DNAME,
                rdata: NULL::with(vec![0xc0, 0x0c]),
            },
        );
        assert_eq!(dname_target(&pointer), None);
        let padded = Record::from_rdata(
            n("x."),
            300,
            RData::Unknown {
                code: RecordType::DNAME,
                rdata: NULL::with(vec![1, b'y', 0, 0]),
            },
        );
        assert_eq!(dname_target(&padded), None);
    }
}
