//! The MiniFASNets built from the official `.pth` files reproduce the reference logits of MODELS.md for the
//! exact 80x80 inputs stored beside them, and the checkpoint reader refuses damaged files.

use antispoof::passive::{bgr_planar, PassiveLiveness};
use antispoof::SPOOF_MODELS;
use vision::runtime::{make_backend, BackendKind};

fn models_dir() -> std::path::PathBuf {
    testkit::shared_dir().join("models/shared-only")
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(testkit::shared_dir().join("models/reference/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn logits_match_the_reference_for_every_stored_input() {
    let backend = make_backend(BackendKind::Tract, 1).unwrap();
    let passive = PassiveLiveness::load(&models_dir(), backend.as_ref()).unwrap();
    let reference = reference();
    let cases = reference["minifasnet"].as_object().unwrap();
    assert!(cases.len() >= 8, "reference inputs: {}", cases.len());
    let mut worst = 0f32;
    for (file, expected) in cases {
        let index = SPOOF_MODELS
            .iter()
            .position(|m| file.contains(if m.scale == 2.7 { "V2_2.7" } else { "V1SE_4.0" }))
            .unwrap();
        let img = image::open(testkit::shared_dir().join("models/reference").join(file)).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (80, 80));
        let got = passive.logits(index, bgr_planar(&img)).unwrap();
        for (g, e) in got.iter().zip(expected["logits"].as_array().unwrap()) {
            let e = e.as_f64().unwrap() as f32;
            worst = worst.max((g - e).abs());
            assert!((g - e).abs() < 2e-3, "{file}: {got:?} vs {}", expected["logits"]);
        }
    }
    eprintln!("largest logit difference from the reference: {worst:.2e}");
}

#[test]
fn damaged_checkpoints_are_clear_errors() {
    let good = std::fs::read(models_dir().join(SPOOF_MODELS[0].file)).unwrap();
    for cut in [0, 10, 100, 5000, good.len() / 2, good.len() - 1] {
        assert!(antispoof::pth::read_state_dict(&good[..cut]).is_err(), "cut at {cut}");
    }
    let mut flipped = good.clone();
    flipped[200] ^= 0xff;
    let _ = antispoof::pth::read_state_dict(&flipped); // an error or a state dict, never a panic
    assert!(antispoof::pth::read_state_dict(b"PK\x03\x04rest").is_err());
    let weights = antispoof::pth::read_state_dict(&good).unwrap();
    assert_eq!(weights["module.conv1.conv.weight"].shape, [32, 3, 3, 3]);
    // A network missing a layer is refused, not run.
    let mut partial = weights.clone();
    partial.remove("module.conv_6_dw.conv.weight");
    assert!(antispoof::minifasnet::to_onnx(&partial).is_err());
    let dir = tempfile_dir();
    let err = PassiveLiveness::load(&dir, make_backend(BackendKind::Tract, 1).unwrap().as_ref()).unwrap_err();
    assert!(err.to_string().contains("2.7_80x80_MiniFASNetV2.pth"), "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("facegate-antispoof-empty-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn crops_match_the_reference_crops() {
    let reference = reference();
    for (file, expected) in reference["minifasnet"].as_object().unwrap() {
        let stem = file.split("_MiniFASNet").next().unwrap();
        let source = ["samples/face_recognition", "samples/silent_face"]
            .iter()
            .map(|d| testkit::shared_data(&format!("{d}/{stem}.jpg")))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no source image for {stem}"));
        // Decoded as the service decodes (EXIF orientation applied), as the reference was.
        let img = vision::decode(&std::fs::read(&source).unwrap(), &vision::DecodeLimits::default()).unwrap().rgb;
        let b = expected["box_xywh_used"].as_array().unwrap();
        let f = |i: usize| b[i].as_f64().unwrap() as f32;
        let bbox = vision::BBox { x: f(0), y: f(1), width: f(2), height: f(3) };
        let ours = antispoof::passive::crop_for(&img, &bbox, expected["scale"].as_f64().unwrap() as f32);
        let theirs = image::open(testkit::shared_dir().join("models/reference").join(file)).unwrap().to_rgb8();
        let diff: f64 =
            ours.as_raw().iter().zip(theirs.as_raw()).map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs()).sum::<f64>()
                / ours.as_raw().len() as f64;
        eprintln!("{file}: mean absolute difference {diff:.2}");
        assert!(diff < 1.0, "{file}: crops differ by {diff:.2} on average");
    }
}
