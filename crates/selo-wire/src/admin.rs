//! `--json` outputs of `selo serve` and `selo admin …` (CONTRACT §15).

use serde::{Deserialize, Serialize};

/// One line per environment printed by `selo serve --json` once every listener is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServeLine {
    /// `sandbox` or `production`.
    pub environment: String,
    /// The bound address (`127.0.0.1:41234`).
    pub listen: String,
    /// Base URL of the environment.
    pub public_url: String,
    /// The `aud` assertions must carry.
    pub audience: String,
}

/// `selo admin tenant create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated {
    /// New tenant id (UUID).
    pub tenant_id: String,
    /// Its environment.
    pub environment: String,
}

/// A row of `selo admin tenant list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    /// Tenant id.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Environment.
    pub environment: String,
    /// Requests per second (`null` = server default).
    pub rate_limit: Option<u32>,
    /// Web & SDK flows (`null` = every flow).
    pub flows: Option<Vec<String>>,
    /// Web & SDK permissions (`null` = selfie and evidenceset).
    pub permissions: Option<Vec<String>>,
    /// Retention windows in seconds: `{selfie, evidence, process}`.
    pub retention: serde_json::Value,
    /// The engines in effect (`local` or `scenarios`) and their thresholds.
    pub engines: EnginesInfo,
}

/// A tenant's engines (`selo admin tenant list`, `set-engines`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnginesInfo {
    /// `local` or `scenarios`.
    pub set: String,
    /// Largest face distance accepted as the same person.
    pub match_accept: f32,
    /// Face distance over which the person is another one.
    pub match_reject: f32,
}

/// `selo admin account create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountCreated {
    /// `NAME@TENANT_ID.iam.acesso.io`, the `iss` of the account's assertions.
    pub iss: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Account name.
    pub account: String,
    /// Id of the account's first key.
    pub key_id: String,
}

/// `selo admin account add-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyAdded {
    /// Id of the new key.
    pub key_id: String,
}

/// A row of `selo admin account list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// `iss` value.
    pub iss: String,
    /// Account name.
    pub account: String,
    /// Whether the account may obtain tokens.
    pub enabled: bool,
    /// IP allow-list (empty = any).
    pub allow_ips: Vec<String>,
    /// Daily UTC window `HH:MM-HH:MM`, if restricted.
    pub allowed_hours: Option<String>,
    /// The account's keys.
    pub keys: Vec<KeyInfo>,
}

/// One public key of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// Key id.
    pub key_id: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// `selo admin apikey create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    /// The secret, shown once (only its hash is stored).
    pub api_key: String,
    /// Id to revoke it with.
    pub id: String,
}

/// A row of `selo admin apikey list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    /// Key id.
    pub id: String,
    /// Capabilities.
    pub capabilities: Vec<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// `DATA/demo/credentials.json`, written by `selo serve --demo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoCredentials {
    /// Sandbox base URL.
    pub url: String,
    /// Demo tenant id.
    pub tenant_id: String,
    /// Service account `iss`.
    pub iss: String,
    /// Private key PEM, relative to the credentials file's folder.
    pub private_key_file: String,
    /// API key with every capability.
    pub api_key: String,
}

/// `selo admin webhook set|show` (CONTRACT §15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInfo {
    /// Tenant.
    pub tenant_id: String,
    /// Receiver URL.
    pub url: String,
    /// Receiver authentication, redacted.
    pub auth: String,
    /// Attempts before an event is `failed`.
    pub max_attempts: u32,
    /// First retry interval, seconds.
    pub retry_interval: i64,
    /// Per-attempt timeout, seconds.
    pub timeout: i64,
    /// Deliveries in flight at once.
    pub concurrency: u32,
    /// Whether events are recorded and delivered.
    pub enabled: bool,
    /// `healthy`, or `failing` after 10 failed attempts in a row (then one delivery at a time
    /// until one succeeds; queued events are kept).
    pub health: String,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// The `whsec_` signing secret.
    pub signing_secret: String,
}

/// `selo admin webhook rotate-secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotated {
    /// The new secret.
    pub signing_secret: String,
    /// Until when the previous secret also signs (RFC 3339).
    pub previous_valid_until: String,
}

/// One event of `selo admin webhook deliveries`, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryInfo {
    /// Event id (`webhook-id`).
    pub event_id: String,
    /// Process.
    pub process_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// When the next attempt is due (RFC 3339, server clock), while `pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The payload.
    pub payload: serde_json::Value,
    /// Attempts, oldest first.
    pub attempts: Vec<AttemptInfo>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptInfo {
    /// 1-based.
    pub attempt: u32,
    /// RFC 3339.
    pub at: String,
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// Milliseconds.
    pub latency_ms: i64,
    /// The failure.
    pub error: Option<String>,
}

/// What `selo admin export` wrote or `selo admin import` moved (CONTRACT §18): the same counts
/// on both sides of a move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferCounts {
    /// The export file.
    pub file: String,
    /// Rows per table, by table name, and `blobs`: the stored images.
    pub counts: std::collections::BTreeMap<String, u64>,
}
