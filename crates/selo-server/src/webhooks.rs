//! Webhooks (CONTRACT §16): events written with the state change that causes them, and the
//! delivery worker that sends them at least once, signed (Standard Webhooks), with the
//! receiver's authentication, retries with a doubling interval and a concurrency limit.

use crate::state::Shared;
use aws_lc_rs::hmac;
use selo_domain::process::ProcessRecord;
use selo_domain::web::{WebProcessRecord, WebState};
use selo_domain::webhook::{
    ReceiverAuth, event_payload, parse_secret, retry_delay, signature_header,
};
use selo_store::{AttemptOutcome, EventDraft, WebhookAttempt, WebhookConfig, WebhookEvent};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the worker looks for due events.
const POLL: Duration = Duration::from_millis(200);
/// Most due events taken per poll.
const BATCH: usize = 500;

/// How long a node's claim on an event lasts (renewed at every poll while the node lives): a
/// node that dies leaves its claimed events to the others after this (CONTRACT §18: ≤ 60 s).
pub const CLAIM_LEASE_SECONDS: i64 = 60;

fn draft(tenant_id: &str, process_id: &str, flow: &str, result: &str, now: i64) -> EventDraft {
    EventDraft {
        id: format!("evt_{}", crate::ids::uuid_v4().simple()),
        tenant_id: tenant_id.to_string(),
        process_id: process_id.to_string(),
        payload: event_payload(process_id, flow, result).to_string(),
        created_at: now,
    }
}

/// The event of an API-contract process that finished at `now`: status 3 gives `ok`,
/// `invalid_identity` (unicoId no) or `failed` (liveness 2); statuses 1, 2 and 5 send nothing.
pub fn api_event(p: &ProcessRecord, now: i64) -> Option<EventDraft> {
    let view = p.api_view(now);
    if view.status != 3 {
        return None;
    }
    let result = match (
        view.unico_id.as_ref().map(|u| u.result.as_str()),
        view.liveness,
    ) {
        (_, Some(2)) => "failed",
        (Some("no"), _) => "invalid_identity",
        _ => "ok",
    };
    Some(draft(&p.tenant_id, &p.id, "api", result, now))
}

/// The event of a Web & SDK process at `now`, when it is `PROCESS_STATE_FINISHED`.
pub fn web_event(p: &WebProcessRecord, now: i64) -> Option<EventDraft> {
    match p.state_at(now) {
        WebState::Finished(result) => Some(draft(
            &p.tenant_id,
            &p.id,
            &p.flow,
            &result.to_ascii_lowercase(),
            now,
        )),
        _ => None,
    }
}

/// A receiver (or OAuth2 token) URL must be `https://`, or `http://` to a loopback host only
/// (development); credentials in the URL are refused. Checked when configured and again before
/// every delivery.
pub fn check_url(what: &str, url: &str) -> Result<(), String> {
    let bad = |why: &str| format!("{what} '{url}' {why}");
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials; use --auth"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("has no host")),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad(
            "must be https:// (plain http:// is allowed only to loopback addresses, for development)",
        )),
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message);
    tag.as_ref().try_into().unwrap_or([0; 32])
}

/// Largest token-endpoint response read, bytes (a token response is a few hundred).
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// OAuth2 client-credentials tokens per token URL + client id, until they expire (Unix
/// seconds on the server's clock).
#[derive(Default)]
struct OAuthTokens {
    tokens: Mutex<HashMap<String, (String, i64)>>,
}

/// Reads at most `max` bytes of `res`'s body (an error past that).
async fn capped_body(
    mut res: reqwest::Response,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| {
        // The request's own timeout lasts until the body has arrived.
        if e.is_timeout() {
            format!(
                "oauth2 token response did not arrive within {} s",
                timeout.as_secs()
            )
        } else {
            format!("oauth2 token response: {e}")
        }
    })? {
        if body.len() + chunk.len() > max {
            return Err(format!("oauth2 token response is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl OAuthTokens {
    fn key(token_url: &str, id: &str) -> String {
        format!("{token_url} {id}")
    }

    /// Drops the cached token (the receiver refused it: revoked, or expired early).
    fn forget(&self, token_url: &str, id: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&Self::key(token_url, id));
    }

    /// A token for `id` at `token_url`: the cached one until it expires at `now` (the server
    /// clock), else a new one fetched within `timeout` (the endpoint's delivery timeout).
    async fn get(
        &self,
        http: &reqwest::Client,
        receiver: (&str, &str, &str),
        timeout: Duration,
        now: i64,
    ) -> Result<String, String> {
        let (token_url, id, secret) = receiver;
        check_url("OAuth2 token URL", token_url)?;
        let key = Self::key(token_url, id);
        if let Some((t, until)) = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && *until > now
        {
            return Ok(t.clone());
        }
        let res = http
            .post(token_url)
            .timeout(timeout)
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!(
                        "oauth2 token request timed out after {} s",
                        timeout.as_secs()
                    )
                } else {
                    format!("oauth2 token request failed: {e}")
                }
            })?;
        if !res.status().is_success() {
            return Err(format!("oauth2 token endpoint answered {}", res.status()));
        }
        let body = capped_body(res, MAX_TOKEN_RESPONSE, timeout).await?;
        let body: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("oauth2 token response is not JSON: {e}"))?;
        let token = body["access_token"]
            .as_str()
            .ok_or("oauth2 token response has no access_token")?
            .to_string();
        let ttl = body["expires_in"].as_i64().unwrap_or(300).clamp(31, 86_400) - 30;
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (token.clone(), now + ttl));
        Ok(token)
    }
}

/// The delivery worker.
pub struct Worker {
    shared: Arc<Shared>,
    http: reqwest::Client,
    in_flight: Mutex<HashSet<String>>,
    limits: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    oauth: OAuthTokens,
}

impl Worker {
    /// Starts the worker on the current runtime.
    pub fn spawn(shared: Arc<Shared>) {
        let worker = Arc::new(Worker {
            shared,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            in_flight: Mutex::new(HashSet::new()),
            limits: Mutex::new(HashMap::new()),
            oauth: OAuthTokens::default(),
        });
        tokio::spawn(async move {
            loop {
                worker.clone().poll().await;
                tokio::time::sleep(POLL).await;
            }
        });
    }

    /// The in-flight limit of a tenant's endpoint at `concurrency` (a changed setting, or the
    /// endpoint turning failing, gets a fresh limit).
    fn limit(&self, tenant: &str, concurrency: u32) -> Arc<tokio::sync::Semaphore> {
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(format!("{tenant}/{concurrency}"))
            .or_insert_with(|| {
                Arc::new(tokio::sync::Semaphore::new(
                    concurrency.clamp(1, 500) as usize
                ))
            })
            .clone()
    }

    async fn poll(self: Arc<Self>) {
        let now = self.shared.clock.unix();
        let lease_until = now + CLAIM_LEASE_SECONDS;
        let due =
            match self
                .shared
                .store
                .claim_due_events(&self.shared.node, now, lease_until, BATCH)
            {
                Ok(d) => d,
                Err(e) => {
                    // Claiming writes: a full disk stops deliveries here (none goes out that
                    // could not be recorded) and `/readyz` says so.
                    self.shared
                        .storage
                        .background_write_failed("webhooks: claiming due events", &e);
                    return;
                }
            };
        let mut configs: HashMap<String, Option<WebhookConfig>> = HashMap::new();
        for event in due {
            if !self
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(event.id.clone())
            {
                continue;
            }
            let config = configs
                .entry(event.tenant_id.clone())
                .or_insert_with(|| self.shared.store.webhook(&event.tenant_id).ok().flatten())
                .clone();
            let Some(config) = config.filter(|c| c.enabled) else {
                self.in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&event.id);
                continue;
            };
            // A failing endpoint is slowed down to one delivery at a time (a probe) until one
            // succeeds; its queued events stay pending.
            let concurrency = if config.failing() {
                1
            } else {
                config.concurrency
            };
            let permit = match self
                .limit(&event.tenant_id, concurrency)
                .try_acquire_owned()
            {
                Ok(p) => p,
                Err(_) => {
                    self.in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&event.id);
                    continue;
                }
            };
            let worker = self.clone();
            tokio::spawn(async move {
                worker.deliver(&event, &config).await;
                worker
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&event.id);
                drop(permit);
            });
        }
    }

    async fn deliver(&self, event: &WebhookEvent, config: &WebhookConfig) {
        let now = self.shared.clock.unix();
        let attempt = event.attempts + 1;
        let started = Instant::now();
        let result = self.send(event, config, now).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let (status, error) = match &result {
            Ok(code) => (
                Some(*code),
                (!(200..300).contains(code)).then(|| format!("HTTP {code}")),
            ),
            Err(e) => (None, Some(e.clone())),
        };
        let outcome = if error.is_none() {
            AttemptOutcome::Delivered
        } else if attempt >= config.max_attempts {
            AttemptOutcome::Failed
        } else {
            AttemptOutcome::Retry(now + retry_delay(config.retry_interval, attempt))
        };
        tracing::info!(event = %event.id, attempt, ?status, latency_ms, ?outcome, "webhook delivery");
        let record = WebhookAttempt {
            event_id: event.id.clone(),
            process_id: event.process_id.clone(),
            attempt,
            at: now,
            status,
            latency_ms,
            error,
        };
        if let Err(e) = self
            .shared
            .store
            .record_attempt(&self.shared.node, &record, outcome)
        {
            self.shared
                .storage
                .background_write_failed("webhooks: recording an attempt", &e);
        }
    }

    async fn send(
        &self,
        event: &WebhookEvent,
        config: &WebhookConfig,
        now: i64,
    ) -> Result<u16, String> {
        check_url("webhook URL", &config.url)?;
        let auth: ReceiverAuth = serde_json::from_str(&config.auth)
            .map_err(|e| format!("stored auth unreadable: {e}"))?;
        let oauth_token = match &auth {
            ReceiverAuth::OAuth2 {
                token_url,
                client_id,
                client_secret,
            } => Some(
                self.oauth
                    .get(
                        &self.http,
                        (token_url, client_id, client_secret),
                        Duration::from_secs(config.timeout.max(1) as u64),
                        now,
                    )
                    .await?,
            ),
            _ => None,
        };
        let mut secrets =
            vec![parse_secret(&config.secret).ok_or("the signing secret is unreadable")?];
        if let (Some(prev), Some(until)) = (&config.previous_secret, config.previous_until)
            && now < until
            && let Some(raw) = parse_secret(prev)
        {
            secrets.push(raw);
        }
        let keys: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
        let body = event.payload.as_bytes();
        let mut req = self
            .http
            .post(&config.url)
            .timeout(Duration::from_secs(config.timeout.max(1) as u64))
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", now.to_string())
            .header(
                "webhook-signature",
                signature_header(hmac_sha256, &keys, &event.id, now, body),
            );
        for (name, value) in auth.headers(oauth_token.as_deref()) {
            req = req.header(name, value);
        }
        let res = req.body(body.to_vec()).send().await.map_err(|e| {
            if e.is_timeout() {
                format!("timed out after {} s", config.timeout)
            } else {
                format!("transport error: {e}")
            }
        })?;
        let status = res.status().as_u16();
        if let (
            401,
            ReceiverAuth::OAuth2 {
                token_url,
                client_id,
                ..
            },
        ) = (status, &auth)
        {
            // The next attempt fetches a new token instead of repeating the refused one.
            self.oauth.forget(token_url, client_id);
        }
        Ok(status)
    }
}
