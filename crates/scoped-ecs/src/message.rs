//! A raw, allocation-free walk of a DNS message to its OPT record (RFC 1035 §4, RFC 6891 §6).
//!
//! hickory-proto fails a whole message on a bad ECS option and accepts some bad ones (host bits
//! past SOURCE, extra address octets). The front end reads the header with hickory (for the ID), then asks [`message_ecs`] for the
//! client's option or the exact reason to answer FORMERR.
//!
//! The walk skips names without following compression pointers ([`wire::skip_name`]), so it
//! cannot loop; it only checks that each pointer points strictly backwards past the header. Every
//! record consumes at least 11 octets and every bound is checked, so any input — huge counts,
//! truncation, garbage — ends in `Ok` or an [`EcsError`] after at most one pass over the bytes.

use crate::error::EcsError;
use crate::option::{Direction, Ecs, find_ecs};
use crate::wire::{self, Counts, HEADER_LEN, QUESTION_FIXED_LEN, TYPE_OPT, skip_name};

/// The DO bit in the OPT record's flags (RFC 3225).
const FLAG_DO: u16 = 0x8000;

/// The OPT pseudo-record of a message, as found by [`scan_opt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptRecord<'a> {
    /// The RDATA: a sequence of EDNS options (give it to [`find_ecs`]).
    pub rdata: &'a [u8],
    /// Where `rdata` starts in the message (for patching stored wire bytes).
    pub rdata_offset: usize,
    /// The requestor's UDP payload size (the CLASS field), unclamped.
    pub udp_payload: u16,
    /// The upper 8 bits of the extended RCODE.
    pub extended_rcode: u8,
    /// The EDNS version; anything but 0 calls for BADVERS, which is the front end's to answer.
    pub version: u8,
    /// The DO bit (RFC 3225).
    pub dnssec_ok: bool,
}

/// Find the OPT record in a whole DNS message's additional section, without hickory.
///
/// Returns `Ok(None)` for a well-formed message without OPT. Bytes after the last counted record
/// are ignored. OPT records in the answer or authority section are not looked for.
pub fn scan_opt(msg: &[u8]) -> Result<Option<OptRecord<'_>>, EcsError> {
    let header = wire::header(msg).ok_or(EcsError::MessageTruncated)?;
    let Counts {
        questions,
        answers,
        authorities,
        additionals,
    } = Counts::of(header);

    let mut pos = HEADER_LEN;
    for _ in 0..questions {
        pos = skip_name(msg, pos)?.end;
        pos = advance(msg, pos, QUESTION_FIXED_LEN)?;
    }
    for _ in 0..u32::from(answers) + u32::from(authorities) {
        pos = skip_name(msg, pos)?.end;
        pos = record_end(msg, pos)?;
    }
    let mut found = None;
    for _ in 0..additionals {
        let owner = skip_name(msg, pos)?;
        let rr = wire::rr_fixed(msg, owner.end).ok_or(EcsError::MessageTruncated)?;
        let rdata_offset = owner.end + wire::RR_FIXED_LEN;
        let end = rr.end(msg, owner.end).ok_or(EcsError::MessageTruncated)?;
        if rr.rtype == TYPE_OPT {
            if found.is_some() {
                return Err(EcsError::DuplicateOpt);
            }
            if !owner.is_root {
                return Err(EcsError::OptOwnerNotRoot);
            }
            let [ext_rcode, version, f0, f1] = rr.ttl;
            found = Some(OptRecord {
                rdata: &msg[rdata_offset..end],
                rdata_offset,
                udp_payload: rr.class,
                extended_rcode: ext_rcode,
                version,
                dnssec_ok: u16::from_be_bytes([f0, f1]) & FLAG_DO != 0,
            });
        }
        pos = end;
    }
    Ok(found)
}

/// The ECS option of a whole message, strictly parsed: [`scan_opt`] then [`find_ecs`].
///
/// `Ok(None)`: no OPT record, or an OPT record without ECS.
pub fn message_ecs(msg: &[u8], direction: Direction) -> Result<Option<Ecs>, EcsError> {
    match scan_opt(msg)? {
        Some(opt) => find_ecs(opt.rdata, direction),
        None => Ok(None),
    }
}

/// Where the record whose owner name ends at `pos` ends, if the message holds all of it.
fn record_end(msg: &[u8], pos: usize) -> Result<usize, EcsError> {
    wire::rr_fixed(msg, pos)
        .and_then(|rr| rr.end(msg, pos))
        .ok_or(EcsError::MessageTruncated)
}

/// `pos + n` if the message has that many octets, else [`EcsError::MessageTruncated`].
fn advance(msg: &[u8], pos: usize, n: usize) -> Result<usize, EcsError> {
    let end = pos + n;
    if end > msg.len() {
        return Err(EcsError::MessageTruncated);
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `www.example.` IN A, with `extra` appended and `arcount` additional records.
    fn query(extra: &[u8], arcount: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&arcount.to_be_bytes());
        m.extend_from_slice(b"\x03www\x07example\x00");
        m.extend_from_slice(&[0, 1, 0, 1]);
        m.extend_from_slice(extra);
        m
    }

    /// An OPT record with the given RDATA.
    fn opt_rr(rdata: &[u8]) -> Vec<u8> {
        let mut r = vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0];
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    const ECS_24: &[u8] = &[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2];

    #[test]
    fn finds_opt_fields() {
        let msg = query(&opt_rr(ECS_24), 1);
        let opt = scan_opt(&msg).unwrap().unwrap();
        assert_eq!(
            (opt.udp_payload, opt.version, opt.dnssec_ok, opt.rdata),
            (1232, 0, true, ECS_24)
        );
    }

    #[test]
    fn rdata_offset_points_into_message() {
        let msg = query(&opt_rr(ECS_24), 1);
        let opt = scan_opt(&msg).unwrap().unwrap();
        assert_eq!(
            &msg[opt.rdata_offset..opt.rdata_offset + ECS_24.len()],
            ECS_24
        );
    }

    #[test]
    fn reports_edns_version() {
        let mut rr = opt_rr(&[]);
        rr[6] = 1;
        assert_eq!(scan_opt(&query(&rr, 1)).unwrap().unwrap().version, 1);
    }

    #[test]
    fn message_without_opt_has_none() {
        assert_eq!(scan_opt(&query(&[], 0)), Ok(None));
    }

    #[test]
    fn message_ecs_parses_client_option() {
        let ecs = message_ecs(&query(&opt_rr(ECS_24), 1), Direction::Query)
            .unwrap()
            .unwrap();
        assert_eq!(ecs.prefix(), "192.0.2.0/24".parse().unwrap());
    }

    #[test]
    fn e07_message_with_extra_address_octet_is_formerr() {
        let rdata = [0, 8, 0, 8, 0, 1, 24, 0, 192, 0, 2, 9];
        assert_eq!(
            message_ecs(&query(&opt_rr(&rdata), 1), Direction::Query),
            Err(EcsError::BadLength {
                expected: 7,
                got: 8
            })
        );
    }

    #[test]
    fn skips_answer_and_authority_records() {
        let mut m = query(&[], 0);
        m[7] = 1; // ANCOUNT
        m[9] = 1; // NSCOUNT
        m[11] = 1; // ARCOUNT
        // answer: www.example. A 192.0.2.1 (owner compressed to the question name at 12)
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        // authority: example. NS with a 3-byte rdata, owner pointing at "example" inside the question
        m.extend_from_slice(&[0xC0, 16, 0, 2, 0, 1, 0, 0, 0, 60, 0, 3, 1, b'a', 0]);
        m.extend_from_slice(&opt_rr(ECS_24));
        assert_eq!(scan_opt(&m).unwrap().map(|o| o.rdata), Some(ECS_24));
    }

    #[test]
    fn skips_other_additional_records() {
        let mut extra = vec![0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];
        extra.extend(opt_rr(ECS_24));
        assert_eq!(
            scan_opt(&query(&extra, 2)).unwrap().map(|o| o.rdata),
            Some(ECS_24)
        );
    }

    #[test]
    fn ignores_trailing_octets() {
        let mut extra = opt_rr(ECS_24);
        extra.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            scan_opt(&query(&extra, 1)).unwrap().map(|o| o.rdata),
            Some(ECS_24)
        );
    }

    #[test]
    fn rejects_short_header() {
        assert_eq!(scan_opt(&[0; 11]), Err(EcsError::MessageTruncated));
    }

    #[test]
    fn rejects_empty_message() {
        assert_eq!(scan_opt(&[]), Err(EcsError::MessageTruncated));
    }

    #[test]
    fn rejects_truncated_question() {
        let mut m = query(&[], 0);
        m.truncate(m.len() - 1);
        assert_eq!(scan_opt(&m), Err(EcsError::MessageTruncated));
    }

    #[test]
    fn rejects_truncated_opt_rdata() {
        let mut m = query(&opt_rr(ECS_24), 1);
        m.truncate(m.len() - 1);
        assert_eq!(scan_opt(&m), Err(EcsError::MessageTruncated));
    }

    #[test]
    fn rejects_truncated_name() {
        let mut m = query(&[], 0);
        m.truncate(HEADER_LEN + 3);
        assert_eq!(scan_opt(&m), Err(EcsError::MessageTruncated));
    }

    #[test]
    fn rejects_huge_counts_on_short_message() {
        let mut m = query(&[], 0);
        m[4..12].copy_from_slice(&[0xff; 8]);
        assert_eq!(scan_opt(&m), Err(EcsError::MessageTruncated));
    }

    #[test]
    fn rejects_arcount_past_records() {
        assert_eq!(
            scan_opt(&query(&opt_rr(&[]), 2)),
            Err(EcsError::MessageTruncated)
        );
    }

    #[test]
    fn rejects_pointer_to_itself() {
        let mut m = query(&[], 1);
        let at = m.len() as u8;
        m.extend_from_slice(&[0xC0, at, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(scan_opt(&m), Err(EcsError::BadPointer));
    }

    #[test]
    fn rejects_compression_loop_in_question() {
        // A name whose label is followed by a pointer back to its own start.
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(scan_opt(&m), Err(EcsError::BadPointer));
    }

    #[test]
    fn rejects_forward_pointer() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xC0, 40, 0, 1, 0, 1]);
        assert_eq!(scan_opt(&m), Err(EcsError::BadPointer));
    }

    #[test]
    fn rejects_pointer_into_header() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xC0, 2, 0, 1, 0, 1]);
        assert_eq!(scan_opt(&m), Err(EcsError::BadPointer));
    }

    #[test]
    fn rejects_truncated_pointer() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.push(0xC0);
        assert_eq!(scan_opt(&m), Err(EcsError::MessageTruncated));
    }

    #[test]
    fn rejects_reserved_label_type() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0x41, 0, 0, 1, 0, 1]);
        assert_eq!(scan_opt(&m), Err(EcsError::BadLabel));
    }

    #[test]
    fn rejects_name_over_255_octets() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(scan_opt(&m), Err(EcsError::NameTooLong));
    }

    #[test]
    fn accepts_name_of_255_octets() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..3 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.push(61);
        m.extend_from_slice(&[b'a'; 61]);
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(scan_opt(&m), Ok(None));
    }

    #[test]
    fn rejects_two_opt_records() {
        let mut extra = opt_rr(&[]);
        extra.extend(opt_rr(&[]));
        assert_eq!(scan_opt(&query(&extra, 2)), Err(EcsError::DuplicateOpt));
    }

    #[test]
    fn rejects_opt_with_non_root_owner() {
        let mut rr = vec![1, b'a'];
        rr.extend(opt_rr(&[]));
        assert_eq!(scan_opt(&query(&rr, 1)), Err(EcsError::OptOwnerNotRoot));
    }

    #[test]
    fn rejects_opt_with_compressed_owner() {
        let mut rr = vec![0xC0, 12];
        rr.extend_from_slice(&opt_rr(&[])[1..]);
        assert_eq!(scan_opt(&query(&rr, 1)), Err(EcsError::OptOwnerNotRoot));
    }
}
