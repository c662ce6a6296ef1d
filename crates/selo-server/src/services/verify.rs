//! The local engines' verdict on one person's selfie (CONTRACT §17), shared by API creates and
//! the journeys' captures: the gates (a refusal is the 400 naming the gate), liveness, the
//! distance to the faces enrolled under the person's code, and the 1:N fraud search.

use crate::services::store_failure;
use crate::state::AppState;
use selo_domain::image::CheckedImage;
use selo_domain::problem::Problem;
use selo_domain::verification::{EngineSettings, LocalVerdict, Measured, distance};
use selo_wire::analysis::{FraudResult, ProcessAnalysis};

/// A selfie the local engines judged.
pub struct Judged {
    /// The verdict.
    pub verdict: LocalVerdict,
    /// What was measured (no embedding).
    pub analysis: ProcessAnalysis,
    /// The selfie's face embedding. Biometric data: never log it.
    pub embedding: Vec<f32>,
}

/// What a judgement runs.
#[derive(Debug, Clone, Copy)]
pub struct Asked {
    /// The 1:N fraud search (the behavior alert).
    pub fraud_search: bool,
    /// Liveness (a selfie that does not look live then never confirms an identity).
    pub liveness: bool,
}

/// Judges `image` as the face of the person with `code` in `tenant_id`.
pub async fn judge(
    state: &AppState,
    tenant_id: &str,
    code: &str,
    image: &CheckedImage,
    asked: Asked,
    settings: EngineSettings,
) -> Result<Judged, Problem> {
    let engines = &state.shared.engines;
    let selfie = engines.analyse(image, "imageBase64").await?;
    let store = &state.shared.store;
    let thresholds = settings.thresholds();
    // The search scans the tenant's faces: off the async workers' queue.
    let (enrolled, fraud) = tokio::task::block_in_place(|| {
        let enrolled = store.identity_faces(tenant_id, code)?;
        let fraud = asked
            .fraud_search
            .then(|| store.nearest_other(tenant_id, code, &selfie.embedding))
            .transpose()?;
        Ok((enrolled, fraud))
    })
    .map_err(store_failure)?;
    let nearest = enrolled
        .iter()
        .map(|face| distance(face, &selfie.embedding))
        .min_by(f32::total_cmp);
    let verdict = LocalVerdict::decide(
        Measured {
            nearest_enrolled: nearest,
            live: selfie.live,
            nearest_other: fraud,
        },
        thresholds,
        asked.liveness,
    );
    let mut analysis = selfie.analysis;
    analysis.matched = Some(crate::engines::match_result(
        enrolled.len(),
        nearest,
        thresholds,
    ));
    analysis.fraud = FraudResult {
        checked: fraud.is_some(),
        nearest_distance: fraud.flatten().map(crate::engines::rounded),
    };
    Ok(Judged {
        verdict,
        analysis,
        embedding: selfie.embedding,
    })
}
