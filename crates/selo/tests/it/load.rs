//! Load and crash (CONTRACT §10, §14): many concurrent clients on one keep-alive HTTP client,
//! real binary, loopback only. Under load nothing is a 5xx and every acknowledged create reads
//! back; a SIGKILL in the middle of the load loses no create that was answered 2xx.

use crate::support::{Server, Tenant, images, unix_now};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// The shared helper: a rig of tenants and clients, a tally of what came back.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Create,
    Get,
    Token,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Create => "create",
            Kind::Get => "get",
            Kind::Token => "token",
        })
    }
}

/// The request mix, in tenths: a client's `i`-th request is picked by `i % 10`.
#[derive(Clone, Copy)]
struct Mix {
    creates: u64,
    gets: u64,
}

impl Mix {
    /// The kind of request number `i`; a get falls back to a create while the client has
    /// created nothing yet. Whatever is left of the ten slots is token requests.
    fn pick(self, i: u64, can_get: bool) -> Kind {
        match i % 10 {
            s if s < self.creates => Kind::Create,
            s if s < self.creates + self.gets => {
                if can_get {
                    Kind::Get
                } else {
                    Kind::Create
                }
            }
            _ => Kind::Token,
        }
    }
}

/// One tenant as the clients use it.
struct Account {
    tenant: Tenant,
    token: String,
    key: jsonwebtoken::EncodingKey,
}

/// A response, read whole.
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn read(res: reqwest::Response) -> reqwest::Result<Reply> {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("<not ascii>").to_string());
    let bytes = res.bytes().await?;
    Ok(Reply {
        status,
        retry_after,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

/// A create that was answered 2xx.
struct Created {
    account: usize,
    id: String,
    body: Value,
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    /// (kind, status) → count.
    responses: BTreeMap<(Kind, u16), u64>,
    /// Every 2xx create.
    created: Vec<Created>,
    /// Everything the test must fail on.
    problems: Vec<String>,
    /// Transport errors after the server was killed (expected).
    cut_off: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, n) in other.responses {
            *self.responses.entry(k).or_default() += n;
        }
        self.created.extend(other.created);
        self.problems.extend(other.problems);
        self.cut_off += other.cut_off;
    }

    fn count(&self, kind: Kind) -> u64 {
        self.responses
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    fn count_status(&self, pred: impl Fn(u16) -> bool) -> u64 {
        self.responses
            .iter()
            .filter(|((_, s), _)| pred(*s))
            .map(|(_, n)| n)
            .sum()
    }

    fn assert_no_problems(&self) {
        assert!(
            self.problems.is_empty(),
            "{} problem(s) under load; first ones:\n{}",
            self.problems.len(),
            self.problems
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Everything the client tasks share.
struct Rig {
    http: reqwest::Client,
    url: String,
    audience: String,
    /// One 640×480 JPEG, base64, for every create.
    selfie: String,
    accounts: Vec<Account>,
    mix: Mix,
    deadline: Instant,
    stop: AtomicBool,
    killed: AtomicBool,
    references: AtomicU64,
    assertions: AtomicU64,
    /// Unix time the assertions count back from.
    assertion_base: i64,
}

impl Rig {
    /// Provisions `tenants` sandbox tenants (no rate limit) with a token each.
    async fn new(s: &Server, tenants: usize, mix: Mix, run_for: Duration) -> Rig {
        let mut accounts = Vec::new();
        for _ in 0..tenants {
            let tenant = s.tenant();
            let token = s.token(&tenant).await;
            let pem = std::fs::read(&tenant.key_path).unwrap();
            let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
            accounts.push(Account { tenant, token, key });
        }
        Rig {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            url: s.sandbox().url.clone(),
            audience: s.sandbox().audience.clone(),
            selfie: images::selfie(),
            accounts,
            mix,
            deadline: Instant::now() + run_for,
            stop: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            references: AtomicU64::new(0),
            assertions: AtomicU64::new(0),
            assertion_base: unix_now(),
        }
    }

    /// A never-repeated assertion: number `k` has `iat = base − k % 1000` and a lifetime of
    /// `3599 − k / 1000` s, so no two share (iat, exp), none is in the future, none outlives
    /// 3600 s, and none collides with the rig's `Tenant::claims` (lifetime exactly 3600 s).
    fn assertion(&self, a: &Account) -> String {
        let k = self.assertions.fetch_add(1, Ordering::Relaxed) as i64;
        let iat = self.assertion_base - k % 1000;
        let exp = iat + 3599 - k / 1000;
        let claims = json!({"iss": a.tenant.iss, "aud": self.audience, "scope": "*", "iat": iat, "exp": exp});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
        );
        let sig =
            jsonwebtoken::crypto::sign(input.as_bytes(), &a.key, jsonwebtoken::Algorithm::RS256)
                .unwrap();
        format!("{input}.{sig}")
    }

    async fn create(&self, a: &Account, token: &str) -> reqwest::Result<Reply> {
        let reference = format!("load-{}", self.references.fetch_add(1, Ordering::Relaxed));
        let body = json!({
            "subject": {"code": "00000000191", "name": "Maria Silva", "clientReference": reference},
            "imageBase64": self.selfie,
        });
        let res = self
            .http
            .post(format!("{}/processes/v1", self.url))
            .header("authorization", format!("Bearer {token}"))
            .header("apikey", &a.tenant.api_key)
            .json(&body)
            .send()
            .await?;
        read(res).await
    }

    async fn token(&self, a: &Account) -> reqwest::Result<Reply> {
        let assertion = self.assertion(a);
        let res = self
            .http
            .post(format!("{}/oauth2/token", self.url))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ])
            .send()
            .await?;
        read(res).await
    }

    /// Starts `n` clients, round-robin over the tenants.
    fn spawn(self: &Arc<Rig>, n: usize) -> Vec<JoinHandle<Tally>> {
        (0..n)
            .map(|c| tokio::spawn(client(self.clone(), c)))
            .collect()
    }
}

/// `GET /processes/v1/{id}` at `url`.
async fn get(
    http: &reqwest::Client,
    url: &str,
    t: &Tenant,
    token: &str,
    id: &str,
) -> reqwest::Result<Reply> {
    let res = http
        .get(format!("{url}/processes/v1/{id}"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .send()
        .await?;
    read(res).await
}

/// One client: requests one after another until the deadline or the stop flag.
async fn client(rig: Arc<Rig>, c: usize) -> Tally {
    let n = c % rig.accounts.len();
    let a = &rig.accounts[n];
    let mut token = a.token.clone();
    let mut mine: Vec<String> = Vec::new();
    let mut tally = Tally::default();
    // Start each client at another slot so that they do not move in lockstep.
    let mut i = c as u64;
    while !rig.stop.load(Ordering::SeqCst) && Instant::now() < rig.deadline {
        let kind = rig.mix.pick(i, !mine.is_empty());
        let wanted = (kind == Kind::Get).then(|| mine[(i as usize / 10) % mine.len()].clone());
        i += 1;
        let sent = match kind {
            Kind::Create => rig.create(a, &token).await,
            Kind::Get => {
                get(
                    &rig.http,
                    &rig.url,
                    &a.tenant,
                    &token,
                    wanted.as_deref().unwrap(),
                )
                .await
            }
            Kind::Token => rig.token(a).await,
        };
        let reply = match sent {
            Ok(r) => r,
            Err(_) if rig.killed.load(Ordering::SeqCst) => {
                tally.cut_off += 1;
                continue;
            }
            Err(e) => {
                tally
                    .problems
                    .push(format!("{kind}: transport error: {e:?}"));
                continue;
            }
        };
        *tally.responses.entry((kind, reply.status)).or_default() += 1;
        match reply.status {
            200..=299 => match kind {
                Kind::Create => match reply.body["id"].as_str() {
                    Some(id) => {
                        mine.push(id.to_string());
                        tally.created.push(Created {
                            account: n,
                            id: id.to_string(),
                            body: reply.body,
                        });
                    }
                    None => tally
                        .problems
                        .push(format!("create: 2xx without an id: {}", reply.body)),
                },
                Kind::Get => {
                    if reply.body["id"].as_str() != wanted.as_deref() {
                        tally.problems.push(format!(
                            "get {}: another process answered: {}",
                            wanted.unwrap(),
                            reply.body
                        ));
                    }
                }
                Kind::Token => match reply.body["access_token"].as_str() {
                    Some(t) => token = t.to_string(),
                    None => tally
                        .problems
                        .push(format!("token: 2xx without access_token: {}", reply.body)),
                },
            },
            429 => {
                // Allowed by the contract only with a whole number of seconds to wait.
                let ok = reply
                    .retry_after
                    .as_deref()
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|s| s >= 1);
                if !ok {
                    tally.problems.push(format!(
                        "{kind}: 429 without an integer Retry-After ({:?}): {}",
                        reply.retry_after, reply.body
                    ));
                }
            }
            status => tally
                .problems
                .push(format!("{kind}: {status}: {}", reply.body)),
        }
    }
    tally
}

async fn join(handles: Vec<JoinHandle<Tally>>) -> Tally {
    let mut all = Tally::default();
    for h in handles {
        all.merge(h.await.expect("client task"));
    }
    all
}

/// Reads every created process back from `url` (16 at a time) and returns what differs from
/// the create's answer in `id`, `status` or `unicoId`.
async fn read_back(
    http: &reqwest::Client,
    url: &str,
    tenants: &[(Tenant, String)],
    created: &[Created],
) -> Vec<String> {
    let created: Arc<Vec<(usize, String, Value)>> = Arc::new(
        created
            .iter()
            .map(|c| (c.account, c.id.clone(), c.body.clone()))
            .collect(),
    );
    let tenants = Arc::new(tenants.to_vec());
    const WORKERS: usize = 16;
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (http, url, tenants, created) = (
                http.clone(),
                url.to_string(),
                tenants.clone(),
                created.clone(),
            );
            tokio::spawn(async move {
                let mut wrong = Vec::new();
                for (n, id, acked) in created.iter().skip(w).step_by(WORKERS) {
                    let (t, token) = &tenants[*n];
                    match get(&http, &url, t, token, id).await {
                        Ok(r) if r.status == 200 => {
                            for field in ["id", "status", "unicoId"] {
                                if r.body[field] != acked[field] {
                                    wrong.push(format!(
                                        "{id}: {field} {} after, {} when created",
                                        r.body[field], acked[field]
                                    ));
                                }
                            }
                        }
                        Ok(r) => wrong.push(format!("{id}: GET {}: {}", r.status, r.body)),
                        Err(e) => wrong.push(format!("{id}: GET failed: {e:?}")),
                    }
                }
                wrong
            })
        })
        .collect();
    let mut wrong = Vec::new();
    for w in workers {
        wrong.extend(w.await.expect("read-back task"));
    }
    wrong
}

fn assert_all_read_back(wrong: &[String], of: usize) {
    assert!(
        wrong.is_empty(),
        "{} of {of} acknowledged creates did not read back; first ones:\n{}",
        wrong.len(),
        wrong
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn load_seconds() -> u64 {
    std::env::var("SELO_LOAD_SECONDS")
        .ok()
        .map(|v| v.parse().expect("SELO_LOAD_SECONDS is a whole number"))
        .unwrap_or(30)
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_from_64_clients_across_3_tenants() {
    let s = Server::start();
    let seconds = load_seconds();
    let rig = Arc::new(
        Rig::new(
            &s,
            3,
            Mix {
                creates: 5,
                gets: 4,
            },
            Duration::from_secs(seconds),
        )
        .await,
    );
    let started = Instant::now();
    let tally = join(rig.spawn(64)).await;
    let elapsed = started.elapsed().as_secs_f64();

    let per_sec = |k: Kind| tally.count(k) as f64 / elapsed;
    println!(
        "load: {elapsed:.1} s, 64 clients, 3 tenants: create {:.0}/s, get {:.0}/s, token {:.0}/s, \
         total {:.0}/s; 2xx creates {}; by kind and status {:?}",
        per_sec(Kind::Create),
        per_sec(Kind::Get),
        per_sec(Kind::Token),
        (tally.count(Kind::Create) + tally.count(Kind::Get) + tally.count(Kind::Token)) as f64
            / elapsed,
        tally.created.len(),
        tally.responses
    );

    tally.assert_no_problems();
    assert_eq!(tally.count_status(|s| s >= 500), 0, "no 5xx");
    assert_eq!(
        tally.count_status(|s| s == 429),
        0,
        "the tenants have no rate limit (--rate-limit 0)"
    );
    assert!(
        tally.count(Kind::Create) > 0 && tally.count(Kind::Get) > 0 && tally.count(Kind::Token) > 0,
        "every kind of request ran: {:?}",
        tally.responses
    );

    let tenants: Vec<_> = rig
        .accounts
        .iter()
        .map(|a| (a.tenant.clone(), a.token.clone()))
        .collect();
    let wrong = read_back(&rig.http, &rig.url, &tenants, &tally.created).await;
    assert_all_read_back(&wrong, tally.created.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_acknowledged_create() {
    let mut s = Server::start();
    let rig = Arc::new(
        Rig::new(
            &s,
            2,
            Mix {
                creates: 6,
                gets: 4,
            },
            // A bound only: the kill stops the clients long before.
            Duration::from_secs(120),
        )
        .await,
    );
    let clients = rig.spawn(24);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // From here on a transport error is the kill, not a failure.
    rig.killed.store(true, Ordering::SeqCst);
    s.kill9();
    rig.stop.store(true, Ordering::SeqCst);
    let tally = join(clients).await;
    println!(
        "crash: {} creates acknowledged before SIGKILL, {} requests cut off; by kind and status {:?}",
        tally.created.len(),
        tally.cut_off,
        tally.responses
    );
    tally.assert_no_problems();
    assert!(
        tally.created.len() >= 10,
        "the load acknowledged creates before the kill"
    );

    // Restart on the same data directory (a new port); everything acknowledged is there.
    s.restart();
    let mut tenants = Vec::new();
    for a in &rig.accounts {
        tenants.push((a.tenant.clone(), s.token(&a.tenant).await));
    }
    let wrong = read_back(&s.http, &s.sandbox().url, &tenants, &tally.created).await;
    assert_all_read_back(&wrong, tally.created.len());

    // The store, with the server stopped: intact, holding every acknowledged row and selfie.
    s.kill9();
    if s.database.is_none() {
        let integrity = s.sql_text("PRAGMA integrity_check", &[]);
        assert_eq!(integrity.as_deref(), Some("ok"));
    }
    let rows: i64 = s
        .sql_text("SELECT COUNT(*) FROM processes", &[])
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        rows >= tally.created.len() as i64,
        "{rows} process rows for {} acknowledged creates",
        tally.created.len()
    );
    let jpeg = images::jpeg(640, 480);
    for c in &tally.created {
        let tenant = &rig.accounts[c.account].tenant;
        let bytes = s
            .blob(&format!("{}/{}.selfie", tenant.id, c.id))
            .unwrap_or_else(|| panic!("no selfie of acknowledged {}", c.id));
        assert!(bytes == jpeg, "selfie of {} is not the image sent", c.id);
    }
    // Selfies are written before their row commits, so a kill may leave a few files without a
    // row (or a `.tmp`): harmless, reported for the record.
    let files: usize = rig
        .accounts
        .iter()
        .map(|a| s.blob_keys(&a.tenant.id).len())
        .sum();
    println!("crash: {rows} process rows, {files} blob files after restart");
}
