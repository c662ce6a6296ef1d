//! SQLite: the [`SandboxFaults`] role.

use super::*;
use crate::records::list_column;
use crate::sandbox_faults::{FaultPlanRecord, FaultUse, SandboxFaults};

const PLAN_COLS: &str = "id, tenant_id, method, path, faults, global, expires_at";

fn plan_row(r: &Row<'_>) -> rusqlite::Result<FaultPlanRecord> {
    Ok(FaultPlanRecord {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        method: r.get(2)?,
        path: r.get(3)?,
        faults: list_column(Some(r.get(4)?)).unwrap_or_default(),
        global: r.get(5)?,
        expires_at: r.get(6)?,
        consumed: Vec::new(),
    })
}

impl SqliteStore {
    /// The faults `plan` consumed, in order.
    fn fault_uses(c: &Connection, plan: &mut FaultPlanRecord) -> StoreResult<()> {
        let mut st = c.prepare_cached(
            "SELECT fault, at, request_id, request FROM fault_uses WHERE plan_id = ?1 ORDER BY n",
        )?;
        plan.consumed = st
            .query_map([&plan.id], |r| {
                Ok(FaultUse {
                    fault: r.get(0)?,
                    at: r.get(1)?,
                    request_id: r.get(2)?,
                    request: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

impl SandboxFaults for SqliteStore {
    fn create_fault_plan(
        &self,
        p: &FaultPlanRecord,
        max_live: usize,
        now: i64,
    ) -> StoreResult<bool> {
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "DELETE FROM fault_uses WHERE plan_id IN (SELECT id FROM fault_plans WHERE expires_at <= ?1)",
            )?
            .execute([now])?;
            tx.prepare_cached("DELETE FROM fault_plans WHERE expires_at <= ?1")?
                .execute([now])?;
            let live: i64 = tx
                .prepare_cached("SELECT count(*) FROM fault_plans WHERE tenant_id = ?1")?
                .query_row([&p.tenant_id], |r| r.get(0))?;
            if live >= max_live as i64 {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO fault_plans (id, tenant_id, method, path, faults, global, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                p.id,
                p.tenant_id,
                p.method,
                p.path,
                p.faults.join(","),
                p.global,
                p.expires_at
            ])
            .map_err(conflict_on_unique(format!("fault plan {}", p.id)))?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn fault_plan(&self, id: &str, now: i64) -> StoreResult<Option<FaultPlanRecord>> {
        self.read(|c| {
            let plan = c
                .prepare_cached(&format!(
                    "SELECT {PLAN_COLS} FROM fault_plans WHERE id = ?1 AND expires_at > ?2"
                ))?
                .query_row(params![id, now], plan_row)
                .optional()?;
            let Some(mut plan) = plan else {
                return Ok(None);
            };
            SqliteStore::fault_uses(c, &mut plan)?;
            Ok(Some(plan))
        })
    }

    fn global_fault_plans(
        &self,
        tenant_id: &str,
        method: &str,
        path: &str,
        now: i64,
    ) -> StoreResult<Vec<FaultPlanRecord>> {
        self.read(|c| {
            let plans = c
                .prepare_cached(&format!(
                    "SELECT {PLAN_COLS} FROM fault_plans WHERE tenant_id = ?1 AND global AND expires_at > ?2 \
                     AND path = ?3 AND (method IS NULL OR upper(method) = upper(?4)) ORDER BY rowid"
                ))?
                .query_map(params![tenant_id, now, path, method], plan_row)?
                .collect::<Result<_, _>>()?;
            Ok(plans)
        })
    }

    fn consume_fault(&self, id: &str, now: i64, used: &FaultUse) -> StoreResult<Option<String>> {
        self.write(|c| {
            let tx = c.transaction()?;
            let plan = tx
                .prepare_cached(&format!(
                    "SELECT {PLAN_COLS} FROM fault_plans WHERE id = ?1 AND expires_at > ?2"
                ))?
                .query_row(params![id, now], plan_row)
                .optional()?;
            let Some(plan) = plan else {
                return Ok(None);
            };
            let n: i64 = tx
                .prepare_cached("SELECT count(*) FROM fault_uses WHERE plan_id = ?1")?
                .query_row([id], |r| r.get(0))?;
            let Some(fault) = plan.faults.get(n as usize).cloned() else {
                return Ok(None);
            };
            tx.prepare_cached(
                "INSERT INTO fault_uses (plan_id, n, fault, at, request_id, request) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![id, n, fault, used.at, used.request_id, used.request])?;
            tx.commit()?;
            Ok(Some(fault))
        })
    }

    fn any_fault_plans(&self, now: i64) -> StoreResult<bool> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM fault_plans WHERE expires_at > ?1 LIMIT 1")?
                    .query_row([now], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
    }
}
