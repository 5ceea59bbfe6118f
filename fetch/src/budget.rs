//! [`FetchBudget`]: the total time one appraisal may spend asking services, shared by its RIM and OCSP
//! fetches. Per appraisal, never per service object, so a long-lived verifier never runs out.
//!
//! Trusts: nothing; it only counts time.

use std::sync::Mutex;
use std::time::Duration;

/// The time one appraisal (or any spell of related fetches) may spend asking services, from
/// [`crate::RimService::budget`] or [`crate::OcspResponder::budget`]. Each one starts unspent; only the
/// time spent on requests counts (cache reads are free).
#[derive(Debug)]
pub struct FetchBudget {
    limit: Duration,
    spent: Mutex<Duration>,
}

impl FetchBudget {
    /// A budget of `limit`.
    pub fn new(limit: Duration) -> Self {
        Self { limit, spent: Mutex::new(Duration::ZERO) }
    }

    /// The limit.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The time spent so far.
    pub fn spent(&self) -> Duration {
        *self.spent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn charge(&self, d: Duration) {
        *self.spent.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += d;
    }
}
