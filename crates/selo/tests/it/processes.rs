//! API contract: processes, validation, scenarios (CONTRACT §4, §5, §8, §9, §14).

use crate::support::{Opts, Server, Tenant, images};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A response: status, headers and the JSON body (`Null` when the body is not JSON).
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body without its `id`.
    fn without_id(&self) -> Value {
        let mut v = self.body.clone();
        v.as_object_mut()
            .unwrap_or_else(|| panic!("not an object: {}", self.body))
            .remove("id");
        v
    }

    /// The `id` of a created process.
    fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_string()
    }
}

async fn into_resp(res: reqwest::Response) -> Resp {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

/// An authenticated caller of one environment: base URL, access token and API key.
#[derive(Clone)]
struct Caller<'a> {
    s: &'a Server,
    base: String,
    token: String,
    key: String,
}

impl<'a> Caller<'a> {
    /// The tenant's all-capability key and a fresh token, against the tenant's environment.
    async fn new(s: &'a Server, t: &Tenant) -> Caller<'a> {
        Caller {
            s,
            base: s.env(&t.env).url.clone(),
            token: s.token(t).await,
            key: t.api_key.clone(),
        }
    }

    fn with_key(&self, key: &str) -> Caller<'a> {
        Caller {
            key: key.to_string(),
            ..self.clone()
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.s
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("APIKEY", &self.key)
    }

    async fn create(&self, body: &Value) -> Resp {
        into_resp(
            self.req(Method::POST, "/processes/v1")
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn create_raw(&self, body: impl Into<reqwest::Body>) -> Resp {
        let req = self
            .req(Method::POST, "/processes/v1")
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        into_resp(req.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Resp {
        into_resp(self.req(Method::GET, path).send().await.unwrap()).await
    }

    async fn process(&self, id: &str) -> Resp {
        self.get(&format!("/processes/v1/{id}")).await
    }
}

/// An onboarding body for `cpf` with `image`.
fn onboarding(cpf: &str, image: impl Into<Value>) -> Value {
    json!({"subject": {"code": cpf, "name": "Maria Silva"}, "imageBase64": image.into()})
}

/// A transactional body referencing process `id`.
fn transactional(id: &str) -> Value {
    json!({
        "references": [{"referenceType": "REFERENCE_TYPE_PROCESS_ID", "referenceContent": id}],
        "imageBase64": images::selfie()
    })
}

/// Checks the error envelope of CONTRACT §4 and returns `error`: status, a numeric string
/// `code`, a description, `requestId` equal to the `Request-Id` header, an RFC 3339
/// `timestamp`, `Should-Retry` and, on a 400, a `fields` list.
#[track_caller]
fn envelope(r: &Resp, status: u16) -> &Value {
    assert_eq!(r.status, status, "body: {}", r.body);
    let e = &r.body["error"];
    let code = e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("code is a string: {}", r.body));
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()),
        "code {code}"
    );
    assert!(
        e["description"].as_str().is_some_and(|d| !d.is_empty()),
        "description: {}",
        r.body
    );
    let rid = e["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("requestId: {}", r.body));
    assert!(!rid.is_empty());
    assert_eq!(
        r.header("request-id"),
        Some(rid),
        "Request-Id header = body requestId"
    );
    let ts = e["timestamp"]
        .as_str()
        .unwrap_or_else(|| panic!("timestamp: {}", r.body));
    OffsetDateTime::parse(ts, &Rfc3339).unwrap_or_else(|_| panic!("timestamp {ts} is RFC 3339"));
    let retry = if status >= 500 || status == 429 || status == 408 {
        "true"
    } else {
        "false"
    };
    assert_eq!(
        r.header("should-retry"),
        Some(retry),
        "Should-Retry on {status}"
    );
    if status == 400 {
        assert!(e["fields"].is_array(), "every 400 has fields: {}", r.body);
    }
    e
}

/// An error response with `status` and `code`.
#[track_caller]
fn assert_problem(r: &Resp, status: u16, code: &str) {
    let e = envelope(r, status);
    assert_eq!(e["code"], code, "body: {}", r.body);
}

/// A 400 with `code` naming exactly `fields` (`(field, reason)`, in order).
#[track_caller]
fn assert_invalid(r: &Resp, code: &str, fields: &[(&str, &str)]) {
    assert_problem(r, 400, code);
    let want: Vec<Value> = fields
        .iter()
        .map(|(field, reason)| json!({"field": field, "reason": reason}))
        .collect();
    assert_eq!(
        r.body["error"]["fields"],
        Value::Array(want),
        "body: {}",
        r.body
    );
}

#[track_caller]
fn assert_uuid(id: &str) {
    let u = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id} is a UUID"));
    assert_eq!(
        u.hyphenated().to_string(),
        id.to_ascii_lowercase(),
        "canonical form"
    );
}

// ---- 1. happy path -------------------------------------------------------------------------

#[tokio::test]
async fn create_approved_answers_the_result_and_get_returns_the_same_view() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let r = c
        .create(&json!({"subject": {"code": "00000000191", "name": "Maria Silva"}, "imageBase64": images::selfie()}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.id();
    assert_uuid(&id);
    assert_eq!(r.body["status"], 3);
    assert_eq!(r.body["unicoId"]["result"], "yes");
    assert!(
        r.body.get("liveness").is_none(),
        "no liveness when unicoId is yes: {}",
        r.body
    );
    assert_eq!(
        r.without_id(),
        json!({"status": 3, "unicoId": {"result": "yes"}})
    );
    // A minted request id is a UUID v7 in simple form (docs/decisions.md), new per request.
    let minted = r.header("request-id").expect("Request-Id on a 200");
    let rid = uuid::Uuid::try_parse(minted).unwrap_or_else(|_| panic!("{minted} is a UUID"));
    assert_eq!(
        (rid.get_version_num(), rid.simple().to_string()),
        (7, minted.into())
    );
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );

    let g = c.process(&id).await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.body, r.body);
    assert!(
        g.header("request-id")
            .is_some_and(|v| v.len() == 32 && v != minted)
    );
    // Two creates are two processes.
    let again = c.create(&onboarding("00000000191", images::selfie())).await;
    assert_eq!(again.status, 200);
    assert_ne!(again.id(), id);
}

#[tokio::test]
async fn png_webp_data_prefixes_and_portrait_selfies_are_accepted() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let jpeg = images::selfie();
    let cases = [
        ("png 640x480", images::b64(&images::png(640, 480))),
        ("webp 640x480", images::b64(&images::webp(640, 480))),
        (
            "jpeg data: prefix",
            format!("data:image/jpeg;base64,{jpeg}"),
        ),
        (
            "png data: prefix",
            format!(
                "data:image/png;base64,{}",
                images::b64(&images::png(640, 480))
            ),
        ),
        (
            "webp data: prefix",
            format!(
                "data:image/webp;base64,{}",
                images::b64(&images::webp(640, 480))
            ),
        ),
        (
            "jpeg 480x640 portrait",
            images::b64(&images::jpeg(480, 640)),
        ),
        ("png 480x640 portrait", images::b64(&images::png(480, 640))),
        ("jpeg 640x480 exactly", jpeg.clone()),
        ("jpeg 1280x960", images::b64(&images::jpeg(1280, 960))),
    ];
    for (label, image) in cases {
        let r = c.create(&onboarding("00000000191", image)).await;
        assert_eq!(r.status, 200, "{label}: {}", r.body);
        assert_eq!(
            r.without_id(),
            json!({"status": 3, "unicoId": {"result": "yes"}}),
            "{label}"
        );
    }
}

// ---- 2. validation -------------------------------------------------------------------------

#[tokio::test]
async fn empty_non_json_and_non_object_bodies_are_20003_with_no_fields() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    for body in [
        "", "   \n", "not json", "{", "[]", "[1, 2]", "\"text\"", "42", "null",
    ] {
        let r = c.create_raw(body.to_string()).await;
        assert_invalid(&r, "20003", &[]);
    }
    // Without a Content-Type at all.
    let r = into_resp(c.req(Method::POST, "/processes/v1").send().await.unwrap()).await;
    assert_invalid(&r, "20003", &[]);
}

#[tokio::test]
async fn subject_errors_each_on_their_own() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let img = images::selfie();
    // (body, code, field, reason)
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (json!({"imageBase64": img}), "20004", "subject", "required"),
        (
            json!({"subject": null, "imageBase64": img}),
            "20004",
            "subject",
            "required",
        ),
        (
            json!({"subject": "Maria", "imageBase64": img}),
            "20004",
            "subject",
            "wrong_type",
        ),
        (
            json!({"subject": ["x"], "imageBase64": img}),
            "20004",
            "subject",
            "wrong_type",
        ),
        (
            json!({"subject": {"name": "Maria Silva"}, "imageBase64": img}),
            "20005",
            "subject.code",
            "required",
        ),
        (
            json!({"subject": {"code": "", "name": "Maria Silva"}, "imageBase64": img}),
            "20005",
            "subject.code",
            "required",
        ),
        (
            json!({"subject": {"code": 191, "name": "Maria Silva"}, "imageBase64": img}),
            "20005",
            "subject.code",
            "wrong_type",
        ),
        (
            onboarding("00000000192", img.clone()),
            "20507",
            "subject.code",
            "invalid",
        ),
        (
            onboarding("529.982.247-25", img.clone()),
            "20507",
            "subject.code",
            "invalid",
        ),
        (
            onboarding("123", img.clone()),
            "20507",
            "subject.code",
            "invalid",
        ),
        (
            onboarding("HEGG560427MVZRRL05", img.clone()),
            "20507",
            "subject.code",
            "invalid",
        ),
        (
            json!({"subject": {"code": "00000000191"}, "imageBase64": img}),
            "20006",
            "subject.name",
            "required",
        ),
        (
            json!({"subject": {"code": "00000000191", "name": true}, "imageBase64": img}),
            "20006",
            "subject.name",
            "wrong_type",
        ),
        (
            json!({"subject": {"code": "00000000191", "name": "Maria Silva", "clientReference": "x".repeat(257)}, "imageBase64": img}),
            "20003",
            "subject.clientReference",
            "too_long",
        ),
    ];
    for (body, code, field, reason) in cases {
        let r = c.create(&body).await;
        assert_invalid(&r, code, &[(field, reason)]);
    }
    // A valid CURP is accepted, and so is any other valid CPF.
    for code in ["HEGG560427MVZRRL04", "52998224725"] {
        let r = c.create(&onboarding(code, img.clone())).await;
        assert_eq!(r.status, 200, "{code}: {}", r.body);
        assert_eq!(
            r.without_id(),
            json!({"status": 3, "unicoId": {"result": "yes"}})
        );
    }
    // A clientReference of exactly 256 characters is fine.
    let r = c
        .create(&json!({"subject": {"code": "00000000191", "name": "Maria Silva", "clientReference": "x".repeat(256)}, "imageBase64": img}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn image_errors_each_on_their_own() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let jpeg = images::jpeg(640, 480);

    // Over 800 KiB decoded: rejected on size whatever the content.
    let mut large = vec![0xFF, 0xD8, 0xFF];
    large.resize(819_201, 0);
    let mut large_gif = images::gif();
    large_gif.resize(819_201, 0);
    // Exactly 800 KiB is not too large (it fails later, as undecodable).
    let mut limit = vec![0xFF, 0xD8, 0xFF];
    limit.resize(819_200, 0);
    let truncated = &jpeg[..jpeg.len() / 2];
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("missing", Value::Null, "20009", "required"),
        ("empty", json!(""), "20009", "required"),
        ("number", json!(123), "20009", "wrong_type"),
        ("object", json!({"b64": "x"}), "20009", "wrong_type"),
        (
            "not base64",
            json!("@@@ not base64 @@@"),
            "20900",
            "invalid",
        ),
        (
            "too large",
            json!(images::b64(&large)),
            "20506",
            "too_large",
        ),
        (
            "too large gif",
            json!(images::b64(&large_gif)),
            "20506",
            "too_large",
        ),
        (
            "800 KiB exactly",
            json!(images::b64(&limit)),
            "20900",
            "invalid",
        ),
        (
            "gif",
            json!(images::b64(&images::gif())),
            "20505",
            "unsupported_format",
        ),
        (
            "gif data: prefix",
            json!(format!("data:image/gif;base64,{}", images::selfie())),
            "20505",
            "unsupported_format",
        ),
        (
            "text data: prefix",
            json!(format!("data:text/plain;base64,{}", images::selfie())),
            "20505",
            "unsupported_format",
        ),
        (
            "random bytes",
            json!(images::b64(&random)),
            "20900",
            "invalid",
        ),
        (
            "truncated jpeg",
            json!(images::b64(truncated)),
            "20900",
            "invalid",
        ),
        (
            "639x480",
            json!(images::b64(&images::jpeg(639, 480))),
            "20807",
            "too_small",
        ),
        (
            "640x479",
            json!(images::b64(&images::jpeg(640, 479))),
            "20807",
            "too_small",
        ),
        (
            "479x640 portrait",
            json!(images::b64(&images::jpeg(479, 640))),
            "20807",
            "too_small",
        ),
        (
            "png 320x240",
            json!(images::b64(&images::png(320, 240))),
            "20807",
            "too_small",
        ),
        // Small on disk, 20 MP in memory: over the decode bound (16 MP), never decoded.
        (
            "5000x4000 flat jpeg",
            json!(images::b64(&images::flat_jpeg(5000, 4000))),
            "20900",
            "too_large",
        ),
    ];
    for (label, image, code, reason) in cases {
        let mut body = json!({"subject": {"code": "00000000191", "name": "Maria Silva"}});
        if !image.is_null() {
            body["imageBase64"] = image;
        }
        let r = c.create(&body).await;
        assert_eq!(r.status, 400, "{label}: {}", r.body);
        assert_invalid(&r, code, &[("imageBase64", reason)]);
    }
    // 640×480 passes.
    let r = c
        .create(&onboarding("00000000191", images::b64(&jpeg)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_foreign_data_prefix_is_judged_after_base64_and_size() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let mut large = vec![0xFF, 0xD8, 0xFF];
    large.resize(819_201, 0);
    let cases = [
        (
            "data:image/gif;base64,@@@ not base64 @@@".to_string(),
            "20900",
            "invalid",
        ),
        (
            format!("data:image/gif;base64,{}", images::b64(&large)),
            "20506",
            "too_large",
        ),
    ];
    for (image, code, reason) in cases {
        let r = c.create(&onboarding("00000000191", image)).await;
        assert_invalid(&r, code, &[("imageBase64", reason)]);
    }
}

#[tokio::test]
async fn a_null_references_member_is_an_onboarding_body() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let identity = c.with_key(&s.api_key(&t, "identity"));
    let mut body = onboarding("00000000191", images::selfie());
    body["references"] = Value::Null;
    let r = identity.create(&body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.without_id(),
        json!({"status": 3, "unicoId": {"result": "yes"}})
    );
}

#[tokio::test]
async fn every_offending_field_is_listed_in_schema_order() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let r = c
        .create(&json!({
            "imageBase64": images::b64(&images::gif()),
            "subsidiaryId": "not-a-uuid",
            "useCase": 7,
            "subject": {
                "clientReference": "has spaces",
                "phone": "call me",
                "email": "nope",
                "birthDate": "1990-02-30",
                "gender": "X",
                "name": 42,
                "code": "00000000192",
                "nickname": "ignored"
            },
            "extra": {"ignored": true}
        }))
        .await;
    assert_invalid(
        &r,
        "20507",
        &[
            ("subject.code", "invalid"),
            ("subject.name", "wrong_type"),
            ("subject.gender", "invalid"),
            ("subject.birthDate", "invalid"),
            ("subject.email", "invalid"),
            ("subject.phone", "invalid"),
            ("subject.clientReference", "invalid"),
            ("useCase", "wrong_type"),
            ("subsidiaryId", "invalid"),
            ("imageBase64", "unsupported_format"),
        ],
    );
    let desc = r.body["error"]["description"].as_str().unwrap();
    assert!(
        desc.contains("subject.code") && desc.contains("imageBase64"),
        "{desc}"
    );

    assert_invalid(
        &c.create(&json!({})).await,
        "20004",
        &[("subject", "required"), ("imageBase64", "required")],
    );
    assert_invalid(
        &c.create(&json!({"subject": {}, "imageBase64": "@@@"}))
            .await,
        "20005",
        &[
            ("subject.code", "required"),
            ("subject.name", "required"),
            ("imageBase64", "invalid"),
        ],
    );
    assert_invalid(
        &c.create(&json!({"subject": {"code": 1, "name": []}, "imageBase64": false}))
            .await,
        "20005",
        &[
            ("subject.code", "wrong_type"),
            ("subject.name", "wrong_type"),
            ("imageBase64", "wrong_type"),
        ],
    );
    assert_invalid(
        &c.create(&json!({"subject": {"name": "Maria Silva"}, "imageBase64": images::b64(&images::jpeg(639, 480))}))
            .await,
        "20005",
        &[("subject.code", "required"), ("imageBase64", "too_small")],
    );
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let r = c
        .create(&json!({
            "subject": {"code": "00000000191", "name": "Maria Silva", "favouriteColour": "blue",
                        "gender": "F", "birthDate": "1990-02-28", "email": "maria@example.com",
                        "phone": "5511974749090", "clientReference": "ref-1"},
            "imageBase64": images::selfie(),
            "useCase": "Onboarding",
            "subsidiaryId": "0190f5c2-7a8e-7cc1-9a0e-2f1d3c4b5a69",
            "futureField": {"nested": [1, 2, 3]},
            "anotherOne": null
        }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.without_id(),
        json!({"status": 3, "unicoId": {"result": "yes"}})
    );
}

// ---- 3. output rules and sandbox scenarios ---------------------------------------------------

/// CONTRACT §8's table: CPF, scenario name, create response (minus `id`) with every capability.
fn scenario_table() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "00000000191",
            "approved",
            json!({"status": 3, "unicoId": {"result": "yes"}}),
        ),
        (
            "00000000272",
            "identity-denied",
            json!({"status": 3, "unicoId": {"result": "no"}, "liveness": 1}),
        ),
        (
            "00000000353",
            "liveness-failed",
            json!({"status": 3, "unicoId": {"result": "inconclusive"}, "liveness": 2}),
        ),
        (
            "00000000434",
            "inconclusive-positive-score",
            json!({"status": 3, "unicoId": {"result": "inconclusive"}, "liveness": 1, "score": 50}),
        ),
        (
            "00000000515",
            "inconclusive-negative-score",
            json!({"status": 3, "unicoId": {"result": "inconclusive"}, "liveness": 1, "score": -60}),
        ),
        (
            "00000000604",
            "divergence",
            json!({"status": 2, "unicoId": {"result": "inconclusive"}, "liveness": 1}),
        ),
        ("00000000787", "processing-error", json!({"status": 5})),
        ("00000000868", "async-behavior-alert", json!({"status": 1})),
    ]
}

#[tokio::test]
async fn every_sandbox_scenario_answers_exactly_its_row_and_the_scenario_list_matches() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let mut created = Vec::new();
    for (cpf, name, want) in scenario_table() {
        let r = c.create(&onboarding(cpf, images::selfie())).await;
        assert_eq!(r.status, 200, "{cpf} ({name}): {}", r.body);
        assert_uuid(&r.id());
        assert_eq!(r.without_id(), want, "{cpf} ({name})");
        if matches!(want["status"].as_u64(), Some(2 | 3)) {
            let g = c.process(&r.id()).await;
            assert_eq!(g.status, 200, "{cpf}");
            assert_eq!(g.body, r.body, "GET {cpf} shows the create's view");
        }
        created.push((cpf, r.id()));
    }
    // Any other valid CPF is approved.
    let r = c.create(&onboarding("52998224725", images::selfie())).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.without_id(),
        json!({"status": 3, "unicoId": {"result": "yes"}})
    );

    // The async row, once finished.
    s.advance(2).await;
    let async_id = &created
        .iter()
        .find(|(cpf, _)| *cpf == "00000000868")
        .unwrap()
        .1;
    let finished = c.process(async_id).await;
    assert_eq!(finished.status, 200, "{}", finished.body);

    let list = into_resp(
        s.http
            .get(s.url("/sandbox/scenarios"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let rows = list.body["scenarios"].as_array().expect("scenarios");
    assert_eq!(rows.len(), 8, "{}", list.body);
    for (row, (cpf, name, want)) in rows.iter().zip(scenario_table()) {
        assert_eq!(row["cpf"], cpf);
        assert_eq!(row["scenario"], name);
        if cpf == "00000000868" {
            assert_eq!(
                row["api"],
                finished.without_id(),
                "async row shows the finished view"
            );
            assert_eq!(row["completesAfterSeconds"], 2);
        } else {
            assert_eq!(row["api"], want, "{cpf}");
        }
    }
}

#[tokio::test]
async fn capabilities_shape_the_output() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    // No liveness capability: liveness is always 1, even for the liveness-failed scenario.
    let identity = c.with_key(&s.api_key(&t, "identity"));
    let r = identity
        .create(&onboarding("00000000353", images::selfie()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.without_id(),
        json!({"status": 3, "unicoId": {"result": "inconclusive"}, "liveness": 1})
    );
    // No riskscore capability: no score.
    let no_score = c.with_key(&s.api_key(&t, "identity,liveness,behavioralert"));
    for cpf in ["00000000434", "00000000515"] {
        let r = no_score.create(&onboarding(cpf, images::selfie())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.without_id(),
            json!({"status": 3, "unicoId": {"result": "inconclusive"}, "liveness": 1}),
            "{cpf}"
        );
        assert_eq!(no_score.process(&r.id()).await.body, r.body);
    }
    // Risk score only appears with inconclusive: never for approved or denied.
    let r = c.create(&onboarding("00000000272", images::selfie())).await;
    assert!(r.body.get("score").is_none(), "{}", r.body);
    // A liveness-only key may create (and gets no identity verdict it did not ask for).
    let liveness = c.with_key(&s.api_key(&t, "liveness"));
    let r = liveness
        .create(&onboarding("00000000191", images::selfie()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], 3);
}

// ---- 4. processing error and async -----------------------------------------------------------

#[tokio::test]
async fn processing_error_is_200_status_5_and_get_is_410() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let r = c.create(&onboarding("00000000787", images::selfie())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.without_id(), json!({"status": 5}));
    let g = c.process(&r.id()).await;
    envelope(&g, 410);
}

#[tokio::test]
async fn async_behavior_alert_finishes_two_seconds_later() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let r = c.create(&onboarding("00000000868", images::selfie())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.without_id(), json!({"status": 1}));
    assert!(r.body.get("unicoId").is_none() && r.body.get("identityFraudsters").is_none());
    let id = r.id();

    let g = c.process(&id).await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.without_id(), json!({"status": 1}));

    s.advance(2).await;
    let g = c.process(&id).await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.body["id"], id.as_str());
    assert_eq!(
        g.without_id(),
        json!({"status": 3, "unicoId": {"result": "yes"}, "identityFraudsters": {"result": "yes"}})
    );
    // Final: later reads do not change.
    s.advance(3000).await;
    assert_eq!(c.process(&id).await.body, g.body);
}

// ---- 5. transactional and capabilities -----------------------------------------------------

#[tokio::test]
async fn transactional_create_compares_against_a_referenced_process() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let approved = c
        .create(&onboarding("00000000191", images::selfie()))
        .await
        .id();
    let denied = c
        .create(&onboarding("00000000272", images::selfie()))
        .await
        .id();
    let validation = c.with_key(&s.api_key(&t, "validation"));

    let r = validation.create(&transactional(&approved)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_uuid(&r.id());
    assert_ne!(r.id(), approved);
    assert_eq!(r.body["biometryToken"]["result"], "true");
    let g = validation.process(&r.id()).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, r.body);

    let r = validation.create(&transactional(&denied)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["biometryToken"]["result"], "false");

    // An unknown process id, and another tenant's process, are the same 400.
    let unknown = uuid::Uuid::new_v4().to_string();
    let r = validation.create(&transactional(&unknown)).await;
    assert_invalid(
        &r,
        "20003",
        &[("references[0].referenceContent", "invalid")],
    );
    let t2 = s.tenant();
    let c2 = Caller::new(&s, &t2).await;
    let foreign = c2
        .create(&onboarding("00000000191", images::selfie()))
        .await
        .id();
    let r = validation.create(&transactional(&foreign)).await;
    assert_invalid(
        &r,
        "20003",
        &[("references[0].referenceContent", "invalid")],
    );

    // A malformed transactional body names its fields.
    let r = validation
        .create(&json!({"references": [{"referenceType": "REFERENCE_TYPE_PROCESS_ID", "referenceContent": "nope"}]}))
        .await;
    assert_invalid(
        &r,
        "20003",
        &[
            ("references[0].referenceContent", "invalid"),
            ("imageBase64", "required"),
        ],
    );
}

#[tokio::test]
async fn creates_need_their_capability_and_403_precedes_400() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let approved = c
        .create(&onboarding("00000000191", images::selfie()))
        .await
        .id();

    // Transactional without `validation`.
    let no_validation = c.with_key(&s.api_key(&t, "identity,liveness,riskscore"));
    assert_problem(
        &no_validation.create(&transactional(&approved)).await,
        403,
        "30017",
    );
    // Onboarding with neither identity nor liveness.
    let documents = c.with_key(&s.api_key(&t, "documents"));
    assert_problem(
        &documents
            .create(&onboarding("00000000191", images::selfie()))
            .await,
        403,
        "30017",
    );
    let validation_only = c.with_key(&s.api_key(&t, "validation"));
    assert_problem(
        &validation_only
            .create(&onboarding("00000000191", images::selfie()))
            .await,
        403,
        "30017",
    );
    // 403 wins over 400.
    assert_problem(&documents.create(&json!({})).await, 403, "30017");
    assert_problem(
        &documents
            .create(&onboarding("123", images::b64(&images::gif())))
            .await,
        403,
        "30017",
    );
    assert_problem(
        &no_validation.create(&json!({"references": "x"})).await,
        403,
        "30017",
    );
    // …while the same invalid bodies with the capability are 400.
    assert_invalid(
        &c.create(&onboarding("123", images::b64(&images::gif())))
            .await,
        "20507",
        &[
            ("subject.code", "invalid"),
            ("imageBase64", "unsupported_format"),
        ],
    );
    // Identity alone is enough for an onboarding create.
    let identity = c.with_key(&s.api_key(&t, "identity"));
    assert_eq!(
        identity
            .create(&onboarding("00000000191", images::selfie()))
            .await
            .status,
        200
    );
}

// ---- 6. get process ------------------------------------------------------------------------

#[tokio::test]
async fn get_process_malformed_unknown_and_foreign_ids() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let mine = c
        .create(&onboarding("00000000191", images::selfie()))
        .await
        .id();

    for bad in [
        "not-a-uuid",
        "123",
        "0190f5c2-7a8e-7cc1-9a0e-2f1d3c4b5a6",
        "0190f5c2x7a8e-7cc1-9a0e-2f1d3c4b5a69",
    ] {
        envelope(&c.process(bad).await, 400);
    }

    let unknown = uuid::Uuid::new_v4().to_string();
    let r_unknown = c.process(&unknown).await;
    assert_problem(&r_unknown, 404, "40401");

    let t2 = s.tenant();
    let c2 = Caller::new(&s, &t2).await;
    let r_foreign = c2.process(&mine).await;
    assert_problem(&r_foreign, 404, "40401");
    // Never reveal which: the two 404s read alike.
    let d = |r: &Resp, id: &str| {
        r.body["error"]["description"]
            .as_str()
            .unwrap()
            .replace(id, "ID")
    };
    assert_eq!(d(&r_foreign, &mine), d(&r_unknown, &unknown));
    // The owner still reads it.
    assert_eq!(c.process(&mine).await.status, 200);
}

// ---- 7. documents --------------------------------------------------------------------------

#[tokio::test]
async fn documents_list_is_empty_validated_and_needs_its_capability() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    for ty in ["BR_CNH", "BR_RG", "BR_CIN", "BR_PASSPORT"] {
        let r = c
            .get(&format!("/documents/v1?code=00000000191&type={ty}"))
            .await;
        assert_eq!(r.status, 200, "{ty}: {}", r.body);
        assert_eq!(r.body, json!({"items": []}));
    }
    let r = c
        .get("/documents/v1?code=HEGG560427MVZRRL04&type=BR_CNH")
        .await;
    assert_eq!(r.body, json!({"items": []}));

    assert_invalid(
        &c.get("/documents/v1").await,
        "20005",
        &[("code", "required"), ("type", "required")],
    );
    assert_invalid(
        &c.get("/documents/v1?type=BR_CNH").await,
        "20005",
        &[("code", "required")],
    );
    assert_invalid(
        &c.get("/documents/v1?code=00000000192&type=BR_CNH").await,
        "20507",
        &[("code", "invalid")],
    );
    assert_invalid(
        &c.get("/documents/v1?code=00000000191").await,
        "20003",
        &[("type", "required")],
    );
    assert_invalid(
        &c.get("/documents/v1?code=00000000191&type=BR_XX").await,
        "20003",
        &[("type", "invalid")],
    );
    assert_invalid(
        &c.get("/documents/v1?code=12&type=nope").await,
        "20507",
        &[("code", "invalid"), ("type", "invalid")],
    );

    let no_docs = c.with_key(&s.api_key(&t, "identity,liveness"));
    assert_problem(
        &no_docs
            .get("/documents/v1?code=00000000191&type=BR_CNH")
            .await,
        403,
        "30017",
    );
    // 403 before 400.
    assert_problem(&no_docs.get("/documents/v1").await, 403, "30017");
}

// ---- 8. durability -------------------------------------------------------------------------

#[tokio::test]
async fn a_created_process_survives_kill_9() {
    let mut s = Server::start();
    let t = s.tenant();
    let (old_token, created) = {
        let c = Caller::new(&s, &t).await;
        let r = c.create(&onboarding("00000000272", images::selfie())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        (c.token.clone(), r.body)
    };
    s.kill9();
    s.restart();
    let id = created["id"].as_str().unwrap();
    let fresh = Caller::new(&s, &t).await;
    let g = fresh.process(id).await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.body, created);
    let old = Caller {
        token: old_token,
        ..fresh.clone()
    };
    let g = old.process(id).await;
    assert_eq!(
        g.status, 200,
        "the old access token still works: {}",
        g.body
    );
    assert_eq!(g.body, created);
}

// ---- 9. transport-level errors -------------------------------------------------------------

/// Sends raw bytes to the sandbox listener and reads one HTTP/1.1 response.
async fn raw_http(s: &Server, request: &[u8]) -> Resp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.url("").trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return (head, buf[end + 4..end + 4 + len].to_vec());
                }
            }
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "connection closed before a full response: {}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let (head, body) = tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("a response within 10 s");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = HeaderMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.append(
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                v.trim().parse().unwrap(),
            );
        }
    }
    Resp {
        status,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }
}

/// `f`'s output and when it was ready, counted from `started`.
async fn timed<T>(
    started: std::time::Instant,
    f: impl std::future::Future<Output = T>,
) -> (T, std::time::Duration) {
    let out = f.await;
    (out, started.elapsed())
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_408_after_the_request_timeout_and_the_server_goes_on() {
    let s = Server::start_with_flags(&["--request-timeout", "3"]);
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    // The body never arrives in full: reading it is part of the request's time.
    let req = format!(
        "POST /processes/v1 HTTP/1.1\r\nHost: selo\r\nAuthorization: Bearer {}\r\nAPIKEY: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-Request-Id: slow-1\r\n\r\n{{\"subject\"",
        c.token, c.key
    );
    let started = std::time::Instant::now();
    let body = onboarding("00000000191", images::selfie());
    // Another request is served while the slow one waits.
    let ((r, abandoned_after), (created, created_after)) = tokio::join!(
        timed(started, raw_http(&s, req.as_bytes())),
        timed(started, c.create(&body))
    );
    // The client's doing, not the platform's (CONTRACT §4): 408, and a retry is fine.
    let e = envelope(&r, 408);
    assert_eq!(e["code"], "40801", "{}", r.body);
    assert_eq!(e["requestId"], "slow-1");
    assert!(
        e["description"]
            .as_str()
            .unwrap()
            .contains("did not arrive in full within 3 s"),
        "{}",
        r.body
    );
    assert!(
        abandoned_after >= std::time::Duration::from_secs(3),
        "abandoned after {abandoned_after:?}, before the timeout"
    );
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created_after < abandoned_after);

    // The option is bounded.
    let out = std::process::Command::new(crate::support::selo_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--request-timeout",
            "0",
            "--data",
        ])
        .arg(s.data.path().join("unused"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--request-timeout"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_declared_body_over_2_mib_is_413_before_authentication() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    // The server answers from the declared length alone, before reading the body and before
    // looking at credentials (there are none here).
    let over = 2 * 1024 * 1024 + 1;
    let req = format!(
        "POST /processes/v1 HTTP/1.1\r\nHost: selo\r\nContent-Type: application/json\r\nContent-Length: {over}\r\nX-Request-Id: big-1\r\n\r\n"
    );
    let r = raw_http(&s, req.as_bytes()).await;
    envelope(&r, 413);
    assert_eq!(r.body["error"]["requestId"], "big-1");
    // With credentials too.
    let req = format!(
        "POST /processes/v1 HTTP/1.1\r\nHost: selo\r\nAuthorization: Bearer {}\r\nAPIKEY: {}\r\nContent-Type: application/json\r\nContent-Length: {over}\r\n\r\n",
        c.token, c.key
    );
    envelope(&raw_http(&s, req.as_bytes()).await, 413);
    // A body of exactly 2 MiB is read (and then judged on its content).
    let mut ok =
        b"{\"subject\":{\"code\":\"00000000191\",\"name\":\"Maria Silva\"},\"imageBase64\":\""
            .to_vec();
    ok.resize(2 * 1024 * 1024 - 2, b'A');
    ok.extend_from_slice(b"\"}");
    assert_eq!(ok.len(), 2 * 1024 * 1024);
    assert_invalid(
        &c.create_raw(ok).await,
        "20506",
        &[("imageBase64", "too_large")],
    );
}

#[tokio::test]
async fn a_client_sending_a_body_over_2_mib_receives_the_413() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;
    let mut big = b"{\"imageBase64\":\"".to_vec();
    big.resize(2 * 1024 * 1024 + 1, b'A');
    big.extend_from_slice(b"\"}");
    for _ in 0..5 {
        // No credentials at all: still 413.
        let res = s
            .http
            .post(s.url("/processes/v1"))
            .header(CONTENT_TYPE, "application/json")
            .body(big.clone())
            .send()
            .await
            .expect("the client receives the 413 response (not a broken pipe)");
        envelope(&into_resp(res).await, 413);
        // With credentials.
        let res = c
            .req(Method::POST, "/processes/v1")
            .header(CONTENT_TYPE, "application/json")
            .body(big.clone())
            .send()
            .await
            .expect("the client receives the 413 response (not a broken pipe)");
        envelope(&into_resp(res).await, 413);
    }
}

#[tokio::test]
async fn request_ids_are_adopted_when_valid_and_replaced_otherwise() {
    let s = Server::start();
    let t = s.tenant();
    let c = Caller::new(&s, &t).await;

    let r = into_resp(
        s.http
            .get(s.url("/no/such/route"))
            .header("X-Request-Id", "abc-123")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&r, 404, "40401");
    assert_eq!(r.header("request-id"), Some("abc-123"));
    assert_eq!(r.body["error"]["requestId"], "abc-123");

    // On an authenticated 400 and on a 200 too.
    let r = into_resp(
        c.req(Method::POST, "/processes/v1")
            .header("X-Request-Id", "abc-123")
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&r, 400, "20004");
    assert_eq!(r.body["error"]["requestId"], "abc-123");
    let r = into_resp(
        c.req(Method::POST, "/processes/v1")
            .header("X-Request-Id", "A.b_c:d-9")
            .json(&onboarding("00000000191", images::selfie()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("request-id"), Some("A.b_c:d-9"));
    let max = "a".repeat(128);
    let r = into_resp(
        s.http
            .get(s.url("/nope"))
            .header("X-Request-Id", &max)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.header("request-id"), Some(max.as_str()));

    for bad in ["has spaces", "abc/123", "a+b", &"a".repeat(129), ""] {
        let r = into_resp(
            s.http
                .get(s.url("/nope"))
                .header("X-Request-Id", bad)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let e = envelope(&r, 404);
        let got = r.header("request-id").unwrap();
        assert_ne!(got, bad, "{bad:?} is not adopted");
        assert!(!got.is_empty() && got.len() <= 128);
        assert_eq!(e["requestId"], got);
    }
    // Without one, every request gets its own.
    let a = into_resp(s.http.get(s.url("/nope")).send().await.unwrap()).await;
    let b = into_resp(s.http.get(s.url("/nope")).send().await.unwrap()).await;
    assert_ne!(a.header("request-id"), b.header("request-id"));
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_the_envelope() {
    let s = Server::start();
    for path in ["/nope", "/processes/v2", "/processes/v1/abc/def", "/"] {
        let r = into_resp(s.http.get(s.url(path)).send().await.unwrap()).await;
        assert_problem(&r, 404, "40401");
    }
    let r = into_resp(s.http.delete(s.url("/processes/v1")).send().await.unwrap()).await;
    envelope(&r, 405);
    let allow = r.header("allow").unwrap_or_default();
    assert!(
        allow.contains("GET") && allow.contains("POST") && !allow.contains("DELETE"),
        "405 names the methods the route takes: {allow:?}"
    );
    let id = uuid::Uuid::new_v4().to_string();
    let r = into_resp(
        s.http
            .put(s.url(&format!("/processes/v1/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    envelope(&r, 405);
    let allow = r.header("allow").unwrap_or_default();
    assert!(allow.contains("GET"), "{allow:?}");
}

// ---- 10. production ------------------------------------------------------------------------

/// Production has no scenarios: every create goes to the local engines (here without models,
/// so 503 `50302`; tests/it/engines.rs runs them on real faces), after the same image checks.
#[tokio::test]
async fn production_has_no_scenarios_but_the_same_image_checks() {
    let no_models = tempfile::tempdir().unwrap();
    let s = Server::start_with(Opts {
        production: true,
        extra: vec!["--models".into(), no_models.path().to_str().unwrap().into()],
        ..Opts::default()
    });
    let t = s.tenant_in("production");
    let c = Caller::new(&s, &t).await;
    assert_eq!(c.base, s.env("production").url);
    for (cpf, _, _) in scenario_table() {
        let r = c.create(&onboarding(cpf, images::selfie())).await;
        assert_problem(&r, 503, "50302");
    }
    let prod = &s.env("production").url;
    let r = into_resp(
        s.http
            .get(format!("{prod}/sandbox/scenarios"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&r, 404, "40401");
    // The sandbox still has them.
    let r = into_resp(
        s.http
            .get(s.url("/sandbox/scenarios"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);

    let cases: [(String, &str, &str); 4] = [
        (images::b64(&images::gif()), "20505", "unsupported_format"),
        (images::b64(&images::jpeg(639, 480)), "20807", "too_small"),
        ("@@@".into(), "20900", "invalid"),
        (
            images::b64(&images::jpeg(640, 480)[..1000]),
            "20900",
            "invalid",
        ),
    ];
    for (image, code, reason) in cases {
        assert_invalid(
            &c.create(&onboarding("00000000272", image)).await,
            code,
            &[("imageBase64", reason)],
        );
    }
    assert_invalid(
        &c.create(&onboarding("00000000192", images::selfie())).await,
        "20507",
        &[("subject.code", "invalid")],
    );
}
