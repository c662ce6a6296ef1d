//! The local face engines as the server runs them (CONTRACT §17): loaded once at start from the
//! models directory, shared by every request, run on the blocking pool one selfie per core.
//! Without models the server still serves; what needs the engines answers 503 `50302`.

use selo_domain::image::CheckedImage;
use selo_domain::problem::{FieldProblem, Problem};
use selo_engine::{Analysis, Engine};
use selo_wire::analysis::{
    EngineName, FraudResult, LivenessResult, MatchResult, ModelRef, ProcessAnalysis,
};
use selo_wire::error::FieldReason;
use std::path::Path;
use std::sync::Arc;

/// The engines of a running server.
pub struct LocalEngines {
    /// The loaded models (`None`: not installed or damaged; the log said why at start).
    engine: Option<Arc<Engine>>,
    /// One analysis per core at a time: inference is CPU-bound, more at once only queues.
    permits: Arc<tokio::sync::Semaphore>,
}

impl LocalEngines {
    /// Loads the models in `dir`, logging what it found; a missing or damaged directory leaves
    /// the server without engines (it still starts).
    pub fn load(dir: &Path) -> LocalEngines {
        let engine = match Engine::load(dir) {
            Ok(engine) => {
                let names: Vec<&str> = engine.models().iter().map(|m| m.name.as_str()).collect();
                tracing::info!(
                    models = %dir.display(),
                    loaded = ?names,
                    runtime = engine.backend().name(),
                    "local engines ready"
                );
                if let Some(why) = engine.fallback() {
                    tracing::warn!(
                        "onnxruntime could not be loaded, the engines run on tract (slower): {why}"
                    );
                }
                Some(Arc::new(engine))
            }
            Err(e) => {
                tracing::warn!(
                    "local engines unavailable: {e}; production creates, captures and enrolments answer 503 until then"
                );
                None
            }
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LocalEngines {
            engine,
            permits: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    /// The engine, or the 503 that says how to install it.
    pub fn engine(&self) -> Result<&Arc<Engine>, Problem> {
        self.engine.as_ref().ok_or(Problem::EnginesMissing)
    }

    /// Runs the pipeline on a checked selfie off the async workers. A selfie refused by a gate
    /// answers the 400 that names the gate (for `field`).
    pub async fn analyse(&self, image: &CheckedImage, field: &str) -> Result<Selfie, Problem> {
        let engine = self.engine()?.clone();
        // The permit moves into the task: a request that times out or is dropped does not free
        // a core its analysis still uses.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Problem::Internal)?;
        let (format, bytes) = (image.format, image.bytes.clone());
        let analysis = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            engine.analyse(format, &bytes)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "engine task failed");
            Problem::Internal
        })?
        .map_err(|e| {
            tracing::error!(error = %e, "the engines failed on a checked image");
            Problem::Internal
        })?;
        Selfie::from_analysis(analysis, self.engine()?, field)
    }
}

/// A selfie that passed every gate: its embedding and what was measured.
pub struct Selfie {
    /// The face embedding. Biometric data: never log it.
    pub embedding: Vec<f32>,
    /// Whether the passive liveness check passed.
    pub live: bool,
    /// The explanation so far (match and fraud filled in by the caller).
    pub analysis: ProcessAnalysis,
}

impl Selfie {
    /// Refuses an analysis whose selfie failed a gate (400 `20901` naming it, for `field`);
    /// else the selfie, its explanation naming the models and the runtime `engine` ran.
    pub fn from_analysis(a: Analysis, engine: &Engine, field: &str) -> Result<Selfie, Problem> {
        if let Some(gate) = a.refused() {
            return Err(Problem::Invalid(vec![FieldProblem::new(
                field,
                FieldReason::Gate(gate),
                "20901",
                format!("{field}: {}", advice(gate)),
            )]));
        }
        let (Some(embedding), Some(liveness)) = (a.embedding, a.liveness) else {
            tracing::error!("the engines passed every gate but made no embedding");
            return Err(Problem::Internal);
        };
        let live = liveness.live();
        let analysis = ProcessAnalysis {
            engine: EngineName::Local,
            models: model_refs(engine),
            runtime: Some(engine.backend().name().to_string()),
            faces: a.faces,
            gates: a.gates,
            liveness: Some(LivenessResult {
                live,
                signals: [
                    ("chroma", liveness.chroma),
                    ("glare", liveness.glare),
                    ("blueCast", liveness.blue_cast),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            }),
            matched: None,
            fraud: FraudResult {
                checked: false,
                nearest_distance: None,
            },
            timings_ms: a
                .timings_ms
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        };
        Ok(Selfie {
            embedding,
            live,
            analysis,
        })
    }
}

/// The models that ran, for the explanation.
fn model_refs(engine: &Engine) -> Vec<ModelRef> {
    engine
        .models()
        .iter()
        .map(|m| ModelRef {
            name: m.name.clone(),
            version: m.version.clone(),
            sha256: m.sha256.clone(),
        })
        .collect()
}

/// What the person should do about a gate, in plain words.
pub fn advice(gate: selo_wire::analysis::GateReason) -> &'static str {
    use selo_wire::analysis::GateReason as G;
    match gate {
        G::FaceNotFound => "no face was found in the selfie; take a photo of the person's face",
        G::MultipleFaces => {
            "the selfie shows more than one face; take it with only the person in view"
        }
        G::FaceTooSmall => "the face is too small in the selfie; come closer to the camera",
        G::FaceCutOff => "part of the face is outside the selfie; centre the face in the frame",
        G::TooDark => "the face is too dark; take the selfie with more light",
        G::TooBright => "the face is too bright; avoid direct light or glare on the face",
        G::Blurry => "the selfie is blurry; hold the camera still and take it again",
        G::FaceNotFrontal => "the face is turned away; look straight at the camera",
    }
}

/// The identity comparison's explanation.
pub fn match_result(
    enrolled: usize,
    distance: Option<f32>,
    t: selo_domain::verification::MatchThresholds,
) -> MatchResult {
    MatchResult {
        enrolled: enrolled as u32,
        distance: distance.map(rounded),
        accept: t.accept,
        reject: t.reject,
    }
}

/// A distance as the explanation shows it (four decimals).
pub fn rounded(distance: f32) -> f32 {
    (distance * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    /// The PostgreSQL store's face index holds embeddings of exactly the length the engines
    /// make (a change of model must change the index's column too).
    #[test]
    fn the_face_index_holds_the_engines_embeddings() {
        assert_eq!(
            selo_store::postgres::INDEXED_DIMENSIONS,
            selo_engine::EMBEDDING_LEN
        );
    }
}
