//! Reading request bodies, only once the request's credentials passed (CONTRACT §19): a request
//! that fails them is answered without its body being read, and image-carrying bodies are read
//! within their tenant's own upload places, so one tenant's stalled uploads never delay another
//! tenant's requests.

use crate::http::problem::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use selo_domain::problem::Problem;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Image-carrying requests of one tenant whose bodies may be in memory at once; the tenant's
/// further uploads wait, unread, for one of these places.
pub const UPLOADS_PER_TENANT: usize = 8;

/// The upload places of every tenant (a tenant's are made on its first upload).
#[derive(Default)]
pub struct TenantUploads {
    places: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl TenantUploads {
    fn of(&self, tenant_id: &str) -> Arc<Semaphore> {
        let mut places = self.places.lock().unwrap_or_else(|p| p.into_inner());
        places
            .entry(tenant_id.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(UPLOADS_PER_TENANT)))
            .clone()
    }
}

/// One of a tenant's upload places, held while the request's body is in memory.
pub struct UploadPermit {
    _held: OwnedSemaphorePermit,
}

/// Reads the body of an image-carrying request of `tenant_id` (whose credentials passed): waits
/// for one of the tenant's upload places, then reads at most `body_limit` bytes (else 413). The
/// place is held until the returned permit is dropped.
pub async fn read_upload(
    state: &AppState,
    tenant_id: &str,
    body: Body,
) -> Result<(UploadPermit, Bytes), Problem> {
    let held = state
        .shared
        .uploads
        .of(tenant_id)
        .acquire_owned()
        .await
        .map_err(|_| Problem::Internal)?;
    let bytes = read_body(state, body).await?;
    Ok((UploadPermit { _held: held }, bytes))
}

/// Reads a body of at most `body_limit` bytes (else 413).
pub async fn read_body(state: &AppState, body: Body) -> Result<Bytes, Problem> {
    let limit = state.shared.body_limit;
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Problem::PayloadTooLarge { limit })
}

/// The raw request body, at most `body_limit` bytes (else 413), for routes whose credentials
/// travel in the body itself (the token service's form).
pub struct LimitedBody(pub Bytes);

impl FromRequest<AppState> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_body(state, req.into_body())
            .await
            .map(LimitedBody)
            .map_err(ApiError)
    }
}
