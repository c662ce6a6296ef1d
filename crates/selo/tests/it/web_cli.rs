//! The client commands on the Web & SDK contract against a real server: `process create --web`,
//! `process get|wait` of Web & SDK processes, `selfie get`, `evidence get` (CONTRACT §6, §15).
//! The journey is completed without a browser, through its capture call.

use crate::support::{Server, Tenant, images, selo_command};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Writes a credentials file for `t` (the demo format) and returns its path; `api_key: false`
/// leaves `apiKey` out, as a Web & SDK-only integrator's file would.
fn credentials_file(s: &Server, t: &Tenant, api_key: bool) -> PathBuf {
    let path = s
        .data
        .path()
        .join(format!("{}-web-credentials-{api_key}.json", t.id));
    let mut body = json!({
        "url": s.env(&t.env).url,
        "tenantId": t.id,
        "iss": t.iss,
        "privateKeyFile": t.key_path.file_name().unwrap().to_str().unwrap(),
    });
    if api_key {
        body["apiKey"] = json!(t.api_key);
    }
    std::fs::write(&path, serde_json::to_vec(&body).unwrap()).unwrap();
    path
}

fn selo(args: &[&str], creds: &Path) -> Output {
    selo_command()
        .args(args)
        .arg("--credentials")
        .arg(creds)
        .env_remove("SELO_URL")
        .env_remove("SELO_APIKEY")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout is not JSON: {} / stderr: {}",
            stdout(out),
            stderr(out)
        )
    })
}

fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: stdout {} / stderr {}",
        stdout(out),
        stderr(out)
    );
}

/// `selo process create --web … --json`; returns the `process` object.
fn create_web(creds: &Path, cpf: &str) -> Value {
    let out = selo(
        &[
            "process",
            "create",
            "--web",
            "--cpf",
            cpf,
            "--name",
            "Maria Silva",
            "--json",
        ],
        creds,
    );
    assert_exit(&out, 0, "create --web");
    json_out(&out)["response"]["process"].clone()
}

/// Completes the journey of `process` with `jpeg`, as the journey page would.
async fn capture(s: &Server, process: &Value, jpeg: &[u8]) {
    let res = s.capture(process, &images::b64(jpeg)).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn create_web_prints_the_journey_link_and_json_the_created_process() {
    let s = Server::start();
    let t = s.tenant();
    let creds = credentials_file(&s, &t, true);

    // Human output: the link alone on stdout, the next step on stderr.
    let out = selo(
        &[
            "process",
            "create",
            "--web",
            "--cpf",
            "00000000191",
            "--name",
            "Maria Silva",
        ],
        &creds,
    );
    assert_exit(&out, 0, "a created process is pending");
    let text = stdout(&out);
    let url = text.trim();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        url.starts_with(&format!("{}/journey/", s.sandbox().url)) && url.contains("?token="),
        "{url}"
    );
    assert!(
        stderr(&out).contains("selo process wait"),
        "{}",
        stderr(&out)
    );
    let page = s.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200, "the link is a real journey page");

    // --json: the server's body, a pending verdict, the request id; the defaults.
    let out = selo(
        &[
            "process",
            "create",
            "--web",
            "--cpf",
            "00000000191",
            "--name",
            "Maria Silva",
            "--json",
        ],
        &creds,
    );
    assert_exit(&out, 0, "create --web --json");
    let v = json_out(&out);
    let p = &v["response"]["process"];
    assert_eq!(p["state"], "PROCESS_STATE_CREATED");
    assert_eq!(p["result"], "PROCESS_RESULT_UNSPECIFIED");
    assert_eq!(p["flow"], "id");
    assert_eq!(p["purpose"], "biometryonboarding");
    assert_eq!(p["callbackUri"], "/");
    assert_eq!(p["person"]["duiType"], "DUI_TYPE_BR_CPF");
    assert_eq!(p["person"]["friendlyName"], "Maria Silva");
    assert!(
        !p["clientReference"].as_str().unwrap().is_empty(),
        "a reference is generated"
    );
    assert_eq!(v["verdict"]["verdict"], "pending");
    assert!(v["requestId"].is_string());

    // The options reach the body.
    let out = selo(
        &[
            "process",
            "create",
            "--web",
            "--flow",
            "idcheck",
            "--purpose",
            "creditprocess",
            "--callback-uri",
            "https://example.com/done",
            "--client-reference",
            "order-77",
            "--cpf",
            "00000000191",
            "--name",
            "Maria Silva",
            "--json",
        ],
        &creds,
    );
    assert_exit(&out, 0, "create --web with options");
    let p = &json_out(&out)["response"]["process"];
    assert_eq!(
        (
            &p["flow"],
            &p["purpose"],
            &p["callbackUri"],
            &p["clientReference"]
        ),
        (
            &json!("idcheck"),
            &json!("creditprocess"),
            &json!("https://example.com/done"),
            &json!("order-77")
        )
    );

    // A validation error is a failed call (3) with the server's code and description.
    let out = selo(
        &[
            "process",
            "create",
            "--web",
            "--purpose",
            "fun",
            "--cpf",
            "00000000191",
            "--name",
            "Maria Silva",
            "--json",
        ],
        &creds,
    );
    assert_exit(&out, 3, "invalid purpose");
    assert_eq!(json_out(&out)["response"]["error"]["code"], "3");
    assert!(stderr(&out).contains("invalid purpose"), "{}", stderr(&out));

    // A Web & SDK-only credentials file (no apiKey) creates too: the contract is Bearer only.
    let web_only = credentials_file(&s, &t, false);
    assert_eq!(
        create_web(&web_only, "00000000191")["state"],
        "PROCESS_STATE_CREATED"
    );

    // --web and --image are exclusive, and one of them is required: usage errors (2).
    for args in [
        &["--web", "--image", "x.jpg"][..],
        &[][..],
        &["--flow", "id"][..],
        &["--image", "x.jpg", "--purpose", "creditprocess"][..],
    ] {
        let mut all = vec!["process", "create", "--cpf", "00000000191", "--name", "Jo"];
        all.extend_from_slice(args);
        assert_exit(&selo(&all, &creds), 2, &format!("{args:?}"));
    }
}

#[tokio::test]
async fn get_and_wait_give_the_journey_verdict_and_exit_code() {
    let s = Server::start();
    let t = s.tenant();
    let creds = credentials_file(&s, &t, true);
    let jpeg = images::jpeg(640, 480);
    let approved = create_web(&creds, "00000000191");
    let denied = create_web(&creds, "00000000272");
    let (approved_id, denied_id) = (
        approved["id"].as_str().unwrap(),
        denied["id"].as_str().unwrap(),
    );

    // Before the journey: pending, which is not negative (0); wait times out (5).
    let out = selo(&["process", "get", approved_id], &creds);
    assert_exit(&out, 0, "pending");
    assert!(stdout(&out).contains("pending"), "{}", stdout(&out));
    let out = selo(
        &["process", "wait", approved_id, "--timeout", "1", "--json"],
        &creds,
    );
    assert_exit(&out, 5, "wait before the journey");
    assert_eq!(
        json_out(&out)["response"]["process"]["state"],
        "PROCESS_STATE_CREATED"
    );
    assert!(stderr(&out).contains("did not finish"), "{}", stderr(&out));

    capture(&s, &approved, &jpeg).await;
    capture(&s, &denied, &jpeg).await;

    let out = selo(&["process", "get", approved_id, "--json"], &creds);
    assert_exit(&out, 0, "approved");
    let v = json_out(&out);
    assert_eq!(v["response"]["process"]["id"], approved_id);
    assert_eq!(v["response"]["process"]["state"], "PROCESS_STATE_FINISHED");
    assert_eq!(v["response"]["process"]["result"], "PROCESS_RESULT_OK");
    assert_eq!(v["verdict"]["verdict"], "approved");
    assert!(v["requestId"].is_string());
    let out = selo(&["process", "wait", approved_id, "--timeout", "5"], &creds);
    assert_exit(&out, 0, "wait approved");
    assert!(stdout(&out).contains("approved"), "{}", stdout(&out));

    let out = selo(&["process", "get", denied_id, "--json"], &creds);
    assert_exit(&out, 1, "identity denied");
    let v = json_out(&out);
    assert_eq!(
        v["response"]["process"]["result"],
        "PROCESS_RESULT_INVALID_IDENTITY"
    );
    assert_eq!(v["verdict"]["verdict"], "denied");
    let out = selo(
        &["process", "wait", denied_id, "--timeout", "5", "--json"],
        &creds,
    );
    assert_exit(&out, 1, "wait denied");
    assert_eq!(json_out(&out)["verdict"]["verdict"], "denied");
}

/// `process get` finds the contract an id belongs to. (Its own server and tenant: each CLI run
/// signs a fresh assertion, and one key signs only so many per second.)
#[tokio::test]
async fn get_finds_the_contract_of_the_id() {
    let s = Server::start();
    let t = s.tenant();
    let creds = credentials_file(&s, &t, true);
    let jpeg = images::jpeg(640, 480);
    let approved = create_web(&creds, "00000000191");
    let approved_id = approved["id"].as_str().unwrap();
    capture(&s, &approved, &jpeg).await;

    // Without an API key only the Web & SDK contract is asked.
    let web_only = credentials_file(&s, &t, false);
    assert_exit(
        &selo(&["process", "get", approved_id], &web_only),
        0,
        "web-only credentials",
    );

    // An API-contract process still reads through the API contract.
    let selfie = s.data.path().join("selfie.jpg");
    std::fs::write(&selfie, &jpeg).unwrap();
    let out = selo(
        &[
            "process",
            "create",
            "--image",
            selfie.to_str().unwrap(),
            "--cpf",
            "00000000191",
            "--name",
            "Jo Doe",
            "--json",
        ],
        &creds,
    );
    let api_id = json_out(&out)["response"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = selo(&["process", "get", &api_id, "--json"], &creds);
    assert_exit(&out, 0, "API process");
    assert_eq!(json_out(&out)["response"]["status"], 3);

    // Unknown to both contracts: the call failed (3), naming both answers.
    let out = selo(
        &["process", "get", "00000000-0000-0000-0000-000000000000"],
        &creds,
    );
    assert_exit(&out, 3, "unknown id");
    let err = stderr(&out);
    assert!(err.contains("40401") && err.contains("code 5"), "{err}");
    let out = selo(
        &["process", "get", "00000000-0000-0000-0000-000000000000"],
        &web_only,
    );
    assert_exit(&out, 3, "unknown id, web only");
    assert!(stderr(&out).contains("code 5"), "{}", stderr(&out));
}

#[tokio::test]
async fn selfie_get_writes_exactly_the_captured_jpeg() {
    let s = Server::start();
    let t = s.tenant();
    let creds = credentials_file(&s, &t, true);
    let jpeg = images::jpeg(640, 480);
    let p = create_web(&creds, "00000000191");
    let id = p["id"].as_str().unwrap();
    let out_file = s.data.path().join("got-selfie.jpg");
    let out_path = out_file.to_str().unwrap();

    // Before the journey: 409, a failed call (3), nothing written.
    let out = selo(&["selfie", "get", id, "--out", out_path], &creds);
    assert_exit(&out, 3, "selfie before completion");
    let err = stderr(&out);
    assert!(err.contains("409") && err.contains("not finished"), "{err}");
    assert!(!out_file.exists(), "no file on failure");

    capture(&s, &p, &jpeg).await;
    let out = selo(&["selfie", "get", id, "--out", out_path], &creds);
    assert_exit(&out, 0, "selfie");
    assert_eq!(std::fs::read(&out_file).unwrap(), jpeg);
    assert!(stdout(&out).contains("image/jpeg"), "{}", stdout(&out));

    // --json prints the server's body; the file is written all the same.
    std::fs::remove_file(&out_file).unwrap();
    let out = selo(&["selfie", "get", id, "--out", out_path, "--json"], &creds);
    assert_exit(&out, 0, "selfie --json");
    let v = json_out(&out);
    assert_eq!(v["response"]["contentType"], "image/jpeg");
    assert_eq!(v["response"]["fileContents"], images::b64(&jpeg));
    assert!(v["verdict"].is_null());
    assert_eq!(std::fs::read(&out_file).unwrap(), jpeg);

    // Without the tenant's selfie permission: 403 code 7 (3).
    s.admin(&["tenant", "set-permissions", &t.id, "evidenceset"]);
    let out = selo(&["selfie", "get", id, "--out", out_path, "--json"], &creds);
    assert_exit(&out, 3, "no permission");
    assert_eq!(json_out(&out)["response"]["error"]["code"], "7");
    assert!(stderr(&out).contains("no permission"), "{}", stderr(&out));

    // Unknown process: 404 (3).
    let out = selo(
        &[
            "selfie",
            "get",
            "00000000-0000-0000-0000-000000000000",
            "--out",
            out_path,
        ],
        &creds,
    );
    assert_exit(&out, 3, "unknown process");
}

#[tokio::test]
async fn evidence_get_writes_a_pdf() {
    let s = Server::start();
    let t = s.tenant();
    let creds = credentials_file(&s, &t, true);
    let p = create_web(&creds, "00000000191");
    let id = p["id"].as_str().unwrap();
    let out_file = s.data.path().join("evidence.pdf");
    let out_path = out_file.to_str().unwrap();

    let out = selo(&["evidence", "get", id, "--out", out_path], &creds);
    assert_exit(&out, 3, "evidence before completion");
    assert!(stderr(&out).contains("409"), "{}", stderr(&out));
    assert!(!out_file.exists());

    capture(&s, &p, &images::jpeg(640, 480)).await;
    let out = selo(
        &["evidence", "get", id, "--out", out_path, "--json"],
        &creds,
    );
    assert_exit(&out, 0, "evidence");
    assert_eq!(json_out(&out)["response"]["contentType"], "application/pdf");
    let pdf = std::fs::read(&out_file).unwrap();
    assert!(pdf.starts_with(b"%PDF"), "{:?}", &pdf[..pdf.len().min(16)]);
}
