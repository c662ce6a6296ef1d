//! Retention (CONTRACT §9): decided from the clock when the request arrives.

use crate::support::SendJson;
use crate::support::Server;
use serde_json::{Value, json};

const DAY: i64 = 24 * 3600;

#[tokio::test]
async fn finished_processes_are_kept_ninety_days() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let token = s.token(&t).await;
    let created = s.api_process(&t, &token, "00000000191").await;
    let web = &s.web_process(&token, "00000000191").await;
    assert_eq!(s.complete_journey(web).await, 200);
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
    let stored = |id: &Value| s.blob(&format!("{}/{}.selfie", t.id, id.as_str().unwrap()));
    let both_kept = || stored(&created["id"]).is_some() && stored(&web["id"]).is_some();
    assert!(both_kept());
    // The sweeper deletes both contracts' selfies once the selfie window (8 hours) passed.
    s.advance(8 * 3600 - 1).await;
    assert!(both_kept());
    s.advance(1).await;
    assert!(
        stored(&web["id"]).is_none() && stored(&created["id"]).is_none(),
        "the selfies are deleted once their window passed"
    );
    s.advance(90 * DAY - 1 - 8 * 3600).await;
    // Until the process window ends the person's data are kept…
    let person_kept = |needle: &str| {
        let record = s
            .sql_text(
                "SELECT record FROM web_processes WHERE id = ?1",
                &[web["id"].as_str()],
            )
            .unwrap();
        record.contains(needle)
    };
    assert!(person_kept("00000000191"));
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
    // …then forgotten (the tombstone and its verdict stay).
    assert!(
        !person_kept("00000000191"),
        "the CPF is forgotten after the process window"
    );
    assert!(person_kept("\"capture\""), "the verdict stays");
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

#[tokio::test]
async fn retention_windows_are_per_tenant() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let set = s.admin(&[
        "tenant",
        "set-retention",
        &t.id,
        "--selfie",
        "600",
        "--evidence",
        "60",
    ]);
    assert_eq!(
        set,
        json!({"selfie": 600, "evidence": 60, "process": 90 * DAY})
    );
    for bad in [["--selfie", "59"], ["--process", "3600"]] {
        let out = s.admin_raw(&["tenant", "set-retention", &t.id, bad[0], bad[1]]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: a usage error");
    }
    let listed = s.admin(&["tenant", "list"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tenantId"] == t.id.as_str())
        .unwrap();
    assert_eq!(row["retention"]["selfie"], 600);
    let token = s.token(&t).await;
    let p = &s.web_process(&token, "00000000191").await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(s.complete_journey(p).await, 200);
    let get = |path: String, token: String| {
        s.http
            .get(s.url(&path))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    s.advance(60).await;
    let token = s.token(&t).await;
    let gone = get(
        format!("/client/v1/process/{id}/evidenceset"),
        token.clone(),
    )
    .await
    .unwrap();
    assert_eq!(gone.status(), 410);
    let body: Value = gone.json().await.unwrap();
    assert!(
        body["error"]["description"]
            .as_str()
            .unwrap()
            .contains("1 minutes"),
        "{body}"
    );
    assert_eq!(
        get(format!("/client/v1/process/{id}/selfie"), token.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    s.advance(540).await;
    assert_eq!(
        get(format!("/client/v1/process/{id}/selfie"), token)
            .await
            .unwrap()
            .status(),
        410
    );
    assert!(
        s.blob(&format!("{}/{id}.selfie", t.id)).is_none(),
        "the sweeper used the tenant's window"
    );
}

#[tokio::test]
async fn a_restart_deletes_blobs_no_record_owns() {
    let mut s = Server::start();
    let t = s.tenant();
    let token = s.token(&t).await;
    let created = s.api_process(&t, &token, "00000000191").await;
    let owned = format!("{}/{}.selfie", t.id, created["id"].as_str().unwrap());
    // What a crash between a blob's write and its commit leaves behind.
    let orphan = format!("{}/00000000-0000-4000-8000-000000000000.selfie", t.id);
    let half = format!("{}/00000000-0000-4000-8000-000000000001.tmp-abc", t.id);
    s.put_blob(&orphan, b"jpeg");
    s.put_blob(&half, b"jp");
    s.restart();
    assert!(
        s.blob(&owned).is_some(),
        "a committed process keeps its selfie"
    );
    if s.database.is_none() {
        assert!(
            s.blob(&orphan).is_none() && s.blob(&half).is_none(),
            "no image outlives its data"
        );
    } else {
        // On a shared store a young blob may be another node's create in flight: it is
        // left until it is older than the longest request.
        assert!(s.blob(&orphan).is_some() && s.blob(&half).is_some());
    }
    let token = s.token(&t).await;
    let res = s.get_process(&t, &token, &created["id"]).await;
    assert_eq!(res.status(), 200);
}

/// An unused Magic Link whose personal data were forgotten (its process window after its
/// creation ended) takes no capture: 410, not a capture judged against a tombstone.
#[tokio::test]
async fn a_link_past_its_window_takes_no_capture() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let link: Value = s
        .http
        .post(s.url("/v2/magic-link"))
        .header("x-api-key", &t.api_key)
        .json(&json!({"external_id": "00000000272"}))
        .send_json()
        .await;
    let token = link["data"]["token"].as_str().unwrap().to_string();
    s.advance(90 * DAY).await;
    let res = s
        .http
        .post(s.url(&format!("/journey/v1/link/{token}/capture")))
        .json(&json!({"imageBase64": crate::support::images::selfie()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    let record = s
        .sql_text(
            "SELECT record FROM magic_links WHERE token = ?1",
            &[Some(&token)],
        )
        .unwrap();
    assert!(
        !record.contains("00000000272"),
        "the external_id is forgotten: {record}"
    );
}
