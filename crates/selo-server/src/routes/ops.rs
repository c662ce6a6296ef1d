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

/// The store answers, and the storage takes writes.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let probe = state.clone();
    if state.shared.storage.is_full()
        && !tokio::task::spawn_blocking(move || storage_takes_writes(&probe))
            .await
            .unwrap_or(false)
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "reason": "the storage is full: writes are refused until space is freed"}),
            ),
        );
    }
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

/// Whether a small write to the blob storage succeeds now (asked only while the last writes
/// found the storage full; a success clears that state).
fn storage_takes_writes(state: &AppState) -> bool {
    const PROBE: &str = "readyz/probe";
    let ok = state.shared.blobs.put(PROBE, &[0u8; 4096]).is_ok();
    let _ = state.shared.blobs.delete(PROBE);
    if ok {
        state.shared.storage.wrote();
    }
    ok
}

/// Prometheus text metrics of this (sandbox) listener's environment alone; every
/// environment's are on `--metrics-listen` only.
pub async fn metrics(State(state): State<AppState>) -> Response {
    metrics_text(&state.shared, Some(&state.env.name))
}

/// The Prometheus text of `shared`'s counters (of environment `only`, when given).
fn metrics_text(shared: &Shared, only: Option<&str>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        shared.metrics.render(only),
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
            async move { metrics_text(&shared, None) }
        }),
    )
}
