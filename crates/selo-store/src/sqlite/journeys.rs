//! SQLite: the [`Journeys`] role.

use super::*;
use crate::Journeys;

impl Journeys for SqliteStore {
    fn insert_web_process(
        &self,
        p: &WebProcessRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()> {
        let record = encode(p)?;
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO web_processes (id, tenant_id, client_reference, created_at, captured, record, finished_at, has_document) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![p.id, p.tenant_id, p.client_reference, p.created_at, p.capture.is_some(), record, p.finishes_at(), !p.awaiting_document()])
            .map_err(conflict_on_unique(format!("process {}", p.id)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn web_process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<WebProcessRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT record FROM web_processes WHERE id = ?1 AND tenant_id = ?2",
            )?
            .query_row([id, tenant_id], |r| r.get(0))
            .optional()?)
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn web_process_by_id(&self, id: &str) -> StoreResult<Option<WebProcessRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT record FROM web_processes WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn web_processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebProcessRecord>> {
        self.by_reference("web_processes", tenant_id, reference, limit)
    }

    fn set_web_document(&self, p: &WebProcessRecord) -> StoreResult<bool> {
        let record = encode(p)?;
        self.write(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE web_processes SET record = ?2, has_document = ?3 WHERE id = ?1 AND scrubbed_at IS NULL AND has_document = 0",
                )?
                .execute(params![p.id, record, !p.awaiting_document()])?;
            Ok(n == 1)
        })
    }

    fn complete_web_process(
        &self,
        p: &WebProcessRecord,
        event: Option<&EventDraft>,
    ) -> StoreResult<bool> {
        let record = encode(p)?;
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx
                .prepare_cached(
                    // Until captured, finished_at holds the journey's expiry; ?3 is the capture's
                    // moment.
                    "UPDATE web_processes SET record = ?2, captured = 1, finished_at = ?3 WHERE id = ?1 AND captured = 0 AND scrubbed_at IS NULL AND finished_at > ?3",
                )?
                .execute(params![p.id, record, p.finishes_at()])?;
            if n == 1
                && let Some(e) = event
            {
                insert_event(&tx, e)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn insert_magic_link(
        &self,
        link: &MagicLinkRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()> {
        let record = encode(link)?;
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO magic_links (token, tenant_id, created_at, completed, record, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![link.token, link.tenant_id, link.created_unix(), link.capture.is_some(), record, link.finishes_at()])
            .map_err(conflict_on_unique(format!("magic link {}", link.token)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn magic_link(&self, tenant_id: &str, token: &str) -> StoreResult<Option<MagicLinkRecord>> {
        self.magic_link_by_token(token)
            .map(|l| l.filter(|l| l.tenant_id == tenant_id))
    }

    fn magic_link_by_token(&self, token: &str) -> StoreResult<Option<MagicLinkRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT record FROM magic_links WHERE token = ?1")?
                    .query_row([token], |r| r.get(0))
                    .optional()?,
            )
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn refuse_web_capture(&self, id: &str, now: i64) -> StoreResult<Option<u32>> {
        self.write(|c| {
            Ok(c.prepare_cached(
                // Until captured, finished_at holds the journey's expiry.
                "UPDATE web_processes SET refusals = refusals + 1 WHERE id = ?1 AND captured = 0 AND scrubbed_at IS NULL AND finished_at > ?2 RETURNING refusals",
            )?
            .query_row(params![id, now], |r| r.get(0))
            .optional()?)
        })
    }

    fn refuse_link_capture(&self, token: &str) -> StoreResult<Option<u32>> {
        self.write(|c| {
            Ok(c.prepare_cached(
                "UPDATE magic_links SET refusals = refusals + 1 WHERE token = ?1 AND completed = 0 AND scrubbed_at IS NULL RETURNING refusals",
            )?
            .query_row([token], |r| r.get(0))
            .optional()?)
        })
    }

    fn complete_magic_link(&self, link: &MagicLinkRecord) -> StoreResult<bool> {
        let record = encode(link)?;
        self.write(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE magic_links SET record = ?2, completed = 1, finished_at = ?3 WHERE token = ?1 AND completed = 0 AND scrubbed_at IS NULL",
                )?
                .execute(params![link.token, record, link.finishes_at()])?;
            Ok(n == 1)
        })
    }
}
