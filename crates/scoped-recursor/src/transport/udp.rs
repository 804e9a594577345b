//! One query over UDP: its socket (fresh, random port, read interest only), the send, and the
//! wait for a datagram that matches, past forged and stray ones, until the timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{TransportCounters, TransportError, UpstreamQuery, reply_matches};
use crate::counters::bump;

/// Largest reply we accept over UDP. We advertise 1232 (EDNS0 buffer, DNS flag day 2020) but
/// read into a larger buffer so an oversize reply is seen as such, not silently cut.
const UDP_RECV_BUFFER: usize = 4096;

/// When a UDP exchange sets the timer of its timeout.
#[derive(Clone, Copy)]
pub(super) enum Timer {
    /// With its first wait.
    AtOnce,
    /// Only when polled again with no reply in: the caller polls it by then (see
    /// [`Transport::exchange_repolled`]).
    WhenRepolled,
}

pub(super) async fn udp_exchange(
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
pub(super) async fn timer_when_repolled<F: Future>(
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
