//! The retention sweeper (CONTRACT §9): deletes blobs whose window has passed and leaves a
//! tombstone (the deletion time). Whether a fetch answers 410 is decided from the clock, never
//! from whether the sweeper has run yet.

use crate::state::Shared;
use selo_store::blobs::{BlobKey, BlobStore};
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
            shared
                .storage
                .background_write_failed("webhooks: recording an event", &e);
        }
    }
    full
}

/// One full pass now (the sandbox's `POST /sandbox/sweep`), on this node whichever node holds
/// the sweeper's lease (the sweep is idempotent): see [`pass`]; returns how many blobs it
/// deleted.
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
        shared
            .storage
            .background_write_failed("purging expired replay records", &e);
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
        Err(e) => shared
            .storage
            .background_write_failed("scrubbing personal data", &e),
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
        for key in &expired {
            // The key's `Debug` leaves out its id (a Magic Link's is its bearer token).
            if let Err(e) = shared.blobs.delete(&key.path()) {
                tracing::error!(error = %e, ?key, "retention sweep: delete failed");
                return deleted;
            }
            if let Err(e) = shared.store.mark_blob_deleted(key, now) {
                shared
                    .storage
                    .background_write_failed("retention sweep: tombstone", &e);
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
/// outlives its data. On a store other nodes share, a blob written within `settle` may be a
/// running request's on another node, whose record is not committed yet: only older ones are
/// deleted (`settle` is `None` on a store this node has to itself).
pub fn collect_orphans(
    store: &dyn Store,
    blobs: &BlobStore,
    settle: Option<std::time::Duration>,
) -> usize {
    let stored = match blobs.keys() {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "orphan sweep: listing blobs failed");
            return 0;
        }
    };
    // The blobs' own times are on the storage's (wall) clock, so is this cut-off.
    let cutoff = settle.and_then(|s| std::time::SystemTime::now().checked_sub(s));
    let mut deleted = 0;
    for blob in stored {
        let settled = match (cutoff, blob.written) {
            (None, _) => true,
            (Some(cutoff), Some(written)) => written < cutoff,
            (Some(_), None) => false,
        };
        // A half-written file is an orphan; a failed lookup keeps the blob: only what no
        // record owns is deleted.
        let orphan = settled
            && (blob.key.contains(".tmp-")
                || !BlobKey::candidates(&blob.key)
                    .iter()
                    .any(|key| store.blob_owned(key).unwrap_or(true)));
        if orphan && blobs.delete(&blob.key).is_ok() {
            deleted += 1;
        }
    }
    deleted
}

/// When the sweeper will next look (Unix seconds, server clock) for processes finishing by
/// time, and a wake-up when a create notes an earlier moment. A create whose moment comes
/// later than that costs no wake-up.
pub struct Wakeups {
    wake_at: Mutex<i64>,
    noted: Notify,
}

impl Default for Wakeups {
    fn default() -> Self {
        Wakeups {
            wake_at: Mutex::new(i64::MAX),
            noted: Notify::new(),
        }
    }
}

impl Wakeups {
    fn wake_at(&self) -> std::sync::MutexGuard<'_, i64> {
        self.wake_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A process finishes by time at `at` (an async result or a journey's expiry).
    pub fn note(&self, at: i64) {
        let mut wake_at = self.wake_at();
        if at < *wake_at {
            *wake_at = at;
            self.noted.notify_one();
        }
    }

    /// A pass begins: what it does not see yet is noted from here on, every moment waking the
    /// sweeper.
    fn pass_begins(&self) {
        *self.wake_at() = i64::MAX;
    }

    /// A pass found `next` as the next moment: the earlier of it and what was noted meanwhile.
    fn settle(&self, next: Option<i64>) -> i64 {
        let mut wake_at = self.wake_at();
        *wake_at = (*wake_at).min(next.unwrap_or(i64::MAX));
        *wake_at
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

/// How long the retention sweep's lease outlasts a pass: the node that swept keeps sweeping,
/// and another node takes over this long after it stopped.
const SWEEP_LEASE_SECONDS: i64 = 180;

/// Whether this node is the one that sweeps now (CONTRACT §18: one node at a time), taking or
/// renewing the lease.
fn leads_the_sweep(shared: &Shared, now: i64) -> bool {
    shared
        .store
        .try_lead("sweeper", &shared.node, now, now + SWEEP_LEASE_SECONDS)
        .unwrap_or_else(|e| {
            shared
                .storage
                .background_write_failed("taking the sweeper's lease", &e);
            false
        })
}

/// One pass at the server's `now`: the full sweep when `full` (and this node holds the
/// sweeper's lease), else only the events of processes that finished by time, which every node
/// writes (each process has one event, whichever node writes it).
fn pass(shared: &Shared, full: bool) -> Pass {
    let now = shared.clock.unix();
    let backlog = emit_time_events(shared, now);
    let deleted = if full && leads_the_sweep(shared, now) {
        sweep_retention(shared, now)
    } else {
        0
    };
    if deleted > 0 {
        tracing::info!(deleted, "retention sweep");
    }
    // Asked for moments after the pass's own `now`: one that came due during the pass is found
    // (and is already due, so the wait is the shortest).
    let next = shared.store.next_finish_by_time(now).unwrap_or_else(|e| {
        tracing::error!(error = %e, "webhooks: finding the next finishing process failed");
        None
    });
    Pass { backlog, next }
}

/// Runs a full [`pass`] every `interval`, and the events of processes that finish by time (async
/// API results, Web & SDK expiry) as soon as they finish, so each webhook event is written
/// within moments of it (CONTRACT §16) rather than at the next periodic pass; until the process
/// ends.
pub fn spawn(shared: Arc<Shared>, interval: Duration) {
    tokio::spawn(async move {
        let mut next_full = tokio::time::Instant::now();
        loop {
            // What was noted so far is committed, so the pass and the store's answer cover it;
            // moments noted from here on shorten the wait below.
            shared.finishing.pass_begins();
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
            let wake_at = shared.finishing.settle(found.next);
            let mut deadline = if found.backlog {
                tokio::time::Instant::now() + MIN_WAIT
            } else if wake_at == i64::MAX {
                next_full
            } else {
                next_full.min(tokio::time::Instant::now() + until(&shared, wake_at))
            };
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => break,
                    () = shared.finishing.noted.notified() => {
                        let at = *shared.finishing.wake_at();
                        deadline = deadline.min(tokio::time::Instant::now() + until(&shared, at));
                    }
                }
            }
        }
    });
}
