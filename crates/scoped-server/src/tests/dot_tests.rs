//! DNS over TLS on loopback, with the tests' own rustls client and a certificate made at test
//! time.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::tls_support::{
    EncryptedServer, PATIENCE, connect, connector, der, parse, read_framed, send_framed, write_pair,
};
use super::{FakeResolver, query, wire, with_edns, with_options};
use crate::padding::{PADDING_OPTION_CODE, RESPONSE_BLOCK};
use crate::{ALPN_DOT, ServerConfig, Transport};

fn resolver() -> FakeResolver {
    FakeResolver::new()
        .with_a("fast.example.", RecordType::A, 1)
        .with_a("slow.example.", RecordType::A, 1)
        .delayed("slow.example.", RecordType::A, Duration::from_millis(300))
}

#[tokio::test]
async fn dot_answers_pipelined_queries_in_completion_order_with_alpn_dot() {
    let server = EncryptedServer::start("dot-pipeline", ServerConfig::default(), resolver());
    let client = connector(&[der(&server.files)], &[ALPN_DOT]);
    let mut stream = connect(&client, server.dot).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(ALPN_DOT));
    send_framed(
        &mut stream,
        &wire(&query(1, "slow.example.", RecordType::A)),
    )
    .await;
    send_framed(
        &mut stream,
        &wire(&query(2, "fast.example.", RecordType::A)),
    )
    .await;
    let first = parse(&read_framed(&mut stream).await);
    let second = parse(&read_framed(&mut stream).await);
    assert_eq!(
        (first.metadata.id, second.metadata.id),
        (2, 1),
        "out of order"
    );
    assert_eq!(second.metadata.response_code, ResponseCode::NoError);
    assert_eq!(second.answers.len(), 1);
    let stats = server.stats.snapshot();
    assert_eq!(
        (stats.queries_dot, stats.queries_tcp, stats.dot_accepted),
        (2, 0, 1)
    );
    server.stop().await;
}

#[tokio::test]
async fn dot_pads_responses_to_468_octets_only_for_queries_that_pad() {
    let server = EncryptedServer::start("dot-padding", ServerConfig::default(), resolver());
    let client = connector(&[der(&server.files)], &[ALPN_DOT]);
    let mut stream = connect(&client, server.dot).await;
    let padded = with_options(
        query(3, "fast.example.", RecordType::A),
        vec![EdnsOption::Unknown(PADDING_OPTION_CODE, vec![0; 20])],
    );
    send_framed(&mut stream, &wire(&padded)).await;
    let response = read_framed(&mut stream).await;
    assert_eq!(
        response.len() % RESPONSE_BLOCK,
        0,
        "{} octets",
        response.len()
    );
    assert_eq!(parse(&response).answers.len(), 1);

    let plain = with_edns(query(4, "fast.example.", RecordType::A), 1232, 0, false);
    send_framed(&mut stream, &wire(&plain)).await;
    let response = read_framed(&mut stream).await;
    assert!(
        response.len() < 100,
        "not padded: {} octets",
        response.len()
    );
    assert_eq!(server.stats.snapshot().responses_padded, 1);
    server.stop().await;
}

#[tokio::test]
async fn padding_is_for_encrypted_transports_only() {
    let pipeline = super::pipeline(std::sync::Arc::new(resolver()), &ServerConfig::default());
    let padded = wire(&with_options(
        query(5, "fast.example.", RecordType::A),
        vec![EdnsOption::Unknown(PADDING_OPTION_CODE, vec![])],
    ));
    let client = super::CLIENT;
    for (transport, expect_padded) in [
        (Transport::Udp, false),
        (Transport::Tcp, false),
        (Transport::Tls, true),
        (Transport::Https, true),
    ] {
        let response = pipeline
            .handle(&padded, client, transport)
            .await
            .expect("answer");
        assert_eq!(
            response.len() % RESPONSE_BLOCK == 0,
            expect_padded,
            "{transport:?}: {} octets",
            response.len()
        );
    }
}

#[tokio::test]
async fn a_certificate_reload_keeps_open_connections_and_serves_the_new_one_to_new_connections() {
    let server = EncryptedServer::start("dot-reload", ServerConfig::default(), resolver());
    let old = der(&server.files);
    let fresh_files = write_pair(&server.dir, "fresh");
    let fresh = der(&fresh_files);
    let trusting_both = connector(&[old.clone(), fresh.clone()], &[ALPN_DOT]);
    let mut open = connect(&trusting_both, server.dot).await;
    send_framed(&mut open, &wire(&query(6, "fast.example.", RecordType::A))).await;
    assert_eq!(parse(&read_framed(&mut open).await).metadata.id, 6);

    // The operator replaces the files in place and reloads.
    std::fs::copy(&fresh_files.certificate, &server.files.certificate).expect("cp");
    std::fs::copy(&fresh_files.key, &server.files.key).expect("cp");
    server.certificates.reload(&server.files).expect("reload");

    send_framed(&mut open, &wire(&query(7, "fast.example.", RecordType::A))).await;
    assert_eq!(
        parse(&read_framed(&mut open).await).metadata.id,
        7,
        "old connection answers"
    );
    let peer = |stream: &tokio_rustls::client::TlsStream<TcpStream>| {
        stream.get_ref().1.peer_certificates().expect("certs")[0].clone()
    };
    assert_eq!(peer(&open), old);
    // A fresh client (a resumed session would keep the authentication of its first handshake).
    let fresh_client = connector(&[old.clone(), fresh.clone()], &[ALPN_DOT]);
    let mut new = connect(&fresh_client, server.dot).await;
    assert_eq!(
        peer(&new),
        fresh,
        "a new connection sees the new certificate"
    );
    send_framed(&mut new, &wire(&query(8, "fast.example.", RecordType::A))).await;
    assert_eq!(parse(&read_framed(&mut new).await).metadata.id, 8);
    // A client that trusts only the old certificate can no longer connect.
    let old_only = connector(&[old], &[ALPN_DOT]);
    let tcp = TcpStream::connect(server.dot).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    assert!(old_only.connect(name, tcp).await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_failed_handshake_is_counted_and_gives_its_connection_slot_back() {
    let config = ServerConfig {
        tcp_max_connections: 1,
        ..ServerConfig::default()
    };
    let server = EncryptedServer::start("dot-handshake", config, resolver());
    let mut plain = TcpStream::connect(server.dot).await.expect("connect");
    // A plain DNS-over-TCP query is no TLS ClientHello.
    let mut frame = vec![0, 29];
    frame.extend_from_slice(&wire(&query(8, "fast.example.", RecordType::A)));
    plain.write_all(&frame).await.expect("write");
    let mut sink = Vec::new();
    let _ = timeout(PATIENCE, plain.read_to_end(&mut sink)).await;
    drop(plain);
    let client = connector(&[der(&server.files)], &[ALPN_DOT]);
    let mut stream = connect(&client, server.dot).await;
    send_framed(
        &mut stream,
        &wire(&query(9, "fast.example.", RecordType::A)),
    )
    .await;
    assert_eq!(parse(&read_framed(&mut stream).await).metadata.id, 9);
    assert_eq!(server.stats.snapshot().tls_handshake_failures, 1);
    server.stop().await;
}

#[tokio::test]
async fn an_idle_dot_connection_is_closed_after_the_tcp_idle_timeout() {
    let config = ServerConfig {
        tcp_idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = EncryptedServer::start("dot-idle", config, resolver());
    let client = connector(&[der(&server.files)], &[ALPN_DOT]);
    let mut stream = connect(&client, server.dot).await;
    send_framed(
        &mut stream,
        &wire(&query(10, "fast.example.", RecordType::A)),
    )
    .await;
    assert_eq!(parse(&read_framed(&mut stream).await).metadata.id, 10);
    let mut byte = [0u8; 1];
    let closed = timeout(PATIENCE, stream.read(&mut byte))
        .await
        .expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert_eq!(server.stats.snapshot().tcp_idle_timeouts, 1);
    server.stop().await;
}

#[tokio::test]
async fn dot_queries_take_the_fast_path_and_its_answers_are_padded_too() {
    let engine = std::sync::Arc::new(resolver().with_wire_cache());
    let server = EncryptedServer::start_shared(
        "dot-fast",
        ServerConfig::default(),
        std::sync::Arc::clone(&engine),
    );
    let client = connector(&[der(&server.files)], &[ALPN_DOT]);
    let mut stream = connect(&client, server.dot).await;
    let padded = |id| {
        wire(&with_options(
            query(id, "fast.example.", RecordType::A),
            vec![EdnsOption::Unknown(PADDING_OPTION_CODE, vec![0; 12])],
        ))
    };
    for id in 11..14 {
        send_framed(&mut stream, &padded(id)).await;
        let response = read_framed(&mut stream).await;
        assert_eq!(response.len() % RESPONSE_BLOCK, 0, "query {id}");
        let parsed = parse(&response);
        assert_eq!((parsed.metadata.id, parsed.answers.len()), (id, 1));
    }
    // The first answer was rendered for replay; the later ones never reached the engine.
    assert_eq!(engine.seen().len(), 1);
    assert_eq!(server.stats.snapshot().responses_padded, 3);
    server.stop().await;
}
