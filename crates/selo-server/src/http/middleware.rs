//! The one middleware every request passes: it adopts or mints the request id, refuses
//! oversized bodies first (413 precedes 401, CONTRACT §10), bounds the request's time, renders
//! problems, stamps `Request-Id`, counts the request and writes one log line.

use crate::http::context::Annotations;
use crate::http::fault;
use crate::http::problem::{Contract, render};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use selo_domain::clock::rfc3339_millis;
use selo_domain::fault::Fault;
use selo_domain::problem::Problem;
use selo_domain::rate_limit::Quota;
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

/// `RateLimit-Policy` and `RateLimit` (IETF httpapi draft, structured-field form).
pub fn add_quota_headers(headers: &mut HeaderMap, q: &Quota) {
    let policy = format!("\"tenant\";q={};w={}", q.limit, q.window_seconds);
    let now = format!("\"tenant\";r={};t={}", q.remaining, q.reset_seconds);
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", now)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// Wall-clock milliseconds for request ids (not the controllable clock: ids only order logs).
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Oversized bodies up to this many times the limit are drained before the 413.
const DRAIN_FACTOR: u64 = 4;

async fn drain(mut body: axum::body::Body) {
    use http_body_util::BodyExt;
    while let Some(Ok(_)) = body.frame().await {}
}

/// Runs the request within the per-request timeout.
async fn run(
    state: &AppState,
    req: Request,
    next: Next,
    request_id: &str,
    route: &str,
) -> Response {
    match tokio::time::timeout(state.shared.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::error!(request_id = %request_id, route = %route, "request timed out");
            let mut r = Response::new(axum::body::Body::empty());
            r.extensions_mut().insert(Problem::Unavailable);
            r
        }
    }
}

/// See the module docs.
pub async fn around(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = adopt(req.headers().get("x-request-id"))
        .unwrap_or_else(|| crate::ids::uuid_v7(unix_millis()).simple().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let annotations = Annotations::default();
    req.extensions_mut().insert(annotations.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
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
    let mut res = if let Some(len) = declared_len.filter(|n| *n > limit as u64) {
        // Answer at once, but keep reading (and discarding) a moderately oversized body in the
        // background so that a client still sending receives the 413 instead of a reset
        // connection; a huge one is cut off.
        if len <= DRAIN_FACTOR * limit as u64 {
            let timeout = state.shared.request_timeout;
            tokio::spawn(tokio::time::timeout(timeout, drain(req.into_body())));
        }
        let mut r = Response::new(axum::body::Body::empty());
        r.extensions_mut()
            .insert(Problem::PayloadTooLarge { limit });
        r
    } else {
        let fault = fault::pick(&state, &req, &request_id);
        if let Some((plan, f)) = &fault {
            tracing::info!(request_id = %request_id, plan = %plan, fault = %f, "injecting a fault");
        }
        match fault {
            Some((plan, Fault::Status(status))) => fault::injected(status, None, plan),
            Some((plan, Fault::TooManyRequests { retry_after })) => {
                fault::injected(429, Some(retry_after), plan)
            }
            Some((_, Fault::Reset)) => return fault::reset(),
            Some((plan, Fault::StatusAfterCommit(status))) => {
                let _ = run(&state, req, next, &request_id, &route).await;
                fault::injected(status, None, plan)
            }
            Some((_, Fault::Delay { millis })) => {
                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                run(&state, req, next, &request_id, &route).await
            }
            Some((_, Fault::Ok)) | None => run(&state, req, next, &request_id, &route).await,
        }
    };
    if let Some(problem) = res.extensions_mut().remove::<Problem>() {
        let timestamp = rfc3339_millis(state.shared.clock.now());
        res = render(&problem, Contract::of(&path), &request_id, &timestamp);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("request-id", v);
    }
    res.headers_mut()
        .insert("selo-features", state.features.clone());
    let notes = annotations.get();
    if let Some(quota) = notes.quota {
        add_quota_headers(res.headers_mut(), &quota);
    }
    let tenant = notes.tenant.unwrap_or_else(|| "-".into());
    let latency = started.elapsed();
    state
        .shared
        .metrics
        .record(&state.env.name, &route, res.status().as_u16(), latency);
    tracing::info!(
        env = %state.env.name,
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        latency_us = latency.as_micros() as u64,
        tenant = %tenant,
        request_id = %request_id,
        "request"
    );
    res
}
