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
        self.image_mapping()(u, v)
    }

    /// [`Pose::to_image`] with the rotation worked out once, for mapping many points.
    fn image_mapping(&self) -> impl Fn(f32, f32) -> Point + use<> {
        let side = CHIP_SIDE as f32;
        let (s, c) = self.angle.sin_cos();
        let (centroid, scale) = (self.centroid, self.scale);
        move |u, v| {
            let (dx, dy) = (
                (u - CENTROID.0 * side) * scale,
                (v - CENTROID.1 * side) * scale,
            );
            Point {
                x: centroid.x + c * dx - s * dy,
                y: centroid.y + s * dx + c * dy,
            }
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

/// The largest chip footprint (image pixels, rotation included) averaged as a whole; a larger
/// one (a face far bigger than the chip) is sampled n×n per chip pixel instead, so the work and
/// memory of one chip stay bounded (~3 MB of sums here) whatever the image's size.
const MAX_BOX_MEAN_PIXELS: f32 = 500_000.0;

/// Cuts the aligned chip out of the image; black outside the image. A face larger than the
/// chip is shrunk without aliasing (n, the shrink factor rounded up, at most 6): when its
/// footprint is small enough, the image is averaged over n×n pixel boxes across the footprint
/// and each chip pixel is one bilinear sample of that average; otherwise each chip pixel
/// averages an n×n grid of bilinear samples (a similar low-pass, several times the cost).
pub fn chip(image: &Rgb, pose: Pose) -> Chip {
    let n = pose.scale.ceil().clamp(1.0, 6.0) as usize;
    let footprint_side = CHIP_SIDE as f32 * pose.scale * std::f32::consts::SQRT_2;
    if n > 1 && footprint_side * footprint_side > MAX_BOX_MEAN_PIXELS {
        return supersampled(image, pose, n);
    }
    let mean = (n > 1).then(|| BoxMean::over_footprint(image, pose, n));
    let to_image = pose.image_mapping();
    let mut pixels = Vec::with_capacity(CHIP_SIDE * CHIP_SIDE);
    for v in 0..CHIP_SIDE {
        for u in 0..CHIP_SIDE {
            let q = to_image(u as f32 + 0.5, v as f32 + 0.5);
            pixels.push(match &mean {
                None => image.sample(q.x, q.y, [0.0; 3]),
                Some(mean) => mean.sample(image, q),
            });
        }
    }
    Chip { pixels }
}

/// The chip with each pixel the mean of an n×n grid of bilinear samples.
fn supersampled(image: &Rgb, pose: Pose, n: usize) -> Chip {
    let step = 1.0 / n as f32;
    let to_image = pose.image_mapping();
    let mut pixels = Vec::with_capacity(CHIP_SIDE * CHIP_SIDE);
    for v in 0..CHIP_SIDE {
        for u in 0..CHIP_SIDE {
            let mut sum = [0.0f32; 3];
            for j in 0..n {
                for i in 0..n {
                    let q = to_image(
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

/// The n×n box mean of an image over the chip's footprint, kept as sums: sum (x, y) is the
/// sum of the n×n image pixels whose centre is image pixel (x0 + x, y0 + y) (for an even n,
/// half a pixel right and down of it); image edges repeat. [`BoxMean::sample`] divides.
struct BoxMean {
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
    /// Where a box's centre sits past its pixel's centre (half a pixel for an even n).
    shift: f32,
    /// `width × height` RGB sums of n×n pixels, flat (exact: at most 36 × 255).
    sums: Vec<u16>,
    /// One over the box's area (n×n).
    per_pixel: f32,
}

impl BoxMean {
    fn over_footprint(image: &Rgb, pose: Pose, n: usize) -> BoxMean {
        let side = CHIP_SIDE as f32;
        let corners =
            [(0.0, 0.0), (side, 0.0), (0.0, side), (side, side)].map(|(u, v)| pose.to_image(u, v));
        let margin = n as f32 + 2.0;
        let span = |f: fn(&Point) -> f32, limit: usize| {
            let lo = corners.iter().map(f).fold(f32::INFINITY, f32::min) - margin;
            let hi = corners.iter().map(f).fold(f32::NEG_INFINITY, f32::max) + margin;
            let clamp = |v: f32| (v.max(0.0) as usize).min(limit);
            (clamp(lo), clamp(hi).max(clamp(lo) + 1).min(limit))
        };
        let (x0, x1) = span(|p| p.x, image.width);
        let (y0, y1) = span(|p| p.y, image.height);
        let (width, height) = (x1 - x0, y1 - y0);
        let before = ((n - 1) / 2) as isize;
        let clamp_x = |x: isize| x.clamp(0, image.width as isize - 1) as usize;
        let clamp_y = |y: isize| y.clamp(0, image.height as isize - 1) as usize;
        // The columns a window can reach, edges repeated: `reach` of them from `first`.
        let first = x0 as isize - before;
        let reach = width + n - 1;
        // The image columns among them (a contiguous run), and how many repeat an edge.
        let (inside_from, inside_to) = (clamp_x(first), clamp_x(first + reach as isize - 1) + 1);
        let repeat_left = (inside_from as isize - first).max(0) as usize;
        let mut vertical = vec![0u16; reach * 3];
        let mut sums = Vec::with_capacity(width * height * 3);
        let mut row_sums = vec![0u16; width * 3];
        for y in 0..height as isize {
            // Vertical sums of n rows (exact: n ≤ 6, so at most 1 530 per channel) over the
            // image columns, in one contiguous run per row.
            let run = &mut vertical[repeat_left * 3..(repeat_left + inside_to - inside_from) * 3];
            run.fill(0);
            for k in 0..n as isize {
                let row = clamp_y(y0 as isize + y - before + k);
                let line = &image.data
                    [(row * image.width + inside_from) * 3..(row * image.width + inside_to) * 3];
                for (sum, &value) in run.iter_mut().zip(line) {
                    *sum += u16::from(value);
                }
            }
            // Columns past an image edge repeat it.
            let (left, right) = (repeat_left * 3, (repeat_left + inside_to - inside_from) * 3);
            for i in 0..left {
                vertical[i] = vertical[left + i % 3];
            }
            for i in right..reach * 3 {
                vertical[i] = vertical[right - 3 + i % 3];
            }
            // Horizontal sums of n of those: n shifted adds over the interleaved row.
            row_sums.copy_from_slice(&vertical[..width * 3]);
            for k in 1..n {
                for (sum, &value) in row_sums.iter_mut().zip(&vertical[k * 3..]) {
                    *sum += value;
                }
            }
            sums.extend_from_slice(&row_sums);
        }
        BoxMean {
            x0,
            y0,
            width,
            height,
            shift: if n.is_multiple_of(2) { 0.5 } else { 0.0 },
            sums,
            per_pixel: 1.0 / (n * n) as f32,
        }
    }

    /// The box mean at image point `q`, bilinear (edges repeat); black outside the image.
    fn sample(&self, image: &Rgb, q: Point) -> [f32; 3] {
        // The same border as `Rgb::sample`'s.
        if q.x < -0.5
            || q.y < -0.5
            || q.x > image.width as f32 + 0.5
            || q.y > image.height as f32 + 0.5
        {
            return [0.0; 3];
        }
        let fx = q.x - self.x0 as f32 - self.shift - 0.5;
        let fy = q.y - self.y0 as f32 - self.shift - 0.5;
        let (gx, gy) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - gx, fy - gy);
        let at = |x: f32, y: f32| {
            let x = (x as isize).clamp(0, self.width as isize - 1) as usize;
            let y = (y as isize).clamp(0, self.height as isize - 1) as usize;
            let i = (y * self.width + x) * 3;
            [
                f32::from(self.sums[i]),
                f32::from(self.sums[i + 1]),
                f32::from(self.sums[i + 2]),
            ]
        };
        let sum = crate::pixels::bilinear(
            [
                at(gx, gy),
                at(gx + 1.0, gy),
                at(gx, gy + 1.0),
                at(gx + 1.0, gy + 1.0),
            ],
            ax,
            ay,
        );
        sum.map(|v| v * self.per_pixel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The box mean and the n×n samples it replaces give the same chip on a smooth image (a
    /// misplaced box would shift it by a level or more), for an odd and an even n, turned.
    #[test]
    fn the_box_mean_chip_matches_the_supersampled_one() {
        let (w, h) = (700usize, 700usize);
        let data = (0..h)
            .flat_map(|y| {
                (0..w).flat_map(move |x| [(x / 3) as u8, (y / 3) as u8, ((x + y) / 6) as u8])
            })
            .collect();
        let image = Rgb {
            width: w,
            height: h,
            data,
        };
        for (scale, angle) in [(2.6, 0.2), (1.7, -0.1)] {
            let pose = Pose {
                centroid: Point { x: 350.0, y: 330.0 },
                scale,
                angle,
            };
            let n = scale.ceil() as usize;
            let (boxed, sampled) = (chip(&image, pose), supersampled(&image, pose, n));
            let worst = boxed
                .pixels
                .iter()
                .zip(&sampled.pixels)
                .flat_map(|(a, b)| (0..3).map(move |c| (a[c] - b[c]).abs()))
                .fold(0.0f32, f32::max);
            assert!(worst < 0.6, "scale {scale}: differs by {worst}");
        }
    }

    /// Every box sum equals the plain sum of its n×n pixels with the image's edges repeated,
    /// for every n, faces at and past each edge, and an image smaller than a box.
    #[test]
    fn box_sums_repeat_the_edges() {
        for (w, h) in [(3usize, 2usize), (61, 47)] {
            let data = (0..w * h * 3).map(|i| (i * 37 % 256) as u8).collect();
            let image = Rgb {
                width: w,
                height: h,
                data,
            };
            let at = |x: isize, y: isize, c: usize| {
                let x = x.clamp(0, w as isize - 1) as usize;
                let y = y.clamp(0, h as isize - 1) as usize;
                u16::from(image.data[(y * w + x) * 3 + c])
            };
            let centres = [
                (0.0, 0.0),
                (w as f32, h as f32),
                (-5.0, h as f32 / 2.0),
                (w as f32 / 2.0, h as f32 + 4.0),
            ];
            for n in 2..=6 {
                for (cx, cy) in centres {
                    let pose = Pose {
                        centroid: Point { x: cx, y: cy },
                        scale: 0.1,
                        angle: 0.3,
                    };
                    let boxes = BoxMean::over_footprint(&image, pose, n);
                    let before = ((n - 1) / 2) as isize;
                    for y in 0..boxes.height {
                        for x in 0..boxes.width {
                            for c in 0..3 {
                                let want: u16 = (0..n as isize)
                                    .flat_map(|j| (0..n as isize).map(move |i| (i, j)))
                                    .map(|(i, j)| {
                                        at(
                                            (boxes.x0 + x) as isize - before + i,
                                            (boxes.y0 + y) as isize - before + j,
                                            c,
                                        )
                                    })
                                    .sum();
                                let got = boxes.sums[(y * boxes.width + x) * 3 + c];
                                assert_eq!(
                                    got, want,
                                    "{w}×{h}, n {n}, centre ({cx}, {cy}), ({x}, {y})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

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
