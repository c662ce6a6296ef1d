//! The rules of real verification (CONTRACT §17): the quality gates' reasons and what they ask
//! of the person, and the identity decision from face distances. The engines measure; this module decides.

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

    /// What the person should do, in plain words (the journey page shows it; API errors end
    /// with it).
    pub fn advice(self) -> &'static str {
        match self {
            GateReason::FaceNotFound => {
                "No face was found. Make sure your whole face is in the picture."
            }
            GateReason::MultipleFaces => {
                "More than one face is in the picture. Take it alone, with no one behind you."
            }
            GateReason::FaceTooSmall => "Your face is too small. Come closer to the camera.",
            GateReason::FaceCutOff => {
                "Part of your face is outside the picture. Centre your face in the frame."
            }
            GateReason::TooDark => "The picture is too dark. Find more light.",
            GateReason::TooBright => {
                "The picture is too bright. Move away from direct light or the window."
            }
            GateReason::Blurry => "The picture is blurry. Hold still and clean the lens.",
            GateReason::FaceNotFrontal => "Look straight at the camera.",
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
    /// Checks a pair given on the command line: finite, `0 < accept <= reject <= 4` (the
    /// embeddings' distances stay well under 4).
    pub fn validate(accept: f32, reject: f32) -> Result<MatchThresholds, String> {
        if !(accept.is_finite() && reject.is_finite()) || accept <= 0.0 || reject > 4.0 {
            return Err(format!(
                "match thresholds must be numbers with 0 < accept <= reject <= 4 (got accept {accept}, reject {reject})"
            ));
        }
        if accept > reject {
            return Err(format!(
                "--match-accept ({accept}) must not be greater than --match-reject ({reject})"
            ));
        }
        Ok(MatchThresholds { accept, reject })
    }

    /// `unicoId.result` for the smallest distance to the code's enrolled faces (`None`: the
    /// code has no enrolled face).
    pub fn identity(self, nearest: Option<f32>) -> IdentityResult {
        match nearest {
            Some(d) if d <= self.accept => IdentityResult::Yes,
            Some(d) if d > self.reject => IdentityResult::No,
            _ => IdentityResult::Inconclusive,
        }
    }

    /// Whether a distance is within `accept` (1:1 and the fraud search).
    pub fn accepts(self, distance: f32) -> bool {
        distance <= self.accept
    }
}

/// `unicoId.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityResult {
    /// Same person as the enrolled faces.
    Yes,
    /// Another person.
    No,
    /// Neither.
    Inconclusive,
}

impl IdentityResult {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityResult::Yes => "yes",
            IdentityResult::No => "no",
            IdentityResult::Inconclusive => "inconclusive",
        }
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
    fn the_identity_follows_the_thresholds() {
        let t = MatchThresholds::default();
        assert_eq!(t.identity(Some(0.3)), IdentityResult::Yes);
        assert_eq!(t.identity(Some(0.4)), IdentityResult::Yes);
        assert_eq!(t.identity(Some(0.5)), IdentityResult::Inconclusive);
        assert_eq!(t.identity(Some(0.6)), IdentityResult::Inconclusive);
        assert_eq!(t.identity(Some(0.61)), IdentityResult::No);
        assert_eq!(t.identity(None), IdentityResult::Inconclusive);
    }

    #[test]
    fn thresholds_are_checked() {
        assert!(MatchThresholds::validate(0.4, 0.6).is_ok());
        assert!(MatchThresholds::validate(0.7, 0.6).is_err());
        assert!(MatchThresholds::validate(0.0, 0.6).is_err());
        assert!(MatchThresholds::validate(f32::NAN, 0.6).is_err());
        assert!(MatchThresholds::validate(0.4, 5.0).is_err());
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
