//! [`ClaimLocks`]: one lock per claim, so that calls for the same claim run one after another, with a
//! bounded wait for the lock.
//!
//! All bookkeeping is under one mutex: an entry counts every call that holds or waits for its claim and
//! is removed when the last of them leaves, so a call that arrives later always finds the entry its
//! predecessors are queued on (never a fresh one beside them). Waiters sleep on one condition variable
//! and give up at their deadline. Trusts nothing but the standard library's mutex and condvar.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::names::ClaimUid;

/// The per-claim locks of a node.
#[derive(Debug, Default)]
pub struct ClaimLocks {
    claims: Mutex<HashMap<ClaimUid, Entry>>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct Entry {
    /// A call holds the claim.
    held: bool,
    /// Calls that hold or wait for the claim.
    users: usize,
}

/// Holding the lock of one claim; dropping it lets the next call of that claim in.
#[derive(Debug)]
pub struct ClaimGuard<'a> {
    locks: &'a ClaimLocks,
    claim: ClaimUid,
}

/// The claim stayed held by another call until the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    /// How long we waited.
    pub waited: Duration,
}

impl ClaimLocks {
    /// Takes `claim`'s lock, waiting at most until `deadline` (at least one try, even when it has passed).
    pub fn acquire(&self, claim: &ClaimUid, deadline: Deadline) -> Result<ClaimGuard<'_>, Busy> {
        let start = Instant::now();
        let mut claims = self.map();
        claims.entry(claim.clone()).or_default().users += 1;
        loop {
            let entry = claims.get_mut(claim).unwrap_or_else(|| unreachable!("our own count keeps the entry"));
            if !entry.held {
                entry.held = true;
                return Ok(ClaimGuard { locks: self, claim: claim.clone() });
            }
            let left = deadline.remaining();
            if left.is_zero() {
                entry.users -= 1;
                return Err(Busy { waited: start.elapsed() });
            }
            claims = self.released.wait_timeout(claims, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Claims that some call holds or waits for (for tests and diagnostics).
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.map().len()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<ClaimUid, Entry>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        let mut claims = self.locks.map();
        if let Some(entry) = claims.get_mut(&self.claim) {
            entry.held = false;
            entry.users -= 1;
            if entry.users == 0 {
                claims.remove(&self.claim);
            }
        }
        drop(claims);
        // Waiters of every claim share the condvar; each re-checks its own entry.
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    fn uid(s: &str) -> ClaimUid {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn long() -> Deadline {
        Deadline::after(Duration::from_secs(60))
    }

    #[test]
    fn a_second_call_waits_until_the_deadline_then_gives_up() {
        let locks = ClaimLocks::default();
        let held = locks.acquire(&uid("a"), long()).unwrap_or_else(|_| panic!("free"));
        let busy = locks.acquire(&uid("a"), Deadline::after(Duration::from_millis(5)));
        assert!(busy.is_err());
        // The failed waiter left no count behind: releasing the holder frees the entry.
        assert!(locks.acquire(&uid("b"), long()).is_ok(), "other claims are independent");
        drop(held);
        assert_eq!(locks.in_use(), 0);
        assert!(locks.acquire(&uid("a"), Deadline::after(Duration::ZERO)).is_ok(), "free again");
    }

    #[test]
    fn the_entry_lives_while_anyone_waits_so_later_calls_queue_behind_the_waiter() {
        let locks = Arc::new(ClaimLocks::default());
        let first = locks.acquire(&uid("x"), long()).unwrap_or_else(|_| panic!("free"));
        let (got, took) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let waiter = {
            let locks = locks.clone();
            thread::spawn(move || {
                let guard = locks.acquire(&uid("x"), long()).unwrap_or_else(|_| panic!("waits"));
                got.send(()).unwrap_or_else(|_| panic!("test alive"));
                released.recv().unwrap_or_else(|_| panic!("test alive"));
                drop(guard);
            })
        };
        // Wait until the waiter is counted, then let the first call go (as a failed call does).
        while locks.map().get(&uid("x")).is_none_or(|e| e.users < 2) {
            thread::yield_now();
        }
        drop(first);
        took.recv().unwrap_or_else(|_| panic!("waiter got the claim"));
        // The waiter holds the claim: a later call finds the same entry, held.
        assert!(locks.acquire(&uid("x"), Deadline::after(Duration::ZERO)).is_err());
        release.send(()).unwrap_or_else(|_| panic!("waiter alive"));
        waiter.join().unwrap_or_else(|_| panic!("waiter"));
        assert_eq!(locks.in_use(), 0);
    }
}
