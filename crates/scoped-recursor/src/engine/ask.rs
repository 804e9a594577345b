//! Asking one server one question: the upstream ECS decision (E01, E16), the exchange, and what
//! the reply means (`classify.rs`): unusable, a referral, or a final step to store.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};
use scoped_cache::Trust;
use scoped_ecs::{AllowReason, CacheScope, EcsWithheld, QueryPurpose, UpstreamEcs, cache_scope};
use tokio::sync::Notify;
use tracing::debug;

use super::ctx::{Asking, Ctx};
use super::exchange::ExchangeError;
use super::iterate::Outcome;
use super::plan::EcsExchange;
use super::reason::Failure;
use super::stats::bump;
use super::store::group_rrsets;
use super::validate::Evidence;
use super::{Recursor, ResolveError};
use crate::classify::{Classified, Step, classify};
use crate::qmin::QminMode;

impl Recursor {
    /// Query one server (already allowed by policy: `selection`) and interpret its
    /// response. `Ok(None)`: this server failed, try the next. `overdue` is woken when a try is
    /// still unanswered at the server's RTO (`race.rs` may then ask the next server too).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn try_server(
        &self,
        addr: IpAddr,
        zone: &Name,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        asking: Asking,
        overdue: &Notify,
    ) -> Result<Option<Outcome>, ResolveError> {
        let decision = self.upstream_ecs(addr, zone, qtype, ctx, asking);
        ctx.trace(|| {
            let ecs = match decision {
                UpstreamEcs::Withheld(EcsWithheld::NotAllowlisted) => {
                    format!("no ECS ({zone} / {addr} not on the allowlist)")
                }
                decision => decision.to_string(),
            };
            format!("  -> {addr}: {name} {qtype}, {ecs}")
        });
        let ecs = decision.option();
        let (response, ecs_outcome, now) =
            match self.exchange(addr, name, qtype, ctx, ecs, overdue).await {
                Ok(exchanged) => exchanged,
                Err(ExchangeError::Server(failed)) => {
                    ctx.note_failure(zone, failed);
                    ctx.trace(|| {
                        format!(
                            "  <- {addr}: no usable reply (timeout, error or mismatch); next server"
                        )
                    });
                    return Ok(None);
                }
                Err(ExchangeError::Budget(e)) => return Err(e),
            };
        let scope = reply_scope(qtype, ecs_outcome, decision);
        match classify(&response, zone, name, qtype) {
            Classified::Lame(reason) => {
                ctx.trace(|| format!("  <- {addr}: unusable ({reason:?}); next server"));
                bump(&self.inner.stats.lame_replies);
                ctx.note_failure(zone, Failure::of_lame(reason));
                if reason.is_lame_delegation() {
                    self.inner.lame.remember(addr, zone, qtype, now);
                }
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
                self.learn_referral_ds(&response, zone, &delegation.zone);
                for rrset in group_rrsets(glue) {
                    cache.insert_rrset(rrset, Trust::Glue, now);
                }
                Ok(Some(Outcome::Referral(delegation)))
            }
            Classified::Final(step) => {
                ctx.trace(|| trace_final(addr, &step, ecs_outcome, scope));
                self.learn_zone_ns(&response, zone, name, now);
                // Relaxed minimisation does not trust an NXDOMAIN for an intermediate name (it
                // may be an empty non-terminal a broken server denies): not cached, or RFC 8020
                // would deny the whole subtree from the cache.
                let keep_nxdomain = !(asking == Asking::MinimisedStep
                    && self.inner.config.qname_minimisation == QminMode::Relaxed);
                self.cache_step(&step, &response, zone, qtype, scope, now, keep_nxdomain);
                let evidence = Box::new(if self.validating() {
                    Evidence::of(&response, zone)
                } else {
                    Evidence::none(zone)
                });
                Ok(Some(Outcome::Final(step, scope, evidence)))
            }
        }
    }

    /// E01, E16: whether this query to `addr` (a server of `zone`) carries the client subnet,
    /// and if not, why — counted under the reason.
    pub(super) fn upstream_ecs(
        &self,
        addr: IpAddr,
        zone: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        asking: Asking,
    ) -> UpstreamEcs {
        let decision = self.ecs_decision(addr, zone, qtype, ctx, asking);
        let stats = &self.inner.stats;
        match decision.withheld() {
            Some(EcsWithheld::MinimisedStep { .. }) => bump(&stats.ecs_withheld_minimised),
            Some(EcsWithheld::Infrastructure) => bump(&stats.ecs_withheld_infrastructure),
            Some(EcsWithheld::NotAllowlisted) => bump(&stats.ecs_withheld_not_allowlisted),
            // Nothing to withhold; ECS that is sent is counted per query sent (exchange.rs).
            Some(EcsWithheld::NoClientSubnet { .. }) | None => {}
        }
        decision
    }
}

impl Recursor {
    /// E01, E16: whether a query to `addr` (a server of `zone`) for this question carries the
    /// client subnet; nothing counted.
    pub(super) fn ecs_decision(
        &self,
        addr: IpAddr,
        zone: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        asking: Asking,
    ) -> UpstreamEcs {
        // Questions for infrastructure types (priming's `. NS` among them) are never the
        // client's, whoever asked (E16).
        let purpose = if !ctx.role.is_client() || is_infrastructure(qtype) {
            QueryPurpose::Infrastructure
        } else if asking == Asking::MinimisedStep {
            QueryPurpose::MinimisedStep
        } else {
            QueryPurpose::ClientQuestion
        };
        let allowlisted = match (self.allowlist().allows(addr, zone), asking) {
            (Some(AllowReason::Zone(_)), Asking::Forwarded) => false,
            (allowed, _) => allowed.is_some(),
        };
        UpstreamEcs::decide(ctx.subnet, purpose, allowlisted)
    }
}

/// The scope a reply is cached under, from what became of ECS in the exchange (E12, E13, E16,
/// E20).
pub(super) fn reply_scope(
    qtype: RecordType,
    ecs_outcome: EcsExchange,
    decision: UpstreamEcs,
) -> CacheScope {
    match (ecs_outcome, decision) {
        // E16: infrastructure types are never tailored, whatever SCOPE came back.
        _ if is_infrastructure(qtype) => CacheScope::Global,
        (EcsExchange::Sent(sent, Some(returned)), _) => cache_scope(sent.prefix(), returned),
        // E12: no ECS in the reply means SCOPE 0. E13: the server does not do ECS.
        (EcsExchange::Sent(_, None) | EcsExchange::Rejected, _) => CacheScope::Global,
        // An answer to an allowlisted server without a subnet serves only the clients
        // without one (E20), not every client of a tailoring server.
        (EcsExchange::NotSent, UpstreamEcs::Withheld(why)) => why.cache_scope(),
        // Sent, then dropped (the server predates EDNS): it answers alike for everyone.
        (EcsExchange::NotSent, UpstreamEcs::Send(_)) => CacheScope::Global,
    }
}

/// `<- addr: answer, 1 record(s) after 0 CNAME(s); SCOPE 24; cached under 192.0.2.0/24`.
pub(super) fn trace_final(
    addr: IpAddr,
    step: &Step,
    ecs: EcsExchange,
    scope: CacheScope,
) -> String {
    let what = match step {
        Step::Answer { links, records, .. } => format!(
            "answer, {} record(s) after {} CNAME(s)",
            records.len(),
            links.len()
        ),
        Step::Cname { next, .. } => format!("CNAME to {next}, resolved elsewhere"),
        Step::NxDomain { name, .. } => format!("NXDOMAIN for {name}"),
        Step::NoData { name, .. } => format!("NODATA for {name}"),
    };
    let echoed = match ecs {
        EcsExchange::Sent(_, Some(returned)) => format!("SCOPE {returned}"),
        EcsExchange::Sent(_, None) => "no ECS in the reply (SCOPE 0)".into(),
        EcsExchange::Rejected => "ECS rejected, answered without".into(),
        EcsExchange::NotSent => "no ECS".into(),
    };
    format!("  <- {addr}: {what}; {echoed}; cached {scope}")
}

/// Types whose data is infrastructure: never tailored to a client subnet (E16).
pub(super) fn is_infrastructure(qtype: RecordType) -> bool {
    matches!(
        qtype,
        RecordType::NS | RecordType::DS | RecordType::DNSKEY | RecordType::SOA
    )
}
