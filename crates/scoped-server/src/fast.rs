//! The cache-hit fast path: a plain query whose answer the engine holds as rendered bytes is
//! answered without hickory, without a task and without touching the record caches — header,
//! question and OPT are read from the raw bytes, the response is the client's question behind a
//! fresh header, the stored body with its TTLs counted down, and our OPT with the ECS echo.
//!
//! Anything unusual goes to the full pipeline, which answers it exactly as before: a query this
//! module does not recognise as plain, a client outside the ACL, a name with a compression
//! pointer, an OPT of another version or with a bad ECS option, trailing bytes, a response too
//! large for the client (the full path truncates it). So the fast path decides nothing the full
//! path would decide differently; `tests/fast_path_tests.rs` checks the two give the same bytes.

use scoped_ecs::wire::{
    Counts, HEADER_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, QUESTION_FIXED_LEN, TYPE_OPT,
};
use scoped_ecs::{Direction, Ecs, find_ecs, scan_opt};

use scoped_recursor::{DNSSEC_AD, DNSSEC_CD, DNSSEC_DO};

const CLASS_IN: u16 = 1;

/// A query the fast path may answer, read from its bytes.
pub(crate) struct PlainQuery {
    /// Where the question ends.
    pub question_end: usize,
    /// The name, lowercase, in wire form: `name[..name_len]`.
    pub name: [u8; MAX_NAME_LEN],
    pub name_len: usize,
    pub qtype: u16,
    /// The client's OPT: its UDP payload size and DO bit.
    pub opt: Option<(u16, bool)>,
    /// The client's ECS option (strictly valid, E07).
    pub ecs: Option<Ecs>,
    /// AD and CD in the header, as bits of `WireKeyRef::dnssec`.
    pub ad_cd: u8,
}

impl PlainQuery {
    pub(crate) fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }

    /// The query's DO, AD and CD bits, as `WireKeyRef::dnssec` keys them.
    pub(crate) fn dnssec_bits(&self) -> u8 {
        let dnssec_ok = self.opt.is_some_and(|(_, dnssec_ok)| dnssec_ok);
        self.ad_cd | if dnssec_ok { DNSSEC_DO } else { 0 }
    }
}

/// The query in `wire` if it is plain: a QUERY with one IN question of an ordinary type, a name
/// without compression, nothing in the answer and authority sections, at most an OPT of
/// version 0 (with a valid ECS option, if any) in the additional section, and nothing after it.
/// `None` sends it down the full path.
pub(crate) fn plain_query(wire: &[u8]) -> Option<PlainQuery> {
    let header = scoped_ecs::wire::header(wire)?;
    // QR, OPCODE, AA, TC clear (RD may be set); Z and RCODE clear (AD and CD may be set).
    if header[2] & 0xfe != 0 || header[3] & 0x4f != 0 {
        return None;
    }
    let counts = Counts::of(header);
    if counts.questions != 1
        || counts.answers != 0
        || counts.authorities != 0
        || counts.additionals > 1
    {
        return None;
    }
    let mut name = [0u8; MAX_NAME_LEN];
    let mut pos = HEADER_LEN;
    let mut name_len = 0;
    loop {
        // A compression pointer or a reserved label type is longer than any label: not plain.
        let len = usize::from(*wire.get(pos)?);
        if len > MAX_LABEL_LEN || name_len + len + 1 > MAX_NAME_LEN {
            return None;
        }
        let label = wire.get(pos..pos + 1 + len)?;
        for (to, from) in name[name_len..].iter_mut().zip(label) {
            *to = from.to_ascii_lowercase();
        }
        name_len += 1 + len;
        pos += 1 + len;
        if len == 0 {
            break;
        }
    }
    let fixed = wire.get(pos..pos + QUESTION_FIXED_LEN)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
    if qclass != CLASS_IN || !ordinary_type(qtype) {
        return None;
    }
    let question_end = pos + QUESTION_FIXED_LEN;
    let (opt, ecs) = if counts.additionals == 1 {
        let opt = scan_opt(wire).ok()??;
        if opt.version != 0 || opt.rdata_offset + opt.rdata.len() != wire.len() {
            return None;
        }
        let ecs = find_ecs(opt.rdata, Direction::Query).ok()?;
        (Some((opt.udp_payload, opt.dnssec_ok)), ecs)
    } else {
        if question_end != wire.len() {
            return None;
        }
        (None, None)
    };
    Some(PlainQuery {
        ad_cd: if header[3] & 0x20 != 0 { DNSSEC_AD } else { 0 }
            | if header[3] & 0x10 != 0 { DNSSEC_CD } else { 0 },
        question_end,
        name,
        name_len,
        qtype,
        opt,
        ecs,
    })
}

/// Not a meta-type or transfer: the full path has a rule for those (pipeline step 8).
fn ordinary_type(qtype: u16) -> bool {
    !(qtype == TYPE_OPT || (128..=254).contains(&qtype))
}

/// The response header: the client's ID, QR, RD and CD echoed, RA set, the counts.
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    query: &[u8],
    rcode: u8,
    authentic: bool,
    counts: [u16; 4],
) {
    out.extend_from_slice(&query[..2]);
    out.push(0x80 | (query[2] & 0x01));
    let ad = if authentic { 0x20 } else { 0 };
    out.push(0x80 | ad | (query[3] & 0x10) | (rcode & 0x0f));
    for count in counts {
        out.extend_from_slice(&count.to_be_bytes());
    }
}

/// Our OPT record: root owner, our payload size, extended RCODE 0, version 0, the client's DO
/// bit, and the ECS echo if there is one.
pub(crate) fn write_opt(out: &mut Vec<u8>, payload: u16, dnssec_ok: bool, echo: Option<&Ecs>) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    match echo {
        Some(ecs) => {
            let option = ecs.option();
            let option = option.as_slice();
            out.extend_from_slice(&(option.len() as u16).to_be_bytes());
            out.extend_from_slice(option);
        }
        None => out.extend_from_slice(&[0, 0]),
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::{DNSClass, Name, RecordType};

    use super::*;

    fn message(name: &str, qtype: RecordType) -> Message {
        let mut message = Message::new(7, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        message
    }

    fn edns(mut message: Message, version: u8, options: Vec<EdnsOption>) -> Message {
        let mut edns = Edns::new();
        edns.set_max_payload(1232).set_version(version);
        for option in options {
            edns.options_mut().insert(option);
        }
        message.set_edns(edns);
        message
    }

    fn plain(message: &Message) -> Option<PlainQuery> {
        plain_query(&message.to_vec().unwrap())
    }

    #[test]
    fn a_plain_query_is_read_with_its_name_lowercased() {
        let query = plain(&message("WwW.Example.COM.", RecordType::AAAA)).unwrap();
        assert_eq!(query.name(), b"\x03www\x07example\x03com\x00");
        assert_eq!(query.qtype, 28);
        assert!(query.opt.is_none() && query.ecs.is_none());
        let ecs = EdnsOption::Unknown(8, vec![0, 1, 24, 0, 198, 51, 100]);
        let query = plain(&edns(message("a.example.", RecordType::A), 0, vec![ecs])).unwrap();
        assert_eq!(query.opt, Some((1232, false)));
        assert_eq!(query.ecs.unwrap().source(), 24);
    }

    #[test]
    fn ad_cd_and_rd_may_be_set() {
        let mut query = message("a.example.", RecordType::A);
        query.metadata.authentic_data = true;
        query.metadata.checking_disabled = true;
        assert_eq!(
            plain(&query).map(|q| q.dnssec_bits()),
            Some(DNSSEC_AD | DNSSEC_CD)
        );
        let mut with_do = message("a.example.", RecordType::A);
        let mut edns = hickory_proto::op::Edns::new();
        edns.set_dnssec_ok(true);
        with_do.edns = Some(edns);
        assert_eq!(plain(&with_do).map(|q| q.dnssec_bits()), Some(DNSSEC_DO));
    }

    #[test]
    fn anything_unusual_goes_the_full_way() {
        let base = || message("a.example.", RecordType::A);
        let mut response = base();
        response.metadata.message_type = MessageType::Response;
        let mut notify = base();
        notify.metadata.op_code = OpCode::Notify;
        let mut two = base();
        two.add_query(Query::query(
            Name::from_ascii("b.example.").unwrap(),
            RecordType::A,
        ));
        let mut chaos = base();
        chaos.queries[0].set_query_class(DNSClass::CH);
        let bad_ecs = EdnsOption::Unknown(8, vec![0, 1, 24, 0, 198, 51, 100, 7]);
        for (why, query) in [
            ("a response", response),
            ("another opcode", notify),
            ("two questions", two),
            ("class CH", chaos),
            ("AXFR", message("a.example.", RecordType::AXFR)),
            ("EDNS version 1", edns(base(), 1, vec![])),
            ("ECS with an extra octet", edns(base(), 0, vec![bad_ecs])),
        ] {
            assert!(plain(&query).is_none(), "{why}");
        }
        let mut trailing = base().to_vec().unwrap();
        trailing.push(0);
        assert!(plain_query(&trailing).is_none(), "trailing bytes");
        let mut pointer = base().to_vec().unwrap();
        pointer[12] = 0xc0;
        assert!(
            plain_query(&pointer).is_none(),
            "a compression pointer in the question"
        );
        let full = base().to_vec().unwrap();
        for len in 0..full.len() {
            assert!(plain_query(&full[..len]).is_none(), "cut at {len}");
        }
    }
}
