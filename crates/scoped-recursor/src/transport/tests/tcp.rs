//! One query over TCP on a real loopback listener: framing, and a reply for another query.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A listener that takes one framed query and sends back, framed, what `reply` makes of it.
async fn one_tcp_reply(reply: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let len = stream.read_u16().await.unwrap() as usize;
        let mut q = vec![0u8; len];
        stream.read_exact(&mut q).await.unwrap();
        let reply = reply(&q);
        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await.unwrap();
    });
    addr
}

/// `www.example.com. A` with ID `id`, over TCP to `server`.
fn tcp_query(server: SocketAddr, id: u16) -> UpstreamQuery {
    UpstreamQuery {
        server,
        protocol: Protocol::Tcp,
        message: query_wire(id, "www.example.com."),
        timeout: Duration::from_secs(5),
        require_ecs_echo: false,
        echo_timeout: None,
    }
}

#[tokio::test]
async fn tcp_sends_one_framed_query_and_reads_the_framed_reply() {
    let addr = one_tcp_reply(|q| {
        let id = u16::from_be_bytes([q[0], q[1]]);
        reply_to(q, id, "www.example.com.")
    })
    .await;
    let transport = NetTransport::new(&[]);
    let reply = transport.exchange(tcp_query(addr, 99)).await.unwrap();
    assert_eq!(Message::from_vec(&reply).unwrap().metadata.id, 99);
}

#[tokio::test]
async fn tcp_reply_for_another_query_is_rejected() {
    let addr = one_tcp_reply(|q| reply_to(q, 1, "www.example.com.")).await;
    let transport = NetTransport::new(&[]);
    assert!(matches!(
        transport.exchange(tcp_query(addr, 2)).await,
        Err(TransportError::Framing(_))
    ));
}
