//! The drop-in front doors (`/compat/<prefix>`), called as their systems' own documentation and client code call
//! them — verbatim paths, bodies and field names — against a real server process on SQLite, with Facegate API keys
//! in the places of their static tokens and `x-api-key`s.

use crate::support::*;
use libtest_mimic::{Failed, Trial};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

const ADMIN: &str = "compat-admin-key-0123456789";

struct Door {
    served: Served,
    /// A key with the scopes of the calls' `/v1` twins.
    key: String,
    c: Client,
}

impl Door {
    fn start(dir: &std::path::Path, config: &str) -> Door {
        std::fs::create_dir_all(dir).expect("data dir");
        std::fs::write(dir.join("facegate.toml"), config).expect("config");
        // The anti-spoofing weights, from the shared models.
        let models = testkit::shared_dir().join("models/shared-only").display().to_string();
        let served = Served::start_env(dir, None, &["--models-dir", &models], &[("FACEGATE_ADMIN_KEY", ADMIN)]);
        let c = client();
        let spec = json!({"name": "migrated client", "scopes": ["faces:detect", "faces:compare", "liveness"]});
        let (status, created) =
            json(c.post(served.url("/v1/keys")).bearer_auth(ADMIN).json(&spec).send().expect("key"));
        assert_eq!(status, 201, "{created}");
        let key = created["key"].as_str().expect("key").to_string();
        Door { served, key, c }
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.c.post(self.served.url(path))
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.c.get(self.served.url(path))
    }

    fn delete(&self, path: &str) -> RequestBuilder {
        self.c.delete(self.served.url(path))
    }
}

/// An error in API Gateway's shape: `{"message": ...}` and nothing of Facegate's own body; the code in its header.
fn gateway_error(resp: reqwest::blocking::Response, status: u16, code: &str) -> Value {
    let header = resp.headers().get("x-facegate-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (got, body) = json(resp);
    assert_eq!(got, status, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body.get("error").is_none(), "{body}");
    assert_eq!(header.as_deref(), Some(code), "{body}");
    body
}

/// `main.py` of the ID + selfie sample: `requests.post(url=URL, json=dumps({"dl": ..., "selfie": ...}),
/// headers={"x-api-key": API_KEY})` to `https://<api>/prod/ips` — the body a JSON string holding the object.
fn id_selfie(dir: &std::path::Path) -> Result<(), Failed> {
    let door = Door::start(dir, "");
    let url = "/compat/id-selfie/prod/ips";
    let call = |dl: &[u8], selfie: &[u8], key: &str| {
        // `json=dumps(obj)`: the dumped text, serialised once more as a JSON string.
        let dumped = serde_json::to_string(&json!({"dl": b64(dl), "selfie": b64(selfie)})).expect("dumps");
        door.post(url).header("x-api-key", key).json(&dumped).send().expect("ips")
    };
    let blair = lfw_person("Tony_Blair");
    let (status, same) = json(call(&blair[0], &blair[1], &door.key));
    assert_eq!(status, 200, "{same}");
    let similarity = same.as_f64().ok_or("the body is the similarity")?;
    assert!(similarity >= 80.0, "the same person: {similarity}");
    let (status, other) = json(call(&blair[0], &lfw("Abel_Pacheco", 1), &door.key));
    assert_eq!((status, other.as_f64()), (200, Some(0.0)), "no match at 80");
    // Also as a plain JSON object, and without a stage.
    let body = json!({"dl": b64(&blair[0]), "selfie": b64(&blair[1])});
    let (status, plain) = json(door.post("/compat/id-selfie/ips").header("x-api-key", &door.key).json(&body).send()?);
    assert_eq!((status, plain.as_f64()), (200, Some(similarity)));

    gateway_error(call(&blair[0], &blair[1], "fg_not_a_key"), 401, "invalid_key");
    gateway_error(door.post(url).json(&json!({"dl": b64(&blair[0])})).send()?, 401, "unauthorized");
    gateway_error(
        door.post(url).header("x-api-key", &door.key).json(&json!({"dl": "x"})).send()?,
        400,
        "invalid_request",
    );
    let no_face = read("samples/insightface/crop/no_face.png");
    gateway_error(call(&no_face, &blair[1], &door.key), 422, "no_face");
    Ok(())
}

/// The serverless liveness API's README: `POST /session {clientRequestToken}` → `{SessionId}`, `GET /session/:id`
/// → `{clientRequestToken, status, comparisonResult}`, `POST /compare {source, target}` → `{comparisonResult}`,
/// with the static token as `Authorization: Bearer`.
fn liveness_api(dir: &std::path::Path) -> Result<(), Failed> {
    let door = Door::start(dir, "liveness_session_seconds = 10\nliveness_challenge_seconds = 10\n");
    let token = "random-string-generated-by-client";
    let (status, started) = json(
        door.post("/compat/liveness-api/session")
            .bearer_auth(&door.key)
            .json(&json!({"clientRequestToken": token}))
            .send()?,
    );
    assert_eq!(status, 200, "{started}");
    let id = started["SessionId"].as_str().ok_or("SessionId")?.to_string();
    // The same token again: the same session.
    let (_, again) = json(
        door.post("/compat/liveness-api/session")
            .bearer_auth(&door.key)
            .json(&json!({"clientRequestToken": token}))
            .send()?,
    );
    assert_eq!(again["SessionId"].as_str(), Some(id.as_str()));

    let check =
        || json(door.get(&format!("/compat/liveness-api/session/{id}")).bearer_auth(&door.key).send().expect("check"));
    let (status, fresh) = check();
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(fresh, json!({"clientRequestToken": token, "status": "CREATED", "comparisonResult": null}));
    // Nobody did the challenges: the session expires, and then it has a result, under 0.5.
    std::thread::sleep(std::time::Duration::from_millis(10_500));
    let (_, expired) = check();
    assert_eq!(expired["status"], "EXPIRED", "{expired}");
    assert!(expired["comparisonResult"].as_f64().is_some_and(|r| (0.0..0.5).contains(&r)), "{expired}");
    gateway_error(
        door.get("/compat/liveness-api/session/0195a3c1-0000-4000-8000-000000000000").bearer_auth(&door.key).send()?,
        404,
        "session_not_found",
    );

    let obama = read("samples/face_recognition/obama.jpg");
    let compare = |target: &[u8]| {
        let body = json!({"source": b64(&obama), "target": b64(target)});
        json(door.post("/compat/liveness-api/compare").bearer_auth(&door.key).json(&body).send().expect("compare"))
    };
    let (status, same) = compare(&read("samples/face_recognition/obama2.jpg"));
    assert_eq!(status, 200, "{same}");
    let (_, other) = compare(&read("samples/face_recognition/biden.jpg"));
    let (same, other) =
        (same["comparisonResult"].as_f64().ok_or("result")?, other["comparisonResult"].as_f64().ok_or("result")?);
    // On the 0-1 scale: Facegate's similarity over 100, whose match threshold is 0.6.
    assert!(same >= 0.6 && other < 0.6 && same <= 1.0, "{same} vs {other}");
    gateway_error(
        door.post("/compat/liveness-api/compare")
            .bearer_auth(&door.key)
            .json(&json!({"source": b64(&obama)}))
            .send()?,
        400,
        "invalid_request",
    );
    gateway_error(door.post("/compat/liveness-api/compare").json(&json!({})).send()?, 401, "unauthorized");
    Ok(())
}

/// FastAPI's error body: `{"detail": ...}`, the code in its header.
fn fastapi_error(resp: reqwest::blocking::Response, status: u16, code: &str) -> Value {
    let header = resp.headers().get("x-facegate-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (got, body) = json(resp);
    assert_eq!(got, status, "{body}");
    assert!(body["detail"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(header.as_deref(), Some(code), "{body}");
    body
}

/// The DeepFace liveness service's README, endpoint by endpoint, with its documented bodies.
fn deepface_liveness(dir: &std::path::Path) -> Result<(), Failed> {
    let door = Door::start(dir, "");
    let call = |path: &str, body: Value| {
        json(
            door.post(&format!("/compat/deepface-liveness{path}"))
                .header("x-api-key", &door.key)
                .json(&body)
                .send()
                .expect(path),
        )
    };
    let image = |rel: &str| b64(&read(rel));
    let yale = |state: &str| b64(&read(&format!("yale/images/subject01/subject01_{state}.png")));

    let (status, health) = json(door.get("/compat/deepface-liveness/health").send()?);
    assert_eq!((status, &health["status"]), (200, &json!("healthy")), "{health}");

    let (status, found) = call("/detect", json!({"image": image("samples/face_recognition/two_people.jpg")}));
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["face_count"], 2);
    assert!(found["faces"][0]["width"].as_i64().is_some_and(|w| w > 50), "{found}");
    assert!(found["processing_time_ms"].is_u64());

    let (status, live) = call("/liveness", json!({"image": image("samples/silent_face/image_T1.jpg")}));
    assert_eq!(status, 200, "{live}");
    assert_eq!((live["is_real"].as_bool(), live["face_count"].as_u64()), (Some(true), Some(1)), "{live}");
    assert!(live["bounding_box"]["width"].as_i64().is_some_and(|w| w > 20));
    let (_, spoof) = call("/antispoof", json!({"image": image("samples/silent_face/image_F2.jpg")}));
    assert_eq!(spoof["is_real"], false, "{spoof}");
    // A per-request threshold: F1 passes the calibrated default, not 0.5.
    let (_, strict) = call("/antispoof", json!({"image": image("samples/silent_face/image_F1.jpg"), "threshold": 0.5}));
    assert_eq!(strict["is_real"], false, "{strict}");

    let obama = image("samples/face_recognition/obama.jpg");
    let (status, same) = call(
        "/face-match",
        json!({"idImage": obama, "selfieImage": image("samples/face_recognition/obama2.jpg"), "minConfidence": 0.6}),
    );
    assert_eq!(status, 200, "{same}");
    assert_eq!((same["matched"].as_bool(), same["id_face_extracted"].as_bool()), (Some(true), Some(true)), "{same}");
    let (_, other) =
        call("/face-match", json!({"idImage": obama, "selfieImage": image("samples/face_recognition/biden.jpg")}));
    assert_eq!(other["matched"], false, "{other}");
    assert!(other["confidence"].as_f64() < same["confidence"].as_f64());

    let (_, happy) = call("/smile-check", json!({"image": yale("happy")}));
    let (_, normal) = call("/smile-check", json!({"image": yale("normal")}));
    assert_eq!(
        (happy["is_smiling"].as_bool(), normal["is_smiling"].as_bool()),
        (Some(true), Some(false)),
        "{happy} {normal}"
    );
    let (_, sleepy) = call("/blink-check", json!({"image": yale("sleepy")}));
    let (_, open) = call("/blink-check", json!({"image": yale("normal")}));
    assert_eq!(
        (sleepy["is_blinking"].as_bool(), open["is_blinking"].as_bool()),
        (Some(true), Some(false)),
        "{sleepy} {open}"
    );

    let passport = image("id/passport-td3.jpg");
    let body = json!({"idImage": passport, "selfieImage": image("id/passport-td2.jpg"), "antispoofThreshold": 0.3, "minFaceMatchConfidence": 0.4});
    let (status, verified) = call("/verify", body);
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["faces_match"], true, "{verified}");
    assert!(verified["antispoof_score"].is_number() && verified["processing_time_ms"].is_u64(), "{verified}");
    assert_eq!(verified["verified"], verified["is_live"], "{verified}");
    let (_, stranger) =
        call("/verify", json!({"idImage": passport, "selfieImage": image("samples/face_recognition/biden.jpg")}));
    assert_eq!(
        (stranger["verified"].as_bool(), stranger["faces_match"].as_bool()),
        (Some(false), Some(false)),
        "{stranger}"
    );

    // Head pose: that service's "right" is the side of the image the nose moves to (right_face.png), which is the
    // person's own left; turns completed per calling key until `resetSession`.
    let pose = |rel: &str, reset: bool| call("/head-pose", json!({"image": image(rel), "resetSession": reset}));
    let (status, right) = pose("samples/insightface/pose/right_face.png", true);
    assert_eq!(status, 200, "{right}");
    assert_eq!(
        (right["direction"].as_str(), right["isTurningRight"].as_bool()),
        (Some("right"), Some(true)),
        "{right}"
    );
    assert!(right["yaw"].as_f64().is_some_and(|y| y >= 0.15) && right["processingTimeMs"].is_u64(), "{right}");
    assert_eq!(
        (right["rightTurnCompleted"].as_bool(), right["leftTurnCompleted"].as_bool()),
        (Some(true), Some(false))
    );
    let (_, left) = pose("samples/insightface/pose/left_face.jpeg", false);
    assert_eq!(left["direction"], "left", "{left}");
    assert_eq!((left["rightTurnCompleted"].as_bool(), left["leftTurnCompleted"].as_bool()), (Some(true), Some(true)));
    let (_, reset) = pose("samples/face_recognition/obama.jpg", true);
    assert_eq!(
        (reset["direction"].as_str(), reset["leftTurnCompleted"].as_bool()),
        (Some("center"), Some(false)),
        "{reset}"
    );
    let turn = |direction: &str| {
        call(
            "/head-turn-check",
            json!({"image": image("samples/insightface/pose/right_face.png"), "direction": direction, "threshold": 0.15}),
        )
    };
    assert_eq!((turn("right").1["turned"].as_bool(), turn("left").1["turned"].as_bool()), (Some(true), Some(false)));

    // Challenges against a baseline: a change, not a state.
    let validate = |kind: &str, base: &str, now: &str| {
        call(
            "/challenge/validate",
            json!({"baselineImage": yale(base), "challengeImage": yale(now), "challengeType": kind, "minEmotionChange": 20.0}),
        )
    };
    let (status, smiled) = validate("smile", "normal", "happy");
    assert_eq!((status, smiled["passed"].as_bool()), (200, Some(true)), "{smiled}");
    assert!(smiled["score"].as_f64().is_some_and(|s| s > 50.0), "{smiled}");
    assert_eq!(validate("smile", "normal", "normal").1["passed"], false);
    assert_eq!(validate("blink", "normal", "sleepy").1["passed"], true);
    let multi = json!({"baselineImage": yale("normal"), "challengeResults": [
        {"challenge_type": "smile", "image": yale("happy")},
        {"challenge_type": "blink", "image": yale("normal")},
    ]});
    let (status, multi) = call("/challenge/validate-multi", multi);
    assert_eq!(status, 200, "{multi}");
    assert_eq!(
        (multi["allPassed"].as_bool(), multi["totalChallenges"].as_u64(), multi["passedCount"].as_u64()),
        (Some(false), Some(2), Some(1)),
        "{multi}"
    );
    assert_eq!(
        (multi["results"][0]["challengeType"].as_str(), multi["results"][1]["passed"].as_bool()),
        (Some("smile"), Some(false))
    );

    // The multi-challenge session: its shape, and a client that declares both challenges passed without the
    // server seeing them done is not verified.
    let (status, session) = call(
        "/challenge/session",
        json!({"numChallenges": 2, "excludeChallenges": ["blink"], "requireHeadTurn": true}),
    );
    assert_eq!(status, 200, "{session}");
    let id = session["sessionId"].as_str().ok_or("sessionId")?.to_string();
    let kinds: Vec<String> = session["challenges"]
        .as_array()
        .ok_or("challenges")?
        .iter()
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    assert_eq!(kinds.len(), 2, "{session}");
    assert!(kinds.contains(&"smile".to_string()) && kinds.iter().any(|k| k.starts_with("turn_")), "{session}");
    assert_eq!((session["currentIndex"].as_u64(), session["isComplete"].as_bool()), (Some(0), Some(false)));
    let current = &session["currentChallenge"];
    assert_eq!(
        (current["challengeType"].as_str(), current["index"].as_u64(), current["total"].as_u64()),
        (Some(kinds[0].as_str()), Some(0), Some(2))
    );
    assert!(
        current["title"].is_string()
            && current["instruction"].is_string()
            && current["icon"].is_string()
            && current["timeoutSeconds"].is_number()
    );
    let complete = |kind: &str| {
        call(
            "/challenge/complete",
            json!({"sessionId": id, "challengeType": kind, "passed": true, "metadata": {"yaw": -0.25}}),
        )
    };
    let (status, next) = complete(&kinds[0]);
    assert_eq!(status, 200, "{next}");
    assert_eq!(
        (next["currentIndex"].as_u64(), next["currentChallenge"]["challengeType"].as_str()),
        (Some(1), Some(kinds[1].as_str()))
    );
    let (_, done) = complete(&kinds[1]);
    assert_eq!((done["isComplete"].as_bool(), done["currentChallenge"].is_null()), (Some(true), true), "{done}");
    assert_eq!((done["verified"].as_bool(), &done["serverVerified"]), (Some(false), &json!([false, false])), "{done}");
    let (status, state) = json(
        door.get(&format!("/compat/deepface-liveness/challenge/session/{id}")).header("x-api-key", &door.key).send()?,
    );
    assert_eq!(status, 200, "{state}");
    assert_eq!(
        (state["currentIndex"].as_u64(), state["isComplete"].as_bool(), state["verified"].as_bool()),
        (Some(0), Some(false), Some(false)),
        "{state}"
    );

    let no_face = read("samples/insightface/crop/no_face.png");
    fastapi_error(
        door.post("/compat/deepface-liveness/detect")
            .header("x-api-key", &door.key)
            .json(&json!({"image": "%%%"}))
            .send()?,
        400,
        "invalid_base64",
    );
    fastapi_error(
        door.post("/compat/deepface-liveness/smile-check")
            .header("x-api-key", &door.key)
            .json(&json!({"image": b64(&no_face)}))
            .send()?,
        422,
        "no_face",
    );
    fastapi_error(
        door.post("/compat/deepface-liveness/detect").json(&json!({"image": obama})).send()?,
        401,
        "unauthorized",
    );
    Ok(())
}

/// Face Lock Server: the README's Python client functions run unchanged (with `open_routes` opening `/register/`
/// and `/verify/` as that system had them), then every endpoint of its table with keys and tokens.
fn facelock(dir: &std::path::Path) -> Result<(), Failed> {
    let open = Door::start(&dir.join("open"), "open_routes = [\"facelock_register\", \"facelock_verify\"]\n");
    let base = open.served.url("/compat/facelock");
    let blair = lfw_person("Tony_Blair");
    let (first, probe) = (dir.join("blair-0.jpg"), dir.join("blair-5.jpg"));
    std::fs::write(&first, &blair[0])?;
    std::fs::write(&probe, &blair[5])?;
    match std::env::var_os("FACEGATE_TEST_PYTHON") {
        Some(python) => {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/facelock_client.py");
            let out = std::process::Command::new(python)
                .arg(script)
                .arg(&base)
                .arg("ada")
                .arg(&first)
                .arg(&probe)
                .output()?;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let v: Value = serde_json::from_slice(&out.stdout)?;
            assert_eq!(
                (v["registered"]["success"].as_bool(), v["registered"]["user_id"].as_str()),
                (Some(true), Some("ada")),
                "{v}"
            );
            assert!(v["registered"]["face_id"].as_str().is_some_and(|f| f.len() == 36), "{v}");
            assert_eq!(
                (v["verified"]["success"].as_bool(), v["verified"]["user_id"].as_str()),
                (Some(true), Some("ada")),
                "{v}"
            );
            assert!(v["verified"]["similarity"].as_f64().is_some_and(|s| s >= 85.0), "{v}");
            assert_eq!(
                (v["me"]["user_id"].as_str(), v["me"]["email"].as_str()),
                (Some("ada"), Some("ada@example.com")),
                "{v}"
            );
        }
        None => {
            assert!(std::env::var_os("CI").is_none(), "CI must set FACEGATE_TEST_PYTHON (a Python with requests)");
            eprintln!("skipped the Face Lock Python client: FACEGATE_TEST_PYTHON is not set");
        }
    }

    // Anonymous registration is no oracle: a face already registered is refused without its owner or a score.
    let anonymous = |user: &str, image: &[u8]| {
        let form = reqwest::blocking::multipart::Form::new()
            .text("user_id", user.to_string())
            .part("face_image", reqwest::blocking::multipart::Part::bytes(image.to_vec()).file_name("face.jpg"));
        reqwest::blocking::Client::new().post(format!("{base}/register/")).multipart(form).send()
    };
    let (first_owner, _) = json(anonymous("first-owner", &blair[1])?);
    let refused = anonymous("mallory", &blair[3])?;
    assert_eq!(refused.status().as_u16(), 409);
    let text = refused.text()?;
    assert!(!text.contains("ada") && !text.contains("first-owner") && !text.contains("imilarity"), "{text}");
    assert!(first_owner == 200 || first_owner == 409, "{first_owner}");

    // Keyed (the default): /register/ and /verify/ need a key; tokens reach their own user, keys every user.
    let door = Door::start(&dir.join("keyed"), "");
    let users_key = {
        let spec = json!({"name": "facelock backend", "scopes": ["users"]});
        let (_, created) = json(door.post("/v1/keys").bearer_auth(ADMIN).json(&spec).send()?);
        created["key"].as_str().ok_or("key")?.to_string()
    };
    let form = |user: &str, image: &[u8]| {
        reqwest::blocking::multipart::Form::new()
            .text("user_id", user.to_string())
            .part("face_image", reqwest::blocking::multipart::Part::bytes(image.to_vec()).file_name("face.jpg"))
    };
    let facelock = |path: &str| format!("/compat/facelock{path}");
    fastapi_error(door.post(&facelock("/register/")).multipart(form("bob", &blair[0])).send()?, 401, "unauthorized");
    let (status, bob) = json(
        door.post(&facelock("/register/")).header("x-api-key", &users_key).multipart(form("bob", &blair[0])).send()?,
    );
    assert_eq!((status, bob["success"].as_bool()), (200, Some(true)), "{bob}");
    let chavez = lfw_person("Hugo_Chavez");
    let (status, _) = json(
        door.post(&facelock("/register/"))
            .header("x-api-key", &users_key)
            .multipart(form("hugo", &chavez[0]))
            .send()?,
    );
    assert_eq!(status, 200);
    let no_face = read("samples/insightface/crop/no_face.png");
    fastapi_error(
        door.post(&facelock("/register/"))
            .header("x-api-key", &users_key)
            .multipart(form("nobody", &no_face))
            .send()?,
        400,
        "no_face",
    );
    let verify = |image: &[u8], threshold: &str| {
        let form = reqwest::blocking::multipart::Form::new()
            .text("similarity_threshold", threshold.to_string())
            .part("face_image", reqwest::blocking::multipart::Part::bytes(image.to_vec()).file_name("face.jpg"));
        door.post(&facelock("/verify/")).header("x-api-key", &users_key).multipart(form).send().expect("verify")
    };
    let (status, login) = json(verify(&blair[5], "90.0"));
    assert_eq!((status, login["user_id"].as_str()), (200, Some("bob")), "{login}");
    let token = login["token"].as_str().ok_or("token")?.to_string();
    fastapi_error(verify(&lfw("Abel_Pacheco", 1), "90.0"), 400, "no_match");

    let (_, mine) = json(door.get(&facelock("/users/")).bearer_auth(&token).send()?);
    assert_eq!((mine["count"].as_u64(), mine["users"][0]["user_id"].as_str()), (Some(1), Some("bob")), "{mine}");
    let (_, all) = json(door.get(&facelock("/users/")).bearer_auth(&users_key).send()?);
    assert_eq!(all["count"], 2, "{all}");
    fastapi_error(door.delete(&facelock("/users/hugo/")).bearer_auth(&token).send()?, 403, "insufficient_scope");
    fastapi_error(door.get(&facelock("/users/me/")).bearer_auth("not.a.token").send()?, 401, "invalid_token");
    let (status, gone) = json(door.delete(&facelock("/users/bob/")).bearer_auth(&token).send()?);
    assert_eq!((status, gone["success"].as_bool()), (200, Some(true)), "{gone}");
    fastapi_error(door.get(&facelock("/users/me/")).bearer_auth(&token).send()?, 401, "invalid_token");
    let (status, _) = json(door.delete(&facelock("/users/hugo/")).bearer_auth(&users_key).send()?);
    assert_eq!(status, 200);

    for path in ["/", "/health", "/api-docs"] {
        assert_eq!(door.get(&facelock(path)).send()?.status(), 200, "{path}");
    }
    fastapi_error(door.post(&facelock("/token")).send()?, 400, "not_applicable");
    Ok(())
}

/// The nose challenge's web client calls (`RemoteStarter` / `RemoteVerifier`): start, a frame at a time, verify.
/// A still photo slid toward the target does not pass: the head does not rotate.
fn nose_challenge(dir: &std::path::Path) -> Result<(), Failed> {
    let door = Door::start(dir, "");
    let (status, started) = json(
        door.post("/compat/nose-challenge/challenge/start")
            .bearer_auth(&door.key)
            .json(&json!({"userId": "u-1", "imageWidth": 640, "imageHeight": 480}))
            .send()?,
    );
    assert_eq!(status, 200, "{started}");
    for field in [
        "areaLeft",
        "areaTop",
        "areaWidth",
        "areaHeight",
        "minFaceAreaPercent",
        "noseLeft",
        "noseTop",
        "noseWidth",
        "noseHeight",
    ] {
        assert!(started[field].is_u64(), "{field}: {started}");
    }
    assert_eq!((started["imageWidth"].as_u64(), started["imageHeight"].as_u64()), (Some(640), Some(480)));
    let px = |f: &str| started[f].as_u64().unwrap_or(0) as i64;
    assert!(px("noseLeft") + px("noseWidth") <= 640 && px("noseTop") + px("noseHeight") <= 480, "{started}");
    let id = started["id"].as_str().ok_or("id")?.to_string();
    let token = started["token"].as_str().ok_or("token")?.to_string();

    // The face first at the top edge, out of the area the client draws: a bad frame, not the session's baseline.
    let corner = face_frame((640, 480), 220, (320.0, 70.0))?;
    let body = json!({"timestamp": 1_700_000_000_000i64 - 200, "frameBase64": b64(&corner), "token": token});
    let put = door.c.put(door.served.url(&format!("/compat/nose-challenge/challenge/{id}/frames"))).json(&body);
    assert_eq!(put.send()?.status().as_u16(), 200);
    let (_, view) =
        json(door.c.get(door.served.url(&format!("/v1/liveness/sessions/{id}"))).bearer_auth(&door.key).send()?);
    assert_eq!(view["result"]["frames"]["outsideArea"], 1, "{view}");
    assert_eq!(view["status"], "IN_PROGRESS", "{view}");

    // A still face slid from the middle of the frame to the nose box, one frame each 200 ms.
    let (goal_x, goal_y) = (px("noseLeft") + px("noseWidth") / 2, px("noseTop") + px("noseHeight") / 2);
    let steps = 12;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let nose = (320.0 + (goal_x as f64 - 320.0) * t, 240.0 + (goal_y as f64 - 240.0) * t);
        let jpeg = face_frame((640, 480), 220, nose)?;
        let body = json!({"timestamp": 1_700_000_000_000i64 + i * 200, "frameBase64": b64(&jpeg), "token": token});
        let (status, saved) = json(
            door.c.put(door.served.url(&format!("/compat/nose-challenge/challenge/{id}/frames"))).json(&body).send()?,
        );
        assert_eq!((status, saved), (200, json!({"message": "Frame saved successfully"})));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (status, verdict) =
        json(door.post(&format!("/compat/nose-challenge/{id}/verify")).json(&json!({"token": token})).send()?);
    assert_eq!((status, verdict), (200, json!({"success": false})));

    // A token of another session, or none at all.
    let (_, other) = json(
        door.post("/compat/nose-challenge/start")
            .header("x-api-key", &door.key)
            .json(&json!({"imageWidth": 640, "imageHeight": 480}))
            .send()?,
    );
    let wrong = other["token"].as_str().ok_or("token")?;
    gateway_error(
        door.post(&format!("/compat/nose-challenge/{id}/verify")).json(&json!({"token": wrong})).send()?,
        401,
        "session_token_mismatch",
    );
    gateway_error(
        door.post(&format!("/compat/nose-challenge/{id}/verify")).json(&json!({})).send()?,
        400,
        "invalid_request",
    );
    gateway_error(
        door.post("/compat/nose-challenge/start").json(&json!({"imageWidth": 640, "imageHeight": 480})).send()?,
        401,
        "unauthorized",
    );

    // Opened to anyone, the start reads what it takes (a few options), not the ~46 MB an image route may.
    let open = Door::start(&dir.join("open"), "open_routes = [\"nose_challenge_start\"]\n");
    let small = json!({"imageWidth": 640, "imageHeight": 480});
    let (status, body) = json(open.post("/compat/nose-challenge/start").json(&small).send()?);
    assert!(status == 200 || status == 201, "{status} {body}");
    let padded = json!({"imageWidth": 640, "imageHeight": 480, "padding": "x".repeat(2 << 20)});
    let refused = open.post("/compat/nose-challenge/start").json(&padded).send()?;
    assert_eq!(refused.status().as_u16(), 413);
    Ok(())
}

/// A JPEG frame of `size` pixels, grey, with a Yale face `face_width` pixels wide whose nose lies at `nose`.
fn face_frame(size: (u32, u32), face_width: u32, nose: (f64, f64)) -> Result<Vec<u8>, Failed> {
    let face = image::load_from_memory(&read("yale/images/subject02/subject02_normal.png"))?.to_rgb8();
    let face_height = face_width * face.height() / face.width();
    let face = image::imageops::resize(&face, face_width, face_height, image::imageops::FilterType::Triangle);
    // The face's nose sits near the middle of the crop, a little below.
    let (x, y) = (nose.0 as i64 - i64::from(face_width) / 2, nose.1 as i64 - i64::from(face_height) * 95 / 167);
    let mut canvas = image::RgbImage::from_pixel(size.0, size.1, image::Rgb([128, 128, 128]));
    image::imageops::overlay(&mut canvas, &face, x, y);
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(canvas).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)?;
    Ok(jpeg)
}

/// What callers without a key may hold through the open nose-challenge start: a bounded number of sessions, frames
/// limited per address, and no images kept; a key's sessions keep their reference image, re-encoded as a JPEG of
/// at most 1280 pixels a side whatever was sent.
fn anonymous_sessions_are_bounded(dir: &std::path::Path) -> Result<(), Failed> {
    let config =
        "open_routes = [\"nose_challenge_start\"]\nanonymous_sessions_max = 2\nanonymous_frames_per_second = 0.2\n";
    let door = Door::start(dir, config);
    let size = json!({"imageWidth": 640, "imageHeight": 480});
    let start = |key: Option<&str>| {
        let mut req = door.post("/compat/nose-challenge/start").json(&size);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    let frame = |id: &str, token: &str, jpeg: &[u8]| {
        let body = json!({"timestamp": 1_700_000_000_000i64, "frameBase64": b64(jpeg), "token": token});
        door.c.put(door.served.url(&format!("/compat/nose-challenge/{id}/frames"))).json(&body).send()
    };
    let session = |resp: reqwest::blocking::Response| -> Result<(String, String), Failed> {
        let (status, started) = json(resp);
        assert_eq!(status, 200, "{started}");
        Ok((started["id"].as_str().ok_or("id")?.into(), started["token"].as_str().ok_or("token")?.into()))
    };
    let images = |id: &str| -> Result<Value, Failed> {
        let (status, view) = json(door.get(&format!("/v1/liveness/sessions/{id}")).bearer_auth(ADMIN).send()?);
        assert_eq!(status, 200, "{view}");
        Ok(view["images"].clone())
    };
    let small = face_frame((640, 480), 220, (320.0, 240.0))?;

    let (first, first_token) = session(start(None)?)?;
    session(start(None)?)?;
    let full = gateway_error(start(None)?, 429, "rate_limited");
    assert!(full["message"].as_str().is_some_and(|m| m.contains("without a key")), "{full}");
    // A key's sessions are its own business.
    let (keyed, keyed_token) = session(start(Some(&door.key))?)?;

    // One frame per 5 seconds from this address to sessions without a key; none kept.
    let (status, saved) = json(frame(&first, &first_token, &small)?);
    assert_eq!((status, saved), (200, json!({"message": "Frame saved successfully"})));
    gateway_error(frame(&first, &first_token, &small)?, 429, "rate_limited");
    assert_eq!(images(&first)?, json!([]));

    // The key's session takes its frames from the same address, and keeps its reference: a 2400x1800 frame
    // comes back as a JPEG of 1280x960.
    let big = face_frame((2400, 1800), 800, (1200.0, 900.0))?;
    let (status, saved) = json(frame(&keyed, &keyed_token, &big)?);
    assert_eq!((status, saved), (200, json!({"message": "Frame saved successfully"})));
    assert_eq!(images(&keyed)?, json!([format!("/v1/liveness/sessions/{keyed}/images/reference")]));
    let resp = door.get(&format!("/v1/liveness/sessions/{keyed}/images/reference")).bearer_auth(ADMIN).send()?;
    assert_eq!((resp.status().as_u16(), resp.headers()["content-type"].to_str()?), (200, "image/jpeg"));
    let kept = resp.bytes()?;
    let picture = image::load_from_memory_with_format(&kept, image::ImageFormat::Jpeg)?;
    assert_eq!((picture.width(), picture.height()), (1280, 960));
    assert!(kept.len() < big.len(), "{} bytes kept of {}", kept.len(), big.len());
    Ok(())
}

/// What no route answers under a door (no such path, no such method, a path refused before routing) comes in that
/// door's error shape too; `/v1` keeps its own.
fn unrouted_answers_in_each_doors_shape(dir: &std::path::Path) -> Result<(), Failed> {
    let door = Door::start(dir, "");
    let c = &door.c;
    let url = |path: &str| door.served.url(path);
    fastapi_error(c.get(url("/compat/facelock/no-such-thing")).send()?, 404, "not_found");
    fastapi_error(c.delete(url("/compat/facelock/register/")).send()?, 405, "method_not_allowed");
    fastapi_error(c.get(url("/compat/deepface-liveness/no/such")).send()?, 404, "not_found");
    gateway_error(c.get(url("/compat/liveness-api/no-such-thing")).send()?, 404, "not_found");
    gateway_error(c.put(url("/compat/id-selfie/no-such-thing")).send()?, 404, "not_found");
    let frame = json!({"frameBase64": "", "token": "x"});
    gateway_error(c.put(url("/compat/nose-challenge/%00/frames")).json(&frame).send()?, 400, "invalid_text");
    gateway_error(c.get(url("/compat/liveness-api/session/%00")).send()?, 401, "unauthorized");
    let (status, body) = json(c.get(url("/v1/no-such-thing")).send()?);
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().to_path_buf();
    vec![
        {
            let d = root.join("id-selfie");
            trial!("id_selfie_main_py", move || id_selfie(&d))
        },
        {
            let d = root.join("liveness-api");
            trial!("liveness_api_readme_calls", move || liveness_api(&d))
        },
        {
            let d = root.join("nose-challenge");
            trial!("nose_challenge_client_calls", move || nose_challenge(&d))
        },
        {
            let d = root.join("facelock");
            trial!("facelock_readme_client_and_endpoints", move || facelock(&d))
        },
        {
            let d = root.join("deepface-liveness");
            trial!("deepface_liveness_readme_calls", move || deepface_liveness(&d))
        },
        {
            let d = root.join("anonymous-sessions");
            trial!("anonymous_sessions_are_bounded", move || anonymous_sessions_are_bounded(&d))
        },
        {
            let d = root.join("unrouted");
            trial!("unrouted_answers_in_each_doors_shape", move || unrouted_answers_in_each_doors_shape(&d))
        },
    ]
}
