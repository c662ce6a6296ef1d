//! The one middleware every request passes: it adopts or mints the request id, refuses
//! oversized bodies first (413 precedes 401, CONTRACT §10), renders problems, stamps
//! `Request-Id` and writes one log line.

use crate::http::problem::render;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use selo_domain::clock::rfc3339_millis;
use selo_domain::problem::Problem;
use std::time::Instant;

/// The request id of the current request (an extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn adopt(value: Option<&HeaderValue>) -> Option<String> {
    let s = value?.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| s.to_string())
}

/// See the module docs.
pub async fn around(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = adopt(req.headers().get("x-request-id"))
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());

    let limit = state.shared.body_limit;
    let mut res = if declared_len.is_some_and(|n| n > limit as u64) {
        let mut r = Response::new(axum::body::Body::empty());
        r.extensions_mut()
            .insert(Problem::PayloadTooLarge { limit });
        r
    } else {
        next.run(req).await
    };
    if let Some(problem) = res.extensions_mut().remove::<Problem>() {
        let timestamp = rfc3339_millis(state.shared.clock.now());
        res = render(&problem, &request_id, &timestamp);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("request-id", v);
    }
    let tenant = res
        .extensions()
        .get::<crate::auth::TenantTag>()
        .map_or("-", |t| t.0.as_str())
        .to_string();
    tracing::info!(
        env = %state.env.name,
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        tenant = %tenant,
        request_id = %request_id,
        "request"
    );
    res
}
