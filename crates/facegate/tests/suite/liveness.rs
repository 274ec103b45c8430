//! Active liveness sessions through the HTTP API of real `facegate serve` processes, driven with stills from
//! ../shared/data: a blink (Yale normal -> sleepy -> open), a smile (normal -> happy), head turns (photos of one
//! LFW identity with different yaw), the nose moved into the target (the face shifted within the frame), the
//! same with a second person spliced in, print attacks (NUAA) against passive anti-spoofing, the session rules
//! (sequence, repeats, timestamps, faces in frame, tokens, expiry), and a session finished on another replica.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::support::*;
use image::{DynamicImage, GenericImageView, RgbImage};
use libtest_mimic::{Failed, Trial};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

const ADMIN: &str = "liveness-admin-key-0123456789";

/// The servers that test the challenges' logic on stills run without the passive model: they must allow
/// challenge-only liveness explicitly (`never_live_without_passive_anti_spoofing` shows the default).
/// They also let a challenge complete on its first frame (a still cannot show a movement on its way), and
/// keep no replay memory, since their sessions send the same photos again
/// (`recorded_sessions_do_not_replay` shows the memory). And separate photos are no camera's view of one
/// scene: scene continuity is off there (`slideshows_cut` shows it on, and the liveness crate's tests and
/// `facegate eval attacks` judge it on real frames).
const STILLS: &str =
    "liveness_allow_challenge_only = true\nliveness_min_challenge_frames = 1\nliveness_scene_continuity = false\n";
const CHALLENGE_ONLY: &str = "liveness_allow_challenge_only = true\nliveness_min_challenge_frames = 1\n\
                              liveness_replay_window_seconds = 0\nliveness_scene_continuity = false\n";

fn serve(dir: &Path, database: Option<&str>, config: &str, extra: &[&str]) -> Served {
    std::fs::create_dir_all(dir).expect("data dir");
    std::fs::write(dir.join("facegate.toml"), config).expect("config");
    Served::start_env(dir, database, extra, &[("FACEGATE_ADMIN_KEY", ADMIN)])
}

fn admin(req: RequestBuilder) -> RequestBuilder {
    req.bearer_auth(ADMIN)
}

/// Creates a session; returns its description (sessionId, sessionToken, challenges...).
fn create(s: &Served, body: Value) -> Value {
    let (status, v) = json(admin(client().post(s.url("/v1/liveness/sessions"))).json(&body).send().expect("create"));
    assert_eq!(status, 201, "{v}");
    v
}

fn frame_request(s: &Served, session: &Value, seq: u64, ts: i64, image: &[u8]) -> RequestBuilder {
    let id = session["sessionId"].as_str().expect("sessionId");
    client()
        .post(s.url(&format!("/v1/liveness/sessions/{id}/frames")))
        .bearer_auth(session["sessionToken"].as_str().expect("sessionToken"))
        .json(&json!({"image": b64(image), "sequence": seq, "timestamp": ts}))
}

fn send(s: &Served, session: &Value, seq: u64, image: &[u8]) -> (u16, Value) {
    json(frame_request(s, session, seq, 100 * (seq as i64 + 1), image).send().expect("frame"))
}

/// Sends frames in order until the session finishes; returns the last answer.
fn run_until_final(s: &Served, session: &Value, frames: &[Vec<u8>]) -> Value {
    let mut last = Value::Null;
    for (i, f) in frames.iter().enumerate() {
        let (status, v) = send(s, session, i as u64, f);
        assert_eq!(status, 200, "frame {i}: {v}");
        last = v;
        if last["result"].is_object() {
            break;
        }
    }
    last
}

/// Sends every frame in order (each must be taken); returns the last answer.
fn run(s: &Served, session: &Value, frames: &[Vec<u8>]) -> Value {
    let mut last = Value::Null;
    for (i, f) in frames.iter().enumerate() {
        let (status, v) = send(s, session, i as u64, f);
        assert_eq!(status, 200, "frame {i}: {v}");
        last = v;
    }
    last
}

fn get(s: &Served, session: &Value) -> Value {
    let id = session["sessionId"].as_str().expect("sessionId");
    let (status, v) = json(admin(client().get(s.url(&format!("/v1/liveness/sessions/{id}")))).send().expect("get"));
    assert_eq!(status, 200, "{v}");
    v
}

fn yale(subject: u32, condition: &str) -> Vec<u8> {
    read(&format!("yale/images/subject{subject:02}/subject{subject:02}_{condition}.png"))
}

fn session(s: &Served, kinds: &[&str]) -> Value {
    create(s, json!({"challenges": kinds}))
}

struct Env {
    /// Admin key, no anti-spoofing weights (challenge-only liveness allowed), at most 3 bad frames per session.
    plain: Served,
    /// As started by the README: no weights, nothing allowed.
    default: Served,
    /// With the MiniFASNet weights.
    guarded: Served,
    /// Face login only after a liveness session.
    strict: Served,
    /// Privacy mode: no images, no templates beyond the session.
    private: Served,
}

fn post(s: &Served, path: &str, body: Value) -> (u16, Value) {
    json(admin(client().post(s.url(path))).json(&body).send().expect("request"))
}

/// A blink session of Yale subject `subject`, run to success.
fn succeeded_session(s: &Served, subject: u32) -> Value {
    let session = create(s, json!({"challenges": ["blink"], "auditImagesLimit": 2}));
    let v = run(s, &session, &[yale(subject, "normal"), yale(subject, "sleepy"), yale(subject, "surprised")]);
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    session
}

fn batch_validation(env: &Env) -> Result<(), Failed> {
    let s = &env.plain;
    let body = |smile: Vec<u8>| {
        json!({"baseline": b64(&yale(1, "normal")), "challenges": [
            {"kind": "smile", "image": b64(&smile)},
            {"kind": "blink", "image": b64(&yale(1, "sleepy"))}]})
    };
    let (status, v) = post(s, "/v1/liveness/validate", body(yale(1, "happy")));
    assert_eq!((status, v["passed"].as_bool()), (200, Some(true)), "{v}");
    assert!(v["confidence"].as_f64().is_some_and(|c| c > 50.0) && v["minSimilarity"].as_f64() >= Some(60.0));
    let (_, v) = post(s, "/v1/liveness/validate", body(yale(2, "happy")));
    assert_eq!(v["passed"], false);
    assert_eq!(v["reasons"], json!(["identity_changed"]), "{v}");
    assert_eq!(v["challenges"][0]["reasons"], json!(["identity_changed"]));
    let (_, v) = post(s, "/v1/liveness/validate", body(yale(1, "normal")));
    assert_eq!(
        (v["passed"].as_bool(), v["challenges"][0]["reasons"].clone()),
        (Some(false), json!(["not_smiling", "smile_did_not_rise"])),
        "{v}"
    );
    let (status, v) = post(
        s,
        "/v1/liveness/validate",
        json!({"baseline": b64(&read("samples/insightface/crop/no_face.png")),
        "challenges": [{"kind": "smile", "image": b64(&yale(1, "happy"))}]}),
    );
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("no_face")), "{v}");
    let (status, v) = post(s, "/v1/liveness/validate", json!({"baseline": b64(&yale(1, "normal")), "challenges": []}));
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{v}");
    Ok(())
}

fn full_verification(env: &Env) -> Result<(), Failed> {
    let s = &env.plain;
    let session = succeeded_session(s, 10);
    let id = session["sessionId"].as_str().ok_or("id")?;
    // Against an identity photo of the same person, and of another.
    let (status, v) = post(s, "/v1/verify", json!({"sessionId": id, "document": b64(&yale(10, "glasses"))}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["verified"].as_bool(), v["isLive"].as_bool(), v["facesMatch"].as_bool()),
        (Some(true), Some(true), Some(true)),
        "{v}"
    );
    assert!(v["livenessConfidence"].as_f64().is_some_and(|c| c > 50.0));
    let (_, v) = post(s, "/v1/verify", json!({"sessionId": id, "document": b64(&yale(11, "glasses"))}));
    assert_eq!((v["verified"].as_bool(), v["reasons"].clone()), (Some(false), json!(["faces_do_not_match"])), "{v}");
    // Against a registered user, and a collection.
    let (status, u) = post(s, "/v1/users", json!({"userId": "yale-10", "images": [b64(&yale(10, "happy"))]}));
    assert_eq!(status, 201, "{u}");
    let (_, v) = post(s, "/v1/verify", json!({"sessionId": id, "userId": "yale-10"}));
    assert_eq!((v["verified"].as_bool(), v["matchedExternalId"].as_str()), (Some(true), Some("yale-10")), "{v}");
    let (status, _) = post(s, "/v1/collections", json!({"collectionId": "verify-staff"}));
    assert_eq!(status, 201);
    for (subject, name) in [(10, "ten"), (11, "eleven")] {
        let (status, f) = post(
            s,
            "/v1/collections/verify-staff/faces",
            json!({"image": b64(&yale(subject, "centerlight")), "externalId": name}),
        );
        assert_eq!(status, 200, "{f}");
    }
    let (_, v) = post(s, "/v1/verify", json!({"sessionId": id, "collectionId": "verify-staff"}));
    assert_eq!((v["verified"].as_bool(), v["matchedExternalId"].as_str()), (Some(true), Some("ten")), "{v}");
    // A selfie without the anti-spoofing weights: liveness cannot be judged, so nothing is verified.
    let (_, v) =
        post(s, "/v1/verify", json!({"selfie": b64(&yale(10, "normal")), "document": b64(&yale(10, "glasses"))}));
    assert_eq!(
        (v["verified"].as_bool(), v["isLive"].clone(), v["facesMatch"].as_bool()),
        (Some(false), Value::Null, Some(true)),
        "{v}"
    );
    assert_eq!(v["reasons"], json!(["liveness_unavailable"]));
    // A session that did not succeed.
    let open = create(s, json!({"challenges": ["smile"]}));
    let (_, v) = post(s, "/v1/verify", json!({"sessionId": open["sessionId"], "document": b64(&yale(10, "glasses"))}));
    assert_eq!(v["reasons"], json!(["session_not_succeeded"]), "{v}");
    // Bad requests.
    for body in [
        json!({"sessionId": id}),
        json!({"document": b64(&yale(10, "glasses"))}),
        json!({"sessionId": id, "userId": "a", "collectionId": "b"}),
    ] {
        let (status, v) = post(s, "/v1/verify", body);
        assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{v}");
    }
    // With the weights: a live webcam frame passes, a printed photo does not.
    let g = &env.guarded;
    let nuaa = |dir: &str, i: usize| -> Vec<u8> {
        let path = shared_data(&format!("nuaa/{dir}/0001"));
        let mut files: Vec<_> =
            std::fs::read_dir(&path).expect("NUAA").filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        std::fs::read(&files[i]).expect("frame")
    };
    let (_, v) =
        post(g, "/v1/verify", json!({"selfie": b64(&nuaa("ClientRaw", 1)), "document": b64(&nuaa("ClientRaw", 5))}));
    assert_eq!((v["verified"].as_bool(), v["isLive"].as_bool()), (Some(true), Some(true)), "{v}");
    let (_, v) =
        post(g, "/v1/verify", json!({"selfie": b64(&nuaa("ImposterRaw", 0)), "document": b64(&nuaa("ClientRaw", 5))}));
    assert_eq!((v["verified"].as_bool(), v["isLive"].as_bool()), (Some(false), Some(false)), "{v}");
    assert!(v["reasons"].as_array().is_some_and(|r| r.contains(&json!("not_live"))), "{v}");
    Ok(())
}

fn login_after_liveness(env: &Env) -> Result<(), Failed> {
    let s = &env.strict;
    let (status, u) = post(s, "/v1/users", json!({"userId": "yale-12", "images": [b64(&yale(12, "happy"))]}));
    assert_eq!(status, 201, "{u}");
    let login = |body: Value| json(client().post(s.url("/v1/auth/face-login")).json(&body).send().expect("login"));
    let (status, v) = login(json!({"image": b64(&yale(12, "normal"))}));
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("liveness_required")), "{v}");
    let session = succeeded_session(s, 12);
    // The session id alone is no proof (it travels in URLs and logs): its token, or the key that made it.
    let (status, v) = login(json!({"livenessSessionId": session["sessionId"]}));
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("liveness_required")), "{v}");
    let (status, v) = login(
        json!({"livenessSessionId": session["sessionId"], "livenessSessionToken": format!("{}x", session["sessionToken"].as_str().unwrap_or(""))}),
    );
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("invalid_session_token")), "{v}");
    let (status, v) = login(session_login(&session));
    assert_eq!((status, v["userId"].as_str()), (200, Some("yale-12")), "{v}");
    let claims = token_claims(&v);
    assert_eq!(claims["amr"], json!(["face", "liveness"]), "{claims}");
    // A session logs in once.
    let (status, v) = login(session_login(&session));
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("liveness_required")), "{v}");
    // With the API key that created it, the id suffices.
    let keyed = succeeded_session(s, 12);
    let (status, v) = json(
        admin(client().post(s.url("/v1/auth/face-login")))
            .json(&json!({"livenessSessionId": keyed["sessionId"]}))
            .send()
            .expect("login"),
    );
    assert_eq!((status, v["userId"].as_str()), (200, Some("yale-12")), "{v}");
    // The image sent with a session must be the session's person.
    let other = succeeded_session(s, 12);
    let mut body = session_login(&other);
    body["image"] = json!(b64(&yale(13, "normal")));
    let (status, v) = login(body);
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("liveness_mismatch")), "{v}");
    // An unfinished session does not log anyone in.
    let open = create(s, json!({"challenges": ["smile"]}));
    let (status, _) = login(session_login(&open));
    assert_eq!(status, 401);
    Ok(())
}

/// A face login with a liveness session: its id and its token.
fn session_login(session: &Value) -> Value {
    json!({"livenessSessionId": session["sessionId"], "livenessSessionToken": session["sessionToken"]})
}

/// The claims of the token in a face-login answer.
fn token_claims(login: &Value) -> Value {
    use base64::Engine;
    let token = login["accessToken"].as_str().unwrap_or_default();
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn privacy_mode_keeps_no_biometrics(env: &Env) -> Result<(), Failed> {
    let s = &env.private;
    let session = create(s, json!({"challenges": ["blink"], "auditImagesLimit": 2}));
    let done = run(s, &session, &[yale(14, "normal"), yale(14, "sleepy"), yale(14, "surprised")]);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    // No image is kept, so none is named: not in the frames' answer, not in the session's view.
    assert!(done["result"]["referenceImage"].is_null(), "{done}");
    let view = get(s, &session);
    assert_eq!((view["status"].as_str(), view["images"].clone()), (Some("SUCCEEDED"), json!([])), "{view}");
    assert!(
        view["result"]["referenceImage"].is_null() && view["result"]["confidence"].as_f64().is_some_and(|c| c > 50.0)
    );
    // The succeeded session's template serves once within the login window, then it is gone.
    let (status, v) =
        post(s, "/v1/verify", json!({"sessionId": session["sessionId"], "document": b64(&yale(14, "glasses"))}));
    assert_eq!((status, v["verified"].as_bool()), (200, Some(true)), "{v}");
    let (status, v) =
        post(s, "/v1/verify", json!({"sessionId": session["sessionId"], "document": b64(&yale(14, "glasses"))}));
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("session_template_discarded")), "{v}");
    // Privacy mode with login_requires_liveness (this server): a face login after a session works, once.
    let (status, u) = post(s, "/v1/users", json!({"userId": "yale-15", "images": [b64(&yale(15, "happy"))]}));
    assert_eq!(status, 201, "{u}");
    let login = |body: Value| json(client().post(s.url("/v1/auth/face-login")).json(&body).send().expect("login"));
    let (status, v) = login(json!({"image": b64(&yale(15, "normal"))}));
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("liveness_required")), "{v}");
    let session = succeeded_session(s, 15);
    let (status, v) = login(session_login(&session));
    assert_eq!((status, v["userId"].as_str()), (200, Some("yale-15")), "{v}");
    let (status, v) = login(session_login(&session));
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("liveness_required")), "{v}");
    // ... and the template went with the login.
    let (status, v) =
        post(s, "/v1/verify", json!({"sessionId": session["sessionId"], "document": b64(&yale(15, "glasses"))}));
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("session_template_discarded")), "{v}");
    Ok(())
}

fn proper_sequences_pass(env: &Env) -> Result<(), Failed> {
    let s = &env.plain;
    // Blink: eyes open, closed, open again — with two audit images kept.
    let blink = create(s, json!({"challenges": ["blink"], "auditImagesLimit": 2}));
    assert_eq!(blink["challenges"][0]["kind"], "blink");
    assert!(blink["challenges"][0]["instruction"].as_str().is_some_and(|t| !t.is_empty()));
    let first = send(s, &blink, 0, &yale(1, "normal")).1;
    assert_eq!(
        (first["feedback"][0]["verdict"].as_str(), first["feedback"][0]["currentChallenge"].as_u64()),
        (Some("accepted"), Some(0)),
        "{first}"
    );
    assert_eq!(first["feedback"][0]["guidance"], json!(["blink"]), "{first}");
    let closed = send(s, &blink, 1, &yale(1, "sleepy")).1;
    assert_eq!(closed["feedback"][0]["guidance"], json!(["open_eyes_again"]), "{closed}");
    let done = send(s, &blink, 2, &yale(1, "noglasses")).1;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let result = &done["result"];
    assert!(result["confidence"].as_f64().is_some_and(|c| c > 50.0), "{result}");
    assert_eq!(result["challenges"][0]["frames"], json!([1, 2]));
    assert!(result["minSimilarity"].as_f64().is_some_and(|m| m >= 60.0));
    let view = get(s, &blink);
    assert_eq!(view["status"], "SUCCEEDED");
    let images: Vec<&str> = view["images"].as_array().ok_or("images")?.iter().filter_map(Value::as_str).collect();
    assert_eq!(images.len(), 3, "reference + 2 audit images: {view}");
    let resp = admin(client().get(s.url(view["result"]["referenceImage"].as_str().ok_or("reference")?))).send()?;
    // One of the frames, kept as a JPEG (as AWS keeps them): the same picture within JPEG's error.
    assert_eq!((resp.status().as_u16(), resp.headers()["content-type"].to_str()?), (200, "image/jpeg"));
    let kept = image::load_from_memory_with_format(&resp.bytes()?, image::ImageFormat::Jpeg)?.to_luma8();
    let closest = ["normal", "sleepy", "noglasses"]
        .iter()
        .map(|c| {
            let sent = image::load_from_memory(&yale(1, c)).map(|i| i.to_luma8())?;
            assert_eq!(sent.dimensions(), kept.dimensions());
            let diff: u64 = sent.pixels().zip(kept.pixels()).map(|(a, b)| u64::from(a.0[0].abs_diff(b.0[0]))).sum();
            Ok(diff as f64 / f64::from(sent.width() * sent.height()))
        })
        .collect::<Result<Vec<f64>, image::ImageError>>()?
        .into_iter()
        .fold(f64::MAX, f64::min);
    assert!(closest < 2.0, "mean difference to the closest frame: {closest}");

    // Smile, on three subjects.
    for subject in [1, 4, 5] {
        let smile = session(s, &["smile"]);
        let v = run(s, &smile, &[yale(subject, "normal"), yale(subject, "happy")]);
        assert_eq!(v["status"], "SUCCEEDED", "subject {subject}: {v}");
    }
    // Head turns: one LFW identity frontal, then turned (the person's own left is the image's right).
    let left = session(s, &["turn_left"]);
    let v = run(s, &left, &[lfw("George_HW_Bush", 6), lfw("George_HW_Bush", 8)]);
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    assert!(v["result"]["challenges"][0]["value"].as_f64().is_some_and(|d| d >= 20.0));
    // A second, small face in the background (43 px wide, under the 64 px that a judged face needs) is not
    // "another face in the frame".
    let left = session(s, &["turn_left"]);
    let v = run(s, &left, &[lfw("Pervez_Musharraf", 3), lfw("Pervez_Musharraf", 5)]);
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    let right = session(s, &["turn_right"]);
    let v = run(s, &right, &[lfw("Jiang_Zemin", 1), lfw("Jiang_Zemin", 7)]);
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    // Two challenges in one session.
    let both = session(s, &["blink", "smile"]);
    let v = run(s, &both, &[yale(4, "normal"), yale(4, "sleepy"), yale(4, "glasses"), yale(4, "happy")]);
    assert_eq!(
        (v["status"].as_str(), v["result"]["challenges"].as_array().map(Vec::len)),
        (Some("SUCCEEDED"), Some(2)),
        "{v}"
    );
    Ok(())
}

/// `face` pasted on a grey 640x480 frame so that the point `at` of the face lands on `to` (frame pixels).
fn place(face: &DynamicImage, at: (f64, f64), to: (f64, f64)) -> Vec<u8> {
    let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([120, 120, 120]));
    let (dx, dy) = ((to.0 - at.0).round() as i64, (to.1 - at.1).round() as i64);
    image::imageops::overlay(&mut frame, &face.to_rgb8(), dx, dy);
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(frame).write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

/// A still slid so that its nose lands on the target: the nose is there, but the head never turned toward it,
/// so the session fails (`flat_motion`) — the attack of a photo moved across the camera.
fn nose_target_needs_a_turn_not_a_slide(env: &Env) -> Result<(), Failed> {
    let s = &env.plain;
    let bytes = yale(1, "normal");
    let face = image::load_from_memory(&bytes)?;
    // Where the nose tip is in the still.
    let (status, a) = json(admin(client().post(s.url("/v1/analyze"))).json(&json!({"image": b64(&bytes)})).send()?);
    assert_eq!(status, 200, "{a}");
    let nose = (a["faces"][0]["noseTip"]["x"].as_f64().ok_or("x")?, a["faces"][0]["noseTip"]["y"].as_f64().ok_or("y")?);
    let (w, h) = face.dimensions();
    let centred = place(&face, (w as f64 / 2.0, h as f64 / 2.0), (320.0, 240.0));
    for round in 0..2 {
        let session = session(s, &["nose_target"]);
        assert!(session["challenges"][0]["target"]["width"].as_f64().is_some_and(|w| w > 0.05));
        let first = send(s, &session, 0, &centred).1;
        assert_eq!(first["feedback"][0]["guidance"], json!(["move_nose_to_target"]), "round {round}: {first}");
        // The target as it stands once the baseline is in (moved away if the nose started near it).
        let t = &first["feedback"][0]["target"];
        let (tx, ty) = (
            (t["x"].as_f64().ok_or("tx")? + t["width"].as_f64().ok_or("tw")? / 2.0) * 640.0,
            (t["y"].as_f64().ok_or("ty")? + t["height"].as_f64().ok_or("th")? / 2.0) * 480.0,
        );
        let halfway = place(&face, nose, (320.0 + 0.2 * (tx - 320.0), 240.0 + 0.2 * (ty - 240.0)));
        let v = send(s, &session, 1, &halfway).1;
        assert_eq!(v["status"], "IN_PROGRESS", "round {round}: {v}");
        // On the target (a pixel apart each time, so that no two frames are the same picture).
        let mut last = Value::Null;
        for k in 0..4u64 {
            last = send(s, &session, 2 + k, &place(&face, nose, (tx + k as f64, ty))).1;
            if last["status"] != "IN_PROGRESS" {
                break;
            }
        }
        assert_eq!(
            (last["status"].as_str(), last["result"]["reasons"].clone()),
            (Some("FAILED"), json!(["flat_motion"])),
            "round {round}, target {t}: {last}"
        );
    }
    Ok(())
}

fn as_jpeg(image: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(image).expect("image").to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).expect("jpeg");
    out.into_inner()
}

/// A blink of Yale subject `subject` whose face moves 20 pixels to the right each frame, `dy` pixels below the
/// middle of a 640x480 frame.
fn moving_blink(subject: u32, dy: f64) -> Vec<Vec<u8>> {
    ["normal", "sleepy", "noglasses"]
        .iter()
        .enumerate()
        .map(|(k, condition)| {
            let face = image::load_from_memory(&yale(subject, condition)).expect("yale");
            let (w, h) = face.dimensions();
            place(&face, (w as f64 / 2.0, h as f64 / 2.0), (300.0 + 20.0 * k as f64, 240.0 + dy))
        })
        .collect()
}

/// With the replay memory on (the default): a session's frames sent again in a new session — as they were,
/// re-encoded, or in another order — fail it (`replayed_frames`), on this replica and on another one sharing
/// the database; the same photos a few pixels elsewhere (another capture) and other people's do not.
fn recorded_sessions_do_not_replay(dir: &Path) -> Result<(), Failed> {
    let pg = postgres();
    let db = pg.create_database("replay")?;
    let s = serve(&dir.join("a"), Some(&db), STILLS, &[]);
    let recorded = moving_blink(7, 0.0);
    let first = run(&s, &session(&s, &["blink"]), &recorded);
    assert_eq!(first["status"], "SUCCEEDED", "{first}");
    let reencoded: Vec<Vec<u8>> = recorded.iter().map(|f| as_jpeg(f)).collect();
    let reordered = vec![recorded[2].clone(), recorded[1].clone(), recorded[0].clone()];
    let other = serve(&dir.join("b"), Some(&db), STILLS, &[]);
    for (what, server, frames) in
        [("as recorded", &s, recorded.to_vec()), ("re-encoded", &s, reencoded), ("reordered", &other, reordered)]
    {
        let v = run_until_final(server, &session(server, &["blink"]), &frames);
        assert_eq!(
            (v["status"].as_str(), v["result"]["reasons"].clone()),
            (Some("FAILED"), json!(["replayed_frames"])),
            "{what}: {v}"
        );
        assert!(v["result"]["confidence"].as_f64().is_some_and(|c| c < 50.0), "{what}: {v}");
    }
    let v = run(&s, &session(&s, &["blink"]), &moving_blink(7, 6.0));
    assert_eq!(v["status"], "SUCCEEDED", "the same photos 6 pixels lower: {v}");
    let v = run(&s, &session(&s, &["blink"]), &moving_blink(9, 0.0));
    assert_eq!(v["status"], "SUCCEEDED", "another person: {v}");
    Ok(())
}

/// Another person's face never counts toward a challenge, and two of their frames within three fail the
/// session (`identity_changed`).
fn spliced_sequences_fail(env: &Env) -> Result<(), Failed> {
    let s = &env.plain;
    // One frame of someone else: not counted (the blink is still awaited), the session goes on.
    let one = session(s, &["blink"]);
    run(s, &one, &[yale(1, "normal")]);
    let other = send(s, &one, 1, &yale(2, "sleepy")).1;
    assert_eq!(
        (other["status"].as_str(), other["feedback"][0]["verdict"].as_str()),
        (Some("IN_PROGRESS"), Some("identity_changed")),
        "{other}"
    );
    let v = send(s, &one, 2, &yale(1, "noglasses")).1;
    assert_eq!(
        (v["status"].as_str(), v["feedback"][0]["guidance"].clone()),
        (Some("IN_PROGRESS"), json!(["blink"])),
        "{v}"
    );
    let cases: [(&str, Vec<Vec<u8>>); 3] = [
        ("blink", vec![yale(1, "normal"), yale(2, "sleepy"), yale(2, "noglasses")]),
        ("smile", vec![yale(4, "normal"), yale(5, "happy"), yale(5, "glasses")]),
        ("turn_left", vec![lfw("Jiang_Zemin", 1), lfw("George_HW_Bush", 8), lfw("George_HW_Bush", 6)]),
    ];
    for (kind, frames) in cases {
        let session = session(s, &[kind]);
        let last = run_until_final(s, &session, &frames);
        assert_eq!(last["status"], "FAILED", "{kind}: {last}");
        assert_eq!(last["result"]["reasons"], json!(["identity_changed"]), "{kind}: {last}");
        assert_eq!(last["feedback"][0]["verdict"], "identity_changed");
        assert!(last["result"]["confidence"].as_f64().is_some_and(|c| c < 50.0));
    }
    Ok(())
}

/// Started as the README says (no MiniFASNet weights, nothing allowed): `/ready` says passive liveness is off,
/// a correct blink sequence does not make a session succeed, and neither `/v1/verify` nor
/// `/v1/liveness/validate` calls anyone live.
fn never_live_without_passive_anti_spoofing(env: &Env) -> Result<(), Failed> {
    let s = &env.default;
    let (status, ready) = json(client().get(s.url("/ready")).send()?);
    assert_eq!(status, 200, "{ready}");
    let said = ready["passiveLiveness"].as_str().ok_or("passiveLiveness")?;
    assert!(said.starts_with("off") && said.contains("no liveness session can succeed"), "{ready}");
    assert!(std::fs::read_to_string(&s.log)?.contains("PASSIVE ANTI-SPOOFING IS OFF"), "the start-up log says so");
    let session = create(s, json!({"challenges": ["blink"]}));
    let blink = [yale(10, "normal"), yale(10, "sleepy"), yale(10, "surprised"), yale(10, "noglasses")];
    let v = run_until_final(s, &session, &blink);
    assert_eq!(
        (v["status"].as_str(), v["result"]["reasons"].clone(), v["result"]["passiveChecked"].as_bool()),
        (Some("FAILED"), json!(["passive_check_unavailable"]), Some(false)),
        "{v}"
    );
    assert!(v["result"]["confidence"].as_f64().is_some_and(|c| c < 50.0), "{v}");
    let (_, v) =
        post(s, "/v1/verify", json!({"sessionId": session["sessionId"], "document": b64(&yale(10, "glasses"))}));
    assert_eq!((v["verified"].as_bool(), v["isLive"].as_bool()), (Some(false), Some(false)), "{v}");
    let (status, v) = post(
        s,
        "/v1/liveness/validate",
        json!({"baseline": b64(&yale(1, "normal")), "challenges": [{"kind": "smile", "image": b64(&yale(1, "happy"))}]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["passed"].as_bool(), v["reasons"].clone()),
        (Some(false), json!(["passive_check_unavailable"])),
        "{v}"
    );
    // The same on a server that allows challenge-only liveness: the sequence succeeds, and says how.
    let session = create(&env.plain, json!({"challenges": ["blink"]}));
    let v = run(&env.plain, &session, &[yale(10, "normal"), yale(10, "sleepy"), yale(10, "surprised")]);
    assert_eq!(
        (v["status"].as_str(), v["result"]["passiveChecked"].as_bool()),
        (Some("SUCCEEDED"), Some(false)),
        "{v}"
    );
    let (_, ready) = json(client().get(env.plain.url("/ready")).send()?);
    assert!(ready["passiveLiveness"].as_str().is_some_and(|t| t.contains("challenge-only liveness is allowed")));
    Ok(())
}

fn print_attacks_fail_passive(env: &Env) -> Result<(), Failed> {
    let s = &env.guarded;
    let frames = |dir: &str| -> Vec<Vec<u8>> {
        let path = shared_data(&format!("nuaa/{dir}/0001"));
        let mut files: Vec<_> =
            std::fs::read_dir(&path).expect("NUAA subject").filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        files.iter().take(4).map(|p| std::fs::read(p).expect("frame")).collect()
    };
    let attack = session(s, &["blink"]);
    let v = run_until_final(s, &attack, &frames("ImposterRaw"));
    assert_eq!(
        (v["status"].as_str(), v["result"]["reasons"].clone()),
        (Some("FAILED"), json!(["spoof_detected"])),
        "{v}"
    );
    assert!(v["result"]["passiveScore"].as_f64().is_some_and(|p| p < 0.05));
    // The live frames of the same subject do not trip it (they cannot blink on their own either).
    let live = session(s, &["blink"]);
    let v = run(s, &live, &frames("ClientRaw"));
    assert_eq!(v["status"], "IN_PROGRESS", "{v}");
    assert!(get(s, &live)["result"]["passiveScore"].as_f64().is_some_and(|p| p >= 0.05));
    Ok(())
}

/// On a server as the README starts it (scene continuity on): two photos of one person are a cut, one photo
/// sent again re-encoded is a still, whatever the challenge.
fn slideshows_cut(env: &Env) -> Result<(), Failed> {
    let s = &env.default;
    let canvas = |rel: &str, quality: u8| -> Result<Vec<u8>, Failed> {
        let photo = image::load_from_memory(&read(rel))?.to_rgb8();
        let scaled = image::imageops::resize(&photo, 450, 450, image::imageops::FilterType::Triangle);
        let mut frame = image::RgbImage::from_pixel(640, 480, image::Rgb([118, 118, 118]));
        image::imageops::overlay(&mut frame, &scaled, 95, 15);
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(&frame)?;
        Ok(out)
    };
    let (a, b) = ("lfw/images/Tony_Blair/Tony_Blair_0018.jpg", "lfw/images/Tony_Blair/Tony_Blair_0048.jpg");
    let cut = session(s, &["smile"]);
    let v = run_until_final(s, &cut, &[canvas(a, 93)?, canvas(b, 93)?, canvas(a, 90)?]);
    assert_eq!((v["status"].as_str(), v["result"]["reasons"].clone()), (Some("FAILED"), json!(["scene_cut"])), "{v}");
    let still = session(s, &["blink"]);
    let v = run_until_final(s, &still, &[canvas(a, 93)?, canvas(a, 90)?, canvas(a, 88)?, canvas(a, 86)?]);
    assert_eq!(
        (v["status"].as_str(), v["result"]["reasons"].clone()),
        (Some("FAILED"), json!(["still_picture"])),
        "{v}"
    );
    Ok(())
}

fn session_rules(env: &Env) -> Result<(), Failed> {
    let s = &env.plain;
    let a = session(s, &["smile"]);
    let normal = yale(1, "normal");
    assert_eq!(send(s, &a, 0, &normal).0, 200);
    // Out of sequence, repeated, time going backwards: refused, nothing changes.
    let expect = |resp: (u16, Value), status: u16, code: &str| {
        assert_eq!((resp.0, resp.1["error"]["code"].as_str()), (status, Some(code)), "{}", resp.1);
    };
    expect(send(s, &a, 5, &yale(1, "happy")), 409, "frame_out_of_sequence");
    expect(send(s, &a, 1, &normal), 409, "frame_replayed");
    expect(json(frame_request(s, &a, 1, 50, &yale(1, "glasses")).send()?), 409, "frame_timestamp_not_increasing");
    expect(json(frame_request(s, &a, 1, 10_000_000, &yale(1, "glasses")).send()?), 409, "frame_timestamp_out_of_range");
    // A batch is refused whole when one of its frames is out of place.
    let id = a["sessionId"].as_str().ok_or("id")?;
    let batch = json!({"frames": [
        {"image": b64(&yale(1, "glasses")), "sequence": 1, "timestamp": 300},
        {"image": b64(&yale(1, "glasses")), "sequence": 2, "timestamp": 400}]});
    let resp = json(
        client()
            .post(s.url(&format!("/v1/liveness/sessions/{id}/frames")))
            .bearer_auth(a["sessionToken"].as_str().ok_or("token")?)
            .json(&batch)
            .send()?,
    );
    expect(resp, 409, "frame_replayed");
    assert_eq!(get(s, &a)["result"]["frames"]["received"], 1);
    // Two faces in frame: reported, counted as bad.
    let (_, v) = send(s, &a, 1, &read("samples/face_recognition/two_people.jpg"));
    assert_eq!(
        (v["feedback"][0]["verdict"].as_str(), v["feedback"][0]["guidance"].clone()),
        (Some("multiple_faces"), json!(["one_face_only"])),
        "{v}"
    );
    // No face: reported.
    let (_, v) = send(s, &a, 2, &read("samples/insightface/crop/no_face.png"));
    assert_eq!(v["feedback"][0]["verdict"], "no_face", "{v}");
    // Finish it, then a finished session takes nothing.
    let (_, v) = send(s, &a, 3, &yale(1, "happy"));
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    expect(send(s, &a, 4, &yale(1, "glasses")), 409, "session_finished");
    // Tokens: only their own session, only frames and status.
    let b = session(s, &["blink"]);
    let crossed = json(
        client()
            .post(s.url(&format!("/v1/liveness/sessions/{}/frames", b["sessionId"].as_str().ok_or("id")?)))
            .bearer_auth(a["sessionToken"].as_str().ok_or("token")?)
            .json(&json!({"image": b64(&normal), "sequence": 0, "timestamp": 100}))
            .send()?,
    );
    expect(crossed, 403, "session_token_mismatch");
    let forged = format!("{}x", b["sessionToken"].as_str().ok_or("token")?);
    let resp = json(
        client()
            .get(s.url(&format!("/v1/liveness/sessions/{}", b["sessionId"].as_str().ok_or("id")?)))
            .bearer_auth(&forged)
            .send()?,
    );
    expect(resp, 401, "invalid_session_token");
    let resp = json(
        client()
            .post(s.url("/v1/liveness/sessions"))
            .bearer_auth(a["sessionToken"].as_str().ok_or("t")?)
            .json(&json!({}))
            .send()?,
    );
    assert_eq!(resp.0, 401, "{}", resp.1);
    let resp = json(
        client()
            .get(s.url(&format!("/v1/liveness/sessions/{id}/images/reference")))
            .bearer_auth(a["sessionToken"].as_str().ok_or("t")?)
            .send()?,
    );
    assert_eq!(resp.0, 401, "a session token is no key for the images: {}", resp.1);
    let (status, _) = json(
        client()
            .get(s.url(&format!("/v1/liveness/sessions/{id}")))
            .bearer_auth(a["sessionToken"].as_str().ok_or("t")?)
            .send()?,
    );
    assert_eq!(status, 200, "the token reads its own session's status");
    // Another key does not see the session.
    let (status, key) =
        json(admin(client().post(s.url("/v1/keys"))).json(&json!({"name": "other", "scopes": ["liveness"]})).send()?);
    assert_eq!(status, 201, "{key}");
    let other = key["key"].as_str().ok_or("key")?;
    let resp = json(client().get(s.url(&format!("/v1/liveness/sessions/{id}"))).bearer_auth(other).send()?);
    expect(resp, 404, "session_not_found");
    expect(json(admin(client().get(s.url("/v1/liveness/sessions/nope"))).send()?), 404, "session_not_found");
    // Idempotent creation: the same session, a new token (the old one stops working).
    let first = create(s, json!({"clientRequestToken": "retry-1", "challenges": ["smile"]}));
    let (status, again) = json(
        admin(client().post(s.url("/v1/liveness/sessions")))
            .json(&json!({"clientRequestToken": "retry-1", "challenges": ["smile"]}))
            .send()?,
    );
    assert_eq!((status, &again["sessionId"]), (200, &first["sessionId"]), "{again}");
    assert_ne!(again["sessionToken"], first["sessionToken"]);
    assert_eq!(send(s, &again, 0, &normal).0, 200);
    expect(send(s, &first, 1, &yale(1, "happy")), 401, "invalid_session_token");
    // Random challenges: a head turn by default, distinct kinds; bad options are refused.
    for _ in 0..5 {
        let r = create(s, json!({"challengeCount": 3}));
        let kinds: Vec<&str> =
            r["challenges"].as_array().ok_or("challenges")?.iter().filter_map(|c| c["kind"].as_str()).collect();
        assert_eq!(kinds.len(), 3);
        assert_eq!(kinds.iter().filter(|k| k.starts_with("turn_")).count(), 1, "{kinds:?}");
        assert!(kinds.iter().all(|k| kinds.iter().filter(|x| *x == k).count() == 1));
    }
    let r = create(
        s,
        json!({"challengeCount": 2, "exclude": ["turn_left", "turn_right", "look_up", "look_down", "nose_target"]}),
    );
    let mut kinds: Vec<&str> =
        r["challenges"].as_array().ok_or("challenges")?.iter().filter_map(|c| c["kind"].as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["blink", "smile"]);
    for (body, code) in [
        (json!({"challengeCount": 9}), "invalid_parameter"),
        (json!({"challenges": []}), "invalid_parameter"),
        (json!({"challenges": ["head_pose"]}), "invalid_parameter"),
        (json!({"challenges": ["dance"]}), "invalid_request"),
        (json!({"auditImagesLimit": 5}), "invalid_parameter"),
    ] {
        let (status, v) = json(admin(client().post(s.url("/v1/liveness/sessions"))).json(&body).send()?);
        assert_eq!((status, v["error"]["code"].as_str()), (400, Some(code)), "{body}: {v}");
    }
    // Too many frames without a usable face fail the session (this server allows 3).
    let c = session(s, &["smile"]);
    // Four different pictures without a face (bytes appended to one file would be the same picture, refused).
    let no_face = image::load_from_memory(&read("samples/insightface/crop/no_face.png"))?.to_rgb8();
    let shifted: Vec<Vec<u8>> = (0..4u8)
        .map(|k| {
            let mut img = no_face.clone();
            img.put_pixel(u32::from(k), 0, image::Rgb([k, 255 - k, 7]));
            let mut out = std::io::Cursor::new(Vec::new());
            DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).expect("png");
            out.into_inner()
        })
        .collect();
    let v = run(s, &c, &shifted);
    assert_eq!(
        (v["status"].as_str(), v["result"]["reasons"].clone()),
        (Some("FAILED"), json!(["too_many_bad_frames"])),
        "{v}"
    );
    // Deleting a session removes it with its images.
    let (status, _) = json(admin(client().delete(s.url(&format!("/v1/liveness/sessions/{id}")))).send()?);
    assert_eq!(status, 200);
    expect(json(admin(client().get(s.url(&format!("/v1/liveness/sessions/{id}")))).send()?), 404, "session_not_found");
    Ok(())
}

fn websocket_stream(env: &Env) -> Result<(), Failed> {
    use tungstenite::Message;
    let s = &env.plain;
    let session = session(s, &["blink"]);
    let id = session["sessionId"].as_str().ok_or("id")?;
    let token = session["sessionToken"].as_str().ok_or("token")?;
    let url = s.url(&format!("/v1/liveness/sessions/{id}/stream?token={token}")).replacen("http://", "ws://", 1);
    let (mut socket, _) = tungstenite::connect(url.as_str())?;
    let mut answer = |m: Message| -> Result<Value, Failed> {
        socket.send(m)?;
        loop {
            match socket.read()? {
                Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
                Message::Close(_) => return Err("closed early".into()),
                _ => continue,
            }
        }
    };
    // A text frame with its own numbering, then binary frames numbered by the server.
    let v =
        answer(Message::text(json!({"image": b64(&yale(1, "normal")), "sequence": 0, "timestamp": 100}).to_string()))?;
    assert_eq!(v["feedback"][0]["verdict"], "accepted", "{v}");
    let v =
        answer(Message::text(json!({"image": b64(&yale(1, "normal")), "sequence": 1, "timestamp": 200}).to_string()))?;
    assert_eq!(v["error"]["code"], "frame_replayed", "errors come back on the socket: {v}");
    let v = answer(Message::binary(yale(1, "sleepy")))?;
    assert_eq!(v["feedback"][0]["guidance"], json!(["open_eyes_again"]), "{v}");
    let v = answer(Message::binary(yale(1, "noglasses")))?;
    assert_eq!((v["status"].as_str(), v["result"]["status"].as_str()), (Some("SUCCEEDED"), Some("SUCCEEDED")), "{v}");
    // Then the server closes; a wrong token is refused before any upgrade.
    let bad = url.replace(token, &format!("{token}x"));
    assert!(tungstenite::connect(bad.as_str()).is_err());
    Ok(())
}

fn sessions_expire(dir: &Path) -> Result<(), Failed> {
    let short = "liveness_session_seconds = 10\nliveness_challenge_seconds = 10\n";
    let s = serve(&dir.join("plain"), None, short, &[]);
    let private = serve(&dir.join("private"), None, &format!("{CHALLENGE_ONLY}{short}liveness_privacy = true\n"), &[]);
    let a = session(&s, &["smile"]);
    assert_eq!(send(&s, &a, 0, &yale(1, "normal")).0, 200);
    // In privacy mode, a session abandoned after its baseline frame, holding a template while it runs (a
    // verification against a running session compares, and says it is not live).
    let abandoned = session(&private, &["smile"]);
    assert_eq!(send(&private, &abandoned, 0, &yale(2, "normal")).0, 200);
    let check = json!({"sessionId": abandoned["sessionId"], "document": b64(&yale(2, "glasses"))});
    let (_, v) = post(&private, "/v1/verify", check.clone());
    assert_eq!((v["verified"].as_bool(), v["facesMatch"].as_bool()), (Some(false), Some(true)), "{v}");
    std::thread::sleep(Duration::from_millis(10_500));
    let (status, v) = send(&s, &a, 1, &yale(1, "happy"));
    assert_eq!((status, v["error"]["code"].as_str()), (410, Some("session_expired")), "{v}");
    assert_eq!(get(&s, &a)["status"], "EXPIRED");
    // Without privacy mode the template stays for the retention period: a verification still compares.
    let (_, v) = post(&s, "/v1/verify", json!({"sessionId": a["sessionId"], "document": b64(&yale(1, "glasses"))}));
    assert_eq!((v["verified"].as_bool(), v["facesMatch"].as_bool()), (Some(false), Some(true)), "{v}");
    // In privacy mode the sweep (here the one a new session runs) drops the abandoned session's template:
    // there is nothing left to compare.
    session(&private, &["smile"]);
    let (_, v) = post(&private, "/v1/verify", check);
    assert_eq!(
        (v["verified"].as_bool(), v["facesMatch"].as_bool(), v["similarity"].as_f64()),
        (Some(false), Some(false), Some(0.0)),
        "{v}"
    );
    assert_eq!(v["reasons"], json!(["session_not_succeeded"]), "{v}");
    Ok(())
}

fn replicas_share_sessions(dir: &Path) -> Result<(), Failed> {
    let pg = postgres();
    let url = pg.create_database("liveness")?;
    let a = serve(&dir.join("a"), Some(&url), CHALLENGE_ONLY, &[]);
    let b = serve(&dir.join("b"), Some(&url), CHALLENGE_ONLY, &[]);
    let session = session(&a, &["blink"]);
    assert_eq!(send(&a, &session, 0, &yale(5, "normal")).0, 200);
    assert_eq!(send(&b, &session, 1, &yale(5, "sleepy")).0, 200);
    let (status, v) = send(&a, &session, 2, &yale(5, "glasses"));
    assert_eq!((status, v["status"].as_str()), (200, Some("SUCCEEDED")), "{v}");
    assert_eq!(get(&b, &session)["status"], "SUCCEEDED");
    // A frame replayed on the other replica is still a replay.
    let (status, v) = send(&b, &session, 3, &yale(5, "normal"));
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("session_finished")), "{v}");
    Ok(())
}

type Case = fn(&Env) -> Result<(), Failed>;

pub fn trials() -> Vec<Trial> {
    let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
    let env: Arc<OnceLock<Env>> = Arc::new(OnceLock::new());
    let spoof_models = testkit::shared_dir().join("models/shared-only").display().to_string();
    let cases: &[(&str, Case)] = &[
        ("proper_sequences_pass", proper_sequences_pass),
        ("nose_target_needs_a_turn_not_a_slide", nose_target_needs_a_turn_not_a_slide),
        ("spliced_sequences_fail", spliced_sequences_fail),
        ("print_attacks_fail_passive", print_attacks_fail_passive),
        ("slideshows_cut", slideshows_cut),
        ("never_live_without_passive_anti_spoofing", never_live_without_passive_anti_spoofing),
        ("session_rules", session_rules),
        ("batch_validation", batch_validation),
        ("websocket_stream", websocket_stream),
        ("full_verification", full_verification),
        ("login_after_liveness", login_after_liveness),
        ("privacy_mode_keeps_no_biometrics", privacy_mode_keeps_no_biometrics),
    ];
    let mut trials = Vec::new();
    for &(name, case) in cases {
        let (env, tmp, models) = (env.clone(), tmp.clone(), spoof_models.clone());
        trials.push(trial!(name, move || {
            let env = env.get_or_init(|| Env {
                plain: serve(
                    &tmp.path().join("plain"),
                    None,
                    &format!("{CHALLENGE_ONLY}liveness_max_bad_frames = 3\n"),
                    &[],
                ),
                default: serve(&tmp.path().join("default"), None, "", &[]),
                // Its sessions send NUAA captures in name order: several capture sessions, not one scene.
                guarded: serve(
                    &tmp.path().join("guarded"),
                    None,
                    "liveness_scene_continuity = false\n",
                    &["--models-dir", &models],
                ),
                strict: serve(
                    &tmp.path().join("strict"),
                    None,
                    &format!("{CHALLENGE_ONLY}login_requires_liveness = true\nopen_routes = [\"face_login\"]\n"),
                    &[],
                ),
                private: serve(
                    &tmp.path().join("private"),
                    None,
                    &format!(
                        "{CHALLENGE_ONLY}liveness_privacy = true\nlogin_requires_liveness = true\nopen_routes = [\"face_login\"]\n"
                    ),
                    &[],
                ),
            });
            case(env)
        }));
    }
    let t = tmp.clone();
    trials.push(trial!("recorded_sessions_do_not_replay", move || {
        recorded_sessions_do_not_replay(&t.path().join("replay"))
    }));
    let t = tmp.clone();
    trials.push(trial!("sessions_expire", move || sessions_expire(&t.path().join("expiry"))));
    let t = tmp.clone();
    trials.push(trial!("replicas_share_sessions", move || replicas_share_sessions(&t.path().join("replicas"))));
    trials
}
