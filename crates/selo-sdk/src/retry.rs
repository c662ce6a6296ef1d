//! The retry policy of CONTRACT §13 / the platform's error-codes page, and the polling backoff.
//!
//! Both are configured through [`ClientBuilder`](crate::ClientBuilder); this module holds the
//! arithmetic so that it can be read and tested on its own.

use std::time::{Duration, SystemTime};

/// Jitter applied to a computed backoff: the delay is drawn uniformly from
/// `[nominal × (1 − JITTER), nominal × (1 + JITTER)]` (then capped).
pub const JITTER: f64 = 0.2;

/// How often and how long the client retries (CONTRACT §13).
///
/// Defaults are the seed's: 5 attempts in all, backoff 1 s, 2 s, 4 s, 8 s (each ± 20 %),
/// computed delays capped at 60 s, a `Retry-After` honoured up to 60 s.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Attempts in all, the first one included (default 5).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before the first retry (default 1 s); it doubles for each further retry.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The cap on a computed backoff, jitter included (default 60 s).
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The longest `Retry-After` the client waits for (default 60 s); a longer one ends the
    /// call with the 429/5xx error, whose [`retry_after`](crate::ApiError::retry_after) tells
    /// the caller when to come back.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// Whether computed delays are jittered (default `true`).
    pub fn jitter(&self) -> bool {
        self.jitter
    }

    /// The delay before retry number `retry` (1-based) without jitter:
    /// `base × 2^(retry−1)`, capped at [`max_delay`](Self::max_delay).
    pub fn nominal_delay(&self, retry: u32) -> Duration {
        exponential(self.base_delay, self.max_delay, retry)
    }

    /// The delay before retry number `retry` (1-based): the nominal delay, jittered by ± 20 %
    /// when jitter is on, capped at [`max_delay`](Self::max_delay).
    pub fn backoff(&self, retry: u32) -> Duration {
        let nominal = exponential(self.base_delay, Duration::MAX, retry);
        let d = if self.jitter {
            jittered(nominal)
        } else {
            nominal
        };
        d.min(self.max_delay)
    }
}

/// Polling backoff for [`Client::wait_for_result`](crate::Client::wait_for_result): the first
/// wait is `initial` (default 1 s), each next one doubles, capped at `max` (default 30 s),
/// each ± 20 % when jitter is on.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    pub(crate) jitter: bool,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl PollPolicy {
    /// The wait after poll number `poll` (1-based).
    pub fn delay(&self, poll: u32) -> Duration {
        let nominal = exponential(self.initial, Duration::MAX, poll);
        let d = if self.jitter {
            jittered(nominal)
        } else {
            nominal
        };
        d.min(self.max)
    }
}

fn exponential(base: Duration, cap: Duration, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(Duration::MAX).min(cap)
}

fn jittered(nominal: Duration) -> Duration {
    let factor = 1.0 - JITTER + 2.0 * JITTER * fastrand::f64();
    Duration::try_from_secs_f64(nominal.as_secs_f64() * factor).unwrap_or(nominal)
}

/// Parses a `Retry-After` header value: delta-seconds (`"2"`) or an HTTP-date
/// (`"Wed, 21 Oct 2026 07:28:00 GMT"`, RFC 9110 §10.2.3), relative to `now`. A date in the past
/// gives zero; anything else unparseable gives `None`.
///
/// ```
/// use selo_sdk::retry::parse_retry_after;
/// use std::time::{Duration, SystemTime};
///
/// assert_eq!(parse_retry_after("2", SystemTime::now()), Some(Duration::from_secs(2)));
/// assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn default_schedule_is_the_seed_one() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts(), 5);
        let nominal: Vec<_> = (1..=4).map(|n| p.nominal_delay(n)).collect();
        assert_eq!(nominal, vec![secs(1), secs(2), secs(4), secs(8)]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = RetryPolicy::default();
        for _ in 0..500 {
            for n in 1..=4 {
                let nominal = p.nominal_delay(n).as_secs_f64();
                let d = p.backoff(n).as_secs_f64();
                assert!(
                    d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9,
                    "{n}: {d}"
                );
            }
        }
    }

    #[test]
    fn jitter_actually_varies() {
        let p = RetryPolicy::default();
        let draws: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(3)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn without_jitter_the_schedule_is_exact() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let got: Vec<_> = (1..=4).map(|n| p.backoff(n)).collect();
        assert_eq!(got, vec![secs(1), secs(2), secs(4), secs(8)]);
    }

    #[test]
    fn backoff_is_capped_jitter_included() {
        let p = RetryPolicy {
            base_delay: secs(50),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            assert!(p.backoff(1) <= secs(60));
            assert!(p.backoff(1) >= secs(40));
            assert_eq!(p.backoff(2), secs(60));
            assert_eq!(p.backoff(40), secs(60));
        }
        assert_eq!(p.nominal_delay(2), secs(60));
    }

    #[test]
    fn huge_retry_numbers_do_not_overflow() {
        let p = RetryPolicy::default();
        assert_eq!(p.nominal_delay(u32::MAX), secs(60));
        assert_eq!(p.backoff(1000), secs(60));
    }

    #[test]
    fn poll_schedule_doubles_to_thirty_seconds() {
        let p = PollPolicy {
            jitter: false,
            ..PollPolicy::default()
        };
        let got: Vec<_> = (1..=7).map(|n| p.delay(n)).collect();
        assert_eq!(
            got,
            vec![
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(30),
                secs(30)
            ]
        );
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("2", now), Some(secs(2)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(secs(120)));
        assert_eq!(parse_retry_after("0", now), Some(secs(0)));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_date() {
        let now = UNIX_EPOCH + secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(secs(5))
        );
        // Obsolete RFC 850 form, also accepted by RFC 9110.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:10 GMT", now),
            Some(secs(10))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage() {
        let now = SystemTime::now();
        for v in [
            "",
            "-1",
            "1.5",
            "soon",
            "2s",
            "Wed, 99 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(v, now), None, "{v:?}");
        }
    }
}
