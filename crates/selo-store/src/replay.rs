//! The replay log: every assertion accepted, kept until it could no longer be presented.

use crate::StoreResult;

/// What identifies an assertion's replay record. Both parts are functions of the assertion
/// alone, so every presentation of one assertion finds the same record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayKey {
    /// SHA-256 of the compact assertion.
    pub hash: [u8; 32],
    /// Until when the record stops a replay
    /// ([`accepted_until`](selo_domain::assertion::accepted_until) of its `exp`).
    pub expires_at: i64,
}

/// A request to record an assertion as used ([`ReplayLog::record_assertion_use`]).
#[derive(Debug, Clone, Copy)]
pub struct AssertionUse {
    /// The record.
    pub key: ReplayKey,
    /// Now (an older record whose `expires_at` has passed is taken over).
    pub now: i64,
    /// The configuration epoch the request's checks used.
    pub epoch: u64,
}

/// What recording an assertion found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionUseOutcome {
    /// Recorded: first use.
    Fresh,
    /// Already recorded and not expired: a replay.
    Replayed,
    /// Nothing recorded: the configuration changed since the epoch the checks used.
    StaleConfig,
}

/// Receives the outcome of [`ReplayLog::record_assertion_use`].
pub type AssertionUseDone = Box<dyn FnOnce(StoreResult<AssertionUseOutcome>) + Send>;

/// The assertions already used (CONTRACT §2: an assertion is accepted once).
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait ReplayLog: Send + Sync {
    /// Whether an assertion is recorded as used and not expired at `now`.
    fn assertion_used(&self, key: &ReplayKey, now: i64) -> StoreResult<bool>;
    /// Records an assertion as used until its key's `expires_at`, provided the configuration
    /// epoch is still `epoch` when it commits; an expired record is taken over. Requests are
    /// committed together (group commit); `done` is called, on another thread, once this one
    /// is durable or refused.
    fn record_assertion_use(&self, request: AssertionUse, done: AssertionUseDone);
    /// Deletes replay records that expired before `now` (the sweeper's job, off the token
    /// path); returns how many.
    fn purge_used_assertions(&self, now: i64) -> StoreResult<usize>;
}
