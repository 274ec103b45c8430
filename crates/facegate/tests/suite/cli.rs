//! The `facegate` binary end to end, on real images from ../shared/data.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use antispoof::passive::OFFICIAL_SOURCE;
use antispoof::SPOOF_MODELS;
use serde_json::Value;
use vision::models::sha256_hex;

fn shared() -> PathBuf {
    testkit::shared_dir()
}

fn sample(rel: &str) -> String {
    shared().join("data").join(rel).display().to_string()
}

fn facegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facegate"))
        .args(args)
        .env_remove("FACEGATE_MODELS_DIR")
        .output()
        .expect("the binary runs")
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn models_are_embedded_and_checked() {
    let v = json_of(&facegate(&["models", "--json"]));
    // The anti-spoofing weights are listed too, but never embedded: without a models directory they do not load.
    let (passive, models): (Vec<&Value>, Vec<&Value>) =
        v["models"].as_array().expect("a list").iter().partition(|m| m["role"] == "passive_anti_spoofing");
    assert_eq!(passive.len(), 2, "{v}");
    for m in passive {
        assert_eq!((m["embedded_in_binary"].as_bool(), m["loads_from"].is_null()), (Some(false), true), "{m}");
        assert!(m["error"].as_str().is_some_and(|e| e.contains("models fetch")), "{m}");
    }
    let mut files: Vec<&str> = models.iter().map(|m| m["file"].as_str().expect("file")).collect();
    files.sort_unstable();
    // Every model committed under `models/` is listed, and nothing else.
    let mut committed: Vec<String> = std::fs::read_dir(testkit::repo_root().join("models"))
        .expect("models/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".onnx"))
        .collect();
    committed.sort_unstable();
    assert_eq!(files, committed);
    for m in models {
        assert_eq!(m["loads_from"], "embedded", "{m}");
        assert_eq!(m["sha256"].as_str().map(str::len), Some(64));
    }
}

fn a_models_directory_overrides_the_embedded_copy_and_a_tampered_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original =
        std::fs::read(testkit::repo_root().join("models/face_detection_yunet_2023mar.onnx")).expect("committed model");
    let path = dir.path().join("face_detection_yunet_2023mar.onnx");
    std::fs::write(&path, &original).expect("write");
    let d = dir.path().to_str().expect("utf-8 path");
    let v = json_of(&facegate(&["--models-dir", d, "models", "--json"]));
    assert_eq!(v["models"][0]["loads_from"], path.display().to_string());
    assert_eq!(v["models"][1]["loads_from"], "embedded", "files not in the directory fall back to the embedded copy");

    let mut tampered = original;
    let last = tampered.len() - 1;
    tampered[last] ^= 0x55;
    std::fs::write(&path, &tampered).expect("write");
    let out = facegate(&["--models-dir", d, "detect", &sample("samples/face_recognition/obama.jpg")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SHA-256 mismatch"), "{err}");
}

fn the_engine_is_chosen_at_run_time_and_shown() {
    let engine_of = |args: &[&str], ort: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_facegate"));
        c.args(args).args(["models", "--json"]).env_remove("FACEGATE_MODELS_DIR").env_remove("FACEGATE_BACKEND");
        if let Some(path) = ort {
            c.env("ORT_DYLIB_PATH", path);
        }
        json_of(&c.output().expect("the binary runs"))
    };
    let tract = engine_of(&["--backend", "tract"], None);
    assert_eq!(
        (tract["engine"]["name"].as_str(), tract["engine"]["requested"].as_str()),
        (Some("tract"), Some("tract"))
    );
    assert!(tract["engine"]["fallback"].is_null(), "{tract}");

    // auto without a usable library runs tract and says why; onnxruntime asked for explicitly is an error.
    let fallback = engine_of(&[], Some("/nonexistent/libonnxruntime.so"));
    assert_eq!(fallback["engine"]["name"], "tract", "{fallback}");
    assert_eq!(fallback["engine"]["requested"], "auto", "{fallback}");
    assert!(fallback["engine"]["fallback"].as_str().is_some_and(|w| w.contains("ORT_DYLIB_PATH")), "{fallback}");
    let refused = engine_of(&["--backend", "onnxruntime"], Some("/nonexistent/libonnxruntime.so"));
    assert!(refused["engine"].is_null(), "{refused}");
    assert!(
        refused["engine_error"].as_str().is_some_and(|e| e.contains("/nonexistent/libonnxruntime.so")),
        "{refused}"
    );

    // With the library found (CI installs the onnxruntime wheel), auto runs it.
    match vision::runtime::onnxruntime::find_library() {
        Ok(found) => {
            let ort = engine_of(&[], None);
            assert_eq!(ort["engine"]["name"], "onnxruntime", "{ort}");
            let library = ort["engine"]["library"].as_str().unwrap_or_default();
            assert!(library.contains(&found.path.display().to_string()), "{ort}");
        }
        Err(why) => testkit::skip_unless_ci(&format!("auto choosing ONNX Runtime: {why}")),
    }
}

fn detect_reports_each_face_with_box_landmarks_score_and_quality() {
    let v = json_of(&facegate(&["detect", "--json", &sample("samples/face_recognition/two_people.jpg")]));
    let faces = v["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 2);
    for f in faces {
        assert!(f["boundingBox"]["width"].as_f64().expect("width") > 50.0);
        // The HTTP API's vocabulary (POST /v1/detect): named landmarks, `confidence`.
        assert_eq!(f["landmarks"].as_object().map(|l| l.len()), Some(5), "{f}");
        assert!(f["landmarks"]["rightEye"]["x"].is_number(), "{f}");
        assert!(f["confidence"].as_f64().expect("confidence") > 0.6);
        assert!(f["quality"]["score"].as_f64().is_some());
        assert!(f["quality"]["issues"].is_array());
    }
    assert_eq!(v["width"], 1126);
}

fn detect_refuses_a_file_that_is_not_an_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notes.jpg");
    std::fs::write(&path, "hello, this is text").expect("write");
    let out = facegate(&["detect", path.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an image"));
}

fn compare_decides_same_and_different_people() {
    let obama = sample("samples/face_recognition/obama.jpg");
    let same = json_of(&facegate(&["compare", "--json", &obama, &sample("samples/face_recognition/obama2.jpg")]));
    assert_eq!(same["match"], true, "{same}");
    assert!(same["source"]["face"]["boundingBox"]["width"].as_f64().is_some(), "{same}");
    assert!(same["similarity"].as_f64().expect("similarity") >= same["threshold"].as_f64().expect("threshold"));
    for stage in ["decodeMs", "detectMs", "alignMs", "embedMs"] {
        assert!(same["source"]["times"][stage].as_f64().is_some(), "{stage}");
    }
    let different = json_of(&facegate(&["compare", "--json", &obama, &sample("samples/face_recognition/biden.jpg")]));
    assert_eq!(different["match"], false, "{different}");
    assert!(different["cosine"].as_f64() < same["cosine"].as_f64());
    // A stricter threshold turns the same pair into a non-match only above its score.
    let strict = json_of(&facegate(&[
        "compare",
        "--json",
        "--cosine-threshold",
        "0.99",
        &obama,
        &sample("samples/face_recognition/obama2.jpg"),
    ]));
    assert_eq!(strict["match"], false);
}

fn compare_with_a_missing_face_index_is_a_clear_error() {
    let obama = sample("samples/face_recognition/obama.jpg");
    let out = facegate(&["compare", "--face", "3", &obama, &obama]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of range"));
    let out = facegate(&["compare", &obama, &sample("samples/insightface/crop/no_face.png")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no face"));
}

/// The CLI runs the service's comparison: on the shared LFW pairs (same people and different people, from the
/// official pairs file) `facegate compare --json` gives the `match`, similarity and threshold that `POST
/// /v1/compare` of a server with the same settings gives.
fn compare_gives_the_apis_match_on_the_shared_pairs() {
    let text = std::fs::read_to_string(shared().join("data/lfw/pairs.txt")).expect("pairs.txt");
    let path = |name: &str, n: &str| {
        let n: u32 = n.parse().expect("an image number");
        sample(&format!("lfw/images/{name}/{name}_{n:04}.jpg"))
    };
    let pairs: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
            [name, i, j] => Some((path(name, i), path(name, j))),
            [a, i, b, j] => Some((path(a, i), path(b, j))),
            _ => None,
        })
        .step_by(150)
        .take(8)
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = crate::support::Served::start(dir.path(), None, &[]);
    let http = crate::support::client();
    let mut matches = 0;
    for (a, b) in &pairs {
        let cli = json_of(&facegate(&["compare", "--json", a, b]));
        let form = reqwest::blocking::multipart::Form::new()
            .part("source", crate::support::file_part("a.jpg", std::fs::read(a).expect("image")))
            .part("target", crate::support::file_part("b.jpg", std::fs::read(b).expect("image")));
        let (status, api) =
            crate::support::json(http.post(server.url("/v1/compare")).multipart(form).send().expect("compare"));
        assert_eq!(status, 200, "{api}");
        assert_eq!(cli["match"], api["match"], "{a} {b}: cli {cli} api {api}");
        assert_eq!(cli["threshold"], api["threshold"], "{a} {b}");
        let (c, s) = (cli["similarity"].as_f64().expect("cli"), api["similarity"].as_f64().expect("api"));
        assert!((c - s).abs() < 0.05, "{a} {b}: similarity cli {c} api {s}");
        matches += usize::from(cli["match"] == true);
    }
    // The sample holds both kinds of pairs, and both kinds of answers.
    assert!((1..pairs.len()).contains(&matches), "{matches} matches of {}", pairs.len());
}

/// A smaller pairs file in the same format, cut from the shared one: the first `n` same and `n` different
/// pairs of each of its first two folds.
fn small_pairs_file(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(shared().join("data/lfw/pairs.txt")).expect("pairs.txt");
    let mut lines = text.lines();
    let header: Vec<usize> =
        lines.next().expect("header").split_whitespace().map(|x| x.parse().expect("number")).collect();
    let per_fold = header[1];
    let body: Vec<&str> = lines.collect();
    let mut out = format!("2\t{n}\n");
    for fold in 0..2 {
        let start = fold * 2 * per_fold;
        for l in &body[start..start + n] {
            out.push_str(l);
            out.push('\n');
        }
        for l in &body[start + per_fold..start + per_fold + n] {
            out.push_str(l);
            out.push('\n');
        }
    }
    let path = dir.join("pairs.txt");
    std::fs::write(&path, out).expect("write");
    path
}

fn eval_lfw_runs_the_protocol_on_any_number_of_folds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pairs = small_pairs_file(dir.path(), 25);
    let images = shared().join("data/lfw/images");
    let v = json_of(&facegate(&[
        "eval",
        "lfw",
        "--json",
        "--pairs",
        pairs.to_str().expect("utf-8"),
        "--images",
        images.to_str().expect("utf-8"),
    ]));
    assert_eq!(v["pairs"], 100);
    assert_eq!(v["folds"], 2);
    for key in [
        "accuracy_mean",
        "accuracy_std",
        "auc",
        "tar_at_far_1e3",
        "tar_at_far_1e2",
        "threshold_best",
        "threshold_far_1e3",
    ] {
        assert!(v[key].as_f64().is_some(), "{key} missing: {v}");
    }
    assert_eq!(v["faces_not_found"], 0);
    assert!(v["accuracy_mean"].as_f64().expect("accuracy") >= 0.95, "{v}");
    assert!(v["auc"].as_f64().expect("auc") >= 0.98, "{v}");
}

fn eval_refuses_a_malformed_pairs_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pairs = dir.path().join("pairs.txt");
    std::fs::write(&pairs, "3\t300\nAbel_Pacheco\t1\t4\n").expect("write");
    let out = facegate(&["eval", "lfw", "--pairs", pairs.to_str().expect("utf-8"), "--images", "/nonexistent"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("announces"));
}

fn bench_reports_percentiles_for_every_stage() {
    let v =
        json_of(&facegate(&["bench", "--json", "--runs", "3", &sample("samples/face_recognition/obama_small.jpg")]));
    let stage = &v["stages"][0];
    for name in ["decode", "detect", "align", "embed"] {
        let p50 = stage[name]["p50_ms"].as_f64().expect("p50");
        let p99 = stage[name]["p99_ms"].as_f64().expect("p99");
        assert!(p50 > 0.0 && p50 <= p99, "{name}: {p50} {p99}");
        assert_eq!(stage[name]["runs"], 3);
    }
    assert!(v["throughput"][0]["compares_per_second"].as_f64().expect("throughput") > 0.0);
}

fn spoof_models() -> String {
    shared().join("models/shared-only").display().to_string()
}

fn eval_pad_meets_the_print_attack_targets_and_reports_replays() {
    let nuaa = json_of(&facegate(&[
        "--models-dir",
        &spoof_models(),
        "eval",
        "pad",
        "--labels",
        &sample("nuaa/labels.csv"),
        "--json",
    ]));
    assert_eq!((nuaa["bonaFide"].as_u64(), nuaa["attacks"].as_u64()), (Some(286), Some(288)));
    for key in ["apcer", "bpcer"] {
        let v = nuaa[key].as_f64().unwrap();
        assert!(v <= 0.01, "NUAA {key} {v} at the default threshold");
    }
    assert!(nuaa["auc"].as_f64().unwrap() > 0.999, "{nuaa}");
    let replay = json_of(&facegate(&[
        "--models-dir",
        &spoof_models(),
        "eval",
        "pad",
        "--labels",
        &sample("replay/labels.csv"),
        "--crops",
        "--json",
    ]));
    // The published ensemble reaches AUC 0.91 on these crops; the log-odds ensemble does better.
    assert!(replay["auc"].as_f64().unwrap() > 0.92, "{replay}");
    for key in ["apcer", "bpcer", "acer", "bpcerAtApcer1", "bpcerAtApcer5", "modelVerdictApcer"] {
        assert!(replay[key].as_f64().is_some(), "{key} in {replay}");
    }
}

fn eval_pad_without_the_weights_says_where_they_belong() {
    let empty = std::env::temp_dir().join(format!("facegate-no-models-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = facegate(&[
        "--models-dir",
        &empty.display().to_string(),
        "eval",
        "pad",
        "--labels",
        &sample("nuaa/labels.csv"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2.7_80x80_MiniFASNetV2.pth"), "{err}");
}

// `facegate models fetch`, against a small HTTP server run by the test: nothing here reaches the internet.

/// A tiny HTTP/1.1 server on loopback: `GET /files/NAME` serves `root/NAME`, `GET /moved/NAME` redirects there
/// (as GitHub's raw URLs redirect), anything else is a 404. Counts the requests it answers.
struct FileServer {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl FileServer {
    fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = answer(stream, &root);
            }
        });
        FileServer { base, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let file = |prefix: &str| target.strip_prefix(prefix).filter(|n| !n.is_empty() && !n.contains(['/', '\\']));
    let (status, extra, body) = if let Some(name) = file("/moved/") {
        ("302 Found", format!("Location: /files/{name}\r\n"), Vec::new())
    } else if let Some(body) = file("/files/").and_then(|name| std::fs::read(root.join(name)).ok()) {
        ("200 OK", "Content-Type: application/octet-stream\r\n".to_string(), body)
    } else {
        ("404 Not Found", "Content-Type: text/plain\r\n".to_string(), b"not found\n".to_vec())
    };
    write!(stream, "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(&body)?;
    stream.flush()
}

/// The published weights from ../shared, as (file name, bytes).
fn official_weights() -> Vec<(&'static str, Vec<u8>)> {
    let dir = testkit::shared_dir().join("models/shared-only");
    SPOOF_MODELS.iter().map(|m| (m.file, std::fs::read(dir.join(m.file)).expect("shared weights"))).collect()
}

/// A folder holding `files`, to serve.
fn folder_with(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    dir
}

/// The binary with no models directory from the environment and no proxy (the server is on loopback).
fn facegate_fetch(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facegate"));
    cmd.args(args).env_remove("FACEGATE_MODELS_DIR");
    for var in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(var);
    }
    cmd.output().expect("the binary runs")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.sort_unstable();
    names
}

fn models_fetch_downloads_the_passive_weights_once_and_they_load() {
    for m in SPOOF_MODELS {
        assert_eq!(format!("{OFFICIAL_SOURCE}{}", m.file), m.url, "the default source is where each file is published");
    }
    let weights = official_weights();
    let served = folder_with(&weights);
    let server = FileServer::start(served.path().to_path_buf());
    let home = tempfile::tempdir().expect("temp dir");
    let models = home.path().join("not/yet/there");
    let dir = models.to_str().expect("utf-8 path");

    let out = facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", &format!("{}/moved/", server.base)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.requests(), 4, "one redirect and one download per file");
    for (name, bytes) in &weights {
        assert!(stdout.lines().any(|l| l.contains("fetched") && l.contains(name)), "{stdout}");
        let written = std::fs::read(models.join(name)).expect("written");
        assert_eq!(&written, bytes);
        let spec = SPOOF_MODELS.iter().find(|m| m.file == *name).expect("spec");
        assert_eq!(sha256_hex(&written), spec.sha256);
    }
    let mut expected: Vec<String> = SPOOF_MODELS.iter().map(|m| m.file.to_string()).collect();
    expected.sort_unstable();
    assert_eq!(names_in(&models), expected, "the two files and nothing else (no temporary file)");

    // `facegate models` builds both networks from them.
    let listing = json_of(&facegate(&["--models-dir", dir, "models", "--json"]));
    let passive: Vec<&Value> =
        listing["models"].as_array().expect("a list").iter().filter(|m| m["role"] == "passive_anti_spoofing").collect();
    assert_eq!(passive.len(), 2, "{listing}");
    for m in passive {
        let file = m["file"].as_str().expect("file");
        assert_eq!(m["loads_from"], models.join(file).display().to_string(), "{m}");
        assert!(m["error"].is_null(), "{m}");
    }

    // A second run finds them and downloads nothing.
    let again = json_of(&facegate_fetch(&[
        "--models-dir",
        dir,
        "models",
        "fetch",
        "--json",
        "--from",
        &format!("{}/files", server.base),
    ]));
    let statuses: Vec<&str> =
        again["files"].as_array().expect("files").iter().filter_map(|f| f["status"].as_str()).collect();
    assert_eq!(statuses, ["already_present", "already_present"], "{again}");
    assert_eq!(server.requests(), 4, "nothing downloaded the second time");
    let text = facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", &server.base]);
    assert!(text.status.success());
    assert_eq!(String::from_utf8_lossy(&text.stdout).matches("already present").count(), 2);
    assert_eq!(server.requests(), 4);
}

fn models_fetch_refuses_a_tampered_download_and_leaves_nothing() {
    let tampered: Vec<(&str, Vec<u8>)> = official_weights()
        .into_iter()
        .map(|(name, mut bytes)| {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            (name, bytes)
        })
        .collect();
    let served = folder_with(&tampered);
    let server = FileServer::start(served.path().to_path_buf());
    let models = tempfile::tempdir().expect("temp dir");
    let dir = models.path().to_str().expect("utf-8 path");
    let out = facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", &format!("{}/files/", server.base)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for (name, bytes) in &tampered {
        let spec = SPOOF_MODELS.iter().find(|m| m.file == *name).expect("spec");
        assert!(err.contains(name), "{err}");
        assert!(err.contains(spec.sha256), "the expected hash: {err}");
        assert!(err.contains(&sha256_hex(bytes)), "the actual hash: {err}");
    }
    assert!(err.contains("SHA-256 mismatch"), "{err}");
    assert_eq!(names_in(models.path()), Vec::<String>::new(), "nothing written, no temporary file left");
}

fn models_fetch_reports_a_missing_file_clearly() {
    let served = tempfile::tempdir().expect("temp dir");
    let server = FileServer::start(served.path().to_path_buf());
    let models = tempfile::tempdir().expect("temp dir");
    let dir = models.path().to_str().expect("utf-8 path");
    let out = facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", &format!("{}/files/", server.base)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for m in SPOOF_MODELS {
        assert!(err.contains(&format!("downloading {} from {}/files/{}", m.file, server.base, m.file)), "{err}");
    }
    assert!(err.contains("404 Not Found"), "{err}");
    assert_eq!(names_in(models.path()), Vec::<String>::new());
}

/// An offline machine's mirror: a folder, named by its path or a file:// URL; a tampered copy there is refused
/// like a tampered download, and what is neither a URL nor a folder is a clear error.
fn models_fetch_takes_the_weights_from_a_folder() {
    let weights = official_weights();
    let mirror = folder_with(&weights);
    let mirror_path = mirror.path().to_str().expect("utf-8 path").to_string();
    for from in [mirror_path.clone(), format!("file://{mirror_path}")] {
        let models = tempfile::tempdir().expect("temp dir");
        let dir = models.path().to_str().expect("utf-8 path");
        let out = json_of(&facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", &from, "--json"]));
        let statuses: Vec<&str> =
            out["files"].as_array().expect("files").iter().filter_map(|f| f["status"].as_str()).collect();
        assert_eq!(statuses, vec!["fetched"; weights.len()], "{from}: {out}");
        for (name, bytes) in &weights {
            assert_eq!(&std::fs::read(models.path().join(name)).expect("written"), bytes, "{from}");
        }
    }
    let tampered = folder_with(&[(weights[0].0, b"not the weights".to_vec()), (weights[1].0, weights[1].1.clone())]);
    let models = tempfile::tempdir().expect("temp dir");
    let dir = models.path().to_str().expect("utf-8 path");
    let out =
        facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", tampered.path().to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SHA-256 mismatch"), "{err}");
    assert_eq!(names_in(models.path()), vec![weights[1].0.to_string()], "only the good copy is written");
    let out = facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", "/no/such/mirror"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a folder") && err.contains("/no/such/mirror"), "{err}");
}

fn models_fetch_without_a_models_directory_is_a_clear_error() {
    let out = facegate_fetch(&["models", "fetch", "--from", "http://127.0.0.1:9/"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a models directory") && err.contains("--models-dir"), "{err}");
    assert!(err.contains("FACEGATE_MODELS_DIR"), "{err}");
}

fn models_fetch_replaces_a_wrong_file_only_with_force() {
    let weights = official_weights();
    let served = folder_with(&weights);
    let server = FileServer::start(served.path().to_path_buf());
    let models = folder_with(&[(weights[0].0, b"not the weights".to_vec()), (weights[1].0, weights[1].1.clone())]);
    let dir = models.path().to_str().expect("utf-8 path");
    let from = format!("{}/files/", server.base);

    let out = facegate_fetch(&["--models-dir", dir, "models", "fetch", "--from", &from]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.contains("refused") && l.contains(weights[0].0)), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("already present") && l.contains(weights[1].0)), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--force") && err.contains(&sha256_hex(b"not the weights")), "{err}");
    assert_eq!(std::fs::read(models.path().join(weights[0].0)).expect("kept"), b"not the weights");
    assert_eq!(server.requests(), 0, "a refused file is not downloaded");

    let forced =
        json_of(&facegate_fetch(&["--models-dir", dir, "models", "fetch", "--force", "--from", &from, "--json"]));
    let statuses: Vec<&str> =
        forced["files"].as_array().expect("files").iter().filter_map(|f| f["status"].as_str()).collect();
    assert_eq!(statuses, ["replaced", "already_present"], "{forced}");
    assert_eq!(std::fs::read(models.path().join(weights[0].0)).expect("replaced"), weights[0].1);
    assert_eq!(server.requests(), 1);
}

tests![
    models_are_embedded_and_checked,
    a_models_directory_overrides_the_embedded_copy_and_a_tampered_file_is_refused,
    the_engine_is_chosen_at_run_time_and_shown,
    detect_reports_each_face_with_box_landmarks_score_and_quality,
    detect_refuses_a_file_that_is_not_an_image,
    compare_decides_same_and_different_people,
    compare_with_a_missing_face_index_is_a_clear_error,
    compare_gives_the_apis_match_on_the_shared_pairs,
    eval_lfw_runs_the_protocol_on_any_number_of_folds,
    eval_refuses_a_malformed_pairs_file,
    bench_reports_percentiles_for_every_stage,
    eval_pad_meets_the_print_attack_targets_and_reports_replays,
    eval_pad_without_the_weights_says_where_they_belong,
    models_fetch_downloads_the_passive_weights_once_and_they_load,
    models_fetch_refuses_a_tampered_download_and_leaves_nothing,
    models_fetch_reports_a_missing_file_clearly,
    models_fetch_takes_the_weights_from_a_folder,
    models_fetch_without_a_models_directory_is_a_clear_error,
    models_fetch_replaces_a_wrong_file_only_with_force,
];
