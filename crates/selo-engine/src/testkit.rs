//! Test images derived from real face photos (the demo photos of `@vladmandic/face-api`, which
//! the test set-up fetches; never committed): selfie crops, and the images each quality gate
//! must refuse. Shared by the engine's tests and the server's black-box tests (feature
//! `testkit`; not in the server binary).

use crate::pixels::{Rgb, decode_rgb};
use selo_domain::image::ImageFormat;
use selo_wire::analysis::GateReason;
use std::path::Path;

/// Centre x, centre y and box width of each face in the demo photos (found once with the
/// detector on overlapping tiles), per photo.
pub const FACES: [&[(f32, f32, f32)]; 6] = [
    &[
        (514.0, 499.0, 200.0),
        (940.0, 557.0, 181.0),
        (1555.0, 321.0, 180.0),
    ],
    &[
        (450.0, 298.0, 252.0),
        (976.0, 366.0, 188.0),
        (1546.0, 288.0, 189.0),
    ],
    &[
        (690.0, 488.0, 231.0),
        (1184.0, 372.0, 227.0),
        (1587.0, 456.0, 209.0),
    ],
    &[
        (337.0, 331.0, 183.0),
        (752.0, 213.0, 175.0),
        (1069.0, 321.0, 166.0),
        (1353.0, 293.0, 161.0),
    ],
    &[
        (671.0, 554.0, 191.0),
        (861.0, 244.0, 178.0),
        (1200.0, 345.0, 183.0),
        (1513.0, 541.0, 213.0),
        (465.0, 1049.0, 224.0),
    ],
    &[
        (780.0, 501.0, 225.0),
        (1256.0, 471.0, 236.0),
        (1588.0, 438.0, 231.0),
        (349.0, 646.0, 233.0),
        (707.0, 1058.0, 144.0),
    ],
];

/// The six demo photos, decoded.
pub struct Photos(pub Vec<Rgb>);

impl Photos {
    /// Loads `sample1.jpg` … `sample6.jpg` from `dir`.
    ///
    /// # Panics
    ///
    /// When a photo is missing or not a JPEG (the test set-up is broken).
    pub fn load(dir: &Path) -> Photos {
        Photos(
            (1..=6)
                .map(|i| {
                    let bytes = std::fs::read(dir.join(format!("sample{i}.jpg")))
                        .expect("the test faces directory holds sample1.jpg … sample6.jpg");
                    decode_rgb(ImageFormat::Jpeg, &bytes).expect("a demo photo decodes")
                })
                .collect(),
        )
    }

    /// A 480×640 selfie of face `f` of photo `p`: the face about two thirds of the width.
    pub fn selfie(&self, p: usize, f: usize) -> Rgb {
        let (cx, cy, w) = FACES[p][f];
        let (rw, rh) = (w * 1.5, w * 2.0);
        resample(
            &self.0[p],
            (cx - rw / 2.0, cy - rh * 0.45, rw, rh),
            480,
            640,
        )
    }

    /// Every face of every photo as a selfie, with its (photo, face) key.
    pub fn all_selfies(&self) -> Vec<((usize, usize), Rgb)> {
        (0..6)
            .flat_map(|p| (0..FACES[p].len()).map(move |f| (p, f)))
            .map(|(p, f)| ((p, f), self.selfie(p, f)))
            .collect()
    }

    /// One image per gate that the gate (and no earlier one) refuses, in the gates' order.
    pub fn refused_by_each_gate(&self) -> Vec<(GateReason, Rgb)> {
        let good = self.selfie(0, 1);
        // No face: the photo's empty corner (a wall), scaled to 640×480.
        let wall = resample(&self.0[0], (0.0, 900.0, 320.0, 240.0), 640, 480);
        // Two people side by side.
        let pair = paste(960, 640, &[(&good, 0, 0), (&self.selfie(5, 1), 480, 0)]);
        // The selfie shrunk to a sixth, pasted in the middle of a 960×720 frame: too far away.
        let far = resample(&good, (0.0, 0.0, 480.0, 640.0), 80, 106);
        let small = paste(960, 720, &[(&far, 440, 307)]);
        // The face's left part outside the frame.
        let (cx, cy, w) = FACES[0][1];
        let cut = resample(
            &self.0[0],
            (cx - w * 0.2, cy - w, w * 1.5, w * 2.0),
            480,
            640,
        );
        vec![
            (GateReason::FaceNotFound, wall),
            (GateReason::MultipleFaces, pair),
            (GateReason::FaceTooSmall, small),
            (GateReason::FaceCutOff, cut),
            (
                GateReason::TooDark,
                map_pixels(&good, |p| p.map(|c| c * 0.2)),
            ),
            (
                GateReason::TooBright,
                map_pixels(&good, |p| p.map(|c| c * 0.5 + 170.0)),
            ),
            (GateReason::Blurry, blur(&good, 4)),
            // A head turned away in the demo photo itself.
            (GateReason::FaceNotFrontal, self.selfie(1, 0)),
        ]
    }
}

/// A resampled region of an image: `(x0, y0, w, h)` in source pixels to `out_w × out_h`.
pub fn resample(src: &Rgb, region: (f32, f32, f32, f32), out_w: usize, out_h: usize) -> Rgb {
    let (x0, y0, w, h) = region;
    let (sx, sy) = (w / out_w as f32, h / out_h as f32);
    let mut data = Vec::with_capacity(out_w * out_h * 3);
    for v in 0..out_h {
        for u in 0..out_w {
            let (fx, fy) = (x0 + u as f32 * sx, y0 + v as f32 * sy);
            let p = if sx > 1.0 {
                src.area_mean(fx, fy, fx + sx, fy + sy)
            } else {
                src.sample(fx + sx / 2.0, fy + sy / 2.0, [0.0; 3])
            };
            data.extend(p.map(|c| c.round().clamp(0.0, 255.0) as u8));
        }
    }
    Rgb {
        width: out_w,
        height: out_h,
        data,
    }
}

/// Every pixel through `f`.
pub fn map_pixels(img: &Rgb, f: impl Fn([f32; 3]) -> [f32; 3]) -> Rgb {
    let data = img
        .data
        .chunks_exact(3)
        .flat_map(|p| {
            f([p[0], p[1], p[2]].map(f32::from)).map(|c| c.round().clamp(0.0, 255.0) as u8)
        })
        .collect();
    Rgb {
        data,
        ..img.clone()
    }
}

/// The image as a phone stores a portrait photo: the pixels turned a quarter anticlockwise,
/// with EXIF orientation 6 saying to turn them back clockwise to show them.
pub fn jpeg_sideways(img: &Rgb, quality: u8) -> Vec<u8> {
    let (w, h) = (img.width, img.height);
    let mut data = Vec::with_capacity(img.data.len());
    for y in 0..w {
        for x in 0..h {
            let i = (x * w + (w - 1 - y)) * 3;
            data.extend_from_slice(&img.data[i..i + 3]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    let mut exif = b"Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    exif.extend([6, 0, 0, 0, 0, 0, 0, 0]);
    encoder.add_app_segment(1, exif).unwrap();
    encoder
        .encode(&data, h as u16, w as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// The image as a JPEG of `quality`.
pub fn jpeg(img: &Rgb, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(
            &img.data,
            img.width as u16,
            img.height as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

/// A box blur of radius `r`, applied twice (close to a Gaussian).
pub fn blur(img: &Rgb, r: isize) -> Rgb {
    let pass = |src: &Rgb, horizontal: bool| {
        let mut out = src.clone();
        for y in 0..src.height as isize {
            for x in 0..src.width as isize {
                let mut sum = [0u32; 3];
                let mut n = 0;
                for d in -r..=r {
                    let (sx, sy) = if horizontal { (x + d, y) } else { (x, y + d) };
                    if sx < 0 || sy < 0 || sx >= src.width as isize || sy >= src.height as isize {
                        continue;
                    }
                    let i = (sy as usize * src.width + sx as usize) * 3;
                    for (s, v) in sum.iter_mut().zip(&src.data[i..i + 3]) {
                        *s += u32::from(*v);
                    }
                    n += 1;
                }
                let i = (y as usize * src.width + x as usize) * 3;
                for (o, s) in out.data[i..i + 3].iter_mut().zip(sum) {
                    *o = (s / n) as u8;
                }
            }
        }
        out
    };
    let once = pass(&pass(img, true), false);
    pass(&pass(&once, true), false)
}

/// `inner` pasted at (x, y) on a grey canvas.
pub fn paste(width: usize, height: usize, parts: &[(&Rgb, usize, usize)]) -> Rgb {
    let mut out = Rgb {
        width,
        height,
        data: vec![128; width * height * 3],
    };
    for (inner, x, y) in parts {
        for row in 0..inner.height {
            let from = row * inner.width * 3;
            let to = ((y + row) * width + x) * 3;
            out.data[to..to + inner.width * 3]
                .copy_from_slice(&inner.data[from..from + inner.width * 3]);
        }
    }
    out
}
