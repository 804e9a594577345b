//! `resolver.toml`: the file format (serde, kebab-case, unknown keys rejected) and its mapping
//! onto the validated runtime configuration of each crate.
//!
//! Every key has a default that is safe for a public deployment; `docs/configuration.md` lists
//! them. A wrong key or value is an error naming the line (toml's span) or the key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use scoped_cache::CacheConfig;
use scoped_recursor::RecursorConfig;
use scoped_recursor::qmin::QminMode;
use scoped_server::ServerConfig;
use serde::Deserialize;

use crate::allowlist::{AllowlistFileError, load_allowlist};
use crate::control::{ControlConfig, ControlConfigError};

mod local;

pub use local::{LocalSection, LocalSectionError, ZoneEntry, ZoneTable};

/// What can be wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, or a value of the wrong type (toml names line and column).
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's error, with line, column and the offending text.
        source: toml::de::Error,
    },
    /// A value that parses but makes no sense.
    #[error("{path}: key `{key}`: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key (`cache.min-ttl`).
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// `ecs.allowlist` names a file that cannot be read or has a bad line.
    #[error("{path}: key `ecs.allowlist`: {source}")]
    Allowlist {
        /// The configuration file.
        path: PathBuf,
        /// The allowlist file and what is wrong with it.
        source: AllowlistFileError,
    },
    /// A `[local]` entry that cannot be used (the message names the line, list, entry, problem).
    #[error("{path}: {source}")]
    Local {
        /// The configuration file.
        path: PathBuf,
        /// The entry, its line and what is wrong.
        source: LocalSectionError,
    },
    /// `[control]` asks for an endpoint the control endpoint refuses.
    #[error("{path}: key `{key}`: {source}", key = .source.key())]
    Control {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong (its key is [`ControlConfigError::key`]).
        source: ControlConfigError,
    },
}

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
const IPV6_ROUTE_PROBE: &str = "[2001:503:ba3e::2:30]:53";

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
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
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

/// Everything the daemon needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The front end.
    pub server: ServerConfig,
    /// The engine.
    pub recursor: RecursorConfig,
    /// The cache.
    pub cache: CacheConfig,
    /// Source addresses for upstream queries.
    pub outgoing_addresses: Vec<IpAddr>,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Logging.
    pub log_format: LogFormat,
    /// Logging filter.
    pub log_level: String,
    /// Where the ECS allowlist was read from (reloaded on SIGHUP and `POST /reload`), if
    /// anywhere.
    pub allowlist_path: Option<PathBuf>,
    /// The control endpoint; `None` when `[control] enabled = false`.
    pub control: Option<ControlConfig>,
    /// `[server] user` and `group`: who to become after binding (see `crate::privileges`).
    pub run_as: crate::privileges::RunAsNames,
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The built-in defaults (what an empty file gives).
    pub fn defaults() -> Self {
        Self::parse("", Path::new("<defaults>"))
            .unwrap_or_else(|e| unreachable!("defaults are valid: {e}"))
    }

    /// Parse and validate `text`, read from `path` (for messages and relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |key: &'static str, problem: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            problem,
        };
        checks::check(&file).map_err(|(key, problem)| invalid(key, problem))?;
        let FileConfig {
            server,
            acl,
            recursion,
            cache,
            log,
            ecs,
            control,
            local,
            dnssec,
            dns64,
            stub_zones,
        } = file;

        if server.listen.is_empty() {
            return Err(invalid(
                "server.listen",
                "at least one address is needed".into(),
            ));
        }
        if server.edns_udp_payload < 512 {
            return Err(invalid(
                "server.edns-udp-payload",
                "must be at least 512".into(),
            ));
        }
        for (key, value) in [
            ("server.udp-max-inflight", server.udp_max_inflight),
            ("server.tcp-max-connections", server.tcp_max_connections),
            (
                "server.tcp-max-connections-per-client",
                server.tcp_max_connections_per_client,
            ),
            (
                "server.tcp-max-inflight-per-connection",
                server.tcp_max_inflight_per_connection,
            ),
            (
                "recursion.max-outstanding-upstream",
                recursion.max_outstanding_upstream,
            ),
            (
                "recursion.max-records-per-reply",
                recursion.max_records_per_reply,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if cache.min_ttl > cache.max_ttl {
            return Err(invalid(
                "cache.min-ttl",
                format!(
                    "{} is larger than cache.max-ttl ({})",
                    cache.min_ttl, cache.max_ttl
                ),
            ));
        }
        if cache.max_size.0 < 1 << 20 {
            return Err(invalid("cache.max-size", "must be at least 1MiB".into()));
        }
        if recursion.server_timeout.is_zero() || recursion.query_timeout < recursion.server_timeout
        {
            return Err(invalid(
                "recursion.query-timeout",
                "must be positive and at least recursion.server-timeout".into(),
            ));
        }
        if recursion.upstream_port == 0 {
            return Err(invalid("recursion.upstream-port", "must not be 0".into()));
        }
        let ipv4 = recursion.ipv4;
        let ipv6 = recursion.ipv6.enabled(&recursion.outgoing_addresses);
        // How the IPv6 key came to be off, for the messages below.
        let ipv6_off = match recursion.ipv6 {
            Ipv6Upstream::Auto => "recursion.ipv6 is \"auto\" and this machine has no IPv6 route",
            _ => "recursion.ipv6 is false",
        };
        if !ipv4 && !ipv6 {
            return Err(invalid(
                "recursion.ipv4",
                format!("recursion.ipv4 is false and {ipv6_off}: no nameserver could be asked"),
            ));
        }
        if !recursion.outgoing_addresses.is_empty() {
            if !ipv6 && recursion.outgoing_addresses.iter().all(|a| a.is_ipv6()) {
                return Err(invalid(
                    "recursion.outgoing-addresses",
                    format!("only IPv6 addresses given but {ipv6_off}"),
                ));
            }
            if !ipv4 && recursion.outgoing_addresses.iter().all(|a| a.is_ipv4()) {
                return Err(invalid(
                    "recursion.outgoing-addresses",
                    "only IPv4 addresses given but recursion.ipv4 is false".into(),
                ));
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log.level) {
            return Err(invalid("log.level", e.to_string()));
        }
        // Validated even when disabled, so turning it on later cannot reveal a mistake already
        // in the file.
        let control_config =
            ControlConfig::new(control.listen, control.allow_remote).map_err(|source| {
                ConfigError::Control {
                    path: path.to_owned(),
                    source,
                }
            })?;
        let control = control.enabled.then_some(control_config);
        let local = local.build(text).map_err(|source| ConfigError::Local {
            path: path.to_owned(),
            source,
        })?;

        let base = path.parent().unwrap_or(Path::new("."));
        let policy = subnet_policy(&ecs).map_err(|(key, problem)| invalid(key, problem))?;
        let allowlist_path = ecs.allowlist.as_ref().map(|p| base.join(p));
        let allowlist = match &allowlist_path {
            Some(file) => load_allowlist(file).map_err(|source| ConfigError::Allowlist {
                path: path.to_owned(),
                source,
            })?,
            None => scoped_ecs::Allowlist::empty(),
        };
        if ecs.max_tailored_per_name == 0 {
            return Err(invalid(
                "ecs.max-tailored-per-name",
                "must be at least 1".into(),
            ));
        }

        let mut recursor = RecursorConfig::default();
        if let Some(hints_path) = &recursion.root_hints {
            let full = path.parent().unwrap_or(Path::new(".")).join(hints_path);
            let text = std::fs::read_to_string(&full)
                .map_err(|e| invalid("recursion.root-hints", format!("{}: {e}", full.display())))?;
            recursor.root_hints = scoped_recursor::parse_root_hints(&text)
                .map_err(|e| invalid("recursion.root-hints", format!("{}: {e}", full.display())))?;
            let usable = |addr: IpAddr| match addr.to_canonical() {
                IpAddr::V4(_) => ipv4,
                IpAddr::V6(_) => ipv6,
            };
            if !recursor.root_hints.iter().any(|hint| usable(hint.addr)) {
                let (family, off) = if ipv4 {
                    ("IPv4", ipv6_off)
                } else {
                    ("IPv6", "recursion.ipv4 is false")
                };
                return Err(invalid(
                    "recursion.root-hints",
                    format!(
                        "{}: no {family} address among the hints, and {off}",
                        full.display()
                    ),
                ));
            }
        }
        recursor.upstream_port = recursion.upstream_port;
        recursor.do_not_query = recursion.do_not_query;
        recursor.allow_loopback_servers = recursion.allow_loopback_servers;
        recursor.ipv4_upstream = ipv4;
        recursor.ipv6_upstream = ipv6;
        recursor.query_timeout = recursion.query_timeout;
        // The longest wait for one server is the ceiling of its adaptive RTO.
        recursor.infra.max_rto = recursion.server_timeout;
        recursor.infra.initial_rto = recursor.infra.initial_rto.min(recursion.server_timeout);
        recursor.infra.min_rto = recursor.infra.min_rto.min(recursion.server_timeout);
        if let Err(e) = recursor.infra.validate() {
            return Err(invalid("recursion.server-timeout", e.to_string()));
        }
        recursor.max_referrals = recursion.max_referrals;
        recursor.max_cname_chain = recursion.max_cname_chain;
        recursor.max_subquery_depth = recursion.max_subquery_depth;
        recursor.max_upstream_queries = recursion.max_upstream_queries;
        recursor.max_outstanding_upstream = recursion.max_outstanding_upstream;
        recursor.max_records_per_reply = recursion.max_records_per_reply;
        recursor.infra.max_background_per_query = recursion.background_measurements;
        recursor.qname_minimisation = recursion.qname_minimisation.into();
        recursor.ecs_allowlist = allowlist;
        recursor.dnssec = dnssec.resolve(path)?;
        recursor.dns64 = dns64.resolve(path)?;
        recursor.stub_zones = stub::resolve(stub_zones, recursion.upstream_port, path)?;

        let run_as = crate::privileges::RunAsNames {
            user: server.user,
            group: server.group,
        };
        let server_config = ServerConfig {
            listen: server.listen,
            allow: acl.allow,
            edns_udp_payload: server.edns_udp_payload,
            udp_max_inflight: server.udp_max_inflight,
            // One receive loop per worker thread.
            udp_sockets_per_address: if server.threads > 0 {
                server.threads
            } else {
                std::thread::available_parallelism().map_or(1, usize::from)
            },
            tcp_max_connections: server.tcp_max_connections,
            tcp_max_connections_per_client: server.tcp_max_connections_per_client,
            tcp_idle_timeout: server.tcp_idle_timeout,
            tcp_read_timeout: server.tcp_read_timeout,
            tcp_max_inflight_per_connection: server.tcp_max_inflight_per_connection,
            tcp_write_timeout: server.tcp_write_timeout,
            ecs: scoped_server::EcsFrontEnd { policy },
            local: std::sync::Arc::new(local),
            chaos: scoped_server::Chaos {
                identity: server.identity,
                version: server.version,
            },
        };
        if cache.prefetch && !(1..=99).contains(&cache.prefetch_percent) {
            return Err(invalid(
                "cache.prefetch-percent",
                format!("{} is not between 1 and 99", cache.prefetch_percent),
            ));
        }
        recursor.answer_cache_bytes = cache.answer_cache_size.0;
        recursor.stale_client_timeout =
            (!cache.stale_client_timeout.is_zero()).then_some(cache.stale_client_timeout);
        let cache = CacheConfig {
            max_bytes: cache.max_size.0,
            min_ttl: cache.min_ttl,
            max_ttl: cache.max_ttl,
            max_negative_ttl: cache.max_negative_ttl,
            max_stale: if cache.serve_stale {
                cache.max_stale
            } else {
                0
            },
            prefetch_percent: if cache.prefetch {
                cache.prefetch_percent
            } else {
                0
            },
        };
        recursor.scoped_cache = scoped_cache::ScopedCacheConfig {
            max_bytes: ecs.cache_max_size.0,
            max_tailored_per_family: ecs.max_tailored_per_name,
            ttl: cache.clone(),
        };
        Ok(Config {
            server: server_config,
            recursor,
            cache,
            outgoing_addresses: recursion.outgoing_addresses,
            threads: server.threads,
            log_format: log.format,
            log_level: log.level,
            allowlist_path,
            control,
            run_as,
        })
    }
}

/// The client-subnet policy of `[ecs]`; an error names the key.
fn subnet_policy(ecs: &EcsSection) -> Result<scoped_ecs::SubnetPolicy, (&'static str, String)> {
    let mut policy = scoped_ecs::SubnetPolicy::new()
        .with_enabled(ecs.enabled)
        .with_max_lengths(ecs.ipv4_prefix_length, ecs.ipv6_prefix_length)
        .map_err(|e| {
            let key = match e {
                scoped_ecs::PolicyError::LengthTooLong {
                    family: scoped_ecs::Family::V6,
                    ..
                } => "ecs.ipv6-prefix-length",
                _ => "ecs.ipv4-prefix-length",
            };
            (key, e.to_string())
        })?;
    for block in &ecs.netblocks {
        policy = policy
            .with_netblock_length(block.net, block.length)
            .map_err(|e| ("ecs.netblocks", e.to_string()))?;
    }
    if let Some(list) = &ecs.non_routable {
        policy = policy.with_non_routable(list.iter().copied());
    }
    for front_end in &ecs.trusted_front_ends {
        policy = policy.with_trusted_front_end(*front_end);
    }
    Ok(policy)
}

mod checks;
#[cfg(test)]
mod local_tests;
#[cfg(test)]
mod tests;

mod dnssec;
pub use dnssec::DnssecSection;

mod dns64;
#[cfg(test)]
mod dns64_tests;
pub use dns64::Dns64Section;

mod stub;
#[cfg(test)]
mod stub_tests;
pub use stub::StubZoneEntry;
