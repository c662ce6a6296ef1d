//! The hosted journey in a real browser (headless Chromium, fake camera): the person completes
//! it and the integrator reads the result through the API. Screenshots of every step at 360 px
//! and 1280 px go to `target/journey-screenshots/`.

use crate::support::SendJson;
use crate::support::browser::{self, Browser, Camera};
use crate::support::{Server, images};
use serde_json::{Value, json};

async fn web_process(s: &Server, token: &str, cpf: &str, callback: &str) -> Value {
    let res = s
        .http
        .post(s.url("/client/v1/process"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"callbackUri": callback, "flow": "id", "purpose": "biometryonboarding",
                      "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": cpf, "friendlyName": "Maria"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["process"].clone()
}

async fn read(s: &Server, token: &str, id: &str) -> Value {
    let v: Value = s
        .http
        .get(s.url(&format!("/client/v1/process/{id}")))
        .header("authorization", format!("Bearer {token}"))
        .send_json()
        .await;
    v["process"].clone()
}

#[tokio::test]
async fn camera_journeys_finish_with_the_scenario_result() {
    if !browser::available("camera_journeys_finish_with_the_scenario_result") {
        return;
    }
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let back = s.url("/livez");
    let cases = [
        (
            "00000000191",
            360,
            "/",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
        ),
        (
            "00000000353",
            1280,
            back.as_str(),
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_FAILED",
        ),
        (
            "00000000787",
            360,
            back.as_str(),
            "PROCESS_STATE_FAILED",
            "PROCESS_RESULT_ERROR",
        ),
    ];
    for (cpf, width, callback, state, result) in cases {
        let p = web_process(&s, &token, cpf, callback).await;
        let b = Browser::start(width, Camera::Fake).await;
        b.goto(p["userRedirectUrl"].as_str().unwrap()).await;
        b.wait_visible("#start-camera").await;
        assert!(
            b.text()
                .await
                .contains("Acme asks you to confirm your identity")
        );
        b.screenshot(&format!("{width}-1-start-{cpf}")).await;
        b.assert_accessible(&format!("the start step at {width} px"))
            .await;
        b.click("#start-camera").await;
        b.wait_for(
            "const v = document.getElementById('video'); return v.videoWidth > 0;",
            "the camera",
        )
        .await;
        b.screenshot(&format!("{width}-2-camera-{cpf}")).await;
        b.click("#take").await;
        b.wait_visible("#submit").await;
        b.screenshot(&format!("{width}-3-review-{cpf}")).await;
        b.assert_accessible(&format!("the review step at {width} px"))
            .await;
        b.click("#submit").await;
        if callback == "/" {
            b.wait_visible("#step-done h2").await;
            b.screenshot(&format!("{width}-4-done-{cpf}")).await;
            b.assert_accessible(&format!("the done step at {width} px"))
                .await;
            // Completion is announced and focus stays on the page, on the step's heading.
            assert_eq!(
                b.eval("return document.activeElement.id || document.activeElement.tagName")
                    .await,
                json!("H2")
            );
            assert_eq!(
                b.eval("return document.getElementById('status').textContent")
                    .await,
                json!("Your photo was accepted."),
                "the live region says so"
            );
        } else {
            b.wait_for(
                &format!("return location.href === {callback:?};"),
                "the redirect to callbackUri",
            )
            .await;
        }
        let read = read(&s, &token, p["id"].as_str().unwrap()).await;
        assert_eq!(
            (
                read["state"].as_str().unwrap(),
                read["result"].as_str().unwrap()
            ),
            (state, result),
            "{cpf}"
        );
        // The link is single-use: reopening it says so.
        b.goto(p["userRedirectUrl"].as_str().unwrap()).await;
        b.wait_visible("#closed-text").await;
        assert!(b.text().await.contains("already completed"));
        if width == 360 && cpf == "00000000191" {
            b.screenshot("360-5-closed").await;
        }
    }
}

#[tokio::test]
async fn a_denied_camera_completes_by_upload() {
    if !browser::available("a_denied_camera_completes_by_upload") {
        return;
    }
    let s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let p = web_process(&s, &token, "00000000191", "/").await;
    let photo = s.data.path().join("selfie.png");
    std::fs::write(&photo, images::png(800, 600)).unwrap();
    let b = Browser::start(360, Camera::Denied).await;
    b.goto(p["userRedirectUrl"].as_str().unwrap()).await;
    b.click("#start-camera").await;
    b.wait_for(
        "return document.getElementById('status').textContent.includes('Camera access was not allowed');",
        "the camera error",
    )
    .await;
    b.screenshot("360-6-camera-denied").await;
    b.send_keys("#upload", photo.to_str().unwrap()).await;
    b.wait_visible("#submit").await;
    b.click("#submit").await;
    b.wait_visible("#step-done h2").await;
    let read = read(&s, &token, p["id"].as_str().unwrap()).await;
    assert_eq!(read["result"], "PROCESS_RESULT_OK");
    // The selfie the integrator downloads is the (re-encoded) upload.
    let selfie: Value = s
        .http
        .get(s.url(&format!(
            "/client/v1/process/{}/selfie",
            p["id"].as_str().unwrap()
        )))
        .header("authorization", format!("Bearer {token}"))
        .send_json()
        .await;
    assert_eq!(selfie["contentType"], "image/jpeg");
}

#[tokio::test]
async fn a_magic_link_journey_completes_once_in_the_browser() {
    if !browser::available("a_magic_link_journey_completes_once_in_the_browser") {
        return;
    }
    let s = Server::start();
    let t = s.tenant();
    let back = s.url("/livez");
    let created: Value = s
        .http
        .post(s.url("/v2/magic-link"))
        .header("x-api-key", &t.api_key)
        .json(&json!({"external_id": "00000000272", "metadata": {"redirect_url": back}}))
        .send_json()
        .await;
    let link = created["data"]["magic_link_url"].as_str().unwrap();
    let b = Browser::start(360, Camera::Fake).await;
    b.goto(link).await;
    b.screenshot("360-7-magic-link-start").await;
    b.click("#start-camera").await;
    b.wait_for(
        "const v = document.getElementById('video'); return v.videoWidth > 0;",
        "the camera",
    )
    .await;
    b.click("#take").await;
    b.click("#submit").await;
    b.wait_for(
        &format!("return location.href === {back:?};"),
        "the redirect to redirect_url",
    )
    .await;
    let token = created["data"]["token"].as_str().unwrap();
    let result: Value = s
        .http
        .get(s.url(&format!("/v2/magic-link/{token}")))
        .header("x-api-key", &t.api_key)
        .send_json()
        .await;
    assert_eq!(result["data"]["result"]["status"], "not_verified");
    assert_eq!(
        result["data"]["response"]["unico"]["result"],
        "NOT_APPROVED"
    );
    assert_eq!(result["data"]["is_active"], false);
}

/// CONTRACT §17 in the browser: on the local engines, a photo without a face is refused with
/// what to do (the message in view and focused), the same file can be chosen again, and a photo
/// of the person's face completes the journey.
#[tokio::test]
async fn the_journey_refuses_a_faceless_photo_then_accepts_a_face() {
    let test = "the_journey_refuses_a_faceless_photo_then_accepts_a_face";
    if !browser::available(test) {
        return;
    }
    let Some(crate::engines::People { photos, ana, .. }) = crate::engines::people(test) else {
        return;
    };
    let s = Server::start();
    let t = s.tenant();
    s.admin(&["tenant", "set-engines", &t.id, "local"]);
    let token = s.token(&t).await;
    let p = web_process(&s, &token, crate::engines::ANA, "/").await;
    let file = |name: &str, img: &selo_engine::pixels::Rgb| {
        let path = s.data.path().join(name);
        std::fs::write(&path, selo_engine::testkit::jpeg(img, 92)).unwrap();
        path.to_str().unwrap().to_string()
    };
    let wall = file("wall.jpg", &photos.refused_by_each_gate()[0].1);
    let face = file("ana.jpg", &ana);
    for width in [360, 1280] {
        let p = if width == 360 {
            p.clone()
        } else {
            web_process(&s, &token, crate::engines::ANA, "/").await
        };
        let b = Browser::start(width, Camera::Denied).await;
        b.goto(p["userRedirectUrl"].as_str().unwrap()).await;
        b.wait_visible("#start-camera").await;
        b.send_keys("#upload", &wall).await;
        b.click("#submit").await;
        b.wait_for(
            "return document.getElementById('status').textContent.includes('We could not find a face');",
            "the refusal's advice",
        )
        .await;
        b.screenshot(&format!("{width}-8-refused")).await;
        assert_eq!(
            b.eval("return document.activeElement.id").await,
            json!("status"),
            "the message is focused"
        );
        assert_eq!(
            b.eval("const r = document.getElementById('status').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight;").await,
            json!(true),
            "the message is in view"
        );
        b.assert_accessible(&format!("a refused photo at {width} px"))
            .await;
        let open = read(&s, &token, p["id"].as_str().unwrap()).await;
        assert_eq!(
            open["state"], "PROCESS_STATE_CREATED",
            "another try is allowed"
        );
        // The same file again is a new choice.
        b.send_keys("#upload", &wall).await;
        b.wait_visible("#submit").await;
        b.click("#retake").await;
        b.send_keys("#upload", &face).await;
        b.click("#submit").await;
        b.wait_visible("#step-done h2").await;
        let done = read(&s, &token, p["id"].as_str().unwrap()).await;
        assert_eq!(done["result"], "PROCESS_RESULT_OK", "{done}");
        assert_eq!(
            done["authenticationInfo"]["authenticationResult"],
            "AUTHENTICATION_RESULT_INCONCLUSIVE",
            "nobody enrolled under the code: {done}"
        );
    }
}
