//! PostgreSQL: the [`RetentionSweep`] role. Rows being scrubbed are locked and skipped by a
//! second sweeper (`FOR UPDATE SKIP LOCKED`), so two nodes sweeping at once split the work.

use super::*;
use crate::RetentionSweep;
use crate::blobs::{BlobKey, BlobOwner};
use crate::records::{ScrubRecord, scrub_link_record, scrub_web_record};

impl RetentionSweep for PostgresStore {
    fn blobs_past_retention(
        &self,
        cutoffs: &RetentionCutoffs,
        limit: usize,
    ) -> StoreResult<Vec<BlobKey>> {
        let mut out = Vec::new();
        for (owner, sql) in SWEEPS {
            let rows = self.query(
                sql,
                &[&cutoffs.now, &count(limit), &cutoffs.defaults.selfie],
            )?;
            for r in rows {
                let tenant: String = r.try_get(0)?;
                let id: String = r.try_get(1)?;
                out.push(BlobKey::new(owner, &tenant, &id));
            }
        }
        Ok(out)
    }

    fn blob_owned(&self, key: &BlobKey) -> StoreResult<bool> {
        let sql = match key.owner() {
            BlobOwner::Process => "SELECT 1 FROM processes WHERE tenant_id = $1 AND id = $2",
            BlobOwner::WebProcess => {
                "SELECT 1 FROM web_processes WHERE tenant_id = $1 AND id = $2 AND captured"
            }
            BlobOwner::MagicLink => {
                "SELECT 1 FROM magic_links WHERE tenant_id = $1 AND token = $2 AND completed"
            }
        };
        Ok(self
            .query_opt(sql, &[&key.tenant_id(), &key.id()])?
            .is_some())
    }

    fn scrub_personal_data(&self, cutoffs: &RetentionCutoffs, limit: usize) -> StoreResult<usize> {
        let tables: [(&str, &str, ScrubRecord); 2] = [
            ("web_processes", "id", scrub_web_record),
            ("magic_links", "token", scrub_link_record),
        ];
        let mut scrubbed = 0;
        for (table, key, scrub) in tables {
            // Read and rewrite under the rows' locks, so a capture committing meanwhile is
            // neither overwritten nor left unscrubbed (captures refuse a scrubbed row).
            scrubbed += self.wait(async {
                let mut c = self.client().await?;
                let tx = c.transaction().await?;
                let due = tx
                    .query(
                        &format!(
                            "SELECT r.{key}, r.record FROM {table} r JOIN tenants t ON t.id = r.tenant_id \
                             WHERE r.scrubbed_at IS NULL AND r.finished_at + COALESCE(t.process_retention, $2) <= $1 \
                             LIMIT $3 FOR UPDATE OF r SKIP LOCKED"
                        ),
                        &[&cutoffs.now, &cutoffs.defaults.process, &count(limit)],
                    )
                    .await?;
                let update = tx
                    .prepare(&format!(
                        "UPDATE {table} SET record = $2, scrubbed_at = $3 WHERE {key} = $1"
                    ))
                    .await?;
                for row in &due {
                    let id: String = row.try_get(0)?;
                    let record: String = row.try_get(1)?;
                    tx.execute(&update, &[&id, &scrub(&record)?, &cutoffs.now])
                        .await?;
                }
                tx.commit().await?;
                Ok(due.len())
            })?;
        }
        // A process's face lives as long as the process (CONTRACT §17).
        scrubbed += self.execute(
            "UPDATE processes SET face = NULL WHERE id IN (SELECT p.id FROM processes p JOIN tenants t ON t.id = p.tenant_id \
             WHERE p.face IS NOT NULL AND p.finished_at + COALESCE(t.process_retention, $2) <= $1 LIMIT $3)",
            &[&cutoffs.now, &cutoffs.defaults.process, &count(limit)],
        )? as usize;
        Ok(scrubbed)
    }

    fn mark_blob_deleted(&self, key: &BlobKey, at: i64) -> StoreResult<()> {
        let sql = match key.owner() {
            BlobOwner::Process => "UPDATE processes SET blob_deleted_at = $2 WHERE id = $1",
            BlobOwner::WebProcess => "UPDATE web_processes SET blob_deleted_at = $2 WHERE id = $1",
            BlobOwner::MagicLink => "UPDATE magic_links SET blob_deleted_at = $2 WHERE token = $1",
        };
        self.execute(sql, &[&key.id(), &at])?;
        Ok(())
    }
}

/// The SQL that finds, per table, blobs whose retention ended by `$1` (`$2` = limit, `$3` =
/// the default selfie window), each with the owner of the images it finds: (tenant, id).
const SWEEPS: [(BlobOwner, &str); 3] = [
    (
        BlobOwner::Process,
        "SELECT p.tenant_id, p.id FROM processes p JOIN tenants t ON t.id = p.tenant_id WHERE p.blob_deleted_at IS NULL AND p.finished_at + COALESCE(t.selfie_retention, $3) <= $1 LIMIT $2",
    ),
    (
        BlobOwner::WebProcess,
        "SELECT p.tenant_id, p.id FROM web_processes p JOIN tenants t ON t.id = p.tenant_id WHERE p.captured AND p.blob_deleted_at IS NULL AND p.finished_at + COALESCE(t.selfie_retention, $3) <= $1 LIMIT $2",
    ),
    (
        BlobOwner::MagicLink,
        "SELECT m.tenant_id, m.token FROM magic_links m JOIN tenants t ON t.id = m.tenant_id WHERE m.completed AND m.blob_deleted_at IS NULL AND m.finished_at + COALESCE(t.selfie_retention, $3) <= $1 LIMIT $2",
    ),
];
