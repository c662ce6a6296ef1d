//! `POST /sandbox/faults`, `GET /sandbox/faults/{id}` (CONTRACT §12): Bearer only; a plan only
//! ever touches its tenant's requests.

use crate::auth;
use crate::faults::{MAX_LIVE_PLANS, NewPlan};
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
/// A plan's lifetime when the request names none, seconds.
pub const DEFAULT_TTL_SECONDS: u64 = 3600;
/// The longest lifetime a plan may ask for, seconds.
pub const MAX_TTL_SECONDS: u64 = 86_400;
/// Longest `match.path`.
pub const MAX_PATH: usize = 512;

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
    body: axum::body::Body,
) -> ApiResult<Json<FaultPlanView>> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let value = parse_body(&crate::http::body::read_body(&state, body).await?)?;
    let req: FaultPlanRequest = serde_json::from_value(value).map_err(|e| {
        Problem::Invalid(vec![invalid(
            "match",
            FieldReason::Invalid,
            format!("the plan must be {{\"match\": {{\"method\", \"path\"}}, \"faults\": [...], \"global\"?}} ({e})"),
        )])
    })?;
    let mut problems = Vec::new();
    if req.matcher.method.as_deref().is_some_and(|m| {
        m.is_empty() || m.len() > 16 || !m.bytes().all(|b| b.is_ascii_alphabetic())
    }) {
        problems.push(invalid(
            "match.method",
            FieldReason::Invalid,
            "match.method must be an HTTP method such as POST",
        ));
    }
    if req.matcher.path.len() > MAX_PATH {
        problems.push(invalid(
            "match.path",
            FieldReason::TooLong,
            format!("match.path may be at most {MAX_PATH} characters"),
        ));
    } else if !req.matcher.path.starts_with('/') {
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
    let ttl = req.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        problems.push(invalid(
            "ttlSeconds",
            FieldReason::Invalid,
            format!(
                "ttlSeconds must be from 1 to {MAX_TTL_SECONDS} (default {DEFAULT_TTL_SECONDS})"
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(Problem::Invalid(problems).into());
    }
    let now = state.now();
    let plan = NewPlan {
        matcher: req.matcher,
        faults,
        global: req.global,
        expires_at: now + ttl as i64,
    };
    let created = state
        .shared
        .faults
        .create(&*state.shared.store, &principal.tenant_id, plan, now)
        .map_err(crate::services::store_failure)?;
    let view = created.ok_or_else(|| {
            Problem::Invalid(vec![invalid(
                "faults",
                FieldReason::Invalid,
                format!("this tenant already holds {MAX_LIVE_PLANS} live fault plans; let some expire (ttlSeconds) before adding more"),
            )])
        })?;
    Ok(Json(view))
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
        .view(&*state.shared.store, &principal.tenant_id, &id, state.now())
        .map_err(crate::services::store_failure)?
        .ok_or_else(|| Problem::NotFound {
            what: format!("fault plan {id}"),
        })?;
    Ok(Json(view))
}
