//! A body extractor that enforces the size limit for bodies without `Content-Length`.

use crate::http::problem::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use selo_domain::problem::Problem;

/// A place among the image-carrying requests allowed to hold a body in memory at once. As an
/// extractor it runs before the body is read, so waiting requests cost no memory.
pub struct UploadPermit {
    _held: tokio::sync::OwnedSemaphorePermit,
}

impl axum::extract::FromRequestParts<AppState> for UploadPermit {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .shared
            .upload_permits
            .clone()
            .acquire_owned()
            .await
            .map(|held| UploadPermit { _held: held })
            .map_err(|_| ApiError(Problem::Internal))
    }
}

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
