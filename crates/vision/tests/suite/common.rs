//! Shared helpers of the vision tests: where the shared data lives, and one pipeline for all tests (loading
//! the models is the slow part).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use vision::runtime::BackendKind;
use vision::{DetectorConfig, FacePipeline, PipelineConfig};

/// `../shared` beside the repository, or `FACEGATE_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    testkit::shared_dir()
}

pub fn data(rel: &str) -> PathBuf {
    shared_dir().join("data").join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    let path = data(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("test data {} is missing: {e}", path.display()))
}

/// The engine of this test run (`FACEGATE_BACKEND`, default auto).
pub fn backend() -> BackendKind {
    testkit::backend_name().parse().expect("FACEGATE_BACKEND names an engine")
}

/// The default pipeline (SFace), models from the binary, on this run's engine.
pub fn pipeline() -> Arc<FacePipeline> {
    static P: OnceLock<Arc<FacePipeline>> = OnceLock::new();
    P.get_or_init(|| {
        FacePipeline::new(PipelineConfig { backend: backend(), ..PipelineConfig::default() }).expect("models load")
    })
    .clone()
}

/// A pipeline on `backend` that detects at full resolution (no downscaling up to 4096 pixels), as the
/// reference outputs were made.
pub fn full_resolution_pipeline(backend: BackendKind) -> Arc<FacePipeline> {
    let config = PipelineConfig {
        detector: DetectorConfig { max_side: 4096, ..DetectorConfig::default() },
        backend,
        ..PipelineConfig::default()
    };
    FacePipeline::new(config).expect("models load")
}

pub fn reference() -> serde_json::Value {
    let path = shared_dir().join("models/reference/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference.json parses")
}

pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

/// Detections at full resolution within a pixel of the reference (YuNet in ONNX Runtime via OpenCV).
pub fn check_reference_detections(pipeline: &FacePipeline) {
    let reference = reference();
    let detector = reference["detector"].as_object().expect("detector section");
    assert!(detector.len() >= 5, "reference has detections for several images");
    for (image, expected) in detector {
        let expected = expected.as_array().expect("list of faces");
        let decoded = pipeline.decode(&read(image)).expect("decodes");
        let found = pipeline.detector().detect(&decoded.rgb).expect("detects");
        assert_eq!(found.len(), expected.len(), "{image}: number of faces");
        for exp in expected {
            let bx = floats(&exp["box_xywh"]);
            let lm = floats(&exp["landmarks5_xy"]);
            let score = exp["score"].as_f64().expect("score") as f32;
            // Pair each reference face with the detection nearest to it.
            let det = found
                .iter()
                .min_by(|a, b| (a.bbox.x - bx[0]).abs().total_cmp(&(b.bbox.x - bx[0]).abs()))
                .expect("a detection");
            let got_box = [det.bbox.x, det.bbox.y, det.bbox.width, det.bbox.height];
            for (g, e) in got_box.iter().zip(&bx) {
                assert!((g - e).abs() <= 1.0, "{image}: box {got_box:?} vs {bx:?}");
            }
            for (n, p) in det.landmarks.iter().enumerate() {
                assert!(
                    (p.x - lm[2 * n]).abs() <= 1.0 && (p.y - lm[2 * n + 1]).abs() <= 1.0,
                    "{image}: landmark {n} {p:?} vs ({}, {})",
                    lm[2 * n],
                    lm[2 * n + 1]
                );
            }
            assert!((det.score - score).abs() < 0.005, "{image}: score {} vs {score}", det.score);
        }
    }
}

/// SFace raw outputs for the stored aligned crops: cosine > 0.9999 to the reference.
pub fn check_reference_embeddings(pipeline: &FacePipeline) {
    let reference = reference();
    let sface = reference["sface"].as_object().expect("sface section");
    assert!(sface.len() >= 5);
    let dir = shared_dir().join("models/reference");
    for (file, expected) in sface {
        let crop = image::open(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")).into_rgb8();
        let raw = pipeline.embedder().embed_raw(&crop).expect("embeds");
        let exp = floats(&expected["embedding_raw"]);
        assert_eq!(raw.len(), exp.len(), "{file}: dimension");
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let dot: f32 = raw.iter().zip(&exp).map(|(a, b)| a * b).sum();
        let c = dot / (norm(&raw) * norm(&exp));
        assert!(c > 0.9999, "{file}: cosine to reference {c}");
    }
}
