//! The liveness stream: a session completed by one recorded video instead of frames sent one by one (what
//! Rekognition Streaming's face liveness, and so Amplify's `FaceLivenessDetector`, does).
//!
//! When the stream opens, the session is given its [`StreamPlan`]: the challenge, the oval the face must be
//! brought into (drawn at random per session), and for the light challenge the colours the screen shows. When
//! the video has arrived, the server measures every decoded frame and concludes the session from
//! [`StreamEvidence`] (`Session::conclude_stream`): the approach ([`crate::approach`]), the light
//! ([`crate::light`]), passive anti-spoofing, identity through the approach, and the replay memory
//! — every rule the `/v1` sessions apply that a video can be held to.

use serde::{Deserialize, Serialize};

use crate::approach::ApproachVerdict;
use crate::check::Target;
use crate::light::{LightVerdict, ShownColour};
use crate::replay::{SeenFrame, REPLAY_MIN_MOTION};

/// What the stream asks of the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamChallenge {
    /// Bring the face from where it is into the oval (Rekognition's `FaceMovementChallenge`).
    Approach,
    /// The approach, with the screen lit in a sequence of colours while the face is close
    /// (`FaceMovementAndLightChallenge`).
    ApproachAndLight,
}

impl StreamChallenge {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamChallenge::Approach => "approach",
            StreamChallenge::ApproachAndLight => "approach_and_light",
        }
    }
}

/// The challenge a session's stream was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamPlan {
    pub challenge: StreamChallenge,
    /// The video's size the client announced, in pixels.
    pub width: u32,
    pub height: u32,
    /// The oval's bounding box, normalised frame coordinates.
    pub oval: Target,
    /// The colours shown, in order (the light challenge only).
    #[serde(default)]
    pub colours: Vec<ShownColour>,
    /// When the stream opened (server time, milliseconds).
    pub opened_ms: i64,
}

/// What the server measured on a stream's video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamEvidence {
    /// Frames decoded, and those without exactly one usable face.
    pub frames: u32,
    pub bad_frames: u32,
    pub approach: ApproachVerdict,
    /// The light challenge's verdict (`None` for the approach alone).
    #[serde(default)]
    pub light: Option<LightVerdict>,
    /// Passive anti-spoofing scores of the frames with a face, with their video times (milliseconds), in order
    /// (empty when the model did not run).
    #[serde(default)]
    pub passive_scores: Vec<(i64, f32)>,
    /// Similarities of each face of the approach to the one before it (faces large enough to compare, in
    /// order): one person throughout, never a cut to another.
    #[serde(default)]
    pub similarities: Vec<f32>,
    /// Moving frames another recent session saw, and those among them that continue a run of one.
    pub replayed_frames: u32,
    pub replayed_runs: u32,
    /// The frame kept as the reference image (the first in the oval).
    pub reference_frame: Option<u64>,
    /// Its face's box (normalised frame coordinates).
    #[serde(default)]
    pub reference_box: Option<Target>,
}

/// One frame's face, for the replay memory: how far it moved from the frame with a face before it, and which
/// frames of other recent sessions it matches.
pub struct ReplayLookup {
    pub moved: Option<f32>,
    pub seen_in: Vec<SeenFrame>,
}

/// Counts the moving frames other sessions saw, and those whose frame before matched the frame next to theirs
/// (as the `/v1` session does frame by frame).
pub fn count_replayed(frames: &[ReplayLookup]) -> (u32, u32) {
    let (mut replayed, mut runs) = (0, 0);
    let mut last: &[SeenFrame] = &[];
    for f in frames {
        if !f.seen_in.is_empty() && f.moved.is_some_and(|m| m >= REPLAY_MIN_MOTION) {
            replayed += 1;
            if f.seen_in.iter().any(|s| last.iter().any(|l| s.next_to(l))) {
                runs += 1;
            }
        }
        last = &f.seen_in;
    }
    (replayed, runs)
}

/// The passive evidence of a video: the mean score of its faces. A `/v1` session takes the lowest mean over 3
/// consecutive frames, since its frames are separate pictures that could be swapped one at a time; a stream's
/// frames are one take whose continuity the approach checks (no cut, jump or pause), and single frames blurred
/// by the approach score low on their own (the shared genuine a04, a phone's recording, has stretches near 0
/// and a mean of 0.28; the screen replay a06's mean is under 0.0001).
pub fn passive_mean(scores: &[(i64, f32)]) -> Option<f32> {
    (!scores.is_empty()).then(|| scores.iter().map(|&(_, p)| p).sum::<f32>() / scores.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(session: &str, sequence: u64) -> Vec<SeenFrame> {
        vec![SeenFrame { session: session.into(), sequence }]
    }

    #[test]
    fn the_passive_evidence_is_the_mean_of_the_faces() {
        let scores: Vec<(i64, f32)> = (0..10).map(|i| (i * 66, if i < 2 { 0.0 } else { 1.0 })).collect();
        assert_eq!(passive_mean(&scores), Some(0.8));
        assert_eq!(passive_mean(&[]), None);
    }

    #[test]
    fn replayed_frames_count_when_they_move_and_runs_when_they_follow() {
        let frames = vec![
            ReplayLookup { moved: None, seen_in: seen("a", 1) },
            ReplayLookup { moved: Some(0.1), seen_in: seen("a", 2) },
            ReplayLookup { moved: Some(0.01), seen_in: seen("a", 3) },
            ReplayLookup { moved: Some(0.1), seen_in: Vec::new() },
            ReplayLookup { moved: Some(0.1), seen_in: seen("b", 9) },
        ];
        assert_eq!(count_replayed(&frames), (2, 1));
        assert_eq!(count_replayed(&[]), (0, 0));
    }
}
