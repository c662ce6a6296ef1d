//! Bodies of Selo's sandbox extensions (`/sandbox/scenarios`, `/sandbox/clock`).

use serde::{Deserialize, Serialize};

/// `GET /sandbox/scenarios`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioList {
    /// One entry per sandbox CPF.
    pub scenarios: Vec<ScenarioInfo>,
    /// What any other valid CPF or CURP gets.
    pub default: String,
}

/// One row of the sandbox table (CONTRACT §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioInfo {
    /// The CPF that selects the scenario.
    pub cpf: String,
    /// Scenario name (`approved`, `identity-denied`, …).
    pub scenario: String,
    /// The API-contract outcome once finished, with every capability on (`POST /processes/v1`
    /// answers this at once, except the async row, which answers `{"status": 1}` until
    /// `completesAfterSeconds` have passed).
    pub api: serde_json::Value,
    /// Seconds after creation at which the process finishes (async scenarios only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completes_after_seconds: Option<u64>,
}

/// `GET|POST /sandbox/clock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockView {
    /// RFC 3339.
    pub now: String,
    /// Unix seconds.
    pub unix: i64,
}

/// `POST /sandbox/clock` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockAdvance {
    /// Seconds to move the manual clock forward (≥ 0).
    pub advance_seconds: i64,
}
