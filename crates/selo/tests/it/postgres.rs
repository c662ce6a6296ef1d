//! The PostgreSQL store through the real binary (CONTRACT §18): `selo migrate`, `serve` and
//! `admin` with `--database postgres://…`, on a fresh database of the machine's PostgreSQL
//! server each (SKIPPED without one, a failure under `CI=true`). The whole suite also runs on
//! PostgreSQL with `SELO_TEST_DATABASE=postgres`.

use crate::support::{Opts, Server, postgres_database, selo_bin};
use std::process::Command;
use std::sync::Arc;

fn migrate(url: &str) -> std::process::Output {
    Command::new(selo_bin())
        .args(["migrate", "--json", "--database", url])
        .output()
        .unwrap()
}

#[test]
fn migrate_applies_the_schema_once_while_nodes_start_together() {
    let Some(database) =
        postgres_database("migrate_applies_the_schema_once_while_nodes_start_together")
    else {
        return;
    };
    // Four migrations at once: each waits for the advisory lock, then finds the schema there.
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = database.url().to_string();
            std::thread::spawn(move || migrate(&url))
        })
        .collect();
    for run in runs {
        let out = run.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(said["ok"], true);
    }
}

#[test]
fn a_database_that_is_not_one_is_refused_saying_what_is() {
    let out = Command::new(selo_bin())
        .args([
            "admin",
            "tenant",
            "list",
            "--database",
            "mysql://root:hunter2@localhost/selo",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("postgres://USER@HOST:PORT/DB"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // An unreachable server: the error names it, never its password.
    let out = migrate("postgres://selo:hunter2@127.0.0.1:1/selo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("postgres://selo:***@127.0.0.1:1/selo"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_on_postgres_serves_the_contract_and_keeps_it_across_a_restart() {
    let test = "a_server_on_postgres_serves_the_contract_and_keeps_it_across_a_restart";
    let Some(database) = postgres_database(test) else {
        return;
    };
    let mut s = Server::start_with(Opts {
        postgres: Some(Arc::new(database)),
        ..Opts::default()
    });
    let t = s.tenant();
    let token = s.token(&t).await;
    let created = s.api_process(&t, &token, "00000000191").await;
    let web = s.web_process(&token, "00000000191").await;
    assert_eq!(s.complete_journey(&web).await, 200);

    // Nothing is in the data directory's SQLite file: the database holds it all.
    assert!(!s.data.path().join("selo.db").exists());
    s.restart();
    let read = s.get_process(&t, &token, &created["id"]).await;
    assert_eq!(read.status(), 200);
    let read: serde_json::Value = read.json().await.unwrap();
    assert_eq!(read["id"], created["id"]);
    assert_eq!(read["status"], created["status"]);
    // The access token of the first run still works; the admin CLI reads the same database.
    let listed = s.admin(&["tenant", "list"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["tenantId"] == t.id.as_str()),
        "{listed}"
    );
}
