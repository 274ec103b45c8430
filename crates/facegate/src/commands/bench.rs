//! `facegate bench`: latency of each stage (p50 / p95 / p99) and throughput of whole comparisons.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use vision::align::align_face;
use vision::{FacePipeline, StageTimes, Wanted};

use super::{print_json, read_file};
use crate::cli::CommonArgs;

/// Sample photos used when no image is named, relative to the working directory (the repository root).
const DEFAULT_IMAGES: [&str; 2] =
    ["../shared/data/samples/face_recognition/obama.jpg", "../shared/data/samples/face_recognition/biden.jpg"];

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub runs: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

/// Nearest-rank percentiles of a sample of durations in milliseconds.
pub fn percentiles(mut samples: Vec<f64>) -> Percentiles {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let at = |q: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        samples[rank - 1]
    };
    let mean = if n == 0 { 0.0 } else { samples.iter().sum::<f64>() / n as f64 };
    Percentiles { runs: n, p50_ms: at(0.50), p95_ms: at(0.95), p99_ms: at(0.99), mean_ms: mean }
}

fn time_runs(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Percentiles> {
    f()?; // warm-up: plans the input shape
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(percentiles(samples))
}

#[derive(Serialize)]
struct StageReport {
    image: String,
    width: u32,
    height: u32,
    decode: Percentiles,
    /// Detection of the largest face (coarse to fine), as a comparison or a login does it.
    detect: Percentiles,
    /// Detection of every face at the full detection size, as a listing or a group photo needs.
    detect_every: Percentiles,
    align: Percentiles,
    embed: Percentiles,
    /// Two faces embedded as one batch (what a comparison would gain by batching its two faces).
    embed_batch_of_two: Percentiles,
    /// Face analysis of the largest face: the mesh twice, the attention mesh, the expression network.
    analyze: Percentiles,
    /// What a liveness frame costs as the frame route measures it (decode, detect at the full size, analyse,
    /// hash the pixels) when the session does not want its identity checked ...
    liveness_frame_unchecked: Percentiles,
    /// ... and when it does (the template too: `liveness::Session::identity_wanted`).
    liveness_frame: Percentiles,
}

#[derive(Serialize)]
struct Throughput {
    workers: usize,
    compares: usize,
    seconds: f64,
    compares_per_second: f64,
}

#[derive(Serialize)]
struct BenchReport {
    model: String,
    backend: &'static str,
    cores: usize,
    stages: Vec<StageReport>,
    /// Whole comparison (both images decoded, detected, aligned, embedded, then compared), one thread.
    compare_single_thread: Percentiles,
    /// The same with the inference engine using every core inside each model run.
    compare_all_threads: Percentiles,
    throughput: Vec<Throughput>,
    /// Per-operator times inside the detector (at the coarse and the full size) and the embedding model, on
    /// the first image (`--profile`, tract only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    profiles: Vec<ModelProfile>,
}

#[derive(Serialize)]
struct ModelProfile {
    model: String,
    input: String,
    operators: Vec<vision::runtime::OperatorTime>,
}

fn compare_once(pipeline: &FacePipeline, a: &[u8], b: &[u8]) -> Result<f32> {
    let (_, ea, _) = pipeline.template_of(a, None)?;
    let (_, eb, _) = pipeline.template_of(b, None)?;
    Ok(ea.cosine(&eb)?)
}

pub fn run(common: &CommonArgs, images: &[PathBuf], runs: usize, json: bool, profile: bool) -> Result<()> {
    let images: Vec<PathBuf> = if images.is_empty() {
        DEFAULT_IMAGES.iter().map(PathBuf::from).filter(|p| p.is_file()).collect()
    } else {
        images.to_vec()
    };
    if images.is_empty() {
        bail!("no images to time: name one or more (the default samples under ../shared/data were not found)");
    }
    let runs = runs.max(1);
    let cores = common.threads();
    let pipeline = FacePipeline::new(common.pipeline_config(1)).context("loading the face models")?;
    let bytes: Vec<Vec<u8>> = images.iter().map(|p| read_file(p)).collect::<Result<_>>()?;

    let mut stages = Vec::new();
    for (path, data) in images.iter().zip(&bytes) {
        stages.push(stage_report(&pipeline, path, data, runs)?);
    }

    let (a, b) = (&bytes[0], bytes.get(1).unwrap_or(&bytes[0]));
    let compare_single_thread = time_runs(runs, || compare_once(&pipeline, a, b).map(|_| ()))?;

    let mut throughput = Vec::new();
    let mut worker_counts = vec![1];
    if cores > 1 {
        worker_counts.push(cores);
    }
    for workers in worker_counts {
        let compares = runs.max(workers * 4);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build()?;
        let t = Instant::now();
        pool.install(|| (0..compares).into_par_iter().try_for_each(|_| compare_once(&pipeline, a, b).map(|_| ())))?;
        let seconds = t.elapsed().as_secs_f64();
        throughput.push(Throughput { workers, compares, seconds, compares_per_second: compares as f64 / seconds });
    }

    let profiles = if profile { profile_models(&pipeline, &bytes[0])? } else { Vec::new() };

    // Last, the same comparison with every core inside each model run (the lowest single-request latency).
    let backend = pipeline.backend();
    let model = pipeline.embedding_model().to_string();
    drop(pipeline);
    let wide = FacePipeline::new(common.pipeline_config(cores)).context("loading the face models")?;
    let compare_all_threads = time_runs(runs, || compare_once(&wide, a, b).map(|_| ()))?;

    let report =
        BenchReport { model, backend, cores, stages, compare_single_thread, compare_all_threads, throughput, profiles };
    if json {
        return print_json(&report);
    }
    println!(
        "facegate bench: model {}, backend {}, {} cores, {} runs per figure",
        report.model, report.backend, cores, runs
    );
    println!("  {:<44} {:>9} {:>9} {:>9}", "stage (one thread)", "p50 ms", "p95 ms", "p99 ms");
    let line =
        |name: &str, p: &Percentiles| println!("  {:<44} {:>9.2} {:>9.2} {:>9.2}", name, p.p50_ms, p.p95_ms, p.p99_ms);
    for s in &report.stages {
        let name = Path::new(&s.image).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!("  {} ({}x{})", name, s.width, s.height);
        line("    decode", &s.decode);
        line("    detect the largest face (coarse to fine)", &s.detect);
        line("    detect every face (full size)", &s.detect_every);
        line("    align", &s.align);
        line("    embed", &s.embed);
        line("    embed two faces as one batch", &s.embed_batch_of_two);
        line("    analyze (mesh x2, eyelids, expression)", &s.analyze);
        line("    liveness frame, identity not checked", &s.liveness_frame_unchecked);
        line("    liveness frame, identity checked", &s.liveness_frame);
    }
    line("compare end to end, 1 thread", &report.compare_single_thread);
    line(&format!("compare end to end, {cores} threads per model"), &report.compare_all_threads);
    for t in &report.throughput {
        println!(
            "  throughput, {} worker(s): {:.2} compares/s ({} in {:.1} s)",
            t.workers, t.compares_per_second, t.compares, t.seconds
        );
    }
    for p in &report.profiles {
        let total: f64 = p.operators.iter().map(|o| o.ms).sum();
        println!("  {} at {}: {total:.1} ms in operators", p.model, p.input);
        for o in p.operators.iter().take(8) {
            println!(
                "    {:<32} {:>3} nodes {:>8.2} ms {:>5.1} %",
                o.op,
                o.nodes,
                o.ms,
                100.0 * o.ms / total.max(1e-9)
            );
        }
    }
    if profile && report.profiles.is_empty() {
        println!("  (--profile: the {} engine does not report per-operator times)", report.backend);
    }
    Ok(())
}

/// Per-operator times of the detector at the coarse and the full size and of the embedding model, on one
/// image's largest face; the median of five runs of each operator kind.
fn profile_models(pipeline: &FacePipeline, data: &[u8]) -> Result<Vec<ModelProfile>> {
    let decoded = pipeline.decode(data)?;
    let found = pipeline.find_faces(&decoded.rgb)?;
    let face = found.largest()?;
    let detector = pipeline.config().detector;
    let median_of = |runs: Vec<Vec<vision::runtime::OperatorTime>>| -> Vec<vision::runtime::OperatorTime> {
        let Some(first) = runs.first() else { return Vec::new() };
        let mut out: Vec<vision::runtime::OperatorTime> = first
            .iter()
            .map(|o| {
                let mut ms: Vec<f64> =
                    runs.iter().filter_map(|r| r.iter().find(|x| x.op == o.op).map(|x| x.ms)).collect();
                ms.sort_by(f64::total_cmp);
                vision::runtime::OperatorTime { op: o.op.clone(), nodes: o.nodes, ms: ms[ms.len() / 2] }
            })
            .collect();
        out.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        out
    };
    let mut profiles = Vec::new();
    for side in [detector.coarse_side, detector.max_side].into_iter().filter(|&s| s >= 32) {
        let mut runs = Vec::new();
        for _ in 0..5 {
            match pipeline.detector().profile(&found.image, side)? {
                Some(r) => runs.push(r),
                None => return Ok(Vec::new()),
            }
        }
        profiles.push(ModelProfile {
            model: "yunet".into(),
            input: format!("long side {side}"),
            operators: median_of(runs),
        });
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        if let Some(r) = pipeline.embedder().profile(&[&face.aligned])? {
            runs.push(r);
        }
    }
    if !runs.is_empty() {
        let model = pipeline.embedding_model().to_string();
        profiles.push(ModelProfile { model, input: "one 112x112 face".into(), operators: median_of(runs) });
    }
    Ok(profiles)
}

fn stage_report(pipeline: &FacePipeline, path: &Path, data: &[u8], runs: usize) -> Result<StageReport> {
    let decoded = pipeline.decode(data).with_context(|| format!("{}", path.display()))?;
    let found = pipeline.find_faces(&decoded.rgb)?;
    let face = found.largest().with_context(|| format!("{}", path.display()))?.clone();
    let decode = time_runs(runs, || pipeline.decode(data).map(|_| ()).map_err(Into::into))?;
    let max_side = pipeline.config().detector.max_side;
    let detect_with = |wanted: Wanted| {
        time_runs(runs, || {
            let mut times = StageTimes::default();
            pipeline.find_faces_timed(&decoded.rgb, max_side, wanted, &mut times).map(|_| ()).map_err(Into::into)
        })
    };
    let detect = detect_with(Wanted::Largest)?;
    let detect_every = detect_with(Wanted::Every)?;
    let align = time_runs(runs, || {
        let _ = align_face(&found.image, &face.detection.landmarks);
        Ok(())
    })?;
    let embed = time_runs(runs, || pipeline.embed(&[&face]).map(|_| ()).map_err(Into::into))?;
    let embed_batch_of_two = time_runs(runs, || pipeline.embed(&[&face, &face]).map(|_| ()).map_err(Into::into))?;
    let analyze = time_runs(runs, || {
        pipeline.analyzer().analyze(&found.image, &face.detection.bbox).map(|_| ()).map_err(Into::into)
    })?;
    // A liveness frame as the frame route measures it: detected at the full size (the session's still-picture
    // checks need steady boxes), the template only where the session wants the identity checked.
    let min_px = app::ServerConfig::default().liveness_min_face_px;
    let frame = |identity: bool| {
        time_runs(runs, || {
            let decoded = pipeline.decode(data)?;
            let found = pipeline.find_faces_timed(&decoded.rgb, max_side, Wanted::Every, &mut StageTimes::default())?;
            let template = liveness::Template::WhenWanted;
            let mut measured = liveness::measure_faces(pipeline, None, &found.image, &found.faces, min_px, template)?;
            if identity {
                measured.take_template(pipeline)?.context("no face")?;
            }
            Ok(())
        })
    };
    let liveness_frame_unchecked = frame(false)?;
    let liveness_frame = frame(true)?;
    Ok(StageReport {
        image: path.display().to_string(),
        width: decoded.width(),
        height: decoded.height(),
        decode,
        detect,
        detect_every,
        align,
        embed,
        embed_batch_of_two,
        analyze,
        liveness_frame_unchecked,
        liveness_frame,
    })
}

#[cfg(test)]
mod tests {
    use super::percentiles;

    #[test]
    fn nearest_rank_percentiles() {
        let p = percentiles((1..=100).map(f64::from).collect());
        assert_eq!((p.p50_ms, p.p95_ms, p.p99_ms), (50.0, 95.0, 99.0));
        assert_eq!(p.mean_ms, 50.5);
        let one = percentiles(vec![7.0]);
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
    }
}
