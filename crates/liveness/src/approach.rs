//! The approach challenge (Amplify's `FaceMovementChallenge`): a face seen on video moving from where it
//! started into an oval drawn close to the camera, judged on the frames the server decoded.
//!
//! A real head brought closer to a camera changes its proportions: the nose tip, nearer than the cheeks and
//! the ears, grows faster than they do, and the face's outline turns. A photo or a screen brought closer, or
//! turned and tilted on the way, only maps through one homography. [`judge_approach`] finds the approach in
//! the frames — the frame where the face first fits the oval, and the smallest face before it — checks that
//! the face grew enough, continuously, within the time allowed, and measures what the best homography from
//! the far frames to the near ones leaves unexplained ([`crate::geometry::planar_residual`]): the 3-D evidence.
//! Passive anti-spoofing, identity and replay memory are the caller's, as for `/v1` sessions.

use serde::{Deserialize, Serialize};

use crate::check::Target;
use crate::geometry::planar_residual;

/// What an approach must show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproachCriteria {
    /// The near face's width over the far face's, at least.
    pub min_scale: f32,
    /// The median planar residual between the far and the near frames, at least (relative to the eye distance).
    pub min_depth: f32,
    /// The face box must overlap the oval's box by this intersection over union, at least.
    pub oval_iou: f32,
    /// Milliseconds from the first frame to the face in the oval, at most.
    pub timeout_ms: i64,
    /// Milliseconds between two frames, at most: the camera never stopped.
    pub max_gap_ms: i64,
    /// Between two consecutive frames with a face, the box's centre moves at most this many face widths ...
    pub max_jump: f32,
    /// ... and its width changes by at most this factor per 1/15 s (the camera's frame time; over a longer gap
    /// the factor compounds: 1.4 per 1/15 s is 1.96 per 2/15 s): a walk up to the camera grew the face by 1.33
    /// at most; an approach whose runs of frames were played backwards jumps forward by 1.46 between runs.
    pub max_size_step: f32,
    /// Between the far frame and the near one, the face never shrinks by more than this share of the largest
    /// it was before: an approach, not frames of one shuffled back and forth.
    pub max_retreat: f32,
    /// ... and of the steps from one frame to the next, at most this share shows the face smaller (by over
    /// 1 %): a face coming closer grows more often than not, however unsteadily.
    pub max_shrinking_share: f32,
    /// Frames without exactly one face: this share of the frames, at most.
    pub max_bad_share: f32,
    /// Frames taken at each end of the approach to measure its depth (the median over their pairs).
    pub ends: usize,
}

impl Default for ApproachCriteria {
    fn default() -> Self {
        ApproachCriteria {
            min_scale: 1.25,
            min_depth: 0.015,
            oval_iou: 0.6,
            timeout_ms: 30_000,
            max_gap_ms: 1_000,
            max_jump: 0.6,
            max_size_step: 1.4,
            max_retreat: 0.15,
            max_shrinking_share: 0.5,
            max_bad_share: 0.25,
            ends: 3,
        }
    }
}

/// The frame time the size steps are measured over: 1/15 s (Chromium's camera, and the fake one).
const FRAME_MS: f32 = 1000.0 / 15.0;

/// The face of one decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ApproachFace {
    /// Normalised frame coordinates.
    pub bbox: Target,
    /// [`crate::measure::RIGID_POINTS`] in normalised frame coordinates.
    pub points: Vec<[f32; 2]>,
}

/// One decoded frame, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ApproachFrame {
    /// From the start of the video, milliseconds.
    pub timestamp_ms: i64,
    /// Faces that count in the frame.
    pub faces: usize,
    /// The face, when exactly one counts.
    pub face: Option<ApproachFace>,
}

/// Why an approach fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproachFailure {
    /// Frames out of time order, or none at all.
    FramesOutOfOrder,
    /// Too many frames without exactly one face.
    TooManyBadFrames,
    /// The video stopped for longer than allowed, or the face jumped between frames (a cut).
    NotContinuous,
    /// The face never fitted the oval, or too late.
    NeverInOval,
    /// The face did not grow enough before it fitted the oval.
    TooLittleApproach,
    /// The approach is explained by a flat picture brought closer.
    FlatApproach,
}

impl ApproachFailure {
    pub fn code(self) -> &'static str {
        match self {
            ApproachFailure::FramesOutOfOrder => "frames_out_of_order",
            ApproachFailure::TooManyBadFrames => "too_many_bad_frames",
            ApproachFailure::NotContinuous => "not_continuous",
            ApproachFailure::NeverInOval => "never_in_oval",
            ApproachFailure::TooLittleApproach => "too_little_approach",
            ApproachFailure::FlatApproach => "flat_approach",
        }
    }
}

/// What [`judge_approach`] measured, and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproachVerdict {
    /// Index of the far frame and of the first frame in the oval (when found).
    pub far: Option<usize>,
    pub near: Option<usize>,
    /// Near width over far width.
    pub scale: f32,
    /// The median planar residual between the ends.
    pub depth: f32,
    pub failure: Option<ApproachFailure>,
    /// The largest change of the face's width between consecutive frames (a factor, 1 or more), and the
    /// largest move of its centre (face widths).
    #[serde(default)]
    pub max_step: f32,
    #[serde(default)]
    pub max_jump: f32,
}

impl ApproachVerdict {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// The box as the detector's type, whose intersection over union and centre serve here too.
fn bbox(t: &Target) -> vision::BBox {
    vision::BBox { x: t.x, y: t.y, width: t.width, height: t.height }
}

/// Intersection over union of two boxes.
pub fn iou(a: &Target, b: &Target) -> f32 {
    bbox(a).iou(&bbox(b))
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// Judges the frames of an approach toward `oval` (the oval's bounding box, normalised frame coordinates).
///
/// `at_scale(i, s)` gives the rigid points (normalised) of frame `i` measured again after scaling the frame by
/// `s` (under 1), or `None` when no single face is found then. The depth compares the far frames with the near
/// ones brought down to the far face's size: the landmarks of a small, soft face and of a large, sharp one
/// differ by more than a flat picture's homography even for a photo, and this takes the difference in
/// resolution out of the comparison, leaving the difference in shape.
pub fn judge_approach(
    frames: &[ApproachFrame],
    oval: &Target,
    criteria: &ApproachCriteria,
    mut at_scale: impl FnMut(usize, f32) -> Option<Vec<[f32; 2]>>,
) -> ApproachVerdict {
    let mut verdict =
        ApproachVerdict { far: None, near: None, scale: 0.0, depth: 0.0, failure: None, max_step: 1.0, max_jump: 0.0 };
    let fail = |mut v: ApproachVerdict, why| {
        v.failure = Some(why);
        v
    };
    if frames.is_empty() || frames.windows(2).any(|w| w[1].timestamp_ms <= w[0].timestamp_ms) {
        return fail(verdict, ApproachFailure::FramesOutOfOrder);
    }
    let bad = frames.iter().filter(|f| f.face.is_none()).count();
    if bad as f32 > criteria.max_bad_share * frames.len() as f32 {
        return fail(verdict, ApproachFailure::TooManyBadFrames);
    }
    // Continuity: no pause, and the face moves as one face does between consecutive frames.
    if frames.windows(2).any(|w| w[1].timestamp_ms - w[0].timestamp_ms > criteria.max_gap_ms) {
        return fail(verdict, ApproachFailure::NotContinuous);
    }
    let with_face: Vec<(usize, &ApproachFace)> =
        frames.iter().enumerate().filter_map(|(i, f)| f.face.as_ref().map(|face| (i, face))).collect();
    for pair in with_face.windows(2) {
        let (a, b) = (&pair[0].1.bbox, &pair[1].1.bbox);
        let frame_times = (frames[pair[1].0].timestamp_ms - frames[pair[0].0].timestamp_ms) as f32 / FRAME_MS;
        let (ca, cb) = (bbox(a).center(), bbox(b).center());
        let width = a.width.max(b.width).max(1e-6);
        let jump = (ca.x - cb.x).hypot(ca.y - cb.y) / width;
        let step = (b.width / a.width.max(1e-6)).max(a.width / b.width.max(1e-6));
        // The step as if the frames were 1/15 s apart.
        let step = step.powf(1.0 / frame_times.max(1.0));
        verdict.max_step = verdict.max_step.max(step);
        verdict.max_jump = verdict.max_jump.max(jump);
        if jump > criteria.max_jump || step > criteria.max_size_step {
            return fail(verdict, ApproachFailure::NotContinuous);
        }
    }
    // The approach ends where the face first fits the oval, within the time allowed.
    let start = frames[0].timestamp_ms;
    let Some(&(near, near_face)) = with_face.iter().find(|(_, f)| iou(&f.bbox, oval) >= criteria.oval_iou) else {
        return fail(verdict, ApproachFailure::NeverInOval);
    };
    verdict.near = Some(near);
    if frames[near].timestamp_ms - start > criteria.timeout_ms {
        return fail(verdict, ApproachFailure::NeverInOval);
    }
    // It starts at the smallest face before.
    let smallest_before =
        with_face.iter().take_while(|(i, _)| *i < near).min_by(|a, b| a.1.bbox.width.total_cmp(&b.1.bbox.width));
    let Some(&(far, far_face)) = smallest_before else {
        return fail(verdict, ApproachFailure::TooLittleApproach);
    };
    verdict.far = Some(far);
    let widths: Vec<f32> =
        with_face.iter().filter(|(i, _)| *i >= far && *i <= near).map(|(_, f)| f.bbox.width).collect();
    let mut largest = 0.0f32;
    for &w in &widths {
        largest = largest.max(w);
        if w < (1.0 - criteria.max_retreat) * largest {
            return fail(verdict, ApproachFailure::NotContinuous);
        }
    }
    // Shrinking steps are counted from the first frame: runs of an approach played backwards shrink between
    // their jumps forward, however short the stretch from the far frame to the near one.
    let all_widths: Vec<f32> = with_face.iter().take_while(|(i, _)| *i <= near).map(|(_, f)| f.bbox.width).collect();
    let shrinking = all_widths.windows(2).filter(|p| p[1] < 0.99 * p[0]).count();
    if shrinking as f32 > criteria.max_shrinking_share * all_widths.len().saturating_sub(1) as f32 {
        return fail(verdict, ApproachFailure::NotContinuous);
    }
    verdict.scale = near_face.bbox.width / far_face.bbox.width.max(1e-6);
    if verdict.scale < criteria.min_scale {
        return fail(verdict, ApproachFailure::TooLittleApproach);
    }
    // Depth: the median residual over pairs of frames at both ends (the far frame and its neighbours whose
    // face is as small, within 10 %; the near frame and the frames after it still in the oval).
    let far_end: Vec<&ApproachFace> = with_face
        .iter()
        .filter(|(i, f)| *i < near && f.bbox.width <= far_face.bbox.width * 1.1)
        .map(|(_, f)| *f)
        .take(criteria.ends.max(1))
        .collect();
    let near_end: Vec<Vec<[f32; 2]>> = with_face
        .iter()
        .filter(|(i, f)| *i >= near && iou(&f.bbox, oval) >= criteria.oval_iou)
        .take(criteria.ends.max(1))
        .filter_map(|(i, f)| at_scale(*i, far_face.bbox.width / f.bbox.width.max(1e-6)))
        .collect();
    let residuals: Vec<f32> =
        far_end.iter().flat_map(|a| near_end.iter().filter_map(move |b| planar_residual(&a.points, b))).collect();
    verdict.depth = median(residuals).unwrap_or(0.0);
    if verdict.depth < criteria.min_depth {
        return fail(verdict, ApproachFailure::FlatApproach);
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A face-like set of the 20 rigid points in 3-D (x right, y down, z toward the camera), in eye-distance
    /// units (a head about 1.7 eye distances deep, nose tip to ear), in the order of [`crate::measure::RIGID_POINTS`].
    fn head() -> Vec<[f32; 3]> {
        vec![
            [0.0, 0.3, 0.5],     // 1 nose tip
            [0.0, 0.2, 0.45],    // 4
            [0.0, -0.1, 0.3],    // 6 bridge
            [0.0, -0.2, 0.25],   // 168
            [0.0, -0.8, 0.2],    // 10 forehead
            [0.0, 1.0, 0.1],     // 152 chin
            [-0.5, 0.0, 0.0],    // 33 outer eye corner
            [-0.15, 0.0, 0.1],   // 133
            [0.5, 0.0, 0.0],     // 263 outer eye corner
            [0.15, 0.0, 0.1],    // 362
            [-0.9, 0.2, -1.0],   // 234 face edge, by the ear
            [0.9, 0.2, -1.0],    // 454
            [-0.85, -0.3, -0.9], // 127
            [0.85, -0.3, -0.9],  // 356
            [-0.6, 0.8, -0.6],   // 172
            [0.6, 0.8, -0.6],    // 397
            [-0.7, 0.6, -0.7],   // 58
            [0.7, 0.6, -0.7],    // 288
            [-0.4, -0.35, 0.1],  // 70
            [0.4, -0.35, 0.1],   // 300
        ]
    }

    /// The frame of `points` seen by a pinhole camera at `distance` (eye-distance units; focal length 1.2
    /// frame widths), centred: a face box around the points.
    fn frame(points: &[[f32; 3]], distance: f32, t: i64) -> ApproachFrame {
        let f = 1.2 * 6.0;
        let projected: Vec<[f32; 2]> = points
            .iter()
            .map(|p| {
                let k = f / (distance - p[2]) / 6.0;
                [0.5 + p[0] * k, 0.5 + p[1] * k]
            })
            .collect();
        let xs = projected.iter().map(|p| p[0]);
        let ys = projected.iter().map(|p| p[1]);
        let (x0, x1) = (xs.clone().fold(f32::MAX, f32::min), xs.fold(f32::MIN, f32::max));
        let (y0, y1) = (ys.clone().fold(f32::MAX, f32::min), ys.fold(f32::MIN, f32::max));
        let bbox = Target { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
        ApproachFrame { timestamp_ms: t, faces: 1, face: Some(ApproachFace { bbox, points: projected }) }
    }

    /// The oval around the face seen at `distance`.
    fn oval_at(points: &[[f32; 3]], distance: f32) -> Target {
        frame(points, distance, 0).face.unwrap().bbox
    }

    /// Judges synthetic frames: scaling a rendered frame changes none of its normalised points.
    fn judge(frames: &[ApproachFrame], oval: &Target, criteria: &ApproachCriteria) -> ApproachVerdict {
        judge_approach(frames, oval, criteria, |i, _| frames[i].face.as_ref().map(|f| f.points.clone()))
    }

    fn approach(points: &[[f32; 3]], from: f32, to: f32, n: usize) -> Vec<ApproachFrame> {
        (0..n).map(|i| frame(points, from + (to - from) * i as f32 / (n - 1) as f32, i as i64 * 100)).collect()
    }

    #[test]
    fn a_head_coming_closer_shows_depth_and_a_flat_picture_does_not() {
        let head = head();
        let oval = oval_at(&head, 4.0);
        let v = judge(&approach(&head, 8.0, 4.0, 20), &oval, &ApproachCriteria::default());
        assert!(v.passed(), "{v:?}");
        assert!(v.scale > 1.3 && v.depth > 0.015, "{v:?}");
        // The same points on a plane: the same growth, no depth.
        let flat: Vec<[f32; 3]> = head.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let v = judge(&approach(&flat, 8.0, 4.0, 20), &oval_at(&flat, 4.0), &ApproachCriteria::default());
        assert_eq!(v.failure, Some(ApproachFailure::FlatApproach), "{v:?}");
        assert!(v.depth < 0.002, "{v:?}");
    }

    #[test]
    fn the_face_must_grow_into_the_oval_in_order_and_in_time() {
        let head = head();
        let oval = oval_at(&head, 4.0);
        let criteria = ApproachCriteria::default();
        // Already close: no approach.
        let v = judge(&approach(&head, 4.3, 4.0, 10), &oval, &criteria);
        assert_eq!(v.failure, Some(ApproachFailure::TooLittleApproach));
        // Moving away: the oval is fitted at once, with nothing before it.
        let v = judge(&approach(&head, 4.0, 8.0, 20), &oval, &criteria);
        assert_eq!(v.failure, Some(ApproachFailure::TooLittleApproach));
        // Never close enough.
        let v = judge(&approach(&head, 9.0, 7.0, 20), &oval, &criteria);
        assert_eq!(v.failure, Some(ApproachFailure::NeverInOval));
        // Too slow.
        let slow = ApproachCriteria { timeout_ms: 1_000, ..criteria };
        let v = judge(&approach(&head, 8.0, 4.0, 20), &oval, &slow);
        assert_eq!(v.failure, Some(ApproachFailure::NeverInOval));
        // Timestamps going back.
        let mut frames = approach(&head, 8.0, 4.0, 20);
        frames[5].timestamp_ms = 100;
        assert_eq!(judge(&frames, &oval, &criteria).failure, Some(ApproachFailure::FramesOutOfOrder));
        assert_eq!(judge(&[], &oval, &criteria).failure, Some(ApproachFailure::FramesOutOfOrder));
    }

    #[test]
    fn cuts_pauses_and_missing_faces_fail() {
        let head = head();
        let oval = oval_at(&head, 4.0);
        let criteria = ApproachCriteria::default();
        // The frames shuffled, then given increasing timestamps again: the face jumps in size.
        let mut frames = approach(&head, 8.0, 4.0, 20);
        frames.swap(2, 19);
        for (i, f) in frames.iter_mut().enumerate() {
            f.timestamp_ms = i as i64 * 100;
        }
        assert_eq!(judge(&frames, &oval, &criteria).failure, Some(ApproachFailure::NotContinuous));
        // Runs of frames each played backwards: small steps, but the face shrinks within the approach.
        let mut frames = approach(&head, 8.0, 4.0, 40);
        for run in frames.chunks_mut(8) {
            run.reverse();
        }
        for (i, f) in frames.iter_mut().enumerate() {
            f.timestamp_ms = i as i64 * 100;
        }
        assert_eq!(judge(&frames, &oval, &criteria).failure, Some(ApproachFailure::NotContinuous));
        // A two-second pause.
        let mut frames = approach(&head, 8.0, 4.0, 20);
        for f in &mut frames[10..] {
            f.timestamp_ms += 2_000;
        }
        assert_eq!(judge(&frames, &oval, &criteria).failure, Some(ApproachFailure::NotContinuous));
        // Half the frames without a face.
        let mut frames = approach(&head, 8.0, 4.0, 20);
        for f in frames.iter_mut().step_by(2) {
            f.face = None;
            f.faces = 0;
        }
        assert_eq!(judge(&frames, &oval, &criteria).failure, Some(ApproachFailure::TooManyBadFrames));
    }

    #[test]
    fn overlap() {
        let a = Target { x: 0.0, y: 0.0, width: 2.0, height: 1.0 };
        let b = Target { x: 1.0, y: 0.0, width: 2.0, height: 1.0 };
        assert!((iou(&a, &b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&a, &Target { x: 5.0, ..a }), 0.0);
    }
}
