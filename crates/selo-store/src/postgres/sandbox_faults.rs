//! PostgreSQL: the [`SandboxFaults`] role: a plan's row is locked while a fault is consumed,
//! so requests on several nodes consume distinct faults.

use super::*;
use crate::records::list_column;
use crate::sandbox_faults::{FaultPlanRecord, FaultUse, SandboxFaults};

const PLAN_COLS: &str = "id, tenant_id, method, path, faults, global, expires_at";

fn plan_row(r: &Row) -> StoreResult<FaultPlanRecord> {
    Ok(FaultPlanRecord {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        method: r.try_get(2)?,
        path: r.try_get(3)?,
        faults: list_column(Some(r.try_get(4)?)).unwrap_or_default(),
        global: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        consumed: Vec::new(),
    })
}

impl PostgresStore {
    /// The faults `plan` consumed, in order.
    fn with_uses(&self, mut plan: FaultPlanRecord) -> StoreResult<FaultPlanRecord> {
        plan.consumed = self
            .query(
                "SELECT fault, at, request_id, request FROM fault_uses WHERE plan_id = $1 ORDER BY n",
                &[&plan.id],
            )?
            .iter()
            .map(|r| {
                Ok(FaultUse {
                    fault: r.try_get(0)?,
                    at: r.try_get(1)?,
                    request_id: r.try_get(2)?,
                    request: r.try_get(3)?,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(plan)
    }
}

impl SandboxFaults for PostgresStore {
    fn create_fault_plan(
        &self,
        p: &FaultPlanRecord,
        max_live: usize,
        now: i64,
    ) -> StoreResult<bool> {
        let faults = p.faults.join(",");
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // The tenant's plans are counted one creation at a time.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('fault-plans/' || $1, 0))",
                &[&p.tenant_id],
            )
            .await?;
            tx.execute("DELETE FROM fault_plans WHERE expires_at <= $1", &[&now])
                .await?;
            let live: i64 = tx
                .query_one(
                    "SELECT count(*) FROM fault_plans WHERE tenant_id = $1",
                    &[&p.tenant_id],
                )
                .await?
                .try_get(0)?;
            if live >= count(max_live) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO fault_plans (id, tenant_id, method, path, faults, global, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&p.id, &p.tenant_id, &p.method, &p.path, &faults, &p.global, &p.expires_at],
            )
            .await
            .map_err(conflict_on_unique(format!("fault plan {}", p.id)))?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn fault_plan(&self, id: &str, now: i64) -> StoreResult<Option<FaultPlanRecord>> {
        let row = self.query_opt(
            &format!("SELECT {PLAN_COLS} FROM fault_plans WHERE id = $1 AND expires_at > $2"),
            &[&id, &now],
        )?;
        row.as_ref()
            .map(plan_row)
            .transpose()?
            .map(|plan| self.with_uses(plan))
            .transpose()
    }

    fn global_fault_plans(
        &self,
        tenant_id: &str,
        method: &str,
        path: &str,
        now: i64,
    ) -> StoreResult<Vec<FaultPlanRecord>> {
        self.query(
            &format!(
                "SELECT {PLAN_COLS} FROM fault_plans WHERE tenant_id = $1 AND global AND expires_at > $2 \
                 AND path = $3 AND (method IS NULL OR upper(method) = upper($4)) ORDER BY seq"
            ),
            &[&tenant_id, &now, &path, &method],
        )?
        .iter()
        .map(plan_row)
        .collect()
    }

    fn consume_fault(&self, id: &str, now: i64, used: &FaultUse) -> StoreResult<Option<String>> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT {PLAN_COLS} FROM fault_plans WHERE id = $1 AND expires_at > $2 FOR UPDATE"
                    ),
                    &[&id, &now],
                )
                .await?;
            let Some(plan) = row.as_ref().map(plan_row).transpose()? else {
                return Ok(None);
            };
            let n: i64 = tx
                .query_one("SELECT count(*) FROM fault_uses WHERE plan_id = $1", &[&id])
                .await?
                .try_get(0)?;
            let Some(fault) = usize::try_from(n)
                .ok()
                .and_then(|n| plan.faults.get(n))
                .cloned()
            else {
                return Ok(None);
            };
            tx.execute(
                "INSERT INTO fault_uses (plan_id, n, fault, at, request_id, request) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id, &n, &fault, &used.at, &used.request_id, &used.request],
            )
            .await?;
            tx.commit().await?;
            Ok(Some(fault))
        })
    }

    fn any_fault_plans(&self, now: i64) -> StoreResult<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM fault_plans WHERE expires_at > $1 LIMIT 1",
                &[&now],
            )?
            .is_some())
    }
}
