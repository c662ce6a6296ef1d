//! Several nodes as one platform (CONTRACT §18): two `selo serve` processes, each with its own
//! data directory, on one PostgreSQL database and one S3 bucket, started with the same
//! audience. Needs the machine's PostgreSQL and the S3 server `SELO_TEST_S3` names (SKIPPED
//! without them, a failure under `CI=true`).

use crate::support::receiver::Receiver;
use crate::support::{Opts, SendJson, Server, Tenant, blobs, postgres_database, skipped};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AUDIENCE: &str = "https://selo.test";

/// Two nodes on one fresh database and bucket (`manual_clock`: both with the manual clock).
fn two_nodes(test: &str, manual_clock: bool) -> Option<(Server, Server)> {
    if blobs::s3_endpoint().is_none() {
        skipped(test, "no S3 server (set SELO_TEST_S3=http://HOST:PORT)");
        return None;
    }
    let database = Arc::new(postgres_database(test)?);
    let bucket = blobs::new_bucket();
    let node = || {
        Server::start_with(Opts {
            postgres: Some(database.clone()),
            s3: Some(bucket.clone()),
            manual_clock,
            extra: vec!["--audience".into(), AUDIENCE.into()],
            ..Opts::default()
        })
    };
    let a = node();
    let b = node();
    Some((a, b))
}

/// Waits up to a second for `check` to hold (what CONTRACT §18 allows a change to take to
/// reach every node).
async fn within_a_second(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within a second");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bearer_get(node: &Server, t: &Tenant, token: &str, path: &str) -> reqwest::Response {
    node.http
        .get(node.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_either_node_works_on_both_and_the_jwks_lists_both_keys() {
    let test = "a_token_from_either_node_works_on_both_and_the_jwks_lists_both_keys";
    let Some((a, b)) = two_nodes(test, false) else {
        return;
    };
    let t = a.tenant();
    let from_a = a.token(&t).await;
    let from_b = b.token(&t).await;
    let created = b.api_process(&t, &from_a, "00000000191").await;
    assert_eq!(created["status"], 3, "{created}");
    let path = format!("/processes/v1/{}", created["id"].as_str().unwrap());
    for (node, token) in [(&a, &from_b), (&b, &from_a), (&a, &from_a)] {
        let res = bearer_get(node, &t, token, &path).await;
        assert_eq!(res.status(), 200);
    }
    let kids = |jwks: Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    let on_a = kids(
        a.http
            .get(a.url("/.well-known/jwks.json"))
            .send_json()
            .await,
    );
    let on_b = kids(
        b.http
            .get(b.url("/.well-known/jwks.json"))
            .send_json()
            .await,
    );
    assert_eq!(on_a.len(), 2, "{on_a:?}");
    assert_eq!(on_a, on_b);
    // Each node signs with its own key; no private key is in the database.
    let signer = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(signer(&from_a), signer(&from_b));
    let stored = a
        .sql_text(
            "SELECT string_agg(encode(public_key, 'hex'), ',') FROM node_keys",
            &[],
        )
        .unwrap();
    assert_eq!(stored.split(',').count(), 2, "32-byte public keys only");
    assert!(stored.split(',').all(|k| k.len() == 64), "{stored}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journey_created_on_one_node_is_captured_served_and_delivered_from_the_other() {
    let test = "a_journey_created_on_one_node_is_captured_served_and_delivered_from_the_other";
    let Some((a, b)) = two_nodes(test, false) else {
        return;
    };
    let r = Receiver::start().await;
    let t = a.tenant();
    a.admin(&["webhook", "set", "--tenant", &t.id, "--url", &r.url]);
    let token = a.token(&t).await;
    let web = a.web_process(&token, "00000000191").await;
    // The journey's capture goes to node B.
    let id = web["id"].as_str().unwrap();
    assert_eq!(b.complete_journey(&web).await, 200);
    // Node A serves the selfie node B stored.
    let selfie = bearer_get(&a, &t, &token, &format!("/client/v1/process/{id}/selfie")).await;
    assert_eq!(selfie.status(), 200);
    // One delivery of the process's event, from whichever node claimed it.
    r.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(r.calls().len(), 1, "one delivery, not one per node");
}

#[tokio::test(flavor = "multi_thread")]
async fn replays_lockouts_idempotency_keys_and_disabled_accounts_hold_across_nodes() {
    let test = "replays_lockouts_idempotency_keys_and_disabled_accounts_hold_across_nodes";
    let Some((a, b)) = two_nodes(test, false) else {
        return;
    };
    let t = a.tenant();
    // An assertion accepted by A is a replay on B.
    let assertion = t.assertion(AUDIENCE);
    assert_eq!(a.exchange("sandbox", &assertion).await.0, 200);
    let (status, body) = b.exchange("sandbox", &assertion).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "1.2.7", "{body}");

    // An idempotency key used on A answers the same on B.
    let token = a.token(&t).await;
    let create = |node: &Server| {
        node.http
            .post(node.url("/processes/v1"))
            .header("authorization", format!("Bearer {token}"))
            .header("apikey", &t.api_key)
            .header("idempotency-key", "across-nodes")
            .json(&json!({"subject": {"code": "00000000191", "name": "Maria Silva"}, "imageBase64": crate::support::images::selfie()}))
            .send()
    };
    let first: Value = create(&a).await.unwrap().json().await.unwrap();
    let again: Value = create(&b).await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], again["id"]);

    // Bad signatures counted on both nodes lock the account everywhere (5 by default).
    let forged = {
        let other = b.tenant();
        Tenant {
            key_path: other.key_path,
            ..t.clone()
        }
    };
    for n in 0..5 {
        let node = if n % 2 == 0 { &a } else { &b };
        let (status, _) = node.exchange("sandbox", &forged.assertion(AUDIENCE)).await;
        assert_eq!(status, 401);
    }
    for node in [&a, &b] {
        let (status, body) = node.exchange("sandbox", &t.assertion(AUDIENCE)).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.to_string().contains("locked"), "{body}");
    }

    // An account disabled through `selo admin` stops working on both nodes within a second.
    let u = a.tenant();
    let token = b.token(&u).await;
    a.admin(&["account", "disable", "--tenant", &u.id, "acct"]);
    for node in [&a, &b] {
        within_a_second("a disabled account", async || {
            bearer_get(node, &u, &token, "/processes/v1?clientReference=x")
                .await
                .status()
                == 401
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_clock_is_one_clock_across_nodes() {
    let test = "the_sandbox_clock_is_one_clock_across_nodes";
    let Some((a, b)) = two_nodes(test, true) else {
        return;
    };
    let start = a.now().await.max(b.now().await);
    a.advance(3600).await;
    b.advance(60).await;
    for node in [&a, &b] {
        within_a_second("the other node's move", async || {
            node.now().await >= start + 3660
        })
        .await;
    }
    assert_eq!(a.now().await, b.now().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_under_load_loses_nothing_and_the_other_delivers_its_claimed_events() {
    let test = "a_node_killed_under_load_loses_nothing_and_the_other_delivers_its_claimed_events";
    let Some((mut a, b)) = two_nodes(test, true) else {
        return;
    };
    let r = Receiver::start().await;
    // The receiver holds every delivery for 3 s: node A's claims are in flight when it dies.
    r.default_answer(200, Duration::from_secs(3));
    let t = a.tenant();
    a.admin(&[
        "webhook",
        "set",
        "--tenant",
        &t.id,
        "--url",
        &r.url,
        "--concurrency",
        "8",
        "--timeout",
        "60",
    ]);
    let token = a.token(&t).await;
    let mut acknowledged = Vec::new();
    for _ in 0..8 {
        let created = a.api_process(&t, &token, "00000000191").await;
        acknowledged.push(created["id"].as_str().unwrap().to_string());
    }
    // Creates keep going on B while A dies mid-delivery.
    let node_a = std::fs::read_to_string(a.data.path().join("node-id")).unwrap();
    let held_by_a = || {
        b.sql_text(
            "SELECT count(*) FROM webhook_events WHERE claimed_by = ?1 AND status = 'pending'",
            &[Some(&node_a)],
        )
        .unwrap()
        .parse::<i64>()
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while held_by_a() == 0 {
        assert!(Instant::now() < deadline, "node A never claimed an event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill9();
    let orphaned = held_by_a();
    assert!(orphaned > 0);
    r.default_answer(200, Duration::ZERO);
    for _ in 0..4 {
        let created = b.api_process(&t, &token, "00000000191").await;
        acknowledged.push(created["id"].as_str().unwrap().to_string());
    }
    // Every acknowledged process is there, on the surviving node.
    for id in &acknowledged {
        let res = bearer_get(&b, &t, &token, &format!("/processes/v1/{id}")).await;
        assert_eq!(res.status(), 200, "{id}");
    }
    // Until the dead node's claims end (60 s on the shared clock) nobody delivers them; then
    // B does.
    b.advance(30).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(held_by_a(), orphaned, "a live lease is not taken over");
    b.advance(31).await;
    for id in &acknowledged {
        b.delivered(&t, id).await;
    }
}
