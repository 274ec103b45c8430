//! The browser liveness client end to end: Debian's Chromium, driven by playwright-core (web/test/e2e.mjs), with a
//! fake camera playing a `.y4m` written here from stills in ../shared/data, against a real `facegate serve`. A
//! legitimate blink sequence must reach "verified"; the same with a second person spliced in must end "not
//! verified" with `identity_changed`. Screenshots go to target/e2e/ at the repository root.
//!
//! Needs `/usr/bin/chromium` (apt `chromium`) and `npm ci` in web/test; `.ci/run` installs both. Without them the
//! test fails under CI and is skipped (with a message) elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;
use image::RgbImage;
use serde_json::{json, Value};

const W: u32 = 640;
const H: u32 = 480;
const FPS: u32 = 5;

fn repo() -> PathBuf {
    testkit::repo_root()
}

/// A 640x480 frame: the still centred on grey.
fn frame(still: &[u8]) -> RgbImage {
    let face = image::load_from_memory(still).expect("still").to_rgb8();
    let mut f = RgbImage::from_pixel(W, H, image::Rgb([128, 128, 128]));
    let (x, y) = ((W - face.width().min(W)) / 2, (H - face.height().min(H)) / 2);
    image::imageops::overlay(&mut f, &face, i64::from(x), i64::from(y));
    f
}

/// Writes a YUV4MPEG2 (4:2:0, full-range BT.601) file showing each still for `seconds`.
fn write_y4m(path: &Path, stills: &[Vec<u8>], seconds: u32) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("y4m file"));
    writeln!(out, "YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1 C420jpeg").expect("header");
    for still in stills {
        let f = frame(still);
        let (mut y, mut u, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for p in f.pixels() {
            let [r, g, b] = p.0.map(f32::from);
            y.push((0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8);
        }
        for cy in (0..H).step_by(2) {
            for cx in (0..W).step_by(2) {
                let mut acc = [0f32; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = f.get_pixel(cx + dx, cy + dy).0.map(f32::from);
                    acc.iter_mut().zip(p).for_each(|(a, c)| *a += c / 4.0);
                }
                let [r, g, b] = acc;
                u.push((128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b).round().clamp(0.0, 255.0) as u8);
                v.push((128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b).round().clamp(0.0, 255.0) as u8);
            }
        }
        for _ in 0..seconds * FPS {
            out.write_all(b"FRAME\n").expect("frame");
            out.write_all(&y).expect("y");
            out.write_all(&u).expect("u");
            out.write_all(&v).expect("v");
        }
    }
    out.flush().expect("flush");
}

fn yale(subject: u32, condition: &str) -> Vec<u8> {
    read(&format!("yale/images/subject{subject:02}/subject{subject:02}_{condition}.png"))
}

/// Runs the page on one session with `y4m` as the camera; returns what the page reported.
fn run_page(s: &Served, y4m: &Path, shots: &Path) -> Value {
    run_page_with(s, y4m, shots, false)
}

fn run_page_with(s: &Served, y4m: &Path, shots: &Path, deny_camera: bool) -> Value {
    let (status, session) = json(
        client().post(s.url("/v1/liveness/sessions")).json(&json!({"challenges": ["blink"]})).send().expect("create"),
    );
    assert_eq!(status, 201, "{session}");
    let out = Command::new("node")
        .arg(repo().join("web/test/e2e.mjs"))
        .current_dir(repo().join("web/test"))
        .env("FACEGATE_URL", s.url(""))
        .env("SESSION_ID", session["sessionId"].as_str().expect("id"))
        .env("SESSION_TOKEN", session["sessionToken"].as_str().expect("token"))
        .env("Y4M", y4m)
        .env("SHOTS", shots)
        .env("DENY_CAMERA", if deny_camera { "1" } else { "0" })
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "e2e.mjs failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON report");
    eprintln!("{}: {report}", shots.display());
    report
}

fn the_page_verifies_a_live_sequence_and_refuses_a_spliced_one() {
    let chromium = Path::new("/usr/bin/chromium");
    let playwright = repo().join("web/test/node_modules/playwright-core");
    if !chromium.exists() || !playwright.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser test: install apt chromium and run npm ci in web/test"
        );
        eprintln!("skipped: needs /usr/bin/chromium and web/test/node_modules (npm ci in web/test)");
        return;
    }
    let shots = repo().join("target/e2e");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let tmp = tempfile::tempdir().expect("temp dir");
    // The fake camera plays stills: they pass a blink on the challenge alone and on its first frame, which this
    // server allows (the flag, and the file the server reads from its working directory); both sessions play
    // the same photo, which the replay memory (off here) would take for a recording sent again.
    std::fs::create_dir_all(tmp.path().join("data")).expect("data dir");
    std::fs::write(
        tmp.path().join("data/facegate.toml"),
        "liveness_min_challenge_frames = 1\nliveness_replay_window_seconds = 0\nliveness_scene_continuity = false\n",
    )
    .expect("config");
    let s = Served::start(&tmp.path().join("data"), None, &["--liveness-allow-challenge-only", "true"]);

    // Eyes open, closed, open again — one person.
    let live = tmp.path().join("live.y4m");
    write_y4m(&live, &[yale(1, "normal"), yale(1, "sleepy"), yale(1, "noglasses")], 3);
    let report = run_page(&s, &live, &shots.join("live"));
    assert_eq!(report["status"], "SUCCEEDED", "{report}");
    assert!(report["result"].as_str().is_some_and(|t| t.starts_with("Verified")), "{report}");
    let said: Vec<&str> = report["instructions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(said.iter().any(|t| t.starts_with("Blink")), "the page asked for a blink: {said:?}");
    assert!(report["console"].as_array().is_some_and(Vec::is_empty), "no script errors: {report}");

    // The closed eyes are another person's, who stays (one frame of someone else would not count, and the
    // camera repeats each still: the server refuses the repeats as pictures sent again).
    let spliced = tmp.path().join("spliced.y4m");
    write_y4m(&spliced, &[yale(1, "normal"), yale(2, "sleepy"), yale(2, "noglasses")], 3);
    let report = run_page(&s, &spliced, &shots.join("spliced"));
    assert_eq!(
        (report["status"].as_str(), report["reasons"].clone()),
        (Some("FAILED"), json!(["identity_changed"])),
        "{report}"
    );
    assert!(report["result"].as_str().is_some_and(|t| t.contains("different person")), "{report}");
    // The camera refused: a clear message, nothing sent.
    let report = run_page_with(&s, &live, &shots.join("denied"), true);
    assert_eq!(report["status"], "ERROR", "{report}");
    assert!(report["result"].as_str().is_some_and(|t| t.contains("permission")), "{report}");
    for name in ["live-during.png", "live-end.png", "spliced-end.png", "denied-end.png"] {
        assert!(shots.join(name).metadata().is_ok_and(|m| m.len() > 1000), "{name} saved");
    }
}

tests![the_page_verifies_a_live_sequence_and_refuses_a_spliced_one,];
