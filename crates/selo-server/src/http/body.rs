//! A body extractor that enforces the size limit for bodies without `Content-Length`.

use crate::http::problem::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use selo_domain::problem::Problem;

/// The raw request body, at most `body_limit` bytes (else 413).
pub struct LimitedBody(pub Bytes);

impl FromRequest<AppState> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.shared.body_limit;
        axum::body::to_bytes(req.into_body(), limit)
            .await
            .map(LimitedBody)
            .map_err(|_| ApiError(Problem::PayloadTooLarge { limit }))
    }
}
