//! Limits on what the host can make the agent do through the API: a size limit per request, token
//! buckets per method class, a cap on concurrent watchers, and rate-limited logging of refusals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The API's limits. Fixed by the agent's code and measured configuration, never by a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiLimits {
    /// Largest request payload, bytes.
    pub max_request: usize,
    /// Cheap reads (status, appraisal, watch): sustained rate per second.
    pub reads_per_second: f64,
    /// Cheap reads: burst.
    pub read_burst: f64,
    /// Evidence requests (each asks every GPU and the CPU TEE to sign): sustained rate per second.
    pub evidence_per_second: f64,
    /// Evidence requests: burst.
    pub evidence_burst: f64,
    /// Concurrent `WatchStatus` calls.
    pub max_watchers: usize,
    /// Longest `WatchStatus` wait.
    pub max_watch: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_request: 256,
            reads_per_second: 20.0,
            read_burst: 40.0,
            evidence_per_second: 0.5,
            evidence_burst: 2.0,
            max_watchers: 4,
            max_watch: Duration::from_secs(30),
        }
    }
}

/// A token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// Full bucket of `burst` tokens refilled at `rate` per second.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes a token if there is one.
    pub fn try_take(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
        s.0 = (s.0 + refill).min(self.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts concurrent watchers.
#[derive(Debug, Default)]
pub struct WatcherSlots {
    active: AtomicUsize,
}

/// A held watcher slot, released on drop.
#[derive(Debug)]
pub struct WatcherSlot<'a> {
    slots: &'a WatcherSlots,
}

impl WatcherSlots {
    /// A slot if fewer than `max` are held.
    pub fn acquire(&self, max: usize) -> Option<WatcherSlot<'_>> {
        self.active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| WatcherSlot { slots: self })
    }
}

impl Drop for WatcherSlot<'_> {
    fn drop(&mut self) {
        self.slots.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Logs at most once per interval (refusals are host-triggerable: the log must not be floodable).
#[derive(Debug)]
pub struct LogThrottle {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicUsize,
}

impl LogThrottle {
    /// At most one message per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: Mutex::new(None), suppressed: AtomicUsize::new(0) }
    }

    /// `Some(suppressed since the last message)` when a message may be logged now.
    pub fn allow(&self) -> Option<usize> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < self.interval) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_without_refill_refuses() {
        let b = TokenBucket::new(0.0, 2.0);
        assert!(b.try_take() && b.try_take());
        assert!(!b.try_take());
    }

    #[test]
    fn watcher_slots_are_bounded_and_released() {
        let s = WatcherSlots::default();
        let a = s.acquire(1).expect("first");
        assert!(s.acquire(1).is_none());
        drop(a);
        assert!(s.acquire(1).is_some());
    }

    #[test]
    fn the_log_throttle_counts_what_it_suppressed() {
        let t = LogThrottle::new(Duration::from_secs(3600));
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
    }
}
