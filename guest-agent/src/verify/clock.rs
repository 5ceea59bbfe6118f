//! The time evidence is judged at, in local mode.
//!
//! The guest's clock comes from the host (kvmclock, the RTC it emulates, NTP over its network): a host
//! that rolls it back revives certificates that have expired — a revoked-and-replaced device certificate,
//! an AMD VCEK of an older TCB. So local verification judges at `max(guest clock, build time)`: the
//! build time ([`BUILD_TIME_UNIX`], written by `build.rs`, or `SOURCE_DATE_EPOCH` for a reproducible
//! build) is a floor the host cannot move, since the binary is part of the measured image. Anything that
//! expired before this agent was built is refused whatever the guest clock says. A clock rolled back to a
//! point after the build is not caught here: remote mode, where the relying party judges at its own
//! clock, covers that.
//!
//! The floor is never later than the build: `build.rs` reruns whenever a source file changes, and a
//! stale value is only older.

use time::OffsetDateTime;

/// Seconds since the epoch when this agent was built (or `SOURCE_DATE_EPOCH`).
pub const BUILD_TIME_UNIX: i64 = include!(concat!(env!("OUT_DIR"), "/build_time_unix"));

/// [`BUILD_TIME_UNIX`] as a time.
pub fn build_time_floor() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(BUILD_TIME_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The time to judge evidence at: the guest clock `now`, raised to `floor` when it is earlier.
pub fn judgement_time(now: OffsetDateTime, floor: OffsetDateTime) -> OffsetDateTime {
    now.max(floor)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_clock_before_the_floor_is_raised_to_it() {
        let floor = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(judgement_time(datetime!(2000-01-01 0:00 UTC), floor), floor);
        assert_eq!(judgement_time(datetime!(2025-12-31 23:59:59 UTC), floor), floor);
        assert_eq!(judgement_time(datetime!(2026-06-01 0:00 UTC), floor), datetime!(2026-06-01 0:00 UTC));
    }

    #[test]
    fn the_floor_is_the_build_time() {
        let floor = build_time_floor();
        assert!(floor > datetime!(2025-01-01 0:00 UTC), "{floor}: the build time is embedded");
        assert!(floor <= OffsetDateTime::now_utc(), "{floor}: not in the future");
    }
}
