use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use server::dto::FaceDto;
use vision::similarity::{cosine_for_similarity, fmr_at, similarity, DEFAULT_SIMILARITY_THRESHOLD};
use vision::StageTimes;

use super::{load_pipeline, print_json, read_file};
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
    let pipeline = load_pipeline(common)?;
    let model = pipeline.embedding_model();
    let side = |path: &Path| -> Result<(Side, vision::Embedding)> {
        let bytes = read_file(path)?;
        let (face, embedding, times) =
            pipeline.template_of(&bytes, args.face).with_context(|| format!("{}", path.display()))?;
        Ok((Side { image: path.display().to_string(), face: FaceDto::from(&face), times }, embedding))
    };
    let (source, ea) = side(args.a)?;
    let (target, eb) = side(args.b)?;
    let cosine = ea.cosine(&eb)?;
    let (threshold, cosine_threshold) = match (args.threshold, args.cosine_threshold) {
        (_, Some(c)) => (similarity(model, c), c),
        (t, None) => {
            let t = t.unwrap_or(DEFAULT_SIMILARITY_THRESHOLD).clamp(0.0, 100.0);
            (t, cosine_for_similarity(model, t))
        }
    };
    let out = CompareOutput {
        model: model.to_string(),
        cosine,
        similarity: similarity(model, cosine),
        false_match_rate: fmr_at(model, cosine),
        threshold,
        cosine_threshold,
        is_match: cosine >= cosine_threshold,
        source,
        target,
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
