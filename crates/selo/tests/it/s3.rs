//! Images in an S3-compatible bucket (CONTRACT §18): `serve --blobs s3://BUCKET/PREFIX` with the
//! standard `AWS_*` variables, against the S3 server `SELO_TEST_S3` names (`.ci/run` starts
//! moto's; SKIPPED without one, a failure under `CI=true`). Objects are checked on the S3
//! server itself. The whole suite also runs so with `SELO_TEST_BLOBS=s3`.

use crate::support::blobs::s3_endpoint;
use crate::support::{Opts, Server, selo_bin, skipped};

#[tokio::test]
async fn selfies_live_in_the_bucket_and_leave_it_with_their_window() {
    let test = "selfies_live_in_the_bucket_and_leave_it_with_their_window";
    if s3_endpoint().is_none() {
        return skipped(test, "no S3 server (set SELO_TEST_S3=http://HOST:PORT)");
    }
    let s = Server::start_with(Opts {
        s3: Some(crate::support::blobs::new_bucket()),
        manual_clock: true,
        ..Opts::default()
    });
    assert!(
        !s.data.path().join("blobs").exists(),
        "nothing on local disk"
    );
    let t = s.tenant();
    let token = s.token(&t).await;
    let created = s.api_process(&t, &token, "00000000191").await;
    let web = s.web_process(&token, "00000000191").await;
    assert_eq!(s.complete_journey(&web).await, 200);
    let key = |id: &serde_json::Value| format!("{}/{}.selfie", t.id, id.as_str().unwrap());
    assert!(s.blob(&key(&created["id"])).is_some());
    let stored = s.blob(&key(&web["id"])).unwrap();
    // The Web & SDK selfie is served from the bucket.
    let res = s
        .http
        .get(s.url(&format!(
            "/client/v1/process/{}/selfie",
            web["id"].as_str().unwrap()
        )))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let served = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        body["fileContents"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(served, stored);
    // Past the selfie window the sweeper deletes both objects.
    s.advance(8 * 3600).await;
    assert!(s.blob(&key(&created["id"])).is_none());
    assert!(s.blob(&key(&web["id"])).is_none());
}

#[test]
fn a_blob_store_that_is_not_one_or_does_not_answer_is_refused_at_start() {
    let out = std::process::Command::new(selo_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--blobs", "gs://bucket"])
        .arg("--data")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s3://BUCKET[/PREFIX]"), "{err}");

    // A bucket on a server that does not answer: the server does not start, and says which.
    let out = std::process::Command::new(selo_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--blobs",
            "s3://nowhere/selo",
        ])
        .arg("--data")
        .arg(tempfile::tempdir().unwrap().path())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "k")
        .env("AWS_SECRET_ACCESS_KEY", "never-printed")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s3://nowhere/selo"), "{err}");
    assert!(!err.contains("never-printed"), "{err}");
}
