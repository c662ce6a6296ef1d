//! `POST /processes/v1`, `GET /processes/v1/{id}`: checks run 413 → 401 → 403 → 400 → 404/410.

use crate::auth::{self, TenantTag};
use crate::http::body::LimitedBody;
use crate::http::problem::ApiResult;
use crate::services::processes;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use selo_domain::validation::parse_body;

/// Creates a process (onboarding or transactional).
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> ApiResult<Response> {
    let principal = auth::bearer(&state, &headers)?;
    let caps = auth::api_key(&state, &headers, &principal)?;
    let parsed = parse_body(&body);
    processes::check_create_capability(parsed.as_ref().ok(), &caps)?;
    let valid = processes::validate(parsed?).await?;
    let view = processes::create(&state, &principal, &caps, valid)?;
    let mut res = Json(view).into_response();
    res.extensions_mut().insert(TenantTag(principal.tenant_id));
    Ok(res)
}

/// Reads a process.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let principal = auth::bearer(&state, &headers)?;
    auth::api_key(&state, &headers, &principal)?;
    let view = processes::get(&state, &principal, &id)?;
    let mut res = Json(view).into_response();
    res.extensions_mut().insert(TenantTag(principal.tenant_id));
    Ok(res)
}
