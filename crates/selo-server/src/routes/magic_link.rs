//! Magic Link: `POST /v2/magic-link`, `GET /v2/magic-link/{token}` (`x-api-key` only), the
//! link's journey page and capture.

use crate::auth;
use crate::http::body::read_body;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::services::idempotency;
use crate::services::magic_link;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use selo_domain::validation::parse_body;
use serde_json::{Value, json};

/// `POST /v2/magic-link`.
pub async fn create(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let tenant = auth::magic_link_key(&state, &headers, &notes)?;
    let body = read_body(&state, body).await?;
    let route = idempotency::CREATE_MAGIC_LINK;
    Ok(
        idempotency::keyed(&state, &tenant, route, &headers, &body, async |ticket| {
            let value = parse_body(&body)?;
            magic_link::create(&state, &tenant, &value, ticket)
        })
        .await?,
    )
}

/// `GET /v2/magic-link/{token}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = auth::magic_link_key(&state, &headers, &notes)?;
    let link = magic_link::load(&state, &tenant, &token)?;
    Ok(Json(magic_link::view(
        &state,
        &link,
        json!({"token": token}),
    )))
}

/// `POST /journey/v1/link/{token}/capture {imageBase64}`.
pub async fn capture(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    Path(token): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Json<Value>> {
    let done = magic_link::capture(&state, &notes, &token, body).await?;
    let data = done.data(&magic_link::link_url(&state, &done.token));
    Ok(Json(json!({
        "state": "PROCESS_STATE_FINISHED",
        "result": data["result"]["status"],
        "redirectUrl": done.redirect_url(),
    })))
}
