//! Retention windows (CONTRACT §9): how long a tenant's selfies, evidence sets and finished
//! processes are kept. Defaults: 8 hours, 2 hours, 90 days.

use serde::{Deserialize, Serialize};

/// Shortest window a tenant may set, seconds (a minute).
pub const MIN_WINDOW: i64 = 60;
/// Shortest process window a tenant may set, seconds (a day: processes outlive their files).
pub const MIN_PROCESS_WINDOW: i64 = 24 * 3600;

/// A tenant's windows, seconds after the process finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Selfies (`GET …/selfie`).
    pub selfie: i64,
    /// Evidence sets (`GET …/evidenceset`).
    pub evidence: i64,
    /// Finished processes.
    pub process: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            selfie: 8 * 3600,
            evidence: 2 * 3600,
            process: 90 * 24 * 3600,
        }
    }
}

impl Retention {
    /// The defaults overridden by a tenant's settings.
    pub fn with(selfie: Option<i64>, evidence: Option<i64>, process: Option<i64>) -> Retention {
        let d = Retention::default();
        Retention {
            selfie: selfie.unwrap_or(d.selfie),
            evidence: evidence.unwrap_or(d.evidence),
            process: process.unwrap_or(d.process),
        }
    }

    /// A description of the policy for 410 bodies (`selfies are kept 8 hours …`).
    pub fn describe(seconds: i64) -> String {
        match seconds {
            s if s % 86_400 == 0 => format!("{} days", s / 86_400),
            s if s % 3600 == 0 => format!("{} hours", s / 3600),
            s if s % 60 == 0 => format!("{} minutes", s / 60),
            s => format!("{s} seconds"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_descriptions() {
        assert_eq!(Retention::with(None, Some(60), None).evidence, 60);
        assert_eq!(Retention::default().selfie, 28_800);
        assert_eq!(Retention::describe(8 * 3600), "8 hours");
        assert_eq!(Retention::describe(90 * 86_400), "90 days");
        assert_eq!(Retention::describe(90), "90 seconds");
    }
}
