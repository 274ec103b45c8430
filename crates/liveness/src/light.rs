//! The light challenge (Rekognition's `FaceMovementAndLightChallenge`): with the face close, the screen shows a
//! sequence of colours the server drew for the session, and a face in front of it reflects them. A recording
//! made before the session cannot show colours chosen when the session started, and a screen or a photo held
//! up reflects them differently from skin.
//!
//! [`judge_light`] takes the mean colour of the face in each decoded frame and the times the client says each
//! colour was shown (moved onto the video's clock), and checks every change of colour that moves the screen's
//! light enough: between the flat part of one colour and the flat part of the next, the face's colour, relative
//! to itself, must change the way the screen's colour changed (the cosine of the two changes).

use serde::{Deserialize, Serialize};

/// One colour of the sequence the server drew: shown sweeping down the screen over `downscroll_ms`, then flat
/// over `flat_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShownColour {
    pub rgb: [u8; 3],
    pub downscroll_ms: u32,
    pub flat_ms: u32,
}

/// What the light challenge needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LightCriteria {
    /// Colour changes the screen made that move at least one channel by this much (0-255) are judged.
    pub min_change: f32,
    /// A judged change agrees when the cosine between the face's relative change and the screen's is at least
    /// this.
    pub min_cosine: f32,
    /// Judged changes, at least, and the share of them that must agree.
    pub min_changes: usize,
    pub min_agreement: f32,
    /// Frames with a face in a colour's flat part, at least, for it to count.
    pub min_frames: usize,
}

impl Default for LightCriteria {
    fn default() -> Self {
        LightCriteria { min_change: 96.0, min_cosine: 0.5, min_changes: 3, min_agreement: 0.75, min_frames: 1 }
    }
}

/// The mean colour of the face in one decoded frame (0-255 per channel), when one face was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LightFrame {
    pub timestamp_ms: i64,
    pub face_rgb: Option<[f32; 3]>,
}

/// Why the light challenge failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LightFailure {
    /// The client's account of the colours is not the sequence the server drew, in order.
    SequenceMismatch,
    /// Too few colour changes could be judged (frames missing where the colours were shown).
    TooFewChanges,
    /// The face did not change colour with the screen.
    NotReflected,
}

impl LightFailure {
    pub fn code(self) -> &'static str {
        match self {
            LightFailure::SequenceMismatch => "sequence_mismatch",
            LightFailure::TooFewChanges => "too_few_changes",
            LightFailure::NotReflected => "not_reflected",
        }
    }
}

/// What [`judge_light`] measured, and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LightVerdict {
    /// Colour changes judged, and those the face followed.
    pub changes: usize,
    pub agreeing: usize,
    /// `agreeing / changes` (0 when none was judged).
    pub agreement: f32,
    /// The cosine of each judged change.
    pub cosines: Vec<f32>,
    pub failure: Option<LightFailure>,
}

impl LightVerdict {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    fn failed(why: LightFailure) -> Self {
        LightVerdict { changes: 0, agreeing: 0, agreement: 0.0, cosines: Vec::new(), failure: Some(why) }
    }
}

/// The mean face colour over the frames in `[from, to)` (video milliseconds), and how many there were.
fn mean_colour(frames: &[LightFrame], from: i64, to: i64) -> (Option<[f32; 3]>, usize) {
    let mut sum = [0.0f32; 3];
    let mut n = 0;
    for f in frames.iter().filter(|f| f.timestamp_ms >= from && f.timestamp_ms < to) {
        if let Some(c) = f.face_rgb {
            for k in 0..3 {
                sum[k] += c[k];
            }
            n += 1;
        }
    }
    ((n > 0).then(|| sum.map(|s| s / n as f32)), n)
}

fn cosine(a: [f32; 3], b: [f32; 3]) -> f32 {
    let dot: f32 = (0..3).map(|k| a[k] * b[k]).sum();
    let na = a.iter().map(|v| v * v).sum::<f32>().sqrt();
    let nb = b.iter().map(|v| v * v).sum::<f32>().sqrt();
    if na < 1e-6 || nb < 1e-6 {
        return 0.0;
    }
    dot / (na * nb)
}

/// Judges the light challenge: `planned` is the sequence the server drew; `reported` the colours the client
/// says it showed with the video time (milliseconds) each began, in order.
pub fn judge_light(
    frames: &[LightFrame],
    planned: &[ShownColour],
    reported: &[([u8; 3], i64)],
    criteria: &LightCriteria,
) -> LightVerdict {
    // Every planned colour shown once, in order, in time order (the client repeats a report: callers pass each
    // colour's first; Amplify's component reports the first colour at the second's start).
    if reported.len() != planned.len()
        || reported.iter().zip(planned).any(|((rgb, _), p)| *rgb != p.rgb)
        || reported.windows(2).any(|w| w[1].1 < w[0].1)
    {
        return LightVerdict::failed(LightFailure::SequenceMismatch);
    }
    // The flat part of each colour: after it swept down, until the next began.
    let flat: Vec<(Option<[f32; 3]>, usize)> = planned
        .iter()
        .zip(reported)
        .enumerate()
        .map(|(i, (p, &(_, start)))| {
            let from = start + i64::from(p.downscroll_ms);
            let to = reported.get(i + 1).map_or(from + i64::from(p.flat_ms), |n| n.1).max(from);
            mean_colour(frames, from, to)
        })
        .collect();
    let mut cosines = Vec::new();
    for i in 1..planned.len() {
        let shown: [f32; 3] = std::array::from_fn(|k| f32::from(planned[i].rgb[k]) - f32::from(planned[i - 1].rgb[k]));
        if shown.iter().all(|d| d.abs() < criteria.min_change) {
            continue;
        }
        let ((Some(a), na), (Some(b), nb)) = (flat[i - 1], flat[i]) else { continue };
        if na < criteria.min_frames || nb < criteria.min_frames {
            continue;
        }
        // The face's change relative to its own colour (skin reflects red more than blue), so that the
        // direction compares with the screen's.
        let face: [f32; 3] = std::array::from_fn(|k| (b[k] - a[k]) / ((a[k] + b[k]) / 2.0).max(8.0));
        cosines.push(cosine(face, shown));
    }
    let changes = cosines.len();
    let agreeing = cosines.iter().filter(|&&c| c >= criteria.min_cosine).count();
    let agreement = if changes == 0 { 0.0 } else { agreeing as f32 / changes as f32 };
    let failure = if changes < criteria.min_changes {
        Some(LightFailure::TooFewChanges)
    } else if agreement < criteria.min_agreement {
        Some(LightFailure::NotReflected)
    } else {
        None
    };
    LightVerdict { changes, agreeing, agreement, cosines, failure }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQUENCE: [[u8; 3]; 5] = [[255, 255, 255], [255, 0, 0], [0, 0, 255], [0, 255, 0], [255, 255, 0]];

    fn planned() -> Vec<ShownColour> {
        SEQUENCE.iter().map(|&rgb| ShownColour { rgb, downscroll_ms: 300, flat_ms: 400 }).collect()
    }

    fn reported() -> Vec<([u8; 3], i64)> {
        SEQUENCE.iter().enumerate().map(|(i, &rgb)| (rgb, 1000 + 700 * i as i64)).collect()
    }

    /// Frames at 15 fps of a face of colour `skin` lit by `light(t)` (0..1 per channel) on top of the room's.
    fn frames(skin: [f32; 3], light: impl Fn(i64) -> [f32; 3]) -> Vec<LightFrame> {
        (0..90)
            .map(|i| {
                let t = i * 1000 / 15;
                let l = light(t);
                LightFrame { timestamp_ms: t, face_rgb: Some(std::array::from_fn(|k| skin[k] * (0.6 + 0.3 * l[k]))) }
            })
            .collect()
    }

    fn screen_at(t: i64) -> [f32; 3] {
        let shown = reported().iter().rev().find(|(_, start)| *start <= t).map_or([0; 3], |(rgb, _)| *rgb);
        shown.map(|v| f32::from(v) / 255.0)
    }

    #[test]
    fn a_face_lit_by_the_screen_passes() {
        let v = judge_light(&frames([200.0, 150.0, 120.0], screen_at), &planned(), &reported(), &Default::default());
        assert!(v.passed(), "{v:?}");
        assert_eq!(v.changes, 4);
    }

    #[test]
    fn a_face_under_other_light_fails() {
        // The same face, lit by a sequence recorded for another session (the colours one step late).
        let late = |t: i64| screen_at(t - 700);
        let v = judge_light(&frames([200.0, 150.0, 120.0], late), &planned(), &reported(), &Default::default());
        assert_eq!(v.failure, Some(LightFailure::NotReflected), "{v:?}");
        // A face whose light never changes.
        let v = judge_light(&frames([200.0, 150.0, 120.0], |_| [0.5; 3]), &planned(), &reported(), &Default::default());
        assert!(!v.passed());
    }

    #[test]
    fn the_clients_account_must_follow_the_plan() {
        let mut swapped = reported();
        swapped.swap(1, 2);
        let v = judge_light(&frames([200.0; 3], screen_at), &planned(), &swapped, &Default::default());
        assert_eq!(v.failure, Some(LightFailure::SequenceMismatch));
        let v = judge_light(&frames([200.0; 3], screen_at), &planned(), &reported()[..3], &Default::default());
        assert_eq!(v.failure, Some(LightFailure::SequenceMismatch));
        let none: Vec<LightFrame> = Vec::new();
        let v = judge_light(&none, &planned(), &reported(), &Default::default());
        assert_eq!(v.failure, Some(LightFailure::TooFewChanges));
    }
}
