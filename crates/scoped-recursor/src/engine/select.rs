//! Which servers of a zone to ask, in which order: policy (who may be queried at all), SRTT
//! order with exploration (`infra.rs`), and the addresses of glueless nameservers.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};
use rand::seq::SliceRandom;
use scoped_cache::Trust;
use tokio::time::Instant;
use tracing::debug;

use super::ctx::{Asking, Ctx, Lookup};
use super::iterate::Outcome;
use super::stats::bump;
use super::{Recursor, ResolveError};
use crate::classify::{Delegation, NameServer, addresses_of};
use crate::infra::Selection;

impl Recursor {
    /// Ask the servers of `delegation`, one after another, until one gives a usable response.
    pub(super) async fn ask_zone(
        &self,
        delegation: &Delegation,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        asking: Asking,
    ) -> Result<Outcome, ResolveError> {
        let mut tried: Vec<IpAddr> = Vec::new();
        let known: Vec<IpAddr> = delegation
            .servers
            .iter()
            .flat_map(|s| s.addrs.iter().copied())
            .collect();
        let question = (name, qtype);
        if let Some(outcome) = self
            .ask_addresses(&known, delegation, question, ctx, asking, &mut tried, true)
            .await?
        {
            return Ok(outcome);
        }
        // Glueless (or all known addresses failed): resolve the other nameservers' addresses.
        // A server known only in a family that is off (A glue alone, IPv4 off) counts as
        // glueless: its addresses in the other family may be found.
        let mut unresolved: Vec<&NameServer> = delegation
            .servers
            .iter()
            .filter(|s| !s.addrs.iter().any(|addr| self.family_enabled(*addr)))
            .collect();
        unresolved.shuffle(&mut rand::rng());
        for server in unresolved {
            let addrs = self.nameserver_addresses(&server.name, ctx).await?;
            if let Some(outcome) = self
                .ask_addresses(&addrs, delegation, question, ctx, asking, &mut tried, false)
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(ResolveError::AllServersFailed(delegation.zone.clone()))
    }

    /// Ask `addrs` (servers of `delegation`) in turn: fastest measured first, what is still to
    /// learn about the others learnt off the client's path (see infra/order.rs and
    /// docs/server-selection.md); addresses refused by policy are never ordered at all, nor
    /// those lame for this type in this zone. `announce`: trace the order.
    #[allow(clippy::too_many_arguments)]
    async fn ask_addresses(
        &self,
        addrs: &[IpAddr],
        delegation: &Delegation,
        (name, qtype): (&Name, RecordType),
        ctx: &Ctx,
        asking: Asking,
        tried: &mut Vec<IpAddr>,
        announce: bool,
    ) -> Result<Option<Outcome>, ResolveError> {
        let zone = &delegation.zone;
        let mut selection = self.selection(addrs);
        selection.order = self.without_lame(selection.order, zone, qtype, ctx);
        if announce {
            ctx.trace(|| {
                let order = self.describe_servers(&selection.order);
                format!("  servers of {zone} in order: {order}")
            });
        }
        let order = self.measure(selection, zone, (name, qtype), ctx, asking);
        self.ask_in_turn(&order, zone, name, qtype, ctx, asking, tried)
            .await
    }

    /// Addresses of a nameserver: from the cache (glue included), else by a sub-query, only in
    /// the families enabled. IPv4 first; IPv6 when IPv4 gave nothing or is off.
    pub(super) async fn nameserver_addresses(
        &self,
        ns: &Name,
        ctx: &Ctx,
    ) -> Result<Vec<IpAddr>, ResolveError> {
        let config = &self.inner.config;
        let families: &[RecordType] = match (config.ipv4_upstream, config.ipv6_upstream) {
            (true, true) => &[RecordType::A, RecordType::AAAA],
            (true, false) => &[RecordType::A],
            (false, true) => &[RecordType::AAAA],
            (false, false) => &[],
        };
        for &rtype in families {
            if let Some(records) = self
                .inner
                .cache
                .rrset(ns, rtype, Trust::Glue, Instant::now())
            {
                let addrs = addresses_of(ns, &records);
                if !addrs.is_empty() {
                    return Ok(addrs);
                }
            }
            let lower = ns.to_lowercase();
            if ctx.lookup_failed(&lower, rtype) {
                ctx.trace(|| format!("  nameserver {ns} {rtype}: not found before, not again"));
                continue;
            }
            let Some(child) = ctx.child(&lower, rtype, config.max_subquery_depth) else {
                debug!(%ns, "sub-query skipped: loop or depth limit");
                continue;
            };
            ctx.trace(|| format!("  nameserver {ns} has no known address: resolving {ns} {rtype}"));
            match self
                .resolve_chain(ns.clone(), rtype, &child, Lookup::Again)
                .await
            {
                Ok(resolution) => {
                    let addrs: Vec<IpAddr> = resolution
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .flat_map(|r| addresses_of(&r.name, std::slice::from_ref(r)))
                        .collect();
                    if !addrs.is_empty() {
                        return Ok(addrs);
                    }
                }
                Err(e @ (ResolveError::Deadline | ResolveError::QueryBudget)) => return Err(e),
                Err(e) => debug!(%ns, error = %e, "nameserver address lookup failed"),
            }
            ctx.note_failed_lookup(&lower, rtype);
        }
        Ok(Vec::new())
    }

    /// The servers `selection` wants measured are asked the zone's question in the background
    /// (`probe.rs`); the order of the client's tries is what is left.
    fn measure(
        &self,
        selection: Selection,
        zone: &Name,
        question: (&Name, RecordType),
        ctx: &Ctx,
        asking: Asking,
    ) -> Vec<IpAddr> {
        self.measure_in_background(&selection.measure, zone, question, ctx, asking);
        selection.order
    }

    /// The selection for `addrs` (the servers of one zone): those policy allows, the best
    /// measured first, and what to measure off the client's path.
    fn selection(&self, addrs: &[IpAddr]) -> Selection {
        let allowed: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|addr| {
                let ok = self.may_query(*addr);
                if !ok {
                    bump(&self.inner.stats.servers_skipped);
                    debug!(%addr, "nameserver address not queried (policy)");
                }
                ok
            })
            .collect();
        let mut rng = self
            .inner
            .selection_rng
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.inner.infra.select(&allowed, Instant::now(), &mut *rng)
    }

    /// Is `addr`'s family (IPv4, IPv6) one we query?
    fn family_enabled(&self, addr: IpAddr) -> bool {
        let config = &self.inner.config;
        match addr.to_canonical() {
            IpAddr::V4(_) => config.ipv4_upstream,
            IpAddr::V6(_) => config.ipv6_upstream,
        }
    }

    /// May we send queries to `addr`?
    pub(super) fn may_query(&self, addr: IpAddr) -> bool {
        let config = &self.inner.config;
        if !self.family_enabled(addr) {
            return false;
        }
        let addr = addr.to_canonical();
        if (addr.is_loopback() || addr.is_unspecified()) && !config.allow_loopback_servers {
            return false;
        }
        if addr.is_multicast() || addr == IpAddr::from([255, 255, 255, 255]) {
            return false;
        }
        !config.do_not_query.iter().any(|net| net.contains(&addr))
    }
}
