//! The PostgreSQL store (CONTRACT §18): the same roles as the embedded store, on a server that
//! several Selo nodes share. `tokio-postgres` with a `deadpool` pool, driven by the store's own
//! small runtime; every call waits for its answer where it does not stall the caller's async
//! workers ([`crate::bridge`]), per the crate's blocking contract.
//! The schema is migrated at open under an advisory lock, so nodes may start together.

mod config;
mod faces;
mod idempotency;
mod journeys;
mod migrations;
mod nodes;
mod processes;
mod rate_buckets;
mod replay;
mod retention;
mod sandbox_faults;
pub mod scratch;
mod transfer;
mod vector;
mod webhooks;

use crate::bridge::Bridge;
use crate::group_commit::ReplayWriter;
use crate::records::{changed, decode, encode};
use crate::{
    Account, AccountKey, ApiKey, AssertionUse, AssertionUseDone, AssertionUseOutcome,
    AttemptOutcome, EventDraft, FinishedByTime, IdempotencyBegin, IdempotencyCompletion,
    IdempotencyScope, LockoutPolicy, ReplayKey, RetentionCutoffs, StoreError, StoreResult,
    StoredResponse, Tenant, WebhookAttempt, WebhookConfig, WebhookEvent,
};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Transaction};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
pub use vector::{FaceIndex, INDEXED_DIMENSIONS};

/// Connections the pool keeps at most.
const POOL_SIZE: usize = 16;

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        let storage_full = e.code() == Some(&SqlState::DISK_FULL);
        let message = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        StoreError::Database {
            message,
            storage_full,
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
            other => StoreError::Database {
                message: other.to_string(),
                storage_full: false,
            },
        }
    }
}

/// PostgreSQL-backed [`Store`](crate::Store).
pub struct PostgresStore {
    /// The group-commit writer of replay records (dropped first, so its thread takes no new
    /// batch once the store is going; a batch it is committing then fails as interrupted).
    replay: ReplayWriter,
    db: Arc<Database>,
    /// How the 1:N face search runs here (pgvector's index, or a scan).
    face_index: FaceIndex,
    /// Drives the pool's connections.
    _bridge: Bridge,
}

impl crate::Store for PostgresStore {}

/// The pool and what every call needs with it; shared with the replay-record writer's thread.
struct Database {
    pool: Pool,
    handle: Handle,
    /// The configuration epoch as last read from the database (`config_epoch`).
    epoch: AtomicU64,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DB`), migrating its schema
    /// under an advisory lock when needed.
    pub fn open(url: &str) -> StoreResult<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Database {
            message: format!("the database URL is not a PostgreSQL URL ({e})"),
            storage_full: false,
        })?;
        // Bounded waits: a database that does not answer fails a request in seconds instead
        // of holding its thread (the URL's own settings win).
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_options().is_none() {
            config.options("-c statement_timeout=30000");
        }
        let bridge = Bridge::start("selo-postgres")?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Database {
                message: e.to_string(),
                storage_full: false,
            })?;
        let db = Arc::new(Database {
            pool,
            handle: bridge.handle(),
            epoch: AtomicU64::new(0),
        });
        let mut store = PostgresStore {
            replay: ReplayWriter::new({
                let db = db.clone();
                Arc::new(move |batch| db.wait(db.record_batch(batch)))
            }),
            db,
            face_index: FaceIndex::Scan(String::new()),
            _bridge: bridge,
        };
        store.face_index = store.wait(async {
            let mut client = store.db.client().await?;
            migrations::migrate(&mut client).await?;
            let epoch = read_epoch(&client).await?;
            store.db.epoch.store(epoch, Ordering::Relaxed);
            vector::prepare(&mut client).await
        })?;
        match &store.face_index {
            FaceIndex::Hnsw => tracing::info!("1:N face search: pgvector's HNSW index"),
            FaceIndex::Scan(why) => tracing::warn!(
                "1:N face search scans each tenant's faces: {why} (pgvector gives it an index)"
            ),
        }
        Ok(store)
    }

    /// How the 1:N face search runs on this database.
    pub fn face_index(&self) -> &FaceIndex {
        &self.face_index
    }

    /// Waits for `work` (see [`Database::wait`]).
    fn wait<T: Send>(&self, work: impl Future<Output = StoreResult<T>> + Send) -> StoreResult<T> {
        self.db.wait(work)
    }

    /// A pooled connection.
    async fn client(&self) -> StoreResult<Object> {
        self.db.client().await
    }

    /// Runs one statement; the rows it returns.
    fn query(&self, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
        self.wait(async {
            let c = self.client().await?;
            let statement = c.prepare_cached(sql).await?;
            Ok(c.query(&statement, params).await?)
        })
    }

    /// Runs one statement; its one row, if any.
    fn query_opt(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        self.wait(async {
            let c = self.client().await?;
            let statement = c.prepare_cached(sql).await?;
            Ok(c.query_opt(&statement, params).await?)
        })
    }

    /// Runs one statement; how many rows it changed.
    fn execute(&self, sql: &str, params: Params<'_>) -> StoreResult<u64> {
        self.execute_or(sql, params, StoreError::from)
    }

    /// [`PostgresStore::execute`], with the statement's failure told by `failed`.
    fn execute_or(
        &self,
        sql: &str,
        params: Params<'_>,
        failed: impl FnOnce(tokio_postgres::Error) -> StoreError + Send,
    ) -> StoreResult<u64> {
        self.wait(async {
            let c = self.client().await?;
            let statement = c.prepare_cached(sql).await?;
            c.execute(&statement, params).await.map_err(failed)
        })
    }

    /// Runs one statement that changes configuration (which moves the configuration epoch in
    /// the same transaction), and notes the new epoch; how many rows it changed.
    fn execute_config(&self, sql: &str, params: Params<'_>) -> StoreResult<u64> {
        self.execute_config_or(sql, params, StoreError::from)
    }

    /// [`PostgresStore::execute_config`], with the statement's failure told by `failed`.
    fn execute_config_or(
        &self,
        sql: &str,
        params: Params<'_>,
        failed: impl FnOnce(tokio_postgres::Error) -> StoreError + Send,
    ) -> StoreResult<u64> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let statement = tx.prepare_cached(sql).await?;
            let changed = tx.execute(&statement, params).await.map_err(failed)?;
            let epoch = changed_epoch(&tx).await?;
            tx.commit().await?;
            self.db.observed(epoch);
            Ok(changed)
        })
    }

    /// Records of `table` (`processes` or `web_processes`) with a client reference, newest
    /// first.
    fn by_reference<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        let rows = self.query(
            &format!(
                "SELECT record FROM {table} WHERE tenant_id = $1 AND client_reference = $2 ORDER BY created_at DESC, seq DESC LIMIT $3"
            ),
            &[&tenant_id, &reference, &count(limit)],
        )?;
        rows.iter()
            .map(|r| decode(&r.try_get::<_, String>(0)?))
            .collect()
    }
}

impl Database {
    /// Waits for `work` ([`crate::bridge::wait`]).
    fn wait<T: Send>(&self, work: impl Future<Output = StoreResult<T>> + Send) -> StoreResult<T> {
        crate::bridge::wait(&self.handle, work)
    }

    /// A pooled connection.
    async fn client(&self) -> StoreResult<Object> {
        Ok(self.pool.get().await?)
    }

    /// Notes an epoch read from the database: the known epoch only moves forward.
    fn observed(&self, epoch: u64) {
        self.epoch.fetch_max(epoch, Ordering::Relaxed);
    }

    /// Commits a batch of replay records in one transaction, each only if the configuration
    /// epoch is still the one its checks used (the epoch row is share-locked, so no
    /// configuration change commits in between).
    async fn record_batch(&self, batch: &[AssertionUse]) -> StoreResult<Vec<AssertionUseOutcome>> {
        // One statement, one round trip: the configuration epoch share-locked (no change
        // commits between the check and the records) and every record of the batch inserted,
        // in key order (two nodes' batches lock rows in the same order and never deadlock).
        // A use whose record has already expired stops nothing and is not written (the
        // purge would delete it); the others are new records, or replays of live ones.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by_key(|&i| (batch[i].key.expires_at, batch[i].key.hash, i));
        let live: Vec<usize> = order
            .into_iter()
            .filter(|&i| batch[i].key.expires_at >= batch[i].now)
            .collect();
        let expires: Vec<i64> = live.iter().map(|&i| batch[i].key.expires_at).collect();
        let hashes: Vec<&[u8]> = live.iter().map(|&i| batch[i].key.hash.as_slice()).collect();
        let epochs: Vec<i64> = live.iter().map(|&i| batch[i].epoch as i64).collect();
        let c = self.client().await?;
        let statement = c
            .prepare_cached(
                "WITH current AS (SELECT epoch FROM config_epoch WHERE id = 1 FOR SHARE), \
                 inserted AS ( \
                     INSERT INTO replay_records (expires_at, hash) \
                     SELECT u.expires_at, u.hash \
                     FROM unnest($1::bigint[], $2::bytea[], $3::bigint[]) WITH ORDINALITY AS u(expires_at, hash, epoch, n) \
                     WHERE u.epoch = (SELECT epoch FROM current) ORDER BY u.n \
                     ON CONFLICT DO NOTHING RETURNING expires_at, hash) \
                 SELECT c.epoch, i.expires_at, i.hash FROM current c LEFT JOIN inserted i ON TRUE",
            )
            .await?;
        let rows = c.query(&statement, &[&expires, &hashes, &epochs]).await?;
        let epoch = rows.first().ok_or_else(|| StoreError::Database {
            message: "config_epoch holds no row".into(),
            storage_full: false,
        })?;
        let epoch = to_u64(epoch.try_get(0)?);
        self.observed(epoch);
        let mut inserted = std::collections::HashSet::new();
        for r in &rows {
            if let Some(expires_at) = r.try_get::<_, Option<i64>>(1)? {
                let hash: Vec<u8> = r.try_get(2)?;
                inserted.insert((expires_at, hash));
            }
        }
        // A record the statement inserted is the first current use of its key (rows go in
        // in order); any later use of it in the batch is a replay.
        Ok(batch
            .iter()
            .map(|u| {
                if u.epoch != epoch {
                    AssertionUseOutcome::StaleConfig
                } else if u.key.expires_at < u.now
                    || inserted.remove(&(u.key.expires_at, u.key.hash.to_vec()))
                {
                    AssertionUseOutcome::Fresh
                } else {
                    AssertionUseOutcome::Replayed
                }
            })
            .collect())
    }
}

/// The configuration epoch as the database holds it.
async fn read_epoch(c: &tokio_postgres::Client) -> StoreResult<u64> {
    let row = c
        .query_one("SELECT epoch FROM config_epoch WHERE id = 1", &[])
        .await?;
    Ok(to_u64(row.try_get(0)?))
}

/// The configuration epoch inside a configuration change's transaction, which moved it (the
/// configuration tables' triggers move it in every transaction that changes them, through
/// Selo or by hand).
async fn changed_epoch(tx: &Transaction<'_>) -> StoreResult<u64> {
    let row = tx
        .query_one("SELECT epoch FROM config_epoch WHERE id = 1", &[])
        .await?;
    Ok(to_u64(row.try_get(0)?))
}

/// Maps a unique violation to [`StoreError::Conflict`] naming `what`.
fn conflict_on_unique(what: String) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict(what)
        } else {
            StoreError::from(e)
        }
    }
}

/// A row limit as the database takes it.
fn count(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A stored non-negative counter (a negative one reads as 0).
fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A stored small counter.
fn to_u32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Configuration;
    use crate::ReplayLog;
    use crate::postgres::scratch::{DEFAULT_SERVER, ScratchDatabase};
    use AssertionUseOutcome::{Fresh, Replayed, StaleConfig};

    /// One batch holding everything the group commit can meet, decided use by use: the first
    /// current use of a new key is fresh and its repeats replays; a use at another epoch writes
    /// nothing; a live record is a replay; a record already expired at its use stops nothing
    /// and is not written.
    #[test]
    fn a_batch_decides_each_use_as_the_contract_says() {
        let server = std::env::var("SELO_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.into());
        let database = match ScratchDatabase::create(&server) {
            Ok(database) => database,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIPPED: no PostgreSQL server at {server} ({e})");
                return;
            }
            Err(e) => panic!("no PostgreSQL server at {server} ({e}); CI must have one"),
        };
        let store = PostgresStore::open(database.url()).unwrap();
        let epoch = store.config_epoch().unwrap();
        let key = |n: u8, expires_at| ReplayKey {
            hash: [n; 32],
            expires_at,
        };
        let at = |key, epoch| AssertionUse {
            key,
            now: 100,
            epoch,
        };
        let batch = |uses: &[AssertionUse]| store.db.wait(store.db.record_batch(uses)).unwrap();
        assert_eq!(batch(&[at(key(2, 200), epoch)]), [Fresh]);
        assert_eq!(
            batch(&[
                at(key(1, 200), epoch),
                at(key(1, 200), epoch),
                at(key(1, 200), epoch - 1),
                at(key(2, 200), epoch),
                at(key(3, 50), epoch),
                at(key(4, 200), epoch - 1),
                at(key(5, 200), epoch - 1),
                at(key(5, 200), epoch),
            ]),
            [
                Fresh,
                Replayed,
                StaleConfig,
                Replayed,
                Fresh,
                StaleConfig,
                StaleConfig,
                Fresh
            ]
        );
        assert!(store.assertion_used(&key(1, 200), 100).unwrap());
        assert!(store.assertion_used(&key(5, 200), 100).unwrap());
        assert!(!store.assertion_used(&key(4, 200), 100).unwrap());
        assert!(!store.assertion_used(&key(3, 50), 10).unwrap());
        assert_eq!(batch(&[]), []);
    }
}
