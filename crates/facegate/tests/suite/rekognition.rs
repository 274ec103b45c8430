//! The Rekognition-compatible API (`POST /`, AWS Signature V4) driven by boto3 — the AWS SDK for Python — against a
//! real `facegate serve` (tests/rekognition_boto3.py), plus the raw protocol's errors checked here.
//!
//! boto3 comes from the Python named by `FACEGATE_TEST_PYTHON` (`.ci/run` creates one); without it the boto3 part
//! fails under CI and is skipped (with a message) elsewhere.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;
use serde_json::Value;

const KEY_ID: &str = "AKIDFACEGATETEST";
const SECRET: &str = "test-secret-0123456789abcdefghijklmnop";
const ADMIN_KEY: &str = "rekognition-admin-key-0123456789";

/// A server in `dir/data` with `config` as its file, the admin key and the admin AWS access key pair.
fn serve_with_aws_pair(dir: &std::path::Path, config: &str) -> Served {
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    std::fs::write(dir.join("data/facegate.toml"), config).expect("config");
    Served::start_env(
        &dir.join("data"),
        None,
        &[],
        &[
            ("FACEGATE_ADMIN_KEY", ADMIN_KEY),
            ("FACEGATE_AWS_ACCESS_KEY_ID", KEY_ID),
            ("FACEGATE_AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    )
}

fn rekognition_api_through_boto3() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = serve_with_aws_pair(
        tmp.path(),
        "aws_liveness_challenges = [\"blink\"]\nliveness_allow_challenge_only = true\nliveness_min_challenge_frames = 1\nliveness_scene_continuity = false\n\
        liveness_replay_window_seconds = 0\naws_regions = [\"eu-west-1\"]\n",
    );
    // Unsigned and wrongly signed requests get AWS-shaped errors.
    let resp = client()
        .post(s.url("/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "RekognitionService.ListCollections")
        .body("{}")
        .send()
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().expect("json");
    assert_eq!(body["__type"], "MissingAuthenticationTokenException", "{body}");
    let resp = client()
        .post(s.url("/"))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=AKIDFACEGATETEST/20261122/eu-west-1/rekognition/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000")
        .header("x-amz-date", "20200101T000000Z")
        .header("x-amz-target", "RekognitionService.ListCollections")
        .body("{}")
        .send()
        .expect("request");
    let body: Value = resp.json().expect("json");
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");

    let Some(python) = std::env::var_os("FACEGATE_TEST_PYTHON") else {
        assert!(std::env::var_os("CI").is_none(), "CI must set FACEGATE_TEST_PYTHON (a Python with boto3)");
        eprintln!("skipped the boto3 suite: FACEGATE_TEST_PYTHON is not set");
        return;
    };
    let script = testkit::repo_root().join("crates/facegate/tests/rekognition_boto3.py");
    let out = Command::new(python)
        .arg(script)
        .args([s.url(""), KEY_ID.into(), SECRET.into(), ADMIN_KEY.into()])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "boto3 suite failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log_text()
    );
}

/// `X-Amz-Date` now (`YYYYMMDD'T'HHMMSS'Z'`).
fn amz_now() -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis();
    let text = app::time::rfc3339(i64::try_from(millis).expect("millis fit")); // 2026-11-22T07:15:00.123Z
    format!("{}Z", text[..19].replace(['-', ':'], ""))
}

/// Request headers (lower-case names, in the order sent; a name twice is sent twice).
type Headers = Vec<(&'static str, String)>;

const BODY: &str = r#"{"CollectionId":"kept"}"#;

/// The headers of a call to `operation` at `amz_date`, unsigned.
fn call(operation: &str, amz_date: &str) -> Headers {
    vec![
        ("content-type", "application/x-amz-json-1.1".into()),
        ("x-amz-date", amz_date.into()),
        ("x-amz-target", format!("RekognitionService.{operation}")),
    ]
}

/// `headers` and the `Authorization` an SDK would add for `POST /` with BODY to `s` (whose address is the Host),
/// signed with SECRET over the `signed` headers (`a;b;c`) in the credential scope `(date, region, service)`.
fn signed(s: &Served, mut headers: Headers, signed: &str, scope: (&str, &str, &str)) -> Headers {
    let host = s.base.trim_start_matches("http://").trim_end_matches('/');
    let mut all = vec![("host".to_string(), host.to_string())];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let amz_date = headers.iter().find(|(k, _)| *k == "x-amz-date").map(|(_, v)| v.clone()).expect("a date");
    let (date, region, service) = scope;
    let mut auth = auth::sigv4::Authorization {
        access_key_id: KEY_ID.into(),
        date: date.into(),
        region: region.into(),
        service: service.into(),
        signed_headers: signed.split(';').map(str::to_string).collect(),
        signature: String::new(),
    };
    let request = auth::sigv4::Request { method: "POST", path: "/", query: "", headers: &all, body: BODY.as_bytes() };
    auth.signature = auth::sigv4::sign(&request, &auth, &amz_date, SECRET).expect("every signed header is sent");
    let value = format!(
        "{} Credential={KEY_ID}/{}, SignedHeaders={signed}, Signature={}",
        auth::sigv4::ALGORITHM,
        auth.scope(),
        auth.signature
    );
    headers.push(("authorization", value));
    headers
}

/// Sends `POST /` with `headers` and BODY: the status and AWS's answer.
fn send(s: &Served, headers: &Headers) -> (u16, Value) {
    let request = headers.iter().fold(client().post(s.url("/")).body(BODY), |r, (k, v)| r.header(*k, v.as_str()));
    json(request.send().expect("request"))
}

/// Asserts an AWS refusal: 403 and its `__type`.
fn refused((status, body): (u16, Value), kind: &str, what: &str) {
    assert_eq!((status, body["__type"].as_str()), (403, Some(kind)), "{what}: {body}");
}

/// A signature binds what the request does (issue 17, defect 6): the operation (`X-Amz-Target`), the host and the
/// time must be signed and sent once each, and the credential scope must name this service, an accepted region
/// and the request's day. Every refused request below carries a signature that is arithmetically correct.
fn signatures_bind_the_operation_host_time_and_scope() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = serve_with_aws_pair(tmp.path(), "aws_regions = [\"eu-west-1\"]\n");
    let now = amz_now();
    let today = &now[..8];
    let all = "content-type;host;x-amz-date;x-amz-target";
    let eu = (today, "eu-west-1", "rekognition");
    let exists = || send(&s, &signed(&s, call("DescribeCollection", &now), all, eu)).0 == 200;

    // (e) A region the server accepts: the collection that the requests below try to delete.
    let (status, body) = send(&s, &signed(&s, call("CreateCollection", &now), all, eu));
    assert_eq!(status, 200, "{body}");
    assert!(exists());

    // (a) A captured DescribeCollection whose signature left X-Amz-Target out, retargeted to DeleteCollection.
    let captured = signed(&s, call("DescribeCollection", &now), "content-type;host;x-amz-date", eu);
    refused(send(&s, &captured), "IncompleteSignatureException", "x-amz-target unsigned");
    let mut retargeted = captured.clone();
    retargeted[2].1 = "RekognitionService.DeleteCollection".into();
    refused(send(&s, &retargeted), "IncompleteSignatureException", "retargeted");
    assert!(exists(), "the retargeted request deleted the collection");

    // (b) The host or the time left unsigned.
    for (list, what) in
        [("content-type;x-amz-date;x-amz-target", "host unsigned"), ("content-type;host;x-amz-target", "date unsigned")]
    {
        refused(send(&s, &signed(&s, call("DeleteCollection", &now), list, eu)), "IncompleteSignatureException", what);
    }
    // (c) Another service's scope, (d) another day's (not a real date: only its difference counts), (e) a region
    // the server does not accept.
    let other_day = format!("{:08}", today.parse::<u32>().expect("digits") - 1);
    for (scope, what) in [
        ((today, "eu-west-1", "s3"), "scoped to s3"),
        ((other_day.as_str(), "eu-west-1", "rekognition"), "scoped to another day"),
        ((today, "us-east-1", "rekognition"), "scoped to us-east-1"),
    ] {
        refused(send(&s, &signed(&s, call("DeleteCollection", &now), all, scope)), "InvalidSignatureException", what);
    }
    assert!(exists(), "a misscoped request deleted the collection");

    // (f) Two X-Amz-Target headers, both signed (the canonical request joins them): which one is meant?
    let mut targets = call("DeleteCollection", &now);
    targets.push(("x-amz-target", "RekognitionService.DescribeCollection".into()));
    refused(send(&s, &signed(&s, targets, all, eu)), "IncompleteSignatureException", "two targets");
    // Two X-Amz-Date headers, both signed; and a correct request with its Authorization sent twice.
    let mut dates = call("DeleteCollection", &now);
    dates.push(("x-amz-date", now.clone()));
    refused(send(&s, &signed(&s, dates, all, eu)), "IncompleteSignatureException", "two dates");
    let mut authorizations = signed(&s, call("DeleteCollection", &now), all, eu);
    authorizations.push(authorizations[3].clone());
    refused(send(&s, &authorizations), "IncompleteSignatureException", "two authorizations");
    assert!(exists(), "a request with repeated headers deleted the collection");
}

/// The S3-compatible server for these tests, or `None` (skipped with a message; a failure under CI).
fn s3_server() -> Option<testkit::S3Server> {
    match testkit::S3Server::for_tests() {
        Ok(s3) => Some(s3),
        Err(why) => {
            testkit::skip_unless_ci(&format!("an S3-compatible server ({why})"));
            None
        }
    }
}

/// A server whose images go to `bucket` on `s3`, with the admin key and the admin AWS pair.
fn serve_with_bucket(dir: &std::path::Path, s3: &testkit::S3Server, bucket: &str, database: Option<&str>) -> Served {
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    std::fs::write(
        dir.join("data/facegate.toml"),
        "aws_liveness_challenges = [\"blink\"]\nliveness_allow_challenge_only = true\nliveness_min_challenge_frames = 1\nliveness_scene_continuity = false\n\
         liveness_replay_window_seconds = 0\naws_regions = [\"eu-west-1\"]\n",
    )
    .expect("config");
    s3.create_bucket(bucket).expect("the images bucket");
    let env = s3.server_env(bucket, "facegate");
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([
        ("FACEGATE_ADMIN_KEY", ADMIN_KEY),
        ("FACEGATE_AWS_ACCESS_KEY_ID", KEY_ID),
        ("FACEGATE_AWS_SECRET_ACCESS_KEY", SECRET),
        // Every bucket open to callers, so that the tests reach theirs; the image store stays closed.
        ("FACEGATE_S3_CALLER_BUCKETS", "*"),
    ]);
    Served::start_env(&dir.join("data"), database, &[], &env)
}

/// `S3Object` inputs, keys limited to buckets, liveness `OutputConfig` and face images kept in a bucket, through
/// boto3 against a real S3-compatible server (moto's standalone mode) and a real `facegate serve`
/// (tests/rekognition_s3_boto3.py).
fn rekognition_with_an_s3_store_through_boto3() {
    let Some(python) = std::env::var_os("FACEGATE_TEST_PYTHON") else {
        testkit::skip_unless_ci("FACEGATE_TEST_PYTHON (a Python with boto3) for the S3 suite");
        return;
    };
    let Some(s3) = s3_server() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = serve_with_bucket(tmp.path(), &s3, "facegate-images", None);
    let script = testkit::repo_root().join("crates/facegate/tests/rekognition_s3_boto3.py");
    let out = Command::new(python)
        .arg(script)
        .args([
            s.url(""),
            KEY_ID.into(),
            SECRET.into(),
            ADMIN_KEY.into(),
            s3.endpoint.clone(),
            "facegate-images".into(),
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "boto3 S3 suite failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log_text()
    );
}

/// Two replicas on one PostgreSQL database keep their images in one bucket: a face indexed (with its image)
/// through one is read back, image included, through the other; deleted through the other, its object goes.
fn replicas_share_images_through_the_bucket() {
    let Some(s3) = s3_server() else { return };
    let pg = postgres();
    let url = pg.create_database("s3replicas").expect("a database");
    let tmp = tempfile::tempdir().expect("temp dir");
    let one = serve_with_bucket(&tmp.path().join("one"), &s3, "replica-images", Some(&url));
    let two = serve_with_bucket(&tmp.path().join("two"), &s3, "replica-images", Some(&url));
    let admin = |r: reqwest::blocking::RequestBuilder| r.bearer_auth(ADMIN_KEY);
    let (status, _) = json(
        admin(client().post(one.url("/v1/collections")))
            .json(&serde_json::json!({"collectionId": "shared"}))
            .send()
            .expect("create"),
    );
    assert_eq!(status, 201);
    let photo = read("samples/face_recognition/obama.jpg");
    let body = serde_json::json!({"image": b64(&photo), "storeImage": true, "externalId": "obama"});
    let (status, added) =
        json(admin(client().post(one.url("/v1/collections/shared/faces"))).json(&body).send().expect("index"));
    assert_eq!(status, 200, "{added}");
    let face = added["faceRecords"][0]["faceId"].as_str().expect("a face id").to_string();
    let read_back =
        admin(client().get(two.url(&format!("/v1/collections/shared/faces/{face}/image")))).send().expect("image");
    assert_eq!(read_back.status().as_u16(), 200);
    assert_eq!(read_back.bytes().expect("bytes").as_ref(), photo.as_slice(), "the other replica reads the same image");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let settings = store::S3Settings {
        endpoint: Some(s3.endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
        allow_http: true,
    };
    let bucket = s3::connect(settings);
    let listed = runtime.block_on(bucket.list("replica-images", "facegate")).expect("list");
    assert_eq!(listed.len(), 1, "one object for the image: {listed:?}");
    let resp = admin(client().delete(two.url(&format!("/v1/collections/shared/faces/{face}")))).send().expect("delete");
    assert!(resp.status().is_success(), "{}", resp.status());
    let listed = runtime.block_on(bucket.list("replica-images", "facegate")).expect("list");
    assert!(listed.is_empty(), "deleting the face through the other replica deleted its object: {listed:?}");
}

/// The AWS CLI — a second real client — against Facegate: compare-faces, create-collection, index-faces and
/// search-faces-by-image with `--endpoint-url`, images as bytes and as `S3Object`s (put with `aws s3api`).
fn aws_cli_against_facegate() {
    let Some(python) = std::env::var_os("FACEGATE_TEST_PYTHON") else {
        testkit::skip_unless_ci("FACEGATE_TEST_PYTHON (a venv with awscli) for the AWS CLI check");
        return;
    };
    let aws = std::path::PathBuf::from(python).with_file_name("aws");
    if !aws.exists() {
        testkit::skip_unless_ci(&format!("the AWS CLI at {} (pip install awscli)", aws.display()));
        return;
    }
    let Some(s3) = s3_server() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = serve_with_bucket(tmp.path(), &s3, "cli-images", None);
    let run = |endpoint: &str, region: &str, key: &str, secret: &str, args: &[&str]| -> Value {
        let out = Command::new(&aws)
            .args(args)
            .args(["--endpoint-url", endpoint, "--region", region, "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("aws runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "aws {args:?} failed:\n{stdout}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            s.log_text()
        );
        if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("aws {args:?}: not JSON ({e}): {stdout}"))
        }
    };
    let face = |name: &str| shared_data(&format!("samples/face_recognition/{name}")).display().to_string();
    let rk = |args: &[&str]| run(&s.base, "eu-west-1", KEY_ID, SECRET, args);
    let s3api = |args: &[&str]| run(&s3.endpoint, "us-east-1", "testing", "testing", args);
    s3api(&["s3api", "create-bucket", "--bucket", "cli-inputs"]);
    let obama2 = face("obama2.jpg");
    s3api(&["s3api", "put-object", "--bucket", "cli-inputs", "--key", "obama2.jpg", "--body", &obama2]);

    let source = format!("fileb://{}", face("obama.jpg"));
    let same = rk(&[
        "rekognition",
        "compare-faces",
        "--source-image-bytes",
        &source,
        "--target-image",
        "S3Object={Bucket=cli-inputs,Name=obama2.jpg}",
    ]);
    let matches = same["FaceMatches"].as_array().expect("FaceMatches");
    assert!(matches.len() == 1 && matches[0]["Similarity"].as_f64() > Some(90.0), "{same}");
    let other = rk(&[
        "rekognition",
        "compare-faces",
        "--source-image-bytes",
        &source,
        "--target-image-bytes",
        &format!("fileb://{}", face("biden.jpg")),
    ]);
    assert_eq!(other["FaceMatches"], serde_json::json!([]), "{other}");
    assert_eq!(other["UnmatchedFaces"].as_array().map(Vec::len), Some(1), "{other}");

    let created = rk(&["rekognition", "create-collection", "--collection-id", "cli"]);
    assert_eq!(created["StatusCode"], 200, "{created}");
    let indexed = rk(&[
        "rekognition",
        "index-faces",
        "--collection-id",
        "cli",
        "--image-bytes",
        &source,
        "--external-image-id",
        "obama",
    ]);
    let records = indexed["FaceRecords"].as_array().expect("FaceRecords");
    assert_eq!(records.len(), 1, "{indexed}");
    assert_eq!(records[0]["Face"]["ExternalImageId"], "obama", "{indexed}");
    let face_id = records[0]["Face"]["FaceId"].as_str().expect("a face id").to_string();
    let found = rk(&[
        "rekognition",
        "search-faces-by-image",
        "--collection-id",
        "cli",
        "--image",
        "S3Object={Bucket=cli-inputs,Name=obama2.jpg}",
    ]);
    assert_eq!(found["FaceMatches"][0]["Face"]["FaceId"], face_id.as_str(), "{found}");
    assert!(found["FaceMatches"][0]["Similarity"].as_f64() > Some(90.0), "{found}");

    // Users: the indexed face in a user, found by search-users-by-image with an S3Object.
    rk(&["rekognition", "create-user", "--collection-id", "cli", "--user-id", "obama:44"]);
    let associated = rk(&[
        "rekognition",
        "associate-faces",
        "--collection-id",
        "cli",
        "--user-id",
        "obama:44",
        "--face-ids",
        &face_id,
    ]);
    assert_eq!(associated["AssociatedFaces"][0]["FaceId"], face_id.as_str(), "{associated}");
    assert_eq!(associated["UserStatus"], "ACTIVE", "{associated}");
    let users = rk(&[
        "rekognition",
        "search-users-by-image",
        "--collection-id",
        "cli",
        "--image",
        "S3Object={Bucket=cli-inputs,Name=obama2.jpg}",
    ]);
    assert_eq!(users["UserMatches"][0]["User"]["UserId"], "obama:44", "{users}");
    assert!(users["UserMatches"][0]["Similarity"].as_f64() > Some(80.0), "{users}");
    let listed = rk(&["rekognition", "list-users", "--collection-id", "cli"]);
    assert_eq!(listed["Users"], serde_json::json!([{"UserId": "obama:44", "UserStatus": "ACTIVE"}]), "{listed}");
}

tests![
    rekognition_api_through_boto3,
    signatures_bind_the_operation_host_time_and_scope,
    rekognition_with_an_s3_store_through_boto3,
    replicas_share_images_through_the_bucket,
    aws_cli_against_facegate,
];
