//! Stub zones through the real binary: names inside one are resolved from its configured
//! server, and the root and the TLD never hear of them.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};
use scoped_testkit::standard_internet;

use crate::lab::{Lab, query};

fn asked(lab: &Lab, server: &str) -> usize {
    let server: IpAddr = server.parse().unwrap();
    lab.internet()
        .query_log()
        .iter()
        .filter(|q| q.server.ip() == server)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stub_zone_is_resolved_from_its_server_without_the_root() {
    let lab = Lab::start_with(standard_internet(), |config| {
        let port = config["recursion"]["upstream-port"].as_integer().unwrap();
        let mut stub = toml::Table::new();
        stub.insert("name".into(), "example.com.".into());
        stub.insert(
            "addresses".into(),
            vec![format!("127.53.2.1:{port}")].into(),
        );
        config.insert("stub-zones".into(), vec![toml::Value::Table(stub)].into());
    })
    .await;
    let response = lab
        .udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        response.answers[0].data,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 10)))
    );
    assert!(asked(&lab, "127.53.2.1") > 0);
    for public in ["127.53.0.1", "127.53.0.2", "127.53.1.1"] {
        assert_eq!(asked(&lab, public), 0, "{public} was asked");
    }
}
