//! Starting the server: open the store, bind every environment's listener, then serve until a
//! shutdown signal, finishing in-flight requests.

use crate::config::ServerConfig;
use crate::environment::Environment;
use crate::routes::router;
use crate::state::{AppState, Shared};
use anyhow::Context;
use selo_domain::clock::{Clock, ManualClock, SystemClock};
use selo_store::blobs::BlobStore;
use selo_wire::admin::ServeLine;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Images decoded at the same time (2 per core on the reference machine).
const DECODE_PERMITS: usize = 4;

/// This node's id among the platform's nodes: kept in `DATA/node-id` (created on first start),
/// so a restarted node takes its own webhook claims back at once.
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) => anyhow::bail!("{} is empty; delete it to start over", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().to_string();
            crate::environment::write_private(&path, id.as_bytes())?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// What an environment offers beyond IDCloud, as the `Selo-Features` header lists it:
/// `idempotency-key` everywhere, `fault-injection` in sandboxes, `test-clock` with the manual
/// clock in a sandbox.
fn features(env: &Environment, manual_clock: bool) -> axum::http::HeaderValue {
    let mut list: Vec<&str> = vec!["idempotency-key"];
    if env.is_sandbox() {
        list.push("fault-injection");
    }
    if env.is_sandbox() && manual_clock {
        list.push("test-clock");
    }
    axum::http::HeaderValue::from_str(&list.join(","))
        .unwrap_or(axum::http::HeaderValue::from_static(""))
}

/// A bound, not yet serving, server.
pub struct ServeHandle {
    /// One line per environment (what `serve` prints).
    pub lines: Vec<ServeLine>,
    listeners: Vec<(TcpListener, AppState)>,
    metrics: Option<TcpListener>,
    shared: Arc<Shared>,
    sweep_interval: std::time::Duration,
    connections: crate::http::connections::ConnectionLimits,
}

/// Opens the store and binds every listener.
pub async fn start(config: &ServerConfig) -> anyhow::Result<ServeHandle> {
    selo_store::private_fs::create_dir(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store: Arc<dyn selo_store::Store> = Arc::from(
        config
            .database
            .open(&config.data_dir, config.durability)
            .with_context(|| match &config.database {
                selo_store::Database::Sqlite => {
                    format!("opening the database in {}", config.data_dir.display())
                }
                other => format!("opening the database {}", other.describe()),
            })?,
    );
    // Requests that were running when a previous process died will never finish.
    // On a shared store a running record may be another node's request: it ends with its
    // lease instead.
    let orphans = if store.shared() {
        0
    } else {
        store.clear_running_idempotency()?
    };
    if orphans > 0 {
        tracing::info!(
            orphans,
            "forgot idempotency keys of requests that died with the last run"
        );
    }
    let blobs = BlobStore::open(&config.blobs)
        .with_context(|| format!("opening the blob store {}", config.blobs.describe()))?;
    // On a shared store, a blob younger than the longest request may be another node's
    // uncommitted create.
    let settle = store
        .shared()
        .then(|| config.request_timeout + std::time::Duration::from_secs(60));
    let orphans = crate::sweeper::collect_orphans(&*store, &blobs, settle);
    if orphans > 0 {
        tracing::info!(deleted = orphans, "deleted blobs no record owns");
    }
    // A manual clock starts where the recorded one stands when that is later (another node's,
    // or this node's before a crash): the clock never goes backwards.
    let manual_clock = match config.manual_clock {
        true => {
            let clock = ManualClock::starting_at(SystemClock.now());
            if let Some(recorded) = store.manual_clock()? {
                clock.catch_up(recorded);
            }
            Some(Arc::new(clock))
        }
        false => None,
    };
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(m) => m.clone(),
        None => Arc::new(SystemClock),
    };
    // `selo admin` (and, on a shared store, the other nodes) read the same clock; a node
    // without one leaves a shared store's clock to the nodes that have one.
    match &manual_clock {
        Some(m) => store.set_manual_clock(Some(m.unix_nanos()))?,
        None if !store.shared() => store.set_manual_clock(None)?,
        None => {}
    }
    let mut bound = Vec::new();
    for env in &config.environments {
        let listener = TcpListener::bind(env.listen)
            .await
            .with_context(|| format!("binding {} for the {} environment", env.listen, env.name))?;
        let addr = listener.local_addr()?;
        bound.push((
            listener,
            Arc::new(Environment::new(env, addr, &config.data_dir)?),
        ));
    }
    let metrics = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr} for --metrics-listen"))?,
        ),
        None => None,
    };
    if let Some(listener) = &metrics {
        tracing::info!(listen = %listener.local_addr()?, "metrics at GET /metrics");
    }
    let environments: Vec<Arc<Environment>> = bound.iter().map(|(_, e)| e.clone()).collect();
    let node = node_id(&config.data_dir)?;
    let keyring = crate::keyring::KeyRing::default();
    keyring
        .publish(&*store, &node, &environments, clock.unix())
        .context("publishing this node's access-token keys")?;
    let shared = Arc::new(Shared {
        store: store.clone(),
        node,
        keyring,
        blobs,
        clock,
        manual_clock,
        environments,
        lockout: config.lockout,
        body_limit: config.body_limit,
        request_timeout: config.request_timeout,
        // Several nodes share a PostgreSQL store: their rate-limit buckets are its.
        rate_limiter: crate::rate_limit::RateLimiter::new(
            config.default_rate_limit,
            store.shared(),
        ),
        idempotency_retention: config.idempotency_retention,
        faults: Default::default(),
        captures: Default::default(),
        finishing: Default::default(),
        token_cache: Default::default(),
        key_cache: Default::default(),
        credentials: Default::default(),
        decode_permits: tokio::sync::Semaphore::new(DECODE_PERMITS),
        engines: crate::engines::LocalEngines::load(&config.models_dir),
        uploads: Default::default(),
        metrics: Default::default(),
        storage: Default::default(),
    });
    let mut lines = Vec::new();
    let mut listeners = Vec::new();
    for (listener, env) in bound {
        lines.push(ServeLine {
            environment: env.name.clone(),
            listen: listener.local_addr()?.to_string(),
            public_url: env.public_url.clone(),
            audience: env.audience.clone(),
        });
        let features = features(&env, shared.manual_clock.is_some());
        listeners.push((
            listener,
            AppState {
                shared: shared.clone(),
                env,
                features,
            },
        ));
    }
    Ok(ServeHandle {
        lines,
        listeners,
        metrics,
        shared,
        sweep_interval: config.sweep_interval,
        connections: config.connections,
    })
}

impl ServeHandle {
    /// Serves every environment until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::sweeper::spawn(self.shared.clone(), self.sweep_interval);
        crate::webhooks::Worker::spawn(self.shared.clone());
        crate::caches::watch_config_epoch(self.shared.clone());
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let limits = self.connections;
        let mut served: Vec<(TcpListener, axum::Router)> = self
            .listeners
            .into_iter()
            .map(|(listener, state)| (listener, router(state)))
            .collect();
        if let Some(listener) = self.metrics {
            let app = crate::routes::ops::metrics_router(self.shared.clone());
            served.push((listener, app));
        }
        let mut tasks = Vec::new();
        for (listener, app) in served {
            let mut rx = tx.subscribe();
            tasks.push(tokio::spawn(async move {
                let stop = async move {
                    let _ = rx.recv().await;
                };
                crate::http::connections::serve(listener, app, limits, stop).await;
            }));
        }
        shutdown.await;
        let _ = tx.send(());
        for t in tasks {
            t.await?;
        }
        if self.shared.manual_clock.is_some() && !self.shared.store.shared() {
            // `selo admin` goes back to the real clock once this test rig is gone (on a shared
            // store the other nodes keep the clock).
            self.shared.store.set_manual_clock(None)?;
        }
        Ok(())
    }
}
