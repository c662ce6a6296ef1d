//! PostgreSQL: the [`WebhookQueue`] role.

use super::*;
use crate::WebhookQueue;

impl WebhookQueue for PostgresStore {
    fn finished_without_event(&self, now: i64, limit: usize) -> StoreResult<FinishedByTime> {
        let records = |sql: &str| -> StoreResult<Vec<String>> {
            self.query(sql, &[&now, &count(limit)])?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        };
        let api = records(
            "SELECT p.record FROM processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.completes_at <= $1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id) LIMIT $2",
        )?;
        let web = records(
            "SELECT p.record FROM web_processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE NOT p.captured AND p.finished_at <= $1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id) LIMIT $2",
        )?;
        Ok(FinishedByTime {
            api: api.iter().map(|r| decode(r)).collect::<StoreResult<_>>()?,
            web: web.iter().map(|r| decode(r)).collect::<StoreResult<_>>()?,
        })
    }

    fn next_finish_by_time(&self, after: i64) -> StoreResult<Option<i64>> {
        let row = self.query_opt(
            "SELECT LEAST( \
               (SELECT min(p.completes_at) FROM processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.completes_at > $1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id)), \
               (SELECT min(p.finished_at) FROM web_processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE NOT p.captured AND p.finished_at > $1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id)))",
            &[&after],
        )?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => None,
        })
    }

    fn record_event(&self, e: &EventDraft) -> StoreResult<bool> {
        self.wait(async {
            let c = self.client().await?;
            let statement = c.prepare_cached(INSERT_EVENT).await?;
            Ok(c.execute(&statement, &event_params(e)).await? == 1)
        })
    }

    fn claim_due_events(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> StoreResult<Vec<WebhookEvent>> {
        // Each enabled endpoint with due events gets at most as many as it may have in flight
        // (one while failing), less what other nodes hold, oldest first (then in the order
        // recorded), and the batch takes every tenant's oldest before anyone's second: a
        // tenant's backlog, or a failing endpoint's, never fills the batch and holds up the
        // other tenants' deliveries. Two nodes claiming at once: the second waits on the rows
        // the first claimed, then finds them claimed (the claim's condition is checked again)
        // and leaves them.
        let rows = self.query(
            &format!(
                "WITH busy AS ( \
                   SELECT tenant_id, count(*) AS held FROM webhook_events \
                   WHERE status = 'pending' AND claimed_until >= $1 AND claimed_by <> $3 GROUP BY tenant_id), \
                 due AS ( \
                   SELECT e.id, e.next_attempt_at, e.created_at, e.seq, row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.next_attempt_at, e.created_at, e.seq) AS rank, \
                          CASE WHEN w.consecutive_failures >= $2 THEN 1 ELSE GREATEST(w.concurrency, 1) END - COALESCE(b.held, 0) AS room \
                   FROM webhook_events e JOIN webhooks w ON w.tenant_id = e.tenant_id LEFT JOIN busy b ON b.tenant_id = e.tenant_id \
                   WHERE w.enabled AND e.status = 'pending' AND e.next_attempt_at <= $1 \
                     AND (e.claimed_until IS NULL OR e.claimed_until < $1 OR e.claimed_by = $3)), \
                 chosen AS (SELECT id, rank FROM due WHERE rank <= room ORDER BY rank, next_attempt_at, created_at, seq LIMIT $5), \
                 claimed AS ( \
                   UPDATE webhook_events e SET claimed_by = $3, claimed_until = $4 FROM chosen \
                   WHERE e.id = chosen.id AND e.status = 'pending' \
                     AND (e.claimed_until IS NULL OR e.claimed_until < $1 OR e.claimed_by = $3) \
                   RETURNING e.*, chosen.rank) \
                 SELECT {EVENT_COLS} FROM claimed ORDER BY rank, next_attempt_at, created_at, seq"
            ),
            &[
                &now,
                &i64::from(WebhookConfig::FAILING_AFTER),
                &node,
                &lease_until,
                &count(limit),
            ],
        )?;
        rows.iter().map(event_row).collect()
    }

    fn record_attempt(
        &self,
        node: &str,
        a: &WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> StoreResult<()> {
        let (status, next) = match outcome {
            AttemptOutcome::Delivered => ("delivered", a.at),
            AttemptOutcome::Retry(at) => ("pending", at),
            AttemptOutcome::Failed => ("failed", a.at),
        };
        let response_status = a.status.map(i64::from);
        let attempt = i64::from(a.attempt);
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                "INSERT INTO webhook_attempts (event_id, tenant_id, process_id, attempt, at, status, latency_ms, error) SELECT id, tenant_id, process_id, $2, $3, $4, $5, $6 FROM webhook_events WHERE id = $1",
                &[&a.event_id, &attempt, &a.at, &response_status, &a.latency_ms, &a.error],
            )
            .await?;
            let held = tx
                .execute(
                    "UPDATE webhook_events SET status = $2, attempts = $3, next_attempt_at = $4, claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $5",
                    &[&a.event_id, &status, &attempt, &next, &node],
                )
                .await?;
            if held == 1 {
                tx.execute(
                    "UPDATE webhooks SET consecutive_failures = CASE WHEN $2 THEN 0 ELSE consecutive_failures + 1 END WHERE tenant_id = (SELECT tenant_id FROM webhook_events WHERE id = $1)",
                    &[&a.event_id, &(outcome == AttemptOutcome::Delivered)],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookEvent>> {
        self.query(
            &format!(
                "SELECT {EVENT_COLS} FROM webhook_events WHERE tenant_id = $1 AND ($2::text IS NULL OR process_id = $2::text) ORDER BY created_at DESC, id LIMIT $3"
            ),
            &[&tenant_id, &process_id, &count(limit)],
        )?
        .iter()
        .map(event_row)
        .collect()
    }

    fn attempts(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookAttempt>> {
        self.query(
            "SELECT event_id, process_id, attempt, at, status, latency_ms, error FROM webhook_attempts WHERE tenant_id = $1 AND ($2::text IS NULL OR process_id = $2::text) ORDER BY at DESC, attempt DESC LIMIT $3",
            &[&tenant_id, &process_id, &count(limit)],
        )?
        .iter()
        .map(|r| {
            let status: Option<i64> = r.try_get(4)?;
            Ok(WebhookAttempt {
                event_id: r.try_get(0)?,
                process_id: r.try_get(1)?,
                attempt: to_u32(r.try_get(2)?),
                at: r.try_get(3)?,
                status: status.and_then(|s| u16::try_from(s).ok()),
                latency_ms: r.try_get(5)?,
                error: r.try_get(6)?,
            })
        })
        .collect()
    }

    fn replay_events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        since: Option<i64>,
    ) -> StoreResult<usize> {
        Ok(self.execute(
            "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = 0, claimed_by = NULL, claimed_until = NULL WHERE tenant_id = $1 AND ($2::text IS NULL OR process_id = $2::text) AND ($3::bigint IS NULL OR created_at >= $3::bigint)",
            &[&tenant_id, &process_id, &since],
        )? as usize)
    }
}

const EVENT_COLS: &str =
    "id, tenant_id, process_id, payload, created_at, status, attempts, next_attempt_at";

fn event_row(r: &Row) -> StoreResult<WebhookEvent> {
    Ok(WebhookEvent {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        process_id: r.try_get(2)?,
        payload: r.try_get(3)?,
        created_at: r.try_get(4)?,
        status: r.try_get(5)?,
        attempts: to_u32(r.try_get(6)?),
        next_attempt_at: r.try_get(7)?,
    })
}

/// Writes an event (one per process) only when the tenant has an endpoint.
const INSERT_EVENT: &str = "INSERT INTO webhook_events (id, tenant_id, process_id, payload, created_at, status, attempts, next_attempt_at) SELECT $1, $2, $3, $4, $5, 'pending', 0, $5 WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = $2) ON CONFLICT DO NOTHING";

fn event_params(e: &EventDraft) -> [&(dyn ToSql + Sync); 5] {
    [
        &e.id,
        &e.tenant_id,
        &e.process_id,
        &e.payload,
        &e.created_at,
    ]
}

/// Writes an event inside the caller's transaction (see [`INSERT_EVENT`]); `true` when it
/// was written.
pub(super) async fn insert_event(tx: &Transaction<'_>, e: &EventDraft) -> StoreResult<bool> {
    let statement = tx.prepare_cached(INSERT_EVENT).await?;
    Ok(tx.execute(&statement, &event_params(e)).await? == 1)
}
