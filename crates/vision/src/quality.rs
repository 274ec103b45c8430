//! Face quality: is this face good enough to enroll or to trust a match on? Size, sharpness, brightness
//! and a frontalness estimate from the five landmarks, each with a pass/fail against configurable bars.

use ::image::RgbImage;
use serde::Serialize;

use crate::detect::Detection;

/// The bars a face must clear.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityThresholds {
    /// Smallest inter-eye distance, in original-image pixels.
    pub min_eye_distance: f32,
    /// Smallest variance of the Laplacian of the aligned grey crop.
    pub min_sharpness: f32,
    /// Mean luminance (0..1) of the aligned crop must lie between these.
    pub min_brightness: f32,
    pub max_brightness: f32,
    /// Smallest frontalness (0 = profile, 1 = frontal).
    pub min_frontalness: f32,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        Self {
            min_eye_distance: 20.0,
            min_sharpness: 40.0,
            min_brightness: 0.15,
            max_brightness: 0.9,
            min_frontalness: 0.5,
        }
    }
}

/// Why a face fails the quality bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityIssue {
    TooSmall,
    Blurry,
    TooDark,
    TooBright,
    NotFrontal,
}

impl QualityIssue {
    /// The stable code every front door reports (`too_small`); the same as its serialized form.
    pub fn code(self) -> &'static str {
        match self {
            QualityIssue::TooSmall => "too_small",
            QualityIssue::Blurry => "blurry",
            QualityIssue::TooDark => "too_dark",
            QualityIssue::TooBright => "too_bright",
            QualityIssue::NotFrontal => "not_frontal",
        }
    }
}

/// Quality measures of one face.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceQuality {
    /// Distance between the eye centres, in original-image pixels.
    pub eye_distance: f32,
    /// Variance of the Laplacian of the aligned grey crop (higher is sharper).
    pub sharpness: f32,
    /// Mean luminance of the aligned crop, 0..1.
    pub brightness: f32,
    /// 1 for a frontal face, towards 0 as the head turns or tilts away.
    pub frontalness: f32,
    /// Head yaw estimated from the five points, degrees (> 0: the face turns toward the image's right, the
    /// person's own left; the face mesh's convention, [`crate::analysis::HeadPose`]).
    pub yaw: f32,
    /// Head roll from the eye line, degrees.
    pub roll: f32,
    /// Overall 0..1.
    pub score: f32,
    /// What fails the bars; empty when the face is acceptable.
    pub issues: Vec<QualityIssue>,
}

impl FaceQuality {
    pub fn acceptable(&self) -> bool {
        self.issues.is_empty()
    }
}

/// Measures a face from its detection and its aligned 112x112 crop.
pub fn assess(detection: &Detection, aligned: &RgbImage, bars: &QualityThresholds) -> FaceQuality {
    let [re, le, nose, rm, lm] = detection.landmarks;
    let eye_dx = le.x - re.x;
    let eye_dy = le.y - re.y;
    let eye_distance = (eye_dx * eye_dx + eye_dy * eye_dy).sqrt();
    let roll = eye_dy.atan2(eye_dx).to_degrees();

    // Yaw: the nose's offset from the midline of eyes and mouth, relative to half the eye distance, after undoing
    // the roll. A frontal face has the nose on the midline; turned by `t`, the nose tip (standing out by `d` in
    // front of the eyes) moves by `d sin t` while the eyes close up to `cos t` of their width: the offset is
    // `(d / e) tan t`, with `e` half the eye distance.
    let (sin, cos) = (-roll.to_radians()).sin_cos();
    let rot_x = |x: f32, y: f32| x * cos - y * sin;
    let mid_x = (rot_x(re.x, re.y) + rot_x(le.x, le.y) + rot_x(rm.x, rm.y) + rot_x(lm.x, lm.y)) / 4.0;
    let offset = if eye_distance > 0.0 { (rot_x(nose.x, nose.y) - mid_x) / (eye_distance / 2.0) } else { 0.0 };
    let yaw = five_point_yaw(offset);
    let frontalness = (1.0 - offset.abs().min(1.0)) * (1.0 - (roll.abs() / 90.0).min(1.0));

    let (sharpness, brightness) = sharpness_and_brightness(aligned);

    let mut issues = Vec::new();
    if eye_distance < bars.min_eye_distance {
        issues.push(QualityIssue::TooSmall);
    }
    if sharpness < bars.min_sharpness {
        issues.push(QualityIssue::Blurry);
    }
    if brightness < bars.min_brightness {
        issues.push(QualityIssue::TooDark);
    }
    if brightness > bars.max_brightness {
        issues.push(QualityIssue::TooBright);
    }
    if frontalness < bars.min_frontalness {
        issues.push(QualityIssue::NotFrontal);
    }
    let size_score = (eye_distance / (2.0 * bars.min_eye_distance.max(1.0))).min(1.0);
    let sharp_score = (sharpness / (2.0 * bars.min_sharpness.max(1.0))).min(1.0);
    let light_score = 1.0 - ((brightness - 0.5).abs() * 2.0).powi(2);
    let score = (size_score * sharp_score * light_score.max(0.0) * frontalness).clamp(0.0, 1.0);
    FaceQuality { eye_distance, sharpness, brightness, frontalness, yaw, roll, score, issues }
}

/// The nose tip's depth in front of the eyes over half their distance (`d / e` above).
pub const NOSE_DEPTH_RATIO: f32 = 1.1;

/// Yaw in degrees from the nose's offset (relative to half the eye distance, > 0 toward the image's right).
pub fn five_point_yaw(offset: f32) -> f32 {
    (offset / NOSE_DEPTH_RATIO).atan().to_degrees()
}

/// Variance of the 4-neighbour Laplacian of the grey crop, and its mean luminance in 0..1.
fn sharpness_and_brightness(img: &RgbImage) -> (f32, f32) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return (0.0, 0.0);
    }
    let grey: Vec<f32> =
        img.pixels().map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])).collect();
    let brightness = grey.iter().sum::<f32>() / (grey.len() as f32 * 255.0);
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let lap = grey[i - 1] + grey[i + 1] + grey[i - w] + grey[i + w] - 4.0 * grey[i];
            sum += f64::from(lap);
            sum_sq += f64::from(lap) * f64::from(lap);
            n += 1.0;
        }
    }
    let mean = sum / n;
    ((sum_sq / n - mean * mean) as f32, brightness)
}

#[cfg(test)]
mod issue_codes {
    use super::QualityIssue;

    #[test]
    fn a_code_is_the_serialized_name() {
        for issue in [
            QualityIssue::TooSmall,
            QualityIssue::Blurry,
            QualityIssue::TooDark,
            QualityIssue::TooBright,
            QualityIssue::NotFrontal,
        ] {
            assert_eq!(serde_json::to_value(issue).ok(), Some(serde_json::json!(issue.code())));
        }
    }
}
