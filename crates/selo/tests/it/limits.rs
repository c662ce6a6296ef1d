//! Operational limits (CONTRACT §19): credentials before bodies, per-tenant upload capacity,
//! header and idle timeouts, the connection cap.

use crate::support::SendJson;
use crate::support::raw::{closed_within, connect, head_of, stalled_upload, status_in, status_of};
use crate::support::{Server, Tenant, images};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn api_credentials(token: &str, t: &Tenant) -> String {
    format!("Authorization: Bearer {token}\r\nAPIKEY: {}\r\n", t.api_key)
}

/// An API create of `t` through a client that gives up after `within`: its status.
async fn create_within(s: &Server, t: &Tenant, token: &str, within: Duration) -> u16 {
    s.http
        .post(s.url("/processes/v1"))
        .timeout(within)
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .json(&json!({"subject": {"code": "00000000191", "name": "Maria Silva"}, "imageBase64": images::selfie()}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("the create did not finish within {within:?}: {e}"))
}

/// Requests that fail their credentials are answered from their headers alone, within 2 s
/// (about 0.1 s here; before the change every one of them waited the whole request timeout,
/// 60 s here), without waiting for bodies that never come, and hold no upload capacity: an
/// authenticated create goes through meanwhile.
#[tokio::test]
async fn requests_failing_their_credentials_are_answered_without_their_bodies() {
    let s = Server::start_with_flags(&["--request-timeout", "60"]);
    let t = s.tenant();
    let token = s.token(&t).await;
    let web = s.web_process(&token, "00000000191").await;
    let journey = format!(
        "/journey/v1/process/{}/capture",
        web["id"].as_str().unwrap()
    );
    let bounded = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let mut waiting = Vec::new();
    for i in 0..200 {
        let (path, credentials, expected) = match i % 4 {
            0 => ("/processes/v1", String::new(), 401),
            1 => ("/processes/v1", api_credentials("forged", &t), 401),
            2 => (
                journey.as_str(),
                "Selo-Journey-Token: wrong\r\n".into(),
                404,
            ),
            _ => (
                "/journey/v1/link/6f1c0000-0000-4000-8000-000000000000/capture",
                String::new(),
                404,
            ),
        };
        let mut tcp = connect(&s).await;
        tcp.write_all(stalled_upload(path, &credentials, 300_000).as_bytes())
            .await
            .unwrap();
        waiting.push(tokio::spawn(async move {
            let head = head_of(&mut tcp).await.unwrap_or_default();
            (head, expected, tcp)
        }));
    }
    let mut open = Vec::new();
    for answer in waiting {
        let (head, expected, tcp) = answer.await.unwrap();
        assert_eq!(status_in(&head), Some(expected), "{head}");
        // Answered before its body was read: the connection carries nothing more.
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
        open.push(tcp);
    }
    assert!(
        started.elapsed() < bounded,
        "answered after {:?}",
        started.elapsed()
    );
    // The sockets are still open (their bodies never came): a real create goes through.
    assert_eq!(
        create_within(&s, &t, &token, Duration::from_secs(10)).await,
        200
    );
    drop(open);
}

/// One tenant's stalled uploads fill its own upload places, never another tenant's.
#[tokio::test]
async fn one_tenants_stalled_uploads_do_not_delay_another_tenant() {
    let s = Server::start_with_flags(&["--request-timeout", "60"]);
    let (a, b) = (s.tenant(), s.tenant());
    let (token_a, token_b) = (s.token(&a).await, s.token(&b).await);
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut tcp = connect(&s).await;
        let head = stalled_upload("/processes/v1", &api_credentials(&token_a, &a), 300_000);
        tcp.write_all(head.as_bytes()).await.unwrap();
        // A few body bytes: the request is past its credentials and holds an upload place.
        tcp.write_all(b"{\"subject\"").await.unwrap();
        stalled.push(tcp);
    }
    let bounded = Duration::from_secs(10);
    for _ in 0..3 {
        assert_eq!(create_within(&s, &b, &token_b, bounded).await, 200);
    }
    // While A's places are all held, A's own next upload waits for one of them.
    let own = s
        .http
        .post(s.url("/processes/v1"))
        .timeout(Duration::from_secs(1))
        .header("authorization", format!("Bearer {token_a}"))
        .header("apikey", &a.api_key)
        .json(&json!({"subject": {"code": "00000000191", "name": "Maria Silva"}, "imageBase64": images::selfie()}))
        .send()
        .await;
    assert!(
        own.as_ref().is_err_and(reqwest::Error::is_timeout),
        "tenant A's upload did not wait: {own:?}"
    );
    drop(stalled);
}

/// A connection that does not finish its headers within `--header-timeout` is closed; an idle
/// keep-alive connection is kept for `--idle-timeout`, then closed; the server goes on.
#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let s = Server::start_with_flags(&["--header-timeout", "1", "--idle-timeout", "4"]);
    let livez = b"GET /livez HTTP/1.1\r\nHost: selo\r\n\r\n";
    // Headers that never finish.
    let mut slow = connect(&s).await;
    slow.write_all(b"GET /livez HTTP/1.1\r\nHost: selo\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(10)).await);
    // A connection that sends nothing at all is closed by the same bound.
    let mut silent = connect(&s).await;
    assert!(closed_within(&mut silent, Duration::from_secs(10)).await);
    // A keep-alive connection outlives the header timeout while idle…
    let mut idle = connect(&s).await;
    idle.write_all(livez).await.unwrap();
    assert_eq!(status_of(&mut idle).await, Some(200));
    tokio::time::sleep(Duration::from_secs(2)).await;
    idle.write_all(livez).await.unwrap();
    assert_eq!(
        status_of(&mut idle).await,
        Some(200),
        "still open after twice the header timeout"
    );
    // …and is closed once idle for the idle timeout.
    let since = std::time::Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(15)).await);
    assert!(
        since.elapsed() >= Duration::from_secs(3),
        "closed after {:?}, before the idle timeout",
        since.elapsed()
    );
    let res = s.http.get(s.url("/livez")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// `--max-connections` bounds open connections: one more waits, unanswered, until another
/// closes.
#[tokio::test]
async fn max_connections_bounds_open_connections() {
    let s = Server::start_with_flags(&["--max-connections", "2"]);
    let livez = b"GET /livez HTTP/1.1\r\nHost: selo\r\n\r\n";
    let mut first = connect(&s).await;
    let mut second = connect(&s).await;
    for tcp in [&mut first, &mut second] {
        tcp.write_all(livez).await.unwrap();
        assert_eq!(status_of(tcp).await, Some(200));
    }
    let mut third = connect(&s).await;
    third.write_all(livez).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), status_of(&mut third))
            .await
            .is_err(),
        "a third connection is served while two are open"
    );
    drop(first);
    let answered = tokio::time::timeout(Duration::from_secs(10), status_of(&mut third)).await;
    assert_eq!(answered.ok().flatten(), Some(200));
}

/// Journeys, captures and links answer 404 on another environment's listener, so a
/// production process is never judged by the sandbox's engines (and the other way round).
#[tokio::test]
async fn journeys_and_links_answer_404_on_another_environments_listener() {
    // Without models, so that production's engines answer the same on every machine.
    let no_models = tempfile::tempdir().unwrap();
    let s = Server::start_with(crate::support::Opts {
        production: true,
        extra: vec!["--models".into(), no_models.path().to_str().unwrap().into()],
        ..Default::default()
    });
    let prod = s.env("production").url.clone();
    let sandbox = s.sandbox().url.clone();
    let p = s.tenant_in("production");
    let token = s.token(&p).await;
    let created: serde_json::Value = s
        .http
        .post(format!("{prod}/client/v1/process"))
        .header("authorization", format!("Bearer {token}"))
        .json(
            &json!({"callbackUri": "/", "flow": "id", "purpose": "biometryonboarding",
                      "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000272"}}),
        )
        .send_json()
        .await;
    let process = &created["process"];
    let (id, journey_token) = (
        process["id"].as_str().unwrap(),
        process["token"].as_str().unwrap(),
    );
    let link: serde_json::Value = s
        .http
        .post(format!("{prod}/v2/magic-link"))
        .header("x-api-key", &p.api_key)
        .json(&json!({"external_id": "00000000272"}))
        .send_json()
        .await;
    let link_token = link["data"]["token"].as_str().unwrap().to_string();
    let page = |base: &str| format!("{base}/journey/{id}?token={journey_token}");
    let capture = |base: &str| format!("{base}/journey/v1/process/{id}/capture");
    let link_page = |base: &str| format!("{base}/link/v2/{link_token}");
    let link_capture = |base: &str| format!("{base}/journey/v1/link/{link_token}/capture");
    let body = json!({"imageBase64": images::selfie()});
    // The sandbox listener knows none of them.
    for url in [page(&sandbox), link_page(&sandbox)] {
        assert_eq!(
            s.http.get(&url).send().await.unwrap().status(),
            404,
            "{url}"
        );
    }
    for url in [capture(&sandbox), link_capture(&sandbox)] {
        let res = s
            .http
            .post(&url)
            .header("selo-journey-token", journey_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{url}");
    }
    // Their own listener does, and judges them with production's engines — the local ones,
    // not installed here (503 `50302`; tests/it/engines.rs runs them on real faces), even for
    // 00000000272, which only the sandbox's table denies.
    assert_eq!(s.http.get(page(&prod)).send().await.unwrap().status(), 200);
    let done = s
        .http
        .post(capture(&prod))
        .header("selo-journey-token", journey_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 503);
    let read: serde_json::Value = s
        .http
        .get(format!("{prod}/client/v1/process/{id}"))
        .header("authorization", format!("Bearer {token}"))
        .send_json()
        .await;
    assert_eq!(read["process"]["state"], "PROCESS_STATE_CREATED", "{read}");
    let res = s
        .http
        .post(link_capture(&prod))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}

/// The token form, read before its credentials can be checked, is capped at 64 KiB (far under
/// the body limit), whether its length is declared or it comes chunked.
#[tokio::test]
async fn the_token_form_is_capped_at_64_kib() {
    let s = Server::start();
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
        "a".repeat(100 * 1024)
    );
    let res = s
        .http
        .post(s.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (&body["error"], &body["code"]),
        (&json!("invalid_request"), &json!("41301")),
        "{body}"
    );

    let mut tcp = connect(&s).await;
    let mut request = String::from(
        "POST /oauth2/token HTTP/1.1\r\nHost: selo\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for chunk in form.as_bytes().chunks(8 * 1024) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = head_of(&mut tcp).await.unwrap_or_default();
    assert_eq!(status_in(&head), Some(413), "{head}");
}
