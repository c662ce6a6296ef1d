//! PostgreSQL: the identity base and the process faces ([`Faces`], [`FaceSearch`]).

use super::*;
use crate::faces::{
    Enrolment, FaceSearch, Faces, IdentitySummary, MAX_FACES_PER_IDENTITY, from_bytes, to_bytes,
};
use selo_domain::verification::distance;
use vector::FaceIndex;

fn embedding(bytes: &[u8]) -> StoreResult<Vec<f32>> {
    from_bytes(bytes).ok_or_else(|| StoreError::Corrupt("a stored face embedding".into()))
}

impl Faces for PostgresStore {
    fn enroll(
        &self,
        tenant_id: &str,
        code: &str,
        embeddings: &[Vec<f32>],
        at: i64,
    ) -> StoreResult<Enrolment> {
        let stored: Vec<(Vec<u8>, Option<String>)> = embeddings
            .iter()
            .map(|e| (to_bytes(e), self.indexed(e)))
            .collect();
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Enrolments of one code on several nodes count one after the other.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
                &[&tenant_id, &code],
            )
            .await?;
            let held: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM identity_faces WHERE tenant_id = $1 AND code = $2",
                    &[&tenant_id, &code],
                )
                .await?
                .try_get(0)?;
            let total = held as usize + stored.len();
            if total > MAX_FACES_PER_IDENTITY as usize {
                return Ok(Enrolment::Full(to_u32(held)));
            }
            // The vector column exists only where the index does.
            let with_vector = self.face_index == FaceIndex::Hnsw;
            let insert = tx
                .prepare(if with_vector {
                    "INSERT INTO identity_faces (tenant_id, code, embedding, enrolled_at, embedding_vector) VALUES ($1, $2, $3, $4, $5::text::vector)"
                } else {
                    "INSERT INTO identity_faces (tenant_id, code, embedding, enrolled_at) VALUES ($1, $2, $3, $4)"
                })
                .await?;
            for (bytes, vector) in &stored {
                let all: [&(dyn ToSql + Sync); 5] = [&tenant_id, &code, bytes, &at, vector];
                let used = if with_vector { &all[..] } else { &all[..4] };
                tx.execute(&insert, used).await?;
            }
            tx.commit().await?;
            Ok(Enrolment::Enrolled(total as u32))
        })
    }

    fn identity_faces(&self, tenant_id: &str, code: &str) -> StoreResult<Vec<Vec<f32>>> {
        self.query(
            "SELECT embedding FROM identity_faces WHERE tenant_id = $1 AND code = $2 ORDER BY id",
            &[&tenant_id, &code],
        )?
        .iter()
        .map(|r| embedding(r.try_get(0)?))
        .collect()
    }

    fn identities(&self, tenant_id: &str, code: Option<&str>) -> StoreResult<Vec<IdentitySummary>> {
        self.query(
            "SELECT code, COUNT(*), MAX(enrolled_at) FROM identity_faces WHERE tenant_id = $1 AND ($2::text IS NULL OR code = $2::text) GROUP BY code ORDER BY code",
            &[&tenant_id, &code],
        )?
        .iter()
        .map(|r| {
            Ok(IdentitySummary {
                code: r.try_get(0)?,
                faces: to_u32(r.try_get(1)?),
                enrolled_at: r.try_get(2)?,
            })
        })
        .collect()
    }

    fn remove_identity(&self, tenant_id: &str, code: &str) -> StoreResult<u32> {
        let n = self.execute(
            "DELETE FROM identity_faces WHERE tenant_id = $1 AND code = $2",
            &[&tenant_id, &code],
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn process_face(&self, tenant_id: &str, process_id: &str) -> StoreResult<Option<Vec<f32>>> {
        let row = self.query_opt(
            "SELECT face FROM processes WHERE tenant_id = $1 AND id = $2",
            &[&tenant_id, &process_id],
        )?;
        match row {
            Some(r) => r.try_get::<_, Option<&[u8]>>(0)?.map(embedding).transpose(),
            None => Ok(None),
        }
    }
}

impl PostgresStore {
    /// `embedding` in the index's text form, when this database has the index and the
    /// embedding its length.
    fn indexed(&self, embedding: &[f32]) -> Option<String> {
        match self.face_index {
            FaceIndex::Hnsw => vector::vector_text(embedding),
            FaceIndex::Scan(_) => None,
        }
    }

    /// The nearest of the faces `rows` hold (their first column).
    fn nearest_of(rows: &[Row], target: &[f32]) -> StoreResult<Option<f32>> {
        let mut nearest: Option<f32> = None;
        for r in rows {
            let d = distance(&embedding(r.try_get(0)?)?, target);
            if nearest.is_none_or(|n| d < n) {
                nearest = Some(d);
            }
        }
        Ok(nearest)
    }
}

impl FaceSearch for PostgresStore {
    /// With pgvector, the index's nearest candidates and the faces it does not hold, compared
    /// here; a scan when it offers fewer candidates than asked (see [`vector`]). Without it, a
    /// scan of the tenant's faces. Exact where it scans; the same distance as every backend.
    fn nearest_other(
        &self,
        tenant_id: &str,
        code: &str,
        target: &[f32],
    ) -> StoreResult<Option<f32>> {
        if let Some(vector) = self.indexed(target) {
            let rows = self.wait(async {
                let mut c = self.client().await?;
                let tx = c.transaction().await?;
                tx.batch_execute(&format!(
                    "SET LOCAL hnsw.ef_search = {}",
                    vector::EF_SEARCH
                ))
                .await?;
                let rows = tx
                    .query(
                        "SELECT embedding FROM identity_faces WHERE tenant_id = $1 AND code <> $2 AND embedding_vector IS NOT NULL ORDER BY embedding_vector <-> $3::text::vector LIMIT $4",
                        &[&tenant_id, &code, &vector, &vector::CANDIDATES],
                    )
                    .await?;
                if rows.len() < vector::CANDIDATES as usize {
                    return Ok(None);
                }
                let unindexed = tx
                    .query(
                        "SELECT embedding FROM identity_faces WHERE tenant_id = $1 AND code <> $2 AND embedding_vector IS NULL",
                        &[&tenant_id, &code],
                    )
                    .await?;
                tx.commit().await?;
                Ok(Some(rows.into_iter().chain(unindexed).collect::<Vec<_>>()))
            })?;
            if let Some(rows) = rows {
                return Self::nearest_of(&rows, target);
            }
        }
        let rows = self.query(
            "SELECT embedding FROM identity_faces WHERE tenant_id = $1 AND code <> $2",
            &[&tenant_id, &code],
        )?;
        Self::nearest_of(&rows, target)
    }
}
