//! The infrastructure cache: what scoped has learnt about each nameserver *address*.
//!
//! One [`InfraCache`] is shared by every zone and every query. Its records are keyed by the
//! server's address alone (never by zone or by name), so a server that answers for a hundred zones
//! is measured once, and one name that never gets an answer cannot condemn a whole zone.
//!
//! # Round-trip time and timeout (RFC 6298)
//! Each answered exchange is a sample R fed to Jacobson/Karels smoothing with the RFC 6298 §2
//! constants: the first sample sets `SRTT = R, RTTVAR = R/2`; later ones
//! `RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R|`, then `SRTT = 7/8·SRTT + 1/8·R`. The per-try timeout is
//! `RTO = SRTT + max(SRTT/2, 4·RTTVAR)`, clamped to `[min_rto, max_rto]`; a server never measured
//! gets `initial_rto`. The `SRTT/2` floor stands in for the RFC's clock granularity G: a server
//! with a steady RTT drives RTTVAR to zero, and a reply a little late is not a loss. DNS has no
//! retransmission ambiguity (Karn's problem): every try is a new query with its own ID and port,
//! so every reply is a clean sample.
//!
//! # Timeouts, hold-off and probes
//! A timeout doubles the RTO of the address (RFC 6298 §5.5), up to `max_rto`, and ranks it behind
//! every server that still answers: it loses its place at once. After `hold_off_after_timeouts`
//! timeouts in a row it is *held off*: ranked last and never explored. Held-off is not banned: once
//! `hold_off` has passed since its last timeout, one query's selection hands it out for a
//! background probe, and the next probe is due one `hold_off` later. One answer — to a probe, an
//! exploration, or any query — wipes the timeouts and the backoff. When all of a zone's servers
//! are held off, the order still contains them all, so a name that times out everywhere cannot
//! stop the others from being resolved (unbound#1074).
//!
//! A query still unanswered at its RTO is *overdue*, not failed. If nothing at all has come back
//! from its server since it was sent, the server is *silent*: it ranks with the servers timing
//! out at once, and the other queries to it still short of their RTO are told to move on
//! ([`InfraCache::record_overdue`]). A loaded server still answers older queries meanwhile: it
//! is slow, not silent.
//!
//! # Choosing the order of one query's tries (`order.rs`)
//! Servers are ranked by tier, then by expected RTT: responsive and unmeasured servers first,
//! then an unmeasured server whose first query is still out, then busy servers, then servers
//! timing out (or silent), then held-off ones. The client's first try goes to the best
//! *measured* responsive server; what is still to learn is learnt by background queries the
//! selection hands out beside the order ([`Selection::measure`]): a due probe, the unmeasured
//! servers (each once per `initial_rto`, pdns#1066), and with probability `explore_share` one
//! other server not measured for `explore_interval` and with nothing in flight. Only when no
//! measured server answers does an unmeasured one take a client's first try.
//!
//! # Forgetting
//! A record not used for `idle_expiry` is gone: the server is unknown again. Before that, an SRTT
//! slower than `decay_target` decays toward it as it ages (half-life `idle_expiry / 4`), so a server
//! slow once is retried later even in a quiet zone. Fast SRTTs do not decay upwards.
//!
//! # Capability memory
//! Per address, with an expiry of `capability_ttl`: whether it rejects EDNS (FORMERR/NOTIMP to an
//! EDNS query, RFC 6891 §7) and what it does with ECS ([`EcsCapability`], rules E12 and E13).
//!
//! # Memory and locking
//! At most `max_entries` records, in up to 16 shards of `Mutex<HashMap>`; a full shard first drops
//! expired records, then the least recently used. Plain std maps and not moka: time must come from
//! the caller (tokio's paused clock in engine tests; moka reads its own clock), eviction must never
//! refuse a new server (moka's TinyLFU admission does), and every operation is a few arithmetic
//! steps under a lock held for nanoseconds.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

/// Seeded per process: the addresses come from referrals others write.
type AddrHasher = foldhash::quality::RandomState;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

mod budget;
mod config;
mod cookie;
mod order;
mod record;

pub use budget::RetryBudget;
pub use config::*;
pub use cookie::{COOKIE_OPTION, CookieCheck};
pub use order::{Measure, Selection};
use record::{ServerRecord, ms};

/// RFC 6298 §2: α = 1/8, β = 1/4, K = 4.
const SRTT_WEIGHT: u64 = 8;
const RTTVAR_WEIGHT: u64 = 4;
const RTTVAR_K: u64 = 4;
/// The RTO exceeds the SRTT by at least SRTT / this (RTO ≥ 1.5 × SRTT): our stand-in for RFC 6298's
/// clock granularity G. A server with a steady RTT has RTTVAR → 0, and a reply a little slower than
/// usual (a cache miss on the authoritative side) is not a loss.
const MIN_MARGIN_DIVISOR: u64 = 2;
/// Backoff doublings counted at most (max_rto caps the value long before).
const MAX_BACKOFF_SHIFT: u32 = 16;
/// Half-lives of the SRTT decay within one idle expiry (4: 1/16 of the excess is left at expiry).
const DECAY_HALF_LIVES_PER_EXPIRY: f64 = 4.0;
/// Shard count limits: at most 16 locks; at least this many records per shard, so small tables
/// are one exact LRU.
const MAX_SHARDS: usize = 16;
const MIN_ENTRIES_PER_SHARD: usize = 256;

/// How a server is doing, as shown by `scoped ctl infra`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Never measured (or forgotten): ranked at `unknown_rtt`.
    Unknown,
    /// Its last exchange was answered: ranked by SRTT.
    Responsive,
    /// Its last exchanges timed out, fewer than the hold-off threshold: ranked after responsive
    /// servers, still explored.
    TimingOut,
    /// Too many timeouts in a row: ranked last, only probed once per hold-off period.
    HeldOff,
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerState::Unknown => "unknown",
            ServerState::Responsive => "responsive",
            ServerState::TimingOut => "timing-out",
            ServerState::HeldOff => "held-off",
        })
    }
}

/// What a server does with an ECS option (RFC 7871), as far as we know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcsCapability {
    /// Nothing known (or the knowledge expired).
    Unknown,
    /// It has echoed ECS in a reply (E12): an ECS-less reply from it is suspicious.
    Echoes,
    /// It answered an ECS query without echoing the option (§7.3: SCOPE 0).
    NoEcho,
    /// It answered an ECS query with REFUSED or FORMERR (E13): send it no ECS for a while.
    Rejects,
}

impl fmt::Display for EcsCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EcsCapability::Unknown => "unknown",
            EcsCapability::Echoes => "echoes",
            EcsCapability::NoEcho => "no-echo",
            EcsCapability::Rejects => "rejects",
        })
    }
}

/// One row of `scoped ctl infra`.
#[derive(Clone, Debug, PartialEq)]
pub struct InfraEntry {
    /// The nameserver address.
    pub addr: IpAddr,
    /// Smoothed RTT, if ever measured.
    pub srtt: Option<Duration>,
    /// RTT variance, if ever measured.
    pub rttvar: Option<Duration>,
    /// The per-try timeout a query to it would use now (backoff included).
    pub rto: Duration,
    /// How it is doing.
    pub state: ServerState,
    /// Timeouts since its last answer.
    pub consecutive_timeouts: u32,
    /// Exchanges recorded (answers and timeouts).
    pub queries: u64,
    /// Timeouts recorded.
    pub timeouts: u64,
    /// Time since it was last used (an exchange recorded, or a probe or head start given).
    pub last_used: Duration,
    /// It rejects EDNS (for now).
    pub edns_broken: bool,
    /// What it does with ECS (for now).
    pub ecs: EcsCapability,
    /// Queries sent to it and not ended yet (answered, timed out or abandoned).
    pub in_flight: u32,
    /// How long its oldest query past its RTO has waited, if one has (a slow server, not a
    /// dead one, until it answers or the query's hard timeout passes).
    pub overdue: Option<Duration>,
}

type Shard = Mutex<HashMap<IpAddr, ServerRecord, AddrHasher>>;

/// The infrastructure cache: per nameserver address, SRTT, timeouts and capabilities; and the
/// order in which to try a zone's servers. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct InfraCache {
    config: InfraConfig,
    shards: Box<[Shard]>,
    per_shard: usize,
    hasher: AddrHasher,
    retries: Mutex<RetryBudget>,
    /// The secret our client cookies are derived from (`infra/cookie.rs`).
    cookie_secret: [u8; 16],
}

impl Default for InfraCache {
    fn default() -> Self {
        Self::build(InfraConfig::default())
    }
}

impl InfraCache {
    /// An empty cache, if the configuration is valid.
    pub fn new(config: InfraConfig) -> Result<Self, InfraConfigError> {
        config.validate()?;
        Ok(Self::build(config))
    }

    fn build(config: InfraConfig) -> Self {
        let shard_count = (config.max_entries / MIN_ENTRIES_PER_SHARD).clamp(1, MAX_SHARDS);
        // Floor division: shards × per_shard never exceeds max_entries.
        let per_shard = config.max_entries / shard_count;
        let shards = (0..shard_count)
            .map(|_| Mutex::new(HashMap::default()))
            .collect();
        let retries = Mutex::new(RetryBudget::new(
            config.retry_share,
            config.retry_floor,
            config.retry_window,
        ));
        Self {
            config,
            shards,
            per_shard,
            hasher: AddrHasher::default(),
            retries,
            cookie_secret: rand::random(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &InfraConfig {
        &self.config
    }

    /// The per-try timeout for a query to `addr` now (backoff included): when no reply has come
    /// by then, the next server may be asked too (the *soft* timeout).
    pub fn rto(&self, addr: IpAddr, now: Instant) -> Duration {
        self.read(addr, now, |record| {
            record.map_or(self.config.initial_rto, |r| r.rto(&self.config, now))
        })
    }

    /// How long a query to `addr` sent now stays open for its reply (the *hard* timeout):
    /// `hard_timeout_factor` RTOs, at least `initial_rto` and the RTO, at most `max_rto`. Only a
    /// query unanswered this long counts as a timeout.
    pub fn hard_timeout(&self, addr: IpAddr, now: Instant) -> Duration {
        hard_timeout_of(&self.config, self.rto(addr, now))
    }

    /// A try to `addr` goes out `now`: its timeouts and its silence signal
    /// ([`InfraCache::rto`], [`InfraCache::hard_timeout`], [`InfraCache::silence`]), and one more
    /// query in flight ([`InfraCache::begin_query`]), in one visit to the record. End it with
    /// [`InfraCache::end_try`].
    pub fn start_try(&self, addr: IpAddr, now: Instant) -> TryStart {
        let config = &self.config;
        self.write(addr, now, |r| {
            let rto = r.rto(config, now);
            r.in_flight = r.in_flight.saturating_add(1);
            TryStart {
                rto,
                hard_timeout: hard_timeout_of(config, rto),
                silence: r.silence.get_or_insert_with(Default::default).clone(),
            }
        })
    }

    /// A try to `addr` ended `now`, with what it says of the server (an RTT sample, a
    /// timeout, or nothing): [`InfraCache::record_rtt`] or [`InfraCache::record_timeout`], then
    /// [`InfraCache::end_query`], in one visit to the record.
    pub fn end_try(&self, addr: IpAddr, now: Instant, sample: TrySample) -> Option<Arc<Notify>> {
        let config = &self.config;
        self.write(addr, now, |r| {
            match sample {
                TrySample::Rtt(rtt) => r.answered(rtt, now),
                TrySample::Timeout => r.timed_out(config.hold_off, now),
                TrySample::Nothing => {}
            }
            r.query_ended(config.max_in_flight)
        })
    }

    /// A query to `addr` is sent: one more in flight.
    pub fn begin_query(&self, addr: IpAddr, now: Instant) {
        self.write(addr, now, |r| r.in_flight = r.in_flight.saturating_add(1));
    }

    /// A query to `addr` ended (answered, timed out, or abandoned). When the address had
    /// `max_in_flight` queries in flight and a query waits for room there, this is where to wake
    /// one (`notify_one`). When none is left in flight, no query is overdue any more.
    pub fn end_query(&self, addr: IpAddr, now: Instant) -> Option<Arc<Notify>> {
        let max = self.config.max_in_flight;
        self.write(addr, now, |r| r.query_ended(max))
    }

    /// Where to wait for room at `addr` (woken, one waiter at a time, as its queries end).
    pub fn room(&self, addr: IpAddr, now: Instant) -> Arc<Notify> {
        self.write(addr, now, |r| {
            r.room.get_or_insert_with(Default::default).clone()
        })
    }

    /// Whether `addr` has `max_in_flight` queries unanswered: a new query should go elsewhere or
    /// wait.
    pub fn is_busy(&self, addr: IpAddr, now: Instant) -> bool {
        let max = self.config.max_in_flight;
        self.read(addr, now, |r| r.is_some_and(|r| r.in_flight >= max))
    }

    /// A query to `addr` sent at `sent` is still unanswered at its RTO. Not a failure: the
    /// server is slow for now, and ranks and times out by the delay it shows, until it answers
    /// or the query's hard timeout passes.
    ///
    /// When nothing at all has come back from `addr` after `sent` (no reply to any query), the
    /// server is *silent*: it may be dead, so it ranks with the servers timing out from now on
    /// (new queries go elsewhere), and the other tries to it still short of their own RTO
    /// should go overdue at once: the returned signal is where they wait
    /// ([`InfraCache::silence`]), to be woken with `notify_waiters`. A loaded server keeps
    /// answering older queries while a new one waits in its queue, so it is slow, not silent.
    pub fn record_overdue(&self, addr: IpAddr, sent: Instant, now: Instant) -> Option<Arc<Notify>> {
        self.write(addr, now, |r| {
            r.overdue_since = Some(r.overdue_since.map_or(sent, |since| since.min(sent)));
            let silent = r.last_sample.is_none_or(|t| t <= sent);
            if silent && !r.silent {
                r.silent = true;
                return r.silence.clone();
            }
            None
        })
    }

    /// Where a try to `addr` waits, besides its RTO, for the server to be found silent by
    /// another try ([`InfraCache::record_overdue`]). Take it before the try is sent.
    pub fn silence(&self, addr: IpAddr, now: Instant) -> Arc<Notify> {
        self.write(addr, now, |r| {
            r.silence.get_or_insert_with(Default::default).clone()
        })
    }

    /// One first try of a question to a zone, for the retry budget.
    pub fn count_first_try(&self, now: Instant) {
        lock_budget(&self.retries).first_try(now);
    }

    /// Whether one more retry fits the budget now; if so, it is counted.
    pub fn allow_retry(&self, now: Instant) -> bool {
        lock_budget(&self.retries).try_retry(now)
    }

    /// A retry that is sent whatever the budget (the question has nothing else left to wait on),
    /// counted all the same.
    pub fn count_forced_retry(&self, now: Instant) {
        lock_budget(&self.retries).forced_retry(now);
    }

    /// How `addr` is doing now.
    pub fn state(&self, addr: IpAddr, now: Instant) -> ServerState {
        self.read(addr, now, |record| {
            record.map_or(ServerState::Unknown, |r| r.state(&self.config))
        })
    }

    /// `addr` answered after `rtt`: a sample for its SRTT; its timeouts, backoff and overdue
    /// mark are wiped. A late reply (after its RTO) is such a sample too, at its full delay: the
    /// server is slow, not dead.
    pub fn record_rtt(&self, addr: IpAddr, rtt: Duration, now: Instant) {
        self.write(addr, now, |record| record.answered(rtt, now));
    }

    /// A query to `addr` got no answer within its hard timeout (or failed at the socket): its
    /// RTO backs off, it ranks behind every answering server, and after enough in a row it is
    /// held off.
    pub fn record_timeout(&self, addr: IpAddr, now: Instant) {
        let hold_off = self.config.hold_off;
        self.write(addr, now, |record| record.timed_out(hold_off, now));
    }

    /// Whether `addr` is known to reject EDNS: query it without an OPT record.
    pub fn edns_broken(&self, addr: IpAddr, now: Instant) -> bool {
        self.read(addr, now, |record| {
            record.is_some_and(|r| r.edns_broken(now))
        })
    }

    /// `addr` answered an EDNS query with FORMERR or NOTIMP and no OPT (RFC 6891 §7).
    pub fn record_edns_broken(&self, addr: IpAddr, now: Instant) {
        let ttl = self.config.capability_ttl;
        self.write(addr, now, |r| r.edns_broken_until = Some(now + ttl));
    }

    /// `addr` answered with an OPT record: it speaks EDNS.
    pub fn record_edns_works(&self, addr: IpAddr, now: Instant) {
        self.write(addr, now, |r| r.edns_broken_until = None);
    }

    /// [`InfraCache::edns_broken`] and [`InfraCache::ecs_capability`] in one visit, for the
    /// start of an exchange.
    pub fn capabilities(&self, addr: IpAddr, now: Instant) -> (bool, EcsCapability) {
        self.read(addr, now, |record| match record {
            Some(r) => (r.edns_broken(now), r.ecs_capability(now)),
            None => (false, EcsCapability::Unknown),
        })
    }

    /// What `addr` is known to do with ECS.
    pub fn ecs_capability(&self, addr: IpAddr, now: Instant) -> EcsCapability {
        self.read(addr, now, |record| {
            record.map_or(EcsCapability::Unknown, |r| r.ecs_capability(now))
        })
    }

    /// `addr` was required to echo ECS (it always had) and no echoing reply came in time: drop
    /// the belief, so that a server that stopped echoing costs one timeout, not every query
    /// until the belief expires. An ECS-less reply racing a real one is still refused while the
    /// real one keeps arriving.
    pub fn forget_ecs_echo(&self, addr: IpAddr, now: Instant) {
        self.write(addr, now, |r| {
            if r.ecs_capability(now) == EcsCapability::Echoes {
                r.ecs = None;
            }
        });
    }

    /// What `addr` did with an ECS query. A missing echo does not overwrite a believed
    /// [`EcsCapability::Echoes`] (E12: that reply is suspect, not the server's new habit);
    /// `Unknown` records nothing.
    pub fn record_ecs(&self, addr: IpAddr, observed: EcsCapability, now: Instant) {
        if observed == EcsCapability::Unknown {
            return;
        }
        let ttl = self.config.capability_ttl;
        self.write(addr, now, |r| {
            if observed == EcsCapability::NoEcho && r.ecs_capability(now) == EcsCapability::Echoes {
                return;
            }
            r.ecs = Some((observed, now + ttl));
        });
    }

    /// Every live record, sorted by address, for `scoped ctl infra`.
    pub fn snapshot(&self, now: Instant) -> Vec<InfraEntry> {
        let config = &self.config;
        let mut entries = Vec::new();
        for shard in &self.shards {
            let map = lock(shard);
            entries.extend(map.iter().filter(|(_, r)| !r.expired(now, config)).map(
                |(&addr, r)| {
                    InfraEntry {
                        addr,
                        srtt: r.srtt_us.map(Duration::from_micros),
                        rttvar: r.srtt_us.map(|_| Duration::from_micros(r.rttvar_us)),
                        rto: r.rto(config, now),
                        state: r.state(config),
                        consecutive_timeouts: r.consecutive_timeouts,
                        queries: r.queries,
                        timeouts: r.timeouts,
                        last_used: now.saturating_duration_since(r.last_used),
                        edns_broken: r.edns_broken(now),
                        ecs: r.ecs_capability(now),
                        in_flight: r.in_flight,
                        overdue: r
                            .overdue_since
                            .map(|since| now.saturating_duration_since(since)),
                    }
                },
            ));
        }
        entries.sort_by_key(|e| e.addr);
        entries
    }

    /// Records held (expired ones not yet evicted included).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, addr: IpAddr) -> &Shard {
        let index = self.hasher.hash_one(addr) as usize % self.shards.len();
        &self.shards[index]
    }

    fn read<T>(&self, addr: IpAddr, now: Instant, f: impl FnOnce(Option<&ServerRecord>) -> T) -> T {
        let addr = addr.to_canonical();
        let map = lock(self.shard(addr));
        f(map.get(&addr).filter(|r| !r.expired(now, &self.config)))
    }

    /// Apply `f` to the record of `addr`, created (or restarted, if expired) as needed; using a
    /// record refreshes it.
    fn write<T>(&self, addr: IpAddr, now: Instant, f: impl FnOnce(&mut ServerRecord) -> T) -> T {
        let config = &self.config;
        let addr = addr.to_canonical();
        let mut map = lock(self.shard(addr));
        if !map.contains_key(&addr) && map.len() >= self.per_shard {
            map.retain(|_, r| !r.expired(now, config));
            if map.len() >= self.per_shard {
                let oldest = map.iter().min_by_key(|(_, r)| r.last_used).map(|(&a, _)| a);
                if let Some(oldest) = oldest {
                    map.remove(&oldest);
                }
            }
        }
        let record = map
            .entry(addr)
            .and_modify(|r| {
                if r.expired(now, config) {
                    *r = ServerRecord::new(now);
                }
            })
            .or_insert_with(|| ServerRecord::new(now));
        record.last_used = record.last_used.max(now);
        f(record)
    }
}

/// What a try needs to know when it goes out ([`InfraCache::start_try`]).
pub struct TryStart {
    /// The soft timeout ([`InfraCache::rto`]).
    pub rto: Duration,
    /// [`InfraCache::hard_timeout`].
    pub hard_timeout: Duration,
    /// [`InfraCache::silence`].
    pub silence: Arc<Notify>,
}

/// What the end of a try says about its server ([`InfraCache::end_try`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrySample {
    /// A reply after this long: an RTT sample.
    Rtt(Duration),
    /// No reply within the hard timeout.
    Timeout,
    /// Nothing to learn (a TCP or TLS try, a try cut short by the question's deadline).
    Nothing,
}

/// `hard_timeout_factor` RTOs, at least `initial_rto` and the RTO, at most `max_rto`.
fn hard_timeout_of(config: &InfraConfig, rto: Duration) -> Duration {
    rto.saturating_mul(config.hard_timeout_factor)
        .clamp(config.initial_rto, config.max_rto)
        .max(rto)
}

fn lock_budget(budget: &Mutex<RetryBudget>) -> MutexGuard<'_, RetryBudget> {
    budget.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The records are plain numbers, consistent after every statement: a panic elsewhere while
/// holding the lock leaves nothing half-done worth refusing.
fn lock(shard: &Shard) -> MutexGuard<'_, HashMap<IpAddr, ServerRecord, AddrHasher>> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
