//! Retention: the stored images and personal data whose windows have ended.

use crate::StoreResult;
use crate::blobs::BlobKey;
use crate::model::*;

/// What the sweeper erases when a retention window ends: stored images and personal data.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait RetentionSweep: Send + Sync {
    /// Blobs whose retention window ended and that were not deleted yet (at most `limit` per
    /// kind).
    fn blobs_past_retention(
        &self,
        cutoffs: &RetentionCutoffs,
        limit: usize,
    ) -> StoreResult<Vec<BlobKey>>;
    /// Whether a committed record owns the blob `key`: a process, a captured Web & SDK
    /// process, a used Magic Link.
    fn blob_owned(&self, key: &BlobKey) -> StoreResult<bool>;
    /// Forgets the personal data of Web & SDK processes and Magic Links whose process window
    /// (per tenant, else `cutoffs.defaults`) has ended at `cutoffs.now`, at most `limit` of
    /// each; the records stay as tombstones with their verdicts. Returns how many it scrubbed.
    fn scrub_personal_data(&self, cutoffs: &RetentionCutoffs, limit: usize) -> StoreResult<usize>;
    /// Leaves the tombstone of a deleted blob: when it was deleted.
    fn mark_blob_deleted(&self, key: &BlobKey, at: i64) -> StoreResult<()>;
}
