//! A bounded UDP load generator with per-query latency: what dnsperf cannot do here (a different
//! client subnet per query, an open-loop fixed rate with p99).
//!
//! One thread, one connected non-blocking socket. Queries are sent from a list of prebuilt wire
//! messages in order, round and round, each with a fresh ID from a FIFO pool (an ID is reused
//! only after every other free one, so a late answer cannot be taken for a new query's). Every
//! run stops at its time limit or query count, whichever comes first; unanswered queries count as
//! lost after `timeout`.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::wire;

/// How queries are paced.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Keep this many queries outstanding (dnsperf's `-q`): throughput.
    Closed { window: usize },
    /// Send at this many queries per second whatever the answers do: latency at a fixed load.
    /// At most `max_outstanding` are in flight; beyond it sends wait (and the rate falls short).
    Open { rate: u64, max_outstanding: usize },
}

/// One load run.
#[derive(Clone, Debug)]
pub struct Load {
    /// The server.
    pub target: SocketAddr,
    /// Wire queries (IDs are overwritten), sent in order, round and round.
    pub queries: Vec<Vec<u8>>,
    /// Pacing.
    pub pace: Pace,
    /// Time limit of the sending part; outstanding answers get up to `timeout` more.
    pub duration: Duration,
    /// Query count limit.
    pub max_queries: u64,
    /// When an unanswered query counts as lost.
    pub timeout: Duration,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Queries sent.
    pub sent: u64,
    /// Answers matched to a query.
    pub answered: u64,
    /// Answers with RCODE NOERROR and at least one answer record.
    pub answered_with_data: u64,
    /// Answers with RCODE SERVFAIL (counted in `answered` too).
    pub servfail: u64,
    /// Queries without an answer within `timeout`.
    pub lost: u64,
    /// From the first send to the last answer.
    pub elapsed: Duration,
    /// Round trip of every answered query, microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    /// Answers per second of wall time.
    pub fn qps(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Mean round trip, microseconds.
    pub fn mean_us(&self) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.iter().map(|&l| f64::from(l)).sum::<f64>()
            / self.latencies_us.len() as f64
    }

    /// The `q`-quantile of the round trips (0.99 for p99), microseconds.
    pub fn quantile_us(&self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        self.latencies_us[rank.min(self.latencies_us.len() - 1)]
    }
}

const RECV_BUFFER: usize = 4 << 20;

fn socket_to(target: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(target),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Best effort: a small buffer only loses more under overload, which the run counts.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    let _ = socket.set_send_buffer_size(RECV_BUFFER);
    let local: SocketAddr = if target.is_ipv4() {
        "127.0.0.1:0".parse().expect("literal")
    } else {
        "[::1]:0".parse().expect("literal")
    };
    socket.bind(&local.into())?;
    socket.connect(&target.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Load {
    /// Run the load to completion (bounded by `duration + timeout` and `max_queries`).
    ///
    /// # Errors
    ///
    /// When the socket cannot be made, or a send fails with anything but a full buffer.
    pub fn run(&self) -> io::Result<Outcome> {
        assert!(!self.queries.is_empty(), "a load needs queries");
        let socket = socket_to(self.target)?;
        let (window, rate) = match self.pace {
            Pace::Closed { window } => (window.clamp(1, 60_000), None),
            Pace::Open {
                rate,
                max_outstanding,
            } => (max_outstanding.clamp(1, 60_000), Some(rate.max(1))),
        };
        let mut sent_at: Vec<Option<Instant>> = vec![None; 65_536];
        let mut free: VecDeque<u16> = (0..=u16::MAX).collect();
        let mut in_order: VecDeque<(u16, Instant)> = VecDeque::with_capacity(window);
        let mut outcome = Outcome::default();
        // Room for every latency, touched before the clock starts: growing (and copying) the
        // vector mid-run would stall the generator and show up as server latency.
        let expected = match rate {
            Some(rate) => rate as f64 * self.duration.as_secs_f64() * 1.1,
            None => 400_000.0 * self.duration.as_secs_f64(),
        };
        let expected = (expected as u64).min(self.max_queries).min(20_000_000) as usize;
        outcome.latencies_us.resize(expected + 1024, 0);
        outcome.latencies_us.clear();
        let mut buffer = vec![0u8; 4096];
        let mut send_buffer: Vec<u8> = Vec::with_capacity(512);
        let mut outstanding = 0usize;
        let mut next_query = 0usize;
        let start = Instant::now();
        let stop_sending = start + self.duration;
        let mut last_event = start;
        loop {
            let now = Instant::now();
            let sending = now < stop_sending && outcome.sent < self.max_queries;
            if !sending && outstanding == 0 {
                break;
            }
            // Send what the pace allows.
            if sending {
                let allowed = match rate {
                    None => u64::MAX,
                    Some(rate) => {
                        let due = (now - start).as_secs_f64() * rate as f64;
                        (due as u64).saturating_sub(outcome.sent)
                    }
                };
                let mut budget = allowed.min(64);
                while budget > 0 && outstanding < window && outcome.sent < self.max_queries {
                    let Some(id) = free.pop_front() else { break };
                    send_buffer.clear();
                    send_buffer.extend_from_slice(&self.queries[next_query]);
                    send_buffer[..2].copy_from_slice(&id.to_be_bytes());
                    match socket.send(&send_buffer) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            free.push_front(id);
                            break;
                        }
                        // Loopback reports a full receive queue at the far end this way.
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            free.push_front(id);
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                    let at = Instant::now();
                    sent_at[usize::from(id)] = Some(at);
                    in_order.push_back((id, at));
                    outstanding += 1;
                    outcome.sent += 1;
                    next_query = (next_query + 1) % self.queries.len();
                    budget -= 1;
                }
            }
            // Receive everything waiting.
            loop {
                match socket.recv(&mut buffer) {
                    Ok(len) => {
                        let reply = &buffer[..len];
                        let Some(id) = wire::id(reply) else { continue };
                        let Some(at) = sent_at[usize::from(id)].take() else {
                            continue;
                        };
                        let now = Instant::now();
                        last_event = now;
                        let micros = (now - at).as_micros().min(u128::from(u32::MAX)) as u32;
                        outcome.latencies_us.push(micros);
                        outcome.answered += 1;
                        if wire::rcode(reply) == Some(0) && wire::answer_count(reply) > Some(0) {
                            outcome.answered_with_data += 1;
                        } else if wire::rcode(reply) == Some(2) {
                            outcome.servfail += 1;
                        }
                        outstanding -= 1;
                        free.push_back(id);
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::ConnectionRefused =>
                    {
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            // Expire the oldest unanswered queries.
            let now = Instant::now();
            while let Some(&(id, at)) = in_order.front() {
                match sent_at[usize::from(id)] {
                    Some(t) if t == at => {
                        if now - at < self.timeout {
                            break;
                        }
                        sent_at[usize::from(id)] = None;
                        outcome.lost += 1;
                        outstanding -= 1;
                        free.push_back(id);
                        in_order.pop_front();
                    }
                    // Answered (or the ID moved on to a newer query).
                    _ => {
                        in_order.pop_front();
                    }
                }
            }
            if outstanding >= window || !sending {
                std::hint::spin_loop();
            }
        }
        // Up to the last answer: waiting out the losses is not serving time.
        outcome.elapsed = last_event.max(start + Duration::from_micros(1)) - start;
        outcome.latencies_us.sort_unstable();
        Ok(outcome)
    }
}
