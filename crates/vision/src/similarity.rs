//! From cosine to a calibrated 0-100 similarity that reads as a false match rate.
//!
//! Each embedding model carries a table of cosine thresholds and the false match rate (FMR) measured at each
//! on LFW impostor pairs (every pair of images of two different people among the LFW images the pairs file
//! names, about 2.6 million pairs), produced by `facegate eval calibrate`. Between table points, log10(FMR) is
//! interpolated linearly in the cosine; beyond the end points it is extrapolated along the end segments.
//!
//! From 5 to 95, `similarity = 20 * log10(1 / FMR)`, so that a similarity threshold reads directly as a false
//! match rate: 20 = 1e-1, 40 = 1e-2, 60 = 1e-3, 80 = 1e-4, 95 = 1.8e-5. Beyond, where the measurement runs out
//! of impostor pairs, the two ends are compressed so that the similarity stays strictly increasing in the
//! cosine over the whole range: cosine 1 is 100 and cosine -1 is 0, and two matches of different cosines never
//! tie (they tied at 100 above FMR 1e-5, which every genuine pair passes). The compression joins the calibrated
//! part with the same slope and keeps enough room in an `f32` to order cosines 1e-4 apart.
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

/// Where the similarity stops reading as `20 * log10(1 / FMR)`: below `CALIBRATED.0` and above `CALIBRATED.1`
/// the ends are compressed into what is left of 0..100.
pub const CALIBRATED: (f32, f32) = (5.0, 95.0);

/// `20 * log10(1 / FMR)` at a cosine, unbounded (the table's end segments extrapolated).
fn decibels(model: EmbeddingModel, cosine: f64) -> f64 {
    let table = calibration(model);
    -POINTS_PER_DECADE * interpolate(table.iter().map(|p| (f64::from(p.cosine), p.fmr.log10())), cosine)
}

/// `x / (1 + x (1/room - 1/end))`: 0 at 0 with slope 1, `room` at `end`, increasing in between; `x` in 0..=end.
fn compress(x: f64, room: f64, end: f64) -> f64 {
    x / (1.0 + x * (1.0 / room - 1.0 / end))
}

/// The inverse of [`compress`] on 0..=room.
fn expand(y: f64, room: f64, end: f64) -> f64 {
    y / (1.0 - y * (1.0 / room - 1.0 / end))
}

/// The calibrated similarity, 0..100, strictly increasing in the cosine (-1..1).
pub fn similarity(model: EmbeddingModel, cosine: f32) -> f32 {
    let (lo, hi) = (f64::from(CALIBRATED.0), f64::from(CALIBRATED.1));
    // The ends exactly (the compression reaches them up to rounding).
    if cosine <= -1.0 {
        return 0.0;
    }
    if cosine >= 1.0 {
        return 100.0;
    }
    let c = f64::from(cosine);
    let db = decibels(model, c);
    let s = if db > hi {
        hi + compress(db - hi, 100.0 - hi, decibels(model, 1.0) - hi)
    } else if db < lo {
        lo - compress(lo - db, lo, lo - decibels(model, -1.0))
    } else {
        db
    };
    // `+ 0.0` turns a negative zero into zero.
    s.clamp(0.0, 100.0) as f32 + 0.0
}

/// The cosine threshold that gives a calibrated similarity (and so, from 5 to 95, a false match rate): the
/// inverse of [`similarity`]. A threshold of 0 (or less) admits every cosine (-1); 100 only cosine 1.
pub fn cosine_for_similarity(model: EmbeddingModel, similarity: f32) -> f32 {
    if similarity.is_nan() || similarity <= 0.0 {
        return -1.0;
    }
    if similarity >= 100.0 {
        return 1.0;
    }
    let (lo, hi) = (f64::from(CALIBRATED.0), f64::from(CALIBRATED.1));
    let s = f64::from(similarity);
    let db = if s > hi {
        hi + expand(s - hi, 100.0 - hi, decibels(model, 1.0) - hi)
    } else if s < lo {
        lo - expand(lo - s, lo, lo - decibels(model, -1.0))
    } else {
        s
    };
    let table = calibration(model);
    // The table is monotonic: swap axes and interpolate the other way.
    let cosine = interpolate(table.iter().rev().map(|p| (p.fmr.log10(), f64::from(p.cosine))), -db / POINTS_PER_DECADE);
    cosine.clamp(-1.0, 1.0) as f32
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
    fn similarity_strictly_increases_and_inverts() {
        for model in [EmbeddingModel::Sface, EmbeddingModel::Mobilefacenet] {
            let mut last = -1.0;
            // Every cosine 1e-4 apart over -1..1 reads a higher similarity than the one before.
            for i in 0..=20_000 {
                let c = -1.0 + i as f32 * 1e-4;
                let s = similarity(model, c);
                assert!(s > last || (i == 0 && s == 0.0), "{model}: {c} reads {s}, not above {last}");
                assert!((0.0..=100.0).contains(&s));
                last = s;
                let back = cosine_for_similarity(model, s);
                assert!((back - c).abs() < 2e-3, "{model}: {c} -> {s} -> {back}");
            }
        }
    }

    #[test]
    fn calibrated_between_5_and_95_and_continuous_at_the_joins() {
        for model in [EmbeddingModel::Sface, EmbeddingModel::Mobilefacenet] {
            for p in calibration(model) {
                let db = -20.0 * p.fmr.log10();
                if (5.0..=95.0).contains(&db) {
                    assert!((f64::from(similarity(model, p.cosine)) - db).abs() < 1e-3, "{model}: {p:?}");
                }
            }
            for join in [CALIBRATED.0, CALIBRATED.1] {
                let c = cosine_for_similarity(model, join);
                let (below, above) = (similarity(model, c - 1e-4), similarity(model, c + 1e-4));
                assert!(below < join && join < above && above - below < 0.2, "{model} at {join}: {below} {above}");
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
