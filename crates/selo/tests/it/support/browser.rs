//! A minimal WebDriver client (W3C protocol over HTTP, with the reqwest the tests already use)
//! driving headless Chromium through chromedriver.
//!
//! Without Chromium a browser test prints SKIPPED and passes on a developer's machine, and
//! fails under `CI=true` (where `.ci/run` installs `chromium` and `chromium-driver`). The
//! accessibility checks run axe-core (`SELO_AXE`: the path of its `axe.min.js`, which `.ci/run`
//! fetches, pinned, with `npm pack`).

use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How the browser should treat the camera.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Camera {
    /// A fake camera, permission granted.
    Fake,
    /// Permission denied.
    Denied,
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// Whether browser tests can run here; prints SKIPPED (or panics under CI) when not.
pub fn available(test: &str) -> bool {
    let present = Path::new(CHROMIUM).exists()
        && Path::new(CHROMEDRIVER).exists()
        && std::env::var_os("SELO_AXE").is_some();
    if !present {
        super::skipped(
            test,
            "install chromium and chromium-driver, and set SELO_AXE to axe-core's axe.min.js, to run browser tests (.ci/run does)",
        );
    }
    present
}

/// axe-core's source (`SELO_AXE`), read once.
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::env::var_os("SELO_AXE").expect("SELO_AXE (checked by available)");
        std::fs::read_to_string(path).expect("SELO_AXE is axe-core's axe.min.js")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium `width` pixels wide.
    pub async fn start(width: u32, camera: Camera) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--window-size={width},900"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        match camera {
            Camera::Fake => {
                args.push("--use-fake-device-for-media-stream".into());
                args.push("--use-fake-ui-for-media-stream".into());
            }
            Camera::Denied => {
                args.push("--use-fake-device-for-media-stream".into());
                args.push("--deny-permission-prompts".into());
            }
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {res}"))
            .to_string();
        let browser = Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        };
        // Headless windows have a minimum width; emulate the exact viewport instead.
        browser
            .cmd(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(
                    json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                        "width": width, "height": if width < 600 { 780 } else { 800 },
                        "deviceScaleFactor": 1, "mobile": width < 600
                    }}),
                ),
            )
            .await;
        browser
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs a script and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Runs an asynchronous script (it calls `arguments[arguments.length - 1]` with its value)
    /// and returns its value.
    pub async fn eval_async(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Runs axe-core (WCAG 2.0–2.2 A and AA rules) on the page as it is now and fails with
    /// the violations, if any, naming `what` was on screen.
    pub async fn assert_accessible(&self, what: &str) {
        self.eval(&format!(
            "if (!window.axe) {{ {} }} return !!window.axe;",
            axe_source()
        ))
        .await;
        let violations = self
            .eval_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
                   .then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map((n) => n.target.join(' '))}))))
                   .catch((e) => done([{id: 'axe-error', help: String(e)}]));",
            )
            .await;
        assert_eq!(
            violations,
            json!([]),
            "axe-core found accessibility violations on {what}"
        );
    }

    async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().map(String::from)
    }

    /// Waits until `css` is visible (not inside a hidden step), up to 15 s.
    pub async fn wait_visible(&self, css: &str) {
        let script = format!(
            "const e = document.querySelector({css:?}); return !!e && e.offsetParent !== null;"
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.eval(&script).await != json!(true) {
            assert!(
                Instant::now() < deadline,
                "{css} never became visible: {}",
                self.eval("return document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `script` returns true, up to 15 s.
    pub async fn wait_for(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.eval(script).await != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                self.eval("return document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.wait_visible(css).await;
        let id = self.find(css).await.unwrap();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into `css` (for a file input: the file's path).
    pub async fn send_keys(&self, css: &str, text: &str) {
        let id = self.find(css).await.unwrap_or_else(|| panic!("no {css}"));
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.eval("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Saves a PNG screenshot to `target/journey-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_default();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/journey-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async { reqwest::Client::new().delete(url).send().await.ok() });
        })
        .join();
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}
