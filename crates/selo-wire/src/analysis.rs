//! **[ext]** What the engines saw and decided (CONTRACT §17): the quality gates' reasons and the
//! explanation endpoints' body (`GET /processes/v1/{id}/analysis`,
//! `GET /client/v1/process/{id}/analysis`). Never an embedding, an image or another person's
//! code.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A quality gate of the local engines, in the order the gates run (§17). A selfie that fails
/// one is refused with the gate's name as `fields[].reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateReason {
    /// No face was found.
    FaceNotFound,
    /// A second face at least a third of the largest one's area.
    MultipleFaces,
    /// The face box is narrower than an eighth of the image's shorter side.
    FaceTooSmall,
    /// Part of the face is outside the image.
    FaceCutOff,
    /// The face region is too dark.
    TooDark,
    /// The face region is too bright.
    TooBright,
    /// The face region is not sharp.
    Blurry,
    /// The face is turned away from the camera.
    FaceNotFrontal,
}

impl GateReason {
    /// Every gate, in the order they run.
    pub const ALL: [GateReason; 8] = [
        GateReason::FaceNotFound,
        GateReason::MultipleFaces,
        GateReason::FaceTooSmall,
        GateReason::FaceCutOff,
        GateReason::TooDark,
        GateReason::TooBright,
        GateReason::Blurry,
        GateReason::FaceNotFrontal,
    ];

    /// The reason as the contract spells it in `fields[].reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            GateReason::FaceNotFound => "face_not_found",
            GateReason::MultipleFaces => "multiple_faces",
            GateReason::FaceTooSmall => "face_too_small",
            GateReason::FaceCutOff => "face_cut_off",
            GateReason::TooDark => "too_dark",
            GateReason::TooBright => "too_bright",
            GateReason::Blurry => "blurry",
            GateReason::FaceNotFrontal => "face_not_frontal",
        }
    }
}

/// Which engine decided a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// The local face engines.
    Local,
    /// The sandbox's deterministic scenarios (§8).
    Scenario,
}

/// A model that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    /// Model name.
    pub name: String,
    /// Its package's version.
    pub version: String,
    /// SHA-256 of the model file that ran.
    pub sha256: String,
}

/// A face the detector found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    /// `[x, y, width, height]` in image pixels.
    #[serde(rename = "box")]
    pub bounds: [i32; 4],
    /// Detection confidence, 0..1.
    pub score: f32,
}

/// One gate's measurement against its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The gate.
    pub name: GateReason,
    /// Whether the selfie passed it.
    pub passed: bool,
    /// What was measured.
    pub value: f32,
    /// The line it was held to.
    pub threshold: f32,
}

/// The passive liveness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessResult {
    /// Whether the selfie looked live.
    pub live: bool,
    /// The cues measured (`chroma`, `glare`, `blueCast`).
    pub signals: BTreeMap<String, f32>,
}

/// The identity comparison (or, for a transactional process, the 1:1 comparison).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchResult {
    /// Faces compared with (enrolled under the person's code, or referenced).
    pub enrolled: u32,
    /// The deciding distance (smallest to the enrolled faces; largest to the references);
    /// `null` when there was nothing to compare with.
    pub distance: Option<f32>,
    /// The tenant's acceptance line.
    pub accept: f32,
    /// The tenant's rejection line.
    pub reject: f32,
}

/// The 1:N fraud search (behavior alert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FraudResult {
    /// Whether the search ran (it runs for keys with `behavioralert`).
    pub checked: bool,
    /// Distance to the nearest face enrolled under another code (`null`: none, or not run).
    pub nearest_distance: Option<f32>,
}

/// `GET …/analysis`: what ran, with which models, and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessAnalysis {
    /// The engine that decided.
    pub engine: EngineName,
    /// The models that ran (none for the scenario engine).
    pub models: Vec<ModelRef>,
    /// The runtime they ran on: `onnxruntime`, or `tract` where onnxruntime is not installed
    /// or could not be loaded (`null` for the scenario engine).
    #[serde(default)]
    pub runtime: Option<String>,
    /// Faces found, largest first.
    pub faces: Vec<FaceBox>,
    /// The gates, in order.
    pub gates: Vec<GateResult>,
    /// The liveness check (`null` for the scenario engine or a selfie that never got there).
    pub liveness: Option<LivenessResult>,
    /// The identity or 1:1 comparison (`null` when none ran).
    #[serde(rename = "match")]
    pub matched: Option<MatchResult>,
    /// The fraud search.
    pub fraud: FraudResult,
    /// Milliseconds per stage.
    pub timings_ms: BTreeMap<String, f64>,
}

impl ProcessAnalysis {
    /// The analysis of a process the scenario engine decided: nothing measured.
    pub fn scenario() -> ProcessAnalysis {
        ProcessAnalysis {
            engine: EngineName::Scenario,
            models: Vec::new(),
            runtime: None,
            faces: Vec::new(),
            gates: Vec::new(),
            liveness: None,
            matched: None,
            fraud: FraudResult {
                checked: false,
                nearest_distance: None,
            },
            timings_ms: BTreeMap::new(),
        }
    }
}

/// An identity's faces after an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrolled {
    /// The person's code.
    pub code: String,
    /// Faces now enrolled under it.
    pub faces: u32,
}

/// One identity of `selo admin identity list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityInfo {
    /// The person's code.
    pub code: String,
    /// Faces enrolled under it.
    pub faces: u32,
    /// When its latest face was enrolled (RFC 3339).
    pub enrolled_at: String,
}

/// `selo admin identity list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityList {
    /// The identities, by code.
    pub items: Vec<IdentityInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldReason;

    #[test]
    fn gate_names_are_the_contracts_and_field_reasons() {
        let names: Vec<_> = GateReason::ALL.iter().map(|g| g.as_str()).collect();
        assert_eq!(
            names,
            [
                "face_not_found",
                "multiple_faces",
                "face_too_small",
                "face_cut_off",
                "too_dark",
                "too_bright",
                "blurry",
                "face_not_frontal"
            ]
        );
        for g in GateReason::ALL {
            let spelled = serde_json::json!(g.as_str());
            assert_eq!(serde_json::to_value(g).unwrap(), spelled);
            let reason = FieldReason::Gate(g);
            assert_eq!(serde_json::to_value(reason).unwrap(), spelled);
            assert_eq!(
                serde_json::from_value::<FieldReason>(spelled).unwrap(),
                reason
            );
        }
        assert_eq!(
            serde_json::from_value::<FieldReason>(serde_json::json!("too_small")).unwrap(),
            FieldReason::TooSmall
        );
    }

    #[test]
    fn the_analysis_spells_the_contract() {
        let mut a = ProcessAnalysis::scenario();
        a.matched = Some(MatchResult {
            enrolled: 1,
            distance: Some(0.25),
            accept: 0.4,
            reject: 0.6,
        });
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["engine"], "scenario");
        assert_eq!(v["match"]["enrolled"], 1);
        assert_eq!(
            v["fraud"],
            serde_json::json!({"checked": false, "nearestDistance": null})
        );
        assert!(v["timingsMs"].is_object());
    }
}
