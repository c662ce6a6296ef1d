//! The retention sweeper (CONTRACT §9): deletes blobs whose window has passed and leaves a
//! tombstone (the deletion time). Whether a fetch answers 410 is decided from the clock, never
//! from whether the sweeper has run yet.

use crate::state::Shared;
use selo_store::blobs::BlobStore;
use selo_store::{RetentionCutoffs, Store};
use std::sync::Arc;
use std::time::Duration;

/// Most blobs deleted per kind in one pass.
const BATCH: usize = 500;

/// Writes the events of processes that finished by time (async API scenarios, Web & SDK
/// expiry) since the last pass.
fn emit_time_events(shared: &Shared, now: i64) {
    let finished = match shared.store.finished_without_event(now, BATCH) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: listing finished processes failed");
            return;
        }
    };
    let drafts = finished
        .api
        .iter()
        .filter_map(|p| crate::webhooks::api_event(p, now))
        .chain(
            finished
                .web
                .iter()
                .filter_map(|p| crate::webhooks::web_event(p, now)),
        );
    for draft in drafts {
        if let Err(e) = shared.store.record_event(&draft) {
            tracing::error!(error = %e, "webhooks: recording an event failed");
        }
    }
}

/// One pass: writes the events of processes that finished by time, purges expired replay
/// records, then deletes every blob past its window; returns how many blobs it deleted.
pub fn sweep(shared: &Shared) -> usize {
    let now = shared.clock.unix();
    emit_time_events(shared, now);
    if let Err(e) = shared.store.purge_used_assertions(now) {
        tracing::error!(error = %e, "purging expired replay records failed");
    }
    let cutoffs = RetentionCutoffs {
        now,
        defaults: selo_domain::retention::Retention::default(),
    };
    let mut deleted = 0;
    loop {
        let expired = match shared.store.blobs_past_retention(&cutoffs, BATCH) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "retention sweep: listing failed");
                return deleted;
            }
        };
        if expired.is_empty() {
            return deleted;
        }
        for blob in &expired {
            if let Err(e) = shared.blobs.delete(&blob.key) {
                tracing::error!(error = %e, key = %blob.key, "retention sweep: delete failed");
                return deleted;
            }
            if let Err(e) = shared.store.mark_blob_deleted(blob, now) {
                tracing::error!(error = %e, "retention sweep: tombstone failed");
                return deleted;
            }
            deleted += 1;
        }
        if expired.len() < BATCH {
            return deleted;
        }
    }
}

/// At start-up, before serving: deletes half-written temporary files and blobs no committed
/// record owns (a crash between a blob's write and its commit leaves one), so no image
/// outlives its data.
pub fn collect_orphans(store: &dyn Store, blobs: &BlobStore) -> usize {
    let keys = match blobs.keys() {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "orphan sweep: listing blobs failed");
            return 0;
        }
    };
    let mut deleted = 0;
    for key in keys {
        let orphan = key.contains(".tmp-") || !store.blob_owned(&key).unwrap_or(true);
        if orphan && blobs.delete(&key).is_ok() {
            deleted += 1;
        }
    }
    deleted
}

/// Runs [`sweep`] every `interval` until the process ends.
pub fn spawn(shared: Arc<Shared>, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let s = shared.clone();
            match tokio::task::spawn_blocking(move || sweep(&s)).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "retention sweep"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention sweep panicked"),
            }
        }
    });
}
