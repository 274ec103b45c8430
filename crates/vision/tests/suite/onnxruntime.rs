//! The ONNX Runtime backend (its library found at run time: ORT_DYLIB_PATH or python3's onnxruntime
//! package): the same reference agreement as tract, and the two backends agreeing with each other on real
//! photos. Skipped, with a note, where no library is found — except in CI, which installs it.

use crate::common;

use vision::runtime::BackendKind;

/// Whether ONNX Runtime is here to test.
fn ort_available() -> bool {
    match vision::runtime::onnxruntime::find_library() {
        Ok(_) => true,
        Err(why) => {
            testkit::skip_unless_ci(&format!("the ONNX Runtime backend: {why}"));
            false
        }
    }
}

#[test]
fn onnxruntime_detections_match_the_reference_within_a_pixel() {
    if ort_available() {
        common::check_reference_detections(&common::full_resolution_pipeline(BackendKind::Onnxruntime));
    }
}

#[test]
fn onnxruntime_embeddings_match_the_reference() {
    if ort_available() {
        common::check_reference_embeddings(&common::full_resolution_pipeline(BackendKind::Onnxruntime));
    }
}

#[test]
fn both_backends_give_the_same_templates() {
    if !ort_available() {
        return;
    }
    for model in [vision::EmbeddingModel::Sface, vision::EmbeddingModel::Mobilefacenet] {
        let config = vision::PipelineConfig {
            backend: BackendKind::Onnxruntime,
            embedding_model: model,
            ..vision::PipelineConfig::default()
        };
        let ort = vision::FacePipeline::new(config.clone()).expect("onnxruntime loads");
        assert_eq!(ort.backend(), "onnxruntime");
        let tract = vision::FacePipeline::new(vision::PipelineConfig { backend: BackendKind::Tract, ..config })
            .expect("tract loads");
        assert_eq!(tract.backend(), "tract");
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
