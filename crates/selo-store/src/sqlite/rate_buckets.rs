//! SQLite: the [`RateBuckets`] role.

use super::*;
use crate::RateBuckets;
use selo_domain::rate_limit::{Bucket, Decision, Limit};

impl RateBuckets for SqliteStore {
    fn take_rate_tokens(
        &self,
        tenant_id: &str,
        limit: Limit,
        want: u32,
        now_ms: i64,
    ) -> StoreResult<(u32, Decision)> {
        self.write(|c| {
            let tx = c.transaction()?;
            let stored: Option<(f64, i64)> = tx
                .prepare_cached("SELECT tokens, updated_ms FROM rate_buckets WHERE tenant_id = ?1")?
                .query_row([tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let mut bucket = stored.map_or_else(
                || Bucket::full(limit, now_ms),
                |(tokens, at)| Bucket::stored(tokens, at),
            );
            let taken = bucket.take_up_to(limit, now_ms, want);
            let (tokens, at) = bucket.parts();
            tx.prepare_cached(
                "INSERT INTO rate_buckets (tenant_id, tokens, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id) DO UPDATE SET tokens = excluded.tokens, updated_ms = excluded.updated_ms",
            )?
            .execute(params![tenant_id, tokens, at])?;
            tx.commit()?;
            Ok(taken)
        })
    }
}
