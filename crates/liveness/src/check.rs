//! The pass criteria of each challenge kind, on one frame and optionally a baseline frame.

use serde::{Deserialize, Serialize};

use crate::signals::Signals;

/// A challenge. Directions are the person's own: "turn left" is a turn to their left, which the camera sees
/// as a turn toward the image's right (and a mirrored preview shows as a turn to the left).
/// The kinds a liveness session draws its challenges from (`HeadPose` is a stateless check only).
pub const SESSION_KINDS: [Kind; 7] =
    [Kind::TurnLeft, Kind::TurnRight, Kind::Blink, Kind::Smile, Kind::NoseTarget, Kind::LookUp, Kind::LookDown];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Smile,
    Blink,
    TurnLeft,
    TurnRight,
    LookUp,
    LookDown,
    /// The head within given yaw / pitch / roll ranges (by default: facing the camera).
    HeadPose,
    /// The nose tip inside a target area of the frame.
    NoseTarget,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Smile,
        Kind::Blink,
        Kind::TurnLeft,
        Kind::TurnRight,
        Kind::LookUp,
        Kind::LookDown,
        Kind::HeadPose,
        Kind::NoseTarget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Smile => "smile",
            Kind::Blink => "blink",
            Kind::TurnLeft => "turn_left",
            Kind::TurnRight => "turn_right",
            Kind::LookUp => "look_up",
            Kind::LookDown => "look_down",
            Kind::HeadPose => "head_pose",
            Kind::NoseTarget => "nose_target",
        }
    }
}

/// An area in normalised frame coordinates (0..1 from the image's left and top edges).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl Target {
    /// Whether the area lies in the frame and has a size.
    pub fn is_valid(&self) -> bool {
        let finite = [self.x, self.y, self.width, self.height].iter().all(|v| v.is_finite());
        finite
            && self.width > 0.0
            && self.height > 0.0
            && self.x >= 0.0
            && self.y >= 0.0
            && self.x + self.width <= 1.0 + 1e-6
            && self.y + self.height <= 1.0 + 1e-6
    }

    pub fn contains(&self, p: [f32; 2]) -> bool {
        p[0] >= self.x && p[0] <= self.x + self.width && p[1] >= self.y && p[1] <= self.y + self.height
    }

    pub fn centre(&self) -> [f32; 2] {
        [self.x + self.width / 2.0, self.y + self.height / 2.0]
    }
}

/// Thresholds of the checks. Angles in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Criteria {
    /// A smile when the smile probability reaches this.
    pub smile_threshold: f32,
    /// With a baseline: the smile probability must also rise by this much over it.
    pub smile_rise: f32,
    /// Eyes closed when their mean openness is below this.
    pub eyes_closed_threshold: f32,
    /// Yaw needed for a head turn (from the baseline's yaw when there is one, else from 0).
    pub turn_degrees: f32,
    /// Pitch needed to look up or down (likewise).
    pub pitch_degrees: f32,
    /// `head_pose`: the allowed ranges, `[min, max]`.
    pub yaw_range: [f32; 2],
    pub pitch_range: [f32; 2],
    pub roll_range: [f32; 2],
    /// `nose_target`: where the nose tip must be.
    pub target: Option<Target>,
}

impl Default for Criteria {
    fn default() -> Self {
        Criteria {
            smile_threshold: vision::analysis::SMILE_THRESHOLD,
            smile_rise: 0.3,
            eyes_closed_threshold: vision::analysis::EYES_CLOSED_THRESHOLD,
            turn_degrees: 20.0,
            pitch_degrees: 12.0,
            yaw_range: [-15.0, 15.0],
            pitch_range: [-15.0, 15.0],
            roll_range: [-20.0, 20.0],
            target: None,
        }
    }
}

/// Why a check did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The smile probability is under the threshold.
    NotSmiling,
    /// Smiling, but no more than in the baseline.
    SmileDidNotRise,
    /// The eyes are open.
    EyesOpen,
    /// The baseline's eyes are already closed, so no blink can be shown against it.
    BaselineEyesClosed,
    /// The head has not turned (or tilted) far enough.
    NotTurnedEnough,
    /// The head turned (or tilted) the other way.
    WrongDirection,
    /// The head is outside the requested pose ranges.
    PoseOutOfRange,
    /// The nose tip is outside the target area.
    NoseOutsideTarget,
    /// A `nose_target` check without a target area.
    NoTarget,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::NotSmiling => "not_smiling",
            Reason::SmileDidNotRise => "smile_did_not_rise",
            Reason::EyesOpen => "eyes_open",
            Reason::BaselineEyesClosed => "baseline_eyes_closed",
            Reason::NotTurnedEnough => "not_turned_enough",
            Reason::WrongDirection => "wrong_direction",
            Reason::PoseOutOfRange => "pose_out_of_range",
            Reason::NoseOutsideTarget => "nose_outside_target",
            Reason::NoTarget => "no_target",
        }
    }
}

/// The decision on one challenge.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutcome {
    pub kind: Kind,
    pub passed: bool,
    /// How clearly the challenge is shown, 0..1: 0.5 at the pass mark, 1 well beyond it.
    pub score: f32,
    /// The measured quantity the decision rests on (smile probability, eye openness, yaw or pitch change in
    /// degrees, the largest pose excess in degrees, the nose's distance to the target in frame widths).
    pub value: f32,
    /// The pass mark for `value`.
    pub threshold: f32,
    pub reasons: Vec<Reason>,
}

/// 0.5 at the pass mark, moving by half a unit per `scale` of margin, clamped to 0..1.
fn margin_score(margin: f32, scale: f32) -> f32 {
    (0.5 + margin / (2.0 * scale)).clamp(0.0, 1.0)
}

/// Decides `kind` on `frame`, against `baseline` when given.
pub fn check(kind: Kind, c: &Criteria, frame: &Signals, baseline: Option<&Signals>) -> CheckOutcome {
    let mut reasons = Vec::new();
    let (value, threshold, score) = match kind {
        Kind::Smile => {
            if frame.smile < c.smile_threshold {
                reasons.push(Reason::NotSmiling);
            }
            let mut score = margin_score(frame.smile - c.smile_threshold, 0.5);
            if let Some(b) = baseline {
                let rise = frame.smile - b.smile;
                if rise < c.smile_rise {
                    reasons.push(Reason::SmileDidNotRise);
                }
                score = score.min(margin_score(rise - c.smile_rise, 0.5));
            }
            (frame.smile, c.smile_threshold, score)
        }
        Kind::Blink => {
            let t = c.eyes_closed_threshold;
            if frame.eyes() >= t {
                reasons.push(Reason::EyesOpen);
            }
            let mut score = margin_score(t - frame.eyes(), 0.1);
            if let Some(b) = baseline {
                if b.eyes() < t {
                    reasons.push(Reason::BaselineEyesClosed);
                }
                score = score.min(margin_score(b.eyes() - t, 0.1));
            }
            (frame.eyes(), t, score)
        }
        Kind::TurnLeft | Kind::TurnRight | Kind::LookUp | Kind::LookDown => {
            // The person's left is the image's right: yaw rises. Looking up: pitch rises.
            let (now, from, need, sign) = match kind {
                Kind::TurnLeft => (frame.yaw, baseline.map(|b| b.yaw), c.turn_degrees, 1.0),
                Kind::TurnRight => (frame.yaw, baseline.map(|b| b.yaw), c.turn_degrees, -1.0),
                Kind::LookUp => (frame.pitch, baseline.map(|b| b.pitch), c.pitch_degrees, 1.0),
                _ => (frame.pitch, baseline.map(|b| b.pitch), c.pitch_degrees, -1.0),
            };
            let moved = sign * (now - from.unwrap_or(0.0));
            if moved < need {
                reasons.push(if moved <= -need / 2.0 { Reason::WrongDirection } else { Reason::NotTurnedEnough });
            }
            (moved, need, margin_score(moved - need, need))
        }
        Kind::HeadPose => {
            let excess = |v: f32, r: [f32; 2]| (r[0] - v).max(v - r[1]);
            let worst = excess(frame.yaw, c.yaw_range)
                .max(excess(frame.pitch, c.pitch_range))
                .max(excess(frame.roll, c.roll_range));
            if worst > 0.0 {
                reasons.push(Reason::PoseOutOfRange);
            }
            (worst, 0.0, margin_score(-worst, 10.0))
        }
        Kind::NoseTarget => match c.target {
            None => {
                reasons.push(Reason::NoTarget);
                (f32::NAN, 0.0, 0.0)
            }
            Some(t) => {
                let [cx, cy] = t.centre();
                // Distance outside the area (0 inside), in frame units.
                let dx = (frame.nose[0] - cx).abs() - t.width / 2.0;
                let dy = (frame.nose[1] - cy).abs() - t.height / 2.0;
                let outside = dx.max(0.0).hypot(dy.max(0.0));
                let inside = t.contains(frame.nose);
                if !inside {
                    reasons.push(Reason::NoseOutsideTarget);
                }
                // Inside: how central (1 at the centre); outside: falls off over a tenth of the frame.
                let depth = (-dx.max(dy)).max(0.0) / (t.width.min(t.height) / 2.0).max(1e-6);
                let score = if inside { 0.5 + 0.5 * depth.min(1.0) } else { margin_score(-outside, 0.1) };
                (outside, 0.0, score)
            }
        },
    };
    CheckOutcome { kind, passed: reasons.is_empty(), score, value, threshold, reasons }
}
