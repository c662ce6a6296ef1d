//! The embedded SQLite store: WAL, one writer connection and a few readers. The server and the
//! admin CLI may have the same database open at once (WAL + busy timeout).

mod faces;

use crate::{
    Account, AccountKey, ApiKey, AssertionUse, AssertionUseDone, AssertionUseOutcome,
    AttemptOutcome, EventDraft, ExpiredBlob, FinishedByTime, IdempotencyBegin,
    IdempotencyCompletion, IdempotencyScope, LockoutPolicy, ReplayKey, RetentionCutoffs, Store,
    StoreError, StoreResult, StoredResponse, Tenant, WebhookAttempt, WebhookConfig, WebhookEvent,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use selo_domain::magic_link::MagicLinkRecord;
use selo_domain::process::ProcessRecord;
use selo_domain::retention::Retention;
use selo_domain::verification::{EngineSet, EngineSettings, MatchThresholds};
use selo_domain::web::WebProcessRecord;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

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

/// How many migrations precede the one that moved replay records to `replay_records`.
#[cfg(test)]
const REPLAY_RECORDS_MIGRATION: usize = 10;

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
/// Expand-only: a migration never drops or renames what an older binary still reads.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    environment TEXT NOT NULL,
    rate_limit INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE accounts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    allow_ips TEXT NOT NULL DEFAULT '',
    allowed_hours TEXT,
    locked_until INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE account_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    account TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, account) REFERENCES accounts(tenant_id, name)
);
CREATE INDEX account_keys_by_account ON account_keys(tenant_id, account);
CREATE TABLE auth_failures (
    tenant_id TEXT NOT NULL,
    account TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX auth_failures_by_account ON auth_failures(tenant_id, account, at);
CREATE TABLE used_assertions (
    hash BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_assertions_by_expiry ON used_assertions(expires_at);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    hash BLOB NOT NULL UNIQUE,
    capabilities TEXT NOT NULL,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE processes (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    client_reference TEXT,
    created_at INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX processes_by_reference ON processes(tenant_id, client_reference, created_at);
"#,
    r#"
CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    route TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash BLOB NOT NULL,
    running INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status INTEGER,
    content_type TEXT,
    body BLOB,
    PRIMARY KEY (tenant_id, route, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_at);
"#,
    r#"
ALTER TABLE tenants ADD COLUMN flows TEXT;
ALTER TABLE tenants ADD COLUMN permissions TEXT;
CREATE TABLE web_processes (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    client_reference TEXT,
    created_at INTEGER NOT NULL,
    captured INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
CREATE INDEX web_processes_by_reference ON web_processes(tenant_id, client_reference, created_at);
"#,
    r#"
CREATE TABLE magic_links (
    token TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    created_at INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
"#,
    r#"
ALTER TABLE processes ADD COLUMN blob_deleted_at INTEGER;
ALTER TABLE web_processes ADD COLUMN blob_deleted_at INTEGER;
ALTER TABLE magic_links ADD COLUMN blob_deleted_at INTEGER;
"#,
    r#"
CREATE TABLE webhooks (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    url TEXT NOT NULL,
    auth TEXT NOT NULL,
    max_attempts INTEGER NOT NULL,
    retry_interval INTEGER NOT NULL,
    timeout INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_until INTEGER,
    enabled INTEGER NOT NULL
);
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    process_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    UNIQUE (tenant_id, process_id)
);
CREATE INDEX webhook_events_due ON webhook_events(status, next_attempt_at);
CREATE TABLE webhook_attempts (
    event_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    process_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at INTEGER NOT NULL,
    status INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_by_tenant ON webhook_attempts(tenant_id, process_id, at);
"#,
    r#"
ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
ALTER TABLE tenants ADD COLUMN selfie_retention INTEGER;
ALTER TABLE tenants ADD COLUMN evidence_retention INTEGER;
ALTER TABLE tenants ADD COLUMN process_retention INTEGER;
"#,
    // Replay records are purged by the sweeper's scan, not per request: the expiry index only
    // cost every token request a second page write.
    r#"
DROP INDEX IF EXISTS used_assertions_by_expiry;
"#,
    // Due events are listed tenant by tenant, so one tenant's backlog never hides another's.
    r#"
CREATE INDEX webhook_events_due_by_tenant ON webhook_events(tenant_id, status, next_attempt_at, created_at);
"#,
    // Replay records keyed by expiry first (`REPLAY_RECORDS_MIGRATION`): records made together
    // sit on the same B-tree pages, and the purge is a range delete instead of a scan. A new
    // table, so an older binary keeps working on `used_assertions` after a rollback. Older
    // binaries recorded `max(exp, now) + 60`; an assertion used within its exp leeway has its
    // record up to 60 s after `exp + 60`, so those records (the only ones that can expire
    // within 60 s of now) are also copied at each of the 60 seconds before.
    r#"
CREATE TABLE replay_records (
    expires_at INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (expires_at, hash)
) WITHOUT ROWID;
INSERT OR IGNORE INTO replay_records (expires_at, hash) SELECT expires_at, hash FROM used_assertions;
WITH RECURSIVE back(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM back WHERE k < 60)
INSERT OR IGNORE INTO replay_records (expires_at, hash)
    SELECT u.expires_at - back.k, u.hash FROM used_assertions u, back
    WHERE u.expires_at <= unixepoch() + 60;
"#,
    // The manual clock of a test-rig server, so that `selo admin` reads the same clock.
    r#"
CREATE TABLE server_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    manual_unix_nanos INTEGER NOT NULL
);
"#,
    // Personal data are forgotten when the process window ends: when each journey finished
    // (or will, by expiring) is a column, written from the record's own rule from now on; the
    // rows written before are filled in once here.
    r#"
ALTER TABLE web_processes ADD COLUMN finished_at INTEGER;
ALTER TABLE web_processes ADD COLUMN scrubbed_at INTEGER;
UPDATE web_processes SET finished_at = COALESCE(json_extract(record, '$.capture.at'), json_extract(record, '$.expiresAt'));
ALTER TABLE magic_links ADD COLUMN finished_at INTEGER;
ALTER TABLE magic_links ADD COLUMN scrubbed_at INTEGER;
UPDATE magic_links SET finished_at = COALESCE(json_extract(record, '$.capture.at'), created_at);
CREATE INDEX web_processes_by_finish ON web_processes(scrubbed_at, finished_at);
CREATE INDEX magic_links_by_finish ON magic_links(scrubbed_at, finished_at);
"#,
    // The local engines (CONTRACT §17): a tenant's engine set and match thresholds, the
    // identity base, and each process's face embedding, kept while the process is (its
    // `finished_at`, written from the record's own rule; older rows filled in here).
    r#"
ALTER TABLE tenants ADD COLUMN engines TEXT;
ALTER TABLE tenants ADD COLUMN match_accept REAL;
ALTER TABLE tenants ADD COLUMN match_reject REAL;
CREATE TABLE identity_faces (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    embedding BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL
);
CREATE INDEX identity_faces_by_code ON identity_faces(tenant_id, code);
ALTER TABLE processes ADD COLUMN face BLOB;
ALTER TABLE processes ADD COLUMN finished_at INTEGER;
UPDATE processes SET finished_at = COALESCE(json_extract(record, '$.completesAt'), created_at);
CREATE INDEX processes_faces_by_finish ON processes(finished_at) WHERE face IS NOT NULL;
"#,
    // Selfies a journey refused at the engines' gates (five finish it as failed).
    r#"
ALTER TABLE web_processes ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE magic_links ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
"#,
];

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: Arc<Writer>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// The group-commit queue for replay records, started on first use and again whenever its
    /// thread is found gone.
    replay_queue: Mutex<Option<ReplayQueue>>,
}

/// The sending end of the replay-record writer's queue.
type ReplayQueue = mpsc::Sender<(AssertionUse, AssertionUseDone)>;

/// The one writing connection and the configuration epoch it observes.
struct Writer {
    conn: Mutex<Connection>,
    /// The connection's last `PRAGMA data_version` (read and written under `conn`'s lock).
    data_version: AtomicI64,
    /// The configuration epoch ([`Store::config_epoch`]).
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

    /// The group-commit loop: waits for one request, takes whatever else is queued (up to
    /// [`MAX_BATCH`]), commits them together and answers each; ends when the store is dropped.
    fn run_replay_queue(&self, queue: mpsc::Receiver<(AssertionUse, AssertionUseDone)>) {
        supervised_group_commit(queue, |batch| self.record_batch(batch));
    }
}

/// Runs the group-commit loop of [`Writer::run_replay_queue`] with `commit` committing each
/// batch. A panic inside `commit` (a bug) is caught: the batch's requests are answered
/// [`StoreError::Interrupted`] (the server says 503, retry) and the loop goes on, so one panic
/// never stalls every later token request.
fn supervised_group_commit(
    queue: mpsc::Receiver<(AssertionUse, AssertionUseDone)>,
    commit: impl Fn(&[AssertionUse]) -> StoreResult<Vec<AssertionUseOutcome>>,
) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let batch: Vec<AssertionUse> = jobs.iter().map(|(u, _)| *u).collect();
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(&batch)));
        match committed {
            Ok(Ok(outcomes)) => {
                for ((_, done), outcome) in jobs.into_iter().zip(outcomes) {
                    done(Ok(outcome));
                }
            }
            Ok(Err(e)) => {
                let full = e.is_storage_full();
                let text = e.to_string();
                for (_, done) in jobs {
                    done(Err(if full {
                        StoreError::Io(std::io::Error::new(
                            std::io::ErrorKind::StorageFull,
                            text.clone(),
                        ))
                    } else {
                        StoreError::Io(std::io::Error::other(text.clone()))
                    }));
                }
            }
            Err(_) => {
                tracing::error!(
                    requests = jobs.len(),
                    "the replay-record writer panicked; its requests are answered 503 and it goes on"
                );
                for (_, done) in jobs {
                    done(Err(StoreError::Interrupted(
                        "the replay-record writer was interrupted".into(),
                    )));
                }
            }
        }
    }
}

impl SqliteStore {
    /// Starts the replay-record writer thread; returns its queue.
    fn start_replay_writer(&self) -> std::io::Result<ReplayQueue> {
        let (tx, rx) = mpsc::channel();
        let writer = self.writer.clone();
        std::thread::Builder::new()
            .name("selo-replay-commit".into())
            .spawn(move || writer.run_replay_queue(rx))?;
        Ok(tx)
    }
}

/// Rewrites a stored record without its personal data.
type ScrubRecord = fn(&str) -> StoreResult<String>;

fn scrub_web_record(record: &str) -> StoreResult<String> {
    let mut p: WebProcessRecord = decode(record)?;
    p.scrub_personal_data();
    encode(&p)
}

fn scrub_link_record(record: &str) -> StoreResult<String> {
    let mut link: MagicLinkRecord = decode(record)?;
    link.scrub_personal_data();
    encode(&link)
}

/// Most replay records committed in one transaction.
const MAX_BATCH: usize = 256;

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
        other => StoreError::Db(other),
    }
}

fn changed(n: usize, what: impl FnOnce() -> String) -> StoreResult<()> {
    if n == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

fn list_column(value: Option<String>) -> Option<Vec<String>> {
    value.map(|v| {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
}

fn tenant_row(r: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: r.get(0)?,
        name: r.get(1)?,
        environment: r.get(2)?,
        rate_limit: r.get(3)?,
        created_at: r.get(4)?,
        flows: list_column(r.get(5)?),
        permissions: list_column(r.get(6)?),
        retention: Retention::with(r.get(7)?, r.get(8)?, r.get(9)?),
        engines: engine_settings(r.get(10)?, r.get(11)?, r.get(12)?),
    })
}

/// A tenant's engine columns as settings (an unknown engine set name reads as the default).
fn engine_settings(
    set: Option<String>,
    accept: Option<f64>,
    reject: Option<f64>,
) -> EngineSettings {
    EngineSettings {
        set: set.as_deref().and_then(EngineSet::parse),
        thresholds: accept.zip(reject).map(|(accept, reject)| MatchThresholds {
            accept: accept as f32,
            reject: reject as f32,
        }),
    }
}

const TENANT_COLS: &str = "id, name, environment, rate_limit, created_at, flows, permissions, selfie_retention, evidence_retention, process_retention, engines, match_accept, match_reject";

fn account_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    let ips: String = r.get(3)?;
    Ok(Account {
        tenant_id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        allow_ips: ips
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        allowed_hours: r.get(4)?,
        locked_until: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<AccountKey> {
    Ok(AccountKey {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        account: r.get(2)?,
        public_key_pem: r.get(3)?,
        revoked_at: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn api_key_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let hash: Vec<u8> = r.get(2)?;
    Ok(ApiKey {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        hash: hash.try_into().unwrap_or([0; 32]),
        capabilities: r.get(3)?,
        revoked_at: r.get(4)?,
        created_at: r.get(5)?,
    })
}

const EVENT_COLS: &str =
    "id, tenant_id, process_id, payload, created_at, status, attempts, next_attempt_at";

fn event_row(r: &Row<'_>) -> rusqlite::Result<WebhookEvent> {
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
fn insert_event(tx: &rusqlite::Transaction<'_>, e: &EventDraft) -> StoreResult<bool> {
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO webhook_events (id, tenant_id, process_id, payload, created_at, status, attempts, next_attempt_at) SELECT ?1, ?2, ?3, ?4, ?5, 'pending', 0, ?5 WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = ?2)",
        )?
        .execute(params![e.id, e.tenant_id, e.process_id, e.payload, e.created_at])?;
    Ok(n == 1)
}

/// Marks an idempotency record done with its response, inside the caller's transaction.
fn complete_idempotency(
    tx: &rusqlite::Transaction<'_>,
    done: IdempotencyCompletion<'_>,
) -> StoreResult<()> {
    let s = done.scope;
    tx.prepare_cached(
        "UPDATE idempotency_keys SET running = 0, expires_at = ?4, status = ?5, content_type = ?6, body = ?7 WHERE tenant_id = ?1 AND route = ?2 AND key = ?3",
    )?
    .execute(params![
        s.tenant_id,
        s.route,
        s.key,
        done.expires_at,
        done.response.status,
        done.response.content_type,
        done.response.body
    ])?;
    Ok(())
}

fn encode<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A row of `idempotency_keys`.
struct IdempotencyRow {
    body_hash: Vec<u8>,
    running: bool,
    lease_until: i64,
    status: Option<u16>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}

const ACCOUNT_COLS: &str =
    "tenant_id, name, enabled, allow_ips, allowed_hours, locked_until, created_at";
const KEY_COLS: &str = "id, tenant_id, account, public_key_pem, revoked_at, created_at";
const API_KEY_COLS: &str = "id, tenant_id, hash, capabilities, revoked_at, created_at";

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
        Ok(SqliteStore {
            writer: Arc::new(Writer {
                conn: Mutex::new(writer),
                data_version: AtomicI64::new(data_version),
                epoch: AtomicU64::new(0),
            }),
            readers,
            next_reader: AtomicUsize::new(0),
            replay_queue: Mutex::new(None),
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

/// The SQL that finds, per table, blobs whose retention ended by `?1` (`?2` = limit, `?3` and
/// `?4` = the default selfie and process windows; every statement names all four so that one
/// binding serves them all): (tenant, id, blob key suffix).
const SWEEPS: [(&str, &str); 3] = [
    (
        "processes",
        "SELECT p.tenant_id, p.id, '.selfie' FROM processes p JOIN tenants t ON t.id = p.tenant_id WHERE p.blob_deleted_at IS NULL AND COALESCE(json_extract(p.record, '$.completesAt'), p.created_at) + COALESCE(t.selfie_retention, ?3) <= ?1 AND ?4 IS NOT NULL LIMIT ?2",
    ),
    (
        "web_processes",
        "SELECT p.tenant_id, p.id, '.selfie' FROM web_processes p JOIN tenants t ON t.id = p.tenant_id WHERE p.captured = 1 AND p.blob_deleted_at IS NULL AND json_extract(p.record, '$.capture.at') + COALESCE(t.selfie_retention, ?3) <= ?1 AND ?4 IS NOT NULL LIMIT ?2",
    ),
    (
        "magic_links",
        "SELECT m.tenant_id, m.token, '.link-selfie' FROM magic_links m JOIN tenants t ON t.id = m.tenant_id WHERE m.completed = 1 AND m.blob_deleted_at IS NULL AND json_extract(m.record, '$.capture.at') + COALESCE(t.selfie_retention, ?3) <= ?1 AND ?4 IS NOT NULL LIMIT ?2",
    ),
];

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

/// Columns an older binary leaves empty when it runs on a migrated database (migrations are
/// expand-only, so a rollback keeps working): filled in at every open, as their migration
/// filled the rows before it.
const BACKFILL: &str = r#"
UPDATE web_processes SET finished_at = COALESCE(json_extract(record, '$.capture.at'), json_extract(record, '$.expiresAt')) WHERE finished_at IS NULL;
UPDATE magic_links SET finished_at = COALESCE(json_extract(record, '$.capture.at'), created_at) WHERE finished_at IS NULL;
UPDATE processes SET finished_at = COALESCE(json_extract(record, '$.completesAt'), created_at) WHERE finished_at IS NULL;
"#;

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.execute_batch(BACKFILL)?;
    tx.commit()?;
    Ok(())
}

impl Store for SqliteStore {
    fn ping(&self) -> StoreResult<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
    }

    fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        self.write_config(|c| {
            c.execute(
                "INSERT INTO tenants (id, name, environment, rate_limit, created_at, flows, permissions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.id,
                    t.name,
                    t.environment,
                    t.rate_limit,
                    t.created_at,
                    t.flows.as_ref().map(|f| f.join(",")),
                    t.permissions.as_ref().map(|p| p.join(","))
                ],
            )
            .map_err(conflict_on_unique(format!("tenant {}", t.id)))?;
            Ok(())
        })
    }

    fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        self.read(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?1"))?
                    .query_row([id], tenant_row)
                    .optional()?,
            )
        })
    }

    fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TENANT_COLS} FROM tenants ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([], tenant_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn create_account(&self, a: &Account, key: &AccountKey) -> StoreResult<()> {
        self.write_config(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO accounts (tenant_id, name, enabled, allow_ips, allowed_hours, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![a.tenant_id, a.name, a.enabled, a.allow_ips.join(","), a.allowed_hours, a.created_at],
            )
            .map_err(conflict_on_unique(format!("account {} in tenant {}", a.name, a.tenant_id)))?;
            insert_key(&tx, key)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn account(&self, tenant_id: &str, name: &str) -> StoreResult<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE tenant_id = ?1 AND name = ?2"
            ))?
            .query_row([tenant_id, name], account_row)
            .optional()?)
        })
    }

    fn list_accounts(&self, tenant_id: &str) -> StoreResult<Vec<Account>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE tenant_id = ?1 ORDER BY created_at, name"
            ))?;
            let rows = st
                .query_map([tenant_id], account_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn set_account_enabled(&self, tenant_id: &str, name: &str, enabled: bool) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE accounts SET enabled = ?3 WHERE tenant_id = ?1 AND name = ?2",
                params![tenant_id, name, enabled],
            )?;
            changed(n, || format!("account {name} in tenant {tenant_id}"))
        })
    }

    fn set_account_access(
        &self,
        tenant_id: &str,
        name: &str,
        allow_ips: &[String],
        allowed_hours: Option<&str>,
    ) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE accounts SET allow_ips = ?3, allowed_hours = ?4 WHERE tenant_id = ?1 AND name = ?2",
                params![tenant_id, name, allow_ips.join(","), allowed_hours],
            )?;
            changed(n, || format!("account {name} in tenant {tenant_id}"))
        })
    }

    fn add_account_key(&self, key: &AccountKey) -> StoreResult<()> {
        self.write_config(|c| {
            let tx = c.transaction()?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM accounts WHERE tenant_id = ?1 AND name = ?2",
                    [&key.tenant_id, &key.account],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!(
                    "account {} in tenant {}",
                    key.account, key.tenant_id
                )));
            }
            insert_key(&tx, key)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn revoke_account_key(
        &self,
        tenant_id: &str,
        name: &str,
        key_id: &str,
        at: i64,
    ) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE account_keys SET revoked_at = COALESCE(revoked_at, ?4) WHERE tenant_id = ?1 AND account = ?2 AND id = ?3",
                params![tenant_id, name, key_id, at],
            )?;
            changed(n, || format!("key {key_id} of account {name}"))
        })
    }

    fn account_keys(&self, tenant_id: &str, name: &str) -> StoreResult<Vec<AccountKey>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM account_keys WHERE tenant_id = ?1 AND account = ?2 ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([tenant_id, name], key_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn record_auth_failure(
        &self,
        tenant_id: &str,
        name: &str,
        now: i64,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<i64>> {
        self.write(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM auth_failures WHERE tenant_id = ?1 AND account = ?2 AND at <= ?3",
                params![tenant_id, name, now - policy.window_seconds],
            )?;
            tx.execute(
                "INSERT INTO auth_failures (tenant_id, account, at) VALUES (?1, ?2, ?3)",
                params![tenant_id, name, now],
            )?;
            let count: u32 = tx.query_row(
                "SELECT COUNT(*) FROM auth_failures WHERE tenant_id = ?1 AND account = ?2",
                params![tenant_id, name],
                |r| r.get(0),
            )?;
            let locked = if policy.attempts > 0 && count >= policy.attempts {
                let until = now + policy.duration_seconds;
                tx.execute(
                    "UPDATE accounts SET locked_until = ?3 WHERE tenant_id = ?1 AND name = ?2",
                    params![tenant_id, name, until],
                )?;
                tx.execute(
                    "DELETE FROM auth_failures WHERE tenant_id = ?1 AND account = ?2",
                    params![tenant_id, name],
                )?;
                Some(until)
            } else {
                None
            };
            tx.commit()?;
            if locked.is_some() {
                // The lock is configuration the token service caches; a failure that does not
                // lock changes nothing cached (and must not let bad signatures flush caches).
                self.writer.epoch.fetch_add(1, Ordering::Relaxed);
            }
            Ok(locked)
        })
    }

    fn assertion_used(&self, key: &ReplayKey, now: i64) -> StoreResult<bool> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM replay_records WHERE expires_at = ?1 AND hash = ?2 \
                 AND expires_at >= ?3",
            )?
            .query_row(
                params![key.expires_at, key.hash.as_slice(), now],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    fn record_assertion_use(&self, request: AssertionUse, done: AssertionUseDone) {
        let mut job = (request, done);
        // The writer thread is (re)started when it is not running: on first use, and should it
        // ever have ended, so a lost thread never stalls token requests.
        for _ in 0..2 {
            let queue = {
                let mut slot = self.replay_queue.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_ref() {
                    Some(q) => q.clone(),
                    None => match self.start_replay_writer() {
                        Ok(q) => slot.insert(q).clone(),
                        Err(e) => {
                            (job.1)(Err(StoreError::Io(e)));
                            return;
                        }
                    },
                }
            };
            match queue.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(back)) => {
                    tracing::error!("the replay-record writer had stopped; starting it again");
                    *self.replay_queue.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    job = back;
                }
            }
        }
        (job.1)(Err(StoreError::Interrupted(
            "the replay-record writer could not be started".into(),
        )));
    }

    fn set_manual_clock(&self, unix_nanos: Option<i64>) -> StoreResult<()> {
        self.write(|c| {
            match unix_nanos {
                Some(n) => c.execute(
                    "INSERT INTO server_clock (id, manual_unix_nanos) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET manual_unix_nanos = excluded.manual_unix_nanos",
                    [n],
                )?,
                None => c.execute("DELETE FROM server_clock", [])?,
            };
            Ok(())
        })
    }

    fn manual_clock(&self) -> StoreResult<Option<i64>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT manual_unix_nanos FROM server_clock WHERE id = 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn known_config_epoch(&self) -> u64 {
        self.writer.epoch.load(Ordering::Relaxed)
    }

    fn purge_used_assertions(&self, now: i64) -> StoreResult<usize> {
        self.write(|c| {
            let purged = c
                .prepare_cached("DELETE FROM replay_records WHERE expires_at < ?1")?
                .execute([now])?;
            // What an older binary recorded (the table stays for a rollback), once expired.
            c.prepare_cached("DELETE FROM used_assertions WHERE expires_at < ?1")?
                .execute([now])?;
            Ok(purged)
        })
    }

    fn config_epoch(&self) -> StoreResult<u64> {
        let conn = self.writer.lock();
        self.writer.observe(&conn)
    }

    fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        self.write_config(|c| {
            c.execute(
                "INSERT INTO api_keys (id, tenant_id, hash, capabilities, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![k.id, k.tenant_id, k.hash.as_slice(), k.capabilities, k.revoked_at, k.created_at],
            )
            .map_err(conflict_on_unique(format!("api key {}", k.id)))?;
            Ok(())
        })
    }

    fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE hash = ?1"
            ))?
            .query_row([hash.as_slice()], api_key_row)
            .optional()?)
        })
    }

    fn list_api_keys(&self, tenant_id: &str) -> StoreResult<Vec<ApiKey>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE tenant_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = st
                .query_map([tenant_id], api_key_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, at],
            )?;
            changed(n, || format!("api key {id}"))
        })
    }

    fn insert_process(
        &self,
        p: &ProcessRecord,
        face: Option<&[f32]>,
        idempotency: Option<IdempotencyCompletion<'_>>,
        event: Option<&EventDraft>,
    ) -> StoreResult<()> {
        let record = serde_json::to_string(p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let finished_at = p.completes_at.unwrap_or(p.created_at);
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO processes (id, tenant_id, client_reference, created_at, record, face, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                p.id,
                p.tenant_id,
                p.client_reference,
                p.created_at,
                record,
                face.map(crate::faces::to_bytes),
                finished_at
            ])
            .map_err(conflict_on_unique(format!("process {}", p.id)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done)?;
            }
            if let Some(e) = event {
                insert_event(&tx, e)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn idempotency_begin(
        &self,
        s: IdempotencyScope<'_>,
        body_hash: &[u8; 32],
        now: i64,
        lease_until: i64,
    ) -> StoreResult<IdempotencyBegin> {
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached("DELETE FROM idempotency_keys WHERE running = 0 AND expires_at < ?1")?
                .execute([now])?;
            let row: Option<IdempotencyRow> = tx
                .prepare_cached(
                    "SELECT body_hash, running, lease_until, status, content_type, body FROM idempotency_keys WHERE tenant_id = ?1 AND route = ?2 AND key = ?3",
                )?
                .query_row(params![s.tenant_id, s.route, s.key], |r| {
                    Ok(IdempotencyRow {
                        body_hash: r.get(0)?,
                        running: r.get(1)?,
                        lease_until: r.get(2)?,
                        status: r.get(3)?,
                        content_type: r.get(4)?,
                        body: r.get(5)?,
                    })
                })
                .optional()?;
            let outcome = match row {
                Some(r) if r.body_hash.as_slice() != body_hash.as_slice() => {
                    IdempotencyBegin::Mismatch
                }
                Some(r) if r.running && r.lease_until >= now => IdempotencyBegin::InFlight,
                Some(IdempotencyRow {
                    running: false,
                    status: Some(status),
                    content_type,
                    body,
                    ..
                }) => IdempotencyBegin::Replay(StoredResponse {
                    status,
                    content_type: content_type.unwrap_or_default(),
                    body: body.unwrap_or_default(),
                }),
                _ => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO idempotency_keys (tenant_id, route, key, body_hash, running, lease_until, expires_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)",
                    )?
                    .execute(params![s.tenant_id, s.route, s.key, body_hash.as_slice(), lease_until])?;
                    IdempotencyBegin::Started
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn clear_running_idempotency(&self) -> StoreResult<usize> {
        self.write(|c| Ok(c.execute("DELETE FROM idempotency_keys WHERE running = 1", [])?))
    }

    fn idempotency_abandon(&self, s: IdempotencyScope<'_>) -> StoreResult<()> {
        self.write(|c| {
            c.prepare_cached(
                "DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND route = ?2 AND key = ?3 AND running = 1",
            )?
            .execute(params![s.tenant_id, s.route, s.key])?;
            Ok(())
        })
    }

    fn processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<ProcessRecord>> {
        self.by_reference("processes", tenant_id, reference, limit)
    }

    fn set_tenant_rate_limit(&self, tenant_id: &str, rps: Option<u32>) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET rate_limit = ?2 WHERE id = ?1",
                params![tenant_id, rps],
            )?;
            changed(n, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_retention(
        &self,
        tenant_id: &str,
        selfie: Option<i64>,
        evidence: Option<i64>,
        process: Option<i64>,
    ) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET selfie_retention = COALESCE(?2, selfie_retention), evidence_retention = COALESCE(?3, evidence_retention), process_retention = COALESCE(?4, process_retention) WHERE id = ?1",
                params![tenant_id, selfie, evidence, process],
            )?;
            changed(n, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_flows(&self, tenant_id: &str, flows: &[String]) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET flows = ?2 WHERE id = ?1",
                params![tenant_id, flows.join(",")],
            )?;
            changed(n, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_engines(&self, tenant_id: &str, engines: EngineSettings) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET engines = ?2, match_accept = ?3, match_reject = ?4 WHERE id = ?1",
                params![
                    tenant_id,
                    engines.set.map(EngineSet::as_str),
                    engines.thresholds.map(|t| f64::from(t.accept)),
                    engines.thresholds.map(|t| f64::from(t.reject))
                ],
            )?;
            changed(n, || format!("tenant {tenant_id}"))
        })
    }

    fn set_tenant_permissions(&self, tenant_id: &str, permissions: &[String]) -> StoreResult<()> {
        self.write_config(|c| {
            let n = c.execute(
                "UPDATE tenants SET permissions = ?2 WHERE id = ?1",
                params![tenant_id, permissions.join(",")],
            )?;
            changed(n, || format!("tenant {tenant_id}"))
        })
    }

    fn insert_web_process(
        &self,
        p: &WebProcessRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()> {
        let record = encode(p)?;
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO web_processes (id, tenant_id, client_reference, created_at, captured, record, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![p.id, p.tenant_id, p.client_reference, p.created_at, p.capture.is_some(), record, p.finishes_at()])
            .map_err(conflict_on_unique(format!("process {}", p.id)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn web_process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<WebProcessRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT record FROM web_processes WHERE id = ?1 AND tenant_id = ?2",
            )?
            .query_row([id, tenant_id], |r| r.get(0))
            .optional()?)
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn web_process_by_id(&self, id: &str) -> StoreResult<Option<WebProcessRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT record FROM web_processes WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn web_processes_by_reference(
        &self,
        tenant_id: &str,
        reference: &str,
        limit: usize,
    ) -> StoreResult<Vec<WebProcessRecord>> {
        self.by_reference("web_processes", tenant_id, reference, limit)
    }

    fn set_web_document(&self, p: &WebProcessRecord) -> StoreResult<bool> {
        let record = encode(p)?;
        self.write(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE web_processes SET record = ?2 WHERE id = ?1 AND scrubbed_at IS NULL AND json_extract(record, '$.person.duiValue') = ''",
                )?
                .execute(params![p.id, record])?;
            Ok(n == 1)
        })
    }

    fn complete_web_process(
        &self,
        p: &WebProcessRecord,
        event: Option<&EventDraft>,
    ) -> StoreResult<bool> {
        let record = encode(p)?;
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx
                .prepare_cached(
                    // Until captured, finished_at holds the journey's expiry; ?3 is the capture's
                    // moment.
                    "UPDATE web_processes SET record = ?2, captured = 1, finished_at = ?3 WHERE id = ?1 AND captured = 0 AND scrubbed_at IS NULL AND finished_at > ?3",
                )?
                .execute(params![p.id, record, p.finishes_at()])?;
            if n == 1
                && let Some(e) = event
            {
                insert_event(&tx, e)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

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
            "SELECT p.record FROM processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE json_extract(p.record, '$.completesAt') <= ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id) LIMIT ?2",
        )?;
        let web = query(
            "SELECT p.record FROM web_processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.captured = 0 AND json_extract(p.record, '$.expiresAt') <= ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id) LIMIT ?2",
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
                    "SELECT min(json_extract(p.record, '$.completesAt')) FROM processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE json_extract(p.record, '$.completesAt') > ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id)",
                )?
                .query_row([after], |r| r.get(0))?;
            let web: Option<i64> = c
                .prepare_cached(
                    "SELECT min(json_extract(p.record, '$.expiresAt')) FROM web_processes p JOIN webhooks w ON w.tenant_id = p.tenant_id WHERE p.captured = 0 AND json_extract(p.record, '$.expiresAt') > ?1 AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = p.tenant_id AND e.process_id = p.id)",
                )?
                .query_row([after], |r| r.get(0))?;
            Ok(api.into_iter().chain(web).min())
        })
    }

    fn set_webhook(&self, w: &WebhookConfig) -> StoreResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO webhooks (tenant_id, url, auth, max_attempts, retry_interval, timeout, concurrency, secret, previous_secret, previous_until, enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![w.tenant_id, w.url, w.auth, w.max_attempts, w.retry_interval, w.timeout, w.concurrency, w.secret, w.previous_secret, w.previous_until, w.enabled],
            )
            .map_err(conflict_on_unique(format!("webhook of tenant {}", w.tenant_id)))?;
            Ok(())
        })
    }

    fn webhook(&self, tenant_id: &str) -> StoreResult<Option<WebhookConfig>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT tenant_id, url, auth, max_attempts, retry_interval, timeout, concurrency, secret, previous_secret, previous_until, enabled, consecutive_failures FROM webhooks WHERE tenant_id = ?1",
            )?
            .query_row([tenant_id], |r| {
                Ok(WebhookConfig {
                    tenant_id: r.get(0)?,
                    url: r.get(1)?,
                    auth: r.get(2)?,
                    max_attempts: r.get(3)?,
                    retry_interval: r.get(4)?,
                    timeout: r.get(5)?,
                    concurrency: r.get(6)?,
                    secret: r.get(7)?,
                    previous_secret: r.get(8)?,
                    previous_until: r.get(9)?,
                    enabled: r.get(10)?,
                    consecutive_failures: r.get(11)?,
                })
            })
            .optional()?)
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

    fn due_events(&self, now: i64, limit: usize) -> StoreResult<Vec<WebhookEvent>> {
        self.read(|c| {
            // Each enabled endpoint with due events gets at most as many as it may have in
            // flight (one while failing), and the batch takes every tenant's oldest before
            // anyone's second: a tenant's backlog, or a failing endpoint's, never fills the
            // batch and holds up the other tenants' deliveries.
            let endpoints = c
                .prepare_cached(
                    "SELECT w.tenant_id, CASE WHEN w.consecutive_failures >= ?1 THEN 1 ELSE max(w.concurrency, 1) END FROM webhooks w WHERE w.enabled = 1 AND EXISTS (SELECT 1 FROM webhook_events e WHERE e.tenant_id = w.tenant_id AND e.status = 'pending' AND e.next_attempt_at <= ?2)",
                )?
                .query_map(params![WebhookConfig::FAILING_AFTER, now], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut per_tenant = c.prepare_cached(&format!(
                "SELECT {EVENT_COLS} FROM webhook_events WHERE tenant_id = ?1 AND status = 'pending' AND next_attempt_at <= ?2 ORDER BY next_attempt_at, created_at LIMIT ?3"
            ))?;
            let mut due = Vec::new();
            for (tenant_id, in_flight) in endpoints {
                let cap = in_flight.min(limit as i64);
                let rows = per_tenant.query_map(params![tenant_id, now, cap], event_row)?;
                for (rank, event) in rows.enumerate() {
                    due.push((rank, event?));
                }
            }
            due.sort_by_key(|(rank, e)| (*rank, e.next_attempt_at, e.created_at));
            Ok(due.into_iter().take(limit).map(|(_, e)| e).collect())
        })
    }

    fn record_attempt(&self, a: &WebhookAttempt, outcome: AttemptOutcome) -> StoreResult<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO webhook_attempts (event_id, tenant_id, process_id, attempt, at, status, latency_ms, error) SELECT id, tenant_id, process_id, ?2, ?3, ?4, ?5, ?6 FROM webhook_events WHERE id = ?1",
            )?
            .execute(params![a.event_id, a.attempt, a.at, a.status, a.latency_ms, a.error])?;
            tx.prepare_cached(
                "UPDATE webhooks SET consecutive_failures = CASE WHEN ?2 THEN 0 ELSE consecutive_failures + 1 END WHERE tenant_id = (SELECT tenant_id FROM webhook_events WHERE id = ?1)",
            )?
            .execute(params![a.event_id, outcome == AttemptOutcome::Delivered])?;
            let (status, next) = match outcome {
                AttemptOutcome::Delivered => ("delivered", a.at),
                AttemptOutcome::Retry(at) => ("pending", at),
                AttemptOutcome::Failed => ("failed", a.at),
            };
            tx.prepare_cached(
                "UPDATE webhook_events SET status = ?2, attempts = ?3, next_attempt_at = ?4 WHERE id = ?1",
            )?
            .execute(params![a.event_id, status, a.attempt, next])?;
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
                "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = 0 WHERE tenant_id = ?1 AND (?2 IS NULL OR process_id = ?2) AND (?3 IS NULL OR created_at >= ?3)",
                params![tenant_id, process_id, since],
            )?)
        })
    }

    fn insert_magic_link(
        &self,
        link: &MagicLinkRecord,
        idempotency: Option<IdempotencyCompletion<'_>>,
    ) -> StoreResult<()> {
        let record = encode(link)?;
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO magic_links (token, tenant_id, created_at, completed, record, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![link.token, link.tenant_id, link.created_unix(), link.capture.is_some(), record, link.finishes_at()])
            .map_err(conflict_on_unique(format!("magic link {}", link.token)))?;
            if let Some(done) = idempotency {
                complete_idempotency(&tx, done)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn magic_link(&self, tenant_id: &str, token: &str) -> StoreResult<Option<MagicLinkRecord>> {
        self.magic_link_by_token(token)
            .map(|l| l.filter(|l| l.tenant_id == tenant_id))
    }

    fn magic_link_by_token(&self, token: &str) -> StoreResult<Option<MagicLinkRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT record FROM magic_links WHERE token = ?1")?
                    .query_row([token], |r| r.get(0))
                    .optional()?,
            )
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn refuse_web_capture(&self, id: &str, now: i64) -> StoreResult<Option<u32>> {
        self.write(|c| {
            Ok(c.prepare_cached(
                // Until captured, finished_at holds the journey's expiry.
                "UPDATE web_processes SET refusals = refusals + 1 WHERE id = ?1 AND captured = 0 AND scrubbed_at IS NULL AND finished_at > ?2 RETURNING refusals",
            )?
            .query_row(params![id, now], |r| r.get(0))
            .optional()?)
        })
    }

    fn refuse_link_capture(&self, token: &str) -> StoreResult<Option<u32>> {
        self.write(|c| {
            Ok(c.prepare_cached(
                "UPDATE magic_links SET refusals = refusals + 1 WHERE token = ?1 AND completed = 0 AND scrubbed_at IS NULL RETURNING refusals",
            )?
            .query_row([token], |r| r.get(0))
            .optional()?)
        })
    }

    fn complete_magic_link(&self, link: &MagicLinkRecord) -> StoreResult<bool> {
        let record = encode(link)?;
        self.write(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE magic_links SET record = ?2, completed = 1, finished_at = ?3 WHERE token = ?1 AND completed = 0 AND scrubbed_at IS NULL",
                )?
                .execute(params![link.token, record, link.finishes_at()])?;
            Ok(n == 1)
        })
    }

    fn blobs_past_retention(
        &self,
        cutoffs: &RetentionCutoffs,
        limit: usize,
    ) -> StoreResult<Vec<ExpiredBlob>> {
        let mut out = Vec::new();
        for (table, sql) in SWEEPS.iter() {
            let rows: Vec<ExpiredBlob> = self.read(|c| {
                let mut st = c.prepare_cached(sql)?;
                let d = cutoffs.defaults;
                let rows = st
                    .query_map(
                        params![cutoffs.now, limit as i64, d.selfie, d.process],
                        |r| {
                            let tenant: String = r.get(0)?;
                            let id: String = r.get(1)?;
                            let suffix: String = r.get(2)?;
                            Ok(ExpiredBlob {
                                table: table.to_string(),
                                key: format!("{tenant}/{id}{suffix}"),
                                id,
                            })
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

    fn blob_owned(&self, key: &str) -> StoreResult<bool> {
        let Some((tenant, file)) = key.split_once('/') else {
            return Ok(false);
        };
        let (sql, id) = if let Some(id) = file.strip_suffix(".link-selfie") {
            (
                "SELECT 1 FROM magic_links WHERE tenant_id = ?1 AND token = ?2 AND completed = 1",
                id,
            )
        } else if let Some(id) = file.strip_suffix(".selfie") {
            (
                "SELECT 1 FROM processes WHERE tenant_id = ?1 AND id = ?2 UNION ALL SELECT 1 FROM web_processes WHERE tenant_id = ?1 AND id = ?2 AND captured = 1",
                id,
            )
        } else {
            return Ok(false);
        };
        self.read(|c| {
            Ok(c.prepare_cached(sql)?
                .query_row([tenant, id], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    fn mark_blob_deleted(&self, blob: &ExpiredBlob, at: i64) -> StoreResult<()> {
        let (table, column) = match blob.table.as_str() {
            "processes" => ("processes", "id"),
            "web_processes" => ("web_processes", "id"),
            "magic_links" => ("magic_links", "token"),
            other => return Err(StoreError::Corrupt(format!("unknown table {other}"))),
        };
        self.write(|c| {
            c.prepare_cached(&format!(
                "UPDATE {table} SET blob_deleted_at = ?2 WHERE {column} = ?1"
            ))?
            .execute(params![blob.id, at])?;
            Ok(())
        })
    }

    fn process(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProcessRecord>> {
        let record: Option<String> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT record FROM processes WHERE id = ?1 AND tenant_id = ?2")?
                    .query_row([id, tenant_id], |r| r.get(0))
                    .optional()?,
            )
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn api_key_and_process(
        &self,
        key_hash: &[u8; 32],
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<(Option<ApiKey>, StoreResult<Option<ProcessRecord>>)> {
        // One statement, so one snapshot and one read transaction (each costs WAL locking).
        let row: Option<(ApiKey, Option<String>)> = self.read(|c| {
            Ok(c
                .prepare_cached(&format!(
                    "SELECT {API_KEY_COLS}, (SELECT p.record FROM processes p WHERE p.id = ?2 AND p.tenant_id = ?3) FROM api_keys WHERE hash = ?1"
                ))?
                .query_row(params![key_hash.as_slice(), id, tenant_id], |r| {
                    Ok((api_key_row(r)?, r.get(6)?))
                })
                .optional()?)
        })?;
        let Some((key, record)) = row else {
            return Ok((None, Ok(None)));
        };
        Ok((Some(key), record.as_deref().map(decode).transpose()))
    }
}

fn insert_key(tx: &rusqlite::Transaction<'_>, k: &AccountKey) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO account_keys (id, tenant_id, account, public_key_pem, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![k.id, k.tenant_id, k.account, k.public_key_pem, k.revoked_at, k.created_at],
    )
    .map_err(conflict_on_unique(format!("key {}", k.id)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// One request through `supervised_group_commit`'s queue, answered on this thread.
    fn one(
        queue: &mpsc::Sender<(AssertionUse, AssertionUseDone)>,
    ) -> StoreResult<AssertionUseOutcome> {
        let (tx, rx) = mpsc::channel();
        let request = AssertionUse {
            key: crate::ReplayKey {
                hash: [7; 32],
                expires_at: 100,
            },
            now: 1,
            epoch: 0,
        };
        queue
            .send((request, Box::new(move |r| tx.send(r).unwrap())))
            .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn a_panic_in_the_group_commit_answers_its_batch_and_the_writer_goes_on() {
        let (queue, rx) = mpsc::channel();
        let batches = AtomicUsize::new(0);
        let writer = std::thread::spawn(move || {
            supervised_group_commit(rx, |batch| {
                if batches.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("injected fault in the replay-record writer");
                }
                Ok(vec![AssertionUseOutcome::Fresh; batch.len()])
            })
        });
        assert!(matches!(one(&queue), Err(StoreError::Interrupted(_))));
        assert_eq!(one(&queue).unwrap(), AssertionUseOutcome::Fresh);
        drop(queue);
        writer.join().unwrap();
    }

    #[test]
    fn a_writer_thread_that_ended_is_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db"), Durability::Normal).unwrap();
        // A queue whose thread is gone: its receiver was dropped.
        let (dead, _) = mpsc::channel();
        *store.replay_queue.lock().unwrap() = Some(dead);
        let (tx, rx) = mpsc::channel();
        let request = AssertionUse {
            key: crate::ReplayKey {
                hash: [9; 32],
                expires_at: 100,
            },
            now: 1,
            epoch: store.known_config_epoch(),
        };
        store.record_assertion_use(request, Box::new(move |r| tx.send(r).unwrap()));
        assert_eq!(rx.recv().unwrap().unwrap(), AssertionUseOutcome::Fresh);
    }

    use super::*;

    #[test]
    fn replay_records_of_older_binaries_still_stop_replays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("selo.db");
        let mut conn = open_connection(&path, Durability::Normal).unwrap();
        let tx = conn.transaction().unwrap();
        for (i, sql) in MIGRATIONS[..REPLAY_RECORDS_MIGRATION].iter().enumerate() {
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", i + 1).unwrap();
        }
        tx.commit().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // Older binaries recorded until max(exp, now) + 60: an assertion used 30 s after its
        // exp, and one used well before it.
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
        assert!(used(late, now - 30));
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
