//! `selo serve`'s operational flags and paths no other test reaches (CONTRACT §14, §15):
//! graceful shutdown, internal failures' envelopes, lockout settings, public URLs and
//! audiences, `--sync-full`, and `webhook replay --since`.

use crate::support::receiver::Receiver;
use crate::support::{Opts, SendJson, Server};
use serde_json::{Value, json};
use std::time::Duration;

/// SIGTERM lets a request in flight finish, then the server exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let mut s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let (_, p): (u16, Value) = {
        let res = s
            .http
            .post(s.url("/sandbox/faults"))
            .header("authorization", format!("Bearer {token}"))
            .json(
                &json!({"match": {"method": "GET", "path": "/livez"}, "faults": ["delay:1500ms"]}),
            )
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    };
    let slow = s
        .http
        .get(s.url("/livez"))
        .header("selo-fault-plan", p["id"].as_str().unwrap())
        .send();
    let in_flight = tokio::spawn(slow);
    // In flight once the server has taken its fault (it is then inside the 1.5 s delay).
    let plan = s.url(&format!("/sandbox/faults/{}", p["id"].as_str().unwrap()));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let shown: Value = s
            .http
            .get(&plan)
            .header("authorization", format!("Bearer {token}"))
            .send_json()
            .await;
        if shown["consumed"].as_array().is_some_and(|c| !c.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never in flight: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = s.url("/livez");
    let code = tokio::task::block_in_place(|| s.terminate(Duration::from_secs(10)));
    let res = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(res.status(), 200);
    assert_eq!(code, Some(0), "a graceful shutdown exits 0");
    assert!(
        reqwest::get(&url).await.is_err(),
        "no new connection after shutdown"
    );
}

/// A failure inside Selo answers 500 with the envelope's `requestId` and `timestamp` and no
/// internal detail: `50001` on the API contract, `99999` on Web & SDK.
#[tokio::test]
async fn internal_failures_carry_the_envelope_and_no_detail() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let api = s.api_process(&t, &token, "00000000191").await;
    let web = s.web_process(&token, "00000000191").await;
    for table in ["processes", "web_processes"] {
        s.sql_execute(&format!("UPDATE {table} SET record = '{{not json'"), &[]);
    }
    let reads = [
        (
            format!("/processes/v1/{}", api["id"].as_str().unwrap()),
            "50001",
        ),
        (
            format!("/client/v1/process/{}", web["id"].as_str().unwrap()),
            "99999",
        ),
    ];
    for (path, code) in reads {
        let res = s
            .http
            .get(s.url(&path))
            .header("authorization", format!("Bearer {token}"))
            .header("apikey", &t.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 500, "{path}");
        assert_eq!(res.headers()["should-retry"], "true");
        let text = res.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], code, "{text}");
        assert!(v["error"]["requestId"].is_string() && v["error"]["timestamp"].is_string());
        for leak in ["json", "sqlite", "record", "panicked", "corrupt"] {
            assert!(
                !text.to_lowercase().contains(leak),
                "{path} leaks '{leak}': {text}"
            );
        }
    }
}

/// `--lockout-attempts`, `--lockout-window` and `--lockout-duration` set the lockout.
#[tokio::test]
async fn the_lockout_follows_its_flags() {
    let s = Server::start_with(Opts {
        manual_clock: true,
        extra: [
            "--lockout-attempts",
            "2",
            "--lockout-window",
            "60",
            "--lockout-duration",
            "120",
        ]
        .map(String::from)
        .to_vec(),
        ..Opts::default()
    });
    let t = s.tenant();
    let other = s.tenant();
    let aud = s.sandbox().audience.clone();
    let forged = |now: i64| {
        crate::support::sign_rs256(
            &other.key_path,
            &json!({"alg": "RS256"}),
            &t.claims_at(&aud, now),
        )
    };
    let code = |got: (u16, Value)| got.1["code"].as_str().unwrap_or_default().to_string();
    let now = s.now().await;
    // Two failures more than the window apart do not lock.
    assert_eq!(code(s.exchange("sandbox", &forged(now)).await), "1.2.21");
    s.advance(61).await;
    let now = s.now().await;
    assert_eq!(code(s.exchange("sandbox", &forged(now)).await), "1.2.21");
    assert_eq!(
        s.exchange("sandbox", &t.assertion_at(&aud, now)).await.0,
        200
    );
    // Two within it lock for 120 s.
    assert_eq!(code(s.exchange("sandbox", &forged(now)).await), "1.2.21");
    assert_eq!(
        code(s.exchange("sandbox", &t.assertion_at(&aud, now)).await),
        "1.2.18"
    );
    s.advance(119).await;
    let now = s.now().await;
    assert_eq!(
        code(s.exchange("sandbox", &t.assertion_at(&aud, now)).await),
        "1.2.18"
    );
    s.advance(1).await;
    let now = s.now().await;
    assert_eq!(
        s.exchange("sandbox", &t.assertion_at(&aud, now)).await.0,
        200
    );
}

/// `--public-url`, `--production-public-url` and `--production-audience` are what `serve`
/// prints, what links carry and what assertions must name.
#[tokio::test]
async fn public_urls_and_audiences_follow_their_flags() {
    let s = Server::start_with(Opts {
        production: true,
        extra: [
            "--public-url",
            "https://sandbox.selo.test",
            "--production-public-url",
            "https://selo.test",
            "--production-audience",
            "https://selo.test/oauth2/token",
        ]
        .map(String::from)
        .to_vec(),
        ..Opts::default()
    });
    assert_eq!(s.sandbox().url, "https://sandbox.selo.test");
    assert_eq!(s.sandbox().audience, "https://sandbox.selo.test");
    assert_eq!(s.env("production").url, "https://selo.test");
    assert_eq!(
        s.env("production").audience,
        "https://selo.test/oauth2/token"
    );
}

/// `--sync-full` is accepted and serves as usual, and what it acknowledged is there after a
/// kill -9 (as in every mode: what the flag adds, surviving a power loss, cannot be tested
/// here).
#[tokio::test]
async fn sync_full_serves_and_keeps_what_it_acknowledged() {
    let mut s = Server::start_with_flags(&["--sync-full", "--audience", "https://selo.test"]);
    let t = s.tenant();
    let token = s.token(&t).await;
    let created = s.api_process(&t, &token, "00000000191").await;
    s.kill9();
    s.restart();
    let token = s.token(&t).await;
    let res = s.get_process(&t, &token, &created["id"]).await;
    assert_eq!(res.status(), 200);
}

/// `webhook replay --since` sends again every event recorded since a time, and only those.
#[tokio::test]
async fn webhook_replay_since_sends_the_events_recorded_since() {
    let s = Server::start_manual_clock();
    let r = Receiver::start().await;
    let t = s.tenant();
    s.admin(&["webhook", "set", "--tenant", &t.id, "--url", &r.url]);
    let token = s.token(&t).await;
    let first = s.api_process(&t, &token, "00000000191").await;
    r.wait_for(1, Duration::from_secs(10)).await;
    s.advance(3600).await;
    let since = time::OffsetDateTime::from_unix_timestamp(s.now().await)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let token = s.token(&t).await;
    let second = s.api_process(&t, &token, "00000000191").await;
    r.wait_for(2, Duration::from_secs(10)).await;
    // Replay once the delivery is recorded (a replay while it is still in flight would be
    // overwritten by its outcome).
    s.delivered(&t, second["id"].as_str().unwrap()).await;
    let replayed = s.admin(&["webhook", "replay", "--tenant", &t.id, "--since", &since]);
    assert_eq!(replayed["replayed"], 1);
    let calls = r.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(calls[2].json()["processId"], second["id"]);
    assert_ne!(calls[2].json()["processId"], first["id"]);
    let bad = s.admin_raw(&[
        "webhook",
        "replay",
        "--tenant",
        &t.id,
        "--since",
        "yesterday",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

/// The log has a line for each refused request and none for an answered one (formatting it
/// cost a fifth of a GET; `/metrics` counts every request).
#[tokio::test]
async fn the_log_names_refused_requests_and_not_answered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("selo.log");
    let mut s = Server::start_with(Opts {
        log: Some(log.clone()),
        ..Opts::default()
    });
    let answered = s
        .http
        .get(s.url("/sandbox/scenarios"))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let refused = s
        .http
        .get(s.url("/processes/v1/0b7e9a44-3c55-4f4e-9d1e-6a2f1c0d9b21"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(s.terminate(Duration::from_secs(10)), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("route=/processes/v1/{id}") && l.contains("status=401")),
        "{text}"
    );
    assert!(!text.contains("route=/sandbox/scenarios"), "{text}");
}

/// A SIGTERM sent the moment the server says it listens (a supervisor, a test rig) is a
/// graceful shutdown, exit 0 — the signal handlers are in place before the ready line.
#[test]
fn a_sigterm_right_after_the_ready_line_shuts_down_gracefully() {
    for _ in 0..5 {
        let mut s = Server::start();
        assert_eq!(s.terminate(Duration::from_secs(10)), Some(0));
    }
}
