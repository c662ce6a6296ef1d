//! PostgreSQL: the [`Idempotency`] role. A key's record is claimed under a row lock, so the
//! same key sent to two nodes at once runs once.

use super::*;
use crate::Idempotency;

impl Idempotency for PostgresStore {
    fn idempotency_begin(
        &self,
        s: IdempotencyScope<'_>,
        body_hash: &[u8; 32],
        now: i64,
        lease_until: i64,
    ) -> StoreResult<IdempotencyBegin> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                &tx.prepare_cached(
                    "DELETE FROM idempotency_keys WHERE NOT running AND expires_at < $1",
                )
                .await?,
                &[&now],
            )
            .await?;
            // A placeholder row makes the key's row exist, so the lock below serialises every
            // request naming the key (a running record, it is replaced right after unless
            // another request's record was already there).
            let inserted = tx
                .execute(
                    &tx.prepare_cached(
                        "INSERT INTO idempotency_keys (tenant_id, route, key, body_hash, running, lease_until, expires_at) VALUES ($1, $2, $3, $4, TRUE, $5, $5) ON CONFLICT DO NOTHING",
                    )
                    .await?,
                    &[&s.tenant_id, &s.route, &s.key, &body_hash.as_slice(), &lease_until],
                )
                .await?;
            if inserted == 1 {
                tx.commit().await?;
                return Ok(IdempotencyBegin::Started);
            }
            let row = tx
                .query_one(
                    &tx.prepare_cached(
                        "SELECT body_hash, running, lease_until, status, content_type, body FROM idempotency_keys WHERE tenant_id = $1 AND route = $2 AND key = $3 FOR UPDATE",
                    )
                    .await?,
                    &[&s.tenant_id, &s.route, &s.key],
                )
                .await?;
            let stored_hash: Vec<u8> = row.try_get(0)?;
            let running: bool = row.try_get(1)?;
            let held_until: i64 = row.try_get(2)?;
            let status: Option<i64> = row.try_get(3)?;
            let outcome = if stored_hash.as_slice() != body_hash.as_slice() {
                IdempotencyBegin::Mismatch
            } else if running && held_until >= now {
                IdempotencyBegin::InFlight
            } else if let (false, Some(status)) = (running, status) {
                let content_type: Option<String> = row.try_get(4)?;
                let body: Option<Vec<u8>> = row.try_get(5)?;
                IdempotencyBegin::Replay(StoredResponse {
                    status: u16::try_from(status)
                        .map_err(|_| StoreError::Corrupt("a stored response's status".into()))?,
                    content_type: content_type.unwrap_or_default(),
                    body: body.unwrap_or_default(),
                })
            } else {
                tx.execute(
                    &tx.prepare_cached(
                        "UPDATE idempotency_keys SET body_hash = $4, running = TRUE, lease_until = $5, expires_at = $5, status = NULL, content_type = NULL, body = NULL WHERE tenant_id = $1 AND route = $2 AND key = $3",
                    )
                    .await?,
                    &[&s.tenant_id, &s.route, &s.key, &body_hash.as_slice(), &lease_until],
                )
                .await?;
                IdempotencyBegin::Started
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn clear_running_idempotency(&self) -> StoreResult<usize> {
        Ok(self.execute("DELETE FROM idempotency_keys WHERE running", &[])? as usize)
    }

    fn idempotency_abandon(&self, s: IdempotencyScope<'_>) -> StoreResult<()> {
        self.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND route = $2 AND key = $3 AND running",
            &[&s.tenant_id, &s.route, &s.key],
        )?;
        Ok(())
    }
}

/// Marks an idempotency record done with its response, inside the caller's transaction.
pub(super) async fn complete_idempotency(
    tx: &Transaction<'_>,
    done: IdempotencyCompletion<'_>,
) -> StoreResult<()> {
    let s = done.scope;
    tx.execute(
        &tx.prepare_cached(
            "UPDATE idempotency_keys SET running = FALSE, expires_at = $4, status = $5, content_type = $6, body = $7 WHERE tenant_id = $1 AND route = $2 AND key = $3",
        )
        .await?,
        &[
            &s.tenant_id,
            &s.route,
            &s.key,
            &done.expires_at,
            &i64::from(done.response.status),
            &done.response.content_type,
            &done.response.body,
        ],
    )
    .await?;
    Ok(())
}
