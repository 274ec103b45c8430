//! The text rule at every front door, on SQLite and on PostgreSQL: a NUL or another control character in any
//! text field, query parameter or path id is a 400 `invalid_text` (PostgreSQL cannot store a NUL: it was a 500),
//! for callers with and without credentials; text is stored in Unicode's composed form, so an external id
//! written with a combining accent is found by its composed spelling; `.` and `..` are no ids.

use crate::support::*;
use libtest_mimic::{Failed, Trial};
use reqwest::blocking::{multipart, RequestBuilder};
use serde_json::json;

const ADMIN: &str = "text-input-admin-key-0123456789";

fn admin(req: RequestBuilder) -> RequestBuilder {
    req.bearer_auth(ADMIN)
}

/// Every text field of the `/v1` front door, with `bad` in it: (what, request).
fn requests(s: &Served, bad: &str) -> Vec<(String, RequestBuilder)> {
    let c = client();
    let face = b64(&lfw("Abel_Pacheco", 1));
    let enc = |t: &str| t.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    vec![
        (
            "collection description".into(),
            admin(c.post(s.url("/v1/collections"))).json(&json!({"collectionId": "t1", "description": bad})),
        ),
        ("collection id".into(), admin(c.post(s.url("/v1/collections"))).json(&json!({"collectionId": bad}))),
        (
            "externalId".into(),
            admin(c.post(s.url("/v1/collections/texts/faces"))).json(&json!({"image": face, "externalId": bad})),
        ),
        (
            "metadata value".into(),
            admin(c.post(s.url("/v1/collections/texts/faces"))).json(&json!({"image": face, "metadata": {"k": bad}})),
        ),
        (
            "metadata key".into(),
            admin(c.post(s.url("/v1/collections/texts/faces"))).json(&json!({"image": face, "metadata": {bad: "v"}})),
        ),
        (
            "multipart externalId".into(),
            admin(c.post(s.url("/v1/collections/texts/faces"))).multipart(
                multipart::Form::new()
                    .part("image", multipart::Part::bytes(lfw("Abel_Pacheco", 1)).file_name("a.jpg"))
                    .text("externalId", bad.to_string()),
            ),
        ),
        (
            "externalId filter".into(),
            admin(c.get(s.url(&format!("/v1/collections/texts/faces?externalId={}", enc(bad))))),
        ),
        ("nextToken".into(), admin(c.get(s.url(&format!("/v1/collections?nextToken={}", enc(bad)))))),
        (
            "user fullName".into(),
            admin(c.post(s.url("/v1/users"))).json(&json!({"userId": "u1", "fullName": bad, "image": face})),
        ),
        ("user id in the path".into(), admin(c.get(s.url(&format!("/v1/users/{}", enc(bad)))))),
        ("key name".into(), admin(c.post(s.url("/v1/keys"))).json(&json!({"name": bad, "scopes": ["faces:detect"]}))),
        ("key id in the path".into(), admin(c.delete(s.url(&format!("/v1/keys/{}", enc(bad)))))),
        (
            "session id in the path, any bearer".into(),
            c.post(s.url(&format!("/v1/liveness/sessions/{}/frames", enc(bad))))
                .bearer_auth("fls_anything")
                .json(&json!({"image": face, "sequence": 0, "timestamp": 1})),
        ),
        (
            "face-login livenessSessionId".into(),
            admin(c.post(s.url("/v1/auth/face-login"))).json(&json!({"image": face, "livenessSessionId": bad})),
        ),
    ]
}

fn front_door(database: Option<String>, dir: &std::path::Path) -> Result<(), Failed> {
    let s = Served::start_env(dir, database.as_deref(), &[], &[("FACEGATE_ADMIN_KEY", ADMIN)]);
    let (status, v) =
        json(admin(client().post(s.url("/v1/collections"))).json(&json!({"collectionId": "texts"})).send()?);
    assert_eq!(status, 201, "{v}");
    let mut failures = Vec::new();
    for bad in ["nul\u{0}inside", "escape\u{1b}[31m", "bell\u{7}", "c1\u{85}"] {
        for (what, request) in requests(&s, bad) {
            let (status, v) = json(request.send()?);
            if (status, v["error"]["code"].as_str()) != (400, Some("invalid_text")) {
                failures.push(format!("{what} with {bad:?}: {status} {v}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} refusals missing:\n{}\n{}", failures.len(), failures.join("\n"), s.log_text());

    // Credentials come first: without a key, or with a wrong one, such a path is a 401 like any other.
    let path = s.url("/v1/users/nul%00inside");
    for request in [
        client().get(&path),
        client().get(&path).bearer_auth("fg_wrong"),
        client().get(&path).header("x-api-key", "wrong"),
    ] {
        let (status, v) = json(request.send()?);
        assert_eq!(status, 401, "{v}");
    }

    // Tab and line breaks are text; composed and decomposed accents are one external id.
    let face = b64(&lfw("Abel_Pacheco", 1));
    let (status, v) = json(
        admin(client().post(s.url("/v1/collections/texts/faces")))
            .json(
                &json!({"image": face, "externalId": "Jose\u{301}", "metadata": {"note": "two\tcolumns\r\nand lines"}}),
            )
            .send()?,
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = json(admin(client().get(s.url("/v1/collections/texts/faces?externalId=Jos%C3%A9"))).send()?);
    assert_eq!(status, 200, "{v}");
    let faces = v["faces"].as_array().ok_or("faces")?;
    assert_eq!(faces.len(), 1, "{v}");
    assert_eq!(faces[0]["externalId"], "Jos\u{e9}", "stored composed: {v}");
    assert_eq!(faces[0]["metadata"]["note"], "two\tcolumns\r\nand lines", "{v}");

    // `.` and `..` are no ids.
    for id in [".", ".."] {
        let (status, v) =
            json(admin(client().post(s.url("/v1/collections"))).json(&json!({"collectionId": id})).send()?);
        assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_collection_id")), "{id}: {v}");
        let (status, v) =
            json(admin(client().post(s.url("/v1/users"))).json(&json!({"userId": id, "image": face})).send()?);
        assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_user_id")), "{id}: {v}");
    }
    let (status, _) = json(client().get(s.url("/health")).send()?);
    assert_eq!(status, 200);
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    let tmp = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let t = tmp.clone();
    let mut trials = vec![trial!("sqlite", move || front_door(None, &t.path().join("sqlite")))];
    let t = tmp.clone();
    trials.push(trial!("postgres", move || {
        let pg = postgres();
        let url = pg.create_database("text")?;
        front_door(Some(url), &t.path().join("postgres"))
    }));
    trials
}
