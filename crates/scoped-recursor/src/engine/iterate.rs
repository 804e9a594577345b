//! Iteration for one name: from the closest known zone cut (or the root, primed on first need)
//! through referrals to a final step, with QNAME minimisation (RFC 9156, `qmin.rs`).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use scoped_cache::{AnswerStep, Trust};
use scoped_ecs::CacheScope;
use tokio::time::Instant;
use tracing::{debug, trace};

use super::ctx::{Asking, Ctx};
use super::{Recursor, ResolveError};
use crate::classify::{Delegation, NameServer, Step, addresses_of};
use crate::qmin::{self, Heard, Next, QminMode};

/// Outcome of asking one zone's servers.
pub(super) enum Outcome {
    Final(Step, CacheScope),
    Referral(Delegation),
}

impl Recursor {
    /// Iterate for one name (no CNAME following beyond one response): from the closest known
    /// delegation, through referrals, to a final step. With QNAME minimisation (RFC 9156) each
    /// zone is first asked only for the next label of the name (see `qmin.rs`); the name itself
    /// is asked last, of the servers of its own zone.
    pub(super) async fn query_name(
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
                let outcome = match self
                    .ask_zone(&delegation, &ask, RecordType::A, ctx, Asking::MinimisedStep)
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
            match self
                .ask_zone(&delegation, name, qtype, ctx, Asking::FullName)
                .await?
            {
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

    /// The deepest cached zone cut at or above `name`, or the root (primed on first need).
    pub(super) async fn closest_delegation(
        &self,
        name: &Name,
        ctx: &Ctx,
    ) -> Result<Delegation, ResolveError> {
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

    pub(super) fn cached_delegation(&self, zone: &Name, now: Instant) -> Option<Delegation> {
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
    pub(super) async fn prime(&self, ctx: &Ctx) -> Result<Delegation, ResolveError> {
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
        match self
            .ask_zone(&hints, &root, RecordType::NS, ctx, Asking::FullName)
            .await
        {
            Ok(Outcome::Final(Step::Answer { .. }, _)) => Ok(self
                .cached_delegation(&root, Instant::now())
                .unwrap_or(hints)),
            Ok(_) => Ok(hints),
            Err(ResolveError::AllServersFailed(_)) => Ok(hints),
            Err(other) => Err(other),
        }
    }
}
