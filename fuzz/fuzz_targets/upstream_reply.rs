//! A fuzzed reply fed to the engine for each of its pending queries: the engine resolves a
//! question from the root while every "server" answers with bytes built from the input (the
//! query's ID and question in place, so the reply reaches the parser and the classifier). It
//! must end with an answer or an error within its budget, never panic, and never hand the
//! client a record it did not ask for.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use futures::future::BoxFuture;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_recursor::{
    Question, Recursor, RecursorConfig, ResolveRequest, RootHint, Transport, TransportError,
    UpstreamQuery,
};

/// Answers every query with: the query's ID, the input's flags (QR forced) and counts, the
/// query's question, then the rest of the input.
struct FuzzedServers {
    input: Vec<u8>,
}

impl Transport for FuzzedServers {
    fn exchange(
        &self,
        query: UpstreamQuery,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        let reply = reply_to(&query.message, &self.input);
        Box::pin(async move { Ok(reply) })
    }
}

fn reply_to(query: &[u8], input: &[u8]) -> Vec<u8> {
    let mut reply = Vec::with_capacity(query.len() + input.len());
    reply.extend_from_slice(&query[..2]);
    let flags = [
        input.first().copied().unwrap_or(0x84) | 0x80,
        input.get(1).copied().unwrap_or(0),
    ];
    reply.extend_from_slice(&flags);
    reply.extend_from_slice(&[0, 1]);
    reply.extend_from_slice(input.get(2..8).unwrap_or(&[0; 6]));
    // The question as asked: 12 bytes of header, then the name and type/class.
    let mut end = 12;
    while end < query.len() && query[end] != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question_end = (end + 5).min(query.len());
    reply.extend_from_slice(&query[12..question_end]);
    reply.extend_from_slice(input.get(8..).unwrap_or_default());
    reply
}

fuzz_target!(|input: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let config = RecursorConfig {
        root_hints: vec![RootHint {
            name: Name::from_ascii("a.root.test.").unwrap(),
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        }],
        allow_loopback_servers: true,
        max_upstream_queries: 16,
        selection_seed: Some(1),
        ..RecursorConfig::default()
    };
    let transport = Arc::new(FuzzedServers {
        input: input.to_vec(),
    });
    let recursor = Recursor::new(config, RecordCache::new(CacheConfig::default()), transport);
    let qname = Name::from_ascii("www.example.com.").unwrap();
    let request = ResolveRequest {
        question: Question::new(qname.clone(), RecordType::A),
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        client_subnet: None,
        checking_disabled: false,
        dnssec_ok: false,
    };
    let resolution = runtime.block_on(recursor.resolve_request(request));
    if resolution.rcode == ResponseCode::NoError {
        // Every answer record is the question's name or a link of the CNAME chain from it, or a
        // DNAME owned by an ancestor of such a name (RFC 6672: the CNAME synthesised from it
        // follows).
        let mut owners = vec![qname.to_lowercase()];
        for record in &resolution.answers {
            let owner = record.name.to_lowercase();
            if record.record_type() == RecordType::DNAME {
                assert!(
                    owners.iter().any(|name| owner.zone_of(name) && owner != *name),
                    "the DNAME at {owner} is above no name asked: {resolution:?}"
                );
                continue;
            }
            assert!(
                owners.contains(&owner),
                "{owner} answers no name asked: {resolution:?}"
            );
            if let hickory_proto::rr::RData::CNAME(target) = &record.data {
                owners.push(target.0.to_lowercase());
            }
        }
    }
});
