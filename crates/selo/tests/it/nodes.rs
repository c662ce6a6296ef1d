//! Several nodes as one platform (CONTRACT §18): two `selo serve` processes, each with its own
//! data directory, on one PostgreSQL database and one S3 bucket, started with the same
//! audience. Needs the machine's PostgreSQL and the S3 server `SELO_TEST_S3` names (SKIPPED
//! without them, a failure under `CI=true`).

use crate::support::receiver::Receiver;
use crate::support::{Opts, SendJson, Server, Tenant, blobs, postgres_database, skipped};
use selo_store::postgres::scratch::ScratchDatabase;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AUDIENCE: &str = "https://selo.test";

/// One node on `database` and `bucket` (`manual_clock`: with the manual clock).
fn node(database: &Arc<ScratchDatabase>, bucket: &(String, String), manual_clock: bool) -> Server {
    Server::start_with(Opts {
        postgres: Some(database.clone()),
        s3: Some(bucket.clone()),
        manual_clock,
        extra: vec!["--audience".into(), AUDIENCE.into()],
        ..Opts::default()
    })
}

/// A fresh database and bucket for several nodes, or `None` (SKIPPED) without PostgreSQL or
/// an S3 server.
fn platform(test: &str) -> Option<(Arc<ScratchDatabase>, (String, String))> {
    if blobs::s3_endpoint().is_none() {
        skipped(test, "no S3 server (set SELO_TEST_S3=http://HOST:PORT)");
        return None;
    }
    Some((Arc::new(postgres_database(test)?), blobs::new_bucket()))
}

/// Two nodes on one fresh database and bucket (`manual_clock`: both with the manual clock).
fn two_nodes(test: &str, manual_clock: bool) -> Option<(Server, Server)> {
    let (database, bucket) = platform(test)?;
    let a = node(&database, &bucket, manual_clock);
    let b = node(&database, &bucket, manual_clock);
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

    // Node B is retired (docs/operations.md): its tokens stop working on A within a second,
    // the one A already verified included; A's own go on.
    let node_b = std::fs::read_to_string(b.data.path().join("node-id")).unwrap();
    a.sql_execute("DELETE FROM node_keys WHERE node = ?1", &[Some(&node_b)]);
    within_a_second("a retired node's token", async || {
        bearer_get(&a, &t, &from_b, &path).await.status() == 401
    })
    .await;
    assert_eq!(bearer_get(&a, &t, &from_a, &path).await.status(), 200);
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
    let Some((database, bucket)) = platform(test) else {
        return;
    };
    let mut a = node(&database, &bucket, true);
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
        "4",
        "--timeout",
        "60",
    ]);
    let token = a.token(&t).await;
    let mut acknowledged = Vec::new();
    for _ in 0..6 {
        let created = a.api_process(&t, &token, "00000000191").await;
        acknowledged.push(created["id"].as_str().unwrap().to_string());
    }
    // A claims what its endpoint allows (4) and starts delivering; then B joins, and creates
    // go on against both nodes while A dies mid-delivery.
    let node_a = std::fs::read_to_string(a.data.path().join("node-id")).unwrap();
    let held_by_a = |by: &Server| {
        by.sql_text(
            "SELECT count(*) FROM webhook_events WHERE claimed_by = ?1 AND status = 'pending'",
            &[Some(&node_a)],
        )
        .unwrap()
        .parse::<i64>()
        .unwrap()
    };
    r.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(held_by_a(&a), 4);
    let b = node(&database, &bucket, true);
    let load = {
        let (b_http, b_url, token, key) = (
            b.http.clone(),
            b.url("/processes/v1"),
            token.clone(),
            t.api_key.clone(),
        );
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..6 {
                let created: Value = b_http
                    .post(&b_url)
                    .header("authorization", format!("Bearer {token}"))
                    .header("apikey", &key)
                    .json(&json!({"subject": {"code": "00000000191", "name": "Maria Silva"}, "imageBase64": crate::support::images::selfie()}))
                    .send_json()
                    .await;
                ids.push(created["id"].as_str().unwrap().to_string());
            }
            ids
        })
    };
    a.kill9();
    r.default_answer(200, Duration::ZERO);
    acknowledged.extend(load.await.unwrap());
    // Every acknowledged process is there, on the surviving node.
    for id in &acknowledged {
        let res = bearer_get(&b, &t, &token, &format!("/processes/v1/{id}")).await;
        assert_eq!(res.status(), 200, "{id}");
    }
    // Until the dead node's claims end (60 s on the shared clock) nobody takes them over …
    b.advance(30).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(held_by_a(&b), 4, "a live lease is not taken over");
    // … then B delivers them, with everything else.
    b.advance(31).await;
    for id in &acknowledged {
        b.delivered(&t, id).await;
    }
    assert_eq!(held_by_a(&b), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_rate_limit_holds_across_nodes_within_ten_percent() {
    let test = "a_tenants_rate_limit_holds_across_nodes_within_ten_percent";
    let Some((a, b)) = two_nodes(test, false) else {
        return;
    };
    let t = a.tenant();
    let token = a.token(&t).await;
    let rate = 20.0;
    a.admin(&["tenant", "set-rate-limit", &t.id, "20"]);
    // The limit reaches both nodes within a second; their buckets start full.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let seconds = 3.0;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut clients = Vec::new();
    for i in 0..8 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (http, url, token, key) = (
            node.http.clone(),
            node.url("/processes/v1?clientReference=rate"),
            token.clone(),
            t.api_key.clone(),
        );
        clients.push(tokio::spawn(async move {
            let (mut ok, mut limited) = (0u32, 0u32);
            while Instant::now() < deadline {
                let res = http
                    .get(&url)
                    .header("authorization", format!("Bearer {token}"))
                    .header("apikey", &key)
                    .send()
                    .await
                    .unwrap();
                match res.status().as_u16() {
                    200 => ok += 1,
                    429 => limited += 1,
                    other => panic!("unexpected {other}"),
                }
            }
            (ok, limited)
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for c in clients {
        let (o, l) = c.await.unwrap();
        ok += o;
        limited += l;
    }
    // CONTRACT §18: at most 1.1 × rate × window + burst succeed in all; and the nodes do not
    // starve the tenant either (at least half its rate).
    let most = 1.1 * rate * seconds + rate;
    println!("{ok} succeeded and {limited} were limited in {seconds} s at {rate}/s on two nodes");
    assert!(f64::from(ok) <= most, "{ok} > {most}");
    assert!(
        f64::from(ok) >= rate * seconds / 2.0,
        "{ok} is under half the rate"
    );
    assert!(limited > 0, "the load exceeded the limit");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_plan_made_on_one_node_hits_the_other_once_per_fault() {
    let test = "a_fault_plan_made_on_one_node_hits_the_other_once_per_fault";
    let Some((a, b)) = two_nodes(test, false) else {
        return;
    };
    let t = a.tenant();
    let token = a.token(&t).await;
    let id = fault_plan(&a, &token, json!(["503"]), true).await;
    // The global plan reaches node B within a second; its one fault is consumed once.
    let list = |node: &Server| list_request(node, &t, &token).send();
    within_a_second("the plan on node B", async || {
        list(&b).await.unwrap().status() == 503
    })
    .await;
    assert_eq!(
        list(&a).await.unwrap().status(),
        200,
        "its one fault is spent"
    );
    assert_eq!(list(&b).await.unwrap().status(), 200);
    // Either node shows what it consumed.
    let shown = shown_plan(&b, &token, &id).await;
    assert_eq!(shown["remaining"], 0, "{shown}");
    assert_eq!(shown["consumed"].as_array().unwrap().len(), 1);
}

/// Creates a fault plan through `node` on `GET /processes/v1` with `faults`: its id.
async fn fault_plan(node: &Server, token: &str, faults: Value, global: bool) -> String {
    let plan: Value = node
        .http
        .post(node.url("/sandbox/faults"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"match": {"method": "GET", "path": "/processes/v1"}, "faults": faults, "global": global}))
        .send_json()
        .await;
    plan["id"].as_str().unwrap().to_string()
}

/// The client-reference list request of `t` on `node` (what the plans match).
fn list_request(node: &Server, t: &Tenant, token: &str) -> reqwest::RequestBuilder {
    node.http
        .get(node.url("/processes/v1?clientReference=x"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
}

/// A fault plan as `node` shows it.
async fn shown_plan(node: &Server, token: &str, id: &str) -> Value {
    node.http
        .get(node.url(&format!("/sandbox/faults/{id}")))
        .header("authorization", format!("Bearer {token}"))
        .send_json()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_on_both_nodes_at_once_consume_each_fault_once() {
    let test = "requests_on_both_nodes_at_once_consume_each_fault_once";
    let Some((a, b)) = two_nodes(test, false) else {
        return;
    };
    let t = a.tenant();
    let token = a.token(&t).await;
    let id = fault_plan(&a, &token, json!(vec!["503"; 6]), false).await;
    // Twelve requests naming the plan, half on each node, all at once.
    let requests: Vec<_> = (0..12)
        .map(|i| {
            let node = if i % 2 == 0 { &a } else { &b };
            let request = list_request(node, &t, &token).header("selo-fault-plan", &id);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        6,
        "{statuses:?}"
    );
    let shown = shown_plan(&a, &token, &id).await;
    assert_eq!(shown["consumed"].as_array().unwrap().len(), 6, "{shown}");
    assert_eq!(shown["remaining"], 0);
}
