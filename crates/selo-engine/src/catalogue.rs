//! What `selo models install` fetches and writes, and the manifest it leaves in the models
//! directory (CONTRACT §17). Pinned: a package whose SHA-256 differs is refused.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A registry package that carries model files.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    /// `npm pack` spec.
    pub spec: &'static str,
    /// The file `npm pack` writes.
    pub tarball: &'static str,
    /// SHA-256 of that tarball (hex).
    pub sha256: &'static str,
}

/// MediaPipe's face detection package (BlazeFace models, Apache-2.0).
pub const MEDIAPIPE_FACE_DETECTION: Package = Package {
    spec: "@mediapipe/face_detection@0.4.1657300184",
    tarball: "mediapipe-face_detection-0.4.1657300184.tgz",
    sha256: "a118cde74923dc4435257fbfbb613464a0f58d115dff6314d4ff96c8aebf6419",
};

/// face-api.js (vladmandic's build): the dlib face recognition weights (public domain) and the
/// demo photos the tests use (MIT).
pub const FACE_API: Package = Package {
    spec: "@vladmandic/face-api@1.7.15",
    tarball: "vladmandic-face-api-1.7.15.tgz",
    sha256: "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
};

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

/// The detector's file in the models directory.
pub const DETECTOR_FILE: &str = "blazeface-short-range.onnx";
/// The embedder's file in the models directory.
pub const EMBEDDER_FILE: &str = "dlib-resnet29-face-recognition.onnx";
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
