//! Shared state of the running server.

use crate::environment::Environment;
use selo_domain::clock::{Clock, ManualClock};
use selo_store::blobs::BlobStore;
use selo_store::{LockoutPolicy, Store};
use std::sync::Arc;

/// What every environment shares.
pub struct Shared {
    /// The store.
    pub store: Arc<dyn Store>,
    /// This node's id among the platform's nodes (stable across restarts: `DATA/node-id`).
    pub node: String,
    /// Every node's access-token public keys.
    pub keyring: crate::keyring::KeyRing,
    /// Selfie files.
    pub blobs: BlobStore,
    /// The server's one clock.
    pub clock: Arc<dyn Clock>,
    /// The same clock when it is manual (`--manual-clock`), for `/sandbox/clock`.
    pub manual_clock: Option<Arc<ManualClock>>,
    /// Every environment of the server.
    pub environments: Vec<Arc<Environment>>,
    /// Lockout policy.
    pub lockout: LockoutPolicy,
    /// Largest accepted body.
    pub body_limit: usize,
    /// How long a request may take before it is answered 503.
    pub request_timeout: std::time::Duration,
    /// How long idempotency records are kept.
    pub idempotency_retention: std::time::Duration,
    /// Per-tenant rate limits.
    pub rate_limiter: crate::rate_limit::RateLimiter,
    /// Access tokens already verified.
    pub token_cache: crate::caches::TokenCache,
    /// Parsed account public keys.
    pub key_cache: crate::caches::KeyCache,
    /// Service accounts' configuration by environment and `iss`, per configuration epoch.
    pub credentials: crate::caches::EpochCache<crate::services::token::Credentials>,
    /// The local face engines (CONTRACT §17).
    pub engines: crate::engines::LocalEngines,
    /// Bounds how many images are decoded at once (memory and CPU on the create path).
    pub decode_permits: tokio::sync::Semaphore,
    /// Bounds how many image-carrying requests of each tenant hold their body in memory at once.
    pub uploads: crate::http::body::TenantUploads,
    /// Moments at which a process finishes by time (its webhook event is then due).
    pub finishing: crate::sweeper::Wakeups,
    /// Journeys whose capture is running.
    pub captures: crate::services::capture::InProgress,
    /// Sandbox fault plans.
    pub faults: crate::faults::FaultPlans,
    /// Whether the storage takes writes (for `/readyz`).
    pub storage: crate::health::StorageHealth,
    /// Request counters for `/metrics`.
    pub metrics: crate::http::metrics::Metrics,
}

/// The state of one environment's router.
#[derive(Clone)]
pub struct AppState {
    /// Shared parts.
    pub shared: Arc<Shared>,
    /// The environment this listener serves.
    pub env: Arc<Environment>,
    /// The `Selo-Features` header value of this environment (CONTRACT §11).
    pub features: axum::http::HeaderValue,
}

impl AppState {
    /// Now, in Unix seconds, from the server's clock.
    pub fn now(&self) -> i64 {
        self.shared.clock.unix()
    }

    /// The other environments of this server.
    pub fn other_environments(&self) -> impl Iterator<Item = &Arc<Environment>> {
        self.shared
            .environments
            .iter()
            .filter(|e| e.name != self.env.name)
    }
}
