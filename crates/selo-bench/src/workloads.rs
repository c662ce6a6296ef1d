//! The three workloads against a running server, each measured by whole-process CPU accounting
//! of the server (and of this client) over the timed window.

use crate::load::{self, MakeRequest, Outcome};
use crate::server::{Server, Tenant, process_cpu_seconds};
use anyhow::{Context, Result, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Untimed warm-up before each workload (opens the connections; sizes the token run).
const WARMUP: Duration = Duration::from_secs(1);
/// Assertions signed for the token warm-up.
const WARMUP_ASSERTIONS: usize = 4_000;
/// Distinct `iat` offsets; with [`EXP_STEPS`] they give this many unique assertions.
const IAT_STEPS: usize = 1_500;
/// Distinct `exp` offsets per `iat` (`exp − iat` stays ≤ 600 + 1 500 + 1 400 < 3 600 s).
const EXP_STEPS: usize = 1_400;
/// The token request's form, before the assertion (`grant_type` already URL-encoded).
const FORM_PREFIX: &str =
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";

/// One workload's measurements.
pub struct Measured {
    /// `token`, `create` or `get`.
    pub name: &'static str,
    /// What the load generator saw.
    pub outcome: Outcome,
    /// Server CPU seconds (user + system) over the timed window.
    pub server_cpu_s: f64,
    /// The system (kernel) part of `server_cpu_s`.
    pub server_sys_s: f64,
    /// This process's CPU seconds over the same window.
    pub client_cpu_s: f64,
    /// Server `VmHWM` after the workload, KiB.
    pub peak_rss_kib: u64,
}

impl Measured {
    /// Server CPU per completed request, µs.
    pub fn server_us_per_req(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.outcome.requests().max(1) as f64
    }
}

/// Signs unique RS256 assertions ahead of the timed run: RS256 signatures are deterministic,
/// so each one gets its own (`iat`, `exp`) pair; a repeat would be refused as a replay.
struct Signer {
    key: jsonwebtoken::EncodingKey,
    iss: String,
    aud: String,
    now: i64,
    used: usize,
}

impl Signer {
    fn new(tenant: &Tenant, aud: &str) -> Result<Signer> {
        Ok(Signer {
            key: jsonwebtoken::EncodingKey::from_rsa_pem(&tenant.key_pem)?,
            iss: tenant.iss.clone(),
            aud: aud.into(),
            now: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64,
            used: 0,
        })
    }

    /// How many more unique assertions this signer can make.
    fn left(&self) -> usize {
        IAT_STEPS * EXP_STEPS - self.used
    }

    /// `n` token-request form bodies, signed on every core.
    fn bodies(&mut self, n: usize) -> Result<Vec<Bytes>> {
        ensure!(n <= self.left(), "out of unique assertions");
        let first = self.used;
        self.used += n;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = n.div_ceil(threads).max(1);
        let this = &*self;
        std::thread::scope(|s| {
            let parts: Vec<_> = (first..first + n)
                .step_by(chunk)
                .map(|lo| {
                    s.spawn(move || {
                        (lo..(lo + chunk).min(first + n))
                            .map(|k| this.body(k))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .try_fold(Vec::with_capacity(n), |mut all, p| {
                    all.extend(p.join().expect("signing thread")?);
                    Ok(all)
                })
        })
    }

    /// The form body carrying assertion number `k`.
    fn body(&self, k: usize) -> Result<Bytes> {
        let iat = self.now - (k % IAT_STEPS) as i64;
        let exp = self.now + 600 + (k / IAT_STEPS) as i64;
        let claims = serde_json::json!({
            "iss": self.iss, "aud": self.aud, "scope": "*", "iat": iat, "exp": exp
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
        );
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &self.key,
            jsonwebtoken::Algorithm::RS256,
        )?;
        Ok(Bytes::from(format!("{FORM_PREFIX}{input}.{sig}")))
    }
}

/// Token requests posting the prepared `bodies` once each.
fn token_requests(url: &str, bodies: Vec<Bytes>) -> MakeRequest {
    let url = format!("{url}/oauth2/token");
    Arc::new(move |c, i| {
        let body = bodies.get(i)?.clone();
        Some(
            c.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
    })
}

/// Times one run of `make` against `server`: the server's and this process's CPU time are
/// read from `/proc` just before the first request and just after the last one.
async fn measure(
    server: &Server,
    name: &'static str,
    client: &reqwest::Client,
    connections: usize,
    duration: Duration,
    make: MakeRequest,
) -> Result<Measured> {
    eprintln!(
        "  {name}: {} s at {connections} connections…",
        duration.as_secs_f64()
    );
    let (server0, client0) = (server.cpu()?, process_cpu_seconds("/proc/self/stat")?);
    let outcome = load::run(client, connections, duration, name == "create", make).await;
    let (server1, client1) = (server.cpu()?, process_cpu_seconds("/proc/self/stat")?);
    Ok(Measured {
        name,
        outcome,
        server_cpu_s: server1.total() - server0.total(),
        server_sys_s: server1.sys - server0.sys,
        client_cpu_s: client1.total() - client0.total(),
        peak_rss_kib: server.peak_rss_kib()?,
    })
}

/// Runs token issuance, process create and process get, each after an untimed warm-up.
pub async fn run_all(
    server: &Server,
    tenant: &Tenant,
    create_body: Bytes,
    connections: usize,
    duration: Duration,
) -> Result<Vec<Measured>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut signer = Signer::new(tenant, &server.audience)?;

    // Token issuance. The warm-up's rate sizes the pool of pre-signed assertions.
    let warm = tokio::task::block_in_place(|| signer.bodies(WARMUP_ASSERTIONS))?;
    let warm = load::run(
        &client,
        connections,
        WARMUP,
        false,
        token_requests(&server.url, warm),
    )
    .await;
    ensure!(
        warm.failed() == 0,
        "token warm-up failed: {:?}",
        warm.failures
    );
    let want = (warm.per_sec() * duration.as_secs_f64() * 1.5) as usize + 2_000;
    let want = want.min(signer.left() - 1);
    eprintln!("  pre-signing {want} assertions (untimed)…");
    let bodies = tokio::task::block_in_place(|| signer.bodies(want))?;
    let token = measure(
        server,
        "token",
        &client,
        connections,
        duration,
        token_requests(&server.url, bodies),
    )
    .await?;

    // One access token for the API calls.
    let body = tokio::task::block_in_place(|| signer.bodies(1))?.remove(0);
    let res = client
        .post(format!("{}/oauth2/token", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    ensure!(res.status().is_success(), "token: {}", res.text().await?);
    let v: serde_json::Value = res.json().await?;
    let access = format!(
        "Bearer {}",
        v["access_token"].as_str().context("access_token")?
    );
    // Process create: the same body every time (each create is a new process).
    let creates: MakeRequest = {
        let (api_url, access, key) = (server.url.clone(), access.clone(), tenant.api_key.clone());
        Arc::new(move |c, _| {
            Some(
                c.post(format!("{api_url}/processes/v1"))
                    .header("authorization", &access)
                    .header("apikey", &key)
                    .header("content-type", "application/json")
                    .body(create_body.clone()),
            )
        })
    };
    let warm = load::run(&client, connections, WARMUP, true, creates.clone()).await;
    ensure!(
        warm.failed() == 0,
        "create warm-up failed: {:?}",
        warm.failures
    );
    let create = measure(server, "create", &client, connections, duration, creates).await?;

    // Process get, round-robin over every process created above.
    let ids: Vec<String> = warm
        .ids
        .into_iter()
        .chain(create.outcome.ids.iter().cloned())
        .collect();
    ensure!(!ids.is_empty(), "no process was created");
    let probe = client
        .get(format!("{}/processes/v1/{}", server.url, ids[0]))
        .header("authorization", &access)
        .header("apikey", &tenant.api_key)
        .send()
        .await?;
    ensure!(probe.status().is_success(), "get: {}", probe.text().await?);
    let gets: MakeRequest = {
        let (api_url, access, key) = (server.url.clone(), access.clone(), tenant.api_key.clone());
        Arc::new(move |c, i| {
            Some(
                c.get(format!("{api_url}/processes/v1/{}", ids[i % ids.len()]))
                    .header("authorization", &access)
                    .header("apikey", &key),
            )
        })
    };
    let warm = load::run(&client, connections, WARMUP, false, gets.clone()).await;
    ensure!(
        warm.failed() == 0,
        "get warm-up failed: {:?}",
        warm.failures
    );
    let get = measure(server, "get", &client, connections, duration, gets).await?;

    Ok(vec![token, create, get])
}
