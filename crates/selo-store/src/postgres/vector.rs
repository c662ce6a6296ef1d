//! PostgreSQL: the 1:N face search's index where the server has pgvector (CONTRACT §17, §18),
//! as managed PostgreSQL services do. At open the store creates the extension, a
//! `vector(128)` column beside each enrolled face's bytes and an HNSW index on it, and fills
//! the column for faces enrolled without it (an older binary, an import). Without the
//! extension, or where creating it is refused, the search scans the tenant's faces and the
//! store says so at open.
//!
//! The index only proposes: the nearest candidates it finds are compared with the same
//! distance as every backend, and when it offers fewer than it was asked for (a tenant with few
//! faces, or candidates of other tenants filtered out of its answer) the search scans the
//! tenant's faces instead, so a small tenant's answer is exact.

use super::*;
use crate::faces::from_bytes;

/// The length of the embeddings the index holds: the local engines' (`selo_engine`'s
/// `EMBEDDING_LEN`). A face of another length is still stored and found, by scan.
pub const INDEXED_DIMENSIONS: usize = 128;

/// Candidates the index is asked for; fewer means the scan answers.
pub(super) const CANDIDATES: i64 = 8;

/// How wide the index's search runs (pgvector's default is 40): a wider search finds the true
/// nearest more often at a small cost, and leaves room for other tenants' faces.
pub(super) const EF_SEARCH: u32 = 200;

/// Faces filled in at a time at open.
const FILL_BATCH: i64 = 1000;

/// How this database answers the 1:N face search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceIndex {
    /// pgvector's HNSW index over the enrolled faces.
    Hnsw,
    /// A scan of the tenant's faces, and why there is no index.
    Scan(String),
}

/// An embedding in pgvector's text form (`[0.5,-1.25,…]`: each float's shortest exact
/// spelling), or `None` when it is not of the indexed length or not all finite.
pub(super) fn vector_text(embedding: &[f32]) -> Option<String> {
    // pgvector holds finite values only; a face with others is kept out of the index (and
    // found by the scan).
    let indexable =
        embedding.len() == INDEXED_DIMENSIONS && embedding.iter().all(|v| v.is_finite());
    indexable.then(|| {
        let values: Vec<String> = embedding.iter().map(|v| v.to_string()).collect();
        format!("[{}]", values.join(","))
    })
}

/// Sets up the index where the server can (under the migration lock, so nodes starting
/// together do it once), then fills in the faces that lack their vector.
pub(super) async fn prepare(client: &mut Object) -> StoreResult<FaceIndex> {
    let available = holds(
        client,
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
    );
    if !available.await? {
        return Ok(FaceIndex::Scan(
            "the PostgreSQL server has no pgvector extension".into(),
        ));
    }
    if !holds(
        client,
        "SELECT to_regclass('identity_faces_by_vector') IS NOT NULL",
    )
    .await?
    {
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&super::migrations::MIGRATION_LOCK],
        )
        .await?;
        if let Err(e) = tx
            .batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .await
        {
            let why = StoreError::from(e);
            return Ok(FaceIndex::Scan(format!(
                "creating the pgvector extension was refused ({why}); a superuser can run CREATE EXTENSION vector"
            )));
        }
        let index = tx
            .batch_execute(&format!(
                "ALTER TABLE identity_faces ADD COLUMN IF NOT EXISTS embedding_vector vector({INDEXED_DIMENSIONS});
                 CREATE INDEX IF NOT EXISTS identity_faces_unindexed ON identity_faces (tenant_id) WHERE embedding_vector IS NULL;
                 CREATE INDEX IF NOT EXISTS identity_faces_by_vector ON identity_faces USING hnsw (embedding_vector vector_l2_ops);"
            ))
            .await;
        if let Err(e) = index {
            let why = StoreError::from(e);
            return Ok(FaceIndex::Scan(format!(
                "the face index could not be created ({why})"
            )));
        }
        tx.commit().await?;
    }
    fill(client).await?;
    Ok(FaceIndex::Hnsw)
}

/// The answer of a query of one boolean.
async fn holds(client: &tokio_postgres::Client, sql: &str) -> StoreResult<bool> {
    Ok(client.query_one(sql, &[]).await?.try_get(0)?)
}

/// Gives each enrolled face of the indexed length its vector, a batch at a time.
pub(super) async fn fill(client: &tokio_postgres::Client) -> StoreResult<()> {
    let pending = format!(
        "SELECT id, embedding FROM identity_faces WHERE embedding_vector IS NULL AND octet_length(embedding) = {} AND id > $1 ORDER BY id LIMIT {FILL_BATCH}",
        INDEXED_DIMENSIONS * 4
    );
    let update = client
        .prepare("UPDATE identity_faces SET embedding_vector = $2::text::vector WHERE id = $1")
        .await?;
    let mut after = 0i64;
    loop {
        let rows = client.query(&pending, &[&after]).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get(0)?;
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let text = from_bytes(row.try_get(1)?).as_deref().and_then(vector_text);
            if let Some(text) = text {
                client.execute(&update, &[&id, &text]).await?;
            }
        }
    }
}
