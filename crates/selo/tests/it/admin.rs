//! The provisioning CLI (`selo admin …`) against a running server.

use crate::support::Server;
use serde_json::Value;

#[tokio::test]
async fn tenant_account_and_apikey_lifecycle_with_json_output() {
    let s = Server::start();
    let t = s.admin(&["tenant", "create", "Acme Bank", "--rate-limit", "20"]);
    let tid = t["tenantId"].as_str().unwrap();
    assert_eq!(t["environment"], "sandbox");
    let list = s.admin(&["tenant", "list"]);
    assert_eq!(list[0]["tenantId"], tid);
    assert_eq!(list[0]["rateLimit"], 20);

    let key = s.data.path().join("k.pem");
    let a = s.admin(&[
        "account",
        "create",
        "--tenant",
        tid,
        "svc",
        "--key-out",
        key.to_str().unwrap(),
        "--allow-ip",
        "10.0.0.0/8",
    ]);
    assert_eq!(a["iss"], format!("svc@{tid}.iam.acesso.io"));
    assert_eq!(a["account"], "svc");
    assert_eq!(a["tenantId"], tid);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The private key never reaches the store: only its public half is in the database.
    let body = pem.lines().nth(1).unwrap();
    if s.database.is_none() {
        let db = std::fs::read(s.data.path().join("selo.db-wal"))
            .unwrap_or_default()
            .into_iter()
            .chain(std::fs::read(s.data.path().join("selo.db")).unwrap())
            .collect::<Vec<u8>>();
        assert!(!db.windows(body.len()).any(|w| w == body.as_bytes()));
    } else {
        let keys = s
            .sql_text(
                "SELECT string_agg(public_key_pem, '') FROM account_keys",
                &[],
            )
            .unwrap();
        assert!(keys.contains("PUBLIC KEY") && !keys.contains(body));
    }

    let accounts = s.admin(&["account", "list", "--tenant", tid]);
    assert_eq!(accounts[0]["allowIps"][0], "10.0.0.0/8");
    assert_eq!(accounts[0]["enabled"], true);

    let k = s.admin(&[
        "apikey",
        "create",
        "--tenant",
        tid,
        "--capabilities",
        "identity,liveness",
    ]);
    assert!(k["apiKey"].as_str().unwrap().starts_with("selo_"));
    let keys = s.admin(&["apikey", "list", "--tenant", tid]);
    assert_eq!(
        keys[0]["capabilities"],
        serde_json::json!(["liveness", "identity"])
    );
    s.admin(&["apikey", "revoke", k["id"].as_str().unwrap()]);
    assert_eq!(
        s.admin(&["apikey", "list", "--tenant", tid])[0]["revoked"],
        true
    );
}

#[tokio::test]
async fn admin_errors_say_what_to_fix_and_exit_3_or_2_for_invalid_values() {
    let s = Server::start();
    let out = s.admin_raw(&[
        "apikey",
        "create",
        "--tenant",
        "nope",
        "--capabilities",
        "identity",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant 'nope' not found"));
    let t = s.admin(&["tenant", "create", "X"]);
    let tid = t["tenantId"].as_str().unwrap();
    let out = s.admin_raw(&[
        "apikey",
        "create",
        "--tenant",
        tid,
        "--capabilities",
        "identity,face",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an invalid value is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown capability 'face'"));
    let out = s.admin_raw(&["account", "create", "--tenant", tid, "a"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a key source is required (usage error)"
    );
    let key = s.data.path().join("a.pem");
    s.admin(&[
        "account",
        "create",
        "--tenant",
        tid,
        "a",
        "--key-out",
        key.to_str().unwrap(),
    ]);
    let out = s.admin_raw(&[
        "account",
        "create",
        "--tenant",
        tid,
        "b",
        "--key-out",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "never overwrites a key file");
    let out = s.admin_raw(&[
        "account",
        "create",
        "--tenant",
        tid,
        "c",
        "--public-key",
        key.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds a private key"));
    let out = s.admin_raw(&[
        "account",
        "set-access",
        "--tenant",
        tid,
        "a",
        "--allowed-hours",
        "8-18",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // Each refusal names the value and says what is expected.
    for (bad, says) in [
        (
            vec![
                "account",
                "set-access",
                "--tenant",
                tid,
                "a",
                "--allowed-hours",
                "25:00-01:00",
            ],
            "'25:00-01:00' is not a UTC window of the form HH:MM-HH:MM",
        ),
        (
            vec![
                "account",
                "set-access",
                "--tenant",
                tid,
                "a",
                "--allow-ip",
                "10.0.0.0/99",
            ],
            "'10.0.0.0/99' is not an IP address or CIDR",
        ),
        (
            vec!["tenant", "set-flows", tid, "nonsense"],
            "unknown flow 'nonsense'; use a comma list of:",
        ),
        (
            vec!["tenant", "set-permissions", tid, "selfie,nonsense"],
            "unknown permission 'nonsense'; use a comma list of: selfie, evidenceset",
        ),
        (
            vec!["tenant", "create", ""],
            "tenant name must be 1-200 characters",
        ),
    ] {
        let out = s.admin_raw(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{bad:?}: {err}");
    }
    let out = s.admin_raw(&["account", "disable", "--tenant", tid, "ghost"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    let v: Value = s.admin(&["account", "list", "--tenant", tid]);
    assert_eq!(v.as_array().unwrap().len(), 1);
}
