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
use selo_engine::runtime::Backend;
use selo_engine::testkit::{self, FACES, Photos, jpeg, map_pixels, resample};
use selo_engine::{Engine, align};
use std::path::PathBuf;
use std::sync::OnceLock;

struct Fixtures {
    engine: Engine,
    photos: Photos,
}

/// The engine and the photos, or `None` (SKIPPED) when they are not installed here.
fn fixtures(test: &str) -> Option<&'static Fixtures> {
    static FIXTURES: OnceLock<Option<Fixtures>> = OnceLock::new();
    let loaded = FIXTURES.get_or_init(|| {
        let models = std::env::var_os("SELO_MODELS").map(PathBuf::from)?;
        let faces = std::env::var_os("SELO_TEST_FACES").map(PathBuf::from)?;
        let engine = Engine::load(&models).expect("the models in SELO_MODELS load");
        Some(Fixtures {
            engine,
            photos: Photos::load(&faces),
        })
    });
    if loaded.is_none() {
        skipped(
            test,
            "set SELO_MODELS (selo models install) and SELO_TEST_FACES (the demo photos of @vladmandic/face-api)",
        );
    }
    loaded.as_ref()
}

fn analyse(fx: &Fixtures, img: &Rgb) -> selo_engine::Analysis {
    fx.engine
        .analyse(ImageFormat::Jpeg, &jpeg(img, 92))
        .unwrap()
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
    for (key, img) in fx.photos.all_selfies() {
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
    let img = fx.photos.selfie(0, 1);
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

fn refused(fx: &Fixtures, img: &Rgb) -> Option<GateReason> {
    analyse(fx, img).refused()
}

#[test]
fn every_gate_refuses_what_it_should() {
    let Some(fx) = fixtures("every_gate_refuses_what_it_should") else {
        return;
    };
    let good = fx.photos.selfie(0, 1);
    assert_eq!(
        refused(fx, &good),
        None,
        "the plain selfie passes every gate"
    );
    for (gate, img) in fx.photos.refused_by_each_gate() {
        assert_eq!(
            refused(fx, &img),
            Some(gate),
            "the {} example",
            gate.as_str()
        );
    }
}

#[test]
fn the_same_face_is_near_and_other_faces_are_far() {
    let Some(fx) = fixtures("the_same_face_is_near_and_other_faces_are_far") else {
        return;
    };
    let embed = |img: &Rgb| analyse(fx, img).embedding.expect("passes the gates");
    let thresholds = selo_domain::verification::MatchThresholds::default();
    let a = fx.photos.selfie(0, 1);
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
                &fx.photos.0[0],
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
    let b = embed(&fx.photos.selfie(5, 0));
    let d = distance(&a_embedding, &b);
    assert!(d > thresholds.reject, "another person at distance {d}");
}

#[test]
fn a_grey_replay_is_not_live() {
    let Some(fx) = fixtures("a_grey_replay_is_not_live") else {
        return;
    };
    let good = fx.photos.selfie(0, 1);
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
    // The runtime library too: altered, it is refused rather than loaded.
    if let Some(runtime) = selo_engine::catalogue::RUNTIME
        && let Ok(mut bytes) = std::fs::read(models.join(runtime.file))
    {
        std::fs::copy(models.join(EMBEDDER.file), copy.path().join(EMBEDDER.file)).unwrap();
        bytes[1000] ^= 1;
        std::fs::write(copy.path().join(runtime.file), bytes).unwrap();
        let err = Engine::load(copy.path()).unwrap_err().to_string();
        assert!(err.contains("not the pinned onnxruntime"), "{err}");
    }
}

/// A phone's portrait photo stored sideways with its EXIF orientation is read upright: it
/// passes the gates and embeds as the upright photo does.
#[test]
fn a_sideways_photo_is_read_by_its_exif_orientation() {
    let Some(fx) = fixtures("a_sideways_photo_is_read_by_its_exif_orientation") else {
        return;
    };
    let good = fx.photos.selfie(0, 1);
    let upright = analyse(fx, &good).embedding.unwrap();
    let sideways = fx
        .engine
        .analyse(ImageFormat::Jpeg, &testkit::jpeg_sideways(&good, 92))
        .unwrap();
    assert_eq!(sideways.refused(), None, "{sideways:?}");
    let d = distance(&upright, &sideways.embedding.unwrap());
    assert!(d < 0.1, "distance {d} to the same photo upright");
}

/// A sharp face a little over the size limit is enlarged to the chip, and is still not read
/// as blurry.
#[test]
fn a_sharp_small_face_is_not_blurry() {
    let Some(fx) = fixtures("a_sharp_small_face_is_not_blurry") else {
        return;
    };
    let good = fx.photos.selfie(0, 1);
    for shrink in [3.0f32, 4.0, 5.0, 5.5] {
        let (w, h) = ((480.0 / shrink) as usize, (640.0 / shrink) as usize);
        let small = resample(&good, (0.0, 0.0, 480.0, 640.0), w, h);
        let framed = testkit::paste(640, 480, &[(&small, (640 - w) / 2, (480 - h) / 2)]);
        let a = analyse(fx, &framed);
        let blurry = a.gates.iter().find(|g| g.name == GateReason::Blurry);
        assert_eq!(a.refused(), None, "shrunk ×{shrink}: {blurry:?}");
    }
}

/// tract, the fallback runtime, gives what onnxruntime gives on every test face: the same gate
/// decisions and embeddings within 1e-3.
#[test]
fn tract_and_onnxruntime_agree_on_every_test_face() {
    let test = "tract_and_onnxruntime_agree_on_every_test_face";
    let Some(fx) = fixtures(test) else { return };
    let models = PathBuf::from(std::env::var_os("SELO_MODELS").unwrap());
    if fx.engine.backend() != Backend::Onnxruntime {
        skipped(
            test,
            "install the models with `selo models install` (it adds onnxruntime)",
        );
        return;
    }
    let tract = Engine::load_on(&models, Backend::Tract).unwrap();
    for (key, img) in fx.photos.all_selfies() {
        let bytes = jpeg(&img, 92);
        let (a, b) = (
            fx.engine.analyse(ImageFormat::Jpeg, &bytes).unwrap(),
            tract.analyse(ImageFormat::Jpeg, &bytes).unwrap(),
        );
        assert_eq!(a.refused(), b.refused(), "face {key:?}");
        if let (Some(x), Some(y)) = (&a.embedding, &b.embedding) {
            let worst = largest_difference(x, y);
            assert!(worst < 1e-3, "face {key:?}: the runtimes differ by {worst}");
        }
    }
}
