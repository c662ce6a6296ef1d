//! SQLite: the schema's migrations, applied in order at open (expand-only).

use super::*;

/// How many migrations precede the one that moved replay records to `replay_records`.
#[cfg(test)]
pub(super) const REPLAY_RECORDS_MIGRATION: usize = 10;

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
/// Expand-only: a migration never drops or renames what an older binary still reads.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // record up to 60 s after `exp + 60`, so every record is also copied at each of the 60
    // seconds before (a redundant copy only stops a replay the original already stops; the
    // migration reads no clock: time comes from the server's only).
    r#"
CREATE TABLE replay_records (
    expires_at INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (expires_at, hash)
) WITHOUT ROWID;
INSERT OR IGNORE INTO replay_records (expires_at, hash) SELECT expires_at, hash FROM used_assertions;
WITH RECURSIVE back(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM back WHERE k < 60)
INSERT OR IGNORE INTO replay_records (expires_at, hash)
    SELECT u.expires_at - back.k, u.hash FROM used_assertions u, back;
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
    // rows written before are filled in at open (`backfill`).
    r#"
ALTER TABLE web_processes ADD COLUMN finished_at INTEGER;
ALTER TABLE web_processes ADD COLUMN scrubbed_at INTEGER;
ALTER TABLE magic_links ADD COLUMN finished_at INTEGER;
ALTER TABLE magic_links ADD COLUMN scrubbed_at INTEGER;
CREATE INDEX web_processes_by_finish ON web_processes(scrubbed_at, finished_at);
CREATE INDEX magic_links_by_finish ON magic_links(scrubbed_at, finished_at);
"#,
    // The local engines (CONTRACT §17): a tenant's engine set and match thresholds, the
    // identity base, and each process's face embedding, kept while the process is (its
    // `finished_at`, written from the record's own rule; older rows filled in at open).
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
CREATE INDEX processes_faces_by_finish ON processes(finished_at) WHERE face IS NOT NULL;
"#,
    // Selfies a journey refused at the engines' gates (five finish it as failed).
    r#"
ALTER TABLE web_processes ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE magic_links ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
"#,
    // What the sweeper and the by-time finisher query, as typed columns instead of the
    // records' JSON: a process's `completes_at` (NULL: decided at its create) with `typed`
    // (NULL: written by an older binary, filled in at open), and whether a Web & SDK process
    // was given its document (`has_document`, NULL likewise). The partial indexes find the rows
    // to fill in without a scan.
    r#"
ALTER TABLE processes ADD COLUMN completes_at INTEGER;
ALTER TABLE processes ADD COLUMN typed INTEGER;
ALTER TABLE web_processes ADD COLUMN has_document INTEGER;
CREATE INDEX processes_untyped ON processes(typed) WHERE typed IS NULL;
CREATE INDEX processes_by_completion ON processes(completes_at) WHERE completes_at IS NOT NULL;
CREATE INDEX web_processes_document_unsure ON web_processes(has_document) WHERE has_document IS NOT 1;
CREATE INDEX magic_links_unfinished ON magic_links(finished_at) WHERE finished_at IS NULL;
"#,
    // Several nodes (CONTRACT §18): their access-token public keys, task leases, and webhook
    // events claimed by one node at a time.
    r#"
CREATE TABLE node_keys (
    kid TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    public_key BLOB NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE TABLE leases (
    task TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until INTEGER NOT NULL
);
ALTER TABLE webhook_events ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_events ADD COLUMN claimed_until INTEGER;
"#,
    // Rate-limit buckets shared by several processes (the PostgreSQL store's nodes; the same
    // role here).
    r#"
CREATE TABLE rate_buckets (
    tenant_id TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_ms INTEGER NOT NULL
);
ALTER TABLE node_keys ADD COLUMN node TEXT;
"#,
    // Sandbox fault plans, shared by every process on the store (CONTRACT §12, §18).
    r#"
CREATE TABLE fault_plans (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    method TEXT,
    path TEXT NOT NULL,
    faults TEXT NOT NULL,
    global INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX fault_plans_by_tenant ON fault_plans(tenant_id, expires_at);
CREATE TABLE fault_uses (
    plan_id TEXT NOT NULL REFERENCES fault_plans(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    fault TEXT NOT NULL,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    request TEXT NOT NULL,
    PRIMARY KEY (plan_id, n)
);
"#,
];

/// Rows read at a time while filling in, so a large first fill holds a bounded number of
/// records in memory.
const FILL_BATCH: usize = 1000;

/// Fills the typed columns an older binary leaves empty when it runs on a migrated database
/// (migrations are expand-only, so a rollback keeps working), at every open, from each row's
/// record as the domain reads it (no SQL reads the records' JSON). A journey an older binary
/// gave its document after this version wrote it (`has_document` 0) is looked at again too.
fn backfill(tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
    fill_pending(
        tx,
        "processes",
        "id",
        "typed IS NULL",
        |id, p: ProcessRecord| {
            tx.prepare_cached(
                "UPDATE processes SET completes_at = ?2, finished_at = ?3, typed = 1 WHERE id = ?1",
            )?
            .execute(params![
                id,
                p.completes_at,
                p.completes_at.unwrap_or(p.created_at)
            ])
        },
    )?;
    fill_pending(
        tx,
        "web_processes",
        "id",
        "has_document IS NOT 1 AND (has_document IS NULL OR scrubbed_at IS NULL)",
        |id, p: WebProcessRecord| {
            tx.prepare_cached(
                "UPDATE web_processes SET has_document = ?2, finished_at = ?3 WHERE id = ?1",
            )?
            .execute(params![id, !p.awaiting_document(), p.finishes_at()])
        },
    )?;
    fill_pending(
        tx,
        "magic_links",
        "token",
        "finished_at IS NULL",
        |token, link: MagicLinkRecord| {
            tx.prepare_cached("UPDATE magic_links SET finished_at = ?2 WHERE token = ?1")?
                .execute(params![token, link.finishes_at()])
        },
    )
}

/// Runs `fill` on every row of `table` matching `pending`, in rowid order, a batch at a time.
/// A record that cannot be read is left as it is (its columns stay empty: the row is neither
/// swept early nor given a second document) and logged by its row number only (a record can
/// hold personal data, a link's key is its bearer token); the database still opens.
fn fill_pending<T: serde::de::DeserializeOwned>(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    key: &str,
    pending: &str,
    mut fill: impl FnMut(&str, T) -> rusqlite::Result<usize>,
) -> StoreResult<()> {
    let sql = format!(
        "SELECT rowid, {key}, record FROM {table} WHERE {pending} AND rowid > ?1 ORDER BY rowid LIMIT {FILL_BATCH}"
    );
    let mut after = 0i64;
    loop {
        let batch: Vec<(i64, String, String)> = tx
            .prepare_cached(&sql)?
            .query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let Some(&(last, _, _)) = batch.last() else {
            return Ok(());
        };
        after = last;
        for (row, id, record) in batch {
            match decode::<T>(&record) {
                Ok(value) => {
                    fill(&id, value)?;
                }
                Err(_) => tracing::warn!(
                    table,
                    row,
                    "a stored record could not be read at open; its typed columns stay empty"
                ),
            }
        }
    }
}

pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    backfill(&tx)?;
    tx.commit()?;
    Ok(())
}
