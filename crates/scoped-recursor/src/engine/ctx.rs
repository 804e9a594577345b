//! The state one (sub-)question carries through the steps: its share of the question's
//! budget, its depth, the questions on the way here (loop breaking), its client subnet, its role,
//! and where a trace goes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;
use tokio::time::Instant;

use super::ResolveError;

/// The part of a question's resolution shared by all its sub-queries.
#[derive(Debug)]
pub(super) struct Budget {
    pub(super) deadline: Instant,
    pub(super) upstream_left: AtomicU32,
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
    /// False for sub-queries (nameserver addresses): infrastructure, never tailored (E16).
    pub(super) client_question: bool,
    /// Where `scoped trace` collects the steps, if tracing.
    pub(super) trace: Option<Arc<Mutex<Vec<String>>>>,
    /// A refresh (prefetch): the client question's own links are asked upstream even though
    /// the cache still holds them.
    pub(super) refresh: bool,
    /// A QNAME-minimised step (RFC 9156): a question about an ancestor of the name being
    /// resolved, never the client's own, so never with ECS (E16).
    pub(super) minimised: bool,
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
            client_question: false,
            trace: self.trace.clone(),
            refresh: false,
            minimised: false,
        })
    }

    /// The context of one QNAME-minimised step of this (sub-)query.
    pub(super) fn minimised_step(&self) -> Ctx {
        Ctx {
            minimised: true,
            ..self.clone()
        }
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

    pub(super) fn spend_query(&self) -> Result<(), ResolveError> {
        if Instant::now() >= self.budget.deadline {
            return Err(ResolveError::Deadline);
        }
        self.budget
            .upstream_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| ResolveError::QueryBudget)
    }
}
