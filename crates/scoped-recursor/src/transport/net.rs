//! The production transport: a fresh socket on a random port for every UDP query, TCP with
//! the length prefix and message in one write; the source address picked per query, and
//! timeouts counted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::udp::{Timer, udp_exchange};
use super::{Protocol, Transport, TransportCounters, TransportError, UpstreamQuery, tcp};
use crate::counters::bump;

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
                Protocol::Tcp => tokio::time::timeout(timeout, tcp::tcp_exchange(source, &query))
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
