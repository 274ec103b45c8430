//! Access control against real `facegate serve` processes: the auth matrix (every route × every kind of
//! caller), rate limits and monthly quotas (exactly at their limits, across a restart, across two replicas on
//! PostgreSQL), and users with face login and signed tokens, checked by this test with nothing but the JWKS.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libtest_mimic::{Failed, Trial};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};

const ADMIN: &str = "test-admin-key-0123456789";

/// A server with an admin key, its settings in `facegate.toml` in its data directory.
fn serve(dir: &Path, database: Option<&str>, config: &str) -> Served {
    std::fs::create_dir_all(dir).expect("data dir");
    std::fs::write(dir.join("facegate.toml"), config).expect("config");
    Served::start_env(dir, database, &[], &[("FACEGATE_ADMIN_KEY", ADMIN)])
}

fn with_key(req: RequestBuilder, key: Option<&str>) -> RequestBuilder {
    match key {
        Some(k) => req.bearer_auth(k),
        None => req,
    }
}

/// Creates a key through the admin API; returns (secret key, key id).
fn create_key(c: &Client, s: &Served, spec: Value) -> (String, String) {
    let (status, body) = json(c.post(s.url("/v1/keys")).bearer_auth(ADMIN).json(&spec).send().expect("create key"));
    assert_eq!(status, 201, "{body}");
    let key = body["key"].as_str().expect("key").to_string();
    assert!(key.starts_with("fg_"));
    (key, body["keyId"].as_str().expect("keyId").to_string())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    Public,
    Login,
    UserToken,
    AnyKey,
    Scope(&'static str),
}

use Need::*;

/// Every route and what it needs, as the API promises it.
const ROUTES: &[(&str, &str, Need)] = &[
    ("POST", "/v1/detect", Scope("faces:detect")),
    ("POST", "/v1/compare", Scope("faces:compare")),
    ("POST", "/v1/verify-id", Scope("faces:compare")),
    ("POST", "/v1/collections", Scope("collections:write")),
    ("GET", "/v1/collections", Scope("collections:read")),
    ("GET", "/v1/collections/{collectionId}", Scope("collections:read")),
    ("DELETE", "/v1/collections/{collectionId}", Scope("collections:write")),
    ("POST", "/v1/collections/{collectionId}/faces", Scope("collections:write")),
    ("GET", "/v1/collections/{collectionId}/faces", Scope("collections:read")),
    ("POST", "/v1/collections/{collectionId}/faces/delete", Scope("collections:write")),
    ("GET", "/v1/collections/{collectionId}/faces/{faceId}", Scope("collections:read")),
    ("DELETE", "/v1/collections/{collectionId}/faces/{faceId}", Scope("collections:write")),
    ("GET", "/v1/collections/{collectionId}/faces/{faceId}/image", Scope("collections:read")),
    ("POST", "/v1/collections/{collectionId}/faces/{faceId}/search", Scope("collections:read")),
    ("POST", "/v1/collections/{collectionId}/search", Scope("collections:read")),
    ("POST", "/v1/collections/{collectionId}/users", Scope("collections:write")),
    ("GET", "/v1/collections/{collectionId}/users", Scope("collections:read")),
    ("GET", "/v1/collections/{collectionId}/users/{userId}", Scope("collections:read")),
    ("DELETE", "/v1/collections/{collectionId}/users/{userId}", Scope("collections:write")),
    ("POST", "/v1/collections/{collectionId}/users/{userId}/associate", Scope("collections:write")),
    ("POST", "/v1/collections/{collectionId}/users/{userId}/disassociate", Scope("collections:write")),
    ("POST", "/v1/collections/{collectionId}/users/{userId}/search", Scope("collections:read")),
    ("POST", "/v1/collections/{collectionId}/faces/{faceId}/search-users", Scope("collections:read")),
    ("POST", "/v1/collections/{collectionId}/search-users", Scope("collections:read")),
    ("POST", "/v1/liveness/passive", Scope("liveness")),
    ("POST", "/v1/liveness/check", Scope("liveness")),
    ("POST", "/v1/analyze", Scope("faces:detect")),
    ("POST", "/v1/liveness/sessions", Scope("liveness")),
    ("GET", "/v1/liveness/sessions", Scope("liveness")),
    ("POST", "/v1/liveness/validate", Scope("liveness")),
    ("POST", "/v1/verify", Scope("faces:compare")),
    ("GET", "/v1/liveness/sessions/{sessionId}", Scope("liveness")),
    ("DELETE", "/v1/liveness/sessions/{sessionId}", Scope("liveness")),
    ("POST", "/v1/liveness/sessions/{sessionId}/frames", Scope("liveness")),
    ("POST", "/v1/liveness/sessions/{sessionId}/token", Scope("liveness")),
    ("GET", "/v1/liveness/sessions/{sessionId}/images/{name}", Scope("liveness")),
    ("POST", "/v1/users", Scope("users")),
    ("GET", "/v1/users", Scope("users")),
    ("GET", "/v1/users/{userId}", Scope("users")),
    ("DELETE", "/v1/users/{userId}", Scope("users")),
    ("POST", "/v1/users/{userId}/faces", Scope("users")),
    ("GET", "/v1/users/me", UserToken),
    ("POST", "/v1/auth/face-login", Login),
    ("POST", "/v1/auth/logout", UserToken),
    ("POST", "/v1/auth/revoke", Scope("users")),
    ("POST", "/v1/auth/signing-keys/rotate", Scope("admin")),
    ("GET", "/.well-known/jwks.json", Public),
    ("POST", "/v1/keys", Scope("admin")),
    ("GET", "/v1/keys", Scope("admin")),
    ("GET", "/v1/keys/{keyId}", Scope("admin")),
    ("DELETE", "/v1/keys/{keyId}", Scope("admin")),
    ("POST", "/v1/keys/{keyId}/aws-credentials", Scope("admin")),
    ("GET", "/v1/usage", AnyKey),
    ("GET", "/health", Public),
    ("GET", "/ready", Public),
    ("GET", "/metrics", Scope("metrics")),
    ("GET", "/openapi.json", Public),
    ("GET", "/docs", Public),
    ("POST", "/compat/id-selfie/ips", Scope("faces:compare")),
    ("POST", "/compat/id-selfie/{stage}/ips", Scope("faces:compare")),
    ("POST", "/compat/liveness-api/session", Scope("liveness")),
    ("GET", "/compat/liveness-api/session/{sessionId}", Scope("liveness")),
    ("POST", "/compat/liveness-api/compare", Scope("faces:compare")),
    ("GET", "/compat/deepface-liveness/health", Public),
    ("POST", "/compat/deepface-liveness/detect", Scope("faces:detect")),
    ("POST", "/compat/deepface-liveness/liveness", Scope("liveness")),
    ("POST", "/compat/deepface-liveness/antispoof", Scope("liveness")),
    ("POST", "/compat/deepface-liveness/face-match", Scope("faces:compare")),
    ("POST", "/compat/deepface-liveness/smile-check", Scope("faces:detect")),
    ("POST", "/compat/deepface-liveness/blink-check", Scope("faces:detect")),
    ("POST", "/compat/deepface-liveness/verify", Scope("faces:compare")),
    ("POST", "/compat/deepface-liveness/head-pose", Scope("liveness")),
    ("POST", "/compat/deepface-liveness/head-turn-check", Scope("liveness")),
    ("POST", "/compat/deepface-liveness/challenge/validate", Scope("liveness")),
    ("POST", "/compat/deepface-liveness/challenge/validate-multi", Scope("liveness")),
    ("POST", "/compat/deepface-liveness/challenge/session", Scope("liveness")),
    ("GET", "/compat/deepface-liveness/challenge/session/{session_id}", Scope("liveness")),
    ("POST", "/compat/deepface-liveness/challenge/complete", Scope("liveness")),
    ("GET", "/compat/facelock/", Public),
    ("GET", "/compat/facelock/health", Public),
    ("GET", "/compat/facelock/api-docs", Public),
    ("POST", "/compat/facelock/token", Public),
    ("POST", "/compat/facelock/register/", Scope("users")),
    ("POST", "/compat/facelock/verify/", Scope("users")),
    ("GET", "/compat/facelock/users/me/", UserToken),
    ("GET", "/compat/facelock/users/", Scope("users")),
    ("DELETE", "/compat/facelock/users/{user_id}/", Scope("users")),
    ("POST", "/compat/nose-challenge/start", Scope("liveness")),
    // The session token travels in the body: the handler checks it (the nose-challenge test covers it).
    ("PUT", "/compat/nose-challenge/{id}/frames", Public),
    ("POST", "/compat/nose-challenge/{id}/verify", Public),
];

const ALL_BUT_ADMIN: [&str; 7] =
    ["faces:detect", "faces:compare", "collections:read", "collections:write", "users", "liveness", "metrics"];

fn request(c: &Client, s: &Served, method: &str, path: &str, collection: &str, key: Option<&str>) -> Response {
    let path = path
        .replace("{collectionId}", collection)
        .replace("{faceId}", "0195a3c1-0000-7000-8000-000000000000")
        .replace("{userId}", "nobody")
        .replace("{user_id}", "nobody")
        .replace("{keyId}", "aaaaaaaaaaaa")
        .replace("{sessionId}", "0195a3c1-0000-4000-8000-000000000000")
        .replace("{name}", "reference")
        .replace("{stage}", "prod")
        .replace("{session_id}", "0195a3c1-0000-4000-8000-000000000000")
        .replace("{id}", "0195a3c1-0000-4000-8000-000000000000");
    let req = match method {
        "GET" => c.get(s.url(&path)),
        "DELETE" => c.delete(s.url(&path)),
        "PUT" => c.put(s.url(&path)).header("content-type", "application/json").body("{}"),
        _ => c.post(s.url(&path)).header("content-type", "application/json").body("{}"),
    };
    with_key(req, key).send().expect("request")
}

/// The status and Facegate's error code: from the `/v1` body, or from the header of the drop-in front doors, whose
/// bodies have their own systems' shapes.
fn error_code(resp: Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let header = resp.headers().get("x-facegate-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: Value = resp.json().unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().map(str::to_string).or(header).unwrap_or_default();
    (status, code)
}

fn auth_matrix(dir: &Path) -> Result<(), Failed> {
    let s = serve(dir, None, "ip_burst = 100000\n");
    let c = client();
    for id in ["matrix-a", "matrix-b"] {
        let r = c.post(s.url("/v1/collections")).bearer_auth(ADMIN).json(&json!({"collectionId": id})).send()?;
        assert_eq!(r.status().as_u16(), 201);
    }
    let (scoped, _) = create_key(
        &c,
        &s,
        json!({"name": "scoped", "scopes": ALL_BUT_ADMIN, "collections": ["matrix-a", "matrix-none"]}),
    );
    let (metrics_only, _) = create_key(&c, &s, json!({"name": "metrics", "scopes": ["metrics"]}));
    let (detect_only, _) = create_key(&c, &s, json!({"name": "detect", "scopes": ["faces:detect"]}));
    let (revoked, revoked_id) = create_key(&c, &s, json!({"name": "revoked", "scopes": ["admin"]}));
    let r = c.delete(s.url(&format!("/v1/keys/{revoked_id}"))).bearer_auth(ADMIN).send()?;
    assert_eq!(json(r).1["active"], json!(false));
    let (expired, _) = create_key(&c, &s, json!({"name": "expired", "scopes": ["admin"], "expiresInSeconds": 1}));
    std::thread::sleep(Duration::from_millis(1100));
    let forged = format!("fg_{}_{}", &scoped[3..15], URL_SAFE_NO_PAD.encode([9u8; 32]));

    // The table covers every documented route, and nothing undocumented hides behind it.
    let (_, doc) = json(c.get(s.url("/openapi.json")).send()?);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .ok_or("no paths")?
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().into_iter().flatten().map(move |(m, _)| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|(_, p, _)| !["/openapi.json", "/docs"].contains(p))
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, listed, "the matrix and the OpenAPI document list the same routes");

    let mut checked = 0;
    for &(method, path, need) in ROUTES {
        let case = |key: Option<&str>, collection: &str| request(&c, &s, method, path, collection, key);
        let denied = |key: Option<&str>, collection: &str, want: (u16, &str), who: &str| {
            let got = error_code(case(key, collection));
            assert_eq!((got.0, got.1.as_str()), want, "{method} {path} with {who}");
        };
        let allowed = |key: Option<&str>, who: &str| {
            let status = case(key, "matrix-none").status().as_u16();
            assert!(status != 401 && status != 403 && status < 500, "{method} {path} with {who}: {status}");
        };
        let bound = path.contains("{collectionId}");
        match need {
            Public => {
                for (key, who) in [(None, "no key"), (Some("garbage"), "a wrong key"), (Some(ADMIN), "admin")] {
                    allowed(key, who);
                }
            }
            UserToken => {
                // API keys are not user tokens: only a face-login token opens these (see the users case).
                for (key, who) in [(None, "no key"), (Some(ADMIN), "admin"), (Some(scoped.as_str()), "a key")] {
                    denied(key, "x", (401, "invalid_token"), who);
                }
            }
            Login | AnyKey | Scope(_) => {
                // Face login without a key only where `open_routes` lists `face_login` (the users case opens it).
                denied(None, "matrix-a", (401, "unauthorized"), "no key");
                denied(Some("garbage"), "matrix-a", (401, "invalid_key"), "garbage");
                denied(Some(&forged), "matrix-a", (401, "invalid_key"), "a forged key");
                denied(Some(&revoked), "matrix-a", (401, "key_revoked"), "a revoked key");
                denied(Some(&expired), "matrix-a", (401, "key_expired"), "an expired key");
                allowed(Some(ADMIN), "admin");
                if let Scope(scope) = need {
                    let lacking = if scope == "metrics" { &detect_only } else { &metrics_only };
                    denied(Some(lacking), "matrix-a", (403, "insufficient_scope"), "a key without the scope");
                    if scope == "admin" {
                        denied(Some(&scoped), "matrix-none", (403, "insufficient_scope"), "every scope but admin");
                    } else {
                        allowed(Some(&scoped), "the right scope");
                    }
                    if bound {
                        denied(Some(&scoped), "matrix-b", (403, "collection_forbidden"), "another collection");
                        // Path ids that are not collection ids never reach a collection.
                        denied(Some(ADMIN), "..%2Fetc", (404, "collection_not_found"), "a traversal id");
                    }
                } else {
                    allowed(Some(&scoped), "any key");
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, ROUTES.len());

    // Collections outside a key's list are invisible to it, and cannot be created with it.
    let (_, listed) = json(c.get(s.url("/v1/collections")).bearer_auth(&scoped).send()?);
    let ids: Vec<&str> =
        listed["collections"].as_array().ok_or("list")?.iter().filter_map(|c| c["collectionId"].as_str()).collect();
    assert_eq!(ids, ["matrix-a"]);
    let r = c.post(s.url("/v1/collections")).bearer_auth(&scoped).json(&json!({"collectionId": "matrix-c"})).send()?;
    assert_eq!(error_code(r), (403, "collection_forbidden".into()));
    // `x-api-key` works as well as the bearer header; a 401 says how to authenticate.
    let r = c.get(s.url("/v1/collections")).header("x-api-key", &scoped).send()?;
    assert_eq!(r.status().as_u16(), 200);
    let r = c.get(s.url("/v1/collections")).send()?;
    assert!(r.headers().get("www-authenticate").is_some());
    // Security headers on every answer.
    for path in ["/health", "/v1/collections", "/nope"] {
        let r = c.get(s.url(path)).bearer_auth(ADMIN).send()?;
        let h = r.headers();
        assert_eq!(h.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]), "{path}");
        assert_eq!(h.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]), "{path}");
        assert_eq!(h.get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{path}");
        assert!(h.get("content-security-policy").is_some(), "{path}");
        assert!(h.get("access-control-allow-origin").is_none(), "no CORS unless configured");
    }
    // A refusal that comes before the body is read still reaches a client that is sending a large body: the
    // server reads and drops the body before answering (closing with unread bytes resets the connection, and
    // the client would see no 401 at all). 8 MB, well past what the kernel's buffers hold, several times over.
    for _ in 0..3 {
        let big = vec![0x55u8; 8 << 20];
        let r = c.post(s.url("/v1/compare")).header("content-type", "image/jpeg").body(big).send()?;
        assert_eq!(error_code(r), (401, "unauthorized".to_string()));
        let big = vec![0x55u8; 8 << 20];
        let r = c.post(s.url("/v1/compare")).bearer_auth(&metrics_only).body(big).send()?;
        assert_eq!(error_code(r).0, 403);
    }
    // The log never holds a secret.
    let log = s.log_text();
    for secret in [ADMIN, scoped.as_str(), &scoped[16..], metrics_only.as_str(), forged.as_str()] {
        assert!(!log.contains(secret), "a secret is in the log");
    }
    Ok(())
}

fn rate_limits_quotas_and_addresses(dir: &Path) -> Result<(), Failed> {
    let config = "ip_burst = 4\nip_rate_per_second = 0.05\ncors_origins = [\"https://app.example\"]\n";
    let s = serve(dir, None, config);
    let c = client();
    let (limited, _) =
        create_key(&c, &s, json!({"name": "rate", "scopes": ["collections:read"], "ratePerSecond": 0.5, "burst": 3}));
    let list = |key: &str| c.get(s.url("/v1/collections")).bearer_auth(key).send().expect("list");
    for i in 0..3 {
        assert_eq!(list(&limited).status().as_u16(), 200, "request {i} is within the burst");
    }
    let r = list(&limited);
    let retry: u64 = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).ok_or("Retry-After")?;
    assert_eq!(error_code(r), (429, "rate_limited".into()));
    assert_eq!(retry, 2, "one token comes back in 2 s at 0.5/s");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(list(&limited).status().as_u16(), 200, "the bucket refilled");
    assert_eq!(list(&limited).status().as_u16(), 429);

    let (quota, quota_id) =
        create_key(&c, &s, json!({"name": "quota", "scopes": ["collections:read"], "monthlyQuota": 5}));
    for i in 0..5 {
        assert_eq!(list(&quota).status().as_u16(), 200, "request {i} is within the quota");
    }
    let check_exceeded = |s: &Served| {
        let r = c.get(s.url("/v1/collections")).bearer_auth(&quota).send().expect("list");
        assert!(r.headers().get("retry-after").is_some());
        assert_eq!(error_code(r), (429, "quota_exceeded".into()));
        let (status, usage) = json(c.get(s.url("/v1/usage")).bearer_auth(&quota).send().expect("usage"));
        assert_eq!(status, 200, "usage is readable with the quota spent: {usage}");
        assert_eq!((usage["requests"].as_u64(), usage["monthlyQuota"].as_u64()), (Some(5), Some(5)));
        assert_eq!(usage["remaining"], json!(0));
        assert!(usage["resetsAt"].as_str().is_some_and(|t| t.ends_with("-01T00:00:00.000Z")), "{usage}");
    };
    check_exceeded(&s);
    // Admins read any key's usage; others only their own.
    let (_, usage) = json(c.get(s.url(&format!("/v1/usage?keyId={quota_id}"))).bearer_auth(ADMIN).send()?);
    assert_eq!(usage["requests"], json!(5));
    let (other, _) = create_key(&c, &s, json!({"name": "other", "scopes": ["collections:read"]}));
    let r = c.get(s.url(&format!("/v1/usage?keyId={quota_id}"))).bearer_auth(&other).send()?;
    assert_eq!(error_code(r), (403, "insufficient_scope".into()));

    // CORS for the configured origin only.
    let r = c.get(s.url("/health")).header("origin", "https://app.example").send()?;
    assert_eq!(r.headers().get("access-control-allow-origin").map(|v| v.as_bytes()), Some(&b"https://app.example"[..]));
    let r = c.get(s.url("/health")).header("origin", "https://evil.example").send()?;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // A preflight for each method the routes answer, PUT included (the nose challenge's frames).
    for method in ["GET", "POST", "PUT", "DELETE"] {
        let r = c
            .request(reqwest::Method::OPTIONS, s.url("/compat/nose-challenge/challenge/x/frames"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", method)
            .send()?;
        let allowed = r.headers().get("access-control-allow-methods").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(allowed.split(',').any(|m| m.trim() == method), "{method} not in the preflight's {allowed:?}");
    }

    // The quota holds across a restart (it is counted in the store).
    drop(s);
    let s = serve(dir, None, config);
    check_exceeded(&s);

    // Failed authentication and logins spend the client address's tokens: the fifth attempt is refused.
    for i in 0..4 {
        let r = c.get(s.url("/v1/collections")).bearer_auth("fg_aaaaaaaaaaaa_guess").send()?;
        assert_eq!(r.status().as_u16(), 401, "attempt {i}");
    }
    let r = c.get(s.url("/v1/collections")).bearer_auth("fg_aaaaaaaaaaaa_guess").send()?;
    assert_eq!(error_code(r), (429, "rate_limited".into()));
    let r = c
        .post(s.url("/v1/auth/face-login"))
        .header("content-type", "image/jpeg")
        .body(lfw_person("Tony_Blair")[0].clone())
        .send()?;
    assert_eq!(error_code(r), (429, "rate_limited".into()));
    let r = c.get(s.url("/v1/users/me")).bearer_auth("not.a.token").send()?;
    assert_eq!(error_code(r), (429, "rate_limited".into()), "token guessing is limited too");
    // A valid key is not limited by the address's failures, on any route.
    assert_eq!(c.get(s.url("/v1/collections")).bearer_auth(ADMIN).send()?.status().as_u16(), 200);
    let r = c.post(s.url("/v1/auth/face-login")).bearer_auth(ADMIN).json(&json!({})).send()?;
    assert_eq!(error_code(r), (400, "missing_image".into()));

    // Guessing liveness session ids with made-up session tokens spends the address's tokens too (a fresh
    // process: the address budget is kept in memory).
    drop(s);
    let s = serve(dir, None, config);
    let guess = |i: usize| {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        c.post(s.url(&format!("/v1/liveness/sessions/{id}/frames")))
            .bearer_auth(format!("fls_{id}_guess"))
            .json(&json!({"image": "AAAA", "sequence": 0, "timestamp": 1}))
            .send()
            .expect("guess")
    };
    for i in 0..4 {
        assert_eq!(error_code(guess(i)), (404, "session_not_found".into()), "guess {i}");
    }
    assert_eq!(error_code(guess(4)), (429, "rate_limited".into()), "the fifth guess");
    Ok(())
}

fn quota_and_revocation_across_replicas(dir: &Path, postgres: &testkit::Postgres) -> Result<(), Failed> {
    let url = postgres.create_database("access")?;
    let a = serve(&dir.join("a"), Some(&url), "");
    let b = serve(&dir.join("b"), Some(&url), "");
    let c = client();
    let (key, key_id) =
        create_key(&c, &a, json!({"name": "shared", "scopes": ["collections:read"], "monthlyQuota": 6}));
    let list = |s: &Served| c.get(s.url("/v1/collections")).bearer_auth(&key).send().expect("list").status().as_u16();
    for i in 0..6 {
        let on = if i % 2 == 0 { &a } else { &b };
        assert_eq!(list(on), 200, "request {i}");
    }
    assert_eq!(list(&a), 429);
    assert_eq!(list(&b), 429, "the other replica counts the same quota");
    let (_, usage) = json(c.get(s_url(&b, "/v1/usage")).bearer_auth(&key).send()?);
    assert_eq!(usage["requests"], json!(6));

    // A key revoked on one replica stops working on the other at once.
    let (other, other_id) = create_key(&c, &a, json!({"name": "other", "scopes": ["collections:read"]}));
    assert_eq!(c.get(b.url("/v1/collections")).bearer_auth(&other).send()?.status().as_u16(), 200);
    assert_eq!(c.delete(b.url(&format!("/v1/keys/{other_id}"))).bearer_auth(ADMIN).send()?.status().as_u16(), 200);
    let r = c.get(a.url("/v1/collections")).bearer_auth(&other).send()?;
    assert_eq!(error_code(r), (401, "key_revoked".into()));
    let _ = key_id;
    Ok(())
}

fn s_url(s: &Served, path: &str) -> String {
    s.url(path)
}

fn register(c: &Client, s: &Served, user: &str, images: &[&Vec<u8>]) -> (u16, Value) {
    let images: Vec<String> = images.iter().map(|i| b64(i)).collect();
    let body = json!({"userId": user, "fullName": format!("{user} test"), "email": format!("{user}@example.com"), "images": images});
    json(c.post(s.url("/v1/users")).bearer_auth(ADMIN).json(&body).send().expect("register"))
}

fn login(c: &Client, s: &Served, image: &[u8], threshold: Option<f32>) -> (u16, Value) {
    let mut body = json!({"image": b64(image)});
    if let Some(t) = threshold {
        body["threshold"] = json!(t);
    }
    json(c.post(s.url("/v1/auth/face-login")).json(&body).send().expect("login"))
}

fn me(c: &Client, s: &Served, token: &str) -> (u16, Value) {
    json(c.get(s.url("/v1/users/me")).bearer_auth(token).send().expect("me"))
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn encode_part(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"))
}

/// Checks a token the way another service would: with the published JWKS only (this test's own Ed25519
/// check, independent of the server's code path; and PyJWT when a Python with it is configured).
fn verify_with_jwks(jwks: &Value, token: &str) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, sig] = parts[..] else { return Err("not three parts".into()) };
    let header = decode_part(h);
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .ok_or("kid not in the JWKS")?;
    if header["alg"] != "EdDSA" || jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
        return Err(format!("unexpected key or algorithm: {header} {jwk}"));
    }
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().ok_or("x")?).map_err(|e| e.to_string())?;
    let key = auth::VerifyingKey::ed25519_from_public("k".into(), &x).map_err(|e| e.to_string())?;
    let v = auth::Validation { issuer: "facegate".into(), audience: "facegate".into(), now: now_secs(), leeway: 0 };
    let _ = sig;
    auth::jwt::verify(token, &v, |_| Some(key.clone())).map_err(|e| e.to_string())?;
    Ok(decode_part(p))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// PyJWT, when `FACEGATE_TEST_PYTHON` names a Python that has it (CI sets this up; see `.ci/run`).
fn pyjwt_verifies(jwks: &Value, token: &str) -> Option<Result<String, String>> {
    let python = std::env::var("FACEGATE_TEST_PYTHON").ok()?;
    let script = testkit::repo_root().join("crates/facegate/tests/verify_jwt.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .env("JWKS", jwks.to_string())
        .env("TOKEN", token)
        .output()
        .map_err(|e| e.to_string());
    Some(out.and_then(|o| {
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).to_string())
        }
    }))
}

fn users_and_face_login(dir: &Path) -> Result<(), Failed> {
    let s = serve(dir, None, "ip_burst = 1000\nmetrics_public = true\nopen_routes = [\"face_login\"]\n");
    let c = client();
    assert_eq!(c.get(s.url("/metrics")).send()?.status().as_u16(), 200, "metrics_public opens /metrics");
    assert_eq!(c.get(s.url("/v1/users")).send()?.status().as_u16(), 401, "and nothing else");
    let blair = lfw_person("Tony_Blair");
    let chavez = lfw_person("Hugo_Chavez");
    let stranger = lfw_person("Bill_Gates");

    let (status, alice) = register(&c, &s, "alice", &[&blair[0], &blair[1], &blair[2]]);
    assert_eq!(status, 201, "{alice}");
    assert_eq!(alice["faceCount"], json!(3));
    assert_eq!(alice["faces"].as_array().map(Vec::len), Some(3));
    let (status, bob) = register(&c, &s, "bob", &[&chavez[0]]);
    assert_eq!(status, 201, "{bob}");

    // One face, one user: Blair's face under another name is refused with the owner's id.
    let (status, err) = register(&c, &s, "mallory", &[&blair[3]]);
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("face_already_registered")), "{err}");
    assert_eq!(err["error"]["details"]["userId"], json!("alice"));
    // One registration shows one person.
    let (status, err) = register(&c, &s, "carol", &[&stranger[0], &chavez[1]]);
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("face_mismatch")), "{err}");
    assert_eq!(register(&c, &s, "alice", &[&stranger[0]]).0, 409, "user ids are unique");
    assert_eq!(register(&c, &s, "me", &[&stranger[0]]).1["error"]["code"], json!("invalid_user_id"));
    // Nobody adds their face to someone else's account.
    let add = |user: &str, image: &[u8]| {
        json(
            c.post(s.url(&format!("/v1/users/{user}/faces")))
                .bearer_auth(ADMIN)
                .json(&json!({"image": b64(image)}))
                .send()
                .expect("add"),
        )
    };
    assert_eq!(add("bob", &stranger[1]).1["error"]["code"], json!("face_mismatch"));
    let (status, added) = add("bob", &chavez[2]);
    assert_eq!(status, 201, "{added}");
    assert_eq!(add("nobody", &chavez[2]).0, 404);

    // Listing pages through users in id order.
    let (_, page) = json(c.get(s.url("/v1/users?limit=1")).bearer_auth(ADMIN).send()?);
    assert_eq!(page["users"][0]["userId"], json!("alice"));
    let next = page["nextToken"].as_str().ok_or("nextToken")?;
    let (_, page) = json(c.get(s.url(&format!("/v1/users?limit=1&nextToken={next}"))).bearer_auth(ADMIN).send()?);
    assert_eq!((page["users"][0]["userId"].as_str(), page["users"][0]["faceCount"].as_u64()), (Some("bob"), Some(2)));
    assert!(page.get("nextToken").is_none());

    // Face login with a photo not registered.
    let (status, session) = login(&c, &s, &blair[5], None);
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["userId"], json!("alice"));
    assert!(session["similarity"].as_f64().is_some_and(|v| v >= 80.0), "{session}");
    let token = session["accessToken"].as_str().ok_or("token")?.to_string();
    let claims = decode_part(token.split('.').nth(1).ok_or("payload")?);
    assert_eq!(claims["sub"], json!("alice"));
    assert_eq!(claims["exp"].as_i64().zip(claims["iat"].as_i64()).map(|(e, i)| e - i), Some(1800));
    for claim in ["iss", "aud", "jti", "similarity"] {
        assert!(claims.get(claim).is_some(), "claim {claim}: {claims}");
    }
    let (status, who) = me(&c, &s, &token);
    assert_eq!(
        (status, who["userId"].as_str(), who["email"].as_str()),
        (200, Some("alice"), Some("alice@example.com"))
    );
    let (_, jwks) = json(c.get(s.url("/.well-known/jwks.json")).send()?);
    let verified = verify_with_jwks(&jwks, &token)?;
    assert_eq!(verified["sub"], json!("alice"));
    if let Some(py) = pyjwt_verifies(&jwks, &token) {
        assert_eq!(py?, "alice", "PyJWT verifies the token with the JWKS");
    } else if std::env::var_os("CI").is_some() {
        return Err("CI must set FACEGATE_TEST_PYTHON (a Python with PyJWT) for the independent check".into());
    }

    // Strangers, too-low thresholds and images without a face get no token.
    assert_eq!(login(&c, &s, &stranger[2], None).1["error"]["code"], json!("no_match"));
    assert_eq!(login(&c, &s, &blair[6], Some(50.0)).1["error"]["code"], json!("invalid_parameter"));
    // Two people of about the same size: which one logs in is no coin toss, the image is refused; a face in the
    // background (half the size) does not stop the person in front from logging in.
    let side_by_side = |stranger_side: u32| -> Result<Vec<u8>, Failed> {
        let front = image::load_from_memory(&blair[5])?.to_rgb8();
        let other = image::load_from_memory(&stranger[2])?.to_rgb8();
        let other =
            image::imageops::resize(&other, stranger_side, stranger_side, image::imageops::FilterType::Triangle);
        let mut canvas = image::RgbImage::from_pixel(500, 250, image::Rgb([120, 120, 120]));
        image::imageops::overlay(&mut canvas, &front, 0, 0);
        image::imageops::overlay(&mut canvas, &other, 250, i64::from(250 - stranger_side));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(canvas)
            .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)?;
        Ok(jpeg)
    };
    let (status, two) = login(&c, &s, &side_by_side(250)?, None);
    assert_eq!((status, two["error"]["code"].as_str()), (422, Some("multiple_faces")), "{two}");
    let (status, behind) = login(&c, &s, &side_by_side(120)?, None);
    assert_eq!((status, behind["userId"].as_str()), (200, Some("alice")), "{behind}");

    // Forged tokens are refused: a changed payload, an unknown kid, alg none, an expired one.
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = decode_part(parts[1]);
    payload["sub"] = json!("bob");
    let changed = format!("{}.{}.{}", parts[0], encode_part(&payload), parts[2]);
    let mut header = decode_part(parts[0]);
    header["kid"] = json!("not-a-key");
    let wrong_kid = format!("{}.{}.{}", encode_part(&header), parts[1], parts[2]);
    let none = format!("{}.{}.", encode_part(&json!({"alg": "none", "typ": "JWT"})), encode_part(&payload));
    let expired = {
        // Signed with the server's own current key (read from its store), but past its expiry.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let store =
            runtime.block_on(store::Store::open(&format!("sqlite://{}", dir.join("facegate.db").display()), 1))?;
        let keys = runtime.block_on(store.signing_keys(0))?;
        let current = keys.iter().find(|k| k.retired_at.is_none()).ok_or("no current key")?;
        let seed: [u8; 32] = current.private_key.as_slice().try_into()?;
        let key = auth::SigningKey::ed25519_from_seed(current.kid.clone(), seed);
        let mut claims: auth::Claims = serde_json::from_value(decode_part(parts[1]))?;
        claims.iat -= 4000;
        claims.exp = now_secs() - 120;
        let t = key.sign(&claims)?;
        assert!(me(&c, &s, &key.sign(&auth::Claims { exp: now_secs() + 60, ..claims.clone() })?).0 == 200, "control");
        t
    };
    for (forged, what) in
        [(&changed, "changed payload"), (&wrong_kid, "wrong kid"), (&none, "alg none"), (&expired, "expired")]
    {
        let (status, body) = me(&c, &s, forged);
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_token")), "{what}: {body}");
        assert!(verify_with_jwks(&jwks, forged).is_err(), "{what} fails the JWKS check too");
        if let Some(py) = pyjwt_verifies(&jwks, forged) {
            assert!(py.is_err(), "PyJWT refuses the {what} token");
        }
    }

    // Rotation: new tokens carry the new kid; old tokens keep working; both keys are published.
    let (status, rotated) = json(c.post(s.url("/v1/auth/signing-keys/rotate")).bearer_auth(ADMIN).send()?);
    assert_eq!(status, 200, "{rotated}");
    let (_, jwks) = json(c.get(s.url("/.well-known/jwks.json")).send()?);
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
    assert_eq!(me(&c, &s, &token).0, 200, "a token of the retired key still verifies");
    let (_, second) = login(&c, &s, &blair[7], None);
    let second = second["accessToken"].as_str().ok_or("second token")?.to_string();
    assert_eq!(decode_part(second.split('.').next().ok_or("header")?)["kid"], rotated["kid"]);
    verify_with_jwks(&jwks, &second)?;

    // Logout revokes the token; an admin revokes another by jti.
    assert_eq!(c.post(s.url("/v1/auth/logout")).bearer_auth(&token).send()?.status().as_u16(), 204);
    assert_eq!(me(&c, &s, &token).1["error"]["code"], json!("invalid_token"));
    let jti = decode_part(second.split('.').nth(1).ok_or("payload")?)["jti"].clone();
    let (status, revoked) =
        json(c.post(s.url("/v1/auth/revoke")).bearer_auth(ADMIN).json(&json!({"jti": jti})).send()?);
    assert_eq!((status, revoked["revoked"].as_bool()), (200, Some(true)));
    assert_eq!(me(&c, &s, &second).0, 401);

    // A deleted user can no longer log in, and their tokens die with them.
    let (_, third) = login(&c, &s, &blair[8], None);
    let third = third["accessToken"].as_str().ok_or("third token")?.to_string();
    let (status, deleted) = json(c.delete(s.url("/v1/users/alice")).bearer_auth(ADMIN).send()?);
    assert_eq!((status, deleted["deletedFaces"].as_u64()), (200, Some(3)));
    assert_eq!(login(&c, &s, &blair[5], None).1["error"]["code"], json!("no_match"));
    assert_eq!(me(&c, &s, &third).0, 401);
    assert_eq!(c.get(s.url("/v1/users/alice")).bearer_auth(ADMIN).send()?.status().as_u16(), 404);
    // The id registered again, with another person's face, is another user: the old tokens do not open it.
    assert_eq!(register(&c, &s, "alice", &[&stranger[0]]).0, 201);
    let (status, body) = me(&c, &s, &third);
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_token")), "{body}");
    let (_, fourth) = login(&c, &s, &stranger[1], None);
    let fourth = fourth["accessToken"].as_str().ok_or("fourth token")?.to_string();
    assert_eq!(me(&c, &s, &fourth).1["userId"], json!("alice"), "the new alice's own token opens her record");
    // Bob still logs in.
    assert_eq!(login(&c, &s, &chavez[3], None).1["userId"], json!("bob"));
    Ok(())
}

fn facegate(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_facegate"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .current_dir(dir)
        .env_remove("FACEGATE_CONFIG")
        .env("FACEGATE_ADMIN_KEY", ADMIN)
        .output()
        .expect("facegate runs")
}

fn cli_keys_then_serve(dir: &Path) -> Result<(), Failed> {
    std::fs::create_dir_all(dir)?;
    let out =
        facegate(dir, &["keys", "create", "--name", "reader", "--scope", "collections:read", "--monthly-quota", "100"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout)?.trim().to_string();
    assert!(key.starts_with("fg_"), "only the key on stdout: {key:?}");
    let bad = facegate(dir, &["keys", "create", "--name", "x", "--scope", "collections:delete"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("collections:delete"));
    let out = facegate(dir, &["keys", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(listed[0]["name"], json!("reader"));
    assert_eq!(listed[0]["monthlyQuota"], json!(100));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key[16..]), "listings never show the secret");
    let key_id = listed[0]["keyId"].as_str().ok_or("keyId")?.to_string();

    // The printed configuration never shows the admin key.
    let out = facegate(dir, &["serve", "--print-config"]);
    let printed = String::from_utf8(out.stdout)?;
    assert!(printed.contains("admin_key = \"<redacted>\"") && !printed.contains(ADMIN), "{printed}");

    let s = serve(dir, None, "");
    let c = client();
    assert_eq!(c.get(s.url("/v1/collections")).bearer_auth(&key).send()?.status().as_u16(), 200);
    let r = c.post(s.url("/v1/collections")).bearer_auth(&key).json(&json!({"collectionId": "x"})).send()?;
    assert_eq!(error_code(r), (403, "insufficient_scope".into()));
    // An AWS pair for the Rekognition API, from the command line too (its use is checked by the boto3 suite).
    let out = facegate(dir, &["keys", "aws-credentials", &key_id, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pair: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(pair["keyId"], json!(key_id));
    assert!(pair["accessKeyId"].as_str().is_some_and(|id| id.starts_with("FGAK") && id.len() == 20), "{pair}");
    assert_eq!(pair["secretAccessKey"].as_str().map(str::len), Some(40), "{pair}");
    // Revoked from the command line while the server runs: refused at once.
    let out = facegate(dir, &["keys", "revoke", &key_id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = facegate(dir, &["keys", "aws-credentials", &key_id]);
    assert!(!out.status.success(), "no AWS pair for a revoked key");
    let r = c.get(s.url("/v1/collections")).bearer_auth(&key).send()?;
    assert_eq!(error_code(r), (401, "key_revoked".into()));
    assert!(!facegate(dir, &["keys", "revoke", "zzzzzzzzzzzz"]).status.success());
    Ok(())
}

/// Every secret the server handles — the admin key, a stored key, a face-login token, a liveness session token —
/// and every biometric (images, templates) must stay out of its log, on success and on failure.
fn secrets_never_reach_the_logs(dir: &Path) -> Result<(), Failed> {
    let s = serve(dir, None, "open_routes = [\"face_login\"]\n");
    let c = client();
    let (key, _) = create_key(&c, &s, json!({"name": "logged", "scopes": ["faces:detect", "users", "liveness"]}));
    let image = read("samples/face_recognition/obama.jpg");
    let (status, _) = json(c.post(s.url("/v1/detect")).bearer_auth(&key).json(&json!({"image": b64(&image)})).send()?);
    assert_eq!(status, 200);
    let (status, _) = json(
        c.post(s.url("/v1/users"))
            .bearer_auth(&key)
            .json(&json!({"userId": "logged-user", "images": [b64(&image)]}))
            .send()?,
    );
    assert_eq!(status, 201);
    let (status, login) = json(
        c.post(s.url("/v1/auth/face-login"))
            .json(&json!({"image": b64(&read("samples/face_recognition/obama2.jpg"))}))
            .send()?,
    );
    assert_eq!(status, 200, "{login}");
    let jwt = login["accessToken"].as_str().ok_or("token")?.to_string();
    let (status, _) = json(c.get(s.url("/v1/users/me")).bearer_auth(&jwt).send()?);
    assert_eq!(status, 200);
    let (status, session) =
        json(c.post(s.url("/v1/liveness/sessions")).bearer_auth(&key).json(&json!({"challenges": ["smile"]})).send()?);
    assert_eq!(status, 201);
    let token = session["sessionToken"].as_str().ok_or("session token")?.to_string();
    let id = session["sessionId"].as_str().ok_or("id")?;
    let (status, _) = json(
        c.post(s.url(&format!("/v1/liveness/sessions/{id}/frames")))
            .bearer_auth(&token)
            .json(&json!({"image": b64(&image), "sequence": 0, "timestamp": 10}))
            .send()?,
    );
    assert_eq!(status, 200);
    // Failures too: a wrong key, a forged token, a wrong session token.
    for bad in [format!("{key}x"), format!("{jwt}x"), format!("{token}x")] {
        let status = c.get(s.url(&format!("/v1/liveness/sessions/{id}"))).bearer_auth(&bad).send()?.status();
        assert_eq!(status.as_u16(), 401);
    }
    let log = s.log_text();
    assert!(log.lines().count() > 5, "the server logged its work: {log}");
    // `fg_<id>_<secret>`: the secret is base64url and may itself hold `_`, so split at the first two only.
    let secret_of_key = key.splitn(3, '_').nth(2).ok_or("key secret")?;
    assert_eq!(secret_of_key.len(), 43, "a 32-byte secret");
    let secret_of_token = token.rsplit('_').next().ok_or("token secret")?;
    let jwt_signature = jwt.rsplit('.').next().ok_or("jwt signature")?;
    for (what, secret) in [
        ("the admin key", ADMIN),
        ("an API key's secret", secret_of_key),
        ("a face-login token", jwt_signature),
        ("a session token's secret", secret_of_token),
        ("an image", &b64(&image)[..64]),
    ] {
        assert!(!log.contains(secret), "{what} appears in the server log");
    }
    // No template: no run of a dozen comma-separated decimals anywhere.
    for line in log.lines() {
        let decimals = line
            .split(',')
            .filter(|p| p.trim().trim_matches(['[', ']']).parse::<f32>().is_ok_and(|v| v.fract() != 0.0))
            .count();
        assert!(decimals < 12, "a vector-like line in the log: {line}");
    }
    Ok(())
}

/// The open loopback mode (no admin key: every caller is admin) answers this machine's own clients only: a request
/// addressed to another host name (DNS rebinding) or sent by a page of another origin is refused before it does
/// anything, and administration never takes a form encoding. With an admin key, foreign origins need CORS as ever.
fn open_mode_answers_only_this_machine(dir: &Path) -> Result<(), Failed> {
    let open = Served::start(&dir.join("open"), None, &[]);
    let c = client();
    let key = json!({"name": "k", "scopes": ["admin"]});
    let refused = |req: RequestBuilder| error_code(req.send().expect("request"));
    let keys = open.url("/v1/keys");
    assert_eq!(
        refused(c.post(&keys).header("origin", "http://evil.example").json(&key)),
        (403, "foreign_origin".into())
    );
    assert_eq!(refused(c.post(&keys).header("origin", "null").json(&key)), (403, "foreign_origin".into()));
    assert_eq!(refused(c.get(&keys).header("host", "rebound.example:80")), (403, "foreign_host".into()));
    assert_eq!(
        refused(c.get(open.url("/v1/collections")).header("host", "127.0.0.1.nip.io")),
        (403, "foreign_host".into())
    );
    // The form an HTML page can send without a preflight, with no Origin at all (a non-browser client): still no.
    let form = reqwest::blocking::multipart::Form::new().text("name", "k").text("scopes", "[\"admin\"]");
    assert_eq!(refused(c.post(&keys).multipart(form)), (415, "unsupported_media_type".into()));
    assert_eq!(
        refused(c.post(&keys).header("content-type", "text/plain").body(key.to_string())),
        (415, "unsupported_media_type".into())
    );
    // Nothing was made; this machine's own page (its origin, a loopback host) and plain clients work.
    let (status, listed) = json(c.get(&keys).send()?);
    assert!(status == 200 && listed["keys"].as_array().is_some_and(Vec::is_empty), "{listed}");
    let own = open.url("").trim_end_matches('/').to_string();
    let (status, made) = json(c.post(&keys).header("origin", own.as_str()).json(&key).send()?);
    assert_eq!(status, 201, "{made}");
    let localhost = open.url("/v1/collections").replace("127.0.0.1", "localhost");
    let (status, _) = json(c.get(&localhost).send()?);
    assert_eq!(status, 200);
    // Public routes answer any host (probes behind a load balancer's name).
    assert_eq!(c.get(open.url("/health")).header("host", "lb.example").send()?.status(), 200);

    // With an admin key the same foreign-origin request is an ordinary one (its key decides), not refused as such.
    let keyed = serve(&dir.join("keyed"), None, "");
    let (status, _) = json(
        c.post(keyed.url("/v1/keys")).bearer_auth(ADMIN).header("origin", "http://evil.example").json(&key).send()?,
    );
    assert_eq!(status, 201);
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    let tmp = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let dir = |name: &str| tmp.path().join(name);
    let trials = vec![
        {
            let d = dir("matrix");
            trial!("auth_matrix", move || auth_matrix(&d))
        },
        {
            let d = dir("limits");
            trial!("rate_limits_quotas_and_addresses", move || rate_limits_quotas_and_addresses(&d))
        },
        {
            let d = dir("replicas");
            trial!("quota_and_revocation_across_replicas", move || quota_and_revocation_across_replicas(
                &d,
                &postgres()
            ))
        },
        {
            let d = dir("cli");
            trial!("cli_keys_then_serve", move || cli_keys_then_serve(&d))
        },
        {
            let d = dir("users");
            trial!("users_and_face_login", move || users_and_face_login(&d))
        },
        {
            let d = dir("logs");
            trial!("secrets_never_reach_the_logs", move || secrets_never_reach_the_logs(&d))
        },
        {
            let d = dir("open");
            trial!("open_mode_answers_only_this_machine", move || open_mode_answers_only_this_machine(&d))
        },
    ];
    trials
}
