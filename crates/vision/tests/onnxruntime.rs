//! The ONNX Runtime backend (feature `onnxruntime`; the library comes from ORT_DYLIB_PATH): the same
//! reference agreement as tract, and the two backends agreeing with each other on real photos.
#![cfg(feature = "onnxruntime")]

mod common;

use vision::runtime::BackendKind;

#[test]
fn onnxruntime_detections_match_the_reference_within_a_pixel() {
    common::check_reference_detections(&common::full_resolution_pipeline(BackendKind::Onnxruntime));
}

#[test]
fn onnxruntime_embeddings_match_the_reference() {
    common::check_reference_embeddings(&common::full_resolution_pipeline(BackendKind::Onnxruntime));
}

#[test]
fn both_backends_give_the_same_templates() {
    let tract = common::pipeline();
    for model in [vision::EmbeddingModel::Sface, vision::EmbeddingModel::Mobilefacenet] {
        let config = vision::PipelineConfig {
            backend: BackendKind::Onnxruntime,
            embedding_model: model,
            ..vision::PipelineConfig::default()
        };
        let ort = vision::FacePipeline::new(config.clone()).expect("onnxruntime loads");
        let tract = if model == tract.embedding_model() {
            tract.clone()
        } else {
            vision::FacePipeline::new(vision::PipelineConfig { backend: BackendKind::Tract, ..config })
                .expect("tract loads")
        };
        for rel in ["samples/face_recognition/two_people.jpg", "samples/deepface/img1.jpg"] {
            let bytes = common::read(rel);
            let (fa, ea, _) = tract.template_of(&bytes, None).expect("tract");
            let (fb, eb, _) = ort.template_of(&bytes, None).expect("onnxruntime");
            assert!((fa.detection.bbox.x - fb.detection.bbox.x).abs() < 0.5, "{rel}: same face found");
            let c = ea.cosine(&eb).expect("comparable");
            assert!(c > 0.999, "{model} {rel}: tract vs onnxruntime cosine {c}");
        }
    }
}
