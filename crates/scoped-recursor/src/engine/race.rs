//! A zone's servers asked in turn, without waiting out a slow one and without piling on.
//!
//! The servers are asked in the order `select.rs` chose. A try still unanswered at its server's
//! RTO (its *soft* timeout, `exchange.rs`) is overdue, not failed: it stays open until its hard
//! timeout, and the next server is asked as well — if the retry budget allows. The first usable
//! response from any open try wins; the others are dropped (a try already overdue lives on in its
//! own task until its hard timeout, so its server's SRTT still learns from a late reply). A try
//! that fails (no reply by its hard timeout, a lame or unusable reply) makes way for the next
//! server at once.
//!
//! Two limits keep a loaded authoritative from being flooded by its own slowness:
//!
//! - **The retry budget** (`InfraCache::allow_retry`): every server asked after the first, for
//!   one question and zone, is a retry. While the question has a try open, a retry is sent only
//!   if retries stay within their share of first tries over the sliding window; beyond it the
//!   question waits on the tries it has. With nothing left open, the next server is asked
//!   whatever the budget (that is failover, and counted all the same).
//! - **Per-server in-flight limit** (`InfraCache::is_busy`): a server with `max_in_flight`
//!   unanswered queries is passed over for the next one in the order; when every server left
//!   is that busy and the question has nothing open, it waits for room (within its deadline).

use std::collections::VecDeque;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ctx::{Asking, Ctx};
use super::iterate::Outcome;
use super::stats::bump;
use super::{Recursor, ResolveError};

/// What one open try came to: its number and its result.
type Ended = (usize, Result<Option<Outcome>, ResolveError>);

/// One open try.
type OpenTry<'a> = Pin<Box<dyn Future<Output = Ended> + Send + 'a>>;

/// The next of the open tries to end (never, with none open). They are few (one, nearly
/// always: a second only once the first is overdue) and share this task's waker, so each wake
/// polls them all: cheaper than `FuturesUnordered`'s task per future and its ready queue
/// (callgrind, docs/benchmarks.md).
async fn next_ended(open: &mut Vec<OpenTry<'_>>) -> Ended {
    std::future::poll_fn(|cx| {
        for index in 0..open.len() {
            if let std::task::Poll::Ready(ended) = open[index].as_mut().poll(cx) {
                // Ended futures are never polled again.
                drop(open.swap_remove(index));
                return std::task::Poll::Ready(ended);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// What woke the loop.
enum Event {
    /// An open try ended.
    Ended(Ended),
    /// The newest try is overdue.
    Overdue,
}

impl Recursor {
    /// Ask the servers of `order` (skipping those in `tried`, and adding those asked) until one
    /// gives a usable response; overlapping a slow server with the next within the retry
    /// budget. `Ok(None)`: every one failed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn ask_in_turn(
        &self,
        order: &[IpAddr],
        zone: &Name,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
        asking: Asking,
        tried: &mut Vec<IpAddr>,
    ) -> Result<Option<Outcome>, ResolveError> {
        let infra = &self.inner.infra;
        let stats = &self.inner.stats;
        let mut waiting: VecDeque<IpAddr> = VecDeque::with_capacity(order.len());
        for &addr in order {
            if !tried.contains(&addr) && !waiting.contains(&addr) {
                waiting.push_back(addr);
            }
        }
        let mut open: Vec<OpenTry<'_>> = Vec::new();
        // The newest try, while it is neither overdue nor ended: the next server waits for it.
        let mut newest: Option<(usize, Arc<Notify>)> = None;
        let mut started = 0usize;
        let mut queued = false;
        loop {
            if newest.is_none() && !waiting.is_empty() {
                let now = Instant::now();
                match self.next_server(&waiting, now) {
                    Some(index) => {
                        let go = if tried.is_empty() {
                            infra.count_first_try(now);
                            true
                        } else if open.is_empty() {
                            infra.count_forced_retry(now);
                            true
                        } else if infra.allow_retry(now) {
                            true
                        } else {
                            bump(&stats.retry_budget_exhausted);
                            ctx.trace(|| "  retry budget spent: waiting on the open tries".into());
                            false
                        };
                        let addr = if go { waiting.remove(index) } else { None };
                        if let Some(addr) = addr {
                            if index > 0 {
                                bump(&stats.server_busy_spread);
                            }
                            if !tried.is_empty() {
                                bump(&stats.retries);
                            }
                            tried.push(addr);
                            let overdue = Arc::new(Notify::new());
                            let signal = overdue.clone();
                            let number = started;
                            started += 1;
                            open.push(crate::boxed::pin_in_place(|| async move {
                                let result = self
                                    .try_server(addr, zone, name, qtype, ctx, asking, &signal)
                                    .await;
                                (number, result)
                            }));
                            newest = Some((number, overdue));
                        }
                    }
                    None if open.is_empty() => {
                        // Every server left is at its in-flight limit and nothing is open:
                        // queue for room rather than pile on.
                        if !queued {
                            queued = true;
                            bump(&stats.server_busy_waits);
                        }
                        self.wait_for_room(&waiting, ctx).await?;
                        continue;
                    }
                    // Every server left is busy: wait on the open tries.
                    None => {}
                }
            }
            if open.is_empty() {
                return Ok(None);
            }
            let event = {
                let overdue = async {
                    match &newest {
                        Some((_, signal)) => signal.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ended = next_ended(&mut open) => Event::Ended(ended),
                    () = overdue => Event::Overdue,
                }
            };
            match event {
                Event::Overdue => {
                    // The next server may go (budget and in-flight limits allowing); this try
                    // stays open.
                    newest = None;
                }
                Event::Ended((number, result)) => {
                    if let Some(outcome) = result? {
                        return Ok(Some(outcome));
                    }
                    if newest.as_ref().is_some_and(|(n, _)| *n == number) {
                        newest = None;
                    }
                }
            }
        }
    }

    /// The index in `waiting` of the first server not at its in-flight limit, if any.
    fn next_server(&self, waiting: &VecDeque<IpAddr>, now: Instant) -> Option<usize> {
        waiting
            .iter()
            .position(|&addr| !self.inner.infra.is_busy(addr, now))
    }

    /// Wait until a query to one of `waiting` (all busy) ends, or a little while (the room may
    /// have gone to another question), within the question's deadline.
    async fn wait_for_room(
        &self,
        waiting: &VecDeque<IpAddr>,
        ctx: &Ctx,
    ) -> Result<(), ResolveError> {
        let now = Instant::now();
        let deadline = ctx.budget.deadline;
        if now >= deadline {
            return Err(ResolveError::Deadline);
        }
        let infra = &self.inner.infra;
        let rooms: Vec<Arc<Notify>> = waiting.iter().map(|&a| infra.room(a, now)).collect();
        let woken = futures::future::select_all(rooms.iter().map(|room| Box::pin(room.notified())));
        let recheck = (now + infra.config().min_rto).min(deadline);
        let _ = tokio::time::timeout_at(recheck, woken).await;
        Ok(())
    }
}
