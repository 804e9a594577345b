//! One resolution of a client question: the budget, the chain of CNAMEs and DNAMEs (from the
//! caches where it can, else by iteration), and the negative answer's SOA.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use ipnet::IpNet;
use scoped_cache::{AnswerEnd, CacheKey, Read, Validation, hops, revisits};
use tokio::time::Instant;
use tracing::debug;

use super::answer::{Noted, clamp, negative, positive, too_long};
use super::ctx::{Budget, Ctx, Lookup, Role};
use super::stats::bump;
use super::{Recursor, ResolveError};
use crate::classify::Step;
use crate::{Ede, Question, Resolution};

/// What validation said about the steps of a chain so far: the status of the whole, and the
/// first informational EDE (an insecure reason that has one).
struct Verdict {
    security: Validation,
    ede: Option<Ede>,
}

impl Verdict {
    fn add(&mut self, security: Validation, ede: Option<Ede>) {
        self.security = self.security.combine(security);
        if self.ede.is_none() {
            self.ede = ede;
        }
    }

    /// [`add`](Self::add) what validating a step said; whether it was secure.
    fn add_checked(&mut self, (security, ede): (Validation, Option<Ede>)) -> bool {
        self.add(security, ede);
        security == Validation::Secure
    }

    fn stamp(&self, resolution: Resolution) -> Resolution {
        Resolution {
            security: self.security,
            ede: self.ede.clone(),
            ..resolution
        }
    }
}

/// How long after a question's deadline its backstop timer fires.
const DEADLINE_BACKSTOP: std::time::Duration = std::time::Duration::from_millis(50);

impl Recursor {
    pub(super) async fn resolve_with_trace(
        &self,
        question: Question,
        subnet: Option<IpNet>,
        trace: Option<Arc<Mutex<Vec<String>>>>,
        role: Role,
        lookup: Lookup,
        checked: bool,
    ) -> Resolution {
        let config = &self.inner.config;
        let budget = Arc::new(Budget::new(
            Instant::now() + config.query_timeout,
            config.max_upstream_queries,
        ));
        let ctx = Ctx {
            budget,
            depth: 0,
            stack: vec![(question.name.to_lowercase(), question.qtype)],
            subnet,
            role,
            trace,
            validate: checked && self.validating() && role.is_client(),
            recursion_desired: false,
            tls: None,
        };
        ctx.trace(|| match subnet {
            Some(net) => format!("{} {}, client subnet {net}", question.name, question.qtype),
            None => format!("{} {}, no client subnet", question.name, question.qtype),
        });
        // Every wait inside ends by the budget's deadline on its own (a try's timeout is cut to
        // what is left), and says why it failed; this timer only catches what does not. It fires
        // a little later, so that a try whose own timer started a moment after the deadline was
        // computed (a TLS exchange starts its timer when first polled) still ends first, with
        // its failure counted: the client gets "no reachable authority", not a bare timeout.
        let backstop = ctx.budget.deadline + DEADLINE_BACKSTOP;
        let work = self.resolve_chain(question.name.clone(), question.qtype, &ctx, lookup);
        let result = match tokio::time::timeout_at(backstop, work).await {
            Ok(result) => result,
            Err(_) => Err(ResolveError::Deadline),
        };
        match result {
            Ok(resolution) => resolution,
            Err(ResolveError::Bogus(reason)) => {
                ctx.trace(|| format!("SERVFAIL: bogus: {reason}"));
                debug!(name = %question.name, qtype = %question.qtype, %reason, "bogus");
                bump(&self.inner.stats.servfail);
                self.remember_bogus(&question, &reason)
            }
            Err(error) => {
                let ede = (ctx.budget.failures.lock())
                    .unwrap_or_else(|e| e.into_inner())
                    .ede(&error, &question.name);
                ctx.trace(|| match &ede {
                    Some(ede) => format!("SERVFAIL: {error}; EDE {} ({})", ede.code, ede.text),
                    None => format!("SERVFAIL: {error}"),
                });
                debug!(name = %question.name, qtype = %question.qtype, %error, "SERVFAIL");
                bump(&self.inner.stats.servfail);
                Resolution {
                    ede,
                    ..Resolution::servfail()
                }
            }
        }
    }

    /// Resolve (`name`, `qtype`) following CNAMEs and DNAMEs, from the caches where it can. The
    /// scope of the result is the longest of the links used (E18). Every substitution, a CNAME
    /// or a DNAME's, counts against `max_cname_chain`; coming back to a name already passed is a
    /// loop, SERVFAIL at once.
    pub(super) fn resolve_chain<'a>(
        &'a self,
        name: Name,
        qtype: RecordType,
        ctx: &'a Ctx,
        mut lookup: Lookup,
    ) -> BoxFuture<'a, Result<Resolution, ResolveError>> {
        crate::boxed::pin_in_place(|| async move {
            let max_links = self.inner.config.max_cname_chain;
            let max_ttl = self.inner.cache.config().max_ttl;
            let mut links: Vec<Record> = Vec::new();
            let mut scope = 0u8;
            let mut verdict = Verdict {
                security: Validation::Secure,
                ede: None,
            };
            let mut current = name;
            loop {
                if hops(&links) > max_links {
                    return Err(ResolveError::CnameChain);
                }
                let now = Instant::now();
                let left = max_links - hops(&links);
                let unused = Noted::default();
                // A refresh asks the question's own links again (the cache still has them).
                let look = ctx.role != Role::Prefetch && lookup == Lookup::Again;
                lookup = Lookup::Again;
                if let Some((cached, s, v)) = look
                    .then(|| {
                        let (read, subnet, checked) = (Read::Live, ctx.subnet, ctx.validate);
                        let key = CacheKey::rrset(&current, qtype, DNSClass::IN);
                        self.cached_answer(
                            (&current, &key),
                            qtype,
                            subnet,
                            left,
                            now,
                            read,
                            &unused,
                            checked,
                        )
                    })
                    .flatten()
                {
                    ctx.trace(|| format!("{current} {qtype}: from the cache (scope {s})"));
                    links.extend(cached.links);
                    scope = scope.max(s);
                    verdict.add(v, None);
                    let v = &verdict;
                    match cached.end {
                        AnswerEnd::Records(records) => {
                            return Ok(v.stamp(positive(links, records, scope)));
                        }
                        AnswerEnd::Negative { rcode, soa } => {
                            return Ok(v.stamp(negative(rcode, links, Some(*soa), scope)));
                        }
                        AnswerEnd::NameTooLong => return Ok(v.stamp(too_long(links, scope))),
                        AnswerEnd::Continue(next) => current = next,
                    }
                    if hops(&links) > max_links || revisits(&links, &current) {
                        return Err(ResolveError::CnameChain);
                    }
                }
                let (step, step_scope, evidence) = self.query_name(&current, qtype, ctx).await?;
                scope = scope.max(step_scope.scope_len());
                let checked = self.check_step(&step, &evidence, qtype, step_scope, ctx);
                let secure = verdict.add_checked(checked.await?);
                // Secure data goes out with its RRSIGs (the front end keeps them for DO clients).
                let sign = |rrset: Vec<Record>| match secure {
                    true => evidence.signed(rrset),
                    false => rrset,
                };
                let v = &verdict;
                // The links this response followed count too, whatever it ends with.
                let more = match &step {
                    Step::Answer { links, .. }
                    | Step::Cname { links, .. }
                    | Step::NxDomain { links, .. }
                    | Step::NoData { links, .. } => links,
                };
                links.extend(more.iter().flat_map(|link| sign(vec![link.clone()])));
                if hops(&links) > max_links {
                    return Err(ResolveError::CnameChain);
                }
                match step {
                    Step::Answer { records, .. } => {
                        let records = sign(records);
                        let (links, records) = (clamp(links, max_ttl), clamp(records, max_ttl));
                        return Ok(v.stamp(positive(links, records, scope)));
                    }
                    Step::Cname { next, .. } => {
                        if revisits(&links, &next) {
                            return Err(ResolveError::CnameChain);
                        }
                        current = next;
                    }
                    Step::NxDomain { soa, .. } => {
                        let soa = soa.map(|s| self.negative_soa(*s));
                        let links = clamp(links, max_ttl);
                        return Ok(v.stamp(negative(ResponseCode::NXDomain, links, soa, scope)));
                    }
                    Step::NoData { soa, rcode, .. } => {
                        let soa = soa.map(|s| self.negative_soa(*s));
                        return Ok(v.stamp(negative(rcode, clamp(links, max_ttl), soa, scope)));
                    }
                }
            }
        })
    }

    /// Validate a step of a client's resolution when its question is validated (`validate.rs`);
    /// otherwise it is unchecked.
    pub(super) async fn check_step(
        &self,
        step: &Step,
        evidence: &super::validate::Evidence,
        qtype: RecordType,
        scope: scoped_ecs::CacheScope,
        ctx: &Ctx,
    ) -> Result<(Validation, Option<Ede>), ResolveError> {
        if !ctx.validate {
            return Ok((Validation::Unchecked, None));
        }
        // Boxed: validation's state is three times the size of the rest of a resolution's.
        Box::pin(self.validate_step(step, evidence, qtype, scope, ctx)).await
    }

    /// The SOA as it goes into a negative response: TTL = the negative TTL (RFC 2308 §3).
    pub(super) fn negative_soa(&self, mut soa: Record) -> Record {
        if let Some(ttl) = scoped_cache::negative_ttl(&soa) {
            soa.ttl = ttl.min(self.inner.cache.config().max_negative_ttl);
        }
        soa
    }
}
