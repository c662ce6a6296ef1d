//! PostgreSQL: the schema's migrations, applied in order at open under an advisory lock
//! (expand-only: the previous release keeps working on the migrated schema).

use crate::StoreResult;
use deadpool_postgres::Object;

/// The advisory lock every migrating node takes first, so nodes starting together migrate one
/// after the other (any number that other applications are unlikely to take: "selo" in ASCII).
pub(super) const MIGRATION_LOCK: i64 = 0x73_65_6c_6f;

/// Schema migrations, applied in order; `schema_migrations` lists the applied ones.
/// Expand-only: a migration never drops or renames what an older binary still reads. The
/// first holds what the embedded store's history arrived at, with the queried fields as typed
/// columns from the start (no statement reads a record's JSON).
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    environment TEXT NOT NULL,
    rate_limit BIGINT,
    created_at BIGINT NOT NULL,
    flows TEXT,
    permissions TEXT,
    selfie_retention BIGINT,
    evidence_retention BIGINT,
    process_retention BIGINT,
    engines TEXT,
    match_accept DOUBLE PRECISION,
    match_reject DOUBLE PRECISION
);
CREATE TABLE accounts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    allow_ips TEXT NOT NULL DEFAULT '',
    allowed_hours TEXT,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE account_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    account TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, account) REFERENCES accounts(tenant_id, name)
);
CREATE INDEX account_keys_by_account ON account_keys(tenant_id, account);
CREATE TABLE auth_failures (
    tenant_id TEXT NOT NULL,
    account TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX auth_failures_by_account ON auth_failures(tenant_id, account, at);
CREATE TABLE config_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO config_epoch (id, epoch) VALUES (1, 1);
-- Any change to what the token and API-key checks read moves the epoch, in the changing
-- transaction: through Selo on any node, or by hand.
CREATE FUNCTION selo_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION selo_config_changed();
CREATE TABLE server_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    manual_unix_nanos BIGINT NOT NULL
);
CREATE TRIGGER accounts_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION selo_config_changed();
CREATE TRIGGER account_keys_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON account_keys
    FOR EACH STATEMENT EXECUTE FUNCTION selo_config_changed();
CREATE TABLE replay_records (
    expires_at BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (expires_at, hash)
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    hash BYTEA NOT NULL UNIQUE,
    capabilities TEXT NOT NULL,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TRIGGER api_keys_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION selo_config_changed();
CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    route TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash BYTEA NOT NULL,
    running BOOLEAN NOT NULL,
    lease_until BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status BIGINT,
    content_type TEXT,
    body BYTEA,
    PRIMARY KEY (tenant_id, route, key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_at) WHERE NOT running;
CREATE TABLE processes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    client_reference TEXT,
    created_at BIGINT NOT NULL,
    record TEXT NOT NULL,
    completes_at BIGINT,
    finished_at BIGINT NOT NULL,
    face BYTEA,
    blob_deleted_at BIGINT
);
CREATE INDEX processes_by_reference ON processes(tenant_id, client_reference, created_at);
CREATE INDEX processes_by_completion ON processes(completes_at) WHERE completes_at IS NOT NULL;
CREATE INDEX processes_faces_by_finish ON processes(finished_at) WHERE face IS NOT NULL;
CREATE INDEX processes_blobs_by_finish ON processes(finished_at) WHERE blob_deleted_at IS NULL;
CREATE TABLE web_processes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    client_reference TEXT,
    created_at BIGINT NOT NULL,
    record TEXT NOT NULL,
    captured BOOLEAN NOT NULL DEFAULT FALSE,
    has_document BOOLEAN NOT NULL,
    finished_at BIGINT NOT NULL,
    scrubbed_at BIGINT,
    refusals BIGINT NOT NULL DEFAULT 0,
    blob_deleted_at BIGINT
);
CREATE INDEX web_processes_by_reference ON web_processes(tenant_id, client_reference, created_at);
CREATE INDEX web_processes_by_finish ON web_processes(finished_at) WHERE scrubbed_at IS NULL;
CREATE TABLE magic_links (
    token TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    created_at BIGINT NOT NULL,
    record TEXT NOT NULL,
    completed BOOLEAN NOT NULL DEFAULT FALSE,
    finished_at BIGINT NOT NULL,
    scrubbed_at BIGINT,
    refusals BIGINT NOT NULL DEFAULT 0,
    blob_deleted_at BIGINT
);
CREATE INDEX magic_links_by_finish ON magic_links(finished_at) WHERE scrubbed_at IS NULL;
CREATE TABLE identity_faces (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    embedding BYTEA NOT NULL,
    enrolled_at BIGINT NOT NULL
);
CREATE INDEX identity_faces_by_code ON identity_faces(tenant_id, code);
CREATE TABLE webhooks (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    url TEXT NOT NULL,
    auth TEXT NOT NULL,
    max_attempts BIGINT NOT NULL,
    retry_interval BIGINT NOT NULL,
    timeout BIGINT NOT NULL,
    concurrency BIGINT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_until BIGINT,
    enabled BOOLEAN NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE webhook_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    process_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    UNIQUE (tenant_id, process_id)
);
CREATE INDEX webhook_events_due_by_tenant ON webhook_events(tenant_id, status, next_attempt_at, created_at);
CREATE TABLE webhook_attempts (
    event_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    process_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_by_tenant ON webhook_attempts(tenant_id, process_id, at);
"#,
    // Several nodes (CONTRACT §18): their access-token public keys, task leases, and webhook
    // events claimed by one node at a time.
    r#"
CREATE TABLE node_keys (
    kid TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE TABLE leases (
    task TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until BIGINT NOT NULL
);
ALTER TABLE webhook_events ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_events ADD COLUMN claimed_until BIGINT;
"#,
    // Rate-limit buckets every node leases tokens from; a node's published key moves the
    // configuration epoch, so the other nodes reload the keys they verify tokens with.
    r#"
CREATE TABLE rate_buckets (
    tenant_id TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_ms BIGINT NOT NULL
);
ALTER TABLE node_keys ADD COLUMN node TEXT;
CREATE TRIGGER node_keys_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON node_keys
    FOR EACH STATEMENT EXECUTE FUNCTION selo_config_changed();
"#,
    // Sandbox fault plans, shared by every node (CONTRACT §12, §18).
    r#"
CREATE TABLE fault_plans (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    method TEXT,
    path TEXT NOT NULL,
    faults TEXT NOT NULL,
    global BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX fault_plans_by_tenant ON fault_plans(tenant_id, expires_at);
CREATE TABLE fault_uses (
    plan_id TEXT NOT NULL REFERENCES fault_plans(id) ON DELETE CASCADE,
    n BIGINT NOT NULL,
    fault TEXT NOT NULL,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    request TEXT NOT NULL,
    PRIMARY KEY (plan_id, n)
);
"#,
];

/// Applies the migrations this database lacks, in one transaction under [`MIGRATION_LOCK`]
/// (a node that waited finds them applied). A database migrated by a newer release is left as
/// it is: its migrations only expanded what this one reads.
pub(super) async fn migrate(client: &mut Object) -> StoreResult<()> {
    let tx = client.transaction().await?;
    // A migration may take longer than a request's statement timeout.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
        .await?;
    let applied: i64 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= applied {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
