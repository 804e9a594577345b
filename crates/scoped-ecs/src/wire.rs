//! The raw DNS message layout (RFC 1035 §4.1) that the byte-level readers share: the header and
//! its counts, names skipped without following compression pointers, the fixed part of a
//! resource record.
//!
//! Three places read messages without hickory: the ECS scan ([`scan_opt`](crate::scan_opt)), the
//! front end's fast path, and the answer cache's stored responses (`scoped-cache`). They all use
//! this module, so the guards against malformed input are written once. Sans-IO and
//! allocation-free; every read is bounds-checked and nothing here can panic or loop.

/// Length of the message header.
pub const HEADER_LEN: usize = 12;

/// The longest name in wire form, counting every length octet and the root label (RFC 1035
/// §3.1).
pub const MAX_NAME_LEN: usize = 255;

/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// TYPE + CLASS of a question.
pub const QUESTION_FIXED_LEN: usize = 4;

/// TYPE + CLASS + TTL + RDLENGTH of a resource record.
pub const RR_FIXED_LEN: usize = 10;

/// The TYPE of the OPT pseudo-record (RFC 6891).
pub const TYPE_OPT: u16 = 41;

/// The header of `msg`, or `None` if the message is shorter than one.
#[inline]
pub fn header(msg: &[u8]) -> Option<&[u8; HEADER_LEN]> {
    msg.first_chunk()
}

/// The four section counts of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// QDCOUNT.
    pub questions: u16,
    /// ANCOUNT.
    pub answers: u16,
    /// NSCOUNT.
    pub authorities: u16,
    /// ARCOUNT.
    pub additionals: u16,
}

impl Counts {
    /// The counts of `header`.
    #[inline]
    pub fn of(header: &[u8; HEADER_LEN]) -> Self {
        let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
        Self {
            questions: count(4),
            answers: count(6),
            authorities: count(8),
            additionals: count(10),
        }
    }
}

/// Whether `reply` answers `query`: the same ID, the QR bit set, and exactly one question in
/// each, the same (name compared without regard to ASCII case, RFC 4343; type and class
/// equal). Read straight off the wire: a reply is checked before anything parses it. A
/// question's name is the first name of a message, so a compression pointer there has nothing
/// to point at and makes the reply not match.
pub fn same_question(query: &[u8], reply: &[u8]) -> bool {
    let (Some(qh), Some(rh)) = (header(query), header(reply)) else {
        return false;
    };
    if qh[..2] != rh[..2]
        || rh[2] & 0x80 == 0
        || Counts::of(qh).questions != 1
        || Counts::of(rh).questions != 1
    {
        return false;
    }
    let (Ok(q), Ok(r)) = (skip_name(query, HEADER_LEN), skip_name(reply, HEADER_LEN)) else {
        return false;
    };
    let (q_end, r_end) = (q.end + QUESTION_FIXED_LEN, r.end + QUESTION_FIXED_LEN);
    if q_end > query.len() || r_end > reply.len() || q.end != r.end {
        return false;
    }
    // Label lengths (at most 63) are below every letter, so folding case leaves them alone.
    query[HEADER_LEN..q.end].eq_ignore_ascii_case(&reply[HEADER_LEN..r.end])
        && query[q.end..q_end] == reply[r.end..r_end]
}

/// Why a name could not be skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameError {
    /// The message ends inside the name.
    Truncated,
    /// A length octet uses a reserved label type (0b01 or 0b10 in its top bits).
    BadLabel,
    /// A compression pointer points into the header, or not strictly before the name holding it.
    BadPointer,
    /// The name is longer than [`MAX_NAME_LEN`] octets.
    TooLong,
}

/// Where a skipped name ends, and whether it was the root name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkippedName {
    /// The position just after the name (after its root label or its compression pointer).
    pub end: usize,
    /// Whether the name is the root: a single zero octet, not a pointer.
    pub is_root: bool,
}

/// Skips the name at `start` in `msg`.
///
/// A compression pointer ends the name and is not followed, so a pointer loop cannot make this
/// loop: a pointer is only checked to point strictly backwards past the header, i.e. at a name
/// read earlier. The octets written inline, with the final zero octet, may not exceed
/// [`MAX_NAME_LEN`].
pub fn skip_name(msg: &[u8], start: usize) -> Result<SkippedName, NameError> {
    let mut pos = start;
    // Octets of the name written inline, counting the final zero octet.
    let mut inline_len = 1;
    loop {
        let len = *msg.get(pos).ok_or(NameError::Truncated)?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                return Ok(SkippedName {
                    end: pos + 1,
                    is_root: pos == start,
                });
            }
            0x00 => {
                inline_len += 1 + usize::from(len);
                if inline_len > MAX_NAME_LEN {
                    return Err(NameError::TooLong);
                }
                pos += 1 + usize::from(len);
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or(NameError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                if target < HEADER_LEN || target >= start {
                    return Err(NameError::BadPointer);
                }
                return Ok(SkippedName {
                    end: pos + 2,
                    is_root: false,
                });
            }
            _ => return Err(NameError::BadLabel),
        }
    }
}

/// The fixed part of a resource record, after its owner name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrFixed {
    /// TYPE.
    pub rtype: u16,
    /// CLASS (for OPT: the requestor's UDP payload size).
    pub class: u16,
    /// TTL as its four octets (for OPT: extended RCODE, version and flags).
    pub ttl: [u8; 4],
    /// RDLENGTH.
    pub rdlength: u16,
}

impl RrFixed {
    /// The TTL as a number.
    #[inline]
    pub fn ttl_secs(&self) -> u32 {
        u32::from_be_bytes(self.ttl)
    }

    /// Where the record ends: `pos` (the start of this fixed part) plus the fixed part and the
    /// RDATA; `None` if that is past the end of `msg`.
    #[inline]
    pub fn end(&self, msg: &[u8], pos: usize) -> Option<usize> {
        let end = pos + RR_FIXED_LEN + usize::from(self.rdlength);
        (end <= msg.len()).then_some(end)
    }
}

/// The fixed part of the record whose owner name ends at `pos`, or `None` if the message ends
/// before it does.
#[inline]
pub fn rr_fixed(msg: &[u8], pos: usize) -> Option<RrFixed> {
    let b: &[u8; RR_FIXED_LEN] = msg.get(pos..)?.first_chunk()?;
    Some(RrFixed {
        rtype: u16::from_be_bytes([b[0], b[1]]),
        class: u16::from_be_bytes([b[2], b[3]]),
        ttl: [b[4], b[5], b[6], b[7]],
        rdlength: u16::from_be_bytes([b[8], b[9]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with the given counts, then `rest`.
    fn message(counts: [u16; 4], rest: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00];
        for count in counts {
            m.extend_from_slice(&count.to_be_bytes());
        }
        m.extend_from_slice(rest);
        m
    }

    #[test]
    fn header_needs_twelve_octets() {
        assert_eq!(header(&[0; 11]), None);
        assert_eq!(header(&[]), None);
        assert!(header(&[0; 12]).is_some());
    }

    #[test]
    fn counts_are_read_big_endian() {
        let m = message([1, 0x0102, 3, 0xffff], &[]);
        assert_eq!(
            Counts::of(header(&m).unwrap()),
            Counts {
                questions: 1,
                answers: 0x0102,
                authorities: 3,
                additionals: 0xffff,
            }
        );
    }

    #[test]
    fn skips_an_inline_name() {
        let m = message([1, 0, 0, 0], b"\x03www\x07example\x00\x00\x01");
        assert_eq!(
            skip_name(&m, HEADER_LEN),
            Ok(SkippedName {
                end: HEADER_LEN + 13,
                is_root: false
            })
        );
    }

    #[test]
    fn the_root_is_one_zero_octet() {
        let m = message([0; 4], &[0]);
        assert_eq!(
            skip_name(&m, HEADER_LEN),
            Ok(SkippedName {
                end: HEADER_LEN + 1,
                is_root: true
            })
        );
    }

    #[test]
    fn a_pointer_backwards_ends_the_name_unfollowed() {
        // www.example. at 12, then a.<pointer to example. at 16>.
        let m = message([0; 4], b"\x03www\x07example\x00\x01a\xC0\x10");
        let start = HEADER_LEN + 13;
        assert_eq!(
            skip_name(&m, start),
            Ok(SkippedName {
                end: m.len(),
                is_root: false
            })
        );
    }

    #[test]
    fn a_pointer_is_not_the_root() {
        let mut m = message([0; 4], &[0]);
        m.extend_from_slice(&[0xC0, 12]);
        assert_eq!(skip_name(&m, HEADER_LEN + 1).map(|n| n.is_root), Ok(false));
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_refused() {
        // A pointer to itself.
        let m = message([0; 4], &[0xC0, 12]);
        assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::BadPointer));
        // A label followed by a pointer back to the name's own start.
        let m = message([0; 4], &[1, b'a', 0xC0, 12]);
        assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::BadPointer));
        // Forward.
        let m = message([0; 4], &[0xC0, 40]);
        assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::BadPointer));
        // Into the header.
        let mut m = message([0; 4], &[0]);
        m.extend_from_slice(&[0xC0, 2]);
        assert_eq!(skip_name(&m, HEADER_LEN + 1), Err(NameError::BadPointer));
        // A 14-bit offset far past the message.
        let m = message([0; 4], &[0xFF, 0xFF]);
        assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::BadPointer));
    }

    #[test]
    fn truncated_names_are_refused() {
        let full = message([0; 4], b"\x03www\x07example\x00");
        for len in HEADER_LEN..full.len() {
            assert_eq!(
                skip_name(&full[..len], HEADER_LEN),
                Err(NameError::Truncated),
                "cut at {len}"
            );
        }
        let m = message([0; 4], &[0xC0]);
        assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::Truncated));
        assert_eq!(skip_name(&m, m.len() + 5), Err(NameError::Truncated));
    }

    #[test]
    fn reserved_label_types_are_refused() {
        for first in [0x41, 0x80, 0xBF] {
            let m = message([0; 4], &[first, 0, 0]);
            assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::BadLabel));
        }
    }

    #[test]
    fn names_of_255_octets_pass_and_longer_ones_do_not() {
        let name = |last: u8| {
            let mut n = Vec::new();
            for _ in 0..3 {
                n.push(63);
                n.extend_from_slice(&[b'a'; 63]);
            }
            n.push(last);
            n.extend(std::iter::repeat_n(b'a', usize::from(last)));
            n.push(0);
            n
        };
        let m = message([0; 4], &name(61));
        assert_eq!(skip_name(&m, HEADER_LEN).map(|n| n.end), Ok(m.len()));
        let m = message([0; 4], &name(62));
        assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::TooLong));
        // Too long is found before the end of the message is.
        let mut m = message([0; 4], &[]);
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        assert_eq!(skip_name(&m, HEADER_LEN), Err(NameError::TooLong));
    }

    #[test]
    fn the_fixed_part_of_a_record_is_bounds_checked() {
        let rr = [0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1];
        let fixed = rr_fixed(&rr, 0).unwrap();
        assert_eq!(
            (fixed.rtype, fixed.class, fixed.ttl_secs(), fixed.rdlength),
            (1, 1, 3600, 4)
        );
        assert_eq!(fixed.end(&rr, 0), Some(rr.len()));
        assert_eq!(fixed.end(&rr[..13], 0), None);
        assert_eq!(rr_fixed(&rr[..9], 0), None);
        assert_eq!(rr_fixed(&rr, 5), None);
        assert_eq!(rr_fixed(&rr, 100), None);
    }
}
