//! The Magic Link contract (CONTRACT §7): `x-api-key` only, its own envelopes, single-use links.

use crate::support::{Server, Tenant};
use serde_json::{Value, json};

async fn post(s: &Server, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = s.http.post(s.url("/v2/magic-link")).json(body);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn get(s: &Server, key: &str, token: &str) -> (u16, Value) {
    let res = s
        .http
        .get(s.url(&format!("/v2/magic-link/{token}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn complete(s: &Server, token: &str) -> (u16, Value) {
    let res = s.capture_link(token).await;
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn ml_error(got: &(u16, Value), status: u16, kind: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["status"], "error");
    assert_eq!(got.1["status_code"], status);
    assert_eq!(got.1["data"]["error"]["type"], kind, "{}", got.1);
    assert!(got.1["data"]["error"]["message"].is_string());
    assert!(got.1["data"]["error"]["atributte"].is_array());
    assert!(got.1["request_date"].is_string());
}

fn key(t: &Tenant) -> &str {
    &t.api_key
}

#[tokio::test]
async fn create_read_and_complete_a_link_once() {
    let s = Server::start();
    let t = s.tenant();
    let body = json!({"external_id": "00000000191", "metadata": {"redirect_url": "https://example.com/back", "webhook_url": null, "track_webhook_url": null}});
    let (status, v) = post(&s, Some(key(&t)), &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["status_code"].as_u64()),
        (Some("ok"), Some(200))
    );
    assert_eq!(v["request"], body);
    let data = &v["data"];
    assert_eq!(data["is_active"], true);
    assert_eq!(data["version"], "v2");
    assert_eq!(data["external_id"], "00000000191");
    let token = data["token"].as_str().unwrap();
    assert_eq!(
        data["magic_link_url"],
        format!("{}/link/v2/{token}", s.sandbox().url)
    );
    let (_, before) = get(&s, key(&t), token).await;
    assert_eq!(before["data"]["result"]["status"], "pending");
    assert!(before["data"].get("response").is_none());
    let page = s
        .http
        .get(data["magic_link_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("\"state\":\"open\""));
    let (status, done) = complete(&s, token).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["redirectUrl"], "https://example.com/back");
    let (_, after) = get(&s, key(&t), token).await;
    assert_eq!(after["data"]["result"]["status"], "verified");
    assert_eq!(after["data"]["response"]["unico"]["result"], "APPROVED");
    assert_eq!(after["data"]["is_active"], false);
    // Single use.
    assert_eq!(complete(&s, token).await.0, 409);
    let page = s
        .http
        .get(data["magic_link_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("already used"));
}

#[tokio::test]
async fn external_id_picks_the_sandbox_scenario() {
    let s = Server::start();
    let t = s.tenant();
    for (external_id, status, unico) in [
        (json!("00000000434"), "verified", "APPROVED"),
        (json!("00000000272"), "not_verified", "NOT_APPROVED"),
        (json!("00000000353"), "not_verified", "NOT_APPROVED"),
        (json!("00000000787"), "not_verified", "NOT_APPROVED"),
        (json!("customer-42"), "verified", "APPROVED"),
        (Value::Null, "verified", "APPROVED"),
    ] {
        let (_, v) = post(
            &s,
            Some(key(&t)),
            &json!({"external_id": external_id, "metadata": {}}),
        )
        .await;
        let token = v["data"]["token"].as_str().unwrap().to_string();
        assert_eq!(complete(&s, &token).await.0, 200);
        let (_, after) = get(&s, key(&t), &token).await;
        assert_eq!(after["data"]["result"]["status"], status, "{external_id}");
        assert_eq!(
            after["data"]["response"]["unico"]["result"], unico,
            "{external_id}"
        );
    }
}

#[tokio::test]
async fn errors_use_the_magic_link_envelope() {
    let s = Server::start();
    let t = s.tenant();
    let other = s.tenant();
    ml_error(
        &post(&s, None, &json!({})).await,
        401,
        "authentication_error",
    );
    ml_error(
        &post(&s, Some("selo_wrong"), &json!({})).await,
        401,
        "authentication_error",
    );
    let no_cap = s.api_key(&t, "identity,liveness");
    ml_error(
        &post(&s, Some(&no_cap), &json!({})).await,
        403,
        "permission_error",
    );
    let got = post(
        &s,
        Some(key(&t)),
        &json!({"external_id": 5, "metadata": {"webhook_url": "ftp://x"}}),
    )
    .await;
    ml_error(&got, 400, "validation_error");
    assert_eq!(
        got.1["data"]["error"]["atributte"],
        json!(["external_id", "metadata.webhook_url"])
    );
    ml_error(
        &get(&s, key(&t), "00000000-0000-0000-0000-000000000000").await,
        404,
        "not_found",
    );
    let (_, v) = post(&s, Some(key(&t)), &json!({})).await;
    let token = v["data"]["token"].as_str().unwrap();
    ml_error(&get(&s, key(&other), token).await, 404, "not_found");
    // The Bearer/APIKEY pair of the other contracts is not accepted here.
    let bearer = s.token(&t).await;
    let res = s
        .http
        .post(s.url("/v2/magic-link"))
        .header("authorization", format!("Bearer {bearer}"))
        .header("apikey", key(&t))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
