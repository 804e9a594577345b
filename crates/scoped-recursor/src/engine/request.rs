//! Step 1, the client's request: answer from the caches, or join or start the one resolution of
//! this (question, subnet) in flight (de-duplication), with serve-stale around it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use ipnet::IpNet;
use scoped_cache::{CacheKey, Read};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Recursor;
use super::answer::{FromCache, Noted};
use super::ctx::{Lookup, Role};
use super::stats::bump;
use crate::{Question, Resolution, ResolveRequest};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct InflightKey {
    /// The question's name, type and class, as the record cache keys them (lowercase, with
    /// their hash computed once).
    question: CacheKey,
    subnet: Option<IpNet>,
    /// Validated (DNSSEC on, the client did not set CD): a CD question never shares the
    /// resolution of one without CD.
    pub(super) checked: bool,
}

impl InflightKey {
    pub(super) fn new(question: &Question, subnet: Option<IpNet>, checked: bool) -> Self {
        Self {
            question: CacheKey::rrset(&question.name, question.qtype, question.qclass),
            subnet,
            checked,
        }
    }
}

/// One resolution in flight, shared by every client that asks the same question meanwhile:
/// whoever runs it sets the result once and wakes them all. (It replaced a `futures::Shared`
/// around the task's `JoinHandle`, which cost a boxed future and a waker slab per miss;
/// callgrind, docs/benchmarks.md.)
#[derive(Default)]
pub(super) struct Flight {
    result: OnceLock<Resolution>,
    done: Notify,
}

pub(super) type SharedResolution = Arc<Flight>;

impl Flight {
    /// The resolution, once the task has it.
    pub(super) async fn wait(&self) -> Resolution {
        loop {
            // Registered before the check, so a result set in between still wakes this waiter.
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(resolution) = self.result.get() {
                return resolution.clone();
            }
            notified.await;
        }
    }

    fn finish(&self, resolution: Resolution) {
        let _ = self.result.set(resolution);
        self.done.notify_waiters();
    }
}

/// Sets SERVFAIL on a flight whose task ended without a result (a panic, or the runtime shutting
/// down), so that no client waits for ever.
struct FinishOnDrop(Arc<Flight>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if self.0.result.get().is_none() {
            self.0.finish(Resolution::servfail());
        }
    }
}

type Work = Pin<Box<dyn Future<Output = Resolution> + Send>>;

/// A resolution this request started: the request polls it itself instead of spawning a task
/// and waiting for it (a spawn, a wake-up through the scheduler and a copy of the result per
/// miss; callgrind, docs/benchmarks.md). Clients that ask the same question meanwhile wait on
/// the [`Flight`], and get the result when it is in.
///
/// If the request stops polling before the end (its stale-answer timer fired, or its task was
/// dropped), the rest of the resolution goes on in a task of its own, so that it still fills
/// the cache and answers the others.
pub(super) struct Lead {
    flight: Arc<Flight>,
    work: Option<Work>,
}

impl Lead {
    /// The rest of the resolution in a task of its own, for a caller that does not wait.
    pub(super) fn detach(mut self) {
        self.hand_off();
    }

    fn hand_off(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        let finish = FinishOnDrop(Arc::clone(&self.flight));
        // A resolution that panicked in the request's own poll is not resumed: its waiters get
        // SERVFAIL from `finish`, dropped here. Without a runtime (shutting down) likewise.
        if std::thread::panicking() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let resolution = work.await;
                finish.0.finish(resolution);
            });
        }
    }
}

impl Future for Lead {
    type Output = Resolution;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Resolution> {
        let Some(work) = self.work.as_mut() else {
            // Polled after it finished: the result is the flight's (never happens in this file).
            return Poll::Ready(
                self.flight
                    .result
                    .get()
                    .cloned()
                    .unwrap_or_else(Resolution::servfail),
            );
        };
        // A resolution that panics answers SERVFAIL, here and to whoever joined it, instead of
        // taking the client's task down without a response (a spawned resolution's panic used
        // to end in SERVFAIL for its waiters too).
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.as_mut().poll(cx)));
        let resolution = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(resolution)) => resolution,
            Err(_) => {
                tracing::error!("a resolution panicked: answered SERVFAIL");
                Resolution::servfail()
            }
        };
        self.work = None;
        // The work has left the in-flight table, so nobody joins from now on: the result is
        // copied for the flight only when someone joined before.
        if Arc::strong_count(&self.flight) > 1 {
            self.flight.finish(resolution.clone());
        }
        Poll::Ready(resolution)
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        self.hand_off();
    }
}

/// A request's part in the resolution of its question.
pub(super) enum Part {
    /// It started the resolution, and runs it.
    Lead(Lead),
    /// Another request runs it: wait for the result.
    Joined(Arc<Flight>),
}

impl Part {
    /// The resolution, or, when it takes longer than `patience`, the flight to wait on after
    /// looking for something else to answer with (a resolution this request ran goes on in a
    /// task of its own).
    pub(super) async fn within(
        self,
        patience: Option<Duration>,
    ) -> Result<Resolution, Arc<Flight>> {
        match (self, patience) {
            (Part::Lead(lead), None) => Ok(lead.await),
            (Part::Joined(flight), None) => Ok(flight.wait().await),
            (Part::Lead(mut lead), Some(patience)) => {
                match tokio::time::timeout(patience, &mut lead).await {
                    Ok(resolution) => Ok(resolution),
                    // Taken before `lead` is dropped and hands the work off, so its result is
                    // kept for this waiter.
                    Err(_) => Err(Arc::clone(&lead.flight)),
                }
            }
            (Part::Joined(flight), Some(patience)) => {
                match tokio::time::timeout(patience, flight.wait()).await {
                    Ok(resolution) => Ok(resolution),
                    Err(_) => Err(flight),
                }
            }
        }
    }
}

/// A resolution's place in the in-flight table, given up when it ends (completed, or dropped
/// after a panic).
struct InflightEntry {
    recursor: Recursor,
    key: InflightKey,
}

impl Drop for InflightEntry {
    fn drop(&mut self) {
        self.recursor
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl Recursor {
    /// Resolve one client question: from the cache if possible, else by iteration, sharing the
    /// work with identical questions in flight. Always returns within the configured budget.
    ///
    /// A cache hit in the last part of its entry's TTL also starts a background refresh, once
    /// per entry (prefetch), with the client's subnet at full length (E06). On a miss with stale
    /// data in the cache (RFC 8767) the client waits at most `stale_client_timeout`, and gets
    /// the stale data if the resolution is slower or fails.
    ///
    /// With DNS64 on, AAAA and PTR questions go through the DNS64 step (`dns64.rs`), which asks
    /// this path for what it needs.
    ///
    /// Rare branches are boxed here and below (DNS64, validation, forwarding, priming, a
    /// minimised step's query): an async function's state is as large as its largest branch,
    /// and every miss allocates, copies and touches the state of the common one
    /// (`state_size.rs`, docs/benchmarks.md).
    pub async fn resolve_request(&self, request: ResolveRequest) -> Resolution {
        if self.dns64_applies(&request) {
            return Box::pin(self.with_dns64(request, None)).await;
        }
        self.resolve_cached(request).await
    }

    /// [`Recursor::resolve_request`] without DNS64.
    pub(super) async fn resolve_cached(&self, request: ResolveRequest) -> Resolution {
        let question = request.question;
        if question.qclass != DNSClass::IN {
            return Resolution::error(ResponseCode::Refused);
        }
        let subnet = request.client_subnet;
        let checked = self.validating() && !request.checking_disabled;
        if checked && let Some(bogus) = self.bogus_verdict(&question) {
            bump(&self.inner.stats.dnssec_bogus_cached);
            return bogus;
        }
        let now = Instant::now();
        // The question's key, made once: the caches' lookups and the in-flight table use it.
        let key = InflightKey::new(&question, subnet, checked);
        let noted = Noted::default();
        let read = Read::Hit;
        let first = &key.question;
        let cached =
            match self.answer_from_cache(&question, first, subnet, now, read, &noted, checked) {
                FromCache::Answer(hit) => {
                    bump(&self.inner.stats.cache_hits);
                    let hit = self
                        .mark_for_every_client(&question, self.with_proof(&question, subnet, hit));
                    if noted.refresh.get() {
                        self.prefetch(question, subnet);
                    }
                    return hit;
                }
                FromCache::Partial => Lookup::Again,
                // RFC 8198: validated NSEC/NSEC3 ranges may prove the name or type absent without asking.
                FromCache::Nothing if let Some(nx) = self.aggressive(&question, checked) => {
                    return self.mark_for_every_client(&question, nx);
                }
                // The resolution that starts now need not walk the caches for this name again.
                FromCache::Nothing => Lookup::Done,
            };
        bump(&self.inner.stats.cache_misses);
        // Stale data is looked for only when it may be served: most misses resolve in time,
        // and the walk through both caches is not free.
        let recently_failed = self.inner.failed_ever.load(Ordering::Relaxed)
            && self.inner.failed_recently.holds(&key, now);
        if recently_failed && let Some(stale) = self.stale_answer(&question, subnet, now, checked) {
            bump(&self.inner.stats.stale_served_failed);
            return stale;
        }
        // The client waits for the resolution only so long when stale data could stand in for
        // it. When the read above saw no entry at all for the question, live or expired, none
        // can: then no timer (one per miss was a percent of its CPU, and each timer set can
        // wake the runtime).
        let stale_possible = self.serves_stale() && noted.seen.get();
        let part = self.flight(key, question.clone(), subnet, Role::Client, cached);
        if let Part::Joined(_) = part {
            bump(&self.inner.stats.deduplicated);
        }
        let patience = match stale_possible {
            true => self.inner.config.stale_client_timeout,
            false => None,
        };
        let resolution = match part.within(patience).await {
            Ok(resolution) => resolution,
            Err(flight) => {
                if let Some(stale) = self.stale_answer(&question, subnet, Instant::now(), checked) {
                    // The resolution goes on in a task of its own and refreshes the cache.
                    bump(&self.inner.stats.stale_served_slow);
                    return stale;
                }
                flight.wait().await
            }
        };
        // Bogus data is never served, stale or not; stale data stands in for servers that
        // could not be reached.
        if resolution.rcode == ResponseCode::ServFail
            && resolution
                .ede
                .as_ref()
                .is_none_or(crate::Ede::is_resolution_failure)
            && let Some(stale) = self.stale_answer(&question, subnet, Instant::now(), checked)
        {
            bump(&self.inner.stats.stale_served_failed);
            return stale;
        }
        let resolution = self.with_proof(&question, subnet, resolution);
        self.mark_for_every_client(&question, resolution)
    }

    /// NXDOMAIN or NODATA from the validated NSEC/NSEC3 ranges (`checked` questions only).
    fn aggressive(&self, question: &Question, checked: bool) -> Option<Resolution> {
        checked.then(|| self.aggressive_negative(question))?
    }

    /// Sets [`Resolution::for_every_client`]: scope 0, fresh, no CNAME chain, and the tailored
    /// cache holds nothing for the name — then no client subnet could get another answer (E19)
    /// until something tailored is cached for it, which drops the name's rendered answers.
    pub(super) fn mark_for_every_client(
        &self,
        question: &Question,
        mut resolution: Resolution,
    ) -> Resolution {
        let class = DNSClass::IN;
        let scoped = &self.inner.scoped;
        resolution.for_every_client = resolution.scope == 0
            && !resolution.stale
            && resolution.answers.iter().all(|r| {
                r.record_type() != RecordType::CNAME || question.qtype == RecordType::CNAME
            })
            && (scoped.is_empty() || {
                let key = CacheKey::rrset(&question.name, question.qtype, class);
                !scoped.may_hold_name(&key)
                    || !scoped.holds(&key)
                        && !scoped.holds(&key.with_type(Some(RecordType::CNAME)))
                        && !scoped.holds(&key.with_type(None))
            });
        resolution
    }

    /// The resolution of `key` in flight, joined, or started: then the caller runs it (see
    /// [`Lead`]). A failure is remembered for the stale recheck time.
    pub(super) fn flight(
        &self,
        key: InflightKey,
        question: Question,
        subnet: Option<IpNet>,
        role: Role,
        lookup: Lookup,
    ) -> Part {
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(running) = inflight.get(&key) {
            return Part::Joined(running.clone());
        }
        let this = self.clone();
        let task_key = key.clone();
        let checked = key.checked;
        let flight = Arc::new(Flight::default());
        let work: Work = Box::pin(async move {
            // Leaves the in-flight table however the work ends: a resolution that panicked
            // must not leave its key there, or every later identical question would join it.
            let entry = InflightEntry {
                recursor: this,
                key: task_key,
            };
            let this = &entry.recursor;
            let resolution = this
                .resolve_with_trace(question, subnet, None, role, lookup, checked)
                .await;
            if resolution.rcode == ResponseCode::ServFail {
                let until = Instant::now() + this.inner.config.stale_recheck;
                this.inner.failed_ever.store(true, Ordering::Relaxed);
                this.inner.failed_recently.insert(entry.key.clone(), until);
            } else if this.inner.failed_ever.load(Ordering::Relaxed) {
                this.inner.failed_recently.remove(&entry.key);
            }
            drop(entry);
            resolution
        });
        inflight.insert(key, flight.clone());
        Part::Lead(Lead {
            flight,
            work: Some(work),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_waiter_gets_the_one_result_whenever_it_started_waiting() {
        let flight = Arc::new(Flight::default());
        let early = tokio::spawn({
            let flight = flight.clone();
            async move { flight.wait().await }
        });
        tokio::task::yield_now().await;
        let mut answer = Resolution::error(ResponseCode::NXDomain);
        answer.scope = 24;
        flight.finish(answer);
        let late = flight.wait().await;
        let early = early.await.expect("the waiter");
        assert_eq!((early.rcode, early.scope), (ResponseCode::NXDomain, 24));
        assert_eq!((late.rcode, late.scope), (ResponseCode::NXDomain, 24));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_dies_without_a_result_gives_its_waiters_servfail() {
        let flight = Arc::new(Flight::default());
        let waiter = tokio::spawn({
            let flight = flight.clone();
            async move { flight.wait().await }
        });
        let task = tokio::spawn({
            let finish = FinishOnDrop(flight.clone());
            async move {
                let _finish = finish;
                panic!("the resolution failed hard");
            }
        });
        assert!(task.await.is_err());
        let got = tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("no waiter is left waiting")
            .expect("the waiter");
        assert_eq!(got.rcode, ResponseCode::ServFail);
    }

    /// A lead whose work waits for `gate`, then answers NXDOMAIN with SCOPE 24.
    fn gated_lead() -> (Lead, tokio::sync::oneshot::Sender<()>) {
        let (open, gate) = tokio::sync::oneshot::channel::<()>();
        let work: Work = Box::pin(async move {
            let _ = gate.await;
            let mut answer = Resolution::error(ResponseCode::NXDomain);
            answer.scope = 24;
            answer
        });
        let lead = Lead {
            flight: Arc::new(Flight::default()),
            work: Some(work),
        };
        (lead, open)
    }

    #[tokio::test(start_paused = true)]
    async fn a_lead_gives_its_result_to_the_requests_that_joined_it() {
        let (lead, open) = gated_lead();
        let joined = tokio::spawn({
            let flight = Arc::clone(&lead.flight);
            async move { flight.wait().await }
        });
        tokio::task::yield_now().await;
        open.send(()).expect("the work waits");
        let led = lead.await;
        let joined = joined.await.expect("the waiter");
        assert_eq!((led.rcode, led.scope), (ResponseCode::NXDomain, 24));
        assert_eq!((joined.rcode, joined.scope), (ResponseCode::NXDomain, 24));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lead_that_stops_waiting_hands_its_work_to_a_task_that_finishes_it() {
        let (lead, open) = gated_lead();
        let part = Part::Lead(lead);
        // The request gives up after a second (as for a stale answer) and then waits again.
        let flight = match part.within(Some(std::time::Duration::from_secs(1))).await {
            Err(flight) => flight,
            Ok(_) => panic!("the work cannot finish before the gate opens"),
        };
        assert!(flight.result.get().is_none(), "the work is still running");
        open.send(())
            .expect("the handed-off work still waits, it was not dropped");
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), flight.wait())
            .await
            .expect("the handed-off work finishes");
        assert_eq!((got.rcode, got.scope), (ResponseCode::NXDomain, 24));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lead_dropped_mid_way_still_answers_its_waiters() {
        let (lead, open) = gated_lead();
        let flight = Arc::clone(&lead.flight);
        let waiter = tokio::spawn(async move { flight.wait().await });
        // Polled once, then dropped, as when the client's task is aborted.
        let mut lead = lead;
        assert!(futures::poll!(&mut lead).is_pending());
        drop(lead);
        open.send(()).expect("the work lives on");
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the handed-off work finishes")
            .expect("the waiter");
        assert_eq!((got.rcode, got.scope), (ResponseCode::NXDomain, 24));
    }

    #[tokio::test(start_paused = true)]
    async fn a_resolution_that_panics_answers_servfail_to_its_lead_and_to_those_who_joined() {
        let (open, gate) = tokio::sync::oneshot::channel::<()>();
        let work: Work = Box::pin(async move {
            let _ = gate.await;
            panic!("a resolution failed hard");
        });
        let lead = Lead {
            flight: Arc::new(Flight::default()),
            work: Some(work),
        };
        let joined = tokio::spawn({
            let flight = Arc::clone(&lead.flight);
            async move { flight.wait().await }
        });
        tokio::task::yield_now().await;
        open.send(()).expect("the work waits");
        assert_eq!(lead.await.rcode, ResponseCode::ServFail);
        let joined = tokio::time::timeout(std::time::Duration::from_secs(5), joined)
            .await
            .expect("the waiter is answered")
            .expect("the waiter");
        assert_eq!(joined.rcode, ResponseCode::ServFail);
    }
}
