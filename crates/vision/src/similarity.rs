//! From cosine to a calibrated 0-100 similarity that reads as a false match rate.
//!
//! Each embedding model carries a table of cosine thresholds and the false match rate (FMR) measured at each
//! on LFW impostor pairs (every pair of images of two different people among the LFW images the pairs file
//! names, about 2.6 million pairs), produced by `facegate eval calibrate`. Between table points, log10(FMR) is
//! interpolated linearly in the cosine; beyond the last point it is extrapolated along the last segment.
//!
//! `similarity = 20 * log10(1 / FMR)`, clamped to 0..100, so that a similarity threshold reads directly as a
//! false match rate: 20 = 1e-1, 40 = 1e-2, 60 = 1e-3, 80 = 1e-4, 100 = 1e-5.

use serde::Serialize;

use crate::embed::EmbeddingModel;

/// One calibration point: at `cosine`, a fraction `fmr` of impostor pairs score at or above it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationPoint {
    pub cosine: f32,
    pub fmr: f64,
}

/// Similarity points per decade of false match rate.
pub const POINTS_PER_DECADE: f64 = 20.0;

/// The default decision threshold: FMR 1e-3.
pub const DEFAULT_SIMILARITY_THRESHOLD: f32 = 60.0;

/// The measured table of a model, ascending in cosine.
pub fn calibration(model: EmbeddingModel) -> &'static [CalibrationPoint] {
    match model {
        EmbeddingModel::Sface => SFACE_CALIBRATION,
        EmbeddingModel::Mobilefacenet => MOBILEFACENET_CALIBRATION,
    }
}

/// The false match rate expected at a cosine threshold.
pub fn fmr_at(model: EmbeddingModel, cosine: f32) -> f64 {
    let table = calibration(model);
    let log_fmr = interpolate(table.iter().map(|p| (f64::from(p.cosine), p.fmr.log10())), f64::from(cosine));
    10f64.powf(log_fmr).min(1.0)
}

/// The calibrated similarity, 0..100.
pub fn similarity(model: EmbeddingModel, cosine: f32) -> f32 {
    let fmr = fmr_at(model, cosine);
    // `+ 0.0` turns a negative zero into zero.
    (-POINTS_PER_DECADE * fmr.log10()).clamp(0.0, 100.0) as f32 + 0.0
}

/// The cosine threshold that gives a calibrated similarity (and so a false match rate).
///
/// Every cosine has a similarity of at least 0, so a threshold of 0 (or less) admits every cosine: -1.
pub fn cosine_for_similarity(model: EmbeddingModel, similarity: f32) -> f32 {
    if similarity.is_nan() || similarity <= 0.0 {
        return -1.0;
    }
    let log_fmr = -f64::from(similarity.clamp(0.0, 100.0)) / POINTS_PER_DECADE;
    let table = calibration(model);
    // The table is monotonic: swap axes and interpolate the other way.
    interpolate(table.iter().rev().map(|p| (p.fmr.log10(), f64::from(p.cosine))), log_fmr) as f32
}

/// Piecewise-linear interpolation over points ascending in x, extrapolated along the end segments.
fn interpolate(points: impl Iterator<Item = (f64, f64)>, x: f64) -> f64 {
    let pts: Vec<(f64, f64)> = points.collect();
    match pts.len() {
        0 => 0.0,
        1 => pts[0].1,
        n => {
            let seg = pts.windows(2).position(|w| x <= w[1].0).unwrap_or(n - 2);
            let (x0, y0) = pts[seg];
            let (x1, y1) = pts[seg + 1];
            if (x1 - x0).abs() < f64::EPSILON {
                y0
            } else {
                y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            }
        }
    }
}

macro_rules! table {
    ($($c:expr => $f:expr),* $(,)?) => { &[$(CalibrationPoint { cosine: $c, fmr: $f }),*] };
}

// Measured by `facegate eval calibrate` on the 2,320 LFW images of ../shared/data/lfw (1,241 people,
// 2,687,149 impostor pairs); levels below three impostor pairs above the threshold are left out as noise.
const SFACE_CALIBRATION: &[CalibrationPoint] = table![
    0.0878 => 5e-1, 0.1626 => 2e-1, 0.2014 => 1e-1, 0.2543 => 3e-2, 0.2936 => 1e-2, 0.3309 => 3e-3,
    0.3613 => 1e-3, 0.3922 => 3e-4, 0.4172 => 1e-4, 0.4425 => 3e-5, 0.4631 => 1e-5, 0.4876 => 3e-6,
];
const MOBILEFACENET_CALIBRATION: &[CalibrationPoint] = table![
    0.0119 => 5e-1, 0.1357 => 2e-1, 0.2005 => 1e-1, 0.2869 => 3e-2, 0.3499 => 1e-2, 0.4089 => 3e-3,
    0.4549 => 1e-3, 0.4985 => 3e-4, 0.5347 => 1e-4, 0.5653 => 3e-5, 0.5970 => 1e-5, 0.6251 => 3e-6,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_ascend_in_cosine_and_descend_in_fmr() {
        for model in [EmbeddingModel::Sface, EmbeddingModel::Mobilefacenet] {
            for w in calibration(model).windows(2) {
                assert!(w[0].cosine < w[1].cosine && w[0].fmr > w[1].fmr, "{model}: {w:?}");
            }
        }
    }

    #[test]
    fn similarity_reads_as_a_false_match_rate() {
        for model in [EmbeddingModel::Sface, EmbeddingModel::Mobilefacenet] {
            let at_1e3 = calibration(model).iter().find(|p| p.fmr == 1e-3).expect("a 1e-3 point");
            assert!((similarity(model, at_1e3.cosine) - 60.0).abs() < 1e-3);
            assert!((cosine_for_similarity(model, 60.0) - at_1e3.cosine).abs() < 1e-4);
            assert_eq!(similarity(model, -1.0), 0.0);
            assert_eq!(similarity(model, 1.0), 100.0);
        }
    }

    #[test]
    fn similarity_is_monotonic_and_inverts() {
        let model = EmbeddingModel::Sface;
        let mut last = -1.0;
        for i in 0..=100 {
            let c = -0.2 + i as f32 * 0.01;
            let s = similarity(model, c);
            assert!(s >= last, "not monotonic at {c}");
            last = s;
            if s > 0.5 && s < 99.5 {
                assert!((cosine_for_similarity(model, s) - c).abs() < 1e-3, "round trip at {c}");
            }
        }
    }

    #[test]
    fn a_zero_threshold_admits_every_cosine() {
        for model in [EmbeddingModel::Sface, EmbeddingModel::Mobilefacenet] {
            assert_eq!(cosine_for_similarity(model, 0.0), -1.0);
            assert!(cosine_for_similarity(model, 0.01) > -1.0);
        }
    }
}
