//! Applying sandbox fault plans to requests (CONTRACT §12).

use crate::faults::Target;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use selo_domain::fault::Fault;
use selo_domain::problem::Problem;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The fault a request suffers, if a plan of its tenant names it.
pub fn pick(state: &AppState, req: &Request, request_id: &str) -> Option<(String, Fault)> {
    if !state.env.is_sandbox() {
        return None;
    }
    let headers = req.headers();
    let plan = headers
        .get("selo-fault-plan")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    // A plan the header names is looked up whatever this node knows (another node may have
    // created it a moment ago); global plans only once any plan exists.
    if plan.is_none() && !state.shared.faults.active() {
        return None;
    }
    let tenant = if headers.contains_key(axum::http::header::AUTHORIZATION) {
        crate::auth::bearer(state, headers)
            .ok()
            .map(|p| p.tenant_id)
    } else if headers.contains_key("x-api-key") {
        crate::auth::api_key_tenant(state, headers)
    } else {
        None
    };
    state.shared.faults.take(
        &*state.shared.store,
        &Target {
            plan,
            tenant: tenant.as_deref(),
            method: req.method().as_str(),
            path: req.uri().path(),
            request_id,
            now: state.shared.clock.now(),
        },
    )
}

/// A response carrying an injected status.
pub fn injected(status: u16, retry_after: Option<u64>, plan: String) -> Response {
    let mut r = Response::new(Body::empty());
    r.extensions_mut().insert(Problem::Injected {
        status,
        retry_after,
        plan,
    });
    r
}

/// A body that fails at once, so the server closes the connection without a reply.
struct ResetBody;

impl http_body::Body for ResetBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other("injected reset"))))
    }
}

/// A response that resets the connection.
pub fn reset() -> Response {
    Response::new(Body::new(ResetBody))
}
