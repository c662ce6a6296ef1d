//! The token service, `POST /oauth2/token`: every row of CONTRACT §2, in order.

use crate::support::SendJson;
use crate::support::{Opts, Server, Tenant, sign_rs256, unix_now};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Asserts a 401 with this IDCloud code, returning the description.
fn rejected(got: (u16, Value), code: &str) -> String {
    let (status, body) = got;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(body["code"], code, "{body}");
    let d = body["error_description"].as_str().unwrap().to_string();
    assert!(
        d.starts_with(&format!("Authentication failed ({code}): ")),
        "{d}"
    );
    d
}

fn with(base: &Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut v = base.clone();
    f(v.as_object_mut().unwrap());
    v
}

async fn setup() -> (Server, Tenant, String) {
    with_tenant(Server::start())
}

/// [`setup`] on a server whose clock moves only when told.
fn setup_manual_clock() -> (Server, Tenant, String) {
    with_tenant(Server::start_manual_clock())
}

fn with_tenant(s: Server) -> (Server, Tenant, String) {
    let t = s.tenant();
    let aud = s.sandbox().audience.clone();
    (s, t, aud)
}

#[tokio::test]
async fn a_valid_assertion_gets_an_eddsa_access_token_published_in_jwks() {
    let (s, t, aud) = setup().await;
    assert_eq!(aud, s.sandbox().url, "audience defaults to the public URL");
    let res = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[("grant_type", GRANT), ("assertion", &t.assertion(&aud))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("request-id").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let jwks: Value = s
        .http
        .get(s.url("/.well-known/jwks.json"))
        .send_json()
        .await;
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
}

#[tokio::test]
async fn form_errors_are_400_oauth_errors() {
    let (s, t, aud) = setup().await;
    let a = t.assertion(&aud);
    for form in [
        vec![("assertion", a.as_str())],
        vec![("grant_type", GRANT)],
        vec![],
    ] {
        let (status, body) = s.token_form("sandbox", &form).await;
        assert_eq!(status, 400, "{form:?}");
        assert_eq!(body["error"], "invalid_request");
    }
    let (status, body) = s
        .token_form(
            "sandbox",
            &[("grant_type", "client_credentials"), ("assertion", &a)],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn structural_rows_in_table_order() {
    let (s, t, aud) = setup().await;
    let claims = t.claims(&aud);
    // Not a compact JWS; claims not JSON.
    rejected(s.exchange("sandbox", "not-a-jwt").await, "1.2.20");
    let not_json = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(b"not json"),
        URL_SAFE_NO_PAD.encode(b"sig")
    );
    rejected(s.exchange("sandbox", &not_json).await, "1.2.20");
    // alg other than RS256, including none and HS256.
    for alg in ["none", "HS256", "RS512"] {
        let a = sign_rs256(&t.key_path, &json!({"alg": alg}), &claims);
        let d = rejected(s.exchange("sandbox", &a).await, "1.2.5");
        assert!(d.contains("RS256"), "{d}");
    }
    // Extra claims (also wins over a missing scope: table order).
    for extra in ["sub", "jti", "nbf"] {
        let c = with(&claims, |m| {
            m.insert(extra.into(), json!("x"));
            m.remove("scope");
        });
        let d = rejected(s.exchange("sandbox", &t.assertion_with(&c)).await, "1.2.22");
        assert!(d.contains(extra), "{d}");
    }
    // alg wins over extra claims.
    let c = with(&claims, |m| {
        m.insert("sub".into(), json!("x"));
    });
    rejected(
        s.exchange(
            "sandbox",
            &sign_rs256(&t.key_path, &json!({"alg": "HS256"}), &c),
        )
        .await,
        "1.2.5",
    );
    // scope missing.
    let c = with(&claims, |m| {
        m.remove("scope");
    });
    rejected(s.exchange("sandbox", &t.assertion_with(&c)).await, "1.1.1");
    // iss, aud, iat, exp missing or of the wrong type.
    for claim in ["iss", "aud", "iat", "exp"] {
        let missing = with(&claims, |m| {
            m.remove(claim);
        });
        let d = rejected(
            s.exchange("sandbox", &t.assertion_with(&missing)).await,
            "1.2.20",
        );
        assert!(d.contains(claim), "{d}");
        let wrong = with(&claims, |m| {
            m.insert(claim.into(), json!(["wrong"]));
        });
        rejected(
            s.exchange("sandbox", &t.assertion_with(&wrong)).await,
            "1.2.20",
        );
    }
    // iss form, unknown tenant, unknown account.
    for iss in [
        "acct".to_string(),
        format!("acct@{}.example.com", t.id),
        "acct@00000000-0000-0000-0000-000000000000.iam.acesso.io".to_string(),
        format!("ghost@{}.iam.acesso.io", t.id),
    ] {
        let c = with(&claims, |m| {
            m.insert("iss".into(), json!(iss));
        });
        rejected(s.exchange("sandbox", &t.assertion_with(&c)).await, "1.0.1");
    }
}

#[tokio::test]
async fn disabled_accounts_get_1_2_11_before_any_signature_check() {
    let (s, t, aud) = setup().await;
    s.admin(&["account", "disable", "--tenant", &t.id, "acct"]);
    let d = rejected(s.exchange("sandbox", &t.assertion(&aud)).await, "1.2.11");
    assert!(d.contains("disabled"), "{d}");
    // Even with a wrong signature, disabled is reported first.
    let other = s.tenant();
    let forged = sign_rs256(&other.key_path, &json!({"alg": "RS256"}), &t.claims(&aud));
    rejected(s.exchange("sandbox", &forged).await, "1.2.11");
    s.admin(&["account", "enable", "--tenant", &t.id, "acct"]);
    assert_eq!(s.exchange("sandbox", &t.assertion(&aud)).await.0, 200);
}

#[tokio::test]
async fn wrong_key_is_1_2_21_and_five_failures_lock_for_fifteen_minutes() {
    let s = Server::start_manual_clock();
    let t = s.tenant();
    let other = s.tenant();
    let aud = s.sandbox().audience.clone();
    let now = s.now().await;
    let claims =
        |iat: i64| json!({"iss": t.iss, "aud": aud, "scope": "*", "iat": iat, "exp": iat + 3600});
    let forged = |iat: i64| sign_rs256(&other.key_path, &json!({"alg": "RS256"}), &claims(iat));
    // Signature is checked before claim values: a wrong key with a bad aud is still 1.2.21.
    let bad_aud =
        json!({"iss": t.iss, "aud": "http://elsewhere", "scope": "*", "iat": now, "exp": now + 60});
    let d = rejected(
        s.exchange(
            "sandbox",
            &sign_rs256(&other.key_path, &json!({"alg": "RS256"}), &bad_aud),
        )
        .await,
        "1.2.21",
    );
    assert!(d.contains(&t.iss), "{d}");
    for i in 1..4 {
        rejected(s.exchange("sandbox", &forged(now + i)).await, "1.2.21");
    }
    let d = rejected(s.exchange("sandbox", &forged(now + 4)).await, "1.2.21");
    assert!(
        d.contains("locked"),
        "the fifth failure says it locked the account: {d}"
    );
    // Locked: even the right key gets 1.2.18, and those requests are not counted.
    rejected(
        s.exchange("sandbox", &t.assertion_with(&claims(now + 5)))
            .await,
        "1.2.18",
    );
    s.advance(899).await;
    rejected(s.exchange("sandbox", &forged(now + 6)).await, "1.2.18");
    s.advance(1).await;
    let (status, body) = s
        .exchange("sandbox", &t.assertion_with(&claims(now + 900)))
        .await;
    assert_eq!(status, 200, "the lock ends at a fixed time: {body}");
    // Failures outside the 15-minute window do not add up.
    for i in 0..4 {
        rejected(
            s.exchange("sandbox", &forged(now + 901 + i)).await,
            "1.2.21",
        );
    }
    s.advance(901).await;
    let later = s.now().await;
    rejected(s.exchange("sandbox", &forged(later)).await, "1.2.21");
    assert_eq!(
        s.exchange("sandbox", &t.assertion_with(&claims(later + 1)))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn lockout_thresholds_are_serve_options() {
    let s = Server::start_with_flags(&["--lockout-attempts", "2"]);
    let t = s.tenant();
    let other = s.tenant();
    let aud = s.sandbox().audience.clone();
    for _ in 0..2 {
        let a = sign_rs256(&other.key_path, &json!({"alg": "RS256"}), &t.claims(&aud));
        rejected(s.exchange("sandbox", &a).await, "1.2.21");
    }
    rejected(s.exchange("sandbox", &t.assertion(&aud)).await, "1.2.18");
}

#[tokio::test]
async fn revoked_keys_get_1_2_6_and_a_new_key_works() {
    let (s, t, aud) = setup().await;
    let second = s.add_key(&t, "second");
    assert_ne!(second.key_id, t.key_id);
    s.revoke_key(&t);
    let d = rejected(s.exchange("sandbox", &t.assertion(&aud)).await, "1.2.6");
    assert!(d.contains("revoked"), "{d}");
    assert_eq!(s.exchange("sandbox", &second.assertion(&aud)).await.0, 200);
    // A key of another account is still 1.2.21, not 1.2.6.
    let other = s.tenant();
    let a = sign_rs256(&other.key_path, &json!({"alg": "RS256"}), &t.claims(&aud));
    rejected(s.exchange("sandbox", &a).await, "1.2.21");
}

#[tokio::test]
async fn aud_must_match_exactly_and_another_environments_aud_says_mixed_credentials() {
    let s = Server::start_with(Opts {
        production: true,
        ..Opts::default()
    });
    let t = s.tenant();
    let aud = s.sandbox().audience.clone();
    let d = rejected(
        s.exchange("sandbox", &t.assertion(&format!("{aud}/")))
            .await,
        "1.2.5",
    );
    assert!(d.contains(&aud), "names the expected value: {d}");
    rejected(
        s.exchange("sandbox", &t.assertion("https://identityhomolog.acesso.io"))
            .await,
        "1.2.5",
    );
    let prod_aud = s.env("production").audience.clone();
    let d = rejected(
        s.exchange("sandbox", &t.assertion(&prod_aud)).await,
        "1.2.5",
    );
    assert!(
        d.contains("mixed credentials") && d.contains("production"),
        "{d}"
    );
    // A sandbox tenant's assertion presented to production: mixed credentials (1.0.1).
    let d = rejected(
        s.exchange("production", &t.assertion(&prod_aud)).await,
        "1.0.1",
    );
    assert!(
        d.contains("mixed credentials") && d.contains("sandbox") && d.contains("production"),
        "{d}"
    );
    // The production tenant works on production.
    let p = s.tenant_in("production");
    assert_eq!(
        s.exchange("production", &p.assertion(&prod_aud)).await.0,
        200
    );
}

#[tokio::test]
async fn audience_can_be_set_to_an_idcloud_value() {
    let s = Server::start_with_flags(&["--audience", "https://identityhomolog.acesso.io"]);
    let t = s.tenant();
    assert_eq!(s.sandbox().audience, "https://identityhomolog.acesso.io");
    assert_eq!(
        s.exchange("sandbox", &t.assertion("https://identityhomolog.acesso.io"))
            .await
            .0,
        200
    );
    rejected(
        s.exchange("sandbox", &t.assertion(&s.sandbox().url)).await,
        "1.2.5",
    );
}

#[tokio::test]
async fn time_rules_exp_lifetime_and_iat() {
    let (s, t, aud) = setup().await;
    let now = unix_now();
    let c = |iat: i64, exp: i64| json!({"iss": t.iss, "aud": aud, "scope": "*", "iat": iat, "exp": exp});
    let d = rejected(
        s.exchange("sandbox", &t.assertion_with(&c(now - 200, now - 100)))
            .await,
        "1.2.4",
    );
    assert!(d.contains("exp"), "{d}");
    // Within the 60 s leeway.
    assert_eq!(
        s.exchange("sandbox", &t.assertion_with(&c(now - 100, now - 30)))
            .await
            .0,
        200
    );
    rejected(
        s.exchange("sandbox", &t.assertion_with(&c(now, now + 3601)))
            .await,
        "1.2.5",
    );
    assert_eq!(
        s.exchange("sandbox", &t.assertion_with(&c(now + 1, now + 3601)))
            .await
            .0,
        200
    );
    let d = rejected(
        s.exchange("sandbox", &t.assertion_with(&c(now + 120, now + 600)))
            .await,
        "1.2.5",
    );
    assert!(d.contains("future"), "{d}");
    // exp wins over lifetime (table order).
    rejected(
        s.exchange("sandbox", &t.assertion_with(&c(now - 9000, now - 100)))
            .await,
        "1.2.4",
    );
}

/// An assertion used within its `exp` leeway stays a replay (1.2.7) up to the last second it
/// could be accepted, and is expired (1.2.4) after: its record lives exactly that long.
#[tokio::test]
async fn a_replay_within_the_exp_leeway_is_1_2_7_until_the_leeway_ends() {
    let (s, t, aud) = setup_manual_clock();
    let now = s.now().await;
    let a = t.assertion_with(
        &json!({"iss": t.iss, "aud": aud, "scope": "*", "iat": now - 100, "exp": now + 10}),
    );
    s.advance(40).await; // 30 s past exp
    assert_eq!(s.exchange("sandbox", &a).await.0, 200);
    rejected(s.exchange("sandbox", &a).await, "1.2.7");
    s.advance(30).await; // exp + 60: the last second it is accepted
    rejected(s.exchange("sandbox", &a).await, "1.2.7");
    s.advance(1).await;
    rejected(s.exchange("sandbox", &a).await, "1.2.4");
}

#[tokio::test]
async fn a_replayed_assertion_is_1_2_7_even_after_a_restart() {
    // A fixed audience: the restarted server listens on another port.
    let mut s = Server::start_with_flags(&["--audience", "https://selo.test"]);
    let t = s.tenant();
    let aud = "https://selo.test".to_string();
    let a = t.assertion(&aud);
    assert_eq!(s.exchange("sandbox", &a).await.0, 200);
    rejected(s.exchange("sandbox", &a).await, "1.2.7");
    // Replay (1.2.7) comes before the IP allow-list (1.3.1) in the table.
    s.admin(&[
        "account",
        "set-access",
        "--tenant",
        &t.id,
        "acct",
        "--allow-ip",
        "10.0.0.0/8",
    ]);
    rejected(s.exchange("sandbox", &a).await, "1.2.7");
    s.admin(&["account", "set-access", "--tenant", &t.id, "acct"]);
    s.restart();
    rejected(s.exchange("sandbox", &a).await, "1.2.7");
    // A rejected assertion is not recorded: fixing the account makes the same one work.
    let b = t.assertion(&aud);
    s.admin(&["account", "disable", "--tenant", &t.id, "acct"]);
    rejected(s.exchange("sandbox", &b).await, "1.2.11");
    s.admin(&["account", "enable", "--tenant", &t.id, "acct"]);
    assert_eq!(s.exchange("sandbox", &b).await.0, 200);
}

#[tokio::test]
async fn ip_allow_list_is_checked_against_the_peer_address() {
    let (s, t, aud) = setup().await;
    s.admin(&[
        "account",
        "set-access",
        "--tenant",
        &t.id,
        "acct",
        "--allow-ip",
        "10.0.0.0/8",
    ]);
    let d = rejected(s.exchange("sandbox", &t.assertion(&aud)).await, "1.3.1");
    assert!(d.contains("127.0.0.1") && d.contains("10.0.0.0/8"), "{d}");
    // X-Forwarded-For is not trusted.
    let res = s
        .http
        .post(s.url("/oauth2/token"))
        .header("x-forwarded-for", "10.1.2.3")
        .form(&[("grant_type", GRANT), ("assertion", &t.assertion(&aud))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    s.admin(&[
        "account",
        "set-access",
        "--tenant",
        &t.id,
        "acct",
        "--allow-ip",
        "10.0.0.0/8",
        "--allow-ip",
        "127.0.0.1",
    ]);
    assert_eq!(s.exchange("sandbox", &t.assertion(&aud)).await.0, 200);
    s.admin(&["account", "set-access", "--tenant", &t.id, "acct"]);
    assert_eq!(s.exchange("sandbox", &t.assertion(&aud)).await.0, 200);
}

#[tokio::test]
async fn allowed_hours_are_a_daily_utc_window() {
    let (s, t, aud) = setup_manual_clock();
    let now = s.now().await;
    let minute = |offset: i64| {
        let m = ((now + offset).rem_euclid(86_400)) / 60;
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    let claims =
        |iat: i64| json!({"iss": t.iss, "aud": aud, "scope": "*", "iat": iat, "exp": iat + 3600});
    // A window that starts in an hour: outside.
    let window = format!("{}-{}", minute(3600), minute(7200));
    s.admin(&[
        "account",
        "set-access",
        "--tenant",
        &t.id,
        "acct",
        "--allowed-hours",
        &window,
    ]);
    let d = rejected(
        s.exchange("sandbox", &t.assertion_with(&claims(now))).await,
        "1.3.2",
    );
    assert!(d.contains(&window), "{d}");
    // Move the clock into the window (start included).
    s.advance(3600).await;
    assert_eq!(
        s.exchange("sandbox", &t.assertion_with(&claims(now + 3600)))
            .await
            .0,
        200
    );
    // End excluded.
    s.advance(3600).await;
    rejected(
        s.exchange("sandbox", &t.assertion_with(&claims(now + 7200)))
            .await,
        "1.3.2",
    );
}

#[tokio::test]
async fn a_replay_cannot_hide_behind_another_encoding_or_extreme_times() {
    let (s, t, aud) = setup().await;
    let a = t.assertion(&aud);
    assert_eq!(s.exchange("sandbox", &a).await.0, 200);
    // Padding is not part of a compact JWS: a padded copy is undecodable, not a new assertion.
    for padded in [format!("{a}="), format!("{a}==")] {
        rejected(s.exchange("sandbox", &padded).await, "1.2.20");
    }
    rejected(s.exchange("sandbox", &a).await, "1.2.7");
    // Times that would overflow are refused, not wrapped.
    let c = json!({"iss": t.iss, "aud": aud, "scope": "*", "iat": -1_000_000_000_000_000_000i64, "exp": i64::MAX});
    rejected(s.exchange("sandbox", &t.assertion_with(&c)).await, "1.2.5");
}

/// An access restriction stored in a form the server cannot read denies instead of allowing
/// (a damaged or hand-edited database must not open an account to everyone).
#[tokio::test]
async fn unreadable_access_restrictions_fail_closed() {
    let (s, t, aud) = setup().await;
    let set = |ips: &str, hours: Option<&str>| {
        s.sql_execute(
            "UPDATE accounts SET allow_ips = ?1, allowed_hours = ?2 WHERE tenant_id = ?3",
            &[Some(ips), hours, Some(&t.id)],
        );
    };
    // The peer is allowed by the entry that parses; the one that does not still denies.
    set("127.0.0.1,not-a-network", None);
    let d = rejected(s.exchange("sandbox", &t.assertion(&aud)).await, "1.3.1");
    assert!(
        d.contains("cannot be read") && d.contains("set-access"),
        "{d}"
    );
    set("", Some("25:00-99:99"));
    let d = rejected(s.exchange("sandbox", &t.assertion(&aud)).await, "1.3.2");
    assert!(
        d.contains("cannot be read") && d.contains("set-access"),
        "{d}"
    );
    set("127.0.0.1", None);
    assert_eq!(s.exchange("sandbox", &t.assertion(&aud)).await.0, 200);
}

/// CONTRACT §2: every failure of the token service uses the OAuth2 error body, the 413 and 405
/// the framework around it answers included.
#[tokio::test]
async fn every_token_service_failure_uses_the_oauth2_error_body() {
    let (s, _, _) = setup().await;
    let big = "a".repeat(2 * 1024 * 1024 + 1);
    let res = s
        .http
        .post(s.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert_eq!(body["code"], "41301", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );
    let res = s.http.get(s.url("/oauth2/token")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body.get("code").is_some() && body["error_description"].is_string(),
        "{body}"
    );
}

/// CONTRACT §2: the token service's own failures use the OAuth2 names (RFC 6749 §5.2 and its
/// registry): `server_error` for a 500, `temporarily_unavailable` for a 503.
#[tokio::test]
async fn token_service_failures_use_the_oauth2_error_names() {
    let (s, t, aud) = setup().await;
    let token = s.token(&t).await;
    let res = s
        .http
        .post(s.url("/sandbox/faults"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"match": {"method": "POST", "path": "/oauth2/token"}, "faults": ["500", "503"]}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let plan: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{plan}");
    for expected in ["server_error", "temporarily_unavailable"] {
        let res = s
            .http
            .post(s.url("/oauth2/token"))
            .header("selo-fault-plan", plan["id"].as_str().unwrap())
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &t.assertion(&aud)),
            ])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_server_error());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], expected, "{body}");
    }
}
