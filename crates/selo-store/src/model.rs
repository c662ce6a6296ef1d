//! Stored records other than processes (which are domain records).

/// A tenant: the unit that owns accounts, keys and processes, in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Tenant id (UUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `sandbox` or `production`.
    pub environment: String,
    /// Requests per second (`None`: the server default).
    pub rate_limit: Option<u32>,
    /// Web & SDK flows enabled (`None`: every flow).
    pub flows: Option<Vec<String>>,
    /// Web & SDK permissions (`selfie`, `evidenceset`; `None`: both).
    pub permissions: Option<Vec<String>>,
    /// Retention windows.
    pub retention: selo_domain::retention::Retention,
    /// Engine set and match thresholds (CONTRACT §17).
    pub engines: selo_domain::verification::EngineSettings,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Owning tenant.
    pub tenant_id: String,
    /// Account name (unique in the tenant).
    pub name: String,
    /// Whether it may obtain tokens.
    pub enabled: bool,
    /// CIDRs allowed to obtain tokens (empty = any).
    pub allow_ips: Vec<String>,
    /// Daily UTC window `HH:MM-HH:MM`.
    pub allowed_hours: Option<String>,
    /// End of the current lock, Unix seconds.
    pub locked_until: Option<i64>,
    /// Creation time.
    pub created_at: i64,
}

/// A public key of a service account (only public keys are stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    /// Key id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Owning account.
    pub account: String,
    /// The RSA public key, PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    pub public_key_pem: String,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
}

/// Which idempotency record a request names (CONTRACT §11): tenant (and so environment),
/// route and the client's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyScope<'a> {
    /// Tenant.
    pub tenant_id: &'a str,
    /// Route, e.g. `POST /processes/v1`.
    pub route: &'a str,
    /// The `Idempotency-Key` header.
    pub key: &'a str,
}

/// A response kept for replay, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What the record of an idempotency key says when a request arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// No (live) record: this request runs; the record now says "running" until its lease ends.
    Started,
    /// The first request finished: replay its response.
    Replay(StoredResponse),
    /// The first request is still running.
    InFlight,
    /// The key was used with another body.
    Mismatch,
}

/// Completing an idempotent create: the response to keep and until when.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyCompletion<'a> {
    /// The record.
    pub scope: IdempotencyScope<'a>,
    /// The response.
    pub response: &'a StoredResponse,
    /// Kept until (Unix seconds).
    pub expires_at: i64,
}

/// When the sweeper runs and the windows of tenants without their own.
#[derive(Debug, Clone, Copy)]
pub struct RetentionCutoffs {
    /// Now (Unix seconds).
    pub now: i64,
    /// Default windows.
    pub defaults: selo_domain::retention::Retention,
}

/// An API key (`APIKEY` / `x-api-key`): only the SHA-256 of the secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
    /// Comma list of capabilities.
    pub capabilities: String,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
}

/// Processes whose finishing is decided by the clock and that have no event yet.
#[derive(Debug, Clone, Default)]
pub struct FinishedByTime {
    /// API-contract processes past `completesAt`.
    pub api: Vec<selo_domain::process::ProcessRecord>,
    /// Web & SDK processes past `expiresAt` without a capture.
    pub web: Vec<selo_domain::web::WebProcessRecord>,
}

/// A tenant's webhook endpoint (CONTRACT §16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Tenant.
    pub tenant_id: String,
    /// Receiver URL.
    pub url: String,
    /// Receiver authentication, as JSON of `selo_domain::webhook::ReceiverAuth`.
    pub auth: String,
    /// Attempts before an event is `failed`.
    pub max_attempts: u32,
    /// First retry interval, seconds (doubling up to 1 h).
    pub retry_interval: i64,
    /// Per-attempt timeout, seconds.
    pub timeout: i64,
    /// Deliveries in flight at once.
    pub concurrency: u32,
    /// Current signing secret (`whsec_…`).
    pub secret: String,
    /// The previous secret, still used to sign until `previous_until`.
    pub previous_secret: Option<String>,
    /// End of the rotation overlap (Unix seconds).
    pub previous_until: Option<i64>,
    /// Whether events are recorded and delivered.
    pub enabled: bool,
    /// Attempts that failed in a row (kept by the store; ignored by `set_webhook`).
    pub consecutive_failures: u32,
}

impl WebhookConfig {
    /// Failed attempts in a row after which the endpoint is `failing`.
    pub const FAILING_AFTER: u32 = 10;

    /// Whether the endpoint is failing: it gets one delivery at a time until one succeeds.
    pub fn failing(&self) -> bool {
        self.consecutive_failures >= Self::FAILING_AFTER
    }
}

/// An event to write with the state change that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    /// Event id (also `webhook-id`).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The process.
    pub process_id: String,
    /// The JSON payload.
    pub payload: String,
    /// When (Unix seconds).
    pub created_at: i64,
}

/// A stored event and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Event id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The process.
    pub process_id: String,
    /// The JSON payload.
    pub payload: String,
    /// When it was recorded.
    pub created_at: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: i64,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// The event.
    pub event_id: String,
    /// The process.
    pub process_id: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// When (Unix seconds).
    pub at: i64,
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// Milliseconds until the response or the failure.
    pub latency_ms: i64,
    /// The failure, when there was one.
    pub error: Option<String>,
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx: done.
    Delivered,
    /// Try again at this time.
    Retry(i64),
    /// No attempts left: kept as `failed` for `replay`.
    Failed,
}
