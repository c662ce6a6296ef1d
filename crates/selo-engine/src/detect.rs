//! Face detection with MediaPipe's BlazeFace (short range): letterboxed 128×128 input, 896
//! SSD anchors, boxes and six keypoints decoded as MediaPipe's calculators do, then weighted
//! non-maximum suppression.

use crate::pixels::Rgb;

/// The detector's input side.
pub const INPUT_SIDE: usize = 128;
/// The anchors' count (16×16×2 + 8×8×6).
pub const ANCHORS: usize = 896;
/// Values per anchor in the regressor output (box + 6 keypoints).
pub const REGRESSORS: usize = 16;
/// Minimum face score kept (MediaPipe's short-range setting).
pub const MIN_SCORE: f32 = 0.5;
/// Overlap above which two detections are the same face.
const MIN_SUPPRESSION_IOU: f32 = 0.3;

/// A point in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal, from the left edge.
    pub x: f32,
    /// Vertical, from the top edge.
    pub y: f32,
}

/// One detected face, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
    /// Detection confidence, 0..1.
    pub score: f32,
    /// Keypoints, in BlazeFace's order: the person's right eye, left eye, nose tip, mouth
    /// centre, right ear tragion, left ear tragion.
    pub keypoints: [Point; 6],
}

impl Face {
    /// Box width in pixels.
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
    /// Box height in pixels.
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }
    /// Box area in square pixels.
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }
    fn iou(&self, other: &Face) -> f32 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// Where the square model input sits on the image: the image is scaled by `scale` and centred
/// with padding (letterbox), so no face is stretched.
#[derive(Debug, Clone, Copy)]
pub struct Letterbox {
    /// Source pixels per input pixel.
    pub scale: f32,
    /// Source x of the input's left edge (negative when padded).
    pub left: f32,
    /// Source y of the input's top edge.
    pub top: f32,
}

impl Letterbox {
    /// The whole image, letterboxed.
    pub fn of(image: &Rgb) -> Letterbox {
        Letterbox::centred(image, image.width.max(image.height) as f32)
    }

    /// The central square half the image's shorter side wide: where a second pass looks for a
    /// face too far from the camera for the whole-frame pass.
    pub fn centre(image: &Rgb) -> Letterbox {
        Letterbox::centred(image, image.width.min(image.height) as f32 / 2.0)
    }

    fn centred(image: &Rgb, side: f32) -> Letterbox {
        Letterbox {
            scale: side / INPUT_SIDE as f32,
            left: (image.width as f32 - side) / 2.0,
            top: (image.height as f32 - side) / 2.0,
        }
    }
}

/// The detector's input tensor data, NCHW, values in [-1, 1]; padding is black. Shrinking, each
/// input pixel is the mean of the source pixels its box touches (sums of whole rows first, then
/// of each box's columns: every source row is read about once); enlarging, a bilinear sample.
pub fn input(image: &Rgb, lb: Letterbox) -> Vec<f32> {
    let n = INPUT_SIDE * INPUT_SIDE;
    let mut data = vec![-1.0f32; 3 * n];
    // Where an input pixel's box starts, and whether its centre lies on the image.
    let start = |i: usize, origin: f32| origin + i as f32 * lb.scale;
    let inside = |i: usize, origin: f32, limit: usize| {
        let centre = start(i, origin) + lb.scale / 2.0;
        centre >= 0.0 && centre < limit as f32
    };
    let mut put = |u: usize, v: usize, px: [f32; 3]| {
        for (c, value) in px.into_iter().enumerate() {
            data[c * n + v * INPUT_SIDE + u] = value / 127.5 - 1.0;
        }
    };
    if lb.scale <= 1.0 {
        for v in (0..INPUT_SIDE).filter(|&v| inside(v, lb.top, image.height)) {
            for u in (0..INPUT_SIDE).filter(|&u| inside(u, lb.left, image.width)) {
                let (cx, cy) = (
                    start(u, lb.left) + lb.scale / 2.0,
                    start(v, lb.top) + lb.scale / 2.0,
                );
                put(u, v, image.sample(cx, cy, [0.0; 3]));
            }
        }
        return data;
    }
    // The source pixels a box starting at `from` covers (never empty when its centre is inside).
    let span = |from: f32, limit: usize| {
        (from.floor().max(0.0) as usize)..((from + lb.scale).ceil().min(limit as f32) as usize)
    };
    let columns: Vec<(usize, std::ops::Range<usize>)> = (0..INPUT_SIDE)
        .filter(|&u| inside(u, lb.left, image.width))
        .map(|u| (u, span(start(u, lb.left), image.width)))
        .collect();
    let (Some(first), Some(last)) = (columns.first(), columns.last()) else {
        return data;
    };
    let (x0, x1) = (first.1.start * 3, last.1.end * 3);
    let mut column_sums = vec![0u32; image.width * 3];
    for v in (0..INPUT_SIDE).filter(|&v| inside(v, lb.top, image.height)) {
        let rows = span(start(v, lb.top), image.height);
        column_sums[x0..x1].fill(0);
        for y in rows.clone() {
            let line = &image.data[y * image.width * 3..(y + 1) * image.width * 3];
            for (sum, &value) in column_sums[x0..x1].iter_mut().zip(&line[x0..x1]) {
                *sum += u32::from(value);
            }
        }
        for (u, xs) in &columns {
            let mut sum = [0u32; 3];
            for x in xs.clone() {
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += column_sums[x * 3 + c];
                }
            }
            let count = (xs.len() * rows.len()) as f32;
            put(*u, v, sum.map(|s| s as f32 / count));
        }
    }
    data
}

/// The SSD anchors' centres, in input units (0..1): strides 8, 16, 16, 16 with two anchors
/// per cell on the first layer and six on the 16-stride layers (MediaPipe's short-range
/// options, fixed anchor size).
pub fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(ANCHORS);
    for (stride, per_cell) in [(8usize, 2usize), (16, 6)] {
        let cells = INPUT_SIDE / stride;
        for y in 0..cells {
            for x in 0..cells {
                let centre = (
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                );
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

/// Decodes the raw outputs into faces in image pixels, suppressed and sorted by area
/// (largest first).
pub fn decode(
    regressors: &[f32],
    scores: &[f32],
    anchors: &[(f32, f32)],
    lb: Letterbox,
) -> Vec<Face> {
    let side = INPUT_SIDE as f32;
    let to_image = |u: f32, v: f32| Point {
        x: lb.left + u * side * lb.scale,
        y: lb.top + v * side * lb.scale,
    };
    let mut candidates = Vec::new();
    for (i, &(ax, ay)) in anchors.iter().enumerate() {
        let score = 1.0 / (1.0 + (-scores[i].clamp(-100.0, 100.0)).exp());
        if score.is_nan() || score < MIN_SCORE {
            continue;
        }
        let r = &regressors[i * REGRESSORS..(i + 1) * REGRESSORS];
        let (cx, cy) = (r[0] / side + ax, r[1] / side + ay);
        let (w, h) = (r[2] / side, r[3] / side);
        let top_left = to_image(cx - w / 2.0, cy - h / 2.0);
        let bottom_right = to_image(cx + w / 2.0, cy + h / 2.0);
        let keypoints =
            std::array::from_fn(|k| to_image(r[4 + 2 * k] / side + ax, r[5 + 2 * k] / side + ay));
        let finite = r.iter().all(|v| v.is_finite());
        if !finite || w <= 0.0 || h <= 0.0 {
            continue;
        }
        candidates.push(Face {
            x0: top_left.x,
            y0: top_left.y,
            x1: bottom_right.x,
            y1: bottom_right.y,
            score,
            keypoints,
        });
    }
    let mut faces = weighted_nms(candidates);
    faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
    faces
}

/// MediaPipe's weighted non-maximum suppression: each cluster of overlapping detections
/// becomes their score-weighted mean, with the best score.
fn weighted_nms(mut candidates: Vec<Face>) -> Vec<Face> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !candidates.is_empty() {
        // The best always leaves the list with its cluster, so this ends whatever the boxes.
        let best = candidates.remove(0);
        let (mut cluster, rest): (Vec<Face>, Vec<Face>) = candidates
            .into_iter()
            .partition(|c| best.iou(c) > MIN_SUPPRESSION_IOU);
        candidates = rest;
        cluster.insert(0, best.clone());
        let total: f32 = cluster.iter().map(|c| c.score).sum();
        let mean =
            |f: &dyn Fn(&Face) -> f32| cluster.iter().map(|c| f(c) * c.score).sum::<f32>() / total;
        out.push(Face {
            x0: mean(&|c| c.x0),
            y0: mean(&|c| c.y0),
            x1: mean(&|c| c.x1),
            y1: mean(&|c| c.y1),
            score: best.score,
            keypoints: std::array::from_fn(|k| Point {
                x: mean(&|c| c.keypoints[k].x),
                y: mean(&|c| c.keypoints[k].y),
            }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-then-column sums give each input pixel the mean of its box, as one box mean per
    /// pixel does (whole frame and central square, an integer and a fractional scale, padding).
    #[test]
    fn the_input_is_each_box_mean() {
        for (w, h) in [(480usize, 640usize), (333, 250)] {
            let data = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
            let image = Rgb {
                width: w,
                height: h,
                data,
            };
            for lb in [Letterbox::of(&image), Letterbox::centre(&image)] {
                let got = input(&image, lb);
                let n = INPUT_SIDE * INPUT_SIDE;
                for v in 0..INPUT_SIDE {
                    for u in 0..INPUT_SIDE {
                        let (x0, y0) =
                            (lb.left + u as f32 * lb.scale, lb.top + v as f32 * lb.scale);
                        let (cx, cy) = (x0 + lb.scale / 2.0, y0 + lb.scale / 2.0);
                        let outside = cx < 0.0 || cy < 0.0 || cx >= w as f32 || cy >= h as f32;
                        let want = if outside {
                            [0.0; 3]
                        } else if lb.scale > 1.0 {
                            image.area_mean(x0, y0, x0 + lb.scale, y0 + lb.scale)
                        } else {
                            image.sample(cx, cy, [0.0; 3])
                        };
                        for (c, want) in want.into_iter().enumerate() {
                            let got = got[c * n + v * INPUT_SIDE + u];
                            assert!(
                                (got - (want / 127.5 - 1.0)).abs() < 1e-5,
                                "({u}, {v}): {got}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn there_are_896_anchors_centred_in_their_cells() {
        let a = anchors();
        assert_eq!(a.len(), ANCHORS);
        assert_eq!(a[0], (0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[512], (0.5 / 8.0, 0.5 / 8.0));
        assert_eq!(a[895], (7.5 / 8.0, 7.5 / 8.0));
    }

    #[test]
    fn overlapping_detections_become_one_weighted_face() {
        let face = |x0: f32, score: f32| Face {
            x0,
            y0: 0.0,
            x1: x0 + 10.0,
            y1: 10.0,
            score,
            keypoints: [Point { x: x0, y: 0.0 }; 6],
        };
        let faces = weighted_nms(vec![face(0.0, 0.9), face(1.0, 0.9), face(50.0, 0.6)]);
        let mut empty = face(80.0, 0.8);
        empty.x1 = empty.x0;
        assert_eq!(
            weighted_nms(vec![empty]).len(),
            1,
            "a zero-area box still ends the loop"
        );
        assert_eq!(faces.len(), 2);
        assert!((faces[0].x0 - 0.5).abs() < 1e-6);
        assert_eq!(faces[0].score, 0.9);
        assert_eq!(faces[1].x0, 50.0);
    }
}
