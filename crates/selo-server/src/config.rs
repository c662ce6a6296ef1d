//! Server configuration (built by the CLI from flags and environment variables).

use selo_store::LockoutPolicy;
use selo_store::sqlite::Durability;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What kind of environment a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentKind {
    /// Deterministic scenarios and Selo's test extensions.
    Sandbox,
    /// No sandbox scenarios, no test extensions.
    Production,
}

/// One environment: a listener, its public URL and its audience.
#[derive(Debug, Clone)]
pub struct EnvironmentConfig {
    /// Name (`sandbox`, `production`); tenants belong to one by this name.
    pub name: String,
    /// Kind.
    pub kind: EnvironmentKind,
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Base URL clients use (default: `http://` + the bound address).
    pub public_url: Option<String>,
    /// The `aud` assertions must carry (default: the public URL without trailing slash).
    pub audience: Option<String>,
}

/// Everything `selo serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory (database, blobs, keys).
    pub data_dir: PathBuf,
    /// The local engines' models (`DATA/models` by default; CONTRACT §17).
    pub models_dir: PathBuf,
    /// The environments, one listener each.
    pub environments: Vec<EnvironmentConfig>,
    /// Start a manual clock (test rigs only).
    pub manual_clock: bool,
    /// Lockout after failed signature checks.
    pub lockout: LockoutPolicy,
    /// Largest accepted request body, bytes.
    pub body_limit: usize,
    /// The database (`--database`: the data directory's SQLite file, or PostgreSQL).
    pub database: selo_store::Database,
    /// Where images are stored (`--blobs`: `DATA/blobs`, another directory, or S3).
    pub blobs: selo_store::blobs::BlobLocation,
    /// SQLite durability.
    pub durability: Durability,
    /// Per-request timeout.
    pub request_timeout: std::time::Duration,
    /// Requests per second of tenants without their own limit (0 = unlimited).
    pub default_rate_limit: u32,
    /// How long idempotency records are kept (24 h).
    pub idempotency_retention: std::time::Duration,
    /// How often the retention sweeper runs.
    pub sweep_interval: std::time::Duration,
    /// Where `GET /metrics` is served for every environment (production listeners never
    /// serve it; sandbox listeners do).
    pub metrics_listen: Option<SocketAddr>,
    /// Header and idle timeouts, and the cap on open connections (CONTRACT §19).
    pub connections: crate::http::connections::ConnectionLimits,
}

impl ServerConfig {
    /// The defaults of CONTRACT §14/§2: 2 MiB bodies, 30 s per request, 5 failures in 15 min
    /// lock for 15 min.
    pub fn new(data_dir: PathBuf, environments: Vec<EnvironmentConfig>) -> Self {
        let blobs = selo_store::blobs::BlobLocation::in_data_dir(&data_dir);
        ServerConfig {
            models_dir: data_dir.join("models"),
            data_dir,
            environments,
            manual_clock: false,
            lockout: LockoutPolicy {
                attempts: 5,
                window_seconds: 900,
                duration_seconds: 900,
            },
            body_limit: 2 * 1024 * 1024,
            database: selo_store::Database::Sqlite,
            blobs,
            durability: Durability::Normal,
            request_timeout: std::time::Duration::from_secs(30),
            default_rate_limit: 10,
            idempotency_retention: std::time::Duration::from_secs(24 * 3600),
            sweep_interval: std::time::Duration::from_secs(60),
            metrics_listen: None,
            connections: Default::default(),
        }
    }
}
