//! `POST /processes/v1`, `GET /processes/v1/{id}`, `GET /processes/v1?clientReference=`:
//! checks run 413 (declared length) → 401 → 429 → 413 (body read) → 403 → (idempotency
//! 409/422) → 400 → 404/410.

use crate::auth::{self, Caller};
use crate::http::body::read_upload;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::services::idempotency::{self, Ticket};
use crate::services::processes;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use selo_domain::problem::Problem;
use selo_domain::validation::parse_body;
use selo_wire::analysis::ProcessAnalysis;
use selo_wire::process::{ApiProcess, ProcessList};
use std::collections::HashMap;

/// Creates a process (onboarding or transactional), honouring `Idempotency-Key`.
pub async fn create(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    // Credentials first: a request that fails them is answered without reading its body.
    let caller = auth::authenticate(&state, &headers, &notes)?;
    let (_permit, body) = read_upload(&state, &caller.principal.tenant_id, body).await?;
    // 403 before anything about the body or its Idempotency-Key (CONTRACT §10's order).
    let parsed = parse_body(&body);
    processes::check_create_capability(parsed.as_ref().ok(), &caller.capabilities)?;
    let tenant = caller.principal.tenant_id.clone();
    let route = idempotency::CREATE_PROCESS;
    Ok(
        idempotency::keyed(&state, &tenant, route, &headers, &body, async |ticket| {
            run_create(&state, &caller, parsed, ticket).await
        })
        .await?,
    )
}

async fn run_create(
    state: &AppState,
    caller: &Caller,
    parsed: Result<serde_json::Value, Problem>,
    ticket: Option<&Ticket>,
) -> Result<Vec<u8>, Problem> {
    let valid = processes::validate(state, parsed?).await?;
    let decision = processes::decide(state, caller, &valid).await?;
    // The selfie's fsync and the commit block: keep them off the async workers' queue.
    tokio::task::block_in_place(|| processes::create(state, caller, valid, decision, ticket))
}

/// Reads a process.
pub async fn get(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiProcess>> {
    // The API key and the process are read together (one store round trip); the process is
    // used only once every authentication check passed.
    let wanted = id.to_ascii_lowercase();
    let (caller, record) =
        auth::authenticate_reading(&state, &headers, &notes, |store, key, tenant| {
            store.api_key_and_process(key, tenant, &wanted)
        })?;
    Ok(Json(processes::view(
        &state,
        &caller.principal,
        &id,
        record,
    )?))
}

/// **[ext]** What the engines measured for a process (CONTRACT §17).
pub async fn analysis(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<ProcessAnalysis>> {
    let wanted = id.to_ascii_lowercase();
    let (caller, record) =
        auth::authenticate_reading(&state, &headers, &notes, |store, key, tenant| {
            store.api_key_and_process(key, tenant, &wanted)
        })?;
    Ok(Json(processes::analysis(
        &state,
        &caller.principal,
        &id,
        record,
    )?))
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
