//! The retry budget shared by every question: retries within a share of first tries over a
//! sliding window.

use std::time::Duration;

use tokio::time::Instant;

/// First tries and retries counted in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tries {
    firsts: u64,
    retries: u64,
}

/// The retry budget: retries (a further server asked for the same question, while or after an
/// earlier try) stay within `share` of the first tries, plus `floor`, over a sliding `window`,
/// counted across all questions. Beyond it a question waits on the tries it has open instead of
/// adding one, as TCP holds back when its window is full; a question with no try left open may
/// always fail over.
///
/// The window slides by weighting the previous fixed window by the part of it still inside the
/// sliding one (the count a rate limiter of fixed windows would need two of): two pairs of
/// counters, exact when the rate is steady, never off by more than one window's worth of skew.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    share: f64,
    floor: u32,
    window: Duration,
    /// Start of the current fixed window (set at the first count).
    start: Option<Instant>,
    current: Tries,
    previous: Tries,
}

impl RetryBudget {
    /// A budget of `share` of first tries plus `floor` retries per `window`.
    pub fn new(share: f64, floor: u32, window: Duration) -> Self {
        Self {
            share,
            floor,
            window,
            start: None,
            current: Tries::default(),
            previous: Tries::default(),
        }
    }

    fn roll(&mut self, now: Instant) -> f64 {
        let start = *self.start.get_or_insert(now);
        let mut age = now.saturating_duration_since(start);
        if age >= self.window {
            if age < self.window * 2 {
                self.previous = self.current;
                self.start = Some(start + self.window);
                age -= self.window;
            } else {
                self.previous = Tries::default();
                self.start = Some(now);
                age = Duration::ZERO;
            }
            self.current = Tries::default();
        }
        // The share of the previous window still inside the sliding one.
        1.0 - age.as_secs_f64() / self.window.as_secs_f64()
    }

    /// First tries and retries in the sliding window ending now.
    pub fn counts(&mut self, now: Instant) -> (f64, f64) {
        let weight = self.roll(now);
        (
            self.previous.firsts as f64 * weight + self.current.firsts as f64,
            self.previous.retries as f64 * weight + self.current.retries as f64,
        )
    }

    /// A first try was sent.
    pub fn first_try(&mut self, now: Instant) {
        self.roll(now);
        self.current.firsts += 1;
    }

    /// One more retry, if the window has room for it (then it is counted).
    pub fn try_retry(&mut self, now: Instant) -> bool {
        let (firsts, retries) = self.counts(now);
        let allowed = retries + 1.0 <= self.share * firsts + f64::from(self.floor);
        if allowed {
            self.current.retries += 1;
        }
        allowed
    }

    /// A retry sent whatever the budget.
    pub fn forced_retry(&mut self, now: Instant) {
        self.roll(now);
        self.current.retries += 1;
    }
}
