//! Numeric agreement with the reference outputs in ../shared/models/reference (made with ONNX Runtime and
//! OpenCV): detections within a pixel, embeddings of the stored aligned crops with cosine > 0.9999.

use crate::common;

use vision::runtime::BackendKind;

#[test]
fn detections_match_the_reference_within_a_pixel() {
    common::check_reference_detections(&common::full_resolution_pipeline(BackendKind::Tract));
}

#[test]
fn sface_embeddings_of_the_stored_crops_match_the_reference() {
    common::check_reference_embeddings(&common::pipeline());
}
