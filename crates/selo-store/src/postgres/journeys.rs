//! PostgreSQL: the [`Journeys`] role. Captures and scrubs are single conditional statements,
//! so a capture on one node and the sweeper on another never overwrite each other.

use super::idempotency::complete_idempotency;
use super::webhooks::insert_event;
use super::*;
use crate::Journeys;
use selo_domain::magic_link::MagicLinkRecord;
use selo_domain::web::WebProcessRecord;

impl Journeys for PostgresStore {
    fn insert_web_process(
        &self,
        p: &WebProcessRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()> {
        let record = encode(p)?;
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO web_processes (id, tenant_id, client_reference, created_at, captured, record, finished_at, has_document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .await?,
                &[
                    &p.id,
                    &p.tenant_id,
                    &p.client_reference,
                    &p.created_at,
                    &p.capture.is_some(),
                    &record,
                    &p.finishes_at(),
                    &!p.awaiting_document(),
                ],
            )
            .await
            .map_err(conflict_on_unique(format!("process {}", p.id)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn web_process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<WebProcessRecord>> {
        self.query_opt(
            "SELECT record FROM web_processes WHERE id = $1 AND tenant_id = $2",
            &[&id, &tenant_id],
        )?
        .map(|r| decode(&r.try_get::<_, String>(0)?))
        .transpose()
    }

    fn web_process_by_id(&self, id: &str) -> StoreResult<Option<WebProcessRecord>> {
        self.query_opt("SELECT record FROM web_processes WHERE id = $1", &[&id])?
            .map(|r| decode(&r.try_get::<_, String>(0)?))
            .transpose()
    }

    fn web_processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebProcessRecord>> {
        self.by_reference("web_processes", tenant_id, reference, limit)
    }

    fn complete_web_process(
        &self,
        p: &WebProcessRecord,
        event: Option<&EventDraft>,
    ) -> StoreResult<bool> {
        let record = encode(p)?;
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Until captured, finished_at holds the journey's expiry; $3 is the capture's
            // moment.
            let n = tx
                .execute(
                    &tx.prepare_cached(
                        "UPDATE web_processes SET record = $2, captured = TRUE, finished_at = $3 WHERE id = $1 AND NOT captured AND scrubbed_at IS NULL AND finished_at > $3",
                    )
                    .await?,
                    &[&p.id, &record, &p.finishes_at()],
                )
                .await?;
            if n == 1
                && let Some(e) = event
            {
                insert_event(&tx, e).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    fn set_web_document(&self, p: &WebProcessRecord) -> StoreResult<bool> {
        let record = encode(p)?;
        let n = self.execute(
            "UPDATE web_processes SET record = $2, has_document = $3 WHERE id = $1 AND scrubbed_at IS NULL AND NOT has_document",
            &[&p.id, &record, &!p.awaiting_document()],
        )?;
        Ok(n == 1)
    }

    fn refuse_web_capture(&self, id: &str, now: i64) -> StoreResult<Option<u32>> {
        // Until captured, finished_at holds the journey's expiry.
        self.query_opt(
            "UPDATE web_processes SET refusals = refusals + 1 WHERE id = $1 AND NOT captured AND scrubbed_at IS NULL AND finished_at > $2 RETURNING refusals",
            &[&id, &now],
        )?
        .map(|r| Ok(to_u32(r.try_get(0)?)))
        .transpose()
    }

    fn refuse_link_capture(&self, token: &str) -> StoreResult<Option<u32>> {
        self.query_opt(
            "UPDATE magic_links SET refusals = refusals + 1 WHERE token = $1 AND NOT completed AND scrubbed_at IS NULL RETURNING refusals",
            &[&token],
        )?
        .map(|r| Ok(to_u32(r.try_get(0)?)))
        .transpose()
    }

    fn insert_magic_link(
        &self,
        link: &MagicLinkRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()> {
        let record = encode(link)?;
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO magic_links (token, tenant_id, created_at, completed, record, finished_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?,
                &[
                    &link.token,
                    &link.tenant_id,
                    &link.created_unix(),
                    &link.capture.is_some(),
                    &record,
                    &link.finishes_at(),
                ],
            )
            .await
            .map_err(conflict_on_unique(format!("magic link {}", link.token)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn magic_link(&self, tenant_id: &str, token: &str) -> StoreResult<Option<MagicLinkRecord>> {
        self.magic_link_by_token(token)
            .map(|l| l.filter(|l| l.tenant_id == tenant_id))
    }

    fn magic_link_by_token(&self, token: &str) -> StoreResult<Option<MagicLinkRecord>> {
        self.query_opt("SELECT record FROM magic_links WHERE token = $1", &[&token])?
            .map(|r| decode(&r.try_get::<_, String>(0)?))
            .transpose()
    }

    fn complete_magic_link(&self, link: &MagicLinkRecord) -> StoreResult<bool> {
        let record = encode(link)?;
        let n = self.execute(
            "UPDATE magic_links SET record = $2, completed = TRUE, finished_at = $3 WHERE token = $1 AND NOT completed AND scrubbed_at IS NULL",
            &[&link.token, &record, &link.finishes_at()],
        )?;
        Ok(n == 1)
    }
}
