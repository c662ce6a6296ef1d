//! `selo admin webhook …` (CONTRACT §15–§16).

use crate::cli::WebhookCommand;
use crate::output::{print, usage};
use anyhow::Context;
use selo_domain::clock::rfc3339_millis;
use selo_domain::webhook::{ReceiverAuth, format_secret};
use selo_server::webhooks::check_url;
use selo_store::{Store, WebhookConfig};
use selo_wire::admin::{AttemptInfo, DeliveryInfo, SecretRotated, WebhookInfo};

fn new_secret() -> anyhow::Result<String> {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(format_secret(&raw))
}

fn info(c: &WebhookConfig) -> anyhow::Result<WebhookInfo> {
    let auth: ReceiverAuth = serde_json::from_str(&c.auth)?;
    Ok(WebhookInfo {
        tenant_id: c.tenant_id.clone(),
        url: c.url.clone(),
        auth: auth.describe(),
        max_attempts: c.max_attempts,
        retry_interval: c.retry_interval,
        timeout: c.timeout,
        concurrency: c.concurrency,
        enabled: c.enabled,
        health: if c.failing() { "failing" } else { "healthy" }.to_string(),
        consecutive_failures: c.consecutive_failures,
        signing_secret: c.secret.clone(),
    })
}

fn describe(i: &WebhookInfo) -> String {
    format!(
        "webhook of tenant {}: {} ({}, {}), auth {}, {} attempts from {} s, timeout {} s, concurrency {}\nsigning secret: {}",
        i.tenant_id,
        i.url,
        if i.enabled { "enabled" } else { "disabled" },
        i.health,
        i.auth,
        i.max_attempts,
        i.retry_interval,
        i.timeout,
        i.concurrency,
        i.signing_secret
    )
}

fn existing(store: &dyn Store, tenant: &str) -> anyhow::Result<WebhookConfig> {
    store.webhook(tenant)?.with_context(|| {
        format!("tenant '{tenant}' has no webhook; create one with `selo admin webhook set --tenant {tenant} --url URL`")
    })
}

fn at(unix: i64) -> String {
    rfc3339_millis(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// Runs `selo admin webhook …`.
pub fn run(store: &dyn Store, json: bool, cmd: WebhookCommand) -> anyhow::Result<()> {
    match cmd {
        WebhookCommand::Set {
            tenant,
            url,
            auth,
            max_attempts,
            retry_interval,
            timeout,
            concurrency,
        } => {
            store.tenant(&tenant)?.with_context(|| {
                format!("tenant '{tenant}' not found; list tenants with `selo admin tenant list`")
            })?;
            check_url("webhook URL", &url).map_err(usage)?;
            let auth: ReceiverAuth = auth.parse().map_err(|e| usage(format!("--auth: {e}")))?;
            if let ReceiverAuth::OAuth2 { token_url, .. } = &auth {
                check_url("OAuth2 token URL", token_url).map_err(usage)?;
            }
            if !(1..=500).contains(&concurrency) {
                return Err(usage("--concurrency must be between 1 and 500"));
            }
            if max_attempts == 0 || retry_interval < 0 || timeout < 1 {
                return Err(usage(
                    "--max-attempts must be at least 1, --retry-interval at least 0 and --timeout at least 1",
                ));
            }
            let previous = store.webhook(&tenant)?;
            let config = WebhookConfig {
                tenant_id: tenant,
                url,
                auth: serde_json::to_string(&auth)?,
                max_attempts,
                retry_interval,
                timeout,
                concurrency,
                secret: match &previous {
                    Some(p) => p.secret.clone(),
                    None => new_secret()?,
                },
                previous_secret: previous.as_ref().and_then(|p| p.previous_secret.clone()),
                previous_until: previous.as_ref().and_then(|p| p.previous_until),
                enabled: true,
                consecutive_failures: 0,
            };
            store.set_webhook(&config)?;
            let out = info(&config)?;
            print(json, &out, || describe(&out))
        }
        WebhookCommand::Show { tenant } => {
            let out = info(&existing(store, &tenant)?)?;
            print(json, &out, || describe(&out))
        }
        WebhookCommand::Disable { tenant } => {
            let mut c = existing(store, &tenant)?;
            c.enabled = false;
            store.set_webhook(&c)?;
            let out = info(&c)?;
            print(json, &out, || describe(&out))
        }
        WebhookCommand::RotateSecret { tenant, overlap } => {
            let mut c = existing(store, &tenant)?;
            // The server's clock, so the overlap ends when the server says it does.
            let until = crate::admin::now(store) + overlap.max(0);
            c.previous_secret = Some(std::mem::replace(&mut c.secret, new_secret()?));
            c.previous_until = Some(until);
            store.set_webhook(&c)?;
            let out = SecretRotated {
                signing_secret: c.secret.clone(),
                previous_valid_until: at(until),
            };
            print(json, &out, || {
                format!(
                    "new signing secret: {} (the previous one also signs until {})",
                    out.signing_secret, out.previous_valid_until
                )
            })
        }
        WebhookCommand::Deliveries { tenant, process } => {
            let events = store.events(&tenant, process.as_deref(), 500)?;
            let attempts = store.attempts(&tenant, process.as_deref(), 5000)?;
            let list: Vec<DeliveryInfo> = events
                .into_iter()
                .map(|e| {
                    let mut mine: Vec<AttemptInfo> = attempts
                        .iter()
                        .filter(|a| a.event_id == e.id)
                        .map(|a| AttemptInfo {
                            attempt: a.attempt,
                            at: at(a.at),
                            status: a.status,
                            latency_ms: a.latency_ms,
                            error: a.error.clone(),
                        })
                        .collect();
                    mine.sort_by_key(|a| a.attempt);
                    DeliveryInfo {
                        next_attempt_at: (e.status == "pending").then(|| at(e.next_attempt_at)),
                        event_id: e.id,
                        process_id: e.process_id,
                        status: e.status,
                        payload: serde_json::from_str(&e.payload).unwrap_or_default(),
                        attempts: mine,
                    }
                })
                .collect();
            print(json, &list, || {
                list.iter()
                    .map(|d| {
                        let last = d.attempts.last().map_or("no attempt yet".to_string(), |a| {
                            format!(
                                "attempt {} at {}: {}",
                                a.attempt,
                                a.at,
                                a.error
                                    .clone()
                                    .unwrap_or_else(|| format!("HTTP {}", a.status.unwrap_or(0)))
                            )
                        });
                        format!(
                            "{}  {}  {:<9}  {}",
                            d.event_id, d.process_id, d.status, last
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        WebhookCommand::Replay {
            tenant,
            process,
            since,
        } => {
            let since = since
                .map(|s| {
                    time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                        .map(|t| t.unix_timestamp())
                        .map_err(|_| {
                            usage(format!(
                                "--since '{s}' is not an RFC 3339 time (e.g. 2026-11-29T00:00:00Z)"
                            ))
                        })
                })
                .transpose()?;
            let n = store.replay_events(&tenant, process.as_deref(), since)?;
            print(json, &serde_json::json!({"replayed": n}), || {
                format!("{n} event(s) will be sent again")
            })
        }
    }
}
