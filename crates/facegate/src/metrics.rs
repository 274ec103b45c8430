//! Verification metrics: the LFW View-2 protocol (per-fold thresholds chosen on the other folds), ROC AUC,
//! true accept rate at a false accept rate, and the score tables used for calibration. Pure functions over
//! scored pairs, so they are tested on their own.

use serde::Serialize;

/// One scored pair: its fold, whether both images show the same person, and the cosine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    pub fold: usize,
    pub same: bool,
    pub score: f32,
}

/// The accuracy of threshold `t` on `pairs` (a pair matches when score >= t).
pub fn accuracy_at(pairs: &[&ScoredPair], t: f32) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let correct = pairs.iter().filter(|p| (p.score >= t) == p.same).count();
    correct as f64 / pairs.len() as f64
}

/// The threshold with the best accuracy on `pairs`: candidates are midpoints between consecutive distinct
/// scores, and the lowest of equally good thresholds wins.
pub fn best_threshold(pairs: &[&ScoredPair]) -> f32 {
    let mut scores: Vec<f32> = pairs.iter().map(|p| p.score).collect();
    scores.sort_by(f32::total_cmp);
    scores.dedup();
    if scores.is_empty() {
        return 0.0;
    }
    // Sweep: sort pairs by score, count matches above each cut.
    let mut sorted: Vec<&&ScoredPair> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    let total_same = pairs.iter().filter(|p| p.same).count();
    // Threshold below everything: all predicted same.
    let mut best = (total_same, scores[0] - 1e-6);
    let (mut diff_below, mut same_below) = (0usize, 0usize);
    let mut i = 0;
    while i < sorted.len() {
        let s = sorted[i].score;
        while i < sorted.len() && sorted[i].score == s {
            if sorted[i].same {
                same_below += 1;
            } else {
                diff_below += 1;
            }
            i += 1;
        }
        let next = if i < sorted.len() { sorted[i].score } else { s + 1e-3 };
        let correct = diff_below + (total_same - same_below);
        if correct > best.0 {
            best = (correct, (s + next) / 2.0);
        }
    }
    best.1
}

/// The LFW protocol's result.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolResult {
    pub pairs: usize,
    pub folds: usize,
    pub fold_accuracies: Vec<f64>,
    pub fold_thresholds: Vec<f32>,
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub auc: f64,
    pub tar_at_far_1e3: f64,
    pub tar_at_far_1e2: f64,
    pub threshold_best: f32,
    pub threshold_far_1e3: f32,
    pub threshold_far_1e2: f32,
}

/// Ten-fold (or n-fold) cross-validated accuracy, plus whole-set ROC figures.
pub fn lfw_protocol(pairs: &[ScoredPair], folds: usize) -> ProtocolResult {
    let mut fold_accuracies = Vec::with_capacity(folds);
    let mut fold_thresholds = Vec::with_capacity(folds);
    for f in 0..folds {
        let train: Vec<&ScoredPair> = pairs.iter().filter(|p| p.fold != f).collect();
        let test: Vec<&ScoredPair> = pairs.iter().filter(|p| p.fold == f).collect();
        let t = best_threshold(&train);
        fold_thresholds.push(t);
        fold_accuracies.push(accuracy_at(&test, t));
    }
    let n = fold_accuracies.len().max(1) as f64;
    let mean = fold_accuracies.iter().sum::<f64>() / n;
    let std = (fold_accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    let all: Vec<&ScoredPair> = pairs.iter().collect();
    let genuine: Vec<f32> = pairs.iter().filter(|p| p.same).map(|p| p.score).collect();
    let impostor: Vec<f32> = pairs.iter().filter(|p| !p.same).map(|p| p.score).collect();
    let (tar3, t3) = tar_at_far(&genuine, &impostor, 1e-3);
    let (tar2, t2) = tar_at_far(&genuine, &impostor, 1e-2);
    ProtocolResult {
        pairs: pairs.len(),
        folds,
        fold_accuracies,
        fold_thresholds,
        accuracy_mean: mean,
        accuracy_std: std,
        auc: auc(&genuine, &impostor),
        tar_at_far_1e3: tar3,
        tar_at_far_1e2: tar2,
        threshold_best: best_threshold(&all),
        threshold_far_1e3: t3,
        threshold_far_1e2: t2,
    }
}

/// Area under the ROC curve: the probability that a genuine pair outscores an impostor pair (ties count
/// half).
pub fn auc(genuine: &[f32], impostor: &[f32]) -> f64 {
    if genuine.is_empty() || impostor.is_empty() {
        return 0.0;
    }
    let mut all: Vec<(f32, bool)> =
        genuine.iter().map(|&s| (s, true)).chain(impostor.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Rank sum of genuine scores with average ranks for ties (Mann-Whitney U).
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0; // ranks are 1-based: (i+1 + j) / 2
        rank_sum += avg_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (ng, ni) = (genuine.len() as f64, impostor.len() as f64);
    (rank_sum - ng * (ng + 1.0) / 2.0) / (ng * ni)
}

/// The smallest threshold whose false accept rate is at most `far` (impostors accepted when score >= t,
/// so the threshold sits just above the impostor score that must be rejected), and the true accept rate
/// there.
pub fn tar_at_far(genuine: &[f32], impostor: &[f32], far: f64) -> (f64, f32) {
    let t = threshold_at_fmr(impostor, far);
    let tar = if genuine.is_empty() {
        0.0
    } else {
        genuine.iter().filter(|&&s| s >= t).count() as f64 / genuine.len() as f64
    };
    (tar, t)
}

/// Presentation attack detection figures (ISO/IEC 30107-3): APCER = attacks accepted as bona fide, BPCER =
/// bona fide presentations rejected, at `threshold` (bona fide when score >= threshold).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PadMetrics {
    pub threshold: f32,
    pub bona_fide: usize,
    pub attacks: usize,
    pub apcer: f64,
    pub bpcer: f64,
    pub acer: f64,
    pub auc: f64,
    /// BPCER with the threshold set so that APCER is at most 1 % (and 5 %).
    pub bpcer_at_apcer_1: f64,
    pub bpcer_at_apcer_5: f64,
}

pub fn pad_metrics(bona_fide: &[f32], attacks: &[f32], threshold: f32) -> PadMetrics {
    let rate = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let apcer = rate(attacks.iter().filter(|&&s| s >= threshold).count(), attacks.len());
    let bpcer = rate(bona_fide.iter().filter(|&&s| s < threshold).count(), bona_fide.len());
    let bpcer_at = |apcer: f64| 1.0 - tar_at_far(bona_fide, attacks, apcer).0;
    PadMetrics {
        threshold,
        bona_fide: bona_fide.len(),
        attacks: attacks.len(),
        apcer,
        bpcer,
        acer: (apcer + bpcer) / 2.0,
        auc: auc(bona_fide, attacks),
        bpcer_at_apcer_1: bpcer_at(0.01),
        bpcer_at_apcer_5: bpcer_at(0.05),
    }
}

/// The threshold at which at most a fraction `fmr` of `impostor` scores are at or above it.
pub fn threshold_at_fmr(impostor: &[f32], fmr: f64) -> f32 {
    if impostor.is_empty() {
        return 0.0;
    }
    let mut sorted = impostor.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a)); // descending
    let allowed = (fmr * sorted.len() as f64).floor() as usize;
    // `allowed` impostors may be accepted: the threshold sits just above the next one.
    let pivot = sorted[allowed.min(sorted.len() - 1)];
    next_up(pivot)
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 {
        1
    } else if x > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(fold: usize, same: bool, score: f32) -> ScoredPair {
        ScoredPair { fold, same, score }
    }

    #[test]
    fn separable_scores_give_perfect_accuracy_and_auc() {
        let mut pairs = Vec::new();
        for f in 0..3 {
            for k in 0..10 {
                pairs.push(pair(f, true, 0.6 + k as f32 * 0.01));
                pairs.push(pair(f, false, 0.1 + k as f32 * 0.01));
            }
        }
        let r = lfw_protocol(&pairs, 3);
        assert_eq!(r.accuracy_mean, 1.0);
        assert_eq!(r.auc, 1.0);
        assert!(r.threshold_best > 0.19 && r.threshold_best < 0.6, "{}", r.threshold_best);
        assert_eq!(r.tar_at_far_1e3, 1.0);
    }

    #[test]
    fn auc_of_interleaved_scores_counts_each_ordered_pair() {
        // genuine {0.2, 0.4}, impostor {0.1, 0.3}: of 4 (g, i) pairs, 3 have g > i.
        assert!((auc(&[0.2, 0.4], &[0.1, 0.3]) - 0.75).abs() < 1e-12);
        // A tie counts half.
        assert!((auc(&[0.5], &[0.5]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn threshold_at_fmr_rejects_all_but_the_allowed_impostors() {
        let impostor: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let t = threshold_at_fmr(&impostor, 1e-2);
        let accepted = impostor.iter().filter(|&&s| s >= t).count();
        assert_eq!(accepted, 10);
        let t0 = threshold_at_fmr(&impostor, 1e-4);
        assert_eq!(impostor.iter().filter(|&&s| s >= t0).count(), 0);
    }

    #[test]
    fn best_threshold_maximises_training_accuracy() {
        let pairs = [pair(0, false, 0.1), pair(0, false, 0.5), pair(0, true, 0.4), pair(0, true, 0.9)];
        let refs: Vec<&ScoredPair> = pairs.iter().collect();
        let t = best_threshold(&refs);
        assert_eq!(accuracy_at(&refs, t), 0.75);
    }
}
