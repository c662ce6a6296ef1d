//! Creates are never blindly retried: idempotency keys, the clientReference lookup,
//! OutcomeUnknown.

use crate::support::*;
use selo_sdk::Error;
use selo_wire::process::{CreateProcessRequest, Subject};
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const FEATURES: &str = "idempotency-key, fault-injection";

fn request(reference: Option<&str>) -> CreateProcessRequest {
    CreateProcessRequest {
        subject: Some(Subject {
            code: "00000000191".into(),
            name: "Maria da Silva".into(),
            client_reference: reference.map(str::to_string),
            ..Subject::default()
        }),
        image_base64: "aW1hZ2U=".into(),
        ..CreateProcessRequest::default()
    }
}

async fn script_post(rig: &Rig, steps: Vec<ResponseTemplate>) {
    Mock::given(method("POST"))
        .and(path("/processes/v1"))
        .respond_with(Script::new(steps))
        .mount(&rig.server)
        .await;
}

async fn lookup_answers(rig: &Rig, t: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/processes/v1"))
        .respond_with(t)
        .mount(&rig.server)
        .await;
}

async fn posts(rig: &Rig) -> Vec<wiremock::Request> {
    rig.requests("POST", "/processes/v1").await
}

async fn lookups(rig: &Rig) -> Vec<wiremock::Request> {
    rig.requests("GET", "/processes/v1").await
}

fn body_reference(r: &wiremock::Request) -> String {
    let body: Value = r.body_json().unwrap();
    body["subject"]["clientReference"]
        .as_str()
        .expect("clientReference in the body")
        .to_string()
}

#[tokio::test]
async fn a_plain_create_sends_the_body_with_a_generated_reference_and_no_key() {
    let rig = Rig::new().await;
    script_post(&rig, vec![ok_process("p-1")]).await;
    let p = rig.client().create_process(&request(None)).await.unwrap();
    assert_eq!(p.id, "p-1");
    let reqs = posts(&rig).await;
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(header(r, "content-type"), Some("application/json"));
    assert_eq!(header(r, "apikey"), Some(API_KEY));
    assert_eq!(header(r, "authorization"), Some("Bearer tok-1"));
    assert!(
        header(r, "idempotency-key").is_none(),
        "server never advertised support"
    );
    let reference = body_reference(r);
    assert!(uuid::Uuid::parse_str(&reference).is_ok(), "{reference}");
    let body: Value = r.body_json().unwrap();
    assert_eq!(body["subject"]["code"], "00000000191");
    assert_eq!(body["imageBase64"], "aW1hZ2U=");
}

#[tokio::test]
async fn a_503_without_idempotency_and_a_failing_lookup_is_outcome_unknown_after_one_post() {
    let rig = Rig::new().await;
    script_post(&rig, vec![status(503)]).await;
    // A server without the lookup extension.
    lookup_answers(
        &rig,
        ResponseTemplate::new(404).set_body_json(error_body("40401", "route not found", "r")),
    )
    .await;
    let err = rig
        .client()
        .create_process(&request(None))
        .await
        .unwrap_err();
    let Error::OutcomeUnknown {
        client_reference,
        cause,
    } = &err
    else {
        panic!("expected OutcomeUnknown, got {err:?}")
    };
    let reqs = posts(&rig).await;
    assert_eq!(reqs.len(), 1, "never blindly retried");
    // The reference named is the one the SDK put in the body.
    assert_eq!(
        client_reference.as_deref(),
        Some(body_reference(&reqs[0]).as_str())
    );
    assert_eq!(cause.status(), Some(503));
    assert!(
        err.to_string()
            .contains(client_reference.as_deref().unwrap())
    );
    // The lookup was made, once (a 404 is not retried), with that reference.
    let l = lookups(&rig).await;
    assert_eq!(l.len(), 1);
    let q: Vec<_> = l[0].url.query_pairs().collect();
    assert_eq!(q[0].0, "clientReference");
    assert_eq!(q[0].1, client_reference.as_deref().unwrap());
}

#[tokio::test]
async fn the_callers_reference_is_kept_and_named() {
    let rig = Rig::new().await;
    script_post(&rig, vec![status(500)]).await;
    lookup_answers(&rig, status(404)).await;
    let err = rig
        .client()
        .create_process(&request(Some("order-8812")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutcomeUnknown { client_reference: Some(r), .. } if r == "order-8812"),
        "{err:?}"
    );
    assert_eq!(body_reference(&posts(&rig).await[0]), "order-8812");
}

#[tokio::test]
async fn with_advertised_idempotency_a_503_is_retried_with_the_same_key() {
    let rig = Rig::with_token(3600, Some(FEATURES)).await;
    script_post(&rig, vec![status(503), status(503), ok_process("p-1")]).await;
    let client = rig.client();
    let p = client.create_process(&request(None)).await.unwrap();
    assert_eq!(p.id, "p-1");
    assert_eq!(client.supports_idempotency(), Some(true));
    let reqs = posts(&rig).await;
    assert_eq!(reqs.len(), 3);
    let keys: Vec<_> = reqs.iter().map(|r| header(r, "idempotency-key")).collect();
    let first = keys[0].expect("the first attempt carries the key too");
    assert!(uuid::Uuid::parse_str(first).is_ok());
    assert!(keys.iter().all(|k| *k == Some(first)), "{keys:?}");
    // Same body on every attempt (the server compares bytes).
    assert!(reqs.iter().all(|r| r.body == reqs[0].body));
    assert!(
        lookups(&rig).await.is_empty(),
        "no lookup needed with a key"
    );
    assert_jittered(&rig.time.sleeps(), &[1, 2]);

    // A second logical create gets a new key.
    client.create_process(&request(None)).await.unwrap();
    let reqs = posts(&rig).await;
    assert_ne!(header(&reqs[3], "idempotency-key"), Some(first));
}

#[tokio::test]
async fn with_idempotency_running_out_of_attempts_is_still_outcome_unknown() {
    let rig = Rig::with_token(3600, Some(FEATURES)).await;
    script_post(&rig, vec![status(503)]).await;
    let err = rig
        .client()
        .create_process(&request(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(posts(&rig).await.len(), 5);
}

#[tokio::test]
async fn idempotency_keys_can_be_turned_off() {
    let rig = Rig::with_token(3600, Some(FEATURES)).await;
    script_post(&rig, vec![status(503)]).await;
    lookup_answers(&rig, status(404)).await;
    let err = rig
        .builder()
        .idempotency_keys(false)
        .build()
        .unwrap()
        .create_process(&request(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }));
    let reqs = posts(&rig).await;
    assert_eq!(reqs.len(), 1);
    assert!(header(&reqs[0], "idempotency-key").is_none());
}

#[tokio::test]
async fn features_without_idempotency_mean_no_key() {
    let rig = Rig::with_token(3600, Some("fault-injection")).await;
    script_post(&rig, vec![ok_process("p-1")]).await;
    let client = rig.client();
    client.create_process(&request(None)).await.unwrap();
    assert_eq!(client.supports_idempotency(), Some(false));
    assert!(header(&posts(&rig).await[0], "idempotency-key").is_none());
}

#[tokio::test]
async fn a_503_whose_lookup_finds_the_process_returns_it_without_a_second_post() {
    let rig = Rig::new().await;
    script_post(&rig, vec![status(503)]).await;
    lookup_answers(
        &rig,
        ResponseTemplate::new(200)
            .set_body_json(json!({"items": [process_json("p-created", 3, "no")]})),
    )
    .await;
    let reply = rig
        .client()
        .create_process_reply(&request(Some("order-1")))
        .await
        .unwrap();
    assert_eq!(reply.value.id, "p-created");
    assert!(reply.from_lookup);
    assert_eq!(posts(&rig).await.len(), 1);
    assert_eq!(lookups(&rig).await.len(), 1);
    // The lookup happens after the backoff delay, to let a slow commit land.
    assert_jittered(&rig.time.sleeps(), &[1]);
}

#[tokio::test]
async fn a_503_whose_lookup_finds_nothing_is_retried_with_the_same_body() {
    let rig = Rig::new().await;
    script_post(&rig, vec![status(503), ok_process("p-1")]).await;
    lookup_answers(
        &rig,
        ResponseTemplate::new(200).set_body_json(json!({"items": []})),
    )
    .await;
    let reply = rig
        .client()
        .create_process_reply(&request(None))
        .await
        .unwrap();
    assert_eq!(reply.value.id, "p-1");
    assert!(!reply.from_lookup);
    let reqs = posts(&rig).await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body);
    assert!(header(&reqs[1], "idempotency-key").is_none());
    assert_eq!(lookups(&rig).await.len(), 1);
}

#[tokio::test]
async fn lookups_that_keep_finding_nothing_end_in_the_plain_error() {
    // Every attempt failed and every lookup proved nothing was created: the outcome is known.
    let rig = Rig::new().await;
    script_post(&rig, vec![status(503)]).await;
    lookup_answers(
        &rig,
        ResponseTemplate::new(200).set_body_json(json!({"items": []})),
    )
    .await;
    let err = rig
        .client()
        .create_process(&request(None))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Api(e) if e.status == 503), "{err:?}");
    assert_eq!(posts(&rig).await.len(), 5);
    assert_eq!(lookups(&rig).await.len(), 5);
}

#[tokio::test]
async fn a_429_or_401_on_a_create_is_safely_retried() {
    let rig = Rig::new().await;
    script_post(
        &rig,
        vec![
            status(429).insert_header("retry-after", "1"),
            status(401),
            ok_process("p-1"),
        ],
    )
    .await;
    let p = rig.client().create_process(&request(None)).await.unwrap();
    assert_eq!(p.id, "p-1");
    let reqs = posts(&rig).await;
    assert_eq!(reqs.len(), 3);
    assert_eq!(header(&reqs[2], "authorization"), Some("Bearer tok-2"));
    assert!(lookups(&rig).await.is_empty());
    assert_eq!(rig.time.sleeps(), vec![secs(1)]);
}

#[tokio::test]
async fn a_400_on_a_create_is_returned_as_is() {
    let rig = Rig::new().await;
    script_post(
        &rig,
        vec![ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "20507", "description": "subject.code is not a valid CPF",
            "fields": [{"field": "subject.code", "reason": "invalid"}],
            "requestId": "r400", "timestamp": "2026-01-01T00:00:00.000Z"}}))],
    )
    .await;
    let err = rig
        .client()
        .create_process(&request(None))
        .await
        .unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(e.code.as_deref(), Some("20507"));
    assert_eq!(e.fields[0].field, "subject.code");
    assert_eq!(posts(&rig).await.len(), 1);
}

#[tokio::test]
async fn a_timeout_after_sending_is_ambiguous_too() {
    let rig = Rig::new().await;
    script_post(
        &rig,
        // The answer comes long after the client gave up: a loaded machine cannot make the
        // client's timeout fire before the request was sent.
        vec![ok_process("p-1").set_delay(Duration::from_secs(10))],
    )
    .await;
    lookup_answers(&rig, status(404)).await;
    let err = rig
        .builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap()
        .create_process(&request(Some("order-t")))
        .await
        .unwrap_err();
    let Error::OutcomeUnknown {
        client_reference,
        cause,
    } = &err
    else {
        panic!("expected OutcomeUnknown, got {err:?}")
    };
    assert_eq!(client_reference.as_deref(), Some("order-t"));
    assert!(matches!(**cause, Error::Transport { .. }), "{cause:?}");
    assert_eq!(posts(&rig).await.len(), 1);
}

#[tokio::test]
async fn a_create_without_subject_has_no_reference_to_look_up() {
    let rig = Rig::new().await;
    script_post(&rig, vec![status(503)]).await;
    let req = CreateProcessRequest {
        references: Some(vec![selo_wire::process::Reference {
            reference_type: "REFERENCE_TYPE_PROCESS_ID".into(),
            reference_content: "p-0".into(),
        }]),
        image_base64: "aW1hZ2U=".into(),
        ..CreateProcessRequest::default()
    };
    let err = rig.client().create_process(&req).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutcomeUnknown {
                client_reference: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(posts(&rig).await.len(), 1);
    assert!(lookups(&rig).await.is_empty());
    let body: Value = posts(&rig).await[0].body_json().unwrap();
    assert!(body.get("subject").is_none(), "no subject is invented");
}

#[tokio::test]
async fn the_lookup_query_matches_the_reference() {
    let rig = Rig::new().await;
    script_post(&rig, vec![status(503)]).await;
    Mock::given(method("GET"))
        .and(path("/processes/v1"))
        .and(query_param("clientReference", "order-q"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [process_json("p-q", 1, "yes")]})),
        )
        .mount(&rig.server)
        .await;
    let p = rig
        .client()
        .create_process(&request(Some("order-q")))
        .await
        .unwrap();
    assert_eq!(p.id, "p-q");
}

/// **[ext]** The explanation of a process (API auth) and of a journey (Bearer), typed; a 409
/// while it runs is the API's error, not retried.
#[tokio::test]
async fn the_analysis_of_a_process_is_read_typed() {
    let rig = Rig::new().await;
    let id = "0b7e9a44-3c55-4f4e-9d1e-6a2f1c0d9b21";
    let analysis = json!({"engine": "local",
        "models": [{"name": "blazeface-short-range", "version": "0.4", "sha256": "6f4b"}],
        "runtime": "onnxruntime",
        "faces": [{"box": [10, 20, 200, 220], "score": 0.98}],
        "gates": [{"name": "face_not_found", "passed": true, "value": 1.0, "threshold": 1.0}],
        "liveness": {"live": true, "signals": {"chroma": 12.5}},
        "match": {"enrolled": 1, "distance": 0.21, "accept": 0.4, "reject": 0.6},
        "fraud": {"checked": false, "nearestDistance": null},
        "timingsMs": {"embed": 9.5}});
    for route in [
        format!("/processes/v1/{id}/analysis"),
        format!("/client/v1/process/{id}/analysis"),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(&analysis))
            .mount(&rig.server)
            .await;
    }
    let client = rig.client();
    let api = client.get_process_analysis(id).await.unwrap();
    assert_eq!(api.engine, selo_wire::analysis::EngineName::Local);
    assert_eq!(api.runtime.as_deref(), Some("onnxruntime"));
    assert_eq!(api.matched.as_ref().unwrap().distance, Some(0.21));
    assert_eq!(
        api.gates[0].name,
        selo_wire::analysis::GateReason::FaceNotFound
    );
    let web = client.get_web_process_analysis(id).await.unwrap();
    assert_eq!(web, api);
    let text = serde_json::to_string(&api).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        analysis,
        "the wire type round-trips the server's body"
    );

    let running = "5d1c2b3a-0000-4000-8000-000000000001";
    Mock::given(method("GET"))
        .and(path(format!("/processes/v1/{running}/analysis")))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": {
            "code": "40901", "description": "still running", "requestId": "r", "timestamp": "t"}})))
        .mount(&rig.server)
        .await;
    match client.get_process_analysis(running).await {
        Err(Error::Api(e)) => assert_eq!(e.status, 409),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rig.requests("GET", &format!("/processes/v1/{running}/analysis"))
            .await
            .len(),
        1
    );
}
