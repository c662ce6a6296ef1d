//! `selo-bench engines`: the local engines (CONTRACT §17) against their reference
//! (perf-limits §7), in one run on the test faces:
//!
//! 1. *Pipeline CPU*: Selo's detect + gates + liveness + embed (tract, this process, one
//!    thread) per selfie, beside onnxruntime's detect + embed on the same models and the same
//!    inputs (one thread, a Python child process), and the JPEG decode Selo also does.
//! 2. *Create at N connections*: `selo serve --models`, two tenants, the same face selfie: one
//!    on the scenario engine (the create without engines), one on `set-engines local`; server
//!    CPU per request, p99 and peak RSS (models included), against the budget "create + 1.5 ×
//!    the reference".
//! 3. *1:N search*: `FaceSearch::nearest_other` on the embedded store with 10 000 and 100 000
//!    enrolled faces (an exact scan), the median of 9 queries.

use crate::server::Server;
use crate::workloads::{Driver, Measured};
use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use selo_domain::image::ImageFormat;
use selo_engine::catalogue::{DETECTOR, EMBEDDER};
use selo_engine::pixels::{Rgb, decode_rgb};
use selo_engine::runtime::Backend;
use selo_engine::testkit::{Photos, jpeg};
use selo_engine::{Engine, align, detect, embedder_input};
use selo_store::faces::{FaceSearch, Faces};
use selo_store::sqlite::{Durability, SqliteStore};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The onnxruntime timing script (run with `--reference-python`).
const ORT_TIMING: &str = include_str!("ort_timing.py");
/// A valid CPF outside the sandbox table: the local engines judge it.
const PERSON: &str = "52998224725";

/// `selo-bench engines`.
#[derive(Debug, clap::Args)]
pub struct EnginesArgs {
    /// The models (a directory written by `selo models install`).
    #[arg(long, env = "SELO_MODELS")]
    models: PathBuf,
    /// The demo photos of `@vladmandic/face-api` (`sample1.jpg` … `sample6.jpg`).
    #[arg(long, env = "SELO_TEST_FACES")]
    faces: PathBuf,
    /// A Python with onnxruntime and numpy: the reference.
    #[arg(long, env = "SELO_REFERENCE_PYTHON")]
    reference_python: PathBuf,
    #[command(flatten)]
    run: crate::RunArgs,
    /// Rounds over the test selfies for the pipeline timings.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
}

/// Per-selfie CPU seconds of the pipeline in this process.
struct Pipeline {
    /// Detect + gates + liveness + embed.
    analyse_s: f64,
    /// Its stages' wall time per selfie (one thread, nothing else running), ms.
    stages_ms: Vec<(&'static str, f64)>,
    /// The JPEG decode before it.
    decode_s: f64,
    /// How many selfies (that pass every gate).
    selfies: usize,
}

/// onnxruntime's per-selfie CPU seconds.
#[derive(serde::Deserialize)]
struct Reference {
    onnxruntime: String,
    detect_s: f64,
    embed_s: f64,
    total_s: f64,
}

/// Runs the engine benchmark and prints its report.
pub fn run(args: EnginesArgs) -> Result<()> {
    ensure!(
        args.run.duration > 0 && args.run.connections > 0 && args.rounds > 0,
        "duration, connections and rounds must be > 0"
    );
    let selo = crate::selo_binary(args.run.selo.clone())?;
    let engine = Engine::load(&args.models).map_err(|e| anyhow::anyhow!("{e}"))?;
    let photos = Photos::load(&args.faces);
    let selfies: Vec<Vec<u8>> = photos
        .all_selfies()
        .into_iter()
        .map(|(_, img)| jpeg(&img, 92))
        .filter(|bytes| {
            engine
                .analyse(ImageFormat::Jpeg, bytes)
                .is_ok_and(|a| a.refused().is_none())
        })
        .collect();
    ensure!(!selfies.is_empty(), "no test selfie passes the gates");
    eprintln!(
        "pipeline: {} selfies × {} rounds, one thread…",
        selfies.len(),
        args.rounds
    );
    let decoded: Vec<Rgb> = selfies
        .iter()
        .map(|b| decode_rgb(ImageFormat::Jpeg, b).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let pipeline = time_pipeline(&engine, &selfies, &decoded, args.rounds)?;
    let fallback = match engine.backend() {
        Backend::Tract => None,
        Backend::Onnxruntime => {
            eprintln!("the same on tract, the fallback runtime…");
            let tract = Engine::load_on(&args.models, Backend::Tract)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some(time_pipeline(&tract, &selfies, &decoded, args.rounds)?)
        }
    };
    eprintln!("reference: onnxruntime on the same inputs, one thread…");
    let reference = reference(&args, &engine, &decoded)?;
    eprintln!("1:N search on the embedded store…");
    let searches = search()?;
    eprintln!("create at {} connections:", args.run.connections);
    let (start, scenario, local) = creates(&args, &selo, &selfies[0])?;

    let (cpu_model, mem_gib) = crate::report::machine();
    let ratio = pipeline.analyse_s / reference.total_s;
    let budget_us = scenario.server_us_per_req() + 1.5 * reference.total_s * 1e6;
    let ms = |s: f64| format!("{:.2} ms", s * 1e3);
    let mut out = String::new();
    let heading = if args.run.markdown { "### " } else { "" };
    out += &format!(
        "{heading}Local engines, {}\n\n`{}` — {} cores, {cpu_model}, {mem_gib:.0} GiB; \
         {} test selfies (480×640 JPEG) × {} rounds; onnxruntime {} (Python wheel), one thread.\n\n",
        time::OffsetDateTime::now_utc().format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))?,
        std::env::args().collect::<Vec<_>>().join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        pipeline.selfies,
        args.rounds,
        reference.onnxruntime,
    );
    out += "| per selfie, CPU | time | vs onnxruntime | goal |\n|---|---|---|---|\n";
    out += &format!(
        "| onnxruntime: detect + embed (the reference) | {} ({} + {}) | 1.00× | |\n",
        ms(reference.total_s),
        ms(reference.detect_s),
        ms(reference.embed_s)
    );
    let stages: Vec<String> = pipeline
        .stages_ms
        .iter()
        .map(|(stage, t)| format!("{stage} {t:.2}"))
        .collect();
    out += &format!(
        "| Selo ({}): detect + gates + liveness + embed (wall ms: {}) | {} | {ratio:.2}× | ≤ 1.5× |\n",
        engine.backend().name(),
        stages.join(", "),
        ms(pipeline.analyse_s)
    );
    if let Some(tract) = &fallback {
        out += &format!(
            "| Selo on tract (the fallback without onnxruntime) | {} | {:.2}× | |\n",
            ms(tract.analyse_s),
            tract.analyse_s / reference.total_s
        );
    }
    out += &format!(
        "| Selo: the JPEG decode before it (not in the reference) | {} | | |\n\n",
        ms(pipeline.decode_s)
    );
    out += &format!(
        "Server memory with the models: {:.0} MiB resident once started (peak {:.0} MiB while \
         loading them); the peaks below are since the start.\n\n",
        start.resident_kib as f64 / 1024.0,
        start.peak_kib as f64 / 1024.0
    );
    out += &format!(
        "| create, {} connections, {} s | req/s | server CPU / req | p99 | peak RSS |\n|---|---|---|---|---|\n",
        args.run.connections, args.run.duration
    );
    for (name, m) in [
        ("scenario engine (no inference)", &scenario),
        ("local engines", &local),
    ] {
        let lat = m.latency();
        out += &format!(
            "| {name} | {:.0} | {:.0} µs | {:.1} ms | {:.0} MiB |\n",
            m.outcome.per_sec(),
            m.server_us_per_req(),
            f64::from(lat.p99_us) / 1e3,
            m.peak_rss_kib as f64 / 1024.0
        );
    }
    out += &format!(
        "\nBudget for a create with local engines: create + 1.5 × the reference = {budget_us:.0} µs; \
         measured {:.0} µs ({}).\n\n",
        local.server_us_per_req(),
        if local.server_us_per_req() <= budget_us {
            "within"
        } else {
            "over"
        }
    );
    out += "| 1:N search (exact scan, SQLite) | median of 9 queries |\n|---|---|\n";
    for (n, d) in &searches {
        out += &format!("| {n} faces enrolled | {:.1} ms |\n", d.as_secs_f64() * 1e3);
    }
    print!("{out}");
    let failed = scenario.outcome.failed() + local.outcome.failed();
    ensure!(failed == 0, "{failed} non-2xx responses");
    Ok(())
}

/// Process CPU seconds so far (user + system).
fn cpu_now() -> Result<f64> {
    Ok(crate::server::process_cpu_seconds("/proc/self/stat")?.total())
}

/// Selo's per-selfie CPU: the decode, then detect + gates + liveness + embed on the decoded
/// pixels, `rounds` times over every selfie.
fn time_pipeline(
    engine: &Engine,
    selfies: &[Vec<u8>],
    decoded: &[Rgb],
    rounds: usize,
) -> Result<Pipeline> {
    let runs = (selfies.len() * rounds) as f64;
    let t0 = cpu_now()?;
    for _ in 0..rounds {
        for bytes in selfies {
            std::hint::black_box(decode_rgb(ImageFormat::Jpeg, bytes).map_err(anyhow::Error::msg)?);
        }
    }
    let t1 = cpu_now()?;
    let mut stages_ms: Vec<(&'static str, f64)> = Vec::new();
    for _ in 0..rounds {
        for image in decoded {
            let analysis = engine.analyse_pixels(image).map_err(anyhow::Error::msg)?;
            ensure!(
                analysis.embedding.is_some(),
                "a selfie stopped passing the gates"
            );
            for (stage, ms) in &analysis.timings_ms {
                match stages_ms.iter_mut().find(|(s, _)| s == stage) {
                    Some((_, total)) => *total += ms / runs,
                    None => stages_ms.push((stage, ms / runs)),
                }
            }
            std::hint::black_box(analysis);
        }
    }
    let t2 = cpu_now()?;
    Ok(Pipeline {
        stages_ms,
        analyse_s: (t2 - t1) / runs,
        decode_s: (t1 - t0) / runs,
        selfies: selfies.len(),
    })
}

/// onnxruntime's per-selfie CPU on exactly the detector and embedder inputs Selo's pipeline
/// builds for the same selfies.
fn reference(args: &EnginesArgs, engine: &Engine, decoded: &[Rgb]) -> Result<Reference> {
    let dir = tempfile::tempdir()?;
    let (mut det, mut emb) = (Vec::new(), Vec::new());
    for image in decoded {
        det.extend(detect::input(image, detect::Letterbox::of(image)));
        let faces = engine.detect(image).map_err(anyhow::Error::msg)?;
        let face = faces.first().context("a test selfie without a face")?;
        emb.extend(embedder_input(&align::chip(image, align::Pose::of(face))));
    }
    let write = |name: &str, values: &[f32]| -> Result<PathBuf> {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )?;
        Ok(path)
    };
    let (det, emb) = (write("det.f32", &det)?, write("emb.f32", &emb)?);
    let out = std::process::Command::new(&args.reference_python)
        .arg("-c")
        .arg(ORT_TIMING)
        .arg(args.models.join(DETECTOR.file))
        .arg(args.models.join(EMBEDDER.file))
        .args([&det, &emb])
        .args([decoded.len().to_string(), args.rounds.to_string()])
        .output()
        .with_context(|| format!("running {}", args.reference_python.display()))?;
    ensure!(
        out.status.success(),
        "the onnxruntime reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// `nearest_other` on a store holding 10 000, then 100 000 faces, each under its own code.
fn search() -> Result<Vec<(usize, Duration)>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("search.db"), Durability::Normal)?;
    let tenant = selo_store::Tenant {
        id: "bench".into(),
        name: "bench".into(),
        environment: "production".into(),
        rate_limit: None,
        flows: None,
        permissions: None,
        retention: Default::default(),
        engines: Default::default(),
        created_at: 0,
    };
    selo_store::Configuration::create_tenant(&store, &tenant)?;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut embedding = move || -> Vec<f32> {
        (0..selo_engine::EMBEDDING_LEN)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed % 2001) as f32 - 1000.0) / 10_000.0
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut enrolled = 0;
    for target in [10_000, 100_000] {
        while enrolled < target {
            store.enroll("bench", &format!("code-{enrolled}"), &[embedding()], 0)?;
            enrolled += 1;
        }
        let mut times: Vec<Duration> = (0..9)
            .map(|_| {
                let query = embedding();
                let t = Instant::now();
                store.nearest_other("bench", "nobody", &query).map(|d| {
                    std::hint::black_box(d);
                    t.elapsed()
                })
            })
            .collect::<Result<_, _>>()?;
        times.sort();
        eprintln!("  {target} faces: {:?}", times[4]);
        out.push((target, times[4]));
    }
    Ok(out)
}

/// The create workload twice on one server with the models: a tenant on the scenario engine,
/// then one on the local engines, the same face selfie.
fn creates(
    args: &EnginesArgs,
    selo: &std::path::Path,
    selfie: &[u8],
) -> Result<(StartMemory, Measured, Measured)> {
    let server = Server::start_with(selo, &["--models".as_ref(), args.models.as_os_str()])?;
    // Loading the models has a peak of its own; the workloads' peaks are counted from here.
    let start = StartMemory {
        peak_kib: server.process.peak_rss_kib()?,
        resident_kib: server.process.rss_kib()?,
    };
    server.process.reset_peak_rss()?;
    let body: bytes::Bytes = serde_json::to_vec(&serde_json::json!({
        "subject": {"code": PERSON, "name": "Maria Silva"},
        "imageBase64": STANDARD.encode(selfie),
    }))?
    .into();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let duration = Duration::from_secs(args.run.duration);
    let measure = |local: bool| -> Result<Measured> {
        let tenant = server.provision()?;
        if local {
            let models = args.models.to_str().context("utf-8 models path")?;
            server.admin(&[
                "tenant",
                "set-engines",
                &tenant.id,
                "local",
                "--models",
                models,
            ])?;
        }
        let mut driver = Driver::new(
            &tenant,
            &server.audience,
            body.clone(),
            args.run.connections,
            duration,
        )?;
        runtime.block_on(driver.create_only(&server.url, &server.process))
    };
    let scenario = measure(false)?;
    let local = measure(true)?;
    Ok((start, scenario, local))
}

/// The server's memory once started with the models (before any request).
struct StartMemory {
    /// The peak while starting (the models' load), KiB.
    peak_kib: u64,
    /// Resident once started, KiB.
    resident_kib: u64,
}
