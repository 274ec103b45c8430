//! Images in, faces out: decoding with limits, YuNet detection, five-point alignment, quality, SFace and
//! MobileFaceNet templates, cosine similarity and its calibrated 0-100 score.
//!
//! Knows nothing of HTTP, storage or async runtimes.

pub mod align;
pub mod analysis;
pub mod detect;
pub mod embed;
pub mod error;
pub mod image;
pub mod models;
pub mod pipeline;
pub mod quality;
pub mod runtime;
pub mod similarity;

pub use analysis::{EyeContours, Eyes, FaceAnalysis, FaceAnalyzer, HeadPose, Irises, SmileCues};
pub use detect::{BBox, Detection, DetectorConfig, FaceDetector, Landmarks5, Point};
pub use embed::{Embedding, EmbeddingModel, FaceEmbedder};
pub use error::{Result, VisionError};
pub use image::{decode, DecodeLimits, DecodedImage, Rotation};
pub use pipeline::{
    Face, FacePipeline, FacesInImage, PipelineConfig, StageTimes, Wanted, COARSE_MIN_FACE_PX, COARSE_TRUSTED_FACE_PX,
    REFINE_SIDE,
};
pub use quality::{FaceQuality, QualityIssue, QualityThresholds};
