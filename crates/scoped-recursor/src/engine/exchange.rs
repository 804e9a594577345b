//! One question to one server, with its retries: the async driver of the sans-IO
//! [`ExchangePlan`] (`plan.rs`), which decides every retry. Here only the sending, the waiting,
//! the budget, the upstream slots and the bookkeeping in the infrastructure cache.
//!
//! Each try has two timeouts. At the *soft* one (the server's RTO) the try is overdue: the
//! caller (`race.rs`) is told, and may ask the next server too. The try stays open until its
//! *hard* timeout (several RTOs, `InfraCache::hard_timeout`), in a task of its own, so a late
//! reply is still taken if the question waits for it, and always feeds the server's SRTT as
//! the slow answer it is. Only a try unanswered at its hard timeout is a timeout. The try keeps
//! its own socket, ID and ECS check all along (the transport matches replies per query).

use std::net::{IpAddr, SocketAddr};

use futures::future::BoxFuture;
use hickory_proto::op::{Header, Message, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};
use scoped_ecs::wire::HEADER_LEN;
use scoped_ecs::{Ecs, check_reply_opt, scan_opt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, trace};

use super::ctx::{Ctx, TlsRoute};
use super::plan::{
    EcsExchange, ExchangePlan, Learned, Next, ReplyFacts, Try, TryReason, TryResult,
};
use super::reason::Failure;
use super::stats::bump;
use super::{Recursor, ResolveError};
use crate::config::EDNS_PAYLOAD;
use crate::infra::{COOKIE_OPTION, CookieCheck, TrySample};
use crate::transport::{Protocol, TransportError, UpstreamQuery};

/// Why one exchange with one server produced nothing usable.
pub(super) enum ExchangeError {
    /// This server failed (how, last); try another.
    Server(Failure),
    /// The question's budget is spent; stop everything.
    Budget(ResolveError),
}

/// One upstream query in flight: its upstream slot and its place in the server's in-flight
/// count, both given back when it ends — here, or in the task that waits for a late reply.
pub(super) struct InFlight {
    recursor: Recursor,
    addr: IpAddr,
    ended: bool,
}

impl InFlight {
    /// Takes over `slot` (given back when it ends) and counts the query at `addr`, sent `now`.
    pub(super) fn begin(
        recursor: &Recursor,
        addr: IpAddr,
        slot: tokio::sync::SemaphorePermit<'_>,
        now: Instant,
    ) -> Self {
        slot.forget();
        recursor.inner.infra.begin_query(addr, now);
        Self {
            recursor: recursor.clone(),
            addr,
            ended: false,
        }
    }

    /// Takes over `slot` for a query already counted at `addr` ([`InfraCache::start_try`]).
    ///
    /// [`InfraCache::start_try`]: crate::infra::InfraCache::start_try
    fn counted(recursor: &Recursor, slot: tokio::sync::SemaphorePermit<'_>, addr: IpAddr) -> Self {
        slot.forget();
        Self {
            recursor: recursor.clone(),
            addr,
            ended: false,
        }
    }

    /// The query ended `now` (a clock read the caller made anyway), and `sample` is what it
    /// says of the server.
    pub(super) fn end(mut self, now: Instant, sample: TrySample) {
        self.release(now, sample);
    }

    fn release(&mut self, now: Instant, sample: TrySample) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let inner = &self.recursor.inner;
        inner.upstream_slots.add_permits(1);
        if let Some(room) = inner.infra.end_try(self.addr, now, sample) {
            room.notify_one();
        }
    }
}

/// A query dropped before it ended (its task cancelled) still gives its slot back.
impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.ended {
            self.release(Instant::now(), TrySample::Nothing);
        }
    }
}

/// How the wait for a try's reply ended before its hard timeout.
enum Early {
    /// A reply or an error.
    Done(Result<Vec<u8>, TransportError>),
    /// Its RTO (the soft timeout) passed.
    Overdue,
    /// Another try found the server silent: overdue now.
    Silenced,
}

/// What one try came to: what the plan decides on, the message itself, how it failed (if it
/// did), and when it ended (a clock read the try made anyway).
struct Tried {
    result: TryResult,
    response: Option<Message>,
    failed: Option<Failure>,
    ended: Instant,
}

impl Tried {
    fn failed(result: TryResult, failed: Failure, ended: Instant) -> Self {
        Self {
            result,
            response: None,
            failed: Some(failed),
            ended,
        }
    }
}

/// How one try ended, for the infrastructure cache.
#[derive(Clone, Copy)]
struct TryEnd {
    addr: IpAddr,
    attempt: Try,
    started: Instant,
    /// The hard timeout was the server's own, not cut short by the question's deadline.
    full_wait: bool,
    /// Sent over UDP (not TCP, not TLS): its time is the server's RTT.
    udp: bool,
}

impl Recursor {
    /// One question to one server, driving its [`ExchangePlan`]: each try the plan asks for is
    /// sent and awaited here, and what came back goes to the plan, which says what next. Each
    /// try feeds the server's SRTT or its penalty, and spends from the question's budget; a try
    /// still unanswered at the server's RTO wakes `overdue`. Returns the response, what became
    /// of ECS, and when the reply came (a clock read the caller need not repeat).
    pub(super) async fn exchange(
        &self,
        addr: IpAddr,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        ecs: Option<Ecs>,
        overdue: &Notify,
    ) -> Result<(Message, EcsExchange, Instant), ExchangeError> {
        let infra = &self.inner.infra;
        let mut now = Instant::now();
        let (edns_broken, ecs_capability) = infra.capabilities(addr, now);
        let mut plan = ExchangePlan::new(ecs, edns_broken, ecs_capability);
        let mut attempt = plan.start();
        loop {
            self.count_try(attempt.reason);
            let Tried {
                result,
                response,
                failed,
                ended,
            } = self
                .send_try(addr, name, qtype, ctx, (attempt, now), overdue)
                .await?;
            let (next, learned) = plan.next(result);
            self.learn(addr, learned, ended);
            // How the last try failed; a reply the plan gave up on was unusable.
            let failed = failed.unwrap_or(Failure::Unusable);
            match (next, response) {
                (Next::Send(again), _) => {
                    attempt = again;
                    now = Instant::now();
                }
                (Next::Done(outcome), Some(response)) => return Ok((response, outcome, ended)),
                (Next::Done(_), None) => return Err(ExchangeError::Server(failed)),
                (Next::Fail(failure), _) => {
                    debug!(%addr, %name, ?failure, "no usable reply from this server");
                    return Err(ExchangeError::Server(failed));
                }
            }
        }
    }

    /// One try: the query on the wire, a slot among the upstream queries in flight, the wait
    /// (soft, then hard timeout), and the reply read into what the plan decides on (and the
    /// message itself).
    async fn send_try(
        &self,
        addr: IpAddr,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        // The try, and the clock read just before it (its start unless it waits for a slot).
        (attempt, now): (Try, Instant),
        overdue: &Notify,
    ) -> Result<Tried, ExchangeError> {
        let config = &self.inner.config;
        let stats = &self.inner.stats;
        let infra = &self.inner.infra;
        let tls = ctx.tls.clone();
        let port = tls
            .as_ref()
            .map_or_else(|| self.port_of(addr), |route| route.port);
        let server = SocketAddr::new(addr, port);
        ctx.spend_query(now).map_err(ExchangeError::Budget)?;
        let id: u16 = rand::random();
        let dnssec_ok = config.dnssec.validation;
        let cookie = attempt
            .edns
            .then(|| infra.cookie_option(addr, now))
            .flatten();
        let mut message = add_cookie(
            build_query(id, name, qtype, attempt.edns, attempt.ecs, dnssec_ok),
            cookie.as_deref(),
        );
        if ctx.recursion_desired {
            // RD is the lowest bit of the third octet (RFC 1035 §4.1.1).
            message[2] |= 0x01;
        }
        // The try starts now, unless it had to wait for a slot (clock reads are a visible share
        // of a miss's cost).
        let (slot, waited) = self.upstream_slot(ctx).await?;
        let started = if waited { Instant::now() } else { now };
        let remaining = ctx.budget.deadline.saturating_duration_since(started);
        // TCP and TLS pay for the connection setup too; their time and failures are not the
        // server's RTT (a TCP-only problem must not demote the address for every name).
        let udp = attempt.protocol == Protocol::Udp && tls.is_none();
        // Counted in flight from here; `in_flight` below ends it, however the try ends.
        let times = infra.start_try(addr, started);
        let in_flight = InFlight::counted(self, slot, addr);
        let (soft, hard) = match udp {
            true => (times.rto, times.hard_timeout),
            false => (times.rto * 2, times.hard_timeout * 2),
        };
        let timeout = hard.min(remaining);
        let soft = soft.min(timeout);
        bump(&stats.upstream_queries);
        if let Some(sent) = &attempt.ecs {
            bump(&stats.ecs_sent);
            self.inner
                .ecs_audit
                .record(addr, sent.prefix().prefix_len());
        }
        trace!(%server, protocol = ?attempt.protocol, tls = tls.is_some(), %name, %qtype, ?soft, ?timeout, "upstream query");
        let query = UpstreamQuery {
            server,
            protocol: attempt.protocol,
            message,
            timeout,
            require_ecs_echo: attempt.require_echo,
            // Only echo-less replies by the RTO: the plan re-asks then (E12), as before the
            // late-reply window existed; a try that heard nothing waits on for a late reply.
            echo_timeout: Some(soft),
        };
        // Taken before the send: a try already out when another try finds the server silent
        // goes overdue then, not at its own RTO.
        let silenced = times.silence.notified();
        // Below, the wait polls the exchange again at the RTO if no reply came by then: the
        // transport need set its own (hard) timeout only at that poll.
        let mut exchanged = self.send(tls, query, soft < timeout);
        let end = TryEnd {
            addr,
            attempt,
            started,
            full_wait: timeout == hard,
            udp,
        };
        let early = if soft < timeout {
            tokio::select! {
                // A reply (or the echo timeout, which is the RTO) due at the very instant of
                // the RTO is taken first, as `tokio::time::timeout` did.
                biased;
                exchanged = &mut exchanged => Early::Done(exchanged),
                () = tokio::time::sleep_until(started + soft) => Early::Overdue,
                () = silenced, if udp => Early::Silenced,
            }
        } else {
            Early::Done((&mut exchanged).await)
        };
        let (exchanged, ended) = match early {
            Early::Done(exchanged) => {
                let ended = Instant::now();
                in_flight.end(ended, self.settle(end, &exchanged, ended));
                (exchanged, ended)
            }
            overdue_now => {
                // Overdue, not failed: the next server may be asked, and this try stays open
                // until its hard timeout in its own task, which feeds the infrastructure cache
                // whether or not this question still waits for it.
                bump(&stats.soft_timeouts);
                let waited = started.elapsed();
                if udp && let Some(silent) = infra.record_overdue(addr, started, Instant::now()) {
                    // Nothing at all from the server since this try went out: the tries to it
                    // still short of their RTO stop waiting on it alone.
                    silent.notify_waiters();
                }
                if matches!(overdue_now, Early::Silenced) {
                    bump(&stats.silent_server_releases);
                }
                ctx.trace(|| match overdue_now {
                    Early::Silenced => format!(
                        "  .. {addr}: found silent by an earlier try, {waited:?} in; kept open until {timeout:?}"
                    ),
                    _ => format!(
                        "  .. {addr}: no reply within {soft:?}; kept open until {timeout:?}"
                    ),
                });
                overdue.notify_one();
                let (tx, rx) = tokio::sync::oneshot::channel();
                let this = self.clone();
                tokio::spawn(async move {
                    let exchanged = exchanged.await;
                    let ended = Instant::now();
                    in_flight.end(ended, this.settle(end, &exchanged, ended));
                    // The question may have its answer already: then only the SRTT learnt.
                    let _ = tx.send(exchanged);
                });
                let exchanged = rx.await.unwrap_or(Err(TransportError::Timeout(timeout)));
                if exchanged.is_ok() {
                    bump(&stats.late_replies);
                    ctx.trace(|| format!("  <- {addr}: late reply after {:?}", started.elapsed()));
                }
                (exchanged, Instant::now())
            }
        };
        let reply = match exchanged {
            Ok(reply) => reply,
            Err(error) => {
                let result = if matches!(error, TransportError::EchoMissing(_)) {
                    TryResult::OnlyEcholess
                } else {
                    TryResult::NoReply
                };
                let failed = match error {
                    TransportError::Timeout(_) | TransportError::EchoMissing(_) => Failure::Timeout,
                    TransportError::Io(_) => Failure::Network,
                    TransportError::Framing(_) | TransportError::Tls(_) => Failure::Unusable,
                };
                return Ok(Tried::failed(result, failed, ended));
            }
        };
        let Ok(response) = read_reply(&reply, name, qtype) else {
            bump(&stats.malformed_replies);
            debug!(%server, "malformed reply");
            return Ok(Tried::failed(TryResult::NoReply, Failure::Unusable, ended));
        };
        if cookie.is_some() && infra.check_reply_cookie(addr, &reply, ended) == CookieCheck::Spoofed
        {
            // Not the server's reply: as if nothing had come (RFC 7873 §5.3).
            bump(&stats.cookie_spoofed_replies);
            debug!(%server, "reply without our cookie from a server that sends cookies");
            ctx.trace(|| format!("  <- {addr}: reply without our cookie, dropped as spoofed"));
            return Ok(Tried::failed(TryResult::NoReply, Failure::Timeout, ended));
        }
        let records =
            response.answers.len() + response.authorities.len() + response.additionals.len();
        if records > config.max_records_per_reply {
            bump(&stats.oversized_replies);
            debug!(%server, records, "reply with too many records");
            return Ok(Tried::failed(TryResult::NoReply, Failure::Unusable, ended));
        }
        // The transport already dropped mismatching replies (E11); the check is made again here
        // because a TCP reply is not filtered the same way.
        let ecs = attempt.ecs.and_then(|sent| {
            scan_opt(&reply)
                .ok()
                .map(|opt| check_reply_opt(&sent, opt.map(|o| o.rdata)))
        });
        let facts = ReplyFacts {
            truncated: response.metadata.truncation,
            rcode: response.metadata.response_code,
            has_opt: response.edns.is_some(),
            ecs,
        };
        Ok(Tried {
            result: TryResult::Reply(facts),
            response: Some(response),
            failed: None,
            ended,
        })
    }

    /// The query on its way: over the forwarder's TLS connection when the try has a TLS route
    /// (then never through the plain transport: no clear-text fallback), else the transport.
    /// `repolled`: the caller polls the exchange again at the query's `echo_timeout` if no
    /// reply came by then ([`Transport::exchange_repolled`]).
    ///
    /// [`Transport::exchange_repolled`]: crate::transport::Transport::exchange_repolled
    fn send(
        &self,
        tls: Option<TlsRoute>,
        query: UpstreamQuery,
        repolled: bool,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        match tls {
            Some(route) => {
                let this = self.clone();
                Box::pin(async move { route.client.exchange(query, &this.inner.stats).await })
            }
            None if repolled => self.inner.transport.exchange_repolled(query),
            None => self.inner.transport.exchange(query),
        }
    }

    /// What the end of one try says about the server: a UDP reply is an RTT sample (a late one
    /// too: the server is slow, not dead); a UDP try unanswered for its whole hard timeout is a
    /// timeout.
    fn settle(
        &self,
        end: TryEnd,
        exchanged: &Result<Vec<u8>, TransportError>,
        now: Instant,
    ) -> TrySample {
        let udp = end.udp;
        match exchanged {
            Ok(_) if udp => TrySample::Rtt(now.duration_since(end.started)),
            Ok(_) => TrySample::Nothing,
            Err(error) => {
                bump(&self.inner.stats.upstream_failures);
                debug!(addr = %end.addr, %error, "upstream exchange failed");
                // Cut short by the question's deadline, a timeout says nothing of the server;
                // an echo-less reply is not a timeout the first time (the plan asks again).
                let echo_missing = matches!(error, TransportError::EchoMissing(_));
                let reasks = echo_missing && end.attempt.reason != TryReason::EchoMissing;
                if end.full_wait && udp && !reasks {
                    TrySample::Timeout
                } else {
                    TrySample::Nothing
                }
            }
        }
    }

    /// At most `max_outstanding_upstream` queries in flight, all questions together.
    /// With it, whether it had to wait for it.
    async fn upstream_slot(
        &self,
        ctx: &Ctx,
    ) -> Result<(tokio::sync::SemaphorePermit<'_>, bool), ExchangeError> {
        let slots = &self.inner.upstream_slots;
        if let Ok(permit) = slots.try_acquire() {
            return Ok((permit, false));
        }
        bump(&self.inner.stats.upstream_throttled);
        match tokio::time::timeout_at(ctx.budget.deadline, slots.acquire()).await {
            Ok(Ok(permit)) => Ok((permit, true)),
            _ => Err(ExchangeError::Budget(ResolveError::Deadline)),
        }
    }

    /// Each retry has its counter.
    fn count_try(&self, reason: TryReason) {
        let stats = &self.inner.stats;
        match reason {
            TryReason::First | TryReason::EdnsUnsupported => {}
            TryReason::Truncated => bump(&stats.tcp_retries),
            TryReason::EcsRejected => bump(&stats.ecs_rejected_retries),
            TryReason::EchoMissing => bump(&stats.ecs_suspicious_reasks),
        }
    }

    /// What a try taught about the server goes into the infrastructure cache.
    fn learn(&self, addr: IpAddr, learned: Learned, now: Instant) {
        let infra = &self.inner.infra;
        match learned.edns {
            Some(true) => infra.record_edns_works(addr, now),
            Some(false) => infra.record_edns_broken(addr, now),
            None => {}
        }
        if learned.forget_echo {
            infra.forget_ecs_echo(addr, now);
        }
        if let Some(capability) = learned.ecs {
            infra.record_ecs(addr, capability, now);
        }
    }
}

/// The reply as `Message::from_vec` reads it, but for its question: every transport has
/// already matched it against the query's (`reply_matches`: ID, name, type and class), so it
/// is skipped on the wire and the query's own put in its place, which saves reading a name.
fn read_reply(reply: &[u8], name: &Name, qtype: RecordType) -> Result<Message, DecodeError> {
    let mut decoder = BinDecoder::new(reply);
    let Header {
        mut metadata,
        counts,
    } = Header::read(&mut decoder)?;
    let question_end = match counts.queries {
        1 => scoped_ecs::wire::skip_name(reply, HEADER_LEN)
            .ok()
            .map(|n| n.end + 4),
        _ => None,
    };
    let Some(question_end) = question_end.filter(|&end| end <= reply.len()) else {
        // Not the one question matched (never, through the transports): read it all.
        return Message::from_vec(reply);
    };
    decoder.read_slice(question_end - HEADER_LEN)?;
    let op = metadata.op_code;
    let (answers, _, _) = Message::read_records(&mut decoder, counts.answers.into(), false, op)?;
    let (authorities, _, _) =
        Message::read_records(&mut decoder, counts.authorities.into(), false, op)?;
    let (additionals, edns, signature) =
        Message::read_records(&mut decoder, counts.additionals.into(), true, op)?;
    if let Some(edns) = &edns {
        metadata.merge_response_code(edns.rcode_high());
    }
    let mut message = Message::new(metadata.id, metadata.message_type, op);
    message.metadata = metadata;
    message.queries = vec![Query::query(name.clone(), qtype)];
    message.answers = answers;
    message.authorities = authorities;
    message.additionals = additionals;
    message.signature = signature;
    message.edns = edns;
    Ok(message)
}

/// The wire form of an iterative query: RD clear, EDNS0 with our payload size, DO set when
/// validating (`dnssec_ok`: the servers then send RRSIGs and denial records), and the ECS
/// option when one is to be sent (always masked, SCOPE 0: E02, E04). Written straight
/// into bytes (a dozen copies) rather than through a `Message`, which costs microseconds on
/// every upstream query; `build_query_matches_hickory` pins it to hickory's encoding.
pub(super) fn build_query(
    id: u16,
    name: &Name,
    qtype: RecordType,
    edns: bool,
    ecs: Option<Ecs>,
    dnssec_ok: bool,
) -> Vec<u8> {
    let ecs = ecs.filter(|_| edns).map(|ecs| ecs.option());
    let option_len = ecs.as_ref().map_or(0, |o| o.as_slice().len());
    let mut wire = Vec::with_capacity(12 + 255 + 4 + 11 + option_len);
    wire.extend_from_slice(&id.to_be_bytes());
    // QR=0, OPCODE=QUERY, AA=TC=RD=0; RA=Z=AD=CD=0, RCODE=0.
    wire.extend_from_slice(&[0, 0]);
    wire.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in name.iter() {
        // A `Name` holds labels of at most 63 octets (RFC 1035 §2.3.4).
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    wire.extend_from_slice(&u16::from(qtype).to_be_bytes());
    wire.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
    if edns {
        // OPT (RFC 6891 §6.1.2): root owner, TYPE 41, CLASS = payload, TTL = extended RCODE 0,
        // version 0, DO as asked (the top bit of the flags).
        wire.extend_from_slice(&[0, 0, 41]);
        wire.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        wire.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
        wire.extend_from_slice(&(option_len as u16).to_be_bytes());
        if let Some(option) = &ecs {
            wire.extend_from_slice(option.as_slice());
        }
    }
    wire
}

/// Adds a COOKIE option with `cookie` (client cookie, then the server's) to a query
/// [`build_query`] wrote with EDNS, whose OPT is the last record.
fn add_cookie(mut wire: Vec<u8>, cookie: Option<&[u8]>) -> Vec<u8> {
    let Some(cookie) = cookie else {
        return wire;
    };
    let Ok(Some((offset, len))) =
        scan_opt(&wire).map(|opt| opt.map(|o| (o.rdata_offset, o.rdata.len())))
    else {
        return wire;
    };
    if offset + len != wire.len() {
        return wire;
    }
    // At most 4 + 40 octets more: the RDLENGTH cannot overflow.
    let new_len = (len + 4 + cookie.len()) as u16;
    wire[offset - 2..offset].copy_from_slice(&new_len.to_be_bytes());
    wire.extend_from_slice(&COOKIE_OPTION.to_be_bytes());
    wire.extend_from_slice(&(cookie.len() as u16).to_be_bytes());
    wire.extend_from_slice(cookie);
    wire
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};

    use super::*;

    /// What hickory writes for the same query.
    fn hickory(id: u16, name: &Name, qtype: RecordType, edns: bool, ecs: Option<Ecs>) -> Vec<u8> {
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
        msg.to_vec().expect("hickory encodes it")
    }

    #[test]
    fn build_query_matches_hickory() {
        let v4 = Ecs::for_query("198.51.100.0/24".parse().unwrap());
        let v6 = Ecs::for_query("2001:db8:ab00::/40".parse().unwrap());
        let names = [
            "www.Example.COM.",
            ".",
            "a.b.c.d.e.f.g.",
            "xn--bcher-kva.example.",
        ];
        for text in names {
            let name = Name::from_ascii(text).unwrap();
            for (qtype, edns, ecs) in [
                (RecordType::A, true, Some(v4)),
                (RecordType::AAAA, true, Some(v6)),
                (RecordType::NS, true, None),
                (RecordType::TXT, false, None),
                (RecordType::A, false, Some(v4)),
            ] {
                let ours = build_query(0xbeef, &name, qtype, edns, ecs, false);
                let theirs = hickory(0xbeef, &name, qtype, edns, ecs.filter(|_| edns));
                assert_eq!(ours, theirs, "{text} {qtype} edns={edns} ecs={ecs:?}");
            }
        }
    }

    #[test]
    fn build_query_parses_back_as_asked() {
        let name = Name::from_ascii("Mixed.Case.example.").unwrap();
        let ecs = Ecs::for_query("192.0.2.0/24".parse().unwrap());
        let wire = build_query(7, &name, RecordType::MX, true, Some(ecs), false);
        let msg = Message::from_vec(&wire).unwrap();
        assert_eq!(msg.metadata.id, 7);
        assert!(!msg.metadata.recursion_desired);
        assert_eq!(msg.queries[0].name().to_ascii(), "Mixed.Case.example.");
        assert_eq!(msg.queries[0].query_type(), RecordType::MX);
        let edns = msg.edns.expect("an OPT");
        assert_eq!(edns.max_payload(), EDNS_PAYLOAD);
        assert!(!edns.flags().dnssec_ok);
        assert_eq!(
            scoped_ecs::message_ecs(&wire, scoped_ecs::Direction::Query).unwrap(),
            Some(ecs)
        );
    }

    #[test]
    fn a_cookie_goes_into_the_opt_after_ecs() {
        let name = Name::from_ascii("example.").unwrap();
        let ecs = Ecs::for_query("192.0.2.0/24".parse().unwrap());
        let cookie = [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9];
        let wire = build_query(9, &name, RecordType::A, true, Some(ecs), false);
        let wire = add_cookie(wire, Some(&cookie));
        let msg = Message::from_vec(&wire).unwrap();
        let edns = msg.edns.expect("an OPT");
        assert_eq!(
            edns.option(hickory_proto::rr::rdata::opt::EdnsCode::Cookie),
            Some(&hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
                10,
                cookie.to_vec()
            ))
        );
        assert_eq!(
            scoped_ecs::message_ecs(&wire, scoped_ecs::Direction::Query).unwrap(),
            Some(ecs)
        );
        // Without EDNS there is no OPT to put it in.
        let plain = build_query(9, &name, RecordType::A, false, None, false);
        assert_eq!(add_cookie(plain.clone(), Some(&cookie)), plain);
    }

    #[test]
    fn build_query_sets_do_when_validating() {
        let name = Name::from_ascii("example.").unwrap();
        let wire = build_query(9, &name, RecordType::DNSKEY, true, None, true);
        let msg = Message::from_vec(&wire).unwrap();
        let edns = msg.edns.expect("an OPT");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), EDNS_PAYLOAD);
        // Without EDNS there is no DO to set.
        let plain = build_query(9, &name, RecordType::DNSKEY, false, None, true);
        assert!(Message::from_vec(&plain).unwrap().edns.is_none());
    }

    /// Replies read with the question skipped equal what hickory reads from the whole message.
    #[test]
    fn a_reply_read_without_its_question_is_the_message_hickory_reads() {
        use hickory_proto::rr::rdata::{A, NS, SOA};
        use hickory_proto::rr::{RData, Record};
        let name = Name::from_ascii("www.Example.com.").unwrap();
        let zone = Name::from_ascii("example.com.").unwrap();
        let ns = Name::from_ascii("ns1.example.com.").unwrap();
        let reply = |rcode_high: u8, soa: bool| {
            let mut msg = Message::new(4242, MessageType::Response, OpCode::Query);
            msg.metadata.authoritative = true;
            msg.add_query(Query::query(name.clone(), RecordType::A));
            msg.add_answer(Record::from_rdata(
                name.clone(),
                300,
                RData::A(A::new(192, 0, 2, 1)),
            ));
            msg.add_authority(Record::from_rdata(
                zone.clone(),
                3600,
                RData::NS(NS(ns.clone())),
            ));
            if soa {
                let soa = SOA::new(ns.clone(), zone.clone(), 1, 2, 3, 4, 5);
                msg.add_authority(Record::from_rdata(zone.clone(), 60, RData::SOA(soa)));
            }
            msg.add_additional(Record::from_rdata(
                ns.clone(),
                3600,
                RData::A(A::new(192, 0, 2, 53)),
            ));
            // Written by hickory as the OPT record's high bits and the header's low ones.
            msg.metadata.response_code = hickory_proto::op::ResponseCode::from(rcode_high, 0);
            msg.set_edns(Edns::new());
            msg.to_vec().unwrap()
        };
        for wire in [reply(0, false), reply(0, true), reply(1, false)] {
            let ours = read_reply(&wire, &name, RecordType::A).expect("reads");
            assert_eq!(ours, Message::from_vec(&wire).unwrap());
        }
        // The extended RCODE from the OPT record is merged as hickory does (BADVERS here).
        let badvers = read_reply(&reply(1, false), &name, RecordType::A).unwrap();
        assert_eq!(u16::from(badvers.metadata.response_code), 16);
        // Cut anywhere, it fails as hickory's read fails, never panics.
        let whole = reply(0, true);
        for cut in 0..whole.len() {
            assert_eq!(
                read_reply(&whole[..cut], &name, RecordType::A).is_ok(),
                Message::from_vec(&whole[..cut]).is_ok(),
                "cut at {cut}"
            );
        }
        // No question (not what a transport passes on): read whole, as hickory does.
        let mut none = Message::new(1, MessageType::Response, OpCode::Query);
        none.add_answer(Record::from_rdata(
            name.clone(),
            300,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        let wire = none.to_vec().unwrap();
        assert_eq!(
            read_reply(&wire, &name, RecordType::A).unwrap(),
            Message::from_vec(&wire).unwrap()
        );
    }
}
