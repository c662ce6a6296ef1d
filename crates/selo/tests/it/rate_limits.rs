//! Rate limits (CONTRACT §10): per-tenant token buckets on the server's clock.

use crate::support::SendJson;
use crate::support::{Server, Tenant, images};
use serde_json::{Value, json};

/// A sandbox tenant with `rps` requests per second (burst `rps`), set before its first
/// request (the server caches a tenant's limit for up to a second).
fn limited_tenant(s: &Server, rps: &str) -> Tenant {
    let t = s.tenant();
    s.admin(&["tenant", "set-rate-limit", &t.id, rps]);
    t
}

/// A limited tenant and an access token, with a full bucket (the manual clock moves 1 s past
/// the token request).
async fn limited_with_token(s: &Server, rps: &str) -> (Tenant, String) {
    let t = limited_tenant(s, rps);
    let token = s.token(&t).await;
    s.advance(1).await;
    (t, token)
}

async fn documents(s: &Server, t: &Tenant, token: &str) -> reqwest::Response {
    s.http
        .get(s.url("/documents/v1?code=00000000191&type=BR_CNH"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_eleventh_request_in_a_second_is_429_until_the_bucket_refills() {
    let s = Server::start_manual_clock();
    let (t, token) = limited_with_token(&s, "10").await;
    for i in 0..10 {
        let res = documents(&s, &t, &token).await;
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(res.headers()["ratelimit-policy"], "\"tenant\";q=10;w=1");
        assert_eq!(
            res.headers()["ratelimit"].to_str().unwrap(),
            format!("\"tenant\";r={};t=1", 9 - i)
        );
    }
    let res = documents(&s, &t, &token).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["should-retry"], "true");
    assert_eq!(res.headers()["ratelimit"], "\"tenant\";r=0;t=1");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "42901");
    assert!(body["error"]["requestId"].is_string());
    // Waiting Retry-After lets the next one through (the manual clock, not a sleep).
    s.advance(1).await;
    assert_eq!(documents(&s, &t, &token).await.status(), 200);
}

#[tokio::test]
async fn tenants_do_not_share_a_bucket_and_unknown_callers_are_not_counted() {
    let s = Server::start_manual_clock();
    let (a, ta) = limited_with_token(&s, "1").await;
    let (b, tb) = limited_with_token(&s, "1").await;
    // Bad credentials cannot be tied to a tenant: not counted.
    for _ in 0..3 {
        let res = s
            .http
            .get(s.url("/documents/v1?code=00000000191&type=BR_CNH"))
            .header("authorization", format!("Bearer {ta}"))
            .header("apikey", "selo_wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().get("ratelimit").is_none());
    }
    assert_eq!(documents(&s, &a, &ta).await.status(), 200);
    assert_eq!(documents(&s, &a, &ta).await.status(), 429);
    assert_eq!(
        documents(&s, &b, &tb).await.status(),
        200,
        "b has its own bucket"
    );
}

#[tokio::test]
async fn order_is_401_then_429_then_403_then_400_and_a_rejected_create_does_nothing() {
    let s = Server::start_manual_clock();
    let (t, token) = limited_with_token(&s, "1").await;
    let docs_only = s.api_key(&t, "documents");
    assert_eq!(documents(&s, &t, &token).await.status(), 200);
    let post = |key: &str, bearer: &str, body: Value| {
        s.http
            .post(s.url("/processes/v1"))
            .header("authorization", format!("Bearer {bearer}"))
            .header("apikey", key.to_string())
            .json(&body)
            .send()
    };
    let good = json!({"subject": {"code": "00000000191", "name": "Maria Silva", "clientReference": "rl-1"}, "imageBase64": images::selfie()});
    // Exhausted bucket: a bad token is still 401, a key without the capability 429, a bad body 429.
    assert_eq!(
        post(&t.api_key, "nope", good.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        post(&docs_only, &token, good.clone())
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        post(&t.api_key, &token, json!({})).await.unwrap().status(),
        429
    );
    let res = post(&t.api_key, &token, good.clone()).await.unwrap();
    assert_eq!(res.status(), 429);
    // The rejected create stored nothing.
    s.advance(1).await;
    let found: Value = s
        .http
        .get(s.url("/processes/v1?clientReference=rl-1"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .send_json()
        .await;
    assert_eq!(found["items"], json!([]));
    // With a token back: 403 before 400.
    s.advance(1).await;
    assert_eq!(
        post(&docs_only, &token, json!({})).await.unwrap().status(),
        403
    );
    s.advance(1).await;
    assert_eq!(
        post(&t.api_key, &token, json!({})).await.unwrap().status(),
        400
    );
}

#[tokio::test]
async fn token_requests_count_and_a_refused_assertion_is_not_burned() {
    let s = Server::start_manual_clock();
    let t = limited_tenant(&s, "2");
    let aud = s.sandbox().audience.clone();
    assert_eq!(s.exchange("sandbox", &t.assertion(&aud)).await.0, 200);
    assert_eq!(s.exchange("sandbox", &t.assertion(&aud)).await.0, 200);
    let third = t.assertion(&aud);
    let res = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &third),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    // The token service answers in the OAuth2 error body (CONTRACT §2).
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert_eq!(body["code"], "42901", "{body}");
    // A bad assertion is not counted (cannot be tied to a tenant's credentials)...
    let (status, body) = s.exchange("sandbox", "garbage").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("1.2.20")));
    // ...and the refused one was not recorded as used: it works once the bucket refills.
    s.advance(1).await;
    assert_eq!(s.exchange("sandbox", &third).await.0, 200);
}

#[tokio::test]
async fn a_replayed_assertion_is_1_2_7_and_not_counted_even_with_an_empty_bucket() {
    let s = Server::start_manual_clock();
    let t = limited_tenant(&s, "2");
    let aud = s.sandbox().audience.clone();
    let first = t.assertion(&aud);
    assert_eq!(s.exchange("sandbox", &first).await.0, 200);
    // The replay is refused (401) and gives its token back: two more fresh ones still fit.
    let (status, body) = s.exchange("sandbox", &first).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("1.2.7")));
    assert_eq!(s.exchange("sandbox", &t.assertion(&aud)).await.0, 200);
    // The bucket is empty now; a replay still says 1.2.7 (its row comes before 429).
    let (status, body) = s.exchange("sandbox", &first).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("1.2.7")));
    let (status, _) = s.exchange("sandbox", &t.assertion(&aud)).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn tenants_default_to_ten_per_second_and_changes_apply_within_a_second() {
    let s = Server::start_manual_clock();
    // A tenant created without --rate-limit gets the server default.
    let created = s.admin(&["tenant", "create", "Default"]);
    let id = created["tenantId"].as_str().unwrap().to_string();
    let key_path = s.data.path().join("default.pem");
    let a = s.admin(&[
        "account",
        "create",
        "--tenant",
        &id,
        "acct",
        "--key-out",
        key_path.to_str().unwrap(),
    ]);
    let k = s.admin(&[
        "apikey",
        "create",
        "--tenant",
        &id,
        "--capabilities",
        "documents",
    ]);
    let t = Tenant {
        id: id.clone(),
        iss: a["iss"].as_str().unwrap().into(),
        key_id: a["keyId"].as_str().unwrap().into(),
        key_path,
        api_key: k["apiKey"].as_str().unwrap().into(),
        env: "sandbox".into(),
    };
    let listed = s.admin(&["tenant", "list"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tenantId"] == id.as_str())
        .unwrap();
    assert!(row["rateLimit"].is_null(), "no setting: the server default");
    let token = s.token(&t).await;
    s.advance(1).await;
    for _ in 0..10 {
        let res = documents(&s, &t, &token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["ratelimit-policy"], "\"tenant\";q=10;w=1");
    }
    assert_eq!(documents(&s, &t, &token).await.status(), 429);
    // Unlimited: the change reaches the running server within a second.
    s.admin(&["tenant", "set-rate-limit", &id, "0"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while documents(&s, &t, &token).await.status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "set-rate-limit not applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for _ in 0..30 {
        let res = documents(&s, &t, &token).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers().get("ratelimit").is_none(),
            "no quota when unlimited"
        );
    }
}

/// A journey capture counts against its tenant's budget (issue 13 §3) — but only while the
/// journey takes one: captures of a finished journey are 409 before anything is spent, so
/// whoever holds an old link cannot use up the integrator's requests.
#[tokio::test]
async fn captures_count_but_a_finished_journeys_do_not() {
    let s = Server::start_manual_clock();
    let (t, token) = limited_with_token(&s, "3").await;
    let web = s.web_process(&token, "00000000191").await; // 1 of 3
    assert_eq!(s.complete_journey(&web).await, 200); // 2 of 3
    for _ in 0..5 {
        let res = s.capture(&web, &crate::support::images::selfie()).await;
        assert_eq!(res.status(), 409, "a finished journey takes no capture");
    }
    assert_eq!(documents(&s, &t, &token).await.status(), 200, "3 of 3");
    assert_eq!(
        documents(&s, &t, &token).await.status(),
        429,
        "the budget was 3"
    );
}
