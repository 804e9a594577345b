//! `scoped trace`: a resolution from the root with every decision written down.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::DNSClass;
use tokio::time::Instant;

use super::Recursor;
use super::ctx::{Ctx, Lookup, Role};
use crate::classify::Delegation;
use crate::{Resolution, ResolveRequest};

/// Where a traced resolution writes its lines.
pub(super) type TraceLines = Arc<Mutex<Vec<String>>>;

impl Recursor {
    /// Resolve from the root with every decision written down (`scoped trace`): the servers
    /// chosen and why, whether ECS was sent and why, what came back, and under which scope the
    /// answer was cached (E24). Uses and fills this engine's caches like any resolution; the
    /// CLI gives it a fresh engine.
    pub async fn trace(&self, request: ResolveRequest) -> (Resolution, Vec<String>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let resolution = if self.dns64_applies(&request) {
            self.with_dns64(request, Some(lines.clone())).await
        } else {
            self.trace_plain(request, lines.clone()).await
        };
        let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
        (resolution, lines)
    }

    /// One traced resolution, without DNS64: its lines go to `lines`.
    pub(super) async fn trace_plain(
        &self,
        request: ResolveRequest,
        lines: TraceLines,
    ) -> Resolution {
        let question = request.question;
        if question.qclass == DNSClass::IN {
            self.resolve_with_trace(
                question,
                request.client_subnet,
                Some(lines),
                Role::Client,
                Lookup::Again,
                !request.checking_disabled,
            )
            .await
        } else {
            Resolution::error(ResponseCode::Refused)
        }
    }

    pub(super) fn trace_referral(&self, ctx: &Ctx, next: &Delegation) {
        ctx.trace(|| {
            let servers: Vec<String> = next
                .servers
                .iter()
                .map(|s| match s.addrs.as_slice() {
                    [] => format!("{} (no glue)", s.name),
                    addrs => format!("{} {addrs:?}", s.name),
                })
                .collect();
            format!("  referral to {}: {}", next.zone, servers.join(", "))
        });
    }

    /// `addr (srtt 5.0 ms, rto 50 ms, responsive)` for each address, as `scoped trace` shows.
    pub(super) fn describe_servers(&self, addrs: &[IpAddr]) -> String {
        if addrs.is_empty() {
            return "none known yet".into();
        }
        let now = Instant::now();
        let table = self.inner.infra.snapshot(now);
        addrs
            .iter()
            .map(|addr| match table.iter().find(|e| e.addr == *addr) {
                Some(e) => {
                    let srtt = e
                        .srtt
                        .map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3));
                    format!(
                        "{addr} (srtt {srtt}, rto {} ms, {})",
                        e.rto.as_millis(),
                        e.state
                    )
                }
                None => format!("{addr} (never measured)"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
