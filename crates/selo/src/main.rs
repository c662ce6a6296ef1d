//! `selo`: the server (`selo serve`), the provisioning CLI (`selo admin …`).
//!
//! Exit codes (CONTRACT §15): 0 done, 2 usage error, 3 the operation failed.

mod admin;
mod cli;
mod demo;
mod keys;
mod output;
mod serve;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Admin(args) => admin::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}
