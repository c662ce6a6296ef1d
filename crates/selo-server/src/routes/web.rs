//! The Web & SDK contract: `/client/v1/process…` (Bearer only) and the journey's capture
//! call. Checks run 413 → 401 → 429 → 403 → (idempotency) → 400 → 404/409/410.

use crate::auth;
use crate::http::body::read_body;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::services::idempotency;
use crate::services::web;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::validation::parse_body;
use selo_domain::web::{WebProcessRecord, validate_web_create};
use selo_store::Tenant;
use selo_wire::error::FieldReason;
use serde_json::{Value, json};
use std::collections::HashMap;

/// `POST /client/v1/process`.
pub async fn create(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let body = read_body(&state, body).await?;
    // 403 (flow not enabled) before anything about the body or its Idempotency-Key.
    let parsed = parse_body(&body);
    if let Ok(value) = &parsed {
        web::check_flow(&web::tenant(&state, &principal)?, value)?;
    }
    let route = idempotency::CREATE_WEB_PROCESS;
    let tenant = principal.tenant_id.clone();
    Ok(
        idempotency::keyed(&state, &tenant, route, &headers, &body, async |ticket| {
            let valid = validate_web_create(&parsed?)?;
            web::create(&state, &principal, valid, ticket)
        })
        .await?,
    )
}

/// `GET /client/v1/process/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let p = web::load(&state, &principal, &id)?;
    Ok(Json(web::envelope(&state, &p)))
}

/// **[ext]** `GET /client/v1/process/{id}/analysis` (CONTRACT §17).
pub async fn analysis(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<selo_wire::analysis::ProcessAnalysis>> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let p = web::load(&state, &principal, &id)?;
    Ok(Json(web::analysis(&p)?))
}

/// **[ext]** `GET /client/v1/process?clientReference=X`.
pub async fn find(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let reference = query
        .get("clientReference")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Problem::Invalid(vec![FieldProblem::new(
                "clientReference",
                FieldReason::Required,
                "3",
                "clientReference is required: GET /client/v1/process?clientReference=<your reference>",
            )])
        })?;
    let items: Vec<Value> = state
        .shared
        .store
        .web_processes_by_reference(&principal.tenant_id, reference, 50)
        .map_err(|e| {
            tracing::error!(error = %e, "lookup failed");
            Problem::Internal
        })?
        .iter()
        .map(|p| web::envelope(&state, p)["process"].clone())
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /client/v1/process/{id}/selfie`.
pub async fn selfie(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    file(&state, &notes, &headers, &id, "selfie", web::selfie)
}

/// `GET /client/v1/process/{id}/evidenceset`.
pub async fn evidence_set(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    file(
        &state,
        &notes,
        &headers,
        &id,
        "evidenceset",
        web::evidence_set,
    )
}

/// A file of a process (`{fileContents, contentType}`), made by `fetch` off the async queue.
fn file(
    state: &AppState,
    notes: &Annotations,
    headers: &HeaderMap,
    id: &str,
    permission: &str,
    fetch: fn(&AppState, &Tenant, &WebProcessRecord) -> Result<Value, Problem>,
) -> ApiResult<Json<Value>> {
    let principal = auth::bearer(state, headers)?;
    auth::rate_limit(state, &principal.tenant_id, notes)?;
    let tenant = web::tenant(state, &principal)?;
    // 403 before 400/404 (CONTRACT §10's order).
    web::require_permission(&tenant, permission)?;
    let p = web::load(state, &principal, id)?;
    Ok(Json(tokio::task::block_in_place(|| {
        fetch(state, &tenant, &p)
    })?))
}

/// `POST /client/v1/process/{id}/document`.
pub async fn set_document(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Json<Value>> {
    let principal = auth::bearer(&state, &headers)?;
    auth::rate_limit(&state, &principal.tenant_id, &notes)?;
    let body = parse_body(&read_body(&state, body).await?)?;
    Ok(Json(web::set_document(&state, &principal, &id, &body)?))
}

/// The journey's capture: `POST /journey/v1/process/{id}/capture {imageBase64}`, the process
/// token in the `Selo-Journey-Token` header (or `?token=`), so it is checked before the body is
/// read (CONTRACT §19).
pub async fn capture(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Json<Value>> {
    let token = headers
        .get(web::JOURNEY_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| query.get("token").map(String::as_str))
        .unwrap_or_default();
    let done = web::capture(&state, &notes, &id, token, body).await?;
    let view = done.view(state.now(), &web::journey_url(&state, &done));
    let redirect = (done.callback_uri != "/").then(|| done.callback_uri.clone());
    Ok(Json(json!({
        "state": view["state"],
        "result": view["result"],
        "redirectUrl": redirect,
    })))
}
