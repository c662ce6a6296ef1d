//! The store contract: what every `Store` implementation must do, one test per behaviour, each
//! on a fresh store. Each backend runs the same behaviours (`contract_tests!`: SQLite here; the
//! PostgreSQL backend adds its own line), and its own tests for what only it has.

use selo_domain::magic_link::{LinkCapture, MagicLinkRecord};
use selo_domain::process::{ProcessKind, ProcessRecord};
use selo_domain::scenario::Scenario;
use selo_domain::verification::CaptureDecision;
use selo_domain::web::{WebCapture, WebPerson, WebProcessRecord};
use selo_store::blobs::{BlobKey, BlobOwner};
use selo_store::postgres::scratch::{DEFAULT_SERVER, ScratchDatabase};
use selo_store::postgres::{FaceIndex, PostgresStore};
use selo_store::sqlite::{Durability, SqliteStore};
use selo_store::transfer::{Cell, TABLES, Table};
use selo_store::{
    Account, AccountKey, ApiKey, AssertionUse, AssertionUseOutcome, AttemptOutcome, Configuration,
    EventDraft, IdempotencyBegin, IdempotencyCompletion, IdempotencyScope, Journeys, LockoutPolicy,
    Processes, PublishedKey, ReplayKey, RetentionCutoffs, Store, StoreError, StoreResult,
    StoredResponse, Tenant, WebhookAttempt, WebhookConfig, WebhookQueue,
};

/// Records an assertion use and waits for its group commit.
fn record(
    store: &dyn Store,
    hash: [u8; 32],
    expires_at: i64,
    now: i64,
    epoch: u64,
) -> AssertionUseOutcome {
    let (tx, rx) = std::sync::mpsc::channel();
    store.record_assertion_use(
        AssertionUse {
            key: ReplayKey { hash, expires_at },
            now,
            epoch,
        },
        Box::new(move |r| tx.send(r).unwrap()),
    );
    rx.recv().unwrap().unwrap()
}

/// Whether the record (`hash`, `expires_at`) stops a replay at `now`.
fn used(store: &dyn Store, hash: [u8; 32], expires_at: i64, now: i64) -> bool {
    store
        .assertion_used(&ReplayKey { hash, expires_at }, now)
        .unwrap()
}

/// Whether a use at the current epoch was fresh.
fn mark(store: &dyn Store, hash: &[u8; 32], expires_at: i64, now: i64) -> bool {
    let epoch = store.config_epoch().unwrap();
    record(store, *hash, expires_at, now, epoch) == AssertionUseOutcome::Fresh
}

fn tenant(id: &str, env: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: format!("Tenant {id}"),
        environment: env.into(),
        rate_limit: None,
        created_at: 1,
        flows: None,
        permissions: None,
        retention: Default::default(),
        engines: Default::default(),
    }
}

fn account(tenant_id: &str, name: &str) -> (Account, AccountKey) {
    (
        Account {
            tenant_id: tenant_id.into(),
            name: name.into(),
            enabled: true,
            allow_ips: vec!["10.0.0.0/8".into()],
            allowed_hours: None,
            locked_until: None,
            created_at: 2,
        },
        AccountKey {
            id: format!("{tenant_id}-{name}-k1"),
            tenant_id: tenant_id.into(),
            account: name.into(),
            public_key_pem: "PEM".into(),
            revoked_at: None,
            created_at: 2,
        },
    )
}

fn process(id: &str, tenant_id: &str) -> ProcessRecord {
    ProcessRecord {
        id: id.into(),
        tenant_id: tenant_id.into(),
        created_at: 10,
        kind: ProcessKind::Onboarding {
            scenario: Scenario::Divergence,
        },
        capabilities: selo_domain::capability::Capabilities::from_stored("identity"),
        client_reference: Some("ref-1".into()),
        completes_at: None,
        image_type: "image/jpeg".into(),
        analysis: None,
    }
}

fn web_process(id: &str, tenant_id: &str) -> WebProcessRecord {
    WebProcessRecord {
        id: id.into(),
        tenant_id: tenant_id.into(),
        created_at: 1,
        expires_at: 100,
        flow: "id".into(),
        purpose: "biometryonboarding".into(),
        callback_uri: "/".into(),
        person: WebPerson {
            dui_type: "DUI_TYPE_BR_CPF".into(),
            dui_value: "00000000191".into(),
            friendly_name: None,
            email: None,
            phone: None,
            notifications: vec![],
        },
        client_reference: Some("web-ref".into()),
        token: "tok".into(),
        capture: None,
    }
}

/// An unused Magic Link created at 10 s, for nobody in particular.
fn magic_link(token: &str, tenant_id: &str) -> MagicLinkRecord {
    MagicLinkRecord {
        token: token.into(),
        tenant_id: tenant_id.into(),
        external_id: None,
        metadata: serde_json::json!({}),
        created_on: "1970-01-01T00:00:10Z".into(),
        request: serde_json::json!({}),
        capture: None,
        scrubbed: false,
    }
}

/// The two tenants most behaviours start from: `t1` (sandbox) and `t2` (production).
fn seed(store: &dyn Store) {
    store.create_tenant(&tenant("t1", "sandbox")).unwrap();
    store.create_tenant(&tenant("t2", "production")).unwrap();
}

/// The server's clock as other processes read it: recorded, moved, then the real one; the
/// store answers.
fn server_clock(store: &dyn Store) {
    assert_eq!(store.manual_clock().unwrap(), None);
    store
        .set_manual_clock(Some(1_800_000_000_123_000_000))
        .unwrap();
    store
        .set_manual_clock(Some(1_800_000_090_000_000_000))
        .unwrap();
    assert_eq!(
        store.manual_clock().unwrap(),
        Some(1_800_000_090_000_000_000)
    );
    // It never goes backwards; every move adds up.
    store
        .set_manual_clock(Some(1_800_000_000_000_000_000))
        .unwrap();
    assert_eq!(
        store.advance_manual_clock(10_000_000_000).unwrap(),
        Some(1_800_000_100_000_000_000)
    );
    assert_eq!(
        store.advance_manual_clock(5_000_000_000).unwrap(),
        Some(1_800_000_105_000_000_000)
    );
    store.set_manual_clock(None).unwrap();
    assert_eq!(store.manual_clock().unwrap(), None);
    assert_eq!(
        store.advance_manual_clock(1).unwrap(),
        None,
        "no manual clock"
    );
    store.ping().unwrap();
}

/// Tenants: created once, read by id, listed.
fn tenants(store: &dyn Store) {
    store.create_tenant(&tenant("t1", "sandbox")).unwrap();
    store.create_tenant(&tenant("t2", "production")).unwrap();
    assert!(matches!(
        store.create_tenant(&tenant("t1", "sandbox")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.tenant("t2").unwrap().unwrap().environment,
        "production"
    );
    assert!(store.tenant("nope").unwrap().is_none());
    assert_eq!(store.list_tenants().unwrap().len(), 2);
}

/// A tenant's settings: rate limit, flows and permissions.
fn tenant_settings(store: &dyn Store) {
    seed(store);
    store.set_tenant_rate_limit("t1", Some(0)).unwrap();
    assert_eq!(store.tenant("t1").unwrap().unwrap().rate_limit, Some(0));
    assert!(matches!(
        store.set_tenant_rate_limit("nope", None),
        Err(StoreError::NotFound(_))
    ));
    store
        .set_tenant_flows("t1", &["id".into(), "idcheck".into()])
        .unwrap();
    store.set_tenant_permissions("t1", &[]).unwrap();
    let t1 = store.tenant("t1").unwrap().unwrap();
    assert_eq!(
        t1.flows,
        Some(vec!["id".to_string(), "idcheck".to_string()])
    );
    assert_eq!(t1.permissions, Some(vec![]));
    assert_eq!(store.tenant("t2").unwrap().unwrap().flows, None);
}

/// Service accounts and their public keys: created once, enabled, restricted, revoked.
fn accounts_and_keys(store: &dyn Store) {
    seed(store);
    let (a, k) = account("t1", "svc");
    store.create_account(&a, &k).unwrap();
    assert!(matches!(
        store.create_account(&a, &k),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.account("t1", "svc").unwrap().unwrap(), a);
    assert!(store.account("t2", "svc").unwrap().is_none());
    store.set_account_enabled("t1", "svc", false).unwrap();
    assert!(!store.account("t1", "svc").unwrap().unwrap().enabled);
    assert!(matches!(
        store.set_account_enabled("t1", "ghost", true),
        Err(StoreError::NotFound(_))
    ));
    store
        .set_account_access(
            "t1",
            "svc",
            &["127.0.0.1/32".into(), "::1/128".into()],
            Some("08:00-18:00"),
        )
        .unwrap();
    let got = store.account("t1", "svc").unwrap().unwrap();
    assert_eq!(got.allow_ips, vec!["127.0.0.1/32", "::1/128"]);
    assert_eq!(got.allowed_hours.as_deref(), Some("08:00-18:00"));
    store.set_account_access("t1", "svc", &[], None).unwrap();
    assert!(
        store
            .account("t1", "svc")
            .unwrap()
            .unwrap()
            .allow_ips
            .is_empty()
    );
    let mut k2 = k.clone();
    k2.id = "k2".into();
    store.add_account_key(&k2).unwrap();
    let mut orphan = k.clone();
    orphan.id = "k3".into();
    orphan.account = "ghost".into();
    assert!(matches!(
        store.add_account_key(&orphan),
        Err(StoreError::NotFound(_))
    ));
    store.revoke_account_key("t1", "svc", &k.id, 50).unwrap();
    store.revoke_account_key("t1", "svc", &k.id, 99).unwrap();
    let keys = store.account_keys("t1", "svc").unwrap();
    assert_eq!(keys.len(), 2);
    let by_id = |id: &str| keys.iter().find(|x| x.id == id).unwrap().revoked_at;
    assert_eq!(by_id(&k.id), Some(50), "the first revocation time is kept");
    assert_eq!(by_id("k2"), None);
    assert!(matches!(
        store.revoke_account_key("t1", "svc", "nope", 1),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_accounts("t1").unwrap().len(), 1);
}

/// Lockout: 3 failures within 100 s lock for 60 s; older failures fall out of the window.
fn lockout(store: &dyn Store) {
    seed(store);
    let (a, k) = account("t1", "svc");
    store.create_account(&a, &k).unwrap();
    let policy = LockoutPolicy {
        attempts: 3,
        window_seconds: 100,
        duration_seconds: 60,
    };
    assert_eq!(
        store
            .record_auth_failure("t1", "svc", 1000, policy)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .record_auth_failure("t1", "svc", 1101, policy)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .record_auth_failure("t1", "svc", 1150, policy)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .record_auth_failure("t1", "svc", 1160, policy)
            .unwrap(),
        Some(1220)
    );
    assert_eq!(
        store.account("t1", "svc").unwrap().unwrap().locked_until,
        Some(1220)
    );
    assert_eq!(
        store
            .record_auth_failure("t1", "svc", 1300, policy)
            .unwrap(),
        None,
        "counts restart after a lock"
    );
}

/// Replay records, identified by their expiry and hash, purged once expired.
fn replay_records(store: &dyn Store) {
    let h = [7u8; 32];
    assert!(!used(store, h, 2000, 1000));
    assert!(mark(store, &h, 2000, 1000));
    assert!(used(store, h, 2000, 2000));
    assert!(!used(store, h, 2000, 2001), "expired");
    assert!(
        !used(store, h, 2100, 1000),
        "another expiry is another record"
    );
    assert!(!mark(store, &h, 2000, 1500), "a replay");
    assert!(
        mark(store, &h, 2000, 2001),
        "an expired record is taken over"
    );
    assert!(
        mark(store, &h, 4000, 2001),
        "another expiry is another record"
    );
    assert!(!mark(store, &h, 4000, 3000));
    let h2 = [8u8; 32];
    assert!(mark(store, &h2, 2500, 2001));
    assert_eq!(
        store.purge_used_assertions(3000).unwrap(),
        2,
        "the records that expired before 3000"
    );
    assert!(used(store, h, 4000, 3000));
    assert!(!used(store, h2, 2500, 2400), "purged");
}

/// API keys: only their hash stored, found by it, revoked.
fn api_keys(store: &dyn Store) {
    seed(store);
    let key = ApiKey {
        id: "ak1".into(),
        tenant_id: "t1".into(),
        hash: [9; 32],
        capabilities: "identity,liveness".into(),
        revoked_at: None,
        created_at: 3,
    };
    store.create_api_key(&key).unwrap();
    assert!(matches!(
        store.create_api_key(&key),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.api_key_by_hash(&[9; 32]).unwrap().unwrap(), key);
    assert!(store.api_key_by_hash(&[8; 32]).unwrap().is_none());
    store.revoke_api_key("ak1", 70).unwrap();
    assert_eq!(store.list_api_keys("t1").unwrap()[0].revoked_at, Some(70));
    assert!(matches!(
        store.revoke_api_key("nope", 1),
        Err(StoreError::NotFound(_))
    ));
}

/// API processes: tenant-scoped, created once; the key and the process in one read.
fn processes(store: &dyn Store) {
    seed(store);
    store
        .create_api_key(&ApiKey {
            id: "ak1".into(),
            tenant_id: "t1".into(),
            hash: [9; 32],
            capabilities: "identity,liveness".into(),
            revoked_at: None,
            created_at: 3,
        })
        .unwrap();
    store.revoke_api_key("ak1", 70).unwrap();
    let p = process("p1", "t1");
    store.insert_process(&p, None, None, None).unwrap();
    assert!(matches!(
        store.insert_process(&p, None, None, None),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.process("t1", "p1").unwrap().unwrap(), p);
    assert!(store.process("t2", "p1").unwrap().is_none());
    assert!(store.process("t1", "p2").unwrap().is_none());
    // The key and the process in one read: the key revoked above, the process only for the
    // tenant asked (whoever the key belongs to), nothing without a key.
    let (k, read) = store.api_key_and_process(&[9; 32], "t1", "p1").unwrap();
    assert_eq!(k.unwrap().revoked_at, Some(70));
    assert_eq!(read.unwrap().unwrap(), p);
    let (k, read) = store.api_key_and_process(&[9; 32], "t2", "p1").unwrap();
    assert!(k.is_some() && read.unwrap().is_none());
    let (k, read) = store.api_key_and_process(&[8; 32], "t1", "p1").unwrap();
    assert!(k.is_none() && read.unwrap().is_none());
}

/// Processes by client reference: newest first, bounded, tenant-scoped.
fn processes_by_reference(store: &dyn Store) {
    seed(store);
    store
        .insert_process(&process("p1", "t1"), None, None, None)
        .unwrap();
    for (i, id) in ["p2", "p3", "p4"].iter().enumerate() {
        let mut q = process(id, "t1");
        q.created_at = 20 + i as i64;
        store.insert_process(&q, None, None, None).unwrap();
    }
    let found: Vec<String> = store
        .processes_by_reference("t1", "ref-1", 3)
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(found, vec!["p4", "p3", "p2"]);
    assert!(
        store
            .processes_by_reference("t2", "ref-1", 50)
            .unwrap()
            .is_empty()
    );
}

/// Web & SDK processes: tenant-scoped, captured once and in time.
fn web_processes(store: &dyn Store) {
    seed(store);
    let web = web_process("w1", "t1");
    store.insert_web_process(&web, None).unwrap();
    assert!(matches!(
        store.insert_web_process(&web, None),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.web_process("t1", "w1").unwrap().unwrap(), web);
    assert!(store.web_process("t2", "w1").unwrap().is_none());
    assert_eq!(store.web_process_by_id("w1").unwrap().unwrap(), web);
    let mut done = web.clone();
    done.capture = Some(WebCapture {
        at: 5,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    let mut late = done.clone();
    if let Some(c) = late.capture.as_mut() {
        c.at = web.expires_at;
    }
    assert!(
        !store.complete_web_process(&late, None).unwrap(),
        "a capture at or after expiresAt is refused"
    );
    assert!(store.complete_web_process(&done, None).unwrap());
    assert!(
        !store.complete_web_process(&done, None).unwrap(),
        "a second capture is refused"
    );
    assert_eq!(store.web_process("t1", "w1").unwrap().unwrap(), done);
    assert_eq!(
        store
            .web_processes_by_reference("t1", "web-ref", 50)
            .unwrap()
            .len(),
        1
    );
}

/// Which records own a stored image, per kind.
fn blob_ownership(store: &dyn Store) {
    seed(store);
    store
        .insert_process(&process("p1", "t1"), None, None, None)
        .unwrap();
    let web = web_process("w1", "t1");
    store.insert_web_process(&web, None).unwrap();
    let mut done = web.clone();
    done.capture = Some(WebCapture {
        at: 5,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    assert!(store.complete_web_process(&done, None).unwrap());
    // Blob ownership: committed processes and captured Web & SDK processes own their selfie,
    // each under its own kind.
    let owned = |path: &str| {
        BlobKey::candidates(path)
            .iter()
            .any(|key| store.blob_owned(key).unwrap())
    };
    assert!(owned("t1/p1.selfie"));
    assert!(owned("t1/w1.selfie"));
    assert!(!owned("t1/nope.selfie"));
    assert!(!owned("t2/p1.selfie"), "another tenant's folder");
    assert!(!owned("t1/p1.other"));
    assert!(
        !store
            .blob_owned(&BlobKey::new(BlobOwner::WebProcess, "t1", "p1"))
            .unwrap(),
        "p1 is an API process, not a journey"
    );
    assert!(
        store
            .blob_owned(&BlobKey::new(BlobOwner::Process, "t1", "p1"))
            .unwrap()
    );
    // A journey not captured and a link not used own no image yet.
    store
        .insert_web_process(&web_process("w2", "t1"), None)
        .unwrap();
    assert!(!owned("t1/w2.selfie"));
    let link = magic_link("lk-1", "t1");
    store.insert_magic_link(&link, None).unwrap();
    assert!(!owned("t1/lk-1.link-selfie"));
    let mut used = link.clone();
    used.capture = Some(LinkCapture {
        at: 20,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    assert!(store.complete_magic_link(&used).unwrap());
    assert!(owned("t1/lk-1.link-selfie"));
    assert!(!owned("t1/lk-1.selfie"), "a link's image is a link-selfie");
}

/// Images past their selfie window, listed once each until marked deleted.
fn blobs_past_retention(store: &dyn Store) {
    seed(store);
    store
        .insert_process(&process("p1", "t1"), None, None, None)
        .unwrap();
    let mut p2 = process("p2", "t1");
    p2.created_at = 20;
    store.insert_process(&p2, None, None, None).unwrap();
    let web = web_process("w1", "t1");
    store.insert_web_process(&web, None).unwrap();
    let mut done = web.clone();
    done.capture = Some(WebCapture {
        at: 5,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    assert!(store.complete_web_process(&done, None).unwrap());
    // Retention: blobs past their window, once each. Both contracts' selfies follow the
    // selfie window (5 s: w1 was captured at 5, p1 finished at 10), never the process window.
    let cutoffs = RetentionCutoffs {
        now: 15,
        defaults: selo_domain::retention::Retention {
            selfie: 5,
            evidence: 0,
            process: 1_000,
        },
    };
    let expired = store.blobs_past_retention(&cutoffs, 100).unwrap();
    let keys: Vec<String> = expired.iter().map(BlobKey::path).collect();
    assert!(keys.contains(&"t1/w1.selfie".to_string()), "{keys:?}");
    assert!(keys.contains(&"t1/p1.selfie".to_string()), "{keys:?}");
    assert!(
        !keys.contains(&"t1/p2.selfie".to_string()),
        "p2 finished later"
    );
    for b in &expired {
        store.mark_blob_deleted(b, 99).unwrap();
    }
    assert!(
        store
            .blobs_past_retention(&cutoffs, 100)
            .unwrap()
            .is_empty()
    );
}

/// Idempotency records: started, in flight, replayed, mismatched, expired, abandoned, cleared at start.
fn idempotency(store: &dyn Store) {
    seed(store);
    let scope = IdempotencyScope {
        tenant_id: "t1",
        route: "POST /processes/v1",
        key: "k-1",
    };
    let (h1, h2) = ([1u8; 32], [2u8; 32]);
    assert_eq!(
        store.idempotency_begin(scope, &h1, 100, 160).unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store.idempotency_begin(scope, &h1, 101, 161).unwrap(),
        IdempotencyBegin::InFlight
    );
    assert_eq!(
        store.idempotency_begin(scope, &h2, 101, 161).unwrap(),
        IdempotencyBegin::Mismatch
    );
    // Another tenant or route is another record.
    let other = IdempotencyScope {
        tenant_id: "t2",
        ..scope
    };
    assert_eq!(
        store.idempotency_begin(other, &h2, 101, 161).unwrap(),
        IdempotencyBegin::Started
    );
    let response = StoredResponse {
        status: 200,
        content_type: "application/json".into(),
        body: b"{\"id\":\"p5\"}".to_vec(),
    };
    store
        .insert_process(
            &process("p5", "t1"),
            None,
            Some(IdempotencyCompletion {
                scope,
                response: &response,
                expires_at: 1000,
            }),
            None,
        )
        .unwrap();
    assert_eq!(
        store.idempotency_begin(scope, &h1, 200, 260).unwrap(),
        IdempotencyBegin::Replay(response.clone())
    );
    assert_eq!(
        store.idempotency_begin(scope, &h2, 200, 260).unwrap(),
        IdempotencyBegin::Mismatch
    );
    // Expired: starts over.
    assert_eq!(
        store.idempotency_begin(scope, &h2, 1001, 1060).unwrap(),
        IdempotencyBegin::Started
    );
    // Start-up forgets running records of a dead process.
    let dead = IdempotencyScope {
        key: "dead",
        ..scope
    };
    assert_eq!(
        store.idempotency_begin(dead, &h1, 1001, 9999).unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store.clear_running_idempotency().unwrap(),
        3,
        "k-1, the other tenant's, dead"
    );
    assert_eq!(
        store.idempotency_begin(dead, &h1, 1001, 9999).unwrap(),
        IdempotencyBegin::Started
    );
    // An abandoned record starts over at once; a running one whose lease ended too.
    store.idempotency_abandon(scope).unwrap();
    assert_eq!(
        store.idempotency_begin(scope, &h1, 1002, 1060).unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store.idempotency_begin(scope, &h1, 1061, 1120).unwrap(),
        IdempotencyBegin::Started
    );
    // A failed insert leaves the record running (the caller abandons it).
    assert!(
        store
            .insert_process(
                &process("p5", "t1"),
                None,
                Some(IdempotencyCompletion {
                    scope,
                    response: &response,
                    expires_at: 5000
                }),
                None,
            )
            .is_err()
    );
    assert_eq!(
        store.idempotency_begin(scope, &h1, 1062, 1120).unwrap(),
        IdempotencyBegin::InFlight
    );
}

/// `t1` and `t2`, and three tenants with an endpoint each: `wa` (2 events in flight), `wb`
/// (4), `wc` (8).
fn webhook_tenants(store: &dyn Store) {
    seed(store);
    for (id, concurrency) in [("wa", 2), ("wb", 4), ("wc", 8)] {
        store.create_tenant(&tenant(id, "sandbox")).unwrap();
        store.set_webhook(&endpoint(id, concurrency)).unwrap();
    }
}

fn endpoint(tenant_id: &str, concurrency: u32) -> WebhookConfig {
    WebhookConfig {
        tenant_id: tenant_id.into(),
        url: "http://127.0.0.1:9/hook".into(),
        auth: r#"{"type":"none"}"#.into(),
        max_attempts: 100,
        retry_interval: 10,
        timeout: 5,
        concurrency,
        secret: "whsec_AAAA".into(),
        previous_secret: None,
        previous_until: None,
        enabled: true,
        consecutive_failures: 0,
    }
}

fn event(tenant_id: &str, n: usize, created_at: i64) -> EventDraft {
    EventDraft {
        id: format!("{tenant_id}-e{n}"),
        tenant_id: tenant_id.into(),
        process_id: format!("{tenant_id}-p{n}"),
        payload: "{}".into(),
        created_at,
    }
}

/// The events node `n1` claims at `now` (its claims renewed for a minute).
fn due_ids(store: &dyn Store, now: i64, limit: usize) -> Vec<String> {
    claim_ids(store, "n1", now, limit)
}

/// The events `node` claims at `now`, for a minute.
fn claim_ids(store: &dyn Store, node: &str, now: i64, limit: usize) -> Vec<String> {
    let due = store.claim_due_events(node, now, now + 60, limit).unwrap();
    due.into_iter().map(|e| e.id).collect()
}

/// Webhook events are claimed by one node at a time: another node is offered them once the
/// claim's lease ended (the node died) or the attempt was recorded; an endpoint's concurrency
/// counts what every node holds.
fn webhook_claims(store: &dyn Store) {
    webhook_tenants(store);
    for n in 0..3 {
        assert!(store.record_event(&event("wa", n, 100)).unwrap());
    }
    store.set_webhook(&endpoint("wa", 2)).unwrap();
    assert_eq!(claim_ids(store, "n1", 1000, 10), ["wa-e0", "wa-e1"]);
    assert!(
        claim_ids(store, "n2", 1000, 10).is_empty(),
        "n1 holds the endpoint's two places"
    );
    // n1 renews its own claims; an attempt recorded releases one, and n2 takes the next event.
    assert_eq!(claim_ids(store, "n1", 1030, 10), ["wa-e0", "wa-e1"]);
    let delivered = WebhookAttempt {
        event_id: "wa-e0".into(),
        process_id: "wa-p0".into(),
        attempt: 1,
        at: 1031,
        status: Some(204),
        latency_ms: 3,
        error: None,
    };
    store
        .record_attempt("n1", &delivered, AttemptOutcome::Delivered)
        .unwrap();
    assert_eq!(claim_ids(store, "n2", 1031, 10), ["wa-e2"]);
    // n1 dies holding wa-e1 (claimed until 1090): n3 takes it once that lease ended.
    assert!(claim_ids(store, "n3", 1090, 10).is_empty());
    assert_eq!(claim_ids(store, "n3", 1091, 10), ["wa-e1"]);
    // n1's late report of its attempt is logged, but the event is n3's to settle.
    let late = WebhookAttempt {
        event_id: "wa-e1".into(),
        process_id: "wa-p1".into(),
        attempt: 1,
        at: 1092,
        status: None,
        latency_ms: 60_000,
        error: Some("timed out".into()),
    };
    store
        .record_attempt("n1", &late, AttemptOutcome::Retry(2000))
        .unwrap();
    assert_eq!(store.attempts("wa", Some("wa-p1"), 10).unwrap().len(), 1);
    // Still pending and n3's (with wa-e2, whose holder's lease ended too).
    assert_eq!(claim_ids(store, "n3", 1093, 10), ["wa-e1", "wa-e2"]);
    assert_eq!(
        store.webhook("wa").unwrap().unwrap().consecutive_failures,
        0
    );
}

/// Retention cutoffs at `now` with the default windows.
fn cutoffs_at(now: i64) -> RetentionCutoffs {
    RetentionCutoffs {
        now,
        defaults: selo_domain::retention::Retention::default(),
    }
}

/// Personal data of journeys are forgotten when the process window after they finished ends;
/// the tombstone stays.
fn personal_data(store: &dyn Store) {
    store.create_tenant(&tenant("wa", "sandbox")).unwrap();
    let mut p = web_process("pd-1", "wa");
    p.person.friendly_name = Some("Maria".into());
    p.person.email = Some("maria@example.com".into());
    p.expires_at = 1_000;
    store.insert_web_process(&p, None).unwrap();
    let window = selo_domain::retention::Retention::default().process;
    // A journey captured at 5 is forgotten a window after its capture, not its expiry.
    let mut captured = web_process("pd-0", "wa");
    captured.expires_at = 900;
    store.insert_web_process(&captured, None).unwrap();
    captured.capture = Some(WebCapture {
        at: 5,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    assert!(store.complete_web_process(&captured, None).unwrap());
    assert_eq!(
        store
            .scrub_personal_data(&cutoffs_at(5 + window - 1), 10)
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .scrub_personal_data(&cutoffs_at(1_000 + window - 1), 10)
            .unwrap(),
        1,
        "the captured journey, not pd-1 yet"
    );
    let before = store.web_process("wa", "pd-1").unwrap().unwrap();
    assert_eq!(before.person.email.as_deref(), Some("maria@example.com"));
    assert_eq!(
        store
            .scrub_personal_data(&cutoffs_at(1_000 + window), 10)
            .unwrap(),
        1
    );
    let kept = store.web_process("wa", "pd-1").unwrap().unwrap();
    assert_eq!(
        (
            kept.person.dui_value.as_str(),
            kept.person.email.as_deref(),
            kept.person.friendly_name.as_deref()
        ),
        ("", None, None)
    );
    assert_eq!(kept.id, "pd-1");
    assert_eq!(
        store
            .scrub_personal_data(&cutoffs_at(1_000 + window), 10)
            .unwrap(),
        0,
        "once"
    );
    // A journey whose window ended takes no capture once scrubbed (even one that would still
    // be in time by its own clock), so a scrub and a capture never overwrite each other.
    let mut late = kept.clone();
    late.capture = Some(WebCapture {
        at: 999,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    assert!(!store.complete_web_process(&late, None).unwrap());

    // Magic links: forgotten a window after their creation (unused), then closed to captures.
    let link = MagicLinkRecord {
        external_id: Some("00000000191".into()),
        metadata: serde_json::json!({"redirect_url": "https://example.com/back"}),
        created_on: "1970-01-01T00:16:40Z".into(),
        request: serde_json::json!({"external_id": "00000000191"}),
        ..magic_link("pd-link", "wa")
    };
    store.insert_magic_link(&link, None).unwrap();
    assert_eq!(
        store
            .scrub_personal_data(&cutoffs_at(1_000 + window), 10)
            .unwrap(),
        1
    );
    let forgotten = store.magic_link("wa", "pd-link").unwrap().unwrap();
    assert!(forgotten.scrubbed);
    assert_eq!(forgotten.external_id, None);
    assert_eq!(forgotten.metadata, link.metadata, "the redirect is kept");
    let mut used = link.clone();
    used.capture = Some(LinkCapture {
        at: 1_000 + window,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    assert!(
        !store.complete_magic_link(&used).unwrap(),
        "a capture that read the link before the scrub cannot write its person back"
    );
    assert_eq!(
        store.refuse_link_capture("pd-link").unwrap(),
        None,
        "a forgotten link counts no refusal"
    );
    assert!(
        store
            .magic_link("wa", "pd-link")
            .unwrap()
            .unwrap()
            .external_id
            .is_none()
    );
}

/// Processes that finish by time: listed once finished and without an event, and the next
/// such moment known in advance, for tenants with an endpoint only.
fn finishing_by_time(store: &dyn Store) {
    webhook_tenants(store);
    let mut async_api = process("fa-1", "wa");
    async_api.completes_at = Some(500);
    store.insert_process(&async_api, None, None, None).unwrap();
    let mut no_endpoint = process("fa-2", "t1");
    no_endpoint.completes_at = Some(400);
    store
        .insert_process(&no_endpoint, None, None, None)
        .unwrap();
    // Decided at its create: never awaited, never finished by time.
    store
        .insert_process(&process("fa-3", "wa"), None, None, None)
        .unwrap();
    let mut expiring = web_process("fw-1", "wb");
    expiring.expires_at = 700;
    store.insert_web_process(&expiring, None).unwrap();
    assert_eq!(store.next_finish_by_time(0).unwrap(), Some(500));
    assert_eq!(store.next_finish_by_time(500).unwrap(), Some(700));
    assert_eq!(store.next_finish_by_time(700).unwrap(), None);
    let finished = store.finished_without_event(600, 10).unwrap();
    assert_eq!(
        finished
            .api
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["fa-1"]
    );
    assert!(finished.web.is_empty());
    // Once its event exists it is neither listed nor awaited.
    let draft = EventDraft {
        id: "evt-fa-1".into(),
        tenant_id: "wa".into(),
        process_id: "fa-1".into(),
        payload: "{}".into(),
        created_at: 600,
    };
    assert!(store.record_event(&draft).unwrap());
    assert!(
        store
            .finished_without_event(600, 10)
            .unwrap()
            .api
            .is_empty()
    );
    assert_eq!(store.next_finish_by_time(0).unwrap(), Some(700));
    assert_eq!(
        store.finished_without_event(700, 10).unwrap().web[0].id,
        "fw-1"
    );
}

/// Webhook delivery queue: each tenant's due events are bounded by what its endpoint may have
/// in flight, so a backlog (or a failing or disabled endpoint) never holds up another tenant.
fn webhook_queue(store: &dyn Store) {
    webhook_tenants(store);
    // A tenant with no endpoint records nothing.
    assert!(!store.record_event(&event("t1", 0, 50)).unwrap());
    // Tenant A's large, old backlog; B's and C's few, newer events.
    for n in 0..600 {
        assert!(store.record_event(&event("wa", n, 100)).unwrap());
    }
    assert!(
        !store.record_event(&event("wa", 0, 100)).unwrap(),
        "one per process"
    );
    for n in 0..3 {
        store.record_event(&event("wb", n, 200 + n as i64)).unwrap();
        store.record_event(&event("wc", n, 150)).unwrap();
    }
    let mut wc = endpoint("wc", 8);
    wc.enabled = false;
    store.set_webhook(&wc).unwrap();
    // A paused endpoint keeps recording (CONTRACT §16) but is not delivered to.
    assert!(store.record_event(&event("wc", 3, 160)).unwrap());

    let due = due_ids(store, 1000, 500);
    assert_eq!(due, ["wa-e0", "wb-e0", "wa-e1", "wb-e1", "wb-e2"]);
    assert!(due_ids(store, 99, 500).is_empty(), "nothing is due yet");
    // A batch smaller than the tenants' allowances takes each tenant's oldest first.
    assert_eq!(due_ids(store, 1000, 3), ["wa-e0", "wb-e0", "wa-e1"]);

    // Delivered and rescheduled events leave the due list; the next ones take their place.
    let attempt = |id: &str, outcome: AttemptOutcome| {
        let attempt = WebhookAttempt {
            event_id: id.into(),
            process_id: id.replace("-e", "-p"),
            attempt: 1,
            at: 1000,
            status: Some(500),
            latency_ms: 3,
            error: Some("HTTP 500".into()),
        };
        store.record_attempt("n1", &attempt, outcome).unwrap();
    };
    attempt("wb-e0", AttemptOutcome::Delivered);
    attempt("wa-e0", AttemptOutcome::Retry(2000));
    assert_eq!(
        due_ids(store, 1000, 500),
        ["wa-e1", "wb-e1", "wa-e2", "wb-e2"]
    );
    // A failing endpoint is offered one event at a time.
    for n in 1..WebhookConfig::FAILING_AFTER as usize {
        let id = format!("wa-e{n}");
        assert!(due_ids(store, 1000, 500).contains(&id), "n1 holds {id}");
        attempt(&id, AttemptOutcome::Retry(2000));
    }
    assert!(store.webhook("wa").unwrap().unwrap().failing());
    assert_eq!(due_ids(store, 1000, 500), ["wa-e10", "wb-e1", "wb-e2"]);
    assert_eq!(due_ids(store, 1000, 2), ["wa-e10", "wb-e1"]);
    // Re-enabling an endpoint delivers what it kept, what was recorded while paused included.
    store.set_webhook(&endpoint("wc", 8)).unwrap();
    assert_eq!(
        due_ids(store, 1000, 500),
        [
            "wa-e10", "wc-e0", "wb-e1", "wc-e1", "wb-e2", "wc-e2", "wc-e3"
        ]
    );
}

/// The identity base (CONTRACT §17): faces per tenant and code, all-or-none enrolment up to
/// the cap, the 1:N search over other codes only, erasure; a process's face kept as long as
/// the process and no longer.
fn faces(store: &dyn Store) {
    use selo_domain::verification::{EngineSet, EngineSettings, MatchThresholds};
    use selo_store::faces::{Enrolment, IdentitySummary, MAX_FACES_PER_IDENTITY};
    for t in ["fa", "fb"] {
        store.create_tenant(&tenant(t, "production")).unwrap();
    }
    let face = |x: f32| {
        let mut v = vec![0.0f32; 128];
        v[0] = x;
        v
    };
    assert_eq!(
        store.identity_faces("fa", "A").unwrap(),
        Vec::<Vec<f32>>::new()
    );
    assert_eq!(store.nearest_other("fa", "A", &face(0.0)).unwrap(), None);
    assert_eq!(
        store
            .enroll("fa", "A", &[face(1.0), face(2.0)], 50)
            .unwrap(),
        Enrolment::Enrolled(2)
    );
    assert_eq!(
        store.enroll("fa", "B", &[face(5.0)], 60).unwrap(),
        Enrolment::Enrolled(1)
    );
    store.enroll("fb", "C", &[face(0.5)], 60).unwrap();
    assert_eq!(
        store.identity_faces("fa", "A").unwrap(),
        [face(1.0), face(2.0)]
    );
    // Only other codes, only this tenant.
    assert_eq!(
        store.nearest_other("fa", "A", &face(1.0)).unwrap(),
        Some(4.0)
    );
    assert_eq!(
        store.nearest_other("fa", "B", &face(4.0)).unwrap(),
        Some(2.0)
    );
    assert_eq!(store.nearest_other("fb", "C", &face(1.0)).unwrap(), None);
    assert_eq!(
        store.identities("fa", None).unwrap(),
        [
            IdentitySummary {
                code: "A".into(),
                faces: 2,
                enrolled_at: 50
            },
            IdentitySummary {
                code: "B".into(),
                faces: 1,
                enrolled_at: 60
            }
        ]
    );
    assert_eq!(store.identities("fa", Some("B")).unwrap().len(), 1);
    // Over the cap: nothing enrolled.
    let many = vec![face(3.0); MAX_FACES_PER_IDENTITY as usize - 1];
    assert_eq!(
        store.enroll("fa", "A", &many, 70).unwrap(),
        Enrolment::Full(2)
    );
    assert_eq!(store.identity_faces("fa", "A").unwrap().len(), 2);
    assert_eq!(store.remove_identity("fa", "A").unwrap(), 2);
    assert_eq!(store.remove_identity("fa", "A").unwrap(), 0);
    assert!(store.identity_faces("fa", "A").unwrap().is_empty());
    assert_eq!(store.nearest_other("fa", "B", &face(4.0)).unwrap(), None);

    // Engine settings.
    let settings = EngineSettings {
        set: Some(EngineSet::Local),
        thresholds: Some(MatchThresholds {
            accept: 0.35,
            reject: 0.55,
        }),
    };
    store.set_tenant_engines("fa", settings).unwrap();
    assert_eq!(store.tenant("fa").unwrap().unwrap().engines, settings);
    assert_eq!(
        store.tenant("fb").unwrap().unwrap().engines,
        EngineSettings::default()
    );
    assert!(matches!(
        store.set_tenant_engines("nope", settings),
        Err(StoreError::NotFound(_))
    ));

    // A process's face: its tenant only, gone when the process window ends.
    let mut p = process("face-1", "fa");
    p.created_at = 1_000;
    store
        .insert_process(&p, Some(&face(7.0)), None, None)
        .unwrap();
    store
        .insert_process(&process("face-2", "fa"), None, None, None)
        .unwrap();
    assert_eq!(store.process_face("fa", "face-1").unwrap(), Some(face(7.0)));
    assert_eq!(store.process_face("fb", "face-1").unwrap(), None);
    assert_eq!(store.process_face("fa", "face-2").unwrap(), None);
    let window = selo_domain::retention::Retention::default().process;
    store
        .scrub_personal_data(&cutoffs_at(1_000 + window - 1), 10)
        .unwrap();
    assert!(store.process_face("fa", "face-1").unwrap().is_some());
    store
        .scrub_personal_data(&cutoffs_at(1_000 + window), 10)
        .unwrap();
    assert_eq!(store.process_face("fa", "face-1").unwrap(), None);
    assert_eq!(store.process("fa", "face-1").unwrap().unwrap(), p);
}

/// A fresh, empty SQLite store.
fn sqlite() -> Option<(tempfile::TempDir, SqliteStore)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("selo.db"), Durability::Normal).unwrap();
    Some((dir, store))
}

/// A fresh PostgreSQL store on a database of its own on the server `SELO_TEST_POSTGRES` names
/// (by default the one every development and CI machine runs on 127.0.0.1:5432). Without a
/// server: SKIPPED, and a failure under `CI=true`.
fn postgres() -> Option<(ScratchDatabase, PostgresStore)> {
    let server = std::env::var("SELO_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.into());
    let database = match ScratchDatabase::create(&server) {
        Ok(database) => database,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: no PostgreSQL server at {server} ({e})");
            return None;
        }
        Err(e) => panic!("no PostgreSQL server at {server} ({e}); CI must have one"),
    };
    let store = PostgresStore::open(database.url()).unwrap();
    Some((database, store))
}

/// A fresh PostgreSQL store on the server with pgvector that `SELO_TEST_PGVECTOR` names
/// (`.ci/run` starts PostgreSQL 16 from PyPI's pgserver wheel): the same contract with the 1:N
/// search on its index. Without one: SKIPPED, and a failure under `CI=true`.
fn pgvector() -> Option<(ScratchDatabase, PostgresStore)> {
    let server = match std::env::var("SELO_TEST_PGVECTOR") {
        Ok(server) => server,
        Err(_) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: no PostgreSQL server with pgvector (set SELO_TEST_PGVECTOR)");
            return None;
        }
        Err(_) => panic!("SELO_TEST_PGVECTOR is not set; CI starts a server with pgvector"),
    };
    let database = ScratchDatabase::create(&server)
        .unwrap_or_else(|e| panic!("no PostgreSQL server at {server} ({e})"));
    let store = PostgresStore::open(database.url()).unwrap();
    assert_eq!(store.face_index(), &FaceIndex::Hnsw);
    Some((database, store))
}

/// The contract, one test per behaviour on a fresh store: `contract_tests!(backend)` makes
/// `backend::behaviour` run each behaviour on `backend()`'s store, so every backend runs every
/// behaviour.
macro_rules! contract_tests {
    ($backend:ident) => {
        contract_tests!($backend:
            server_clock,
            tenants,
            tenant_settings,
            accounts_and_keys,
            lockout,
            replay_records,
            api_keys,
            processes,
            processes_by_reference,
            web_processes,
            blob_ownership,
            blobs_past_retention,
            idempotency,
            finishing_by_time,
            personal_data,
            webhook_queue,
            webhook_claims,
            nodes,
            rate_buckets,
            fault_plans,
            faces,
            capture_refusals,
            transfer,
        );
    };
    ($backend:ident: $($behaviour:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $behaviour() {
                    let Some((_database, store)) = super::$backend() else {
                        return;
                    };
                    super::$behaviour(&store);
                }
            )*
        }
    };
}

contract_tests!(sqlite);
contract_tests!(postgres);
contract_tests!(pgvector);

/// Fault plans: bounded per tenant, forgotten once expired, each fault consumed once.
fn fault_plans(store: &dyn Store) {
    use selo_store::sandbox_faults::{FaultPlanRecord, FaultUse};
    let plan = |id: &str, tenant: &str, global: bool, expires_at| FaultPlanRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        method: Some("POST".into()),
        path: "/processes/v1".into(),
        faults: vec!["503".into(), "reset".into()],
        global,
        expires_at,
        consumed: Vec::new(),
    };
    let used = |request_id: &str| FaultUse {
        fault: String::new(),
        at: "2027-01-01T00:00:00.000Z".into(),
        request_id: request_id.into(),
        request: "POST /processes/v1".into(),
    };
    assert!(!store.any_fault_plans(100).unwrap());
    assert!(
        store
            .create_fault_plan(&plan("f1", "ta", false, 200), 2, 100)
            .unwrap()
    );
    assert!(
        store
            .create_fault_plan(&plan("f2", "ta", true, 300), 2, 100)
            .unwrap()
    );
    assert!(
        !store
            .create_fault_plan(&plan("f3", "ta", true, 300), 2, 100)
            .unwrap(),
        "ta holds two live plans"
    );
    for id in ["f4", "f6"] {
        assert!(
            store
                .create_fault_plan(&plan(id, "tb", true, 300), 3, 100)
                .unwrap()
        );
    }
    let mut other = plan("f7", "tb", true, 300);
    other.path = "/client/v1/process".into();
    assert!(store.create_fault_plan(&other, 3, 100).unwrap());
    assert!(store.any_fault_plans(100).unwrap());
    let globals = |tenant: &str, method: &str| -> Vec<String> {
        store
            .global_fault_plans(tenant, method, "/processes/v1", 100)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect()
    };
    assert_eq!(globals("ta", "POST"), ["f2"]);
    assert_eq!(
        globals("tb", "post"),
        ["f4", "f6"],
        "oldest first, this path only"
    );
    assert!(globals("tb", "GET").is_empty(), "another method");
    // Each fault once, in order, then none.
    assert_eq!(
        store
            .consume_fault("f1", 150, &used("r1"))
            .unwrap()
            .as_deref(),
        Some("503")
    );
    assert_eq!(
        store
            .consume_fault("f1", 150, &used("r2"))
            .unwrap()
            .as_deref(),
        Some("reset")
    );
    assert_eq!(store.consume_fault("f1", 150, &used("r3")).unwrap(), None);
    let shown = store.fault_plan("f1", 150).unwrap().unwrap();
    assert_eq!(shown.consumed.len(), 2);
    assert_eq!(shown.consumed[1].request_id, "r2");
    assert_eq!(shown.consumed[1].fault, "reset");
    // Expired: neither shown nor consumed, and no longer counted against the tenant.
    assert_eq!(store.fault_plan("f1", 200).unwrap(), None);
    assert_eq!(store.consume_fault("f1", 200, &used("r4")).unwrap(), None);
    assert!(
        store
            .create_fault_plan(&plan("f5", "ta", false, 400), 2, 200)
            .unwrap()
    );
    assert!(!store.any_fault_plans(400).unwrap());
}

/// A tenant's shared bucket gives out its burst, then its rate, whoever leases from it.
fn rate_buckets(store: &dyn Store) {
    use selo_domain::rate_limit::{Decision, Limit};
    let limit = Limit::per_second(10).unwrap();
    let (got, first) = store.take_rate_tokens("ta", limit, 4, 1_000).unwrap();
    assert_eq!(got, 4);
    assert!(matches!(first, Decision::Allowed(q) if q.remaining == 9));
    assert_eq!(
        store.take_rate_tokens("ta", limit, 100, 1_000).unwrap().0,
        6
    );
    let (got, refused) = store.take_rate_tokens("ta", limit, 1, 1_000).unwrap();
    assert_eq!(got, 0);
    assert!(matches!(
        refused,
        Decision::Limited {
            retry_after_seconds: 1,
            ..
        }
    ));
    assert_eq!(
        store.take_rate_tokens("ta", limit, 5, 1_200).unwrap().0,
        2,
        "two tokens back in 200 ms"
    );
    assert_eq!(
        store.take_rate_tokens("tb", limit, 3, 1_200).unwrap().0,
        3,
        "one bucket per tenant"
    );
}

/// Nodes publish their public keys once each, and a node's new key retires its old one; a
/// task's lease is held by one node until it ends.
fn nodes(store: &dyn Store) {
    let key = |node: &str, environment: &str, kid: &str, at| PublishedKey {
        node: node.into(),
        environment: environment.into(),
        kid: kid.into(),
        public_key: vec![7; 32],
        published_at: at,
    };
    store
        .publish_key(&key("n1", "sandbox", "sandbox-a", 10))
        .unwrap();
    store
        .publish_key(&key("n1", "sandbox", "sandbox-a", 20))
        .unwrap();
    store
        .publish_key(&key("n1", "production", "production-a", 15))
        .unwrap();
    store
        .publish_key(&key("n2", "sandbox", "sandbox-b", 16))
        .unwrap();
    assert_eq!(
        store.published_keys().unwrap(),
        [
            key("n1", "sandbox", "sandbox-a", 10),
            key("n1", "production", "production-a", 15),
            key("n2", "sandbox", "sandbox-b", 16)
        ]
    );
    // n1's key file was replaced: its old sandbox key stops verifying, the others stay.
    store
        .publish_key(&key("n1", "sandbox", "sandbox-c", 30))
        .unwrap();
    let kids: Vec<String> = store
        .published_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["production-a", "sandbox-b", "sandbox-c"]);
    assert!(store.try_lead("sweeper", "n1", 100, 160).unwrap());
    assert!(
        !store.try_lead("sweeper", "n2", 150, 210).unwrap(),
        "n1 holds it"
    );
    assert!(
        store.try_lead("sweeper", "n1", 150, 210).unwrap(),
        "renewed"
    );
    assert!(
        store.try_lead("other", "n2", 150, 210).unwrap(),
        "one lease per task"
    );
    assert!(!store.try_lead("sweeper", "n2", 210, 270).unwrap());
    assert!(
        store.try_lead("sweeper", "n2", 211, 270).unwrap(),
        "taken over once it ended"
    );
    assert!(!store.try_lead("sweeper", "n1", 212, 270).unwrap());
}

/// Selfies a journey refused at the gates are counted until it takes no capture any more.
fn capture_refusals(store: &dyn Store) {
    store.create_tenant(&tenant("ra", "sandbox")).unwrap();
    let p = web_process("rf-1", "ra");
    store.insert_web_process(&p, None).unwrap();
    assert_eq!(store.refuse_web_capture("rf-1", 10).unwrap(), Some(1));
    assert_eq!(store.refuse_web_capture("rf-1", 10).unwrap(), Some(2));
    assert_eq!(
        store.refuse_web_capture("rf-1", p.expires_at).unwrap(),
        None,
        "an expired journey counts no refusal"
    );
    assert_eq!(store.refuse_web_capture("nope", 10).unwrap(), None);
    let mut done = p.clone();
    done.capture = Some(WebCapture {
        at: 20,
        decision: CaptureDecision::refused(),
        image_type: String::new(),
    });
    assert!(store.complete_web_process(&done, None).unwrap());
    assert_eq!(store.refuse_web_capture("rf-1", 10).unwrap(), None);
    assert_eq!(store.web_process("ra", "rf-1").unwrap().unwrap(), done);
    let link = magic_link("rf-link", "ra");
    store.insert_magic_link(&link, None).unwrap();
    assert_eq!(store.refuse_link_capture("rf-link").unwrap(), Some(1));
    let mut used = link.clone();
    used.capture = Some(LinkCapture {
        at: 20,
        decision: CaptureDecision::refused(),
        image_type: String::new(),
    });
    assert!(store.complete_magic_link(&used).unwrap());
    assert_eq!(store.refuse_link_capture("rf-link").unwrap(), None);
}

/// A journey written by an older binary (no `finished_at`) can still be captured, and is still
/// forgotten in time, once this version opens the database again.
#[test]
fn sqlite_fills_in_what_an_older_binary_left_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("selo.db");
    let mut p = web_process("old-1", "t1");
    p.expires_at = 1_000;
    {
        let store = SqliteStore::open(&path, Durability::Normal).unwrap();
        store.create_tenant(&tenant("t1", "sandbox")).unwrap();
        store.insert_web_process(&p, None).unwrap();
    }
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE web_processes SET finished_at = NULL, has_document = NULL",
            [],
        )
        .unwrap();
    let store = SqliteStore::open(&path, Durability::Normal).unwrap();
    let mut captured = p.clone();
    captured.capture = Some(WebCapture {
        at: 999,
        decision: CaptureDecision::scenario(Scenario::Approved),
        image_type: "image/png".into(),
    });
    assert!(store.complete_web_process(&captured, None).unwrap());
}

/// The typed columns an older binary leaves empty (a process's `completes_at`, whether a
/// journey was given its document) are filled in from the records at the next open: an async
/// process still finishes by time, a sync one still does not, a journey created without a
/// document still takes one, once, and one an older binary gave a document takes no other. A
/// record that cannot be read does not stop the database from opening.
#[test]
fn sqlite_fills_in_the_typed_columns_an_older_binary_left_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("selo.db");
    let mut async_api = process("old-async", "wa");
    async_api.completes_at = Some(500);
    let mut awaiting = web_process("old-web", "wa");
    awaiting.person.dui_value.clear();
    {
        let store = SqliteStore::open(&path, Durability::Normal).unwrap();
        store.create_tenant(&tenant("wa", "sandbox")).unwrap();
        store.set_webhook(&endpoint("wa", 4)).unwrap();
        store.insert_process(&async_api, None, None, None).unwrap();
        store
            .insert_process(&process("old-sync", "wa"), None, None, None)
            .unwrap();
        store.insert_web_process(&awaiting, None).unwrap();
        store
            .insert_process(&process("old-broken", "wa"), None, None, None)
            .unwrap();
        let mut rolled_back = web_process("old-doc", "wa");
        rolled_back.person.dui_value.clear();
        store.insert_web_process(&rolled_back, None).unwrap();
    }
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "UPDATE processes SET completes_at = NULL, typed = NULL, finished_at = NULL;
         UPDATE web_processes SET has_document = NULL, finished_at = NULL WHERE id = 'old-web';
         UPDATE processes SET record = '{not a record' WHERE id = 'old-broken';",
    )
    .unwrap();
    // An older binary gave `old-doc` its document after this version wrote the row.
    let mut given = web_process("old-doc", "wa");
    given.person.dui_value = "00000000191".into();
    db.execute(
        "UPDATE web_processes SET record = ?1 WHERE id = 'old-doc'",
        [serde_json::to_string(&given).unwrap()],
    )
    .unwrap();
    drop(db);
    let store = SqliteStore::open(&path, Durability::Normal).unwrap();
    assert_eq!(store.next_finish_by_time(0).unwrap(), Some(100));
    let finished = store.finished_without_event(600, 10).unwrap();
    let ids: Vec<&str> = finished.api.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["old-async"], "an unreadable record is left alone");
    assert_eq!(finished.web.len(), 2, "both journeys expired at 100");
    assert!(
        !store.set_web_document(&given).unwrap(),
        "a document an older binary set counts"
    );
    let mut with_document = awaiting.clone();
    with_document.person.dui_value = "00000000191".into();
    assert!(store.set_web_document(&with_document).unwrap());
    assert!(
        !store.set_web_document(&with_document).unwrap(),
        "a document is set once"
    );
}

#[test]
fn sqlite_store_persists_across_reopen_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("selo.db");
    {
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        store.create_tenant(&tenant("t1", "sandbox")).unwrap();
        store
            .insert_process(&process("p1", "t1"), None, None, None)
            .unwrap();
    }
    let store = SqliteStore::open(&path, Durability::Normal).unwrap();
    assert_eq!(store.process("t1", "p1").unwrap().unwrap().id, "p1");
}

#[test]
fn sqlite_config_epoch_moves_with_configuration_changes_from_any_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("selo.db");
    let server = SqliteStore::open(&path, Durability::Normal).unwrap();
    let admin = SqliteStore::open(&path, Durability::Normal).unwrap();
    config_epoch_across_processes(&server, &admin);
}

#[test]
fn postgres_config_epoch_moves_with_configuration_changes_from_any_node() {
    let Some((database, server)) = postgres() else {
        return;
    };
    let admin = PostgresStore::open(database.url()).unwrap();
    config_epoch_across_processes(&server, &admin);
}

/// Two stores on one database (the server's and `selo admin`'s, or two nodes'): a
/// configuration change made through either moves the epoch both read, and a replay record
/// checked against the configuration before it is refused.
fn config_epoch_across_processes(server: &dyn Store, admin: &dyn Store) {
    server.create_tenant(&tenant("t1", "sandbox")).unwrap();
    let (a, k) = account("t1", "svc");
    server.create_account(&a, &k).unwrap();

    let e0 = server.config_epoch().unwrap();
    assert_eq!(
        server.config_epoch().unwrap(),
        e0,
        "stable while nothing changes"
    );
    mark(server, &[1; 32], 100, 1);
    server
        .insert_process(&process("p1", "t1"), None, None, None)
        .unwrap();
    assert_eq!(
        server.config_epoch().unwrap(),
        e0,
        "the server's own data writes are not configuration"
    );

    admin.set_account_enabled("t1", "svc", false).unwrap();
    assert_eq!(server.known_config_epoch(), e0, "not looked at yet");
    assert_eq!(
        record(server, [2; 32], 100, 1, e0),
        AssertionUseOutcome::StaleConfig,
        "a use checked against the old configuration is refused at commit"
    );
    assert!(!used(server, [2; 32], 100, 1), "and not recorded");
    let e1 = server.known_config_epoch();
    assert_ne!(e1, e0, "another connection's commit moves the epoch");
    assert_eq!(server.config_epoch().unwrap(), e1);

    let policy = |attempts| LockoutPolicy {
        attempts,
        window_seconds: 900,
        duration_seconds: 900,
    };
    server
        .record_auth_failure("t1", "svc", 10, policy(5))
        .unwrap();
    assert_eq!(
        server.config_epoch().unwrap(),
        e1,
        "a failure that does not lock changes nothing cached"
    );
    server
        .record_auth_failure("t1", "svc", 11, policy(2))
        .unwrap()
        .expect("the second failure locks");
    assert_ne!(
        server.config_epoch().unwrap(),
        e1,
        "this store's own configuration writes (the lock) move it"
    );
}

#[test]
fn sqlite_group_commit_lets_exactly_one_of_many_simultaneous_uses_through() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("selo.db"), Durability::Normal).unwrap();
    one_of_many_simultaneous_uses(&[&store]);
}

#[test]
fn postgres_group_commit_lets_exactly_one_of_many_simultaneous_uses_through() {
    let Some((database, store)) = postgres() else {
        return;
    };
    // Two nodes' stores on one database, each with its own group commit.
    let other = PostgresStore::open(database.url()).unwrap();
    one_of_many_simultaneous_uses(&[&store, &other]);
}

/// 32 threads record at once through `stores` in turn, half of them the same assertion:
/// exactly one of those is fresh.
fn one_of_many_simultaneous_uses(stores: &[&dyn Store]) {
    let epoch = stores[0].config_epoch().unwrap();
    let outcomes: Vec<AssertionUseOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let store = stores[i % stores.len()];
                // Half of them present the same assertion; the others each their own.
                let hash = if i % 2 == 0 {
                    [5; 32]
                } else {
                    [100 + i as u8; 32]
                };
                s.spawn(move || record(store, hash, 100, 1, epoch))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let fresh_same = outcomes
        .iter()
        .step_by(2)
        .filter(|o| **o == AssertionUseOutcome::Fresh)
        .count();
    assert_eq!(fresh_same, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .skip(1)
            .step_by(2)
            .all(|o| *o == AssertionUseOutcome::Fresh),
        "{outcomes:?}"
    );
}

/// Every row `store` exports, table by table.
fn exported(store: &dyn Store) -> Vec<(&'static str, Vec<Cell>)> {
    let mut rows = Vec::new();
    store
        .export_rows(&mut |table: &'static Table, row: Vec<Cell>| {
            rows.push((table.name, row));
            Ok(())
        })
        .unwrap();
    rows
}

/// Imports `rows` into `store`; whether the hook before the rows ran.
fn import_noting(store: &dyn Store, rows: &[(&'static str, Vec<Cell>)]) -> (StoreResult<()>, bool) {
    let mut rows = rows.iter();
    let mut before = false;
    let result = store.import_rows(
        &mut || {
            before = true;
            Ok(())
        },
        &mut || {
            Ok(rows
                .next()
                .map(|(name, row)| (Table::named(name).unwrap(), row.clone())))
        },
    );
    (result, before)
}

/// Imports `rows` into `store`.
fn import(store: &dyn Store, rows: &[(&'static str, Vec<Cell>)]) -> StoreResult<()> {
    import_noting(store, rows).0
}

/// Export and import: a target holding anything is refused; a row of the wrong shape rolls
/// the whole import back; what was imported exports the same.
fn transfer(store: &dyn Store) {
    assert!(exported(store).is_empty());
    assert!(store.occupied_table().unwrap().is_none());
    let tenant_row = |id: &str| {
        let mut row = vec![Cell::Null; Table::named("tenants").unwrap().columns.len()];
        row[0] = Cell::Text(id.into());
        row[1] = Cell::Text(format!("Tenant {id}"));
        row[2] = Cell::Text("sandbox".into());
        row[4] = Cell::Integer(1);
        ("tenants", row)
    };
    // A row with a value of another type, after a good one: nothing stays.
    let mut bad = tenant_row("t2");
    bad.1[4] = Cell::Text("one".into());
    assert!(matches!(
        import(store, &[tenant_row("t1"), bad]),
        Err(StoreError::Corrupt(_))
    ));
    assert!(store.occupied_table().unwrap().is_none());
    assert!(store.tenant("t1").unwrap().is_none());
    // A row the schema rejects (an account of no tenant), likewise.
    let (a, _) = account("t9", "svc");
    let mut orphan = vec![Cell::Null; Table::named("accounts").unwrap().columns.len()];
    orphan[0] = Cell::Text(a.tenant_id);
    orphan[1] = Cell::Text(a.name);
    orphan[2] = Cell::Bool(true);
    orphan[3] = Cell::Text(String::new());
    orphan[6] = Cell::Integer(2);
    assert!(import(store, &[tenant_row("t1"), ("accounts", orphan)]).is_err());
    assert!(store.occupied_table().unwrap().is_none());

    // The hook before the rows failing (the images could not be stored): nothing stays.
    let failing = store.import_rows(
        &mut || Err(StoreError::Interrupted("no images".into())),
        &mut || Ok(Some((Table::named("tenants").unwrap(), tenant_row("t1").1))),
    );
    assert!(matches!(failing, Err(StoreError::Interrupted(_))));
    assert!(store.occupied_table().unwrap().is_none());

    let (result, before) = import_noting(store, &[tenant_row("t1"), tenant_row("t2")]);
    result.unwrap();
    assert!(before);
    assert_eq!(store.tenant("t1").unwrap().unwrap().name, "Tenant t1");
    assert_eq!(exported(store), [tenant_row("t1"), tenant_row("t2")]);
    assert_eq!(store.occupied_table().unwrap().unwrap().name, "tenants");
    // A target that holds rows is refused before the hook runs.
    let (result, before) = import_noting(store, &[tenant_row("t3")]);
    assert!(matches!(result, Err(StoreError::Conflict(_))));
    assert!(!before, "nothing is stored for a refused import");
    assert!(store.tenant("t3").unwrap().is_none());
}

/// What every behaviour leaves behind moves from `from` into a fresh store of each backend
/// and back, unchanged; between them they fill every table that moves.
/// A fresh store (`None`: SKIPPED) and what must outlive it.
type FreshStore<'a> = &'a dyn Fn() -> Option<(Box<dyn std::any::Any>, Box<dyn Store>)>;

/// Something a behaviour leaves in a store.
type Filler<'a> = &'a dyn Fn(&dyn Store);

fn every_table_moves(fresh: &[FreshStore<'_>]) {
    // A plan with one fault consumed (the fault-plan behaviour ends with none).
    let consumed_fault = |store: &dyn Store| {
        use selo_store::sandbox_faults::{FaultPlanRecord, FaultUse};
        let plan = FaultPlanRecord {
            id: "f1".into(),
            tenant_id: "ta".into(),
            method: None,
            path: "/processes/v1".into(),
            faults: vec!["503".into(), "reset".into()],
            global: false,
            expires_at: 200,
            consumed: Vec::new(),
        };
        assert!(store.create_fault_plan(&plan, 2, 100).unwrap());
        let used = FaultUse {
            fault: String::new(),
            at: "2027-01-01T00:00:00.000Z".into(),
            request_id: "r1".into(),
            request: "POST /processes/v1".into(),
        };
        assert!(store.consume_fault("f1", 100, &used).unwrap().is_some());
    };
    let behaviours: [Filler<'_>; 13] = [
        &consumed_fault,
        &lockout,
        &replay_records,
        &api_keys,
        &processes,
        &web_processes,
        &blob_ownership,
        &idempotency,
        &webhook_queue,
        &personal_data,
        &faces,
        &fault_plans,
        &accounts_and_keys,
    ];
    // Backends without a server here (SKIPPED outside CI) are left out, not the whole test.
    let fresh: Vec<FreshStore<'_>> = fresh
        .iter()
        .copied()
        .filter(|make| make().is_some())
        .collect();
    let mut filled = std::collections::BTreeSet::new();
    for behaviour in behaviours {
        for from in &fresh {
            let (_from_db, source) = from().unwrap();
            behaviour(&*source);
            let rows = exported(&*source);
            filled.extend(rows.iter().map(|(name, _)| *name));
            for to in &fresh {
                let (_to_db, target) = to().unwrap();
                import(&*target, &rows).unwrap();
                assert_eq!(exported(&*target), rows);
            }
        }
    }
    let missing: Vec<_> = TABLES
        .iter()
        .map(|t| t.name)
        .filter(|name| !filled.contains(name))
        .collect();
    assert!(missing.is_empty(), "no behaviour fills {missing:?}");
}

#[test]
fn every_table_moves_between_sqlite_and_postgres() {
    every_table_moves(&[
        &|| sqlite().map(|(d, s)| (Box::new(d) as Box<dyn std::any::Any>, Box::new(s) as _)),
        &|| postgres().map(|(d, s)| (Box::new(d) as Box<dyn std::any::Any>, Box::new(s) as _)),
        &|| pgvector().map(|(d, s)| (Box::new(d) as Box<dyn std::any::Any>, Box::new(s) as _)),
    ]);
}

/// Runs `work` with a connection of its own to the database at `url` (what the store does not
/// show: plans, the schema).
fn on_database<T>(url: &str, work: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            work(&client).await
        })
}

/// A deterministic stream of embeddings (a linear congruential generator: no RNG dependency).
struct FaceStream(u64);

impl FaceStream {
    fn next_value(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    fn face(&mut self) -> Vec<f32> {
        (0..selo_store::postgres::INDEXED_DIMENSIONS)
            .map(|_| self.next_value())
            .collect()
    }

    /// `face` moved a little: the same person in another photo.
    fn near(&mut self, face: &[f32]) -> Vec<f32> {
        face.iter().map(|v| v + self.next_value() * 0.05).collect()
    }
}

/// The exact nearest distance from `target` to `faces`.
fn exact_nearest(faces: &[Vec<f32>], target: &[f32]) -> Option<f32> {
    faces
        .iter()
        .map(|f| selo_domain::verification::distance(f, target))
        .min_by(f32::total_cmp)
}

#[test]
fn pgvector_search_goes_through_the_index_and_finds_what_a_scan_finds() {
    use selo_store::{FaceSearch, Faces as _};
    let Some((database, store)) = pgvector() else {
        return;
    };
    let mut faces = FaceStream(7);
    store.create_tenant(&tenant("big", "production")).unwrap();
    store.create_tenant(&tenant("small", "production")).unwrap();
    let big: Vec<Vec<f32>> = (0..2000).map(|_| faces.face()).collect();
    for (i, chunk) in big.chunks(20).enumerate() {
        store.enroll("big", &format!("B{i}"), chunk, 10).unwrap();
    }
    let small: Vec<Vec<f32>> = (0..5).map(|_| faces.face()).collect();
    store.enroll("small", "S", &small, 10).unwrap();

    // The same person under another code: found, at the distance a scan finds.
    for enrolled in big.iter().step_by(97) {
        let probe = faces.near(enrolled);
        assert_eq!(
            store.nearest_other("big", "NEW", &probe).unwrap(),
            exact_nearest(&big, &probe)
        );
    }
    // A tenant with fewer faces than the index is asked for: the scan answers, exactly, and
    // never with another tenant's faces.
    for enrolled in &small {
        let probe = faces.near(enrolled);
        assert_eq!(
            store.nearest_other("small", "NEW", &probe).unwrap(),
            exact_nearest(&small, &probe)
        );
    }
    assert_eq!(store.nearest_other("small", "S", &small[0]).unwrap(), None);
    // Faces of another length are stored and found by scan.
    store.create_tenant(&tenant("odd", "production")).unwrap();
    store.enroll("odd", "O", &[vec![1.0; 4]], 10).unwrap();
    assert_eq!(
        store.nearest_other("odd", "NEW", &[1.0; 4]).unwrap(),
        Some(0.0)
    );

    // The big tenant's search is the index's.
    let plan = on_database(database.url(), async |client| {
        client
            .batch_execute("ANALYZE identity_faces")
            .await
            .unwrap();
        let vector = format!(
            "[{}]",
            big[0]
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        client
                .query(
                    "EXPLAIN SELECT embedding FROM identity_faces WHERE tenant_id = 'big' AND code <> 'NEW' AND embedding_vector IS NOT NULL ORDER BY embedding_vector <-> $1::text::vector LIMIT 8",
                    &[&vector],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
    });
    assert!(plan.contains("identity_faces_by_vector"), "{plan}");
}

#[test]
fn postgres_without_pgvector_scans_and_says_why() {
    let Some((_database, store)) = postgres() else {
        return;
    };
    match store.face_index() {
        FaceIndex::Scan(why) => assert!(why.contains("no pgvector"), "{why}"),
        // A developer's server may have it; the machine's PostgreSQL 15 (and CI's) has not.
        FaceIndex::Hnsw if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: this PostgreSQL server has pgvector")
        }
        FaceIndex::Hnsw => panic!("CI's PostgreSQL 15 has no pgvector"),
    }
}

/// Every column of every table of `schema` (table, column) either moves (it is in `TABLES`)
/// or is listed as not moving, and every table too: a column added without a `TABLES` entry
/// would otherwise be left out of every export.
fn everything_is_moved_or_listed(schema: &[(String, String)]) {
    use selo_store::transfer::{NOT_MOVED_COLUMNS, NOT_MOVED_TABLES};
    let mut unaccounted = Vec::new();
    for (table, column) in schema {
        if NOT_MOVED_TABLES.contains(&table.as_str())
            || NOT_MOVED_COLUMNS.contains(&(table.as_str(), column.as_str()))
        {
            continue;
        }
        let moves = Table::named(table).is_some_and(|t| t.columns.iter().any(|(c, _)| c == column));
        if !moves {
            unaccounted.push(format!("{table}.{column}"));
        }
    }
    assert!(
        unaccounted.is_empty(),
        "neither moved nor listed: {unaccounted:?}"
    );
    for table in TABLES {
        for (column, _) in table.columns {
            assert!(
                schema.iter().any(|(t, c)| t == table.name && c == column),
                "{}.{column} is not in the schema",
                table.name
            );
        }
    }
}

#[test]
fn sqlite_schema_is_all_moved_or_listed() {
    let (dir, store) = sqlite().unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("selo.db")).unwrap();
    let schema: Vec<(String, String)> = conn
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    everything_is_moved_or_listed(&schema);
}

#[test]
fn postgres_schema_is_all_moved_or_listed() {
    for open in [postgres, pgvector] {
        let Some((database, store)) = open() else {
            continue;
        };
        drop(store);
        let schema = on_database(database.url(), async |client| {
            client
                    .query(
                        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect::<Vec<(String, String)>>()
        });
        everything_is_moved_or_listed(&schema);
    }
}
