//! A liveness session: the state machine over per-frame observations.
//!
//! The server measures each frame (faces, signals, identity, passive score) and hands an [`Observation`] to
//! [`Session::observe`], which enforces the session's rules and advances through a baseline (a frontal, eyes-open
//! frame) and then the challenges in order. The whole state is serialisable: the store keeps it between frames,
//! so any replica can take the next frame. Nothing here reads a clock or a random source — time comes in with
//! each observation and the challenges come in with the options — so a session is deterministic and tests can
//! drive it with stills.

use serde::{Deserialize, Serialize};

use crate::check::{check, Criteria, Kind, Target};
use crate::scene::ScenePrint;
use crate::signals::Signals;

/// One challenge of a session.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeSpec {
    pub kind: Kind,
    /// `nose_target`: the area for the nose tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Time allowed from the challenge's start (server clock), milliseconds.
    pub timeout_ms: i64,
}

/// What a session is judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOptions {
    pub challenges: Vec<ChallengeSpec>,
    pub criteria: Criteria,
    /// Lifetime from creation, milliseconds.
    pub lifetime_ms: i64,
    /// Frames with no face, several faces or a face too small or too poor: more than this fail the session.
    pub max_bad_frames: u32,
    /// Frames a session takes at most.
    pub max_frames: u32,
    /// The face box's shorter side must be at least this many pixels.
    pub min_face_px: f32,
    /// Identity: every frame's face must reach this calibrated similarity (0-100) to the baseline's.
    pub min_similarity: f32,
    /// Passive anti-spoofing: the mean score of every [`PASSIVE_WINDOW`] consecutive frames must reach this
    /// (`None`: the model is not available).
    pub passive_threshold: Option<f32>,
    /// Whether the operator allows a session to succeed on its challenges alone, without passive
    /// anti-spoofing. Off by default: without the passive model no session succeeds.
    #[serde(default)]
    pub challenge_only: bool,
    /// Head turns, looking up or down and the nose target must show depth: the landmarks' motion from the
    /// baseline must leave at least this much unexplained by a flat picture moved or turned (see
    /// [`crate::geometry::planar_residual`]). `None`: not checked.
    #[serde(default)]
    pub min_depth: Option<f32>,
    /// The accepted frame of a challenge, counted from its start, on which it may complete at the earliest.
    #[serde(default = "default_min_challenge_frames")]
    pub min_challenge_frames: u32,
    /// Consecutive frames must continue one scene, and a face the frame before's picture again is a still
    /// (see [`crate::scene`]). Off: only the landmarks' freeze marks a still.
    #[serde(default = "default_scene_continuity")]
    pub scene_continuity: bool,
    /// Audit images to keep (0..=4).
    pub audit_images: u32,
    /// Where the client drew the face's place (the nose challenge's area): until the baseline is set, a face
    /// outside it or too small for it is a bad frame. `None`: anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_area: Option<FaceArea>,
}

/// How far (as a share of the area's width and height) a face box may stand out of its [`FaceArea`]: the
/// detector's box is not the outline a person lines up with the drawn area.
pub const FACE_AREA_TOLERANCE: f32 = 0.05;

/// The area a client drew for the face to get into position (normalised frame coordinates), and the share of it
/// the face box must cover at least. The person gets into position first (the frames before the baseline are
/// held to it); the challenge may then move the face toward its target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceArea {
    pub area: Target,
    /// 0..1 of the area's surface.
    pub min_cover: f32,
}

impl FaceArea {
    /// The face box lies in the area, give or take [`FACE_AREA_TOLERANCE`].
    pub fn holds(&self, face: &Target) -> bool {
        let a = &self.area;
        let (tx, ty) = (FACE_AREA_TOLERANCE * a.width, FACE_AREA_TOLERANCE * a.height);
        face.x >= a.x - tx
            && face.y >= a.y - ty
            && face.x + face.width <= a.x + a.width + tx
            && face.y + face.height <= a.y + a.height + ty
    }

    /// The face box covers at least `min_cover` of the area (both in frame shares, so in pixels alike).
    pub fn covered_by(&self, face: &Target) -> bool {
        face.width * face.height >= self.min_cover * self.area.width * self.area.height
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Created,
    InProgress,
    Succeeded,
    Failed,
    Expired,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Expired)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "CREATED",
            Status::InProgress => "IN_PROGRESS",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Expired => "EXPIRED",
        }
    }
}

/// Why a session failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// A frame's face is not the baseline's person.
    IdentityChanged,
    /// The passive anti-spoofing score over the frames is under the threshold.
    SpoofDetected,
    /// Too many frames without exactly one usable face.
    TooManyBadFrames,
    /// A challenge was not done in its time.
    ChallengeTimeout,
    /// The session took its maximum of frames without finishing.
    TooManyFrames,
    /// Head movements that a flat picture moved or turned in front of the camera explains (no depth), or a
    /// nose target reached without turning the head.
    FlatMotion,
    /// Frames that did not move at all: the same picture sent again.
    StillPicture,
    /// Consecutive frames that one camera watching one scene cannot deliver: other surroundings, or the face
    /// jumping (a slideshow of photos).
    SceneCut,
    /// Frames whose face another recent session saw exactly there: a recorded session sent again.
    ReplayedFrames,
    /// No passive anti-spoofing ran, and the operator did not allow challenge-only liveness.
    PassiveCheckUnavailable,
    /// A streamed session's video did not show a face brought into the oval (see [`crate::approach`]).
    ApproachNotShown,
    /// A streamed session's face did not reflect the colours the screen showed (see [`crate::light`]).
    LightNotReflected,
    /// A streamed session's stream broke off before its video was complete.
    StreamIncomplete,
}

impl FailReason {
    pub fn code(self) -> &'static str {
        match self {
            FailReason::IdentityChanged => "identity_changed",
            FailReason::SpoofDetected => "spoof_detected",
            FailReason::TooManyBadFrames => "too_many_bad_frames",
            FailReason::ChallengeTimeout => "challenge_timeout",
            FailReason::TooManyFrames => "too_many_frames",
            FailReason::FlatMotion => "flat_motion",
            FailReason::StillPicture => "still_picture",
            FailReason::SceneCut => "scene_cut",
            FailReason::ReplayedFrames => "replayed_frames",
            FailReason::PassiveCheckUnavailable => "passive_check_unavailable",
            FailReason::ApproachNotShown => "approach_not_shown",
            FailReason::LightNotReflected => "light_not_reflected",
            FailReason::StreamIncomplete => "stream_incomplete",
        }
    }
}

/// A frame refused outright (nothing about the session changes, except where said).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("the session is finished ({})", .0.as_str())]
    Finished(Status),
    #[error("the session has expired")]
    Expired,
    #[error("frame {got} is out of sequence: the session expects frame {expected}")]
    OutOfSequence { expected: u64, got: u64 },
    #[error("frame timestamps must increase (got {got} ms after {last} ms)")]
    TimestampNotIncreasing { last: i64, got: i64 },
    #[error("the frame's timestamp ({got} ms) lies outside the session's lifetime")]
    TimestampOutOfRange { got: i64 },
    #[error("this frame was sent before")]
    Replayed,
}

/// The face the server found in a frame, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedFace {
    pub signals: Signals,
    /// The face box in normalised frame coordinates.
    pub bbox: Target,
    /// The face box's shorter side in pixels.
    pub size_px: f32,
    /// Whether the face clears the quality bar (sharpness, brightness).
    pub quality_ok: bool,
    /// Calibrated similarity (0-100) to the baseline's face; `None` before there is a baseline.
    pub similarity: Option<f32>,
    /// Passive anti-spoofing score 0..1, when the model is available.
    pub passive: Option<f32>,
    /// The rigid landmarks ([`crate::measure::RIGID_POINTS`]) in normalised frame coordinates.
    pub points: Vec<[f32; 2]>,
}

/// One frame, as measured by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub sequence: u64,
    /// The client's timestamp, milliseconds since the session's creation.
    pub timestamp_ms: i64,
    /// The server's clock, milliseconds since the epoch.
    pub now_ms: i64,
    /// SHA-256 of the frame's bytes, hex.
    pub hash: String,
    /// SHA-256 of the frame's decoded pixels, hex: the same picture re-sent with other bytes.
    pub content_hash: String,
    /// Faces found.
    pub faces: usize,
    /// The face, when there is exactly one.
    pub face: Option<ObservedFace>,
    /// The frames of other recent sessions whose faces lay where this one's does (see [`crate::replay`]).
    pub seen_in: Vec<crate::replay::SeenFrame>,
    /// The frame's scene and face pixels, as the session keeps them to judge the next frame (see
    /// [`crate::scene`]); `None` where the caller measured no pixels.
    pub scene: Option<ScenePrint>,
}

/// What a frame amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameVerdict {
    /// It counted (as the baseline, or toward the current challenge).
    Accepted,
    NoFace,
    MultipleFaces,
    FaceTooSmall,
    /// Before the baseline: the face is not in the area the client drew ([`SessionOptions::face_area`]).
    FaceOutsideArea,
    LowQuality,
    /// Fine, but not usable as the baseline (not frontal, eyes closed).
    NotBaseline,
    /// The face does not match the baseline's person: the frame does not count (two such frames in any
    /// [`IDENTITY_WINDOW`] fail the session).
    IdentityChanged,
    /// The passive anti-spoofing score of this frame is under the threshold: the frame does not count.
    SpoofSuspected,
}

/// Short instructions for the person in front of the camera (codes; the client words them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guidance {
    FaceNotFound,
    OneFaceOnly,
    MoveCloser,
    /// Bring the face into the area drawn on the screen.
    CenterFace,
    MoreLight,
    LookAtCamera,
    OpenYourEyes,
    Blink,
    OpenEyesAgain,
    Smile,
    TurnLeft,
    TurnRight,
    LookUp,
    LookDown,
    MoveNoseToTarget,
    HoldStill,
    Done,
}

/// The answer to a frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    pub sequence: u64,
    /// The frame's timestamp as taken (milliseconds since the session's creation): the next must be later.
    pub timestamp: i64,
    pub verdict: FrameVerdict,
    pub status: Status,
    /// The challenge now expected (index into the session's list), `None` while the baseline is awaited or when
    /// finished.
    pub current_challenge: Option<usize>,
    pub challenges_passed: usize,
    pub challenges_total: usize,
    /// 0..1 over the baseline and every challenge.
    pub progress: f32,
    pub guidance: Vec<Guidance>,
    /// The face box in normalised frame coordinates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face: Option<Target>,
    /// The current challenge's target area (`nose_target`), as it stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Whether this frame completed a challenge.
    pub challenge_completed: bool,
    /// Whether this frame is the session's best frontal frame so far (the reference image).
    pub best_frontal: bool,
}

/// What was measured for one challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeEvidence {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    pub passed: bool,
    /// The best score seen (0..1; 0.5 at the pass mark).
    pub score: f32,
    /// The measured value at the best frame, and its pass mark (see [`crate::CheckOutcome`]).
    pub value: Option<f32>,
    pub threshold: f32,
    /// The frames that satisfied it.
    pub frames: Vec<u64>,
    /// Head movements: the landmarks' motion from the baseline left unexplained by a flat picture, at the
    /// frame that completed it (see [`crate::geometry::planar_residual`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f32>,
    /// Server time (ms since the epoch) it started and finished.
    pub started_ms: Option<i64>,
    pub completed_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameCounts {
    pub received: u32,
    pub accepted: u32,
    pub no_face: u32,
    pub multiple_faces: u32,
    pub too_small: u32,
    /// Before the baseline, faces outside the area the client drew.
    #[serde(default)]
    pub outside_area: u32,
    pub low_quality: u32,
    /// Frames whose face was compared with the baseline's (see [`Session::identity_wanted`]).
    #[serde(default)]
    pub identity_checked: u32,
}

impl FrameCounts {
    pub fn bad(&self) -> u32 {
        self.no_face + self.multiple_faces + self.too_small + self.outside_area + self.low_quality
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    pub sequence: u64,
    pub signals: Signals,
    #[serde(default)]
    pub points: Vec<[f32; 2]>,
}

/// The whole state of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub options: SessionOptions,
    pub status: Status,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    pub next_sequence: u64,
    pub last_timestamp_ms: Option<i64>,
    /// Hashes of every frame received: of the bytes, and of the decoded pixels.
    pub seen: Vec<String>,
    #[serde(default)]
    pub seen_content: Vec<String>,
    pub baseline: Option<Baseline>,
    /// Index of the current challenge.
    pub current: usize,
    /// Blink: eyes seen closed, now waiting for them to open.
    pub eyes_closed_seen: bool,
    pub evidence: Vec<ChallengeEvidence>,
    pub counts: FrameCounts,
    pub passive_scores: Vec<f32>,
    /// The lowest mean passive score over [`PASSIVE_WINDOW`] consecutive scored frames so far.
    #[serde(default)]
    pub passive_floor: Option<f32>,
    pub similarities: Vec<f32>,
    pub reasons: Vec<FailReason>,
    /// The rigid landmarks of the last judged frame, frames that did not move from the one before, the least
    /// motion seen, and accepted frames since the current challenge started.
    #[serde(default)]
    pub last_points: Option<Vec<[f32; 2]>>,
    #[serde(default)]
    pub frozen_frames: u32,
    /// The last judged frame's scene (client timestamp, print), and what the frames showed of continuity: the
    /// largest share of background changed between two frames and the least face residual (see
    /// [`crate::scene::Continuity`]).
    #[serde(default)]
    pub last_scene: Option<(i64, ScenePrint)>,
    #[serde(default)]
    pub max_background_change: Option<f32>,
    #[serde(default)]
    pub min_face_residual: Option<f32>,
    #[serde(default)]
    pub min_motion: Option<f32>,
    #[serde(default)]
    pub frames_in_challenge: u32,
    /// Frames that met a head-movement challenge's pose without depth or rotation (see [`MAX_FLAT_FRAMES`]).
    #[serde(default)]
    pub flat_frames: u32,
    /// Moving frames that other recent sessions saw, those among them whose frame before matched the frame
    /// next to theirs in the same session (a run of a recording), and what the last judged frame matched (see
    /// [`MAX_REPLAYED_FRAMES`]).
    #[serde(default)]
    pub replayed_frames: u32,
    #[serde(default)]
    pub replayed_runs: u32,
    #[serde(default)]
    pub last_seen_in: Vec<crate::replay::SeenFrame>,
    /// Whether each of the last [`IDENTITY_WINDOW`] identity-checked frames after the baseline missed the bar.
    #[serde(default)]
    pub identity_misses: Vec<bool>,
    /// Judged frames with a face since the last identity check (see [`Session::identity_wanted`]).
    #[serde(default)]
    pub frames_since_identity: u32,
    /// The most frontal accepted frame: (sequence, |yaw| + |pitch|).
    pub best_frontal: Option<(u64, f32)>,
    /// A streamed session's challenge (given when its stream opened), and what its video showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<crate::stream::StreamPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_evidence: Option<crate::stream::StreamEvidence>,
}

/// The outcome of a finished (or running) session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResult {
    pub status: Status,
    /// 0-100: how strongly the evidence says a live, present person did the challenges. 50 and above if and
    /// only if the session succeeded (see [`Session::result`]).
    pub confidence: f32,
    pub reasons: Vec<&'static str>,
    pub challenges: Vec<ChallengeEvidence>,
    pub frames: FrameCounts,
    /// The lowest mean passive score over [`PASSIVE_WINDOW`] consecutive frames (over all of them when
    /// fewer were scored), when the model ran.
    pub passive_score: Option<f32>,
    /// Whether passive anti-spoofing judged the frames (when not, a success rests on the challenges alone, which
    /// the operator allowed).
    pub passive_checked: bool,
    /// Lowest similarity to the baseline over the frames.
    pub min_similarity: Option<f32>,
    pub reference_frame: Option<u64>,
    /// A streamed session's challenge and what its video showed.
    pub stream: Option<crate::stream::StreamPlan>,
    pub stream_evidence: Option<crate::stream::StreamEvidence>,
}

/// The nose must travel at least this far (in frame units) from the baseline to its target.
pub const NOSE_TARGET_MIN_TRAVEL: f32 = 0.15;

/// Reaching the nose target, the head must have rotated at least this many degrees toward it (a face slid
/// across the view does not rotate).
pub const NOSE_TARGET_MIN_ROTATION: f32 = 8.0;

/// Frames whose pose met a head-movement challenge but whose landmarks moved as a flat picture does (or whose
/// head did not rotate toward the nose target) after which the session fails.
pub const MAX_FLAT_FRAMES: u32 = 3;

/// Identity is judged over this many consecutive frames: a frame under the bar (motion blur, a far turn)
/// does not count, and [`MAX_IDENTITY_MISSES`] of them within the window fail the session.
pub const IDENTITY_WINDOW: usize = 3;
pub const MAX_IDENTITY_MISSES: usize = 2;

/// A frame after the baseline that counts for nothing (no challenge step, not the reference frame) is checked
/// for identity when this many frames with a face went by unchecked: a face switched in is seen within this
/// many frames, and fails the session as before.
pub const IDENTITY_EVERY: u32 = 3;

/// The session fails as a replayed recording (see [`crate::replay`]) on [`MAX_REPLAYED_RUNS`] moving frames
/// that match a frame of another session while the frame before matched the frame next to it, or on this
/// many moving frames that match in any order.
pub const MAX_REPLAYED_FRAMES: u32 = 4;
pub const MAX_REPLAYED_RUNS: u32 = 1;

/// Consecutive frames whose rigid landmarks moved less than this (relative to the eye distance; see
/// [`crate::geometry::motion`]) show the same picture again.
pub const FROZEN_MOTION: f32 = 0.004;

/// Frozen frames after which the session fails as a still picture.
pub const MAX_FROZEN_FRAMES: u32 = 2;

/// By default a challenge completes on its third accepted frame at the earliest (0.4 s after it starts at 5
/// frames a second): the movement must be seen on its way.
pub const MIN_CHALLENGE_FRAMES: u32 = 3;

fn default_min_challenge_frames() -> u32 {
    MIN_CHALLENGE_FRAMES
}

fn default_scene_continuity() -> bool {
    true
}

/// Challenges done by moving the head.
pub fn is_head_movement(kind: Kind) -> bool {
    matches!(kind, Kind::TurnLeft | Kind::TurnRight | Kind::LookUp | Kind::LookDown | Kind::NoseTarget)
}

/// How many degrees the head rotated from `from` to `to` in the direction of `target` (normalised frame
/// coordinates) as seen from the baseline's nose: yaw moves the nose across the image, pitch up and down.
/// `None` when the nose starts on the target.
pub fn rotation_toward(from: &Signals, to: &Signals, target: [f32; 2]) -> Option<f32> {
    let (dx, dy) = (target[0] - from.nose[0], target[1] - from.nose[1]);
    let len = dx.hypot(dy);
    if len < 1e-6 {
        return None;
    }
    // Yaw > 0 turns the face toward the image's right; pitch > 0 raises it (the nose moves up the image).
    let (ry, rp) = (to.yaw - from.yaw, -(to.pitch - from.pitch));
    Some((ry * dx + rp * dy) / len)
}

/// Passive scores are judged as means over this many consecutive frames: one noisy frame does not fail a live
/// person, and live frames cannot dilute a photo or screen shown for this many frames, wherever in the session.
pub const PASSIVE_WINDOW: usize = 3;

fn mean(v: &[f32]) -> Option<f32> {
    (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
}

/// The confidence scale of every liveness decision: evidence of strength `q` (0..1) scores 50 + 50 q when it
/// passed and 49.9 q when it did not, rounded to a tenth — so every pass scores at least 50 and every failure
/// under 50.
pub fn confidence(passed: bool, q: f32) -> f32 {
    let q = if q.is_finite() { q.clamp(0.0, 1.0) } else { 0.0 };
    if passed {
        ((500.0 + 500.0 * q).round() / 10.0).min(100.0)
    } else {
        (499.0 * q).floor() / 10.0
    }
}

/// The passive evidence of a session's scores: the lowest mean over [`PASSIVE_WINDOW`] consecutive scores, or
/// the mean of all when there are fewer.
pub fn passive_floor(scores: &[f32]) -> Option<f32> {
    if scores.len() < PASSIVE_WINDOW {
        return mean(scores);
    }
    scores.windows(PASSIVE_WINDOW).filter_map(mean).reduce(f32::min)
}

impl Session {
    pub fn new(options: SessionOptions, created_ms: i64) -> Self {
        let evidence = options
            .challenges
            .iter()
            .map(|c| ChallengeEvidence {
                kind: c.kind,
                target: c.target,
                passed: false,
                score: 0.0,
                value: None,
                threshold: 0.0,
                frames: Vec::new(),
                depth: None,
                started_ms: None,
                completed_ms: None,
            })
            .collect();
        Session {
            options,
            status: Status::Created,
            created_ms,
            finished_ms: None,
            next_sequence: 0,
            last_timestamp_ms: None,
            seen: Vec::new(),
            seen_content: Vec::new(),
            baseline: None,
            current: 0,
            eyes_closed_seen: false,
            evidence,
            counts: FrameCounts::default(),
            passive_scores: Vec::new(),
            passive_floor: None,
            flat_frames: 0,
            replayed_frames: 0,
            replayed_runs: 0,
            last_seen_in: Vec::new(),
            identity_misses: Vec::new(),
            frames_since_identity: 0,
            last_points: None,
            frozen_frames: 0,
            last_scene: None,
            max_background_change: None,
            min_face_residual: None,
            min_motion: None,
            frames_in_challenge: 0,
            similarities: Vec::new(),
            reasons: Vec::new(),
            best_frontal: None,
            stream: None,
            stream_evidence: None,
        }
    }

    pub fn expires_ms(&self) -> i64 {
        self.created_ms + self.options.lifetime_ms
    }

    /// Marks the session expired when its time is up (and it is not finished). True when it changed.
    pub fn expire_if_due(&mut self, now_ms: i64) -> bool {
        if !self.status.is_final() && now_ms > self.expires_ms() {
            self.finish(Status::Expired, now_ms);
            return true;
        }
        false
    }

    fn finish(&mut self, status: Status, now_ms: i64) {
        self.status = status;
        self.finished_ms = Some(now_ms);
        // The last frame's pixels are kept only to judge the next frame: a finished session keeps none.
        self.last_scene = None;
    }

    fn fail(&mut self, reason: FailReason, now_ms: i64) {
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
        self.finish(Status::Failed, now_ms);
    }

    fn criteria_for(&self, i: usize) -> Criteria {
        Criteria { target: self.options.challenges[i].target, ..self.options.criteria }
    }

    /// Checks the frame's place in the session; nothing changes when it is refused.
    fn admit(&self, obs: &Observation) -> Result<(), FrameError> {
        if self.status.is_final() {
            return Err(FrameError::Finished(self.status));
        }
        if obs.now_ms > self.expires_ms() {
            return Err(FrameError::Expired);
        }
        if obs.sequence != self.next_sequence {
            return Err(FrameError::OutOfSequence { expected: self.next_sequence, got: obs.sequence });
        }
        if obs.timestamp_ms < 0 || obs.timestamp_ms > self.options.lifetime_ms {
            return Err(FrameError::TimestampOutOfRange { got: obs.timestamp_ms });
        }
        if let Some(last) = self.last_timestamp_ms {
            if obs.timestamp_ms <= last {
                return Err(FrameError::TimestampNotIncreasing { last, got: obs.timestamp_ms });
            }
        }
        if self.seen.iter().any(|h| h == &obs.hash) || self.seen_content.iter().any(|h| h == &obs.content_hash) {
            return Err(FrameError::Replayed);
        }
        Ok(())
    }

    /// Checks a batch of frames `(sequence, client timestamp, hash)` against the session and one another before
    /// any is measured, so that a request is refused whole rather than half taken.
    pub fn check_frames(&self, frames: &[(u64, i64, &str)], now_ms: i64) -> Result<(), FrameError> {
        let mut probe = self.clone();
        for &(sequence, timestamp_ms, hash) in frames {
            let obs = Observation {
                sequence,
                timestamp_ms,
                now_ms,
                hash: hash.to_string(),
                content_hash: String::new(),
                faces: 0,
                face: None,
                seen_in: Vec::new(),
                scene: None,
            };
            probe.admit(&obs)?;
            probe.next_sequence += 1;
            probe.last_timestamp_ms = Some(timestamp_ms);
            probe.seen.push(obs.hash);
        }
        Ok(())
    }

    /// Whether the frame `obs` (measured, its face's `similarity` not yet known) needs the identity check: the
    /// template is the costliest part of a frame, and only the frames that count for something need it —
    /// every frame that would pass a challenge's check, complete a challenge, become the reference frame or
    /// end the session, every frame while a miss is in the identity window, and at least every
    /// [`IDENTITY_EVERY`]th frame with a face in between. Before the
    /// baseline there is nothing to compare with (the baseline frame's template is taken after it is set).
    /// A caller that leaves `similarity` `None` where this says `true` weakens the session: every caller (the
    /// frame route, `facegate eval attacks`) asks first.
    pub fn identity_wanted(&self, obs: &Observation) -> bool {
        let Some(face) = obs.face.as_ref().filter(|_| obs.faces == 1) else { return false };
        // Frames refused before the identity check (too small, badly lit) never need it.
        if self.baseline.is_none()
            || self.status.is_final()
            || face.size_px < self.options.min_face_px
            || self.out_of_position(face).is_some()
            || !face.quality_ok
        {
            return false;
        }
        // Every frame while a miss is in the window (someone else seen: the session fails on the next one), and
        // the sampled frames.
        if self.identity_misses.contains(&true) || self.frames_since_identity + 1 >= IDENTITY_EVERY {
            return true;
        }
        // The frame judged as it would be if its face matched: does it count for anything?
        let mut trial = self.clone();
        let steps = |s: &Session| s.evidence.iter().map(|e| e.frames.len()).sum::<usize>();
        let before = steps(&trial);
        let mut unchecked = obs.clone();
        if let Some(f) = unchecked.face.as_mut() {
            f.similarity = None;
        }
        match trial.observe(unchecked) {
            Ok(fb) => fb.challenge_completed || fb.best_frontal || steps(&trial) > before || trial.status.is_final(),
            Err(_) => false,
        }
    }

    /// Takes one frame. An `Err` refuses the frame and leaves the session as it was (except that an expired
    /// session is marked so).
    pub fn observe(&mut self, obs: Observation) -> Result<Feedback, FrameError> {
        if self.expire_if_due(obs.now_ms) {
            return Err(FrameError::Expired);
        }
        self.admit(&obs)?;
        self.next_sequence += 1;
        self.last_timestamp_ms = Some(obs.timestamp_ms);
        self.seen.push(obs.hash.clone());
        self.seen_content.push(obs.content_hash.clone());
        self.counts.received += 1;
        if self.status == Status::Created {
            self.status = Status::InProgress;
        }
        let mut completed = false;
        let mut best = false;
        let verdict = self.judge(&obs, &mut completed, &mut best);
        if !self.status.is_final() {
            if self.counts.bad() > self.options.max_bad_frames {
                self.fail(FailReason::TooManyBadFrames, obs.now_ms);
            } else if self.counts.received >= self.options.max_frames {
                self.fail(FailReason::TooManyFrames, obs.now_ms);
            }
        }
        Ok(self.feedback((obs.sequence, obs.timestamp_ms), verdict, obs.face.as_ref(), completed, best))
    }

    /// Before the baseline, with an area drawn for the face: a face too small for the area, or outside it.
    fn out_of_position(&self, face: &ObservedFace) -> Option<FrameVerdict> {
        let area = self.options.face_area.filter(|_| self.baseline.is_none())?;
        if !area.covered_by(&face.bbox) {
            Some(FrameVerdict::FaceTooSmall)
        } else if !area.holds(&face.bbox) {
            Some(FrameVerdict::FaceOutsideArea)
        } else {
            None
        }
    }

    fn judge(&mut self, obs: &Observation, completed: &mut bool, best: &mut bool) -> FrameVerdict {
        let face = match (obs.faces, &obs.face) {
            (1, Some(f)) => f,
            (n, _) if n > 1 => {
                self.counts.multiple_faces += 1;
                return FrameVerdict::MultipleFaces;
            }
            _ => {
                self.counts.no_face += 1;
                return FrameVerdict::NoFace;
            }
        };
        if face.size_px < self.options.min_face_px {
            self.counts.too_small += 1;
            return FrameVerdict::FaceTooSmall;
        }
        match self.out_of_position(face) {
            Some(FrameVerdict::FaceTooSmall) => {
                self.counts.too_small += 1;
                return FrameVerdict::FaceTooSmall;
            }
            Some(verdict) => {
                self.counts.outside_area += 1;
                return verdict;
            }
            None => {}
        }
        if !face.quality_ok {
            self.counts.low_quality += 1;
            return FrameVerdict::LowQuality;
        }
        let moved = self.last_points.as_ref().and_then(|prev| crate::geometry::motion(prev, &face.points));
        // A moving face where another session saw it: a recorded session sent again.
        let last_seen_in = std::mem::replace(&mut self.last_seen_in, obs.seen_in.clone());
        if !obs.seen_in.is_empty() && moved.is_some_and(|m| m >= crate::replay::REPLAY_MIN_MOTION) {
            self.replayed_frames += 1;
            if obs.seen_in.iter().any(|s| last_seen_in.iter().any(|l| s.next_to(l))) {
                self.replayed_runs += 1;
            }
            if self.replayed_frames >= MAX_REPLAYED_FRAMES || self.replayed_runs >= MAX_REPLAYED_RUNS {
                self.fail(FailReason::ReplayedFrames, obs.now_ms);
                return FrameVerdict::Accepted;
            }
        }
        // One camera's view of one scene: the frame must continue the one before (see `crate::scene`).
        let continuity = match (&self.last_scene, &obs.scene) {
            (Some((t, prev)), Some(cur)) if self.options.scene_continuity => {
                crate::scene::compare(prev, cur, obs.timestamp_ms - t)
            }
            _ => None,
        };
        if let Some(scene) = obs.scene.as_ref().filter(|_| self.options.scene_continuity) {
            self.last_scene = Some((obs.timestamp_ms, scene.clone()));
        }
        if let Some(c) = continuity {
            if let Some(b) = c.background_change {
                self.max_background_change = Some(self.max_background_change.map_or(b, |x| x.max(b)));
            }
            if let Some(r) = c.face_residual {
                self.min_face_residual = Some(self.min_face_residual.map_or(r, |x| x.min(r)));
            }
            if c.is_cut() {
                self.fail(FailReason::SceneCut, obs.now_ms);
                return FrameVerdict::Accepted;
            }
        }
        if let Some(m) = moved {
            self.min_motion = Some(self.min_motion.map_or(m, |x| x.min(m)));
        }
        // A camera never delivers the same picture twice: a face that differs from the frame before's only as
        // compression does is a picture sent again, however it was re-encoded; so is a face whose landmarks did
        // not move at all (all a caller that measured no pixels has).
        if continuity.is_some_and(|c| c.is_same_picture()) || moved.is_some_and(|m| m < FROZEN_MOTION) {
            self.frozen_frames += 1;
            if self.frozen_frames >= MAX_FROZEN_FRAMES {
                self.fail(FailReason::StillPicture, obs.now_ms);
                return FrameVerdict::Accepted;
            }
        }
        if !face.points.is_empty() {
            self.last_points = Some(face.points.clone());
        }
        // Identity against the baseline, on every frame after it that counts (see `identity_wanted`): a frame
        // of someone else never counts, and two in a window fail the session.
        if self.baseline.is_some() && face.similarity.is_none() {
            self.frames_since_identity += 1;
        }
        if let (Some(_), Some(s)) = (&self.baseline, face.similarity) {
            self.frames_since_identity = 0;
            self.counts.identity_checked += 1;
            self.similarities.push(s);
            let miss = s < self.options.min_similarity;
            self.identity_misses.push(miss);
            if self.identity_misses.len() > IDENTITY_WINDOW {
                self.identity_misses.remove(0);
            }
            if self.identity_misses.iter().filter(|&&m| m).count() >= MAX_IDENTITY_MISSES {
                self.fail(FailReason::IdentityChanged, obs.now_ms);
                return FrameVerdict::IdentityChanged;
            }
            if miss {
                return FrameVerdict::IdentityChanged;
            }
        }
        if let Some(p) = face.passive {
            self.passive_scores.push(p);
            self.passive_floor = passive_floor(&self.passive_scores);
            // A photo or screen shows itself within a few frames: fail as soon as a window of them is judged.
            let n = self.passive_scores.len();
            if let (Some(t), true) = (self.options.passive_threshold, n >= PASSIVE_WINDOW) {
                if mean(&self.passive_scores[n - PASSIVE_WINDOW..]).is_some_and(|m| m < t) {
                    self.fail(FailReason::SpoofDetected, obs.now_ms);
                    return FrameVerdict::Accepted;
                }
            }
            // And a frame that looks like a photo or a screen on its own never counts: switching to one cannot
            // complete a challenge before its window is judged.
            if self.options.passive_threshold.is_some_and(|t| p < t) {
                return FrameVerdict::SpoofSuspected;
            }
        }
        if self.baseline.is_some() {
            self.frames_in_challenge += 1;
        }
        let signals = face.signals;
        let frontal = check(Kind::HeadPose, &self.options.criteria, &signals, None).passed;
        if frontal {
            let off = signals.yaw.abs() + signals.pitch.abs();
            if self.best_frontal.is_none_or(|(_, b)| off < b) {
                self.best_frontal = Some((obs.sequence, off));
                *best = true;
            }
        }
        let Some(baseline) = self.baseline.clone() else {
            let eyes_open = signals.eyes() >= self.options.criteria.eyes_closed_threshold;
            if !(frontal && eyes_open) {
                return FrameVerdict::NotBaseline;
            }
            self.baseline = Some(Baseline { sequence: obs.sequence, signals, points: face.points.clone() });
            self.counts.accepted += 1;
            self.start_challenge(obs.now_ms);
            return FrameVerdict::Accepted;
        };
        self.counts.accepted += 1;
        let i = self.current;
        let spec = self.options.challenges[i];
        if let Some(started) = self.evidence[i].started_ms {
            if obs.now_ms - started > spec.timeout_ms {
                self.fail(FailReason::ChallengeTimeout, obs.now_ms);
                return FrameVerdict::Accepted;
            }
        }
        let outcome = check(spec.kind, &self.criteria_for(i), &signals, Some(&baseline.signals));
        let ev = &mut self.evidence[i];
        ev.threshold = outcome.threshold;
        let done = match spec.kind {
            // A blink: closed (against the open baseline), then open again.
            Kind::Blink => {
                if outcome.passed {
                    self.eyes_closed_seen = true;
                    ev.frames.push(obs.sequence);
                    if outcome.score >= ev.score {
                        ev.score = outcome.score;
                        ev.value = outcome.value.is_finite().then_some(outcome.value);
                    }
                    false
                } else if self.eyes_closed_seen && signals.eyes() >= self.options.criteria.eyes_closed_threshold {
                    ev.frames.push(obs.sequence);
                    true
                } else {
                    false
                }
            }
            _ => {
                if outcome.score >= ev.score {
                    ev.score = outcome.score;
                    ev.value = outcome.value.is_finite().then_some(outcome.value);
                }
                let mut passed = outcome.passed;
                if passed && is_head_movement(spec.kind) {
                    // The pose says the head moved; the landmarks must show that a head, not a picture, did.
                    let depth = crate::geometry::planar_residual(&baseline.points, &face.points);
                    ev.depth = depth.or(ev.depth);
                    let deep = self.options.min_depth.is_none_or(|d| depth.is_some_and(|r| r >= d));
                    let rotated = match (spec.kind, spec.target) {
                        (Kind::NoseTarget, Some(t)) => rotation_toward(&baseline.signals, &signals, t.centre())
                            .is_some_and(|deg| deg >= NOSE_TARGET_MIN_ROTATION),
                        _ => true,
                    };
                    if !(deep && rotated) {
                        passed = false;
                        self.flat_frames += 1;
                    }
                }
                if passed {
                    ev.frames.push(obs.sequence);
                }
                passed
            }
        };
        if self.flat_frames >= MAX_FLAT_FRAMES {
            self.fail(FailReason::FlatMotion, obs.now_ms);
            return FrameVerdict::Accepted;
        }
        // A challenge shown on the first frames after it starts is a picture swapped in, not a movement: it
        // counts from the MIN_CHALLENGE_FRAMES-th frame on.
        let done = done && self.frames_in_challenge >= self.options.min_challenge_frames;
        if done {
            self.frames_in_challenge = 0;
            let ev = &mut self.evidence[i];
            ev.passed = true;
            ev.completed_ms = Some(obs.now_ms);
            *completed = true;
            self.current += 1;
            self.eyes_closed_seen = false;
            if self.current == self.options.challenges.len() {
                self.conclude(obs.now_ms);
            } else {
                self.start_challenge(obs.now_ms);
            }
        }
        FrameVerdict::Accepted
    }

    fn start_challenge(&mut self, now_ms: i64) {
        // A nose target the baseline's nose is already near is mirrored through the frame's centre, so that
        // the head must move to reach it.
        if let (Some(spec), Some(b)) = (self.options.challenges.get_mut(self.current), &self.baseline) {
            if let Some(t) = spec.target {
                let [cx, cy] = t.centre();
                if (b.signals.nose[0] - cx).hypot(b.signals.nose[1] - cy) < NOSE_TARGET_MIN_TRAVEL {
                    spec.target = Some(Target { x: 1.0 - t.x - t.width, y: 1.0 - t.y - t.height, ..t });
                }
            }
        }
        if let Some(ev) = self.evidence.get_mut(self.current) {
            ev.started_ms = Some(now_ms);
            ev.target = self.options.challenges[self.current].target;
        }
        if self.current >= self.options.challenges.len() {
            self.conclude(now_ms);
        }
    }

    /// Every challenge done: the passive evidence decides — and without it, whether the operator allowed
    /// challenge-only liveness.
    fn conclude(&mut self, now_ms: i64) {
        match self.options.passive_threshold {
            None if !self.options.challenge_only => {
                self.fail(FailReason::PassiveCheckUnavailable, now_ms);
                return;
            }
            Some(t) if self.passive_floor.is_none_or(|m| m < t) => {
                self.fail(FailReason::SpoofDetected, now_ms);
                return;
            }
            _ => {}
        }
        self.finish(Status::Succeeded, now_ms);
    }

    fn guidance(&self, verdict: FrameVerdict, face: Option<&ObservedFace>) -> Vec<Guidance> {
        use Guidance::*;
        if self.status.is_final() {
            return vec![Done];
        }
        match verdict {
            FrameVerdict::NoFace => return vec![FaceNotFound],
            FrameVerdict::MultipleFaces => return vec![OneFaceOnly],
            FrameVerdict::FaceTooSmall => return vec![MoveCloser],
            FrameVerdict::FaceOutsideArea => return vec![CenterFace],
            FrameVerdict::LowQuality => return vec![MoreLight, HoldStill],
            _ => {}
        }
        let Some(face) = face else { return vec![FaceNotFound] };
        if self.baseline.is_none() {
            let mut g = vec![LookAtCamera];
            if face.signals.eyes() < self.options.criteria.eyes_closed_threshold {
                g.push(OpenYourEyes);
            }
            return g;
        }
        let Some(spec) = self.options.challenges.get(self.current) else { return vec![Done] };
        vec![match spec.kind {
            Kind::Blink if self.eyes_closed_seen => OpenEyesAgain,
            Kind::Blink => Blink,
            Kind::Smile => Smile,
            Kind::TurnLeft => TurnLeft,
            Kind::TurnRight => TurnRight,
            Kind::LookUp => LookUp,
            Kind::LookDown => LookDown,
            Kind::HeadPose => LookAtCamera,
            Kind::NoseTarget => MoveNoseToTarget,
        }]
    }

    fn feedback(
        &self,
        (sequence, timestamp): (u64, i64),
        verdict: FrameVerdict,
        face: Option<&ObservedFace>,
        challenge_completed: bool,
        best_frontal: bool,
    ) -> Feedback {
        let total = self.options.challenges.len();
        let passed = self.evidence.iter().filter(|e| e.passed).count();
        let steps = total + 1;
        let done = passed + usize::from(self.baseline.is_some());
        Feedback {
            sequence,
            timestamp,
            verdict,
            status: self.status,
            current_challenge: (self.baseline.is_some() && !self.status.is_final() && self.current < total)
                .then_some(self.current),
            challenges_passed: passed,
            challenges_total: total,
            progress: if self.status == Status::Succeeded { 1.0 } else { done as f32 / steps as f32 },
            guidance: self.guidance(verdict, face),
            face: face.map(|f| f.bbox),
            target: self
                .options
                .challenges
                .get(self.current)
                .filter(|_| self.baseline.is_some() && !self.status.is_final())
                .and_then(|c| c.target),
            challenge_completed,
            best_frontal,
        }
    }

    /// The result so far (final once the status is).
    ///
    /// Confidence is one scale for every outcome: the strength of the evidence `q` (0..1, the product of the
    /// challenges' scores, the identity margin, the share of usable frames and the passive score) maps to
    /// 50 + 50 q for a succeeded session and to 49.9 q for any other, so every succeeded session scores at
    /// least 50 and every other one under 50.
    pub fn result(&self) -> SessionResult {
        let passive = self.passive_floor;
        let min_similarity = self.similarities.iter().copied().reduce(f32::min);
        let n = self.evidence.len().max(1) as f32;
        // A streamed session's challenge is its video's (see [`crate::stream`]).
        let challenge_part =
            self.stream_strength(crate::approach::ApproachCriteria::default().min_depth).unwrap_or_else(|| {
                self.evidence.iter().map(|e| if e.passed { e.score.max(0.5) } else { 0.0 }).sum::<f32>() / n
            });
        // Each part 0..1; identity: 1 at twice the threshold; passive: the mean score; frames: the share usable.
        let identity_part =
            min_similarity.map_or(1.0, |s| (s / (2.0 * self.options.min_similarity.max(1.0))).clamp(0.0, 1.0));
        let frames_part =
            if self.counts.received == 0 { 0.0 } else { 1.0 - self.counts.bad() as f32 / self.counts.received as f32 };
        let mut q = challenge_part * (0.5 + 0.5 * identity_part) * (0.75 + 0.25 * frames_part);
        if let Some(p) = passive {
            q *= 0.5 + 0.5 * p;
        }
        let confidence = confidence(self.status == Status::Succeeded, q);
        SessionResult {
            status: self.status,
            confidence,
            reasons: self.reasons.iter().map(|r| r.code()).collect(),
            challenges: self.evidence.clone(),
            frames: self.counts.clone(),
            passive_score: passive,
            passive_checked: self.options.passive_threshold.is_some(),
            min_similarity,
            reference_frame: self.best_frontal.map(|b| b.0),
            stream: self.stream.clone(),
            stream_evidence: self.stream_evidence.clone(),
        }
    }
}

/// Whether consecutive faces of a streamed session's approach are one person, as a `/v1` session judges its
/// frames against the baseline: a comparison under the bar (motion blur, a face turned on the way) counts for
/// nothing alone, but [`MAX_IDENTITY_MISSES`] of any [`IDENTITY_WINDOW`] consecutive ones fail.
pub fn identity_holds(similarities: &[f32], min_similarity: f32) -> bool {
    let misses: Vec<bool> = similarities.iter().map(|&s| s < min_similarity).collect();
    if misses.len() < IDENTITY_WINDOW {
        return misses.iter().filter(|&&m| m).count() < MAX_IDENTITY_MISSES.min(misses.len().max(1));
    }
    misses.windows(IDENTITY_WINDOW).all(|w| w.iter().filter(|&&m| m).count() < MAX_IDENTITY_MISSES)
}

/// Why a stream can no longer be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefusal {
    #[error("the session has already started (a session streams once)")]
    AlreadyStarted,
    #[error("the session is finished ({})", .0.as_str())]
    Finished(Status),
    #[error("the session has expired")]
    Expired,
}

/// A session completed by a stream (see [`crate::stream`]): opened once with its plan, concluded from what its
/// video showed.
impl Session {
    /// Opens the session's one stream with `plan`; refused once anything was sent to the session.
    pub fn open_stream(&mut self, plan: crate::stream::StreamPlan, now_ms: i64) -> Result<(), StreamRefusal> {
        if self.expire_if_due(now_ms) {
            return Err(StreamRefusal::Expired);
        }
        if self.status.is_final() {
            return Err(StreamRefusal::Finished(self.status));
        }
        if self.status != Status::Created || self.stream.is_some() || self.counts.received > 0 {
            return Err(StreamRefusal::AlreadyStarted);
        }
        self.status = Status::InProgress;
        self.stream = Some(plan);
        Ok(())
    }

    /// Concludes a streamed session from what its video showed: it succeeds when the approach passed, the
    /// light (for the light challenge) passed, the passive evidence reaches the threshold (or challenge-only
    /// liveness is allowed), the faces are one person throughout, and the frames are not another session's.
    pub fn conclude_stream(&mut self, evidence: crate::stream::StreamEvidence, now_ms: i64) {
        if self.status.is_final() {
            return;
        }
        let mut reasons = Vec::new();
        if !evidence.approach.passed() {
            reasons.push(FailReason::ApproachNotShown);
        }
        let light_wanted =
            self.stream.as_ref().is_some_and(|p| p.challenge == crate::stream::StreamChallenge::ApproachAndLight);
        if light_wanted && !evidence.light.as_ref().is_some_and(crate::light::LightVerdict::passed) {
            reasons.push(FailReason::LightNotReflected);
        }
        self.passive_scores = evidence.passive_scores.iter().map(|&(_, p)| p).collect();
        self.passive_floor = crate::stream::passive_mean(&evidence.passive_scores);
        match (self.options.passive_threshold, self.passive_floor) {
            (Some(t), Some(p)) if p < t => reasons.push(FailReason::SpoofDetected),
            (Some(_), None) => reasons.push(FailReason::SpoofDetected),
            (None, _) if !self.options.challenge_only => reasons.push(FailReason::PassiveCheckUnavailable),
            _ => {}
        }
        self.similarities = evidence.similarities.clone();
        if !identity_holds(&evidence.similarities, self.options.min_similarity) {
            reasons.push(FailReason::IdentityChanged);
        }
        self.replayed_frames = evidence.replayed_frames;
        self.replayed_runs = evidence.replayed_runs;
        if evidence.replayed_frames >= MAX_REPLAYED_FRAMES || evidence.replayed_runs >= MAX_REPLAYED_RUNS {
            reasons.push(FailReason::ReplayedFrames);
        }
        self.counts.received = evidence.frames;
        self.counts.accepted = evidence.frames.saturating_sub(evidence.bad_frames);
        self.counts.no_face = evidence.bad_frames;
        self.best_frontal = evidence.reference_frame.map(|f| (f, 0.0));
        self.stream_evidence = Some(evidence);
        if reasons.is_empty() {
            self.finish(Status::Succeeded, now_ms);
        } else {
            for r in reasons {
                self.fail(r, now_ms);
            }
        }
    }

    /// Fails a streamed session whose stream broke off before its video was complete.
    pub fn abandon_stream(&mut self, now_ms: i64) {
        if !self.status.is_final() {
            self.fail(FailReason::StreamIncomplete, now_ms);
        }
    }

    /// The strength of a streamed session's challenge evidence (0..1), for the confidence: the approach's depth
    /// against twice its bar, and the light's agreement.
    fn stream_strength(&self, min_depth: f32) -> Option<f32> {
        let e = self.stream_evidence.as_ref()?;
        if !e.approach.passed() {
            return Some(0.0);
        }
        let depth = (e.approach.depth / (2.0 * min_depth.max(1e-6))).clamp(0.5, 1.0);
        Some(match &e.light {
            Some(light) if light.passed() => depth * light.agreement.clamp(0.5, 1.0),
            Some(_) => 0.0,
            None => depth,
        })
    }
}

#[cfg(test)]
mod stream_tests {
    use super::identity_holds;

    #[test]
    fn identity_fails_on_two_misses_in_three() {
        assert!(identity_holds(&[90.0, 40.0, 90.0, 90.0, 40.0, 90.0], 60.0));
        assert!(!identity_holds(&[90.0, 40.0, 40.0, 90.0], 60.0));
        assert!(!identity_holds(&[90.0, 40.0, 90.0, 40.0], 60.0));
        assert!(identity_holds(&[90.0], 60.0) && identity_holds(&[], 60.0));
        assert!(!identity_holds(&[40.0], 60.0));
        assert!(identity_holds(&[90.0, 40.0], 60.0) && !identity_holds(&[40.0, 40.0], 60.0));
    }
}
