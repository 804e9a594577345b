//! The ACL and the ECS policy replaced while serving (a reload): the next query is decided by
//! the new rules, on the fast path too, also for a client the receive loop has already judged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use scoped_ecs::SubnetPolicy;

use super::{FakeResolver, pipeline, query, wire};
use crate::{ClientMemo, Pipeline, ServerConfig, Transport};

const INSIDER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(81, 2, 69, 142)), 5000);

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|net| net.parse().unwrap()).collect()
}

fn front(allow: &[&str]) -> (Arc<FakeResolver>, Pipeline) {
    let resolver = Arc::new(
        FakeResolver::new()
            .with_a("www.example.com.", RecordType::A, 2)
            .with_wire_cache(),
    );
    let config = ServerConfig {
        allow: nets(allow),
        ..ServerConfig::default()
    };
    (Arc::clone(&resolver), pipeline(resolver, &config))
}

async fn rcode(pipeline: &Pipeline, message: &Message, from: SocketAddr) -> ResponseCode {
    let response = pipeline
        .handle(&wire(message), from, Transport::Udp)
        .await
        .expect("a response");
    Message::from_vec(&response).unwrap().metadata.response_code
}

#[tokio::test]
async fn a_client_the_loop_already_admitted_is_refused_once_the_acl_drops_it() {
    let (_, pipeline) = front(&["81.2.69.0/24"]);
    let message = query(1, "www.example.com.", RecordType::A);
    assert_eq!(
        rcode(&pipeline, &message, INSIDER).await,
        ResponseCode::NoError
    );
    let mut memo = ClientMemo::default();
    let mut fast = |pipeline: &Pipeline| {
        let mut out = Vec::new();
        let now = tokio::time::Instant::now();
        pipeline.answer_fast_at(
            &wire(&message),
            INSIDER,
            Transport::Udp,
            &mut out,
            now,
            &mut memo,
        ) == crate::Fast::Answered
    };
    assert!(fast(&pipeline), "admitted and remembered by the loop");
    assert!(fast(&pipeline));

    let version = pipeline.rules().version();
    pipeline
        .rules()
        .replace(&nets(&["203.0.113.0/24"]), SubnetPolicy::new());
    assert_eq!(pipeline.rules().version(), version + 1);
    assert!(!fast(&pipeline), "the memo's verdict went with the old ACL");
    assert_eq!(
        rcode(&pipeline, &message, INSIDER).await,
        ResponseCode::Refused
    );
    assert_eq!(pipeline.stats().snapshot().refused_acl, 1);

    pipeline
        .rules()
        .replace(&nets(&["81.0.0.0/8"]), SubnetPolicy::new());
    assert!(fast(&pipeline), "allowed again, from the rendered answer");
}

#[tokio::test]
async fn a_new_ecs_policy_decides_the_next_querys_subnet() {
    let (resolver, pipeline) = front(&["81.2.69.0/24"]);
    let message = query(1, "www.example.com.", RecordType::A);
    rcode(&pipeline, &message, INSIDER).await;
    pipeline.rules().replace(
        &nets(&["81.2.69.0/24"]),
        SubnetPolicy::new().with_max_lengths(20, 48).unwrap(),
    );
    rcode(&pipeline, &message, INSIDER).await;
    pipeline
        .rules()
        .replace(&nets(&["81.2.69.0/24"]), SubnetPolicy::disabled());
    rcode(&pipeline, &message, INSIDER).await;
    let subnets: Vec<Option<IpNet>> = resolver
        .seen()
        .iter()
        .map(|request| request.client_subnet)
        .collect();
    assert_eq!(
        subnets,
        vec![
            Some("81.2.69.0/24".parse().unwrap()),
            Some("81.2.64.0/20".parse().unwrap()),
            None
        ]
    );
}
