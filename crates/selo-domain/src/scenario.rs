//! The deterministic sandbox engines (CONTRACT §8): the person's CPF picks the outcome.

use crate::verification::{IdentityResult, Outcome};
use serde::{Deserialize, Serialize};

/// Seconds after creation at which the async scenario finishes.
pub const ASYNC_COMPLETION_SECONDS: i64 = 2;

/// One sandbox scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Identity confirmed.
    Approved,
    /// Identity not confirmed.
    IdentityDenied,
    /// Liveness failed.
    LivenessFailed,
    /// Inconclusive, risk score +50.
    InconclusivePositiveScore,
    /// Inconclusive, risk score −60.
    InconclusiveNegativeScore,
    /// Divergence (status 2).
    Divergence,
    /// The engines failed (status 5).
    ProcessingError,
    /// Finishes ~2 s later with a behavior alert.
    AsyncBehaviorAlert,
}

/// The sandbox table: CPF → scenario.
pub const SANDBOX_TABLE: [(&str, Scenario); 8] = [
    ("00000000191", Scenario::Approved),
    ("00000000272", Scenario::IdentityDenied),
    ("00000000353", Scenario::LivenessFailed),
    ("00000000434", Scenario::InconclusivePositiveScore),
    ("00000000515", Scenario::InconclusiveNegativeScore),
    ("00000000604", Scenario::Divergence),
    ("00000000787", Scenario::ProcessingError),
    ("00000000868", Scenario::AsyncBehaviorAlert),
];

impl Scenario {
    /// The scenario for a person code on the scenario engine. In a sandbox the CPF picks it
    /// and anything else is approved; outside a sandbox every person is approved (only the
    /// journeys still run on the scenario engine in production: CONTRACT §17's next step).
    pub fn for_person(code: &str, sandbox: bool) -> Scenario {
        if !sandbox {
            return Scenario::Approved;
        }
        Scenario::listed(code).unwrap_or(Scenario::Approved)
    }

    /// The scenario of one of the eight §8 CPFs.
    pub fn listed(code: &str) -> Option<Scenario> {
        SANDBOX_TABLE
            .iter()
            .find(|(cpf, _)| *cpf == code)
            .map(|(_, s)| *s)
    }

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Approved => "approved",
            Scenario::IdentityDenied => "identity-denied",
            Scenario::LivenessFailed => "liveness-failed",
            Scenario::InconclusivePositiveScore => "inconclusive-positive-score",
            Scenario::InconclusiveNegativeScore => "inconclusive-negative-score",
            Scenario::Divergence => "divergence",
            Scenario::ProcessingError => "processing-error",
            Scenario::AsyncBehaviorAlert => "async-behavior-alert",
        }
    }

    /// Seconds after creation at which the process finishes (`None`: finished at creation).
    pub fn completes_after(self) -> Option<i64> {
        (self == Scenario::AsyncBehaviorAlert).then_some(ASYNC_COMPLETION_SECONDS)
    }

    /// The engines' conclusion once finished.
    pub fn outcome(self) -> Outcome {
        let base = Outcome {
            status: 3,
            identity: Some(IdentityResult::Yes),
            live: true,
            score: None,
            behavior_alert: None,
        };
        match self {
            Scenario::Approved => base,
            Scenario::IdentityDenied => Outcome {
                identity: Some(IdentityResult::No),
                ..base
            },
            Scenario::LivenessFailed => Outcome {
                identity: Some(IdentityResult::Inconclusive),
                live: false,
                ..base
            },
            Scenario::InconclusivePositiveScore => Outcome {
                identity: Some(IdentityResult::Inconclusive),
                score: Some(50),
                ..base
            },
            Scenario::InconclusiveNegativeScore => Outcome {
                identity: Some(IdentityResult::Inconclusive),
                score: Some(-60),
                ..base
            },
            Scenario::Divergence => Outcome {
                status: 2,
                identity: Some(IdentityResult::Inconclusive),
                ..base
            },
            Scenario::ProcessingError => Outcome {
                status: 5,
                identity: None,
                ..base
            },
            Scenario::AsyncBehaviorAlert => Outcome {
                behavior_alert: Some(IdentityResult::Yes),
                ..base
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_picks_the_scenario_only_in_a_sandbox() {
        assert_eq!(
            Scenario::for_person("00000000272", true),
            Scenario::IdentityDenied
        );
        assert_eq!(
            Scenario::for_person("00000000272", false),
            Scenario::Approved
        );
        assert_eq!(
            Scenario::for_person("52998224725", true),
            Scenario::Approved
        );
        for (cpf, _) in SANDBOX_TABLE {
            assert!(crate::person_code::is_valid_cpf(cpf), "{cpf}");
        }
    }
}
