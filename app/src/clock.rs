//! The gateway's one clock. Nothing else reads the wall clock: every "now" (the practice's today,
//! the earliest bookable slot, token expiry, signature skew, audit timestamps) comes from a
//! [`Clock`], so tests and demos can pin "now" at any instant and still pass on any date.
//!
//! A clock is either the system clock, or a clock *started at* a chosen instant that then runs
//! on at the real pace (measured on the monotonic clock), so timeouts, token lifetimes and
//! pending writes behave as they do in production. `GATEWAY_NOW` sets the start on the local
//! profile; the `aws` profile refuses it.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

/// The environment variable that pins the clock (local profile and tests only).
pub const GATEWAY_NOW: &str = "GATEWAY_NOW";

#[derive(Debug, Clone, Copy)]
pub struct Clock(Source);

#[derive(Debug, Clone, Copy)]
enum Source {
    System,
    /// `start` at the moment `since` was read, then running on.
    Pinned {
        start: Timestamp,
        since: Instant,
    },
    /// Always `at` (unit tests only: nothing moves).
    Frozen {
        at: Timestamp,
    },
}

impl Clock {
    /// The system clock.
    pub const fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: Timestamp) -> Self {
        Self(Source::Pinned {
            start,
            since: Instant::now(),
        })
    }

    /// A clock that never moves (for unit tests of time-dependent rules).
    pub const fn frozen(at: Timestamp) -> Self {
        Self(Source::Frozen { at })
    }

    /// The system clock, or the one `GATEWAY_NOW` pins (see [`parse_start`]).
    pub fn from_env() -> Result<Self, InvalidNow> {
        match std::env::var(GATEWAY_NOW) {
            Ok(v) if !v.trim().is_empty() => Ok(Self::starting_at(parse_start(&v)?)),
            _ => Ok(Self::system()),
        }
    }

    /// Whether this clock is pinned rather than the system's.
    pub fn is_pinned(&self) -> bool {
        !matches!(self.0, Source::System)
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        match self.0 {
            Source::System => Timestamp::now(),
            Source::Pinned { start, since } => {
                let elapsed =
                    SignedDuration::try_from(since.elapsed()).unwrap_or(SignedDuration::MAX);
                start.saturating_add(elapsed).unwrap_or(start)
            }
            Source::Frozen { at } => at,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "GATEWAY_NOW={value:?} is invalid: expected an instant with its offset, such as 2027-03-14T09:55:00-07:00 or 2027-03-14T09:55:00-07:00[America/Los_Angeles], or a shift from the real clock such as +36h or -7d"
)]
pub struct InvalidNow {
    pub value: String,
}

/// Reads a clock start: an RFC 3339 instant (`2027-03-14T09:55:00-07:00`, `…Z`), an RFC 9557
/// zoned time (`2027-11-07T01:30:00-07:00[America/Los_Angeles]`), or a shift from the system
/// clock (`+36h`, `-7d`, `+P2W`; a day is 24 hours).
pub fn parse_start(value: &str) -> Result<Timestamp, InvalidNow> {
    let v = value.trim();
    let invalid = || InvalidNow {
        value: value.to_owned(),
    };
    if let Some(rest) = v.strip_prefix('+').or_else(|| v.strip_prefix('-')) {
        let span: jiff::Span = rest.parse().map_err(|_| invalid())?;
        let shift = span
            .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
            .map_err(|_| invalid())?;
        let shift = if v.starts_with('-') { -shift } else { shift };
        return Timestamp::now().checked_add(shift).map_err(|_| invalid());
    }
    if let Ok(zoned) = v.parse::<jiff::ZonedDateTime>() {
        return Ok(zoned.timestamp());
    }
    v.parse::<Timestamp>().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_starts_at_its_instant_and_runs_on() {
        let start: Timestamp = "2027-03-14T16:55:00Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        let a = clock.now();
        let b = clock.now();
        assert!(a >= start && b >= a);
        assert!(a.duration_since(start) < SignedDuration::from_secs(5));
    }

    #[test]
    fn starts_parse_with_offsets_zones_and_shifts() {
        let want: Timestamp = "2027-03-14T16:55:00Z".parse().unwrap();
        assert_eq!(parse_start("2027-03-14T09:55:00-07:00").unwrap(), want);
        assert_eq!(
            parse_start("2027-03-14T09:55:00-07:00[America/Los_Angeles]").unwrap(),
            want
        );
        assert_eq!(parse_start("2027-03-14T16:55:00Z").unwrap(), want);
        let shifted = parse_start("+2d").unwrap();
        let diff = shifted.duration_since(Timestamp::now());
        assert!(diff > SignedDuration::from_hours(47) && diff <= SignedDuration::from_hours(48));
        let back = parse_start("-36h").unwrap();
        assert!(back < Timestamp::now() - SignedDuration::from_hours(35));
    }

    #[test]
    fn a_local_time_without_offset_is_refused_with_the_expected_form() {
        let err = parse_start("2027-03-14 09:55").unwrap_err().to_string();
        assert!(
            err.contains("GATEWAY_NOW") && err.contains("-07:00"),
            "{err}"
        );
        assert!(parse_start("tomorrow").is_err());
    }
}
