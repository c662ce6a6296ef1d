//! Selo's storage, as roles: [`Configuration`], [`ReplayLog`], [`Idempotency`], [`Processes`],
//! [`Journeys`], [`Faces`] and [`FaceSearch`], [`RetentionSweep`], [`WebhookQueue`] and
//! [`Nodes`], [`RateBuckets`] and [`SandboxFaults`], and [`Transfer`] (export and import), each its own trait; [`Store`] is their sum, the one value the server and the admin CLI hold. Two
//! backends, one file per role each: the embedded SQLite store ([`sqlite::SqliteStore`], the
//! default) and PostgreSQL ([`postgres::PostgresStore`], CONTRACT §18), chosen by
//! [`Database`]; both pass the same contract suite (`tests/contract.rs`). Errors are
//! backend-neutral ([`StoreError`]). Selfie images live beside the database as files
//! ([`blobs::BlobStore`]), never inside it.
//!
//! **Blocking contract.** Every role's methods are synchronous and block the calling thread
//! until the database has answered (or, for [`ReplayLog::record_assertion_use`], hand the
//! request to the backend's writer and return at once, answering through the callback). A
//! backend whose calls take microseconds (SQLite, perf-limits §4: inline rusqlite beats
//! `spawn_blocking` and sqlx) may be called inline on async workers; a backend that waits on
//! the network must do its waiting where it does not stall them (its own pool, or
//! `block_in_place`), so callers keep one way of calling whichever backend runs.

pub mod blobs;
mod bridge;
pub mod config;
pub mod database;
pub mod faces;
mod group_commit;
pub mod idempotency;
pub mod journeys;
pub mod model;
pub mod nodes;
pub mod postgres;
pub mod private_fs;
pub mod processes;
pub mod rate_buckets;
mod records;
pub mod replay;
pub mod retention;
pub mod sandbox_faults;
pub mod sqlite;
pub mod transfer;
pub mod webhooks;

pub use config::{Configuration, LockoutPolicy};
pub use database::Database;
pub use faces::{FaceSearch, Faces};
pub use idempotency::Idempotency;
pub use journeys::Journeys;
pub use model::*;
pub use nodes::{Nodes, PublishedKey};
pub use processes::Processes;
pub use rate_buckets::RateBuckets;
pub use replay::{AssertionUse, AssertionUseDone, AssertionUseOutcome, ReplayKey, ReplayLog};
pub use retention::RetentionSweep;
pub use sandbox_faults::SandboxFaults;
pub use transfer::Transfer;
pub use webhooks::WebhookQueue;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique thing already exists (tenant/account name, key id, process id).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The thing to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed: the backend's message (for the log, never for a client) and
    /// whether it failed because its storage is full. Backend-neutral: each backend turns its
    /// driver's errors into this.
    #[error("database error: {message}")]
    Database {
        /// What the database said.
        message: String,
        /// Whether the database could not grow (disk or quota full).
        storage_full: bool,
    },
    /// A file operation failed.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The operation was interrupted inside the store (its writer recovered from a fault);
    /// nothing was written, and the same request may be sent again.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl StoreError {
    /// Whether the failure is the storage being full (the database or a file could not grow):
    /// the operator's to fix, and nothing was stored.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Database { storage_full, .. } => *storage_full,
            StoreError::Io(e) => is_storage_full(e),
            _ => false,
        }
    }
}

/// Whether an I/O failure is the file system being full.
pub fn is_storage_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Selo persists: the sum of its roles, each its own trait so that a backend, a test
/// double or a caller deals with the part it needs. A backend that implements every role says
/// so with an empty `impl Store for … {}`.
pub trait Store:
    Configuration
    + ReplayLog
    + Idempotency
    + Processes
    + Journeys
    + faces::Faces
    + faces::FaceSearch
    + RetentionSweep
    + WebhookQueue
    + Nodes
    + RateBuckets
    + SandboxFaults
    + Transfer
    + Send
    + Sync
{
}
