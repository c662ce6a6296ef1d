//! Shared rig: an RSA key made at test time, a token endpoint, scripted responders and a
//! client on virtual time.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use selo_sdk::time::VirtualTime;
use selo_sdk::{Client, ClientBuilder, Credentials};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const API_KEY: &str = "sk_test_key";
pub const ISS: &str = "demo@0f7c1f9e-tenant.iam.acesso.io";

/// A PKCS#8 PEM RSA-2048 private key, generated once per test binary.
pub fn private_key_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let der: Pkcs8V1Der<'_> = pair.as_der().expect("PKCS#8");
        let b64 = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    })
}

pub fn credentials(server: &MockServer) -> Credentials {
    Credentials::from_rsa_pem(private_key_pem(), ISS, server.uri())
        .expect("credentials")
        .with_api_key(API_KEY)
}

/// A builder on virtual time, every other setting at its default.
pub fn builder(server: &MockServer, time: &VirtualTime) -> ClientBuilder {
    Client::builder(credentials(server))
        .sleeper(time.clone())
        .clock(time.clone())
}

/// Issues `tok-1`, `tok-2`, … with the given lifetime, optionally advertising `Selo-Features`.
pub struct TokenEndpoint {
    issued: AtomicUsize,
    expires_in: u64,
    features: Option<&'static str>,
}

impl Respond for TokenEndpoint {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let mut t = ResponseTemplate::new(200)
            .insert_header("request-id", format!("tokreq-{n}"))
            .set_body_json(json!({
                "access_token": format!("tok-{n}"),
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            }));
        if let Some(f) = self.features {
            t = t.insert_header("selo-features", f);
        }
        t
    }
}

pub async fn mount_token(server: &MockServer, expires_in: u64, features: Option<&'static str>) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(TokenEndpoint {
            issued: AtomicUsize::new(0),
            expires_in,
            features,
        })
        .mount(server)
        .await;
}

/// A server with a plain token endpoint (1 h tokens, no `Selo-Features`), virtual time, and
/// a client with jitter on (the default).
pub struct Rig {
    pub server: MockServer,
    pub time: VirtualTime,
}

impl Rig {
    pub async fn new() -> Rig {
        Rig::with_token(3600, None).await
    }

    pub async fn with_token(expires_in: u64, features: Option<&'static str>) -> Rig {
        let server = MockServer::start().await;
        mount_token(&server, expires_in, features).await;
        Rig {
            server,
            time: VirtualTime::default(),
        }
    }

    pub fn builder(&self) -> ClientBuilder {
        builder(&self.server, &self.time)
    }

    pub fn client(&self) -> Client {
        self.builder().build().expect("client")
    }

    /// Requests received with this method and path.
    pub async fn requests(&self, m: &str, p: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .expect("recording is on")
            .into_iter()
            .filter(|r| r.method.as_str() == m && r.url.path() == p)
            .collect()
    }

    pub async fn token_requests(&self) -> Vec<Request> {
        self.requests("POST", "/oauth2/token").await
    }
}

/// Answers with `steps` in order, then repeats the last one.
pub struct Script(Mutex<VecDeque<ResponseTemplate>>);

impl Script {
    pub fn new(steps: impl IntoIterator<Item = ResponseTemplate>) -> Script {
        let q: VecDeque<_> = steps.into_iter().collect();
        assert!(!q.is_empty(), "a script needs a step");
        Script(Mutex::new(q))
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut q = self.0.lock().expect("script lock");
        if q.len() > 1 {
            q.pop_front().expect("non-empty")
        } else {
            q.front().cloned().expect("non-empty")
        }
    }
}

/// `n` copies of `t`.
pub fn times(n: usize, t: ResponseTemplate) -> Vec<ResponseTemplate> {
    vec![t; n]
}

pub fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(error_body("99999", "boom", "srv-req"))
}

pub fn error_body(code: &str, description: &str, request_id: &str) -> Value {
    json!({"error": {"code": code, "description": description,
                     "requestId": request_id, "timestamp": "2026-01-01T00:00:00.000Z"}})
}

pub fn process_json(id: &str, status: u8, unico: &str) -> Value {
    json!({"id": id, "status": status, "unicoId": {"result": unico}})
}

pub fn ok_process(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(process_json(id, 3, "yes"))
}

/// The claims of a form-posted assertion.
pub fn assertion_of(token_request: &Request) -> (String, Value) {
    let form: Vec<(String, String)> = url_pairs(&token_request.body);
    let assertion = form
        .iter()
        .find(|(k, _)| k == "assertion")
        .map(|(_, v)| v.clone())
        .expect("assertion in the form");
    let claims = assertion.split('.').nth(1).expect("JWS payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON");
    (assertion, claims)
}

pub fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(body).expect("form is UTF-8");
    let url = reqwest::Url::parse(&format!("http://x/?{text}")).expect("form");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn header<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Asserts each delay is within ± 20 % of its nominal value.
pub fn assert_jittered(got: &[Duration], nominal: &[u64]) {
    assert_eq!(
        got.len(),
        nominal.len(),
        "delays {got:?} vs nominal {nominal:?}"
    );
    for (d, n) in got.iter().zip(nominal) {
        let (d, n) = (d.as_secs_f64(), *n as f64);
        assert!(
            d >= n * 0.8 - 1e-6 && d <= n * 1.2 + 1e-6,
            "delay {d} s outside ±20 % of {n} s (all: {got:?})"
        );
    }
}
