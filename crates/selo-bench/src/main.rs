//! `selo-bench`: a reproducible benchmark of the real `selo` binary.
//!
//! It first measures the machine's ceilings for the same work in-process (RS256 verify,
//! Ed25519 sign/verify, SQLite commits, the selfie's durable write, the image check), then
//! starts `selo serve` on a temporary data directory, provisions a tenant without rate limiting
//! with `selo admin`, and drives three workloads over loopback: token issuance, process create
//! and process get. For each it reports req/s, p50/p99 latency, non-2xx responses, and the
//! server's CPU time per request and peak RSS from `/proc/<pid>`. The client runs on the same
//! cores as the server. The server is killed and the data directory removed at the end.
//!
//! It also starts the bare routes (this binary's hidden `bare-server` subcommand, see
//! [`bare`]): a minimal axum server doing only the essential work of each workload, in its own
//! process, and drives the same workloads against it with the same client, connections and
//! duration, interleaved with selo's (token on both, then create on both, then get on both).
//! The report sets selo's server CPU per request and p99 against the bare routes', which is
//! how the performance goals are defined (perf-limits.md §6). A second bare server runs only
//! the token workload, its route also doing the two costly parts of CONTRACT §2's mandatory
//! work (a durable replay record, an Ed25519-signed access token), to show the contract's share.

mod bare;
mod ceilings;
mod distances;
mod engines;
mod load;
mod postgres;
mod report;
mod server;
mod stats;
mod workloads;

use anyhow::{Context, Result, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Benchmark the real selo binary over loopback, with the machine's ceilings measured in the
/// same run.
#[derive(Debug, Parser)]
#[command(version, disable_help_subcommand = true)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// The hidden mode the bench starts the bare routes in.
    #[command(subcommand)]
    mode: Option<Mode>,
}

/// What every benchmark run takes.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The selo binary [default: `selo` next to this binary, e.g. target/release/selo].
    #[arg(long)]
    selo: Option<PathBuf>,
    /// Seconds per workload (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent client tasks (each keeps one keep-alive connection busy).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Print a Markdown section ready to paste into BENCHMARKS.md.
    #[arg(long)]
    markdown: bool,
}

/// Modes other than the benchmark itself.
#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// Serve the bare routes until killed (started by the bench; see the `bare` module).
    #[command(hide = true)]
    BareServer(bare::BareArgs),
    /// Benchmark the local engines: their CPU per selfie beside onnxruntime's (one thread),
    /// creates with and without them, and the 1:N search.
    Engines(engines::EnginesArgs),
    /// The three workloads on SQLite and on PostgreSQL, beside pgbench on the same server.
    Postgres(postgres::PostgresArgs),
    /// Measure genuine and impostor face distances on the test faces and draw them as a PNG
    /// (docs/engines.md's plot).
    FaceDistances(distances::DistancesArgs),
}

/// The selo binary: `path`, else `selo` next to this binary.
fn selo_binary(path: Option<PathBuf>) -> Result<PathBuf> {
    let selo = match path {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .join("selo"),
    };
    ensure!(
        selo.is_file(),
        "no selo binary at {} (build it: cargo build --release -p selo, or pass --selo)",
        selo.display()
    );
    Ok(selo)
}

/// A 640×480 JPEG selfie and its base64: a gradient with deterministic noise at quality 85,
/// about 210 KiB (close to the 225 KiB image of the perf-limits reference benches).
fn selfie() -> Result<(Vec<u8>, String)> {
    let (w, h) = (640u16, 480u16);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 192) as i32 - 96
    };
    let mut px = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..i32::from(h) {
        for x in 0..i32::from(w) {
            for base in [x * 255 / 640, y * 255 / 480, (x + y) * 255 / 1120] {
                px.push((base + noise()).clamp(0, 255) as u8);
            }
        }
    }
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 85).encode(&px, w, h, jpeg_encoder::ColorType::Rgb)?;
    let b64 = STANDARD.encode(&jpeg);
    Ok((jpeg, b64))
}

fn main() -> Result<()> {
    let args = Args::parse();
    match args.mode {
        Some(Mode::BareServer(bare)) => return bare::serve(bare),
        Some(Mode::Engines(engines)) => return engines::run(engines),
        Some(Mode::FaceDistances(distances)) => return distances::run(distances),
        Some(Mode::Postgres(pg)) => return postgres::run(pg),
        None => {}
    }
    ensure!(
        args.run.duration > 0 && args.run.connections > 0,
        "duration and connections must be > 0"
    );
    let selo = selo_binary(args.run.selo.clone())?;

    let (jpeg, b64) = selfie()?;
    let create_body = serde_json::to_vec(&serde_json::json!({
        "subject": {"code": "00000000191", "name": "Maria Silva"},
        "imageBase64": b64,
    }))?;

    eprintln!("ceilings (in-process, one thread):");
    let scratch = tempfile::tempdir()?;
    let ceilings = ceilings::measure(&b64, &jpeg, scratch.path())?;
    drop(scratch);

    eprintln!("workloads against {}:", selo.display());
    let server = server::Server::start(&selo)?;
    let tenant = server.provision()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut driver = workloads::Driver::new(
        &tenant,
        &server.audience,
        create_body.clone().into(),
        args.run.connections,
        Duration::from_secs(args.run.duration),
    )?;
    eprintln!("bare routes:");
    let account = tenant.private_key()?;
    let bare = bare::BareServer::start(&account, &tenant.iss, &server.audience, false)?;
    let contract = bare::BareServer::start(&account, &tenant.iss, &server.audience, true)?;
    eprintln!(
        "workloads, interleaved (selo, then the bare routes, for each; token also on the bare \
         route doing the contract's work):"
    );
    let (mut runs, mut contract_runs) = runtime.block_on(driver.run_interleaved(
        &[(&server.url, &server.process), (&bare.url, &bare.process)],
        (
            &[(&contract.url, &contract.process)],
            "token, contract work",
        ),
    ))?;
    let bare_measured = runs.pop().context("bare results")?;
    let measured = runs.pop().context("selo results")?;
    let contract_token = contract_runs.pop().context("contract-work token results")?;
    drop(contract);
    drop(bare);
    drop(server);

    let (cpu_model, mem_gib) = report::machine();
    let date = time::OffsetDateTime::now_utc().format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))?;
    let report = report::Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        date,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        mem_gib,
        connections: args.run.connections,
        duration_s: args.run.duration as f64,
        selfie_bytes: (jpeg.len(), create_body.len()),
        ceilings,
        workloads: measured,
        bare: bare_measured,
        contract_token,
    };
    print!("{}", report.render(args.run.markdown));
    let failed: u64 = (report.workloads.iter())
        .chain(&report.bare)
        .chain([&report.contract_token])
        .map(|w| w.outcome.failed())
        .sum();
    ensure!(failed == 0, "{failed} non-2xx responses (listed above)");
    Ok(())
}
