//! The iterative resolver: from the closest cached delegation (or the root) down to an answer.
//!
//! One client question runs as one task with a budget: a deadline and a count of upstream
//! queries shared with every sub-query it spawns (nameserver addresses that need resolving).
//! Identical questions asked concurrently share one resolution (in-flight de-duplication).
//!
//! The engine is a sequence of named steps, one file each; a miss walks them in this order:
//!
//! | step | file | job |
//! |---|---|---|
//! | request | `request.rs` | cache lookup; join or start the resolution in flight; serve-stale around it |
//! | answer | `answer.rs` | assemble an answer from both caches, link by link (E18, E19) |
//! | chain | `chain.rs` | one resolution: budget, CNAME chain, negative SOA |
//! | iterate | `iterate.rs` | closest zone cut, priming, referrals, QNAME minimisation |
//! | cuts | `cuts.rs` | known delegations kept built while the records they came from stay unwritten |
//! | stub | `stub.rs` | stub zones: iteration inside them starts from their configured servers |
//! | forward | `forward.rs` | forward zones: asked of their forwarders (RD=1), never iterated |
//! | routing | `routing.rs` | the stub and forward zones and DNS64 in force, replaced on reload |
//! | select | `select.rs` | which servers, in which order; glueless nameserver addresses |
//! | lame | `lame.rs` | servers lame for a (zone, type), passed over for a while |
//! | probe | `probe.rs` | servers measured in the background, off the client's path |
//! | ask | `ask.rs` | one server: the upstream ECS decision, the reply classified |
//! | race | `race.rs` | a zone's servers in turn, the next asked while a slow one stays open |
//! | exchange | `exchange.rs` + `plan.rs` | the retries with one server: a sans-IO plan, driven |
//! | dns64 | `dns64.rs` | AAAA synthesised from A, PTR under the prefix mapped (RFC 6147) |
//! | store | `store.rs` | the reply into the caches, under its scope |
//! | validate | `validate/` | DNSSEC: the step checked, zone keys from the anchor down, status stamped |
//! | refresh | `refresh.rs` | prefetch; stale answers (RFC 8767) |
//! | trace | `trace.rs` | `scoped trace`: every decision written down |
//! | reason | `reason.rs` | why a SERVFAIL: the EDE (RFC 8914) from how the servers failed |
//!
//! `ctx.rs` holds the per-question state the steps pass along, `stats.rs` the counters.

mod answer;
mod ask;
mod chain;
mod ctx;
mod cuts;
mod dns64;
mod exchange;
mod forward;
mod iterate;
mod lame;
mod plan;
mod probe;
mod race;
mod reason;
mod refresh;
mod request;
mod routing;
mod select;
mod stats;
mod store;
mod stub;
mod trace;
mod validate;

#[cfg(test)]
mod state_size;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use futures::future::BoxFuture;
use hickory_proto::rr::Name;
use scoped_cache::{
    CacheKey, Deadlines, KeyHasher, RecordCache, ScopedCache, WireAnswer, WireCache, WireKey,
    WireKeyRef, lowercase_wire,
};
use scoped_ecs::Allowlist;
use tokio::time::Instant;

use crate::config::RecursorConfig;
use crate::infra::InfraCache;
use crate::transport::Transport;
use crate::{Resolution, Resolve, ResolveRequest};
pub use dns64::DNS64_PTR_CNAME_TTL;
pub use forward::ForwardZone;
pub use reason::{EDE_NETWORK_ERROR, EDE_NO_REACHABLE_AUTHORITY, EDE_OTHER};
use request::{InflightKey, SharedResolution};
pub use routing::Routing;
use stats::{EcsAudit, bump};
pub use stats::{EcsSent, EngineStats};
pub use stub::StubZone;

/// Why a resolution stopped without an answer (all become SERVFAIL for the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Every server of a zone failed (timeouts, errors, lame answers).
    #[error("no server of {0} gave a usable answer")]
    AllServersFailed(Name),
    /// The question's time budget ran out.
    #[error("time budget exhausted")]
    Deadline,
    /// The question's budget of upstream queries ran out.
    #[error("upstream query budget exhausted")]
    QueryBudget,
    /// More referrals than allowed.
    #[error("too many referrals")]
    TooManyReferrals,
    /// A CNAME chain longer than allowed, or a loop.
    #[error("CNAME chain too long or looping")]
    CnameChain,
    /// DNSSEC validation found the answer bogus.
    #[error("DNSSEC validation failed: {0}")]
    Bogus(Box<scoped_dnssec::Reason>),
}

/// How many names known to have no zone cut are remembered.
const NO_CUTS_CAPACITY: usize = 100_000;

/// How many recently failed questions are remembered for the stale recheck (RFC 8767 §5).
const FAILED_RECENTLY_CAPACITY: usize = 65_536;

struct Inner {
    config: RecursorConfig,
    cache: RecordCache,
    scoped: ScopedCache,
    /// Rendered answers for the front end's fast path (derived from the two caches above).
    wire: Option<WireCache>,
    infra: InfraCache,
    /// Servers lame for a (zone, type): not asked such questions again for a while.
    lame: lame::LameServers,
    selection_rng: Mutex<rand::rngs::StdRng>,
    allowlist: RwLock<Arc<Allowlist>>,
    transport: Arc<dyn Transport>,
    inflight: Mutex<HashMap<InflightKey, SharedResolution, KeyHasher>>,
    /// What client-subnet information went to which server.
    ecs_audit: EcsAudit,
    /// Slots for upstream queries in flight (`max_outstanding_upstream`).
    upstream_slots: tokio::sync::Semaphore,
    /// Questions whose resolution failed recently, and until when their stale data is served
    /// without trying again (RFC 8767 §5). Bounded.
    failed_recently: Deadlines<InflightKey>,
    /// Names known to exist with no zone cut at them, until when (learnt from minimised steps:
    /// `iterate.rs`). Keyed as the NS question at the name. Bounded.
    no_cuts: Deadlines<CacheKey>,
    /// Delegations built from the record cache (`cuts.rs`).
    known_cuts: cuts::KnownCuts,
    /// Whether anything was ever put in `failed_recently`: until then, a miss need not look in
    /// it and a success need not remove itself from it.
    failed_ever: std::sync::atomic::AtomicBool,
    /// Whether a DNAME was ever cached tailored to a client subnet: until then a miss does not
    /// walk up the name looking for one in the tailored cache.
    tailored_dnames: std::sync::atomic::AtomicBool,
    priming: tokio::sync::Mutex<()>,
    stats: EngineStats,
    /// DNSSEC: validated zone keys and the insecure and bogus verdicts of zones, and recent
    /// bogus verdicts of client questions (`validate.rs`).
    dnssec: validate::DnssecState,
    /// The stub and forward zones and DNS64 settings in force (`routing.rs`).
    routing: RwLock<Arc<routing::Routing>>,
}

/// The recursion engine. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct Recursor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recursor")
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

impl Recursor {
    /// An engine resolving with `config`, caching in `cache`, talking through `transport`.
    pub fn new(config: RecursorConfig, cache: RecordCache, transport: Arc<dyn Transport>) -> Self {
        let scoped = ScopedCache::new(config.scoped_cache.clone());
        let allowlist = RwLock::new(Arc::new(config.ecs_allowlist.clone()));
        // An invalid selection configuration is refused when the configuration is loaded; a
        // programmatic one that slips through falls back to the defaults rather than failing.
        let infra = InfraCache::new(config.infra.clone()).unwrap_or_else(|error| {
            tracing::warn!(%error, "invalid server-selection settings; using the defaults");
            InfraCache::default()
        });
        let selection_rng = Mutex::new(match config.selection_seed {
            Some(seed) => rand::SeedableRng::seed_from_u64(seed),
            None => rand::SeedableRng::from_os_rng(),
        });
        let failed_recently = Deadlines::new(FAILED_RECENTLY_CAPACITY);
        let no_cuts = Deadlines::new(NO_CUTS_CAPACITY);
        let wire =
            (config.answer_cache_bytes > 0).then(|| WireCache::new(config.answer_cache_bytes));
        let routing = RwLock::new(Arc::new(routing::Routing::of(&config)));
        let inner = Inner {
            upstream_slots: tokio::sync::Semaphore::new(
                config
                    .max_outstanding_upstream
                    .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
            ),
            ecs_audit: EcsAudit::default(),
            wire,
            failed_recently,
            no_cuts,
            known_cuts: cuts::KnownCuts::default(),
            failed_ever: std::sync::atomic::AtomicBool::new(false),
            tailored_dnames: std::sync::atomic::AtomicBool::new(false),
            config,
            cache,
            scoped,
            infra,
            lame: lame::LameServers::default(),
            selection_rng,
            allowlist,
            transport,
            inflight: Mutex::new(HashMap::default()),
            priming: tokio::sync::Mutex::new(()),
            stats: EngineStats::default(),
            dnssec: validate::DnssecState::default(),
            routing,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The cache this engine fills.
    pub fn cache(&self) -> &RecordCache {
        &self.inner.cache
    }

    /// The cache of answers tailored to client subnets.
    pub fn scoped_cache(&self) -> &ScopedCache {
        &self.inner.scoped
    }

    /// Forget `name` (or, with `subtree`, everything at and below it) in both caches, so the
    /// next question for it is resolved afresh. Delegations and nameserver addresses at those
    /// names go too; the server-selection table is kept.
    pub fn flush(&self, name: &Name, subtree: bool) {
        self.inner.cache.flush(name, subtree);
        // Relearnt at the first walk through: cheaper than finding what lies below `name`.
        self.inner.no_cuts.clear();
        self.inner.dnssec.clear();
        self.inner.scoped.flush(name, subtree);
        if let Some(wire) = &self.inner.wire {
            wire.flush(&lowercase_wire(name), subtree);
        }
    }

    /// Empty both caches (the server-selection table is kept).
    pub fn flush_all(&self) {
        self.inner.cache.clear();
        self.inner.no_cuts.clear();
        self.inner.dnssec.clear();
        self.inner.scoped.clear();
        if let Some(wire) = &self.inner.wire {
            wire.clear();
        }
    }

    /// For each upstream server that was sent a client subnet: how many queries carried one and
    /// how many bits of client address they held in all (SOURCE PREFIX-LENGTHs summed), sorted
    /// by address — what left the resolver, for an operator's audit.
    pub fn ecs_sent_by_server(&self) -> Vec<(IpAddr, EcsSent)> {
        self.inner.ecs_audit.snapshot()
    }

    /// The fast path's cache of rendered answers, if it is on.
    pub fn wire_cache(&self) -> Option<&WireCache> {
        self.inner.wire.as_ref()
    }

    /// The per-nameserver table (SRTT, RTO, state, EDNS/ECS capability), for `scoped ctl infra`.
    pub fn infra(&self) -> &InfraCache {
        &self.inner.infra
    }

    /// Replace the ECS allowlist (reload); the caches are kept.
    pub fn set_allowlist(&self, allowlist: Allowlist) {
        *self
            .inner
            .allowlist
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(allowlist);
    }

    /// The ECS allowlist in force.
    pub fn allowlist(&self) -> Arc<Allowlist> {
        self.inner
            .allowlist
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What the engine has counted.
    pub fn stats(&self) -> &EngineStats {
        &self.inner.stats
    }

    /// The configuration in force.
    pub fn config(&self) -> &RecursorConfig {
        &self.inner.config
    }
}

impl Resolve for Recursor {
    fn resolve(&self, request: ResolveRequest) -> BoxFuture<'static, Resolution> {
        let this = self.clone();
        crate::boxed::pin_in_place(|| async move { this.resolve_request(request).await })
    }

    /// With DNS64 on, DO and CD together also change the answer (no synthesis).
    fn validates(&self) -> bool {
        self.inner.config.dnssec.validation || self.routing().dns64.enabled
    }

    fn dns64_ptr_target(&self, name: &Name) -> Option<Name> {
        let routing = self.routing();
        routing
            .dns64
            .enabled
            .then(|| routing.dns64.ptr_target(name))
            .flatten()
    }

    fn wire_answer(&self, key: &WireKeyRef<'_>, now: Instant) -> Option<Arc<WireAnswer>> {
        let hit = self.inner.wire.as_ref()?.lookup(key, now)?;
        bump(&self.inner.stats.cache_hits);
        Some(hit)
    }

    /// Kept for the part of its smallest TTL before the prefetch window, so that the hits that
    /// should refresh it reach [`Recursor::resolve_request`]; TTLs in it count down from when it
    /// was rendered, so it never outlives the data it came from.
    fn keep_wire_answer(&self, key: WireKey, answer: WireAnswer) {
        let (Some(wire), Some(ttl)) = (&self.inner.wire, answer.min_ttl()) else {
            return;
        };
        let share = 100 - u64::from(self.inner.cache.config().prefetch_percent.min(100));
        let lifetime = std::time::Duration::from_millis(u64::from(ttl) * 10 * share);
        wire.insert(key, answer, Instant::now(), lifetime);
    }
}
