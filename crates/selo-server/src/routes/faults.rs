//! `POST /sandbox/faults`, `GET /sandbox/faults/{id}` (CONTRACT §12): Bearer only; a plan only
//! ever touches its tenant's requests.

use crate::auth;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use selo_domain::fault::Fault;
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::validation::parse_body;
use selo_wire::error::FieldReason;
use selo_wire::sandbox::{FaultPlanRequest, FaultPlanView};

/// Most faults one plan may hold.
pub const MAX_FAULTS: usize = 100;

fn invalid(
    field: impl Into<String>,
    reason: FieldReason,
    message: impl Into<String>,
) -> FieldProblem {
    FieldProblem::new(field, reason, "20003", message)
}

/// Creates a plan.
pub async fn create(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<FaultPlanView>> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let value = parse_body(&body)?;
    let req: FaultPlanRequest = serde_json::from_value(value).map_err(|e| {
        Problem::Invalid(vec![invalid(
            "match",
            FieldReason::Invalid,
            format!("the plan must be {{\"match\": {{\"method\", \"path\"}}, \"faults\": [...], \"global\"?}} ({e})"),
        )])
    })?;
    let mut problems = Vec::new();
    if !req.matcher.path.starts_with('/') {
        problems.push(invalid(
            "match.path",
            FieldReason::Invalid,
            "match.path must be a path such as /processes/v1",
        ));
    }
    if req.faults.is_empty() || req.faults.len() > MAX_FAULTS {
        problems.push(invalid(
            "faults",
            FieldReason::Required,
            format!("faults must hold 1 to {MAX_FAULTS} faults"),
        ));
    }
    let mut faults = Vec::new();
    for (i, f) in req.faults.iter().enumerate() {
        match f.parse::<Fault>() {
            Ok(fault) => faults.push(fault),
            Err(e) => problems.push(invalid(format!("faults[{i}]"), FieldReason::Invalid, e)),
        }
    }
    if !problems.is_empty() {
        return Err(Problem::Invalid(problems).into());
    }
    Ok(Json(state.shared.faults.create(
        &principal.tenant_id,
        req.matcher,
        faults,
        req.global,
    )))
}

/// Shows a plan and what it consumed.
pub async fn show(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<FaultPlanView>> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let view = state
        .shared
        .faults
        .view(&principal.tenant_id, &id)
        .ok_or_else(|| Problem::NotFound {
            what: format!("fault plan {id}"),
        })?;
    Ok(Json(view))
}
