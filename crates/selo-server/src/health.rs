//! Whether the data directory's storage takes writes (CONTRACT §14: `/readyz` says so while it
//! does not, so a load balancer moves traffic). Changes of state are logged once each, not once
//! per refused request.

use std::sync::atomic::{AtomicBool, Ordering};

/// The storage's state as the last writes found it.
#[derive(Default)]
pub struct StorageHealth {
    full: AtomicBool,
}

impl StorageHealth {
    /// A write was refused because the storage is full.
    pub fn refused_full(&self) {
        if !self.full.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "storage full: writes (creates, captures, tokens' replay records) are refused with 507 and /readyz answers 503 until space is freed"
            );
        }
    }

    /// A write outside any request (the sweeper's, the webhook worker's) failed: a full
    /// storage is reported as a refused request's is (`/readyz` 503, one log line per change);
    /// any other failure is logged as `what` failing.
    pub fn background_write_failed(&self, what: &str, e: &selo_store::StoreError) {
        if e.is_storage_full() {
            self.refused_full();
        } else {
            tracing::error!(error = %e, "{what} failed");
        }
    }

    /// A probe write succeeded: the storage takes writes again.
    pub fn wrote(&self) {
        if self.full.swap(false, Ordering::Relaxed) {
            tracing::info!("storage takes writes again: /readyz answers 200");
        }
    }

    /// Whether the last writes found the storage full.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }
}
