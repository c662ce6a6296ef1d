//! The Web & SDK contract's API (CONTRACT §6): create, read, the journey's capture, selfie.

use crate::support::{Server, Tenant, images};
use base64::Engine;
use serde_json::{Value, json};

async fn call(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, s.url(path));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `GET path` with `token`.
async fn get(s: &Server, token: &str, path: &str) -> (u16, Value) {
    call(s, reqwest::Method::GET, path, Some(token), None).await
}

fn create_body(cpf: &str) -> Value {
    json!({"callbackUri": "https://example.com/done", "flow": "id", "purpose": "biometryonboarding",
           "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": cpf, "friendlyName": "Maria"},
           "clientReference": "web-1"})
}

async fn create(s: &Server, token: &str, body: &Value) -> (u16, Value) {
    call(
        s,
        reqwest::Method::POST,
        "/client/v1/process",
        Some(token),
        Some(body),
    )
    .await
}

/// Completes the journey of `process` with `image` (base64).
async fn capture(s: &Server, process: &Value, image: &str) -> (u16, Value) {
    let res = s.capture(&process["process"], image).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn expect_error(got: &(u16, Value), status: u16, code: &str, fragment: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    let d = got.1["error"]["description"].as_str().unwrap();
    assert!(d.contains(fragment), "{d} should contain {fragment}");
}

#[tokio::test]
async fn create_and_read_a_process() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let (status, v) = create(&s, &token, &create_body("00000000191")).await;
    assert_eq!(status, 200, "{v}");
    let p = &v["process"];
    assert_eq!(p["state"], "PROCESS_STATE_CREATED");
    assert_eq!(p["result"], "PROCESS_RESULT_UNSPECIFIED");
    assert_eq!(p["authenticationInfo"]["authenticationId"], "");
    assert_eq!(
        p["authenticationInfo"]["authenticationResult"],
        "AUTHENTICATION_RESULT_UNSPECIFIED"
    );
    assert_eq!(p["clientReference"], "web-1");
    let id = p["id"].as_str().unwrap();
    let url = p["userRedirectUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/journey/{id}?token=", s.sandbox().url)),
        "{url}"
    );
    let created = time::OffsetDateTime::parse(
        p["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        p["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        (expires - created).whole_seconds(),
        7 * 24 * 3600,
        "default 7 days"
    );
    let (status, got) = get(&s, &token, &format!("/client/v1/process/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got, v);
    let mut one_hour = create_body("00000000191");
    one_hour["expiresIn"] = json!("3600s");
    let (_, v) = create(&s, &token, &one_hour).await;
    let p = &v["process"];
    let created = time::OffsetDateTime::parse(
        p["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        p["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires - created).whole_seconds(), 3600);
    // Lookup by clientReference.
    let (status, found) = get(&s, &token, "/client/v1/process?clientReference=web-1").await;
    assert_eq!(status, 200);
    assert_eq!(found["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn validation_errors_are_code_3_with_the_idcloud_messages() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = create_body("00000000191");
        f(&mut b);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["flow"] = json!("nope")), "invalid flow"),
        (with(&|b| b["purpose"] = json!("fun")), "invalid purpose"),
        (
            with(&|b| b["callbackUri"] = json!("")),
            "invalid callbackUri: unable to parse callbackUri: parse \"\": empty url",
        ),
        (
            with(&|b| b["person"]["friendlyName"] = json!("x".repeat(51))),
            "invalid person: friendly name exceeds 50 characters.",
        ),
        (
            with(&|b| b["person"]["duiValue"] = json!("00000000192")),
            "invalid dui value",
        ),
        (
            with(&|b| {
                b["person"]["notifications"] =
                    json!([{"notificationChannel": "NOTIFICATION_CHANNEL_EMAIL"}])
            }),
            "email required for notification channel NOTIFICATION_CHANNEL_EMAIL",
        ),
        (
            with(&|b| {
                b["person"]["notifications"] =
                    json!([{"notificationChannel": "NOTIFICATION_CHANNEL_SMS"}])
            }),
            "phone number does not contain 13 chars",
        ),
        (
            with(&|b| b["expiresIn"] = json!("3600")),
            "invalid expiresIn",
        ),
        (with(&|b| b["flow"] = json!("idtoken")), "bioTokenId"),
        // CONTRACT §19: schemes a browser would run or read locally, in any letter case.
        (
            with(&|b| b["callbackUri"] = json!("javascript://%0aalert(document.domain)")),
            "invalid callbackUri: the scheme of",
        ),
        (
            with(&|b| b["callbackUri"] = json!("JavaScript://x")),
            "is not allowed",
        ),
        (
            with(&|b| b["callbackUri"] = json!("file:///etc/passwd")),
            "is not allowed",
        ),
        (
            with(&|b| b["callbackUri"] = json!("Data://text/html,x")),
            "is not allowed",
        ),
    ];
    for (body, message) in cases {
        let got = create(&s, &token, &body).await;
        expect_error(&got, 400, "3", message);
        assert!(!got.1["error"]["fields"].as_array().unwrap().is_empty());
    }
    let ok = with(&|b| b["person"]["friendlyName"] = json!("x".repeat(50)));
    assert_eq!(create(&s, &token, &ok).await.0, 200);
    let ok = with(&|b| {
        b["person"]["phone"] = json!("5511974749090");
        b["person"]["notifications"] =
            json!([{"notificationChannel": "NOTIFICATION_CHANNEL_WHATSAPP"}]);
    });
    assert_eq!(create(&s, &token, &ok).await.0, 200);
    // Several at once, in schema order.
    let got = create(
        &s,
        &token,
        &json!({"flow": "x", "person": {"duiType": "DUI_TYPE_BR_CPF"}}),
    )
    .await;
    let fields: Vec<&str> = got.1["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["callbackUri", "flow", "purpose", "person.duiValue"]
    );
    expect_error(&create(&s, &token, &json!([])).await, 400, "3", "");
}

#[tokio::test]
async fn auth_flows_ids_and_tenants() {
    let s = Server::start();
    let t = s.tenant();
    let other = s.tenant();
    let token = s.token(&t).await;
    expect_error(
        &call(
            &s,
            reqwest::Method::POST,
            "/client/v1/process",
            None,
            Some(&create_body("00000000191")),
        )
        .await,
        401,
        "16",
        "",
    );
    expect_error(
        &get(&s, &token, "/client/v1/process/not-a-uuid").await,
        400,
        "3",
        "process id is invalid",
    );
    expect_error(
        &get(
            &s,
            &token,
            "/client/v1/process/00000000-0000-0000-0000-000000000000",
        )
        .await,
        404,
        "5",
        "process not found",
    );
    let (_, v) = create(&s, &token, &create_body("00000000191")).await;
    let id = v["process"]["id"].as_str().unwrap();
    let other_token = s.token(&other).await;
    expect_error(
        &call(
            &s,
            reqwest::Method::GET,
            &format!("/client/v1/process/{id}"),
            Some(&other_token),
            None,
        )
        .await,
        404,
        "5",
        "",
    );
    // Flows are per tenant; a disabled one is 403 code 7 (before validation).
    s.admin(&["tenant", "set-flows", &t.id, "idcheck,iddocs"]);
    expect_error(
        &create(&s, &token, &create_body("00000000191")).await,
        403,
        "7",
        "not enabled",
    );
    let mut idcheck = create_body("00000000191");
    idcheck["flow"] = json!("idcheck");
    assert_eq!(create(&s, &token, &idcheck).await.0, 200);
    let bad = s.admin_raw(&["tenant", "set-flows", &t.id, "idcheck,nope"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown flow is a usage error"
    );
    let fresh = s.admin(&["tenant", "create", "Flows", "--flows", "id"]);
    let listed = s.admin(&["tenant", "list"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tenantId"] == fresh["tenantId"])
        .unwrap();
    assert_eq!(row["flows"], json!(["id"]));
}

#[tokio::test]
async fn the_journey_capture_finishes_the_process_with_the_scenario() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let cases = [
        (
            "00000000191",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
            "AUTHENTICATION_RESULT_POSITIVE",
            "LIVENESS_RESULT_LIVE",
        ),
        (
            "00000000272",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_INVALID_IDENTITY",
            "AUTHENTICATION_RESULT_UNSPECIFIED",
            "LIVENESS_RESULT_LIVE",
        ),
        (
            "00000000353",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_FAILED",
            "AUTHENTICATION_RESULT_INCONCLUSIVE",
            "NO",
        ),
        (
            "00000000434",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
            "AUTHENTICATION_RESULT_INCONCLUSIVE",
            "LIVENESS_RESULT_LIVE",
        ),
        (
            "00000000515",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
            "AUTHENTICATION_RESULT_INCONCLUSIVE",
            "LIVENESS_RESULT_LIVE",
        ),
        (
            "00000000604",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
            "AUTHENTICATION_RESULT_INCONCLUSIVE",
            "LIVENESS_RESULT_LIVE",
        ),
        (
            "00000000868",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
            "AUTHENTICATION_RESULT_POSITIVE",
            "LIVENESS_RESULT_LIVE",
        ),
        (
            "00000000787",
            "PROCESS_STATE_FAILED",
            "PROCESS_RESULT_ERROR",
            "AUTHENTICATION_RESULT_UNSPECIFIED",
            "LIVENESS_RESULT_UNSPECIFIED",
        ),
    ];
    for (cpf, state, result, auth, liveness) in cases {
        let (_, created) = create(&s, &token, &create_body(cpf)).await;
        let (status, done) = capture(&s, &created, &images::selfie()).await;
        assert_eq!(status, 200, "{cpf}: {done}");
        assert_eq!(done["redirectUrl"], "https://example.com/done");
        let id = created["process"]["id"].as_str().unwrap();
        let (_, v) = get(&s, &token, &format!("/client/v1/process/{id}")).await;
        let p = &v["process"];
        assert_eq!(
            (p["state"].as_str().unwrap(), p["result"].as_str().unwrap()),
            (state, result),
            "{cpf}"
        );
        assert_eq!(
            p["authenticationInfo"]["authenticationResult"], auth,
            "{cpf}"
        );
        assert_eq!(p["authenticationInfo"]["livenessResult"], liveness, "{cpf}");
        match cpf {
            "00000000434" => {
                assert_eq!(p["authenticationInfo"]["scoreEngineResult"]["score"], 50)
            }
            "00000000515" => {
                assert_eq!(p["authenticationInfo"]["scoreEngineResult"]["score"], -60)
            }
            _ => {}
        }
        // CONTRACT §8: the behaviour alert is TRUST_RESULT_YES, which the SDK reads as an
        // alert (not approved); no other scenario raises one.
        let (trust, verdict) = if cpf == "00000000868" {
            ("TRUST_RESULT_YES", "inconclusive")
        } else {
            ("TRUST_RESULT_UNSPECIFIED", "")
        };
        assert_eq!(
            p["authenticationInfo"]["identityFraudstersResult"], trust,
            "{cpf}"
        );
        if !verdict.is_empty() {
            assert_eq!(selo_sdk::Verdict::from_web_process(&v).as_str(), verdict);
        }
    }
    // A wrong token is 404; a second capture 409; an image below 640x480 is 400.
    let (_, created) = create(&s, &token, &create_body("00000000191")).await;
    let mut forged = created.clone();
    forged["process"]["token"] = json!("nope");
    expect_error(&capture(&s, &forged, &images::selfie()).await, 404, "5", "");
    let small = images::b64(&images::jpeg(320, 240));
    let got = capture(&s, &created, &small).await;
    expect_error(&got, 400, "3", "640");
    assert_eq!(got.1["error"]["fields"][0]["reason"], "too_small");
    assert_eq!(capture(&s, &created, &images::selfie()).await.0, 200);
    expect_error(
        &capture(&s, &created, &images::selfie()).await,
        409,
        "9",
        "already completed",
    );
}

#[tokio::test]
async fn expiry_and_the_selfie_window_follow_the_clock() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let token = s.token(&t).await;
    let mut body = create_body("00000000191");
    body["expiresIn"] = json!("60s");
    let (_, created) = create(&s, &token, &body).await;
    let id = created["process"]["id"].as_str().unwrap().to_string();
    let selfie_path = format!("/client/v1/process/{id}/selfie");
    expect_error(
        &get(&s, &token, &selfie_path).await,
        409,
        "9",
        "not finished",
    );
    s.advance(60).await;
    let (_, v) = get(&s, &token, &format!("/client/v1/process/{id}")).await;
    assert_eq!(
        (
            v["process"]["state"].as_str(),
            v["process"]["result"].as_str()
        ),
        (
            Some("PROCESS_STATE_FINISHED"),
            Some("PROCESS_RESULT_EXPIRED")
        )
    );
    expect_error(
        &capture(&s, &created, &images::selfie()).await,
        410,
        "9",
        "expired",
    );
    // It exists but never had a capture: 409 `9` saying so, for both documents.
    for document in ["selfie", "evidenceset"] {
        let path = format!("/client/v1/process/{id}/{document}");
        expect_error(
            &get(&s, &token, &path).await,
            409,
            "9",
            &format!("expired before the person completed the journey, so it has no {document}"),
        );
    }

    // A finished process's selfie: there for 8 hours, then 410.
    let token = s.token(&t).await;
    let (_, created) = create(&s, &token, &create_body("00000000191")).await;
    let jpeg = images::jpeg(640, 480);
    assert_eq!(capture(&s, &created, &images::b64(&jpeg)).await.0, 200);
    let id = created["process"]["id"].as_str().unwrap().to_string();
    let selfie_path = format!("/client/v1/process/{id}/selfie");
    let (status, v) = get(&s, &token, &selfie_path).await;
    assert_eq!(status, 200);
    assert_eq!(v["contentType"], "image/jpeg");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["fileContents"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, jpeg);
    s.admin(&["tenant", "set-permissions", &t.id, "evidenceset"]);
    // Permissions are read on every request: the change applies at once.
    let got = get(&s, &token, &selfie_path).await;
    expect_error(&got, 403, "7", "no permission");
    s.admin(&["tenant", "set-permissions", &t.id, "selfie,evidenceset"]);
    s.advance(8 * 3600 - 1).await;
    let token = s.token(&t).await;
    assert_eq!(get(&s, &token, &selfie_path).await.0, 200);
    s.advance(1).await;
    expect_error(&get(&s, &token, &selfie_path).await, 410, "9", "retention");
}

#[tokio::test]
async fn web_creates_honour_idempotency_keys() {
    let s = Server::start();
    let t: Tenant = s.tenant();
    let token = s.token(&t).await;
    let send = || {
        s.http
            .post(s.url("/client/v1/process"))
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", "web-key")
            .json(&create_body("00000000191"))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200);
    let first = first.bytes().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.bytes().await.unwrap(), first);
}

#[tokio::test]
async fn the_journey_page_is_served_for_a_valid_link_only() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    s.admin(&["tenant", "create", "<b>Evil</b>"]);
    let token = s.token(&t).await;
    let mut body = create_body("00000000191");
    body["expiresIn"] = json!("60s");
    let (_, created) = create(&s, &token, &body).await;
    let url = created["process"]["userRedirectUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let res = s.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Acme asks you to confirm your identity"),
        "{html}"
    );
    assert!(html.contains("\"state\":\"open\""));
    assert!(html.contains("/journey/assets/journey.js"));
    let js = s
        .http
        .get(s.url("/journey/assets/journey.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(js.text().await.unwrap().contains("getUserMedia"));
    // A tampered token shows the invalid-link page.
    let bad = s.http.get(format!("{url}x")).send().await.unwrap();
    assert_eq!(bad.status(), 404);
    assert!(bad.text().await.unwrap().contains("This link is not valid"));
    // After expiry the page says so.
    s.advance(60).await;
    let html = s.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("This verification link expired"), "{html}");
}

#[tokio::test]
async fn the_evidence_set_is_a_pdf_for_two_hours() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let token = s.token(&t).await;
    let (_, created) = create(&s, &token, &create_body("00000000191")).await;
    let id = created["process"]["id"].as_str().unwrap().to_string();
    let path = format!("/client/v1/process/{id}/evidenceset");
    expect_error(&get(&s, &token, &path).await, 409, "9", "not finished");
    assert_eq!(capture(&s, &created, &images::selfie()).await.0, 200);
    let (status, v) = get(&s, &token, &path).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["contentType"], "application/pdf");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(v["fileContents"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4") && pdf.ends_with(b"%%EOF\n"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains(&id) && text.contains("00000000191") && text.contains("/DCTDecode"));
    if let Ok(dir) = std::env::var("SELO_EVIDENCE_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("evidence.pdf"), &pdf).unwrap();
    }
    s.admin(&["tenant", "set-permissions", &t.id, "selfie"]);
    expect_error(&get(&s, &token, &path).await, 403, "7", "evidenceset");
    s.admin(&["tenant", "set-permissions", &t.id, "selfie,evidenceset"]);
    s.advance(2 * 3600).await;
    let token = s.token(&t).await;
    expect_error(&get(&s, &token, &path).await, 410, "9", "2 hours");
    let selfie = format!("/client/v1/process/{id}/selfie");
    assert_eq!(
        get(&s, &token, &selfie).await.0,
        200,
        "the selfie outlives the evidence set"
    );
}

#[tokio::test]
async fn a_process_created_without_a_document_waits_for_it_and_takes_it_once() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let body = json!({"callbackUri": "/", "flow": "idunicodocs_r2", "purpose": "biometryonboarding",
                      "person": {"friendlyName": "Maria"}});
    let (status, created) = create(&s, &token, &body).await;
    assert_eq!(status, 200, "{created}");
    let id = created["process"]["id"].as_str().unwrap().to_string();
    // The journey cannot run before the document is set.
    expect_error(
        &capture(&s, &created, &images::selfie()).await,
        409,
        "9",
        "document",
    );
    let path = format!("/client/v1/process/{id}/document");
    let post = |b: Value| {
        let (s, path, token) = (&s, path.clone(), token.clone());
        async move { call(s, reqwest::Method::POST, &path, Some(&token), Some(&b)).await }
    };
    expect_error(
        &post(json!({"duiType": "DUI_TYPE_AR_DNI", "duiValue": "123"})).await,
        400,
        "3",
        "invalid duiType",
    );
    expect_error(
        &post(json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000192"})).await,
        400,
        "3",
        "invalid dui value",
    );
    expect_error(
        &post(json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "1".repeat(321)})).await,
        400,
        "3",
        "320",
    );
    let (status, v) = post(json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000272"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"process": {"id": id, "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000272"}}})
    );
    expect_error(
        &post(json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191"})).await,
        400,
        "3",
        "already set",
    );
    // Now the journey runs, with the scenario of the document that was set.
    assert_eq!(capture(&s, &created, &images::selfie()).await.0, 200);
    let (_, read) = get(&s, &token, &format!("/client/v1/process/{id}")).await;
    assert_eq!(read["process"]["result"], "PROCESS_RESULT_INVALID_IDENTITY");
    // A process created with a document does not take another one.
    let (_, normal) = create(&s, &token, &create_body("00000000191")).await;
    let other = format!(
        "/client/v1/process/{}/document",
        normal["process"]["id"].as_str().unwrap()
    );
    expect_error(
        &call(
            &s,
            reqwest::Method::POST,
            &other,
            Some(&token),
            Some(&json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191"})),
        )
        .await,
        400,
        "3",
        "already set",
    );
    // Only one of the two document fields is an error.
    let half = json!({"callbackUri": "/", "flow": "id", "purpose": "biometryonboarding", "person": {"duiType": "DUI_TYPE_BR_CPF"}});
    expect_error(&create(&s, &token, &half).await, 400, "3", "duiValue");
}

#[tokio::test]
async fn review_fixes_double_capture_and_permission_order() {
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let (_, created) = create(&s, &token, &create_body("00000000191")).await;
    // Two submissions at once: one wins, the other is told it is being (or was) completed.
    let (jpeg, png) = (images::selfie(), images::b64(&images::png(800, 600)));
    let (a, b) = tokio::join!(capture(&s, &created, &jpeg), capture(&s, &created, &png));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let id = created["process"]["id"].as_str().unwrap();
    let (_, v) = get(&s, &token, &format!("/client/v1/process/{id}/selfie")).await;
    let winner = if a.0 == 200 {
        "image/jpeg"
    } else {
        "image/png"
    };
    assert_eq!(
        v["contentType"], winner,
        "the stored bytes are the winner's"
    );
    // A submission holds its journey's capture slot from its credentials on: a second one while
    // the first is still arriving is 409 at once (its body unread, so one journey never holds
    // more than one upload place), and the stored selfie is the one that was judged.
    let (_, racing) = create(&s, &token, &create_body("00000000191")).await;
    let p = &racing["process"];
    let id = p["id"].as_str().unwrap();
    let slow_image = images::b64(&images::png(800, 600));
    let slow_body = serde_json::to_vec(&json!({"imageBase64": slow_image})).unwrap();
    let head = format!(
        "POST /journey/v1/process/{id}/capture HTTP/1.1\r\nHost: selo\r\nContent-Type: application/json\r\nSelo-Journey-Token: {}\r\nContent-Length: {}\r\n\r\n",
        p["token"].as_str().unwrap(),
        slow_body.len()
    );
    let mut slow = crate::support::raw::connect(&s).await;
    use tokio::io::AsyncWriteExt;
    slow.write_all(head.as_bytes()).await.unwrap();
    // (Handling a header block takes microseconds; this leaves a loaded machine ample time.)
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = capture(&s, &racing, &images::selfie()).await;
    assert_eq!(second.0, 409, "{second:?}");
    let described = second.1["error"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(described.contains("being completed"), "{second:?}");
    slow.write_all(&slow_body).await.unwrap();
    let answer = crate::support::raw::head_of(&mut slow)
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    let (_, v) = get(&s, &token, &format!("/client/v1/process/{id}/selfie")).await;
    assert_eq!(
        v["fileContents"].as_str(),
        Some(slow_image.as_str()),
        "the stored selfie is the judged one"
    );
    // 403 comes before 400 and 404 on the file endpoints.
    s.admin(&["tenant", "set-permissions", &t.id, "evidenceset"]);
    expect_error(
        &get(&s, &token, "/client/v1/process/not-a-uuid/selfie").await,
        403,
        "7",
        "selfie",
    );
}
