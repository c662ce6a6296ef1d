//! The deterministic sandbox engines (CONTRACT §8): the person's CPF picks the outcome.

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

/// What the identity and liveness engines conclude for a scenario, once finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOutcome {
    /// API status once finished: 2, 3 or 5.
    pub status: u8,
    /// `unicoId.result` (`None` when the process errored).
    pub identity: Option<&'static str>,
    /// Whether liveness passed.
    pub live: bool,
    /// Risk score when inconclusive.
    pub score: Option<i32>,
    /// Behavior alert (`identityFraudsters.result`), async scenario only.
    pub behavior_alert: Option<&'static str>,
}

impl Scenario {
    /// The scenario for a person code. In a sandbox the CPF picks it and anything else is
    /// approved; outside a sandbox every person is approved (Selo has no real engines yet).
    pub fn for_person(code: &str, sandbox: bool) -> Scenario {
        if !sandbox {
            return Scenario::Approved;
        }
        SANDBOX_TABLE
            .iter()
            .find(|(cpf, _)| *cpf == code)
            .map_or(Scenario::Approved, |(_, s)| *s)
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
    pub fn outcome(self) -> EngineOutcome {
        let base = EngineOutcome {
            status: 3,
            identity: Some("yes"),
            live: true,
            score: None,
            behavior_alert: None,
        };
        match self {
            Scenario::Approved => base,
            Scenario::IdentityDenied => EngineOutcome {
                identity: Some("no"),
                ..base
            },
            Scenario::LivenessFailed => EngineOutcome {
                identity: Some("inconclusive"),
                live: false,
                ..base
            },
            Scenario::InconclusivePositiveScore => EngineOutcome {
                identity: Some("inconclusive"),
                score: Some(50),
                ..base
            },
            Scenario::InconclusiveNegativeScore => EngineOutcome {
                identity: Some("inconclusive"),
                score: Some(-60),
                ..base
            },
            Scenario::Divergence => EngineOutcome {
                status: 2,
                identity: Some("inconclusive"),
                ..base
            },
            Scenario::ProcessingError => EngineOutcome {
                status: 5,
                identity: None,
                ..base
            },
            Scenario::AsyncBehaviorAlert => EngineOutcome {
                behavior_alert: Some("yes"),
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
