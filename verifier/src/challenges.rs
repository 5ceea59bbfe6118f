//! `POST /v1/challenges`: nonces this service issues, single use and short-lived, for consumers that
//! want freshness decided by the verifier rather than by themselves.
//!
//! An appraisal whose bundle carries an issued, unexpired nonce consumes it (it cannot be used again);
//! with `require_challenge`, a bundle with any other nonce is contraindicated (check
//! `bundle:challenge`). Without it, a bundle's own nonce is accepted as the attester's choice: the
//! attester checks freshness itself against the `eat_nonce` of the signed answer, which is what the guest
//! agent does (see docs/operator-verifier.md, "Challenges").
//!
//! Trusts: its own random number generator. Bounded: at most `capacity` outstanding nonces; expired ones
//! are dropped as new ones are issued.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What became of a bundle's nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUse {
    /// Issued here, unexpired, now used up.
    Challenge,
    /// Not issued here (or expired, or already used): the attester's own nonce.
    Attester,
}

/// No challenge could be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Too many outstanding.
    #[error("{0} challenges are outstanding; try again once some expire")]
    Full(usize),
    /// No randomness.
    #[error("no randomness for a nonce")]
    Random,
}

/// Outstanding challenges.
#[derive(Debug)]
pub struct Challenges {
    ttl: Duration,
    capacity: usize,
    issued: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Challenges {
    /// Challenges valid for `ttl`, at most `capacity` outstanding.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, capacity, issued: Mutex::default() }
    }

    /// How long a challenge stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh nonce, valid until `now + ttl`.
    pub fn issue(&self, now: Instant) -> Result<[u8; 32], ChallengeError> {
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ChallengeError::Random)?;
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        issued.retain(|_, expires| *expires > now);
        if issued.len() >= self.capacity {
            return Err(ChallengeError::Full(issued.len()));
        }
        issued.insert(nonce, now + self.ttl);
        Ok(nonce)
    }

    /// Consumes `nonce` if it is an outstanding challenge.
    pub fn redeem(&self, nonce: &[u8; 32], now: Instant) -> NonceUse {
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        match issued.remove(nonce) {
            Some(expires) if expires > now => NonceUse::Challenge,
            _ => NonceUse::Attester,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_single_use_short_lived_and_bounded() {
        let c = Challenges::new(Duration::from_secs(10), 2);
        let t = Instant::now();
        let n = c.issue(t).expect("issued");
        assert_eq!(c.redeem(&n, t), NonceUse::Challenge);
        assert_eq!(c.redeem(&n, t), NonceUse::Attester, "used once");
        let late = c.issue(t).expect("issued");
        assert_eq!(c.redeem(&late, t + Duration::from_secs(11)), NonceUse::Attester, "expired");
        assert_eq!(c.redeem(&[7; 32], t), NonceUse::Attester);
        c.issue(t).expect("one");
        c.issue(t).expect("two");
        assert_eq!(c.issue(t), Err(ChallengeError::Full(2)));
        assert!(c.issue(t + Duration::from_secs(11)).is_ok(), "expired ones make room");
    }
}
