//! The rules of real verification (CONTRACT §17): the quality gates' reasons in their order,
//! the match thresholds and the face distance. The engines measure; this module decides.

use serde::{Deserialize, Serialize};

/// A quality gate a selfie failed, in the order the gates run (§17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// A tenant's face-distance thresholds: at most `accept` is the same person, over `reject`
/// another one, between them inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchThresholds {
    /// Largest distance accepted as the same person.
    pub accept: f32,
    /// Distance over which the person is another one.
    pub reject: f32,
}

impl Default for MatchThresholds {
    /// The defaults for dlib's ResNet embedding (docs/engines.md): the customary 0.6 as the
    /// rejection line and a stricter 0.4 as the acceptance line (different people in the test
    /// photos came as close as 0.43).
    fn default() -> Self {
        MatchThresholds {
            accept: 0.4,
            reject: 0.6,
        }
    }
}

impl MatchThresholds {
    /// Whether a distance is within `accept` (1:1 and the fraud search).
    pub fn accepts(self, distance: f32) -> bool {
        distance <= self.accept
    }
}

/// Face embeddings are compared by plain Euclidean distance.
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distance_is_accepted_up_to_the_line() {
        let t = MatchThresholds::default();
        assert!(t.accepts(0.3) && t.accepts(0.4));
        assert!(!t.accepts(0.41) && !t.accepts(f32::NAN));
    }

    #[test]
    fn gate_names_are_the_contracts() {
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
            assert_eq!(
                serde_json::to_value(g).unwrap(),
                serde_json::json!(g.as_str())
            );
        }
    }
}
