//! The engine's runtime configuration (the binary maps `resolver.toml` onto it).

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use scoped_cache::ScopedCacheConfig;
use scoped_dnssec::{Policy, TrustAnchors};
use scoped_ecs::Allowlist;

use crate::infra::InfraConfig;
use crate::qmin::QminMode;

use crate::root_hints::{RootHint, builtin_root_hints};

/// The EDNS0 UDP payload size we advertise upstream (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// Limits and policies of the recursion engine.
#[derive(Clone, Debug)]
pub struct RecursorConfig {
    /// Where iteration starts: the compiled-in IANA root servers unless a file replaces them.
    pub root_hints: Vec<RootHint>,
    /// Destination port of upstream queries. 53 in production; tests and labs whose
    /// authoritatives listen elsewhere on loopback set it (testing only).
    pub upstream_port: u16,
    /// Networks never queried (besides loopback/unspecified, see `allow_loopback_servers`).
    pub do_not_query: Vec<IpNet>,
    /// Allow nameserver addresses in 127/8, ::1 and the unspecified addresses (off by default,
    /// like Unbound's do-not-query-localhost): for tests, labs and a local authoritative.
    pub allow_loopback_servers: bool,
    /// Query IPv4 nameserver addresses. Off on an IPv6-only host (Unbound's `do-ip4: no`):
    /// IPv4 addresses are skipped like those refused by `do_not_query`, and glueless
    /// nameservers are looked up by AAAA only.
    pub ipv4_upstream: bool,
    /// Query IPv6 nameserver addresses.
    pub ipv6_upstream: bool,
    /// Overall time budget for one client question, sub-queries included.
    pub query_timeout: Duration,
    /// Referrals followed for one name before giving up.
    pub max_referrals: u32,
    /// CNAME links followed for one question.
    pub max_cname_chain: usize,
    /// Nesting of sub-queries (nameserver addresses needing their own resolution).
    pub max_subquery_depth: u32,
    /// Upstream queries one client question may cause in total.
    pub max_upstream_queries: u32,
    /// Upstream queries outstanding at once, all client questions together; a query beyond it
    /// waits for a slot within its question's time budget.
    pub max_outstanding_upstream: usize,
    /// Records (all sections) a reply from an authoritative server may hold; a larger one is
    /// refused like a malformed reply (bounded work per reply).
    pub max_records_per_reply: usize,
    /// Servers and zones that may receive ECS (E01); empty: none. Replaceable at run time with
    /// `Recursor::set_allowlist`.
    pub ecs_allowlist: Allowlist,
    /// Limits of the cache of tailored answers (E21).
    pub scoped_cache: ScopedCacheConfig,
    /// Nameserver selection: SRTT, RTO bounds (its `max_rto` is the longest wait for one
    /// server), hold-off and exploration.
    pub infra: InfraConfig,
    /// Serve-stale (RFC 8767), when the cache keeps expired data (its `max_stale` > 0): a
    /// client whose question has stale data waits at most this long for the resolution before
    /// it is answered from the stale data (the resolution goes on and refreshes the cache).
    /// `None`: stale data answers only when the resolution fails.
    pub stale_client_timeout: Option<Duration>,
    /// After a resolution with stale data failed, the same question is answered from the stale
    /// data without trying again for this long (RFC 8767 §5, failure recheck).
    pub stale_recheck: Duration,
    /// QNAME minimisation (RFC 9156): relaxed by default.
    pub qname_minimisation: QminMode,
    /// Memory bound of the fast path's cache of rendered answers, bytes; 0 turns it off.
    pub answer_cache_bytes: u64,
    /// Seed of the randomness in server selection (exploration, tie breaks); `None` seeds it
    /// from the OS. Tests set it for reproducible runs. Query IDs never use it.
    pub selection_seed: Option<u64>,
    /// DNSSEC validation (docs/dnssec.md).
    pub dnssec: DnssecConfig,
    /// DNS64 (RFC 6147): AAAA answers synthesised from A records; off by default.
    pub dns64: crate::dns64::Dns64Config,
    /// Stub zones: names inside them are iterated from their own servers.
    pub stub_zones: Vec<crate::StubZone>,
    /// Forward zones: names inside them are asked of their forwarders (RD=1).
    pub forward_zones: Vec<crate::ForwardZone>,
}

/// DNSSEC validation settings.
#[derive(Clone, Debug)]
pub struct DnssecConfig {
    /// Validate answers (DO on upstream queries, DNSKEY and DS fetched at each zone cut).
    /// `false`: a plain iterator that never sets AD.
    pub validation: bool,
    /// The trust anchors and negative trust anchors.
    pub anchors: Arc<TrustAnchors>,
    /// Algorithms, digests and the NSEC3 iteration limit.
    pub policy: Policy,
    /// How long a bogus verdict (for a question, or a zone's keys) is kept before the data is
    /// fetched and checked again.
    pub bogus_ttl: Duration,
    /// The time signatures are checked against, in seconds since the epoch, when the engine
    /// starts (it then advances with tokio's clock); `None`: the system clock. Tests on
    /// virtual time pin it near their signer's validity window.
    pub fixed_time: Option<u32>,
    /// Answer NXDOMAIN and NODATA from validated NSEC and NSEC3 ranges without asking
    /// (RFC 8198; NSEC3 opt-out spans are not used).
    pub aggressive_nsec: bool,
    /// RFC 5011 state of the trust anchors' keys: read at the first validation, written
    /// (atomically) whenever it changes. `None`: the anchors never change.
    pub trust_anchor_state: Option<std::path::PathBuf>,
}

impl Default for DnssecConfig {
    fn default() -> Self {
        Self {
            validation: false,
            anchors: Arc::new(TrustAnchors::builtin()),
            policy: Policy::default(),
            bogus_ttl: Duration::from_secs(60),
            fixed_time: None,
            aggressive_nsec: true,
            trust_anchor_state: None,
        }
    }
}

impl DnssecConfig {
    /// Validation on, from `anchors`, with the time pinned (for tests).
    pub fn validating(anchors: TrustAnchors, fixed_time: Option<u32>) -> Self {
        Self {
            validation: true,
            anchors: Arc::new(anchors),
            fixed_time,
            ..Self::default()
        }
    }
}

impl Default for RecursorConfig {
    fn default() -> Self {
        Self {
            root_hints: builtin_root_hints(),
            upstream_port: 53,
            do_not_query: Vec::new(),
            allow_loopback_servers: false,
            ipv4_upstream: true,
            ipv6_upstream: true,
            query_timeout: Duration::from_secs(4),
            max_referrals: 24,
            max_cname_chain: 12,
            max_subquery_depth: 6,
            max_upstream_queries: 64,
            max_outstanding_upstream: 2048,
            max_records_per_reply: 256,
            ecs_allowlist: Allowlist::empty(),
            scoped_cache: ScopedCacheConfig::default(),
            infra: InfraConfig::default(),
            stale_client_timeout: Some(Duration::from_millis(1800)),
            stale_recheck: Duration::from_secs(30),
            answer_cache_bytes: 64 * 1024 * 1024,
            qname_minimisation: QminMode::Relaxed,
            selection_seed: None,
            dnssec: DnssecConfig::default(),
            dns64: crate::dns64::Dns64Config::default(),
            stub_zones: Vec::new(),
            forward_zones: Vec::new(),
        }
    }
}
