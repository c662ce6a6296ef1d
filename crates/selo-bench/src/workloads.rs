//! The three workloads against a running server (selo or the bare routes), each measured by
//! whole-process CPU accounting of the server (and of this client) over the timed window.

use crate::load::{self, MakeRequest, Outcome};
use crate::server::{Process, Tenant, process_cpu_seconds};
use crate::stats;
use anyhow::{Context, Result, ensure};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
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

    /// p50, p99 and max latency.
    pub fn latency(&self) -> stats::Latency {
        stats::summarize(&mut self.outcome.latencies_us.clone())
    }
}

/// Signs unique RS256 assertions ahead of the timed run: RS256 signatures are deterministic,
/// so each one gets its own (`iat`, `exp`) pair; a repeat would be refused as a replay.
struct Signer {
    key: aws_lc_rs::rsa::KeyPair,
    rng: aws_lc_rs::rand::SystemRandom,
    iss: String,
    aud: String,
    now: i64,
    used: usize,
}

impl Signer {
    fn new(tenant: &Tenant, aud: &str) -> Result<Signer> {
        Ok(Signer {
            key: tenant.private_key()?,
            rng: aws_lc_rs::rand::SystemRandom::new(),
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
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
            .map_err(|_| anyhow::anyhow!("RS256 signing failed"))?;
        let sig = URL_SAFE_NO_PAD.encode(sig);
        Ok(Bytes::from(format!("{FORM_PREFIX}{input}.{sig}")))
    }
}

/// Token requests posting the prepared `bodies` once each.
/// The base URLs `url` names: one, or the nodes of one platform separated by commas, which
/// request `i` reaches round-robin (`i` modulo their number).
fn bases(url: &str) -> Vec<String> {
    url.split(',').map(str::to_owned).collect()
}

/// The first of the base URLs `url` names.
fn first_base(url: &str) -> &str {
    url.split(',').next().unwrap_or(url)
}

fn token_requests(url: &str, bodies: Vec<Bytes>) -> MakeRequest {
    let urls: Vec<String> = bases(url)
        .iter()
        .map(|b| format!("{b}/oauth2/token"))
        .collect();
    Arc::new(move |c, i| {
        let body = bodies.get(i)?.clone();
        Some(
            c.post(&urls[i % urls.len()])
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
    })
}

/// Times one run of `make` against `server`: the server's and this process's CPU time are
/// read from `/proc` just before the first request and just after the last one.
async fn measure(
    server: &Process,
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

/// The client side, shared by every server driven: one keep-alive HTTP client, one signer of
/// unique assertions, the tenant's API key and the create body, with the same connections and
/// duration for every run.
pub struct Driver {
    client: reqwest::Client,
    signer: Signer,
    api_key: String,
    create_body: Bytes,
    connections: usize,
    duration: Duration,
}

impl Driver {
    /// A driver signing assertions for `tenant`'s account, addressed to `audience`.
    pub fn new(
        tenant: &Tenant,
        audience: &str,
        create_body: Bytes,
        connections: usize,
        duration: Duration,
    ) -> Result<Driver> {
        Ok(Driver {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .timeout(Duration::from_secs(30))
                .build()?,
            signer: Signer::new(tenant, audience)?,
            api_key: tenant.api_key.clone(),
            create_body,
            connections,
            duration,
        })
    }

    /// One untimed warm-up of `make`, which must see only 2xx responses.
    async fn warm_up(&self, name: &str, collect_ids: bool, make: MakeRequest) -> Result<Outcome> {
        let warm = load::run(&self.client, self.connections, WARMUP, collect_ids, make).await;
        ensure!(
            warm.failed() == 0,
            "{name} warm-up failed: {:?}",
            warm.failures
        );
        Ok(warm)
    }

    /// Runs token issuance, process create and process get against each server in `targets`
    /// (base URL and process), interleaved — every server's token run, then every server's
    /// create run, then every server's get run — so that a machine whose speed drifts during
    /// the run weighs on all of them alike. Each run follows an untimed warm-up. The servers in
    /// `token_only` get a token run (named `token_name`) right after the others' and nothing
    /// else; their measurements come second.
    pub async fn run_interleaved(
        &mut self,
        targets: &[(&str, &Process)],
        (token_only, token_name): (&[(&str, &Process)], &'static str),
    ) -> Result<(Vec<Vec<Measured>>, Vec<Measured>)> {
        let mut tokens = Vec::new();
        for (url, server) in targets {
            eprintln!("  against {url}:");
            tokens.push(self.token(url, server, "token").await?);
        }
        let mut extra = Vec::new();
        for (url, server) in token_only {
            eprintln!("  against {url}:");
            extra.push(self.token(url, server, token_name).await?.0);
        }
        let mut creates = Vec::new();
        for ((url, server), (_, access)) in targets.iter().zip(&tokens) {
            eprintln!("  against {url}:");
            creates.push(self.create(url, server, access).await?);
        }
        let mut results = Vec::new();
        for (((url, server), (token, access)), (create, ids)) in
            targets.iter().zip(tokens).zip(creates)
        {
            eprintln!("  against {url}:");
            let get = self.get(url, server, &access, ids).await?;
            results.push(vec![token, create, get]);
        }
        Ok((results, extra))
    }

    /// Token issuance (the warm-up's rate sizes the pool of pre-signed assertions); returns the
    /// measurement and an `Authorization` value for the API calls.
    async fn token(
        &mut self,
        url: &str,
        server: &Process,
        name: &'static str,
    ) -> Result<(Measured, String)> {
        let (client, connections, duration) = (&self.client, self.connections, self.duration);
        let warm = tokio::task::block_in_place(|| self.signer.bodies(WARMUP_ASSERTIONS))?;
        let warm = self
            .warm_up("token", false, token_requests(url, warm))
            .await?;
        let want = (warm.per_sec() * duration.as_secs_f64() * 2.5) as usize + 2_000;
        let want = want.min(self.signer.left() - 1);
        eprintln!("  pre-signing {want} assertions (untimed)…");
        let bodies = tokio::task::block_in_place(|| self.signer.bodies(want))?;
        let token = measure(
            server,
            name,
            client,
            connections,
            duration,
            token_requests(url, bodies),
        )
        .await?;

        Ok((token, self.access(url).await?))
    }

    /// An `Authorization` value for the API calls: one access token from `url`.
    async fn access(&mut self, url: &str) -> Result<String> {
        let body = tokio::task::block_in_place(|| self.signer.bodies(1))?.remove(0);
        let res = self
            .client
            .post(format!("{}/oauth2/token", first_base(url)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        ensure!(res.status().is_success(), "token: {}", res.text().await?);
        let v: serde_json::Value = res.json().await?;
        Ok(format!(
            "Bearer {}",
            v["access_token"].as_str().context("access_token")?
        ))
    }

    /// Process create alone (after its warm-up), with a token of its own.
    pub async fn create_only(&mut self, url: &str, server: &Process) -> Result<Measured> {
        eprintln!("  against {url}:");
        let access = self.access(url).await?;
        Ok(self.create(url, server, &access).await?.0)
    }

    /// Process create, the same body every time (each create is a new process); returns the
    /// measurement and the ids of every process created (warm-up included).
    async fn create(
        &self,
        url: &str,
        server: &Process,
        access: &str,
    ) -> Result<(Measured, Vec<String>)> {
        let creates: MakeRequest = {
            let (api_urls, access, key) = (bases(url), access.to_string(), self.api_key.clone());
            let create_body = self.create_body.clone();
            Arc::new(move |c, i| {
                Some(
                    c.post(format!("{}/processes/v1", api_urls[i % api_urls.len()]))
                        .header("authorization", &access)
                        .header("apikey", &key)
                        .header("content-type", "application/json")
                        .body(create_body.clone()),
                )
            })
        };
        let warm = self.warm_up("create", true, creates.clone()).await?;
        let create = measure(
            server,
            "create",
            &self.client,
            self.connections,
            self.duration,
            creates,
        )
        .await?;
        let ids = warm
            .ids
            .into_iter()
            .chain(create.outcome.ids.iter().cloned())
            .collect();
        Ok((create, ids))
    }

    /// Process get, round-robin over `ids`.
    async fn get(
        &self,
        url: &str,
        server: &Process,
        access: &str,
        ids: Vec<String>,
    ) -> Result<Measured> {
        ensure!(!ids.is_empty(), "no process was created");
        let probe = self
            .client
            .get(format!("{}/processes/v1/{}", first_base(url), ids[0]))
            .header("authorization", access)
            .header("apikey", &self.api_key)
            .send()
            .await?;
        ensure!(probe.status().is_success(), "get: {}", probe.text().await?);
        let gets: MakeRequest = {
            let (api_urls, access, key) = (bases(url), access.to_string(), self.api_key.clone());
            Arc::new(move |c, i| {
                // Each node reads every process in turn (not the same half of them).
                let (nodes, api_url) = (api_urls.len(), &api_urls[i % api_urls.len()]);
                Some(
                    c.get(format!(
                        "{api_url}/processes/v1/{}",
                        ids[(i / nodes) % ids.len()]
                    ))
                    .header("authorization", &access)
                    .header("apikey", &key),
                )
            })
        };
        self.warm_up("get", false, gets.clone()).await?;
        measure(
            server,
            "get",
            &self.client,
            self.connections,
            self.duration,
            gets,
        )
        .await
    }
}
