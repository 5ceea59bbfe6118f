//! What one client may send: the JSON nesting check run before any parser sees a body, and the
//! per-client rate limit.
//!
//! Trusts: nothing in the body (the depth scan reads bytes, never allocates per byte, and stops at the
//! first level over the limit). The client's address comes from the TCP connection: behind a proxy
//! every client shares the proxy's bucket, which is why the limit is per replica and generous.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The JSON nesting depth a bundle needs is 3; anything deeper than the limit is refused unparsed.
pub const DEFAULT_MAX_DEPTH: usize = 16;

/// Where a body nests deeper than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("JSON nests deeper than {limit} levels (at byte {offset})")]
pub struct TooDeep {
    /// The limit.
    pub limit: usize,
    /// Offset of the bracket that went over it.
    pub offset: usize,
}

/// Checks that `body`, read as JSON, never nests more than `limit` arrays and objects. Brackets inside
/// strings (with their escapes) do not count. Malformed JSON is not judged here (the parser does that);
/// only depth is.
pub fn check_depth(body: &[u8], limit: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &b) in body.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { limit, offset });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A token bucket per client address: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Most client addresses tracked; past it, full buckets are dropped (a dropped client starts full again).
const MAX_CLIENTS: usize = 65_536;

impl RateLimiter {
    /// A limiter allowing `per_second` requests per client on average and `burst` at once.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second: per_second.max(0.0), burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    /// Takes one token for `client` at `now`; `Err` with the wait until the next token when none is left.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        let refilled = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            let wait = if self.per_second > 0.0 { (1.0 - refilled) / self.per_second } else { 3600.0 };
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert!(check_depth(br#"{"a":[{"b":"[[[[[[[[[["}]}"#, 3).is_ok());
        assert_eq!(check_depth(br#"{"a":[{"b":[1]}]}"#, 3), Err(TooDeep { limit: 3, offset: 11 }));
        assert!(check_depth(br#"{"a":"\"[[[["}"#, 1).is_ok(), "an escaped quote does not end the string");
        assert!(check_depth(&[b'['; 10_000], 16).is_err());
        assert!(check_depth(b"", 1).is_ok());
    }

    #[test]
    fn the_bucket_empties_and_refills_per_client() {
        let limiter = RateLimiter::new(2.0, 2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().expect("ip"), "127.0.0.2".parse().expect("ip"));
        let t = Instant::now();
        assert!(limiter.take(a, t).is_ok() && limiter.take(a, t).is_ok());
        let wait = limiter.take(a, t).expect_err("third at once is refused");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500), "{wait:?}");
        assert!(limiter.take(b, t).is_ok(), "another client has its own bucket");
        assert!(limiter.take(a, t + Duration::from_millis(500)).is_ok(), "refilled at 2/s");
    }
}
