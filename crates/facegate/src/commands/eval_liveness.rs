//! `facegate eval pad` (and the other liveness signals): accuracy on the shared labelled sets, with the
//! service's own detection, crops and models.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use antispoof::{PassiveLiveness, PassiveScore};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use vision::{BBox, FacePipeline};

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
    let pipeline: Arc<FacePipeline> = load_pipeline(&CommonArgs { threads: Some(1), ..common.clone() })?;
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
    let threshold = threshold.unwrap_or(server::config::ServerConfig::default().passive_threshold);
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
