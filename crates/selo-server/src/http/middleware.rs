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
use http_body::Body as _;
use selo_domain::clock::rfc3339_millis;
use selo_domain::fault::Fault;
use selo_domain::problem::Problem;
use selo_domain::rate_limit::Quota;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

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

/// Of a body left unread (answered before it was read: too large, or refused before its
/// credentials passed), up to this many times the body limit is drained.
const UNREAD_DRAIN_FACTOR: u64 = 4;

/// Reads and discards what is left of `body`, at most `max_bytes`.
async fn drain(mut body: axum::body::Body, max_bytes: u64) {
    use http_body_util::BodyExt;
    let mut read = 0u64;
    while read <= max_bytes
        && let Some(Ok(frame)) = body.frame().await
    {
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
}

/// How long the rest of a body a handler did not read (its request failed its credentials or
/// rate limit) is drained, so that a client still sending receives the answer instead of a
/// reset connection; a body that does not come is abandoned then. A body refused for its
/// declared size is drained for the request timeout instead: its client is sending a large
/// body on purpose, perhaps slowly.
const UNREAD_DRAIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// A request body that records when it has been read to its end; dropped unread, it drains
/// the rest in the background (a bounded number of bytes, for a bounded time).
struct WatchedBody {
    inner: axum::body::Body,
    progress: Arc<BodyProgress>,
    drain_bytes: u64,
    drain_window: std::time::Duration,
}

/// How far the reading of a request's body got.
#[derive(Default)]
struct BodyProgress {
    /// The handler began reading it (it was past its credentials and waiting on no capacity).
    started: AtomicBool,
    /// It was read to its end.
    arrived: AtomicBool,
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        if self.progress.arrived.load(Ordering::Relaxed) || self.inner.is_end_stream() {
            return;
        }
        let rest = std::mem::take(&mut self.inner);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let max_bytes = self.drain_bytes;
            runtime.spawn(tokio::time::timeout(
                self.drain_window,
                drain(rest, max_bytes),
            ));
        }
    }
}

impl http_body::Body for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.progress.started.store(true, Ordering::Relaxed);
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.progress.arrived.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Runs the request within the per-request timeout. A request whose body was being read and
/// had not arrived in full by then is the client's (408); one that was still being worked on,
/// or waiting for capacity before its body was read, is the platform's (503).
async fn run(
    state: &AppState,
    req: Request,
    next: Next,
    progress: &BodyProgress,
    request_id: &str,
    route: &str,
) -> Response {
    let timeout = state.shared.request_timeout;
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            let client_slow = progress.started.load(Ordering::Relaxed)
                && !progress.arrived.load(Ordering::Relaxed);
            let problem = if !client_slow {
                tracing::error!(request_id = %request_id, route = %route, "request timed out");
                Problem::Unavailable
            } else {
                tracing::info!(request_id = %request_id, route = %route, "request body did not arrive in time");
                Problem::BodyTimeout {
                    seconds: timeout.as_secs(),
                }
            };
            let mut r = Response::new(axum::body::Body::empty());
            r.extensions_mut().insert(problem);
            r
        }
    }
}

/// See the module docs.
pub async fn around(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = adopt(req.headers().get("x-request-id"))
        .unwrap_or_else(|| crate::ids::request_id(unix_millis()).simple().to_string());
    let annotations = Annotations::default();
    req.extensions_mut().insert(annotations.clone());
    let method = req.method().clone();
    let contract = Contract::of(req.uri().path());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    // A create sent without an Idempotency-Key gets its lookup advice on a 5xx (worked out
    // then, from the route).
    let keyless_post =
        method == axum::http::Method::POST && !req.headers().contains_key("idempotency-key");
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = state.shared.body_limit;
    let too_large = declared_len.is_some_and(|n| n > limit as u64);
    let progress = Arc::new(BodyProgress::default());
    // A request without a body (most GETs) needs no watching.
    let req = if req.body().is_end_stream() {
        progress.arrived.store(true, Ordering::Relaxed);
        req
    } else {
        let drain_bytes = UNREAD_DRAIN_FACTOR * limit as u64;
        let drain_window = if too_large {
            state.shared.request_timeout
        } else {
            UNREAD_DRAIN_WINDOW
        };
        req.map(|inner| {
            axum::body::Body::new(WatchedBody {
                inner,
                progress: progress.clone(),
                drain_bytes,
                drain_window,
            })
        })
    };

    let mut res = if too_large {
        // Answered at once; the unread body is drained by the watched body when `req` drops.
        drop(req);
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
                let _ = run(&state, req, next, &progress, &request_id, route).await;
                fault::injected(status, None, plan)
            }
            Some((_, Fault::Delay { millis })) => {
                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                run(&state, req, next, &progress, &request_id, route).await
            }
            Some((_, Fault::Ok)) | None => {
                run(&state, req, next, &progress, &request_id, route).await
            }
        }
    };
    if let Some(problem) = res.extensions_mut().remove::<Problem>() {
        if matches!(problem, Problem::StorageFull) {
            state.shared.storage.refused_full();
        }
        let timestamp = rfc3339_millis(state.shared.clock.now());
        let blind_create = keyless_post
            .then(|| crate::services::idempotency::blind_create_lookup(route))
            .flatten();
        res = render(&problem, contract, &request_id, &timestamp, blind_create);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("request-id", v);
    }
    if !progress.arrived.load(Ordering::Relaxed) {
        // The body was not read (the request was answered before it): this connection carries
        // no further request, and the client must not reuse it.
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
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
        .record(&state.env.name, route, res.status().as_u16(), latency);
    // One line per request: answered ones at debug (formatting a line costs ~6 µs, a fifth of
    // a GET; /metrics counts them all), refused ones at info, failed ones as warnings.
    macro_rules! request_line {
        ($level:expr) => {
            tracing::event!(
                $level,
                env = %state.env.name,
                method = %method,
                route = %route,
                status = res.status().as_u16(),
                latency_us = latency.as_micros() as u64,
                tenant = %tenant,
                request_id = %request_id,
                "request"
            )
        };
    }
    if res.status().is_server_error() {
        request_line!(tracing::Level::WARN);
    } else if res.status().is_client_error() {
        request_line!(tracing::Level::INFO);
    } else {
        request_line!(tracing::Level::DEBUG);
    }
    res
}
