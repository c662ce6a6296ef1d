//! CONTRACT §13 on reads: 5xx backoff, 429 and Retry-After, 401 refresh, other 4xx.

use crate::support::*;
use selo_sdk::{Error, Verdict};
use selo_wire::error::FieldReason;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const P: &str = "/processes/v1/p-1";

async fn script_get(rig: &Rig, steps: Vec<ResponseTemplate>) {
    Mock::given(method("GET"))
        .and(path(P))
        .respond_with(Script::new(steps))
        .mount(&rig.server)
        .await;
}

fn then_ok(mut steps: Vec<ResponseTemplate>) -> Vec<ResponseTemplate> {
    steps.push(ok_process("p-1"));
    steps
}

#[tokio::test]
async fn get_503_four_times_then_200_takes_five_attempts_with_jittered_backoff() {
    let rig = Rig::new().await;
    script_get(&rig, then_ok(times(4, status(503)))).await;
    let p = rig.client().get_process("p-1").await.unwrap();
    assert_eq!(p.id, "p-1");
    assert_eq!(rig.requests("GET", P).await.len(), 5);
    assert_jittered(&rig.time.sleeps(), &[1, 2, 4, 8]);
}

#[tokio::test]
async fn without_jitter_the_schedule_is_exactly_1_2_4_8() {
    let rig = Rig::new().await;
    script_get(&rig, then_ok(times(4, status(502)))).await;
    rig.builder()
        .jitter(false)
        .build()
        .unwrap()
        .get_process("p-1")
        .await
        .unwrap();
    assert_eq!(rig.time.sleeps(), vec![secs(1), secs(2), secs(4), secs(8)]);
}

#[tokio::test]
async fn get_503_five_times_fails_after_exactly_five_attempts() {
    let rig = Rig::new().await;
    script_get(&rig, vec![status(503)]).await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(e.status, 503);
    assert_eq!(e.code.as_deref(), Some("99999"));
    assert_eq!(e.request_id.as_deref(), Some("srv-req"));
    assert_eq!(rig.requests("GET", P).await.len(), 5);
    assert_eq!(rig.time.sleeps().len(), 4);
}

#[tokio::test]
async fn max_attempts_is_configurable() {
    let rig = Rig::new().await;
    script_get(&rig, vec![status(500)]).await;
    let err = rig
        .builder()
        .max_attempts(2)
        .build()
        .unwrap()
        .get_process("p-1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(rig.requests("GET", P).await.len(), 2);
    assert_eq!(rig.time.sleeps().len(), 1);
}

#[tokio::test]
async fn retry_after_on_429_is_honoured_exactly() {
    let rig = Rig::new().await;
    script_get(
        &rig,
        then_ok(vec![status(429).insert_header("retry-after", "2")]),
    )
    .await;
    rig.client().get_process("p-1").await.unwrap();
    assert_eq!(rig.time.sleeps(), vec![secs(2)]);
    assert_eq!(rig.requests("GET", P).await.len(), 2);
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let rig = Rig::new().await;
    let at = httpdate_in(&rig, 3);
    script_get(
        &rig,
        then_ok(vec![status(429).insert_header("retry-after", at)]),
    )
    .await;
    rig.client().get_process("p-1").await.unwrap();
    assert_eq!(rig.time.sleeps(), vec![secs(3)]);
}

fn httpdate_in(rig: &Rig, s: u64) -> String {
    use selo_sdk::time::Clock;
    // RFC 9110 IMF-fixdate of the virtual clock + s.
    let t = rig.time.now() + Duration::from_secs(s);
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // 2026-01-01T00:00:00Z is a Thursday; the rig's clock starts there.
    let day = (secs - 1_767_225_600) / 86_400;
    assert_eq!(day, 0, "helper only covers the first day");
    let rem = secs % 86_400;
    format!(
        "Thu, 01 Jan 2026 {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test]
async fn a_429_counts_as_an_attempt() {
    let rig = Rig::new().await;
    script_get(&rig, vec![status(429).insert_header("retry-after", "1")]).await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(rig.requests("GET", P).await.len(), 5);
    assert_eq!(rig.time.sleeps(), vec![secs(1); 4]);
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_capped_at_60_seconds() {
    let rig = Rig::new().await;
    script_get(&rig, vec![status(429)]).await;
    let err = rig
        .builder()
        .base_delay(secs(50))
        .build()
        .unwrap()
        .get_process("p-1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    let sleeps = rig.time.sleeps();
    assert_eq!(sleeps.len(), 4);
    assert!(sleeps.iter().all(|d| *d <= secs(60)), "{sleeps:?}");
    // 50 s ± 20 % first, then 100/200/400 s nominal, all capped to 60 s.
    assert!(sleeps[0] >= secs(40));
    assert_eq!(&sleeps[1..], &[secs(60), secs(60), secs(60)]);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_is_returned_not_slept() {
    let rig = Rig::new().await;
    script_get(&rig, vec![status(429).insert_header("retry-after", "3600")]).await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    let Error::Api(e) = err else {
        panic!("expected an API error")
    };
    assert_eq!(e.status, 429);
    assert_eq!(e.retry_after, Some(secs(3600)));
    assert_eq!(rig.requests("GET", P).await.len(), 1);
    assert!(rig.time.sleeps().is_empty());
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_succeeds() {
    let rig = Rig::new().await;
    script_get(&rig, then_ok(vec![status(401)])).await;
    let p = rig.client().get_process("p-1").await.unwrap();
    assert_eq!(p.status, 3);
    assert_eq!(rig.token_requests().await.len(), 2);
    let gets = rig.requests("GET", P).await;
    assert_eq!(gets.len(), 2);
    assert_eq!(header(&gets[0], "authorization"), Some("Bearer tok-1"));
    assert_eq!(header(&gets[1], "authorization"), Some("Bearer tok-2"));
    assert!(rig.time.sleeps().is_empty(), "the 401 retry is immediate");
}

#[tokio::test]
async fn two_401s_are_a_configuration_error_after_exactly_two_attempts() {
    let rig = Rig::new().await;
    script_get(
        &rig,
        vec![
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Bearer")
                .set_body_json(error_body(
                    "10201",
                    "APIKEY is unknown or revoked in environment sandbox",
                    "r-401",
                )),
        ],
    )
    .await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    let Error::Configuration(e) = &err else {
        panic!("expected a configuration error, got {err:?}")
    };
    assert_eq!(e.status, 401);
    assert_eq!(e.code.as_deref(), Some("10201"));
    assert!(e.description.contains("APIKEY is unknown"));
    assert!(err.to_string().contains("APIKEY is unknown"));
    assert_eq!(rig.requests("GET", P).await.len(), 2);
    assert_eq!(rig.token_requests().await.len(), 2);
}

#[tokio::test]
async fn a_400_is_not_retried_and_carries_code_fields_and_request_id() {
    let rig = Rig::new().await;
    script_get(
        &rig,
        vec![ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "20005", "description": "subject.code is required",
            "fields": [{"field": "subject.code", "reason": "required"},
                       {"field": "subject.name", "reason": "wrong_type"}],
            "requestId": "01JABC", "timestamp": "2026-01-01T00:00:00.000Z"}}))],
    )
    .await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(e.status, 400);
    assert_eq!(e.code.as_deref(), Some("20005"));
    assert_eq!(e.description, "subject.code is required");
    let fields: Vec<_> = e
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.reason))
        .collect();
    assert_eq!(
        fields,
        [
            ("subject.code", FieldReason::Required),
            ("subject.name", FieldReason::WrongType)
        ]
    );
    assert_eq!(e.request_id.as_deref(), Some("01JABC"));
    assert_eq!(rig.requests("GET", P).await.len(), 1);
    assert!(rig.time.sleeps().is_empty());
}

#[tokio::test]
async fn request_id_falls_back_to_the_header_for_foreign_bodies() {
    let rig = Rig::new().await;
    script_get(
        &rig,
        vec![
            ResponseTemplate::new(404)
                .insert_header("request-id", "hdr-404")
                .set_body_string("not found"),
        ],
    )
    .await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected an API error")
    };
    assert!(e.is_not_found());
    assert_eq!(e.request_id.as_deref(), Some("hdr-404"));
    assert_eq!(e.code, None);
    assert_eq!(e.description, "not found");
}

#[tokio::test]
async fn a_410_maps_to_the_error_verdict() {
    let rig = Rig::new().await;
    script_get(&rig, vec![status(410)]).await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected an API error")
    };
    assert_eq!(Verdict::from_api_error(e), Some(Verdict::Error));
    assert_eq!(rig.requests("GET", P).await.len(), 1);
}

#[tokio::test]
async fn list_documents_and_lookup_send_their_queries() {
    let rig = Rig::new().await;
    Mock::given(method("GET"))
        .and(path("/documents/v1"))
        .and(query_param("code", "00000000191"))
        .and(query_param("type", "BR_CNH"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"documentType": "unico.moja.dictionary.br.cnh.v2.Cnh", "documentId": "d-1"}]})))
        .mount(&rig.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/processes/v1"))
        .and(query_param("clientReference", "ref 1&x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            process_json("p-2", 3, "no"), process_json("p-1", 3, "yes")]})))
        .mount(&rig.server)
        .await;
    let client = rig.client();
    let docs = client
        .list_documents("00000000191", "BR_CNH")
        .await
        .unwrap();
    assert_eq!(docs.items[0].document_id, "d-1");
    let found = client
        .find_processes_by_client_reference("ref 1&x")
        .await
        .unwrap();
    let ids: Vec<_> = found.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p-2", "p-1"]);
}

#[tokio::test]
async fn api_calls_without_an_api_key_fail_before_sending() {
    let rig = Rig::new().await;
    let creds =
        selo_sdk::Credentials::from_rsa_pem(private_key_pem(), ISS, rig.server.uri()).unwrap();
    let client = selo_sdk::Client::builder(creds)
        .sleeper(rig.time.clone())
        .clock(rig.time.clone())
        .build()
        .unwrap();
    let err = client.get_process("p-1").await.unwrap_err();
    assert!(matches!(err, Error::Credentials(_)), "{err:?}");
    assert!(rig.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unexpected_success_body_is_a_decode_error() {
    let rig = Rig::new().await;
    script_get(
        &rig,
        vec![
            ResponseTemplate::new(200)
                .insert_header("request-id", "r-dec")
                .set_body_string("<html>"),
        ],
    )
    .await;
    let err = rig.client().get_process("p-1").await.unwrap_err();
    assert!(matches!(err, Error::Decode { status: 200, .. }), "{err:?}");
    assert_eq!(err.request_id(), Some("r-dec"));
}
