//! Why a SERVFAIL, end to end: a root server that cannot be reached (nothing listens at its
//! loopback address, so every send comes back "port unreachable") gives SERVFAIL with EDE 23
//! (Network Error, RFC 8914) naming the root zone, to a client that sent EDNS.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use scoped_testkit::standard_internet;

use crate::lab::{Lab, query};

/// Root hints naming one root server on a loopback address where nothing listens.
const DEAD_ROOT_HINTS: &str = ".  3600000 NS a.dead-root.test.\n\
a.dead-root.test. 3600000 A 127.53.250.1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_root_is_servfail_with_ede_23_naming_the_root() {
    let lab = Lab::start_with_files(
        standard_internet(),
        &[("root.hints", DEAD_ROOT_HINTS)],
        |_| {},
    )
    .await;
    let response = lab
        .udp(&query(7, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    let edns = response.edns.expect("OPT");
    let ede: Vec<(u16, String)> = edns
        .options()
        .as_ref()
        .iter()
        .filter(|(code, _)| u16::from(*code) == 15)
        .map(|(_, option)| match option {
            EdnsOption::Unknown(_, data) => (
                u16::from_be_bytes([data[0], data[1]]),
                String::from_utf8(data[2..].to_vec()).unwrap(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ede,
        vec![(23, "network error reaching the servers of .".to_string())]
    );
    // Without EDNS, the bare SERVFAIL.
    let plain = lab
        .udp(&query(8, "www.example.net.", RecordType::A, None))
        .await;
    assert_eq!(plain.metadata.response_code, ResponseCode::ServFail);
    assert!(plain.edns.is_none());
}
