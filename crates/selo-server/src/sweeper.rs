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
/// expiry) by `now`; says whether a batch was full (more may be waiting).
fn emit_time_events(shared: &Shared, now: i64) -> bool {
    let finished = match shared.store.finished_without_event(now, BATCH) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: listing finished processes failed");
            return false;
        }
    };
    let full = finished.api.len() >= BATCH || finished.web.len() >= BATCH;
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
    full
}

/// One pass: writes the events of processes that finished by time, purges expired replay
/// records, then deletes every blob past its window; returns how many blobs it deleted.
pub fn sweep(shared: &Shared) -> usize {
    let now = shared.clock.unix();
    emit_time_events(shared, now);
    sweep_retention(shared, now)
}

/// The retention part of a pass at `now`: purges expired replay records, forgets personal data
/// past the process window, then deletes every blob past its window; returns how many blobs it
/// deleted.
fn sweep_retention(shared: &Shared, now: i64) -> usize {
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

/// What one pass of the loop found: whether more finished processes wait than one batch took,
/// and the next moment a process finishes by time after the pass's `now`.
struct Pass {
    backlog: bool,
    next: Option<i64>,
}

/// One pass at the server's `now`: the full sweep when `full`, else only the events of
/// processes that finished by time.
fn pass(shared: &Shared, full: bool) -> Pass {
    let now = shared.clock.unix();
    let backlog = emit_time_events(shared, now);
    if full {
        let deleted = sweep_retention(shared, now);
        if deleted > 0 {
            tracing::info!(deleted, "retention sweep");
        }
    }
    // Asked for moments after the pass's own `now`: one that came due during the pass is found
    // (and is already due, so the wait is the shortest).
    let next = shared.store.next_finish_by_time(now).unwrap_or_else(|e| {
        tracing::error!(error = %e, "webhooks: finding the next finishing process failed");
        None
    });
    Pass { backlog, next }
}

/// Runs [`sweep`] every `interval`, and the events of processes that finish by time (async
/// API results, Web & SDK expiry) as soon as they finish, so each webhook event is written
/// within moments of it (CONTRACT §16) rather than at the next periodic pass; until the process
/// ends.
pub fn spawn(shared: Arc<Shared>, interval: Duration) {
    tokio::spawn(async move {
        let mut next_full = tokio::time::Instant::now();
        loop {
            // What was noted so far is committed, so the pass and the store's answer cover it;
            // moments noted from here on shorten the wait below.
            shared.finishing.take();
            let full = tokio::time::Instant::now() >= next_full;
            if full {
                next_full = tokio::time::Instant::now() + interval;
            }
            let s = shared.clone();
            let found = match tokio::task::spawn_blocking(move || pass(&s, full)).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::error!(error = %e, "the sweeper's pass panicked");
                    Pass {
                        backlog: false,
                        next: None,
                    }
                }
            };
            let mut deadline = if found.backlog {
                tokio::time::Instant::now() + MIN_WAIT
            } else {
                found.next.map_or(next_full, |at| {
                    next_full.min(tokio::time::Instant::now() + until(&shared, at))
                })
            };
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
