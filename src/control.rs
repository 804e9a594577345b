//! The control endpoint: HTTP/1.1 on loopback (default `127.0.0.1:8953`) for operators and
//! Prometheus. `scoped ctl` is its client (`src/ctl.rs`); `docs/operations.md` is the guide.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /health` | 200 `ok` while the resolver runs |
//! | `GET /stats` | every counter, cache sizes and memory as JSON ([`Snapshot::to_json`]) |
//! | `GET /metrics` | the same numbers in the OpenMetrics text format Prometheus scrapes |
//! | `POST /reload` | re-read the configuration and the ECS allowlist, as SIGHUP does ([`crate::reconfigure`]) |
//!
//! The endpoint has no authentication, so it listens on loopback only unless the operator sets
//! `[control] allow-remote = true` (checked by [`ControlConfig::new`]). A browser on the same
//! host could still be made to send a request to it: requests that change state refuse an
//! `Origin` header, which every browser sends on cross-site POSTs and `scoped ctl`, curl and
//! Prometheus never do.
//!
//! Both `/stats` and `/metrics` render one [`Snapshot`], so they always report the same counters
//! under the same names: `frontend.queries_udp` in JSON is `scoped_frontend_queries_udp_total`
//! in Prometheus.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::future::select_all;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use scoped_cache::scoped::ScopeLenHistogram;
use scoped_recursor::counters::Counters;
use scoped_recursor::transport::TransportCounters;
use scoped_recursor::{EcsSent, Recursor};
use scoped_server::FrontendStats;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::reload::{ReloadError, ReloadTrigger, reload_allowlist};

/// Where the control endpoint listens unless `[control] listen` says otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8953);

/// Connections served at once; more are closed on accept. Operators and one Prometheus need a
/// handful; the bound keeps a runaway local client from exhausting file descriptors.
const MAX_CONNECTIONS: usize = 64;

/// Time a client gets to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// At shutdown, time requests in progress get to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The `Content-Type` of `/metrics` (what prometheus-client's text encoder writes).
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The validated `[control]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
}

impl ControlConfig {
    /// The endpoint on `listen`: at least one address, and only loopback ones unless
    /// `allow_remote`, since the endpoint has no authentication.
    pub fn new(listen: Vec<SocketAddr>, allow_remote: bool) -> Result<Self, ControlConfigError> {
        if listen.is_empty() {
            return Err(ControlConfigError::NoListenAddress);
        }
        if !allow_remote
            && let Some(&addr) = listen
                .iter()
                .find(|addr| !addr.ip().to_canonical().is_loopback())
        {
            return Err(ControlConfigError::RemoteWithoutAllowRemote { addr });
        }
        Ok(Self { listen })
    }
}

/// What the control endpoint refuses in its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlConfigError {
    /// `listen` is empty.
    #[error("at least one address is needed (to turn the endpoint off: control.enabled = false)")]
    NoListenAddress,
    /// A `listen` address is not loopback and `allow-remote` is not set.
    #[error(
        "{addr} is not a loopback address; the control endpoint has no authentication, so \
         listening beyond this host needs control.allow-remote = true"
    )]
    RemoteWithoutAllowRemote {
        /// The first such address.
        addr: SocketAddr,
    },
}

impl ControlConfigError {
    /// The configuration key at fault.
    pub const fn key(&self) -> &'static str {
        match self {
            Self::NoListenAddress | Self::RemoteWithoutAllowRemote { .. } => "control.listen",
        }
    }
}

/// What the control endpoint can do. Adding an operation: a variant here, its method and path
/// below, its handler in [`respond`], and a `scoped ctl` command in `src/ctl.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /health`
    Health,
    /// `GET /stats`
    Stats,
    /// `GET /metrics`
    Metrics,
    /// `POST /reload`
    Reload,
    /// `GET /infra`
    Infra,
    /// `POST /flush?name=NAME&subtree=BOOL`
    Flush,
    /// `POST /flush-all`
    FlushAll,
    /// `GET /lookup?name=NAME&type=TYPE`
    Lookup,
    /// `GET /dump`
    Dump,
}

impl Endpoint {
    /// Every endpoint, for routing.
    const ALL: [Endpoint; 9] = [
        Endpoint::Health,
        Endpoint::Stats,
        Endpoint::Metrics,
        Endpoint::Reload,
        Endpoint::Infra,
        Endpoint::Flush,
        Endpoint::FlushAll,
        Endpoint::Lookup,
        Endpoint::Dump,
    ];

    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/health",
            Endpoint::Stats => "/stats",
            Endpoint::Metrics => "/metrics",
            Endpoint::Reload => "/reload",
            Endpoint::Infra => "/infra",
            Endpoint::Flush => "/flush",
            Endpoint::FlushAll => "/flush-all",
            Endpoint::Lookup => "/lookup",
            Endpoint::Dump => "/dump",
        }
    }

    /// The request method: GET reads, POST changes state.
    pub fn method(self) -> Method {
        match self {
            Endpoint::Health
            | Endpoint::Stats
            | Endpoint::Metrics
            | Endpoint::Infra
            | Endpoint::Lookup
            | Endpoint::Dump => Method::GET,
            Endpoint::Reload | Endpoint::Flush | Endpoint::FlushAll => Method::POST,
        }
    }

    /// The endpoint a request asks for, or why it is refused.
    fn route(method: &Method, path: &str, has_origin: bool) -> Result<Endpoint, Refusal> {
        let Some(endpoint) = Self::ALL.into_iter().find(|e| e.path() == path) else {
            return Err(Refusal::NoSuchEndpoint);
        };
        if *method != endpoint.method() {
            return Err(Refusal::WrongMethod(endpoint));
        }
        if endpoint.method() != Method::GET && has_origin {
            return Err(Refusal::FromWebPage);
        }
        Ok(endpoint)
    }
}

/// Why a request was not routed to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// 404: an unknown path.
    NoSuchEndpoint,
    /// 405 (with `Allow`): a known path asked with another method than its own.
    WrongMethod(Endpoint),
    /// 403: a state-changing request carrying an `Origin` header, i.e. sent by a web page.
    FromWebPage,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::NoSuchEndpoint => StatusCode::NOT_FOUND,
            Refusal::WrongMethod(_) => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::FromWebPage => StatusCode::FORBIDDEN,
        }
    }

    fn response(self, path: &str) -> Response<Full<Bytes>> {
        let message = match self {
            Refusal::NoSuchEndpoint => format!("no such endpoint {path:?}"),
            Refusal::WrongMethod(endpoint) => format!("{path} takes {}", endpoint.method()),
            Refusal::FromWebPage => {
                "requests from web pages (with an Origin header) may not change state".into()
            }
        };
        let mut response = error_response(self.status(), &message);
        if let Refusal::WrongMethod(endpoint) = self
            && let Ok(allow) = HeaderValue::from_str(endpoint.method().as_str())
        {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}

/// The running resolver as the control endpoint sees it: its counters and what it may act on.
#[derive(Clone)]
pub struct RunningResolver {
    /// The engine (its counters, caches and allowlist).
    pub recursor: Recursor,
    /// The front end's counters.
    pub frontend: Arc<FrontendStats>,
    /// The front end's labelled metrics (latency, types, SERVFAIL reasons).
    pub metrics: Arc<scoped_server::FrontendMetrics>,
    /// The front end's ACL and ECS policy, replaced by a reload.
    pub rules: scoped_server::RulesHandle,
    /// The upstream transport's counters.
    pub transport: Arc<TransportCounters>,
    /// Where the ECS allowlist is read from, if anywhere.
    pub allowlist_path: Option<PathBuf>,
    /// The configuration file and what a reload applies ([`crate::reconfigure`]).
    pub config: Arc<crate::reconfigure::LiveConfig>,
    /// When the resolver started.
    pub started: Instant,
}

/// The control endpoint's sockets, bound and ready to serve.
#[derive(Debug)]
pub struct ControlEndpoint {
    listeners: Vec<TcpListener>,
}

/// Binds a TCP listener on every address of `config`.
pub async fn bind(config: &ControlConfig) -> io::Result<ControlEndpoint> {
    let mut listeners = Vec::with_capacity(config.listen.len());
    for addr in &config.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?;
        listeners.push(listener);
    }
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no control listen address",
        ));
    }
    Ok(ControlEndpoint { listeners })
}

impl ControlEndpoint {
    /// The addresses actually bound (the real port where port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives requests in progress
    /// [`SHUTDOWN_GRACE`] to finish, and returns.
    pub async fn run(self, resolver: RunningResolver, shutdown: impl Future<Output = ()>) {
        let resolver = Arc::new(resolver);
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            // `TcpListener::accept` is cancel-safe: the losers of the race lose no connection.
            let any_listener = select_all(self.listeners.iter().map(|l| Box::pin(l.accept())));
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                (accepted, _, _) = any_listener => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("control endpoint: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                debug!(%peer, "control endpoint: {MAX_CONNECTIONS} connections open, closing");
                continue;
            };
            let resolver = Arc::clone(&resolver);
            let service = service_fn(move |request| {
                let resolver = Arc::clone(&resolver);
                async move { Ok::<_, Infallible>(respond(&resolver, request).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    debug!(%peer, "control connection: {e}");
                }
                drop(slot);
            });
        }
        drop(self.listeners);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            debug!("control endpoint: requests still running at shutdown were abandoned");
        }
        info!("control endpoint stopped");
    }
}

/// Answers one request.
async fn respond(
    resolver: &Arc<RunningResolver>,
    request: Request<Incoming>,
) -> Response<cache::Body> {
    let has_origin = request.headers().contains_key(header::ORIGIN);
    let path = request.uri().path();
    let endpoint = match Endpoint::route(request.method(), path, has_origin) {
        Ok(endpoint) => endpoint,
        Err(refusal) => return cache::boxed(refusal.response(path)),
    };
    let whole = match endpoint {
        Endpoint::Dump => return cache::dump(resolver),
        Endpoint::Lookup => cache::lookup(resolver, request.uri().query().unwrap_or("")).await,
        Endpoint::Health => {
            body_response(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
        }
        Endpoint::Stats => match snapshot(resolver).await {
            Ok(snapshot) => json_response(StatusCode::OK, &snapshot.to_json()),
            Err(problem) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &problem.to_string()),
        },
        Endpoint::Metrics => match snapshot(resolver)
            .await
            .and_then(Snapshot::into_openmetrics)
        {
            Ok(text) => body_response(StatusCode::OK, OPENMETRICS_CONTENT_TYPE, text),
            Err(problem) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &problem.to_string()),
        },
        Endpoint::Reload => reload(resolver).await,
        Endpoint::Flush => flush(resolver, request.uri().query().unwrap_or("")),
        Endpoint::FlushAll => {
            resolver.recursor.flush_all();
            info!("caches flushed (control endpoint)");
            json_response(StatusCode::OK, &json!({ "flushed": "all" }))
        }
        Endpoint::Infra => json_response(StatusCode::OK, &infra_json(&resolver.recursor)),
    };
    cache::boxed(whole)
}

/// `POST /flush?name=NAME&subtree=BOOL`: forget a name (or a whole subtree) in both caches.
fn flush(resolver: &Arc<RunningResolver>, query: &str) -> Response<Full<Bytes>> {
    let mut name = None;
    let mut subtree = false;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("name", text) => name = Some(text.to_owned()),
            ("subtree", "true" | "1") => subtree = true,
            ("subtree", "false" | "0") => subtree = false,
            (key, value) => {
                let problem =
                    format!("unexpected parameter {key}={value:?} (name, subtree=true|false)");
                return error_response(StatusCode::BAD_REQUEST, &problem);
            }
        }
    }
    let Some(text) = name else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the name to flush is missing (?name=…)",
        );
    };
    let parsed = hickory_proto::rr::Name::from_ascii(&text).map(|mut n| {
        n.set_fqdn(true);
        n
    });
    match parsed {
        Ok(name) => {
            resolver.recursor.flush(&name, subtree);
            info!(%name, subtree, "flushed (control endpoint)");
            json_response(
                StatusCode::OK,
                &json!({ "flushed": name.to_string(), "subtree": subtree }),
            )
        }
        Err(e) => error_response(
            StatusCode::BAD_REQUEST,
            &format!("{text:?} is not a domain name: {e}"),
        ),
    }
}

/// `GET /infra`: the nameserver table — what server selection knows of every address.
fn infra_json(recursor: &scoped_recursor::Recursor) -> serde_json::Value {
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    let servers: Vec<serde_json::Value> = recursor
        .infra()
        .snapshot(tokio::time::Instant::now())
        .into_iter()
        .map(|e| {
            json!({
                "address": e.addr.to_string(),
                "srtt_ms": e.srtt.map(ms),
                "rttvar_ms": e.rttvar.map(ms),
                "rto_ms": ms(e.rto),
                "state": e.state.to_string(),
                "consecutive_timeouts": e.consecutive_timeouts,
                "queries": e.queries,
                "timeouts": e.timeouts,
                "last_used_seconds_ago": e.last_used.as_secs(),
                "edns_broken": e.edns_broken,
                "ecs": e.ecs.to_string(),
            })
        })
        .collect();
    json!({ "servers": servers })
}

/// `POST /reload`: 200 with the file and its entry count; 409 when no allowlist file is
/// configured; 500 with the file and line when the file is bad (the old allowlist stays).
async fn reload(resolver: &Arc<RunningResolver>) -> Response<Full<Bytes>> {
    let resolver = Arc::clone(resolver);
    if resolver.config.path.is_some() {
        return reload_configuration(resolver).await;
    }
    let outcome = tokio::task::spawn_blocking(move || {
        reload_allowlist(
            &resolver.recursor,
            resolver.allowlist_path.as_deref(),
            ReloadTrigger::Control,
        )
    })
    .await;
    match outcome {
        Ok(Ok(reloaded)) => json_response(
            StatusCode::OK,
            &json!({
                "reloaded": "ecs-allowlist",
                "file": reloaded.file.display().to_string(),
                "entries": reloaded.entries,
            }),
        ),
        Ok(Err(problem @ ReloadError::NotConfigured)) => {
            error_response(StatusCode::CONFLICT, &problem.to_string())
        }
        Ok(Err(problem @ ReloadError::Invalid(_))) => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, &problem.to_string())
        }
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("reload failed: {e}"),
        ),
    }
}

/// `POST /reload` when the resolver runs from a file: the whole configuration is re-read.
async fn reload_configuration(resolver: Arc<RunningResolver>) -> Response<Full<Bytes>> {
    let outcome = tokio::task::spawn_blocking(move || {
        resolver.config.reload(
            crate::reconfigure::Targets {
                recursor: &resolver.recursor,
                rules: &resolver.rules,
            },
            ReloadTrigger::Control,
        )
    })
    .await;
    match outcome {
        Ok(Ok(done)) => json_response(
            StatusCode::OK,
            &json!({
                "reloaded": "configuration",
                "file": done.file.display().to_string(),
                "ecs-allowlist": done.allowlist.map(|p| p.display().to_string()),
                "entries": done.entries,
                "applied": done.applied,
                "needs-restart": done.needs_restart,
                "certificate": done.certificate.map(|p| p.display().to_string()),
            }),
        ),
        Ok(Err(problem)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &problem.to_string()),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("reload failed: {e}"),
        ),
    }
}

/// Takes a [`Snapshot`] off the runtime's worker threads: counting tailored entries per scope
/// walks the whole tailored cache.
async fn snapshot(resolver: &Arc<RunningResolver>) -> Result<Snapshot, StatsError> {
    let resolver = Arc::clone(resolver);
    tokio::task::spawn_blocking(move || Snapshot::take(&resolver))
        .await
        .map_err(StatsError::Snapshot)
}

/// Why `/stats` or `/metrics` could not answer (500).
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The task reading the counters and cache sizes did not finish (it panicked).
    #[error("statistics failed: {0}")]
    Snapshot(#[source] tokio::task::JoinError),
    /// The OpenMetrics text could not be written.
    #[error("encoding the metrics failed: {0}")]
    Encode(#[source] std::fmt::Error),
}

fn body_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut text =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    body_response(status, "application/json", text)
}

/// Every failure answers `{"error": "…"}`; `scoped ctl` prints the message.
fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": message }))
}

mod cache;
mod labelled;
mod snapshot;

pub use snapshot::*;

#[cfg(test)]
mod tests;
