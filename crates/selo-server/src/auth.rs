//! Authentication of resource calls (CONTRACT §3): the Bearer access token, then the `APIKEY`.

use crate::http::context::Annotations;
use crate::services::store_failure;
use crate::state::AppState;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use selo_domain::capability::Capabilities;
use selo_domain::problem::Problem;
use selo_store::{ApiKey, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use subtle::ConstantTimeEq;

/// Access-token lifetime, seconds.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;

/// Claims of Selo's access tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The environment's public URL.
    pub iss: String,
    /// The service account's `iss`.
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    /// Account name.
    pub acc: String,
    /// The id of the account key that signed the assertion this token was exchanged for
    /// (empty in tokens of older versions: only the account is then checked).
    #[serde(default)]
    pub akid: String,
    /// Environment name.
    pub env: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// Token id.
    pub jti: String,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Tenant id.
    pub tenant_id: String,
    /// Account name.
    pub account: String,
}

fn invalid(reason: impl Into<String>) -> Problem {
    Problem::BearerInvalid {
        reason: reason.into(),
    }
}

/// Checks `Authorization: Bearer …` against this environment's key and clock.
pub fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Principal, Problem> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            invalid(
                "the Authorization header is missing; send Authorization: Bearer <access_token>",
            )
        })?
        .to_str()
        .map_err(|_| invalid("the Authorization header is not ASCII"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("the Authorization header must be 'Bearer <access_token>'"))?;
    let epoch = state.shared.store.known_config_epoch();
    if let Some(hit) = state
        .shared
        .token_cache
        .get(token)
        .filter(|hit| hit.env == state.env.name)
    {
        if hit.exp <= state.now() {
            return Err(Problem::BearerExpired);
        }
        if hit.checked_epoch.load(Ordering::Relaxed) != epoch {
            still_authorized(state, &hit, epoch)?;
            hit.checked_epoch.store(epoch, Ordering::Relaxed);
        }
        return Ok(Principal {
            tenant_id: hit.tenant_id.clone(),
            account: hit.account.clone(),
        });
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("the access token is not a JWT issued by Selo"))?;
    let kid = header.kid.unwrap_or_default();
    // This node's key, or another node's, published in the store (CONTRACT §18).
    let published;
    let decoding = if kid == state.env.key.kid {
        &state.env.key.decoding
    } else {
        match state.shared.keyring.get(&*state.shared.store, &kid) {
            Some(key) if key.environment == state.env.name => {
                published = key;
                &published.decoding
            }
            Some(key) => {
                return Err(invalid(format!(
                    "mixed credentials: this token was issued by the {} environment, but this is the {} environment; obtain a token from {}/oauth2/token",
                    key.environment, state.env.name, state.env.public_url
                )));
            }
            None => {
                return Err(invalid(
                    "the access token was not issued by this environment; obtain a new one from POST /oauth2/token",
                ));
            }
        }
    };
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<AccessClaims>(token, decoding, &validation)
        .map_err(|_| invalid("the access token's signature does not verify"))?;
    let claims = data.claims;
    if claims.env != state.env.name {
        return Err(invalid("the access token belongs to another environment"));
    }
    if claims.exp <= state.now() {
        return Err(Problem::BearerExpired);
    }
    let verified = crate::caches::VerifiedToken {
        node_key: kid,
        tenant_id: claims.tid,
        account: claims.acc,
        issuer: claims.sub,
        signed_by: claims.akid,
        exp: claims.exp,
        env: claims.env,
        checked_epoch: AtomicU64::new(epoch),
    };
    still_authorized(state, &verified, epoch)?;
    let principal = Principal {
        tenant_id: verified.tenant_id.clone(),
        account: verified.account.clone(),
    };
    state.shared.token_cache.insert(token, Arc::new(verified));
    Ok(principal)
}

/// Whether the account behind a verified token may still call, as of configuration `epoch`
/// (CONTRACT §19): it exists and is enabled, and the key that signed its assertion is not
/// revoked. The configuration is read once per account and epoch (the token service's cache);
/// the epoch moves within a fraction of a second of an admin change (see
/// [`crate::caches::watch_config_epoch`]).
fn still_authorized(
    state: &AppState,
    token: &crate::caches::VerifiedToken,
    epoch: u64,
) -> Result<(), Problem> {
    let creds = crate::services::token::credentials(
        state,
        &token.tenant_id,
        &token.account,
        &token.issuer,
        epoch,
    )
    .map_err(|p| match p {
        // The account (or its tenant) is gone; a store failure stays what it is.
        Problem::TokenRejected { .. } => invalid(format!(
            "the service account '{}' no longer exists; obtain a token for an existing account",
            token.issuer
        )),
        other => other,
    })?;
    if !creds.account.enabled {
        return Err(invalid(format!(
            "the service account '{}' was disabled; enable it (`selo admin account enable`) and obtain a new token",
            token.issuer
        )));
    }
    let key_live = token.signed_by.is_empty()
        || creds
            .keys
            .iter()
            .any(|k| k.id == token.signed_by && k.revoked_at.is_none());
    if !key_live {
        return Err(invalid(format!(
            "the key that signed this token's assertion ({}) was revoked; sign a new assertion with a current key and obtain a new token",
            token.signed_by
        )));
    }
    // A node key retired since (rotated, or its node removed) takes its tokens with it.
    if token.node_key != state.env.key.kid
        && state
            .shared
            .keyring
            .get(&*state.shared.store, &token.node_key)
            .is_none()
    {
        return Err(invalid(
            "the node that issued this access token no longer signs tokens; obtain a new one from POST /oauth2/token",
        ));
    }
    Ok(())
}

/// SHA-256 (API keys are stored, and assertions remembered, by this hash).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().try_into().unwrap_or([0; 32])
}

/// The SHA-256 of the API key in header `name` (401 when missing or not ASCII).
fn api_key_hash(headers: &HeaderMap, name: &str) -> Result<[u8; 32], Problem> {
    let secret = headers
        .get(name)
        .ok_or(Problem::ApiKeyMissing)?
        .to_str()
        .map_err(|_| Problem::ApiKeyInvalid {
            reason: format!("the {name} header is not ASCII"),
        })?
        .trim();
    if secret.is_empty() {
        return Err(Problem::ApiKeyMissing);
    }
    Ok(sha256(secret.as_bytes()))
}

/// The key read for `hash`, when it is known and live (401 when unknown or revoked).
fn live(key: Option<ApiKey>, hash: &[u8; 32]) -> Result<ApiKey, Problem> {
    let unknown = || Problem::ApiKeyInvalid {
        reason: "this API key is unknown; create one with `selo admin apikey create --tenant <id>`"
            .into(),
    };
    let key = key.ok_or_else(unknown)?;
    if !bool::from(key.hash.ct_eq(hash)) {
        return Err(unknown());
    }
    if key.revoked_at.is_some() {
        return Err(Problem::ApiKeyInvalid {
            reason: format!("API key {} was revoked; create a new one", key.id),
        });
    }
    Ok(key)
}

/// Finds the live API key whose secret is in header `name` (401 when missing, unknown or
/// revoked).
fn live_api_key(state: &AppState, headers: &HeaderMap, name: &str) -> Result<ApiKey, Problem> {
    let hash = api_key_hash(headers, name)?;
    let key = state
        .shared
        .store
        .api_key_by_hash(&hash)
        .map_err(store_failure)?;
    live(key, &hash)
}

fn capabilities(key: &ApiKey) -> Result<Capabilities, Problem> {
    Ok(Capabilities::from_stored(&key.capabilities))
}

/// The tenant of a valid `x-api-key` (to match a Magic Link request with its tenant's fault
/// plans; no capability check).
pub fn api_key_tenant(state: &AppState, headers: &HeaderMap) -> Option<String> {
    live_api_key(state, headers, "x-api-key")
        .ok()
        .map(|k| k.tenant_id.clone())
}

/// Magic Link authentication (CONTRACT §7): `x-api-key` alone (401), a tenant of this
/// environment, the `magiclink` capability (403), then the tenant's rate limit (429). Returns
/// the tenant id.
pub fn magic_link_key(
    state: &AppState,
    headers: &HeaderMap,
    notes: &Annotations,
) -> Result<String, Problem> {
    let key = live_api_key(state, headers, "x-api-key")?;
    let tenant = state
        .shared
        .store
        .tenant(&key.tenant_id)
        .map_err(|_| Problem::Internal)?
        .filter(|t| t.environment == state.env.name)
        .ok_or_else(|| Problem::ApiKeyInvalid {
            reason: format!(
                "mixed credentials: this API key belongs to another environment than {}",
                state.env.name
            ),
        })?;
    rate_limit(state, &tenant.id, notes)?;
    if !capabilities(&key)?.has(selo_domain::capability::Capability::MagicLink) {
        return Err(Problem::Forbidden {
            reason: "Magic Link needs an API key with the 'magiclink' capability".into(),
        });
    }
    Ok(tenant.id)
}

/// An authenticated API-contract caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// What the API key enables.
    pub capabilities: Capabilities,
}

/// CONTRACT §3 then §10: the Bearer token (401), the `APIKEY` (401), the tenant's rate limit
/// (429). The tenant and its quota are noted for the response headers and the log.
pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    notes: &Annotations,
) -> Result<Caller, Problem> {
    let (caller, ()) = authenticate_reading(state, headers, notes, |store, hash, _| {
        Ok((store.api_key_by_hash(hash)?, ()))
    })?;
    Ok(caller)
}

/// [`authenticate`], with the `APIKEY` read in one store snapshot together with what the call
/// reads next: `read` gets the store, the key's hash and the access token's tenant, and returns
/// the key and its own result (which the caller gets only when every check passed).
pub fn authenticate_reading<T>(
    state: &AppState,
    headers: &HeaderMap,
    notes: &Annotations,
    read: impl FnOnce(&dyn Store, &[u8; 32], &str) -> Result<(Option<ApiKey>, T), StoreError>,
) -> Result<(Caller, T), Problem> {
    let principal = bearer(state, headers)?;
    let hash = api_key_hash(headers, "apikey")?;
    let (key, read) =
        read(&*state.shared.store, &hash, &principal.tenant_id).map_err(store_failure)?;
    let key = live(key, &hash)?;
    if key.tenant_id != principal.tenant_id {
        return Err(Problem::ApiKeyInvalid {
            reason: "this API key belongs to another tenant (or another environment) than the access token; use a key of the same tenant".into(),
        });
    }
    let capabilities = capabilities(&key)?;
    rate_limit(state, &principal.tenant_id, notes)?;
    Ok((
        Caller {
            principal,
            capabilities,
        },
        read,
    ))
}

/// Takes one request from `tenant_id`'s budget (429 when exhausted) and notes the quota.
pub fn rate_limit(state: &AppState, tenant_id: &str, notes: &Annotations) -> Result<(), Problem> {
    notes.note(tenant_id, None);
    let quota =
        state
            .shared
            .rate_limiter
            .check(&*state.shared.store, &*state.shared.clock, tenant_id)?;
    notes.note(tenant_id, quota);
    Ok(())
}

/// Gives back the token [`rate_limit`] took for a request then refused with a 401 (a 401 is
/// not counted), and notes the quota after it.
pub fn rate_limit_refund(state: &AppState, tenant_id: &str, notes: &Annotations) {
    if let Some(quota) = state.shared.rate_limiter.refund(tenant_id) {
        notes.note(tenant_id, Some(quota));
    }
}
