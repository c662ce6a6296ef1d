//! Retention (CONTRACT §9): decided from the clock when the request arrives.

use crate::support::{Server, images};
use serde_json::{Value, json};

const DAY: i64 = 24 * 3600;

#[tokio::test]
async fn finished_processes_are_kept_ninety_days() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let token = s.token(&t).await;
    let created: Value = s
        .http
        .post(s.url("/processes/v1"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .json(&json!({"subject": {"code": "00000000191", "name": "Maria Silva"}, "imageBase64": images::selfie()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let web: Value = s
        .http
        .post(s.url("/client/v1/process"))
        .header("authorization", format!("Bearer {token}"))
        .json(
            &json!({"callbackUri": "/", "flow": "id", "purpose": "biometryonboarding",
                      "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let web = &web["process"];
    let done = s
        .http
        .post(s.url(&format!(
            "/journey/v1/process/{}/capture",
            web["id"].as_str().unwrap()
        )))
        .json(&json!({"token": web["token"], "imageBase64": images::selfie()}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let api_path = format!("/processes/v1/{}", created["id"].as_str().unwrap());
    let web_path = format!("/client/v1/process/{}", web["id"].as_str().unwrap());
    let read = |token: String, path: String, apikey: bool| {
        let mut req = s
            .http
            .get(s.url(&path))
            .header("authorization", format!("Bearer {token}"));
        if apikey {
            req = req.header("apikey", t.api_key.clone());
        }
        req.send()
    };
    s.advance(90 * DAY - 1).await;
    let token = s.token(&t).await;
    assert_eq!(
        read(token.clone(), api_path.clone(), true)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        read(token.clone(), web_path.clone(), false)
            .await
            .unwrap()
            .status(),
        200
    );
    s.advance(1).await;
    let gone = read(token.clone(), api_path, true).await.unwrap();
    assert_eq!(
        gone.status(),
        410,
        "API Get Process answers 410 past retention"
    );
    let body: Value = gone.json().await.unwrap();
    assert!(
        body["error"]["description"]
            .as_str()
            .unwrap()
            .contains("90 days")
    );
    let web_gone = read(token, web_path, false).await.unwrap();
    assert_eq!(
        web_gone.status(),
        404,
        "Web & SDK Get Process answers 404 5"
    );
    let body: Value = web_gone.json().await.unwrap();
    assert_eq!(body["error"]["code"], "5");
}
