//! Client commands built on the SDK: `selo token`, `selo process create|get|wait`.
//!
//! With `--json` each prints `{"response", "verdict", "requestId"}`; exit codes separate a
//! negative verdict (1) from a failed call (3), an unknown outcome (4) and a timeout (5).

use crate::cli::{ClientArgs, ProcessArgs, ProcessCommand};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use selo_sdk::{Assessment, Client, Credentials, Error, Verdict};
use selo_wire::admin::DemoCredentials;
use selo_wire::error::{ErrorBody, ErrorEnvelope};
use selo_wire::process::{ApiProcess, CreateProcessRequest, Subject};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

/// Done: verdict positive, pending, or none involved.
pub const EXIT_OK: u8 = 0;
/// Verdict negative (denied, inconclusive, retry-capture, expired, error, unknown).
pub const EXIT_NEGATIVE: u8 = 1;
/// The call failed (transport, auth, any other 4xx, a 5xx after the retries).
pub const EXIT_FAILED: u8 = 3;
/// A create whose outcome is unknown.
pub const EXIT_OUTCOME_UNKNOWN: u8 = 4;
/// `process wait` timed out.
pub const EXIT_TIMEOUT: u8 = 5;

/// What `--json` prints.
#[derive(Serialize)]
struct Output<T: Serialize> {
    response: T,
    verdict: Option<Assessment>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

fn print_json<T: Serialize>(response: T, verdict: Option<Assessment>, request_id: Option<String>) {
    let out = Output {
        response,
        verdict,
        request_id,
    };
    match serde_json::to_string(&out) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: could not print the response: {e}"),
    }
}

/// Loads credentials: `--credentials` (else `DATA/demo/credentials.json`), then `--url` and
/// `--apikey` override the file's values.
fn credentials(args: &ClientArgs) -> anyhow::Result<Credentials> {
    let path = args
        .credentials
        .clone()
        .unwrap_or_else(|| args.common.data.join("demo").join("credentials.json"));
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "reading credentials {}: pass --credentials FILE (or SELO_CREDENTIALS), or start `selo serve --demo` to create the demo folder",
            path.display()
        )
    })?;
    let mut file: DemoCredentials = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a credentials file {{url, tenantId, iss, privateKeyFile, apiKey}}",
            path.display()
        )
    })?;
    if let Some(url) = &args.url {
        file.url = url.clone();
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut creds = Credentials::from_demo(&file, dir)?;
    if let Some(key) = &args.apikey {
        creds = creds.with_api_key(key.clone());
    }
    Ok(creds)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn describe(p: &ApiProcess, a: &Assessment) -> String {
    format!(
        "process {} (status {}): {} — {}",
        p.id,
        p.status,
        a.verdict(),
        a.reason()
    )
}

fn exit_for(verdict: &Verdict) -> u8 {
    match verdict {
        Verdict::Approved | Verdict::Pending => EXIT_OK,
        _ => EXIT_NEGATIVE,
    }
}

fn envelope(e: &selo_sdk::ApiError) -> ErrorEnvelope {
    ErrorEnvelope {
        error: ErrorBody {
            code: e.code.clone().unwrap_or_default(),
            description: e.description.clone(),
            fields: Some(e.fields.clone()).filter(|f| !f.is_empty()),
            request_id: e.request_id.clone().unwrap_or_default(),
            timestamp: e.timestamp.clone().unwrap_or_default(),
        },
    }
}

/// Reports a process (or the verdict a 410 implies) and returns the exit code.
fn report(json: bool, result: Result<(ApiProcess, Option<String>), Error>) -> u8 {
    match result {
        Ok((p, request_id)) => {
            let a = Assessment::from_api(&p);
            let code = exit_for(a.verdict());
            if json {
                print_json(&p, Some(a), request_id);
            } else {
                println!("{}", describe(&p, &a));
            }
            code
        }
        Err(Error::Api(e)) if e.is_gone() => {
            if json {
                print_json(envelope(&e), None, e.request_id.clone());
            } else {
                println!("error verdict: {e}");
            }
            EXIT_NEGATIVE
        }
        Err(e) => failed(json, &e),
    }
}

/// Reports a failed call and returns its exit code.
fn failed(json: bool, e: &Error) -> u8 {
    let code = match e {
        Error::OutcomeUnknown { .. } => EXIT_OUTCOME_UNKNOWN,
        Error::Timeout { .. } => EXIT_TIMEOUT,
        _ => EXIT_FAILED,
    };
    if json {
        match e {
            Error::Api(api) | Error::Configuration(api) => {
                print_json(envelope(api), None, api.request_id.clone())
            }
            _ => print_json(
                serde_json::Value::Null,
                None,
                e.request_id().map(String::from),
            ),
        }
    }
    eprintln!("error: {e}");
    code
}

/// `selo token`.
pub fn token(args: ClientArgs) -> anyhow::Result<u8> {
    let client = Client::new(credentials(&args)?)?;
    let json = args.common.json;
    runtime()?.block_on(async move {
        Ok(match client.token().await {
            Ok(t) => {
                if json {
                    print_json(&t, None, None);
                } else {
                    println!("{}", t.access_token);
                }
                EXIT_OK
            }
            Err(e) => failed(json, &e),
        })
    })
}

/// Shows that `process wait` is alive on an interactive terminal.
fn progress(id: &str) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let id = id.to_string();
    Some(tokio::spawn(async move {
        let mut waited = 0u64;
        loop {
            eprint!("\rwaiting for process {id} … {waited} s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            waited += 1;
        }
    }))
}

/// `selo process …`.
pub fn process(args: ProcessArgs) -> anyhow::Result<u8> {
    let json = args.client.common.json;
    let client = Client::new(credentials(&args.client)?)?;
    let rt = runtime()?;
    match args.command {
        ProcessCommand::Create {
            image,
            cpf,
            name,
            client_reference,
        } => {
            let bytes = std::fs::read(&image)
                .with_context(|| format!("reading the selfie {}", image.display()))?;
            let reference =
                client_reference.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            let request = CreateProcessRequest {
                subject: Some(Subject {
                    code: cpf,
                    name,
                    client_reference: Some(reference),
                    ..Subject::default()
                }),
                image_base64: STANDARD.encode(bytes),
                ..CreateProcessRequest::default()
            };
            rt.block_on(async move {
                let result = client
                    .create_process_reply(&request)
                    .await
                    .map(|r| (r.value, r.request_id));
                Ok(report(json, result))
            })
        }
        ProcessCommand::Get { id } => rt.block_on(async move {
            let result = client
                .get_process_reply(&id)
                .await
                .map(|r| (r.value, r.request_id));
            Ok(report(json, result))
        }),
        ProcessCommand::Wait { id, timeout } => rt.block_on(async move {
            let ticker = (!json).then(|| progress(&id)).flatten();
            let result = client
                .wait_for_result(&id, Duration::from_secs(timeout))
                .await;
            if let Some(t) = ticker {
                t.abort();
                eprintln!();
            }
            Ok(match result {
                Err(Error::Timeout { last, .. }) => {
                    if json {
                        print_json(last.as_deref(), None, None);
                    }
                    eprintln!("error: process {id} did not finish within {timeout} s");
                    EXIT_TIMEOUT
                }
                other => report(json, other.map(|p| (p, None))),
            })
        }),
    }
}
