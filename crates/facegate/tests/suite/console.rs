//! The console (`/console`) end to end: Debian's Chromium, driven by playwright-core (web/test/console.mjs),
//! against a real `facegate serve` with an admin key (and a second one in the open loopback mode). Each view is
//! driven with the shared images and checked against what the API answers for the same inputs: the faces drawn,
//! the similarity on the gauge, listed collections, faces, matches, users, liveness sessions with their evidence
//! and images, a key's secret shown once, the usage and metric charts, the API's error messages. Screenshots of
//! every view at 1440 and 360 px go to target/e2e/console-*.png at the repository root.
//!
//! Needs `/usr/bin/chromium` (apt `chromium`) and `npm ci` in web/test; `.ci/run` installs both. Without them the
//! test fails under CI and is skipped (with a message) elsewhere.

use std::path::Path;
use std::process::Command;

use crate::support::*;
use serde_json::{json, Value};

const ADMIN: &str = "console-test-admin-key-0123456789";

fn bearer(req: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
    req.header("authorization", format!("Bearer {ADMIN}"))
}

fn samples(name: &str) -> Vec<u8> {
    read(&format!("samples/face_recognition/{name}"))
}

/// The number of faces the API finds in a sample.
fn faces_in(s: &Served, name: &str) -> usize {
    let (status, body) = json(
        bearer(client().post(s.url("/v1/detect")))
            .multipart(reqwest::blocking::multipart::Form::new().part("image", file_part(name, samples(name))))
            .send()
            .expect("detect"),
    );
    assert_eq!(status, 200, "{body}");
    body["faces"].as_array().map_or(0, Vec::len)
}

/// A blink session that succeeds on challenges alone (this server allows it), keeping one audit image.
fn finished_session(s: &Served) -> (String, u64) {
    let (status, created) = json(
        bearer(client().post(s.url("/v1/liveness/sessions")))
            .json(&json!({"challenges": ["blink"], "auditImagesLimit": 1}))
            .send()
            .expect("create"),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["sessionId"].as_str().expect("id").to_string();
    let stills = ["normal", "sleepy", "noglasses"];
    let frames: Vec<Value> = stills
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"image": b64(&read(&format!("yale/images/subject01/subject01_{c}.png"))), "sequence": i, "timestamp": 100 + 400 * i})
        })
        .collect();
    let (status, body) = json(
        bearer(client().post(s.url(&format!("/v1/liveness/sessions/{id}/frames"))))
            .json(&json!({"frames": frames}))
            .send()
            .expect("frames"),
    );
    assert_eq!((status, body["status"].as_str()), (200, Some("SUCCEEDED")), "{body}");
    (id, stills.len() as u64)
}

fn every_view_of_the_console_shows_what_the_api_answers() {
    let repo = testkit::repo_root();
    let chromium = Path::new("/usr/bin/chromium");
    let playwright = repo.join("web/test/node_modules/playwright-core");
    if !chromium.exists() || !playwright.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the console test: install apt chromium and run npm ci in web/test"
        );
        eprintln!("skipped: needs /usr/bin/chromium and web/test/node_modules (npm ci in web/test)");
        return;
    }
    let shots = repo.join("target/e2e");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // Still photos pass a blink on the challenge alone and on its first frame, which this server allows.
    std::fs::write(
        data.join("facegate.toml"),
        "liveness_min_challenge_frames = 1\nliveness_replay_window_seconds = 0\nliveness_scene_continuity = false\n",
    )
    .expect("config");
    let s =
        Served::start_env(&data, None, &["--liveness-allow-challenge-only", "true"], &[("FACEGATE_ADMIN_KEY", ADMIN)]);
    let open = Served::start(&tmp.path().join("open"), None, &[]);

    // What the API answers for the inputs the console is given.
    let (faces_a, faces_b) = (faces_in(&s, "obama.jpg"), faces_in(&s, "two_people.jpg"));
    assert!(faces_b >= 2, "two_people.jpg shows {faces_b} faces");
    let (status, compared) = json(
        bearer(client().post(s.url("/v1/compare")))
            .multipart(
                reqwest::blocking::multipart::Form::new()
                    .part("source", file_part("a.jpg", samples("obama.jpg")))
                    .part("target", file_part("b.jpg", samples("two_people.jpg")))
                    .text("targetFaces", "all"),
            )
            .send()
            .expect("compare"),
    );
    assert_eq!(status, 200, "{compared}");
    let similarity = ["faceMatches", "unmatchedFaces"]
        .iter()
        .flat_map(|k| compared[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["similarity"].as_f64())
        .fold(f64::MIN, f64::max);
    let invalid_id = expect_error(
        bearer(client().post(s.url("/v1/collections")))
            .json(&json!({"collectionId": "bad id!"}))
            .send()
            .expect("create"),
        400,
        "invalid_collection_id",
    );
    let (status, wrong_key) = json(
        client()
            .get(s.url("/v1/usage"))
            .header("authorization", "Bearer fg_wrong_key_000000000000")
            .send()
            .expect("usage"),
    );
    assert_eq!(status, 401, "{wrong_key}");
    let (session_id, frames) = finished_session(&s);
    // A second session, never started: listed as created.
    let (status, _) =
        json(bearer(client().post(s.url("/v1/liveness/sessions"))).json(&json!({})).send().expect("create"));
    assert_eq!(status, 201);

    let expect = json!({
        "facesA": faces_a,
        "facesB": faces_b,
        "similarity": similarity,
        "threshold": compared["threshold"],
        "invalidIdMessage": invalid_id["error"]["message"],
        "wrongKeyMessage": wrong_key["error"]["message"],
        "sessionId": session_id,
        "sessions": 2,
        "frames": frames,
    });
    let out = Command::new("node")
        .arg(repo.join("web/test/console.mjs"))
        .current_dir(repo.join("web/test"))
        .env("FACEGATE_URL", s.url(""))
        .env("OPEN_URL", open.url(""))
        .env("ADMIN_KEY", ADMIN)
        .env("IMAGES", shared_data("samples/face_recognition"))
        .env("SHOTS", &shots)
        .env("EXPECT", expect.to_string())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    eprintln!("console: {report}");
    assert_eq!(report["failures"], json!([]), "{report}");
    assert!(report["console"].as_array().is_some_and(Vec::is_empty), "no script errors: {report}");
    assert!(report["checks"].as_u64().is_some_and(|n| n >= 40), "{report}");
    assert!(out.status.success(), "{stdout}");
    for view in ["signin", "compare", "analysis", "collections", "users", "sessions", "keys", "open"] {
        for width in [1440, 360] {
            let name = format!("console-{view}-{width}.png");
            assert!(shots.join(&name).metadata().is_ok_and(|m| m.len() > 1000), "{name} saved");
        }
    }
}

/// `GET /v1/liveness/sessions` (added for the console's list): a key sees its own sessions, newest first, in
/// pages; an admin key sees every session; a made-up page token is refused.
fn the_session_list_shows_a_key_its_own_sessions_newest_first_in_pages() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = Served::start_env(tmp.path(), None, &[], &[("FACEGATE_ADMIN_KEY", ADMIN)]);
    let key = |name: &str| {
        let (status, body) = json(
            bearer(client().post(s.url("/v1/keys")))
                .json(&json!({"name": name, "scopes": ["liveness"]}))
                .send()
                .expect("key"),
        );
        assert_eq!(status, 201, "{body}");
        body["key"].as_str().expect("secret").to_string()
    };
    let (a, b) = (key("a"), key("b"));
    let create = |secret: &str| {
        let (status, body) = json(
            client()
                .post(s.url("/v1/liveness/sessions"))
                .bearer_auth(secret)
                .json(&json!({"challenges": ["smile"]}))
                .send()
                .expect("create"),
        );
        assert_eq!(status, 201, "{body}");
        std::thread::sleep(std::time::Duration::from_millis(5));
        body["sessionId"].as_str().expect("id").to_string()
    };
    let mine: Vec<String> = (0..3).map(|_| create(&a)).collect();
    let theirs = create(&b);
    let list = |secret: &str, query: &str| {
        json(client().get(s.url(&format!("/v1/liveness/sessions{query}"))).bearer_auth(secret).send().expect("list"))
    };
    let ids = |body: &Value| -> Vec<String> {
        body["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["sessionId"].as_str().map(String::from))
            .collect()
    };
    let (status, body) = list(&a, "");
    assert_eq!(status, 200, "{body}");
    let newest_first: Vec<String> = mine.iter().rev().cloned().collect();
    assert_eq!(ids(&body), newest_first, "{body}");
    assert_eq!(body["sessions"][0]["status"], "CREATED", "{body}");
    assert_eq!(body["sessions"][0]["challenges"], json!(["smile"]), "{body}");
    assert!(body["sessions"][0]["confidence"].is_null(), "{body}");
    // Pages of one.
    let mut paged = Vec::new();
    let mut query = "?limit=1".to_string();
    loop {
        let (status, body) = list(&a, &query);
        assert_eq!(status, 200, "{body}");
        paged.extend(ids(&body));
        match body["nextToken"].as_str() {
            Some(token) => query = format!("?limit=1&nextToken={token}"),
            None => break,
        }
    }
    assert_eq!(paged, newest_first);
    // Key b sees its one session; the admin key sees all four.
    assert_eq!(ids(&list(&b, "").1), vec![theirs.clone()]);
    let (_, every) = list(ADMIN, "");
    assert_eq!(ids(&every).len(), 4, "{every}");
    expect_error(
        client().get(s.url("/v1/liveness/sessions?nextToken=nonsense")).bearer_auth(&a).send().expect("list"),
        400,
        "invalid_parameter",
    );
    // A key without the liveness scope may not list.
    let (_, reader) = json(
        bearer(client().post(s.url("/v1/keys")))
            .json(&json!({"name": "r", "scopes": ["collections:read"]}))
            .send()
            .expect("key"),
    );
    let reader = reader["key"].as_str().expect("secret");
    expect_error(
        client().get(s.url("/v1/liveness/sessions")).bearer_auth(reader).send().expect("list"),
        403,
        "insufficient_scope",
    );
}

tests![
    every_view_of_the_console_shows_what_the_api_answers,
    the_session_list_shows_a_key_its_own_sessions_newest_first_in_pages,
];
