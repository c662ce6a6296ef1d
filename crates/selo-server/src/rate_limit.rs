//! The single-instance rate limiter: one token bucket per tenant (tenants belong to one
//! environment), limits read from the store and cached for a second so admin changes apply
//! within a second.

use selo_domain::clock::Clock;
use selo_domain::problem::Problem;
use selo_domain::rate_limit::{Bucket, Decision, Limit, Quota};
use selo_store::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const LIMIT_CACHE_TTL: Duration = Duration::from_secs(1);

/// Per-tenant buckets.
pub struct RateLimiter {
    default_rps: u32,
    limits: Mutex<HashMap<String, (Instant, Option<Limit>)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter whose tenants without a setting get `default_rps` (0 = unlimited).
    pub fn new(default_rps: u32) -> Self {
        RateLimiter {
            default_rps,
            limits: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
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
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets
            .entry(tenant_id.to_string())
            .or_insert_with(|| Bucket::full(limit, now_ms));
        match bucket.take(limit, now_ms) {
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

    /// Gives back the token a request of `tenant_id` took (it was then refused with a 401);
    /// the quota after it.
    pub fn refund(&self, tenant_id: &str) -> Option<Quota> {
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
