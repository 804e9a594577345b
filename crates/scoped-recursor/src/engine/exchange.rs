//! One question to one server, with its retries: UDP, TCP on truncation, without ECS when the
//! server rejects it (E13), again when an echoing server's reply lacks the echo (E12), without
//! EDNS for a server that predates it.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use scoped_ecs::{Ecs, ReplyEcs, check_reply_opt, scan_opt};
use tokio::time::Instant;
use tracing::{debug, trace};

use super::ask::EcsExchange;
use super::ctx::Ctx;
use super::stats::bump;
use super::{Recursor, ResolveError};
use crate::config::EDNS_PAYLOAD;
use crate::infra::EcsCapability;
use crate::transport::{Protocol, TransportError, UpstreamQuery};

/// Why one exchange with one server produced nothing usable.
pub(super) enum ExchangeError {
    /// This server failed; try another.
    Server,
    /// The question's budget is spent; stop everything.
    Budget(ResolveError),
}

impl Recursor {
    /// One question to one server: UDP first, TCP when truncated (keeping ECS, E06), once more
    /// without ECS if the server rejects it (E13) or, once, if a server known to echo ECS
    /// answers without it (E12: suspicious), without EDNS if it predates EDNS. Each try waits
    /// the server's RTO and feeds its SRTT or its penalty; each spends from the question's
    /// budget. Returns the response and what became of ECS.
    pub(super) async fn exchange(
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

/// The wire form of an iterative query: RD clear, EDNS0 with our payload size, DO clear, and
/// the ECS option when one is to be sent (always masked, SCOPE 0: E02, E04).
pub(super) fn build_query(
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
