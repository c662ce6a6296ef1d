//! Sandbox extensions: the scenario table and the manual clock (CONTRACT §8, §9).

use crate::http::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use selo_domain::capability::Capabilities;
use selo_domain::clock::rfc3339_millis;
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::process::{ProcessKind, ProcessRecord};
use selo_domain::scenario::{SANDBOX_TABLE, Scenario};
use selo_domain::validation::parse_body;
use selo_wire::error::FieldReason;
use selo_wire::sandbox::{ClockView, ScenarioInfo, ScenarioList};

/// The sandbox table, generated from the engines that apply it.
pub async fn scenarios() -> Json<ScenarioList> {
    let scenarios = SANDBOX_TABLE
        .iter()
        .map(|(cpf, scenario)| {
            let record = ProcessRecord {
                id: "00000000-0000-0000-0000-000000000000".into(),
                tenant_id: String::new(),
                created_at: 0,
                kind: ProcessKind::Onboarding {
                    scenario: *scenario,
                },
                capabilities: Capabilities::all(),
                client_reference: None,
                completes_at: None,
                image_type: String::new(),
                analysis: None,
            };
            let mut api = serde_json::to_value(record.api_view(0)).unwrap_or_default();
            if let Some(obj) = api.as_object_mut() {
                obj.remove("id");
            }
            ScenarioInfo {
                cpf: (*cpf).to_string(),
                scenario: scenario.name().to_string(),
                api,
                completes_after_seconds: scenario.completes_after().map(|s| s as u64),
            }
        })
        .collect();
    Json(ScenarioList {
        scenarios,
        default: Scenario::Approved.name().to_string(),
    })
}

fn view(state: &AppState) -> ClockView {
    let now = state.shared.clock.now();
    ClockView {
        now: rfc3339_millis(now),
        unix: now.unix_timestamp(),
    }
}

/// Reads the manual clock.
pub async fn clock(State(state): State<AppState>) -> Json<ClockView> {
    Json(view(&state))
}

/// The largest single move of the manual clock: ten years (CONTRACT §19).
pub const MAX_ADVANCE_SECONDS: i64 = 315_360_000;

fn advance_problem(message: String) -> ApiError {
    ApiError(Problem::Invalid(vec![FieldProblem::new(
        "advanceSeconds",
        FieldReason::Invalid,
        "20003",
        message,
    )]))
}

/// Moves the manual clock forward.
pub async fn advance_clock(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ClockView>> {
    let body = parse_body(&body)?;
    let seconds = body
        .get("advanceSeconds")
        .and_then(serde_json::Value::as_i64)
        .filter(|s| (0..=MAX_ADVANCE_SECONDS).contains(s))
        .ok_or_else(|| {
            advance_problem(format!(
                "advanceSeconds must be a whole number of seconds from 0 to {MAX_ADVANCE_SECONDS}"
            ))
        })?;
    if let Some(clock) = &state.shared.manual_clock {
        if !clock.advance(seconds) {
            return Err(advance_problem(format!(
                "the clock cannot move {seconds} s further (it would pass the year 2262); \
                 advanceSeconds must be from 0 to {MAX_ADVANCE_SECONDS} and keep the clock representable"
            )));
        }
        // The recorded clock moves by the same step: `selo admin` and the other nodes read
        // it (every node's moves add up), and this node catches up with theirs.
        let step = seconds.saturating_mul(1_000_000_000);
        match state.shared.store.advance_manual_clock(step) {
            Ok(Some(recorded)) => clock.catch_up(recorded),
            Ok(None) => tracing::error!("the manual clock is not recorded in the store"),
            Err(e) => tracing::error!(error = %e, "recording the manual clock failed"),
        }
        // Test rigs see retention applied at once instead of at the next sweep.
        let shared = state.shared.clone();
        let _ = tokio::task::spawn_blocking(move || crate::sweeper::sweep(&shared)).await;
    }
    Ok(Json(view(&state)))
}
