//! The embedded SQLite store: WAL, one writer connection and a few readers. The server and the
//! admin CLI may have the same database open at once (WAL + busy timeout).

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
mod transfer;
mod webhooks;

use crate::records::{changed, decode, encode};
use config::*;
use idempotency::*;
use migrations::*;
use webhooks::*;

use crate::{
    Account, AccountKey, ApiKey, AssertionUse, AssertionUseDone, AssertionUseOutcome,
    AttemptOutcome, EventDraft, FinishedByTime, IdempotencyBegin, IdempotencyCompletion,
    IdempotencyScope, LockoutPolicy, ReplayKey, RetentionCutoffs, StoreError, StoreResult,
    StoredResponse, Tenant, WebhookAttempt, WebhookConfig, WebhookEvent,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use selo_domain::magic_link::MagicLinkRecord;
use selo_domain::process::ProcessRecord;
use selo_domain::retention::Retention;
use selo_domain::verification::{EngineSet, EngineSettings, MatchThresholds};
use selo_domain::web::WebProcessRecord;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        let storage_full = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull
        );
        StoreError::Database {
            message: e.to_string(),
            storage_full,
        }
    }
}

/// How hard commits are pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL: survives a process crash (kill -9), not a power loss.
    #[default]
    Normal,
    /// `synchronous=FULL`: an fsync per commit; survives power loss.
    Full,
}

const READERS: usize = 4;

/// SQLite-backed [`Store`](crate::Store).
pub struct SqliteStore {
    writer: Arc<Writer>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// The group-commit writer of replay records.
    replay: crate::group_commit::ReplayWriter,
}

impl crate::Store for SqliteStore {}

/// The one writing connection and the configuration epoch it observes.
struct Writer {
    conn: Mutex<Connection>,
    /// The connection's last `PRAGMA data_version` (read and written under `conn`'s lock).
    data_version: AtomicI64,
    /// The configuration epoch ([`Configuration::config_epoch`](crate::Configuration::config_epoch)).
    epoch: AtomicU64,
}

impl Writer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the epoch when another connection committed since the last look (`conn` is the
    /// locked writer connection); returns the epoch.
    fn observe(&self, conn: &Connection) -> StoreResult<u64> {
        // `data_version` moves when another connection (another process) commits; this
        // store's own configuration changes move `epoch` directly (see `write_config`).
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version.swap(version, Ordering::Relaxed) != version {
            self.epoch.fetch_add(1, Ordering::Relaxed);
        }
        Ok(self.epoch.load(Ordering::Relaxed))
    }

    /// Commits a batch of replay records in one transaction.
    fn record_batch(&self, batch: &[AssertionUse]) -> StoreResult<Vec<AssertionUseOutcome>> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let epoch = self.observe(&tx)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO replay_records (expires_at, hash) VALUES (?1, ?2) \
                 ON CONFLICT DO UPDATE SET hash = excluded.hash \
                 WHERE replay_records.expires_at < ?3",
            )?;
            for u in batch {
                outcomes.push(if u.epoch != epoch {
                    AssertionUseOutcome::StaleConfig
                } else if upsert.execute(params![u.key.expires_at, u.key.hash.as_slice(), u.now])?
                    == 1
                {
                    AssertionUseOutcome::Fresh
                } else {
                    AssertionUseOutcome::Replayed
                });
            }
        }
        tx.commit()?;
        Ok(outcomes)
    }
}

fn open_connection(path: &Path, durability: Durability) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn conflict_on_unique(what: String) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(what)
        }
        other => StoreError::from(other),
    }
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the database at `path`.
    /// The database and its WAL files are readable by their owner only (they hold webhook
    /// secrets); SQLite gives the WAL and shared-memory files the database file's mode.
    pub fn open(path: &Path, durability: Durability) -> StoreResult<Self> {
        crate::private_fs::ensure_file(path)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            crate::private_fs::restrict_file(Path::new(&side))?;
        }
        let mut writer = open_connection(path, durability)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, durability).map(Mutex::new))
            .collect::<StoreResult<Vec<_>>>()?;
        let data_version: i64 = writer.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let writer = Arc::new(Writer {
            conn: Mutex::new(writer),
            data_version: AtomicI64::new(data_version),
            epoch: AtomicU64::new(0),
        });
        let committer = writer.clone();
        Ok(SqliteStore {
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            replay: crate::group_commit::ReplayWriter::new(Arc::new(move |batch| {
                committer.record_batch(batch)
            })),
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        f(&mut self.writer.lock())
    }

    /// A write that changes configuration: the epoch moves once it is done (even when it
    /// failed part-way: a spurious move only costs a reload).
    fn write_config<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        // The epoch moves before the lock is released: nobody can commit at the old epoch
        // after this change is committed.
        let mut conn = self.writer.lock();
        let result = f(&mut conn);
        self.writer.epoch.fetch_add(1, Ordering::Relaxed);
        drop(conn);
        result
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let conn = self.readers[i].lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

impl SqliteStore {
    /// Records of `table` (`processes` or `web_processes`) with a client reference, newest
    /// first.
    fn by_reference<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        let records: Vec<String> = self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT record FROM {table} WHERE tenant_id = ?1 AND client_reference = ?2 ORDER BY created_at DESC, rowid DESC LIMIT ?3"
            ))?;
            let rows = st
                .query_map(params![tenant_id, reference, limit as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        records.iter().map(|r| decode(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplayLog;

    /// Records of older binaries stop replays after the migration, whatever the server's
    /// clock: the wall clock's now, and a manual clock far ahead of it (a test rig's), which a
    /// migration reading the wall clock got wrong.
    #[test]
    fn replay_records_of_older_binaries_still_stop_replays() {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        for now in [wall, wall + 10_000_000] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("selo.db");
            let mut conn = open_connection(&path, Durability::Normal).unwrap();
            let tx = conn.transaction().unwrap();
            for (i, sql) in MIGRATIONS[..REPLAY_RECORDS_MIGRATION].iter().enumerate() {
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", i + 1).unwrap();
            }
            tx.commit().unwrap();
            // Older binaries recorded until max(exp, now) + 60: an assertion used 30 s after
            // its exp, and one used well before it.
            let (late, early) = ([1u8; 32], [2u8; 32]);
            let old = "INSERT INTO used_assertions (hash, expires_at) VALUES (?1, ?2)";
            conn.execute(old, params![late.as_slice(), now + 60])
                .unwrap();
            conn.execute(old, params![early.as_slice(), now + 1000])
                .unwrap();
            drop(conn);

            let store = SqliteStore::open(&path, Durability::Normal).unwrap();
            let used = |hash, exp| {
                let key = ReplayKey {
                    hash,
                    expires_at: selo_domain::assertion::accepted_until(exp),
                };
                store.assertion_used(&key, now).unwrap()
            };
            assert!(used(late, now - 30), "now {now}");
            assert!(used(early, now + 940));
            assert!(!used([3; 32], now + 940));
            // An older binary still finds its own table after a rollback.
            let conn = open_connection(&path, Durability::Normal).unwrap();
            let kept = || -> i64 {
                conn.query_row("SELECT count(*) FROM used_assertions", [], |r| r.get(0))
                    .unwrap()
            };
            assert_eq!(kept(), 2);
            // Once expired, both tables are purged.
            assert!(store.purge_used_assertions(now + 2000).unwrap() >= 2);
            assert_eq!(kept(), 0);
        }
    }
}
