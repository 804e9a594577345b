//! The file as written: `resolver.toml`'s sections as serde reads them (kebab-case, unknown
//! keys rejected), each with the defaults a public deployment can run on. `Config::load` (in
//! the parent module) validates them into each crate's runtime configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use scoped_recursor::qmin::QminMode;
use serde::Deserialize;

use super::*;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FileConfig {
    /// `[server]`: listeners.
    pub server: ServerSection,
    /// `[acl]`: who may query.
    pub acl: AclSection,
    /// `[recursion]`: the iterative engine.
    pub recursion: RecursionSection,
    /// `[cache]`: sizes and TTL bounds.
    pub cache: CacheSection,
    /// `[log]`: logging.
    pub log: LogSection,
    /// `[ecs]`: EDNS Client Subnet.
    pub ecs: EcsSection,
    /// `[control]`: the local HTTP control endpoint (stats, metrics, reload).
    pub control: ControlSection,
    /// `[local]`: local zones and data, answered without asking anyone.
    pub local: LocalSection,
    /// `[dnssec]`: validation.
    pub dnssec: DnssecSection,
    /// `[dns64]`: AAAA synthesised from A for IPv6-only clients.
    pub dns64: Dns64Section,
    /// `[[stub-zones]]`: zones iterated from their own servers.
    pub stub_zones: Vec<StubZoneEntry>,
    /// `[[forward-zones]]`: zones asked of recursive forwarders.
    pub forward_zones: Vec<ForwardZoneEntry>,
    /// `[rate-limit]`: per-client UDP rate limiting.
    pub rate_limit: RateLimitSection,
    /// `[cookies]`: DNS cookies answered to clients.
    pub cookies: CookiesSection,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ServerSection {
    /// Addresses to listen on (UDP and TCP).
    pub listen: Vec<SocketAddr>,
    /// Worker threads; 0 means one per CPU core.
    pub threads: usize,
    /// EDNS UDP payload size offered to clients.
    pub edns_udp_payload: u16,
    /// UDP queries being resolved at once (beyond: dropped and counted).
    pub udp_max_inflight: usize,
    /// TCP connections, all clients together.
    pub tcp_max_connections: usize,
    /// TCP connections from one client address.
    pub tcp_max_connections_per_client: usize,
    /// Idle time before a TCP connection is closed.
    #[serde(with = "humantime_serde")]
    pub tcp_idle_timeout: Duration,
    /// Time to receive a started TCP message.
    #[serde(with = "humantime_serde")]
    pub tcp_read_timeout: Duration,
    /// Queries in flight on one TCP connection.
    pub tcp_max_inflight_per_connection: usize,
    /// Time a client gets to take a response off the wire before its connection is closed.
    #[serde(with = "humantime_serde")]
    pub tcp_write_timeout: Duration,
    /// The user to run as once every socket is bound, when started as root.
    pub user: Option<String>,
    /// The group to run as (default: the user's primary group).
    pub group: Option<String>,
    /// The answer to `id.server` and `hostname.bind` (TXT, class CHAOS); unset: REFUSED.
    pub identity: Option<String>,
    /// The answer to `version.bind` and `version.server` (TXT, class CHAOS); unset: REFUSED.
    pub version: Option<String>,
    /// Load balancers that put a PROXY v2 header in front of every query (contract key).
    pub proxy_protocol_from: Vec<IpNet>,
    /// Addresses to serve DNS over TLS on (RFC 7858).
    pub dot_listen: Vec<SocketAddr>,
    /// Addresses to serve DNS over HTTPS on (RFC 8484, path `/dns-query`).
    pub doh_listen: Vec<SocketAddr>,
    /// The PEM certificate chain of the DoT and DoH listeners.
    pub tls_certificate: Option<PathBuf>,
    /// The PEM private key of that certificate.
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers name the DoH client.
    pub doh_trusted_proxies: Vec<IpNet>,
}

impl Default for ServerSection {
    fn default() -> Self {
        let d = ServerConfig::default();
        Self {
            listen: d.listen.clone(),
            threads: 0,
            edns_udp_payload: d.edns_udp_payload,
            udp_max_inflight: d.udp_max_inflight,
            tcp_max_connections: d.tcp_max_connections,
            tcp_max_connections_per_client: d.tcp_max_connections_per_client,
            tcp_idle_timeout: d.tcp_idle_timeout,
            tcp_read_timeout: d.tcp_read_timeout,
            tcp_max_inflight_per_connection: d.tcp_max_inflight_per_connection,
            tcp_write_timeout: d.tcp_write_timeout,
            user: None,
            group: None,
            identity: None,
            version: None,
            proxy_protocol_from: Vec::new(),
            dot_listen: Vec::new(),
            doh_listen: Vec::new(),
            tls_certificate: None,
            tls_key: None,
            doh_trusted_proxies: Vec::new(),
        }
    }
}

/// `[acl]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AclSection {
    /// Client networks allowed to query; everyone else gets REFUSED.
    pub allow: Vec<IpNet>,
}

impl Default for AclSection {
    fn default() -> Self {
        Self {
            allow: scoped_server::default_allow(),
        }
    }
}

/// `[recursion]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RecursionSection {
    /// A named.root-style file replacing the compiled-in root servers (relative to this file).
    pub root_hints: Option<PathBuf>,
    /// Source addresses for upstream queries (one picked per query); empty: the OS chooses.
    pub outgoing_addresses: Vec<IpAddr>,
    /// Networks never sent a query.
    pub do_not_query: Vec<IpNet>,
    /// Allow querying nameservers on loopback/unspecified addresses (tests, labs, a local
    /// authoritative). Off by default.
    pub allow_loopback_servers: bool,
    /// Query IPv4 nameserver addresses (default true); false on an IPv6-only host, like
    /// Unbound's `do-ip4: no`.
    pub ipv4: bool,
    /// Query IPv6 nameserver addresses: `"auto"` (when this machine has an IPv6 route),
    /// `true` or `false`.
    pub ipv6: Ipv6Upstream,
    /// Destination port of upstream queries. Testing only: 53 for real authoritatives.
    pub upstream_port: u16,
    /// Overall time budget for one client question.
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    /// The longest wait for one server before trying the next: the ceiling of each server's
    /// adaptive retransmission timeout (SRTT-based, 376 ms for a server never measured).
    #[serde(with = "humantime_serde")]
    pub server_timeout: Duration,
    /// Referrals followed for one name.
    pub max_referrals: u32,
    /// CNAME links followed for one question.
    pub max_cname_chain: usize,
    /// Nesting of sub-queries for nameserver addresses.
    pub max_subquery_depth: u32,
    /// Upstream queries one client question may cause.
    pub max_upstream_queries: u32,
    /// Upstream queries in flight at once, all questions together.
    pub max_outstanding_upstream: usize,
    /// Records a reply from an authoritative server may hold.
    pub max_records_per_reply: usize,
    /// Nameservers measured in the background beside one query at most (never-measured ones,
    /// explorations, probes of servers that stopped answering); 0: none.
    pub background_measurements: usize,
    /// Send DNS cookies to authoritatives and drop cookie-less replies from servers that use
    /// them (RFC 7873).
    pub cookies: bool,
    /// QNAME minimisation (RFC 9156): "relaxed" (default), "strict" or "off".
    pub qname_minimisation: QnameMinimisation,
}

/// `[recursion] qname-minimisation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QnameMinimisation {
    /// Minimise, falling back to the full name where servers mishandle minimised questions.
    Relaxed,
    /// Minimise and believe every answer (an NXDOMAIN for an ancestor ends the resolution).
    Strict,
    /// Send the full name to every server.
    Off,
}

impl From<QnameMinimisation> for QminMode {
    fn from(mode: QnameMinimisation) -> Self {
        match mode {
            QnameMinimisation::Relaxed => QminMode::Relaxed,
            QnameMinimisation::Strict => QminMode::Strict,
            QnameMinimisation::Off => QminMode::Off,
        }
    }
}

impl Default for RecursionSection {
    fn default() -> Self {
        let d = RecursorConfig::default();
        Self {
            root_hints: None,
            outgoing_addresses: Vec::new(),
            do_not_query: d.do_not_query,
            allow_loopback_servers: d.allow_loopback_servers,
            ipv4: d.ipv4_upstream,
            ipv6: Ipv6Upstream::Auto,
            upstream_port: d.upstream_port,
            query_timeout: d.query_timeout,
            server_timeout: d.infra.max_rto,
            max_referrals: d.max_referrals,
            max_cname_chain: d.max_cname_chain,
            max_subquery_depth: d.max_subquery_depth,
            max_upstream_queries: d.max_upstream_queries,
            max_outstanding_upstream: d.max_outstanding_upstream,
            max_records_per_reply: d.max_records_per_reply,
            background_measurements: d.infra.max_background_per_query,
            cookies: d.infra.cookies,
            qname_minimisation: QnameMinimisation::Relaxed,
        }
    }
}

/// Whether upstream queries may go to IPv6 nameservers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Upstream {
    /// Yes, when this machine has a route to the IPv6 internet (checked at start-up).
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

impl<'de> Deserialize<'de> for Ipv6Upstream {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Flag(true) => Ok(Self::On),
            Raw::Flag(false) => Ok(Self::Off),
            Raw::Word(w) if w == "auto" => Ok(Self::Auto),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "{w:?}: expected true, false or \"auto\""
            ))),
        }
    }
}

/// An address of a.root-servers.net, used only as the destination of a route lookup.
pub(super) const IPV6_ROUTE_PROBE: &str = "[2001:503:ba3e::2:30]:53";

impl Ipv6Upstream {
    /// Resolve `auto`: is there a route to the IPv6 internet from `sources` (or from any
    /// address)? `connect` on a UDP socket only looks the route up; nothing is sent.
    pub fn enabled(self, sources: &[IpAddr]) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => {
                let mut v6_sources: Vec<IpAddr> =
                    sources.iter().copied().filter(IpAddr::is_ipv6).collect();
                if v6_sources.is_empty() {
                    v6_sources.push(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
                }
                v6_sources.into_iter().any(|ip| {
                    std::net::UdpSocket::bind(SocketAddr::new(ip, 0))
                        .and_then(|socket| socket.connect(IPV6_ROUTE_PROBE))
                        .is_ok()
                })
            }
        }
    }
}

/// `[cache]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct CacheSection {
    /// Memory bound: bytes as an integer, or a string with a unit ("256MiB", "1GiB").
    pub max_size: ByteSize,
    /// Lower bound of cached TTLs, seconds.
    pub min_ttl: u32,
    /// Upper bound of cached TTLs, seconds.
    pub max_ttl: u32,
    /// Upper bound of negative-answer TTLs, seconds (RFC 2308 §5).
    pub max_negative_ttl: u32,
    /// Serve expired data, with TTL 30, when every server for it fails or is slower than
    /// `stale-client-timeout` (RFC 8767).
    pub serve_stale: bool,
    /// How long past its TTL data is kept to be served stale, seconds.
    pub max_stale: u32,
    /// How long a client whose question has stale data waits for a fresh answer; "0s" waits
    /// for the whole resolution (stale data then answers only failures).
    #[serde(with = "humantime_serde")]
    pub stale_client_timeout: Duration,
    /// Refresh an entry in the background when a client hits it in the last part of its TTL.
    pub prefetch: bool,
    /// That last part, in percent of the TTL (1–99).
    pub prefetch_percent: u8,
    /// Memory bound of the fast path's cache of rendered answers; 0 turns the fast path off.
    pub answer_cache_size: ByteSize,
}

impl Default for CacheSection {
    fn default() -> Self {
        let d = CacheConfig::default();
        Self {
            max_size: ByteSize(d.max_bytes),
            min_ttl: d.min_ttl,
            max_ttl: d.max_ttl,
            max_negative_ttl: d.max_negative_ttl,
            serve_stale: true,
            max_stale: d.max_stale,
            stale_client_timeout: RecursorConfig::default()
                .stale_client_timeout
                .unwrap_or_default(),
            prefetch: true,
            prefetch_percent: d.prefetch_percent,
            answer_cache_size: ByteSize(RecursorConfig::default().answer_cache_bytes),
        }
    }
}

/// `[ecs]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct EcsSection {
    /// Send client subnets to allowlisted authoritatives at all.
    pub enabled: bool,
    /// The allowlist file (relative to this file): addresses, prefixes and zones that may
    /// receive ECS. A missing key means an empty allowlist: no ECS leaves the resolver (E01).
    pub allowlist: Option<PathBuf>,
    /// Most bits of an IPv4 client address ever sent (E02).
    pub ipv4_prefix_length: u8,
    /// Most bits of an IPv6 client address ever sent (E02).
    pub ipv6_prefix_length: u8,
    /// Shorter lengths for given client netblocks (E03).
    pub netblocks: Vec<NetblockLength>,
    /// Clients that contribute no address upstream (E05); absent: the built-in list.
    pub non_routable: Option<Vec<IpNet>>,
    /// Front ends (load balancers) whose ECS option names their clients (E08).
    pub trusted_front_ends: Vec<IpNet>,
    /// Tailored answers kept per name and type, per address family (E21).
    pub max_tailored_per_name: usize,
    /// Memory bound of the tailored-answer cache.
    pub cache_max_size: ByteSize,
}

/// One `[[ecs.netblocks]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetblockLength {
    /// The client netblock.
    pub net: IpNet,
    /// The prefix length sent for its clients.
    pub length: u8,
}

impl Default for EcsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            allowlist: None,
            ipv4_prefix_length: scoped_ecs::DEFAULT_V4_MAX_SOURCE,
            ipv6_prefix_length: scoped_ecs::DEFAULT_V6_MAX_SOURCE,
            netblocks: Vec::new(),
            non_routable: None,
            trusted_front_ends: Vec::new(),
            max_tailored_per_name: 100,
            cache_max_size: ByteSize(256 << 20),
        }
    }
}

/// `[control]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ControlSection {
    /// Run the control endpoint at all.
    pub enabled: bool,
    /// Addresses of the HTTP control endpoint (`/stats`, `/metrics`, `/reload`, `/health`).
    #[serde(deserialize_with = "control_listen")]
    pub listen: Vec<SocketAddr>,
    /// Allow non-loopback `listen` addresses. The endpoint has no authentication: whoever
    /// reaches it can read the statistics and reload the allowlist.
    pub allow_remote: bool,
}

/// `control.listen`: IP addresses with ports; the error names the key (the same word appears in
/// `[server]`).
fn control_listen<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SocketAddr>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|text| {
            text.parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "control.listen: {text:?} is not an IP address and port like \
                     \"127.0.0.1:8953\" or \"[::1]:8953\" (host names are not resolved)"
                ))
            })
        })
        .collect()
}

impl Default for ControlSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: vec![crate::control::DEFAULT_LISTEN],
            allow_remote: false,
        }
    }
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct LogSection {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `scoped_recursor=trace,info`…
    pub level: String,
    /// Log straight to the systemd journal (native protocol, typed fields) instead of stderr.
    pub journald: bool,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
            journald: false,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// A size in bytes, written as an integer or as a string with a binary unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(s) => parse_byte_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like \"256MiB\""))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))
}
