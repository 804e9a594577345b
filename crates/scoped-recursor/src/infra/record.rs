//! What is known about one address: its RTT arithmetic (RFC 6298), backoff, overdue and silent
//! marks, and capability memory. Pure data: the table in `infra.rs` holds one per address.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{
    DECAY_HALF_LIVES_PER_EXPIRY, EcsCapability, InfraConfig, MAX_BACKOFF_SHIFT, MIN_MARGIN_DIVISOR,
    RTTVAR_K, RTTVAR_WEIGHT, SRTT_WEIGHT, ServerState,
};

/// What is known about one address.
#[derive(Clone, Debug)]
pub(super) struct ServerRecord {
    pub(super) srtt_us: Option<u64>,
    pub(super) rttvar_us: u64,
    pub(super) last_sample: Option<Instant>,
    pub(super) consecutive_timeouts: u32,
    /// While timing out: when the next probe may be sent.
    pub(super) probe_at: Option<Instant>,
    /// While unmeasured: its head start was given and its first exchange is still out.
    pub(super) pending_until: Option<Instant>,
    pub(super) queries: u64,
    pub(super) timeouts: u64,
    pub(super) last_used: Instant,
    pub(super) edns_broken_until: Option<Instant>,
    pub(super) ecs: Option<(EcsCapability, Instant)>,
    /// Queries sent and not ended.
    pub(super) in_flight: u32,
    /// When the oldest query still unanswered past its RTO was sent (since the last answer or
    /// timeout): the server has shown at least `now - overdue_since` of delay.
    pub(super) overdue_since: Option<Instant>,
    /// An overdue query found no reply at all from it since that query was sent: it may be
    /// dead. It ranks with the servers timing out until it answers, times out or has nothing in
    /// flight (cleared with `overdue_since`).
    pub(super) silent: bool,
    /// When it was last measured off the client's path for exploration.
    pub(super) explored_at: Option<Instant>,
    /// Where queries wait for room when it has `max_in_flight` in flight (made on first use).
    pub(super) room: Option<Arc<Notify>>,
    /// Where tries to it wait, besides their own RTO, for it to be found silent (made on first
    /// use).
    pub(super) silence: Option<Arc<Notify>>,
    /// The server cookie it last gave us: it supports cookies (RFC 7873).
    pub(super) server_cookie: Option<Box<[u8]>>,
}

impl ServerRecord {
    pub(super) fn new(now: Instant) -> Self {
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
            server_cookie: None,
        }
    }

    pub(super) fn expired(&self, now: Instant, config: &InfraConfig) -> bool {
        now.saturating_duration_since(self.last_used) >= config.idle_expiry
    }

    pub(super) fn state(&self, config: &InfraConfig) -> ServerState {
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

    /// A reply after `rtt`: a sample, and the timeouts, backoff and overdue mark wiped.
    pub(super) fn answered(&mut self, rtt: Duration, now: Instant) {
        self.sample(rtt, now);
        self.consecutive_timeouts = 0;
        self.probe_at = None;
        self.pending_until = None;
        self.overdue_since = None;
        self.silent = false;
        self.queries += 1;
    }

    /// No reply within the hard timeout: backed off, and probed again after `hold_off`.
    pub(super) fn timed_out(&mut self, hold_off: Duration, now: Instant) {
        self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
        self.probe_at = Some(now + hold_off);
        self.pending_until = None;
        self.overdue_since = None;
        self.silent = false;
        self.queries += 1;
        self.timeouts += 1;
    }

    /// One query fewer in flight; the room signal to wake when the address was full (`max`).
    pub(super) fn query_ended(&mut self, max: u32) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        let was_full = self.in_flight >= max;
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.overdue_since = None;
            self.silent = false;
        }
        self.room.clone().filter(|_| was_full)
    }

    /// RFC 6298 §2.2/§2.3, in microseconds.
    pub(super) fn sample(&mut self, rtt: Duration, now: Instant) {
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
    pub(super) fn rto(&self, config: &InfraConfig, now: Instant) -> Duration {
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
    pub(super) fn shown_delay(&self, now: Instant) -> Duration {
        self.overdue_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// The expected RTT used for ranking: the SRTT, decayed toward `decay_target` with age when
    /// slower than it, and never below the delay an overdue query is showing.
    pub(super) fn expected_rtt_ms(&self, now: Instant, config: &InfraConfig) -> f64 {
        self.measured_rtt_ms(now, config)
            .max(ms(self.shown_delay(now)))
    }

    pub(super) fn measured_rtt_ms(&self, now: Instant, config: &InfraConfig) -> f64 {
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
    pub(super) fn explorable(&self, now: Instant, config: &InfraConfig) -> bool {
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

    /// Whether the server is known, `now`, to reject EDNS.
    pub(super) fn edns_broken(&self, now: Instant) -> bool {
        self.edns_broken_until.is_some_and(|until| now < until)
    }

    pub(super) fn ecs_capability(&self, now: Instant) -> EcsCapability {
        match self.ecs {
            Some((capability, until)) if now < until => capability,
            _ => EcsCapability::Unknown,
        }
    }
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
