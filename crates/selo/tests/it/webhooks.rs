//! Webhooks (CONTRACT §16): delivery with each receiver-auth mode (and the OAuth2 token's
//! cache and refresh), signatures and secret rotation, retries with growing intervals,
//! timeouts, the concurrency cap, the delivery log, replay, and nothing lost across a kill -9.

use crate::support::SendJson;
use crate::support::receiver::Receiver;
use crate::support::{Opts, Server, Tenant, images};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(10);

fn set_webhook(s: &Server, t: &Tenant, url: &str, extra: &[&str]) -> Value {
    let mut args = vec!["webhook", "set", "--tenant", &t.id, "--url", url];
    args.extend_from_slice(extra);
    s.admin(&args)
}

/// `selo admin webhook rotate-secret` with the previous secret valid `overlap` more seconds.
fn rotate_secret(s: &Server, t: &Tenant, overlap: &str) -> Value {
    s.admin(&[
        "webhook",
        "rotate-secret",
        "--tenant",
        &t.id,
        "--overlap",
        overlap,
    ])
}

async fn create(s: &Server, t: &Tenant, token: &str, cpf: &str) -> String {
    s.api_process(t, token, cpf).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn verify(
    secret: &str,
    call: &crate::support::receiver::Call,
) -> Result<(), selo_sdk::WebhookError> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &call.headers {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    selo_sdk::verify_webhook(
        secret,
        &headers,
        &call.body,
        SystemTime::now(),
        Duration::from_secs(300),
    )
}

#[tokio::test]
async fn each_auth_mode_sends_the_headers_the_platform_documents() {
    let s = Server::start();
    let r = Receiver::start().await;
    let modes = [
        ("basic:u:p".to_string(), "authorization", "Basic dTpw"),
        ("apikey:X-API-Key:abc123".to_string(), "x-api-key", "abc123"),
        (
            "apikey:Authorization:Bearer abc123".to_string(),
            "authorization",
            "Bearer abc123",
        ),
        ("apikey:abc123".to_string(), "authorization", "abc123"),
        (
            format!("oauth2:{}/token,client-1,secret-1", r.url),
            "authorization",
            "Bearer tok-1",
        ),
    ];
    for (i, (auth, header, value)) in modes.iter().enumerate() {
        let t = s.tenant();
        let token = s.token(&t).await;
        let hook = set_webhook(&s, &t, &format!("{}/hook", r.url), &["--auth", auth]);
        assert!(
            hook["signingSecret"]
                .as_str()
                .unwrap()
                .starts_with("whsec_")
        );
        assert!(
            !hook["auth"].as_str().unwrap().contains("secret-1")
                && !hook["auth"].as_str().unwrap().contains(":p"),
            "secrets are redacted: {hook}"
        );
        let id = create(&s, &t, &token, "00000000191").await;
        let calls = r.wait_for(i + 1, WAIT).await;
        let call = calls
            .iter()
            .find(|c| c.json()["processId"] == id.as_str())
            .expect("the event");
        assert_eq!(
            call.headers.get(*header).map(String::as_str),
            Some(*value),
            "{auth}"
        );
        assert_eq!(
            call.json(),
            json!({"processId": id, "state": "PROCESS_STATE_FINISHED", "flow": "api", "result": "ok"})
        );
        assert!(call.headers["webhook-id"].starts_with("evt_"));
        verify(hook["signingSecret"].as_str().unwrap(), call).expect("the signature verifies");
        let mut tampered = call.clone();
        tampered.body = br#"{"processId":"x"}"#.to_vec();
        assert!(
            verify(hook["signingSecret"].as_str().unwrap(), &tampered).is_err(),
            "a tampered body fails"
        );
    }
    let no_auth = s.tenant();
    set_webhook(&s, &no_auth, &format!("{}/hook", r.url), &[]);
    let token = s.token(&no_auth).await;
    create(&s, &no_auth, &token, "00000000191").await;
    let calls = r.wait_for(modes.len() + 1, WAIT).await;
    assert!(!calls.last().unwrap().headers.contains_key("authorization"));
}

/// Waits until `n` attempts of `process`'s event are recorded (so a retry is scheduled):
/// its delivery log entry then.
async fn attempted(s: &Server, t: &Tenant, process: &str, n: usize) -> Value {
    s.delivery_when(t, process, |e| {
        e["attempts"].as_array().is_some_and(|a| a.len() >= n)
    })
    .await
}

#[tokio::test]
async fn oauth2_tokens_are_cached_retried_after_a_failure_and_replaced_after_a_401() {
    let s = Server::start_manual_clock();
    let r = Receiver::start().await;
    r.script_tokens(&[500]);
    let t = s.tenant();
    let auth = format!("oauth2:{}/token,client-1,secret-1", r.url);
    set_webhook(
        &s,
        &t,
        &format!("{}/hook", r.url),
        &["--auth", &auth, "--retry-interval", "10"],
    );
    let token = s.token(&t).await;

    // The token endpoint fails: the delivery is a failed attempt, retried like any other.
    let first = create(&s, &t, &token, "00000000191").await;
    attempted(&s, &t, &first, 1).await;
    assert_eq!(r.token_calls(), 1);
    assert!(r.calls().is_empty(), "nothing is sent without a token");
    s.advance(10).await;
    let calls = r.wait_for(1, WAIT).await;
    assert_eq!(calls[0].json()["processId"], first.as_str());
    assert_eq!(calls[0].headers["authorization"], "Bearer tok-2");
    let log = s.delivered(&t, &first).await;
    let attempts = log["attempts"].as_array().unwrap();
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("oauth2 token endpoint answered 500"),
        "{log}"
    );
    assert_eq!(attempts[1]["status"], 200);

    // The token is reused until it expires.
    create(&s, &t, &token, "00000000191").await;
    let calls = r.wait_for(2, WAIT).await;
    assert_eq!(calls[1].headers["authorization"], "Bearer tok-2");
    assert_eq!(r.token_calls(), 2, "the token is cached");

    // A 401 from the receiver drops it: the retry carries a new one.
    r.script(&[(401, Duration::ZERO)]);
    let third = create(&s, &t, &token, "00000000191").await;
    attempted(&s, &t, &third, 1).await;
    s.advance(10).await;
    let calls = r.wait_for(4, WAIT).await;
    assert_eq!(calls[2].headers["authorization"], "Bearer tok-2");
    assert_eq!(calls[3].headers["authorization"], "Bearer tok-3");
    assert_eq!(
        calls[3].headers["webhook-id"],
        calls[2].headers["webhook-id"]
    );

    // The token expires on the server's clock (3600 s, less 30 s of margin).
    s.advance(3570).await;
    create(&s, &t, &s.token(&t).await, "00000000191").await;
    let calls = r.wait_for(5, WAIT).await;
    assert_eq!(calls[4].headers["authorization"], "Bearer tok-4");
}

/// A token endpoint that never answers, or stops inside its body, is bounded by the endpoint's
/// timeout, and a token response over 64 KiB is refused: each attempt is recorded as failed
/// (and retried) instead of holding a delivery slot forever or filling memory.
#[tokio::test]
async fn a_hanging_or_oversized_oauth2_token_response_is_a_failed_attempt() {
    use crate::support::receiver::{TOKEN_BODY_STALLS, TOKEN_HANGS, TOKEN_TOO_LARGE};
    let s = Server::start_manual_clock();
    let r = Receiver::start().await;
    r.script_tokens(&[TOKEN_HANGS, TOKEN_BODY_STALLS, TOKEN_TOO_LARGE]);
    let t = s.tenant();
    let auth = format!("oauth2:{}/token,client-1,secret-1", r.url);
    set_webhook(
        &s,
        &t,
        &format!("{}/hook", r.url),
        &["--auth", &auth, "--timeout", "1", "--retry-interval", "10"],
    );
    let token = s.token(&t).await;
    let process = create(&s, &t, &token, "00000000191").await;
    for (attempt, says) in [
        (1, "timed out after 1 s"),
        (2, "did not arrive within 1 s"),
        (3, "larger than 65536 bytes"),
    ] {
        let entry = attempted(&s, &t, &process, attempt).await;
        let error = entry["attempts"][attempt - 1]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains(says), "attempt {attempt}: {entry}");
        // Retries count from the endpoint's growing intervals; move well past the next.
        s.advance(600).await;
    }
    // The next retry gets a token and delivers.
    let calls = r.wait_for(1, WAIT).await;
    assert_eq!(calls[0].headers["authorization"], "Bearer tok-4");
}

/// `rotate-secret` reads the server's clock: on a server whose manual clock was moved, the
/// overlap still lasts its seconds from the rotation.
#[tokio::test]
async fn a_rotation_overlap_follows_the_servers_clock() {
    let s = Server::start_manual_clock();
    let r = Receiver::start().await;
    let t = s.tenant();
    set_webhook(&s, &t, &r.url, &[]);
    s.advance(86_400).await;
    let rotated = rotate_secret(&s, &t, "60");
    let until = time::OffsetDateTime::parse(
        rotated["previousValidUntil"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(until.unix_timestamp(), s.now().await + 60);
    let token = s.token(&t).await;
    create(&s, &t, &token, "00000000191").await;
    let calls = r.wait_for(1, WAIT).await;
    assert_eq!(
        calls[0].headers["webhook-signature"].split(' ').count(),
        2,
        "both secrets sign during the overlap"
    );
    s.advance(61).await;
    let token = s.token(&t).await;
    create(&s, &t, &token, "00000000191").await;
    let calls = r.wait_for(2, WAIT).await;
    assert_eq!(calls[1].headers["webhook-signature"].split(' ').count(), 1);
}

#[tokio::test]
async fn results_follow_the_outcome_and_there_is_one_event_per_process() {
    let s = Server::start();
    let r = Receiver::start().await;
    let t = s.tenant();
    let token = s.token(&t).await;
    // Without an endpoint nothing is recorded.
    create(&s, &t, &token, "00000000191").await;
    set_webhook(&s, &t, &r.url, &[]);
    let mut expected = Vec::new();
    for (cpf, result) in [
        ("00000000191", Some("ok")),
        ("00000000272", Some("invalid_identity")),
        ("00000000353", Some("failed")),
        ("00000000604", None),
        ("00000000787", None),
        ("00000000434", Some("ok")),
    ] {
        let id = create(&s, &t, &token, cpf).await;
        if let Some(result) = result {
            expected.push((id, result));
        }
    }
    let calls = r.wait_for(expected.len(), WAIT).await;
    // Events are written with the state change, so the log is already complete.
    let log = s.admin(&["webhook", "deliveries", "--tenant", &t.id]);
    assert_eq!(
        log.as_array().unwrap().len(),
        expected.len(),
        "divergence and error record nothing; one event each: {log}"
    );
    for (id, result) in expected {
        let call = calls
            .iter()
            .find(|c| c.json()["processId"] == id.as_str())
            .unwrap();
        assert_eq!(call.json()["result"], result);
    }
}

#[tokio::test]
async fn web_processes_notify_on_completion_and_on_expiry() {
    let s = Server::start_manual_clock();
    let r = Receiver::start().await;
    let t = s.tenant();
    set_webhook(&s, &t, &r.url, &[]);
    let token = s.token(&t).await;
    let mut ids = Vec::new();
    for expires in ["3600s", "60s"] {
        let v: Value = s
            .http
            .post(s.url("/client/v1/process"))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({"callbackUri": "/", "flow": "idcheck", "purpose": "creditprocess", "expiresIn": expires,
                          "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191"}}))
            .send_json()
            .await;
        ids.push(v["process"].clone());
    }
    let p = &ids[0];
    let res = s.capture(p, &images::selfie()).await;
    assert_eq!(res.status(), 200);
    let calls = r.wait_for(1, WAIT).await;
    assert_eq!(
        calls[0].json(),
        json!({"processId": p["id"], "state": "PROCESS_STATE_FINISHED", "flow": "idcheck", "result": "ok"})
    );
    s.advance(60).await;
    let calls = r.wait_for(2, WAIT).await;
    assert_eq!(
        calls[1].json(),
        json!({"processId": ids[1]["id"], "state": "PROCESS_STATE_FINISHED", "flow": "idcheck", "result": "expired",
               "lastEvent": "EVENT_TYPE_SESSION_ENDED", "lastEventDescription": "Session ended by timeout or by new session created"})
    );
}

#[tokio::test]
async fn failures_are_retried_at_growing_intervals_and_2xx_stops() {
    let s = Server::start_manual_clock();
    let r = Receiver::start().await;
    let t = s.tenant();
    set_webhook(
        &s,
        &t,
        &r.url,
        &["--retry-interval", "10", "--timeout", "1"],
    );
    r.script(&[
        (500, Duration::ZERO),
        (200, Duration::from_millis(2500)),
        (503, Duration::ZERO),
    ]);
    let token = s.token(&t).await;
    let id = create(&s, &t, &token, "00000000191").await;
    r.wait_for(1, WAIT).await;
    // The schedule, read from the log: the retry is due 10 s (then 20 s) after the attempt, on
    // the manual clock, and only due events are sent.
    let due_after = |entry: &Value| {
        let parse = |v: &Value| {
            time::OffsetDateTime::parse(
                v.as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
            .unix_timestamp()
        };
        let attempts = entry["attempts"].as_array().unwrap();
        parse(&entry["nextAttemptAt"]) - parse(&attempts[attempts.len() - 1]["at"])
    };
    let entry = s
        .delivery_when(&t, &id, |e| {
            e["attempts"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    assert_eq!(
        due_after(&entry),
        10,
        "no retry before the interval: {entry}"
    );
    assert_eq!(r.calls().len(), 1);
    s.advance(10).await;
    r.wait_for(2, WAIT).await; // answered 200, but after the 1-s timeout: a failure
    let entry = s
        .delivery_when(&t, &id, |e| {
            e["attempts"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    assert_eq!(
        due_after(&entry),
        20,
        "the second retry waits 20 s: {entry}"
    );
    s.advance(19).await;
    assert_eq!(r.calls().len(), 2);
    s.advance(1).await;
    r.wait_for(3, WAIT).await; // 503
    s.advance(40).await;
    r.wait_for(4, WAIT).await; // default 200
    let entry = s.delivered(&t, &id).await;
    assert!(
        entry.get("nextAttemptAt").is_none(),
        "a 2xx stops the retries: {entry}"
    );
    s.advance(3600).await;
    assert_eq!(r.calls().len(), 4);
    let log = s.admin(&["webhook", "deliveries", "--tenant", &t.id, "--process", &id]);
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[0]["status"], 500);
    assert!(
        attempts[1]["error"].as_str().unwrap().contains("timed out"),
        "{}",
        attempts[1]
    );
    assert_eq!(attempts[2]["status"], 503);
    assert_eq!(attempts[3]["status"], 200);
    let ids: Vec<String> = r
        .calls()
        .iter()
        .map(|c| c.headers["webhook-id"].clone())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "the same webhook-id on every attempt"
    );
}

#[tokio::test]
async fn exhausted_events_stay_failed_until_replayed() {
    let s = Server::start();
    let r = Receiver::start().await;
    r.default_answer(500, Duration::ZERO);
    let t = s.tenant();
    set_webhook(
        &s,
        &t,
        &r.url,
        &["--retry-interval", "0", "--max-attempts", "2"],
    );
    let token = s.token(&t).await;
    let id = create(&s, &t, &token, "00000000191").await;
    r.wait_for(2, WAIT).await;
    let entry = s.delivery_when(&t, &id, |e| e["status"] == "failed").await;
    assert!(
        entry.get("nextAttemptAt").is_none(),
        "failed is final: {entry}"
    );
    assert_eq!(r.calls().len(), 2);
    r.default_answer(200, Duration::ZERO);
    let replayed = s.admin(&["webhook", "replay", "--tenant", &t.id, "--process", &id]);
    assert_eq!(replayed["replayed"], 1);
    r.wait_for(3, WAIT).await;
    s.delivered(&t, &id).await;
    // Disabled: deliveries pause, recording goes on (CONTRACT §16)…
    s.admin(&["webhook", "disable", "--tenant", &t.id]);
    let paused = create(&s, &t, &token, "00000000191").await;
    let log = s.admin(&[
        "webhook",
        "deliveries",
        "--tenant",
        &t.id,
        "--process",
        &paused,
    ]);
    assert_eq!(log[0]["status"], "pending", "{log}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(r.calls().len(), 3, "nothing is sent while disabled");
    // …and the event goes out once the endpoint is enabled again.
    set_webhook(&s, &t, &r.url, &[]);
    let calls = r.wait_for(4, WAIT).await;
    assert_eq!(calls[3].json()["processId"], paused.as_str());
}

#[tokio::test]
async fn the_concurrency_cap_is_never_exceeded_and_rotation_signs_twice() {
    let s = Server::start();
    let r = Receiver::start().await;
    r.default_answer(200, Duration::from_millis(300));
    let t = s.tenant();
    let first = set_webhook(&s, &t, &r.url, &["--concurrency", "2"]);
    let rotated = rotate_secret(&s, &t, "3600");
    let token = s.token(&t).await;
    for _ in 0..8 {
        create(&s, &t, &token, "00000000191").await;
    }
    let calls = r.wait_for(8, Duration::from_secs(20)).await;
    assert!(
        r.max_concurrent() == 2,
        "2 in flight at once (the cap, and not serial delivery), saw {}",
        r.max_concurrent()
    );
    let call = &calls[0];
    assert_eq!(
        call.headers["webhook-signature"].split(' ').count(),
        2,
        "both secrets sign during the overlap"
    );
    verify(first["signingSecret"].as_str().unwrap(), call).expect("the old secret still verifies");
    verify(rotated["signingSecret"].as_str().unwrap(), call).expect("the new secret verifies");
}

#[tokio::test]
async fn the_previous_secret_stops_signing_when_the_overlap_ends() {
    let s = Server::start_manual_clock();
    let r = Receiver::start().await;
    let t = s.tenant();
    let first = set_webhook(&s, &t, &r.url, &[]);
    let rotated = rotate_secret(&s, &t, "60");
    let (old, new) = (
        first["signingSecret"].as_str().unwrap(),
        rotated["signingSecret"].as_str().unwrap(),
    );
    let token = s.token(&t).await;
    create(&s, &t, &token, "00000000191").await;
    let calls = r.wait_for(1, WAIT).await;
    assert_eq!(calls[0].headers["webhook-signature"].split(' ').count(), 2);
    verify(old, &calls[0]).expect("the old secret verifies during the overlap");

    s.advance(120).await;
    create(&s, &t, &token, "00000000191").await;
    let calls = r.wait_for(2, WAIT).await;
    assert_eq!(
        calls[1].headers["webhook-signature"].split(' ').count(),
        1,
        "one signature once the overlap ended"
    );
    verify(new, &calls[1]).expect("the new secret verifies");
    assert!(
        verify(old, &calls[1]).is_err(),
        "the old secret no longer verifies"
    );
}

#[tokio::test]
async fn nothing_is_lost_across_a_kill_9() {
    let mut s = Server::start_with(Opts {
        manual_clock: true,
        ..Opts::default()
    });
    let t = s.tenant();
    // A receiver address that is down for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    set_webhook(
        &s,
        &t,
        &format!("http://127.0.0.1:{port}/hook"),
        &["--retry-interval", "5", "--max-attempts", "50"],
    );
    let token = s.token(&t).await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        ids.insert(create(&s, &t, &token, "00000000191").await);
    }
    s.kill9();
    s.restart();
    let r = Receiver::start_on(port).await;
    s.advance(7200).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got: std::collections::HashSet<String> = r
            .calls()
            .iter()
            .map(|c| {
                c.json()["processId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        if ids.is_subset(&got) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 200 events arrived",
            ids.intersection(&got).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn webhook_admin_validates_and_shows_the_configuration() {
    let s = Server::start();
    let t = s.tenant();
    for (url, auth) in [
        ("http://example.com/hook", "none"),
        ("ftp://example.com", "none"),
        ("https://example.com/hook", "basic:"),
        (
            "https://example.com/hook",
            "oauth2:https://id.test/token,only-two",
        ),
        ("https://example.com/hook", "magic"),
        ("http://localhost:1@evil.example/", "none"),
        ("http://127.0.0.1:x@10.0.0.5/", "none"),
        ("https://user:pw@example.com/hook", "none"),
        (
            "https://example.com/hook",
            "oauth2:http://10.0.0.5/token,id,secret",
        ),
    ] {
        let out = s.admin_raw(&[
            "webhook", "set", "--tenant", &t.id, "--url", url, "--auth", auth,
        ]);
        assert_eq!(out.status.code(), Some(2), "{url} {auth}: a usage error");
    }
    let out = s.admin_raw(&["webhook", "show", "--tenant", &t.id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no webhook"));
    let set = s.admin(&[
        "webhook",
        "set",
        "--tenant",
        &t.id,
        "--url",
        "https://example.com/hook",
        "--auth",
        "basic:user:pa:ss",
        "--max-attempts",
        "3",
    ]);
    assert!(set["auth"].as_str().unwrap().starts_with("basic"), "{set}");
    assert!(!set["auth"].as_str().unwrap().contains("pa:ss"));
    let shown = s.admin(&["webhook", "show", "--tenant", &t.id]);
    assert_eq!(shown, set);
    assert_eq!(shown["maxAttempts"], 3);
    // Setting again keeps the secret; rotating changes it.
    let again = s.admin(&[
        "webhook",
        "set",
        "--tenant",
        &t.id,
        "--url",
        "http://127.0.0.1:9/hook",
    ]);
    assert_eq!(again["signingSecret"], set["signingSecret"]);
    let rotated = s.admin(&["webhook", "rotate-secret", "--tenant", &t.id]);
    assert_ne!(rotated["signingSecret"], set["signingSecret"]);
    let disabled = s.admin(&["webhook", "disable", "--tenant", &t.id]);
    assert_eq!(disabled["enabled"], false);
}

#[tokio::test]
async fn a_failing_endpoint_is_marked_and_slowed_without_losing_events() {
    let s = Server::start();
    let r = Receiver::start().await;
    r.default_answer(500, Duration::ZERO);
    let t = s.tenant();
    set_webhook(
        &s,
        &t,
        &r.url,
        &[
            "--retry-interval",
            "0",
            "--max-attempts",
            "100",
            "--concurrency",
            "5",
        ],
    );
    let token = s.token(&t).await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..4 {
        ids.insert(create(&s, &t, &token, "00000000191").await);
    }
    r.wait_for(12, WAIT).await;
    let deadline = std::time::Instant::now() + WAIT;
    while s.admin(&["webhook", "show", "--tenant", &t.id])["health"] != "failing" {
        assert!(
            std::time::Instant::now() < deadline,
            "the endpoint never turned failing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Recovery: every queued event still arrives, and the endpoint is healthy again.
    r.default_answer(200, Duration::from_millis(50));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let log = s.admin(&["webhook", "deliveries", "--tenant", &t.id]);
        let delivered = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == "delivered")
            .count();
        if delivered == ids.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{delivered} of {} delivered",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = s.admin(&["webhook", "show", "--tenant", &t.id]);
    assert_eq!(shown["health"], "healthy");
    assert_eq!(shown["consecutiveFailures"], 0);
}

/// Events of processes that finish by time are written when they finish, not at the sweeper's
/// next periodic pass (a minute): the behaviour alert ~2 s after its create, a journey at its
/// expiry (real clock; the bound is generous for a loaded machine).
#[tokio::test]
async fn events_of_processes_finishing_by_time_arrive_promptly() {
    let s = Server::start();
    let r = Receiver::start().await;
    let t = s.tenant();
    set_webhook(&s, &t, &r.url, &[]);
    let token = s.token(&t).await;
    let started = std::time::Instant::now();
    let alert = create(&s, &t, &token, "00000000868").await;
    let web: Value = s
        .http
        .post(s.url("/client/v1/process"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"callbackUri": "/", "flow": "id", "purpose": "biometryonboarding", "expiresIn": "3s",
                      "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191"}}))
        .send_json()
        .await;
    let calls = r.wait_for(2, Duration::from_secs(15)).await;
    let ids: Vec<Value> = calls
        .iter()
        .map(|c| c.json()["processId"].clone())
        .collect();
    assert_eq!(ids, [json!(alert), web["process"]["id"].clone()]);
    assert_eq!(calls[1].json()["result"], "expired");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "arrived after {:?}",
        started.elapsed()
    );
}
