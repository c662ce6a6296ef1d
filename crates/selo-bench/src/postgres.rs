//! `selo-bench postgres`: the same three workloads (token, create, get) on selo with its
//! embedded SQLite store, on selo with a fresh PostgreSQL database, and on two selo nodes
//! sharing another fresh database (requests alternating between them), one after the other in
//! one run, and `pgbench` on the same PostgreSQL server as the reference (perf-limits §7: a
//! one-row insert transaction and a primary-key select, 16 clients). On PostgreSQL the
//! server's CPU is selo's plus every `postgres` process's over the timed window: the work the
//! database does for selo is the platform's cost, as SQLite's is inside selo's process.

use crate::server::Server;
use crate::workloads::{Driver, Measured};
use anyhow::{Context, Result, ensure};
use selo_store::postgres::scratch::{DEFAULT_SERVER, ScratchDatabase};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// What `selo-bench postgres` takes.
#[derive(Debug, clap::Args)]
pub struct PostgresArgs {
    /// The selo binary [default: `selo` next to this binary].
    #[arg(long)]
    selo: Option<PathBuf>,
    /// The PostgreSQL server (a fresh database is made on it for each side of the run).
    #[arg(long, default_value = DEFAULT_SERVER)]
    server: String,
    /// Seconds per workload (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent client tasks.
    #[arg(long, default_value_t = 64)]
    connections: usize,
}

/// One store's three workloads, sent to `urls` (one base URL, or several nodes' separated by
/// commas, reached round-robin); `server`'s CPU is what is counted.
fn workloads(
    server: &Server,
    urls: &str,
    create_body: &[u8],
    args: &PostgresArgs,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<Measured>> {
    let tenant = server.provision()?;
    let mut driver = Driver::new(
        &tenant,
        &server.audience,
        create_body.to_vec().into(),
        args.connections,
        Duration::from_secs(args.duration),
    )?;
    let (mut runs, _) =
        runtime.block_on(driver.run_interleaved(&[(urls, &server.process)], (&[], "token")))?;
    runs.pop().context("results")
}

/// `pgbench` for `seconds` with 16 clients on a fresh database: its transactions per second
/// (without the initial connection time), for `script` (`None`: the built-in select-only).
fn pgbench(server: &str, script: Option<&str>, seconds: u64) -> Result<f64> {
    let database = ScratchDatabase::create(server)?;
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "1"])
        .arg(database.url())
        .output()
        .context("running pgbench (Debian's postgresql package has it)")?;
    ensure!(
        init.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new("pgbench");
    cmd.args(["-n", "-c", "16", "-j", "2", "-T"])
        .arg(seconds.to_string());
    match script {
        Some(sql) => {
            let file = dir.path().join("script.sql");
            std::fs::write(&file, sql)?;
            cmd.arg("-f").arg(file);
        }
        None => {
            cmd.arg("-S");
        }
    }
    let out = cmd.arg(database.url()).output()?;
    ensure!(
        out.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}

/// Runs the comparison and prints a Markdown section for BENCHMARKS.md.
pub fn run(args: PostgresArgs) -> Result<()> {
    let selo = crate::selo_binary(args.selo.clone())?;
    let (_, b64) = crate::selfie()?;
    let create_body = serde_json::to_vec(&serde_json::json!({
        "subject": {"code": "00000000191", "name": "Maria Silva"},
        "imageBase64": b64,
    }))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    eprintln!("selo on SQLite:");
    let sqlite = {
        let server = Server::start(&selo)?;
        workloads(&server, &server.url, &create_body, &args, &runtime)?
    };
    eprintln!("selo on PostgreSQL ({}):", args.server);
    let postgres = {
        let database = ScratchDatabase::create(&args.server)?;
        let server = Server::start_on_postgres(&selo, database.url())?;
        workloads(&server, &server.url, &create_body, &args, &runtime)?
    };
    eprintln!("selo, two nodes on PostgreSQL ({}):", args.server);
    let two_nodes = {
        let database = ScratchDatabase::create(&args.server)?;
        let mut first = Server::start_on_postgres(&selo, database.url())?;
        let second = first.add_node()?;
        let urls = format!("{},{}", first.listen_url, second.listen_url);
        workloads(&first, &urls, &create_body, &args, &runtime)?
    };
    eprintln!("pgbench:");
    let insert = pgbench(
        &args.server,
        Some(
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now());\n",
        ),
        args.duration,
    )?;
    let select = pgbench(&args.server, None, args.duration)?;

    let (cpu_model, _) = crate::report::machine();
    println!("### PostgreSQL beside SQLite (`selo-bench postgres`)\n");
    println!(
        "Command: `{}` · {} · {} connections, {} s per workload, one after the other in one run; \
         PostgreSQL {} on the same machine. Server CPU on PostgreSQL is selo's plus every \
         `postgres` process's.\n",
        std::env::args().collect::<Vec<_>>().join(" "),
        cpu_model,
        args.connections,
        args.duration,
        server_version(&args.server).unwrap_or_else(|_| "(version unknown)".into()),
    );
    println!(
        "| workload | SQLite req/s | SQLite server CPU µs/req | PostgreSQL req/s | PostgreSQL server CPU µs/req | ratio (goal ≤ 1.5×) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (s, p) in sqlite.iter().zip(&postgres) {
        println!(
            "| {} | {:.0} | {:.1} | {:.0} | {:.1} | {:.2}× |",
            s.name,
            s.outcome.requests() as f64 / s.outcome.elapsed.as_secs_f64(),
            s.server_us_per_req(),
            p.outcome.requests() as f64 / p.outcome.elapsed.as_secs_f64(),
            p.server_us_per_req(),
            p.server_us_per_req() / s.server_us_per_req(),
        );
    }
    println!(
        "\nTwo nodes on one PostgreSQL database, requests alternating between them; server CPU is both nodes' plus PostgreSQL's:\n"
    );
    println!(
        "| workload | one node req/s | one node server CPU µs/req | two nodes req/s | two nodes server CPU µs/req | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (one, two) in postgres.iter().zip(&two_nodes) {
        println!(
            "| {} | {:.0} | {:.1} | {:.0} | {:.1} | {:.2}× |",
            one.name,
            one.outcome.per_sec(),
            one.server_us_per_req(),
            two.outcome.per_sec(),
            two.server_us_per_req(),
            two.server_us_per_req() / one.server_us_per_req(),
        );
    }
    for (name, m) in sqlite
        .iter()
        .map(|m| ("SQLite", m))
        .chain(postgres.iter().map(|m| ("PostgreSQL", m)))
        .chain(two_nodes.iter().map(|m| ("PostgreSQL, two nodes", m)))
    {
        if m.outcome.failed() > 0 {
            println!(
                "\n{name} {}: {} failed requests",
                m.name,
                m.outcome.failed()
            );
        }
    }
    let rate = |name: &str| {
        postgres
            .iter()
            .find(|m| m.name == name)
            .map_or(0.0, |m| m.outcome.per_sec())
    };
    let (tokens, creates) = (rate("token"), rate("create"));
    println!(
        "\npgbench (16 clients, same server): one-row insert {insert:.0} tps, primary-key select \
         {select:.0} tps. On PostgreSQL, selo committed {tokens:.0} tokens/s (a replay record \
         each) = {:.0} % of pgbench's insert rate (goal ≥ 50 %), and {creates:.0} creates/s = \
         {:.0} %.",
        100.0 * tokens / insert.max(1.0),
        100.0 * creates / insert.max(1.0)
    );
    Ok(())
}

/// The PostgreSQL server's version string.
fn server_version(server: &str) -> Result<String> {
    let out = Command::new("psql")
        .args(["-At", "-c", "SHOW server_version"])
        .arg(server)
        .output()?;
    ensure!(out.status.success(), "psql failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
