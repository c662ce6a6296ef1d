//! Configuration: tenants, service accounts and their public keys, API keys, the webhook
//! configuration, the manual clock and the configuration epoch.

use crate::StoreResult;
use crate::model::*;

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

/// Tenants, their service accounts and keys, API keys, the webhook configuration, the
/// manual clock and the configuration epoch: what every request reads and the admin CLI writes.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait Configuration: Send + Sync {
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
    /// The configuration epoch: a number that moves whenever tenants, accounts, their keys or
    /// API keys may have changed since it was last read, whether through this store or by
    /// another process (`selo admin` writing to the same data directory). An in-memory copy of
    /// configuration taken at epoch `e` is current for as long as this returns `e`.
    fn config_epoch(&self) -> StoreResult<u64>;
    /// The configuration epoch as last observed, without asking the database (see
    /// [`Configuration::config_epoch`]); a commit made at an older epoch is refused with
    /// [`AssertionUseOutcome::StaleConfig`](crate::AssertionUseOutcome::StaleConfig).
    fn known_config_epoch(&self) -> u64;
    /// Records the manual clock of a server started with `--manual-clock` (Unix nanoseconds; a
    /// recorded clock already later stays: it never goes backwards), or that the server's clock
    /// is the real one (`None`), so that other processes on the store (`selo admin`, other
    /// nodes) read the server's one clock.
    fn set_manual_clock(&self, unix_nanos: Option<i64>) -> StoreResult<()>;
    /// The manual clock recorded by [`Configuration::set_manual_clock`], if any.
    fn manual_clock(&self) -> StoreResult<Option<i64>>;
    /// Moves the recorded manual clock forward by `nanos` (every node's moves add up, none is
    /// lost); the instant it holds now, or `None` when no manual clock is recorded.
    fn advance_manual_clock(&self, nanos: i64) -> StoreResult<Option<i64>>;
    /// Stores a new API key (its hash only).
    fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// An API key by the SHA-256 of its secret.
    fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>>;
    /// The API keys of a tenant.
    fn list_api_keys(&self, tenant_id: &str) -> StoreResult<Vec<ApiKey>>;
    /// Revokes an API key.
    fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<()>;
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
    /// Creates or replaces a tenant's webhook endpoint.
    fn set_webhook(&self, config: &WebhookConfig) -> StoreResult<()>;
    /// A tenant's webhook endpoint.
    fn webhook(&self, tenant_id: &str) -> StoreResult<Option<WebhookConfig>>;
}
