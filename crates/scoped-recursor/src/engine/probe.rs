//! Measuring servers off the client's path: the background queries [`InfraCache::select`]
//! hands out with a query's order (a never-measured server, an exploration, the due probe of a
//! server timing out or held off).
//!
//! Each is the zone question the client's query is asking (a real question, so the server
//! answers it as it answers clients), sent once over UDP, in a task of its own. It carries ECS
//! exactly when the client's own try to that server would (E01, E16: the same allowlisted
//! zone, the same masked subnet; the measured RTT is the one clients get), and never to a
//! server known to reject it. It waits for the
//! server's hard timeout; its reply is an RTT sample and its silence a timeout, as for any
//! try. The question never waits for it, and its reply is dropped: not cached, not returned.
//! It takes an upstream slot and counts in the server's in-flight queries like any other
//! query, but never waits for a slot: with every slot taken it is not sent. It spends from the
//! question's upstream budget, and only from its upper half: the work a question causes stays
//! within its budget, and a measurement never takes a try the question needs. An exploration
//! also counts as a retry in the retry budget (`InfraCache::allow_retry`): with retries at
//! their share, nothing is explored, so measuring never adds to the load on a struggling
//! authoritative. (A never-measured server is measured once per address, a server timing out
//! once per hold-off: bounded already, and needed to find a server or give one back.)
//!
//! [`InfraCache::select`]: crate::infra::InfraCache::select

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::{Name, RecordType};
use tokio::time::Instant;
use tracing::debug;

use scoped_ecs::Ecs;

use super::Recursor;
use super::ctx::{Asking, Ctx};
use super::exchange::{InFlight, build_query};
use super::stats::bump;
use crate::infra::{EcsCapability, Measure, TrySample};
use crate::transport::{Protocol, UpstreamQuery};

impl Recursor {
    /// Send the background measurements of one selection, each in a task of its own.
    pub(super) fn measure_in_background(
        &self,
        targets: &[(IpAddr, Measure)],
        zone: &Name,
        (name, qtype): (&Name, RecordType),
        ctx: &Ctx,
        asking: Asking,
    ) {
        let stats = &self.inner.stats;
        let keep = self.inner.config.max_upstream_queries / 2;
        for &(addr, why) in targets {
            let Ok(slot) = self.inner.upstream_slots.try_acquire() else {
                bump(&stats.background_probes_skipped);
                continue;
            };
            // An exploration is an extra query to a server that answers, like a retry: within
            // the retry budget only, so that measuring never adds to a storm. A never-measured
            // server (once per address) and a due probe (once per hold-off) are bounded
            // already.
            let within_budget =
                why != Measure::Explore || self.inner.infra.allow_retry(Instant::now());
            if !within_budget || !ctx.spend_spare_query(keep) {
                bump(&stats.background_probes_skipped);
                continue;
            }
            bump(&stats.background_probes);
            bump(&stats.upstream_queries);
            ctx.trace(|| format!("  measuring {addr} in the background ({why:?})"));
            let ecs = self
                .ecs_decision(addr, zone, qtype, ctx, asking)
                .option()
                .filter(|_| {
                    self.inner.infra.ecs_capability(addr, Instant::now()) != EcsCapability::Rejects
                });
            if let Some(sent) = &ecs {
                bump(&stats.ecs_sent);
                self.inner
                    .ecs_audit
                    .record(addr, sent.prefix().prefix_len());
            }
            let in_flight = InFlight::begin(self, addr, slot, Instant::now());
            let this = self.clone();
            let name = name.clone();
            tokio::spawn(async move { this.probe(addr, (name, qtype), ecs, in_flight).await });
        }
    }

    /// One background query to `addr`, fed to the infrastructure cache.
    async fn probe(
        self,
        addr: IpAddr,
        (name, qtype): (Name, RecordType),
        ecs: Option<Ecs>,
        in_flight: InFlight,
    ) {
        let infra = &self.inner.infra;
        let started = Instant::now();
        let timeout = infra.hard_timeout(addr, started);
        let query = UpstreamQuery {
            server: SocketAddr::new(addr, self.port_of(addr)),
            protocol: Protocol::Udp,
            message: build_query(
                rand::random(),
                &name,
                qtype,
                !infra.edns_broken(addr, started),
                ecs,
                // As the client's try would be sent: the same reply size, the same timing.
                self.inner.config.dnssec.validation,
            ),
            timeout,
            require_ecs_echo: false,
            echo_timeout: None,
        };
        let exchanged = self.inner.transport.exchange(query).await;
        let now = Instant::now();
        let sample = match exchanged {
            Ok(_) => TrySample::Rtt(now.duration_since(started)),
            Err(error) => {
                bump(&self.inner.stats.upstream_failures);
                debug!(%addr, %error, "background measurement unanswered");
                TrySample::Timeout
            }
        };
        in_flight.end(now, sample);
    }
}
