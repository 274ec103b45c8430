//! The liveness stream's use cases on a real video: the shared genuine walk up to the camera (a03), then its last
//! frame held while the screen's colours light the face, encoded as a browser records it (VP8 WebM, by ffmpeg)
//! and judged by [`super::liveness_stream::finish`]. The colour sequence is pinned (`liveness_stream_colours`),
//! so that the frames can be lit by the colours the session shows at the times the client reports: the light
//! check's genuine path. The same frames lit in another order — a recording made for another sequence — fail it.

use std::io::Write;
use std::process::{Command, Stdio};

use image::RgbImage;
use liveness::stream::StreamChallenge;
use liveness::{FailReason, Status};

use super::liveness_sessions::{self, CreateOptions};
use super::liveness_stream::{self, OpenRequest, Upload};
use crate::config::{ServerConfig, StreamColour, StreamOval};
use crate::state::AppState;

const W: u32 = 640;
const H: u32 = 480;
const FRAME_MS: i64 = 1000 / 15;
const COLOURS: [[u8; 3]; 6] = [[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]];

/// The frames of the shared clip `file` from `from` for `seconds`, at 15 fps, 640x480, by ffmpeg.
fn clip(file: &str, from: f32, seconds: f32) -> Vec<RgbImage> {
    let path = testkit::shared_data(&format!("approach/{file}"));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &from.to_string(), "-t", &seconds.to_string(), "-i"])
        .arg(path)
        .args(["-vf", &format!("fps=15,scale={W}:{H}"), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
        .chunks_exact((W * H * 3) as usize)
        .map(|c| RgbImage::from_raw(W, H, c.to_vec()).expect("a frame"))
        .collect()
}

/// Encodes frames as Chromium's MediaRecorder would (VP8, 1 Mbit/s, a live WebM), with ffmpeg.
fn webm(frames: &[RgbImage]) -> Vec<u8> {
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{W}x{H}"), "-r", "15"])
        .args(["-i", "pipe:0", "-c:v", "libvpx", "-b:v", "1M", "-pix_fmt", "yuv420p", "-f", "webm", "-live", "1"])
        .arg("pipe:1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg runs");
    let mut stdin = child.stdin.take().expect("ffmpeg's input");
    let raw: Vec<u8> = frames.iter().flat_map(|f| f.as_raw().iter().copied()).collect();
    let writer = std::thread::spawn(move || stdin.write_all(&raw));
    let out = child.wait_with_output().expect("ffmpeg ends");
    writer.join().expect("the writer").expect("writing to ffmpeg");
    assert!(out.status.success());
    out.stdout
}

/// `still` lit by the screen's colour `rgb` on top of the room's light (each channel 0.7..1.0 of itself).
fn lit(still: &RgbImage, rgb: [u8; 3]) -> RgbImage {
    let mut out = still.clone();
    for p in out.pixels_mut() {
        for (v, c) in p.0.iter_mut().zip(rgb) {
            *v = (f32::from(*v) * (0.7 + 0.3 * f32::from(c) / 255.0)).round() as u8;
        }
    }
    out
}

/// The approach, then its last frame held for `COLOURS` lit in `order` (indices into `COLOURS`), each from its
/// reported start (the first flat for 400 ms, each next sweeping down for 300 ms then flat for 400 ms); and the
/// starts as the client reports them, on the video's clock.
fn recording(approach: &[RgbImage], order: &[usize]) -> (Vec<u8>, Vec<([u8; 3], i64)>) {
    let start = approach.len() as i64 * FRAME_MS;
    let starts: Vec<i64> =
        (0..COLOURS.len() as i64).map(|i| if i == 0 { start } else { start + 400 + (i - 1) * 700 }).collect();
    let end = starts[starts.len() - 1] + 700 + 200;
    let still = approach.last().expect("frames");
    let mut frames = approach.to_vec();
    for n in approach.len() as i64.. {
        let t = n * FRAME_MS;
        if t > end {
            break;
        }
        // The colour on the screen: each takes over halfway through its sweep.
        let shown = starts.iter().rposition(|&s| t >= s + 150).unwrap_or(0);
        frames.push(lit(still, COLOURS[order[shown]]));
    }
    let reported = COLOURS.iter().zip(&starts).map(|(&rgb, &at)| (rgb, at)).collect();
    (webm(&frames), reported)
}

async fn service(dir: &std::path::Path) -> AppState {
    let config = ServerConfig {
        data_dir: dir.to_path_buf(),
        workers: 2,
        models_dir: Some(testkit::shared_dir().join("models/shared-only")),
        liveness_stream_oval: Some(StreamOval::try_from("0.09375,0.126,0.25,0.5396".to_string()).expect("an oval")),
        liveness_stream_colours: COLOURS.iter().map(|&c| StreamColour(c)).collect(),
        // Both sessions send the same walk: the replay memory would take the second for the first sent again.
        liveness_replay_window_seconds: 0,
        ..ServerConfig::default()
    };
    crate::service::open(config, None).await.expect("the service opens")
}

async fn judged(app: &AppState, video: Vec<u8>, colours_shown: Vec<([u8; 3], i64)>) -> liveness::SessionResult {
    let caller = auth::Access::unrestricted("test");
    let options = CreateOptions { stream_challenges: vec![StreamChallenge::ApproachAndLight], ..Default::default() };
    let created = liveness_sessions::create(app, &caller, options).await.expect("a session");
    let id = created.row.session_id;
    let offered = [StreamChallenge::Approach, StreamChallenge::ApproachAndLight];
    let request = OpenRequest { session_id: &id, offered: &offered, width: W, height: H };
    let plan = liveness_stream::open(app, &caller, &request).await.expect("the stream opens");
    assert_eq!(plan.challenge, StreamChallenge::ApproachAndLight);
    assert_eq!(plan.colours.iter().map(|c| c.rgb).collect::<Vec<_>>(), COLOURS.to_vec());
    // A session streams once.
    assert!(liveness_stream::open(app, &caller, &request).await.is_err());
    liveness_stream::finish(app, &id, Upload { video, colours_shown }).await.expect("judged")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_light_is_judged_on_the_face() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = service(dir.path()).await;
    assert!(app.passive.is_ok(), "the passive model: {:?}", app.passive.as_ref().err());
    // a03's walk until the face is in the pinned oval (12.73 s).
    let approach = clip("a03_genuine_aiphile_walk_to_webcam.mp4", 9.0, 3.8);

    let (video, reported) = recording(&approach, &[0, 1, 2, 3, 4, 5]);
    let result = judged(&app, video, reported).await;
    let light = result.stream_evidence.as_ref().and_then(|e| e.light.clone()).expect("the light judged");
    assert_eq!((result.status, &result.reasons), (Status::Succeeded, &Vec::<&str>::new()), "{light:?}");
    assert!(light.passed() && light.changes >= 3, "{light:?}");

    // The same face lit by the colours in another order: a recording made for another session's sequence.
    let (video, reported) = recording(&approach, &[0, 5, 1, 2, 3, 4]);
    let result = judged(&app, video, reported).await;
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.reasons, vec![FailReason::LightNotReflected.code()], "{:?}", result.stream_evidence);
}
