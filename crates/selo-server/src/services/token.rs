//! The token service: every row of CONTRACT §2's table, in order.

use crate::auth::{ACCESS_TOKEN_SECONDS, AccessClaims};
use crate::http::context::Annotations;
use crate::services::store_failure;
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use selo_domain::access::{HoursWindow, ip_allowed, parse_cidr};
use selo_domain::assertion::{
    Assertion, Audiences, accepted_until, check_audience, check_times, parse_assertion,
};
use selo_domain::problem::{AuthCode, Problem};
use selo_store::{Account, AccountKey, AssertionUse, AssertionUseOutcome, ReplayKey, Tenant};
use selo_wire::token::{JWT_BEARER_GRANT, TokenResponse};
use std::net::IpAddr;
use std::sync::Arc;

fn replayed() -> Problem {
    Problem::token(
        AuthCode::Replayed,
        "this assertion was already used; sign a new one for every token request",
    )
}

/// Which of an account's keys the signature verifies under.
enum SignatureCheck {
    /// An active key verifies it: its id.
    Active(String),
    RevokedOnly,
    None,
}

fn verify_signature(
    state: &AppState,
    keys: &[AccountKey],
    signing_input: &str,
    signature: &str,
) -> SignatureCheck {
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return SignatureCheck::None;
    };
    let verifies = |k: &AccountKey| {
        state
            .shared
            .key_cache
            .get(&k.id, &k.public_key_pem)
            .is_some_and(|key| key.verify_sig(signing_input.as_bytes(), &signature).is_ok())
    };
    if let Some(key) = keys
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .find(|k| verifies(k))
    {
        SignatureCheck::Active(key.id.clone())
    } else if keys.iter().filter(|k| k.revoked_at.is_some()).any(verifies) {
        SignatureCheck::RevokedOnly
    } else {
        SignatureCheck::None
    }
}

/// What the token service reads about a service account: its tenant, itself and its keys.
pub struct Credentials {
    /// The tenant (of this environment).
    pub tenant: Tenant,
    /// The account.
    pub account: Account,
    /// Its keys, revoked ones included.
    pub keys: Vec<AccountKey>,
}

/// The account `iss` names as of configuration epoch `epoch`, from the cache when it was read at
/// that epoch (1.0.1 when the tenant or account is unknown, or the tenant is another
/// environment's; those answers are always read from the store).
pub(crate) fn credentials(
    state: &AppState,
    tenant_id: &str,
    name: &str,
    iss: &str,
    epoch: u64,
) -> Result<Arc<Credentials>, Problem> {
    let store = &state.shared.store;
    // Environments share the cache; what an account may do depends on the environment asked.
    let key = format!("{}\n{iss}", state.env.name);
    if let Some(hit) = state.shared.credentials.get(&key, epoch) {
        return Ok(hit);
    }
    let tenant = match store.tenant(tenant_id).map_err(store_failure)? {
        None => {
            return Err(Problem::token(
                AuthCode::UnknownIssuer,
                format!("tenant '{tenant_id}' in iss is unknown; check the tenant id in iss"),
            ));
        }
        Some(t) if t.environment != state.env.name => {
            return Err(Problem::token(
                AuthCode::UnknownIssuer,
                format!(
                    "mixed credentials: tenant '{}' belongs to the {} environment, but this is the {} environment at {}",
                    t.id, t.environment, state.env.name, state.env.public_url
                ),
            ));
        }
        Some(t) => t,
    };
    let account = store
        .account(&tenant.id, name)
        .map_err(store_failure)?
        .ok_or_else(|| {
            Problem::token(
                AuthCode::UnknownIssuer,
                format!("account '{name}' does not exist in tenant '{}'", tenant.id),
            )
        })?;
    let keys = store
        .account_keys(&tenant.id, name)
        .map_err(store_failure)?;
    let creds = Arc::new(Credentials {
        tenant,
        account,
        keys,
    });
    state.shared.credentials.insert(key, epoch, creds.clone());
    Ok(creds)
}

/// Most evaluations of one request against configuration that changed under it.
const MAX_ATTEMPTS: usize = 4;

/// Handles a token request's form fields (`grant_type`, `assertion`) from `peer`.
///
/// The rows are decided from configuration cached at a configuration epoch; a refusal is
/// confirmed against the store's current epoch before it is answered, and the replay record
/// commits only if the epoch has not moved since, so an admin change applies to the next
/// request. The replay record is committed with others queued at the same time (group commit).
pub async fn issue(
    state: &AppState,
    grant_type: Option<&str>,
    assertion: Option<&str>,
    peer: IpAddr,
    notes: &Annotations,
) -> Result<TokenResponse, Problem> {
    let (grant_type, raw) = match (grant_type, assertion) {
        (Some(g), Some(a)) if !g.is_empty() && !a.is_empty() => (g, a),
        _ => {
            return Err(Problem::TokenForm {
                error: "invalid_request",
                description: format!(
                    "the form needs grant_type={JWT_BEARER_GRANT} and assertion=<signed JWT>"
                ),
            });
        }
    };
    if grant_type != JWT_BEARER_GRANT {
        return Err(Problem::TokenForm {
            error: "unsupported_grant_type",
            description: format!(
                "grant_type '{grant_type}' is not supported; use {JWT_BEARER_GRANT}"
            ),
        });
    }
    let a = parse_assertion(raw)?;
    let store = &state.shared.store;
    let iss = a.issuer.iss();
    let replay = ReplayKey {
        hash: crate::auth::sha256(format!("{}.{}", a.signing_input, a.signature).as_bytes()),
        expires_at: accepted_until(a.exp),
    };
    let mut epoch = store.known_config_epoch();
    for _ in 0..MAX_ATTEMPTS {
        let creds = credentials(state, &a.issuer.tenant_id, &a.issuer.account, &iss, epoch)?;
        let now = state.now();
        let signed_by = match evaluate(state, &a, &iss, &creds, peer, &replay, now) {
            Ok(key_id) => key_id,
            Err(refusal) => {
                let current = store.config_epoch().map_err(store_failure)?;
                if current != epoch {
                    epoch = current;
                    continue;
                }
                return Err(refuse(state, refusal, &iss, &creds, now));
            }
        };
        // Every row passed: the request counts against the tenant's budget (429 last, §10).
        let tenant_id = &creds.tenant.id;
        crate::auth::rate_limit(state, tenant_id, notes)
            .map_err(|p| replay_first(state, &replay, now, p))?;
        let outcome = record_use(
            state,
            AssertionUse {
                key: replay,
                now,
                epoch,
            },
        )
        .await?;
        match outcome {
            AssertionUseOutcome::Fresh => {
                return access_token(state, &iss, &creds, &signed_by, now);
            }
            AssertionUseOutcome::Replayed => {
                // A replay (or the same assertion presented twice at once: the first wins).
                // A 401 is not counted: the request's token goes back to the bucket.
                crate::auth::rate_limit_refund(state, tenant_id, notes);
                return Err(replayed());
            }
            AssertionUseOutcome::StaleConfig => {
                crate::auth::rate_limit_refund(state, tenant_id, notes);
                epoch = store.config_epoch().map_err(store_failure)?;
            }
        }
    }
    tracing::warn!(iss = %iss, "configuration kept changing under a token request");
    Err(Problem::Unavailable)
}

/// Why the rows refused a request, before any side effect.
enum Refusal {
    /// Answer this.
    Answer(Problem),
    /// The signature verifies under no key: a failure to record (lockout) before answering.
    BadSignature,
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Self {
        Refusal::Answer(p)
    }
}

/// The rows of CONTRACT §2 after the issuer's, in order, up to the allowed hours; no side
/// effects (the replay row is looked up only when a later row fails). Returns the id of the
/// account key whose signature verified.
fn evaluate(
    state: &AppState,
    a: &Assertion,
    iss: &str,
    creds: &Credentials,
    peer: IpAddr,
    replay: &ReplayKey,
    now: i64,
) -> Result<String, Refusal> {
    let account = &creds.account;
    if !account.enabled {
        return Err(Problem::token(
            AuthCode::AccountDisabled,
            format!("account '{iss}' is disabled; enable it with `selo admin account enable`"),
        )
        .into());
    }
    if let Some(until) = account.locked_until.filter(|u| *u > now) {
        return Err(Problem::token(
            AuthCode::AccountLocked,
            format!(
                "account '{iss}' is locked after too many invalid signatures; it unlocks in {} s",
                until - now
            ),
        )
        .into());
    }
    let signed_by = match verify_signature(state, &creds.keys, &a.signing_input, &a.signature) {
        SignatureCheck::Active(key_id) => key_id,
        SignatureCheck::RevokedOnly => {
            return Err(Problem::token(
                AuthCode::KeyRevoked,
                format!(
                    "the assertion is signed with a revoked key of '{iss}'; sign with a current key (`selo admin account add-key`)"
                ),
            )
            .into());
        }
        SignatureCheck::None => return Err(Refusal::BadSignature),
    };
    let others: Vec<(String, String)> = state
        .other_environments()
        .map(|e| (e.name.clone(), e.audience.clone()))
        .collect();
    check_audience(
        &a.aud,
        &Audiences {
            environment: &state.env.name,
            audience: &state.env.audience,
            others: &others,
        },
    )?;
    check_times(a.iat, a.exp, now)?;
    // The replay row (1.2.7) comes here, before the IP and hours rows.
    // Both restrictions fail closed: a stored value that does not parse denies everyone.
    if !account.allow_ips.is_empty() {
        let nets: Result<Vec<_>, _> = account.allow_ips.iter().map(|c| parse_cidr(c)).collect();
        let description = match nets {
            Ok(nets) if ip_allowed(&nets, peer) => None,
            Ok(_) => Some(format!(
                "requests from {peer} are not allowed for '{iss}' (allowed: {})",
                account.allow_ips.join(", ")
            )),
            Err(_) => Some(unreadable(iss, "IP allow-list")),
        };
        if let Some(description) = description {
            let p = Problem::token(AuthCode::IpNotAllowed, description);
            return Err(replay_first(state, replay, now, p).into());
        }
    }
    if let Some(hours) = account.allowed_hours.as_deref() {
        let t = state.shared.clock.now();
        let minute = u16::from(t.hour()) * 60 + u16::from(t.minute());
        let description = match hours.parse::<HoursWindow>() {
            Ok(window) if window.contains(minute) => None,
            Ok(window) => Some(format!(
                "'{iss}' may obtain tokens only between {window} UTC"
            )),
            Err(_) => Some(unreadable(iss, "allowed-hours window")),
        };
        if let Some(description) = description {
            let p = Problem::token(AuthCode::OutsideHours, description);
            return Err(replay_first(state, replay, now, p).into());
        }
    }
    Ok(signed_by)
}

/// The refusal of an account whose stored restriction does not parse (it fails closed).
fn unreadable(iss: &str, what: &str) -> String {
    tracing::error!(
        iss,
        what,
        "a stored access restriction does not parse; refusing tokens"
    );
    format!(
        "the {what} stored for '{iss}' cannot be read, so every token request is refused; \
         set it again with `selo admin account set-access`"
    )
}

/// `problem`, unless the assertion was already used: the replay row comes first.
fn replay_first(state: &AppState, replay: &ReplayKey, now: i64, problem: Problem) -> Problem {
    match state.shared.store.assertion_used(replay, now) {
        Ok(true) => replayed(),
        Ok(false) => problem,
        Err(e) => store_failure(e),
    }
}

/// The answer to a confirmed refusal (a bad signature counts towards the lockout first).
fn refuse(state: &AppState, refusal: Refusal, iss: &str, creds: &Credentials, now: i64) -> Problem {
    if let Refusal::Answer(p) = refusal {
        return p;
    }
    let locked = match state.shared.store.record_auth_failure(
        &creds.tenant.id,
        &creds.account.name,
        now,
        state.shared.lockout,
    ) {
        Ok(locked) => locked,
        Err(e) => return store_failure(e),
    };
    let mut reason = format!(
        "the assertion's signature does not verify under any key of '{iss}'; sign it with the account's private key (RS256)"
    );
    if locked.is_some() {
        reason.push_str("; too many failures: the account is now locked");
    }
    Problem::token(AuthCode::BadSignature, reason)
}

/// Records the assertion as used (group commit) and waits for the outcome.
async fn record_use(
    state: &AppState,
    request: AssertionUse,
) -> Result<AssertionUseOutcome, Problem> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    state.shared.store.record_assertion_use(
        request,
        Box::new(move |outcome| {
            let _ = tx.send(outcome);
        }),
    );
    match rx.await {
        Ok(outcome) => outcome.map_err(store_failure),
        Err(_) => {
            tracing::error!("the replay-record writer dropped a request");
            Err(Problem::Internal)
        }
    }
}

/// A signed access token for the account.
fn access_token(
    state: &AppState,
    iss: &str,
    creds: &Credentials,
    signed_by: &str,
    now: i64,
) -> Result<TokenResponse, Problem> {
    let claims = AccessClaims {
        iss: state.env.public_url.clone(),
        sub: iss.to_string(),
        tid: creds.tenant.id.clone(),
        acc: creds.account.name.clone(),
        akid: signed_by.to_string(),
        env: state.env.name.clone(),
        iat: now,
        exp: now + ACCESS_TOKEN_SECONDS,
        jti: crate::ids::uuid_v4().simple().to_string(),
    };
    let access_token = state.env.key.sign_jwt(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing an access token failed");
        Problem::Internal
    })?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ACCESS_TOKEN_SECONDS as u64,
    })
}
