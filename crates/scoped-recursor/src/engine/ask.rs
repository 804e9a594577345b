//! Asking one server one question: the upstream ECS decision (E01, E16), the exchange, and what
//! the reply means (`classify.rs`): unusable, a referral, or a final step to store.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};
use scoped_cache::Trust;
use scoped_ecs::{CacheScope, Ecs, cache_scope};
use tokio::time::Instant;
use tracing::debug;

use super::ctx::Ctx;
use super::exchange::ExchangeError;
use super::iterate::Outcome;
use super::stats::bump;
use super::store::group_rrsets;
use super::{Recursor, ResolveError};
use crate::classify::{Classified, Step, classify};
use crate::qmin::QminMode;

/// What became of ECS in one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EcsExchange {
    /// No ECS option was sent.
    NotSent,
    /// This option was sent; the reply echoed this SCOPE (`None`: no ECS in the reply, E12).
    Sent(Ecs, Option<u8>),
    /// The server rejected the ECS query and answered the plain retry (E13): its answer does
    /// not depend on the client subnet.
    Rejected,
}

impl Recursor {
    /// Query one server (already allowed by policy: `selection_order`) and interpret its
    /// response. `Ok(None)`: this server failed, try the next.
    pub(super) async fn try_server(
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
}

/// Types whose data is infrastructure: never tailored to a client subnet (E16).
pub(super) fn is_infrastructure(qtype: RecordType) -> bool {
    matches!(
        qtype,
        RecordType::NS | RecordType::DS | RecordType::DNSKEY | RecordType::SOA
    )
}
