//! The labelled metrics as the pipeline counts them: latency split by where the answer came
//! from (the fast path and the engine's caches, or recursion), queries per type, SERVFAILs per
//! reason.

use std::sync::Arc;

use hickory_proto::rr::RecordType;
use scoped_recursor::{Ede, Resolution};

use super::{CLIENT, FakeResolver, pipeline, query, wire};
use crate::{ServerConfig, Transport};

#[tokio::test]
async fn latency_is_split_by_cache_and_recursion_and_types_and_reasons_are_counted() {
    let unreachable = Resolution {
        ede: Some(Ede {
            code: 22,
            text: "no reachable authority for example.net.".into(),
        }),
        ..Resolution::servfail()
    };
    let resolver = FakeResolver::new()
        .with_a("cached.example.", RecordType::A, 1)
        .with_wire_cache()
        .with_a("fresh.example.", RecordType::AAAA, 1)
        .with("down.example.", RecordType::MX, unreachable)
        .with("bare.example.", RecordType::TXT, Resolution::servfail());
    let front = pipeline(Arc::new(resolver), &ServerConfig::default());
    let ask = |name: &str, qtype| wire(&query(1, name, qtype));
    for (name, qtype) in [
        ("cached.example.", RecordType::A),
        ("cached.example.", RecordType::A),
        ("fresh.example.", RecordType::AAAA),
        ("down.example.", RecordType::MX),
        ("bare.example.", RecordType::TXT),
        ("x.example.", RecordType::Unknown(65_280)),
    ] {
        let response = front
            .handle(&ask(name, qtype), CLIENT, Transport::Udp)
            .await;
        assert!(response.is_some(), "{name}");
    }
    // The second ask of cached.example. came from the fast path.
    let mut out = Vec::new();
    assert!(front.answer_fast(
        &ask("cached.example.", RecordType::A),
        CLIENT,
        Transport::Udp,
        &mut out
    ));

    let metrics = front.metrics().snapshot();
    // From the caches: cached.example. three times (the engine's cache, then twice the fast
    // path's replay) and x.example. (an NXDOMAIN the fake engine serves from its cache).
    assert_eq!(metrics.latency_cache.count, 4, "{metrics:?}");
    assert_eq!(metrics.latency_recursion.count, 3, "{metrics:?}");
    let queries = |name| {
        metrics
            .queries_by_type
            .iter()
            .find(|q| q.0 == name)
            .unwrap()
            .1
    };
    assert_eq!(queries("A"), 3);
    assert_eq!(queries("AAAA"), 1);
    assert_eq!(queries("MX"), 1);
    assert_eq!(queries("TXT"), 1);
    assert_eq!(queries("other"), 1);
    assert_eq!(
        metrics.servfail_by_reason,
        vec![("22".to_owned(), 1), ("none".to_owned(), 1)]
    );
    assert_eq!(front.stats().snapshot().responses_servfail, 2);
}
