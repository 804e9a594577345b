//! The iterative resolver: from the closest cached delegation (or the root) down to an answer.
//!
//! One client question runs as one task with a [`Budget`]: a deadline and a count of upstream
//! queries shared with every sub-query it spawns (nameserver addresses that need resolving).
//! Identical questions asked concurrently share one resolution (in-flight de-duplication).

use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use ipnet::IpNet;
use rand::seq::SliceRandom;
use scoped_cache::{
    AnswerEnd, AnswerStep, CacheKey, CachedData, KeyHasher, Read, RecordCache, ScopedCache, Trust,
    WireAnswer, WireCache, WireKey, WireKeyRef, lowercase_wire,
};
use scoped_ecs::{Allowlist, CacheScope, Ecs, ReplyEcs, cache_scope, check_reply_opt, scan_opt};
use tokio::time::Instant;
use tracing::{debug, trace};

use crate::classify::{Classified, Delegation, NameServer, Step, addresses_of, classify};
use crate::config::{EDNS_PAYLOAD, RecursorConfig};
use crate::infra::{EcsCapability, InfraCache};
use crate::qmin::{self, Heard, Next, QminMode};
use crate::transport::{Protocol, Transport, TransportError, UpstreamQuery};
use crate::{Question, Resolution, Resolve, ResolveRequest};

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
}

/// What the engine has counted since start.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Client questions answered entirely from the cache.
    pub cache_hits: AtomicU64,
    /// Client questions that needed upstream work.
    pub cache_misses: AtomicU64,
    /// Client questions that joined a resolution already in flight.
    pub deduplicated: AtomicU64,
    /// Queries sent to authoritative servers (all protocols).
    pub upstream_queries: AtomicU64,
    /// Upstream queries retried over TCP after a truncated UDP reply.
    pub tcp_retries: AtomicU64,
    /// Upstream exchanges that timed out or failed at the socket level.
    pub upstream_failures: AtomicU64,
    /// Replies that could not be parsed.
    pub malformed_replies: AtomicU64,
    /// Replies that were lame, errors, or out of bailiwick.
    pub lame_replies: AtomicU64,
    /// Nameserver addresses skipped by policy (do-not-query, loopback, IPv6 off).
    pub servers_skipped: AtomicU64,
    /// Resolutions that ended in SERVFAIL.
    pub servfail: AtomicU64,
    /// Upstream queries that carried an ECS option (E01 allowed it).
    pub ecs_sent: AtomicU64,
    /// Queries with a client subnet sent without ECS: the server/zone is not allowlisted (E01).
    pub ecs_withheld_not_allowlisted: AtomicU64,
    /// Queries sent without ECS because they are infrastructure lookups (E16).
    pub ecs_withheld_infrastructure: AtomicU64,
    /// Queries with a client subnet sent without ECS because they are QNAME-minimised steps
    /// about an ancestor of the client's name (E16, RFC 9156).
    pub ecs_withheld_minimised: AtomicU64,
    /// ECS queries answered REFUSED/FORMERR and retried without ECS (E13).
    pub ecs_rejected_retries: AtomicU64,
    /// ECS-less replies from servers known to echo ECS, asked again (E12).
    pub ecs_suspicious_reasks: AtomicU64,
    /// Answers cached under a tailored scope (E14, E15, E20).
    pub tailored_answers_cached: AtomicU64,
    /// Cache hits in the last part of an entry's TTL that refreshed it in the background.
    pub prefetches: AtomicU64,
    /// Upstream queries that had to wait for a slot (`max-outstanding-upstream` reached).
    pub upstream_throttled: AtomicU64,
    /// Replies refused for holding more records than `max-records-per-reply`.
    pub oversized_replies: AtomicU64,
    /// Answers served from stale data because the resolution took longer than the client
    /// timer (RFC 8767); the resolution went on in the background.
    pub stale_served_slow: AtomicU64,
    /// Answers served from stale data because the resolution failed, or failed less than the
    /// recheck time ago (RFC 8767).
    pub stale_served_failed: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The part of a question's resolution shared by all its sub-queries.
#[derive(Debug)]
struct Budget {
    deadline: Instant,
    upstream_left: AtomicU32,
}

/// Per (sub-)query state: the shared budget, nesting depth and the questions being resolved on
/// the way here (to break loops such as a zone whose only nameserver is named inside itself).
#[derive(Debug, Clone)]
struct Ctx {
    budget: Arc<Budget>,
    depth: u32,
    stack: Vec<(Name, RecordType)>,
    /// The client subnet of the question, or `None` (no address may go upstream).
    subnet: Option<IpNet>,
    /// False for sub-queries (nameserver addresses): infrastructure, never tailored (E16).
    client_question: bool,
    /// Where `scoped trace` collects the steps, if tracing.
    trace: Option<Arc<Mutex<Vec<String>>>>,
    /// A refresh (prefetch): the client question's own links are asked upstream even though
    /// the cache still holds them.
    refresh: bool,
    /// A QNAME-minimised step (RFC 9156): a question about an ancestor of the name being
    /// resolved, never the client's own, so never with ECS (E16).
    minimised: bool,
}

impl Ctx {
    fn child(&self, name: &Name, qtype: RecordType, max_depth: u32) -> Option<Ctx> {
        if self.depth >= max_depth || self.stack.iter().any(|(n, t)| n == name && *t == qtype) {
            return None;
        }
        let mut stack = self.stack.clone();
        stack.push((name.clone(), qtype));
        Some(Ctx {
            budget: self.budget.clone(),
            depth: self.depth + 1,
            stack,
            subnet: None,
            client_question: false,
            trace: self.trace.clone(),
            refresh: false,
            minimised: false,
        })
    }

    /// The context of one QNAME-minimised step of this (sub-)query.
    fn minimised_step(&self) -> Ctx {
        Ctx {
            minimised: true,
            ..self.clone()
        }
    }

    /// Record one step of a traced resolution (indented by sub-query depth).
    fn trace(&self, line: impl FnOnce() -> String) {
        if let Some(trace) = &self.trace {
            let indent = "  ".repeat(self.depth as usize);
            trace
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{indent}{}", line()));
        }
    }

    fn spend_query(&self) -> Result<(), ResolveError> {
        if Instant::now() >= self.budget.deadline {
            return Err(ResolveError::Deadline);
        }
        self.budget
            .upstream_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| ResolveError::QueryBudget)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct InflightKey {
    name: Name,
    qtype: RecordType,
    qclass: DNSClass,
    subnet: Option<IpNet>,
}

type SharedResolution = Shared<BoxFuture<'static, Resolution>>;

/// Client-subnet information sent to one server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EcsSent {
    /// Queries that carried an ECS option.
    pub queries: u64,
    /// Bits of client address they carried, in all (their SOURCE PREFIX-LENGTHs summed).
    pub bits: u64,
    /// The longest SOURCE PREFIX-LENGTH sent.
    pub max_bits: u8,
}

/// The per-server ECS audit. Servers receive ECS only when allowlisted, so the table is as
/// large as the allowlist's reach; past [`ECS_AUDIT_SERVERS`] servers, the rest are added up
/// under the unspecified address.
#[derive(Debug, Default)]
struct EcsAudit {
    servers: Mutex<HashMap<IpAddr, EcsSent>>,
}

/// Servers tracked one by one in the ECS audit.
const ECS_AUDIT_SERVERS: usize = 10_000;

impl EcsAudit {
    fn record(&self, server: IpAddr, bits: u8) {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        let key = if servers.len() >= ECS_AUDIT_SERVERS && !servers.contains_key(&server) {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            server
        };
        let entry = servers.entry(key).or_default();
        entry.queries += 1;
        entry.bits += u64::from(bits);
        entry.max_bits = entry.max_bits.max(bits);
    }

    fn snapshot(&self) -> Vec<(IpAddr, EcsSent)> {
        let servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = servers.iter().map(|(a, s)| (*a, *s)).collect();
        list.sort_by_key(|(addr, _)| *addr);
        list
    }
}

/// How many recently failed questions are remembered for the stale recheck (RFC 8767 §5).
const FAILED_RECENTLY_CAPACITY: u64 = 65_536;

struct Inner {
    config: RecursorConfig,
    cache: RecordCache,
    scoped: ScopedCache,
    /// Rendered answers for the front end's fast path (derived from the two caches above).
    wire: Option<WireCache>,
    infra: InfraCache,
    selection_rng: Mutex<rand::rngs::StdRng>,
    allowlist: RwLock<Arc<Allowlist>>,
    transport: Arc<dyn Transport>,
    inflight: Mutex<HashMap<InflightKey, SharedResolution, KeyHasher>>,
    /// What client-subnet information went to which server.
    ecs_audit: EcsAudit,
    /// Slots for upstream queries in flight (`max_outstanding_upstream`).
    upstream_slots: tokio::sync::Semaphore,
    /// Questions whose resolution failed recently, and until when their stale data is served
    /// without trying again (RFC 8767 §5). Bounded; reclaimed on moka's clock, read on tokio's.
    failed_recently: moka::sync::Cache<InflightKey, Instant, KeyHasher>,
    priming: tokio::sync::Mutex<()>,
    stats: EngineStats,
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

/// Outcome of asking one zone's servers.
enum Outcome {
    Final(Step, CacheScope),
    Referral(Delegation),
}

/// What became of ECS in one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EcsExchange {
    /// No ECS option was sent.
    NotSent,
    /// This option was sent; the reply echoed this SCOPE (`None`: no ECS in the reply, E12).
    Sent(Ecs, Option<u8>),
    /// The server rejected the ECS query and answered the plain retry (E13): its answer does
    /// not depend on the client subnet.
    Rejected,
}

/// Why one exchange with one server produced nothing usable.
enum ExchangeError {
    /// This server failed; try another.
    Server,
    /// The question's budget is spent; stop everything.
    Budget(ResolveError),
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
        let failed_recently = moka::sync::Cache::builder()
            .max_capacity(FAILED_RECENTLY_CAPACITY)
            .time_to_live(config.stale_recheck)
            .build_with_hasher(KeyHasher::default());
        let wire =
            (config.answer_cache_bytes > 0).then(|| WireCache::new(config.answer_cache_bytes));
        let inner = Inner {
            upstream_slots: tokio::sync::Semaphore::new(
                config
                    .max_outstanding_upstream
                    .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
            ),
            ecs_audit: EcsAudit::default(),
            wire,
            failed_recently,
            config,
            cache,
            scoped,
            infra,
            selection_rng,
            allowlist,
            transport,
            inflight: Mutex::new(HashMap::default()),
            priming: tokio::sync::Mutex::new(()),
            stats: EngineStats::default(),
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
        self.inner.scoped.flush(name, subtree);
        if let Some(wire) = &self.inner.wire {
            wire.flush(&lowercase_wire(name), subtree);
        }
    }

    /// Empty both caches (the server-selection table is kept).
    pub fn flush_all(&self) {
        self.inner.cache.clear();
        self.inner.scoped.clear();
        if let Some(wire) = &self.inner.wire {
            wire.clear();
        }
    }

    /// Drop the rendered answers of `name`: something tailored is being cached for it, so an
    /// answer rendered as the same for every client may no longer be (E19).
    fn forget_rendered(&self, name: &Name) {
        if let Some(wire) = &self.inner.wire {
            wire.flush(&lowercase_wire(name), false);
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

    /// Resolve one client question: from the cache if possible, else by iteration, sharing the
    /// work with identical questions in flight. Always returns within the configured budget.
    ///
    /// A cache hit in the last part of its entry's TTL also starts a background refresh, once
    /// per entry (prefetch), with the client's subnet at full length (E06). On a miss with stale
    /// data in the cache (RFC 8767) the client waits at most `stale_client_timeout`, and gets
    /// the stale data if the resolution is slower or fails.
    pub async fn resolve_request(&self, request: ResolveRequest) -> Resolution {
        let question = request.question;
        if question.qclass != DNSClass::IN {
            return Resolution::error(ResponseCode::Refused);
        }
        let subnet = request.client_subnet;
        let now = Instant::now();
        let refresh = Cell::new(false);
        if let Some(hit) = self.answer_from_cache(&question, subnet, now, Read::Hit, &refresh) {
            bump(&self.inner.stats.cache_hits);
            let hit = self.mark_for_every_client(&question, hit);
            if refresh.get() {
                self.prefetch(question, subnet);
            }
            return hit;
        }
        bump(&self.inner.stats.cache_misses);
        let key = InflightKey {
            name: question.name.to_lowercase(),
            qtype: question.qtype,
            qclass: question.qclass,
            subnet,
        };
        // Stale data is looked for only when it may be served: most misses resolve in time,
        // and the walk through both caches is not free.
        let recently_failed = self
            .inner
            .failed_recently
            .get(&key)
            .is_some_and(|until| now < until);
        if recently_failed && let Some(stale) = self.stale_answer(&question, subnet, now) {
            bump(&self.inner.stats.stale_served_failed);
            return stale;
        }
        let (flight, joined) = self.flight(key, question.clone(), subnet, false);
        if joined {
            bump(&self.inner.stats.deduplicated);
        }
        if !self.serves_stale() {
            let resolution = flight.await;
            return self.mark_for_every_client(&question, resolution);
        }
        let resolution = match self.inner.config.stale_client_timeout {
            Some(wait) => match tokio::time::timeout(wait, flight.clone()).await {
                Ok(resolution) => resolution,
                Err(_) => {
                    if let Some(stale) = self.stale_answer(&question, subnet, Instant::now()) {
                        // The resolution goes on (it is spawned) and refreshes the cache.
                        bump(&self.inner.stats.stale_served_slow);
                        return stale;
                    }
                    flight.await
                }
            },
            None => flight.await,
        };
        if resolution.rcode == ResponseCode::ServFail
            && let Some(stale) = self.stale_answer(&question, subnet, Instant::now())
        {
            bump(&self.inner.stats.stale_served_failed);
            return stale;
        }
        self.mark_for_every_client(&question, resolution)
    }

    /// Whether the caches keep expired data to serve (RFC 8767).
    fn serves_stale(&self) -> bool {
        self.inner.cache.config().max_stale > 0 || self.inner.scoped.config().ttl.max_stale > 0
    }

    /// Sets [`Resolution::for_every_client`]: scope 0, fresh, no CNAME chain, and the tailored
    /// cache holds nothing for the name — then no client subnet could get another answer (E19)
    /// until something tailored is cached for it, which drops the name's rendered answers.
    fn mark_for_every_client(&self, question: &Question, mut resolution: Resolution) -> Resolution {
        let class = DNSClass::IN;
        let scoped = &self.inner.scoped;
        resolution.for_every_client = resolution.scope == 0
            && !resolution.stale
            && resolution.answers.iter().all(|r| {
                r.record_type() != RecordType::CNAME || question.qtype == RecordType::CNAME
            })
            && !scoped.holds(&CacheKey::rrset(&question.name, question.qtype, class))
            && !scoped.holds(&CacheKey::rrset(&question.name, RecordType::CNAME, class))
            && !scoped.holds(&CacheKey::name_error(&question.name, class));
        resolution
    }

    /// The resolution of `key` in flight, joined (`true`) or started: spawned, so that a client
    /// that goes away does not cancel work others wait for. A failure is remembered for the
    /// stale recheck time.
    fn flight(
        &self,
        key: InflightKey,
        question: Question,
        subnet: Option<IpNet>,
        refresh: bool,
    ) -> (SharedResolution, bool) {
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(running) = inflight.get(&key) {
            return (running.clone(), true);
        }
        let this = self.clone();
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let resolution = this
                .resolve_with_trace(question, subnet, None, refresh)
                .await;
            if resolution.rcode == ResponseCode::ServFail {
                let until = Instant::now() + this.inner.config.stale_recheck;
                this.inner.failed_recently.insert(task_key.clone(), until);
            } else {
                this.inner.failed_recently.invalidate(&task_key);
            }
            this.inner
                .inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&task_key);
            resolution
        });
        let shared = async move { task.await.unwrap_or_else(|_| Resolution::servfail()) }
            .boxed()
            .shared();
        inflight.insert(key, shared.clone());
        (shared, false)
    }

    /// Refresh a client question in the background (prefetch), with its subnet as the client
    /// sent it — at the full configured length, not the scope of the entry that served it
    /// (E06). Nothing happens if it is already being resolved.
    fn prefetch(&self, question: Question, subnet: Option<IpNet>) {
        let key = InflightKey {
            name: question.name.to_lowercase(),
            qtype: question.qtype,
            qclass: question.qclass,
            subnet,
        };
        let (_, joined) = self.flight(key, question, subnet, true);
        if !joined {
            bump(&self.inner.stats.prefetches);
        }
    }

    /// The answer expired data would give (RFC 8767), if serve-stale is on and the cache
    /// still holds data for every link of it; its expired records carry the stale TTL.
    fn stale_answer(
        &self,
        question: &Question,
        subnet: Option<IpNet>,
        now: Instant,
    ) -> Option<Resolution> {
        if !self.serves_stale() {
            return None;
        }
        let unused = Cell::new(false);
        let answer = self.answer_from_cache(question, subnet, now, Read::Stale, &unused)?;
        Some(Resolution {
            stale: true,
            ..answer
        })
    }

    fn answer_from_cache(
        &self,
        question: &Question,
        subnet: Option<IpNet>,
        now: Instant,
        read: Read,
        refresh: &Cell<bool>,
    ) -> Option<Resolution> {
        let max_links = self.inner.config.max_cname_chain;
        let (cached, scope) = self.cached_answer(
            &question.name,
            question.qtype,
            subnet,
            max_links,
            now,
            read,
            refresh,
        )?;
        let resolution = match cached.end {
            AnswerEnd::Records(records) => positive(cached.links, records, scope),
            AnswerEnd::Negative { rcode, soa } => negative(rcode, cached.links, Some(soa), scope),
            AnswerEnd::Continue(_) => return None,
        };
        Some(Resolution {
            from_cache: true,
            ..resolution
        })
    }

    /// Assemble an answer from both caches, link by link: for each name the entry tailored to
    /// `subnet` wins over the untailored one (E19: any covering prefix is longer than 0), and the
    /// answer's scope is the longest of the links used (E18). `None` when nothing is known
    /// about `name` itself. `refresh` is set when a link claimed its prefetch (`Read::Hit`).
    #[allow(clippy::too_many_arguments)]
    fn cached_answer(
        &self,
        name: &Name,
        qtype: RecordType,
        subnet: Option<IpNet>,
        max_links: usize,
        now: Instant,
        read: Read,
        refresh: &Cell<bool>,
    ) -> Option<(scoped_cache::CachedAnswer, u8)> {
        scoped_cache::follow_chain(name, max_links, |link| {
            let (step, scope, claimed) = self.cached_step(link, qtype, subnet, now, read)?;
            if claimed {
                refresh.set(true);
            }
            Some((step, scope))
        })
    }

    /// One link from the tailored cache (for `subnet`), else from the untailored one, and
    /// whether the read claimed the entry's refresh. Keys are built only as the lookups need
    /// them, RRset first (as in `RecordCache::step`): a hit costs one lookup per cache.
    fn cached_step(
        &self,
        name: &Name,
        qtype: RecordType,
        subnet: Option<IpNet>,
        now: Instant,
        read: Read,
    ) -> Option<(AnswerStep, u8, bool)> {
        let class = DNSClass::IN;
        let tailored = |key: CacheKey| {
            let (hit, claimed) = self.inner.scoped.read(&key, subnet, now, read)?;
            let scope = hit.scope.scope_len();
            AnswerStep::from_data(hit.data, qtype).map(|step| (step, scope, claimed))
        };
        tailored(CacheKey::rrset(name, qtype, class))
            .or_else(|| tailored(CacheKey::name_error(name, class)))
            .or_else(|| {
                (qtype != RecordType::CNAME)
                    .then(|| tailored(CacheKey::rrset(name, RecordType::CNAME, class)))
                    .flatten()
            })
            .or_else(|| {
                self.inner
                    .cache
                    .step(name, qtype, now, read)
                    .map(|(step, claimed)| (step, 0, claimed))
            })
    }

    /// Resolve from the root with every decision written down (`scoped trace`): the servers
    /// chosen and why, whether ECS was sent and why, what came back, and under which scope the
    /// answer was cached (E24). Uses and fills this engine's caches like any resolution; the
    /// CLI gives it a fresh engine.
    pub async fn trace(&self, request: ResolveRequest) -> (Resolution, Vec<String>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let question = request.question;
        let resolution = if question.qclass == DNSClass::IN {
            self.resolve_with_trace(question, request.client_subnet, Some(lines.clone()), false)
                .await
        } else {
            Resolution::error(ResponseCode::Refused)
        };
        let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
        (resolution, lines)
    }

    async fn resolve_with_trace(
        &self,
        question: Question,
        subnet: Option<IpNet>,
        trace: Option<Arc<Mutex<Vec<String>>>>,
        refresh: bool,
    ) -> Resolution {
        let config = &self.inner.config;
        let budget = Arc::new(Budget {
            deadline: Instant::now() + config.query_timeout,
            upstream_left: AtomicU32::new(config.max_upstream_queries),
        });
        let ctx = Ctx {
            budget,
            depth: 0,
            stack: vec![(question.name.to_lowercase(), question.qtype)],
            subnet,
            client_question: true,
            trace,
            refresh,
            minimised: false,
        };
        ctx.trace(|| match subnet {
            Some(net) => format!("{} {}, client subnet {net}", question.name, question.qtype),
            None => format!("{} {}, no client subnet", question.name, question.qtype),
        });
        let deadline = ctx.budget.deadline;
        let work = self.resolve_chain(question.name.clone(), question.qtype, &ctx);
        let result = match tokio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(ResolveError::Deadline),
        };
        match result {
            Ok(resolution) => resolution,
            Err(error) => {
                ctx.trace(|| format!("SERVFAIL: {error}"));
                debug!(name = %question.name, qtype = %question.qtype, %error, "SERVFAIL");
                bump(&self.inner.stats.servfail);
                Resolution::servfail()
            }
        }
    }

    /// Resolve (`name`, `qtype`) following CNAMEs, from the caches where it can. The scope of
    /// the result is the longest of the links used (E18).
    fn resolve_chain<'a>(
        &'a self,
        name: Name,
        qtype: RecordType,
        ctx: &'a Ctx,
    ) -> BoxFuture<'a, Result<Resolution, ResolveError>> {
        Box::pin(async move {
            let max_links = self.inner.config.max_cname_chain;
            let max_ttl = self.inner.cache.config().max_ttl;
            let mut links: Vec<Record> = Vec::new();
            let mut scope = 0u8;
            let mut current = name;
            loop {
                if links.len() > max_links {
                    return Err(ResolveError::CnameChain);
                }
                let now = Instant::now();
                let left = max_links - links.len();
                let unused = Cell::new(false);
                // A refresh asks the question's own links again (the cache still has them).
                if let Some((cached, s)) = (!ctx.refresh)
                    .then(|| {
                        let read = Read::Live;
                        self.cached_answer(&current, qtype, ctx.subnet, left, now, read, &unused)
                    })
                    .flatten()
                {
                    ctx.trace(|| format!("{current} {qtype}: from the cache (scope {s})"));
                    links.extend(cached.links);
                    scope = scope.max(s);
                    match cached.end {
                        AnswerEnd::Records(records) => return Ok(positive(links, records, scope)),
                        AnswerEnd::Negative { rcode, soa } => {
                            return Ok(negative(rcode, links, Some(soa), scope));
                        }
                        AnswerEnd::Continue(next) => current = next,
                    }
                    if links.len() > max_links {
                        return Err(ResolveError::CnameChain);
                    }
                }
                let (step, step_scope) = self.query_name(&current, qtype, ctx).await?;
                scope = scope.max(step_scope.scope_len());
                match step {
                    Step::Answer {
                        links: more,
                        records,
                        ..
                    } => {
                        links.extend(more);
                        return Ok(positive(
                            clamp(links, max_ttl),
                            clamp(records, max_ttl),
                            scope,
                        ));
                    }
                    Step::Cname {
                        links: more, next, ..
                    } => {
                        links.extend(more);
                        if links.iter().any(|l| l.name == next) {
                            return Err(ResolveError::CnameChain);
                        }
                        current = next;
                    }
                    Step::NxDomain {
                        links: more, soa, ..
                    } => {
                        links.extend(more);
                        let soa = soa.map(|s| self.negative_soa(*s));
                        let links = clamp(links, max_ttl);
                        return Ok(negative(ResponseCode::NXDomain, links, soa, scope));
                    }
                    Step::NoData { soa, .. } => {
                        let soa = soa.map(|s| self.negative_soa(*s));
                        return Ok(negative(
                            ResponseCode::NoError,
                            clamp(links, max_ttl),
                            soa,
                            scope,
                        ));
                    }
                }
            }
        })
    }

    /// The SOA as it goes into a negative response: TTL = the negative TTL (RFC 2308 §3).
    fn negative_soa(&self, mut soa: Record) -> Record {
        if let Some(ttl) = scoped_cache::negative_ttl(&soa) {
            soa.ttl = ttl.min(self.inner.cache.config().max_negative_ttl);
        }
        soa
    }

    /// Iterate for one name (no CNAME following beyond one response): from the closest known
    /// delegation, through referrals, to a final step. With QNAME minimisation (RFC 9156) each
    /// zone is first asked only for the next label of the name (see `qmin.rs`); the name itself
    /// is asked last, of the servers of its own zone.
    async fn query_name(
        &self,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<(Step, CacheScope), ResolveError> {
        let mode = self.inner.config.qname_minimisation;
        let mut delegation = self.closest_delegation(name, ctx).await?;
        ctx.trace(|| format!("{name} {qtype}: closest known zone {}", delegation.zone));
        // The deepest name on the way known to exist: a zone cut, or a name that answered.
        let mut known = delegation.zone.clone();
        let mut steps = 0;
        let mut minimise = mode != QminMode::Off;
        for _ in 0..self.inner.config.max_referrals + qmin::MAX_MINIMISE_COUNT {
            let ask = if minimise {
                qmin::next_name(name, &known, steps)
            } else {
                name.clone()
            };
            if ask != *name {
                steps += 1;
                // An answer or NODATA cached for it says it exists: no need to ask (RFC 9156
                // §3). A cut there is almost always known (its NS came with the answer's path);
                // if its NS expired first, the deeper question still gets the referral.
                let cached = self
                    .inner
                    .cache
                    .answer_step(&ask, RecordType::A, Instant::now());
                if matches!(
                    cached,
                    Some(AnswerStep::Records(_) | AnswerStep::Negative(ResponseCode::NoError, _))
                ) {
                    ctx.trace(|| format!("  minimised: {ask} exists (cached): further down"));
                    known = ask;
                    continue;
                }
                ctx.trace(|| format!("  minimised: {ask} A of the servers of {}", delegation.zone));
                let step_ctx = ctx.minimised_step();
                let outcome = match self
                    .ask_zone(&delegation, &ask, RecordType::A, &step_ctx)
                    .await
                {
                    Ok(outcome) => Ok(outcome),
                    Err(ResolveError::AllServersFailed(zone)) => Err(zone),
                    Err(budget) => return Err(budget),
                };
                let heard = match &outcome {
                    Ok(Outcome::Referral(_)) => Heard::Referral,
                    Ok(Outcome::Final(step, _)) => match step {
                        Step::Cname { .. } => Heard::Alias,
                        Step::Answer { links, .. } | Step::NxDomain { links, .. }
                            if !links.is_empty() =>
                        {
                            Heard::Alias
                        }
                        Step::Answer { .. } | Step::NoData { .. } => Heard::Exists,
                        Step::NxDomain { .. } => Heard::NxDomain,
                    },
                    Err(_) => Heard::Failed,
                };
                match (qmin::after(mode, heard), outcome) {
                    (Next::Descend, Ok(Outcome::Referral(next))) => {
                        self.trace_referral(ctx, &next);
                        known = next.zone.clone();
                        delegation = next;
                    }
                    // It exists, and no zone is cut there: further down, same servers.
                    (Next::Deeper, _) => known = ask,
                    (Next::NxDomain, Ok(Outcome::Final(Step::NxDomain { soa, .. }, scope))) => {
                        // RFC 8020: nothing exists below a name that does not exist.
                        ctx.trace(|| format!("  {ask} does not exist, so neither does {name}"));
                        let step = Step::NxDomain {
                            links: Vec::new(),
                            name: name.clone(),
                            soa,
                        };
                        return Ok((step, scope));
                    }
                    (Next::Fail, Err(zone)) => return Err(ResolveError::AllServersFailed(zone)),
                    // Next::FullName (no other pairing comes out of `after`): asking the full
                    // name of these servers is what an unminimised resolver would have done.
                    _ => {
                        ctx.trace(|| {
                            let why = match heard {
                                Heard::Alias => "is an alias",
                                Heard::NxDomain => "NXDOMAIN (an empty non-terminal denied?)",
                                _ => "no usable answer",
                            };
                            format!("  {ask}: {why}; asking the full name")
                        });
                        minimise = false;
                    }
                }
                continue;
            }
            match self.ask_zone(&delegation, name, qtype, ctx).await? {
                Outcome::Final(step, scope) => return Ok((step, scope)),
                Outcome::Referral(next) => {
                    self.trace_referral(ctx, &next);
                    trace!(zone = %next.zone, "referral");
                    known = next.zone.clone();
                    delegation = next;
                }
            }
        }
        Err(ResolveError::TooManyReferrals)
    }

    fn trace_referral(&self, ctx: &Ctx, next: &Delegation) {
        ctx.trace(|| {
            let servers: Vec<String> = next
                .servers
                .iter()
                .map(|s| match s.addrs.as_slice() {
                    [] => format!("{} (no glue)", s.name),
                    addrs => format!("{} {addrs:?}", s.name),
                })
                .collect();
            format!("  referral to {}: {}", next.zone, servers.join(", "))
        });
    }

    /// The deepest cached zone cut at or above `name`, or the root (primed on first need).
    async fn closest_delegation(&self, name: &Name, ctx: &Ctx) -> Result<Delegation, ResolveError> {
        let now = Instant::now();
        let mut ancestor = name.clone();
        loop {
            if ancestor.is_root() {
                break;
            }
            if let Some(delegation) = self.cached_delegation(&ancestor, now) {
                let reachable = delegation.servers.iter().any(|s| !s.addrs.is_empty())
                    || delegation
                        .servers
                        .iter()
                        .any(|s| !delegation.zone.zone_of(&s.name));
                // A cut whose every nameserver lives inside it and has no address left can only
                // be reached again through its parent's referral (fresh glue).
                if reachable {
                    return Ok(delegation);
                }
            }
            ancestor = ancestor.base_name();
        }
        if let Some(root) = self.cached_delegation(&Name::root(), now) {
            return Ok(root);
        }
        self.prime(ctx).await
    }

    fn cached_delegation(&self, zone: &Name, now: Instant) -> Option<Delegation> {
        let cache = &self.inner.cache;
        let ns = cache.rrset(zone, RecordType::NS, Trust::Referral, now)?;
        let servers = ns
            .iter()
            .filter_map(|r| match &r.data {
                hickory_proto::rr::RData::NS(target) => Some(target.0.clone()),
                _ => None,
            })
            .map(|target| {
                let mut addrs = Vec::new();
                for rtype in [RecordType::A, RecordType::AAAA] {
                    if let Some(records) = cache.rrset(&target, rtype, Trust::Glue, now) {
                        addrs.extend(addresses_of(&target, &records));
                    }
                }
                NameServer {
                    name: target,
                    addrs,
                }
            })
            .collect();
        Some(Delegation {
            zone: zone.clone(),
            servers,
        })
    }

    /// Priming (RFC 8109): ask a root hint for the root's NS set and cache it with its
    /// addresses. Done once, when the first query needs the root; if it fails, the hints
    /// themselves serve as the root delegation for this query.
    async fn prime(&self, ctx: &Ctx) -> Result<Delegation, ResolveError> {
        let _one_at_a_time = self.inner.priming.lock().await;
        let root = Name::root();
        if let Some(delegation) = self.cached_delegation(&root, Instant::now()) {
            return Ok(delegation);
        }
        let mut servers: Vec<NameServer> = Vec::new();
        for hint in &self.inner.config.root_hints {
            match servers.iter_mut().find(|s| s.name == hint.name) {
                Some(server) => server.addrs.push(hint.addr),
                None => servers.push(NameServer {
                    name: hint.name.clone(),
                    addrs: vec![hint.addr],
                }),
            }
        }
        let hints = Delegation {
            zone: root.clone(),
            servers,
        };
        debug!("priming the root");
        match self.ask_zone(&hints, &root, RecordType::NS, ctx).await {
            Ok(Outcome::Final(Step::Answer { .. }, _)) => Ok(self
                .cached_delegation(&root, Instant::now())
                .unwrap_or(hints)),
            Ok(_) => Ok(hints),
            Err(ResolveError::AllServersFailed(_)) => Ok(hints),
            Err(other) => Err(other),
        }
    }

    /// Ask the servers of `delegation`, one after another, until one gives a usable response.
    async fn ask_zone(
        &self,
        delegation: &Delegation,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<Outcome, ResolveError> {
        let mut tried: Vec<IpAddr> = Vec::new();
        let known: Vec<IpAddr> = delegation
            .servers
            .iter()
            .flat_map(|s| s.addrs.iter().copied())
            .collect();
        // Fastest expected first, with a little exploration (see infra.rs and
        // docs/server-selection.md); addresses refused by policy are never ordered at all.
        let order = self.selection_order(&known);
        ctx.trace(|| {
            format!(
                "  servers of {} in order: {}",
                delegation.zone,
                self.describe_servers(&order)
            )
        });
        for addr in order {
            if let Some(outcome) = self
                .try_server(addr, &delegation.zone, name, qtype, ctx, &mut tried)
                .await?
            {
                return Ok(outcome);
            }
        }
        // Glueless (or all known addresses failed): resolve the other nameservers' addresses.
        let mut unresolved: Vec<&NameServer> = delegation
            .servers
            .iter()
            .filter(|s| s.addrs.is_empty())
            .collect();
        unresolved.shuffle(&mut rand::rng());
        for server in unresolved {
            let addrs = self.nameserver_addresses(&server.name, ctx).await?;
            for addr in self.selection_order(&addrs) {
                if let Some(outcome) = self
                    .try_server(addr, &delegation.zone, name, qtype, ctx, &mut tried)
                    .await?
                {
                    return Ok(outcome);
                }
            }
        }
        Err(ResolveError::AllServersFailed(delegation.zone.clone()))
    }

    /// Addresses of a nameserver: from the cache (glue included), else by a sub-query. IPv4
    /// first; IPv6 only when IPv4 gave nothing and IPv6 is enabled.
    async fn nameserver_addresses(
        &self,
        ns: &Name,
        ctx: &Ctx,
    ) -> Result<Vec<IpAddr>, ResolveError> {
        let config = &self.inner.config;
        let families: &[RecordType] = if config.ipv6_upstream {
            &[RecordType::A, RecordType::AAAA]
        } else {
            &[RecordType::A]
        };
        for &rtype in families {
            if let Some(records) = self
                .inner
                .cache
                .rrset(ns, rtype, Trust::Glue, Instant::now())
            {
                let addrs = addresses_of(ns, &records);
                if !addrs.is_empty() {
                    return Ok(addrs);
                }
            }
            ctx.trace(|| format!("  nameserver {ns} has no known address: resolving {ns} {rtype}"));
            let Some(child) = ctx.child(&ns.to_lowercase(), rtype, config.max_subquery_depth)
            else {
                debug!(%ns, "sub-query skipped: loop or depth limit");
                continue;
            };
            match self.resolve_chain(ns.clone(), rtype, &child).await {
                Ok(resolution) => {
                    let addrs: Vec<IpAddr> = resolution
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .flat_map(|r| addresses_of(&r.name, std::slice::from_ref(r)))
                        .collect();
                    if !addrs.is_empty() {
                        return Ok(addrs);
                    }
                }
                Err(e @ (ResolveError::Deadline | ResolveError::QueryBudget)) => return Err(e),
                Err(e) => debug!(%ns, error = %e, "nameserver address lookup failed"),
            }
        }
        Ok(Vec::new())
    }

    /// `addr (srtt 5.0 ms, rto 50 ms, responsive)` for each address, as `scoped trace` shows.
    fn describe_servers(&self, addrs: &[IpAddr]) -> String {
        if addrs.is_empty() {
            return "none known yet".into();
        }
        let now = Instant::now();
        let table = self.inner.infra.snapshot(now);
        addrs
            .iter()
            .map(|addr| match table.iter().find(|e| e.addr == *addr) {
                Some(e) => {
                    let srtt = e
                        .srtt
                        .map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3));
                    format!(
                        "{addr} (srtt {srtt}, rto {} ms, {})",
                        e.rto.as_millis(),
                        e.state
                    )
                }
                None => format!("{addr} (never measured)"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The order in which to try `addrs` for one query: those policy allows, by expected RTT.
    fn selection_order(&self, addrs: &[IpAddr]) -> Vec<IpAddr> {
        let allowed: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|addr| {
                let ok = self.may_query(*addr);
                if !ok {
                    bump(&self.inner.stats.servers_skipped);
                    debug!(%addr, "nameserver address not queried (policy)");
                }
                ok
            })
            .collect();
        let mut rng = self
            .inner
            .selection_rng
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.inner.infra.order(&allowed, Instant::now(), &mut *rng)
    }

    /// May we send queries to `addr`?
    fn may_query(&self, addr: IpAddr) -> bool {
        let config = &self.inner.config;
        let addr = addr.to_canonical();
        if addr.is_ipv6() && !config.ipv6_upstream {
            return false;
        }
        if (addr.is_loopback() || addr.is_unspecified()) && !config.allow_loopback_servers {
            return false;
        }
        if addr.is_multicast() || addr == IpAddr::from([255, 255, 255, 255]) {
            return false;
        }
        !config.do_not_query.iter().any(|net| net.contains(&addr))
    }

    /// Query one server (already allowed by policy: `selection_order`) and interpret its
    /// response. `Ok(None)`: this server failed, try the next.
    async fn try_server(
        &self,
        addr: IpAddr,
        zone: &Name,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        tried: &mut Vec<IpAddr>,
    ) -> Result<Option<Outcome>, ResolveError> {
        if tried.contains(&addr) {
            return Ok(None);
        }
        tried.push(addr);
        // E01: ECS only to allowlisted servers/zones, and only for the client's own question
        // (never for infrastructure lookups, E16).
        let allowlisted = self.allowlist().allows(addr, zone).is_some();
        // Questions for infrastructure types (priming's `. NS` among them) are never the
        // client's, whoever asked (E16).
        let client_question = ctx.client_question && !is_infrastructure(qtype);
        let ecs = match (ctx.subnet, client_question, allowlisted) {
            // A minimised step asks about an ancestor, not the client's question (E16).
            (Some(_), true, _) if ctx.minimised => {
                bump(&self.inner.stats.ecs_withheld_minimised);
                None
            }
            (Some(subnet), true, true) => Some(Ecs::for_query(subnet)),
            (Some(_), true, false) => {
                bump(&self.inner.stats.ecs_withheld_not_allowlisted);
                None
            }
            (_, false, _) => {
                bump(&self.inner.stats.ecs_withheld_infrastructure);
                None
            }
            (None, true, _) => None,
        };
        ctx.trace(|| {
            let why = match (ecs, ctx.subnet, client_question) {
                (Some(ecs), _, _) => format!("ECS {} (allowlisted)", ecs.prefix()),
                (None, _, _) if ctx.minimised => "no ECS (minimised step)".into(),
                (None, _, false) => "no ECS (infrastructure lookup)".into(),
                (None, None, true) => "no ECS (no client subnet)".into(),
                (None, Some(_), true) => format!("no ECS ({zone} / {addr} not on the allowlist)"),
            };
            format!("  -> {addr}: {name} {qtype}, {why}")
        });
        let (response, ecs_outcome) = match self.exchange(addr, name, qtype, ctx, ecs).await {
            Ok(exchanged) => exchanged,
            Err(ExchangeError::Server) => {
                ctx.trace(|| {
                    format!(
                        "  <- {addr}: no usable reply (timeout, error or mismatch); next server"
                    )
                });
                return Ok(None);
            }
            Err(ExchangeError::Budget(e)) => return Err(e),
        };
        let scope = match ecs_outcome {
            // E16: infrastructure types are never tailored, whatever SCOPE came back.
            _ if is_infrastructure(qtype) => CacheScope::Global,
            EcsExchange::Sent(sent, Some(returned)) => cache_scope(sent.prefix(), returned),
            // E12: no ECS in the reply means SCOPE 0. E13: the server does not do ECS.
            EcsExchange::Sent(_, None) | EcsExchange::Rejected => CacheScope::Global,
            // A minimised step to an allowlisted server got the answer for clients without a
            // subnet: it may serve only those (E20), not every client of a tailoring server.
            EcsExchange::NotSent => CacheScope::without_ecs(allowlisted && client_question),
        };
        let now = Instant::now();
        match classify(&response, zone, name, qtype) {
            Classified::Lame(reason) => {
                ctx.trace(|| format!("  <- {addr}: unusable ({reason:?}); next server"));
                bump(&self.inner.stats.lame_replies);
                debug!(%addr, %zone, %name, ?reason, "unusable response");
                Ok(None)
            }
            Classified::Referral {
                delegation,
                ns_records,
                glue,
            } => {
                let cache = &self.inner.cache;
                cache.insert_rrset(ns_records, Trust::Referral, now);
                for rrset in group_rrsets(glue) {
                    cache.insert_rrset(rrset, Trust::Glue, now);
                }
                Ok(Some(Outcome::Referral(delegation)))
            }
            Classified::Final(step) => {
                ctx.trace(|| {
                    let what = match &step {
                        Step::Answer { links, records, .. } => {
                            format!(
                                "answer, {} record(s) after {} CNAME(s)",
                                records.len(),
                                links.len()
                            )
                        }
                        Step::Cname { next, .. } => format!("CNAME to {next}, resolved elsewhere"),
                        Step::NxDomain { name, .. } => format!("NXDOMAIN for {name}"),
                        Step::NoData { name, .. } => format!("NODATA for {name}"),
                    };
                    let echoed = match ecs_outcome {
                        EcsExchange::Sent(_, Some(returned)) => format!("SCOPE {returned}"),
                        EcsExchange::Sent(_, None) => "no ECS in the reply (SCOPE 0)".into(),
                        EcsExchange::Rejected => "ECS rejected, answered without".into(),
                        EcsExchange::NotSent => "no ECS".into(),
                    };
                    let cached = match scope {
                        CacheScope::Global => "for every client".to_string(),
                        CacheScope::SourceZeroOnly => "for queries without a subnet only".into(),
                        CacheScope::Covering(net) => format!("under {net}"),
                        CacheScope::ExactSource(net) => format!("for exactly {net}"),
                    };
                    format!("  <- {addr}: {what}; {echoed}; cached {cached}")
                });
                // Relaxed minimisation does not trust an NXDOMAIN for an intermediate name (it
                // may be an empty non-terminal a broken server denies): not cached, or RFC 8020
                // would deny the whole subtree from the cache.
                let keep_nxdomain =
                    !(ctx.minimised && self.inner.config.qname_minimisation == QminMode::Relaxed);
                self.cache_step(&step, &response, zone, qtype, scope, now, keep_nxdomain);
                Ok(Some(Outcome::Final(step, scope)))
            }
        }
    }

    /// Store what a response taught: untailored data in the record cache, an answer tailored to
    /// a client subnet in the tailored cache under `scope` — only answer-section data (E16), each
    /// link under the response's scope (E18), negative answers too (E17), each at its own TTL
    /// (E22).
    #[allow(clippy::too_many_arguments)]
    fn cache_step(
        &self,
        step: &Step,
        response: &Message,
        zone: &Name,
        qtype: RecordType,
        scope: CacheScope,
        now: Instant,
        keep_nxdomain: bool,
    ) {
        let tailored = scope != CacheScope::Global;
        if tailored {
            bump(&self.inner.stats.tailored_answers_cached);
        }
        let store_rrset = |records: Vec<Record>, trust: Trust| {
            if !tailored {
                self.inner.cache.insert_rrset(records, trust, now);
            } else if let Some(first) = records.first() {
                let key = CacheKey::rrset(&first.name, first.record_type(), first.dns_class);
                self.forget_rendered(&first.name);
                self.inner
                    .scoped
                    .insert(key, scope, CachedData::Rrset { records, trust }, now);
            }
        };
        let store_negative = |name: &Name, rtype: Option<RecordType>, soa: &Record| {
            let soa = soa.clone();
            if !tailored {
                self.inner.cache.insert_negative(name, rtype, soa, now);
                return;
            }
            let (key, data) = match rtype {
                Some(rtype) => (
                    CacheKey::rrset(name, rtype, DNSClass::IN),
                    CachedData::NoData { soa },
                ),
                None => (
                    CacheKey::name_error(name, DNSClass::IN),
                    CachedData::NxDomain { soa },
                ),
            };
            self.forget_rendered(name);
            self.inner.scoped.insert(key, scope, data, now);
        };
        let trust_of = |aa: bool| {
            if aa {
                Trust::AuthoritativeAnswer
            } else {
                Trust::Answer
            }
        };
        match step {
            Step::Answer {
                links,
                records,
                authoritative,
            } => {
                for link in links {
                    store_rrset(vec![link.clone()], trust_of(*authoritative));
                }
                if qtype != RecordType::ANY {
                    store_rrset(records.clone(), trust_of(*authoritative));
                }
                if qtype == RecordType::NS {
                    // Addresses of the NS targets (priming, NS queries): glue-grade, in
                    // bailiwick. NS answers are never tailored (is_infrastructure).
                    let targets: Vec<Name> = records
                        .iter()
                        .filter_map(|r| match &r.data {
                            hickory_proto::rr::RData::NS(t) => Some(t.0.clone()),
                            _ => None,
                        })
                        .collect();
                    let glue = response
                        .additionals
                        .iter()
                        .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
                        .filter(|r| zone.zone_of(&r.name) && targets.contains(&r.name))
                        .cloned()
                        .collect();
                    for rrset in group_rrsets(glue) {
                        self.inner.cache.insert_rrset(rrset, Trust::Glue, now);
                    }
                }
            }
            Step::Cname {
                links,
                authoritative,
                ..
            } => {
                for link in links {
                    store_rrset(vec![link.clone()], trust_of(*authoritative));
                }
            }
            Step::NxDomain { links, name, soa } => {
                for link in links {
                    store_rrset(vec![link.clone()], Trust::AuthoritativeAnswer);
                }
                if let Some(soa) = soa
                    && keep_nxdomain
                {
                    store_negative(name, None, soa);
                }
            }
            Step::NoData { name, soa } => {
                if let Some(soa) = soa {
                    store_negative(name, Some(qtype), soa);
                }
            }
        }
    }

    /// One question to one server: UDP first, TCP when truncated (keeping ECS, E06), once more
    /// without ECS if the server rejects it (E13) or, once, if a server known to echo ECS
    /// answers without it (E12: suspicious), without EDNS if it predates EDNS. Each try waits
    /// the server's RTO and feeds its SRTT or its penalty; each spends from the question's
    /// budget. Returns the response and what became of ECS.
    async fn exchange(
        &self,
        addr: IpAddr,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        mut ecs: Option<Ecs>,
    ) -> Result<(Message, EcsExchange), ExchangeError> {
        let config = &self.inner.config;
        let stats = &self.inner.stats;
        let infra = &self.inner.infra;
        let server = SocketAddr::new(addr, config.upstream_port);
        let mut protocol = Protocol::Udp;
        let mut edns = !infra.edns_broken(addr, Instant::now());
        // E13 memory: a server that rejected ECS recently is not sent it again for a while.
        let mut rejected =
            ecs.is_some() && infra.ecs_capability(addr, Instant::now()) == EcsCapability::Rejects;
        if rejected || !edns {
            ecs = None;
        }
        let mut reasked = false;
        // UDP, then at most one TCP retry, one retry without ECS, one re-ask (E12) and one
        // retry without EDNS.
        for _attempt in 0..5 {
            ctx.spend_query().map_err(ExchangeError::Budget)?;
            let started = Instant::now();
            let remaining = ctx.budget.deadline.saturating_duration_since(started);
            // TCP pays for the connection setup too; its time and failures are not the
            // server's RTT (a TCP-only problem must not demote the address for every name).
            let rto = match protocol {
                Protocol::Udp => infra.rto(addr, started),
                Protocol::Tcp => infra.rto(addr, started) * 2,
            };
            let timeout = rto.min(remaining);
            let id: u16 = rand::random();
            let message =
                build_query(id, name, qtype, edns, ecs).map_err(|_| ExchangeError::Server)?;
            bump(&stats.upstream_queries);
            if let Some(sent) = &ecs {
                bump(&stats.ecs_sent);
                self.inner
                    .ecs_audit
                    .record(addr, sent.prefix().prefix_len());
            }
            trace!(%server, ?protocol, %name, %qtype, ?timeout, "upstream query");
            // E12, CVE-2025-30192: unless the server is known not to echo, an ECS-less datagram
            // is skipped like a forged one while the real reply is awaited (an allowlisted
            // server is expected to echo; one that does not costs one timeout, then it is
            // remembered as not echoing).
            let require_ecs_echo = ecs.is_some()
                && !reasked
                && matches!(
                    infra.ecs_capability(addr, started),
                    EcsCapability::Echoes | EcsCapability::Unknown
                );
            let query = UpstreamQuery {
                server,
                protocol,
                message,
                timeout,
                require_ecs_echo,
            };
            // At most `max_outstanding_upstream` queries in flight, all questions together.
            let permit = match self.inner.upstream_slots.try_acquire() {
                Ok(permit) => permit,
                Err(_) => {
                    bump(&stats.upstream_throttled);
                    let deadline = ctx.budget.deadline;
                    match tokio::time::timeout_at(deadline, self.inner.upstream_slots.acquire())
                        .await
                    {
                        Ok(Ok(permit)) => permit,
                        _ => return Err(ExchangeError::Budget(ResolveError::Deadline)),
                    }
                }
            };
            let exchanged = self.inner.transport.exchange(query).await;
            drop(permit);
            let reply = match exchanged {
                Ok(reply) => reply,
                Err(error) => {
                    bump(&stats.upstream_failures);
                    if matches!(error, TransportError::EchoMissing(_)) && !reasked {
                        // Only ECS-less replies came (E12): maybe the server does not (or no
                        // longer) echo. Ask once more, taking an ECS-less reply this time; a
                        // forger must first suppress the real reply to get that chance.
                        infra.forget_ecs_echo(addr, Instant::now());
                        bump(&stats.ecs_suspicious_reasks);
                        reasked = true;
                        continue;
                    }
                    // Cut short by the question's deadline, a timeout says nothing of the server.
                    if timeout == rto && protocol == Protocol::Udp {
                        infra.record_timeout(addr, Instant::now());
                    }
                    debug!(%server, %name, %error, "upstream exchange failed");
                    return Err(ExchangeError::Server);
                }
            };
            if protocol == Protocol::Udp {
                infra.record_rtt(addr, started.elapsed(), Instant::now());
            }
            let Ok(response) = Message::from_vec(&reply) else {
                bump(&stats.malformed_replies);
                debug!(%server, "malformed reply");
                return Err(ExchangeError::Server);
            };
            let records =
                response.answers.len() + response.authorities.len() + response.additionals.len();
            if records > self.inner.config.max_records_per_reply {
                bump(&stats.oversized_replies);
                debug!(%server, records, "reply with too many records");
                return Err(ExchangeError::Server);
            }
            if edns && response.edns.is_some() {
                infra.record_edns_works(addr, Instant::now());
            }
            if response.metadata.truncation && protocol == Protocol::Udp {
                bump(&stats.tcp_retries);
                protocol = Protocol::Tcp;
                continue;
            }
            let rcode = response.metadata.response_code;
            if ecs.is_some() && matches!(rcode, ResponseCode::Refused | ResponseCode::FormErr) {
                // E13: some servers reject queries carrying ECS; ask once more without it and
                // remember not to send it ECS for a while.
                bump(&stats.ecs_rejected_retries);
                infra.record_ecs(addr, EcsCapability::Rejects, Instant::now());
                debug!(%server, %name, %rcode, "ECS query rejected; retrying without ECS");
                ecs = None;
                rejected = true;
                continue;
            }
            if edns
                && response.edns.is_none()
                && matches!(rcode, ResponseCode::FormErr | ResponseCode::NotImp)
            {
                // A server that predates EDNS (RFC 6891 §7): ask again plainly, and remember.
                infra.record_edns_broken(addr, Instant::now());
                edns = false;
                ecs = None;
                continue;
            }
            let outcome = match &ecs {
                None if rejected => EcsExchange::Rejected,
                None => EcsExchange::NotSent,
                // The transport already dropped mismatching replies (E11); check again here
                // because a TCP reply is not filtered the same way.
                Some(sent) => {
                    match scan_opt(&reply).map(|opt| check_reply_opt(sent, opt.map(|o| o.rdata))) {
                        Ok(ReplyEcs::Matches { scope }) => {
                            infra.record_ecs(addr, EcsCapability::Echoes, Instant::now());
                            EcsExchange::Sent(*sent, Some(scope))
                        }
                        Ok(ReplyEcs::Absent) => {
                            let echoes =
                                infra.ecs_capability(addr, Instant::now()) == EcsCapability::Echoes;
                            if echoes && !reasked {
                                // E12: this server always echoed; an ECS-less reply may be forged.
                                bump(&stats.ecs_suspicious_reasks);
                                debug!(%server, %name, "reply without ECS from a server that echoes; asking again");
                                reasked = true;
                                continue;
                            }
                            infra.record_ecs(addr, EcsCapability::NoEcho, Instant::now());
                            EcsExchange::Sent(*sent, None)
                        }
                        Ok(ReplyEcs::Mismatch(reason)) => {
                            debug!(%server, ?reason, "reply ECS does not match the query (E11)");
                            return Err(ExchangeError::Server);
                        }
                        Err(_) => return Err(ExchangeError::Server),
                    }
                }
            };
            return Ok((response, outcome));
        }
        Err(ExchangeError::Server)
    }
}

impl Resolve for Recursor {
    fn resolve(&self, request: ResolveRequest) -> BoxFuture<'static, Resolution> {
        let this = self.clone();
        Box::pin(async move { this.resolve_request(request).await })
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

/// The wire form of an iterative query: RD clear, EDNS0 with our payload size, DO clear, and
/// the ECS option when one is to be sent (always masked, SCOPE 0: E02, E04).
fn build_query(
    id: u16,
    name: &Name,
    qtype: RecordType,
    edns: bool,
    ecs: Option<Ecs>,
) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(name.clone(), qtype));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_PAYLOAD);
        opt.set_version(0);
        if let Some(ecs) = ecs {
            opt.options_mut().insert(ecs.to_edns_option());
        }
        msg.set_edns(opt);
    }
    msg.to_vec()
}

/// Types whose data is infrastructure: never tailored to a client subnet (E16).
fn is_infrastructure(qtype: RecordType) -> bool {
    matches!(
        qtype,
        RecordType::NS | RecordType::DS | RecordType::DNSKEY | RecordType::SOA
    )
}

fn positive(mut links: Vec<Record>, records: Vec<Record>, scope: u8) -> Resolution {
    links.extend(records);
    Resolution {
        rcode: ResponseCode::NoError,
        answers: links,
        authorities: Vec::new(),
        from_cache: false,
        stale: false,
        for_every_client: false,
        scope,
    }
}

fn negative(rcode: ResponseCode, links: Vec<Record>, soa: Option<Record>, scope: u8) -> Resolution {
    Resolution {
        rcode,
        answers: links,
        authorities: soa.into_iter().collect(),
        from_cache: false,
        stale: false,
        for_every_client: false,
        scope,
    }
}

fn clamp(mut records: Vec<Record>, max_ttl: u32) -> Vec<Record> {
    for record in &mut records {
        record.ttl = record.ttl.min(max_ttl);
    }
    records
}

/// Split records into RRsets (same owner, type, class), keeping order of first appearance.
fn group_rrsets(records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut sets: Vec<Vec<Record>> = Vec::new();
    for record in records {
        match sets.iter_mut().find(|set| {
            set[0].name == record.name
                && set[0].record_type() == record.record_type()
                && set[0].dns_class == record.dns_class
        }) {
            Some(set) => set.push(record),
            None => sets.push(vec![record]),
        }
    }
    sets
}
