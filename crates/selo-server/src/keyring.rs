//! The access-token keys of every node (CONTRACT §18): each node signs with its own Ed25519 key
//! and publishes the public half in the store; a token signed by any node verifies on every
//! node, and `/.well-known/jwks.json` lists them all. Published keys are cached here; an
//! unknown `kid` reloads them when the configuration epoch moved since the last load (a
//! node's publication moves it) and otherwise at most once a second, so garbage `kid`s cannot
//! make every request a database read.

use crate::environment::{Environment, public_jwk};
use jsonwebtoken::DecodingKey;
use selo_store::{PublishedKey, Store};
use selo_wire::token::Jwk;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often an unknown `kid` may reload the published keys.
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// A published key, ready to verify.
pub struct NodeKey {
    /// The environment whose tokens it signs.
    pub environment: String,
    /// Verifies its signatures.
    pub decoding: DecodingKey,
    /// Its public JWK.
    pub jwk: Jwk,
}

/// The published keys, by `kid`.
#[derive(Default)]
pub struct KeyRing {
    keys: RwLock<HashMap<String, Arc<NodeKey>>>,
    /// The configuration epoch the keys were loaded at.
    loaded_epoch: AtomicU64,
    /// When an unknown `kid` last made them reload.
    missed_at: RwLock<Option<Instant>>,
}

impl KeyRing {
    /// Publishes this node's keys (one per environment, retiring the ones it published
    /// before) and loads every node's.
    pub fn publish(
        &self,
        store: &dyn Store,
        node: &str,
        environments: &[Arc<Environment>],
        now: i64,
    ) -> selo_store::StoreResult<()> {
        for env in environments {
            store.publish_key(&PublishedKey {
                node: node.to_string(),
                environment: env.name.clone(),
                kid: env.key.kid.clone(),
                public_key: env.key.public_key().to_vec(),
                published_at: now,
            })?;
        }
        self.reload(store)
    }

    /// Reads every published key again.
    fn reload(&self, store: &dyn Store) -> selo_store::StoreResult<()> {
        let epoch = store.known_config_epoch();
        let published = store.published_keys()?;
        let keys = published
            .into_iter()
            .map(|k| {
                let key = NodeKey {
                    decoding: DecodingKey::from_ed_der(&k.public_key),
                    jwk: public_jwk(&k.kid, &k.public_key),
                    environment: k.environment,
                };
                (k.kid, Arc::new(key))
            })
            .collect();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        self.loaded_epoch.store(epoch, Ordering::Relaxed);
        Ok(())
    }

    /// The key `kid` names (reloading the published keys when it is unknown and the
    /// configuration epoch moved since they were loaded, or no unknown `kid` reloaded them
    /// within the last second); `None` when no node published it.
    pub fn get(&self, store: &dyn Store, kid: &str) -> Option<Arc<NodeKey>> {
        // A moved epoch may have retired a key: reload before trusting the cache.
        let moved = store.known_config_epoch() != self.loaded_epoch.load(Ordering::Relaxed);
        if !moved && let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let reload = moved || {
            let mut missed_at = self.missed_at.write().unwrap_or_else(|p| p.into_inner());
            let due = missed_at.is_none_or(|at| at.elapsed() >= RELOAD_AT_MOST_EVERY);
            if due {
                *missed_at = Some(Instant::now());
            }
            due
        };
        if reload && let Err(e) = self.reload(store) {
            tracing::warn!(error = %e, "reading the published access-token keys failed");
        }
        self.cached(kid)
    }

    fn cached(&self, kid: &str) -> Option<Arc<NodeKey>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            .cloned()
    }

    /// The public JWKs of `environment`'s keys, every node's (reloaded first when the
    /// configuration epoch moved, so a node that just started is listed).
    pub fn jwks(&self, store: &dyn Store, environment: &str) -> Vec<Jwk> {
        let moved = store.known_config_epoch() != self.loaded_epoch.load(Ordering::Relaxed);
        if moved && let Err(e) = self.reload(store) {
            tracing::warn!(error = %e, "reading the published access-token keys failed");
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut jwks: Vec<Jwk> = keys
            .values()
            .filter(|k| k.environment == environment)
            .map(|k| k.jwk.clone())
            .collect();
        jwks.sort_by(|a, b| a.kid.cmp(&b.kid));
        jwks
    }
}
