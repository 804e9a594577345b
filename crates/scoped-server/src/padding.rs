//! EDNS(0) padding (RFC 7830) of responses on encrypted transports, with the block-length
//! policy of RFC 8467 §4.1: a response to a query that carried a Padding option is padded to a
//! multiple of 468 octets. Responses to queries without one are never padded (RFC 8467 §4.1:
//! a responder only pads for a client that pads), nor are responses on UDP or plain TCP, where
//! padding hides nothing and costs bytes.
//!
//! Works on the wire bytes of the finished response, so the fast path's replayed answers and
//! the full pipeline's are padded alike: the option is appended to the response's OPT record.

use scoped_ecs::scan_opt;

/// The EDNS option code of Padding (RFC 7830).
pub const PADDING_OPTION_CODE: u16 = 12;

/// The block length responses are padded to (RFC 8467 §4.1, "Block-Length Padding").
pub const RESPONSE_BLOCK: usize = 468;

/// OPTION-CODE and OPTION-LENGTH of an EDNS option.
const OPTION_HEADER: usize = 4;

/// Whether the query `wire` has an OPT record with a Padding option.
pub fn query_asks_padding(wire: &[u8]) -> bool {
    let Ok(Some(opt)) = scan_opt(wire) else {
        return false;
    };
    let mut options = opt.rdata;
    while let [c0, c1, l0, l1, rest @ ..] = options {
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        if u16::from_be_bytes([*c0, *c1]) == PADDING_OPTION_CODE {
            return true;
        }
        let Some(next) = rest.get(len..) else {
            return false;
        };
        options = next;
    }
    false
}

/// Appends a Padding option to the OPT record of `response` so that its length becomes a
/// multiple of [`RESPONSE_BLOCK`], unless the response has no OPT record or the padded message
/// would exceed `limit`. Returns whether it padded.
pub fn pad_response(response: &mut Vec<u8>, limit: usize) -> bool {
    let (rdlength_at, rdata_end) = match scan_opt(response) {
        Ok(Some(opt)) => (opt.rdata_offset - 2, opt.rdata_offset + opt.rdata.len()),
        _ => return false,
    };
    let unpadded = response.len() + OPTION_HEADER;
    let padded = unpadded.div_ceil(RESPONSE_BLOCK) * RESPONSE_BLOCK;
    let fill = padded - unpadded;
    let old_rdlength = usize::from(u16::from_be_bytes([
        response[rdlength_at],
        response[rdlength_at + 1],
    ]));
    let Ok(new_rdlength) = u16::try_from(old_rdlength + OPTION_HEADER + fill) else {
        return false;
    };
    if padded > limit {
        return false;
    }
    let mut option = Vec::with_capacity(OPTION_HEADER + fill);
    option.extend_from_slice(&PADDING_OPTION_CODE.to_be_bytes());
    option.extend_from_slice(&(fill as u16).to_be_bytes());
    option.resize(OPTION_HEADER + fill, 0);
    response.splice(rdata_end..rdata_end, option);
    response[rdlength_at..rdlength_at + 2].copy_from_slice(&new_rdlength.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::*;

    fn message(edns: Option<Vec<EdnsOption>>, answers: usize) -> Message {
        let mut message = Message::new(9, MessageType::Response, OpCode::Query);
        let name = Name::from_ascii("example.").expect("name");
        message.add_query(Query::query(name.clone(), RecordType::A));
        for i in 0..answers {
            let rdata = RData::A(A::new(192, 0, 2, i as u8));
            message.add_answer(Record::from_rdata(name.clone(), 300, rdata));
        }
        if let Some(options) = edns {
            let mut opt = Edns::new();
            for option in options {
                opt.options_mut().insert(option);
            }
            message.set_edns(opt);
        }
        message
    }

    fn padding(len: usize) -> EdnsOption {
        EdnsOption::Unknown(PADDING_OPTION_CODE, vec![0; len])
    }

    #[test]
    fn only_queries_with_a_padding_option_ask_for_padding() {
        let padded = message(Some(vec![padding(0)]), 0).to_vec().expect("wire");
        assert!(query_asks_padding(&padded));
        let other = message(Some(vec![EdnsOption::Unknown(10, vec![1; 8])]), 0);
        assert!(!query_asks_padding(&other.to_vec().expect("wire")));
        assert!(!query_asks_padding(
            &message(None, 0).to_vec().expect("wire")
        ));
        assert!(!query_asks_padding(&[0; 5]));
    }

    #[test]
    fn responses_grow_to_a_multiple_of_468_and_still_parse() {
        for answers in [0, 1, 30, 40] {
            let mut wire = message(Some(vec![]), answers).to_vec().expect("wire");
            let before = wire.len();
            assert!(pad_response(&mut wire, usize::from(u16::MAX)));
            assert_eq!(wire.len() % RESPONSE_BLOCK, 0, "{answers} answers");
            assert!(wire.len() >= before + OPTION_HEADER);
            let parsed = Message::from_vec(&wire).expect("parses");
            assert_eq!(parsed.answers.len(), answers);
            let edns = parsed.edns.expect("OPT kept");
            let pad = edns
                .options()
                .as_ref()
                .iter()
                .find(|(code, _)| u16::from(*code) == PADDING_OPTION_CODE);
            assert!(pad.is_some(), "padding option present");
        }
    }

    #[test]
    fn no_opt_or_no_room_means_no_padding() {
        let mut plain = message(None, 1).to_vec().expect("wire");
        let copy = plain.clone();
        assert!(!pad_response(&mut plain, usize::from(u16::MAX)));
        assert_eq!(plain, copy);
        let mut wire = message(Some(vec![]), 1).to_vec().expect("wire");
        let copy = wire.clone();
        assert!(!pad_response(&mut wire, 400));
        assert_eq!(wire, copy);
    }
}
