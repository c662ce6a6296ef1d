//! PostgreSQL: the [`Processes`] role.

use super::config::{API_KEY_COLS, api_key_row};
use super::idempotency::complete_idempotency;
use super::webhooks::insert_event;
use super::*;
use crate::Processes;
use selo_domain::process::ProcessRecord;

impl Processes for PostgresStore {
    fn insert_process(
        &self,
        p: &ProcessRecord,
        face: Option<&[f32]>,
        idempotency: Option<IdempotencyCompletion<'_>>,
        event: Option<&EventDraft>,
    ) -> StoreResult<()> {
        let record = encode(p)?;
        let finished_at = p.completes_at.unwrap_or(p.created_at);
        let face = face.map(crate::faces::to_bytes);
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO processes (id, tenant_id, client_reference, created_at, record, face, finished_at, completes_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .await?,
                &[
                    &p.id,
                    &p.tenant_id,
                    &p.client_reference,
                    &p.created_at,
                    &record,
                    &face,
                    &finished_at,
                    &p.completes_at,
                ],
            )
            .await
            .map_err(conflict_on_unique(format!("process {}", p.id)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done).await?;
            }
            if let Some(e) = event {
                insert_event(&tx, e).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProcessRecord>> {
        self.query_opt(
            "SELECT record FROM processes WHERE id = $1 AND tenant_id = $2",
            &[&id, &tenant_id],
        )?
        .map(|r| decode(&r.try_get::<_, String>(0)?))
        .transpose()
    }

    fn api_key_and_process(
        &self,
        key_hash: &[u8; 32],
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<(Option<ApiKey>, StoreResult<Option<ProcessRecord>>)> {
        // One statement: one round trip and one snapshot.
        let row = self.query_opt(
            &format!(
                "SELECT {API_KEY_COLS}, (SELECT p.record FROM processes p WHERE p.id = $2 AND p.tenant_id = $3) FROM api_keys WHERE hash = $1"
            ),
            &[&key_hash.as_slice(), &id, &tenant_id],
        )?;
        let Some(row) = row else {
            return Ok((None, Ok(None)));
        };
        let record: Option<String> = row.try_get(6)?;
        Ok((
            Some(api_key_row(&row)?),
            record.as_deref().map(decode).transpose(),
        ))
    }

    fn processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<ProcessRecord>> {
        self.by_reference("processes", tenant_id, reference, limit)
    }
}
