//! The Rekognition-compatible API (`POST /`, AWS Signature V4) driven by boto3 — the AWS SDK for Python — against a
//! real `facegate serve` (tests/rekognition_boto3.py), plus the raw protocol's errors checked here.
//!
//! boto3 comes from the Python named by `FACEGATE_TEST_PYTHON` (`.ci/run` creates one); without it the boto3 part
//! fails under CI and is skipped (with a message) elsewhere.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

const KEY_ID: &str = "AKIDFACEGATETEST";
const SECRET: &str = "test-secret-0123456789abcdefghijklmnop";
const ADMIN_KEY: &str = "rekognition-admin-key-0123456789";

#[test]
fn rekognition_api_through_boto3() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // Sessions created through CreateFaceLivenessSession ask for a blink (Yale's sleepy photos close the eyes);
    // stills pass a blink only on challenges alone and on its first frame, which this server allows; its
    // sessions play the same photos, which the replay memory (off here) would take for a recording sent again.
    std::fs::create_dir_all(tmp.path().join("data")).expect("data dir");
    std::fs::write(
        tmp.path().join("data/facegate.toml"),
        "aws_liveness_challenges = [\"blink\"]\nliveness_allow_challenge_only = true\nliveness_min_challenge_frames = 1\n\
         liveness_replay_window_seconds = 0\n",
    )
    .expect("config");
    let s = Served::start_env(
        &tmp.path().join("data"),
        None,
        &[],
        &[
            ("FACEGATE_ADMIN_KEY", ADMIN_KEY),
            ("FACEGATE_AWS_ACCESS_KEY_ID", KEY_ID),
            ("FACEGATE_AWS_SECRET_ACCESS_KEY", SECRET),
        ],
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
        .header("authorization", "AWS4-HMAC-SHA256 Credential=AKIDFACEGATETEST/20261122/eu-west-1/rekognition/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")
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
