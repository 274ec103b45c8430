//! The model manifest: every model the pipeline knows, its expected SHA-256, and where it is loaded from.
//!
//! A models directory, when configured, is searched first: a file found there replaces the embedded copy.
//! Models that are never embedded (the anti-spoofing networks, whose licence terms keep them out of the
//! repository) are only looked for there. Every model is checked against its SHA-256 when loaded.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Result, VisionError};

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    FaceDetector,
    FaceEmbedding,
    FaceMesh,
    EyeContours,
    Expression,
}

/// One entry of the manifest.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Short id used in configuration and on the command line.
    pub id: &'static str,
    /// File name, in the models directory and in the repository's `models/`.
    pub file: &'static str,
    pub role: ModelRole,
    pub sha256: &'static str,
    /// The copy built into the binary, for registry-sourced models.
    pub embedded: Option<&'static [u8]>,
}

pub const YUNET: ModelSpec = ModelSpec {
    id: "yunet",
    file: "face_detection_yunet_2023mar.onnx",
    role: ModelRole::FaceDetector,
    sha256: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    embedded: Some(include_bytes!("../../../models/face_detection_yunet_2023mar.onnx")),
};

pub const SFACE: ModelSpec = ModelSpec {
    id: "sface",
    file: "sface_2021dec_fp32.onnx",
    role: ModelRole::FaceEmbedding,
    sha256: "a186242f53982d569dd88252f8ceecb6fae499be91b5d6895eaacc1f3009a1c0",
    embedded: Some(include_bytes!("../../../models/sface_2021dec_fp32.onnx")),
};

pub const MOBILEFACENET: ModelSpec = ModelSpec {
    id: "mobilefacenet",
    file: "mobilefacenet_192.onnx",
    role: ModelRole::FaceEmbedding,
    sha256: "010920033952f08d17595c0ba5782d8d9c6e773635bd927f5272cb435ab1db50",
    embedded: Some(include_bytes!("../../../models/mobilefacenet_192.onnx")),
};

pub const FACE_MESH: ModelSpec = ModelSpec {
    id: "face_mesh",
    file: "face_landmark_468.onnx",
    role: ModelRole::FaceMesh,
    sha256: "7fe7738e41ad644bb104d3463f8b80369a844d2de39e19db5a711fb1dcbcca6f",
    embedded: Some(include_bytes!("../../../models/face_landmark_468.onnx")),
};

pub const FACE_MESH_ATTENTION: ModelSpec = ModelSpec {
    id: "face_mesh_attention",
    file: "face_landmark_attention_478.onnx",
    role: ModelRole::EyeContours,
    sha256: "09b505bb7a6aa311149a9800e2eeee043e0ea5b6e6dc0b6a4277cfef16ddb36d",
    embedded: Some(include_bytes!("../../../models/face_landmark_attention_478.onnx")),
};

pub const EMOTION: ModelSpec = ModelSpec {
    id: "emotion",
    file: "emotion_7.onnx",
    role: ModelRole::Expression,
    sha256: "a4567bf0fd0748b2709d23f7976307b398d4f29866b054fa2dccd01ae0787c2d",
    embedded: Some(include_bytes!("../../../models/emotion_7.onnx")),
};

/// Every model the pipeline knows.
pub const MANIFEST: &[ModelSpec] = &[YUNET, SFACE, MOBILEFACENET, FACE_MESH, FACE_MESH_ATTENTION, EMOTION];

/// Where a loaded model's bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelOrigin {
    Embedded,
    File(PathBuf),
}

impl std::fmt::Display for ModelOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelOrigin::Embedded => f.write_str("embedded"),
            ModelOrigin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A model's bytes, checked against the manifest.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub spec: ModelSpec,
    pub bytes: Cow<'static, [u8]>,
    pub origin: ModelOrigin,
}

/// Finds model files: the configured directory first, the embedded copies second.
#[derive(Debug, Clone, Default)]
pub struct ModelRepository {
    dir: Option<PathBuf>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl ModelRepository {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The manifest entry for `id`.
    pub fn spec(id: &str) -> Result<ModelSpec> {
        MANIFEST
            .iter()
            .find(|m| m.id == id)
            .copied()
            .ok_or_else(|| VisionError::Config(format!("unknown model '{id}'")))
    }

    /// Loads a model and checks its SHA-256.
    pub fn load(&self, spec: &ModelSpec) -> Result<LoadedModel> {
        let from_dir = self.dir.as_ref().map(|d| d.join(spec.file)).filter(|p| p.is_file());
        let (bytes, origin) = match (from_dir, spec.embedded) {
            (Some(path), _) => {
                let bytes = std::fs::read(&path)
                    .map_err(|source| VisionError::Io { path: path.display().to_string(), source })?;
                (Cow::Owned(bytes), ModelOrigin::File(path))
            }
            (None, Some(bytes)) => (Cow::Borrowed(bytes), ModelOrigin::Embedded),
            (None, None) => {
                let path = match &self.dir {
                    Some(d) => d.join(spec.file).display().to_string(),
                    None => format!("{} (no models directory configured)", spec.file),
                };
                return Err(VisionError::ModelNotFound { name: spec.id.to_string(), path });
            }
        };
        let found = sha256_hex(&bytes);
        if found != spec.sha256 {
            return Err(VisionError::ModelChecksum {
                name: spec.id.to_string(),
                expected: spec.sha256.to_string(),
                found,
                source_desc: origin.to_string(),
            });
        }
        Ok(LoadedModel { spec: *spec, bytes, origin })
    }
}
