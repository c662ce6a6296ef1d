//! Use cases: each orchestrates domain rules and the store for one operation, so that handlers
//! only translate HTTP.

use crate::state::AppState;
use selo_domain::problem::Problem;

pub mod capture;
pub mod idempotency;
pub mod magic_link;
pub mod processes;
pub mod token;
pub mod web;

/// Whether `tenant_id` belongs to the environment of this listener: journeys, captures and
/// links of another environment answer 404 here, so a process is always judged by its own
/// environment's engines (CONTRACT §19).
pub fn in_this_environment(state: &AppState, tenant_id: &str) -> bool {
    match state.shared.store.tenant(tenant_id) {
        Ok(Some(tenant)) => tenant.environment == state.env.name,
        Ok(None) => false,
        Err(e) => {
            tracing::error!(error = %e, "reading a journey's tenant failed");
            false
        }
    }
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
