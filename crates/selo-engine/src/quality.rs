//! The quality gates (CONTRACT §17, in their order) and the passive liveness cues, measured on
//! the detected faces and on the aligned face chip (so exposure and sharpness are the face's,
//! not the background's, and do not depend on the photo's resolution).

use crate::align::{CHIP_SIDE, Chip, Pose};
use crate::detect::Face;
use selo_wire::analysis::GateReason;
use serde::Serialize;

/// A second face at least this share of the largest one's area is a second person.
pub const SECOND_FACE_AREA: f32 = 1.0 / 3.0;
/// The face box must be at least this share of the image's shorter side.
pub const MIN_FACE_SHARE: f32 = 1.0 / 8.0;
/// How far (as a share of the face box's width) the box may leave the image.
pub const MAX_OUTSIDE_SHARE: f32 = 0.05;
/// Mean face luma (0..255) under which the face is too dark.
pub const MIN_LUMA: f32 = 50.0;
/// Mean face luma over which the face is too bright.
pub const MAX_LUMA: f32 = 200.0;
/// Variance of the face chip's Laplacian under which it is blurry.
pub const MIN_SHARPNESS: f32 = 20.0;
/// How far the nose may sit from the eyes' midpoint, as a share of the eye distance.
pub const MAX_YAW: f32 = 0.4;
/// Mean chroma (0..255) under which a face is grey: a black-and-white print or screen.
pub const MIN_CHROMA: f32 = 6.0;
/// Share of clipped face pixels over which the face shows glare.
pub const MAX_GLARE: f32 = 0.25;
/// Blue over red (0..255) at which the face has a screen's cast (skin is red over blue).
pub const MAX_BLUE_CAST: f32 = 8.0;

/// One gate's measurement against its threshold (the explanation's wire type).
pub use selo_wire::analysis::GateResult as Gate;

/// The gates that ran, in order, up to the first that failed.
pub fn gates(
    width: usize,
    height: usize,
    faces: &[Face],
    chip: Option<&Chip>,
    pose: Option<Pose>,
) -> Vec<Gate> {
    let mut out = Vec::new();
    let mut push = |name, value: f32, threshold: f32, passed: bool| {
        out.push(Gate {
            name,
            passed,
            value: (value * 1000.0).round() / 1000.0,
            threshold: (threshold * 1000.0).round() / 1000.0,
        });
        passed
    };
    let Some(face) = faces.first() else {
        push(GateReason::FaceNotFound, 0.0, 1.0, false);
        return out;
    };
    push(GateReason::FaceNotFound, faces.len() as f32, 1.0, true);
    let second = faces
        .get(1)
        .map_or(0.0, |f| f.area() / face.area().max(1.0));
    if !push(
        GateReason::MultipleFaces,
        second,
        SECOND_FACE_AREA,
        second < SECOND_FACE_AREA,
    ) {
        return out;
    }
    let share = face.width() / width.min(height) as f32;
    if !push(
        GateReason::FaceTooSmall,
        share,
        MIN_FACE_SHARE,
        share >= MIN_FACE_SHARE,
    ) {
        return out;
    }
    let outside = [
        -face.x0,
        -face.y0,
        face.x1 - width as f32,
        face.y1 - height as f32,
    ]
    .into_iter()
    .fold(0.0f32, f32::max)
        / face.width().max(1.0);
    // Eyes, nose and mouth must be inside the image: how far the farthest one is out, as a
    // share of the box's width (0 when all are in).
    let landmark_outside = face.keypoints[..4]
        .iter()
        .map(|p| {
            [-p.x, -p.y, p.x - width as f32, p.y - height as f32]
                .into_iter()
                .fold(0.0f32, f32::max)
        })
        .fold(0.0f32, f32::max)
        / face.width().max(1.0);
    // The explanation shows what failed: the box's share against its bound, or, when only a
    // landmark is out, how far it is out against 0.
    let (value, threshold) = if outside <= MAX_OUTSIDE_SHARE && landmark_outside > 0.0 {
        (landmark_outside, 0.0)
    } else {
        (outside, MAX_OUTSIDE_SHARE)
    };
    if !push(
        GateReason::FaceCutOff,
        value,
        threshold,
        outside <= MAX_OUTSIDE_SHARE && landmark_outside <= 0.0,
    ) {
        return out;
    }
    let (Some(chip), Some(pose)) = (chip, pose) else {
        return out;
    };
    let luma = chip.luma();
    let region = face_region(&luma);
    let mean = region.iter().sum::<f32>() / region.len() as f32;
    if !push(GateReason::TooDark, mean, MIN_LUMA, mean >= MIN_LUMA) {
        return out;
    }
    if !push(GateReason::TooBright, mean, MAX_LUMA, mean <= MAX_LUMA) {
        return out;
    }
    let sharp = sharpness(&luma);
    if !push(
        GateReason::Blurry,
        sharp,
        MIN_SHARPNESS,
        sharp >= MIN_SHARPNESS,
    ) {
        return out;
    }
    let yaw = yaw(face, pose);
    push(GateReason::FaceNotFrontal, yaw, MAX_YAW, yaw <= MAX_YAW);
    out
}

/// The chip's central region (the face without hair and background): columns and rows 25 %
/// to 75 % across, 30 % to 85 % down.
fn face_region(luma: &[f32]) -> Vec<f32> {
    let s = CHIP_SIDE;
    let mut out = Vec::new();
    for y in s * 30 / 100..s * 85 / 100 {
        out.extend_from_slice(&luma[y * s + s / 4..y * s + s * 3 / 4]);
    }
    out
}

/// Variance of the 4-neighbour Laplacian over the chip's inner face region.
fn sharpness(luma: &[f32]) -> f32 {
    let s = CHIP_SIDE;
    let mut values = Vec::new();
    for y in s * 25 / 100..s * 85 / 100 {
        for x in s * 20 / 100..s * 80 / 100 {
            let c = luma[y * s + x];
            let lap = luma[(y - 1) * s + x]
                + luma[(y + 1) * s + x]
                + luma[y * s + x - 1]
                + luma[y * s + x + 1]
                - 4.0 * c;
            values.push(lap);
        }
    }
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32
}

/// Horizontal offset of the nose from the eyes' midpoint over the eye distance, in the
/// level (aligned) frame: 0 frontal, growing as the head turns.
fn yaw(face: &Face, pose: Pose) -> f32 {
    let [right_eye, left_eye, nose, ..] = face.keypoints.map(|p| pose.to_chip(p));
    let eye_distance = (left_eye.x - right_eye.x).abs().max(1.0);
    ((nose.x - (left_eye.x + right_eye.x) / 2.0) / eye_distance).abs()
}

/// The passive liveness cues: what a careless replay on a screen or paper shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LivenessSignals {
    /// Mean chroma of the face (a grey face is a black-and-white print or screen).
    pub chroma: f32,
    /// Share of clipped pixels on the face (glare of glass or glossy paper).
    pub glare: f32,
    /// Mean blue minus mean red on the face (a screen's cast; skin is red over blue).
    pub blue_cast: f32,
}

impl LivenessSignals {
    /// Whether every cue is within its bound.
    pub fn live(&self) -> bool {
        self.chroma >= MIN_CHROMA && self.glare <= MAX_GLARE && self.blue_cast <= MAX_BLUE_CAST
    }
}

/// Measures the liveness cues on the face chip's central region.
pub fn liveness(chip: &Chip) -> LivenessSignals {
    let s = CHIP_SIDE;
    let (mut chroma, mut clipped, mut blue_minus_red, mut n) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for y in s * 30 / 100..s * 85 / 100 {
        for x in s / 4..s * 3 / 4 {
            let [r, g, b] = chip.pixels[y * s + x];
            chroma += ((r - g).abs() + (g - b).abs() + (b - r).abs()) / 3.0;
            if r.max(g).max(b) >= 250.0 {
                clipped += 1.0;
            }
            blue_minus_red += b - r;
            n += 1.0;
        }
    }
    let round = |v: f32| (v * 1000.0).round() / 1000.0;
    LivenessSignals {
        chroma: round(chroma / n),
        glare: round(clipped / n),
        blue_cast: round(blue_minus_red / n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Point;

    fn face(keypoint_x: f32) -> Face {
        let p = |x: f32, y: f32| Point { x, y };
        Face {
            x0: 0.0,
            y0: 100.0,
            x1: 200.0,
            y1: 300.0,
            score: 0.9,
            keypoints: [
                p(keypoint_x, 150.0),
                p(150.0, 150.0),
                p(100.0, 200.0),
                p(100.0, 250.0),
                p(20.0, 170.0),
                p(180.0, 170.0),
            ],
        }
    }

    /// A box inside the image with an eye outside it fails `face_cut_off`, and the explanation
    /// says how far the eye is out (not a box share that looks as if it passed).
    #[test]
    fn an_eye_outside_the_image_is_named_with_its_distance() {
        let outside = gates(640, 480, &[face(-10.0)], None, None);
        let cut = outside.last().unwrap();
        assert_eq!(cut.name, GateReason::FaceCutOff);
        assert!(!cut.passed);
        assert_eq!((cut.value, cut.threshold), (0.05, 0.0));
        let inside = gates(640, 480, &[face(50.0)], None, None);
        assert!(inside.iter().all(|g| g.passed), "{inside:?}");
    }
}
