//! Operations endpoints and the demo start (CONTRACT §14, §15).

use crate::support::{Opts, Server, selo_bin, selo_command};
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
    let text = s.metrics().await;
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
        let mut child = selo_command()
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
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .args(["-c", step])
        .env_remove("SELO_CREDENTIALS")
        .env("SELO_TOKEN_CACHE", cache.path())
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
    let s = Server::start_manual_clock();
    let res = s.http.get(s.url("/livez")).send().await.unwrap();
    assert_eq!(
        res.headers()["selo-features"],
        "idempotency-key,fault-injection,test-clock"
    );
    let s = Server::start_with(Opts {
        production: true,
        ..Opts::default()
    });
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

/// CONTRACT §19: production's clock is never the test rig's, so the two flags cannot meet.
#[test]
fn the_manual_clock_with_a_production_listener_exits_2() {
    let data = tempfile::tempdir().unwrap();
    let out = selo_command()
        .args(["serve", "--manual-clock", "--listen", "127.0.0.1:0"])
        .args(["--production-listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--manual-clock") && err.contains("--production-listen"),
        "{err}"
    );
}

/// CONTRACT §19: `advanceSeconds` is 0..=315 360 000 and the clock never goes backwards.
#[tokio::test]
async fn the_manual_clock_refuses_advances_out_of_range() {
    let s = Server::start_manual_clock();
    let before = s.now().await;
    for bad in [
        serde_json::json!(-1),
        serde_json::json!(315_360_001),
        serde_json::json!(i64::MAX),
        serde_json::json!(1.5),
        serde_json::json!("60"),
    ] {
        let res = s
            .http
            .post(s.url("/sandbox/clock"))
            .json(&serde_json::json!({"advanceSeconds": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["fields"][0]["field"], "advanceSeconds", "{v}");
        assert!(
            v["error"]["description"]
                .as_str()
                .unwrap()
                .contains("315360000"),
            "{v}"
        );
    }
    assert_eq!(s.now().await, before, "a refused advance moves nothing");
    s.advance(315_360_000).await;
    assert_eq!(s.now().await, before + 315_360_000);
}

/// The SDK's `examples/onboarding.rs` runs a full onboarding against `selo serve --demo`
/// (`cargo test --workspace` builds examples before it runs tests; a narrower run skips).
#[tokio::test]
async fn the_sdk_onboarding_example_runs_against_the_demo() {
    let example = std::path::Path::new(selo_bin())
        .with_file_name("examples")
        .join("onboarding");
    if !example.exists() {
        crate::support::skipped(
            "the_sdk_onboarding_example_runs_against_the_demo",
            "build it with cargo test --workspace (the README's test command)",
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut child = selo_command()
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

/// CONTRACT §19: the data directory is `0700`; the database (with its WAL), keys and blobs
/// `0600` whatever the umask, and a directory an older version left open is tightened.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let s = Server::start();
    let data = s.data.path();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
    if s.database.is_none() {
        let db = data.join("selo.db");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut s = s;
    s.restart();
    let t = s.tenant();
    let token = s.token(&t).await;
    let created = s.api_process(&t, &token, "00000000191").await;
    assert_eq!(created["status"], 3, "{created}");
    let data = s.data.path();
    assert_eq!(mode(data), 0o700, "data directory");
    let mut files = vec!["keys/sandbox.ed25519.p8"];
    if s.database.is_none() {
        files.extend(["selo.db", "selo.db-wal", "selo.db-shm"]);
    }
    for file in files {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&data.join("keys")), 0o700, "keys");
    if s.s3.is_some() {
        return;
    }
    for folder in ["blobs", &format!("blobs/{}", t.id)] {
        assert_eq!(mode(&data.join(folder)), 0o700, "{folder}");
    }
    let selfies: Vec<_> = std::fs::read_dir(data.join("blobs").join(&t.id))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!selfies.is_empty());
    for selfie in selfies {
        assert_eq!(mode(&selfie), 0o600, "{}", selfie.display());
    }
}

/// CONTRACT §19: `/metrics` is never served on a production listener; `--metrics-listen`
/// serves every environment's counters on an address of the operator's choosing.
#[tokio::test]
async fn metrics_stay_off_production_listeners() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = free.local_addr().unwrap().to_string();
    drop(free);
    let s = Server::start_with(Opts {
        production: true,
        extra: vec!["--metrics-listen".into(), metrics_addr.clone()],
        ..Opts::default()
    });
    let prod = s.env("production").url.clone();
    let res = s.http.get(format!("{prod}/livez")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = s.http.get(format!("{prod}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404, "no metrics on a production listener");
    let text = s
        .http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("environment=\"production\",route=\"/livez\",status=\"200\"} 1"),
        "{text}"
    );
    let res = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200, "sandbox listeners still serve it");
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("production"),
        "a sandbox listener shows its own environment only: {text}"
    );
}

/// `serve --demo` opens the database a second time to provision the demo tenant. Reopening
/// it must not drop the server's own SQLite locks (POSIX locks belong to the process, and
/// closing any descriptor of the file releases them all): an admin command run beside the
/// server would then think itself the last user, checkpoint and delete the WAL the server
/// still writes to, and everything acknowledged afterwards would be gone at the next start.
#[tokio::test]
async fn the_demo_server_keeps_what_it_acknowledged_while_admin_commands_run() {
    let mut s = Server::start_with(Opts {
        extra: vec!["--demo".into()],
        embedded: true,
        ..Opts::default()
    });
    // Admin commands open and close the database beside the running server.
    let t = s.tenant();
    let token = s.token(&t).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = s.api_process(&t, &token, "00000000191").await;
        ids.push(created["id"].clone());
        s.admin(&["apikey", "list", "--tenant", &t.id]);
    }
    let wal = s.data.path().join("selo.db-wal");
    assert!(wal.exists(), "the server's WAL was deleted under it");
    s.restart();
    let token = s.token(&t).await;
    for id in &ids {
        let res = s.get_process(&t, &token, id).await;
        assert_eq!(res.status(), 200, "process {id} was lost");
    }
}
