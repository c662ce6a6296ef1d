//! Processes of the API contract: the stored record and the output rules of CONTRACT §5.

use crate::capability::{Capabilities, Capability};
use crate::scenario::Scenario;
use crate::verification::{IdentityResult, LocalVerdict, Outcome};
use selo_wire::analysis::ProcessAnalysis;
use selo_wire::process::{ApiProcess, ResultValue};
use serde::{Deserialize, Serialize};

/// What kind of create made the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ProcessKind {
    /// Onboarding (`subject` + selfie) decided by a §8 scenario.
    Onboarding {
        /// The engines' scenario.
        scenario: Scenario,
    },
    /// Onboarding decided by the local engines (CONTRACT §17).
    Local {
        /// What they concluded.
        verdict: LocalVerdict,
    },
    /// Transactional 1:1 (`references` + selfie).
    Transactional {
        /// Whether the selfie matched the references.
        matched: bool,
    },
}

/// A stored process of the API contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRecord {
    /// Process id (UUID).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// How it was created.
    pub kind: ProcessKind,
    /// The capabilities of the API key that created it (they shape the output).
    pub capabilities: Capabilities,
    /// `subject.clientReference`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_reference: Option<String>,
    /// When an async process finishes (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completes_at: Option<i64>,
    /// Media type of the stored selfie.
    pub image_type: String,
    /// What the local engines measured (`None`: the scenario engine decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<ProcessAnalysis>,
}

impl ProcessRecord {
    /// Whether the process is still running at `now`.
    pub fn running_at(&self, now: i64) -> bool {
        self.completes_at.is_some_and(|t| now < t)
    }

    /// The API status at `now` (1 processing, 2 divergence, 3 finished, 5 error).
    pub fn status_at(&self, now: i64) -> u8 {
        match self.outcome() {
            _ if self.running_at(now) => 1,
            Some(outcome) => outcome.status,
            None => 3,
        }
    }

    /// What the engine that decided an onboarding process concluded (`None`: transactional).
    /// The one seam between the engines and what the contracts render.
    pub fn outcome(&self) -> Option<Outcome> {
        match &self.kind {
            ProcessKind::Onboarding { scenario } => Some(scenario.outcome()),
            ProcessKind::Local { verdict } => Some(verdict.outcome()),
            ProcessKind::Transactional { .. } => None,
        }
    }

    /// `GET /processes/v1/{id}/analysis`: what ran and what it measured, within what the
    /// creating key may see (without `identity`, whose `unicoId` §5 hides, no identity match).
    pub fn analysis(&self) -> ProcessAnalysis {
        let mut analysis = self
            .analysis
            .clone()
            .unwrap_or_else(ProcessAnalysis::scenario);
        if matches!(self.kind, ProcessKind::Local { .. })
            && !self.capabilities.has(Capability::Identity)
        {
            analysis.matched = None;
        }
        analysis
    }

    /// The process as the API contract shows it at `now`, with the output rules of §5:
    /// `liveness` omitted when `unicoId.result` is `yes` and always 1 without the liveness
    /// capability; `score` only when inconclusive with risk score; behavior alert only once
    /// finished.
    pub fn api_view(&self, now: i64) -> ApiProcess {
        let status = self.status_at(now);
        let mut view = ApiProcess {
            id: self.id.clone(),
            status,
            unico_id: None,
            liveness: None,
            score: None,
            identity_fraudsters: None,
            biometry_token: None,
        };
        if status == 1 || status == 5 {
            return view;
        }
        let caps = self.capabilities;
        let result = |r: &str| ResultValue {
            result: r.to_string(),
        };
        match (&self.kind, self.outcome()) {
            (ProcessKind::Transactional { matched }, _) => {
                view.biometry_token = Some(result(if *matched { "true" } else { "false" }));
            }
            (_, Some(outcome)) => {
                let identity = outcome
                    .identity
                    .filter(|_| caps.has(Capability::Identity))
                    .map(IdentityResult::as_str);
                view.unico_id = identity.map(result);
                if identity != Some("yes") {
                    view.liveness = Some(if !caps.has(Capability::Liveness) || outcome.live {
                        1
                    } else {
                        2
                    });
                }
                if identity == Some("inconclusive") && caps.has(Capability::RiskScore) {
                    view.score = outcome.score;
                }
                if caps.has(Capability::BehaviorAlert) {
                    view.identity_fraudsters = outcome.behavior_alert.map(|a| result(a.as_str()));
                }
            }
            (_, None) => {}
        }
        view
    }
}

/// The scenario a new onboarding process runs, given the key's capabilities: the async
/// behavior-alert scenario runs asynchronously only when the key has `behavioralert`;
/// otherwise it answers like `approved` at once.
pub fn effective_scenario(scenario: Scenario, caps: &Capabilities) -> Scenario {
    if scenario == Scenario::AsyncBehaviorAlert && !caps.has(Capability::BehaviorAlert) {
        Scenario::Approved
    } else {
        scenario
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(scenario: Scenario, caps: &str) -> ProcessRecord {
        ProcessRecord {
            id: "p".into(),
            tenant_id: "t".into(),
            created_at: 100,
            kind: ProcessKind::Onboarding { scenario },
            capabilities: Capabilities::from_stored(caps),
            client_reference: None,
            completes_at: scenario.completes_after().map(|s| 100 + s),
            image_type: "image/jpeg".into(),
            analysis: None,
        }
    }

    fn json(scenario: Scenario, caps: &str, now: i64) -> serde_json::Value {
        let mut v = serde_json::to_value(record(scenario, caps).api_view(now)).unwrap();
        v.as_object_mut().unwrap().remove("id");
        v
    }

    #[test]
    fn output_rules() {
        let all = "liveness,identity,riskscore,behavioralert";
        use serde_json::json as j;
        assert_eq!(
            json(Scenario::Approved, all, 100),
            j!({"status":3,"unicoId":{"result":"yes"}})
        );
        assert_eq!(
            json(Scenario::IdentityDenied, all, 100),
            j!({"status":3,"unicoId":{"result":"no"},"liveness":1})
        );
        assert_eq!(
            json(Scenario::LivenessFailed, all, 100),
            j!({"status":3,"unicoId":{"result":"inconclusive"},"liveness":2})
        );
        assert_eq!(
            json(Scenario::LivenessFailed, "identity", 100),
            j!({"status":3,"unicoId":{"result":"inconclusive"},"liveness":1})
        );
        assert_eq!(
            json(Scenario::InconclusiveNegativeScore, all, 100),
            j!({"status":3,"unicoId":{"result":"inconclusive"},"liveness":1,"score":-60})
        );
        assert_eq!(
            json(
                Scenario::InconclusivePositiveScore,
                "liveness,identity",
                100
            ),
            j!({"status":3,"unicoId":{"result":"inconclusive"},"liveness":1})
        );
        assert_eq!(
            json(Scenario::Divergence, all, 100),
            j!({"status":2,"unicoId":{"result":"inconclusive"},"liveness":1})
        );
        assert_eq!(json(Scenario::ProcessingError, all, 100), j!({"status":5}));
        assert_eq!(
            json(Scenario::AsyncBehaviorAlert, all, 101),
            j!({"status":1})
        );
        assert_eq!(
            json(Scenario::AsyncBehaviorAlert, all, 102),
            j!({"status":3,"unicoId":{"result":"yes"},"identityFraudsters":{"result":"yes"}})
        );
        assert_eq!(
            json(Scenario::Approved, "liveness", 100),
            j!({"status":3,"liveness":1})
        );
    }
}
