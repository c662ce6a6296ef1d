//! `/livez`, `/readyz`, `/metrics`.

use crate::state::{AppState, Shared};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

/// The process is up.
pub async fn livez() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The store answers.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.shared.store.ping() {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "the store does not answer"})),
            )
        }
    }
}

/// Prometheus text metrics (sandbox listeners; production's are on `--metrics-listen` only).
pub async fn metrics(State(state): State<AppState>) -> Response {
    metrics_text(&state.shared)
}

/// The Prometheus text of `shared`'s counters.
fn metrics_text(shared: &Shared) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

/// The router of the `--metrics-listen` address: `GET /metrics` and nothing else, for every
/// environment's counters.
pub fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let shared = shared.clone();
            async move { metrics_text(&shared) }
        }),
    )
}
