//! `resolver.toml`: the file format (serde, kebab-case, unknown keys rejected) and its mapping
//! onto the validated runtime configuration of each crate.
//!
//! Every key has a default that is safe for a public deployment; `docs/configuration.md` lists
//! them. A wrong key or value is an error naming the line (toml's span) or the key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use scoped_cache::CacheConfig;
use scoped_recursor::RecursorConfig;
use scoped_server::ServerConfig;

use crate::allowlist::{AllowlistFileError, load_allowlist};
use crate::control::{ControlConfig, ControlConfigError};

mod file;
mod local;

pub use file::*;
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
    /// `[log] journald`: events go straight to the systemd journal, not stderr.
    pub log_journald: bool,
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
            forward_zones,
            rate_limit,
            cookies,
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
        recursor.infra.cookies = recursion.cookies;
        recursor.qname_minimisation = recursion.qname_minimisation.into();
        recursor.ecs_allowlist = allowlist;
        recursor.dnssec = dnssec.resolve(path)?;
        recursor.dns64 = dns64.resolve(path)?;
        recursor.stub_zones = stub::resolve(stub_zones, recursion.upstream_port, path)?;
        recursor.forward_zones = forward::resolve(
            forward_zones,
            recursion.upstream_port,
            &recursor.stub_zones,
            path,
        )?;

        let tls = tls_files(&server, path).map_err(|(key, problem)| invalid(key, problem))?;
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
            proxy_protocol_from: server.proxy_protocol_from,
            rate_limit: rate_limit.resolve(path)?,
            cookies: cookies.resolve(path)?,
            dot_listen: server.dot_listen,
            doh_listen: server.doh_listen,
            tls,
            doh_trusted_proxies: server.doh_trusted_proxies,
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
            log_journald: log.journald,
            allowlist_path,
            control,
            run_as,
        })
    }
}

/// `[server] tls-certificate` and `tls-key` (relative to the file's directory), which go
/// together and are needed by `dot-listen` and `doh-listen`. The files are read when the
/// listeners are bound, not here: `check-config` may run as a user who cannot read the key.
fn tls_files(
    server: &ServerSection,
    path: &Path,
) -> Result<Option<scoped_server::TlsFiles>, (&'static str, String)> {
    let base = path.parent().unwrap_or(Path::new("."));
    let files = match (&server.tls_certificate, &server.tls_key) {
        (Some(certificate), Some(key)) => Some(scoped_server::TlsFiles {
            certificate: base.join(certificate),
            key: base.join(key),
        }),
        (Some(_), None) => return Err(("server.tls-key", "tls-certificate needs it".into())),
        (None, Some(_)) => {
            return Err(("server.tls-certificate", "tls-key needs it".into()));
        }
        (None, None) => None,
    };
    for (key, listen) in [
        ("server.dot-listen", &server.dot_listen),
        ("server.doh-listen", &server.doh_listen),
    ] {
        if !listen.is_empty() && files.is_none() {
            return Err((
                key,
                "needs server.tls-certificate and server.tls-key".into(),
            ));
        }
    }
    Ok(files)
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

mod abuse;
pub use abuse::{CookiesSection, RateLimitSection};

mod dns64;
#[cfg(test)]
mod dns64_tests;
pub use dns64::Dns64Section;

mod forward;
#[cfg(test)]
mod forward_tests;
mod stub;
#[cfg(test)]
mod stub_tests;
pub use forward::ForwardZoneEntry;
pub use stub::StubZoneEntry;
