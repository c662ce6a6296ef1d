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
        if let Some(tenant) = places.get(tenant_id) {
            return tenant.clone();
        }
        let tenant = Arc::new(Semaphore::new(UPLOADS_PER_TENANT));
        places.insert(tenant_id.to_string(), tenant.clone());
        tenant
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
    read_at_most(body, state.shared.body_limit).await
}

async fn read_at_most(body: Body, limit: usize) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Problem::PayloadTooLarge { limit })
}

/// The largest token-request form: an assertion is well under a kilobyte.
pub const TOKEN_FORM_LIMIT: usize = 64 * 1024;

/// The token service's form, whose credentials travel in the body itself, so it is read
/// before they are checked: at most [`TOKEN_FORM_LIMIT`] bytes (else 413).
pub struct TokenForm(pub Bytes);

impl FromRequest<AppState> for TokenForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_at_most(
            req.into_body(),
            TOKEN_FORM_LIMIT.min(state.shared.body_limit),
        )
        .await
        .map(TokenForm)
        .map_err(ApiError)
    }
}
