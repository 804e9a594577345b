//! Reading a client's query (sans IO): the header, the one question, OPT and its ECS option
//! checked strictly (E07), and the question's type against what a resolver answers. Every way
//! a query can fail has its [`Rejection`]: dropped, or answered with an RCODE and a reason.

use hickory_proto::op::{
    Edns, Header, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};
use scoped_ecs::wire::HEADER_LEN;
use scoped_ecs::{Direction, Ecs, EcsError, OptRecord, find_ecs, scan_opt};

/// A query that passed every check of [`parse_query`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedQuery {
    /// The client's header (ID, RD, CD, ...).
    pub header: Metadata,
    /// The question exactly as the client sent it (name case preserved).
    pub query: Query,
    /// The client's OPT record, if it sent one (version 0 by now).
    pub edns: Option<Edns>,
    /// The client's ECS option, strictly validated on the raw bytes (E07), if it sent one.
    pub ecs: Option<Ecs>,
}

/// Why a message is not resolved.
#[derive(Clone, Debug)]
pub enum Rejection {
    /// Dropped without a response.
    Drop(DropReason),
    /// Answered with an error rcode.
    Reply {
        /// The rule that fired; [`ErrorReason::rcode`] gives the rcode.
        reason: ErrorReason,
        /// What is known of the query to shape the error response (boxed: rejections are the
        /// cold path, and this keeps `Result<ParsedQuery, Rejection>` small).
        context: Box<ReplyContext>,
    },
}

/// Why a message is dropped without a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than a DNS header.
    TooShort {
        /// The message's length in bytes.
        len: usize,
    },
    /// QR is set: a response, not a query.
    NotAQuery,
}

/// Why a query is answered with an error.
#[derive(Clone, Debug)]
pub enum ErrorReason {
    /// The client is outside the ACL: REFUSED.
    AccessDenied,
    /// The opcode is not QUERY: NOTIMP.
    UnsupportedOpcode(OpCode),
    /// QDCOUNT is not 1: FORMERR.
    QuestionCount(u16),
    /// The message does not parse: FORMERR.
    Malformed(DecodeError),
    /// The strict raw check of the OPT record and its ECS option failed (E07): FORMERR. Also a
    /// message hickory parsed but the raw walk to the OPT record could not get through.
    BadEcs(EcsError),
    /// The client's EDNS version is above 0: BADVERS.
    BadEdnsVersion(u8),
    /// The class is not IN: REFUSED.
    UnsupportedClass(DNSClass),
    /// AXFR, IXFR, MAILA or MAILB: NOTIMP.
    UnsupportedQtype(RecordType),
    /// A meta-TYPE (OPT, TSIG, TKEY, 128–248) asked as a question: FORMERR.
    MetaQtype(RecordType),
}

impl ErrorReason {
    /// The rcode this rule answers with.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            Self::AccessDenied | Self::UnsupportedClass(_) => ResponseCode::Refused,
            Self::UnsupportedOpcode(_) | Self::UnsupportedQtype(_) => ResponseCode::NotImp,
            Self::QuestionCount(_) | Self::Malformed(_) | Self::BadEcs(_) | Self::MetaQtype(_) => {
                ResponseCode::FormErr
            }
            Self::BadEdnsVersion(_) => ResponseCode::BADVERS,
        }
    }
}

/// What is known of a rejected query: enough to address the error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyContext {
    /// The client's header.
    pub header: Metadata,
    /// The question, echoed when it could be read.
    pub question: Option<Query>,
    /// The client's OPT, when the message parsed; the response carries ours iff this is set.
    pub edns: Option<Edns>,
}

/// Parses and validates a query (every check except the ACL, which needs the client address).
/// Never panics, whatever the bytes.
pub fn parse_query(wire: &[u8]) -> Result<ParsedQuery, Rejection> {
    let header = read_header(wire)?;
    validate(header, wire)
}

/// Step 1: the fixed header, and the drops decided from it alone.
pub(super) fn read_header(wire: &[u8]) -> Result<Header, Rejection> {
    let too_short = || Rejection::Drop(DropReason::TooShort { len: wire.len() });
    if wire.len() < HEADER_LEN {
        return Err(too_short());
    }
    let header = Header::read(&mut BinDecoder::new(wire)).map_err(|_| too_short())?;
    if header.metadata.message_type == MessageType::Response {
        return Err(Rejection::Drop(DropReason::NotAQuery));
    }
    Ok(header)
}

/// Steps 3–8, after the header was read and the client admitted.
pub(super) fn validate(header: Header, wire: &[u8]) -> Result<ParsedQuery, Rejection> {
    let reject =
        |reason: ErrorReason, question: Option<Query>, edns: Option<Edns>| Rejection::Reply {
            reason,
            context: Box::new(ReplyContext {
                header: header.metadata,
                question,
                edns,
            }),
        };
    if header.metadata.op_code != OpCode::Query {
        return Err(reject(
            ErrorReason::UnsupportedOpcode(header.metadata.op_code),
            None,
            None,
        ));
    }
    if header.counts.queries != 1 {
        return Err(reject(
            ErrorReason::QuestionCount(header.counts.queries),
            None,
            None,
        ));
    }
    let scanned = scan_opt(wire);
    let message = match Message::from_vec(wire) {
        Ok(message) => message,
        Err(error) => {
            // hickory fails on some malformed ECS options: name the ECS reason when it is one.
            if let Ok(Some(opt)) = scanned
                && opt.version == 0
                && let Err(ecs_error) = find_ecs(opt.rdata, Direction::Query)
            {
                return Err(reject(
                    ErrorReason::BadEcs(ecs_error),
                    peek_question(wire),
                    Some(edns_of(&opt)),
                ));
            }
            return Err(reject(
                ErrorReason::Malformed(error),
                peek_question(wire),
                None,
            ));
        }
    };
    let Some(query) = message.queries.into_iter().next() else {
        // QDCOUNT was 1 and the parse succeeded, so this cannot happen; FORMERR all the same.
        return Err(reject(ErrorReason::QuestionCount(0), None, None));
    };
    let edns = message.edns;
    if let Some(version) = edns
        .as_ref()
        .map(Edns::version)
        .filter(|&version| version > 0)
    {
        return Err(reject(
            ErrorReason::BadEdnsVersion(version),
            Some(query),
            edns,
        ));
    }
    // Step 6b (E07): hickory accepted the message, which proves nothing about its ECS option.
    let ecs = match scanned
        .and_then(|opt| opt.map_or(Ok(None), |opt| find_ecs(opt.rdata, Direction::Query)))
    {
        Ok(ecs) => ecs,
        Err(ecs_error) => return Err(reject(ErrorReason::BadEcs(ecs_error), Some(query), edns)),
    };
    if query.query_class() != DNSClass::IN {
        return Err(reject(
            ErrorReason::UnsupportedClass(query.query_class()),
            Some(query),
            edns,
        ));
    }
    if let Some(reason) = qtype_rule(query.query_type()) {
        return Err(reject(reason, Some(query), edns));
    }
    Ok(ParsedQuery {
        header: message.metadata,
        query,
        edns,
        ecs,
    })
}

/// The client's OPT as hickory would have read it, for a message hickory could not parse: enough
/// for the error response's OPT (DO bit) and size limit.
fn edns_of(opt: &OptRecord<'_>) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(opt.udp_payload)
        .set_version(opt.version)
        .set_dnssec_ok(opt.dnssec_ok);
    edns
}

/// Step 8: the question types we do not resolve (see the module docs for the choice).
fn qtype_rule(qtype: RecordType) -> Option<ErrorReason> {
    const OPT: u16 = 41;
    const META_UNASSIGNED: std::ops::RangeInclusive<u16> = 128..=248;
    const TKEY: u16 = 249;
    const TSIG: u16 = 250;
    const IXFR: u16 = 251;
    const AXFR: u16 = 252;
    const MAILB: u16 = 253;
    const MAILA: u16 = 254;
    match u16::from(qtype) {
        IXFR | AXFR | MAILB | MAILA => Some(ErrorReason::UnsupportedQtype(qtype)),
        OPT | TKEY | TSIG => Some(ErrorReason::MetaQtype(qtype)),
        code if META_UNASSIGNED.contains(&code) => Some(ErrorReason::MetaQtype(qtype)),
        _ => None,
    }
}

/// The question of a message whose full parse failed or was not attempted, if QDCOUNT is 1 and
/// the question itself reads.
pub(super) fn peek_question(wire: &[u8]) -> Option<Query> {
    let mut decoder = BinDecoder::new(wire);
    let header = Header::read(&mut decoder).ok()?;
    if header.counts.queries != 1 {
        return None;
    }
    Query::read(&mut decoder).ok()
}
