//! The identity base and the process faces on SQLite.

use super::SqliteStore;
use crate::faces::{
    Enrolment, FaceSearch, Faces, IdentitySummary, MAX_FACES_PER_IDENTITY, from_bytes, to_bytes,
};
use crate::{StoreError, StoreResult};
use rusqlite::{OptionalExtension, params};
use selo_domain::verification::distance;

fn embedding(bytes: Vec<u8>) -> StoreResult<Vec<f32>> {
    from_bytes(&bytes).ok_or_else(|| StoreError::Corrupt("a stored face embedding".into()))
}

impl Faces for SqliteStore {
    fn enroll(
        &self,
        tenant_id: &str,
        code: &str,
        embeddings: &[Vec<f32>],
        at: i64,
    ) -> StoreResult<Enrolment> {
        self.write(|c| {
            let tx = c.transaction()?;
            let held: u32 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM identity_faces WHERE tenant_id = ?1 AND code = ?2",
                )?
                .query_row(params![tenant_id, code], |r| r.get(0))?;
            let total = held as usize + embeddings.len();
            if total > MAX_FACES_PER_IDENTITY as usize {
                return Ok(Enrolment::Full(held));
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO identity_faces (tenant_id, code, embedding, enrolled_at) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for e in embeddings {
                    insert.execute(params![tenant_id, code, to_bytes(e), at])?;
                }
            }
            tx.commit()?;
            Ok(Enrolment::Enrolled(total as u32))
        })
    }

    fn identity_faces(&self, tenant_id: &str, code: &str) -> StoreResult<Vec<Vec<f32>>> {
        let rows: Vec<Vec<u8>> = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT embedding FROM identity_faces WHERE tenant_id = ?1 AND code = ?2 ORDER BY id",
            )?;
            let rows = st
                .query_map(params![tenant_id, code], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter().map(embedding).collect()
    }

    fn identities(&self, tenant_id: &str, code: Option<&str>) -> StoreResult<Vec<IdentitySummary>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT code, COUNT(*), MAX(enrolled_at) FROM identity_faces WHERE tenant_id = ?1 AND (?2 IS NULL OR code = ?2) GROUP BY code ORDER BY code",
            )?;
            let rows = st
                .query_map(params![tenant_id, code], |r| {
                    Ok(IdentitySummary {
                        code: r.get(0)?,
                        faces: r.get(1)?,
                        enrolled_at: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn remove_identity(&self, tenant_id: &str, code: &str) -> StoreResult<u32> {
        self.write(|c| {
            let n = c
                .prepare_cached("DELETE FROM identity_faces WHERE tenant_id = ?1 AND code = ?2")?
                .execute(params![tenant_id, code])?;
            Ok(n as u32)
        })
    }

    fn process_face(&self, tenant_id: &str, process_id: &str) -> StoreResult<Option<Vec<f32>>> {
        let face: Option<Option<Vec<u8>>> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT face FROM processes WHERE tenant_id = ?1 AND id = ?2")?
                    .query_row(params![tenant_id, process_id], |r| r.get(0))
                    .optional()?,
            )
        })?;
        face.flatten().map(embedding).transpose()
    }
}

impl FaceSearch for SqliteStore {
    /// A scan of the tenant's faces: brute force is exact and takes milliseconds at the sizes
    /// an embedded store holds (BENCHMARKS.md).
    fn nearest_other(
        &self,
        tenant_id: &str,
        code: &str,
        target: &[f32],
    ) -> StoreResult<Option<f32>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT embedding FROM identity_faces WHERE tenant_id = ?1 AND code <> ?2",
            )?;
            let mut rows = st.query(params![tenant_id, code])?;
            let mut nearest: Option<f32> = None;
            while let Some(row) = rows.next()? {
                let face = row
                    .get_ref(0)?
                    .as_blob()
                    .ok()
                    .and_then(from_bytes)
                    .ok_or_else(|| StoreError::Corrupt("a stored face embedding".into()))?;
                let d = distance(&face, target);
                if nearest.is_none_or(|n| d < n) {
                    nearest = Some(d);
                }
            }
            Ok(nearest)
        })
    }
}
