//! The state one (sub-)question carries through the steps: its share of the question's
//! budget, its depth, the questions on the way here (loop breaking), its client subnet, its role,
//! and where a trace goes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;
use tokio::time::Instant;

use super::ResolveError;
use super::reason::{Failure, Failures};

/// The part of a question's resolution shared by all its sub-queries.
#[derive(Debug)]
pub(super) struct Budget {
    pub(super) deadline: Instant,
    pub(super) upstream_left: AtomicU32,
    /// Nameserver addresses (name, type) this question already failed to find: not looked up
    /// again by another of its sub-queries. Without it, nameservers that depend on each other
    /// (a cycle of glueless delegations) are tried along every order of the cycle, work that
    /// grows exponentially with the number of names even though the cache spares the queries.
    pub(super) failed_lookups: Mutex<Vec<(Name, RecordType)>>,
    /// How the servers of each zone failed: the reason a SERVFAIL gives (`reason.rs`).
    pub(super) failures: Mutex<Failures>,
}

impl Budget {
    /// A budget of `upstream` queries until `deadline`.
    pub(super) fn new(deadline: Instant, upstream: u32) -> Self {
        Self {
            deadline,
            upstream_left: AtomicU32::new(upstream),
            failed_lookups: Mutex::new(Vec::new()),
            failures: Mutex::new(Failures::default()),
        }
    }
}

/// Per (sub-)query state: the shared budget, nesting depth and the questions being resolved on
/// the way here (to break loops such as a zone whose only nameserver is named inside itself).
#[derive(Debug, Clone)]
pub(super) struct Ctx {
    pub(super) budget: Arc<Budget>,
    pub(super) depth: u32,
    pub(super) stack: Vec<(Name, RecordType)>,
    /// The client subnet of the question, or `None` (no address may go upstream).
    pub(super) subnet: Option<IpNet>,
    /// Whose question this is.
    pub(super) role: Role,
    /// Where `scoped trace` collects the steps, if tracing.
    pub(super) trace: Option<Arc<Mutex<Vec<String>>>>,
    /// Whether the answers of this question are validated (DNSSEC on, a client's question,
    /// CD clear). Sub-queries for infrastructure never are.
    pub(super) validate: bool,
    /// Queries go out with RD=1: they are asked of a forward zone's forwarders (`forward.rs`).
    pub(super) recursion_desired: bool,
    /// Queries go over DNS over TLS, on this forwarder's connection (`forward.rs`); never
    /// in clear text.
    pub(super) tls: Option<TlsRoute>,
}

/// A forwarder asked over DNS over TLS: the zone's TLS setting and the forwarder's port.
#[derive(Debug, Clone)]
pub(super) struct TlsRoute {
    pub(super) client: crate::forward_tls::ForwardTls,
    pub(super) port: u16,
}

/// Whose question a (sub-)query resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// A client's question, or a link of its CNAME chain.
    Client,
    /// A client's question refreshed in the background (prefetch): its own links are asked
    /// upstream even though the cache still holds them.
    Prefetch,
    /// The address of a nameserver: infrastructure, never tailored (E16).
    NameServer,
}

/// What one upstream question asks, in the QNAME-minimisation walk (RFC 9156).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Asking {
    /// The name being resolved.
    FullName,
    /// An ancestor of it, one label at a time: never the client's own question, so never with
    /// ECS (E16).
    MinimisedStep,
    /// The name being resolved, of a forward zone's forwarder: a resolver, not the zone's
    /// server, so only an allowlist entry for its address lets ECS go to it, never one for the
    /// zone.
    Forwarded,
}

/// Whether the caches were just looked at for the question's own name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// They were, and held nothing about it: the resolution goes straight to iteration.
    Done,
    /// Look (again).
    Again,
}

impl Role {
    /// Whether the question is a client's (asked for it, or refreshed for it).
    pub(super) fn is_client(self) -> bool {
        matches!(self, Self::Client | Self::Prefetch)
    }
}

impl Ctx {
    pub(super) fn child(&self, name: &Name, qtype: RecordType, max_depth: u32) -> Option<Ctx> {
        if self.depth >= max_depth || self.stack.iter().any(|(n, t)| n == name && *t == qtype) {
            return None;
        }
        let mut stack = self.stack.clone();
        stack.push((name.clone(), qtype));
        Some(Ctx {
            budget: self.budget.clone(),
            depth: self.depth + 1,
            stack,
            subnet: None,
            role: Role::NameServer,
            trace: self.trace.clone(),
            validate: false,
            recursion_desired: false,
            tls: None,
        })
    }

    /// Record one step of a traced resolution (indented by sub-query depth).
    pub(super) fn trace(&self, line: impl FnOnce() -> String) {
        if let Some(trace) = &self.trace {
            let indent = "  ".repeat(self.depth as usize);
            trace
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{indent}{}", line()));
        }
    }

    /// Whether this question already failed to find `name`'s `rtype` addresses.
    pub(super) fn lookup_failed(&self, name: &Name, rtype: RecordType) -> bool {
        self.budget
            .failed_lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|(n, t)| n == name && *t == rtype)
    }

    /// This question found no `rtype` address for nameserver `name`.
    pub(super) fn note_failed_lookup(&self, name: &Name, rtype: RecordType) {
        self.budget
            .failed_lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.clone(), rtype));
    }

    /// A try at a server of `zone` failed this way (for the SERVFAIL's reason).
    pub(super) fn note_failure(&self, zone: &Name, failure: Failure) {
        self.budget
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .note(zone, failure);
    }

    /// Spend one upstream query on work the question does not wait for (a background
    /// measurement), only while more than `keep` are left: it can never take the question's
    /// own tries. False: not spent, do not send.
    pub(super) fn spend_spare_query(&self, keep: u32) -> bool {
        Instant::now() < self.budget.deadline
            && self
                .budget
                .upstream_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n > keep).then(|| n - 1)
                })
                .is_ok()
    }

    pub(super) fn spend_query(&self, now: Instant) -> Result<(), ResolveError> {
        if now >= self.budget.deadline {
            return Err(ResolveError::Deadline);
        }
        self.budget
            .upstream_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| ResolveError::QueryBudget)
    }
}
