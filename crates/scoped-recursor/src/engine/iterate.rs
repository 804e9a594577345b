//! Iteration for one name: from the closest known zone cut (or the root, primed on first need)
//! through referrals to a final step, with QNAME minimisation (RFC 9156, `qmin.rs`).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use scoped_cache::{AnswerStep, CacheKey};
use scoped_ecs::CacheScope;
use scoped_ecs::names::is_within;
use tokio::time::Instant;
use tracing::{debug, trace};

use super::ctx::{Asking, Ctx};
use super::validate::Evidence;
use super::{Recursor, ResolveError};
use std::sync::Arc;

use super::cuts::KnownCut;
use crate::classify::{Delegation, NameServer, Step};
use crate::qmin::{self, Heard, Next, QminMode};
use scoped_ecs::names::ancestor;

/// What a minimised step heard (`qmin.rs` decides what follows).
fn heard_of(outcome: &Result<Outcome, Name>) -> Heard {
    match outcome {
        Ok(Outcome::Referral(_)) => Heard::Referral,
        Ok(Outcome::Final(step, _, _)) => match step {
            Step::Cname { .. } => Heard::Alias,
            Step::Answer { links, .. } | Step::NxDomain { links, .. } if !links.is_empty() => {
                Heard::Alias
            }
            Step::Answer { .. } | Step::NoData { .. } => Heard::Exists,
            Step::NxDomain { .. } => Heard::NxDomain,
        },
        Err(_) => Heard::Failed,
    }
}

/// Outcome of asking one zone's servers.
pub(super) enum Outcome {
    /// A final step, the scope it was cached under, and the DNSSEC records that came with it.
    Final(Step, CacheScope, Box<Evidence>),
    Referral(Delegation),
}

/// Where the walk down to one name stands.
struct Walk {
    /// The servers being asked: the deepest zone cut reached.
    delegation: Arc<Delegation>,
    /// How many labels the deepest name on the way known to exist has (a zone cut, or a name
    /// that answered): always an ancestor of the name asked for, so a count says which one.
    /// `None` when the cut is not above the name (the name is then asked whole).
    known: Option<usize>,
    /// Minimised steps taken.
    steps: u32,
    /// Still minimising (a relaxed fallback or an alias stops it).
    minimise: bool,
}

impl Walk {
    fn descend(&mut self, name: &Name, next: Delegation) {
        self.known = labels_above(name, &next.zone);
        self.delegation = Arc::new(next);
    }
}

/// The label count of `zone` if it is `name` or above it.
fn labels_above(name: &Name, zone: &Name) -> Option<usize> {
    is_within(name, zone).then(|| zone.iter().len())
}

/// What one minimised step settled.
enum StepEnd {
    /// Go on walking.
    Walk,
    /// The name does not exist (RFC 8020): the resolution's answer.
    Final(Step, CacheScope, Box<Evidence>),
}

impl Recursor {
    /// Iterate for one name (no CNAME following beyond one response): from the closest known
    /// delegation, through referrals, to a final step. With QNAME minimisation (RFC 9156) each
    /// zone is first asked only for the next label of the name (see `qmin.rs`); the name itself
    /// is asked last, of the servers of its own zone. A DS question starts above the name: the
    /// DS of a zone is the parent's data (RFC 4035 §4.2).
    pub(super) async fn query_name(
        &self,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<(Step, CacheScope, Box<Evidence>), ResolveError> {
        let start = if qtype == RecordType::DS && !name.is_root() {
            name.base_name()
        } else {
            name.clone()
        };
        if let Some(forward) = self.forward_zone_for(&start) {
            return Box::pin(self.ask_forwarders(&forward, name, qtype, ctx)).await;
        }
        let delegation = match self.closest_delegation(&start, ctx) {
            Some(known) => known,
            // Only before the root is primed.
            None => Box::pin(self.prime(ctx)).await?,
        };
        ctx.trace(|| format!("{name} {qtype}: closest known zone {}", delegation.zone));
        let mut walk = Walk {
            known: labels_above(name, &delegation.zone),
            delegation,
            steps: 0,
            minimise: self.inner.config.qname_minimisation != QminMode::Off,
        };
        let mut keys = None;
        for _ in 0..self.inner.config.max_referrals + qmin::MAX_MINIMISE_COUNT {
            let ask = if walk.minimise {
                qmin::next_labels(name.iter().len(), walk.known, walk.steps)
            } else {
                None
            };
            if let Some(ask) = ask {
                match self
                    .minimised_step(&mut walk, name, ask, &mut keys, ctx)
                    .await?
                {
                    StepEnd::Walk => continue,
                    StepEnd::Final(step, scope, evidence) => return Ok((step, scope, evidence)),
                }
            }
            match self
                .ask_zone(&walk.delegation, name, qtype, ctx, Asking::FullName)
                .await?
            {
                Outcome::Final(step, scope, evidence) => return Ok((step, scope, evidence)),
                Outcome::Referral(next) => {
                    self.trace_referral(ctx, &next);
                    trace!(zone = %next.zone, "referral");
                    walk.descend(name, next);
                }
            }
        }
        Err(ResolveError::TooManyReferrals)
    }

    /// One QNAME-minimised step: the ancestor of `name` with `labels` labels, of the walk's
    /// servers, unless it is already known to exist with no zone cut at it. `keys` holds the
    /// name's key for the lookups of every step, made at the first.
    async fn minimised_step(
        &self,
        walk: &mut Walk,
        name: &Name,
        labels: usize,
        keys: &mut Option<CacheKey>,
        ctx: &Ctx,
    ) -> Result<StepEnd, ResolveError> {
        walk.steps += 1;
        let key = keys.get_or_insert_with(|| CacheKey::rrset(name, RecordType::NS, DNSClass::IN));
        if self.no_cut_known(&key.ancestor(labels)) {
            ctx.trace(|| {
                let ask = ancestor(name, labels);
                format!("  minimised: {ask} exists (known, no zone cut): further down")
            });
            walk.known = Some(labels);
            return Ok(StepEnd::Walk);
        }
        let ask = ancestor(name, labels);
        if self.answered_inside_zone(&ask) {
            ctx.trace(|| format!("  minimised: {ask} exists (known, no zone cut): further down"));
            walk.known = Some(labels);
            return Ok(StepEnd::Walk);
        }
        let zone = walk.delegation.zone.clone();
        ctx.trace(|| format!("  minimised: {ask} A of the servers of {zone}"));
        // Boxed: most steps end above, from what is known; asking carries a whole question's
        // state, which would otherwise sit in every iteration's.
        let outcome = match Box::pin(self.ask_zone(
            &walk.delegation,
            &ask,
            RecordType::A,
            ctx,
            Asking::MinimisedStep,
        ))
        .await
        {
            Ok(outcome) => Ok(outcome),
            Err(ResolveError::AllServersFailed(zone)) => Err(zone),
            Err(budget) => return Err(budget),
        };
        let heard = heard_of(&outcome);
        match (
            qmin::after(self.inner.config.qname_minimisation, heard),
            outcome,
        ) {
            (Next::Descend, Ok(Outcome::Referral(next))) => {
                self.trace_referral(ctx, &next);
                walk.descend(name, next);
            }
            // It exists, and no zone is cut there: further down, same servers; and so for every
            // name below it while that is known, whatever client asks (issue 20).
            (Next::Deeper, outcome) => {
                if let Ok(Outcome::Final(step, _, _)) = &outcome {
                    self.remember_inside_zone(&ask, step);
                }
                walk.known = Some(labels);
            }
            (Next::NxDomain, Ok(Outcome::Final(Step::NxDomain { soa, .. }, scope, evidence))) => {
                // RFC 8020: nothing exists below a name that does not exist.
                ctx.trace(|| format!("  {ask} does not exist, so neither does {name}"));
                let step = Step::NxDomain {
                    links: Vec::new(),
                    name: name.clone(),
                    soa,
                };
                return Ok(StepEnd::Final(step, scope, evidence));
            }
            (Next::Fail, Err(zone)) => return Err(ResolveError::AllServersFailed(zone)),
            // Next::FullName (no other pairing comes out of `after`): asking the full name of
            // these servers is what an unminimised resolver would have done.
            _ => {
                ctx.trace(|| {
                    let why = match heard {
                        Heard::Alias => "is an alias",
                        Heard::NxDomain => "NXDOMAIN (an empty non-terminal denied?)",
                        _ => "no usable answer",
                    };
                    format!("  {ask}: {why}; asking the full name")
                });
                walk.minimise = false;
            }
        }
        Ok(StepEnd::Walk)
    }

    /// Whether `name` is known to exist inside the zone above it, with no cut at it, from the
    /// record cache: an answer or NODATA for it (RFC 9156 §3). (What minimised steps learnt is
    /// `no_cut_known`.) A cut there is almost always known (its NS came with the answer's
    /// path); if its NS expired first, the deeper question still gets the referral.
    fn answered_inside_zone(&self, name: &Name) -> bool {
        matches!(
            self.inner
                .cache
                .answer_step(name, RecordType::A, Instant::now()),
            Some(AnswerStep::Records(_) | AnswerStep::Negative(ResponseCode::NoError, _))
        )
    }

    /// Whether a minimised step found no zone cut at the owner of `key` (its NS key), not long
    /// ago enough for that to have expired.
    fn no_cut_known(&self, key: &CacheKey) -> bool {
        self.inner.no_cuts.holds(key, Instant::now())
    }

    /// Remember that the zone's servers answered for `name` (an answer or NODATA, not a
    /// referral): no zone is cut there, for as long as what they said lives — the answer's
    /// TTL, or the negative TTL of NODATA (RFC 2308 §5). Kept apart from the answer itself,
    /// which may be cached for clients without a subnet only (E20): this is delegation
    /// knowledge, the same for every client.
    fn remember_inside_zone(&self, name: &Name, step: &Step) {
        let config = self.inner.cache.config();
        let ttl = match step {
            Step::Answer { records, .. } => records.iter().map(|r| r.ttl).min(),
            Step::NoData { soa: Some(soa), .. } => {
                scoped_cache::negative_ttl(soa).map(|ttl| ttl.min(config.max_negative_ttl))
            }
            _ => None,
        };
        let Some(ttl) = ttl
            .map(|ttl| ttl.min(config.max_ttl))
            .filter(|&ttl| ttl > 0)
        else {
            return;
        };
        let until = Instant::now() + std::time::Duration::from_secs(u64::from(ttl));
        let key = CacheKey::rrset(name, RecordType::NS, DNSClass::IN);
        self.inner.no_cuts.insert(key, until);
    }

    /// The deepest cached zone cut at or above `name`, or the root's; `None` when the root is
    /// not primed yet. Inside a stub zone, the deepest cut cached below the stub's apex, or the
    /// stub zone itself.
    pub(super) fn closest_delegation(&self, name: &Name, ctx: &Ctx) -> Option<Arc<Delegation>> {
        let now = Instant::now();
        let stub = self.stub_zone_for(name);
        for ancestor in self.inner.cache.maybe_zone_cuts(name) {
            if stub
                .as_ref()
                .is_some_and(|stub| ancestor.name().num_labels() <= stub.name.num_labels())
            {
                break;
            }
            let known = self
                .inner
                .known_cuts
                .get_by_key(&self.inner.cache, ancestor, now);
            if let Some(delegation) = known.map(|known| known.delegation) {
                let reachable = delegation.servers.iter().any(|s| !s.addrs.is_empty())
                    || delegation
                        .servers
                        .iter()
                        .any(|s| !is_within(&s.name, &delegation.zone));
                // A cut whose every nameserver lives inside it and has no address left can only
                // be reached again through its parent's referral (fresh glue).
                if reachable {
                    return Some(delegation);
                }
            }
        }
        if let Some(stub) = stub {
            ctx.trace(|| {
                format!(
                    "stub zone {}: starting at its servers {:?}",
                    stub.name, stub.servers
                )
            });
            return Some(Arc::new(self.stub_delegation(&stub)));
        }
        self.cached_delegation(&Name::root(), now)
    }

    /// The cached delegation of `zone`: its NS set (referral trust or better) with each
    /// nameserver's cached addresses (`cuts.rs` keeps it built).
    pub(super) fn cached_delegation(&self, zone: &Name, now: Instant) -> Option<Arc<Delegation>> {
        self.known_cut(zone, now).map(|known| known.delegation)
    }

    /// [`Self::cached_delegation`] with the trust of its NS set.
    pub(super) fn known_cut(&self, zone: &Name, now: Instant) -> Option<KnownCut> {
        self.inner.known_cuts.get(&self.inner.cache, zone, now)
    }

    /// Priming (RFC 8109): ask a root hint for the root's NS set and cache it with its
    /// addresses. Done once, when the first query needs the root; if it fails, the hints
    /// themselves serve as the root delegation for this query.
    pub(super) async fn prime(&self, ctx: &Ctx) -> Result<Arc<Delegation>, ResolveError> {
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
        let hints = Arc::new(Delegation {
            zone: root.clone(),
            servers,
        });
        debug!("priming the root");
        match self
            .ask_zone(&hints, &root, RecordType::NS, ctx, Asking::FullName)
            .await
        {
            Ok(Outcome::Final(Step::Answer { .. }, _, _)) => Ok(self
                .cached_delegation(&root, Instant::now())
                .unwrap_or(hints)),
            Ok(_) => Ok(hints),
            Err(ResolveError::AllServersFailed(_)) => Ok(hints),
            Err(other) => Err(other),
        }
    }
}
