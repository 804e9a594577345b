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
//! `hold_off` has passed since its last timeout, one query puts it first (a *probe*), and the next
//! probe is due one `hold_off` later. One answer — to a probe, an exploration, or any query — wipes
//! the timeouts and the backoff. When all of a zone's servers are held off, [`InfraCache::order`]
//! still returns them all, so a name that times out everywhere cannot stop the others from being
//! resolved (unbound#1074).
//!
//! # Choosing the order of one query's tries
//! Servers are ranked by tier, then by expected RTT: responsive and unmeasured servers first
//! (by SRTT; an unmeasured one counts as `unknown_rtt`, 0 by default: tried once, early), then an unmeasured
//! server whose first query is still out, then servers timing out, then held-off ones. A due probe
//! goes first. Otherwise a share `explore_share` of queries puts a random other (not held-off)
//! server first — an unmeasured one if there is one — so a new server is measured and a server
//! that got faster, or came back, is noticed.
//!
//! An unmeasured server's head start is bounded (pdns#1066): when it is put first it is marked
//! pending for `initial_rto`, and until it answers or times out no other query gives it the head
//! start. One measurement later it competes on its SRTT like everyone else.
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
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

mod budget;
mod config;
mod order;

pub use budget::RetryBudget;
pub use config::*;
pub use order::{Measure, Selection};

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

/// What is known about one address.
#[derive(Clone, Debug)]
struct ServerRecord {
    srtt_us: Option<u64>,
    rttvar_us: u64,
    last_sample: Option<Instant>,
    consecutive_timeouts: u32,
    /// While timing out: when the next probe may be sent.
    probe_at: Option<Instant>,
    /// While unmeasured: its head start was given and its first exchange is still out.
    pending_until: Option<Instant>,
    queries: u64,
    timeouts: u64,
    last_used: Instant,
    edns_broken_until: Option<Instant>,
    ecs: Option<(EcsCapability, Instant)>,
    /// Queries sent and not ended.
    in_flight: u32,
    /// When the oldest query still unanswered past its RTO was sent (since the last answer or
    /// timeout): the server has shown at least `now - overdue_since` of delay.
    overdue_since: Option<Instant>,
    /// An overdue query found no reply at all from it since that query was sent: it may be
    /// dead. It ranks with the servers timing out until it answers, times out or has nothing in
    /// flight (cleared with `overdue_since`).
    silent: bool,
    /// When it was last measured off the client's path for exploration.
    explored_at: Option<Instant>,
    /// Where queries wait for room when it has `max_in_flight` in flight (made on first use).
    room: Option<Arc<Notify>>,
    /// Where tries to it wait, besides their own RTO, for it to be found silent (made on first
    /// use).
    silence: Option<Arc<Notify>>,
}

impl ServerRecord {
    fn new(now: Instant) -> Self {
        Self {
            srtt_us: None,
            rttvar_us: 0,
            last_sample: None,
            consecutive_timeouts: 0,
            probe_at: None,
            pending_until: None,
            queries: 0,
            timeouts: 0,
            last_used: now,
            edns_broken_until: None,
            ecs: None,
            in_flight: 0,
            overdue_since: None,
            silent: false,
            explored_at: None,
            room: None,
            silence: None,
        }
    }

    fn expired(&self, now: Instant, config: &InfraConfig) -> bool {
        now.saturating_duration_since(self.last_used) >= config.idle_expiry
    }

    fn state(&self, config: &InfraConfig) -> ServerState {
        if self.consecutive_timeouts >= config.hold_off_after_timeouts {
            ServerState::HeldOff
        } else if self.consecutive_timeouts > 0 {
            ServerState::TimingOut
        } else if self.srtt_us.is_some() {
            ServerState::Responsive
        } else {
            ServerState::Unknown
        }
    }

    /// RFC 6298 §2.2/§2.3, in microseconds.
    fn sample(&mut self, rtt: Duration, now: Instant) {
        let r = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX / SRTT_WEIGHT);
        let r = r.min(u64::MAX / SRTT_WEIGHT);
        match self.srtt_us {
            None => {
                self.srtt_us = Some(r);
                self.rttvar_us = r / 2;
            }
            Some(srtt) => {
                self.rttvar_us =
                    ((RTTVAR_WEIGHT - 1) * self.rttvar_us + srtt.abs_diff(r)) / RTTVAR_WEIGHT;
                self.srtt_us = Some(((SRTT_WEIGHT - 1) * srtt + r) / SRTT_WEIGHT);
            }
        }
        self.last_sample = Some(now);
    }

    /// RFC 6298 §2: SRTT + max(G, K·RTTVAR) (or the initial RTO), at least 1.5 × the delay an
    /// overdue query is showing, clamped, then doubled per timeout in a row (§5.5), clamped
    /// again.
    fn rto(&self, config: &InfraConfig, now: Instant) -> Duration {
        let measured = match self.srtt_us {
            None => config.initial_rto,
            Some(srtt) => {
                let margin = (RTTVAR_K * self.rttvar_us).max(srtt / MIN_MARGIN_DIVISOR);
                Duration::from_micros(srtt.saturating_add(margin))
            }
        };
        let shown = self.shown_delay(now);
        let base = measured
            .max(shown.saturating_add(shown / MIN_MARGIN_DIVISOR as u32))
            .clamp(config.min_rto, config.max_rto);
        let shift = self.consecutive_timeouts.min(MAX_BACKOFF_SHIFT);
        base.saturating_mul(1 << shift).min(config.max_rto)
    }

    /// The delay an overdue query has shown so far (zero when none is overdue): a lower bound
    /// on what the server takes now, queueing included.
    fn shown_delay(&self, now: Instant) -> Duration {
        self.overdue_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// The expected RTT used for ranking: the SRTT, decayed toward `decay_target` with age when
    /// slower than it, and never below the delay an overdue query is showing.
    fn expected_rtt_ms(&self, now: Instant, config: &InfraConfig) -> f64 {
        self.measured_rtt_ms(now, config)
            .max(ms(self.shown_delay(now)))
    }

    fn measured_rtt_ms(&self, now: Instant, config: &InfraConfig) -> f64 {
        let Some(srtt) = self.srtt_us else {
            return ms(config.unknown_rtt);
        };
        let unknown = ms(config.decay_target);
        let srtt = srtt as f64 / 1000.0;
        if srtt <= unknown {
            return srtt;
        }
        let age = self
            .last_sample
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let half_life = config.idle_expiry.as_secs_f64() / DECAY_HALF_LIVES_PER_EXPIRY;
        let remaining = 0.5f64.powf(age.as_secs_f64() / half_life);
        unknown + (srtt - unknown) * remaining
    }

    /// Fit for an exploration: measured (or timing out, not held off), nothing in flight (a
    /// query out will measure it anyway, and a server with queries out may be loaded), and
    /// neither answered nor explored within `explore_interval`.
    fn explorable(&self, now: Instant, config: &InfraConfig) -> bool {
        let stale = |t: Option<Instant>| {
            t.is_none_or(|t| now.saturating_duration_since(t) >= config.explore_interval)
        };
        let known = self.srtt_us.is_some() || self.consecutive_timeouts > 0;
        known
            && self.consecutive_timeouts < config.hold_off_after_timeouts
            && self.in_flight == 0
            && stale(self.last_sample)
            && stale(self.explored_at)
    }

    fn ecs_capability(&self, now: Instant) -> EcsCapability {
        match self.ecs {
            Some((capability, until)) if now < until => capability,
            _ => EcsCapability::Unknown,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

type Shard = Mutex<HashMap<IpAddr, ServerRecord>>;

/// The infrastructure cache: per nameserver address, SRTT, timeouts and capabilities; and the
/// order in which to try a zone's servers. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct InfraCache {
    config: InfraConfig,
    shards: Box<[Shard]>,
    per_shard: usize,
    hasher: RandomState,
    retries: Mutex<RetryBudget>,
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
            .map(|_| Mutex::new(HashMap::new()))
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
            hasher: RandomState::new(),
            retries,
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
        let config = &self.config;
        let rto = self.rto(addr, now);
        rto.saturating_mul(config.hard_timeout_factor)
            .clamp(config.initial_rto, config.max_rto)
            .max(rto)
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
        self.write(addr, now, |r| {
            let was_full = r.in_flight >= max;
            r.in_flight = r.in_flight.saturating_sub(1);
            if r.in_flight == 0 {
                r.overdue_since = None;
                r.silent = false;
            }
            r.room.clone().filter(|_| was_full)
        })
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
        self.write(addr, now, |record| {
            record.sample(rtt, now);
            record.consecutive_timeouts = 0;
            record.probe_at = None;
            record.pending_until = None;
            record.overdue_since = None;
            record.silent = false;
            record.queries += 1;
        });
    }

    /// A query to `addr` got no answer within its hard timeout (or failed at the socket): its
    /// RTO backs off, it ranks behind every answering server, and after enough in a row it is
    /// held off.
    pub fn record_timeout(&self, addr: IpAddr, now: Instant) {
        let hold_off = self.config.hold_off;
        self.write(addr, now, |record| {
            record.consecutive_timeouts = record.consecutive_timeouts.saturating_add(1);
            record.probe_at = Some(now + hold_off);
            record.pending_until = None;
            record.overdue_since = None;
            record.silent = false;
            record.queries += 1;
            record.timeouts += 1;
        });
    }

    /// Whether `addr` is known to reject EDNS: query it without an OPT record.
    pub fn edns_broken(&self, addr: IpAddr, now: Instant) -> bool {
        self.read(addr, now, |record| {
            record
                .and_then(|r| r.edns_broken_until)
                .is_some_and(|until| now < until)
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
                        edns_broken: r.edns_broken_until.is_some_and(|t| now < t),
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

fn lock_budget(budget: &Mutex<RetryBudget>) -> MutexGuard<'_, RetryBudget> {
    budget.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The records are plain numbers, consistent after every statement: a panic elsewhere while
/// holding the lock leaves nothing half-done worth refusing.
fn lock(shard: &Shard) -> MutexGuard<'_, HashMap<IpAddr, ServerRecord>> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
