//! `facegate eval attacks`: presentation attacks and genuine sessions from the shared data, run through the
//! service's own session engine, reported in ISO/IEC 30107-3 terms.
//!
//! Every frame is measured once with the service's code ([`liveness::measure_faces`] on the faces the
//! pipeline finds, as the frame route does); every session is a [`liveness::Session`] built with the server's
//! own [`app::usecases::liveness_sessions::challenges::session_options`] and fed [`liveness::FrameMeasurement::observation`]s, frame by
//! frame, at the browser client's frame rate. Each configuration (with the passive model, without it, without
//! it but with challenge-only liveness allowed) runs the same sessions on the same measurements.
//!
//! APCER of an attack type: the share of its sessions that succeeded. BPCER: the share of genuine sessions
//! that did not. Non-response: sessions that ended without a decision (the frames ran out: the session would
//! expire). A session succeeds only with a decision, so a non-response never counts as an accepted attack; it
//! counts as a rejected genuine session.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use antispoof::PassiveLiveness;
use anyhow::{bail, Context, Result};
use app::ServerConfig;
use image::RgbImage;
use liveness::replay::{self, FramePrint, SeenFrame};
use liveness::{ChallengeSpec, FrameMeasurement, FrameStamp, Kind, Session, SessionResult, Status, Target};
use rayon::prelude::*;
use serde::Serialize;
use vision::FacePipeline;

use super::attack_frames::{self as frames, encode, place, turn, H, W};
use super::print_json;
use crate::cli::CommonArgs;

/// Milliseconds between frames: the browser client's 5 frames per second.
const FRAME_MS: i64 = 200;
const FPS: u32 = 5;

/// What a session case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Truth {
    /// A live person (the shared real video).
    Genuine,
    /// Printed photos held to the camera (NUAA imposter frames).
    PrintedPhoto,
    /// A phone replaying a video of the person, with the screen's surroundings (`fake2.webm`).
    ScreenReplay,
    /// Face crops of replayed screens, without context (the replay set's spoof crops).
    ScreenReplayCrops,
    /// One still photo (re-encoded each frame) against each challenge kind.
    OneStill,
    /// Two or more stills of one person: neutral then smiling, eyes open then closed, frontal then turned; on a
    /// grey canvas, each photo sent several times at other JPEG qualities and scales.
    Slideshow,
    /// The same with each photo filling the frame (no canvas around it).
    SlideshowFullFrame,
    /// One still slid across the view (toward the nose target, or sideways for a turn).
    SlidStill,
    /// One still turned and tilted in front of the camera (perspective warps), and moved.
    TurnedStill,
    /// A genuine session's frames, which the server saw, sent again as they were into a new session of the
    /// same challenges.
    ReplayedSession,
    /// The same, each frame re-encoded.
    ReplayedSessionReencoded,
    /// Live frames, then a printed photo or a replaying screen.
    Switch,
    /// Another person's face partway through.
    IdentitySplice,
    /// A genuine session's frames, which the server saw, in another order.
    OutOfOrder,
}

impl Truth {
    fn is_attack(self) -> bool {
        self != Truth::Genuine
    }
}

/// One session to run: its challenges and the frames (indices into the measured frames), in order, and the
/// frames that earlier sessions sent the server (the replay memory it runs with).
#[derive(Clone)]
struct Case {
    truth: Truth,
    name: String,
    challenges: Vec<ChallengeSpec>,
    frames: Vec<usize>,
    seen: Vec<usize>,
}

/// Every distinct frame of the suite, encoded as a client would send it.
#[derive(Default)]
struct FrameSet {
    bytes: Vec<Vec<u8>>,
}

impl FrameSet {
    fn add(&mut self, img: &RgbImage, quality: Option<u8>) -> usize {
        self.bytes.push(encode(img, quality));
        self.bytes.len() - 1
    }

    fn add_bytes(&mut self, bytes: Vec<u8>) -> usize {
        self.bytes.push(bytes);
        self.bytes.len() - 1
    }
}

fn spec(kind: Kind, target: Option<Target>) -> ChallengeSpec {
    ChallengeSpec { kind, target, timeout_ms: ServerConfig::default().liveness_challenge_seconds as i64 * 1000 }
}

/// A nose target of the server's size (0.16 of the frame) centred at `c`.
fn target_at(c: [f32; 2]) -> Target {
    Target { x: c[0] - 0.08, y: c[1] - 0.08, width: 0.16, height: 0.16 }
}

/// Nose targets in four directions, as far out as the server places them (0.18-0.28 from the middle).
const TARGETS: [[f32; 2]; 4] = [[0.73, 0.5], [0.27, 0.5], [0.5, 0.28], [0.5, 0.72]];

const ALL_KINDS: [Kind; 7] =
    [Kind::Blink, Kind::Smile, Kind::TurnLeft, Kind::TurnRight, Kind::LookUp, Kind::LookDown, Kind::NoseTarget];

/// The challenge of `kind` (a nose target takes the `i`th of [`TARGETS`]).
fn challenge(kind: Kind, i: usize) -> ChallengeSpec {
    spec(kind, (kind == Kind::NoseTarget).then(|| target_at(TARGETS[i % TARGETS.len()])))
}

struct Data {
    root: PathBuf,
}

impl Data {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn yale(&self, subject: u32, condition: &str) -> Result<RgbImage> {
        frames::load(&self.path(&format!("yale/images/subject{subject:02}/subject{subject:02}_{condition}.png")))
    }

    fn lfw(&self, name: &str, n: u32) -> Result<RgbImage> {
        frames::load(&self.path(&format!("lfw/images/{name}/{name}_{n:04}.jpg")))
    }

    /// The NUAA frames of `subject` in `dir` (`ClientRaw` or `ImposterRaw`), in capture order.
    fn nuaa(&self, dir: &str, subject: u32) -> Result<Vec<PathBuf>> {
        let folder = self.path(&format!("nuaa/{dir}/{subject:04}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        // Names end in `_<frame number>.jpg`.
        let key = |p: &PathBuf| -> (String, u32) {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let (head, n) = stem.rsplit_once('_').unwrap_or((&stem, "0"));
            (head.to_string(), n.parse().unwrap_or(0))
        };
        files.sort_by_key(key);
        Ok(files)
    }
}

/// A still scaled so that its face is a webcam face (about 200 px), placed in the middle of the frame.
fn webcam_scale(img: &RgbImage) -> f32 {
    (300.0 / img.height() as f32).clamp(0.5, 3.0)
}

/// `n` frames of `img` placed in the middle, each re-encoded at another JPEG quality (so that no two are the
/// same picture).
fn still_frames(set: &mut FrameSet, img: &RgbImage, n: usize) -> Vec<usize> {
    let framed = place(img, webcam_scale(img), [W as f32 / 2.0, H as f32 / 2.0]);
    (0..n).map(|i| set.add(&framed, Some(90 - (i % 30) as u8))).collect()
}

/// The genuine turns of the live video: (first frame, kind), from the frontal frame before each head turn.
struct GenuineClip {
    frames: Vec<usize>,
}

/// The sessions of the suite, and the clips among its frames: one camera's view of one scene over time.
struct Suite {
    cases: Vec<Case>,
    clips: Vec<Clip>,
    /// Scene continuity's calibration pairs (see [`scene_calibration`]).
    pairs: ScenePairs,
}

/// Consecutive frames of a live person (real videos at the session's frame rate), frames where a slideshow
/// cuts from one photo to the next, frames that send the same photo again re-encoded (the single stills), and
/// re-encoded at another scale (the slideshows' repeats).
#[derive(Default)]
struct ScenePairs {
    live: Vec<(usize, usize)>,
    cuts: Vec<(usize, usize)>,
    reencoded: Vec<(usize, usize)>,
    rescaled: Vec<(usize, usize)>,
}

impl ScenePairs {
    fn live_clip(&mut self, frames: &[usize]) {
        self.live.extend(frames.windows(2).map(|w| (w[0], w[1])));
    }

    /// A slideshow's frames with the photo each shows: consecutive frames of one photo are the same picture
    /// sent again, of two photos a cut.
    fn slideshow(&mut self, frames: &[(usize, usize)]) {
        for w in frames.windows(2) {
            let pair = (w[0].0, w[1].0);
            if w[0].1 == w[1].1 {
                self.rescaled.push(pair);
            } else {
                self.cuts.push(pair);
            }
        }
    }
}

/// Frames of one scene in capture order, and how many places apart two of them are different moments (a
/// second or more).
struct Clip {
    frames: Vec<usize>,
    moment: usize,
}

fn build_suite(data: &Data, set: &mut FrameSet, pipeline: &FacePipeline) -> Result<Suite> {
    let mut cases = Vec::new();
    let mut pairs = ScenePairs::default();
    let mut nuaa_clips = Vec::new();

    // Genuine: the live video, a session starting at every second frame, for each challenge kind the person
    // performs in the rest of the clip (judged below, after measuring: see `genuine_cases`).
    let real = frames::video_frames(&data.path("replay/videos/real2.webm"), FPS)?;
    let clip = GenuineClip { frames: real.iter().map(|f| set.add(f, Some(85))).collect() };
    let genuine = genuine_cases("real2.webm", &clip.frames, set, pipeline, &HEAD_MOVEMENTS)?;
    pairs.live_clip(&clip.frames);

    // Replays of genuine sessions: every genuine case sent again as it was; half of them re-encoded too.
    for (n, (g, _)) in genuine.iter().enumerate() {
        cases.push(Case {
            truth: Truth::ReplayedSession,
            name: format!("replay of {}", g.name),
            challenges: g.challenges.clone(),
            frames: g.frames.clone(),
            seen: g.frames.clone(),
        });
        if n % 2 == 1 {
            continue;
        }
        let reencoded: Vec<usize> = g
            .frames
            .iter()
            .map(|&f| {
                let img = image::load_from_memory(&set.bytes[f]).map(|i| i.to_rgb8());
                img.map(|i| set.add(&i, Some(70)))
            })
            .collect::<Result<_, _>>()?;
        cases.push(Case {
            truth: Truth::ReplayedSessionReencoded,
            name: format!("re-encoded replay of {}", g.name),
            challenges: g.challenges.clone(),
            frames: reencoded,
            seen: g.frames.clone(),
        });
        // Out of order: the same frames reversed (a turn played backwards starts turned).
        let mut reversed = g.frames.clone();
        reversed.reverse();
        cases.push(Case {
            truth: Truth::OutOfOrder,
            name: format!("reversed {}", g.name),
            challenges: g.challenges.clone(),
            frames: reversed,
            seen: g.frames.clone(),
        });
    }

    // Screen replay with its surroundings: the replay video, a session from every third frame, for each kind.
    let fake = frames::video_frames(&data.path("replay/videos/fake2.webm"), FPS)?;
    let fake_ids: Vec<usize> = fake.iter().map(|f| set.add(f, Some(85))).collect();
    for start in (0..fake_ids.len().saturating_sub(10)).step_by(9) {
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            cases.push(Case {
                truth: Truth::ScreenReplay,
                name: format!("fake2.webm from frame {start}, {}", kind.as_str()),
                challenges: vec![challenge(*kind, i + start)],
                frames: fake_ids[start..].to_vec(),
                seen: Vec::new(),
            });
        }
    }

    // Switch: the live person until their head starts to move, then the replaying screen of the same person
    // (which does the movement).
    for (g, lead) in &genuine {
        let live: Vec<usize> = g.frames.iter().take((*lead).max(2)).copied().collect();
        let frames: Vec<usize> = live.iter().copied().chain(fake_ids.iter().copied()).collect();
        cases.push(Case {
            truth: Truth::Switch,
            name: format!("{} ({} frames), then fake2.webm", g.name, live.len()),
            challenges: g.challenges.clone(),
            frames,
            seen: Vec::new(),
        });
    }

    // Printed photos: each NUAA subject's imposter frames, 12 at a time, against each kind.
    for subject in 1..=9 {
        let files = data.nuaa("ImposterRaw", subject)?;
        let live = data.nuaa("ClientRaw", subject)?;
        for (chunk_no, chunk) in files.chunks(8).take(1).enumerate() {
            let ids: Vec<usize> =
                chunk.iter().map(|p| Ok(set.add_bytes(super::read_file(p)?))).collect::<Result<_>>()?;
            let kind = ALL_KINDS[(subject as usize + chunk_no) % ALL_KINDS.len()];
            cases.push(Case {
                truth: Truth::PrintedPhoto,
                name: format!("NUAA {subject:04} prints {}-{}, {}", chunk_no * 8, chunk_no * 8 + 7, kind.as_str()),
                challenges: vec![challenge(kind, subject as usize)],
                frames: ids.clone(),
                seen: Vec::new(),
            });
            // Switch: ten live frames of the subject, then the prints.
            if chunk_no == 0 {
                let live_ids: Vec<usize> =
                    live.iter().take(6).map(|p| Ok(set.add_bytes(super::read_file(p)?))).collect::<Result<_>>()?;
                // About a second apart (every 20th or so of the capture).
                nuaa_clips.push(Clip { frames: live_ids.clone(), moment: 1 });
                cases.push(Case {
                    truth: Truth::Switch,
                    name: format!("NUAA {subject:04} live (6), then prints"),
                    challenges: vec![challenge(kind, subject as usize)],
                    frames: live_ids.into_iter().chain(ids).collect(),
                    seen: Vec::new(),
                });
            }
        }
    }

    // Replay crops without context: 8 consecutive crops, scaled to a webcam face, against each kind.
    let labels = super::eval_liveness::read_labels(&data.path("replay/labels.csv"))?;
    let spoof: Vec<PathBuf> = labels
        .iter()
        .filter(|r| r.get("label").is_some_and(|l| l == "spoof"))
        .filter_map(|r| r.get("path").map(|p| data.path(&format!("replay/{p}"))))
        .collect();
    for (n, chunk) in spoof.chunks(6).enumerate().filter(|(n, _)| n % 4 == 0) {
        let ids: Vec<usize> = chunk
            .iter()
            .map(|p| {
                let img = frames::load(p)?;
                Ok(set.add(&place(&img, 2.6, [W as f32 / 2.0, H as f32 / 2.0]), Some(85)))
            })
            .collect::<Result<_>>()?;
        let kind = ALL_KINDS[n % ALL_KINDS.len()];
        cases.push(Case {
            truth: Truth::ScreenReplayCrops,
            name: format!("replay crops {}-{}, {}", n * 6, n * 6 + chunk.len() - 1, kind.as_str()),
            challenges: vec![challenge(kind, n)],
            frames: ids,
            seen: Vec::new(),
        });
    }

    // Stills: Yale subjects (frontal, neutral). Every subject makes slideshows and splices; five of them also
    // make the single-still, slid and turned attacks against every kind. A subject's still frames (one photo
    // re-encoded) serve all of its sessions.
    let yale_subjects = [1u32, 3, 4, 6, 7, 9, 10, 12, 14, 15];
    for &subject in &yale_subjects {
        let normal = data.yale(subject, "normal")?;
        let still = still_frames(set, &normal, 8);
        pairs.reencoded.extend(still.windows(2).map(|w| (w[0], w[1])));
        let happy = still_frames(set, &data.yale(subject, "happy")?, 3);
        let sleepy = still_frames(set, &data.yale(subject, "sleepy")?, 2);
        let other = yale_subjects[(subject as usize) % yale_subjects.len()];
        let other_happy = still_frames(set, &data.yale(other, "happy")?, 3);
        // Slideshows: neutral then smiling; open, closed, open; and a splice of another subject.
        let shows = [
            (Truth::Slideshow, "normal -> happy", Kind::Smile, [&still[..3], &happy[..]].concat()),
            (
                Truth::Slideshow,
                "normal -> sleepy -> normal",
                Kind::Blink,
                [&still[..3], &sleepy[..], &still[3..6]].concat(),
            ),
            (Truth::IdentitySplice, "normal -> another's happy", Kind::Smile, [&still[..3], &other_happy[..]].concat()),
        ];
        for (truth, what, kind, frames) in shows {
            cases.push(Case {
                truth,
                name: format!("Yale {subject:02} {what}, {}", kind.as_str()),
                challenges: vec![challenge(kind, 0)],
                frames,
                seen: Vec::new(),
            });
        }
        if ![1, 10].contains(&subject) {
            continue;
        }
        // One still against each kind.
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            cases.push(Case {
                truth: Truth::OneStill,
                name: format!("Yale {subject:02} normal, {}", kind.as_str()),
                challenges: vec![challenge(*kind, i + subject as usize)],
                frames: still.clone(),
                seen: Vec::new(),
            });
        }
        // Slid across the view: toward each nose target, and sideways (or up and down) for the head movements.
        for (i, t) in TARGETS.iter().enumerate() {
            cases.push(Case {
                truth: Truth::SlidStill,
                name: format!("Yale {subject:02} slid to target {i}, nose_target"),
                challenges: vec![challenge(Kind::NoseTarget, i)],
                frames: [&still[..2], &slide(set, &normal, [t[0] * W as f32, t[1] * H as f32], 7)[..]].concat(),
                seen: Vec::new(),
            });
        }
        for kind in [Kind::TurnLeft, Kind::TurnRight, Kind::LookUp, Kind::LookDown] {
            let to = match kind {
                Kind::TurnLeft => [W as f32 * 0.75, H as f32 / 2.0],
                Kind::TurnRight => [W as f32 * 0.25, H as f32 / 2.0],
                Kind::LookUp => [W as f32 / 2.0, H as f32 * 0.25],
                _ => [W as f32 / 2.0, H as f32 * 0.75],
            };
            cases.push(Case {
                truth: Truth::SlidStill,
                name: format!("Yale {subject:02} slid, {}", kind.as_str()),
                challenges: vec![challenge(kind, 0)],
                frames: [&still[..2], &slide(set, &normal, to, 7)[..]].concat(),
                seen: Vec::new(),
            });
        }
        // Turned and tilted in perspective (and carried toward the target for the nose).
        for (i, kind) in ALL_KINDS.iter().filter(|k| liveness::session::is_head_movement(**k)).enumerate() {
            cases.push(Case {
                truth: Truth::TurnedStill,
                name: format!("Yale {subject:02} turned, {}", kind.as_str()),
                challenges: vec![challenge(*kind, i)],
                frames: [&still[..2], &turned(set, &normal, *kind, i)[..]].concat(),
                seen: Vec::new(),
            });
        }
    }
    // LFW: one person frontal, then turned (two photos): the slideshow of a head turn.
    let lfw_turns = [
        ("George_HW_Bush", 6, 8, Kind::TurnLeft),
        ("Pervez_Musharraf", 3, 5, Kind::TurnLeft),
        ("Jiang_Zemin", 1, 7, Kind::TurnRight),
    ];
    for (name, a, b, kind) in lfw_turns {
        let mut show = still_frames(set, &data.lfw(name, a)?, 3);
        show.extend(still_frames(set, &data.lfw(name, b)?, 3));
        cases.push(Case {
            truth: Truth::Slideshow,
            name: format!("LFW {name} {a} -> {b}, {}", kind.as_str()),
            challenges: vec![challenge(kind, 0)],
            frames: show,
            seen: Vec::new(),
        });
    }

    cases.extend(genuine.into_iter().map(|(g, _)| g));
    people_sessions(data, set, pipeline, &mut cases, &mut pairs)?;
    lfw_slideshows(data, set, pipeline, &mut cases, &mut pairs)?;
    let mut clips =
        vec![Clip { frames: clip.frames, moment: FPS as usize }, Clip { frames: fake_ids, moment: FPS as usize }];
    clips.extend(nuaa_clips);
    Ok(Suite { cases, clips, pairs })
}

/// The still moved in `n` steps from the middle until its centre is at `to` (frame pixels): its face moves
/// with it, and the nose roughly to `to` for a nose target. (The session's first frames, the still in the
/// middle, come from [`still_frames`].)
fn slide(set: &mut FrameSet, img: &RgbImage, to: [f32; 2], n: usize) -> Vec<usize> {
    let s = webcam_scale(img);
    let from = [W as f32 / 2.0, H as f32 / 2.0];
    let mut ids = Vec::new();
    for k in 1..=n {
        let f = k as f32 / n as f32;
        let c = [from[0] + (to[0] - from[0]) * f, from[1] + (to[1] - from[1]) * f];
        ids.push(set.add(&place(img, s, c), Some(86)));
    }
    ids
}

/// The still turned step by step up to 45 degrees in the challenge's direction (and moved toward the nose
/// target), as someone tilting a photo in front of the camera would.
fn turned(set: &mut FrameSet, img: &RgbImage, kind: Kind, target: usize) -> Vec<usize> {
    let s = webcam_scale(img);
    let from = [W as f32 / 2.0, H as f32 / 2.0];
    let mut ids = Vec::new();
    let (yaw, pitch, to) = match kind {
        Kind::TurnLeft => (45.0, 0.0, from),
        Kind::TurnRight => (-45.0, 0.0, from),
        Kind::LookUp => (0.0, 40.0, from),
        Kind::LookDown => (0.0, -40.0, from),
        _ => {
            let t = TARGETS[target % TARGETS.len()];
            let (dx, dy) = (t[0] - 0.5, t[1] - 0.5);
            // Turn the picture toward the target as a head would, and carry it there.
            (
                dx.signum() * 35.0 * (dx.abs() > 0.05) as i32 as f32,
                -dy.signum() * 30.0 * (dy.abs() > 0.05) as i32 as f32,
                [t[0] * W as f32, t[1] * H as f32],
            )
        }
    };
    for k in 1..=8 {
        let f = k as f32 / 8.0;
        let warped = turn(img, yaw * f, pitch * f, 3.0);
        let c = [from[0] + (to[0] - from[0]) * f, from[1] + (to[1] - from[1]) * f];
        ids.push(set.add(&place(&warped, s, c), Some(86)));
    }
    ids
}

/// The head-movement kinds, and the kinds a real person's clip is searched for (see [`genuine_cases`]).
const HEAD_MOVEMENTS: [Kind; 4] = [Kind::TurnLeft, Kind::TurnRight, Kind::LookUp, Kind::LookDown];
const PERFORMED_KINDS: [Kind; 6] =
    [Kind::Smile, Kind::Blink, Kind::TurnLeft, Kind::TurnRight, Kind::LookUp, Kind::LookDown];

/// The signals of the largest face of each frame (`None` without a face).
fn frame_signals(frames: &[&[u8]], pipeline: &FacePipeline) -> Result<Vec<Option<liveness::Signals>>> {
    frames
        .par_iter()
        .map(|bytes| {
            let decoded = pipeline.decode(bytes)?;
            let found = pipeline.find_faces(&decoded.rgb)?;
            let Some(i) = vision::pipeline::largest_face(&found.faces) else { return Ok(None) };
            let a = pipeline.analyzer().analyze(&found.image, &found.faces[i].detection.bbox)?;
            Ok(Some(liveness::Signals::new(&a, found.image.width(), found.image.height())))
        })
        .collect()
}

/// Genuine sessions from a real person's clip: for each frame that could start a session (a frontal face, eyes
/// open) and each of `kinds`, the clip from there on — kept when the person makes that movement in the next
/// four seconds, clearly past the challenge's pass mark (the head's yaw or pitch changes by the challenge's
/// angle in its direction; the smile rises past its threshold; the eyes close and open again). Measured with
/// the pipeline to find the movements; the session then judges them with every other rule. Each case comes
/// with the frames before the movement starts.
fn genuine_cases(
    name: &str,
    frames: &[usize],
    set: &FrameSet,
    pipeline: &FacePipeline,
    kinds: &[Kind],
) -> Result<Vec<(Case, usize)>> {
    let bytes: Vec<&[u8]> = frames.iter().map(|&f| set.bytes[f].as_slice()).collect();
    let signals = frame_signals(&bytes, pipeline)?;
    let c = liveness::Criteria::default();
    let mut cases = Vec::new();
    let horizon = (4 * FPS) as usize;
    for &kind in kinds {
        let mut next_start = 0;
        for start in 0..signals.len() {
            if start < next_start {
                continue;
            }
            let Some(s0) = signals[start] else { continue };
            if s0.yaw.abs() > 10.0 || s0.pitch.abs() > 10.0 || s0.eyes() < c.eyes_closed_threshold + 0.03 {
                continue;
            }
            if kind == Kind::Smile && s0.smile > c.smile_threshold - c.smile_rise {
                continue;
            }
            let end = (start + horizon).min(signals.len());
            let window = &signals[start..end];
            // Where the movement shows (its first frame clearly past the pass mark), if it does.
            let shown = |s: &liveness::Signals| match kind {
                Kind::Smile => s.smile >= c.smile_threshold + 0.1 && s.smile - s0.smile >= c.smile_rise + 0.1,
                Kind::Blink => s.eyes() < c.eyes_closed_threshold - 0.03,
                Kind::TurnLeft => s.yaw - s0.yaw >= c.turn_degrees + 5.0,
                Kind::TurnRight => s0.yaw - s.yaw >= c.turn_degrees + 5.0,
                Kind::LookUp => s.pitch - s0.pitch >= c.pitch_degrees + 5.0,
                _ => s0.pitch - s.pitch >= c.pitch_degrees + 5.0,
            };
            let Some(at) = window.iter().position(|s| s.is_some_and(|s| shown(&s))) else { continue };
            // A blink opens again.
            if kind == Kind::Blink && !window[at..].iter().flatten().any(|s| s.eyes() >= c.eyes_closed_threshold + 0.03)
            {
                continue;
            }
            // A session can take it: it comes after the challenge's first frames (a challenge completes on its
            // third frame at the earliest), and the clip goes on for two seconds after it (a recording that
            // stops mid-session is no session). The real people's clips are held to this; real2.webm keeps the
            // sessions it has always had.
            if kinds != HEAD_MOVEMENTS.as_slice() && (at < 3 || start + at + 2 * FPS as usize > signals.len()) {
                continue;
            }
            // The session goes on after the window with the rest of the clip (up to ten seconds from its start),
            // as a live person's does until the challenge completes.
            let end = (start + 2 * horizon + 2 * FPS as usize).min(signals.len()).max(end);
            // The frames before the head starts to move (8 degrees from where it started).
            let lead = window
                .iter()
                .position(|s| s.is_none_or(|s| (s.yaw - s0.yaw).abs() > 8.0 || (s.pitch - s0.pitch).abs() > 8.0))
                .unwrap_or(end - start);
            cases.push((
                Case {
                    truth: Truth::Genuine,
                    name: format!("{name} from frame {start}, {}", kind.as_str()),
                    challenges: vec![challenge(kind, 0)],
                    frames: frames[start..end].to_vec(),
                    // The same person's other sessions: the clip a second and more before and after.
                    seen: frames
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i + (FPS as usize) < start || i >= end + FPS as usize)
                        .map(|(_, &f)| f)
                        .collect(),
                },
                lead,
            ));
            // The next session starts after this movement's start, a second later.
            next_start = start + FPS as usize;
        }
    }
    Ok(cases)
}

/// Genuine sessions from the real people's clips (`people/genuine`, their README): each clip decoded at the
/// session's frame rate and at most 640 pixels across, as a browser client sends it, and searched for every
/// challenge the person performs ([`genuine_cases`]).
fn people_sessions(
    data: &Data,
    set: &mut FrameSet,
    pipeline: &FacePipeline,
    cases: &mut Vec<Case>,
    pairs: &mut ScenePairs,
) -> Result<()> {
    let folder = data.path("people/genuine");
    let mut clips: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    clips.sort();
    let mut people: Vec<(Vec<Case>, Vec<usize>)> = Vec::new();
    for clip in clips {
        let name = clip.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let ids: Vec<usize> =
            frames::video_frames_at_most(&clip, FPS, W)?.iter().map(|f| set.add(f, Some(85))).collect();
        pairs.live_clip(&ids);
        let found = genuine_cases(&name, &ids, set, pipeline, &PERFORMED_KINDS)?;
        people.push((found.into_iter().map(|(c, _)| c).collect(), ids));
    }
    // The replay memory each session runs with: the other people's clips (other sessions on the server). The
    // same person's other moments are real2.webm's memory above; a clip of someone talking in one seat for
    // twenty seconds returns to its own poses, which the replay rule is not calibrated for (see the README).
    for (i, (found, _)) in people.iter().enumerate() {
        let memory: Vec<usize> =
            people.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, (_, ids))| ids.iter().copied()).collect();
        cases.extend(found.iter().map(|c| Case { seen: memory.clone(), ..c.clone() }));
    }
    Ok(())
}

/// LFW people with many photos, for slideshows of their photos.
const SLIDESHOW_PEOPLE: [&str; 6] =
    ["Tony_Blair", "Silvio_Berlusconi", "Wen_Jiabao", "David_Beckham", "Hugo_Chavez", "Andre_Agassi"];

/// How strongly photo `p` shows challenge `kind` done from the pose of photo `base`.
fn shows(kind: Kind, target: usize, base: &liveness::Signals, p: &liveness::Signals) -> f32 {
    match kind {
        Kind::Smile => p.smile - base.smile,
        Kind::Blink => base.eyes() - p.eyes(),
        Kind::TurnLeft => p.yaw - base.yaw,
        Kind::TurnRight => base.yaw - p.yaw,
        Kind::LookUp => p.pitch - base.pitch,
        Kind::LookDown => base.pitch - p.pitch,
        _ => {
            let t = TARGETS[target % TARGETS.len()];
            liveness::session::rotation_toward(base, p, t).unwrap_or(0.0)
        }
    }
}

/// Slideshows as an attacker builds them from a person's public photos: the most frontal, neutral photo and
/// the one that shows the challenge best (and for full frames a third, frontal one), each sent several times
/// re-encoded at JPEG quality 93, 88, 84 (then 90, 86) and at slightly other scales — on a grey canvas with the
/// face scaled 1.8 times, and filling the frame — against every challenge kind.
fn lfw_slideshows(
    data: &Data,
    set: &mut FrameSet,
    pipeline: &FacePipeline,
    cases: &mut Vec<Case>,
    pairs: &mut ScenePairs,
) -> Result<()> {
    let mut made: std::collections::HashMap<(usize, u8, u32, bool), usize> = Default::default();
    for name in SLIDESHOW_PEOPLE {
        let folder = data.path(&format!("lfw/images/{name}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let photos: Vec<RgbImage> = files.iter().map(|p| frames::load(p)).collect::<Result<_>>()?;
        let jpegs: Vec<Vec<u8>> = files.iter().map(|p| super::read_file(p)).collect::<Result<_>>()?;
        let signals = frame_signals(&jpegs.iter().map(Vec::as_slice).collect::<Vec<_>>(), pipeline)?;
        let usable: Vec<(usize, liveness::Signals)> =
            signals.iter().enumerate().filter_map(|(i, s)| Some((i, (*s)?))).collect();
        let frontal = |s: &liveness::Signals| s.yaw.abs() + s.pitch.abs() + 40.0 * s.smile;
        let mut by_frontal = usable.clone();
        by_frontal.sort_by(|a, b| frontal(&a.1).total_cmp(&frontal(&b.1)));
        let Some(&(a, sa)) = by_frontal.first() else { continue };
        for (i, &kind) in ALL_KINDS.iter().enumerate() {
            let Some(&(b, _)) = usable
                .iter()
                .filter(|(p, _)| *p != a)
                .max_by(|x, y| shows(kind, i, &sa, &x.1).total_cmp(&shows(kind, i, &sa, &y.1)))
            else {
                continue;
            };
            let c = by_frontal.iter().map(|x| x.0).find(|&p| p != a && p != b).unwrap_or(a);
            for canvas in [true, false] {
                // Each photo at JPEG quality 93, 88, 84 (the last one 90, 86), at the layout's three scales in turn.
                let (scales, last) = if canvas { ([1.8, 1.75, 1.85], a) } else { ([1.0, 1.04, 1.08], c) };
                let plan: Vec<(usize, u8, f32)> =
                    [(a, 93), (a, 88), (a, 84), (b, 93), (b, 88), (b, 84), (last, 90), (last, 86)]
                        .iter()
                        .enumerate()
                        .map(|(i, &(photo, q))| (photo, q, scales[i % 3]))
                        .collect();
                let shown: Vec<(usize, usize)> = plan
                    .iter()
                    .map(|&(photo, q, scale)| {
                        let key = (photo, q, (scale * 1000.0) as u32, canvas);
                        let id = *made.entry(key).or_insert_with(|| {
                            let img = &photos[photo];
                            let framed = if canvas {
                                place(img, scale, [W as f32 / 2.0, H as f32 / 2.0])
                            } else {
                                frames::fill(img, scale)
                            };
                            set.add(&framed, Some(q))
                        });
                        (id, photo)
                    })
                    .collect();
                pairs.slideshow(&shown);
                let (truth, layout) =
                    if canvas { (Truth::Slideshow, "on a canvas") } else { (Truth::SlideshowFullFrame, "full frame") };
                cases.push(Case {
                    truth,
                    name: format!("LFW {name} photos {a} -> {b}, {layout}, {}", kind.as_str()),
                    challenges: vec![challenge(kind, i)],
                    frames: shown.iter().map(|x| x.0).collect(),
                    seen: Vec::new(),
                });
            }
        }
    }
    Ok(())
}

/// A configuration the suite runs under.
struct Setup {
    name: &'static str,
    config: ServerConfig,
    passive: bool,
}

/// How one session went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    truth: Truth,
    name: String,
    status: Status,
    confidence: f32,
    reasons: Vec<&'static str>,
    /// Frames the session refused outright (e.g. the same picture sent twice).
    refused_frames: usize,
    depth: Option<f32>,
    /// The least motion of the face between consecutive frames (see `liveness::geometry::motion`).
    min_motion: Option<f32>,
    /// Scene continuity (see `liveness::scene`): the largest share of background changed between consecutive
    /// frames and the least face residual.
    max_background_change: Option<f32>,
    min_face_residual: Option<f32>,
    /// The passive score of each judged frame, and the similarity to the baseline of each frame after it.
    passive_scores: Vec<f32>,
    similarities: Vec<f32>,
    /// Frames judged, and those whose template the session needed (the baseline, and the frames it wanted
    /// the identity checked on: `Session::identity_wanted`).
    frames_judged: u32,
    templates_taken: u32,
}

fn run_case(
    case: &Case,
    measured: &[FrameMeasurement],
    hashes: &[String],
    setup: &Setup,
    model: vision::EmbeddingModel,
) -> Outcome {
    let options = app::usecases::liveness_sessions::challenges::session_options(
        &setup.config,
        case.challenges.clone(),
        setup.passive,
        0,
    );
    let mut session = Session::new(options, 0);
    // The replay memory: the prints of the frames an earlier session sent (numbered in its order), looked up by
    // cell as the server does.
    let memory: Vec<(u64, FramePrint)> =
        case.seen.iter().enumerate().filter_map(|(i, &f)| Some((i as u64, measured[f].print()?))).collect();
    let seen_in = |m: &FrameMeasurement| -> Vec<SeenFrame> {
        let Some(face) = m.face.as_ref() else { return Vec::new() };
        let cells = replay::cells(&face.points);
        memory
            .iter()
            .filter(|(_, p)| cells.contains(&p.cell) && replay::same_capture(&p.points, &face.points))
            .map(|(sequence, _)| SeenFrame { session: "earlier".into(), sequence: *sequence })
            .collect()
    };
    let mut template: Option<Vec<f32>> = None;
    let mut refused = 0;
    for (i, &f) in case.frames.iter().enumerate() {
        let t = (i as i64 + 1) * FRAME_MS;
        let m = strip_passive(&measured[f], setup.passive);
        let stamp =
            FrameStamp { sequence: session.next_sequence, timestamp_ms: t, now_ms: t, byte_hash: hashes[f].clone() };
        // The session's two steps, as the frame route takes them: the identity checked only where it is wanted.
        let prepared = session.prepare(&m, stamp, seen_in(&m), template.is_some());
        let face_template = m.face.as_ref().and_then(|f| f.template.as_deref()).filter(|_| prepared.wants_template());
        let Ok(taken) = session.take(prepared, face_template.zip(template.as_deref()), model) else {
            refused += 1;
            continue;
        };
        if taken.new_baseline {
            template = m.face.as_ref().and_then(|f| f.template.clone());
        }
        if session.status.is_final() {
            break;
        }
    }
    let r: SessionResult = session.result();
    Outcome {
        truth: case.truth,
        name: case.name.clone(),
        status: r.status,
        confidence: r.confidence,
        reasons: r.reasons.clone(),
        refused_frames: refused,
        depth: r.challenges.iter().filter_map(|c| c.depth).reduce(f32::max),
        min_motion: session.min_motion,
        max_background_change: session.max_background_change,
        min_face_residual: session.min_face_residual,
        passive_scores: session.passive_scores.iter().map(|p| (p * 1000.0).round() / 1000.0).collect(),
        similarities: session.similarities.iter().map(|p| (p * 10.0).round() / 10.0).collect(),
        frames_judged: session.counts.received,
        templates_taken: session.counts.identity_checked + u32::from(session.baseline.is_some()),
    }
}

/// The measurement as a server without the passive model makes it.
fn strip_passive(m: &FrameMeasurement, keep: bool) -> std::borrow::Cow<'_, FrameMeasurement> {
    if keep {
        return std::borrow::Cow::Borrowed(m);
    }
    let mut m = m.clone();
    if let Some(f) = m.face.as_mut() {
        f.passive = None;
    }
    std::borrow::Cow::Owned(m)
}

/// The figures of one group of sessions (an attack type, or the genuine ones).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupReport {
    truth: Truth,
    sessions: usize,
    succeeded: usize,
    failed: usize,
    /// Sessions that ended without a decision (frames ran out before the challenges were done).
    no_decision: usize,
    /// Attacks: succeeded / sessions (APCER). Genuine: not succeeded / sessions (BPCER).
    error_rate: f64,
    no_response_rate: f64,
    /// Confidence: minimum, median, maximum.
    confidence: [f32; 3],
    /// The most frequent failure reasons, with counts.
    reasons: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SetupReport {
    setup: &'static str,
    groups: Vec<GroupReport>,
    /// The worst APCER over the attack types, and its type (the headline figure; no type when no attack
    /// succeeded).
    worst_apcer: f64,
    worst_attack: Option<Truth>,
    bpcer: f64,
    /// Succeeded sessions' lowest confidence and other sessions' highest (succeeded must lie above).
    lowest_succeeded_confidence: Option<f32>,
    highest_other_confidence: Option<f32>,
    /// Over genuine sessions: the share of judged frames whose template was computed.
    genuine_template_share: f64,
    sessions: Vec<Outcome>,
}

fn report(setup: &'static str, outcomes: Vec<Outcome>) -> SetupReport {
    let mut by: BTreeMap<Truth, Vec<&Outcome>> = BTreeMap::new();
    for o in &outcomes {
        by.entry(o.truth).or_default().push(o);
    }
    let groups: Vec<GroupReport> = by
        .iter()
        .map(|(&truth, list)| {
            let n = list.len();
            let succeeded = list.iter().filter(|o| o.status == Status::Succeeded).count();
            let no_decision = list.iter().filter(|o| !o.status.is_final() || o.status == Status::Expired).count();
            let mut conf: Vec<f32> = list.iter().map(|o| o.confidence).collect();
            conf.sort_by(f32::total_cmp);
            let mut reasons = BTreeMap::new();
            for r in list.iter().flat_map(|o| o.reasons.iter()) {
                *reasons.entry(*r).or_insert(0) += 1;
            }
            let errors = if truth.is_attack() { succeeded } else { n - succeeded };
            GroupReport {
                truth,
                sessions: n,
                succeeded,
                failed: n - succeeded - no_decision,
                no_decision,
                error_rate: errors as f64 / n.max(1) as f64,
                no_response_rate: no_decision as f64 / n.max(1) as f64,
                confidence: [conf[0], conf[n / 2], conf[n - 1]],
                reasons,
            }
        })
        .collect();
    let worst = groups
        .iter()
        .filter(|g| g.truth.is_attack() && g.error_rate > 0.0)
        .max_by(|a, b| a.error_rate.total_cmp(&b.error_rate));
    let bpcer = groups.iter().find(|g| g.truth == Truth::Genuine).map_or(0.0, |g| g.error_rate);
    SetupReport {
        setup,
        worst_apcer: worst.map_or(0.0, |g| g.error_rate),
        worst_attack: worst.map(|g| g.truth),
        bpcer,
        lowest_succeeded_confidence: outcomes
            .iter()
            .filter(|o| o.status == Status::Succeeded)
            .map(|o| o.confidence)
            .reduce(f32::min),
        highest_other_confidence: outcomes
            .iter()
            .filter(|o| o.status != Status::Succeeded)
            .map(|o| o.confidence)
            .reduce(f32::max),
        genuine_template_share: {
            let genuine = || outcomes.iter().filter(|o| o.truth == Truth::Genuine);
            let taken: u32 = genuine().map(|o| o.templates_taken).sum();
            f64::from(taken) / f64::from(genuine().map(|o| o.frames_judged).sum::<u32>().max(1))
        },
        groups,
        sessions: outcomes,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AttacksOutput {
    data: String,
    frames: usize,
    sessions: usize,
    frame_ms: i64,
    replay_memory: ReplayCalibration,
    scene: SceneCalibration,
    setups: Vec<SetupReport>,
    /// The liveness stream's cases (`eval stream`), when the data holds the approach clips.
    stream: Option<super::eval_stream::Report>,
}

/// How far apart the replay memory finds frames (see `liveness::replay`): a frame sent again re-encoded, and
/// different moments of one person in front of one camera a second or more apart (the live and replay videos,
/// the NUAA live captures).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplayCalibration {
    /// The distance under which two frames are one capture, and the motion from the frame before under which
    /// a frame never counts as sent again.
    same_capture_below: f32,
    min_motion: f32,
    /// Re-encoded frames against their originals: pairs, and the distance's minimum, median and maximum.
    reencoded_pairs: usize,
    reencoded: [f32; 3],
    /// Different moments: pairs, and the closest distance.
    moment_pairs: usize,
    closest_moments: f32,
    /// Different moments where the later frame moved at least the minimum motion: pairs, the closest
    /// distance, and the pairs under the bar (frames a live session would have taken for sent again).
    moving_pairs: usize,
    closest_moving: f32,
    moving_under_bar: usize,
}

fn face_points(m: &FrameMeasurement) -> Option<&[[f32; 2]]> {
    m.face.as_ref().map(|f| f.points.as_slice())
}

fn replay_calibration(cases: &[Case], clips: &[Clip], measured: &[FrameMeasurement]) -> ReplayCalibration {
    let distance = |a: usize, b: usize| {
        face_points(&measured[a]).zip(face_points(&measured[b])).and_then(|(p, q)| liveness::geometry::motion(p, q))
    };
    let mut reencoded: Vec<f32> = cases
        .iter()
        .filter(|c| c.truth == Truth::ReplayedSessionReencoded)
        .flat_map(|c| c.seen.iter().zip(&c.frames).filter_map(|(&a, &b)| distance(a, b)))
        .collect();
    reencoded.sort_by(f32::total_cmp);
    // (distance, whether the later frame moved from the one before it), for every pair of moments either way.
    let moments: Vec<(f32, bool)> = clips
        .iter()
        .flat_map(|c| {
            let f = &c.frames;
            (0..f.len()).flat_map(move |i| {
                (0..f.len())
                    .filter(move |&j| j.abs_diff(i) >= c.moment)
                    .map(move |j| (f[i], f[j], j.checked_sub(1).map(|p| f[p])))
            })
        })
        .filter_map(|(a, b, before_b)| {
            let moved = before_b.and_then(|p| distance(p, b)).is_some_and(|m| m >= replay::REPLAY_MIN_MOTION);
            distance(a, b).map(|d| (d, moved))
        })
        .collect();
    let moving: Vec<f32> = moments.iter().filter(|m| m.1).map(|m| m.0).collect();
    let n = reencoded.len();
    ReplayCalibration {
        same_capture_below: replay::REPLAY_DISTANCE,
        min_motion: replay::REPLAY_MIN_MOTION,
        reencoded_pairs: n,
        reencoded: if n == 0 { [0.0; 3] } else { [reencoded[0], reencoded[n / 2], reencoded[n - 1]] },
        moment_pairs: moments.len(),
        closest_moments: moments.iter().map(|m| m.0).reduce(f32::min).unwrap_or(0.0),
        moving_pairs: moving.len(),
        closest_moving: moving.iter().copied().reduce(f32::min).unwrap_or(0.0),
        moving_under_bar: moving.iter().filter(|&&d| d < replay::REPLAY_DISTANCE).count(),
    }
}

/// What scene continuity (`liveness::scene`) measures on the suite's frames, with the session's frame
/// interval: consecutive frames of real people's videos against the slideshows' cuts and the same photos sent
/// again. Each rule's threshold must separate the two sides.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SceneCalibration {
    live_pairs: usize,
    /// Live: the largest share of background changed, the 99th percentile, and the pairs judged cuts.
    live_background_change: [f32; 2],
    live_face_speed: [f32; 2],
    live_face_growth: [f32; 2],
    live_cuts: usize,
    /// Live: the least face residual, the 1st percentile, and the pairs judged the same picture.
    live_face_residual: [f32; 2],
    live_same_picture: usize,
    cut_pairs: usize,
    /// Cuts: the least background change, and the cuts not judged so.
    cut_background_change: f32,
    cuts_missed: usize,
    /// A photo sent again re-encoded: the largest face residual, and the pairs not judged the same picture.
    reencoded_pairs: usize,
    reencoded_face_residual: f32,
    reencoded_missed: usize,
    /// Re-encoded at another scale (resampled: not always the same picture to this rule; a slideshow of them
    /// cuts): the same figures.
    rescaled_pairs: usize,
    rescaled_face_residual: f32,
    rescaled_missed: usize,
}

fn scene_calibration(pairs: &ScenePairs, measured: &[FrameMeasurement]) -> SceneCalibration {
    let continuity = |list: &[(usize, usize)]| -> Vec<liveness::scene::Continuity> {
        list.iter()
            .filter_map(|&(a, b)| {
                let sa = measured[a].face.as_ref()?.scene.as_ref()?;
                let sb = measured[b].face.as_ref()?.scene.as_ref()?;
                liveness::scene::compare(sa, sb, FRAME_MS)
            })
            .collect()
    };
    // (maximum, 99th percentile) or (minimum, 1st percentile).
    let high = |mut v: Vec<f32>| -> [f32; 2] {
        v.sort_by(f32::total_cmp);
        let n = v.len();
        if n == 0 {
            [0.0; 2]
        } else {
            [v[n - 1], v[(n * 99 / 100).min(n - 1)]]
        }
    };
    let low = |mut v: Vec<f32>| -> [f32; 2] {
        v.sort_by(f32::total_cmp);
        if v.is_empty() {
            [0.0; 2]
        } else {
            [v[0], v[v.len() / 100]]
        }
    };
    let live = continuity(&pairs.live);
    let cuts = continuity(&pairs.cuts);
    let reencoded = continuity(&pairs.reencoded);
    let rescaled = continuity(&pairs.rescaled);
    SceneCalibration {
        live_pairs: live.len(),
        live_background_change: high(live.iter().filter_map(|c| c.background_change).collect()),
        live_face_speed: high(live.iter().map(|c| c.face_speed).collect()),
        live_face_growth: high(live.iter().map(|c| c.face_growth).collect()),
        live_cuts: live.iter().filter(|c| c.is_cut()).count(),
        live_face_residual: low(live.iter().filter_map(|c| c.face_residual).collect()),
        live_same_picture: live.iter().filter(|c| c.is_same_picture()).count(),
        cut_pairs: cuts.len(),
        cut_background_change: cuts.iter().filter_map(|c| c.background_change).reduce(f32::min).unwrap_or(0.0),
        cuts_missed: cuts.iter().filter(|c| !c.is_cut()).count(),
        reencoded_pairs: reencoded.len(),
        reencoded_face_residual: reencoded.iter().filter_map(|c| c.face_residual).reduce(f32::max).unwrap_or(0.0),
        reencoded_missed: reencoded.iter().filter(|c| !c.is_same_picture()).count(),
        rescaled_pairs: rescaled.len(),
        rescaled_face_residual: rescaled.iter().filter_map(|c| c.face_residual).reduce(f32::max).unwrap_or(0.0),
        rescaled_missed: rescaled.iter().filter(|c| !c.is_same_picture()).count(),
    }
}

/// Measurements kept between runs (`--measurements`), with what they were measured on.
#[derive(Serialize, serde::Deserialize)]
struct KeptMeasurements {
    hashes: Vec<String>,
    passive: bool,
    measured: Vec<FrameMeasurement>,
}

/// The kept measurements in `path` when they are of these frames (and with the passive model as now).
fn kept_measurements(path: &Path, hashes: &[String], passive: bool) -> Option<Vec<FrameMeasurement>> {
    let kept: KeptMeasurements = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    (kept.hashes == hashes && kept.passive == passive).then(|| {
        eprintln!("reusing the measurements kept in {}", path.display());
        kept.measured
    })
}

pub struct AttackArgs<'a> {
    pub data: &'a Path,
    pub sessions: bool,
    pub check: bool,
    pub measurements: Option<&'a Path>,
    pub json: bool,
}

/// What `--check` holds the default configuration with the passive model to: the worst APCER allowed per
/// attack type (0 for every still, replay and switch; 5 % for screen replays) and the BPCER (5 %).
const APCER_CEILINGS: &[(Truth, f64)] = &[
    (Truth::PrintedPhoto, 0.0),
    (Truth::ScreenReplay, 0.05),
    (Truth::ScreenReplayCrops, 0.05),
    (Truth::OneStill, 0.0),
    (Truth::Slideshow, 0.0),
    (Truth::SlideshowFullFrame, 0.0),
    (Truth::SlidStill, 0.0),
    (Truth::TurnedStill, 0.0),
    (Truth::ReplayedSession, 0.0),
    (Truth::ReplayedSessionReencoded, 0.0),
    (Truth::Switch, 0.0),
    (Truth::IdentitySplice, 0.0),
    (Truth::OutOfOrder, 0.0),
];
const BPCER_CEILING: f64 = 0.05;

/// The failures of `--check`: what a report breaks of the ceilings and of the rules that hold in every
/// configuration (no success without passive anti-spoofing unless allowed; every success above every failure
/// in confidence).
fn check(reports: &[SetupReport]) -> Vec<String> {
    let mut failures = Vec::new();
    for r in reports {
        if let (Some(lo), Some(hi)) = (r.lowest_succeeded_confidence, r.highest_other_confidence) {
            if lo <= hi {
                failures.push(format!("{}: a succeeded session scored {lo}, a failed one {hi}", r.setup));
            }
        }
        // Slideshows fail on their continuity whatever the configuration, challenge-only included.
        for g in r.groups.iter().filter(|g| SLIDESHOWS.contains(&g.truth) && g.succeeded > 0) {
            failures.push(format!("{}: {} of {} {:?} sessions succeeded", r.setup, g.succeeded, g.sessions, g.truth));
        }
        if r.setup == SETUP_NO_PASSIVE {
            let live: usize = r.groups.iter().map(|g| g.succeeded).sum();
            if live > 0 {
                failures.push(format!("{}: {live} sessions succeeded without passive anti-spoofing", r.setup));
            }
        }
        if r.setup == SETUP_DEFAULT {
            for g in &r.groups {
                let ceiling = if g.truth.is_attack() {
                    APCER_CEILINGS.iter().find(|(t, _)| *t == g.truth).map_or(0.0, |c| c.1)
                } else {
                    BPCER_CEILING
                };
                if g.error_rate > ceiling + 1e-9 {
                    let what = if g.truth.is_attack() { "APCER" } else { "BPCER" };
                    failures.push(format!(
                        "{}: {:?} {what} {:.1} % is above {:.1} %",
                        r.setup,
                        g.truth,
                        100.0 * g.error_rate,
                        100.0 * ceiling
                    ));
                }
            }
        }
    }
    failures
}

/// The attacks that scene continuity alone must stop, in every configuration.
const SLIDESHOWS: [Truth; 3] = [Truth::Slideshow, Truth::SlideshowFullFrame, Truth::OneStill];

const SETUP_DEFAULT: &str = "default, with the passive model";
const SETUP_NO_PASSIVE: &str = "default, without the passive model";

pub fn run(common: &CommonArgs, args: AttackArgs<'_>) -> Result<()> {
    if !args.data.join("replay/videos/real2.webm").exists() {
        bail!("{} does not hold the shared data (replay/videos/real2.webm)", args.data.display());
    }
    let pipeline: Arc<FacePipeline> = super::load_pipeline(common)?;
    let passive: Option<PassiveLiveness> = match super::eval_liveness::load_passive(common) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("passive anti-spoofing unavailable ({e:#}): only the configurations without it run");
            None
        }
    };
    let data = Data { root: args.data.to_path_buf() };
    let mut set = FrameSet::default();
    let started = std::time::Instant::now();
    let Suite { cases, clips, pairs } = build_suite(&data, &mut set, &pipeline)?;
    eprintln!("{} sessions over {} frames; measuring the frames", cases.len(), set.bytes.len());
    let config = ServerConfig::default();
    let min_px = config.liveness_min_face_px;
    let hashes: Vec<String> =
        set.bytes.iter().map(|b| app::usecases::liveness_sessions::token::sha256_hex(b)).collect();
    let kept = args.measurements.and_then(|p| kept_measurements(p, &hashes, passive.is_some()));
    let measured: Vec<FrameMeasurement> = match kept {
        Some(m) => m,
        None => set
            .bytes
            .par_iter()
            .map(|bytes| {
                let decoded = pipeline.decode(bytes)?;
                let found = pipeline.find_faces_timed(
                    &decoded.rgb,
                    config.detect_max_side,
                    // As the service measures frames: at the full size (see measure_frame).
                    vision::Wanted::EveryUpright,
                    &mut Default::default(),
                )?;
                // Every template at once: each frame serves many sessions, which take it where they want it.
                let template = liveness::Template::Now;
                Ok(liveness::measure_faces(&pipeline, passive.as_ref(), &found.image, &found.faces, min_px, template)?)
            })
            .collect::<Result<_>>()?,
    };
    if let Some(path) = args.measurements {
        let kept = KeptMeasurements { hashes: hashes.clone(), passive: passive.is_some(), measured: measured.clone() };
        std::fs::write(path, serde_json::to_vec(&kept)?).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());
    let replay_memory = replay_calibration(&cases, &clips, &measured);
    let scene = scene_calibration(&pairs, &measured);

    let mut setups = Vec::new();
    if passive.is_some() {
        setups.push(Setup { name: SETUP_DEFAULT, config: config.clone(), passive: true });
    } else if args.check {
        bail!("--check needs the passive model: pass --models-dir with the MiniFASNet weights");
    }
    setups.push(Setup { name: SETUP_NO_PASSIVE, config: config.clone(), passive: false });
    setups.push(Setup {
        name: "without the passive model, challenge-only allowed",
        config: ServerConfig { liveness_allow_challenge_only: true, ..config.clone() },
        passive: false,
    });
    let model = pipeline.embedding_model();
    let reports: Vec<SetupReport> = setups
        .iter()
        .map(|s| report(s.name, cases.iter().map(|c| run_case(c, &measured, &hashes, s, model)).collect()))
        .collect();
    let mut reports = reports;
    let mut failures = if args.check { check(&reports) } else { Vec::new() };
    // The liveness stream's attacks, judged as its door judges them.
    let stream = match super::eval_stream::has_clips(args.data) {
        true => Some(super::eval_stream::evaluate(common, args.data)?),
        false if args.check => bail!("--check needs the shared approach clips ({}/approach)", args.data.display()),
        false => None,
    };
    if let (true, Some(stream)) = (args.check, &stream) {
        failures.extend(super::eval_stream::check(stream));
    }
    if !args.sessions {
        for r in &mut reports {
            r.sessions.clear();
        }
    }
    let out = AttacksOutput {
        data: args.data.display().to_string(),
        frames: set.bytes.len(),
        sessions: cases.len(),
        frame_ms: FRAME_MS,
        replay_memory,
        scene,
        setups: reports,
        stream,
    };
    if args.json {
        print_json(&out)?;
    } else {
        print_table(&out);
    }
    if !failures.is_empty() {
        bail!("the attack evaluation is worse than it may be:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

fn print_table(out: &AttacksOutput) {
    println!("{} sessions over {} frames ({} ms apart), from {}", out.sessions, out.frames, out.frame_ms, out.data);
    let r = &out.replay_memory;
    println!(
        "replay memory: one capture below {}, for frames that moved {} or more; {} re-encoded frames from their \
         originals {:.4} / {:.4} / {:.4} (min / median / max); {} pairs of moments a second or more apart: \
         closest {:.4}; {} where the later frame moved: closest {:.4}, {} below the bar",
        r.same_capture_below,
        r.min_motion,
        r.reencoded_pairs,
        r.reencoded[0],
        r.reencoded[1],
        r.reencoded[2],
        r.moment_pairs,
        r.closest_moments,
        r.moving_pairs,
        r.closest_moving,
        r.moving_under_bar
    );
    let c = &out.scene;
    println!(
        "scene continuity: {} pairs of consecutive live frames: background changed at most {:.2} (p99 {:.2}), face \
         speed {:.2} ({:.2}) widths/s, growth {:.2} ({:.2}) /s, {} judged cuts; face residual at least {:.2} (p1 \
         {:.2}), {} judged the same picture. {} slideshow cuts: background changed at least {:.2}, {} not judged \
         cuts. {} photos sent again re-encoded: face residual at most {:.2}, {} not judged the same picture; {} \
         rescaled too: at most {:.2}, {} not judged so",
        c.live_pairs,
        c.live_background_change[0],
        c.live_background_change[1],
        c.live_face_speed[0],
        c.live_face_speed[1],
        c.live_face_growth[0],
        c.live_face_growth[1],
        c.live_cuts,
        c.live_face_residual[0],
        c.live_face_residual[1],
        c.live_same_picture,
        c.cut_pairs,
        c.cut_background_change,
        c.cuts_missed,
        c.reencoded_pairs,
        c.reencoded_face_residual,
        c.reencoded_missed,
        c.rescaled_pairs,
        c.rescaled_face_residual,
        c.rescaled_missed
    );
    for s in &out.setups {
        println!();
        println!("## {}", s.setup);
        println!(
            "| type | sessions | succeeded | APCER / BPCER | no decision | confidence min / median / max | reasons |"
        );
        println!("|---|---|---|---|---|---|---|");
        for g in &s.groups {
            let rate = if g.truth.is_attack() { "APCER" } else { "BPCER" };
            let reasons: Vec<String> = g.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            println!(
                "| {} | {} | {} | {rate} {:.1} % | {:.1} % | {:.1} / {:.1} / {:.1} | {} |",
                serde_json::to_value(g.truth).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                g.sessions,
                g.succeeded,
                100.0 * g.error_rate,
                100.0 * g.no_response_rate,
                g.confidence[0],
                g.confidence[1],
                g.confidence[2],
                reasons.join(", ")
            );
        }
        println!(
            "worst APCER {:.1} % ({}), BPCER {:.1} %; confidence: succeeded >= {}, others <= {}",
            100.0 * s.worst_apcer,
            s.worst_attack
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_else(|| "-".into()),
            100.0 * s.bpcer,
            s.lowest_succeeded_confidence.map_or("-".into(), |c| format!("{c:.1}")),
            s.highest_other_confidence.map_or("-".into(), |c| format!("{c:.1}")),
        );
        println!(
            "genuine sessions computed the template of {:.1} % of their frames (the baseline and the frames checked for identity)",
            100.0 * s.genuine_template_share
        );
    }
    if let Some(stream) = &out.stream {
        println!();
        println!("the liveness stream (Amplify's approach challenge; `eval stream`):");
        super::eval_stream::print_table(stream);
    }
}
