//! CHAOS TXT about the server: `id.server` / `hostname.bind` answer `[server] identity`,
//! `version.bind` / `version.server` answer `[server] version`; each REFUSED when unset, and
//! never answered to a client outside the ACL.

use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};

use super::{FakeResolver, ask, name_of, pipeline, wire};
use crate::{Chaos, Pipeline, ServerConfig, Transport};

fn chaos_query(id: u16, name: &str, qtype: RecordType) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    let mut query = Query::query(name_of(name), qtype);
    query.set_query_class(DNSClass::CH);
    message.add_query(query);
    message
}

fn chaos_pipeline(chaos: Chaos, allow: Option<&str>) -> (Arc<FakeResolver>, Pipeline) {
    let resolver = Arc::new(FakeResolver::new());
    let mut config = ServerConfig {
        chaos,
        ..ServerConfig::default()
    };
    if let Some(net) = allow {
        config.allow = vec![net.parse().unwrap()];
    }
    (Arc::clone(&resolver), pipeline(resolver, &config))
}

async fn send(pipeline: &Pipeline, name: &str, qtype: RecordType) -> Message {
    ask(
        pipeline,
        &wire(&chaos_query(9, name, qtype)),
        Transport::Udp,
    )
    .await
    .expect("a response")
}

fn txt(response: &Message) -> Vec<String> {
    response
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(txt.to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn identity_answers_id_server_and_hostname_bind_and_the_version_stays_hidden() {
    let (resolver, pipeline) = chaos_pipeline(
        Chaos {
            identity: Some("resolver-1.example".into()),
            version: None,
        },
        None,
    );
    for name in ["id.server.", "HOSTNAME.bind."] {
        let response = send(&pipeline, name, RecordType::TXT).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert_eq!(txt(&response), vec!["resolver-1.example"], "{name}");
        assert_eq!(response.answers[0].dns_class, DNSClass::CH);
        assert!(response.metadata.authoritative);
    }
    for name in ["version.bind.", "version.server.", "authors.bind."] {
        let response = send(&pipeline, name, RecordType::TXT).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
        assert!(response.answers.is_empty());
    }
    // Another type than TXT is not answered either.
    let a = send(&pipeline, "id.server.", RecordType::A).await;
    assert_eq!(a.metadata.response_code, ResponseCode::Refused);
    assert!(resolver.seen().is_empty(), "the engine is never asked");
}

#[tokio::test]
async fn version_is_answered_only_when_configured() {
    let (_, pipeline) = chaos_pipeline(
        Chaos {
            identity: None,
            version: Some("scoped 1.2".into()),
        },
        None,
    );
    for name in ["version.bind.", "version.server."] {
        let response = send(&pipeline, name, RecordType::TXT).await;
        assert_eq!(txt(&response), vec!["scoped 1.2"], "{name}");
    }
    // Without an identity, id.server and hostname.bind are REFUSED.
    for name in ["id.server.", "hostname.bind."] {
        let response = send(&pipeline, name, RecordType::TXT).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
    }
}

#[tokio::test]
async fn nothing_is_answered_by_default_nor_to_clients_outside_the_acl() {
    let (_, default) = chaos_pipeline(Chaos::default(), None);
    for name in [
        "id.server.",
        "hostname.bind.",
        "version.bind.",
        "version.server.",
    ] {
        let response = send(&default, name, RecordType::TXT).await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
    }
    let (_, closed) = chaos_pipeline(
        Chaos {
            identity: Some("resolver-1.example".into()),
            version: Some("scoped 1.2".into()),
        },
        Some("10.0.0.0/8"),
    );
    let response = send(&closed, "id.server.", RecordType::TXT).await;
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    assert!(response.answers.is_empty());
    assert_eq!(closed.stats().snapshot().refused_acl, 1);
}
