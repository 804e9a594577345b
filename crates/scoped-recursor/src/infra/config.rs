//! The settings of server selection and their defaults, checked once when they are given.

use std::time::Duration;

/// Per-try timeout of a server never measured: Unbound's `UNKNOWN_SERVER_NICENESS`. Long enough
/// for most paths on Earth, short enough that a dead unknown server costs a query little.
pub const DEFAULT_INITIAL_RTO: Duration = Duration::from_millis(376);
/// Lowest per-try timeout (Unbound's `RTT_MIN_TIMEOUT`): below this, scheduling jitter and a
/// busy authoritative would be mistaken for loss.
pub const DEFAULT_MIN_RTO: Duration = Duration::from_millis(50);
/// Highest per-try timeout, backoff included: half the default 4 s question budget, so one dead
/// server can never eat the whole budget.
pub const DEFAULT_MAX_RTO: Duration = Duration::from_secs(2);
/// The expected RTT credited to a server never measured: zero, so each new server is tried
/// once, early, and ranked by what it really does from then on. The head start is bounded: it
/// is claimed once per `initial_rto`, and one answer or one timeout makes the server known
/// (pdns#1066 was an unknown rank that never expired). A positive value here left a fast
/// server unmeasured behind a slower measured one for ~100 queries in the engine tests.
pub const DEFAULT_UNKNOWN_RTT: Duration = Duration::ZERO;
/// Measured SRTTs above this drift down toward it as they age, so a server slow once is tried
/// again later: optimistic against distant servers (≥ 100 ms), modest against nearby anycast.
pub const DEFAULT_DECAY_TARGET: Duration = Duration::from_millis(50);
/// Timeouts in a row that hold a server off.
pub const DEFAULT_HOLD_OFF_AFTER_TIMEOUTS: u32 = 3;
/// Time between probes of a server that is timing out: the longest a recovered server waits to
/// get its traffic back.
pub const DEFAULT_HOLD_OFF: Duration = Duration::from_secs(30);
/// A record unused this long is forgotten (Unbound's `infra-host-ttl`).
pub const DEFAULT_IDLE_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Share of queries that measure a server other than the best in the background.
pub const DEFAULT_EXPLORE_SHARE: f64 = 0.03;
/// A server answered or explored this recently is not explored again: exploration costs an
/// authoritative at most one extra query per this period, however busy the zone.
pub const DEFAULT_EXPLORE_INTERVAL: Duration = Duration::from_secs(1);
/// Background measurements sent beside one query at most: a new zone's servers are measured
/// within its first query or two, without a burst at every address of a large set (the
/// root's) at once.
pub const DEFAULT_MAX_BACKGROUND_PER_QUERY: usize = 3;
/// Records kept at most (Unbound's `infra-cache-numhosts`).
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// How long an EDNS or ECS capability observation is believed.
pub const DEFAULT_CAPABILITY_TTL: Duration = Duration::from_secs(15 * 60);

/// A try stays open for a late reply this many of its RTOs (at least `initial_rto`, at most
/// `max_rto`): the RTO only decides when the next server may be asked as well.
pub const DEFAULT_HARD_TIMEOUT_FACTOR: u32 = 4;
/// Queries one address may have unanswered at once; a further query goes to another server of
/// the zone, or waits for one of them to end.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 128;
/// Retries (a further server asked for the same question) allowed as a share of first tries.
pub const DEFAULT_RETRY_SHARE: f64 = 0.1;
/// Retries allowed per window whatever the share, so a quiet resolver can still fail over early.
pub const DEFAULT_RETRY_FLOOR: u32 = 10;
/// The sliding window over which retries and first tries are counted.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(10);

/// Largest explore share accepted: above it the "best" server would no longer carry most queries.
pub const MAX_EXPLORE_SHARE: f64 = 0.5;

/// Tunables of the infrastructure cache. Every default is a named constant above.
#[derive(Clone, Debug, PartialEq)]
pub struct InfraConfig {
    /// Per-try timeout of a server never measured (also how long its head start stays pending).
    pub initial_rto: Duration,
    /// Lower clamp of every RTO.
    pub min_rto: Duration,
    /// Upper clamp of every RTO, backoff included.
    pub max_rto: Duration,
    /// Expected RTT used to rank a server never measured.
    pub unknown_rtt: Duration,
    /// SRTTs above this decay toward it with age.
    pub decay_target: Duration,
    /// Timeouts in a row after which a server is held off.
    pub hold_off_after_timeouts: u32,
    /// Time from a server's last timeout to its next probe.
    pub hold_off: Duration,
    /// A record unused this long is forgotten.
    pub idle_expiry: Duration,
    /// Share of queries (0 to 0.5) that measure a random non-best server in the background.
    pub explore_share: f64,
    /// A server answered or explored within this long is not explored.
    pub explore_interval: Duration,
    /// Background measurements (probes, unmeasured servers, explorations) beside one query
    /// at most. 0: none; servers are then measured only by the client's own tries, and a
    /// server timing out only by failover.
    pub max_background_per_query: usize,
    /// Records kept at most.
    pub max_entries: usize,
    /// How long an EDNS or ECS capability observation is believed.
    pub capability_ttl: Duration,
    /// A try waits this many RTOs for a late reply (between `initial_rto` and `max_rto`).
    pub hard_timeout_factor: u32,
    /// Unanswered queries one address may have at once.
    pub max_in_flight: u32,
    /// Retries allowed as a share (0 to 1) of the first tries in the window.
    pub retry_share: f64,
    /// Retries allowed in any window besides the share.
    pub retry_floor: u32,
    /// The sliding window of the retry budget.
    pub retry_window: Duration,
    /// Send DNS cookies (RFC 7873) to servers, remember their server cookies, and drop a reply
    /// from a server known to support cookies that lacks ours (`infra/cookie.rs`).
    pub cookies: bool,
}

impl Default for InfraConfig {
    fn default() -> Self {
        Self {
            initial_rto: DEFAULT_INITIAL_RTO,
            min_rto: DEFAULT_MIN_RTO,
            max_rto: DEFAULT_MAX_RTO,
            unknown_rtt: DEFAULT_UNKNOWN_RTT,
            decay_target: DEFAULT_DECAY_TARGET,
            hold_off_after_timeouts: DEFAULT_HOLD_OFF_AFTER_TIMEOUTS,
            hold_off: DEFAULT_HOLD_OFF,
            idle_expiry: DEFAULT_IDLE_EXPIRY,
            explore_share: DEFAULT_EXPLORE_SHARE,
            explore_interval: DEFAULT_EXPLORE_INTERVAL,
            max_background_per_query: DEFAULT_MAX_BACKGROUND_PER_QUERY,
            max_entries: DEFAULT_MAX_ENTRIES,
            capability_ttl: DEFAULT_CAPABILITY_TTL,
            hard_timeout_factor: DEFAULT_HARD_TIMEOUT_FACTOR,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry_share: DEFAULT_RETRY_SHARE,
            retry_floor: DEFAULT_RETRY_FLOOR,
            retry_window: DEFAULT_RETRY_WINDOW,
            cookies: true,
        }
    }
}

/// Why an [`InfraConfig`] was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InfraConfigError {
    /// `min_rto` must be positive and `min_rto ≤ initial_rto ≤ max_rto`.
    #[error("RTO bounds out of order: min {min:?}, initial {initial:?}, max {max:?}")]
    RtoBounds {
        /// The configured `min_rto`.
        min: Duration,
        /// The configured `initial_rto`.
        initial: Duration,
        /// The configured `max_rto`.
        max: Duration,
    },
    /// `explore_share` must be within 0 and [`MAX_EXPLORE_SHARE`].
    #[error("explore share {0} is outside 0..=0.5")]
    ExploreShare(f64),
    /// `max_entries` must be at least 1.
    #[error("max_entries must be at least 1")]
    NoEntries,
    /// `hold_off_after_timeouts` must be at least 1.
    #[error("hold_off_after_timeouts must be at least 1")]
    NoHoldOffThreshold,
    /// `idle_expiry` must be positive.
    #[error("idle_expiry must be positive")]
    NoIdleExpiry,
    /// `hard_timeout_factor` and `max_in_flight` must be at least 1.
    #[error("hard_timeout_factor and max_in_flight must be at least 1")]
    NoLateWait,
    /// `retry_share` must be within 0 and 1, and `retry_window` positive.
    #[error("retry budget out of range: share {share}, window {window:?}")]
    RetryBudget {
        /// The configured `retry_share`.
        share: f64,
        /// The configured `retry_window`.
        window: Duration,
    },
}

impl InfraConfig {
    /// Check the configuration; [`InfraCache::new`] refuses what this refuses.
    pub fn validate(&self) -> Result<(), InfraConfigError> {
        if self.min_rto.is_zero()
            || self.min_rto > self.initial_rto
            || self.initial_rto > self.max_rto
        {
            return Err(InfraConfigError::RtoBounds {
                min: self.min_rto,
                initial: self.initial_rto,
                max: self.max_rto,
            });
        }
        if !(0.0..=MAX_EXPLORE_SHARE).contains(&self.explore_share) {
            return Err(InfraConfigError::ExploreShare(self.explore_share));
        }
        if self.max_entries == 0 {
            return Err(InfraConfigError::NoEntries);
        }
        if self.hold_off_after_timeouts == 0 {
            return Err(InfraConfigError::NoHoldOffThreshold);
        }
        if self.idle_expiry.is_zero() {
            return Err(InfraConfigError::NoIdleExpiry);
        }
        if self.hard_timeout_factor == 0 || self.max_in_flight == 0 {
            return Err(InfraConfigError::NoLateWait);
        }
        if !(0.0..=1.0).contains(&self.retry_share) || self.retry_window.is_zero() {
            return Err(InfraConfigError::RetryBudget {
                share: self.retry_share,
                window: self.retry_window,
            });
        }
        Ok(())
    }
}
