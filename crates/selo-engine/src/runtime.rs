//! The runtimes the engine runs its models on: onnxruntime — the pinned shared library that
//! `selo models install` puts beside the models ([`catalogue::RUNTIME`]), loaded once per
//! process — when it is installed, else tract (pure Rust, slower: BENCHMARKS.md).

use crate::catalogue;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tract_onnx::prelude::*;

/// Which runtime an engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// onnxruntime's pinned library from the models directory.
    Onnxruntime,
    /// tract.
    Tract,
}

impl Backend {
    /// The runtime to use for a models directory: onnxruntime when its pinned library is
    /// installed there, else tract.
    ///
    /// # Errors
    ///
    /// A message when the library is there but is not the pinned bytes.
    pub fn for_dir(dir: &Path) -> Result<Backend, String> {
        match catalogue::RUNTIME {
            Some(runtime) if runtime.verified_path(dir)?.is_some() => Ok(Backend::Onnxruntime),
            _ => Ok(Backend::Tract),
        }
    }

    /// Its name, as the engine reports it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Onnxruntime => "onnxruntime",
            Backend::Tract => "tract",
        }
    }
}

/// One model, ready to run.
pub enum Runner {
    /// On tract: one plan, shared.
    Tract(Arc<TypedRunnableModel>),
    /// On onnxruntime: a session per core (a session runs one input at a time).
    Onnxruntime(Vec<Mutex<ort::session::Session>>),
}

impl Runner {
    /// Prepares `bytes` (an ONNX file) on `backend`, from the runtime library in `dir`.
    ///
    /// # Errors
    ///
    /// A message when the model or the runtime cannot be loaded.
    pub fn load(backend: Backend, dir: &Path, bytes: &[u8]) -> Result<Runner, String> {
        match backend {
            Backend::Tract => tract_onnx::onnx()
                .model_for_read(&mut &bytes[..])
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .map(Runner::Tract)
                .map_err(|e| e.to_string()),
            Backend::Onnxruntime => {
                let environment = onnxruntime(dir)?;
                // One session per core (each holds its copy of the weights), at most four; the
                // settings of the reference the benchmark compares with.
                let sessions = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
                (0..sessions)
                    .map(|_| {
                        ort::session::Session::builder(&environment)
                            .and_then(|b| {
                                b.with_optimization_level(
                                    ort::session::builder::GraphOptimizationLevel::All,
                                )
                                .map_err(Into::into)
                            })
                            .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
                            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
                            .and_then(|mut b| b.commit_from_memory(bytes))
                            .map(Mutex::new)
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<_, _>>()
                    .map(Runner::Onnxruntime)
            }
        }
    }

    /// Runs the model on one NCHW input of `shape`; every output's values, in order.
    ///
    /// # Errors
    ///
    /// A message when the model fails to run.
    pub fn run(&self, input: &[f32], shape: [usize; 4]) -> Result<Vec<Vec<f32>>, String> {
        match self {
            Runner::Tract(plan) => {
                let input = Tensor::from_shape(&shape, input).map_err(|e| e.to_string())?;
                let out = plan
                    .run(tvec![input.into_tvalue()])
                    .map_err(|e| e.to_string())?;
                out.iter()
                    .map(|v| {
                        v.try_as_plain_ram()
                            .and_then(|t| t.as_slice::<f32>())
                            .map(<[f32]>::to_vec)
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            }
            Runner::Onnxruntime(sessions) => {
                // A free session if there is one (the server runs at most one analysis per
                // core), else wait for the first.
                let mut session = match sessions.iter().find_map(|s| s.try_lock().ok()) {
                    Some(session) => session,
                    None => sessions[0].lock().unwrap_or_else(|p| p.into_inner()),
                };
                let input = ort::value::TensorRef::from_array_view((shape, input))
                    .map_err(|e| e.to_string())?;
                let out = session
                    .run(ort::inputs![input])
                    .map_err(|e| e.to_string())?;
                (0..out.len())
                    .map(|i| {
                        out[i]
                            .try_extract_tensor::<f32>()
                            .map(|(_, values)| values.to_vec())
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            }
        }
    }
}

/// A library others than its owner may write could be replaced after its check: refused.
fn refuse_writable_by_others(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "{} is writable by its group or others (mode {:o}); make it writable by its owner only (chmod go-w)",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// The process's onnxruntime environment, made once from the pinned library in `dir` (checked
/// against its SHA-256 first). A process loads one runtime: a later engine reuses it, whatever
/// its `dir`, and a first load that failed stays failed (those engines run on tract).
fn onnxruntime(dir: &Path) -> Result<ort::environment::Environment, String> {
    static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| {
            let runtime = catalogue::RUNTIME.ok_or("no onnxruntime build for this platform")?;
            let path = runtime
                .verified_path(dir)?
                .ok_or_else(|| format!("no {} in {}", runtime.file, dir.display()))?;
            // Absolute, so the loader opens the file that was checked (a relative path is
            // first looked for beside the executable).
            let path = std::path::absolute(&path).map_err(|e| e.to_string())?;
            refuse_writable_by_others(&path)?;
            ort::init_from(&path)
                .map_err(|e| e.to_string())?
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
}
