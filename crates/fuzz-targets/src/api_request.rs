//! Every endpoint's request parsing, in process: a route, a content type and a body (JSON, multipart, base64
//! images, raw images, query strings) go through the real router, middleware and handlers, with the real models
//! and a SQLite store. No input may panic a handler or get a 500: the client's mistakes are 4xx.
//!
//! Input: byte 0 picks the route, byte 1 the content type; the rest is the body, and when it starts with `?`
//! its first line is the query string.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

const SESSION: &str = "{session}";
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/detect"),
    ("POST", "/v1/compare"),
    ("POST", "/v1/verify-id"),
    ("POST", "/v1/analyze"),
    ("POST", "/v1/collections"),
    ("GET", "/v1/collections"),
    ("GET", "/v1/collections/fz"),
    ("DELETE", "/v1/collections/fz-other"),
    ("POST", "/v1/collections/fz/faces"),
    ("GET", "/v1/collections/fz/faces"),
    ("POST", "/v1/collections/fz/faces/delete"),
    ("GET", "/v1/collections/fz/faces/0195a3c1-0000-7000-8000-000000000000"),
    ("DELETE", "/v1/collections/fz/faces/0195a3c1-0000-7000-8000-000000000000"),
    ("POST", "/v1/collections/fz/faces/0195a3c1-0000-7000-8000-000000000000/search"),
    ("POST", "/v1/collections/fz/search"),
    ("POST", "/v1/liveness/passive"),
    ("POST", "/v1/liveness/check"),
    ("POST", "/v1/liveness/validate"),
    ("POST", "/v1/verify"),
    ("POST", "/v1/liveness/sessions"),
    ("GET", "/v1/liveness/sessions/{session}"),
    ("POST", "/v1/liveness/sessions/{session}/frames"),
    ("POST", "/v1/liveness/sessions/{session}/token"),
    ("GET", "/v1/liveness/sessions/{session}/images/reference"),
    ("POST", "/v1/users"),
    ("GET", "/v1/users"),
    ("GET", "/v1/users/fz-user"),
    ("POST", "/v1/users/fz-user/faces"),
    ("POST", "/v1/auth/face-login"),
    ("POST", "/v1/auth/revoke"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys/aaaaaaaaaaaa"),
    ("POST", "/v1/keys/aaaaaaaaaaaa/aws-credentials"),
    ("GET", "/v1/usage"),
    ("POST", "/"),
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "multipart/form-data; boundary=XfzX",
    "image/jpeg",
    "image/png",
    "application/octet-stream",
    "text/plain",
    "application/x-amz-json-1.1",
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: Router,
    session: String,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let config = server::ServerConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: dir.path().to_path_buf(),
            workers: 1,
            ..server::ServerConfig::default()
        };
        let server = runtime.block_on(server::Server::start(config)).expect("server starts");
        let app = server.app();
        let call = |method: &str, path: &str, body: &str| {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("request");
            let response = runtime.block_on(app.clone().oneshot(request)).expect("infallible");
            runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).expect("body")
        };
        call("POST", "/v1/collections", r#"{"collectionId": "fz"}"#);
        let created = call("POST", "/v1/liveness/sessions", r#"{"challenges": ["blink"]}"#);
        let created = String::from_utf8_lossy(&created);
        let session = created
            .split("\"sessionId\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a session id")
            .to_string();
        // The server keeps running in the runtime's background tasks; requests go to the router directly.
        std::mem::forget(server);
        Harness { runtime, app, session, _dir: dir }
    })
}

/// One input: no panic, and the properties above.
pub fn check(data: &[u8]) {
    let [route, content_type, rest @ ..] = data else { return };
    let h = harness();
    let (method, path) = ROUTES[usize::from(*route) % ROUTES.len()];
    let path = path.replace(SESSION, &h.session);
    let content_type = CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()];
    let (query, body) = match rest.strip_prefix(b"?") {
        Some(after) => {
            let end = after.iter().position(|&b| b == b'\n').unwrap_or(after.len());
            let query: String = after[..end].iter().map(|&b| b as char).filter(|c| c.is_ascii_graphic()).collect();
            (format!("?{query}"), after.get(end + 1..).unwrap_or_default().to_vec())
        }
        None => (String::new(), rest.to_vec()),
    };
    let Ok(request) = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(format!("{path}{query}"))
        .header("content-type", content_type)
        .body(Body::from(body))
    else {
        return;
    };
    let response = h.runtime.block_on(h.app.clone().oneshot(request)).expect("infallible");
    let status = response.status();
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        let body = h.runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap_or_default();
        panic!("{method} {path}{query} ({content_type}) answered 500: {}", String::from_utf8_lossy(&body));
    }
}
