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
    /// Passive anti-spoofing: the mean score over the frames must reach this (`None`: not available).
    pub passive_threshold: Option<f32>,
    /// Audit images to keep (0..=4).
    pub audit_images: u32,
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
}

impl FailReason {
    pub fn code(self) -> &'static str {
        match self {
            FailReason::IdentityChanged => "identity_changed",
            FailReason::SpoofDetected => "spoof_detected",
            FailReason::TooManyBadFrames => "too_many_bad_frames",
            FailReason::ChallengeTimeout => "challenge_timeout",
            FailReason::TooManyFrames => "too_many_frames",
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

impl FrameError {
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::Finished(_) => "session_finished",
            FrameError::Expired => "session_expired",
            FrameError::OutOfSequence { .. } => "frame_out_of_sequence",
            FrameError::TimestampNotIncreasing { .. } => "frame_timestamp_not_increasing",
            FrameError::TimestampOutOfRange { .. } => "frame_timestamp_out_of_range",
            FrameError::Replayed => "frame_replayed",
        }
    }
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
    /// Faces found.
    pub faces: usize,
    /// The face, when there is exactly one.
    pub face: Option<ObservedFace>,
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
    LowQuality,
    /// Fine, but not usable as the baseline (not frontal, eyes closed).
    NotBaseline,
    /// The face is another person's.
    IdentityChanged,
}

/// Short instructions for the person in front of the camera (codes; the client words them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guidance {
    FaceNotFound,
    OneFaceOnly,
    MoveCloser,
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
    pub low_quality: u32,
}

impl FrameCounts {
    pub fn bad(&self) -> u32 {
        self.no_face + self.multiple_faces + self.too_small + self.low_quality
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    pub sequence: u64,
    pub signals: Signals,
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
    /// Hashes of every frame received.
    pub seen: Vec<String>,
    pub baseline: Option<Baseline>,
    /// Index of the current challenge.
    pub current: usize,
    /// Blink: eyes seen closed, now waiting for them to open.
    pub eyes_closed_seen: bool,
    pub evidence: Vec<ChallengeEvidence>,
    pub counts: FrameCounts,
    pub passive_scores: Vec<f32>,
    pub similarities: Vec<f32>,
    pub reasons: Vec<FailReason>,
    /// The most frontal accepted frame: (sequence, |yaw| + |pitch|).
    pub best_frontal: Option<(u64, f32)>,
}

/// The outcome of a finished (or running) session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResult {
    pub status: Status,
    /// 0-100: how strongly the evidence says a live, present person did the challenges.
    pub confidence: f32,
    pub reasons: Vec<&'static str>,
    pub challenges: Vec<ChallengeEvidence>,
    pub frames: FrameCounts,
    /// Mean passive score over the frames (when the model ran).
    pub passive_score: Option<f32>,
    /// Lowest similarity to the baseline over the frames.
    pub min_similarity: Option<f32>,
    pub reference_frame: Option<u64>,
}

/// The nose must travel at least this far (in frame units) from the baseline to its target.
pub const NOSE_TARGET_MIN_TRAVEL: f32 = 0.15;

/// Frames with a passive score after which a low mean fails the session before its challenges are done.
pub const PASSIVE_EARLY_FRAMES: usize = 3;

fn mean(v: &[f32]) -> Option<f32> {
    (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
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
            baseline: None,
            current: 0,
            eyes_closed_seen: false,
            evidence,
            counts: FrameCounts::default(),
            passive_scores: Vec::new(),
            similarities: Vec::new(),
            reasons: Vec::new(),
            best_frontal: None,
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
        if self.seen.iter().any(|h| h == &obs.hash) {
            return Err(FrameError::Replayed);
        }
        Ok(())
    }

    /// Checks a batch of frames `(sequence, client timestamp, hash)` against the session and one another before
    /// any is measured, so that a request is refused whole rather than half taken.
    pub fn check_frames(&self, frames: &[(u64, i64, &str)], now_ms: i64) -> Result<(), FrameError> {
        let mut probe = self.clone();
        for &(sequence, timestamp_ms, hash) in frames {
            let obs = Observation { sequence, timestamp_ms, now_ms, hash: hash.to_string(), faces: 0, face: None };
            probe.admit(&obs)?;
            probe.next_sequence += 1;
            probe.last_timestamp_ms = Some(timestamp_ms);
            probe.seen.push(obs.hash);
        }
        Ok(())
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
        if !face.quality_ok {
            self.counts.low_quality += 1;
            return FrameVerdict::LowQuality;
        }
        // Identity against the baseline, on every frame after it.
        if let (Some(_), Some(s)) = (&self.baseline, face.similarity) {
            self.similarities.push(s);
            if s < self.options.min_similarity {
                self.fail(FailReason::IdentityChanged, obs.now_ms);
                return FrameVerdict::IdentityChanged;
            }
        }
        if let Some(p) = face.passive {
            self.passive_scores.push(p);
            // A photo or screen shows itself within a few frames: fail early rather than at the end.
            if let (Some(t), Some(m)) = (self.options.passive_threshold, mean(&self.passive_scores)) {
                if self.passive_scores.len() >= PASSIVE_EARLY_FRAMES && m < t {
                    self.fail(FailReason::SpoofDetected, obs.now_ms);
                    return FrameVerdict::Accepted;
                }
            }
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
            self.baseline = Some(Baseline { sequence: obs.sequence, signals });
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
                if outcome.passed {
                    ev.frames.push(obs.sequence);
                }
                outcome.passed
            }
        };
        if done {
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

    /// Every challenge done: the passive evidence decides.
    fn conclude(&mut self, now_ms: i64) {
        if let (Some(t), Some(m)) = (self.options.passive_threshold, mean(&self.passive_scores)) {
            if m < t {
                self.fail(FailReason::SpoofDetected, now_ms);
                return;
            }
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
    pub fn result(&self) -> SessionResult {
        let passive = mean(&self.passive_scores);
        let min_similarity = self.similarities.iter().copied().reduce(f32::min);
        let n = self.evidence.len().max(1) as f32;
        let challenge_part =
            self.evidence.iter().map(|e| if e.passed { e.score.max(0.5) } else { 0.0 }).sum::<f32>() / n;
        // Each part 0..1; identity: 1 at twice the threshold; passive: the mean score; frames: the share usable.
        let identity_part =
            min_similarity.map_or(1.0, |s| (s / (2.0 * self.options.min_similarity.max(1.0))).clamp(0.0, 1.0));
        let frames_part =
            if self.counts.received == 0 { 0.0 } else { 1.0 - self.counts.bad() as f32 / self.counts.received as f32 };
        let mut confidence = 100.0 * challenge_part * (0.5 + 0.5 * identity_part) * (0.75 + 0.25 * frames_part);
        if let Some(p) = passive {
            confidence *= 0.5 + 0.5 * p;
        }
        if self.status != Status::Succeeded {
            confidence = confidence.min(49.0);
        }
        SessionResult {
            status: self.status,
            confidence: (confidence * 10.0).round() / 10.0,
            reasons: self.reasons.iter().map(|r| r.code()).collect(),
            challenges: self.evidence.clone(),
            frames: self.counts.clone(),
            passive_score: passive,
            min_similarity,
            reference_frame: self.best_frontal.map(|b| b.0),
        }
    }
}
