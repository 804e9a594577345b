//! Binding the listen sockets, then serving on them until shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use scoped_recursor::Resolve;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::encrypted::{self, Accepting};
use crate::metrics::FrontendMetrics;
use crate::pipeline::Pipeline;
use crate::rules::RulesHandle;
use crate::stats::FrontendStats;
use crate::tcp::{self, ConnectionTable, TcpLimits};
use crate::tls::{self, Certificates};
use crate::udp;

/// Pending-connection queue length for each TCP listener.
const TCP_BACKLOG: i32 = 1024;

/// Attempts to find a port free for both UDP and TCP when a listen address asks for port 0.
const PORT_ZERO_ATTEMPTS: usize = 16;

/// The listen sockets, bound and ready to serve.
#[derive(Debug)]
pub struct BoundServer {
    config: ServerConfig,
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    dot: Vec<TcpListener>,
    doh: Vec<TcpListener>,
    certificates: Option<Arc<Certificates>>,
    stats: Arc<FrontendStats>,
    metrics: Arc<FrontendMetrics>,
    rules: RulesHandle,
}

/// Binds a UDP socket and a TCP listener on every listen address of `config`; UDP and TCP share
/// the port, also when port 0 asks for any free one; a TCP listener on every DoT and DoH
/// address, after reading the certificate and key (so call it while the key is readable, before
/// dropping privileges). Must be called inside a tokio runtime.
pub fn bind(config: ServerConfig) -> io::Result<BoundServer> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "scoped_server::bind needs a tokio runtime",
        ));
    }
    let mut udp = Vec::with_capacity(config.listen.len());
    let mut tcp = Vec::with_capacity(config.listen.len());
    for &addr in &config.listen {
        // Errors name the address, so that "address already in use" says which one.
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{addr}: {e}"));
        let (first, tcp_listener) = bind_pair(addr).map_err(named)?;
        let bound = first.local_addr()?;
        udp.push(UdpSocket::from_std(first)?);
        tcp.push(TcpListener::from_std(tcp_listener)?);
        if addr.port() != 0 {
            for _ in 1..config.udp_sockets_per_address {
                udp.push(UdpSocket::from_std(udp_socket(bound).map_err(named)?)?);
            }
        }
    }
    let encrypted = !config.dot_listen.is_empty() || !config.doh_listen.is_empty();
    let certificates = match (&config.tls, encrypted) {
        (Some(files), true) => Some(Certificates::load(files).map_err(io::Error::other)?),
        (None, true) => {
            return Err(io::Error::other(
                "DoT and DoH listeners need a TLS certificate and key",
            ));
        }
        (_, false) => None,
    };
    let encrypted_listeners = |addrs: &[SocketAddr]| {
        addrs
            .iter()
            .map(|&addr| {
                let named = |e: io::Error| io::Error::new(e.kind(), format!("{addr}: {e}"));
                TcpListener::from_std(tcp_listener(addr).map_err(named)?)
            })
            .collect::<io::Result<Vec<_>>>()
    };
    let dot = encrypted_listeners(&config.dot_listen)?;
    let doh = encrypted_listeners(&config.doh_listen)?;
    Ok(BoundServer {
        rules: RulesHandle::new(&config.allow, config.ecs.policy.clone()),
        metrics: Arc::default(),
        config,
        udp,
        tcp,
        dot,
        doh,
        certificates,
        stats: Arc::new(FrontendStats::default()),
    })
}

/// A UDP socket and a TCP listener on the same address and port.
fn bind_pair(addr: SocketAddr) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    if addr.port() != 0 {
        return Ok((udp_socket(addr)?, tcp_listener(addr)?));
    }
    let mut last_error = None;
    for _ in 0..PORT_ZERO_ATTEMPTS {
        let udp = udp_socket(addr)?;
        match tcp_listener(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

fn socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    if addr.is_ipv6() {
        // Keep [::] from claiming the IPv4 port too, so 0.0.0.0 and [::] can both be listed.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn udp_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = socket(addr, Type::DGRAM, Protocol::UDP)?;
    // Lets several sockets (later: one per worker thread) share a fixed port. Not with port 0:
    // the kernel could then hand two servers the same ephemeral port.
    if addr.port() != 0 {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
    // Restart without waiting for the old connections' TIME_WAIT to clear.
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(TCP_BACKLOG)?;
    Ok(socket.into())
}

impl BoundServer {
    /// The addresses actually bound, one per listen address (UDP and TCP share it), with the
    /// real port where port 0 was asked for.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|listener| listener.local_addr().ok())
            .collect()
    }

    /// The DNS over TLS addresses actually bound.
    pub fn dot_addrs(&self) -> Vec<SocketAddr> {
        self.dot
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The DNS over HTTPS addresses actually bound.
    pub fn doh_addrs(&self) -> Vec<SocketAddr> {
        self.doh
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The certificate of the encrypted listeners, to reload it while serving; `None` without
    /// DoT and DoH listeners.
    pub fn certificates(&self) -> Option<Arc<Certificates>> {
        self.certificates.clone()
    }

    /// The front end's counters; keep a clone to read them while the server runs.
    pub fn stats(&self) -> Arc<FrontendStats> {
        Arc::clone(&self.stats)
    }

    /// The labelled metrics (latency, types, SERVFAIL reasons); keep a clone to read them.
    pub fn metrics(&self) -> Arc<FrontendMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The ACL and ECS policy the server will use; replacing them through this handle (a
    /// reload) takes effect for the next query, also while it serves.
    pub fn rules(&self) -> RulesHandle {
        self.rules.clone()
    }

    /// Serves until `shutdown` resolves, then closes every socket and connection and returns.
    /// Queries still in flight at that moment are abandoned.
    pub async fn run(self, resolver: Arc<dyn Resolve>, shutdown: impl Future<Output = ()>) {
        let pipeline = Arc::new(
            Pipeline::with_rules(&self.config, self.rules, resolver, Arc::clone(&self.stats))
                .with_metrics(self.metrics),
        );
        let table = Arc::new(ConnectionTable::new(&self.config));
        let limits = TcpLimits::new(&self.config);
        let mut listeners = JoinSet::new();
        for socket in self.udp {
            listeners.spawn(udp::serve(
                Arc::new(socket),
                Arc::clone(&pipeline),
                self.config.udp_max_inflight,
            ));
        }
        for listener in self.tcp {
            listeners.spawn(tcp::serve(
                listener,
                Arc::clone(&pipeline),
                Arc::clone(&table),
                limits,
            ));
        }
        if let Some(certificates) = &self.certificates {
            let accepting = |listener, alpn: &[&[u8]]| Accepting {
                listener,
                acceptor: tls::server_config(certificates, alpn).into(),
                table: Arc::clone(&table),
                stats: Arc::clone(&self.stats),
                handshake_timeout: self.config.tcp_idle_timeout,
            };
            for listener in self.dot {
                let accepting = accepting(listener, &[tls::ALPN_DOT]);
                listeners.spawn(encrypted::dot::serve(
                    accepting,
                    Arc::clone(&pipeline),
                    limits,
                ));
            }
            let doh = encrypted::doh::Doh {
                pipeline: Arc::clone(&pipeline),
                limits,
                trusted_proxies: self.config.doh_trusted_proxies.clone().into(),
            };
            for listener in self.doh {
                let accepting = accepting(listener, &tls::ALPN_DOH);
                listeners.spawn(encrypted::doh::serve(accepting, doh.clone()));
            }
        }
        shutdown.await;
        listeners.shutdown().await;
    }
}
