//! Forward zones: names at and below a configured zone are not iterated at all but asked of the
//! zone's forwarders — recursive resolvers (a router, a company's internal resolver) — with
//! RD=1, the full name, no QNAME minimisation.
//!
//! A forwarder's answer is a resolver's: it never carries AA, and that says nothing about
//! lameness, so the AA and lame rules of the iterator do not apply to it (nothing is remembered
//! as lame, no referral is followed). Everything else is as for any server: the answer goes into
//! the same caches under the scope it earns, ECS goes to the forwarder only if its address is on
//! the allowlist (an entry for the zone is for the zone's own servers, not a forwarder), a forwarder that does not answer costs its
//! timeout and the next one is asked, and when none answers the question fails with EDE 22
//! naming the zone. With DNSSEC validation on, DO is set and the answer is validated from the
//! trust anchor down like any other (the DS and DNSKEY questions themselves are routed like any
//! question: forwarded if they fall in a forward zone).
//!
//! With `tls-name` ([`ForwardZone::tls`]), every try to the zone's forwarders goes over DNS
//! over TLS (`crate::forward_tls`: one pipelined connection per forwarder), chosen per forwarder
//! through the [`Ctx`]; the exchange is otherwise the same (IDs, ECS and its echo, budget,
//! timeouts as for TCP). A forwarder that fails the certificate check is a failed server; there
//! is no clear-text fallback.
//!
//! The deepest zone wins: a forward zone inside another, or a stub zone inside a forward zone,
//! takes the names below it.

use scoped_ecs::names::is_within;
use std::net::SocketAddr;

use hickory_proto::rr::{Name, RecordType};
use scoped_ecs::CacheScope;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ask::{reply_scope, trace_final};
use super::ctx::{Asking, Ctx, TlsRoute};
use super::exchange::ExchangeError;
use super::reason::Failure;
use super::validate::Evidence;
use super::{Recursor, ResolveError};
use crate::classify::{Classified, Step, classify};
use crate::forward_tls::ForwardTls;

/// One forward zone: its apex and the addresses (with ports) of its forwarders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardZone {
    /// The zone's apex (lower case, fully qualified); the root forwards everything.
    pub name: Name,
    /// Its forwarders, asked in turn (the one that answered fastest first).
    pub servers: Vec<SocketAddr>,
    /// DNS over TLS to them, checking this name (`tls-name`); `None`: UDP, and TCP on
    /// truncation.
    pub tls: Option<ForwardTls>,
}

/// A forwarded step: the answer, its cache scope, the DNSSEC records that came with it.
type Forwarded = (Step, CacheScope, Box<Evidence>);

impl Recursor {
    /// The forward zone that takes `name`: the deepest one at or above it, unless a stub zone
    /// lies deeper still.
    pub(super) fn forward_zone_for(&self, name: &Name) -> Option<ForwardZone> {
        let routing = self.routing();
        let forward = routing
            .forward_zones
            .iter()
            .filter(|zone| is_within(name, &zone.name))
            .max_by_key(|zone| zone.name.num_labels())?;
        let stub_depth = routing
            .stub_zones
            .iter()
            .filter(|stub| is_within(name, &stub.name))
            .map(|stub| stub.name.num_labels())
            .max();
        match stub_depth {
            Some(depth) if depth > forward.name.num_labels() => None,
            _ => Some(forward.clone()),
        }
    }

    /// Ask the forwarders of `zone` for (`name`, `qtype`), the fastest first, until one gives
    /// a usable answer; none: every forwarder failed.
    pub(super) async fn ask_forwarders(
        &self,
        zone: &ForwardZone,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<Forwarded, ResolveError> {
        ctx.trace(|| {
            format!(
                "{name} {qtype}: forward zone {}: asking its forwarders {:?} (RD=1, {})",
                zone.name,
                zone.servers,
                transport_of(zone)
            )
        });
        let now = Instant::now();
        let mut servers = zone.servers.clone();
        // Stable: equal forwarders stay in the configured order.
        servers.sort_by_key(|server| self.inner.infra.rto(server.ip(), now));
        let ctx = Ctx {
            recursion_desired: true,
            ..ctx.clone()
        };
        for server in servers {
            let ctx = Ctx {
                tls: zone.tls.clone().map(|client| TlsRoute {
                    client,
                    port: server.port(),
                }),
                ..ctx.clone()
            };
            if let Some(forwarded) = self
                .try_forwarder(server, &zone.name, name, qtype, &ctx)
                .await?
            {
                return Ok(forwarded);
            }
        }
        Err(ResolveError::AllServersFailed(zone.name.clone()))
    }

    /// One forwarder, one question: `Ok(None)` when it gave nothing usable.
    async fn try_forwarder(
        &self,
        server: SocketAddr,
        zone: &Name,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<Option<Forwarded>, ResolveError> {
        let addr = server.ip();
        let decision = self.upstream_ecs(addr, zone, qtype, ctx, Asking::Forwarded);
        ctx.trace(|| {
            let over = ctx.tls.as_ref().map_or("", |_| " over TLS");
            format!("  -> forwarder {server}{over}: {name} {qtype}, {decision}")
        });
        let overdue = Notify::new();
        let exchanged = self
            .exchange(addr, name, qtype, ctx, decision.option(), &overdue)
            .await;
        let (mut response, ecs_outcome, now) = match exchanged {
            Ok(exchanged) => exchanged,
            Err(ExchangeError::Server(failed)) => {
                ctx.note_failure(zone, failed);
                ctx.trace(|| format!("  <- forwarder {server}: no usable reply; next forwarder"));
                return Ok(None);
            }
            Err(ExchangeError::Budget(e)) => return Err(e),
        };
        let scope = reply_scope(qtype, ecs_outcome, decision);
        // A resolver's answer never has AA, and that is no sign of a lame server: read it as
        // the zone's own answer.
        response.metadata.authoritative = true;
        let step = match classify(&response, zone, name, qtype) {
            Classified::Final(step) => step,
            Classified::Lame(reason) => {
                ctx.trace(|| format!("  <- forwarder {server}: unusable ({reason:?}); next"));
                ctx.note_failure(zone, Failure::of_lame(reason));
                return Ok(None);
            }
            Classified::Referral { delegation, .. } => {
                ctx.trace(|| {
                    format!(
                        "  <- forwarder {server}: a referral to {} (not a resolver?); next",
                        delegation.zone
                    )
                });
                ctx.note_failure(zone, Failure::Unusable);
                return Ok(None);
            }
        };
        ctx.trace(|| trace_final(addr, &step, ecs_outcome, scope));
        self.cache_step(&step, &response, zone, qtype, scope, now, true);
        let evidence = Box::new(if self.validating() {
            Evidence::of(&response, zone)
        } else {
            Evidence::none(zone)
        });
        Ok(Some((step, scope, evidence)))
    }
}

/// How a forward zone's forwarders are asked, for `scoped trace`.
fn transport_of(zone: &ForwardZone) -> String {
    match &zone.tls {
        Some(tls) => format!("DNS over TLS, certificate name {}", tls.name()),
        None => "UDP, TCP on truncation".to_owned(),
    }
}
