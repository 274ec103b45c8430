//! One frame's measurements of one face.

use serde::{Deserialize, Serialize};
use vision::FaceAnalysis;

/// What a challenge is judged on. Angles in degrees (yaw > 0: the face turns toward the image's right, which
/// is the person's own left; pitch > 0: up; roll > 0: clockwise in the image).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signals {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    /// Eye openness, per eye as the person sees them (eyelid gap over eye width).
    pub left_eye: f32,
    pub right_eye: f32,
    /// Smile probability 0..1.
    pub smile: f32,
    /// Inner-lip gap over mouth width.
    pub mouth_open: f32,
    /// The nose tip in normalised frame coordinates (0..1 from the left and top edges of the image).
    pub nose: [f32; 2],
}

impl Signals {
    /// The signals of an analysed face in a `width` x `height` frame.
    pub fn new(a: &FaceAnalysis, width: u32, height: u32) -> Self {
        Signals {
            yaw: a.pose.yaw,
            pitch: a.pose.pitch,
            roll: a.pose.roll,
            left_eye: a.eyes.left,
            right_eye: a.eyes.right,
            smile: a.smile,
            mouth_open: a.mouth_open,
            nose: [a.nose_tip[0] / width.max(1) as f32, a.nose_tip[1] / height.max(1) as f32],
        }
    }

    /// Mean openness of both eyes.
    pub fn eyes(&self) -> f32 {
        (self.left_eye + self.right_eye) / 2.0
    }
}
