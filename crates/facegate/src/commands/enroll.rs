//! `facegate enroll` and `facegate search`: the service's 1:N use cases (the same code as `POST
//! /v1/collections/{id}/faces` and `.../search`) on its own store, without a running server (a running one
//! picks the new faces up from the store's change log). Results are printed in the HTTP API's vocabulary.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use app::error::Code;
use app::state::AppState;
use app::usecases::collections::{self, CollectionRef, IndexOptions, IndexSelection, SearchOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use server::dto::MatchDto;
use store::{FaceBox, NewFace};
use uuid::Uuid;

use crate::cli::{BenchFillArgs, CommonArgs, EnrollArgs, ExternalIdFrom, SearchArgs, StoreArgs};

/// The service opened on its store (models, indexes, inference workers), and a runtime to drive it.
struct Service {
    runtime: tokio::runtime::Runtime,
    app: AppState,
}

impl Service {
    fn open(common: &CommonArgs, store_args: &StoreArgs) -> Result<Self> {
        let config = crate::settings::server_config(common, store_args, None)?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let app = runtime.block_on(app::service::open(config, Some(s3::connect))).context("opening the service")?;
        Ok(Service { runtime, app })
    }

    fn close(self) {
        self.runtime.block_on(app::service::close(self.app));
    }

    /// Runs `work` on each item, as many at a time as the inference workers take, and gives the results in the
    /// items' order.
    fn each<T, R, F, Fut>(&self, items: Vec<T>, bar: &ProgressBar, work: F) -> Vec<R>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(AppState, T) -> Fut,
        Fut: std::future::Future<Output = R> + Send + 'static,
    {
        let in_flight = (self.app.pool.size() * 2).max(1);
        self.runtime.block_on(async {
            let mut running = tokio::task::JoinSet::new();
            let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
            let mut store = |done: Result<(usize, R), tokio::task::JoinError>| {
                if let Ok((i, r)) = done {
                    out[i] = Some(r);
                }
                bar.inc(1);
            };
            for (i, item) in items.into_iter().enumerate() {
                if running.len() >= in_flight {
                    if let Some(done) = running.join_next().await {
                        store(done);
                    }
                }
                let fut = work(self.app.clone(), item);
                running.spawn(async move { (i, fut.await) });
            }
            while let Some(done) = running.join_next().await {
                store(done);
            }
            out.into_iter().flatten().collect()
        })
    }
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
/// The operator at the command line, on the service's own store: every right, as an admin key has.
static CLI: std::sync::LazyLock<auth::Access> = std::sync::LazyLock::new(|| auth::Access::unrestricted("cli"));

fn ensure_collection(service: &Service, collection: &str) -> Result<()> {
    let app = &service.app;
    service.runtime.block_on(async {
        match collections::usable_collection(app, collection).await {
            Err(e) if e.code == Code::CollectionNotFound => {
                collections::create(app, &CLI, collection.to_string(), None).await?;
                Ok(())
            }
            other => other,
        }
    })?;
    Ok(())
}

/// Random unit templates (a xorshift generator; the sum of four uniforms per value is near enough to a
/// Gaussian to spread them over the sphere).
pub fn bench_fill(common: &CommonArgs, args: &BenchFillArgs) -> Result<()> {
    let service = Service::open(common, &args.store)?;
    ensure_collection(&service, &args.collection)?;
    let dim = service.app.model.dimension();
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
                bbox: FaceBox { x: 0.0, y: 0.0, width: 0.0, height: 0.0, image_size: None },
                detection_score: 0.0,
                quality: 0.0,
                template: (0..dim).map(|_| next() + next() + next() + next()).collect(),
            })
            .collect();
        service.runtime.block_on(service.app.store.add_faces(&args.collection, &faces, None))?;
        done += batch;
        bar.inc(batch as u64);
    }
    bar.finish_and_clear();
    service.close();
    println!("added {} synthetic templates to {}", args.count, args.collection);
    Ok(())
}

pub fn enroll(common: &CommonArgs, args: &EnrollArgs) -> Result<()> {
    let service = Service::open(common, &args.store)?;
    ensure_collection(&service, &args.collection)?;
    let paths = image_paths(&args.images, args.list)?;
    let bar = progress(paths.len(), "enrolling");
    let mut report = EnrollReport { collection: args.collection.clone(), enrolled: 0, skipped: Vec::new() };
    let quality_filter = !args.no_quality_filter;
    let jobs: Vec<(PathBuf, Result<IndexOptions>)> = paths
        .into_iter()
        .map(|path| {
            // The service's text rule (store::text) for the external id and the source path it records, as the
            // HTTP API applies it at its edge.
            let options = external_id(args, &path)
                .map(|id| clean_text("the external id", &id))
                .transpose()
                .and_then(|id| Ok((id, clean_text("the file name", &path.display().to_string())?)))
                .map(|(external_id, source)| IndexOptions {
                    selection: IndexSelection::Largest,
                    quality_filter,
                    external_id,
                    metadata: Some(serde_json::json!({ "source": source })),
                    client_request_token: None,
                    store_image: false,
                    measure: None,
                });
            (path, options)
        })
        .collect();
    let collection = args.collection.clone();
    let results = service.each(jobs, &bar, move |app, (path, options)| {
        let collection = collection.clone();
        async move {
            let indexed = async {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let collection = CollectionRef::of(&CLI, &collection)?;
                Ok::<_, anyhow::Error>(collections::index_faces(&app, collection, bytes.into(), options?).await?)
            };
            let indexed = indexed.await;
            (path, indexed)
        }
    });
    bar.finish_and_clear();
    service.close();
    for (path, result) in results {
        let reason = match result {
            Ok(indexed) if !indexed.records.is_empty() => {
                report.enrolled += indexed.records.len();
                continue;
            }
            Ok(indexed) => {
                let reasons: Vec<&str> =
                    indexed.not_indexed.iter().flat_map(|n| n.reasons.iter().map(|r| r.code())).collect();
                format!("below the quality bar: {}", reasons.join(", "))
            }
            Err(e) => format!("{e:#}"),
        };
        report.skipped.push(Skipped { path: path.display().to_string(), reason });
    }
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
    /// As `POST /v1/collections/{collectionId}/search` names them.
    matches: Vec<MatchDto>,
}

pub fn search(common: &CommonArgs, args: &SearchArgs) -> Result<()> {
    let service = Service::open(common, &args.store)?;
    let collection = args.collection.clone();
    service.runtime.block_on(collections::usable_collection(&service.app, &collection))?;
    // The service's rule: the match threshold unless one is given (0-100).
    let threshold = service.app.threshold(args.threshold)?;
    let options = SearchOptions {
        threshold: Some(threshold),
        max_results: Some(u32::try_from(args.max_results).unwrap_or(u32::MAX)),
        all_faces: false,
    };
    let paths = image_paths(&args.images, args.list)?;
    let bar = progress(paths.len(), "searching");
    let results: Vec<ProbeResult> = service.each(paths, &bar, move |app, path| {
        let collection = collection.clone();
        async move {
            let found = async {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let collection = CollectionRef::of(&CLI, &collection)?;
                Ok::<_, anyhow::Error>(collections::search(&app, collection, bytes.into(), options).await?)
            };
            let path = path.display().to_string();
            match found.await {
                Ok(found) => {
                    let matches = found.results.into_iter().next().map(|r| r.matches).unwrap_or_default();
                    ProbeResult { path, error: None, matches: matches.into_iter().map(MatchDto::from).collect() }
                }
                Err(e) => ProbeResult { path, error: Some(format!("{e:#}")), matches: vec![] },
            }
        }
    });
    bar.finish_and_clear();
    service.close();
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
