//! `selo`: the server (`selo serve`), the provisioning CLI (`selo admin …`) and the client
//! commands (`selo token`, `selo process …`, `selo selfie get`, `selo evidence get`).
//!
//! Exit codes (CONTRACT §15): 0 done (verdict positive, pending or none), 1 verdict negative,
//! 2 usage error, 3 the call failed, 4 outcome unknown, 5 `process wait` timed out.

mod admin;
mod cli;
mod client;
mod demo;
mod identity_admin;
mod keys;
mod models;
mod output;
mod serve;
mod token_cache;
mod transfer;
mod webhook_admin;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(args).map(|()| 0),
        cli::Command::Admin(args) => admin::run(args).map(|()| 0),
        cli::Command::Token(args) => client::token(args),
        cli::Command::Process(args) => client::process(args),
        cli::Command::Selfie(args) => client::file(client::FileKind::Selfie, args),
        cli::Command::Evidence(args) => client::file(client::FileKind::EvidenceSet, args),
        cli::Command::Models(args) => models::run(args).map(|()| 0),
        cli::Command::Migrate(args) => admin::migrate(args).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let usage = e.downcast_ref::<output::UsageError>().is_some();
            ExitCode::from(if usage {
                client::EXIT_USAGE
            } else {
                client::EXIT_FAILED
            })
        }
    }
}
