//! scoped's stub-facing front end: UDP and TCP listeners, the client ACL, and the request
//! pipeline that turns a client's query bytes into response bytes by asking a
//! [`Resolve`](scoped_recursor::Resolve) implementation.
//!
//! The front end knows nothing of recursion. Its parts:
//!
//! - [`parse_query`]: sans-IO parsing and validation of a query (fuzzed, property-tested);
//! - [`Pipeline`]: parse (with strict ECS validation, E07) → ACL → client subnet (decided once,
//!   [`EcsFrontEnd`]) → local zones ([`LocalZones`]) → resolve → response (ECS echoed, E23), with UDP truncation;
//! - [`bind`] / [`BoundServer::run`]: the sockets, per RFC 7766 for TCP;
//! - [`FrontendStats`]: counters for `scoped ctl stats`.
//!
//! ```no_run
//! # async fn example(resolver: std::sync::Arc<dyn scoped_recursor::Resolve>) -> std::io::Result<()> {
//! let server = scoped_server::bind(scoped_server::ServerConfig::default())?;
//! let stats = server.stats();
//! server.run(resolver, async { let _ = tokio::signal::ctrl_c().await; }).await;
//! println!("{:?}", stats.snapshot());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod acl;
mod chaos;
mod config;
mod dnssec;
mod fast;
mod local;
mod metrics;
mod pipeline;
mod rules;
mod server;
mod stats;
mod tcp;
mod udp;

pub use acl::Acl;
pub use chaos::Chaos;
pub use config::{
    CLASSIC_UDP_PAYLOAD, DEFAULT_EDNS_UDP_PAYLOAD, DEFAULT_LISTEN, DEFAULT_TCP_IDLE_TIMEOUT,
    DEFAULT_TCP_MAX_CONNECTIONS, DEFAULT_TCP_MAX_CONNECTIONS_PER_CLIENT,
    DEFAULT_TCP_MAX_INFLIGHT_PER_CONNECTION, DEFAULT_TCP_READ_TIMEOUT, DEFAULT_TCP_WRITE_TIMEOUT,
    DEFAULT_UDP_MAX_INFLIGHT, EcsFrontEnd, ServerConfig, default_allow,
};
pub use local::{LocalAnswer, LocalConfig, LocalError, LocalZoneKind, LocalZoneSpec, LocalZones};
pub use metrics::{
    FrontendMetrics, LATENCY_BUCKETS_US, LatencyHistogram, LatencySnapshot, MetricsSnapshot, QTYPES,
};
pub use pipeline::{
    DropReason, ErrorReason, ParsedQuery, Pipeline, Rejection, ReplyContext, TCP_MAX_MESSAGE,
    Transport, parse_query,
};
pub use rules::{ClientMemo, ClientRules, RulesHandle};
pub use server::{BoundServer, bind};
pub use stats::{FrontendStats, StatsSnapshot};

#[cfg(test)]
mod tests;
