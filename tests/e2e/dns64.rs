//! DNS64 through the real binary: `[dns64] enabled = true` synthesises AAAA records for an
//! IPv4-only name, leaves a dual-stack name alone, and maps a reverse name under the prefix.

use std::net::Ipv6Addr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::AAAA;
use hickory_proto::rr::{RData, RecordType};
use scoped_testkit::standard_internet;

use crate::lab::{Lab, query};

async fn ask(lab: &Lab, qname: &str, qtype: RecordType) -> Message {
    lab.udp(&query(1, qname, qtype, Some(1232))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns64_synthesises_aaaa_for_an_ipv4_only_name_and_maps_its_reverse_name() {
    let lab = Lab::start_with(standard_internet(), |config| {
        let mut dns64 = toml::Table::new();
        dns64.insert("enabled".into(), true.into());
        dns64.insert("prefix".into(), "64:ff9b::/96".into());
        config.insert("dns64".into(), dns64.into());
    })
    .await;
    // www.example.net. has only A 192.0.2.20.
    let synthesised = ask(&lab, "www.example.net.", RecordType::AAAA).await;
    assert_eq!(synthesised.metadata.response_code, ResponseCode::NoError);
    let expected: Ipv6Addr = "64:ff9b::c000:214".parse().unwrap();
    assert_eq!(
        synthesised
            .answers
            .iter()
            .map(|r| &r.data)
            .collect::<Vec<_>>(),
        vec![&RData::AAAA(AAAA(expected))],
        "{synthesised:?}"
    );
    assert!(!synthesised.metadata.authentic_data);
    // Asked again: the same answer, from the caches.
    let again = ask(&lab, "www.example.net.", RecordType::AAAA).await;
    assert_eq!(again.answers.len(), 1);
    assert_eq!(again.answers[0].data, RData::AAAA(AAAA(expected)));
    // A dual-stack name keeps its own AAAA.
    let real = ask(&lab, "www.example.com.", RecordType::AAAA).await;
    assert_eq!(
        real.answers[0].data,
        RData::AAAA(AAAA("2001:db8::10".parse().unwrap()))
    );
    // A reverse name under the prefix: a CNAME to the IPv4 reverse name.
    let ptr = ask(
        &lab,
        "4.1.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.",
        RecordType::PTR,
    )
    .await;
    assert_eq!(
        ptr.answers.first().map(|r| &r.data),
        Some(&RData::CNAME(hickory_proto::rr::rdata::CNAME(
            scoped_testkit::name("20.2.0.192.in-addr.arpa.")
        ))),
        "{ptr:?}"
    );
}
