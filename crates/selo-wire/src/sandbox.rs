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

/// `POST /sandbox/faults` body (CONTRACT §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlanRequest {
    /// Which requests the plan applies to.
    #[serde(rename = "match")]
    pub matcher: FaultMatch,
    /// Faults consumed in order (`503`, `500:after-commit`, `429:retry-after=2`, `reset`,
    /// `delay:1500ms`, `ok`).
    pub faults: Vec<String>,
    /// Apply to every matching request of the tenant, without the `Selo-Fault-Plan` header.
    #[serde(default)]
    pub global: bool,
    /// Seconds until the plan expires (default 3600, at most 86 400).
    #[serde(default, rename = "ttlSeconds")]
    pub ttl_seconds: Option<u64>,
}

/// The requests a plan applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultMatch {
    /// HTTP method (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Exact path, without the query (`/processes/v1`).
    pub path: String,
}

/// A fault plan and what it has done so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlanView {
    /// Plan id (send it as `Selo-Fault-Plan`).
    pub id: String,
    /// Which requests it applies to.
    #[serde(rename = "match")]
    pub matcher: FaultMatch,
    /// Its faults, in order.
    pub faults: Vec<String>,
    /// Whether it applies without the header.
    pub global: bool,
    /// The faults consumed so far.
    pub consumed: Vec<ConsumedFault>,
    /// How many faults are left.
    pub remaining: usize,
    /// When the plan expires (RFC 3339); it is forgotten then.
    #[serde(rename = "expiresAt")]
    pub expires_at: String,
}

/// One consumed fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumedFault {
    /// The fault.
    pub fault: String,
    /// When (RFC 3339).
    pub at: String,
    /// The request it hit.
    pub request_id: String,
    /// `METHOD /path` of that request.
    pub request: String,
}
