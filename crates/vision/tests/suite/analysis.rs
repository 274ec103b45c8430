//! The face mesh and expression networks reproduce the reference outputs, and the signals derived from them
//! (pose, eyes, smile) read the shared sample photos the right way round.

use crate::common;

use vision::FaceAnalysis;

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(common::shared_dir().join("models/reference/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn png(file: &str) -> image::DynamicImage {
    image::open(common::shared_dir().join("models/reference").join(file)).unwrap()
}

fn close(got: f32, want: &serde_json::Value, tol: f32, what: &str) {
    let want = want.as_f64().unwrap() as f32;
    assert!((got - want).abs() <= tol, "{what}: {got} vs {want}");
}

#[test]
fn mesh_and_expressions_match_the_reference() {
    let pipeline = common::pipeline();
    let analyzer = pipeline.analyzer();
    let reference = reference();
    for (file, want) in reference["face_mesh"].as_object().unwrap() {
        let (points, presence) = analyzer.mesh_of_crop(&png(file).to_rgb8()).unwrap();
        close(presence, &want["presence_logit"], 0.02, file);
        for (i, p) in want["landmarks_first5_xyz"].as_array().unwrap().iter().enumerate() {
            for c in 0..3 {
                close(points[i][c], &p[c], 0.02, &format!("{file} point {i}"));
            }
        }
        for (key, ids) in [("left_eye_159_145", [159, 145]), ("right_eye_386_374", [386, 374]), ("nose_tip_1", [1, 1])]
        {
            let pts = &want[key];
            let list: Vec<&serde_json::Value> =
                if key == "nose_tip_1" { vec![pts] } else { pts.as_array().unwrap().iter().collect() };
            for (p, &id) in list.iter().zip(&ids) {
                for c in 0..3 {
                    close(points[id][c], &p[c], 0.02, &format!("{file} {key}"));
                }
            }
        }
    }
    for (file, want) in reference["emotion"].as_object().unwrap() {
        let scores = analyzer.expressions_of_crop(&png(file).to_luma8()).unwrap();
        for (g, w) in scores.iter().zip(want["scores"].as_array().unwrap()) {
            close(*g, w, 1e-3, file);
        }
    }
}

fn analyse(rel: &str) -> FaceAnalysis {
    let pipeline = common::pipeline();
    let decoded = pipeline.decode(&common::read(rel)).unwrap();
    let found = pipeline.find_faces(&decoded.rgb).unwrap();
    let i = vision::pipeline::largest_face(&found.faces).unwrap_or_else(|| panic!("{rel}: no face"));
    let a = pipeline.analyzer().analyze(&found.image, &found.faces[i].detection.bbox).unwrap();
    eprintln!(
        "{rel}: yaw {:.1} pitch {:.1} roll {:.1} eyes {:.3}/{:.3} mouth {:.3} smile {:.3} presence {:.3}",
        a.pose.yaw, a.pose.pitch, a.pose.roll, a.eyes.left, a.eyes.right, a.mouth_open, a.smile, a.presence
    );
    a
}

#[test]
fn pose_signs_on_the_pose_samples() {
    let dir = "samples/insightface/pose";
    let left = analyse(&format!("{dir}/left_face.jpeg"));
    let right = analyse(&format!("{dir}/right_face.png"));
    let rise = analyse(&format!("{dir}/rise_face.jpeg"));
    let lower = analyse(&format!("{dir}/lower_face.jpeg"));
    let right_neck = analyse(&format!("{dir}/right_wryneck.png"));
    let frontal = analyse("samples/face_recognition/obama.jpg");
    assert!(
        frontal.pose.yaw.abs() < 15.0 && frontal.pose.pitch.abs() < 20.0 && frontal.pose.roll.abs() < 10.0,
        "{:?}",
        frontal.pose
    );
    assert!(left.pose.yaw < -15.0 && right.pose.yaw > 15.0, "{:?} {:?}", left.pose, right.pose);
    assert!(rise.pose.pitch > lower.pose.pitch + 15.0 && rise.pose.pitch > 0.0, "{:?} {:?}", rise.pose, lower.pose);
    // Her head tilts clockwise in the image (eye line falling to the right). `left_wryneck.png`, tilted
    // about 45 degrees the other way, is not checked: YuNet boxes that face on her cheek and the mesh
    // follows the box (see the issue notes).
    assert!(right_neck.pose.roll > 10.0, "{:?}", right_neck.pose);
    for a in [&left, &right, &rise, &lower, &frontal] {
        assert!(a.presence > 0.5 && a.mesh.len() == 468);
    }
}

/// The five-point yaw (every detection's quality) and the mesh's pose (the analysis's) share one sign and one
/// scale: the turned samples (about 50 degrees each way) read within 15 degrees of the mesh, far from a 90-degree
/// saturation; the pose alone is the whole analysis's.
#[test]
fn five_point_yaw_agrees_with_the_mesh() {
    let pipeline = common::pipeline();
    for rel in [
        "samples/insightface/pose/left_face.jpeg",
        "samples/insightface/pose/right_face.png",
        "samples/insightface/pose/rise_face.jpeg",
        "samples/face_recognition/obama.jpg",
    ] {
        let decoded = pipeline.decode(&common::read(rel)).unwrap();
        let found = pipeline.find_faces(&decoded.rgb).unwrap();
        let face = &found.faces[vision::pipeline::largest_face(&found.faces).unwrap()];
        let analysis = pipeline.analyzer().analyze(&found.image, &face.detection.bbox).unwrap();
        let pose = pipeline.analyzer().head_pose(&found.image, &face.detection.bbox).unwrap();
        assert_eq!(pose, analysis.pose, "{rel}");
        let (five, mesh) = (face.quality.yaw, pose.yaw);
        assert!((five - mesh).abs() < 15.0 && five.abs() < 75.0, "{rel}: five points {five}, mesh {mesh}");
        if mesh.abs() > 30.0 {
            assert_eq!(five.signum(), mesh.signum(), "{rel}");
        }
    }
}

#[test]
fn eyes_and_smiles_on_the_reaction_samples() {
    let open = analyse("samples/insightface/reaction/open_eyes.png");
    let closed = analyse("samples/insightface/reaction/close_eyes.jpeg");
    use vision::analysis::EYES_CLOSED_THRESHOLD as T;
    assert!(open.eyes.left > T && open.eyes.right > T, "{:?}", open.eyes);
    assert!(closed.eyes.closed(T) && closed.eyes.left < T && closed.eyes.right < T, "{:?}", closed.eyes);
    // The subject's left eye is on the image's right in a frontal photo; each contour holds the eyelids.
    let mean_x = |c: &[[f32; 2]]| c.iter().map(|p| p[0]).sum::<f32>() / c.len() as f32;
    for a in [&open, &closed] {
        assert_eq!((a.eye_contours.left.len(), a.eye_contours.right.len()), (16, 16));
        assert!(mean_x(&a.eye_contours.left) > mean_x(&a.eye_contours.right));
    }
    // Each iris lies between its eye's corners (contour points 0 and 8), on the image's side of that eye.
    let open_eyes = &open.eye_contours;
    for (iris, lids) in [(open.irises.left, &open_eyes.left), (open.irises.right, &open_eyes.right)] {
        let (lo, hi) = (lids[0][0].min(lids[8][0]), lids[0][0].max(lids[8][0]));
        assert!(lo < iris[0] && iris[0] < hi, "iris {iris:?} outside the corners {lo}..{hi}");
        let ys: Vec<f32> = lids.iter().map(|p| p[1]).collect();
        let (top, bottom) = (ys.iter().copied().fold(f32::MAX, f32::min), ys.iter().copied().fold(f32::MIN, f32::max));
        assert!(top - 2.0 < iris[1] && iris[1] < bottom + 2.0, "iris {iris:?} outside the lids {top}..{bottom}");
    }
    assert!(open.irises.left[0] > open.irises.right[0], "{:?}", open.irises);
    let happy = analyse("samples/insightface/emotion/happy.png");
    let sad = analyse("samples/insightface/emotion/sad.png");
    assert!(happy.smile > 0.5 && sad.smile < 0.5, "{} {}", happy.smile, sad.smile);
}
