//! Use cases: each orchestrates domain rules and the store for one operation, so that handlers
//! only translate HTTP.

use crate::state::AppState;
use selo_domain::problem::Problem;

pub mod capture;
pub mod idempotency;
pub mod identities;
pub mod magic_link;
pub mod processes;
pub mod token;
pub mod verify;
pub mod web;

/// A store failure as the client sees it: the storage being full (507, which the middleware
/// also reports through `/readyz`), else an internal failure; the detail goes to the log.
pub fn store_failure(e: selo_store::StoreError) -> Problem {
    if e.is_storage_full() {
        tracing::debug!(error = %e, "store write refused: storage full");
        return Problem::StorageFull;
    }
    if let selo_store::StoreError::Interrupted(why) = &e {
        tracing::warn!(reason = %why, "store operation interrupted");
        return Problem::Unavailable;
    }
    tracing::error!(error = %e, "store failure");
    Problem::Internal
}

/// A blob (selfie file) write failure as the client sees it, like [`store_failure`].
pub fn blob_failure(e: std::io::Error) -> Problem {
    if selo_store::is_storage_full(&e) {
        tracing::debug!(error = %e, "blob write refused: storage full");
        return Problem::StorageFull;
    }
    tracing::error!(error = %e, "writing a blob failed");
    Problem::Internal
}

/// Whether `tenant_id` belongs to the environment of this listener: journeys, captures and
/// links of another environment answer 404 here, so a process is always judged by its own
/// environment's engines (CONTRACT §19). A store failure is a failure, not a 404.
pub fn in_this_environment(state: &AppState, tenant_id: &str) -> Result<bool, Problem> {
    Ok(state
        .shared
        .store
        .tenant(tenant_id)
        .map_err(store_failure)?
        .is_some_and(|tenant| tenant.environment == state.env.name))
}

/// Runs `work` (CPU-heavy: it decodes an image) on the blocking pool, holding one of the
/// bounded decode permits, so the async workers keep serving and memory stays bounded.
pub async fn decode_off_workers<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    let _permit = state
        .shared
        .decode_permits
        .acquire()
        .await
        .map_err(|_| Problem::Internal)?;
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "decode task failed");
        Problem::Internal
    })
}
