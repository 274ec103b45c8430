//! Numeric agreement with the reference outputs in ../shared/models/reference (made with ONNX Runtime and
//! OpenCV): detections within a pixel, embeddings of the stored aligned crops with cosine > 0.9999.

mod common;

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

#[test]
fn detections_match_the_reference_within_a_pixel() {
    let pipeline = common::full_resolution_pipeline();
    let reference = common::reference();
    let detector = reference["detector"].as_object().expect("detector section");
    assert!(detector.len() >= 5, "reference has detections for several images");
    for (image, expected) in detector {
        let expected = expected.as_array().expect("list of faces");
        let decoded = pipeline.decode(&common::read(image)).expect("decodes");
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

#[test]
fn sface_embeddings_of_the_stored_crops_match_the_reference() {
    let pipeline = common::pipeline();
    let reference = common::reference();
    let sface = reference["sface"].as_object().expect("sface section");
    assert!(sface.len() >= 5);
    let dir = common::shared_dir().join("models/reference");
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
