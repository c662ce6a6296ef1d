//! A full onboarding against `selo serve --demo`.
//!
//! ```text
//! selo serve --demo                                   # in one terminal
//! cargo run -p selo-sdk --example onboarding [DATA]   # in another
//! ```
//!
//! `DATA` is the server's data directory: the first argument, else `$SELO_DATA`, else
//! `./selo-data`. The example reads `DATA/demo/credentials.json` and `DATA/demo/selfie.jpg`,
//! creates a process for the sandbox CPF 00000000191 (scenario "approved"), waits for it if it
//! is still processing, and prints the verdict. Try 00000000272 (identity denied) or
//! 00000000353 (liveness failed) by passing a CPF as the second argument.

use base64::Engine;
use selo_sdk::{Assessment, Client, Credentials, Error, Verdict};
use selo_wire::process::{CreateProcessRequest, Subject};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(verdict) if verdict.is_approved() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(id) = e.request_id() {
                eprintln!("request id: {id}");
            }
            ExitCode::from(3)
        }
    }
}

async fn run() -> Result<Verdict, Error> {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .or_else(|| std::env::var("SELO_DATA").ok())
        .map_or_else(|| PathBuf::from("./selo-data"), PathBuf::from);
    let cpf = args.next().unwrap_or_else(|| "00000000191".to_string());
    let demo = data.join("demo");

    let credentials = Credentials::from_demo_file(demo.join("credentials.json"))?;
    println!("server:  {}", credentials.base_url());
    println!("account: {}", credentials.iss());
    let selfie = std::fs::read(demo.join("selfie.jpg")).map_err(|e| {
        Error::InvalidArgument(format!(
            "reading {}: {e}",
            demo.join("selfie.jpg").display()
        ))
    })?;

    let client = Client::new(credentials)?;
    let reply = client
        .create_process_reply(&CreateProcessRequest {
            subject: Some(Subject {
                code: cpf,
                name: "Maria da Silva".into(),
                ..Subject::default()
            }),
            image_base64: base64::engine::general_purpose::STANDARD.encode(selfie),
            ..CreateProcessRequest::default()
        })
        .await?;
    let mut process = reply.value;
    println!(
        "process: {} (status {}, request {})",
        process.id,
        process.status,
        reply.request_id.as_deref().unwrap_or("-")
    );
    if !Verdict::from_api(&process).is_final() {
        println!("processing; polling for the result…");
        process = client
            .wait_for_result(&process.id, Duration::from_secs(60))
            .await?;
    }
    let assessment = Assessment::from_api(&process);
    println!(
        "verdict: {} ({})",
        assessment.verdict(),
        assessment.reason()
    );
    Ok(assessment.into_verdict())
}
