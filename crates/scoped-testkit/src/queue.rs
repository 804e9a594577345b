//! An authoritative under load: [`ServiceQueue`], a server process that works through its
//! queries one at a time, so its latency grows with its queue.
//!
//! Install one queue on one or several servers ([`ServerHandle::set_queue`]): several addresses
//! sharing a queue are one process behind several addresses, as a CDN's authoritative often is,
//! and asking "another server" of it adds to the same queue. Each query the server answers takes
//! `service` of the process's time, first come first served; its reply leaves when its turn is
//! done, plus the server's round-trip [`delay`](crate::Behaviour::delay). A query the querier
//! gave up on is still worked through (the server cannot know), which is how retries turn into
//! more load. Queries the server does not answer (dead, dropped) take no time.
//!
//! Everything is computed from tokio's clock at arrival, so on the paused clock the same
//! arrivals give the same delays on every run.
//!
//! ```
//! use std::time::Duration;
//! use scoped_testkit::ServiceQueue;
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let queue = ServiceQueue::new(Duration::from_millis(2));
//! let now = Instant::now();
//! assert_eq!(queue.admit(now), Duration::from_millis(2), "idle: its own service time");
//! assert_eq!(queue.admit(now), Duration::from_millis(4), "one ahead of it");
//! assert_eq!(queue.max_depth(), 2);
//! # }
//! ```
//!
//! [`ServerHandle::set_queue`]: crate::ServerHandle::set_queue

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A server process answering one query at a time (see the [module documentation](self)).
/// Cheap to clone: clones share the queue.
#[derive(Clone, Debug)]
pub struct ServiceQueue {
    inner: Arc<Mutex<QueueState>>,
}

#[derive(Debug)]
struct QueueState {
    service: Duration,
    /// When the work already queued is done.
    busy_until: Option<Instant>,
    served: u64,
    max_depth: usize,
    max_wait: Duration,
}

impl ServiceQueue {
    /// An idle process that takes `service` per query.
    pub fn new(service: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(QueueState {
                service,
                busy_until: None,
                served: 0,
                max_depth: 0,
                max_wait: Duration::ZERO,
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A query arrives at `now`: it joins the queue, and this is how long until its reply is
    /// ready (its wait plus its own service time).
    pub fn admit(&self, now: Instant) -> Duration {
        let mut state = self.state();
        let begins = state.busy_until.map_or(now, |busy| busy.max(now));
        let done = begins + state.service;
        let ahead = begins.saturating_duration_since(now);
        // Queries ahead of this one (the one in service included), and this one.
        let depth = if state.service.is_zero() {
            1
        } else {
            ahead.as_nanos().div_ceil(state.service.as_nanos()) as usize + 1
        };
        state.busy_until = Some(done);
        state.served += 1;
        state.max_depth = state.max_depth.max(depth);
        let delay = done.saturating_duration_since(now);
        state.max_wait = state.max_wait.max(delay);
        delay
    }

    /// Change the time one query takes (queries already queued keep theirs).
    pub fn set_service(&self, service: Duration) {
        self.state().service = service;
    }

    /// Queries worked through (or queued) so far.
    pub fn served(&self) -> u64 {
        self.state().served
    }

    /// The most queries queued at once (the one in service included), seen at an arrival.
    pub fn max_depth(&self) -> usize {
        self.state().max_depth
    }

    /// The longest a query took from arrival to its reply (queueing and service).
    pub fn max_wait(&self) -> Duration {
        self.state().max_wait
    }

    /// Forget the statistics (not the work queued).
    pub fn reset_stats(&self) {
        let mut state = self.state();
        state.served = 0;
        state.max_depth = 0;
        state.max_wait = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn latency_grows_with_the_queue_and_drains_with_time() {
        let queue = ServiceQueue::new(Duration::from_millis(1));
        let t0 = Instant::now();
        let delays: Vec<Duration> = (0..5).map(|_| queue.admit(t0)).collect();
        assert_eq!(
            delays,
            (1..=5).map(Duration::from_millis).collect::<Vec<_>>()
        );
        assert_eq!(queue.max_depth(), 5);
        // Half a millisecond on, 4.5 ms of work is left: a new query waits for it.
        let later = t0 + Duration::from_micros(500);
        assert_eq!(queue.admit(later), Duration::from_micros(5500));
        // Once drained, a query takes its service time only.
        let idle = t0 + Duration::from_secs(1);
        assert_eq!(queue.admit(idle), Duration::from_millis(1));
        assert_eq!(queue.served(), 7);
        assert_eq!(queue.max_wait(), Duration::from_micros(5500));
    }
}
