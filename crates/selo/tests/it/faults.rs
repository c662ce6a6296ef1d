//! Sandbox fault injection (CONTRACT §12), and the SDK/CLI surviving it without duplicates.

use crate::support::SendJson;
use crate::support::{Opts, Server, Tenant, images};
use serde_json::{Value, json};

async fn plan(s: &Server, token: &str, body: Value) -> (u16, Value) {
    let res = s
        .http
        .post(s.url("/sandbox/faults"))
        .header("authorization", format!("Bearer {token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn lookup(s: &Server, t: &Tenant, token: &str, reference: &str) -> usize {
    let v: Value = s
        .http
        .get(s.url(&format!("/processes/v1?clientReference={reference}")))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .send_json()
        .await;
    v["items"].as_array().unwrap().len()
}

fn body(reference: &str) -> Value {
    json!({"subject": {"code": "00000000191", "name": "Maria Silva", "clientReference": reference}, "imageBase64": images::selfie()})
}

#[tokio::test]
async fn a_plan_consumes_its_faults_in_order_for_requests_naming_it() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let (status, p) = plan(
        &s,
        &token,
        json!({"match": {"method": "GET", "path": "/livez"}, "faults": ["503", "429:retry-after=2", "reset", "delay:200ms", "ok"]}),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["remaining"], 5);
    let get = || {
        s.http
            .get(s.url("/livez"))
            .header("selo-fault-plan", id)
            .send()
    };
    let r = get().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["should-retry"], "true");
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["description"].as_str().unwrap().contains(id));
    let r = get().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "2")
    );
    assert!(
        get().await.is_err(),
        "reset: the connection closes without a reply"
    );
    let started = std::time::Instant::now();
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert_eq!(get().await.unwrap().status(), 200);
    assert_eq!(
        get().await.unwrap().status(),
        200,
        "exhausted: real answers"
    );
    // Requests without the header are untouched.
    let (_, p2) = plan(
        &s,
        &token,
        json!({"match": {"path": "/livez"}, "faults": ["500"]}),
    )
    .await;
    assert_eq!(
        s.http.get(s.url("/livez")).send().await.unwrap().status(),
        200
    );
    let shown: Value = s
        .http
        .get(s.url(&format!("/sandbox/faults/{id}")))
        .header("authorization", format!("Bearer {token}"))
        .send_json()
        .await;
    let consumed: Vec<&str> = shown["consumed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fault"].as_str().unwrap())
        .collect();
    assert_eq!(
        consumed,
        ["503", "429:retry-after=2", "reset", "delay:200ms", "ok"]
    );
    assert_eq!(shown["remaining"], 0);
    assert_eq!(shown["consumed"][0]["request"], "GET /livez");
    assert_eq!(p2["remaining"], 1);
}

#[tokio::test]
async fn after_commit_faults_answer_an_error_for_a_stored_process() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let (_, p) = plan(&s, &token, json!({"match": {"method": "POST", "path": "/processes/v1"}, "faults": ["503:after-commit"]})).await;
    let res = s
        .http
        .post(s.url("/processes/v1"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .header("selo-fault-plan", p["id"].as_str().unwrap())
        .json(&body("after-commit"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    // CONTRACT §4: the process may exist, so a create without an Idempotency-Key is not to be
    // retried blindly; the description says how to find out.
    assert_eq!(res.headers()["should-retry"], "false");
    let v: Value = res.json().await.unwrap();
    let d = v["error"]["description"].as_str().unwrap();
    assert!(d.contains("GET /processes/v1?clientReference="), "{d}");
    assert_eq!(
        lookup(&s, &t, &token, "after-commit").await,
        1,
        "the process was stored anyway"
    );
}

/// `Should-Retry` on a create's 5xx depends on whether a retry can duplicate (CONTRACT §4),
/// on every create route; other 5xx say `true`.
#[tokio::test]
async fn a_create_5xx_says_retry_only_with_an_idempotency_key() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let creates = [
        ("/processes/v1", body("retry-advice"), "clientReference"),
        (
            "/client/v1/process",
            json!({"callbackUri": "/", "flow": "id", "purpose": "biometryonboarding",
                   "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191"}}),
            "clientReference",
        ),
        (
            "/v2/magic-link",
            json!({"external_id": "x"}),
            "Idempotency-Key",
        ),
    ];
    for (path, create, hint) in creates {
        let (_, p) = plan(
            &s,
            &token,
            json!({"match": {"method": "POST", "path": path}, "faults": ["500", "500"]}),
        )
        .await;
        let id = p["id"].as_str().unwrap();
        let send = |key: Option<&str>| {
            let mut r = s
                .http
                .post(s.url(path))
                .header("authorization", format!("Bearer {token}"))
                .header("apikey", &t.api_key)
                .header("x-api-key", &t.api_key)
                .header("selo-fault-plan", id)
                .json(&create);
            if let Some(key) = key {
                r = r.header("idempotency-key", key.to_string());
            }
            r.send()
        };
        let blind = send(None).await.unwrap();
        assert_eq!(blind.status(), 500, "{path}");
        assert_eq!(blind.headers()["should-retry"], "false", "{path}");
        let text = blind.text().await.unwrap();
        assert!(
            text.contains("may have taken effect") && text.contains(hint),
            "{path}: {text}"
        );
        let keyed = send(Some(&format!("k-{path}"))).await.unwrap();
        assert_eq!(keyed.status(), 500, "{path}");
        assert_eq!(keyed.headers()["should-retry"], "true", "{path}");
    }
    // A 5xx of a read can always be retried.
    let (_, p) = plan(
        &s,
        &token,
        json!({"match": {"method": "GET", "path": "/processes/v1"}, "faults": ["500"]}),
    )
    .await;
    let read = s
        .http
        .get(s.url("/processes/v1?clientReference=x"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .header("selo-fault-plan", p["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 500);
    assert_eq!(read.headers()["should-retry"], "true");
}

#[tokio::test]
async fn global_plans_touch_only_their_tenant_and_plans_are_private() {
    let s = Server::start();
    let a = s.tenant();
    let b = s.tenant();
    let (ta, tb) = (s.token(&a).await, s.token(&b).await);
    let (_, p) = plan(&s, &ta, json!({"match": {"method": "GET", "path": "/documents/v1"}, "faults": ["500", "500"], "global": true})).await;
    let docs = |t: &Tenant, token: &str, header: Option<&str>| {
        let mut r = s
            .http
            .get(s.url("/documents/v1?code=00000000191&type=BR_CNH"))
            .header("authorization", format!("Bearer {token}"))
            .header("apikey", t.api_key.clone());
        if let Some(h) = header {
            r = r.header("selo-fault-plan", h.to_string());
        }
        r.send()
    };
    let id = p["id"].as_str().unwrap();
    assert_eq!(
        docs(&b, &tb, None).await.unwrap().status(),
        200,
        "another tenant is untouched"
    );
    assert_eq!(
        docs(&b, &tb, Some(id)).await.unwrap().status(),
        200,
        "even naming the plan"
    );
    assert_eq!(docs(&a, &ta, None).await.unwrap().status(), 500);
    assert_eq!(docs(&a, &ta, None).await.unwrap().status(), 500);
    assert_eq!(docs(&a, &ta, None).await.unwrap().status(), 200);
    let other = s
        .http
        .get(s.url(&format!("/sandbox/faults/{id}")))
        .header("authorization", format!("Bearer {tb}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let no_token = s
        .http
        .post(s.url("/sandbox/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let (status, bad) = plan(
        &s,
        &ta,
        json!({"match": {"path": "livez"}, "faults": ["503", "boom", "200"]}),
    )
    .await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = bad["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["match.path", "faults[1]", "faults[2]"]);
}

#[tokio::test]
async fn production_has_no_fault_injection() {
    let s = Server::start_with(Opts {
        production: true,
        ..Opts::default()
    });
    let p = s.tenant_in("production");
    let token = s.token(&p).await;
    let res = s
        .http
        .post(format!("{}/sandbox/faults", s.env("production").url))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"match": {"path": "/livez"}, "faults": ["503"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["selo-features"], "idempotency-key");
}

/// Runs `selo process create` for `t` with `reference` as its `clientReference`.
fn cli_create(s: &Server, t: &Tenant, reference: &str) -> std::process::Output {
    let person = ["--cpf", "00000000191", "--name", "Maria Silva"];
    crate::support::selo_command()
        .args(["process", "create", "--client-reference", reference])
        .args(person)
        .arg("--image")
        .arg(s.selfie_file())
        .arg("--credentials")
        .arg(s.credentials_file(t))
        .output()
        .unwrap()
}

/// The seed's warning, end to end: a create that failed after it was stored, or whose
/// connection reset, is retried by the CLI (SDK) with its Idempotency-Key and makes one process.
#[tokio::test]
async fn the_cli_never_duplicates_a_create_that_failed_after_commit() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    for (reference, faults) in [
        ("cli-after-commit", json!(["503:after-commit"])),
        ("cli-reset", json!(["reset"])),
    ] {
        let (_, p) = plan(&s, &token, json!({"match": {"method": "POST", "path": "/processes/v1"}, "faults": faults, "global": true})).await;
        let out = cli_create(&s, &t, reference);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            lookup(&s, &t, &token, reference).await,
            1,
            "{reference}: exactly one process"
        );
        // The fault did hit the CLI's create (else this proves nothing).
        let shown: Value = s
            .http
            .get(s.url(&format!("/sandbox/faults/{}", p["id"].as_str().unwrap())))
            .header("authorization", format!("Bearer {token}"))
            .send_json()
            .await;
        assert_eq!(shown["remaining"], 0, "{reference}: {shown}");
        assert_eq!(shown["consumed"][0]["request"], "POST /processes/v1");
    }
}

/// CONTRACT §15 exit code 4: every attempt of a create (5, with backoff 1 + 2 + 4 + 8 s) ended
/// in a 5xx after the process was stored, so the CLI cannot say whether it exists; it says so
/// and names the `clientReference` to look up.
#[tokio::test]
async fn a_create_whose_every_attempt_failed_after_commit_is_outcome_unknown_exit_4() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let faults = Value::Array(vec![json!("503:after-commit"); 5]);
    plan(&s, &token, json!({"match": {"method": "POST", "path": "/processes/v1"}, "faults": faults, "global": true})).await;
    let out = cli_create(&s, &t, "cli-unknown");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cli-unknown"), "{stderr}");
    assert_eq!(
        lookup(&s, &t, &token, "cli-unknown").await,
        1,
        "stored once"
    );
}

#[tokio::test]
async fn global_plans_reach_magic_link_requests_of_the_tenant() {
    let s = Server::start();
    let t = s.tenant();
    let other = s.tenant();
    let token = s.token(&t).await;
    plan(&s, &token, json!({"match": {"method": "POST", "path": "/v2/magic-link"}, "faults": ["503"], "global": true})).await;
    let post = |key: String| {
        s.http
            .post(s.url("/v2/magic-link"))
            .header("x-api-key", key)
            .json(&json!({}))
            .send()
    };
    assert_eq!(
        post(other.api_key.clone()).await.unwrap().status(),
        200,
        "another tenant is untouched"
    );
    let res = post(t.api_key.clone()).await.unwrap();
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "error", "the Magic Link envelope: {v}");
    assert_eq!(post(t.api_key.clone()).await.unwrap().status(), 200);
}

/// CONTRACT §19: plans expire after `ttlSeconds` (default an hour, at most a day), a tenant
/// holds at most 100 live plans, and `match.path` is at most 512 characters.
#[tokio::test]
async fn fault_plans_expire_and_are_bounded() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let token = s.token(&t).await;
    let livez = json!({"method": "GET", "path": "/livez"});
    let (status, p) = plan(
        &s,
        &token,
        json!({"match": livez, "faults": ["503"], "ttlSeconds": 60}),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let expires = time::OffsetDateTime::parse(
        p["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires.unix_timestamp(), s.now().await + 60);
    let (_, default) = plan(&s, &token, json!({"match": livez, "faults": ["503"]})).await;
    let expires = time::OffsetDateTime::parse(
        default["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires.unix_timestamp(), s.now().await + 3600);
    s.advance(60).await;
    let token = s.token(&t).await;
    let res = s
        .http
        .get(s.url("/livez"))
        .header("selo-fault-plan", id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "an expired plan injects nothing");
    let shown = s
        .http
        .get(s.url(&format!("/sandbox/faults/{id}")))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 404, "an expired plan is forgotten");
    // Bounds on the request.
    for (bad, field) in [
        (
            json!({"match": livez, "faults": ["503"], "ttlSeconds": 0}),
            "ttlSeconds",
        ),
        (
            json!({"match": livez, "faults": ["503"], "ttlSeconds": 86_401}),
            "ttlSeconds",
        ),
        (
            json!({"match": {"path": format!("/{}", "a".repeat(512))}, "faults": ["503"]}),
            "match.path",
        ),
        (
            json!({"match": {"method": "G E T", "path": "/livez"}, "faults": ["503"]}),
            "match.method",
        ),
    ] {
        let (status, v) = plan(&s, &token, bad).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["fields"][0]["field"], field, "{v}");
    }
    // The one with the default TTL is still live: 99 more fill the tenant's 100.
    for _ in 0..99 {
        let (status, v) = plan(&s, &token, json!({"match": livez, "faults": ["ok"]})).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = plan(&s, &token, json!({"match": livez, "faults": ["ok"]})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "faults");
    assert!(
        v["error"]["description"]
            .as_str()
            .unwrap()
            .contains("100 live")
    );
    // Another tenant has its own 100; and once they expire, there is room again.
    let other = s.tenant();
    let other_token = s.token(&other).await;
    assert_eq!(
        plan(&s, &other_token, json!({"match": livez, "faults": ["ok"]}))
            .await
            .0,
        200
    );
    s.advance(3600).await;
    let token = s.token(&t).await;
    assert_eq!(
        plan(&s, &token, json!({"match": livez, "faults": ["ok"]}))
            .await
            .0,
        200
    );
}
