//! `selo models install|list` (CONTRACT §17): the only step that touches a network. It fetches
//! the pinned packages with the machine's own `npm`, checks their SHA-256, converts the models
//! to ONNX with the repository's converter in a private Python environment (pinned packages,
//! installed with the machine's `pip`), checks that the conversion gave the pinned bytes, and
//! writes the files and their manifest to the models directory.

use crate::cli::{ModelsArgs, ModelsCommand};
use crate::output;
use anyhow::{Context, bail};
use selo_engine::catalogue::{
    self, CONVERTER, CONVERTER_PYTHON_PACKAGES, DETECTOR_FILE, EMBEDDER_FILE, FACE_API,
    MANIFEST_FILE, MEDIAPIPE_FACE_DETECTION, ModelInfo, Package,
};
use selo_engine::sha256_hex;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the conversion must produce, byte for byte (the converter is reproducible; a different
/// hash means a different converter or package, which is refused rather than trusted).
const DETECTOR_ONNX_SHA256: &str =
    "6f4beb2fd5cfdc9e82321e8bd98bf1c3b265e350d2af2e5a7212dc639e6b165b";
const EMBEDDER_ONNX_SHA256: &str =
    "da161c29e31392c1c0ded9e298269c007d00fc01ddebb9759e52a6ce1b5d0f12";

/// Runs `selo models …`.
pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let dir = args.dir();
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

/// The installed manifest when every file in it still has its recorded hash.
fn intact(dir: &Path) -> Option<Vec<ModelInfo>> {
    let models = catalogue::read_manifest(dir).ok()??;
    let ok = [DETECTOR_FILE, EMBEDDER_FILE].iter().all(|file| {
        models.iter().any(|m| {
            m.file == *file
                && std::fs::read(dir.join(file)).is_ok_and(|b| sha256_hex(&b) == m.sha256)
        })
    });
    ok.then_some(models)
}

fn install(dir: &Path, json: bool) -> anyhow::Result<()> {
    if intact(dir).is_some() {
        eprintln!("models already installed in {}", dir.display());
        return list(dir, json);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let work = dir.join(".install");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let detection = fetch(&work, MEDIAPIPE_FACE_DETECTION)?;
    let face_api = fetch(&work, FACE_API)?;
    let python = converter_python(dir)?;
    let script = work.join("convert.py");
    std::fs::write(&script, CONVERTER)?;

    let detector_src = extract(
        &detection,
        &work,
        "package/face_detection_short_range.tflite",
    )?;
    let manifest_src = extract(
        &face_api,
        &work,
        "package/model/face_recognition_model-weights_manifest.json",
    )?;
    let weights_src = extract(&face_api, &work, "package/model/face_recognition_model.bin")?;

    let detector = convert(
        &python,
        &script,
        &["blazeface", path(&detector_src)?],
        dir,
        DETECTOR_FILE,
        DETECTOR_ONNX_SHA256,
    )?;
    let embedder = convert(
        &python,
        &script,
        &["dlib", path(&manifest_src)?, path(&weights_src)?],
        dir,
        EMBEDDER_FILE,
        EMBEDDER_ONNX_SHA256,
    )?;
    let models = vec![
        ModelInfo {
            name: "blazeface-short-range".into(),
            version: "0.4.1657300184".into(),
            sha256: detector,
            license: "Apache-2.0".into(),
            source: format!(
                "npm {} (sha256 {}): package/face_detection_short_range.tflite, converted with tflite2onnx 0.4.1",
                MEDIAPIPE_FACE_DETECTION.spec, MEDIAPIPE_FACE_DETECTION.sha256
            ),
            file: DETECTOR_FILE.into(),
        },
        ModelInfo {
            name: "dlib-resnet29-face-recognition".into(),
            version: "1.7.15".into(),
            sha256: embedder,
            license: "CC0-1.0 AND MIT".into(),
            source: format!(
                "npm {} (sha256 {}): package/model/face_recognition_model.bin + weights manifest (dlib-models weights, CC0-1.0; face-api.js packaging, MIT), rebuilt as ONNX by convert.py",
                FACE_API.spec, FACE_API.sha256
            ),
            file: EMBEDDER_FILE.into(),
        },
    ];
    let manifest = dir.join(MANIFEST_FILE);
    let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&models)?)?;
    std::fs::rename(&tmp, &manifest)?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("models installed in {}", dir.display());
    list(dir, json)
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not a UTF-8 path", p.display()))
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
    let bytes = std::fs::read(&tarball)
        .with_context(|| format!("npm pack wrote no {}", tarball.display()))?;
    let actual = sha256_hex(&bytes);
    if actual != package.sha256 {
        bail!(
            "{} has SHA-256 {actual}, not the pinned {}: the registry served other bytes; nothing was installed",
            package.spec,
            package.sha256
        );
    }
    Ok(tarball)
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

/// Runs the converter and moves its output into place once its hash is the pinned one.
fn convert(
    python: &Path,
    script: &Path,
    args: &[&str],
    dir: &Path,
    file: &str,
    pinned: &str,
) -> anyhow::Result<String> {
    let tmp = dir.join(format!("{file}.tmp"));
    run_tool(
        Command::new(python)
            .arg(script)
            .args(args)
            .arg(&tmp)
            .env("PYTHONHASHSEED", "0"),
        "the model converter",
        "see its output above",
    )?;
    let actual = sha256_hex(&std::fs::read(&tmp)?);
    if actual != pinned {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "converting {file} gave SHA-256 {actual}, not the pinned {pinned}: the converter's packages differ from the pinned ones"
        );
    }
    std::fs::rename(&tmp, dir.join(file))?;
    Ok(actual)
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
