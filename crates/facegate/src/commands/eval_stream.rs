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
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use app::usecases::liveness_stream::{self, MeasuredVideo};
use image::RgbImage;
use liveness::approach::{ApproachCriteria, ApproachVerdict};
use liveness::stream::{StreamChallenge, StreamPlan};
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

/// The oval of a case: around the largest face box of its video, where its approach ends (the person, or the
/// attacker, fills the oval they are shown).
fn oval_of(measured: &MeasuredVideo) -> Option<Target> {
    let largest = measured
        .frames
        .iter()
        .filter_map(|f| f.approach.face.as_ref())
        .map(|f| f.bbox)
        .max_by(|a, b| a.width.total_cmp(&b.width))?;
    Some(liveness_stream::oval_around(&largest, measured.width, measured.height))
}

#[derive(Serialize)]
struct CaseReport {
    name: String,
    truth: StreamTruth,
    frames: usize,
    accepted: bool,
    verdict: Option<ApproachVerdict>,
    /// The session's passive floor, and the similarities of the approach's faces to the near one.
    passive: Option<f32>,
    similarities: Vec<f32>,
    /// Each frame's face width (normalised; 0 without one face).
    widths: Vec<f32>,
    /// The session's reasons (`no_face` when no face was found to draw the oval around).
    reasons: Vec<&'static str>,
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
pub struct Report {
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
    let report = evaluate(common, args.data)?;
    if args.json {
        super::print_json(&report)?;
    } else {
        print_table(&report);
    }
    let worse = check(&report);
    if args.check && !worse.is_empty() {
        bail!("the stream's figures are worse than APCER 0 % / BPCER 5 %: {}", worse.join(", "));
    }
    Ok(())
}

/// Whether `data` holds the approach clips.
pub fn has_clips(data: &Path) -> bool {
    data.join("approach/README.md").exists()
}

/// Every case judged as the streaming door judges it.
pub fn evaluate(common: &CommonArgs, data: &Path) -> Result<Report> {
    if !has_clips(data) {
        bail!("{} does not hold the shared approach clips (approach/README.md)", data.display());
    }
    video::available()?;
    let pipeline = super::load_pipeline(common)?;
    let passive = super::eval_liveness::load_passive(common).ok().map(std::sync::Arc::new);
    let config = app::ServerConfig::default();
    let threshold = passive.as_ref().map(|_| config.passive_threshold);
    let judge = liveness_stream::VideoJudge {
        model: common.pipeline_config(1).embedding_model,
        pipeline,
        passive,
        min_face_px: config.liveness_min_face_px,
        detect_max_side: config.detect_max_side,
    };
    let cases = build_cases(data)?;
    let mut reports = Vec::new();
    for case in &cases {
        let webm = encode_webm(&case.frames)?;
        // The session as the server concludes it (the replay memory aside: every case is new to it here).
        let measured = judge.measure(&webm)?;
        let frames = measured.frames.len();
        let widths: Vec<f32> =
            measured.frames.iter().map(|f| f.approach.face.as_ref().map_or(0.0, |f| f.bbox.width)).collect();
        let (verdict, passive_floor, similarities, reasons) = match oval_of(&measured) {
            None => (None, None, Vec::new(), vec!["no_face"]),
            Some(oval) => {
                let plan = StreamPlan {
                    challenge: StreamChallenge::Approach,
                    width: measured.width,
                    height: measured.height,
                    oval,
                    colours: Vec::new(),
                    opened_ms: 0,
                };
                let judged = judge.judge_measured(measured, &plan, &[])?;
                let options = app::usecases::liveness_sessions::challenges::session_options(
                    &config,
                    Vec::new(),
                    judge.passive.is_some(),
                    0,
                );
                let mut session = liveness::Session::new(options, 0);
                session.open_stream(plan, 0)?;
                let verdict = judged.evidence.approach.clone();
                let similarities = judged.evidence.similarities.clone();
                session.conclude_stream(judged.evidence, 1);
                let result = session.result();
                (Some(verdict), result.passive_score, similarities, result.reasons)
            }
        };
        let accepted = reasons.is_empty();
        eprintln!(
            "{:<34} {:?}: {} (scale {:.2}, depth {:.4}, passive {:?}, identity {:?})",
            case.name,
            case.truth,
            if accepted { "accepted".to_string() } else { reasons.join(",") },
            verdict.as_ref().map_or(0.0, |v| v.scale),
            verdict.as_ref().map_or(0.0, |v| v.depth),
            passive_floor,
            similarities.iter().map(|s| s.round()).collect::<Vec<_>>(),
        );
        reports.push(CaseReport {
            name: case.name.clone(),
            truth: case.truth,
            frames,
            accepted,
            verdict,
            passive: passive_floor,
            similarities,
            widths,
            reasons,
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
    Ok(Report { criteria: liveness_stream::approach_criteria(), passive_threshold: threshold, types, cases: reports })
}

/// The table: sessions, accepted and the error rate per type.
pub fn print_table(report: &Report) {
    println!("{:<16} {:>8} {:>9} {:>12}", "stream type", "sessions", "accepted", "APCER/BPCER");
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

/// The types worse than the bar (any attack accepted, BPCER over 5 %).
pub fn check(report: &Report) -> Vec<String> {
    report
        .types
        .iter()
        .filter(|t| if t.truth == StreamTruth::Genuine { t.error_rate > 0.05 } else { t.error_rate > 0.0 })
        .map(|t| format!("stream {:?}: {:.1} %", t.truth, t.error_rate * 100.0))
        .collect()
}
