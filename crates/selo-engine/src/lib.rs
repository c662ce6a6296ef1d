//! Selo's local face engines (CONTRACT §17): everything that loads models and runs them.
//!
//! [`Engine::analyse`] takes a checked selfie and returns what the engines saw: the faces, the
//! quality gates in order, the passive liveness cues and, when every gate passed, the 128-d
//! face embedding. The rules that turn those into a verdict live in
//! `selo_domain::verification`; this crate measures.
//!
//! Models are ONNX files written by `selo models install` (see [`catalogue`]); they are loaded
//! once, checked against the manifest's SHA-256, and run with `tract` (pure Rust, no network).
//! [`Engine::analyse`] is CPU-bound: callers run it off their async workers.

pub mod align;
pub mod catalogue;
pub mod detect;
pub mod pixels;
pub mod quality;
pub mod runtime;
#[cfg(feature = "testkit")]
pub mod testkit;

use crate::catalogue::{DETECTOR, EMBEDDER, Model, ModelInfo};
use crate::runtime::{Backend, Runner};
use selo_domain::image::ImageFormat;
use std::path::Path;
use std::time::Instant;

/// The embedding's length.
pub const EMBEDDING_LEN: usize = 128;
/// The embedder's input normalisation: dlib's mean RGB, subtracted before dividing by 255.
const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

/// Why the engines could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Nothing is installed in the directory.
    #[error("no models in {0}: run `selo models install` (with the same --models or SELO_MODELS)")]
    NotInstalled(String),
    /// A file differs from its manifest or is unreadable.
    #[error("{0}; run `selo models install` again")]
    Damaged(String),
}

/// The loaded models, shared by every request.
pub struct Engine {
    detector: Runner,
    embedder: Runner,
    backend: Backend,
    fallback: Option<String>,
    anchors: Vec<(f32, f32)>,
    models: Vec<ModelInfo>,
}

pub use selo_wire::analysis::FaceBox;

/// What the engines saw in one selfie. Its `Debug` leaves out the embedding.
#[derive(Clone)]
pub struct Analysis {
    /// The faces found, largest first.
    pub faces: Vec<FaceBox>,
    /// The gates that ran, in order, up to the first that failed.
    pub gates: Vec<quality::Gate>,
    /// The liveness cues (`None` when a gate failed before they could be measured).
    pub liveness: Option<quality::LivenessSignals>,
    /// The face embedding (`None` when a gate failed). Biometric data: never log it.
    pub embedding: Option<Vec<f32>>,
    /// Milliseconds per stage: `decode`, `detect`, `gates`, `embed`.
    pub timings_ms: Vec<(&'static str, f64)>,
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analysis")
            .field("faces", &self.faces)
            .field("gates", &self.gates)
            .field("liveness", &self.liveness)
            .field("embedding", &self.embedding.as_ref().map(|_| "<redacted>"))
            .field("timings_ms", &self.timings_ms)
            .finish_non_exhaustive()
    }
}

impl Analysis {
    /// The first gate that failed, if any.
    pub fn refused(&self) -> Option<selo_wire::analysis::GateReason> {
        self.gates.iter().find(|g| !g.passed).map(|g| g.name)
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("models", &self.models)
            .field("backend", &self.backend)
            .finish()
    }
}

impl Engine {
    /// Loads the models of a directory written by `selo models install`, each file checked
    /// against its pinned SHA-256.
    ///
    /// # Errors
    ///
    /// [`LoadError::NotInstalled`] when the directory has no manifest, [`LoadError::Damaged`]
    /// when a file is missing, altered or not a model.
    pub fn load(dir: &Path) -> Result<Engine, LoadError> {
        match Backend::for_dir(dir).map_err(LoadError::Damaged)? {
            // A library that is the pinned one but cannot be loaded here (an older glibc, a
            // noexec mount) leaves the engines on tract, saying why.
            Backend::Onnxruntime => Engine::load_on(dir, Backend::Onnxruntime).or_else(|e| {
                let mut engine = Engine::load_on(dir, Backend::Tract)?;
                engine.fallback = Some(e.to_string());
                Ok(engine)
            }),
            Backend::Tract => Engine::load_on(dir, Backend::Tract),
        }
    }

    /// Why the engines run on tract although onnxruntime is installed (`None`: they do not).
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// [`Engine::load`] on a given runtime (the tests and the benchmarks compare them).
    ///
    /// # Errors
    ///
    /// As [`Engine::load`], and when onnxruntime is asked for and not installed.
    pub fn load_on(dir: &Path, backend: Backend) -> Result<Engine, LoadError> {
        let models = catalogue::read_manifest(dir)
            .map_err(LoadError::Damaged)?
            .ok_or_else(|| LoadError::NotInstalled(dir.display().to_string()))?;
        let runner = |model: Model| -> Result<Runner, LoadError> {
            let bytes = catalogue::read_verified(dir, model).map_err(LoadError::Damaged)?;
            Runner::load(backend, dir, &bytes).map_err(|e| {
                LoadError::Damaged(format!(
                    "{} does not run on {}: {e}",
                    model.file,
                    backend.name()
                ))
            })
        };
        Ok(Engine {
            detector: runner(DETECTOR)?,
            embedder: runner(EMBEDDER)?,
            backend,
            fallback: None,
            anchors: detect::anchors(),
            models: models
                .into_iter()
                .filter(|m| catalogue::MODELS.iter().any(|model| model.name == m.name))
                .collect(),
        })
    }

    /// The runtime it runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The installed models (name, version, hash, licence, source).
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// Runs the pipeline on a checked image: detection, the gates in order, liveness cues and
    /// the embedding.
    ///
    /// # Errors
    ///
    /// A message when the image cannot be decoded to pixels or a model fails to run (both
    /// internal: the image already passed its checks).
    pub fn analyse(&self, format: ImageFormat, bytes: &[u8]) -> Result<Analysis, String> {
        let start = Instant::now();
        let image = pixels::decode_rgb(format, bytes).map_err(|e| e.to_string())?;
        let decode_ms = (start.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let mut analysis = self.analyse_pixels(&image)?;
        analysis.timings_ms.insert(0, ("decode", decode_ms));
        Ok(analysis)
    }

    /// [`Engine::analyse`] on decoded pixels: detection, the gates, liveness cues and the
    /// embedding (timings `detect`, `gates`, `embed`).
    ///
    /// # Errors
    ///
    /// A message when a model fails to run.
    pub fn analyse_pixels(&self, image: &pixels::Rgb) -> Result<Analysis, String> {
        let mut timings = Vec::new();
        let mut lap = Instant::now();
        let mut tick = |name: &'static str| {
            let now = Instant::now();
            timings.push((name, ((now - lap).as_secs_f64() * 1e6).round() / 1e3));
            lap = now;
        };
        let faces = self.detect(image)?;
        tick("detect");
        let pose = faces.first().map(align::Pose::of);
        let chip = pose.map(|p| align::chip(image, p));
        let gates = quality::gates(image.width, image.height, &faces, chip.as_ref(), pose);
        let passed = gates.len() == selo_wire::analysis::GateReason::ALL.len()
            && gates.iter().all(|g| g.passed);
        let liveness = chip.as_ref().filter(|_| passed).map(quality::liveness);
        tick("gates");
        let embedding = match chip.as_ref().filter(|_| passed) {
            Some(chip) => Some(self.embed(chip)?),
            None => None,
        };
        tick("embed");
        Ok(Analysis {
            faces: faces
                .iter()
                .map(|f| FaceBox {
                    bounds: [
                        f.x0.round() as i32,
                        f.y0.round() as i32,
                        f.width().round() as i32,
                        f.height().round() as i32,
                    ],
                    score: (f.score * 1000.0).round() / 1000.0,
                })
                .collect(),
            gates,
            liveness,
            embedding,
            timings_ms: timings,
        })
    }

    /// Detects faces (largest first). BlazeFace's short-range model is made for selfies; when
    /// it finds nothing in the whole frame, a second pass looks at the central square half the
    /// shorter side wide, so a face too far from the camera is found (and refused as
    /// `face_too_small`) rather than reported missing.
    pub fn detect(&self, image: &pixels::Rgb) -> Result<Vec<detect::Face>, String> {
        let faces = self.detect_in(image, detect::Letterbox::of(image))?;
        if !faces.is_empty() {
            return Ok(faces);
        }
        self.detect_in(image, detect::Letterbox::centre(image))
    }

    fn detect_in(
        &self,
        image: &pixels::Rgb,
        lb: detect::Letterbox,
    ) -> Result<Vec<detect::Face>, String> {
        let (regressors, scores) = self.detector_outputs(&detect::input(image, lb))?;
        Ok(detect::decode(&regressors, &scores, &self.anchors, lb))
    }

    /// The detector's raw outputs (regressors, scores) for an input made by [`detect::input`].
    pub fn detector_outputs(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), String> {
        let side = detect::INPUT_SIDE;
        let mut out = self.detector.run(input, [1, 3, side, side])?.into_iter();
        match (out.next(), out.next()) {
            (Some(r), Some(s))
                if r.len() == detect::ANCHORS * detect::REGRESSORS
                    && s.len() == detect::ANCHORS =>
            {
                Ok((r, s))
            }
            _ => Err("the detector's outputs do not have BlazeFace's shapes".into()),
        }
    }

    /// The 128-d embedding of an aligned chip.
    pub fn embed(&self, chip: &align::Chip) -> Result<Vec<f32>, String> {
        let side = align::CHIP_SIDE;
        let values = self
            .embedder
            .run(&embedder_input(chip), [1, 3, side, side])?
            .into_iter()
            .next()
            .unwrap_or_default();
        if values.len() != EMBEDDING_LEN {
            return Err("the embedder's output is not 128 values".into());
        }
        Ok(values)
    }
}

/// The embedder's input for a chip: NCHW, `(pixel - MEAN_RGB) / 255`.
pub fn embedder_input(chip: &align::Chip) -> Vec<f32> {
    let n = align::CHIP_SIDE * align::CHIP_SIDE;
    let mut data = vec![0.0f32; 3 * n];
    for (i, p) in chip.pixels.iter().enumerate() {
        for c in 0..3 {
            data[c * n + i] = (p[c] - MEAN_RGB[c]) / 255.0;
        }
    }
    data
}
