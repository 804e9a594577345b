//! The request pipeline: a client's query bytes in, response bytes (or nothing) out.
//!
//! The steps, in order, each with the rule it enforces:
//!
//! 1. **Header** — fewer than 12 bytes: drop (`dropped_short`). QR set: drop (`dropped_response`);
//!    answering responses would let two servers ping-pong forever.
//! 2. **ACL** — a client outside the allow list gets REFUSED (`refused_acl`).
//! 3. **Opcode** — anything but QUERY gets NOTIMP (RFC 1035 §4.1.1), header only.
//! 4. **QDCOUNT** — not exactly 1: FORMERR. Checked *before* the full parse so a header claiming
//!    65,535 questions costs nothing, and since both outcomes are FORMERR the order is invisible
//!    to clients (only the counter differs).
//! 5. **Full parse** (`Message::from_vec`) — failure: FORMERR with the client's ID and, if it can
//!    be read on its own, the question. Two OPT RRs fail here too (RFC 6891 §6.1.1). If the
//!    raw scan of step 6b finds a malformed ECS option in a message hickory could not parse, the
//!    FORMERR is counted under the ECS reason instead (hickory rejects some bad ECS options and
//!    accepts others, so the reason must not depend on which).
//! 6. **EDNS version** above 0: BADVERS with our OPT (version 0) carrying the high rcode bits
//!    (RFC 6891 §6.1.3). An option of an EDNS version we do not speak is not checked.
//!
//!    6b. **ECS, strictly (E07)** — the raw bytes are walked to the OPT record
//!    ([`scoped_ecs::scan_opt`]) and its ECS option parsed in query direction: bad FAMILY, SOURCE
//!    past 32/128, length not 4 + ceil(SOURCE/8), ADDRESS bits past SOURCE, SCOPE ≠ 0, two ECS
//!    options, an option overrunning the OPT, or a message the raw walk cannot get through (which
//!    hickory let pass) → FORMERR with the ID and question, our OPT and **no** ECS option,
//!    counted as `formerr_ecs` and `formerr_<reason>` ([`scoped_ecs::EcsError::reason`]).
//!    Never a drop. The valid option is [`ParsedQuery::ecs`].
//! 7. **Class** other than IN: REFUSED (`refused_class`); we only recurse for the Internet.
//! 8. **QTYPE** — AXFR, IXFR, MAILA, MAILB: NOTIMP, operations a recursive service does not
//!    implement (transfers go to authoritative servers). OPT, TSIG, TKEY and the unassigned meta
//!    range 128–248: FORMERR, since meta-TYPEs cannot be asked for (RFC 6895 §3.1; Unbound does
//!    the same). ANY goes to the engine.
//! 9. **Client subnet** — decided here, once per query, by
//!    [`SubnetPolicy::decide`](scoped_ecs::SubnetPolicy::decide) from the (canonical, IPv4-mapped
//!    → IPv4) client address — the same address the ACL saw — and the client's valid ECS option;
//!    the subnet (or `None`) is [`ResolveRequest::client_subnet`], used by both the cache lookup
//!    and the upstream query. Counted `ecs_tailored` / `ecs_withheld_<reason>` (E24).
//!
//!    9b. **Local zones** — a question a local zone answers ([`LocalZones::answer`]: the
//!    default zones, `[local]` zones and data) gets that answer here, before any cache or
//!    engine work, so it never leaves the machine: AA=1, the local records, ECS echoed with
//!    SCOPE 0 (the answer is the same for every client). Counted `answered_local`. The fast
//!    path leaves such questions to this step ([`LocalZones::intercepts`]).
//! 10. **Resolve**, then build the response: ID, QR, opcode, RA=1, RD and CD echoed, AA=0, AD=0,
//!     the question exactly as sent (case preserved), the engine's answers and authorities, and
//!     an OPT (payload 1232, version 0, DO echoed) iff the client sent one. None of the client's
//!     EDNS options are echoed (unknown options; our cookie is added by `guard.rs`) except ECS:
//!
//!     10b. **ECS echo (E23)** — iff the client sent a valid ECS option, the OPT carries one with
//!     FAMILY, SOURCE and ADDRESS exactly as the client sent them and SCOPE = min(the
//!     resolution's scope, the SOURCE actually used for the query; 0 when no subnet was used)
//!     ([`Ecs::echo`]). A pure function of the query, the decision and
//!     [`Resolution::scope`](scoped_recursor::Resolution::scope), so a cache hit and a miss echo
//!     alike. Error responses (FORMERR, BADVERS, REFUSED, NOTIMP) carry no ECS.
//! 11. **Size** — over UDP the limit is the client's EDNS payload clamped to 512..=ours, or 512
//!     without EDNS; a larger response goes out as header + question (+ OPT) with TC=1
//!     (RFC 2181 §9). Over TCP the only limit is the 65,535-byte frame. The truncated response
//!     keeps the OPT *with* the echoed ECS option and the same SCOPE the full answer had: RFC 7871
//!     §7.2.2 asks for the option in every response to a query that carried one, and the TC
//!     response is still the answer to that query (its retry over TCP gets the same echo). The
//!     option is at most 24 octets, so a TC response still fits 512.
//!
//! Steps 1 and 3–8 are the sans-IO [`parse_query`], which the fuzz target and property tests
//! drive with arbitrary bytes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, Metadata, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use scoped_ecs::wire::HEADER_LEN;
use scoped_ecs::{Ecs, SubnetDecision};
use scoped_recursor::{
    Question, Resolve, ResolveRequest, WireAnswer, WireClients, WireKey, WireKeyRef,
};

use crate::config::{CLASSIC_UDP_PAYLOAD, ServerConfig};
use crate::dnssec::{self, ClientBits};
use crate::fast;
use crate::local::LocalZones;
use crate::metrics::FrontendMetrics;
use crate::rules::{ClientMemo, ClientRules, RulesHandle};
use crate::stats::FrontendStats;

mod parse;
mod render;

pub use parse::{DropReason, ErrorReason, ParsedQuery, Rejection, ReplyContext, parse_query};
use parse::{peek_question, read_header, validate};

/// The largest message a TCP frame can carry (2-byte length prefix, RFC 1035 §4.2.2).
pub const TCP_MAX_MESSAGE: usize = u16::MAX as usize;

/// The EDNS option code of Extended DNS Errors (RFC 8914).
pub const EDE_OPTION_CODE: u16 = 15;
/// EDE INFO-CODE 3: Stale Answer (RFC 8914 §4.4).
pub const EDE_STALE_ANSWER: u16 = 3;

/// The transport a query arrived on; it decides the response size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: responses limited to the client's payload size, truncated with TC=1 beyond it.
    Udp,
    /// TCP: never truncated.
    Tcp,
    /// DNS over TLS (RFC 7858): as TCP, and responses padded for clients that pad.
    Tls,
    /// DNS over HTTPS (RFC 8484): as TCP, and responses padded for clients that pad.
    Https,
}

impl Transport {
    /// Whether the transport is encrypted (responses may then be padded, RFC 7830).
    pub fn is_encrypted(self) -> bool {
        matches!(self, Self::Tls | Self::Https)
    }
}

/// The request pipeline, shared by every listener.
pub struct Pipeline {
    /// The ACL and the ECS policy, replaceable while serving (`rules.rs`).
    rules: RulesHandle,
    edns_udp_payload: u16,
    pub(crate) resolver: Arc<dyn Resolve>,
    stats: Arc<FrontendStats>,
    /// Latency, queries per type, SERVFAILs per reason (`metrics.rs`).
    metrics: Arc<FrontendMetrics>,
    pub(crate) local: Arc<LocalZones>,
    /// CHAOS TXT answers about the server itself (`chaos.rs`).
    pub(crate) chaos: crate::Chaos,
    /// PROXY v2, cookies and rate limiting, before this pipeline (`guard.rs`).
    pub(crate) guard: crate::guard::Guard,
}

/// What the fast path did with a query ([`Pipeline::answer_fast_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fast {
    /// Answered: the response is written.
    Answered,
    /// Not answered, and no local zone covers its name.
    NotLocal,
    /// Not answered, and not looked at far enough to say more.
    Full,
}

impl Pipeline {
    /// A pipeline answering with `resolver`, counting into `stats`.
    pub fn new(
        config: &ServerConfig,
        resolver: Arc<dyn Resolve>,
        stats: Arc<FrontendStats>,
    ) -> Self {
        let rules = RulesHandle::new(&config.allow, config.ecs.policy.clone());
        Self::with_rules(config, rules, resolver, stats)
    }

    /// A pipeline whose ACL and ECS policy are `rules` (and change with them), not those of
    /// `config`.
    pub fn with_rules(
        config: &ServerConfig,
        rules: RulesHandle,
        resolver: Arc<dyn Resolve>,
        stats: Arc<FrontendStats>,
    ) -> Self {
        Self {
            rules,
            edns_udp_payload: config.edns_udp_payload.max(CLASSIC_UDP_PAYLOAD),
            resolver,
            guard: crate::guard::Guard::new(config, Arc::clone(&stats)),
            stats,
            metrics: Arc::default(),
            local: Arc::clone(&config.local),
            chaos: config.chaos.clone(),
        }
    }

    /// The ACL and ECS policy in force; replacing them through this handle takes effect for the
    /// next query, on every listener.
    pub fn rules(&self) -> &RulesHandle {
        &self.rules
    }

    /// This pipeline, counting its labelled metrics into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<FrontendMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The labelled metrics this pipeline counts (latency, types, SERVFAIL reasons).
    pub fn metrics(&self) -> &Arc<FrontendMetrics> {
        &self.metrics
    }

    /// The counters this pipeline bumps.
    pub fn stats(&self) -> &Arc<FrontendStats> {
        &self.stats
    }

    /// Turns one client message into the response to send, or `None` to send nothing: from the
    /// fast path when it can, else the full pipeline.
    pub async fn handle(
        &self,
        wire: &[u8],
        client: SocketAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut response = if self.answer_fast(wire, client, transport, &mut out) {
            out
        } else {
            self.handle_full(wire, client, transport).await?
        };
        if transport.is_encrypted()
            && crate::padding::query_asks_padding(wire)
            && crate::padding::pad_response(&mut response, TCP_MAX_MESSAGE)
        {
            FrontendStats::bump(&self.stats.responses_padded);
        }
        Some(response)
    }

    /// The fast path (see `fast.rs`): writes the response to `out` and returns `true` if the
    /// query is plain and the engine holds its answer rendered; otherwise leaves `out` empty,
    /// counts nothing and returns `false`, and [`handle_full`](Self::handle_full) must answer.
    pub fn answer_fast(
        &self,
        wire: &[u8],
        client: SocketAddr,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> bool {
        let now = tokio::time::Instant::now();
        let memo = &mut ClientMemo::default();
        self.answer_fast_at(wire, client, transport, out, now, memo) == Fast::Answered
    }

    /// [`answer_fast`](Self::answer_fast) with the clock already read and the loop's
    /// [`ClientMemo`]: the UDP loop reads the clock once per batch of datagrams (a clock read
    /// per query was a visible share of a hit's cost). It says what it did with the query; for
    /// one it did not answer, also whether it found no local zone covering the name (then
    /// [`handle_full_after`](Self::handle_full_after) need not look again).
    pub fn answer_fast_at(
        &self,
        wire: &[u8],
        client: SocketAddr,
        transport: Transport,
        out: &mut Vec<u8>,
        now: tokio::time::Instant,
        memo: &mut ClientMemo,
    ) -> Fast {
        let Some(query) = fast::plain_query(wire) else {
            return Fast::Full;
        };
        if self.local.intercepts(query.name()) {
            return Fast::Full;
        }
        // With validation on, DO, AD and CD change the answer (AD, RRSIGs and proofs, unchecked
        // data): an answer is replayed only to queries with the bits it was rendered for.
        let dnssec = if self.resolver.validates() {
            query.dnssec_bits()
        } else {
            0
        };
        let client_ip = client.ip().to_canonical();
        let (rules, last_client) = self.rules.through(memo);
        let verdict = match (&query.ecs, *last_client) {
            (None, Some((ip, verdict))) if ip == client_ip => verdict,
            (ecs, _) => {
                let verdict = rules
                    .acl
                    .allows(client_ip)
                    .then(|| rules.subnet_policy.decide(client_ip, ecs.as_ref()));
                if ecs.is_none() {
                    *last_client = Some((client_ip, verdict));
                }
                verdict
            }
        };
        let Some(decision) = verdict else {
            return Fast::NotLocal;
        };
        let key = WireKeyRef {
            name: query.name(),
            qtype: query.qtype,
            clients: decision.subnet().into(),
            dnssec,
        };
        let Some(answer) = self.resolver.wire_answer(&key, now) else {
            return Fast::NotLocal;
        };
        let additional = u16::from(query.opt.is_some());
        fast::write_header(
            out,
            wire,
            answer.rcode,
            answer.authentic,
            [1, answer.answers, answer.authorities, additional],
        );
        out.extend_from_slice(&wire[HEADER_LEN..query.question_end]);
        if !answer.write_body(out, now) {
            out.clear();
            return Fast::NotLocal;
        }
        let echo = query
            .ecs
            .map(|ecs| ecs.echo(decision.source_len(), answer.scope));
        if let Some((_, dnssec_ok)) = query.opt {
            fast::write_opt(out, self.edns_udp_payload, dnssec_ok, echo.as_ref());
        }
        let limit = match (transport, query.opt) {
            (Transport::Udp, None) => usize::from(CLASSIC_UDP_PAYLOAD),
            (Transport::Udp, Some((payload, _))) => {
                usize::from(payload.clamp(CLASSIC_UDP_PAYLOAD, self.edns_udp_payload))
            }
            (Transport::Tcp | Transport::Tls | Transport::Https, _) => TCP_MAX_MESSAGE,
        };
        if out.len() > limit {
            // The full path truncates it.
            out.clear();
            return Fast::NotLocal;
        }
        self.count_query(transport);
        count_decision(&self.stats, rules, client_ip, query.ecs.as_ref(), &decision);
        if echo.is_some() {
            FrontendStats::bump(&self.stats.ecs_echoed);
        }
        self.stats
            .count_response(ResponseCode::from_low(answer.rcode));
        self.metrics.count_qtype(query.qtype);
        // From the batch's clock reading: the time since the datagram was read.
        self.metrics.latency_cache.observe(now.elapsed());
        Fast::Answered
    }

    fn count_query(&self, transport: Transport) {
        FrontendStats::bump(match transport {
            Transport::Udp => &self.stats.queries_udp,
            Transport::Tcp => &self.stats.queries_tcp,
            Transport::Tls => &self.stats.queries_dot,
            Transport::Https => &self.stats.queries_doh,
        });
    }

    /// The full pipeline, every step of the module docs.
    pub async fn handle_full(
        &self,
        wire: &[u8],
        client: SocketAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        self.handle_full_after(wire, client, transport, Fast::Full)
            .await
    }

    /// [`handle_full`](Self::handle_full) for a query the fast path ([`Pipeline::answer_fast_at`])
    /// did not answer: with [`Fast::NotLocal`] the local zones are not looked at again.
    pub async fn handle_full_after(
        &self,
        wire: &[u8],
        client: SocketAddr,
        transport: Transport,
        fast: Fast,
    ) -> Option<Vec<u8>> {
        let started = tokio::time::Instant::now();
        self.count_query(transport);
        let client_ip = client.ip().to_canonical();
        let rules = self.rules.current();
        let checked = read_header(wire).and_then(|header| {
            if rules.acl.allows(client_ip) {
                validate(header, wire)
            } else {
                let context = Box::new(ReplyContext {
                    header: header.metadata,
                    question: peek_question(wire),
                    edns: None,
                });
                Err(Rejection::Reply {
                    reason: ErrorReason::AccessDenied,
                    context,
                })
            }
        });
        let query = match checked {
            Ok(query) => query,
            Err(rejection) => {
                return self
                    .answer_chaos(&rejection, transport)
                    .or_else(|| self.reject(rejection, transport));
            }
        };

        self.metrics
            .count_qtype(u16::from(query.query.query_type()));
        let decision = rules.subnet_policy.decide(client_ip, query.ecs.as_ref());
        count_decision(
            &self.stats,
            &rules,
            client_ip,
            query.ecs.as_ref(),
            &decision,
        );
        if fast != Fast::NotLocal
            && let Some(local) = self.local_answer(query.query.name(), query.query.query_type())
        {
            return self.answer_locally(query, &decision, local, transport);
        }
        let request = ResolveRequest {
            question: Question {
                name: query.query.name().clone(),
                qtype: query.query.query_type(),
                qclass: query.query.query_class(),
            },
            client: client_ip,
            client_subnet: decision.subnet(),
            checking_disabled: query.header.checking_disabled,
            dnssec_ok: ClientBits::of(&query).dnssec_ok,
        };
        let mut resolution = self.resolver.resolve(request).await;
        if resolution.rcode == ResponseCode::ServFail {
            self.metrics
                .count_servfail(resolution.ede.as_ref().map(|ede| ede.code));
        }
        let latency = if resolution.from_cache {
            &self.metrics.latency_cache
        } else {
            &self.metrics.latency_recursion
        };
        let bits = ClientBits::of(&query);
        dnssec::strip_rrsigs(&mut resolution, bits, query.query.query_type());
        // What the fast path may replay: a fresh answer or a negative one, for this question
        // and this client subnet, once it is asked for a second time (answered from the
        // caches) — with validation on, only one rendered for a query without DO, AD and CD
        // (see `answer_fast_at`). An answer asked for once — most misses: unique names, a
        // (name, subnet) pair filled once — is not rendered for replay: that would cost its
        // bytes in the answer cache (a flood of fresh names would evict the answers that are
        // asked again) and buy nothing.
        // With validation on, the answer is rendered for this query's DNSSEC bits and replayed
        // only to queries with the same ones. One with an Extended DNS Error is not replayed:
        // the fast path writes its own OPT record, without it.
        let dnssec = if self.resolver.validates() {
            bits.wire_key_bits()
        } else {
            0
        };
        let replayable = resolution.from_cache
            && !resolution.stale
            && resolution.ede.is_none()
            && matches!(
                resolution.rcode,
                ResponseCode::NoError | ResponseCode::NXDomain
            );
        let clients = if resolution.for_every_client {
            WireClients::Every
        } else {
            decision.subnet().into()
        };
        let key = replayable.then(|| {
            WireKey::new(query.query.name(), query.query.query_type(), clients).with_dnssec(dnssec)
        });
        let scope = resolution.scope;

        let mut response = self.response(
            &query.header,
            Some(query.query),
            query.edns.as_ref(),
            resolution.rcode,
        );
        dnssec::mark(&mut response, &resolution, bits);
        response.answers = resolution.answers;
        response.authorities = resolution.authorities;
        if let Some(client_ecs) = &query.ecs {
            self.echo_ecs(&mut response, client_ecs, &decision, resolution.scope);
        }
        if resolution.stale
            && let Some(edns) = response.edns.as_mut()
        {
            // RFC 8914 Extended DNS Error, INFO-CODE 3 (Stale Answer), as RFC 8767 §6 suggests:
            // an EDNS client learns the answer is served past its TTL. No EXTRA-TEXT.
            let info_code = EDE_STALE_ANSWER.to_be_bytes().to_vec();
            edns.options_mut()
                .insert(EdnsOption::Unknown(EDE_OPTION_CODE, info_code));
        }
        let wire = self.finish(response, self.size_limit(query.edns.as_ref(), transport))?;
        if let Some(key) = key
            && let Ok(answer) = WireAnswer::from_response(&wire, scope)
        {
            self.resolver.keep_wire_answer(key, answer);
        }
        latency.observe(started.elapsed());
        Some(wire)
    }

    /// Step 10b (E23): the client's ECS option back, SCOPE = min(data scope, SOURCE used).
    pub(crate) fn echo_ecs(
        &self,
        response: &mut Message,
        client_ecs: &Ecs,
        decision: &SubnetDecision,
        data_scope: u8,
    ) {
        // The client sent ECS, so it sent an OPT, so `response` carries ours.
        if let Some(edns) = response.edns.as_mut() {
            let echo = client_ecs.echo(decision.source_len(), data_scope);
            edns.options_mut().insert(echo.to_edns_option());
            FrontendStats::bump(&self.stats.ecs_echoed);
        }
    }

    /// Counts a rejection and builds its response, if it gets one.
    fn reject(&self, rejection: Rejection, transport: Transport) -> Option<Vec<u8>> {
        let stats = &self.stats;
        let (reason, context) = match rejection {
            Rejection::Drop(DropReason::TooShort { .. }) => {
                FrontendStats::bump(&stats.dropped_short);
                return None;
            }
            Rejection::Drop(DropReason::NotAQuery) => {
                FrontendStats::bump(&stats.dropped_response);
                return None;
            }
            Rejection::Reply { reason, context } => (reason, context),
        };
        FrontendStats::bump(match reason {
            ErrorReason::AccessDenied => &stats.refused_acl,
            ErrorReason::UnsupportedOpcode(_) => &stats.notimp_opcode,
            ErrorReason::QuestionCount(_) => &stats.formerr_question_count,
            ErrorReason::Malformed(_) => &stats.formerr_malformed,
            ErrorReason::BadEcs(error) => {
                FrontendStats::bump(&stats.formerr_ecs);
                stats.ecs_formerr_reason(&error)
            }
            ErrorReason::BadEdnsVersion(_) => &stats.badvers,
            ErrorReason::UnsupportedClass(_) => &stats.refused_class,
            ErrorReason::UnsupportedQtype(_) => &stats.notimp_qtype,
            ErrorReason::MetaQtype(_) => &stats.formerr_meta_qtype,
        });
        let response = self.response(
            &context.header,
            context.question,
            context.edns.as_ref(),
            reason.rcode(),
        );
        self.finish(response, self.size_limit(context.edns.as_ref(), transport))
    }

    /// The response skeleton: header flags, question, OPT; no records yet.
    pub(crate) fn response(
        &self,
        request: &Metadata,
        question: Option<Query>,
        client_edns: Option<&Edns>,
        rcode: ResponseCode,
    ) -> Message {
        let mut response = Message::response(request.id, request.op_code);
        response.metadata.recursion_available = true;
        response.metadata.recursion_desired = request.recursion_desired;
        response.metadata.checking_disabled = request.checking_disabled;
        response.metadata.response_code = rcode;
        response.queries.extend(question);
        if let Some(client_edns) = client_edns {
            // RFC 6891 §7: a responder to an EDNS query MUST include an OPT; the high rcode bits
            // (BADVERS) are filled in from the header's rcode when the message is emitted.
            let mut edns = Edns::new();
            edns.set_max_payload(self.edns_udp_payload)
                .set_version(0)
                .set_dnssec_ok(client_edns.flags().dnssec_ok);
            response.set_edns(edns);
        }
        response
    }

    /// How large a response to this client may be on this transport.
    pub(crate) fn size_limit(&self, client_edns: Option<&Edns>, transport: Transport) -> usize {
        match (transport, client_edns) {
            (Transport::Udp, None) => usize::from(CLASSIC_UDP_PAYLOAD),
            (Transport::Udp, Some(edns)) => usize::from(
                edns.max_payload()
                    .clamp(CLASSIC_UDP_PAYLOAD, self.edns_udp_payload),
            ),
            (Transport::Tcp | Transport::Tls | Transport::Https, _) => TCP_MAX_MESSAGE,
        }
    }

    /// Serialises `response`, truncating it to header + question (+ OPT) with TC=1 if it exceeds
    /// `limit`, or answering SERVFAIL if the engine's records do not serialise; counts the rcode.
    pub(crate) fn finish(&self, mut response: Message, limit: usize) -> Option<Vec<u8>> {
        let wire = match render::render(&response).map_or_else(|| response.to_vec(), Ok) {
            Ok(wire) => wire,
            Err(error) => {
                tracing::warn!(%error, id = response.metadata.id, "response failed to serialise");
                FrontendStats::bump(&self.stats.encode_errors);
                response.answers.clear();
                response.authorities.clear();
                response.metadata.response_code = ResponseCode::ServFail;
                response.to_vec().ok()?
            }
        };
        let wire = if wire.len() > limit {
            FrontendStats::bump(&self.stats.truncated);
            response.answers.clear();
            response.authorities.clear();
            response.metadata.truncation = true;
            response.to_vec().ok()?
        } else {
            wire
        };
        self.stats.count_response(response.metadata.response_code);
        Some(wire)
    }
}

/// Step 9: the client subnet to resolve for, decided once from the (canonical) client address
/// and the client's validated ECS option: counted and traced (E24).
fn count_decision(
    stats: &FrontendStats,
    rules: &ClientRules,
    client: IpAddr,
    ecs: Option<&Ecs>,
    decision: &SubnetDecision,
) {
    stats.count_subnet_decision(decision);
    if decision.subnet().is_some()
        && ecs.is_some_and(|ecs| ecs.source() > 0)
        && rules.subnet_policy.is_trusted(client)
    {
        FrontendStats::bump(&stats.ecs_trusted_front_end);
    }
    tracing::trace!(
        %client,
        client_ecs = ?ecs,
        subnet = ?decision.subnet(),
        withheld = decision.reason().map(|reason| reason.reason()),
        "client subnet decided"
    );
}
