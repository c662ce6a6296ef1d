//! A webhook receiver on loopback: records every request and answers by a script.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One received request.
#[derive(Debug, Clone)]
pub struct Call {
    /// Headers, lower-case names.
    pub headers: HashMap<String, String>,
    /// Body.
    pub body: Vec<u8>,
}

impl Call {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    calls: Mutex<Vec<Call>>,
    script: Mutex<VecDeque<(u16, Duration)>>,
    default: Mutex<(u16, Duration)>,
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// Requests to `/token` so far.
    token_calls: AtomicUsize,
    /// The next `/token` statuses, in order (then 200).
    token_script: Mutex<VecDeque<u16>>,
}

/// A scripted token-endpoint answer that never comes.
pub const TOKEN_HANGS: u16 = 0;
/// A scripted token-endpoint answer whose headers come and whose body never ends.
pub const TOKEN_BODY_STALLS: u16 = 1;
/// A scripted token-endpoint answer of 70 KiB (over the server's 64 KiB cap).
pub const TOKEN_TOO_LARGE: u16 = 2;

/// A running receiver.
pub struct Receiver {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

async fn handle(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let mut lines = head.lines();
        let path = lines
            .next()
            .unwrap_or_default()
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[end + 4..end + 4 + len].to_vec();
        buf.drain(..end + 4 + len);
        let (status, body_out) = if path == "/token" {
            // Tokens are numbered by request: `tok-1`, `tok-2`, …
            let n = state.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
            let scripted = state.token_script.lock().unwrap().pop_front();
            match scripted {
                Some(TOKEN_HANGS) => {
                    // Never answers (the connection stays open until the test ends).
                    std::future::pending::<()>().await;
                    return;
                }
                Some(TOKEN_BODY_STALLS) => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"access_token\":";
                    let _ = stream.write_all(head.as_bytes()).await;
                    std::future::pending::<()>().await;
                    return;
                }
                Some(TOKEN_TOO_LARGE) => (
                    200,
                    format!(
                        r#"{{"access_token":"tok-{n}","padding":"{}","expires_in":3600}}"#,
                        "x".repeat(70 * 1024)
                    ),
                ),
                Some(status) => (status, "{}".to_string()),
                None => (
                    200,
                    format!(
                        r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600}}"#
                    ),
                ),
            }
        } else {
            let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
            state.max_active.fetch_max(now, Ordering::SeqCst);
            state.calls.lock().unwrap().push(Call { headers, body });
            let (status, delay) = state
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(*state.default.lock().unwrap());
            tokio::time::sleep(delay).await;
            state.active.fetch_sub(1, Ordering::SeqCst);
            (status, "{}".to_string())
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body_out}",
            body_out.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

impl Receiver {
    /// Starts a receiver on `port` (0 = any free port) answering 200 unless scripted.
    pub async fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        *state.default.lock().unwrap() = (200, Duration::ZERO);
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, s.clone()));
            }
        });
        Receiver { url, state, task }
    }

    /// Starts a receiver on a free port.
    pub async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    /// The next answers, in order (then the default).
    pub fn script(&self, answers: &[(u16, Duration)]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(answers.iter().copied());
    }

    /// The next answers of the OAuth2 token endpoint (`/token`), in order (then 200 with a
    /// new token valid 3600 s); [`TOKEN_HANGS`] never answers, [`TOKEN_BODY_STALLS`] stops
    /// inside its body, [`TOKEN_TOO_LARGE`] answers 70 KiB.
    pub fn script_tokens(&self, statuses: &[u16]) {
        self.state
            .token_script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    /// Requests to the OAuth2 token endpoint so far.
    pub fn token_calls(&self) -> usize {
        self.state.token_calls.load(Ordering::SeqCst)
    }

    /// The answer once the script is used up.
    pub fn default_answer(&self, status: u16, delay: Duration) {
        *self.state.default.lock().unwrap() = (status, delay);
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Most requests in progress at once.
    pub fn max_concurrent(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived (up to `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} webhook calls, got {}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
