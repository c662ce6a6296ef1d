//! SQLite: the [`Idempotency`] role.

use super::*;
use crate::Idempotency;

impl Idempotency for SqliteStore {
    fn idempotency_begin(
        &self,
        s: IdempotencyScope<'_>,
        body_hash: &[u8; 32],
        now: i64,
        lease_until: i64,
    ) -> StoreResult<IdempotencyBegin> {
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached("DELETE FROM idempotency_keys WHERE running = 0 AND expires_at < ?1")?
                .execute([now])?;
            let row: Option<IdempotencyRow> = tx
                .prepare_cached(
                    "SELECT body_hash, running, lease_until, status, content_type, body FROM idempotency_keys WHERE tenant_id = ?1 AND route = ?2 AND key = ?3",
                )?
                .query_row(params![s.tenant_id, s.route, s.key], |r| {
                    Ok(IdempotencyRow {
                        body_hash: r.get(0)?,
                        running: r.get(1)?,
                        lease_until: r.get(2)?,
                        status: r.get(3)?,
                        content_type: r.get(4)?,
                        body: r.get(5)?,
                    })
                })
                .optional()?;
            let outcome = match row {
                Some(r) if r.body_hash.as_slice() != body_hash.as_slice() => {
                    IdempotencyBegin::Mismatch
                }
                Some(r) if r.running && r.lease_until >= now => IdempotencyBegin::InFlight,
                Some(IdempotencyRow {
                    running: false,
                    status: Some(status),
                    content_type,
                    body,
                    ..
                }) => IdempotencyBegin::Replay(StoredResponse {
                    status,
                    content_type: content_type.unwrap_or_default(),
                    body: body.unwrap_or_default(),
                }),
                _ => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO idempotency_keys (tenant_id, route, key, body_hash, running, lease_until, expires_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)",
                    )?
                    .execute(params![s.tenant_id, s.route, s.key, body_hash.as_slice(), lease_until])?;
                    IdempotencyBegin::Started
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn clear_running_idempotency(&self) -> StoreResult<usize> {
        self.write(|c| Ok(c.execute("DELETE FROM idempotency_keys WHERE running = 1", [])?))
    }

    fn idempotency_abandon(&self, s: IdempotencyScope<'_>) -> StoreResult<()> {
        self.write(|c| {
            c.prepare_cached(
                "DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND route = ?2 AND key = ?3 AND running = 1",
            )?
            .execute(params![s.tenant_id, s.route, s.key])?;
            Ok(())
        })
    }
}

/// Marks an idempotency record done with its response, inside the caller's transaction.
pub(super) fn complete_idempotency(
    tx: &rusqlite::Transaction<'_>,
    done: IdempotencyCompletion<'_>,
) -> StoreResult<()> {
    let s = done.scope;
    tx.prepare_cached(
        "UPDATE idempotency_keys SET running = 0, expires_at = ?4, status = ?5, content_type = ?6, body = ?7 WHERE tenant_id = ?1 AND route = ?2 AND key = ?3",
    )?
    .execute(params![
        s.tenant_id,
        s.route,
        s.key,
        done.expires_at,
        done.response.status,
        done.response.content_type,
        done.response.body
    ])?;
    Ok(())
}

/// A row of `idempotency_keys`.
pub(super) struct IdempotencyRow {
    body_hash: Vec<u8>,
    running: bool,
    lease_until: i64,
    status: Option<u16>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}
