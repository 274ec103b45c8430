//! `facegate eval`: accuracy on labelled data, with the project's own pipeline end to end.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use vision::similarity::{similarity, CalibrationPoint};
use vision::{Embedding, FacePipeline};

use super::{print_json, read_file};
use crate::cli::{CommonArgs, EvalCommand, LfwData};
use crate::lfw::{identity_of, parse_pairs, PairsFile};
use crate::metrics::{lfw_protocol, threshold_at_fmr, ProtocolResult, ScoredPair};

pub fn run(common: &CommonArgs, command: &EvalCommand) -> Result<()> {
    match command {
        EvalCommand::Lfw { data, json } => lfw(common, data, *json),
        EvalCommand::Calibrate { data, json } => calibrate(common, data, *json),
        EvalCommand::Identify { data, json } => identify(common, data, *json),
        EvalCommand::Smile { labels, root, threshold, scores, cues, json } => super::eval_liveness::smile(
            common,
            labels,
            root.as_deref(),
            *threshold,
            super::eval_liveness::Outputs { scores: scores.as_deref(), cues: cues.as_deref(), json: *json },
        ),
        EvalCommand::Blink { labels, root, threshold, scores, json } => {
            super::eval_liveness::blink(common, labels, root.as_deref(), *threshold, scores.as_deref(), *json)
        }
        EvalCommand::Stream { data, check, json } => {
            super::eval_stream::run(common, super::eval_stream::StreamArgs { data, check: *check, json: *json })
        }
        EvalCommand::Attacks { data, sessions, check, measurements, json } => super::eval_attacks::run(
            common,
            super::eval_attacks::AttackArgs {
                data,
                sessions: *sessions,
                check: *check,
                measurements: measurements.as_deref(),
                json: *json,
            },
        ),
        EvalCommand::Expressions { labels, root, json } => {
            super::eval_expressions::run(common, labels, root.as_deref(), *json)
        }
        EvalCommand::Pose { samples, genki, json } => {
            super::eval_liveness::pose(common, samples, genki.as_deref(), *json)
        }
        EvalCommand::Pad { labels, root, crops, threshold, scores, json } => super::eval_liveness::pad(
            common,
            super::eval_liveness::PadArgs {
                labels,
                root: root.as_deref(),
                crops: *crops,
                threshold: *threshold,
                scores: scores.as_deref(),
            },
            *json,
        ),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentifyOutput {
    model: String,
    /// Identities with two or more images in the pairs file: one enrolled, another searched.
    identities: usize,
    rank1: f64,
    rank5: f64,
    /// Probes whose top match is the right identity and reaches the default threshold (similarity 60).
    rank1_at_default_threshold: f64,
    /// Probes whose top match is someone else at or above the default threshold (false accepts).
    wrong_top_match_at_default_threshold: usize,
    faces_not_found: usize,
}

/// 1:N identification: one enrolled image per identity, another image of each searched among them all.
fn identify(common: &CommonArgs, data: &LfwData, json: bool) -> Result<()> {
    let (pipeline, file) = load(common, data)?;
    let mut by_identity: HashMap<String, BTreeSet<PathBuf>> = HashMap::new();
    for p in file.pairs.iter().filter(|p| p.same) {
        by_identity.entry(identity_of(&p.a)).or_default().extend([p.a.clone(), p.b.clone()]);
    }
    let mut people: Vec<(String, PathBuf, PathBuf)> = by_identity
        .into_iter()
        .filter_map(|(name, images)| {
            let mut it = images.into_iter();
            Some((name, it.next()?, it.next()?))
        })
        .collect();
    people.sort();
    let paths: Vec<PathBuf> = people.iter().flat_map(|(_, g, p)| [g.clone(), p.clone()]).collect();
    let templates = embed_images(&pipeline, &paths, common.threads(), data.photo_size)?;
    let model = pipeline.embedding_model();
    let mut gallery = index::FlatIndex::new(model.dimension())?;
    for (i, (_, g, _)) in people.iter().enumerate() {
        if let Some(Some(t)) = templates.get(g) {
            gallery.upsert(i, &t.vector)?;
        }
    }
    let threshold = vision::similarity::cosine_for_similarity(model, vision::similarity::DEFAULT_SIMILARITY_THRESHOLD);
    let (mut r1, mut r5, mut r1t, mut wrong) = (0usize, 0usize, 0usize, 0usize);
    for (i, (_, _, p)) in people.iter().enumerate() {
        let Some(Some(t)) = templates.get(p) else { continue };
        let hits = gallery.search(&t.vector, 5, -1.0)?;
        if hits.first().is_some_and(|h| h.id == i) {
            r1 += 1;
            if hits[0].score >= threshold {
                r1t += 1;
            }
        } else if hits.first().is_some_and(|h| h.score >= threshold) {
            wrong += 1;
        }
        if hits.iter().any(|h| h.id == i) {
            r5 += 1;
        }
    }
    let n = people.len().max(1) as f64;
    let out = IdentifyOutput {
        model: model.to_string(),
        identities: people.len(),
        rank1: r1 as f64 / n,
        rank5: r5 as f64 / n,
        rank1_at_default_threshold: r1t as f64 / n,
        wrong_top_match_at_default_threshold: wrong,
        faces_not_found: paths.iter().filter(|p| !matches!(templates.get(*p), Some(Some(_)))).count(),
    };
    if json {
        return print_json(&out);
    }
    println!(
        "{} identities ({}): rank-1 {:.2} %, rank-5 {:.2} %, rank-1 at similarity >= 60 {:.2} %, wrong top match >= 60: {}, faces not found: {}",
        out.identities,
        out.model,
        out.rank1 * 100.0,
        out.rank5 * 100.0,
        out.rank1_at_default_threshold * 100.0,
        out.wrong_top_match_at_default_threshold,
        out.faces_not_found
    );
    Ok(())
}

fn load(common: &CommonArgs, data: &LfwData) -> Result<(Arc<FacePipeline>, PairsFile)> {
    let text = std::fs::read_to_string(&data.pairs).with_context(|| format!("reading {}", data.pairs.display()))?;
    let pairs = parse_pairs(&text, &data.images).with_context(|| format!("parsing {}", data.pairs.display()))?;
    // Images are processed in parallel, one thread each: the fastest way through many images.
    let pipeline = FacePipeline::new(common.pipeline_config(1)).context("loading the face models")?;
    Ok((pipeline, pairs))
}

/// Templates of the given images: the face nearest the image centre (LFW images are centred on their
/// subject), or `None` where no face is found.
pub fn embed_images(
    pipeline: &FacePipeline,
    paths: &[PathBuf],
    threads: usize,
    photo_size: Option<u32>,
) -> Result<HashMap<PathBuf, Option<Embedding>>> {
    let bar = ProgressBar::new(paths.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("embedding");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let results: Vec<Result<(PathBuf, Option<Embedding>)>> = pool.install(|| {
        paths
            .par_iter()
            .map(|path| {
                let r = embed_centre_face(pipeline, path, photo_size).map(|e| (path.clone(), e));
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    results.into_iter().collect()
}

fn embed_centre_face(pipeline: &FacePipeline, path: &Path, photo_size: Option<u32>) -> Result<Option<Embedding>> {
    let bytes = read_file(path)?;
    let decoded = pipeline.decode(&bytes).with_context(|| format!("{}", path.display()))?;
    let scaled;
    let (img, wanted) = match photo_size {
        Some(side) => {
            let (w, h) = decoded.rgb.dimensions();
            let scale = side as f32 / w.max(h).max(1) as f32;
            let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
            scaled = vision::image::resize_bilinear(&decoded.rgb, sw, sh);
            (&scaled, vision::Wanted::Largest)
        }
        None => (&decoded.rgb, vision::Wanted::Every),
    };
    let max_side = pipeline.config().detector.max_side;
    let found = pipeline.find_faces_timed(img, max_side, wanted, &mut vision::StageTimes::default())?;
    let (cx, cy) = (found.image.width() as f32 / 2.0, found.image.height() as f32 / 2.0);
    let centre = found.faces.iter().min_by(|a, b| {
        let d = |f: &vision::Face| {
            let c = f.detection.bbox.center();
            (c.x - cx).powi(2) + (c.y - cy).powi(2)
        };
        d(a).total_cmp(&d(b))
    });
    match centre {
        None => Ok(None),
        Some(face) => Ok(pipeline.embed(&[face])?.into_iter().next()),
    }
}

#[derive(Serialize)]
struct LfwOutput {
    model: String,
    #[serde(flatten)]
    protocol: ProtocolResult,
    images: usize,
    faces_not_found: usize,
    pairs_without_face: usize,
}

fn lfw(common: &CommonArgs, data: &LfwData, json: bool) -> Result<()> {
    let (pipeline, file) = load(common, data)?;
    let unique: Vec<PathBuf> =
        file.pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect::<BTreeSet<_>>().into_iter().collect();
    let templates = embed_images(&pipeline, &unique, common.threads(), data.photo_size)?;
    let faces_not_found = templates.values().filter(|t| t.is_none()).count();
    let mut pairs_without_face = 0;
    let mut scored = Vec::with_capacity(file.pairs.len());
    for p in &file.pairs {
        // A pair whose face was not found counts as a non-match (score -1): an honest failure, not a skip.
        let score = match (templates.get(&p.a).and_then(Option::as_ref), templates.get(&p.b).and_then(Option::as_ref)) {
            (Some(a), Some(b)) => a.cosine(b)?,
            _ => {
                pairs_without_face += 1;
                -1.0
            }
        };
        scored.push(ScoredPair { fold: p.fold, same: p.same, score });
    }
    let out = LfwOutput {
        model: pipeline.embedding_model().to_string(),
        protocol: lfw_protocol(&scored, file.folds),
        images: unique.len(),
        faces_not_found,
        pairs_without_face,
    };
    if json {
        return print_json(&out);
    }
    let r = &out.protocol;
    println!("LFW View-2 protocol, model {}: {} pairs in {} folds, {} images", out.model, r.pairs, r.folds, out.images);
    println!("  accuracy        {:.2} % +- {:.2}", r.accuracy_mean * 100.0, r.accuracy_std * 100.0);
    println!("  ROC AUC         {:.5}", r.auc);
    println!("  TAR @ FAR 1e-3  {:.2} %  (cosine threshold {:.4})", r.tar_at_far_1e3 * 100.0, r.threshold_far_1e3);
    println!("  TAR @ FAR 1e-2  {:.2} %  (cosine threshold {:.4})", r.tar_at_far_1e2 * 100.0, r.threshold_far_1e2);
    println!("  best-accuracy cosine threshold {:.4}", r.threshold_best);
    println!("  faces not found {} (pairs scored as non-matches: {})", out.faces_not_found, out.pairs_without_face);
    Ok(())
}

#[derive(Serialize)]
struct CalibrationRow {
    fmr: f64,
    cosine: f32,
    /// Share of same-person pairs rejected at this threshold.
    fnmr: f64,
    /// The calibrated similarity the current table gives at this cosine.
    similarity_now: f32,
}

#[derive(Serialize)]
struct CalibrationOutput {
    model: String,
    images: usize,
    identities: usize,
    impostor_pairs: usize,
    genuine_pairs: usize,
    rows: Vec<CalibrationRow>,
}

/// FMR levels of the table: from 1 in 2 down to 1 in a million.
const FMR_LEVELS: [f64; 13] = [0.5, 0.2, 0.1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6];

fn calibrate(common: &CommonArgs, data: &LfwData, json: bool) -> Result<()> {
    let (pipeline, file) = load(common, data)?;
    let model = pipeline.embedding_model();
    let unique: Vec<PathBuf> =
        file.pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect::<BTreeSet<_>>().into_iter().collect();
    let templates = embed_images(&pipeline, &unique, common.threads(), data.photo_size)?;
    let found: Vec<(String, &Embedding)> =
        unique.iter().filter_map(|p| templates.get(p)?.as_ref().map(|e| (identity_of(p), e))).collect();
    let mut genuine = Vec::new();
    let mut impostor = Vec::with_capacity(found.len() * found.len() / 2);
    for i in 0..found.len() {
        for j in i + 1..found.len() {
            let c = vision::embed::cosine(&found[i].1.vector, &found[j].1.vector);
            if found[i].0 == found[j].0 {
                genuine.push(c);
            } else {
                impostor.push(c);
            }
        }
    }
    let identities = found.iter().map(|f| f.0.as_str()).collect::<BTreeSet<_>>().len();
    // A level is kept only where at least a few impostor pairs lie above it: below that it is noise.
    let rows: Vec<CalibrationRow> = FMR_LEVELS
        .iter()
        .filter(|&&fmr| fmr * impostor.len() as f64 >= 3.0)
        .map(|&fmr| {
            let cosine = threshold_at_fmr(&impostor, fmr);
            let fnmr = genuine.iter().filter(|&&g| g < cosine).count() as f64 / genuine.len().max(1) as f64;
            CalibrationRow { fmr, cosine, fnmr, similarity_now: similarity(model, cosine) }
        })
        .collect();
    let out = CalibrationOutput {
        model: model.to_string(),
        images: found.len(),
        identities,
        impostor_pairs: impostor.len(),
        genuine_pairs: genuine.len(),
        rows,
    };
    if json {
        return print_json(&out);
    }
    println!(
        "Calibration of {} on {} images of {} people: {} impostor pairs, {} genuine pairs",
        out.model, out.images, out.identities, out.impostor_pairs, out.genuine_pairs
    );
    println!("  {:>8}  {:>8}  {:>8}  {:>10}", "FMR", "cosine", "FNMR", "similarity");
    for r in &out.rows {
        println!("  {:>8.0e}  {:>8.4}  {:>7.2}%  {:>10.1}", r.fmr, r.cosine, r.fnmr * 100.0, r.similarity_now);
    }
    println!("Table for vision::similarity (ascending cosine):");
    let points: Vec<CalibrationPoint> =
        out.rows.iter().map(|r| CalibrationPoint { cosine: r.cosine, fmr: r.fmr }).collect();
    let body: Vec<String> = points.iter().map(|p| format!("{:.4} => {:e}", p.cosine, p.fmr)).collect();
    println!("table![{}]", body.join(", "));
    Ok(())
}
