//! The internet on real loopback sockets, for end-to-end tests of the resolver binary.
//!
//! Every server gets a UDP socket and a TCP listener on its own address (127.x.y.z works without
//! configuration on Linux) and one shared port. IPv6 servers are served only on `::1` when the
//! host has it; other IPv6 (unique-local) servers exist in memory only and are listed in
//! [`LoopbackInternet::skipped`]. Replies go only to loopback sources. The same behaviours apply
//! as in memory (delay, dead, drop, rcode, lame, truncate_udp, responder), and the same query log
//! records every query. Dropping the [`LoopbackInternet`] (or [`shutdown`]) stops every task.
//!
//! [`shutdown`]: LoopbackInternet::shutdown

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use scoped_recursor::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::internet::{Internet, ServerState};

/// How many ports to try before giving up on "address in use".
const PORT_ATTEMPTS: usize = 16;
/// Largest number of delayed UDP replies in flight per server.
const MAX_PENDING_UDP: usize = 4096;
/// Largest number of open TCP connections per server.
const MAX_TCP_CONNECTIONS: usize = 256;
/// A TCP connection idle this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The servers of an [`Internet`] listening on loopback sockets. Drop it to stop them.
#[derive(Debug)]
pub struct LoopbackInternet {
    internet: Internet,
    port: u16,
    serving: Vec<SocketAddr>,
    skipped: Vec<IpAddr>,
    tasks: JoinSet<()>,
}

impl LoopbackInternet {
    /// The port every server listens on (UDP and TCP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The internet being served (behaviour handles, query log).
    pub fn internet(&self) -> &Internet {
        &self.internet
    }

    /// The socket address of every server being served, sorted.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.serving
    }

    /// The socket address of the server at `ip`, if it is being served.
    pub fn addr_of(&self, ip: IpAddr) -> Option<SocketAddr> {
        self.serving.iter().copied().find(|a| a.ip() == ip)
    }

    /// Servers that could not be put on loopback (IPv6 other than `::1`, or `::1` missing).
    pub fn skipped(&self) -> &[IpAddr] {
        &self.skipped
    }

    /// Stop every listener and connection and wait until they are gone.
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Internet {
    /// Serve every server on its loopback address at one free port (UDP and TCP).
    pub async fn serve_on_loopback(&self) -> io::Result<LoopbackInternet> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let port = probe.local_addr()?.port();
            drop(probe);
            match self.bind_all(port).await {
                Ok(lo) => return Ok(lo),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free port")))
    }

    /// Serve every server on its loopback address at `port` (fails if it is taken).
    pub async fn serve_on_loopback_at(&self, port: u16) -> io::Result<LoopbackInternet> {
        self.bind_all(port).await
    }

    async fn bind_all(&self, port: u16) -> io::Result<LoopbackInternet> {
        let mut bound = Vec::new();
        let mut skipped = Vec::new();
        for ip in self.server_addrs() {
            let is_v6_loopback = matches!(ip, IpAddr::V6(v6) if v6.is_loopback());
            let is_v4_loopback = matches!(ip, IpAddr::V4(v4) if v4.is_loopback());
            if !is_v4_loopback && !is_v6_loopback {
                skipped.push(ip);
                continue;
            }
            let addr = SocketAddr::new(ip, port);
            let udp = match UdpSocket::bind(addr).await {
                Ok(s) => s,
                Err(e) if is_v6_loopback && e.kind() == io::ErrorKind::AddrNotAvailable => {
                    skipped.push(ip);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let tcp = TcpListener::bind(addr).await?;
            bound.push((addr, udp, tcp));
        }
        let mut tasks = JoinSet::new();
        let mut serving = Vec::new();
        for (addr, udp, tcp) in bound {
            let Some(state) = self.inner.servers.get(&addr.ip()).cloned() else {
                continue;
            };
            serving.push(addr);
            tasks.spawn(udp_loop(self.clone(), state.clone(), addr, udp));
            tasks.spawn(tcp_loop(self.clone(), state, addr, tcp));
        }
        serving.sort();
        Ok(LoopbackInternet {
            internet: self.clone(),
            port,
            serving,
            skipped,
            tasks,
        })
    }
}

async fn udp_loop(
    internet: Internet,
    state: Arc<ServerState>,
    addr: SocketAddr,
    socket: UdpSocket,
) {
    let socket = Arc::new(socket);
    let mut pending: JoinSet<()> = JoinSet::new();
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, source) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%addr, error = %e, "testkit: UDP receive error");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while pending.try_join_next().is_some() {}
        if !source.ip().is_loopback() {
            continue;
        }
        let handled = internet.handle(&state, addr, &buf[..n], source, Protocol::Udp);
        if handled.replies.is_empty() {
            continue;
        }
        if handled.delay.is_zero() {
            for reply in &handled.replies {
                let _ = socket.send_to(reply, source).await;
            }
        } else if pending.len() < MAX_PENDING_UDP {
            let socket = socket.clone();
            pending.spawn(async move {
                tokio::time::sleep(handled.delay).await;
                for reply in &handled.replies {
                    let _ = socket.send_to(reply, source).await;
                }
            });
        }
    }
}

async fn tcp_loop(
    internet: Internet,
    state: Arc<ServerState>,
    addr: SocketAddr,
    listener: TcpListener,
) {
    let mut connections: JoinSet<()> = JoinSet::new();
    loop {
        let (stream, source) = match listener.accept().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%addr, error = %e, "testkit: TCP accept error");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if !source.ip().is_loopback() || connections.len() >= MAX_TCP_CONNECTIONS {
            continue;
        }
        connections.spawn(tcp_connection(
            internet.clone(),
            state.clone(),
            addr,
            stream,
            source,
        ));
    }
}

/// Serve length-prefixed queries on one connection, in order, until EOF, error or idleness.
async fn tcp_connection(
    internet: Internet,
    state: Arc<ServerState>,
    addr: SocketAddr,
    mut stream: TcpStream,
    source: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    loop {
        let query = match tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
            Ok(Ok(query)) => query,
            _ => return,
        };
        let handled = internet.handle(&state, addr, &query, source, Protocol::Tcp);
        if handled.replies.is_empty() {
            continue;
        }
        tokio::time::sleep(handled.delay).await;
        for reply in &handled.replies {
            let Ok(len) = u16::try_from(reply.len()) else {
                continue;
            };
            // Prefix and body in one write: two writes cost ~44 ms (Nagle + delayed ACK).
            let mut framed = Vec::with_capacity(2 + reply.len());
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(reply);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
    }
}

async fn read_framed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let len = usize::from(stream.read_u16().await?);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}
