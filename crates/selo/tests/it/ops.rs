//! Operations endpoints and the demo start (CONTRACT §14, §15).

use crate::support::{Opts, Server, selo_bin};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn livez_readyz_and_metrics() {
    let s = Server::start();
    for path in ["/livez", "/readyz"] {
        let res = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            res.headers()["selo-features"],
            "idempotency-key,fault-injection"
        );
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "ok");
    }
    s.http.get(s.url("/nope")).send().await.unwrap();
    let clock = s.http.get(s.url("/sandbox/clock")).send().await.unwrap();
    assert_eq!(clock.status(), 404, "no test clock without --manual-clock");
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "selo_http_requests_total{environment=\"sandbox\",route=\"/livez\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\",status=\"404\""),
        "{text}"
    );
}

#[tokio::test]
async fn serve_demo_provisions_once_and_prints_a_next_step() {
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(selo_bin())
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut text = String::new();
        while !text.contains("sandbox CPFs") {
            let line = lines.next().expect("serve --demo output").unwrap();
            text.push_str(&line);
            text.push('\n');
        }
        (child, text)
    };
    let (mut child, text) = start();
    let creds: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("demo/credentials.json")).unwrap())
            .unwrap();
    for field in ["url", "tenantId", "iss", "privateKeyFile", "apiKey"] {
        assert!(creds[field].is_string(), "{field} in {creds}");
    }
    assert!(text.contains(creds["url"].as_str().unwrap()), "{text}");
    assert!(text.contains("process create"), "{text}");
    assert!(
        data.path()
            .join("demo")
            .join(creds["privateKeyFile"].as_str().unwrap())
            .exists()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(data.path().join("demo/credentials.json")).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "it holds the API key"
        );
    }
    let selfie = std::fs::read(data.path().join("demo/selfie.jpg")).unwrap();
    assert_eq!(&selfie[..3], &[0xff, 0xd8, 0xff]);
    // The printed next step runs as pasted: it gets a token and creates an approved process.
    let step = text
        .lines()
        .find(|l| l.contains("process create"))
        .unwrap()
        .trim();
    let out = Command::new("sh")
        .args(["-c", step])
        .env_remove("SELO_CREDENTIALS")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{step}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved"));
    child.kill().unwrap();
    child.wait().unwrap();
    // A second start reuses the tenant and updates the URL.
    let (mut child, _) = start();
    let again: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("demo/credentials.json")).unwrap())
            .unwrap();
    assert_eq!(again["tenantId"], creds["tenantId"]);
    assert_eq!(again["apiKey"], creds["apiKey"]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn selo_features_lists_the_test_clock_only_with_the_manual_clock() {
    let s = Server::start_with(Opts {
        manual_clock: true,
        production: true,
        ..Opts::default()
    });
    let res = s.http.get(s.url("/livez")).send().await.unwrap();
    assert_eq!(
        res.headers()["selo-features"],
        "idempotency-key,fault-injection,test-clock"
    );
    let prod = format!("{}/livez", s.env("production").url);
    let res = s.http.get(prod).send().await.unwrap();
    assert_eq!(res.headers()["selo-features"], "idempotency-key");
    let clock = format!("{}/sandbox/clock", s.env("production").url);
    assert_eq!(
        s.http.get(clock).send().await.unwrap().status(),
        404,
        "no test clock on production"
    );
}

/// The SDK's `examples/onboarding.rs` runs a full onboarding against `selo serve --demo`
/// (`cargo test --workspace` builds examples before it runs tests; a narrower run skips).
#[tokio::test]
async fn the_sdk_onboarding_example_runs_against_the_demo() {
    let example = std::path::Path::new(selo_bin())
        .with_file_name("examples")
        .join("onboarding");
    if !example.exists() {
        println!(
            "SKIPPED the_sdk_onboarding_example_runs_against_the_demo: build it with cargo test --workspace"
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(selo_bin())
        .args([
            "serve",
            "--demo",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines
        .next()
        .expect("serve --demo prints its environment")
        .unwrap();
    for (cpf, code) in [("00000000191", 0), ("00000000272", 1)] {
        let out = Command::new(&example)
            .arg(data.path())
            .arg(cpf)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{cpf}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
