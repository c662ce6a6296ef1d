//! The rate limiter: one token bucket per tenant (tenants belong to one environment), limits
//! read from the store and cached for a second so admin changes apply within a second. On one
//! node the buckets live here; on a shared store (several nodes, CONTRACT §18) each tenant has
//! one bucket in the store, and each node leases a tenth of a second's tokens at a time from
//! it: no more requests succeed in all than the bucket gives out, and a lease unspent after a
//! second is dropped (the nodes serve a little under the limit rather than over it).

use selo_domain::clock::Clock;
use selo_domain::problem::Problem;
use selo_domain::rate_limit::{Bucket, Decision, Limit, Quota};
use selo_store::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const LIMIT_CACHE_TTL: Duration = Duration::from_secs(1);

/// How long a node keeps tokens it leased from a shared bucket, milliseconds (server clock).
const LEASE_MS: i64 = 1000;

/// Tokens a node has leased from a tenant's shared bucket and not spent yet.
struct Lease {
    left: u32,
    until_ms: i64,
    /// The shared bucket's quota when the lease was taken.
    quota: Quota,
}

/// Per-tenant buckets.
pub struct RateLimiter {
    default_rps: u32,
    shared: bool,
    limits: Mutex<HashMap<String, (Instant, Option<Limit>)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    leases: Mutex<HashMap<String, Lease>>,
}

impl RateLimiter {
    /// A limiter whose tenants without a setting get `default_rps` (0 = unlimited); `shared`:
    /// the buckets are the store's, shared with other nodes.
    pub fn new(default_rps: u32, shared: bool) -> Self {
        RateLimiter {
            default_rps,
            shared,
            limits: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            leases: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, store: &dyn Store, tenant_id: &str) -> Result<Option<Limit>, Problem> {
        let now = Instant::now();
        let cached = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant_id)
            .filter(|(at, _)| now.duration_since(*at) < LIMIT_CACHE_TTL)
            .map(|(_, limit)| *limit);
        if let Some(limit) = cached {
            return Ok(limit);
        }
        let tenant = store.tenant(tenant_id).map_err(|e| {
            tracing::error!(error = %e, "reading the tenant's rate limit failed");
            Problem::Internal
        })?;
        let rps = tenant
            .and_then(|t| t.rate_limit)
            .unwrap_or(self.default_rps);
        let limit = Limit::per_second(rps);
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant_id.to_string(), (now, limit));
        Ok(limit)
    }

    /// Takes a token for `tenant_id`: the quota when allowed (`None` when unlimited), else 429.
    pub fn check(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        tenant_id: &str,
    ) -> Result<Option<Quota>, Problem> {
        let Some(limit) = self.limit(store, tenant_id)? else {
            return Ok(None);
        };
        let now_ms = clock.unix_millis();
        let decision = if self.shared {
            self.take_shared(store, tenant_id, limit, now_ms)?
        } else {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            buckets
                .entry(tenant_id.to_string())
                .or_insert_with(|| Bucket::full(limit, now_ms))
                .take(limit, now_ms)
        };
        match decision {
            Decision::Allowed(quota) => Ok(Some(quota)),
            Decision::Limited {
                retry_after_seconds,
                quota,
            } => Err(Problem::RateLimited {
                retry_after_seconds,
                quota,
            }),
        }
    }

    /// Takes a token from this node's lease of `tenant_id`'s shared bucket, leasing more (a
    /// tenth of a second's worth) when it is spent or over.
    fn take_shared(
        &self,
        store: &dyn Store,
        tenant_id: &str,
        limit: Limit,
        now_ms: i64,
    ) -> Result<Decision, Problem> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lease) = leases.get_mut(tenant_id)
            && lease.left > 0
            && now_ms < lease.until_ms
        {
            lease.left -= 1;
            return Ok(Decision::Allowed(Quota {
                remaining: lease.quota.remaining + lease.left,
                ..lease.quota
            }));
        }
        let want = (limit.rate / 10.0).ceil().clamp(1.0, 1000.0) as u32;
        let (got, decision) = store
            .take_rate_tokens(tenant_id, limit, want, now_ms)
            .map_err(|e| {
                tracing::error!(error = %e, "leasing rate-limit tokens failed");
                Problem::Internal
            })?;
        match decision {
            // The first token's quota counts the leased ones as remaining: they are this
            // tenant's; the lease keeps what the shared bucket has left without them.
            Decision::Allowed(quota) => {
                let left = got.saturating_sub(1);
                leases.insert(
                    tenant_id.to_string(),
                    Lease {
                        left,
                        until_ms: now_ms + LEASE_MS,
                        quota: Quota {
                            remaining: quota.remaining.saturating_sub(left),
                            ..quota
                        },
                    },
                );
            }
            Decision::Limited { .. } => {
                leases.remove(tenant_id);
            }
        }
        Ok(decision)
    }

    /// Gives back the token a request of `tenant_id` took (it was then refused with a 401);
    /// the quota after it.
    pub fn refund(&self, tenant_id: &str) -> Option<Quota> {
        if self.shared {
            // Back into this node's lease: it is spent by the tenant's next request.
            let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
            let lease = leases.get_mut(tenant_id)?;
            lease.left += 1;
            return Some(Quota {
                remaining: lease.quota.remaining + lease.left,
                ..lease.quota
            });
        }
        let limit = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant_id)
            .and_then(|(_, limit)| *limit)?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        Some(buckets.get_mut(tenant_id)?.give_back(limit))
    }
}
