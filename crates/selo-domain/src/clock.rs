//! The server's one clock, injectable so that every time rule can be tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

/// A source of "now". Every time rule (expiry, lockout, retention, assertion `iat`/`exp`) reads it.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;

    /// The current instant in whole Unix seconds.
    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// The current instant in Unix milliseconds.
    fn unix_millis(&self) -> i64 {
        (self.now().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until it is advanced (`selo serve --manual-clock`).
#[derive(Debug)]
pub struct ManualClock {
    unix_nanos: AtomicI64,
}

impl ManualClock {
    /// A manual clock holding `start`.
    pub fn starting_at(start: OffsetDateTime) -> Self {
        ManualClock {
            unix_nanos: AtomicI64::new(start.unix_timestamp_nanos() as i64),
        }
    }

    /// Moves the clock forward by `seconds` and says whether it moved: a negative move, or one
    /// past what the clock can hold, leaves it alone, so it never goes backwards.
    #[must_use]
    pub fn advance(&self, seconds: i64) -> bool {
        let Some(step) = seconds.checked_mul(1_000_000_000).filter(|s| *s >= 0) else {
            return false;
        };
        self.unix_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                now.checked_add(step)
            })
            .is_ok()
    }
}

impl ManualClock {
    /// Moves the clock forward to `unix_nanos` if it holds an earlier instant (another node's
    /// clock moved; it never goes backwards).
    pub fn catch_up(&self, unix_nanos: i64) {
        self.unix_nanos.fetch_max(unix_nanos, Ordering::SeqCst);
    }

    /// The instant it holds, in Unix nanoseconds.
    pub fn unix_nanos(&self) -> i64 {
        self.unix_nanos.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.unix_nanos.load(Ordering::SeqCst) as i128)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// RFC 3339 with milliseconds in UTC (`2026-11-24T18:21:29.123Z`).
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_stands_still_and_advances() {
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let clock = ManualClock::starting_at(start);
        assert_eq!(clock.unix(), 1_800_000_000);
        assert!(clock.advance(90));
        assert_eq!(clock.unix(), 1_800_000_090);
        assert_eq!(rfc3339_millis(clock.now()), "2027-01-15T08:01:30.000Z");
        assert!(!clock.advance(-1), "never backwards");
        assert!(!clock.advance(i64::MAX), "no wrap past i64");
        assert_eq!(clock.unix(), 1_800_000_090);
    }
}
