//! PostgreSQL: the [`RateBuckets`] role: a tenant's bucket row is locked while a node leases
//! tokens from it, so the nodes' leases add up to no more than the bucket gives out.

use super::*;
use crate::RateBuckets;
use selo_domain::rate_limit::{Bucket, Decision, Limit};

impl RateBuckets for PostgresStore {
    fn take_rate_tokens(
        &self,
        tenant_id: &str,
        limit: Limit,
        want: u32,
        now_ms: i64,
    ) -> StoreResult<(u32, Decision)> {
        let full = Bucket::full(limit, now_ms).parts();
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO rate_buckets (tenant_id, tokens, updated_ms) VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO NOTHING",
                )
                .await?,
                &[&tenant_id, &full.0, &full.1],
            )
            .await?;
            let row = tx
                .query_one(
                    &tx.prepare_cached(
                        "SELECT tokens, updated_ms FROM rate_buckets WHERE tenant_id = $1 FOR UPDATE",
                    )
                    .await?,
                    &[&tenant_id],
                )
                .await?;
            let mut bucket = Bucket::stored(row.try_get(0)?, row.try_get(1)?);
            let taken = bucket.take_up_to(limit, now_ms, want);
            let (tokens, at) = bucket.parts();
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE rate_buckets SET tokens = $2, updated_ms = $3 WHERE tenant_id = $1",
                )
                .await?,
                &[&tenant_id, &tokens, &at],
            )
            .await?;
            tx.commit().await?;
            Ok(taken)
        })
    }
}
