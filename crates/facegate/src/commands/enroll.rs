//! `facegate enroll` and `facegate search`: the service's 1:N operations on its own store, without a
//! running server (a running one picks the new faces up from the store's change log).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use index::FlatIndex;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use store::{FaceBox, NewCollection, NewFace, Store};
use uuid::Uuid;
use vision::{Embedding, Face, FacePipeline};

use crate::cli::{BenchFillArgs, CommonArgs, EnrollArgs, ExternalIdFrom, SearchArgs, StoreArgs};

struct Context1N {
    runtime: tokio::runtime::Runtime,
    pipeline: Arc<FacePipeline>,
    store: Store,
    match_threshold: f32,
}

fn open(common: &CommonArgs, store_args: &StoreArgs) -> Result<Context1N> {
    let config = crate::settings::server_config(common, store_args, None)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if config.database.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    let store = runtime.block_on(Store::open(&config.database_url(), 2)).context("opening the store")?;
    let pipeline = FacePipeline::new(config.pipeline_config()?).context("loading the face models")?;
    Ok(Context1N { runtime, pipeline, store, match_threshold: config.match_threshold })
}

/// Image paths from the arguments, or from the list files they name.
fn image_paths(args: &[PathBuf], list: bool) -> Result<Vec<PathBuf>> {
    if !list {
        return Ok(args.to_vec());
    }
    let mut out = Vec::new();
    for file in args {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        out.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(PathBuf::from));
    }
    Ok(out)
}

fn progress(n: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) =
        ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}"))
    {
        bar.set_style(style);
    }
    if n < 2 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// The largest face of an image file and its template.
fn largest_face(pipeline: &FacePipeline, path: &Path, quality_filter: bool) -> Result<(Face, Embedding)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let decoded = pipeline.decode(&bytes)?;
    let found = pipeline.find_faces(&decoded.rgb)?;
    let face = found.largest()?.clone();
    if quality_filter && !face.quality.acceptable() {
        let issues: Vec<_> = face.quality.issues.iter().map(|i| i.code()).collect();
        bail!("below the quality bar: {}", issues.join(", "));
    }
    let template = pipeline.embed(&[&face])?.into_iter().next().context("no template")?;
    Ok((face, template))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnrollReport {
    collection: String,
    enrolled: usize,
    skipped: Vec<Skipped>,
}

#[derive(Serialize)]
struct Skipped {
    path: String,
    reason: String,
}

/// The collection, created when missing; an error when it holds another model's templates.
fn ensure_collection(ctx: &Context1N, collection: &str) -> Result<()> {
    let model = ctx.pipeline.embedding_model();
    if !store::valid_collection_id(collection) {
        bail!("collection ids are 1-255 characters of A-Z a-z 0-9 _ . -");
    }
    match ctx.runtime.block_on(ctx.store.get_collection(collection))? {
        Some(c) if c.model != model.id() => {
            bail!("collection {collection} holds {} templates, not {}", c.model, model.id())
        }
        Some(_) => {}
        None => {
            ctx.runtime.block_on(ctx.store.create_collection(&NewCollection {
                collection_id: collection.to_string(),
                description: None,
                model: model.id().to_string(),
                dimension: model.dimension(),
            }))?;
        }
    }
    Ok(())
}

/// Random unit templates (a xorshift generator; the sum of four uniforms per value is near enough to a
/// Gaussian to spread them over the sphere).
pub fn bench_fill(common: &CommonArgs, args: &BenchFillArgs) -> Result<()> {
    let ctx = open(common, &args.store)?;
    ensure_collection(&ctx, &args.collection)?;
    let dim = ctx.pipeline.embedding_model().dimension();
    let mut state = args.seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let bar = progress(args.count, "filling");
    let mut done = 0;
    while done < args.count {
        let batch = (args.count - done).min(5000);
        let faces: Vec<NewFace> = (0..batch)
            .map(|i| NewFace {
                face_id: Uuid::now_v7(),
                image_id: Uuid::new_v4(),
                external_id: Some(format!("synthetic-{}", done + i)),
                metadata: None,
                bbox: FaceBox { x: 0.0, y: 0.0, width: 0.0, height: 0.0 },
                detection_score: 0.0,
                quality: 0.0,
                template: (0..dim).map(|_| next() + next() + next() + next()).collect(),
            })
            .collect();
        ctx.runtime.block_on(ctx.store.add_faces(&args.collection, &faces, None))?;
        done += batch;
        bar.inc(batch as u64);
    }
    bar.finish_and_clear();
    println!("added {} synthetic templates to {}", args.count, args.collection);
    Ok(())
}

pub fn enroll(common: &CommonArgs, args: &EnrollArgs) -> Result<()> {
    let ctx = open(common, &args.store)?;
    ensure_collection(&ctx, &args.collection)?;
    let paths = image_paths(&args.images, args.list)?;
    let bar = progress(paths.len(), "enrolling");
    let mut report = EnrollReport { collection: args.collection.clone(), enrolled: 0, skipped: Vec::new() };
    for chunk in paths.chunks(64) {
        let results: Vec<_> = chunk
            .par_iter()
            .map(|p| {
                let r = largest_face(&ctx.pipeline, p, !args.no_quality_filter);
                bar.inc(1);
                (p, r)
            })
            .collect();
        let mut faces = Vec::new();
        for (path, result) in results {
            // The service's text rule (store::text) for the external id and the source path it records.
            let texts = external_id(args, path)
                .map(|id| clean_text("the external id", &id))
                .transpose()
                .and_then(|id| Ok((id, clean_text("the file name", &path.display().to_string())?)));
            match result.and_then(|r| Ok((r, texts?))) {
                Ok(((face, template), (external_id, source))) => {
                    let b = face.detection.bbox;
                    faces.push(NewFace {
                        face_id: Uuid::now_v7(),
                        image_id: Uuid::new_v4(),
                        external_id,
                        metadata: Some(serde_json::json!({ "source": source })),
                        bbox: FaceBox { x: b.x, y: b.y, width: b.width, height: b.height },
                        detection_score: face.detection.score,
                        quality: face.quality.score,
                        template: template.vector,
                    });
                }
                Err(e) => report.skipped.push(Skipped { path: path.display().to_string(), reason: format!("{e:#}") }),
            }
        }
        if !faces.is_empty() {
            ctx.runtime.block_on(ctx.store.add_faces(&args.collection, &faces, None))?;
            report.enrolled += faces.len();
        }
    }
    bar.finish_and_clear();
    if args.json {
        return crate::commands::print_json(&report);
    }
    println!("enrolled {} face(s) into {}", report.enrolled, report.collection);
    for s in &report.skipped {
        println!("skipped {}: {}", s.path, s.reason);
    }
    Ok(())
}

fn clean_text(what: &str, s: &str) -> Result<String> {
    store::text::normalize(s).map(|t| t.into_owned()).map_err(|e| anyhow::anyhow!("{what} {e}"))
}

fn external_id(args: &EnrollArgs, path: &Path) -> Option<String> {
    if let Some(id) = &args.external_id {
        return Some(id.clone());
    }
    let name = match args.external_id_from? {
        ExternalIdFrom::Stem => path.file_stem(),
        ExternalIdFrom::Dir => path.parent().and_then(Path::file_name),
    };
    name.map(|n| n.to_string_lossy().into_owned())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeResult {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    matches: Vec<ProbeMatch>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeMatch {
    face_id: Uuid,
    external_id: Option<String>,
    similarity: f32,
    cosine: f32,
}

pub fn search(common: &CommonArgs, args: &SearchArgs) -> Result<()> {
    let ctx = open(common, &args.store)?;
    let model = ctx.pipeline.embedding_model();
    let collection = ctx
        .runtime
        .block_on(ctx.store.get_collection(&args.collection))?
        .with_context(|| format!("collection {} does not exist", args.collection))?;
    if collection.model != model.id() {
        bail!("collection {} holds {} templates, not {}", args.collection, collection.model, model.id());
    }
    let threshold = args.threshold.unwrap_or(ctx.match_threshold);
    let min_cosine = vision::similarity::cosine_for_similarity(model, threshold);
    let mut index = FlatIndex::new(model.dimension())?;
    let mut external: HashMap<Uuid, Option<String>> = HashMap::new();
    ctx.runtime.block_on(ctx.store.for_each_template(Some(&args.collection), |row| {
        let _ = index.upsert(row.face_id, &row.template);
    }))?;
    let mut after = None;
    loop {
        let page = ctx.runtime.block_on(ctx.store.list_faces(&args.collection, after, 1000, None))?;
        let Some(last) = page.last() else { break };
        after = Some(last.face_id);
        external.extend(page.into_iter().map(|f| (f.face_id, f.external_id)));
    }
    let paths = image_paths(&args.images, args.list)?;
    let bar = progress(paths.len(), "searching");
    let results: Vec<ProbeResult> = paths
        .par_iter()
        .map(|path| {
            let outcome = largest_face(&ctx.pipeline, path, false)
                .and_then(|(_, t)| Ok(index.search(&t.vector, args.max_results, min_cosine)?));
            bar.inc(1);
            match outcome {
                Ok(hits) => ProbeResult {
                    path: path.display().to_string(),
                    error: None,
                    matches: hits
                        .into_iter()
                        .map(|h| ProbeMatch {
                            face_id: h.id,
                            external_id: external.get(&h.id).cloned().flatten(),
                            similarity: vision::similarity::similarity(model, h.score),
                            cosine: h.score,
                        })
                        .collect(),
                },
                Err(e) => {
                    ProbeResult { path: path.display().to_string(), error: Some(format!("{e:#}")), matches: vec![] }
                }
            }
        })
        .collect();
    bar.finish_and_clear();
    for r in &results {
        if args.json {
            println!("{}", serde_json::to_string(r)?);
            continue;
        }
        match (&r.error, r.matches.first()) {
            (Some(e), _) => println!("{}: error: {e}", r.path),
            (None, None) => println!("{}: no match at similarity >= {threshold}", r.path),
            (None, Some(_)) => {
                for m in &r.matches {
                    println!(
                        "{}: {} similarity {:.1} (face {})",
                        r.path,
                        m.external_id.as_deref().unwrap_or("-"),
                        m.similarity,
                        m.face_id
                    );
                }
            }
        }
    }
    Ok(())
}
