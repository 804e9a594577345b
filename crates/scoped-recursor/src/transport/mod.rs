//! The engine's only door to the network.
//!
//! The recursion engine hands an [`UpstreamQuery`] (server address, protocol, wire bytes with a
//! random ID already set) to a [`Transport`] and gets back the bytes of a reply that
//! [`reply_matches`] the query, or an error. Production uses [`NetTransport`] (tokio sockets);
//! tests and the demo use the in-memory internet of `scoped-testkit` on tokio's paused clock.
//!
//! A transport must never return a datagram that does not match: on UDP it keeps waiting (until
//! the timeout) past forged or stray replies and counts them.
//!
//! The files: this one holds the contract (the query, the errors, the trait, what a matching
//! reply is, the counters); `net.rs` the production transport; `udp.rs` and `tcp.rs` one
//! exchange over each protocol.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use scoped_ecs::{Direction, ReplyEcs, check_reply_opt, find_ecs, message_ecs, scan_opt};

mod net;
mod tcp;
mod udp;

pub use net::NetTransport;

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

#[cfg(test)]
mod tests;
