//! The order of one query's tries, and the servers to measure beside it, off the client's path.
//!
//! The client's first try always goes to the best server known to answer: the lowest expected
//! RTT among the responsive ones. What the table needs to learn — a never-measured server's
//! RTT, whether a slower server got faster, whether a server timing out came back — is learnt
//! by separate queries the engine sends in the background ([`Selection::measure`]), whose
//! replies feed the table and are never the client's answer. Only when no measured server
//! answers (a cold start, every server timing out) does a client's try go to an unknown one:
//! someone has to be asked.

use std::net::IpAddr;

use rand::Rng;
use rand::seq::SliceRandom;
use tokio::time::Instant;

use super::{InfraCache, ServerState, ms};

/// Why a server is asked in the background.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// It is timing out or held off and its probe is due (one per `hold_off`).
    Probe,
    /// It was never measured (its head start, taken off the client's path).
    Unmeasured,
    /// It is not the best, and its last measurement is older than `explore_interval`
    /// (`explore_share` of the queries).
    Explore,
}

/// What [`InfraCache::select`] decided for one query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The order of the client's tries: every address once, the best first, held-off last.
    pub order: Vec<IpAddr>,
    /// Servers to ask the same question in the background, already claimed: their replies
    /// (or silence) are measurements, never the answer.
    pub measure: Vec<(IpAddr, Measure)>,
}

/// Where a server goes in one query's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    /// Responsive, or unmeasured with its head start available.
    Ready,
    /// Unmeasured, head start given, first exchange still out.
    Pending,
    /// Answering (or unmeasured), but with `max_in_flight` queries unanswered.
    Busy,
    /// Timing out, below the hold-off threshold; or silent since its oldest overdue query.
    TimingOut,
    /// Held off.
    HeldOff,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    addr: IpAddr,
    tier: Tier,
    /// Expected RTT (Ready, Pending) or backed-off RTO (TimingOut, HeldOff), in ms.
    score: f64,
    probe_due: bool,
    /// Unmeasured and not pending: asking it now is its head start.
    head_start: bool,
    /// Ready (measured) or timing out, nothing in flight, not measured for `explore_interval`.
    explorable: bool,
}

impl Candidate {
    /// Measured, answering, not at its in-flight limit: fit for a client's first try.
    fn measured_ready(&self) -> bool {
        self.tier == Tier::Ready && !self.head_start
    }
}

/// What [`InfraCache::claim`] takes for a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    Probe,
    HeadStart,
    Explore,
}

impl InfraCache {
    /// The order in which to try `addrs` (the addresses of one zone's nameservers, already
    /// filtered by policy) for one query, and the servers to measure in the background.
    ///
    /// Claims what it hands out: a due probe is re-armed for one `hold_off` later, an
    /// unmeasured server is marked pending for `initial_rto`, an explored server is not
    /// explored again for `explore_interval`. Call once per query; try the servers in this
    /// order and send the measurements.
    pub fn select<R: Rng + ?Sized>(
        &self,
        addrs: &[IpAddr],
        now: Instant,
        rng: &mut R,
    ) -> Selection {
        let mut candidates: Vec<Candidate> = Vec::with_capacity(addrs.len());
        for &addr in addrs {
            if candidates.iter().all(|c| c.addr != addr) {
                candidates.push(self.candidate(addr, now));
            }
        }
        // Shuffle first: the stable sort then breaks ties at random.
        candidates.shuffle(rng);
        sort_by_rank(&mut candidates);
        let max = self.config.max_background_per_query;
        let mut measure = Vec::new();
        for c in &candidates {
            if measure.len() < max && c.probe_due && self.claim(c.addr, Claim::Probe, now) {
                measure.push((c.addr, Measure::Probe));
            }
        }
        self.settle_front(&mut candidates, now);
        let unmeasured = candidates[1.min(candidates.len())..]
            .iter()
            .filter(|c| c.head_start)
            .take(max - measure.len())
            .filter(|c| self.claim(c.addr, Claim::HeadStart, now))
            .map(|c| (c.addr, Measure::Unmeasured));
        measure.extend(unmeasured.collect::<Vec<_>>());
        if measure.is_empty() && max > 0 {
            measure.extend(self.explore(&candidates, now, rng));
        }
        Selection {
            order: candidates.into_iter().map(|c| c.addr).collect(),
            measure,
        }
    }

    /// [`InfraCache::select`]'s order alone (its measurements are claimed all the same).
    pub fn order<R: Rng + ?Sized>(
        &self,
        addrs: &[IpAddr],
        now: Instant,
        rng: &mut R,
    ) -> Vec<IpAddr> {
        self.select(addrs, now, rng).order
    }

    /// Who takes the client's first try: the best measured, answering server if there is one
    /// (unmeasured servers ranked ahead of it are measured in the background instead).
    /// Otherwise an unmeasured server in front takes its head start on the client's path,
    /// unless a concurrent query just took it: then it is pending, ranks lower, and the next in
    /// line is considered.
    fn settle_front(&self, candidates: &mut [Candidate], now: Instant) {
        if let Some(i) = candidates.iter().position(Candidate::measured_ready) {
            candidates[..=i].rotate_right(1);
            return;
        }
        for _ in 0..candidates.len() {
            let front = candidates[0];
            if !front.head_start || self.claim(front.addr, Claim::HeadStart, now) {
                return;
            }
            candidates[0] = self.candidate(front.addr, now);
            sort_by_rank(candidates);
        }
    }

    /// With probability `explore_share`, one other server whose measurement is stale, for a
    /// background measurement.
    fn explore<R: Rng + ?Sized>(
        &self,
        candidates: &[Candidate],
        now: Instant,
        rng: &mut R,
    ) -> Option<(IpAddr, Measure)> {
        let pool: Vec<IpAddr> = candidates
            .iter()
            .skip(1)
            .filter(|c| c.explorable)
            .map(|c| c.addr)
            .collect();
        if pool.is_empty() || !rng.random_bool(self.config.explore_share) {
            return None;
        }
        let addr = pool[rng.random_range(0..pool.len())];
        self.claim(addr, Claim::Explore, now)
            .then_some((addr, Measure::Explore))
    }

    fn candidate(&self, addr: IpAddr, now: Instant) -> Candidate {
        let config = &self.config;
        self.read(addr, now, |record| {
            let Some(r) = record else {
                return Candidate {
                    addr,
                    tier: Tier::Ready,
                    score: ms(config.unknown_rtt),
                    probe_due: false,
                    head_start: true,
                    explorable: false,
                };
            };
            let probe_due = r.probe_at.is_some_and(|t| t <= now);
            let backed_off = ms(r.rto(config, now));
            let (mut tier, mut score, mut head_start) = match r.state(config) {
                ServerState::HeldOff => (Tier::HeldOff, backed_off, false),
                ServerState::TimingOut => (Tier::TimingOut, backed_off, false),
                ServerState::Responsive => (Tier::Ready, r.expected_rtt_ms(now, config), false),
                ServerState::Unknown if r.pending_until.is_some_and(|t| t > now) => {
                    (Tier::Pending, ms(config.unknown_rtt), false)
                }
                ServerState::Unknown => (Tier::Ready, ms(config.unknown_rtt), true),
            };
            if r.in_flight >= config.max_in_flight && tier < Tier::Busy {
                tier = Tier::Busy;
                head_start = false;
            }
            if r.silent && tier < Tier::TimingOut {
                (tier, score, head_start) = (Tier::TimingOut, backed_off, false);
            }
            let explorable = matches!(tier, Tier::Ready | Tier::TimingOut)
                && !head_start
                && r.explorable(now, config);
            Candidate {
                addr,
                tier,
                score,
                probe_due,
                head_start,
                explorable,
            }
        })
    }

    /// Take a probe slot, a head start or an exploration for `addr`, atomically; false if it
    /// is no longer available (a concurrent query took it).
    fn claim(&self, addr: IpAddr, claim: Claim, now: Instant) -> bool {
        let config = &self.config;
        self.write(addr, now, |r| match claim {
            Claim::Probe => {
                if r.consecutive_timeouts > 0 && r.probe_at.is_some_and(|t| t <= now) {
                    r.probe_at = Some(now + config.hold_off);
                    true
                } else {
                    false
                }
            }
            Claim::HeadStart => {
                let pending = r.pending_until.is_some_and(|t| t > now);
                if r.state(config) == ServerState::Unknown && !pending {
                    r.pending_until = Some(now + config.initial_rto);
                    true
                } else {
                    false
                }
            }
            Claim::Explore => {
                if r.explorable(now, config) {
                    r.explored_at = Some(now);
                    true
                } else {
                    false
                }
            }
        })
    }
}

fn sort_by_rank(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| a.tier.cmp(&b.tier).then(a.score.total_cmp(&b.score)));
}
