//! `POST /processes/v1`, `GET /processes/v1/{id}`, `GET /processes/v1?clientReference=`:
//! checks run 413 → 401 → 429 → 403 → 400 → 404/410.

use crate::auth;
use crate::http::body::LimitedBody;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::services::processes;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use selo_domain::validation::parse_body;
use selo_wire::process::{ApiProcess, ProcessList};
use std::collections::HashMap;

/// Creates a process (onboarding or transactional).
pub async fn create(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> ApiResult<Json<ApiProcess>> {
    let caller = auth::authenticate(&state, &headers, &notes)?;
    let parsed = parse_body(&body);
    processes::check_create_capability(parsed.as_ref().ok(), &caller.capabilities)?;
    let valid = processes::validate(parsed?).await?;
    Ok(Json(processes::create(&state, &caller, valid)?))
}

/// Reads a process.
pub async fn get(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiProcess>> {
    let caller = auth::authenticate(&state, &headers, &notes)?;
    Ok(Json(processes::get(&state, &caller.principal, &id)?))
}

/// **[ext]** The caller's processes with a `clientReference`, newest first.
pub async fn find(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<ProcessList>> {
    let caller = auth::authenticate(&state, &headers, &notes)?;
    let reference = query.get("clientReference").map(String::as_str);
    Ok(Json(processes::find(&state, &caller.principal, reference)?))
}
