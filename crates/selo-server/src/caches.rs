//! Small in-memory caches on the hot paths: verified access tokens (skip the Ed25519 verify on
//! repeat calls), parsed account public keys (skip PEM parsing per token request) and
//! configuration read from the store, valid for one configuration epoch
//! ([`selo_store::Configuration::config_epoch`]), so an admin change is seen by the next request.

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept before a cache is cleared (a crude, allocation-free bound).
const MAX_ENTRIES: usize = 50_000;

/// A verified access token's claims that matter for authorization.
#[derive(Debug)]
pub struct VerifiedToken {
    /// Tenant id.
    pub tenant_id: String,
    /// Account name.
    pub account: String,
    /// The account's `iss` (`sub` claim).
    pub issuer: String,
    /// The account key that signed the assertion (empty for tokens of older versions).
    pub signed_by: String,
    /// The node key (`kid`) that signed the access token.
    pub node_key: String,
    /// Expiry (Unix seconds), checked against the clock on every use.
    pub exp: i64,
    /// The environment that issued it (a hit from another environment is not a hit).
    pub env: String,
    /// The configuration epoch at which the account and key were last found live.
    pub checked_epoch: std::sync::atomic::AtomicU64,
}

/// Access tokens whose signature this server already verified, by their exact text. Keyed
/// with foldhash (randomly seeded per map): SipHash over a ~550-byte token cost more than the
/// rest of the lookup, and only tokens whose signature verified are ever inserted.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, Arc<VerifiedToken>, foldhash::fast::RandomState>>,
}

impl TokenCache {
    /// The verified claims of `token`, if it was seen before.
    pub fn get(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    /// Remembers a verified token.
    pub fn insert(&self, token: &str, verified: Arc<VerifiedToken>) {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(token.to_string(), verified);
    }
}

/// Parsed RSA public keys by key id (a key's material never changes; revocation is read from
/// the store). A parsed key keeps aws-lc's Montgomery context, which an unparsed key rebuilds
/// on every verification (about a sixth of an RS256 verify).
#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<String, Arc<ParsedPublicKey>>>,
}

impl KeyCache {
    /// The parsed RS256 verification key `id` with PEM `pem` (parsed once; `None` when the PEM
    /// is not an RSA public key; a key outside 2048–8192 bits parses but never verifies).
    pub fn get(&self, id: &str, pem: &str) -> Option<Arc<ParsedPublicKey>> {
        if let Some(k) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Some(k.clone());
        }
        let decoding = DecodingKey::from_rsa_pem(pem.as_bytes()).ok()?;
        let der = decoding.try_get_as_bytes().ok()?;
        let key = Arc::new(ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).ok()?);
        let mut map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id.to_string(), key.clone());
        Some(key)
    }
}

/// How often the configuration epoch is read while nothing else reads it: an admin change made
/// by another process (account disabled, key revoked) reaches every cached access token within
/// this (CONTRACT §19 asks for a second).
pub const EPOCH_WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Reads the store's configuration epoch every [`EPOCH_WATCH_INTERVAL`] for as long as the
/// server runs, so that [`selo_store::Configuration::known_config_epoch`] is never older than that.
pub fn watch_config_epoch(shared: Arc<crate::state::Shared>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EPOCH_WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let store = shared.store.clone();
            match tokio::task::spawn_blocking(move || store.config_epoch()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "reading the configuration epoch failed"),
                Err(e) => tracing::warn!(error = %e, "the configuration epoch task failed"),
            }
            // Whether any fault plan exists, which another node may have created (sandboxes
            // only: production listeners inject nothing).
            if shared.environments.iter().any(|e| e.is_sandbox()) {
                let s = shared.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    s.faults.refresh(&*s.store, s.clock.unix());
                })
                .await;
            }
            // A manual clock follows the other nodes' moves (CONTRACT §18).
            if let Some(clock) = shared.manual_clock.clone() {
                let store = shared.store.clone();
                if let Ok(Ok(Some(recorded))) =
                    tokio::task::spawn_blocking(move || store.manual_clock()).await
                {
                    clock.catch_up(recorded);
                }
            }
        }
    });
}

/// Values read from the store's configuration, each valid only at the epoch it was read at.
pub struct EpochCache<V> {
    entries: Mutex<HashMap<String, (u64, Arc<V>)>>,
}

impl<V> Default for EpochCache<V> {
    fn default() -> Self {
        EpochCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> EpochCache<V> {
    /// The value of `key` if it was read at `epoch`.
    pub fn get(&self, key: &str, epoch: u64) -> Option<Arc<V>> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .filter(|(at, _)| *at == epoch)
            .map(|(_, v)| v.clone())
    }

    /// Remembers `value`, read at `epoch`, for `key`.
    pub fn insert(&self, key: String, epoch: u64, value: Arc<V>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (epoch, value));
    }
}
