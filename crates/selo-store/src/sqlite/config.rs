//! SQLite: the [`Configuration`] role.

use super::*;
use crate::Configuration;
use crate::records::list_column;

impl Configuration for SqliteStore {
    fn ping(&self) -> StoreResult<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
    }

    fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        self.write_config(|c| {
            c.execute(
                "INSERT INTO tenants (id, name, environment, rate_limit, created_at, flows, permissions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.id,
                    t.name,
                    t.environment,
                    t.rate_limit,
                    t.created_at,
                    t.flows.as_ref().map(|f| f.join(",")),
                    t.permissions.as_ref().map(|p| p.join(","))
                ],
            )
            .map_err(conflict_on_unique(format!("tenant {}", t.id)))?;
            Ok(())
        })
    }

    fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        self.read(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?1"))?
                    .query_row([id], tenant_row)
                    .optional()?,
            )
        })
    }

    fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TENANT_COLS} FROM tenants ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([], tenant_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn create_account(&self, a: &Account, key: &AccountKey) -> StoreResult<()> {
        self.write_config(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO accounts (tenant_id, name, enabled, allow_ips, allowed_hours, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![a.tenant_id, a.name, a.enabled, a.allow_ips.join(","), a.allowed_hours, a.created_at],
            )
            .map_err(conflict_on_unique(format!("account {} in tenant {}", a.name, a.tenant_id)))?;
            insert_key(&tx, key)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn account(&self, tenant_id: &str, name: &str) -> StoreResult<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE tenant_id = ?1 AND name = ?2"
            ))?
            .query_row([tenant_id, name], account_row)
            .optional()?)
        })
    }

    fn list_accounts(&self, tenant_id: &str) -> StoreResult<Vec<Account>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE tenant_id = ?1 ORDER BY created_at, name"
            ))?;
            let rows = st
                .query_map([tenant_id], account_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn set_account_enabled(&self, tenant_id: &str, name: &str, enabled: bool) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE accounts SET enabled = ?3 WHERE tenant_id = ?1 AND name = ?2",
                params![tenant_id, name, enabled],
            )?;
            changed(n as u64, || format!("account {name} in tenant {tenant_id}"))
        })
    }

    fn set_account_access(
        &self,
        tenant_id: &str,
        name: &str,
        allow_ips: &[String],
        allowed_hours: Option<&str>,
    ) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE accounts SET allow_ips = ?3, allowed_hours = ?4 WHERE tenant_id = ?1 AND name = ?2",
                params![tenant_id, name, allow_ips.join(","), allowed_hours],
            )?;
            changed(n as u64, || format!("account {name} in tenant {tenant_id}"))
        })
    }

    fn add_account_key(&self, key: &AccountKey) -> StoreResult<()> {
        self.write_config(|c| {
            let tx = c.transaction()?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM accounts WHERE tenant_id = ?1 AND name = ?2",
                    [&key.tenant_id, &key.account],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!(
                    "account {} in tenant {}",
                    key.account, key.tenant_id
                )));
            }
            insert_key(&tx, key)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn revoke_account_key(
        &self,
        tenant_id: &str,
        name: &str,
        key_id: &str,
        at: i64,
    ) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE account_keys SET revoked_at = COALESCE(revoked_at, ?4) WHERE tenant_id = ?1 AND account = ?2 AND id = ?3",
                params![tenant_id, name, key_id, at],
            )?;
            changed(n as u64, || format!("key {key_id} of account {name}"))
        })
    }

    fn account_keys(&self, tenant_id: &str, name: &str) -> StoreResult<Vec<AccountKey>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM account_keys WHERE tenant_id = ?1 AND account = ?2 ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([tenant_id, name], key_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn record_auth_failure(
        &self,
        tenant_id: &str,
        name: &str,
        now: i64,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<i64>> {
        self.write(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM auth_failures WHERE tenant_id = ?1 AND account = ?2 AND at <= ?3",
                params![tenant_id, name, now - policy.window_seconds],
            )?;
            tx.execute(
                "INSERT INTO auth_failures (tenant_id, account, at) VALUES (?1, ?2, ?3)",
                params![tenant_id, name, now],
            )?;
            let count: u32 = tx.query_row(
                "SELECT COUNT(*) FROM auth_failures WHERE tenant_id = ?1 AND account = ?2",
                params![tenant_id, name],
                |r| r.get(0),
            )?;
            let locked = if policy.attempts > 0 && count >= policy.attempts {
                let until = now + policy.duration_seconds;
                tx.execute(
                    "UPDATE accounts SET locked_until = ?3 WHERE tenant_id = ?1 AND name = ?2",
                    params![tenant_id, name, until],
                )?;
                tx.execute(
                    "DELETE FROM auth_failures WHERE tenant_id = ?1 AND account = ?2",
                    params![tenant_id, name],
                )?;
                Some(until)
            } else {
                None
            };
            tx.commit()?;
            if locked.is_some() {
                // The lock is configuration the token service caches; a failure that does not
                // lock changes nothing cached (and must not let bad signatures flush caches).
                self.writer.epoch.fetch_add(1, Ordering::Relaxed);
            }
            Ok(locked)
        })
    }

    fn set_manual_clock(&self, unix_nanos: Option<i64>) -> StoreResult<()> {
        self.write(|c| {
            match unix_nanos {
                Some(n) => c.execute(
                    "INSERT INTO server_clock (id, manual_unix_nanos) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET manual_unix_nanos = max(server_clock.manual_unix_nanos, excluded.manual_unix_nanos)",
                    [n],
                )?,
                None => c.execute("DELETE FROM server_clock", [])?,
            };
            Ok(())
        })
    }

    fn manual_clock(&self) -> StoreResult<Option<i64>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT manual_unix_nanos FROM server_clock WHERE id = 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn advance_manual_clock(&self, nanos: i64) -> StoreResult<Option<i64>> {
        self.write(|c| {
            Ok(c.prepare_cached(
                "UPDATE server_clock SET manual_unix_nanos = manual_unix_nanos + ?1 WHERE id = 1 RETURNING manual_unix_nanos",
            )?
            .query_row([nanos], |r| r.get(0))
            .optional()?)
        })
    }

    fn known_config_epoch(&self) -> u64 {
        self.writer.epoch.load(Ordering::Relaxed)
    }

    fn config_epoch(&self) -> StoreResult<u64> {
        let conn = self.writer.lock();
        self.writer.observe(&conn)
    }

    fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        self.write_config(|c| {
            c.execute(
                "INSERT INTO api_keys (id, tenant_id, hash, capabilities, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![k.id, k.tenant_id, k.hash.as_slice(), k.capabilities, k.revoked_at, k.created_at],
            )
            .map_err(conflict_on_unique(format!("api key {}", k.id)))?;
            Ok(())
        })
    }

    fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE hash = ?1"
            ))?
            .query_row([hash.as_slice()], api_key_row)
            .optional()?)
        })
    }

    fn list_api_keys(&self, tenant_id: &str) -> StoreResult<Vec<ApiKey>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE tenant_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = st
                .query_map([tenant_id], api_key_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, at],
            )?;
            changed(n as u64, || format!("api key {id}"))
        })
    }

    fn set_tenant_rate_limit(&self, tenant_id: &str, rps: Option<u32>) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET rate_limit = ?2 WHERE id = ?1",
                params![tenant_id, rps],
            )?;
            changed(n as u64, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_retention(
        &self,
        tenant_id: &str,
        selfie: Option<i64>,
        evidence: Option<i64>,
        process: Option<i64>,
    ) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET selfie_retention = COALESCE(?2, selfie_retention), evidence_retention = COALESCE(?3, evidence_retention), process_retention = COALESCE(?4, process_retention) WHERE id = ?1",
                params![tenant_id, selfie, evidence, process],
            )?;
            changed(n as u64, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_flows(&self, tenant_id: &str, flows: &[String]) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET flows = ?2 WHERE id = ?1",
                params![tenant_id, flows.join(",")],
            )?;
            changed(n as u64, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_engines(&self, tenant_id: &str, engines: EngineSettings) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET engines = ?2, match_accept = ?3, match_reject = ?4 WHERE id = ?1",
                params![
                    tenant_id,
                    engines.set.map(EngineSet::as_str),
                    engines.thresholds.map(|t| f64::from(t.accept)),
                    engines.thresholds.map(|t| f64::from(t.reject))
                ],
            )?;
            changed(n as u64, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_permissions(&self, tenant_id: &str, permissions: &[String]) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET permissions = ?2 WHERE id = ?1",
                params![tenant_id, permissions.join(",")],
            )?;
            changed(n as u64, || format!("tenant {tenant_id}"))
        })
    }

    fn set_webhook(&self, w: &WebhookConfig) -> StoreResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO webhooks (tenant_id, url, auth, max_attempts, retry_interval, timeout, concurrency, secret, previous_secret, previous_until, enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![w.tenant_id, w.url, w.auth, w.max_attempts, w.retry_interval, w.timeout, w.concurrency, w.secret, w.previous_secret, w.previous_until, w.enabled],
            )
            .map_err(conflict_on_unique(format!("webhook of tenant {}", w.tenant_id)))?;
            Ok(())
        })
    }

    fn webhook(&self, tenant_id: &str) -> StoreResult<Option<WebhookConfig>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT tenant_id, url, auth, max_attempts, retry_interval, timeout, concurrency, secret, previous_secret, previous_until, enabled, consecutive_failures FROM webhooks WHERE tenant_id = ?1",
            )?
            .query_row([tenant_id], |r| {
                Ok(WebhookConfig {
                    tenant_id: r.get(0)?,
                    url: r.get(1)?,
                    auth: r.get(2)?,
                    max_attempts: r.get(3)?,
                    retry_interval: r.get(4)?,
                    timeout: r.get(5)?,
                    concurrency: r.get(6)?,
                    secret: r.get(7)?,
                    previous_secret: r.get(8)?,
                    previous_until: r.get(9)?,
                    enabled: r.get(10)?,
                    consecutive_failures: r.get(11)?,
                })
            })
            .optional()?)
        })
    }
}

pub(super) fn tenant_row(r: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: r.get(0)?,
        name: r.get(1)?,
        environment: r.get(2)?,
        rate_limit: r.get(3)?,
        created_at: r.get(4)?,
        flows: list_column(r.get(5)?),
        permissions: list_column(r.get(6)?),
        retention: Retention::with(r.get(7)?, r.get(8)?, r.get(9)?),
        engines: engine_settings(r.get(10)?, r.get(11)?, r.get(12)?),
    })
}

/// A tenant's engine columns as settings (an unknown engine set name reads as the default).
pub(super) fn engine_settings(
    set: Option<String>,
    accept: Option<f64>,
    reject: Option<f64>,
) -> EngineSettings {
    EngineSettings {
        set: set.as_deref().and_then(EngineSet::parse),
        thresholds: accept.zip(reject).map(|(accept, reject)| MatchThresholds {
            accept: accept as f32,
            reject: reject as f32,
        }),
    }
}

pub(super) const TENANT_COLS: &str = "id, name, environment, rate_limit, created_at, flows, permissions, selfie_retention, evidence_retention, process_retention, engines, match_accept, match_reject";

pub(super) fn account_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    let ips: String = r.get(3)?;
    Ok(Account {
        tenant_id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        allow_ips: list_column(Some(ips)).unwrap_or_default(),
        allowed_hours: r.get(4)?,
        locked_until: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub(super) fn key_row(r: &Row<'_>) -> rusqlite::Result<AccountKey> {
    Ok(AccountKey {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        account: r.get(2)?,
        public_key_pem: r.get(3)?,
        revoked_at: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub(super) fn api_key_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    // Read in place: no copy of the hash on every authenticated request.
    let hash = <[u8; 32]>::try_from(r.get_ref(2)?.as_blob()?).unwrap_or([0; 32]);
    Ok(ApiKey {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        hash,
        capabilities: r.get(3)?,
        revoked_at: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub(super) const ACCOUNT_COLS: &str =
    "tenant_id, name, enabled, allow_ips, allowed_hours, locked_until, created_at";

pub(super) const KEY_COLS: &str = "id, tenant_id, account, public_key_pem, revoked_at, created_at";

pub(super) const API_KEY_COLS: &str = "id, tenant_id, hash, capabilities, revoked_at, created_at";

pub(super) fn insert_key(tx: &rusqlite::Transaction<'_>, k: &AccountKey) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO account_keys (id, tenant_id, account, public_key_pem, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![k.id, k.tenant_id, k.account, k.public_key_pem, k.revoked_at, k.created_at],
    )
    .map_err(conflict_on_unique(format!("key {}", k.id)))?;
    Ok(())
}
