//! What `selo models install` fetches and writes, and the manifest it leaves in the models
//! directory (CONTRACT §17). Pinned: a package whose SHA-256 differs is refused.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A registry package that carries model files.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    /// `npm pack` spec.
    pub spec: &'static str,
    /// Its version (the part of `spec` after the last `@`).
    pub version: &'static str,
    /// The file `npm pack` writes.
    pub tarball: &'static str,
    /// SHA-256 of that tarball (hex).
    pub sha256: &'static str,
}

/// MediaPipe's face detection package (BlazeFace models, Apache-2.0).
pub const MEDIAPIPE_FACE_DETECTION: Package = Package {
    spec: "@mediapipe/face_detection@0.4.1657300184",
    version: "0.4.1657300184",
    tarball: "mediapipe-face_detection-0.4.1657300184.tgz",
    sha256: "a118cde74923dc4435257fbfbb613464a0f58d115dff6314d4ff96c8aebf6419",
};

/// face-api.js (vladmandic's build): the dlib face recognition weights (public domain) and the
/// demo photos the tests use (MIT).
pub const FACE_API: Package = Package {
    spec: "@vladmandic/face-api@1.7.15",
    version: "1.7.15",
    tarball: "vladmandic-face-api-1.7.15.tgz",
    sha256: "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
};

/// One model the engines run: where it comes from, how it is converted, and the SHA-256 the
/// conversion must give (the converter is reproducible, so the output is pinned too; the
/// engine loads nothing else).
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Its name in `selo models list`.
    pub name: &'static str,
    /// The ONNX file in the models directory.
    pub file: &'static str,
    /// The package that carries it.
    pub package: Package,
    /// The package members the converter reads.
    pub members: &'static [&'static str],
    /// The converter's first argument (`blazeface` or `dlib`).
    pub converter: &'static str,
    /// SPDX licence of the weights and their packaging.
    pub license: &'static str,
    /// How the ONNX file is made, for `source`.
    pub conversion: &'static str,
    /// SHA-256 of the ONNX file (hex).
    pub onnx_sha256: &'static str,
}

/// BlazeFace short range: face detection with six keypoints.
pub const DETECTOR: Model = Model {
    name: "blazeface-short-range",
    file: "blazeface-short-range.onnx",
    package: MEDIAPIPE_FACE_DETECTION,
    members: &["package/face_detection_short_range.tflite"],
    converter: "blazeface",
    license: "Apache-2.0",
    conversion: "converted with tflite2onnx 0.4.1",
    onnx_sha256: "6f4beb2fd5cfdc9e82321e8bd98bf1c3b265e350d2af2e5a7212dc639e6b165b",
};

/// dlib's ResNet-29 face recognition model: the 128-d embedding.
pub const EMBEDDER: Model = Model {
    name: "dlib-resnet29-face-recognition",
    file: "dlib-resnet29-face-recognition.onnx",
    package: FACE_API,
    members: &[
        "package/model/face_recognition_model-weights_manifest.json",
        "package/model/face_recognition_model.bin",
    ],
    converter: "dlib",
    license: "CC0-1.0 AND MIT",
    conversion: "dlib-models weights (CC0-1.0) in face-api.js's packaging (MIT), rebuilt as ONNX by convert.py",
    onnx_sha256: "da161c29e31392c1c0ded9e298269c007d00fc01ddebb9759e52a6ce1b5d0f12",
};

/// Every model, in the order `selo models list` prints them.
pub const MODELS: [Model; 2] = [DETECTOR, EMBEDDER];

/// The inference runtime installed beside the models where a pinned build exists: onnxruntime's
/// shared library, taken from its PyPI wheel. Without it the engines run the same models on
/// tract (pure Rust, slower).
#[derive(Debug, Clone, Copy)]
pub struct Runtime {
    /// Its name in `selo models list`.
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// `pip download` arguments that fetch exactly the pinned wheel.
    pub pip_download: &'static [&'static str],
    /// The wheel's file name.
    pub wheel: &'static str,
    /// SHA-256 of the wheel (hex).
    pub wheel_sha256: &'static str,
    /// The wheel member that is the library.
    pub member: &'static str,
    /// The library's file in the models directory.
    pub file: &'static str,
    /// SHA-256 of the library (hex): the only bytes the engine loads.
    pub sha256: &'static str,
    /// SPDX licence.
    pub license: &'static str,
}

/// onnxruntime 1.32.0 for x86-64 Linux (glibc ≥ 2.28), from the CPython 3.11 wheel (the
/// library inside does not depend on Python).
#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
pub const RUNTIME: Option<Runtime> = Some(Runtime {
    name: "onnxruntime",
    version: "1.32.0",
    pip_download: &[
        "onnxruntime==1.32.0",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        "--platform",
        "manylinux_2_28_x86_64",
    ],
    wheel: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    wheel_sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
    member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
    file: "libonnxruntime.so.1.32.0",
    sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
    license: "MIT",
});

/// No pinned onnxruntime build for this platform: the engines run on tract.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")))]
pub const RUNTIME: Option<Runtime> = None;

impl Runtime {
    /// Its manifest entry once installed.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.name.into(),
            version: self.version.into(),
            sha256: self.sha256.into(),
            license: self.license.into(),
            source: format!(
                "PyPI {} (sha256 {}): {}",
                self.wheel, self.wheel_sha256, self.member
            ),
            file: self.file.into(),
        }
    }

    /// The installed library's path, checked against its pinned SHA-256 (`Ok(None)`: not
    /// installed).
    ///
    /// # Errors
    ///
    /// A message when the file is there but is not the pinned bytes.
    pub fn verified_path(&self, dir: &Path) -> Result<Option<std::path::PathBuf>, String> {
        let path = dir.join(self.file);
        match std::fs::read(&path) {
            Ok(bytes) if sha256_hex(&bytes) == self.sha256 => Ok(Some(path)),
            Ok(_) => Err(format!(
                "{} is not the pinned {} {} (its SHA-256 differs)",
                path.display(),
                self.name,
                self.version
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

impl Model {
    /// Its manifest entry once installed.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.name.into(),
            version: self.package.version.into(),
            sha256: self.onnx_sha256.into(),
            license: self.license.into(),
            source: format!(
                "npm {} (sha256 {}): {}, {}",
                self.package.spec,
                self.package.sha256,
                self.members.join(" + "),
                self.conversion
            ),
            file: self.file.into(),
        }
    }
}

/// The Python packages the converter needs, pinned (installed into a private environment
/// under the models directory by `selo models install`).
pub const CONVERTER_PYTHON_PACKAGES: &[&str] = &[
    "tflite2onnx==0.4.1",
    "tflite==2.18.0",
    "onnx==1.23.2",
    "numpy==2.4.6",
    "protobuf==7.36.2",
    "flatbuffers==25.12.19",
];

/// The converter (`python3 convert.py …`), kept in this repository.
pub const CONVERTER: &str = include_str!("../models/convert.py");

/// The manifest's file in the models directory.
pub const MANIFEST_FILE: &str = "models.json";

/// One installed model, as `selo models list --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// What it is.
    pub name: String,
    /// The version of the package it came from.
    pub version: String,
    /// SHA-256 of the installed ONNX file (hex).
    pub sha256: String,
    /// Its licence (SPDX where there is one).
    pub license: String,
    /// Where it came from: registry, package, file, the package's hash.
    pub source: String,
    /// The ONNX file in the models directory.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub file: String,
}

/// Reads the manifest of a models directory (`None` when nothing is installed there).
///
/// # Errors
///
/// A message when the manifest exists but cannot be read.
pub fn read_manifest(dir: &Path) -> Result<Option<Vec<ModelInfo>>, String> {
    let path = dir.join(MANIFEST_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not a models manifest: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Reads one installed model file, checked against its pinned SHA-256.
///
/// # Errors
///
/// A message naming the file when it cannot be read or its bytes are not the pinned ones.
pub fn read_verified(dir: &Path, model: Model) -> Result<Vec<u8>, String> {
    let path = dir.join(model.file);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if sha256_hex(&bytes) != model.onnx_sha256 {
        return Err(format!(
            "{} is not the pinned {} model (its SHA-256 differs)",
            path.display(),
            model.name
        ));
    }
    Ok(bytes)
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
