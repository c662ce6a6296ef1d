//! The retention sweeper (CONTRACT §9): deletes blobs whose window has passed and leaves a
//! tombstone (the deletion time). Whether a fetch answers 410 is decided from the clock, never
//! from whether the sweeper has run yet.

use crate::state::Shared;
use selo_store::blobs::BlobStore;
use selo_store::{RetentionCutoffs, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

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
    match shared.store.scrub_personal_data(&cutoffs, BATCH) {
        Ok(n) if n > 0 => tracing::info!(
            scrubbed = n,
            "personal data past the process window forgotten"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "scrubbing personal data failed"),
    }
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

/// The earliest moment (Unix seconds, server clock) a process noted since the last pass
/// finishes by time, and a wake-up for the sweeper when it is earlier than what it waits for.
#[derive(Default)]
pub struct Wakeups {
    earliest: Mutex<Option<i64>>,
    noted: Notify,
}

impl Wakeups {
    /// A process finishes by time at `at` (an async result or a journey's expiry).
    pub fn note(&self, at: i64) {
        let mut earliest = self.earliest.lock().unwrap_or_else(|p| p.into_inner());
        if earliest.is_none_or(|e| at < e) {
            *earliest = Some(at);
            self.noted.notify_one();
        }
    }

    /// The earliest moment noted since the last call, forgetting it.
    fn take(&self) -> Option<i64> {
        self.earliest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Shortest wait between passes (a moment that cannot be acted on never makes the loop spin).
const MIN_WAIT: Duration = Duration::from_millis(100);

/// How long from now (the server clock) until Unix second `at`, at least [`MIN_WAIT`].
fn until(shared: &Shared, at: i64) -> Duration {
    let ms = at.saturating_mul(1000) - shared.clock.unix_millis();
    Duration::from_millis(ms.max(0) as u64).max(MIN_WAIT)
}

/// Runs [`sweep`] every `interval`, and also as soon as a process finishes by time (async API
/// results, Web & SDK expiry), so its webhook event is written within moments of it (CONTRACT
/// §16) rather than at the next periodic pass; until the process ends.
pub fn spawn(shared: Arc<Shared>, interval: Duration) {
    tokio::spawn(async move {
        loop {
            // What was noted so far is committed, so the pass and the store's answer cover it;
            // moments noted from here on shorten the wait below.
            shared.finishing.take();
            let s = shared.clone();
            let next = tokio::task::spawn_blocking(move || {
                let deleted = sweep(&s);
                if deleted > 0 {
                    tracing::info!(deleted, "retention sweep");
                }
                s.store.next_finish_by_time(s.clock.unix())
            })
            .await;
            let next = match next {
                Ok(Ok(next)) => next,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "webhooks: finding the next finishing process failed");
                    None
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention sweep panicked");
                    None
                }
            };
            let wait = next.map_or(interval, |at| until(&shared, at).min(interval));
            let mut deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => break,
                    () = shared.finishing.noted.notified() => {
                        if let Some(at) = shared.finishing.take() {
                            deadline = deadline.min(tokio::time::Instant::now() + until(&shared, at));
                        }
                    }
                }
            }
        }
    });
}
