//! Alignment: a similarity transform from BlazeFace's eye and mouth keypoints to the 150-pixel
//! face chip the embedding expects. The chip follows face-api.js's dlib box (the eyes' and
//! mouth's centroid at (0.5, 0.43) of a square whose side is the mean eye-to-mouth distance
//! over 0.45), and is also turned so that the eyes are level.

use crate::detect::{Face, Point};
use crate::pixels::Rgb;

/// The chip's side in pixels.
pub const CHIP_SIDE: usize = 150;
const CENTROID: (f32, f32) = (0.5, 0.43);
const EYE_TO_MOUTH: f32 = 0.45;

/// An aligned face chip, RGB as `f32` 0..255, row-major. Biometric data: no `Debug`.
#[derive(Clone)]
pub struct Chip {
    /// `CHIP_SIDE * CHIP_SIDE` pixels.
    pub pixels: Vec<[f32; 3]>,
}

impl Chip {
    /// The luma (BT.601) of each pixel.
    pub fn luma(&self) -> Vec<f32> {
        self.pixels
            .iter()
            .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
            .collect()
    }
}

/// The face's pose in the image: where the chip maps.
#[derive(Debug, Clone, Copy)]
pub struct Pose {
    centroid: Point,
    /// Image pixels per chip pixel.
    scale: f32,
    /// The eye line's angle (radians).
    angle: f32,
}

impl Pose {
    /// The pose of a detected face.
    pub fn of(face: &Face) -> Pose {
        let [right_eye, left_eye, _, mouth, ..] = face.keypoints;
        let centroid = Point {
            x: (right_eye.x + left_eye.x + mouth.x) / 3.0,
            y: (right_eye.y + left_eye.y + mouth.y) / 3.0,
        };
        let dist = |a: Point, b: Point| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
        let eye_to_mouth = (dist(right_eye, mouth) + dist(left_eye, mouth)) / 2.0;
        let side = (eye_to_mouth / EYE_TO_MOUTH).max(1.0);
        Pose {
            centroid,
            scale: side / CHIP_SIDE as f32,
            angle: (left_eye.y - right_eye.y).atan2(left_eye.x - right_eye.x),
        }
    }

    /// The image point of a chip point.
    pub fn to_image(&self, u: f32, v: f32) -> Point {
        let side = CHIP_SIDE as f32;
        let (dx, dy) = (
            (u - CENTROID.0 * side) * self.scale,
            (v - CENTROID.1 * side) * self.scale,
        );
        let (s, c) = self.angle.sin_cos();
        Point {
            x: self.centroid.x + c * dx - s * dy,
            y: self.centroid.y + s * dx + c * dy,
        }
    }

    /// The chip point of an image point (the inverse of [`Pose::to_image`]).
    pub fn to_chip(&self, p: Point) -> Point {
        let (dx, dy) = (p.x - self.centroid.x, p.y - self.centroid.y);
        let (s, c) = self.angle.sin_cos();
        let side = CHIP_SIDE as f32;
        Point {
            x: (c * dx + s * dy) / self.scale + CENTROID.0 * side,
            y: (-s * dx + c * dy) / self.scale + CENTROID.1 * side,
        }
    }
}

/// Cuts the aligned chip out of the image: each chip pixel averages an n×n grid of bilinear
/// samples, n the shrink factor rounded up (at most 6), so a large face is not aliased; black
/// outside the image.
pub fn chip(image: &Rgb, pose: Pose) -> Chip {
    let n = pose.scale.ceil().clamp(1.0, 6.0) as usize;
    let step = 1.0 / n as f32;
    let mut pixels = Vec::with_capacity(CHIP_SIDE * CHIP_SIDE);
    for v in 0..CHIP_SIDE {
        for u in 0..CHIP_SIDE {
            let mut sum = [0.0f32; 3];
            for j in 0..n {
                for i in 0..n {
                    let q = pose.to_image(
                        u as f32 + (i as f32 + 0.5) * step,
                        v as f32 + (j as f32 + 0.5) * step,
                    );
                    let s = image.sample(q.x, q.y, [0.0; 3]);
                    for c in 0..3 {
                        sum[c] += s[c];
                    }
                }
            }
            pixels.push(sum.map(|s| s / (n * n) as f32));
        }
    }
    Chip { pixels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_and_image_points_map_both_ways() {
        let pose = Pose {
            centroid: Point { x: 300.0, y: 200.0 },
            scale: 1.7,
            angle: 0.3,
        };
        let p = pose.to_image(10.0, 140.0);
        let back = pose.to_chip(p);
        assert!((back.x - 10.0).abs() < 1e-3 && (back.y - 140.0).abs() < 1e-3);
        let c = pose.to_image(75.0, 64.5);
        assert!((c.x - 300.0).abs() < 1e-3 && (c.y - 200.0).abs() < 1e-3);
    }
}
