//! Forwarded answers are validated like iterated ones: DO goes to the forwarder, and what it
//! returns (RRSIGs, and the DS and DNSKEY sets asked of it in turn) is checked from the trust
//! anchor down.

use std::net::{Ipv4Addr, SocketAddr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_recursor::{DnssecConfig, ForwardZone, Recursor, RecursorConfig, Validation};
use scoped_testkit::engine::{a_records, ask, config_for, recursor_with};
use scoped_testkit::signed::{DsMode, Signing};
use scoped_testkit::{Behaviour, Internet};

use super::{EXAMPLE, Hierarchy, INSECURE, NOW, ROOT, SUB, ip, name};

/// The root server turned into a recursive forwarder holding every zone of the hierarchy, and
/// a validating engine that forwards everything to it.
fn forwarding(internet: &Internet, dnssec: DnssecConfig) -> Recursor {
    let forwarder = internet.server(ip(ROOT)).unwrap();
    for other in [EXAMPLE, SUB, INSECURE] {
        for zone in internet.server(ip(other)).unwrap().zones() {
            forwarder.set_zone((*zone).clone());
        }
    }
    forwarder.set_behaviour(Behaviour {
        recursive: true,
        ..Behaviour::default()
    });
    let config = RecursorConfig {
        dnssec,
        forward_zones: vec![ForwardZone {
            name: name("."),
            servers: vec![SocketAddr::new(ip(ROOT), internet.port())],
            tls: None,
        }],
        ..config_for(internet)
    };
    recursor_with(internet, config)
}

#[tokio::test(start_paused = true)]
async fn a_forwarded_signed_answer_validates_and_an_unsigned_one_is_insecure() {
    let (internet, dnssec) = Hierarchy::default().build();
    let recursor = forwarding(&internet, dnssec);
    let res = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(res.security, Validation::Secure, "{res:?}");
    let insecure = ask(&recursor, "www.insecure.example.", RecordType::A).await;
    assert_eq!(a_records(&insecure), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    assert_eq!(insecure.security, Validation::Insecure);
    let log = internet.query_log();
    assert!(log.iter().all(|q| q.server.ip() == ip(ROOT)), "{log:?}");
    for query in &log {
        let message = query.message().unwrap();
        assert!(message.metadata.recursion_desired);
        assert!(message.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok));
    }
    assert!(log.iter().any(|q| q.qtype == RecordType::DNSKEY));
}

#[tokio::test(start_paused = true)]
async fn a_forwarded_bogus_answer_is_servfail() {
    let (internet, dnssec) = Hierarchy::with_sub(Signing {
        ds: DsMode::Stray,
        ..Signing::new(NOW)
    })
    .build();
    let recursor = forwarding(&internet, dnssec);
    let res = ask(&recursor, "www.sub.example.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(res.ede.map(|e| e.code), Some(9));
}
