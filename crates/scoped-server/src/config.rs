//! The front end's runtime configuration: validated types, every default named once.
//!
//! The binary maps its TOML file onto [`ServerConfig`]; nothing here knows about serde.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use scoped_ecs::SubnetPolicy;

use crate::local::LocalZones;

/// Default listen addresses: loopback only, so a fresh install is never an open resolver, and
/// port 5353 so a newcomer can run it without root. Production sets port 53 explicitly.
pub const DEFAULT_LISTEN: [SocketAddr; 2] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5353),
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5353),
];

/// The EDNS UDP payload size we offer and accept at most (DNS Flag Day 2020: 1232 bytes avoids
/// IP fragmentation on a 1280-byte IPv6 MTU).
pub const DEFAULT_EDNS_UDP_PAYLOAD: u16 = 1232;

/// The UDP payload size of a client without EDNS (RFC 1035 §4.2.1), and the floor for an EDNS
/// client's advertised size (RFC 6891 §6.2.5: values below 512 are treated as 512).
pub const CLASSIC_UDP_PAYLOAD: u16 = 512;

/// Default bound on UDP queries being resolved at once; beyond it datagrams are dropped and counted.
pub const DEFAULT_UDP_MAX_INFLIGHT: usize = 4096;

/// Default bound on open TCP connections, all clients together.
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 128;

/// Default bound on open TCP connections from one client address.
pub const DEFAULT_TCP_MAX_CONNECTIONS_PER_CLIENT: usize = 16;

/// Default time a TCP connection may sit with no query in flight and no byte received before we
/// close it (RFC 7766 §6.2.3 recommends timeouts of the order of seconds).
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time to receive the rest of a TCP message once its first byte arrived (slowloris).
pub const DEFAULT_TCP_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Default time to write one response to a TCP client before giving up on the connection (a
/// client that never reads must not pin a connection slot forever).
pub const DEFAULT_TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Default bound on queries being resolved at once on one TCP connection; the reader stops
/// reading (back-pressure) until one completes.
pub const DEFAULT_TCP_MAX_INFLIGHT_PER_CONNECTION: usize = 32;

/// The front end's ECS settings: how the client subnet of each query is decided (E02, E03, E05,
/// E08–E10). Sending ECS upstream (the allowlist, E01) is the engine's business, not this.
#[derive(Clone, Debug, Default)]
pub struct EcsFrontEnd {
    /// The client-subnet policy, asked once per query. Default: [`SubnetPolicy::new`] — ECS on,
    /// /24 for IPv4 and /56 for IPv6, no per-netblock lengths, the non-routable list
    /// [`scoped_ecs::DEFAULT_NON_ROUTABLE`] (loopback, private, CGNAT, link-local, ULA,
    /// documentation ranges…: such clients contribute no subnet, E05), no trusted front ends (a
    /// client's ECS only shortens the prefix of its own address, E08).
    pub policy: SubnetPolicy,
}

/// The front end's runtime configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Addresses to serve on, UDP and TCP on each. Port 0 picks one free port shared by both
    /// transports. Default: [`DEFAULT_LISTEN`].
    pub listen: Vec<SocketAddr>,
    /// Clients allowed to query; others get REFUSED. IPv4-mapped IPv6 clients are matched as
    /// IPv4. Default: [`default_allow`].
    pub allow: Vec<IpNet>,
    /// EDNS UDP payload size we advertise and the cap on what we send. Default: 1232.
    pub edns_udp_payload: u16,
    /// UDP queries being resolved at once. Default: [`DEFAULT_UDP_MAX_INFLIGHT`].
    pub udp_max_inflight: usize,
    /// UDP sockets per listen address, bound with `SO_REUSEPORT` so the kernel spreads the
    /// clients across them, each with its own receive loop (one per worker thread is the
    /// natural choice). An address with port 0 always gets one. Default: 1.
    pub udp_sockets_per_address: usize,
    /// Open TCP connections in total. Default: [`DEFAULT_TCP_MAX_CONNECTIONS`].
    pub tcp_max_connections: usize,
    /// Open TCP connections per client address. Default:
    /// [`DEFAULT_TCP_MAX_CONNECTIONS_PER_CLIENT`].
    pub tcp_max_connections_per_client: usize,
    /// Idle time between queries before a TCP connection is closed. Default: 10 s.
    pub tcp_idle_timeout: Duration,
    /// Time allowed to receive a started TCP message. Default: 3 s.
    pub tcp_read_timeout: Duration,
    /// Time allowed to write one response. Default: 5 s.
    pub tcp_write_timeout: Duration,
    /// Queries in flight on one TCP connection. Default:
    /// [`DEFAULT_TCP_MAX_INFLIGHT_PER_CONNECTION`].
    pub tcp_max_inflight_per_connection: usize,
    /// Client subnet decision (ECS). Default: [`EcsFrontEnd::default`].
    pub ecs: EcsFrontEnd,
    /// Local zones and data, answered before any cache or engine work. Default: the default
    /// zones ([`LocalZones::defaults`]).
    pub local: Arc<LocalZones>,
    /// CHAOS TXT answers about the server (`id.server`, `version.bind`). Default: none, every
    /// CHAOS question REFUSED.
    pub chaos: crate::Chaos,
    /// Load balancers whose packets start with a PROXY v2 header naming the real client
    /// (`proxy.rs`). Default: none.
    pub proxy_protocol_from: Vec<IpNet>,
    /// Per-client rate limiting over UDP (`ratelimit.rs`). Default: off.
    pub rate_limit: RateLimitConfig,
    /// DNS cookies answered to clients (`cookie.rs`). Default: on, random secret.
    pub cookies: CookieConfig,
    /// Addresses to serve DNS over TLS on (RFC 7858, usually port 853). Needs [`tls`](Self::tls).
    /// Connection limits and timeouts are the TCP ones, counted in the same table. Default: none.
    pub dot_listen: Vec<SocketAddr>,
    /// Addresses to serve DNS over HTTPS on (RFC 8484, path `/dns-query`, usually port 443).
    /// Needs [`tls`](Self::tls). Default: none.
    pub doh_listen: Vec<SocketAddr>,
    /// The certificate chain and private key of the encrypted listeners. Default: none.
    pub tls: Option<TlsFiles>,
    /// Reverse proxies in front of the DoH listener: a request from one of them is taken to come
    /// from the client its `Forwarded` / `X-Forwarded-For` header names. Default: none.
    pub doh_trusted_proxies: Vec<IpNet>,
}

/// Default number of client networks whose rate-limit buckets are kept.
pub const DEFAULT_RATE_LIMIT_TABLE_SIZE: u64 = 100_000;

/// Default slip: every second over-limit answer is a truncated one, the others are dropped.
pub const DEFAULT_RATE_LIMIT_SLIP: u32 = 2;

/// Per-client rate limiting: a token bucket per client /24 (IPv4) and /56 (IPv6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Queries per second each client network may send over UDP; 0 turns limiting off.
    /// A network may burst up to one second's worth. Default: 0.
    pub per_client_qps: u32,
    /// Every `slip`-th over-limit query gets an empty TC=1 answer (BADCOOKIE with a fresh
    /// cookie if it carried a client cookie); the others are dropped. 0 drops them all, 1 answers
    /// them all. Default: [`DEFAULT_RATE_LIMIT_SLIP`].
    pub slip: u32,
    /// Client networks tracked at once (least recently used forgotten). Default:
    /// [`DEFAULT_RATE_LIMIT_TABLE_SIZE`].
    pub table_size: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_client_qps: 0,
            slip: DEFAULT_RATE_LIMIT_SLIP,
            table_size: DEFAULT_RATE_LIMIT_TABLE_SIZE,
        }
    }
}

/// Default interval between server-cookie secret rotations.
pub const DEFAULT_COOKIE_ROTATION: Duration = Duration::from_secs(24 * 3600);

/// Server cookies (RFC 7873, RFC 9018 SipHash-2-4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    /// Answer cookies at all. Default: true.
    pub enabled: bool,
    /// The base secret; instances behind one load balancer must share it so a cookie from one
    /// is valid at the others. `None`: a random secret per process. Default: `None`.
    pub secret: Option<[u8; 16]>,
    /// The secret actually used is derived from the base secret and the rotation period
    /// number; the previous period's is still accepted. At least an hour (a cookie lives an
    /// hour). Default: [`DEFAULT_COOKIE_ROTATION`].
    pub rotation: Duration,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            secret: None,
            rotation: DEFAULT_COOKIE_ROTATION,
        }
    }
}

/// Where the certificate chain and its private key are, both PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_vec(),
            allow: default_allow(),
            edns_udp_payload: DEFAULT_EDNS_UDP_PAYLOAD,
            udp_max_inflight: DEFAULT_UDP_MAX_INFLIGHT,
            udp_sockets_per_address: 1,
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            tcp_max_connections_per_client: DEFAULT_TCP_MAX_CONNECTIONS_PER_CLIENT,
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            tcp_read_timeout: DEFAULT_TCP_READ_TIMEOUT,
            tcp_write_timeout: DEFAULT_TCP_WRITE_TIMEOUT,
            tcp_max_inflight_per_connection: DEFAULT_TCP_MAX_INFLIGHT_PER_CONNECTION,
            ecs: EcsFrontEnd::default(),
            local: Arc::new(LocalZones::defaults()),
            chaos: crate::Chaos::default(),
            proxy_protocol_from: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            cookies: CookieConfig::default(),
            dot_listen: Vec::new(),
            doh_listen: Vec::new(),
            tls: None,
            doh_trusted_proxies: Vec::new(),
        }
    }
}

/// The default ACL: loopback, private (RFC 1918), shared (RFC 6598), link-local and unique-local
/// networks. Never the whole Internet: an open resolver is an amplification tool.
pub fn default_allow() -> Vec<IpNet> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .filter_map(|net| net.parse().ok())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_allow_parses_every_network() {
        assert_eq!(default_allow().len(), 9);
    }

    #[test]
    fn e02_e05_default_ecs_is_on_with_24_and_56_and_private_clients_withheld() {
        let policy = ServerConfig::default().ecs.policy;
        assert!(policy.is_enabled());
        assert_eq!(policy.max_len(scoped_ecs::Family::V4), 24);
        assert_eq!(policy.max_len(scoped_ecs::Family::V6), 56);
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(policy.is_non_routable(ip), "{private}");
        }
        assert!(!policy.is_trusted(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
