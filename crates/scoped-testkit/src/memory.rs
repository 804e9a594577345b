//! The in-memory transport: [`Internet`] as a [`scoped_recursor::Transport`] on tokio time.
//!
//! - A query goes to the server whose address is `query.server.ip()` **and** whose port is the
//!   internet's port ([`InternetBuilder::port`](crate::InternetBuilder::port), default 53). Any
//!   other address or port is unknown: `Err(Timeout(t))` after exactly `t`.
//! - The server decides at once (the query is logged at the send instant); the reply arrives after
//!   the server's round-trip [`delay`](crate::Behaviour::delay). When the delay is `>= t`, or the
//!   server is dead or drops the query, the result is `Err(Timeout(t))` after exactly `t`.
//! - UDP: the first reply the query [accepts](UpstreamQuery::accepts) is returned; non-matching (forged) replies are
//!   skipped, and when none matches the exchange times out, like the real network transport.
//!   When only replies without a required ECS echo came, it ends with `EchoMissing` at the
//!   query's `echo_timeout` (or when they arrive, if later), else at its timeout.
//!   TCP: the first reply is returned if it matches, else `Err(Framing(..))`.
//! - The querier's source address is 127.0.0.1 (::1 for IPv6 servers) with a port counting up.
//!
//! - Every exchange yields to the runtime at least once before it ends, as a real one waits for
//!   its socket.
//!
//! Everything waits with `tokio::time::sleep`, so `#[tokio::test(start_paused = true)]` tests run
//! in virtual time.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use scoped_recursor::{Protocol, Transport, TransportError, UpstreamQuery, reply_matches};
use tokio::time::{Instant, sleep, sleep_until};

use crate::internet::Internet;

impl Internet {
    /// This internet as a shareable transport for the recursion engine.
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(self.clone())
    }

    async fn exchange_in_memory(self, query: UpstreamQuery) -> Result<Vec<u8>, TransportError> {
        let timeout = query.timeout;
        let start = Instant::now();
        let deadline = start + timeout;
        let server = query.server;
        let state = match self.inner.servers.get(&server.ip()) {
            Some(state) if server.port() == self.inner.port => state.clone(),
            _ => {
                sleep(timeout).await;
                return Err(TransportError::Timeout(timeout));
            }
        };
        let source: SocketAddr = self.next_source(server);
        let handled = self.handle(&state, server, &query.message, source, query.protocol);
        if handled.replies.is_empty() || handled.delay >= timeout {
            sleep(timeout).await;
            return Err(TransportError::Timeout(timeout));
        }
        sleep(handled.delay).await;
        // A reply over a real network is never there when the query is sent: the querier's
        // task always waits at least once, and other tasks (background measurements, handed-off
        // resolutions) run meanwhile, also with no delay configured.
        tokio::task::yield_now().await;
        match query.protocol {
            Protocol::Udp => {
                if let Some(reply) = handled.replies.iter().find(|r| query.accepts(r)) {
                    return Ok(reply.clone());
                }
                // Replies that matched but for the required ECS echo (E12): the exchange ends
                // at the echo timeout (or at once, if that has passed), else at the timeout.
                if handled
                    .replies
                    .iter()
                    .any(|r| reply_matches(&query.message, r))
                {
                    let until = query
                        .echo_timeout
                        .map_or(deadline, |echo| (start + echo).min(deadline));
                    sleep_until(until).await;
                    return Err(TransportError::EchoMissing(timeout));
                }
                sleep_until(deadline).await;
                Err(TransportError::Timeout(timeout))
            }
            Protocol::Tcp => {
                let reply = handled.replies.into_iter().next().unwrap_or_default();
                if reply_matches(&query.message, &reply) {
                    Ok(reply)
                } else {
                    Err(TransportError::Framing(
                        "TCP reply does not match the query",
                    ))
                }
            }
        }
    }
}

impl Transport for Internet {
    fn exchange(
        &self,
        query: UpstreamQuery,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        Box::pin(self.clone().exchange_in_memory(query))
    }
}
