//! `facegate eval stream`: the liveness stream's approach challenge (Amplify's `FaceMovementChallenge`) on
//! genuine approach clips and on the stream's attacks, each case encoded as the browser records it (VP8 in a
//! live WebM, by ffmpeg's libvpx) and decoded by the server's own decoder ([`video::decode_webm`]), every
//! frame measured as the service measures it ([`liveness::measure_faces`]) and the approach judged by
//! [`liveness::approach::judge_approach`], with passive anti-spoofing over the frames.
//!
//! Genuine: the approaches of the shared `approach/` clips (their README gives the times). Attacks:
//! - `zoomed_still`: the last frame of each approach (the person close) as a photo brought toward the camera;
//! - `warped_still`: the same, turned and tilted in perspective on the way (a photo bent toward the camera);
//! - `screen_replay`: the shared clip of a phone filming a screen that plays a face video, moving closer;
//! - `out_of_order`: a genuine approach's frames reversed (moving away), or shuffled in pairs.
//!
//! The oval of each case is the face box where its approach ends, as if the server had drawn it there: the
//! person (or the attacker) fills the oval they are shown.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use image::RgbImage;
use liveness::approach::{judge_approach, ApproachCriteria, ApproachFace, ApproachFrame, ApproachVerdict};
use liveness::Target;
use serde::Serialize;

use super::attack_frames::{self as frames, turn};
use crate::cli::CommonArgs;

/// The camera's frame rate in the cases (Chromium records the fake camera at its 15 fps).
const FPS: u32 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamTruth {
    Genuine,
    ZoomedStill,
    WarpedStill,
    ScreenReplay,
    OutOfOrder,
}

struct Case {
    name: String,
    truth: StreamTruth,
    frames: Vec<RgbImage>,
}

/// A genuine clip: the file, and the approach (seconds) with one second before it. (a02's first lean-in, at
/// 6.5-7.5 s, grows the face by 5 %: no approach the client would start the challenge with.)
const GENUINE: &[(&str, f32, f32)] = &[
    ("a02_genuine_headtrackr_webcam_lean_in.mp4", 10.5, 15.5),
    ("a03_genuine_aiphile_walk_to_webcam.mp4", 8.5, 12.5),
    ("a04_genuine_amplify_liveness_ios_move_closer_flash.mp4", 0.9, 3.3),
];
const REPLAY: (&str, f32, f32) = ("a06_spoof_screen_replay_camera_approach.mp4", 1.0, 16.0);

fn clip_frames(data: &Path, file: &str, from: f32, to: f32) -> Result<Vec<RgbImage>> {
    let all = frames::video_frames(&data.join("approach").join(file), FPS)?;
    let (a, b) = ((from * FPS as f32) as usize, (to * FPS as f32) as usize);
    if b > all.len() {
        bail!("{file} has {} frames at {FPS} fps, not {b}", all.len());
    }
    Ok(all[a..b].to_vec())
}

/// A photo brought toward the camera: `still` (the person close, sharp) shown at `1 / zoom` of its size on a
/// grey frame, growing to fill the frame over `n` frames, turned by up to `yaw` / `pitch` degrees on the way
/// (the picture gains detail as it comes closer, as a real photo does, rather than blurring as a digital zoom).
fn zoomed(still: &RgbImage, n: usize, zoom: f32, yaw: f32, pitch: f32) -> Vec<RgbImage> {
    let (w, h) = still.dimensions();
    (0..n)
        .map(|i| {
            let f = i as f32 / (n - 1).max(1) as f32;
            let picture = if yaw != 0.0 || pitch != 0.0 { turn(still, yaw * f, pitch * f, 3.0) } else { still.clone() };
            let scale = (1.0 / zoom) * (1.0 + (zoom - 1.0) * f);
            frames::place_on((w, h), &picture, scale, [w as f32 / 2.0, h as f32 / 2.0])
        })
        .collect()
}

/// Encodes frames as Chromium's MediaRecorder would (VP8, 1 Mbit/s, a live WebM) with ffmpeg's libvpx.
fn encode_webm(frames: &[RgbImage]) -> Result<Vec<u8>> {
    let (w, h) = frames.first().context("no frames")?.dimensions();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"])
        .args(["-s", &format!("{w}x{h}"), "-r", &FPS.to_string(), "-i", "pipe:0"])
        .args(["-c:v", "libvpx", "-b:v", "1M", "-pix_fmt", "yuv420p", "-f", "webm", "-live", "1", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running ffmpeg (apt-get install ffmpeg)")?;
    let mut stdin = child.stdin.take().context("ffmpeg's input")?;
    let raw: Vec<u8> = frames.iter().flat_map(|f| f.as_raw().iter().copied()).collect();
    let writer = std::thread::spawn(move || stdin.write_all(&raw));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("writing to ffmpeg"))??;
    if !out.status.success() {
        bail!("ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

/// What one case's frames measured, and the decoded frames (to measure again at another scale).
struct Measured {
    frames: Vec<ApproachFrame>,
    passive: Vec<f32>,
    images: Vec<RgbImage>,
}

/// The rigid points of the one face in `img` scaled by `scale`.
fn points_at_scale(
    pipeline: &vision::FacePipeline,
    img: &RgbImage,
    scale: f32,
    min_face_px: f32,
    detect_max_side: u32,
) -> Option<Vec<[f32; 2]>> {
    let (w, h) = img.dimensions();
    let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    let small = image::imageops::resize(img, sw, sh, image::imageops::FilterType::Triangle);
    let found = pipeline
        .find_faces_timed(&small, detect_max_side, vision::Wanted::EveryUpright, &mut Default::default())
        .ok()?;
    let m = liveness::measure_faces(
        pipeline,
        None,
        &found.image,
        &found.faces,
        min_face_px * scale,
        liveness::Template::WhenWanted,
    )
    .ok()?;
    m.face.map(|f| f.points)
}

fn measure(
    pipeline: &vision::FacePipeline,
    passive: Option<&antispoof::PassiveLiveness>,
    webm: &[u8],
    min_face_px: f32,
    detect_max_side: u32,
) -> Result<Measured> {
    let limits = video::Limits { max_width: 1920, max_height: 1920, max_frames: 2000 };
    let mut decoded = Vec::new();
    video::decode_webm(webm, &limits, |f| {
        decoded.push(f);
        ControlFlow::Continue(())
    })?;
    let mut out = Measured { frames: Vec::new(), passive: Vec::new(), images: Vec::new() };
    for f in decoded {
        let found = pipeline.find_faces_timed(
            &f.image,
            detect_max_side,
            vision::Wanted::EveryUpright,
            &mut Default::default(),
        )?;
        let m = liveness::measure_faces(
            pipeline,
            passive,
            &found.image,
            &found.faces,
            min_face_px,
            liveness::Template::WhenWanted,
        )?;
        let face = m.face.map(|face| {
            out.passive.extend(face.passive);
            ApproachFace { bbox: face.bbox, points: face.points }
        });
        out.frames.push(ApproachFrame { timestamp_ms: f.timestamp_ms, faces: m.faces, face });
        out.images.push(f.image);
    }
    Ok(out)
}

/// The oval: the largest face box of the case, where its approach ends.
fn oval_of(frames: &[ApproachFrame]) -> Option<Target> {
    frames.iter().filter_map(|f| f.face.as_ref()).map(|f| f.bbox).max_by(|a, b| a.width.total_cmp(&b.width))
}

#[derive(Serialize)]
struct CaseReport {
    name: String,
    truth: StreamTruth,
    frames: usize,
    accepted: bool,
    verdict: Option<ApproachVerdict>,
    /// The mean passive score over the frames with a face.
    passive: Option<f32>,
    failure: Option<&'static str>,
}

#[derive(Serialize)]
struct TypeReport {
    truth: StreamTruth,
    sessions: usize,
    accepted: usize,
    /// APCER for an attack type, BPCER for genuine.
    error_rate: f64,
}

#[derive(Serialize)]
struct Report {
    criteria: ApproachCriteria,
    passive_threshold: Option<f32>,
    types: Vec<TypeReport>,
    cases: Vec<CaseReport>,
}

fn build_cases(data: &Path) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for &(file, from, to) in GENUINE {
        let frames = clip_frames(data, file, from, to)?;
        let short = &file[..3];
        // The attacks on this person: the frame at the end of the approach (close, sharp) as a photo.
        let still = frames[frames.len() - 1].clone();
        let n = frames.len();
        cases.push(Case {
            name: format!("{short} {from}-{to} s"),
            truth: StreamTruth::Genuine,
            frames: frames.clone(),
        });
        cases.push(Case {
            name: format!("{short} still zoomed"),
            truth: StreamTruth::ZoomedStill,
            frames: zoomed(&still, n, 2.2, 0.0, 0.0),
        });
        cases.push(Case {
            name: format!("{short} still turned and zoomed"),
            truth: StreamTruth::WarpedStill,
            frames: zoomed(&still, n, 2.2, 25.0, -15.0),
        });
        let mut reversed = frames.clone();
        reversed.reverse();
        cases.push(Case { name: format!("{short} reversed"), truth: StreamTruth::OutOfOrder, frames: reversed });
        let mut shuffled = frames;
        for pair in shuffled.chunks_mut(8) {
            pair.reverse();
        }
        cases.push(Case { name: format!("{short} shuffled"), truth: StreamTruth::OutOfOrder, frames: shuffled });
    }
    let (file, from, to) = REPLAY;
    cases.push(Case {
        name: "a06 screen replay".into(),
        truth: StreamTruth::ScreenReplay,
        frames: clip_frames(data, file, from, to)?,
    });
    Ok(cases)
}

pub struct StreamArgs<'a> {
    pub data: &'a Path,
    pub check: bool,
    pub json: bool,
}

pub fn run(common: &CommonArgs, args: StreamArgs<'_>) -> Result<()> {
    if !args.data.join("approach/README.md").exists() {
        bail!("{} does not hold the shared approach clips (approach/README.md)", args.data.display());
    }
    video::available()?;
    let pipeline = super::load_pipeline(common)?;
    let passive = super::eval_liveness::load_passive(common).ok();
    let config = app::ServerConfig::default();
    let criteria = ApproachCriteria::default();
    let threshold = passive.as_ref().map(|_| config.passive_threshold);
    let cases = build_cases(args.data)?;
    let mut reports = Vec::new();
    for case in &cases {
        let webm = encode_webm(&case.frames)?;
        let measured =
            measure(&pipeline, passive.as_ref(), &webm, config.liveness_min_face_px, config.detect_max_side)?;
        let at_scale = |i: usize, s: f32| {
            points_at_scale(&pipeline, &measured.images[i], s, config.liveness_min_face_px, config.detect_max_side)
        };
        let verdict =
            oval_of(&measured.frames).map(|oval| judge_approach(&measured.frames, &oval, &criteria, at_scale));
        let mean_passive = (!measured.passive.is_empty())
            .then(|| measured.passive.iter().sum::<f32>() / measured.passive.len() as f32);
        let failure = match (&verdict, threshold, mean_passive) {
            (None, _, _) => Some("no_face"),
            (Some(v), _, _) if !v.passed() => v.failure.map(|f| f.code()),
            (_, Some(t), Some(p)) if p < t => Some("spoof_detected"),
            (_, Some(_), None) => Some("spoof_detected"),
            (_, None, _) => Some("passive_check_unavailable"),
            _ => None,
        };
        eprintln!(
            "{:<34} {:?}: {} (scale {:.2}, depth {:.4}, passive {:?})",
            case.name,
            case.truth,
            failure.unwrap_or("accepted"),
            verdict.as_ref().map_or(0.0, |v| v.scale),
            verdict.as_ref().map_or(0.0, |v| v.depth),
            mean_passive,
        );
        reports.push(CaseReport {
            name: case.name.clone(),
            truth: case.truth,
            frames: measured.frames.len(),
            accepted: failure.is_none(),
            verdict,
            passive: mean_passive,
            failure,
        });
    }
    let mut truths: Vec<StreamTruth> = reports.iter().map(|r| r.truth).collect();
    truths.sort();
    truths.dedup();
    let types: Vec<TypeReport> = truths
        .into_iter()
        .map(|truth| {
            let of: Vec<&CaseReport> = reports.iter().filter(|r| r.truth == truth).collect();
            let accepted = of.iter().filter(|r| r.accepted).count();
            let wrong = if truth == StreamTruth::Genuine { of.len() - accepted } else { accepted };
            TypeReport { truth, sessions: of.len(), accepted, error_rate: wrong as f64 / of.len() as f64 }
        })
        .collect();
    let report = Report { criteria, passive_threshold: threshold, types, cases: reports };
    if args.json {
        super::print_json(&report)?;
    } else {
        println!("{:<16} {:>8} {:>9} {:>12}", "type", "sessions", "accepted", "APCER/BPCER");
        for t in &report.types {
            println!(
                "{:<16} {:>8} {:>9} {:>11.1} %",
                format!("{:?}", t.truth),
                t.sessions,
                t.accepted,
                t.error_rate * 100.0
            );
        }
    }
    if args.check {
        let worse: Vec<String> = report
            .types
            .iter()
            .filter(|t| if t.truth == StreamTruth::Genuine { t.error_rate > 0.05 } else { t.error_rate > 0.0 })
            .map(|t| format!("{:?}: {:.1} %", t.truth, t.error_rate * 100.0))
            .collect();
        if !worse.is_empty() {
            bail!("the stream's figures are worse than APCER 0 % / BPCER 5 %: {}", worse.join(", "));
        }
    }
    Ok(())
}
