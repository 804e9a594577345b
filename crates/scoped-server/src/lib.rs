//! scoped's stub-facing front end: UDP and TCP listeners, the client ACL, and the request
//! pipeline that turns a client's query bytes into response bytes by asking a
//! [`Resolve`](scoped_recursor::Resolve) implementation.
//!
//! The front end knows nothing of recursion. Its parts:
//!
//! - [`parse_query`]: sans-IO parsing and validation of a query (fuzzed, property-tested);
//! - [`Pipeline`]: parse (with strict ECS validation, E07) → ACL → client subnet (decided once,
//!   [`EcsFrontEnd`]) → local zones ([`LocalZones`]) → resolve → response (ECS echoed, E23), with UDP truncation;
//! - [`bind`] / [`BoundServer::run`]: the sockets, per RFC 7766 for TCP, and DNS over TLS
//!   (RFC 7858) and over HTTPS (RFC 8484) with a reloadable certificate ([`Certificates`]) and
//!   EDNS padding of encrypted responses (RFC 7830, 8467);
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
mod cookie;
mod dnssec;
mod encrypted;
mod fast;
mod guard;
mod local;
mod metrics;
mod padding;
mod pipeline;
mod proxy;
mod ratelimit;
mod rules;
mod server;
mod stats;
mod tcp;
mod tls;
mod udp;

pub use acl::Acl;
pub use chaos::Chaos;
pub use config::{
    CLASSIC_UDP_PAYLOAD, CookieConfig, DEFAULT_COOKIE_ROTATION, DEFAULT_EDNS_UDP_PAYLOAD,
    DEFAULT_LISTEN, DEFAULT_RATE_LIMIT_SLIP, DEFAULT_RATE_LIMIT_TABLE_SIZE,
    DEFAULT_TCP_IDLE_TIMEOUT, DEFAULT_TCP_MAX_CONNECTIONS, DEFAULT_TCP_MAX_CONNECTIONS_PER_CLIENT,
    DEFAULT_TCP_MAX_INFLIGHT_PER_CONNECTION, DEFAULT_TCP_READ_TIMEOUT, DEFAULT_TCP_WRITE_TIMEOUT,
    DEFAULT_UDP_MAX_INFLIGHT, EcsFrontEnd, RateLimitConfig, ServerConfig, TlsFiles, default_allow,
};
pub use cookie::COOKIE_OPTION_CODE;
pub use encrypted::doh::{DNS_MESSAGE, DOH_PATH};
pub use local::{LocalAnswer, LocalConfig, LocalError, LocalZoneKind, LocalZoneSpec, LocalZones};
pub use metrics::{
    FrontendMetrics, LATENCY_BUCKETS_US, LatencyHistogram, LatencySnapshot, MetricsSnapshot, QTYPES,
};
pub use padding::{PADDING_OPTION_CODE, RESPONSE_BLOCK};
pub use pipeline::{
    DropReason, ErrorReason, Fast, ParsedQuery, Pipeline, Rejection, ReplyContext, TCP_MAX_MESSAGE,
    Transport, parse_query,
};
pub use ratelimit::{RATE_LIMIT_V4_PREFIX, RATE_LIMIT_V6_PREFIX};
pub use rules::{ClientMemo, ClientRules, RulesHandle};
pub use server::{BoundServer, bind};
pub use stats::{FrontendStats, StatsSnapshot};
pub use tls::{ALPN_DOH, ALPN_DOT, Certificates, TlsError};

#[cfg(test)]
mod tests;
