//! Passive liveness and face analysis over HTTP, against a real `facegate serve` whose models directory holds
//! the official anti-spoofing weights (../shared/models/shared-only), on real images.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::support::*;
use libtest_mimic::{Failed, Trial};
use serde_json::{json, Value};

struct Env {
    s: Served,
}

fn spoof_models() -> String {
    testkit::shared_dir().join("models/shared-only").display().to_string()
}

fn post(env: &Env, path: &str, body: Value) -> (u16, Value) {
    json(client().post(env.s.url(path)).json(&body).send().expect("request"))
}

fn passive(env: &Env, rel: &str) -> Value {
    let (status, body) = post(env, "/v1/liveness/passive", json!({"image": b64(&read(rel))}));
    assert_eq!(status, 200, "{rel}: {body}");
    body
}

fn passive_liveness_on_live_and_spoofed_faces(env: &Env) -> Result<(), Failed> {
    let live = passive(env, "samples/silent_face/image_T1.jpg");
    let face = &live["faces"][0];
    assert_eq!(face["isReal"], json!(true), "{live}");
    assert_eq!(face["modelVerdict"], json!("real"));
    assert!(face["score"].as_f64().is_some_and(|s| s > 0.5), "{live}");
    assert_eq!(face["models"].as_array().map(Vec::len), Some(2));
    assert!(face["face"]["boundingBox"]["width"].as_f64().is_some_and(|w| w > 20.0));
    let spoof = passive(env, "samples/silent_face/image_F2.jpg");
    assert_eq!(spoof["faces"][0]["isReal"], json!(false), "{spoof}");
    // F1 is a harder attack: the default threshold (calibrated for a low BPCER on webcam frames) lets it
    // through, the published rule and a strict threshold do not. The README says so.
    let hard = passive(env, "samples/silent_face/image_F1.jpg");
    assert_eq!(hard["faces"][0]["modelVerdict"], json!("attack"), "{hard}");
    let (_, strict) = post(
        env,
        "/v1/liveness/passive",
        json!({"image": b64(&read("samples/silent_face/image_F1.jpg")), "threshold": 0.5}),
    );
    assert_eq!(strict["faces"][0]["isReal"], json!(false), "{strict}");
    // NUAA: a live webcam frame and a printed photo of the same subject.
    let labels = std::fs::read_to_string(shared_data("nuaa/labels.csv"))?;
    let first = |label: &str| {
        labels.lines().find(|l| l.split(',').nth(1) == Some(label)).and_then(|l| l.split(',').next()).map(String::from)
    };
    let live = passive(env, &format!("nuaa/{}", first("live").ok_or("a live frame")?));
    assert_eq!(live["faces"][0]["isReal"], json!(true), "{live}");
    let spoof = passive(env, &format!("nuaa/{}", first("spoof").ok_or("a spoof frame")?));
    assert_eq!(spoof["faces"][0]["isReal"], json!(false), "{spoof}");
    // A stricter threshold per request; several faces scored, largest first.
    let (_, strict) = post(
        env,
        "/v1/liveness/passive",
        json!({"image": b64(&read("samples/silent_face/image_T1.jpg")), "threshold": 1.0}),
    );
    assert_eq!((strict["threshold"].as_f64(), strict["faces"][0]["isReal"].as_bool()), (Some(1.0), Some(false)));
    let two = passive(env, "samples/face_recognition/two_people.jpg");
    let faces = two["faces"].as_array().ok_or("faces")?;
    assert!(faces.len() >= 2, "{two}");
    let area = |f: &Value| {
        f["face"]["boundingBox"]["width"].as_f64().unwrap_or(0.0)
            * f["face"]["boundingBox"]["height"].as_f64().unwrap_or(0.0)
    };
    assert!(area(&faces[0]) >= area(&faces[1]));
    // Typed errors.
    let (status, body) =
        post(env, "/v1/liveness/passive", json!({"image": b64(&read("samples/insightface/crop/no_face.png"))}));
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("no_face")));
    let (status, body) = post(
        env,
        "/v1/liveness/passive",
        json!({"image": b64(&read("samples/silent_face/image_T1.jpg")), "threshold": 2}),
    );
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_parameter")));
    Ok(())
}

fn passive_unavailable_without_weights(dir: &Path) -> Result<(), Failed> {
    let s = Served::start(dir, None, &[]);
    let (status, body) = json(
        client()
            .post(s.url("/v1/liveness/passive"))
            .json(&json!({"image": b64(&read("samples/silent_face/image_T1.jpg"))}))
            .send()?,
    );
    assert_eq!((status, body["error"]["code"].as_str()), (501, Some("model_unavailable")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("MiniFASNetV2.pth")));
    // Everything else works.
    let (status, _) = json(
        client()
            .post(s.url("/v1/detect"))
            .json(&json!({"image": b64(&read("samples/silent_face/image_T1.jpg"))}))
            .send()?,
    );
    assert_eq!(status, 200);
    Ok(())
}

fn analyze_reports_pose_eyes_and_smile(env: &Env) -> Result<(), Failed> {
    let (status, v) = post(env, "/v1/analyze", json!({"image": b64(&read("samples/face_recognition/obama.jpg"))}));
    assert_eq!(status, 200, "{v}");
    let face = &v["faces"][0];
    assert_eq!(v["faceCount"], json!(1));
    for angle in ["yaw", "pitch", "roll"] {
        assert!(face["pose"][angle].as_f64().is_some_and(|a| a.abs() < 20.0), "{angle}: {face}");
    }
    assert_eq!(
        (face["eyes"]["closed"].as_bool(), face["eyes"]["left"]["closed"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(face["smile"]["probability"].as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));
    assert_eq!(face["expressions"].as_object().map(|m| m.len()), Some(7));
    assert!(face["landmarks"].is_null(), "no mesh unless asked for");
    // The nose tip lies inside the face box.
    let (b, n) = (&face["face"]["boundingBox"], &face["noseTip"]);
    let inside = |p: &str, lo: &str, len: &str| {
        let (p, lo, len) =
            (n[p].as_f64().unwrap_or(-1.0), b[lo].as_f64().unwrap_or(0.0), b[len].as_f64().unwrap_or(0.0));
        p > lo && p < lo + len
    };
    assert!(inside("x", "x", "width") && inside("y", "y", "height"), "{face}");
    // Closed eyes, and the mesh on request (sent as a raw body with the options in the query).
    let resp = client()
        .post(env.s.url("/v1/analyze?landmarks=true"))
        .header("content-type", "image/png")
        .body(read("yale/images/subject01/subject01_sleepy.png"))
        .send()?;
    let (status, v) = json(resp);
    assert_eq!(status, 200, "{v}");
    let face = &v["faces"][0];
    assert_eq!(face["eyes"]["closed"], json!(true), "{face}");
    assert_eq!(face["landmarks"]["mesh"].as_array().map(Vec::len), Some(468));
    assert_eq!(face["landmarks"]["leftEyelids"].as_array().map(Vec::len), Some(16));
    // Several faces, capped by maxFaces.
    let group = b64(&read("samples/face_recognition/two_people.jpg"));
    let (_, v) = post(env, "/v1/analyze", json!({"image": group, "maxFaces": 1}));
    assert!(v["faceCount"].as_u64().is_some_and(|n| n >= 2) && v["faces"].as_array().map(Vec::len) == Some(1), "{v}");
    let (status, v) = post(env, "/v1/analyze", json!({"image": group, "maxFaces": 0}));
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_parameter")));
    let (status, v) = post(env, "/v1/analyze", json!({"image": b64(&read("samples/insightface/crop/no_face.png"))}));
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("no_face")));
    Ok(())
}

fn check(env: &Env, body: Value) -> Value {
    let (status, v) = post(env, "/v1/liveness/check", body);
    assert_eq!(status, 200, "{v}");
    v
}

fn liveness_checks_against_a_baseline(env: &Env) -> Result<(), Failed> {
    let yale = |c: &str| b64(&read(&format!("yale/images/subject02/subject02_{c}.png")));
    // Blink: open eyes, then closed; the other way round fails with the reasons.
    let v = check(env, json!({"kind": "blink", "baseline": yale("normal"), "image": yale("sleepy")}));
    assert_eq!((v["passed"].as_bool(), v["kind"].as_str()), (Some(true), Some("blink")), "{v}");
    assert!(v["baseline"]["signals"]["leftEye"].as_f64() > v["image"]["signals"]["leftEye"].as_f64());
    let v = check(env, json!({"kind": "blink", "baseline": yale("sleepy"), "image": yale("normal")}));
    assert_eq!(v["passed"], json!(false));
    assert_eq!(v["reasons"], json!(["eyes_open", "baseline_eyes_closed"]), "{v}");
    // Smile: neutral, then smiling; the same smiling photo twice does not pass.
    let v = check(env, json!({"kind": "smile", "baseline": yale("normal"), "image": yale("happy")}));
    assert_eq!(v["passed"], json!(true), "{v}");
    let v = check(env, json!({"kind": "smile", "baseline": yale("happy"), "image": yale("happy")}));
    assert_eq!(v["reasons"], json!(["smile_did_not_rise"]), "{v}");
    // Head turns without a baseline: the person's own left is the image's right.
    let right = b64(&read("samples/insightface/pose/right_face.png"));
    assert_eq!(check(env, json!({"kind": "turn_left", "image": right}))["passed"], json!(true));
    let v = check(env, json!({"kind": "turn_right", "image": right}));
    assert_eq!((v["passed"].as_bool(), v["reasons"][0].as_str()), (Some(false), Some("wrong_direction")), "{v}");
    let v = check(env, json!({"kind": "head_pose", "image": right}));
    assert_eq!(v["reasons"], json!(["pose_out_of_range"]));
    let v = check(env, json!({"kind": "head_pose", "image": right, "yawRange": [20, 80]}));
    assert_eq!(v["passed"], json!(true), "{v}");
    // Nose target: around the measured nose tip, then a corner of the frame.
    let obama = b64(&read("samples/face_recognition/obama.jpg"));
    let v = check(env, json!({"kind": "head_pose", "image": obama}));
    let nose = &v["image"]["signals"]["nose"];
    let (x, y) = (nose[0].as_f64().ok_or("nose x")?, nose[1].as_f64().ok_or("nose y")?);
    let v = check(
        env,
        json!({"kind": "nose_target", "image": obama,
        "target": {"x": x - 0.05, "y": y - 0.05, "width": 0.1, "height": 0.1}}),
    );
    assert_eq!(v["passed"], json!(true), "{v}");
    let v = check(
        env,
        json!({"kind": "nose_target", "image": obama,
        "target": {"x": 0.9, "y": 0.9, "width": 0.1, "height": 0.1}}),
    );
    assert_eq!(v["reasons"], json!(["nose_outside_target"]), "{v}");
    // Two people in the frame never pass.
    let v = check(
        env,
        json!({"kind": "head_pose", "image": b64(&read("samples/face_recognition/two_people.jpg")),
        "yawRange": [-90, 90], "pitchRange": [-90, 90], "rollRange": [-90, 90]}),
    );
    assert_eq!(
        (v["passed"].as_bool(), v["reasons"].clone(), v["image"]["faceCount"].as_u64().is_some_and(|n| n >= 2)),
        (Some(false), json!(["multiple_faces"]), true),
        "{v}"
    );
    // Typed errors.
    for (body, code) in [
        (json!({"kind": "nose_target", "image": obama}), "invalid_parameter"),
        (
            json!({"kind": "nose_target", "image": obama, "target": {"x": 0.95, "y": 0.0, "width": 0.1, "height": 0.1}}),
            "invalid_parameter",
        ),
        (json!({"kind": "wave", "image": obama}), "invalid_request"),
        (json!({"kind": "smile", "image": obama, "smileThreshold": -1}), "invalid_parameter"),
        (json!({"kind": "turn_left", "image": obama, "minDegrees": 0}), "invalid_parameter"),
        (json!({"kind": "head_pose", "image": obama, "yawRange": [10, -10]}), "invalid_parameter"),
        (json!({"kind": "blink", "image": obama, "baseline": [obama, obama]}), "invalid_request"),
        (json!({"image": obama}), "invalid_request"),
    ] {
        let (status, v) = post(env, "/v1/liveness/check", body.clone());
        let mut options = body;
        if let Some(o) = options.as_object_mut() {
            o.remove("image");
            o.remove("baseline");
        }
        assert_eq!((status, v["error"]["code"].as_str()), (400, Some(code)), "{options}: {v}");
    }
    let (status, v) = post(
        env,
        "/v1/liveness/check",
        json!({"kind": "blink", "image": obama, "baseline": b64(&read("samples/insightface/crop/no_face.png"))}),
    );
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("no_face")), "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("baseline")));
    Ok(())
}

type Case = fn(&Env) -> Result<(), Failed>;

pub fn trials() -> Vec<Trial> {
    let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
    let env: Arc<OnceLock<Env>> = Arc::new(OnceLock::new());
    let cases: &[(&str, Case)] = &[
        ("passive_liveness_on_live_and_spoofed_faces", passive_liveness_on_live_and_spoofed_faces),
        ("analyze_reports_pose_eyes_and_smile", analyze_reports_pose_eyes_and_smile),
        ("liveness_checks_against_a_baseline", liveness_checks_against_a_baseline),
    ];
    let mut trials = Vec::new();
    for &(name, case) in cases {
        let (env, tmp) = (env.clone(), tmp.clone());
        trials.push(trial!(name, move || {
            let env = env.get_or_init(|| Env {
                s: Served::start(&tmp.path().join("with-models"), None, &["--models-dir", &spoof_models()]),
            });
            case(env)
        }));
    }
    let t = tmp.clone();
    trials.push(trial!("passive_unavailable_without_weights", move || {
        passive_unavailable_without_weights(&t.path().join("without"))
    }));
    trials
}
