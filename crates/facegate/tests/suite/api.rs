//! The HTTP API end to end: real `facegate serve` processes on free ports, real HTTP requests, real faces
//! from ../shared/data. Every case runs on SQLite and on PostgreSQL (a throwaway cluster, or the server of
//! FACEGATE_TEST_POSTGRES_URL); a few process-level cases (shutdown, overload, CLI) run once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::support::*;
use libtest_mimic::{Failed, Trial};
use reqwest::blocking::multipart::Form;
use serde_json::{json, Value};

/// One backend's shared server, started on first use.
struct Backend {
    name: &'static str,
    tmp: PathBuf,
    /// On the suite's PostgreSQL (else SQLite files).
    postgres: bool,
    server: OnceLock<(Served, String)>,
}

impl Backend {
    fn new_database_url(&self, tag: &str) -> String {
        if self.postgres {
            postgres().create_database(tag).expect("a PostgreSQL database")
        } else {
            format!("sqlite://{}", self.tmp.join(format!("{tag}-{}.db", unique("db"))).display())
        }
    }

    /// The shared server and its database URL.
    fn server(&self) -> &(Served, String) {
        self.server.get_or_init(|| {
            let url = self.new_database_url("api");
            let served = Served::start(
                &self.tmp.join("shared"),
                Some(&url),
                &["--threads", "2", "--max-image-bytes", "3000000", "--sync-interval-ms", "100"],
            );
            (served, url)
        })
    }
}

struct Env<'a> {
    backend: &'a Backend,
    s: &'a Served,
    http: reqwest::blocking::Client,
}

impl Env<'_> {
    fn post_json(&self, path: &str, body: &Value) -> reqwest::blocking::Response {
        self.http.post(self.s.url(path)).json(body).send().expect("request")
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.http.get(self.s.url(path)).send().expect("request")
    }

    fn create_collection(&self, prefix: &str) -> String {
        let id = unique(prefix);
        let (status, body) = json(self.post_json("/v1/collections", &json!({"collectionId": id})));
        assert_eq!(status, 201, "{body}");
        id
    }

    fn index(&self, collection: &str, image: &[u8], options: Value) -> Value {
        let mut body = options;
        body["image"] = Value::from(b64(image));
        let (status, v) = json(self.post_json(&format!("/v1/collections/{collection}/faces"), &body));
        assert_eq!(status, 200, "{v}");
        v
    }
}

type Case = fn(&Env) -> Result<(), Failed>;
type ProcessCase = fn(&Path) -> Result<(), Failed>;

// ---------------------------------------------------------------- operations

fn probes_metrics_and_docs(e: &Env) -> Result<(), Failed> {
    // No warning an operator cannot act on at start (tract's about the models' ONNX operator set).
    let log = e.s.log_text();
    assert!(!log.contains("tract is only tested"), "{log}");
    let (status, health) = json(e.get("/health"));
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, ready) = json(e.get("/ready"));
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["ready"], true);
    assert!(ready["store"].as_str().is_some_and(|s| s.starts_with(e.backend.name)), "{ready}");
    let models: Vec<&str> = ready["models"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for required in ["yunet", "sface", "face_mesh", "emotion"] {
        assert!(models.contains(&required), "{required} missing from {ready}");
    }
    // The engine in use: the one FACEGATE_BACKEND names, or with auto ONNX Runtime exactly when it is found.
    let engine = ready["backend"].as_str().unwrap_or_default().to_string();
    let requested = testkit::backend_name();
    let expected = match requested.as_str() {
        "auto" => match vision::runtime::onnxruntime::find_library() {
            Ok(_) => "onnxruntime",
            Err(_) => "tract",
        },
        named => named,
    };
    assert_eq!(engine, expected, "{ready}");
    assert_eq!(ready["backendLibrary"].is_string(), engine == "onnxruntime", "{ready}");

    // A request, then its count and latency in the metrics.
    let resp = e.get("/health");
    assert!(resp.headers().get("x-request-id").is_some(), "every response carries a request id");
    let metrics = e.get("/metrics").text()?;
    assert!(metrics.contains(&format!("facegate_inference_engine{{engine=\"{engine}\"")), "{metrics}");
    assert!(metrics.contains("facegate_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"}"));
    assert!(
        metrics.contains("facegate_http_request_duration_seconds_bucket{route=\"/health\",method=\"GET\",le=\"+Inf\"}")
    );
    assert!(metrics.contains("facegate_inference_queue_depth "));

    let (status, doc) = json(e.get("/openapi.json"));
    assert_eq!(status, 200);
    for path in ["/v1/detect", "/v1/compare", "/v1/verify-id", "/v1/collections/{collectionId}/search"] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["schemas"]["CompareResponse"].is_object());
    // What a generated client reads: every operation tagged with a declared tag, every operationId once.
    let declared: Vec<&str> = doc["tags"].as_array().ok_or("tags")?.iter().filter_map(|t| t["name"].as_str()).collect();
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().ok_or("paths")? {
        for (method, operation) in item.as_object().ok_or("path item")? {
            let tag = operation["tags"][0].as_str().ok_or_else(|| format!("{method} {path} has no tag"))?;
            assert!(declared.contains(&tag), "{method} {path}: tag {tag:?} not declared in {declared:?}");
            let id = operation["operationId"].as_str().ok_or_else(|| format!("{method} {path}: no operationId"))?;
            if let Some(other) = ids.insert(id.to_string(), format!("{method} {path}")) {
                panic!("operationId {id} is both {other} and {method} {path}");
            }
        }
    }
    assert!(ids.len() > 80, "{} operations", ids.len());
    for compat in ["compat: deepface-liveness", "compat: facelock", "compat: nose-challenge"] {
        assert!(declared.contains(&compat), "{compat} not among {declared:?}");
    }
    let page = e.get("/docs");
    assert!(page.headers()["content-security-policy"].to_str()?.contains("default-src 'none'"));
    let html = page.text()?;
    assert!(!html.contains("http://") && !html.contains("https://"), "the docs page loads nothing from elsewhere");
    let bundle = e.get("/docs/swagger-ui-bundle.js");
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes()?.len() > 100_000);
    expect_error(e.get("/v1/nope"), 404, "not_found");
    expect_error(e.get("/v1/detect"), 405, "method_not_allowed");
    Ok(())
}

// ---------------------------------------------------------------- detect and inputs

fn detect_accepts_every_encoding(e: &Env) -> Result<(), Failed> {
    let img = read("samples/deepface/couple.jpg");
    let faces_of = |v: &Value| v["faces"].as_array().map(Vec::len);

    let (s1, multipart) = json(
        e.http
            .post(e.s.url("/v1/detect"))
            .multipart(Form::new().part("image", file_part("c.jpg", img.clone())))
            .send()?,
    );
    let (s2, base64) = json(e.post_json("/v1/detect", &json!({"image": b64(&img)})));
    let (s3, data_url) =
        json(e.post_json("/v1/detect", &json!({"image": format!("data:image/jpeg;base64,{}", b64(&img))})));
    let (s4, raw) =
        json(e.http.post(e.s.url("/v1/detect")).header("content-type", "image/jpeg").body(img.clone()).send()?);
    assert_eq!((s1, s2, s3, s4), (200, 200, 200, 200));
    assert_eq!(faces_of(&multipart), Some(2), "{multipart}");
    for other in [&base64, &data_url, &raw] {
        assert_eq!(other["faces"], multipart["faces"], "the same image gives the same faces in every encoding");
    }
    let face = &multipart["faces"][0];
    for key in ["boundingBox", "landmarks", "confidence", "quality"] {
        assert!(!face[key].is_null(), "face lacks {key}: {face}");
    }
    assert!(face["landmarks"]["nose"]["x"].is_number());
    assert_eq!(multipart["image"]["rotation"], 0);

    // No face is not an error for detection.
    let (status, none) =
        json(e.post_json("/v1/detect", &json!({"image": b64(&read("samples/insightface/crop/no_face.png"))})));
    assert_eq!((status, faces_of(&none)), (200, Some(0)));

    // A photo turned on its side is analysed upright, and says so.
    let (status, turned) =
        json(e.post_json("/v1/detect", &json!({"image": b64(&read("samples/insightface/rotate/rot_90.jpg"))})));
    if status == 200 && faces_of(&turned) == Some(1) {
        assert_ne!(turned["image"]["rotation"], 0, "{turned}");
    }
    Ok(())
}

fn bad_input_gets_typed_errors(e: &Env) -> Result<(), Failed> {
    let post = |ct: &str, body: Vec<u8>| {
        e.http.post(e.s.url("/v1/detect")).header("content-type", ct).body(body).send().expect("request")
    };
    expect_error(post("application/json", b"{\"image\": ".to_vec()), 400, "invalid_json");
    expect_error(post("application/json", b"[1, 2]".to_vec()), 400, "invalid_json");
    expect_error(post("application/json", b"{}".to_vec()), 400, "missing_image");
    // An error quoting the request (here an unknown field's 500 kB name) echoes at most 1 kB of it back.
    let mut long = serde_json::Map::new();
    long.insert("x".repeat(500_000), json!(1));
    let echoed = e.post_json("/v1/collections", &Value::Object(long));
    assert_eq!(echoed.status().as_u16(), 400);
    let text = echoed.text()?;
    assert!(text.len() < 2048 && text.contains("xxxx"), "{} bytes", text.len());
    expect_error(e.post_json("/v1/detect", &json!({"image": 5})), 400, "invalid_request");
    expect_error(e.post_json("/v1/detect", &json!({"image": "%%%not base64%%%"})), 400, "invalid_base64");
    expect_error(
        e.post_json("/v1/detect", &json!({"image": b64(b"just some text, not an image")})),
        415,
        "unsupported_image_format",
    );
    expect_error(e.post_json("/v1/detect", &json!({"image": ""})), 400, "empty_image");
    let img = lfw("Abel_Pacheco", 1);
    expect_error(e.post_json("/v1/detect", &json!({"image": b64(&img), "imgae": 1})), 400, "invalid_request");
    expect_error(post("text/plain", img.clone()), 415, "unsupported_media_type");
    // Truncated JPEG: the header is fine, the data is cut.
    expect_error(post("image/jpeg", img[..img.len() / 2].to_vec()), 400, "invalid_image");
    // Over the server's 3 MB image limit (this test server's setting), and over the whole-body limit.
    let mut big = img.clone();
    big.resize(3_200_000, 0);
    expect_error(post("image/jpeg", big), 413, "image_too_large");
    expect_error(post("application/octet-stream", vec![0u8; 11_000_000]), 413, "payload_too_large");
    // A PNG whose header claims 100000 x 100000 pixels: refused before decoding.
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut bomb = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    bomb.extend_from_slice(&ihdr);
    bomb.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    bomb.extend_from_slice(&[0, 0, 0, 0, b'I', b'D', b'A', b'T', 0x35, 0xaf, 0x06, 0x1e]);
    expect_error(post("image/png", bomb), 413, "image_too_many_pixels");
    // Compare needs two images: a raw body names only one.
    expect_error(
        e.http.post(e.s.url("/v1/compare")).header("content-type", "image/jpeg").body(img).send()?,
        400,
        "missing_image",
    );
    Ok(())
}

// ---------------------------------------------------------------- compare and verify-id

fn compare_same_and_different_people(e: &Env) -> Result<(), Failed> {
    let pairs = lfw_same_pairs();
    let (name, i, j) = &pairs[0];
    let (status, same) =
        json(e.post_json("/v1/compare", &json!({"source": b64(&lfw(name, *i)), "target": b64(&lfw(name, *j))})));
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["match"], true, "{name} {i} vs {j}: {same}");
    assert!(same["similarity"].as_f64() >= Some(60.0));
    assert_eq!(same["faceMatches"].as_array().map(Vec::len), Some(1));
    assert_eq!(same["faceModel"], "sface");

    let (other, k, _) = &pairs[1];
    let (status, diff) =
        json(e.post_json("/v1/compare", &json!({"source": b64(&lfw(name, *i)), "target": b64(&lfw(other, *k))})));
    assert_eq!(status, 200);
    assert_eq!(diff["match"], false, "{name} vs {other}: {diff}");
    assert_eq!(diff["unmatchedFaces"].as_array().map(Vec::len), Some(1));
    assert!(diff["similarity"].as_f64() < same["similarity"].as_f64());

    // A stricter threshold turns the match down; an impossible one is refused.
    let (_, strict) = json(e.post_json(
        "/v1/compare",
        &json!({"source": b64(&lfw(name, *i)), "target": b64(&lfw(name, *j)), "threshold": 100}),
    ));
    assert_eq!(strict["threshold"], 100.0);
    assert_eq!(strict["match"], strict["similarity"].as_f64() >= Some(100.0));
    for bad in [json!(150), json!(-1), json!("high")] {
        let resp = e.post_json(
            "/v1/compare",
            &json!({"source": b64(&lfw(name, *i)), "target": b64(&lfw(name, *j)), "threshold": bad}),
        );
        assert_eq!(resp.status(), 400);
    }
    expect_error(
        e.post_json(
            "/v1/compare",
            &json!({"source": b64(&read("samples/insightface/crop/no_face.png")), "target": b64(&lfw(name, *j))}),
        ),
        422,
        "no_face",
    );
    Ok(())
}

fn compare_against_every_face_of_a_group(e: &Env) -> Result<(), Failed> {
    // Obama against the photo of Obama and Biden: one match, one unmatched face.
    let form = Form::new()
        .part("source", file_part("o.jpg", read("samples/face_recognition/obama.jpg")))
        .part("target", file_part("ob.jpg", read("samples/face_recognition/knn/test/obama_and_biden.jpg")))
        .text("targetFaces", "all");
    let (status, v) = json(e.http.post(e.s.url("/v1/compare")).multipart(form).send()?);
    assert_eq!(status, 200, "{v}");
    // The photo holds Obama, Biden and a third person in the background.
    let (_, detected) = json(e.post_json(
        "/v1/detect",
        &json!({"image": b64(&read("samples/face_recognition/knn/test/obama_and_biden.jpg"))}),
    ));
    let faces = detected["faces"].as_array().map_or(0, Vec::len);
    assert!(faces >= 2, "{detected}");
    assert_eq!(v["faceMatches"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["unmatchedFaces"].as_array().map(Vec::len), Some(faces - 1), "{v}");
    assert_eq!(v["match"], true);
    assert!(v["faceMatches"][0]["similarity"].as_f64() > v["unmatchedFaces"][0]["similarity"].as_f64());
    Ok(())
}

fn verify_id_document_and_selfie(e: &Env) -> Result<(), Failed> {
    // Both ICAO specimens show the same fictitious holder: the TD2 page stands in for the selfie.
    let doc = read("id/passport-td3.jpg");
    let (status, v) = json(
        e.post_json("/v1/verify-id", &json!({"document": b64(&doc), "selfie": b64(&read("id/passport-td2.jpg"))})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["match"], true, "{v}");
    let portrait = &v["documentFace"]["boundingBox"];
    assert!(portrait["width"].as_f64() < Some(400.0), "the portrait is a small part of the page: {portrait}");

    let (status, v) =
        json(e.post_json("/v1/verify-id", &json!({"document": b64(&doc), "selfie": b64(&lfw("Abel_Pacheco", 1))})));
    assert_eq!(status, 200);
    assert_eq!(v["match"], false, "{v}");

    expect_error(
        e.post_json(
            "/v1/verify-id",
            &json!({"document": b64(&doc), "selfie": b64(&read("samples/deepface/couple.jpg"))}),
        ),
        422,
        "multiple_faces",
    );
    expect_error(
        e.post_json("/v1/verify-id", &json!({"document": b64(&read("samples/insightface/crop/no_face.png")), "selfie": b64(&lfw("Abel_Pacheco", 1))})),
        422,
        "no_face",
    );
    // The second image cannot be the raw body: the message does not suggest it.
    let missing = expect_error(e.post_json("/v1/verify-id", &json!({"document": b64(&doc)})), 400, "missing_image");
    let message = missing["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`selfie`") && !message.contains("raw body"), "{missing}");
    let form = Form::new().part("document", file_part("document", doc.clone()));
    let sent = e.http.post(e.s.url("/v1/verify-id")).multipart(form).send().expect("request");
    let missing = expect_error(sent, 400, "missing_image");
    assert!(!missing["error"]["message"].as_str().unwrap_or_default().contains("raw body"), "{missing}");
    // A request with nothing in it may send its one image as the raw body.
    let empty = expect_error(e.post_json("/v1/detect", &json!({})), 400, "missing_image");
    assert!(empty["error"]["message"].as_str().unwrap_or_default().contains("raw body"), "{empty}");
    Ok(())
}

// ---------------------------------------------------------------- collections

fn collection_lifecycle(e: &Env) -> Result<(), Failed> {
    let id = unique("life");
    let (status, created) = json(e.post_json("/v1/collections", &json!({"collectionId": id, "description": "staff"})));
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["faceCount"].as_u64(), created["faceModel"].as_str()), (Some(0), Some("sface")));
    expect_error(e.post_json("/v1/collections", &json!({"collectionId": id})), 409, "collection_exists");
    for bad in ["", "../etc/passwd", "a b", "x'; DROP TABLE faces; --"] {
        expect_error(e.post_json("/v1/collections", &json!({"collectionId": bad})), 400, "invalid_collection_id");
    }
    expect_error(e.post_json("/v1/collections", &json!({"collectionId": 7})), 400, "invalid_request");
    expect_error(e.post_json("/v1/collections", &json!({})), 400, "invalid_request");

    let (status, got) = json(e.get(&format!("/v1/collections/{id}")));
    assert_eq!((status, got["description"].as_str()), (200, Some("staff")));

    // Pagination walks every collection exactly once.
    let others: Vec<String> = (0..3).map(|_| e.create_collection("page")).collect();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let q = match &token {
            Some(t) => format!("/v1/collections?limit=2&nextToken={t}"),
            None => "/v1/collections?limit=2".into(),
        };
        let (status, page) = json(e.get(&q));
        assert_eq!(status, 200, "{page}");
        let items = page["collections"].as_array().ok_or("no collections")?;
        assert!(items.len() <= 2);
        seen.extend(items.iter().filter_map(|c| c["collectionId"].as_str().map(String::from)));
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    for c in others.iter().chain([&id]) {
        assert_eq!(seen.iter().filter(|s| *s == c).count(), 1, "{c} listed once");
    }
    expect_error(e.get("/v1/collections?limit=0"), 400, "invalid_parameter");
    expect_error(e.get("/v1/collections?limit=abc"), 400, "invalid_request");

    let (status, deleted) = json(e.http.delete(e.s.url(&format!("/v1/collections/{id}"))).send()?);
    assert_eq!((status, deleted["deletedFaces"].as_u64()), (200, Some(0)));
    expect_error(e.get(&format!("/v1/collections/{id}")), 404, "collection_not_found");
    expect_error(e.http.delete(e.s.url(&format!("/v1/collections/{id}"))).send()?, 404, "collection_not_found");
    Ok(())
}

fn index_search_and_delete_faces(e: &Env) -> Result<(), Failed> {
    let c = e.create_collection("people");
    let pairs: Vec<_> = lfw_same_pairs().into_iter().take(6).collect();
    let mut face_of = std::collections::HashMap::new();
    for (name, i, _) in &pairs {
        let v = e.index(&c, &lfw(name, *i), json!({"externalId": name, "metadata": {"name": name, "n": i}}));
        let records = v["faceRecords"].as_array().ok_or("no faceRecords")?;
        assert_eq!(records.len(), 1, "{v}");
        assert_eq!(records[0]["externalId"].as_str(), Some(name.as_str()));
        assert_eq!(records[0]["metadata"]["name"].as_str(), Some(name.as_str()));
        assert_eq!(records[0]["imageStored"], false, "images are kept only when asked");
        face_of.insert(name.clone(), records[0]["faceId"].as_str().ok_or("faceId")?.to_string());
    }
    let (_, info) = json(e.get(&format!("/v1/collections/{c}")));
    assert_eq!(info["faceCount"].as_u64(), Some(pairs.len() as u64));

    // Each person's other photo finds them first.
    for (name, _, j) in &pairs {
        let (status, v) = json(e.post_json(
            &format!("/v1/collections/{c}/search"),
            &json!({"image": b64(&lfw(name, *j)), "maxResults": 3}),
        ));
        assert_eq!(status, 200, "{v}");
        let top = &v["results"][0]["matches"][0];
        assert_eq!(top["externalId"].as_str(), Some(name.as_str()), "{name}: {v}");
        assert!(top["similarity"].as_f64() >= Some(60.0));
        assert!(v["results"][0]["matches"].as_array().is_some_and(|m| m.len() <= 3));
    }
    // A stranger finds nobody at the default threshold, but something at threshold 0.
    let stranger = lfw_same_pairs().into_iter().nth(20).ok_or("pairs")?;
    let probe = b64(&lfw(&stranger.0, stranger.1));
    let (_, v) = json(e.post_json(&format!("/v1/collections/{c}/search"), &json!({"image": probe})));
    assert_eq!(v["results"][0]["matches"], json!([]), "{v}");
    let (_, v) = json(
        e.post_json(&format!("/v1/collections/{c}/search"), &json!({"image": probe, "threshold": 0, "maxResults": 2})),
    );
    assert_eq!(v["results"][0]["matches"].as_array().map(Vec::len), Some(2));

    // Search by a stored face: itself excluded.
    let first = &face_of[&pairs[0].0];
    let (status, v) = json(
        e.post_json(&format!("/v1/collections/{c}/faces/{first}/search"), &json!({"threshold": 0, "maxResults": 10})),
    );
    assert_eq!(status, 200, "{v}");
    let ids: Vec<&str> =
        v["matches"].as_array().ok_or("matches")?.iter().filter_map(|m| m["faceId"].as_str()).collect();
    assert_eq!(ids.len(), pairs.len() - 1);
    assert!(!ids.contains(&first.as_str()));

    // Listing: two pages of 4 and 2, then filtered by external id.
    let (_, page1) = json(e.get(&format!("/v1/collections/{c}/faces?limit=4")));
    let token = page1["nextToken"].as_str().ok_or("nextToken")?;
    let (_, page2) = json(e.get(&format!("/v1/collections/{c}/faces?limit=4&nextToken={token}")));
    assert_eq!((page1["faces"].as_array().map(Vec::len), page2["faces"].as_array().map(Vec::len)), (Some(4), Some(2)));
    assert!(page2["nextToken"].is_null());
    let (_, only) = json(e.get(&format!("/v1/collections/{c}/faces?externalId={}", pairs[2].0)));
    assert_eq!(only["faces"].as_array().map(Vec::len), Some(1));

    // Delete one face: gone from listing and from search.
    let (status, d) = json(e.http.delete(e.s.url(&format!("/v1/collections/{c}/faces/{first}"))).send()?);
    assert_eq!((status, d["deletedFaces"][0].as_str()), (200, Some(first.as_str())));
    expect_error(e.get(&format!("/v1/collections/{c}/faces/{first}")), 404, "face_not_found");
    let (_, v) = json(
        e.post_json(&format!("/v1/collections/{c}/search"), &json!({"image": b64(&lfw(&pairs[0].0, pairs[0].2))})),
    );
    assert!(v["results"][0]["matches"]
        .as_array()
        .is_some_and(|m| m.iter().all(|x| x["faceId"].as_str() != Some(first.as_str()))));
    // Batch delete reports what was not there.
    let second = &face_of[&pairs[1].0];
    let (status, d) = json(
        e.post_json(&format!("/v1/collections/{c}/faces/delete"), &json!({"faceIds": [second, first, "not-a-uuid"]})),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["deletedFaces"], json!([second]));
    assert_eq!(d["notFound"].as_array().map(Vec::len), Some(2));

    // Deleting the collection takes its faces.
    let (_, gone) = json(e.http.delete(e.s.url(&format!("/v1/collections/{c}"))).send()?);
    assert_eq!(gone["deletedFaces"].as_u64(), Some(pairs.len() as u64 - 2));
    expect_error(
        e.post_json(&format!("/v1/collections/{c}/search"), &json!({"image": probe})),
        404,
        "collection_not_found",
    );
    Ok(())
}

fn index_options_and_errors(e: &Env) -> Result<(), Failed> {
    let c = e.create_collection("opts");
    // All faces of a group photo, with the image stored. One of the two is turned away (`not_frontal`):
    // refused by the quality bar, accepted without it.
    let group = read("samples/deepface/couple.jpg");
    let v = e.index(&c, &group, json!({"faces": "all"}));
    assert_eq!(v["faceRecords"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["unindexedFaces"][0]["reasons"], json!(["not_frontal"]), "{v}");
    // With `faces: largest` (the default) the largest face is the candidate: here it is the one turned away,
    // so nothing is indexed — never the smaller face in its place.
    let v = e.index(&c, &group, json!({}));
    assert_eq!(v["faceRecords"], json!([]), "{v}");
    assert_eq!(v["unindexedFaces"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["unindexedFaces"][0]["reasons"], json!(["not_frontal"]), "{v}");
    let v = e.index(&c, &group, json!({"faces": "all", "storeImage": true, "externalId": 42, "qualityFilter": "none"}));
    let records = v["faceRecords"].as_array().ok_or("records")?;
    assert_eq!(records.len(), 2, "{v}");
    assert_eq!(records[0]["externalId"], "42", "numeric external ids are kept as text");
    let face = records[0]["faceId"].as_str().ok_or("faceId")?;
    let stored = e.get(&format!("/v1/collections/{c}/faces/{face}/image"));
    assert_eq!(stored.status(), 200);
    assert_eq!(stored.bytes()?.to_vec(), group, "the stored image is the one sent");
    // maxFaces caps `all`; the rest are reported.
    let v = e.index(&c, &group, json!({"faces": "all", "maxFaces": 1, "qualityFilter": "none"}));
    assert_eq!(v["faceRecords"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["unindexedFaces"][0]["reasons"], json!(["exceeds_max_faces"]));
    // A face without a stored image.
    let plain = e.index(&c, &lfw("Abel_Pacheco", 1), json!({}));
    let plain_face = plain["faceRecords"][0]["faceId"].as_str().ok_or("faceId")?;
    expect_error(e.get(&format!("/v1/collections/{c}/faces/{plain_face}/image")), 404, "image_not_stored");

    // A face too small for the quality bar is refused with the reason, unless the filter is off.
    let small = shrunk(&lfw("Abel_Pacheco", 1), 80);
    let v = e.index(&c, &small, json!({}));
    assert_eq!(v["faceRecords"], json!([]), "{v}");
    assert!(v["unindexedFaces"][0]["reasons"].as_array().is_some_and(|r| r.contains(&json!("too_small"))), "{v}");
    let v = e.index(&c, &small, json!({"qualityFilter": "none"}));
    assert_eq!(v["faceRecords"].as_array().map(Vec::len), Some(1), "{v}");

    // A retry with the same client request token adds nothing and answers the same faces.
    let before = json(e.get(&format!("/v1/collections/{c}"))).1["faceCount"].as_u64();
    let once = e.index(&c, &lfw("Abel_Pacheco", 4), json!({"clientRequestToken": "retry-7"}));
    let twice = e.index(&c, &lfw("Abel_Pacheco", 4), json!({"clientRequestToken": "retry-7"}));
    assert_eq!(once["faceRecords"][0]["faceId"], twice["faceRecords"][0]["faceId"], "{once} {twice}");
    assert_eq!(json(e.get(&format!("/v1/collections/{c}"))).1["faceCount"].as_u64(), before.map(|n| n + 1));
    expect_error(
        e.post_json(
            &format!("/v1/collections/{c}/faces"),
            &json!({"image": b64(&lfw("Abel_Pacheco", 4)), "clientRequestToken": "no spaces"}),
        ),
        400,
        "invalid_parameter",
    );

    // Raw body with options in the query string.
    let resp = e
        .http
        .post(e.s.url(&format!("/v1/collections/{c}/faces?externalId=raw-1&storeImage=false")))
        .header("content-type", "image/jpeg")
        .body(lfw("Abel_Pacheco", 2))
        .send()?;
    let (status, v) = json(resp);
    assert_eq!((status, v["faceRecords"][0]["externalId"].as_str()), (200, Some("raw-1")), "{v}");

    let path = format!("/v1/collections/{c}/faces");
    let img = b64(&lfw("Abel_Pacheco", 1));
    expect_error(e.post_json(&path, &json!({"image": img, "metadata": [1, 2]})), 400, "invalid_parameter");
    expect_error(
        e.post_json(&path, &json!({"image": img, "metadata": {"x": "y".repeat(20_000)}})),
        400,
        "invalid_parameter",
    );
    expect_error(e.post_json(&path, &json!({"image": img, "faces": "some"})), 400, "invalid_request");
    expect_error(e.post_json(&path, &json!({"image": img, "faces": "all", "maxFaces": 0})), 400, "invalid_parameter");
    expect_error(
        e.post_json(&path, &json!({"image": b64(&read("samples/insightface/crop/no_face.png"))})),
        422,
        "no_face",
    );
    expect_error(
        e.post_json("/v1/collections/does-not-exist/faces", &json!({"image": img})),
        404,
        "collection_not_found",
    );
    let body = expect_error(
        e.post_json(&format!("/v1/collections/{c}/search"), &json!({"image": img, "maxResults": 0})),
        400,
        "invalid_parameter",
    );
    // The use case names the input as data; the `/v1` door words it in its own vocabulary.
    assert_eq!(body["error"]["field"], "maxResults", "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.starts_with("maxResults must lie in")), "{body}");
    expect_error(
        e.post_json(&format!("/v1/collections/{c}/search"), &json!({"image": img, "threshold": "NaN"})),
        400,
        "invalid_request",
    );
    expect_error(e.get(&format!("/v1/collections/{c}/faces/not-a-uuid")), 404, "face_not_found");
    expect_error(e.get(&format!("/v1/collections/{c}/faces?nextToken=garbage")), 400, "invalid_parameter");
    expect_error(e.get("/v1/collections/does-not-exist/faces"), 404, "collection_not_found");
    expect_error(
        e.post_json(&format!("/v1/collections/{c}/faces/{}/search", uuid_v4()), &json!({})),
        404,
        "face_not_found",
    );
    Ok(())
}

/// CRC-32 (IEEE), as PNG chunks carry.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn uuid_v4() -> String {
    "8b6c2b7e-0b1a-4c49-9a51-2f9d6c0e4a11".to_string()
}

/// The image scaled down so that its long side is `side` pixels (as PNG).
fn shrunk(jpeg: &[u8], side: u32) -> Vec<u8> {
    let img = image::load_from_memory(jpeg).expect("decodes");
    let small = img.resize(side, side, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Png).expect("encodes");
    out.into_inner()
}

// ---------------------------------------------------------------- replicas

/// Two server processes on one database behave as one service.
fn two_replicas_share_one_store(e: &Env) -> Result<(), Failed> {
    let (_, url) = e.backend.server();
    let b =
        Served::start(&e.backend.tmp.join("replica-b"), Some(url), &["--threads", "1", "--sync-interval-ms", "100"]);
    let http = client();
    let c = e.create_collection("replicas");
    let pairs: Vec<_> = lfw_same_pairs().into_iter().skip(30).take(2).collect();
    let (name, i, j) = &pairs[0];
    let enrolled = e.index(&c, &lfw(name, *i), json!({"externalId": name}));
    let face = enrolled["faceRecords"][0]["faceId"].as_str().ok_or("faceId")?.to_string();
    let probe = json!({"image": b64(&lfw(name, *j))});

    // The collection is visible on B at once (it lives in the store) ...
    assert_eq!(http.get(b.url(&format!("/v1/collections/{c}"))).send()?.status(), 200);
    // ... and the face enrolled on A is found by a search on B once B has followed the change log.
    let found_after = poll(Duration::from_secs(5), || {
        let (_, v) =
            json(http.post(b.url(&format!("/v1/collections/{c}/search"))).json(&probe).send().expect("search on B"));
        v["results"][0]["matches"][0]["faceId"].as_str() == Some(face.as_str())
    })
    .ok_or("the face enrolled on A was never found on B")?;
    eprintln!("  [{}] enrolled on A, found on B after {} ms", e.backend.name, found_after.as_millis());
    assert!(found_after < Duration::from_secs(2), "replica B took {found_after:?} (sync interval 100 ms)");

    // A deletion on B is honoured by A.
    let (status, _) = json(http.delete(b.url(&format!("/v1/collections/{c}/faces/{face}"))).send()?);
    assert_eq!(status, 200);
    let gone_after = poll(Duration::from_secs(5), || {
        let (_, v) = json(e.post_json(&format!("/v1/collections/{c}/search"), &probe));
        v["results"][0]["matches"].as_array().is_some_and(|m| m.is_empty())
    })
    .ok_or("A still finds the face deleted on B")?;
    eprintln!("  [{}] deleted on B, gone from A after {} ms", e.backend.name, gone_after.as_millis());

    // A collection deleted on A is gone for B too.
    let (name2, i2, _) = &pairs[1];
    let http_b_index = http
        .post(b.url(&format!("/v1/collections/{c}/faces")))
        .json(&json!({"image": b64(&lfw(name2, *i2)), "externalId": name2}))
        .send()?;
    assert_eq!(http_b_index.status(), 200);
    let (status, gone) = json(e.http.delete(e.s.url(&format!("/v1/collections/{c}"))).send()?);
    assert_eq!((status, gone["deletedFaces"].as_u64()), (200, Some(1)), "A deletes the face enrolled through B");
    expect_error(http.get(b.url(&format!("/v1/collections/{c}"))).send()?, 404, "collection_not_found");
    Ok(())
}

/// Users of a collection through `/v1`: faces grouped under user ids (a face in one user, a new face must match
/// the user's), search by image ranks users by their best face, and a second replica follows associations
/// through the change log.
fn collection_users_group_faces(e: &Env) -> Result<(), Failed> {
    let c = e.create_collection("users");
    let people: Vec<_> = lfw_same_pairs().into_iter().skip(40).take(3).collect();
    let mut face_of = Vec::new();
    for (name, i, _) in &people {
        let v = e.index(&c, &lfw(name, *i), json!({"externalId": name}));
        face_of.push(v["faceRecords"][0]["faceId"].as_str().ok_or("faceId")?.to_string());
        let (status, user) = json(e.post_json(&format!("/v1/collections/{c}/users"), &json!({"userId": name})));
        assert_eq!((status, user["status"].as_str(), user["faceCount"].as_u64()), (201, Some("created"), Some(0)));
    }
    let users = |path: &str| format!("/v1/collections/{c}/users{path}");
    // The first face of a user needs no match; the second person's face is refused for the first user.
    let (status, v) =
        json(e.post_json(&users(&format!("/{}/associate", people[0].0)), &json!({"faceIds": [face_of[0]]})));
    assert_eq!(
        (status, v["faces"][0].as_str(), v["userStatus"].as_str()),
        (200, Some(face_of[0].as_str()), Some("active")),
        "{v}"
    );
    let (_, v) = json(e.post_json(&users(&format!("/{}/associate", people[0].0)), &json!({"faceIds": [face_of[1]]})));
    assert_eq!(v["refusedFaces"][0]["reason"], "low_match", "{v}");
    assert!(v["refusedFaces"][0]["similarity"].as_f64() < Some(60.0), "{v}");
    for k in 1..3 {
        let (status, v) =
            json(e.post_json(&users(&format!("/{}/associate", people[k].0)), &json!({"faceIds": [face_of[k]]})));
        assert_eq!(status, 200, "{v}");
    }
    let (_, v) = json(
        e.post_json(&users(&format!("/{}/associate", people[1].0)), &json!({"faceIds": [face_of[0]], "threshold": 0})),
    );
    assert_eq!(v["refusedFaces"][0]["reason"], "associated_to_another_user", "{v}");
    assert_eq!(v["refusedFaces"][0]["userId"].as_str(), Some(people[0].0.as_str()), "{v}");
    // Reads: the user with its faces, the faces of a user, the face's user.
    let (_, user) = json(e.get(&users(&format!("/{}", people[0].0))));
    assert_eq!(user["faceIds"], json!([face_of[0]]), "{user}");
    let (_, faces) = json(e.get(&format!("/v1/collections/{c}/faces?userId={}", people[2].0)));
    assert_eq!(faces["faces"].as_array().map(Vec::len), Some(1), "{faces}");
    assert_eq!(faces["faces"][0]["userId"].as_str(), Some(people[2].0.as_str()));
    let (_, list) = json(e.get(&users("?limit=2")));
    assert_eq!(list["users"].as_array().map(Vec::len), Some(2), "{list}");
    assert!(list["nextToken"].is_string(), "{list}");

    // Each person's other photo finds their user first, on this replica and on another one.
    let b = Served::start(
        &e.backend.tmp.join(unique("users-b")),
        Some(&e.backend.server().1),
        &["--threads", "1", "--sync-interval-ms", "100"],
    );
    for (k, (name, _, j)) in people.iter().enumerate() {
        let probe = json!({"image": b64(&lfw(name, *j)), "maxUsers": 3});
        let (status, v) = json(e.post_json(&format!("/v1/collections/{c}/search-users"), &probe));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["matches"][0]["userId"].as_str(), Some(name.as_str()), "{name}: {v}");
        assert_eq!(v["matches"][0]["faceId"].as_str(), Some(face_of[k].as_str()), "{v}");
        assert!(v["searchedFace"]["boundingBox"].is_object(), "{v}");
        let (_, on_b) = json(client().post(b.url(&format!("/v1/collections/{c}/search-users"))).json(&probe).send()?);
        assert_eq!(on_b["matches"][0]["userId"].as_str(), Some(name.as_str()), "replica B: {on_b}");
    }
    // Disassociated on B: A stops finding the user once it has followed the change log.
    let resp = client()
        .post(b.url(&users(&format!("/{}/disassociate", people[2].0))))
        .json(&json!({"faceIds": [face_of[2]]}))
        .send()?;
    let (status, v) = json(resp);
    assert_eq!((status, v["userStatus"].as_str(), v["faceCount"].as_u64()), (200, Some("created"), Some(0)), "{v}");
    let probe = json!({"image": b64(&lfw(&people[2].0, people[2].2))});
    poll(Duration::from_secs(5), || {
        let (_, v) = json(e.post_json(&format!("/v1/collections/{c}/search-users"), &probe));
        v["matches"].as_array().is_some_and(|m| m.is_empty())
    })
    .ok_or("A still finds the user of a face disassociated on B")?;
    // Search by user and by face; deleting a user keeps its faces.
    let (status, v) = json(e.post_json(&users(&format!("/{}/search", people[0].0)), &json!({"threshold": 0})));
    assert_eq!(status, 200, "{v}");
    assert!(v["matches"].as_array().is_some_and(|m| m.iter().all(|u| u["userId"] != people[0].0.as_str())), "{v}");
    let (status, v) =
        json(e.post_json(&format!("/v1/collections/{c}/faces/{}/search-users", face_of[1]), &json!({"threshold": 0})));
    assert_eq!(status, 200, "{v}");
    assert!(
        v["matches"].as_array().is_some_and(|m| m.iter().all(|u| u["userId"] != people[1].0.as_str())),
        "its own face does not count: {v}"
    );
    let (status, v) = json(e.http.delete(e.s.url(&users(&format!("/{}", people[0].0)))).send()?);
    assert_eq!((status, v["disassociatedFaces"].as_u64()), (200, Some(1)), "{v}");
    let (_, face) = json(e.get(&format!("/v1/collections/{c}/faces/{}", face_of[0])));
    assert_eq!(face["userId"], Value::Null, "{face}");
    // A new user given several faces in one call: the first founds it and the others must match it (a second
    // photo of the same person joins, another person's is refused).
    let index_one = |name: &str, n: u32| -> Result<String, Failed> {
        let v = e.index(&c, &lfw(name, n), json!({}));
        Ok(v["faceRecords"][0]["faceId"].as_str().ok_or("faceId")?.to_string())
    };
    let (founder, stranger, again) = (
        index_one(&people[0].0, people[0].2)?,
        index_one(&people[1].0, people[1].2)?,
        index_one(&people[0].0, people[0].1)?,
    );
    let (status, _) = json(e.post_json(&users(""), &json!({"userId": "founded"})));
    assert_eq!(status, 201);
    let (status, v) = json(e.post_json(&users("/founded/associate"), &json!({"faceIds": [founder, stranger, again]})));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["faces"], json!([founder, again]), "{v}");
    assert_eq!(
        (v["refusedFaces"][0]["faceId"].as_str(), v["refusedFaces"][0]["reason"].as_str()),
        (Some(stranger.as_str()), Some("low_match")),
        "{v}"
    );
    // Typed errors.
    expect_error(e.get(&users("/nobody")), 404, "user_not_found");
    expect_error(e.post_json(&users(""), &json!({"userId": "a b"})), 400, "invalid_user_id");
    expect_error(e.post_json(&users(""), &json!({"userId": people[1].0})), 409, "user_exists");
    let many: Vec<String> = (0..101).map(|_| uuid_v4()).collect();
    expect_error(
        e.post_json(&users(&format!("/{}/associate", people[1].0)), &json!({"faceIds": many})),
        400,
        "invalid_parameter",
    );
    expect_error(e.post_json("/v1/collections/nope/users", &json!({"userId": "x"})), 404, "collection_not_found");
    Ok(())
}

fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

// ---------------------------------------------------------------- process-level cases (SQLite only)

/// SIGTERM while a request is in flight: the request completes, then the process exits cleanly.
fn graceful_shutdown(tmp: &Path) -> Result<(), Failed> {
    let mut served = Served::start(&tmp.join("shutdown"), None, &["--threads", "1"]);
    let url = served.url("/v1/compare");
    let body = json!({"source": b64(&read("id/passport-td3.jpg")), "target": b64(&read("samples/deepface/couple.jpg")), "targetFaces": "all"});
    let in_flight = std::thread::spawn(move || client().post(url).json(&body).send().map(|r| r.status().as_u16()));
    std::thread::sleep(Duration::from_millis(150));
    let killed = std::process::Command::new("kill").args(["-TERM", &served.pid().to_string()]).status()?;
    assert!(killed.success());
    assert_eq!(in_flight.join().map_err(|_| "client thread panicked")??, 200, "the in-flight request finished");
    let status = served.wait_exit(Duration::from_secs(20)).ok_or("the server did not exit after SIGTERM")?;
    assert!(status.success(), "exit status {status:?}: {}", served.log_text());
    assert!(served.log_text().contains("SIGTERM"), "{}", served.log_text());
    Ok(())
}

/// One worker and a queue of one: a burst gets 200s and 503s with Retry-After, nothing else.
fn overload_answers_503(tmp: &Path) -> Result<(), Failed> {
    let served = Served::start(&tmp.join("overload"), None, &["--threads", "1", "--queue", "1"]);
    let body = json!({"source": b64(&read("samples/deepface/couple.jpg")), "target": b64(&read("samples/deepface/couple.jpg"))});
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (served.url("/v1/compare"), body.clone());
            std::thread::spawn(move || {
                let r = client().post(url).json(&body).send().expect("request");
                let retry = r.headers().get("retry-after").is_some();
                let (status, v) = json(r);
                (status, retry, v["error"]["code"].as_str().map(String::from))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert_eq!(ok + refused.len(), results.len(), "only 200 or 503: {results:?}");
    assert!(ok >= 1 && !refused.is_empty(), "{results:?}");
    assert!(refused.iter().all(|r| r.1 && r.2.as_deref() == Some("overloaded")), "{results:?}");
    let metrics = client().get(served.url("/metrics")).send()?.text()?;
    assert!(metrics.contains(&format!("facegate_overload_rejections_total {}", refused.len())), "{metrics}");
    Ok(())
}

/// `facegate enroll` and `facegate search` on a data directory; then a server on the same directory finds
/// the faces the CLI enrolled.
fn cli_enroll_search_then_serve(tmp: &Path) -> Result<(), Failed> {
    let dir = tmp.join("cli");
    std::fs::create_dir_all(&dir)?;
    let pairs: Vec<_> = lfw_same_pairs().into_iter().skip(10).take(4).collect();
    let enroll_paths: Vec<String> = pairs
        .iter()
        .map(|(n, i, _)| shared_data(&format!("lfw/images/{n}/{n}_{i:04}.jpg")).display().to_string())
        .collect();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_facegate"))
            .args(args)
            .arg("--data-dir")
            .arg(&dir)
            .env_remove("FACEGATE_CONFIG")
            .output()
            .expect("facegate runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut args = vec!["enroll", "--collection", "cli", "--external-id-from", "dir", "--json"];
    args.extend(enroll_paths.iter().map(String::as_str));
    let report: Value = serde_json::from_str(&run(&args))?;
    assert_eq!(report["enrolled"].as_u64(), Some(4), "{report}");

    let (name, _, j) = &pairs[0];
    let probe = shared_data(&format!("lfw/images/{name}/{name}_{j:04}.jpg")).display().to_string();
    let found: Value = serde_json::from_str(run(&["search", "--collection", "cli", "--json", &probe]).trim())?;
    assert_eq!(found["matches"][0]["externalId"].as_str(), Some(name.as_str()), "{found}");

    let served = Served::start(&dir, None, &["--threads", "1"]);
    let (status, v) = json(
        client()
            .post(served.url("/v1/collections/cli/search"))
            .json(&json!({"image": b64(&std::fs::read(&probe)?)}))
            .send()?,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["matches"][0]["externalId"].as_str(), Some(name.as_str()));
    Ok(())
}

/// PostgreSQL goes away under a running server and comes back: readiness says so at once, requests get a
/// 503 `store_unavailable` (not a 500, not a hang), and the server recovers by itself with its data intact.
fn postgres_outage_and_recovery(tmp: &Path) -> Result<(), Failed> {
    let pg = testkit::Postgres::own_cluster()?;
    let url = pg.create_database("outage")?;
    let served = Served::start(&tmp.join("outage"), Some(&url), &["--threads", "1", "--sync-interval-ms", "100"]);
    let http = client();
    let (status, _) = json(http.post(served.url("/v1/collections")).json(&json!({"collectionId": "kept"})).send()?);
    assert_eq!(status, 201);
    let body = json!({"image": b64(&lfw("Abel_Pacheco", 1)), "externalId": "abel"});
    assert_eq!(http.post(served.url("/v1/collections/kept/faces")).json(&body).send()?.status(), 200);

    pg.stop()?;
    let (status, ready) = json(http.get(served.url("/ready")).send()?);
    assert_eq!((status, &ready["ready"]), (503, &json!(false)), "{ready}");
    expect_error(
        http.post(served.url("/v1/collections")).json(&json!({"collectionId": "new"})).send()?,
        503,
        "store_unavailable",
    );
    assert_eq!(http.get(served.url("/health")).send()?.status(), 200, "the process itself is alive");

    pg.restart()?;
    poll(Duration::from_secs(20), || http.get(served.url("/ready")).send().is_ok_and(|r| r.status() == 200))
        .ok_or("the server never became ready again")?;
    let probe = json!({"image": b64(&lfw("Abel_Pacheco", 4))});
    let (status, found) = json(http.post(served.url("/v1/collections/kept/search")).json(&probe).send()?);
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["results"][0]["matches"][0]["externalId"], "abel", "{found}");
    let (status, _) = json(http.post(served.url("/v1/collections")).json(&json!({"collectionId": "after"})).send()?);
    assert_eq!(status, 201, "writes work again without a restart of the server");
    Ok(())
}

/// defaults < facegate.toml < FACEGATE_* environment < flags.
fn configuration_layers(tmp: &Path) -> Result<(), Failed> {
    let dir = tmp.join("config");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("facegate.toml"), "queue = 5\nmatch_threshold = 70.0\nlisten = \"127.0.0.1:9001\"\n")?;
    // `serve --print-config` with `env` added and `flags`.
    let run = |env: &[(&str, &str)], flags: &[&str]| -> std::process::Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_facegate"));
        cmd.args(["serve", "--print-config"]).args(flags).current_dir(&dir).env_remove("FACEGATE_CONFIG");
        cmd.envs(env.iter().copied());
        cmd.output().expect("runs")
    };
    let print = |env: &[(&str, &str)], flags: &[&str]| -> Value {
        let out = run(env, flags);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let table: toml::Table = String::from_utf8_lossy(&out.stdout).parse().expect("TOML");
        serde_json::to_value(table).expect("JSON")
    };
    let file_only = print(&[], &[]);
    assert_eq!((file_only["queue"].as_i64(), file_only["match_threshold"].as_f64()), (Some(5), Some(70.0)));
    assert_eq!(file_only["sync_interval_ms"].as_i64(), Some(250), "defaults fill the rest");
    let env = print(&[("FACEGATE_QUEUE", "6")], &[]);
    assert_eq!((env["queue"].as_i64(), env["match_threshold"].as_f64()), (Some(6), Some(70.0)));
    let flag = print(&[("FACEGATE_QUEUE", "6")], &["--queue", "7"]);
    assert_eq!(flag["queue"].as_i64(), Some(7));
    assert_eq!(flag["listen"].as_str(), Some("127.0.0.1:9001"));
    // A bad value stops the start with the setting's name.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facegate"))
        .args(["serve", "--print-config", "--match-threshold", "250"])
        .current_dir(&dir)
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("match_threshold"));

    // Every key, from its variable and from `--set` (flags over the environment), e.g. the settings that had
    // neither: passive_threshold, open_routes, liveness_privacy, metrics_public.
    let keys: Vec<String> = file_only.as_object().map(|t| t.keys().cloned().collect()).unwrap_or_default();
    assert!(keys.len() >= 40 && keys.iter().any(|k| k == "passive_threshold"), "{keys:?}");
    let env = print(
        &[
            ("FACEGATE_PASSIVE_THRESHOLD", "0.3"),
            ("FACEGATE_OPEN_ROUTES", "face_login,nose_challenge_start"),
            ("FACEGATE_LIVENESS_PRIVACY", "true"),
            ("FACEGATE_METRICS_PUBLIC", "true"),
            ("FACEGATE_TOKEN_ISSUER", "issuer-from-env"),
        ],
        &["--set", "token_issuer=issuer-from-flag", "--set", "ip_burst=12"],
    );
    assert_eq!(env["passive_threshold"].as_f64().map(|v| (v * 100.0).round()), Some(30.0));
    assert_eq!(env["open_routes"], serde_json::json!(["face_login", "nose_challenge_start"]));
    assert_eq!((env["liveness_privacy"].as_bool(), env["metrics_public"].as_bool()), (Some(true), Some(true)));
    assert_eq!((env["token_issuer"].as_str(), env["ip_burst"].as_i64()), (Some("issuer-from-flag"), Some(12)));
    // Every key of the printed configuration is accepted by --set and by its variable (its own value back).
    for (key, value) in file_only.as_object().into_iter().flatten() {
        let text = match value {
            Value::String(s) if s == "<redacted>" => continue,
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(","),
            other => other.to_string(),
        };
        let variable = format!("FACEGATE_{}", key.to_uppercase());
        assert_eq!(&print(&[(variable.as_str(), text.as_str())], &[])[key], value, "{variable}={text}");
        assert_eq!(&print(&[], &["--set", &format!("{key}={text}")])[key], value, "--set {key}={text}");
    }

    // A misspelt variable or key stops the start, naming the close matches; secrets never come from flags.
    let refused = |env: &[(&str, &str)], flags: &[&str]| -> String {
        let out = run(env, flags);
        assert!(!out.status.success(), "{env:?} {flags:?} accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let typo = refused(&[("FACEGATE_PASSIVE_TRESHOLD", "0.3")], &[]);
    assert!(typo.contains("FACEGATE_PASSIVE_TRESHOLD") && typo.contains("FACEGATE_PASSIVE_THRESHOLD"), "{typo}");
    let typo = refused(&[], &["--set", "open_route=face_login"]);
    assert!(typo.contains("open_routes"), "{typo}");
    let bad = refused(&[("FACEGATE_QUEUE", "many")], &[]);
    assert!(bad.contains("FACEGATE_QUEUE") && bad.contains("many"), "{bad}");
    let secret = refused(&[], &["--set", "admin_key=0123456789abcdef0123"]);
    assert!(secret.contains("FACEGATE_ADMIN_KEY") && !secret.contains("0123456789abcdef0123"), "{secret}");
    let twice = refused(&[], &["--queue", "3", "--set", "queue=4"]);
    assert!(twice.contains("queue"), "{twice}");
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
    let backends: Vec<Arc<Backend>> = vec![
        Arc::new(Backend { name: "sqlite", tmp: tmp.path().join("sqlite"), postgres: false, server: OnceLock::new() }),
        Arc::new(Backend {
            name: "postgres",
            tmp: tmp.path().join("postgres"),
            postgres: true,
            server: OnceLock::new(),
        }),
    ];
    let cases: &[(&str, Case)] = &[
        ("probes_metrics_and_docs", probes_metrics_and_docs),
        ("detect_accepts_every_encoding", detect_accepts_every_encoding),
        ("bad_input_gets_typed_errors", bad_input_gets_typed_errors),
        ("compare_same_and_different_people", compare_same_and_different_people),
        ("compare_against_every_face_of_a_group", compare_against_every_face_of_a_group),
        ("verify_id_document_and_selfie", verify_id_document_and_selfie),
        ("collection_lifecycle", collection_lifecycle),
        ("index_search_and_delete_faces", index_search_and_delete_faces),
        ("index_options_and_errors", index_options_and_errors),
        ("two_replicas_share_one_store", two_replicas_share_one_store),
        ("collection_users_group_faces", collection_users_group_faces),
    ];
    let mut trials = Vec::new();
    for backend in &backends {
        for &(name, case) in cases {
            let backend = backend.clone();
            trials.push(trial!(format!("{}::{name}", backend.name), move || {
                let (served, _) = backend.server();
                case(&Env { backend: &backend, s: served, http: client() })
            }));
        }
    }
    let process_cases: &[(&str, ProcessCase)] = &[
        ("graceful_shutdown", graceful_shutdown),
        ("overload_answers_503", overload_answers_503),
        ("cli_enroll_search_then_serve", cli_enroll_search_then_serve),
        ("configuration_layers", configuration_layers),
        ("postgres_outage_and_recovery", postgres_outage_and_recovery),
    ];
    for &(name, case) in process_cases {
        let tmp = tmp.clone();
        trials.push(trial!(format!("process::{name}"), move || case(tmp.path())));
    }
    trials
}
