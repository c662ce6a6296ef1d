//! Polling: exponential backoff until the verdict is final, or a timeout at the deadline.

use crate::support::*;
use selo_sdk::{Error, Verdict};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const P: &str = "/processes/v1/p-9";

fn pending() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "p-9", "status": 1}))
}

async fn script(rig: &Rig, steps: Vec<ResponseTemplate>) {
    Mock::given(method("GET"))
        .and(path(P))
        .respond_with(Script::new(steps))
        .mount(&rig.server)
        .await;
}

#[tokio::test]
async fn polls_with_doubling_delays_until_the_verdict_is_final() {
    let rig = Rig::new().await;
    script(
        &rig,
        vec![
            pending(),
            pending(),
            pending(),
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "p-9", "status": 3, "unicoId": {"result": "yes"},
                "identityFraudsters": {"result": "yes"}})),
        ],
    )
    .await;
    let p = rig
        .builder()
        .jitter(false)
        .build()
        .unwrap()
        .wait_for_result("p-9", Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(p.status, 3);
    assert_eq!(
        Verdict::from_api(&p),
        Verdict::Inconclusive,
        "behavior alert"
    );
    assert_eq!(rig.requests("GET", P).await.len(), 4);
    assert_eq!(rig.time.sleeps(), vec![secs(1), secs(2), secs(4)]);
}

#[tokio::test]
async fn delays_are_jittered_and_capped() {
    let rig = Rig::new().await;
    script(&rig, vec![pending()]).await;
    let err = rig
        .builder()
        .poll_backoff(secs(10), secs(30))
        .build()
        .unwrap()
        .wait_for_result("p-9", Duration::from_secs(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }));
    let sleeps = rig.time.sleeps();
    assert_jittered(&sleeps[..2], &[10, 20]);
    assert!(sleeps.iter().all(|d| *d <= secs(30)), "{sleeps:?}");
    assert_eq!(rig.time.total_slept(), secs(200));
}

#[tokio::test]
async fn times_out_at_the_deadline_with_a_last_poll_there() {
    let rig = Rig::new().await;
    script(&rig, vec![pending()]).await;
    let err = rig
        .builder()
        .jitter(false)
        .build()
        .unwrap()
        .wait_for_result("p-9", Duration::from_secs(10))
        .await
        .unwrap_err();
    let Error::Timeout {
        process_id,
        waited,
        last,
    } = &err
    else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!(process_id, "p-9");
    assert_eq!(*waited, secs(10));
    assert_eq!(last.as_ref().unwrap().status, 1);
    // Polls at t = 0, 1, 3, 7 and at the deadline (10).
    assert_eq!(rig.time.sleeps(), vec![secs(1), secs(2), secs(4), secs(3)]);
    assert_eq!(rig.requests("GET", P).await.len(), 5);
}

#[tokio::test]
async fn a_410_ends_the_wait_with_the_error_verdict() {
    let rig = Rig::new().await;
    script(&rig, vec![pending(), status(410)]).await;
    let err = rig
        .builder()
        .jitter(false)
        .build()
        .unwrap()
        .wait_for_result("p-9", Duration::from_secs(60))
        .await
        .unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected the 410, got {err:?}")
    };
    assert_eq!(Verdict::from_api_error(e), Some(Verdict::Error));
    assert_eq!(rig.requests("GET", P).await.len(), 2);
}
