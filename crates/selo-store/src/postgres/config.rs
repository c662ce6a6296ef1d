//! PostgreSQL: the [`Configuration`] role. Every change moves the configuration epoch in its
//! own transaction (the tables' triggers), so every node sees it at its next epoch read.

use super::*;
use crate::Configuration;
use crate::records::list_column;
use selo_domain::retention::Retention;
use selo_domain::verification::{EngineSet, EngineSettings, MatchThresholds};

impl Configuration for PostgresStore {
    fn ping(&self) -> StoreResult<()> {
        self.query_opt("SELECT 1", &[]).map(|_| ())
    }

    fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let flows = t.flows.as_ref().map(|f| f.join(","));
        let permissions = t.permissions.as_ref().map(|p| p.join(","));
        let rate_limit = t.rate_limit.map(i64::from);
        self.execute_config_or(
            "INSERT INTO tenants (id, name, environment, rate_limit, created_at, flows, permissions) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&t.id, &t.name, &t.environment, &rate_limit, &t.created_at, &flows, &permissions],
            conflict_on_unique(format!("tenant {}", t.id)),
        )?;
        Ok(())
    }

    fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        self.query_opt(
            &format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"),
            &[&id],
        )?
        .as_ref()
        .map(tenant_row)
        .transpose()
    }

    fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.query(
            &format!("SELECT {TENANT_COLS} FROM tenants ORDER BY created_at, id"),
            &[],
        )?
        .iter()
        .map(tenant_row)
        .collect()
    }

    fn create_account(&self, a: &Account, key: &AccountKey) -> StoreResult<()> {
        let allow_ips = a.allow_ips.join(",");
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                "INSERT INTO accounts (tenant_id, name, enabled, allow_ips, allowed_hours, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&a.tenant_id, &a.name, &a.enabled, &allow_ips, &a.allowed_hours, &a.created_at],
            )
            .await
            .map_err(conflict_on_unique(format!("account {} in tenant {}", a.name, a.tenant_id)))?;
            insert_key(&tx, key).await?;
            let epoch = changed_epoch(&tx).await?;
            tx.commit().await?;
            self.db.observed(epoch);
            Ok(())
        })
    }

    fn account(&self, tenant_id: &str, name: &str) -> StoreResult<Option<Account>> {
        self.query_opt(
            &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE tenant_id = $1 AND name = $2"),
            &[&tenant_id, &name],
        )?
        .as_ref()
        .map(account_row)
        .transpose()
    }

    fn list_accounts(&self, tenant_id: &str) -> StoreResult<Vec<Account>> {
        self.query(
            &format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE tenant_id = $1 ORDER BY created_at, name"
            ),
            &[&tenant_id],
        )?
        .iter()
        .map(account_row)
        .collect()
    }

    fn set_account_enabled(&self, tenant_id: &str, name: &str, enabled: bool) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE accounts SET enabled = $3 WHERE tenant_id = $1 AND name = $2",
            &[&tenant_id, &name, &enabled],
        )?;
        changed(n, || format!("account {name} in tenant {tenant_id}"))
    }

    fn set_account_access(
        &self,
        tenant_id: &str,
        name: &str,
        allow_ips: &[String],
        allowed_hours: Option<&str>,
    ) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE accounts SET allow_ips = $3, allowed_hours = $4 WHERE tenant_id = $1 AND name = $2",
            &[&tenant_id, &name, &allow_ips.join(","), &allowed_hours],
        )?;
        changed(n, || format!("account {name} in tenant {tenant_id}"))
    }

    fn add_account_key(&self, key: &AccountKey) -> StoreResult<()> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM accounts WHERE tenant_id = $1 AND name = $2",
                    &[&key.tenant_id, &key.account],
                )
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!(
                    "account {} in tenant {}",
                    key.account, key.tenant_id
                )));
            }
            insert_key(&tx, key).await?;
            let epoch = changed_epoch(&tx).await?;
            tx.commit().await?;
            self.db.observed(epoch);
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
        let n = self.execute_config(
            "UPDATE account_keys SET revoked_at = COALESCE(revoked_at, $4) WHERE tenant_id = $1 AND account = $2 AND id = $3",
            &[&tenant_id, &name, &key_id, &at],
        )?;
        changed(n, || format!("key {key_id} of account {name}"))
    }

    fn account_keys(&self, tenant_id: &str, name: &str) -> StoreResult<Vec<AccountKey>> {
        self.query(
            &format!(
                "SELECT {KEY_COLS} FROM account_keys WHERE tenant_id = $1 AND account = $2 ORDER BY created_at, id"
            ),
            &[&tenant_id, &name],
        )?
        .iter()
        .map(key_row)
        .collect()
    }

    fn record_auth_failure(
        &self,
        tenant_id: &str,
        name: &str,
        now: i64,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<i64>> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // The account's row is locked first, so failures counted on several nodes at once
            // are counted one after the other.
            tx.execute(
                "SELECT 1 FROM accounts WHERE tenant_id = $1 AND name = $2 FOR UPDATE",
                &[&tenant_id, &name],
            )
            .await?;
            tx.execute(
                "DELETE FROM auth_failures WHERE tenant_id = $1 AND account = $2 AND at <= $3",
                &[&tenant_id, &name, &(now - policy.window_seconds)],
            )
            .await?;
            tx.execute(
                "INSERT INTO auth_failures (tenant_id, account, at) VALUES ($1, $2, $3)",
                &[&tenant_id, &name, &now],
            )
            .await?;
            let failures: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM auth_failures WHERE tenant_id = $1 AND account = $2",
                    &[&tenant_id, &name],
                )
                .await?
                .try_get(0)?;
            let locked = if policy.attempts > 0 && failures >= i64::from(policy.attempts) {
                let until = now + policy.duration_seconds;
                tx.execute(
                    "UPDATE accounts SET locked_until = $3 WHERE tenant_id = $1 AND name = $2",
                    &[&tenant_id, &name, &until],
                )
                .await?;
                tx.execute(
                    "DELETE FROM auth_failures WHERE tenant_id = $1 AND account = $2",
                    &[&tenant_id, &name],
                )
                .await?;
                // The lock is configuration the token service caches; a failure that does not
                // lock changes nothing cached (and must not let bad signatures flush caches).
                Some((until, changed_epoch(&tx).await?))
            } else {
                None
            };
            tx.commit().await?;
            Ok(locked.map(|(until, epoch)| {
                self.db.observed(epoch);
                until
            }))
        })
    }

    fn config_epoch(&self) -> StoreResult<u64> {
        let epoch = self.wait(async {
            let client = self.client().await?;
            read_epoch(&client).await
        })?;
        self.db.observed(epoch);
        Ok(self.known_config_epoch())
    }

    fn known_config_epoch(&self) -> u64 {
        self.db.epoch.load(Ordering::Relaxed)
    }

    fn set_manual_clock(&self, unix_nanos: Option<i64>) -> StoreResult<()> {
        match unix_nanos {
            Some(n) => self.execute(
                "INSERT INTO server_clock (id, manual_unix_nanos) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET manual_unix_nanos = GREATEST(server_clock.manual_unix_nanos, excluded.manual_unix_nanos)",
                &[&n],
            )?,
            None => self.execute("DELETE FROM server_clock", &[])?,
        };
        Ok(())
    }

    fn manual_clock(&self) -> StoreResult<Option<i64>> {
        self.query_opt(
            "SELECT manual_unix_nanos FROM server_clock WHERE id = 1",
            &[],
        )?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
    }

    fn advance_manual_clock(&self, nanos: i64) -> StoreResult<Option<i64>> {
        self.query_opt(
            "UPDATE server_clock SET manual_unix_nanos = manual_unix_nanos + $1 WHERE id = 1 RETURNING manual_unix_nanos",
            &[&nanos],
        )?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
    }

    fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        self.execute_config_or(
            "INSERT INTO api_keys (id, tenant_id, hash, capabilities, revoked_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&k.id, &k.tenant_id, &k.hash.as_slice(), &k.capabilities, &k.revoked_at, &k.created_at],
            conflict_on_unique(format!("api key {}", k.id)),
        )?;
        Ok(())
    }

    fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.query_opt(
            &format!("SELECT {API_KEY_COLS} FROM api_keys WHERE hash = $1"),
            &[&hash.as_slice()],
        )?
        .as_ref()
        .map(api_key_row)
        .transpose()
    }

    fn list_api_keys(&self, tenant_id: &str) -> StoreResult<Vec<ApiKey>> {
        self.query(
            &format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id"
            ),
            &[&tenant_id],
        )?
        .iter()
        .map(api_key_row)
        .collect()
    }

    fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id, &at],
        )?;
        changed(n, || format!("api key {id}"))
    }

    fn set_tenant_rate_limit(&self, tenant_id: &str, rps: Option<u32>) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE tenants SET rate_limit = $2 WHERE id = $1",
            &[&tenant_id, &rps.map(i64::from)],
        )?;
        changed(n, || format!("tenant {tenant_id}"))
    }

    fn set_tenant_retention(
        &self,
        tenant_id: &str,
        selfie: Option<i64>,
        evidence: Option<i64>,
        process: Option<i64>,
    ) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE tenants SET selfie_retention = COALESCE($2, selfie_retention), evidence_retention = COALESCE($3, evidence_retention), process_retention = COALESCE($4, process_retention) WHERE id = $1",
            &[&tenant_id, &selfie, &evidence, &process],
        )?;
        changed(n, || format!("tenant {tenant_id}"))
    }

    fn set_tenant_flows(&self, tenant_id: &str, flows: &[String]) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE tenants SET flows = $2 WHERE id = $1",
            &[&tenant_id, &flows.join(",")],
        )?;
        changed(n, || format!("tenant {tenant_id}"))
    }

    fn set_tenant_engines(&self, tenant_id: &str, engines: EngineSettings) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE tenants SET engines = $2, match_accept = $3, match_reject = $4 WHERE id = $1",
            &[
                &tenant_id,
                &engines.set.map(EngineSet::as_str),
                &engines.thresholds.map(|t| f64::from(t.accept)),
                &engines.thresholds.map(|t| f64::from(t.reject)),
            ],
        )?;
        changed(n, || format!("tenant {tenant_id}"))
    }

    fn set_tenant_permissions(&self, tenant_id: &str, permissions: &[String]) -> StoreResult<()> {
        let n = self.execute_config(
            "UPDATE tenants SET permissions = $2 WHERE id = $1",
            &[&tenant_id, &permissions.join(",")],
        )?;
        changed(n, || format!("tenant {tenant_id}"))
    }

    fn set_webhook(&self, w: &WebhookConfig) -> StoreResult<()> {
        // A new configuration starts with no failures counted, as a replaced row does.
        self.execute(
            "INSERT INTO webhooks (tenant_id, url, auth, max_attempts, retry_interval, timeout, concurrency, secret, previous_secret, previous_until, enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, auth = excluded.auth, max_attempts = excluded.max_attempts, retry_interval = excluded.retry_interval, timeout = excluded.timeout, concurrency = excluded.concurrency, secret = excluded.secret, previous_secret = excluded.previous_secret, previous_until = excluded.previous_until, enabled = excluded.enabled, consecutive_failures = 0",
            &[
                &w.tenant_id,
                &w.url,
                &w.auth,
                &i64::from(w.max_attempts),
                &w.retry_interval,
                &w.timeout,
                &i64::from(w.concurrency),
                &w.secret,
                &w.previous_secret,
                &w.previous_until,
                &w.enabled,
            ],
        )?;
        Ok(())
    }

    fn webhook(&self, tenant_id: &str) -> StoreResult<Option<WebhookConfig>> {
        self.query_opt(
            "SELECT tenant_id, url, auth, max_attempts, retry_interval, timeout, concurrency, secret, previous_secret, previous_until, enabled, consecutive_failures FROM webhooks WHERE tenant_id = $1",
            &[&tenant_id],
        )?
        .map(|r| {
            Ok(WebhookConfig {
                tenant_id: r.try_get(0)?,
                url: r.try_get(1)?,
                auth: r.try_get(2)?,
                max_attempts: to_u32(r.try_get(3)?),
                retry_interval: r.try_get(4)?,
                timeout: r.try_get(5)?,
                concurrency: to_u32(r.try_get(6)?),
                secret: r.try_get(7)?,
                previous_secret: r.try_get(8)?,
                previous_until: r.try_get(9)?,
                enabled: r.try_get(10)?,
                consecutive_failures: to_u32(r.try_get(11)?),
            })
        })
        .transpose()
    }
}

const TENANT_COLS: &str = "id, name, environment, rate_limit, created_at, flows, permissions, selfie_retention, evidence_retention, process_retention, engines, match_accept, match_reject";

fn tenant_row(r: &Row) -> StoreResult<Tenant> {
    let rate_limit: Option<i64> = r.try_get(3)?;
    let set: Option<String> = r.try_get(10)?;
    let accept: Option<f64> = r.try_get(11)?;
    let reject: Option<f64> = r.try_get(12)?;
    Ok(Tenant {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        environment: r.try_get(2)?,
        rate_limit: rate_limit.map(to_u32),
        created_at: r.try_get(4)?,
        flows: list_column(r.try_get(5)?),
        permissions: list_column(r.try_get(6)?),
        retention: Retention::with(r.try_get(7)?, r.try_get(8)?, r.try_get(9)?),
        engines: EngineSettings {
            set: set.as_deref().and_then(EngineSet::parse),
            thresholds: accept.zip(reject).map(|(accept, reject)| MatchThresholds {
                accept: accept as f32,
                reject: reject as f32,
            }),
        },
    })
}

const ACCOUNT_COLS: &str =
    "tenant_id, name, enabled, allow_ips, allowed_hours, locked_until, created_at";

fn account_row(r: &Row) -> StoreResult<Account> {
    let ips: String = r.try_get(3)?;
    Ok(Account {
        tenant_id: r.try_get(0)?,
        name: r.try_get(1)?,
        enabled: r.try_get(2)?,
        allow_ips: list_column(Some(ips)).unwrap_or_default(),
        allowed_hours: r.try_get(4)?,
        locked_until: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

const KEY_COLS: &str = "id, tenant_id, account, public_key_pem, revoked_at, created_at";

fn key_row(r: &Row) -> StoreResult<AccountKey> {
    Ok(AccountKey {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        account: r.try_get(2)?,
        public_key_pem: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

pub(super) const API_KEY_COLS: &str = "id, tenant_id, hash, capabilities, revoked_at, created_at";

pub(super) fn api_key_row(r: &Row) -> StoreResult<ApiKey> {
    let hash: Vec<u8> = r.try_get(2)?;
    Ok(ApiKey {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("an API key's hash".into()))?,
        capabilities: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

async fn insert_key(tx: &Transaction<'_>, k: &AccountKey) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO account_keys (id, tenant_id, account, public_key_pem, revoked_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&k.id, &k.tenant_id, &k.account, &k.public_key_pem, &k.revoked_at, &k.created_at],
    )
    .await
    .map_err(conflict_on_unique(format!("key {}", k.id)))?;
    Ok(())
}
