//! SQLite: the [`Processes`] role.

use super::*;
use crate::Processes;

impl Processes for SqliteStore {
    fn insert_process(
        &self,
        p: &ProcessRecord,
        face: Option<&[f32]>,
        idempotency: Option<IdempotencyCompletion<'_>>,
        event: Option<&EventDraft>,
    ) -> StoreResult<()> {
        let record = serde_json::to_string(p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let finished_at = p.completes_at.unwrap_or(p.created_at);
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO processes (id, tenant_id, client_reference, created_at, record, face, finished_at, completes_at, typed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)",
            )?
            .execute(params![
                p.id,
                p.tenant_id,
                p.client_reference,
                p.created_at,
                record,
                face.map(crate::faces::to_bytes),
                finished_at,
                p.completes_at
            ])
            .map_err(conflict_on_unique(format!("process {}", p.id)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done)?;
            }
            if let Some(e) = event {
                insert_event(&tx, e)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<ProcessRecord>> {
        self.by_reference("processes", tenant_id, reference, limit)
    }

    fn process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProcessRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT record FROM processes WHERE id = ?1 AND tenant_id = ?2")?
                    .query_row([id, tenant_id], |r| r.get(0))
                    .optional()?,
            )
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn api_key_and_process(
        &self,
        key_hash: &[u8; 32],
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<(Option<ApiKey>, StoreResult<Option<ProcessRecord>>)> {
        // One statement, so one snapshot and one read transaction (each costs WAL locking).
        // The record is decoded where SQLite holds its text (no copy).
        type Row = (ApiKey, StoreResult<Option<ProcessRecord>>);
        let row: Option<Row> = self.read(|c| {
            Ok(c
                .prepare_cached(&format!(
                    "SELECT {API_KEY_COLS}, (SELECT p.record FROM processes p WHERE p.id = ?2 AND p.tenant_id = ?3) FROM api_keys WHERE hash = ?1"
                ))?
                .query_row(params![key_hash.as_slice(), id, tenant_id], |r| {
                    let record = r.get_ref(6)?.as_str_or_null()?.map(decode).transpose();
                    Ok((api_key_row(r)?, record))
                })
                .optional()?)
        })?;
        Ok(match row {
            Some((key, record)) => (Some(key), record),
            None => (None, Ok(None)),
        })
    }
}
