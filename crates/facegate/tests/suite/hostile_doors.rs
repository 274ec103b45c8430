//! The drop-in doors under a hostile caller, against a real `facegate serve`: the routes opened to callers
//! without a key (`open_routes`) under concurrent load and with bodies far beyond what they take, every door's
//! routes with huge or malformed bodies and no key, and, on an open loopback server, requests from foreign pages
//! (`Origin`) and foreign names (`Host`, the DNS-rebinding shape). Each answer is the typed one in the door's own
//! shape (the code in `x-facegate-error-code`); none is a 5xx; the server stays up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::support::*;
use libtest_mimic::{Failed, Trial};
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

const ADMIN: &str = "hostile-doors-admin-key-0123456789";

/// The error code of an answer: the door's header, else `/v1`'s body.
fn answer(resp: reqwest::blocking::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let header = resp.headers().get("x-facegate-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: Value = resp.json().unwrap_or(Value::Null);
    let code = header.or_else(|| body["error"]["code"].as_str().map(str::to_string)).unwrap_or_default();
    (status, code)
}

fn face_form(user: Option<&str>, image: &[u8]) -> Form {
    let form = Form::new().part("face_image", Part::bytes(image.to_vec()).file_name("face.jpg"));
    match user {
        Some(user) => form.text("user_id", user.to_string()),
        None => form,
    }
}

/// A server with an admin key and every open route open, generous per-address limits (the load must reach the
/// handlers), and room for 10 sessions without a key.
fn open_routes_server(dir: &std::path::Path) -> Served {
    std::fs::create_dir_all(dir).expect("data dir");
    let config = "open_routes = [\"facelock_register\", \"face_login\", \"nose_challenge_start\"]\n\
                  ip_rate_per_second = 100.0\nip_burst = 400\nanonymous_sessions_max = 10\n";
    std::fs::write(dir.join("facegate.toml"), config).expect("config");
    let models = testkit::shared_dir().join("models/shared-only").display().to_string();
    Served::start_env(dir, None, &["--models-dir", &models], &[("FACEGATE_ADMIN_KEY", ADMIN)])
}

/// Open routes under load: 8 clients at once, 12 anonymous calls each across the four open routes and the frames
/// of the sessions they start. Everything is answered (successes, refusals, the cap on sessions without a key),
/// nothing with a 5xx.
fn open_routes_under_load(dir: &std::path::Path) -> Result<(), Failed> {
    let s = open_routes_server(dir);
    let people = ["Tony_Blair", "Hugo_Chavez", "Silvio_Berlusconi", "Wen_Jiabao"];
    let faces: Vec<Vec<u8>> = people.iter().flat_map(|p| lfw_person(p).into_iter().take(3)).collect();
    let counter = AtomicUsize::new(0);
    let statuses = Mutex::new(Vec::<(String, u16, String)>::new());
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (s, faces, counter, statuses) = (&s, &faces, &counter, &statuses);
            scope.spawn(move || {
                let c = client();
                for round in 0..12 {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let face = &faces[n % faces.len()];
                    let (what, got) = match round % 4 {
                        0 => {
                            let started = c
                                .post(s.url("/compat/nose-challenge/start"))
                                .json(&json!({"imageWidth": 640, "imageHeight": 480}))
                                .send();
                            match started.map(|r| (r.status().as_u16(), r.json::<Value>().unwrap_or(Value::Null))) {
                                Ok((200, v)) => {
                                    // Its frames, with its token.
                                    let id = v["id"].as_str().unwrap_or_default();
                                    let body = json!({"frameBase64": b64(face), "token": v["token"]});
                                    let url = s.url(&format!("/compat/nose-challenge/{id}/frames"));
                                    ("nose frame", c.put(url).json(&body).send().map(answer))
                                }
                                Ok((status, v)) => ("nose start", Ok((status, v.to_string()))),
                                Err(e) => ("nose start", Err(e)),
                            }
                        }
                        1 => {
                            let user = format!("user-{worker}-{round}");
                            let form = face_form(Some(&user), face);
                            (
                                "facelock register",
                                c.post(s.url("/compat/facelock/register/")).multipart(form).send().map(answer),
                            )
                        }
                        2 => {
                            let form = face_form(None, face);
                            (
                                "facelock verify",
                                c.post(s.url("/compat/facelock/verify/")).multipart(form).send().map(answer),
                            )
                        }
                        _ => {
                            let body = json!({"image": b64(face)});
                            ("face login", c.post(s.url("/v1/auth/face-login")).json(&body).send().map(answer))
                        }
                    };
                    let (status, code) = got.unwrap_or_else(|e| (0, format!("no answer: {e}")));
                    statuses.lock().expect("lock").push((what.to_string(), status, code));
                }
            });
        }
    });
    let statuses = statuses.into_inner().expect("lock");
    let mut tally = std::collections::BTreeMap::<(String, u16), usize>::new();
    for (what, status, _) in &statuses {
        *tally.entry((what.clone(), *status)).or_default() += 1;
    }
    eprintln!("open routes under load: {tally:?}");
    let bad: Vec<_> = statuses.iter().filter(|(_, status, _)| *status == 0 || *status >= 500).collect();
    assert!(bad.is_empty(), "{} of {} answers were 5xx or none: {bad:?}\n{}", bad.len(), statuses.len(), s.log_text());
    let seen = |what: &str, status: u16| statuses.iter().any(|(w, s, _)| w == what && *s == status);
    // The load did reach the handlers: registrations, logins and frames went through, and the cap on sessions
    // without a key (10) turned the rest of the 24 starts away.
    assert!(seen("facelock register", 200), "{statuses:?}");
    assert!(seen("face login", 200) || seen("facelock verify", 200), "{statuses:?}");
    assert!(seen("nose frame", 200), "{statuses:?}");
    assert!(statuses.iter().any(|(w, s, _)| w == "nose start" && *s == 429), "{statuses:?}");
    let (status, _) = json(client().get(s.url("/health")).send()?);
    assert_eq!(status, 200, "still serving");
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
    Ok(())
}

type Send = Box<dyn Fn(&Served) -> RequestBuilder>;

/// Huge and malformed bodies at every door, with no key: each gets its typed answer in the door's shape, the open
/// routes reading no more than they take.
fn big_and_broken_bodies(dir: &std::path::Path) -> Result<(), Failed> {
    let s = open_routes_server(dir);
    let huge = || vec![b'x'; 60 << 20];
    let deep = || format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let post = |path: &'static str| move |s: &Served| client().post(s.url(path));
    let cases: Vec<(&str, (u16, &str), Send)> = vec![
        // Open routes: bodies beyond what they take.
        (
            "nose start, 2 MB of options",
            (413, "payload_too_large"),
            Box::new(move |s| post("/compat/nose-challenge/start")(s).json(&json!({"padding": "x".repeat(2 << 20)}))),
        ),
        (
            "nose start, 60 MB",
            (413, "payload_too_large"),
            Box::new(move |s| {
                post("/compat/nose-challenge/start")(s).header("content-type", "application/json").body(huge())
            }),
        ),
        (
            "nose start, nested 100,000 deep",
            (400, "invalid_json"),
            Box::new(move |s| {
                post("/compat/nose-challenge/start")(s).header("content-type", "application/json").body(deep())
            }),
        ),
        (
            "nose start, absurd size",
            (400, "invalid_request"),
            Box::new(move |s| {
                post("/compat/nose-challenge/start")(s).json(&json!({"imageWidth": 1e12, "imageHeight": -1}))
            }),
        ),
        (
            "nose frame, 60 MB, no such session",
            (413, "payload_too_large"),
            Box::new(move |s| {
                client()
                    .put(s.url("/compat/nose-challenge/00000000-0000-4000-8000-000000000000/frames"))
                    .header("content-type", "application/json")
                    .body(huge())
            }),
        ),
        (
            "facelock register, 60 MB image",
            (413, "payload_too_large"),
            Box::new(move |s| post("/compat/facelock/register/")(s).multipart(face_form(Some("big"), &huge()))),
        ),
        (
            "facelock register, NUL in the user id",
            (400, "invalid_text"),
            Box::new(move |s| {
                post("/compat/facelock/register/")(s).multipart(face_form(Some("nul\u{0}"), &lfw("Abel_Pacheco", 1)))
            }),
        ),
        (
            "facelock register, not an image",
            (400, "invalid_image"),
            Box::new(move |s| {
                post("/compat/facelock/register/")(s).multipart(face_form(Some("text"), b"\xff\xd8\xffnot a jpeg"))
            }),
        ),
        (
            "facelock verify, 60 MB image",
            (413, "payload_too_large"),
            Box::new(move |s| post("/compat/facelock/verify/")(s).multipart(face_form(None, &huge()))),
        ),
        (
            "face login, 60 MB",
            (413, "payload_too_large"),
            Box::new(move |s| post("/v1/auth/face-login")(s).header("content-type", "application/json").body(huge())),
        ),
        // Keyed routes: no key, whatever the body.
        (
            "deepface liveness, 60 MB, no key",
            (401, "unauthorized"),
            Box::new(move |s| {
                post("/compat/deepface-liveness/liveness")(s).header("content-type", "application/json").body(huge())
            }),
        ),
        (
            "liveness-api compare, 60 MB, no key",
            (401, "unauthorized"),
            Box::new(move |s| {
                post("/compat/liveness-api/compare")(s).header("content-type", "application/json").body(huge())
            }),
        ),
        (
            "id-selfie, 60 MB, no key",
            (401, "unauthorized"),
            Box::new(move |s| post("/compat/id-selfie/ips")(s).header("content-type", "application/json").body(huge())),
        ),
        (
            "facelock users, a wrong token",
            (401, "invalid_token"),
            Box::new(move |s| client().get(s.url("/compat/facelock/users/me/")).bearer_auth("a.b.c")),
        ),
    ];
    let mut failures = Vec::new();
    for (name, want, send) in &cases {
        let may_close = &name.contains("60 MB");
        let got = match send(&s).send() {
            Ok(resp) => answer(resp),
            // A body far over the limit (or refused before it is read): the server answers after reading a bounded
            // part of it and closes the connection, so a client still uploading may see the close instead of the
            // answer (the server stays up).
            Err(_) if *may_close && client().get(s.url("/health")).send().is_ok_and(|r| r.status() == 200) => {
                (want.0, want.1.to_string())
            }
            Err(e) => (0, format!("no answer: {e}")),
        };
        if got != (want.0, want.1.to_string()) {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n"),
        s.log_text()
    );
    let (status, _) = json(client().get(s.url("/health")).send()?);
    assert_eq!(status, 200, "still serving");
    Ok(())
}

/// An open loopback server (no admin key) at every door: a page of another origin and a foreign `Host` are
/// refused (403 `foreign_origin` / `foreign_host`) in the door's shape before anything is done; the server's own
/// origin is served.
fn open_server_refuses_foreign_pages(dir: &std::path::Path) -> Result<(), Failed> {
    let models = testkit::shared_dir().join("models/shared-only").display().to_string();
    let s = Served::start(dir, None, &["--models-dir", &models]);
    let own_origin = s.url("");
    let doors: Vec<(&str, &str)> = vec![
        ("POST", "/compat/nose-challenge/start"),
        ("POST", "/compat/facelock/register/"),
        ("POST", "/compat/facelock/verify/"),
        ("GET", "/compat/facelock/users/"),
        ("POST", "/compat/deepface-liveness/liveness"),
        ("POST", "/compat/liveness-api/session"),
        ("POST", "/compat/id-selfie/ips"),
        ("POST", "/v1/keys"),
    ];
    let mut failures = Vec::new();
    for (method, path) in &doors {
        let request = |c: &reqwest::blocking::Client| match *method {
            "GET" => c.get(s.url(path)),
            _ => c.post(s.url(path)).header("content-type", "multipart/form-data; boundary=x").body("--x--\r\n"),
        };
        let c = client();
        for (what, req, want) in [
            ("foreign origin", request(&c).header("origin", "http://evil.example"), (403, "foreign_origin")),
            ("null origin", request(&c).header("origin", "null"), (403, "foreign_origin")),
            ("foreign host", request(&c).header("host", "rebound.example:8080"), (403, "foreign_host")),
        ] {
            let got = req.send().map(answer).unwrap_or_else(|e| (0, format!("no answer: {e}")));
            if got != (want.0, want.1.to_string()) {
                failures.push(format!("{method} {path}, {what}: want {want:?}, got {got:?}"));
            }
        }
        // The server's own page is served (whatever the route then says of the empty form, it is no refusal).
        let (status, code) = request(&c).header("origin", &own_origin).send().map(answer)?;
        if status >= 500 || code.starts_with("foreign_") {
            failures.push(format!("{method} {path}, own origin: {status} {code}"));
        }
    }
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), s.log_text());
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    let tmp = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let t = tmp.clone();
    let load = trial!("open_routes_under_load", move || open_routes_under_load(&t.path().join("load")));
    let t = tmp.clone();
    let bodies = trial!("big_and_broken_bodies", move || big_and_broken_bodies(&t.path().join("bodies")));
    let t = tmp;
    let foreign = trial!("open_server_refuses_foreign_pages", move || open_server_refuses_foreign_pages(
        &t.path().join("foreign")
    ));
    vec![load, bodies, foreign]
}
