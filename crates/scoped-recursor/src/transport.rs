//! The engine's only door to the network.
//!
//! The recursion engine hands an [`UpstreamQuery`] (server address, protocol, wire bytes with a
//! random ID already set) to a [`Transport`] and gets back the bytes of a reply that
//! [`reply_matches`] the query, or an error. Production uses [`NetTransport`] (tokio sockets);
//! tests and the demo use the in-memory internet of `scoped-testkit` on tokio's paused clock.
//!
//! A transport must never return a datagram that does not match: on UDP it keeps waiting (until
//! the timeout) past forged or stray replies and counts them.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::future::BoxFuture;
use scoped_ecs::{Direction, ReplyEcs, check_reply_opt, find_ecs, message_ecs, scan_opt};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpSocket;

use crate::counters::bump;

/// Which transport protocol an upstream query uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// UDP, the default; the engine retries over TCP when the reply is truncated.
    Udp,
    /// TCP (RFC 7766), one query per connection for upstream queries.
    Tcp,
}

/// One query to one authoritative server.
#[derive(Clone, Debug)]
pub struct UpstreamQuery {
    /// The server's address and port.
    pub server: SocketAddr,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The query on the wire, ID already randomised by the engine.
    pub message: Vec<u8>,
    /// How long to wait for a matching reply.
    pub timeout: Duration,
    /// The query carries ECS to a server known to echo it (E12): over UDP a reply without an
    /// ECS option is skipped like a forged one (CVE-2025-30192: an off-path attacker floods
    /// ECS-less answers, which any resolver that takes them as SCOPE 0 caches for everyone).
    pub require_ecs_echo: bool,
    /// With `require_ecs_echo`, over UDP: once this much time has passed and only replies
    /// without the echo have come, the exchange ends with [`TransportError::EchoMissing`] then
    /// (so the engine can re-ask, E12) rather than waiting out `timeout` for an echoing reply;
    /// the rest of `timeout` is for a late reply when nothing at all came. `None`: at `timeout`.
    pub echo_timeout: Option<Duration>,
}

impl UpstreamQuery {
    /// Whether a UDP datagram is the reply to this query: [`reply_matches`], and, when
    /// [`require_ecs_echo`](Self::require_ecs_echo) says so, an ECS option in an answer
    /// (NOERROR or NXDOMAIN; errors need none).
    pub fn accepts(&self, reply: &[u8]) -> bool {
        reply_matches(&self.message, reply)
            && (!self.require_ecs_echo || !carries_data(reply) || carries_ecs(reply))
    }
}

/// Whether a reply's RCODE is NOERROR or NXDOMAIN: one whose content would be cached. An error
/// (REFUSED, FORMERR to an ECS query: E13) often comes without the echo and poisons nothing.
fn carries_data(reply: &[u8]) -> bool {
    matches!(reply.get(3).map(|flags| flags & 0x0f), Some(0 | 3))
}

/// Whether a reply has an OPT record with an ECS option in it.
fn carries_ecs(reply: &[u8]) -> bool {
    matches!(
        scan_opt(reply).map(|opt| opt.map(|o| find_ecs(o.rdata, Direction::Response))),
        Ok(Some(Ok(Some(_))))
    )
}

/// Why an upstream exchange produced no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No matching reply arrived within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Within the timeout only replies without the required ECS echo arrived (E12): the
    /// server may have stopped echoing, or someone is forging.
    #[error("only replies without the ECS echo within {0:?}")]
    EchoMissing(Duration),
    /// A socket operation failed (unreachable, refused, reset).
    #[error("network error: {0}")]
    Io(#[from] io::Error),
    /// The reply could not be framed (TCP length prefix, oversize).
    #[error("malformed reply framing: {0}")]
    Framing(&'static str),
    /// The TLS handshake with a DNS over TLS server failed: its certificate is not valid for
    /// the name checked, or the handshake broke off. The server is unusable, not unreachable.
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
}

/// Sends queries to authoritative servers.
pub trait Transport: Send + Sync + 'static {
    /// Send `query` and return the first reply that [`reply_matches`] it.
    fn exchange(&self, query: UpstreamQuery)
    -> BoxFuture<'static, Result<Vec<u8>, TransportError>>;

    /// [`exchange`](Self::exchange), for a caller that polls the exchange again by its
    /// [`echo_timeout`](UpstreamQuery::echo_timeout) when no reply has come by then, from a
    /// timer of its own (the engine's try does, at the server's RTO). The transport may then
    /// leave its own timeout unset until that poll: most replies come before it, and then no
    /// second timer is set and cleared for nothing. The default is `exchange`.
    fn exchange_repolled(
        &self,
        query: UpstreamQuery,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        self.exchange(query)
    }
}

/// Does `reply` answer `query`? Same ID, QR set, exactly one question equal to the query's
/// (name compared case-insensitively, type and class equal), and — when the query carried an ECS
/// option — no ECS in the reply, or one with the same FAMILY, SOURCE and ADDRESS (E11, RFC 7871
/// §7.3; a malformed one does not match). The source address is checked by the transport (a
/// connected UDP socket only receives from the address it sent to). A forged reply that fails
/// any of these is skipped while the transport keeps waiting for the real one.
pub fn reply_matches(query: &[u8], reply: &[u8]) -> bool {
    scoped_ecs::wire::same_question(query, reply) && ecs_matches(query, reply)
}

/// E11: the reply's ECS, if any, must echo the query's FAMILY, SOURCE and ADDRESS.
fn ecs_matches(query: &[u8], reply: &[u8]) -> bool {
    let Ok(Some(sent)) = message_ecs(query, Direction::Query) else {
        return true;
    };
    match scan_opt(reply) {
        Ok(opt) => !matches!(
            check_reply_opt(&sent, opt.map(|o| o.rdata)),
            ReplyEcs::Mismatch(_)
        ),
        Err(_) => false,
    }
}

crate::counters! {
    /// Counters of what the network transport threw away.
    pub struct TransportCounters {
        mismatched_replies: "Upstream UDP datagrams that did not match the outstanding query (another source address or port, wrong ID or question)",
        timeouts: "Upstream exchanges that ended in a timeout",
    }
}

/// Largest reply we accept over UDP. We advertise 1232 (EDNS0 buffer, DNS flag day 2020) but
/// read into a larger buffer so an oversize reply is seen as such, not silently cut.
const UDP_RECV_BUFFER: usize = 4096;

/// The production transport: a fresh socket on a kernel-chosen random port for every UDP query,
/// TCP with the length prefix and message in one write.
#[derive(Debug)]
pub struct NetTransport {
    source_v4: Vec<Ipv4Addr>,
    source_v6: Vec<Ipv6Addr>,
    counters: Arc<TransportCounters>,
}

impl NetTransport {
    /// A transport that sends from the given source addresses (one picked at random per query,
    /// per family); an empty list means the unspecified address of that family.
    pub fn new(sources: &[IpAddr]) -> Self {
        let mut source_v4 = Vec::new();
        let mut source_v6 = Vec::new();
        for ip in sources {
            match ip {
                IpAddr::V4(v4) => source_v4.push(*v4),
                IpAddr::V6(v6) => source_v6.push(*v6),
            }
        }
        Self {
            source_v4,
            source_v6,
            counters: Arc::default(),
        }
    }

    /// What this transport has counted.
    pub fn counters(&self) -> Arc<TransportCounters> {
        self.counters.clone()
    }

    fn source_for(&self, server: &SocketAddr) -> SocketAddr {
        use rand::seq::IndexedRandom;
        let ip = match server {
            SocketAddr::V4(_) => IpAddr::V4(
                *self
                    .source_v4
                    .choose(&mut rand::rng())
                    .unwrap_or(&Ipv4Addr::UNSPECIFIED),
            ),
            SocketAddr::V6(_) => IpAddr::V6(
                *self
                    .source_v6
                    .choose(&mut rand::rng())
                    .unwrap_or(&Ipv6Addr::UNSPECIFIED),
            ),
        };
        // Port 0: the kernel picks a random ephemeral port for every socket (RFC 5452 §9.2).
        SocketAddr::new(ip, 0)
    }
}

impl Transport for NetTransport {
    fn exchange(
        &self,
        query: UpstreamQuery,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        self.exchange_with(query, Timer::AtOnce)
    }

    fn exchange_repolled(
        &self,
        query: UpstreamQuery,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        self.exchange_with(query, Timer::WhenRepolled)
    }
}

/// When a UDP exchange sets the timer of its timeout.
#[derive(Clone, Copy)]
enum Timer {
    /// With its first wait.
    AtOnce,
    /// Only when polled again with no reply in: the caller polls it by then (see
    /// [`Transport::exchange_repolled`]).
    WhenRepolled,
}

impl NetTransport {
    fn exchange_with(
        &self,
        query: UpstreamQuery,
        timer: Timer,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        let source = self.source_for(&query.server);
        let counters = self.counters.clone();
        crate::boxed::pin_in_place(|| async move {
            let timeout = query.timeout;
            let result = match query.protocol {
                Protocol::Udp => {
                    let deadline = tokio::time::Instant::now() + timeout;
                    udp_exchange(source, &query, &counters, deadline, timer).await
                }
                Protocol::Tcp => tokio::time::timeout(timeout, tcp_exchange(source, &query))
                    .await
                    .unwrap_or(Err(TransportError::Timeout(timeout))),
            };
            if matches!(
                result,
                Err(TransportError::Timeout(_) | TransportError::EchoMissing(_))
            ) {
                bump(&counters.timeouts);
            }
            result
        })
    }
}

async fn udp_exchange(
    source: SocketAddr,
    query: &UpstreamQuery,
    counters: &TransportCounters,
    deadline: tokio::time::Instant,
    mut timer: Timer,
) -> Result<Vec<u8>, TransportError> {
    let echo_deadline = query
        .echo_timeout
        .map(|echo| (deadline - query.timeout + echo).min(deadline));
    let socket = query_socket(source, query.server)?;
    // A fresh socket's send buffer is empty: the send does not block. Should it fail anyway
    // (`ENOBUFS`, `EAGAIN` under memory pressure), the try fails and the engine moves on.
    socket.get_ref().send_to(&query.message, query.server)?;
    let mut echo_missing = false;
    loop {
        let until = match echo_deadline {
            Some(echo) if echo_missing => echo,
            _ => deadline,
        };
        let wait = socket.ready(Interest::READABLE | Interest::ERROR);
        // Only the first wait can go without its timer: after any datagram the caller's own
        // timer may have passed already.
        let waited = match std::mem::replace(&mut timer, Timer::AtOnce) {
            Timer::AtOnce => tokio::time::timeout_at(until, wait).await,
            Timer::WhenRepolled => timer_when_repolled(until, wait).await,
        };
        let ready = match waited {
            Ok(ready) => ready?.ready(),
            Err(_) if echo_missing => return Err(TransportError::EchoMissing(query.timeout)),
            Err(_) => return Err(TransportError::Timeout(query.timeout)),
        };
        if ready.is_error() {
            // An ICMP error for the query (port or host unreachable): the server will not
            // answer, so the try ends now rather than at its timeout.
            if let Some(error) = socket.get_ref().take_error()? {
                return Err(error.into());
            }
            // Nothing pending after all: clear the readiness, or the wait would not wait.
            let _ = socket.try_io(Interest::ERROR, |_| {
                Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
            });
        }
        // Readiness is cleared when the socket turns out empty.
        let received = match socket.try_io(Interest::READABLE, |socket| receive(socket, query)) {
            Ok(received) => received,
            // Readiness can be spurious: wait again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        let matched = match received {
            Received::Reply(reply) => return Ok(reply),
            Received::Other { matched } => matched,
        };
        echo_missing |= matched;
        bump(&counters.mismatched_replies);
        if echo_missing && echo_deadline.is_some_and(|echo| tokio::time::Instant::now() >= echo) {
            return Err(TransportError::EchoMissing(query.timeout));
        }
    }
}

/// `wait`, given up at `until` as `tokio::time::timeout_at` would, but with the timer set only
/// when polled a second time with `wait` still pending. The first poll starts the wait; a
/// second comes from the reply (no timer ever set) or from the caller's own timer before
/// `until` (then this one is set).
async fn timer_when_repolled<F: Future>(
    until: tokio::time::Instant,
    wait: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut wait = std::pin::pin!(wait);
    let mut polled = false;
    let pending = std::future::poll_fn(|cx| match wait.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        // Repolled with nothing in: from here on, as with the timer from the start.
        Poll::Pending if polled => Poll::Ready(None),
        Poll::Pending => {
            polled = true;
            Poll::Pending
        }
    })
    .await;
    match pending {
        Some(out) => Ok(out),
        None => tokio::time::timeout_at(until, wait).await,
    }
}

/// What one datagram on a query's socket was.
enum Received {
    /// The reply, copied out at its own size.
    Reply(Vec<u8>),
    /// Anything else, with whether it answered the query (ID and question) without being
    /// acceptable (no ECS echo where one is required).
    Other { matched: bool },
}

thread_local! {
    /// Every UDP reply is read here first, a buffer that stays in the CPU's cache, and only the
    /// reply is copied out: a fresh 4 KiB buffer per query cost an allocation from the
    /// allocator's slower size classes and cold memory for every miss.
    static RECEIVE: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; UDP_RECV_BUFFER].into_boxed_slice());
}

/// One datagram from `socket`, without waiting, judged against `query`. Only the server's
/// address and port can send the reply: the socket is not connected (see [`query_socket`]),
/// so a datagram from anywhere else is stray, whatever it holds.
fn receive(socket: &std::net::UdpSocket, query: &UpstreamQuery) -> io::Result<Received> {
    RECEIVE.with_borrow_mut(|buf| {
        let (len, from) = socket.recv_from(buf)?;
        let datagram = &buf[..len];
        // Address and port only: the socket is of the server's family, so both are written
        // the same way, and a flow label or scope is no part of who sent it.
        if (from.ip(), from.port()) != (query.server.ip(), query.server.port()) {
            return Ok(Received::Other { matched: false });
        }
        Ok(if query.accepts(datagram) {
            Received::Reply(datagram.to_vec())
        } else {
            Received::Other {
                matched: reply_matches(&query.message, datagram),
            }
        })
    })
}

/// A non-blocking UDP socket for one query to `server`, on a random ephemeral port (RFC 5452
/// §9.2): bound to the source address when one is configured, else bound by the kernel at the
/// first send, which picks the port at random in the ephemeral range as `bind` to port 0 does.
///
/// Not connected: a UDP `connect` takes the kernel's socket-table locks three or four times
/// (the port, then rehashing the socket under the server's address), and was 4 % of a cache
/// miss's CPU against 1.4 % for Knot Resolver's bind-and-send (perf, docs/benchmarks.md). The
/// reply's source is checked here instead ([`receive`]). ICMP errors, which Linux gives only
/// to connected sockets unless asked, are asked for (`IP_RECVERR`): a server whose port is
/// closed fails its try at once.
///
/// Registered with the reactor for reading only. A UDP socket is writable at once and again
/// after every datagram it sends, and with write interest each of those moments woke the
/// reactor for nothing: one needless event per query, half of what `epoll_wait` returned.
fn query_socket(
    source: SocketAddr,
    server: SocketAddr,
) -> io::Result<AsyncFd<std::net::UdpSocket>> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM.nonblocking().cloexec(),
        Some(socket2::Protocol::UDP),
    )?;
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        match server {
            SocketAddr::V4(_) => setsockopt(&socket, sockopt::Ipv4RecvErr, &true),
            SocketAddr::V6(_) => setsockopt(&socket, sockopt::Ipv6RecvErr, &true),
        }
        .map_err(io::Error::from)?;
    }
    if !source.ip().is_unspecified() {
        socket.bind(&source.into())?;
    }
    let socket = std::net::UdpSocket::from(socket);
    // SAFETY: `register_with_interest` needs the descriptor that `as_raw_fd` returns to stay
    // open and the same for as long as the `AsyncFd` lives. A `std::net::UdpSocket` owns its
    // descriptor, never replaces it, and closes it only when dropped, which the `AsyncFd`
    // (its owner, never asked for it back here) does after deregistering it.
    #[allow(unsafe_code)]
    let registered = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) };
    registered.map_err(io::Error::from)
}

async fn tcp_exchange(
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::Ordering;

    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    use tokio::net::{TcpListener, UdpSocket};

    use super::*;

    fn query_wire(id: u16, name: &str) -> Vec<u8> {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        msg.to_vec().unwrap()
    }

    fn reply_to(query: &[u8], id: u16, name: &str) -> Vec<u8> {
        let mut msg = Message::from_vec(query).unwrap();
        msg.metadata.id = id;
        msg.metadata.message_type = MessageType::Response;
        msg.queries = vec![Query::query(Name::from_ascii(name).unwrap(), RecordType::A)];
        msg.to_vec().unwrap()
    }

    #[test]
    fn matching_needs_same_id_question_and_qr() {
        let q = query_wire(7, "www.example.com.");
        assert!(
            reply_matches(&q, &reply_to(&q, 7, "WWW.example.COM.")),
            "case-insensitive name"
        );
        assert!(
            !reply_matches(&q, &reply_to(&q, 8, "www.example.com.")),
            "wrong ID"
        );
        assert!(
            !reply_matches(&q, &reply_to(&q, 7, "www.example.net.")),
            "wrong question"
        );
        assert!(!reply_matches(&q, &q), "a query is not a reply");
        assert!(!reply_matches(&q, &[0u8; 5]), "garbage");
    }

    fn with_question(wire: &[u8], rtype: RecordType) -> Vec<u8> {
        let mut msg = Message::from_vec(wire).unwrap();
        let name = msg.queries[0].name().clone();
        msg.queries = vec![Query::query(name, rtype)];
        msg.to_vec().unwrap()
    }

    #[test]
    fn matching_compares_type_and_class_exactly() {
        let q = query_wire(7, "www.example.com.");
        let reply = reply_to(&q, 7, "www.example.com.");
        assert!(!reply_matches(&q, &with_question(&reply, RecordType::AAAA)));
        // Types 65 (HTTPS) and 97 differ only in the bit ASCII case folding ignores: a
        // comparison that folded the whole question would take one for the other.
        let https = with_question(&q, RecordType::HTTPS);
        let other = with_question(&reply, RecordType::Unknown(97));
        assert!(!reply_matches(&https, &other));
        assert!(reply_matches(
            &https,
            &with_question(&reply, RecordType::HTTPS)
        ));
        let mut chaos = reply.clone();
        let class_at = chaos.len() - 1;
        chaos[class_at] = 3;
        assert!(!reply_matches(&q, &chaos), "class CH is not IN");
        let mut no_question = reply.clone();
        no_question[5] = 0;
        assert!(!reply_matches(&q, &no_question), "no question");
        let mut pointer = reply[..12].to_vec();
        pointer.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        assert!(!reply_matches(&q, &pointer), "a compressed question name");
    }

    fn with_ecs(wire: &[u8], addr: &str, source: u8, scope: u8) -> Vec<u8> {
        use hickory_proto::op::Edns;
        use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
        let mut msg = Message::from_vec(wire).unwrap();
        let mut edns = Edns::new();
        let subnet = ClientSubnet::new(addr.parse().unwrap(), source, scope);
        edns.options_mut().insert(EdnsOption::Subnet(subnet));
        msg.set_edns(edns);
        msg.to_vec().unwrap()
    }

    #[test]
    fn e11_reply_ecs_must_echo_the_query_ecs() {
        let q = with_ecs(&query_wire(7, "www.example.com."), "198.51.100.0", 24, 0);
        let plain_reply = reply_to(&query_wire(7, "www.example.com."), 7, "www.example.com.");
        assert!(
            reply_matches(&q, &with_ecs(&plain_reply, "198.51.100.0", 24, 24)),
            "echo"
        );
        assert!(
            reply_matches(&q, &plain_reply),
            "no ECS in the reply: allowed, scope 0 (E12)"
        );
        assert!(
            !reply_matches(&q, &with_ecs(&plain_reply, "203.0.113.0", 24, 24)),
            "other address"
        );
        assert!(
            !reply_matches(&q, &with_ecs(&plain_reply, "198.51.100.0", 16, 16)),
            "other source"
        );
        assert!(
            !reply_matches(&q, &with_ecs(&plain_reply, "2001:db8::", 24, 24)),
            "other family"
        );
    }

    #[test]
    fn e12_an_answer_without_the_echo_is_refused_when_the_echo_is_required() {
        let q = with_ecs(&query_wire(7, "www.example.com."), "198.51.100.0", 24, 0);
        let plain_reply = reply_to(&query_wire(7, "www.example.com."), 7, "www.example.com.");
        let upstream = |require_ecs_echo| UpstreamQuery {
            server: "192.0.2.53:53".parse().unwrap(),
            protocol: Protocol::Udp,
            message: q.clone(),
            timeout: Duration::from_secs(1),
            require_ecs_echo,
            echo_timeout: None,
        };
        let echoed = with_ecs(&plain_reply, "198.51.100.0", 24, 24);
        assert!(upstream(true).accepts(&echoed));
        assert!(
            !upstream(true).accepts(&plain_reply),
            "CVE-2025-30192: no echo"
        );
        assert!(
            upstream(false).accepts(&plain_reply),
            "not required: SCOPE 0"
        );
        // An error needs no echo (E13: REFUSED to an ECS query often comes without it).
        let mut refused = Message::from_vec(&plain_reply).unwrap();
        refused.metadata.response_code = hickory_proto::op::ResponseCode::Refused;
        assert!(upstream(true).accepts(&refused.to_vec().unwrap()));
        let mut nxdomain = Message::from_vec(&plain_reply).unwrap();
        nxdomain.metadata.response_code = hickory_proto::op::ResponseCode::NXDomain;
        assert!(
            !upstream(true).accepts(&nxdomain.to_vec().unwrap()),
            "a denial is data too"
        );
    }

    #[tokio::test]
    async fn udp_ignores_forged_and_stray_replies_until_the_real_one() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let stray = UdpSocket::bind("127.0.0.2:0").await.unwrap();
        let other_port = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, client) = server.recv_from(&mut buf).await.unwrap();
            let q = buf[..n].to_vec();
            let id = u16::from_be_bytes([q[0], q[1]]);
            // Right ID and question, but from another address, then from another port of the
            // server's address: skipped and counted.
            for forger in [&stray, &other_port] {
                forger
                    .send_to(&reply_to(&q, id, "www.example.com."), client)
                    .await
                    .unwrap();
            }
            // Wrong ID, then wrong question, from the right address: skipped and counted.
            server
                .send_to(
                    &reply_to(&q, id.wrapping_add(1), "www.example.com."),
                    client,
                )
                .await
                .unwrap();
            server
                .send_to(&reply_to(&q, id, "evil.example.com."), client)
                .await
                .unwrap();
            let mut real = Message::from_vec(&reply_to(&q, id, "www.example.com.")).unwrap();
            real.metadata.authoritative = true;
            server
                .send_to(&real.to_vec().unwrap(), client)
                .await
                .unwrap();
        });
        let transport = NetTransport::new(&[]);
        let query = UpstreamQuery {
            server: server_addr,
            protocol: Protocol::Udp,
            message: query_wire(0x4242, "www.example.com."),
            timeout: Duration::from_secs(5),
            require_ecs_echo: false,
            echo_timeout: None,
        };
        let reply = transport.exchange(query).await.unwrap();
        assert!(
            Message::from_vec(&reply).unwrap().metadata.authoritative,
            "the real reply"
        );
        assert_eq!(
            transport
                .counters()
                .mismatched_replies
                .load(Ordering::Relaxed),
            4
        );
    }

    /// The timer of a repolled exchange's wait: none before the second poll; from then on the
    /// wait ends at `until`, and not before. A wait that ends first gives its output.
    #[tokio::test(start_paused = true)]
    async fn the_wait_sets_its_timer_when_polled_again() {
        let start = tokio::time::Instant::now();
        let until = start + Duration::from_secs(5);
        let mut never = std::pin::pin!(timer_when_repolled(until, std::future::pending::<()>()));
        assert_eq!(futures::poll!(never.as_mut()), Poll::Pending);
        // No timer yet: a second poll long after `until` is the first to see it passed.
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(matches!(
            futures::poll!(never.as_mut()),
            Poll::Ready(Err(_))
        ));

        let start = tokio::time::Instant::now();
        let until = start + Duration::from_secs(5);
        let mut never = std::pin::pin!(timer_when_repolled(until, std::future::pending::<()>()));
        assert_eq!(futures::poll!(never.as_mut()), Poll::Pending);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            futures::poll!(never.as_mut()),
            Poll::Pending,
            "timer set now"
        );
        assert!(never.await.is_err());
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(5),
            "at `until`, not before"
        );

        let (tx, rx) = tokio::sync::oneshot::channel();
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut answered = std::pin::pin!(timer_when_repolled(until, rx));
        assert_eq!(futures::poll!(answered.as_mut()), Poll::Pending);
        tx.send(7).unwrap();
        assert_eq!(answered.await.unwrap().unwrap(), 7);
    }

    /// A repolled UDP exchange gets its reply as a plain one does, and, polled again at its
    /// soft deadline with nothing in, still ends at its timeout (counted as one).
    #[tokio::test]
    async fn a_repolled_exchange_answers_and_times_out_like_a_plain_one() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (len, client) = server.recv_from(&mut buf).await.unwrap();
            let reply = reply_to(&buf[..len], 0x5151, "www.example.com.");
            server.send_to(&reply, client).await.unwrap();
            // The second query gets nothing.
            let _ = server.recv_from(&mut buf).await;
            std::future::pending::<()>().await;
        });
        let transport = NetTransport::new(&[]);
        let query = |id| UpstreamQuery {
            server: server_addr,
            protocol: Protocol::Udp,
            message: query_wire(id, "www.example.com."),
            timeout: Duration::from_millis(300),
            require_ecs_echo: false,
            echo_timeout: Some(Duration::from_millis(100)),
        };
        let reply = transport.exchange_repolled(query(0x5151)).await.unwrap();
        assert_eq!(Message::from_vec(&reply).unwrap().metadata.id, 0x5151);
        // Polled again at the soft deadline, as the engine's try does at the RTO.
        let started = std::time::Instant::now();
        let mut silent = transport.exchange_repolled(query(0x5252));
        let soft = tokio::time::sleep(Duration::from_millis(100));
        tokio::select! {
            biased;
            _ = &mut silent => panic!("nothing was sent back"),
            () = soft => {}
        }
        let err = tokio::time::timeout(Duration::from_secs(10), silent)
            .await
            .expect("bounded by its own timeout once repolled")
            .unwrap_err();
        assert!(matches!(err, TransportError::Timeout(_)), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(transport.counters().timeouts.load(Ordering::Relaxed), 1);
    }

    /// A port with nothing behind it answers with an ICMP error, which ends the try at once,
    /// long before its timeout.
    #[tokio::test]
    async fn a_closed_port_fails_the_try_at_once() {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = closed.local_addr().unwrap();
        drop(closed);
        let transport = NetTransport::new(&[]);
        let query = UpstreamQuery {
            server,
            protocol: Protocol::Udp,
            message: query_wire(7, "www.example.com."),
            timeout: Duration::from_secs(60),
            require_ecs_echo: false,
            echo_timeout: None,
        };
        // Bounded however it goes: a try that waited for its timeout fails this outer one.
        let err = tokio::time::timeout(Duration::from_secs(20), transport.exchange(query))
            .await
            .expect("the ICMP error ends the try, not its 60-second timeout")
            .unwrap_err();
        assert!(
            matches!(&err, TransportError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{err}"
        );
        assert_eq!(transport.counters().timeouts.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn udp_echo_less_replies_end_the_wait_at_the_echo_timeout() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, client) = server.recv_from(&mut buf).await.unwrap();
            let q = buf[..n].to_vec();
            let id = u16::from_be_bytes([q[0], q[1]]);
            // An answer without the ECS option the query requires (E12).
            let plain = reply_to(&query_wire(id, "www.example.com."), id, "www.example.com.");
            server.send_to(&plain, client).await.unwrap();
        });
        let transport = NetTransport::new(&[]);
        let query = UpstreamQuery {
            server: server_addr,
            protocol: Protocol::Udp,
            message: with_ecs(
                &query_wire(0x4343, "www.example.com."),
                "198.51.100.0",
                24,
                0,
            ),
            timeout: Duration::from_secs(20),
            require_ecs_echo: true,
            echo_timeout: Some(Duration::from_millis(100)),
        };
        let start = std::time::Instant::now();
        let err = transport.exchange(query).await.unwrap_err();
        assert!(matches!(err, TransportError::EchoMissing(_)), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ended near the echo timeout, not the timeout: {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn every_udp_query_uses_a_fresh_random_source_port() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let responder = tokio::spawn(async move {
            let mut ports = HashSet::new();
            let mut buf = [0u8; 512];
            for _ in 0..50 {
                let (n, client) = server.recv_from(&mut buf).await.unwrap();
                ports.insert(client.port());
                let q = buf[..n].to_vec();
                let id = u16::from_be_bytes([q[0], q[1]]);
                server
                    .send_to(&reply_to(&q, id, "www.example.com."), client)
                    .await
                    .unwrap();
            }
            ports
        });
        let transport = NetTransport::new(&["127.0.0.1".parse().unwrap()]);
        for i in 0..50 {
            let query = UpstreamQuery {
                server: server_addr,
                protocol: Protocol::Udp,
                message: query_wire(i, "www.example.com."),
                timeout: Duration::from_secs(5),
                require_ecs_echo: false,
                echo_timeout: None,
            };
            transport.exchange(query).await.unwrap();
        }
        let ports = responder.await.unwrap();
        assert!(
            ports.len() >= 45,
            "only {} distinct source ports in 50 queries",
            ports.len()
        );
    }

    #[tokio::test]
    async fn udp_timeout_is_reported_and_counted() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let transport = NetTransport::new(&[]);
        let query = UpstreamQuery {
            server: silent.local_addr().unwrap(),
            protocol: Protocol::Udp,
            message: query_wire(1, "www.example.com."),
            timeout: Duration::from_millis(100),
            require_ecs_echo: false,
            echo_timeout: None,
        };
        let err = transport.exchange(query).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout(_)), "{err}");
        assert_eq!(transport.counters().timeouts.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn tcp_sends_one_framed_query_and_reads_the_framed_reply() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let len = stream.read_u16().await.unwrap() as usize;
            let mut q = vec![0u8; len];
            stream.read_exact(&mut q).await.unwrap();
            let id = u16::from_be_bytes([q[0], q[1]]);
            let reply = reply_to(&q, id, "www.example.com.");
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            stream.write_all(&framed).await.unwrap();
        });
        let transport = NetTransport::new(&[]);
        let query = UpstreamQuery {
            server: addr,
            protocol: Protocol::Tcp,
            message: query_wire(99, "www.example.com."),
            timeout: Duration::from_secs(5),
            require_ecs_echo: false,
            echo_timeout: None,
        };
        let reply = transport.exchange(query).await.unwrap();
        assert_eq!(Message::from_vec(&reply).unwrap().metadata.id, 99);
    }

    #[tokio::test]
    async fn tcp_reply_for_another_query_is_rejected() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let len = stream.read_u16().await.unwrap() as usize;
            let mut q = vec![0u8; len];
            stream.read_exact(&mut q).await.unwrap();
            let reply = reply_to(&q, 1, "www.example.com.");
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            stream.write_all(&framed).await.unwrap();
        });
        let transport = NetTransport::new(&[]);
        let query = UpstreamQuery {
            server: addr,
            protocol: Protocol::Tcp,
            message: query_wire(2, "www.example.com."),
            timeout: Duration::from_secs(5),
            require_ecs_echo: false,
            echo_timeout: None,
        };
        assert!(matches!(
            transport.exchange(query).await,
            Err(TransportError::Framing(_))
        ));
    }
}
