//! Fault-injection plans (CONTRACT §12): what a sandbox request should suffer instead of, or
//! on top of, its real answer.

use std::fmt;
use std::str::FromStr;

/// One fault of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this 4xx/5xx status without running the request.
    Status(u16),
    /// Run the request (it commits), then answer this status instead of the real response.
    StatusAfterCommit(u16),
    /// Answer 429 with `Retry-After: N` without running the request.
    TooManyRequests {
        /// `Retry-After` seconds.
        retry_after: u64,
    },
    /// Close the connection without a reply.
    Reset,
    /// Wait this many milliseconds, then answer for real.
    Delay {
        /// Milliseconds.
        millis: u64,
    },
    /// Answer for real.
    Ok,
}

/// Longest accepted delay (bounded so a plan cannot pin a connection for long).
pub const MAX_DELAY_MS: u64 = 60_000;

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "'{s}' is not a fault; use STATUS (400-599), STATUS:after-commit, 429:retry-after=N, reset, delay:Nms or ok"
            )
        };
        let status = |t: &str| {
            t.parse::<u16>()
                .ok()
                .filter(|c| (400..=599).contains(c))
                .ok_or_else(bad)
        };
        match s.trim() {
            "ok" => Ok(Fault::Ok),
            "reset" => Ok(Fault::Reset),
            t => {
                if let Some(ms) = t.strip_prefix("delay:").and_then(|d| d.strip_suffix("ms")) {
                    let millis = ms.parse::<u64>().map_err(|_| bad())?;
                    if millis > MAX_DELAY_MS {
                        return Err(format!("'{s}': a delay may be at most {MAX_DELAY_MS}ms"));
                    }
                    return Ok(Fault::Delay { millis });
                }
                if let Some(n) = t.strip_prefix("429:retry-after=") {
                    let retry_after = n.parse::<u64>().map_err(|_| bad())?;
                    return Ok(Fault::TooManyRequests { retry_after });
                }
                if let Some(code) = t.strip_suffix(":after-commit") {
                    return status(code).map(Fault::StatusAfterCommit);
                }
                status(t).map(Fault::Status)
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(c) => write!(f, "{c}"),
            Fault::StatusAfterCommit(c) => write!(f, "{c}:after-commit"),
            Fault::TooManyRequests { retry_after } => write!(f, "429:retry-after={retry_after}"),
            Fault::Reset => f.write_str("reset"),
            Fault::Delay { millis } => write!(f, "delay:{millis}ms"),
            Fault::Ok => f.write_str("ok"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_fault() {
        for s in [
            "503",
            "500:after-commit",
            "429:retry-after=2",
            "reset",
            "delay:1500ms",
            "ok",
            "404",
        ] {
            assert_eq!(s.parse::<Fault>().unwrap().to_string(), s);
        }
        for s in [
            "200",
            "600",
            "delay:2s",
            "429:retry-after=x",
            "boom",
            "delay:60001ms",
        ] {
            assert!(s.parse::<Fault>().is_err(), "{s}");
        }
    }
}
