//! The iterative resolver: from the closest cached delegation (or the root) down to an answer.
//!
//! One client question runs as one task with a [`Budget`]: a deadline and a count of upstream
//! queries shared with every sub-query it spawns (nameserver addresses that need resolving).
//! Identical questions asked concurrently share one resolution (in-flight de-duplication).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use ipnet::IpNet;
use rand::seq::SliceRandom;
use scoped_cache::{AnswerEnd, RecordCache, Trust};
use tokio::time::Instant;
use tracing::{debug, trace};

use crate::classify::{Classified, Delegation, NameServer, Step, addresses_of, classify};
use crate::config::{EDNS_PAYLOAD, RecursorConfig};
use crate::transport::{Protocol, Transport, UpstreamQuery};
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
        })
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

struct Inner {
    config: RecursorConfig,
    cache: RecordCache,
    transport: Arc<dyn Transport>,
    inflight: Mutex<HashMap<InflightKey, SharedResolution>>,
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
    Final(Step),
    Referral(Delegation),
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
        let inner = Inner {
            config,
            cache,
            transport,
            inflight: Mutex::new(HashMap::new()),
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
    pub async fn resolve_request(&self, request: ResolveRequest) -> Resolution {
        let question = request.question;
        if question.qclass != DNSClass::IN {
            return Resolution::error(ResponseCode::Refused);
        }
        if let Some(hit) = self.answer_from_cache(&question, Instant::now()) {
            bump(&self.inner.stats.cache_hits);
            return hit;
        }
        bump(&self.inner.stats.cache_misses);
        let key = InflightKey {
            name: question.name.to_lowercase(),
            qtype: question.qtype,
            qclass: question.qclass,
            subnet: request.client_subnet,
        };
        let shared = {
            let mut inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(running) = inflight.get(&key) {
                bump(&self.inner.stats.deduplicated);
                running.clone()
            } else {
                let this = self.clone();
                let task_key = key.clone();
                // Spawned, so a client that goes away does not cancel work others wait for.
                let task = tokio::spawn(async move {
                    let resolution = this.resolve_uncached(question).await;
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
                shared
            }
        };
        shared.await
    }

    fn answer_from_cache(&self, question: &Question, now: Instant) -> Option<Resolution> {
        let cached = self.inner.cache.answer(
            &question.name,
            question.qtype,
            self.inner.config.max_cname_chain,
            now,
        )?;
        let mut answers = cached.links;
        match cached.end {
            AnswerEnd::Records(records) => {
                answers.extend(records);
                Some(Resolution {
                    rcode: ResponseCode::NoError,
                    answers,
                    authorities: Vec::new(),
                    from_cache: true,
                    scope: 0,
                })
            }
            AnswerEnd::Negative { rcode, soa } => Some(Resolution {
                rcode,
                answers,
                authorities: vec![soa],
                from_cache: true,
                scope: 0,
            }),
            AnswerEnd::Continue(_) => None,
        }
    }

    async fn resolve_uncached(&self, question: Question) -> Resolution {
        let config = &self.inner.config;
        let budget = Arc::new(Budget {
            deadline: Instant::now() + config.query_timeout,
            upstream_left: AtomicU32::new(config.max_upstream_queries),
        });
        let ctx = Ctx {
            budget,
            depth: 0,
            stack: vec![(question.name.to_lowercase(), question.qtype)],
        };
        let deadline = ctx.budget.deadline;
        let work = self.resolve_chain(question.name.clone(), question.qtype, &ctx);
        let result = match tokio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(ResolveError::Deadline),
        };
        match result {
            Ok(resolution) => resolution,
            Err(error) => {
                debug!(name = %question.name, qtype = %question.qtype, %error, "SERVFAIL");
                bump(&self.inner.stats.servfail);
                Resolution::servfail()
            }
        }
    }

    /// Resolve (`name`, `qtype`) following CNAMEs, from the cache where it can.
    fn resolve_chain<'a>(
        &'a self,
        name: Name,
        qtype: RecordType,
        ctx: &'a Ctx,
    ) -> BoxFuture<'a, Result<Resolution, ResolveError>> {
        Box::pin(async move {
            let max_links = self.inner.config.max_cname_chain;
            let mut links: Vec<Record> = Vec::new();
            let mut current = name;
            loop {
                if links.len() > max_links {
                    return Err(ResolveError::CnameChain);
                }
                let now = Instant::now();
                if let Some(cached) =
                    self.inner
                        .cache
                        .answer(&current, qtype, max_links - links.len(), now)
                {
                    links.extend(cached.links);
                    match cached.end {
                        AnswerEnd::Records(records) => return Ok(positive(links, records)),
                        AnswerEnd::Negative { rcode, soa } => {
                            return Ok(negative(rcode, links, Some(soa)));
                        }
                        AnswerEnd::Continue(next) => current = next,
                    }
                    if links.len() > max_links {
                        return Err(ResolveError::CnameChain);
                    }
                }
                let step = self.query_name(&current, qtype, ctx).await?;
                let max_ttl = self.inner.cache.config().max_ttl;
                match step {
                    Step::Answer {
                        links: more,
                        records,
                        ..
                    } => {
                        links.extend(more);
                        return Ok(positive(clamp(links, max_ttl), clamp(records, max_ttl)));
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
                        return Ok(negative(ResponseCode::NXDomain, clamp(links, max_ttl), soa));
                    }
                    Step::NoData { soa, .. } => {
                        let soa = soa.map(|s| self.negative_soa(*s));
                        return Ok(negative(ResponseCode::NoError, clamp(links, max_ttl), soa));
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
    /// delegation, through referrals, to a final step.
    async fn query_name(
        &self,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<Step, ResolveError> {
        let mut delegation = self.closest_delegation(name, ctx).await?;
        for _ in 0..self.inner.config.max_referrals {
            match self.ask_zone(&delegation, name, qtype, ctx).await? {
                Outcome::Final(step) => return Ok(step),
                Outcome::Referral(next) => {
                    trace!(zone = %next.zone, "referral");
                    delegation = next;
                }
            }
        }
        Err(ResolveError::TooManyReferrals)
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
            Ok(Outcome::Final(Step::Answer { .. })) => Ok(self
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
        let mut known: Vec<IpAddr> = delegation
            .servers
            .iter()
            .flat_map(|s| s.addrs.iter().copied())
            .collect();
        known.shuffle(&mut rand::rng());
        for addr in known {
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
            for addr in self.nameserver_addresses(&server.name, ctx).await? {
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

    /// Query one server and interpret its response. `Ok(None)`: this server failed, try the next.
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
        if !self.may_query(addr) {
            bump(&self.inner.stats.servers_skipped);
            debug!(%addr, %zone, "nameserver address not queried (policy)");
            return Ok(None);
        }
        let response = match self.exchange(addr, name, qtype, ctx).await {
            Ok(response) => response,
            Err(ExchangeError::Server) => return Ok(None),
            Err(ExchangeError::Budget(e)) => return Err(e),
        };
        let now = Instant::now();
        match classify(&response, zone, name, qtype) {
            Classified::Lame(reason) => {
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
                self.cache_step(&step, &response, zone, qtype, now);
                Ok(Some(Outcome::Final(step)))
            }
        }
    }

    fn cache_step(
        &self,
        step: &Step,
        response: &Message,
        zone: &Name,
        qtype: RecordType,
        now: Instant,
    ) {
        let cache = &self.inner.cache;
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
                    cache.insert_rrset(vec![link.clone()], trust_of(*authoritative), now);
                }
                if qtype != RecordType::ANY {
                    cache.insert_rrset(records.clone(), trust_of(*authoritative), now);
                }
                if qtype == RecordType::NS {
                    // Addresses of the NS targets (priming, NS queries): glue-grade, in bailiwick.
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
                        cache.insert_rrset(rrset, Trust::Glue, now);
                    }
                }
            }
            Step::Cname {
                links,
                authoritative,
                ..
            } => {
                for link in links {
                    cache.insert_rrset(vec![link.clone()], trust_of(*authoritative), now);
                }
            }
            Step::NxDomain { links, name, soa } => {
                for link in links {
                    cache.insert_rrset(vec![link.clone()], Trust::AuthoritativeAnswer, now);
                }
                if let Some(soa) = soa {
                    cache.insert_negative(name, None, (**soa).clone(), now);
                }
            }
            Step::NoData { name, soa } => {
                if let Some(soa) = soa {
                    cache.insert_negative(name, Some(qtype), (**soa).clone(), now);
                }
            }
        }
    }

    /// One question to one server: UDP first, TCP when truncated, without EDNS if the server
    /// rejects it. Each attempt spends from the question's budget.
    async fn exchange(
        &self,
        addr: IpAddr,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<Message, ExchangeError> {
        let config = &self.inner.config;
        let stats = &self.inner.stats;
        let server = SocketAddr::new(addr, config.upstream_port);
        let mut protocol = Protocol::Udp;
        let mut edns = true;
        // UDP, then at most one TCP retry and one retry without EDNS.
        for _attempt in 0..3 {
            ctx.spend_query().map_err(ExchangeError::Budget)?;
            let remaining = ctx
                .budget
                .deadline
                .saturating_duration_since(Instant::now());
            let timeout = config.server_timeout.min(remaining);
            let id: u16 = rand::random();
            let message = build_query(id, name, qtype, edns).map_err(|_| ExchangeError::Server)?;
            bump(&stats.upstream_queries);
            trace!(%server, ?protocol, %name, %qtype, "upstream query");
            let query = UpstreamQuery {
                server,
                protocol,
                message,
                timeout,
            };
            let reply = match self.inner.transport.exchange(query).await {
                Ok(reply) => reply,
                Err(error) => {
                    bump(&stats.upstream_failures);
                    debug!(%server, %name, %error, "upstream exchange failed");
                    return Err(ExchangeError::Server);
                }
            };
            let Ok(response) = Message::from_vec(&reply) else {
                bump(&stats.malformed_replies);
                debug!(%server, "malformed reply");
                return Err(ExchangeError::Server);
            };
            if response.metadata.truncation && protocol == Protocol::Udp {
                bump(&stats.tcp_retries);
                protocol = Protocol::Tcp;
                continue;
            }
            let rcode = response.metadata.response_code;
            if edns
                && response.edns.is_none()
                && matches!(rcode, ResponseCode::FormErr | ResponseCode::NotImp)
            {
                // A server that predates EDNS (RFC 6891 §7): ask again plainly.
                edns = false;
                continue;
            }
            return Ok(response);
        }
        Err(ExchangeError::Server)
    }
}

impl Resolve for Recursor {
    fn resolve(&self, request: ResolveRequest) -> BoxFuture<'static, Resolution> {
        let this = self.clone();
        Box::pin(async move { this.resolve_request(request).await })
    }
}

/// The wire form of an iterative query: RD clear, EDNS0 with our payload size, DO clear.
fn build_query(
    id: u16,
    name: &Name,
    qtype: RecordType,
    edns: bool,
) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(name.clone(), qtype));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_PAYLOAD);
        opt.set_version(0);
        msg.set_edns(opt);
    }
    msg.to_vec()
}

fn positive(mut links: Vec<Record>, records: Vec<Record>) -> Resolution {
    links.extend(records);
    Resolution {
        rcode: ResponseCode::NoError,
        answers: links,
        authorities: Vec::new(),
        from_cache: false,
        scope: 0,
    }
}

fn negative(rcode: ResponseCode, links: Vec<Record>, soa: Option<Record>) -> Resolution {
    Resolution {
        rcode,
        answers: links,
        authorities: soa.into_iter().collect(),
        from_cache: false,
        scope: 0,
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
