//! `/openapi.json` as third-party tools read it, from a real `facegate serve`: openapi-spec-validator accepts it,
//! every operation has a unique operationId and a tag (what client generators name functions and modules
//! after), and openapi-python-client turns it into a Python client that drives the API
//! (tests/openapi_client.py: 1:1 compare, a collection indexed and searched, a liveness session read back, and
//! a front door's JSON route, `/compat/liveness-api/compare`).
//!
//! The Python tools come from the Python named by `FACEGATE_TEST_PYTHON` (`.ci/run` installs them in its venv);
//! without them these trials fail under CI and are skipped (with a message) elsewhere.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;
use serde_json::Value;

tests!(spec_validator_accepts_the_document, operation_ids_unique_and_tagged, generated_python_client_drives_the_api);

/// A fresh server in `dir` and its `/openapi.json`: the parsed document and the bytes served.
fn served_document(dir: &Path) -> (Served, Value, Vec<u8>) {
    let s = Served::start(&dir.join("data"), None, &[]);
    let resp = client().get(s.url("/openapi.json")).send().expect("GET /openapi.json");
    assert_eq!(resp.status().as_u16(), 200);
    let bytes = resp.bytes().expect("body").to_vec();
    let doc: Value = serde_json::from_slice(&bytes).expect("/openapi.json is JSON");
    (s, doc, bytes)
}

/// `FACEGATE_TEST_PYTHON` when it imports `modules` (comma-separated), or `None`: skipped with a message, a
/// failure under CI.
fn python_with(modules: &str) -> Option<OsString> {
    let Some(python) = std::env::var_os("FACEGATE_TEST_PYTHON") else {
        testkit::skip_unless_ci(&format!("FACEGATE_TEST_PYTHON (a Python with {modules})"));
        return None;
    };
    let imports = Command::new(&python).args(["-c", &format!("import {modules}")]).output();
    match imports {
        Ok(out) if out.status.success() => Some(python),
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            testkit::skip_unless_ci(&format!("{modules} in FACEGATE_TEST_PYTHON ({python:?}): {why}"));
            None
        }
        Err(e) => {
            testkit::skip_unless_ci(&format!("FACEGATE_TEST_PYTHON ({python:?}) runs: {e}"));
            None
        }
    }
}

/// Standard output and error of a finished process, for failure messages.
fn outputs(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// openapi-spec-validator (every validation error, not only the first) on the document as served.
fn spec_validator_accepts_the_document() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (_s, doc, bytes) = served_document(tmp.path());
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "OpenAPI version: {}", doc["openapi"]);
    let Some(python) = python_with("openapi_spec_validator") else { return };
    let file = tmp.path().join("openapi.json");
    std::fs::write(&file, &bytes).expect("write the document");
    let out = Command::new(python)
        .args(["-m", "openapi_spec_validator", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .expect("openapi-spec-validator runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with(": OK"),
        "openapi-spec-validator refuses /openapi.json:\n{}",
        outputs(&out)
    );
}

/// The lower-case letters and digits of a name: what snake_case and PascalCase renderings of it (generated
/// modules, functions, classes) keep apart.
fn folded(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// Every operation: an operationId no other operation has (also once case and separators are dropped, as a
/// generator's snake_case function names drop them), at least one tag, each tag declared in the document's
/// `tags`; tags distinct once folded the same way (they become the generated client's modules).
fn operation_ids_unique_and_tagged() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (_s, doc, _) = served_document(tmp.path());
    let declared: Vec<&str> =
        doc["tags"].as_array().expect("top-level tags").iter().filter_map(|t| t["name"].as_str()).collect();
    let mut folded_tags = BTreeMap::new();
    for tag in &declared {
        if let Some(other) = folded_tags.insert(folded(tag), *tag) {
            panic!("tags {other:?} and {tag:?} become one module name in a generated client");
        }
    }
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut folded_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if !["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let at = format!("{} {path}", method.to_uppercase());
            let tags: Vec<&str> =
                operation["tags"].as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            if tags.is_empty() {
                problems.push(format!("{at}: no tag"));
            }
            for tag in tags.iter().filter(|t| !declared.contains(t)) {
                problems.push(format!("{at}: tag {tag:?} is not declared in the document's tags"));
            }
            let Some(id) = operation["operationId"].as_str().filter(|id| !id.is_empty()) else {
                problems.push(format!("{at}: no operationId"));
                continue;
            };
            if let Some(other) = ids.insert(id.to_string(), at.clone()) {
                problems.push(format!("operationId {id:?} is both {other} and {at}"));
            } else if let Some(other) = folded_ids.insert(folded(id), format!("{id:?} ({at})")) {
                problems.push(format!("operationIds {other} and {id:?} ({at}) differ only in case or separators"));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(operations > 80 && ids.len() == operations, "{operations} operations, {} operationIds", ids.len());
}

/// openapi-python-client generates a client from the document as served (offline, `--meta none`: the package
/// alone; `--fail-on-warning`: any part of the document it cannot turn into code fails the test), and
/// tests/openapi_client.py drives this server with it. The generator's configuration maps the `image/jpeg`
/// responses (a face's stored image, a session's images) to binary, a content type it does not know by name,
/// and runs no formatter afterwards (its default post-hooks run ruff).
fn generated_python_client_drives_the_api() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (s, _doc, bytes) = served_document(tmp.path());
    let Some(python) = python_with("openapi_python_client, httpx, attrs, dateutil") else { return };
    let spec = tmp.path().join("openapi.json");
    std::fs::write(&spec, &bytes).expect("write the document");
    let config = tmp.path().join("openapi-python-client.yaml");
    std::fs::write(&config, "content_type_overrides:\n  image/jpeg: application/octet-stream\npost_hooks: []\n")
        .expect("write the generator's configuration");
    let generated = tmp.path().join("client");
    let out = Command::new(&python)
        .args(["-m", "openapi_python_client", "generate", "--meta", "none", "--fail-on-warning", "--path"])
        .arg(&spec)
        .arg("--config")
        .arg(&config)
        .arg("--output-path")
        .arg(generated.join("facegate_client"))
        .output()
        .expect("openapi-python-client runs");
    let said = outputs(&out);
    assert!(out.status.success(), "openapi-python-client fails on /openapi.json:\n{said}");
    assert!(!said.to_lowercase().contains("warning"), "openapi-python-client warns:\n{said}");
    for module in ["api/faces/faces_compare.py", "api/liveness/create_session.py", "models/compare_response.py"] {
        let path = generated.join("facegate_client").join(module);
        assert!(path.is_file(), "the generated client lacks {module}:\n{said}");
    }

    let script = testkit::repo_root().join("crates/facegate/tests/openapi_client.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(s.url(""))
        .arg(&generated)
        .arg(shared_data("samples/face_recognition"))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the generated client's calls failed:\n{}\nserver log:\n{}",
        outputs(&out),
        s.log_text()
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", outputs(&out)));
    assert_eq!(summary["compare"]["match"], true, "{summary}");
    assert!(summary["compare"]["similarity"].as_f64().is_some_and(|v| v > 80.0), "{summary}");
    assert_eq!(summary["compare"]["otherMatch"], false, "{summary}");
    assert_eq!(summary["search"]["foundFaceId"], summary["search"]["indexedFaceId"], "{summary}");
    assert_eq!(summary["search"]["externalId"], "obama", "{summary}");
    assert!(summary["session"]["created"].as_str().is_some_and(|id| id.len() == 36), "{summary}");
    assert_eq!(summary["session"]["read"], summary["session"]["created"], "{summary}");
    assert!(summary["compat"]["same"].as_f64().is_some_and(|v| v > 0.8), "{summary}");
    assert!(summary["compat"]["other"].as_f64().is_some_and(|v| v < 0.6), "{summary}");

    // What the generated client did is what the server saw: the collection it made holds the one face.
    let collection = summary["search"]["collectionId"].as_str().expect("collection id");
    let (status, faces) =
        json(client().get(s.url(&format!("/v1/collections/{collection}/faces"))).send().expect("list"));
    assert_eq!(status, 200, "{faces}");
    assert_eq!(faces["faces"][0]["faceId"], summary["search"]["indexedFaceId"], "{faces}");
}
