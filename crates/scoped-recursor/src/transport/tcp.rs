//! One query over TCP (RFC 7766): one connection per query, the length prefix and the
//! message in one write, the reply read by its prefix and matched like a UDP one.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use super::{TransportError, UpstreamQuery, reply_matches};

pub(super) async fn tcp_exchange(
    source: SocketAddr,
    query: &UpstreamQuery,
) -> Result<Vec<u8>, TransportError> {
    let socket = match query.server {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(source)?;
    let mut stream = socket.connect(query.server).await?;
    stream.set_nodelay(true)?;
    let len = u16::try_from(query.message.len())
        .map_err(|_| TransportError::Framing("query too long"))?;
    // One write for prefix and body: two writes cost ~44 ms (Nagle + delayed ACK).
    let mut framed = Vec::with_capacity(2 + query.message.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&query.message);
    stream.write_all(&framed).await?;
    let reply_len = stream.read_u16().await? as usize;
    let mut reply = vec![0u8; reply_len];
    stream.read_exact(&mut reply).await?;
    if !reply_matches(&query.message, &reply) {
        return Err(TransportError::Framing(
            "TCP reply does not match the query",
        ));
    }
    Ok(reply)
}
