//! One question to one server, with its retries: the async driver of the sans-IO
//! [`ExchangePlan`] (`plan.rs`), which decides every retry. Here only the sending, the waiting,
//! the budget, the upstream slots and the bookkeeping in the infrastructure cache.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use scoped_ecs::{Ecs, check_reply_opt, scan_opt};
use tokio::time::Instant;
use tracing::{debug, trace};

use super::ctx::Ctx;
use super::plan::{
    EcsExchange, ExchangePlan, Learned, Next, ReplyFacts, Try, TryReason, TryResult,
};
use super::stats::bump;
use super::{Recursor, ResolveError};
use crate::config::EDNS_PAYLOAD;
use crate::transport::{Protocol, TransportError, UpstreamQuery};

/// Why one exchange with one server produced nothing usable.
pub(super) enum ExchangeError {
    /// This server failed; try another.
    Server,
    /// The question's budget is spent; stop everything.
    Budget(ResolveError),
}

impl Recursor {
    /// One question to one server, driving its [`ExchangePlan`]: each try the plan asks for is
    /// sent and awaited here, and what came back goes to the plan, which says what next. Each
    /// try waits the server's RTO, feeds its SRTT or its penalty, and spends from the
    /// question's budget. Returns the response and what became of ECS.
    pub(super) async fn exchange(
        &self,
        addr: IpAddr,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        ecs: Option<Ecs>,
    ) -> Result<(Message, EcsExchange), ExchangeError> {
        let infra = &self.inner.infra;
        let now = Instant::now();
        let mut plan = ExchangePlan::new(
            ecs,
            infra.edns_broken(addr, now),
            infra.ecs_capability(addr, now),
        );
        let mut attempt = plan.start();
        loop {
            self.count_try(attempt.reason);
            let (result, response) = self.send_try(addr, name, qtype, ctx, attempt).await?;
            let (next, learned) = plan.next(result);
            self.learn(addr, learned);
            match (next, response) {
                (Next::Send(again), _) => attempt = again,
                (Next::Done(outcome), Some(response)) => return Ok((response, outcome)),
                (Next::Done(_), None) => return Err(ExchangeError::Server),
                (Next::Fail(failure), _) => {
                    debug!(%addr, %name, ?failure, "no usable reply from this server");
                    return Err(ExchangeError::Server);
                }
            }
        }
    }

    /// One try: the query on the wire, a slot among the upstream queries in flight, the wait,
    /// and the reply read into what the plan decides on (and the message itself).
    async fn send_try(
        &self,
        addr: IpAddr,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        attempt: Try,
    ) -> Result<(TryResult, Option<Message>), ExchangeError> {
        let config = &self.inner.config;
        let stats = &self.inner.stats;
        let infra = &self.inner.infra;
        let server = SocketAddr::new(addr, config.upstream_port);
        ctx.spend_query().map_err(ExchangeError::Budget)?;
        let started = Instant::now();
        let remaining = ctx.budget.deadline.saturating_duration_since(started);
        // TCP pays for the connection setup too; its time and failures are not the server's RTT
        // (a TCP-only problem must not demote the address for every name).
        let rto = match attempt.protocol {
            Protocol::Udp => infra.rto(addr, started),
            Protocol::Tcp => infra.rto(addr, started) * 2,
        };
        let timeout = rto.min(remaining);
        let id: u16 = rand::random();
        let message = build_query(id, name, qtype, attempt.edns, attempt.ecs);
        bump(&stats.upstream_queries);
        if let Some(sent) = &attempt.ecs {
            bump(&stats.ecs_sent);
            self.inner
                .ecs_audit
                .record(addr, sent.prefix().prefix_len());
        }
        trace!(%server, protocol = ?attempt.protocol, %name, %qtype, ?timeout, "upstream query");
        let query = UpstreamQuery {
            server,
            protocol: attempt.protocol,
            message,
            timeout,
            require_ecs_echo: attempt.require_echo,
            echo_timeout: None,
        };
        let permit = self.upstream_slot(ctx).await?;
        let exchanged = self.inner.transport.exchange(query).await;
        drop(permit);
        let reply = match exchanged {
            Ok(reply) => reply,
            Err(error) => {
                bump(&stats.upstream_failures);
                debug!(%server, %name, %error, "upstream exchange failed");
                let echo_missing = matches!(error, TransportError::EchoMissing(_));
                // Cut short by the question's deadline, a timeout says nothing of the server;
                // an echo-less reply is not a timeout the first time (the plan asks again).
                let reasks = echo_missing && attempt.reason != TryReason::EchoMissing;
                if timeout == rto && attempt.protocol == Protocol::Udp && !reasks {
                    infra.record_timeout(addr, Instant::now());
                }
                let result = if echo_missing {
                    TryResult::OnlyEcholess
                } else {
                    TryResult::NoReply
                };
                return Ok((result, None));
            }
        };
        if attempt.protocol == Protocol::Udp {
            infra.record_rtt(addr, started.elapsed(), Instant::now());
        }
        let Ok(response) = Message::from_vec(&reply) else {
            bump(&stats.malformed_replies);
            debug!(%server, "malformed reply");
            return Ok((TryResult::NoReply, None));
        };
        let records =
            response.answers.len() + response.authorities.len() + response.additionals.len();
        if records > config.max_records_per_reply {
            bump(&stats.oversized_replies);
            debug!(%server, records, "reply with too many records");
            return Ok((TryResult::NoReply, None));
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
        Ok((TryResult::Reply(facts), Some(response)))
    }

    /// At most `max_outstanding_upstream` queries in flight, all questions together.
    async fn upstream_slot(
        &self,
        ctx: &Ctx,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, ExchangeError> {
        let slots = &self.inner.upstream_slots;
        if let Ok(permit) = slots.try_acquire() {
            return Ok(permit);
        }
        bump(&self.inner.stats.upstream_throttled);
        match tokio::time::timeout_at(ctx.budget.deadline, slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
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
    fn learn(&self, addr: IpAddr, learned: Learned) {
        let infra = &self.inner.infra;
        let now = Instant::now();
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

/// The wire form of an iterative query: RD clear, EDNS0 with our payload size, DO clear, and
/// the ECS option when one is to be sent (always masked, SCOPE 0: E02, E04). Written straight
/// into bytes (a dozen copies) rather than through a `Message`, which costs microseconds on
/// every upstream query; `build_query_matches_hickory` pins it to hickory's encoding.
pub(super) fn build_query(
    id: u16,
    name: &Name,
    qtype: RecordType,
    edns: bool,
    ecs: Option<Ecs>,
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
        // version 0, DO clear.
        wire.extend_from_slice(&[0, 0, 41]);
        wire.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        wire.extend_from_slice(&[0, 0, 0, 0]);
        wire.extend_from_slice(&(option_len as u16).to_be_bytes());
        if let Some(option) = &ecs {
            wire.extend_from_slice(option.as_slice());
        }
    }
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
                let ours = build_query(0xbeef, &name, qtype, edns, ecs);
                let theirs = hickory(0xbeef, &name, qtype, edns, ecs.filter(|_| edns));
                assert_eq!(ours, theirs, "{text} {qtype} edns={edns} ecs={ecs:?}");
            }
        }
    }

    #[test]
    fn build_query_parses_back_as_asked() {
        let name = Name::from_ascii("Mixed.Case.example.").unwrap();
        let ecs = Ecs::for_query("192.0.2.0/24".parse().unwrap());
        let wire = build_query(7, &name, RecordType::MX, true, Some(ecs));
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
}
