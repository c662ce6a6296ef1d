//! `selo serve`.

use crate::cli::ServeArgs;
use crate::demo;
use selo_server::{EnvironmentConfig, EnvironmentKind, ServerConfig};
use selo_store::LockoutPolicy;
use selo_store::sqlite::Durability;
use std::io::{IsTerminal, Write};

fn config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let mut envs = vec![EnvironmentConfig {
        name: "sandbox".into(),
        kind: EnvironmentKind::Sandbox,
        listen: args.listen,
        public_url: args.public_url.clone(),
        audience: args.audience.clone(),
    }];
    if let Some(listen) = args.production_listen {
        envs.push(EnvironmentConfig {
            name: "production".into(),
            kind: EnvironmentKind::Production,
            listen,
            public_url: args.production_public_url.clone(),
            audience: args.production_audience.clone(),
        });
    }
    let mut cfg = ServerConfig::new(args.common.data.clone(), envs);
    cfg.models_dir = args.models.resolve(&args.common);
    cfg.manual_clock = args.manual_clock;
    cfg.lockout = LockoutPolicy {
        attempts: args.lockout_attempts,
        window_seconds: args.lockout_window,
        duration_seconds: args.lockout_duration,
    };
    cfg.idempotency_retention = std::time::Duration::from_secs(args.idempotency_retention);
    cfg.request_timeout = std::time::Duration::from_secs(args.request_timeout);
    cfg.metrics_listen = args.metrics_listen;
    cfg.connections = selo_server::http::connections::ConnectionLimits {
        header_timeout: std::time::Duration::from_secs(args.header_timeout),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
        max_connections: args.max_connections as usize,
    };
    cfg.database = args.database.database()?;
    if let Some(blobs) = &args.blobs {
        cfg.blobs = blobs.parse().map_err(crate::output::usage)?;
    }
    if args.sync_full {
        cfg.durability = Durability::Full;
    }
    Ok(cfg)
}

/// Resolves at SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// it is first awaited: a signal sent as soon as the server said it listens (a supervisor, a
/// test) shuts it down gracefully instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        match (term, int) {
            (Some(mut term), Some(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// How to invoke this very binary from the current folder (`./target/debug/selo` when it is
/// not installed), so the printed next step runs as pasted.
fn self_command() -> String {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(_) => return "selo".into(),
    };
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("selo") == exe));
    if on_path {
        return "selo".into();
    }
    match std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(|p| p.to_path_buf()))
    {
        Some(rel) => format!("./{}", rel.display()),
        None => exe.display().to_string(),
    }
}

/// Keeps the server's memory bounded under image uploads without paying for it in CPU. By
/// default glibc raises its mmap threshold after a large block is freed and spreads blocks over
/// up to 8 × cores arenas, each keeping what it once held (peak RSS 135–161 MiB under 64
/// concurrent uploads). Here: two arenas (the async workers and the blocking threads share
/// them); blocks up to 4 MiB (request bodies, decoded images) come from the arenas and are
/// reused instead of being mapped and faulted in per request (a 128 KiB threshold cost create
/// 20 % more CPU); an arena returns free memory above 16 MiB to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_allocator() {
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 * 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Other C libraries keep their own allocator policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_allocator() {}

/// Hands back to the system the memory the start freed: loading the models leaves ~60 MiB of
/// free heap behind (the parsed model files, the weights before the runtime reordered them),
/// which glibc would otherwise keep (resident set at rest with the engines ~150 → 90 MiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only returns free pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    bound_allocator();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SELO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,object_store=warn")),
        )
        .init();
    let cfg = config(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let handle = selo_server::start(&cfg).await?;
        let shutdown = shutdown_signal();
        release_free_memory();
        let demo = if args.demo {
            let sandbox = &handle.lines[0];
            Some(demo::ensure(
                &cfg.data_dir,
                &cfg.database,
                &sandbox.public_url,
            )?)
        } else {
            None
        };
        let mut out = std::io::stdout().lock();
        for line in &handle.lines {
            if args.common.json {
                writeln!(out, "{}", serde_json::to_string(line)?)?;
            } else {
                writeln!(
                    out,
                    "selo: {} environment listening on {} (public URL {}, audience {})",
                    line.environment, line.listen, line.public_url, line.audience
                )?;
            }
        }
        if let (Some(creds), false) = (&demo, args.common.json) {
            let data = cfg.data_dir.display();
            let selo = self_command();
            writeln!(
                out,
                "\nDemo sandbox ready: tenant {} — credentials in {data}/demo/credentials.json\n\
                 Next step, in another terminal in this folder (gets a token, creates a process):\n\
                 \x20 {selo} process create --data {data} --image {data}/demo/selfie.jpg --cpf 00000000191 --name \"Maria Silva\"\n\
                 00000000191 is approved; `curl {}/sandbox/scenarios` lists the other sandbox CPFs.",
                creds.tenant_id, creds.url
            )?;
        }
        out.flush()?;
        drop(out);
        handle.run(shutdown).await
    })
}
