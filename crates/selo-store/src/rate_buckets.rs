//! Rate-limit buckets shared by the nodes of one platform (CONTRACT §18: a tenant's limit holds
//! across nodes within 10 %): each node leases a few tokens at a time from the tenant's one
//! bucket, so no more requests succeed in all than the bucket gives out.

use crate::StoreResult;
use selo_domain::rate_limit::{Decision, Limit};

/// The tenants' shared token buckets.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait RateBuckets: Send + Sync {
    /// Takes up to `want` tokens from `tenant_id`'s bucket at `now_ms` under `limit` (a full
    /// bucket when it has none yet): how many it took, and the decision for the first.
    fn take_rate_tokens(
        &self,
        tenant_id: &str,
        limit: Limit,
        want: u32,
        now_ms: i64,
    ) -> StoreResult<(u32, Decision)>;
}
