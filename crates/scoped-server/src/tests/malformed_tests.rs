//! Hostile and malformed queries, one per way a DNS message can be broken, through the whole
//! pipeline: each gets the right rcode with the client's ID, or is dropped and counted; none
//! panics, none reaches the engine.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use super::{CLIENT, FakeResolver, pipeline, query, raw_ecs, wire, with_edns, with_options};
use crate::{ServerConfig, Transport};

/// A header with ID 0xbeef, RD, and these section counts.
fn header(qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut out = vec![0xbe, 0xef, 0x01, 0x00];
    for count in [qd, an, ns, ar] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out
}

/// `header(1,0,0,0)`, then `name` bytes as given, then type A class IN.
fn with_name(name: &[u8]) -> Vec<u8> {
    let mut out = header(1, 0, 0, 0);
    out.extend_from_slice(name);
    out.extend_from_slice(&[0, 1, 0, 1]);
    out
}

/// The cases: what they are, the bytes, and the rcode expected (`None`: dropped).
fn cases() -> Vec<(&'static str, Vec<u8>, Option<ResponseCode>)> {
    let long_label = {
        let mut name = vec![63];
        name.extend([b'a'; 63]);
        name
    };
    // Five 63-octet labels: 320 octets, past the 255 a name may have.
    let oversized: Vec<u8> = (0..5).flat_map(|_| long_label.clone()).chain([0]).collect();
    let mut response = wire(&query(0xbeef, "www.example.com.", RecordType::A));
    response[2] |= 0x80;
    let mut two_questions = wire(&query(0xbeef, "www.example.com.", RecordType::A));
    two_questions[5] = 2;
    let mut no_question = header(0, 0, 0, 0);
    no_question.truncate(12);
    let version1 = wire(&with_edns(
        query(0xbeef, "www.example.com.", RecordType::A),
        1232,
        1,
        false,
    ));
    let mut duplicate_opt = wire(&with_edns(
        query(0xbeef, "www.example.com.", RecordType::A),
        1232,
        0,
        false,
    ));
    let opt = duplicate_opt[duplicate_opt.len() - 11..].to_vec();
    duplicate_opt.extend_from_slice(&opt);
    duplicate_opt[11] = 2;
    let mut answer_in_query = wire(&query(0xbeef, "www.example.com.", RecordType::A));
    answer_in_query[7] = 1; // ANCOUNT 1, no record follows
    let bad_ecs = |payload: &[u8]| {
        wire(&with_options(
            query(0xbeef, "www.example.com.", RecordType::A),
            vec![raw_ecs(payload)],
        ))
    };
    vec![
        ("empty", vec![], None),
        ("a truncated header", vec![0xbe, 0xef, 1, 0, 0], None),
        ("a response, not a query", response, None),
        (
            "a name pointing at itself",
            with_name(&[0xc0, 12]),
            Some(ResponseCode::FormErr),
        ),
        (
            "a name pointing forward",
            with_name(&[3, b'w', b'w', b'w', 0xc0, 40]),
            Some(ResponseCode::FormErr),
        ),
        (
            "two pointers pointing at each other",
            with_name(&[0xc0, 14, 0xc0, 12]),
            Some(ResponseCode::FormErr),
        ),
        (
            "a name of 320 octets",
            with_name(&oversized),
            Some(ResponseCode::FormErr),
        ),
        (
            "a label of the reserved 01 type",
            with_name(&[0x41, b'a', 0]),
            Some(ResponseCode::FormErr),
        ),
        (
            "a name running past the end",
            header(1, 0, 0, 0).into_iter().chain([10, b'a']).collect(),
            Some(ResponseCode::FormErr),
        ),
        ("no question", no_question, Some(ResponseCode::FormErr)),
        ("two questions", two_questions, Some(ResponseCode::FormErr)),
        (
            "an answer count with no answer",
            answer_in_query,
            Some(ResponseCode::FormErr),
        ),
        (
            "two OPT records",
            duplicate_opt,
            Some(ResponseCode::FormErr),
        ),
        ("EDNS version 1", version1, Some(ResponseCode::BADVERS)),
        // E07, every way: family, SOURCE too long, length, host bits, SCOPE in a query.
        (
            "ECS family 3",
            bad_ecs(&[0, 3, 24, 0, 1, 2, 3]),
            Some(ResponseCode::FormErr),
        ),
        (
            "ECS /33",
            bad_ecs(&[0, 1, 33, 0, 1, 2, 3, 4, 5]),
            Some(ResponseCode::FormErr),
        ),
        (
            "ECS address too long",
            bad_ecs(&[0, 1, 24, 0, 1, 2, 3, 4]),
            Some(ResponseCode::FormErr),
        ),
        (
            "ECS address too short",
            bad_ecs(&[0, 1, 24, 0, 1, 2]),
            Some(ResponseCode::FormErr),
        ),
        (
            "ECS host bits set",
            bad_ecs(&[0, 1, 23, 0, 1, 2, 3]),
            Some(ResponseCode::FormErr),
        ),
        (
            "ECS SCOPE in a query",
            bad_ecs(&[0, 1, 24, 8, 1, 2, 3]),
            Some(ResponseCode::FormErr),
        ),
        (
            "ECS truncated",
            bad_ecs(&[0, 1]),
            Some(ResponseCode::FormErr),
        ),
    ]
}

#[tokio::test]
async fn every_malformed_query_gets_its_rcode_with_the_id_or_is_dropped_and_counted() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let resolver = Arc::new(FakeResolver::new().with_a("www.example.com.", RecordType::A, 1));
        let pipeline = pipeline(Arc::clone(&resolver), &ServerConfig::default());
        let mut dropped = 0;
        let mut formerr = 0;
        for (what, bytes, expected) in cases() {
            let response = pipeline.handle(&bytes, CLIENT, transport).await;
            match expected {
                None => {
                    assert!(response.is_none(), "{what}: dropped");
                    dropped += 1;
                }
                Some(rcode) => {
                    let response = response.unwrap_or_else(|| panic!("{what}: answered"));
                    let message = Message::from_vec(&response)
                        .unwrap_or_else(|e| panic!("{what}: our response parses: {e}"));
                    assert_eq!(message.metadata.id, 0xbeef, "{what}: the client's ID");
                    // BADVERS and BADSIG share 16; hickory reads it back as BADSIG.
                    assert_eq!(
                        u16::from(message.metadata.response_code),
                        u16::from(rcode),
                        "{what}"
                    );
                    assert!(message.answers.is_empty(), "{what}: no data");
                    formerr += usize::from(rcode == ResponseCode::FormErr);
                }
            }
        }
        assert!(resolver.seen().is_empty(), "nothing reached the engine");
        let stats = pipeline.stats().snapshot();
        let counted_drops = stats.dropped_short + stats.dropped_response;
        assert_eq!(counted_drops, dropped as u64, "every drop counted");
        assert_eq!(
            stats.responses_formerr, formerr as u64,
            "every FORMERR counted"
        );
        assert_eq!(stats.responses_badvers, 1);
    }
}
