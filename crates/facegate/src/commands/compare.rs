//! `facegate compare`: the service's comparison use case (the same code, threshold and vocabulary as
//! `POST /v1/compare`) on two image files, without a server or a store.

use std::path::Path;

use anyhow::{Context, Result};
use app::usecases::faces::{self, CompareOptions};
use serde::Serialize;
use server::dto::FaceDto;
use vision::similarity::{cosine_for_similarity, fmr_at};
use vision::StageTimes;

use super::{open_stateless, print_json, read_file};
use crate::cli::CommonArgs;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompareOutput {
    model: String,
    cosine: f32,
    similarity: f32,
    /// The false match rate expected at this score (from the LFW calibration).
    false_match_rate: f64,
    threshold: f32,
    cosine_threshold: f32,
    /// `match`, as the HTTP API names it.
    #[serde(rename = "match")]
    is_match: bool,
    source: Side,
    target: Side,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Side {
    image: String,
    /// The face in the HTTP API's shape (`boundingBox`, `landmarks`, `confidence`, `quality`).
    face: FaceDto,
    times: StageTimes,
}

pub struct CompareArgs<'a> {
    pub a: &'a Path,
    pub b: &'a Path,
    pub json: bool,
    pub threshold: Option<f32>,
    pub cosine_threshold: Option<f32>,
    pub face: Option<usize>,
}

pub fn run(common: &CommonArgs, args: CompareArgs<'_>) -> Result<()> {
    let (a, b) = (read_file(args.a)?, read_file(args.b)?);
    let (runtime, app) = open_stateless(common)?;
    let model = app.model;
    // A cosine threshold is the calibrated similarity it maps to: the service decides on similarities.
    let threshold = args.cosine_threshold.map(|c| app.similarity(c)).or(args.threshold);
    let options = CompareOptions { threshold, face: args.face, ..CompareOptions::default() };
    let compared = runtime.block_on(faces::compare(&app, a.into(), b.into(), options));
    runtime.block_on(app::service::close(app));
    let c = compared.with_context(|| format!("comparing {} with {}", args.a.display(), args.b.display()))?;
    let (similarity, cosine) = c.best();
    let target_face = c.matches.first().or(c.unmatched.first()).map(|m| FaceDto::from(&m.face));
    let out = CompareOutput {
        model: c.face_model.clone(),
        cosine,
        similarity,
        false_match_rate: fmr_at(model, cosine),
        threshold: c.threshold,
        cosine_threshold: args.cosine_threshold.unwrap_or_else(|| cosine_for_similarity(model, c.threshold)),
        is_match: c.is_match(),
        source: Side {
            image: args.a.display().to_string(),
            face: FaceDto::from(&c.source_face),
            times: c.source_times,
        },
        target: Side {
            image: args.b.display().to_string(),
            face: target_face.context("the comparison found no target face")?,
            times: c.target_times,
        },
    };
    if args.json {
        return print_json(&out);
    }
    println!(
        "{}: cosine {:.4}, similarity {:.2}/100 -> {} (threshold {:.2}, cosine {:.4}; model {})",
        if out.is_match { "MATCH" } else { "NO MATCH" },
        out.cosine,
        out.similarity,
        if out.is_match { "same person" } else { "different people" },
        out.threshold,
        out.cosine_threshold,
        out.model
    );
    for s in [&out.source, &out.target] {
        let t = s.times;
        println!(
            "  {}: face score {:.3}, quality {:.2}; decode {:.1} ms, detect {:.1} ms, align {:.1} ms, embed {:.1} ms",
            s.image, s.face.confidence, s.face.quality.score, t.decode_ms, t.detect_ms, t.align_ms, t.embed_ms
        );
    }
    Ok(())
}
