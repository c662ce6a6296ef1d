//! `Idempotency-Key` on creates (CONTRACT §11) and the `clientReference` lookup (§5 [ext]).

use crate::support::SendJson;
use crate::support::{Server, Tenant, images};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

struct Reply {
    status: u16,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

async fn create(s: &Server, t: &Tenant, token: &str, key: Option<&str>, body: &Value) -> Reply {
    let mut req = s
        .http
        .post(s.url("/processes/v1"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .json(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.unwrap();
    Reply {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        bytes: res.bytes().await.unwrap().to_vec(),
    }
}

async fn lookup(s: &Server, t: &Tenant, token: &str, reference: &str) -> Value {
    s.http
        .get(s.url(&format!("/processes/v1?clientReference={reference}")))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .send_json()
        .await
}

fn body(cpf: &str, reference: &str) -> Value {
    json!({"subject": {"code": cpf, "name": "Maria Silva", "clientReference": reference}, "imageBase64": images::selfie()})
}

#[tokio::test]
async fn same_key_same_body_replays_byte_for_byte_and_another_body_is_422() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let b = body("00000000191", "idem-1");
    let first = create(&s, &t, &token, Some("key-1"), &b).await;
    assert_eq!(first.status, 200);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = create(&s, &t, &token, Some("key-1"), &b).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.bytes, first.bytes, "replayed byte for byte");
    assert_eq!(again.headers["content-type"], "application/json");
    assert_eq!(
        lookup(&s, &t, &token, "idem-1").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Another body under the same key.
    let other = create(
        &s,
        &t,
        &token,
        Some("key-1"),
        &body("00000000272", "idem-1"),
    )
    .await;
    assert_eq!(other.status, 422);
    assert_eq!(other.json()["error"]["code"], "42201");
    // Another key creates another process; no key behaves exactly like IDCloud (two posts, two processes).
    assert_eq!(create(&s, &t, &token, Some("key-2"), &b).await.status, 200);
    assert_eq!(create(&s, &t, &token, None, &b).await.status, 200);
    assert_eq!(create(&s, &t, &token, None, &b).await.status, 200);
    assert_eq!(
        lookup(&s, &t, &token, "idem-1").await["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn keys_are_scoped_to_the_tenant_and_errors_are_not_stored() {
    let s = Server::start();
    let a = s.tenant();
    let b = s.tenant();
    let (ta, tb) = (s.token(&a).await, s.token(&b).await);
    let good = body("00000000191", "scoped");
    let ra = create(&s, &a, &ta, Some("shared-key"), &good).await;
    let rb = create(&s, &b, &tb, Some("shared-key"), &good).await;
    assert_eq!((ra.status, rb.status), (200, 200));
    assert_ne!(
        ra.json()["id"],
        rb.json()["id"],
        "another tenant's key is another record"
    );
    // A 400 is not stored: the retry is judged again (not replayed), and the key stays free
    // for the corrected body.
    let bad = json!({"subject": {"code": "123", "name": "X"}, "imageBase64": images::selfie()});
    let r1 = create(&s, &a, &ta, Some("k-400"), &bad).await;
    assert_eq!(r1.status, 400);
    let r2 = create(&s, &a, &ta, Some("k-400"), &bad).await;
    assert_eq!(r2.status, 400);
    assert!(r2.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        create(&s, &a, &ta, Some("k-400"), &good).await.status,
        200,
        "the key was not taken by the 400"
    );
    // A 401 is not stored either.
    let unauth = create(&s, &a, "nope", Some("k-401"), &good).await;
    assert_eq!(unauth.status, 401);
    assert_eq!(create(&s, &a, &ta, Some("k-401"), &good).await.status, 200);
    // Invalid keys are a 400 naming the header.
    let long = "x".repeat(256);
    let r = create(&s, &a, &ta, Some(&long), &good).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["fields"][0],
        json!({"field": "Idempotency-Key", "reason": "too_long"})
    );
    assert_eq!(
        create(&s, &a, &ta, Some(&"y".repeat(255)), &good)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_process() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    // Rounds of 32 simultaneous creates with one key each: exactly one process per key, every
    // 200 names it, the others are 409 `40901` with `Should-Retry: true` (CONTRACT §4) — and a
    // 409 must be seen at least once, or the race was never run.
    let mut conflicts = 0;
    for round in 0..5 {
        let reference = format!("race-{round}");
        let key = format!("one-key-{round}");
        let b = body("00000000191", &reference);
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (s2, t2, token2, b2, key2) = (
                s.http.clone(),
                t.clone(),
                token.clone(),
                b.clone(),
                key.clone(),
            );
            let url = s.url("/processes/v1");
            tasks.push(tokio::spawn(async move {
                let res = s2
                    .post(url)
                    .header("authorization", format!("Bearer {token2}"))
                    .header("apikey", &t2.api_key)
                    .header("idempotency-key", key2)
                    .json(&b2)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let retry = res
                    .headers()
                    .get("should-retry")
                    .map(|v| v.to_str().unwrap().to_string());
                let v: Value = res.json().await.unwrap();
                (status, retry, v)
            }));
        }
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            let (status, retry, v) = task.await.unwrap();
            match status {
                200 => {
                    ids.insert(v["id"].as_str().unwrap().to_string());
                }
                409 => {
                    assert_eq!(v["error"]["code"], "40901");
                    assert_eq!(
                        retry.as_deref(),
                        Some("true"),
                        "a key still in flight is worth retrying"
                    );
                    conflicts += 1;
                }
                other => panic!("unexpected {other}: {v}"),
            }
        }
        assert_eq!(ids.len(), 1, "every 200 names the same process");
        assert_eq!(
            lookup(&s, &t, &token, &reference).await["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        if conflicts > 0 {
            break;
        }
    }
    assert!(conflicts > 0, "no create ever found its key in flight");
}

#[tokio::test]
async fn records_expire_after_the_retention() {
    let s = Server::start_with(crate::support::Opts {
        manual_clock: true,
        extra: vec!["--idempotency-retention".into(), "60".into()],
        ..Default::default()
    });
    let t = s.tenant();
    let token = s.token(&t).await;
    let b = body("00000000191", "expiry");
    let first = create(&s, &t, &token, Some("k"), &b).await;
    s.advance(60).await;
    let replay = create(&s, &t, &token, Some("k"), &b).await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.bytes, first.bytes);
    s.advance(1).await;
    let fresh = create(&s, &t, &token, Some("k"), &b).await;
    assert_eq!(fresh.status, 200);
    assert!(fresh.headers.get("idempotent-replayed").is_none());
    assert_ne!(fresh.json()["id"], first.json()["id"]);
}

#[tokio::test]
async fn lookup_by_client_reference_is_tenant_scoped_newest_first_and_bounded() {
    let s = Server::start_manual_clock();
    let a = s.tenant();
    let b = s.tenant();
    let (ta, tb) = (s.token(&a).await, s.token(&b).await);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            create(&s, &a, &ta, None, &body("00000000191", "order-7"))
                .await
                .json()["id"]
                .clone(),
        );
        s.advance(1).await;
    }
    let status5 = create(&s, &a, &ta, None, &body("00000000787", "order-7"))
        .await
        .json();
    create(&s, &b, &tb, None, &body("00000000191", "order-7")).await;
    let found = lookup(&s, &a, &ta, "order-7").await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "only the caller's processes");
    assert_eq!(items[0], json!({"id": status5["id"], "status": 5}));
    assert_eq!(items[1]["id"], ids[2]);
    assert_eq!(items[3]["id"], ids[0]);
    assert_eq!(lookup(&s, &a, &ta, "nothing").await, json!({"items": []}));
    for _ in 0..52 {
        create(&s, &b, &tb, None, &body("00000000191", "many")).await;
    }
    assert_eq!(
        lookup(&s, &b, &tb, "many").await["items"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    let res = s
        .http
        .get(s.url("/processes/v1"))
        .header("authorization", format!("Bearer {ta}"))
        .header("apikey", &a.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn the_capability_check_comes_before_the_key_check() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let docs_only = Tenant {
        api_key: s.api_key(&t, "documents"),
        ..t.clone()
    };
    let long = "x".repeat(300);
    let r = create(
        &s,
        &docs_only,
        &token,
        Some(&long),
        &body("00000000191", "order"),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.json());
}
