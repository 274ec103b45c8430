//! `facegate detect`: the service's detection use case (the same code, limits and vocabulary as
//! `POST /v1/detect`) on an image file, without a server or a store.

use std::path::Path;

use anyhow::{Context, Result};
use app::usecases::faces;
use serde::Serialize;
use server::dto::FaceDto;

use super::{open_stateless, print_json, read_file};
use crate::cli::CommonArgs;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetectOutput {
    image: String,
    width: u32,
    height: u32,
    /// Degrees the image was turned clockwise when no face was found upright; coordinates are in the turned
    /// image.
    rotation: u32,
    /// In the HTTP API's shape (`boundingBox`, `landmarks`, `confidence`, `quality`).
    faces: Vec<FaceDto>,
    decode_ms: f64,
    detect_ms: f64,
}

pub fn run(common: &CommonArgs, image: &Path, json: bool) -> Result<()> {
    let bytes = read_file(image)?;
    let (runtime, app) = open_stateless(common)?;
    let detected = runtime.block_on(faces::detect(&app, bytes.into()));
    runtime.block_on(app::service::close(app));
    let found = detected.with_context(|| format!("detecting the faces of {}", image.display()))?;
    let out = DetectOutput {
        image: image.display().to_string(),
        width: found.image.width,
        height: found.image.height,
        rotation: found.image.rotation,
        faces: found.faces.iter().map(FaceDto::from).collect(),
        decode_ms: found.times.decode_ms,
        detect_ms: found.times.detect_ms,
    };
    if json {
        return print_json(&out);
    }
    println!(
        "{}: {}x{}, {} face(s) in {:.1} ms{}",
        out.image,
        out.width,
        out.height,
        found.faces.len(),
        out.detect_ms,
        match out.rotation {
            0 => String::new(),
            r => format!(" (image turned {r} degrees clockwise)"),
        }
    );
    for (i, f) in found.faces.iter().enumerate() {
        let b = f.detection.bbox;
        let q = &f.quality;
        println!(
            "  #{i} score {:.3}  box x={:.0} y={:.0} w={:.0} h={:.0}  quality {:.2} (eyes {:.0}px, sharpness {:.0}, brightness {:.2}, yaw {:+.0}, roll {:+.0}){}",
            f.detection.score,
            b.x,
            b.y,
            b.width,
            b.height,
            q.score,
            q.eye_distance,
            q.sharpness,
            q.brightness,
            q.yaw,
            q.roll,
            if q.issues.is_empty() { String::new() } else { format!("  issues: {:?}", q.issues) }
        );
    }
    Ok(())
}
