//! `selo-bench face-distances`: the distances the local engines measure on the test faces —
//! genuine pairs (a face and a variant of the same photo: mirrored, darker, brighter, heavier
//! JPEG, another crop) and impostor pairs (two different faces) — summarised on stdout and drawn
//! as a PNG with the default thresholds (docs/engines.md's plot).

use anyhow::{Context, Result, ensure};
use selo_domain::image::ImageFormat;
use selo_domain::verification::{MatchThresholds, distance};
use selo_engine::Engine;
use selo_engine::pixels::Rgb;
use selo_engine::testkit::{FACES, Photos, jpeg, map_pixels, resample};
use std::path::PathBuf;

/// `selo-bench face-distances`.
#[derive(Debug, clap::Args)]
pub struct DistancesArgs {
    /// The models (a directory written by `selo models install`).
    #[arg(long, env = "SELO_MODELS")]
    models: PathBuf,
    /// The demo photos of `@vladmandic/face-api` (`sample1.jpg` … `sample6.jpg`).
    #[arg(long, env = "SELO_TEST_FACES")]
    faces: PathBuf,
    /// Where to write the plot (PNG).
    #[arg(long)]
    out: PathBuf,
}

/// Measures the distances, prints a summary and writes the plot.
pub fn run(args: DistancesArgs) -> Result<()> {
    let engine = Engine::load(&args.models).map_err(|e| anyhow::anyhow!("{e}"))?;
    let photos = Photos::load(&args.faces);
    let embed = |img: &Rgb, quality: u8| -> Option<Vec<f32>> {
        engine
            .analyse(ImageFormat::Jpeg, &jpeg(img, quality))
            .ok()?
            .embedding
    };
    let mut faces = Vec::new();
    let mut genuine = Vec::new();
    for ((p, f), img) in photos.all_selfies() {
        let Some(face) = embed(&img, 92) else {
            continue;
        };
        for (variant, quality) in variants(&photos, p, f, &img) {
            if let Some(other) = embed(&variant, quality) {
                genuine.push(distance(&face, &other));
            }
        }
        faces.push(face);
    }
    let mut impostor = Vec::new();
    for (i, a) in faces.iter().enumerate() {
        for b in &faces[i + 1..] {
            impostor.push(distance(a, b));
        }
    }
    ensure!(
        !genuine.is_empty() && !impostor.is_empty(),
        "no pairs measured"
    );
    genuine.sort_by(f32::total_cmp);
    impostor.sort_by(f32::total_cmp);
    let t = MatchThresholds::default();
    println!(
        "{} faces pass every gate; genuine pairs: {} (largest {:.3}, {} over accept {}); impostor pairs: {} (smallest {:.3}, {} at or under accept, {} at or under reject {})",
        faces.len(),
        genuine.len(),
        genuine.last().copied().unwrap_or_default(),
        genuine.iter().filter(|d| !t.accepts(**d)).count(),
        t.accept,
        impostor.len(),
        impostor[0],
        impostor.iter().filter(|d| t.accepts(**d)).count(),
        impostor.iter().filter(|d| **d <= t.reject).count(),
        t.reject,
    );
    let png = plot(&genuine, &impostor, t)?;
    std::fs::write(&args.out, png).with_context(|| format!("writing {}", args.out.display()))?;
    println!("plot written to {}", args.out.display());
    Ok(())
}

/// Variants of face `f` of photo `p` (the selfie `img`): the same person in other conditions,
/// each with the JPEG quality to send it at.
fn variants(photos: &Photos, p: usize, f: usize, img: &Rgb) -> Vec<(Rgb, u8)> {
    let (cx, cy, w) = FACES[p][f];
    let mut mirrored = img.clone();
    for row in mirrored.data.chunks_exact_mut(img.width * 3) {
        let mut px: Vec<[u8; 3]> = row.chunks_exact(3).map(|q| [q[0], q[1], q[2]]).collect();
        px.reverse();
        row.copy_from_slice(&px.concat());
    }
    vec![
        (mirrored, 92),
        (map_pixels(img, |q| q.map(|c| c * 0.7)), 92),
        (map_pixels(img, |q| q.map(|c| c * 0.8 + 40.0)), 92),
        (img.clone(), 40),
        (
            resample(
                &photos.0[p],
                (cx - w, cy - w * 1.1, w * 2.0, w * 2.6),
                480,
                624,
            ),
            92,
        ),
        (
            resample(
                &photos.0[p],
                (cx - w * 0.7, cy - w * 0.85, w * 1.4, w * 1.9),
                480,
                652,
            ),
            92,
        ),
    ]
}

const WIDTH: usize = 900;
const HEIGHT: usize = 420;
const LEFT: usize = 40;
const RIGHT: usize = 40;
const TOP: usize = 70;
const BOTTOM: usize = 60;
/// The distance axis, 0 to this.
const MAX_DISTANCE: f32 = 1.2;
const BIN: f32 = 0.02;
const GENUINE: [u8; 3] = [46, 139, 87];
const IMPOSTOR: [u8; 3] = [200, 60, 50];
const INK: [u8; 3] = [27, 31, 36];

/// An RGB canvas.
struct Canvas(Vec<u8>);

impl Canvas {
    fn set(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        if x < WIDTH && y < HEIGHT {
            let i = (y * WIDTH + x) * 3;
            self.0[i..i + 3].copy_from_slice(&rgb);
        }
    }

    /// A rectangle blended half over what is there.
    fn bar(&mut self, x0: usize, x1: usize, y0: usize, y1: usize, rgb: [u8; 3]) {
        for y in y0..y1 {
            for x in x0..x1 {
                let i = (y * WIDTH + x) * 3;
                for (c, v) in self.0[i..i + 3].iter_mut().zip(rgb) {
                    *c = ((u16::from(*c) + u16::from(v)) / 2) as u8;
                }
            }
        }
    }

    /// `text` in the 5×7 font at `scale`, top left at (x, y).
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, rgb: [u8; 3]) {
        for (k, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for c in 0..5 {
                    if bits & (0x10 >> c) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.set(x + (k * 6 + c) * scale + dx, y + r * scale + dy, rgb);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The x pixel of a distance.
fn x_of(d: f32) -> usize {
    LEFT + ((d / MAX_DISTANCE).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT) as f32) as usize
}

/// The histograms of both sets (each as shares of its own pairs), the thresholds and a
/// legend, as PNG bytes.
fn plot(genuine: &[f32], impostor: &[f32], t: MatchThresholds) -> Result<Vec<u8>> {
    let mut c = Canvas(vec![255; WIDTH * HEIGHT * 3]);
    let bins = (MAX_DISTANCE / BIN).round() as usize;
    let histogram = |values: &[f32]| {
        let mut h = vec![0.0f32; bins];
        for v in values {
            h[((v / BIN) as usize).min(bins - 1)] += 1.0 / values.len() as f32;
        }
        h
    };
    let (g, i) = (histogram(genuine), histogram(impostor));
    let top = g.iter().chain(&i).copied().fold(0.0f32, f32::max).max(1e-6);
    let base = HEIGHT - BOTTOM;
    for (h, rgb) in [(&i, IMPOSTOR), (&g, GENUINE)] {
        for (k, share) in h.iter().enumerate() {
            let height = (share / top * (base - TOP) as f32) as usize;
            if height > 0 {
                let (x0, x1) = (x_of(k as f32 * BIN) + 1, x_of((k + 1) as f32 * BIN));
                c.bar(x0, x1, base - height, base, rgb);
            }
        }
    }
    // The thresholds, dashed.
    for (d, rgb) in [(t.accept, GENUINE), (t.reject, IMPOSTOR)] {
        let x = x_of(d);
        for y in (TOP - 10..base).filter(|y| (y / 6) % 2 == 0) {
            c.set(x, y, rgb);
            c.set(x + 1, y, rgb);
        }
    }
    c.text(
        x_of(t.accept) - 70,
        TOP - 28,
        &format!("ACCEPT {}", t.accept),
        2,
        GENUINE,
    );
    c.text(
        x_of(t.reject) + 6,
        TOP - 28,
        &format!("REJECT {}", t.reject),
        2,
        IMPOSTOR,
    );
    // The axis, its ticks every 0.2 and their labels.
    for x in LEFT..WIDTH - RIGHT {
        c.set(x, base, INK);
    }
    for k in 0..=6 {
        let d = k as f32 * 0.2;
        let x = x_of(d);
        for y in base..base + 6 {
            c.set(x, y, INK);
        }
        c.text(x.saturating_sub(10), base + 10, &format!("{d:.1}"), 2, INK);
    }
    c.text(WIDTH / 2 - 90, HEIGHT - 22, "FACE DISTANCE", 2, INK);
    c.bar(LEFT + 10, LEFT + 26, 12, 28, GENUINE);
    c.text(LEFT + 32, 14, &format!("GENUINE {}", genuine.len()), 2, INK);
    c.bar(LEFT + 230, LEFT + 246, 12, 28, IMPOSTOR);
    c.text(
        LEFT + 252,
        14,
        &format!("IMPOSTOR {}", impostor.len()),
        2,
        INK,
    );
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, WIDTH as u32, HEIGHT as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&c.0)?;
    }
    Ok(out)
}

/// A 5×7 glyph (rows top down, bit 4 the leftmost column) of the characters the plot uses.
fn glyph(ch: char) -> [u8; 7] {
    match ch {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        _ => [0; 7],
    }
}
