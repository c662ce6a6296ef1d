//! Authentication of resource calls (CONTRACT §3): the Bearer access token, then the `APIKEY`.

use crate::http::context::Annotations;
use crate::state::AppState;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use selo_domain::capability::Capabilities;
use selo_domain::problem::Problem;
use selo_store::ApiKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
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
    if let Some(hit) = state
        .shared
        .token_cache
        .get(token)
        .filter(|hit| hit.env == state.env.name)
    {
        if hit.exp <= state.now() {
            return Err(Problem::BearerExpired);
        }
        return Ok(Principal {
            tenant_id: hit.tenant_id,
            account: hit.account,
        });
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("the access token is not a JWT issued by Selo"))?;
    let kid = header.kid.unwrap_or_default();
    if kid != state.env.key.kid {
        if let Some(other) = state.other_environments().find(|e| e.key.kid == kid) {
            return Err(invalid(format!(
                "mixed credentials: this token was issued by the {} environment, but this is the {} environment; obtain a token from {}/oauth2/token",
                other.name, state.env.name, state.env.public_url
            )));
        }
        return Err(invalid(
            "the access token was not issued by this environment; obtain a new one from POST /oauth2/token",
        ));
    }
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<AccessClaims>(token, &state.env.key.decoding, &validation)
        .map_err(|_| invalid("the access token's signature does not verify"))?;
    let claims = data.claims;
    if claims.env != state.env.name {
        return Err(invalid("the access token belongs to another environment"));
    }
    if claims.exp <= state.now() {
        return Err(Problem::BearerExpired);
    }
    state.shared.token_cache.insert(
        token,
        crate::caches::VerifiedToken {
            tenant_id: claims.tid.clone(),
            account: claims.acc.clone(),
            exp: claims.exp,
            env: claims.env.clone(),
        },
    );
    Ok(Principal {
        tenant_id: claims.tid,
        account: claims.acc,
    })
}

/// SHA-256 (API keys are stored, and assertions remembered, by this hash).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().try_into().unwrap_or([0; 32])
}

/// The API key whose secret hashes to `hash`: from the cache when the configuration epoch can
/// be read without waiting and the key was read at that epoch, else from the store.
fn cached_api_key(
    state: &AppState,
    hash: &[u8; 32],
) -> Result<Option<Arc<ApiKey>>, selo_store::StoreError> {
    let store = &state.shared.store;
    let Some(epoch) = store.try_config_epoch()? else {
        return Ok(store.api_key_by_hash(hash)?.map(Arc::new));
    };
    if let Some(hit) = state.shared.api_keys.get(hash, epoch) {
        return Ok(Some(hit));
    }
    let key = store.api_key_by_hash(hash)?.map(Arc::new);
    if let Some(k) = &key {
        state.shared.api_keys.insert(*hash, epoch, k.clone());
    }
    Ok(key)
}

/// Finds the live API key whose secret is in header `name` (401 when missing, unknown or
/// revoked).
fn live_api_key(state: &AppState, headers: &HeaderMap, name: &str) -> Result<Arc<ApiKey>, Problem> {
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
    let hash = sha256(secret.as_bytes());
    let unknown = || Problem::ApiKeyInvalid {
        reason: "this API key is unknown; create one with `selo admin apikey create --tenant <id>`"
            .into(),
    };
    let key = cached_api_key(state, &hash)
        .map_err(|e| {
            tracing::error!(error = %e, "api key lookup failed");
            Problem::Internal
        })?
        .ok_or_else(unknown)?;
    if !bool::from(key.hash.ct_eq(&hash)) {
        return Err(unknown());
    }
    if key.revoked_at.is_some() {
        return Err(Problem::ApiKeyInvalid {
            reason: format!("API key {} was revoked; create a new one", key.id),
        });
    }
    Ok(key)
}

fn capabilities(key: &ApiKey) -> Result<Capabilities, Problem> {
    Capabilities::parse_list(&key.capabilities).map_err(|e| {
        tracing::error!(error = %e, key = %key.id, "stored capabilities unreadable");
        Problem::Internal
    })
}

/// Checks the `APIKEY` header: known, not revoked, of the caller's tenant. Returns its
/// capabilities.
pub fn api_key(
    state: &AppState,
    headers: &HeaderMap,
    principal: &Principal,
) -> Result<Capabilities, Problem> {
    let key = live_api_key(state, headers, "apikey")?;
    if key.tenant_id != principal.tenant_id {
        return Err(Problem::ApiKeyInvalid {
            reason: "this API key belongs to another tenant (or another environment) than the access token; use a key of the same tenant".into(),
        });
    }
    capabilities(&key)
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
    let principal = bearer(state, headers)?;
    let capabilities = api_key(state, headers, &principal)?;
    rate_limit(state, &principal.tenant_id, notes)?;
    Ok(Caller {
        principal,
        capabilities,
    })
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
