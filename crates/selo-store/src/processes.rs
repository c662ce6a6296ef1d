//! The API contract's processes (a process's face is kept by [`crate::faces::Faces`]).

use crate::StoreResult;
use crate::model::*;
use selo_domain::process::ProcessRecord;

/// The API contract's processes.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait Processes: Send + Sync {
    /// Stores a new process (durably, before the create is answered) with its face embedding
    /// when the local engines made one, completing its idempotency record in the same
    /// transaction when there is one.
    fn insert_process(
        &self,
        process: &ProcessRecord,
        face: Option<&[f32]>,
        idempotency: Option<IdempotencyCompletion<'_>>,
        event: Option<&EventDraft>,
    ) -> StoreResult<()>;
    /// A process of a tenant (`None` for another tenant's process).
    fn process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProcessRecord>>;
    /// The API key whose secret hashes to `key_hash` and a tenant's process, read in one
    /// snapshot: a process read authenticates and reads in one store round trip. The process
    /// is `None` when the key is unknown; an unreadable process is its own error, so that the
    /// caller answers for the key first.
    fn api_key_and_process(
        &self,
        key_hash: &[u8; 32],
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<(Option<ApiKey>, StoreResult<Option<ProcessRecord>>)>;
    /// A tenant's processes with this client reference, newest first, at most `limit`.
    fn processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<ProcessRecord>>;
}
