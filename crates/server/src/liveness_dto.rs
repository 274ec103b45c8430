//! The liveness sessions' `/v1` wire shapes: what a frame's feedback, a challenge's evidence and a session's frame
//! counts look like to clients (the browser SDK, the console, the OpenAPI document), kept apart from the liveness
//! crate's session state, which the store keeps as JSON. The two may now change apart; a test shows that today
//! they serialize alike.

use serde::Serialize;
use utoipa::ToSchema;

/// A stable code: an enum of the liveness crate as its serde name (`no_face`, `IN_PROGRESS`, `move_closer`).
fn code(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// An area in normalised frame coordinates (0..1 from the left and top).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct AreaDto {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl From<liveness::Target> for AreaDto {
    fn from(t: liveness::Target) -> Self {
        AreaDto { x: t.x, y: t.y, width: t.width, height: t.height }
    }
}

/// The answer to one frame.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameFeedback {
    pub sequence: u64,
    /// The frame's timestamp as taken (milliseconds since the session's creation): the next must be later.
    pub timestamp: i64,
    /// `accepted`, `no_face`, `multiple_faces`, `face_too_small`, `face_outside_area`, `low_quality`,
    /// `not_baseline`, `identity_changed`, `spoof_suspected`: only `accepted` frames count.
    pub verdict: String,
    /// `CREATED`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `EXPIRED`.
    pub status: String,
    /// The challenge now expected (index into the session's list); none while the baseline is awaited or when
    /// finished.
    pub current_challenge: Option<usize>,
    pub challenges_passed: usize,
    pub challenges_total: usize,
    /// 0..1 over the baseline and every challenge.
    pub progress: f32,
    /// Instructions for the person, as codes (`face_not_found`, `move_closer`, `center_face`, `blink`,
    /// `turn_left`, ...).
    pub guidance: Vec<String>,
    /// The face box.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face: Option<AreaDto>,
    /// The current challenge's target area (`nose_target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<AreaDto>,
    /// Whether this frame completed a challenge.
    pub challenge_completed: bool,
    /// Whether this frame is the session's best frontal frame so far (the reference image).
    pub best_frontal: bool,
}

impl From<&liveness::Feedback> for FrameFeedback {
    fn from(f: &liveness::Feedback) -> Self {
        FrameFeedback {
            sequence: f.sequence,
            timestamp: f.timestamp,
            verdict: code(&f.verdict),
            status: f.status.as_str().to_string(),
            current_challenge: f.current_challenge,
            challenges_passed: f.challenges_passed,
            challenges_total: f.challenges_total,
            progress: f.progress,
            guidance: f.guidance.iter().map(code).collect(),
            face: f.face.map(AreaDto::from),
            target: f.target.map(AreaDto::from),
            challenge_completed: f.challenge_completed,
            best_frontal: f.best_frontal,
        }
    }
}

/// What was measured for one challenge.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeEvidenceDto {
    /// `blink`, `smile`, `turn_left`, `turn_right`, `look_up`, `look_down`, `nose_target`, `head_pose`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<AreaDto>,
    pub passed: bool,
    /// The best score seen (0..1; 0.5 at the pass mark).
    pub score: f32,
    /// The measured value at the best frame, and its pass mark.
    pub value: Option<f32>,
    pub threshold: f32,
    /// The frames that satisfied it.
    pub frames: Vec<u64>,
    /// Head movements: the landmarks' motion from the baseline left unexplained by a flat picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<f32>,
    /// Server time (milliseconds since the epoch) it started and finished.
    pub started_ms: Option<i64>,
    pub completed_ms: Option<i64>,
}

impl From<&liveness::ChallengeEvidence> for ChallengeEvidenceDto {
    fn from(e: &liveness::ChallengeEvidence) -> Self {
        ChallengeEvidenceDto {
            kind: e.kind.as_str().to_string(),
            target: e.target.map(AreaDto::from),
            passed: e.passed,
            score: e.score,
            value: e.value,
            threshold: e.threshold,
            frames: e.frames.clone(),
            depth: e.depth,
            started_ms: e.started_ms,
            completed_ms: e.completed_ms,
        }
    }
}

/// How the session's frames were judged.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameCountsDto {
    pub received: u32,
    pub accepted: u32,
    pub no_face: u32,
    pub multiple_faces: u32,
    pub too_small: u32,
    /// Before the baseline, faces outside the area the client drew (the nose challenge's).
    pub outside_area: u32,
    pub low_quality: u32,
    /// Frames whose face was compared with the baseline's.
    pub identity_checked: u32,
}

impl From<&liveness::session::FrameCounts> for FrameCountsDto {
    fn from(c: &liveness::session::FrameCounts) -> Self {
        FrameCountsDto {
            received: c.received,
            accepted: c.accepted,
            no_face: c.no_face,
            multiple_faces: c.multiple_faces,
            too_small: c.too_small,
            outside_area: c.outside_area,
            low_quality: c.low_quality,
            identity_checked: c.identity_checked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveness::session::FrameCounts;
    use liveness::{ChallengeEvidence, Feedback, FrameVerdict, Guidance, Kind, Status, Target};

    fn json(v: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(v).expect("serializes")
    }

    /// The wire shapes are their own types, and today they read exactly as the session state serializes: a client
    /// sees no difference from the split.
    #[test]
    fn the_wire_shapes_read_as_the_session_state_serializes() {
        let area = Target { x: 0.1, y: 0.2, width: 0.3, height: 0.4 };
        for (face, target, current) in [(Some(area), Some(area), Some(1)), (None, None, None)] {
            let f = Feedback {
                sequence: 7,
                timestamp: 1234,
                verdict: FrameVerdict::FaceTooSmall,
                status: Status::InProgress,
                current_challenge: current,
                challenges_passed: 1,
                challenges_total: 2,
                progress: 0.5,
                guidance: vec![Guidance::MoveCloser, Guidance::TurnLeft],
                face,
                target,
                challenge_completed: false,
                best_frontal: true,
            };
            assert_eq!(json(&FrameFeedback::from(&f)), json(&f));
        }
        for (target, depth, value) in [(Some(area), Some(0.02), Some(0.7)), (None, None, None)] {
            let e = ChallengeEvidence {
                kind: Kind::NoseTarget,
                target,
                passed: true,
                score: 0.8,
                value,
                threshold: 0.5,
                frames: vec![3, 4],
                depth,
                started_ms: Some(1),
                completed_ms: None,
            };
            assert_eq!(json(&ChallengeEvidenceDto::from(&e)), json(&e));
        }
        let counts = FrameCounts {
            received: 9,
            accepted: 5,
            no_face: 1,
            outside_area: 2,
            identity_checked: 3,
            ..Default::default()
        };
        assert_eq!(json(&FrameCountsDto::from(&counts)), json(&counts));
    }
}
