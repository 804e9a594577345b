//! Why a SERVFAIL (RFC 8914): the engine's reason goes out as an EDE option to a client that
//! sent EDNS, INFO-CODE then EXTRA-TEXT; a client without EDNS gets the bare SERVFAIL.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use scoped_recursor::{EDE_NETWORK_ERROR, EDE_NO_REACHABLE_AUTHORITY, Ede, Resolution};

use super::{FakeResolver, ask, pipeline, query, wire, with_edns};
use crate::{ServerConfig, Transport};

fn failed(code: u16, text: &str) -> Resolution {
    Resolution {
        ede: Some(Ede {
            code,
            text: text.into(),
        }),
        ..Resolution::servfail()
    }
}

/// The EDE options of `response`: (INFO-CODE, EXTRA-TEXT).
fn edes(response: &Message) -> Vec<(u16, String)> {
    let Some(edns) = &response.edns else {
        return Vec::new();
    };
    edns.options()
        .as_ref()
        .iter()
        .filter(|(code, _)| u16::from(*code) == crate::pipeline::EDE_OPTION_CODE)
        .map(|(_, option)| match option {
            EdnsOption::Unknown(_, data) => (
                u16::from_be_bytes([data[0], data[1]]),
                String::from_utf8(data[2..].to_vec()).unwrap(),
            ),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn servfail_reasons_go_to_edns_clients_only() {
    let resolver = FakeResolver::new()
        .with(
            "dead.example.",
            RecordType::A,
            failed(
                EDE_NO_REACHABLE_AUTHORITY,
                "no reachable authority for dead.example. (timeout)",
            ),
        )
        .with(
            "offline.example.",
            RecordType::A,
            failed(EDE_NETWORK_ERROR, "network error reaching the servers of ."),
        );
    let pipeline = pipeline(Arc::new(resolver), &ServerConfig::default());
    let send = |message: Message| {
        let pipeline = &pipeline;
        async move {
            ask(pipeline, &wire(&message), Transport::Udp)
                .await
                .expect("a response")
        }
    };

    let dead = send(with_edns(
        query(1, "dead.example.", RecordType::A),
        1232,
        0,
        false,
    ))
    .await;
    assert_eq!(dead.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        edes(&dead),
        vec![(
            22,
            "no reachable authority for dead.example. (timeout)".to_string()
        )]
    );
    let offline = send(with_edns(
        query(2, "offline.example.", RecordType::A),
        1232,
        0,
        false,
    ))
    .await;
    assert_eq!(
        edes(&offline),
        vec![(23, "network error reaching the servers of .".to_string())]
    );

    let plain = send(query(3, "dead.example.", RecordType::A)).await;
    assert_eq!(plain.metadata.response_code, ResponseCode::ServFail);
    assert!(plain.edns.is_none(), "no OPT, so no EDE, without EDNS");
}
