//! Property tests: the parse step and the whole pipeline survive arbitrary and mutated input.
//! The fuzz target (`fuzz/fuzz_targets/query_parse.rs`) runs the same function for longer.

use std::sync::Arc;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use proptest::prelude::*;

use super::{CLIENT, FakeResolver, pipeline, query, wire, with_edns};
use crate::{Rejection, ServerConfig, Transport, parse_query};

/// Valid queries to mutate: plain, with EDNS, with EDNS + ECS + an unknown option.
fn seeds() -> Vec<Vec<u8>> {
    let plain = query(0x1111, "www.example.com.", RecordType::A);
    let edns = with_edns(
        query(0x2222, "WWW.Example.COM.", RecordType::AAAA),
        1232,
        0,
        true,
    );
    let mut ecs = with_edns(
        query(0x3333, "a.b.c.example.", RecordType::TXT),
        4096,
        0,
        false,
    );
    if let Some(edns) = ecs.edns.as_mut() {
        let subnet = ClientSubnet::new("192.0.2.0".parse().expect("ip"), 24, 0);
        edns.options_mut().insert(EdnsOption::Subnet(subnet));
        edns.options_mut()
            .insert(EdnsOption::Unknown(65001, vec![1, 2, 3]));
    }
    [plain, edns, ecs].iter().map(wire).collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, value: u8 },
    Insert { at: usize, value: u8 },
    Remove { at: usize },
    Truncate { len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::Flip { at, mask } => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte ^= mask;
                }
            }
            Mutation::Set { at, value } => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte = value;
                }
            }
            Mutation::Insert { at, value } => bytes.insert(at % (bytes.len() + 1), value),
            Mutation::Remove { at } => {
                if !bytes.is_empty() {
                    bytes.remove(at % bytes.len());
                }
            }
            Mutation::Truncate { len: keep } => bytes.truncate(keep % len),
        }
    }
    bytes
}

fn mutated_query() -> impl Strategy<Value = Vec<u8>> {
    (0..seeds().len(), prop::collection::vec(mutation(), 1..6))
        .prop_map(|(seed, mutations)| mutate(seeds().swap_remove(seed), &mutations))
}

/// The pipeline's invariants for any input: nothing for a short message or a response; else a
/// response that parses, is a response, and carries the client's ID.
fn check_pipeline(bytes: &[u8]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let resolver = FakeResolver::new().with_a("www.example.com.", RecordType::A, 3);
    let pipeline = pipeline(Arc::new(resolver), &ServerConfig::default());
    for transport in [Transport::Udp, Transport::Tcp] {
        let response = runtime.block_on(pipeline.handle(bytes, CLIENT, transport));
        let is_query = bytes.len() >= 12 && bytes.get(2).is_some_and(|flags| flags & 0x80 == 0);
        prop_assert_eq!(response.is_some(), is_query);
        if let Some(response) = response {
            let message =
                Message::from_vec(&response).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                message.metadata.message_type,
                hickory_proto::op::MessageType::Response
            );
            prop_assert_eq!(
                Some(message.metadata.id),
                bytes.get(..2).map(|id| u16::from_be_bytes([id[0], id[1]]))
            );
            if transport == Transport::Udp {
                prop_assert!(response.len() <= 1232);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_query_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_query(&bytes);
    }

    #[test]
    fn parse_query_never_panics_on_mutated_queries(bytes in mutated_query()) {
        if let Ok(parsed) = parse_query(&bytes) {
            // Whatever passed must re-serialise: the response echoes it.
            prop_assert_eq!(parsed.query.query_class(), hickory_proto::rr::DNSClass::IN);
            prop_assert!(parsed.edns.as_ref().is_none_or(|edns| edns.version() == 0));
        }
    }

    #[test]
    fn pipeline_answers_any_query_with_its_id(bytes in mutated_query()) {
        check_pipeline(&bytes)?;
    }

    #[test]
    fn pipeline_survives_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_pipeline(&bytes)?;
    }

    /// The fast path's parser accepts only what the full one accepts, and reads it the same:
    /// a query it takes can never be one the full path would have refused or read otherwise.
    #[test]
    fn fast_parser_accepts_only_what_the_full_parser_accepts(bytes in mutated_query()) {
        if let Some(plain) = crate::fast::plain_query(&bytes) {
            let full = parse_query(&bytes);
            prop_assert!(full.is_ok(), "fast took what full refuses: {:?}", full.err());
            let full = full.expect("checked");
            let key = scoped_recursor::WireKeyRef { name: plain.name(), qtype: plain.qtype, clients: scoped_recursor::WireClients::NoSubnet, dnssec: 0 };
            prop_assert_eq!(key.to_key(), scoped_recursor::WireKey::new(full.query.name(), full.query.query_type(), scoped_recursor::WireClients::NoSubnet));
            prop_assert_eq!(plain.ecs, full.ecs);
            // hickory reads a payload below 512 as 512 (RFC 6891 §6.2.5); the fast path clamps
            // it the same way when it sizes the response.
            prop_assert_eq!(plain.opt.map(|(payload, dnssec_ok)| (payload.max(512), dnssec_ok)),
                full.edns.as_ref().map(|e| (e.max_payload(), e.flags().dnssec_ok)));
        }
    }
}

#[test]
fn seeds_are_valid_queries() {
    for seed in seeds() {
        assert!(parse_query(&seed).is_ok());
    }
    assert!(matches!(parse_query(&[]), Err(Rejection::Drop(_))));
}
