//! Typed errors of the vision crate. Every failure a caller can cause has its own variant, so that the
//! HTTP layer can map each to a status once, and the CLI can print a clear message.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum VisionError {
    // --- input images ---
    #[error("the image is empty (0 bytes)")]
    EmptyImage,
    #[error("the image is {size} bytes, over the limit of {limit} bytes")]
    ImageTooLarge { size: usize, limit: usize },
    #[error("the data is not an image in a supported format (JPEG, PNG, WebP, BMP, GIF)")]
    UnsupportedFormat,
    #[error("the image is {width}x{height} pixels, over the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image is {width}x{height} pixels, under the minimum of {min}x{min}")]
    ImageTooSmall { width: u32, height: u32, min: u32 },
    #[error("the image could not be decoded (truncated or corrupt): {0}")]
    CorruptImage(String),

    // --- faces ---
    #[error("no face was found in the image")]
    NoFace,
    #[error("face index {index} is out of range: the image has {count} face(s)")]
    FaceIndexOutOfRange { index: usize, count: usize },

    // --- models ---
    #[error("model {name}: file {path} not found")]
    ModelNotFound { name: String, path: String },
    #[error("model {name}: SHA-256 mismatch (expected {expected}, found {found}) in {source_desc}")]
    ModelChecksum { name: String, expected: String, found: String, source_desc: String },
    #[error("model {name} could not be loaded: {message}")]
    ModelLoad { name: String, message: String },
    #[error("inference failed in model {name}: {message}")]
    Inference { name: String, message: String },
    #[error("model {name} gave output of an unexpected shape: {message}")]
    ModelOutput { name: String, message: String },

    #[error("ONNX Runtime is unavailable: {0}")]
    EngineUnavailable(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("I/O error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type Result<T, E = VisionError> = std::result::Result<T, E>;
