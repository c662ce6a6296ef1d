//! Idempotency records (CONTRACT §13): a key's holder while its request runs, then the answer.

use crate::StoreResult;
use crate::model::*;

/// Idempotency records: who holds a key, and the answer a key already produced.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait Idempotency: Send + Sync {
    /// Starts a request under an idempotency key whose body hashes to `body_hash`: a new or
    /// expired record (or one whose running lease ended before `now`) starts over as running
    /// until `lease_until`.
    fn idempotency_begin(
        &self,
        scope: IdempotencyScope<'_>,
        body_hash: &[u8; 32],
        now: i64,
        lease_until: i64,
    ) -> StoreResult<IdempotencyBegin>;
    /// Forgets every running record (at start-up: their requests died with the previous
    /// process, so they must not answer 409 until their lease ends).
    fn clear_running_idempotency(&self) -> StoreResult<usize>;
    /// Forgets a running record whose request ended without a response worth keeping
    /// (400, 401, 429, 5xx).
    fn idempotency_abandon(&self, scope: IdempotencyScope<'_>) -> StoreResult<()>;
}
