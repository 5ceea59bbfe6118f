//! Bounded waiting: a [`Deadline`] for a whole claim operation, and a poll loop that never outlives it.
//!
//! Every wait in prepare and unprepare goes through [`Deadline::poll_until`], with its own step budget
//! capped by what is left of the claim's total budget. Trusts the monotonic clock only.

use std::thread;
use std::time::{Duration, Instant};

/// The point in time by which one claim operation must be finished.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Instant,
}

/// A wait that ran out of time; carries how long it waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut {
    /// How long it waited.
    pub waited: Duration,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self { end: Instant::now() + budget }
    }

    /// The same deadline moved `reserve` earlier: the forward work of a claim stops there, so that its
    /// rollback keeps `reserve` of the claim's time.
    pub fn before(self, reserve: Duration) -> Self {
        Self { end: self.end.checked_sub(reserve).unwrap_or(self.end) }
    }

    /// Time left (zero once passed).
    pub fn remaining(self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Calls `check` until it returns `Some`, sleeping `poll` between calls, for at most `step` and never
    /// past the deadline. `check` runs at least once, even when no time is left.
    pub fn poll_until<T, E>(
        self,
        step: Duration,
        poll: Duration,
        mut check: impl FnMut() -> Result<Option<T>, E>,
    ) -> Result<Result<T, TimedOut>, E> {
        let start = Instant::now();
        let limit = start + step.min(self.remaining());
        loop {
            if let Some(v) = check()? {
                return Ok(Ok(v));
            }
            let now = Instant::now();
            if now >= limit {
                return Ok(Err(TimedOut { waited: now - start }));
            }
            thread::sleep(poll.min(limit - now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_as_soon_as_the_check_passes() {
        let mut calls = 0;
        let r: Result<_, ()> = Deadline::after(Duration::from_secs(60)).poll_until(
            Duration::from_secs(60),
            Duration::from_millis(1),
            || {
                calls += 1;
                Ok((calls == 3).then_some(calls))
            },
        );
        assert_eq!(r, Ok(Ok(3)));
    }

    #[test]
    fn an_expired_deadline_still_checks_once_then_gives_up() {
        let mut calls = 0;
        let r: Result<Result<(), TimedOut>, ()> =
            Deadline::after(Duration::ZERO).poll_until(Duration::from_secs(60), Duration::from_millis(1), || {
                calls += 1;
                Ok(None)
            });
        assert!(matches!(r, Ok(Err(TimedOut { .. }))));
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_reserve_ends_the_work_earlier_and_never_later() {
        let claim = Deadline::after(Duration::from_secs(30));
        let work = claim.before(Duration::from_secs(10));
        assert!(work.remaining() <= Duration::from_secs(20));
        assert!(claim.remaining() - work.remaining() >= Duration::from_secs(10) - Duration::from_millis(1));
        assert!(claim.before(Duration::from_secs(60)).remaining().is_zero(), "a reserve larger than the budget");
    }

    #[test]
    fn errors_from_the_check_stop_the_wait() {
        let r: Result<Result<(), TimedOut>, &str> = Deadline::after(Duration::from_secs(60)).poll_until(
            Duration::from_secs(60),
            Duration::from_millis(1),
            || Err("unreadable"),
        );
        assert_eq!(r, Err("unreadable"));
    }
}
