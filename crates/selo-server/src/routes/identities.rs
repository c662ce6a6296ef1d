//! **[ext]** `POST /identities/v1`, `DELETE /identities/v1/{code}` (CONTRACT §17): checks run
//! 401 → 429 → 413 → 403 → 400 → 503 (no engines).

use crate::auth;
use crate::http::body::read_upload;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::services::identities;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use selo_domain::validation::parse_body;
use selo_wire::analysis::Enrolled;

/// Enrols a face under a person code.
pub async fn enroll(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Json<Enrolled>> {
    let caller = auth::authenticate(&state, &headers, &notes)?;
    let (_permit, body) = read_upload(&state, &caller.principal.tenant_id, body).await?;
    identities::check_capability(&caller)?;
    let body = parse_body(&body)?;
    Ok(Json(identities::enroll(&state, &caller, body).await?))
}

/// Erases the faces enrolled under a person code.
pub async fn remove(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = auth::authenticate(&state, &headers, &notes)?;
    identities::check_capability(&caller)?;
    identities::remove(&state, &caller, &code)?;
    Ok(StatusCode::NO_CONTENT)
}
