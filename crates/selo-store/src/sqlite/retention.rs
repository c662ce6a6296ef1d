//! SQLite: the [`RetentionSweep`] role.

use super::*;
use crate::RetentionSweep;
use crate::blobs::{BlobKey, BlobOwner};
use crate::records::{ScrubRecord, scrub_link_record, scrub_web_record};

impl RetentionSweep for SqliteStore {
    fn blobs_past_retention(
        &self,
        cutoffs: &RetentionCutoffs,
        limit: usize,
    ) -> StoreResult<Vec<BlobKey>> {
        let mut out = Vec::new();
        for (owner, sql) in SWEEPS {
            let rows: Vec<BlobKey> = self.read(|c| {
                let mut st = c.prepare_cached(sql)?;
                let d = cutoffs.defaults;
                let rows = st
                    .query_map(
                        params![cutoffs.now, limit as i64, d.selfie, d.process],
                        |r| {
                            let tenant: String = r.get(0)?;
                            let id: String = r.get(1)?;
                            Ok(BlobKey::new(owner, &tenant, &id))
                        },
                    )?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    fn scrub_personal_data(&self, cutoffs: &RetentionCutoffs, limit: usize) -> StoreResult<usize> {
        let tables: [(&str, &str, ScrubRecord); 2] = [
            ("web_processes", "id", scrub_web_record),
            ("magic_links", "token", scrub_link_record),
        ];
        let mut scrubbed = 0;
        for (table, key, scrub) in tables {
            // Read and rewrite in one write transaction, so a capture committing meanwhile is
            // neither overwritten nor left unscrubbed (captures refuse a scrubbed row).
            scrubbed += self.write(|c| {
                let tx = c.transaction()?;
                let due: Vec<(String, String)> = {
                    let mut st = tx.prepare_cached(&format!(
                        "SELECT r.{key}, r.record FROM {table} r JOIN tenants t ON t.id = r.tenant_id \
                         WHERE r.scrubbed_at IS NULL AND r.finished_at + COALESCE(t.process_retention, ?2) <= ?1 LIMIT ?3"
                    ))?;
                    st.query_map(
                        params![cutoffs.now, cutoffs.defaults.process, limit as i64],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?
                    .collect::<Result<_, _>>()?
                };
                {
                    let mut update = tx.prepare_cached(&format!(
                        "UPDATE {table} SET record = ?2, scrubbed_at = ?3 WHERE {key} = ?1"
                    ))?;
                    for (id, record) in &due {
                        update.execute(params![id, scrub(record)?, cutoffs.now])?;
                    }
                }
                tx.commit()?;
                Ok(due.len())
            })?;
        }
        // A process's face lives as long as the process (CONTRACT §17).
        scrubbed += self.write(|c| {
            Ok(c.prepare_cached(
                "UPDATE processes SET face = NULL WHERE rowid IN (SELECT p.rowid FROM processes p JOIN tenants t ON t.id = p.tenant_id \
                 WHERE p.face IS NOT NULL AND p.finished_at + COALESCE(t.process_retention, ?2) <= ?1 LIMIT ?3)",
            )?
            .execute(params![cutoffs.now, cutoffs.defaults.process, limit as i64])?)
        })?;
        Ok(scrubbed)
    }

    fn blob_owned(&self, key: &BlobKey) -> StoreResult<bool> {
        let sql = match key.owner() {
            BlobOwner::Process => "SELECT 1 FROM processes WHERE tenant_id = ?1 AND id = ?2",
            BlobOwner::WebProcess => {
                "SELECT 1 FROM web_processes WHERE tenant_id = ?1 AND id = ?2 AND captured = 1"
            }
            BlobOwner::MagicLink => {
                "SELECT 1 FROM magic_links WHERE tenant_id = ?1 AND token = ?2 AND completed = 1"
            }
        };
        self.read(|c| {
            Ok(c.prepare_cached(sql)?
                .query_row([key.tenant_id(), key.id()], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    fn mark_blob_deleted(&self, key: &BlobKey, at: i64) -> StoreResult<()> {
        let (table, column) = owner_table(key.owner());
        self.write(|c| {
            c.prepare_cached(&format!(
                "UPDATE {table} SET blob_deleted_at = ?2 WHERE {column} = ?1"
            ))?
            .execute(params![key.id(), at])?;
            Ok(())
        })
    }
}

/// The SQL that finds, per table, blobs whose retention ended by `?1` (`?2` = limit, `?3` and
/// `?4` = the default selfie and process windows; every statement names all four so that one
/// binding serves them all), each with the owner of the images it finds: (tenant, id).
const SWEEPS: [(BlobOwner, &str); 3] = [
    (
        BlobOwner::Process,
        "SELECT p.tenant_id, p.id FROM processes p JOIN tenants t ON t.id = p.tenant_id WHERE p.blob_deleted_at IS NULL AND p.finished_at + COALESCE(t.selfie_retention, ?3) <= ?1 AND ?4 IS NOT NULL LIMIT ?2",
    ),
    (
        BlobOwner::WebProcess,
        "SELECT p.tenant_id, p.id FROM web_processes p JOIN tenants t ON t.id = p.tenant_id WHERE p.captured = 1 AND p.blob_deleted_at IS NULL AND p.finished_at + COALESCE(t.selfie_retention, ?3) <= ?1 AND ?4 IS NOT NULL LIMIT ?2",
    ),
    (
        BlobOwner::MagicLink,
        "SELECT m.tenant_id, m.token FROM magic_links m JOIN tenants t ON t.id = m.tenant_id WHERE m.completed = 1 AND m.blob_deleted_at IS NULL AND m.finished_at + COALESCE(t.selfie_retention, ?3) <= ?1 AND ?4 IS NOT NULL LIMIT ?2",
    ),
];

/// The table holding an owner's records, and its key column.
fn owner_table(owner: BlobOwner) -> (&'static str, &'static str) {
    match owner {
        BlobOwner::Process => ("processes", "id"),
        BlobOwner::WebProcess => ("web_processes", "id"),
        BlobOwner::MagicLink => ("magic_links", "token"),
    }
}
