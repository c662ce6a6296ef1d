//! The rules of verification (CONTRACT §17): which engines decide a tenant's processes, the
//! one [`Outcome`] every engine produces, the match thresholds, the face distance and how the
//! local engines' measurements become a verdict. The engines measure; this module decides.

use crate::scenario::Scenario;
use selo_wire::analysis::ProcessAnalysis;
use serde::{Deserialize, Serialize};

pub use selo_wire::analysis::GateReason;

/// A tenant's face-distance thresholds: at most `accept` is the same person, over `reject`
/// another one, between them inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchThresholds {
    /// Largest distance accepted as the same person.
    pub accept: f32,
    /// Distance over which the person is another one.
    pub reject: f32,
}

impl Default for MatchThresholds {
    /// The defaults for dlib's ResNet embedding (docs/engines.md): the customary 0.6 as the
    /// rejection line and a stricter 0.4 as the acceptance line (different people in the test
    /// photos came as close as 0.43).
    fn default() -> Self {
        MatchThresholds {
            accept: 0.4,
            reject: 0.6,
        }
    }
}

impl MatchThresholds {
    /// Whether a distance is within `accept` (1:1 and the fraud search).
    pub fn accepts(self, distance: f32) -> bool {
        distance <= self.accept
    }
}

impl MatchThresholds {
    /// `unicoId.result` for the smallest distance to the code's enrolled faces (`None`: the
    /// code has none).
    pub fn identity(self, nearest: Option<f32>) -> IdentityResult {
        match nearest {
            Some(d) if d <= self.accept => IdentityResult::Yes,
            Some(d) if d > self.reject => IdentityResult::No,
            _ => IdentityResult::Inconclusive,
        }
    }

    /// Whether a pair of thresholds can be used: finite, `0 < accept <= reject`.
    pub fn valid(self) -> bool {
        self.accept.is_finite()
            && self.reject.is_finite()
            && 0.0 < self.accept
            && self.accept <= self.reject
    }
}

/// Which engines decide a tenant's processes (§17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineSet {
    /// The §8 scenarios (the default of sandbox tenants; never production).
    Scenarios,
    /// The local face engines (the default of production tenants).
    Local,
}

impl EngineSet {
    /// The default of an environment.
    pub fn default_for(sandbox: bool) -> EngineSet {
        if sandbox {
            EngineSet::Scenarios
        } else {
            EngineSet::Local
        }
    }

    /// The spelling of `set-engines`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineSet::Scenarios => "scenarios",
            EngineSet::Local => "local",
        }
    }

    /// Parses `local` or `scenarios`.
    pub fn parse(name: &str) -> Option<EngineSet> {
        match name {
            "local" => Some(EngineSet::Local),
            "scenarios" => Some(EngineSet::Scenarios),
            _ => None,
        }
    }
}

/// A tenant's engine settings as stored: `None` fields take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EngineSettings {
    /// The engine set (`None`: the environment's default).
    pub set: Option<EngineSet>,
    /// The match thresholds (`None`: the model's defaults).
    pub thresholds: Option<MatchThresholds>,
}

/// Which engine decides one person's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// A §8 scenario.
    Scenario(Scenario),
    /// The local engines.
    Local,
}

impl EngineSettings {
    /// The engine set in effect: production never uses scenarios.
    pub fn effective(self, sandbox: bool) -> EngineSet {
        if !sandbox {
            return EngineSet::Local;
        }
        self.set.unwrap_or(EngineSet::default_for(sandbox))
    }

    /// The thresholds in effect.
    pub fn thresholds(self) -> MatchThresholds {
        self.thresholds.unwrap_or_default()
    }

    /// Which engine decides the process of the person with `code`: on `scenarios`, the §8
    /// table (anything else approved); on `local`, the local engines, except that a sandbox
    /// keeps the eight §8 CPFs' scenarios.
    pub fn decider(self, code: &str, sandbox: bool) -> Decider {
        match self.effective(sandbox) {
            EngineSet::Scenarios => Decider::Scenario(Scenario::for_person(code, true)),
            EngineSet::Local => match Scenario::listed(code) {
                Some(s) if sandbox => Decider::Scenario(s),
                _ => Decider::Local,
            },
        }
    }
}

/// `unicoId.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityResult {
    /// The person is who the code says.
    Yes,
    /// Another person.
    No,
    /// Cannot tell.
    Inconclusive,
}

impl IdentityResult {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityResult::Yes => "yes",
            IdentityResult::No => "no",
            IdentityResult::Inconclusive => "inconclusive",
        }
    }
}

/// What an engine concluded for a finished process: what §5, §6 and §7 render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// API status once finished: 2, 3 or 5.
    pub status: u8,
    /// `unicoId.result` (`None` when the process errored).
    pub identity: Option<IdentityResult>,
    /// Whether liveness passed.
    pub live: bool,
    /// Risk score when inconclusive.
    pub score: Option<i32>,
    /// Behavior alert (`identityFraudsters.result`: `yes` or `inconclusive`), when searched.
    pub behavior_alert: Option<IdentityResult>,
}

/// What the local engines decided for an onboarding selfie: stored with the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalVerdict {
    /// `unicoId.result`.
    pub identity: IdentityResult,
    /// The passive liveness check.
    pub live: bool,
    /// The risk score (−100…100; shown only when inconclusive, as §5 says).
    pub score: i32,
    /// The fraud search's finding (`None`: not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraud_alert: Option<bool>,
}

/// What the local engines measured for one selfie, as [`LocalVerdict::decide`] takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Smallest distance to the faces enrolled under the person's code (`None`: none).
    pub nearest_enrolled: Option<f32>,
    /// The passive liveness check.
    pub live: bool,
    /// The fraud search: `None` when it did not run, `Some(None)` when no face is enrolled
    /// under another code, else the distance to the nearest.
    pub nearest_other: Option<Option<f32>>,
}

impl LocalVerdict {
    /// The verdict (docs/engines.md): identity from the distance and the thresholds — when
    /// liveness was asked for (`liveness_asked`), a selfie that does not look live never
    /// confirms an identity (`yes` becomes `inconclusive`, so §5 shows `liveness: 2`); the
    /// fraud alert when another code's face is within `accept`; the risk score by
    /// [`risk_score`].
    pub fn decide(m: Measured, t: MatchThresholds, liveness_asked: bool) -> LocalVerdict {
        let mut identity = t.identity(m.nearest_enrolled);
        if liveness_asked && !m.live && identity == IdentityResult::Yes {
            identity = IdentityResult::Inconclusive;
        }
        let fraud_alert = m
            .nearest_other
            .map(|nearest| nearest.is_some_and(|d| t.accepts(d)));
        LocalVerdict {
            identity,
            live: m.live,
            score: risk_score(m.nearest_enrolled, m.live, fraud_alert == Some(true), t),
            fraud_alert,
        }
    }

    /// The outcome it renders.
    pub fn outcome(self) -> Outcome {
        Outcome {
            status: 3,
            identity: Some(self.identity),
            live: self.live,
            score: (self.identity == IdentityResult::Inconclusive).then_some(self.score),
            behavior_alert: self.fraud_alert.map(|alert| {
                if alert {
                    IdentityResult::Yes
                } else {
                    IdentityResult::Inconclusive
                }
            }),
        }
    }
}

/// Selfies a journey refuses at its gates before the process finishes as failed (§17).
pub const MAX_CAPTURE_REFUSALS: u32 = 5;

/// Which engine decided a journey's capture (Web & SDK, Magic Link) and what it concluded;
/// stored with the capture. Older records hold only `scenario`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureDecision {
    /// The §8 scenario, when the scenario engine decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Scenario>,
    /// The local engines' verdict, when they decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<LocalVerdict>,
    /// What the local engines measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<ProcessAnalysis>,
}

impl CaptureDecision {
    /// Decided by a §8 scenario.
    pub fn scenario(scenario: Scenario) -> CaptureDecision {
        CaptureDecision {
            scenario: Some(scenario),
            ..CaptureDecision::default()
        }
    }

    /// Neither: the journey refused [`MAX_CAPTURE_REFUSALS`] selfies at its gates.
    pub fn refused() -> CaptureDecision {
        CaptureDecision::default()
    }

    /// Whether the journey finished by refusing its selfies.
    pub fn is_refused(&self) -> bool {
        self.scenario.is_none() && self.verdict.is_none()
    }

    /// What it concluded (a refused journey: finished, not live, no identity).
    pub fn outcome(&self) -> Outcome {
        match (&self.verdict, self.scenario) {
            (Some(v), _) => v.outcome(),
            (None, Some(s)) => s.outcome(),
            (None, None) => Outcome {
                status: 3,
                identity: None,
                live: false,
                score: None,
                behavior_alert: None,
            },
        }
    }

    /// Its name: the scenario's, `local`, or `refused`.
    pub fn name(&self) -> &'static str {
        match (&self.verdict, self.scenario) {
            (Some(_), _) => "local",
            (None, Some(s)) => s.name(),
            (None, None) => "refused",
        }
    }
}

/// The risk score, −100 (certainly not the person) … 100 (certainly the person): 100 at or
/// under `accept`, −100 at or over `reject`, linear between; 0 with no enrolled face; 50 off
/// when the selfie does not look live; −100 with a fraud alert. Clamped to −100…100.
pub fn risk_score(nearest: Option<f32>, live: bool, fraud_alert: bool, t: MatchThresholds) -> i32 {
    if fraud_alert {
        return -100;
    }
    let by_distance = match nearest {
        None => 0.0,
        Some(d) if d <= t.accept => 100.0,
        Some(d) if d >= t.reject => -100.0,
        Some(d) => 100.0 - 200.0 * (d - t.accept) / (t.reject - t.accept),
    };
    let score = by_distance - if live { 0.0 } else { 50.0 };
    (score.round() as i32).clamp(-100, 100)
}

/// Face embeddings are compared by plain Euclidean distance.
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distance_is_accepted_up_to_the_line() {
        let t = MatchThresholds::default();
        assert!(t.accepts(0.3) && t.accepts(0.4));
        assert!(!t.accepts(0.41) && !t.accepts(f32::NAN));
    }

    #[test]
    fn identity_follows_the_thresholds() {
        let t = MatchThresholds::default();
        assert_eq!(t.identity(Some(0.4)), IdentityResult::Yes);
        assert_eq!(t.identity(Some(0.5)), IdentityResult::Inconclusive);
        assert_eq!(t.identity(Some(0.6)), IdentityResult::Inconclusive);
        assert_eq!(t.identity(Some(0.61)), IdentityResult::No);
        assert_eq!(t.identity(None), IdentityResult::Inconclusive);
        assert_eq!(t.identity(Some(f32::NAN)), IdentityResult::Inconclusive);
    }

    #[test]
    fn a_verdict_never_confirms_a_selfie_that_is_not_live() {
        let t = MatchThresholds::default();
        let m = Measured {
            nearest_enrolled: Some(0.2),
            live: false,
            nearest_other: None,
        };
        let v = LocalVerdict::decide(m, t, true);
        assert_eq!(v.identity, IdentityResult::Inconclusive);
        assert_eq!(v.score, 50);
        assert_eq!(v.outcome().score, Some(50));
        let unasked = LocalVerdict::decide(m, t, false);
        assert_eq!(unasked.identity, IdentityResult::Yes);
        assert_eq!(
            unasked.outcome().score,
            None,
            "a score only when inconclusive"
        );
        assert_eq!(v.outcome().behavior_alert, None);
        let v = LocalVerdict::decide(
            Measured {
                live: true,
                nearest_other: Some(Some(0.3)),
                ..m
            },
            t,
            true,
        );
        assert_eq!(v.identity, IdentityResult::Yes);
        assert_eq!(v.fraud_alert, Some(true));
        assert_eq!(v.score, -100);
        assert_eq!(v.outcome().behavior_alert, Some(IdentityResult::Yes));
        let v = LocalVerdict::decide(
            Measured {
                live: true,
                nearest_other: Some(None),
                ..m
            },
            t,
            true,
        );
        assert_eq!(
            v.outcome().behavior_alert,
            Some(IdentityResult::Inconclusive)
        );
    }

    #[test]
    fn the_risk_score_is_linear_between_the_lines() {
        let t = MatchThresholds::default();
        assert_eq!(risk_score(Some(0.1), true, false, t), 100);
        assert_eq!(risk_score(Some(0.5), true, false, t), 0);
        assert_eq!(risk_score(Some(0.45), true, false, t), 50);
        assert_eq!(risk_score(Some(0.9), true, false, t), -100);
        assert_eq!(risk_score(Some(0.9), false, false, t), -100);
        assert_eq!(risk_score(None, true, false, t), 0);
        assert_eq!(risk_score(None, false, false, t), -50);
        assert_eq!(risk_score(Some(0.1), true, true, t), -100);
    }

    #[test]
    fn production_never_uses_scenarios() {
        let on = |set| EngineSettings {
            set: Some(set),
            thresholds: None,
        };
        assert_eq!(on(EngineSet::Scenarios).effective(false), EngineSet::Local);
        assert_eq!(
            EngineSettings::default().effective(true),
            EngineSet::Scenarios
        );
        assert_eq!(
            on(EngineSet::Local).decider("00000000272", true),
            Decider::Scenario(Scenario::IdentityDenied)
        );
        assert_eq!(
            on(EngineSet::Local).decider("52998224725", true),
            Decider::Local
        );
        assert_eq!(
            EngineSettings::default().decider("00000000272", false),
            Decider::Local
        );
        assert_eq!(
            EngineSettings::default().decider("52998224725", true),
            Decider::Scenario(Scenario::Approved)
        );
    }
}
