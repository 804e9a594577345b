//! The fast path's answer cache: rendered answers kept until the prefetch window, and flushed
//! with the record caches.

use std::time::Duration;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use scoped_testkit::engine::recursor;
use scoped_testkit::{name, standard_internet};

use crate::{WWW, stat};

fn rendered(qname: &str, ttl: u32) -> scoped_recursor::WireAnswer {
    let mut message = Message::new(1, MessageType::Response, hickory_proto::op::OpCode::Query);
    message.add_query(hickory_proto::op::Query::query(name(qname), RecordType::A));
    message.add_answer(Record::from_rdata(name(qname), ttl, RData::A(A(WWW))));
    scoped_recursor::WireAnswer::from_response(&message.to_vec().unwrap(), 0).unwrap()
}

#[tokio::test(start_paused = true)]
async fn rendered_answers_are_kept_until_the_prefetch_window_and_flushed_with_the_caches() {
    use scoped_recursor::{Resolve, WireKey, WireKeyRef};
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let wire_name = scoped_cache::lowercase_wire(&name("www.example.com."));
    let key = WireKeyRef {
        name: &wire_name,
        qtype: 1,
        clients: scoped_recursor::WireClients::NoSubnet,
        dnssec: 0,
    };
    let keep = |ttl| {
        recursor.keep_wire_answer(
            WireKey::new(
                &name("WWW.example.com."),
                RecordType::A,
                scoped_recursor::WireClients::NoSubnet,
            ),
            rendered("www.example.com.", ttl),
        )
    };
    keep(300);
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_some()
    );
    assert_eq!(
        stat(&recursor, |s| &s.cache_hits),
        1,
        "a fast-path hit is a cache hit"
    );
    // 90% of 300 s, then the hits go to the engine, which prefetches.
    tokio::time::advance(Duration::from_secs(269)).await;
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_some()
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_none()
    );
    keep(300);
    recursor.flush(&name("example.com."), true);
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_none(),
        "flushed with its subtree"
    );
    keep(300);
    recursor.flush_all();
    assert!(
        recursor
            .wire_answer(&key, tokio::time::Instant::now())
            .is_none()
    );
}
