//! The drop-in front doors (`/compat/<prefix>`), called as their systems' own documentation and client code call
//! them — verbatim paths, bodies and field names — against a real server process on SQLite, with Facegate API keys
//! in the places of their static tokens and `x-api-key`s.

mod support;

use libtest_mimic::{Arguments, Failed, Trial};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};
use support::*;

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
        let served = Served::start_env(dir, None, &[], &[("FACEGATE_ADMIN_KEY", ADMIN)]);
        let c = client();
        let spec = json!({"name": "migrated client", "scopes": ["faces:compare", "liveness"]});
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

fn main() {
    let args = Arguments::from_args();
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().to_path_buf();
    let tests = vec![
        {
            let d = root.join("id-selfie");
            Trial::test("id_selfie_main_py", move || id_selfie(&d))
        },
        {
            let d = root.join("liveness-api");
            Trial::test("liveness_api_readme_calls", move || liveness_api(&d))
        },
    ];
    libtest_mimic::run(&args, tests).exit();
}
