//! Shared helpers of the vision tests: where the shared data lives, and one pipeline for all tests of a
//! binary (loading the models is the slow part).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use vision::{DetectorConfig, FacePipeline, PipelineConfig};

/// `../shared` beside the repository, or `FACEGATE_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("FACEGATE_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub fn data(rel: &str) -> PathBuf {
    shared_dir().join("data").join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    let path = data(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("test data {} is missing: {e}", path.display()))
}

/// The default pipeline (SFace), models from the binary.
pub fn pipeline() -> Arc<FacePipeline> {
    static P: OnceLock<Arc<FacePipeline>> = OnceLock::new();
    P.get_or_init(|| FacePipeline::new(PipelineConfig::default()).expect("models load")).clone()
}

/// A pipeline that detects at full resolution (no downscaling up to 4096 pixels), as the reference
/// outputs were made.
pub fn full_resolution_pipeline() -> Arc<FacePipeline> {
    static P: OnceLock<Arc<FacePipeline>> = OnceLock::new();
    P.get_or_init(|| {
        let config = PipelineConfig {
            detector: DetectorConfig { max_side: 4096, ..DetectorConfig::default() },
            ..PipelineConfig::default()
        };
        FacePipeline::new(config).expect("models load")
    })
    .clone()
}

pub fn reference() -> serde_json::Value {
    let path = shared_dir().join("models/reference/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference.json parses")
}
