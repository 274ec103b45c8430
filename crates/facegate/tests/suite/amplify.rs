//! AWS's own `FaceLivenessDetectorCore` (`@aws-amplify/ui-react-liveness`, pinned in web/amplify) against the
//! Facegate process: the component in Debian's Chromium with a fake camera (a y4m at 15 fps), the server over
//! TLS with a self-signed certificate made now, sessions created and read with boto3 as an app's backend does
//! (tests/amplify_liveness.py). The fixtures come from the shared approach clips: the genuine walk up to the
//! camera (a03, 9.0-12.8 s, its last frame then held), a photo of its last frame brought toward the camera, and
//! the screen replay (a06) filmed by a camera brought closer; the oval is pinned where a03's walk ends.
//!
//! Needs `/usr/bin/chromium`, ffmpeg, web/amplify built (`npm ci && node build.mjs`) and a Python with boto3
//! (`FACEGATE_TEST_PYTHON`); `.ci/run` provides them. Without them the trial is skipped, except under CI.

use std::path::Path;
use std::process::Command;

use crate::support::Served;

fn the_component_runs_against_facegate() {
    let repo = testkit::repo_root();
    let harness = repo.join("web/amplify");
    let ready = Path::new("/usr/bin/chromium").exists()
        && harness.join("node_modules/playwright-core").exists()
        && harness.join("dist/page.js").exists();
    let python = std::env::var_os("FACEGATE_TEST_PYTHON");
    if !ready || python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the Amplify component: apt chromium, `npm ci && node build.mjs` in web/amplify, FACEGATE_TEST_PYTHON"
        );
        eprintln!("skipped: needs /usr/bin/chromium, web/amplify built and FACEGATE_TEST_PYTHON");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let fixtures = tmp.path();
    let (cert, key) = crate::connections::self_signed(fixtures).expect("a certificate");
    make_fixtures(fixtures);
    let models = testkit::shared_dir().join("models/shared-only").display().to_string();
    let tls = [format!("tls_cert={}", cert.display()), format!("tls_key={}", key.display())];
    let args = [
        "--models-dir",
        &models,
        "--set",
        &tls[0],
        "--set",
        &tls[1],
        // Where a03's walk ends: a recorded clip cannot follow an oval drawn at random.
        "--set",
        "liveness_stream_oval=0.09375,0.126,0.25,0.5396",
    ];
    const ADMIN_KEY: &str = "amplify-admin-key-0123456789";
    const KEY_ID: &str = "AKIDFACEGATEAMPLIFY";
    const SECRET: &str = "secret-of-the-amplify-test-pair";
    let served = Served::start_env(
        &fixtures.join("data"),
        None,
        &args,
        &[
            ("FACEGATE_ADMIN_KEY", ADMIN_KEY),
            ("FACEGATE_AWS_ACCESS_KEY_ID", KEY_ID),
            ("FACEGATE_AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    assert!(served.base.starts_with("https://"), "{}", served.base);
    let script = repo.join("crates/facegate/tests/amplify_liveness.py");
    let out = Command::new(python.expect("checked"))
        .arg(&script)
        .args([served.base.as_str(), KEY_ID, SECRET, ADMIN_KEY])
        .arg(fixtures)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the component against Facegate:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        served.log_text()
    );
}

/// ffmpeg with `args`, quietly; panics with its error.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).output().expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The three cameras, as y4m at 15 fps (Chromium's fake camera loops them).
fn make_fixtures(dir: &Path) {
    let clip = |name: &str| testkit::shared_data(&format!("approach/{name}")).display().to_string();
    let a03 = clip("a03_genuine_aiphile_walk_to_webcam.mp4");
    let at = |file: &str| dir.join(file).display().to_string();
    // The walk from 9.0 s until the face is in the oval (12.73 s), held for 8 s: long enough for the light
    // challenge's colours, which a recording cannot follow.
    let hold = "tpad=stop_mode=clone:stop_duration=8";
    ffmpeg(&[
        "-ss",
        "9",
        "-t",
        "3.8",
        "-i",
        &a03,
        "-vf",
        &format!("fps=15,{hold},format=yuv420p"),
        &at("approach.y4m"),
    ]);
    // Its last frame as a photo, brought from 0.4 of its size to the full frame in 3 s around the face's centre
    // (137, 190), then held.
    ffmpeg(&["-ss", "12.73", "-i", &a03, "-frames:v", "1", &at("still.png")]);
    let zoom = "[0:v]scale=w='trunc(640*(0.4+0.6*min(t/3\\,1))/2)*2':h=-2:eval=frame[s];\
        [1:v][s]overlay=x='137-137*w/640':y='190-190*h/480':eval=frame:shortest=1,format=yuv420p";
    ffmpeg(&[
        "-loop",
        "1",
        "-framerate",
        "15",
        "-t",
        "11",
        "-i",
        &at("still.png"),
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=640x480:r=15:d=11",
        "-filter_complex",
        zoom,
        &at("zoomed.y4m"),
    ]);
    // The screen replay (368x640, the face about (170, 391) at its end), filmed from 0.4 of the size it ends
    // at, the face ending in the oval.
    let a06 = clip("a06_spoof_screen_replay_camera_approach.mp4");
    let replay = format!(
        "[0:v]fps=15,scale=w='trunc(368*(0.4+0.45*min(t/12\\,1))/2)*2':h=-2:eval=frame,{hold}[s];\
         [1:v][s]overlay=x='140-170*w/368':y='177-391*h/640':eval=frame:shortest=1,format=yuv420p"
    );
    ffmpeg(&[
        "-ss",
        "1",
        "-t",
        "15",
        "-i",
        &a06,
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=640x480:r=15:d=23",
        "-filter_complex",
        &replay,
        &at("replay.y4m"),
    ]);
}

tests![the_component_runs_against_facegate];
