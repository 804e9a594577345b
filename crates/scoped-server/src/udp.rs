//! The UDP listener: one receive loop per socket; cache hits answered in the loop, every other
//! query in a task of its own, bounded.
//!
//! On Linux the loop moves datagrams in batches: one `recvmmsg` reads up to [`BATCH`] queries,
//! the fast path answers the cache hits among them, and one `sendmmsg` sends those answers. At
//! a cache hit's user-space cost (a few hundred nanoseconds) the two system calls per query of a
//! plain loop are most of the work; batching shares them across a batch under load, and costs
//! nothing when queries come one at a time (a batch of one). The full path's responses, each
//! finished by its own task, are queued in an outbox and sent the same way, once per round of
//! the scheduler (see [`drain`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{Notify, Semaphore};

use crate::guard::{Admitted, Verdict};
use crate::pipeline::{Fast, Pipeline, Transport};
use crate::rules::ClientMemo;
use crate::stats::FrontendStats;

/// The largest datagram we read; anything longer would be cut by the kernel and then fail to
/// parse, which is the right outcome (FORMERR).
const MAX_DATAGRAM: usize = u16::MAX as usize;

/// Room for a fast-path response without reallocating (the largest UDP answer we send).
const FAST_RESPONSE_CAPACITY: usize = 4096;

/// Pause after a failed receive, so a persistent socket error cannot spin a core.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Datagrams read (and fast answers sent) per system call.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const BATCH: usize = 32;

/// Serves `socket` until the task is aborted (the socket closes then, and queries still being
/// resolved get no response). At most `max_inflight` queries are resolved at once; datagrams
/// beyond that are dropped and counted, never queued.
pub(crate) async fn serve(socket: Arc<UdpSocket>, pipeline: Arc<Pipeline>, max_inflight: usize) {
    let outbox = Arc::new(Outbox::default());
    let _drain = AbortOnDrop(tokio::spawn(drain(
        Arc::downgrade(&socket),
        Arc::clone(&outbox),
        Arc::clone(pipeline.stats()),
    )));
    let mut loop_state = Loop {
        permits: Arc::new(Semaphore::new(max_inflight.min(Semaphore::MAX_PERMITS))),
        socket,
        pipeline,
        memo: ClientMemo::default(),
        outbox,
    };
    #[cfg(target_os = "linux")]
    loop_state.serve_batched().await;
    #[cfg(not(target_os = "linux"))]
    loop_state.serve_one_at_a_time().await;
}

struct Loop {
    socket: Arc<UdpSocket>,
    pipeline: Arc<Pipeline>,
    permits: Arc<Semaphore>,
    /// The fast path's verdict on the last client without an ECS option.
    memo: ClientMemo,
    /// The full path's responses, waiting for the loop's `drain` task to send them.
    outbox: Arc<Outbox>,
}

/// Responses of the full path (each resolved in its own task), queued for one `sendmmsg` per
/// round of the scheduler (see [`drain`]).
#[derive(Default)]
struct Outbox {
    queue: Mutex<Vec<(Vec<u8>, SocketAddr)>>,
    /// Signalled when the queue stops being empty.
    ready: Notify,
}

impl Outbox {
    fn push(&self, response: Vec<u8>, client: SocketAddr) {
        let mut queue = self.lock();
        let first = queue.is_empty();
        queue.push((response, client));
        drop(queue);
        if first {
            self.ready.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Vec<u8>, SocketAddr)>> {
        // A panic while holding the lock leaves only whole entries behind.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Aborts the task when the listener's loop ends (or is aborted itself).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Loop {
    /// One datagram per system call.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    async fn serve_one_at_a_time(&mut self) {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        let mut response = Vec::with_capacity(FAST_RESPONSE_CAPACITY);
        loop {
            let (len, peer) = match self.socket.recv_from(&mut buffer).await {
                Ok(received) => received,
                Err(error) => {
                    tracing::debug!(%error, "UDP receive failed");
                    tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                    continue;
                }
            };
            let datagram = buffer.get(..len).unwrap_or_default();
            let guard = &self.pipeline.guard;
            let admitted = match guard.udp(datagram, peer, tokio::time::Instant::now()) {
                Verdict::Serve(admitted) => admitted,
                Verdict::Answer(answer) => {
                    send(&self.socket, &answer, peer).await;
                    continue;
                }
                Verdict::Drop => continue,
            };
            let query = datagram.get(admitted.offset..).unwrap_or_default();
            response.clear();
            if self
                .pipeline
                .answer_fast(query, admitted.client, Transport::Udp, &mut response)
            {
                guard.finish(&admitted, query, &mut response);
                send(&self.socket, &response, peer).await;
            } else {
                self.spawn_full(query, admitted, peer, Fast::Full);
            }
        }
    }

    /// A query the fast path did not answer: resolved in its own task, if a permit is free.
    /// The response goes to `peer` (the load balancer, for a query behind a PROXY header).
    ///
    /// The task hands its response to the loop's outbox, and holds no socket: once the loop
    /// is gone (the listener shut down), the socket closes at once, the outbox's `drain` task
    /// with it, and a response still being resolved is never sent. The
    /// resolution itself finishes within its time budget and fills the cache. (A `JoinSet`
    /// that aborted the tasks cost a fifth of a miss's front-end work: callgrind,
    /// docs/benchmarks.md.)
    ///
    /// `fast` is what the fast path found ([`Fast::Full`] if it did not look).
    fn spawn_full(&mut self, query: &[u8], admitted: Admitted, peer: SocketAddr, fast: Fast) {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            FrontendStats::bump(&self.pipeline.stats().dropped_overload);
            return;
        };
        let datagram = query.to_vec();
        let outbox = Arc::clone(&self.outbox);
        let pipeline = Arc::clone(&self.pipeline);
        // Boxed where it is built: the task then holds a pointer, and neither spawning nor
        // ending it copies the whole resolution's state (see scoped_recursor::boxed).
        tokio::spawn(scoped_recursor::boxed::pin_in_place(|| async move {
            let response = pipeline
                .handle_full_after(&datagram, admitted.client, Transport::Udp, fast)
                .await;
            if let Some(mut response) = response {
                pipeline.guard.finish(&admitted, &datagram, &mut response);
                outbox.push(response, peer);
            }
            drop(permit);
        }));
    }
}

/// Sends what the full path put in `outbox`, a batch at a time, until aborted or the socket
/// is gone (then what is queued is dropped, as the responses still being resolved are).
///
/// Woken by the first response of a batch, it first yields once, so that every task ready in
/// this round of the scheduler runs before it and its response joins the batch. Under load one
/// `sendmmsg` then carries dozens of responses, and the client is woken once for all of them
/// rather than once each (the kernel's wake-up was a tenth of a miss's CPU). With one query at
/// a time the cost is one more turn of the scheduler.
async fn drain(socket: Weak<UdpSocket>, outbox: Arc<Outbox>, stats: Arc<FrontendStats>) {
    let mut sending = Vec::new();
    loop {
        outbox.ready.notified().await;
        tokio::task::yield_now().await;
        std::mem::swap(&mut *outbox.lock(), &mut sending);
        let Some(socket) = socket.upgrade() else {
            return;
        };
        #[cfg(target_os = "linux")]
        batched::send_all(&socket, &sending, &stats).await;
        #[cfg(not(target_os = "linux"))]
        for (response, client) in &sending {
            FrontendStats::bump(&stats.udp_full_send_calls);
            send(&socket, response, *client).await;
        }
        sending.clear();
    }
}

async fn send(socket: &UdpSocket, response: &[u8], client: SocketAddr) {
    if let Err(error) = socket.send_to(response, client).await {
        tracing::debug!(%error, %client, "UDP send failed");
    }
}

#[cfg(target_os = "linux")]
mod batched {
    use std::cell::RefCell;
    use std::io::{self, IoSlice, IoSliceMut};
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{
        ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
    };
    use tokio::io::Interest;
    use tokio::net::UdpSocket;

    use super::{BATCH, FAST_RESPONSE_CAPACITY, Loop, MAX_DATAGRAM, RECV_ERROR_BACKOFF, send};
    use crate::guard::Verdict;
    use crate::pipeline::{Fast, Transport};
    use crate::stats::FrontendStats;

    fn std_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = addr.as_sockaddr_in() {
            return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
        }
        addr.as_sockaddr_in6()
            .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
    }

    thread_local! {
        // The system calls' header arrays hold raw pointers (not `Send`), so they cannot live in
        // the loop's future, which may move between worker threads. One set per thread,
        // borrowed only within a system call, instead of allocating them for every batch.
        static RECV_HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
            RefCell::new(MultiHeaders::preallocate(BATCH, None));
        static SEND_HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
            RefCell::new(MultiHeaders::preallocate(BATCH, None));
    }

    impl Loop {
        pub(super) async fn serve_batched(&mut self) {
            let fd = self.socket.as_raw_fd();
            // Pages of the buffers are touched only as far as datagrams fill them.
            let mut buffers: [Vec<u8>; BATCH] = std::array::from_fn(|_| vec![0u8; MAX_DATAGRAM]);
            let mut responses: [Vec<u8>; BATCH] =
                std::array::from_fn(|_| Vec::with_capacity(FAST_RESPONSE_CAPACITY));
            let mut received: Vec<(usize, Option<SockaddrStorage>, bool)> =
                Vec::with_capacity(BATCH);
            // The clients of the fast answers: answer i is `responses[i]`.
            let mut answers: Vec<SockaddrStorage> = Vec::with_capacity(BATCH);
            loop {
                received.clear();
                let result = self
                    .socket
                    .async_io(Interest::READABLE, || {
                        RECV_HEADERS.with_borrow_mut(|headers| {
                            let mut slices = buffers.each_mut().map(|b| [IoSliceMut::new(b)]);
                            let messages = recvmmsg(
                                fd,
                                headers,
                                slices.iter_mut(),
                                MsgFlags::MSG_DONTWAIT,
                                None,
                            )
                            .map_err(io::Error::from)?;
                            received.extend(messages.map(|m| {
                                (m.bytes, m.address, m.flags.contains(MsgFlags::MSG_TRUNC))
                            }));
                            Ok(())
                        })
                    })
                    .await;
                if let Err(error) = result {
                    tracing::debug!(%error, "UDP receive failed");
                    tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                    continue;
                }
                // One clock read for the batch: its datagrams arrived together.
                let now = tokio::time::Instant::now();
                answers.clear();
                for (i, &(len, address, truncated)) in received.iter().enumerate() {
                    let Some((peer, address)) = address.and_then(|a| std_addr(&a).map(|c| (c, a)))
                    else {
                        continue;
                    };
                    let datagram = buffers[i].get(..len).unwrap_or_default();
                    let response = &mut responses[answers.len()];
                    let admitted = match self.pipeline.guard.udp(datagram, peer, now) {
                        Verdict::Serve(admitted) => admitted,
                        Verdict::Answer(answer) => {
                            *response = answer;
                            answers.push(address);
                            continue;
                        }
                        Verdict::Drop => continue,
                    };
                    let query = datagram.get(admitted.offset..).unwrap_or_default();
                    if truncated {
                        // Longer than any DNS message: cut by the kernel; the full path
                        // answers FORMERR for what is left.
                        self.spawn_full(query, admitted, peer, Fast::Full);
                        continue;
                    }
                    response.clear();
                    let fast = self.pipeline.answer_fast_at(
                        query,
                        admitted.client,
                        Transport::Udp,
                        response,
                        now,
                        &mut self.memo,
                    );
                    if fast == Fast::Answered {
                        self.pipeline.guard.finish(&admitted, query, response);
                        answers.push(address);
                    } else {
                        self.spawn_full(query, admitted, peer, fast);
                    }
                }
                if !answers.is_empty() {
                    self.send_answers(&responses, &answers).await;
                }
            }
        }

        /// Sends the fast answers with one `sendmmsg`, or one by one what it could not send.
        async fn send_answers(&self, responses: &[Vec<u8>; BATCH], answers: &[SockaddrStorage]) {
            let slices = responses.each_ref().map(|r| [IoSlice::new(r)]);
            let addresses: [Option<SockaddrStorage>; BATCH] =
                std::array::from_fn(|i| answers.get(i).copied());
            let count = answers.len();
            let sent = send_many(&self.socket, &slices[..count], &addresses[..count]);
            for (address, response) in answers[sent..].iter().zip(&responses[sent..]) {
                if let Some(client) = std_addr(address) {
                    send(&self.socket, response, client).await;
                } else {
                    FrontendStats::bump(&self.pipeline.stats().dropped_overload);
                }
            }
        }
    }

    /// One `sendmmsg` for `slices[i]` to `addresses[i]`; how many the kernel took (none if
    /// the socket's send buffer is full: the caller sends the rest one by one, waiting).
    fn send_many(
        socket: &UdpSocket,
        slices: &[[IoSlice<'_>; 1]],
        addresses: &[Option<SockaddrStorage>],
    ) -> usize {
        let sent = socket
            .try_io(Interest::WRITABLE, || {
                SEND_HEADERS.with_borrow_mut(|headers| {
                    let results = sendmmsg(
                        socket.as_raw_fd(),
                        headers,
                        slices.iter(),
                        addresses,
                        [] as [ControlMessage<'_>; 0],
                        MsgFlags::MSG_DONTWAIT,
                    )
                    .map_err(io::Error::from)?;
                    Ok(results.count())
                })
            })
            .unwrap_or(0);
        sent.min(slices.len())
    }

    /// Sends `responses` with as few `sendmmsg` calls as a batch allows, then one by one
    /// (waiting for room) what the kernel did not take.
    pub(super) async fn send_all(
        socket: &UdpSocket,
        responses: &[(Vec<u8>, SocketAddr)],
        stats: &FrontendStats,
    ) {
        for chunk in responses.chunks(BATCH) {
            let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
                [IoSlice::new(
                    chunk.get(i).map_or(&[][..], |(r, _)| r.as_slice()),
                )]
            });
            let addresses: [Option<SockaddrStorage>; BATCH] =
                std::array::from_fn(|i| chunk.get(i).map(|&(_, to)| SockaddrStorage::from(to)));
            FrontendStats::bump(&stats.udp_full_send_calls);
            let sent = send_many(socket, &slices[..chunk.len()], &addresses[..chunk.len()]);
            for (response, client) in &chunk[sent..] {
                send(socket, response, *client).await;
            }
        }
    }
}
