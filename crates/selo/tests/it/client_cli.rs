//! The client commands (`selo token`, `selo process …`) against a real server: output and the
//! exit codes of CONTRACT §15.

use crate::support::{Server, selo_command};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

fn selo(args: &[&str], creds: &PathBuf) -> Output {
    selo_command()
        .args(args)
        .arg("--credentials")
        .arg(creds)
        .env_remove("SELO_URL")
        .env_remove("SELO_APIKEY")
        .output()
        .unwrap()
}

fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout is not JSON: {} / stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test]
async fn token_and_create_with_verdict_exit_codes() {
    let s = Server::start();
    let t = s.tenant();
    let creds = s.credentials_file(&t);
    let img = s.selfie_file();
    let img = img.to_str().unwrap();

    let out = selo(&["token", "--json"], &creds);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_out(&out);
    assert_eq!(v["response"]["token_type"], "Bearer");
    assert!(v["verdict"].is_null());

    let out = selo(
        &[
            "process",
            "create",
            "--image",
            img,
            "--cpf",
            "00000000191",
            "--name",
            "Maria Silva",
            "--json",
        ],
        &creds,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "approved: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_out(&out);
    assert_eq!(v["response"]["status"], 3);
    assert_eq!(v["verdict"]["verdict"], "approved");
    assert!(v["requestId"].is_string());

    for (cpf, verdict) in [
        ("00000000272", "denied"),
        ("00000000353", "denied"),
        ("00000000604", "inconclusive"),
        ("00000000787", "error"),
    ] {
        let out = selo(
            &[
                "process", "create", "--image", img, "--cpf", cpf, "--name", "Jo Doe", "--json",
            ],
            &creds,
        );
        assert_eq!(out.status.code(), Some(1), "{cpf} is a negative verdict");
        assert_eq!(json_out(&out)["verdict"]["verdict"], verdict, "{cpf}");
    }

    // Human output names the process and the verdict.
    let out = selo(
        &[
            "process",
            "create",
            "--image",
            img,
            "--cpf",
            "00000000191",
            "--name",
            "Maria Silva",
        ],
        &creds,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("process ") && text.contains("approved"),
        "{text}"
    );

    // A 400 is a failed call (3) and the envelope is the response.
    let out = selo(
        &[
            "process",
            "create",
            "--image",
            img,
            "--cpf",
            "12345678900",
            "--name",
            "Jo",
            "--json",
        ],
        &creds,
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json_out(&out)["response"]["error"]["code"], "20507");
    assert!(String::from_utf8_lossy(&out.stderr).contains("20507"));
}

#[tokio::test]
async fn get_wait_and_their_exit_codes() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let creds = s.credentials_file(&t);
    let img = s.selfie_file();
    let img = img.to_str().unwrap();
    let create = |cpf: &str| {
        let out = selo(
            &[
                "process", "create", "--image", img, "--cpf", cpf, "--name", "Jo Doe", "--json",
            ],
            &creds,
        );
        json_out(&out)["response"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let id = create("00000000191");
    let out = selo(&["process", "get", &id, "--json"], &creds);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_out(&out)["response"]["id"], id.as_str());

    // A status-5 process: GET answers 410, an error verdict (exit 1) that --json names.
    let failed = create("00000000787");
    let out = selo(&["process", "get", &failed, "--json"], &creds);
    assert_eq!(out.status.code(), Some(1));
    let v = json_out(&out);
    assert!(v["response"]["error"]["code"].is_string());
    assert_eq!(v["verdict"]["verdict"], "error", "{v}");

    // A process past its retention window: the 410 (41002) says nothing about the verdict,
    // so the call failed (exit 3). The record is aged in the database: the CLI signs its
    // assertion with the real clock, so this server's clock cannot be moved 90 days.
    let old = create("00000000191");
    let record = s
        .sql_text("SELECT record FROM processes WHERE id = ?1", &[Some(&old)])
        .unwrap();
    let mut record: serde_json::Value = serde_json::from_str(&record).unwrap();
    record["createdAt"] = (record["createdAt"].as_i64().unwrap() - 91 * 86400).into();
    s.sql_execute(
        "UPDATE processes SET record = ?1 WHERE id = ?2",
        &[Some(&record.to_string()), Some(&old)],
    );
    let out = selo(&["process", "get", &old, "--json"], &creds);
    assert_eq!(out.status.code(), Some(3));
    let v = json_out(&out);
    assert_eq!(v["response"]["error"]["code"], "41002", "{v}");
    assert!(v["verdict"].is_null(), "{v}");

    // Unknown process: the call failed (3).
    let out = selo(
        &["process", "get", "00000000-0000-0000-0000-000000000000"],
        &creds,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("40401"));

    // The async scenario is pending while the manual clock stands still: wait times out (5).
    let pending = create("00000000868");
    let out = selo(&["process", "get", &pending], &creds);
    assert_eq!(out.status.code(), Some(0), "pending is not negative");
    let out = selo(
        &["process", "wait", &pending, "--timeout", "1", "--json"],
        &creds,
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_out(&out)["response"]["status"], 1);
    s.advance(2).await;
    let out = selo(
        &["process", "wait", &pending, "--timeout", "5", "--json"],
        &creds,
    );
    let v = json_out(&out);
    assert_eq!(v["response"]["status"], 3);
    assert_eq!(v["response"]["identityFraudsters"]["result"], "yes");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a behaviour alert is not a pass"
    );
}

#[tokio::test]
async fn configuration_from_env_and_failures_say_why() {
    let s = Server::start();
    let t = s.tenant();
    let creds = s.credentials_file(&t);
    // SELO_CREDENTIALS, SELO_URL and SELO_APIKEY are read from the environment: the file's own
    // URL and API key are wrong, so the create only works if both variables are honoured.
    let mut file: Value = serde_json::from_slice(&std::fs::read(&creds).unwrap()).unwrap();
    file["url"] = Value::from("http://127.0.0.1:9");
    file["apiKey"] = Value::from("selo_wrong");
    let misleading = s.data.path().join("misleading-credentials.json");
    std::fs::write(&misleading, serde_json::to_vec(&file).unwrap()).unwrap();
    let out = selo_command()
        .args([
            "process",
            "create",
            "--cpf",
            "00000000191",
            "--name",
            "Maria Silva",
            "--image",
        ])
        .arg(s.selfie_file())
        .env("SELO_CREDENTIALS", &misleading)
        .env("SELO_URL", &s.sandbox().url)
        .env("SELO_APIKEY", s.api_key(&t, "identity"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = selo_command()
        .args(["token"])
        .env("SELO_CREDENTIALS", &creds)
        .env("SELO_APIKEY", "selo_wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "a token needs no API key");
    let out = selo_command()
        .args(["process", "get", "00000000-0000-0000-0000-000000000000"])
        .env("SELO_CREDENTIALS", &creds)
        .env("SELO_APIKEY", "selo_wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("10201"));

    // A disabled account: the cached token is refused (401), and the new token request it
    // leads to fails with its code (exit 3).
    // (The server sees the change within a second, CONTRACT §19.)
    s.admin(&["account", "disable", "--tenant", &t.id, "acct"]);
    let started = std::time::Instant::now();
    let out = loop {
        let out = selo(
            &["process", "get", "00000000-0000-0000-0000-000000000000"],
            &creds,
        );
        if !String::from_utf8_lossy(&out.stderr).contains("40401")
            || started.elapsed() > std::time::Duration::from_secs(3)
        {
            break out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1.2.11"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No credentials anywhere: says how to get some.
    let out = selo_command()
        .args(["token", "--data"])
        .arg(s.data.path().join("nowhere"))
        .env_remove("SELO_CREDENTIALS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serve --demo"));

    // Usage errors exit 2.
    let out = selo_command()
        .args(["process", "create", "--cpf", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Client commands keep their access token between runs (a 0600 file keyed by URL and `iss`):
/// five `process get` in a row after a create make one token request and meet no 401 (each
/// run signing its own assertion would present the same one twice within a second).
#[tokio::test]
async fn client_commands_keep_their_access_token_between_runs() {
    let s = Server::start();
    let t = s.tenant();
    let creds = s.credentials_file(&t);
    let img = s.selfie_file();
    let cache = s.data.path().join("token-cache");
    let run = |args: &[&str]| {
        selo_command()
            .args(args)
            .arg("--credentials")
            .arg(&creds)
            .env("SELO_TOKEN_CACHE", &cache)
            .env_remove("SELO_URL")
            .env_remove("SELO_APIKEY")
            .output()
            .unwrap()
    };
    let out = run(&[
        "process",
        "create",
        "--image",
        img.to_str().unwrap(),
        "--cpf",
        "00000000191",
        "--name",
        "Maria Silva",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = json_out(&out)["response"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..5 {
        let out = run(&["process", "get", &id]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("route=\"/oauth2/token\",status=\"200\"} 1\n"),
        "one token request: {metrics}"
    );
    assert!(!metrics.contains("status=\"401\""), "no 401: {metrics}");
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // `SELO_TOKEN_CACHE=off` turns it off: that run asks for a token of its own.
    let out = selo_command()
        .args(["process", "get", &id, "--credentials"])
        .arg(&creds)
        .env("SELO_TOKEN_CACHE", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("route=\"/oauth2/token\",status=\"200\"} 2\n"),
        "{metrics}"
    );
}
