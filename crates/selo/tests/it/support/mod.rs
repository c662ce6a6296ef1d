//! The test rig: a running server, admin commands, tenants, signed assertions and images.

pub mod blobs;
pub mod browser;
mod db;
pub mod images;
pub mod raw;
pub mod receiver;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The selo binary under test.
pub fn selo_bin() -> &'static str {
    env!("CARGO_BIN_EXE_selo")
}

/// A test that needs something this machine lacks: prints `SKIPPED {test}: {why}` here, and
/// fails under `CI=true`, where `.ci/run` installs everything.
pub fn skipped(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} cannot be skipped under CI: {why}"
    );
    println!("SKIPPED {test}: {why}");
}

/// A `selo` command whose client token cache (`SELO_TOKEN_CACHE`) is this test run's own
/// folder, never the developer's `~/.cache/selo`.
pub fn selo_command() -> Command {
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let mut cmd = Command::new(selo_bin());
    cmd.env(
        "SELO_TOKEN_CACHE",
        CACHE.get_or_init(|| tempfile::tempdir().unwrap()).path(),
    );
    cmd
}

/// Options for starting a server.
#[derive(Default, Clone)]
pub struct Opts {
    /// Add a production environment.
    pub production: bool,
    /// `--manual-clock`.
    pub manual_clock: bool,
    /// Extra flags.
    pub extra: Vec<String>,
    /// Where the server's log (stderr) goes (`None`: discarded).
    pub log: Option<std::path::PathBuf>,
    /// Run on this PostgreSQL database whatever `SELO_TEST_DATABASE` says.
    pub postgres: Option<std::sync::Arc<selo_store::postgres::scratch::ScratchDatabase>>,
    /// Keep images in this bucket (S3 server, bucket: [`blobs::new_bucket`]) whatever
    /// `SELO_TEST_BLOBS` says.
    pub s3: Option<(String, String)>,
    /// Run on the data directory's SQLite database and files whatever `SELO_TEST_DATABASE` and
    /// `SELO_TEST_BLOBS` say (a test of moving between the stores).
    pub embedded: bool,
}

/// A fresh PostgreSQL database on the server `SELO_TEST_POSTGRES` names (default: the one on
/// 127.0.0.1:5432), or `None` after printing SKIPPED for `test` where there is none (a failure
/// under `CI=true`).
pub fn postgres_database(test: &str) -> Option<selo_store::postgres::scratch::ScratchDatabase> {
    let server = std::env::var("SELO_TEST_POSTGRES")
        .unwrap_or_else(|_| selo_store::postgres::scratch::DEFAULT_SERVER.into());
    match selo_store::postgres::scratch::ScratchDatabase::create(&server) {
        Ok(database) => Some(database),
        Err(e) => {
            skipped(test, &format!("no PostgreSQL server at {server} ({e})"));
            None
        }
    }
}

/// A fresh database on the PostgreSQL server with pgvector that `SELO_TEST_PGVECTOR` names
/// (`.ci/run` starts one), or `None` after printing SKIPPED for `test` (a failure under
/// `CI=true`).
pub fn pgvector_database(test: &str) -> Option<selo_store::postgres::scratch::ScratchDatabase> {
    let Ok(server) = std::env::var("SELO_TEST_PGVECTOR") else {
        skipped(
            test,
            "no PostgreSQL server with pgvector (set SELO_TEST_PGVECTOR)",
        );
        return None;
    };
    match selo_store::postgres::scratch::ScratchDatabase::create(&server) {
        Ok(database) => Some(database),
        Err(e) => panic!("SELO_TEST_PGVECTOR: {server}: {e}"),
    }
}

/// One environment's line from `serve --json`.
#[derive(Debug, Clone)]
pub struct Env {
    pub name: String,
    pub url: String,
    pub audience: String,
}

/// The database every test server runs on: the data directory's SQLite file, or, with
/// `SELO_TEST_DATABASE=postgres`, a fresh PostgreSQL database of its own on the server
/// `SELO_TEST_POSTGRES` names (default: the one on 127.0.0.1:5432), so that the whole suite
/// runs on either backend.
fn test_database() -> Option<std::sync::Arc<selo_store::postgres::scratch::ScratchDatabase>> {
    match std::env::var("SELO_TEST_DATABASE").as_deref() {
        Ok("postgres") => {
            let server = std::env::var("SELO_TEST_POSTGRES")
                .unwrap_or_else(|_| selo_store::postgres::scratch::DEFAULT_SERVER.into());
            Some(std::sync::Arc::new(
                selo_store::postgres::scratch::ScratchDatabase::create(&server)
                    .unwrap_or_else(|e| panic!("SELO_TEST_DATABASE=postgres: {server}: {e}")),
            ))
        }
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("SELO_TEST_DATABASE is `sqlite` or `postgres`, not `{other}`"),
    }
}

/// Whether the suite runs on PostgreSQL (`SELO_TEST_DATABASE=postgres`): the few tests of what
/// only the data directory's database does (a full disk under it) do not apply.
pub fn suite_on_postgres() -> bool {
    std::env::var("SELO_TEST_DATABASE").as_deref() == Ok("postgres")
}

/// A running `selo serve`, killed on drop.
pub struct Server {
    pub data: tempfile::TempDir,
    /// The server's PostgreSQL database, when the suite runs on PostgreSQL (dropped after the
    /// server).
    pub database: Option<std::sync::Arc<selo_store::postgres::scratch::ScratchDatabase>>,
    /// The S3 server and bucket holding the server's images, when not the data directory.
    pub s3: Option<(String, String)>,
    child: Option<Child>,
    pub envs: Vec<Env>,
    opts: Opts,
    pub http: reqwest::Client,
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Server {
        Server::start_with(Opts::default())
    }

    /// Starts a server whose clock stands still until [`Server::advance`] moves it.
    pub fn start_manual_clock() -> Server {
        Server::start_with(Opts {
            manual_clock: true,
            ..Opts::default()
        })
    }

    /// Starts a server with these extra `serve` flags.
    pub fn start_with_flags(flags: &[&str]) -> Server {
        Server::start_with(Opts {
            extra: flags.iter().map(|f| f.to_string()).collect(),
            ..Opts::default()
        })
    }

    /// Starts a server with options.
    pub fn start_with(opts: Opts) -> Server {
        Server::start_in(tempfile::tempdir().expect("tempdir"), opts)
    }

    /// Starts a server with options on the data directory `data` (a test may mount something
    /// there first).
    pub fn start_in(data: tempfile::TempDir, opts: Opts) -> Server {
        let mut s = Server {
            data,
            database: opts
                .postgres
                .clone()
                .or_else(|| test_database().filter(|_| !opts.embedded)),
            s3: opts
                .s3
                .clone()
                .or_else(|| (blobs::suite_on_s3() && !opts.embedded).then(blobs::new_bucket)),
            child: None,
            envs: vec![],
            opts,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(selo_bin());
        cmd.args(["serve", "--json", "--listen", "127.0.0.1:0", "--data"])
            .arg(self.data.path());
        self.on_database(&mut cmd);
        self.on_blobs(&mut cmd);
        if self.opts.production {
            cmd.args(["--production-listen", "127.0.0.1:0"]);
        }
        if self.opts.manual_clock {
            cmd.arg("--manual-clock");
        }
        cmd.args(&self.opts.extra);
        let log = match &self.opts.log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::null(),
        };
        cmd.stdout(Stdio::piped()).stderr(log).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn selo serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let want = if self.opts.production { 2 } else { 1 };
        let mut envs = Vec::new();
        while envs.len() < want {
            let line = lines
                .next()
                .expect("serve exited before printing its environments")
                .unwrap();
            let v: Value = serde_json::from_str(&line).expect("serve --json line");
            envs.push(Env {
                name: v["environment"].as_str().unwrap().into(),
                url: v["publicUrl"].as_str().unwrap().into(),
                audience: v["audience"].as_str().unwrap().into(),
            });
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
        self.envs = envs;
    }

    /// Sends SIGTERM (a graceful shutdown) and waits up to `within` for the server to exit;
    /// returns its exit code (`None` if it had not exited, or died of a signal).
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .ok()?;
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the server with SIGKILL (no graceful shutdown).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// Starts the server again on the same data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The sandbox environment.
    pub fn sandbox(&self) -> &Env {
        self.env("sandbox")
    }

    /// An environment by name.
    pub fn env(&self, name: &str) -> &Env {
        self.envs
            .iter()
            .find(|e| e.name == name)
            .expect("environment")
    }

    /// A new Magic Link of `t` (`POST /v2/magic-link`); its token.
    pub async fn magic_link(&self, t: &Tenant) -> String {
        let link: Value = self
            .http
            .post(self.url("/v2/magic-link"))
            .header("x-api-key", &t.api_key)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        link["data"]["token"].as_str().expect("a link token").into()
    }

    /// Captures the sandbox selfie on the Magic Link `token`'s journey.
    pub async fn capture_link(&self, token: &str) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/journey/v1/link/{token}/capture")))
            .json(&serde_json::json!({"imageBase64": images::selfie()}))
            .send()
            .await
            .unwrap()
    }

    /// `{sandbox url}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sandbox().url, path)
    }

    /// Runs `selo admin ARGS --json` on this data dir; panics unless it succeeds.
    pub fn admin(&self, args: &[&str]) -> Value {
        let out = self.admin_raw(args);
        assert!(
            out.status.success(),
            "selo admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("admin --json output")
    }

    /// The delivery log entry of `process`'s webhook event once `done` holds for it (the
    /// receiver sees a call before the server records its answer), within 10 s.
    pub async fn delivery_when(
        &self,
        t: &Tenant,
        process: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.admin(&[
                "webhook",
                "deliveries",
                "--tenant",
                &t.id,
                "--process",
                process,
            ]);
            if done(&log[0]) {
                return log[0].clone();
            }
            assert!(std::time::Instant::now() < deadline, "still: {log}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The delivery log entry of `process`'s webhook event once it is delivered.
    pub async fn delivered(&self, t: &Tenant, process: &str) -> Value {
        self.delivery_when(t, process, |e| e["status"] == "delivered")
            .await
    }

    /// A second key for `t`'s account (`account add-key`): `t` signing with it.
    pub fn add_key(&self, t: &Tenant, name: &str) -> Tenant {
        let key_path = self.data.path().join(format!("{name}.pem"));
        let added = self.admin(&[
            "account",
            "add-key",
            "--tenant",
            &t.id,
            "acct",
            "--key-out",
            key_path.to_str().unwrap(),
        ]);
        Tenant {
            key_path,
            key_id: added["keyId"].as_str().unwrap().into(),
            ..t.clone()
        }
    }

    /// Revokes the key `t` signs with (`account revoke-key`).
    pub fn revoke_key(&self, t: &Tenant) {
        self.admin(&[
            "account",
            "revoke-key",
            "--tenant",
            &t.id,
            "acct",
            "--key-id",
            &t.key_id,
        ]);
    }

    /// Runs `selo admin ARGS --json` and returns the raw output.
    pub fn admin_raw(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(selo_bin());
        cmd.arg("admin")
            .args(args)
            .arg("--json")
            .arg("--data")
            .arg(self.data.path());
        self.on_database(&mut cmd);
        self.on_blobs(&mut cmd);
        cmd.output().expect("run selo admin")
    }

    /// Points a `selo` command at this server's bucket (`SELO_BLOBS` and the `AWS_*`
    /// variables), when its images are not in the data directory.
    pub fn on_blobs(&self, cmd: &mut Command) {
        if let Some((endpoint, bucket)) = &self.s3 {
            blobs::on_bucket(cmd, endpoint, bucket);
        }
    }

    /// Points a `selo` command at this server's database (`SELO_DATABASE`), when it is not the
    /// data directory's.
    pub fn on_database(&self, cmd: &mut Command) {
        if let Some(database) = &self.database {
            cmd.env("SELO_DATABASE", database.url());
        }
    }

    /// A new tenant in `env` with one account (`acct`) and an API key with every capability,
    /// without a rate limit (rate-limit tests set their own).
    pub fn tenant_in(&self, env: &str) -> Tenant {
        let t = self.admin(&[
            "tenant",
            "create",
            "Acme",
            "--env",
            env,
            "--rate-limit",
            "0",
        ]);
        let tenant_id = t["tenantId"].as_str().unwrap().to_string();
        let key = self.data.path().join(format!("{tenant_id}.pem"));
        let a = self.admin(&[
            "account",
            "create",
            "--tenant",
            &tenant_id,
            "acct",
            "--key-out",
            key.to_str().unwrap(),
        ]);
        let k = self.admin(&[
            "apikey",
            "create",
            "--tenant",
            &tenant_id,
            "--capabilities",
            "liveness,identity,riskscore,behavioralert,validation,documents,age,selfie,magiclink",
        ]);
        Tenant {
            id: tenant_id,
            iss: a["iss"].as_str().unwrap().into(),
            key_id: a["keyId"].as_str().unwrap().into(),
            key_path: key,
            api_key: k["apiKey"].as_str().unwrap().into(),
            env: env.into(),
        }
    }

    /// Writes a credentials file for `t` (the demo format) and returns its path.
    pub fn credentials_file(&self, t: &Tenant) -> PathBuf {
        let path = self.data.path().join(format!("{}-credentials.json", t.id));
        let body = json!({
            "url": self.env(&t.env).url,
            "tenantId": t.id,
            "iss": t.iss,
            "privateKeyFile": t.key_path.file_name().unwrap().to_str().unwrap(),
            "apiKey": t.api_key,
        });
        std::fs::write(&path, serde_json::to_vec(&body).unwrap()).unwrap();
        path
    }

    /// Writes a 640×480 selfie JPEG into the data directory and returns its path.
    pub fn selfie_file(&self) -> PathBuf {
        let path = self.data.path().join("selfie.jpg");
        std::fs::write(&path, images::jpeg(640, 480)).unwrap();
        path
    }

    /// A new sandbox tenant.
    pub fn tenant(&self) -> Tenant {
        self.tenant_in("sandbox")
    }

    /// An API key of `tenant` with these capabilities.
    pub fn api_key(&self, tenant: &Tenant, caps: &str) -> String {
        let k = self.admin(&[
            "apikey",
            "create",
            "--tenant",
            &tenant.id,
            "--capabilities",
            caps,
        ]);
        k["apiKey"].as_str().unwrap().into()
    }

    /// POSTs a token request form to `env`.
    pub async fn token_form(&self, env: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/oauth2/token", self.env(env).url))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Exchanges `assertion` at `env`'s token endpoint.
    pub async fn exchange(&self, env: &str, assertion: &str) -> (u16, Value) {
        self.token_form(
            env,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion),
            ],
        )
        .await
    }

    /// A valid access token for `tenant` (assertions dated by the server's clock when it is
    /// manual, so tokens can be had after the clock was moved forward).
    pub async fn token(&self, tenant: &Tenant) -> String {
        let env = self.env(&tenant.env);
        let now = if self.opts.manual_clock {
            self.now().await
        } else {
            unix_now()
        };
        let assertion = tenant.assertion_at(&env.audience, now);
        let (status, body) = self.exchange(&tenant.env, &assertion).await;
        assert_eq!(status, 200, "token: {body}");
        body["access_token"].as_str().unwrap().into()
    }

    /// `POST /processes/v1` for `tenant` with a 640×480 selfie and `cpf`: the response body.
    pub async fn api_process(&self, tenant: &Tenant, token: &str, cpf: &str) -> Value {
        self.http
            .post(self.url("/processes/v1"))
            .header("authorization", format!("Bearer {token}"))
            .header("apikey", &tenant.api_key)
            .json(&json!({"subject": {"code": cpf, "name": "Maria Silva"}, "imageBase64": images::selfie()}))
            .send_json()
            .await
    }

    /// `GET /processes/v1/{id}` of `tenant`'s process (a `Value` holding the id, or the id).
    pub async fn get_process(&self, tenant: &Tenant, token: &str, id: &Value) -> reqwest::Response {
        let id = id.as_str().unwrap();
        self.http
            .get(self.url(&format!("/processes/v1/{id}")))
            .header("authorization", format!("Bearer {token}"))
            .header("apikey", &tenant.api_key)
            .send()
            .await
            .unwrap()
    }

    /// `POST /client/v1/process` (flow `id`, callback `/`) for `cpf`: the `process` object.
    pub async fn web_process(&self, token: &str, cpf: &str) -> Value {
        let v: Value = self
            .http
            .post(self.url("/client/v1/process"))
            .header("authorization", format!("Bearer {token}"))
            .json(
                &json!({"callbackUri": "/", "flow": "id", "purpose": "biometryonboarding",
                          "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": cpf}}),
            )
            .send_json()
            .await;
        v["process"].clone()
    }

    /// Completes a Web & SDK process's journey with a 640×480 selfie: the HTTP status.
    pub async fn complete_journey(&self, process: &Value) -> u16 {
        self.capture(process, &images::selfie())
            .await
            .status()
            .as_u16()
    }

    /// Submits the journey's capture of `process` (the `process` object of a Web & SDK
    /// create) as the journey page does: the process token in its header, the base64 image in
    /// the body.
    pub async fn capture(&self, process: &Value, image_base64: &str) -> reqwest::Response {
        let id = process["id"].as_str().unwrap();
        self.http
            .post(self.url(&format!("/journey/v1/process/{id}/capture")))
            .header(
                "selo-journey-token",
                process["token"].as_str().unwrap_or_default(),
            )
            .json(&json!({"imageBase64": image_base64}))
            .send()
            .await
            .unwrap()
    }

    /// The sandbox listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Advances the manual clock.
    pub async fn advance(&self, seconds: i64) {
        let res = self
            .http
            .post(self.url("/sandbox/clock"))
            .json(&json!({"advanceSeconds": seconds}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    /// The server's clock (manual clock only).
    pub async fn now(&self) -> i64 {
        let v: Value = self.http.get(self.url("/sandbox/clock")).send_json().await;
        v["unix"].as_i64().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Sends a request and reads its JSON body (panicking on a transport error or a body that is
/// not JSON): the tail of most test requests.
pub trait SendJson {
    /// See the trait.
    fn send_json(self) -> impl std::future::Future<Output = Value>;
}

impl SendJson for reqwest::RequestBuilder {
    async fn send_json(self) -> Value {
        self.send().await.unwrap().json().await.unwrap()
    }
}

/// A provisioned tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub iss: String,
    pub key_id: String,
    pub key_path: PathBuf,
    pub api_key: String,
    pub env: String,
}

/// Unix seconds now (real clock).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Tenant {
    /// The standard claims, valid now for `aud`. RS256 signatures are deterministic, so each
    /// call takes an `iat` this account has not used yet (a repeat would be a replay).
    pub fn claims(&self, aud: &str) -> Value {
        self.claims_at(aud, unix_now())
    }

    /// The standard claims for `aud`, dated `now` or, when this account already used that
    /// `iat`, the latest second before it that it has not (so no two calls in the test process
    /// ever sign byte-identical assertions).
    pub fn claims_at(&self, aud: &str, now: i64) -> Value {
        static USED: Mutex<BTreeMap<String, BTreeSet<i64>>> = Mutex::new(BTreeMap::new());
        let iat = {
            let mut used = USED.lock().unwrap_or_else(|p| p.into_inner());
            let taken = used.entry(self.iss.clone()).or_default();
            let mut iat = now;
            while taken.contains(&iat) {
                iat -= 1;
            }
            taken.insert(iat);
            iat
        };
        json!({"iss": self.iss, "aud": aud, "scope": "*", "iat": iat, "exp": iat + 3600})
    }

    /// A valid assertion for `aud`.
    pub fn assertion(&self, aud: &str) -> String {
        sign_rs256(
            &self.key_path,
            &json!({"alg": "RS256", "typ": "JWT"}),
            &self.claims(aud),
        )
    }

    /// An assertion for `aud` issued at `now` (a manual clock's time).
    pub fn assertion_at(&self, aud: &str, now: i64) -> String {
        self.assertion_with(&self.claims_at(aud, now))
    }

    /// An assertion with exactly `claims`.
    pub fn assertion_with(&self, claims: &Value) -> String {
        sign_rs256(
            &self.key_path,
            &json!({"alg": "RS256", "typ": "JWT"}),
            claims,
        )
    }
}

/// Signs `header.claims` with the RSA private key PEM at `key` (RS256), whatever the header says.
pub fn sign_rs256(key: &Path, header: &Value, claims: &Value) -> String {
    let pem = std::fs::read(key).unwrap();
    let enc = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &enc, jsonwebtoken::Algorithm::RS256).unwrap();
    format!("{input}.{sig}")
}
