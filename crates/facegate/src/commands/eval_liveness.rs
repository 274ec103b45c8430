//! `facegate eval pad` (and the other liveness signals): accuracy on the shared labelled sets, with the
//! service's own detection, crops and models.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use antispoof::{PassiveLiveness, PassiveScore};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use vision::{BBox, FaceAnalysis, FacePipeline};

use super::{load_pipeline, print_json, read_file};
use crate::cli::CommonArgs;
use crate::metrics::{pad_metrics, PadMetrics};

/// Rows of a labels CSV with a header: each row's fields by column name.
pub fn read_labels(path: &Path) -> Result<Vec<std::collections::HashMap<String, String>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> =
        lines.next().context("the labels file is empty")?.split(',').map(|h| h.trim().to_string()).collect();
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                bail!("{}: line {} has {} fields, the header {}", path.display(), i + 2, fields.len(), header.len());
            }
            Ok(header.iter().cloned().zip(fields.iter().map(|f| f.trim().to_string())).collect())
        })
        .collect()
}

pub fn load_passive(common: &CommonArgs) -> Result<PassiveLiveness> {
    let dir = common.models_dir.clone().unwrap_or_else(|| PathBuf::from("models"));
    let config = common.pipeline_config(1);
    let backend = vision::runtime::make_backend(config.backend, 1)?;
    Ok(PassiveLiveness::load(&dir, backend.as_ref())?)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PadOutput {
    labels: String,
    crops: bool,
    #[serde(flatten)]
    metrics: PadMetrics,
    /// Images where no face was found (counted as rejected: a bona fide one raises BPCER, an attack does not
    /// count as accepted).
    no_face_bona_fide: usize,
    no_face_attacks: usize,
    /// The published rule instead of the threshold: real when "real" wins the summed softmaxes.
    model_verdict_apcer: f64,
    model_verdict_bpcer: f64,
    ms_per_image: f64,
}

/// The ensemble's verdict on the largest face (or the whole crop); `None` without a face.
fn real_score(
    pipeline: &FacePipeline,
    passive: &PassiveLiveness,
    path: &Path,
    crops: bool,
) -> Result<Option<PassiveScore>> {
    let decoded = pipeline.decode(&read_file(path)?).with_context(|| path.display().to_string())?;
    let img = &decoded.rgb;
    if crops {
        let whole = BBox { x: 0.0, y: 0.0, width: img.width() as f32, height: img.height() as f32 };
        return Ok(Some(passive.score(img, &whole)?));
    }
    let found = pipeline.find_faces(img)?;
    let Some(i) = vision::pipeline::largest_face(&found.faces) else { return Ok(None) };
    Ok(Some(passive.score(&found.image, &found.faces[i].detection.bbox)?))
}

pub struct PadArgs<'a> {
    pub labels: &'a Path,
    pub root: Option<&'a Path>,
    pub crops: bool,
    pub threshold: Option<f32>,
    pub scores: Option<&'a Path>,
}

pub fn pad(common: &CommonArgs, args: PadArgs<'_>, json: bool) -> Result<()> {
    let PadArgs { labels, root, crops, threshold, scores: scores_file } = args;
    let root = root.map(Path::to_path_buf).unwrap_or_else(|| labels.parent().unwrap_or(Path::new(".")).to_path_buf());
    let rows = read_labels(labels)?;
    let items: Vec<(PathBuf, bool)> = rows
        .iter()
        .map(|r| {
            let path = r.get("path").context("the labels file has no `path` column")?;
            let live = match r.get("label").map(String::as_str) {
                Some("live") => true,
                Some("spoof") => false,
                other => bail!("label {other:?} is neither live nor spoof"),
            };
            Ok((root.join(path), live))
        })
        .collect::<Result<_>>()?;
    let pipeline = eval_pipeline(common)?;
    let passive = load_passive(common)?;
    let started = std::time::Instant::now();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(common.threads()).build()?;
    let scores: Vec<Result<Option<PassiveScore>>> =
        pool.install(|| items.par_iter().map(|(p, _)| real_score(&pipeline, &passive, p, crops)).collect());
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(file) = scores_file {
        let mut csv = String::from("path,label,score,real_per_model\n");
        for ((path, live), score) in items.iter().zip(&scores) {
            let score = score.as_ref().ok().and_then(Option::as_ref).map_or("no_face,".to_string(), |s| {
                let each: Vec<String> = s.per_model.iter().map(|p| format!("{:.6}", p[1])).collect();
                format!("{:.6},{}", s.real, each.join(" "))
            });
            let label = if *live { "live" } else { "spoof" };
            csv.push_str(&format!("{},{label},{score}\n", path.display()));
        }
        std::fs::write(file, csv).with_context(|| format!("writing {}", file.display()))?;
    }
    let (mut live, mut spoof, mut no_face_live, mut no_face_spoof) = (Vec::new(), Vec::new(), 0, 0);
    let (mut verdict_rejected_live, mut verdict_accepted_spoof) = (0usize, 0usize);
    for ((_, is_live), score) in items.iter().zip(scores) {
        match (score?, is_live) {
            (Some(s), true) => {
                verdict_rejected_live += usize::from(!s.model_verdict_real);
                live.push(s.real)
            }
            (Some(s), false) => {
                verdict_accepted_spoof += usize::from(s.model_verdict_real);
                spoof.push(s.real)
            }
            (None, true) => {
                no_face_live += 1;
                live.push(f32::NEG_INFINITY);
            }
            (None, false) => no_face_spoof += 1,
        }
    }
    let threshold = threshold.unwrap_or(app::config::ServerConfig::default().passive_threshold);
    let rate = |n: usize, d: usize| n as f64 / d.max(1) as f64;
    let out = PadOutput {
        model_verdict_apcer: rate(verdict_accepted_spoof, spoof.len()),
        model_verdict_bpcer: rate(verdict_rejected_live + no_face_live, live.len()),
        labels: labels.display().to_string(),
        crops,
        metrics: pad_metrics(&live, &spoof, threshold),
        no_face_bona_fide: no_face_live,
        no_face_attacks: no_face_spoof,
        ms_per_image: elapsed * 1000.0 * common.threads() as f64 / items.len().max(1) as f64,
    };
    if json {
        return print_json(&out);
    }
    let m = &out.metrics;
    println!("{}: {} bona fide, {} attacks (threshold {})", out.labels, m.bona_fide, m.attacks, m.threshold);
    println!(
        "APCER {:.2} %  BPCER {:.2} %  ACER {:.2} %  AUC {:.5}",
        m.apcer * 100.0,
        m.bpcer * 100.0,
        m.acer * 100.0,
        m.auc
    );
    println!(
        "the models' own rule (real wins the summed softmaxes): APCER {:.2} %  BPCER {:.2} %",
        out.model_verdict_apcer * 100.0,
        out.model_verdict_bpcer * 100.0
    );
    println!(
        "BPCER at APCER 1 %: {:.2} %   at APCER 5 %: {:.2} %",
        m.bpcer_at_apcer_1 * 100.0,
        m.bpcer_at_apcer_5 * 100.0
    );
    println!(
        "no face: {} bona fide, {} attacks; {:.1} ms per image per thread",
        out.no_face_bona_fide, out.no_face_attacks, out.ms_per_image
    );
    Ok(())
}

/// The analysis of the largest face, or of the whole image when no face is found in a small crop (GENKI's
/// 64x64 faces are often too tight for the detector).
/// The five-point yaw estimate ([`vision::quality`]) of the largest face of an image.
fn five_point_yaw(pipeline: &FacePipeline, path: &Path) -> Result<Option<f32>> {
    let decoded = pipeline.decode(&read_file(path)?).with_context(|| path.display().to_string())?;
    let found = pipeline.find_faces(&decoded.rgb)?;
    Ok(vision::pipeline::largest_face(&found.faces).map(|i| found.faces[i].quality.yaw))
}

fn analyse(pipeline: &FacePipeline, path: &Path) -> Result<Option<FaceAnalysis>> {
    let decoded = pipeline.decode(&read_file(path)?).with_context(|| path.display().to_string())?;
    let found = pipeline.find_faces(&decoded.rgb)?;
    if let Some(i) = vision::pipeline::largest_face(&found.faces) {
        return Ok(Some(pipeline.analyzer().analyze(&found.image, &found.faces[i].detection.bbox)?));
    }
    let img = &decoded.rgb;
    if img.width().max(img.height()) <= 160 {
        let whole = BBox { x: 0.0, y: 0.0, width: img.width() as f32, height: img.height() as f32 };
        return Ok(Some(pipeline.analyzer().analyze(img, &whole)?));
    }
    Ok(None)
}

/// The pipeline for the evaluations: one thread per model run, images analysed in parallel.
pub(super) fn eval_pipeline(common: &CommonArgs) -> Result<Arc<FacePipeline>> {
    load_pipeline(&CommonArgs { threads: Some(1), ..common.clone() })
}

fn five_point_yaws(common: &CommonArgs, pipeline: &FacePipeline, paths: &[PathBuf]) -> Result<Vec<Option<f32>>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(common.threads()).build()?;
    pool.install(|| paths.par_iter().map(|p| five_point_yaw(pipeline, p)).collect())
}

pub(super) fn analyse_all(
    common: &CommonArgs,
    pipeline: &FacePipeline,
    paths: &[PathBuf],
) -> Result<(Vec<Option<FaceAnalysis>>, f64)> {
    let started = std::time::Instant::now();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(common.threads()).build()?;
    let out: Vec<Result<Option<FaceAnalysis>>> =
        pool.install(|| paths.par_iter().map(|p| analyse(pipeline, p)).collect());
    let ms = started.elapsed().as_secs_f64() * 1000.0 * common.threads() as f64 / paths.len().max(1) as f64;
    Ok((out.into_iter().collect::<Result<_>>()?, ms))
}

fn write_scores(file: Option<&Path>, rows: &[(PathBuf, String, Option<f32>)]) -> Result<()> {
    let Some(file) = file else { return Ok(()) };
    let mut csv = String::from("path,label,score\n");
    for (p, label, s) in rows {
        csv.push_str(&format!(
            "{},{label},{}\n",
            p.display(),
            s.map_or(app::error::Code::NoFace.as_str().into(), |s| format!("{s:.5}"))
        ));
    }
    std::fs::write(file, csv).with_context(|| format!("writing {}", file.display()))
}

pub(super) fn root_of(labels: &Path, root: Option<&Path>) -> PathBuf {
    root.map(Path::to_path_buf).unwrap_or_else(|| labels.parent().unwrap_or(Path::new(".")).to_path_buf())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BinaryOutput {
    labels: String,
    threshold: f32,
    positives: usize,
    negatives: usize,
    accuracy: f64,
    auc: f64,
    /// Positives and negatives where no face could be analysed (counted as wrong).
    no_face: usize,
    ms_per_image: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    wink: Option<WinkOutput>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WinkOutput {
    images: usize,
    /// Wink images where exactly one eye reads closed.
    one_eye_closed: usize,
}

/// Accuracy and AUC of `score >= threshold` predicting `positive`.
pub(super) fn binary(labels: &Path, threshold: f32, items: &[(bool, Option<f32>)], ms: f64) -> BinaryOutput {
    let pos: Vec<f32> = items.iter().filter(|i| i.0).filter_map(|i| i.1).collect();
    let neg: Vec<f32> = items.iter().filter(|i| !i.0).filter_map(|i| i.1).collect();
    let correct = items.iter().filter(|(p, s)| s.is_some_and(|s| (s >= threshold) == *p)).count();
    BinaryOutput {
        labels: labels.display().to_string(),
        threshold,
        positives: items.iter().filter(|i| i.0).count(),
        negatives: items.iter().filter(|i| !i.0).count(),
        accuracy: correct as f64 / items.len().max(1) as f64,
        auc: crate::metrics::auc(&pos, &neg),
        no_face: items.iter().filter(|i| i.1.is_none()).count(),
        ms_per_image: ms,
        wink: None,
    }
}

pub(super) fn print_binary(what: &str, out: &BinaryOutput) {
    println!(
        "{what} on {}: {} positive, {} negative (threshold {})",
        out.labels, out.positives, out.negatives, out.threshold
    );
    println!(
        "accuracy {:.2} %  AUC {:.4}  no face {}  {:.1} ms per image per thread",
        out.accuracy * 100.0,
        out.auc,
        out.no_face,
        out.ms_per_image
    );
    if let Some(w) = &out.wink {
        println!("wink: {} of {} images read as one eye closed", w.one_eye_closed, w.images);
    }
}

/// Where `eval smile` writes its results.
pub struct Outputs<'a> {
    pub scores: Option<&'a Path>,
    pub cues: Option<&'a Path>,
    pub json: bool,
}

fn write_cues(file: Option<&Path>, paths: &[PathBuf], truth: &[bool], analyses: &[Option<FaceAnalysis>]) -> Result<()> {
    let Some(file) = file else { return Ok(()) };
    let mut csv = String::from("path,smile,happy_log_odds,mouth_width,corner_lift,mouth_open\n");
    for ((p, t), a) in paths.iter().zip(truth).zip(analyses) {
        let Some(a) = a else { continue };
        let c = a.smile_cues;
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            p.display(),
            u8::from(*t),
            c.happy_log_odds,
            c.mouth_width,
            c.corner_lift,
            c.mouth_open
        ));
    }
    std::fs::write(file, csv).with_context(|| format!("writing {}", file.display()))
}

pub fn smile(
    common: &CommonArgs,
    labels: &Path,
    root: Option<&Path>,
    threshold: Option<f32>,
    outputs: Outputs<'_>,
) -> Result<()> {
    let Outputs { scores, cues, json } = outputs;
    let root = root_of(labels, root);
    let rows = read_labels(labels)?;
    let mut paths = Vec::new();
    let mut truth = Vec::new();
    for r in &rows {
        let file = r.get("file").or_else(|| r.get("path")).context("the labels file has no `file` column")?;
        let smile = r.get("smile").context("the labels file has no `smile` column")?;
        paths.push(root.join(file));
        truth.push(smile == "1");
    }
    let pipeline = eval_pipeline(common)?;
    let (analyses, ms) = analyse_all(common, &pipeline, &paths)?;
    write_cues(cues, &paths, &truth, &analyses)?;
    let values: Vec<Option<f32>> = analyses.iter().map(|a| a.as_ref().map(|a| a.smile)).collect();
    let threshold = threshold.unwrap_or(app::config::ServerConfig::default().smile_threshold);
    let items: Vec<(bool, Option<f32>)> = truth.iter().copied().zip(values.iter().copied()).collect();
    write_scores(
        scores,
        &paths
            .iter()
            .zip(&items)
            .map(|(p, (t, s))| (p.clone(), if *t { "smile" } else { "neutral" }.into(), *s))
            .collect::<Vec<_>>(),
    )?;
    let out = binary(labels, threshold, &items, ms);
    if json {
        return print_json(&out);
    }
    print_binary("smile", &out);
    Ok(())
}

pub fn blink(
    common: &CommonArgs,
    labels: &Path,
    root: Option<&Path>,
    threshold: Option<f32>,
    scores: Option<&Path>,
    json: bool,
) -> Result<()> {
    let root = root_of(labels, root);
    let rows = read_labels(labels)?;
    let (mut paths, mut truth, mut winks) = (Vec::new(), Vec::new(), Vec::new());
    for r in &rows {
        let path = root.join(r.get("path").context("the labels file has no `path` column")?);
        match r.get("condition").map(String::as_str) {
            Some("sleepy") => {
                paths.push(path);
                truth.push(true);
            }
            Some("normal" | "happy" | "glasses" | "noglasses") => {
                paths.push(path);
                truth.push(false);
            }
            Some("wink") => winks.push(path),
            _ => {}
        }
    }
    let threshold = threshold.unwrap_or(app::config::ServerConfig::default().eye_closed_threshold);
    let pipeline = eval_pipeline(common)?;
    let (analyses, ms) = analyse_all(common, &pipeline, &paths)?;
    // Positive = closed: score the closure (the negated aspect ratio), closed when -EAR >= -threshold.
    let closure: Vec<Option<f32>> =
        analyses.iter().map(|a| a.as_ref().map(|a| -(a.eyes.left + a.eyes.right) / 2.0)).collect();
    let items: Vec<(bool, Option<f32>)> = truth.iter().copied().zip(closure.iter().copied()).collect();
    write_scores(
        scores,
        &paths
            .iter()
            .zip(&items)
            .map(|(p, (t, s))| (p.clone(), if *t { "closed" } else { "open" }.into(), s.map(|s| -s)))
            .collect::<Vec<_>>(),
    )?;
    let mut out = binary(labels, -threshold, &items, ms);
    out.threshold = threshold;
    let (wink_analyses, _) = analyse_all(common, &pipeline, &winks)?;
    out.wink = Some(WinkOutput {
        images: winks.len(),
        one_eye_closed: wink_analyses
            .iter()
            .flatten()
            .filter(|a| (a.eyes.left < threshold) != (a.eyes.right < threshold))
            .count(),
    });
    if json {
        return print_json(&out);
    }
    print_binary("eyes closed", &out);
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PoseSample {
    file: String,
    yaw: f32,
    /// The five-point estimate's yaw (no face found: `None`).
    five_point_yaw: Option<f32>,
    pitch: f32,
    roll: f32,
    /// The sign the file name implies held (`None` for files that imply none).
    sign_right: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PoseOutput {
    samples: Vec<PoseSample>,
    signs_right: usize,
    signs_checked: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_yaw_mae_degrees: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_yaw_correlation: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_images: Option<usize>,
    /// The five-point yaw estimate against the labels, over the images where both found a face.
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_five_point_yaw_mae_degrees: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_five_point_yaw_correlation: Option<f64>,
    /// The five-point yaw against the mesh's, on the same images.
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_five_point_against_mesh_mae_degrees: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_pitch_mae_degrees: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_pitch_correlation: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_roll_mae_degrees: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genki_roll_correlation: Option<f64>,
}

/// The mean absolute error and the correlation of measured against labelled angles (degrees). A dataset's sign
/// convention is its own: the error is taken in the convention that correlates.
fn agreement(pairs: &[(f64, f64)]) -> (f64, f64) {
    let n = pairs.len().max(1) as f64;
    let (mx, my) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let (vx, vy): (f64, f64) =
        (pairs.iter().map(|p| (p.0 - mx).powi(2)).sum(), pairs.iter().map(|p| (p.1 - my).powi(2)).sum());
    let correlation = cov / (vx.sqrt() * vy.sqrt()).max(1e-12);
    let sign = if correlation < 0.0 { -1.0 } else { 1.0 };
    (pairs.iter().map(|p| (p.0 - sign * p.1).abs()).sum::<f64>() / n, correlation)
}

pub fn pose(common: &CommonArgs, samples: &Path, genki: Option<&Path>, json: bool) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(samples)
        .with_context(|| format!("reading {}", samples.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let pipeline = eval_pipeline(common)?;
    let (analyses, _) = analyse_all(common, &pipeline, &files)?;
    let five_point = five_point_yaws(common, &pipeline, &files)?;
    let mut out = PoseOutput {
        samples: Vec::new(),
        signs_right: 0,
        signs_checked: 0,
        genki_yaw_mae_degrees: None,
        genki_yaw_correlation: None,
        genki_images: None,
        genki_five_point_yaw_mae_degrees: None,
        genki_five_point_yaw_correlation: None,
        genki_five_point_against_mesh_mae_degrees: None,
        genki_pitch_mae_degrees: None,
        genki_pitch_correlation: None,
        genki_roll_mae_degrees: None,
        genki_roll_correlation: None,
    };
    for ((path, a), five_point_yaw) in files.iter().zip(&analyses).zip(&five_point) {
        let Some(a) = a else { continue };
        let name = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        // Yaw > 0 turns toward the image's right; pitch > 0 looks up; roll > 0 tilts clockwise.
        let sign_right = match name.as_str() {
            "left_face" => Some(a.pose.yaw < 0.0),
            "right_face" => Some(a.pose.yaw > 0.0),
            "rise_face" => Some(a.pose.pitch > 0.0),
            "lower_face" => Some(a.pose.pitch < 0.0),
            "left_wryneck" => Some(a.pose.roll < 0.0),
            "right_wryneck" => Some(a.pose.roll > 0.0),
            _ => None,
        };
        if let Some(ok) = sign_right {
            out.signs_checked += 1;
            out.signs_right += usize::from(ok);
        }
        out.samples.push(PoseSample {
            file: name,
            yaw: a.pose.yaw,
            five_point_yaw: *five_point_yaw,
            pitch: a.pose.pitch,
            roll: a.pose.roll,
            sign_right,
        });
    }
    if let Some(labels) = genki {
        let root = root_of(labels, None);
        let rows = read_labels(labels)?;
        let mut paths = Vec::new();
        let mut labelled = Vec::new();
        for r in &rows {
            let file = r.get("file").context("no `file` column")?;
            let angle = |name: &str| -> Result<f64> {
                Ok(r.get(name).with_context(|| format!("no `{name}` column"))?.parse::<f64>()?.to_degrees())
            };
            paths.push(root.join(file));
            labelled.push([angle("yaw_rad")?, angle("pitch_rad")?, angle("roll_rad")?]);
        }
        let (analyses, _) = analyse_all(common, &pipeline, &paths)?;
        let measured: Vec<([f64; 3], [f64; 3])> = analyses
            .iter()
            .zip(&labelled)
            .filter_map(|(a, l)| {
                let p = a.as_ref()?.pose;
                Some(([f64::from(p.yaw), f64::from(p.pitch), f64::from(p.roll)], *l))
            })
            .collect();
        let axis = |k: usize| agreement(&measured.iter().map(|(m, l)| (m[k], l[k])).collect::<Vec<_>>());
        let ((yaw_mae, yaw_r), (pitch_mae, pitch_r), (roll_mae, roll_r)) = (axis(0), axis(1), axis(2));
        out.genki_yaw_mae_degrees = Some(yaw_mae);
        out.genki_yaw_correlation = Some(yaw_r);
        out.genki_pitch_mae_degrees = Some(pitch_mae);
        out.genki_pitch_correlation = Some(pitch_r);
        out.genki_roll_mae_degrees = Some(roll_mae);
        out.genki_roll_correlation = Some(roll_r);
        out.genki_images = Some(measured.len());
        let five_point = five_point_yaws(common, &pipeline, &paths)?;
        let against_labels: Vec<(f64, f64)> =
            five_point.iter().zip(&labelled).filter_map(|(y, l)| Some((f64::from((*y)?), l[0]))).collect();
        let (mae, r) = agreement(&against_labels);
        out.genki_five_point_yaw_mae_degrees = Some(mae);
        out.genki_five_point_yaw_correlation = Some(r);
        let against_mesh: Vec<(f64, f64)> = five_point
            .iter()
            .zip(&analyses)
            .filter_map(|(y, a)| Some((f64::from((*y)?), f64::from(a.as_ref()?.pose.yaw))))
            .collect();
        out.genki_five_point_against_mesh_mae_degrees = Some(agreement(&against_mesh).0);
    }
    if json {
        return print_json(&out);
    }
    for s in &out.samples {
        let verdict = s.sign_right.map_or("", |ok| if ok { "  sign right" } else { "  SIGN WRONG" });
        let five = s.five_point_yaw.map_or("-".to_string(), |y| format!("{y:.1}"));
        println!(
            "{:<16} yaw {:>6.1} (five points {five:>6})  pitch {:>6.1}  roll {:>6.1}{verdict}",
            s.file, s.yaw, s.pitch, s.roll
        );
    }
    println!("signs right: {} of {}", out.signs_right, out.signs_checked);
    if let (Some(mae), Some(r), Some(n)) = (out.genki_yaw_mae_degrees, out.genki_yaw_correlation, out.genki_images) {
        println!("GENKI yaw: MAE {mae:.1} degrees, correlation {r:.3} over {n} images");
    }
    if let (Some(mae), Some(r), Some(mesh)) = (
        out.genki_five_point_yaw_mae_degrees,
        out.genki_five_point_yaw_correlation,
        out.genki_five_point_against_mesh_mae_degrees,
    ) {
        println!("GENKI five-point yaw: MAE {mae:.1} degrees, correlation {r:.3}; MAE {mesh:.1} from the mesh's");
    }
    if let (Some(mae), Some(r)) = (out.genki_pitch_mae_degrees, out.genki_pitch_correlation) {
        println!("GENKI pitch: MAE {mae:.1} degrees, correlation {r:.3}");
    }
    if let (Some(mae), Some(r)) = (out.genki_roll_mae_degrees, out.genki_roll_correlation) {
        println!("GENKI roll: MAE {mae:.1} degrees, correlation {r:.3}");
    }
    Ok(())
}
