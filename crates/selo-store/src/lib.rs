//! Selo's storage. [`Store`] is the one interface the server and the admin CLI use; the
//! embedded SQLite implementation ([`sqlite::SqliteStore`]) is the default, and a PostgreSQL
//! one will implement the same trait and pass the same tests. Selfie images live beside the
//! database as files ([`blobs::BlobStore`]), never inside it.
//!
//! The trait is synchronous: SQLite calls take microseconds and run inline on the caller's
//! thread (perf-limits §4: inline rusqlite beats `spawn_blocking` and sqlx).

pub mod blobs;
pub mod faces;
pub mod model;
pub mod private_fs;
pub mod sqlite;

pub use model::*;

use selo_domain::magic_link::MagicLinkRecord;
use selo_domain::process::ProcessRecord;
use selo_domain::web::WebProcessRecord;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique thing already exists (tenant/account name, key id, process id).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The thing to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
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
            StoreError::Db(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
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

/// A request to record an assertion as used ([`Store::record_assertion_use`]).
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

/// Receives the outcome of [`Store::record_assertion_use`].
pub type AssertionUseDone = Box<dyn FnOnce(StoreResult<AssertionUseOutcome>) + Send>;

/// Lockout policy applied when a failed signature check is recorded.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures that lock the account.
    pub attempts: u32,
    /// Window in which they are counted, seconds.
    pub window_seconds: i64,
    /// How long the lock lasts, seconds.
    pub duration_seconds: i64,
}

/// Everything Selo persists. Its roles are being split into their own traits (CONTRACT §18):
/// [`faces::Faces`] and [`faces::FaceSearch`] so far.
pub trait Store: faces::Faces + faces::FaceSearch + Send + Sync {
    /// Checks that the store answers (`/readyz`).
    fn ping(&self) -> StoreResult<()>;

    /// Creates a tenant.
    fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    /// A tenant by id.
    fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>>;
    /// Every tenant, oldest first.
    fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;

    /// Creates a service account with its first key.
    fn create_account(&self, account: &Account, key: &AccountKey) -> StoreResult<()>;
    /// An account by tenant and name.
    fn account(&self, tenant_id: &str, name: &str) -> StoreResult<Option<Account>>;
    /// The accounts of a tenant.
    fn list_accounts(&self, tenant_id: &str) -> StoreResult<Vec<Account>>;
    /// Enables or disables an account.
    fn set_account_enabled(&self, tenant_id: &str, name: &str, enabled: bool) -> StoreResult<()>;
    /// Replaces an account's IP allow-list and allowed hours.
    fn set_account_access(
        &self,
        tenant_id: &str,
        name: &str,
        allow_ips: &[String],
        allowed_hours: Option<&str>,
    ) -> StoreResult<()>;
    /// Adds a public key to an account.
    fn add_account_key(&self, key: &AccountKey) -> StoreResult<()>;
    /// Revokes one key of an account.
    fn revoke_account_key(
        &self,
        tenant_id: &str,
        name: &str,
        key_id: &str,
        at: i64,
    ) -> StoreResult<()>;
    /// The keys of an account (revoked ones included).
    fn account_keys(&self, tenant_id: &str, name: &str) -> StoreResult<Vec<AccountKey>>;
    /// Records a failed signature check at `now` and locks the account when the policy says so.
    /// Returns the time the lock ends if this failure locked it.
    fn record_auth_failure(
        &self,
        tenant_id: &str,
        name: &str,
        now: i64,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<i64>>;

    /// Whether an assertion is recorded as used and not expired at `now`.
    fn assertion_used(&self, key: &ReplayKey, now: i64) -> StoreResult<bool>;
    /// Records an assertion as used until its key's `expires_at`, provided the configuration
    /// epoch is still `epoch` when it commits; an expired record is taken over. Requests are
    /// committed together (group commit); `done` is called, on another thread, once this one
    /// is durable or refused.
    fn record_assertion_use(&self, request: AssertionUse, done: AssertionUseDone);
    /// Records the manual clock of a server started with `--manual-clock` (Unix nanoseconds),
    /// or that the server's clock is the real one (`None`), so that other processes on the
    /// data directory (`selo admin`) read the server's one clock.
    fn set_manual_clock(&self, unix_nanos: Option<i64>) -> StoreResult<()>;
    /// The manual clock recorded by [`Store::set_manual_clock`], if any.
    fn manual_clock(&self) -> StoreResult<Option<i64>>;
    /// The configuration epoch as last observed, without asking the database (see
    /// [`Store::config_epoch`]); a commit made at an older epoch is refused with
    /// [`AssertionUseOutcome::StaleConfig`].
    fn known_config_epoch(&self) -> u64;
    /// Deletes replay records that expired before `now` (the sweeper's job, off the token
    /// path); returns how many.
    fn purge_used_assertions(&self, now: i64) -> StoreResult<usize>;

    /// The configuration epoch: a number that moves whenever tenants, accounts, their keys or
    /// API keys may have changed since it was last read, whether through this store or by
    /// another process (`selo admin` writing to the same data directory). An in-memory copy of
    /// configuration taken at epoch `e` is current for as long as this returns `e`.
    fn config_epoch(&self) -> StoreResult<u64>;

    /// Stores a new API key (its hash only).
    fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// An API key by the SHA-256 of its secret.
    fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>>;
    /// The API keys of a tenant.
    fn list_api_keys(&self, tenant_id: &str) -> StoreResult<Vec<ApiKey>>;
    /// Revokes an API key.
    fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<()>;

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
    /// Sets a tenant's rate limit (`None`: the server default; `Some(0)`: unlimited).
    fn set_tenant_rate_limit(&self, tenant_id: &str, rps: Option<u32>) -> StoreResult<()>;
    /// Sets a tenant's retention windows (seconds; `None` keeps the current value).
    fn set_tenant_retention(
        &self,
        tenant_id: &str,
        selfie: Option<i64>,
        evidence: Option<i64>,
        process: Option<i64>,
    ) -> StoreResult<()>;
    /// Sets a tenant's Web & SDK flows.
    fn set_tenant_flows(&self, tenant_id: &str, flows: &[String]) -> StoreResult<()>;
    /// Sets a tenant's engine set and match thresholds (CONTRACT §17).
    fn set_tenant_engines(
        &self,
        tenant_id: &str,
        engines: selo_domain::verification::EngineSettings,
    ) -> StoreResult<()>;
    /// Sets a tenant's Web & SDK permissions.
    fn set_tenant_permissions(&self, tenant_id: &str, permissions: &[String]) -> StoreResult<()>;

    /// Stores a new Web & SDK process, completing its idempotency record in the same
    /// transaction when there is one.
    fn insert_web_process(
        &self,
        process: &WebProcessRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()>;
    /// A Web & SDK process of a tenant (`None` for another tenant's).
    fn web_process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<WebProcessRecord>>;
    /// A Web & SDK process by id alone (the journey, authenticated by the process token).
    fn web_process_by_id(&self, id: &str) -> StoreResult<Option<WebProcessRecord>>;
    /// A tenant's Web & SDK processes with this client reference, newest first, at most `limit`.
    fn web_processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebProcessRecord>>;
    /// Records the person's capture, once, only before the process expires (the capture's
    /// `at` is compared with the expiry in the same statement) and never once its personal
    /// data were forgotten: `false` otherwise.
    fn complete_web_process(
        &self,
        process: &WebProcessRecord,
        event: Option<&EventDraft>,
    ) -> StoreResult<bool>;
    /// Sets the document of a process created without one, once: `false` when it had one or
    /// its personal data were forgotten.
    fn set_web_document(&self, process: &WebProcessRecord) -> StoreResult<bool>;

    /// Counts a selfie the journey of Web & SDK process `id` refused at the engines' gates at
    /// `now`; the journey's count so far (`None`: it takes no capture any more — captured,
    /// forgotten or expired by `now`).
    fn refuse_web_capture(&self, id: &str, now: i64) -> StoreResult<Option<u32>>;
    /// Counts a selfie the journey of magic link `token` refused at the engines' gates; the
    /// count so far (`None`: the link takes no capture any more).
    fn refuse_link_capture(&self, token: &str) -> StoreResult<Option<u32>>;

    /// Stores a new magic link, completing its idempotency record in the same transaction.
    fn insert_magic_link(
        &self,
        link: &MagicLinkRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()>;
    /// A magic link of a tenant by token (`None` for another tenant's).
    fn magic_link(&self, tenant_id: &str, token: &str) -> StoreResult<Option<MagicLinkRecord>>;
    /// A magic link by token alone (the journey: the token is the credential).
    fn magic_link_by_token(&self, token: &str) -> StoreResult<Option<MagicLinkRecord>>;
    /// Records the journey's capture, once: `false` when the link was already used or its
    /// personal data were forgotten (a scrub and a capture never overwrite each other).
    fn complete_magic_link(&self, link: &MagicLinkRecord) -> StoreResult<bool>;

    /// Blobs whose retention window ended and that were not deleted yet (at most `limit` per
    /// kind).
    fn blobs_past_retention(
        &self,
        cutoffs: &RetentionCutoffs,
        limit: usize,
    ) -> StoreResult<Vec<ExpiredBlob>>;
    /// Whether a committed record owns the blob `key` (`<tenant>/<id>.selfie` of a process or
    /// captured Web & SDK process, `<tenant>/<token>.link-selfie` of a used magic link).
    fn blob_owned(&self, key: &str) -> StoreResult<bool>;
    /// Forgets the personal data of Web & SDK processes and Magic Links whose process window
    /// (per tenant, else `cutoffs.defaults`) has ended at `cutoffs.now`, at most `limit` of
    /// each; the records stay as tombstones with their verdicts. Returns how many it scrubbed.
    fn scrub_personal_data(&self, cutoffs: &RetentionCutoffs, limit: usize) -> StoreResult<usize>;
    /// Leaves the tombstone of a deleted blob: when it was deleted.
    fn mark_blob_deleted(&self, blob: &ExpiredBlob, at: i64) -> StoreResult<()>;

    /// Processes that finished by time (async API processes, expired Web & SDK ones) of tenants
    /// with an endpoint (enabled or paused), and have no event yet.
    fn finished_without_event(&self, now: i64, limit: usize) -> StoreResult<FinishedByTime>;
    /// The earliest moment after `after` at which a process of a tenant with an endpoint
    /// finishes by time (an async API result, a Web & SDK expiry) without an event yet.
    fn next_finish_by_time(&self, after: i64) -> StoreResult<Option<i64>>;
    /// Creates or replaces a tenant's webhook endpoint.
    fn set_webhook(&self, config: &WebhookConfig) -> StoreResult<()>;
    /// A tenant's webhook endpoint.
    fn webhook(&self, tenant_id: &str) -> StoreResult<Option<WebhookConfig>>;
    /// Records an event outside a state change (one per process: `false` if it existed), only
    /// when the tenant has an endpoint; a paused (disabled) endpoint's events are recorded too
    /// and wait for it to be enabled again.
    fn record_event(&self, event: &EventDraft) -> StoreResult<bool>;
    /// Pending events due at `now` of tenants with an enabled endpoint: at most the endpoint's
    /// concurrency per tenant (one while it is failing), every tenant's oldest before any
    /// tenant's second (then oldest first), so no tenant's backlog holds up another's.
    fn due_events(&self, now: i64, limit: usize) -> StoreResult<Vec<WebhookEvent>>;
    /// Records one attempt and its outcome.
    fn record_attempt(&self, attempt: &WebhookAttempt, outcome: AttemptOutcome) -> StoreResult<()>;
    /// A tenant's events (optionally of one process), newest first.
    fn events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookEvent>>;
    /// A tenant's attempts (optionally of one process), newest first.
    fn attempts(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookAttempt>>;
    /// Makes a tenant's events (of one process, or created since a time) due at once, on any
    /// clock;
    /// returns how many.
    fn replay_events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        since: Option<i64>,
    ) -> StoreResult<usize>;
}
