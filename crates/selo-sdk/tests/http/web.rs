//! The Web & SDK contract: Bearer only, the `{"process": …}` envelope, creates retried only
//! safely, selfie / evidence set decoded, polling.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use selo_sdk::{Credentials, Error, Verdict, WebPerson, WebProcessRequest};
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const CREATE: &str = "/client/v1/process";
const ID: &str = "8c1f3a52-56a4-4e1b-9d0e-0e5f2b1c7a11";

fn request(reference: Option<&str>) -> WebProcessRequest {
    WebProcessRequest {
        client_reference: reference.map(str::to_string),
        ..WebProcessRequest::new(
            "id",
            "biometryonboarding",
            "/",
            WebPerson::cpf("00000000191", "Maria da Silva"),
        )
    }
}

fn process(state: &str, result: &str) -> Value {
    json!({"id": ID, "flow": "id", "state": state, "result": result,
           "userRedirectUrl": format!("http://selo.test/journey/{ID}?token=t0k"),
           "token": "t0k", "clientReference": "ref-1",
           "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191"},
           "authenticationInfo": {
               "authenticationId": "",
               "livenessResult": "LIVENESS_RESULT_LIVE",
               "authenticationResult": "AUTHENTICATION_RESULT_POSITIVE",
               "identityFraudstersResult": "TRUST_RESULT_UNSPECIFIED",
               "scoreEngineResult": {"scoreEnabled": "SCORE_ENABLED_UNSPECIFIED", "score": 0}}})
}

fn envelope(state: &str, result: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("request-id", "web-req")
        .set_body_json(json!({"process": process(state, result)}))
}

fn created() -> ResponseTemplate {
    envelope("PROCESS_STATE_CREATED", "PROCESS_RESULT_UNSPECIFIED")
}

fn web_error(status_code: u16, code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status_code).set_body_json(error_body(code, description, "srv-req"))
}

async fn script(rig: &Rig, m: &str, p: &str, steps: Vec<ResponseTemplate>) {
    Mock::given(method(m))
        .and(path(p))
        .respond_with(Script::new(steps))
        .mount(&rig.server)
        .await;
}

fn body_reference(r: &wiremock::Request) -> String {
    let body: Value = r.body_json().unwrap();
    body["clientReference"]
        .as_str()
        .expect("clientReference in the body")
        .to_string()
}

#[tokio::test]
async fn a_create_is_bearer_only_and_unwraps_the_process() {
    let rig = Rig::new().await;
    script(&rig, "POST", CREATE, vec![created()]).await;
    let reply = rig
        .client()
        .create_web_process_reply(&request(None))
        .await
        .unwrap();
    let p = reply.value;
    assert_eq!(p.id, ID);
    assert_eq!(p.state, "PROCESS_STATE_CREATED");
    assert_eq!(
        p.user_redirect_url.as_deref(),
        Some(format!("http://selo.test/journey/{ID}?token=t0k").as_str())
    );
    assert_eq!(p.verdict(), Verdict::Pending);
    assert_eq!(reply.request_id.as_deref(), Some("web-req"));
    // Members the SDK does not model survive.
    assert_eq!(p.other["person"]["duiValue"], "00000000191");
    assert_eq!(
        p.to_value()["authenticationInfo"]["scoreEngineResult"]["score"],
        0
    );

    let reqs = rig.requests("POST", CREATE).await;
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert!(
        header(r, "apikey").is_none(),
        "the Web & SDK contract is Bearer only"
    );
    assert_eq!(header(r, "authorization"), Some("Bearer tok-1"));
    let body: Value = r.body_json().unwrap();
    assert_eq!(body["flow"], "id");
    assert_eq!(body["purpose"], "biometryonboarding");
    assert_eq!(body["callbackUri"], "/");
    assert_eq!(
        body["person"],
        json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191",
               "friendlyName": "Maria da Silva"})
    );
    assert!(body.get("expiresIn").is_none());
    let reference = body_reference(r);
    assert!(uuid::Uuid::parse_str(&reference).is_ok(), "{reference}");
}

#[tokio::test]
async fn web_calls_need_no_api_key() {
    let rig = Rig::new().await;
    script(&rig, "GET", &format!("{CREATE}/{ID}"), vec![created()]).await;
    let creds = Credentials::from_rsa_pem(private_key_pem(), ISS, rig.server.uri()).unwrap();
    let client = selo_sdk::Client::builder(creds)
        .sleeper(rig.time.clone())
        .clock(rig.time.clone())
        .build()
        .unwrap();
    assert_eq!(client.get_web_process(ID).await.unwrap().id, ID);
    // The API contract still says what is missing.
    assert!(matches!(
        client.get_process(ID).await,
        Err(Error::Credentials(_))
    ));
}

#[tokio::test]
async fn with_advertised_idempotency_a_503_is_retried_with_the_same_key() {
    let rig = Rig::with_token(3600, Some("idempotency-key, fault-injection")).await;
    script(
        &rig,
        "POST",
        CREATE,
        vec![status(503), status(502), created()],
    )
    .await;
    let client = rig.builder().jitter(false).build().unwrap();
    client.token().await.unwrap();
    assert_eq!(client.supports_idempotency(), Some(true));
    let p = client
        .create_web_process(&request(Some("order-1")))
        .await
        .unwrap();
    assert_eq!(p.id, ID);
    let reqs = rig.requests("POST", CREATE).await;
    assert_eq!(reqs.len(), 3);
    let key = header(&reqs[0], "idempotency-key").expect("a key");
    assert!(uuid::Uuid::parse_str(key).is_ok());
    for r in &reqs {
        assert_eq!(header(r, "idempotency-key"), Some(key), "the same key");
        assert_eq!(r.body, reqs[0].body, "the same body");
        assert_eq!(body_reference(r), "order-1");
    }
    assert_eq!(rig.time.sleeps(), vec![secs(1), secs(2)]);
    assert!(
        rig.requests("GET", CREATE).await.is_empty(),
        "no lookup with a key"
    );
}

#[tokio::test]
async fn without_idempotency_a_503_is_settled_by_the_web_lookup() {
    let rig = Rig::new().await;
    script(&rig, "POST", CREATE, vec![status(503)]).await;
    Mock::given(method("GET"))
        .and(path(CREATE))
        .and(query_param("clientReference", "order-2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [process(
                "PROCESS_STATE_CREATED",
                "PROCESS_RESULT_UNSPECIFIED"
            )]})),
        )
        .mount(&rig.server)
        .await;
    let reply = rig
        .client()
        .create_web_process_reply(&request(Some("order-2")))
        .await
        .unwrap();
    assert!(reply.from_lookup);
    assert_eq!(reply.value.id, ID);
    let posts = rig.requests("POST", CREATE).await;
    assert_eq!(posts.len(), 1, "never blindly retried");
    assert!(header(&posts[0], "idempotency-key").is_none());
    let lookups = rig.requests("GET", CREATE).await;
    assert_eq!(lookups.len(), 1);
    assert!(header(&lookups[0], "apikey").is_none());
}

#[tokio::test]
async fn without_idempotency_an_empty_lookup_allows_one_retry() {
    let rig = Rig::new().await;
    script(&rig, "POST", CREATE, vec![status(500), created()]).await;
    script(
        &rig,
        "GET",
        CREATE,
        vec![ResponseTemplate::new(200).set_body_json(json!({"items": []}))],
    )
    .await;
    let p = rig
        .client()
        .create_web_process(&request(None))
        .await
        .unwrap();
    assert_eq!(p.id, ID);
    let posts = rig.requests("POST", CREATE).await;
    assert_eq!(posts.len(), 2);
    assert_eq!(body_reference(&posts[0]), body_reference(&posts[1]));
}

#[tokio::test]
async fn without_idempotency_a_failing_lookup_is_outcome_unknown() {
    let rig = Rig::new().await;
    script(&rig, "POST", CREATE, vec![status(503)]).await;
    script(
        &rig,
        "GET",
        CREATE,
        vec![web_error(404, "5", "route not found")],
    )
    .await;
    let err = rig
        .client()
        .create_web_process(&request(None))
        .await
        .unwrap_err();
    let Error::OutcomeUnknown {
        client_reference,
        cause,
    } = &err
    else {
        panic!("expected OutcomeUnknown, got {err:?}")
    };
    let posts = rig.requests("POST", CREATE).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(
        client_reference.as_deref(),
        Some(body_reference(&posts[0]).as_str())
    );
    assert_eq!(cause.status(), Some(503));
}

#[tokio::test]
async fn validation_errors_carry_the_grpc_style_code_and_are_not_retried() {
    let rig = Rig::new().await;
    script(
        &rig,
        "POST",
        CREATE,
        vec![web_error(400, "3", "invalid flow")],
    )
    .await;
    let err = rig
        .client()
        .create_web_process(&request(None))
        .await
        .unwrap_err();
    let Error::Api(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((e.status, e.code.as_deref()), (400, Some("3")));
    assert_eq!(e.description, "invalid flow");
    assert_eq!(rig.requests("POST", CREATE).await.len(), 1);
}

#[tokio::test]
async fn a_second_401_with_code_16_is_a_configuration_error() {
    let rig = Rig::new().await;
    let p = format!("{CREATE}/{ID}");
    script(&rig, "GET", &p, vec![web_error(401, "16", "token expired")]).await;
    let err = rig.client().get_web_process(ID).await.unwrap_err();
    let Error::Configuration(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code.as_deref(), Some("16"));
    assert_eq!(rig.requests("GET", &p).await.len(), 2);
    assert_eq!(rig.token_requests().await.len(), 2, "refreshed once");
}

#[tokio::test]
async fn get_selfie_decodes_base64() {
    let rig = Rig::new().await;
    let jpeg: Vec<u8> = (0..=255u8).cycle().take(3001).collect();
    let p = format!("{CREATE}/{ID}/selfie");
    script(
        &rig,
        "GET",
        &p,
        vec![
            ResponseTemplate::new(200)
                .insert_header("request-id", "selfie-req")
                .set_body_json(json!({"fileContents": STANDARD.encode(&jpeg),
                                      "contentType": "image/jpeg"})),
        ],
    )
    .await;
    let reply = rig.client().get_selfie_reply(ID).await.unwrap();
    assert_eq!(reply.value.content_type, "image/jpeg");
    assert_eq!(reply.value.bytes, jpeg);
    assert_eq!(reply.request_id.as_deref(), Some("selfie-req"));
    let reqs = rig.requests("GET", &p).await;
    assert!(header(&reqs[0], "apikey").is_none());
    assert!(
        format!("{:?}", reply.value).contains("3001"),
        "Debug shows the length"
    );
}

#[tokio::test]
async fn get_evidence_set_decodes_the_pdf_and_surfaces_409_and_410() {
    let rig = Rig::new().await;
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n".to_vec();
    // Unpadded and wrapped at 16 characters: still decoded.
    let b64 = STANDARD.encode(&pdf);
    let wrapped: Vec<&str> = b64
        .trim_end_matches('=')
        .as_bytes()
        .chunks(16)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let p = format!("{CREATE}/{ID}/evidenceset");
    script(
        &rig,
        "GET",
        &p,
        vec![
            web_error(409, "9", "the process has not finished yet"),
            ResponseTemplate::new(200).set_body_json(
                json!({"fileContents": wrapped.join("\n"), "contentType": "application/pdf"}),
            ),
            web_error(410, "9", "deleted under the retention policy"),
        ],
    )
    .await;
    let client = rig.client();
    let err = client.get_evidence_set(ID).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(err.to_string().contains("not finished"), "{err}");
    let file = client.get_evidence_set(ID).await.unwrap();
    assert_eq!(file.content_type, "application/pdf");
    assert_eq!(file.bytes, pdf);
    let err = client.get_evidence_set(ID).await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("{err:?}")
    };
    assert!(e.is_gone());
    assert_eq!(
        rig.requests("GET", &p).await.len(),
        3,
        "4xx are not retried"
    );
}

#[tokio::test]
async fn bad_file_contents_are_a_decode_error() {
    let rig = Rig::new().await;
    let p = format!("{CREATE}/{ID}/selfie");
    script(
        &rig,
        "GET",
        &p,
        vec![
            ResponseTemplate::new(200)
                .set_body_json(json!({"fileContents": "not base64!", "contentType": "image/jpeg"})),
        ],
    )
    .await;
    let err = rig.client().get_selfie(ID).await.unwrap_err();
    assert!(matches!(err, Error::Decode { status: 200, .. }), "{err:?}");
    assert!(matches!(
        rig.client().get_selfie("  ").await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn unknown_enum_values_are_kept_and_map_to_unknown() {
    let rig = Rig::new().await;
    let mut body = process("PROCESS_STATE_FINISHED", "PROCESS_RESULT_SOMETHING_NEW");
    body["authenticationInfo"]["scoreEngineResult"]["score"] = json!(85.5);
    script(
        &rig,
        "GET",
        &format!("{CREATE}/{ID}"),
        vec![ResponseTemplate::new(200).set_body_json(json!({"process": body}))],
    )
    .await;
    let p = rig.client().get_web_process(ID).await.unwrap();
    assert_eq!(p.result, "PROCESS_RESULT_SOMETHING_NEW");
    assert_eq!(
        p.verdict(),
        Verdict::Unknown("PROCESS_RESULT_SOMETHING_NEW".into())
    );
    let score = p
        .authentication_info
        .as_ref()
        .and_then(|a| a.score_engine_result.as_ref())
        .and_then(|s| s.score.as_ref())
        .and_then(serde_json::Number::as_f64);
    assert_eq!(score, Some(85.5));
    assert_eq!(p.to_value(), body, "re-serializes to what was received");
}

#[tokio::test]
async fn wait_for_web_result_polls_until_finished_then_times_out_when_pending() {
    let rig = Rig::new().await;
    let p = format!("{CREATE}/{ID}");
    script(
        &rig,
        "GET",
        &p,
        vec![
            created(),
            created(),
            envelope("PROCESS_STATE_FINISHED", "PROCESS_RESULT_OK"),
        ],
    )
    .await;
    let client = rig.builder().jitter(false).build().unwrap();
    let done = client
        .wait_for_web_result(ID, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.verdict(), Verdict::Approved);
    assert_eq!(rig.requests("GET", &p).await.len(), 3);
    assert_eq!(rig.time.sleeps(), vec![secs(1), secs(2)]);

    let rig = Rig::new().await;
    script(&rig, "GET", &p, vec![created()]).await;
    let client = rig.builder().jitter(false).build().unwrap();
    let err = client
        .wait_for_web_result(ID, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let Error::WebTimeout {
        process_id, last, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(process_id, ID);
    assert_eq!(last.as_ref().unwrap().state, "PROCESS_STATE_CREATED");
    // 1 s, 2 s, then the 2 s left; one last poll at the deadline.
    assert_eq!(rig.time.sleeps(), vec![secs(1), secs(2), secs(2)]);
    assert_eq!(rig.requests("GET", &p).await.len(), 4);
}
