//! Client commands built on the SDK: `selo token`, `selo process create|get|wait` (API and
//! Web & SDK contracts), `selo selfie get`, `selo evidence get`.
//!
//! With `--json` each prints `{"response", "verdict", "requestId"}`; exit codes separate a
//! negative verdict (1) from a failed call (3), an unknown outcome (4) and a timeout (5).

use crate::cli::{ClientArgs, FileArgs, FileCommand, ProcessArgs, ProcessCommand};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use selo_sdk::{
    Assessment, Client, Credentials, DUI_TYPE_BR_CPF, DUI_TYPE_MX_CURP, Error, Verdict, WebPerson,
    WebProcess, WebProcessRequest,
};
use selo_wire::admin::DemoCredentials;
use selo_wire::error::{ErrorBody, ErrorEnvelope};
use selo_wire::process::{ApiProcess, CreateProcessRequest, Subject};
use serde::Serialize;
use serde_json::json;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// A usage error: a flag or value that is not valid.
pub const EXIT_USAGE: u8 = 2;
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
/// `--apikey` override the file's values. A file for the Web & SDK contract only (Bearer only)
/// may leave `apiKey` out or empty.
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
    let not_credentials = || {
        format!(
            "{} is not a credentials file {{url, tenantId, iss, privateKeyFile, apiKey}}",
            path.display()
        )
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(not_credentials)?;
    if let Some(obj) = value.as_object_mut() {
        obj.entry("apiKey").or_insert_with(|| json!(""));
    }
    let mut file: DemoCredentials = serde_json::from_value(value).with_context(not_credentials)?;
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

/// The SDK client of a command: its access token is kept between commands (see
/// [`crate::token_cache`]).
fn client(credentials: Credentials) -> anyhow::Result<Client> {
    let cache =
        crate::token_cache::FileTokenStore::for_account(credentials.base_url(), credentials.iss());
    let mut builder =
        Client::builder(credentials).refresh_margin(crate::token_cache::REFRESH_MARGIN);
    if let Some(cache) = cache {
        builder = builder.token_store(cache);
    }
    Ok(builder.build()?)
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

fn describe_web(p: &WebProcess, a: &Assessment) -> String {
    format!(
        "process {} ({}, {}): {} — {}",
        p.id,
        p.state,
        p.result,
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
        Err(Error::Api(e)) if e.is_ended_in_error() => {
            let a = Assessment::from_api_error(&e);
            if json {
                print_json(envelope(&e), a, e.request_id.clone());
            } else {
                println!("error verdict: {e}");
            }
            EXIT_NEGATIVE
        }
        Err(e) => failed(json, &e),
    }
}

/// Reports a Web & SDK process (`response` is the server's `{"process": …}` body) and returns
/// the exit code.
fn report_web(json: bool, result: Result<(WebProcess, Option<String>), Error>) -> u8 {
    match result {
        Ok((p, request_id)) => {
            let a = p.assessment();
            let code = exit_for(a.verdict());
            if json {
                print_json(json!({ "process": p }), Some(a), request_id);
            } else {
                println!("{}", describe_web(&p, &a));
            }
            code
        }
        Err(e) => failed(json, &e),
    }
}

/// A process of either contract.
enum AnyProcess {
    Api(ApiProcess),
    Web(Box<WebProcess>),
}

impl AnyProcess {
    fn is_final(&self) -> bool {
        match self {
            AnyProcess::Api(p) => Verdict::from_api(p).is_final(),
            AnyProcess::Web(p) => p.verdict().is_final(),
        }
    }
}

fn report_any(json: bool, result: Result<(AnyProcess, Option<String>), Error>) -> u8 {
    match result {
        Ok((AnyProcess::Api(p), id)) => report(json, Ok((p, id))),
        Ok((AnyProcess::Web(p), id)) => report_web(json, Ok((*p, id))),
        Err(e) => report(json, Err(e)),
    }
}

/// Reads process `id` from whichever contract has it.
///
/// Both contracts' ids are UUIDs and nothing in an id tells them apart, while a process lives
/// in exactly one contract. So: with an API key, the API contract first (what `process get`
/// always did, and the only contract whose GET can answer 410 for a status-5 process), then
/// the Web & SDK contract when the API answers **404**; any other answer of the API (a 410, a
/// 401 for a wrong key, …) is the answer. Without an API key only the Web & SDK contract is
/// asked, as it is Bearer only. When both answer 404 the API's error is reported (exit 3) with
/// a note that the Web & SDK contract does not know the id either. A Web & SDK process costs
/// one extra request; `process wait` makes it once, then polls the contract it found.
async fn get_any(client: &Client, id: &str) -> Result<(AnyProcess, Option<String>), Error> {
    let api_error = if client.credentials().api_key().is_some() {
        match client.get_process_reply(id).await {
            Ok(r) => return Ok((AnyProcess::Api(r.value), r.request_id)),
            Err(Error::Api(e)) if e.is_not_found() => Some(Error::Api(e)),
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    match client.get_web_process_reply(id).await {
        Ok(r) => Ok((AnyProcess::Web(Box::new(r.value)), r.request_id)),
        Err(Error::Api(web)) if web.is_not_found() && api_error.is_some() => {
            eprintln!("note: no Web & SDK process has that id either ({web})");
            Err(api_error.unwrap_or(Error::Api(web)))
        }
        Err(e) => Err(e),
    }
}

/// Reports a failed call and returns its exit code.
fn failed(json: bool, e: &Error) -> u8 {
    let code = match e {
        Error::OutcomeUnknown { .. } => EXIT_OUTCOME_UNKNOWN,
        e if e.is_timeout() => EXIT_TIMEOUT,
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
    let client = client(credentials(&args)?)?;
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
    let client = client(credentials(&args.client)?)?;
    let rt = runtime()?;
    match args.command {
        ProcessCommand::Create {
            image,
            web,
            flow,
            purpose,
            callback_uri,
            cpf,
            name,
            client_reference,
        } => {
            let reference =
                client_reference.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            if web {
                let request = WebProcessRequest {
                    client_reference: Some(reference),
                    ..WebProcessRequest::new(
                        flow.unwrap_or_else(|| "id".into()),
                        purpose.unwrap_or_else(|| "biometryonboarding".into()),
                        callback_uri.unwrap_or_else(|| "/".into()),
                        web_person(cpf, name),
                    )
                };
                return rt.block_on(async move {
                    let result = client.create_web_process_reply(&request).await;
                    Ok(match result {
                        Ok(r) if !json => print_journey_link(&r.value),
                        other => report_web(json, other.map(|r| (r.value, r.request_id))),
                    })
                });
            }
            let Some(image) = image else {
                // clap requires one of --image and --web.
                anyhow::bail!("pass --image FILE (API contract) or --web (Web & SDK contract)");
            };
            let bytes = std::fs::read(&image)
                .with_context(|| format!("reading the selfie {}", image.display()))?;
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
            let result = get_any(&client, &id).await;
            Ok(report_any(json, result))
        }),
        ProcessCommand::Wait { id, timeout } => rt.block_on(async move {
            let started = Instant::now();
            let ticker = (!json).then(|| progress(&id)).flatten();
            let result = match get_any(&client, &id).await {
                Ok((found, _)) if !found.is_final() => {
                    let left = Duration::from_secs(timeout).saturating_sub(started.elapsed());
                    match found {
                        AnyProcess::Api(_) => client
                            .wait_for_result(&id, left)
                            .await
                            .map(|p| (AnyProcess::Api(p), None)),
                        AnyProcess::Web(_) => client
                            .wait_for_web_result(&id, left)
                            .await
                            .map(|p| (AnyProcess::Web(Box::new(p)), None)),
                    }
                }
                other => other,
            };
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
                Err(Error::WebTimeout { last, .. }) => {
                    if json {
                        let a = last.as_ref().map(|p| p.assessment());
                        print_json(last.map(|p| json!({ "process": p })), a, None);
                    }
                    eprintln!(
                        "error: process {id} did not finish within {timeout} s (the person has not completed the journey)"
                    );
                    EXIT_TIMEOUT
                }
                other => report_any(json, other),
            })
        }),
    }
}

/// The Web & SDK `person` of `--cpf` / `--name`: an 18-character alphanumeric document is a
/// Mexican CURP, anything else a CPF (the server validates it).
fn web_person(document: String, name: String) -> WebPerson {
    let curp = document.len() == 18 && document.chars().all(|c| c.is_ascii_alphanumeric());
    WebPerson {
        dui_type: if curp {
            DUI_TYPE_MX_CURP
        } else {
            DUI_TYPE_BR_CPF
        }
        .into(),
        ..WebPerson::cpf(document, name)
    }
}

/// Human output of `process create --web`: the journey link alone on stdout (so that
/// `URL=$(selo process create --web …)` works), the next step on stderr. A process that came
/// back already failed is reported like `process get` instead (exit 1).
fn print_journey_link(p: &WebProcess) -> u8 {
    let a = p.assessment();
    match &p.user_redirect_url {
        Some(url) if a.verdict() == &Verdict::Pending => {
            println!("{url}");
            eprintln!(
                "process {}: send the person to this link, then `selo process wait {}`",
                p.id, p.id
            );
            EXIT_OK
        }
        _ => {
            println!("{}", describe_web(p, &a));
            exit_for(a.verdict())
        }
    }
}

/// Which file of a Web & SDK process `file` fetches.
#[derive(Debug, Clone, Copy)]
pub enum FileKind {
    /// `GET /client/v1/process/{id}/selfie`.
    Selfie,
    /// `GET /client/v1/process/{id}/evidenceset`.
    EvidenceSet,
}

/// `selo selfie get ID --out FILE` / `selo evidence get ID --out FILE`: writes the decoded
/// `fileContents` (the file is only written on success). `--json` prints the server's body.
pub fn file(kind: FileKind, args: FileArgs) -> anyhow::Result<u8> {
    let json = args.client.common.json;
    let client = client(credentials(&args.client)?)?;
    let FileCommand::Get { id, out } = args.command;
    runtime()?.block_on(async move {
        let (what, result) = match kind {
            FileKind::Selfie => ("selfie", client.get_selfie_reply(&id).await),
            FileKind::EvidenceSet => ("evidence set", client.get_evidence_set_reply(&id).await),
        };
        let reply = match result {
            Ok(r) => r,
            Err(e) => return Ok(failed(json, &e)),
        };
        let f = &reply.value;
        std::fs::write(&out, &f.bytes)
            .with_context(|| format!("writing the {what} to {}", out.display()))?;
        if json {
            print_json(
                json!({"fileContents": STANDARD.encode(&f.bytes), "contentType": f.content_type}),
                None,
                reply.request_id.clone(),
            );
        } else {
            println!(
                "wrote the {what} of process {id} ({}, {} bytes) to {}",
                f.content_type,
                f.bytes.len(),
                out.display()
            );
        }
        Ok(EXIT_OK)
    })
}
