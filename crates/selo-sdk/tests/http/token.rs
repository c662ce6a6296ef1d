//! Token service: the assertion, the cache, the refresh margin, single-flight, failures.

use crate::support::*;
use selo_sdk::{Error, TokenStore as _};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mount_process_ok(rig: &Rig) {
    Mock::given(method("GET"))
        .and(path_regex("^/processes/v1/[^/]+$"))
        .respond_with(ok_process("p-1"))
        .mount(&rig.server)
        .await;
}

#[tokio::test]
async fn token_request_is_the_jwt_bearer_form_with_exactly_five_claims() {
    let rig = Rig::new().await;
    let token = rig.client().token().await.unwrap();
    assert_eq!(token.access_token, "tok-1");
    assert_eq!(token.expires_in, 3600);

    let reqs = rig.token_requests().await;
    assert_eq!(reqs.len(), 1);
    let form = url_pairs(&reqs[0].body);
    assert_eq!(
        form[0],
        (
            "grant_type".to_string(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string()
        )
    );
    assert_eq!(form[1].0, "assertion");
    assert_eq!(
        header(&reqs[0], "content-type"),
        Some("application/x-www-form-urlencoded")
    );

    let (_, claims) = assertion_of(&reqs[0]);
    let obj = claims.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["aud", "exp", "iat", "iss", "scope"]);
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["scope"], "*");
    // Default audience: the base URL without a trailing slash.
    assert_eq!(claims["aud"], rig.server.uri().trim_end_matches('/'));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    assert_eq!(iat, 1_767_225_600, "iat comes from the injected clock");
}

#[tokio::test]
async fn cached_token_is_reused_across_calls() {
    let rig = Rig::new().await;
    mount_process_ok(&rig).await;
    let client = rig.client();
    for _ in 0..3 {
        client.get_process("p-1").await.unwrap();
    }
    // Half an hour later the token (1 h) still has more than 10 minutes: no refresh.
    rig.time.advance(Duration::from_secs(1800));
    client.get_process("p-1").await.unwrap();
    assert_eq!(rig.token_requests().await.len(), 1);
    // The cached token reports what it has left, not what it was issued with.
    assert_eq!(client.token().await.unwrap().expires_in, 1800);

    let gets = rig.requests("GET", "/processes/v1/p-1").await;
    assert_eq!(gets.len(), 4);
    for r in &gets {
        assert_eq!(header(r, "authorization"), Some("Bearer tok-1"));
        assert_eq!(header(r, "apikey"), Some(API_KEY));
    }
}

#[tokio::test]
async fn refreshes_when_less_than_ten_minutes_remain() {
    // A 500 s token already has less than 10 minutes left: the next call refreshes.
    let rig = Rig::with_token(500, None).await;
    mount_process_ok(&rig).await;
    let client = rig.client();
    client.get_process("p-1").await.unwrap();
    client.get_process("p-1").await.unwrap();
    let tokens = rig.token_requests().await;
    assert_eq!(tokens.len(), 2);
    let gets = rig.requests("GET", "/processes/v1/p-1").await;
    assert_eq!(header(&gets[0], "authorization"), Some("Bearer tok-1"));
    assert_eq!(header(&gets[1], "authorization"), Some("Bearer tok-2"));

    // Both minted in the same (virtual) second, yet the assertions differ (no 1.2.7 replay):
    // the second one's iat is one second later.
    let (a1, c1) = assertion_of(&tokens[0]);
    let (a2, c2) = assertion_of(&tokens[1]);
    assert_ne!(a1, a2);
    assert_eq!(c2["iat"].as_u64().unwrap(), c1["iat"].as_u64().unwrap() + 1);
    assert_eq!(
        c2["exp"].as_u64().unwrap(),
        c2["iat"].as_u64().unwrap() + 3600
    );
}

#[tokio::test]
async fn refresh_happens_exactly_at_the_ten_minute_margin() {
    let rig = Rig::new().await;
    mount_process_ok(&rig).await;
    let client = rig.client();
    client.get_process("p-1").await.unwrap();
    rig.time.advance(Duration::from_secs(3000)); // 600 s left: still fresh
    client.get_process("p-1").await.unwrap();
    assert_eq!(rig.token_requests().await.len(), 1);
    rig.time.advance(Duration::from_secs(1)); // 599 s left
    client.get_process("p-1").await.unwrap();
    assert_eq!(rig.token_requests().await.len(), 2);
    let (_, claims) = assertion_of(&rig.token_requests().await[1]);
    assert_eq!(claims["iat"].as_u64().unwrap(), 1_767_225_600 + 3001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_refresh() {
    let server = MockServer::start().await;
    // A slow token endpoint, so that every caller arrives while the refresh is in flight.
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}),
                )
                .set_delay(Duration::from_millis(80)),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/processes/v1/[^/]+$"))
        .respond_with(ok_process("p-1"))
        .mount(&server)
        .await;
    let time = selo_sdk::time::VirtualTime::default();
    let client = builder(&server, &time).build().unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let c = client.clone();
        set.spawn(async move { c.get_process("p-1").await });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    let reqs = server.received_requests().await.unwrap();
    let tokens = reqs
        .iter()
        .filter(|r| r.url.path() == "/oauth2/token")
        .count();
    let gets = reqs.iter().filter(|r| r.method.as_str() == "GET").count();
    assert_eq!(tokens, 1, "one refresh for 10 concurrent callers");
    assert_eq!(gets, 10);
}

#[tokio::test]
async fn token_rejection_is_typed_with_the_idcloud_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("request-id", "tok-req-9")
                .set_body_json(json!({
                    "error": "invalid_grant",
                    "error_description": "Authentication failed (1.2.21): the signature does not verify under any key of demo@t",
                    "code": "1.2.21"
                })),
        )
        .mount(&server)
        .await;
    let time = selo_sdk::time::VirtualTime::default();
    let client = builder(&server, &time).build().unwrap();
    let err = client.get_process("p-1").await.unwrap_err();
    let Error::Token(t) = &err else {
        panic!("expected a token error, got {err:?}")
    };
    assert_eq!(t.status, 401);
    assert_eq!(t.code.as_deref(), Some("1.2.21"));
    assert_eq!(t.error, "invalid_grant");
    assert!(t.description.contains("does not verify"));
    assert_eq!(err.request_id(), Some("tok-req-9"));
    // Not retried, and no resource call was made.
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(time.sleeps().is_empty());
}

#[tokio::test]
async fn token_code_is_parsed_from_the_description_when_the_field_is_absent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Authentication failed (1.2.5): aud must be http://x"
        })))
        .mount(&server)
        .await;
    let time = selo_sdk::time::VirtualTime::default();
    let err = builder(&server, &time)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    let Error::Token(t) = err else {
        panic!("expected a token error")
    };
    assert_eq!(t.code.as_deref(), Some("1.2.5"));
}

#[tokio::test]
async fn token_endpoint_5xx_is_retried_with_a_new_assertion() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(Script::new([
            status(503),
            ResponseTemplate::new(200).set_body_json(
                json!({"access_token": "tok-x", "token_type": "Bearer", "expires_in": 3600}),
            ),
        ]))
        .mount(&server)
        .await;
    let time = selo_sdk::time::VirtualTime::default();
    let client = builder(&server, &time).jitter(false).build().unwrap();
    assert_eq!(client.access_token().await.unwrap(), "tok-x");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    let (a1, _) = assertion_of(&reqs[0]);
    let (a2, _) = assertion_of(&reqs[1]);
    assert_ne!(a1, a2, "a retried token request never replays an assertion");
    assert_eq!(time.sleeps(), vec![secs(1)]);
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error_after_five_attempts() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let creds = selo_sdk::Credentials::from_rsa_pem(
        private_key_pem(),
        ISS,
        format!("http://127.0.0.1:{port}"),
    )
    .unwrap()
    .with_api_key(API_KEY);
    let time = selo_sdk::time::VirtualTime::default();
    let client = selo_sdk::Client::builder(creds)
        .sleeper(time.clone())
        .clock(time.clone())
        .jitter(false)
        .build()
        .unwrap();
    let err = client.get_process("p-1").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 5, .. }),
        "{err:?}"
    );
    assert_eq!(time.sleeps(), vec![secs(1), secs(2), secs(4), secs(8)]);
}

#[tokio::test]
async fn a_replayed_assertion_is_signed_again_with_the_next_iat() {
    // Another process signed with the same key in the same second: the server says 1.2.7.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(Script::new([
            ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_grant",
                "error_description": "Authentication failed (1.2.7): this assertion was already used",
                "code": "1.2.7"
            })),
            ResponseTemplate::new(200).set_body_json(
                json!({"access_token": "tok-r", "token_type": "Bearer", "expires_in": 3600}),
            ),
        ]))
        .mount(&server)
        .await;
    let time = selo_sdk::time::VirtualTime::default();
    let client = builder(&server, &time).build().unwrap();
    assert_eq!(client.access_token().await.unwrap(), "tok-r");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    let (_, c1) = assertion_of(&reqs[0]);
    let (_, c2) = assertion_of(&reqs[1]);
    assert_eq!(c2["iat"].as_u64().unwrap(), c1["iat"].as_u64().unwrap() + 1);
    assert!(time.sleeps().is_empty());
}

#[tokio::test]
async fn replays_are_retried_a_bounded_number_of_times() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Authentication failed (1.2.7): this assertion was already used",
            "code": "1.2.7"
        })))
        .mount(&server)
        .await;
    let time = selo_sdk::time::VirtualTime::default();
    let err = builder(&server, &time)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Token(t) if t.code.as_deref() == Some("1.2.7")));
    assert_eq!(server.received_requests().await.unwrap().len(), 11);
}

/// A [`selo_sdk::TokenStore`] in memory, shared with the test.
#[derive(Clone, Default)]
struct MemoryStore(
    std::sync::Arc<
        std::sync::Mutex<
            Option<(
                selo_sdk::selo_wire::token::TokenResponse,
                std::time::SystemTime,
            )>,
        >,
    >,
);

impl selo_sdk::TokenStore for MemoryStore {
    fn load(
        &self,
    ) -> Option<(
        selo_sdk::selo_wire::token::TokenResponse,
        std::time::SystemTime,
    )> {
        self.0.lock().unwrap().clone()
    }
    fn save(
        &self,
        token: &selo_sdk::selo_wire::token::TokenResponse,
        expires_at: std::time::SystemTime,
    ) {
        *self.0.lock().unwrap() = Some((token.clone(), expires_at));
    }
}

#[tokio::test]
async fn a_saved_token_is_used_until_its_margin_then_replaced_and_saved() {
    use selo_sdk::time::Clock as _;
    let rig = Rig::new().await;
    mount_process_ok(&rig).await;
    let store = MemoryStore::default();
    let saved: selo_sdk::selo_wire::token::TokenResponse = serde_json::from_value(
        json!({"access_token": "tok-saved", "token_type": "Bearer", "expires_in": 3600}),
    )
    .unwrap();
    store.save(&saved, rig.time.now() + Duration::from_secs(3600));

    let client = rig.builder().token_store(store.clone()).build().unwrap();
    client.get_process("p-1").await.unwrap();
    assert_eq!(
        rig.token_requests().await.len(),
        0,
        "the saved token is used"
    );
    let gets = rig.requests("GET", "/processes/v1/p-1").await;
    assert_eq!(header(&gets[0], "authorization"), Some("Bearer tok-saved"));

    // Inside the refresh margin: a new token is fetched, used and saved.
    rig.time.advance(Duration::from_secs(3001));
    let fresh = rig.builder().token_store(store.clone()).build().unwrap();
    fresh.get_process("p-1").await.unwrap();
    assert_eq!(rig.token_requests().await.len(), 1);
    let (kept, expires_at) = store.load().unwrap();
    assert_eq!(kept.access_token, "tok-1");
    assert_eq!(expires_at, rig.time.now() + Duration::from_secs(3600));
}
