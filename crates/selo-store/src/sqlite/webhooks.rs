//! SQLite: the [`WebhookQueue`] role.

use super::*;
use crate::WebhookQueue;

impl WebhookQueue for SqliteStore {
    fn finished_without_event(&self, now: i64, limit: usize) -> StoreResult<FinishedByTime> {
        let query = |sql: &str| -> StoreResult<Vec<String>> {
            self.read(|c| {
                let mut st = c.prepare_cached(sql)?;
                let rows = st
                    .query_map(params![now, limit as i64], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
        };
        let api = query(
            "SELECT p.record FROM processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.completes_at <= ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id) LIMIT ?2",
        )?;
        let web = query(
            "SELECT p.record FROM web_processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.captured = 0 AND p.finished_at <= ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id) LIMIT ?2",
        )?;
        Ok(FinishedByTime {
            api: api.iter().map(|r| decode(r)).collect::<StoreResult<_>>()?,
            web: web.iter().map(|r| decode(r)).collect::<StoreResult<_>>()?,
        })
    }

    fn next_finish_by_time(&self, after: i64) -> StoreResult<Option<i64>> {
        self.read(|c| {
            let api: Option<i64> = c
                .prepare_cached(
                    "SELECT min(p.completes_at) FROM processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.completes_at > ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id)",
                )?
                .query_row([after], |r| r.get(0))?;
            let web: Option<i64> = c
                .prepare_cached(
                    "SELECT min(p.finished_at) FROM web_processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.captured = 0 AND p.finished_at > ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id)",
                )?
                .query_row([after], |r| r.get(0))?;
            Ok(api.into_iter().chain(web).min())
        })
    }

    fn record_event(&self, e: &EventDraft) -> StoreResult<bool> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = insert_event(&tx, e)?;
            tx.commit()?;
            Ok(n)
        })
    }

    fn claim_due_events(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> StoreResult<Vec<WebhookEvent>> {
        self.write(|c| {
            let tx = c.transaction()?;
            // Each enabled endpoint with due events gets at most as many as it may have in
            // flight (one while failing), less what other nodes hold, oldest first (then in
            // the order recorded), and the batch takes every tenant's oldest before anyone's
            // second: a tenant's backlog, or a failing endpoint's, never fills the batch and
            // holds up the other tenants' deliveries.
            let endpoints = tx
                .prepare_cached(
                    "SELECT w.tenant_id, CASE WHEN w.consecutive_failures >= ?1 THEN 1 ELSE max(w.concurrency, 1) END \
                       - (SELECT count(*) FROM webhook_events b WHERE b.tenant_id = w.tenant_id AND b.status = 'pending' AND b.claimed_until >= ?2 AND b.claimed_by <> ?3) \
                     FROM webhooks w WHERE w.enabled = 1 AND EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = w.tenant_id AND e.status = 'pending' AND e.next_attempt_at <= ?2)",
                )?
                .query_map(params![WebhookConfig::FAILING_AFTER, now, node], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut due = Vec::new();
            {
                let mut per_tenant = tx.prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM webhook_events WHERE tenant_id = ?1 AND status = 'pending' AND next_attempt_at <= ?2 \
                     AND (claimed_until IS NULL OR claimed_until < ?2 OR claimed_by = ?3) \
                     ORDER BY next_attempt_at, created_at, rowid LIMIT ?4"
                ))?;
                for (tenant_id, room) in endpoints {
                    let cap = room.clamp(0, limit as i64);
                    let rows =
                        per_tenant.query_map(params![tenant_id, now, node, cap], event_row)?;
                    for (rank, event) in rows.enumerate() {
                        due.push((rank, event?));
                    }
                }
            }
            due.sort_by_key(|(rank, e)| (*rank, e.next_attempt_at, e.created_at));
            let claimed: Vec<WebhookEvent> = due.into_iter().take(limit).map(|(_, e)| e).collect();
            {
                let mut claim = tx.prepare_cached(
                    "UPDATE webhook_events SET claimed_by = ?2, claimed_until = ?3 WHERE id = ?1",
                )?;
                for e in &claimed {
                    claim.execute(params![e.id, node, lease_until])?;
                }
            }
            tx.commit()?;
            Ok(claimed)
        })
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
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO webhook_attempts (event_id, tenant_id, process_id, attempt, at, status, latency_ms, error) SELECT id, tenant_id, process_id, ?2, ?3, ?4, ?5, ?6 FROM webhook_events WHERE id = ?1",
            )?
            .execute(params![a.event_id, a.attempt, a.at, a.status, a.latency_ms, a.error])?;
            let held = tx
                .prepare_cached(
                    "UPDATE webhook_events SET status = ?2, attempts = ?3, next_attempt_at = ?4, claimed_by = NULL, claimed_until = NULL WHERE id = ?1 AND claimed_by = ?5",
                )?
                .execute(params![a.event_id, status, a.attempt, next, node])?;
            if held == 1 {
                tx.prepare_cached(
                    "UPDATE webhooks SET consecutive_failures = CASE WHEN ?2 THEN 0 ELSE consecutive_failures + 1 END WHERE tenant_id = (SELECT tenant_id FROM webhook_events WHERE id = ?1)",
                )?
                .execute(params![a.event_id, outcome == AttemptOutcome::Delivered])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookEvent>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {EVENT_COLS} FROM webhook_events WHERE tenant_id = ?1 AND (?2 IS NULL OR process_id = ?2) ORDER BY created_at DESC, id LIMIT ?3"
            ))?;
            let rows = st
                .query_map(params![tenant_id, process_id, limit as i64], event_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn attempts(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookAttempt>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT event_id, process_id, attempt, at, status, latency_ms, error FROM webhook_attempts WHERE tenant_id = ?1 AND (?2 IS NULL OR process_id = ?2) ORDER BY at DESC, attempt DESC LIMIT ?3",
            )?;
            let rows = st
                .query_map(params![tenant_id, process_id, limit as i64], |r| {
                    Ok(WebhookAttempt {
                        event_id: r.get(0)?,
                        process_id: r.get(1)?,
                        attempt: r.get(2)?,
                        at: r.get(3)?,
                        status: r.get(4)?,
                        latency_ms: r.get(5)?,
                        error: r.get(6)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn replay_events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        since: Option<i64>,
    ) -> StoreResult<usize> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = 0, claimed_by = NULL, claimed_until = NULL WHERE tenant_id = ?1 AND (?2 IS NULL OR process_id = ?2) AND (?3 IS NULL OR created_at >= ?3)",
                params![tenant_id, process_id, since],
            )?)
        })
    }
}

pub(super) const EVENT_COLS: &str =
    "id, tenant_id, process_id, payload, created_at, status, attempts, next_attempt_at";

pub(super) fn event_row(r: &Row<'_>) -> rusqlite::Result<WebhookEvent> {
    Ok(WebhookEvent {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        process_id: r.get(2)?,
        payload: r.get(3)?,
        created_at: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
    })
}

/// Writes an event (one per process) inside the caller's transaction, only when the tenant has
/// an enabled endpoint; `true` when it was written.
pub(super) fn insert_event(tx: &rusqlite::Transaction<'_>, e: &EventDraft) -> StoreResult<bool> {
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO webhook_events (id, tenant_id, process_id, payload, created_at, status, attempts, next_attempt_at) SELECT ?1, ?2, ?3, ?4, ?5, 'pending', 0, ?5 WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = ?2)",
        )?
        .execute(params![e.id, e.tenant_id, e.process_id, e.payload, e.created_at])?;
    Ok(n == 1)
}
