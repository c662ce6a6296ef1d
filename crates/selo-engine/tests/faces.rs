//! The local engines on real face photos: the six group photos of `@vladmandic/face-api`'s
//! demo (fetched by the test set-up with `npm pack`, never committed) and images derived from
//! them (selfie crops, scale, light, blur, a face pasted small, a group, no face, grey).
//!
//! Needs `SELO_MODELS` (a directory written by `selo models install`) and `SELO_TEST_FACES`
//! (a directory with `sample1.jpg` … `sample6.jpg`); `.ci/run` provides both. Without them each
//! test prints SKIPPED, and fails under `CI=true`.

use selo_domain::image::ImageFormat;
use selo_domain::verification::{GateReason, distance};
use selo_engine::catalogue::{DETECTOR, EMBEDDER};
use selo_engine::pixels::{Rgb, decode_rgb};
use selo_engine::{Engine, align};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Centre x, centre y and box width of each face in the demo photos (found once with the
/// detector on overlapping tiles), per photo.
const FACES: [&[(f32, f32, f32)]; 6] = [
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

struct Fixtures {
    engine: Engine,
    photos: Vec<Rgb>,
}

/// The engine and the photos, or `None` (SKIPPED) when they are not installed here.
fn fixtures(test: &str) -> Option<&'static Fixtures> {
    static FIXTURES: OnceLock<Option<Fixtures>> = OnceLock::new();
    let loaded = FIXTURES.get_or_init(|| {
        let models = std::env::var_os("SELO_MODELS").map(PathBuf::from)?;
        let faces = std::env::var_os("SELO_TEST_FACES").map(PathBuf::from)?;
        let engine = Engine::load(&models).expect("the models in SELO_MODELS load");
        let photos = (1..=6)
            .map(|i| {
                let bytes = std::fs::read(faces.join(format!("sample{i}.jpg")))
                    .expect("SELO_TEST_FACES holds sample1.jpg … sample6.jpg");
                decode_rgb(ImageFormat::Jpeg, &bytes).unwrap()
            })
            .collect();
        Some(Fixtures { engine, photos })
    });
    if loaded.is_none() {
        skipped(
            test,
            "set SELO_MODELS (selo models install) and SELO_TEST_FACES (the demo photos of @vladmandic/face-api)",
        );
    }
    loaded.as_ref()
}

/// A resampled region of an image: `(x0, y0, w, h)` in source pixels to `out_w × out_h`.
fn resample(src: &Rgb, region: (f32, f32, f32, f32), out_w: usize, out_h: usize) -> Rgb {
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

/// A 480×640 selfie of face `f` of photo `p`: the face about two thirds of the width.
fn selfie(fx: &Fixtures, p: usize, f: usize) -> Rgb {
    let (cx, cy, w) = FACES[p][f];
    let (rw, rh) = (w * 1.5, w * 2.0);
    resample(
        &fx.photos[p],
        (cx - rw / 2.0, cy - rh * 0.45, rw, rh),
        480,
        640,
    )
}

fn map_pixels(img: &Rgb, f: impl Fn([f32; 3]) -> [f32; 3]) -> Rgb {
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

fn jpeg(img: &Rgb, quality: u8) -> Vec<u8> {
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

fn analyse(fx: &Fixtures, img: &Rgb) -> selo_engine::Analysis {
    fx.engine
        .analyse(ImageFormat::Jpeg, &jpeg(img, 92))
        .unwrap()
}

/// Every face of every photo as a selfie.
fn all_selfies(fx: &Fixtures) -> Vec<((usize, usize), Rgb)> {
    (0..6)
        .flat_map(|p| (0..FACES[p].len()).map(move |f| (p, f)))
        .map(|(p, f)| ((p, f), selfie(fx, p, f)))
        .collect()
}

/// onnxruntime's output for `input` (shape `shape`) on one of the installed models, or `None`
/// (SKIPPED) without `SELO_REFERENCE_PYTHON` (a Python with onnxruntime).
fn reference(test: &str, model: &str, input: &[f32], shape: [usize; 4]) -> Option<Vec<f32>> {
    let Some(python) = std::env::var_os("SELO_REFERENCE_PYTHON") else {
        skipped(
            test,
            "set SELO_REFERENCE_PYTHON to a Python with onnxruntime",
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("in.f32"), dir.path().join("out.f32"));
    std::fs::write(
        &src,
        input
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let models = PathBuf::from(std::env::var_os("SELO_MODELS").unwrap());
    let status = std::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference.py"))
        .arg(models.join(model))
        .args([&src, &dst])
        .args(shape.map(|d| d.to_string()))
        .status()
        .unwrap();
    assert!(status.success(), "the reference run failed");
    let bytes = std::fs::read(dst).unwrap();
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// The largest absolute difference between two outputs of the same length.
fn largest_difference(ours: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(ours.len(), reference.len());
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Prints SKIPPED for a test whose tools are missing here; under `CI=true` fails instead.
fn skipped(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs, under CI: {why}"
    );
    println!("SKIPPED {test}: {why}");
}

#[test]
fn embeddings_equal_onnxruntimes_on_every_test_face() {
    let test = "embeddings_equal_onnxruntimes_on_every_test_face";
    let Some(fx) = fixtures(test) else { return };
    let mut compared = 0;
    for (key, img) in all_selfies(fx) {
        let bytes = jpeg(&img, 92);
        let a = fx.engine.analyse(ImageFormat::Jpeg, &bytes).unwrap();
        let Some(embedding) = &a.embedding else {
            continue;
        };
        // The chip the pipeline embedded, made again from the same pixels.
        let pixels = decode_rgb(ImageFormat::Jpeg, &bytes).unwrap();
        let face = &fx.engine.detect(&pixels).unwrap()[0];
        let chip = align::chip(&pixels, align::Pose::of(face));
        let input = selo_engine::embedder_input(&chip);
        let Some(expected) = reference(test, EMBEDDER.file, &input, [1, 3, 150, 150]) else {
            return;
        };
        let worst = largest_difference(embedding, &expected);
        assert!(
            worst < 1e-3,
            "face {key:?}: embedding differs from onnxruntime's by {worst}"
        );
        compared += 1;
    }
    assert_eq!(
        compared, 20,
        "docs/engines.md says 20 of the 23 test faces pass every gate"
    );
}

#[test]
fn detector_outputs_equal_onnxruntimes() {
    let test = "detector_outputs_equal_onnxruntimes";
    let Some(fx) = fixtures(test) else { return };
    let img = selfie(fx, 0, 1);
    let input = selo_engine::detect::input(&img, selo_engine::detect::Letterbox::of(&img));
    let Some(expected) = reference(test, DETECTOR.file, &input, [1, 3, 128, 128]) else {
        return;
    };
    let (regressors, scores) = fx.engine.detector_outputs(&input).unwrap();
    let ours: Vec<f32> = regressors.into_iter().chain(scores).collect();
    assert_eq!(ours.len(), expected.len());
    let worst = largest_difference(&ours, &expected);
    assert!(
        worst < 1e-3,
        "detector outputs differ from onnxruntime's by {worst}"
    );
}

/// A box blur of radius `r`, applied twice (close to a Gaussian).
fn blur(img: &Rgb, r: isize) -> Rgb {
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
fn paste(width: usize, height: usize, parts: &[(&Rgb, usize, usize)]) -> Rgb {
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

fn refused(fx: &Fixtures, img: &Rgb) -> Option<GateReason> {
    analyse(fx, img).refused()
}

#[test]
fn every_gate_refuses_what_it_should() {
    let Some(fx) = fixtures("every_gate_refuses_what_it_should") else {
        return;
    };
    let good = selfie(fx, 0, 1);
    assert_eq!(
        refused(fx, &good),
        None,
        "the plain selfie passes every gate"
    );

    // No face: the photo's empty corner (a wall), scaled to 640×480.
    let wall = resample(&fx.photos[0], (0.0, 900.0, 320.0, 240.0), 640, 480);
    assert_eq!(refused(fx, &wall), Some(GateReason::FaceNotFound));

    // Two people side by side.
    let other = selfie(fx, 5, 1);
    let pair = paste(960, 640, &[(&good, 0, 0), (&other, 480, 0)]);
    assert_eq!(refused(fx, &pair), Some(GateReason::MultipleFaces));

    // The selfie shrunk to a sixth, pasted in the middle of a 960×720 frame: too far away.
    let far = resample(&good, (0.0, 0.0, 480.0, 640.0), 80, 106);
    let small = paste(960, 720, &[(&far, 440, 307)]);
    assert_eq!(refused(fx, &small), Some(GateReason::FaceTooSmall));

    // The face's left part outside the frame.
    let (cx, cy, w) = FACES[0][1];
    let cut = resample(
        &fx.photos[0],
        (cx - w * 0.2, cy - w, w * 1.5, w * 2.0),
        480,
        640,
    );
    assert_eq!(refused(fx, &cut), Some(GateReason::FaceCutOff));

    let dark = map_pixels(&good, |p| p.map(|c| c * 0.2));
    assert_eq!(refused(fx, &dark), Some(GateReason::TooDark));
    let bright = map_pixels(&good, |p| p.map(|c| c * 0.5 + 170.0));
    assert_eq!(refused(fx, &bright), Some(GateReason::TooBright));
    assert_eq!(refused(fx, &blur(&good, 4)), Some(GateReason::Blurry));

    // A head turned away in the demo photo itself.
    assert_eq!(
        refused(fx, &selfie(fx, 1, 0)),
        Some(GateReason::FaceNotFrontal)
    );
}

#[test]
fn the_same_face_is_near_and_other_faces_are_far() {
    let Some(fx) = fixtures("the_same_face_is_near_and_other_faces_are_far") else {
        return;
    };
    let embed = |img: &Rgb| analyse(fx, img).embedding.expect("passes the gates");
    let thresholds = selo_domain::verification::MatchThresholds::default();
    let a = selfie(fx, 0, 1);
    let a_embedding = embed(&a);
    let (cx, cy, w) = FACES[0][1];
    let variants = [
        ("mirrored", {
            let mut m = a.clone();
            for row in m.data.chunks_exact_mut(a.width * 3) {
                let mut px: Vec<[u8; 3]> =
                    row.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
                px.reverse();
                row.copy_from_slice(&px.concat());
            }
            m
        }),
        (
            "wider crop",
            resample(
                &fx.photos[0],
                (cx - w, cy - w * 1.1, w * 2.0, w * 2.6),
                480,
                624,
            ),
        ),
        ("darker", map_pixels(&a, |p| p.map(|c| c * 0.7))),
    ];
    for (name, img) in &variants {
        let d = distance(&a_embedding, &embed(img));
        assert!(
            thresholds.accepts(d),
            "{name}: distance {d} to the same face"
        );
    }
    let b = embed(&selfie(fx, 5, 0));
    let d = distance(&a_embedding, &b);
    assert!(d > thresholds.reject, "another person at distance {d}");
}

#[test]
fn a_grey_replay_is_not_live() {
    let Some(fx) = fixtures("a_grey_replay_is_not_live") else {
        return;
    };
    let good = selfie(fx, 0, 1);
    assert!(analyse(fx, &good).liveness.unwrap().live());
    let grey = map_pixels(&good, |[r, g, b]| [0.299 * r + 0.587 * g + 0.114 * b; 3]);
    let signals = analyse(fx, &grey)
        .liveness
        .expect("a grey face passes the gates");
    assert!(
        !signals.live(),
        "a black-and-white face is refused: {signals:?}"
    );
    let blue = map_pixels(&good, |[r, g, b]| [r * 0.6, g, (b * 1.5).min(255.0) + 40.0]);
    let signals = analyse(fx, &blue)
        .liveness
        .expect("a blue-cast face passes the gates");
    assert!(
        !signals.live(),
        "a screen's blue cast is refused: {signals:?}"
    );
}

#[test]
fn a_model_file_that_is_not_the_pinned_one_is_refused() {
    let Some(models) = std::env::var_os("SELO_MODELS").map(PathBuf::from) else {
        skipped(
            "a_model_file_that_is_not_the_pinned_one_is_refused",
            "set SELO_MODELS (selo models install)",
        );
        return;
    };
    let copy = tempfile::tempdir().unwrap();
    for name in ["models.json", DETECTOR.file, EMBEDDER.file] {
        std::fs::copy(models.join(name), copy.path().join(name)).unwrap();
    }
    assert!(Engine::load(copy.path()).is_ok());
    let mut bytes = std::fs::read(copy.path().join(EMBEDDER.file)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(copy.path().join(EMBEDDER.file), bytes).unwrap();
    let err = Engine::load(copy.path()).unwrap_err().to_string();
    assert!(
        err.contains("not the pinned") && err.contains("selo models install"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = Engine::load(empty.path()).unwrap_err().to_string();
    assert!(err.contains("selo models install"), "{err}");
}
